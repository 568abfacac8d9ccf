//! Access control lists (RFC 4314): the rights one identifier has on a mailbox, and the
//! names of the shared namespace another account's mailboxes are seen under.
//!
//! Rights are the eleven letters of RFC 4314 §2.1, `lrswipkxtea`, kept as a bit set. The
//! obsolete `c` and `d` of RFC 2086 are virtual (§2.1.1): `c` is read as `k` and `d` as
//! `xte` (the second of the two groupings the RFC allows: create is `k` alone, delete is
//! expunge, delete-message and delete-mailbox together); a list of rights is written with
//! `c` when `k` is in it and `d` when any of `x`, `t`, `e` is.
//!
//! Identifiers are account addresses (lower case) or `anyone`. Negative rights (`-name`) are
//! not supported. The owner of a mailbox has every right on it, always; no ACL entry names
//! the owner.

/// A set of RFC 4314 rights.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug))]
pub struct Rights(pub u16);

impl std::fmt::Debug for Rights {
    /// As the letters: `Rights("lr")`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rights({:?})", self.to_string())
    }
}

/// The letters of the real rights, in the order they are written.
const LETTERS: &[u8; 11] = b"lrswipkxtea";

impl Rights {
    pub const NONE: Rights = Rights(0);
    /// `l`: the mailbox is visible to LIST/LSUB.
    pub const LOOKUP: Rights = Rights(1);
    /// `r`: SELECT, EXAMINE, STATUS, FETCH, SEARCH.
    pub const READ: Rights = Rights(1 << 1);
    /// `s`: set or clear `\Seen`.
    pub const SEEN: Rights = Rights(1 << 2);
    /// `w`: set or clear the flags other than `\Seen` and `\Deleted`.
    pub const WRITE: Rights = Rights(1 << 3);
    /// `i`: APPEND, COPY or MOVE into the mailbox.
    pub const INSERT: Rights = Rights(1 << 4);
    /// `p`: post (not enforced by IMAP).
    pub const POST: Rights = Rights(1 << 5);
    /// `k`: CREATE below it, RENAME to below it.
    pub const CREATE: Rights = Rights(1 << 6);
    /// `x`: DELETE it, RENAME it.
    pub const DELETE_MAILBOX: Rights = Rights(1 << 7);
    /// `t`: set or clear `\Deleted`.
    pub const DELETE_MESSAGES: Rights = Rights(1 << 8);
    /// `e`: EXPUNGE.
    pub const EXPUNGE: Rights = Rights(1 << 9);
    /// `a`: SETACL, DELETEACL, GETACL, LISTRIGHTS.
    pub const ADMIN: Rights = Rights(1 << 10);
    /// Every right: the owner's.
    pub const ALL: Rights = Rights((1 << 11) - 1);

    pub fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any right of `other` is in this set.
    pub fn any(self, other: Rights) -> bool {
        self.0 & other.0 != 0
    }

    pub fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    pub fn without(self, other: Rights) -> Rights {
        Rights(self.0 & !other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The right a letter stands for, the virtual `c` and `d` included (RFC 4314 §2.1.1);
    /// `None` for any other character (upper case too: rights are lower case).
    pub fn of_letter(c: u8) -> Option<Rights> {
        if let Some(i) = LETTERS.iter().position(|&l| l == c) {
            return Some(Rights(1 << i));
        }
        match c {
            b'c' => Some(Rights::CREATE),
            b'd' => Some(
                Rights::DELETE_MAILBOX
                    .union(Rights::DELETE_MESSAGES)
                    .union(Rights::EXPUNGE),
            ),
            _ => None,
        }
    }

    /// Rights written as letters; the first character that is not a right is the error.
    pub fn parse(text: &str) -> Result<Rights, char> {
        let mut rights = Rights::NONE;
        for c in text.chars() {
            let right = u8::try_from(c).ok().and_then(Rights::of_letter).ok_or(c)?;
            rights = rights.union(right);
        }
        Ok(rights)
    }

    /// Whether SELECT opens the mailbox read-write (RFC 4314 §5.2): any of `i`, `e` or the
    /// rights of the flags, which are all shared between the users of a mailbox (`s`, `w`,
    /// `t`).
    pub fn read_write(self) -> bool {
        self.any(
            Rights::INSERT
                .union(Rights::EXPUNGE)
                .union(Rights::SEEN)
                .union(Rights::WRITE)
                .union(Rights::DELETE_MESSAGES),
        )
    }

    /// The rights RFC 4314 §4 lets MYRIGHTS answer with: any of `l r i k x a`.
    pub fn any_for_myrights(self) -> bool {
        self.any(
            Rights::LOOKUP
                .union(Rights::READ)
                .union(Rights::INSERT)
                .union(Rights::CREATE)
                .union(Rights::DELETE_MAILBOX)
                .union(Rights::ADMIN),
        )
    }
}

impl std::fmt::Display for Rights {
    /// The letters, in `lrswipkxtea` order, then `c` and `d` as RFC 4314 §2.1.1 asks.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::with_capacity(13);
        for (i, &l) in LETTERS.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                out.push(char::from(l));
            }
        }
        if self.contains(Rights::CREATE) {
            out.push('c');
        }
        if self.any(
            Rights::DELETE_MAILBOX
                .union(Rights::DELETE_MESSAGES)
                .union(Rights::EXPUNGE),
        ) {
            out.push('d');
        }
        f.write_str(&out)
    }
}

/// The identifier every user matches (RFC 4314 §2).
pub const ANYONE: &str = "anyone";

