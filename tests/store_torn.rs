//! A torn tail on the real segment file: the last record on disk is cut short or garbled at
//! several offsets (header, payload, last byte) with zeros or with stale-looking bytes. The
//! store must open, show every earlier message byte-identical, show nothing of the torn one,
//! accept new appends after it, and keep them across another reopen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use ringpost::mail::{Flags, Uid};
use ringpost::runtime::{ShardId, ShardMap};
use ringpost::store::record::{first_chain, Scanner, HEADER};
use ringpost::store::Store;

mod store_support;
use store_support::{run, small as config};

const A: &str = "alice@example.com";
const N: u32 = 20;

fn msg(i: u32) -> Vec<u8> {
    let mut m = format!("Subject: m{i}\r\n\r\n").into_bytes();
    m.extend((0..(300 + i * 97)).map(|k| b'0' + (k % 10) as u8));
    m
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The newest segment file of the store's only partition.
fn last_segment(root: &Path) -> PathBuf {
    let part = std::fs::read_dir(root)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut segs: Vec<PathBuf> = std::fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("seg-") && n.ends_with(".log")
        })
        .collect();
    segs.sort();
    segs.pop().unwrap()
}

fn segment_count(root: &Path) -> usize {
    let part = std::fs::read_dir(root)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::read_dir(part)
        .unwrap()
        .filter(|e| {
            let n = e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .into_owned();
            n.starts_with("seg-") && n.ends_with(".log")
        })
        .count()
}

async fn check(store: &Store, upto: u32, torn_absent: bool) {
    for i in 1..=upto {
        let got = store.read(A, "INBOX", Uid(i)).await.unwrap();
        assert_eq!(&*got, &msg(i)[..], "UID {i}");
    }
    if torn_absent {
        let e = store
            .messages(A, "INBOX", Uid(upto + 1)..=Uid(u32::MAX))
            .await
            .unwrap();
        assert!(e.is_empty(), "{} messages after UID {upto}", e.len());
    }
}

#[test]
fn torn_last_record_on_disk_is_dropped_and_the_log_goes_on() {
    let pristine = tempfile::tempdir().unwrap();
    let root = pristine.path().to_path_buf();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), config());
        store.open_account(A).await.unwrap();
        for i in 1..=N {
            let uid = store
                .append(A, "INBOX", &msg(i), Flags::default(), 0)
                .await
                .unwrap();
            assert_eq!(uid, Uid(i));
        }
        // No close: as after a crash, recovery has to read the log to its end.
    });
    let seg = last_segment(pristine.path());
    let data = std::fs::read(&seg).unwrap();
    let records: Vec<(usize, usize)> = Scanner::new(&data, 0, first_chain(&data))
        .map(|r| (r.offset, r.payload.len()))
        .collect();
    let &(last, len) = records.last().unwrap();
    let end = last + HEADER + len;
    let cuts = [
        last + 1,
        last + HEADER - 1,
        last + HEADER,
        last + HEADER + len / 2,
        end - 1,
    ];
    for cut in cuts {
        for fill in [0u8, 0xA5] {
            let work = tempfile::tempdir().unwrap();
            copy_dir(pristine.path(), work.path());
            let seg = last_segment(work.path());
            let mut bytes = std::fs::read(&seg).unwrap();
            bytes[cut..end].fill(fill);
            std::fs::write(&seg, &bytes).unwrap();
            let before = segment_count(work.path());
            let root = work.path().to_path_buf();
            run(move || async move {
                let store = Store::new(&root, ShardId(0), ShardMap::new(1), config());
                check(&store, N - 1, true).await;
                let st = store.status(A, "INBOX").await.unwrap();
                assert_eq!(st.uid_next, Uid(N), "cut {cut} fill {fill:#x}");
                assert_eq!(st.messages, N - 1);
                let uid = store
                    .append(A, "INBOX", &msg(N), Flags::default(), 0)
                    .await
                    .unwrap();
                assert_eq!(uid, Uid(N));
            });
            // Torn bytes are never left in front of newer records: writing moved on to a
            // fresh segment.
            assert_eq!(segment_count(work.path()), before + 1, "cut {cut}");
            let root = work.path().to_path_buf();
            run(move || async move {
                let store = Store::new(&root, ShardId(0), ShardMap::new(1), config());
                check(&store, N, true).await;
            });
        }
    }
}

/// A flipped byte in a sealed segment after the checkpoint cuts the chain there, and every
/// later segment then holds records that do not follow. Those are written mail, not the
/// leftovers of a torn roll: recovery must refuse to open the partition (and name fsck)
/// rather than end the log at the damage and delete the later segments.
#[test]
fn damage_in_a_sealed_segment_never_deletes_the_segments_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), config());
        store.open_account(A).await.unwrap();
        for i in 1..=120 {
            store
                .append(A, "INBOX", &msg(i), Flags::default(), 0)
                .await
                .unwrap();
        }
        // No close: the checkpoint stays at the start, as after a crash.
    });
    let before = segment_count(dir.path());
    assert!(before >= 3, "{before} segments");
    let part = last_segment(dir.path()).parent().unwrap().to_path_buf();
    let first = part.join("seg-00000001.log");
    let mut data = std::fs::read(&first).unwrap();
    let offsets: Vec<usize> = Scanner::new(&data, 0, first_chain(&data))
        .map(|r| r.offset)
        .collect();
    data[offsets[offsets.len() / 2] + HEADER + 5] ^= 0x01;
    std::fs::write(&first, &data).unwrap();
    let files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    let root = dir.path().to_path_buf();
    run(move || async move {
        let store = Store::new(&root, ShardId(0), ShardMap::new(1), config());
        let e = store.status(A, "INBOX").await.unwrap_err().to_string();
        assert!(e.contains("ringpost fsck"), "{e}");
    });
    assert_eq!(segment_count(dir.path()), before);
    for (path, bytes) in files {
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{}", path.display());
    }
}
