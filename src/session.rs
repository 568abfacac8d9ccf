//! The sans-IO contract between a protocol session (IMAP, POP3, SMTP) and the connection driver.
//!
//! A session is fed decrypted bytes with [`Session::handle_input`], and the driver drains
//! [`Session::poll_output`] (bytes to send) and [`Session::poll_event`] (work the session cannot
//! do itself: a TLS upgrade, a password check, closing). The driver always flushes pending
//! output *before* acting on an event, so a `OK Begin TLS` or a `BYE` reaches the client first.
//!
//! While an event is outstanding (STARTTLS, COMPRESS or an authentication) the session processes no
//! further input: lines stay buffered until the driver answers with
//! [`Session::handle_tls_established`] or [`Session::handle_auth`]. When a session asks for
//! [`Event::StartTls`] it has already discarded every byte buffered after the STARTTLS line
//! (RFC 3207 §4.2, RFC 2595 §3.1: pipelined plaintext must never be executed).
//!
//! This module never does IO, never reads the clock and never names the executor.

use std::fmt;

use crate::mail::MessageBytes;

/// A secret that never appears in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }
    /// The wrapped value; call only where it is really used (hashing, comparing).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Credentials a client presented, in any protocol or SASL mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name as the client sent it (the accounts layer normalises case).
    pub username: String,
    pub password: Secret<String>,
    /// How they came, for the log: a SASL mechanism (`PLAIN`, `LOGIN`) or the protocol's own
    /// command (`IMAP LOGIN`, `USER/PASS`).
    pub mechanism: &'static str,
}

/// What a session asks the driver to do. `R` is the protocol's own request type: the work
/// its service runs on the account's home shard (IMAP mailbox requests, POP3 maildrop
/// requests, SMTP delivery requests), answered with [`Session::handle_reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<R> {
    /// Flush output, then run the TLS server handshake on this stream, then call
    /// [`Session::handle_tls_established`].
    StartTls,
    /// Verify these credentials (off the shard's hot path, with a delay on failure), then call
    /// [`Session::handle_auth`].
    Authenticate(Credentials),
    /// Flush output, then close the connection.
    Close,
    /// Have the protocol's service run this request, then call [`Session::handle_reply`].
    Request(R),
    /// Flush output (the tagged OK of IMAP COMPRESS), then compress everything sent and
    /// inflate everything received from here to the end of the connection (raw DEFLATE,
    /// RFC 4978), then call [`Session::handle_compression_started`] and inflate the bytes it
    /// hands back before anything read later.
    StartCompression,
    /// The session went back to the not-authenticated state (IMAP UNAUTHENTICATE, RFC
    /// 8437): forget the account and the credential, and drop the service's per-account
    /// state; a later login may be someone else's.
    Unauthenticated,
}

/// The driver's answer to [`Event::Authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The credentials are valid; `account` is the canonical (lower-case) address.
    Success { account: String },
    /// Wrong user name or password: the reply must not say which.
    Failure,
    /// A local, transient fault (the account store could not be read).
    TemporaryFailure,
    /// The exchange goes on (SCRAM): send this challenge, then hand the client's answer to
    /// the driver again as credentials of the same mechanism.
    Continue(Vec<u8>),
}

/// Whether a session's transport is encrypted yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plaintext: no credential may be accepted (TLS before PLAIN).
    Plaintext,
    /// TLS from the first byte, or after STARTTLS/STLS.
    Tls,
}

impl Security {
    pub fn is_tls(self) -> bool {
        self == Security::Tls
    }

    /// A new connection's security on a listener with this mode: TLS only for implicit TLS.
    pub fn at_start(mode: TlsMode) -> Security {
        match mode {
            TlsMode::Implicit => Security::Tls,
            TlsMode::Starttls | TlsMode::None => Security::Plaintext,
        }
    }
}

/// Why a connection is turned away before its session starts (`limits.max_connections`,
/// `limits.max_connections_per_ip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overload {
    /// `limits.max_connections` reached.
    ServerFull,
    /// `limits.max_connections_per_ip` reached for this client.
    TooManyFromIp,
}

impl Overload {
    /// The reason in words, for the protocol's refusal line.
    pub fn text(self) -> &'static str {
        match self {
            Overload::ServerFull => "Too many connections",
            Overload::TooManyFromIp => "Too many connections from your address",
        }
    }
}

pub use crate::config::{Limits, TlsMode};

/// What every session knows about the connection it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The server's host name, used in greetings.
    pub hostname: String,
    /// The listener's TLS mode.
    pub tls_mode: TlsMode,
    pub limits: Limits,
    /// The mail domains served here, lower case.
    pub local_domains: Vec<String>,
    /// OAUTHBEARER and XOAUTH2 are offered (after TLS): `[auth.oauth]` is configured.
    pub oauth: bool,
    /// SCRAM-SHA-256 and SCRAM-SHA-256-PLUS are offered (after TLS): `[auth] scram = true`.
    pub scram: bool,
}

