//! The session up to Ready: greeting, EHLO and HELO, STARTTLS, AUTH; QUIT; replies that
//! end the session (malformed, unsolicited, too early).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

#[test]
fn greeting_ehlo_and_quit() {
    replay(
        config(TlsPolicy::Opportunistic),
        "W: 300
         S: 220-mx.example.net ESMTP
         S: 220 no UCE
         C: EHLO client.example.org
         W: 300
         S: 250-mx.example.net
         S: 250 8BITMIME
         E: ready
         W: none
         D: quit
         C: QUIT
         W: 300
         S: 221 2.0.0 Bye
         E: closed
         W: none",
    );
}

#[test]
fn helo_only_when_ehlo_is_not_recognised() {
    for code in ["500", "502"] {
        replay(
            config(TlsPolicy::Opportunistic),
            &format!(
                "{GREETING}
                 C: EHLO client.example.org
                 S: {code} 5.5.1 What?
                 C: HELO client.example.org
                 S: 250 mx.example.net
                 E: ready"
            ),
        );
    }
    replay(
        config(TlsPolicy::Opportunistic),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 550 5.7.1 Not you
             C: QUIT
             E: closed Hello 550 5.7.1 Not you"
        ),
    );
    replay(
        config(TlsPolicy::Opportunistic),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 502 no
             C: HELO client.example.org
             S: 501 no either
             C: QUIT
             E: closed Hello 501 no either"
        ),
    );
}

#[test]
fn a_greeting_other_than_220_ends_the_session() {
    replay(
        config(TlsPolicy::Opportunistic),
        "S: 554 mx.example.net No SMTP service here
         C: QUIT
         E: closed Greeting 554 mx.example.net No SMTP service here",
    );
    // RFC 5321 §3.8: 421 closes at once, nothing more is said.
    replay(
        config(TlsPolicy::Opportunistic),
        "S: 421 mx.example.net Too busy
         E: closed ServerClosing 421 mx.example.net Too busy",
    );
}

#[test]
fn starttls_when_offered_then_ehlo_again_with_fresh_capabilities() {
    replay(
        config(TlsPolicy::Opportunistic),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250-mx.example.net
             S: 250-SIZE 10
             S: 250 STARTTLS
             C: STARTTLS
             S: 220 2.0.0 Ready to start TLS
             E: starttls
             W: none
             D: tls
             C: EHLO client.example.org
             S: 250-mx.example.net
             S: 250 PIPELINING
             E: ready"
        ),
    );
    let mut s = ClientSession::new(config(TlsPolicy::Opportunistic));
    for input in [
        &b"220 x\r\n"[..],
        b"250-x\r\n250-SIZE 10\r\n250 STARTTLS\r\n",
        b"220 go\r\n",
    ] {
        s.handle_input(input);
    }
    assert_eq!(s.capabilities().size, Some(10));
    s.handle_tls_established();
    s.handle_input(b"250-x\r\n250 PIPELINING\r\n");
    assert!(s.is_tls());
    assert_eq!(s.capabilities().size, None);
    assert!(s.capabilities().pipelining);
}

#[test]
fn opportunistic_carries_on_in_plaintext_when_starttls_is_missing_or_refused() {
    replay(
        config(TlsPolicy::Opportunistic),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250 mx.example.net
             E: ready"
        ),
    );
    replay(
        config(TlsPolicy::Opportunistic),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250-mx.example.net
             S: 250-ENHANCEDSTATUSCODES
             S: 250 STARTTLS
             C: STARTTLS
             S: 454 4.7.0 TLS not available due to temporary reason
             E: ready"
        ),
    );
    // Disabled never asks.
    replay(
        config(TlsPolicy::Disabled),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250-mx.example.net
             S: 250 STARTTLS
             E: ready"
        ),
    );
}

#[test]
fn required_tls_fails_when_starttls_is_missing_or_refused() {
    replay(
        config(TlsPolicy::Required),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250-mx.example.net
             S: 250 PIPELINING
             C: QUIT
             E: closed StartTlsUnavailable 451 [4.7.4] STARTTLS required but not offered by the server"
        ),
    );
    replay(
        config(TlsPolicy::Required),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250-mx.example.net
             S: 250-ENHANCEDSTATUSCODES
             S: 250 STARTTLS
             C: STARTTLS
             S: 454 4.7.0 Not now
             C: QUIT
             E: closed StartTlsRefused 454 [4.7.0] Not now"
        ),
    );
    replay(
        config(TlsPolicy::Required),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250-mx.example.net
             S: 250 STARTTLS
             C: STARTTLS
             S: 220 go ahead
             E: starttls
             D: tls failed
             E: closed TlsHandshake 451 [4.7.5] TLS handshake failed"
        ),
    );
}

