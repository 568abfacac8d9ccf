//! CalDAV and CardDAV for the HTTP service: what a DAV request asks of the server, after the
//! driver checked its credentials (HTTP Basic, scope `dav`) and moved the connection to the
//! account's home shard, where its calendars and address books are ([`repo`]).
//!
//! Methods: OPTIONS, PROPFIND (Depth 0 and 1; infinity is refused as RFC 4918 §9.1
//! allows), PROPPATCH, MKCALENDAR, MKCOL (extended, RFC 5689), DELETE, GET, HEAD, PUT with
//! `If-Match`/`If-None-Match`, and REPORT: calendar-query, calendar-multiget,
//! free-busy-query, addressbook-query, addressbook-multiget and sync-collection. The protocol
//! syntax is `crate::dav`'s; this module decides what exists, reads and writes the store,
//! and picks the status.

mod parsed;
mod repo;

use crate::accounts::{address_of_key, dav_key};
use crate::dav::objects::{
    expand, free_busy, validate_calendar_object, validate_vcard, vfreebusy_text, CalendarLimits,
    CalendarObject, CardLimits, ComponentKind, Invalid,
};
use crate::dav::path::{DavPath, DEFAULT_COLLECTION};
use crate::dav::props::{self, CollectionFacts, Facts, ObjectFacts};
use crate::dav::query::{self, CollectionState};
use crate::dav::xml::{
    error_body, parse_mkcalendar, parse_mkcol, parse_propfind, parse_proppatch, parse_report,
    CalendarDataRequest, Multistatus, Precondition, PropName, PropStat, PropertyUpdate, Propfind,
    RawXml, Report, ResourceType, SyncCollection, XmlLimits,
};
use crate::http::route::DavRequest;
use crate::http::{Method, Response};
use crate::store::StoreError;

use repo::{Collection, Home, Repo, Version};

use super::Context;

/// What every DAV answer says it is (RFC 4918 §10.1, RFC 4791 §5.1, RFC 6352 §6.1, RFC
/// 5689 §3.1). Class 2 (locking) is not offered.
const DAV_CLASSES: &str = "1, 3, calendar-access, addressbook, extended-mkcol";
/// The methods served.
const ALLOW: &str =
    "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, MKCALENDAR, REPORT";
const XML: &str = "application/xml; charset=utf-8";

pub(super) async fn handle(request: &DavRequest, cx: &Context<'_>) -> Response {
    let Some(key) = cx.account else {
        return Response::error(401, "Unauthorized");
    };
    let account = address_of_key(key);
    let Some(place) = DavPath::parse(&request.path) else {
        return beyond_layout(request, account).header("DAV", DAV_CLASSES);
    };
    // A user sees only their own resources; another's are as absent as a missing one.
    if place.user().is_some_and(|user| user != account) {
        return Response::error(404, "Not Found");
    }
    let http = &cx.shard.server().config.http;
    let dav = Dav {
        request,
        place,
        account,
        repo: Repo::new(
            &cx.shard.store,
            dav_key(key),
            cx.shard.replication.borrow().clone(),
        ),
        max_size: http.dav_max_resource_bytes,
        max_objects: http.dav_max_objects,
        max_collections: http.dav_max_collections,
    };
    let response = if !dav.repo.owned_here() {
        // Sessions move to the home shard after authentication; only a failed move lands
        // here.
        Response::error(503, "Service Unavailable").header("Retry-After", "1")
    } else {
        match dav.run().await {
            Ok(response) => response,
            Err(StoreError::NoSuchMailbox | StoreError::NoSuchMessage) => {
                Response::error(404, "Not Found")
            }
            Err(StoreError::TooLarge(_)) => Response::error(413, "Content Too Large"),
            Err(e) => {
                tracing::error!(error = %e, "DAV request failed in the store");
                Response::error(500, "Internal Server Error")
            }
        }
    };
    response.header("DAV", DAV_CLASSES)
}

struct Dav<'a> {
    request: &'a DavRequest,
    place: DavPath,
    account: &'a str,
    repo: Repo<'a>,
    max_size: usize,
    max_objects: usize,
    max_collections: usize,
}

type Result<T> = std::result::Result<T, StoreError>;

fn multistatus(body: Vec<u8>) -> Response {
    Response::new(207).body(XML, body)
}

fn refuse(status: u16, condition: &Precondition) -> Response {
    Response::new(status).body(XML, error_body(condition))
}

/// A stored object that fails a PUT precondition (RFC 4791 §5.3.2.1, RFC 6352 §6.3.2.1).
fn invalid(why: Invalid) -> Response {
    use crate::dav::objects::Namespace;
    let condition = match why {
        Invalid::CalendarData(_) => Precondition::ValidCalendarData,
        Invalid::CalendarObjectResource(_) => Precondition::ValidCalendarObjectResource,
        Invalid::SupportedCalendarComponent => Precondition::SupportedCalendarComponent,
        Invalid::MaxResourceSize(Namespace::CalDav) => Precondition::CalendarMaxResourceSize,
        Invalid::MaxResourceSize(Namespace::CardDav) => Precondition::AddressbookMaxResourceSize,
        Invalid::AddressData(_) => Precondition::ValidAddressData,
        Invalid::SupportedAddressData => Precondition::SupportedAddressData,
    };
    tracing::debug!(reason = why.reason(), "DAV object refused");
    refuse(403, &condition)
}

