//! One partition on its owner shard: its log, its loaded account indexes, their files and the
//! checkpoint. Only the owner shard's [`super::Store`] holds one. Never talks to other shards.
//!
//! Files (`<root>/p0582/`): `seg-NNNNNNNN.log` segments, `accounts/<account>.idx` index files
//! (each says up to which log record it is current), and `checkpoint`: a log position before
//! which every record is in the index files, so recovery replays only from there.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::index::{AccountIndex, BodyRef, Change, Outcome};
use super::op::{self, Op};
use super::record::Chain;
use super::segment::{self, LogPosition, LogWriter, RecordPos, Segments};
use super::types::{MailboxId, Result, StoreError};
use crate::shard::Partition;

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
            Some(w) if w < *next => return Err(StoreError::UidNotAscending(super::Uid(w))),
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
    clock: Cell<u64>,
}

fn escape(account: &str) -> String {
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

const CHECKPOINT_MAGIC: &[u8; 8] = b"RPCKPT01";

fn read_checkpoint(dir: &Path) -> Result<Option<LogPosition>> {
    let bytes = match std::fs::read(dir.join("checkpoint")) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if bytes.len() != 36 || &bytes[..8] != CHECKPOINT_MAGIC {
        return Err(StoreError::corrupt("checkpoint", "bad framing"));
    }
    let crc = u32::from_le_bytes([bytes[32], bytes[33], bytes[34], bytes[35]]);
    if crc32c::crc32c(&bytes[..32]) != crc {
        return Err(StoreError::corrupt("checkpoint", "checksum mismatch"));
    }
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let u64_at = |i: usize| u64::from(u32_at(i)) | (u64::from(u32_at(i + 4)) << 32);
    Ok(Some(LogPosition {
        segment: u32_at(8),
        offset: u64_at(12),
        chain: Chain {
            next_seq: u64_at(20),
            prev_crc: u32_at(28),
        },
    }))
}

/// Write `bytes` to `path` atomically and durably (temp file, fsync, rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

impl PartitionStore {
    /// Open (and recover) partition `id` under `root`.
    pub async fn open(root: &Path, id: Partition, segment_size: u64) -> Result<PartitionStore> {
        let dir = root.join(format!("p{:04}", id.index()));
        std::fs::create_dir_all(dir.join("accounts"))?;
        let checkpoint = read_checkpoint(&dir)?;
        let mut accounts: HashMap<String, Account> = HashMap::new();
        let mut ignore = Vec::new();
        let (segments, writer) = segment::open(&dir, segment_size, checkpoint, |pos, payload| {
            let (op, body_at) = op::decode(payload)?;
            let body =
                matches!(op, Op::Append { .. }).then(|| pos.body(body_at, payload.len() - body_at));
            for name in op.accounts() {
                if !accounts.contains_key(name) {
                    let index = load_index(&dir, name)?;
                    accounts.insert(name.to_string(), Account::new(index));
                }
                let Some(a) = accounts.get_mut(name) else {
                    continue;
                };
                if pos.seq > a.index.applied_seq {
                    a.index.apply(pos.seq, &op, body, &mut ignore);
                    a.dirty = true;
                }
                ignore.clear();
            }
            Ok(())
        })
        .await?;
        let p = PartitionStore {
            id,
            dir,
            accounts: RefCell::new(accounts),
            segments: RefCell::new(segments),
            writer: RefCell::new(Some(writer)),
            poisoned: Cell::new(false),
            bytes_since_checkpoint: Cell::new(0),
            clock: Cell::new(0),
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
        for name in op.accounts() {
            // Accounts with queued ops are never evicted, so it is loaded.
            let Some(a) = accounts.get_mut(name) else {
                continue;
            };
            let outcome = a.index.apply(pos.seq, op, body, &mut scratch);
            a.dirty = true;
            a.inflight = a.inflight.saturating_sub(1);
            events.extend(scratch.drain(..).map(|(m, c)| (name.to_string(), m, c)));
            let merged = match (first.take(), outcome) {
                (None, o) => o,
                (Some(Outcome::MailboxGone), o) => o,
                (Some(o), _) => o,
            };
            first = Some(merged);
        }
        (first.unwrap_or(Outcome::MailboxGone), events)
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

    fn flush_account(&self, a: &mut Account) -> Result<()> {
        if a.dirty {
            write_atomic(
                &self.index_path(&a.index.account),
                &a.index.to_file_bytes()?,
            )?;
            a.dirty = false;
        }
        Ok(())
    }

    /// Write every dirty index, then a checkpoint at the log's end. Only between batches
    /// (the writer is in place and every record before its position is applied).
    pub fn checkpoint(&self) -> Result<()> {
        let Some(pos) = self.writer.borrow().as_ref().map(LogWriter::position) else {
            return Ok(());
        };
        for a in self.accounts.borrow_mut().values_mut() {
            self.flush_account(a)?;
        }
        segment::sync_dir(&self.dir.join("accounts"))?;
        let mut bytes = Vec::with_capacity(36);
        bytes.extend_from_slice(CHECKPOINT_MAGIC);
        bytes.extend_from_slice(&pos.segment.to_le_bytes());
        bytes.extend_from_slice(&pos.offset.to_le_bytes());
        bytes.extend_from_slice(&pos.chain.next_seq.to_le_bytes());
        bytes.extend_from_slice(&pos.chain.prev_crc.to_le_bytes());
        bytes.extend_from_slice(&crc32c::crc32c(&bytes).to_le_bytes());
        write_atomic(&self.dir.join("checkpoint"), &bytes)?;
        segment::sync_dir(&self.dir)?;
        self.bytes_since_checkpoint.set(0);
        Ok(())
    }

    /// Drop idle loaded indexes beyond `keep` (least recently used first), writing dirty ones
    /// to their files. Accounts with queued ops stay.
    pub fn evict(&self, keep: usize) -> Result<usize> {
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
}

fn index_path(dir: &Path, account: &str) -> PathBuf {
    dir.join("accounts")
        .join(format!("{}.idx", escape(account)))
}

fn load_index(dir: &Path, account: &str) -> Result<AccountIndex> {
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
    use super::*;

    #[test]
    fn account_file_names_are_escaped() {
        assert_eq!(escape("alice@example.com"), "alice@example.com");
        assert_eq!(escape("a/b@x"), "a%2fb@x");
        assert_eq!(escape("../x"), "..%2fx");
    }
}
