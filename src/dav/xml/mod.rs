//! The XML of WebDAV, CalDAV and CardDAV: request bodies (PROPFIND, PROPPATCH, MKCOL,
//! MKCALENDAR, REPORT) parsed into typed values under [`XmlLimits`], and the bodies we answer
//! with (the `DAV:multistatus` of RFC 4918 §13 and the `DAV:error` of RFC 4918 §16).
//!
//! Parsing is bounded and refuses what could make it expensive: any document type
//! declaration (so no entity is ever defined, let alone expanded: no "billion laughs", no
//! external entity), undefined entities, bodies that are not UTF-8, nesting deeper than
//! [`XmlLimits::max_depth`] and more than [`XmlLimits::max_elements`] elements. Namespaces are
//! resolved (prefixes, default namespace, redeclarations), so only the namespace URI of a name
//! matters, never its prefix. Every refusal is an [`XmlError`] whose [`XmlError::status`] is
//! the HTTP status to answer with. Nothing here does IO, reads the clock or knows a store.

mod error;
mod filter;
mod multistatus;
mod names;
mod precondition;
mod report;
mod request;
mod time;
mod tree;

pub use error::{XmlError, XmlLimits};
pub use filter::{
    AddressbookFilter, CardPropCondition, CardPropFilter, Collation, CompCondition, CompFilter,
    FilterTest, MatchType, ParamCondition, ParamFilter, PropCondition, PropFilter, TextMatch,
};
pub use multistatus::{encode_href, MediaType, Multistatus, Privilege, Prop, PropStat, PropValue};
pub use names::{Namespace, PropName, ReportName, ResourceType};
pub use precondition::{error_body, Precondition};
pub use report::{
    parse_report, AddressDataRequest, AddressbookMultiget, AddressbookQuery, CalendarComp,
    CalendarDataRequest, CalendarMultiget, CalendarQuery, FreeBusyQuery, Report, SyncCollection,
    SyncLevel,
};
pub use request::{
    parse_mkcalendar, parse_mkcol, parse_propfind, parse_proppatch, Mkcol, PropertyUpdate,
    PropertyValue, Propfind, Proppatch, RawXml,
};
pub use time::{TimeRange, UtcDateTime};

#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod multistatus_tests;
#[cfg(test)]
mod report_tests;
#[cfg(test)]
mod request_tests;
