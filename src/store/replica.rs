//! Replication of a partition's log from its primary to its replicas, store side: reading the
//! log from a position, applying shipped records on a replica, promotion and fencing by epoch,
//! and the snapshot a replica starts over from. Never talks to a socket: the runtime carries
//! the frames ([`crate::wire::replication`]) between hosts.
//!
//! # What is shipped: the log itself, byte for byte, at the same place
//!
//! The log is the truth and already self-checking, so the primary ships its records exactly
//! as they are in its segment files (header, sequence number, previous CRC, CRC-32C,
//! payload), and the replica writes each one **at the same segment and offset** as the
//! primary did, then applies it to its indexes with the code the committer and recovery use.
//!
//! Why physical and not logical (re-executing ops): every op already carries what its effect
//! depends on (UIDs, UIDVALIDITY, mailbox ids, the MIME summary: [`super::op`]), and modseqs
//! and UIDNEXT follow from applying the same records in the same order, so the replica's
//! indexes come out equal to the primary's with no second implementation of any op. Only
//! two things in the index are physical: where a message's bytes are ([`BodyRef`]: segment,
//! offset) and compaction's relocation records, which name the old places of the bodies
//! they move. Writing every record where the primary wrote it makes both mean the same on
//! the replica, so relocations apply unchanged and an index file of the replica is the
//! primary's. The same sequence numbers and chain make every record byte-identical (the frame
//! is a function of chain and payload), so the replica checks each shipped record against
//! its own chain before writing anything: a gap, a duplicate, a reordering or a flipped bit
//! is refused, never written.
//!
//! A chunk is whole records of one segment, contiguous (records are laid back to back; a
//! segment ends where the next record did not fit, or after a torn tail, and the next record
//! starts the next segment at offset 0). The chunk says which segment, at which offset, and
//! how large the primary's file of that segment is, so the replica's segment files have the
//! same sizes and it rolls to a new segment exactly where the primary did.
//!
//! A position is [`LogPosition`]: segment, offset and the chain (next sequence number and
//! previous CRC). The chain makes a request self-checking too: a replica whose log diverged
//! (an old primary that wrote records no one else has) asks from a position whose chain is
//! not the primary's, and is told to start over.
//!
//! # Starting over
//!
//! Compaction deletes sealed segments on the primary; a replica that is behind them (or new,
//! or diverged) cannot be caught up from the log, because records before the primary's
//! checkpoint live on only in index files. [`Store::read_log`] then answers
//! [`LogRead::Resync`], and the replica starts from a snapshot: [`Store::replica_snapshot`]
//! hard-links the partition's files on the primary at one instant ([`super::snapshot`]),
//! the runtime copies them over, and [`Store::install_snapshot`] puts them in place on the
//! replica (the segment holding the snapshot's end only up to that end), which then asks
//! for the log from that end on.
//!
//! A replica mirrors compaction without compacting: each chunk says the lowest segment the
//! primary keeps; a sealed segment below it that no index of the replica uses any more (the
//! relocation records have been applied) is deleted after a checkpoint, as compaction does.
//!
//! # Roles and epochs
//!
//! A partition is a primary or a replica, with the newest epoch (the cluster map's fencing
//! token) it knows, kept in the file `replication` next to the checkpoint: `RPREPL01`, role
//! u8 (1 primary, 2 replica), epoch u64, CRC-32C. No file: a primary at epoch 0, the single
//! host as it always was. A replica refuses every local write ([`StoreError::NotPrimary`]):
//! its records come from the log only. [`Store::observe_epoch`] fences a primary that hears
//! of a newer epoch: it becomes a replica and refuses writes from then on, durably.
//! [`Store::promote`] makes a replica the primary at a newer epoch: its log goes on from its
//! durable end (next sequence number, UIDNEXT and modseqs as applied). A chunk from an older
//! epoch than the replica knows is refused ([`StoreError::StaleEpoch`]).