#[test]
fn implicit_tls_never_starttlses() {
    replay(
        config(TlsPolicy::Implicit),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250-mx.example.net
             S: 250 STARTTLS
             E: ready"
        ),
    );
}

/// CVE-2011-0411's client side: a reply pipelined behind the 220 to STARTTLS would be read
/// as if it came over TLS.
#[test]
fn bytes_after_the_starttls_reply_are_refused() {
    let opening = format!(
        "{GREETING}
         C: EHLO client.example.org
         S: 250-mx.example.net
         S: 250 STARTTLS
         C: STARTTLS"
    );
    // In the same read as the 220: no handshake is asked for. (A cut between the two lines
    // makes it the next case, so this one runs whole.)
    run(
        config(TlsPolicy::Opportunistic),
        &format!(
            "{opening}
             S: 220 go ahead
             S: 250-mx.example.net
             S: 250 AUTH PLAIN
             E: closed Protocol 451 [4.5.0] The server sent data after its reply to STARTTLS (response injection)
             D: tls"
        ),
        &Cut::Whole,
    );
    // In a later read, before the handshake.
    replay(
        config(TlsPolicy::Opportunistic),
        &format!(
            "{opening}
             S: 220 go ahead
             E: starttls
             T: 2
             E: closed Protocol 451 [4.5.0] The server sent data after its reply to STARTTLS (response injection)
             D: tls"
        ),
    );
}

#[test]
fn auth_plain_only_after_tls() {
    // AUTH offered in plaintext is not used: STARTTLS first, then AUTH on the new EHLO.
    replay(
        relay(TlsPolicy::Required),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250-smarthost.example.net
             S: 250-AUTH PLAIN LOGIN
             S: 250 STARTTLS
             C: STARTTLS
             S: 220 go ahead
             E: starttls
             D: tls
             C: EHLO client.example.org
             S: 250-smarthost.example.net
             S: 250-ENHANCEDSTATUSCODES
             S: 250 AUTH LOGIN PLAIN
             C: AUTH PLAIN AHJlbGF5QGV4YW1wbGUub3JnAHMzY3JldA==
             W: 300
             S: 235 2.7.0 Authentication successful
             E: ready"
        ),
    );
    // Implicit TLS: AUTH at once.
    replay(
        relay(TlsPolicy::Implicit),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250-smarthost.example.net
             S: 250 AUTH=PLAIN
             C: AUTH PLAIN AHJlbGF5QGV4YW1wbGUub3JnAHMzY3JldA==
             S: 235 ok
             E: ready"
        ),
    );
}

#[test]
fn the_password_is_never_in_debug_output() {
    let mut s = ClientSession::new(relay(TlsPolicy::Implicit));
    s.handle_input(b"220 x\r\n");
    s.handle_input(b"250-x\r\n250 AUTH PLAIN\r\n");
    // EHLO and AUTH PLAIN are written, not yet taken by the driver.
    let debug = format!("{s:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(!debug.contains("AHMzY3JldA"), "{debug}");
    assert!(debug.contains("unsent: 74"), "{debug}");
}

#[test]
fn auth_never_goes_in_plaintext() {
    for policy in [TlsPolicy::Opportunistic, TlsPolicy::Disabled] {
        replay(
            relay(policy),
            &format!(
                "{GREETING}
                 C: EHLO client.example.org
                 S: 250-smarthost.example.net
                 S: 250 AUTH PLAIN LOGIN
                 C: QUIT
                 E: closed AuthNeedsTls 451 [4.7.10] AUTH configured but TLS is not established: credentials never go in plaintext"
            ),
        );
    }
}

#[test]
fn auth_login_when_plain_is_not_offered() {
    replay(
        relay(TlsPolicy::Implicit),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250-smarthost.example.net
             S: 250 AUTH LOGIN CRAM-MD5
             C: AUTH LOGIN
             S: 334 VXNlcm5hbWU6
             C: cmVsYXlAZXhhbXBsZS5vcmc=
             S: 334 UGFzc3dvcmQ6
             C: czNjcmV0
             S: 235 ok
             E: ready"
        ),
    );
}

