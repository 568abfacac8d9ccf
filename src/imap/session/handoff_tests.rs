//! A session taken on one host after its login and continued on another (the cluster's
//! session proxy) answers exactly as one session on one host would: the login's tagged OK
//! and every command pipelined behind it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::ImapSession;
use crate::mailbox::MailboxRequest;
use crate::session::{AuthOutcome, Event, Limits, Security, Session, SessionConfig, TlsMode};

fn config() -> SessionConfig {
    SessionConfig {
        hostname: "mail.example.com".into(),
        tls_mode: TlsMode::Implicit,
        limits: Limits::default(),
        local_domains: vec!["example.com".to_string()],
        oauth: false,
        scram: false,
    }
}

fn output(session: &mut ImapSession) -> String {
    let mut out = Vec::new();
    session.poll_output(&mut out);
    String::from_utf8(out).unwrap()
}

/// A session on "host A" that received a LOGIN and two pipelined commands, taken while it
/// waits for the login's answer.
fn taken() -> (ImapSession, crate::session::Handoff) {
    let mut a = ImapSession::new(config(), Security::Tls);
    assert!(output(&mut a).starts_with("* OK [CAPABILITY"));
    assert_eq!(a.handoff(), None, "nothing to hand over before a login");
    a.handle_input(b"a1 LOGIN Alice@Example.com secret\r\na2 SELECT INBOX\r\na3 NO");
    let Some(Event::Authenticate(credentials)) = a.poll_event() else {
        panic!("no login");
    };
    assert_eq!(credentials.username, "Alice@Example.com");
    let handoff = a
        .handoff()
        .expect("a session waiting for its login can be handed over");
    (a, handoff)
}

#[test]
fn the_other_host_answers_the_login_and_runs_what_was_pipelined() {
    let (_, handoff) = taken();
    assert_eq!(handoff.tag, b"a1");
    assert_eq!(handoff.commands, 1);
    assert_eq!(handoff.input, b"a2 SELECT INBOX\r\na3 NO");
    let mut b = ImapSession::from_handoff(config(), handoff).unwrap();
    assert_eq!(output(&mut b), "", "no second greeting");
    b.handle_auth(AuthOutcome::Success {
        account: "alice@example.com".into(),
    });
    let ok = output(&mut b);
    assert!(ok.starts_with("a1 OK [CAPABILITY IMAP4rev1"), "{ok}");
    assert!(ok.ends_with("] Logged in\r\n"), "{ok}");
    let Some(Event::Request(MailboxRequest::Select { .. })) = b.poll_event() else {
        panic!("the pipelined SELECT runs on the other host");
    };
    // The rest of the third command arrives through the relay.
    b.handle_input(b"OP\r\n");
}

#[test]
fn taking_the_state_leaves_the_session_able_to_go_on_here() {
    let (mut a, _) = taken();
    // The other host refused (its map moved): this host answers the login itself.
    a.handle_auth(AuthOutcome::TemporaryFailure);
    let text = output(&mut a);
    assert!(text.starts_with("a1 NO [UNAVAILABLE]"), "{text}");
    assert!(
        a.poll_event().is_none(),
        "unauthenticated, SELECT is refused"
    );
    assert!(text.contains("\r\na2 BAD"), "{text}");
}

#[test]
fn a_malformed_tag_is_not_continued() {
    let (_, mut handoff) = taken();
    handoff.tag = b"a b".to_vec();
    assert!(ImapSession::from_handoff(config(), handoff).is_none());
}

#[test]
fn a_session_whose_mailbox_moved_away_says_bye_unavailable_and_closes() {
    let mut s = ImapSession::new(config(), Security::Tls);
    output(&mut s);
    s.handle_input(b"a1 LOGIN alice@example.com secret\r\n");
    let Some(Event::Authenticate(_)) = s.poll_event() else {
        panic!("no login");
    };
    s.handle_auth(AuthOutcome::Success {
        account: "alice@example.com".into(),
    });
    output(&mut s);
    s.handle_moved();
    assert_eq!(
        output(&mut s),
        "* BYE [UNAVAILABLE] Mailbox moved to another server, please reconnect\r\n"
    );
    assert!(matches!(s.poll_event(), Some(Event::Close)));
    // Nothing more is read from the client, nor said twice.
    s.handle_input(b"a2 NOOP\r\n");
    s.handle_moved();
    assert_eq!(output(&mut s), "");
}
