//! Exact-byte transcripts of the TRANSACTION and UPDATE states (RFC 1939 §5–§7), replayed
//! through [`Pop3Session`] whole and split at every kind of point (see [`super::transcript`]).
//! The maildrop events and the driver's answers are part of each transcript (`E:`/`D:` lines).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{Pop3Session, UidlFormat};
use crate::mail::Uid;
use crate::pop3::{MaildropEntry, MaildropOutcome, MaildropRequest, MessageOutcome};
use crate::session::{AuthOutcome, Event, Limits, Security, Session, SessionConfig, TlsMode};
use crate::transcript::replay;

fn config(tls_mode: TlsMode) -> SessionConfig {
    SessionConfig {
        hostname: "mail.example.com".into(),
        tls_mode,
        limits: Limits {
            max_line_length: 64,
            max_auth_failures: 3,
            ..Limits::default()
        },
        local_domains: vec!["example.com".to_string()],
        oauth: false,
        scram: false,
    }
}

/// An implicit-TLS listener (port 995).
fn implicit() -> Pop3Session {
    Pop3Session::new(config(TlsMode::Implicit), Security::Tls)
}

/// A maildrop of three messages: UIDs 3, 7 and 9 in a mailbox with UIDVALIDITY 1700000000
/// (0x6553F100). Message 2 (UID 7) is `DOTTY`, 100 octets as transmitted.
const LOGIN: &str = "
    S: +OK ringpost ready.
    C: USER alice
    S: +OK
    C: PASS secret
    E: auth alice secret
    D: auth ok alice@example.com
    E: open-maildrop
    D: maildrop 1700000000 3:23 7:100 9:5000
    S: +OK Logged in.
";

/// Message 1 (UID 3) as stored.
const PLAIN: &str = r"Subject: one\r\n\r\nHello\r\n";

/// Message 2 (UID 7) as stored: lines starting with dots, a bare LF, a lone `.` line and no
/// line end after the last line.
const DOTTY: &str = concat!(
    r"From: a@example.com\r\nSubject: dots\r\n\r\n",
    r".leading dot\r\n..two dots\r\nbare\nlf\r\n.\r\nlast line without end"
);

#[test]
fn stat_list_and_uidl_on_three_messages() {
    replay(
        implicit,
        &format!(
            "{LOGIN}
             C: STAT
             S: +OK 3 5123
             C: LIST
             S: +OK 3 messages (5123 octets)
             S: 1 23
             S: 2 100
             S: 3 5000
             S: .
             C: list 2
             S: +OK 2 100
             C: UIDL
             S: +OK
             S: 1 000000036553F100
             S: 2 000000076553F100
             S: 3 000000096553F100
             S: .
             C: UIDL 3
             S: +OK 3 000000096553F100
             C: NOOP
             S: +OK"
        ),
    );
}

#[test]
fn retr_crlf_terminates_every_line_and_stuffs_dots() {
    replay(
        implicit,
        &format!(
            "{LOGIN}
             C: RETR 2
             E: read 7
             D: message bytes {DOTTY}
             S: +OK 100 octets
             S: From: a@example.com
             S: Subject: dots
             S:
             S: ..leading dot
             S: ...two dots
             S: bare
             S: lf
             S: ..
             S: last line without end
             S: .
             C: RETR 1
             E: read 3
             D: message bytes {PLAIN}
             S: +OK 23 octets
             S: Subject: one
             S:
             S: Hello
             S: ."
        ),
    );
}

#[test]
fn top_sends_the_header_the_blank_line_and_n_body_lines() {
    replay(
        implicit,
        &format!(
            "{LOGIN}
             C: TOP 2 0
             E: read 7
             D: message bytes {DOTTY}
             S: +OK
             S: From: a@example.com
             S: Subject: dots
             S:
             S: .
             C: TOP 2 2
             E: read 7
             D: message bytes {DOTTY}
             S: +OK
             S: From: a@example.com
             S: Subject: dots
             S:
             S: ..leading dot
             S: ...two dots
             S: .
             C: TOP 1 10
             E: read 3
             D: message bytes {PLAIN}
             S: +OK
             S: Subject: one
             S:
             S: Hello
             S: ."
        ),
    );
}

