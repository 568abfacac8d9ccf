//! The sans-IO contract between a protocol session (IMAP, POP3, SMTP) and the connection driver.
//!
//! A session is fed decrypted bytes with [`Session::handle_input`], and the driver drains
//! [`Session::poll_output`] (bytes to send) and [`Session::poll_event`] (work the session cannot
//! do itself: a TLS upgrade, a password check, closing). The driver always flushes pending
//! output *before* acting on an event, so a `OK Begin TLS` or a `BYE` reaches the client first.
//!
//! While an event is outstanding (STARTTLS or an authentication) the session processes no
//! further input: lines stay buffered until the driver answers with
//! [`Session::handle_tls_established`] or [`Session::handle_auth`]. When a session asks for
//! [`Event::StartTls`] it has already discarded every byte buffered after the STARTTLS line
//! (RFC 3207 §4.2, RFC 2595 §3.1: pipelined plaintext must never be executed).
//!
//! This module never does IO, never reads the clock and never names the executor.

use std::fmt;

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
}

/// What a session asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Flush output, then run the TLS server handshake on this stream, then call
    /// [`Session::handle_tls_established`].
    StartTls,
    /// Verify these credentials (off the shard's hot path, with a delay on failure), then call
    /// [`Session::handle_auth`].
    Authenticate(Credentials),
    /// Flush output, then close the connection.
    Close,
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
}

/// How a listener protects its connections (config key `listener.tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plaintext first; the client upgrades with STARTTLS/STLS.
    Starttls,
    /// TLS from the first byte.
    Implicit,
    /// Never TLS (only for inbound SMTP, which never authenticates).
    None,
}

/// Limits every session enforces (config table `[limits]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest command line accepted, in bytes, excluding CRLF.
    pub max_line_length: usize,
    /// Largest IMAP literal accepted, in bytes.
    pub max_literal_size: usize,
    /// Largest message accepted (SMTP SIZE, IMAP APPEND).
    pub max_message_size: usize,
    /// Failed authentications after which the session is closed.
    pub max_auth_failures: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_length: 8192,
            max_literal_size: 64 * 1024 * 1024,
            max_message_size: 50 * 1024 * 1024,
            max_auth_failures: 3,
        }
    }
}

/// What every session knows about the connection it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The server's host name, used in greetings.
    pub hostname: String,
    /// The listener's TLS mode.
    pub tls_mode: TlsMode,
    pub limits: Limits,
}

impl SessionConfig {
    /// Whether STARTTLS/STLS may be offered on a connection whose transport is `tls_active`.
    pub fn offers_starttls(&self, tls_active: bool) -> bool {
        self.tls_mode == TlsMode::Starttls && !tls_active
    }
}

/// A sans-IO protocol session.
pub trait Session {
    /// Bytes received from the peer (already decrypted when TLS is on).
    fn handle_input(&mut self, input: &[u8]);
    /// The TLS handshake requested with [`Event::StartTls`] completed.
    fn handle_tls_established(&mut self);
    /// The answer to [`Event::Authenticate`].
    fn handle_auth(&mut self, outcome: AuthOutcome);
    /// The peer was silent for the configured idle time: queue the protocol's farewell
    /// (`* BYE`, `-ERR`, `421`) and ask to close.
    fn handle_idle_timeout(&mut self);
    /// The server is shutting down: queue the protocol's farewell and ask to close.
    fn handle_shutdown(&mut self);
    /// Move all pending output bytes to the end of `out`.
    fn poll_output(&mut self, out: &mut Vec<u8>);
    /// The next event for the driver, if any.
    fn poll_event(&mut self) -> Option<Event>;
}
