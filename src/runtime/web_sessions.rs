//! The web workspace's sign-in sessions, shared by every shard (a browser's next connection
//! may land on any of them), touched once per workspace request — never by the mail
//! protocols.
//!
//! A session is known by a random 256-bit token, the value of its cookie; sessions are kept
//! under the token's SHA-256, so what is held cannot be replayed as a cookie. Each session
//! has its own CSRF token (every form carries it) and remembers the credential it signed in
//! with: changing the web password ends it ([`WebSessions::current`] checks
//! [`WebSession::credential`] against the account database). A session ends after
//! `[http] session_idle_secs` without a request, `session_max_secs` after sign-in, or at
//! sign-out.
//!
//! Where they are kept follows the account backend ([`WebSessions`] picks):
//!
//! - the file: a table in this process's memory behind one lock ([`MemorySessions`]); when
//!   it holds `[http] max_sessions` the oldest goes. Nothing is written to disk: a restart
//!   signs everyone out.
//! - PostgreSQL: the `web_sessions` table beside the accounts, so every host sharing the
//!   database finds a session whichever host signed it in, a sign-out on one ends it on all,
//!   and a restart keeps it. The last request's time is written at most once a minute; each
//!   account keeps at most [`SESSIONS_PER_ACCOUNT`] (the oldest goes); expired rows go when
//!   any host starts a session. These calls block on the database: the workspace makes them
//!   on the executor's blocking pool, never on a shard. When the database cannot be reached
//!   they fail, and nobody is signed in or recognised until it is back.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;

use crate::accounts::{
    AccountError, AccountStore, CredentialUse, StoredWebSession, WebSessionLimits,
};

/// How many sessions one account keeps in the database (a new one drops the oldest).
pub const SESSIONS_PER_ACCOUNT: usize = 32;

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// The account's address (lower case).
    pub account: String,
    /// The credential it signed in with (the web password, or an OAuth token).
    pub credential: CredentialUse,
    /// What every form of this session must carry back.
    pub csrf: String,
}

