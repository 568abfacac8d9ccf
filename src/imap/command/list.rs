//! LIST (RFC 9051 §6.3.9) with LIST-EXTENDED selection and return options (RFC 5258),
//! SPECIAL-USE (RFC 6154 §5), LIST-STATUS (RFC 5819), and LSUB (RFC 3501 §6.3.9).
//! Never does IO.

use super::cursor::Cursor;
use super::mailbox::{decode_name, NameEncoding};
use super::status::StatusItem;
use super::Malformed;

/// LIST selection options (RFC 5258 §3.1). All false is the basic LIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListSelection {
    pub subscribed: bool,
    pub remote: bool,
    /// Only with another option (checked by the parser, RFC 5258 §3.1).
    pub recursive_match: bool,
    pub special_use: bool,
}

/// LIST return options (RFC 5258 §3.2, RFC 6154 §5.1, RFC 5819 §2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListReturn {
    pub subscribed: bool,
    pub children: bool,
    pub special_use: bool,
    /// `STATUS (...)`: a STATUS response for each selectable mailbox listed.
    pub status: Option<Vec<StatusItem>>,
    /// `MYRIGHTS` (RFC 8440): a MYRIGHTS response for each selectable mailbox listed.
    pub myrights: bool,
}

/// The arguments of LIST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    pub selection: ListSelection,
    /// The reference name, decoded to UTF-8 (may be empty).
    pub reference: String,
    /// One or more patterns, decoded; `%` and `*` are wildcards, and one empty pattern asks
    /// for the hierarchy delimiter.
    pub patterns: Vec<String>,
    pub returns: ListReturn,
}

/// The arguments of LSUB (IMAP4rev1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lsub {
    pub reference: String,
    pub pattern: String,
}

impl Cursor<'_> {
    /// `list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]`.
    pub(super) fn list(&mut self, names: NameEncoding) -> Result<List, Malformed> {
        self.sp()?;
        let mut selection = ListSelection::default();
        if self.peek() == Some(b'(') {
            self.paren_list(true, |c| {
                let option = c.atom().map_err(|_| Malformed::InvalidListOption)?;
                let slot = match option.to_ascii_uppercase().as_slice() {
                    b"SUBSCRIBED" => &mut selection.subscribed,
                    b"REMOTE" => &mut selection.remote,
                    b"RECURSIVEMATCH" => &mut selection.recursive_match,
                    b"SPECIAL-USE" => &mut selection.special_use,
                    _ => return Err(Malformed::InvalidListOption),
                };
                *slot = true;
                Ok(())
            })?;
            // RFC 5258 §3.1: RECURSIVEMATCH needs a base option; REMOTE is not one.
            if selection.recursive_match && !selection.subscribed && !selection.special_use {
                return Err(Malformed::RecursiveMatchAlone);
            }
            self.sp()?;
        }
        let reference = decode_name(&self.astring()?, names)?;
        self.sp()?;
        let patterns = if self.peek() == Some(b'(') {
            self.paren_list(false, |c| c.list_mailbox(names))?
        } else {
            vec![self.list_mailbox(names)?]
        };
        let mut returns = ListReturn::default();
        if !self.at_end() {
            self.sp()?;
            if !self.eat_word(b"RETURN") {
                return Err(Malformed::InvalidListOption);
            }
            self.sp()?;
            self.paren_list(true, |c| {
                if c.eat_word(b"STATUS") {
                    c.sp()?;
                    returns.status = Some(c.status_items()?);
                    return Ok(());
                }
                let option = c.atom().map_err(|_| Malformed::InvalidListOption)?;
                let slot = match option.to_ascii_uppercase().as_slice() {
                    b"SUBSCRIBED" => &mut returns.subscribed,
                    b"CHILDREN" => &mut returns.children,
                    b"SPECIAL-USE" => &mut returns.special_use,
                    b"MYRIGHTS" => &mut returns.myrights,
                    _ => return Err(Malformed::InvalidListOption),
                };
                *slot = true;
                Ok(())
            })?;
        }
        Ok(List {
            selection,
            reference,
            patterns,
            returns,
        })
    }

    /// `lsub = "LSUB" SP mailbox SP list-mailbox`.
    pub(super) fn lsub(&mut self, names: NameEncoding) -> Result<Lsub, Malformed> {
        self.sp()?;
        let reference = decode_name(&self.astring()?, names)?;
        self.sp()?;
        let pattern = self.list_mailbox(names)?;
        Ok(Lsub { reference, pattern })
    }
}
