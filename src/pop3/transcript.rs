//! Test support: replay a `C:`/`S:` transcript through any [`Session`], feeding the client
//! bytes whole, one byte at a time and cut at several points, and asserting that every way
//! yields exactly the same output bytes and events.
//!
//! Script lines (leading whitespace ignored; empty lines and `#` comments skipped):
//! - `C: text` client sends `text` CRLF; `R: text` client sends `text` with `\r`, `\n`, `\\`
//!   escapes and no line ending added.
//! - `S: text` server sends `text` CRLF (trailing spaces are significant).
//! - `E: starttls`, `E: close`, `E: auth <user> <password>`, `E: open-maildrop`,
//!   `E: read <uid>`, `E: expunge <uid> <uid>…`: an event the session asks for.
//! - `D: tls`, `D: auth ok <account>`, `D: auth fail`, `D: auth temp`, `D: timeout`,
//!   `D: shutdown`: the driver answers. Output and events are checked before each `D:` line
//!   and at the end.
//! - POP3 maildrop answers: `D: maildrop <uidvalidity> <uid>:<size>…` (opened, in that order),
//!   `D: maildrop in-use`, `D: maildrop temp`; `D: message bytes <text>` (with the `R:`
//!   escapes), `D: message gone`, `D: message temp`; `D: expunged durable`,
//!   `D: expunged failed`.
//!
//! Lives here until the crate has a shared test-support module; SMTP uses it too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::session::{
    AuthOutcome, Credentials, Event, MaildropEntry, MaildropOutcome, MessageOutcome, Output,
    Secret, Session,
};

/// How one run cuts each chunk of client bytes into `handle_input` calls.
#[derive(Debug, Clone, Copy)]
enum Split {
    Whole,
    ByteAtATime,
    /// Cut every `n` bytes.
    Every(usize),
    /// Cut at pseudo-random points drawn from this seed.
    Random(u64),
}

const SPLITS: [Split; 9] = [
    Split::Whole,
    Split::ByteAtATime,
    Split::Every(2),
    Split::Every(3),
    Split::Every(5),
    Split::Every(7),
    Split::Every(13),
    Split::Random(0x2545_f491_4f6c_dd1d),
    Split::Random(0x9e37_79b9_7f4a_7c15),
];

#[derive(Debug)]
enum Action {
    Tls,
    Auth(AuthOutcome),
    Maildrop(MaildropOutcome),
    Message(MessageOutcome),
    Expunged(bool),
    Timeout,
    Shutdown,
}

#[derive(Debug, Default)]
struct Segment {
    input: Vec<u8>,
    output: Vec<u8>,
    events: Vec<Event>,
    /// The driver action that ends this segment (none for the last).
    action: Option<Action>,
}

/// Replay `script` against fresh sessions from `make`, once per split strategy.
pub(crate) fn replay<S: Session>(make: impl Fn() -> S, script: &str) {
    let segments = parse(script);
    for split in SPLITS {
        let mut session = make();
        // What the session wrote into the driver's output while handling the last action.
        let mut handed = Output::default();
        for (i, seg) in segments.iter().enumerate() {
            feed(&mut session, &seg.input, split);
            let mut out = handed.to_vec();
            handed.clear();
            session.poll_output(&mut out);
            let mut events = Vec::new();
            while let Some(e) = session.poll_event() {
                events.push(e);
            }
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&seg.output),
                "output of segment {i} with {split:?}"
            );
            assert_eq!(events, seg.events, "events of segment {i} with {split:?}");
            match &seg.action {
                None => {}
                Some(Action::Tls) => session.handle_tls_established(),
                Some(Action::Auth(outcome)) => session.handle_auth(outcome.clone()),
                Some(Action::Maildrop(outcome)) => session.handle_maildrop(outcome.clone()),
                Some(Action::Message(outcome)) => {
                    session.handle_message(outcome.clone(), &mut handed)
                }
                Some(Action::Expunged(durable)) => session.handle_expunged(*durable),
                Some(Action::Timeout) => session.handle_idle_timeout(),
                Some(Action::Shutdown) => session.handle_shutdown(),
            }
        }
    }
}

fn feed<S: Session>(session: &mut S, input: &[u8], split: Split) {
    match split {
        Split::Whole => session.handle_input(input),
        Split::ByteAtATime => input.chunks(1).for_each(|c| session.handle_input(c)),
        Split::Every(n) => input.chunks(n).for_each(|c| session.handle_input(c)),
        Split::Random(mut seed) => {
            let mut rest = input;
            while !rest.is_empty() {
                // xorshift64: deterministic, no dependency.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let n = 1 + (seed % 16) as usize;
                let (now, later) = rest.split_at(n.min(rest.len()));
                session.handle_input(now);
                rest = later;
            }
        }
    }
}

