//! One partition on its owner shard: its log, its loaded account indexes, their files and the
//! checkpoint. Only the owner shard's [`super::Store`] holds one. Never talks to other shards.
//!
//! Files (`<root>/p0582/`): `seg-NNNNNNNN.log` segments, `accounts/<account>.idx` index files
//! (each says up to which log record it is current), and `checkpoint`: a log position before
//! which every record is in the index files, so recovery replays only from there. The
//! checkpoint also carries compaction's per-segment estimate of released bytes, so it
//! survives restarts.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::index::{AccountIndex, BodyRef, Outcome};
use super::io;
use super::op::{self, Op};
use super::record::Chain;
use super::segment::{self, LogPosition, LogWriter, RecordPos, Segments};
use super::types::{Result, StoreError};
use crate::mail::{Change, MailboxId};
use crate::placement::Partition;

/// An account's index while loaded, with what queued-but-not-yet-durable ops have reserved.
pub struct Account {
    pub index: AccountIndex,
    /// Next UID handed out per mailbox; at least the index's UIDNEXT.
    reserved_uid: HashMap<MailboxId, u32>,
    reserved_mailbox: u32,
    reserved_uid_validity: u32,
    /// Ops queued for this account and not applied yet: it must stay loaded until then.
    pub inflight: u32,
    dirty: bool,
    pub last_used: u64,
    /// The full-text index, once a text search has loaded or built it.
    pub text: Option<super::text::TextIndex>,
    /// SORT and THREAD keys of the messages an ordering has asked for.
    pub order: super::order::OrderCache,
}

impl Account {
    fn new(index: AccountIndex) -> Account {
        Account {
            index,
            reserved_uid: HashMap::new(),
            reserved_mailbox: 0,
            reserved_uid_validity: 0,
            inflight: 0,
            dirty: false,
            last_used: 0,
            text: None,
            order: super::order::OrderCache::default(),
        }
    }

    /// Reserve the next UID of `mailbox` (or exactly `wanted`, if it is not below it).
    pub fn reserve_uid(&mut self, mailbox: MailboxId, wanted: Option<u32>) -> Result<u32> {
        let visible = self
            .index
            .mailbox_by_id(mailbox)
            .map_or(1, |m| m.uid_next.0);
        let next = self.reserved_uid.entry(mailbox).or_insert(visible);
        *next = (*next).max(visible);
        let uid = match wanted {
            Some(w) if w < *next => return Err(StoreError::UidNotAscending(crate::mail::Uid(w))),
            Some(w) => w,
            None => *next,
        };
        *next = uid + 1;
        Ok(uid)
    }

    pub fn reserve_mailbox_id(&mut self) -> MailboxId {
        let id = self.reserved_mailbox.max(self.index.next_mailbox_id);
        self.reserved_mailbox = id + 1;
        MailboxId(id)
    }

    /// A UIDVALIDITY greater than any this account used (RFC 9051 §2.3.1.1: a re-created
    /// mailbox must not reuse one).
    pub fn reserve_uid_validity(&mut self, now: u32) -> u32 {
        let v = now
            .max(self.index.last_uid_validity + 1)
            .max(self.reserved_uid_validity + 1);
        self.reserved_uid_validity = v;
        v
    }
}

