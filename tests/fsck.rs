//! `ringpost fsck [--repair]` on stores the real server wrote: a clean store passes (and a
//! running server's store is not touched), a flipped byte inside a sealed segment is found
//! and named, a torn tail is only a warning, and deleted or corrupted index files are found
//! and rebuilt by `--repair` so that the server serves every message again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use loadtest::conn::TlsMode;
use loadtest::smtp::Smtp;
use ringpost::store::record::{self, Scanner};
use support::clients::{endpoint, Imap};
use support::{Options, Server, ALICE, BOB};

/// 64 KiB segments, so a few hundred KiB of mail crosses several; no compaction, so the log
/// keeps everything and fsck can rebuild any index from it.
fn options() -> Options {
    Options {
        extra: "[auth]\nfailure_delay_ms = 50\n[store]\nsegment_size = 65536\ncompact_dead_percent = 0\n"
            .into(),
        ..Options::default()
    }
}

fn message(n: usize, to: &str) -> Vec<u8> {
    let mut m = format!(
        "From: sender@remote.example\r\nTo: {to}\r\nSubject: fsck {n}\r\nMessage-ID: <fsck-{n}@remote.example>\r\n\r\n"
    )
    .into_bytes();
    for line in 0..(20 + n % 50) {
        m.extend_from_slice(
            format!("line {line} of message {n}: {}\r\n", "x".repeat(60)).as_bytes(),
        );
    }
    m
}

/// Mail for alice and bob over inbound SMTP, and IMAP changes: appends, flags, an expunge.
fn fill(server: &Server) {
    let timeout = Duration::from_secs(20);
    let ep = endpoint(server, "smtp", TlsMode::None, timeout);
    let mut smtp = Smtp::connect(&ep, "client.example").unwrap();
    for n in 0..60 {
        let to = if n % 3 == 0 { BOB.0 } else { ALICE.0 };
        smtp.send("sender@remote.example", &[to.to_string()], &message(n, to))
            .unwrap();
    }
    smtp.quit().unwrap();
    let imaps = endpoint(server, "imaps", TlsMode::Implicit, timeout);
    for (user, pass) in [ALICE, BOB] {
        let mut imap = Imap::login(&imaps, user, pass).unwrap();
        for n in 100..105 {
            let reply = imap.append("Archive", &message(n, user)).unwrap();
            assert!(reply.ok(), "{}", reply.status);
        }
        imap.checked("SELECT INBOX").unwrap();
        imap.checked("STORE 1:5 +FLAGS (\\Seen)").unwrap();
        imap.checked("STORE 2:3 +FLAGS.SILENT (\\Deleted)").unwrap();
        imap.checked("EXPUNGE").unwrap();
        imap.logout();
    }
}

/// A message as IMAP shows it: UID, FETCH text, bytes.
type Fetched = (u32, String, Vec<u8>);
/// Account, mailbox and its messages.
type Everything = Vec<(String, String, Vec<Fetched>)>;

/// Every message alice and bob have, as IMAP shows it.
fn everything(server: &Server) -> Everything {
    let imaps = endpoint(server, "imaps", TlsMode::Implicit, Duration::from_secs(20));
    let mut all = Vec::new();
    for (user, pass) in [ALICE, BOB] {
        let mut imap = Imap::login(&imaps, user, pass).unwrap();
        for mailbox in ["INBOX", "Archive"] {
            all.push((
                user.to_string(),
                mailbox.to_string(),
                imap.messages(mailbox).unwrap(),
            ));
        }
        imap.logout();
    }
    all
}

fn fsck(server: &Server, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["fsck"];
    all.extend_from_slice(args);
    let Output {
        status,
        stdout,
        stderr,
    } = server.cli(&all, None);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.code(), text)
}

/// The partition folders of the store, and their segment files.
fn partitions(server: &Server) -> Vec<(PathBuf, Vec<PathBuf>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(server.data_dir().join("store")).unwrap() {
        let dir = entry.unwrap().path();
        let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        segments.sort();
        out.push((dir, segments));
    }
    out.sort();
    out
}

