//! Replication of a partition's log between two stores on one executor (two folders, as two
//! hosts would have): every change made on the primary reaches the replica through the
//! replication frames, and the replica's account index and every message's bytes are then the
//! primary's; a replica restarted mid-stream resumes; bad or out-of-order chunks are refused;
//! compaction on the primary is followed, or a new replica starts from a snapshot; a promoted
//! replica continues the log and a fenced primary refuses writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use ringpost::mail::{FlagMode, Flags, SystemFlags, Uid};
use ringpost::placement::Partition;
use ringpost::runtime::{ShardId, ShardMap};
use ringpost::store::index::AccountIndex;
use ringpost::store::replica::{LogRead, Role};
use ringpost::store::segment::LogPosition;
use ringpost::store::{fsck, Store, StoreConfig, StoreError};
use ringpost::wire::replication::{Body, Chunk, Frame};

mod store_support;
use store_support::run;

const A: &str = "alice@example.com";
/// Chunks are kept small so a test ships many of them.
const CHUNK: usize = 16 << 10;

fn config() -> StoreConfig {
    StoreConfig {
        segment_size: 64 << 10,
        // Compaction runs only when a test asks for it.
        compact_dead_ratio: 2.0,
        ..StoreConfig::default()
    }
}

fn open(root: &Path) -> Store {
    Store::new(root, ShardId(0), ShardMap::new(1), config())
}

fn part() -> Partition {
    Partition::of(A)
}

fn msg(i: u32) -> Vec<u8> {
    let mut m = format!("From: s{i}@x.org\r\nSubject: m{i}\r\n\r\n").into_bytes();
    let len = 1500 + (i as usize * 389) % 2500;
    m.extend((0..len).map(|k| b'a' + ((k as u32 + i) % 26) as u8));
    m
}

/// A chunk as it crosses the wire: encoded into a frame and decoded again.
fn over_the_wire(epoch: u64, chunk: Chunk) -> Chunk {
    let mut bytes = Vec::new();
    Frame {
        partition: part().index(),
        epoch,
        body: Body::Chunk(chunk),
    }
    .encode(&mut bytes);
    let (frame, used) = Frame::decode(&bytes).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    match frame.body {
        Body::Chunk(c) => c,
        other => panic!("a chunk came back as {other:?}"),
    }
}

/// The next chunk the primary has for the replica, or `None` when it is caught up.
async fn next_chunk(primary: &Store, replica: &Store) -> Option<Chunk> {
    let from = replica.durable_position(part()).await.unwrap();
    match primary.read_log(part(), from, CHUNK).await.unwrap() {
        LogRead::Chunk(c) => Some(c),
        LogRead::UpToDate(at) => {
            assert_eq!(at, from);
            None
        }
        LogRead::Resync => panic!("resync asked from {from:?}"),
    }
}

/// Ship chunks until the replica has the primary's whole durable log; returns how many.
async fn ship(primary: &Store, replica: &Store, epoch: u64) -> usize {
    let mut n = 0;
    while let Some(chunk) = next_chunk(primary, replica).await {
        let chunk = over_the_wire(epoch, chunk);
        let acked = replica.apply_chunk(part(), epoch, &chunk).await.unwrap();
        assert_eq!(acked.chain.next_seq, chunk.last_seq + 1);
        n += 1;
    }
    assert_eq!(
        replica.durable_position(part()).await.unwrap(),
        primary.durable_position(part()).await.unwrap()
    );
    n
}

async fn index(store: &Store) -> AccountIndex {
    store.inspect(A, AccountIndex::clone).await.unwrap()
}

/// Every mailbox's messages (UID, bytes), by name.
async fn contents(store: &Store) -> Vec<(String, Vec<(u32, Vec<u8>)>)> {
    let mut out = Vec::new();
    for m in store.list_mailboxes(A).await.unwrap() {
        let mut msgs = Vec::new();
        for e in store
            .messages(A, &m.name, Uid(1)..=Uid(u32::MAX))
            .await
            .unwrap()
        {
            let body = store.read(A, &m.name, e.uid).await.unwrap();
            msgs.push((e.uid.0, body.to_vec()));
        }
        out.push((m.name, msgs));
    }
    out
}

