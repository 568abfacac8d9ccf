//! The store end to end on one shard: mailboxes, appends, flags, copy/move, expunge, reads,
//! watchers, recovery after a reopen, and account isolation on one partition.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ringpost::mail::{Change, FlagMode, Flags, ModSeq, SystemFlags, Uid};
use ringpost::runtime::{Partition, ShardId, ShardMap};
use ringpost::store::{SearchKey, Store, StoreConfig, StoreError};

mod store_support;
use store_support::{run, small};

fn msg(i: usize) -> Vec<u8> {
    format!(
        "From: s{i}@x.org\r\nSubject: message {i}\r\n\r\nbody {i}\r\n{}\r\n",
        "z".repeat(i * 7)
    )
    .into_bytes()
}

#[test]
fn mailboxes_messages_flags_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let r2 = root.clone();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        let a = "alice@example.com";
        store.open_account(a).await.unwrap();
        let names: Vec<_> = store
            .list_mailboxes(a)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.name, m.special.map(|s| s.attribute())))
            .collect();
        assert_eq!(
            names,
            vec![
                ("Archive".to_string(), Some("\\Archive")),
                ("Drafts".to_string(), Some("\\Drafts")),
                ("INBOX".to_string(), None),
                ("Junk".to_string(), Some("\\Junk")),
                ("Sent".to_string(), Some("\\Sent")),
                ("Trash".to_string(), Some("\\Trash")),
            ]
        );
        let mut watch = store.watch(a, "INBOX").await.unwrap();
        for i in 0..20 {
            let uid = store
                .append(a, "inbox", &msg(i), Flags::default(), 1000 + i as i64)
                .await
                .unwrap();
            assert_eq!(uid, Uid(i as u32 + 1));
        }
        assert_eq!(watch.try_recv().unwrap(), Change::Exists { uid: Uid(1) });
        assert_eq!(&*store.read(a, "INBOX", Uid(5)).await.unwrap(), &msg(4)[..]);
        assert_eq!(
            &*store.read_range(a, "INBOX", Uid(5), 6, 7).await.unwrap(),
            &msg(4)[6..13]
        );
        assert_eq!(
            &*store
                .read_range(a, "INBOX", Uid(5), 1 << 20, 7)
                .await
                .unwrap(),
            b""
        );
        let changed = store
            .set_flags(
                a,
                "INBOX",
                &[Uid(2), Uid(3), Uid(99)],
                FlagMode::Add,
                Flags::system(SystemFlags::DELETED),
            )
            .await
            .unwrap();
        assert_eq!(
            changed.iter().map(|c| c.0).collect::<Vec<_>>(),
            vec![Uid(2), Uid(3)]
        );
        let st = store.status(a, "INBOX").await.unwrap();
        assert_eq!(
            (st.messages, st.deleted, st.unseen, st.uid_next),
            (20, 2, 20, Uid(21))
        );
        assert_eq!(
            store.expunge(a, "INBOX", None).await.unwrap(),
            vec![Uid(2), Uid(3)]
        );
        assert_eq!(
            store
                .copy(a, "INBOX", &[Uid(1), Uid(2), Uid(4)], "Archive")
                .await
                .unwrap(),
            vec![(Uid(1), Uid(1)), (Uid(4), Uid(2))]
        );
        assert_eq!(
            store
                .move_messages(a, "INBOX", &[Uid(5)], "Trash")
                .await
                .unwrap(),
            vec![(Uid(5), Uid(1))]
        );
        assert_eq!(&*store.read(a, "Trash", Uid(1)).await.unwrap(), &msg(4)[..]);
        assert!(matches!(
            store.read(a, "INBOX", Uid(5)).await,
            Err(StoreError::NoSuchMessage)
        ));
        store.create_mailbox(a, "Work").await.unwrap();
        store.create_mailbox(a, "Work/2024").await.unwrap();
        store.rename_mailbox(a, "Work", "Jobs").await.unwrap();
        assert!(store.mailbox_id(a, "Jobs/2024").await.is_ok());
        assert!(matches!(
            store.create_mailbox(a, "Jobs").await,
            Err(StoreError::MailboxExists)
        ));
        store
            .subscribe(a, "Jobs", ringpost::mail::Subscription::Subscribed)
            .await
            .unwrap();
        store.delete_mailbox(a, "Drafts").await.unwrap();
        assert!(matches!(
            store.delete_mailbox(a, "INBOX").await,
            Err(StoreError::InboxIsPermanent)
        ));
        assert_eq!(
            store
                .search(a, "INBOX", &SearchKey::Subject("message 1".into()))
                .await
                .unwrap(),
            // Subjects "message 1" and "message 10".."message 19" are UIDs 2 and 11..=20;
            // UID 2 was expunged.
            (11..=20).map(Uid).collect::<Vec<_>>()
        );
        let size = store.account_size(a).await.unwrap();
        let expect: u64 = (0..20)
            .filter(|i| *i != 1 && *i != 2)
            .map(|i| msg(i).len() as u64)
            .sum::<u64>()
            + msg(0).len() as u64
            + msg(3).len() as u64;
        assert_eq!(size, expect);
        // No close(): the reopen below recovers from the log alone.
    });
    // Reopen in a new executor: everything is back from the log.
    run(move || async move {
        let store = Store::new(&r2, ShardId(0), ShardMap::new(1), small());
        let a = "alice@example.com";
        let st = store.status(a, "INBOX").await.unwrap();
        assert_eq!((st.messages, st.uid_next), (17, Uid(21)));
        assert_eq!(
            &*store.read(a, "INBOX", Uid(20)).await.unwrap(),
            &msg(19)[..]
        );
        // The default mailboxes start subscribed; deleting Drafts keeps its subscription
        // (RFC 9051 §6.3.4: a subscription may name a mailbox that does not exist).
        assert_eq!(
            store.subscriptions(a).await.unwrap(),
            ["Archive", "Drafts", "INBOX", "Jobs", "Junk", "Sent", "Trash"]
        );
        assert!(store.mailbox_id(a, "Drafts").await.is_err());
        // UIDs continue after the last one, never reused.
        assert_eq!(
            store
                .append(a, "INBOX", b"x", Flags::default(), 0)
                .await
                .unwrap(),
            Uid(21)
        );
        store.close().await.unwrap();
    });
}