/// Offsets of the records of a segment file.
fn record_offsets(segment: &Path) -> (Vec<u8>, Vec<usize>) {
    let data = std::fs::read(segment).unwrap();
    let offsets = Scanner::new(&data, 0, record::first_chain(&data))
        .map(|r| r.offset)
        .collect();
    (data, offsets)
}

/// The index file name of `address`'s current incarnation (`address#incarnation`, with
/// `#` escaped as the store names files).
fn idx(server: &Server, address: &str) -> String {
    let accounts =
        ringpost::accounts::AccountStore::open(&server.data_dir(), &["example.com".into()])
            .unwrap();
    let key = accounts.lookup(address).unwrap().unwrap().store_key();
    format!("{}.idx", key.replace('#', "%23"))
}

#[test]
fn a_clean_store_passes_and_a_running_servers_store_is_left_alone() {
    let mut server = Server::start(options());
    fill(&server);
    let (code, text) = fsck(&server, &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("stop the server before running fsck"),
        "{text}"
    );
    assert!(server.terminate().success());
    let (code, text) = fsck(&server, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(": clean"), "{text}");
    // Both accounts' partitions, each with its segments and records.
    assert!(text.contains("2 accounts"), "{text}");
    assert!(
        partitions(&server).iter().any(|(_, s)| s.len() > 1),
        "the mail should fill more than one segment"
    );
    // --repair on a clean store changes nothing.
    let (code, text) = fsck(&server, &["--repair"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("nothing to repair"), "{text}");
}

#[test]
fn a_flipped_byte_in_a_sealed_segment_is_named_and_never_repaired() {
    let mut server = Server::start(options());
    fill(&server);
    assert!(server.terminate().success());
    let (_, segments) = partitions(&server)
        .into_iter()
        .find(|(_, s)| s.len() > 1)
        .expect("a partition with a sealed segment");
    let sealed = &segments[0];
    let (mut data, offsets) = record_offsets(sealed);
    assert!(offsets.len() > 4, "{offsets:?}");
    let damaged = offsets[3];
    data[damaged + record::HEADER + 17] ^= 0x04;
    std::fs::write(sealed, &data).unwrap();

    let (code, text) = fsck(&server, &[]);
    assert_eq!(code, Some(1), "{text}");
    let name = sealed.file_name().unwrap().to_string_lossy();
    assert!(
        text.contains(&format!("{name} offset {damaged}: CRC-32C mismatch")),
        "{text}"
    );
    assert!(
        text.contains("records after it check on their own"),
        "{text}"
    );
    // The log is never rewritten, and indexes are not rebuilt from a damaged log.
    let (code, text) = fsck(&server, &["--repair"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("not repaired: the log itself is damaged"),
        "{text}"
    );
    assert_eq!(std::fs::read(sealed).unwrap(), data);
}

#[test]
fn a_torn_tail_is_a_warning() {
    let mut server = Server::start(options());
    fill(&server);
    assert!(server.terminate().success());
    // What a crash in the middle of a write leaves: half a record after the last one.
    let (_, segments) = partitions(&server).into_iter().next().unwrap();
    let last = segments.last().unwrap();
    let (mut data, offsets) = record_offsets(last);
    let end = {
        let at = *offsets.last().unwrap();
        let len = u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap()) as usize;
        at + record::framed_len(len)
    };
    let mut torn = Vec::new();
    let mut chain = record::Chain::START;
    record::encode(&mut torn, &mut chain, &[7u8; 3000]);
    torn.truncate(1000);
    data[end..end + torn.len()].copy_from_slice(&torn);
    std::fs::write(last, &data).unwrap();
    let (code, text) = fsck(&server, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("offset {end}")), "{text}");
    assert!(text.contains("torn tail"), "{text}");
    assert!(text.contains(": clean"), "{text}");
}

