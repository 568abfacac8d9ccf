//! The full-text index through the store: built by the first text search, brought up to date
//! by later ones, answering only for the mailbox asked and only with messages still there,
//! written with the account's index and read back after a reopen, rebuilt when damaged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ringpost::mail::text::TextQuery;
use ringpost::mail::{Flags, Uid};
use ringpost::runtime::{ShardId, ShardMap};
use ringpost::store::text::{FullText, TextAnswer};
use ringpost::store::{Store, StoreConfig};

mod store_support;
use store_support::{run, small};

const A: &str = "carol@example.com";

fn plain(subject: &str, body: &str) -> Vec<u8> {
    format!("From: x@example.org\r\nSubject: {subject}\r\n\r\n{body}\r\n").into_bytes()
}

fn qp(body: &str) -> Vec<u8> {
    format!(
        "From: y@example.org\r\nSubject: encoded\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn body(needle: &str) -> Vec<TextQuery> {
    vec![TextQuery {
        needle: needle.into(),
        body_only: true,
    }]
}

fn text(needle: &str) -> Vec<TextQuery> {
    vec![TextQuery {
        needle: needle.into(),
        body_only: false,
    }]
}

fn uids(v: &[u32]) -> Vec<Uid> {
    v.iter().map(|&u| Uid(u)).collect()
}

/// A text search that indexes whatever it must first.
async fn search(store: &Store, mailbox: &str, q: &[TextQuery]) -> Option<(Vec<Uid>, bool)> {
    match store.text_search(A, mailbox, q, u64::MAX).await.unwrap() {
        TextAnswer::Candidates(c) => c,
        other => panic!("{other:?}"),
    }
}

fn fts_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for p in std::fs::read_dir(root).unwrap() {
        let dir = p.unwrap().path().join("text");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            out.extend(entries.map(|e| e.unwrap().path()));
        }
    }
    out
}

#[test]
fn index_is_built_kept_up_to_date_written_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        store.open_account(A).await.unwrap();
        let inbox = [
            plain("Lunch", "Shall we meet for lunch on Friday?"),
            plain("Othello", "A play by Shakespeare"),
            qp("Gr=FC=DFe aus M=FCnchen"),
            plain("Re: Lunch", "Friday works, see you at noon"),
        ];
        for m in &inbox {
            store
                .append(A, "INBOX", m, Flags::default(), 1_700_000_000)
                .await
                .unwrap();
        }
        store
            .append(
                A,
                "Archive",
                &plain("x", "lunch elsewhere"),
                Flags::default(),
                0,
            )
            .await
            .unwrap();
        // Exact answers for one word; substrings of words; decoded text; headers for TEXT.
        assert_eq!(
            search(&store, "INBOX", &body("LUNCH")).await,
            Some((uids(&[1]), true))
        );
        assert_eq!(
            search(&store, "INBOX", &text("lunch")).await,
            Some((uids(&[1, 4]), true))
        );
        assert_eq!(
            search(&store, "INBOX", &body("hello")).await,
            Some((uids(&[]), true))
        );
        assert_eq!(
            search(&store, "INBOX", &text("hello")).await,
            Some((uids(&[2]), true))
        );
        assert_eq!(
            search(&store, "INBOX", &body("grüße")).await,
            Some((uids(&[3]), true))
        );
        // Several words narrow; the caller verifies.
        let (got, exact) = search(&store, "INBOX", &body("friday works"))
            .await
            .unwrap();
        assert!(!exact);
        assert!(got.contains(&Uid(4)) && !got.contains(&Uid(2)));
        // No word to look for: the index cannot narrow.
        assert_eq!(search(&store, "INBOX", &body("?!")).await, None);
        // New mail is covered by the next search; expunged mail is never named.
        store
            .append(A, "INBOX", &plain("lunch again", "."), Flags::default(), 0)
            .await
            .unwrap();
        store.expunge(A, "INBOX", Some(&[Uid(1)])).await.unwrap();
        assert_eq!(
            search(&store, "INBOX", &text("lunch")).await,
            Some((uids(&[4, 5]), true))
        );
        assert_eq!(store.index_text(A, "INBOX").await.unwrap(), 0);
        // Only the mailboxes searched are indexed.
        assert_eq!(store.index_text(A, "Archive").await.unwrap(), 1);
        store.close().await.unwrap();
        let files = fts_files(&root);
        assert_eq!(files.len(), 1, "{files:?}");

        // Reopened: the file covers everything, nothing is read again.
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        assert_eq!(store.index_text(A, "INBOX").await.unwrap(), 0);
        assert_eq!(store.index_text(A, "Archive").await.unwrap(), 0);
        assert_eq!(
            search(&store, "INBOX", &text("lunch")).await,
            Some((uids(&[4, 5]), true))
        );
        store.close().await.unwrap();

        // Damaged: it is rebuilt from the messages, and answers the same.
        let mut bytes = std::fs::read(&files[0]).unwrap();
        let n = bytes.len();
        bytes[n / 2] ^= 0x55;
        std::fs::write(&files[0], &bytes).unwrap();
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        assert_eq!(
            search(&store, "INBOX", &text("lunch")).await,
            Some((uids(&[4, 5]), true))
        );
        assert_eq!(store.index_text(A, "Archive").await.unwrap(), 1);
        store.close().await.unwrap();
    });
}