/// A partition opened by its owner.
pub struct PartitionStore {
    pub id: Partition,
    dir: PathBuf,
    pub accounts: RefCell<HashMap<String, Account>>,
    pub segments: RefCell<Segments>,
    /// `None` while the committer has it out for a batch.
    pub writer: RefCell<Option<LogWriter>>,
    /// Set after a failed write: the log's state on disk is unknown until reopened.
    pub poisoned: Cell<bool>,
    pub bytes_since_checkpoint: Cell<u64>,
    /// The log position after the last applied (durable) record: where a checkpoint may
    /// stand. The writer may be ahead of it while a batch is in flight.
    pub durable: Cell<LogPosition>,
    /// Per segment, bytes of removed messages that lived there (an over-estimate of dead
    /// bytes when a body was shared; compaction measures before it moves anything).
    pub released: RefCell<BTreeMap<u32, u64>>,
    /// A compaction of this partition is running.
    pub compacting: Cell<bool>,
    /// Mailboxes with new mail for their account's text index, and whether the background
    /// indexer of this partition is running ([`super::text`]).
    pub text_pending: RefCell<std::collections::BTreeSet<(String, MailboxId)>>,
    pub text_indexing: Cell<bool>,
    /// Index bytes the last checkpoint wrote: the next waits for a multiple of that much
    /// log, so a huge index is not rewritten every few megabytes of appends.
    pub checkpoint_cost: Cell<u64>,
    clock: Cell<u64>,
    /// Whether this host writes the partition or follows a primary's log, and the newest
    /// epoch it knows ([`super::replica`]). A single host is a primary at epoch 0.
    pub role: Cell<super::replica::Role>,
    /// Told once the durable position moves (replication waits for new records).
    pub durable_waiters: RefCell<Vec<futures_channel::oneshot::Sender<()>>>,
    /// On a replica: the primary's lowest kept segment when segments below it were last
    /// looked at for deletion.
    pub mirrored_first_kept: Cell<u32>,
    /// A checkpoint's files are being written on the blocking pool
    /// ([`PartitionStore::start_checkpoint`]): no other index file or checkpoint is written
    /// until it ends, and nothing is evicted.
    pub checkpointing: Cell<bool>,
}

pub(crate) fn escape(account: &str) -> String {
    let mut s = String::with_capacity(account.len());
    for b in account.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || b"@._-+".contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02x}"));
        }
    }
    s
}

const CHECKPOINT_V1: &[u8; 8] = b"RPCKPT01";
const CHECKPOINT_MAGIC: &[u8; 8] = b"RPCKPT02";

/// A decoded checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub position: LogPosition,
    pub released: BTreeMap<u32, u64>,
}

/// `RPCKPT02`, segment u32, offset u64, next seq u64, previous CRC u32, n u32, then n
/// (segment u32, released bytes u64), then CRC-32C of everything before. (`RPCKPT01` is the
/// same without the count and the list.)
pub(crate) fn encode_checkpoint(c: &Checkpoint) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(40 + 12 * c.released.len());
    bytes.extend_from_slice(CHECKPOINT_MAGIC);
    bytes.extend_from_slice(&c.position.segment.to_le_bytes());
    bytes.extend_from_slice(&c.position.offset.to_le_bytes());
    bytes.extend_from_slice(&c.position.chain.next_seq.to_le_bytes());
    bytes.extend_from_slice(&c.position.chain.prev_crc.to_le_bytes());
    // Segments are numbered by u32, so there are fewer than 2^32 of them.
    bytes.extend_from_slice(&(c.released.len() as u32).to_le_bytes());
    for (segment, n) in &c.released {
        bytes.extend_from_slice(&segment.to_le_bytes());
        bytes.extend_from_slice(&n.to_le_bytes());
    }
    bytes.extend_from_slice(&crc32c::crc32c(&bytes).to_le_bytes());
    bytes
}

