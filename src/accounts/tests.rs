#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;

use argon2::Params;

use super::records::parse;
use super::*;

fn domains() -> Vec<String> {
    vec!["example.com".to_string()]
}

/// A store whose password policy takes the short passwords these tests use (the policy has
/// tests of its own).
fn store() -> (tempfile::TempDir, AccountStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("data"));
    (dir, store)
}

fn open(data: &std::path::Path) -> AccountStore {
    let store = AccountStore::open(data, &domains()).unwrap();
    store.set_policy(PasswordPolicy {
        min_length: 1,
        ..PasswordPolicy::default()
    });
    store
}

/// An IMAP login with the account's own password (`same-as-web`, as before protocol
/// passwords).
fn check(store: &AccountStore, username: &str, password: &str) -> Verification {
    store.verify(
        username,
        password,
        Scope::Imap,
        ProtocolPasswords::SameAsWeb,
    )
}

/// A successful verification of `account`'s current incarnation in `store`, with its own
/// password.
fn success(store: &AccountStore, account: &str) -> Verification {
    let current = store.lookup(account).unwrap().expect("a live account");
    let snapshot = store.current().unwrap();
    let hash = &snapshot.records.live[&current.address].hash;
    Verification::Valid {
        account: account.to_string(),
        store_key: current.store_key(),
        version: snapshot.version,
        credential: CredentialUse {
            id: WEB_CREDENTIAL.into(),
            stamp: records::stamp_of(hash),
        },
    }
}

#[test]
fn store_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<AccountStore>();
}

#[test]
fn open_creates_the_data_folder_and_starts_empty() {
    let (dir, store) = store();
    assert!(dir.path().join("data").is_dir());
    assert_eq!(
        store.path(),
        Some(dir.path().join("data/accounts").as_path())
    );
    assert_eq!(store.list().unwrap(), Vec::<Address>::new());
    assert_eq!(
        check(&store, "alice@example.com", "x"),
        Verification::Invalid
    );
}

#[test]
fn add_then_verify() {
    let (_dir, store) = store();
    let added = store.add("alice@example.com", "correct horse").unwrap();
    assert_eq!(added.as_str(), "alice@example.com");
    assert_eq!(
        check(&store, "alice@example.com", "correct horse"),
        success(&store, "alice@example.com")
    );
    assert_eq!(
        check(&store, "alice@example.com", "wrong horse"),
        Verification::Invalid
    );
    assert_eq!(
        check(&store, "alice@example.com", ""),
        Verification::Invalid
    );
}

#[test]
fn unknown_users_fail_like_wrong_passwords() {
    let (_dir, store) = store();
    store.add("alice@example.com", "pw").unwrap();
    for username in [
        "bob@example.com",
        "alice",
        "alice@elsewhere.net",
        "alice@example.com ",
        "",
    ] {
        assert_eq!(
            check(&store, username, "pw"),
            Verification::Invalid,
            "{username:?}"
        );
    }
}