/// A request body the XML layer refused: 400/413/415, or 403 naming the precondition (an
/// unsupported report or collation).
fn xml_error(e: &crate::dav::xml::XmlError) -> Response {
    match e.precondition() {
        Some(condition) => refuse(e.status(), &condition),
        None => Response::error(e.status(), &e.to_string()),
    }
}

/// Where a collection or object path points.
fn home_of(place: &DavPath) -> Option<(Home, &str)> {
    match place {
        DavPath::Calendar { collection, .. } | DavPath::CalendarObject { collection, .. } => {
            Some((Home::Calendar, collection))
        }
        DavPath::AddressBook { collection, .. } | DavPath::Card { collection, .. } => {
            Some((Home::Contacts, collection))
        }
        _ => None,
    }
}

/// An object's home, collection and name, if the path names one.
fn object_of(place: &DavPath) -> Option<(Home, &str, &str)> {
    match place {
        DavPath::CalendarObject {
            collection, name, ..
        } => Some((Home::Calendar, collection, name)),
        DavPath::Card {
            collection, name, ..
        } => Some((Home::Contacts, collection, name)),
        _ => None,
    }
}

fn object_path(user: &str, home: Home, collection: &str, name: &str) -> DavPath {
    match home {
        Home::Calendar => DavPath::CalendarObject {
            user: user.into(),
            collection: collection.into(),
            name: name.into(),
        },
        Home::Contacts => DavPath::Card {
            user: user.into(),
            collection: collection.into(),
            name: name.into(),
        },
    }
}

fn collection_path(user: &str, home: Home, collection: &str) -> DavPath {
    match home {
        Home::Calendar => DavPath::Calendar {
            user: user.into(),
            collection: collection.into(),
        },
        Home::Contacts => DavPath::AddressBook {
            user: user.into(),
            collection: collection.into(),
        },
    }
}

fn state_of(c: &Collection) -> CollectionState {
    CollectionState {
        validity: c.validity,
        modseq: c.modseq,
    }
}

fn component_kind(name: &str) -> Option<ComponentKind> {
    [
        ComponentKind::Event,
        ComponentKind::Todo,
        ComponentKind::Journal,
        ComponentKind::FreeBusy,
    ]
    .into_iter()
    .find(|k| k.name().eq_ignore_ascii_case(name))
}