/// The replica's index and every message's bytes are the primary's.
async fn assert_same(primary: &Store, replica: &Store) {
    assert_eq!(index(replica).await, index(primary).await);
    let theirs = contents(primary).await;
    assert!(theirs.iter().any(|(_, m)| !m.is_empty()));
    assert_eq!(contents(replica).await, theirs);
}

fn assert_fsck_clean(root: &Path) {
    let report = fsck::check(root).unwrap();
    assert!(report.is_clean(), "{report}");
}

/// A primary at epoch 1 and a replica at epoch 1, in two folders.
async fn pair(primary_root: &Path, replica_root: &Path) -> (Store, Store) {
    let primary = open(primary_root);
    primary.promote(part(), 1).await.unwrap();
    let replica = open(replica_root);
    replica.make_replica(part(), 1).await.unwrap();
    (primary, replica)
}

/// Appends, flags, expunges, copies, moves, mailbox creation, rename and deletion.
async fn busy_day(store: &Store, from: u32, to: u32) -> Vec<Uid> {
    store.open_account(A).await.unwrap();
    let mut uids = Vec::new();
    for i in from..to {
        let flags = if i % 3 == 0 {
            Flags::system(SystemFlags::SEEN)
        } else {
            Flags::default()
        };
        uids.push(
            store
                .append(A, "INBOX", &msg(i), flags, 1_700_000_000 + i64::from(i))
                .await
                .unwrap(),
        );
    }
    store
        .set_flags(
            A,
            "INBOX",
            &uids[..uids.len() / 2],
            FlagMode::Add,
            Flags::system(SystemFlags::FLAGGED),
        )
        .await
        .unwrap();
    store
        .expunge(A, "INBOX", Some(&uids[1..uids.len() / 3]))
        .await
        .unwrap();
    let name = format!("Projects{from}");
    store.create_mailbox(A, &name).await.unwrap();
    let last = *uids.last().unwrap();
    store.copy(A, "INBOX", &[last], &name).await.unwrap();
    store
        .move_messages(A, "INBOX", &[uids[uids.len() - 2]], "Archive")
        .await
        .unwrap();
    let renamed = format!("Done{from}");
    store.rename_mailbox(A, &name, &renamed).await.unwrap();
    let doomed = format!("Tmp{from}");
    store.create_mailbox(A, &doomed).await.unwrap();
    store
        .copy(A, "INBOX", &[uids[uids.len() / 2]], &doomed)
        .await
        .unwrap();
    store.delete_mailbox(A, &doomed).await.unwrap();
    uids
}

#[test]
fn a_replica_applies_everything_the_primary_did() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pa, pb) = (a.path().to_path_buf(), b.path().to_path_buf());
    run(move || async move {
        let (primary, replica) = pair(&pa, &pb).await;
        busy_day(&primary, 0, 60).await;
        let chunks = ship(&primary, &replica, 1).await;
        assert!(chunks > 10, "{chunks} chunks");
        assert_same(&primary, &replica).await;
        // The log is the same file by file: segments of the same sizes.
        assert!(primary.segment_bytes() > 64 << 10);
        assert_eq!(replica.segment_bytes(), primary.segment_bytes());
        // A replica takes no local writes.
        assert!(matches!(
            replica
                .append(A, "INBOX", &msg(1), Flags::default(), 0)
                .await,
            Err(StoreError::NotPrimary { epoch: 1 })
        ));
        assert!(matches!(
            replica.create_mailbox(A, "Mine").await,
            Err(StoreError::NotPrimary { epoch: 1 })
        ));
        // More on the primary later: the replica follows.
        busy_day(&primary, 60, 80).await;
        ship(&primary, &replica, 1).await;
        assert_same(&primary, &replica).await;
        primary.close().await.unwrap();
        replica.close().await.unwrap();
        drop((primary, replica));
        assert_fsck_clean(&pa);
        assert_fsck_clean(&pb);
        // Reopened from its own files, the replica is still the same and still a replica.
        let replica = open(&pb);
        assert_eq!(
            replica.role(part()).await.unwrap(),
            Role::Replica { epoch: 1 }
        );
        let primary = open(&pa);
        assert_same(&primary, &replica).await;
    });
}

