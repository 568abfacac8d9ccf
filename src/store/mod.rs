//! The message store: accounts, mailboxes and messages, durable on local disk.
//!
//! # Shape
//!
//! Every account hashes to a [`Partition`]; each partition is owned by exactly one shard, and
//! only that shard's [`Store`] (an `Rc`, not `Send`) opens the partition's files. Other shards
//! reach it through the runtime, which runs their requests (a delivery's copies, a retraction)
//! on the owner shard as calls to its store. A partition is a directory:
//!
//! ```text
//! <root>/p0582/seg-00000001.log   append-only log segments (zero-filled, O_DIRECT, 16 MiB)
//! <root>/p0582/accounts/<account>.idx   per-account index (rkyv), current up to a log seq
//! <root>/p0582/checkpoint         log position up to which every index file is current
//! <root>/p0582/text/<account>.fts   per-account full-text index (derived, see [`text`])
//! ```
//!
//! The log is the truth. Every change (account and mailbox creation, rename, delete,
//! subscribe, append with the message bytes, copy/move, flag change, expunge) is one
//! self-checking record ([`record`]): magic, length, sequence number, the previous record's
//! CRC and its own CRC-32C. The per-account index ([`index`]) is what applying the log yields:
//! UIDs, flags, modseqs, dates, sizes, where each message's bytes are, and its MIME summary
//! (ENVELOPE and BODYSTRUCTURE with offsets, parsed once at append, [`crate::mail::mime`]).
//! Index files are rkyv archives checked with bytecheck when read ([`index::IndexFile`] is the
//! trust boundary). The types it shares with the protocols (UIDs, flags, MIME summaries, the
//! read-side views) are the model's ([`crate::mail`]); the store re-exports none of them.
//!
//! # Durability
//!
//! An op is reserved (UIDs, mailbox ids) and queued; the shard's committer ([`commit`]) writes
//! every queued record of a partition in one direct write, `fdatasync`s all dirty partitions
//! concurrently, and only then applies the records to the indexes, answers the callers and
//! notifies watchers. So nothing is visible before it is durable, and a UID once seen is in
//! the log: after a crash UIDNEXT is rebuilt past it. Recovery reads the checkpoint, replays
//! the records after it into the indexes and stops at the first record that does not check
//! (a torn tail is never half-applied: a record is applied whole or not at all). Later
//! segments that still hold records after that point are damage, not a torn tail: the
//! partition is not opened rather than cut short ([`fsck`] reports it).
//!
//! Each mailbox's index also keeps a bounded log of the UIDs expunged and the modseq of each
//! expunge ([`expunged`]), rebuilt by replay like everything else, for IMAP QRESYNC.
//!
//! A multi-recipient delivery writes one record per partition (all that partition's copies,
//! atomically, the bytes once). Copies on different partitions are separate records: a crash
//! between them can leave some copies without the SMTP reply having been sent, and the client
//! retries: at-least-once, never lost. An error returned by `commit` expunges the copies that
//! were made.
//!
//! # Memory
//!
//! An account's index is loaded on first use and evicted (written to its file first when
//! dirty) once a partition holds more than [`StoreConfig::max_loaded_accounts`] idle ones.
//!
//! Which messages are still IMAP `\Recent` (RFC 3501 §2.3.2) is memory only (`watch`): one
//! UID per mailbox with mail no session has claimed yet, never written to disk. After a
//! restart nothing is recent until new mail arrives.
//!
//! # What it never does
//!
//! It never parses protocol syntax, never talks to a socket, never opens a partition that the
//! shard map gives to another shard. Index and checkpoint files are written with blocking
//! `std::fs` calls (rare: checkpoints and evictions), segments through io_uring; new segment
//! files are zero-filled on the runtime's blocking thread, ahead of need. Only `io.rs` names
//! the runtime's IO types.
//!
//! # Space
//!
//! Expunged messages stay in their segment until [`compact`] moves the live messages of a
//! sealed segment whose dead fraction reaches [`StoreConfig::compact_dead_ratio`] into the
//! log (as relocation records) and deletes the segment, in the background and crash-safely.
//!
//! # Replicas
//!
//! In a cluster, a partition's log is shipped from its primary to its replicas byte for byte
//! and written where the primary wrote it, then applied as recovery applies it; a
//! per-partition role and epoch fence a stale primary ([`replica`] explains the choice).
//! Without a cluster every partition is a primary at epoch 0 and nothing of this runs.
//!
//! # Backups
//!
//! [`Store::link_snapshot`] hard-links each partition's files into a snapshot folder at one
//! instant, between two awaits, while the shard serves: the files the store keeps are a
//! crash-consistent state at any such instant, and links keep what compaction deletes and
//! renames replace afterwards ([`snapshot`] explains the one segment still being written).

