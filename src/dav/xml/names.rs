//! The names of WebDAV's XML: the namespaces we answer in, the properties we serve (any other
//! stays a qualified name, so an unknown property round-trips as a 404 propstat), the reports
//! and the resource types.

/// The namespaces we write with a fixed prefix (the multistatus root declares them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// `DAV:` (RFC 4918 §21).
    Dav,
    /// `urn:ietf:params:xml:ns:caldav` (RFC 4791 §4).
    CalDav,
    /// `urn:ietf:params:xml:ns:carddav` (RFC 6352 §5).
    CardDav,
    /// `http://calendarserver.org/ns/` (`getctag`).
    CalendarServer,
    /// `http://apple.com/ns/ical/` (calendar colour and order).
    AppleIcal,
}

impl Namespace {
    pub const ALL: [Namespace; 5] = [
        Namespace::Dav,
        Namespace::CalDav,
        Namespace::CardDav,
        Namespace::CalendarServer,
        Namespace::AppleIcal,
    ];

    pub fn uri(self) -> &'static str {
        match self {
            Namespace::Dav => "DAV:",
            Namespace::CalDav => "urn:ietf:params:xml:ns:caldav",
            Namespace::CardDav => "urn:ietf:params:xml:ns:carddav",
            Namespace::CalendarServer => "http://calendarserver.org/ns/",
            Namespace::AppleIcal => "http://apple.com/ns/ical/",
        }
    }

    /// The prefix our documents bind it to.
    pub fn prefix(self) -> &'static str {
        match self {
            Namespace::Dav => "d",
            Namespace::CalDav => "c",
            Namespace::CardDav => "card",
            Namespace::CalendarServer => "cs",
            Namespace::AppleIcal => "ical",
        }
    }

    pub fn from_uri(uri: &str) -> Option<Namespace> {
        Namespace::ALL.into_iter().find(|ns| ns.uri() == uri)
    }
}

/// A property name: one we serve, or any other qualified name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PropName {
    ResourceType,
    DisplayName,
    GetEtag,
    GetContentType,
    GetContentLength,
    GetLastModified,
    CreationDate,
    /// RFC 5397.
    CurrentUserPrincipal,
    /// RFC 3744 §5.4.
    CurrentUserPrivilegeSet,
    /// RFC 3744 §4.2.
    PrincipalUrl,
    /// RFC 3744 §5.8.
    PrincipalCollectionSet,
    Owner,
    /// RFC 3253 §3.1.5.
    SupportedReportSet,
    /// RFC 6578 §4.
    SyncToken,
    /// RFC 4331.
    QuotaAvailableBytes,
    QuotaUsedBytes,
    /// RFC 5995 §3.2.1.
    AddMember,
    CalendarHomeSet,
    CalendarDescription,
    CalendarTimezone,
    SupportedCalendarComponentSet,
    SupportedCalendarData,
    CalendarMaxResourceSize,
    /// RFC 6638 §2.4.1.
    CalendarUserAddressSet,
    ScheduleInboxUrl,
    ScheduleOutboxUrl,
    /// RFC 4791 §9.6 (in REPORTs; its options are in [`super::CalendarDataRequest`]).
    CalendarData,
    AddressbookHomeSet,
    AddressbookDescription,
    SupportedAddressData,
    AddressbookMaxResourceSize,
    /// RFC 6352 §10.4 (in REPORTs; its options are in [`super::AddressDataRequest`]).
    AddressData,
    GetCtag,
    CalendarColor,
    CalendarOrder,
    /// Anything else, kept as sent: `ns` is the namespace URI ("" when none).
    Other {
        ns: String,
        local: String,
    },
}

