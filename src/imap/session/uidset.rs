//! A sorted set of UIDs kept as runs of consecutive UIDs, each with the number of UIDs before
//! it: the selected mailbox's sequence-number map (RFC 9051 §2.3.1.2: the n-th UID of the
//! set is message n), and the small per-session sets (`\Recent`, the saved search `$`).
//!
//! A 100,000-message mailbox with few gaps is a handful of runs (12 bytes each) rather than
//! a vector of 100,000 UIDs. Lookups either way are binary searches over the runs; adding a
//! UID above the largest is O(1); removing one splits its run and renumbers the runs after
//! it (O(runs), as renumbering the messages after an EXPUNGE is by nature). Ranges by
//! sequence number or by UID are read run by run.

use crate::mail::Uid;
use crate::mailbox::UidRun;

/// Consecutive UIDs `first ..= first + count - 1`, preceded by `before` UIDs of the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    first: u32,
    count: u32,
    before: u32,
}

impl Run {
    /// One past the last UID of the run (u64: a run may end at `u32::MAX`).
    fn end(&self) -> u64 {
        u64::from(self.first) + u64::from(self.count)
    }
}

/// A sorted set of UIDs, with ranks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UidSet {
    runs: Vec<Run>,
}

impl UidSet {
    /// The set of `runs` (ascending; adjacent runs are merged).
    pub fn from_runs(runs: &[UidRun]) -> UidSet {
        // Exactly sized: a selected mailbox's map is held for the session's life.
        let mut set = UidSet {
            runs: Vec::with_capacity(runs.len()),
        };
        for r in runs.iter().filter(|r| r.count > 0) {
            set.push_run(r.first.0, r.count);
        }
        set
    }

    /// The set of `uids`, which must be ascending (others are skipped).
    pub fn from_sorted(uids: impl IntoIterator<Item = Uid>) -> UidSet {
        let mut set = UidSet::default();
        for uid in uids {
            set.push(uid);
        }
        set
    }

    fn push_run(&mut self, first: u32, count: u32) {
        let before = self.len();
        match self.runs.last_mut() {
            Some(last) if last.end() == u64::from(first) => last.count += count,
            Some(last) if last.end() > u64::from(first) => {}
            _ => self.runs.push(Run {
                first,
                count,
                before,
            }),
        }
    }

    /// Add `uid` if it is above every UID of the set; false (and nothing added) otherwise.
    pub fn push(&mut self, uid: Uid) -> bool {
        if self.last().is_some_and(|last| last >= uid) {
            return false;
        }
        self.push_run(uid.0, 1);
        true
    }

    pub fn len(&self) -> u32 {
        self.runs.last().map_or(0, |r| r.before + r.count)
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The largest UID.
    pub fn last(&self) -> Option<Uid> {
        self.runs.last().map(|r| Uid(r.first + (r.count - 1)))
    }

    /// The index of the run holding `uid`.
    fn run_of(&self, uid: Uid) -> Option<usize> {
        let i = self
            .runs
            .partition_point(|r| r.first <= uid.0)
            .checked_sub(1)?;
        (u64::from(uid.0) < self.runs[i].end()).then_some(i)
    }

    pub fn contains(&self, uid: Uid) -> bool {
        self.run_of(uid).is_some()
    }

    /// The 1-based rank of `uid` (its message sequence number in a mailbox's map).
    pub fn rank(&self, uid: Uid) -> Option<u32> {
        let r = &self.runs[self.run_of(uid)?];
        Some(r.before + (uid.0 - r.first) + 1)
    }

    /// Remove `uid`; its rank before the removal.
    pub fn remove(&mut self, uid: Uid) -> Option<u32> {
        let i = self.run_of(uid)?;
        let r = self.runs[i];
        let rank = r.before + (uid.0 - r.first) + 1;
        let head = uid.0 - r.first;
        let tail = r.count - head - 1;
        match (head, tail) {
            (0, 0) => {
                self.runs.remove(i);
            }
            (0, _) => {
                self.runs[i].first += 1;
                self.runs[i].count -= 1;
            }
            (_, 0) => self.runs[i].count -= 1,
            _ => {
                self.runs[i].count = head;
                let split = Run {
                    first: uid.0 + 1,
                    count: tail,
                    before: r.before + head,
                };
                self.runs.insert(i + 1, split);
            }
        }
        let from = match (head, tail) {
            (0, 0) => i,
            (_, 0) | (0, _) => i + 1,
            _ => i + 2,
        };
        for run in &mut self.runs[from..] {
            run.before -= 1;
        }
        Some(rank)
    }

    /// Every UID, ascending.
    pub fn iter(&self) -> impl Iterator<Item = Uid> + '_ {
        self.runs
            .iter()
            .flat_map(|r| (0..r.count).map(move |k| Uid(r.first + k)))
    }

