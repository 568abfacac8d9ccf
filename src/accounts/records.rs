//! The accounts file's lines: live accounts, and deleted ones kept for an operator.
//!
//! ```text
//! alice@example.com:$argon2id$…                                   made before incarnations (0)
//! bob@example.com:7f3c9a10e2b4d658:$argon2id$…                    live, incarnation 7f3c…
//! !carol@example.com:0e1d2c3b4a596877:1796000000:keep:$argon2id$… deleted, data kept
//! !dave@example.com:1122334455667788:1796000000:purge:$argon2id$… deleted, data removed
//! ```
//!
//! An argon2id PHC string holds no `:` and an address may not, so `:` separates the fields.
//! A line without an incarnation is an account made before incarnations existed: its mail is
//! stored under the bare address, so old data folders keep working without a migration step.

use std::collections::BTreeMap;
use std::fmt;

use argon2::password_hash::PasswordHash;

use super::Address;

/// What tells an account apart from every earlier account with the same address. Never
/// reused for an address: a re-created account never sees the mail of the one before it.
/// `0` is the incarnation of accounts made before incarnations existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Incarnation(pub u64);

impl Incarnation {
    /// Parse the 16 hex digits of the accounts file (and of `user restore --incarnation`).
    pub fn parse(text: &str) -> Option<Incarnation> {
        if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(text, 16).ok().map(Incarnation)
    }
}

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// One account's identity: its address and its incarnation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Account {
    pub address: Address,
    pub incarnation: Incarnation,
}

impl Account {
    /// The name the store keeps this account's mail under: the bare address for incarnation
    /// 0, else `address#incarnation`. A domain never holds `#`, so no address and no other
    /// incarnation has the same key.
    pub fn store_key(&self) -> String {
        store_key(&self.address, self.incarnation)
    }
}

/// The address part of a store key (what the mail was sent to, for trace headers and logs).
pub fn address_of_key(key: &str) -> &str {
    key.split_once('#').map_or(key, |(address, _)| address)
}

pub(super) fn store_key(address: &Address, incarnation: Incarnation) -> String {
    if incarnation.0 == 0 {
        address.as_str().to_string()
    } else {
        format!("{}#{incarnation}", address.as_str())
    }
}

/// A live account's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub incarnation: Incarnation,
    /// argon2id PHC string.
    pub hash: String,
}

/// What happens to a deleted account's mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Kept, invisible to everyone, until `user restore` (or `user purge`).
    Keep,
    /// Removed by the server (at once when it runs, else at its next start).
    Purge,
}

/// A deleted account, as `user list --deleted` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub account: Account,
    /// Seconds since the Unix epoch.
    pub deleted_at: u64,
    pub retention: Retention,
    pub(super) hash: String,
}

/// The whole file, parsed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Records {
    pub live: BTreeMap<Address, Entry>,
    /// Oldest first.
    pub deleted: Vec<Deleted>,
}

impl Records {
    /// Whether `incarnation` was ever used for `address` (live or deleted).
    pub fn used(&self, address: &Address, incarnation: Incarnation) -> bool {
        self.live
            .get(address)
            .is_some_and(|e| e.incarnation == incarnation)
            || self
                .deleted
                .iter()
                .any(|d| d.account.address == *address && d.account.incarnation == incarnation)
    }
}

fn is_argon2id(hash: &str) -> bool {
    matches!(PasswordHash::new(hash), Ok(parsed) if parsed.algorithm == argon2::Algorithm::Argon2id.ident())
}

/// Parse the file's text; an error gives the 1-based line number and what is wrong.
pub(super) fn parse(text: &str) -> Result<Records, (usize, &'static str)> {
    let mut records = Records::default();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('!') {
            let fields: Vec<&str> = rest.splitn(5, ':').collect();
            let [address, incarnation, deleted_at, retention, hash] = fields[..] else {
                return Err((n, "a deleted account needs five fields"));
            };
            let address = Address::parse_syntax(address).map_err(|_| (n, "not a valid address"))?;
            let incarnation = Incarnation::parse(incarnation).ok_or((n, "bad incarnation"))?;
            let deleted_at = deleted_at.parse().map_err(|_| (n, "bad deletion time"))?;
            let retention = match retention {
                "keep" => Retention::Keep,
                "purge" => Retention::Purge,
                _ => return Err((n, "retention is neither `keep` nor `purge`")),
            };
            if !is_argon2id(hash) {
                return Err((n, "not an argon2id hash"));
            }
            if records.used(&address, incarnation) {
                return Err((n, "duplicate incarnation"));
            }
            records.deleted.push(Deleted {
                account: Account {
                    address,
                    incarnation,
                },
                deleted_at,
                retention,
                hash: hash.to_string(),
            });
            continue;
        }
        let (address, rest) = line.split_once(':').ok_or((n, "missing `:`"))?;
        let address = Address::parse_syntax(address).map_err(|_| (n, "not a valid address"))?;
        let (incarnation, hash) = match rest.split_once(':') {
            Some((incarnation, hash)) => (
                Incarnation::parse(incarnation).ok_or((n, "bad incarnation"))?,
                hash,
            ),
            None => (Incarnation(0), rest),
        };
        if !is_argon2id(hash) {
            return Err((n, "not an argon2id hash"));
        }
        if records.live.contains_key(&address) {
            return Err((n, "duplicate address"));
        }
        if records.used(&address, incarnation) {
            return Err((n, "duplicate incarnation"));
        }
        records.live.insert(
            address,
            Entry {
                incarnation,
                hash: hash.to_string(),
            },
        );
    }
    Ok(records)
}

/// The file's text: `header`, then live accounts by address, then deleted ones oldest first.
pub(super) fn render(header: &str, records: &Records) -> String {
    let mut text = String::from(header);
    for (address, entry) in &records.live {
        text.push_str(address.as_str());
        text.push(':');
        if entry.incarnation.0 != 0 {
            text.push_str(&entry.incarnation.to_string());
            text.push(':');
        }
        text.push_str(&entry.hash);
        text.push('\n');
    }
    for d in &records.deleted {
        let retention = match d.retention {
            Retention::Keep => "keep",
            Retention::Purge => "purge",
        };
        text.push_str(&format!(
            "!{}:{}:{}:{retention}:{}\n",
            d.account.address.as_str(),
            d.account.incarnation,
            d.deleted_at,
            d.hash
        ));
    }
    text
}
