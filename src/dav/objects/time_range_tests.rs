//! Time ranges, expansion and free-busy over RFC 4791 Appendix B's calendar (reconstructed:
//! abcd1–abcd3 with their US/Eastern VTIMEZONE, and VTODOs in the style of abcd4–abcd6) and
//! small recurring cases.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn ts(text: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc()
        .timestamp()
}

fn object(body: &str) -> CalendarObject {
    let limits = CalendarLimits {
        max_size: 1 << 20,
        components: ComponentSet::ALL,
    };
    validate_calendar_object(body.as_bytes(), &limits).unwrap()
}

fn calendar(inner: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example Corp.//CalDAV Client//EN\r\n{EASTERN}{inner}END:VCALENDAR\r\n")
}

const EASTERN: &str = "BEGIN:VTIMEZONE\r\nLAST-MODIFIED:20040110T032845Z\r\nTZID:US/Eastern\r\n\
BEGIN:DAYLIGHT\r\nDTSTART:20000404T020000\r\nRRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=4\r\n\
TZNAME:EDT\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\n\
BEGIN:STANDARD\r\nDTSTART:20001026T020000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n\
TZNAME:EST\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

fn abcd1() -> String {
    calendar(
        "BEGIN:VEVENT\r\nDTSTAMP:20060206T001102Z\r\nDTSTART;TZID=US/Eastern:20060102T100000\r\n\
DURATION:PT1H\r\nSUMMARY:Event #1\r\nDescription:Go Steelers!\r\n\
UID:74855313FA803DA593CD579A@example.com\r\nEND:VEVENT\r\n",
    )
}

fn abcd2() -> String {
    calendar(
        "BEGIN:VEVENT\r\nDTSTAMP:20060206T001121Z\r\nDTSTART;TZID=US/Eastern:20060102T120000\r\n\
DURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=5\r\nSUMMARY:Event #2\r\n\
UID:00959BC664CA650E933C892C@example.com\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nDTSTAMP:20060206T001121Z\r\nDTSTART;TZID=US/Eastern:20060104T140000\r\n\
DURATION:PT1H\r\nRECURRENCE-ID;TZID=US/Eastern:20060104T120000\r\nSUMMARY:Event #2 bis\r\n\
UID:00959BC664CA650E933C892C@example.com\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nDTSTAMP:20060206T001121Z\r\nDTSTART;TZID=US/Eastern:20060106T140000\r\n\
DURATION:PT1H\r\nRECURRENCE-ID;TZID=US/Eastern:20060106T120000\r\nSUMMARY:Event #2 bis bis\r\n\
UID:00959BC664CA650E933C892C@example.com\r\nEND:VEVENT\r\n",
    )
}

fn abcd3() -> String {
    calendar(
        "BEGIN:VEVENT\r\nATTENDEE;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:cyrus@example.com\r\n\
DTSTAMP:20060206T001220Z\r\nDTSTART;TZID=US/Eastern:20060104T100000\r\nDURATION:PT1H\r\n\
LAST-MODIFIED:20060206T001330Z\r\nORGANIZER:mailto:cyrus@example.com\r\nSEQUENCE:1\r\n\
STATUS:TENTATIVE\r\nSUMMARY:Event #3\r\nUID:DC6C50A017428C5216A2F1CD@example.com\r\n\
END:VEVENT\r\n",
    )
}

fn todo(props: &str) -> CalendarObject {
    object(&calendar(&format!(
        "BEGIN:VTODO\r\nDTSTAMP:20060205T235335Z\r\n{props}UID:DDDEEB7915FA61233B861457@example.com\r\nEND:VTODO\r\n"
    )))
}

/// RFC 4791 §7.8.1: events overlapping 20060104T000000Z–20060105T000000Z are abcd2 and abcd3.
#[test]
fn section_7_8_1_events_in_a_day() {
    let (start, end) = (ts("20060104T000000Z"), ts("20060105T000000Z"));
    let hits: Vec<bool> = [abcd1(), abcd2(), abcd3()]
        .iter()
        .map(|body| matches_time_range(&object(body), start, end))
        .collect();
    assert_eq!(hits, [false, true, true]);
}