    /// The UID of rank `rank` (1-based): in a mailbox's map, message `rank`'s UID.
    pub fn at(&self, rank: u32) -> Option<Uid> {
        if rank == 0 || rank > self.len() {
            return None;
        }
        let r = self.runs[self.runs.partition_point(|r| r.before + r.count < rank)];
        Some(Uid(r.first + (rank - r.before - 1)))
    }

    /// The set's UIDs within `lo ..= hi` as ranges `(first, last)` of consecutive UIDs,
    /// ascending: one per run, however many UIDs it holds.
    pub fn ranges_within(&self, lo: Uid, hi: Uid) -> impl Iterator<Item = (Uid, Uid)> + '_ {
        let start = self.runs.partition_point(|r| r.end() <= u64::from(lo.0));
        self.runs[start..]
            .iter()
            .take_while(move |r| lo <= hi && r.first <= hi.0)
            .map(move |r| {
                let last = (r.end() - 1).min(u64::from(hi.0));
                // `last` is at most `hi`, a u32.
                (Uid(lo.0.max(r.first)), Uid(last as u32))
            })
    }

    /// Append the UIDs of ranks `lo ..= hi` (1-based, clamped to the set) to `out`, ascending.
    pub fn extend_ranks(&self, lo: u32, hi: u32, out: &mut Vec<Uid>) {
        let lo = lo.max(1);
        let hi = hi.min(self.len());
        if lo > hi {
            return;
        }
        let start = self.runs.partition_point(|r| r.before + r.count < lo);
        for r in &self.runs[start..] {
            if r.before >= hi {
                break;
            }
            let a = lo.max(r.before + 1) - r.before - 1;
            let b = hi.min(r.before + r.count) - r.before;
            out.extend((a..b).map(|k| Uid(r.first + k)));
        }
    }

    /// Append the UIDs of the set within `lo ..= hi` to `out`, ascending.
    pub fn extend_range(&self, lo: Uid, hi: Uid, out: &mut Vec<Uid>) {
        if lo > hi {
            return;
        }
        let start = self.runs.partition_point(|r| r.end() <= u64::from(lo.0));
        for r in &self.runs[start..] {
            if r.first > hi.0 {
                break;
            }
            let a = lo.0.max(r.first);
            let b = u64::from(hi.0).min(r.end() - 1);
            out.extend((u64::from(a)..=b).map(|u| Uid(u as u32)));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn set(uids: &[u32]) -> UidSet {
        UidSet::from_sorted(uids.iter().map(|&u| Uid(u)))
    }

    fn all(s: &UidSet) -> Vec<u32> {
        s.iter().map(|u| u.0).collect()
    }

    /// The UID of rank `n`, through the range lookup.
    fn nth(s: &UidSet, n: u32) -> Option<Uid> {
        let mut out = Vec::new();
        s.extend_ranks(n, n, &mut out);
        out.first().copied()
    }

    #[test]
    fn runs_rank_and_look_up_both_ways() {
        let s = UidSet::from_runs(&[
            UidRun {
                first: Uid(3),
                count: 3,
            },
            UidRun {
                first: Uid(6),
                count: 2,
            },
            UidRun {
                first: Uid(10),
                count: 1,
            },
        ]);
        assert_eq!(s.runs.len(), 2, "adjacent runs merge");
        assert_eq!(all(&s), vec![3, 4, 5, 6, 7, 10]);
        assert_eq!(s.len(), 6);
        assert_eq!(s.last(), Some(Uid(10)));
        let ranks: Vec<Option<u32>> = (1..=11).map(|u| s.rank(Uid(u))).collect();
        assert_eq!(
            ranks,
            vec![
                None,
                None,
                Some(1),
                Some(2),
                Some(3),
                Some(4),
                Some(5),
                None,
                None,
                Some(6),
                None
            ]
        );
        let nth: Vec<Option<u32>> = (0..=7).map(|n| nth(&s, n).map(|u| u.0)).collect();
        assert_eq!(
            nth,
            vec![
                None,
                Some(3),
                Some(4),
                Some(5),
                Some(6),
                Some(7),
                Some(10),
                None
            ]
        );
    }

    #[test]
    fn removal_splits_a_run_and_renumbers_what_follows() {
        let mut s = set(&[1, 2, 3, 4, 5, 9, 10]);
        assert_eq!(s.remove(Uid(3)), Some(3));
        assert_eq!(all(&s), vec![1, 2, 4, 5, 9, 10]);
        assert_eq!(s.runs.len(), 3);
        assert_eq!(s.rank(Uid(9)), Some(5));
        assert_eq!(s.remove(Uid(1)), Some(1));
        assert_eq!(s.remove(Uid(5)), Some(3));
        assert_eq!(s.remove(Uid(5)), None);
        assert_eq!(s.remove(Uid(4)), Some(2));
        assert_eq!(all(&s), vec![2, 9, 10]);
        assert_eq!(nth(&s, 2), Some(Uid(9)));
        assert_eq!(s.remove(Uid(2)), Some(1));
        assert_eq!(s.remove(Uid(10)), Some(2));
        assert_eq!(s.remove(Uid(9)), Some(1));
        assert!(s.is_empty());
        assert!(s.push(Uid(4)));
        assert!(!s.push(Uid(4)));
        assert_eq!(s.rank(Uid(4)), Some(1));
    }

    #[test]
    fn ranges_by_rank_and_by_uid() {
        let s = set(&[2, 3, 4, 8, 9, 20]);
        let mut out = Vec::new();
        s.extend_ranks(2, 5, &mut out);
        assert_eq!(out, vec![Uid(3), Uid(4), Uid(8), Uid(9)]);
        out.clear();
        s.extend_ranks(6, 99, &mut out);
        assert_eq!(out, vec![Uid(20)]);
        out.clear();
        s.extend_range(Uid(4), Uid(19), &mut out);
        assert_eq!(out, vec![Uid(4), Uid(8), Uid(9)]);
        out.clear();
        s.extend_range(Uid(21), Uid(u32::MAX), &mut out);
        assert!(out.is_empty());
        let top = set(&[u32::MAX - 1, u32::MAX]);
        top.extend_range(Uid(1), Uid(u32::MAX), &mut out);
        assert_eq!(out, vec![Uid(u32::MAX - 1), Uid(u32::MAX)]);
        assert_eq!(top.rank(Uid(u32::MAX)), Some(2));
    }

    #[test]
    fn a_large_mailbox_with_few_gaps_is_a_few_runs() {
        let mut s = UidSet::from_runs(&[UidRun {
            first: Uid(1),
            count: 100_000,
        }]);
        for uid in [10, 50_000, 99_999] {
            s.remove(Uid(uid));
        }
        assert_eq!(s.runs.len(), 4);
        assert_eq!(s.len(), 99_997);
        assert_eq!(nth(&s, 99_997), Some(Uid(100_000)));
        assert_eq!(s.rank(Uid(50_001)), Some(49_999));
    }

    #[test]
    fn rank_to_uid_and_runs_within_a_range() {
        let s = set(&[2, 3, 4, 9, 10, 20, u32::MAX]);
        let got: Vec<Option<u32>> = (0..=8).map(|n| s.at(n).map(|u| u.0)).collect();
        assert_eq!(
            got,
            [
                None,
                Some(2),
                Some(3),
                Some(4),
                Some(9),
                Some(10),
                Some(20),
                Some(u32::MAX),
                None
            ]
        );
        for n in 1..=s.len() {
            assert_eq!(s.at(n), nth(&s, n));
        }
        let within = |lo: u32, hi: u32| -> Vec<(u32, u32)> {
            s.ranges_within(Uid(lo), Uid(hi))
                .map(|(a, b)| (a.0, b.0))
                .collect()
        };
        assert_eq!(within(1, 100), [(2, 4), (9, 10), (20, 20)]);
        assert_eq!(within(3, 9), [(3, 4), (9, 9)]);
        assert_eq!(within(5, 8), []);
        assert_eq!(within(9, 3), []);
        assert_eq!(within(21, u32::MAX), [(u32::MAX, u32::MAX)]);
        assert!(UidSet::default()
            .ranges_within(Uid(1), Uid(9))
            .next()
            .is_none());
    }
}
