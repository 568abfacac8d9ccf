//! The selected mailbox as one session sees it (RFC 9051 §2.3.1.2): message sequence numbers
//! mapped to UIDs, and the changes other sessions and deliveries made that this client has
//! not been told about yet. Changes are queued as they arrive and reported only when the
//! session says the client may hear them (RFC 9051 §7.5.1: no EXPUNGE during FETCH, STORE or
//! SEARCH without UID).
//!
//! Per-message data (flags, modseq, dates, sizes) is not here: the store's index on the
//! account's home shard is the one copy every session of the account shares, and commands
//! read it in batches. A view holds only what RFC 9051 §7.5.1 makes per-session: the
//! sequence map, the change queue, `\Recent`, `$`, the keywords the client has been told
//! about, and the modseqs of this session's own flag changes until the feed echoes them.
//!
//! `\Recent` (RFC 3501 §2.3.2, IMAP4rev1 only) is a `UidSet`: the messages the store let
//! this session claim at SELECT (or show it at EXAMINE), and those that arrived while it
//! had the mailbox open.

use std::collections::{BTreeMap, VecDeque};

use super::super::command::{SeqBound, SeqItem, SequenceSet};
use super::super::fetch::{flag_list, RecentFlag};
use super::super::response::{Code, Response, Status};
use super::context::{Contexts, ViewFacts};
use super::qresync;
use super::uidset::UidSet;
use crate::mail::{Change, Flags, Keyword, ModSeq, Uid, UidValidity};
use crate::mailbox::{Snapshot, UidRun};

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
    /// UIDONLY enabled (RFC 9586 §3): expunges are `* VANISHED`, FETCH is `* uid UIDFETCH`.
    pub uid_only: bool,
}

/// The selected mailbox.
#[derive(Debug)]
pub struct View {
    /// The store's name of the mailbox.
    pub name: String,
    pub access: Access,
    /// The user's rights (RFC 4314) on another account's mailbox; `None` on their own.
    pub rights: Option<crate::mail::acl::Rights>,
    pub uid_validity: UidValidity,
    pub uid_next: Uid,
    pub highest_modseq: ModSeq,
    /// HIGHESTMODSEQ when SELECT read the index: flag changes up to it were already there.
    selected_at: ModSeq,
    /// Sequence number → UID (RFC 9051 §2.3.1.2).
    seqs: UidSet,
    /// `\Recent` in this session (RFC 3501 §2.3.2).
    recent: UidSet,
    /// The keywords in the client's last `* FLAGS` response, sorted (RFC 9051 §7.3.5).
    keywords: Vec<Keyword>,
    /// Changes not yet applied to the view.
    pending: VecDeque<Change>,
    /// The last `SEARCH RETURN (SAVE)` result, `$` (RFC 5182).
    saved: UidSet,
    /// The modseq of the last flag change this session made (and reported) per message,
    /// until the feed echoes it.
    own: BTreeMap<Uid, ModSeq>,
    /// The searches kept up to date (RFC 5267 §4): they end with the view.
    pub contexts: Contexts,
}

impl View {
    /// The view of a SELECT or EXAMINE; the messages from `snapshot.recent` on are
    /// `\Recent` in it.
    pub fn new(name: String, access: Access, snapshot: Snapshot) -> View {
        let recent = match snapshot.recent {
            Some(first) => UidSet::from_runs(&runs_from(&snapshot.uids, first)),
            None => UidSet::default(),
        };
        View {
            name,
            access,
            rights: snapshot.rights,
            uid_validity: snapshot.uid_validity,
            uid_next: snapshot.uid_next,
            highest_modseq: snapshot.highest_modseq,
            selected_at: snapshot.highest_modseq,
            seqs: UidSet::from_runs(&snapshot.uids),
            recent,
            keywords: snapshot.keywords,
            pending: VecDeque::new(),
            saved: UidSet::default(),
            own: BTreeMap::new(),
            contexts: Contexts::default(),
        }
    }

    pub fn count(&self) -> u32 {
        self.seqs.len()
    }

    pub fn read_only(&self) -> bool {
        self.access == Access::ReadOnly
    }

    /// Whether the user may set `\Seen` here (RFC 4314 §4: a FETCH that implies it
    /// does not set it without the `s` right).
    pub fn may_set_seen(&self) -> bool {
        !self.read_only()
            && self
                .rights
                .is_none_or(|r| r.contains(crate::mail::acl::Rights::SEEN))
    }

