//! The SMTP *client* as a sans-IO session, for delivering mail to remote MXes and smarthosts:
//! server bytes in; command bytes and typed [`ClientEvent`]s out. The outbound queue runner
//! drives it (connects, resolves MXes, does the TLS handshakes and keeps the time); this
//! module never does IO, never reads the clock and never names the executor.
//!
//! What it speaks: RFC 5321 (greeting, EHLO with HELO fallback, MAIL, RCPT, DATA, RSET,
//! QUIT, the reply syntax of §4.2 and the timeouts of §4.5.3.2), PIPELINING (RFC 2920), SIZE
//! (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), CHUNKING and BINARYMIME (RFC 3030),
//! STARTTLS (RFC 3207), AUTH PLAIN and LOGIN (RFC 4954, RFC 4616), DSN parameters
//! (RFC 3461, RFC 6533 for UTF-8 ORCPT), ENHANCEDSTATUSCODES (RFC 2034, RFC 3463) and
//! REQUIRETLS (RFC 8689).
//!
//! Code map: `reply` frames and parses server replies; `capabilities` reads the EHLO
//! keywords; `command` writes commands, their parameters and the message content; `session`
//! is the state machine up to [`ClientEvent::Ready`] and the connection-level failures;
//! `transaction` is one mail transaction, from the checks before MAIL to its
//! [`TransactionResult`].
//!
//! # Contract with the driver
//!
//! Flush [`ClientSession::poll_output`] before acting on an event. Call
//! [`ClientSession::send`] only after [`ClientEvent::Ready`]; after each
//! [`ClientEvent::Done`] the session says `Ready` again (after an RSET when the transaction
//! stopped midway) or [`ClientEvent::Closed`]. After `Closed`, close the connection; the
//! session ignores everything from then on. [`ClientSession::timeout`] says how long to wait
//! for the server's next reply; when it runs out call [`ClientSession::handle_timeout`].
//!
//! # Choices where the RFCs leave room
//!
//! - **Connection-level failures defer.** Whatever ends a session early — a greeting other
//!   than 220, EHLO and HELO refused, STARTTLS required but missing or refused, AUTH
//!   impossible or refused (535 included: the operator's credentials, not the sender's
//!   fault), a 421 at any point (RFC 5321 §3.8), a malformed or unsolicited reply, a lost
//!   connection, a timeout — ends in [`ClientEvent::Closed`] with a [`Failure`], and every
//!   recipient still in flight is [`RecipientOutcome::Deferred`] in a `Done` first, whatever
//!   the code of the reply that caused it (a 554 greeting means "not this host", and the next
//!   MX may take the mail). Recipients a server already refused keep their refusal.
//! - **HELO fallback** only when EHLO gets 500 or 502 (not recognised / not implemented,
//!   RFC 5321 §4.1.4); any other refusal is a failure.
//! - **QUIT on the way out**: after a refusal read in step (greeting, EHLO/HELO, STARTTLS,
//!   AUTH, RSET, missing extension) QUIT is queued before `Closed`, and its reply is not
//!   awaited. After a protocol error, a 421, a lost connection or a timeout nothing more is
//!   sent: the stream is out of step.
//! - **STARTTLS**: [`TlsPolicy::Opportunistic`] continues in plaintext when STARTTLS is not
//!   offered or is refused (RFC 3207 §4.1, RFC 7435); [`TlsPolicy::Required`] fails with
//!   `451 4.7.4` (RFC 3463 X.7.4 "security features not supported", as Postfix says it).
//!   Certificate checks are the driver's. Any byte the server sends after its 220 to
//!   STARTTLS and before the handshake fails the session (response injection,
//!   CVE-2011-0411's client side); after the handshake everything learnt before is forgotten
//!   and EHLO is sent again (RFC 3207 §4.2).
//! - **AUTH** is never sent without TLS (`451 4.7.10` "encryption needed" otherwise), prefers
//!   PLAIN with an initial response (RFC 4954 §4) and uses LOGIN only when PLAIN is not
//!   offered; no other mechanism.
//! - **No downgrades**: a message that needs an extension the server lacks is not converted
//!   (RFC 6152 §3 and RFC 6531 §3.2 allow either); every recipient fails at once, without a
//!   byte sent, with a synthetic reply: `552 5.3.4` larger than the server's SIZE, `554 5.6.7`
//!   SMTPUTF8 needed, `554 5.6.3` 8-bit body without 8BITMIME or binary body without
//!   CHUNKING and BINARYMIME, `554 5.7.30` REQUIRETLS without TLS or without the keyword
//!   (RFC 8689 §5). Checked in the order REQUIRETLS, SIZE, SMTPUTF8, 8BITMIME, BINARYMIME;
//!   the first that applies decides.
//!   An address that cannot be written safely (a control character, space, `<` or `>`)
//!   fails with `553 5.1.7` (sender) or `553 5.1.3` (that recipient) before anything is sent.
//!   Non-ASCII in an address needs SMTPUTF8 even if [`Envelope::smtputf8`] is false.
//! - **Line ends**: message content is sent with CRLF line ends: every bare CR or LF becomes
//!   CRLF, and a CRLF is added at the end if missing (RFC 5321 §2.3.8, §4.1.1.4), so no
//!   receiving server can see an end of data we did not mean (SMTP smuggling). SIZE= counts
//!   these octets (RFC 1870 §4). Only a BINARYMIME body is sent exactly as given.
//! - **CHUNKING** is used whenever offered: one `BDAT <n> LAST` with the whole message. The
//!   body type is the caller's word ([`Envelope::body`]); the content is not scanned.
//! - **Pipelining** (RFC 2920 §3.1): MAIL, every RCPT and DATA (or BDAT and its data) in one
//!   write. If every RCPT fails and the server still answers DATA with 354, a lone `.` is
//!   sent. After DATA's refusal or a failed BDAT, RSET follows (RFC 3030 §2); after the reply
//!   to the end of data none is needed.
//! - **DSN parameters** (RET, ENVID, NOTIFY, ORCPT) are sent only when DSN is offered, and
//!   dropped silently otherwise (RFC 3461 §4: the relaying server then owes no DSN). ORCPT
//!   is `rfc822;` with xtext, or `utf-8;` with RFC 6533's escapes for a non-ASCII address.
//! - **Replies**: codes are three digits, first 2–5, second 0–5, the same on every line; a
//!   bare LF ends a reply line (nothing is smuggled into a reply we only read). Enhanced
//!   status codes are split off only after ENHANCEDSTATUSCODES, and never from the greeting
//!   or EHLO/HELO replies (RFC 2034 §3). Multi-line text is joined with single spaces;
//!   control characters and invalid UTF-8 become U+FFFD. A reply that arrives before the
//!   command it could answer was sent is a protocol error, so is one that never was asked for
//!   (an unsolicited 421 is the server closing).
//! - **Timeouts** (RFC 5321 §4.5.3.2): greeting, MAIL, RCPT 5 min, DATA 2 min, the end of
//!   data and BDAT LAST 10 min; EHLO, STARTTLS, AUTH, RSET and QUIT take MAIL's 5 min.
//!   [`timeouts::DATA_BLOCK`] (3 min) is for the driver's writes.

