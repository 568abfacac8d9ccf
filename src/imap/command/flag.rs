//! Message flags as commands carry them (RFC 9051 §2.3.2, §9 `flag`, `flag-list`) and the
//! special-use attributes of CREATE (RFC 6154 §3). Never does IO.

use super::cursor::{is_atom_char, Cursor};
use super::Malformed;

pub use crate::mail::Keyword;

/// One flag in a command (STORE, APPEND, SEARCH KEYWORD). `\*` is only ever sent by the
/// server (PERMANENTFLAGS), so it is not a [`Flag`]; see [`FlagPerm`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag {
    Answered,
    Flagged,
    Deleted,
    Seen,
    Draft,
    /// `\Recent` (IMAP4rev1 only, RFC 3501 §2.3.2); clients may not set it, the store says NO.
    Recent,
    /// `flag-extension = "\" atom`: a system flag ringpost does not know (without the `\`).
    Extension(Keyword),
    Keyword(Keyword),
}

/// `flag-perm = flag / "\*"` (RFC 9051 §9), for the PERMANENTFLAGS response code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FlagPerm {
    Flag(Flag),
    /// `\*`: clients may create new keywords.
    AnyKeyword,
}

impl Flag {
    /// Parse a flag atom as sent: `\Seen`, `$Forwarded`, `foo`.
    pub fn parse(raw: &[u8]) -> Option<Flag> {
        let text = std::str::from_utf8(raw).ok()?;
        let Some(name) = text.strip_prefix('\\') else {
            return Keyword::new(text).map(Flag::Keyword);
        };
        let system = [
            ("ANSWERED", Flag::Answered),
            ("FLAGGED", Flag::Flagged),
            ("DELETED", Flag::Deleted),
            ("SEEN", Flag::Seen),
            ("DRAFT", Flag::Draft),
            ("RECENT", Flag::Recent),
        ];
        if let Some((_, flag)) = system.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Some(flag.clone());
        }
        Keyword::new(name).map(Flag::Extension)
    }
}

/// A special-use attribute (RFC 6154 §2, RFC 8457 `\Important`), as CREATE's USE sends it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SpecialUse {
    All,
    Archive,
    Drafts,
    Flagged,
    Junk,
    Sent,
    Trash,
    Important,
    /// `use-attr-ext`: an attribute ringpost does not know (answered `NO [USEATTR]`).
    Other(Keyword),
}

impl Cursor<'_> {
    /// `flag = "\Answered" / ... / flag-keyword / flag-extension`.
    pub(super) fn flag(&mut self) -> Result<Flag, Malformed> {
        let start = self.rest();
        let backslash = usize::from(self.eat(b'\\'));
        let atom = self.take_while(is_atom_char);
        if atom.is_empty() {
            return Err(match self.peek() {
                None if backslash == 0 => Malformed::MissingArgument,
                _ => Malformed::InvalidFlag,
            });
        }
        Flag::parse(&start[..backslash + atom.len()]).ok_or(Malformed::InvalidFlag)
    }

    /// `flag-list = "(" [flag *(SP flag)] ")"`.
    pub(super) fn flag_list(&mut self) -> Result<Vec<Flag>, Malformed> {
        self.paren_list(true, Cursor::flag)
    }

    /// `use-attr` (RFC 6154 §6).
    pub(super) fn special_use(&mut self) -> Result<SpecialUse, Malformed> {
        if !self.eat(b'\\') {
            return Err(Malformed::InvalidSpecialUse);
        }
        let atom = self.atom().map_err(|_| Malformed::InvalidSpecialUse)?;
        let known = [
            ("ALL", SpecialUse::All),
            ("ARCHIVE", SpecialUse::Archive),
            ("DRAFTS", SpecialUse::Drafts),
            ("FLAGGED", SpecialUse::Flagged),
            ("JUNK", SpecialUse::Junk),
            ("SENT", SpecialUse::Sent),
            ("TRASH", SpecialUse::Trash),
            ("IMPORTANT", SpecialUse::Important),
        ];
        if let Some((_, u)) = known
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(atom))
        {
            return Ok(u.clone());
        }
        std::str::from_utf8(atom)
            .ok()
            .and_then(Keyword::new)
            .map(SpecialUse::Other)
            .ok_or(Malformed::InvalidSpecialUse)
    }
}
