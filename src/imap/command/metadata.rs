//! METADATA (RFC 5464 §4): GETMETADATA and SETMETADATA. Never does IO.

use super::cursor::{Cursor, LiteralKind};
use super::mailbox::{Mailbox, NameEncoding};
use super::{Command, Malformed};
use crate::mail::metadata::{entry_name, Annotation, Depth};

/// The arguments of GETMETADATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetMetadata {
    /// `""` (a [`Mailbox::Other`] with an empty name) names the server.
    pub mailbox: Mailbox,
    /// `MAXSIZE`: values longer than this are left out (§4.2.1).
    pub max_size: Option<u32>,
    pub depth: Depth,
    /// Entry names, lower case.
    pub entries: Vec<String>,
}

/// The arguments of SETMETADATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetMetadata {
    pub mailbox: Mailbox,
    pub entries: Vec<Annotation>,
}

impl Cursor<'_> {
    /// `getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries`,
    /// `getmetadata-options = "(" getmetadata-option *(SP getmetadata-option) ")"`,
    /// `maxsize-opt = "MAXSIZE" SP number`, `scope-opt = "DEPTH" SP ("0" / "1" /
    /// "infinity")`, `entries = entry / "(" entry *(SP entry) ")"`.
    pub(super) fn getmetadata(&mut self, names: NameEncoding) -> Result<Command, Malformed> {
        self.sp()?;
        let (mut max_size, mut depth) = (None, None);
        if self.peek() == Some(b'(') {
            self.paren_list(false, |c| {
                let option = c.atom()?.to_ascii_uppercase();
                c.sp()?;
                match option.as_slice() {
                    b"MAXSIZE" if max_size.is_none() => max_size = Some(c.number()?),
                    b"DEPTH" if depth.is_none() => {
                        depth = Some(match c.atom()?.to_ascii_lowercase().as_slice() {
                            b"0" => Depth::Zero,
                            b"1" => Depth::One,
                            b"infinity" => Depth::Infinity,
                            _ => return Err(Malformed::InvalidMetadata),
                        })
                    }
                    _ => return Err(Malformed::InvalidMetadata),
                }
                Ok(())
            })?;
            self.sp()?;
        }
        let mailbox = self.mailbox(names)?;
        self.sp()?;
        let entries = if self.peek() == Some(b'(') {
            self.paren_list(false, |c| c.metadata_entry(true))?
        } else {
            vec![self.metadata_entry(true)?]
        };
        Ok(Command::GetMetadata(GetMetadata {
            mailbox,
            max_size,
            depth: depth.unwrap_or_default(),
            entries,
        }))
    }

    /// `setmetadata = "SETMETADATA" SP mailbox SP entry-values`, `entry-values = "("
    /// entry-value *(SP entry-value) ")"`, `entry-value = entry SP value`, `value = nstring /
    /// literal8`.
    pub(super) fn setmetadata(&mut self, names: NameEncoding) -> Result<Command, Malformed> {
        self.sp()?;
        let mailbox = self.mailbox(names)?;
        self.sp()?;
        let entries = self.paren_list(false, |c| {
            let name = c.metadata_entry(false)?;
            c.sp()?;
            let value = if c.eat(b'~') {
                Some(c.literal(LiteralKind::Binary)?.into_owned())
            } else {
                c.nstring()?.map(|v| v.into_owned())
            };
            Ok(Annotation { name, value })
        })?;
        Ok(Command::SetMetadata(SetMetadata { mailbox, entries }))
    }

    /// `entry = astring`: an entry name as [`entry_name`] takes it.
    fn metadata_entry(&mut self, root_ok: bool) -> Result<String, Malformed> {
        let raw = self.astring()?;
        entry_name(&raw, root_ok).ok_or(Malformed::InvalidMetadata)
    }
}
