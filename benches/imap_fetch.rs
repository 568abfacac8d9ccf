//! FETCH response encoding: how fast one `* n FETCH (…)` line is rendered from the stored
//! metadata, MIME summary and bytes (the summary is parsed once at delivery, never per FETCH),
//! and how fast a whole batch of messages goes from the store's read buffers to the pieces
//! the driver hands to TLS.
//! Run: `cargo bench --bench imap_fetch`.

#![allow(clippy::unwrap_used)]

use std::num::NonZeroU32;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringpost::imap::command::{BodySection, FetchAttribute, Part, SectionText};
use ringpost::imap::fetch::{fetch_line, FetchLine};
use ringpost::mail::{Flags, Keyword, MessageBytes, MimeSummary, ModSeq, SystemFlags, Uid};
use ringpost::mailbox::{FetchedMessage, MessageMeta};
use ringpost::session::Output;

/// A realistic multipart/alternative message with an attachment, `body` bytes of text.
fn message(body: usize) -> Vec<u8> {
    let text: String =
        "The quick brown fox jumps over the lazy dog. ".repeat(body / 45 + 1)[..body].to_string();
    let wrapped: String = text
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned() + "\r\n")
        .collect();
    format!(
        "Return-Path: <alice@example.com>\r\nReceived: from client.example.org ([192.0.2.1])\r\n\tby mail.example.com (ringpost) with ESMTPSA id 6B0D4B7F0000000;\r\n\tMon, 30 Nov 2026 10:00:00 +0000\r\n\
         From: Alice Example <alice@example.com>\r\nTo: Bob <bob@example.com>, carol@example.org\r\nCc: \"Dave D.\" <dave@example.net>\r\n\
         Subject: =?UTF-8?Q?Quarterly_report_=E2=80=94_draft?=\r\nDate: Mon, 30 Nov 2026 09:59:00 +0000\r\n\
         Message-ID: <report-42@example.com>\r\nIn-Reply-To: <report-41@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n\
         --inner\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{wrapped}\r\n--inner\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n<p>{text}</p>\r\n--inner--\r\n--outer\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IKNSAwIG9iago=\r\n--outer--\r\n"
    )
    .into_bytes()
}

fn fetched(raw: Vec<u8>) -> FetchedMessage {
    FetchedMessage {
        meta: MessageMeta {
            uid: Uid(4711),
            flags: Flags::new(SystemFlags::SEEN, Keyword::new("$Forwarded")),
            modseq: ModSeq(99),
            internal_date: 1_796_040_000,
            size: raw.len() as u32,
            saved: Some(1_796_040_060),
            email_id: 4711,
        },
        summary: MimeSummary::parse(&raw),
        bytes: Some(raw.into()),
    }
}

fn bench_fetch(c: &mut Criterion) {
    let mut group = c.benchmark_group("imap_fetch");
    group
        .sample_size(30)
        .measurement_time(std::time::Duration::from_secs(3));
    let mut out = Output::default();

    // What a client fetches for every new message when it syncs headers.
    let msg = fetched(message(2_000));
    let header_sync = [
        FetchAttribute::Uid,
        FetchAttribute::Flags,
        FetchAttribute::Rfc822Size,
        FetchAttribute::InternalDate,
        FetchAttribute::Envelope,
        FetchAttribute::BodyStructure,
    ];
    group.throughput(Throughput::Elements(1));
    group.bench_function("uid_flags_size_date_envelope_bodystructure", |b| {
        b.iter(|| {
            out.clear();
            fetch_line(
                &mut out,
                &FetchLine {
                    seq: 17,
                    msg: black_box(&msg),
                    attrs: &header_sync,
                    with_uid: true,
                    recent: false,
                    with_flags: false,
                    condstore: false,
                    uid_only: false,
                },
            );
            out.len()
        })
    });

    // Whole messages: BODY.PEEK[] of 4 KiB and 64 KiB.
    let whole = [
        FetchAttribute::Uid,
        FetchAttribute::BodyPeek(BodySection {
            part: Part(Vec::new()),
            text: None,
            partial: None,
        }),
    ];
    for size in [4_000usize, 64_000] {
        let msg = fetched(message(size));
        group.throughput(Throughput::Bytes(msg.meta.size as u64));
        group.bench_function(format!("body_peek_whole_{}k", size / 1000), |b| {
            b.iter(|| {
                out.clear();
                fetch_line(
                    &mut out,
                    &FetchLine {
                        seq: 1,
                        msg: black_box(&msg),
                        attrs: &whole,
                        with_uid: true,
                        recent: false,
                        with_flags: false,
                        condstore: false,
                        uid_only: false,
                    },
                );
                out.len()
            })
        });
    }

    // One MIME part: BODY.PEEK[1.1] (the text/plain alternative).
    let part = [FetchAttribute::BodyPeek(BodySection {
        part: Part(vec![NonZeroU32::MIN, NonZeroU32::MIN]),
        text: None::<SectionText>,
        partial: None,
    })];
    let msg = fetched(message(16_000));
    group.throughput(Throughput::Elements(1));
    group.bench_function("body_peek_part_1_1", |b| {
        b.iter(|| {
            out.clear();
            fetch_line(
                &mut out,
                &FetchLine {
                    seq: 1,
                    msg: black_box(&msg),
                    attrs: &part,
                    with_uid: false,
                    recent: false,
                    with_flags: false,
                    condstore: false,
                    uid_only: false,
                },
            );
            out.len()
        })
    });
    group.finish();
}

/// A FETCH batch of whole messages as the driver runs it: the store's read buffers become
/// the reply, every response line is encoded, and the driver takes the pieces to hand to TLS
/// (the encryption itself, the same whatever the path, is left out).
fn bench_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("imap_fetch_batch");
    group
        .sample_size(20)
        .measurement_time(std::time::Duration::from_secs(4));
    let attrs = [
        FetchAttribute::Uid,
        FetchAttribute::Flags,
        FetchAttribute::Rfc822Size,
        FetchAttribute::BodyPeek(BodySection {
            part: Part(Vec::new()),
            text: None,
            partial: None,
        }),
    ];
    // A batch is at most 128 messages (imap::session::messages) and 4 MiB of bytes
    // (mailbox::BATCH_BYTES).
    for (count, size) in [(128usize, 10_000usize), (32, 128_000), (4, 1_000_000)] {
        let stored: Vec<(FetchedMessage, MessageBytes)> = (0..count)
            .map(|_| {
                let m = fetched(message(size));
                let read = m.bytes.clone().unwrap();
                (m, read)
            })
            .collect();
        let total: u64 = stored.iter().map(|(m, _)| u64::from(m.meta.size)).sum();
        let mut out = Output::default();
        group.throughput(Throughput::Bytes(total));
        group.bench_function(format!("body_peek_{count}x{}k", size / 1000), |b| {
            b.iter(|| {
                let reply: Vec<FetchedMessage> = stored
                    .iter()
                    .map(|(m, read)| FetchedMessage {
                        meta: m.meta.clone(),
                        summary: m.summary.clone(),
                        bytes: Some(read.clone()),
                    })
                    .collect();
                out.clear();
                for (i, msg) in reply.iter().enumerate() {
                    fetch_line(
                        &mut out,
                        &FetchLine {
                            seq: i as u32 + 1,
                            msg: black_box(msg),
                            attrs: &attrs,
                            with_uid: true,
                            recent: false,
                            with_flags: false,
                            condstore: false,
                            uid_only: false,
                        },
                    );
                }
                let parts = out.parts();
                black_box(parts.iter().map(|p| p.len()).sum::<usize>())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_fetch, bench_batch);
criterion_main!(benches);