pub(crate) mod commit;
pub mod compact;
pub mod expunged;
pub mod fsck;
pub mod import;
pub mod index;
mod io;
pub mod op;
pub mod order;
pub mod partition;
mod read;
pub mod record;
pub mod replica;
pub mod segment;
pub mod snapshot;
pub mod stream;
pub mod text;
pub mod types;
mod watch;
mod write;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

use futures_channel::{mpsc, oneshot};

pub use compact::CompactReport;
pub use index::{MessageEntry, Outcome};
pub use read::SearchKey;
pub use segment::Body;
pub use snapshot::{Census, PartitionSnapshot, SnapshotEnd};
pub use stream::AppendStream;
pub use types::{Result, StoreError, DEFAULT_MAILBOXES};
pub use watch::{AccountBatch, AccountFeed, Touched};

use crate::mail::{Change, MailboxId, Recent};
use crate::placement::{Partition, ShardId, ShardMap};
use partition::PartitionStore;

/// Tunables of a shard's store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Size of a new segment file (larger records get a segment of their own size).
    pub segment_size: u64,
    /// Idle account indexes a partition keeps in memory.
    pub max_loaded_accounts: usize,
    /// Largest message accepted.
    pub max_message_size: usize,
    /// Background compaction starts on a sealed segment once this fraction of it is
    /// released by expunges (estimated; measured before anything moves). Above 1.0: never.
    pub compact_dead_ratio: f64,
    /// Which accounts keep a full-text index for text searches ([`text`]).
    pub full_text_index: text::FullText,
    /// A checkpoint is written after this many bytes of log (bounds recovery time), or
    /// after four times the index bytes the last one wrote, if
    /// more.
    pub checkpoint_every: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            segment_size: 16 << 20,
            max_loaded_accounts: 4096,
            max_message_size: 64 << 20,
            compact_dead_ratio: 0.5,
            full_text_index: text::FullText::Searched,
            checkpoint_every: commit::CHECKPOINT_EVERY,
        }
    }
}

/// One shard's store: the partitions this shard owns. Cheap to clone (an `Rc`).
#[derive(Clone)]
pub struct Store {
    inner: Rc<Inner>,
}

pub(crate) struct Inner {
    root: PathBuf,
    shard: ShardId,
    map: ShardMap,
    config: StoreConfig,
    partitions: RefCell<HashMap<Partition, Rc<PartitionStore>>>,
    /// Serializes partition opening (recovery), so two tasks never open one twice.
    opening: io::Semaphore,
    queue: RefCell<Vec<commit::Queued>>,
    committing: Cell<bool>,
    /// Set by [`Store::close`]: background compaction stops at its next step.
    closing: Cell<bool>,
    /// Change feeds and unclaimed `\Recent` messages of the mailboxes (memory only).
    mailboxes: RefCell<watch::Mailboxes>,
    /// Commits since start, for the metrics listener.
    stats: RefCell<StoreStatsCells>,
    /// On a cluster host, which partitions local ops may write now (the map makes this host
    /// their primary and it holds its lease); `None`: every partition (a single host).
    /// Memory only, see [`Store::set_write_gate`].
    gate: RefCell<Option<Rc<[bool]>>>,
    /// On a cluster host, whether it may have lost its lease now: asked on every write, as
    /// the gate (set every reconcile) may lag behind. See [`Store::set_fence`].
    fence: RefCell<Option<Rc<dyn Fn() -> bool>>>,
}