/// Many accounts on the same partition: nothing of one is ever visible to another.
#[test]
fn accounts_on_one_partition_are_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let target = Partition::of("user0@example.com");
        let accounts: Vec<String> = (0..200_000)
            .map(|i| format!("user{i}@example.com"))
            .filter(|a| Partition::of(a) == target)
            .take(40)
            .collect();
        assert_eq!(accounts.len(), 40);
        let store = Store::new(
            &root,
            ShardId(0),
            ShardMap::new(1),
            StoreConfig {
                max_loaded_accounts: 8,
                ..small()
            },
        );
        for (n, a) in accounts.iter().enumerate() {
            for i in 0..=n % 5 {
                let body = format!("From: {a}\r\nSubject: secret of {a} #{i}\r\n\r\n{a}\r\n");
                store
                    .deliver_local(std::slice::from_ref(a), body.as_bytes(), 0)
                    .await
                    .unwrap();
            }
        }
        // Evictions happened (at most 8 idle indexes stay loaded) and nothing leaked.
        assert!(store.loaded_accounts() <= 9, "{}", store.loaded_accounts());
        for (n, a) in accounts.iter().enumerate() {
            let list = store
                .messages(a, "INBOX", Uid(1)..=Uid(u32::MAX))
                .await
                .unwrap();
            assert_eq!(list.len(), n % 5 + 1);
            for e in &list {
                let bytes = store.read(a, "INBOX", e.uid).await.unwrap();
                assert!(bytes.ends_with(format!("\r\n\r\n{a}\r\n").as_bytes()));
                assert_eq!(
                    e.summary
                        .envelope
                        .subject
                        .as_deref()
                        .unwrap()
                        .split(' ')
                        .nth(2),
                    Some(a.as_str())
                );
            }
            for other in accounts.iter().filter(|o| *o != a) {
                assert_eq!(
                    store
                        .search(a, "INBOX", &SearchKey::Subject(format!("of {other} ")))
                        .await
                        .unwrap(),
                    vec![]
                );
            }
            assert!(matches!(
                store.read(a, "INBOX", Uid(7)).await,
                Err(StoreError::NoSuchMessage)
            ));
        }
        assert!(
            !store
                .account_exists("nobody@example.com")
                .await
                .unwrap_or(true)
                || !store.owns("nobody@example.com")
        );
    });
}

