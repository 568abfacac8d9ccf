//! Compaction: reclaim the space of expunged messages by rewriting what is still live in a
//! sealed segment into the log and deleting the segment. Runs on the partition's owner
//! shard, in the background, in small steps. Never changes what a reader sees: the bytes of
//! every message stay identical, only where they are changes, and that change is itself a
//! log record.
//!
//! # Steps, and why a crash at any instant is harmless
//!
//! 1. **Survey** segment `S` (sealed: the writer has moved on, and the durable position is
//!    in a later segment). Its records name every account that can reference bytes in it
//!    (an append names its recipients; a copy stays inside one account; an earlier
//!    relocation names its accounts). Those accounts' indexes say which bodies in `S` are
//!    still used. Nothing is written.
//! 2. **Relocate**, a few hundred KiB at a time: read live bodies from `S` and append one
//!    [`Op::Relocate`] record with those bytes, through the normal group commit. When it is
//!    durable and applied, every message of the named accounts whose body was at an old
//!    place now points at the new copy. Readers never wait: the old bytes stay readable, and
//!    applying the record is a scan of a few indexes. A crash here leaves `S` intact and
//!    some relocation records in the log; replay applies them again (or the index files
//!    already hold them). A relocation never adds a message: a message expunged after the
//!    survey is simply not found, so nothing comes back.
//! 3. **Switch**: check again that no index references `S`, then write a checkpoint. It
//!    stands after every relocation record, in a later segment than `S`, so no replay will
//!    ever read `S` again, and every index file on disk points at the new places.
//! 4. **Delete** `S` (and sync the directory). A crash between 3 and 4 leaves an unused
//!    `S`; the checkpoint marks it as all dead, so the next compaction finds it, sees no
//!    reference and deletes it.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use super::index::BodyRef;
use super::io::{self, DmaFile};
use super::op::{self, Moved, Op};
use super::partition::PartitionStore;
use super::segment;
use super::types::{Result, StoreError};
use super::{Inner, Store};

/// Live bytes moved per relocation record (one larger message goes alone).
const STEP_BYTES: usize = 256 << 10;
/// Messages moved per relocation record.
const STEP_BODIES: usize = 128;
/// Records decoded (or accounts read) between yields while surveying.
const SURVEY_BATCH: usize = 32;

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Segments surveyed.
    pub surveyed: u32,
    /// Segment files deleted.
    pub deleted: u32,
    /// Live message bytes rewritten into the log.
    pub moved_bytes: u64,
    /// Size of the deleted segment files.
    pub reclaimed_bytes: u64,
}

/// Which segments a run looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Select {
    /// Segments whose released-bytes estimate reaches the ratio (background).
    Hinted(f64),
    /// Every sealed segment whose measured dead fraction reaches the ratio (manual).
    All(f64),
}

impl Select {
    fn ratio(self) -> f64 {
        match self {
            Select::Hinted(r) | Select::All(r) => r,
        }
    }
}

/// After a batch: start a background compaction of `p` if a sealed segment's estimate of
/// dead bytes reaches the configured ratio and none is running.
pub(crate) fn maybe_start(inner: &Rc<Inner>, p: &Rc<PartitionStore>) {
    let ratio = inner.config.compact_dead_ratio;
    if p.compacting.get() || inner.closing.get() || ratio > 1.0 || ratio.is_nan() {
        return;
    }
    if candidates(p, Select::Hinted(ratio)).is_empty() {
        return;
    }
    p.compacting.set(true);
    let (store, p) = (
        Store {
            inner: inner.clone(),
        },
        p.clone(),
    );
    io::spawn_detached(async move {
        match run(&store, &p, Select::Hinted(ratio)).await {
            Ok(r) if r.deleted > 0 => {
                tracing::info!(partition = p.id.index(), ?r, "compacted");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(partition = p.id.index(), error = %e, "compaction stopped");
            }
        }
        p.compacting.set(false);
    });
}

