//! The web workspace's sign-in sessions, shared by every shard (a browser's next connection
//! may land on any of them): a table behind one lock, touched once per workspace request —
//! never by the mail protocols.
//!
//! A session is known by a random 256-bit token, the value of its cookie; the table keys
//! its entries by the token's SHA-256, so what the process holds cannot be replayed as a
//! cookie. Each session has its own CSRF token (every form carries it) and remembers the
//! credential it signed in with: changing the web password ends it (the caller checks
//! [`WebSession::credential`] against the account database). A session ends after
//! `[http] session_idle_secs` without a request, `session_max_secs` after sign-in, at
//! sign-out, or when the table is full and it is the oldest. Nothing is written to disk: a
//! restart signs everyone out.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;

use crate::accounts::CredentialUse;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// The account's address (lower case).
    pub account: String,
    /// The credential it signed in with (the web password, or an OAuth token).
    pub credential: CredentialUse,
    /// What every form of this session must carry back.
    pub csrf: String,
    signed_in: Instant,
    last_seen: Instant,
}

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub idle: Duration,
    pub max: Duration,
    pub max_sessions: usize,
}

type Key = [u8; 32];

/// Every shard's sessions.
#[derive(Debug, Default)]
pub struct WebSessions {
    table: Mutex<HashMap<Key, WebSession>>,
}

/// A fresh random token, URL-safe base64 of 32 bytes.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn key_of(token: &str) -> Key {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

impl WebSession {
    fn alive(&self, now: Instant, lifetimes: &Lifetimes) -> bool {
        now.saturating_duration_since(self.last_seen) < lifetimes.idle
            && now.saturating_duration_since(self.signed_in) < lifetimes.max
    }
}

impl WebSessions {
    /// Sign `account` in: the new session's cookie token and the session.
    pub fn start(
        &self,
        account: &str,
        credential: CredentialUse,
        now: Instant,
        lifetimes: &Lifetimes,
    ) -> (String, WebSession) {
        let token = random_token();
        let session = WebSession {
            account: account.to_string(),
            credential,
            csrf: random_token(),
            signed_in: now,
            last_seen: now,
        };
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if table.len() >= lifetimes.max_sessions {
            table.retain(|_, s| s.alive(now, lifetimes));
        }
        while table.len() >= lifetimes.max_sessions {
            let oldest = table
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => table.remove(&k),
                None => break,
            };
        }
        table.insert(key_of(&token), session.clone());
        (token, session)
    }

    /// The live session with this cookie token, its idle clock restarted; an expired one is
    /// removed and `None` is returned.
    pub fn find(&self, token: &str, now: Instant, lifetimes: &Lifetimes) -> Option<WebSession> {
        let key = key_of(token);
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let session = table.get_mut(&key)?;
        if !session.alive(now, lifetimes) {
            table.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// Sign out (or drop a session whose credential changed).
    pub fn end(&self, token: &str) {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key_of(token));
    }

    /// Sessions held now (live or not yet swept).
    pub fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn lifetimes() -> Lifetimes {
        Lifetimes {
            idle: Duration::from_secs(60),
            max: Duration::from_secs(600),
            max_sessions: 2,
        }
    }

    fn web() -> CredentialUse {
        CredentialUse {
            id: "web".into(),
            stamp: 7,
        }
    }

    #[test]
    fn a_session_is_found_by_its_token_until_idle_or_too_old() {
        let sessions = WebSessions::default();
        let t0 = Instant::now();
        let l = lifetimes();
        let (token, made) = sessions.start("alice@example.com", web(), t0, &l);
        assert_eq!(token.len(), 43);
        assert_ne!(made.csrf, token);
        let found = sessions.find(&token, t0 + Duration::from_secs(59), &l);
        assert_eq!(found.unwrap().account, "alice@example.com");
        // Each request restarts the idle clock…
        assert!(sessions
            .find(&token, t0 + Duration::from_secs(118), &l)
            .is_some());
        // …but not past the maximum.
        assert!(sessions
            .find(&token, t0 + Duration::from_secs(600), &l)
            .is_none());
        assert!(sessions.is_empty());
        let (token, _) = sessions.start("alice@example.com", web(), t0, &l);
        assert!(sessions
            .find(&token, t0 + Duration::from_secs(61), &l)
            .is_none());
        assert!(sessions.find("not-a-token", t0, &l).is_none());
    }

    #[test]
    fn sign_out_ends_it_and_a_full_table_drops_the_oldest() {
        let sessions = WebSessions::default();
        let t0 = Instant::now();
        let l = lifetimes();
        let (a, _) = sessions.start("a@example.com", web(), t0, &l);
        let (b, _) = sessions.start("b@example.com", web(), t0 + Duration::from_secs(1), &l);
        let (c, _) = sessions.start("c@example.com", web(), t0 + Duration::from_secs(2), &l);
        assert_eq!(sessions.len(), 2);
        let now = t0 + Duration::from_secs(3);
        assert!(sessions.find(&a, now, &l).is_none());
        assert!(sessions.find(&b, now, &l).is_some());
        sessions.end(&b);
        assert!(sessions.find(&b, now, &l).is_none());
        assert!(sessions.find(&c, now, &l).is_some());
    }
}
