//! Large APPEND literals are streamed: the session hands their bytes to the driver as they
//! arrive and never holds the message (its buffered input stays within what one read
//! brings), the APPEND request names the stream instead of carrying bytes, and a command
//! that does not append its streams tells the driver to drop them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{ImapSession, STREAM_LITERAL_FROM};
use crate::mail::{Uid, UidValidity};
use crate::mailbox::{AppendBody, MailboxError, MailboxReply, MailboxRequest};
use crate::session::{
    AuthOutcome, Event, Limits, Output, Security, Session, SessionConfig, TlsMode,
};

/// One read's worth of input, as the driver feeds it.
const READ: usize = 16 << 10;

/// A logged-in session (also what other session tests start from).
pub(super) fn session() -> ImapSession {
    let config = SessionConfig {
        hostname: "mail.example.com".into(),
        tls_mode: TlsMode::Implicit,
        limits: Limits::default(),
        local_domains: vec!["example.com".to_string()],
        oauth: false,
        scram: false,
    };
    let mut s = ImapSession::new(config, Security::Tls);
    s.handle_input(b"l LOGIN u p\r\n");
    assert!(matches!(s.poll_event(), Some(Event::Authenticate(_))));
    s.handle_auth(AuthOutcome::Success {
        account: "u".into(),
    });
    s
}

fn output(s: &mut ImapSession) -> String {
    let mut out = Vec::new();
    s.poll_output(&mut out);
    String::from_utf8(out).unwrap()
}

/// Answer every request like a store would; returns the requests and the most bytes the
/// session held buffered at any point.
fn drive(s: &mut ImapSession, input: &[u8]) -> (Vec<MailboxRequest>, usize) {
    let mut requests = Vec::new();
    let mut most_buffered = 0;
    let mut feed = input.chunks(READ);
    loop {
        while let Some(event) = s.poll_event() {
            let Event::Request(request) = event else {
                panic!("unexpected event {event:?}");
            };
            let reply = match &request {
                MailboxRequest::Append { .. } => MailboxReply::Appended {
                    uid_validity: UidValidity(1),
                    uid: Uid(requests.len() as u32),
                },
                _ => MailboxReply::Done,
            };
            requests.push(request);
            let mut out = Output::default();
            s.handle_mailbox(reply, &mut out);
            most_buffered = most_buffered.max(s.buffered_input());
        }
        match feed.next() {
            Some(chunk) => {
                s.handle_input(chunk);
                most_buffered = most_buffered.max(s.buffered_input());
            }
            None => return (requests, most_buffered),
        }
    }
}

#[test]
fn a_large_literal_goes_to_the_driver_in_pieces() {
    let mut s = session();
    output(&mut s);
    let len = 3 * STREAM_LITERAL_FROM as usize + 17;
    let message: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
    s.handle_input(format!("a APPEND INBOX (\\Seen) {{{len}}}\r\n").as_bytes());
    // No `+` before the store is ready for the stream.
    assert_eq!(output(&mut s), "");
    let Some(Event::Request(MailboxRequest::AppendBegin { len: announced })) = s.poll_event()
    else {
        panic!("no AppendBegin");
    };
    assert_eq!(announced, len as u64);
    s.handle_mailbox(MailboxReply::Done, &mut Output::default());
    assert!(output(&mut s).starts_with("+ "));
    let mut input = message.clone();
    input.extend_from_slice(b"\r\n");
    let (requests, most_buffered) = drive(&mut s, &input);
    // The session never held more than one read of input: the message is not in it.
    assert!(most_buffered <= READ, "buffered {most_buffered}");
    let mut received = Vec::new();
    for r in &requests[..requests.len() - 1] {
        let MailboxRequest::AppendData(data) = r else {
            panic!("unexpected request {r:?}");
        };
        assert!(data.len() <= READ);
        received.extend_from_slice(data);
    }
    assert_eq!(received, message);
    let Some(MailboxRequest::Append { message, .. }) = requests.last() else {
        panic!("no Append");
    };
    assert_eq!(*message, AppendBody::Streamed);
    assert!(output(&mut s).starts_with("a OK [APPENDUID 1 "));
}

#[test]
fn a_small_literal_is_buffered_as_before() {
    let mut s = session();
    output(&mut s);
    let (requests, _) = drive(&mut s, b"a APPEND INBOX {5+}\r\nhello\r\n");
    assert_eq!(requests.len(), 1);
    let MailboxRequest::Append { message, .. } = &requests[0] else {
        panic!("unexpected request {:?}", requests[0]);
    };
    assert_eq!(*message, AppendBody::Bytes(b"hello".to_vec()));
}

#[test]
fn streams_of_a_command_that_fails_are_dropped() {
    // Malformed after the streamed literal.
    let mut s = session();
    output(&mut s);
    let len = STREAM_LITERAL_FROM as usize;
    let mut input = format!("a APPEND INBOX {{{len}+}}\r\n").into_bytes();
    input.extend(std::iter::repeat_n(b'x', len));
    input.extend_from_slice(b" junk\r\nb NOOP\r\n");
    let (requests, _) = drive(&mut s, &input);
    assert!(matches!(requests[0], MailboxRequest::AppendBegin { .. }));
    assert_eq!(requests.last(), Some(&MailboxRequest::DropStreams));
    assert!(!requests
        .iter()
        .any(|r| matches!(r, MailboxRequest::Append { .. })));
    let text = output(&mut s);
    assert!(text.contains("a BAD "), "{text}");
    assert!(text.ends_with("b OK NOOP completed\r\n"), "{text}");

    // A MULTIAPPEND whose first message fails: the second, streamed, is never appended.
    let mut s = session();
    output(&mut s);
    let mut input = format!("c APPEND INBOX {{5+}}\r\nhello {{{len}+}}\r\n").into_bytes();
    input.extend(std::iter::repeat_n(b'y', len));
    input.extend_from_slice(b"\r\n");
    let mut requests = Vec::new();
    s.handle_input(&input[..READ]);
    let mut fed = READ;
    loop {
        while let Some(Event::Request(request)) = s.poll_event() {
            let reply = match &request {
                MailboxRequest::Append { .. } => MailboxReply::Failed(MailboxError::NoSuchMailbox),
                _ => MailboxReply::Done,
            };
            requests.push(request);
            s.handle_mailbox(reply, &mut Output::default());
        }
        if fed == input.len() {
            break;
        }
        let next = (fed + READ).min(input.len());
        s.handle_input(&input[fed..next]);
        fed = next;
    }
    let appends = requests
        .iter()
        .filter(|r| matches!(r, MailboxRequest::Append { .. }))
        .count();
    assert_eq!(appends, 1);
    assert_eq!(requests.last(), Some(&MailboxRequest::DropStreams));
    assert!(output(&mut s).contains("c NO [TRYCREATE]"));
}
