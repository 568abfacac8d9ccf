//! IMAP `\Recent` in the store (RFC 3501 §2.3.2): which messages a SELECT claims, what
//! EXAMINE and STATUS see, and that the claims live in memory only. Also the keywords a
//! SELECT snapshot lists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ringpost::mail::{Change, FlagMode, Flags, Keyword, Recent, SystemFlags, Uid};
use ringpost::runtime::{ShardId, ShardMap};
use ringpost::store::Store;

mod store_support;
use store_support::{run, small};

const A: &str = "alice@example.com";

fn msg(i: u32) -> Vec<u8> {
    format!("From: s{i}@x.org\r\nSubject: message {i}\r\n\r\nbody {i}\r\n").into_bytes()
}

async fn deliver(store: &Store, i: u32) -> Uid {
    store
        .deliver_local(&[A.to_string()], &msg(i), 1_700_000_000)
        .await
        .unwrap()[0]
}

async fn status_recent(store: &Store, mailbox: &str) -> u32 {
    store.status(A, mailbox).await.unwrap().recent
}

/// Mail from before a restart is not recent; mail delivered since is recent to the first
/// SELECT, not to the second, and EXAMINE sees it without claiming it.
#[test]
fn deliveries_after_start_are_recent_to_the_first_select_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let r2 = root.clone();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        assert_eq!(deliver(&store, 1).await, Uid(1));
        assert_eq!(deliver(&store, 2).await, Uid(2));
        assert_eq!(status_recent(&store, "INBOX").await, 2);
        store.close().await.unwrap();
    });
    run(move || async move {
        // Claims are memory only: after a restart nothing is recent.
        let store = Store::new(&r2, ShardId(0), ShardMap::new(1), small());
        assert_eq!(status_recent(&store, "INBOX").await, 0);
        let (feed, s) = store.select(A, "INBOX", Recent::Claim).await.unwrap();
        assert_eq!((s.messages(), s.recent), (2, None));
        drop(feed);

        assert_eq!(deliver(&store, 3).await, Uid(3));
        assert_eq!(deliver(&store, 4).await, Uid(4));
        assert_eq!(status_recent(&store, "INBOX").await, 2);

        // EXAMINE sees them as recent and leaves them so (RFC 3501 §6.3.2).
        let (examine, s) = store.select(A, "INBOX", Recent::Peek).await.unwrap();
        assert_eq!((s.messages(), s.recent), (4, Some(Uid(3))));
        assert_eq!(
            store.snapshot(A, "INBOX").await.unwrap().recent,
            Some(Uid(3))
        );
        assert_eq!(status_recent(&store, "inbox").await, 2);

        // The first SELECT claims them; the second sees none.
        let (first, s) = store.select(A, "INBOX", Recent::Claim).await.unwrap();
        assert_eq!(s.recent, Some(Uid(3)));
        assert_eq!(status_recent(&store, "INBOX").await, 0);
        let (second, s) = store.select(A, "INBOX", Recent::Claim).await.unwrap();
        assert_eq!((s.messages(), s.recent), (4, None));
        drop(second);

        // Arrivals while a claiming session watches are that session's.
        let mut first = first;
        assert_eq!(deliver(&store, 5).await, Uid(5));
        assert_eq!(first.try_recv().unwrap(), Change::Exists { uid: Uid(5) });
        assert_eq!(status_recent(&store, "INBOX").await, 0);
        let (third, s) = store.select(A, "INBOX", Recent::Claim).await.unwrap();
        assert_eq!(s.recent, None);
        drop(third);

        // Once it has gone (UNSELECT, logout), the next arrival waits for the next SELECT,
        // whatever EXAMINE sessions watch.
        drop(first);
        assert_eq!(deliver(&store, 6).await, Uid(6));
        let mut examine = examine;
        assert_eq!(examine.try_recv().unwrap(), Change::Exists { uid: Uid(5) });
        assert_eq!(examine.try_recv().unwrap(), Change::Exists { uid: Uid(6) });
        assert_eq!(status_recent(&store, "INBOX").await, 1);
        let (_fourth, s) = store.select(A, "INBOX", Recent::Claim).await.unwrap();
        assert_eq!((s.messages(), s.recent), (6, Some(Uid(6))));
        assert_eq!(status_recent(&store, "INBOX").await, 0);
        store.close().await.unwrap();
    });
}

/// A copy is a new message of its target: recent there until a SELECT claims it; expunged
/// unclaimed messages no longer count; a deleted mailbox forgets its claims.
#[test]
fn copies_are_recent_in_the_target_and_expunges_leave_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        store.open_account(A).await.unwrap();
        store.create_mailbox(A, "Work").await.unwrap();
        for i in 1..=3 {
            deliver(&store, i).await;
        }
        let pairs = store
            .copy(A, "INBOX", &[Uid(1), Uid(2)], "Work")
            .await
            .unwrap();
        assert_eq!(pairs, vec![(Uid(1), Uid(1)), (Uid(2), Uid(2))]);
        assert_eq!(status_recent(&store, "Work").await, 2);
        assert_eq!(status_recent(&store, "INBOX").await, 3);

        store.expunge(A, "INBOX", Some(&[Uid(1)])).await.unwrap();
        assert_eq!(status_recent(&store, "INBOX").await, 2);
        let (_feed, s) = store.select(A, "INBOX", Recent::Claim).await.unwrap();
        assert_eq!((s.messages(), s.recent), (2, Some(Uid(1))));

        store.delete_mailbox(A, "Work").await.unwrap();
        store.create_mailbox(A, "Work").await.unwrap();
        assert_eq!(status_recent(&store, "Work").await, 0);
        store.close().await.unwrap();
    });
}

/// The snapshot lists each keyword in use once, sorted, whatever messages carry it.
#[test]
fn snapshot_lists_the_keywords_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        for i in 1..=4 {
            deliver(&store, i).await;
        }
        let (_feed, s) = store.select(A, "INBOX", Recent::Peek).await.unwrap();
        assert!(s.keywords.is_empty());
        let kw = |k: &[&str]| {
            Flags::new(
                SystemFlags::SEEN,
                k.iter().map(|s| Keyword::new(s).unwrap()),
            )
        };
        let set = |uids: Vec<Uid>, flags: Flags| {
            let store = store.clone();
            async move {
                store
                    .set_flags(A, "INBOX", &uids, FlagMode::Add, flags)
                    .await
                    .unwrap();
            }
        };
        set(vec![Uid(1), Uid(3)], kw(&["$Label1", "Junk"])).await;
        set(vec![Uid(4)], kw(&["$Forwarded", "$Label1"])).await;
        let (_feed, s) = store.select(A, "INBOX", Recent::Peek).await.unwrap();
        assert_eq!(s.keywords, vec!["$Forwarded", "$Label1", "Junk"]);
        // A keyword no message carries any more is not listed.
        store
            .set_flags(A, "INBOX", &[Uid(4)], FlagMode::Replace, Flags::default())
            .await
            .unwrap();
        let s = store.snapshot(A, "INBOX").await.unwrap();
        assert_eq!(s.keywords, vec!["$Label1", "Junk"]);
        store.close().await.unwrap();
    });
}
