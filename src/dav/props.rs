//! The properties of every place (RFC 4918 §15, RFC 5397 `current-user-principal`, RFC 4791
//! §5.2 and §6.2.1, RFC 6352 §6.2 and §7.1.1, RFC 3744 `current-user-privilege-set`, RFC
//! 6578 `sync-token`, calendarserver `getctag`) and the PROPFIND answer built from them.
//!
//! What only the store knows — a collection's state and stored properties, an object's
//! entity tag, size and date — comes in as [`Facts`]. Pure: never does IO.

use super::path::{
    calendar_home, contacts_home, principal, DavPath, DEFAULT_COLLECTION, SCHEDULE_INBOX,
    SCHEDULE_OUTBOX,
};
use super::query::CollectionState;
use super::xml::{
    MediaType, Multistatus, Privilege, PropName, PropStat, PropValue, Propfind, RawXml, ReportName,
    ResourceType,
};

/// What the store says of a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionFacts {
    pub state: CollectionState,
    /// `supported-calendar-component-set` of a calendar (names like `VEVENT`).
    pub components: Vec<String>,
    /// The properties clients set (PROPPATCH, MKCALENDAR, extended MKCOL), as sent.
    pub stored: Vec<(PropName, RawXml)>,
    /// `max-resource-size`.
    pub max_size: usize,
}

/// What the store says of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFacts {
    pub etag: String,
    pub content_type: &'static str,
    pub length: u64,
    /// When it was stored (Unix seconds); written as an HTTP date when asked for.
    pub modified: i64,
    /// `calendar-data` / `address-data` for a REPORT that asks for it.
    pub data: Option<String>,
}

