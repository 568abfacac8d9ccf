//! CALDAV:expand (RFC 4791 §9.6.5): a recurring object rewritten as its instances within a
//! time range, each a component of its own with a RECURRENCE-ID, all times in UTC.

use std::fmt::Write as _;

use calcard::common::timezone::Tz;
use calcard::icalendar::timezone::TzResolver;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarEntry, ICalendarProperty, ICalendarValue,
};

use super::calendar::{parse_one, CalendarObject};
use super::time_range::{instance_matches, instances};

/// Properties the expanded instances get anew or lose (RFC 4791 §9.6.5: "MUST NOT contain
/// RRULE, RDATE, EXDATE"; dates are rewritten in UTC).
const REWRITTEN: &[ICalendarProperty] = &[
    ICalendarProperty::Dtstart,
    ICalendarProperty::Dtend,
    ICalendarProperty::Due,
    ICalendarProperty::RecurrenceId,
    ICalendarProperty::Rrule,
    ICalendarProperty::Rdate,
    ICalendarProperty::Exdate,
];

/// The calendar data of `object` (whose original body is `bytes`) expanded to the instances
/// overlapping `[start, end)` per RFC 4791 §9.9, sorted by start: one component each, with
/// its properties (and VALARMs) as in the master or override it comes from, DTSTART/DTEND
/// (DUE for a VTODO) and RECURRENCE-ID in UTC (DATE values stay DATEs), no RRULE, RDATE,
/// EXDATE or VTIMEZONE. A DURATION is kept as written. A non-recurring object comes out as
/// its one component with UTC times and no RECURRENCE-ID.
///
/// Bounded by [`super::MAX_INSTANCES`]: instances past the cap are not written. `bytes` must
/// be the body `object` was validated from; anything else gives an empty VCALENDAR.
pub fn expand(object: &CalendarObject, bytes: &[u8], start: i64, end: i64) -> String {
    let mut out = String::from("BEGIN:VCALENDAR\r\n");
    let full = std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| parse_one(text).ok())
        .filter(|full| full.components.len() == object.times.components.len());
    let Some(full) = full else {
        out.push_str("VERSION:2.0\r\nEND:VCALENDAR\r\n");
        return out;
    };
    if let Some(root) = full.components.first() {
        for entry in &root.entries {
            write_entry(&mut out, entry);
        }
    }
    let recurring = full.components.iter().any(|part| {
        part.is_recurrent_or_override() && object.component.name() == part.component_type.as_str()
    });
    let resolver = full.build_tz_resolver().with_default(Tz::UTC);
    let mut hits: Vec<_> = instances(&object.times)
        .list
        .into_iter()
        .filter(|instance| instance_matches(object, instance, start, end))
        .collect();
    hits.sort_by_key(|instance| (instance.start, instance.component));
    for instance in hits {
        let Some(part) = full.component_by_id(instance.component) else {
            continue;
        };
        let name = part.component_type.as_str();
        let _ = write!(out, "BEGIN:{name}\r\n");
        for entry in &part.entries {
            if !REWRITTEN.contains(&entry.name) {
                write_entry(&mut out, entry);
            }
        }
        let all_day = is_date(part, &ICalendarProperty::Dtstart);
        let _ = write!(out, "DTSTART{}\r\n", stamp(instance.start, all_day));
        let end_name = if part.has_property(&ICalendarProperty::Due) {
            Some("DUE")
        } else if part.has_property(&ICalendarProperty::Dtend) {
            Some("DTEND")
        } else {
            None
        };
        if let Some(end_name) = end_name {
            let _ = write!(out, "{end_name}{}\r\n", stamp(instance.end, all_day));
        }
        if recurring {
            let rid = recurrence_id(part, instance.start, &resolver);
            let _ = write!(out, "RECURRENCE-ID{}\r\n", stamp(rid, all_day));
        }
        for &child in &part.component_ids {
            if let Some(child) = full.component_by_id(child) {
                write_component(&mut out, &full, child, 0);
            }
        }
        let _ = write!(out, "END:{name}\r\n");
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}

/// The RECURRENCE-ID of an instance starting at `start` that `part` produced: its start for
/// the master; an override's own RECURRENCE-ID for the instance it replaced, shifted by the
/// override's move for the later instances a `RANGE=THISANDFUTURE` override carries.
fn recurrence_id(part: &ICalendarComponent, start: i64, resolver: &TzResolver<&str>) -> i64 {
    let Some(rid) = instant(part, &ICalendarProperty::RecurrenceId, resolver) else {
        return start;
    };
    match instant(part, &ICalendarProperty::Dtstart, resolver) {
        Some(own_start) => start - (own_start - rid),
        None => rid,
    }
}

fn instant(
    part: &ICalendarComponent,
    name: &ICalendarProperty,
    resolver: &TzResolver<&str>,
) -> Option<i64> {
    let entry = part.property(name)?;
    let Some(ICalendarValue::PartialDateTime(value)) = entry.values.first() else {
        return None;
    };
    value
        .to_date_time()?
        .to_date_time_with_tz(resolver.resolve_or_default(entry.tz_id()))
        .map(|at| at.timestamp())
}

fn is_date(part: &ICalendarComponent, name: &ICalendarProperty) -> bool {
    matches!(
        part.property(name).and_then(|entry| entry.values.first()),
        Some(ICalendarValue::PartialDateTime(value)) if !value.has_time()
    )
}

/// `:20060103T170000Z`, or `;VALUE=DATE:20060103` for an all-day value.
pub(crate) fn stamp(secs: i64, date: bool) -> String {
    let Some(at) = chrono::DateTime::from_timestamp(secs, 0) else {
        return ":19700101T000000Z".to_string();
    };
    if date {
        format!(";VALUE=DATE:{}", at.format("%Y%m%d"))
    } else {
        format!(":{}", at.format("%Y%m%dT%H%M%SZ"))
    }
}

fn write_entry(out: &mut String, entry: &ICalendarEntry) {
    // Writing into a String cannot fail.
    let _ = entry.write_to(out);
}

/// Sub-components (VALARM) as they were; depth-bounded against a malicious nesting.
fn write_component(out: &mut String, full: &ICalendar, part: &ICalendarComponent, depth: usize) {
    if depth > 8 {
        return;
    }
    let name = part.component_type.as_str();
    let _ = write!(out, "BEGIN:{name}\r\n");
    for entry in &part.entries {
        write_entry(out, entry);
    }
    for &child in &part.component_ids {
        if let Some(child) = full.component_by_id(child) {
            write_component(out, full, child, depth + 1);
        }
    }
    let _ = write!(out, "END:{name}\r\n");
}
