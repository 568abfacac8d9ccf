//! Message content in transcripts: DATA dot-stuffing and its end, SMTP smuggling attempts,
//! the size and hop limits, 8-bit and long lines, and BDAT chunks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::test_driver::{
    check, ehlo_reply, inbound, inbound_delivery, inbound_hello, inbound_rejecting_bare_lf, limits,
    replay_driven, session, Driven, GREETING,
};
use super::{SmtpKind, SmtpSession};
use crate::session::{Event, Session, TlsMode};
use crate::smtp::{Delivery, DeliveryRequest};

/// MAIL from sender@example.org and RCPT alice, accepted.
const ENVELOPE: &str = "
    C: MAIL FROM:<sender@example.org>
    S: 250 2.1.0 OK
    C: RCPT TO:<alice@example.com>
    S: 250 2.1.5 OK";

const GO_AHEAD: &str = "S: 354 End data with <CR><LF>.<CR><LF>";

fn to_alice(message: &[u8]) -> Event<DeliveryRequest> {
    inbound_delivery("sender@example.org", &["alice@example.com"], message)
}

#[test]
fn dot_stuffing_is_removed() {
    replay_driven(
        inbound,
        &format!(
            "{}{ENVELOPE}
             C: DATA
             {GO_AHEAD}
             C: ..x
             C: ..
             C: a.b
             C: ...
             C: .
             S: 250 2.0.0 Ok: queued as Q1",
            inbound_hello()
        ),
        &[
            check("alice@example.com"),
            to_alice(b".x\r\n.\r\na.b\r\n..\r\n"),
        ],
    );
}

#[test]
fn bare_lf_and_bare_cr_never_end_data_and_refuse_the_message_under_reject() {
    // The 2023 SMTP smuggling attack: a second transaction hidden behind an end of data that
    // another server would see. None of it runs, nothing is delivered, and the session is in
    // step with the client at the real end.
    for hidden_end in [
        "\\n.\\n",
        "\\n.\\r\\n",
        "\\r.\\r",
        "\\r\\n.\\n",
        "\\r\\n.\\r",
    ] {
        replay_driven(
            inbound_rejecting_bare_lf,
            &format!(
                "{}{ENVELOPE}
                 C: DATA
                 {GO_AHEAD}
                 R: Subject: smuggle\\r\\n\\r\\nhello{hidden_end}
                 R: MAIL FROM:<evil@example.org>\\r\\nRCPT TO:<bob@example.com>\\r\\n
                 R: DATA\\r\\nSubject: smuggled\\r\\n\\r\\nevil\\r\\n.\\r\\n
                 S: 550 5.6.11 Bare LF or CR in message data is not allowed
                 C: RCPT TO:<bob@example.com>
                 S: 503 5.5.1 Need MAIL command first
                 C: NOOP
                 S: 250 2.0.0 OK",
                inbound_hello()
            ),
            &[check("alice@example.com")],
        );
    }
}

#[test]
fn under_reject_a_lone_bare_lf_anywhere_refuses_the_message_and_the_next_one_is_fine() {
    replay_driven(
        inbound_rejecting_bare_lf,
        &format!(
            "{}{ENVELOPE}
             C: DATA
             {GO_AHEAD}
             R: line one\\nline two\\r\\n.\\r\\n
             S: 550 5.6.11 Bare LF or CR in message data is not allowed
             {ENVELOPE}
             C: DATA
             {GO_AHEAD}
             R: line one\\r\\nline two\\r\\n.\\r\\n
             S: 250 2.0.0 Ok: queued as Q1",
            inbound_hello()
        ),
        &[
            check("alice@example.com"),
            check("alice@example.com"),
            to_alice(b"line one\r\nline two\r\n"),
        ],
    );
}

/// Regression: with bare LFs refused on every listener, `curl -T file` of an LF-only file
/// failed with "Weird server reply". By default a bare LF is stored as CRLF.
#[test]
fn by_default_bare_lf_lines_are_stored_with_crlf() {
    replay_driven(
        inbound,
        &format!(
            "{}{ENVELOPE}
             C: DATA
             {GO_AHEAD}
             R: Subject: lf\\nFrom: a@example.org\\n\\nline one\\n.not stuffing\\nlast\\r\\n.\\r\\n
             S: 250 2.0.0 Ok: queued as Q1",
            inbound_hello()
        ),
        &[
            check("alice@example.com"),
            to_alice(
                b"Subject: lf\r\nFrom: a@example.org\r\n\r\nline one\r\n.not stuffing\r\nlast\r\n",
            ),
        ],
    );
}