mod capabilities;
mod command;
pub(crate) use command::xtext;
mod reply;
mod session;
mod transaction;

#[cfg(test)]
mod tests;

pub use capabilities::Capabilities;
pub use reply::{EnhancedStatus, Reply};
pub use session::{ClientSession, SendError};

use crate::session::Secret;

/// How long the driver may wait for each reply (RFC 5321 §4.5.3.2).
pub mod timeouts {
    use std::time::Duration;

    /// The initial 220.
    pub const GREETING: Duration = Duration::from_secs(5 * 60);
    /// MAIL, and every command RFC 5321 gives no time of its own (EHLO, STARTTLS, AUTH,
    /// RSET, QUIT).
    pub const MAIL: Duration = Duration::from_secs(5 * 60);
    pub const RCPT: Duration = Duration::from_secs(5 * 60);
    /// The 354 to DATA.
    pub const DATA_INITIATION: Duration = Duration::from_secs(2 * 60);
    /// Each write of message data (the driver's: the session never waits for it).
    pub const DATA_BLOCK: Duration = Duration::from_secs(3 * 60);
    /// The reply to the end of data (and to BDAT LAST).
    pub const DATA_TERMINATION: Duration = Duration::from_secs(10 * 60);
}

/// What the session knows before it connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Our host name, for EHLO and HELO.
    pub helo_name: String,
    pub tls: TlsPolicy,
    /// User name and password for a smarthost (AUTH PLAIN or LOGIN); never sent without TLS.
    pub auth: Option<(String, Secret<String>)>,
    /// The most lines one reply may have (e.g. 100).
    pub max_reply_lines: usize,
    /// The longest reply line accepted, without its CRLF (e.g. 4096).
    pub max_line: usize,
}

