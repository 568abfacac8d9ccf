//! The selected mailbox as one session sees it (RFC 9051 §2.3.1.2): message sequence numbers
//! mapped to UIDs, flags, and the changes other sessions and deliveries made that this
//! client has not been told about yet. Changes are queued as they arrive and reported only
//! when the session says the client may hear them (RFC 9051 §7.5.1: no EXPUNGE during FETCH,
//! STORE or SEARCH without UID).

use std::collections::VecDeque;

use super::super::command::{SeqBound, SeqItem, SequenceSet};
use super::super::fetch::flag_list;
use super::qresync;
use crate::mailbox::{MessageMeta, Snapshot};
use crate::store::{Change, Flags, ModSeq, Uid, UidValidity};

/// One message of the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewMessage {
    pub meta: MessageMeta,
    /// `\Recent` in this session (RFC 3501 §2.3.2): arrived while it had the mailbox open.
    pub recent: bool,
}

/// Whether a mailbox was opened with SELECT or EXAMINE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
}

/// Whether pending EXPUNGEs may be reported now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expunges {
    Report,
    HoldBack,
}

/// How this client wants to hear about changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// IMAP4rev1 (no ENABLE IMAP4rev2): `\Recent` and `* n RECENT`.
    pub rev1: bool,
    /// CONDSTORE enabled: unsolicited FETCH responses carry MODSEQ (RFC 7162 §3.2).
    pub condstore: bool,
    /// QRESYNC enabled: expunges are `* VANISHED uids`, not `* n EXPUNGE` (RFC 7162 §3.2.10).
    pub qresync: bool,
}

/// The selected mailbox.
#[derive(Debug)]
pub struct View {
    /// The store's name of the mailbox.
    pub name: String,
    pub access: Access,
    pub uid_validity: UidValidity,
    pub uid_next: Uid,
    pub highest_modseq: ModSeq,
    /// In sequence-number order (= UID order).
    pub messages: Vec<ViewMessage>,
    /// Changes not yet applied to the view.
    pending: VecDeque<Change>,
    /// The last `SEARCH RETURN (SAVE)` result, `$` (RFC 5182), sorted.
    pub saved: Vec<Uid>,
}

impl View {
    pub fn new(name: String, access: Access, snapshot: Snapshot) -> View {
        View {
            name,
            access,
            uid_validity: snapshot.uid_validity,
            uid_next: snapshot.uid_next,
            highest_modseq: snapshot.highest_modseq,
            messages: snapshot
                .messages
                .into_iter()
                .map(|meta| ViewMessage {
                    meta,
                    recent: false,
                })
                .collect(),
            pending: VecDeque::new(),
            saved: Vec::new(),
        }
    }

    pub fn count(&self) -> u32 {
        self.messages.len() as u32
    }

    pub fn read_only(&self) -> bool {
        self.access == Access::ReadOnly
    }

    /// The sequence number of `uid`.
    pub fn seq(&self, uid: Uid) -> Option<u32> {
        self.position(uid).map(|i| i as u32 + 1)
    }

    fn position(&self, uid: Uid) -> Option<usize> {
        self.messages
            .binary_search_by_key(&uid, |m| m.meta.uid)
            .ok()
    }

    pub fn get(&self, uid: Uid) -> Option<&ViewMessage> {
        self.position(uid).map(|i| &self.messages[i])
    }

    /// The UID of message number `seq`.
    pub fn uid_at(&self, seq: u32) -> Option<Uid> {
        let i = usize::try_from(seq).ok()?.checked_sub(1)?;
        self.messages.get(i).map(|m| m.meta.uid)
    }