/// Smuggling stays impossible when bare LFs are normalized: no end of data but `CRLF.CRLF`,
/// so the hidden transaction is content of the one message, never commands. A bare CR still
/// refuses the message.
#[test]
fn under_normalize_a_hidden_end_of_data_is_content() {
    // (hidden end, as stored): a `.` after a bare LF is content; after a CRLF it is stuffing.
    for (hidden_end, stored) in [
        ("\\n.\\n", "\r\n.\r\n"),
        ("\\n.\\r\\n", "\r\n.\r\n"),
        ("\\r\\n.\\n", "\r\n\r\n"),
    ] {
        let stored = format!(
            "Subject: smuggle\r\n\r\nhello{stored}MAIL FROM:<evil@example.org>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n"
        );
        replay_driven(
            inbound,
            &format!(
                "{}{ENVELOPE}
                 C: DATA
                 {GO_AHEAD}
                 R: Subject: smuggle\\r\\n\\r\\nhello{hidden_end}
                 R: MAIL FROM:<evil@example.org>\\r\\nRCPT TO:<bob@example.com>\\r\\n
                 R: DATA\\r\\nSubject: smuggled\\r\\n\\r\\nevil\\r\\n.\\r\\n
                 S: 250 2.0.0 Ok: queued as Q1
                 C: RCPT TO:<bob@example.com>
                 S: 503 5.5.1 Need MAIL command first",
                inbound_hello()
            ),
            &[check("alice@example.com"), to_alice(stored.as_bytes())],
        );
    }
    for hidden_end in ["\\r.\\r", "\\r\\n.\\r"] {
        replay_driven(
            inbound,
            &format!(
                "{}{ENVELOPE}
                 C: DATA
                 {GO_AHEAD}
                 R: hello{hidden_end}
                 R: MAIL FROM:<evil@example.org>\\r\\n.\\r\\n
                 S: 550 5.6.11 Bare LF or CR in message data is not allowed",
                inbound_hello()
            ),
            &[check("alice@example.com")],
        );
    }
}

/// Feed a whole transaction cut once at every offset; every cut gives the same replies and
/// the same delivery (the replay helper adds byte-by-byte and random cuts).
#[test]
fn end_of_data_split_at_every_offset() {
    let input: &[u8] = b"EHLO c\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<alice@example.com>\r\n\
                         DATA\r\n.a\r\n\r\n.\r\nQUIT\r\n";
    let run = |pieces: &[&[u8]]| {
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut driven = Driven::new(inbound(), log.clone());
        for piece in pieces {
            driven.handle_input(piece);
        }
        let mut out = Vec::new();
        driven.poll_output(&mut out);
        let events = log.borrow().clone();
        (out, events)
    };
    let whole = run(&[input]);
    assert!(whole
        .0
        .ends_with(b"250 2.0.0 Ok: queued as Q1\r\n221 2.0.0 Bye\r\n"));
    let Some(Event::Request(DeliveryRequest::Deliver(delivery))) = whole.1.last() else {
        panic!("no delivery");
    };
    assert_eq!(delivery.message, b"a\r\n\r\n");
    for cut in 0..=input.len() {
        let (a, b) = input.split_at(cut);
        assert_eq!(run(&[a, b]), whole, "cut at {cut}");
    }
}

fn small_inbound() -> SmtpSession {
    session(SmtpKind::Inbound, TlsMode::None, limits(100))
}

/// A message of exactly `size` octets once unstuffed; on the wire it has one more (a
/// stuffed dot), so the limit is seen to apply after unstuffing.
fn message_of(size: usize) -> (String, Vec<u8>) {
    let head = "Subject: size\r\n\r\n.dot\r\n";
    let filler = "x".repeat(size - head.len() - 2);
    let message = format!("{head}{filler}\r\n");
    assert_eq!(message.len(), size);
    let wire = format!("Subject: size\\r\\n\\r\\n..dot\\r\\n{filler}\\r\\n.\\r\\n");
    (wire, message.into_bytes())
}

