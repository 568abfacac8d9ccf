//! The URL layout, exactly as SOGo serves it (seed 000: what mailcow users already have in
//! their phones): the principal `/SOGo/dav/<user>/`, the calendar home `…/Calendar/` with
//! its default `personal/`, the address book home `…/Contacts/` with its default
//! `personal/`. `%40` and `@` are both accepted in the user part.
//!
//! Pure: a request path in, a typed place out; never does IO.

use crate::http::percent_decode_path;

/// Where every DAV resource lives.
pub const DAV_ROOT: &str = "/SOGo/dav/";

/// The collection every account has, in each home.
pub const DEFAULT_COLLECTION: &str = "personal";

/// The scheduling inbox and outbox in the calendar home, as SOGo names them (RFC 6638
/// §2.2, §2.1): empty, since iTIP scheduling is not offered, and reserved names.
pub const SCHEDULE_INBOX: &str = "inbox";
pub const SCHEDULE_OUTBOX: &str = "outbox";

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DavPath {
    /// `/`: clients that start there (vdirsyncer) are told the principal.
    Root,
    /// `/SOGo/dav/`.
    DavRoot,
    /// `/SOGo/dav/<user>/`.
    Principal { user: String },
    /// `/SOGo/dav/<user>/Calendar/`.
    CalendarHome { user: String },
    /// `/SOGo/dav/<user>/Calendar/<collection>/`.
    Calendar { user: String, collection: String },
    /// `/SOGo/dav/<user>/Calendar/<collection>/<name>`.
    CalendarObject {
        user: String,
        collection: String,
        name: String,
    },
    /// `/SOGo/dav/<user>/Contacts/`.
    ContactsHome { user: String },
    /// `/SOGo/dav/<user>/Contacts/<collection>/`.
    AddressBook { user: String, collection: String },
    /// `/SOGo/dav/<user>/Contacts/<collection>/<name>`.
    Card {
        user: String,
        collection: String,
        name: String,
    },
}

impl DavPath {
    /// The place `raw` (a request path, percent-encoded) names; `None` outside the layout
    /// (the caller answers 404). User names are lower-cased: they are case-insensitive.
    pub fn parse(raw: &str) -> Option<DavPath> {
        if raw == "/" {
            return Some(DavPath::Root);
        }
        let rest = raw.strip_prefix("/SOGo/dav")?;
        if rest.is_empty() || rest == "/" {
            return Some(DavPath::DavRoot);
        }
        let rest = rest.strip_prefix('/')?;
        let trailing = rest.ends_with('/');
        let mut segments = Vec::new();
        for segment in rest.strip_suffix('/').unwrap_or(rest).split('/') {
            let decoded = percent_decode_path(segment)?;
            // No empty, dot or slash-bearing segments: a name is one path segment.
            if decoded.is_empty() || decoded == "." || decoded == ".." || decoded.contains('/') {
                return None;
            }
            segments.push(decoded);
        }
        let user = segments.first()?.to_lowercase();
        if !user.contains('@') {
            return None;
        }
        let owned = |i: usize| segments[i].clone();
        Some(
            match (segments.len(), segments.get(1).map(String::as_str)) {
                (1, _) => DavPath::Principal { user },
                (2, Some("Calendar")) => DavPath::CalendarHome { user },
                (2, Some("Contacts")) => DavPath::ContactsHome { user },
                (3, Some("Calendar")) => DavPath::Calendar {
                    user,
                    collection: owned(2),
                },
                (3, Some("Contacts")) => DavPath::AddressBook {
                    user,
                    collection: owned(2),
                },
                (4, Some("Calendar")) if !trailing => DavPath::CalendarObject {
                    user,
                    collection: owned(2),
                    name: owned(3),
                },
                (4, Some("Contacts")) if !trailing => DavPath::Card {
                    user,
                    collection: owned(2),
                    name: owned(3),
                },
                _ => return None,
            },
        )
    }

    /// The account whose resource this is (none for the two roots).
    pub fn user(&self) -> Option<&str> {
        match self {
            DavPath::Root | DavPath::DavRoot => None,
            DavPath::Principal { user }
            | DavPath::CalendarHome { user }
            | DavPath::Calendar { user, .. }
            | DavPath::CalendarObject { user, .. }
            | DavPath::ContactsHome { user }
            | DavPath::AddressBook { user, .. }
            | DavPath::Card { user, .. } => Some(user),
        }
    }