impl SessionConfig {
    /// Whether `mechanism` is offered here (after TLS; PLAIN and LOGIN always).
    pub fn offers(&self, mechanism: crate::sasl::Mechanism) -> bool {
        use crate::sasl::Mechanism;
        match mechanism {
            Mechanism::Plain | Mechanism::Login => true,
            Mechanism::OAuthBearer | Mechanism::XOAuth2 => self.oauth,
            Mechanism::ScramSha256 | Mechanism::ScramSha256Plus => self.scram,
        }
    }

    /// Whether `domain` (any case) is one of ours.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.local_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }
}

impl SessionConfig {
    /// Whether STARTTLS/STLS may be offered on a connection whose transport is `tls_active`.
    pub fn offers_starttls(&self, security: Security) -> bool {
        self.tls_mode == TlsMode::Starttls && !security.is_tls()
    }
}

/// What a session hands the driver to send: the bytes it encoded, with shared message bytes
/// spliced in between them (FETCH literals), so a message body goes from the store's read
/// buffer into TLS without being copied into an output buffer first.
///
/// Lives in the driver for one turn of its loop, never in a session: the spliced bytes are
/// tied to the shard that read them.
#[derive(Default)]
pub struct Output {
    bytes: Vec<u8>,
    /// `(position in bytes, shared bytes sent there)`, positions ascending.
    splices: Vec<(usize, MessageBytes)>,
    /// Total of the spliced lengths.
    spliced: usize,
}

impl Output {
    /// Shared bytes shorter than this are copied: a slice of its own costs more than that.
    pub const COPY_BELOW: usize = 2048;

    /// Capacity kept across turns; a larger buffer is released once sent, so an idle
    /// session's connection never keeps the memory of its largest reply.
    const KEEP: usize = 64 << 10;

    /// Where a session encodes its own bytes.
    pub fn bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Send `shared` next: spliced in when large, copied when small.
    pub fn push_shared(&mut self, shared: &MessageBytes) {
        if shared.len() < Self::COPY_BELOW {
            self.bytes.extend_from_slice(shared);
        } else {
            self.spliced += shared.len();
            self.splices.push((self.bytes.len(), shared.clone()));
        }
    }

    /// Bytes to send.
    pub fn len(&self) -> usize {
        self.bytes.len() + self.spliced
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes that were spliced in rather than copied.
    pub fn spliced_len(&self) -> usize {
        self.spliced
    }

    /// The pieces to send, in order.
    pub fn parts(&self) -> Vec<&[u8]> {
        let mut parts = Vec::with_capacity(2 * self.splices.len() + 1);
        let mut at = 0;
        for (pos, shared) in &self.splices {
            if *pos > at {
                parts.push(&self.bytes[at..*pos]);
            }
            parts.push(&shared[..]);
            at = *pos;
        }
        if self.bytes.len() > at {
            parts.push(&self.bytes[at..]);
        }
        parts
    }

    /// Everything as one buffer (tests).
    pub fn to_vec(&self) -> Vec<u8> {
        self.parts().concat()
    }

    /// Whether [`Output::release`] would give back memory.
    pub fn holds_buffers(&self) -> bool {
        self.bytes.capacity() > 0 || self.splices.capacity() > 0
    }

    /// Give back the buffers once everything was sent (a quiet connection).
    pub fn release(&mut self) {
        if self.is_empty() {
            *self = Output::default();
        }
    }

    /// Forget what was sent.
    pub fn clear(&mut self) {
        self.bytes.clear();
        if self.bytes.capacity() > Self::KEEP {
            self.bytes = Vec::new();
        }
        self.splices.clear();
        self.spliced = 0;
    }
}

/// What a session hands to another host when its account lives there (the cluster's session
/// proxy): taken while the session waits for the answer to [`Event::Authenticate`], so the
/// host that serves the account continues the very same session from that point, answers the
/// login and runs every command after it. The host that took the client's connection keeps
/// only its TLS and relays bytes.
///
/// Small by construction: before a login completes a session holds no mailbox state; what it
/// holds is the pending command's tag, counters, whether compression is on, and the input it
/// received and has not processed yet (commands pipelined behind the login).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handoff {
    /// The tag of the command waiting for its authentication result (IMAP); empty where the
    /// protocol has none.
    pub tag: Vec<u8>,
    /// The mechanism of the pending authentication, as [`Credentials::mechanism`] names it.
    pub mechanism: String,
    pub auth_failures: u32,
    pub commands: u64,
    /// Compression (IMAP COMPRESS) is on for the client's connection: the host that holds
    /// the connection inflates and deflates, the session must refuse to start it again.
    pub compressing: bool,
    /// Received and not processed yet.
    pub input: Vec<u8>,
}

