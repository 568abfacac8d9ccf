//! STORE (RFC 9051 §6.4.6) with CONDSTORE's UNCHANGEDSINCE (RFC 7162 §3.1.3), and COPY /
//! MOVE (RFC 9051 §6.4.7, §6.4.8). Never does IO.

use std::num::NonZeroU32;

use super::cursor::Cursor;
use super::flag::Flag;
use super::mailbox::{Mailbox, NameEncoding};
use super::sequence::{SequenceSet, ZeroModSeq};
use super::Malformed;
use crate::mail::ModSeq;

/// The arguments of STORE (`Store<SeqNum>`) or UID STORE (`Store<Uid>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store<T> {
    pub set: SequenceSet<T>,
    /// `(UNCHANGEDSINCE n)`: only messages whose mod-sequence is at most `n`.
    pub unchanged_since: Option<ModSeq>,
    pub action: StoreAction,
    pub reply: StoreReply,
    pub flags: Vec<Flag>,
}

/// `FLAGS`, `+FLAGS` or `-FLAGS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAction {
    Replace,
    Add,
    Remove,
}

/// Whether the server answers with the new flags (`.SILENT` says no).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreReply {
    Flags,
    Silent,
}

/// The arguments of COPY or MOVE (and their UID forms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer<T> {
    pub set: SequenceSet<T>,
    pub mailbox: Mailbox,
}

impl Cursor<'_> {
    /// `store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags`,
    /// `store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))`.
    pub(super) fn store<T: From<NonZeroU32>>(&mut self) -> Result<Store<T>, Malformed> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        let mut unchanged_since = None;
        if self.peek() == Some(b'(') {
            self.advance(1);
            if !self.eat_word(b"UNCHANGEDSINCE") {
                return Err(Malformed::InvalidStoreModifier);
            }
            self.sp()?;
            unchanged_since = Some(
                self.mod_seq(ZeroModSeq::Allowed)
                    .map_err(|_| Malformed::InvalidStoreModifier)?,
            );
            self.expect(b')', Malformed::InvalidStoreModifier)?;
            self.sp()?;
        }
        let action = if self.eat(b'+') {
            StoreAction::Add
        } else if self.eat(b'-') {
            StoreAction::Remove
        } else {
            StoreAction::Replace
        };
        let reply = if self.eat_word(b"FLAGS") {
            StoreReply::Flags
        } else if self.eat_word(b"FLAGS.SILENT") {
            StoreReply::Silent
        } else {
            return Err(Malformed::InvalidStoreItem);
        };
        self.sp()?;
        let flags = if self.peek() == Some(b'(') {
            self.flag_list()?
        } else {
            let mut flags = vec![self.flag()?];
            while !self.at_end() {
                self.sp()?;
                flags.push(self.flag()?);
            }
            flags
        };
        Ok(Store {
            set,
            unchanged_since,
            action,
            reply,
            flags,
        })
    }

    /// `copy = "COPY" SP sequence-set SP mailbox` (MOVE alike).
    pub(super) fn transfer<T: From<NonZeroU32>>(
        &mut self,
        names: NameEncoding,
    ) -> Result<Transfer<T>, Malformed> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        let mailbox = self.mailbox(names)?;
        Ok(Transfer { set, mailbox })
    }
}
