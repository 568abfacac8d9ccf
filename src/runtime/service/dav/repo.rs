//! Calendars and address books in the message store, under the account's DAV key
//! ([`crate::accounts::dav_key`]: `<store key>:dav`, on the account's partition and home
//! shard, purged with it).
//!
//! # Layout
//!
//! - A collection is a mailbox: `Calendar/<name>` or `Contacts/<name>`. Its UIDVALIDITY and
//!   HIGHESTMODSEQ are the collection's sync token and `getctag` (every change raises the
//!   modseq; a collection deleted and made anew gets a new UIDVALIDITY).
//! - An object version is a message: a short header, then the client's bytes exactly as
//!   sent. The header carries the resource name (`Subject`, percent-encoded) and the object's
//!   iCalendar/vCard UID (`Message-ID`, percent-encoded), so the index's envelopes answer
//!   "which resource is this" and "does this UID exist" without reading a body. The ETag is
//!   UIDVALIDITY and UID: a new version is a new message.
//! - A deleted object leaves a tombstone: a header-only message flagged `\Deleted`, whose
//!   modseq tells a sync-collection client the name is gone (RFC 6578 §3.5.2). A tombstone
//!   is expunged when its name is used again.
//! - A collection's properties (those clients set, and its component set) are one message
//!   flagged `\Draft`; a change writes a new one and expunges the old.
//!
//! Replacing a version is two durable steps (append the new one, expunge the old): a crash
//! between them leaves both, and the higher UID wins when read; the next write of the name
//! removes the older.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::dav::xml::{PropName, RawXml};
use crate::mail::{Flags, SystemFlags, Uid};
use crate::runtime::replication::Replication;
use crate::store::index::Mailbox;
use crate::store::{Body, Store, StoreError};

/// Which home a collection is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Home {
    Calendar,
    Contacts,
}

impl Home {
    fn prefix(self) -> &'static str {
        match self {
            Home::Calendar => "Calendar/",
            Home::Contacts => "Contacts/",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Home::Calendar => "text/calendar; charset=utf-8",
            Home::Contacts => "text/vcard; charset=utf-8",
        }
    }
}

/// The components a calendar takes when nobody said (SOGo's personal calendar: events and
/// tasks).
pub const DEFAULT_COMPONENTS: &[&str] = &["VEVENT", "VTODO"];

/// Where the component set is kept among the stored properties (never shown as one).
const COMPONENTS_NS: &str = "urn:ringpost:dav";
const COMPONENTS_LOCAL: &str = "components";

/// A collection name clients may use: one path segment of safe characters (UUIDs, words).
pub fn valid_collection_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b'+'))
        && !name.starts_with('.')
        && name != crate::dav::path::SCHEDULE_INBOX
        && name != crate::dav::path::SCHEDULE_OUTBOX
}

/// A resource name clients may use (one decoded path segment).
pub fn valid_object_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && !name.chars().any(char::is_control)
}

/// One stored version of an object, or a tombstone.
#[derive(Debug, Clone)]
pub struct Version {
    pub name: String,
    pub uid: Uid,
    pub modseq: u64,
    pub date: i64,
    /// Where the client's bytes start in the message, and how many there are.
    pub body_at: u32,
    pub len: u32,
    pub gone: bool,
}

/// A collection as the index has it now.
#[derive(Debug, Clone)]
pub struct Collection {
    pub name: String,
    pub validity: u32,
    pub modseq: u64,
    pub props: Option<Uid>,
    /// Every version and tombstone, in UID order.
    pub versions: Vec<Version>,
    /// Messages in the mailbox when this was read (with `validity` and `modseq`, what says
    /// the mailbox has not changed since).
    count: usize,
    /// The newest version (or tombstone) of each name, by index in `versions`.
    latest: HashMap<String, usize>,
    /// The live ones among them, in UID order.
    live: Vec<usize>,
}

