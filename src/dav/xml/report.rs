//! REPORT bodies (RFC 3253 §3.6) as typed values: the CalDAV reports (RFC 4791 §7.8 to
//! §7.10), the CardDAV ones (RFC 6352 §8.6, §8.7) and sync-collection (RFC 6578 §3.2). Any
//! other report is [`XmlError::UnsupportedReport`].

use super::error::{XmlError, XmlLimits};
use super::filter::{self, AddressbookFilter, CompFilter};
use super::names::{Namespace, PropName, ReportName};
use super::request::{expect_root, names_in, props_of, required_attr, Propfind};
use super::time::TimeRange;
use super::tree::{self, Element};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    CalendarQuery(CalendarQuery),
    CalendarMultiget(CalendarMultiget),
    FreeBusyQuery(FreeBusyQuery),
    AddressbookQuery(AddressbookQuery),
    AddressbookMultiget(AddressbookMultiget),
    SyncCollection(SyncCollection),
}

impl Report {
    pub fn name(&self) -> ReportName {
        match self {
            Report::CalendarQuery(_) => ReportName::CalendarQuery,
            Report::CalendarMultiget(_) => ReportName::CalendarMultiget,
            Report::FreeBusyQuery(_) => ReportName::FreeBusyQuery,
            Report::AddressbookQuery(_) => ReportName::AddressbookQuery,
            Report::AddressbookMultiget(_) => ReportName::AddressbookMultiget,
            Report::SyncCollection(_) => ReportName::SyncCollection,
        }
    }
}

/// RFC 4791 §9.5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarQuery {
    pub props: Propfind,
    /// The options of `CALDAV:calendar-data` when the props ask for it.
    pub calendar_data: Option<CalendarDataRequest>,
    pub filter: CompFilter,
    /// `CALDAV:timezone` (RFC 4791 §9.8): the iCalendar text of the VTIMEZONE floating times
    /// are read in.
    pub timezone: Option<String>,
}

/// RFC 4791 §9.10.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarMultiget {
    pub props: Propfind,
    pub calendar_data: Option<CalendarDataRequest>,
    /// The hrefs as sent (percent-encoded; the router decodes them).
    pub hrefs: Vec<String>,
}

/// RFC 4791 §7.10.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeBusyQuery {
    pub time_range: TimeRange,
}

/// RFC 6352 §10.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressbookQuery {
    pub props: Propfind,
    pub address_data: Option<AddressDataRequest>,
    pub filter: AddressbookFilter,
    /// `CARDDAV:limit/nresults` (RFC 6352 §10.6).
    pub limit: Option<u32>,
}

/// RFC 6352 §10.7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressbookMultiget {
    pub props: Propfind,
    pub address_data: Option<AddressDataRequest>,
    pub hrefs: Vec<String>,
}

/// RFC 6578 §6.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncCollection {
    /// The token from the last sync; empty for the first one (RFC 6578 §3.4).
    pub sync_token: String,
    pub sync_level: SyncLevel,
    /// `DAV:limit/nresults` (RFC 6578 §3.7).
    pub limit: Option<u32>,
    pub props: Vec<PropName>,
}

/// `DAV:sync-level` (RFC 6578 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncLevel {
    One,
    Infinite,
}

/// The options of a requested `CALDAV:calendar-data` (RFC 4791 §9.6).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CalendarDataRequest {
    /// `content-type` and `version`, when given (`text/calendar`, `2.0` by default).
    pub content_type: Option<String>,
    pub version: Option<String>,
    /// Partial retrieval (RFC 4791 §9.6.1): `None` is the whole object.
    pub comp: Option<CalendarComp>,
    /// RFC 4791 §9.6.5.
    pub expand: Option<TimeRange>,
    /// RFC 4791 §9.6.6.
    pub limit_recurrence_set: Option<TimeRange>,
    /// RFC 4791 §9.6.7.
    pub limit_freebusy_set: Option<TimeRange>,
}