impl Inner {
    /// Whether local ops may write partition `p` now: it is a primary and the write gate
    /// lets it.
    pub(crate) fn writable(&self, p: &partition::PartitionStore) -> Result<()> {
        let role = p.role.get();
        let shut = self.gate.borrow().as_ref().is_some_and(|gate| {
            !gate
                .get(usize::from(p.id.index()))
                .copied()
                .unwrap_or(false)
        }) || self.fence.borrow().as_ref().is_some_and(|fenced| fenced());
        if shut {
            return Err(StoreError::NotPrimary {
                epoch: role.epoch(),
            });
        }
        role.writable()
    }
}

/// The store's figures since start (one shard's; summed over the shards by the scrape).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Records made durable (appends, flag changes, expunges, …).
    pub records: u64,
    /// Bytes of those records written to the log.
    pub bytes: u64,
    /// Partition writes, each ended by one `fdatasync` (a batch writes each dirty partition
    /// once).
    pub syncs: u64,
    /// How long each partition write took, `fdatasync` included.
    pub sync_latency: crate::latency::Buckets,
}

#[derive(Debug, Default)]
struct StoreStatsCells {
    records: u64,
    bytes: u64,
    syncs: u64,
    sync_latency: crate::latency::Latency,
}

impl Inner {
    fn notify(&self, events: Vec<(String, MailboxId, Change)>) {
        if !events.is_empty() {
            self.mailboxes.borrow_mut().notify(events);
        }
    }

    /// Tell the account's watchers of a change that is about no one mailbox's messages
    /// (called once the op that made it is durable).
    fn notify_account(&self, account: &str, change: crate::mail::AccountChange) {
        self.mailboxes.borrow_mut().notify_account(account, change);
    }
}

/// Seconds since the Unix epoch, for UIDVALIDITY and default internal dates.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Canonical account name: trimmed and lower case. Refuses empty names and control bytes.
pub fn canonical_account(account: &str) -> Result<String> {
    let a = account.trim();
    if a.is_empty() || a.len() > 320 || a.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(StoreError::InvalidAccount);
    }
    Ok(a.to_lowercase())
}

/// How often the executor is woken while the store lives.
const WAKE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(5);

/// What a store's keep-awake task calls every time it wakes; dropped when the store goes.
pub type Heartbeat = Box<dyn Fn()>;

thread_local! {
    /// Makes the heartbeat of each store opened on this thread, if the runtime gave a way.
    static HEARTBEAT: Cell<Option<fn() -> Heartbeat>> = const { Cell::new(None) };
}

/// Give every store opened on the calling thread from now on a heartbeat: `register` runs on
/// this thread when a store starts, and what it returns is called every few milliseconds
/// while the store's executor is awake (the keep-awake task below). The runtime calls this on each
/// executor thread it builds, for its watchdog of lost wake-ups; a store on a thread where
/// nobody did has no heartbeat.
pub fn set_heartbeat(register: fn() -> Heartbeat) {
    HEARTBEAT.with(|h| h.set(Some(register)));
}

