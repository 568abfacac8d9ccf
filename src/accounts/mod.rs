//! The account database: a flat file of `address:incarnation:argon2id-hash` lines (see
//! [`records`] for the format, deleted accounts included), and password checks.
//!
//! The file (`data_dir/accounts`) is written only by the `ringpost user` commands, always by
//! replacing it atomically under an advisory lock, so the running server can read it without a
//! lock. The server keeps one [`AccountStore`] and sees changes without a restart: every
//! [`AccountStore::verify`] compares the file's identity (inode, size, mtime) with the cached
//! copy and re-reads it when they differ.
//!
//! With `[accounts] backend = "postgres"` the same records live in PostgreSQL tables shared
//! by several hosts (see [`postgres`]): loading and committing change, nothing else. Callers
//! that may run on a shard (look-ups, quota limits, SCRAM keys, versions) then read the copy
//! last read and never wait on the database; the blocking ones ([`AccountStore::verify`],
//! [`AccountStore::changes`], every change) ask the database for its version first.
//!
//! [`AccountStore::verify`] never reveals whether an account exists: an unknown user costs the
//! same argon2id work as a known one and gets the same answer as a wrong password.
//! Every account has an [`Incarnation`], never reused for its address: the store keeps an
//! account's mail under [`Account::store_key`], so an account deleted and created again starts
//! empty, and a deleted account's mail is either kept invisible for `user restore` or purged.
//!
//! This module never logs a password and never touches sockets.

mod address;
pub(crate) mod file;
mod postgres;
mod records;

use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

pub use address::Address;
pub use postgres::{PASSWORD_ENV as POSTGRES_PASSWORD_ENV, SCHEMA_VERSION};
pub use records::{
    address_of_key, dav_key, Account, Credential, CredentialKind, Deleted, Incarnation, Limit,
    QuotaOverride, Retention, Scope, Scopes,
};

use file::{write_atomically, FileLock};
use records::{Entry, Records};

/// The answer of [`AccountStore::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The credentials are valid; `account` is the canonical (lower-case) address,
    /// `store_key` what the store keeps this incarnation's mail under, `version` the
    /// version of the file that said so (see [`AccountStore::changes`]), and `credential`
    /// which of the account's credentials matched.
    Valid {
        account: String,
        store_key: String,
        version: u64,
        credential: CredentialUse,
    },
    /// Wrong user name or password (the same answer for both).
    Invalid,
    /// The account database could not be read.
    Unavailable,
}

/// Which credential a login used: `id` is `web` (the account's own password), `protocol`'s
/// id, or an app password's; `stamp` a fingerprint of its stored secret. A session keeps it,
/// and ends when [`AccountStore::credential_current`] says it changed or went.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredentialUse {
    pub id: String,
    pub stamp: u64,
}

/// A signed-in browser of the web workspace as PostgreSQL keeps it, for every host to find
/// (see [`AccountStore::keeps_web_sessions`]). Times are unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWebSession {
    /// The account's address (lower case).
    pub account: String,
    /// The credential it signed in with.
    pub credential: CredentialUse,
    /// What every form of the session must carry back.
    pub csrf: String,
    pub signed_in: u64,
    /// The last request, as last written (see [`AccountStore::web_session_find`]).
    pub last_seen: u64,
}

/// How long stored workspace sessions live, and how many one account keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebSessionLimits {
    /// Seconds without a request.
    pub idle_secs: u64,
    /// Seconds after sign-in.
    pub max_secs: u64,
    /// Sessions per account: a new one drops the oldest past this.
    pub per_account: usize,
}

/// What [`AccountStore::scram_keys`] finds: the keys to check a SCRAM proof against, and
/// what a successful login keeps (as [`Verification::Valid`] says it).
#[derive(Debug, Clone)]
pub struct ScramLogin {
    pub keys: crate::scram::ScramKeys,
    pub account: String,
    pub store_key: String,
    pub version: u64,
    pub credential: CredentialUse,
    /// The account's app passwords for the scope: their keys (same salt: see
    /// `new_scram_keys`) and the credential each is.
    pub others: Vec<(crate::scram::ScramKeys, CredentialUse)>,
}

/// The id of the account's own password in a [`CredentialUse`].
pub const WEB_CREDENTIAL: &str = "web";

/// The id of an OAuth bearer token in a [`CredentialUse`]: not ours to revoke (the issuer's);
/// current while the account exists.
pub const OAUTH_CREDENTIAL: &str = "oauth";

/// Which password IMAP, POP3, SMTP and DAV take (`[auth] protocol_password`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtocolPasswords {
    /// The account's own password, as before protocol passwords existed (the default).
    #[default]
    SameAsWeb,
    /// Seed 002's model: a protocol password of its own, set by the user; the web password
    /// is refused on the mail protocols. App passwords work in both.
    Separate,
}

/// What a new password must be (`[auth] min_password_length`); generated app passwords
/// are not chosen, so not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
    /// PBKDF2 iterations of the SCRAM keys kept with each new password (RFC 7677: 4096 at
    /// least).
    pub scram_iterations: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 10,
            scram_iterations: crate::scram::DEFAULT_ITERATIONS,
        }
    }
}

/// How an app password is written when shown: four groups of five lower-case letters
/// (20 × log2(26) ≈ 94 bits), easy to type on a phone. Logins take it with or without the
/// dashes and spaces.
const APP_PASSWORD_GROUPS: usize = 4;
const APP_PASSWORD_GROUP: usize = 5;

/// Longest password accepted, in bytes.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// The argon2id hash an unknown user's password is checked against, so that a failed lookup
/// costs the same as a wrong password. Made with the crate's default parameters (the same as
/// new accounts get, see the `dummy_hash_costs_what_a_real_one_costs` test) for a random
/// password nobody knows.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$emBdj+GNV4RWdey9JL7DWg$NIzGTi7pLHuiI/XoptyDAbDCIuAVgt/ymuzm+HrDpfk";

