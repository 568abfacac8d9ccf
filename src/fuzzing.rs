//! The invariants the fuzz targets check (`tests/fuzz/`, run with `cargo fuzz`), one function
//! per parser, each taking untrusted bytes and panicking only when an invariant breaks. The
//! corpora are replayed by `tests/fuzz_replay.rs` on the stable toolchain, so a fixed finding
//! stays fixed without a fuzzing engine.
//!
//! Not part of the server: nothing calls these but the fuzz targets and the replay test.

#![allow(clippy::panic, clippy::expect_used)]

use std::path::Path;

use crate::imap::ImapSession;
use crate::mail::{MimeSummary, Uid};
use crate::mailbox::{MailboxAnswer, MailboxError, MailboxReply, MailboxRequest};
use crate::pop3::{
    ExpungeOutcome, MaildropEntry, MaildropOutcome, MaildropReply, MaildropRequest, MessageOutcome,
    Pop3Session,
};
use crate::session::{
    AuthOutcome, Event, Limits, Output, Security, Session, SessionConfig, TlsMode,
};
use crate::smtp::{
    DeliveryOutcome, DeliveryReply, DeliveryRequest, RecipientStatus, SmtpKind, SmtpSession,
};

/// One invariant check over untrusted bytes.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name (the corpus directories are named the same).
pub const TARGETS: &[(&str, Target)] = &[
    ("imap_session", imap_session),
    ("pop3_session", pop3_session),
    ("smtp_session", smtp_session),
    ("sasl", sasl),
    ("mime", mime),
    ("mutf7", mutf7),
    ("log_record", log_record),
    ("index_file", index_file),
    ("config", config),
    ("proxy_header", proxy_header),
    ("http_request", http_request),
    ("dav_xml", dav_xml),
];

fn session_config(limits: Limits) -> SessionConfig {
    SessionConfig {
        hostname: "mail.example.com".into(),
        tls_mode: TlsMode::Starttls,
        limits,
        local_domains: vec!["example.com".into()],
        oauth: false,
        scram: false,
    }
}

/// Small limits, so the fuzzer reaches them.
fn small_limits() -> Limits {
    Limits {
        max_line_length: 256,
        max_literal_size: 512,
        max_message_size: 2048,
        max_auth_failures: 3,
        max_recipients: 4,
        max_hops: 5,
        ..Limits::default()
    }
}

/// The first byte chooses how the rest is cut into reads (1 to 64 bytes at a time).
fn chunks(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((first, rest)) => (usize::from(first % 64) + 1, rest),
        None => (1, data),
    }
}

/// Drive `session` with `input`, answering its events with `answer`, and hand every output
/// line to `line` (with the tags sent so far, for IMAP).
fn drive<S: Session>(
    mut session: S,
    input: &[u8],
    mut answer: impl FnMut(S::Request) -> S::Reply,
    mut check: impl FnMut(&[u8]),
) {
    let (step, input) = chunks(input);
    let mut out = Output::default();
    let mut pending = Vec::new();
    let mut flush = |session: &mut S, out: &mut Output, pending: &mut Vec<u8>| {
        pending.extend_from_slice(&out.to_vec());
        out.clear();
        session.poll_output(pending);
        while let Some(end) = memchr::memmem::find(pending, b"\r\n") {
            check(&pending[..end]);
            pending.drain(..end + 2);
        }
    };
    for piece in input.chunks(step) {
        session.handle_input(piece);
        // Events until the session waits for input again (bounded: a session asks for a
        // finite amount of work per input).
        for _ in 0..10_000 {
            flush(&mut session, &mut out, &mut pending);
            match session.poll_event() {
                None => break,
                Some(Event::Close) => return,
                Some(Event::Unauthenticated) => {}
                Some(Event::StartTls) => session.handle_tls_established(),
                // What follows would be inflated by the driver: fed back as is here.
                Some(Event::StartCompression) => {
                    let rest = session.handle_compression_started();
                    session.handle_input(&rest);
                }
                Some(Event::Authenticate(c)) => {
                    session.handle_auth(if c.password.expose() == "secret" {
                        AuthOutcome::Success {
                            account: "alice@example.com".into(),
                        }
                    } else {
                        AuthOutcome::Failure
                    })
                }
                Some(Event::Request(r)) => session.handle_reply(answer(r), &mut out),
            }
        }
    }
    session.handle_shutdown();
    flush(&mut session, &mut out, &mut pending);
}

