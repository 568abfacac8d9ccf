//! IMAP command parser throughput: framed commands (lines and literals, as the framer hands
//! them over) parsed into typed `Command`s. Run: `cargo bench --bench imap_parser`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringpost::imap::command::{parse, NameEncoding};
use ringpost::imap::framing::Fragment;

fn line(s: &str) -> Vec<Fragment> {
    vec![Fragment::Line(s.as_bytes().to_vec())]
}

/// A mix of what real clients send most: header fetches, UID searches, flag stores, a
/// LIST-EXTENDED with STATUS, and an APPEND (header line plus a small message literal).
fn commands() -> Vec<(&'static str, Vec<Fragment>)> {
    let message = "From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n";
    vec![
        (
            "fetch_header_fields",
            line("A12 UID FETCH 1:4096 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])"),
        ),
        (
            "uid_search",
            line("A13 UID SEARCH RETURN (MIN MAX COUNT) CHARSET UTF-8 OR (UNSEEN SINCE 1-Feb-2024) (FLAGGED NOT DELETED) UID 1:*"),
        ),
        ("store", line("A14 UID STORE 3000:3100,3200 (UNCHANGEDSINCE 12345) +FLAGS.SILENT (\\Seen $Forwarded)")),
        (
            "list_extended",
            line("A15 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX \"Sent Items\" &U,BTFw-/%) RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN UIDNEXT))"),
        ),
        (
            "append",
            vec![
                Fragment::Line(format!("A16 APPEND Sent (\\Seen) \"07-Feb-1994 21:52:25 -0800\" {{{}+}}", message.len()).into_bytes()),
                Fragment::Literal(message.as_bytes().to_vec()),
                Fragment::Line(Vec::new()),
            ],
        ),
    ]
}

fn bench_parser(c: &mut Criterion) {
    let mut group = c.benchmark_group("imap_parser");
    group
        .sample_size(30)
        .measurement_time(std::time::Duration::from_secs(3));
    let all = commands();
    // A failing parse would be measured as a fast one: check every command first.
    for (name, parts) in &all {
        if let Err(e) = parse(parts, NameEncoding::ModifiedUtf7) {
            panic!("{name} does not parse: {e:?}");
        }
    }
    for (name, parts) in &all {
        group.throughput(Throughput::Elements(1));
        group.bench_function(*name, |b| {
            b.iter(|| parse(black_box(parts), NameEncoding::ModifiedUtf7))
        });
    }
    // The whole mix, one after the other.
    group.throughput(Throughput::Elements(all.len() as u64));
    group.bench_function("mix", |b| {
        b.iter(|| {
            for (_, parts) in &all {
                black_box(parse(black_box(parts), NameEncoding::ModifiedUtf7).is_ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_parser);
criterion_main!(benches);