/// SELECT of a 100,000-message mailbox reads UID runs and counts, never per-message data:
/// the snapshot of a mailbox with two gaps is three runs.
#[test]
fn snapshot_of_a_100000_message_mailbox_is_uid_runs_and_counts() {
    const N: u32 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), StoreConfig::default());
        let a = "big@example.com";
        store.open_account(a).await.unwrap();
        // Appends in flight together share a commit, as in an import.
        let mut window = std::collections::VecDeque::new();
        for i in 1..=N {
            let flags = if i == 70_000 {
                Flags::default()
            } else {
                Flags::system(SystemFlags::SEEN)
            };
            let store = store.clone();
            window.push_back(glommio::spawn_local(async move {
                let body = format!("Subject: {i}\r\n\r\n{i}\r\n");
                store
                    .append(a, "INBOX", body.as_bytes(), flags, 1_700_000_000)
                    .await
            }));
            if window.len() >= 512 {
                window.pop_front().unwrap().await.unwrap();
            }
        }
        while let Some(t) = window.pop_front() {
            t.await.unwrap();
        }
        assert_eq!(
            store
                .expunge(a, "INBOX", Some(&[Uid(10), Uid(50_000)]))
                .await
                .unwrap(),
            vec![Uid(10), Uid(50_000)]
        );
        let s = store.snapshot(a, "INBOX").await.unwrap();
        let runs: Vec<(u32, u32)> = s.uids.iter().map(|r| (r.first.0, r.count)).collect();
        assert_eq!(runs, vec![(1, 9), (11, 49_989), (50_001, 50_000)]);
        assert_eq!(s.messages(), N - 2);
        // UID 70000 is the 69,998th message once two before it are gone.
        assert_eq!(s.first_unseen, Some(69_998));
        assert_eq!(s.uid_next, Uid(N + 1));
        let st = store.status(a, "INBOX").await.unwrap();
        assert_eq!(s.highest_modseq, st.highest_modseq);
        // Per-message data is read by batch when a command needs it.
        let meta = store
            .message_meta(a, "INBOX", &[Uid(N), Uid(10), Uid(70_000)])
            .await
            .unwrap();
        let got: Vec<(Uid, bool)> = meta
            .iter()
            .map(|m| (m.uid, m.flags.system.contains(SystemFlags::SEEN)))
            .collect();
        assert_eq!(got, vec![(Uid(70_000), false), (Uid(N), true)]);
    });
}

/// STORE with UNCHANGEDSINCE: the store refuses what changed since, leaves alone what
/// would not change (writing nothing for it), and reports both.
#[test]
fn conditional_flag_update_reports_changed_unchanged_and_modified() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        let a = "carol@example.com";
        store.open_account(a).await.unwrap();
        for i in 0..3 {
            store
                .append(a, "INBOX", &msg(i), Flags::default(), 1000)
                .await
                .unwrap();
        }
        let seen = Flags::system(SystemFlags::SEEN);
        let limit = store.status(a, "INBOX").await.unwrap().highest_modseq;
        store
            .set_flags(a, "INBOX", &[Uid(2)], FlagMode::Add, seen.clone())
            .await
            .unwrap();
        store
            .set_flags(a, "INBOX", &[Uid(3)], FlagMode::Add, seen.clone())
            .await
            .unwrap();
        let before = store.status(a, "INBOX").await.unwrap().highest_modseq;
        // Nothing would change: no record, no modseq.
        let update = store
            .update_flags(
                a,
                "INBOX",
                &[Uid(3), Uid(9)],
                FlagMode::Add,
                seen.clone(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(update.changed, vec![]);
        assert_eq!(update.unchanged, vec![(Uid(3), seen.clone(), before)]);
        assert_eq!(
            store.status(a, "INBOX").await.unwrap().highest_modseq,
            before
        );
        let update = store
            .update_flags(
                a,
                "INBOX",
                &[Uid(1), Uid(2), Uid(3)],
                FlagMode::Add,
                Flags::system(SystemFlags::FLAGGED),
                Some(limit),
            )
            .await
            .unwrap();
        let flagged = Flags::system(SystemFlags::FLAGGED);
        assert_eq!(
            update.changed,
            vec![(Uid(1), flagged, ModSeq(before.0 + 1))]
        );
        assert_eq!(update.modified, vec![Uid(2), Uid(3)]);
        assert_eq!(update.unchanged, vec![]);
    });
}

