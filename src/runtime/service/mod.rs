//! The services: what each protocol's typed requests need done by the runtime, on the shard
//! the session runs on. A protocol is a sans-IO [`Session`] plus one [`Service`]: IMAP's
//! mailbox requests ([`mailbox`]), POP3's maildrop requests ([`maildrop`]), SMTP's recipient
//! checks and deliveries ([`delivery`]). The connection driver moves bytes and runs requests
//! through the service; it names no protocol, and a session can only be handed its own
//! service's replies.
//!
//! Services use the store and the shard's state; they never touch sockets, never name the
//! executor, and never write protocol syntax.

mod dav;
pub mod delivery;
pub mod mailbox;
pub mod maildrop;
pub mod web;

use std::net::SocketAddr;

use crate::config::{Config, Listener};
use crate::runtime::net::{ShardState, Transport};
use crate::session::{Security, Session, SessionConfig};

/// Where an authenticated session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// On its account's home shard, where every mailbox operation is local and lock-free
    /// (DESIGN.md): the connection moves there after authentication.
    HomeShard,
    /// Where it was accepted: its work travels to the home shards as messages instead.
    Anywhere,
}

/// What a service knows of the connection it runs a request for.
pub struct Context<'a> {
    pub shard: &'a ShardState,
    pub peer: SocketAddr,
    /// The connection's transport, for what a service may need to say about it (the TLS
    /// parameters in a `Received:` header); asked only when needed, so no request pays for it.
    pub transport: &'a Transport,
    /// The authenticated account's store key (its address, `#incarnation` after it).
    pub account: Option<&'a str>,
    /// The credential it authenticated with.
    pub credential: Option<&'a crate::accounts::CredentialUse>,
}

/// The request type of a service's session.
pub type Request<S> = <<S as Service>::Session as Session>::Request;
/// The reply type of a service's session.
pub type Reply<S> = <<S as Service>::Session as Session>::Reply;
/// The notice type of a service's session.
pub type Notice<S> = <<S as Service>::Session as Session>::Notice;

/// One protocol's service: created per connection on the shard the connection runs on, and
/// dropped with it (or before the connection moves to its home shard; nothing a service holds
/// may travel).
// Every future here runs on the shard that created it and is never sent to another thread, so
// the auto-trait bounds `async fn` in a public trait cannot state are not needed.
#[allow(async_fn_in_trait)]
pub trait Service: Sized + 'static {
    type Session: Session + Send + 'static;

    /// Where the session runs once authenticated.
    const PLACEMENT: Placement;

    /// The session for a new connection on `listener`, greeting queued.
    fn session(
        listener: &Listener,
        session: SessionConfig,
        security: Security,
        config: &Config,
    ) -> Self::Session;

    /// The session another host handed over ([`crate::session::Handoff`]), continued here in
    /// the state it was taken in: waiting for the answer to its authentication. `None` when the
    /// protocol cannot continue a session from another host (the default).
    fn resume_session(
        _listener: &Listener,
        _session: SessionConfig,
        _config: &Config,
        _handoff: crate::session::Handoff,
    ) -> Option<Self::Session> {
        None
    }

    /// A service for one connection.
    fn new() -> Self;

    /// Run one request; the answer goes to the session's `handle_reply`.
    async fn handle(&mut self, request: Request<Self>, cx: &Context<'_>) -> Reply<Self>;

    /// The next notice for the session (IMAP: a change to the selected mailbox). Pending for
    /// ever when there is none to come.
    async fn next_notice(&mut self) -> Notice<Self>;
}