/// The properties we serve, by namespace and local name.
const KNOWN: &[(PropName, Namespace, &str)] = &[
    (PropName::ResourceType, Namespace::Dav, "resourcetype"),
    (PropName::DisplayName, Namespace::Dav, "displayname"),
    (PropName::GetEtag, Namespace::Dav, "getetag"),
    (PropName::GetContentType, Namespace::Dav, "getcontenttype"),
    (
        PropName::GetContentLength,
        Namespace::Dav,
        "getcontentlength",
    ),
    (PropName::GetLastModified, Namespace::Dav, "getlastmodified"),
    (PropName::CreationDate, Namespace::Dav, "creationdate"),
    (
        PropName::PrincipalCollectionSet,
        Namespace::Dav,
        "principal-collection-set",
    ),
    (
        PropName::CurrentUserPrincipal,
        Namespace::Dav,
        "current-user-principal",
    ),
    (
        PropName::CurrentUserPrivilegeSet,
        Namespace::Dav,
        "current-user-privilege-set",
    ),
    (PropName::PrincipalUrl, Namespace::Dav, "principal-URL"),
    (PropName::Owner, Namespace::Dav, "owner"),
    (
        PropName::SupportedReportSet,
        Namespace::Dav,
        "supported-report-set",
    ),
    (PropName::SyncToken, Namespace::Dav, "sync-token"),
    (
        PropName::QuotaAvailableBytes,
        Namespace::Dav,
        "quota-available-bytes",
    ),
    (PropName::QuotaUsedBytes, Namespace::Dav, "quota-used-bytes"),
    (PropName::AddMember, Namespace::Dav, "add-member"),
    (
        PropName::CalendarHomeSet,
        Namespace::CalDav,
        "calendar-home-set",
    ),
    (
        PropName::CalendarDescription,
        Namespace::CalDav,
        "calendar-description",
    ),
    (
        PropName::CalendarTimezone,
        Namespace::CalDav,
        "calendar-timezone",
    ),
    (
        PropName::SupportedCalendarComponentSet,
        Namespace::CalDav,
        "supported-calendar-component-set",
    ),
    (
        PropName::SupportedCalendarData,
        Namespace::CalDav,
        "supported-calendar-data",
    ),
    (
        PropName::CalendarMaxResourceSize,
        Namespace::CalDav,
        "max-resource-size",
    ),
    (
        PropName::CalendarUserAddressSet,
        Namespace::CalDav,
        "calendar-user-address-set",
    ),
    (
        PropName::ScheduleInboxUrl,
        Namespace::CalDav,
        "schedule-inbox-URL",
    ),
    (
        PropName::ScheduleOutboxUrl,
        Namespace::CalDav,
        "schedule-outbox-URL",
    ),
    (PropName::CalendarData, Namespace::CalDav, "calendar-data"),
    (
        PropName::AddressbookHomeSet,
        Namespace::CardDav,
        "addressbook-home-set",
    ),
    (
        PropName::AddressbookDescription,
        Namespace::CardDav,
        "addressbook-description",
    ),
    (
        PropName::SupportedAddressData,
        Namespace::CardDav,
        "supported-address-data",
    ),
    (
        PropName::AddressbookMaxResourceSize,
        Namespace::CardDav,
        "max-resource-size",
    ),
    (PropName::AddressData, Namespace::CardDav, "address-data"),
    (PropName::GetCtag, Namespace::CalendarServer, "getctag"),
    (
        PropName::CalendarColor,
        Namespace::AppleIcal,
        "calendar-color",
    ),
    (
        PropName::CalendarOrder,
        Namespace::AppleIcal,
        "calendar-order",
    ),
];

impl PropName {
    /// The property named `local` in namespace `ns`.
    pub fn new(ns: &str, local: &str) -> PropName {
        KNOWN
            .iter()
            .find(|(_, known_ns, known)| known_ns.uri() == ns && *known == local)
            .map(|(name, _, _)| name.clone())
            .unwrap_or_else(|| PropName::Other {
                ns: ns.to_string(),
                local: local.to_string(),
            })
    }