#[test]
fn message_of_exactly_the_limit_is_accepted_and_one_more_octet_refused() {
    let (exact_wire, exact) = message_of(100);
    let (over_wire, _) = message_of(101);
    replay_driven(
        small_inbound,
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             {}
             C: MAIL FROM:<sender@example.org> SIZE=101
             S: 552 5.3.4 Message size exceeds fixed maximum message size
             C: MAIL FROM:<sender@example.org> SIZE=100
             S: 250 2.1.0 OK
             C: RCPT TO:<alice@example.com>
             S: 250 2.1.5 OK
             C: DATA
             {GO_AHEAD}
             R: {exact_wire}
             S: 250 2.0.0 Ok: queued as Q1
             {ENVELOPE}
             C: DATA
             {GO_AHEAD}
             R: {over_wire}
             S: 552 5.3.4 Message too big
             C: DATA
             S: 503 5.5.1 Need MAIL command first",
            ehlo_reply(100, &[])
        ),
        &[
            check("alice@example.com"),
            to_alice(&exact),
            check("alice@example.com"),
        ],
    );
}

#[test]
fn an_endless_data_line_is_discarded_and_refused_at_the_end() {
    let chunk = "y".repeat(90);
    replay_driven(
        small_inbound,
        &format!(
            "{GREETING}
             C: HELO client.example.org
             S: 250 mail.example.com
             {ENVELOPE}
             C: DATA
             {GO_AHEAD}
             R: {chunk}
             R: {chunk}
             R: {chunk}
             C: {chunk}
             C: .
             S: 552 5.3.4 Message too big
             C: NOOP
             S: 250 2.0.0 OK"
        ),
        &[check("alice@example.com")],
    );
}

#[test]
fn too_many_received_headers_is_a_loop() {
    let received = "C: Received: from a by b; Tue, 1 Oct 2024 10:00:00 +0000\n";
    let three = received.repeat(3);
    replay_driven(
        inbound,
        &format!(
            "{}{ENVELOPE}
             C: DATA
             {GO_AHEAD}
             {three}
             C: received : from c by d; Tue, 1 Oct 2024 10:00:00 +0000
             C:
             C: body
             C: .
             S: 554 5.4.6 Too many hops
             {ENVELOPE}
             C: DATA
             {GO_AHEAD}
             {three}
             C:
             C: Received: in the body does not count
             C: .
             S: 250 2.0.0 Ok: queued as Q1",
            inbound_hello()
        ),
        &[
            check("alice@example.com"),
            check("alice@example.com"),
            to_alice(
                "Received: from a by b; Tue, 1 Oct 2024 10:00:00 +0000\r\n"
                    .repeat(3)
                    .as_bytes()
                    .iter()
                    .chain(b"\r\nReceived: in the body does not count\r\n")
                    .copied()
                    .collect::<Vec<u8>>()
                    .as_slice(),
            ),
        ],
    );
}

#[test]
fn eight_bit_utf8_and_a_thousand_character_line_arrive_byte_identical() {
    let long = "é".repeat(500); // 1,000 octets, well over the 64-octet command line limit
    let body = format!(
        "Subject: =?UTF-8?Q?gr=C3=BC=C3=9Fe?=\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln, 東京\r\n{long}\r\n"
    );
    let wire = body.replace("\r\n", "\\r\\n");
    replay_driven(
        inbound,
        &format!(
            "{}
             C: MAIL FROM:<jörg@example.org> BODY=8BITMIME SMTPUTF8
             S: 250 2.1.0 OK
             C: RCPT TO:<jösé@example.com>
             S: 250 2.1.5 OK
             C: DATA
             {GO_AHEAD}
             R: {wire}.\\r\\n
             S: 250 2.0.0 Ok: queued as Q1",
            inbound_hello()
        ),
        &[
            check("jösé@example.com"),
            // SMTPUTF8 on MAIL: the Received: keyword is RFC 6531's UTF8SMTP.
            match inbound_delivery("jörg@example.org", &["jösé@example.com"], body.as_bytes()) {
                Event::Request(DeliveryRequest::Deliver(d)) => {
                    Event::Request(DeliveryRequest::Deliver(Box::new(Delivery {
                        protocol: "UTF8SMTP",
                        ..*d
                    })))
                }
                other => other,
            },
        ],
    );
}

