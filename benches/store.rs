//! Store benchmarks: durable appends/s by concurrency and size (group commit), the raw
//! O_DIRECT write + fdatasync rate measured the same way, message reads, and the index's
//! open/validate/lookup. Run: `cargo bench --bench store`. Writes go to a temp dir on the
//! file system of the current directory's `target/` (set TMPDIR to choose another).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use glommio::{LocalExecutor, LocalExecutorBuilder, Placement};
use ringpost::mail::{Flags, MailboxId, MimeSummary, Uid, UidValidity};
use ringpost::runtime::{ShardId, ShardMap};
use ringpost::store::index::{AccountIndex, BodyRef, IndexFile};
use ringpost::store::op::{AppendCopy, NewMailbox, Op};
use ringpost::store::{Store, StoreConfig};

// The server's allocator (src/main.rs), so the figures are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An executor on this thread (criterion times closures here), with the server's settings;
/// stores opened on it beat the watchdog as on a server shard.
fn executor() -> LocalExecutor {
    ringpost::store::set_heartbeat(ringpost::runtime::watchdog::store_heartbeat);
    LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(1 << 20)
        .ring_depth(128)
        .preempt_timer(Duration::from_millis(5))
        .make()
        .unwrap()
}

fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: bench\r\n\r\n".to_vec();
    m.resize(size, b'x');
    m
}

fn config() -> StoreConfig {
    StoreConfig {
        segment_size: 64 << 20,
        ..StoreConfig::default()
    }
}

fn appends(c: &mut Criterion) {
    let mut g = c.benchmark_group("durable_append");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    for size in [4 << 10, 64 << 10] {
        for writers in [1usize, 8, 64, 512] {
            let dir = tempfile::tempdir().unwrap();
            let ex = executor();
            let store = ex.run({
                let root = dir.path().to_path_buf();
                async move {
                    let s = Store::new(root, ShardId(0), ShardMap::new(1), config());
                    s.open_account("bench@example.com").await.unwrap();
                    s
                }
            });
            let body = Rc::new(message(size));
            g.throughput(Throughput::Elements(1));
            g.bench_function(
                BenchmarkId::new(format!("{}KiB", size >> 10), writers),
                |b| {
                    b.iter_custom(|iters| {
                        ex.run(async {
                            let start = Instant::now();
                            let mut tasks = Vec::new();
                            for w in 0..writers as u64 {
                                let share =
                                    iters / writers as u64 + u64::from(w < iters % writers as u64);
                                let (store, body) = (store.clone(), body.clone());
                                tasks.push(glommio::spawn_local(async move {
                                    for _ in 0..share {
                                        store
                                            .append(
                                                "bench@example.com",
                                                "INBOX",
                                                &body,
                                                Flags::default(),
                                                0,
                                            )
                                            .await
                                            .unwrap();
                                    }
                                }));
                            }
                            for t in tasks {
                                t.await;
                            }
                            start.elapsed()
                        })
                    })
                },
            );
        }
    }
    g.finish();
}

/// The same harness without the store: one direct write and one fdatasync per message into
/// a zero-filled file, one at a time. The rate a store without group commit would get.
fn raw_fdatasync(c: &mut Criterion) {
    let mut g = c.benchmark_group("raw_write_fdatasync");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    for size in [4usize << 10, 64 << 10] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw");
        let file_size: u64 = 256 << 20;
        std::fs::write(&path, vec![0u8; file_size as usize]).unwrap();
        let ex = executor();
        let file = ex.run({
            let path = path.clone();
            async move {
                Rc::new(
                    glommio::io::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .dma_open(&path)
                        .await
                        .unwrap(),
                )
            }
        });
        let mut at = 0u64;
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new(format!("{}KiB", size >> 10), 1), |b| {
            b.iter_custom(|iters| {
                ex.run(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut buf = file.alloc_dma_buffer(size);
                        buf.as_bytes_mut().fill(7);
                        if at + size as u64 > file_size {
                            at = 0;
                        }
                        file.write_at(buf, at).await.unwrap();
                        file.fdatasync().await.unwrap();
                        at += size as u64;
                    }
                    start.elapsed()
                })
            })
        });
    }
    g.finish();
}

fn reads(c: &mut Criterion) {
    let mut g = c.benchmark_group("read");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let ex = executor();
    let n = 2000u32;
    let store = ex.run({
        let root = dir.path().to_path_buf();
        async move {
            let s = Store::new(root, ShardId(0), ShardMap::new(1), config());
            s.open_account("bench@example.com").await.unwrap();
            let body = message(16 << 10);
            let mut tasks = Vec::new();
            for _ in 0..n {
                let (s, body) = (s.clone(), body.clone());
                tasks.push(glommio::spawn_local(async move {
                    s.append("bench@example.com", "INBOX", &body, Flags::default(), 0)
                        .await
                        .unwrap();
                }));
            }
            for t in tasks {
                t.await;
            }
            s
        }
    });
    g.throughput(Throughput::Elements(1));
    for (name, range) in [
        ("whole_16KiB", None),
        ("range_1KiB", Some((5000u64, 1024u64))),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                ex.run(async {
                    let start = Instant::now();
                    for i in 0..iters {
                        let uid = Uid(1 + (i.wrapping_mul(7919) % u64::from(n)) as u32);
                        let body = match range {
                            None => store.read("bench@example.com", "INBOX", uid).await,
                            Some((s, l)) => {
                                store
                                    .read_range("bench@example.com", "INBOX", uid, s, l)
                                    .await
                            }
                        };
                        std::hint::black_box(body.unwrap().len());
                    }
                    start.elapsed()
                })
            })
        });
    }
    g.finish();
}

fn index(c: &mut Criterion) {
    let mut g = c.benchmark_group("index_10k_messages");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300));
    let mut a = AccountIndex::empty("bench@example.com");
    let mut ev = Vec::new();
    a.apply(
        1,
        &Op::CreateAccount {
            account: a.account.clone(),
            mailboxes: vec![NewMailbox {
                id: MailboxId(1),
                name: "INBOX".into(),
                uid_validity: UidValidity(1),
                special: None,
            }],
        },
        None,
        &mut ev,
    );
    let summary = MimeSummary::parse(&message(2000));
    for i in 1..=10_000u32 {
        let op = Op::Append {
            internal_date: 0,
            summary: summary.clone(),
            copies: vec![AppendCopy {
                account: a.account.clone(),
                mailbox: MailboxId(1),
                uid: Uid(i),
                flags: Flags::default(),
            }],
        };
        let body = BodyRef {
            segment: 1,
            offset: u64::from(i) * 4096,
            len: 2000,
        };
        a.apply(1 + u64::from(i), &op, Some(body), &mut ev);
        ev.clear();
    }
    let bytes = a.to_file_bytes().unwrap();
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("open_validate", |b| {
        b.iter(|| IndexFile::open(std::hint::black_box(&bytes)).unwrap())
    });
    g.bench_function("deserialize_owned", |b| {
        b.iter(|| AccountIndex::from_file_bytes(&bytes).unwrap())
    });
    let file = IndexFile::open(&bytes).unwrap();
    g.throughput(Throughput::Elements(1));
    let mut i = 0u32;
    g.bench_function("lookup_in_place", |b| {
        b.iter(|| {
            i = (i + 7919) % 10_000;
            file.lookup("INBOX", Uid(i + 1)).unwrap().size.to_native()
        })
    });
    g.finish();
}

criterion_group!(benches, appends, raw_fdatasync, reads, index);
criterion_main!(benches);