/// A message received as a stream is framed in its own buffer and written from there; it
/// shares batches with ordinary appends (before and after it in the log), reads back byte
/// for byte, survives a reopen (recovery replays its record), and a stream that is dropped
/// leaves nothing.
#[test]
fn streamed_appends_share_batches_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let r2 = root.clone();
    let big = |n: usize, seed: u8| -> Vec<u8> {
        let mut m = format!("Subject: big {n}\r\n\r\n").into_bytes();
        m.extend((0..n).map(|i| b'a' + ((i as u8).wrapping_add(seed)) % 26));
        m
    };
    let expected: Vec<Vec<u8>> = vec![
        msg(1),
        big(300_000, 1),
        msg(2),
        big(5 << 20, 2),
        big(4096 * 3 - 20, 3),
        msg(3),
    ];
    let written = expected.clone();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        let a = "alice@example.com";
        store.open_account(a).await.unwrap();
        // A dropped stream: nothing reserved, nothing written.
        let mut dropped = store.begin_append(1000).unwrap();
        dropped.write(&[b'x'; 500]).unwrap();
        drop(dropped);
        // All queued before the committer runs: one batch mixes both kinds.
        let mut tasks = Vec::new();
        for (i, m) in written.into_iter().enumerate() {
            let store = store.clone();
            tasks.push(glommio::spawn_local(async move {
                if m.len() > 100_000 {
                    let mut s = store.begin_append(m.len()).unwrap();
                    for chunk in m.chunks(16 << 10) {
                        s.write(chunk).unwrap();
                    }
                    store
                        .append_stream(a, "INBOX", s, Flags::default(), i as i64)
                        .await
                        .unwrap()
                } else {
                    store
                        .append(a, "INBOX", &m, Flags::default(), i as i64)
                        .await
                        .unwrap()
                }
            }));
        }
        let mut uids = Vec::new();
        for t in tasks {
            uids.push(t.await);
        }
        let mut sorted = uids.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=6).map(Uid).collect::<Vec<_>>());
        let too_big = store.begin_append(64 << 20 | 1);
        assert!(matches!(too_big, Err(StoreError::TooLarge(_))));
        let incomplete = store.begin_append(10).unwrap();
        assert!(store
            .append_stream(a, "INBOX", incomplete, Flags::default(), 0)
            .await
            .is_err());
        let status = store.status(a, "INBOX").await.unwrap();
        assert_eq!(status.messages, 6);
        store.close().await.unwrap();
        // Keep the UIDs in the order of `expected` for the reopen.
        std::fs::write(
            root.join("uids"),
            uids.iter()
                .map(|u| u.0.to_string())
                .collect::<Vec<_>>()
                .join(","),
        )
        .unwrap();
    });
    let expected2 = expected.clone();
    run(move || async move {
        let uids: Vec<u32> = std::fs::read_to_string(r2.join("uids"))
            .unwrap()
            .split(',')
            .map(|s| s.parse().unwrap())
            .collect();
        // Remove the index files and checkpoint: recovery replays every record.
        let p = std::fs::read_dir(&r2)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
            .unwrap();
        std::fs::remove_file(p.join("checkpoint")).unwrap();
        for f in std::fs::read_dir(p.join("accounts")).unwrap() {
            std::fs::remove_file(f.unwrap().path()).unwrap();
        }
        let store = Store::new(&r2, ShardId(0), ShardMap::new(1), small());
        let a = "alice@example.com";
        assert_eq!(store.status(a, "INBOX").await.unwrap().messages, 6);
        for (uid, m) in uids.iter().zip(&expected2) {
            let body = store.read(a, "INBOX", Uid(*uid)).await.unwrap();
            assert_eq!(body.len(), m.len());
            assert!(*body == m[..], "message {uid} differs after the reopen");
        }
        let subject = store
            .messages(a, "INBOX", Uid(uids[3])..=Uid(uids[3]))
            .await
            .unwrap()[0]
            .summary
            .envelope
            .subject
            .clone();
        assert_eq!(subject.as_deref(), Some(&*format!("big {}", 5 << 20)));
    });
}