#[test]
fn deleted_and_corrupted_indexes_are_rebuilt_by_repair() {
    let mut server = Server::start(options());
    fill(&server);
    let before = everything(&server);
    assert!(before.iter().all(|(_, _, m)| !m.is_empty()));
    assert!(server.terminate().success());

    let index = |account: &str| {
        partitions(&server)
            .into_iter()
            .map(|(dir, _)| dir.join("accounts").join(idx(&server, account)))
            .find(|p| p.exists())
            .unwrap()
    };
    let (alice, bob) = (index(ALICE.0), index(BOB.0));
    std::fs::remove_file(&alice).unwrap();
    let mut bytes = std::fs::read(&bob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&bob, &bytes).unwrap();
    // And bob's partition loses its checkpoint to a flipped bit.
    let checkpoint = bob.parent().unwrap().parent().unwrap().join("checkpoint");
    let mut cp = std::fs::read(&checkpoint).unwrap();
    cp[10] ^= 0x01;
    std::fs::write(&checkpoint, &cp).unwrap();

    let (code, text) = fsck(&server, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!("accounts/{} is missing", idx(&server, ALICE.0))),
        "{text}"
    );
    assert!(
        text.contains(&format!("accounts/{}: unreadable", idx(&server, BOB.0))),
        "{text}"
    );
    assert!(
        text.contains("checkpoint: corrupt checkpoint: checksum mismatch"),
        "{text}"
    );

    let (code, text) = fsck(&server, &["--repair"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "accounts/{} rebuilt from the log",
            idx(&server, ALICE.0)
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "accounts/{} rebuilt from the log",
            idx(&server, BOB.0)
        )),
        "{text}"
    );
    assert_eq!(text.matches(": checkpoint written at").count(), 2, "{text}");
    // The corrupted file is kept for the operator.
    let kept = std::fs::read_dir(bob.parent().unwrap().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("fsck-backup-"))
        .expect("a backup folder");
    assert_eq!(
        std::fs::read(kept.join("accounts").join(idx(&server, BOB.0))).unwrap(),
        bytes
    );
    let (code, text) = fsck(&server, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(": clean"), "{text}");

    server.spawn();
    let after = everything(&server);
    assert_eq!(after.len(), before.len());
    // `\Recent` is memory only: after a restart nothing is recent.
    let meta = |m: &[Fetched]| -> Vec<String> {
        m.iter()
            .map(|(_, text, _)| {
                text.replace("\\Recent", "")
                    .replace("( ", "(")
                    .replace(" )", ")")
            })
            .collect()
    };
    for (b, a) in before.iter().zip(&after) {
        assert_eq!((&a.0, &a.1), (&b.0, &b.1));
        assert_eq!(meta(&a.2), meta(&b.2), "{} {}", b.0, b.1);
        assert!(
            a.2.iter().map(|m| &m.2).eq(b.2.iter().map(|m| &m.2)),
            "{} {}: message bytes differ",
            b.0,
            b.1
        );
    }
}

#[test]
fn an_index_file_older_than_the_checkpoint_is_found_and_brought_up_to_date() {
    let mut server = Server::start(options());
    fill(&server);
    assert!(server.terminate().success());
    let index = partitions(&server)
        .into_iter()
        .map(|(dir, _)| dir.join("accounts").join(idx(&server, ALICE.0)))
        .find(|p| p.exists())
        .unwrap();
    let old = std::fs::read(&index).unwrap();
    server.spawn();
    let ep = endpoint(&server, "smtp", TlsMode::None, Duration::from_secs(20));
    let mut smtp = Smtp::connect(&ep, "client.example").unwrap();
    for n in 200..205 {
        smtp.send(
            "sender@remote.example",
            &[ALICE.0.to_string()],
            &message(n, ALICE.0),
        )
        .unwrap();
    }
    smtp.quit().unwrap();
    let before = everything(&server);
    assert!(server.terminate().success());
    // An operator restores yesterday's copy of the file.
    std::fs::write(&index, &old).unwrap();
    let (code, text) = fsck(&server, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "accounts/{}: stands at seq",
            idx(&server, ALICE.0)
        )),
        "{text}"
    );
    assert!(text.contains("recovery will not replay it"), "{text}");
    let (code, text) = fsck(&server, &["--repair"]);
    assert_eq!(code, Some(0), "{text}");
    server.spawn();
    let after = everything(&server);
    let count = |all: &Everything| -> Vec<usize> { all.iter().map(|(_, _, m)| m.len()).collect() };
    assert_eq!(count(&after), count(&before));
}

