//! SCRAM-SHA-256 end to end (`[auth] scram = true`): a client written in the test from RFC
//! 5802 (Python's hashlib and hmac) logs in over imaplib, smtplib and a raw POP3 client with
//! the keys `user add` kept, and checks the server's signature; a wrong password and an
//! unknown user are refused alike; without the setting SCRAM is not offered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{Options, Server, ALICE};

fn login(server: &Server, proto: &str, user: &str, password: &str) -> serde_json::Value {
    serde_json::from_str(
        server
            .python("scram.py", &["login", proto, user, password])
            .trim(),
    )
    .unwrap()
}

#[test]
fn scram_logs_in_on_every_protocol_and_proves_the_server_knows_the_keys() {
    let server = Server::start(Options {
        extra: "[auth]\nfailure_delay_ms = 50\nmax_failures = 10\nip_max_failures = 100\nscram = true\n"
            .into(),
        log: "info",
        ..Options::default()
    });
    for proto in ["imap", "smtp", "pop3"] {
        let r = login(&server, proto, ALICE.0, ALICE.1);
        assert_eq!(r["result"], "ok", "{proto}: {r}\n{}", server.log());
        assert_eq!(r["server_verified"], true, "{proto}: {r}");
        assert!(r["caps"].to_string().contains("SCRAM-SHA-256"), "{r}");
    }
    for proto in ["imap", "smtp", "pop3"] {
        let r = login(&server, proto, ALICE.0, "wrong-password-1");
        assert_eq!(r["result"], "refused", "{proto}: {r}");
        let r = login(&server, proto, "nobody@example.com", ALICE.1);
        assert_eq!(r["result"], "refused", "{proto}: {r}");
    }
    let log = server.log();
    assert!(
        log.lines().any(|l| l.contains("ringpost::auth")
            && l.contains("mechanism=\"SCRAM-SHA-256\"")
            && l.contains("alice@example.com")),
        "{log}"
    );
}

/// The TLS-before-PLAIN matrix with SCRAM offered: refused before TLS on every listener.
#[test]
fn scram_is_refused_before_tls_like_every_credential() {
    let server = Server::start(Options {
        extra: "[auth]\nfailure_delay_ms = 50\nmax_failures = 3\nscram = true\n".into(),
        ..Options::default()
    });
    let out = server.python("auth_matrix.py", &[]);
    assert!(out.contains("auth matrix passed"), "{out}");
}

#[test]
fn without_the_setting_scram_is_not_offered() {
    let server = Server::start(Options::default());
    let r = login(&server, "imap", ALICE.0, ALICE.1);
    assert_eq!(r["result"], "refused", "{r}");
    assert!(!r["caps"].to_string().contains("SCRAM"), "{r}");
}
