//! A calendar object resource checked against RFC 4791 §4.1 and §5.3.2.1, and the compact
//! form of it that time-range filtering, free-busy and expansion work from.

use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarProperty, ICalendarStatus,
    ICalendarTransparency, ICalendarValue,
};
use calcard::{Entry, Parser};

use super::{Invalid, Namespace};

/// The calendar component type a calendar object resource holds (RFC 4791 §4.1: one type per
/// resource, VTIMEZONEs besides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    /// `VEVENT`
    Event,
    /// `VTODO`
    Todo,
    /// `VJOURNAL`
    Journal,
    /// `VFREEBUSY`
    FreeBusy,
}

impl ComponentKind {
    /// The iCalendar name (`VEVENT`, …).
    pub fn name(self) -> &'static str {
        match self {
            ComponentKind::Event => "VEVENT",
            ComponentKind::Todo => "VTODO",
            ComponentKind::Journal => "VJOURNAL",
            ComponentKind::FreeBusy => "VFREEBUSY",
        }
    }

    fn of(component_type: &ICalendarComponentType) -> Option<ComponentKind> {
        match component_type {
            ICalendarComponentType::VEvent => Some(ComponentKind::Event),
            ICalendarComponentType::VTodo => Some(ComponentKind::Todo),
            ICalendarComponentType::VJournal => Some(ComponentKind::Journal),
            ICalendarComponentType::VFreebusy => Some(ComponentKind::FreeBusy),
            _ => None,
        }
    }

    fn bit(self) -> u8 {
        match self {
            ComponentKind::Event => 1,
            ComponentKind::Todo => 2,
            ComponentKind::Journal => 4,
            ComponentKind::FreeBusy => 8,
        }
    }
}

/// A collection's `supported-calendar-component-set` (RFC 4791 §5.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComponentSet(u8);

impl ComponentSet {
    /// Every kind: what a collection without the property accepts.
    pub const ALL: ComponentSet = ComponentSet(15);

    /// A set of the given kinds.
    pub fn of(kinds: &[ComponentKind]) -> ComponentSet {
        ComponentSet(kinds.iter().fold(0, |bits, kind| bits | kind.bit()))
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: ComponentKind) -> bool {
        self.0 & kind.bit() != 0
    }
}

/// What a calendar collection accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarLimits {
    /// `max-resource-size` in octets (RFC 4791 §5.2.5).
    pub max_size: usize,
    /// `supported-calendar-component-set`.
    pub components: ComponentSet,
}

/// How one component's instances meet a time range: a row of RFC 4791 §9.9's tables, chosen
/// by which properties the component has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overlap {
    /// VEVENT with DTEND, positive DURATION or a DATE DTSTART; VJOURNAL with a DATE DTSTART:
    /// `start < END AND end > DTSTART`.
    Span,
    /// VEVENT with a DATE-TIME DTSTART and no DTEND/DURATION or a zero DURATION; VTODO with
    /// only DTSTART; VJOURNAL with a DATE-TIME DTSTART: `start <= DTSTART AND end > DTSTART`.
    Point,
    /// VTODO with DTSTART and DURATION.
    TodoStartDuration,
    /// VTODO with DTSTART and DUE.
    TodoStartDue,
    /// VTODO with DUE only (its instances start at DUE).
    TodoDue,
    /// VTODO with COMPLETED and CREATED (instances run CREATED → COMPLETED).
    TodoCreatedCompleted,
    /// VTODO with COMPLETED only.
    TodoCompleted,
    /// VTODO with CREATED only.
    TodoCreated,
    /// VTODO with none of the dates: matches every range.
    Always,
    /// VFREEBUSY with DTSTART and DTEND: `start <= DTEND AND end > DTSTART`.
    FreeBusy,
    /// Nothing to match (a VJOURNAL or VFREEBUSY without DTSTART).
    Never,
}

/// What free-busy needs of one component (RFC 4791 §7.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy {
    pub transparent: bool,
    pub cancelled: bool,
    pub tentative: bool,
}

/// A validated calendar object resource, parsed once: its UID, its component type, and a
/// pruned parse tree holding only what time ranges need (dates, recurrence properties,
/// STATUS, TRANSP and the VTIMEZONEs), so holding one costs little more than its dates.
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarObject {
    /// The UID every component shares.
    pub uid: String,
    /// The one component type it holds.
    pub component: ComponentKind,
    /// The pruned tree; component indexes are the full parse's.
    pub(crate) times: ICalendar,
    /// One entry per component of `times` (`Never` for VCALENDAR, VTIMEZONE, VALARM, …).
    pub(crate) overlap: Vec<Overlap>,
    pub(crate) busy: Vec<Busy>,
    /// The instances' bounds, and the instances when there are few, worked out on the first
    /// time-range test (an object is tested by many queries; the walk is the costly part).
    pub(crate) walked: std::cell::OnceCell<super::time_range::Walked>,
}

