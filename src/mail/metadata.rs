//! METADATA (RFC 5464): annotation entries of mailboxes and of the server, as the IMAP
//! session and the mailbox service exchange them. Entry names are compared without regard
//! to case and kept in lower case. Never does IO.

/// One annotation: its entry name (`/private/...` or `/shared/...`, lower case) and value;
/// `None` (SETMETADATA's NIL) removes it.
#[derive(Clone, PartialEq, Eq)]
pub struct Annotation {
    pub name: String,
    pub value: Option<Vec<u8>>,
}

impl std::fmt::Debug for Annotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={:?}", self.name, v.escape_ascii().to_string()),
            None => write!(f, "{}=NIL", self.name),
        }
    }
}

/// How far below a requested entry GETMETADATA looks (RFC 5464 §4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    /// The entry alone.
    #[default]
    Zero,
    /// The entry and its immediate children.
    One,
    /// The entry and every entry below it.
    Infinity,
}

/// Limits on annotations (`[imap] metadata_max_entries`, `metadata_max_size`), and the
/// server entries the administrator sets (`metadata_admin`, `metadata_comment`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataSettings {
    /// Entries a mailbox (or the server, per account) may have.
    pub max_entries: usize,
    /// Bytes one value may have.
    pub max_size: usize,
    /// `/shared/admin` of the server: how to reach the administrator.
    pub admin: Option<String>,
    /// `/shared/comment` of the server.
    pub comment: Option<String>,
}

impl Default for MetadataSettings {
    fn default() -> Self {
        MetadataSettings {
            max_entries: 100,
            max_size: 16 << 10,
            admin: None,
            comment: None,
        }
    }
}

/// The entry name `raw` in its stored form (lower case), if it is one (RFC 5464 §3.2 and
/// the `entry` grammar): `/private` or `/shared`, then `/`-separated non-empty components of
/// printable ASCII without `*` or `%`. `root_ok`: `/private` and `/shared` alone are
/// accepted too (GETMETADATA with DEPTH names a subtree that way).
pub fn entry_name(raw: &[u8], root_ok: bool) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?.to_ascii_lowercase();
    let bad_char = |c: char| !c.is_ascii_graphic() || c == '*' || c == '%';
    if text.chars().any(bad_char) || text.ends_with('/') || text.contains("//") {
        return None;
    }
    let rest = text
        .strip_prefix("/private")
        .or_else(|| text.strip_prefix("/shared"))?;
    match rest {
        "" if root_ok => Some(text),
        r if r.starts_with('/') && r.len() > 1 => Some(text),
        _ => None,
    }
}

/// Whether `name` is `entry` or, within `depth`, below it.
pub fn within(name: &str, entry: &str, depth: Depth) -> bool {
    if name == entry {
        return true;
    }
    let Some(rest) = name.strip_prefix(entry).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    match depth {
        Depth::Zero => false,
        Depth::One => !rest.contains('/'),
        Depth::Infinity => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_checked_and_lower_cased() {
        assert_eq!(
            entry_name(b"/Shared/Comment", false).as_deref(),
            Some("/shared/comment")
        );
        assert_eq!(
            entry_name(b"/private/vendor/x.y", false).as_deref(),
            Some("/private/vendor/x.y")
        );
        assert_eq!(entry_name(b"/shared", true).as_deref(), Some("/shared"));
        for bad in [
            &b"/shared"[..],
            b"/shared/",
            b"/other/x",
            b"shared/x",
            b"/shared//x",
            b"/shared/a*",
            b"/shared/a%",
            b"/shared/a b",
            b"/privatex/y",
            "/shared/é".as_bytes(),
        ] {
            assert_eq!(
                entry_name(bad, false),
                None,
                "{:?}",
                bad.escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn depth_selects_the_entry_its_children_or_its_subtree() {
        let e = "/shared/vendor";
        assert!(within("/shared/vendor", e, Depth::Zero));
        assert!(!within("/shared/vendor/a", e, Depth::Zero));
        assert!(within("/shared/vendor/a", e, Depth::One));
        assert!(!within("/shared/vendor/a/b", e, Depth::One));
        assert!(within("/shared/vendor/a/b", e, Depth::Infinity));
        assert!(!within("/shared/vendorx", e, Depth::Infinity));
    }
}