/// Whether and how the connection uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsPolicy {
    /// STARTTLS when offered; plaintext otherwise.
    Opportunistic,
    /// STARTTLS or nothing: the session fails if it is not offered or refused.
    Required,
    /// Never STARTTLS.
    Disabled,
    /// TLS is up before the greeting (port 465): never STARTTLS.
    Implicit,
}

/// The envelope of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse-path without brackets; empty for the null sender (bounces).
    pub reverse_path: String,
    pub recipients: Vec<Recipient>,
    pub body: BodyType,
    /// The envelope or the headers need SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// The message may travel only over TLS (RFC 8689).
    pub requiretls: bool,
    /// RFC 3461 §4.3, passed on only when the server offers DSN.
    pub ret: Option<Ret>,
    /// RFC 3461 §4.4 (plain text: xtext-encoded here), passed on only when DSN is offered.
    pub envid: Option<String>,
}

/// One forward-path and its DSN parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address without brackets.
    pub address: String,
    /// RFC 3461 §4.1, passed on only when the server offers DSN.
    pub notify: Option<Notify>,
    /// The original recipient address as given to us (not encoded: the session writes
    /// `rfc822;` or `utf-8;` and the escapes, RFC 3461 §4.2, RFC 6533 §3).
    pub orcpt: Option<String>,
}

impl Recipient {
    /// A recipient without DSN parameters.
    pub fn new(address: impl Into<String>) -> Recipient {
        Recipient {
            address: address.into(),
            notify: None,
            orcpt: None,
        }
    }
}

/// When the sender wants delivery status notifications (RFC 3461 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    Never,
    /// Any of the three; with none set it is written `NEVER` (nothing to notify on).
    On {
        success: bool,
        failure: bool,
        delay: bool,
    },
}

/// How much of the message a DSN returns (RFC 3461 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Headers,
}

/// The message body's content (RFC 6152, RFC 3030 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    SevenBit,
    EightBitMime,
    BinaryMime,
}

/// What the session tells the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// Flush output, run the TLS client handshake, then call
    /// [`ClientSession::handle_tls_established`] (or [`ClientSession::handle_tls_failed`]).
    StartTls,
    /// [`ClientSession::send`] may start a transaction.
    Ready,
    /// The outcome of one [`ClientSession::send`].
    Done(TransactionResult),
    /// The session is over: `None` after QUIT, `Some` when it ended early (every transaction
    /// in flight was reported in a `Done` first). Flush output, then close.
    Closed(Option<Failure>),
}

/// The outcome of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionResult {
    /// One per [`Envelope::recipients`], in the same order.
    pub recipients: Vec<RecipientOutcome>,
}

/// What became of one recipient, with the reply that decided it (the server's, or one the
/// session made up for a check of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientOutcome {
    /// 2xx: the server took responsibility for the message.
    Delivered(Reply),
    /// 4xx, or the session ended first: try again later.
    Deferred(Reply),
    /// 5xx: bounce.
    Failed(Reply),
}

/// Why a session ended early, and the reply to report for everything it deferred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    /// The server's reply that ended it, or one the session made up (code 451).
    pub reply: Reply,
}

/// What ended a session early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The greeting was not 220.
    Greeting,
    /// EHLO (and HELO, if tried) refused.
    Hello,
    /// [`TlsPolicy::Required`] and STARTTLS not offered.
    StartTlsUnavailable,
    /// [`TlsPolicy::Required`] and STARTTLS refused.
    StartTlsRefused,
    /// The driver reported a failed handshake.
    TlsHandshake,
    /// AUTH configured but TLS is not up.
    AuthNeedsTls,
    /// AUTH configured but neither PLAIN nor LOGIN offered.
    AuthUnavailable,
    /// AUTH refused (535 and the like).
    AuthRejected,
    /// A 421 (RFC 5321 §3.8).
    ServerClosing,
    /// A malformed, oversized, unexpected or unsolicited reply.
    Protocol,
    ConnectionLost,
    Timeout,
}