/// Wake the executor every few milliseconds while the store lives, and beat the heartbeat
/// the runtime gave this thread ([`set_heartbeat`]) to say the executor is awake.
///
/// The runtime can miss the wake-up for a completed file operation and sleep in
/// `io_uring_enter` until something else happens: a store test once stalled 700 s that way
/// (an `iou-wrk` thread had finished; attaching gdb, which interrupts the syscall, released
/// it). Any wake makes the reactor collect every ring and its syscall thread, so a periodic
/// timer bounds most such stalls to this interval. The timer itself can be lost the same
/// way (its ring is the one whose wake-up goes missing), so its beats also feed the
/// runtime's watchdog, which interrupts the sleep from outside when they stop.
async fn keep_awake(store: std::rc::Weak<Inner>) {
    let heartbeat = HEARTBEAT.with(Cell::get).map(|register| register());
    while store.strong_count() > 0 {
        if let Some(beat) = &heartbeat {
            beat();
        }
        io::sleep(WAKE_INTERVAL).await;
    }
}

impl Store {
    /// The store of shard `shard` under `root`. Does no IO: partitions open on first use.
    pub fn new(
        root: impl Into<PathBuf>,
        shard: ShardId,
        map: ShardMap,
        config: StoreConfig,
    ) -> Store {
        let store = Store {
            inner: Rc::new(Inner {
                root: root.into(),
                shard,
                map,
                config,
                partitions: RefCell::new(HashMap::new()),
                opening: io::Semaphore::new(1),
                queue: RefCell::new(Vec::new()),
                committing: Cell::new(false),
                closing: Cell::new(false),
                mailboxes: RefCell::new(watch::Mailboxes::default()),
                stats: Default::default(),
                gate: RefCell::new(None),
                fence: RefCell::new(None),
            }),
        };
        io::spawn_detached(keep_awake(Rc::downgrade(&store.inner)));
        store
    }

    pub fn shard(&self) -> ShardId {
        self.inner.shard
    }

    pub fn map(&self) -> ShardMap {
        self.inner.map
    }

    /// The tunables this store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Whether `account` lives on this shard.
    pub fn owns(&self, account: &str) -> bool {
        self.inner.map.home_shard(account) == self.inner.shard
    }

    /// Whether `account` may have anything stored: it lives here and its partition is open
    /// or has a folder. `false` means it certainly has nothing, found without opening (and so
    /// creating) its partition: what a scan over many possible accounts (the outbound
    /// queues) asks before it looks inside.
    pub fn may_hold(&self, account: &str) -> bool {
        if !self.owns(account) {
            return false;
        }
        let id = Partition::of(account);
        self.inner.partitions.borrow().contains_key(&id)
            || self.inner.root.join(format!("p{:04}", id.index())).is_dir()
    }

    /// The open partition of `account`, opening (and recovering) it if needed.
    async fn partition(&self, account: &str) -> Result<Rc<PartitionStore>> {
        if !self.owns(account) {
            return Err(StoreError::NotOwner(account.to_string()));
        }
        self.open_partition(Partition::of(account)).await
    }

    /// Open partition `id` (owned by this shard), recovering it, unless it is open.
    async fn open_partition(&self, id: Partition) -> Result<Rc<PartitionStore>> {
        if let Some(p) = self.inner.partitions.borrow().get(&id) {
            return Ok(p.clone());
        }
        let _permit = self
            .inner
            .opening
            .acquire_permit(1)
            .await
            .map_err(|_| StoreError::Closed)?;
        if let Some(p) = self.inner.partitions.borrow().get(&id) {
            return Ok(p.clone());
        }
        let p = Rc::new(
            PartitionStore::open(&self.inner.root, id, self.inner.config.segment_size).await?,
        );
        self.inner.partitions.borrow_mut().insert(id, p.clone());
        Ok(p)
    }

    /// Queue `op` (its accounts already hold an `inflight` count) and wait until it is durable
    /// and applied.
    async fn submit(&self, p: Rc<PartitionStore>, op: Op, body: &[u8]) -> Result<Outcome> {
        let (payload, body_at) = match op::encode(&op, body) {
            Ok(x) => x,
            Err(e) => {
                p.release(&op);
                return Err(e);
            }
        };
        self.queue(p, op, payload, None, body_at).await
    }

