//! Identifiers of messages and mailboxes: newtypes, so that a UID is never taken for a
//! sequence number, a modseq or a count. Never does IO.

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

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

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