#[test]
fn dele_hides_a_message_until_rset_restores_it() {
    replay(
        implicit,
        &format!(
            "{LOGIN}
             C: DELE 2
             S: +OK Marked to be deleted.
             C: STAT
             S: +OK 2 5023
             C: LIST
             S: +OK 2 messages (5023 octets)
             S: 1 23
             S: 3 5000
             S: .
             C: UIDL
             S: +OK
             S: 1 000000036553F100
             S: 3 000000096553F100
             S: .
             C: LIST 2
             S: -ERR Message is deleted
             C: UIDL 2
             S: -ERR Message is deleted
             C: RETR 2
             S: -ERR Message is deleted
             C: TOP 2 0
             S: -ERR Message is deleted
             C: DELE 2
             S: -ERR Message is deleted
             C: RSET
             S: +OK
             C: STAT
             S: +OK 3 5123
             C: LIST 2
             S: +OK 2 100"
        ),
    );
}

#[test]
fn quit_expunges_exactly_the_marked_uids_then_says_bye() {
    replay(
        implicit,
        &format!(
            "{LOGIN}
             C: DELE 2
             S: +OK Marked to be deleted.
             C: RSET
             S: +OK
             C: DELE 3
             S: +OK Marked to be deleted.
             C: DELE 1
             S: +OK Marked to be deleted.
             C: QUIT
             E: expunge 3 9
             D: expunged durable
             S: +OK Bye (2 messages deleted)
             E: close"
        ),
    );
}

#[test]
fn quit_reports_an_expunge_that_did_not_become_durable() {
    replay(
        implicit,
        &format!(
            "{LOGIN}
             C: DELE 1
             S: +OK Marked to be deleted.
             C: QUIT
             C: NOOP
             E: expunge 3
             D: expunged failed
             S: -ERR [SYS/TEMP] Some deleted messages were not removed
             E: close"
        ),
    );
}

#[test]
fn quit_with_nothing_marked_expunges_nothing() {
    replay(
        implicit,
        &format!(
            "{LOGIN}
             C: QUIT
             S: +OK Bye
             E: close"
        ),
    );
    replay(
        implicit,
        &format!(
            "{LOGIN}
             C: DELE 1
             S: +OK Marked to be deleted.
             C: RSET
             S: +OK
             C: QUIT
             S: +OK Bye
             E: close"
        ),
    );
}

#[test]
fn a_message_gone_or_unreadable_is_refused_and_the_session_goes_on() {
    replay(
        implicit,
        &format!(
            "{LOGIN}
             C: RETR 3
             E: read 9
             D: message gone
             S: -ERR Message was deleted by another session
             C: TOP 1 0
             E: read 3
             D: message temp
             S: -ERR [SYS/TEMP] Unable to read the message, try again later
             C: RETR 1
             E: read 3
             D: message bytes {PLAIN}
             S: +OK 23 octets
             S: Subject: one
             S:
             S: Hello
             S: .
             C: STAT
             S: +OK 3 5123"
        ),
    );
}

#[test]
fn a_locked_or_failing_maildrop_leaves_the_client_in_authorization() {
    // Four refusals with three allowed auth failures: none of them counts as one.
    replay(
        implicit,
        "S: +OK ringpost ready.
         C: USER alice
         C: PASS secret
         C: STAT
         S: +OK
         E: auth alice secret
         D: auth ok alice@example.com
         E: open-maildrop
         D: maildrop in-use
         S: -ERR [IN-USE] Mailbox is locked by another POP3 session
         S: -ERR Command not valid in this state
         C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
         E: auth alice secret
         D: auth ok alice@example.com
         E: open-maildrop
         D: maildrop in-use
         S: -ERR [IN-USE] Mailbox is locked by another POP3 session
         C: AUTH LOGIN YWxpY2U=
         S: + UGFzc3dvcmQ6
         C: c2VjcmV0
         E: auth alice secret
         D: auth ok alice@example.com
         E: open-maildrop
         D: maildrop temp
         S: -ERR [SYS/TEMP] Unable to open the mailbox, try again later
         C: USER alice
         S: +OK
         C: PASS secret
         E: auth alice secret
         D: auth ok alice@example.com
         E: open-maildrop
         D: maildrop in-use
         S: -ERR [IN-USE] Mailbox is locked by another POP3 session
         C: USER alice
         S: +OK
         C: PASS secret
         E: auth alice secret
         D: auth ok alice@example.com
         E: open-maildrop
         D: maildrop 5 1:10
         S: +OK Logged in.
         C: STAT
         S: +OK 1 10",
    );
}

