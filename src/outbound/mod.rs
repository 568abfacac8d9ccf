//! The sending half's decisions, without IO or a clock: which DNS questions to ask and what
//! the answers mean ([`dns`], [`route`]), when to try again ([`schedule`]), what a queued
//! message's durable delivery state is ([`state`]), the reports sent back to senders
//! ([`dsn`]), the DKIM signatures of submitted mail ([`dkim`]) and the recipient domains'
//! MTA-STS policies ([`mta_sts`]). The runtime's queue runner (`runtime/outbound`) does the
//! IO with them, and the SMTP client session (`smtp::client`) speaks to the remote hosts.

pub mod dkim;
pub mod dns;
pub mod dsn;
pub mod mta_sts;
pub mod route;
pub mod schedule;
pub mod state;
