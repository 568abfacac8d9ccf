//! `ringpost import maildir` end to end: a small Maildir with a Dovecot uidlist imported into
//! an existing account through the binary, then read back from the store on the shard the
//! server's shard map gives the account; refusals for an unknown account, a folder that is
//! not a Maildir, and a data folder locked by a running server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ringpost::mail::{Flags, SystemFlags, Uid, UidValidity};
use ringpost::runtime::{Executor, ShardMap};
use ringpost::store::{Store, StoreConfig};

const SHARDS: usize = 3;

fn config() -> String {
    format!(
        r#"
[server]
hostname = "mail.example.com"
data_dir = "data"
shards = {SHARDS}
[domains]
local = ["example.com"]
[[listener]]
protocol = "imap"
address = "127.0.0.1:1143"
tls = "starttls"
"#
    )
}

fn run(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringpost"))
        .arg("--config")
        .arg(dir.join("ringpost.toml"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    child.wait_with_output().unwrap()
}

/// Where the store keeps `address`'s mail: its current incarnation's key.
fn store_key(dir: &Path, address: &str) -> String {
    let accounts =
        ringpost::accounts::AccountStore::open(&dir.join("data"), &["example.com".into()]).unwrap();
    accounts.lookup(address).unwrap().unwrap().store_key()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// INBOX: 4 messages with a uidlist (UIDs 3, 7, 8, 12; UIDVALIDITY 1234; UIDNEXT 20).
/// `.Sent`: 2 messages without one.
fn build_maildir(root: &Path) -> Vec<(&'static str, Option<u32>, Vec<u8>, &'static str)> {
    let mut out = Vec::new();
    for sub in ["", ".Sent"] {
        for d in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(root.join(sub).join(d)).unwrap();
        }
    }
    let inbox = [
        (3, "1.M1.h", ":2,S"),
        (7, "2.M2.h", ":2,RS"),
        (8, "3.M3.h", ""),
        (12, "4.M4.h", ":2,FT"),
    ];
    let mut uidlist = String::from("3 V1234 N20 G0\n");
    for (i, (uid, base, info)) in inbox.into_iter().enumerate() {
        let bytes = format!("Subject: in {i}\r\n\r\nbody {i}\r\n").into_bytes();
        let sub = if info.is_empty() { "new" } else { "cur" };
        std::fs::write(root.join(sub).join(format!("{base}{info}")), &bytes).unwrap();
        uidlist.push_str(&format!("{uid} :{base}\n"));
        out.push(("INBOX", Some(uid), bytes, info));
    }
    std::fs::write(root.join("dovecot-uidlist"), uidlist).unwrap();
    for i in 0..2 {
        let bytes = format!("Subject: sent {i}\r\n\r\n{}\r\n", "x".repeat(100 * i)).into_bytes();
        std::fs::write(root.join(".Sent/cur").join(format!("{i}.S.h:2,S")), &bytes).unwrap();
        out.push(("Sent", None, bytes, ":2,S"));
    }
    out
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ringpost.toml"), config()).unwrap();
    let out = run(
        dir.path(),
        &["user", "add", "alice@example.com"],
        "a longer secret\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let maildir = dir.path().join("Maildir");
    (dir, maildir)
}

#[test]
fn import_maildir_into_an_existing_account() {
    let (dir, maildir) = setup();
    let expect = build_maildir(&maildir);
    let out = run(
        dir.path(),
        &[
            "import",
            "maildir",
            "Alice@Example.com",
            maildir.to_str().unwrap(),
        ],
        "",
    );
    let bytes: usize = expect.iter().map(|e| e.2.len()).sum();
    assert_eq!(text(&out.stderr), "");
    assert_eq!(
        text(&out.stdout),
        format!("imported 6 messages ({bytes} bytes) in 2 folders into alice@example.com\n")
    );
    assert_eq!(out.status.code(), Some(0));

    // Read it back where the server will: the account's home shard under the same map.
    let root = dir.path().join("data/store");
    let key = store_key(dir.path(), "alice@example.com");
    Executor::new("test")
        .io_memory(256 << 10)
        .ring_depth(32)
        .spawn(move || async move {
            let a = key.as_str();
            let map = ShardMap::new(SHARDS);
            let store = Store::new(root, map.home_shard(a), map, StoreConfig::default());
            let inbox = store.status(a, "INBOX").await.unwrap();
            assert_eq!(inbox.uid_validity, UidValidity(1234));
            assert_eq!(inbox.uid_next, Uid(20));
            assert_eq!(inbox.messages, 4);
            let sent = store
                .messages(a, "Sent", Uid(1)..=Uid(u32::MAX))
                .await
                .unwrap();
            assert_eq!(sent.len(), 2);
            for (folder, uid, bytes, info) in &expect {
                let uid = match uid {
                    Some(u) => Uid(*u),
                    // Without a uidlist, UIDs follow the file names' order.
                    None => {
                        let i = usize::from(bytes.starts_with(b"Subject: sent 1"));
                        sent[i].uid
                    }
                };
                let got = store.read(a, folder, uid).await.unwrap();
                assert_eq!(&*got, &bytes[..], "{folder} {uid:?}");
                let e = store.messages(a, folder, uid..=uid).await.unwrap();
                let want = match *info {
                    ":2,S" => Flags::system(SystemFlags::SEEN),
                    ":2,RS" => Flags::system(SystemFlags::ANSWERED.union(SystemFlags::SEEN)),
                    ":2,FT" => Flags::system(SystemFlags::FLAGGED.union(SystemFlags::DELETED)),
                    _ => Flags::default(),
                };
                assert_eq!(e[0].flags, want, "{folder} {uid:?}");
            }
            // The next delivery does not reuse a UID the old server handed out.
            assert_eq!(
                store
                    .append(a, "INBOX", b"Subject: new\r\n\r\n", Flags::default(), 0)
                    .await
                    .unwrap(),
                Uid(20)
            );
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Regression: `import maildir` run twice stored every message twice. The second run finds
/// each message already there (same bytes, same date) and skips it, with or without the UID
/// a `dovecot-uidlist` gave it.
#[test]
fn import_run_twice_keeps_one_copy_of_each_message() {
    let (dir, maildir) = setup();
    let expect = build_maildir(&maildir);
    let args = [
        "import",
        "maildir",
        "alice@example.com",
        maildir.to_str().unwrap(),
    ];
    let first = run(dir.path(), &args, "");
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let second = run(dir.path(), &args, "");
    assert_eq!(text(&second.stderr), "");
    assert_eq!(
        text(&second.stdout),
        "imported 0 messages (0 bytes) in 2 folders into alice@example.com\n\
         6 messages were already there and were skipped\n"
    );
    assert_eq!(second.status.code(), Some(0));
    assert_eq!(expect.len(), 6);

    let root = dir.path().join("data/store");
    let key = store_key(dir.path(), "alice@example.com");
    Executor::new("test")
        .io_memory(256 << 10)
        .ring_depth(32)
        .spawn(move || async move {
            let a = key.as_str();
            let map = ShardMap::new(SHARDS);
            let store = Store::new(root, map.home_shard(a), map, StoreConfig::default());
            assert_eq!(store.status(a, "INBOX").await.unwrap().messages, 4);
            assert_eq!(store.status(a, "Sent").await.unwrap().messages, 2);
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn import_refuses_an_unknown_account_and_a_non_maildir() {
    let (dir, maildir) = setup();
    build_maildir(&maildir);
    let out = run(
        dir.path(),
        &[
            "import",
            "maildir",
            "bob@example.com",
            maildir.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "ringpost: bob@example.com does not exist\n"
    );
    let not = dir.path().join("empty");
    std::fs::create_dir(&not).unwrap();
    let out = run(
        dir.path(),
        &[
            "import",
            "maildir",
            "alice@example.com",
            not.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "ringpost: import failed: {} is not a Maildir (it has no cur/ or new/)\n",
            not.display()
        )
    );
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn import_refuses_while_the_server_holds_the_data_dir() {
    let (dir, maildir) = setup();
    build_maildir(&maildir);
    // What a running server holds (shard::serve): an exclusive lock on ringpost.pid.
    let pid_file = dir.path().join("data/ringpost.pid");
    let mut held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&pid_file)
        .unwrap();
    held.try_lock().unwrap();
    writeln!(held, "4242").unwrap();
    let out = run(
        dir.path(),
        &[
            "import",
            "maildir",
            "alice@example.com",
            maildir.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "ringpost: import failed: another ringpost (pid 4242) is running on {}: stop the server before importing\n",
            dir.path().join("data").display()
        )
    );
    // Nothing was imported.
    assert!(!dir.path().join("data/store").exists());
    drop(held);
}
