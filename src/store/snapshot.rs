//! Snapshots of a shard's partitions for `ringpost backup`, taken while the shard serves, and
//! the census `ringpost restore` checks a restored store with. Never copies a byte itself
//! (the backup copies the linked files at its own pace) and never changes the live files.
//!
//! # Why a folder of hard links is a consistent snapshot
//!
//! A partition on disk is its checkpoint, its account index files and its log segments. The
//! store is crash-safe at every instant: the files as they are, recovered (the index files,
//! plus the log replayed from the checkpoint's position), are the partition's durable state.
//! Index files and the checkpoint are only ever replaced whole by rename, and only with what
//! is durable; segments are append-only and compaction deletes a sealed one whole. Every one
//! of those file changes happens on the owner shard, synchronously, between two awaits.
//!
//! So [`Store::link_snapshot`] captures one partition in one synchronous step (no await: no
//! batch is applied, no index evicted or checkpointed, no segment deleted meanwhile): it reads
//! the durable log position D and hard-links the checkpoint, every index file and every
//! segment up to D's into the snapshot folder. A link names the file's inode, so what the
//! shard renames over or deletes afterwards stays as it was in the snapshot: compaction may
//! delete a segment the snapshot's indexes use, and the snapshot keeps it. Only the segment
//! holding D is written again, after D, so the copy takes it up to D
//! ([`PartitionSnapshot::bound`]) with zeros after; its bytes before D never change (the
//! writer re-writes a partial block with the same leading bytes). Every write acknowledged
//! before the step is before D. No checkpoint is written for the snapshot: the files already
//! recover to D, and writing one would rewrite every dirty index while the shard waits.
//!
//! A partition that is on disk but not open on this shard is linked while the shard's
//! opening lock is held (nothing writes it, and nothing can start to), with no bound: its
//! segments are copied whole. If the shard opens and writes it while the copy runs, the
//! copy may end in part of a record, which recovery cuts off as after a crash; everything
//! that was there when it was linked is whole.
//!
//! Partitions are linked one at a time, each in a few link(2) calls per account index: the
//! shard serves between them.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::index::AccountIndex;
use super::partition::PartitionStore;
use super::types::{Result, StoreError};
use super::{Store, StoreConfig};
use crate::placement::{Partition, ShardId, ShardMap};

/// One partition in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionSnapshot {
    /// The partition's number (its folder is `pNNNN`).
    pub partition: u16,
    /// Where its log was durable when it was linked, if it was open; `None`: it was not
    /// open, and its segments are copied whole.
    pub end: Option<SnapshotEnd>,
}

/// The durable end of a partition's log in a snapshot: after the record that ends at
/// `offset` of segment `segment`; the next record would have had sequence number `next_seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotEnd {
    pub segment: u32,
    pub offset: u64,
    pub next_seq: u64,
}

impl PartitionSnapshot {
    /// The partition's folder, relative to the store's root.
    pub fn folder(&self) -> PathBuf {
        PathBuf::from(partition_folder(self.partition))
    }

    /// The one file of the snapshot to copy only in part: its path relative to the store's
    /// root and how many bytes to take (the rest of the copy is zeros, as in a segment that
    /// was never written there).
    pub fn bound(&self) -> Option<(PathBuf, u64)> {
        self.end
            .map(|end| (self.folder().join(segment_name(end.segment)), end.offset))
    }
}

/// What a store holds, as [`census`] counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Census {
    pub partitions: usize,
    /// Accounts that exist in the store (deleted accounts whose mail is kept included).
    pub accounts: usize,
    pub messages: u64,
}

fn partition_folder(index: u16) -> String {
    format!("p{index:04}")
}

fn segment_name(n: u32) -> String {
    format!("seg-{n:08}.log")
}

/// Whether `name` is one of the files a partition's state is made of (not a temporary
/// file, not the pre-created spare segment).
fn is_segment(name: &str) -> bool {
    name.strip_prefix("seg-")
        .and_then(|r| r.strip_suffix(".log"))
        .is_some_and(|n| n.len() == 8 && n.bytes().all(|b| b.is_ascii_digit()))
}

fn io_context(e: std::io::Error, what: &str, path: &Path) -> StoreError {
    StoreError::Io(std::io::Error::new(
        e.kind(),
        format!("{what} {}: {e}", path.display()),
    ))
}

fn link(from: &Path, to: &Path) -> Result<()> {
    std::fs::hard_link(from, to).map_err(|e| io_context(e, "linking", from))
}

/// The names in `dir` (none if it does not exist).
fn names(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_context(e, "listing", dir)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_context(e, "listing", dir))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// Link the checkpoint and every index file of the partition in `from` into `to`, and the
/// segments `segment` accepts.
fn link_partition(from: &Path, to: &Path, segment: impl Fn(&str) -> bool) -> Result<()> {
    std::fs::create_dir_all(to.join("accounts")).map_err(|e| io_context(e, "creating", to))?;
    if from.join("checkpoint").exists() {
        link(&from.join("checkpoint"), &to.join("checkpoint"))?;
    }
    for name in names(&from.join("accounts"))? {
        if name.ends_with(".idx") {
            link(
                &from.join("accounts").join(&name),
                &to.join("accounts").join(&name),
            )?;
        }
    }
    for name in names(from)? {
        if is_segment(&name) && segment(&name) {
            link(&from.join(&name), &to.join(&name))?;
        }
    }
    Ok(())
}

