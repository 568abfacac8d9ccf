//! Exact-byte transcripts replayed through [`SmtpSession`], whole and split at every kind of
//! point (see [`crate::pop3::transcript`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{SmtpKind, SmtpSession};
use crate::session::{Limits, Security, SessionConfig, TlsMode};
use crate::transcript::replay;

fn session(tls_mode: TlsMode, kind: SmtpKind) -> SmtpSession {
    let config = SessionConfig {
        hostname: "mail.example.com".into(),
        tls_mode,
        limits: Limits {
            max_line_length: 64,
            max_message_size: 52_428_800,
            max_auth_failures: 3,
            ..Limits::default()
        },
        local_domains: vec!["example.com".to_string()],
        oauth: false,
        scram: false,
    };
    SmtpSession::new(config, kind, Security::at_start(tls_mode))
}

/// Port 25.
fn inbound() -> SmtpSession {
    session(TlsMode::Starttls, SmtpKind::Inbound)
}

/// Port 587.
fn submission() -> SmtpSession {
    session(TlsMode::Starttls, SmtpKind::Submission)
}

/// Port 465.
fn submissions() -> SmtpSession {
    session(TlsMode::Implicit, SmtpKind::Submission)
}

const GREETING: &str = "S: 220 mail.example.com ESMTP ringpost";

const EHLO_COMMON: &str = "
    S: 250-mail.example.com
    S: 250-PIPELINING
    S: 250-SIZE 52428800
    S: 250-8BITMIME
    S: 250-SMTPUTF8
    S: 250-ENHANCEDSTATUSCODES
    S: 250-DSN
";

/// Greeting, EHLO, STARTTLS, handshake and EHLO again on submission (port 587).
fn submission_upgraded() -> String {
    format!(
        "{GREETING}
         C: EHLO client.example.org
         {EHLO_COMMON}
         S: 250-CHUNKING
         S: 250 STARTTLS
         C: STARTTLS
         S: 220 2.0.0 Ready to start TLS
         E: starttls
         D: tls
         C: EHLO client.example.org
         {EHLO_COMMON}
         S: 250-CHUNKING
         S: 250-REQUIRETLS
         S: 250 AUTH PLAIN LOGIN"
    )
}

#[test]
fn inbound_ehlo_before_and_after_starttls_never_offers_auth() {
    replay(
        inbound,
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             {EHLO_COMMON}
             S: 250-CHUNKING
             S: 250 STARTTLS
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             S: 502 5.5.1 AUTH not available
             C: STARTTLS
             S: 220 2.0.0 Ready to start TLS
             E: starttls
             D: tls
             C: ehlo client.example.org
             {EHLO_COMMON}
             S: 250-CHUNKING
             S: 250 REQUIRETLS
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             S: 502 5.5.1 AUTH not available
             C: AUTH LOGIN
             S: 502 5.5.1 AUTH not available
             C: STARTTLS
             S: 503 5.5.1 TLS already active
             C: MAIL FROM:<a@example.org>
             S: 250 2.1.0 OK
             C: QUIT
             S: 221 2.0.0 Bye
             E: close"
        ),
    );
}

#[test]
fn implicit_tls_inbound_offers_neither_starttls_nor_auth() {
    replay(
        || session(TlsMode::Implicit, SmtpKind::Inbound),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             {EHLO_COMMON}
             S: 250-CHUNKING
             S: 250 REQUIRETLS
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             S: 502 5.5.1 AUTH not available
             C: STARTTLS
             S: 503 5.5.1 TLS already active"
        ),
    );
}

#[test]
fn plaintext_inbound_listener_offers_no_starttls() {
    replay(
        || session(TlsMode::None, SmtpKind::Inbound),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             {EHLO_COMMON}
             S: 250 CHUNKING
             C: STARTTLS
             S: 502 5.5.1 STARTTLS not available
             C: MAIL FROM:<a@example.org> REQUIRETLS
             S: 555 5.5.4 Unsupported parameter"
        ),
    );
}

