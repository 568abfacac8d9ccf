//! Every SMTP refusal and the one function that writes it as a reply line, with its enhanced
//! status code (RFC 3463, RFC 2034). Replies never say whether an account exists beyond what
//! RCPT must (RFC 5321 §3.5.3), and never name paths or configuration.

use super::command::SyntaxError;
use super::message::Flaw;

/// Every way a command or a message is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    Unrecognized,
    Syntax(SyntaxError),
    LineTooLong,
    /// RFC 5321 §2.3.8: lines end in CRLF. A bare LF is refused rather than guessed at, so no
    /// peer can make ringpost see a command boundary another server does not (SMTP smuggling).
    BareLf,
    NotImplemented,
    /// AUTH needs EHLO (RFC 4954 §4).
    NeedEhlo,
    /// MAIL needs EHLO or HELO (RFC 5321 §4.1.4).
    NeedHelo,
    TlsActive,
    StartTlsUnavailable,
    AuthUnavailable,
    /// RFC 3207 §4, RFC 4954 §4: credentials only over TLS.
    TlsRequired,
    AlreadyAuthenticated,
    UnsupportedMechanism,
    SaslCancelled,
    SaslMalformed,
    /// RFC 4954 §6: 535 whether the user exists or not.
    AuthFailed,
    TooManyFailures,
    TemporaryAuthFailure,
    /// RFC 4954 §6: MAIL on submission before AUTH.
    AuthRequired,
    /// RFC 5321 §4.1.4: MAIL inside a transaction.
    NestedMail,
    /// RCPT, DATA or BDAT outside a transaction.
    NeedMail,
    /// DATA or BDAT with no accepted recipient (RFC 5321 §3.3, RFC 2920 §3.1).
    NoValidRecipients,
    /// RCPT: the recipient's mailbox is at its quota (RFC 3463 X.2.2).
    MailboxFull,
    /// After DATA: the message fits in no recipient's quota.
    OverQuota,
    /// RFC 3030 §2: DATA and BDAT are not mixed in one transaction.
    DataAfterBdat,
    /// RFC 1870 §6.1: the SIZE= declared is over the limit.
    DeclaredSizeTooBig,
    /// On submission the reverse-path must be the authenticated account (RFC 6409 §6.1).
    SenderNotOwned,
    /// RFC 6531 §3.4: a UTF-8 address without SMTPUTF8 on MAIL.
    Utf8AddressNeedsSmtputf8,
    /// RFC 5321 §4.5.3.1.10.
    TooManyRecipients,
    UnknownUser,
    /// A non-local domain on inbound: ringpost is not an open relay.
    RelayDenied,
    /// A local fault (account store, message store); the client retries later.
    TemporaryFailure,
    /// An inbound policy refused the message after DATA (RFC 7489 §10.3: 550 5.7.1 for
    /// DMARC; RFC 7372: 5.7.23 for SPF).
    Policy(super::authres::PolicyRefusal),
    Message(Flaw),
    /// A BDAT chunk larger than any message accepted here: not worth reading to stay in step
    /// with the client, so the connection ends (RFC 3030 §2 lets the server close).
    ChunkTooBig,
    IdleTimeout,
    ShuttingDown,
    /// The authenticated account was deleted while the session ran.
    AccountRevoked,
}

