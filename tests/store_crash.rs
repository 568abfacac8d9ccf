//! Crash test: a child process (this test binary, re-executed) runs concurrent appends and
//! flag changes and prints each one after it is acknowledged; the parent kills it with
//! SIGKILL at seeded random moments, reopens the store, and checks that every acknowledged
//! write is there, byte-identical, and that every stored message is whole. Bounded: a fixed
//! number of rounds, each a fraction of a second.
//!
//! The second test does the same while compaction runs all the time (most messages are
//! expunged right after they are appended): after every kill, every acknowledged message that
//! was not expunged is there byte-identical, and no acknowledged expunge is undone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use ringpost::mail::{FlagMode, Flags, SystemFlags, Uid};
use ringpost::runtime::{ShardId, ShardMap};
use ringpost::store::{Store, StoreConfig};
use std::collections::HashSet;

mod store_support;
use store_support::run as executor;

const ACCOUNTS: [&str; 2] = ["alice@example.com", "bob@example.com"];
const WRITERS: usize = 12;
const ROUNDS: u64 = 6;
const SEED: u64 = 0x5eed_0003;

fn config() -> StoreConfig {
    StoreConfig {
        segment_size: 256 << 10,
        max_loaded_accounts: 1,
        ..StoreConfig::default()
    }
}

/// The message writer `w` appends as its `n`th in round `round`: its size varies so records
/// straddle blocks and segments.
fn message(round: u64, w: usize, n: u64) -> Vec<u8> {
    let len = 50 + ((round * 7919 + w as u64 * 104_729 + n * 1_299_709) % 9000) as usize;
    let mut m = format!("Subject: r{round} w{w} n{n}\r\n\r\n").into_bytes();
    m.extend((0..len).map(|i| b'a' + ((i as u64 + n + w as u64) % 26) as u8));
    m
}

fn parse_subject(bytes: &[u8]) -> (u64, usize, u64) {
    let s = std::str::from_utf8(&bytes[..bytes.iter().position(|&b| b == b'\r').unwrap()]).unwrap();
    let mut it = s.trim_start_matches("Subject: ").split(' ');
    let mut num = |p: char| {
        it.next()
            .unwrap()
            .trim_start_matches(p)
            .parse::<u64>()
            .unwrap()
    };
    let (r, w, n) = (num('r'), num('w'), num('n'));
    (r, w as usize, n)
}

/// The child: writes until killed. Runs only when re-executed by the parent.
#[test]
#[ignore = "child process of store_crash_recovery"]
fn crash_child() {
    let Ok(dir) = std::env::var("STORE_CRASH_DIR") else {
        return;
    };
    let round: u64 = std::env::var("STORE_CRASH_ROUND").unwrap().parse().unwrap();
    executor(move || async move {
        let store = Store::new(&dir, ShardId(0), ShardMap::new(1), config());
        for a in ACCOUNTS {
            store.open_account(a).await.unwrap();
        }
        println!("READY");
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let store = store.clone();
            tasks.push(glommio::spawn_local(async move {
                let account = ACCOUNTS[w % 2];
                let mut previous = None;
                for n in 0.. {
                    let uid = store
                        .append(account, "INBOX", &message(round, w, n), Flags::default(), 0)
                        .await
                        .unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "A {account} {} {round} {w} {n}", uid.0).unwrap();
                    drop(out);
                    if let Some(p) = previous {
                        store
                            .set_flags(
                                account,
                                "INBOX",
                                &[p],
                                FlagMode::Add,
                                Flags::system(SystemFlags::FLAGGED),
                            )
                            .await
                            .unwrap();
                        println!("F {account} {}", p.0);
                    }
                    previous = Some(uid);
                }
            }));
        }
        for t in tasks {
            t.await;
        }
    });
}

#[test]
fn store_crash_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
    let mut acked: Vec<(String, u32, Vec<u8>)> = Vec::new();
    let mut flagged: Vec<(String, u32)> = Vec::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("STORE_CRASH_DIR", dir.path())
            .env("STORE_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..600)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        for line in lines {
            let f: Vec<&str> = line.split(' ').collect();
            match f[0] {
                "A" => {
                    let (r, w, n) = (
                        f[3].parse().unwrap(),
                        f[4].parse().unwrap(),
                        f[5].parse().unwrap(),
                    );
                    acked.push((f[1].to_string(), f[2].parse().unwrap(), message(r, w, n)));
                }
                "F" => flagged.push((f[1].to_string(), f[2].parse().unwrap())),
                _ => {}
            }
        }
        let root = dir.path().to_path_buf();
        let (acked2, flagged2) = (acked.clone(), flagged.clone());
        executor(move || async move {
            let store = Store::new(&root, ShardId(0), ShardMap::new(1), config());
            for (account, uid, bytes) in &acked2 {
                let got = store.read(account, "INBOX", Uid(*uid)).await.unwrap();
                assert_eq!(&*got, &bytes[..], "round {round}: {account} UID {uid}");
            }
            for (account, uid) in &flagged2 {
                let e = store
                    .messages(account, "INBOX", Uid(*uid)..=Uid(*uid))
                    .await
                    .unwrap();
                assert!(
                    e[0].flags.system.contains(SystemFlags::FLAGGED),
                    "{account} {uid}"
                );
            }
            // Every stored message is one a writer produced, whole (acknowledged or not).
            for account in ACCOUNTS {
                let all = store
                    .messages(account, "INBOX", Uid(1)..=Uid(u32::MAX))
                    .await
                    .unwrap();
                for e in all {
                    let got = store.read(account, "INBOX", e.uid).await.unwrap();
                    let (r, w, n) = parse_subject(&got);
                    assert_eq!(&*got, &message(r, w, n)[..]);
                }
                let st = store.status(account, "INBOX").await.unwrap();
                assert!(
                    st.uid_next.0
                        > acked2
                            .iter()
                            .filter(|a| a.0 == account)
                            .map(|a| a.1)
                            .max()
                            .unwrap_or(0)
                );
            }
        });
    }
    // The test is meaningful only if writes happened in most rounds.
    assert!(
        acked.len() > 50,
        "only {} acknowledged appends",
        acked.len()
    );
    assert!(!flagged.is_empty());
}

