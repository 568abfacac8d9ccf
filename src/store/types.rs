//! The store's vocabulary: typed identifiers, flags, mailbox attributes and the one error enum.
//! Nothing here touches disk or the executor.

use std::fmt;

/// A message's unique identifier in its mailbox (RFC 9051 §2.3.1.1). Never reused within a
/// UIDVALIDITY epoch, not even after a crash: UIDNEXT is rebuilt from the log.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq, PartialOrd, Ord))]
pub struct Uid(pub u32);

/// A modification sequence (RFC 7162 §3.1.1): per mailbox, strictly increasing with every
/// change to a message's flags and with every append.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq, PartialOrd, Ord))]
pub struct ModSeq(pub u64);

/// A mailbox's UIDVALIDITY (RFC 9051 §2.3.1.1). Changes only when a mailbox is re-created.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq))]
pub struct UidValidity(pub u32);

/// A mailbox's identity inside its account: stable across renames, never reused.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq))]
pub struct MailboxId(pub u32);

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

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

/// The mailboxes a new account starts with (RFC 6154 §2 attributes).
pub const DEFAULT_MAILBOXES: [(&str, Option<SpecialUse>); 6] = [
    ("INBOX", None),
    ("Sent", Some(SpecialUse::Sent)),
    ("Drafts", Some(SpecialUse::Drafts)),
    ("Trash", Some(SpecialUse::Trash)),
    ("Junk", Some(SpecialUse::Junk)),
    ("Archive", Some(SpecialUse::Archive)),
];

/// IMAP system flags (RFC 9051 §2.3.2) as bits. `\Recent` is session state, not stored.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq))]
pub struct SystemFlags(pub u8);

impl SystemFlags {
    pub const SEEN: SystemFlags = SystemFlags(1);
    pub const ANSWERED: SystemFlags = SystemFlags(2);
    pub const FLAGGED: SystemFlags = SystemFlags(4);
    pub const DELETED: SystemFlags = SystemFlags(8);
    pub const DRAFT: SystemFlags = SystemFlags(16);
    pub const NONE: SystemFlags = SystemFlags(0);

    pub fn contains(self, other: SystemFlags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn union(self, other: SystemFlags) -> SystemFlags {
        SystemFlags(self.0 | other.0)
    }
    pub fn without(self, other: SystemFlags) -> SystemFlags {
        SystemFlags(self.0 & !other.0)
    }
}

/// A message's flags: system flags plus keywords (RFC 9051 §2.3.2), keywords kept sorted and
/// unique so that equal flag sets compare equal.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug))]
pub struct Flags {
    pub system: SystemFlags,
    pub keywords: Vec<String>,
}

impl Flags {
    pub fn system(system: SystemFlags) -> Flags {
        Flags {
            system,
            keywords: Vec::new(),
        }
    }

    /// Flags with keywords sorted and de-duplicated.
    pub fn new(system: SystemFlags, keywords: impl IntoIterator<Item = String>) -> Flags {
        let mut keywords: Vec<String> = keywords.into_iter().collect();
        keywords.sort();
        keywords.dedup();
        Flags { system, keywords }
    }

    /// Apply `change` to these flags.
    pub fn apply(&self, mode: FlagMode, change: &Flags) -> Flags {
        match mode {
            FlagMode::Replace => change.clone(),
            FlagMode::Add => Flags::new(
                self.system.union(change.system),
                self.keywords.iter().chain(&change.keywords).cloned(),
            ),
            FlagMode::Remove => Flags::new(
                self.system.without(change.system),
                self.keywords
                    .iter()
                    .filter(|k| !change.keywords.contains(k))
                    .cloned(),
            ),
        }
    }
}

/// How a STORE changes flags (RFC 9051 §6.4.6: `FLAGS`, `+FLAGS`, `-FLAGS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub enum FlagMode {
    Replace,
    Add,
    Remove,
}

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
