//! The expunge log QRESYNC reads (RFC 7162 §3.2.5): every expunge bumps HIGHESTMODSEQ and is
//! remembered with its modseq, across a recovery from the log alone and across a clean
//! restart from the index files; UNCHANGEDSINCE is decided by the store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ringpost::mail::{FlagMode, Flags, ModSeq, SystemFlags, Uid, UidRange, Vanished};
use ringpost::runtime::{ShardId, ShardMap};
use ringpost::store::Store;

mod store_support;
use store_support::{run, small};

const A: &str = "alice@example.com";

fn r(a: u32, b: u32) -> UidRange {
    UidRange::new(Uid(a), Uid(b))
}

/// What the log says since `base` and since the first expunge, and HIGHESTMODSEQ.
async fn observe(store: &Store, base: ModSeq, after_first: ModSeq) -> (Vanished, Vanished, u64) {
    let all = [r(1, 100)];
    let since_base = store.vanished_since(A, "INBOX", base, &all).await.unwrap();
    let since_first = store
        .vanished_since(A, "INBOX", after_first, &all)
        .await
        .unwrap();
    let hms = store.status(A, "INBOX").await.unwrap().highest_modseq.0;
    (since_base, since_first, hms)
}

#[test]
fn the_expunge_log_survives_recovery_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let (r2, r3) = (root.clone(), root.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        store.open_account(A).await.unwrap();
        for i in 0..6 {
            let body = format!("Subject: {i}\r\n\r\nx\r\n");
            store
                .append(A, "INBOX", body.as_bytes(), Flags::default(), 0)
                .await
                .unwrap();
        }
        let base = store.status(A, "INBOX").await.unwrap().highest_modseq;
        store
            .expunge(A, "INBOX", Some(&[Uid(2), Uid(3)]))
            .await
            .unwrap();
        let after_first = store.status(A, "INBOX").await.unwrap().highest_modseq;
        assert_eq!(
            after_first,
            ModSeq(base.0 + 1),
            "an expunge bumps HIGHESTMODSEQ"
        );
        // MOVE removes from the source: an expunge too.
        store
            .move_messages(A, "INBOX", &[Uid(5)], "Archive")
            .await
            .unwrap();
        // A conditional STORE with a modseq older than UID 4's change leaves it alone.
        store
            .set_flags(
                A,
                "INBOX",
                &[Uid(4)],
                FlagMode::Add,
                Flags::system(SystemFlags::SEEN),
            )
            .await
            .unwrap();
        let stored = store
            .update_flags(
                A,
                "INBOX",
                &[Uid(1), Uid(4)],
                FlagMode::Add,
                Flags::system(SystemFlags::FLAGGED),
                Some(base),
            )
            .await
            .unwrap();
        assert_eq!(stored.modified, [Uid(4)]);
        assert_eq!(stored.changed.len(), 1);
        assert_eq!(stored.changed[0].0, Uid(1));
        let seen = observe(&store, base, after_first).await;
        assert_eq!(seen.0, Vanished::Since(vec![r(2, 3), r(5, 5)]));
        assert_eq!(seen.1, Vanished::Since(vec![r(5, 5)]));
        let changed: Vec<Uid> = store
            .changed_since(A, "INBOX", after_first)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(changed, [Uid(1), Uid(4)]);
        tx.send((base, after_first, seen)).unwrap();
        // No close(): the next start recovers from the log alone.
    });
    let (base, after_first, seen) = rx.recv().unwrap();
    let expected = seen.clone();
    run(move || async move {
        let store = Store::new(&r2, ShardId(0), ShardMap::new(1), small());
        assert_eq!(observe(&store, base, after_first).await, expected);
        // A clean stop writes the index files; the next start reads them.
        store.close().await.unwrap();
    });
    run(move || async move {
        let store = Store::new(&r3, ShardId(0), ShardMap::new(1), small());
        assert_eq!(observe(&store, base, after_first).await, seen);
        let fresh = store.status(A, "INBOX").await.unwrap().highest_modseq;
        assert_eq!(
            store
                .vanished_since(A, "INBOX", fresh, &[r(1, 100)])
                .await
                .unwrap(),
            Vanished::Since(vec![])
        );
        store.close().await.unwrap();
    });
}