/// A `CALDAV:comp` of a calendar-data request (RFC 4791 §9.6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarComp {
    pub name: String,
    /// The property names to return; `None` is allprop.
    pub props: Option<Vec<String>>,
    /// The subcomponents to return; `None` is allcomp.
    pub comps: Option<Vec<CalendarComp>>,
}

/// The options of a requested `CARDDAV:address-data` (RFC 6352 §10.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressDataRequest {
    pub content_type: Option<String>,
    pub version: Option<String>,
    /// The vCard property names to return; `None` is allprop.
    pub props: Option<Vec<String>>,
}

/// A REPORT body.
pub fn parse_report(body: &[u8], limits: &XmlLimits) -> Result<Report, XmlError> {
    let root = tree::parse(body, limits)?
        .ok_or_else(|| XmlError::Invalid("an empty REPORT body".into()))?;
    let known = [
        ReportName::CalendarQuery,
        ReportName::CalendarMultiget,
        ReportName::FreeBusyQuery,
        ReportName::AddressbookQuery,
        ReportName::AddressbookMultiget,
        ReportName::SyncCollection,
    ]
    .into_iter()
    .find(|name| root.is(name.namespace(), name.local_name()));
    let Some(name) = known else {
        return Err(XmlError::UnsupportedReport {
            ns: root.ns,
            local: root.local,
        });
    };
    expect_root(&root, name.namespace(), name.local_name())?;
    Ok(match name {
        ReportName::CalendarQuery => Report::CalendarQuery(calendar_query(&root)?),
        ReportName::CalendarMultiget => Report::CalendarMultiget(CalendarMultiget {
            props: report_props(&root)?,
            calendar_data: calendar_data(&root)?,
            hrefs: hrefs(&root)?,
        }),
        ReportName::FreeBusyQuery => Report::FreeBusyQuery(FreeBusyQuery {
            time_range: filter::time_range(required_child(
                &root,
                Namespace::CalDav,
                "time-range",
            )?)?,
        }),
        ReportName::AddressbookQuery => Report::AddressbookQuery(AddressbookQuery {
            props: report_props(&root)?,
            address_data: address_data(&root)?,
            filter: filter::addressbook_filter(required_child(
                &root,
                Namespace::CardDav,
                "filter",
            )?)?,
            limit: root
                .child(Namespace::CardDav, "limit")
                .map(|limit| nresults(limit, Namespace::CardDav))
                .transpose()?,
        }),
        ReportName::AddressbookMultiget => Report::AddressbookMultiget(AddressbookMultiget {
            props: report_props(&root)?,
            address_data: address_data(&root)?,
            hrefs: hrefs(&root)?,
        }),
        ReportName::SyncCollection => Report::SyncCollection(sync_collection(&root)?),
    })
}

fn calendar_query(root: &Element) -> Result<CalendarQuery, XmlError> {
    Ok(CalendarQuery {
        props: report_props(root)?,
        calendar_data: calendar_data(root)?,
        filter: filter::calendar_filter(required_child(root, Namespace::CalDav, "filter")?)?,
        timezone: root
            .child(Namespace::CalDav, "timezone")
            .map(|tz| tz.text.clone()),
    })
}

fn sync_collection(root: &Element) -> Result<SyncCollection, XmlError> {
    let sync_token = required_child(root, Namespace::Dav, "sync-token")?
        .text
        .trim()
        .to_string();
    let sync_level = match required_child(root, Namespace::Dav, "sync-level")?
        .text
        .trim()
    {
        "1" => SyncLevel::One,
        "infinite" => SyncLevel::Infinite,
        other => return Err(XmlError::Invalid(format!("sync-level {other}"))),
    };
    Ok(SyncCollection {
        sync_token,
        sync_level,
        limit: root
            .child(Namespace::Dav, "limit")
            .map(|limit| nresults(limit, Namespace::Dav))
            .transpose()?,
        props: names_in(required_child(root, Namespace::Dav, "prop")?),
    })
}