#[test]
fn user_names_are_case_insensitive() {
    let (_dir, store) = store();
    let added = store.add("Alice@Example.COM", "pw").unwrap();
    assert_eq!(added.as_str(), "alice@example.com");
    assert_eq!(
        check(&store, "ALICE@example.com", "pw"),
        success(&store, "alice@example.com")
    );
    // The password is not.
    assert_eq!(
        check(&store, "alice@example.com", "PW"),
        Verification::Invalid
    );
    match store.add("alice@EXAMPLE.com", "other") {
        Err(AccountError::Exists(a)) => assert_eq!(a.as_str(), "alice@example.com"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn set_password_replaces_the_old_one() {
    let (_dir, store) = store();
    store.add("alice@example.com", "old").unwrap();
    let changed = store.set_password("ALICE@example.com", "new").unwrap();
    assert_eq!(changed.as_str(), "alice@example.com");
    assert_eq!(
        check(&store, "alice@example.com", "old"),
        Verification::Invalid
    );
    assert_eq!(
        check(&store, "alice@example.com", "new"),
        success(&store, "alice@example.com")
    );
    match store.set_password("bob@example.com", "pw") {
        Err(AccountError::Unknown(a)) => assert_eq!(a.as_str(), "bob@example.com"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn delete_and_list() {
    let (_dir, store) = store();
    store.add("bob@example.com", "pw").unwrap();
    store.add("alice@example.com", "pw").unwrap();
    let listed: Vec<String> = store
        .list()
        .unwrap()
        .into_iter()
        .map(Address::into_string)
        .collect();
    assert_eq!(listed, ["alice@example.com", "bob@example.com"]);

    assert_eq!(
        store
            .delete("Bob@Example.com", Retention::Keep)
            .unwrap()
            .address
            .as_str(),
        "bob@example.com"
    );
    assert_eq!(
        check(&store, "bob@example.com", "pw"),
        Verification::Invalid
    );
    assert_eq!(
        store.list().unwrap(),
        vec![Address::parse("alice@example.com", &domains()).unwrap()]
    );
    match store.delete("bob@example.com", Retention::Keep) {
        Err(AccountError::Unknown(a)) => assert_eq!(a.as_str(), "bob@example.com"),
        other => panic!("{other:?}"),
    }
    match store.delete("bob@elsewhere.net", Retention::Keep) {
        Err(AccountError::NotLocal { domain }) => assert_eq!(domain, "elsewhere.net"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_running_store_sees_changes_made_by_another_instance() {
    let dir = tempfile::tempdir().unwrap();
    let server = open(dir.path());
    assert_eq!(
        check(&server, "alice@example.com", "pw"),
        Verification::Invalid
    );

    let cli = open(dir.path());
    cli.add("alice@example.com", "pw").unwrap();
    assert_eq!(
        check(&server, "alice@example.com", "pw"),
        success(&server, "alice@example.com")
    );
    open(dir.path())
        .set_password("alice@example.com", "pw2")
        .unwrap();
    assert_eq!(
        check(&server, "alice@example.com", "pw"),
        Verification::Invalid
    );
    assert_eq!(
        check(&server, "alice@example.com", "pw2"),
        success(&server, "alice@example.com")
    );
    cli.delete("alice@example.com", Retention::Purge).unwrap();
    assert_eq!(
        check(&server, "alice@example.com", "pw2"),
        Verification::Invalid
    );
}

#[test]
fn the_file_holds_a_header_and_argon2id_hashes_with_mode_0600() {
    let (dir, store) = store();
    store.add("bob@example.com", "hunter2hunter2").unwrap();
    store.add("alice@example.com", "hunter2hunter2").unwrap();
    let path = dir.path().join("data/accounts");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("hunter2"));
    let lines: Vec<&str> = text.lines().collect();
    let header_lines = HEADER.lines().count();
    assert_eq!(lines.len(), header_lines + 2, "{text}");
    assert_eq!(format!("{}\n", lines[..header_lines].join("\n")), HEADER);
    for (line, address) in lines[header_lines..]
        .iter()
        .zip(["alice@example.com", "bob@example.com"])
    {
        let (a, rest) = line.split_once(':').unwrap();
        assert_eq!(a, address);
        let (incarnation, hash) = rest.split_once(':').unwrap();
        assert!(
            Incarnation::parse(incarnation).is_some_and(|i| i.0 != 0),
            "{line}"
        );
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
    }
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Nothing but the file, its lock and no leftover temporary file.
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["accounts", "accounts.lock"]);
}

#[test]
fn non_local_domains_and_bad_addresses_are_refused() {
    let (_dir, store) = store();
    match store.add("bob@elsewhere.net", "pw") {
        Err(AccountError::NotLocal { domain }) => assert_eq!(domain, "elsewhere.net"),
        other => panic!("{other:?}"),
    }
    for bad in [
        "bob",
        "bob@",
        "b ob@example.com",
        "b:ob@example.com",
        "a@b@example.com",
    ] {
        assert!(
            matches!(store.add(bad, "pw"), Err(AccountError::BadAddress { .. })),
            "{bad:?}"
        );
    }
    assert_eq!(store.list().unwrap(), Vec::<Address>::new());
}

#[test]
fn passwords_must_be_non_empty_and_at_most_1024_bytes() {
    let (_dir, store) = store();
    assert_eq!(
        store.add("a@example.com", "").unwrap_err().to_string(),
        "unacceptable password: empty"
    );
    assert_eq!(
        store
            .add("a@example.com", &"x".repeat(1025))
            .unwrap_err()
            .to_string(),
        "unacceptable password: longer than 1024 bytes"
    );
    let longest = "x".repeat(1024);
    store.add("a@example.com", &longest).unwrap();
    assert_eq!(
        check(&store, "a@example.com", &longest),
        success(&store, "a@example.com")
    );
}

#[test]
fn an_unreadable_or_corrupt_file_is_a_temporary_failure() {
    let (dir, store) = store();
    store.add("alice@example.com", "pw").unwrap();
    let path = dir.path().join("data/accounts");
    std::fs::write(&path, "alice@example.com:plaintext\n").unwrap();
    assert_eq!(
        check(&store, "alice@example.com", "pw"),
        Verification::Unavailable
    );
    assert_eq!(
        store.list().unwrap_err().to_string(),
        format!("{}, line 1: not an argon2id hash", path.display())
    );
    // Writers refuse to rewrite (and so lose) a file they cannot parse.
    assert!(matches!(
        store.add("bob@example.com", "pw"),
        Err(AccountError::Corrupt { line: 1, .. })
    ));
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert_eq!(
        check(&store, "alice@example.com", "pw"),
        Verification::Unavailable
    );
}

#[test]
fn file_parsing_skips_comments_and_rejects_bad_lines() {
    let hash = DUMMY_HASH;
    let ok = parse(&format!("# c\n\nA@Example.com:{hash}\n")).unwrap();
    assert_eq!(
        ok.live.keys().map(Address::as_str).collect::<Vec<_>>(),
        ["a@example.com"]
    );
    assert_eq!(parse("no colon\n"), Err((1, "missing `:`")));
    assert_eq!(
        parse(&format!("bad:{hash}\n")),
        Err((1, "not a valid address"))
    );
    assert_eq!(
        parse("a@example.com:$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g\n"),
        Err((1, "not an argon2id hash"))
    );
    assert_eq!(
        parse(&format!("a@example.com:{hash}\n#\nA@example.com:{hash}\n")),
        Err((3, "duplicate address"))
    );
    assert_eq!(
        parse(&format!("a@example.com:12345:{hash}\n")),
        Err((1, "bad incarnation"))
    );
    assert_eq!(
        parse(&format!("!a@example.com:00000000000000ab:17:gone:{hash}\n")),
        Err((1, "retention is neither `keep` nor `purge`"))
    );
    assert_eq!(
        parse(&format!(
            "a@example.com:00000000000000ab:{hash}\n!a@example.com:00000000000000ab:17:keep:{hash}\n"
        )),
        Err((2, "duplicate incarnation"))
    );
}

/// A store over an accounts file as versions before incarnations wrote it: alice's line with
/// no incarnation, no SCRAM keys and no set time.
fn legacy_store() -> (tempfile::TempDir, AccountStore) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("accounts"),
        format!("alice@example.com:{DUMMY_HASH}\n"),
    )
    .unwrap();
    let store = open(dir.path());
    (dir, store)
}

#[test]
fn files_written_before_incarnations_keep_their_mail_under_the_bare_address() {
    let (dir, store) = legacy_store();
    let alice = store.lookup("alice@example.com").unwrap().unwrap();
    assert_eq!(alice.incarnation, Incarnation(0));
    assert_eq!(alice.store_key(), "alice@example.com");
    // Another account written to the file leaves the old line as it was.
    store.add("bob@example.com", "pw").unwrap();
    let text = std::fs::read_to_string(dir.path().join("accounts")).unwrap();
    assert!(
        text.contains(&format!("\nalice@example.com:{DUMMY_HASH}\n")),
        "{text}"
    );
}

#[test]
fn a_recreated_account_is_a_new_incarnation_and_never_an_old_one() {
    let (_dir, store) = store();
    store.add("bob@example.com", "first").unwrap();
    let first = store.lookup("bob@example.com").unwrap().unwrap();
    assert_ne!(first.incarnation, Incarnation(0));
    assert_eq!(
        first.store_key(),
        format!("bob@example.com#{}", first.incarnation)
    );
    let deleted = store.delete("bob@example.com", Retention::Keep).unwrap();
    assert_eq!(deleted, first);
    assert_eq!(store.lookup("bob@example.com").unwrap(), None);
    store.add("bob@example.com", "second").unwrap();
    let second = store.lookup("bob@example.com").unwrap().unwrap();
    assert_ne!(second.incarnation, first.incarnation);
    assert_ne!(second.store_key(), first.store_key());
    assert_eq!(
        check(&store, "bob@example.com", "first"),
        Verification::Invalid
    );
    assert_eq!(
        check(&store, "bob@example.com", "second"),
        success(&store, "bob@example.com")
    );
    // The first is kept, invisible, and cannot come back while the second exists.
    let deleted = store.list_deleted().unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].account, first);
    assert_eq!(deleted[0].retention, Retention::Keep);
    assert!(matches!(
        store.restore("bob@example.com", None),
        Err(AccountError::Exists(_))
    ));
}

#[test]
fn restore_brings_back_the_kept_incarnation_with_its_password() {
    let (_dir, store) = store();
    store.add("bob@example.com", "first").unwrap();
    let first = store.delete("bob@example.com", Retention::Keep).unwrap();
    store.add("bob@example.com", "second").unwrap();
    let second = store.delete("bob@example.com", Retention::Keep).unwrap();
    // The one deleted last by default, or the one named.
    let restored = store
        .restore("BOB@example.com", Some(first.incarnation))
        .unwrap();
    assert_eq!(restored, first);
    assert_eq!(
        check(&store, "bob@example.com", "first"),
        success(&store, "bob@example.com")
    );
    store.delete("bob@example.com", Retention::Keep).unwrap();
    assert_eq!(store.restore("bob@example.com", None).unwrap(), first);
    store.delete("bob@example.com", Retention::Keep).unwrap();
    assert_eq!(
        store
            .restore("bob@example.com", Some(second.incarnation))
            .unwrap(),
        second
    );
    assert!(matches!(
        store.restore("carol@example.com", None),
        Err(AccountError::NothingToRestore(_))
    ));
}

#[test]
fn purged_accounts_cannot_be_restored_and_are_reported_to_the_server() {
    let (_dir, store) = store();
    store.add("alice@example.com", "pw").unwrap();
    store.add("bob@example.com", "pw").unwrap();
    let bob = store.delete("bob@example.com", Retention::Purge).unwrap();
    let keys = store.changes(None).unwrap().unwrap();
    assert_eq!(
        keys.deleted,
        std::collections::HashSet::from([bob.store_key()])
    );
    assert_eq!(keys.purge, [bob.store_key()]);
    assert_eq!(store.changes(Some(keys.version)).unwrap(), None);
    assert!(matches!(
        store.restore("bob@example.com", None),
        Err(AccountError::NothingToRestore(_))
    ));

    // A kept account can be purged later.
    let alice = store.delete("alice@example.com", Retention::Keep).unwrap();
    let keys = store.changes(Some(keys.version)).unwrap().unwrap();
    assert_eq!(
        keys.deleted,
        std::collections::HashSet::from([bob.store_key(), alice.store_key()])
    );
    assert_eq!(keys.purge, [bob.store_key()]);
    assert_eq!(
        store.purge("alice@example.com", None).unwrap(),
        std::slice::from_ref(&alice)
    );
    let keys = store.changes(Some(keys.version)).unwrap().unwrap();
    assert_eq!(keys.purge, [bob.store_key(), alice.store_key()]);
    assert!(matches!(
        store.purge("alice@example.com", None),
        Err(AccountError::NothingToRestore(_))
    ));
}

#[test]
fn dummy_hash_costs_what_a_real_one_costs() {
    fn cost(phc: &str) -> (argon2::password_hash::Ident<'_>, u32, u32, u32, usize) {
        let hash = PasswordHash::new(phc).unwrap();
        let params = Params::try_from(&hash).unwrap();
        let output_len = hash.hash.unwrap().len();
        let (m, t, p) = (params.m_cost(), params.t_cost(), params.p_cost());
        (hash.algorithm, m, t, p, output_len)
    }
    let defaults = Params::default();
    assert_eq!(
        (defaults.m_cost(), defaults.t_cost(), defaults.p_cost()),
        (19456, 2, 1)
    );
    let real = hash_password("pw").unwrap();
    assert_eq!(cost(DUMMY_HASH), cost(&real));
    assert_eq!(
        cost(DUMMY_HASH),
        (argon2::Algorithm::Argon2id.ident(), 19456, 2, 1, 32)
    );
}

#[test]
fn concurrent_writers_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let data = dir.path().to_path_buf();
            std::thread::spawn(move || {
                // One store each, as separate `ringpost user add` processes would have.
                let store = open(&data);
                store.add(&format!("user{i}@example.com"), "pw").unwrap();
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let listed: Vec<String> = AccountStore::open(dir.path(), &domains())
        .unwrap()
        .list()
        .unwrap()
        .into_iter()
        .map(Address::into_string)
        .collect();
    let expected: Vec<String> = (0..8).map(|i| format!("user{i}@example.com")).collect();
    assert_eq!(listed, expected);
}

fn login(
    store: &AccountStore,
    password: &str,
    scope: Scope,
    mode: ProtocolPasswords,
) -> Option<String> {
    match store.verify("alice@example.com", password, scope, mode) {
        Verification::Valid { credential, .. } => Some(credential.id),
        _ => None,
    }
}

#[test]
fn protocol_passwords_are_apart_from_the_web_password_in_separate_mode() {
    let (_dir, store) = store();
    store.add("alice@example.com", "web-password-1").unwrap();
    let (same, separate) = (ProtocolPasswords::SameAsWeb, ProtocolPasswords::Separate);
    // Same as web: today's one password everywhere.
    assert_eq!(
        login(&store, "web-password-1", Scope::Imap, same).as_deref(),
        Some("web")
    );
    // Separate, none set yet: no mail protocol login, the web still works.
    assert_eq!(login(&store, "web-password-1", Scope::Imap, separate), None);
    assert_eq!(
        login(&store, "web-password-1", Scope::Web, separate).as_deref(),
        Some("web")
    );
    store
        .set_protocol_password("alice@example.com", "mail-password-1")
        .unwrap();
    let listed = store.credentials("alice@example.com", separate).unwrap();
    // The web password comes first, for the web only in separate mode, with its set time.
    assert_eq!(listed[0].kind, CredentialKind::Web);
    assert_eq!(listed[0].id, "web");
    assert_eq!(listed[0].scopes, Scopes::parse("web").unwrap());
    assert!(listed[0].created > 1_700_000_000, "{}", listed[0].created);
    let protocol = listed[1].clone();
    assert_eq!(protocol.kind, CredentialKind::Protocol);
    for scope in [Scope::Imap, Scope::Pop3, Scope::Smtp, Scope::Dav] {
        assert_eq!(
            login(&store, "mail-password-1", scope, separate),
            Some(protocol.id.clone())
        );
        assert_eq!(login(&store, "web-password-1", scope, separate), None);
    }
    // Never the web's, and in same-as-web mode the mail protocols take the web password only.
    assert_eq!(login(&store, "mail-password-1", Scope::Web, separate), None);
    assert_eq!(login(&store, "mail-password-1", Scope::Imap, same), None);
    // Setting it again replaces it (the previous one again is fine, as the seed says).
    store
        .set_protocol_password("alice@example.com", "mail-password-1")
        .unwrap();
    let again = store.credentials("alice@example.com", same).unwrap();
    assert_eq!(again.len(), 2);
    assert_eq!(
        again[0].scopes,
        Scopes::parse("web,imap,pop3,smtp,dav").unwrap()
    );
    assert_ne!(again[1].id, protocol.id);
    assert!(matches!(
        store.revoke("alice@example.com", "WEB"),
        Err(AccountError::WebPasswordStays)
    ));
}

#[test]
fn app_passwords_are_generated_scoped_and_revocable() {
    let (_dir, store) = store();
    store.add("alice@example.com", "web-password-1").unwrap();
    let scopes = Scopes::parse("imap,smtp").unwrap();
    let (app, password) = store
        .add_app_password("alice@example.com", "Thunderbird at home: laptop", scopes)
        .unwrap();
    let shown = password.0.clone();
    assert_eq!(shown.len(), 23, "{shown}");
    assert!(shown
        .split('-')
        .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_lowercase())));
    let separate = ProtocolPasswords::Separate;
    assert_eq!(
        login(&store, &shown, Scope::Imap, separate),
        Some(app.id.clone())
    );
    // Typed without the dashes, or in capitals, on a phone.
    let typed = shown.replace('-', " ").to_uppercase();
    assert_eq!(
        login(&store, &typed, Scope::Smtp, separate),
        Some(app.id.clone())
    );
    // Outside its scopes: no.
    assert_eq!(login(&store, &shown, Scope::Pop3, separate), None);
    assert_eq!(login(&store, &shown, Scope::Web, separate), None);
    // The file keeps the name (with its `:`) and only a digest of the password.
    let text = std::fs::read_to_string(store.path().unwrap()).unwrap();
    assert!(text.contains("Thunderbird at home%3A laptop"), "{text}");
    assert!(!text.contains(&shown));
    let listed = store.credentials("alice@example.com", separate).unwrap();
    assert_eq!(listed[1].name, "Thunderbird at home: laptop");
    assert_eq!(listed[1].scopes, scopes);
    let revoked = store.revoke("alice@example.com", &app.id).unwrap();
    assert_eq!(revoked.id, app.id);
    assert_eq!(login(&store, &shown, Scope::Imap, separate), None);
    assert!(matches!(
        store.revoke("alice@example.com", &app.id),
        Err(AccountError::NoSuchCredential(_))
    ));
}

#[test]
fn a_changed_or_revoked_credential_is_no_longer_current() {
    let (_dir, store) = store();
    store.add("alice@example.com", "web-password-1").unwrap();
    let (app, password) = store
        .add_app_password("alice@example.com", "phone", Scopes::PROTOCOLS)
        .unwrap();
    let used = |p: &str| match store.verify(
        "alice@example.com",
        p,
        Scope::Imap,
        ProtocolPasswords::SameAsWeb,
    ) {
        Verification::Valid { credential, .. } => credential,
        other => panic!("{other:?}"),
    };
    let web = used("web-password-1");
    let phone = used(&password.0);
    assert!(store.credential_current("alice@example.com", &web));
    assert!(store.credential_current("alice@example.com", &phone));
    store
        .set_password("alice@example.com", "web-password-2")
        .unwrap();
    store.version().unwrap();
    assert!(!store.credential_current("alice@example.com", &web));
    assert!(store.credential_current("alice@example.com", &phone));
    store.revoke("alice@example.com", &app.id).unwrap();
    store.version().unwrap();
    assert!(!store.credential_current("alice@example.com", &phone));
}

#[test]
fn the_password_policy_applies_to_new_passwords_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = AccountStore::open(dir.path(), &domains()).unwrap();
    for weak in ["short", "alice@example.com", "ALICE@EXAMPLE.COM", "alice"] {
        let mut policy = PasswordPolicy::default();
        if weak == "alice" {
            policy.min_length = 3;
        }
        store.set_policy(policy);
        assert!(
            matches!(
                store.add("alice@example.com", weak),
                Err(AccountError::WeakPassword(_))
            ),
            "{weak}"
        );
    }
    store.set_policy(PasswordPolicy::default());
    store.add("alice@example.com", "long-enough-1").unwrap();
    assert!(matches!(
        store.set_protocol_password("alice@example.com", "short"),
        Err(AccountError::WeakPassword(_))
    ));
    // A shorter policy later does not lock anyone out, a longer one does not either.
    store.set_policy(PasswordPolicy {
        min_length: 30,
        ..PasswordPolicy::default()
    });
    assert_eq!(
        login(
            &store,
            "long-enough-1",
            Scope::Imap,
            ProtocolPasswords::SameAsWeb
        )
        .as_deref(),
        Some("web")
    );
}

#[test]
fn credential_lines_round_trip_and_bad_ones_are_refused() {
    let (_dir, store) = store();
    store.add("alice@example.com", "web-password-1").unwrap();
    store
        .set_protocol_password("alice@example.com", "mail-password-1")
        .unwrap();
    store
        .add_app_password("alice@example.com", "a%b:c", Scopes::parse("dav").unwrap())
        .unwrap();
    let text = std::fs::read_to_string(store.path().unwrap()).unwrap();
    let records = parse(&text).unwrap();
    assert_eq!(records::render(HEADER, &records), text);
    let line = text
        .lines()
        .find(|l| l.starts_with('+'))
        .unwrap()
        .to_string();
    for (bad, why) in [
        (
            line.replacen("+alice", "+bob", 1),
            "a credential of no account above it",
        ),
        (
            line.replacen(":protocol:", ":token:", 1),
            "credential kind is neither `protocol` nor `app`",
        ),
        (
            line.replacen(":imap,pop3,smtp,dav:", ":imap,ftp:", 1),
            "bad scopes",
        ),
    ] {
        let broken = format!("{text}{bad}\n");
        assert_eq!(parse(&broken).unwrap_err().1, why, "{bad}");
    }
    // A second line with the same id; a second protocol password.
    let app = text.lines().rev().find(|l| l.starts_with('+')).unwrap();
    assert_eq!(
        parse(&format!("{text}{app}\n")).unwrap_err().1,
        "duplicate credential id"
    );
    assert_eq!(
        parse(&format!("{text}{line}\n")).unwrap_err().1,
        "a second protocol password"
    );
}

#[test]
fn last_use_is_kept_in_memory_then_written() {
    let (dir, store) = store();
    store.add("alice@example.com", "web-password-1").unwrap();
    store.note_use("alice@example.com", "web");
    store.note_use("alice@example.com", "0badc0de");
    let uses = store.last_uses("alice@example.com").unwrap();
    assert!(uses.contains_key("web"));
    store.flush_uses().unwrap();
    let written = std::fs::read_to_string(dir.path().join("data/credentials.used")).unwrap();
    assert!(written.contains("alice@example.com web "), "{written}");
    // A credential that does not exist is not written.
    assert!(!written.contains("0badc0de"), "{written}");
    let fresh = open(&dir.path().join("data"));
    assert!(fresh
        .last_uses("alice@example.com")
        .unwrap()
        .contains_key("web"));
}

/// Every password set keeps its SCRAM keys next to its hash; they check the password the
/// way a SCRAM server would (the stored key is H(HMAC(salted password, "Client Key"))), and
/// lines written before them still read.
#[test]
fn new_passwords_keep_scram_keys_and_old_lines_still_read() {
    use crate::scram::ScramKeys;
    let (_dir, store) = store();
    store.add("alice@example.com", "web-password-1").unwrap();
    store
        .set_protocol_password("alice@example.com", "mail-password-1")
        .unwrap();
    let (_, app) = store
        .add_app_password("alice@example.com", "phone", Scopes::PROTOCOLS)
        .unwrap();
    let snapshot = store.current().unwrap();
    let entry = &snapshot.records.live[&Address::parse_syntax("alice@example.com").unwrap()];
    let check = |text: &Option<String>, password: &str| {
        let keys = ScramKeys::parse(text.as_deref().expect("SCRAM keys")).unwrap();
        assert_eq!(keys.iterations, crate::scram::DEFAULT_ITERATIONS);
        let again = ScramKeys::derive(password, &keys.salt, keys.iterations);
        assert_eq!(again, keys, "{password}");
    };
    check(&entry.scram, "web-password-1");
    check(&entry.credentials[0].scram, "mail-password-1");
    check(&entry.credentials[1].scram, &app.0);
    // One salt per account: one SCRAM exchange can check any of its passwords.
    let salt = |t: &Option<String>| ScramKeys::parse(t.as_deref().unwrap()).unwrap().salt;
    assert_eq!(salt(&entry.scram), salt(&entry.credentials[0].scram));
    assert_eq!(salt(&entry.scram), salt(&entry.credentials[1].scram));
    let text = std::fs::read_to_string(store.path().unwrap()).unwrap();
    assert_eq!(records::render(HEADER, &parse(&text).unwrap()), text);
    // Lines as earlier versions wrote them: no SCRAM field, with and without incarnation.
    let hash = &entry.hash;
    let old = format!(
        "alice@example.com:{hash}\nbob@example.com:7f3c9a10e2b4d658:{hash}\n+bob@example.com:0badc0de:app:imap:1:x:sha256${}\n",
        "0".repeat(64)
    );
    let records = parse(&old).unwrap();
    assert!(records.live.values().all(|e| e.scram.is_none()));
    // And with one, without an incarnation.
    let scram = entry.scram.clone().unwrap();
    let legacy = parse(&format!("carol@example.com:{hash}:{scram}\n")).unwrap();
    let carol = legacy.live.values().next().unwrap();
    assert_eq!(
        (carol.incarnation, carol.scram.as_deref()),
        (Incarnation(0), Some(scram.as_str()))
    );
    assert_eq!(
        parse(&format!("carol@example.com:{hash}:scram-sha-256$x\n"))
            .unwrap_err()
            .1,
        "bad SCRAM keys"
    );
}

#[test]
fn the_web_password_keeps_when_it_was_set_and_old_lines_gain_it_when_changed() {
    let (dir, store) = legacy_store();
    let same = ProtocolPasswords::SameAsWeb;
    let listed = store.credentials("alice@example.com", same).unwrap();
    assert_eq!((listed[0].id.as_str(), listed[0].created), ("web", 0));
    // Changing the password records when; the incarnation (0: the mail stays under the bare
    // address) is now written out so the line has room for the time.
    store
        .set_password("alice@example.com", "web-password-2")
        .unwrap();
    let text = std::fs::read_to_string(dir.path().join("accounts")).unwrap();
    assert!(
        text.contains("\nalice@example.com:0000000000000000:$argon2id$"),
        "{text}"
    );
    let alice = store.lookup("alice@example.com").unwrap().unwrap();
    assert_eq!(alice.store_key(), "alice@example.com");
    let listed = store.credentials("alice@example.com", same).unwrap();
    assert!(listed[0].created > 1_700_000_000);
    assert!(matches!(
        check(&store, "alice@example.com", "web-password-2"),
        Verification::Valid { .. }
    ));
    assert_eq!(records::render(HEADER, &parse(&text).unwrap()), text);
    // A set time without SCRAM keys (an empty field) reads back as such.
    let line = format!("bob@example.com:7f3c9a10e2b4d658:{DUMMY_HASH}::1796000000\n");
    let records = parse(&line).unwrap();
    let bob = records.live.values().next().unwrap();
    assert_eq!((bob.scram.as_deref(), bob.set), (None, Some(1_796_000_000)));
    assert_eq!(records::render("", &records), line);
    assert!(parse(&format!(
        "bob@example.com:7f3c9a10e2b4d658:{DUMMY_HASH}::soon\n"
    ))
    .is_err());
}

#[test]
fn quota_limits_are_kept_per_account_over_the_defaults() {
    use crate::mail::QuotaLimits;
    let (dir, store) = store();
    store.add("alice@example.com", "correct horse 1").unwrap();
    store.add("bob@example.com", "correct horse 2").unwrap();
    let defaults = QuotaLimits {
        storage: Some(1000),
        messages: None,
    };
    // No settings of its own: the defaults.
    assert_eq!(
        store.quota_limits("Alice@Example.com", defaults).unwrap(),
        Some(defaults)
    );
    assert_eq!(
        store.quota_limits("nobody@example.com", defaults).unwrap(),
        None
    );
    store
        .set_quota(
            "alice@example.com",
            QuotaOverride {
                storage: Limit::Unlimited,
                messages: Limit::At(10),
            },
        )
        .unwrap();
    assert_eq!(
        store.quota_limits("alice@example.com", defaults).unwrap(),
        Some(QuotaLimits {
            storage: None,
            messages: Some(10)
        })
    );
    // The file keeps it as an `=` line after the account's, and reads it back.
    let text = std::fs::read_to_string(dir.path().join("data/accounts")).unwrap();
    assert!(
        text.contains("\n=alice@example.com:quota:storage=none:messages=10\n"),
        "{text}"
    );
    let reopened = open(&dir.path().join("data"));
    assert_eq!(
        reopened.quota("alice@example.com").unwrap(),
        QuotaOverride {
            storage: Limit::Unlimited,
            messages: Limit::At(10),
        }
    );
    assert_eq!(
        reopened.quota("bob@example.com").unwrap(),
        QuotaOverride::default()
    );
    // Back to the defaults: the line goes.
    reopened
        .set_quota("alice@example.com", QuotaOverride::default())
        .unwrap();
    let text = std::fs::read_to_string(dir.path().join("data/accounts")).unwrap();
    assert!(!text.contains("=alice"), "{text}");
    assert!(matches!(
        reopened.set_quota("nobody@example.com", QuotaOverride::default()),
        Err(AccountError::Unknown(_))
    ));
}

#[test]
fn malformed_quota_lines_are_refused_with_their_line() {
    let (dir, store) = store();
    store.add("alice@example.com", "correct horse 1").unwrap();
    let path = dir.path().join("data/accounts");
    let good = std::fs::read_to_string(&path).unwrap();
    for (line, reason) in [
        ("=alice@example.com:quota:storage=lots", "bad quota limit"),
        (
            "=alice@example.com:quota:storage=default",
            "bad quota limit",
        ),
        ("=alice@example.com:quota:disk=5", "unknown quota resource"),
        (
            "=alice@example.com:color:blue",
            "an `=` line must be `quota`",
        ),
        (
            "=carol@example.com:quota:storage=5",
            "a setting of no account above it",
        ),
    ] {
        std::fs::write(&path, format!("{good}{line}\n")).unwrap();
        let e = AccountStore::open(&dir.path().join("data"), &domains())
            .err()
            .unwrap_or_else(|| panic!("{line} was accepted"));
        assert!(e.to_string().contains(reason), "{line}: {e}");
    }
}
