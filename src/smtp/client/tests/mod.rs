//! Transcripts of the client against a scripted server: the server's bytes of each segment
//! fed whole, a byte at a time and cut at other points, the client's bytes and events
//! checked exactly. This file holds the replayer; `opening` tests the session up to Ready
//! (greeting, EHLO/HELO, STARTTLS, AUTH), QUIT and malformed replies, `transaction` the mail
//! transaction, `cuts` that the server's bytes may be cut anywhere.
//!
//! Script lines (leading blanks ignored; empty lines and `#` comments skipped):
//! - `S: text` the server sends `text` CRLF; `T: text` sends `text` with `\r`, `\n`, `\\`
//!   and `\xHH` escapes and nothing added.
//! - `C: text` the client sends `text` CRLF; `R: text` sends `text` with those escapes.
//! - `E: event` the session says this (see [`describe`]); `E: send refused NotReady` is
//!   what a refused `D: send` returns.
//! - `M: text` a message line (CRLF added), `N: text` message bytes with escapes, for the
//!   next `D: send`.
//! - `D: send <envelope>` (see [`envelope`]), `D: tls`, `D: tls failed`, `D: quit`,
//!   `D: lost`, `D: timeout`: what the driver does.
//! - `W: seconds` or `W: none`: what [`ClientSession::timeout`] says now.
//!
//! The client's bytes and events are compared before the server speaks again, before each
//! `D:` and `W:` line and at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

mod cuts;
mod opening;
mod transaction;

/// A client that STARTTLSes when it can, without AUTH, with small reply limits.
fn config(tls: TlsPolicy) -> ClientConfig {
    ClientConfig {
        helo_name: "client.example.org".into(),
        tls,
        auth: None,
        max_reply_lines: 8,
        max_line: 80,
    }
}

/// A client relaying through a smarthost with a password.
fn relay(tls: TlsPolicy) -> ClientConfig {
    ClientConfig {
        auth: Some(("relay@example.org".into(), Secret::new("s3cret".into()))),
        ..config(tls)
    }
}

/// How each segment of server bytes is cut into `handle_input` calls.
#[derive(Debug, Clone)]
enum Cut {
    Whole,
    /// Pieces of these lengths, in turn, over the whole run.
    Lengths(Vec<usize>),
}

/// Replay `script` whole, bytewise and at several fixed cuts.
fn replay(config: ClientConfig, script: &str) {
    for cut in [
        Cut::Whole,
        Cut::Lengths(vec![1]),
        Cut::Lengths(vec![2]),
        Cut::Lengths(vec![3, 7, 1, 30]),
    ] {
        run(config.clone(), script, &cut);
    }
}

/// Replay `script` once, cutting server bytes as `cut` says.
fn run(config: ClientConfig, script: &str, cut: &Cut) {
    Replay {
        session: ClientSession::new(config),
        cut,
        next_length: 0,
        server: Vec::new(),
        expected_out: Vec::new(),
        expected_events: Vec::new(),
        events: Vec::new(),
        message: Vec::new(),
        line: 0,
    }
    .script(script);
}

struct Replay<'a> {
    session: ClientSession,
    cut: &'a Cut,
    /// Where `Cut::Lengths` is.
    next_length: usize,
    /// Server bytes not yet fed.
    server: Vec<u8>,
    expected_out: Vec<u8>,
    expected_events: Vec<String>,
    /// Events (and refused sends) since the last check.
    events: Vec<String>,
    /// The message for the next `D: send`.
    message: Vec<u8>,
    /// The script line being run, for failures.
    line: usize,
}