/// A sans-IO protocol session.
///
/// Each protocol names its own request, reply and notice types, so a session can only be
/// handed answers that are its own: the driver runs [`Event::Request`]s through the protocol's
/// service and hands back exactly `Self::Reply`.
pub trait Session {
    /// Work the session needs done on its account's home shard.
    type Request;
    /// The service's answer to one [`Session::Request`].
    type Reply;
    /// What the service pushes while the session waits for input (IMAP: changes to the
    /// selected mailbox). Protocols without pushes use [`std::convert::Infallible`].
    type Notice;

    /// What a connection that is refused before its session starts is told, in the protocol's
    /// words (`* BYE`, `-ERR`, `421`), before it is closed.
    fn overloaded(config: &SessionConfig, why: Overload) -> String
    where
        Self: Sized;
    /// Bytes received from the peer (already decrypted when TLS is on).
    fn handle_input(&mut self, input: &[u8]);
    /// The TLS handshake requested with [`Event::StartTls`] completed.
    fn handle_tls_established(&mut self);
    /// Compression asked for with [`Event::StartCompression`] is on. Returns the bytes the
    /// client sent after the command that turned it on (already compressed, so never parsed
    /// as commands): the driver inflates them first. Protocols without compression never ask.
    fn handle_compression_started(&mut self) -> Vec<u8> {
        Vec::new()
    }
    /// The answer to [`Event::Authenticate`].
    fn handle_auth(&mut self, outcome: AuthOutcome);
    /// The answer to [`Event::Request`]. The session moves its pending output to `out` first
    /// and may then write its responses there, splicing message bytes in rather than copying
    /// them; later output goes through [`Session::poll_output`] as usual (after `out`'s bytes).
    fn handle_reply(&mut self, reply: Self::Reply, out: &mut Output);
    /// Something the service pushed. Delivered whenever the session is waiting for input (so
    /// at once during IMAP IDLE); the session decides when the client may be told.
    fn handle_notice(&mut self, notice: Self::Notice);
    /// The peer was silent for the configured idle time: queue the protocol's farewell
    /// (`* BYE`, `-ERR`, `421`) and ask to close.
    fn handle_idle_timeout(&mut self);
    /// The server is shutting down: queue the protocol's farewell and ask to close.
    fn handle_shutdown(&mut self);
    /// The account this session authenticated as was deleted (or its credentials revoked):
    /// queue the protocol's farewell and ask to close, applying nothing pending.
    fn handle_revoked(&mut self);
    /// The account's mailboxes are now served by another host of the cluster (its partition
    /// moved): queue the protocol's temporary farewell (`* BYE [UNAVAILABLE]`,
    /// `-ERR [SYS/TEMP]`) and ask to close, so the client reconnects and is routed there.
    fn handle_moved(&mut self);
    /// Commands the client has sent so far (for the session-end log line).
    fn commands(&self) -> u64;
    /// What limit the session last refused something for since the previous call (a line,
    /// literal, message or recipient count too large, too many failed logins), for the log.
    fn take_limit(&mut self) -> Option<&'static str>;
    /// The peer has been silent for the listener's keep-alive interval (only listeners that
    /// have one: IMAP's `timeouts.imap_keepalive_secs`). A session in a long wait the client
    /// started (IMAP IDLE) says something so NAT boxes and the client know the connection lives.
    fn handle_keepalive(&mut self);
    /// Whether part of a request has arrived and the rest is awaited (HTTP): the driver then
    /// runs the listener's request deadline. Protocols without one never say so.
    fn request_in_progress(&self) -> bool {
        false
    }
    /// The request deadline passed (HTTP's `[http] request_secs`): queue the protocol's
    /// refusal and ask to close.
    fn handle_request_timeout(&mut self) {}
    /// Move all pending output bytes to the end of `out`.
    fn poll_output(&mut self, out: &mut Vec<u8>);
    /// Whether the session holds input or output buffers that
    /// [`Session::release_buffers`] would give back.
    fn holds_buffers(&self) -> bool {
        false
    }
    /// The connection is quiet: give back buffers that hold nothing (received bytes not
    /// consumed and output not taken stay). Behaviour is unchanged; the next input or reply
    /// allocates them again.
    fn release_buffers(&mut self) {}
    /// The next event for the driver, if any.
    fn poll_event(&mut self) -> Option<Event<Self::Request>>;
    /// The session's state for another host to continue it ([`Handoff`]), while it waits
    /// for the answer to [`Event::Authenticate`]; `None` when it waits for nothing of the kind
    /// or the protocol cannot continue elsewhere. The session itself is unchanged: when the
    /// other host refuses, the driver answers [`Session::handle_auth`] here as usual.
    fn handoff(&mut self) -> Option<Handoff> {
        None
    }
}
