//! The PostgreSQL account backend (`[accounts] backend = "postgres"`) against a real, throwaway
//! PostgreSQL cluster (tests/support/pg.rs): what the file backend does, done on tables;
//! migrations applied once when hosts start at once; two hosts on one database seeing each
//! other's changes and losing no update; a database that goes away and comes back; the
//! password file; the one-shot import of an accounts file (and a server moved from the file
//! with it); a server whose logins are checked against PostgreSQL; and TLS to PostgreSQL
//! (the server's certificate and name verified, client certificates). The workspace's
//! sessions kept in the database: the migration that adds them to a database of the first
//! schema, the requests themselves, and two servers on one database sharing a browser's
//! sign-in (a restart keeping it, nobody let in while the database is away).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::sync::Arc;

use ringpost::accounts::{
    AccountError, AccountStore, CredentialKind, CredentialUse, Limit, PasswordPolicy,
    ProtocolPasswords, QuotaOverride, Retention, Scope, Scopes, StoredWebSession, Verification,
    WebSessionLimits, SCHEMA_VERSION,
};
use ringpost::config::Config;
use support::pg::{ClientAuth, Postgres};
use support::{Options, Server, ALICE, BOB};

/// The configuration of a host whose accounts are in `dbname`.
fn config(pg: &Postgres, dbname: &str, data_dir: &Path) -> Config {
    let text = format!(
        "[server]\nhostname = \"mail.example.com\"\ndata_dir = \"{}\"\n\
         [domains]\nlocal = [\"example.com\"]\n\
         [accounts]\nbackend = \"postgres\"\npostgres = \"{}\"\n\
         [[listener]]\nprotocol = \"imap\"\naddress = \"127.0.0.1:1143\"\ntls = \"starttls\"\n",
        data_dir.display(),
        pg.connection(dbname)
    );
    Config::parse(&text, Path::new("/etc/ringpost/ringpost.toml")).unwrap()
}

/// A host's account store on `dbname`, taking the short passwords these tests use.
fn host(pg: &Postgres, dbname: &str) -> AccountStore {
    let dir = std::env::temp_dir();
    let store = AccountStore::open_configured(&config(pg, dbname, &dir)).unwrap();
    store.set_policy(PasswordPolicy {
        min_length: 1,
        ..PasswordPolicy::default()
    });
    store
}

fn imap(store: &AccountStore, user: &str, password: &str) -> Verification {
    store.verify(user, password, Scope::Imap, ProtocolPasswords::SameAsWeb)
}

fn is_valid(v: &Verification) -> bool {
    matches!(v, Verification::Valid { .. })
}