#[test]
fn auth_refused_or_unavailable_ends_the_session() {
    replay(
        relay(TlsPolicy::Implicit),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250-smarthost.example.net
             S: 250-ENHANCEDSTATUSCODES
             S: 250 AUTH PLAIN
             C: AUTH PLAIN AHJlbGF5QGV4YW1wbGUub3JnAHMzY3JldA==
             S: 535 5.7.8 Authentication credentials invalid
             C: QUIT
             E: closed AuthRejected 535 [5.7.8] Authentication credentials invalid"
        ),
    );
    replay(
        relay(TlsPolicy::Implicit),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250 smarthost.example.net
             C: QUIT
             E: closed AuthUnavailable 451 [4.7.0] AUTH configured but not offered by the server"
        ),
    );
    replay(
        relay(TlsPolicy::Implicit),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250-smarthost.example.net
             S: 250 AUTH CRAM-MD5 GSSAPI
             C: QUIT
             E: closed AuthUnavailable 451 [4.7.0] AUTH configured but the server offers neither PLAIN nor LOGIN"
        ),
    );
    // A challenge to PLAIN with its initial response is out of step.
    replay(
        relay(TlsPolicy::Implicit),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250-smarthost.example.net
             S: 250 AUTH PLAIN
             C: AUTH PLAIN AHJlbGF5QGV4YW1wbGUub3JnAHMzY3JldA==
             S: 334 
             E: closed Protocol 451 [4.5.0] Unexpected reply to AUTH: 334"
        ),
    );
}

#[test]
fn quit_waits_for_the_setup_and_eof_ends_quitting() {
    replay(
        config(TlsPolicy::Opportunistic),
        &format!(
            "D: quit
             {GREETING}
             C: EHLO client.example.org
             S: 250 mx.example.net
             C: QUIT
             D: lost
             E: closed
             D: send from:<a@example.org> to:<b@example.net>
             E: send refused NotReady"
        ),
    );
}

#[test]
fn malformed_replies_end_the_session() {
    for (reply, why) in [
        ("S: 25O ok", "Malformed reply from the server: 25O ok"),
        ("S: 220ok", "Malformed reply from the server: 220ok"),
        ("S: 120 wait", "Malformed reply from the server: 120 wait"),
        ("S: 290 ok", "Malformed reply from the server: 290 ok"),
        (
            "S: 220-one\nS: 250 two",
            "Reply code changed from 220 to 250 within one reply",
        ),
        (
            "S: 220-1\nS: 220-2\nS: 220-3\nS: 220-4\nS: 220-5\nS: 220-6\nS: 220-7\nS: 220-8\nS: 220 9",
            "Reply from the server over 8 lines",
        ),
        (
            "S: 220 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "Reply line from the server over 80 octets",
        ),
    ] {
        replay(
            config(TlsPolicy::Opportunistic),
            &format!("{reply}\nE: closed Protocol 451 [4.5.0] {why}"),
        );
    }
    // Nothing is read after the failure, whatever follows.
    replay(
        config(TlsPolicy::Opportunistic),
        "T: 2x0 hi\\r\\n220 fine\\r\\n
         E: closed Protocol 451 [4.5.0] Malformed reply from the server: 2x0 hi",
    );
}

#[test]
fn a_reply_line_may_end_in_a_bare_lf_but_control_characters_are_replaced() {
    replay(
        config(TlsPolicy::Opportunistic),
        "T: 220 mx\\x01\\n
         C: EHLO client.example.org
         T: 250-mx\\n250 PIPELINING\\r\\n
         E: ready
         D: quit
         C: QUIT
         S: 221 bye\\r
         E: closed",
    );
    let mut s = ClientSession::new(config(TlsPolicy::Opportunistic));
    s.handle_input(b"554 no\x01way\n");
    assert_eq!(
        describe(&s.poll_event().unwrap()),
        "closed Greeting 554 no\u{fffd}way"
    );
}

#[test]
fn unsolicited_replies_end_the_session() {
    // An idle server closing: a 421 while nothing is asked.
    replay(
        config(TlsPolicy::Opportunistic),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250 mx.example.net
             E: ready
             S: 421 4.4.2 mx.example.net Idle timeout
             E: closed ServerClosing 421 4.4.2 mx.example.net Idle timeout"
        ),
    );
    replay(
        config(TlsPolicy::Opportunistic),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             S: 250-mx.example.net
             S: 250 ENHANCEDSTATUSCODES
             E: ready
             S: 250 2.0.0 what
             E: closed Protocol 451 [4.5.0] Unexpected reply from the server: 250 2.0.0 what"
        ),
    );
    // A reply already there when the greeting is read answers nothing we sent.
    run(
        config(TlsPolicy::Opportunistic),
        "S: 220 mx.example.net
         S: 250 mx.example.net
         E: closed Protocol 451 [4.5.0] The server sent a reply before the command it could answer",
        &Cut::Whole,
    );
}

#[test]
fn timeout_and_lost_connection_before_ready() {
    replay(
        config(TlsPolicy::Opportunistic),
        "W: 300
         D: timeout
         E: closed Timeout 451 [4.4.2] No reply from the server in 300 s
         W: none",
    );
    replay(
        config(TlsPolicy::Opportunistic),
        &format!(
            "{GREETING}
             C: EHLO client.example.org
             D: lost
             E: closed ConnectionLost 451 [4.4.2] Connection lost
             S: 250 mx.example.net"
        ),
    );
}
