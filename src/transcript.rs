//! Test support: the one transcript replayer for every protocol. A `C:`/`S:` transcript is
//! replayed through a [`Session`], the client bytes of each segment fed whole, one byte at a
//! time, in chunks of several sizes, cut at pseudo-random points and, for sessions that ask for
//! it, split in two at every point; every way must yield exactly the same output bytes and
//! events.
//!
//! Script lines (leading whitespace ignored; empty lines and `#` comments skipped):
//! - `@key value`: a setting for the protocol ([`Scripted::directive`]), e.g. IMAP's
//!   `@listener implicit` or `@message NAME TEXT`.
//! - `C: text` client sends `text` CRLF; `R: text` client sends `text` with `\r`, `\n`, `\\`
//!   and `\xHH` escapes and no line ending added.
//! - `S: text` server sends `text` CRLF (trailing spaces are significant); `T: text` server
//!   sends `text` with the escapes of `R:` and no line ending added. `$VERSION` is the crate
//!   version.
//! - `E: starttls`, `E: compress`, `E: close`, `E: unauthenticated`, `E: auth <user> <password>`: an event
//!   the session asks for;
//!   any other `E:` line is a request in the protocol's own words ([`Scripted::request`]).
//! - `D: tls`, `D: compressed [BYTES]` (the bytes, escaped as in `R:`, that the session hands
//!   back as received after the command; none if left out), `D: auth ok <account>`, `D: auth fail`, `D: auth temp`, `D: timeout` (or
//!   `D: idle`), `D: shutdown`, `D: moved` (the account is served by another host now): the
//!   driver answers; any other `D:` line is the service's reply
//!   or a notice, in the protocol's words ([`Scripted::answer`]). Output and events are
//!   checked before each `D:` line and at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Debug;

use crate::session::{AuthOutcome, Credentials, Event, Output, Secret, Session};

/// What a `D:` line hands the session besides the driver's own answers.
pub(crate) enum Answer<S: Session> {
    /// The service's reply to the session's last request.
    Reply(S::Reply),
    /// Something the service pushes (IMAP: a change to the selected mailbox).
    Notice(S::Notice),
}

/// A session whose requests and replies a transcript can spell.
pub(crate) trait Scripted: Session + Sized
where
    Self::Request: Debug,
{
    /// What the transcript has said so far that later lines depend on (settings, stored
    /// messages, what the last request asked for).
    type Notes: Default;

    /// An `@key value` line; `false` for a key the protocol does not know.
    fn directive(notes: &mut Self::Notes, key: &str, value: &str) -> bool {
        let _ = (notes, key, value);
        false
    }

    /// The request an `E:` line names, as the `Debug` text the session's request must print
    /// as; `None` if the line names none.
    fn request(notes: &mut Self::Notes, text: &str) -> Option<String>;

    /// The reply or notice a `D:` line names; `None` if it names none.
    fn answer(notes: &mut Self::Notes, text: &str) -> Option<Answer<Self>>;

    /// Whether the runs also split each segment's client bytes in two at every point (IMAP's
    /// literals make every boundary interesting; long SMTP messages would make it slow).
    fn every_split_point() -> SplitPoints {
        SplitPoints::Sampled
    }
}

/// Which cuts of the client bytes the runs try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SplitPoints {
    /// Whole, bytewise, fixed chunk sizes and pseudo-random cuts.
    Sampled,
    /// Those, and every two-way split of each segment.
    Every,
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
    /// Cut once, `n` bytes in.
    At(usize),
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

enum Action<S: Session> {
    Tls,
    /// Compression is on; the session must hand back exactly these bytes.
    Compressed(Vec<u8>),
    Auth(AuthOutcome),
    Answer(Answer<S>),
    Timeout,
    Shutdown,
    Moved,
}

struct Segment<S: Session> {
    input: Vec<u8>,
    output: Vec<u8>,
    /// The events expected, as their `Debug` text.
    events: Vec<String>,
    /// The driver action that ends this segment (none for the last).
    action: Option<Action<S>>,
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
    S::Request: Debug,
    S::Reply: Clone,
    S::Notice: Clone,
{
    replay_with(script, |_: &S::Notes| make());
}

/// Replay `script` against fresh sessions that `make` builds from what its `@` lines said.
pub(crate) fn replay_with<S>(script: &str, make: impl Fn(&S::Notes) -> S)
where
    S: Scripted,
    S::Request: Debug,
    S::Reply: Clone,
    S::Notice: Clone,
{
    let (notes, segments) = parse::<S>(script);
    let mut splits = SPLITS.to_vec();
    if S::every_split_point() == SplitPoints::Every {
        let longest = segments.iter().map(|s| s.input.len()).max().unwrap_or(0);
        splits.extend((1..longest).map(Split::At));
    }
    for split in splits {
        let mut session = make(&notes);
        // What the session wrote into the driver's output while handling the last action.
        let mut handed = Output::default();
        for (i, seg) in segments.iter().enumerate() {
            feed(&mut session, &seg.input, split);
            let mut out = handed.to_vec();
            handed.clear();
            session.poll_output(&mut out);
            let mut events = Vec::new();
            while let Some(e) = session.poll_event() {
                events.push(shown(&e));
            }
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&seg.output),
                "output of segment {i} with {split:?}"
            );
            assert_eq!(
                out, seg.output,
                "output bytes of segment {i} with {split:?}"
            );
            assert_eq!(events, seg.events, "events of segment {i} with {split:?}");
            match &seg.action {
                None => {}
                Some(Action::Tls) => session.handle_tls_established(),
                Some(Action::Compressed(pipelined)) => assert_eq!(
                    &session.handle_compression_started(),
                    pipelined,
                    "bytes after COMPRESS in segment {i} with {split:?}"
                ),
                Some(Action::Auth(outcome)) => session.handle_auth(outcome.clone()),
                Some(Action::Answer(Answer::Reply(reply))) => {
                    session.handle_reply(reply.clone(), &mut handed)
                }
                Some(Action::Answer(Answer::Notice(notice))) => {
                    session.handle_notice(notice.clone())
                }
                Some(Action::Timeout) => session.handle_idle_timeout(),
                Some(Action::Shutdown) => session.handle_shutdown(),
                Some(Action::Moved) => session.handle_moved(),
            }
        }
    }
}