const HEADER: &str = "\
# ringpost accounts: `address:incarnation:argon2id-hash[:scram-keys]` (PHC string format) per
# account, then its protocol and app passwords as
# `+address:id:protocol|app:scopes:created:name:hash-or-digest[:scram-keys]`,
# `!address:incarnation:deleted-at:keep|purge:hash` per deleted account.
# Managed with `ringpost user add|passwd|del|restore|purge|list`, which replace this file
# atomically.
";

/// What can go wrong with an account or the account file.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{input:?} is not a valid address: {reason}")]
    BadAddress { input: String, reason: &'static str },
    #[error("{domain} is not a local domain")]
    NotLocal { domain: String },
    #[error("{0} already exists")]
    Exists(Address),
    #[error("{0} does not exist")]
    Unknown(Address),
    #[error("{0} has no deleted account whose mail was kept")]
    NothingToRestore(Address),
    #[error("unacceptable password: {0}")]
    BadPassword(&'static str),
    #[error("unacceptable password: {0}")]
    WeakPassword(String),
    #[error("an app password needs a name of 1 to 100 characters")]
    BadName,
    #[error("the account has {MAX_CREDENTIALS} credentials already; revoke one first")]
    TooManyCredentials,
    #[error("no credential {0}")]
    NoSuchCredential(String),
    #[error("the account's own password cannot be revoked; change it with `user passwd`")]
    WebPasswordStays,
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}, line {line}: {reason}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: &'static str,
    },
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("account database: {0}")]
    Database(String),
    #[error("{0}")]
    Import(String),
}

/// The account database of one data folder. `Send + Sync`: share it with `Arc` and call
/// [`AccountStore::verify`] from a blocking thread pool.
#[derive(Debug)]
pub struct AccountStore {
    backend: Backend,
    /// Lower case, as in the validated configuration; replaced by a reload.
    local_domains: RwLock<Vec<String>>,
    /// What new passwords must be; replaced by a reload.
    policy: RwLock<PasswordPolicy>,
    /// Logins since the last [`AccountStore::flush_uses`]: (address, credential id) → when.
    uses: std::sync::Mutex<std::collections::HashMap<(String, String), u64>>,
    uses_path: PathBuf,
    /// The accounts as last read, with the identity of the file they were read from.
    cache: RwLock<Arc<Snapshot>>,
}

/// Where the records live (`[accounts] backend`).
#[derive(Debug)]
enum Backend {
    /// `data_dir/accounts`, replaced under `data_dir/accounts.lock`.
    File { path: PathBuf, lock_path: PathBuf },
    /// Tables in PostgreSQL, shared by several hosts (see [`postgres`]).
    Postgres(postgres::Database),
}

/// Which version of the records a snapshot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    File(FileStamp),
    /// The database's version counter.
    Database(i64),
}

