//! End to end: `ringpost backup` of a server under SMTP load, `ringpost restore` into a fresh
//! data folder, and a server on the restored data: every message acknowledged before the
//! backup started is there exactly once, byte for byte. Also the offline backup (server
//! stopped) and the refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{mailbox_messages, strip_our_received, Options, Server, ALICE, BOB};

/// One message that got its `250`.
struct Acked {
    id: String,
    rcpt: &'static str,
    body: Vec<u8>,
    at: Instant,
}

/// A plain SMTP session on the inbound listener.
struct Smtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Smtp {
    fn connect(port: u16) -> Smtp {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut s = Smtp {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        assert_eq!(s.reply(), 220);
        s.command("EHLO sender.example", 250);
        s
    }

    /// The code of the next (possibly multi-line) reply.
    fn reply(&mut self) -> u16 {
        loop {
            let mut line = String::new();
            assert!(
                self.reader.read_line(&mut line).unwrap() > 0,
                "server closed"
            );
            if line.as_bytes().get(3) != Some(&b'-') {
                return line[..3].parse().unwrap();
            }
        }
    }

    fn command(&mut self, line: &str, expect: u16) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        let code = self.reply();
        assert_eq!(code, expect, "{line}");
    }

    /// Send one message; returns when it got its 250.
    fn send(&mut self, rcpt: &str, body: &[u8]) {
        self.command("MAIL FROM:<load@remote.example>", 250);
        self.command(&format!("RCPT TO:<{rcpt}>"), 250);
        self.command("DATA", 354);
        self.writer.write_all(body).unwrap();
        self.writer.write_all(b".\r\n").unwrap();
        assert_eq!(self.reply(), 250);
    }
}

/// A message of a few KiB to a few tens of KiB (lines never start with a dot).
fn message(id: &str, rcpt: &str, i: usize) -> Vec<u8> {
    let mut m = format!(
        "From: load@remote.example\r\nTo: <{rcpt}>\r\nMessage-ID: {id}\r\nSubject: load {i}\r\n\r\n"
    )
    .into_bytes();
    for line in 0..(20 + (i * 37) % 400) {
        m.extend_from_slice(format!("{id} line {line} {}\r\n", "x".repeat(60)).as_bytes());
    }
    m
}

/// Send messages from one session, alternating recipients, until `stop` (or `limit`).
fn sender(port: u16, n: usize, stop: Arc<AtomicBool>, total: Arc<AtomicUsize>) -> Vec<Acked> {
    let mut smtp = Smtp::connect(port);
    let mut acked = Vec::new();
    for i in 0..2_000 {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let rcpt = [ALICE.0, BOB.0][(i + n) % 2];
        let id = format!("<load-{n}-{i}@backup.test>");
        let body = message(&id, rcpt, i);
        smtp.send(rcpt, &body);
        acked.push(Acked {
            id,
            rcpt,
            body,
            at: Instant::now(),
        });
        total.fetch_add(1, Ordering::SeqCst);
    }
    smtp.command("QUIT", 221);
    acked
}

/// The stored messages of an INBOX by Message-ID, each with how often it is there.
fn by_message_id(messages: Vec<Vec<u8>>) -> HashMap<String, Vec<Vec<u8>>> {
    let mut out: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for m in messages {
        let text = String::from_utf8_lossy(&m).to_string();
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .expect("a Message-ID")
            .to_string();
        out.entry(id).or_default().push(m);
    }
    out
}