    /// The UIDs of the view from `first` to `last`, ascending.
    pub fn uids_between(&self, first: Uid, last: Uid) -> impl Iterator<Item = Uid> + '_ {
        let start = self.messages.partition_point(|m| m.meta.uid < first);
        self.messages[start..]
            .iter()
            .map(|m| m.meta.uid)
            .take_while(move |&u| u <= last)
    }

    pub fn recent_count(&self) -> u32 {
        self.messages.iter().filter(|m| m.recent).count() as u32
    }

    /// The first message without `\Seen` (RFC 3501 §6.3.1 `UNSEEN`).
    pub fn first_unseen(&self) -> Option<u32> {
        self.messages
            .iter()
            .position(|m| {
                !m.meta
                    .flags
                    .system
                    .contains(crate::store::SystemFlags::SEEN)
            })
            .map(|i| i as u32 + 1)
    }

    /// Indexes of the messages a sequence-number set names, in order; `None` when it names a
    /// number beyond the mailbox (RFC 9051 §6.4.5: BAD).
    pub fn by_sequence<T: Copy + Into<u32>>(&self, set: &SequenceSet<T>) -> Option<Vec<usize>> {
        let count = self.messages.len();
        let mut marks = vec![false; count];
        let value = |b: SeqBound<T>| match b {
            SeqBound::Value(v) => v.into() as usize,
            SeqBound::Largest => count,
        };
        for item in set.items() {
            let (a, b) = match *item {
                SeqItem::One(x) => (value(x), value(x)),
                SeqItem::Range(x, y) => (value(x), value(y)),
                SeqItem::Saved => {
                    self.mark_saved(&mut marks);
                    continue;
                }
            };
            let (lo, hi) = (a.min(b), a.max(b));
            if hi > count || lo == 0 {
                return None;
            }
            marks[lo - 1..hi].iter_mut().for_each(|m| *m = true);
        }
        Some((0..count).filter(|&i| marks[i]).collect())
    }

    /// Indexes of the messages a UID set names, in order (UIDs that do not exist are
    /// ignored, RFC 9051 §6.4.9; `*` is the largest UID in use).
    pub fn by_uid<T: Copy + Into<u32>>(&self, set: &SequenceSet<T>) -> Vec<usize> {
        let largest = self.messages.last().map_or(0, |m| m.meta.uid.0);
        let value = |b: SeqBound<T>| match b {
            SeqBound::Value(v) => v.into(),
            SeqBound::Largest => largest,
        };
        let mut marks = vec![false; self.messages.len()];
        for item in set.items() {
            let (a, b) = match *item {
                SeqItem::One(x) => (value(x), value(x)),
                SeqItem::Range(x, y) => (value(x), value(y)),
                SeqItem::Saved => {
                    self.mark_saved(&mut marks);
                    continue;
                }
            };
            let (lo, hi) = (Uid(a.min(b)), Uid(a.max(b)));
            let start = self.messages.partition_point(|m| m.meta.uid < lo);
            let end = self.messages.partition_point(|m| m.meta.uid <= hi);
            marks[start..end].iter_mut().for_each(|m| *m = true);
        }
        (0..marks.len()).filter(|&i| marks[i]).collect()
    }

    /// Whether some message arrived by a change and is known only by its UID.
    pub fn has_placeholders(&self) -> bool {
        self.messages.iter().any(|m| m.meta.modseq == ModSeq(0))
    }

    /// Complete a message known only by its UID with what the store says about it.
    pub fn refresh(&mut self, meta: &MessageMeta) {
        if let Some(i) = self.position(meta.uid) {
            let m = &mut self.messages[i].meta;
            if m.modseq == ModSeq(0) {
                *m = meta.clone();
            }
        }
    }

    fn mark_saved(&self, marks: &mut [bool]) {
        for uid in &self.saved {
            if let Some(i) = self.position(*uid) {
                marks[i] = true;
            }
        }
    }

    /// Record new flags this session set itself.
    pub fn set_flags(&mut self, uid: Uid, flags: Flags, modseq: ModSeq) {
        if let Some(i) = self.position(uid) {
            let m = &mut self.messages[i].meta;
            if modseq >= m.modseq {
                m.flags = flags;
                m.modseq = modseq;
            }
        }
        self.highest_modseq = self.highest_modseq.max(modseq);
    }

    /// Remove a message this session expunged; its old sequence number, for `* n EXPUNGE`.
    pub fn remove(&mut self, uid: Uid) -> Option<u32> {
        if let Ok(k) = self.saved.binary_search(&uid) {
            self.saved.remove(k);
        }
        let i = self.position(uid)?;
        self.messages.remove(i);
        Some(i as u32 + 1)
    }

    pub fn queue(&mut self, change: Change) {
        self.pending.push_back(change);
    }

    /// Apply queued changes and write the untagged responses that tell the client
    /// (`* n EXPUNGE`, `* n EXISTS`, `* n RECENT` for rev1, `* n FETCH (FLAGS …)`).
    pub fn flush(&mut self, out: &mut Vec<u8>, expunges: Expunges, dialect: Dialect) {
        let rev1 = dialect.rev1;
        let mut held = VecDeque::new();
        let mut grown = false;
        // QRESYNC: expunges in a row become one `* VANISHED` line, written before anything
        // that follows them (sequence numbers after it count without them).
        let mut vanished = Vec::new();
        while let Some(change) = self.pending.pop_front() {
            match change {
                // A message that arrived is known by its UID until a FETCH or SEARCH reads
                // its metadata (`modseq` 0 marks it, [`View::refresh`]).
                Change::Exists { uid } => {
                    if self.messages.last().is_some_and(|m| m.meta.uid >= uid) {
                        continue; // Already in the snapshot, or this session's own.
                    }
                    qresync::flush_vanished(out, &mut vanished);
                    self.messages.push(ViewMessage {
                        meta: MessageMeta {
                            uid,
                            flags: Flags::default(),
                            modseq: ModSeq(0),
                            internal_date: 0,
                            size: 0,
                        },
                        recent: true,
                    });
                    self.uid_next = self.uid_next.max(Uid(uid.0.saturating_add(1)));
                    grown = true;
                }
                Change::Expunged { uid } => {
                    if expunges == Expunges::HoldBack {
                        held.push_back(Change::Expunged { uid });
                        continue;
                    }
                    self.announce(out, &mut grown, rev1);
                    match self.remove(uid) {
                        Some(_) if dialect.qresync => vanished.push(uid),
                        Some(seq) => {
                            out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes())
                        }
                        None => {}
                    }
                }
                Change::Flags { uid, flags, modseq } => {
                    self.highest_modseq = self.highest_modseq.max(modseq);
                    let Some(i) = self.position(uid) else {
                        continue;
                    };
                    let m = &mut self.messages[i];
                    if m.meta.modseq >= modseq || m.meta.flags == flags {
                        m.meta.modseq = m.meta.modseq.max(modseq);
                        continue;
                    }
                    m.meta.flags = flags;
                    m.meta.modseq = modseq;
                    let recent = m.recent;
                    let line_flags = m.meta.flags.clone();
                    qresync::flush_vanished(out, &mut vanished);
                    self.announce(out, &mut grown, rev1);
                    out.extend_from_slice(
                        format!("* {} FETCH (UID {uid} FLAGS ", i + 1).as_bytes(),
                    );
                    flag_list(out, &line_flags, recent && rev1);
                    if dialect.condstore {
                        out.extend_from_slice(format!(" MODSEQ ({})", modseq.0).as_bytes());
                    }
                    out.extend_from_slice(b")\r\n");
                }
                Change::Renamed { name } => self.name = name,
                // Commands on a deleted mailbox get `NO [NONEXISTENT]` from the store.
                Change::Deleted => {}
            }
        }
        qresync::flush_vanished(out, &mut vanished);
        self.announce(out, &mut grown, rev1);
        self.pending = held;
    }

    fn announce(&self, out: &mut Vec<u8>, grown: &mut bool, rev1: bool) {
        if std::mem::take(grown) {
            out.extend_from_slice(format!("* {} EXISTS\r\n", self.count()).as_bytes());
            if rev1 {
                out.extend_from_slice(format!("* {} RECENT\r\n", self.recent_count()).as_bytes());
            }
        }
    }
}