/// The override of 2006-01-04 moved Event #2 from 17:00Z to 19:00Z: a window on the
/// original hour misses it, one on the new hour hits it.
#[test]
fn override_moves_an_instance_out_of_and_into_the_window() {
    let two = object(&abcd2());
    assert!(!matches_time_range(
        &two,
        ts("20060104T170000Z"),
        ts("20060104T180000Z")
    ));
    assert!(matches_time_range(
        &two,
        ts("20060104T190000Z"),
        ts("20060104T193000Z")
    ));
    // An untouched instance (2006-01-05, 12:00 EST) is where the rule puts it.
    assert!(matches_time_range(
        &two,
        ts("20060105T170000Z"),
        ts("20060105T171500Z")
    ));
    // COUNT=5: nothing on 2006-01-07.
    assert!(!matches_time_range(
        &two,
        ts("20060107T000000Z"),
        ts("20060108T000000Z")
    ));
}

/// RFC 4791 §7.8.3: the expanded Event #2 for 20060103T000000Z–20060105T000000Z.
#[test]
fn section_7_8_3_expand_exact() {
    let body = abcd2();
    let two = object(&body);
    let text = expand(
        &two,
        body.as_bytes(),
        ts("20060103T000000Z"),
        ts("20060105T000000Z"),
    );
    assert_eq!(
        text,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example Corp.//CalDAV Client//EN\r\n\
BEGIN:VEVENT\r\nDTSTAMP:20060206T001121Z\r\nDURATION:PT1H\r\nSUMMARY:Event #2\r\n\
UID:00959BC664CA650E933C892C@example.com\r\nDTSTART:20060103T170000Z\r\n\
RECURRENCE-ID:20060103T170000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nDTSTAMP:20060206T001121Z\r\nDURATION:PT1H\r\nSUMMARY:Event #2 bis\r\n\
UID:00959BC664CA650E933C892C@example.com\r\nDTSTART:20060104T190000Z\r\n\
RECURRENCE-ID:20060104T170000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
}

const WEEKLY: &str = "BEGIN:VEVENT\r\nUID:weekly@example.com\r\nDTSTAMP:20240101T000000Z\r\n\
DTSTART;TZID=America/New_York:20240102T090000\r\nDTEND;TZID=America/New_York:20240102T100000\r\n\
RRULE:FREQ=WEEKLY\r\n";

/// A weekly event (Tuesdays 09:00 New York) hit by one occurrence in a one-day window.
#[test]
fn one_weekly_occurrence_in_a_one_day_window() {
    let weekly = object(&calendar(&format!("{WEEKLY}END:VEVENT\r\n")));
    // Tuesday 2024-03-12 is after the DST change: 09:00 EDT = 13:00Z.
    assert!(matches_time_range(
        &weekly,
        ts("20240312T000000Z"),
        ts("20240313T000000Z")
    ));
    assert!(matches_time_range(
        &weekly,
        ts("20240312T125959Z"),
        ts("20240312T130001Z")
    ));
    assert!(!matches_time_range(
        &weekly,
        ts("20240312T140000Z"),
        ts("20240312T150000Z")
    ));
    assert!(!matches_time_range(
        &weekly,
        ts("20240313T000000Z"),
        ts("20240314T000000Z")
    ));
}

#[test]
fn exdate_removes_the_only_hit() {
    let weekly = object(&calendar(&format!(
        "{WEEKLY}EXDATE;TZID=America/New_York:20240312T090000\r\nEND:VEVENT\r\n"
    )));
    assert!(!matches_time_range(
        &weekly,
        ts("20240312T000000Z"),
        ts("20240313T000000Z")
    ));
    assert!(matches_time_range(
        &weekly,
        ts("20240319T000000Z"),
        ts("20240320T000000Z")
    ));
}

#[test]
fn rdate_adds_an_instance() {
    let weekly = object(&calendar(&format!(
        "{WEEKLY}RDATE;TZID=America/New_York:20240314T150000\r\nEND:VEVENT\r\n"
    )));
    assert!(matches_time_range(
        &weekly,
        ts("20240314T000000Z"),
        ts("20240315T000000Z")
    ));
}

#[test]
fn override_with_a_bumped_sequence_still_replaces_its_instance() {
    let moved = object(&calendar(&format!(
        "{WEEKLY}END:VEVENT\r\nBEGIN:VEVENT\r\nUID:weekly@example.com\r\nSEQUENCE:3\r\n\
RECURRENCE-ID;TZID=America/New_York:20240312T090000\r\n\
DTSTART;TZID=America/New_York:20240314T090000\r\nDTEND;TZID=America/New_York:20240314T100000\r\n\
END:VEVENT\r\n"
    )));
    assert!(!matches_time_range(
        &moved,
        ts("20240312T000000Z"),
        ts("20240313T000000Z")
    ));
    assert!(matches_time_range(
        &moved,
        ts("20240314T000000Z"),
        ts("20240315T000000Z")
    ));
}

/// An all-day event is floating: 2024-07-04 as a UTC day.
#[test]
fn all_day_event_covers_its_date() {
    let day = object(&calendar(
        "BEGIN:VEVENT\r\nUID:day@example.com\r\nDTSTAMP:20240101T000000Z\r\n\
DTSTART;VALUE=DATE:20240704\r\nEND:VEVENT\r\n",
    ));
    assert!(matches_time_range(
        &day,
        ts("20240704T120000Z"),
        ts("20240704T130000Z")
    ));
    assert!(!matches_time_range(
        &day,
        ts("20240705T000000Z"),
        ts("20240706T000000Z")
    ));
    assert!(!matches_time_range(
        &day,
        ts("20240703T000000Z"),
        ts("20240704T000000Z")
    ));
}

/// §9.9: a DATE-TIME DTSTART without DTEND or DURATION is an instant.
#[test]
fn event_without_end_is_an_instant() {
    let at = object(&calendar(
        "BEGIN:VEVENT\r\nUID:at@example.com\r\nDTSTAMP:20240101T000000Z\r\n\
DTSTART:20240704T120000Z\r\nEND:VEVENT\r\n",
    ));
    assert!(matches_time_range(
        &at,
        ts("20240704T120000Z"),
        ts("20240704T120001Z")
    ));
    assert!(!matches_time_range(
        &at,
        ts("20240704T120001Z"),
        ts("20240704T180000Z")
    ));
}

/// §9.9's VTODO table, one row each.
#[test]
fn todo_rows() {
    let day = (ts("20060106T000000Z"), ts("20060107T000000Z"));
    let due = todo("DUE;TZID=US/Eastern:20060106T120000\r\n");
    assert!(matches_time_range(&due, day.0, day.1));
    assert!(!matches_time_range(
        &due,
        ts("20060107T000000Z"),
        ts("20060108T000000Z")
    ));
    let start_due = todo("DTSTART:20060105T000000Z\r\nDUE:20060106T000000Z\r\n");
    assert!(matches_time_range(
        &start_due,
        ts("20060105T120000Z"),
        ts("20060105T130000Z")
    ));
    let completed = todo("COMPLETED:20060106T120000Z\r\nSTATUS:COMPLETED\r\n");
    assert!(matches_time_range(&completed, day.0, day.1));
    assert!(!matches_time_range(
        &completed,
        ts("20060107T000000Z"),
        ts("20060108T000000Z")
    ));
    let created = todo("CREATED:20060106T120000Z\r\n");
    assert!(!matches_time_range(
        &created,
        ts("20060101T000000Z"),
        ts("20060102T000000Z")
    ));
    assert!(matches_time_range(
        &created,
        ts("20060301T000000Z"),
        ts("20060302T000000Z")
    ));
    let undated = todo("SUMMARY:Task #3\r\n");
    assert!(matches_time_range(
        &undated,
        ts("19900101T000000Z"),
        ts("19900102T000000Z")
    ));
}

/// A hostile rule stops at the cap; past the last instance examined the object matches.
#[test]
fn secondly_rule_without_end_stops_at_the_cap() {
    let hostile = object(&calendar(
        "BEGIN:VEVENT\r\nUID:hostile@example.com\r\nDTSTAMP:20240101T000000Z\r\n\
DTSTART:20240101T000000Z\r\nDURATION:PT1S\r\nRRULE:FREQ=SECONDLY\r\nEND:VEVENT\r\n",
    ));
    let found = time_range::instances(&hostile.times);
    assert_eq!(found.list.len(), MAX_INSTANCES);
    assert!(found.truncated);
    // Within the examined instances: exact.
    assert!(matches_time_range(
        &hostile,
        ts("20240101T000010Z"),
        ts("20240101T000011Z")
    ));
    // Beyond them: unknown, so it matches (documented choice).
    assert!(matches_time_range(
        &hostile,
        ts("20300101T000000Z"),
        ts("20300102T000000Z")
    ));
    // Before DTSTART: no.
    assert!(!matches_time_range(
        &hostile,
        ts("20231231T000000Z"),
        ts("20231231T010000Z")
    ));
}

/// BYxxx parts that never meet (30 February) yield nothing, and the walk ends.
#[test]
fn rule_that_never_matches_ends() {
    let never = object(&calendar(
        "BEGIN:VEVENT\r\nUID:never@example.com\r\nDTSTAMP:20240101T000000Z\r\n\
DTSTART:20240101T000000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30\r\n\
END:VEVENT\r\n",
    ));
    let found = time_range::instances(&never.times);
    assert!(found.list.len() <= 1, "{}", found.list.len());
    assert!(!found.truncated);
    assert!(!matches_time_range(
        &never,
        ts("20250101T000000Z"),
        ts("20260101T000000Z")
    ));
}

/// RFC 4791 §7.10: opaque events count, TENTATIVE as BUSY-TENTATIVE, TRANSPARENT and
/// CANCELLED not at all.
#[test]
fn free_busy_over_appendix_b() {
    let transparent = object(&calendar(
        "BEGIN:VEVENT\r\nUID:free@example.com\r\nDTSTAMP:20060101T000000Z\r\n\
DTSTART:20060104T200000Z\r\nDURATION:PT1H\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n",
    ));
    let cancelled = object(&calendar(
        "BEGIN:VEVENT\r\nUID:gone@example.com\r\nDTSTAMP:20060101T000000Z\r\n\
DTSTART:20060104T210000Z\r\nDURATION:PT1H\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n",
    ));
    let objects = [
        object(&abcd1()),
        object(&abcd2()),
        object(&abcd3()),
        transparent,
        cancelled,
    ];
    let (start, end) = (ts("20060104T140000Z"), ts("20060105T000000Z"));
    let periods = free_busy(&objects, start, end);
    assert_eq!(
        periods,
        [
            (
                ts("20060104T150000Z"),
                ts("20060104T160000Z"),
                BusyKind::Tentative
            ),
            (
                ts("20060104T190000Z"),
                ts("20060104T200000Z"),
                BusyKind::Busy
            ),
        ]
    );
    assert_eq!(
        vfreebusy_text(&periods, start, end, ts("20060206T001200Z")),
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//ringpost//CalDAV//EN\r\nBEGIN:VFREEBUSY\r\n\
DTSTAMP:20060206T001200Z\r\nDTSTART:20060104T140000Z\r\nDTEND:20060105T000000Z\r\n\
FREEBUSY;FBTYPE=BUSY-TENTATIVE:20060104T150000Z/20060104T160000Z\r\n\
FREEBUSY;FBTYPE=BUSY:20060104T190000Z/20060104T200000Z\r\n\
END:VFREEBUSY\r\nEND:VCALENDAR\r\n"
    );
}

#[test]
fn free_busy_clips_and_merges() {
    let a = object(&calendar(
        "BEGIN:VEVENT\r\nUID:a@example.com\r\nDTSTAMP:20060101T000000Z\r\n\
DTSTART:20060104T100000Z\r\nDTEND:20060104T120000Z\r\nEND:VEVENT\r\n",
    ));
    let b = object(&calendar(
        "BEGIN:VEVENT\r\nUID:b@example.com\r\nDTSTAMP:20060101T000000Z\r\n\
DTSTART:20060104T113000Z\r\nDTEND:20060104T130000Z\r\nEND:VEVENT\r\n",
    ));
    assert_eq!(
        free_busy(&[a, b], ts("20060104T110000Z"), ts("20060104T123000Z")),
        [(
            ts("20060104T110000Z"),
            ts("20060104T123000Z"),
            BusyKind::Busy
        )]
    );
}