impl Store {
    /// Link every file of every partition this shard owns into `into` (a folder on the same
    /// filesystem, laid out as the store's root), one partition at a time, each at one
    /// instant (see the module docs). Returns what was linked, by partition.
    pub async fn link_snapshot(&self, into: &Path) -> Result<Vec<PartitionSnapshot>> {
        let mut linked = Vec::new();
        for id in self.partitions_on_disk()? {
            if self.inner.closing.get() {
                return Err(StoreError::Closed);
            }
            let to = into.join(partition_folder(id.index()));
            let open = self.open_partition_if_any(id);
            let snapshot = match open {
                Some(p) => link_open(&p, &to)?,
                None => {
                    // No partition opens while the permit is held, and the files of one
                    // that is not open do not change.
                    let _permit = self
                        .inner
                        .opening
                        .acquire_permit(1)
                        .await
                        .map_err(|_| StoreError::Closed)?;
                    match self.open_partition_if_any(id) {
                        Some(p) => link_open(&p, &to)?,
                        None => {
                            let from = self.inner.root.join(partition_folder(id.index()));
                            link_partition(&from, &to, |_| true)?;
                            PartitionSnapshot {
                                partition: id.index(),
                                end: None,
                            }
                        }
                    }
                }
            };
            linked.push(snapshot);
            futures_lite::future::yield_now().await;
        }
        Ok(linked)
    }

    /// The partitions this shard owns that have a folder under the root, or are open, in
    /// order.
    fn partitions_on_disk(&self) -> Result<Vec<Partition>> {
        let mut found: Vec<Partition> = names(&self.inner.root)?
            .iter()
            .filter_map(|name| {
                let n = name.strip_prefix('p')?;
                (n.len() == 4).then_some(())?;
                Partition::from_index(n.parse().ok()?)
            })
            .chain(self.inner.partitions.borrow().keys().copied())
            .filter(|p| self.inner.map.owner(*p) == self.inner.shard)
            .collect();
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }

    fn open_partition_if_any(&self, id: Partition) -> Option<Rc<PartitionStore>> {
        self.inner.partitions.borrow().get(&id).cloned()
    }
}

/// Open (recover) every partition under `root` and count its accounts and messages from its
/// index files: what `ringpost restore` checks a restored store with. Offline only (nothing
/// else may have the store open). Each partition is opened by a store of its own, closed
/// before the next, so a store of a thousand partitions never holds all their files open.
pub async fn census(root: PathBuf, config: StoreConfig) -> Result<Census> {
    let map = ShardMap::new(1);
    let mut census = Census::default();
    let all = Store::new(root.clone(), ShardId(0), map, config.clone()).partitions_on_disk()?;
    for id in all {
        let store = Store::new(root.clone(), ShardId(0), map, config.clone());
        let p = store.open_partition(id).await?;
        census.partitions += 1;
        let accounts = p.dir().join("accounts");
        for name in names(&accounts)? {
            if !name.ends_with(".idx") {
                continue;
            }
            let path = accounts.join(&name);
            let bytes = std::fs::read(&path).map_err(|e| io_context(e, "reading", &path))?;
            let index = AccountIndex::from_file_bytes(&bytes)?;
            if index.created {
                census.accounts += 1;
            }
            census.messages += index
                .mailboxes
                .iter()
                .map(|m| m.messages.len() as u64)
                .sum::<u64>();
        }
        drop(p);
        store.close().await?;
    }
    Ok(census)
}

/// Link open partition `p` at its durable position, in one step (no await).
pub(crate) fn link_open(p: &PartitionStore, to: &Path) -> Result<PartitionSnapshot> {
    let end = p.durable.get();
    let segments = p
        .segments
        .borrow()
        .numbers_below(end.segment.saturating_add(1));
    let wanted: Vec<String> = segments.into_iter().map(segment_name).collect();
    link_partition(p.dir(), to, |name| wanted.iter().any(|w| w == name))?;
    Ok(PartitionSnapshot {
        partition: p.id.index(),
        end: Some(SnapshotEnd {
            segment: end.segment,
            offset: end.offset,
            next_seq: end.chain.next_seq,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_numbered_segments_are_segments() {
        assert!(is_segment("seg-00000001.log"));
        assert!(!is_segment("seg-spare.tmp"));
        assert!(!is_segment("seg-0001.log"));
        assert!(!is_segment("seg-0000000x.log"));
        assert!(!is_segment("checkpoint"));
    }

    #[test]
    fn the_bound_names_the_segment_holding_the_end() {
        let s = PartitionSnapshot {
            partition: 582,
            end: Some(SnapshotEnd {
                segment: 3,
                offset: 8192,
                next_seq: 40,
            }),
        };
        assert_eq!(
            s.bound(),
            Some((PathBuf::from("p0582/seg-00000003.log"), 8192))
        );
        let closed = PartitionSnapshot {
            partition: 7,
            end: None,
        };
        assert_eq!(closed.bound(), None);
        assert_eq!(closed.folder(), PathBuf::from("p0007"));
    }
}
