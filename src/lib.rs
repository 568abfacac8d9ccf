//! ringpost: a thread-per-core, shared-nothing mail engine (IMAP, POP3, SMTP) for Linux.
//!
//! # Code map (dependencies point one way: runtime → protocols → framing; protocols and the
//! store share the model; `tests/layering.rs` checks it by reading the sources)
//!
//! - [`mail`]: the model every layer shares (UIDs, modseqs, flags, UID ranges, MIME
//!   summaries, mailbox views, message bytes). Pure data: no IO, no clock, nothing of ours.
//! - [`wire`]: framing. CRLF line splitting with memchr, line-length limits, command keyword
//!   tables, the frames of a partition's replication stream. No protocol logic.
//! - [`sasl`]: SASL PLAIN and LOGIN decoding, shared by the three protocols.
//! - [`scram`]: SASL SCRAM-SHA-256(-PLUS) server exchanges (RFC 5802, 7677, 9266) and the
//!   stored keys' text form. Sans-IO: the caller supplies the nonce and the TLS exporter value.
//! - [`oauth`]: OAuth 2.0 bearer tokens for SASL (OAUTHBEARER, XOAUTH2): message parsing, JWT
//!   validation against a JWKS passed in as bytes, the RFC 7628 error challenge. Sans-IO (the
//!   time is passed in).
//! - [`session`]: the sans-IO contract between a protocol session and the connection driver:
//!   bytes in; bytes, TLS/auth/close events and typed requests for the protocol's service out.
//! - [`imap`], [`pop3`], [`smtp`]: sans-IO protocol sessions. Each names its own request and
//!   reply types ([`mailbox`] for IMAP, [`pop3::MaildropRequest`], [`smtp::DeliveryRequest`])
//!   and its own refusal text. They never touch sockets, files, the clock or the executor.
//! - [`http`]: sans-IO HTTP/1.1 (RFC 9112, RFC 9110): the incremental request reader with its
//!   limits and smuggling-proof framing, typed requests, the response encoder. Never touches
//!   sockets, files or the clock.
//! - [`dav`]: CalDAV and CardDAV, sans-IO, not yet served: [`dav::xml`] parses request bodies
//!   under limits and writes multistatus and error bodies; [`dav::objects`] validates calendar
//!   objects and vCards (time ranges with bounded recurrence expansion, expand, free-busy,
//!   text-match).
//! - [`mailbox`]: IMAP's typed mailbox requests and replies (plain data).
//! - [`config`]: the TOML configuration (with POP3's UIDL template), validated with errors that
//!   name the key. A leaf: imports nothing of ours.
//! - [`accounts`]: the account database (argon2id hashes, atomic writes) and verification. A
//!   leaf.
//! - [`placement`]: where an account lives (account → partition → shard). A leaf; the runtime
//!   and the store both use it.
//! - [`cluster`]: partitions over several hosts (issue 19, in progress): the cluster map and
//!   its planner (pure), its etcd schema, and the one thread that talks to etcd (tokio, never
//!   on a shard). Runs only with `[cluster]`.
//! - [`store`]: the message store — per-partition append-only segments, group commit, rkyv
//!   indexes with MIME summaries, recovery, Maildir import, the log shipped to and applied
//!   on replicas with epoch fencing ([`store::replica`]). Serves its own shard's
//!   partitions; names the executor library in `store/io.rs` only and never imports the
//!   runtime or a protocol.
//! - [`runtime`]: the only other module that names the executor library: the one executor
//!   builder, the cross-shard mesh and delivery fan-out ([`runtime::fanout`]), the listeners
//!   and the one protocol-agnostic connection driver ([`runtime::net`]), and the protocol
//!   services that run sessions' requests on the home shard ([`runtime::service`]).
//! - [`tls`]: rustls server configuration, PEM loading and the generated self-signed pair.
//! - [`queue`]: the durable outbound queue (envelope format, listing).
//! - [`backup`]: `ringpost backup` and `restore`: a consistent copy of the data folder taken
//!   while the server runs (hard-linked snapshots, a checked manifest), and its way back.
//! - [`date`]: date formats (pure functions, no clock).
//! - [`cli`]: the `ringpost` command line.
//!
//! # Invariants
//!
//! - TLS before PLAIN: no session accepts a credential while its transport is not TLS.
//! - After STARTTLS/STLS every byte the client pipelined in plaintext is discarded unread.
//! - A protocol error from the peer is a reply, never a panic; the shard stays up.
//! - Shards share nothing mutable; they talk only through [`runtime::Mesh`] messages.
//! - An SMTP `250` or a mailbox write's success means every copy is on disk (fdatasync).
//! - SMTP data ends only at CRLF.CRLF; a bare CR or LF in it refuses the message.

pub mod accounts;
pub mod backup;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod date;
pub mod dav;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod imap;
pub mod latency;
pub mod mail;
pub mod mailbox;
pub mod oauth;
pub mod outbound;
pub mod placement;
pub mod pop3;
pub mod queue;
pub mod runtime;
pub mod sasl;
pub mod scram;
pub mod session;
pub mod smtp;
pub mod store;
pub mod tls;
#[cfg(test)]
mod transcript;
pub mod wire;