fn parse(script: &str) -> Vec<Segment> {
    let mut segments = vec![Segment::default()];
    for raw in script.lines() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kind, text) = line
            .split_once(": ")
            .or_else(|| line.strip_suffix(':').map(|k| (k, "")))
            .unwrap_or_else(|| panic!("bad transcript line {raw:?}"));
        let seg = segments.last_mut().unwrap();
        match kind {
            "C" => {
                seg.input.extend_from_slice(text.as_bytes());
                seg.input.extend_from_slice(b"\r\n");
            }
            "R" => seg.input.extend_from_slice(&unescape(text)),
            "S" => {
                seg.output.extend_from_slice(text.as_bytes());
                seg.output.extend_from_slice(b"\r\n");
            }
            "E" => seg.events.push(parse_event(text)),
            "D" => {
                seg.action = Some(parse_action(text));
                segments.push(Segment::default());
            }
            _ => panic!("bad transcript line {raw:?}"),
        }
    }
    segments
}

fn parse_event(text: &str) -> Event {
    let words: Vec<&str> = text.splitn(3, ' ').collect();
    match words.as_slice() {
        ["starttls"] => Event::StartTls,
        ["close"] => Event::Close,
        ["open-maildrop"] => Event::OpenMaildrop,
        ["read", uid] => Event::ReadMessage {
            uid: uid.parse().unwrap(),
        },
        ["expunge", ..] => Event::Expunge {
            uids: text
                .split(' ')
                .skip(1)
                .map(|u| u.parse().unwrap())
                .collect(),
        },
        ["auth", user, password] => Event::Authenticate(Credentials {
            username: (*user).to_string(),
            password: Secret::new((*password).to_string()),
        }),
        _ => panic!("bad event {text:?}"),
    }
}

fn parse_action(text: &str) -> Action {
    if let Some(bytes) = text.strip_prefix("message bytes ") {
        return Action::Message(MessageOutcome::Message(unescape(bytes).into()));
    }
    let words: Vec<&str> = text.split(' ').collect();
    match words.as_slice() {
        ["tls"] => Action::Tls,
        ["auth", "ok", account] => Action::Auth(AuthOutcome::Success {
            account: (*account).to_string(),
        }),
        ["auth", "fail"] => Action::Auth(AuthOutcome::Failure),
        ["auth", "temp"] => Action::Auth(AuthOutcome::TemporaryFailure),
        ["maildrop", "in-use"] => Action::Maildrop(MaildropOutcome::InUse),
        ["maildrop", "temp"] => Action::Maildrop(MaildropOutcome::TemporaryFailure),
        ["maildrop", uid_validity, messages @ ..] => Action::Maildrop(MaildropOutcome::Opened {
            uid_validity: uid_validity.parse().unwrap(),
            messages: messages
                .iter()
                .map(|m| {
                    let (uid, size) = m.split_once(':').unwrap();
                    MaildropEntry {
                        uid: uid.parse().unwrap(),
                        size: size.parse().unwrap(),
                    }
                })
                .collect(),
        }),
        ["message", "gone"] => Action::Message(MessageOutcome::Gone),
        ["message", "temp"] => Action::Message(MessageOutcome::TemporaryFailure),
        ["expunged", "durable"] => Action::Expunged(true),
        ["expunged", "failed"] => Action::Expunged(false),
        ["timeout"] => Action::Timeout,
        ["shutdown"] => Action::Shutdown,
        _ => panic!("bad driver action {text:?}"),
    }
}

fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = text.bytes();
    while let Some(b) = chars.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match chars.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b'\\') => out.push(b'\\'),
            other => panic!("bad escape {other:?} in {text:?}"),
        }
    }
    out
}

#[test]
fn the_runner_catches_a_wrong_transcript() {
    use crate::session::{SessionConfig, TlsMode};
    let make = || {
        crate::pop3::Pop3Session::new(
            SessionConfig {
                hostname: "mail.example.com".into(),
                tls_mode: TlsMode::Starttls,
                limits: Default::default(),
                local_domains: vec!["example.com".to_string()],
            },
            false,
        )
    };
    let wrong = std::panic::catch_unwind(|| replay(make, "S: +OK something else"));
    assert!(wrong.is_err());
    replay(make, "S: +OK ringpost ready.");
}