use std::path::{Path, PathBuf};
use std::rc::Rc;

use futures_channel::oneshot;

use super::compact;
use super::index::BodyRef;
use super::op;
use super::partition::{write_atomic, PartitionStore};
use super::record::{self, Chain, Scanner};
use super::segment::{self, LogPosition, Payload, RecordPos};
use super::snapshot::PartitionSnapshot;
use super::types::{Result, StoreError};
use super::{io, Store};
use crate::placement::Partition;
use crate::wire::replication::{Chunk, Position};

/// Whether this host writes a partition or follows its primary's log, with the newest epoch
/// it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary { epoch: u64 },
    Replica { epoch: u64 },
}

impl Role {
    pub fn epoch(self) -> u64 {
        match self {
            Role::Primary { epoch } | Role::Replica { epoch } => epoch,
        }
    }

    pub fn is_replica(self) -> bool {
        matches!(self, Role::Replica { .. })
    }

    /// Whether local ops may write the log.
    pub fn writable(self) -> Result<()> {
        match self {
            Role::Primary { .. } => Ok(()),
            Role::Replica { epoch } => Err(StoreError::NotPrimary { epoch }),
        }
    }
}

const ROLE_MAGIC: &[u8; 8] = b"RPREPL01";
const ROLE_FILE: &str = "replication";

pub(crate) fn encode_role(role: Role) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(21);
    bytes.extend_from_slice(ROLE_MAGIC);
    bytes.push(match role {
        Role::Primary { .. } => 1,
        Role::Replica { .. } => 2,
    });
    bytes.extend_from_slice(&role.epoch().to_le_bytes());
    bytes.extend_from_slice(&crc32c::crc32c(&bytes).to_le_bytes());
    bytes
}

pub(crate) fn decode_role(bytes: &[u8]) -> Result<Role> {
    let bad = |what| StoreError::corrupt("replication role file", what);
    if bytes.len() != 21 || &bytes[..8] != ROLE_MAGIC {
        return Err(bad("bad framing"));
    }
    let (body, crc) = bytes.split_at(17);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err(bad("checksum mismatch"));
    }
    let mut epoch = [0u8; 8];
    epoch.copy_from_slice(&body[9..17]);
    let epoch = u64::from_le_bytes(epoch);
    match body[8] {
        1 => Ok(Role::Primary { epoch }),
        2 => Ok(Role::Replica { epoch }),
        _ => Err(bad("unknown role")),
    }
}

/// The role kept in partition folder `dir`; a primary at epoch 0 if none is.
pub(crate) fn read_role(dir: &Path) -> Result<Role> {
    match std::fs::read(dir.join(ROLE_FILE)) {
        Ok(bytes) => decode_role(&bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Role::Primary { epoch: 0 }),
        Err(e) => Err(e.into()),
    }
}

fn write_role(dir: &Path, role: Role) -> Result<()> {
    write_atomic(&dir.join(ROLE_FILE), &encode_role(role))?;
    segment::sync_dir(dir)
}

/// Set `p`'s role, durably first.
fn set_role(p: &PartitionStore, role: Role) -> Result<()> {
    if p.role.get() != role {
        write_role(p.dir(), role)?;
        p.role.set(role);
    }
    Ok(())
}

impl From<LogPosition> for Position {
    fn from(p: LogPosition) -> Position {
        Position {
            segment: p.segment,
            offset: p.offset,
            next_seq: p.chain.next_seq,
            prev_crc: p.chain.prev_crc,
        }
    }
}

impl From<Position> for LogPosition {
    fn from(p: Position) -> LogPosition {
        LogPosition {
            segment: p.segment,
            offset: p.offset,
            chain: Chain {
                next_seq: p.next_seq,
                prev_crc: p.prev_crc,
            },
        }
    }
}