    /// The scheduling inbox or outbox (`Calendar/inbox/`, `Calendar/outbox/`), if it is one.
    pub fn scheduling(&self) -> Option<&'static str> {
        match self {
            DavPath::Calendar { collection, .. } if collection == SCHEDULE_INBOX => {
                Some(SCHEDULE_INBOX)
            }
            DavPath::Calendar { collection, .. } if collection == SCHEDULE_OUTBOX => {
                Some(SCHEDULE_OUTBOX)
            }
            _ => None,
        }
    }

    /// Whether it is a collection (its href ends in `/`).
    pub fn is_collection(&self) -> bool {
        !matches!(self, DavPath::CalendarObject { .. } | DavPath::Card { .. })
    }

    /// The canonical (decoded) path: `@` as is, the user lower-cased.
    pub fn href(&self) -> String {
        match self {
            DavPath::Root => "/".into(),
            DavPath::DavRoot => DAV_ROOT.into(),
            DavPath::Principal { user } => principal(user),
            DavPath::CalendarHome { user } => calendar_home(user),
            DavPath::Calendar { user, collection } => {
                format!("{}{collection}/", calendar_home(user))
            }
            DavPath::CalendarObject {
                user,
                collection,
                name,
            } => format!("{}{collection}/{name}", calendar_home(user)),
            DavPath::ContactsHome { user } => contacts_home(user),
            DavPath::AddressBook { user, collection } => {
                format!("{}{collection}/", contacts_home(user))
            }
            DavPath::Card {
                user,
                collection,
                name,
            } => format!("{}{collection}/{name}", contacts_home(user)),
        }
    }
}

/// `/SOGo/dav/<user>/`.
pub fn principal(user: &str) -> String {
    format!("{DAV_ROOT}{user}/")
}

/// `/SOGo/dav/<user>/Calendar/`.
pub fn calendar_home(user: &str) -> String {
    format!("{DAV_ROOT}{user}/Calendar/")
}

/// `/SOGo/dav/<user>/Contacts/`.
pub fn contacts_home(user: &str) -> String {
    format!("{DAV_ROOT}{user}/Contacts/")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sogo_paths_with_at_or_percent_40_in_any_case() {
        let calendar = DavPath::Calendar {
            user: "alice@example.com".into(),
            collection: "personal".into(),
        };
        for raw in [
            "/SOGo/dav/alice@example.com/Calendar/personal/",
            "/SOGo/dav/alice%40example.com/Calendar/personal/",
            "/SOGo/dav/Alice%40Example.COM/Calendar/personal",
        ] {
            assert_eq!(DavPath::parse(raw), Some(calendar.clone()), "{raw}");
        }
        assert_eq!(
            calendar.href(),
            "/SOGo/dav/alice@example.com/Calendar/personal/"
        );
        assert_eq!(DavPath::parse("/"), Some(DavPath::Root));
        assert_eq!(DavPath::parse("/SOGo/dav"), Some(DavPath::DavRoot));
        assert_eq!(DavPath::parse("/SOGo/dav/"), Some(DavPath::DavRoot));
        assert_eq!(
            DavPath::parse("/SOGo/dav/bob@example.com/"),
            Some(DavPath::Principal {
                user: "bob@example.com".into()
            })
        );
        assert_eq!(
            DavPath::parse("/SOGo/dav/bob@example.com/Contacts/"),
            Some(DavPath::ContactsHome {
                user: "bob@example.com".into()
            })
        );
        let card = DavPath::parse("/SOGo/dav/bob@example.com/Contacts/personal/a%20b.vcf").unwrap();
        assert_eq!(
            card,
            DavPath::Card {
                user: "bob@example.com".into(),
                collection: "personal".into(),
                name: "a b.vcf".into()
            }
        );
        assert!(!card.is_collection());
        assert_eq!(card.user(), Some("bob@example.com"));
    }

    #[test]
    fn anything_outside_the_layout_is_not_a_place() {
        for raw in [
            "/SOGo",
            "/SOGo/dav/nobody/",
            "/SOGo/dav/a@b/Mail/",
            "/SOGo/dav/a@b/Calendar/personal/x.ics/",
            "/SOGo/dav/a@b/Calendar/personal/x/y.ics",
            "/SOGo/dav/a@b/Calendar/../Contacts/",
            "/SOGo/dav/a@b/Calendar/%2e%2e/",
            "/SOGo/dav/a@b/Calendar/a%2Fb/",
            "/SOGo/dav/a@b/Calendar//",
            "/SOGo/dav/a@b/Calendar/%ZZ/",
            "/other",
        ] {
            assert_eq!(DavPath::parse(raw), None, "{raw}");
        }
    }
}