#[test]
fn submission_refuses_every_credential_form_before_tls() {
    replay(
        submission,
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             {EHLO_COMMON}
             S: 250-CHUNKING
             S: 250 STARTTLS
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             S: 530 5.7.0 Must issue a STARTTLS command first
             C: AUTH PLAIN
             S: 530 5.7.0 Must issue a STARTTLS command first
             C: AUTH LOGIN
             S: 530 5.7.0 Must issue a STARTTLS command first
             C: AUTH LOGIN YWxpY2U=
             S: 530 5.7.0 Must issue a STARTTLS command first
             C: AUTH CRAM-MD5
             S: 530 5.7.0 Must issue a STARTTLS command first
             C: MAIL FROM:<alice@example.com>
             S: 530 5.7.0 Authentication required"
        ),
    );
}

#[test]
fn submission_after_starttls_offers_auth_and_needs_ehlo_again() {
    replay(
        submission,
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             {EHLO_COMMON}
             S: 250-CHUNKING
             S: 250 STARTTLS
             C: STARTTLS
             S: 220 2.0.0 Ready to start TLS
             E: starttls
             D: tls
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             S: 503 5.5.1 Send EHLO first
             C: HELO client.example.org
             S: 250 mail.example.com
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             S: 503 5.5.1 Send EHLO first
             C: EHLO client.example.org
             {EHLO_COMMON}
             S: 250-CHUNKING
             S: 250-REQUIRETLS
             S: 250 AUTH PLAIN LOGIN
             C: STARTTLS
             S: 503 5.5.1 TLS already active"
        ),
    );
}

#[test]
fn implicit_submission_offers_auth_not_starttls() {
    replay(
        submissions,
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             {EHLO_COMMON}
             S: 250-CHUNKING
             S: 250-REQUIRETLS
             S: 250 AUTH PLAIN LOGIN
             C: STARTTLS
             S: 503 5.5.1 TLS already active
             C: MAIL FROM:<alice@example.com>
             S: 530 5.7.0 Authentication required
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             E: auth alice secret
             D: auth ok alice@example.com
             S: 235 2.7.0 Authentication successful
             C: MAIL FROM:<alice@example.com>
             S: 250 2.1.0 OK
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             S: 503 5.5.1 Already authenticated"
        ),
    );
}

#[test]
fn plaintext_pipelined_behind_starttls_is_never_executed() {
    replay(
        submission,
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             C: STARTTLS
             C: EHLO client.example.org
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             C: MAIL FROM:<alice@example.com>
             {EHLO_COMMON}
             S: 250-CHUNKING
             S: 250 STARTTLS
             S: 220 2.0.0 Ready to start TLS
             E: starttls
             R: QUIT\\r\\n
             D: tls
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             S: 503 5.5.1 Send EHLO first"
        ),
    );
}

#[test]
fn auth_plain_with_and_without_initial_response() {
    replay(
        submission,
        &format!(
            "{}
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             E: auth alice secret
             D: auth fail
             S: 535 5.7.8 Authentication credentials invalid
             C: auth plain
             S: 334 
             C: AGFsaWNlAHNlY3JldA==
             E: auth alice secret
             D: auth ok alice@example.com
             S: 235 2.7.0 Authentication successful",
            submission_upgraded()
        ),
    );
}

#[test]
fn auth_login_with_and_without_initial_response() {
    replay(
        submission,
        &format!(
            "{}
             C: AUTH LOGIN
             S: 334 VXNlcm5hbWU6
             C: YWxpY2U=
             S: 334 UGFzc3dvcmQ6
             C: c2VjcmV0
             E: auth alice secret
             D: auth fail
             S: 535 5.7.8 Authentication credentials invalid
             C: AUTH LOGIN YWxpY2U=
             S: 334 UGFzc3dvcmQ6
             C: c2VjcmV0
             E: auth alice secret
             D: auth ok alice@example.com
             S: 235 2.7.0 Authentication successful",
            submission_upgraded()
        ),
    );
}

