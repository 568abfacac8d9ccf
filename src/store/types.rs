//! The store's own vocabulary: the mailboxes a new account gets and the one error enum. The
//! types the store shares with the protocols are in [`crate::mail`]. Nothing here touches
//! disk or the executor.

use std::fmt;

use crate::mail::{SpecialUse, Uid};

/// The mailboxes a new account starts with (RFC 6154 §2 attributes).
pub const DEFAULT_MAILBOXES: [(&str, Option<SpecialUse>); 6] = [
    ("INBOX", None),
    ("Sent", Some(SpecialUse::Sent)),
    ("Drafts", Some(SpecialUse::Drafts)),
    ("Trash", Some(SpecialUse::Trash)),
    ("Junk", Some(SpecialUse::Junk)),
    ("Archive", Some(SpecialUse::Archive)),
];

/// The one error type of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such mailbox")]
    NoSuchMailbox,
    #[error("mailbox already exists")]
    MailboxExists,
    #[error("invalid mailbox name")]
    InvalidMailboxName,
    #[error("INBOX cannot be deleted or renamed away")]
    InboxIsPermanent,
    #[error("no such message")]
    NoSuchMessage,
    #[error("UID {0} is below the mailbox's UIDNEXT")]
    UidNotAscending(Uid),
    #[error("account {0:?} is not owned by this shard")]
    NotOwner(String),
    #[error("invalid account name")]
    InvalidAccount,
    #[error("message too large ({0} bytes)")]
    TooLarge(usize),
    #[error("corrupt {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("the store is shutting down")]
    Closed,
    #[error("the owner shard failed: {0}")]
    Remote(String),
    #[error("shard unreachable: {0}")]
    Mesh(#[from] crate::placement::MeshError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("too many annotations")]
    TooManyAnnotations,
    #[error("too many access control entries")]
    TooManyAclEntries,
    /// The partition is a replica here (or a primary fenced by a newer epoch): its writes
    /// happen on its primary. A temporary failure for the client.
    #[error("this host does not write the partition (epoch {epoch})")]
    NotPrimary { epoch: u64 },
    /// A peer spoke for an epoch older than the one this host knows: it is fenced.
    #[error("stale epoch {theirs}: epoch {ours} is current")]
    StaleEpoch { ours: u64, theirs: u64 },
    /// The partition is not a replica here: it takes no replicated records.
    #[error("the partition is not a replica here")]
    NotReplica,
    /// A replicated chunk that does not check or does not follow the replica's log.
    #[error("replicated chunk refused: {0}")]
    ChunkRefused(String),
}

impl StoreError {
    pub(crate) fn corrupt(what: &'static str, detail: impl fmt::Display) -> StoreError {
        StoreError::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
