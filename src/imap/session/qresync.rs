//! QRESYNC in the session (RFC 7162 §3.2): SELECT/EXAMINE with the QRESYNC parameter (the
//! expunges and flag changes since the client's modseq, before the tagged OK), the VANISHED
//! UID FETCH modifier, and `VANISHED` lines in place of `EXPUNGE` once enabled. What vanished
//! comes from the store's expunge log ([`MailboxRequest::Vanished`]); this module only picks
//! the UIDs to ask about and says what it learned.
//!
//! One rule keeps every report consistent with the view: `VANISHED (EARLIER)` never names a
//! UID the view still holds. Such a message was expunged after the view was taken, its
//! expunge is queued on the view, and the view reports it (`* VANISHED uid`) in order.

use super::super::command::{QResync, SeqBound, SeqItem, SeqMatch, SequenceSet, Tag};
use super::super::fetch::{self, RecentFlag};
use super::super::response::{Response, Status};
use super::commands::{FetchJob, Pending};
use super::view::{Access, View};
use super::ImapSession;
use crate::mail::ranges::normalize;
use crate::mail::{Flags, ModSeq, Uid, UidRange, Vanished};
use crate::mailbox::MailboxRequest;

/// A QRESYNC SELECT whose snapshot arrived: what it still reports before its tagged OK.
#[derive(Debug)]
pub(super) struct ResyncJob {
    pub(super) tag: Tag,
    pub(super) access: Access,
    pub(super) since: ModSeq,
    /// The UIDs the client knows (`known-uids`, else 1:UIDNEXT-1), normalized and below
    /// the mailbox's UIDNEXT: only their expunges and flag changes are reported (RFC 7162
    /// §3.2.5).
    pub(super) known: Vec<UidRange>,
    /// The highest UID the seq-match data shows the client's sequence numbers still agree
    /// up to: no message at or below it was expunged unbeknownst to the client (RFC 7162
    /// §3.2.5.2). Used only when the expunge log cannot answer.
    pub(super) agreed: Uid,
}

/// `1:5,9` for normalized ranges.
pub(super) fn uid_set(ranges: &[UidRange]) -> String {
    let mut out = String::new();
    for r in ranges {
        if !out.is_empty() {
            out.push(',');
        }
        if r.first == r.last {
            out.push_str(&r.first.0.to_string());
        } else {
            out.push_str(&format!("{}:{}", r.first.0, r.last.0));
        }
    }
    out
}

