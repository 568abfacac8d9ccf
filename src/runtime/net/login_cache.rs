//! The verified-login cache: a correct repeated login costs a keyed hash and a map lookup,
//! not an argon2id run (`[auth] cache_ttl_secs`, `cache_size`; Dovecot's `auth_cache` is the
//! model).
//!
//! After a successful verification the shard keeps, in memory only, an HMAC-SHA-256 (with a
//! key made at random when the process starts) of the login's scope, the user name as given
//! (lower-cased), the password mode and the password, with what the verification said.
//! A later login whose HMAC matches — same user, same password — is taken from here while
//! the entry is younger than the TTL and the accounts file is the version it was verified
//! with: any change to any account (a new password, a revoked app password, a deletion)
//! makes every entry stale at once. A wrong password never matches an entry (its HMAC is
//! another), so it still pays the full hash and the failure delay, and failures are never
//! cached.
//!
//! The trade-off (as with Dovecot's cache): for up to the TTL, the process's memory holds
//! a keyed digest from which a correct password could be confirmed by someone who also has
//! the process's random key — that is, by someone who can read the process's memory, who
//! could as well read passwords as they arrive. Nothing is written to disk. The entries are
//! bounded per shard; when full, expired ones go, and if that is not enough, all of them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ring::hmac;

use crate::accounts::{CredentialUse, ProtocolPasswords, Scope};

/// What a verification said, kept for the TTL.
#[derive(Debug, Clone)]
pub struct Verified {
    pub account: String,
    pub store_key: String,
    /// The accounts file version it was verified with.
    pub version: u64,
    pub credential: CredentialUse,
}

#[derive(Debug)]
struct Entry {
    verified: Verified,
    at: Instant,
}

/// One shard's cache.
#[derive(Debug, Default)]
pub struct LoginCache {
    entries: RefCell<HashMap<[u8; 32], Entry>>,
}

/// The process's key: random, never written anywhere.
fn key() -> &'static hmac::Key {
    static KEY: OnceLock<hmac::Key> = OnceLock::new();
    KEY.get_or_init(|| {
        hmac::Key::generate(hmac::HMAC_SHA256, &ring::rand::SystemRandom::new()).unwrap_or_else(
            |_| {
                // No random source: a key nobody knows either way, from the clock and address.
                let seed = format!("{:?}{:p}", Instant::now(), &KEY);
                hmac::Key::new(hmac::HMAC_SHA256, seed.as_bytes())
            },
        )
    })
}

/// The cache key of a login.
pub fn fingerprint(
    scope: Scope,
    mode: ProtocolPasswords,
    username: &str,
    password: &str,
) -> [u8; 32] {
    let mut ctx = hmac::Context::with_key(key());
    ctx.update(scope.name().as_bytes());
    ctx.update(&[0, mode as u8, 0]);
    ctx.update(username.to_ascii_lowercase().as_bytes());
    ctx.update(&[0]);
    ctx.update(password.as_bytes());
    let tag = ctx.sign();
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

impl LoginCache {
    /// The verification remembered for `fingerprint`, if younger than `ttl` and made with
    /// the accounts file version `current`.
    pub fn get(&self, fingerprint: &[u8; 32], ttl: Duration, current: u64) -> Option<Verified> {
        let mut entries = self.entries.borrow_mut();
        let fresh = entries
            .get(fingerprint)
            .map(|e| e.at.elapsed() < ttl && e.verified.version == current)?;
        if !fresh {
            entries.remove(fingerprint);
            return None;
        }
        entries.get(fingerprint).map(|e| e.verified.clone())
    }

    /// Remember a successful verification; at most `capacity` entries.
    pub fn put(&self, fingerprint: [u8; 32], verified: Verified, ttl: Duration, capacity: usize) {
        if ttl.is_zero() || capacity == 0 {
            return;
        }
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= capacity {
            entries.retain(|_, e| e.at.elapsed() < ttl);
            if entries.len() >= capacity {
                entries.clear();
            }
        }
        entries.insert(
            fingerprint,
            Entry {
                verified,
                at: Instant::now(),
            },
        );
    }

    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(version: u64) -> Verified {
        Verified {
            account: "a@example.com".into(),
            store_key: "a@example.com".into(),
            version,
            credential: CredentialUse {
                id: "web".into(),
                stamp: 7,
            },
        }
    }

    #[test]
    fn only_the_same_password_scope_and_mode_match() {
        let mode = ProtocolPasswords::SameAsWeb;
        let a = fingerprint(Scope::Imap, mode, "A@Example.com", "right-password");
        assert_eq!(
            a,
            fingerprint(Scope::Imap, mode, "a@example.com", "right-password")
        );
        for other in [
            fingerprint(Scope::Imap, mode, "a@example.com", "wrong-password"),
            fingerprint(Scope::Pop3, mode, "a@example.com", "right-password"),
            fingerprint(
                Scope::Imap,
                ProtocolPasswords::Separate,
                "a@example.com",
                "right-password",
            ),
            fingerprint(Scope::Imap, mode, "b@example.com", "right-password"),
        ] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn entries_expire_and_go_stale_with_the_file() {
        let cache = LoginCache::default();
        let ttl = Duration::from_secs(60);
        let f = fingerprint(Scope::Imap, ProtocolPasswords::SameAsWeb, "a@b.c", "pw");
        assert!(cache.get(&f, ttl, 1).is_none());
        cache.put(f, verified(1), ttl, 10);
        assert_eq!(cache.get(&f, ttl, 1).map(|v| v.version), Some(1));
        // The accounts file changed: stale, and gone.
        assert!(cache.get(&f, ttl, 2).is_none());
        assert!(cache.is_empty());
        cache.put(f, verified(2), ttl, 10);
        assert!(cache.get(&f, Duration::ZERO, 2).is_none());
        // A zero TTL keeps nothing.
        cache.put(f, verified(2), Duration::ZERO, 10);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_stays_within_its_size() {
        let cache = LoginCache::default();
        let ttl = Duration::from_secs(60);
        for i in 0..25 {
            let f = fingerprint(
                Scope::Imap,
                ProtocolPasswords::SameAsWeb,
                "a@b.c",
                &i.to_string(),
            );
            cache.put(f, verified(1), ttl, 10);
            assert!(cache.len() <= 10);
        }
    }
}
