//! Snapshots of a live store (`Store::link_snapshot`, what `ringpost backup` copies): the
//! linked files, copied with the bound each open partition gives, open as the store was at
//! the snapshot — neither appends in flight nor later compaction (which deletes segments the
//! snapshot's indexes use), expunges or appends change the copy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::rc::Rc;

use ringpost::mail::{Flags, Uid};
use ringpost::runtime::{ShardId, ShardMap};
use ringpost::store::{PartitionSnapshot, Store, StoreConfig};

mod store_support;
use store_support::run;

const A: &str = "alice@example.com";
const B: &str = "bob@example.com";

fn config() -> StoreConfig {
    StoreConfig {
        segment_size: 64 << 10,
        // Compaction is driven by hand below.
        compact_dead_ratio: 2.0,
        ..StoreConfig::default()
    }
}

fn msg(i: u32) -> Vec<u8> {
    let mut m = format!("From: s{i}@x.org\r\nSubject: m{i}\r\n\r\n").into_bytes();
    let len = 1500 + (i as usize * 389) % 2500;
    m.extend((0..len).map(|k| b'a' + ((k as u32 + i) % 26) as u8));
    m
}

/// Every file under `from` copied to `to`; a partition's bounded segment only up to its
/// bound, zeros after (as `ringpost backup` copies).
fn copy_snapshot(from: &Path, to: &Path, partitions: &[PartitionSnapshot]) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if entry.file_type().unwrap().is_dir() {
            let sub = to.join(&name);
            std::fs::create_dir_all(&sub).unwrap();
            copy_snapshot(&entry.path(), &sub, partitions);
            continue;
        }
        let bound = partitions
            .iter()
            .filter_map(PartitionSnapshot::bound)
            .find(|(path, _)| entry.path().ends_with(path));
        let mut bytes = Vec::new();
        std::fs::File::open(entry.path())
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        if let Some((_, keep)) = bound {
            let keep = usize::try_from(keep).unwrap();
            bytes[keep..].fill(0);
        }
        std::fs::File::create(to.join(&name))
            .unwrap()
            .write_all(&bytes)
            .unwrap();
    }
}

type Mail = BTreeMap<(String, u32), Vec<u8>>;

async fn every_message(store: &Store) -> Mail {
    let mut out = BTreeMap::new();
    for account in [A, B] {
        for e in store
            .messages(account, "INBOX", Uid(1)..=Uid(u32::MAX))
            .await
            .unwrap()
        {
            let body = store.read(account, "INBOX", e.uid).await.unwrap();
            out.insert((account.to_string(), e.uid.0), body.to_vec());
        }
    }
    out
}

