//! Maildir import of 10,000 generated messages keeps every byte, flag and (with a Dovecot
//! uidlist) UID and UIDVALIDITY.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;

use ringpost::mail::{Uid, UidValidity};
use ringpost::runtime::{Executor, ShardId, ShardMap};
use ringpost::store::import::{flags_of, maildir};
use ringpost::store::{Store, StoreConfig};

struct Expect {
    folder: &'static str,
    uid: Option<u32>,
    name: String,
    bytes: Vec<u8>,
}

fn build(root: &Path) -> Vec<Expect> {
    let folders: [(&str, &str, usize, Option<u32>); 3] = [
        ("INBOX", "", 7000, Some(1_600_000_000)),
        ("Sent", ".Sent", 2000, Some(1_600_000_123)),
        ("Work/2024", "Work/2024", 1000, None),
    ];
    let infos = ["", ":2,", ":2,S", ":2,FS", ":2,RS", ":2,DT", ":2,P"];
    let mut out = Vec::new();
    for (folder, sub, n, validity) in folders {
        let dir = root.join(sub);
        for d in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        // N (UIDNEXT) past the last listed UID, as after expunging the newest messages.
        let mut uidlist = validity.map(|v| format!("3 V{v} N{} G0\n", n * 3 + 40));
        for i in 0..n {
            let base = format!("{}.M{i}P1.host", 1_700_000_000 + i);
            let info = infos[i % infos.len()];
            let in_new = info.is_empty();
            let name = format!("{base}{info}");
            let bytes = format!(
                "From: x{i}@example.org\r\nSubject: {folder} {i}\r\n\r\n{}\r\n",
                "body line\r\n".repeat(i % 50)
            )
            .into_bytes();
            std::fs::write(
                dir.join(if in_new { "new" } else { "cur" }).join(&name),
                &bytes,
            )
            .unwrap();
            // Original UIDs with gaps, as after expunges.
            let uid = uidlist.as_mut().map(|l| {
                let uid = 3 * i as u32 + 2;
                l.push_str(&format!("{uid} :{base}\n"));
                uid
            });
            out.push(Expect {
                folder,
                uid,
                name,
                bytes,
            });
        }
        if let Some(l) = uidlist {
            std::fs::write(dir.join("dovecot-uidlist"), l).unwrap();
        }
    }
    out
}

#[test]
fn maildir_import_of_10000_messages_keeps_bytes_flags_and_uids() {
    let maildir_dir = tempfile::tempdir().unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let expect = build(maildir_dir.path());
    assert_eq!(expect.len(), 10_000);
    let (src, root) = (
        maildir_dir.path().to_path_buf(),
        store_dir.path().to_path_buf(),
    );
    Executor::new("test")
        .io_memory(256 << 10)
        .ring_depth(32)
        .spawn(move || async move {
            let store = Store::new(&root, ShardId(0), ShardMap::new(1), StoreConfig::default());
            let a = "carol@example.com";
            let mut last = 0;
            let report = maildir(&store, a, &src, |p| {
                assert_eq!(p.done, last + 1);
                assert_eq!(p.total, 10_000);
                last = p.done;
            })
            .await
            .unwrap();
            assert_eq!(
                (report.folders, report.messages, report.renumbered),
                (3, 10_000, 0)
            );
            assert_eq!(
                store.status(a, "INBOX").await.unwrap().uid_validity,
                UidValidity(1_600_000_000)
            );
            assert_eq!(
                store.status(a, "Sent").await.unwrap().uid_validity,
                UidValidity(1_600_000_123)
            );
            // dovecot-uidlist's N is kept as UIDNEXT.
            assert_eq!(
                store.status(a, "INBOX").await.unwrap().uid_next,
                Uid(21_040)
            );
            assert_eq!(store.status(a, "Sent").await.unwrap().uid_next, Uid(6_040));
            assert_eq!(
                store.status(a, "Work/2024").await.unwrap().uid_next,
                Uid(1_001)
            );
            let mut by_folder: HashMap<&str, Vec<ringpost::store::MessageEntry>> = HashMap::new();
            for f in ["INBOX", "Sent", "Work/2024"] {
                by_folder.insert(
                    f,
                    store.messages(a, f, Uid(1)..=Uid(u32::MAX)).await.unwrap(),
                );
            }
            assert_eq!(by_folder["INBOX"].len(), 7000);
            assert_eq!(by_folder["Sent"].len(), 2000);
            assert_eq!(by_folder["Work/2024"].len(), 1000);
            let mut work_seen = Vec::new();
            for e in &expect {
                let entries = &by_folder[e.folder];
                let entry = match e.uid {
                    Some(uid) => entries.iter().find(|m| m.uid == Uid(uid)).unwrap(),
                    None => {
                        // Without a uidlist UIDs are new; find the message by its subject.
                        let subject = String::from_utf8_lossy(&e.bytes[..])
                            .lines()
                            .nth(1)
                            .unwrap()
                            .trim_start_matches("Subject: ")
                            .to_string();
                        let m = entries
                            .iter()
                            .find(|m| {
                                m.summary.envelope.subject.as_deref() == Some(subject.as_str())
                            })
                            .unwrap();
                        work_seen.push(m.uid);
                        m
                    }
                };
                assert_eq!(entry.flags, flags_of(&e.name), "{}", e.name);
                let got = store.read(a, e.folder, entry.uid).await.unwrap();
                assert_eq!(&*got, &e.bytes[..], "{} {:?}", e.folder, e.uid);
            }
            work_seen.sort();
            work_seen.dedup();
            assert_eq!(work_seen.len(), 1000);
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn lf_only_maildir_files_are_stored_with_crlf_and_their_crlf_size() {
    let maildir_dir = tempfile::tempdir().unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir_dir.path().join(sub)).unwrap();
    }
    let lf = b"From: a@example.org\nSubject: lf only\n\nline one\nline two\n";
    std::fs::write(maildir_dir.path().join("cur/1.M1.host:2,S"), lf).unwrap();
    let (src, root) = (
        maildir_dir.path().to_path_buf(),
        store_dir.path().to_path_buf(),
    );
    Executor::new("test")
        .io_memory(256 << 10)
        .ring_depth(32)
        .spawn(move || async move {
            let store = Store::new(&root, ShardId(0), ShardMap::new(1), StoreConfig::default());
            let a = "dave@example.com";
            let report = maildir(&store, a, &src, |_| {}).await.unwrap();
            assert_eq!(report.messages, 1);
            let entries = store
                .messages(a, "INBOX", Uid(1)..=Uid(u32::MAX))
                .await
                .unwrap();
            assert_eq!(entries.len(), 1);
            let want = b"From: a@example.org\r\nSubject: lf only\r\n\r\nline one\r\nline two\r\n";
            assert_eq!(entries[0].size as usize, want.len());
            let got = store.read(a, "INBOX", entries[0].uid).await.unwrap();
            assert_eq!(&*got, &want[..]);
            assert_eq!(
                entries[0].summary.envelope.subject.as_deref(),
                Some("lf only")
            );
        })
        .unwrap()
        .join()
        .unwrap();
}