/// A FETCH batch as the driver runs it: index data alone never reads a body; bodies are
/// read together and handed out as slices of the read buffers, up to the batch's byte
/// budget, and the UIDs past it come back as `rest`, in order, for the next batch.
#[test]
fn fetch_batches_stop_at_the_byte_budget_and_read_bodies_only_when_asked() {
    use ringpost::mailbox::{Content, MailboxReply, MailboxRequest, BATCH_BYTES};
    use ringpost::runtime::service::mailbox::Access;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), StoreConfig::default());
        let a = "dora@example.com";
        store.open_account(a).await.unwrap();
        // Five messages of 1.5 MiB between small ones: a 4 MiB budget takes two big ones.
        let big = |i: usize| {
            let mut m = format!("Subject: big {i}\r\n\r\n").into_bytes();
            m.extend((0..3 << 19).map(|j| b'a' + ((i + j) % 26) as u8));
            m
        };
        let mut written = Vec::new();
        for i in 0..8 {
            let m = if (2..7).contains(&i) { big(i) } else { msg(i) };
            store
                .append(a, "INBOX", &m, Flags::default(), 1000)
                .await
                .unwrap();
            written.push(m);
        }
        let uids: Vec<Uid> = (1..=8).map(Uid).collect();
        let mut access = Access::new(a.to_string());
        let fetch = |content| MailboxRequest::Fetch {
            mailbox: "INBOX".into(),
            uids: uids.clone(),
            content,
        };
        let MailboxReply::Fetched { messages, rest, .. } =
            access.execute(&store, fetch(Content::Metadata)).await
        else {
            panic!("no batch");
        };
        assert_eq!(messages.len(), 8);
        assert!(rest.is_empty());
        assert!(messages.iter().all(|m| m.bytes.is_none()));
        assert_eq!(messages[3].meta.size as usize, written[3].len());

        let mut left = uids.clone();
        let mut batches = Vec::new();
        while !left.is_empty() {
            let request = MailboxRequest::Fetch {
                mailbox: "INBOX".into(),
                uids: left.clone(),
                content: Content::Bytes,
            };
            let MailboxReply::Fetched { messages, rest, .. } =
                access.execute(&store, request).await
            else {
                panic!("no batch");
            };
            let bytes: u64 = messages.iter().map(|m| u64::from(m.meta.size)).sum();
            assert!(bytes <= BATCH_BYTES || messages.len() == 1, "{bytes}");
            for m in &messages {
                let i = m.meta.uid.0 as usize - 1;
                assert!(
                    m.bytes.as_ref().unwrap()[..] == written[i][..],
                    "message {i}"
                );
            }
            batches.push(messages.iter().map(|m| m.meta.uid.0).collect::<Vec<_>>());
            left = rest;
        }
        assert_eq!(batches, vec![vec![1, 2, 3, 4], vec![5, 6], vec![7, 8]]);

        let MailboxReply::Fetched { messages, rest, .. } =
            access.execute(&store, fetch(Content::Header)).await
        else {
            panic!("no batch");
        };
        assert!(rest.is_empty());
        assert_eq!(
            &messages[4].bytes.as_ref().unwrap()[..],
            b"Subject: big 4\r\n\r\n"
        );
    });
}

