//! Calendar objects and vCards as CalDAV (RFC 4791) and CardDAV (RFC 6352) see them: the
//! preconditions a PUT must meet ([`validate_calendar_object`], [`validate_vcard`]), the
//! time-range test of `calendar-query` with recurrences ([`matches_time_range`]), `expand`
//! ([`expand`]), `free-busy-query` ([`free_busy`], [`vfreebusy_text`]) and the text-match of
//! `addressbook-query` ([`card_matches`]).
//!
//! Parsing, time zones (IANA `TZID`s and in-object `VTIMEZONE`s) and recurrence expansion
//! (RRULE, RDATE, EXDATE, RECURRENCE-ID overrides, `RANGE=THISANDFUTURE`) are the `calcard`
//! crate's. Every recurrence walk here is bounded by [`MAX_INSTANCES`], so a hostile RRULE
//! costs a bounded amount of work (see [`matches_time_range`] for what happens at the cap).
//!
//! Pure functions over bytes and Unix seconds (UTC): this module never does IO, never reads
//! the clock ("now" and every time range come in as parameters) and never decides HTTP
//! statuses beyond naming the precondition that failed ([`Invalid`]).

mod calendar;
mod card;
mod expand;
mod free_busy;
mod time_range;

pub use calendar::{
    validate_calendar_object, CalendarLimits, CalendarObject, ComponentKind, ComponentSet,
};
pub(crate) use card::{all_content_lines, Property};
pub use card::{
    card_matches, validate_vcard, Card, CardFilter, CardLimits, CardVersion, Collation, MatchType,
    ParamFilter, PropFilter, Test, TextMatch,
};
pub use expand::expand;
pub use free_busy::{free_busy, vfreebusy_text, BusyKind};
pub use time_range::{matches_time_range, MAX_INSTANCES};

/// Why a calendar object or vCard was refused: the precondition that failed, which the
/// caller reports as `403 Forbidden` with the element [`Invalid::element`] in the namespace
/// [`Invalid::namespace`] (RFC 4791 §5.3.2.1, RFC 6352 §6.3.2.1, RFC 4918 §16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// `CALDAV:valid-calendar-data`: not UTF-8, not iCalendar, or not VERSION 2.0.
    CalendarData(&'static str),
    /// `CALDAV:valid-calendar-object-resource`: parses, but breaks RFC 4791 §4.1 (several
    /// UIDs, several component types, METHOD, no UID, …).
    CalendarObjectResource(&'static str),
    /// `CALDAV:supported-calendar-component`: a component type the collection does not take.
    SupportedCalendarComponent,
    /// `CALDAV:max-resource-size` (calendars) or `CARDDAV:max-resource-size` (address books).
    MaxResourceSize(Namespace),
    /// `CARDDAV:valid-address-data`: not UTF-8, not one vCard, or no UID (RFC 6352 §5.1).
    AddressData(&'static str),
    /// `CARDDAV:supported-address-data`: a vCard version other than 3.0 and 4.0.
    SupportedAddressData,
}

/// The XML namespace a precondition element lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// `urn:ietf:params:xml:ns:caldav`
    CalDav,
    /// `urn:ietf:params:xml:ns:carddav`
    CardDav,
}

impl Namespace {
    /// The namespace URI.
    pub fn uri(self) -> &'static str {
        match self {
            Namespace::CalDav => "urn:ietf:params:xml:ns:caldav",
            Namespace::CardDav => "urn:ietf:params:xml:ns:carddav",
        }
    }
}

impl Invalid {
    /// The local name of the precondition element (`valid-calendar-data`, …).
    pub fn element(&self) -> &'static str {
        match self {
            Invalid::CalendarData(_) => "valid-calendar-data",
            Invalid::CalendarObjectResource(_) => "valid-calendar-object-resource",
            Invalid::SupportedCalendarComponent => "supported-calendar-component",
            Invalid::MaxResourceSize(_) => "max-resource-size",
            Invalid::AddressData(_) => "valid-address-data",
            Invalid::SupportedAddressData => "supported-address-data",
        }
    }

    /// The namespace of [`Invalid::element`].
    pub fn namespace(&self) -> Namespace {
        match self {
            Invalid::CalendarData(_)
            | Invalid::CalendarObjectResource(_)
            | Invalid::SupportedCalendarComponent => Namespace::CalDav,
            Invalid::MaxResourceSize(namespace) => *namespace,
            Invalid::AddressData(_) | Invalid::SupportedAddressData => Namespace::CardDav,
        }
    }

    /// A short reason for logs (never shown with paths or account names).
    pub fn reason(&self) -> &'static str {
        match self {
            Invalid::CalendarData(why)
            | Invalid::CalendarObjectResource(why)
            | Invalid::AddressData(why) => why,
            Invalid::SupportedCalendarComponent => "component type not supported here",
            Invalid::MaxResourceSize(_) => "larger than the collection's maximum",
            Invalid::SupportedAddressData => "vCard version other than 3.0 or 4.0",
        }
    }
}

#[cfg(test)]
mod calendar_tests;
#[cfg(test)]
mod card_tests;
#[cfg(test)]
mod time_range_tests;
