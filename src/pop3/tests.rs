//! Exact-byte transcripts replayed through [`Pop3Session`], whole and split at every kind of
//! point (see [`super::transcript`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::Pop3Session;
use crate::session::{Limits, Security, SessionConfig, TlsMode};
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

/// A STLS listener (port 110), before the upgrade.
fn starttls() -> Pop3Session {
    Pop3Session::new(config(TlsMode::Starttls), Security::Plaintext)
}

/// An implicit-TLS listener (port 995).
fn implicit() -> Pop3Session {
    Pop3Session::new(config(TlsMode::Implicit), Security::Tls)
}

const CAPA_BEFORE_TLS: &str = "
    S: +OK Capability list follows
    S: TOP
    S: UIDL
    S: RESP-CODES
    S: AUTH-RESP-CODE
    S: PIPELINING
    S: EXPIRE NEVER
    S: LOGIN-DELAY 0
    S: STLS
    S: IMPLEMENTATION ringpost
    S: .
";

const CAPA_AFTER_TLS: &str = "
    S: +OK Capability list follows
    S: TOP
    S: UIDL
    S: RESP-CODES
    S: AUTH-RESP-CODE
    S: PIPELINING
    S: EXPIRE NEVER
    S: LOGIN-DELAY 0
    S: USER
    S: SASL PLAIN LOGIN
    S: IMPLEMENTATION ringpost
    S: .
";

/// Greeting, STLS and the handshake: the state every after-TLS transcript starts from.
const UPGRADE: &str = "
    S: +OK ringpost ready.
    C: STLS
    S: +OK Begin TLS negotiation
    E: starttls
    D: tls
";

const TLS_REQUIRED: &str = "S: -ERR [AUTH] Plaintext authentication disallowed, use STLS first";

#[test]
fn capa_before_and_after_stls() {
    replay(
        starttls,
        &format!(
            "S: +OK ringpost ready.
             C: CAPA
             {CAPA_BEFORE_TLS}
             C: STLS
             S: +OK Begin TLS negotiation
             E: starttls
             D: tls
             C: capa
             {CAPA_AFTER_TLS}
             C: STLS
             S: -ERR Command not permitted when TLS active"
        ),
    );
}

#[test]
fn capa_on_implicit_tls_listener() {
    replay(
        implicit,
        &format!(
            "S: +OK ringpost ready.
             C: CAPA
             {CAPA_AFTER_TLS}
             C: STLS
             S: -ERR Command not permitted when TLS active"
        ),
    );
}

#[test]
fn plaintext_listener_offers_neither_stls_nor_credentials() {
    replay(
        || Pop3Session::new(config(TlsMode::None), Security::Plaintext),
        &format!(
            "S: +OK ringpost ready.
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
             S: .
             C: STLS
             S: -ERR STLS not available
             C: USER alice
             {TLS_REQUIRED}"
        ),
    );
}

#[test]
fn every_credential_form_is_refused_before_tls() {
    replay(
        starttls,
        &format!(
            "S: +OK ringpost ready.
             C: USER alice
             {TLS_REQUIRED}
             C: PASS secret
             {TLS_REQUIRED}
             C: AUTH
             {TLS_REQUIRED}
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             {TLS_REQUIRED}
             C: AUTH PLAIN
             {TLS_REQUIRED}
             C: AUTH LOGIN
             {TLS_REQUIRED}
             C: AUTH LOGIN YWxpY2U=
             {TLS_REQUIRED}
             C: AUTH CRAM-MD5
             {TLS_REQUIRED}
             C: QUIT
             S: +OK Bye
             E: close"
        ),
    );
}

#[test]
fn plaintext_pipelined_behind_stls_is_never_executed() {
    // The whole chunk arrives at once: USER/PASS ride behind STLS in plaintext.
    replay(
        starttls,
        "S: +OK ringpost ready.
         C: STLS
         C: USER alice
         C: PASS secret
         C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
         S: +OK Begin TLS negotiation
         E: starttls
         D: tls
         C: PASS secret
         S: -ERR Send USER first
         C: QUIT
         S: +OK Bye
         E: close",
    );
}

