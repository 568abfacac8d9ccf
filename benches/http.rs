//! HTTP/1.1 codec throughput: requests read by `http::RequestReader` (a browser GET, a
//! pipelined batch, a chunked upload) and a response encoded. Run: `cargo bench --bench http`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringpost::http::{HttpLimits, Request, RequestReader, Response, ResponseTarget};

/// A browser's GET with the usual ~500 bytes of fields.
fn browser_get() -> Vec<u8> {
    b"GET /mail/inbox?page=2&sort=date HTTP/1.1\r\n\
Host: mail.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://mail.example.com/mail/inbox?page=1\r\n\
Cookie: session=6f1c2a9e4b7d8c3f0a1e2d3c4b5a6978; theme=dark; tz=Europe%2FBerlin\r\n\
Connection: keep-alive\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: same-origin\r\n\
Priority: u=0, i\r\n\r\n"
        .to_vec()
}

/// 16 small GETs back to back, as one read.
fn pipelined() -> Vec<u8> {
    (0..16)
        .flat_map(|i| {
            format!("GET /item/{i} HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n").into_bytes()
        })
        .collect()
}

/// A 64 KiB PUT in 4 KiB chunks.
fn chunked_put() -> Vec<u8> {
    let mut out = b"PUT /dav/files/big.bin HTTP/1.1\r\nHost: h\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let chunk: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    for _ in 0..16 {
        out.extend_from_slice(b"1000\r\n");
        out.extend_from_slice(&chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Every request in `input`, read in pieces of `read` bytes (as a socket hands them over).
fn read_all(input: &[u8], read: usize) -> Vec<Request> {
    let mut reader = RequestReader::new(HttpLimits::default());
    let mut out = Vec::new();
    for piece in input.chunks(read) {
        reader.handle_input(piece);
        while let Some(outcome) = reader.poll_request() {
            match outcome {
                Ok(request) => out.push(request),
                Err(e) => panic!("benchmark input refused: {e}"),
            }
        }
    }
    out
}

fn bench_http(c: &mut Criterion) {
    let mut group = c.benchmark_group("http");
    group.sample_size(30);
    let cases: [(&str, Vec<u8>, usize, usize); 3] = [
        ("browser_get", browser_get(), 1, 16 * 1024),
        ("pipelined_16_gets", pipelined(), 16, 16 * 1024),
        ("chunked_put_64k", chunked_put(), 1, 16 * 1024),
    ];
    // A refused request would be measured as a fast one: check every input first.
    for (name, input, count, read) in &cases {
        assert_eq!(read_all(input, *read).len(), *count, "{name}");
    }
    for (name, input, _, read) in &cases {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(*name, |b| b.iter(|| read_all(black_box(input), *read)));
    }
    let response = Response::new(200)
        .header("Cache-Control", "no-store")
        .header("ETag", "\"5f2b-1a\"")
        .body("text/html; charset=utf-8", vec![b'x'; 1024]);
    let date = "Sun, 06 Nov 1994 08:49:37 GMT";
    let mut out = Vec::with_capacity(2048);
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_1k_response", |b| {
        b.iter(|| {
            out.clear();
            black_box(&response).encode(
                ResponseTarget {
                    head_only: false,
                    close: false,
                    date: Some(date),
                },
                &mut out,
            );
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_http);
criterion_main!(benches);
