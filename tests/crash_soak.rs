//! Whole-server crash soak: the real `ringpost serve` on a temporary data folder, SMTP
//! senders (inbound without TLS, submission over implicit TLS with AUTH, some messages to two
//! recipients on different partitions) and one IMAP client per account doing APPEND, STORE
//! and UID EXPUNGE, with 64 KiB segments and compaction at 30 % released so compaction runs
//! all the time. Each cycle the server gets SIGKILL at a seeded moment (after a seeded number
//! of acknowledged operations, plus a seeded delay of a few milliseconds, so the kill lands
//! while writes and compactions are in flight), `ringpost fsck` must find the store clean
//! (a torn tail is a warning), and after a restart IMAP must show:
//!
//! - every acknowledged message (SMTP `250` after DATA to each recipient, IMAP APPEND `OK`)
//!   exactly once, byte for byte (SMTP ones behind our `Return-Path:`/`Received:`);
//! - no message whose UID EXPUNGE was acknowledged, and none that was seen expunged (one
//!   whose UID EXPUNGE was sent but not answered before the kill may be there or not);
//! - every message seen once after a restart again (durable: it never vanishes), and no
//!   message twice or torn, acknowledged or not;
//! - `\Flagged` on every message whose STORE was acknowledged.
//!
//! `cargo test` runs a short form (3 cycles). `RINGPOST_SOAK_CYCLES=N` runs N cycles and
//! `RINGPOST_SOAK_SEED=S` another seed; the summary is printed at the end
//! (`--nocapture`). Every loop is bounded in count and in time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use loadtest::conn::{Endpoint, TlsMode};
use loadtest::smtp::Smtp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::clients::{endpoint, Imap};
use support::{strip_our_received, Options, Server, ALICE, BOB};

const SHORT_CYCLES: u64 = 3;
const DEFAULT_SEED: u64 = 0x50a4_0012;
/// Acknowledged operations per cycle before the kill is armed.
const OPS_BEFORE_KILL: std::ops::Range<u64> = 40..160;
/// Bounds of one cycle's load: operations per worker, and time to reach the kill.
const MAX_OPS_PER_WORKER: u64 = 5_000;
const CYCLE_DEADLINE: Duration = Duration::from_secs(120);
/// Messages an IMAP client leaves in its INBOX (it expunges the oldest beyond this).
const MAILBOX_CAP: usize = 200;
/// Socket time-out of every client.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
const ACCOUNTS: [(&str, &str); 2] = [ALICE, BOB];

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

fn options() -> Options {
    Options {
        extra: "[auth]\nfailure_delay_ms = 50\n[store]\nsegment_size = 65536\ncompact_dead_percent = 30\n"
            .into(),
        shards: 2,
        log: "ringpost=info",
        ..Options::default()
    }
}

/// A stable 64-bit hash of an id (FNV-1a): the seed of its message's bytes.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The bytes of the message with `id`, the same every time: `a-…` (IMAP APPEND) are 4–14 KB,
/// `s-…` (SMTP) 0.3–4 KB.
fn content(id: &str) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(fnv(id));
    let size = if id.starts_with("a-") {
        rng.gen_range(4_000..14_000)
    } else {
        rng.gen_range(300..4_000)
    };
    let mut m = format!(
        "From: soak@remote.example\r\nTo: soak@example.com\r\nSubject: {id}\r\nMessage-ID: <{id}@soak.test>\r\n\r\n"
    )
    .into_bytes();
    while m.len() < size {
        let line: String = (0..72)
            .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789 "[rng.gen_range(0..37)]))
            .collect();
        m.extend_from_slice(line.trim().as_bytes());
        m.extend_from_slice(b"\r\n");
    }
    m
}

/// The id in a stored message's Message-ID.
fn id_of(message: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&message[..message.len().min(4096)]);
    let at = text.find("Message-ID: <")? + "Message-ID: <".len();
    let end = text[at..].find("@soak.test>")?;
    Some(text[at..at + end].to_string())
}