#[test]
fn a_restarted_replica_resumes_from_its_durable_position() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pa, pb) = (a.path().to_path_buf(), b.path().to_path_buf());
    run(move || async move {
        let (primary, replica) = pair(&pa, &pb).await;
        busy_day(&primary, 0, 50).await;
        let mut first = None;
        for _ in 0..3 {
            let chunk = next_chunk(&primary, &replica).await.unwrap();
            first.get_or_insert_with(|| chunk.clone());
            replica.apply_chunk(part(), 1, &chunk).await.unwrap();
        }
        let halfway = replica.durable_position(part()).await.unwrap();
        // Killed while the next chunk was being written: no close, no checkpoint, and the
        // first bytes of the next records torn into the log after its end.
        let next = next_chunk(&primary, &replica).await.unwrap();
        drop(replica);
        let segment = pb
            .join(format!("p{:04}", part().index()))
            .join(format!("seg-{:08}.log", halfway.segment));
        assert_eq!(
            (next.segment, next.offset),
            (halfway.segment, halfway.offset)
        );
        let torn = &next.records[..2000];
        let size = std::fs::metadata(&segment).unwrap().len();
        assert!(halfway.offset + torn.len() as u64 <= size);
        {
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&segment)
                .unwrap();
            f.write_all_at(torn, halfway.offset).unwrap();
            f.sync_all().unwrap();
        }
        let replica = open(&pb);
        assert_eq!(replica.durable_position(part()).await.unwrap(), halfway);
        // The torn bytes are gone: the next chunk goes where the primary wrote it.
        let on_disk = std::fs::read(&segment).unwrap();
        let end = halfway.offset as usize;
        assert!(on_disk[end..].iter().all(|&b| b == 0));
        // A chunk sent again after the restart is acknowledged and changes nothing.
        let again = replica
            .apply_chunk(part(), 1, &first.unwrap())
            .await
            .unwrap();
        assert_eq!(again, halfway);
        ship(&primary, &replica, 1).await;
        assert_same(&primary, &replica).await;
        replica.close().await.unwrap();
        drop(replica);
        assert_fsck_clean(&pb);
    });
}

#[test]
fn chunks_that_do_not_check_or_do_not_follow_are_refused() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pa, pb) = (a.path().to_path_buf(), b.path().to_path_buf());
    run(move || async move {
        let (primary, replica) = pair(&pa, &pb).await;
        busy_day(&primary, 0, 20).await;
        let first = next_chunk(&primary, &replica).await.unwrap();
        let start = replica.durable_position(part()).await.unwrap();
        // A flipped bit in a record.
        let mut bad = first.clone();
        let at = bad.records.len() / 2;
        bad.records[at] ^= 0x20;
        assert!(matches!(
            replica.apply_chunk(part(), 1, &bad).await,
            Err(StoreError::ChunkRefused(_))
        ));
        // A chunk cut in the middle of a record.
        let mut cut = first.clone();
        cut.records.truncate(cut.records.len() - 8);
        assert!(matches!(
            replica.apply_chunk(part(), 1, &cut).await,
            Err(StoreError::ChunkRefused(_))
        ));
        // A frame whose sequence numbers are not its records'.
        let mut lying = first.clone();
        lying.last_seq += 1;
        assert!(matches!(
            replica.apply_chunk(part(), 1, &lying).await,
            Err(StoreError::ChunkRefused(_))
        ));
        // A gap: the chunk after the first, before the first.
        let after = LogPosition {
            segment: first.segment,
            offset: first.offset + first.records.len() as u64,
            chain: {
                // The chain after the first chunk, as the replica would have it.
                let mut chain = start.chain;
                for rec in ringpost::store::record::Scanner::new(&first.records, 0, chain) {
                    chain.next_seq = rec.seq + 1;
                    chain.prev_crc = rec.crc;
                }
                chain
            },
        };
        let LogRead::Chunk(second) = primary.read_log(part(), after, CHUNK).await.unwrap() else {
            panic!("no second chunk");
        };
        assert_eq!(second.first_seq, first.last_seq + 1);
        assert!(matches!(
            replica.apply_chunk(part(), 1, &second).await,
            Err(StoreError::ChunkRefused(_))
        ));
        // Nothing was written: the right chunk still applies, then the rest.
        assert_eq!(replica.durable_position(part()).await.unwrap(), start);
        replica.apply_chunk(part(), 1, &first).await.unwrap();
        replica.apply_chunk(part(), 1, &second).await.unwrap();
        ship(&primary, &replica, 1).await;
        assert_same(&primary, &replica).await;
        // A frame damaged in transit never decodes as a chunk.
        let mut bytes = Vec::new();
        Frame {
            partition: part().index(),
            epoch: 1,
            body: Body::Chunk(second),
        }
        .encode(&mut bytes);
        let i = bytes.len() - 3;
        bytes[i] ^= 1;
        assert!(Frame::decode(&bytes).is_err());
        // The primary refuses to serve a position that is not on its log.
        let nowhere = LogPosition {
            chain: ringpost::store::record::Chain {
                next_seq: 3,
                prev_crc: 12345,
            },
            ..start
        };
        assert_eq!(
            primary.read_log(part(), nowhere, CHUNK).await.unwrap(),
            LogRead::Resync
        );
    });
}