impl Refusal {
    /// Append the reply line.
    pub(super) fn write(self, hostname: &str, out: &mut Vec<u8>) {
        let text: &str = match self {
            Refusal::Unrecognized => "500 5.5.2 Command unrecognized",
            Refusal::Syntax(SyntaxError::MissingDomain) => "501 5.5.4 Syntax: EHLO/HELO domain",
            Refusal::Syntax(SyntaxError::UnexpectedArguments) => {
                "501 5.5.4 Syntax error (no parameters allowed)"
            }
            Refusal::Syntax(SyntaxError::BadArguments) => "501 5.5.4 Syntax error in arguments",
            Refusal::Syntax(SyntaxError::BadSender) => "501 5.1.7 Bad sender address syntax",
            Refusal::Syntax(SyntaxError::BadRecipient) => "501 5.1.3 Bad recipient address syntax",
            Refusal::Syntax(SyntaxError::UnknownParameter) => "555 5.5.4 Unsupported parameter",
            Refusal::Syntax(SyntaxError::BadParameter) => "501 5.5.4 Invalid parameter value",
            Refusal::LineTooLong => "500 5.5.6 Line too long",
            Refusal::BareLf => "500 5.5.2 Bare LF line endings are not accepted, use CRLF",
            Refusal::NotImplemented => "502 5.5.1 Command not implemented",
            Refusal::NeedEhlo => "503 5.5.1 Send EHLO first",
            Refusal::NeedHelo => "503 5.5.1 Send EHLO or HELO first",
            Refusal::TlsActive => "503 5.5.1 TLS already active",
            Refusal::StartTlsUnavailable => "502 5.5.1 STARTTLS not available",
            Refusal::AuthUnavailable => "502 5.5.1 AUTH not available",
            Refusal::TlsRequired => "530 5.7.0 Must issue a STARTTLS command first",
            Refusal::AlreadyAuthenticated => "503 5.5.1 Already authenticated",
            Refusal::UnsupportedMechanism => "504 5.5.4 Unrecognized authentication type",
            Refusal::SaslCancelled => "501 5.0.0 Authentication cancelled",
            Refusal::SaslMalformed => "501 5.5.2 Malformed authentication data",
            Refusal::AuthFailed => "535 5.7.8 Authentication credentials invalid",
            Refusal::TemporaryAuthFailure => "454 4.7.0 Temporary authentication failure",
            Refusal::AuthRequired => "530 5.7.0 Authentication required",
            Refusal::NestedMail => "503 5.5.1 Sender already specified",
            Refusal::NeedMail => "503 5.5.1 Need MAIL command first",
            Refusal::NoValidRecipients => "554 5.5.1 No valid recipients",
            Refusal::DataAfterBdat => "503 5.5.1 DATA not allowed after BDAT",
            Refusal::DeclaredSizeTooBig => {
                "552 5.3.4 Message size exceeds fixed maximum message size"
            }
            Refusal::SenderNotOwned => "553 5.7.1 Sender address not owned by authenticated user",
            Refusal::Utf8AddressNeedsSmtputf8 => "553 5.6.7 Non-ASCII address requires SMTPUTF8",
            Refusal::TooManyRecipients => "452 4.5.3 Too many recipients",
            Refusal::UnknownUser => "550 5.1.1 No such user here",
            Refusal::MailboxFull => "452 4.2.2 Mailbox full, try again later",
            Refusal::OverQuota => "552 5.2.2 Mailbox full: the message exceeds the quota",
            Refusal::RelayDenied => "554 5.7.1 Relay access denied",
            Refusal::TemporaryFailure => "451 4.3.0 Temporary local problem, try again later",
            Refusal::Policy(super::authres::PolicyRefusal::Dmarc) => {
                "550 5.7.1 Rejected by the DMARC policy of the From: domain"
            }
            Refusal::Policy(super::authres::PolicyRefusal::Spf) => {
                "550 5.7.23 SPF check failed for the envelope sender"
            }
            Refusal::Message(Flaw::BareLineEnding) => {
                "550 5.6.11 Bare LF or CR in message data is not allowed"
            }
            Refusal::Message(Flaw::TooBig) => "552 5.3.4 Message too big",
            Refusal::ChunkTooBig => "552 5.3.4 Chunk too big, closing connection",
            Refusal::Message(Flaw::TooManyHops) => "554 5.4.6 Too many hops",
            // RFC 5321 §3.8: 421 names the host.
            Refusal::TooManyFailures => {
                return line(
                    out,
                    &format!("421 4.7.0 {hostname} Too many authentication failures"),
                )
            }
            Refusal::IdleTimeout => {
                return line(
                    out,
                    &format!("421 4.4.2 {hostname} Timeout, closing connection"),
                )
            }
            Refusal::ShuttingDown => {
                return line(out, &format!("421 4.3.2 {hostname} Service shutting down"))
            }
            Refusal::AccountRevoked => {
                return line(
                    out,
                    &format!("421 4.7.0 {hostname} Account no longer valid, closing connection"),
                )
            }
        };
        line(out, text);
    }

    /// The configured limit this refusal enforces, for the log; `None` for other refusals.
    pub(super) fn limit(self) -> Option<&'static str> {
        match self {
            Refusal::LineTooLong => Some("line too long"),
            Refusal::Message(Flaw::TooBig) | Refusal::ChunkTooBig | Refusal::DeclaredSizeTooBig => {
                Some("message too big")
            }
            Refusal::Message(Flaw::TooManyHops) => Some("too many hops"),
            Refusal::TooManyRecipients => Some("too many recipients"),
            Refusal::TooManyFailures => Some("too many failed logins"),
            _ => None,
        }
    }

    /// Whether the connection is closed after this reply (every 421, RFC 5321 §3.8, and a
    /// chunk too big to read).
    pub(super) fn closes(self) -> bool {
        matches!(
            self,
            Refusal::TooManyFailures
                | Refusal::IdleTimeout
                | Refusal::ShuttingDown
                | Refusal::AccountRevoked
                | Refusal::ChunkTooBig
        )
    }
}

/// Append one reply line and its CRLF.
pub(super) fn line(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}
