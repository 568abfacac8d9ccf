//! Acting on `ringpost user del|purge` while the server runs: every shard watches the accounts
//! file, ends its sessions of accounts that are gone, and purges the deleted accounts' mail
//! its store holds.
//!
//! The file changes only by rename (see [`crate::accounts`]), so a `stat` per poll tells
//! whether there is anything to read. A session of a deleted account ends within one poll
//! interval plus the time it takes its current command to finish; a purge runs on the shard
//! that owns the account's partition, as one log record, and is retried at every start until
//! done (the accounts file keeps the purged incarnation).

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::future;

use super::net::ShardState;
use super::shutdown::Notify;

/// How often each shard looks at the accounts file.
pub const POLL: Duration = Duration::from_secs(1);

/// How often shard 0 writes the credentials' last use (`data_dir/credentials.used`).
const USES_EVERY: u32 = 60;

/// Which accounts were deleted, as this shard last read the accounts file, and a signal when
/// that changes.
#[derive(Clone, Default)]
pub struct DeletedAccounts {
    /// Store keys of the deleted accounts as last read.
    deleted: Rc<RefCell<HashSet<String>>>,
    /// The version of the accounts file they were read from (0: none yet).
    file_version: Rc<Cell<u64>>,
    changed: Notify,
}

impl DeletedAccounts {
    /// Whether a session of `store_key` that logged in with version `since` of the accounts
    /// file must end: its account is deleted in a version read since. (Judged by an older
    /// version, an account restored since would look deleted.)
    pub fn revoked(&self, store_key: &str, since: u64) -> bool {
        self.file_version.get() >= since && self.deleted.borrow().contains(store_key)
    }

    /// Version `file_version` of the accounts: wake every waiter.
    fn update(&self, deleted: HashSet<String>, file_version: u64) {
        *self.deleted.borrow_mut() = deleted;
        self.file_version.set(file_version);
        self.changed.notify_all();
    }

    /// The version of the accounts file this shard read last (0: none yet).
    pub fn version(&self) -> u64 {
        self.file_version.get()
    }

    /// Resolves when the shard reads a new version of the accounts file.
    pub async fn changed(&self) {
        self.changed.changed().await;
    }

    /// Resolves once `store_key` is revoked (see [`DeletedAccounts::revoked`]).
    pub async fn wait_revoked(&self, store_key: &str, since: u64) {
        while !self.revoked(store_key, since) {
            self.changed.changed().await;
        }
    }
}

/// The shard's watcher: reads the accounts file when it changed, updates
/// [`ShardState::deleted_accounts`], and purges what this shard owns. Ends at shutdown.
pub async fn run(state: Rc<ShardState>) {
    let mut seen = None;
    let mut polls = 0u32;
    loop {
        polls = polls.wrapping_add(1);
        if state.id.0 == 0 && polls.is_multiple_of(USES_EVERY) {
            flush_uses(&state).await;
        }
        let accounts = state.server().accounts.clone();
        let changes = glommio::executor()
            .spawn_blocking(move || accounts.changes(seen))
            .await;
        match changes {
            Ok(None) => {}
            Ok(Some(keys)) => {
                seen = Some(keys.version);
                state.deleted_accounts.update(keys.deleted, keys.version);
                purge(&state, &keys.purge).await;
            }
            Err(e) => tracing::error!(error = %e, "account database unavailable"),
        }
        let stop = async {
            state.shutdown.wait().await;
            true
        };
        let tick = async {
            glommio::timer::sleep(POLL).await;
            false
        };
        if future::or(stop, tick).await {
            if state.id.0 == 0 {
                flush_uses(&state).await;
            }
            return;
        }
    }
}

/// Write the credentials' last use (on a blocking thread: it reads and writes files).
async fn flush_uses(state: &ShardState) {
    let accounts = state.server().accounts.clone();
    let flushed = glommio::executor()
        .spawn_blocking(move || accounts.flush_uses())
        .await;
    if let Err(e) = flushed {
        tracing::warn!(error = %e, "cannot write when credentials were last used");
    }
}

/// Purge the mail of deleted accounts whose partition this shard owns.
async fn purge(state: &ShardState, keys: &[String]) {
    for key in keys {
        if state.map.home_shard(key) != state.id {
            continue;
        }
        match state.store.purge_account(key).await {
            Ok(true) => tracing::info!(account = %key, "purged the mail of a deleted account"),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(account = %key, error = %e, "purging a deleted account failed")
            }
        }
        // Its calendars and address books: the same partition, so this shard's too.
        match state
            .store
            .purge_account(&crate::accounts::dav_key(key))
            .await
        {
            Ok(true) => {
                tracing::info!(account = %key, "purged the calendars and contacts of a deleted account")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(account = %key, error = %e, "purging a deleted account's calendars failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    use super::*;

    #[test]
    fn only_deleted_accounts_are_revoked() {
        let deleted = DeletedAccounts::default();
        assert!(!deleted.revoked("a@example.com", 1));
        deleted.update(HashSet::from(["a@example.com".to_string()]), 2);
        assert!(deleted.revoked("a@example.com", 1));
        // An account this shard has not heard of (created since the last read) lives on.
        assert!(!deleted.revoked("b@example.com#00000000000000b1", 1));
        // Restored in version 3 and logged in with it: version 2 cannot judge that session.
        assert!(!deleted.revoked("a@example.com", 3));
        deleted.update(HashSet::new(), 3);
        assert!(!deleted.revoked("a@example.com", 3));
    }

    #[test]
    fn waiters_wake_when_their_account_goes() {
        let deleted = DeletedAccounts::default();
        let mut cx = Context::from_waker(Waker::noop());
        let mut wait = Box::pin(deleted.wait_revoked("a@example.com", 1));
        assert_eq!(wait.as_mut().poll(&mut cx), Poll::Pending);
        deleted.update(HashSet::from(["b@example.com".to_string()]), 1);
        assert_eq!(wait.as_mut().poll(&mut cx), Poll::Pending);
        deleted.update(HashSet::from(["a@example.com".to_string()]), 2);
        assert_eq!(wait.as_mut().poll(&mut cx), Poll::Ready(()));
        drop(wait);
        assert_eq!(deleted.changed.waiters(), 0);
    }
}