/// An event as transcripts compare it: a request as its `Debug` text, credentials with the
/// password (which `Debug` hides), the other events as their `Debug` text.
fn shown<R: Debug>(event: &Event<R>) -> String {
    match event {
        Event::Request(r) => format!("{r:?}"),
        Event::Authenticate(c) => format!("auth {:?} {:?}", c.username, c.password.expose()),
        Event::StartTls => "starttls".into(),
        Event::StartCompression => "compress".into(),
        Event::Close => "close".into(),
        Event::Unauthenticated => "unauthenticated".into(),
    }
}

fn feed<S: Session>(session: &mut S, input: &[u8], split: Split) {
    match split {
        Split::Whole => session.handle_input(input),
        Split::ByteAtATime => input.chunks(1).for_each(|c| session.handle_input(c)),
        Split::Every(n) => input.chunks(n).for_each(|c| session.handle_input(c)),
        Split::At(n) => {
            let (now, later) = input.split_at(n.min(input.len()));
            session.handle_input(now);
            session.handle_input(later);
        }
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

fn parse<S>(script: &str) -> (S::Notes, Vec<Segment<S>>)
where
    S: Scripted,
    S::Request: Debug,
{
    let script = script.replace("$VERSION", env!("CARGO_PKG_VERSION"));
    let mut notes = S::Notes::default();
    let mut segments = vec![Segment::default()];
    for (n, raw) in script.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(setting) = line.strip_prefix('@') {
            let (key, value) = setting.split_once(' ').unwrap_or((setting, ""));
            assert!(
                S::directive(&mut notes, key, value),
                "line {}: unknown setting {key}",
                n + 1
            );
            continue;
        }
        let (kind, text) = line
            .split_once(": ")
            .or_else(|| line.strip_suffix(':').map(|k| (k, "")))
            .unwrap_or_else(|| panic!("line {}: bad transcript line {raw:?}", n + 1));
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
            "T" => seg.output.extend_from_slice(&unescape(text)),
            "E" => seg.events.push(parse_event::<S>(&mut notes, text, n + 1)),
            "D" => {
                seg.action = Some(parse_action::<S>(&mut notes, text, n + 1));
                segments.push(Segment::default());
            }
            _ => panic!("line {}: bad transcript line {raw:?}", n + 1),
        }
    }
    (notes, segments)
}

fn parse_event<S>(notes: &mut S::Notes, text: &str, line: usize) -> String
where
    S: Scripted,
    S::Request: Debug,
{
    let words: Vec<&str> = text.splitn(3, ' ').collect();
    let event: Event<()> = match words.as_slice() {
        ["starttls"] => Event::StartTls,
        ["compress"] => Event::StartCompression,
        ["close"] => Event::Close,
        ["unauthenticated"] => Event::Unauthenticated,
        ["auth", user, password] => Event::Authenticate(Credentials {
            username: (*user).to_string(),
            password: Secret::new((*password).to_string()),
            mechanism: "",
        }),
        ["auth", user] => Event::Authenticate(Credentials {
            username: (*user).to_string(),
            password: Secret::new(String::new()),
            mechanism: "",
        }),
        _ => {
            return S::request(notes, text)
                .unwrap_or_else(|| panic!("line {line}: bad event {text:?}"))
        }
    };
    shown(&event)
}

fn parse_action<S>(notes: &mut S::Notes, text: &str, line: usize) -> Action<S>
where
    S: Scripted,
    S::Request: Debug,
{
    let words: Vec<&str> = text.split(' ').collect();
    match words.as_slice() {
        ["tls"] => Action::Tls,
        ["compressed"] => Action::Compressed(Vec::new()),
        ["compressed", ..] => Action::Compressed(unescape(&text["compressed ".len()..])),
        ["auth", "ok", account] => Action::Auth(AuthOutcome::Success {
            account: (*account).to_string(),
        }),
        ["auth", "fail"] => Action::Auth(AuthOutcome::Failure),
        ["auth", "temp"] => Action::Auth(AuthOutcome::TemporaryFailure),
        ["timeout"] | ["idle"] => Action::Timeout,
        ["shutdown"] => Action::Shutdown,
        ["moved"] => Action::Moved,
        _ => Action::Answer(
            S::answer(notes, text)
                .unwrap_or_else(|| panic!("line {line}: bad driver action {text:?}")),
        ),
    }
}

/// The bytes of an `R:`/`T:` line or a reply's text: `\r`, `\n`, `\\` and `\xHH` escapes.
pub(crate) fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex = [bytes.next().unwrap(), bytes.next().unwrap()];
                let hex = std::str::from_utf8(&hex).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
            }
            other => panic!("bad escape {other:?} in {text:?}"),
        }
    }
    out
}
