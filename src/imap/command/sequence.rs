//! Message numbers and sets of them (RFC 9051 §9 `sequence-set`, RFC 5182 `$`, RFC 7162
//! mod-sequences): newtypes so a UID is never taken for a sequence number. UIDs and
//! mod-sequences are the model's ([`crate::mail`]); sequence numbers are IMAP's own. Never
//! does IO.

use std::num::NonZeroU32;

use super::cursor::Cursor;
use super::Malformed;
use crate::mail::ModSeq;

/// A message sequence number (RFC 9051 §2.3.1.2): 1 to the number of messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeqNum(pub NonZeroU32);

impl From<NonZeroU32> for SeqNum {
    fn from(n: NonZeroU32) -> Self {
        SeqNum(n)
    }
}

/// One end of a range: a number, or `*`, the largest number in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqBound<T> {
    Value(T),
    /// `*` (RFC 9051 §9 `seq-number`).
    Largest,
}

/// One element of a sequence set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqItem<T> {
    One(SeqBound<T>),
    /// `a:b`, as sent: either order means the same range (RFC 9051 §9 `seq-range`).
    Range(SeqBound<T>, SeqBound<T>),
    /// `$`: the result saved by the last `SEARCH RETURN (SAVE)` (RFC 5182 §2.1).
    Saved,
}

/// `sequence-set` of sequence numbers (`SequenceSet<SeqNum>`) or of UIDs
/// (`SequenceSet<Uid>`), never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSet<T>(Vec<SeqItem<T>>);

impl<T> SequenceSet<T> {
    /// `None` for an empty list: a sequence set has at least one element.
    pub fn new(items: Vec<SeqItem<T>>) -> Option<Self> {
        (!items.is_empty()).then_some(SequenceSet(items))
    }

    pub fn items(&self) -> &[SeqItem<T>] {
        &self.0
    }

    /// Whether `*` or `$` appears (QRESYNC known-uids allow neither).
    pub fn is_explicit(&self) -> bool {
        self.0.iter().all(|item| match item {
            SeqItem::One(b) => !matches!(b, SeqBound::Largest),
            SeqItem::Range(a, b) => {
                !matches!(a, SeqBound::Largest) && !matches!(b, SeqBound::Largest)
            }
            SeqItem::Saved => false,
        })
    }
}

impl<T: Copy + Into<u32>> SequenceSet<T> {
    /// Whether `n` is in the set, where `*` is `largest` (`$` is resolved by the caller and
    /// never matches here).
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        let value = |b: SeqBound<T>| match b {
            SeqBound::Value(v) => v.into(),
            SeqBound::Largest => largest,
        };
        self.0.iter().any(|item| match *item {
            SeqItem::One(b) => value(b) == n,
            SeqItem::Range(a, b) => {
                let (lo, hi) = (value(a).min(value(b)), value(a).max(value(b)));
                (lo..=hi).contains(&n)
            }
            SeqItem::Saved => false,
        })
    }
}

impl From<SeqNum> for u32 {
    fn from(n: SeqNum) -> u32 {
        n.0.get()
    }
}

impl Cursor<'_> {
    /// `sequence-set = (seq-number / seq-range / "$") ["," sequence-set]`.
    pub(super) fn sequence_set<T: From<NonZeroU32>>(
        &mut self,
    ) -> Result<SequenceSet<T>, Malformed> {
        if self.peek().is_none() {
            return Err(Malformed::MissingArgument);
        }
        let mut items = Vec::new();
        loop {
            if self.eat(b'$') {
                items.push(SeqItem::Saved);
            } else {
                let from = self.seq_bound()?;
                if self.eat(b':') {
                    items.push(SeqItem::Range(from, self.seq_bound()?));
                } else {
                    items.push(SeqItem::One(from));
                }
            }
            if !self.eat(b',') {
                break;
            }
        }
        // `1:2x`, `1,,2`: the set must end at a delimiter.
        if self
            .peek()
            .is_some_and(|b| b != b' ' && b != b')' && b != b'(')
        {
            return Err(Malformed::InvalidSequenceSet);
        }
        Ok(SequenceSet(items))
    }

    fn seq_bound<T: From<NonZeroU32>>(&mut self) -> Result<SeqBound<T>, Malformed> {
        if self.eat(b'*') {
            return Ok(SeqBound::Largest);
        }
        if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return Err(Malformed::InvalidSequenceSet);
        }
        let n = self
            .nz_number()
            .map_err(|_| Malformed::InvalidSequenceSet)?;
        Ok(SeqBound::Value(T::from(n)))
    }

    /// `mod-sequence-value` (non-zero) or, with `allow_zero`, `mod-sequence-valzer`.
    pub(super) fn mod_seq(&mut self, zero: ZeroModSeq) -> Result<ModSeq, Malformed> {
        let n = self.number64()?;
        if n == 0 && zero == ZeroModSeq::Refused {
            return Err(Malformed::InvalidNumber);
        }
        ModSeq::new(n).ok_or(Malformed::InvalidNumber)
    }
}

/// Whether a mod-sequence of 0 is allowed where it is read (RFC 7162 §7 `mod-sequence-valzer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ZeroModSeq {
    Allowed,
    Refused,
}