#[test]
fn accounts_behave_on_postgres_as_in_the_file() {
    let Some(pg) = Postgres::start() else { return };
    pg.create_database("accounts");
    let store = host(&pg, "accounts");
    let seen = store.changes(None).unwrap().unwrap();

    // add, verify (any case), wrong password and unknown user alike.
    store.add("Alice@Example.com", "alice-pass").unwrap();
    assert!(matches!(
        store.add("alice@example.com", "other"),
        Err(AccountError::Exists(_))
    ));
    let Verification::Valid {
        account, store_key, ..
    } = imap(&store, "ALICE@example.com", "alice-pass")
    else {
        panic!("alice refused");
    };
    assert_eq!(account, "alice@example.com");
    let first = store.lookup("alice@example.com").unwrap().unwrap();
    assert_eq!(store_key, first.store_key());
    assert_eq!(
        imap(&store, "alice@example.com", "nope"),
        Verification::Invalid
    );
    assert_eq!(
        imap(&store, "nobody@example.com", "nope"),
        Verification::Invalid
    );
    assert!(matches!(
        store.add("x@elsewhere.org", "pw"),
        Err(AccountError::NotLocal { .. })
    ));
    // SCRAM keys were kept with the password.
    let scram = store
        .scram_keys(
            "alice@example.com",
            Scope::Imap,
            ProtocolPasswords::SameAsWeb,
        )
        .unwrap();
    assert_eq!(scram.store_key, first.store_key());

    // passwd: the old password goes, the incarnation stays.
    store
        .set_password("alice@example.com", "alice-new")
        .unwrap();
    assert_eq!(
        imap(&store, "alice@example.com", "alice-pass"),
        Verification::Invalid
    );
    assert!(is_valid(&imap(&store, "alice@example.com", "alice-new")));
    assert_eq!(store.lookup("alice@example.com").unwrap().unwrap(), first);

    // Protocol and app passwords, in order, revocable.
    store
        .set_protocol_password("alice@example.com", "mail-only")
        .unwrap();
    let (app, secret) = store
        .add_app_password("alice@example.com", "Phone: work", Scopes::PROTOCOLS)
        .unwrap();
    let credentials = store
        .credentials("alice@example.com", ProtocolPasswords::Separate)
        .unwrap();
    let kinds: Vec<CredentialKind> = credentials.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            CredentialKind::Web,
            CredentialKind::Protocol,
            CredentialKind::App
        ]
    );
    assert_eq!(credentials[2].name, "Phone: work");
    assert!(is_valid(&store.verify(
        "alice@example.com",
        "mail-only",
        Scope::Imap,
        ProtocolPasswords::Separate
    )));
    let Verification::Valid { credential, .. } = imap(&store, "alice@example.com", &secret.0)
    else {
        panic!("app password refused");
    };
    assert_eq!(credential.id, app.id);
    assert!(store.credential_current("alice@example.com", &credential));

    // Last uses go to the database.
    store.note_use("alice@example.com", &app.id);
    store.flush_uses().unwrap();
    assert!(store
        .last_uses("alice@example.com")
        .unwrap()
        .contains_key(&app.id));

    store.revoke("alice@example.com", &app.id).unwrap();
    assert_eq!(
        imap(&store, "alice@example.com", &secret.0),
        Verification::Invalid
    );
    assert!(!store.credential_current("alice@example.com", &credential));

    // Quotas.
    let quota = QuotaOverride {
        storage: Limit::At(1 << 20),
        messages: Limit::Unlimited,
    };
    store.set_quota("alice@example.com", quota).unwrap();
    assert_eq!(store.quota("alice@example.com").unwrap(), quota);
    let limits = store
        .quota_limits("alice@example.com", Default::default())
        .unwrap()
        .unwrap();
    assert_eq!(limits.storage, Some(1 << 20));

    // delete (kept), the server hears of it, restore, delete and purge, re-create.
    let deleted = store.delete("alice@example.com", Retention::Keep).unwrap();
    assert_eq!(deleted, first);
    assert_eq!(
        imap(&store, "alice@example.com", "alice-new"),
        Verification::Invalid
    );
    assert_eq!(store.lookup("alice@example.com").unwrap(), None);
    let keys = store.changes(Some(seen.version)).unwrap().unwrap();
    assert!(keys.deleted.contains(&first.store_key()));
    assert!(keys.purge.is_empty());
    assert_eq!(store.changes(Some(keys.version)).unwrap(), None);
    assert_eq!(store.restore("alice@example.com", None).unwrap(), first);
    assert!(is_valid(&imap(&store, "alice@example.com", "alice-new")));
    store.delete("alice@example.com", Retention::Keep).unwrap();
    assert_eq!(
        store.purge("alice@example.com", None).unwrap(),
        vec![first.clone()]
    );
    let keys = store.changes(Some(keys.version)).unwrap().unwrap();
    assert_eq!(keys.purge, vec![first.store_key()]);
    store.add("alice@example.com", "again").unwrap();
    let second = store.lookup("alice@example.com").unwrap().unwrap();
    assert_ne!(second.incarnation, first.incarnation);
    assert!(matches!(
        store.restore("alice@example.com", None),
        Err(AccountError::Exists(_))
    ));
    let deleted = store.list_deleted().unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].account, first);
    assert_eq!(deleted[0].retention, Retention::Purge);
    assert_eq!(
        store
            .list()
            .unwrap()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        ["alice@example.com"]
    );
}

