//! SCRAM-SHA-256 end to end (`[auth] scram = true`): a client written in the test from RFC
//! 5802 (Python's hashlib and hmac) logs in over imaplib, smtplib and a raw POP3 client with
//! the keys `user add` kept, and checks the server's signature; a wrong password and an
//! unknown user are refused alike; without the setting SCRAM is not offered. A Rust client
//! over rustls does SCRAM-SHA-256-PLUS with `tls-exporter` channel binding, and an exchange
//! relayed with another connection's binding fails.

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
        let caps = r["caps"].to_string();
        assert!(
            caps.contains("SCRAM-SHA-256") && caps.contains("SCRAM-SHA-256-PLUS"),
            "{caps}"
        );
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

/// A SCRAM-SHA-256-PLUS client in Rust over rustls (Python 3.11's ssl cannot export
/// `tls-exporter`): the channel binding of its own connection logs in; the exporter value of
/// another connection — what a man in the middle relaying the exchange would have — fails.
mod plus {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::Arc;

    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use ring::{digest, hmac, pbkdf2};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    use super::support::Server;

    type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

    pub fn connect(server: &Server) -> Tls {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(server.cafile()).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let conn = rustls::ClientConnection::new(
            Arc::new(config),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", server.port("imaps"))).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        assert!(line(&mut tls).starts_with("* OK"));
        tls
    }

    pub fn exporter(tls: &Tls) -> [u8; 32] {
        tls.conn
            .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", Some(&[]))
            .unwrap()
    }

    fn line(tls: &mut Tls) -> String {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while !out.ends_with(b"\r\n") {
            tls.read_exact(&mut b).unwrap();
            out.push(b[0]);
        }
        String::from_utf8(out).unwrap().trim_end().to_string()
    }

    fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
            .as_ref()
            .to_vec()
    }

    /// One SCRAM-SHA-256-PLUS login on `tls`, binding to `binding`; the server's tagged
    /// reply (or its refusal of the final message).
    pub fn login(tls: &mut Tls, user: &str, password: &str, binding: [u8; 32]) -> String {
        let gs2 = "p=tls-exporter,,";
        let nonce = "rOprNGfwEbeRWgbNEkqOplus";
        let first_bare = format!("n={user},r={nonce}");
        let first = STANDARD.encode(format!("{gs2}{first_bare}"));
        write!(tls, "a AUTHENTICATE SCRAM-SHA-256-PLUS {first}\r\n").unwrap();
        let challenge = line(tls);
        let Some(server_first) = challenge.strip_prefix("+ ") else {
            return challenge;
        };
        let server_first = String::from_utf8(STANDARD.decode(server_first).unwrap()).unwrap();
        let field = |k: &str| {
            server_first
                .split(',')
                .find_map(|f| f.strip_prefix(k))
                .unwrap()
                .to_string()
        };
        let (r, s, i) = (
            field("r="),
            field("s="),
            field("i=").parse::<u32>().unwrap(),
        );
        assert!(r.starts_with(nonce));
        let mut salted = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            std::num::NonZeroU32::new(i).unwrap(),
            &STANDARD.decode(s).unwrap(),
            password.as_bytes(),
            &mut salted,
        );
        let client_key = hmac(&salted, b"Client Key");
        let stored_key = digest::digest(&digest::SHA256, &client_key);
        let mut cbind = gs2.as_bytes().to_vec();
        cbind.extend_from_slice(&binding);
        let without_proof = format!("c={},r={r}", STANDARD.encode(cbind));
        let auth = format!("{first_bare},{server_first},{without_proof}");
        let signature = hmac(stored_key.as_ref(), auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let last = format!("{without_proof},p={}", STANDARD.encode(proof));
        write!(tls, "{}\r\n", STANDARD.encode(last)).unwrap();
        let reply = line(tls);
        let Some(server_final) = reply.strip_prefix("+ ") else {
            return reply;
        };
        let server_key = hmac(&salted, b"Server Key");
        let expected = format!("v={}", STANDARD.encode(hmac(&server_key, auth.as_bytes())));
        assert_eq!(
            String::from_utf8(STANDARD.decode(server_final).unwrap()).unwrap(),
            expected,
            "the server's signature"
        );
        tls.write_all(b"\r\n").unwrap();
        line(tls)
    }
}

#[test]
fn scram_plus_binds_the_login_to_its_tls_connection() {
    let server = Server::start(Options {
        extra: "[auth]\nfailure_delay_ms = 50\nmax_failures = 10\nip_max_failures = 100\nscram = true\n"
            .into(),
        ..Options::default()
    });
    let mut tls = plus::connect(&server);
    let own = plus::exporter(&tls);
    let reply = plus::login(&mut tls, ALICE.0, ALICE.1, own);
    assert!(reply.starts_with("a OK"), "{reply}");
    // The exchange relayed from another TLS connection: its binding is that one's.
    let other = plus::connect(&server);
    let mut victim = plus::connect(&server);
    let reply = plus::login(&mut victim, ALICE.0, ALICE.1, plus::exporter(&other));
    assert!(reply.starts_with("a NO"), "{reply}");
    // The right password over the right connection, after all that: still fine.
    let mut again = plus::connect(&server);
    let binding = plus::exporter(&again);
    let reply = plus::login(&mut again, ALICE.0, ALICE.1, binding);
    assert!(reply.starts_with("a OK"), "{reply}");
}

/// In `separate` mode SCRAM checks the protocol password, not the account's own, and an
/// app password for the protocol (all of an account's passwords share its SCRAM salt, so one
/// exchange can check any of them); an app password outside its scopes is refused.
#[test]
fn scram_takes_the_protocol_password_and_app_passwords_in_separate_mode() {
    let server = Server::start(Options {
        extra: "[auth]\nfailure_delay_ms = 50\nmax_failures = 10\nip_max_failures = 100\n\
                scram = true\nprotocol_password = \"separate\"\n"
            .into(),
        ..Options::default()
    });
    let out = server.cli(
        &["user", "passwd", "--protocol", ALICE.0],
        Some("alice-mail-pass-1"),
    );
    assert!(out.status.success(), "{out:?}");
    let out = server.cli(
        &[
            "user",
            "app-password",
            "add",
            ALICE.0,
            "--name",
            "mutt",
            "--scopes",
            "imap",
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let app = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        login(&server, "imap", ALICE.0, ALICE.1)["result"],
        "refused"
    );
    for (proto, password, expected) in [
        ("imap", "alice-mail-pass-1", "ok"),
        ("smtp", "alice-mail-pass-1", "ok"),
        ("imap", app.as_str(), "ok"),
        ("smtp", app.as_str(), "refused"),
    ] {
        let r = login(&server, proto, ALICE.0, password);
        assert_eq!(r["result"], expected, "{proto} {password}: {r}");
        if expected == "ok" {
            assert_eq!(r["server_verified"], true, "{r}");
        }
    }
}