#[test]
fn pipelined_commands_are_answered_in_order_across_the_waits() {
    // RFC 2449 §6.6: one write carries the login and a whole session.
    replay(
        implicit,
        &format!(
            "S: +OK ringpost ready.
             C: USER alice
             C: PASS secret
             C: STAT
             C: RETR 1
             C: DELE 1
             C: LIST
             C: TOP 2 0
             C: QUIT
             C: NOOP
             S: +OK
             E: auth alice secret
             D: auth ok alice@example.com
             E: open-maildrop
             D: maildrop 1700000000 3:23 7:100 9:5000
             S: +OK Logged in.
             S: +OK 3 5123
             E: read 3
             D: message bytes {PLAIN}
             S: +OK 23 octets
             S: Subject: one
             S:
             S: Hello
             S: .
             S: +OK Marked to be deleted.
             S: +OK 2 messages (5100 octets)
             S: 2 100
             S: 3 5000
             S: .
             E: read 7
             D: message bytes {DOTTY}
             S: +OK
             S: From: a@example.com
             S: Subject: dots
             S:
             S: .
             E: expunge 3
             D: expunged durable
             S: +OK Bye (1 messages deleted)
             E: close"
        ),
    );
}

#[test]
fn a_session_that_ends_without_quit_expunges_nothing() {
    // Dropped: the transcript ends with marks set and no event asked for.
    replay(
        implicit,
        &format!(
            "{LOGIN}
             C: DELE 1
             S: +OK Marked to be deleted.
             C: DELE 2
             S: +OK Marked to be deleted."
        ),
    );
    replay(
        implicit,
        &format!(
            "{LOGIN}
             C: DELE 1
             S: +OK Marked to be deleted.
             D: timeout
             S: -ERR Autologout; idle for too long
             E: close
             C: QUIT"
        ),
    );
    replay(
        implicit,
        &format!(
            "{LOGIN}
             C: DELE 1
             C: RETR 2
             S: +OK Marked to be deleted.
             E: read 7
             D: shutdown
             S: -ERR [SYS/TEMP] Server shutting down
             E: close
             D: message bytes {PLAIN}
             C: QUIT"
        ),
    );
}

#[test]
fn bad_message_numbers_and_wrong_state_commands_are_refused() {
    replay(
        implicit,
        &format!(
            "{LOGIN}
             C: RETR 4
             S: -ERR No such message
             C: RETR 0
             S: -ERR No such message
             C: LIST x
             S: -ERR No such message
             C: UIDL -1
             S: -ERR No such message
             C: DELE 99999999999
             S: -ERR No such message
             C: TOP 4 0
             S: -ERR No such message
             C: TOP 1 x
             S: -ERR Invalid arguments
             C: TOP 1
             S: -ERR Invalid arguments
             C: RETR
             S: -ERR Invalid arguments
             C: STAT 1
             S: -ERR Invalid arguments
             C: USER bob
             S: -ERR Command not valid in this state
             C: PASS secret
             S: -ERR Command not valid in this state
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             S: -ERR Command not valid in this state
             C: STLS
             S: -ERR Command not permitted when TLS active
             C: APOP alice 0123456789abcdef
             S: -ERR Unknown command
             C: STAT
             S: +OK 3 5123"
        ),
    );
}

#[test]
fn capa_in_transaction_drops_user_sasl_and_stls() {
    // RFC 2449 §5: a STLS listener, upgraded, then logged in.
    replay(
        || Pop3Session::new(config(TlsMode::Starttls), Security::Plaintext),
        "S: +OK ringpost ready.
         C: STLS
         S: +OK Begin TLS negotiation
         E: starttls
         D: tls
         C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
         E: auth alice secret
         D: auth ok alice@example.com
         E: open-maildrop
         D: maildrop 1
         S: +OK Logged in.
         C: CAPA
         S: +OK Capability list follows
         S: TOP
         S: UIDL
         S: RESP-CODES
         S: AUTH-RESP-CODE
         S: PIPELINING
         S: EXPIRE NEVER
         S: LOGIN-DELAY 0
         S: IMPLEMENTATION ringpost
         S: .",
    );
}

#[test]
fn numbers_follow_uid_order_whatever_order_the_store_listed() {
    replay(
        implicit,
        "S: +OK ringpost ready.
         C: USER alice
         C: PASS secret
         S: +OK
         E: auth alice secret
         D: auth ok alice@example.com
         E: open-maildrop
         D: maildrop 1 40:4 2:2 9:9
         S: +OK Logged in.
         C: LIST
         S: +OK 3 messages (15 octets)
         S: 1 2
         S: 2 9
         S: 3 4
         S: .
         C: UIDL 3
         S: +OK 3 0000002800000001",
    );
}