/// What a client was told: each is acknowledged, so it must survive any crash.
#[derive(Debug, Clone)]
enum Ack {
    /// `250` after DATA: `id` is in each account's INBOX.
    Delivered(String, Vec<String>),
    /// APPEND `OK`.
    Appended(String, String),
    /// UID EXPUNGE sent for these ids (not acknowledged yet): until the server answers they
    /// may be there or not, and a kill before the answer leaves either.
    Expunging(String, Vec<String>),
    /// UID EXPUNGE `OK` for these ids of this account.
    Expunged(String, Vec<String>),
    /// UID STORE +FLAGS (\Flagged) `OK`.
    Flagged(String, Vec<String>),
}

struct Load {
    acks: Mutex<Vec<Ack>>,
    ops: AtomicU64,
    stop: AtomicBool,
}

impl Load {
    fn ack(&self, ack: Ack) {
        self.acks.lock().unwrap().push(ack);
        self.ops.fetch_add(1, Ordering::SeqCst);
    }

    /// Note what is about to be asked (not an acknowledged operation).
    fn intent(&self, ack: Ack) {
        self.acks.lock().unwrap().push(ack);
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::SeqCst)
    }
}

/// An SMTP sender: inbound without TLS, or submission over implicit TLS as alice. Stops at
/// the first error (the server was killed).
fn smtp_sender(ep: &Endpoint, load: &Load, cycle: u64, worker: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let submission = ep.tls == TlsMode::Implicit;
    let Ok(mut smtp) = Smtp::connect(ep, "soak.example") else {
        return;
    };
    if submission && smtp.auth_plain(ALICE.0, ALICE.1).is_err() {
        return;
    }
    for n in 0..MAX_OPS_PER_WORKER {
        if !load.running() {
            break;
        }
        let id = format!("s-c{cycle}-w{worker}-n{n}");
        let to: Vec<String> = match rng.gen_range(0..4) {
            0 => vec![ALICE.0.into(), BOB.0.into()],
            1 => vec![BOB.0.into()],
            _ => vec![ALICE.0.into()],
        };
        if smtp
            .send("soak@remote.example", &to, &content(&id))
            .is_err()
        {
            return;
        }
        load.ack(Ack::Delivered(id, to));
    }
    let _ = smtp.quit();
}