/// The identity of one version of the accounts file. The file is only ever replaced by
/// rename, so a new version has a new inode, and in any case a new mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    inode: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileStamp {
    fn of(meta: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            dev: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

#[derive(Debug, Default)]
struct Snapshot {
    /// `None`: there was no file (no accounts yet).
    stamp: Option<Stamp>,
    /// Counts the versions this process has read (see [`AccountStore::changes`]).
    version: u64,
    records: Records,
}

impl AccountStore {
    /// Open the account database in `data_dir` (creating the folder if missing) and read it.
    /// A missing accounts file is an empty database; a malformed one is an error.
    pub fn open(data_dir: &Path, local_domains: &[String]) -> Result<AccountStore, AccountError> {
        std::fs::create_dir_all(data_dir).map_err(|source| AccountError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join("accounts");
        let snapshot = load(&path)?;
        Ok(AccountStore {
            backend: Backend::File {
                lock_path: data_dir.join("accounts.lock"),
                path,
            },
            local_domains: RwLock::new(lower_case(local_domains)),
            policy: RwLock::new(PasswordPolicy::default()),
            uses: Default::default(),
            uses_path: data_dir.join("credentials.used"),
            cache: RwLock::new(Arc::new(snapshot)),
        })
    }

    /// Open the account database the configuration names: the file in `data_dir`, or
    /// PostgreSQL (connecting, and bringing its schema up to date; an error if it cannot be
    /// reached). The password policy is the configuration's.
    pub fn open_configured(config: &crate::config::Config) -> Result<AccountStore, AccountError> {
        let store = match &config.accounts {
            crate::config::AccountsBackend::File => {
                AccountStore::open(&config.data_dir, &config.local_domains)?
            }
            crate::config::AccountsBackend::Postgres(settings) => {
                let db = postgres::Database::open(settings)?;
                let (version, records) = db.load()?;
                AccountStore {
                    backend: Backend::Postgres(db),
                    local_domains: RwLock::new(lower_case(&config.local_domains)),
                    policy: RwLock::new(PasswordPolicy::default()),
                    uses: Default::default(),
                    uses_path: config.data_dir.join("credentials.used"),
                    cache: RwLock::new(Arc::new(Snapshot {
                        stamp: Some(Stamp::Database(version)),
                        version: 1,
                        records,
                    })),
                }
            }
        };
        store.set_policy(config.password_policy);
        Ok(store)
    }

    /// The accounts file (`None` when the accounts are in PostgreSQL).
    pub fn path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::File { path, .. } => Some(path),
            Backend::Postgres(_) => None,
        }
    }

    /// Bring the PostgreSQL schema up to date (as opening does): the schema version before
    /// and after. `None` for the file backend, which has no schema.
    pub fn migrate(&self) -> Result<Option<(i32, i32)>, AccountError> {
        match &self.backend {
            Backend::File { .. } => Ok(None),
            Backend::Postgres(db) => Ok(Some((db.migrate()?, SCHEMA_VERSION))),
        }
    }

    /// Copy every account (live and deleted, with its credentials and quota) of the accounts
    /// file `path` into this database, and the last uses of `credentials.used` beside it.
    /// Refused unless this database has no account yet, live or deleted; the file is only
    /// read. Returns how many live and deleted accounts were copied.
    pub fn import_file(&self, path: &Path) -> Result<(usize, usize), AccountError> {
        let text = std::fs::read_to_string(path).map_err(|source| AccountError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let imported = records::parse(&text).map_err(|(line, reason)| AccountError::Corrupt {
            path: path.to_path_buf(),
            line,
            reason,
        })?;
        let counts = (imported.live.len(), imported.deleted.len());
        self.modify(|records| {
            if !records.live.is_empty() || !records.deleted.is_empty() {
                return Err(AccountError::Import(
                    "the account database is not empty: nothing was imported".into(),
                ));
            }
            *records = imported;
            Ok(())
        })?;
        let uses_path = path.with_file_name("credentials.used");
        let uses = read_uses(&uses_path);
        if let Backend::Postgres(db) = &self.backend {
            if !uses.is_empty() {
                db.note_uses(uses)?;
            }
        }
        Ok(counts)
    }

    /// New local domains (a configuration reload).
    pub fn set_local_domains(&self, local_domains: &[String]) {
        *self
            .local_domains
            .write()
            .unwrap_or_else(PoisonError::into_inner) = lower_case(local_domains);
    }

    /// A new password policy (at start, and at a reload).
    pub fn set_policy(&self, policy: PasswordPolicy) {
        *self.policy.write().unwrap_or_else(PoisonError::into_inner) = policy;
    }

    /// Whether `password` may be set for `address` under the policy: long enough, and not
    /// the address or its local part (in any case).
    fn check_policy(&self, address: &Address, password: &str) -> Result<(), AccountError> {
        check_password(password)?;
        let policy = *self.policy.read().unwrap_or_else(PoisonError::into_inner);
        if password.chars().count() < policy.min_length {
            return Err(AccountError::WeakPassword(format!(
                "shorter than {} characters",
                policy.min_length
            )));
        }
        let local = address.as_str().split('@').next().unwrap_or_default();
        if password.eq_ignore_ascii_case(address.as_str()) || password.eq_ignore_ascii_case(local) {
            return Err(AccountError::WeakPassword("the address itself".into()));
        }
        Ok(())
    }

    /// The SCRAM keys (text form) of a new password, with a fresh salt.
    ///
    /// All passwords of one account share the account's SCRAM salt and iteration count (those
    /// of its own password's keys), so one SCRAM exchange — whose server-first announces one
    /// salt — can check the proof against any of them; a new account gets a new salt.
    fn new_scram_keys(&self, address: &Address, password: &str) -> String {
        use rand::RngCore;
        let (salt, iterations) = match self.account_salt(address) {
            Some(known) => known,
            None => {
                let iterations = self
                    .policy
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .scram_iterations;
                let mut salt = vec![0u8; crate::scram::SALT_LEN];
                rand::rngs::OsRng.fill_bytes(&mut salt);
                (salt, iterations)
            }
        };
        crate::scram::ScramKeys::derive(password, &salt, iterations).to_string()
    }

    /// The SCRAM salt and iteration count of the account's own password, if it has keys.
    fn account_salt(&self, address: &Address) -> Option<(Vec<u8>, u32)> {
        let snapshot = self.current().ok()?;
        let scram = snapshot.records.live.get(address)?.scram.as_ref()?;
        let keys = crate::scram::ScramKeys::parse(scram).ok()?;
        Some((keys.salt, keys.iterations))
    }

    fn local_domains(&self) -> Vec<String> {
        self.local_domains
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Check a user name (any case, `local@domain`) and password for a login to `scope`,
    /// with `mode` saying whether the mail protocols take the account's own password or the
    /// protocol password.
    ///
    /// Blocking and CPU-heavy (argon2id): run it off the shard. What is tried: the account's
    /// app passwords for `scope` (SHA-256, microseconds), then exactly one argon2id hash —
    /// the web password for `web` and, in `same-as-web` mode, for the mail protocols; the
    /// protocol password in `separate` mode (a stand-in when none is set). The same work is
    /// done and the same answer given for an unknown user, a bare local part, a non-local
    /// domain and a wrong password. [`Verification::Unavailable`] only when the file cannot
    /// be read.
    pub fn verify(
        &self,
        username: &str,
        password: &str,
        scope: Scope,
        mode: ProtocolPasswords,
    ) -> Verification {
        let snapshot = match self.current() {
            Ok(snapshot) => snapshot,
            Err(e) => {
                tracing::error!("account database unavailable: {e}");
                return Verification::Unavailable;
            }
        };
        let address = Address::parse(username, &self.local_domains()).ok();
        let stored = address.as_ref().and_then(|a| snapshot.records.live.get(a));
        let valid =
            |address: Address, entry: &Entry, credential: CredentialUse| Verification::Valid {
                store_key: records::store_key(&address, entry.incarnation),
                account: address.into_string(),
                version: snapshot.version,
                credential,
            };
        // App passwords first: a digest each, and the person typing one is not kept waiting
        // for an argon2 run that cannot match.
        if let (Some(address), Some(entry)) = (&address, stored) {
            let digest = app_digest(password);
            let app = entry.credentials.iter().find(|c| {
                c.kind == CredentialKind::App
                    && c.scopes.contains(scope)
                    && constant_time_eq(c.secret.as_bytes(), digest.as_bytes())
            });
            if let Some(c) = app {
                let used = CredentialUse {
                    id: c.id.clone(),
                    stamp: c.stamp(),
                };
                return valid(address.clone(), entry, used);
            }
        }
        let (hash, id) = match (stored, scope, mode) {
            (None, _, _) => (DUMMY_HASH, None),
            (Some(e), Scope::Web, _) | (Some(e), _, ProtocolPasswords::SameAsWeb) => {
                (e.hash.as_str(), Some(WEB_CREDENTIAL.to_string()))
            }
            (Some(e), _, ProtocolPasswords::Separate) => match e
                .credentials
                .iter()
                .find(|c| c.kind == CredentialKind::Protocol && c.scopes.contains(scope))
            {
                Some(c) => (c.secret.as_str(), Some(c.id.clone())),
                None => (DUMMY_HASH, None),
            },
        };
        // Always hash, even for an unacceptable password, so timing says nothing.
        let matches = password_matches(password, hash);
        match (address, stored, id) {
            (Some(address), Some(entry), Some(id))
                if matches && check_password(password).is_ok() =>
            {
                let stamp = records::stamp_of(hash);
                valid(address, entry, CredentialUse { id, stamp })
            }
            _ => Verification::Invalid,
        }
    }

    /// The SCRAM keys a login of `username` to `scope` is checked against (the credential
    /// [`AccountStore::verify`] would argon2-check: the account's own password, or in
    /// `separate` mode the protocol password; and the app passwords for the scope, which
    /// share its salt), with what a successful login keeps. `None` for an unknown user or a
    /// password set before SCRAM keys were kept. A map lookup, no hashing.
    pub fn scram_keys(
        &self,
        username: &str,
        scope: Scope,
        mode: ProtocolPasswords,
    ) -> Option<ScramLogin> {
        let snapshot = self.cached().ok()?;
        let address = Address::parse(username, &self.local_domains()).ok()?;
        let entry = snapshot.records.live.get(&address)?;
        // The password the mode says first, then the app passwords for the scope.
        let primary = match (scope, mode) {
            (Scope::Web, _) | (_, ProtocolPasswords::SameAsWeb) => entry.scram.as_ref().map(|k| {
                (
                    k,
                    WEB_CREDENTIAL.to_string(),
                    records::stamp_of(&entry.hash),
                )
            }),
            (_, ProtocolPasswords::Separate) => entry
                .credentials
                .iter()
                .find(|c| c.kind == CredentialKind::Protocol && c.scopes.contains(scope))
                .and_then(|c| c.scram.as_ref().map(|k| (k, c.id.clone(), c.stamp()))),
        };
        let apps = entry
            .credentials
            .iter()
            .filter(|c| {
                c.kind == CredentialKind::App && c.scopes.contains(scope) && scope != Scope::Web
            })
            .filter_map(|c| c.scram.as_ref().map(|k| (k, c.id.clone(), c.stamp())));
        let mut candidates = primary
            .into_iter()
            .chain(apps)
            .filter_map(|(text, id, stamp)| {
                let keys = crate::scram::ScramKeys::parse(text).ok()?;
                Some((keys, CredentialUse { id, stamp }))
            });
        let (keys, used) = candidates.next()?;
        let others = candidates.collect();
        Some(ScramLogin {
            keys,
            store_key: records::store_key(&address, entry.incarnation),
            account: address.into_string(),
            version: snapshot.version,
            credential: used,
            others,
        })
    }

    /// Whether the workspace's sessions are kept here (PostgreSQL: every host of a cluster
    /// finds them, and they outlive a restart) rather than in the process's memory (the
    /// file backend). The `web_session_*` calls block on the database: never on a shard.
    pub fn keeps_web_sessions(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Keep a new workspace session under `key` (the SHA-256 of its cookie token), removing
    /// expired sessions and the account's oldest past `limits.per_account`.
    pub fn web_session_start(
        &self,
        key: [u8; 32],
        session: &StoredWebSession,
        limits: WebSessionLimits,
    ) -> Result<(), AccountError> {
        self.session_db()?.session_start(key, session, limits)
    }

    /// The live session under `key` at `now` (unix seconds), its idle clock restarted; an
    /// expired one is removed. `last_seen` is written at most once a minute (half the idle
    /// time if shorter), so a session may end that much before `idle_secs` after its last
    /// request.
    pub fn web_session_find(
        &self,
        key: [u8; 32],
        now: u64,
        limits: WebSessionLimits,
    ) -> Result<Option<StoredWebSession>, AccountError> {
        self.session_db()?.session_find(key, now, limits)
    }

    /// Remove the session under `key` (sign-out), whichever host started it.
    pub fn web_session_end(&self, key: [u8; 32]) -> Result<(), AccountError> {
        self.session_db()?.session_end(key)
    }

    fn session_db(&self) -> Result<&postgres::Database, AccountError> {
        match &self.backend {
            Backend::Postgres(db) => Ok(db),
            Backend::File { .. } => Err(AccountError::Database(
                "the file backend keeps no workspace sessions".into(),
            )),
        }
    }

    /// Whether the credential a session logged in with is still there, unchanged: `false`
    /// once it was revoked or replaced (or the account is gone). An unreadable file says
    /// `true`: sessions are not ended for a fault of ours.
    ///
    /// Reads the file as last read (no `stat`): cheap enough to ask before every request of
    /// a session once the shard's accounts watcher has seen a newer version.
    pub fn credential_current(&self, account: &str, used: &CredentialUse) -> bool {
        let snapshot = Arc::clone(&self.cache.read().unwrap_or_else(PoisonError::into_inner));
        let Ok(address) = Address::parse_syntax(account) else {
            return false;
        };
        let Some(entry) = snapshot.records.live.get(&address) else {
            return false;
        };
        if used.id == WEB_CREDENTIAL {
            return records::stamp_of(&entry.hash) == used.stamp;
        }
        if used.id == OAUTH_CREDENTIAL {
            return true;
        }
        entry
            .credentials
            .iter()
            .any(|c| c.id == used.id && c.stamp() == used.stamp)
    }

    /// Note a login of `account` with the credential `id` (now). Kept in memory until the
    /// next [`AccountStore::flush_uses`]: a login never writes a file.
    pub fn note_use(&self, account: &str, id: &str) {
        let mut uses = self.uses.lock().unwrap_or_else(PoisonError::into_inner);
        uses.insert((account.to_string(), id.to_string()), unix_now());
    }

    /// Write the logins noted since the last flush into `data_dir/credentials.used` (one
    /// `address id unix-time` line per credential, the latest use), replacing it atomically;
    /// lines of accounts and credentials that no longer exist are dropped. Blocking: the
    /// server calls it from a blocking thread once a minute.
    pub fn flush_uses(&self) -> Result<(), AccountError> {
        let pending =
            std::mem::take(&mut *self.uses.lock().unwrap_or_else(PoisonError::into_inner));
        if pending.is_empty() {
            return Ok(());
        }
        if let Backend::Postgres(db) = &self.backend {
            return db.note_uses(pending.clone()).inspect_err(|_| {
                // Kept for the next flush: the database may be back by then.
                let mut uses = self.uses.lock().unwrap_or_else(PoisonError::into_inner);
                for (key, at) in pending {
                    let e = uses.entry(key).or_insert(at);
                    *e = (*e).max(at);
                }
            });
        }
        let mut all = read_uses(&self.uses_path);
        for (key, at) in pending {
            let e = all.entry(key).or_insert(at);
            *e = (*e).max(at);
        }
        let snapshot = self.current()?;
        let exists = |address: &str, id: &str| {
            Address::parse_syntax(address)
                .ok()
                .and_then(|a| snapshot.records.live.get(&a).cloned())
                .is_some_and(|e| id == WEB_CREDENTIAL || e.credentials.iter().any(|c| c.id == id))
        };
        let mut text = String::from("# last use of each credential: address id unix-time\n");
        let mut lines: Vec<_> = all.into_iter().filter(|((a, i), _)| exists(a, i)).collect();
        lines.sort();
        for ((address, id), at) in lines {
            text.push_str(&format!("{address} {id} {at}\n"));
        }
        write_atomically(&self.uses_path, text.as_bytes(), 0o600).map_err(|source| {
            AccountError::Io {
                path: self.uses_path.clone(),
                source,
            }
        })
    }

    /// When each credential of `address` was last used (by credential id; `web` for the
    /// account's own password), as of the last flush and this process's notes.
    pub fn last_uses(
        &self,
        address: &str,
    ) -> Result<std::collections::HashMap<String, u64>, AccountError> {
        let address = Address::parse(address, &self.local_domains())?;
        let mut out = std::collections::HashMap::new();
        let pending = self
            .uses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let flushed = match &self.backend {
            Backend::File { .. } => read_uses(&self.uses_path)
                .into_iter()
                .filter(|((a, _), _)| a == address.as_str())
                .map(|((_, id), at)| (id, at))
                .collect(),
            Backend::Postgres(db) => db.uses(address.as_str())?,
        };
        let flushed = flushed
            .into_iter()
            .map(|(id, at)| ((address.as_str().to_string(), id), at));
        for ((a, id), at) in flushed.chain(pending) {
            if a == address.as_str() {
                let e = out.entry(id).or_insert(at);
                *e = (*e).max(at);
            }
        }
        Ok(out)
    }

    /// The version of the file as it is now (it changes with every change of any account);
    /// with PostgreSQL, as last read (no query: callers may be on a shard).
    pub fn version(&self) -> Result<u64, AccountError> {
        Ok(self.cached()?.version)
    }

    /// The version of the file as last read, if the file has not changed since: a `stat`,
    /// never a read (cheap enough for a shard; `None` sends the caller to [`Self::verify`]
    /// on a blocking thread, which reads the new version).
    pub fn version_if_unchanged(&self) -> Option<u64> {
        let Backend::File { path, .. } = &self.backend else {
            // PostgreSQL: never a query here; the version as last read (every poll of the
            // accounts watcher and every verification read it anew).
            return Some(
                self.cache
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .version,
            );
        };
        let stamp = match std::fs::metadata(path) {
            Ok(meta) => Some(Stamp::File(FileStamp::of(&meta))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(_) => return None,
        };
        let cached = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        (cached.stamp == stamp).then_some(cached.version)
    }

    /// Set (or replace) the account's protocol password, for IMAP, POP3, SMTP and DAV.
    pub fn set_protocol_password(
        &self,
        address: &str,
        password: &str,
    ) -> Result<Address, AccountError> {
        let address = Address::parse(address, &self.local_domains())?;
        self.check_policy(&address, password)?;
        let hash = hash_password(password)?;
        let scram = self.new_scram_keys(&address, password);
        self.modify(|records| {
            let entry = records
                .live
                .get_mut(&address)
                .ok_or_else(|| AccountError::Unknown(address.clone()))?;
            entry
                .credentials
                .retain(|c| c.kind != CredentialKind::Protocol);
            let id = new_credential_id(entry);
            entry.credentials.push(Credential {
                id,
                kind: CredentialKind::Protocol,
                scopes: Scopes::PROTOCOLS,
                created: unix_now(),
                name: String::new(),
                secret: hash,
                scram: Some(scram),
            });
            Ok(())
        })?;
        Ok(address)
    }

    /// Make a new app password named `name` for `scopes`: the credential, and the password
    /// itself — shown to the user this once, never stored.
    pub fn add_app_password(
        &self,
        address: &str,
        name: &str,
        scopes: Scopes,
    ) -> Result<(Credential, Secret), AccountError> {
        let address = Address::parse(address, &self.local_domains())?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AccountError::BadName);
        }
        let password = generate_app_password();
        let scram = self.new_scram_keys(&address, &password);
        let mut made = None;
        self.modify(|records| {
            let entry = records
                .live
                .get_mut(&address)
                .ok_or_else(|| AccountError::Unknown(address.clone()))?;
            if entry.credentials.len() >= MAX_CREDENTIALS {
                return Err(AccountError::TooManyCredentials);
            }
            let credential = Credential {
                id: new_credential_id(entry),
                kind: CredentialKind::App,
                scopes,
                created: unix_now(),
                name: name.to_string(),
                secret: app_digest(&password),
                scram: Some(scram.clone()),
            };
            entry.credentials.push(credential.clone());
            made = Some(credential);
            Ok(())
        })?;
        let credential = made.ok_or_else(|| AccountError::Unknown(address.clone()))?;
        Ok((credential, Secret(password)))
    }

    /// The account's credentials: its own (web) password first, then the protocol password
    /// and the app passwords. What the web password is valid for depends on `mode`.
    pub fn credentials(
        &self,
        address: &str,
        mode: ProtocolPasswords,
    ) -> Result<Vec<Credential>, AccountError> {
        let address = Address::parse(address, &self.local_domains())?;
        let snapshot = self.load_fresh()?;
        let entry = snapshot
            .records
            .live
            .get(&address)
            .ok_or_else(|| AccountError::Unknown(address.clone()))?;
        let web = Credential {
            id: WEB_CREDENTIAL.to_string(),
            kind: CredentialKind::Web,
            scopes: match mode {
                ProtocolPasswords::SameAsWeb => Scopes::PROTOCOLS.with(Scope::Web),
                ProtocolPasswords::Separate => Scopes::default().with(Scope::Web),
            },
            created: entry.set.unwrap_or(0),
            name: String::new(),
            secret: entry.hash.clone(),
            scram: entry.scram.clone(),
        };
        Ok(std::iter::once(web)
            .chain(entry.credentials.iter().cloned())
            .collect())
    }

    /// Remove the credential `id` (an app password, or the protocol password); sessions
    /// that logged in with it end (see [`AccountStore::credential_current`]).
    pub fn revoke(&self, address: &str, id: &str) -> Result<Credential, AccountError> {
        let address = Address::parse(address, &self.local_domains())?;
        if id.eq_ignore_ascii_case(WEB_CREDENTIAL) {
            return Err(AccountError::WebPasswordStays);
        }
        let mut removed = None;
        self.modify(|records| {
            let entry = records
                .live
                .get_mut(&address)
                .ok_or_else(|| AccountError::Unknown(address.clone()))?;
            let at = entry
                .credentials
                .iter()
                .position(|c| c.id.eq_ignore_ascii_case(id))
                .ok_or_else(|| AccountError::NoSuchCredential(id.to_string()))?;
            removed = Some(entry.credentials.remove(at));
            Ok(())
        })?;
        removed.ok_or_else(|| AccountError::NoSuchCredential(id.to_string()))
    }

    /// Create an account, with an incarnation never used for its address before. Fails if
    /// it exists (in any case).
    pub fn add(&self, address: &str, password: &str) -> Result<Address, AccountError> {
        let address = Address::parse(address, &self.local_domains())?;
        self.check_policy(&address, password)?;
        let hash = hash_password(password)?;
        let scram = self.new_scram_keys(&address, password);
        self.modify(|records| {
            if records.live.contains_key(&address) {
                return Err(AccountError::Exists(address.clone()));
            }
            let incarnation = loop {
                let candidate = Incarnation(rand::random::<u64>());
                if candidate.0 != 0 && !records.used(&address, candidate) {
                    break candidate;
                }
            };
            records.live.insert(
                address.clone(),
                Entry {
                    incarnation,
                    hash,
                    scram: Some(scram),
                    set: Some(unix_now()),
                    credentials: Vec::new(),
                    quota: QuotaOverride::default(),
                },
            );
            Ok(())
        })?;
        Ok(address)
    }

    /// Replace an existing account's password (its incarnation stays).
    pub fn set_password(&self, address: &str, password: &str) -> Result<Address, AccountError> {
        let address = Address::parse(address, &self.local_domains())?;
        self.check_policy(&address, password)?;
        let hash = hash_password(password)?;
        let scram = self.new_scram_keys(&address, password);
        self.modify(|records| match records.live.get_mut(&address) {
            Some(entry) => {
                entry.hash = hash;
                entry.scram = Some(scram);
                entry.set = Some(unix_now());
                Ok(())
            }
            None => Err(AccountError::Unknown(address.clone())),
        })?;
        Ok(address)
    }

    /// Delete an account: nobody can log in or receive mail as it any more, and its mail is
    /// kept (invisible, for [`AccountStore::restore`]) or purged as `retention` says. An
    /// account left over in a domain that is no longer local can still be deleted.
    pub fn delete(&self, address: &str, retention: Retention) -> Result<Account, AccountError> {
        let address = Address::parse_syntax(address)?;
        let local = self.local_domains().iter().any(|d| d == address.domain());
        let mut deleted = None;
        self.modify(|records| match records.live.remove(&address) {
            Some(entry) => {
                let account = Account {
                    address: address.clone(),
                    incarnation: entry.incarnation,
                };
                records.deleted.push(Deleted {
                    account: account.clone(),
                    deleted_at: unix_now(),
                    retention,
                    hash: entry.hash,
                });
                deleted = Some(account);
                Ok(())
            }
            None if !local => Err(AccountError::NotLocal {
                domain: address.domain().to_string(),
            }),
            None => Err(AccountError::Unknown(address.clone())),
        })?;
        deleted.ok_or(AccountError::Unknown(address))
    }

    /// Bring back a deleted account whose mail was kept, with its mail and its password: the
    /// one with `incarnation`, or the one deleted last. Fails while an account with the same
    /// address exists.
    pub fn restore(
        &self,
        address: &str,
        incarnation: Option<Incarnation>,
    ) -> Result<Account, AccountError> {
        let address = Address::parse(address, &self.local_domains())?;
        let mut restored = None;
        self.modify(|records| {
            if records.live.contains_key(&address) {
                return Err(AccountError::Exists(address.clone()));
            }
            let i = kept_deleted(records, &address, incarnation)?;
            let d = records.deleted.remove(i);
            records.live.insert(
                address.clone(),
                Entry {
                    incarnation: d.account.incarnation,
                    hash: d.hash,
                    // Not kept for deleted accounts: SCRAM works again once the password is
                    // set anew.
                    scram: None,
                    set: None,
                    credentials: Vec::new(),
                    quota: QuotaOverride::default(),
                },
            );
            restored = Some(d.account);
            Ok(())
        })?;
        restored.ok_or(AccountError::NothingToRestore(address))
    }

    /// Have the server remove the kept mail of a deleted account: the one with
    /// `incarnation`, or every kept one of `address`. Returns the accounts marked.
    pub fn purge(
        &self,
        address: &str,
        incarnation: Option<Incarnation>,
    ) -> Result<Vec<Account>, AccountError> {
        let address = Address::parse_syntax(address)?;
        let mut marked = Vec::new();
        self.modify(|records| {
            let chosen: Vec<usize> = match incarnation {
                Some(_) => vec![kept_deleted(records, &address, incarnation)?],
                None => (0..records.deleted.len())
                    .filter(|&i| {
                        let d = &records.deleted[i];
                        d.account.address == address && d.retention == Retention::Keep
                    })
                    .collect(),
            };
            if chosen.is_empty() {
                return Err(AccountError::NothingToRestore(address.clone()));
            }
            for i in chosen {
                records.deleted[i].retention = Retention::Purge;
                marked.push(records.deleted[i].account.clone());
            }
            Ok(())
        })?;
        Ok(marked)
    }

    /// Whether `address` (any case) is an account of ours: the account, `None` for no such
    /// account or a non-local or malformed address. Cheap (a `stat` and a map lookup, no
    /// hashing): used for SMTP RCPT checks, never for authentication.
    pub fn lookup(&self, address: &str) -> Result<Option<Account>, AccountError> {
        let snapshot = self.cached()?;
        Ok(Address::parse(address, &self.local_domains())
            .ok()
            .and_then(|a| {
                let entry = snapshot.records.live.get(&a)?;
                Some(Account {
                    address: a,
                    incarnation: entry.incarnation,
                })
            }))
    }

    /// The quota limits of an account (any case) over `defaults` (`[quota]`); `None` for no
    /// such account. Cheap, like [`AccountStore::lookup`]: asked at every APPEND, COPY and
    /// delivery.
    pub fn quota_limits(
        &self,
        address: &str,
        defaults: crate::mail::QuotaLimits,
    ) -> Result<Option<crate::mail::QuotaLimits>, AccountError> {
        let snapshot = self.cached()?;
        Ok(Address::parse_syntax(address).ok().and_then(|a| {
            let entry = snapshot.records.live.get(&a)?;
            Some(entry.quota.over(defaults))
        }))
    }

    /// An account's own quota settings (what `user quota` shows).
    pub fn quota(&self, address: &str) -> Result<QuotaOverride, AccountError> {
        let address = Address::parse_syntax(address)?;
        let snapshot = self.load_fresh()?;
        snapshot
            .records
            .live
            .get(&address)
            .map(|e| e.quota)
            .ok_or(AccountError::Unknown(address))
    }

    /// Set an account's own quota limits (a resource at [`Limit::Default`] follows
    /// `[quota]`). Sessions see it at their next APPEND, COPY or delivery.
    pub fn set_quota(&self, address: &str, quota: QuotaOverride) -> Result<Address, AccountError> {
        let address = Address::parse_syntax(address)?;
        self.modify(|records| match records.live.get_mut(&address) {
            Some(entry) => {
                entry.quota = quota;
                Ok(())
            }
            None => Err(AccountError::Unknown(address.clone())),
        })?;
        Ok(address)
    }

    /// Every account, sorted.
    pub fn list(&self) -> Result<Vec<Address>, AccountError> {
        Ok(self.load_fresh()?.records.live.into_keys().collect())
    }

    /// Every deleted account, oldest deletion first.
    pub fn list_deleted(&self) -> Result<Vec<Deleted>, AccountError> {
        Ok(self.load_fresh()?.records.deleted)
    }

    /// What the running server must act on, as the file says now: the store keys of the
    /// deleted accounts (their sessions end) and of those whose mail is to be purged. (Not
    /// "every key but the live ones": a server that has not read the newest file yet must
    /// not end the session of an account created since.)
    /// `None` while the file is the version `seen` (from an earlier call) still.
    pub fn changes(&self, seen: Option<u64>) -> Result<Option<AccountKeys>, AccountError> {
        let snapshot = self.current()?;
        if seen == Some(snapshot.version) {
            return Ok(None);
        }
        let records = &snapshot.records;
        Ok(Some(AccountKeys {
            version: snapshot.version,
            deleted: records
                .deleted
                .iter()
                .map(|d| d.account.store_key())
                .collect(),
            purge: records
                .deleted
                .iter()
                .filter(|d| d.retention == Retention::Purge)
                .map(|d| d.account.store_key())
                .collect(),
        }))
    }

    /// The accounts as they are now: the cached copy if they have not changed since (a
    /// `stat` of the file, or a query of the database's version). Blocking: never on a shard
    /// with PostgreSQL.
    fn current(&self) -> Result<Arc<Snapshot>, AccountError> {
        let stamp = match &self.backend {
            Backend::File { path, .. } => match std::fs::metadata(path) {
                Ok(meta) => Some(Stamp::File(FileStamp::of(&meta))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(source) => {
                    return Err(AccountError::Io {
                        path: path.clone(),
                        source,
                    })
                }
            },
            Backend::Postgres(db) => Some(Stamp::Database(db.version()?)),
        };
        {
            // A poisoned lock still holds a complete Arc: a panic cannot leave it half-written.
            let cached = self.cache.read().unwrap_or_else(PoisonError::into_inner);
            if cached.stamp == stamp {
                return Ok(Arc::clone(&cached));
            }
        }
        let mut fresh = self.load_fresh()?;
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        if cache.stamp == fresh.stamp {
            // Another thread read the same version meanwhile: one version, one number.
            return Ok(Arc::clone(&cache));
        }
        fresh.version = cache.version + 1;
        let fresh = Arc::new(fresh);
        *cache = Arc::clone(&fresh);
        Ok(fresh)
    }

    /// The accounts for a caller that may be on a shard: with the file, as [`Self::current`]
    /// (a `stat`); with PostgreSQL, the copy last read, never a query (the accounts watcher
    /// of every shard reads the database's version each second through
    /// [`Self::changes`], on a blocking thread).
    fn cached(&self) -> Result<Arc<Snapshot>, AccountError> {
        match &self.backend {
            Backend::File { .. } => self.current(),
            Backend::Postgres(_) => Ok(Arc::clone(
                &self.cache.read().unwrap_or_else(PoisonError::into_inner),
            )),
        }
    }

    /// The records as they are now, read anew (not cached).
    fn load_fresh(&self) -> Result<Snapshot, AccountError> {
        match &self.backend {
            Backend::File { path, .. } => load(path),
            Backend::Postgres(db) => {
                let (version, records) = db.load()?;
                Ok(Snapshot {
                    stamp: Some(Stamp::Database(version)),
                    version: 0,
                    records,
                })
            }
        }
    }

    /// Apply `change` to the records as they are now, with every other writer held off
    /// (the file's lock; the database's version row, on every host), and write them back:
    /// the file atomically, the database in one transaction.
    fn modify(
        &self,
        change: impl FnOnce(&mut Records) -> Result<(), AccountError>,
    ) -> Result<(), AccountError> {
        let (path, lock_path) = match &self.backend {
            Backend::File { path, lock_path } => (path, lock_path),
            Backend::Postgres(db) => {
                db.change(change)?;
                // This process sees its own change at once, on the cached paths too.
                if let Err(e) = self.current() {
                    tracing::warn!(error = %e, "cannot read the account database back");
                }
                return Ok(());
            }
        };
        let _lock = FileLock::exclusive(lock_path).map_err(|source| AccountError::Io {
            path: lock_path.clone(),
            source,
        })?;
        let mut snapshot = load(path)?;
        change(&mut snapshot.records)?;
        write_atomically(
            path,
            records::render(HEADER, &snapshot.records).as_bytes(),
            0o600,
        )
        .map_err(|source| AccountError::Io {
            path: path.clone(),
            source,
        })
    }
}

/// The store keys the running server acts on ([`AccountStore::changes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountKeys {
    /// Pass back to [`AccountStore::changes`] to hear only of later versions.
    pub version: u64,
    pub deleted: std::collections::HashSet<String>,
    pub purge: Vec<String>,
}

/// The deleted account of `address` whose mail was kept: the one with `incarnation`, or the
/// one deleted last.
fn kept_deleted(
    records: &Records,
    address: &Address,
    incarnation: Option<Incarnation>,
) -> Result<usize, AccountError> {
    records
        .deleted
        .iter()
        .enumerate()
        .rev()
        .find(|(_, d)| {
            d.account.address == *address
                && d.retention == Retention::Keep
                && incarnation.is_none_or(|i| i == d.account.incarnation)
        })
        .map(|(i, _)| i)
        .ok_or_else(|| AccountError::NothingToRestore(address.clone()))
}

fn lower_case(domains: &[String]) -> Vec<String> {
    domains.iter().map(|d| d.to_ascii_lowercase()).collect()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Read and parse the accounts file; a missing file is an empty database.
fn load(path: &Path) -> Result<Snapshot, AccountError> {
    let io_error = |source| AccountError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Snapshot::default()),
        Err(e) => return Err(io_error(e)),
    };
    // The stamp of the open file, not of the path: it names exactly the version read here.
    let stamp = Stamp::File(FileStamp::of(&file.metadata().map_err(io_error)?));
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io_error)?;
    let records = records::parse(&text).map_err(|(line, reason)| AccountError::Corrupt {
        path: path.to_path_buf(),
        line,
        reason,
    })?;
    Ok(Snapshot {
        stamp: Some(stamp),
        version: 0,
        records,
    })
}

