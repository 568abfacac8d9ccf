//! What a POP3 session asks of its service on the account's home shard, and the answers
//! (RFC 1939 §4: the maildrop is locked and listed at login; RETR/TOP read one message; QUIT
//! expunges durably). Plain data: the session never touches the store, and the service never
//! sees POP3 syntax.

use crate::mail::MessageBytes;
use crate::mail::Uid;

/// A request from a POP3 session ([`crate::session::Event::Request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaildropRequest {
    /// Lock the authenticated account's INBOX for this session and list it as it stands now
    /// (RFC 1939 §4: the maildrop). The lock is released when the connection ends, however it
    /// ends.
    Open,
    /// Read one message of the maildrop whole.
    Read { uid: Uid },
    /// QUIT in the TRANSACTION state: expunge these messages durably (RFC 1939 §6: only then
    /// may the server answer `+OK`).
    Expunge { uids: Vec<Uid> },
}

/// The answer to one [`MaildropRequest`], the variant matching the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaildropReply {
    Opened(MaildropOutcome),
    Message(MessageOutcome),
    Expunged(ExpungeOutcome),
}

/// The answer to [`MaildropRequest::Expunge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpungeOutcome {
    /// The marked messages are gone, durably.
    Done,
    /// The store failed; nothing is promised (`-ERR`).
    TemporaryFailure,
}

/// One message of a POP3 maildrop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaildropEntry {
    pub uid: Uid,
    /// Size in octets as transmitted (CRLF line ends, before dot-stuffing).
    pub size: u64,
}

/// The driver's answer to [`MaildropRequest::Open`].
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

/// The driver's answer to [`MaildropRequest::Read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    /// The message's bytes exactly as stored (CRLF line ends), in the store's read buffer.
    Message(MessageBytes),
    /// Expunged meanwhile (by IMAP): `-ERR` for this message, the session goes on.
    Gone,
    TemporaryFailure,
}
