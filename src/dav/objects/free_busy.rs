//! CALDAV:free-busy-query (RFC 4791 §7.10): the busy time of a calendar in a range, and the
//! VFREEBUSY that reports it (RFC 5545 §3.6.4).

use std::fmt::Write as _;

use super::calendar::{CalendarObject, Overlap};
use super::expand::stamp;
use super::time_range::{instance_matches, instances};

/// The FBTYPE of a busy period (RFC 5545 §3.2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BusyKind {
    /// `BUSY`: an opaque event, CONFIRMED or without STATUS.
    Busy,
    /// `BUSY-TENTATIVE`: an opaque event with STATUS:TENTATIVE.
    Tentative,
}

impl BusyKind {
    /// The FBTYPE value.
    pub fn fbtype(self) -> &'static str {
        match self {
            BusyKind::Busy => "BUSY",
            BusyKind::Tentative => "BUSY-TENTATIVE",
        }
    }
}

/// The busy periods of `objects` within `[start, end)`, clipped to it, sorted, and merged
/// where periods of one kind overlap or touch.
///
/// Per RFC 4791 §7.10 only VEVENT instances count, and not those with TRANSP:TRANSPARENT or
/// STATUS:CANCELLED (each override judged on its own properties); STATUS:TENTATIVE gives
/// BUSY-TENTATIVE. Instances of zero duration take no time. VFREEBUSY and VAVAILABILITY
/// components are not read. Each object's walk is bounded by [`super::MAX_INSTANCES`].
pub fn free_busy(objects: &[CalendarObject], start: i64, end: i64) -> Vec<(i64, i64, BusyKind)> {
    let mut periods = Vec::new();
    for object in objects {
        if object.component != super::ComponentKind::Event {
            continue;
        }
        for instance in instances(&object.times).list {
            let index = instance.component as usize;
            let (Some(busy), Some(overlap)) = (object.busy.get(index), object.overlap.get(index))
            else {
                continue;
            };
            if busy.transparent
                || busy.cancelled
                || *overlap == Overlap::Point
                || instance.end <= instance.start
                || !instance_matches(object, &instance, start, end)
            {
                continue;
            }
            let kind = if busy.tentative {
                BusyKind::Tentative
            } else {
                BusyKind::Busy
            };
            periods.push((instance.start.max(start), instance.end.min(end), kind));
        }
    }
    periods.sort_by_key(|&(from, to, kind)| (kind, from, to));
    let mut merged: Vec<(i64, i64, BusyKind)> = Vec::with_capacity(periods.len());
    for period in periods {
        match merged.last_mut() {
            Some(last) if last.2 == period.2 && period.0 <= last.1 => last.1 = last.1.max(period.1),
            _ => merged.push(period),
        }
    }
    merged.sort_by_key(|&(from, to, kind)| (from, to, kind));
    merged
}

/// The `VCALENDAR` with one `VFREEBUSY` a free-busy-query answers (RFC 4791 §7.10): DTSTAMP
/// `now` (the caller's clock), DTSTART and DTEND the queried range, one FREEBUSY line per
/// period, all in UTC.
pub fn vfreebusy_text(periods: &[(i64, i64, BusyKind)], start: i64, end: i64, now: i64) -> String {
    let mut out = String::from(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//ringpost//CalDAV//EN\r\nBEGIN:VFREEBUSY\r\n",
    );
    let _ = write!(
        out,
        "DTSTAMP{}\r\nDTSTART{}\r\nDTEND{}\r\n",
        stamp(now, false),
        stamp(start, false),
        stamp(end, false)
    );
    for &(from, to, kind) in periods {
        let from = stamp(from, false);
        let to = stamp(to, false);
        let _ = write!(
            out,
            "FREEBUSY;FBTYPE={}{}/{}\r\n",
            kind.fbtype(),
            from,
            to.trim_start_matches(':')
        );
    }
    out.push_str("END:VFREEBUSY\r\nEND:VCALENDAR\r\n");
    out
}