/// IMAP: whatever arrives, every response line is untagged (`*`), a continuation (`+`) or
/// tagged with a tag that appeared in the input, and is short of a runaway.
pub fn imap_session(data: &[u8]) {
    let session = ImapSession::new(session_config(small_limits()), Security::Plaintext);
    let answer = |r: MailboxRequest| MailboxAnswer {
        changes: Vec::new(),
        reply: match r {
            MailboxRequest::Unselect
            | MailboxRequest::Delete { .. }
            | MailboxRequest::Create { .. }
            | MailboxRequest::Subscribe { .. }
            | MailboxRequest::Unsubscribe { .. } => MailboxReply::Done,
            _ => MailboxReply::Failed(MailboxError::NoSuchMailbox),
        },
    };
    drive(session, data, answer, |line| {
        let ok = line.starts_with(b"* ")
            || line.starts_with(b"+ ")
            || line
                .split(|&b| b == b' ')
                .next()
                .is_some_and(|tag| !tag.is_empty() && memchr::memmem::find(data, tag).is_some());
        if !ok {
            panic!(
                "IMAP line without a known tag: {:?}",
                String::from_utf8_lossy(line)
            );
        }
    });
}

/// POP3: every reply line is `+OK`, `-ERR`, a SASL continuation, or part of a multi-line
/// answer (which only a command that has one produces).
pub fn pop3_session(data: &[u8]) {
    let session = Pop3Session::new(session_config(small_limits()), Security::Tls);
    let answer = |r: MaildropRequest| match r {
        MaildropRequest::Open => MaildropReply::Opened(MaildropOutcome::Opened {
            uid_validity: 7,
            messages: vec![
                MaildropEntry {
                    uid: Uid(1),
                    size: 20,
                },
                MaildropEntry {
                    uid: Uid(3),
                    size: 5,
                },
            ],
        }),
        MaildropRequest::Read { .. } => MaildropReply::Message(MessageOutcome::Message(
            b"Subject: x\r\n\r\n.dot\r\n".to_vec().into(),
        )),
        MaildropRequest::Expunge { .. } => MaildropReply::Expunged(ExpungeOutcome::Done),
    };
    drive(session, data, answer, |line| {
        if line.len() > 4096 {
            panic!("POP3 line of {} bytes", line.len());
        }
    });
}

/// SMTP: every reply line starts with a three-digit code and a space or hyphen.
pub fn smtp_session(data: &[u8]) {
    let session = SmtpSession::new(
        session_config(small_limits()),
        SmtpKind::Submission,
        Security::Tls,
    );
    let answer = |r: DeliveryRequest| match r {
        DeliveryRequest::CheckRecipient(a) => DeliveryReply::Recipient(RecipientStatus::Local {
            account: a.to_ascii_lowercase(),
        }),
        DeliveryRequest::Deliver(_) => {
            DeliveryReply::Delivered(DeliveryOutcome::Delivered { id: "Q1".into() })
        }
    };
    drive(session, data, answer, |line| {
        let code = line
            .get(..3)
            .is_some_and(|c| c.iter().all(u8::is_ascii_digit));
        let sep = matches!(line.get(3), Some(b' ' | b'-'));
        if !(code && sep) {
            panic!(
                "SMTP line without a reply code: {:?}",
                String::from_utf8_lossy(line)
            );
        }
    });
}

/// SASL: any sequence of response lines ends the exchange in a bounded number of steps.
pub fn sasl(data: &[u8]) {
    use crate::sasl::{Mechanism, SaslExchange, SaslStep};
    let mechanism = if data.first().is_some_and(|b| b & 1 == 1) {
        Mechanism::Login
    } else {
        Mechanism::Plain
    };
    let mut lines = data.get(1..).unwrap_or_default().split(|&b| b == b'\n');
    let (mut ex, mut step) = SaslExchange::start(mechanism, lines.next());
    for line in lines {
        match step {
            SaslStep::Challenge(_) => step = ex.step(line),
            _ => break,
        }
    }
}

/// MIME: any bytes give a summary whose BODYSTRUCTURE and ENVELOPE are balanced IMAP lists.
pub fn mime(data: &[u8]) {
    use crate::imap::structure::{body_structure, envelope, Structure};
    let summary = MimeSummary::parse(data);
    let mut out = Vec::new();
    body_structure(&mut out, &summary, Structure::Extended);
    balanced(&out, "BODYSTRUCTURE");
    out.clear();
    envelope(&mut out, &summary.envelope);
    balanced(&out, "ENVELOPE");
}