/// Annotations (RFC 5464), save dates (RFC 8514) and EMAILIDs (RFC 8474) come back the same
/// from the log alone and from the index files; TOOMANY counts what is there.
#[test]
fn annotations_save_dates_and_email_ids_survive_reopens() {
    use ringpost::store::op::MetadataChange;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    const A: &str = "alice@example.com";
    let a = A;
    let set = |name: &str, value: Option<&str>| MetadataChange {
        name: name.into(),
        value: value.map(|v| v.as_bytes().to_vec()),
    };
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let state = |store: Store| async move {
        let a = A;
        let inbox = store.metadata(a, Some("INBOX")).await.unwrap();
        let server = store.metadata(a, None).await.unwrap();
        let archive = store
            .message_meta(a, "Archive", &[Uid(1), Uid(2)])
            .await
            .unwrap();
        let inbox_meta = store.message_meta(a, "INBOX", &[Uid(1)]).await.unwrap();
        let named = |v: Vec<ringpost::store::index::Annotation>| -> Vec<(String, Vec<u8>)> {
            v.into_iter().map(|e| (e.name, e.value)).collect()
        };
        (named(inbox), named(server), archive, inbox_meta)
    };
    {
        let (root, seen) = (root.clone(), seen.clone());
        run(move || async move {
            let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
            store.open_account(a).await.unwrap();
            let changes = vec![
                set("/private/comment", Some("mine")),
                set("/shared/comment", Some("ours")),
            ];
            store
                .set_metadata(a, Some("INBOX"), changes, 2)
                .await
                .unwrap();
            let more = vec![set("/private/third", Some("x"))];
            assert!(matches!(
                store.set_metadata(a, Some("INBOX"), more, 2).await,
                Err(StoreError::TooManyAnnotations)
            ));
            // A change of an existing entry and a removal are never too many.
            let swap = vec![
                set("/shared/comment", None),
                set("/private/comment", Some("new")),
                set("/private/other", Some("y")),
            ];
            store.set_metadata(a, Some("INBOX"), swap, 2).await.unwrap();
            let server = vec![set("/private/vendor/x", Some("1"))];
            store.set_metadata(a, None, server, 2).await.unwrap();
            assert!(matches!(
                store
                    .set_metadata(a, Some("Nope"), vec![set("/private/a", None)], 2)
                    .await,
                Err(StoreError::NoSuchMailbox)
            ));
            for i in 0..2 {
                store
                    .append(a, "INBOX", &msg(i), Flags::default(), 1_000_000_000)
                    .await
                    .unwrap();
            }
            store.copy(a, "INBOX", &[Uid(1)], "Archive").await.unwrap();
            store
                .move_messages(a, "INBOX", &[Uid(2)], "Archive")
                .await
                .unwrap();
            let now = state(store.clone()).await;
            let (inbox, server, archive, inbox_meta) = &now;
            assert_eq!(
                inbox,
                &[
                    ("/private/comment".to_string(), b"new".to_vec()),
                    ("/private/other".to_string(), b"y".to_vec())
                ]
            );
            assert_eq!(server.len(), 1);
            assert_eq!(archive.len(), 2);
            // The copy keeps the EMAILID and the internal date, with a save date of its own.
            assert_eq!(archive[0].email_id, inbox_meta[0].email_id);
            assert_ne!(archive[0].email_id, archive[1].email_id);
            assert_eq!(archive[0].internal_date, 1_000_000_000);
            assert!(archive.iter().all(|m| m.saved.unwrap() > 1_000_000_000));
            *seen.lock().unwrap() = Some(now);
            // No close(): the reopen below recovers from the log alone.
        });
    }
    for close in [true, false] {
        let (root, seen) = (root.clone(), seen.clone());
        run(move || async move {
            let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
            let now = state(store.clone()).await;
            assert_eq!(Some(&now), seen.lock().unwrap().as_ref());
            if close {
                // Writes the index files the next reopen starts from.
                store.close().await.unwrap();
            }
        });
    }
}

