//! Replication benchmark: how fast a replica applies its primary's log (MB/s of log and
//! records/s), chunks checked, written with one `fdatasync` each and applied to the indexes.
//! The primary's log is read into chunks first, so only the replica's side is timed.
//! Run: `cargo bench --bench replication`. Writes go to a temp dir (set TMPDIR to choose).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use glommio::{LocalExecutor, LocalExecutorBuilder, Placement};
use ringpost::mail::Flags;
use ringpost::placement::Partition;
use ringpost::runtime::{ShardId, ShardMap};
use ringpost::store::replica::LogRead;
use ringpost::store::segment::LogPosition;
use ringpost::store::{Store, StoreConfig};
use ringpost::wire::replication::Chunk;

// The server's allocator (src/main.rs), so the figures are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ACCOUNT: &str = "bench@example.com";
/// Messages in the shipped log, and their size.
const MESSAGES: usize = 2000;
const SIZE: usize = 4 << 10;

fn executor() -> LocalExecutor {
    ringpost::store::set_heartbeat(ringpost::runtime::watchdog::store_heartbeat);
    LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(1 << 20)
        .ring_depth(128)
        .preempt_timer(Duration::from_millis(5))
        .make()
        .unwrap()
}

fn config() -> StoreConfig {
    StoreConfig {
        segment_size: 16 << 20,
        compact_dead_ratio: 2.0,
        ..StoreConfig::default()
    }
}

fn store(root: &std::path::Path) -> Store {
    Store::new(root, ShardId(0), ShardMap::new(1), config())
}

/// A primary's log of `MESSAGES` appends, read as chunks of about `chunk` bytes.
async fn primary_log(root: &std::path::Path, chunk: usize) -> (Vec<Chunk>, u64, u64) {
    let primary = store(root);
    primary.open_account(ACCOUNT).await.unwrap();
    let mut m = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: bench\r\n\r\n".to_vec();
    m.resize(SIZE, b'x');
    for _ in 0..MESSAGES {
        primary
            .append(ACCOUNT, "INBOX", &m, Flags::default(), 0)
            .await
            .unwrap();
    }
    let part = Partition::of(ACCOUNT);
    let fresh = tempfile::tempdir().unwrap();
    let replica = store(fresh.path());
    let mut at: LogPosition = replica.make_replica(part, 0).await.unwrap();
    let (mut chunks, mut bytes, mut records) = (Vec::new(), 0u64, 0u64);
    while let LogRead::Chunk(c) = primary.read_log(part, at, chunk).await.unwrap() {
        at = replica.apply_chunk(part, 0, &c).await.unwrap();
        bytes += c.records.len() as u64;
        records += c.last_seq - c.first_seq + 1;
        chunks.push(c);
    }
    (chunks, bytes, records)
}

fn apply(c: &mut Criterion) {
    let mut g = c.benchmark_group("replica_apply");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_millis(500));
    let part = Partition::of(ACCOUNT);
    for chunk in [64usize << 10, 1 << 20] {
        let ex = executor();
        let dir = tempfile::tempdir().unwrap();
        let (chunks, bytes, records) = ex.run({
            let root = dir.path().to_path_buf();
            async move { primary_log(&root, chunk).await }
        });
        for (unit, throughput) in [
            ("bytes", Throughput::Bytes(bytes)),
            ("records", Throughput::Elements(records)),
        ] {
            g.throughput(throughput);
            g.bench_function(BenchmarkId::new(unit, format!("{}KiB", chunk >> 10)), |b| {
                b.iter_custom(|iters| {
                    ex.run(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let dir = tempfile::tempdir().unwrap();
                            let replica = store(dir.path());
                            replica.make_replica(part, 0).await.unwrap();
                            let start = Instant::now();
                            for c in &chunks {
                                replica.apply_chunk(part, 0, c).await.unwrap();
                            }
                            total += start.elapsed();
                            replica.close().await.unwrap();
                        }
                        total
                    })
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, apply);
criterion_main!(benches);
