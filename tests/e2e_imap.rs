//! End to end: IMAP's authenticated and selected states with Python's imaplib and a raw
//! IDLE client against the real server, with mail delivered over SMTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::{Options, Server, ALICE};

fn curl(server: &Server, args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20", "--cacert"])
        .arg(server.cafile())
        .args(args)
        .output()
        .expect("curl is required for the interop tests");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn curl_lists_fetches_and_searches() {
    if !support::have("curl", "curl") {
        return;
    }
    let server = Server::start(Options::default());
    let message = server.dir.path().join("message.eml");
    std::fs::write(
        &message,
        "From: x@remote.example\r\nSubject: curl hello\r\n\r\nfetched by curl\r\n",
    )
    .unwrap();
    let smtp = format!("smtp://localhost:{}/", server.port("smtp"));
    let args = ["--mail-from", "x@remote.example", "--mail-rcpt", ALICE.0];
    let mut sent = args.to_vec();
    sent.extend(["--upload-file", message.to_str().unwrap(), &smtp]);
    let (code, text) = curl(&server, &sent);
    assert_eq!(code, 0, "{text}");

    let user = format!("{}:{}", ALICE.0, ALICE.1);
    let base = format!("imaps://localhost:{}/", server.port("imaps"));
    let (code, text) = curl(&server, &["-u", &user, &base]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("\"INBOX\"") && text.contains("\\Sent"),
        "{text}"
    );

    let (code, text) = curl(&server, &["-u", &user, &format!("{base}INBOX;UID=1")]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("Subject: curl hello") && text.ends_with("fetched by curl\r\n"),
        "{text}"
    );

    let (code, text) = curl(
        &server,
        &["-u", &user, &format!("{base}INBOX?SUBJECT%20hello")],
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(text.trim_end(), "* SEARCH 1");

    let (code, text) = curl(
        &server,
        &["-u", &user, "-X", "STATUS INBOX (MESSAGES)", &base],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("* STATUS \"INBOX\" (MESSAGES 1)"), "{text}");
}

#[test]
fn imaplib_manages_mailboxes_and_messages() {
    let server = Server::start(Options::default());
    let out = server.python("imap_mailbox.py", &[]);
    assert!(out.contains("imap mailbox passed"), "{out}");
}

/// RFC 8970: PREVIEW of a quoted-printable UTF-8 message, by imaplib.
#[test]
fn imaplib_fetches_previews() {
    let server = Server::start(Options::default());
    let out = server.python("imap_preview.py", &[]);
    assert!(out.contains("preview passed"), "{out}");
}

/// RFC 9586 UIDONLY by imaplib: sequence numbers refused, UIDFETCH and VANISHED.
#[test]
fn imaplib_uses_uids_only() {
    let server = Server::start(Options::default());
    let out = server.python("imap_uidonly.py", &[]);
    assert!(out.contains("uidonly passed"), "{out}");
}

/// RFC 4469 CATENATE: a message put together from a stored one's parts and text.
#[test]
fn catenate_puts_a_message_together_from_stored_parts() {
    let server = Server::start(Options::default());
    let out = server.python("imap_catenate.py", &[]);
    assert!(out.contains("catenate passed"), "{out}");
}

/// RFC 8474 OBJECTID, RFC 8514 SAVEDATE and RFC 5464 METADATA by imaplib: MAILBOXID from
/// CREATE kept by RENAME, EMAILID kept by COPY and MOVE, a COPY's save date apart from its
/// internal date, annotations moved by RENAME and dropped by DELETE, METADATA's limits; the
/// same ids and annotations after a restart.
#[test]
fn imaplib_keeps_object_ids_and_save_dates() {
    let mut server = Server::start(Options::default());
    let out = server.python("imap_objects.py", &["first"]);
    assert!(out.contains("objects first passed"), "{out}");
    let ids: Vec<&str> = out
        .lines()
        .find_map(|l| l.strip_prefix("ids: "))
        .expect("the ids")
        .split(' ')
        .collect();
    assert!(server.terminate().success());
    server.spawn();
    let out = server.python("imap_objects.py", &["again", ids[0], ids[1]]);
    assert!(out.contains("objects again passed"), "{out}");
}

/// RFC 8508: REPLACE of a draft by imaplib, the last version streamed to the store.
#[test]
fn imaplib_replaces_a_draft() {
    let server = Server::start(Options::default());
    let out = server.python("imap_replace.py", &[]);
    assert!(out.contains("replace passed"), "{out}");
}

/// RFC 5256 SORT and THREAD, RFC 5957 SORT=DISPLAY, RFC 5267 ESORT, by imaplib.
#[test]
fn imaplib_sorts_and_threads() {
    let server = Server::start(Options::default());
    let out = server.python("imap_sort.py", &[]);
    assert!(out.contains("sort passed"), "{out}");
}

/// RFC 5267 CONTEXT=SEARCH and CONTEXT=SORT: a SEARCH and a SORT with RETURN (UPDATE) kept
/// up to date while another session appends, flags and expunges (ADDTO and REMOVEFROM on
/// NOOP, and during IDLE right after the EXISTS), tag reuse refused, CANCELUPDATE.
#[test]
fn imaplib_keeps_search_contexts_up_to_date() {
    let server = Server::start(Options::default());
    let out = server.python("imap_context.py", &[]);
    assert!(out.contains("context passed"), "{out}");
}

/// RFC 5465 NOTIFY: a session that only reads hears an SMTP delivery and another session's
/// flags and expunge in its selected INBOX (EXISTS, MessageNew's FETCH, FETCH FLAGS,
/// EXPUNGE), the STATUS of another folder, created, subscribed, renamed (OLDNAME) and deleted
/// mailboxes as LIST; nothing after NOTIFY NONE; and `* OK [NOTIFICATIONOVERFLOW]` when one
/// RENAME moves more mailboxes than `[imap] notify_max_pending`.
#[test]
fn notify_tells_an_idle_reader_of_every_change_it_watches() {
    let server = Server::start(Options {
        extra: "[imap]\nnotify_max_pending = 3\n".into(),
        ..Options::default()
    });
    let out = server.python("imap_notify.py", &[]);
    assert!(out.contains("imap notify passed"), "{out}");
}

/// RFC 5465 NOTIFY of shared mailboxes (RFC 4314): alice watches an owner's subtree of the
/// shared namespace and hears, as exact STATUS and LIST lines, the owner's APPEND and flag
/// change in the mailbox she may read, a child created there, a grant and a revocation, and
/// nothing of a mailbox she has no rights on nor after the revocation; MAILBOXES, SELECTED
/// and SUBTREE "Shared" too. Once with an owner on the other shard (the owner's watch runs
/// there, its notices cross the sharing mesh), once with an owner on alice's; and owners
/// who start sharing (with alice, with anyone) after NOTIFY SET.
#[test]
fn notify_reports_shared_mailboxes_from_either_shard() {
    use ringpost::runtime::ShardMap;
    let server = Server::start(Options::default());
    let home = |address: &str| {
        let accounts =
            ringpost::accounts::AccountStore::open(&server.data_dir(), &["example.com".into()])
                .unwrap();
        let key = accounts.lookup(address).unwrap().unwrap().store_key();
        ShardMap::new(2).home_shard(&key)
    };
    let password = "owner-pass-notify";
    let mut made = 0;
    let mut owner = |other_shard: bool| loop {
        let address = format!("owner{made}@example.com");
        made += 1;
        assert!(made < 64, "no account on the wanted shard");
        let out = server.cli(&["user", "add", &address], Some(password));
        assert!(out.status.success(), "{out:?}");
        if (home(&address) != home(ALICE.0)) == other_shard {
            return address;
        }
    };
    let (far, near, late, open) = (owner(true), owner(false), owner(true), owner(false));
    assert_ne!(home(&far), home(ALICE.0));
    assert_eq!(home(&near), home(ALICE.0));
    let runs = [
        (&far, "far", late.as_str(), open.as_str()),
        (&near, "near", "-", "-"),
    ];
    for (address, tag, late, open) in runs {
        let args = [address.as_str(), password, tag, late, open];
        let out = server.python("imap_notify_shared.py", &args);
        assert!(
            out.contains(&format!("notify shared {tag} passed")),
            "{out}"
        );
    }
}

/// RFC 5465 NOTIFY with more owners sharing than `[imap] notify_max_owners`: NOTIFY SET
/// says `* NO [LIMIT]` before its OK, and the owners within the limit are still reported.
#[test]
fn notify_watches_at_most_notify_max_owners() {
    let server = Server::start(Options {
        extra: "[imap]\nnotify_max_owners = 1\n".into(),
        ..Options::default()
    });
    let password = "owner-pass-limit";
    for address in ["limit1@example.com", "limit2@example.com"] {
        let out = server.cli(&["user", "add", address], Some(password));
        assert!(out.status.success(), "{out:?}");
    }
    let args = ["limit1@example.com", "limit2@example.com", password];
    let out = server.python("imap_notify_owners.py", &args);
    assert!(out.contains("notify owners passed"), "{out}");
}

/// RFC 4978 COMPRESS=DEFLATE over implicit TLS against Python's zlib: pipelining behind
/// COMPRESS, a 1 MiB APPEND and FETCH, a line bomb under the line limit, IDLE pushes flushed,
/// a move to another shard with compression on, and garbage closing only its connection.
#[test]
fn compress_deflate_over_tls() {
    let server = Server::start(Options::default());
    let out = server.python("imap_compress.py", &[]);
    assert!(out.contains("compress passed"), "{out}");
    for line in out.lines().filter(|l| l.starts_with("measure:")) {
        eprintln!("{line}");
    }
}

/// RFC 8437: UNAUTHENTICATE, then another account's login on the same connection (which
/// moves to that account's home shard) sees that account's mail only.
#[test]
fn unauthenticate_then_another_account_on_the_same_connection() {
    let server = Server::start(Options::default());
    let out = server.python("imap_unauthenticate.py", &[]);
    assert!(out.contains("unauthenticate passed"), "{out}");
}

/// \Recent (RFC 3501 §2.3.2): an SMTP delivery is recent to the first SELECT only; STATUS
/// and EXAMINE see it without claiming it; another session's APPEND is recent to the session
/// that has the mailbox selected; a new keyword reaches that session as a new FLAGS.
#[test]
fn recent_goes_to_the_first_select_and_keywords_are_announced() {
    let server = Server::start(Options::default());
    let out = server.python("imap_recent.py", &[]);
    assert!(out.contains("imap recent passed"), "{out}");
}

#[test]
fn idle_sees_an_smtp_delivery_within_a_second() {
    let server = Server::start(Options::default());
    let out = server.python("imap_idle.py", &["3"]);
    assert!(out.contains("imap idle passed"), "{out}");
}

#[test]
fn mbsync_syncs_both_ways_and_then_transfers_nothing() {
    if !support::have("mbsync", "isync") {
        return;
    }
    let server = Server::start(Options::default());
    let out = server.python("imap_mbsync.py", &[]);
    assert!(out.contains("imap mbsync passed"), "{out}");
}

#[test]
fn a_silent_idle_client_hears_keepalives() {
    let opts = support::Options {
        extra: "[timeouts]\nimap_keepalive_secs = 1\n".into(),
        ..support::Options::default()
    };
    let server = support::Server::start(opts);
    let out = server.python("imap_keepalive.py", &[]);
    assert!(out.contains("keepalive passed"), "{out}");
}

#[test]
fn create_special_use_keeps_and_lists_the_attribute() {
    let server = support::Server::start(support::Options::default());
    let out = server.python("imap_special_use.py", &[]);
    assert!(out.contains("special use passed"), "{out}");
}

/// QRESYNC (RFC 7162 §3.2): a session re-selecting with the modseq it remembered hears
/// exactly what another session expunged, moved and flagged, also after a server restart
/// (the expunge log is in the index).
#[test]
fn qresync_reports_vanished_and_changed_messages_across_a_restart() {
    let mut server = Server::start(Options::default());
    let out = server.python("imap_qresync.py", &["before"]);
    assert!(out.contains("qresync before passed"), "{out}");
    let state: Vec<&str> = out
        .lines()
        .find_map(|l| l.strip_prefix("state "))
        .expect("the script prints its state")
        .split(' ')
        .collect();
    assert!(server.terminate().success());
    server.spawn();
    let mut args = vec!["after"];
    args.extend(&state);
    let out = server.python("imap_qresync.py", &args);
    assert!(out.contains("qresync after passed"), "{out}");
}

#[test]
fn a_large_append_is_streamed_and_a_dropped_one_leaves_nothing() {
    let server = support::Server::start(support::Options::default());
    let out = server.python("imap_large_append.py", &[]);
    assert!(out.contains("large append passed"), "{out}");
}

/// RFC 9208 QUOTA: limits set with `ringpost user quota`, enforced on APPEND and COPY
/// (`NO [OVERQUOTA]`) and on SMTP delivery (452 4.2.2 at RCPT, 552 5.2.2 after DATA, a
/// bounce for a full recipient when another got the message); GETQUOTAROOT and STATUS
/// DELETED-STORAGE with imaplib.
#[test]
fn quota_is_reported_and_enforced_over_imap_and_smtp() {
    let server = Server::start(Options::default());
    let out = server.cli(
        &[
            "user",
            "quota",
            "alice@example.com",
            "--storage",
            "20K",
            "--messages",
            "5",
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("storage 20480 bytes, messages 5"), "{text}");
    let out = server.python("imap_quota.py", &[]);
    assert!(out.contains("quota passed"), "{out}");
}

/// SEARCH BODY / TEXT through the full-text index with imaplib: every encoding, substrings,
/// several words, NOT / OR, new and expunged mail, and the same answers after a restart (the
/// index read back from its file).
#[test]
fn imaplib_searches_text_through_the_index() {
    let mut server = Server::start(Options::default());
    let out = server.python("imap_fulltext.py", &["before"]);
    assert!(out.contains("fulltext before passed"), "{out}");
    assert!(server.terminate().success());
    server.spawn();
    let out = server.python("imap_fulltext.py", &["after"]);
    assert!(out.contains("fulltext after passed"), "{out}");
}

/// RFC 4314 ACL, RFC 8440 LIST-MYRIGHTS and the shared namespace by imaplib, between alice
/// and bob on different shards (so bob's requests on alice's mailboxes cross the sharing
/// mesh) and carol, who gets what `anyone` gets; the ACLs and what they give survive a
/// restart.
#[test]
fn imaplib_shares_mailboxes_across_shards() {
    use ringpost::runtime::ShardMap;
    let mut server = Server::start(Options::default());
    // Where the store keeps an account's mail (its incarnation's key) decides its shard.
    let home = |address: &str| {
        let accounts =
            ringpost::accounts::AccountStore::open(&server.data_dir(), &["example.com".into()])
                .unwrap();
        let key = accounts.lookup(address).unwrap().unwrap().store_key();
        ShardMap::new(2).home_shard(&key)
    };
    let add = |address: &str, password: &str| {
        let out = server.cli(&["user", "add", address], Some(password));
        assert!(out.status.success(), "{out:?}");
    };
    add("carol@example.com", "carol-pass-1");
    // "bob": the first new account that lives on the other shard than alice.
    let password = "bob-pass-acl";
    let bob = (0..64)
        .map(|i| format!("bob{i}@example.com"))
        .find(|address| {
            add(address, password);
            home(address) != home(ALICE.0)
        })
        .expect("an account on the other shard");
    assert_ne!(home(&bob), home(ALICE.0));
    let out = server.python("imap_acl.py", &["first", &bob, password]);
    assert!(out.contains("acl first passed"), "{out}");
    assert!(server.terminate().success());
    server.spawn();
    let out = server.python("imap_acl.py", &["again", &bob, password]);
    assert!(out.contains("acl again passed"), "{out}");
}
