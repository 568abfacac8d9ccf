//! Compaction: expunged bytes are reclaimed (segment files disappear, bytes on disk shrink),
//! every remaining message reads back byte-identical before and after, and across a reopen;
//! copies sharing one body stay correct; background compaction starts by itself once the
//! configured ratio is reached.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use ringpost::mail::{Flags, Uid};
use ringpost::runtime::{ShardId, ShardMap};
use ringpost::store::{Store, StoreConfig};

mod store_support;
use store_support::run;

const A: &str = "alice@example.com";

fn config(ratio: f64) -> StoreConfig {
    StoreConfig {
        segment_size: 64 << 10,
        compact_dead_ratio: ratio,
        ..StoreConfig::default()
    }
}

fn msg(i: u32) -> Vec<u8> {
    let mut m = format!("From: s{i}@x.org\r\nSubject: m{i}\r\n\r\n").into_bytes();
    let len = 1500 + (i as usize * 389) % 2500;
    m.extend((0..len).map(|k| b'a' + ((k as u32 + i) % 26) as u8));
    m
}

/// (segment files, their bytes on disk) under `root`.
fn segment_files(root: &Path) -> (usize, u64) {
    let mut n = 0;
    let mut bytes = 0;
    for part in std::fs::read_dir(root).unwrap() {
        for f in std::fs::read_dir(part.unwrap().path()).unwrap() {
            let f = f.unwrap();
            let name = f.file_name().to_string_lossy().into_owned();
            if name.starts_with("seg-") && name.ends_with(".log") {
                n += 1;
                bytes += f.metadata().unwrap().len();
            }
        }
    }
    (n, bytes)
}

async fn all_messages(store: &Store, mailbox: &str) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    for e in store
        .messages(A, mailbox, Uid(1)..=Uid(u32::MAX))
        .await
        .unwrap()
    {
        let body = store.read(A, mailbox, e.uid).await.unwrap();
        out.push((e.uid.0, body.to_vec()));
    }
    out
}

#[test]
fn compaction_reclaims_space_and_keeps_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let r2 = root.clone();
    let expect = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = expect.clone();
    run(move || async move {
        // Background compaction off: this test drives it by hand.
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), config(2.0));
        store.open_account(A).await.unwrap();
        for i in 1..=120u32 {
            let uid = store
                .append(A, "INBOX", &msg(i), Flags::default(), 1_000 + i64::from(i))
                .await
                .unwrap();
            assert_eq!(uid, Uid(i));
        }
        // Keep every third message, and a copy of some kept ones (shared bytes).
        let gone: Vec<Uid> = (1..=120u32).filter(|i| i % 3 != 0).map(Uid).collect();
        store
            .copy(A, "INBOX", &[Uid(3), Uid(30), Uid(99)], "Archive")
            .await
            .unwrap();
        assert_eq!(
            store.expunge(A, "INBOX", Some(&gone)).await.unwrap().len(),
            gone.len()
        );
        let before = all_messages(&store, "INBOX").await;
        let archived = all_messages(&store, "Archive").await;
        assert_eq!(before.len(), 40);
        assert_eq!(archived.len(), 3);
        let (files_before, bytes_before) = segment_files(&root);
        assert!(files_before >= 6, "{files_before} segments");
        assert_eq!(store.segment_bytes(), bytes_before);

        let report = store.compact(0.3).await.unwrap();
        assert!(report.deleted >= 4, "{report:?}");
        assert!(report.moved_bytes > 0);
        let (files_after, bytes_after) = segment_files(&root);
        // Live bytes went to new segments: fewer files, and fewer bytes, remain.
        assert!(
            files_after < files_before,
            "{files_after} >= {files_before}"
        );
        assert!(
            bytes_after * 3 <= bytes_before * 2,
            "{bytes_after} is over two thirds of {bytes_before}"
        );
        assert_eq!(store.segment_bytes(), bytes_after);
        assert_eq!(all_messages(&store, "INBOX").await, before);
        assert_eq!(all_messages(&store, "Archive").await, archived);
        // Ranges read from the new place too.
        let part = store.read_range(A, "INBOX", Uid(30), 10, 20).await.unwrap();
        assert_eq!(&*part, &msg(30)[10..30]);
        // Still writable, and UIDs go on.
        assert_eq!(
            store
                .append(A, "INBOX", &msg(121), Flags::default(), 0)
                .await
                .unwrap(),
            Uid(121)
        );
        // Segments of live messages are left alone.
        let again = store.compact(0.9).await.unwrap();
        assert_eq!(again.deleted, 0, "{again:?}");
        let mut out = out.lock().unwrap();
        out.push(before);
        out.push(archived);
    });
    // No close(): the reopen recovers from the checkpoint and the log.
    let (mut inbox, archived) = {
        let mut e = expect.lock().unwrap();
        (e.remove(0), e.remove(0))
    };
    inbox.push((121, msg(121)));
    run(move || async move {
        let store = Store::new(&r2, ShardId(0), ShardMap::new(1), config(2.0));
        assert_eq!(all_messages(&store, "INBOX").await, inbox);
        assert_eq!(all_messages(&store, "Archive").await, archived);
        let st = store.status(A, "INBOX").await.unwrap();
        assert_eq!(st.uid_next, Uid(122));
        assert_eq!(st.messages, 41);
    });
}