    /// The sequence number of `uid`.
    pub fn seq(&self, uid: Uid) -> Option<u32> {
        self.seqs.rank(uid)
    }

    /// Every UID, in sequence-number order.
    pub fn uids(&self) -> impl Iterator<Item = Uid> + '_ {
        self.seqs.iter()
    }

    /// The largest UID in the mailbox (what `*` means in a UID set), 0 when empty.
    pub fn largest_uid(&self) -> u32 {
        self.seqs.last().map_or(0, |u| u.0)
    }

    pub fn is_recent(&self, uid: Uid) -> bool {
        self.recent.contains(uid)
    }

    /// The UID of message number `seq`.
    pub fn uid_at(&self, seq: u32) -> Option<Uid> {
        self.seqs.at(seq)
    }

    /// The view's UIDs from `first` to `last` as ranges of consecutive UIDs, ascending (a
    /// few for a mailbox with few gaps, however many messages it holds).
    pub fn ranges_between(&self, first: Uid, last: Uid) -> impl Iterator<Item = (Uid, Uid)> + '_ {
        self.seqs.ranges_within(first, last)
    }

    pub fn recent_count(&self) -> u32 {
        self.recent.len()
    }

    /// Add the keywords of `flags` the client has not been told about; whether there were
    /// any (then [`View::write_new_keywords`] must go out before a response that shows them).
    pub fn learn(&mut self, flags: &Flags) -> bool {
        let mut new = false;
        for k in &flags.keywords {
            if let Err(at) = self.keywords.binary_search(k) {
                self.keywords.insert(at, k.clone());
                new = true;
            }
        }
        new
    }

    /// `* FLAGS (…)`: the flags defined in the mailbox, keywords included (RFC 9051 §7.3.5).
    pub fn write_flags(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
        for k in &self.keywords {
            out.push(b' ');
            out.extend_from_slice(k.as_str().as_bytes());
        }
        out.extend_from_slice(b")\r\n");
    }

    /// `* OK [PERMANENTFLAGS (…)]`: what STORE can set (RFC 9051 §7.1); nothing after
    /// EXAMINE.
    pub fn write_permanent_flags(&self, out: &mut Vec<u8>) {
        use crate::mail::acl::Rights;
        let code = match (self.access, self.rights) {
            (Access::ReadOnly, _) => Code::NoPermanentFlags,
            (Access::ReadWrite, None) => Code::PermanentFlags(self.keywords.clone()),
            // RFC 4314 §5.1.1: only the flags these rights let the user change.
            (Access::ReadWrite, Some(r)) => {
                let mut system = Vec::new();
                if r.contains(Rights::WRITE) {
                    system.extend(["\\Answered", "\\Flagged"]);
                }
                if r.contains(Rights::DELETE_MESSAGES) {
                    system.push("\\Deleted");
                }
                if r.contains(Rights::SEEN) {
                    system.push("\\Seen");
                }
                if r.contains(Rights::WRITE) {
                    system.push("\\Draft");
                }
                let keywords = r.contains(Rights::WRITE).then(|| self.keywords.clone());
                Code::PermanentFlagsOf(system, keywords)
            }
        };
        Response::untagged(Status::Ok, Some(code), "Flags permitted").encode(out);
    }

    /// Both, as Dovecot sends them when a keyword appears in a selected mailbox: clients
    /// record the new FLAGS (RFC 9051 §7.3.5).
    pub fn write_new_keywords(&self, out: &mut Vec<u8>) {
        self.write_flags(out);
        self.write_permanent_flags(out);
    }

    pub fn saved(&self) -> &UidSet {
        &self.saved
    }

    /// Replace `$` (RFC 5182 §2.1) with `uids` (sorted).
    pub fn save(&mut self, uids: &[Uid]) {
        self.saved = UidSet::from_sorted(uids.iter().copied());
    }

    /// The UIDs a sequence-number set names, ascending; `None` when it names a number beyond
    /// the mailbox (RFC 9051 §6.4.5: BAD).
    pub fn by_sequence<T: Copy + Into<u32>>(&self, set: &SequenceSet<T>) -> Option<Vec<Uid>> {
        let count = self.count();
        let value = |b: SeqBound<T>| match b {
            SeqBound::Value(v) => v.into(),
            SeqBound::Largest => count,
        };
        let mut ranges = Vec::new();
        let mut saved = false;
        for item in set.items() {
            let (a, b) = match *item {
                SeqItem::One(x) => (value(x), value(x)),
                SeqItem::Range(x, y) => (value(x), value(y)),
                SeqItem::Saved => {
                    saved = true;
                    continue;
                }
            };
            let (lo, hi) = (a.min(b), a.max(b));
            if hi > count || lo == 0 {
                return None;
            }
            ranges.push((lo, hi));
        }
        let mut uids = Vec::new();
        for (lo, hi) in merged(ranges) {
            self.seqs.extend_ranks(lo, hi, &mut uids);
        }
        Some(self.with_saved(uids, saved))
    }

    /// The UIDs a UID set names, ascending (UIDs that do not exist are ignored, RFC 9051
    /// §6.4.9; `*` is the largest UID in use).
    pub fn by_uid<T: Copy + Into<u32>>(&self, set: &SequenceSet<T>) -> Vec<Uid> {
        let largest = self.largest_uid();
        let value = |b: SeqBound<T>| match b {
            SeqBound::Value(v) => v.into(),
            SeqBound::Largest => largest,
        };
        let mut ranges = Vec::new();
        let mut saved = false;
        for item in set.items() {
            let (a, b) = match *item {
                SeqItem::One(x) => (value(x), value(x)),
                SeqItem::Range(x, y) => (value(x), value(y)),
                SeqItem::Saved => {
                    saved = true;
                    continue;
                }
            };
            ranges.push((a.min(b), a.max(b)));
        }
        let mut uids = Vec::new();
        for (lo, hi) in merged(ranges) {
            self.seqs.extend_range(Uid(lo), Uid(hi), &mut uids);
        }
        self.with_saved(uids, saved)
    }

    /// `uids` (ascending) with the messages of `$` added when the set named it.
    fn with_saved(&self, uids: Vec<Uid>, saved: bool) -> Vec<Uid> {
        if !saved || self.saved.is_empty() {
            return uids;
        }
        let mut all = uids;
        all.extend(self.saved.iter().filter(|u| self.seqs.contains(*u)));
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Record flags this session set itself (and reports in its own reply): the feed's echo
    /// of them is not reported again.
    pub fn stored(&mut self, uid: Uid, modseq: ModSeq) {
        if self.seqs.contains(uid) {
            self.contexts.flags_changed(uid);
            let m = self.own.entry(uid).or_insert(modseq);
            *m = (*m).max(modseq);
        }
        self.highest_modseq = self.highest_modseq.max(modseq);
    }

    /// Record flags reported to the client outside the change feed (a QRESYNC SELECT's
    /// FETCH lines, read from the store after the snapshot): the feed's echo of a change
    /// newer than the snapshot is not reported again.
    pub fn reported(&mut self, uid: Uid, modseq: ModSeq) {
        if modseq > self.selected_at {
            self.stored(uid, modseq);
        }
    }

    /// Remove a message this session expunged; its old sequence number, for `* n EXPUNGE`.
    pub fn remove(&mut self, uid: Uid) -> Option<u32> {
        self.saved.remove(uid);
        self.recent.remove(uid);
        self.own.remove(&uid);
        self.seqs.remove(uid)
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
        let largest = self.seqs.last();
        while let Some(change) = self.pending.pop_front() {
            match change {
                Change::Exists { uid } => {
                    if !self.seqs.push(uid) {
                        continue; // Already in the snapshot, or this session's own.
                    }
                    self.contexts.arrived(uid);
                    qresync::flush_vanished(out, &mut vanished);
                    self.recent.push(uid);
                    self.uid_next = self.uid_next.max(Uid(uid.0.saturating_add(1)));
                    grown = true;
                }
                Change::Expunged { uid } => {
                    if expunges == Expunges::HoldBack {
                        held.push_back(Change::Expunged { uid });
                        continue;
                    }
                    self.announce(out, &mut grown, rev1);
                    if let Some(seq) = self.seq(uid) {
                        // RFC 5267 §4.3.4: REMOVEFROM in message numbers before the expunge
                        // that renumbers (and so before the VANISHED line it would join).
                        if self.contexts.numbers_hold(uid) {
                            qresync::flush_vanished(out, &mut vanished);
                        }
                        self.contexts.expunging(uid, seq);
                        self.contexts.write_updates(out);
                    }
                    match self.remove(uid) {
                        Some(_) if dialect.qresync || dialect.uid_only => vanished.push(uid),
                        Some(seq) => {
                            out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes())
                        }
                        None => {}
                    }
                }
                Change::Flags { uid, flags, modseq } => {
                    self.highest_modseq = self.highest_modseq.max(modseq);
                    if modseq <= self.selected_at || self.echoes_own(uid, modseq) {
                        continue; // The client read these flags, or newer ones, already.
                    }
                    let Some(seq) = self.seq(uid) else {
                        continue;
                    };
                    self.contexts.flags_changed(uid);
                    let recent = self.is_recent(uid);
                    qresync::flush_vanished(out, &mut vanished);
                    self.announce(out, &mut grown, rev1);
                    if self.learn(&flags) {
                        self.write_new_keywords(out);
                    }
                    if dialect.uid_only {
                        out.extend_from_slice(format!("* {uid} UIDFETCH (FLAGS ").as_bytes());
                    } else {
                        out.extend_from_slice(
                            format!("* {seq} FETCH (UID {uid} FLAGS ").as_bytes(),
                        );
                    }
                    flag_list(out, &flags, RecentFlag::shown_if(recent && rev1));
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
        self.contexts.largest_changed(largest, self.seqs.last());
        self.contexts.write_updates(out);
    }

    /// Evaluate the contexts' pending rechecks of `uids` again (see
    /// [`Contexts::recheck`]), with the view's side of each message.
    pub fn recheck(
        &mut self,
        uids: &[Uid],
        messages: Option<&[crate::mailbox::FetchedMessage]>,
        now: i64,
        out: &mut Vec<u8>,
    ) {
        let mut contexts = std::mem::take(&mut self.contexts);
        let seq = |uid: Uid| self.seq(uid);
        let recent = |uid: Uid| self.is_recent(uid);
        let facts = ViewFacts {
            count: self.count(),
            largest_uid: self.largest_uid(),
            saved: &self.saved,
            seq: &seq,
            recent: &recent,
        };
        contexts.recheck(uids, messages, now, &facts, out);
        self.contexts = contexts;
    }

    /// Remove messages this session expunged, the contexts' REMOVEFROM written first (RFC
    /// 5267 §4.3.4), in the message numbers of before the batch: the client applies them
    /// before any of the EXPUNGE or VANISHED lines that follow. Each message's sequence
    /// number at its removal, in the order of `uids` (highest first keeps each one valid).
    pub fn remove_all(&mut self, uids: &[Uid], out: &mut Vec<u8>) -> Vec<Option<u32>> {
        let largest = self.seqs.last();
        let mut seqs = Vec::with_capacity(uids.len());
        for &uid in uids {
            if let Some(seq) = self.seq(uid) {
                self.contexts.expunging(uid, seq);
            }
        }
        self.contexts.write_updates(out);
        for &uid in uids {
            seqs.push(self.remove(uid));
        }
        self.contexts.largest_changed(largest, self.seqs.last());
        seqs
    }

    /// Whether this session already reported flags of `uid` at `modseq` or later (its own
    /// STORE); forgets what the feed has now caught up with.
    fn echoes_own(&mut self, uid: Uid, modseq: ModSeq) -> bool {
        match self.own.get(&uid) {
            Some(&m) if m > modseq => true,
            Some(&m) => {
                self.own.remove(&uid);
                m == modseq
            }
            None => false,
        }
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

/// The part of `runs` (ascending) from UID `first` on.
fn runs_from(runs: &[UidRun], first: Uid) -> Vec<UidRun> {
    runs.iter()
        .filter_map(|r| {
            let end = u64::from(r.first.0) + u64::from(r.count);
            if end <= u64::from(first.0) {
                None
            } else if r.first >= first {
                Some(*r)
            } else {
                Some(UidRun {
                    first,
                    count: (end - u64::from(first.0)) as u32,
                })
            }
        })
        .collect()
}

/// Sorted, overlapping or adjacent ranges merged (so a set like `1:*,1:*,…` costs one pass).
fn merged(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ranges.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if u64::from(lo) <= u64::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}
