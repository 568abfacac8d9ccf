//! What a mailbox looks like from outside the store: the mailbox list, STATUS and SELECT
//! figures, per-message index data, and the changes a watcher is told about. Protocol
//! sessions receive these in the replies to their mailbox requests and never see how the
//! store keeps them. Never does IO.

use crate::mail::{Flags, Keyword, MailboxId, ModSeq, Uid, UidValidity};

/// RFC 6154 special-use attributes of the mailboxes every new account gets.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq))]
pub enum SpecialUse {
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
}

impl SpecialUse {
    /// The attribute as written in a LIST response (RFC 6154 §2).
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Trash => "\\Trash",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Archive => "\\Archive",
        }
    }
}

/// One mailbox in a LIST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    pub id: MailboxId,
    pub name: String,
    pub special: Option<SpecialUse>,
    pub subscribed: bool,
}

/// What STATUS and SELECT report (RFC 9051 §6.3.11, RFC 7162).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxStatus {
    /// With `uid_validity`, what its MAILBOXID is made of (RFC 8474 §4).
    pub id: MailboxId,
    pub uid_validity: UidValidity,
    pub uid_next: Uid,
    pub highest_modseq: ModSeq,
    pub messages: u32,
    pub unseen: u32,
    pub deleted: u32,
    pub size: u64,
    /// Messages no session has claimed as `\Recent` yet (RFC 3501 §6.3.10).
    pub recent: u32,
    /// Bytes of the `\Deleted` messages: what an EXPUNGE gives back (RFC 9208 §4.2.3,
    /// `DELETED-STORAGE`).
    pub deleted_size: u64,
}

/// Consecutive UIDs `first`, `first + 1`, … (`count` of them) of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UidRun {
    pub first: Uid,
    pub count: u32,
}

/// A mailbox as IMAP SELECT reads it (RFC 9051 §6.3.2): its UIDs in order, as runs, and the
/// figures SELECT reports; per-message data stays in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxSnapshot {
    /// With `uid_validity`, what its MAILBOXID is made of (RFC 8474 §4).
    pub id: MailboxId,
    pub uid_validity: UidValidity,
    pub uid_next: Uid,
    pub highest_modseq: ModSeq,
    /// Every UID of the mailbox, ascending, in maximal runs.
    pub uids: Vec<UidRun>,
    /// The 1-based position of the first message without `\Seen`.
    pub first_unseen: Option<u32>,
    /// The first UID that is `\Recent` to the session that asked (RFC 3501 §2.3.2): every
    /// message from it on is; `None`: no message is.
    pub recent: Option<Uid>,
    /// The keywords set on any message, sorted and distinct (the `FLAGS` of RFC 9051
    /// §7.3.5).
    pub keywords: Vec<Keyword>,
    /// The rights (RFC 4314) of the user who selected it, when it is another account's
    /// mailbox shared with them; `None` for the user's own, where they have every right.
    pub rights: Option<crate::mail::acl::Rights>,
}

impl MailboxSnapshot {
    /// Messages in the mailbox.
    pub fn messages(&self) -> u32 {
        self.uids.iter().map(|r| r.count).sum()
    }
}

/// One message's index data without its MIME summary or body location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    pub uid: Uid,
    pub flags: Flags,
    pub modseq: ModSeq,
    /// Seconds since the Unix epoch (RFC 9051 §2.3.3).
    pub internal_date: i64,
    pub size: u32,
    /// When the message was saved to this mailbox (RFC 8514 SAVEDATE), Unix seconds; `None`
    /// for messages stored before save dates were kept.
    pub saved: Option<i64>,
    /// Its EMAILID number (RFC 8474 §5.1; see [`crate::mail::email_object_id`]).
    pub email_id: u64,
}

/// What a mailbox's watchers are told (for IMAP IDLE / NOTIFY and POP3 later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Exists {
        uid: Uid,
    },
    Expunged {
        uid: Uid,
    },
    Flags {
        uid: Uid,
        flags: Flags,
        modseq: ModSeq,
    },
    Renamed {
        name: String,
    },
    Deleted,
}

/// What an account's watchers (IMAP NOTIFY) are told: every change to any of its mailboxes,
/// and the changes to the account's mailbox list, subscriptions and annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChange {
    /// A change to one mailbox, as its own watchers hear it.
    Mailbox(MailboxId, Change),
    /// A mailbox was created.
    Created { id: MailboxId, name: String },
    /// A name was subscribed or unsubscribed (it may name no mailbox).
    Subscription { name: String, subscribed: bool },
    /// An annotation of a mailbox (`None`: of the account, RFC 5464's server entries) was
    /// set or removed.
    Metadata {
        mailbox: Option<MailboxId>,
        entry: String,
    },
    /// A mailbox's ACL changed (an entry set or removed): what other users may see of it.
    Acl { mailbox: MailboxId },
}

/// Whether opening a mailbox takes its `\Recent` messages for the session (RFC 3501
/// §6.3.1: SELECT does; §6.3.2: EXAMINE does not), and with them the messages that arrive
/// while it has the mailbox open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recent {
    Claim,
    Peek,
}

/// Whether a mailbox name is in the account's subscriptions (RFC 9051 §6.3.7, §6.3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscription {
    Subscribed,
    Unsubscribed,
}
