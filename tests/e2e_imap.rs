//! End to end: IMAP's authenticated and selected states with Python's imaplib and a raw
//! IDLE client against the real server, with mail delivered over SMTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{Options, Server};

#[test]
fn imaplib_manages_mailboxes_and_messages() {
    let server = Server::start(Options::default());
    let out = server.python("imap_mailbox.py", &[]);
    assert!(out.contains("imap mailbox passed"), "{out}");
}

#[test]
fn idle_sees_an_smtp_delivery_within_a_second() {
    let server = Server::start(Options::default());
    let out = server.python("imap_idle.py", &["3"]);
    assert!(out.contains("imap idle passed"), "{out}");
}

/// Skipped (with a note) where isync is not installed: `apt-get install isync`.
#[test]
fn mbsync_syncs_both_ways_and_then_transfers_nothing() {
    if std::process::Command::new("mbsync")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("mbsync not installed; skipping");
        return;
    }
    let server = Server::start(Options::default());
    let out = server.python("imap_mbsync.py", &[]);
    assert!(out.contains("imap mbsync passed"), "{out}");
}
