//! The live properties of the places discovery walks — the roots, the principal, the two
//! homes and the default collections — and the PROPFIND answer built from them (RFC 4918
//! §9.1, RFC 5397 `current-user-principal`, RFC 4791 §6.2.1 and RFC 6352 §7.1.1 home sets,
//! RFC 3744 `current-user-privilege-set`).
//!
//! Only properties known without a store are here: `getctag`, `sync-token` and the objects
//! come with storage (issue 17), and until then are answered 404 like any unknown property.
//! Pure: never does IO.

use super::path::{calendar_home, contacts_home, principal, DavPath, DEFAULT_COLLECTION};
use super::xml::{
    MediaType, Multistatus, Privilege, PropName, PropStat, PropValue, Propfind, ReportName,
    ResourceType,
};

/// Largest object a collection takes (`max-resource-size`, RFC 4791 §5.2.5).
pub const MAX_RESOURCE_SIZE: usize = 1 << 20;

/// A property's value at `place` for `account` (its owner, already checked), or `None`
/// when the place has no such property.
fn value(place: &DavPath, account: &str, name: &PropName) -> Option<PropValue> {
    use DavPath as P;
    use PropName as N;
    let privileges = || {
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
    };
    let collection = |types: &[ResourceType]| {
        let mut all = vec![ResourceType::Collection];
        all.extend_from_slice(types);
        PropValue::ResourceType(all)
    };
    Some(match (place, name) {
        (_, N::CurrentUserPrincipal) => PropValue::Href(principal(account)),
        (P::Root | P::DavRoot, N::ResourceType) => collection(&[]),
        (P::Principal { .. }, N::ResourceType) => collection(&[ResourceType::Principal]),
        (P::Principal { user }, N::DisplayName) => PropValue::Text(user.clone()),
        (P::Principal { user }, N::PrincipalUrl) => PropValue::Href(principal(user)),
        (P::Principal { user }, N::CalendarHomeSet) => PropValue::Hrefs(vec![calendar_home(user)]),
        (P::Principal { user }, N::AddressbookHomeSet) => {
            PropValue::Hrefs(vec![contacts_home(user)])
        }
        (P::Principal { user }, N::CalendarUserAddressSet) => {
            PropValue::Hrefs(vec![format!("mailto:{user}"), principal(user)])
        }
        (P::CalendarHome { .. } | P::ContactsHome { .. }, N::ResourceType) => collection(&[]),
        (P::CalendarHome { .. }, N::DisplayName) => PropValue::Text("Calendar".into()),
        (P::ContactsHome { .. }, N::DisplayName) => PropValue::Text("Contacts".into()),
        (P::Calendar { .. }, N::ResourceType) => collection(&[ResourceType::Calendar]),
        (P::Calendar { .. }, N::DisplayName) => PropValue::Text("Personal Calendar".into()),
        (P::Calendar { .. }, N::SupportedCalendarComponentSet) => {
            PropValue::CalendarComponents(vec!["VEVENT".into(), "VTODO".into()])
        }
        (P::Calendar { .. }, N::SupportedCalendarData) => {
            PropValue::CalendarDataTypes(vec![MediaType {
                content_type: "text/calendar".into(),
                version: "2.0".into(),
            }])
        }
        (P::Calendar { .. }, N::CalendarMaxResourceSize) => {
            PropValue::Text(MAX_RESOURCE_SIZE.to_string())
        }
        (P::Calendar { .. }, N::SupportedReportSet) => PropValue::Reports(vec![
            ReportName::CalendarQuery,
            ReportName::CalendarMultiget,
            ReportName::FreeBusyQuery,
            ReportName::SyncCollection,
        ]),
        (P::AddressBook { .. }, N::ResourceType) => collection(&[ResourceType::Addressbook]),
        (P::AddressBook { .. }, N::DisplayName) => PropValue::Text("Personal Address Book".into()),
        (P::AddressBook { .. }, N::SupportedAddressData) => PropValue::AddressDataTypes(
            ["3.0", "4.0"]
                .into_iter()
                .map(|version| MediaType {
                    content_type: "text/vcard".into(),
                    version: version.into(),
                })
                .collect(),
        ),
        (P::AddressBook { .. }, N::AddressbookMaxResourceSize) => {
            PropValue::Text(MAX_RESOURCE_SIZE.to_string())
        }
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

/// What `allprop` shows at a place: the properties it has, in this order.
const ALLPROP: &[PropName] = &[
    PropName::ResourceType,
    PropName::DisplayName,
    PropName::CurrentUserPrincipal,
    PropName::PrincipalUrl,
    PropName::CalendarHomeSet,
    PropName::AddressbookHomeSet,
    PropName::CalendarUserAddressSet,
    PropName::SupportedCalendarComponentSet,
    PropName::SupportedCalendarData,
    PropName::CalendarMaxResourceSize,
    PropName::SupportedAddressData,
    PropName::AddressbookMaxResourceSize,
    PropName::SupportedReportSet,
    PropName::CurrentUserPrivilegeSet,
    PropName::Owner,
];

/// The places one level below `place` (PROPFIND `Depth: 1`) that exist without a store:
/// the homes under the principal, the default collection under each home.
pub fn children(place: &DavPath) -> Vec<DavPath> {
    match place {
        DavPath::Principal { user } => vec![
            DavPath::CalendarHome { user: user.clone() },
            DavPath::ContactsHome { user: user.clone() },
        ],
        DavPath::CalendarHome { user } => vec![DavPath::Calendar {
            user: user.clone(),
            collection: DEFAULT_COLLECTION.into(),
        }],
        DavPath::ContactsHome { user } => vec![DavPath::AddressBook {
            user: user.clone(),
            collection: DEFAULT_COLLECTION.into(),
        }],
        _ => Vec::new(),
    }
}

/// Whether `place` exists without a store (the roots, the principal, the homes, and the
/// default collections).
pub fn exists(place: &DavPath) -> bool {
    match place {
        DavPath::Calendar { collection, .. } | DavPath::AddressBook { collection, .. } => {
            collection == DEFAULT_COLLECTION
        }
        DavPath::CalendarObject { .. } | DavPath::Card { .. } => false,
        _ => true,
    }
}

/// The propstats of `place` for `request`.
pub fn propstats(place: &DavPath, account: &str, request: &Propfind) -> Vec<PropStat> {
    match request {
        Propfind::PropName => PropStat::group(
            ALLPROP
                .iter()
                .filter(|n| value(place, account, n).is_some())
                .map(|n| (n.clone(), Ok(PropValue::Empty))),
        ),
        Propfind::AllProp { include } => PropStat::group(
            ALLPROP
                .iter()
                .chain(include.iter().filter(|n| !ALLPROP.contains(n)))
                .filter_map(|n| value(place, account, n).map(|v| (n.clone(), Ok(v)))),
        ),
        Propfind::Prop(names) => PropStat::group(
            names
                .iter()
                .map(|n| (n.clone(), value(place, account, n).ok_or(404))),
        ),
    }
}

/// The multistatus of a PROPFIND at `place` with `depth` (0 or 1; infinity is refused
/// above, RFC 4918 §9.1 lets a server do so).
pub fn propfind(place: &DavPath, depth: u8, account: &str, request: &Propfind) -> Vec<u8> {
    let mut body = Multistatus::new();
    body.response(&place.href(), &propstats(place, account, request));
    if depth > 0 {
        for child in children(place) {
            body.response(&child.href(), &propstats(&child, account, request));
        }
    }
    body.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ALICE: &str = "alice@example.com";

    #[test]
    fn the_principal_names_its_homes_and_the_roots_name_the_principal() {
        let principal = DavPath::Principal { user: ALICE.into() };
        let asked = Propfind::Prop(vec![
            PropName::CalendarHomeSet,
            PropName::AddressbookHomeSet,
            PropName::CurrentUserPrincipal,
            PropName::GetCtag,
        ]);
        let body = String::from_utf8(propfind(&principal, 0, ALICE, &asked)).unwrap();
        assert!(
            body.contains("<d:href>/SOGo/dav/alice@example.com/Calendar/</d:href>"),
            "{body}"
        );
        assert!(body.contains("<d:href>/SOGo/dav/alice@example.com/Contacts/</d:href>"));
        assert!(
            body.contains("HTTP/1.1 404 Not Found"),
            "getctag is not known yet: {body}"
        );
        let root = String::from_utf8(propfind(&DavPath::Root, 0, ALICE, &asked)).unwrap();
        assert!(root.contains(
            "<d:current-user-principal><d:href>/SOGo/dav/alice@example.com/</d:href></d:current-user-principal>"
        ), "{root}");
    }

    #[test]
    fn depth_one_lists_the_default_collections() {
        let home = DavPath::CalendarHome { user: ALICE.into() };
        let body = String::from_utf8(propfind(
            &home,
            1,
            ALICE,
            &Propfind::AllProp {
                include: Vec::new(),
            },
        ))
        .unwrap();
        assert!(body.contains("<d:href>/SOGo/dav/alice@example.com/Calendar/personal/</d:href>"));
        assert!(body.contains("<c:calendar/>"), "{body}");
        assert!(body.contains("<c:comp name=\"VEVENT\"/>"), "{body}");
        assert!(exists(&DavPath::Calendar {
            user: ALICE.into(),
            collection: "personal".into()
        }));
        assert!(!exists(&DavPath::Calendar {
            user: ALICE.into(),
            collection: "work".into()
        }));
    }
}
