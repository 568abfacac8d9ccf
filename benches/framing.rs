//! Line framer throughput: how fast `wire::LineBuffer` splits a received stream into lines.
//! Run: `cargo bench --bench framing`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringpost::wire::{Frame, LineBuffer};

/// A stream of `count` lines of `len` bytes each (plus CRLF), like pipelined commands or the
/// lines of a message body.
fn stream(len: usize, count: usize) -> Vec<u8> {
    let mut line: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
    line.extend_from_slice(b"\r\n");
    line.repeat(count)
}

fn frame_all(input: &[u8], chunk: usize) -> usize {
    let mut buf = LineBuffer::new(16 * 1024);
    let mut lines = 0;
    for piece in input.chunks(chunk) {
        buf.extend(piece);
        while let Some(frame) = buf.next_line() {
            if let Frame::Line { line, .. } = frame {
                black_box(line);
                lines += 1;
            }
        }
    }
    lines
}

fn bench_framing(c: &mut Criterion) {
    let mut group = c.benchmark_group("line_framer");
    group
        .sample_size(30)
        .measurement_time(std::time::Duration::from_secs(3));
    for (len, count) in [(20usize, 50_000usize), (76, 20_000), (998, 2_000)] {
        let input = stream(len, count);
        group.throughput(Throughput::Bytes(input.len() as u64));
        // 16 KiB reads, as the connection driver does.
        group.bench_with_input(BenchmarkId::new("line_len", len), &input, |b, input| {
            b.iter(|| frame_all(input, 16 * 1024))
        });
    }
    // Worst case: the stream arrives a few bytes at a time.
    let input = stream(76, 5_000);
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_with_input(BenchmarkId::new("chunk_7_bytes", 76), &input, |b, input| {
        b.iter(|| frame_all(input, 7))
    });
    group.finish();
}

criterion_group!(benches, bench_framing);
criterion_main!(benches);