#[test]
fn compaction_on_the_primary_is_followed_or_a_new_replica_starts_from_a_snapshot() {
    let (a, b, c, s) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (pa, pb, pc, ps) = (
        a.path().to_path_buf(),
        b.path().to_path_buf(),
        c.path().to_path_buf(),
        s.path().to_path_buf(),
    );
    run(move || async move {
        let (primary, replica) = pair(&pa, &pb).await;
        let uids = busy_day(&primary, 0, 80).await;
        ship(&primary, &replica, 1).await;
        primary
            .expunge(A, "INBOX", Some(&uids[..uids.len() - 10]))
            .await
            .unwrap();
        let before = primary.segment_bytes();
        let report = primary.compact(0.0).await.unwrap();
        assert!(report.deleted > 0, "{report:?}");
        assert!(primary.segment_bytes() < before);
        // The caught-up replica applies the relocations and drops the same segments.
        ship(&primary, &replica, 1).await;
        assert_same(&primary, &replica).await;
        assert_eq!(replica.segment_bytes(), primary.segment_bytes());

        // A new replica asks from the start, which is gone: it starts from a snapshot.
        let fresh = open(&pc);
        fresh.make_replica(part(), 1).await.unwrap();
        let from = fresh.durable_position(part()).await.unwrap();
        assert_eq!(
            primary.read_log(part(), from, CHUNK).await.unwrap(),
            LogRead::Resync
        );
        let snapshot = primary.replica_snapshot(part(), &ps).await.unwrap();
        // The primary goes on while the snapshot is copied.
        busy_day(&primary, 80, 90).await;
        let at = fresh
            .install_snapshot(part(), &ps, snapshot, 1)
            .await
            .unwrap();
        assert_eq!(at.chain.next_seq, snapshot.end.unwrap().next_seq);
        ship(&primary, &fresh, 1).await;
        assert_same(&primary, &fresh).await;
        ship(&primary, &replica, 1).await;
        fresh.close().await.unwrap();
        replica.close().await.unwrap();
        drop((fresh, replica));
        assert_fsck_clean(&pb);
        assert_fsck_clean(&pc);
    });
}