/// A server on `dir`'s copy of `config_text`, on the same ports (the first server is
/// stopped), not started yet.
fn server_in(dir: tempfile::TempDir, config_text: &str, like: &Server) -> Server {
    let config = dir.path().join("ringpost.toml");
    std::fs::write(&config, config_text).unwrap();
    Server {
        stderr: dir.path().join("server.log"),
        dir,
        config,
        ports: like.ports.clone(),
        listen: like.listen.clone(),
        child: None,
        log_level: like.log_level,
        soft_open_files: like.soft_open_files,
        env: like.env.clone(),
        netns: like.netns.clone(),
    }
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn a_backup_under_load_restores_every_message_acknowledged_before_it() {
    let mut server = Server::start(Options::default());
    let port = server.port("smtp");
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..4)
        .map(|n| {
            let (stop, total) = (stop.clone(), total.clone());
            std::thread::spawn(move || sender(port, n, stop, total))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while total.load(Ordering::SeqCst) < 60 {
        assert!(Instant::now() < deadline, "the load did not get going");
        std::thread::sleep(Duration::from_millis(10));
    }

    // A destination that is not empty is refused before anything is done.
    let dest_dir = tempfile::tempdir().unwrap();
    std::fs::write(dest_dir.path().join("x"), "").unwrap();
    let refused = server.cli(&["backup", dest_dir.path().to_str().unwrap()], None);
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    assert!(
        stderr(&refused).contains("is not empty"),
        "{}",
        stderr(&refused)
    );

    let dest = dest_dir.path().join("backup");
    let started = Instant::now();
    let out = server.cli(&["backup", dest.to_str().unwrap()], None);
    let done = Instant::now();
    assert!(
        out.status.success(),
        "backup failed: {}\n{}",
        stderr(&out),
        server.log()
    );
    let report = stdout(&out);
    assert!(report.contains("(from the running server)"), "{report}");
    assert!(
        report.contains(" at their durable log end, 0 copied whole)"),
        "{report}"
    );
    assert!(report.contains("copied "), "{report}");
    // Delivery went on during the backup and after it.
    let at_done = total.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    while total.load(Ordering::SeqCst) < at_done + 20 {
        assert!(
            Instant::now() < deadline,
            "delivery stopped after the backup"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::SeqCst);
    let acked: Vec<Acked> = senders
        .into_iter()
        .flat_map(|s| s.join().unwrap())
        .collect();
    assert!(server.terminate().success(), "{}", server.log());
    // The server removed the snapshot it linked for the backup.
    let snapshots = server.data_dir().join("snapshots");
    assert!(
        !snapshots.exists() || std::fs::read_dir(&snapshots).unwrap().next().is_none(),
        "a snapshot folder was left behind"
    );
    let before: Vec<&Acked> = acked.iter().filter(|a| a.at < started).collect();
    let during = acked
        .iter()
        .filter(|a| a.at >= started && a.at <= done)
        .count();
    assert!(before.len() >= 60, "{} acknowledged before", before.len());

    // Restore into a fresh data folder, with the same configuration.
    let config_text = std::fs::read_to_string(&server.config).unwrap();
    let mut restored = server_in(tempfile::tempdir().unwrap(), &config_text, &server);
    let out = restored.cli(&["restore", dest.to_str().unwrap()], None);
    assert!(out.status.success(), "restore failed: {}", stderr(&out));
    let report = stdout(&out);
    assert!(report.contains("the store opens: "), "{report}");
    assert!(
        report.contains("accounts in the accounts file: 2"),
        "{report}"
    );
    // Restoring again into what is now a data folder with data is refused.
    let again = restored.cli(&["restore", dest.to_str().unwrap()], None);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("is not empty"),
        "{}",
        stderr(&again)
    );

    // The restored server serves and takes new mail (its log goes on from the snapshot).
    restored.spawn();
    let after_id = "<after-restore@backup.test>";
    let after = message(after_id, ALICE.0, 7);
    let mut smtp = Smtp::connect(port);
    smtp.send(ALICE.0, &after);
    smtp.command("QUIT", 221);
    // While it runs, a restore onto its data folder is refused.
    let running = restored.cli(&["restore", dest.to_str().unwrap()], None);
    assert_eq!(running.status.code(), Some(1));
    assert!(
        stderr(&running).contains("is running on") && stderr(&running).contains("stop it"),
        "{}",
        stderr(&running)
    );
    assert!(restored.terminate().success(), "{}", restored.log());

    let data = restored.data_dir();
    let mut stored = by_message_id(mailbox_messages(&data, 2, ALICE.0, "INBOX"));
    let bob = by_message_id(mailbox_messages(&data, 2, BOB.0, "INBOX"));
    for (id, copies) in &bob {
        assert!(!stored.contains_key(id), "{id} is in both INBOXes");
        stored.insert(id.clone(), copies.clone());
    }
    for a in &before {
        let copies = stored.get(&a.id).unwrap_or_else(|| {
            panic!(
                "{} (to {}) was acknowledged before the backup and is not in it",
                a.id, a.rcpt
            )
        });
        assert_eq!(copies.len(), 1, "{} is there {} times", a.id, copies.len());
        assert_eq!(
            strip_our_received(&copies[0]),
            &a.body[..],
            "{} differs",
            a.id
        );
    }
    for (id, copies) in &stored {
        assert_eq!(copies.len(), 1, "{id} is there {} times", copies.len());
    }
    let new = stored
        .get(after_id)
        .expect("the message sent after the restore");
    assert_eq!(strip_our_received(&new[0]), &after[..]);
    // Messages acknowledged after the backup finished cannot be in it.
    let later = acked.iter().filter(|a| a.at > done).count();
    let in_backup = stored.len() - 1;
    assert!(
        in_backup <= acked.len() - later,
        "{in_backup} messages in the backup, but only {} were acknowledged by its end",
        acked.len() - later
    );
    eprintln!(
        "acknowledged: {} before the backup, {during} during it, {later} after; in the backup: {in_backup}",
        before.len()
    );
}

#[test]
fn a_backup_with_the_server_stopped_restores_the_store_as_it_was() {
    let mut server = Server::start(Options::default());
    let mut smtp = Smtp::connect(server.port("smtp"));
    for i in 0..6 {
        let rcpt = [ALICE.0, BOB.0][i % 2];
        let id = format!("<offline-{i}@backup.test>");
        smtp.send(rcpt, &message(&id, rcpt, i));
    }
    smtp.command("QUIT", 221);
    assert!(server.terminate().success());

    let dest_dir = tempfile::tempdir().unwrap();
    let dest = dest_dir.path().join("b");
    let out = server.cli(&["backup", dest.to_str().unwrap()], None);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    let report = stdout(&out);
    assert!(report.contains("(with the server stopped)"), "{report}");
    assert!(
        report.contains("(0 at their durable log end, 2 copied whole)"),
        "{report}"
    );
    assert!(dest.join("ringpost-backup").is_file());
    // No snapshot folder stays.
    let snapshots = server.data_dir().join("snapshots");
    assert_eq!(std::fs::read_dir(&snapshots).unwrap().count(), 0);

    let config_text = std::fs::read_to_string(&server.config).unwrap();
    let restored = server_in(tempfile::tempdir().unwrap(), &config_text, &server);
    // A folder without the manifest (an unfinished backup) is not restored, and the data
    // folder is left as it was.
    std::fs::remove_file(dest.join("ringpost-backup")).unwrap();
    let out = restored.cli(&["restore", dest.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("has no ringpost-backup file"),
        "{}",
        stderr(&out)
    );
    assert!(!restored.data_dir().exists());
    // The manifest back (backed up again into a second folder for it), the restore goes.
    let dest = dest_dir.path().join("c");
    let out = server.cli(&["backup", dest.to_str().unwrap()], None);
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    let out = restored.cli(&["restore", dest.to_str().unwrap()], None);
    assert!(out.status.success(), "restore failed: {}", stderr(&out));
    assert!(
        stdout(&out).contains("accounts: 2, messages: 6;"),
        "{}",
        stdout(&out)
    );
    for account in [ALICE.0, BOB.0] {
        assert_eq!(
            mailbox_messages(&restored.data_dir(), 2, account, "INBOX"),
            mailbox_messages(&server.data_dir(), 2, account, "INBOX"),
            "{account}"
        );
    }
}