#[test]
fn user_pass_after_tls_then_transaction() {
    replay(
        starttls,
        &format!(
            "{UPGRADE}
             C: USER alice
             S: +OK
             C: PASS secret with spaces
             E: auth alice secret with spaces
             D: auth ok alice@example.com
             E: open-maildrop
             D: maildrop 1
             S: +OK Logged in.
             # an empty maildrop
             C: STAT
             S: +OK 0 0
             C: LIST
             S: +OK 0 messages (0 octets)
             S: .
             C: LIST 1
             S: -ERR No such message
             C: RETR 1
             S: -ERR No such message
             C: UIDL
             S: +OK
             S: .
             C: TOP 1 0
             S: -ERR No such message
             C: DELE 1
             S: -ERR No such message
             C: RSET
             S: +OK
             C: NOOP
             S: +OK
             C: USER bob
             S: -ERR Command not valid in this state
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             S: -ERR Command not valid in this state
             C: QUIT
             S: +OK Bye
             E: close
             C: NOOP"
        ),
    );
}

#[test]
fn commands_pipelined_behind_pass_wait_for_the_outcome() {
    replay(
        implicit,
        "S: +OK ringpost ready.
         C: USER alice
         C: PASS secret
         C: STAT
         C: QUIT
         S: +OK
         E: auth alice secret
         D: auth ok alice@example.com
         E: open-maildrop
         D: maildrop 1
         S: +OK Logged in.
         S: +OK 0 0
         S: +OK Bye
         E: close",
    );
}

#[test]
fn auth_plain_with_and_without_initial_response() {
    replay(
        starttls,
        &format!(
            "{UPGRADE}
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             E: auth alice secret
             D: auth fail
             S: -ERR [AUTH] Authentication failed.
             C: auth plain
             S: + 
             C: AGFsaWNlAHNlY3JldA==
             E: auth alice secret
             D: auth ok alice@example.com
             E: open-maildrop
             D: maildrop 1
             S: +OK Logged in."
        ),
    );
}

#[test]
fn auth_login_with_and_without_initial_response() {
    replay(
        implicit,
        "S: +OK ringpost ready.
         C: AUTH LOGIN
         S: + VXNlcm5hbWU6
         C: YWxpY2U=
         S: + UGFzc3dvcmQ6
         C: c2VjcmV0
         E: auth alice secret
         D: auth fail
         S: -ERR [AUTH] Authentication failed.
         C: AUTH LOGIN YWxpY2U=
         S: + UGFzc3dvcmQ6
         C: c2VjcmV0
         E: auth alice secret
         D: auth ok alice@example.com
         E: open-maildrop
         D: maildrop 1
         S: +OK Logged in.",
    );
}

#[test]
fn sasl_cancel_malformed_unsupported_and_list() {
    replay(
        implicit,
        "S: +OK ringpost ready.
         C: AUTH
         S: +OK Supported mechanisms follow
         S: PLAIN
         S: LOGIN
         S: .
         C: AUTH PLAIN
         S: + 
         C: *
         S: -ERR Authentication cancelled
         C: AUTH LOGIN
         S: + VXNlcm5hbWU6
         C: *
         S: -ERR Authentication cancelled
         C: AUTH PLAIN =
         S: -ERR Malformed authentication data
         C: AUTH PLAIN Ym9iAGFsaWNlAHB3
         S: -ERR Malformed authentication data
         C: AUTH PLAIN !!!
         S: -ERR Malformed authentication data
         C: AUTH CRAM-MD5
         S: -ERR Unsupported authentication mechanism
         C: AUTH PLAIN a b
         S: -ERR Invalid arguments
         C: PASS secret
         S: -ERR Send USER first",
    );
}

#[test]
fn every_failure_gets_the_same_reply_until_the_limit_closes() {
    replay(
        implicit,
        "S: +OK ringpost ready.
         # unknown user
         C: USER nobody
         S: +OK
         C: PASS x
         E: auth nobody x
         D: auth fail
         S: -ERR [AUTH] Authentication failed.
         # temporary faults do not count
         C: AUTH PLAIN AGJvYgB3cm9uZw==
         E: auth bob wrong
         D: auth temp
         S: -ERR [SYS/TEMP] Temporary authentication failure, try again later
         # wrong password
         C: AUTH PLAIN AGJvYgB3cm9uZw==
         E: auth bob wrong
         D: auth fail
         S: -ERR [AUTH] Authentication failed.
         C: USER alice
         C: PASS wrong
         C: CAPA
         S: +OK
         E: auth alice wrong
         D: auth fail
         S: -ERR [AUTH] Too many failures
         E: close
         C: NOOP",
    );
}