#[test]
fn a_promoted_replica_continues_the_log_and_the_old_primary_is_fenced() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pa, pb) = (a.path().to_path_buf(), b.path().to_path_buf());
    run(move || async move {
        let (old, new) = pair(&pa, &pb).await;
        busy_day(&old, 0, 30).await;
        ship(&old, &new, 1).await;
        let uid_next = new.status(A, "INBOX").await.unwrap().uid_next;
        // Failover: the replica becomes the primary at epoch 2.
        new.promote(part(), 2).await.unwrap();
        assert_eq!(new.role(part()).await.unwrap(), Role::Primary { epoch: 2 });
        let uid = new
            .append(A, "INBOX", &msg(99), Flags::default(), 0)
            .await
            .unwrap();
        assert_eq!(uid, uid_next);
        new.create_mailbox(A, "AfterFailover").await.unwrap();
        // The old primary hears of epoch 2: fenced, it refuses writes, durably.
        assert_eq!(
            old.observe_epoch(part(), 2).await.unwrap(),
            Role::Replica { epoch: 2 }
        );
        assert!(matches!(
            old.append(A, "INBOX", &msg(100), Flags::default(), 0).await,
            Err(StoreError::NotPrimary { epoch: 2 })
        ));
        // A primary at a stale epoch cannot push into a replica that knows a newer one.
        let stale = Chunk {
            first_kept_segment: 1,
            segment: 1,
            segment_size: 64 << 10,
            offset: 0,
            first_seq: 1,
            last_seq: 1,
            records: Vec::new(),
        };
        assert!(matches!(
            old.apply_chunk(part(), 1, &stale).await,
            Err(StoreError::StaleEpoch { ours: 2, theirs: 1 })
        ));
        // Nor promote itself at an epoch that is not newer.
        assert!(matches!(
            old.promote(part(), 2).await,
            Err(StoreError::StaleEpoch { .. })
        ));
        // It rejoins as a replica of the new primary and catches up.
        ship(&new, &old, 2).await;
        assert_same(&new, &old).await;
        old.close().await.unwrap();
        drop(old);
        let old = open(&pa);
        assert!(matches!(
            old.create_mailbox(A, "Split").await,
            Err(StoreError::NotPrimary { epoch: 2 })
        ));
        let uid = new
            .append(A, "INBOX", &msg(101), Flags::default(), 0)
            .await
            .unwrap();
        assert_eq!(uid, Uid(uid_next.0 + 1));
        ship(&new, &old, 2).await;
        assert_same(&new, &old).await;
        new.close().await.unwrap();
        drop(new);
        assert_fsck_clean(&pb);
    });
}

#[test]
fn a_wait_for_new_records_ends_when_the_next_batch_is_durable() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pa, pb) = (a.path().to_path_buf(), b.path().to_path_buf());
    run(move || async move {
        let (primary, replica) = pair(&pa, &pb).await;
        primary.open_account(A).await.unwrap();
        let before = primary.durable_position(part()).await.unwrap();
        // Already past: at once.
        let mut earlier = before;
        earlier.chain.next_seq -= 1;
        assert_eq!(primary.wait_durable(part(), earlier).await.unwrap(), before);
        let (woke, uid) = futures_lite::future::zip(
            primary.wait_durable(part(), before),
            primary.append(A, "INBOX", &msg(1), Flags::default(), 0),
        )
        .await;
        let woke = woke.unwrap();
        assert_eq!(uid.unwrap(), Uid(1));
        assert_eq!(woke, primary.durable_position(part()).await.unwrap());
        assert_eq!(woke.chain.next_seq, before.chain.next_seq + 1);
        // What the replica acknowledges is what the primary's durable end was.
        ship(&primary, &replica, 1).await;
        assert_eq!(replica.durable_position(part()).await.unwrap(), woke);
    });
}

#[test]
fn an_op_queued_before_the_primary_is_fenced_is_refused_not_written() {
    let a = tempfile::tempdir().unwrap();
    let pa = a.path().to_path_buf();
    run(move || async move {
        let primary = open(&pa);
        primary.promote(part(), 1).await.unwrap();
        primary.open_account(A).await.unwrap();
        let before = primary.durable_position(part()).await.unwrap();
        let (appended, role) = futures_lite::future::zip(
            primary.append(A, "INBOX", &msg(1), Flags::default(), 0),
            primary.observe_epoch(part(), 2),
        )
        .await;
        assert_eq!(role.unwrap(), Role::Replica { epoch: 2 });
        assert!(matches!(appended, Err(StoreError::NotPrimary { epoch: 2 })));
        assert_eq!(primary.durable_position(part()).await.unwrap(), before);
        assert_eq!(primary.status(A, "INBOX").await.unwrap().messages, 0);
        // An older epoch changes nothing.
        assert_eq!(
            primary.observe_epoch(part(), 1).await.unwrap(),
            Role::Replica { epoch: 2 }
        );
    });
}
