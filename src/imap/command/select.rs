//! SELECT and EXAMINE (RFC 9051 §6.3.2, §6.3.3) with the CONDSTORE and QRESYNC parameters
//! (RFC 7162 §3.1.8, §3.2.5), and CREATE's USE parameter (RFC 6154 §3). Never does IO.

use super::cursor::Cursor;
use super::flag::SpecialUse;
use super::mailbox::{Mailbox, NameEncoding};
use super::sequence::{SeqNum, SequenceSet, ZeroModSeq};
use super::Malformed;
use crate::mail::{ModSeq, Uid, UidValidity};

/// The arguments of SELECT or EXAMINE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select {
    pub mailbox: Mailbox,
    /// `(CONDSTORE)`: the client wants MODSEQ from now on (RFC 7162 §3.1.8).
    pub condstore: bool,
    pub qresync: Option<QResync>,
}

/// `QRESYNC (uidvalidity modseq [known-uids [seq-match-data]])` (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QResync {
    pub uid_validity: UidValidity,
    pub mod_seq: ModSeq,
    /// Without `*` or `$` (RFC 7162 §7 `known-uids`).
    pub known_uids: Option<SequenceSet<Uid>>,
    pub seq_match: Option<SeqMatch>,
}

/// `seq-match-data = "(" known-sequence-set SP known-uid-set ")"`: pairs of sequence
/// numbers and UIDs the client knows, to find expunges cheaply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqMatch {
    pub seqs: SequenceSet<SeqNum>,
    pub uids: SequenceSet<Uid>,
}

/// The arguments of CREATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    pub mailbox: Mailbox,
    /// `(USE (\Sent ...))` (RFC 6154 §3); empty when absent.
    pub special_use: Vec<SpecialUse>,
}

impl Cursor<'_> {
    /// `select = "SELECT" SP mailbox [select-params]`, `select-params = SP "(" select-param
    /// *(SP select-param) ")"`.
    pub(super) fn select(&mut self, names: NameEncoding) -> Result<Select, Malformed> {
        self.sp()?;
        let mailbox = self.mailbox(names)?;
        let mut select = Select {
            mailbox,
            condstore: false,
            qresync: None,
        };
        if self.at_end() {
            return Ok(select);
        }
        self.sp()?;
        let params = self.paren_list(false, |c| {
            if c.eat_word(b"CONDSTORE") {
                return Ok(None);
            }
            if c.eat_word(b"QRESYNC") {
                c.sp()?;
                return c.qresync().map(Some);
            }
            Err(Malformed::InvalidSelectParameter)
        })?;
        for param in params {
            match param {
                None if !select.condstore => select.condstore = true,
                Some(q) if select.qresync.is_none() => select.qresync = Some(q),
                // The same parameter twice.
                _ => return Err(Malformed::InvalidSelectParameter),
            }
        }
        Ok(select)
    }

    fn qresync(&mut self) -> Result<QResync, Malformed> {
        let bad = |_| Malformed::InvalidQresyncParameters;
        self.expect(b'(', Malformed::InvalidQresyncParameters)?;
        let uid_validity = UidValidity::from(self.nz_number().map_err(bad)?);
        self.sp()?;
        let mod_seq = self.mod_seq(ZeroModSeq::Refused).map_err(bad)?;
        let mut q = QResync {
            uid_validity,
            mod_seq,
            known_uids: None,
            seq_match: None,
        };
        if self.eat(b' ') {
            if self.peek() != Some(b'(') {
                let uids = self.sequence_set::<Uid>().map_err(bad)?;
                if !uids.is_explicit() {
                    return Err(Malformed::InvalidQresyncParameters);
                }
                q.known_uids = Some(uids);
                if self.eat(b' ') {
                    q.seq_match = Some(self.seq_match()?);
                }
            } else {
                // seq-match-data comes only after known-uids.
                return Err(Malformed::InvalidQresyncParameters);
            }
        }
        self.expect(b')', Malformed::InvalidQresyncParameters)?;
        Ok(q)
    }

    fn seq_match(&mut self) -> Result<SeqMatch, Malformed> {
        let bad = |_| Malformed::InvalidQresyncParameters;
        self.expect(b'(', Malformed::InvalidQresyncParameters)?;
        let seqs = self.sequence_set::<SeqNum>().map_err(bad)?;
        self.sp()?;
        let uids = self.sequence_set::<Uid>().map_err(bad)?;
        self.expect(b')', Malformed::InvalidQresyncParameters)?;
        if !seqs.is_explicit() || !uids.is_explicit() {
            return Err(Malformed::InvalidQresyncParameters);
        }
        Ok(SeqMatch { seqs, uids })
    }

    /// `create = "CREATE" SP mailbox [create-params]` with `create-param = "USE" SP "("
    /// [use-attr *(SP use-attr)] ")"` (RFC 6154 §6).
    pub(super) fn create(&mut self, names: NameEncoding) -> Result<Create, Malformed> {
        self.sp()?;
        let mailbox = self.mailbox(names)?;
        let mut special_use = Vec::new();
        if !self.at_end() {
            self.sp()?;
            let params = self.paren_list(false, |c| {
                if !c.eat_word(b"USE") {
                    return Err(Malformed::InvalidSpecialUse);
                }
                c.sp()?;
                c.paren_list(true, Cursor::special_use)
            })?;
            special_use = params.into_iter().flatten().collect();
        }
        Ok(Create {
            mailbox,
            special_use,
        })
    }
}