impl Replay<'_> {
    fn script(mut self, script: &str) {
        for (n, raw) in script.lines().enumerate() {
            let text = raw.trim_start();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let (tag, rest) = text
                .split_once(':')
                .unwrap_or_else(|| panic!("line {}: no tag: {text}", n + 1));
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            match tag {
                "S" | "T" => {
                    if !self.expected_out.is_empty() || !self.expected_events.is_empty() {
                        self.check();
                    }
                    self.line = n + 1;
                    if tag == "S" {
                        self.server.extend_from_slice(rest.as_bytes());
                        self.server.extend_from_slice(b"\r\n");
                    } else {
                        self.server.extend(crate::transcript::unescape(rest));
                    }
                }
                "C" => {
                    self.expected_out.extend_from_slice(rest.as_bytes());
                    self.expected_out.extend_from_slice(b"\r\n");
                }
                "R" => self.expected_out.extend(crate::transcript::unescape(rest)),
                "E" => self.expected_events.push(rest.to_string()),
                "M" => {
                    self.message.extend_from_slice(rest.as_bytes());
                    self.message.extend_from_slice(b"\r\n");
                }
                "N" => self.message.extend(crate::transcript::unescape(rest)),
                "D" => {
                    self.check();
                    self.line = n + 1;
                    self.act(rest);
                }
                "W" => {
                    self.check();
                    let expected = match rest {
                        "none" => None,
                        secs => Some(std::time::Duration::from_secs(secs.parse().unwrap())),
                    };
                    assert_eq!(
                        self.session.timeout(),
                        expected,
                        "line {}, cut {:?}",
                        n + 1,
                        self.cut
                    );
                }
                _ => panic!("line {}: unknown tag {tag}", n + 1),
            }
        }
        self.check();
    }

    fn act(&mut self, action: &str) {
        match action {
            "tls" => self.session.handle_tls_established(),
            "tls failed" => self.session.handle_tls_failed(),
            "quit" => self.session.quit(),
            "lost" => self.session.handle_connection_lost(),
            "timeout" => self.session.handle_timeout(),
            _ => {
                let spec = action
                    .strip_prefix("send")
                    .unwrap_or_else(|| panic!("unknown action {action}"));
                let message = std::mem::take(&mut self.message);
                if let Err(e) = self.session.send(envelope(spec), &message) {
                    self.events.push(format!("send refused {e:?}"));
                }
            }
        }
    }

    /// Feed the server's bytes, then compare what the client said and did.
    fn check(&mut self) {
        let server = std::mem::take(&mut self.server);
        let mut rest = &server[..];
        while !rest.is_empty() {
            let n = match self.cut {
                Cut::Whole => rest.len(),
                Cut::Lengths(lengths) => {
                    let n = lengths[self.next_length % lengths.len()];
                    self.next_length += 1;
                    n.clamp(1, rest.len())
                }
            };
            self.session.handle_input(&rest[..n]);
            rest = &rest[n..];
        }
        let mut out = Vec::new();
        self.session.poll_output(&mut out);
        while let Some(event) = self.session.poll_event() {
            self.events.push(describe(&event));
        }
        assert!(
            out == self.expected_out,
            "client bytes before line {}, cut {:?}:\n got: {:?}\nwant: {:?}",
            self.line,
            self.cut,
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&self.expected_out),
        );
        assert_eq!(
            self.events, self.expected_events,
            "events before line {}, cut {:?}",
            self.line, self.cut
        );
        self.events.clear();
        self.expected_out.clear();
        self.expected_events.clear();
    }
}

