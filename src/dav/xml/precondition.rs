//! `DAV:error` bodies (RFC 4918 §16): the precondition or postcondition a 403, 409 or 507
//! failed, for the client to act on.

use super::multistatus::{encode_href, escape_text, open_document};

/// The conditions we name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// RFC 4791 §5.3.2.1.
    ValidCalendarData,
    ValidCalendarObjectResource,
    SupportedCalendarComponent,
    SupportedCalendarData,
    /// An object with the same UID exists at `href` (a decoded path).
    CalendarNoUidConflict {
        href: String,
    },
    CalendarMaxResourceSize,
    /// RFC 4791 §5.3.1.1 (MKCALENDAR).
    CalendarCollectionLocationOk,
    /// RFC 4791 §7.5.1.
    CalendarSupportedCollation,
    /// RFC 6352 §6.3.2.1.
    ValidAddressData,
    SupportedAddressData,
    AddressbookNoUidConflict {
        href: String,
    },
    AddressbookMaxResourceSize,
    /// RFC 6352 §8.3.
    AddressbookSupportedCollation,
    /// RFC 6578 §3.2.
    ValidSyncToken,
    /// RFC 6578 §3.7, RFC 5323 §5.17: a `limit` we cannot honour / a truncated answer.
    NumberOfMatchesWithinLimits,
    /// RFC 3253 §3.6.
    SupportedReport,
}

/// `<d:error>` naming `condition`, as exact bytes.
pub fn error_body(condition: &Precondition) -> Vec<u8> {
    let mut out = String::new();
    open_document(&mut out, "error");
    let element = match condition {
        Precondition::ValidCalendarData => "c:valid-calendar-data",
        Precondition::ValidCalendarObjectResource => "c:valid-calendar-object-resource",
        Precondition::SupportedCalendarComponent => "c:supported-calendar-component",
        Precondition::SupportedCalendarData => "c:supported-calendar-data",
        Precondition::CalendarNoUidConflict { .. } => "c:no-uid-conflict",
        Precondition::CalendarMaxResourceSize => "c:max-resource-size",
        Precondition::CalendarCollectionLocationOk => "c:calendar-collection-location-ok",
        Precondition::CalendarSupportedCollation => "c:supported-collation",
        Precondition::ValidAddressData => "card:valid-address-data",
        Precondition::SupportedAddressData => "card:supported-address-data",
        Precondition::AddressbookNoUidConflict { .. } => "card:no-uid-conflict",
        Precondition::AddressbookMaxResourceSize => "card:max-resource-size",
        Precondition::AddressbookSupportedCollation => "card:supported-collation",
        Precondition::ValidSyncToken => "d:valid-sync-token",
        Precondition::NumberOfMatchesWithinLimits => "d:number-of-matches-within-limits",
        Precondition::SupportedReport => "d:supported-report",
    };
    match condition {
        Precondition::CalendarNoUidConflict { href }
        | Precondition::AddressbookNoUidConflict { href } => {
            out.push('<');
            out.push_str(element);
            out.push_str("><d:href>");
            out.push_str(&escape_text(&encode_href(href)));
            out.push_str("</d:href></");
            out.push_str(element);
            out.push('>');
        }
        _ => {
            out.push('<');
            out.push_str(element);
            out.push_str("/>");
        }
    }
    out.push_str("</d:error>");
    out.into_bytes()
}
