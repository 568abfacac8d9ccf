//! ACL (RFC 4314 §3): SETACL, DELETEACL, GETACL, LISTRIGHTS and MYRIGHTS. Never does IO.
//!
//! Identifiers are astrings, lower-cased here (ringpost's user names are lower case); one
//! that is empty or holds a control character or a space is BAD (RFC 4314 §3: an identifier
//! that fails preparation). Rights are astrings of lower-case letters: an unknown letter,
//! upper case included, is BAD (§3.1: "an unrecognized right MUST cause the command to
//! return the BAD response").

use super::cursor::Cursor;
use super::mailbox::{Mailbox, NameEncoding};
use super::{Command, Malformed};
use crate::mail::acl::{Rights, RightsChange};

/// The arguments of SETACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAcl {
    pub mailbox: Mailbox,
    pub identifier: String,
    pub change: RightsChange,
}

impl Cursor<'_> {
    /// `identifier = astring`, prepared: lower case, no controls or spaces, not empty.
    fn identifier(&mut self) -> Result<String, Malformed> {
        self.sp()?;
        let raw =
            String::from_utf8(self.astring()?.into_owned()).map_err(|_| Malformed::InvalidUtf8)?;
        if raw.is_empty() || raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(Malformed::InvalidIdentifier);
        }
        Ok(raw.to_lowercase())
    }

    /// `setacl = "SETACL" SP mailbox SP identifier SP mod-rights`; `mod-rights = astring`,
    /// `+rights`, `-rights` or `rights`.
    pub(super) fn setacl(&mut self, names: NameEncoding) -> Result<Command, Malformed> {
        self.sp()?;
        let mailbox = self.mailbox(names)?;
        let identifier = self.identifier()?;
        self.sp()?;
        let raw = self.astring()?;
        let text = std::str::from_utf8(&raw).map_err(|_| Malformed::InvalidRights)?;
        let (make, letters): (fn(Rights) -> RightsChange, &str) = match text.as_bytes().first() {
            Some(b'+') => (RightsChange::Add, &text[1..]),
            Some(b'-') => (RightsChange::Remove, &text[1..]),
            _ => (RightsChange::Replace, text),
        };
        let rights = Rights::parse(letters).map_err(|_| Malformed::InvalidRights)?;
        Ok(Command::SetAcl(SetAcl {
            mailbox,
            identifier,
            change: make(rights),
        }))
    }

    /// `deleteacl = "DELETEACL" SP mailbox SP identifier`.
    pub(super) fn deleteacl(&mut self, names: NameEncoding) -> Result<Command, Malformed> {
        self.sp()?;
        let mailbox = self.mailbox(names)?;
        let identifier = self.identifier()?;
        Ok(Command::DeleteAcl {
            mailbox,
            identifier,
        })
    }

    /// `listrights = "LISTRIGHTS" SP mailbox SP identifier`.
    pub(super) fn listrights(&mut self, names: NameEncoding) -> Result<Command, Malformed> {
        self.sp()?;
        let mailbox = self.mailbox(names)?;
        let identifier = self.identifier()?;
        Ok(Command::ListRights {
            mailbox,
            identifier,
        })
    }
}