impl Collection {
    /// The current version of every live object, in UID order.
    pub fn live(&self) -> Vec<&Version> {
        self.live.iter().map(|&i| &self.versions[i]).collect()
    }

    /// The current version of `name`, if it exists.
    pub fn find(&self, name: &str) -> Option<&Version> {
        self.latest
            .get(name)
            .map(|&i| &self.versions[i])
            .filter(|v| !v.gone)
    }

    /// Every version and tombstone of `name` (what a new write replaces).
    pub fn all_of(&self, name: &str) -> Vec<Uid> {
        self.versions
            .iter()
            .filter(|v| v.name == name)
            .map(|v| v.uid)
            .collect()
    }

    /// Whether this is still what mailbox `m` holds: every change to a mailbox raises its
    /// HIGHESTMODSEQ (appends, expunges, flag changes alike).
    fn current(&self, m: &Mailbox) -> bool {
        self.validity == m.uid_validity.0
            && self.modseq == m.highest_modseq.0
            && self.count == m.messages.len()
    }
}

/// What a PUT needs to know of a collection, read straight from the index (no versions are
/// built: a collection being filled one PUT after another is not read whole each time).
#[derive(Debug, Clone)]
pub struct PutCheck {
    pub validity: u32,
    /// The collection's stored-properties message.
    pub props: Option<Uid>,
    /// The current version of the name, if it exists.
    pub current: Option<Uid>,
    /// Every version and tombstone of the name (what the new version replaces).
    pub versions: Vec<Uid>,
    /// Another live object's name holding the same iCalendar/vCard UID.
    pub conflict: Option<String>,
    /// Object versions stored (tombstones and properties not counted).
    pub stored: usize,
}

/// One account's calendars and address books on its home shard.
pub struct Repo<'a> {
    store: &'a Store,
    key: String,
    /// The shard's replication in a cluster: with `sync`, a write returns once the
    /// account's replicas have it, so a 201 or 204 survives a failover.
    replication: Option<Rc<Replication>>,
}

/// A collection's stored properties, as sent.
pub type Stored = Rc<Vec<(PropName, RawXml)>>;

/// Versions the shard's collection cache holds at most (about 150 bytes each).
const COLLECTION_CACHE_VERSIONS: usize = 500_000;

#[derive(Default)]
struct CollectionCache {
    by_mailbox: HashMap<(String, String), Rc<Collection>>,
    versions: usize,
}

thread_local! {
    /// Collections as last read, by DAV key and mailbox, reused while the mailbox has not
    /// changed: most requests read a collection nobody changed since the last one.
    static COLLECTIONS: RefCell<CollectionCache> = RefCell::new(CollectionCache::default());

    /// Stored collection properties by (key, mailbox, UIDVALIDITY, UID of their message): a
    /// message never changes, so an entry is right for as long as it is found.
    static PROPS: RefCell<HashMap<(String, String, u32, u32), Stored>> =
        RefCell::new(HashMap::new());
}

/// Entries the properties cache holds at most (it is emptied when full).
const PROPS_CACHE: usize = 4096;

impl<'a> Repo<'a> {
    /// `key` is the account's DAV key; `replication` the shard's, in a cluster.
    pub fn new(store: &'a Store, key: String, replication: Option<Rc<Replication>>) -> Repo<'a> {
        Repo {
            store,
            key,
            replication,
        }
    }

    /// Wait for the replicas to confirm the writes just made (with `sync` replication).
    async fn confirmed<T>(&self, done: T) -> Result<T, StoreError> {
        if let Some(r) = &self.replication {
            r.confirm(self.store, &self.key).await?;
        }
        Ok(done)
    }

    /// The account's DAV key.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn owned_here(&self) -> bool {
        self.store.owns(&self.key)
    }