/// Properties the time-range walk reads (calcard's expansion looks at these and no others).
const TIME_PROPERTIES: &[ICalendarProperty] = &[
    ICalendarProperty::Dtstart,
    ICalendarProperty::Dtend,
    ICalendarProperty::Duration,
    ICalendarProperty::Due,
    ICalendarProperty::Completed,
    ICalendarProperty::Created,
    ICalendarProperty::RecurrenceId,
    ICalendarProperty::Rrule,
    ICalendarProperty::Rdate,
    ICalendarProperty::Exdate,
    ICalendarProperty::Status,
    ICalendarProperty::Transp,
];

/// Checks `bytes` as a calendar object resource (RFC 4791 §4.1, the preconditions of
/// §5.3.2.1) and returns its compact form.
///
/// In order: `max-resource-size`; UTF-8 and one VCALENDAR with `VERSION:2.0`
/// (`valid-calendar-data`); at least one and only one type of VEVENT/VTODO/VJOURNAL/VFREEBUSY,
/// one UID shared by all of them, RECURRENCE-ID on all but one, no METHOD
/// (`valid-calendar-object-resource`); the type in `limits.components`
/// (`supported-calendar-component`).
pub fn validate_calendar_object(
    bytes: &[u8],
    limits: &CalendarLimits,
) -> Result<CalendarObject, Invalid> {
    if bytes.len() > limits.max_size {
        return Err(Invalid::MaxResourceSize(Namespace::CalDav));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Invalid::CalendarData("not UTF-8"))?;
    let calendar = parse_one(text)?;
    let Some(root) = calendar.components.first() else {
        return Err(Invalid::CalendarData("no VCALENDAR"));
    };
    let version = root
        .property(&ICalendarProperty::Version)
        .and_then(|entry| entry.values.first())
        .and_then(|value| value.as_text());
    if version.map(str::trim) != Some("2.0") {
        return Err(Invalid::CalendarData("VERSION is not 2.0"));
    }
    // RFC 4791 §4.1: "MUST NOT specify the iCalendar METHOD property".
    if root.has_property(&ICalendarProperty::Method) {
        return Err(Invalid::CalendarObjectResource("METHOD present"));
    }
    let mut kind = None;
    let mut uid: Option<&str> = None;
    let mut masters = 0usize;
    for &id in &root.component_ids {
        let Some(component) = calendar.component_by_id(id) else {
            return Err(Invalid::CalendarData("dangling component"));
        };
        let this = match &component.component_type {
            ICalendarComponentType::VTimezone => continue,
            other => ComponentKind::of(other).ok_or(Invalid::CalendarObjectResource(
                "component other than VEVENT, VTODO, VJOURNAL, VFREEBUSY, VTIMEZONE",
            ))?,
        };
        if kind.is_some_and(|kind| kind != this) {
            return Err(Invalid::CalendarObjectResource(
                "more than one type of component",
            ));
        }
        kind = Some(this);
        let this_uid = component
            .uid()
            .ok_or(Invalid::CalendarObjectResource("component without UID"))?;
        if uid.is_some_and(|uid| uid != this_uid) {
            return Err(Invalid::CalendarObjectResource("more than one UID"));
        }
        uid = Some(this_uid);
        if !component.is_recurrence_override() {
            masters += 1;
        }
    }
    let (Some(kind), Some(uid)) = (kind, uid) else {
        return Err(Invalid::CalendarObjectResource("no calendar component"));
    };
    // RFC 4791 §4.1: the components sharing a UID are one master and its overrides (a set of
    // overrides without their master is allowed, as for invitations to some instances).
    if masters > 1 {
        return Err(Invalid::CalendarObjectResource(
            "two components with one UID and no RECURRENCE-ID",
        ));
    }
    if !limits.components.contains(kind) {
        return Err(Invalid::SupportedCalendarComponent);
    }
    let uid = uid.to_string();
    Ok(CalendarObject::from_tree(uid, kind, &calendar))
}