/// RFC 4314: ACL entries and the sharers a grantee is told of are in the log and the index
/// files: they come back the same after a reopen from the log alone and from the index
/// files; RENAME keeps a mailbox's ACL, DELETE drops it, and the limit on entries holds.
#[test]
fn acls_and_sharers_survive_reopens_and_follow_rename_and_delete() {
    use ringpost::mail::acl::{Rights, RightsChange};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    const A: &str = "alice@example.com";
    const B: &str = "bob@example.com";
    let lr = Rights::parse("lr").unwrap();
    type Seen = (Vec<(String, String)>, Vec<(String, String)>, Vec<String>);
    let state = |store: Store| async move {
        let entries = |v: Vec<ringpost::mail::acl::AclEntry>| -> Vec<(String, String)> {
            v.into_iter()
                .map(|e| (e.identifier, e.rights.to_string()))
                .collect()
        };
        let inbox = entries(store.acl(A, "INBOX").await.unwrap());
        let work = entries(store.acl(A, "Work2").await.unwrap());
        (inbox, work, store.sharers(B).await.unwrap()) as Seen
    };
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    {
        let (root, seen) = (root.clone(), seen.clone());
        run(move || async move {
            let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
            store.open_account(A).await.unwrap();
            store.create_mailbox(A, "Work").await.unwrap();
            store.create_mailbox(A, "Gone").await.unwrap();
            let set = |mailbox: &'static str, id: &'static str, change| {
                let store = store.clone();
                async move { store.set_acl(A, mailbox, id, change, 2).await }
            };
            assert_eq!(
                set("INBOX", B, Some(RightsChange::Replace(lr)))
                    .await
                    .unwrap(),
                lr
            );
            let lrw = set("INBOX", B, Some(RightsChange::Add(Rights::WRITE)))
                .await
                .unwrap();
            assert_eq!(lrw.to_string(), "lrw");
            set(
                "INBOX",
                "anyone",
                Some(RightsChange::Replace(Rights::LOOKUP)),
            )
            .await
            .unwrap();
            // A third entry is one too many; changing an existing one never is.
            assert!(matches!(
                set(
                    "INBOX",
                    "carol@example.com",
                    Some(RightsChange::Replace(lr))
                )
                .await,
                Err(StoreError::TooManyAclEntries)
            ));
            set("INBOX", B, Some(RightsChange::Remove(Rights::WRITE)))
                .await
                .unwrap();
            set("Work", B, Some(RightsChange::Replace(Rights::ALL)))
                .await
                .unwrap();
            set("Gone", B, Some(RightsChange::Replace(lr)))
                .await
                .unwrap();
            // Removing every right removes the entry.
            set("Work", "anyone", Some(RightsChange::Replace(lr)))
                .await
                .unwrap();
            set("Work", "anyone", Some(RightsChange::Remove(lr)))
                .await
                .unwrap();
            assert!(matches!(
                set("Nope", B, None).await,
                Err(StoreError::NoSuchMailbox)
            ));
            store.rename_mailbox(A, "Work", "Work2").await.unwrap();
            store.delete_mailbox(A, "Gone").await.unwrap();
            store.create_mailbox(A, "Gone").await.unwrap();
            assert!(store.acl(A, "Gone").await.unwrap().is_empty());
            store.set_sharer(B, A, true).await.unwrap();
            store
                .set_sharer(B, "carol@example.com", true)
                .await
                .unwrap();
            store
                .set_sharer(B, "carol@example.com", false)
                .await
                .unwrap();
            let now = state(store.clone()).await;
            assert_eq!(
                now.0,
                [
                    ("anyone".to_string(), "l".to_string()),
                    (B.to_string(), "lr".to_string())
                ]
            );
            assert_eq!(now.1, [(B.to_string(), "lrswipkxteacd".to_string())]);
            assert_eq!(now.2, [A.to_string()]);
            let shared = store.acls(A).await.unwrap();
            let names: Vec<&str> = shared.iter().map(|(m, _)| m.name.as_str()).collect();
            assert_eq!(names, ["INBOX", "Work2"]);
            *seen.lock().unwrap() = Some(now);
        });
    }
    for close in [true, false] {
        let (root, seen) = (root.clone(), seen.clone());
        run(move || async move {
            let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
            let now = state(store.clone()).await;
            assert_eq!(Some(&now), seen.lock().unwrap().as_ref());
            if close {
                store.close().await.unwrap();
            }
        });
    }
}

