//! End to end: POP3 with real clients (Python's poplib, curl, fetchmail) against the real
//! server, mail delivered over SMTP, UIDLs checked across a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{Options, Server};

#[test]
fn pop3_serves_and_deletes_mail_for_real_clients_with_stable_uidls() {
    let mut server = Server::start(Options::default());
    let state = server.dir.path().join("uidls.json");
    let cafile = server.cafile();
    let out = server.python(
        "pop3_mailbox.py",
        &["fill", state.to_str().unwrap(), cafile.to_str().unwrap()],
    );
    assert!(out.contains("pop3 fill passed"), "{out}");
    assert!(server.terminate().success());
    server.spawn();
    let out = server.python(
        "pop3_mailbox.py",
        &[
            "after-restart",
            state.to_str().unwrap(),
            cafile.to_str().unwrap(),
        ],
    );
    assert!(out.contains("pop3 after restart passed"), "{out}");
}

#[test]
fn imap_sessions_see_pop3_expunges_and_are_not_blocked_by_the_lock() {
    let server = Server::start(Options::default());
    let out = server.python("pop3_imap_expunge.py", &[]);
    assert!(out.contains("pop3 imap expunge passed"), "{out}");
}