#[test]
fn compacting_everything_keeps_a_fully_live_store_identical() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), config(2.0));
        store.open_account(A).await.unwrap();
        for i in 1..=40u32 {
            store
                .append(A, "INBOX", &msg(i), Flags::default(), 0)
                .await
                .unwrap();
        }
        let before = all_messages(&store, "INBOX").await;
        let (files_before, _) = segment_files(&root);
        // Ratio 0: every sealed segment moves, even without dead bytes.
        let r = store.compact(0.0).await.unwrap();
        assert!(r.deleted as usize >= files_before - 2, "{r:?}");
        assert_eq!(all_messages(&store, "INBOX").await, before);
        store.close().await.unwrap();
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), config(2.0));
        assert_eq!(all_messages(&store, "INBOX").await, before);
    });
}

#[test]
fn background_compaction_starts_at_the_configured_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), config(0.5));
        store.open_account(A).await.unwrap();
        for i in 1..=60u32 {
            store
                .append(A, "INBOX", &msg(i), Flags::default(), 0)
                .await
                .unwrap();
        }
        let (files_before, _) = segment_files(&root);
        let gone: Vec<Uid> = (1..=50u32).map(Uid).collect();
        store.expunge(A, "INBOX", Some(&gone)).await.unwrap();
        let kept = all_messages(&store, "INBOX").await;
        // The batch that applied the expunge started it; give it a bounded time.
        let mut waited = 0;
        while segment_files(&root).0 >= files_before && waited < 5_000 {
            glommio::timer::sleep(Duration::from_millis(10)).await;
            waited += 10;
        }
        assert!(
            segment_files(&root).0 < files_before,
            "no segment reclaimed in 5 s"
        );
        assert_eq!(all_messages(&store, "INBOX").await, kept);
        store.close().await.unwrap();
    });
}

/// A deleted account's mail, purged: the account is gone (and stays gone after a reopen),
/// compaction reclaims its bytes, and another account whose messages share its segments
/// keeps every byte. The key is a deleted incarnation's (`address#incarnation`).
#[test]
fn a_purged_account_is_empty_and_its_space_is_reclaimed() {
    const GONE: &str = "bob@example.com#0123456789abcdef";
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let r2 = root.clone();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), config(2.0));
        for i in 1..=90u32 {
            // Two of every three messages are the purged account's.
            let account = if i % 3 == 0 { A } else { GONE };
            store.open_account(account).await.unwrap();
            store
                .append(account, "INBOX", &msg(i), Flags::default(), 0)
                .await
                .unwrap();
        }
        let kept = all_messages(&store, "INBOX").await;
        assert_eq!(kept.len(), 30);
        let (_, bytes_before) = segment_files(&root);

        assert!(store.purge_account(GONE).await.unwrap());
        assert!(!store.account_exists(GONE).await.unwrap());
        assert!(store.list_mailboxes(GONE).await.unwrap().is_empty());
        assert!(store.status(GONE, "INBOX").await.is_err());
        // Purging again finds nothing.
        assert!(!store.purge_account(GONE).await.unwrap());

        let report = store.compact(0.3).await.unwrap();
        assert!(report.deleted >= 2, "{report:?}");
        let (_, bytes_after) = segment_files(&root);
        assert!(
            bytes_after * 3 <= bytes_before * 2,
            "{bytes_after} is over two thirds of {bytes_before}"
        );
        assert_eq!(all_messages(&store, "INBOX").await, kept);
    });
    run(move || async move {
        let store = Store::new(&r2, ShardId(0), ShardMap::new(1), config(2.0));
        assert!(!store.account_exists(GONE).await.unwrap());
        assert!(store.list_mailboxes(GONE).await.unwrap().is_empty());
        assert_eq!(all_messages(&store, "INBOX").await.len(), 30);
    });
}