    /// The namespace we write it in, when it is one of ours.
    pub fn namespace(&self) -> Option<Namespace> {
        match self {
            PropName::Other { ns, .. } => Namespace::from_uri(ns),
            known => KNOWN
                .iter()
                .find(|(name, _, _)| name == known)
                .map(|(_, ns, _)| *ns),
        }
    }

    /// The namespace URI ("" for none).
    pub fn namespace_uri(&self) -> &str {
        match self {
            PropName::Other { ns, .. } => ns,
            _ => self.namespace().map_or("", Namespace::uri),
        }
    }

    pub fn local_name(&self) -> &str {
        match self {
            PropName::Other { local, .. } => local,
            known => KNOWN
                .iter()
                .find(|(name, _, _)| name == known)
                .map_or("", |(_, _, local)| local),
        }
    }
}

/// The REPORTs we serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportName {
    /// RFC 4791 §7.8.
    CalendarQuery,
    /// RFC 4791 §7.9.
    CalendarMultiget,
    /// RFC 4791 §7.10.
    FreeBusyQuery,
    /// RFC 6352 §8.6.
    AddressbookQuery,
    /// RFC 6352 §8.7.
    AddressbookMultiget,
    /// RFC 6578 §3.2.
    SyncCollection,
}

impl ReportName {
    pub fn namespace(self) -> Namespace {
        match self {
            ReportName::CalendarQuery
            | ReportName::CalendarMultiget
            | ReportName::FreeBusyQuery => Namespace::CalDav,
            ReportName::AddressbookQuery | ReportName::AddressbookMultiget => Namespace::CardDav,
            ReportName::SyncCollection => Namespace::Dav,
        }
    }

    pub fn local_name(self) -> &'static str {
        match self {
            ReportName::CalendarQuery => "calendar-query",
            ReportName::CalendarMultiget => "calendar-multiget",
            ReportName::FreeBusyQuery => "free-busy-query",
            ReportName::AddressbookQuery => "addressbook-query",
            ReportName::AddressbookMultiget => "addressbook-multiget",
            ReportName::SyncCollection => "sync-collection",
        }
    }
}

/// A `DAV:resourcetype` member (RFC 4918 §15.9, RFC 4791 §4.2, RFC 6352 §5.2, RFC 3744 §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResourceType {
    Collection,
    Principal,
    Calendar,
    Addressbook,
    /// RFC 6638 §2.1 / §2.2.
    ScheduleInbox,
    ScheduleOutbox,
    Other {
        ns: String,
        local: String,
    },
}

impl ResourceType {
    pub fn new(ns: &str, local: &str) -> ResourceType {
        match (Namespace::from_uri(ns), local) {
            (Some(Namespace::Dav), "collection") => ResourceType::Collection,
            (Some(Namespace::Dav), "principal") => ResourceType::Principal,
            (Some(Namespace::CalDav), "calendar") => ResourceType::Calendar,
            (Some(Namespace::CalDav), "schedule-inbox") => ResourceType::ScheduleInbox,
            (Some(Namespace::CalDav), "schedule-outbox") => ResourceType::ScheduleOutbox,
            (Some(Namespace::CardDav), "addressbook") => ResourceType::Addressbook,
            _ => ResourceType::Other {
                ns: ns.to_string(),
                local: local.to_string(),
            },
        }
    }

    /// Its namespace URI and local name.
    pub fn name(&self) -> (&str, &str) {
        match self {
            ResourceType::Collection => (Namespace::Dav.uri(), "collection"),
            ResourceType::Principal => (Namespace::Dav.uri(), "principal"),
            ResourceType::Calendar => (Namespace::CalDav.uri(), "calendar"),
            ResourceType::ScheduleInbox => (Namespace::CalDav.uri(), "schedule-inbox"),
            ResourceType::ScheduleOutbox => (Namespace::CalDav.uri(), "schedule-outbox"),
            ResourceType::Addressbook => (Namespace::CardDav.uri(), "addressbook"),
            ResourceType::Other { ns, local } => (ns, local),
        }
    }
}