#[test]
fn sasl_cancel_malformed_and_unknown_mechanism() {
    replay(
        submissions,
        &format!(
            "{GREETING}
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             S: 503 5.5.1 Send EHLO first
             C: EHLO client.example.org
             {EHLO_COMMON}
             S: 250-CHUNKING
             S: 250-REQUIRETLS
             S: 250 AUTH PLAIN LOGIN
             C: AUTH PLAIN
             S: 334 
             C: *
             S: 501 5.0.0 Authentication cancelled
             C: AUTH LOGIN
             S: 334 VXNlcm5hbWU6
             C: *
             S: 501 5.0.0 Authentication cancelled
             C: AUTH PLAIN !!!
             S: 501 5.5.2 Malformed authentication data
             C: AUTH PLAIN Ym9iAGFsaWNlAHB3
             S: 501 5.5.2 Malformed authentication data
             C: AUTH CRAM-MD5
             S: 504 5.5.4 Unrecognized authentication type
             C: AUTH
             S: 501 5.5.4 Syntax error in arguments
             C: AUTH PLAIN
             S: 334 
             R: AGFsaWNlAHNlY3JldA==\\n
             S: 500 5.5.2 Bare LF line endings are not accepted, use CRLF
             C: NOOP
             S: 250 2.0.0 OK"
        ),
    );
}

#[test]
fn every_failure_gets_the_same_reply_until_the_limit_closes() {
    replay(
        submissions,
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             {EHLO_COMMON}
             S: 250-CHUNKING
             S: 250-REQUIRETLS
             S: 250 AUTH PLAIN LOGIN
             # unknown user
             C: AUTH PLAIN AGJvYgB3cm9uZw==
             E: auth bob wrong
             D: auth fail
             S: 535 5.7.8 Authentication credentials invalid
             # temporary faults do not count
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             E: auth alice secret
             D: auth temp
             S: 454 4.7.0 Temporary authentication failure
             # wrong password
             C: AUTH LOGIN YWxpY2U=
             S: 334 UGFzc3dvcmQ6
             C: c2VjcmV0
             E: auth alice secret
             D: auth fail
             S: 535 5.7.8 Authentication credentials invalid
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             C: NOOP
             E: auth alice secret
             D: auth fail
             S: 421 4.7.0 mail.example.com Too many authentication failures
             E: close
             C: NOOP"
        ),
    );
}

