//! ringpost: a thread-per-core, shared-nothing mail engine (IMAP, POP3, SMTP) for Linux.
//!
//! # Code map (dependencies point one way: runtime → protocols → framing; all → model)
//!
//! - [`mail`]: the model every layer shares (UIDs, modseqs, flags, UID ranges, MIME
//!   summaries, mailbox views, message bytes). Pure data: no IO, no clock, nothing of ours.
//! - [`wire`]: framing. CRLF line splitting with memchr, line-length limits. No protocol logic.
//! - [`sasl`]: SASL PLAIN and LOGIN decoding, shared by the three protocols.
//! - [`session`]: the sans-IO contract between a protocol session and the connection driver.
//! - [`imap`], [`pop3`], [`smtp`]: sans-IO protocol sessions: bytes in, bytes and events out
//!   (mailbox work leaves IMAP as typed [`mailbox`] requests, POP3 as maildrop events, SMTP
//!   as a finished [`session::Delivery`]).
//!   They never touch sockets, files, the clock or the executor.
//! - [`config`]: the TOML configuration, validated with errors that name the key.
//! - [`accounts`]: the account database (argon2id hashes, atomic writes) and verification.
//! - [`tls`]: rustls server configuration, PEM loading and the generated self-signed pair.
//! - [`placement`]: where an account lives (account → partition → shard). Pure, imports
//!   nothing of ours; the runtime and the store both use it.
//! - [`shard`]: the runtime: the one executor builder (a pinned executor per core for the
//!   server, one for an offline command), the typed cross-shard request/reply channel and
//!   the cross-shard delivery fan-out. With [`net`], the only modules that name the executor
//!   library; the store names it in one IO file only, and never imports the runtime.
//! - [`net`]: listeners and the one connection driver that runs every protocol over plaintext,
//!   STARTTLS or implicit TLS (a hand-driven rustls connection, so an authenticated IMAP or
//!   POP3 connection moves, live, to its account's home shard).
//! - [`store`]: the message store — per-partition append-only segments, group commit, rkyv
//!   indexes with MIME summaries, recovery, Maildir import. Serves its own shard's
//!   partitions; other shards reach it through the runtime.
//! - [`mailbox`]: typed mailbox requests from sessions, executed on the home shard's store.
//! - [`queue`]: the durable outbound queue (envelope format, listing).
//! - [`date`]: date formats (pure functions, no clock).
//! - [`cli`]: the `ringpost` command line.
//!
//! # Invariants
//!
//! - TLS before PLAIN: no session accepts a credential while its transport is not TLS.
//! - After STARTTLS/STLS every byte the client pipelined in plaintext is discarded unread.
//! - A protocol error from the peer is a reply, never a panic; the shard stays up.
//! - Shards share nothing mutable; they talk only through [`shard::Mesh`] messages.
//! - An SMTP `250` or a mailbox write's success means every copy is on disk (fdatasync).
//! - SMTP data ends only at CRLF.CRLF; a bare CR or LF in it refuses the message.

pub mod accounts;
pub mod cli;
pub mod config;
pub mod date;
pub mod imap;
pub mod mail;
pub mod mailbox;
pub mod placement;
pub mod pop3;
pub mod queue;
pub mod runtime;
pub mod sasl;
pub mod session;
pub mod smtp;
pub mod store;
pub mod tls;
#[cfg(test)]
mod transcript;
pub mod wire;
