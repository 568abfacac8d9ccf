//! Ranges of UIDs (RFC 9051 §9 `uid-range`) and what QRESYNC says vanished (RFC 7162
//! §3.2.5, §3.2.6): the store's expunge log answers with them and IMAP's VANISHED responses
//! are written from them. Never does IO.

use crate::mail::Uid;

/// UIDs `first..=last` (never empty: `first <= last`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UidRange {
    pub first: Uid,
    pub last: Uid,
}

impl UidRange {
    pub fn new(a: Uid, b: Uid) -> UidRange {
        UidRange {
            first: a.min(b),
            last: a.max(b),
        }
    }

    pub fn one(uid: Uid) -> UidRange {
        UidRange {
            first: uid,
            last: uid,
        }
    }

    pub fn contains(&self, uid: Uid) -> bool {
        self.first <= uid && uid <= self.last
    }

    fn intersect(&self, other: &UidRange) -> Option<UidRange> {
        let first = self.first.max(other.first);
        let last = self.last.min(other.last);
        (first <= last).then_some(UidRange { first, last })
    }
}

/// Sorted, non-overlapping, non-adjacent ranges covering the same UIDs as `ranges`.
pub fn normalize(mut ranges: Vec<UidRange>) -> Vec<UidRange> {
    ranges.sort_unstable();
    let mut out: Vec<UidRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.first.0 <= last.last.0.saturating_add(1) => {
                last.last = last.last.max(r.last);
            }
            _ => out.push(r),
        }
    }
    out
}

/// The parts of `ranges` inside `within` (both normalized); normalized.
pub fn intersect(ranges: &[UidRange], within: &[UidRange]) -> Vec<UidRange> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < ranges.len() && j < within.len() {
        if let Some(r) = ranges[i].intersect(&within[j]) {
            out.push(r);
        }
        if ranges[i].last < within[j].last {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// What the store can say about the UIDs expunged after a modseq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vanished {
    /// Exactly the UIDs (of those asked about) expunged after the modseq.
    Since(Vec<UidRange>),
    /// The expunge log does not reach back that far: the UIDs asked about that are not in
    /// the mailbox, whenever they went (RFC 7162 §3.2.5.2 lets a server report more).
    Absent(Vec<UidRange>),
}

impl Vanished {
    pub fn ranges(&self) -> &[UidRange] {
        match self {
            Vanished::Since(r) | Vanished::Absent(r) => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(a: u32, b: u32) -> UidRange {
        UidRange::new(Uid(a), Uid(b))
    }

    #[test]
    fn ranges_normalize_and_intersect() {
        assert_eq!(
            normalize(vec![r(5, 9), r(1, 2), r(3, 3), r(8, 12), r(20, 20)]),
            [r(1, 3), r(5, 12), r(20, 20)]
        );
        assert_eq!(
            intersect(&[r(1, 3), r(5, 12)], &[r(2, 6), r(10, 30)]),
            [r(2, 3), r(5, 6), r(10, 12)]
        );
        assert_eq!(intersect(&[r(1, 3)], &[]), []);
    }
}