impl Store {
    /// Compact every open partition now: each sealed segment whose dead fraction (bytes not
    /// used by any message, over the file size) is at least `min_dead_ratio` has its live
    /// messages moved and is deleted. `0.0` compacts every sealed segment. Waits for a
    /// background compaction of the same partition to finish first.
    pub async fn compact(&self, min_dead_ratio: f64) -> Result<CompactReport> {
        let partitions: Vec<_> = self.inner.partitions.borrow().values().cloned().collect();
        let mut total = CompactReport::default();
        for p in partitions {
            while p.compacting.get() {
                io::sleep(std::time::Duration::from_millis(1)).await;
            }
            p.compacting.set(true);
            let r = run(self, &p, Select::All(min_dead_ratio)).await;
            p.compacting.set(false);
            let r = r?;
            total.surveyed += r.surveyed;
            total.deleted += r.deleted;
            total.moved_bytes += r.moved_bytes;
            total.reclaimed_bytes += r.reclaimed_bytes;
        }
        Ok(total)
    }

    /// Bytes of segment files of every open partition (what compaction shrinks).
    pub fn segment_bytes(&self) -> u64 {
        self.inner
            .partitions
            .borrow()
            .values()
            .map(|p| p.segments.borrow().total_size())
            .sum()
    }
}

/// Sealed segments (before the durable position's segment) that `select` picks.
fn candidates(p: &PartitionStore, select: Select) -> Vec<u32> {
    let below = p.durable.get().segment;
    let segments = p.segments.borrow();
    let numbers = segments.numbers_below(below);
    match select {
        Select::All(_) => numbers,
        Select::Hinted(ratio) => {
            let released = p.released.borrow();
            numbers
                .into_iter()
                .filter(|n| {
                    let (Some(r), Some(size)) = (released.get(n), segments.size(*n)) else {
                        return false;
                    };
                    *r as f64 >= ratio * size as f64
                })
                .collect()
        }
    }
}

async fn run(store: &Store, p: &Rc<PartitionStore>, select: Select) -> Result<CompactReport> {
    let mut report = CompactReport::default();
    for s in candidates(p, select) {
        // A replica's log is its primary's: it compacts when the primary does.
        if store.inner.closing.get() || p.poisoned.get() || p.role.get().is_replica() {
            break;
        }
        compact_segment(store, p, s, select.ratio(), &mut report).await?;
    }
    Ok(report)
}

/// The accounts whose messages may use bytes of sealed segment `s`.
pub(crate) async fn accounts_of(p: &PartitionStore, s: u32) -> Result<BTreeSet<String>> {
    let Some(file) = p.segments.borrow().file(s) else {
        return Ok(BTreeSet::new());
    };
    let scan = segment::scan_sealed(&file, s).await?;
    drop(file);
    let mut accounts = BTreeSet::new();
    for i in 0..scan.records.len() {
        if i % SURVEY_BATCH == SURVEY_BATCH - 1 {
            futures_lite::future::yield_now().await;
        }
        match op::decode(scan.payload(i))?.0 {
            Op::Append { copies, .. } => accounts.extend(copies.into_iter().map(|c| c.account)),
            Op::AppendSaved { copies, .. } => {
                accounts.extend(copies.into_iter().map(|c| c.copy.account))
            }
            Op::Relocate { accounts: a, .. } => accounts.extend(a),
            _ => {}
        }
    }
    Ok(accounts)
}

/// Every body in `s` that a message of `accounts` uses, by offset, with the accounts using it.
pub(crate) async fn live_bodies(
    p: &PartitionStore,
    s: u32,
    accounts: &BTreeSet<String>,
) -> Result<BTreeMap<u64, (BodyRef, BTreeSet<String>)>> {
    let mut live: BTreeMap<u64, (BodyRef, BTreeSet<String>)> = BTreeMap::new();
    for (i, name) in accounts.iter().enumerate() {
        if i % SURVEY_BATCH == SURVEY_BATCH - 1 {
            futures_lite::future::yield_now().await;
        }
        p.with_account(name, |a| {
            for b in a.index.bodies_in(s) {
                live.entry(b.offset)
                    .or_insert_with(|| (b, BTreeSet::new()))
                    .1
                    .insert(name.clone());
            }
        })?;
    }
    Ok(live)
}