#[test]
fn over_long_unknown_empty_and_bad_lines_keep_the_session() {
    let long = "x".repeat(65);
    let very_long = "y".repeat(500);
    let max = "z".repeat(64);
    replay(
        starttls,
        &format!(
            "S: +OK ringpost ready.
             C: USER {long}
             S: -ERR Line too long
             R: {very_long}
             R: {very_long}\\r\\nCAPA
             S: -ERR Line too long
             R: \\r\\n
             {CAPA_BEFORE_TLS}
             C: {max}
             S: -ERR Unknown command
             C: APOP alice 0123456789abcdef
             S: -ERR Unknown command
             C:
             S: -ERR Unknown command
             C: STAT
             S: -ERR Command not valid in this state
             C: NOOP
             S: -ERR Command not valid in this state
             C: RETR x
             S: -ERR Command not valid in this state
             C: TOP 1 x
             S: -ERR Invalid arguments
             R: quit\\n
             S: +OK Bye
             E: close"
        ),
    );
}

#[test]
fn over_long_sasl_response_ends_the_exchange() {
    let long = "A".repeat(80);
    replay(
        implicit,
        &format!(
            "S: +OK ringpost ready.
             C: AUTH PLAIN
             S: + 
             C: {long}
             S: -ERR Line too long
             C: AGFsaWNlAHNlY3JldA==
             S: -ERR Unknown command"
        ),
    );
}

#[test]
fn idle_timeout_and_shutdown_close() {
    replay(
        starttls,
        "S: +OK ringpost ready.
         D: timeout
         S: -ERR Autologout; idle for too long
         E: close
         D: shutdown
         C: CAPA",
    );
    replay(
        implicit,
        "S: +OK ringpost ready.
         C: USER alice
         C: PASS secret
         S: +OK
         E: auth alice secret
         D: shutdown
         S: -ERR [SYS/TEMP] Server shutting down
         E: close
         D: auth ok alice@example.com",
    );
}

#[test]
fn a_maildrop_moved_to_another_host_ends_the_session_with_sys_temp() {
    replay(
        implicit,
        "S: +OK ringpost ready.
         C: USER alice
         C: PASS secret
         S: +OK
         E: auth alice secret
         D: auth ok alice@example.com
         E: open-maildrop
         D: maildrop 1
         S: +OK Logged in.
         D: moved
         S: -ERR [SYS/TEMP] Maildrop moved to another server, please reconnect
         E: close
         C: NOOP",
    );
}

#[test]
fn account_is_known_only_in_transaction() {
    use crate::pop3::MaildropOutcome;
    use crate::session::{AuthOutcome, Session};
    let mut s = implicit();
    s.handle_input(b"USER alice\r\nPASS pw\r\n");
    assert_eq!(s.account(), None);
    s.handle_auth(AuthOutcome::Success {
        account: "alice@example.com".into(),
    });
    // Not before the maildrop is open (RFC 1939 §4).
    assert_eq!(s.account(), None);
    s.handle_maildrop(MaildropOutcome::Opened {
        uid_validity: 1,
        messages: Vec::new(),
    });
    assert_eq!(s.account(), Some("alice@example.com"));
}

/// A session taken on one host while it waits for its login's answer (the cluster's session
/// proxy) continues on the host that serves the account: no second greeting, the login is
/// answered there (by opening the maildrop), and what was pipelined behind it runs there.
#[test]
fn a_session_handed_over_after_its_login_continues_elsewhere() {
    use crate::pop3::MaildropRequest;
    use crate::session::{AuthOutcome, Event, Session};
    let mut a = implicit();
    let mut out = Vec::new();
    a.poll_output(&mut out);
    assert!(out.starts_with(b"+OK"));
    assert_eq!(a.handoff(), None);
    a.handle_input(b"USER alice@example.com\r\nPASS secret\r\nSTAT\r\n");
    out.clear();
    a.poll_output(&mut out);
    assert!(out.starts_with(b"+OK"), "USER answered here");
    assert!(matches!(a.poll_event(), Some(Event::Authenticate(_))));
    let handoff = a.handoff().unwrap();
    assert_eq!(handoff.input, b"STAT\r\n");
    assert_eq!(handoff.commands, 2);

    let mut b = Pop3Session::from_handoff(config(TlsMode::Implicit), handoff);
    out.clear();
    b.poll_output(&mut out);
    assert!(out.is_empty(), "no second greeting");
    b.handle_auth(AuthOutcome::Success {
        account: "alice@example.com".into(),
    });
    assert_eq!(
        b.poll_event(),
        Some(Event::Request(MaildropRequest::Open)),
        "the maildrop opens on the host that holds it"
    );

    // Refused elsewhere: the first host answers the login itself.
    a.handle_auth(AuthOutcome::TemporaryFailure);
    out.clear();
    a.poll_output(&mut out);
    assert!(
        out.starts_with(b"-ERR [SYS/TEMP]"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
}