    /// Like [`Store::submit`] for an append whose body is in `stream`: the record is framed
    /// around the body in the stream's buffer.
    async fn submit_stream(
        &self,
        p: Rc<PartitionStore>,
        op: Op,
        stream: AppendStream,
    ) -> Result<Outcome> {
        let front = match op::encode_front(&op) {
            Ok(x) => x,
            Err(e) => {
                p.release(&op);
                return Err(e);
            }
        };
        let body_at = front.len();
        self.queue(p, op, front, Some(stream), body_at).await
    }

    async fn queue(
        &self,
        p: Rc<PartitionStore>,
        op: Op,
        payload: Vec<u8>,
        stream: Option<AppendStream>,
        body_at: usize,
    ) -> Result<Outcome> {
        if let Err(e) = self.inner.writable(&p) {
            // A replica's log comes from its primary only; a fenced primary writes nothing.
            p.release(&op);
            return Err(e);
        }
        let len = payload.len() + stream.as_ref().map_or(0, AppendStream::len);
        if len > record::MAX_PAYLOAD {
            p.release(&op);
            return Err(StoreError::TooLarge(len));
        }
        let (tx, rx) = oneshot::channel();
        self.inner.queue.borrow_mut().push(commit::Queued {
            partition: p,
            op,
            payload,
            stream,
            body_at,
            done: tx,
        });
        if !self.inner.committing.replace(true) {
            io::spawn_detached(commit::run(self.inner.clone()));
        }
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Watch a mailbox: every change after this call is sent on the returned channel, in log
    /// order, once durable. Dropping the receiver unsubscribes. Claims no `\Recent` message
    /// (what IMAP SELECT needs is [`Store::select`]).
    pub async fn watch(
        &self,
        account: &str,
        mailbox: &str,
    ) -> Result<mpsc::UnboundedReceiver<Change>> {
        let id = self.mailbox_id(account, mailbox).await?;
        let account = canonical_account(account)?;
        let (rx, _) = self
            .inner
            .mailboxes
            .borrow_mut()
            .watch(&account, id, Recent::Peek);
        Ok(rx)
    }

    /// Watch every mailbox of an account (IMAP NOTIFY): every change after this call, in
    /// log order, once durable, with mailbox creations, subscription changes and
    /// annotation changes. At most `max_pending` changes wait unread; past that the feed
    /// ends, marked overflowed. Dropping the feed unsubscribes.
    pub fn watch_account(&self, account: &str, max_pending: usize) -> Result<watch::AccountFeed> {
        let account = canonical_account(account)?;
        Ok(self
            .inner
            .mailboxes
            .borrow_mut()
            .watch_account(&account, max_pending))
    }

    /// Write every dirty index and a checkpoint in each open partition (clean shutdown: the
    /// next start replays nothing). Waits for queued ops first.
    pub async fn close(&self) -> Result<()> {
        self.inner.closing.set(true);
        while self.inner.committing.get()
            || self
                .inner
                .partitions
                .borrow()
                .values()
                .any(|p| p.compacting.get())
        {
            io::sleep(std::time::Duration::from_millis(1)).await;
        }
        let partitions: Vec<_> = self.inner.partitions.borrow().values().cloned().collect();
        for p in partitions {
            p.checkpoint_after().await?;
        }
        Ok(())
    }

    /// The store's figures since start.
    pub fn stats(&self) -> StoreStats {
        let s = self.inner.stats.borrow();
        StoreStats {
            records: s.records,
            bytes: s.bytes,
            syncs: s.syncs,
            sync_latency: s.sync_latency.buckets(),
        }
    }

    /// Account indexes currently in memory on this shard.
    pub fn loaded_accounts(&self) -> usize {
        self.inner
            .partitions
            .borrow()
            .values()
            .map(|p| p.loaded())
            .sum()
    }
}

use op::Op;