/// An envelope from words: `from:<a>` (`from:<>` for the null sender), `to:<b>` (once per
/// recipient), after a `to:` its `notify:never` or `notify:success,failure,delay` and
/// `orcpt:address`, `body:7bit|8bit|binary`, `smtputf8`, `requiretls`, `ret:full|hdrs`,
/// `envid:text`.
fn envelope(spec: &str) -> Envelope {
    let mut envelope = Envelope {
        reverse_path: String::new(),
        recipients: Vec::new(),
        body: BodyType::SevenBit,
        smtputf8: false,
        requiretls: false,
        ret: None,
        envid: None,
    };
    let bracketed = |a: &str| {
        a.strip_prefix('<')
            .and_then(|a| a.strip_suffix('>'))
            .unwrap_or_else(|| panic!("<address> expected: {a}"))
            .to_string()
    };
    for word in spec.split_whitespace() {
        let (key, value) = word.split_once(':').unwrap_or((word, ""));
        match key {
            "from" => envelope.reverse_path = bracketed(value),
            "to" => envelope.recipients.push(Recipient::new(bracketed(value))),
            "notify" => {
                envelope.recipients.last_mut().unwrap().notify = Some(match value {
                    "never" => Notify::Never,
                    list => Notify::On {
                        success: list.contains("success"),
                        failure: list.contains("failure"),
                        delay: list.contains("delay"),
                    },
                })
            }
            "orcpt" => envelope.recipients.last_mut().unwrap().orcpt = Some(value.to_string()),
            "body" => {
                envelope.body = match value {
                    "7bit" => BodyType::SevenBit,
                    "8bit" => BodyType::EightBitMime,
                    "binary" => BodyType::BinaryMime,
                    _ => panic!("body {value}"),
                }
            }
            "smtputf8" => envelope.smtputf8 = true,
            "requiretls" => envelope.requiretls = true,
            "ret" => {
                envelope.ret = Some(match value {
                    "full" => Ret::Full,
                    "hdrs" => Ret::Headers,
                    _ => panic!("ret {value}"),
                })
            }
            "envid" => envelope.envid = Some(value.to_string()),
            _ => panic!("unknown envelope word {word}"),
        }
    }
    envelope
}

/// An event as a line: `ready`, `starttls`, `closed`, `closed <kind> <reply>`,
/// `done <outcome> | <outcome> ...` with `delivered|deferred|failed <reply>`; a reply is
/// `code [enhanced] text`.
fn describe(event: &ClientEvent) -> String {
    fn reply(r: &Reply) -> String {
        let mut s = r.code.to_string();
        if let Some(e) = r.enhanced {
            s.push_str(&format!(" [{e}]"));
        }
        if !r.text.is_empty() {
            s.push(' ');
            s.push_str(&r.text);
        }
        s
    }
    match event {
        ClientEvent::StartTls => "starttls".into(),
        ClientEvent::Ready => "ready".into(),
        ClientEvent::Done(result) => {
            let outcomes: Vec<String> = result
                .recipients
                .iter()
                .map(|o| match o {
                    RecipientOutcome::Delivered(r) => format!("delivered {}", reply(r)),
                    RecipientOutcome::Deferred(r) => format!("deferred {}", reply(r)),
                    RecipientOutcome::Failed(r) => format!("failed {}", reply(r)),
                })
                .collect();
            format!("done {}", outcomes.join(" | "))
        }
        ClientEvent::Closed(None) => "closed".into(),
        ClientEvent::Closed(Some(f)) => format!("closed {:?} {}", f.kind, reply(&f.reply)),
    }
}

const GREETING: &str = "S: 220 mx.example.net ESMTP";

/// Greeting and EHLO announcing `keywords`, up to `E: ready`.
fn opened(keywords: &[&str]) -> String {
    let mut lines = vec![
        GREETING.to_string(),
        "C: EHLO client.example.org".to_string(),
    ];
    let mut reply = vec!["mx.example.net"];
    reply.extend_from_slice(keywords);
    for (i, keyword) in reply.iter().enumerate() {
        let sep = if i + 1 == reply.len() { ' ' } else { '-' };
        lines.push(format!("S: 250{sep}{keyword}"));
    }
    lines.push("E: ready".to_string());
    lines.join("\n")
}

/// The usual extensions of a modern MX, but no CHUNKING.
const MODERN: &[&str] = &[
    "PIPELINING",
    "SIZE 10240000",
    "8BITMIME",
    "SMTPUTF8",
    "ENHANCEDSTATUSCODES",
];

fn plain() -> ClientConfig {
    config(TlsPolicy::Disabled)
}

fn tls() -> ClientConfig {
    config(TlsPolicy::Implicit)
}