#[test]
fn a_snapshot_is_the_store_at_one_instant_whatever_happens_after() {
    let dir = tempfile::tempdir().unwrap();
    let (root, snap, copy) = (
        dir.path().join("live"),
        dir.path().join("snap"),
        dir.path().join("copy"),
    );
    let (r, s) = (root.clone(), snap.clone());
    let result = std::sync::Arc::new(std::sync::Mutex::new(None));
    let shared = result.clone();
    run(move || async move {
        let store = Store::new(&r, ShardId(0), ShardMap::new(1), config());
        for account in [A, B] {
            store.open_account(account).await.unwrap();
        }
        for i in 1..=100u32 {
            let account = [A, B][i as usize % 2];
            store
                .append(account, "INBOX", &msg(i), Flags::default(), 1_000)
                .await
                .unwrap();
        }
        // Most of the old mail goes: the early segments become worth compacting.
        for account in [A, B] {
            let uids: Vec<Uid> = (1..=30).map(Uid).collect();
            store.expunge(account, "INBOX", Some(&uids)).await.unwrap();
        }
        let settled = every_message(&store).await;
        // Appends in flight while the snapshot is linked: those answered before it must be
        // in it; the others may be.
        let answered = Rc::new(RefCell::new(BTreeMap::new()));
        let mut tasks = Vec::new();
        for i in 101..=140u32 {
            let (store, answered) = (store.clone(), answered.clone());
            tasks.push(glommio::spawn_local(async move {
                let account = [A, B][i as usize % 2];
                let uid = store
                    .append(account, "INBOX", &msg(i), Flags::default(), 1_000)
                    .await
                    .unwrap();
                answered
                    .borrow_mut()
                    .insert((account.to_string(), uid.0), msg(i));
            }));
        }
        while answered.borrow().len() < 10 {
            glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
        }
        let before: Vec<(String, u32)> = answered.borrow().keys().cloned().collect();
        let partitions = store.link_snapshot(&s).await.unwrap();
        for t in tasks {
            t.await;
        }
        // After the snapshot: compaction deletes sealed segments, more mail comes and goes.
        let report = store.compact(0.0).await.unwrap();
        for i in 141..=170u32 {
            let account = [A, B][i as usize % 2];
            store
                .append(account, "INBOX", &msg(i), Flags::default(), 1_000)
                .await
                .unwrap();
        }
        let uids: Vec<Uid> = (31..=60).map(Uid).collect();
        store.expunge(A, "INBOX", Some(&uids)).await.unwrap();
        store.close().await.unwrap();
        let in_flight = answered.borrow().clone();
        *shared.lock().unwrap() = Some((settled, before, in_flight, partitions, report.deleted));
    });
    let (settled, before, in_flight, partitions, deleted) = result.lock().unwrap().take().unwrap();
    assert!(
        deleted > 0,
        "compaction deleted no segment after the snapshot"
    );
    assert_eq!(partitions.len(), 2, "{partitions:?}");
    assert!(partitions.iter().all(|p| p.end.is_some()), "{partitions:?}");
    copy_snapshot(&snap, &copy, &partitions);
    let c = copy.clone();
    let restored = std::sync::Arc::new(std::sync::Mutex::new(None));
    let shared = restored.clone();
    run(move || async move {
        let store = Store::new(&c, ShardId(0), ShardMap::new(1), config());
        let mail = every_message(&store).await;
        // The restored log takes new appends after the snapshot point.
        let uid = store
            .append(A, "INBOX", &msg(999), Flags::default(), 1_000)
            .await
            .unwrap();
        assert_eq!(
            store.read(A, "INBOX", uid).await.unwrap().to_vec(),
            msg(999)
        );
        store.close().await.unwrap();
        *shared.lock().unwrap() = Some(mail);
    });
    let restored = restored.lock().unwrap().take().unwrap();
    // Everything there before the snapshot, nothing expunged or compacted away after it
    // missing, and beyond that only appends that were in flight, byte for byte.
    for (key, body) in &settled {
        assert_eq!(restored.get(key), Some(body), "{key:?}");
    }
    for key in &before {
        assert!(
            restored.contains_key(key),
            "{key:?} was answered before the snapshot"
        );
    }
    for (key, body) in &restored {
        if !settled.contains_key(key) {
            assert_eq!(in_flight.get(key), Some(body), "{key:?} came from nowhere");
        }
    }
    eprintln!(
        "{} settled, {} of {} in-flight answered before the snapshot, {} in it",
        settled.len(),
        before.len(),
        in_flight.len(),
        restored.len() - settled.len()
    );
}

#[test]
fn a_partition_nobody_opened_is_linked_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (root, snap) = (dir.path().join("live"), dir.path().join("snap"));
    let r = root.clone();
    run(move || async move {
        let store = Store::new(&r, ShardId(0), ShardMap::new(1), config());
        store.open_account(A).await.unwrap();
        store
            .append(A, "INBOX", &msg(1), Flags::default(), 1_000)
            .await
            .unwrap();
        store.close().await.unwrap();
    });
    let (r, s) = (root.clone(), snap.clone());
    run(move || async move {
        // A new store: the partition is on disk, not open.
        let store = Store::new(&r, ShardId(0), ShardMap::new(1), config());
        let partitions = store.link_snapshot(&s).await.unwrap();
        assert_eq!(partitions.len(), 1);
        assert_eq!(partitions[0].end, None);
        assert_eq!(partitions[0].bound(), None);
    });
    let part = snap.join(format!(
        "p{:04}",
        ringpost::placement::Partition::of(A).index()
    ));
    let mut names: Vec<String> = std::fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["accounts", "checkpoint", "seg-00000001.log"]);
    assert_eq!(std::fs::read_dir(part.join("accounts")).unwrap().count(), 1);
}