/// What the primary's log has after a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogRead {
    /// The next records, in order.
    Chunk(Chunk),
    /// Nothing after it yet: the position is the durable end.
    UpToDate(LogPosition),
    /// The position is no longer in the log (compacted away) or not on it (another chain,
    /// beyond the end): the replica must start over from a snapshot.
    Resync,
}

impl Store {
    /// Partition `id`, which this shard owns, opened.
    async fn owned_partition(&self, id: Partition) -> Result<Rc<PartitionStore>> {
        if self.inner.map.owner(id) != self.inner.shard {
            return Err(StoreError::NotOwner(format!("partition {}", id.index())));
        }
        self.open_partition(id).await
    }

    /// Which partitions local ops may write (indexed by partition; a partition past the end
    /// may not be written), whatever their roles say; `None` lifts the gate (a single host).
    /// A cluster host shuts every partition the map does not make it the primary of, and all
    /// of them while it may have lost its lease (another host may be promoted any moment,
    /// at an epoch not known here yet). Ops queued meanwhile are refused with
    /// [`StoreError::NotPrimary`]. Memory only, and cheap: it works for partitions not open
    /// yet, so a session still open on a host that lost an account's partition cannot write
    /// to it by opening it.
    pub fn set_write_gate(&self, gate: Option<Rc<[bool]>>) {
        *self.inner.gate.borrow_mut() = gate;
    }

    /// On a cluster host: `fenced` says whether it may have lost its lease, asked by every
    /// write with the gate ([`Store::set_write_gate`]), which follows it only every
    /// reconcile. `None`: no such check (a single host).
    pub fn set_fence(&self, fenced: Option<Rc<dyn Fn() -> bool>>) {
        *self.inner.fence.borrow_mut() = fenced;
    }

    /// The write gate set last.
    pub fn write_gate(&self) -> Option<Rc<[bool]>> {
        self.inner.gate.borrow().clone()
    }

    /// Whether the partition, which this shard owns, is open (in memory) now.
    pub fn is_open(&self, partition: Partition) -> bool {
        self.inner.partitions.borrow().contains_key(&partition)
    }

    /// Whether the partition has files here (it was written or replicated to before).
    pub fn exists(&self, partition: Partition) -> bool {
        self.inner
            .root
            .join(format!("p{:04}", partition.index()))
            .is_dir()
    }

    /// The partitions of this shard open now.
    pub fn open_partitions(&self) -> Vec<Partition> {
        self.inner.partitions.borrow().keys().copied().collect()
    }

    /// The partition's role and newest known epoch.
    pub async fn role(&self, partition: Partition) -> Result<Role> {
        Ok(self.owned_partition(partition).await?.role.get())
    }

    /// Where the partition's log is durable (and applied): what a replica acknowledges.
    pub async fn durable_position(&self, partition: Partition) -> Result<LogPosition> {
        Ok(self.owned_partition(partition).await?.durable.get())
    }

    /// The partition's log end if nothing is being written to it now (every record it took
    /// is durable and applied), else `None`. With writes refused by the gate, once this is
    /// `Some` the log ends there: what a handoff waits for the new nodes to reach.
    pub async fn settled_end(&self, partition: Partition) -> Result<Option<LogPosition>> {
        let p = self.owned_partition(partition).await?;
        let writer = p.writer.borrow();
        let durable = p.durable.get();
        Ok(writer
            .as_ref()
            .filter(|w| w.position() == durable)
            .map(|_| durable))
    }

    /// Wait until the partition's durable log goes past `after` (at once if it already is);
    /// returns the durable position then.
    pub async fn wait_durable(
        &self,
        partition: Partition,
        after: LogPosition,
    ) -> Result<LogPosition> {
        let p = self.owned_partition(partition).await?;
        loop {
            let now = p.durable.get();
            if now.chain.next_seq > after.chain.next_seq {
                return Ok(now);
            }
            let (tx, rx) = oneshot::channel();
            p.durable_waiters.borrow_mut().push(tx);
            rx.await.map_err(|_| StoreError::Closed)?;
        }
    }

