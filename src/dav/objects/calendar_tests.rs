//! validate_calendar_object: each refusal names the precondition RFC 4791 §5.3.2.1 gives it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const LIMITS: CalendarLimits = CalendarLimits {
    max_size: 4096,
    components: ComponentSet::ALL,
};

fn event(uid: &str, extra: &str) -> String {
    format!(
        "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240102T090000Z\r\n{extra}END:VEVENT\r\n"
    )
}

fn wrap(head: &str, inner: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\n{head}{inner}END:VCALENDAR\r\n"
    )
}

fn check(body: &str) -> Result<CalendarObject, Invalid> {
    validate_calendar_object(body.as_bytes(), &LIMITS)
}

#[test]
fn a_plain_event_is_accepted() {
    let object = check(&wrap("", &event("one@example.com", ""))).unwrap();
    assert_eq!(object.uid, "one@example.com");
    assert_eq!(object.component, ComponentKind::Event);
}

#[test]
fn master_and_override_share_a_uid() {
    let body = wrap(
        "",
        &(event("r@example.com", "RRULE:FREQ=DAILY\r\n")
            + &event("r@example.com", "RECURRENCE-ID:20240103T090000Z\r\n")),
    );
    assert_eq!(check(&body).unwrap().uid, "r@example.com");
}

#[test]
fn two_uids_are_not_one_resource() {
    let body = wrap(
        "",
        &(event("a@example.com", "") + &event("b@example.com", "")),
    );
    assert_eq!(
        check(&body).unwrap_err(),
        Invalid::CalendarObjectResource("more than one UID")
    );
}

#[test]
fn two_masters_are_refused() {
    let body = wrap(
        "",
        &(event("a@example.com", "") + &event("a@example.com", "")),
    );
    assert_eq!(
        check(&body).unwrap_err().element(),
        "valid-calendar-object-resource"
    );
}

#[test]
fn method_is_refused() {
    let body = wrap("METHOD:REQUEST\r\n", &event("a@example.com", ""));
    let refused = check(&body).unwrap_err();
    assert_eq!(refused, Invalid::CalendarObjectResource("METHOD present"));
    assert_eq!(refused.namespace(), Namespace::CalDav);
}

#[test]
fn mixed_event_and_todo_are_refused() {
    let todo = "BEGIN:VTODO\r\nUID:a@example.com\r\nDTSTAMP:20240101T000000Z\r\nEND:VTODO\r\n";
    let body = wrap("", &(event("a@example.com", "") + todo));
    assert_eq!(
        check(&body).unwrap_err(),
        Invalid::CalendarObjectResource("more than one type of component")
    );
}

#[test]
fn not_utf8_is_invalid_calendar_data() {
    let mut body = wrap("", &event("a@example.com", "SUMMARY:caf\u{e9}\r\n")).into_bytes();
    let at = body.iter().position(|&b| b == 0xc3).unwrap();
    body[at] = 0xff;
    let refused = validate_calendar_object(&body, &LIMITS).unwrap_err();
    assert_eq!(refused, Invalid::CalendarData("not UTF-8"));
    assert_eq!(refused.element(), "valid-calendar-data");
}

#[test]
fn garbage_is_invalid_calendar_data() {
    assert_eq!(
        check("hello, world\r\n").unwrap_err().element(),
        "valid-calendar-data"
    );
    assert_eq!(check("").unwrap_err().element(), "valid-calendar-data");
    let vcard = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\nUID:u\r\nEND:VCARD\r\n";
    assert_eq!(check(vcard).unwrap_err().element(), "valid-calendar-data");
}

#[test]
fn version_must_be_2_0() {
    let body = wrap("", &event("a@example.com", "")).replace("VERSION:2.0", "VERSION:1.0");
    assert_eq!(
        check(&body).unwrap_err(),
        Invalid::CalendarData("VERSION is not 2.0")
    );
}

#[test]
fn missing_uid_and_empty_calendar_are_refused() {
    let no_uid = wrap(
        "",
        "BEGIN:VEVENT\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240102T090000Z\r\nEND:VEVENT\r\n",
    );
    assert_eq!(
        check(&no_uid).unwrap_err(),
        Invalid::CalendarObjectResource("component without UID")
    );
    assert_eq!(
        check(&wrap("", "")).unwrap_err(),
        Invalid::CalendarObjectResource("no calendar component")
    );
}

#[test]
fn two_calendars_in_one_body_are_refused() {
    let one = wrap("", &event("a@example.com", ""));
    assert_eq!(
        check(&(one.clone() + &one)).unwrap_err(),
        Invalid::CalendarObjectResource("more than one object in the body")
    );
}

#[test]
fn size_and_component_set_are_the_collection_s() {
    let body = wrap("", &event("a@example.com", ""));
    let small = CalendarLimits {
        max_size: body.len() - 1,
        components: ComponentSet::ALL,
    };
    let refused = validate_calendar_object(body.as_bytes(), &small).unwrap_err();
    assert_eq!(refused, Invalid::MaxResourceSize(Namespace::CalDav));
    assert_eq!(refused.element(), "max-resource-size");
    let todos_only = CalendarLimits {
        max_size: 4096,
        components: ComponentSet::of(&[ComponentKind::Todo]),
    };
    assert_eq!(
        validate_calendar_object(body.as_bytes(), &todos_only).unwrap_err(),
        Invalid::SupportedCalendarComponent
    );
}
