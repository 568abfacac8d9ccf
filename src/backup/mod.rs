//! `ringpost backup DEST` and `ringpost restore SRC`: a consistent copy of a data folder,
//! taken while the server delivers, and its way back into an empty data folder. Never
//! changes a live file of the data folder.
//!
//! # What a backup is
//!
//! A folder laid out like a data folder — `accounts`, `tls/` (the generated certificate, when
//! there is one), `store/pNNNN/{checkpoint, accounts/*.idx, seg-*.log}` — and the manifest
//! `ringpost-backup`, written last: where the copy stands in each partition's log, and every
//! file's size and CRC-32C. A folder without a manifest is an unfinished backup and restore
//! refuses it.
//!
//! # How it is taken
//!
//! 1. **Snapshot**: a folder of hard links in `data_dir/snapshots/<name>/`. With the server
//!    running, `backup` asks for it over the control socket ([`crate::runtime::control`]):
//!    every shard links each of its partitions at one instant (see [`crate::store::snapshot`]
//!    for why that is consistent), then the accounts file is linked. With no server (the
//!    data-dir lock is free), `backup` holds the lock and links the same files itself.
//! 2. **Copy**: each file to DEST, CRC-32C'd and fsynced; the segment holding an open
//!    partition's snapshot point only up to that point, zeros after.
//! 3. **Release**: the snapshot folder is removed (by the server when the client says so or
//!    disconnects; leftovers of a crash go at the next start).
//!
//! Hard links rather than a pause held while copying: the copy takes as long as the data is
//! big, and holding compaction and checkpoints (and every index write) back for that long
//! would grow the log and memory with it, and tie the server's health to the backup's pace.
//! With links the server's part is a few link(2) calls per partition; afterwards it runs as
//! before, except that the segments compaction deletes keep their space until the snapshot is
//! released. Every message acknowledged before `backup` started is in the snapshot; one
//! acknowledged while it runs may or may not be.
//!
//! # Restore
//!
//! Into an empty (or absent) data folder, holding its lock: every file is copied to a staging
//! folder inside it and checked against the manifest, then moved into place; then the store
//! is opened (recovered) partition by partition and counted.

mod copy;

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::accounts::{AccountError, AccountStore};
use crate::config::Config;
use crate::placement::{ShardId, ShardMap};
use crate::runtime::{self, control};
use crate::store::{self, Census, PartitionSnapshot, Store, StoreError};

pub use copy::MANIFEST;

/// The folder of the data folder that holds snapshot folders.
pub const SNAPSHOTS: &str = "snapshots";

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Refused before anything was done (a non-empty destination, a running server…).
    #[error("{0}")]
    Refused(String),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("the running server: {0}")]
    Server(String),
    /// The backup is incomplete or does not match its manifest.
    #[error("{0}")]
    Damaged(String),
    #[error("the store: {0}")]
    Store(#[from] StoreError),
    #[error("the accounts file: {0}")]
    Accounts(#[from] AccountError),
}

/// Turns an IO error into one that says what was being done to which file.
fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Io { what, path, source }
}

/// A snapshot folder: hard links to the files of one consistent state of a data folder.
#[derive(Debug)]
pub struct SnapshotFolder {
    name: String,
    path: PathBuf,
}

impl SnapshotFolder {
    /// Make a new, empty snapshot folder under `data_dir/snapshots` (mode 0700).
    pub fn create(data_dir: &Path) -> io::Result<SnapshotFolder> {
        let parent = data_dir.join(SNAPSHOTS);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&parent)?;
        let name = format!(
            "{}-{}-{:08x}",
            store::now(),
            std::process::id(),
            rand::random::<u32>()
        );
        let path = parent.join(&name);
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(SnapshotFolder { name, path })
    }

    /// The snapshot folder `name` (as the server named it) under `data_dir/snapshots`.
    pub fn open(data_dir: &Path, name: &str) -> io::Result<SnapshotFolder> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{name:?} is not a snapshot name"),
            ));
        }
        let path = data_dir.join(SNAPSHOTS).join(name);
        if !path.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not there", path.display()),
            ));
        }
        Ok(SnapshotFolder {
            name: name.to_string(),
            path,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the store's partitions are linked.
    pub fn store_root(&self) -> PathBuf {
        self.path.join("store")
    }

    /// Link the accounts file and the generated certificate and key, if there are. The
    /// accounts file is replaced by rename, never written in place, so the link holds the
    /// version there now.
    pub fn link_data_files(&self, data_dir: &Path) -> io::Result<()> {
        link_if_there(&data_dir.join("accounts"), &self.path.join("accounts"))?;
        let tls = data_dir.join("tls");
        if tls.is_dir() {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(self.path.join("tls"))?;
            for name in ["cert.pem", "key.pem"] {
                link_if_there(&tls.join(name), &self.path.join("tls").join(name))?;
            }
        }
        Ok(())
    }

    /// Remove the folder and its links (the live files are untouched).
    pub fn remove(self) -> io::Result<()> {
        std::fs::remove_dir_all(&self.path)
    }
}

fn link_if_there(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("linking {}: {e}", from.display()),
        )),
    }
}

/// Remove snapshot folders a backup left behind (a crash of the server or of `backup`). The
/// caller holds the data-dir lock, so no backup is using them.
pub fn remove_stale_snapshots(data_dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(data_dir.join(SNAPSHOTS)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// How a backup was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// From the running server, over its control socket.
    Server,
    /// With the server stopped, holding the data-dir lock.
    Offline,
}

/// What `backup` did.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub source: Source,
    /// When the snapshot was taken (seconds since the epoch).
    pub taken_at: i64,
    pub partitions: Vec<PartitionSnapshot>,
    pub files: usize,
    pub bytes: u64,
}