impl Dav<'_> {
    async fn run(&self) -> Result<Response> {
        let method = &self.request.method;
        if *method == Method::Options {
            return Ok(Response::new(200).header("Allow", ALLOW));
        }
        if !matches!(self.place, DavPath::Root | DavPath::DavRoot) {
            self.repo.ensure().await?;
        }
        if self.place.scheduling().is_some() {
            // The scheduling inbox and outbox exist, empty: iTIP is not offered.
            return Ok(match method {
                Method::Propfind => self.propfind().await?,
                Method::Get | Method::Head => {
                    Response::error(405, "Method Not Allowed").header("Allow", ALLOW)
                }
                _ => Response::error(403, "Forbidden"),
            });
        }
        match method {
            Method::Propfind => self.propfind().await,
            Method::Proppatch => self.proppatch().await,
            Method::Mkcalendar | Method::Mkcol => self.make_collection().await,
            Method::Delete => self.delete().await,
            Method::Get | Method::Head => self.get().await,
            Method::Put => self.put().await,
            Method::Report => self.report().await,
            _ => Ok(Response::error(405, "Method Not Allowed").header("Allow", ALLOW)),
        }
    }

    fn facts_of_version(&self, home: Home, c: &Collection, v: &Version) -> ObjectFacts {
        ObjectFacts {
            etag: query::etag(c.validity, v.uid.0),
            content_type: home.content_type(),
            length: u64::from(v.len),
            modified: v.date,
            data: None,
        }
    }

    async fn collection_facts(&self, home: Home, c: &Collection) -> Result<CollectionFacts> {
        let stored = self.repo.properties(home, c).await?;
        Ok(CollectionFacts {
            state: state_of(c),
            components: repo::components_of(&stored).unwrap_or_else(|| {
                repo::DEFAULT_COMPONENTS
                    .iter()
                    .map(|c| c.to_string())
                    .collect()
            }),
            stored: repo::visible(&stored),
            max_size: self.max_size,
        })
    }

    // ---- PROPFIND -------------------------------------------------------------------

    async fn propfind(&self) -> Result<Response> {
        // RFC 4918 §9.1: no Depth means infinity, which a server may refuse.
        let depth = match self.request.depth.as_deref() {
            Some("0") => 0,
            Some("1") => 1,
            _ => {
                return Ok(Response::new(403).body(
                    XML,
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:error xmlns:d=\"DAV:\"><d:propfind-finite-depth/></d:error>",
                ))
            }
        };
        let asked = match parse_propfind(&self.request.body, &XmlLimits::default()) {
            Ok(asked) => asked,
            Err(e) => return Ok(xml_error(&e)),
        };
        let mut body = Multistatus::new();
        let user = self.account;
        let respond = |body: &mut Multistatus, place: &DavPath, facts: Facts<'_>| {
            props::respond(body, place, user, &asked, facts);
        };
        match &self.place {
            DavPath::Root => respond(&mut body, &self.place, Facts::None),
            DavPath::DavRoot => {
                respond(&mut body, &self.place, Facts::None);
                if depth > 0 {
                    let principal = DavPath::Principal { user: user.into() };
                    respond(&mut body, &principal, Facts::None);
                }
            }
            DavPath::Principal { user } => {
                respond(&mut body, &self.place, Facts::None);
                if depth > 0 {
                    for home in props::principal_children(user) {
                        respond(&mut body, &home, Facts::None);
                    }
                }
            }
            DavPath::CalendarHome { .. } | DavPath::ContactsHome { .. } => {
                respond(&mut body, &self.place, Facts::None);
                if depth > 0 {
                    let home = match self.place {
                        DavPath::CalendarHome { .. } => Home::Calendar,
                        _ => Home::Contacts,
                    };
                    for c in self.repo.collections(home).await? {
                        let facts = self.collection_facts(home, &c).await?;
                        let place = collection_path(user, home, &c.name);
                        respond(&mut body, &place, Facts::Collection(&facts));
                    }
                }
            }
            DavPath::Calendar { .. } if self.place.scheduling().is_some() => {
                respond(&mut body, &self.place, Facts::None);
            }
            DavPath::Calendar { collection, .. } | DavPath::AddressBook { collection, .. } => {
                let home = home_of(&self.place).map_or(Home::Calendar, |(h, _)| h);
                let Some(c) = self.repo.collection(home, collection).await? else {
                    return Ok(Response::error(404, "Not Found"));
                };
                let facts = self.collection_facts(home, &c).await?;
                respond(&mut body, &self.place, Facts::Collection(&facts));
                if depth > 0 {
                    for v in c.live() {
                        let facts = self.facts_of_version(home, &c, v);
                        let place = object_path(user, home, collection, &v.name);
                        respond(&mut body, &place, Facts::Object(&facts));
                    }
                }
            }
            DavPath::CalendarObject { .. } | DavPath::Card { .. } => {
                let Some((home, collection, name)) = object_of(&self.place) else {
                    return Ok(Response::error(404, "Not Found"));
                };
                let found = self.repo.collection(home, collection).await?;
                let Some((c, v)) = found.as_ref().and_then(|c| c.find(name).map(|v| (c, v))) else {
                    return Ok(Response::error(404, "Not Found"));
                };
                let facts = self.facts_of_version(home, c, v);
                respond(&mut body, &self.place, Facts::Object(&facts));
            }
        }
        Ok(multistatus(body.finish()))
    }

    // ---- PROPPATCH ------------------------------------------------------------------

    async fn proppatch(&self) -> Result<Response> {
        let patch = match parse_proppatch(&self.request.body, &XmlLimits::default()) {
            Ok(p) => p,
            Err(e) => return Ok(xml_error(&e)),
        };
        let names: Vec<PropName> = patch
            .updates
            .iter()
            .map(|u| match u {
                PropertyUpdate::Set(v) => v.name.clone(),
                PropertyUpdate::Remove(n) => n.clone(),
            })
            .collect();
        let target = match &self.place {
            DavPath::Calendar { collection, .. } | DavPath::AddressBook { collection, .. } => {
                let home = home_of(&self.place).map_or(Home::Calendar, |(h, _)| h);
                match self.repo.collection(home, collection).await? {
                    Some(c) => Some((home, c)),
                    None => return Ok(Response::error(404, "Not Found")),
                }
            }
            _ => None,
        };
        let mut body = Multistatus::new();
        // RFC 4918 §9.2: all or nothing; a refused property fails the others with 424.
        let refused = |n: &PropName| target.is_none() || !props::writable(n);
        if names.iter().any(refused) {
            let statuses = names
                .iter()
                .map(|n| (n.clone(), Err(if refused(n) { 403 } else { 424 })));
            body.response(&self.place.href(), &PropStat::group(statuses));
            return Ok(multistatus(body.finish()));
        }
        let Some((home, c)) = target else {
            return Ok(Response::error(403, "Forbidden"));
        };
        let mut stored: Vec<(PropName, RawXml)> =
            self.repo.properties(home, &c).await?.as_ref().clone();
        for update in patch.updates {
            match update {
                PropertyUpdate::Set(v) => {
                    stored.retain(|(n, _)| *n != v.name);
                    stored.push((v.name, v.value));
                }
                PropertyUpdate::Remove(n) => stored.retain(|(s, _)| *s != n),
            }
        }
        self.repo.set_properties(home, &c, &stored).await?;
        let ok = names
            .into_iter()
            .map(|n| (n, Ok(crate::dav::xml::PropValue::Empty)));
        body.response(&self.place.href(), &PropStat::group(ok));
        Ok(multistatus(body.finish()))
    }

    // ---- MKCALENDAR / MKCOL ---------------------------------------------------------

    async fn make_collection(&self) -> Result<Response> {
        let calendar = self.request.method == Method::Mkcalendar;
        let xml_body = self.request.content_type.as_deref().is_none_or(|t| {
            let media = t.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("application/xml") || media.eq_ignore_ascii_case("text/xml")
        });
        if !self.request.body.is_empty() && !xml_body {
            // RFC 4918 §9.3: a body MKCOL does not understand; RFC 5689 takes XML only.
            return Ok(Response::error(415, "Unsupported Media Type"));
        }
        let Some((home, name)) = home_of(&self.place).filter(|_| self.place.is_collection()) else {
            return Ok(if calendar {
                refuse(403, &Precondition::CalendarCollectionLocationOk)
            } else {
                Response::error(403, "Forbidden")
            });
        };
        if calendar && home != Home::Calendar {
            return Ok(refuse(403, &Precondition::CalendarCollectionLocationOk));
        }
        if !repo::valid_collection_name(name) {
            return Ok(Response::error(403, "Forbidden"));
        }
        let parsed = if self.request.body.is_empty() {
            Ok(Default::default())
        } else if calendar {
            parse_mkcalendar(&self.request.body, &XmlLimits::default())
        } else {
            parse_mkcol(&self.request.body, &XmlLimits::default())
        };
        let mkcol = match parsed {
            Ok(m) => m,
            Err(e) => return Ok(xml_error(&e)),
        };
        // Extended MKCOL names the kind; it must be the home's (RFC 5689 §3.3
        // valid-resourcetype).
        let wanted = match home {
            Home::Calendar => ResourceType::Calendar,
            Home::Contacts => ResourceType::Addressbook,
        };
        if !calendar && !mkcol.resource_type.is_empty() && !mkcol.resource_type.contains(&wanted) {
            return Ok(Response::new(403).body(
                XML,
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:error xmlns:d=\"DAV:\"><d:valid-resourcetype/></d:error>",
            ));
        }
        let mut stored = Vec::new();
        if let Some(components) = &mkcol.components {
            if home != Home::Calendar
                || components.is_empty()
                || components.iter().any(|c| component_kind(c).is_none())
            {
                return Ok(refuse(403, &Precondition::SupportedCalendarComponent));
            }
            let names: Vec<String> = components.iter().map(|c| c.to_ascii_uppercase()).collect();
            stored.push(repo::components_property(&names));
        }
        for p in &mkcol.properties {
            if matches!(
                p.name,
                PropName::ResourceType | PropName::SupportedCalendarComponentSet
            ) {
                continue;
            }
            if !props::writable(&p.name) {
                return Ok(Response::error(403, "Forbidden"));
            }
            stored.push((p.name.clone(), p.value.clone()));
        }
        let existing = self.repo.collections(Home::Calendar).await?.len()
            + self.repo.collections(Home::Contacts).await?.len();
        if self.repo.collection(home, name).await?.is_some() {
            return Ok(if calendar {
                Response::new(403).body(
                    XML,
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:error xmlns:d=\"DAV:\"><d:resource-must-be-null/></d:error>",
                )
            } else {
                Response::error(405, "Method Not Allowed").header("Allow", ALLOW)
            });
        }
        if existing >= self.max_collections {
            return Ok(Response::error(507, "Insufficient Storage"));
        }
        if !self.repo.create(home, name, &stored).await? {
            return Ok(Response::error(405, "Method Not Allowed").header("Allow", ALLOW));
        }
        Ok(Response::new(201).header("Location", self.place.href()))
    }

    // ---- DELETE ---------------------------------------------------------------------

    async fn delete(&self) -> Result<Response> {
        match &self.place {
            DavPath::Calendar { collection, .. } | DavPath::AddressBook { collection, .. } => {
                let home = home_of(&self.place).map_or(Home::Calendar, |(h, _)| h);
                if collection == DEFAULT_COLLECTION {
                    // Every account keeps its personal calendar and address book (SOGo too).
                    return Ok(Response::error(403, "Forbidden"));
                }
                if self.repo.collection(home, collection).await?.is_none() {
                    return Ok(Response::error(404, "Not Found"));
                }
                self.repo.remove(home, collection).await?;
                Ok(Response::new(204))
            }
            DavPath::CalendarObject { .. } | DavPath::Card { .. } => {
                let Some((home, collection, name)) = object_of(&self.place) else {
                    return Ok(Response::error(404, "Not Found"));
                };
                let Some(c) = self.repo.collection(home, collection).await? else {
                    return Ok(Response::error(404, "Not Found"));
                };
                let current = c.find(name).map(|v| query::etag(c.validity, v.uid.0));
                if let Some(refused) = self.preconditions(current.as_deref()) {
                    return Ok(refused);
                }
                if current.is_none() {
                    return Ok(Response::error(404, "Not Found"));
                }
                self.repo
                    .delete(home, collection, name, &c.all_of(name))
                    .await?;
                Ok(Response::new(204))
            }
            _ => Ok(Response::error(403, "Forbidden")),
        }
    }

    /// `If-Match` / `If-None-Match` against the current entity tag (RFC 9110 §13.1.1,
    /// §13.1.2): `Some(412)` when they fail.
    fn preconditions(&self, current: Option<&str>) -> Option<Response> {
        if let Some(field) = &self.request.if_match {
            if !query::etag_list_matches(field, current) {
                return Some(Response::error(412, "Precondition Failed"));
            }
        }
        if let Some(field) = &self.request.if_none_match {
            if query::etag_list_matches(field, current) {
                return Some(Response::error(412, "Precondition Failed"));
            }
        }
        None
    }

    // ---- GET / HEAD -----------------------------------------------------------------

    async fn get(&self) -> Result<Response> {
        let Some((home, collection, name)) = object_of(&self.place) else {
            return Ok(Response::error(405, "Method Not Allowed").header("Allow", ALLOW));
        };
        let Some(c) = self.repo.collection(home, collection).await? else {
            return Ok(Response::error(404, "Not Found"));
        };
        let Some(v) = c.find(name) else {
            return Ok(Response::error(404, "Not Found"));
        };
        let etag = query::etag(c.validity, v.uid.0);
        if self
            .request
            .if_none_match
            .as_deref()
            .is_some_and(|f| query::etag_list_matches(f, Some(&etag)))
        {
            return Ok(Response::new(304).header("ETag", etag));
        }
        let bodies = self.repo.read(home, collection, &[v]).await?;
        let Some(Some(bytes)) = bodies.into_iter().next() else {
            return Ok(Response::error(404, "Not Found"));
        };
        Ok(Response::new(200)
            .header("ETag", etag)
            .header("Last-Modified", crate::date::http_date(v.date))
            .header("Cache-Control", "private, no-cache")
            .body(home.content_type(), bytes.to_vec()))
    }

    // ---- PUT ------------------------------------------------------------------------

    async fn put(&self) -> Result<Response> {
        let Some((home, collection, name)) = object_of(&self.place) else {
            return Ok(Response::error(405, "Method Not Allowed").header("Allow", ALLOW));
        };
        if !repo::valid_object_name(name) {
            return Ok(Response::error(403, "Forbidden"));
        }
        let bytes = &self.request.body;
        // The media type (RFC 4791 §5.3.2.1 supported-calendar-data, RFC 6352 §6.3.2.1).
        let media = self.request.content_type.as_deref().map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
        let (object_uid, kind) = match home {
            Home::Calendar => {
                if media.as_deref().is_some_and(|m| m != "text/calendar") {
                    return Ok(refuse(403, &Precondition::SupportedCalendarData));
                }
                // The collection's component set is checked below, once it is known.
                let mut limits = self.calendar_limits();
                limits.max_size = self.max_size;
                match validate_calendar_object(bytes, &limits) {
                    Ok(object) => (object.uid, Some(object.component)),
                    Err(why) => return Ok(invalid(why)),
                }
            }
            Home::Contacts => {
                if media
                    .as_deref()
                    .is_some_and(|m| m != "text/vcard" && m != "text/x-vcard")
                {
                    return Ok(refuse(403, &Precondition::SupportedAddressData));
                }
                let limits = CardLimits {
                    max_size: self.max_size,
                };
                match validate_vcard(bytes, &limits) {
                    Ok(card) => (card.uid, None),
                    Err(why) => return Ok(invalid(why)),
                }
            }
        };
        let Some(check) = self
            .repo
            .put_check(home, collection, name, &object_uid)
            .await?
        else {
            // RFC 4918 §9.7.1: no collection to put it in.
            return Ok(Response::error(409, "Conflict"));
        };
        if let Some(kind) = kind {
            let stored = self
                .repo
                .properties_of(home, collection, check.validity, check.props)
                .await?;
            let allowed = match repo::components_of(&stored) {
                Some(names) => names.iter().any(|n| component_kind(n) == Some(kind)),
                None => repo::DEFAULT_COMPONENTS
                    .iter()
                    .any(|n| component_kind(n) == Some(kind)),
            };
            if !allowed {
                return Ok(invalid(Invalid::SupportedCalendarComponent));
            }
        }
        let current_etag = check.current.map(|uid| query::etag(check.validity, uid.0));
        if let Some(refused) = self.preconditions(current_etag.as_deref()) {
            return Ok(refused);
        }
        // RFC 4791 §5.3.2.1 / RFC 6352 §6.3.2.1: one UID per collection.
        if let Some(other) = &check.conflict {
            let href = object_path(self.account, home, collection, other).href();
            return Ok(refuse(
                403,
                &match home {
                    Home::Calendar => Precondition::CalendarNoUidConflict { href },
                    Home::Contacts => Precondition::AddressbookNoUidConflict { href },
                },
            ));
        }
        if check.current.is_none() && check.stored >= self.max_objects {
            return Ok(Response::error(507, "Insufficient Storage"));
        }
        let uid = self
            .repo
            .put(home, collection, name, &object_uid, bytes, &check.versions)
            .await?;
        let status = if check.current.is_some() { 204 } else { 201 };
        Ok(Response::new(status).header("ETag", query::etag(check.validity, uid.0)))
    }

    // ---- REPORT ---------------------------------------------------------------------

    async fn report(&self) -> Result<Response> {
        let report = match parse_report(&self.request.body, &XmlLimits::default()) {
            Ok(r) => r,
            Err(e) => return Ok(xml_error(&e)),
        };
        let Some((home, collection)) = home_of(&self.place).filter(|_| self.place.is_collection())
        else {
            return Ok(refuse(403, &Precondition::SupportedReport));
        };
        let fits = matches!(
            (&report, home),
            (
                Report::CalendarQuery(_)
                    | Report::CalendarMultiget(_)
                    | Report::FreeBusyQuery(_)
                    | Report::SyncCollection(_),
                Home::Calendar
            ) | (
                Report::AddressbookQuery(_)
                    | Report::AddressbookMultiget(_)
                    | Report::SyncCollection(_),
                Home::Contacts
            )
        );
        if !fits {
            return Ok(refuse(403, &Precondition::SupportedReport));
        }
        let Some(c) = self.repo.collection(home, collection).await? else {
            return Ok(Response::error(404, "Not Found"));
        };
        match report {
            Report::SyncCollection(sync) => self.sync_collection(home, &c, &sync).await,
            Report::CalendarMultiget(get) => {
                let names = self.names_in(home, collection, &get.hrefs);
                self.multiget(home, &c, &names, &get.props, get.calendar_data.as_ref())
                    .await
            }
            Report::AddressbookMultiget(get) => {
                let names = self.names_in(home, collection, &get.hrefs);
                self.multiget(home, &c, &names, &get.props, None).await
            }
            Report::CalendarQuery(q) => {
                let live = c.live();
                let objects = parsed::calendars(&self.repo, &c, &live).await?;
                // Most queries are date ranges: answered from the cached parses alone.
                let mut verdicts: Vec<Option<bool>> = objects
                    .iter()
                    .map(|o| match o {
                        Some(o) => query::calendar_matches_by_times(o, &q.filter),
                        None => Some(false),
                    })
                    .collect();
                let undecided: Vec<usize> =
                    (0..live.len()).filter(|&i| verdicts[i].is_none()).collect();
                if !undecided.is_empty() {
                    let wanted: Vec<&Version> = undecided.iter().map(|&i| live[i]).collect();
                    let bodies = self.repo.read(home, collection, &wanted).await?;
                    for (&i, bytes) in undecided.iter().zip(bodies) {
                        verdicts[i] = Some(match (&objects[i], bytes) {
                            (Some(o), Some(b)) => query::calendar_matches(o, &b, &q.filter),
                            _ => false,
                        });
                    }
                }
                let hits: Vec<usize> = (0..live.len())
                    .filter(|&i| verdicts[i] == Some(true))
                    .collect();
                let bodies = self
                    .bodies_if(&q.props, &PropName::CalendarData, home, &live, &hits)
                    .await?;
                let mut bodies = bodies.into_iter();
                let mut body = Multistatus::new();
                for &i in &hits {
                    let data = match (bodies.next().flatten(), &objects[i]) {
                        (Some(bytes), Some(object)) => {
                            calendar_data(&q.props, q.calendar_data.as_ref(), object, &bytes)
                        }
                        _ => None,
                    };
                    self.object_response(&mut body, home, &c, live[i], &q.props, data);
                }
                Ok(multistatus(body.finish()))
            }
            Report::AddressbookQuery(q) => {
                let live = c.live();
                let cards = parsed::cards(&self.repo, &c, &live).await?;
                let filter = query::card_filter(&q.filter);
                let mut hits = Vec::new();
                let mut truncated = false;
                for (i, card) in cards.iter().enumerate() {
                    let Some(card) = card else { continue };
                    if !query::card_passes(card, &filter) {
                        continue;
                    }
                    if q.limit.is_some_and(|limit| hits.len() >= limit as usize) {
                        truncated = true;
                        break;
                    }
                    hits.push(i);
                }
                let bodies = self
                    .bodies_if(&q.props, &PropName::AddressData, home, &live, &hits)
                    .await?;
                let mut bodies = bodies.into_iter();
                let mut body = Multistatus::new();
                for &i in &hits {
                    let data = bodies
                        .next()
                        .flatten()
                        .map(|b| String::from_utf8_lossy(&b).into_owned());
                    self.object_response(&mut body, home, &c, live[i], &q.props, data);
                }
                if truncated {
                    // RFC 6352 §8.6.1: the request-URI with 507 says the answer is cut short.
                    body.status_response(&self.place.href(), 507);
                }
                Ok(multistatus(body.finish()))
            }
            Report::FreeBusyQuery(fb) => {
                let live = c.live();
                let objects: Vec<CalendarObject> = parsed::calendars(&self.repo, &c, &live)
                    .await?
                    .into_iter()
                    .flatten()
                    .map(|o| (*o).clone())
                    .collect();
                let (start, end) = query::range_seconds(&fb.time_range);
                let periods = free_busy(&objects, start, end);
                let now = crate::store::now();
                Ok(Response::new(200).body(
                    "text/calendar; charset=utf-8",
                    vfreebusy_text(&periods, start, end, now),
                ))
            }
        }
    }

    /// The bodies of `live[hits]`, when the props ask for `data` (else none are read).
    async fn bodies_if(
        &self,
        props: &Propfind,
        data: &PropName,
        home: Home,
        live: &[&Version],
        hits: &[usize],
    ) -> Result<Vec<Option<crate::store::Body>>> {
        if !wants_data(props, data) {
            return Ok(Vec::new());
        }
        let wanted: Vec<&Version> = hits.iter().map(|&i| live[i]).collect();
        let collection = home_of(&self.place).map_or("", |(_, c)| c);
        self.repo.read(home, collection, &wanted).await
    }

    fn calendar_limits(&self) -> CalendarLimits {
        parsed::every_component()
    }

    /// The resource names of the hrefs that point into `collection` (in order); others are
    /// `Err(href)` and get 404.
    fn names_in(
        &self,
        home: Home,
        collection: &str,
        hrefs: &[String],
    ) -> Vec<std::result::Result<String, String>> {
        hrefs
            .iter()
            .map(|href| {
                let place = DavPath::parse(href_path(href));
                match place
                    .as_ref()
                    .and_then(|p| Some((p.user()?, object_of(p)?)))
                {
                    Some((user, (h, c, name)))
                        if user == self.account && h == home && c == collection =>
                    {
                        Ok(name.to_string())
                    }
                    _ => Err(href.clone()),
                }
            })
            .collect()
    }

    async fn multiget(
        &self,
        home: Home,
        c: &Collection,
        names: &[std::result::Result<String, String>],
        props: &Propfind,
        calendar: Option<&CalendarDataRequest>,
    ) -> Result<Response> {
        let found: Vec<Option<&Version>> = names
            .iter()
            .map(|n| n.as_ref().ok().and_then(|n| c.find(n)))
            .collect();
        let wanted: Vec<&Version> = found.iter().flatten().copied().collect();
        let data_name = match home {
            Home::Calendar => PropName::CalendarData,
            Home::Contacts => PropName::AddressData,
        };
        let bodies = if wants_data(props, &data_name) {
            self.repo.read(home, &c.name, &wanted).await?
        } else {
            Vec::new()
        };
        let mut bodies = bodies.into_iter();
        let limits = self.calendar_limits();
        let mut body = Multistatus::new();
        for (name, version) in names.iter().zip(&found) {
            let Some(v) = version else {
                let href = match name {
                    Ok(n) => object_path(self.account, home, &c.name, n).href(),
                    Err(href) => href_path(href).to_string(),
                };
                body.status_response(&href, 404);
                continue;
            };
            let bytes = bodies.next().flatten();
            let data = bytes.as_ref().map(|b| match (home, calendar) {
                (Home::Calendar, Some(request)) => validate_calendar_object(b, &limits)
                    .map(|o| calendar_data(props, Some(request), &o, b).unwrap_or_default())
                    .unwrap_or_else(|_| String::from_utf8_lossy(b).into_owned()),
                _ => String::from_utf8_lossy(b).into_owned(),
            });
            self.object_response(&mut body, home, c, v, props, data);
        }
        Ok(multistatus(body.finish()))
    }

    fn object_response(
        &self,
        body: &mut Multistatus,
        home: Home,
        c: &Collection,
        v: &Version,
        props: &Propfind,
        data: Option<String>,
    ) {
        let mut facts = self.facts_of_version(home, c, v);
        facts.data = data;
        let place = object_path(self.account, home, &c.name, &v.name);
        props::respond(body, &place, self.account, props, Facts::Object(&facts));
    }

    /// RFC 6578: what changed since the client's token.
    async fn sync_collection(
        &self,
        home: Home,
        c: &Collection,
        sync: &SyncCollection,
    ) -> Result<Response> {
        if self.request.depth.as_deref().is_some_and(|d| d != "0") {
            // RFC 6578 §3.2: the Depth header must be 0 (or absent).
            return Ok(Response::error(400, "Bad Request"));
        }
        let since = if sync.sync_token.trim().is_empty() {
            None
        } else {
            match CollectionState::parse_token(&sync.sync_token) {
                Some(s) if s.validity == c.validity && s.modseq <= c.modseq => Some(s.modseq),
                _ => return Ok(refuse(403, &Precondition::ValidSyncToken)),
            }
        };
        // The newest version or tombstone of each name changed after the token.
        let mut latest: std::collections::HashMap<&str, &Version> =
            std::collections::HashMap::new();
        for v in &c.versions {
            latest.insert(&v.name, v);
        }
        let mut changes: Vec<&Version> = latest
            .into_values()
            .filter(|v| match since {
                None => !v.gone,
                Some(m) => v.modseq > m,
            })
            .collect();
        changes.sort_by_key(|v| (v.modseq, v.uid));
        let mut token = state_of(c);
        let mut truncated = false;
        if let Some(limit) = sync.limit {
            let limit = limit as usize;
            if changes.len() > limit {
                changes.truncate(limit);
                truncated = true;
                if let Some(last) = changes.last() {
                    token.modseq = last.modseq;
                }
            }
        }
        let props = Propfind::Prop(sync.props.clone());
        let data_name = match home {
            Home::Calendar => PropName::CalendarData,
            Home::Contacts => PropName::AddressData,
        };
        let live: Vec<&Version> = changes.iter().filter(|v| !v.gone).copied().collect();
        let bodies = if wants_data(&props, &data_name) {
            self.repo.read(home, &c.name, &live).await?
        } else {
            Vec::new()
        };
        let mut bodies = bodies.into_iter();
        let mut body = Multistatus::new();
        for v in changes {
            if v.gone {
                let href = object_path(self.account, home, &c.name, &v.name).href();
                body.status_response(&href, 404);
                continue;
            }
            let data = bodies
                .next()
                .flatten()
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            self.object_response(&mut body, home, c, v, &props, data);
        }
        if truncated {
            // RFC 6578 §3.6: the request-URI with 507 tells the client to ask again.
            body.status_response(&self.place.href(), 507);
        }
        Ok(multistatus(
            body.finish_with_sync_token(&token.sync_token()),
        ))
    }
}

