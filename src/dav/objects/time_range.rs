//! The CALDAV:time-range test (RFC 4791 §9.9) over every instance of a calendar object.

use calcard::common::timezone::Tz;
use calcard::icalendar::ICalendar;

use super::calendar::{CalendarObject, Overlap};

/// How many instances one walk over a recurrence set examines at most (RRULE instances,
/// EXDATE'd and overridden ones included). A daily event is covered for 27 years, a weekly
/// one for 190; a `FREQ=SECONDLY` rule without COUNT or UNTIL stops here after 10,000 seconds.
/// calcard also gives up on a rule whose BYxxx parts match nothing after 100,000 empty steps.
pub const MAX_INSTANCES: usize = 10_000;

/// One instance: Unix seconds, and the index of the component it comes from (the master or
/// the override that replaced it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Instance {
    pub start: i64,
    pub end: i64,
    pub component: u32,
}

/// The instances of a tree, in no particular order, and whether the walk stopped at
/// [`MAX_INSTANCES`] (then instances after the latest one listed are unknown).
pub(crate) struct Instances {
    pub list: Vec<Instance>,
    pub truncated: bool,
}

/// Every instance of `tree`, floating times (and DATE values) taken as UTC.
pub(crate) fn instances(tree: &ICalendar) -> Instances {
    let expanded = tree.expand_dates(Tz::UTC, MAX_INSTANCES);
    let list: Vec<Instance> = expanded
        .events
        .iter()
        .map(|event| {
            let (start, end) = event.timestamps();
            Instance {
                start,
                end,
                component: event.comp_id,
            }
        })
        .collect();
    // calcard counts RRULE instances against the limit without telling whether it ran out;
    // as many instances as the limit means it (almost surely) did.
    let truncated = list.len() >= MAX_INSTANCES;
    Instances { list, truncated }
}

/// Instances kept with an object at most (more are walked again for each test).
const KEPT_INSTANCES: usize = 32;

/// What the first walk over an object's instances leaves for the next tests.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Walked {
    /// The earliest instance start and the latest instance end (or start): no time range
    /// entirely outside them can meet any instance, whatever §9.9's row.
    lo: i64,
    hi: i64,
    truncated: bool,
    /// The instances themselves when there are at most [`KEPT_INSTANCES`].
    kept: Option<Vec<Instance>>,
}

fn walk(object: &CalendarObject) -> Walked {
    let found = instances(&object.times);
    let lo = found
        .list
        .iter()
        .map(|i| i.start.min(i.end))
        .min()
        .unwrap_or(i64::MAX);
    // A VTODO with only CREATED meets every range that ends after it: no upper bound.
    let open_ended = object.overlap.contains(&Overlap::TodoCreated);
    let hi = match open_ended {
        true => i64::MAX,
        false => found
            .list
            .iter()
            .map(|i| i.start.max(i.end))
            .max()
            .unwrap_or(i64::MIN),
    };
    Walked {
        lo,
        hi,
        truncated: found.truncated,
        kept: (found.list.len() <= KEPT_INSTANCES).then_some(found.list),
    }
}

/// Whether any instance of `object` overlaps `[start, end)` (Unix seconds, UTC), per the
/// tables of RFC 4791 §9.9, recurrences expanded (RRULE, RDATE, EXDATE, RECURRENCE-ID
/// overrides replacing their instance, `RANGE=THISANDFUTURE`), TZIDs resolved against the
/// object's VTIMEZONEs or the IANA database, floating times and DATE values taken as UTC.
///
/// **At the cap**: if the walk stopped at [`MAX_INSTANCES`] before the rule ended, instances
/// later than the latest one examined are unknown, and a range ending after that instance's
/// start *matches*. A false positive costs a client one extra object it filters itself; a
/// false negative would hide an event.
pub fn matches_time_range(object: &CalendarObject, start: i64, end: i64) -> bool {
    if object.overlap.contains(&Overlap::Always) {
        return true;
    }
    let walked = object.walked.get_or_init(|| walk(object));
    // Nothing starts before the range ends, or (when every instance is known) everything
    // ended before it starts: no row of §9.9 can hold.
    if end < walked.lo || (!walked.truncated && start > walked.hi) {
        return false;
    }
    let fresh;
    let (list, truncated): (&[Instance], bool) = match &walked.kept {
        Some(list) => (list, walked.truncated),
        None => {
            fresh = instances(&object.times);
            (&fresh.list, fresh.truncated)
        }
    };
    if list
        .iter()
        .any(|instance| instance_matches(object, instance, start, end))
    {
        return true;
    }
    truncated
        && list
            .iter()
            .map(|instance| instance.start)
            .max()
            .is_some_and(|latest| end > latest)
}

/// RFC 4791 §9.9 for one instance, by the row its component falls in.
pub(crate) fn instance_matches(
    object: &CalendarObject,
    instance: &Instance,
    start: i64,
    end: i64,
) -> bool {
    let overlap = object
        .overlap
        .get(instance.component as usize)
        .copied()
        .unwrap_or(Overlap::Never);
    overlaps(overlap, instance.start, instance.end, start, end)
}

/// The §9.9 condition; `s` and `e` are the instance's start and end as calcard computed them
/// (for the rows that ignore the end, calcard's default end is not read).
pub(crate) fn overlaps(overlap: Overlap, s: i64, e: i64, start: i64, end: i64) -> bool {
    match overlap {
        Overlap::Span => start < e && end > s,
        Overlap::Point => start <= s && end > s,
        Overlap::TodoStartDuration => start <= e && (end > s || end >= e),
        Overlap::TodoStartDue => (start < e || start <= s) && (end > s || end >= e),
        Overlap::TodoDue => start < s && end >= s,
        Overlap::TodoCreatedCompleted => (start <= s || start <= e) && (end >= s || end >= e),
        Overlap::TodoCompleted => start <= s && end >= s,
        Overlap::TodoCreated => end > s,
        Overlap::Always => true,
        Overlap::FreeBusy => start <= e && end > s,
        Overlap::Never => false,
    }
}