/// Parses exactly one iCalendar object from `text`.
pub(crate) fn parse_one(text: &str) -> Result<ICalendar, Invalid> {
    let mut parser = Parser::new(text);
    let calendar = match parser.entry() {
        Entry::ICalendar(calendar) => calendar,
        _ => return Err(Invalid::CalendarData("not an iCalendar object")),
    };
    if calendar
        .components
        .first()
        .is_none_or(|root| root.component_type != ICalendarComponentType::VCalendar)
    {
        return Err(Invalid::CalendarData("not a VCALENDAR"));
    }
    match parser.entry() {
        Entry::Eof => Ok(calendar),
        // RFC 4791 §4.1: one calendar object per resource.
        Entry::ICalendar(_) | Entry::VCard(_) => Err(Invalid::CalendarObjectResource(
            "more than one object in the body",
        )),
        _ => Err(Invalid::CalendarData("data after END:VCALENDAR")),
    }
}

impl CalendarObject {
    fn from_tree(uid: String, component: ComponentKind, full: &ICalendar) -> CalendarObject {
        let mut times = full.clone();
        let mut overlap = Vec::with_capacity(times.components.len());
        let mut busy = Vec::with_capacity(times.components.len());
        for part in &mut times.components {
            overlap.push(overlap_of(part));
            busy.push(busy_of(part));
            match part.component_type {
                ICalendarComponentType::VTimezone
                | ICalendarComponentType::Standard
                | ICalendarComponentType::Daylight => {}
                ICalendarComponentType::VEvent
                | ICalendarComponentType::VTodo
                | ICalendarComponentType::VJournal
                | ICalendarComponentType::VFreebusy => {
                    // SEQUENCE goes too: calcard pairs overrides with their master by
                    // (SEQUENCE, RECURRENCE-ID), and clients bump SEQUENCE in overrides.
                    part.entries
                        .retain(|entry| TIME_PROPERTIES.contains(&entry.name));
                }
                _ => part.entries.clear(),
            }
        }
        CalendarObject {
            uid,
            component,
            times,
            overlap,
            busy,
            walked: std::cell::OnceCell::new(),
        }
    }
}

fn date_time_property(part: &ICalendarComponent, name: &ICalendarProperty) -> Option<bool> {
    part.properties(name)
        .find_map(|entry| match entry.values.first() {
            Some(ICalendarValue::PartialDateTime(value)) => Some(value.has_time()),
            _ => None,
        })
}

fn overlap_of(part: &ICalendarComponent) -> Overlap {
    let start = date_time_property(part, &ICalendarProperty::Dtstart)
        .or_else(|| date_time_property(part, &ICalendarProperty::RecurrenceId));
    let has = |name: &ICalendarProperty| date_time_property(part, name).is_some();
    let duration = part
        .property(&ICalendarProperty::Duration)
        .and_then(|entry| match entry.values.first() {
            Some(ICalendarValue::Duration(duration)) => Some(duration.as_seconds()),
            _ => None,
        });
    match part.component_type {
        // RFC 4791 §9.9, the VEVENT table.
        ICalendarComponentType::VEvent => match (start, duration) {
            (None, _) => Overlap::Never,
            (Some(_), Some(0)) => Overlap::Point,
            (Some(_), Some(_)) => Overlap::Span,
            (Some(_), None) if has(&ICalendarProperty::Dtend) => Overlap::Span,
            (Some(true), None) => Overlap::Point,
            (Some(false), None) => Overlap::Span,
        },
        // The VTODO table.
        ICalendarComponentType::VTodo => {
            let due = has(&ICalendarProperty::Due);
            let completed = has(&ICalendarProperty::Completed);
            let created = has(&ICalendarProperty::Created);
            match (start.is_some(), duration.is_some(), due) {
                (true, true, _) => Overlap::TodoStartDuration,
                (true, false, true) => Overlap::TodoStartDue,
                (true, false, false) => Overlap::Point,
                (false, _, true) => Overlap::TodoDue,
                (false, _, false) => match (completed, created) {
                    (true, true) => Overlap::TodoCreatedCompleted,
                    (true, false) => Overlap::TodoCompleted,
                    (false, true) => Overlap::TodoCreated,
                    (false, false) => Overlap::Always,
                },
            }
        }
        // The VJOURNAL table.
        ICalendarComponentType::VJournal => match start {
            Some(true) => Overlap::Point,
            Some(false) => Overlap::Span,
            None => Overlap::Never,
        },
        // §9.9 for VFREEBUSY (DTSTART and DTEND; FREEBUSY periods are not read).
        ICalendarComponentType::VFreebusy if start.is_some() && has(&ICalendarProperty::Dtend) => {
            Overlap::FreeBusy
        }
        _ => Overlap::Never,
    }
}

fn busy_of(part: &ICalendarComponent) -> Busy {
    Busy {
        transparent: part.transparency() == Some(&ICalendarTransparency::Transparent),
        cancelled: part.status() == Some(&ICalendarStatus::Cancelled),
        tentative: part.status() == Some(&ICalendarStatus::Tentative),
    }
}