/// One entry of a mailbox's ACL: an identifier (an address, lower case, or `anyone`) and
/// its rights.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct AclEntry {
    pub identifier: String,
    pub rights: Rights,
}

/// How SETACL changes an identifier's rights (RFC 4314 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RightsChange {
    /// No prefix: these rights replace the identifier's.
    Replace(Rights),
    /// `+`: added.
    Add(Rights),
    /// `-`: removed.
    Remove(Rights),
}

impl RightsChange {
    /// The identifier's rights after the change.
    pub fn apply(self, old: Rights) -> Rights {
        match self {
            RightsChange::Replace(r) => r,
            RightsChange::Add(r) => old.union(r),
            RightsChange::Remove(r) => old.without(r),
        }
    }
}

/// The rights `user` has from `acl` (the entries of a mailbox not owned by `user`): its own
/// entry's and `anyone`'s.
pub fn rights_of(acl: &[AclEntry], user: &str) -> Rights {
    acl.iter()
        .filter(|e| e.identifier == user || e.identifier == ANYONE)
        .fold(Rights::NONE, |r, e| r.union(e.rights))
}

/// The first part of every shared mailbox's name: `Shared/<owner>/<mailbox>` (RFC 2342's
/// "other users' namespace", named as Dovecot names it).
pub const SHARED_PREFIX: &str = "Shared";

/// A mailbox name as the shared namespace splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedName<'a> {
    /// Not in the shared namespace: one of the user's own mailboxes.
    Personal,
    /// `Shared` or `Shared/<owner>`: a level of the namespace that is no mailbox.
    Level,
    /// `Shared/<owner>/<mailbox>`: `owner` lower-cased.
    Mailbox { owner: String, mailbox: &'a str },
}

/// Split `name` (a store name: no trailing `/`) by the shared namespace.
pub fn shared_name(name: &str) -> SharedName<'_> {
    let Some(rest) = name.strip_prefix(SHARED_PREFIX) else {
        return SharedName::Personal;
    };
    if rest.is_empty() {
        return SharedName::Level;
    }
    let Some(rest) = rest.strip_prefix('/') else {
        return SharedName::Personal;
    };
    match rest.split_once('/') {
        None => SharedName::Level,
        Some((owner, mailbox)) if !owner.is_empty() && !mailbox.is_empty() => SharedName::Mailbox {
            owner: owner.to_lowercase(),
            mailbox,
        },
        Some(_) => SharedName::Level,
    }
}

/// The name `owner`'s `mailbox` has in the shared namespace.
pub fn shared_mailbox_name(owner: &str, mailbox: &str) -> String {
    format!("{SHARED_PREFIX}/{owner}/{mailbox}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn letters_parse_and_print_with_the_virtual_rights() {
        let r = Rights::parse("lrswida").unwrap();
        // RFC 4314 §2.1.1: `d` expands to its members, and comes back with them.
        assert_eq!(r.to_string(), "lrswixtead");
        assert_eq!(
            Rights::parse("lrswikda").unwrap().to_string(),
            "lrswikxteacd"
        );
        assert_eq!(Rights::ALL.to_string(), "lrswipkxteacd");
        assert_eq!(Rights::parse("").unwrap(), Rights::NONE);
        assert_eq!(Rights::parse("c").unwrap(), Rights::CREATE);
        assert_eq!(Rights::parse("lrQ"), Err('Q'));
        assert_eq!(Rights::parse("lrq"), Err('q'));
        assert_eq!(Rights::parse("1"), Err('1'));
    }

    #[test]
    fn read_write_needs_a_modifying_right() {
        assert!(!Rights::parse("lr").unwrap().read_write());
        assert!(Rights::parse("lri").unwrap().read_write());
        assert!(Rights::parse("lrs").unwrap().read_write());
        assert!(!Rights::parse("p").unwrap().any_for_myrights());
        assert!(Rights::parse("k").unwrap().any_for_myrights());
    }

    #[test]
    fn changes_and_anyone() {
        let lr = Rights::parse("lr").unwrap();
        assert_eq!(
            RightsChange::Add(Rights::WRITE).apply(lr).to_string(),
            "lrw"
        );
        assert_eq!(
            RightsChange::Remove(Rights::READ).apply(lr).to_string(),
            "l"
        );
        assert_eq!(RightsChange::Replace(Rights::NONE).apply(lr), Rights::NONE);
        let acl = vec![
            AclEntry {
                identifier: "bob@example.com".into(),
                rights: Rights::parse("lr").unwrap(),
            },
            AclEntry {
                identifier: ANYONE.into(),
                rights: Rights::parse("l").unwrap(),
            },
        ];
        assert_eq!(rights_of(&acl, "bob@example.com").to_string(), "lr");
        assert_eq!(rights_of(&acl, "carol@example.com").to_string(), "l");
    }

    #[test]
    fn shared_names_split() {
        assert_eq!(shared_name("INBOX"), SharedName::Personal);
        assert_eq!(shared_name("Sharedx"), SharedName::Personal);
        assert_eq!(shared_name("Shared"), SharedName::Level);
        assert_eq!(shared_name("Shared/Alice@Example.com"), SharedName::Level);
        assert_eq!(
            shared_name("Shared/Alice@Example.com/INBOX/x"),
            SharedName::Mailbox {
                owner: "alice@example.com".into(),
                mailbox: "INBOX/x"
            }
        );
        assert_eq!(
            shared_mailbox_name("a@b.c", "INBOX"),
            "Shared/a@b.c/INBOX".to_string()
        );
    }
}
