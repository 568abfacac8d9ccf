//! Credentials as seed 002 describes them, end to end with Python's imaplib, poplib and
//! smtplib over implicit TLS: in `[auth] protocol_password = "separate"` mode the account's
//! own (web) password is refused on the mail protocols, the protocol password set with
//! `ringpost user passwd --protocol` and an app password from `ringpost user app-password
//! add` are taken on each protocol within their scopes, and a revoked app password is refused
//! at once while the session that logged in with it is ended.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{Options, Server, ALICE};

const MAIL_PASSWORD: &str = "alice-mail-pass-1";

fn login(server: &Server, proto: &str, password: &str) -> String {
    server
        .python("credentials.py", &["login", proto, ALICE.0, password])
        .trim()
        .to_string()
}

fn separate_server() -> Server {
    Server::start(Options {
        extra:
            "[auth]\nfailure_delay_ms = 50\nmax_failures = 3\nprotocol_password = \"separate\"\n"
                .into(),
        ..Options::default()
    })
}

#[test]
fn protocol_and_app_passwords_apart_from_the_web_password() {
    let server = separate_server();
    // Only the web password so far: nothing on the mail protocols.
    for proto in ["imap", "pop3", "smtp"] {
        assert_eq!(login(&server, proto, ALICE.1), "refused", "{proto}");
    }
    let out = server.cli(
        &["user", "passwd", "--protocol", ALICE.0],
        Some(MAIL_PASSWORD),
    );
    assert!(out.status.success(), "{out:?}");
    for proto in ["imap", "pop3", "smtp"] {
        assert_eq!(login(&server, proto, MAIL_PASSWORD), "ok", "{proto}");
        assert_eq!(login(&server, proto, ALICE.1), "refused", "{proto}");
    }
    // A too short protocol password is refused by the policy.
    let out = server.cli(&["user", "passwd", "--protocol", ALICE.0], Some("short"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("shorter than 10"),
        "{out:?}"
    );

    let out = server.cli(
        &[
            "user",
            "app-password",
            "add",
            ALICE.0,
            "--name",
            "Thunderbird at home",
            "--scopes",
            "imap,smtp",
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let app = stdout.lines().next().unwrap().to_string();
    assert_eq!(app.len(), 23, "{stdout}");
    assert_eq!(login(&server, "imap", &app), "ok");
    assert_eq!(login(&server, "smtp", &app), "ok");
    assert_eq!(
        login(&server, "pop3", &app),
        "refused",
        "outside its scopes"
    );
    let listed = server.cli(&["user", "app-password", "list", ALICE.0], None);
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    // The account's own password first: for the web only in separate mode, with when it
    // was set (by `user add`) and its last use (never: only mail protocols were used).
    let web = listed.lines().next().unwrap();
    assert!(web.starts_with("web       web       web   "), "{listed}");
    assert!(!web.contains("created unknown"), "{listed}");
    assert!(web.contains("last used never"), "{listed}");
    assert!(listed.contains("protocol  imap,pop3,smtp,dav"), "{listed}");
    assert!(listed.contains("app       imap,smtp"), "{listed}");
    assert!(listed.contains("Thunderbird at home"), "{listed}");
    assert!(!listed.contains(&app), "the password is shown once only");
    // Both were used a moment ago: the listing asks the running server for it.
    for line in listed.lines().skip(1) {
        assert!(!line.contains("last used never"), "{listed}");
    }
}

#[test]
fn a_revoked_app_password_is_refused_and_its_session_ends() {
    let server = separate_server();
    let out = server.cli(
        &["user", "app-password", "add", ALICE.0, "--name", "phone"],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let app = stdout.lines().next().unwrap().to_string();
    let id = stdout
        .lines()
        .nth(1)
        .and_then(|l| l.strip_prefix("app password "))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .to_string();
    // Logged in twice (the second from the verified-login cache).
    assert_eq!(login(&server, "imap", &app), "ok");
    assert_eq!(login(&server, "pop3", &app), "ok");
    let held = server.python(
        "credentials.py",
        &[
            "hold-then-revoke",
            ALICE.0,
            &app,
            env!("CARGO_BIN_EXE_ringpost"),
            server.config.to_str().unwrap(),
            &id,
        ],
    );
    assert_eq!(held.trim(), "ended", "{}", server.log());
    // Refused at once, cache or not.
    for proto in ["imap", "pop3", "smtp"] {
        assert_eq!(login(&server, proto, &app), "refused", "{proto}");
    }
}

/// The account's own password changes: the cached verification of the old one is gone at
/// once, and sessions that logged in with it end.
#[test]
fn a_changed_password_ends_its_sessions_and_the_old_one_stops_working() {
    let server = Server::start(Options::default());
    assert_eq!(login(&server, "imap", ALICE.1), "ok");
    assert_eq!(login(&server, "imap", ALICE.1), "ok");
    let out = server.cli(&["user", "passwd", ALICE.0], Some("alice-pass-2-new"));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(login(&server, "imap", ALICE.1), "refused");
    assert_eq!(login(&server, "imap", "alice-pass-2-new"), "ok");
}