/// The (UID, id) of every message in the selected mailbox, from their Message-IDs.
fn ids_in_mailbox(imap: &mut Imap) -> Option<Vec<(u32, String)>> {
    let reply = imap
        .command("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        .ok()?;
    if !reply.ok() {
        return None;
    }
    let mut out = Vec::new();
    for u in reply.untagged {
        let uid = u
            .text
            .split("UID ")
            .nth(1)
            .and_then(|r| r.split([' ', ')']).next())
            .and_then(|n| n.parse().ok());
        let id = u.literals.first().and_then(|h| id_of(h));
        if let (Some(uid), Some(id)) = (uid, id) {
            out.push((uid, id));
        }
    }
    Some(out)
}

fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// An IMAP client of `account`: APPENDs, and every few operations expunges a fifth of the
/// INBOX and the oldest beyond [`MAILBOX_CAP`] (UID EXPUNGE of those UIDs only) and flags a
/// few of the rest.
fn imap_worker(ep: &Endpoint, load: &Load, cycle: u64, worker: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (account, password) = ACCOUNTS[worker % 2];
    let Ok(mut imap) = Imap::login(ep, account, password) else {
        return;
    };
    if imap.checked("SELECT INBOX").is_err() {
        return;
    }
    for n in 0..MAX_OPS_PER_WORKER {
        if !load.running() {
            break;
        }
        if n % 6 == 5 {
            let Some(present) = ids_in_mailbox(&mut imap) else {
                return;
            };
            // A fifth at random, and the oldest beyond MAILBOX_CAP: most messages live
            // through a few kills (and are checked after each restart), while old segments
            // die off for compaction.
            let (mut gone, mut kept): (Vec<_>, Vec<_>) =
                present.into_iter().partition(|_| rng.gen_bool(0.2));
            if kept.len() > MAILBOX_CAP {
                let excess = kept.len() - MAILBOX_CAP;
                gone.extend(kept.drain(..excess));
            }
            if !gone.is_empty() {
                let uids: Vec<u32> = gone.iter().map(|g| g.0).collect();
                let set = uid_set(&uids);
                let stored = imap.command(&format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"));
                if !stored.is_ok_and(|r| r.ok()) {
                    return;
                }
                load.intent(Ack::Expunging(
                    account.into(),
                    gone.iter().map(|g| g.1.clone()).collect(),
                ));
                match imap.command(&format!("UID EXPUNGE {set}")) {
                    Ok(r) if r.ok() => load.ack(Ack::Expunged(
                        account.into(),
                        gone.into_iter().map(|g| g.1).collect(),
                    )),
                    _ => return,
                }
            }
            let flag: Vec<(u32, String)> = kept.into_iter().filter(|_| rng.gen_bool(0.2)).collect();
            if !flag.is_empty() {
                let uids: Vec<u32> = flag.iter().map(|f| f.0).collect();
                match imap.command(&format!(
                    "UID STORE {} +FLAGS.SILENT (\\Flagged)",
                    uid_set(&uids)
                )) {
                    Ok(r) if r.ok() => load.ack(Ack::Flagged(
                        account.into(),
                        flag.into_iter().map(|f| f.1).collect(),
                    )),
                    _ => return,
                }
            }
            continue;
        }
        let id = format!("a-c{cycle}-w{worker}-n{n}");
        match imap.append("INBOX", &content(&id)) {
            Ok(r) if r.ok() => load.ack(Ack::Appended(id, account.into())),
            _ => return,
        }
    }
    imap.logout();
}

/// What must be true of one account's INBOX from now on.
#[derive(Default)]
struct Expected {
    /// Must be there exactly once.
    present: BTreeSet<String>,
    /// Must never be there again.
    gone: BTreeSet<String>,
    /// May be there (once) or not: an expunge was asked for and not answered.
    uncertain: BTreeSet<String>,
    /// Must carry `\Flagged` while there.
    flagged: BTreeSet<String>,
}

#[derive(Default)]
struct Totals {
    acked_messages: u64,
    acked_expunges: u64,
    acked_flags: u64,
    presence_checks: u64,
    /// Distinct acknowledged or seen message copies found present at least once.
    checked_present: BTreeSet<(String, String)>,
    absence_checks: u64,
    unacked_seen: u64,
    uncertain_resolved: u64,
    torn_tails: u64,
    compactions: u64,
}

/// Apply the acknowledgements of a cycle to what is expected: arrivals, then flags, then
/// expunges. (A client may record a `250` after another client already saw the message and
/// expunged it; ids are never reused, so an expunged id is gone for good.)
fn expect(expected: &mut BTreeMap<String, Expected>, acks: &[Ack], totals: &mut Totals) {
    let rank = |a: &Ack| match a {
        Ack::Delivered(..) | Ack::Appended(..) => 0,
        Ack::Flagged(..) => 1,
        Ack::Expunging(..) | Ack::Expunged(..) => 2,
    };
    let mut acks: Vec<&Ack> = acks.iter().collect();
    acks.sort_by_key(|a| rank(a));
    for ack in acks {
        match ack {
            Ack::Delivered(id, to) => {
                for account in to {
                    let e = expected.entry(account.clone()).or_default();
                    e.present.insert(id.clone());
                    totals.acked_messages += 1;
                }
            }
            Ack::Appended(id, account) => {
                let e = expected.entry(account.clone()).or_default();
                e.present.insert(id.clone());
                totals.acked_messages += 1;
            }
            Ack::Expunging(account, ids) => {
                let e = expected.entry(account.clone()).or_default();
                for id in ids {
                    if e.present.remove(id) {
                        e.uncertain.insert(id.clone());
                    }
                }
            }
            Ack::Expunged(account, ids) => {
                let e = expected.entry(account.clone()).or_default();
                for id in ids {
                    e.present.remove(id);
                    e.uncertain.remove(id);
                    e.flagged.remove(id);
                    e.gone.insert(id.clone());
                    totals.acked_expunges += 1;
                }
            }
            Ack::Flagged(account, ids) => {
                let e = expected.entry(account.clone()).or_default();
                for id in ids {
                    e.flagged.insert(id.clone());
                    totals.acked_flags += 1;
                }
            }
        }
    }
}

/// Check every account's INBOX over IMAP against what is expected; then what was seen becomes
/// expected too (what recovery showed once is durable).
fn verify(
    server: &Server,
    expected: &mut BTreeMap<String, Expected>,
    totals: &mut Totals,
    cycle: u64,
    seed: u64,
) {
    let ep = endpoint(server, "imaps", TlsMode::Implicit, CLIENT_TIMEOUT);
    for (account, password) in ACCOUNTS {
        let e = expected.entry(account.to_string()).or_default();
        let mut imap = Imap::login(&ep, account, password).unwrap();
        let messages = imap.messages("INBOX").unwrap();
        imap.logout();
        let mut seen: BTreeMap<String, u32> = BTreeMap::new();
        let mut problems = Vec::new();
        for (uid, text, bytes) in &messages {
            let Some(id) = id_of(bytes) else {
                problems.push(format!("UID {uid}: no soak Message-ID"));
                continue;
            };
            *seen.entry(id.clone()).or_insert(0) += 1;
            let sent = if id.starts_with("s-") {
                strip_our_received(bytes)
            } else {
                &bytes[..]
            };
            if sent != content(&id) {
                problems.push(format!("UID {uid} ({id}): bytes differ from what was sent"));
            }
            if e.flagged.contains(&id) && !text.contains("\\Flagged") {
                problems.push(format!("UID {uid} ({id}): acknowledged \\Flagged is gone"));
            }
        }
        for (id, n) in &seen {
            if *n > 1 {
                problems.push(format!("{id} is there {n} times"));
            }
            if e.gone.contains(id) {
                problems.push(format!("{id} was expunged and is back"));
            }
            if !e.present.contains(id) && !e.uncertain.contains(id) {
                totals.unacked_seen += 1;
            }
        }
        for id in &e.present {
            if !seen.contains_key(id) {
                problems.push(format!("{id} (acknowledged) is lost"));
            }
        }
        totals.presence_checks += e.present.len() as u64;
        for id in &e.present {
            totals
                .checked_present
                .insert((account.to_string(), id.clone()));
        }
        totals.absence_checks += e.gone.len() as u64;
        if !problems.is_empty() {
            panic!(
                "cycle {cycle} (seed {seed:#x}), {account}: {}\n{}\n--- server log\n{}",
                keep(server, cycle, seed),
                problems.join("\n"),
                tail(&server.log())
            );
        }
        // What was seen is durable now: expunged ones (acknowledged or not) stay gone, new
        // ones (acknowledged or not) stay.
        let gone: Vec<String> = e
            .present
            .iter()
            .chain(&e.uncertain)
            .filter(|id| !seen.contains_key(*id))
            .cloned()
            .collect();
        totals.uncertain_resolved += e.uncertain.len() as u64;
        e.uncertain.clear();
        e.gone.extend(gone);
        e.present = seen.into_keys().collect();
        e.flagged.retain(|id| e.present.contains(id));
    }
}

/// Copy the server's folder (config, data, the logs of every run) where a failure can be
/// studied, and say where.
fn keep(server: &Server, cycle: u64, seed: u64) -> String {
    let to = std::env::temp_dir().join(format!("ringpost-soak-{seed:x}-cycle-{cycle}"));
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(server.dir.path())
        .arg(&to)
        .status()
        .is_ok_and(|s| s.success());
    if copied {
        format!("(kept in {})", to.display())
    } else {
        String::new()
    }
}

/// The last lines of a server log.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

#[test]
fn acknowledged_mail_survives_sigkill_at_random_moments() {
    let cycles = env_u64("RINGPOST_SOAK_CYCLES", SHORT_CYCLES);
    let seed = env_u64("RINGPOST_SOAK_SEED", DEFAULT_SEED);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut server = Server::start(options());
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    let mut totals = Totals::default();
    let started = Instant::now();
    for cycle in 0..cycles {
        let load = Load {
            acks: Mutex::new(Vec::new()),
            ops: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        };
        let target = rng.gen_range(OPS_BEFORE_KILL);
        let delay = Duration::from_millis(rng.gen_range(0..25));
        let seeds: Vec<u64> = (0..5).map(|_| rng.gen()).collect();
        // Two inbound senders, one submission sender, an IMAP client for each account.
        let endpoints = [
            endpoint(&server, "smtp", TlsMode::None, CLIENT_TIMEOUT),
            endpoint(&server, "smtps", TlsMode::Implicit, CLIENT_TIMEOUT),
            endpoint(&server, "smtp", TlsMode::None, CLIENT_TIMEOUT),
            endpoint(&server, "imaps", TlsMode::Implicit, CLIENT_TIMEOUT),
            endpoint(&server, "imaps", TlsMode::Implicit, CLIENT_TIMEOUT),
        ];
        let mut child = server.child.take().unwrap();
        std::thread::scope(|s| {
            for (worker, (&seed, ep)) in seeds.iter().zip(&endpoints).enumerate() {
                let load = &load;
                s.spawn(move || match worker {
                    0..=2 => smtp_sender(ep, load, cycle, worker, seed),
                    _ => imap_worker(ep, load, cycle, worker, seed),
                });
            }
            let deadline = Instant::now() + CYCLE_DEADLINE;
            while load.ops.load(Ordering::SeqCst) < target && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            std::thread::sleep(delay);
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            load.stop.store(true, Ordering::SeqCst);
        });
        let log = server.log();
        let mut all = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(server.dir.path().join("every-run.log"))
            .unwrap();
        writeln!(
            all,
            "=== cycle {cycle}: killed after {} operations\n{log}",
            load.ops.load(Ordering::SeqCst)
        )
        .unwrap();
        totals.compactions += log.matches("compacted").count() as u64;
        let acks = load.acks.into_inner().unwrap();
        assert!(
            !acks.is_empty(),
            "cycle {cycle}: no operation was acknowledged\n{}",
            tail(&log)
        );
        expect(&mut expected, &acks, &mut totals);

        let out = server.cli(&["fsck"], None);
        let report = String::from_utf8_lossy(&out.stdout).to_string();
        if !out.status.success() {
            panic!(
                "cycle {cycle} (seed {seed:#x}): fsck after SIGKILL {}:\n{report}{}\n--- server log\n{}",
                keep(&server, cycle, seed),
                String::from_utf8_lossy(&out.stderr),
                tail(&log)
            );
        }
        writeln!(all, "=== fsck\n{report}").unwrap();
        totals.torn_tails += report.matches("torn tail").count() as u64;

        server.spawn();
        verify(&server, &mut expected, &mut totals, cycle, seed);
    }
    assert!(
        totals.compactions > 0 || cycles < SHORT_CYCLES,
        "compaction never ran: the soak would not cover it"
    );
    let lost = 0; // verify() fails on the first loss
    println!(
        "soak: {cycles} cycles (seed {seed:#x}) in {:.0} s: {} acknowledged message copies, {} acknowledged expunges, {} acknowledged flag changes; after restarts {} presence checks ({} distinct copies) and {} absence checks, {} unacknowledged messages found whole, {} unanswered expunges settled; {} torn tails, {} compactions; {lost} lost",
        started.elapsed().as_secs_f64(),
        totals.acked_messages,
        totals.acked_expunges,
        totals.acked_flags,
        totals.presence_checks,
        totals.checked_present.len(),
        totals.absence_checks,
        totals.unacked_seen,
        totals.uncertain_resolved,
        totals.torn_tails,
        totals.compactions,
    );
}