async fn compact_segment(
    store: &Store,
    p: &Rc<PartitionStore>,
    s: u32,
    min_ratio: f64,
    report: &mut CompactReport,
) -> Result<()> {
    let (Some(file), Some(size)) = (p.segments.borrow().file(s), p.segments.borrow().size(s))
    else {
        return Ok(());
    };
    report.surveyed += 1;
    let accounts = accounts_of(p, s).await?;
    let live = live_bodies(p, s, &accounts).await?;
    // Surveying may have loaded many indexes: keep memory bounded.
    p.evict(store.inner.config.max_loaded_accounts)?;
    let live_bytes: u64 = live.values().map(|(b, _)| u64::from(b.len)).sum();
    let dead = size.saturating_sub(live_bytes);
    if !live.is_empty() && (dead as f64) < min_ratio * size as f64 {
        // Not worth it yet: remember the measured figure so the estimate does not trigger
        // another survey before more messages go.
        p.released.borrow_mut().insert(s, dead);
        return Ok(());
    }
    let mut bodies: Vec<(BodyRef, BTreeSet<String>)> = live.into_values().collect();
    while !bodies.is_empty() {
        if store.inner.closing.get() {
            return Ok(());
        }
        let mut take = 0;
        let mut bytes = 0usize;
        while take < bodies.len() && take < STEP_BODIES {
            let len = bodies[take].0.len as usize;
            if take > 0 && bytes + len > STEP_BYTES {
                break;
            }
            bytes += len;
            take += 1;
        }
        let step: Vec<_> = bodies.drain(..take).collect();
        relocate(store, p, &file, &step).await?;
        report.moved_bytes += bytes as u64;
        futures_lite::future::yield_now().await;
    }
    drop(file);
    // Only the named accounts can use bytes of `s` (see the module docs); check once more.
    let left = live_bodies(p, s, &accounts).await?;
    p.evict(store.inner.config.max_loaded_accounts)?;
    if !left.is_empty() {
        tracing::warn!(
            partition = p.id.index(),
            segment = s,
            messages = left.len(),
            "segment still in use after relocation; kept"
        );
        return Ok(());
    }
    if p.durable.get().segment <= s {
        return Err(StoreError::corrupt(
            "compaction",
            "durable position is not past the segment",
        ));
    }
    // Marked all dead in the checkpoint: if the delete below does not happen, the next
    // compaction deletes it.
    p.released.borrow_mut().insert(s, size);
    p.checkpoint_after().await?;
    p.segments.borrow_mut().delete(p.dir(), s)?;
    p.released.borrow_mut().remove(&s);
    report.deleted += 1;
    report.reclaimed_bytes += size;
    Ok(())
}

/// Append one relocation record for `step` (bodies of `file`, segment `s`).
async fn relocate(
    store: &Store,
    p: &Rc<PartitionStore>,
    file: &DmaFile,
    step: &[(BodyRef, BTreeSet<String>)],
) -> Result<()> {
    let mut area = Vec::with_capacity(step.iter().map(|(b, _)| b.len as usize).sum());
    let mut moves = Vec::with_capacity(step.len());
    let mut accounts = BTreeSet::new();
    for (b, users) in step {
        let bytes = segment::read(file, b.offset, b.len as usize).await?;
        // Step areas are at most STEP_BYTES plus one message, far below u32::MAX.
        let at = u32::try_from(area.len()).map_err(|_| StoreError::TooLarge(area.len()))?;
        area.extend_from_slice(&bytes);
        moves.push(Moved { from: *b, at });
        accounts.extend(users.iter().cloned());
    }
    let accounts: Vec<String> = accounts.into_iter().collect();
    // Keep the accounts loaded until the record is applied (as every queued op does).
    for (i, name) in accounts.iter().enumerate() {
        if let Err(e) = p.with_account(name, |a| a.inflight += 1) {
            for done in &accounts[..i] {
                let _ = p.with_account(done, |a| a.inflight = a.inflight.saturating_sub(1));
            }
            return Err(e);
        }
    }
    store
        .submit(p.clone(), Op::Relocate { accounts, moves }, &area)
        .await?;
    Ok(())
}
