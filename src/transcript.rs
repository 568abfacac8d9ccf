//! Test support: replay a `C:`/`S:` transcript through any [`Session`] (POP3's and SMTP's;
//! IMAP's literal-aware runner is `imap::transcript_tests`), feeding the client
//! bytes whole, one byte at a time and cut at several points, and asserting that every way
//! yields exactly the same output bytes and events.
//!
//! Script lines (leading whitespace ignored; empty lines and `#` comments skipped):
//! - `C: text` client sends `text` CRLF; `R: text` client sends `text` with `\r`, `\n`, `\\`
//!   escapes and no line ending added.
//! - `S: text` server sends `text` CRLF (trailing spaces are significant).
//! - `E: starttls`, `E: close`, `E: auth <user> <password>`: an event the session asks for;
//!   any other `E:` line is a request in the protocol's own words ([`Scripted::request`]).
//! - `D: tls`, `D: auth ok <account>`, `D: auth fail`, `D: auth temp`, `D: timeout`,
//!   `D: shutdown`: the driver answers; any other `D:` line is the service's reply in the
//!   protocol's words ([`Scripted::reply`]). Output and events are checked before each `D:`
//!   line and at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Debug;

use crate::session::{AuthOutcome, Credentials, Event, Output, Secret, Session};

/// A session whose requests and replies a transcript can spell.
pub(crate) trait Scripted: Session
where
    Self::Request: Debug + PartialEq,
{
    /// The request an `E:` line names, in the protocol's words (`read 7`); `None` if it names
    /// none.
    fn request(text: &str) -> Option<Self::Request>;
    /// The service reply a `D:` line names (`message gone`); `None` if it names none.
    fn reply(text: &str) -> Option<Self::Reply>;
}

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

enum Action<R> {
    Tls,
    Auth(AuthOutcome),
    Reply(R),
    Timeout,
    Shutdown,
}

struct Segment<S: Session> {
    input: Vec<u8>,
    output: Vec<u8>,
    events: Vec<Event<S::Request>>,
    /// The driver action that ends this segment (none for the last).
    action: Option<Action<S::Reply>>,
}

impl<S: Session> Default for Segment<S> {
    fn default() -> Self {
        Segment {
            input: Vec::new(),
            output: Vec::new(),
            events: Vec::new(),
            action: None,
        }
    }
}

/// Replay `script` against fresh sessions from `make`, once per split strategy.
pub(crate) fn replay<S>(make: impl Fn() -> S, script: &str)
where
    S: Scripted,
    S::Request: Debug + PartialEq,
    S::Reply: Clone,
{
    let segments = parse::<S>(script);
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
                Some(Action::Reply(reply)) => session.handle_reply(reply.clone(), &mut handed),
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

fn parse<S>(script: &str) -> Vec<Segment<S>>
where
    S: Scripted,
    S::Request: Debug + PartialEq,
{
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
            "E" => seg.events.push(parse_event::<S>(text)),
            "D" => {
                seg.action = Some(parse_action::<S>(text));
                segments.push(Segment::default());
            }
            _ => panic!("bad transcript line {raw:?}"),
        }
    }
    segments
}

fn parse_event<S>(text: &str) -> Event<S::Request>
where
    S: Scripted,
    S::Request: Debug + PartialEq,
{
    let words: Vec<&str> = text.splitn(3, ' ').collect();
    match words.as_slice() {
        ["starttls"] => Event::StartTls,
        ["close"] => Event::Close,
        ["auth", user, password] => Event::Authenticate(Credentials {
            username: (*user).to_string(),
            password: Secret::new((*password).to_string()),
        }),
        _ => Event::Request(S::request(text).unwrap_or_else(|| panic!("bad event {text:?}"))),
    }
}

fn parse_action<S>(text: &str) -> Action<S::Reply>
where
    S: Scripted,
    S::Request: Debug + PartialEq,
{
    let words: Vec<&str> = text.split(' ').collect();
    match words.as_slice() {
        ["tls"] => Action::Tls,
        ["auth", "ok", account] => Action::Auth(AuthOutcome::Success {
            account: (*account).to_string(),
        }),
        ["auth", "fail"] => Action::Auth(AuthOutcome::Failure),
        ["auth", "temp"] => Action::Auth(AuthOutcome::TemporaryFailure),
        ["timeout"] => Action::Timeout,
        ["shutdown"] => Action::Shutdown,
        _ => Action::Reply(S::reply(text).unwrap_or_else(|| panic!("bad driver action {text:?}"))),
    }
}

/// The bytes of an `R:` line or a reply's text: `\r`, `\n` and `\\` escapes.
pub(crate) fn unescape(text: &str) -> Vec<u8> {
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