/// A report's allprop / propname / prop; a report without one asks for nothing but hrefs.
fn report_props(root: &Element) -> Result<Propfind, XmlError> {
    Ok(props_of(root)?.unwrap_or(Propfind::Prop(Vec::new())))
}

/// The requested `CALDAV:calendar-data` inside `DAV:prop`, if any.
fn calendar_data(root: &Element) -> Result<Option<CalendarDataRequest>, XmlError> {
    let Some(data) = root
        .child(Namespace::Dav, "prop")
        .and_then(|prop| prop.child(Namespace::CalDav, "calendar-data"))
    else {
        return Ok(None);
    };
    let range = |local| {
        data.child(Namespace::CalDav, local)
            .map(filter::closed_time_range)
            .transpose()
    };
    Ok(Some(CalendarDataRequest {
        content_type: data.attr("content-type").map(str::to_string),
        version: data.attr("version").map(str::to_string),
        comp: data
            .child(Namespace::CalDav, "comp")
            .map(calendar_comp)
            .transpose()?,
        expand: range("expand")?,
        limit_recurrence_set: range("limit-recurrence-set")?,
        limit_freebusy_set: range("limit-freebusy-set")?,
    }))
}

fn calendar_comp(comp: &Element) -> Result<CalendarComp, XmlError> {
    let props = if comp.child(Namespace::CalDav, "allprop").is_some() {
        None
    } else {
        Some(
            comp.children_named(Namespace::CalDav, "prop")
                .map(|p| required_attr(p, "name").map(str::to_string))
                .collect::<Result<_, _>>()?,
        )
    };
    let comps = if comp.child(Namespace::CalDav, "allcomp").is_some() {
        None
    } else {
        Some(
            comp.children_named(Namespace::CalDav, "comp")
                .map(calendar_comp)
                .collect::<Result<_, _>>()?,
        )
    };
    Ok(CalendarComp {
        name: required_attr(comp, "name")?.to_string(),
        props,
        comps,
    })
}

/// The requested `CARDDAV:address-data` inside `DAV:prop`, if any.
fn address_data(root: &Element) -> Result<Option<AddressDataRequest>, XmlError> {
    let Some(data) = root
        .child(Namespace::Dav, "prop")
        .and_then(|prop| prop.child(Namespace::CardDav, "address-data"))
    else {
        return Ok(None);
    };
    let props = if data.child(Namespace::CardDav, "allprop").is_some() {
        None
    } else {
        let names: Vec<String> = data
            .children_named(Namespace::CardDav, "prop")
            .map(|p| required_attr(p, "name").map(str::to_string))
            .collect::<Result<_, _>>()?;
        // RFC 6352 §10.4: no prop element means the whole vCard.
        (!names.is_empty()).then_some(names)
    };
    Ok(Some(AddressDataRequest {
        content_type: data.attr("content-type").map(str::to_string),
        version: data.attr("version").map(str::to_string),
        props,
    }))
}

/// The `DAV:href`s of a multiget: at least one (RFC 4791 §9.10, RFC 6352 §10.7).
fn hrefs(root: &Element) -> Result<Vec<String>, XmlError> {
    let hrefs: Vec<String> = root
        .children_named(Namespace::Dav, "href")
        .map(|href| href.text.trim().to_string())
        .collect();
    if hrefs.is_empty() {
        return Err(XmlError::Invalid("a multiget without an href".into()));
    }
    Ok(hrefs)
}

fn nresults(limit: &Element, ns: Namespace) -> Result<u32, XmlError> {
    let text = required_child(limit, ns, "nresults")?.text.trim();
    text.parse()
        .map_err(|_| XmlError::Invalid(format!("nresults {text}")))
}

fn required_child<'a>(
    parent: &'a Element,
    ns: Namespace,
    local: &str,
) -> Result<&'a Element, XmlError> {
    parent.child(ns, local).ok_or_else(|| {
        XmlError::Invalid(format!(
            "{} without {{{}}}{local}",
            parent.describe(),
            ns.uri()
        ))
    })
}
