//! The account database: a flat file of `address:incarnation:argon2id-hash` lines (see
//! [`records`] for the format, deleted accounts included), and password checks.
//!
//! The file (`data_dir/accounts`) is written only by the `ringpost user` commands, always by
//! replacing it atomically under an advisory lock, so the running server can read it without a
//! lock. The server keeps one [`AccountStore`] and sees changes without a restart: every
//! [`AccountStore::verify`] compares the file's identity (inode, size, mtime) with the cached
//! copy and re-reads it when they differ.
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
mod records;

use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

pub use address::Address;
pub use records::{address_of_key, Account, Deleted, Incarnation, Retention};

use file::{write_atomically, FileLock};
use records::{Entry, Records};

/// The answer of [`AccountStore::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The credentials are valid; `account` is the canonical (lower-case) address,
    /// `store_key` what the store keeps this incarnation's mail under, and `version` the
    /// version of the file that said so (see [`AccountStore::changes`]).
    Valid {
        account: String,
        store_key: String,
        version: u64,
    },
    /// Wrong user name or password (the same answer for both).
    Invalid,
    /// The account database could not be read.
    Unavailable,
}

/// Longest password accepted, in bytes.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// The argon2id hash an unknown user's password is checked against, so that a failed lookup
/// costs the same as a wrong password. Made with the crate's default parameters (the same as
/// new accounts get, see the `dummy_hash_costs_what_a_real_one_costs` test) for a random
/// password nobody knows.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$emBdj+GNV4RWdey9JL7DWg$NIzGTi7pLHuiI/XoptyDAbDCIuAVgt/ymuzm+HrDpfk";

const HEADER: &str = "\
# ringpost accounts: `address:incarnation:argon2id-hash` (PHC string format) per account,
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
}

/// The account database of one data folder. `Send + Sync`: share it with `Arc` and call
/// [`AccountStore::verify`] from a blocking thread pool.
#[derive(Debug)]
pub struct AccountStore {
    path: PathBuf,
    lock_path: PathBuf,
    /// Lower case, as in the validated configuration; replaced by a reload.
    local_domains: RwLock<Vec<String>>,
    /// The accounts as last read, with the identity of the file they were read from.
    cache: RwLock<Arc<Snapshot>>,
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
    stamp: Option<FileStamp>,
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
            lock_path: data_dir.join("accounts.lock"),
            path,
            local_domains: RwLock::new(lower_case(local_domains)),
            cache: RwLock::new(Arc::new(snapshot)),
        })
    }

    /// The accounts file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// New local domains (a configuration reload).
    pub fn set_local_domains(&self, local_domains: &[String]) {
        *self
            .local_domains
            .write()
            .unwrap_or_else(PoisonError::into_inner) = lower_case(local_domains);
    }

    fn local_domains(&self) -> Vec<String> {
        self.local_domains
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Check a user name (any case, `local@domain`) and password.
    ///
    /// Blocking and CPU-heavy (argon2id): run it off the shard. The same work is done and the
    /// same answer given for an unknown user, a bare local part, a non-local domain and a wrong
    /// password. [`Verification::Unavailable`] only when the file cannot be read.
    pub fn verify(&self, username: &str, password: &str) -> Verification {
        let snapshot = match self.current() {
            Ok(snapshot) => snapshot,
            Err(e) => {
                tracing::error!("account database unavailable: {e}");
                return Verification::Unavailable;
            }
        };
        let address = Address::parse(username, &self.local_domains()).ok();
        let stored = address.as_ref().and_then(|a| snapshot.records.live.get(a));
        let hash = stored.map_or(DUMMY_HASH, |e| e.hash.as_str());
        // Always hash, even for an unacceptable password, so timing says nothing.
        let matches = password_matches(password, hash);
        match (address, stored) {
            (Some(address), Some(entry)) if matches && check_password(password).is_ok() => {
                Verification::Valid {
                    store_key: records::store_key(&address, entry.incarnation),
                    account: address.into_string(),
                    version: snapshot.version,
                }
            }
            _ => Verification::Invalid,
        }
    }

    /// Create an account, with an incarnation never used for its address before. Fails if
    /// it exists (in any case).
    pub fn add(&self, address: &str, password: &str) -> Result<Address, AccountError> {
        let address = Address::parse(address, &self.local_domains())?;
        let hash = hash_password(password)?;
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
            records
                .live
                .insert(address.clone(), Entry { incarnation, hash });
            Ok(())
        })?;
        Ok(address)
    }

    /// Replace an existing account's password (its incarnation stays).
    pub fn set_password(&self, address: &str, password: &str) -> Result<Address, AccountError> {
        let address = Address::parse(address, &self.local_domains())?;
        let hash = hash_password(password)?;
        self.modify(|records| match records.live.get_mut(&address) {
            Some(entry) => {
                entry.hash = hash;
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
        let snapshot = self.current()?;
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

    /// Every account, sorted.
    pub fn list(&self) -> Result<Vec<Address>, AccountError> {
        Ok(load(&self.path)?.records.live.into_keys().collect())
    }

    /// Every deleted account, oldest deletion first.
    pub fn list_deleted(&self) -> Result<Vec<Deleted>, AccountError> {
        Ok(load(&self.path)?.records.deleted)
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

    /// The accounts as on disk now: the cached copy if the file has not changed since.
    fn current(&self) -> Result<Arc<Snapshot>, AccountError> {
        let stamp = match std::fs::metadata(&self.path) {
            Ok(meta) => Some(FileStamp::of(&meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(AccountError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        {
            // A poisoned lock still holds a complete Arc: a panic cannot leave it half-written.
            let cached = self.cache.read().unwrap_or_else(PoisonError::into_inner);
            if cached.stamp == stamp {
                return Ok(Arc::clone(&cached));
            }
        }
        let mut fresh = load(&self.path)?;
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        fresh.version = cache.version + 1;
        let fresh = Arc::new(fresh);
        *cache = Arc::clone(&fresh);
        Ok(fresh)
    }

    /// Read the file under the writers' lock, apply `change`, and write it back atomically.
    fn modify(
        &self,
        change: impl FnOnce(&mut Records) -> Result<(), AccountError>,
    ) -> Result<(), AccountError> {
        let _lock = FileLock::exclusive(&self.lock_path).map_err(|source| AccountError::Io {
            path: self.lock_path.clone(),
            source,
        })?;
        let mut snapshot = load(&self.path)?;
        change(&mut snapshot.records)?;
        write_atomically(
            &self.path,
            records::render(HEADER, &snapshot.records).as_bytes(),
            0o600,
        )
        .map_err(|source| AccountError::Io {
            path: self.path.clone(),
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
    let stamp = FileStamp::of(&file.metadata().map_err(io_error)?);
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