/// A session in memory, with its clocks.
#[derive(Debug, Clone)]
struct Entry {
    session: WebSession,
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

/// Every shard's sessions in this process's memory (the file backend).
#[derive(Debug, Default)]
pub struct MemorySessions {
    table: Mutex<HashMap<Key, Entry>>,
}

/// The workspace's sessions: in memory, or in the account database when it keeps them.
#[derive(Debug, Default)]
pub struct WebSessions {
    memory: MemorySessions,
}

/// The time of a request, for both kinds of keeping.
#[derive(Debug, Clone, Copy)]
pub struct RequestTime {
    /// For memory (monotonic).
    pub instant: Instant,
    /// For the database (unix seconds, shared by every host).
    pub unix: u64,
}

impl RequestTime {
    pub fn now() -> RequestTime {
        RequestTime {
            instant: Instant::now(),
            unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
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

impl Entry {
    fn alive(&self, now: Instant, lifetimes: &Lifetimes) -> bool {
        now.saturating_duration_since(self.last_seen) < lifetimes.idle
            && now.saturating_duration_since(self.signed_in) < lifetimes.max
    }
}

impl MemorySessions {
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
        table.insert(
            key_of(&token),
            Entry {
                session: session.clone(),
                signed_in: now,
                last_seen: now,
            },
        );
        (token, session)
    }

    /// The live session with this cookie token, its idle clock restarted; an expired one is
    /// removed and `None` is returned.
    pub fn find(&self, token: &str, now: Instant, lifetimes: &Lifetimes) -> Option<WebSession> {
        let key = key_of(token);
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = table.get_mut(&key)?;
        if !entry.alive(now, lifetimes) {
            table.remove(&key);
            return None;
        }
        entry.last_seen = now;
        Some(entry.session.clone())
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

impl WebSessions {
    /// Whether the calls below go to the database (and so block: make them on a blocking
    /// thread). With the file backend they only take the memory table's lock.
    pub fn blocks(accounts: &AccountStore) -> bool {
        accounts.keeps_web_sessions()
    }

    fn limits(lifetimes: &Lifetimes) -> WebSessionLimits {
        WebSessionLimits {
            idle_secs: lifetimes.idle.as_secs(),
            max_secs: lifetimes.max.as_secs(),
            per_account: SESSIONS_PER_ACCOUNT,
        }
    }

    /// Sign `account` in: the new session's cookie token and the session. `Err` when the
    /// database cannot keep it: then nobody is signed in.
    pub fn start(
        &self,
        accounts: &AccountStore,
        account: &str,
        credential: CredentialUse,
        now: RequestTime,
        lifetimes: &Lifetimes,
    ) -> Result<(String, WebSession), AccountError> {
        if !accounts.keeps_web_sessions() {
            return Ok(self
                .memory
                .start(account, credential, now.instant, lifetimes));
        }
        let token = random_token();
        let stored = StoredWebSession {
            account: account.to_string(),
            credential,
            csrf: random_token(),
            signed_in: now.unix,
            last_seen: now.unix,
        };
        accounts.web_session_start(key_of(&token), &stored, Self::limits(lifetimes))?;
        let session = WebSession {
            account: stored.account,
            credential: stored.credential,
            csrf: stored.csrf,
        };
        Ok((token, session))
    }

    /// The browser's session for its cookie token: alive, its idle clock restarted, and its
    /// credential still current (a session whose credential changed is ended here).
    pub fn current(
        &self,
        accounts: &AccountStore,
        token: &str,
        now: RequestTime,
        lifetimes: &Lifetimes,
    ) -> Result<Option<WebSession>, AccountError> {
        let found = if accounts.keeps_web_sessions() {
            accounts
                .web_session_find(key_of(token), now.unix, Self::limits(lifetimes))?
                .map(|s| WebSession {
                    account: s.account,
                    credential: s.credential,
                    csrf: s.csrf,
                })
        } else {
            self.memory.find(token, now.instant, lifetimes)
        };
        let Some(session) = found else {
            return Ok(None);
        };
        if accounts.credential_current(&session.account, &session.credential) {
            return Ok(Some(session));
        }
        self.end(accounts, token)?;
        Ok(None)
    }

    /// Sign out, on every host when the database keeps the sessions.
    pub fn end(&self, accounts: &AccountStore, token: &str) -> Result<(), AccountError> {
        if accounts.keeps_web_sessions() {
            accounts.web_session_end(key_of(token))
        } else {
            self.memory.end(token);
            Ok(())
        }
    }

    /// The sessions held in memory.
    pub fn memory(&self) -> &MemorySessions {
        &self.memory
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
        let sessions = MemorySessions::default();
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
        let sessions = MemorySessions::default();
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

    #[test]
    fn with_the_file_backend_the_front_keeps_sessions_in_memory_and_checks_the_credential() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = AccountStore::open(dir.path(), &["example.com".into()]).unwrap();
        accounts
            .add("alice@example.com", "a-long-password-1")
            .unwrap();
        let crate::accounts::Verification::Valid { credential, .. } = accounts.verify(
            "alice@example.com",
            "a-long-password-1",
            crate::accounts::Scope::Web,
            crate::accounts::ProtocolPasswords::SameAsWeb,
        ) else {
            panic!("alice's password");
        };
        let sessions = WebSessions::default();
        assert!(!WebSessions::blocks(&accounts));
        let l = lifetimes();
        let now = RequestTime::now();
        let (token, made) = sessions
            .start(&accounts, "alice@example.com", credential, now, &l)
            .unwrap();
        assert_eq!(sessions.memory().len(), 1);
        let found = sessions.current(&accounts, &token, now, &l).unwrap();
        assert_eq!(found, Some(made));
        // A new web password ends the session.
        accounts
            .set_password("alice@example.com", "a-long-password-2")
            .unwrap();
        // (The accounts watcher reads the new version; here, by hand.)
        accounts.version().unwrap();
        assert_eq!(sessions.current(&accounts, &token, now, &l).unwrap(), None);
        assert!(sessions.memory().is_empty());
        // Sign-out.
        let (token, _) = sessions
            .start(&accounts, "alice@example.com", web(), now, &l)
            .unwrap();
        sessions.end(&accounts, &token).unwrap();
        assert!(sessions.memory().is_empty());
    }
}