/// The store's part of a place's properties.
#[derive(Debug, Clone, Copy)]
pub enum Facts<'a> {
    /// The roots, the principal, the homes.
    None,
    Collection(&'a CollectionFacts),
    Object(&'a ObjectFacts),
}

/// Properties a client may set on a collection (everything else we serve is live and
/// protected, RFC 4918 §15; names we do not serve are dead properties and may be set).
pub fn writable(name: &PropName) -> bool {
    matches!(
        name,
        PropName::DisplayName
            | PropName::CalendarDescription
            | PropName::CalendarTimezone
            | PropName::CalendarColor
            | PropName::CalendarOrder
            | PropName::AddressbookDescription
            | PropName::Other { .. }
    )
}

/// A property's value at `place` for `account` (its owner, already checked), or `None`
/// when the place has no such property.
fn value(place: &DavPath, account: &str, name: &PropName, facts: Facts<'_>) -> Option<PropValue> {
    use DavPath as P;
    use PropName as N;
    match facts {
        Facts::Collection(c) => {
            if let Some((_, raw)) = c.stored.iter().find(|(n, _)| n == name) {
                return Some(PropValue::Xml(raw.clone()));
            }
            match name {
                N::GetCtag => return Some(PropValue::Text(c.state.ctag())),
                N::SyncToken => return Some(PropValue::Text(c.state.sync_token())),
                N::SupportedCalendarComponentSet if matches!(place, P::Calendar { .. }) => {
                    return Some(PropValue::CalendarComponents(c.components.clone()))
                }
                N::CalendarMaxResourceSize if matches!(place, P::Calendar { .. }) => {
                    return Some(PropValue::Text(c.max_size.to_string()))
                }
                N::AddressbookMaxResourceSize if matches!(place, P::AddressBook { .. }) => {
                    return Some(PropValue::Text(c.max_size.to_string()))
                }
                _ => {}
            }
        }
        Facts::Object(o) => {
            return match name {
                N::ResourceType => Some(PropValue::ResourceType(Vec::new())),
                N::GetEtag => Some(PropValue::Text(o.etag.clone())),
                N::GetContentType => Some(PropValue::Text(o.content_type.into())),
                N::GetContentLength => Some(PropValue::Text(o.length.to_string())),
                N::GetLastModified => Some(PropValue::Text(crate::date::http_date(o.modified))),
                N::CurrentUserPrincipal => Some(PropValue::Href(principal(account))),
                N::CurrentUserPrivilegeSet => Some(privileges()),
                N::CalendarData if matches!(place, P::CalendarObject { .. }) => {
                    o.data.clone().map(PropValue::Data)
                }
                N::AddressData if matches!(place, P::Card { .. }) => {
                    o.data.clone().map(PropValue::Data)
                }
                _ => None,
            };
        }
        Facts::None => {}
    }
    if let Some(which) = place.scheduling() {
        return match name {
            N::ResourceType => Some(PropValue::ResourceType(vec![
                ResourceType::Collection,
                if which == SCHEDULE_INBOX {
                    ResourceType::ScheduleInbox
                } else {
                    ResourceType::ScheduleOutbox
                },
            ])),
            N::DisplayName => Some(PropValue::Text(which.into())),
            N::CurrentUserPrincipal => Some(PropValue::Href(principal(account))),
            N::CurrentUserPrivilegeSet => Some(privileges()),
            N::Owner => place.user().map(|u| PropValue::Href(principal(u))),
            _ => None,
        };
    }
    let collection = |types: &[ResourceType]| {
        let mut all = vec![ResourceType::Collection];
        all.extend_from_slice(types);
        PropValue::ResourceType(all)
    };
    Some(match (place, name) {
        (_, N::CurrentUserPrincipal) => PropValue::Href(principal(account)),
        (_, N::PrincipalCollectionSet) => PropValue::Hrefs(vec![super::path::DAV_ROOT.into()]),
        (P::Root | P::DavRoot, N::ResourceType) => collection(&[]),
        (P::Principal { .. }, N::ResourceType) => collection(&[ResourceType::Principal]),
        (P::Principal { user }, N::DisplayName) => PropValue::Text(user.clone()),
        (P::Principal { user }, N::PrincipalUrl) => PropValue::Href(principal(user)),
        (P::Principal { user }, N::CalendarHomeSet) => PropValue::Hrefs(vec![calendar_home(user)]),
        (P::Principal { user }, N::AddressbookHomeSet) => {
            PropValue::Hrefs(vec![contacts_home(user)])
        }
        (P::Principal { user }, N::ScheduleInboxUrl) => {
            PropValue::Href(format!("{}{SCHEDULE_INBOX}/", calendar_home(user)))
        }
        (P::Principal { user }, N::ScheduleOutboxUrl) => {
            PropValue::Href(format!("{}{SCHEDULE_OUTBOX}/", calendar_home(user)))
        }
        (P::Principal { user }, N::CalendarUserAddressSet) => {
            PropValue::Hrefs(vec![format!("mailto:{user}"), principal(user)])
        }
        (P::CalendarHome { .. } | P::ContactsHome { .. }, N::ResourceType) => collection(&[]),
        (P::CalendarHome { .. }, N::DisplayName) => PropValue::Text("Calendar".into()),
        (P::ContactsHome { .. }, N::DisplayName) => PropValue::Text("Contacts".into()),
        (P::Calendar { .. }, N::ResourceType) => collection(&[ResourceType::Calendar]),
        (P::Calendar { collection, .. }, N::DisplayName) => {
            PropValue::Text(if collection == DEFAULT_COLLECTION {
                "Personal Calendar".into()
            } else {
                collection.clone()
            })
        }
        (P::Calendar { .. }, N::SupportedCalendarComponentSet) => {
            PropValue::CalendarComponents(vec!["VEVENT".into(), "VTODO".into()])
        }
        (P::Calendar { .. }, N::SupportedCalendarData) => {
            PropValue::CalendarDataTypes(vec![MediaType {
                content_type: "text/calendar".into(),
                version: "2.0".into(),
            }])
        }
        (P::Calendar { .. }, N::SupportedReportSet) => PropValue::Reports(vec![
            ReportName::CalendarQuery,
            ReportName::CalendarMultiget,
            ReportName::FreeBusyQuery,
            ReportName::SyncCollection,
        ]),
        (P::AddressBook { .. }, N::ResourceType) => collection(&[ResourceType::Addressbook]),
        (P::AddressBook { collection, .. }, N::DisplayName) => {
            PropValue::Text(if collection == DEFAULT_COLLECTION {
                "Personal Address Book".into()
            } else {
                collection.clone()
            })
        }
        (P::AddressBook { .. }, N::SupportedAddressData) => PropValue::AddressDataTypes(
            ["3.0", "4.0"]
                .into_iter()
                .map(|version| MediaType {
                    content_type: "text/vcard".into(),
                    version: version.into(),
                })
                .collect(),
        ),
        (P::AddressBook { .. }, N::SupportedReportSet) => PropValue::Reports(vec![
            ReportName::AddressbookQuery,
            ReportName::AddressbookMultiget,
            ReportName::SyncCollection,
        ]),
        (
            P::Principal { .. }
            | P::CalendarHome { .. }
            | P::ContactsHome { .. }
            | P::Calendar { .. }
            | P::AddressBook { .. },
            N::CurrentUserPrivilegeSet,
        ) => privileges(),
        (
            P::CalendarHome { user }
            | P::ContactsHome { user }
            | P::Calendar { user, .. }
            | P::AddressBook { user, .. },
            N::Owner,
        ) => PropValue::Href(principal(user)),
        _ => return None,
    })
}

/// What the owner may do anywhere in their own tree (RFC 3744 §5.4).
fn privileges() -> PropValue {
    PropValue::Privileges(vec![
        Privilege::Read,
        Privilege::Write,
        Privilege::WriteProperties,
        Privilege::WriteContent,
        Privilege::Bind,
        Privilege::Unbind,
        Privilege::ReadCurrentUserPrivilegeSet,
        Privilege::ReadFreeBusy,
    ])
}

/// What `allprop` shows at a place: the properties it has, in this order.
const ALLPROP: &[PropName] = &[
    PropName::ResourceType,
    PropName::DisplayName,
    PropName::CurrentUserPrincipal,
    PropName::PrincipalUrl,
    PropName::CalendarHomeSet,
    PropName::AddressbookHomeSet,
    PropName::CalendarUserAddressSet,
    PropName::ScheduleInboxUrl,
    PropName::ScheduleOutboxUrl,
    PropName::SupportedCalendarComponentSet,
    PropName::SupportedCalendarData,
    PropName::CalendarMaxResourceSize,
    PropName::SupportedAddressData,
    PropName::AddressbookMaxResourceSize,
    PropName::SupportedReportSet,
    PropName::CurrentUserPrivilegeSet,
    PropName::Owner,
    PropName::GetCtag,
    PropName::SyncToken,
    PropName::CalendarDescription,
    PropName::CalendarColor,
    PropName::CalendarOrder,
    PropName::AddressbookDescription,
    PropName::GetEtag,
    PropName::GetContentType,
    PropName::GetContentLength,
    PropName::GetLastModified,
];

/// The homes one level below a principal (PROPFIND `Depth: 1`); a home's collections and a
/// collection's objects are the store's.
pub fn principal_children(user: &str) -> Vec<DavPath> {
    vec![
        DavPath::CalendarHome { user: user.into() },
        DavPath::ContactsHome { user: user.into() },
    ]
}

/// The propstats of `place` for `request`.
pub fn propstats(
    place: &DavPath,
    account: &str,
    request: &Propfind,
    facts: Facts<'_>,
) -> Vec<PropStat> {
    let stored = match facts {
        Facts::Collection(c) => c.stored.iter().map(|(n, _)| n.clone()).collect(),
        _ => Vec::new(),
    };
    match request {
        Propfind::PropName => PropStat::group(
            ALLPROP
                .iter()
                .chain(stored.iter().filter(|n| !ALLPROP.contains(n)))
                .filter(|n| value(place, account, n, facts).is_some())
                .map(|n| (n.clone(), Ok(PropValue::Empty))),
        ),
        Propfind::AllProp { include } => PropStat::group(
            ALLPROP
                .iter()
                .chain(stored.iter().filter(|n| !ALLPROP.contains(n)))
                .chain(include.iter().filter(|n| !ALLPROP.contains(n)))
                .filter_map(|n| value(place, account, n, facts).map(|v| (n.clone(), Ok(v)))),
        ),
        Propfind::Prop(names) => PropStat::group(
            names
                .iter()
                .map(|n| (n.clone(), value(place, account, n, facts).ok_or(404))),
        ),
    }
}

/// Adds one response per place to a multistatus.
pub fn respond(
    body: &mut Multistatus,
    place: &DavPath,
    account: &str,
    request: &Propfind,
    facts: Facts<'_>,
) {
    body.response(&place.href(), &propstats(place, account, request, facts));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ALICE: &str = "alice@example.com";

    fn propfind(place: &DavPath, asked: &Propfind, facts: Facts<'_>) -> String {
        let mut body = Multistatus::new();
        respond(&mut body, place, ALICE, asked, facts);
        String::from_utf8(body.finish()).unwrap()
    }

    #[test]
    fn the_principal_names_its_homes_and_the_roots_name_the_principal() {
        let principal = DavPath::Principal { user: ALICE.into() };
        let asked = Propfind::Prop(vec![
            PropName::CalendarHomeSet,
            PropName::AddressbookHomeSet,
            PropName::CurrentUserPrincipal,
            PropName::GetCtag,
        ]);
        let body = propfind(&principal, &asked, Facts::None);
        assert!(
            body.contains("<d:href>/SOGo/dav/alice@example.com/Calendar/</d:href>"),
            "{body}"
        );
        assert!(body.contains("<d:href>/SOGo/dav/alice@example.com/Contacts/</d:href>"));
        assert!(
            body.contains("HTTP/1.1 404 Not Found"),
            "a principal has no getctag: {body}"
        );
        let root = propfind(&DavPath::Root, &asked, Facts::None);
        assert!(root.contains(
            "<d:current-user-principal><d:href>/SOGo/dav/alice@example.com/</d:href></d:current-user-principal>"
        ), "{root}");
    }

    #[test]
    fn a_collection_shows_its_state_and_stored_properties() {
        let calendar = DavPath::Calendar {
            user: ALICE.into(),
            collection: "work".into(),
        };
        let facts = CollectionFacts {
            state: CollectionState {
                validity: 7,
                modseq: 42,
            },
            components: vec!["VTODO".into()],
            stored: vec![(
                PropName::CalendarColor,
                RawXml::from_stored(b"#ff0000".to_vec()),
            )],
            max_size: 1 << 20,
        };
        let body = propfind(
            &calendar,
            &Propfind::AllProp {
                include: Vec::new(),
            },
            Facts::Collection(&facts),
        );
        assert!(body.contains("<c:calendar/>"), "{body}");
        assert!(body.contains("<c:comp name=\"VTODO\"/>"), "{body}");
        assert!(body.contains(">7-42<"), "{body}");
        assert!(body.contains("urn:ringpost:sync:7-42"), "{body}");
        assert!(body.contains("#ff0000"), "{body}");
        assert!(
            body.contains("<d:displayname>work</d:displayname>"),
            "{body}"
        );
    }
}