/// A path in the user's tree that the layout has no place for: deeper than an object, or a
/// collection inside a collection. Creating something there is refused as RFC 4918 §9.3.1
/// and §9.7.1 say — 409 when an intermediate collection is missing — and as RFC 4791
/// §4.2 and RFC 6352 §5.2 want: no collection inside a calendar or an address book (403).
fn beyond_layout(request: &DavRequest, account: &str) -> Response {
    let creates = matches!(
        request.method,
        Method::Mkcol | Method::Mkcalendar | Method::Put
    );
    let owner = request
        .path
        .strip_prefix(crate::dav::path::DAV_ROOT)
        .and_then(|rest| rest.split('/').next())
        .and_then(crate::http::percent_decode_path)
        .map(|user| user.to_lowercase());
    if !creates || owner.as_deref() != Some(account) {
        return Response::error(404, "Not Found");
    }
    let trimmed = request.path.trim_end_matches('/');
    let parent = trimmed.rsplit_once('/').map_or("/", |(parent, _)| parent);
    match DavPath::parse(&format!("{parent}/")) {
        Some(DavPath::Calendar { .. }) => refuse(403, &Precondition::CalendarCollectionLocationOk),
        Some(DavPath::AddressBook { .. }) => Response::error(403, "Forbidden"),
        _ => Response::error(409, "Conflict"),
    }
}

/// The path of an href (a full URL's path, or the path itself).
fn href_path(href: &str) -> &str {
    let trimmed = href.trim();
    match trimmed.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => trimmed,
    }
}

fn wants_data(props: &Propfind, name: &PropName) -> bool {
    match props {
        Propfind::Prop(names) => names.contains(name),
        Propfind::AllProp { include } => include.contains(name),
        Propfind::PropName => false,
    }
}

/// `calendar-data` as asked: the object as stored, or expanded (RFC 4791 §9.6.5). Partial
/// retrieval of components and properties (§9.6.1) gives the whole object, which §9.6
/// allows a client to receive.
fn calendar_data(
    props: &Propfind,
    request: Option<&CalendarDataRequest>,
    object: &CalendarObject,
    bytes: &[u8],
) -> Option<String> {
    if !wants_data(props, &PropName::CalendarData) {
        return None;
    }
    match request.and_then(|r| r.expand) {
        Some(range) => {
            let (start, end) = query::range_seconds(&range);
            Some(expand(object, bytes, start, end))
        }
        None => Some(String::from_utf8_lossy(bytes).into_owned()),
    }
}