/// The `credentials.used` file: (address, id) → when; missing or unreadable lines are none.
fn read_uses(path: &Path) -> std::collections::HashMap<(String, String), u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split(' ');
            let (a, i, t) = (f.next()?, f.next()?, f.next()?.parse().ok()?);
            Some(((a.to_string(), i.to_string()), t))
        })
        .collect()
}

/// The most credentials (protocol and app passwords) one account may have.
pub const MAX_CREDENTIALS: usize = 50;

/// A password shown once and never stored.
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A new random app password: [`APP_PASSWORD_GROUPS`] groups of lower-case letters.
fn generate_app_password() -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    (0..APP_PASSWORD_GROUPS)
        .map(|_| {
            (0..APP_PASSWORD_GROUP)
                .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// How an app password is stored: the SHA-256 of its letters (dashes and spaces, which
/// only make it readable, left out; lower-cased).
fn app_digest(password: &str) -> String {
    let letters: String = password
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let d = ring::digest::digest(&ring::digest::SHA256, letters.as_bytes());
    let mut out = String::from("sha256$");
    for b in d.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An id no other credential of the account has.
fn new_credential_id(entry: &Entry) -> String {
    loop {
        let id = format!("{:08x}", rand::random::<u32>());
        if !entry.credentials.iter().any(|c| c.id == id) {
            return id;
        }
    }
}

fn check_password(password: &str) -> Result<(), AccountError> {
    if password.is_empty() {
        return Err(AccountError::BadPassword("empty"));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(AccountError::BadPassword("longer than 1024 bytes"));
    }
    Ok(())
}

/// argon2id with the crate's default (OWASP-recommended) parameters and a random salt.
fn hash_password(password: &str) -> Result<String, AccountError> {
    check_password(password)?;
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (parameters are taken from the hash).
fn password_matches(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests;
