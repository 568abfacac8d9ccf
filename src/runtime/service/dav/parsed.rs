//! Calendar objects and vCards parsed once per stored version, kept per shard: a version is
//! a message that never changes (a new version is a new UID), so a parse found under its
//! collection's UIDVALIDITY and its UID is right for as long as it is found. Queries then
//! test time ranges and filters without reading or parsing the objects again.
//!
//! Bounded: the shard keeps at most [`MAX_ENTRIES`] parses and starts over when full.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::dav::objects::{
    validate_calendar_object, validate_vcard, CalendarLimits, CalendarObject, Card, CardLimits,
    ComponentKind, ComponentSet,
};
use crate::store::StoreError;

use super::repo::{Collection, Home, Repo, Version};

/// Parses kept per shard at most.
const MAX_ENTRIES: usize = 200_000;

#[derive(Clone)]
enum Parsed {
    Calendar(Rc<CalendarObject>),
    Card(Rc<Card>),
    /// Stored before a validation that now refuses it (never, unless the rules changed).
    Invalid,
}

#[derive(Default)]
struct Cache {
    /// By DAV key and mailbox: the collection's UIDVALIDITY and its parses by UID.
    collections: HashMap<String, (u32, HashMap<u32, Parsed>)>,
    entries: usize,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Every component type, no size limit: what stored objects are parsed with (they were
/// checked against their collection's rules when stored).
pub(super) fn every_component() -> CalendarLimits {
    CalendarLimits {
        max_size: usize::MAX,
        components: ComponentSet::of(&[
            ComponentKind::Event,
            ComponentKind::Todo,
            ComponentKind::Journal,
            ComponentKind::FreeBusy,
        ]),
    }
}

/// The parses of `versions` (live versions of `c`), reading and parsing those not cached.
async fn parsed(
    repo: &Repo<'_>,
    home: Home,
    c: &Collection,
    versions: &[&Version],
) -> Result<Vec<Parsed>, StoreError> {
    let key = format!("{}\0{:?}\0{}", repo.key(), home, c.name);
    let mut out: Vec<Option<Parsed>> = CACHE.with(|cache| {
        let cache = cache.borrow();
        match cache.collections.get(&key) {
            Some((validity, known)) if *validity == c.validity => versions
                .iter()
                .map(|v| known.get(&v.uid.0).cloned())
                .collect(),
            _ => vec![None; versions.len()],
        }
    });
    let missing: Vec<&Version> = versions
        .iter()
        .zip(&out)
        .filter(|(_, p)| p.is_none())
        .map(|(v, _)| *v)
        .collect();
    if missing.is_empty() {
        return Ok(out.into_iter().flatten().collect());
    }
    let bodies = repo.read(home, &c.name, &missing).await?;
    let fresh: Vec<(u32, Parsed)> = missing
        .iter()
        .zip(bodies)
        .map(|(v, body)| {
            let parsed = match (home, body) {
                (_, None) => Parsed::Invalid,
                (Home::Calendar, Some(b)) => validate_calendar_object(&b, &every_component())
                    .map_or(Parsed::Invalid, |o| Parsed::Calendar(Rc::new(o))),
                (Home::Contacts, Some(b)) => validate_vcard(
                    &b,
                    &CardLimits {
                        max_size: usize::MAX,
                    },
                )
                .map_or(Parsed::Invalid, |card| Parsed::Card(Rc::new(card))),
            };
            (v.uid.0, parsed)
        })
        .collect();
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.entries + fresh.len() > MAX_ENTRIES {
            cache.collections.clear();
            cache.entries = 0;
        }
        let cache = &mut *cache;
        let entry = cache
            .collections
            .entry(key)
            .or_insert_with(|| (c.validity, HashMap::new()));
        if entry.0 != c.validity {
            cache.entries -= entry.1.len();
            *entry = (c.validity, HashMap::new());
        }
        for (uid, parsed) in &fresh {
            if entry.1.insert(*uid, parsed.clone()).is_none() {
                cache.entries += 1;
            }
        }
    });
    let mut fresh = fresh.into_iter().map(|(_, p)| p);
    for slot in out.iter_mut().filter(|p| p.is_none()) {
        *slot = fresh.next();
    }
    Ok(out.into_iter().flatten().collect())
}

/// The calendar objects of `versions` (`None` for one that does not parse).
pub async fn calendars(
    repo: &Repo<'_>,
    c: &Collection,
    versions: &[&Version],
) -> Result<Vec<Option<Rc<CalendarObject>>>, StoreError> {
    Ok(parsed(repo, Home::Calendar, c, versions)
        .await?
        .into_iter()
        .map(|p| match p {
            Parsed::Calendar(o) => Some(o),
            _ => None,
        })
        .collect())
}

/// The vCards of `versions` (`None` for one that does not parse).
pub async fn cards(
    repo: &Repo<'_>,
    c: &Collection,
    versions: &[&Version],
) -> Result<Vec<Option<Rc<Card>>>, StoreError> {
    Ok(parsed(repo, Home::Contacts, c, versions)
        .await?
        .into_iter()
        .map(|p| match p {
            Parsed::Card(card) => Some(card),
            _ => None,
        })
        .collect())
}