#[test]
fn bdat_chunks_with_last() {
    replay_driven(
        inbound,
        &format!(
            "{}{ENVELOPE}
             R: BDAT 12\\r\\nSubject: a\\r\\n
             S: 250 2.0.0 12 octets received
             # a CRLF cut between chunks; no dot-stuffing and no end of data in BDAT
             R: BDAT 7\\r\\n\\r\\nbody\\r
             S: 250 2.0.0 7 octets received
             R: BDAT 4 LAST\\r\\n\\n.\\r\\n
             S: 250 2.0.0 Ok: queued as Q1
             {ENVELOPE}
             R: BDAT 0\\r\\n
             S: 250 2.0.0 0 octets received
             R: bdat 6 last\\r\\nshort
             R: \\n
             S: 550 5.6.11 Bare LF or CR in message data is not allowed
             {ENVELOPE}
             R: BDAT 4\\r\\nok\\r\\n
             S: 250 2.0.0 4 octets received
             C: DATA
             S: 503 5.5.1 DATA not allowed after BDAT
             R: BDAT 0 LAST\\r\\n
             S: 250 2.0.0 Ok: queued as Q2",
            inbound_hello()
        ),
        &[
            check("alice@example.com"),
            to_alice(b"Subject: a\r\n\r\nbody\r\n.\r\n"),
            check("alice@example.com"),
            check("alice@example.com"),
            to_alice(b"ok\r\n"),
        ],
    );
}

#[test]
fn refused_bdat_chunks_are_read_and_never_executed() {
    replay_driven(
        small_inbound,
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             {}
             R: BDAT 6 LAST\\r\\nQUIT\\r\\n
             S: 503 5.5.1 Need MAIL command first
             C: MAIL FROM:<sender@example.org>
             S: 250 2.1.0 OK
             R: BDAT 6\\r\\nQUIT\\r\\n
             S: 554 5.5.1 No valid recipients
             C: RCPT TO:<alice@example.com>
             S: 250 2.1.5 OK
             R: BDAT 60\\r\\n{}
             S: 250 2.0.0 60 octets received
             R: BDAT 41\\r\\nQUIT\\r\\n{}
             S: 552 5.3.4 Message too big
             R: BDAT 6 LAST\\r\\nQUIT\\r\\n
             S: 503 5.5.1 Need MAIL command first
             C: NOOP
             S: 250 2.0.0 OK",
            ehlo_reply(100, &[]),
            "a".repeat(60),
            "b".repeat(35),
        ),
        &[check("alice@example.com")],
    );
}

/// Regression: `BDAT 1099511627776` was answered only after the whole chunk had been read
/// and dropped, so a client could keep the server reading for as long as it sent. A chunk
/// over the message limit (and 64 KiB) is refused at once and the connection closed; one
/// within them is still read and refused after (above).
#[test]
fn huge_bdat_chunk_is_refused_at_once_and_closes() {
    replay_driven(
        small_inbound,
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             {}
             C: MAIL FROM:<sender@example.org>
             S: 250 2.1.0 OK
             C: RCPT TO:<alice@example.com>
             S: 250 2.1.5 OK
             R: BDAT 1099511627776\\r\\nQUIT\\r\\n
             S: 552 5.3.4 Chunk too big, closing connection
             E: close",
            ehlo_reply(100, &[]),
        ),
        &[check("alice@example.com")],
    );
    // Without a transaction too: the size alone decides.
    replay_driven(
        small_inbound,
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             {}
             R: BDAT 65537 LAST\\r\\n
             S: 552 5.3.4 Chunk too big, closing connection
             E: close",
            ehlo_reply(100, &[]),
        ),
        &[],
    );
}

#[test]
fn rset_between_bdat_chunks_discards_them() {
    replay_driven(
        inbound,
        &format!(
            "{}{ENVELOPE}
             R: BDAT 5\\r\\nabcde
             S: 250 2.0.0 5 octets received
             C: RSET
             S: 250 2.0.0 OK
             R: BDAT 3 LAST\\r\\nxyz
             S: 503 5.5.1 Need MAIL command first
             C: MAIL FROM:<sender@example.org>
             C: RCPT TO:<bob@example.com>
             R: BDAT 4 LAST\\r\\nhi\\r\\n
             S: 250 2.1.0 OK
             S: 250 2.1.5 OK
             S: 250 2.0.0 Ok: queued as Q1",
            inbound_hello()
        ),
        &[
            check("alice@example.com"),
            check("bob@example.com"),
            inbound_delivery("sender@example.org", &["bob@example.com"], b"hi\r\n"),
        ],
    );
}