    /// The cluster map says `epoch` is current for the partition: a primary at an older
    /// epoch is fenced (becomes a replica, durably, and refuses writes from now on). Returns
    /// the role after.
    pub async fn observe_epoch(&self, partition: Partition, epoch: u64) -> Result<Role> {
        let p = self.owned_partition(partition).await?;
        let role = p.role.get();
        if epoch > role.epoch() {
            set_role(&p, Role::Replica { epoch })?;
            while p.writer.borrow().is_none() {
                io::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        Ok(p.role.get())
    }

    /// Make the partition a replica at `epoch` (at least the newest it knows): it follows a
    /// primary's log from its durable position, which it returns.
    pub async fn make_replica(&self, partition: Partition, epoch: u64) -> Result<LogPosition> {
        let p = self.owned_partition(partition).await?;
        let ours = p.role.get().epoch();
        if epoch < ours {
            return Err(StoreError::StaleEpoch {
                ours,
                theirs: epoch,
            });
        }
        // No op is queued from now on, and the committer fails those queued already; a
        // batch being written when the role changed finishes first.
        set_role(&p, Role::Replica { epoch })?;
        while p.writer.borrow().is_none() {
            io::sleep(std::time::Duration::from_millis(1)).await;
        }
        Ok(p.durable.get())
    }

    /// Make the replica the partition's primary at `epoch`, newer than any it knew (or the
    /// primary it already is at that epoch). Its log goes on from its durable end, which it
    /// returns.
    pub async fn promote(&self, partition: Partition, epoch: u64) -> Result<LogPosition> {
        let p = self.owned_partition(partition).await?;
        match p.role.get() {
            Role::Primary { epoch: ours } if ours == epoch => {}
            role if epoch <= role.epoch() => {
                return Err(StoreError::StaleEpoch {
                    ours: role.epoch(),
                    theirs: epoch,
                })
            }
            _ => {
                if p.writer.borrow().is_none() {
                    return Err(StoreError::ChunkRefused(
                        "a chunk is being applied; promote after it".into(),
                    ));
                }
                set_role(&p, Role::Primary { epoch })?;
            }
        }
        Ok(p.durable.get())
    }

    /// Read the partition's durable log after `from`: at most about `max_bytes` of whole
    /// records (one record even if it is larger), all of one segment. Only a primary serves
    /// its log.
    pub async fn read_log(
        &self,
        partition: Partition,
        from: LogPosition,
        max_bytes: usize,
    ) -> Result<LogRead> {
        let p = self.owned_partition(partition).await?;
        p.role.get().writable()?;
        let durable = p.durable.get();
        if from.chain == durable.chain {
            return Ok(
                if (from.segment, from.offset) == (durable.segment, durable.offset) {
                    LogRead::UpToDate(durable)
                } else {
                    LogRead::Resync
                },
            );
        }
        if from.chain.next_seq > durable.chain.next_seq {
            return Ok(LogRead::Resync);
        }
        let mut at = (from.segment, from.offset);
        // A position at the end of a sealed segment continues at the start of the next.
        for _ in 0..2 {
            let (file, size, first_kept) = {
                let segments = p.segments.borrow();
                let first_kept = segments
                    .numbers_below(u32::MAX)
                    .first()
                    .copied()
                    .unwrap_or(durable.segment);
                match (segments.file(at.0), segments.size(at.0)) {
                    (Some(f), Some(s)) => (f, s, first_kept),
                    _ => return Ok(LogRead::Resync),
                }
            };
            let limit = if at.0 == durable.segment {
                durable.offset
            } else {
                size
            };
            let sealed = at.0 < durable.segment;
            let next = (at.0 + 1, 0);
            if at.1 + record::HEADER as u64 > limit {
                if sealed {
                    at = next;
                    continue;
                }
                return Ok(LogRead::Resync);
            }
            let head = file.read_at(at.1, record::HEADER).await?;
            if head.len() < record::HEADER {
                return Ok(LogRead::Resync);
            }
            let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
            let first = record::framed_len(len.min(record::MAX_PAYLOAD)) as u64;
            let want = first.max(max_bytes as u64).min(limit - at.1);
            let data = file.read_at(at.1, want as usize).await?;
            let mut scanner = Scanner::new(&data, 0, from.chain);
            let mut seqs = None;
            let mut budget = max_bytes;
            for rec in scanner.by_ref() {
                let framed = record::framed_len(rec.payload.len());
                seqs = Some((seqs.map_or(rec.seq, |(f, _)| f), rec.seq));
                if framed >= budget {
                    break;
                }
                budget -= framed;
            }
            let Some((first_seq, last_seq)) = seqs else {
                // Not a record that follows: the end of a sealed segment (zeros or a torn
                // tail), or a position that is not on this log.
                if sealed {
                    at = next;
                    continue;
                }
                return Ok(LogRead::Resync);
            };
            return Ok(LogRead::Chunk(Chunk {
                first_kept_segment: first_kept,
                segment: at.0,
                segment_size: size,
                offset: at.1,
                first_seq,
                last_seq,
                records: data[..scanner.end()].to_vec(),
            }));
        }
        Ok(LogRead::Resync)
    }

    /// Apply a chunk shipped by the partition's primary at `epoch`: check every record
    /// against this replica's chain, write them where the primary did and `fdatasync`, apply
    /// them to the indexes as recovery does. Returns the durable position after (what the
    /// primary waits for). A chunk this replica already holds is acknowledged again, unchanged.
    pub async fn apply_chunk(
        &self,
        partition: Partition,
        epoch: u64,
        chunk: &Chunk,
    ) -> Result<LogPosition> {
        let p = self.owned_partition(partition).await?;
        let ours = match p.role.get() {
            Role::Replica { epoch } => epoch,
            Role::Primary { .. } => return Err(StoreError::NotReplica),
        };
        if epoch < ours {
            return Err(StoreError::StaleEpoch {
                ours,
                theirs: epoch,
            });
        }
        set_role(&p, Role::Replica { epoch })?;
        let durable = p.durable.get();
        let refuse = |why: String| Err(StoreError::ChunkRefused(why));
        if chunk.last_seq < durable.chain.next_seq {
            return Ok(durable); // a chunk sent again: held already
        }
        // Skip the records this replica already holds (a chunk that overlaps its end).
        let bytes = &chunk.records[..];
        let mut start = 0usize;
        while start < bytes.len() {
            match record::self_checking(bytes, start) {
                Ok(rec) if rec.seq < durable.chain.next_seq => {
                    start += record::framed_len(rec.payload.len());
                }
                Ok(_) => break,
                Err(e) => return refuse(format!("record at chunk offset {start}: {e}")),
            }
        }
        let offset = chunk.offset + start as u64;
        let (w_segment, w_end, w_size) = match p.writer.borrow().as_ref() {
            Some(w) => {
                let pos = w.position();
                (pos.segment, pos.offset, w.segment_file_size())
            }
            None => return refuse("another chunk is being applied".into()),
        };
        if (w_segment, w_end) != (durable.segment, durable.offset) {
            // A write of another chunk is still in flight: a follower that was replaced (a
            // new epoch) may be finishing its last chunk. Asked again, this one fits.
            return refuse("another chunk is being applied".into());
        }
        let follows = (chunk.segment == w_segment && offset == w_end)
            || (chunk.segment == w_segment.wrapping_add(1) && offset == 0);
        if !follows {
            return refuse(format!(
                "records at segment {} offset {offset} do not follow this log's end at segment {w_segment} offset {w_end}",
                chunk.segment
            ));
        }
        if chunk.segment == w_segment && chunk.segment_size != w_size {
            return refuse(format!(
                "segment {w_segment} is {w_size} bytes here and {} on the primary",
                chunk.segment_size
            ));
        }
        let rest = &bytes[start..];
        let mut scanner = Scanner::new(rest, 0, durable.chain);
        let records: Vec<(usize, &[u8])> = scanner
            .by_ref()
            .map(|rec| (rec.offset, rec.payload))
            .collect();
        if scanner.end() != rest.len() {
            let why = record::check(rest, scanner.end(), scanner.state())
                .err()
                .map_or_else(|| "trailing bytes".to_string(), |e| e.to_string());
            return refuse(format!(
                "record at segment {} offset {}: {why}",
                chunk.segment,
                offset + scanner.end() as u64
            ));
        }
        if records.is_empty() {
            return Ok(durable);
        }
        // The frame's figures must be the records' own.
        let first_seq = record::self_checking(bytes, 0).map(|r| r.seq).ok();
        let last_seq = scanner.state().next_seq - 1;
        if first_seq != Some(chunk.first_seq) || last_seq != chunk.last_seq {
            return refuse(format!(
                "chunk says records {}..={}, holds {first_seq:?}..={last_seq}",
                chunk.first_seq, chunk.last_seq
            ));
        }
        // Decode every op before anything is written: a record whose op does not decode is
        // refused here rather than written and then not applied.
        let mut ops = Vec::with_capacity(records.len());
        for (_, payload) in &records {
            ops.push(op::decode(payload)?);
        }
        let Some(mut writer) = p.writer.borrow_mut().take() else {
            return refuse("another chunk is being applied".into());
        };
        let payloads = records.iter().map(|(_, b)| Payload::Bytes(b)).collect();
        let prepared = writer
            .prepare_at(chunk.segment, chunk.segment_size, payloads)
            .await;
        *p.writer.borrow_mut() = Some(writer);
        let mut prep = match prepared {
            Ok(prep) => prep,
            Err(e) => {
                p.poisoned.set(true);
                return Err(e);
            }
        };
        if let Some((n, file, size)) = prep.new_segment.take() {
            p.segments.borrow_mut().insert(n, file, size);
        }
        let positions = prep.records.clone();
        let end = prep.end;
        if positions.first().map(|r| r.offset) != Some(offset) || end.chain != scanner.state() {
            p.poisoned.set(true);
            return Err(StoreError::corrupt(
                "replicated log",
                "records laid out elsewhere than on the primary",
            ));
        }
        let started = std::time::Instant::now();
        let written: u64 = records.iter().map(|(_, b)| b.len() as u64).sum();
        if let Err(e) = prep.write().await {
            tracing::error!(partition = p.id.index(), error = %e, "replicated log write failed");
            p.poisoned.set(true);
            return Err(e);
        }
        {
            let mut stats = self.inner.stats.borrow_mut();
            stats.syncs += 1;
            stats.records += records.len() as u64;
            stats.bytes += written;
            stats.sync_latency.record(started.elapsed());
        }
        let mut events = Vec::new();
        for ((pos, (op, body_at)), (_, payload)) in positions.iter().zip(&ops).zip(&records) {
            match apply_record(&p, *pos, op, *body_at, payload.len()) {
                Ok(ev) => events.extend(ev),
                Err(e) => {
                    // Durable but not applied: only reopening (recovery) puts it right.
                    p.poisoned.set(true);
                    return Err(e);
                }
            }
        }
        p.bytes_since_checkpoint
            .set(p.bytes_since_checkpoint.get() + written);
        p.set_durable(end);
        super::text::note_new_mail(&self.inner, &p, &events);
        self.inner.notify(events);
        if p.bytes_since_checkpoint.get()
            >= self
                .inner
                .config
                .checkpoint_every
                .max(super::commit::CHECKPOINT_COST_FACTOR * p.checkpoint_cost.get())
        {
            p.start_checkpoint();
        }
        p.evict(self.inner.config.max_loaded_accounts)?;
        // A segment the primary deleted is free here once its relocations are applied: look
        // when some arrive, or when the primary has deleted more since the last look (so
        // not on every chunk: a look reads the segment).
        let relocated = ops
            .iter()
            .any(|(op, _)| matches!(op, op::Op::Relocate { .. }));
        if relocated || p.mirrored_first_kept.get() != chunk.first_kept_segment {
            p.mirrored_first_kept.set(chunk.first_kept_segment);
            self.mirror_compaction(&p, chunk.first_kept_segment).await?;
        }
        Ok(p.durable.get())
    }

    /// Delete the sealed segments below `first_kept` (the primary deleted them) that no
    /// index of this replica uses any more: a checkpoint first, so no replay reads them.
    async fn mirror_compaction(&self, p: &Rc<PartitionStore>, first_kept: u32) -> Result<()> {
        let below = first_kept.min(p.durable.get().segment);
        let candidates = p.segments.borrow().numbers_below(below);
        for s in candidates {
            let accounts = compact::accounts_of(p, s).await?;
            if !compact::live_bodies(p, s, &accounts).await?.is_empty() {
                // Its relocation records have not arrived yet.
                break;
            }
            let size = p.segments.borrow().size(s).unwrap_or(0);
            p.released.borrow_mut().insert(s, size);
            p.checkpoint_after().await?;
            p.segments.borrow_mut().delete(p.dir(), s)?;
            p.released.borrow_mut().remove(&s);
        }
        p.evict(self.inner.config.max_loaded_accounts)?;
        Ok(())
    }

    /// Hard-link the partition's files into `into` (laid out as a store root) at its
    /// durable position: what a replica that must start over copies ([`super::snapshot`]).
    pub async fn replica_snapshot(
        &self,
        partition: Partition,
        into: &Path,
    ) -> Result<PartitionSnapshot> {
        let p = self.owned_partition(partition).await?;
        p.role.get().writable()?;
        super::snapshot::link_open(&p, &into.join(format!("p{:04}", partition.index())))
    }

    /// Replace the partition's files with a snapshot (`root`: a copy of the folder
    /// [`Store::replica_snapshot`] filled, `snapshot`: what it said), as a replica at
    /// `epoch`, and open it. The segment holding the snapshot's end is taken only up to that
    /// end. Returns the durable position: where to ask the primary's log from.
    pub async fn install_snapshot(
        &self,
        partition: Partition,
        root: &Path,
        snapshot: PartitionSnapshot,
        epoch: u64,
    ) -> Result<LogPosition> {
        if self.inner.map.owner(partition) != self.inner.shard
            || snapshot.partition != partition.index()
        {
            return Err(StoreError::NotOwner(format!(
                "partition {}",
                partition.index()
            )));
        }
        let _permit = self
            .inner
            .opening
            .acquire_permit(1)
            .await
            .map_err(|_| StoreError::Closed)?;
        let open = self.inner.partitions.borrow().get(&partition).cloned();
        if let Some(p) = open {
            let ours = p.role.get().epoch();
            if !p.role.get().is_replica() {
                return Err(StoreError::NotReplica);
            }
            if epoch < ours {
                return Err(StoreError::StaleEpoch {
                    ours,
                    theirs: epoch,
                });
            }
            if p.writer.borrow().is_none() {
                return Err(StoreError::ChunkRefused(
                    "a chunk is being applied; install after it".into(),
                ));
            }
            // Poisoned: nothing writes through this instance any more (nor its checkpoint,
            // which may be writing into the folder about to be replaced).
            p.poisoned.set(true);
            p.checkpoint_written().await;
            self.inner.partitions.borrow_mut().remove(&partition);
        }
        let from = root.join(snapshot.folder());
        let to = self.inner.root.join(snapshot.folder());
        let bound = snapshot.bound().map(|(path, len)| (root.join(path), len));
        io::blocking(move || install_files(&from, &to, bound, Role::Replica { epoch })).await?;
        drop(_permit);
        Ok(self.owned_partition(partition).await?.durable.get())
    }
}

/// Apply one replicated record to the indexes of the accounts it names (loading them as
/// needed), as the committer applies a local one.
fn apply_record(
    p: &PartitionStore,
    pos: RecordPos,
    op: &op::Op,
    body_at: usize,
    len: usize,
) -> Result<Vec<(String, crate::mail::MailboxId, crate::mail::Change)>> {
    for name in op.accounts() {
        p.with_account(name, |_| ())?;
    }
    let body: Option<BodyRef> = op.has_body().then(|| pos.body(body_at, len - body_at));
    Ok(p.apply(pos, op, body).1)
}

/// Copy a snapshot's partition folder `from` to `to` (blocking): into a new folder next to
/// it, made durable, then swapped in by renames, so a crash leaves the old or the new one.
fn install_files(from: &Path, to: &Path, bound: Option<(PathBuf, u64)>, role: Role) -> Result<()> {
    use std::io::{Read, Write};
    let incoming = to.with_extension("incoming");
    let old = to.with_extension("old");
    for leftover in [&incoming, &old] {
        match std::fs::remove_dir_all(leftover) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    std::fs::create_dir_all(incoming.join("accounts"))?;
    let copy = |src: &Path, dst: &Path, limit: Option<u64>| -> Result<()> {
        let mut input = std::fs::File::open(src)?;
        let size = input.metadata()?.len();
        let mut out = std::fs::File::create(dst)?;
        let take = limit.unwrap_or(size).min(size);
        std::io::copy(&mut (&mut input).take(take), &mut out)?;
        // The rest of the segment holding the end is zeros, as if never written there.
        let zeros = vec![0u8; 1 << 16];
        let mut at = take;
        while at < size {
            let n = (size - at).min(zeros.len() as u64) as usize;
            out.write_all(&zeros[..n])?;
            at += n as u64;
        }
        out.sync_all()?;
        Ok(())
    };
    for entry in std::fs::read_dir(from.join("accounts"))? {
        let entry = entry?;
        copy(
            &entry.path(),
            &incoming.join("accounts").join(entry.file_name()),
            None,
        )?;
    }
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "checkpoint" || (name.starts_with("seg-") && name.ends_with(".log")) {
            let path = entry.path();
            let limit = bound
                .as_ref()
                .filter(|(b, _)| *b == path)
                .map(|(_, len)| *len);
            copy(&path, &incoming.join(&*name), limit)?;
        }
    }
    write_atomic(&incoming.join(ROLE_FILE), &encode_role(role))?;
    segment::sync_dir(&incoming.join("accounts"))?;
    segment::sync_dir(&incoming)?;
    if to.exists() {
        std::fs::rename(to, &old)?;
    }
    std::fs::rename(&incoming, to)?;
    if let Some(parent) = to.parent() {
        segment::sync_dir(parent)?;
    }
    match std::fs::remove_dir_all(&old) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_role_file_round_trips_and_checks_itself() {
        for role in [
            Role::Primary { epoch: 9 },
            Role::Replica { epoch: u64::MAX },
        ] {
            let bytes = encode_role(role);
            assert_eq!(bytes.len(), 21);
            assert_eq!(decode_role(&bytes).unwrap(), role);
            for i in 0..bytes.len() {
                let mut bad = bytes.clone();
                bad[i] ^= 1;
                assert!(decode_role(&bad).is_err(), "byte {i}");
            }
        }
        assert_eq!(
            read_role(Path::new("/nonexistent/p0000")).unwrap(),
            Role::Primary { epoch: 0 }
        );
    }

    #[test]
    fn positions_convert_both_ways() {
        let p = LogPosition {
            segment: 3,
            offset: 4096,
            chain: Chain {
                next_seq: 40,
                prev_crc: 7,
            },
        };
        assert_eq!(LogPosition::from(Position::from(p)), p);
    }
}