/// `ringpost backup DEST`: copy a consistent snapshot of the data folder into `dest`, an
/// empty or absent folder.
pub fn backup(config: &Config, dest: &Path) -> Result<BackupReport, BackupError> {
    copy::prepare_destination(dest)?;
    let data_dir = &config.data_dir;
    if !data_dir.is_dir() {
        return Err(BackupError::Refused(format!(
            "{} does not exist: nothing to back up",
            data_dir.display()
        )));
    }
    match runtime::lock_data_dir(data_dir) {
        Ok(_lock) => {
            remove_stale_snapshots(data_dir)
                .map_err(io_error("removing old snapshots in", data_dir))?;
            let folder = SnapshotFolder::create(data_dir)
                .map_err(io_error("creating a snapshot folder in", data_dir))?;
            let taken_at = store::now();
            let linked = link_offline(config, &folder);
            let result = linked.and_then(|partitions| {
                let (files, bytes) =
                    copy::write_backup(&folder, &partitions, dest, taken_at, Source::Offline)?;
                Ok(BackupReport {
                    source: Source::Offline,
                    taken_at,
                    partitions,
                    files,
                    bytes,
                })
            });
            let removed = folder.remove();
            let report = result?;
            removed.map_err(io_error("removing the snapshot folder in", data_dir))?;
            Ok(report)
        }
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => backup_from_server(data_dir, dest),
        Err(e) => Err(BackupError::Io {
            what: "locking",
            path: data_dir.clone(),
            source: e,
        }),
    }
}

/// Link the data folder's files into `folder` with no server running (the lock is held):
/// nothing is open, so every partition is linked whole.
fn link_offline(
    config: &Config,
    folder: &SnapshotFolder,
) -> Result<Vec<PartitionSnapshot>, BackupError> {
    let root = config.data_dir.join("store");
    let into = folder.store_root();
    let store_config = runtime::store_config(config);
    let partitions = runtime::run_standalone("backup", move || async move {
        let store = Store::new(root, ShardId(0), ShardMap::new(1), store_config);
        store.link_snapshot(&into).await
    })
    .map_err(io_error("running the store of", &config.data_dir))??;
    folder
        .link_data_files(&config.data_dir)
        .map_err(io_error("linking the accounts file into", folder.path()))?;
    Ok(partitions)
}

fn backup_from_server(data_dir: &Path, dest: &Path) -> Result<BackupReport, BackupError> {
    let server = |e: control::ControlError| BackupError::Server(e.to_string());
    let mut client = control::ControlClient::connect(data_dir).map_err(|e| {
        BackupError::Server(format!(
            "a server holds {} but its control socket does not answer ({e})",
            data_dir.display()
        ))
    })?;
    let taken_at = store::now();
    let (name, partitions) = client.snapshot().map_err(server)?;
    let copied = SnapshotFolder::open(data_dir, &name)
        .map_err(io_error("opening the snapshot in", data_dir))
        .and_then(|folder| {
            copy::write_backup(&folder, &partitions, dest, taken_at, Source::Server)
                .map(|done| (done, folder))
        });
    match copied {
        Ok(((files, bytes), folder)) => {
            if client.release(&name).is_err() {
                // The server went away meanwhile: the links are ours to remove.
                let _ = folder.remove();
            }
            Ok(BackupReport {
                source: Source::Server,
                taken_at,
                partitions,
                files,
                bytes,
            })
        }
        Err(e) => {
            let _ = client.release(&name);
            Err(e)
        }
    }
}

/// What `restore` did and found.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub files: usize,
    pub bytes: u64,
    /// When the backup's snapshot was taken (seconds since the epoch).
    pub taken_at: i64,
    /// Accounts in the restored accounts file.
    pub accounts: usize,
    /// What the restored store holds, after recovery.
    pub store: Census,
}

/// `ringpost restore SRC`: copy the backup in `src` into the configured data folder, which
/// must be empty or absent with no server on it, then open the store to check it.
pub fn restore(config: &Config, src: &Path) -> Result<RestoreReport, BackupError> {
    let manifest = copy::read_manifest(src)?;
    let data_dir = &config.data_dir;
    let lock = |data_dir: &Path| {
        runtime::lock_data_dir(data_dir).map_err(|e| {
            if e.kind() == io::ErrorKind::AddrInUse {
                BackupError::Refused(format!("{e}: stop it before restoring"))
            } else {
                BackupError::Io {
                    what: "locking",
                    path: data_dir.to_path_buf(),
                    source: e,
                }
            }
        })
    };
    // A running server is named as such (its folder is not empty either).
    let early = if data_dir.join("ringpost.pid").exists() {
        Some(lock(data_dir)?)
    } else {
        None
    };
    copy::refuse_non_empty(data_dir)?;
    std::fs::create_dir_all(data_dir).map_err(io_error("creating", data_dir))?;
    let _lock = match early {
        Some(held) => held,
        None => lock(data_dir)?,
    };
    // Again under the lock: nothing may have arrived since.
    copy::refuse_non_empty(data_dir)?;
    let (files, bytes) = copy::restore_files(src, &manifest, data_dir)?;
    let accounts = AccountStore::open(data_dir, &config.local_domains)?
        .list()?
        .len();
    let root = data_dir.join("store");
    let store_config = runtime::store_config(config);
    let store = runtime::run_standalone("restore", move || {
        store::snapshot::census(root, store_config)
    })
    .map_err(io_error("running the store of", data_dir))?
    .map_err(|e| {
        BackupError::Damaged(format!(
            "the restored store does not open ({e}); the files stay in {} for `ringpost fsck`",
            data_dir.display()
        ))
    })?;
    Ok(RestoreReport {
        files,
        bytes,
        taken_at: manifest.taken_at,
        accounts,
        store,
    })
}
