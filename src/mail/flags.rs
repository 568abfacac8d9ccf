//! Message flags (RFC 9051 §2.3.2): system flags as bits plus keywords, how a STORE changes
//! them, and what a change did. Never does IO.

use crate::mail::{ModSeq, Uid};

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

/// `ATOM-CHAR`: any CHAR except atom-specials (RFC 9051 §9).
pub fn is_atom_char(b: u8) -> bool {
    b.is_ascii()
        && !b.is_ascii_control()
        && !matches!(
            b,
            b'(' | b')' | b'{' | b' ' | b'%' | b'*' | b'"' | b'\\' | b']'
        )
}

/// A keyword flag (`flag-keyword = atom`, RFC 9051 §9: `$Forwarded`, `NonJunk`), valid by
/// construction. Kept as the client spelled it; the store compares keywords
/// case-insensitively where RFC 9051 §2.3.2 asks (SEARCH KEYWORD).
#[derive(
    Clone, PartialEq, Eq, Hash, PartialOrd, Ord, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug))]
// One field and no representation of its own: the archived form is the archived string, so
// index files and log records written before keywords had a type read unchanged.
pub struct Keyword(String);

impl Keyword {
    /// `None` unless `s` is a non-empty atom.
    pub fn new(s: &str) -> Option<Keyword> {
        (!s.is_empty() && s.bytes().all(is_atom_char)).then(|| Keyword(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// As the string it is (transcripts and logs show `"$Junk"`, not a wrapper).
impl std::fmt::Debug for Keyword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl PartialEq<&str> for Keyword {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Display for Keyword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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
    pub keywords: Vec<Keyword>,
}

impl Flags {
    pub fn system(system: SystemFlags) -> Flags {
        Flags {
            system,
            keywords: Vec::new(),
        }
    }

    /// Flags with keywords sorted and de-duplicated.
    pub fn new(system: SystemFlags, keywords: impl IntoIterator<Item = Keyword>) -> Flags {
        let mut keywords: Vec<Keyword> = keywords.into_iter().collect();
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

/// What a flag change did, message by message (each list sorted by UID; messages that do
/// not exist are in none of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagUpdate {
    /// New flags and modseq of the messages that changed.
    pub changed: Vec<(Uid, Flags, ModSeq)>,
    /// Flags and modseq of the messages the change left as they were.
    pub unchanged: Vec<(Uid, Flags, ModSeq)>,
    /// Messages an UNCHANGEDSINCE condition refused (RFC 7162 §3.1.3 `MODIFIED`).
    pub modified: Vec<Uid>,
}