#[test]
fn another_uidl_format_is_used_for_every_listing() {
    replay(
        || implicit().with_uidl_format(UidlFormat::parse("%v.%u").unwrap()),
        &format!(
            "{LOGIN}
             C: UIDL
             S: +OK
             S: 1 1700000000.3
             S: 2 1700000000.7
             S: 3 1700000000.9
             S: .
             C: UIDL 2
             S: +OK 2 1700000000.7"
        ),
    );
}

/// A session logged in as alice with one message of `size` octets, that has asked for it
/// with `RETR 1` (followed by `more` input).
fn retr_asked(size: u64, more: &[u8]) -> Pop3Session {
    let mut session = implicit();
    session.handle_input(&[&b"USER alice\r\nPASS secret\r\nRETR 1\r\n"[..], more].concat());
    session.handle_auth(AuthOutcome::Success {
        account: "alice@example.com".into(),
    });
    session.handle_maildrop(MaildropOutcome::Opened {
        uid_validity: 1,
        messages: vec![MaildropEntry { uid: Uid(1), size }],
    });
    session
}

/// A message of several MB comes back byte-identical apart from the dot-stuffing.
#[test]
fn a_large_message_is_streamed_whole() {
    let mut message = Vec::new();
    message.extend_from_slice(b"Subject: big\r\n\r\n");
    for i in 0..100_000 {
        if i % 10 == 0 {
            message.extend_from_slice(b".");
        }
        message.extend_from_slice(b"0123456789012345678901234567890123456789\r\n");
    }
    let size = message.len() as u64;
    let mut session = retr_asked(size, b"QUIT\r\n");
    let mut events = Vec::new();
    while let Some(e) = session.poll_event() {
        events.push(e);
    }
    assert_eq!(
        events,
        [
            Event::Authenticate(crate::session::Credentials {
                username: "alice".into(),
                password: crate::session::Secret::new("secret".into()),
                mechanism: "USER/PASS",
            }),
            Event::Request(MaildropRequest::Open),
            Event::Request(MaildropRequest::Read { uid: Uid(1) })
        ]
    );
    let mut out = Vec::new();
    session.poll_output(&mut out);
    let mut handed = crate::session::Output::default();
    session.handle_message(MessageOutcome::Message(message.clone().into()), &mut handed);
    out = handed.to_vec();
    session.poll_output(&mut out);

    let mut expected = format!("+OK {size} octets\r\n").into_bytes();
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            expected.push(b'.');
        }
        expected.extend_from_slice(line);
    }
    expected.extend_from_slice(b".\r\n+OK Bye\r\n");
    assert!(out == expected, "RETR of {size} octets differs");
    assert_eq!(session.poll_event(), Some(Event::Close));
}

/// RETR sends a message's clean runs from the store's buffer: only the status line, the
/// stuffed dots and the terminator are written by the session.
#[test]
fn retr_splices_the_message_from_the_read_buffer() {
    let mut message = b"Subject: spliced\r\n\r\n".to_vec();
    for _ in 0..2_000 {
        message.extend_from_slice(b"0123456789012345678901234567890123456789\r\n");
    }
    message.extend_from_slice(b".dot\r\n");
    for _ in 0..2_000 {
        message.extend_from_slice(b"abcdefghijabcdefghijabcdefghijabcdefghij\r\n");
    }
    let size = message.len() as u64;
    let mut session = retr_asked(size, b"");
    while session.poll_event().is_some() {}
    let mut before = Vec::new();
    session.poll_output(&mut before);
    let mut handed = crate::session::Output::default();
    session.handle_message(MessageOutcome::Message(message.clone().into()), &mut handed);
    // Both runs around the stuffed line are spliced whole.
    assert_eq!(handed.spliced_len(), message.len());
    let mut expected = format!("+OK {size} octets\r\n").into_bytes();
    let dot = message.windows(6).position(|w| w == b"\n.dot\r").unwrap() + 1;
    expected.extend_from_slice(&message[..dot]);
    expected.push(b'.');
    expected.extend_from_slice(&message[dot..]);
    expected.extend_from_slice(b".\r\n");
    assert!(handed.to_vec() == expected, "RETR differs");
}
