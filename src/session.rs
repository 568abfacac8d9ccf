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

use crate::mail::MessageBytes;
use crate::mailbox::{MailboxChange, MailboxReply, MailboxRequest};

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
    /// Resolve an SMTP recipient (RCPT TO) in a local domain, then call
    /// [`Session::handle_recipient`]. The address is as the client sent it.
    CheckRecipient(String),
    /// Make a received message durable for its recipients, then call
    /// [`Session::handle_delivery`]. Only after that may the session answer `250`.
    Deliver(Delivery),
    /// POP3: lock the authenticated account's INBOX for this session and list it as it stands
    /// now (RFC 1939 §4: the maildrop), then call [`Session::handle_maildrop`]. The driver
    /// releases the lock when the connection ends, however it ends.
    OpenMaildrop,
    /// POP3: read one message of the maildrop whole, then call [`Session::handle_message`].
    ReadMessage { uid: u32 },
    /// POP3 QUIT in the TRANSACTION state: expunge these messages durably, then call
    /// [`Session::handle_expunged`] (RFC 1939 §6: only then may the server answer `+OK`).
    Expunge { uids: Vec<u32> },
    /// IMAP: run a mailbox operation for the authenticated account, then call
    /// [`Session::handle_mailbox`].
    Mailbox(MailboxRequest),
}

/// One message of a POP3 maildrop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaildropEntry {
    pub uid: u32,
    /// Size in octets as transmitted (CRLF line ends, before dot-stuffing).
    pub size: u64,
}

/// The driver's answer to [`Event::OpenMaildrop`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaildropOutcome {
    /// Locked for this session; the INBOX's messages in UID order.
    Opened {
        uid_validity: u32,
        messages: Vec<MaildropEntry>,
    },
    /// Another POP3 session holds the lock (`-ERR [IN-USE]`, RFC 2449 §8.1.2).
    InUse,
    /// The store failed (`-ERR [SYS/TEMP]`).
    TemporaryFailure,
}

/// The driver's answer to [`Event::ReadMessage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    /// The message's bytes exactly as stored (CRLF line ends), in the store's read buffer.
    Message(MessageBytes),
    /// Expunged meanwhile (by IMAP): `-ERR` for this message, the session goes on.
    Gone,
    TemporaryFailure,
}

/// The driver's answer to [`Event::CheckRecipient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientStatus {
    /// An account of ours; `account` is its canonical (lower-case) address.
    Local { account: String },
    /// A local domain, but no such account (`550 5.1.1`).
    UnknownLocal,
    /// The account store could not be read (`451 4.3.0`).
    TemporaryFailure,
}

/// One SMTP mail transaction, complete, handed to the driver for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The envelope sender; empty for the null reverse-path `<>`.
    pub reverse_path: String,
    /// Canonical local accounts, without duplicates, in RCPT order.
    pub local_recipients: Vec<String>,
    /// Non-local recipients accepted for the outbound queue (submission only).
    pub remote_recipients: Vec<String>,
    /// The client's EHLO/HELO argument.
    pub helo: String,
    /// The authenticated account (submission), for the `Received:` header.
    pub authenticated: Option<String>,
    /// The `with` keyword for the `Received:` header: RFC 3848's `ESMTP`/`ESMTPS`/`ESMTPA`/
    /// `ESMTPSA` (`SMTP` after HELO), or RFC 6531's `UTF8SMTP…` when MAIL had SMTPUTF8.
    pub protocol: &'static str,
    /// The message as received: dot-stuffing removed, CRLF line ends, no `Received:` header
    /// of ours yet (the driver prepends it: it knows the peer, the TLS parameters and the time).
    pub message: Vec<u8>,
}