#[test]
fn helo_ehlo_and_simple_commands() {
    replay(
        inbound,
        &format!(
            "{GREETING}
             C: EHLO
             S: 501 5.5.4 Syntax: EHLO/HELO domain
             C: HELO
             S: 501 5.5.4 Syntax: EHLO/HELO domain
             C: helo client.example.org
             S: 250 mail.example.com
             C: EHLO [192.0.2.1]
             {EHLO_COMMON}
             S: 250-CHUNKING
             S: 250 STARTTLS
             C: RSET
             S: 250 2.0.0 OK
             C: noop
             S: 250 2.0.0 OK
             C: NOOP anything
             S: 250 2.0.0 OK
             C: VRFY postmaster
             S: 252 2.5.2 Cannot VRFY user, but will accept message
             C: VRFY
             S: 501 5.5.4 Syntax error in arguments
             C: EXPN staff
             S: 502 5.5.1 Command not implemented
             C: HELP
             S: 214 2.0.0 ringpost: see RFC 5321 (https://www.rfc-editor.org/rfc/rfc5321)
             C: RSET now
             S: 501 5.5.4 Syntax error (no parameters allowed)
             C: STARTTLS now
             S: 501 5.5.4 Syntax error (no parameters allowed)
             C: TURN
             S: 500 5.5.2 Command unrecognized
             C:
             S: 500 5.5.2 Command unrecognized
             C: quit
             S: 221 2.0.0 Bye
             E: close
             C: NOOP"
        ),
    );
}

#[test]
fn mail_transaction_syntax_and_order_errors() {
    replay(
        inbound,
        &format!(
            "{GREETING}
             C: MAIL FROM:<alice@example.org>
             S: 503 5.5.1 Send EHLO or HELO first
             C: EHLO client.example.org
             {EHLO_COMMON}
             S: 250-CHUNKING
             S: 250 STARTTLS
             C: MAIL FROM:<alice@example.com
             S: 501 5.1.7 Bad sender address syntax
             C: MAIL FROM:<alice@example.com> SIZE=big
             S: 501 5.5.4 Invalid parameter value
             C: MAIL FROM:<alice@example.com> AUTH=<>
             S: 555 5.5.4 Unsupported parameter
             C: RCPT TO:<bob@example.com>
             S: 503 5.5.1 Need MAIL command first
             C: DATA
             S: 503 5.5.1 Need MAIL command first
             C: DATA now
             S: 501 5.5.4 Syntax error (no parameters allowed)
             C: MAIL FROM:<> SIZE=100 BODY=8BITMIME
             S: 250 2.1.0 OK
             C: RCPT TO:<bob>
             S: 501 5.1.3 Bad recipient address syntax
             C: RCPT TO:<bob@example.com> XFOO=1
             S: 555 5.5.4 Unsupported parameter
             C: MAIL FROM:<x@example.org>
             S: 503 5.5.1 Sender already specified
             C: DATA
             S: 554 5.5.1 No valid recipients
             C: RSET
             S: 250 2.0.0 OK
             C: RCPT TO:<bob@example.com>
             S: 503 5.5.1 Need MAIL command first
             C: HELO client.example.org
             S: 250 mail.example.com
             C: MAIL FROM:<alice@example.org> BODY=8BITMIME
             S: 555 5.5.4 Unsupported parameter
             C: MAIL FROM:<alice@example.org>
             S: 250 2.1.0 OK
             C: HELO client.example.org
             S: 250 mail.example.com
             C: DATA
             S: 503 5.5.1 Need MAIL command first"
        ),
    );
}

#[test]
fn over_long_lines_and_bare_lf_are_refused_and_the_session_goes_on() {
    let long = "x".repeat(65);
    let very_long = "y".repeat(500);
    let max = format!("NOOP {}", "z".repeat(59));
    replay(
        inbound,
        &format!(
            "{GREETING}
             C: EHLO {long}
             S: 500 5.5.6 Line too long
             R: {very_long}
             R: {very_long}\\r\\nNOOP
             S: 500 5.5.6 Line too long
             R: \\r\\n
             S: 250 2.0.0 OK
             C: {max}
             S: 250 2.0.0 OK
             # RFC 5321 §2.3.8: a bare LF never ends a command line here.
             R: QUIT\\nNOOP\\r\\n
             S: 500 5.5.2 Bare LF line endings are not accepted, use CRLF
             S: 250 2.0.0 OK
             R: \\n
             S: 500 5.5.2 Bare LF line endings are not accepted, use CRLF"
        ),
    );
}

#[test]
fn pipelined_commands_are_answered_in_order_across_an_auth() {
    replay(
        submissions,
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             C: MAIL FROM:<alice@example.com>
             C: NOOP
             C: QUIT
             {EHLO_COMMON}
             S: 250-CHUNKING
             S: 250-REQUIRETLS
             S: 250 AUTH PLAIN LOGIN
             E: auth alice secret
             D: auth ok alice@example.com
             S: 235 2.7.0 Authentication successful
             S: 250 2.1.0 OK
             S: 250 2.0.0 OK
             S: 221 2.0.0 Bye
             E: close"
        ),
    );
}

#[test]
fn idle_timeout_and_shutdown_close() {
    replay(
        inbound,
        &format!(
            "{GREETING}
             D: timeout
             S: 421 4.4.2 mail.example.com Timeout, closing connection
             E: close
             D: shutdown
             C: NOOP"
        ),
    );
    replay(
        submissions,
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
             {EHLO_COMMON}
             S: 250-CHUNKING
             S: 250-REQUIRETLS
             S: 250 AUTH PLAIN LOGIN
             E: auth alice secret
             D: shutdown
             S: 421 4.3.2 mail.example.com Service shutting down
             E: close
             D: auth ok alice@example.com"
        ),
    );
}

#[test]
fn account_is_known_after_auth() {
    use crate::session::{AuthOutcome, Session};
    let mut s = submissions();
    s.handle_input(b"EHLO c\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    assert_eq!(s.account(), None);
    s.handle_auth(AuthOutcome::Success {
        account: "alice@example.com".into(),
    });
    assert_eq!(s.account(), Some("alice@example.com"));
}
