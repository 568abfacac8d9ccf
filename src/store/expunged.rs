//! The expunge log of a mailbox: which UIDs were expunged at which modseq, so that QRESYNC
//! (RFC 7162 §3.2.5, §3.2.6) can tell a client what vanished since the modseq it last saw.
//! Kept in the index as runs of consecutive UIDs expunged together, bounded in length: when
//! it grows too long the oldest runs are dropped and the log remembers from which modseq on
//! it is complete, so an answer is never wrong, only less precise
//! ([`crate::mail::Vanished::Absent`]). Never does IO.

use crate::mail::ranges::{intersect, normalize};
use crate::mail::{ModSeq, Uid, UidRange};

/// Runs a mailbox's expunge log keeps (16 bytes each) before it drops the oldest.
pub const EXPUNGE_LOG_RUNS: usize = 1024;

/// UIDs `first..=last`, all expunged by the change that got `modseq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct ExpungedRun {
    pub first: Uid,
    pub last: Uid,
    pub modseq: ModSeq,
}

/// A mailbox's expunge log.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct ExpungeLog {
    /// Oldest first: modseqs never decrease along the log.
    pub runs: Vec<ExpungedRun>,
    /// The log holds every expunge with a modseq above this one. 0 for a mailbox that kept
    /// its log from the start; raised when old runs are dropped; an index written before the
    /// log existed (`RPIDX001`) starts at its mailbox's HIGHESTMODSEQ.
    pub complete_after: ModSeq,
}

impl Default for ExpungeLog {
    /// The log of a new mailbox: empty, and complete (nothing was ever expunged).
    fn default() -> ExpungeLog {
        ExpungeLog {
            runs: Vec::new(),
            complete_after: ModSeq(0),
        }
    }
}

impl ExpungeLog {
    /// Record that `uids` (sorted, unique) were expunged at `modseq`, no lower than any
    /// modseq recorded before.
    pub fn record(&mut self, uids: &[Uid], modseq: ModSeq) {
        for &uid in uids {
            match self.runs.last_mut() {
                Some(run) if run.modseq == modseq && run.last.0.checked_add(1) == Some(uid.0) => {
                    run.last = uid;
                }
                _ => self.runs.push(ExpungedRun {
                    first: uid,
                    last: uid,
                    modseq,
                }),
            }
        }
        self.trim(EXPUNGE_LOG_RUNS);
    }

    /// Drop the oldest runs beyond `max`, remembering where the log is complete from.
    pub fn trim(&mut self, max: usize) {
        if self.runs.len() <= max {
            return;
        }
        let excess = self.runs.len() - max;
        // Runs are oldest first: the last one dropped has the highest modseq of them.
        self.complete_after = self.complete_after.max(self.runs[excess - 1].modseq);
        self.runs.drain(..excess);
    }

    /// Whether the log holds every expunge after `since`.
    pub fn covers(&self, since: ModSeq) -> bool {
        since >= self.complete_after
    }

    /// The logged UIDs of `within` (normalized) expunged after `since`, normalized.
    pub fn since(&self, since: ModSeq, within: &[UidRange]) -> Vec<UidRange> {
        // Modseqs ascend along the log: the runs after `since` are a suffix.
        let start = self.runs.partition_point(|r| r.modseq <= since);
        let runs = normalize(
            self.runs[start..]
                .iter()
                .map(|r| UidRange::new(r.first, r.last))
                .collect(),
        );
        intersect(&runs, within)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(a: u32, b: u32) -> UidRange {
        UidRange::new(Uid(a), Uid(b))
    }

    fn uids(v: &[u32]) -> Vec<Uid> {
        v.iter().map(|&u| Uid(u)).collect()
    }

    #[test]
    fn runs_merge_when_adjacent_and_expunged_together() {
        let mut log = ExpungeLog::default();
        log.record(&uids(&[1, 2, 3, 5]), ModSeq(10));
        log.record(&uids(&[6]), ModSeq(11));
        log.record(&uids(&[7, 8]), ModSeq(11));
        let runs: Vec<(u32, u32, u64)> = log
            .runs
            .iter()
            .map(|r| (r.first.0, r.last.0, r.modseq.0))
            .collect();
        assert_eq!(runs, [(1, 3, 10), (5, 5, 10), (6, 8, 11)]);
    }

    #[test]
    fn since_reports_only_later_expunges_within_the_set() {
        let mut log = ExpungeLog::default();
        log.record(&uids(&[1, 2, 3]), ModSeq(10));
        log.record(&uids(&[7, 9]), ModSeq(12));
        log.record(&uids(&[4]), ModSeq(15));
        let all = [r(1, u32::MAX)];
        assert!(log.covers(ModSeq(0)));
        assert_eq!(log.since(ModSeq(9), &all), [r(1, 4), r(7, 7), r(9, 9)]);
        assert_eq!(log.since(ModSeq(10), &all), [r(4, 4), r(7, 7), r(9, 9)]);
        assert_eq!(log.since(ModSeq(12), &all), [r(4, 4)]);
        assert_eq!(log.since(ModSeq(15), &all), []);
        assert_eq!(log.since(ModSeq(9), &[r(2, 8)]), [r(2, 4), r(7, 7)]);
    }

    #[test]
    fn a_trimmed_log_says_where_it_is_complete_from() {
        let mut log = ExpungeLog::default();
        for i in 1..=10u32 {
            log.record(&[Uid(2 * i)], ModSeq(u64::from(i) * 10));
        }
        log.trim(4);
        assert_eq!(log.runs.len(), 4);
        assert_eq!(log.complete_after, ModSeq(60));
        assert!(!log.covers(ModSeq(59)));
        assert!(log.covers(ModSeq(60)));
        assert_eq!(
            log.since(ModSeq(60), &[r(1, 100)]),
            [r(14, 14), r(16, 16), r(18, 18), r(20, 20)]
        );
    }

    #[test]
    fn the_log_stays_bounded() {
        let mut log = ExpungeLog::default();
        let many: Vec<Uid> = (1..=3 * EXPUNGE_LOG_RUNS as u32)
            .map(|u| Uid(2 * u))
            .collect();
        log.record(&many, ModSeq(5));
        assert_eq!(log.runs.len(), EXPUNGE_LOG_RUNS);
        assert_eq!(log.complete_after, ModSeq(5));
        assert!(!log.covers(ModSeq(4)));
    }
}