fn compacting_config() -> StoreConfig {
    StoreConfig {
        segment_size: 64 << 10,
        max_loaded_accounts: 1,
        compact_dead_ratio: 0.3,
        ..StoreConfig::default()
    }
}

/// The child of `store_crash_during_compaction`: appends, expunges two messages in three,
/// and compacts in a loop, until killed.
#[test]
#[ignore = "child process of store_crash_during_compaction"]
fn compaction_crash_child() {
    let Ok(dir) = std::env::var("STORE_COMPACT_DIR") else {
        return;
    };
    let round: u64 = std::env::var("STORE_CRASH_ROUND").unwrap().parse().unwrap();
    executor(move || async move {
        let store = Store::new(&dir, ShardId(0), ShardMap::new(1), compacting_config());
        for a in ACCOUNTS {
            store.open_account(a).await.unwrap();
        }
        println!("READY");
        let mut tasks = Vec::new();
        for w in 0..WRITERS / 2 {
            let store = store.clone();
            tasks.push(glommio::spawn_local(async move {
                let account = ACCOUNTS[w % 2];
                for n in 0.. {
                    let uid = store
                        .append(account, "INBOX", &message(round, w, n), Flags::default(), 0)
                        .await
                        .unwrap();
                    println!("A {account} {} {round} {w} {n}", uid.0);
                    if n % 3 != 0 {
                        // Said before it starts: a durable but unanswered expunge is allowed.
                        println!("E {account} {}", uid.0);
                        store.expunge(account, "INBOX", Some(&[uid])).await.unwrap();
                        println!("X {account} {}", uid.0);
                    }
                }
            }));
        }
        let compactor = store.clone();
        tasks.push(glommio::spawn_local(async move {
            loop {
                let r = compactor.compact(0.2).await.unwrap();
                println!("C {}", r.deleted);
                glommio::timer::sleep(Duration::from_millis(2)).await;
            }
        }));
        for t in tasks {
            t.await;
        }
    });
}

#[test]
fn store_crash_during_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED ^ 0xc0);
    let mut acked: Vec<(String, u32, Vec<u8>)> = Vec::new();
    let mut intents: HashSet<(String, u32)> = HashSet::new();
    let mut expunged: Vec<(String, u32)> = Vec::new();
    let mut compacted = 0u64;
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "compaction_crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("STORE_COMPACT_DIR", dir.path())
            .env("STORE_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        std::thread::sleep(Duration::from_millis(rng.gen_range(200..700)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for line in reader.join().unwrap() {
            let f: Vec<&str> = line.split(' ').collect();
            match f[0] {
                "A" if f.len() == 6 => {
                    let (r, w, n) = (
                        f[3].parse().unwrap(),
                        f[4].parse().unwrap(),
                        f[5].parse().unwrap(),
                    );
                    acked.push((f[1].to_string(), f[2].parse().unwrap(), message(r, w, n)));
                }
                "E" if f.len() == 3 => {
                    intents.insert((f[1].to_string(), f[2].parse().unwrap()));
                }
                "X" if f.len() == 3 => expunged.push((f[1].to_string(), f[2].parse().unwrap())),
                "C" if f.len() == 2 => compacted += f[1].parse::<u64>().unwrap(),
                _ => {}
            }
        }
        let root = dir.path().to_path_buf();
        let kept: Vec<_> = acked
            .iter()
            .filter(|(a, u, _)| !intents.contains(&(a.clone(), *u)))
            .cloned()
            .collect();
        let gone = expunged.clone();
        executor(move || async move {
            let store = Store::new(&root, ShardId(0), ShardMap::new(1), compacting_config());
            for (account, uid, bytes) in &kept {
                let got = store.read(account, "INBOX", Uid(*uid)).await.unwrap();
                assert_eq!(&*got, &bytes[..], "round {round}: {account} UID {uid}");
            }
            for (account, uid) in &gone {
                let e = store
                    .messages(account, "INBOX", Uid(*uid)..=Uid(*uid))
                    .await
                    .unwrap();
                assert!(e.is_empty(), "round {round}: {account} UID {uid} came back");
            }
            for account in ACCOUNTS {
                for e in store
                    .messages(account, "INBOX", Uid(1)..=Uid(u32::MAX))
                    .await
                    .unwrap()
                {
                    let got = store.read(account, "INBOX", e.uid).await.unwrap();
                    let (r, w, n) = parse_subject(&got);
                    assert_eq!(&*got, &message(r, w, n)[..]);
                }
            }
        });
    }
    assert!(
        acked.len() > 50,
        "only {} acknowledged appends",
        acked.len()
    );
    assert!(expunged.len() > 20, "only {} expunges", expunged.len());
    assert!(compacted > 0, "no segment was compacted");
}