#[test]
fn turned_off_it_never_answers_nor_writes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let r = root.clone();
    run(move || async move {
        let config = StoreConfig {
            full_text_index: FullText::Off,
            ..small()
        };
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), config);
        store.open_account(A).await.unwrap();
        store
            .append(A, "INBOX", &plain("a", "word"), Flags::default(), 0)
            .await
            .unwrap();
        assert_eq!(search(&store, "INBOX", &body("word")).await, None);
        store.close().await.unwrap();
    });
    assert!(fts_files(&r).is_empty());
}

/// Polls `f` until it is true, sleeping between tries: background work gets its turn.
async fn eventually(mut f: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..500 {
        if f().await {
            return true;
        }
        glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

#[test]
fn new_mail_is_indexed_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        // "searched": nothing until the account's first text search, then new mail as it
        // arrives.
        let store = Store::new(root.join("s"), ShardId(0), ShardMap::new(1), small());
        store.open_account(A).await.unwrap();
        for i in 0..5 {
            let m = plain("x", &format!("word{i}"));
            store
                .append(A, "INBOX", &m, Flags::default(), 0)
                .await
                .unwrap();
        }
        assert_eq!(store.text_stats(A).await.unwrap(), None);
        assert_eq!(
            search(&store, "INBOX", &body("word3")).await,
            Some((uids(&[4]), true))
        );
        for i in 5..20 {
            let m = plain("x", &format!("word{i}"));
            store
                .append(A, "Sent", &m, Flags::default(), 0)
                .await
                .unwrap();
        }
        assert!(
            eventually(async || store.text_stats(A).await.unwrap().unwrap().0 == 20).await,
            "{:?}",
            store.text_stats(A).await
        );
        assert_eq!(store.index_text(A, "Sent").await.unwrap(), 0);
        store.close().await.unwrap();

        // "all": every account, from its first message, old mail included.
        let config = StoreConfig {
            full_text_index: FullText::All,
            ..small()
        };
        let store = Store::new(root.join("a"), ShardId(0), ShardMap::new(1), config);
        store.open_account(A).await.unwrap();
        for i in 0..12 {
            let m = plain("x", &format!("word{i}"));
            store
                .append(A, "INBOX", &m, Flags::default(), 0)
                .await
                .unwrap();
        }
        assert!(
            eventually(async || store
                .text_stats(A)
                .await
                .unwrap()
                .is_some_and(|s| s.0 == 12))
            .await
        );
        assert_eq!(store.index_text(A, "INBOX").await.unwrap(), 0);
        store.close().await.unwrap();
    });
}

#[test]
fn a_first_search_indexes_in_steps_and_says_how_far_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        store.open_account(A).await.unwrap();
        // About 100 KiB each: an indexing batch (1 MiB) takes about ten.
        let filler = "words ".repeat(17_000);
        for i in 0..30 {
            let m = plain("x", &format!("{filler} marker{i}"));
            store
                .append(A, "INBOX", &m, Flags::default(), 0)
                .await
                .unwrap();
        }
        let q = body("marker7");
        let mut seen = Vec::new();
        let answer = loop {
            // A budget of one byte: every call indexes one batch, never all of it.
            match store.text_search(A, "INBOX", &q, 1).await.unwrap() {
                TextAnswer::Indexing { done, total } => {
                    assert_eq!(total, 30);
                    assert!(seen.last().is_none_or(|&d| d < done), "{seen:?} {done}");
                    seen.push(done);
                    assert!(seen.len() < 30, "no progress: {seen:?}");
                }
                TextAnswer::Candidates(c) => break c,
            }
        };
        assert!(!seen.is_empty());
        assert_eq!(answer, Some((uids(&[8]), true)));
        store.close().await.unwrap();
    });
}

#[test]
fn a_purged_account_loses_its_text_index() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let r = root.clone();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        store.open_account(A).await.unwrap();
        store
            .append(A, "INBOX", &plain("x", "secret words"), Flags::default(), 0)
            .await
            .unwrap();
        assert!(search(&store, "INBOX", &body("secret")).await.is_some());
        store.close().await.unwrap();
        assert_eq!(fts_files(&root).len(), 1);
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), small());
        assert!(store.purge_account(A).await.unwrap());
        assert_eq!(store.text_stats(A).await.unwrap(), None);
        store.close().await.unwrap();
    });
    assert!(fts_files(&r).is_empty());
}