/// NOTIFY of shared mailboxes reads a user's rights again when they change: every SETACL
/// and DELETEACL is a change on the owner's account feed, naming the mailbox.
#[test]
fn acl_changes_are_told_on_the_account_feed() {
    use ringpost::mail::acl::{Rights, RightsChange};
    use ringpost::mail::AccountChange;
    use ringpost::store::AccountBatch;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        const A: &str = "alice@example.com";
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        store.open_account(A).await.unwrap();
        store.create_mailbox(A, "Team").await.unwrap();
        let team = store.mailbox_id(A, "Team").await.unwrap();
        let mut feed = store.watch_account(A, 10).unwrap();
        let lr = Rights::parse("lr").unwrap();
        let b = "bob@example.com";
        store
            .set_acl(A, "Team", b, Some(RightsChange::Replace(lr)), 8)
            .await
            .unwrap();
        store.set_acl(A, "Team", b, None, 8).await.unwrap();
        let acl = AccountChange::Acl { mailbox: team };
        assert_eq!(
            feed.try_next(),
            Some(AccountBatch::Changes {
                touched: Vec::new(),
                changes: vec![acl.clone(), acl],
            })
        );
    });
}

/// Periodic checkpoints are written in the background while appends, flag changes and
/// evictions go on (every few KiB of log here, and one idle index kept in memory): whatever
/// moment the process stops at, reopening finds every message and flag, from the index
/// files and checkpoint written last plus the log after it.
#[test]
fn background_checkpoints_under_appends_and_evictions_recover() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let r2 = root.clone();
    let config = || StoreConfig {
        checkpoint_every: 16 << 10,
        max_loaded_accounts: 1,
        ..small()
    };
    const ACCOUNTS: [&str; 3] = ["a@example.com", "b@example.com", "c@example.com"];
    let accounts = ACCOUNTS;
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), config());
        for a in accounts {
            store.open_account(a).await.unwrap();
        }
        let partition = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
            .unwrap();
        let first = std::fs::read(partition.join("checkpoint")).unwrap();
        for round in 0..40 {
            let mut tasks = Vec::new();
            for (n, a) in ACCOUNTS.iter().enumerate() {
                let store = store.clone();
                tasks.push(glommio::spawn_local(async move {
                    let i = round * 3 + n;
                    store
                        .append(a, "INBOX", &msg(i), Flags::default(), i as i64)
                        .await
                        .unwrap()
                }));
            }
            for t in tasks {
                let uid = t.await;
                assert_eq!(uid, Uid(round as u32 + 1));
            }
            if round % 4 == 0 {
                let seen = Flags::system(SystemFlags::SEEN);
                store
                    .set_flags(
                        accounts[round % 3],
                        "INBOX",
                        &[Uid(round as u32 + 1)],
                        FlagMode::Add,
                        seen,
                    )
                    .await
                    .unwrap();
            }
        }
        // A checkpoint was written while the store stayed open.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read(partition.join("checkpoint")).unwrap() == first {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint in 10 s"
            );
            glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
        }
        // No close: the executor ends here, as at a crash, with whatever was being written.
    });
    run(move || async move {
        let store = Store::new(&r2, ShardId(0), ShardMap::new(1), config());
        for (n, a) in accounts.iter().enumerate() {
            assert_eq!(store.status(a, "INBOX").await.unwrap().messages, 40);
            for round in 0..40usize {
                let uid = Uid(round as u32 + 1);
                let body = store.read(a, "INBOX", uid).await.unwrap();
                assert_eq!(&*body, &msg(round * 3 + n)[..]);
            }
            let seen: Vec<Uid> = store
                .messages(a, "INBOX", Uid(1)..=Uid(40))
                .await
                .unwrap()
                .into_iter()
                .filter(|m| m.flags.system.contains(SystemFlags::SEEN))
                .map(|m| m.uid)
                .collect();
            let expected: Vec<Uid> = (0..40usize)
                .filter(|r| r % 4 == 0 && r % 3 == n)
                .map(|r| Uid(r as u32 + 1))
                .collect();
            assert_eq!(seen, expected, "{a}");
        }
    });
}