    /// The account exists with its two default collections (made on first use).
    pub async fn ensure(&self) -> Result<(), StoreError> {
        let default = crate::dav::path::DEFAULT_COLLECTION;
        let names = [
            mailbox_name(Home::Calendar, default),
            mailbox_name(Home::Contacts, default),
        ];
        let present = self
            .store
            .inspect(&self.key, |i| {
                i.created && names.iter().all(|n| i.mailbox(n).is_some())
            })
            .await?;
        if present {
            return Ok(());
        }
        self.store.open_bare_account(&self.key).await?;
        for name in &names {
            match self.store.create_mailbox(&self.key, name).await {
                Ok(_) | Err(StoreError::MailboxExists) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The collections of a home, sorted by name (objects left out).
    pub async fn collections(&self, home: Home) -> Result<Vec<Collection>, StoreError> {
        self.store
            .inspect(&self.key, |i| {
                let mut all: Vec<Collection> = i
                    .mailboxes
                    .iter()
                    .filter_map(|m| {
                        let name = m.name.strip_prefix(home.prefix())?;
                        Some(collection_of(name, m, false))
                    })
                    .collect();
                all.sort_by(|a, b| a.name.cmp(&b.name));
                all
            })
            .await
    }

    /// One collection with its versions, if it exists.
    pub async fn collection(
        &self,
        home: Home,
        name: &str,
    ) -> Result<Option<Rc<Collection>>, StoreError> {
        let cache_key = (self.key.clone(), mailbox_name(home, name));
        let cached = COLLECTIONS.with(|c| c.borrow().by_mailbox.get(&cache_key).cloned());
        let found = self
            .store
            .inspect(&self.key, |i| {
                let m = i.mailbox(&cache_key.1)?;
                match cached {
                    Some(c) if c.current(m) => Some((c, false)),
                    _ => Some((Rc::new(collection_of(name, m, true)), true)),
                }
            })
            .await?;
        let Some((collection, fresh)) = found else {
            return Ok(None);
        };
        if fresh {
            COLLECTIONS.with(|c| {
                let mut c = c.borrow_mut();
                if c.versions + collection.versions.len() > COLLECTION_CACHE_VERSIONS {
                    c.by_mailbox.clear();
                    c.versions = 0;
                }
                c.versions += collection.versions.len();
                if let Some(old) = c.by_mailbox.insert(cache_key, collection.clone()) {
                    c.versions = c.versions.saturating_sub(old.versions.len());
                }
            });
        }
        Ok(Some(collection))
    }

    /// What a PUT of `name` with UID `object_uid` needs to know; `None`: no such collection.
    pub async fn put_check(
        &self,
        home: Home,
        collection: &str,
        name: &str,
        object_uid: &str,
    ) -> Result<Option<PutCheck>, StoreError> {
        let mailbox = mailbox_name(home, collection);
        let name = encode(name);
        let id = format!("<{}>", encode(object_uid));
        self.store
            .inspect(&self.key, |i| {
                let m = i.mailbox(&mailbox)?;
                let mut check = PutCheck {
                    validity: m.uid_validity.0,
                    props: None,
                    current: None,
                    versions: Vec::new(),
                    conflict: None,
                    stored: 0,
                };
                let mut candidates: Vec<(&str, Uid)> = Vec::new();
                for e in &m.messages {
                    if e.flags.system.contains(SystemFlags::DRAFT) {
                        check.props = Some(e.uid);
                        continue;
                    }
                    let gone = e.flags.system.contains(SystemFlags::DELETED);
                    let envelope = &e.summary.envelope;
                    let subject = envelope.subject.as_deref().map_or("", str::trim);
                    if !gone {
                        check.stored += 1;
                    }
                    if subject == name {
                        check.versions.push(e.uid);
                        check.current = (!gone).then_some(e.uid);
                    } else if !gone && envelope.message_id.as_deref().map(str::trim) == Some(&id) {
                        candidates.push((subject, e.uid));
                    }
                }
                // A candidate counts only while it is its name's newest version.
                check.conflict = candidates
                    .into_iter()
                    .find(|&(subject, uid)| {
                        !m.messages.iter().any(|e| {
                            e.uid > uid
                                && e.summary.envelope.subject.as_deref().map(str::trim)
                                    == Some(subject)
                        })
                    })
                    .and_then(|(subject, _)| decode(subject));
                Some(check)
            })
            .await
    }

    /// The stored properties of a collection, and its component set (calendars).
    pub async fn properties(
        &self,
        home: Home,
        collection: &Collection,
    ) -> Result<Stored, StoreError> {
        self.properties_of(
            home,
            &collection.name,
            collection.validity,
            collection.props,
        )
        .await
    }

    /// The stored properties in message `props` of collection `name` (UIDVALIDITY
    /// `validity`: a collection made anew under the same name starts its UIDs again).
    pub async fn properties_of(
        &self,
        home: Home,
        name: &str,
        validity: u32,
        props: Option<Uid>,
    ) -> Result<Stored, StoreError> {
        let Some(uid) = props else {
            return Ok(Rc::new(Vec::new()));
        };
        let mailbox = mailbox_name(home, name);
        let cache_key = (self.key.clone(), mailbox.clone(), validity, uid.0);
        if let Some(hit) = PROPS.with(|c| c.borrow().get(&cache_key).cloned()) {
            return Ok(hit);
        }
        let body = self.store.read(&self.key, &mailbox, uid).await?;
        let at = props_body_at(&body);
        let parsed = Rc::new(decode_props(&body[at..]));
        PROPS.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= PROPS_CACHE {
                c.clear();
            }
            c.insert(cache_key, parsed.clone());
        });
        Ok(parsed)
    }

    /// The client's bytes of several versions, in the order asked (`None`: gone meanwhile).
    pub async fn read(
        &self,
        home: Home,
        collection: &str,
        versions: &[&Version],
    ) -> Result<Vec<Option<Body>>, StoreError> {
        let mailbox = mailbox_name(home, collection);
        let wants: Vec<(Uid, u64)> = versions
            .iter()
            .map(|v| (v.uid, u64::from(v.body_at) + u64::from(v.len)))
            .collect();
        let bodies = self
            .store
            .read_prefixes(&self.key, &mailbox, &wants)
            .await?;
        Ok(bodies
            .into_iter()
            .zip(versions)
            .map(|(b, v)| b.map(|b| b.slice(v.body_at as usize, v.len as usize)))
            .collect())
    }

    /// Store a new version of `name`; returns its UID once durable. Older versions and
    /// tombstones of the name are expunged afterwards.
    pub async fn put(
        &self,
        home: Home,
        collection: &str,
        name: &str,
        object_uid: &str,
        bytes: &[u8],
        replaces: &[Uid],
    ) -> Result<Uid, StoreError> {
        let mailbox = mailbox_name(home, collection);
        let mut message = header(name, object_uid, home.content_type());
        message.extend_from_slice(bytes);
        let uid = self
            .store
            .append(
                &self.key,
                &mailbox,
                &message,
                Flags::default(),
                crate::store::now(),
            )
            .await?;
        if !replaces.is_empty() {
            self.store
                .expunge(&self.key, &mailbox, Some(replaces))
                .await?;
        }
        self.confirmed(uid).await
    }

    /// Delete `name`: a tombstone, then its versions expunged.
    pub async fn delete(
        &self,
        home: Home,
        collection: &str,
        name: &str,
        versions: &[Uid],
    ) -> Result<(), StoreError> {
        let mailbox = mailbox_name(home, collection);
        let message = header(name, "", home.content_type());
        self.store
            .append(
                &self.key,
                &mailbox,
                &message,
                Flags::system(SystemFlags::DELETED),
                crate::store::now(),
            )
            .await?;
        self.store
            .expunge(&self.key, &mailbox, Some(versions))
            .await?;
        self.confirmed(()).await
    }

    /// Replace a collection's stored properties (and component set).
    pub async fn set_properties(
        &self,
        home: Home,
        collection: &Collection,
        properties: &[(PropName, RawXml)],
    ) -> Result<(), StoreError> {
        let mailbox = mailbox_name(home, &collection.name);
        let mut message = b"Subject: \r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
        message.extend_from_slice(&encode_props(properties));
        self.store
            .append(
                &self.key,
                &mailbox,
                &message,
                Flags::system(SystemFlags::DRAFT),
                crate::store::now(),
            )
            .await?;
        if let Some(old) = collection.props {
            self.store
                .expunge(&self.key, &mailbox, Some(&[old]))
                .await?;
        }
        self.confirmed(()).await
    }

    /// Make a collection; `Ok(false)` when one of that name exists.
    pub async fn create(
        &self,
        home: Home,
        name: &str,
        properties: &[(PropName, RawXml)],
    ) -> Result<bool, StoreError> {
        match self
            .store
            .create_mailbox(&self.key, &mailbox_name(home, name))
            .await
        {
            Ok(_) => {}
            Err(StoreError::MailboxExists) => return Ok(false),
            Err(e) => return Err(e),
        }
        if !properties.is_empty() {
            if let Some(made) = self.collection(home, name).await? {
                self.set_properties(home, &made, properties).await?;
            }
        }
        self.confirmed(true).await
    }

    /// Delete a collection and everything in it.
    pub async fn remove(&self, home: Home, name: &str) -> Result<(), StoreError> {
        self.store
            .delete_mailbox(&self.key, &mailbox_name(home, name))
            .await?;
        self.confirmed(()).await
    }
}

/// The component set kept among stored properties, if one was set.
pub fn components_of(stored: &[(PropName, RawXml)]) -> Option<Vec<String>> {
    stored.iter().find_map(|(name, raw)| match name {
        PropName::Other { ns, local } if ns == COMPONENTS_NS && local == COMPONENTS_LOCAL => Some(
            String::from_utf8_lossy(raw.as_bytes())
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        _ => None,
    })
}

/// The stored properties clients see (the component set left out).
pub fn visible(stored: &[(PropName, RawXml)]) -> Vec<(PropName, RawXml)> {
    stored
        .iter()
        .filter(|(name, _)| !matches!(name, PropName::Other { ns, .. } if ns == COMPONENTS_NS))
        .cloned()
        .collect()
}

/// The component set as a stored property.
pub fn components_property(components: &[String]) -> (PropName, RawXml) {
    (
        PropName::Other {
            ns: COMPONENTS_NS.into(),
            local: COMPONENTS_LOCAL.into(),
        },
        RawXml::from_stored(components.join(",").into_bytes()),
    )
}

fn mailbox_name(home: Home, collection: &str) -> String {
    format!("{}{collection}", home.prefix())
}

fn collection_of(name: &str, m: &Mailbox, with_versions: bool) -> Collection {
    let mut props = None;
    let mut versions = Vec::new();
    for e in &m.messages {
        if e.flags.system.contains(SystemFlags::DRAFT) {
            props = Some(e.uid);
            continue;
        }
        if !with_versions {
            continue;
        }
        let envelope = &e.summary.envelope;
        let Some(name) = envelope.subject.as_deref().and_then(decode) else {
            continue;
        };
        let body_at = e.summary.parts.first().map_or(0, |p| p.body_offset);
        versions.push(Version {
            name,
            uid: e.uid,
            modseq: e.modseq.0,
            date: e.internal_date,
            body_at,
            len: e.size.saturating_sub(body_at),
            gone: e.flags.system.contains(SystemFlags::DELETED),
        });
    }
    let mut latest: HashMap<String, usize> = HashMap::with_capacity(versions.len());
    for (i, v) in versions.iter().enumerate() {
        latest.insert(v.name.clone(), i);
    }
    let mut live: Vec<usize> = latest
        .values()
        .copied()
        .filter(|&i| !versions[i].gone)
        .collect();
    live.sort_unstable();
    Collection {
        name: name.to_string(),
        validity: m.uid_validity.0,
        modseq: m.highest_modseq.0,
        props,
        versions,
        count: m.messages.len(),
        latest,
        live,
    }
}

/// The header before an object's bytes.
fn header(name: &str, object_uid: &str, content_type: &str) -> Vec<u8> {
    format!(
        "Subject: {}\r\nMessage-ID: <{}>\r\nContent-Type: {content_type}\r\n\r\n",
        encode(name),
        encode(object_uid)
    )
    .into_bytes()
}

/// Percent-encoding of everything but unreserved characters: header-safe, one line.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The reverse of [`encode`] (the header value trimmed first).
fn decode(text: &str) -> Option<String> {
    crate::http::percent_decode_path(text.trim())
}

fn props_body_at(message: &[u8]) -> usize {
    memchr::memmem::find(message, b"\r\n\r\n").map_or(message.len(), |at| at + 4)
}

/// `ns NUL local NUL length NUL bytes` per property.
fn encode_props(properties: &[(PropName, RawXml)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, raw) in properties {
        out.extend_from_slice(name.namespace_uri().as_bytes());
        out.push(0);
        out.extend_from_slice(name.local_name().as_bytes());
        out.push(0);
        out.extend_from_slice(raw.as_bytes().len().to_string().as_bytes());
        out.push(0);
        out.extend_from_slice(raw.as_bytes());
    }
    out
}

fn decode_props(mut bytes: &[u8]) -> Vec<(PropName, RawXml)> {
    let mut out = Vec::new();
    let field = |bytes: &mut &[u8]| -> Option<String> {
        let at = memchr::memchr(0, bytes)?;
        let text = String::from_utf8(bytes[..at].to_vec()).ok()?;
        *bytes = &bytes[at + 1..];
        Some(text)
    };
    while !bytes.is_empty() {
        let (Some(ns), Some(local), Some(len)) =
            (field(&mut bytes), field(&mut bytes), field(&mut bytes))
        else {
            break;
        };
        let Some(len) = len.parse::<usize>().ok().filter(|l| *l <= bytes.len()) else {
            break;
        };
        out.push((
            PropName::new(&ns, &local),
            RawXml::from_stored(bytes[..len].to_vec()),
        ));
        bytes = &bytes[len..];
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::mail::MimeSummary;

    #[test]
    fn names_and_uids_survive_the_header_and_the_envelope() {
        for (name, uid) in [
            ("event.ics", "abc-123@example.com"),
            ("ä b%c:d.ics", "<weird> uid\r\nwith lines"),
            ("x", ""),
        ] {
            let mut message = header(name, uid, Home::Calendar.content_type());
            let body = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n";
            message.extend_from_slice(body);
            let summary = MimeSummary::parse(&message);
            let envelope = &summary.envelope;
            assert_eq!(
                envelope.subject.as_deref().and_then(decode).as_deref(),
                Some(name)
            );
            let id = envelope.message_id.as_deref().unwrap();
            assert_eq!(
                decode(id.trim().trim_start_matches('<').trim_end_matches('>')).as_deref(),
                Some(uid),
                "{id:?}"
            );
            let at = summary.parts[0].body_offset as usize;
            assert_eq!(&message[at..], body);
        }
    }

    #[test]
    fn properties_round_trip() {
        let props = vec![
            (
                PropName::DisplayName,
                RawXml::from_stored(b"Work & more".to_vec()),
            ),
            components_property(&["VTODO".into()]),
            (
                PropName::new("http://example.com/ns", "x"),
                RawXml::from_stored(b"<a xmlns=\"y\">\0</a>".to_vec()),
            ),
        ];
        let decoded = decode_props(&encode_props(&props));
        assert_eq!(decoded, props);
        assert_eq!(components_of(&decoded), Some(vec!["VTODO".to_string()]));
        assert_eq!(visible(&decoded).len(), 2);
    }
}
