//! Identifiers of messages and mailboxes: newtypes, so that a UID is never taken for a
//! sequence number, a modseq or a count. Never does IO.
//!
//! Each holds the plain integer the store's index archives (so the index keeps its on-disk
//! layout) and allows every value the store uses today, 0 included: `Uid(0)` is the floor
//! below every UID, `ModSeq(0)` "before any change". What comes from a peer is built with
//! the checked constructors ([`Uid::new`], [`UidValidity::new`], [`ModSeq::new`]) or from a
//! `NonZeroU32`, so a parser never produces a value the grammar forbids.

use std::fmt;
use std::num::NonZeroU32;

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

impl Uid {
    /// `None` for 0, which is no message's UID (RFC 9051 §9 `uniqueid = nz-number`).
    pub fn new(value: u32) -> Option<Uid> {
        (value != 0).then_some(Uid(value))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl From<NonZeroU32> for Uid {
    fn from(n: NonZeroU32) -> Uid {
        Uid(n.get())
    }
}

impl From<Uid> for u32 {
    fn from(uid: Uid) -> u32 {
        uid.0
    }
}

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

impl UidValidity {
    /// `None` for 0 (RFC 9051 §9 `nz-number`).
    pub fn new(value: u32) -> Option<UidValidity> {
        (value != 0).then_some(UidValidity(value))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl From<NonZeroU32> for UidValidity {
    fn from(n: NonZeroU32) -> UidValidity {
        UidValidity(n.get())
    }
}

/// A modification sequence (RFC 7162 §3.1.1): per mailbox, strictly increasing with every
/// change to a message's flags and with every append. On the wire 0 to 2^63-1; zero appears
/// only where the grammar says `mod-sequence-valzer` (UNCHANGEDSINCE, SEARCH MODSEQ).
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

impl ModSeq {
    /// The largest mod-sequence a peer may send (RFC 7162 §7 `mod-sequence-value`).
    pub const MAX: u64 = i64::MAX as u64;

    /// `None` above [`ModSeq::MAX`].
    pub fn new(value: u64) -> Option<ModSeq> {
        (value <= ModSeq::MAX).then_some(ModSeq(value))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

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

/// A mailbox's MAILBOXID (RFC 8474 §4): `M`, its UIDVALIDITY as 8 hex digits, then its id in
/// hex. The id alone is never reused within an account (the counter survives even a purge);
/// the UIDVALIDITY, taken from the clock when the mailbox was made, keeps the string from
/// repeating even for an account whose index were rebuilt from nothing. RENAME keeps both.
pub fn mailbox_object_id(uid_validity: UidValidity, id: MailboxId) -> String {
    format!("M{:08x}{:x}", uid_validity.0, id.0)
}

/// A message's EMAILID (RFC 8474 §5.1): `E` and 16 hex digits of the number the store fixed
/// when the message's bytes were first written (their first place in the log).
pub fn email_object_id(n: u64) -> String {
    format!("E{n:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_constructors_refuse_what_the_grammar_forbids() {
        assert_eq!(Uid::new(0), None);
        assert_eq!(Uid::new(7), Some(Uid(7)));
        assert_eq!(UidValidity::new(0), None);
        assert_eq!(ModSeq::new(0), Some(ModSeq(0)));
        assert_eq!(ModSeq::new(ModSeq::MAX), Some(ModSeq(ModSeq::MAX)));
        assert_eq!(ModSeq::new(ModSeq::MAX + 1), None);
    }
}