/// The driver's answer to [`Event::Deliver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Every copy is on stable storage; `id` is the queue/message id for the `250` reply.
    Delivered { id: String },
    /// A local fault; nothing was delivered (`451 4.3.0`).
    TemporaryFailure,
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
    /// Recipients accepted per SMTP transaction (RFC 5321 §4.5.3.1.8: at least 100).
    pub max_recipients: usize,
    /// `Received:` headers after which a message is taken to be looping (`554 5.4.6`).
    pub max_hops: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_length: 8192,
            max_literal_size: 64 * 1024 * 1024,
            max_message_size: 50 * 1024 * 1024,
            max_auth_failures: 3,
            max_recipients: 100,
            max_hops: 50,
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
    /// The mail domains served here, lower case.
    pub local_domains: Vec<String>,
}

impl SessionConfig {
    /// Whether `domain` (any case) is one of ours.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.local_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }
}

impl SessionConfig {
    /// Whether STARTTLS/STLS may be offered on a connection whose transport is `tls_active`.
    pub fn offers_starttls(&self, tls_active: bool) -> bool {
        self.tls_mode == TlsMode::Starttls && !tls_active
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

/// A sans-IO protocol session.
pub trait Session {
    /// Bytes received from the peer (already decrypted when TLS is on).
    fn handle_input(&mut self, input: &[u8]);
    /// The TLS handshake requested with [`Event::StartTls`] completed.
    fn handle_tls_established(&mut self);
    /// The answer to [`Event::Authenticate`].
    fn handle_auth(&mut self, outcome: AuthOutcome);
    /// The answer to [`Event::CheckRecipient`]. Only sessions that emit that event (SMTP)
    /// receive it; the default ignores it.
    fn handle_recipient(&mut self, status: RecipientStatus) {
        let _ = status;
    }
    /// The answer to [`Event::Deliver`]. Only sessions that emit that event (SMTP) receive
    /// it; the default ignores it.
    fn handle_delivery(&mut self, outcome: DeliveryOutcome) {
        let _ = outcome;
    }
    /// The answer to [`Event::OpenMaildrop`] (POP3 only; the default ignores it).
    fn handle_maildrop(&mut self, outcome: MaildropOutcome) {
        let _ = outcome;
    }
    /// The answer to [`Event::ReadMessage`] (POP3 only; the default ignores it). Like
    /// [`Session::handle_mailbox`], the session moves its pending output to `out` first and
    /// may then splice the message's bytes in.
    fn handle_message(&mut self, outcome: MessageOutcome, out: &mut Output) {
        let _ = (outcome, out);
    }
    /// The answer to [`Event::Expunge`]: `true` once the expunge is durable (POP3 only; the
    /// default ignores it).
    fn handle_expunged(&mut self, durable: bool) {
        let _ = durable;
    }
    /// The answer to [`Event::Mailbox`] (IMAP only; the default ignores it). The session
    /// moves its pending output to `out` first and may then write the reply's responses
    /// there, splicing message bytes in rather than copying them; later output goes through
    /// [`Session::poll_output`] as usual (and after `out`'s bytes).
    fn handle_mailbox(&mut self, reply: MailboxReply, out: &mut Output) {
        let _ = (reply, out);
    }
    /// Another session or a delivery changed the selected mailbox. Delivered whenever the
    /// session is waiting for input (so at once during IDLE); the session decides when the
    /// client may be told (RFC 9051 §7.5.1). IMAP only; the default ignores it.
    fn handle_mailbox_change(&mut self, change: MailboxChange) {
        let _ = change;
    }
    /// The peer was silent for the configured idle time: queue the protocol's farewell
    /// (`* BYE`, `-ERR`, `421`) and ask to close.
    fn handle_idle_timeout(&mut self);
    /// The server is shutting down: queue the protocol's farewell and ask to close.
    fn handle_shutdown(&mut self);
    /// The peer has been silent for the keep-alive interval (IMAP: `timeouts.imap_keepalive_secs`).
    /// A session in a long wait the client started (IMAP IDLE) says something so NAT boxes and
    /// the client know the connection lives; others ignore it (the default).
    fn handle_keepalive(&mut self) {}
    /// Move all pending output bytes to the end of `out`.
    fn poll_output(&mut self, out: &mut Vec<u8>);
    /// The next event for the driver, if any.
    fn poll_event(&mut self) -> Option<Event>;
}