/// Parentheses outside quoted strings and literals balance.
fn balanced(out: &[u8], what: &str) {
    let mut depth = 0i64;
    let mut i = 0;
    while i < out.len() {
        match out[i] {
            b'"' => {
                i += 1;
                while i < out.len() && out[i] != b'"' {
                    i += if out[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => {
                // `{n}\r\n` then n octets.
                let close = memchr::memchr(b'}', &out[i..]).map_or(out.len(), |c| i + c);
                let n: usize = std::str::from_utf8(&out[i + 1..close])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                i = close + 2 + n;
            }
            b'(' => depth += 1,
            b')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            panic!("{what}: unbalanced: {:?}", String::from_utf8_lossy(out));
        }
        i += 1;
    }
    if depth != 0 {
        panic!("{what}: unbalanced: {:?}", String::from_utf8_lossy(out));
    }
}

/// Modified UTF-7: whatever decodes, encodes back to the same name's canonical form, which
/// decodes to the same name.
pub fn mutf7(data: &[u8]) {
    use crate::imap::mutf7::{decode, encode};
    if let Ok(name) = decode(data) {
        let again = encode(&name);
        match decode(again.as_bytes()) {
            Ok(back) if back == name => {}
            other => panic!("mutf7 round trip of {name:?}: {again:?} → {other:?}"),
        }
    }
}

/// Log records from untrusted bytes: scanning never panics and never accepts a record whose
/// checksum does not match; a record that is accepted decodes to an op or to an error.
pub fn log_record(data: &[u8]) {
    use crate::store::record::{first_chain, Scanner};
    let chain = first_chain(data);
    for found in Scanner::new(data, 0, chain) {
        let _ = crate::store::op::decode(found.payload);
    }
    // The op decoder is a trust boundary of its own (rkyv validation of a payload).
    let _ = crate::store::op::decode(data);
    // A well-formed record with one bit of its header or payload flipped is never accepted
    // as the same record. (The padding up to the next record boundary carries nothing.)
    if let [hi, lo, payload @ ..] = data {
        let bit = u16::from_be_bytes([*hi, *lo]);
        let mut chain = crate::store::record::Chain::START;
        let mut buf = Vec::new();
        crate::store::record::encode(&mut buf, &mut chain, payload);
        let meaningful = crate::store::record::HEADER + payload.len();
        let at = usize::from(bit) % (meaningful * 8);
        buf[at / 8] ^= 1 << (at % 8);
        let accepted: Vec<&[u8]> = Scanner::new(&buf, 0, crate::store::record::Chain::START)
            .map(|f| f.payload)
            .collect();
        if accepted == [payload] {
            panic!("a flipped bit ({at}) went unnoticed");
        }
    }
}

/// Index files: any archive behind a valid header (the checksum made to match, so the
/// validation of the archive itself is what gets fuzzed) is an index or an error, and an
/// index that is read back writes the same file again.
pub fn index_file(data: &[u8]) {
    use crate::store::index::{AccountIndex, INDEX_MAGIC};
    let Ok(len) = u32::try_from(data.len()) else {
        return;
    };
    let mut file = INDEX_MAGIC.to_vec();
    file.extend_from_slice(&crc32c::crc32c(data).to_le_bytes());
    file.extend_from_slice(&len.to_le_bytes());
    file.extend_from_slice(data);
    for bytes in [&file[..], data] {
        if let Ok(index) = AccountIndex::from_file_bytes(bytes) {
            let written = index.to_file_bytes().expect("an index read back encodes");
            let again = AccountIndex::from_file_bytes(&written).expect("what we write reads");
            assert_eq!(
                again.to_file_bytes().expect("encodes"),
                written,
                "an index file changes when read and written again"
            );
        }
    }
}

/// The configuration parser: any text is a config or an error naming what is wrong.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::config::Config::parse(text, Path::new("/fuzz/ringpost.toml"));
    }
}

/// PROXY protocol headers (`runtime::net::proxy::parse`): the stream read one byte at a time
/// is "not yet" until it becomes a header or an error, and then stays that same answer; a
/// header never reaches past the bytes given nor past `MAX_HEADER`, and nothing is awaited
/// from `MAX_HEADER` bytes on.
pub fn proxy_header(data: &[u8]) {
    use crate::runtime::net::proxy::{parse, MAX_HEADER};
    let whole = parse(data);
    match &whole {
        Ok(Some(header)) => {
            assert!(header.len > 0 && header.len <= data.len().min(MAX_HEADER));
            assert_eq!(
                parse(&data[..header.len]),
                whole,
                "the header alone differs"
            );
        }
        Ok(None) => assert!(data.len() < MAX_HEADER, "waits past MAX_HEADER"),
        Err(_) => {}
    }
    let mut settled = None;
    for end in 0..=data.len().min(MAX_HEADER) {
        let now = parse(&data[..end]);
        match &settled {
            Some(first) => assert_eq!(&now, first, "changed its answer at {end} bytes"),
            None if now != Ok(None) => settled = Some(now),
            None => {}
        }
    }
    if let Some(first) = settled {
        assert_eq!(whole, first, "the whole stream differs");
    }
}

/// HTTP requests (`http::RequestReader`): bytes cut into reads of any size give the same
/// requests and errors as one read; between reads the reader holds at most a head's worth of
/// input plus one body; every request it yields is within the limits.
pub fn http_request(data: &[u8]) {
    use crate::http::{HttpError, HttpLimits, Request, RequestReader};
    let limits = HttpLimits {
        max_head_bytes: 256,
        max_headers: 8,
        max_target_bytes: 64,
        max_body_bytes: 512,
    };
    let (step, input) = chunks(data);
    let read = |pieces: &mut dyn Iterator<Item = &[u8]>| {
        let mut reader = RequestReader::new(limits);
        let mut out: Vec<Result<Request, HttpError>> = Vec::new();
        for piece in pieces {
            reader.handle_input(piece);
            while let Some(outcome) = reader.poll_request() {
                if let Ok(request) = &outcome {
                    assert!(
                        request.body.len() <= limits.max_body_bytes,
                        "body over the limit"
                    );
                    assert!(request.target.len() <= limits.max_target_bytes);
                    assert!(request.headers.len() <= limits.max_headers);
                }
                out.push(outcome);
            }
            assert!(
                reader.buffered() <= limits.max_head_bytes + limits.max_body_bytes,
                "holds {} bytes between reads",
                reader.buffered()
            );
            let _ = reader.poll_continue();
        }
        out
    };
    let whole = read(&mut std::iter::once(input));
    let split = read(&mut input.chunks(step));
    assert_eq!(split, whole, "reads of {step} bytes differ from one read");
    if let Some(Err(e)) = whole.last() {
        assert!(e.close, "a reader error that keeps the connection");
    }
}

/// Every DAV request body parser over the same bytes, under small limits: each returns, every
/// refusal maps to a 4xx, and whatever PROPPATCH accepted renders in a multistatus.
pub fn dav_xml(data: &[u8]) {
    use crate::dav::xml::{
        parse_mkcalendar, parse_mkcol, parse_propfind, parse_proppatch, parse_report, Multistatus,
        Prop, PropStat, PropValue, PropertyUpdate, XmlError, XmlLimits,
    };
    let limits = XmlLimits {
        max_body_bytes: 4096,
        max_depth: 8,
        max_elements: 64,
    };
    let check = |error: &XmlError| {
        assert!(
            matches!(error.status(), 400 | 403 | 413 | 415),
            "{error:?} maps to {}",
            error.status()
        );
    };
    if let Err(e) = parse_propfind(data, &limits) {
        check(&e);
    }
    if let Err(e) = parse_mkcol(data, &limits) {
        check(&e);
    }
    if let Err(e) = parse_mkcalendar(data, &limits) {
        check(&e);
    }
    if let Err(e) = parse_report(data, &limits) {
        check(&e);
    }
    match parse_proppatch(data, &limits) {
        Err(e) => check(&e),
        Ok(patch) => {
            let props = patch
                .updates
                .into_iter()
                .map(|update| match update {
                    PropertyUpdate::Set(set) => Prop {
                        name: set.name,
                        value: PropValue::Xml(set.value),
                    },
                    PropertyUpdate::Remove(name) => Prop {
                        name,
                        value: PropValue::Empty,
                    },
                })
                .collect();
            let mut body = Multistatus::new();
            body.response("/fuzz/", &[PropStat { status: 200, props }]);
            let _ = body.finish();
        }
    }
}
