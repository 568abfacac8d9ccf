//! POP3 (RFC 1939) as a sans-IO session: bytes in, replies and [`Event`](crate::session::Event)s
//! out. Implements the AUTHORIZATION state completely: CAPA (RFC 2449), STLS (RFC 2595),
//! USER/PASS (RFC 1939 §7) and AUTH PLAIN/LOGIN (RFC 5034), with the response codes of
//! RFC 2449 §8 and RFC 3206; then TRANSACTION (RFC 1939 §5, §7: STAT, LIST, UIDL, RETR, TOP,
//! DELE, RSET, NOOP) over a maildrop its service opens, locks and reads on request
//! ([`MaildropRequest`]), and UPDATE
//! (§6): the messages marked by DELE are expunged on QUIT and never otherwise.
//!
//! Credentials are accepted only once the transport is TLS (ringpost's TLS-before-PLAIN rule),
//! and anything pipelined behind an accepted STLS is discarded unread (RFC 2595 §3.1).
//!
//! This module never does IO, never reads the clock and never names the executor.

mod command;
mod maildrop;
mod multiline;
#[cfg(test)]
mod script;
mod service;
mod session;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod transaction_tests;

pub use crate::config::uidl::{
    format_uidl, UidlFormat, UidlFormatError, DOVECOT_DEFAULT_UIDL_FORMAT,
};
pub use command::{AuthMechanism, Command, MessageNumber, ParseError};
pub use service::{
    ExpungeOutcome, MaildropEntry, MaildropOutcome, MaildropReply, MaildropRequest, MessageOutcome,
};
pub use session::Pop3Session;