/// `* VANISHED 1:5,9` (RFC 7162 §3.2.10), or `* VANISHED (EARLIER) …`; nothing for no UIDs.
pub(super) fn write_vanished(out: &mut Vec<u8>, ranges: &[UidRange], earlier: bool) {
    if ranges.is_empty() {
        return;
    }
    out.extend_from_slice(b"* VANISHED ");
    if earlier {
        out.extend_from_slice(b"(EARLIER) ");
    }
    out.extend_from_slice(uid_set(ranges).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// UIDs as normalized ranges.
pub(super) fn ranges_of(uids: &[Uid]) -> Vec<UidRange> {
    normalize(uids.iter().map(|&u| UidRange::one(u)).collect())
}

/// Write the `* VANISHED` line for the UIDs collected in `pending` (a flush of the view's
/// expunges), and clear it.
pub(super) fn flush_vanished(out: &mut Vec<u8>, pending: &mut Vec<Uid>) {
    write_vanished(out, &ranges_of(pending), false);
    pending.clear();
}

/// The UIDs a UID set names for VANISHED, as ranges below UIDNEXT: UIDs that no longer
/// exist count (that is the point), so `*` is the last UID ever given out rather than the
/// last one in use, and `$` is what SEARCHRES saved.
pub(super) fn uid_set_ranges<T: Copy + Into<u32>>(
    set: &SequenceSet<T>,
    view: &View,
) -> Vec<UidRange> {
    let Some(top) = view.uid_next.0.checked_sub(1).filter(|&u| u > 0) else {
        return Vec::new();
    };
    let value = |b: SeqBound<T>| match b {
        SeqBound::Value(v) => v.into(),
        SeqBound::Largest => top,
    };
    let mut ranges = Vec::new();
    for item in set.items() {
        let (a, b) = match *item {
            SeqItem::One(x) => (value(x), value(x)),
            SeqItem::Range(x, y) => (value(x), value(y)),
            SeqItem::Saved => {
                ranges.extend(view.saved().iter().map(UidRange::one));
                continue;
            }
        };
        let (lo, hi) = (a.min(b), a.max(b).min(top));
        if lo <= hi {
            ranges.push(UidRange::new(Uid(lo), Uid(hi)));
        }
    }
    normalize(ranges)
}

/// How many numbers an explicit set names (seq-match data pairs them up one to one).
fn count<T: Copy + Into<u32>>(set: &SequenceSet<T>) -> u64 {
    set.items()
        .iter()
        .map(|item| match *item {
            SeqItem::One(_) => 1,
            SeqItem::Range(SeqBound::Value(a), SeqBound::Value(b)) => {
                u64::from(a.into().abs_diff(b.into())) + 1
            }
            // Refused by the parser in seq-match data.
            SeqItem::Range(..) | SeqItem::Saved => 0,
        })
        .sum()
}

/// The numbers of an explicit set, in the order sent, each range ascending.
fn numbers<T: Copy + Into<u32>>(set: &SequenceSet<T>) -> impl Iterator<Item = u32> + '_ {
    set.items().iter().flat_map(|item| {
        let (a, b) = match *item {
            SeqItem::One(SeqBound::Value(a)) => (a.into(), a.into()),
            SeqItem::Range(SeqBound::Value(a), SeqBound::Value(b)) => (a.into(), b.into()),
            _ => (1, 0),
        };
        a.min(b)..=a.max(b)
    })
}

/// RFC 7162 §3.2.5.2: walk the client's (sequence number, UID) pairs in order while the
/// view agrees; the last UID that matched. Stops at the first disagreement, so the walk is
/// bounded by the view's size whatever ranges the client sent.
fn agreed_uid(m: &SeqMatch, view: &View) -> Uid {
    let mut agreed = Uid(0);
    for (seq, uid) in numbers(&m.seqs).zip(numbers(&m.uids)) {
        if view.uid_at(seq) != Some(Uid(uid)) {
            break;
        }
        agreed = agreed.max(Uid(uid));
    }
    agreed
}

/// `ranges` without the UIDs the view holds (see the module doc). Walks the view's runs of
/// consecutive UIDs, not its messages one by one.
fn outside_view(ranges: &[UidRange], view: &View) -> Vec<UidRange> {
    let mut out = Vec::new();
    for r in ranges {
        // The first UID of `r` not yet accounted for; `None` once past `u32::MAX`.
        let mut next = Some(r.first);
        for (first, last) in view.ranges_between(r.first, r.last) {
            let Some(from) = next else { break };
            if first > from {
                out.push(UidRange::new(from, Uid(first.0 - 1)));
            }
            next = last.0.checked_add(1).map(Uid);
        }
        if let Some(from) = next.filter(|&n| n <= r.last) {
            out.push(UidRange::new(from, r.last));
        }
    }
    out
}

/// `ranges` without the UIDs at or below `floor`.
fn above(ranges: Vec<UidRange>, floor: Uid) -> Vec<UidRange> {
    ranges
        .into_iter()
        .filter(|r| r.last > floor)
        .map(|r| UidRange::new(r.first.max(Uid(floor.0 + 1)), r.last))
        .collect()
}

fn contains(ranges: &[UidRange], uid: Uid) -> bool {
    let i = ranges.partition_point(|r| r.last < uid);
    ranges.get(i).is_some_and(|r| r.contains(uid))
}

impl ImapSession {
    /// The checks SELECT/EXAMINE (QRESYNC …) needs before anything changes: BAD unless
    /// QRESYNC was enabled (RFC 7162 §3.2.5), or when seq-match data pairs up unequal
    /// numbers of sequence numbers and UIDs. True when the command may go on.
    pub(super) fn qresync_allowed(&mut self, tag: &Tag, q: &QResync) -> bool {
        let text = if !self.qresync {
            "QRESYNC is not enabled"
        } else if q
            .seq_match
            .as_ref()
            .is_some_and(|m| count(&m.seqs) != count(&m.uids))
        {
            "QRESYNC sequence and UID sets differ in size"
        } else {
            return true;
        };
        self.send(Response::tagged(tag.clone(), Status::Bad, None, text));
        false
    }

    /// The snapshot of a QRESYNC SELECT is in the view: report what the client missed, or,
    /// when UIDVALIDITY changed, nothing (its cache is void: RFC 7162 §3.2.5).
    pub(super) fn resync(&mut self, tag: Tag, access: Access, q: QResync) {
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        if q.uid_validity != view.uid_validity {
            self.select_completed(tag, access);
            return;
        }
        let known = match &q.known_uids {
            Some(set) => uid_set_ranges(set, view),
            // RFC 7162 §3.2.5: as if the client had sent 1:UIDNEXT-1.
            None => match view.uid_next.0.checked_sub(1).filter(|&u| u > 0) {
                Some(top) => vec![UidRange::new(Uid(1), Uid(top))],
                None => Vec::new(),
            },
        };
        let agreed = q.seq_match.as_ref().map_or(Uid(0), |m| agreed_uid(m, view));
        let job = ResyncJob {
            tag,
            access,
            since: q.mod_seq,
            known,
            agreed,
        };
        let request = MailboxRequest::Vanished {
            mailbox: view.name.clone(),
            since: job.since,
            uids: job.known.clone(),
        };
        self.request(Pending::Resync(job), request);
    }

    /// `* VANISHED (EARLIER)` for a QRESYNC SELECT, then ask for the flag changes.
    pub(super) fn resync_vanished(&mut self, job: ResyncJob, vanished: Vanished) {
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        let ranges = match vanished {
            Vanished::Since(r) => r,
            Vanished::Absent(r) => above(r, job.agreed),
        };
        write_vanished(&mut self.out, &outside_view(&ranges, view), true);
        let request = MailboxRequest::Changed {
            mailbox: view.name.clone(),
            since: job.since,
        };
        self.request(Pending::ResyncFlags(job), request);
    }

    /// A FETCH for each known message changed since the client's modseq, then the tagged OK.
    /// The flags come from the store's index (the view keeps none); a change reported here
    /// that the view's snapshot did not include is remembered, so the feed's echo of it is
    /// not reported again.
    pub(super) fn resync_flags(&mut self, job: ResyncJob, changed: Vec<(Uid, Flags, ModSeq)>) {
        let rev1 = self.rev1();
        let Some(view) = self.selected.as_mut() else {
            return;
        };
        for (uid, flags, modseq) in changed {
            if !contains(&job.known, uid) {
                continue;
            }
            // Not in the view: arrived after the snapshot (reported as EXISTS later).
            let Some(seq) = view.seq(uid) else {
                continue;
            };
            view.reported(uid, modseq);
            if view.learn(&flags) {
                view.write_new_keywords(&mut self.out);
            }
            let head = if self.uid_only {
                format!("* {} UIDFETCH (FLAGS ", uid.0)
            } else {
                format!("* {seq} FETCH (UID {} FLAGS ", uid.0)
            };
            self.out.extend_from_slice(head.as_bytes());
            fetch::flag_list(
                &mut self.out,
                &flags,
                RecentFlag::shown_if(rev1 && view.is_recent(uid)),
            );
            self.out
                .extend_from_slice(format!(" MODSEQ ({}))\r\n", modseq.0).as_bytes());
        }
        self.select_completed(job.tag, job.access);
    }

    /// UID FETCH … (CHANGEDSINCE m VANISHED) (RFC 7162 §3.2.6): ask which UIDs of the set
    /// vanished since `m`; the FETCH itself goes on once they are reported.
    pub(super) fn fetch_vanished(&mut self, job: FetchJob, within: Vec<UidRange>, since: u64) {
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        let request = MailboxRequest::Vanished {
            mailbox: view.name.clone(),
            since: ModSeq(since),
            uids: within,
        };
        self.request(Pending::FetchVanished(job), request);
    }

    /// `* VANISHED (EARLIER)` first, then the FETCH responses.
    pub(super) fn fetch_vanished_reply(&mut self, job: FetchJob, vanished: Vanished) {
        if let Some(view) = self.selected.as_ref() {
            write_vanished(&mut self.out, &outside_view(vanished.ranges(), view), true);
        }
        self.fetch_start(job);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(a: u32, b: u32) -> UidRange {
        UidRange::new(Uid(a), Uid(b))
    }

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[r(1, 5), r(9, 9), r(11, 12)]), "1:5,9,11:12");
        assert_eq!(
            uid_set(&ranges_of(&[Uid(4), Uid(2), Uid(3), Uid(7)])),
            "2:4,7"
        );
        let mut out = Vec::new();
        write_vanished(&mut out, &[], true);
        assert_eq!(out, b"");
        write_vanished(&mut out, &[r(3, 3)], true);
        write_vanished(&mut out, &[r(1, 2)], false);
        assert_eq!(out, b"* VANISHED (EARLIER) 3\r\n* VANISHED 1:2\r\n");
    }

    #[test]
    fn ranges_above_a_floor() {
        assert_eq!(
            above(vec![r(1, 3), r(5, 9), r(12, 12)], Uid(6)),
            [r(7, 9), r(12, 12)]
        );
        assert_eq!(above(vec![r(1, 3)], Uid(0)), [r(1, 3)]);
        assert!(contains(&[r(1, 3), r(7, 9)], Uid(8)));
        assert!(!contains(&[r(1, 3), r(7, 9)], Uid(5)));
    }
}