#[test]
fn migrations_run_once_when_hosts_start_at_once() {
    let Some(pg) = Postgres::start() else { return };
    pg.create_database("fresh");
    let pg = Arc::new(pg);
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let pg = pg.clone();
            std::thread::spawn(move || host(&pg, "fresh"))
        })
        .collect();
    let hosts: Vec<AccountStore> = starts.into_iter().map(|h| h.join().unwrap()).collect();
    let versions: Vec<i32> = pg
        .client("fresh")
        .query("SELECT version FROM schema_version ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    // Again: nothing to do.
    assert_eq!(
        hosts[0].migrate().unwrap(),
        Some((SCHEMA_VERSION, SCHEMA_VERSION))
    );
    hosts[1].add("bob@example.com", "bob-pass").unwrap();
    assert!(is_valid(&imap(&hosts[2], "bob@example.com", "bob-pass")));
}

#[test]
fn two_hosts_see_each_others_changes_and_lose_no_update() {
    let Some(pg) = Postgres::start() else { return };
    pg.create_database("shared");
    let (a, b) = (Arc::new(host(&pg, "shared")), Arc::new(host(&pg, "shared")));

    a.add("alice@example.com", "alice-pass").unwrap();
    // B's cached paths (lookup) hear of it at its next poll; verification asks at once.
    let seen = b.changes(None).unwrap().unwrap().version;
    assert!(is_valid(&imap(&b, "alice@example.com", "alice-pass")));
    assert!(b.lookup("alice@example.com").unwrap().is_some());
    b.set_password("alice@example.com", "changed-on-b").unwrap();
    assert_eq!(
        imap(&a, "alice@example.com", "alice-pass"),
        Verification::Invalid
    );
    assert!(is_valid(&imap(&a, "alice@example.com", "changed-on-b")));
    b.delete("alice@example.com", Retention::Keep).unwrap();
    let keys = a.changes(Some(seen)).unwrap().unwrap();
    assert_eq!(keys.deleted.len(), 1);

    // Writers on both hosts at once: every add is kept.
    let writers: Vec<_> = [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
        .map(|(w, host)| {
            std::thread::spawn(move || {
                for i in 0..5 {
                    host.add(&format!("user{w}-{i}@example.com"), "pw").unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(a.list().unwrap().len(), 20);
    assert_eq!(b.list().unwrap().len(), 20);

    // One address deleted and made again from both hosts at once: every incarnation is new.
    let churn: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|host| {
            std::thread::spawn(move || {
                for _ in 0..5 {
                    match host.add("carol@example.com", "pw") {
                        Ok(_) | Err(AccountError::Exists(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                    match host.delete("carol@example.com", Retention::Purge) {
                        Ok(_) | Err(AccountError::Unknown(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    for c in churn {
        c.join().unwrap();
    }
    let mut incarnations: Vec<_> = a
        .list_deleted()
        .unwrap()
        .into_iter()
        .filter(|d| d.account.address.as_str() == "carol@example.com")
        .map(|d| d.account.incarnation)
        .collect();
    let made = incarnations.len();
    assert!(made >= 5, "{made} carols");
    incarnations.sort();
    incarnations.dedup();
    assert_eq!(incarnations.len(), made);
}

#[test]
fn a_database_that_goes_away_is_a_temporary_failure_until_it_is_back() {
    let Some(pg) = Postgres::start() else { return };
    pg.create_database("flaky");
    let store = host(&pg, "flaky");
    store.add("alice@example.com", "alice-pass").unwrap();
    assert!(is_valid(&imap(&store, "alice@example.com", "alice-pass")));

    pg.stop();
    assert_eq!(
        imap(&store, "alice@example.com", "alice-pass"),
        Verification::Unavailable
    );
    assert_eq!(
        imap(&store, "alice@example.com", "wrong"),
        Verification::Unavailable
    );
    assert!(matches!(
        store.add("bob@example.com", "pw"),
        Err(AccountError::Database(_))
    ));
    // Delivery's look-ups go on from the copy last read.
    assert!(store.lookup("alice@example.com").unwrap().is_some());
    // Last uses are kept for the next flush.
    store.note_use("alice@example.com", "web");
    assert!(store.flush_uses().is_err());

    pg.resume();
    assert!(is_valid(&imap(&store, "alice@example.com", "alice-pass")));
    store.flush_uses().unwrap();
    assert!(store
        .last_uses("alice@example.com")
        .unwrap()
        .contains_key("web"));
}

#[test]
fn the_password_comes_from_the_password_file() {
    let Some(pg) = Postgres::start() else { return };
    pg.add_role_with_password("ringpost", "s3cret-db-pass", "guarded");
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("pg-password");
    let text = |password_file: &Path| {
        format!(
            "[server]\nhostname = \"mail.example.com\"\ndata_dir = \"data\"\n\
             [domains]\nlocal = [\"example.com\"]\n\
             [accounts]\nbackend = \"postgres\"\npostgres = \"host={} port={} user=ringpost dbname=guarded\"\n\
             postgres_password_file = \"{}\"\n\
             [[listener]]\nprotocol = \"imap\"\naddress = \"127.0.0.1:1143\"\ntls = \"starttls\"\n",
            pg.socket_dir().display(),
            pg.port(),
            password_file.display()
        )
    };
    let config = Config::parse(&text(&password_file), &dir.path().join("ringpost.toml")).unwrap();
    std::fs::write(&password_file, "wrong\n").unwrap();
    assert!(matches!(
        AccountStore::open_configured(&config),
        Err(AccountError::Database(_))
    ));
    // The first line, without its newline.
    std::fs::write(&password_file, "s3cret-db-pass\n").unwrap();
    let store = AccountStore::open_configured(&config).unwrap();
    store.add("alice@example.com", "a-long-password").unwrap();
    assert!(is_valid(&imap(
        &store,
        "alice@example.com",
        "a-long-password"
    )));
}

#[test]
fn import_file_copies_every_account_once() {
    let Some(pg) = Postgres::start() else { return };
    pg.create_database("imported");
    let dir = tempfile::tempdir().unwrap();
    let file = AccountStore::open(dir.path(), &["example.com".to_string()]).unwrap();
    file.set_policy(PasswordPolicy {
        min_length: 1,
        ..PasswordPolicy::default()
    });
    file.add("alice@example.com", "alice-pass").unwrap();
    file.add("bob@example.com", "bob-pass").unwrap();
    let (_, app) = file
        .add_app_password("bob@example.com", "laptop", Scopes::PROTOCOLS)
        .unwrap();
    file.set_quota(
        "bob@example.com",
        QuotaOverride {
            storage: Limit::At(5000),
            messages: Limit::Default,
        },
    )
    .unwrap();
    file.add("gone@example.com", "pw").unwrap();
    let gone = file.delete("gone@example.com", Retention::Keep).unwrap();

    let db = host(&pg, "imported");
    let accounts = dir.path().join("accounts");
    assert_eq!(db.import_file(&accounts).unwrap(), (2, 1));
    assert_eq!(db.list().unwrap(), file.list().unwrap());
    assert_eq!(db.list_deleted().unwrap(), file.list_deleted().unwrap());
    assert_eq!(
        db.credentials("bob@example.com", ProtocolPasswords::SameAsWeb)
            .unwrap(),
        file.credentials("bob@example.com", ProtocolPasswords::SameAsWeb)
            .unwrap()
    );
    assert_eq!(
        db.quota("bob@example.com").unwrap(),
        file.quota("bob@example.com").unwrap()
    );
    assert!(is_valid(&imap(&db, "alice@example.com", "alice-pass")));
    assert!(is_valid(&imap(&db, "bob@example.com", &app.0)));
    assert_eq!(db.restore("gone@example.com", None).unwrap(), gone);
    // Once only.
    assert!(matches!(
        db.import_file(&accounts),
        Err(AccountError::Import(_))
    ));
}

#[test]
fn server_logins_are_checked_against_postgres() {
    let Some(pg) = Postgres::start() else { return };
    pg.create_database("mail");
    // `ringpost user add` (the harness adds alice and bob) and the server, on one config.
    let server = Server::start(Options {
        extra: format!(
            "[accounts]\nbackend = \"postgres\"\npostgres = \"{}\"\n",
            pg.connection("mail")
        ),
        ..Options::default()
    });
    let rows: i64 = pg
        .client("mail")
        .query_one("SELECT count(*) FROM accounts", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 2);
    assert!(!server.data_dir().join("accounts").exists());
    let login = |proto: &str, user: &str, password: &str| {
        server
            .python("credentials.py", &["login", proto, user, password])
            .trim()
            .to_string()
    };
    assert_eq!(login("imap", ALICE.0, ALICE.1), "ok");
    assert_eq!(login("smtp", BOB.0, BOB.1), "ok");
    assert_eq!(login("imap", ALICE.0, "wrong"), "refused");
    // Inbound SMTP finds alice (RCPT) and IMAP reads the message back.
    server.python("deliver_and_read.py", &[]);
    let out = server.cli(&["accounts", "migrate"], None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("account database schema: version {SCHEMA_VERSION}, now {SCHEMA_VERSION}\n")
    );
}

#[test]
fn a_server_moves_from_the_file_to_postgres_with_import_file() {
    let Some(pg) = Postgres::start() else { return };
    pg.create_database("moved");
    // A server on the file backend, with alice and bob, and an app password for bob.
    let mut server = Server::start(Options::default());
    let out = server.cli(
        &["user", "app-password", "add", BOB.0, "--name", "laptop"],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    // Its first line is the password, shown this once.
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    let app = shown.lines().next().unwrap().to_string();
    server.terminate();

    // The documented path: point the config at PostgreSQL, import, start.
    let mut text = std::fs::read_to_string(&server.config).unwrap();
    text.push_str(&format!(
        "[accounts]\nbackend = \"postgres\"\npostgres = \"{}\"\n",
        pg.connection("moved")
    ));
    std::fs::write(&server.config, text).unwrap();
    let out = server.cli(&["accounts", "import-file"], None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "imported 2 accounts and 0 deleted accounts from {}\n",
            server.data_dir().join("accounts").display()
        )
    );
    // Twice is refused: the database has accounts now.
    let again = server.cli(&["accounts", "import-file"], None);
    assert_eq!(again.status.code(), Some(1));
    server.spawn();
    let login = |proto: &str, user: &str, password: &str| {
        server
            .python("credentials.py", &["login", proto, user, password])
            .trim()
            .to_string()
    };
    assert_eq!(login("imap", ALICE.0, ALICE.1), "ok");
    assert_eq!(login("imap", BOB.0, &app), "ok");
    // The file is left as it was, and no longer read: a change goes to the database.
    let out = server.cli(&["user", "passwd", ALICE.0], Some("alice-pass-2"));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(login("imap", ALICE.0, "alice-pass-2"), "ok");
    assert_eq!(login("imap", ALICE.0, ALICE.1), "refused");
}

/// A host's account store on `connection`, with more `[accounts]` lines (`accounts`).
fn open_with(connection: &str, accounts: &str) -> Result<AccountStore, AccountError> {
    let text = format!(
        "[server]\nhostname = \"mail.example.com\"\ndata_dir = \"{}\"\n\
         [domains]\nlocal = [\"example.com\"]\n\
         [accounts]\nbackend = \"postgres\"\npostgres = \"{connection}\"\n{accounts}\
         [[listener]]\nprotocol = \"imap\"\naddress = \"127.0.0.1:1143\"\ntls = \"starttls\"\n",
        std::env::temp_dir().display(),
    );
    let config = Config::parse(&text, Path::new("/etc/ringpost/ringpost.toml")).unwrap();
    let store = AccountStore::open_configured(&config)?;
    store.set_policy(PasswordPolicy {
        min_length: 1,
        ..PasswordPolicy::default()
    });
    Ok(store)
}

/// What opening a store on `connection` with `accounts` fails with; it must fail.
fn refused(connection: &str, accounts: &str) -> String {
    match open_with(connection, accounts) {
        Ok(_) => panic!("connected with {accounts:?}"),
        Err(e @ AccountError::Database(_)) => e.to_string(),
        Err(e) => panic!("not a database error: {e}"),
    }
}

#[test]
fn tls_to_postgres_verifies_the_server_certificate_and_its_name() {
    let Some(pg) = Postgres::start_tls(ClientAuth::Trust) else {
        return;
    };
    pg.create_database("tls");
    let files = pg.tls.as_ref().unwrap();
    let ca = format!("postgres_ca = \"{}\"\n", files.ca.display());
    let require = pg.tcp_connection("tls", "sslmode=require");

    // With the server's CA: connected over TLS, and the accounts work.
    let store = open_with(&require, &ca).unwrap();
    store.add("alice@example.com", "alice-pass").unwrap();
    assert!(is_valid(&imap(&store, "alice@example.com", "alice-pass")));
    let seen = pg.ssl_of("ringpost");
    assert!(
        !seen.is_empty() && seen.iter().all(|(ssl, _)| *ssl),
        "{seen:?}"
    );
    drop(store);

    // prefer: TLS, since the server offers it (and pg_hba.conf takes nothing else).
    let store = open_with(&pg.tcp_connection("tls", "sslmode=prefer"), &ca).unwrap();
    assert!(is_valid(&imap(&store, "alice@example.com", "alice-pass")));
    drop(store);
    // prefer with nothing to trust: plain text as before TLS was built, which this server's
    // pg_hba.conf refuses.
    let e = refused(&pg.tcp_connection("tls", "sslmode=prefer"), "");
    assert!(e.contains("no encryption"), "{e}");

    // A Unix socket never carries TLS, whatever sslmode says (as with libpq).
    let socket = format!("{} sslmode=require", pg.connection("tls"));
    let store = open_with(&socket, &ca).unwrap();
    assert!(is_valid(&imap(&store, "alice@example.com", "alice-pass")));
    drop(store);

    // Another CA: the server's certificate is not trusted.
    let other = format!("postgres_ca = \"{}\"\n", files.other_ca.display());
    let e = refused(&require, &other);
    assert!(
        e.contains("TLS handshake") && e.contains("UnknownIssuer"),
        "{e}"
    );
    // The right CA, but the certificate does not name the host asked for.
    let wrong_name = format!(
        "host=db.invalid hostaddr=127.0.0.1 port={} user=postgres dbname=tls sslmode=require",
        pg.port()
    );
    let e = refused(&wrong_name, &ca);
    assert!(
        e.contains("TLS handshake") && e.contains("db.invalid"),
        "{e}"
    );
    // No TLS at all over TCP: pg_hba.conf has only hostssl lines.
    let e = refused(&pg.tcp_connection("tls", "sslmode=disable"), &ca);
    assert!(e.contains("no encryption"), "{e}");
}

#[test]
fn tls_to_postgres_with_a_client_certificate() {
    let Some(pg) = Postgres::start_tls(ClientAuth::Cert) else {
        return;
    };
    pg.create_database("certs");
    let files = pg.tls.as_ref().unwrap();
    let ca = format!("postgres_ca = \"{}\"\n", files.ca.display());
    let require = pg.tcp_connection("certs", "sslmode=require");

    let with_cert = format!(
        "{ca}postgres_cert = \"{}\"\npostgres_key = \"{}\"\n",
        files.client_cert.display(),
        files.client_key.display()
    );
    let store = open_with(&require, &with_cert).unwrap();
    store.add("bob@example.com", "bob-pass").unwrap();
    assert!(is_valid(&imap(&store, "bob@example.com", "bob-pass")));
    let seen = pg.ssl_of("ringpost");
    assert!(
        seen.iter()
            .any(|(ssl, dn)| *ssl && dn.contains("CN=postgres")),
        "{seen:?}"
    );
    drop(store);

    // Without one, the server refuses (`hostssl … cert`).
    let e = refused(&require, &ca);
    assert!(e.contains("certificate"), "{e}");
}

fn stored(account: &str, at: u64) -> StoredWebSession {
    StoredWebSession {
        account: account.into(),
        credential: CredentialUse {
            id: "web".into(),
            // Stamps use all 64 bits.
            stamp: u64::MAX - 6,
        },
        csrf: format!("csrf-{at}"),
        signed_in: at,
        last_seen: at,
    }
}

fn key(n: u8) -> [u8; 32] {
    [n; 32]
}

#[test]
fn web_sessions_are_kept_in_the_database_for_every_host() {
    let Some(pg) = Postgres::start() else { return };
    pg.create_database("sessions");
    let (a, b) = (host(&pg, "sessions"), host(&pg, "sessions"));
    assert!(a.keeps_web_sessions());
    let limits = WebSessionLimits {
        idle_secs: 600,
        max_secs: 3600,
        per_account: 3,
    };
    let t0 = 1_700_000_000;
    let alice = stored("alice@example.com", t0);
    a.web_session_start(key(1), &alice, limits).unwrap();
    // Only the token's hash is stored, and only the hash finds it.
    let hashes: Vec<Vec<u8>> = pg
        .client("sessions")
        .query("SELECT token_hash FROM web_sessions", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(hashes, [key(1).to_vec()]);
    assert_eq!(b.web_session_find(key(2), t0, limits).unwrap(), None);

    // Another host finds it; a request within a minute of the last write writes nothing.
    let last_seen = |k: [u8; 32]| -> i64 {
        pg.client("sessions")
            .query_one(
                "SELECT last_seen FROM web_sessions WHERE token_hash = $1",
                &[&k.as_slice()],
            )
            .unwrap()
            .get(0)
    };
    assert_eq!(
        b.web_session_find(key(1), t0 + 59, limits).unwrap(),
        Some(alice.clone())
    );
    assert_eq!(last_seen(key(1)), t0 as i64);
    let found = b
        .web_session_find(key(1), t0 + 60, limits)
        .unwrap()
        .unwrap();
    assert_eq!(found.last_seen, t0 + 60);
    assert_eq!(last_seen(key(1)), (t0 + 60) as i64);
    // Idle: gone (and removed) 600 s after the last written request.
    assert!(a
        .web_session_find(key(1), t0 + 659, limits)
        .unwrap()
        .is_some());
    assert_eq!(a.web_session_find(key(1), t0 + 1259, limits).unwrap(), None);
    assert_eq!(last_seen_count(&pg), 0);

    // Past the maximum, however busy.
    a.web_session_start(key(1), &alice, limits).unwrap();
    for t in (0..3600).step_by(300) {
        assert!(a
            .web_session_find(key(1), t0 + t, limits)
            .unwrap()
            .is_some());
    }
    assert_eq!(a.web_session_find(key(1), t0 + 3600, limits).unwrap(), None);

    // Sign-out on one host ends it on the other.
    a.web_session_start(key(1), &alice, limits).unwrap();
    b.web_session_end(key(1)).unwrap();
    assert_eq!(a.web_session_find(key(1), t0 + 1, limits).unwrap(), None);

    // Per account, the oldest past the cap goes; other accounts keep theirs; expired
    // sessions of anyone go when a session starts.
    a.web_session_start(key(9), &stored("bob@example.com", t0), limits)
        .unwrap();
    for n in 1..=4u8 {
        let at = t0 + u64::from(n);
        a.web_session_start(key(n), &stored("alice@example.com", at), limits)
            .unwrap();
    }
    let now = t0 + 10;
    assert_eq!(a.web_session_find(key(1), now, limits).unwrap(), None);
    for n in 2..=4u8 {
        assert!(a.web_session_find(key(n), now, limits).unwrap().is_some());
    }
    assert!(a.web_session_find(key(9), now, limits).unwrap().is_some());
    a.web_session_start(key(5), &stored("carol@example.com", t0 + 700), limits)
        .unwrap();
    assert_eq!(last_seen_count(&pg), 1);

    // No database: every request fails (nobody is signed in from a guess).
    pg.stop();
    assert!(matches!(
        a.web_session_find(key(5), t0 + 701, limits),
        Err(AccountError::Database(_))
    ));
    assert!(a.web_session_start(key(6), &alice, limits).is_err());
    assert!(a.web_session_end(key(5)).is_err());
    pg.resume();
    assert!(a
        .web_session_find(key(5), t0 + 701, limits)
        .unwrap()
        .is_some());
}

fn last_seen_count(pg: &Postgres) -> i64 {
    pg.client("sessions")
        .query_one("SELECT count(*) FROM web_sessions", &[])
        .unwrap()
        .get(0)
}

#[test]
fn the_file_backend_keeps_no_web_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let store = AccountStore::open(dir.path(), &["example.com".into()]).unwrap();
    assert!(!store.keeps_web_sessions());
    assert!(store.web_session_end(key(1)).is_err());
}

#[test]
fn the_workspace_sign_in_holds_on_every_host_of_one_database() {
    let Some(pg) = Postgres::start() else { return };
    pg.create_database("web");
    let extra = format!(
        "[accounts]\nbackend = \"postgres\"\npostgres = \"{}\"\n",
        pg.connection("web")
    );
    let mut a = Server::start(Options {
        extra: extra.clone(),
        http: true,
        ..Options::default()
    });
    let b = Server::start(Options {
        extra,
        http: true,
        add_users: false,
        ..Options::default()
    });
    let step = |server: &Server, args: &[&str]| server.python("web_sessions.py", args);
    let signed_in = step(&a, &["signin"]);
    let cookie = signed_in.lines().last().unwrap().to_string();
    // The same browser on B: signed in; B's forms carry B's page's CSRF token; sign-out there.
    step(&b, &["signed-in", &cookie]);
    step(&b, &["change-and-leave", &cookie]);
    step(&a, &["signed-out", &cookie]);
    let apps: Vec<String> = pg
        .client("web")
        .query(
            "SELECT name FROM account_credentials WHERE address = $1 AND kind = 'app'",
            &[&ALICE.0],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(apps, ["phone"]);

    // A restart signs nobody out.
    let cookie = step(&a, &["signin"]).lines().last().unwrap().to_string();
    a.terminate();
    a.spawn();
    step(&a, &["signed-in", &cookie]);
    step(&b, &["signed-in", &cookie]);
    // Without the database nobody is let in, and the session is there again after.
    pg.stop();
    step(&a, &["unavailable", &cookie]);
    pg.resume();
    step(&a, &["signed-in", &cookie]);
    // The database holds the token's SHA-256, never the token.
    let hash = ring::digest::digest(&ring::digest::SHA256, cookie.as_bytes());
    let rows: i64 = pg
        .client("web")
        .query_one(
            "SELECT count(*) FROM web_sessions
             WHERE account = $1 AND token_hash = $2 AND csrf <> $3",
            &[&ALICE.0, &hash.as_ref(), &cookie],
        )
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
}

#[test]
fn a_database_of_the_first_schema_gains_the_sessions_table_and_keeps_its_accounts() {
    let Some(pg) = Postgres::start() else { return };
    pg.create_database("older");
    {
        let store = host(&pg, "older");
        store.add("alice@example.com", "alice-pass").unwrap();
    }
    // As a build before the sessions table left it.
    pg.client("older")
        .batch_execute("DROP TABLE web_sessions; DELETE FROM schema_version WHERE version > 1")
        .unwrap();
    let store = host(&pg, "older");
    let versions: Vec<i32> = pg
        .client("older")
        .query("SELECT version FROM schema_version ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    const { assert!(SCHEMA_VERSION >= 2) };
    assert!(is_valid(&imap(&store, "alice@example.com", "alice-pass")));
    let limits = WebSessionLimits {
        idle_secs: 60,
        max_secs: 600,
        per_account: 1,
    };
    store
        .web_session_start(key(7), &stored("alice@example.com", 100), limits)
        .unwrap();
    assert!(store
        .web_session_find(key(7), 101, limits)
        .unwrap()
        .is_some());
}