/// Once compaction has deleted the oldest segments, an account created in them lives on in
/// its index file only: fsck says a lost one cannot be rebuilt (and `--repair` leaves it),
/// while a lost checkpoint is rebuilt from the intact index files and the log.
#[test]
fn after_compaction_a_lost_index_is_not_invented_but_a_lost_checkpoint_is_rebuilt() {
    let mut server = Server::start(Options {
        extra: "[auth]\nfailure_delay_ms = 50\n[store]\nsegment_size = 65536\ncompact_dead_percent = 30\n"
            .into(),
        log: "ringpost=info",
        ..Options::default()
    });
    let timeout = Duration::from_secs(20);
    let ep = endpoint(&server, "smtp", TlsMode::None, timeout);
    let mut smtp = Smtp::connect(&ep, "client.example").unwrap();
    for n in 0..150 {
        smtp.send(
            "sender@remote.example",
            &[ALICE.0.to_string()],
            &message(n, ALICE.0),
        )
        .unwrap();
    }
    smtp.quit().unwrap();
    let imaps = endpoint(&server, "imaps", TlsMode::Implicit, timeout);
    let mut imap = Imap::login(&imaps, ALICE.0, ALICE.1).unwrap();
    imap.checked("SELECT INBOX").unwrap();
    imap.checked("STORE 1:140 +FLAGS.SILENT (\\Deleted)")
        .unwrap();
    imap.checked("EXPUNGE").unwrap();
    imap.logout();
    // Compaction runs in the background after the expunge: wait for it (bounded).
    for _ in 0..600 {
        if server.log().contains("compacted") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.log().contains("compacted"), "{}", server.log());
    let before = everything(&server);
    assert!(server.terminate().success());

    let (code, text) = fsck(&server, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(", compacted"), "{text}");
    let index = partitions(&server)
        .into_iter()
        .map(|(dir, _)| dir.join("accounts").join(idx(&server, ALICE.0)))
        .find(|p| p.exists())
        .unwrap();
    let kept = std::fs::read(&index).unwrap();
    std::fs::remove_file(&index).unwrap();
    let (code, text) = fsck(&server, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!("accounts/{} is missing", idx(&server, ALICE.0))),
        "{text}"
    );
    let (code, text) = fsck(&server, &["--repair"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "cannot rebuild accounts/{}",
            idx(&server, ALICE.0)
        )),
        "{text}"
    );
    assert!(!index.exists());

    std::fs::write(&index, &kept).unwrap();
    let checkpoint = index.parent().unwrap().parent().unwrap().join("checkpoint");
    std::fs::write(&checkpoint, b"not a checkpoint").unwrap();
    let (code, text) = fsck(&server, &[]);
    assert_eq!(code, Some(1), "{text}");
    let (code, text) = fsck(&server, &["--repair"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("checkpoint written at"), "{text}");
    server.spawn();
    let after = everything(&server);
    let count = |all: &Everything| -> Vec<usize> { all.iter().map(|(_, _, m)| m.len()).collect() };
    assert_eq!(count(&after), count(&before));
    for (b, a) in before.iter().zip(&after) {
        assert!(
            a.2.iter().map(|m| &m.2).eq(b.2.iter().map(|m| &m.2)),
            "{} {}: message bytes differ",
            b.0,
            b.1
        );
    }
}