pub(crate) fn decode_checkpoint(bytes: &[u8]) -> Result<Checkpoint> {
    let bad = |what| StoreError::corrupt("checkpoint", what);
    if bytes.len() < 36 || (&bytes[..8] != CHECKPOINT_MAGIC && &bytes[..8] != CHECKPOINT_V1) {
        return Err(bad("bad framing"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err(bad("checksum mismatch"));
    }
    let u32_at = |i: usize| {
        body.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or(bad("truncated"))
    };
    let u64_at =
        |i: usize| Ok::<_, StoreError>(u64::from(u32_at(i)?) | (u64::from(u32_at(i + 4)?) << 32));
    let position = LogPosition {
        segment: u32_at(8)?,
        offset: u64_at(12)?,
        chain: Chain {
            next_seq: u64_at(20)?,
            prev_crc: u32_at(28)?,
        },
    };
    let mut released = BTreeMap::new();
    if &bytes[..8] == CHECKPOINT_MAGIC {
        let n = u32_at(32)? as usize;
        if body.len() != 36 + 12 * n {
            return Err(bad("bad framing"));
        }
        for i in 0..n {
            let at = 36 + 12 * i;
            released.insert(u32_at(at)?, u64_at(at + 4)?);
        }
    } else if body.len() != 32 {
        return Err(bad("bad framing"));
    }
    Ok(Checkpoint { position, released })
}

fn read_checkpoint(dir: &Path) -> Result<Option<Checkpoint>> {
    match std::fs::read(dir.join("checkpoint")) {
        Ok(b) => decode_checkpoint(&b).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Add the sizes of `bodies` to the per-segment released estimate.
fn add_released(released: &mut BTreeMap<u32, u64>, bodies: &[BodyRef]) {
    for b in bodies {
        *released.entry(b.segment).or_insert(0) += u64::from(b.len);
    }
}

/// Write `bytes` to `path` atomically and durably (temp file, fsync, rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Applies log records to the indexes of the accounts they name, each record once per
/// account (not if the index already holds it): recovery replays the log after the
/// checkpoint through it on top of the index files, and `fsck` replays the log through it
/// from empty indexes, so both rebuild with the very same code.
pub(crate) struct Replay<L> {
    load: L,
    /// Every account a record named: its index, and whether a record changed it.
    pub accounts: HashMap<String, (AccountIndex, bool)>,
    /// Per segment, bytes of the bodies the replayed records removed (added to what the
    /// replay started with).
    pub released: BTreeMap<u32, u64>,
    ignore: Vec<(MailboxId, Change)>,
    gone: Vec<BodyRef>,
}

impl<L: FnMut(&str) -> Result<AccountIndex>> Replay<L> {
    /// A replay that gets an account's index from `load` the first time a record names it.
    pub fn new(load: L, released: BTreeMap<u32, u64>) -> Replay<L> {
        Replay {
            load,
            accounts: HashMap::new(),
            released,
            ignore: Vec::new(),
            gone: Vec::new(),
        }
    }

    /// Decode the record at `pos` and apply it.
    pub fn record(&mut self, pos: RecordPos, payload: &[u8]) -> Result<()> {
        let (op, body_at) = op::decode(payload)?;
        self.apply(pos, &op, body_at, payload.len())
    }

    /// Apply `op`, the record at `pos` whose payload is `len` bytes with the body (if any)
    /// from `body_at`, to each account it names whose index has not applied it yet.
    pub fn apply(&mut self, pos: RecordPos, op: &Op, body_at: usize, len: usize) -> Result<()> {
        let body = op.has_body().then(|| pos.body(body_at, len - body_at));
        for name in op.accounts() {
            if !self.accounts.contains_key(name) {
                let index = (self.load)(name)?;
                self.accounts.insert(name.to_string(), (index, false));
            }
            let Some((index, changed)) = self.accounts.get_mut(name) else {
                continue;
            };
            if pos.seq > index.applied_seq {
                index.apply_tracked(pos.seq, op, body, &mut self.ignore, &mut self.gone);
                *changed = true;
            }
            self.ignore.clear();
        }
        add_released(&mut self.released, &self.gone);
        self.gone.clear();
        Ok(())
    }
}

impl PartitionStore {
    /// Open (and recover) partition `id` under `root`.
    pub async fn open(root: &Path, id: Partition, segment_size: u64) -> Result<PartitionStore> {
        let dir = root.join(format!("p{:04}", id.index()));
        std::fs::create_dir_all(dir.join("accounts"))?;
        let role = super::replica::read_role(&dir)?;
        let checkpoint = read_checkpoint(&dir)?;
        let from = checkpoint.as_ref().map(|c| c.position);
        let released = checkpoint.map(|c| c.released).unwrap_or_default();
        let mut replay = Replay::new(|name: &str| load_index(&dir, name), released);
        // A replica's records go where its primary put them: a torn tail is zeroed, not
        // rolled past.
        let torn = if role.is_replica() {
            segment::TornTail::Zero
        } else {
            segment::TornTail::Roll
        };
        let (segments, writer) = segment::open(&dir, segment_size, from, torn, |pos, payload| {
            replay.record(pos, payload)
        })
        .await?;
        let Replay {
            accounts: replayed,
            mut released,
            ..
        } = replay;
        let accounts: HashMap<String, Account> = replayed
            .into_iter()
            .map(|(name, (index, changed))| {
                let mut a = Account::new(index);
                a.dirty = changed;
                (name, a)
            })
            .collect();
        // Estimates for segments that no longer exist (compacted) are dropped.
        released.retain(|n, _| segments.size(*n).is_some());
        let durable = writer.position();
        let p = PartitionStore {
            id,
            dir,
            accounts: RefCell::new(accounts),
            segments: RefCell::new(segments),
            writer: RefCell::new(Some(writer)),
            poisoned: Cell::new(false),
            bytes_since_checkpoint: Cell::new(0),
            durable: Cell::new(durable),
            released: RefCell::new(released),
            compacting: Cell::new(false),
            text_pending: RefCell::new(std::collections::BTreeSet::new()),
            text_indexing: Cell::new(false),
            checkpoint_cost: Cell::new(0),
            clock: Cell::new(0),
            role: Cell::new(role),
            durable_waiters: RefCell::new(Vec::new()),
            mirrored_first_kept: Cell::new(0),
            checkpointing: Cell::new(false),
        };
        // Persist what was replayed so the next start does not replay it again.
        p.checkpoint()?;
        Ok(p)
    }

    fn index_path(&self, account: &str) -> PathBuf {
        index_path(&self.dir, account)
    }

    /// Run `f` on `account`, loading its index if needed (an account that was never created
    /// is an empty, `created == false` index).
    pub fn with_account<R>(&self, account: &str, f: impl FnOnce(&mut Account) -> R) -> Result<R> {
        let now = self.clock.get() + 1;
        self.clock.set(now);
        let mut accounts = self.accounts.borrow_mut();
        if !accounts.contains_key(account) {
            let index = load_index(&self.dir, account)?;
            accounts.insert(account.to_string(), Account::new(index));
        }
        let a = accounts
            .get_mut(account)
            .ok_or_else(|| StoreError::corrupt("partition", "account vanished while loaded"))?;
        a.last_used = now;
        Ok(f(a))
    }

    /// Apply a durable record; returns the outcome for the op's first account and the events.
    pub fn apply(
        &self,
        pos: RecordPos,
        op: &Op,
        body: Option<BodyRef>,
    ) -> (Outcome, Vec<(String, MailboxId, Change)>) {
        let mut accounts = self.accounts.borrow_mut();
        let mut events = Vec::new();
        let mut first = None;
        let mut scratch = Vec::new();
        let mut gone = Vec::new();
        for name in op.accounts() {
            // Accounts with queued ops are never evicted, so it is loaded.
            let Some(a) = accounts.get_mut(name) else {
                continue;
            };
            let outcome = a
                .index
                .apply_tracked(pos.seq, op, body, &mut scratch, &mut gone);
            a.dirty = true;
            a.inflight = a.inflight.saturating_sub(1);
            if matches!(op, Op::PurgeAccount { .. }) {
                // A purged account's text goes with its mail. Were the removal lost to a
                // crash, the file would only name messages that no longer exist.
                a.text = None;
                if let Err(e) = std::fs::remove_file(super::text::path(&self.dir, name)) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(account = name, error = %e, "removing the text index");
                    }
                }
            }
            events.extend(scratch.drain(..).map(|(m, c)| (name.to_string(), m, c)));
            let merged = match (first.take(), outcome) {
                (None, o) => o,
                (Some(Outcome::MailboxGone), o) => o,
                (Some(o), _) => o,
            };
            first = Some(merged);
        }
        add_released(&mut self.released.borrow_mut(), &gone);
        (first.unwrap_or(Outcome::MailboxGone), events)
    }

    /// Set the durable position after applied records and wake whoever waits for it.
    pub fn set_durable(&self, end: LogPosition) {
        self.durable.set(end);
        for tx in self.durable_waiters.borrow_mut().drain(..) {
            let _ = tx.send(());
        }
    }

    /// A queued op failed before it reached the log: release its accounts.
    pub fn release(&self, op: &Op) {
        let mut accounts = self.accounts.borrow_mut();
        for name in op.accounts() {
            if let Some(a) = accounts.get_mut(name) {
                a.inflight = a.inflight.saturating_sub(1);
            }
        }
    }

    /// Save `a`'s text index if it changed; returns the bytes written.
    fn save_text(&self, a: &mut Account) -> Result<u64> {
        let Some(text) = a.text.as_mut().filter(|t| t.dirty) else {
            return Ok(0);
        };
        let index = &a.index;
        text.prune(|m, uid| {
            index
                .mailbox_by_id(m)
                .is_some_and(|m| m.get(crate::mail::Uid(uid)).is_some())
        });
        text.save(&self.dir, &a.index.account)
    }

    /// Write `a`'s index file if it changed; returns the bytes written.
    fn flush_account(&self, a: &mut Account) -> Result<u64> {
        let written = self.save_text(a)?;
        if !a.dirty {
            return Ok(written);
        }
        let bytes = a.index.to_file_bytes()?;
        write_atomic(&self.index_path(&a.index.account), &bytes)?;
        a.dirty = false;
        Ok(written + bytes.len() as u64)
    }

    /// Write every dirty index, then a checkpoint at the durable position: every record
    /// before it is applied, so in the index files. Safe at any moment between awaits, also
    /// while a batch is in flight (its records are after that position, and not applied).
    /// Blocks the shard on its fsyncs: for opening and closing, compaction's switch and
    /// replicas' deletions; the committer's periodic ones go through
    /// [`Self::start_checkpoint`]. Must not run while [`Self::checkpointing`] (see
    /// [`Self::checkpoint_after`]).
    pub fn checkpoint(&self) -> Result<()> {
        debug_assert!(!self.checkpointing.get());
        let taken = self.take_checkpoint()?;
        let accounts = taken.accounts();
        if let Err(e) = taken.write() {
            self.mark_dirty(accounts);
            return Err(e);
        }
        self.bytes_since_checkpoint.set(0);
        Ok(())
    }

    /// [`Self::checkpoint`], once a checkpoint being written in the background has ended.
    pub async fn checkpoint_after(&self) -> Result<()> {
        self.checkpoint_written().await;
        self.checkpoint()
    }

    /// Once no checkpoint is being written in the background.
    pub async fn checkpoint_written(&self) {
        while self.checkpointing.get() {
            io::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Start a checkpoint whose files are written on the blocking pool, off the shard: the
    /// index bytes and the position are taken now (no await between them, so they agree);
    /// the writes, their fsyncs and the renames happen while the shard goes on committing.
    /// Records committed meanwhile are after the position and mark their indexes dirty
    /// again. Until it ends nothing is evicted and no other checkpoint starts, so no older
    /// index file can replace a newer one. If writing fails, the taken indexes are marked
    /// dirty again (they are all still loaded) and the old checkpoint stands.
    pub fn start_checkpoint(self: &Rc<Self>) {
        if self.checkpointing.get() {
            return;
        }
        let taken = match self.take_checkpoint() {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!(partition = self.id.index(), error = %e, "checkpoint failed");
                return;
            }
        };
        self.checkpointing.set(true);
        let p = Rc::clone(self);
        io::spawn_detached(async move {
            let accounts = taken.accounts();
            let written = io::blocking(move || taken.write()).await;
            match written {
                Ok(()) => p.bytes_since_checkpoint.set(0),
                Err(e) => {
                    tracing::warn!(partition = p.id.index(), error = %e, "checkpoint failed");
                    p.mark_dirty(accounts);
                }
            }
            p.checkpointing.set(false);
        });
    }

    /// After a checkpoint failed to write: its indexes must be written by the next one (a
    /// later checkpoint's position would otherwise rely on files that were not written).
    /// They are all still loaded: nothing is evicted between taking and writing.
    fn mark_dirty(&self, accounts: Vec<String>) {
        let mut loaded = self.accounts.borrow_mut();
        for name in accounts {
            if let Some(a) = loaded.get_mut(&name) {
                a.dirty = true;
            }
        }
    }

    /// What a checkpoint writes, taken from memory: the text indexes that changed are saved
    /// here (rare: only accounts searched lately), the dirty indexes serialized and marked
    /// clean, the position and released bytes copied.
    fn take_checkpoint(&self) -> Result<TakenCheckpoint> {
        let position = self.durable.get();
        let mut indexes = Vec::new();
        let mut written = 0;
        for a in self.accounts.borrow_mut().values_mut() {
            written += self.save_text(a)?;
            if a.dirty {
                let bytes = a.index.to_file_bytes()?;
                written += bytes.len() as u64;
                indexes.push((a.index.account.clone(), bytes));
                a.dirty = false;
            }
        }
        self.checkpoint_cost.set(written);
        Ok(TakenCheckpoint {
            dir: self.dir.clone(),
            indexes,
            checkpoint: encode_checkpoint(&Checkpoint {
                position,
                released: self.released.borrow().clone(),
            }),
        })
    }

    /// Drop idle loaded indexes beyond `keep` (least recently used first), writing dirty ones
    /// to their files. Accounts with queued ops stay.
    pub fn evict(&self, keep: usize) -> Result<usize> {
        if self.checkpointing.get() {
            // The checkpoint being written took these indexes as they were: evicting one
            // changed since would write its file under the checkpoint's feet. Next time.
            return Ok(0);
        }
        let mut accounts = self.accounts.borrow_mut();
        if accounts.len() <= keep {
            return Ok(0);
        }
        let mut idle: Vec<(u64, String)> = accounts
            .iter()
            .filter(|(_, a)| a.inflight == 0)
            .map(|(n, a)| (a.last_used, n.clone()))
            .collect();
        idle.sort_unstable();
        let excess = accounts.len() - keep;
        let mut evicted = 0;
        for (_, name) in idle.into_iter().take(excess) {
            if let Some(mut a) = accounts.remove(&name) {
                self.flush_account(&mut a)?;
                evicted += 1;
            }
        }
        Ok(evicted)
    }

    /// Number of account indexes in memory.
    pub fn loaded(&self) -> usize {
        self.accounts.borrow().len()
    }

    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A checkpoint taken from memory, to be written (on any thread).
struct TakenCheckpoint {
    dir: PathBuf,
    /// Each dirty index: its account and its file's bytes.
    indexes: Vec<(String, Vec<u8>)>,
    checkpoint: Vec<u8>,
}

impl TakenCheckpoint {
    fn accounts(&self) -> Vec<String> {
        self.indexes.iter().map(|(a, _)| a.clone()).collect()
    }

    /// The index files, durable, then the checkpoint that relies on them.
    fn write(self) -> Result<()> {
        for (account, bytes) in &self.indexes {
            write_atomic(&index_path(&self.dir, account), bytes)?;
        }
        segment::sync_dir(&self.dir.join("accounts"))?;
        write_atomic(&self.dir.join("checkpoint"), &self.checkpoint)?;
        segment::sync_dir(&self.dir)?;
        Ok(())
    }
}

pub(crate) fn index_path(dir: &Path, account: &str) -> PathBuf {
    dir.join("accounts")
        .join(format!("{}.idx", escape(account)))
}

pub(crate) fn load_index(dir: &Path, account: &str) -> Result<AccountIndex> {
    match std::fs::read(index_path(dir, account)) {
        Ok(bytes) => {
            let index = AccountIndex::from_file_bytes(&bytes)?;
            if index.account != account {
                return Err(StoreError::corrupt("index file", "names another account"));
            }
            Ok(index)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AccountIndex::empty(account)),
        Err(e) => Err(e.into()),
    }
}

pub use segment::Body;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn checkpoint_round_trips_and_reads_version_1() {
        let position = LogPosition {
            segment: 7,
            offset: 4096 * 3 + 24,
            chain: Chain {
                next_seq: 99,
                prev_crc: 0xdead_beef,
            },
        };
        let c = Checkpoint {
            position,
            released: BTreeMap::from([(2, 5000), (5, 1)]),
        };
        let bytes = encode_checkpoint(&c);
        assert_eq!(bytes.len(), 40 + 24);
        assert_eq!(decode_checkpoint(&bytes).unwrap(), c);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert!(decode_checkpoint(&bad).is_err(), "byte {i}");
        }
        assert!(decode_checkpoint(&bytes[..bytes.len() - 1]).is_err());
        // Version 1: the position only.
        let mut v1 = bytes[..32].to_vec();
        v1[..8].copy_from_slice(CHECKPOINT_V1);
        let crc = crc32c::crc32c(&v1);
        v1.extend_from_slice(&crc.to_le_bytes());
        let back = decode_checkpoint(&v1).unwrap();
        assert_eq!(back.position, position);
        assert!(back.released.is_empty());
    }

    #[test]
    fn account_file_names_are_escaped() {
        assert_eq!(escape("alice@example.com"), "alice@example.com");
        assert_eq!(escape("a/b@x"), "a%2fb@x");
        assert_eq!(escape("../x"), "..%2fx");
    }
}
