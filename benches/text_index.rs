//! The full-text index (src/store/text.rs) against the linear scan it replaces: the cost of
//! indexing one message (text extraction included), and of answering `SEARCH TEXT` over
//! 100,000 messages from the index versus checking every message's decoded text in memory
//! (a scan's lower bound: no reading, no MIME parsing). Run: `cargo bench --bench text_index`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringpost::mail::text::{search_text, SearchText, TextQuery};
use ringpost::mail::MailboxId;
use ringpost::store::text::TextIndex;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DOCS: u32 = 100_000;

/// A small deterministic generator (xorshift), so runs index the same text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A vocabulary of 20,000 made-up words; picks are skewed to the first ones, as word
/// frequencies in mail are.
fn vocabulary() -> Vec<String> {
    let syllables = [
        "ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "da", "zu", "ho",
    ];
    let mut rng = Rng(7);
    (0..20_000)
        .map(|_| {
            let n = 2 + (rng.next() % 3) as usize;
            (0..n)
                .map(|_| syllables[(rng.next() % 12) as usize])
                .collect()
        })
        .collect()
}

fn text(rng: &mut Rng, vocab: &[String], words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        let r = rng.next();
        // Skewed: most picks from the first 1,000 words.
        let w = if r.is_multiple_of(4) {
            (r >> 8) as usize % vocab.len()
        } else {
            (r >> 8) as usize % 1000
        };
        s.push_str(&vocab[w]);
        s.push(if i % 12 == 11 { '.' } else { ' ' });
    }
    s
}

fn message(rng: &mut Rng, vocab: &[String], i: u32) -> Vec<u8> {
    let body = text(rng, vocab, 1500);
    format!(
        "From: sender{i}@example.org\r\nTo: alice@example.com\r\nSubject: {}\r\n\
         Message-ID: <m{i}@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        text(rng, vocab, 6)
    )
    .into_bytes()
}

fn header_len(raw: &[u8]) -> usize {
    memchr::memmem::find(raw, b"\r\n\r\n").map_or(raw.len(), |i| i + 4)
}

fn indexing(c: &mut Criterion) {
    let vocab = vocabulary();
    let mut rng = Rng(1);
    let messages: Vec<Vec<u8>> = (0..64).map(|i| message(&mut rng, &vocab, i)).collect();
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("text_index");
    g.throughput(Throughput::Bytes(bytes as u64 / 64));
    g.bench_function("extract the text of one ~10 KiB message", |b| {
        let mut i = 0usize;
        b.iter(|| {
            let m = &messages[i % 64];
            i += 1;
            search_text(m, header_len(m)).bodies.len()
        })
    });
    g.bench_function("extract and index one ~10 KiB message", |b| {
        let mut index = TextIndex::default();
        let mut uid = 0u32;
        b.iter(|| {
            let m = &messages[uid as usize % 64];
            uid += 1;
            let t = search_text(m, header_len(m));
            index.add(MailboxId(1), uid, &t);
        })
    });
    g.finish();
}

fn searching(c: &mut Criterion) {
    let vocab = vocabulary();
    let mut rng = Rng(2);
    let mut index = TextIndex::default();
    let mut texts: Vec<SearchText> = Vec::with_capacity(DOCS as usize);
    for uid in 1..=DOCS {
        let t = SearchText {
            header: format!("Subject: {}\r\n", text(&mut rng, &vocab, 6)),
            bodies: vec![text(&mut rng, &vocab, 150)],
        };
        index.add(MailboxId(1), uid, &t);
        texts.push(t);
    }
    let common = vocab[3].clone();
    let rare = vocab[19_999].clone();
    let substring = vocab[500][1..].to_string();
    let phrase = format!("{} {}", vocab[10], vocab[11]);
    let mut g = c.benchmark_group("search_text_100k");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_millis(500));
    for (name, needle) in [
        ("common word", &common),
        ("rare word", &rare),
        ("part of a word", &substring),
        ("two words", &phrase),
    ] {
        let q = [TextQuery {
            needle: needle.clone(),
            body_only: false,
        }];
        g.bench_with_input(BenchmarkId::new("index", name), &q, |b, q| {
            b.iter(|| index.candidates(MailboxId(1), q).unwrap().0.len())
        });
        g.bench_with_input(BenchmarkId::new("scan in memory", name), needle, |b, n| {
            b.iter(|| texts.iter().filter(|t| t.contains(n, false)).count())
        });
    }
    g.finish();
}

criterion_group!(benches, indexing, searching);
criterion_main!(benches);
