//! The PostgreSQL account backend (`[accounts] backend = "postgres"`): the same [`Records`]
//! as the file, kept in tables that several hosts share.
//!
//! One thread of its own ("accounts-db") owns the connection and is fed typed requests over
//! a channel: the `postgres` client runs a tokio runtime inside, which must never run on a
//! shard (and the account store is only called from blocking threads and the CLI anyway).
//! A dropped connection is made again at the next request; while PostgreSQL cannot be
//! reached every request fails with [`AccountError::Database`], which logins turn into a
//! temporary failure.
//!
//! Consistency: every change locks the one row of `accounts_version` (`SELECT … FOR
//! UPDATE`), reads the records, lets the caller change them, writes the difference and
//! increments the version, all in one transaction. So writers on every host are serialized
//! and none loses another's update; readers take the records and the version from one
//! snapshot (`REPEATABLE READ`), and a host notices a change by reading one number.
//! `account_incarnations` holds every (address, incarnation) ever used, under a primary key:
//! an incarnation is never used twice for an address, whichever host made it.
//!
//! The web workspace's sign-in sessions live here too (`web_sessions`, outside the records
//! and their version: a sign-in changes no account), so every host finds a browser's session
//! and a sign-out anywhere ends it. A row is keyed by the SHA-256 of the cookie's token,
//! never the token; a request rewrites `last_seen` at most once a minute; starting a session
//! removes the expired ones of every account and the account's oldest past its cap.
//!
//! The schema is built by numbered migrations kept in `schema_version`, applied in one
//! transaction under an advisory lock, so hosts starting at once apply each exactly once.
//!
//! TLS follows the connection string's `sslmode` (see [`PostgresSettings`]): whenever it is
//! used the server's certificate is verified against `[accounts] postgres_ca` (else the
//! system's roots) and the host name; the files are read at each connection.
//!
//! This module never logs a password or the connection string.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::mpsc;

use postgres::config::{Host, SslMode};
use postgres::{Client, IsolationLevel, NoTls, Transaction};

use super::records::{
    Account, Credential, CredentialKind, Deleted, Entry, Incarnation, Limit, QuotaOverride,
    Records, Retention, Scopes,
};
use super::{AccountError, Address, CredentialUse, StoredWebSession, WebSessionLimits};
use crate::config::PostgresSettings;

/// The environment variable a password may come from (when no password file is set).
pub const PASSWORD_ENV: &str = "RINGPOST_POSTGRES_PASSWORD";

/// The key of the advisory lock migrations take (any constant; "ringpost" in ASCII).
const MIGRATION_LOCK: i64 = 0x7269_6e67_706f_7374;

/// The schema, one migration per step; `schema_version` records the last applied. Never
/// change a shipped step: add one.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE accounts_version (
    id integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO accounts_version (id, version) VALUES (1, 1);
CREATE TABLE accounts (
    address text PRIMARY KEY,
    incarnation text NOT NULL,
    password_hash text NOT NULL,
    scram_keys text,
    password_set bigint,
    quota_storage text NOT NULL DEFAULT 'default',
    quota_messages text NOT NULL DEFAULT 'default'
);
CREATE TABLE account_credentials (
    address text NOT NULL REFERENCES accounts (address) ON DELETE CASCADE,
    id text NOT NULL,
    position integer NOT NULL,
    kind text NOT NULL CHECK (kind IN ('protocol', 'app')),
    scopes text NOT NULL,
    created bigint NOT NULL,
    name text NOT NULL,
    secret text NOT NULL,
    scram_keys text,
    PRIMARY KEY (address, id)
);
CREATE TABLE deleted_accounts (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address text NOT NULL,
    incarnation text NOT NULL,
    deleted_at bigint NOT NULL,
    retention text NOT NULL CHECK (retention IN ('keep', 'purge')),
    password_hash text NOT NULL,
    UNIQUE (address, incarnation)
);
CREATE TABLE account_incarnations (
    address text NOT NULL,
    incarnation text NOT NULL,
    PRIMARY KEY (address, incarnation)
);
CREATE TABLE credential_uses (
    address text NOT NULL,
    id text NOT NULL,
    used_at bigint NOT NULL,
    PRIMARY KEY (address, id)
);
",
    "
CREATE TABLE web_sessions (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    account text NOT NULL,
    credential_id text NOT NULL,
    credential_stamp bigint NOT NULL,
    csrf text NOT NULL,
    signed_in bigint NOT NULL,
    last_seen bigint NOT NULL
);
CREATE INDEX web_sessions_by_account ON web_sessions (account, last_seen);
",
];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

type Reply<T> = mpsc::SyncSender<Result<T, AccountError>>;

/// What the accounts-db thread is asked.
enum Request {
    /// The version counter.
    Version(Reply<i64>),
    /// The version and the records, from one snapshot.
    Load(Reply<(i64, Records)>),
    /// Lock, load and send the records; wait for the changed records (`None`: abort); write
    /// them and answer on `done`.
    Change {
        loaded: Reply<Records>,
        decision: mpsc::Receiver<Option<Records>>,
        done: Reply<()>,
    },
    /// Apply the migrations not applied yet; answers the schema version before.
    Migrate(Reply<i32>),
    /// Record logins: (address, id) → when (the latest wins); drop those of accounts and
    /// credentials that are gone.
    NoteUses(HashMap<(String, String), u64>, Reply<()>),
    /// When each credential of an address was last used.
    Uses(String, Reply<HashMap<String, u64>>),
    /// Keep a new workspace session (dropping expired ones, and the account's oldest past
    /// its cap).
    SessionStart(
        Box<(SessionKey, StoredWebSession)>,
        WebSessionLimits,
        Reply<()>,
    ),
    /// The live session with this key at this time (unix seconds), its idle clock restarted
    /// (written at most once per [`touch_interval`]); an expired one is removed.
    SessionFind(
        SessionKey,
        u64,
        WebSessionLimits,
        Reply<Option<StoredWebSession>>,
    ),
    /// Remove a session (sign-out).
    SessionEnd(SessionKey, Reply<()>),
}

/// A workspace session's key: the SHA-256 of its cookie token (never the token).
pub(crate) type SessionKey = [u8; 32];

/// A handle on the accounts-db thread; the thread ends when this is dropped.
#[derive(Debug)]
pub(crate) struct Database {
    requests: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Request")
    }
}

impl Database {
    /// Start the thread, connect and bring the schema up to date (so a bad connection string
    /// or an unreachable server is an error at start, not at the first login).
    pub(crate) fn open(settings: &PostgresSettings) -> Result<Database, AccountError> {
        let config = postgres::Config::from_str(&settings.connection)
            .map_err(|e| AccountError::Database(format!("bad connection string: {e}")))?;
        let (requests, incoming) = mpsc::channel();
        let settings = settings.clone();
        std::thread::Builder::new()
            .name("accounts-db".into())
            .spawn(move || serve(config, settings, incoming))
            .map_err(|e| AccountError::Database(format!("cannot start its thread: {e}")))?;
        let db = Database { requests };
        db.migrate()?;
        Ok(db)
    }

    fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, AccountError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.requests.send(make(reply)).map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }

    pub(crate) fn version(&self) -> Result<i64, AccountError> {
        self.ask(Request::Version)
    }

    pub(crate) fn load(&self) -> Result<(i64, Records), AccountError> {
        self.ask(Request::Load)
    }

    /// Apply the migrations not applied yet; the schema version before.
    pub(crate) fn migrate(&self) -> Result<i32, AccountError> {
        self.ask(Request::Migrate)
    }

    pub(crate) fn note_uses(
        &self,
        uses: HashMap<(String, String), u64>,
    ) -> Result<(), AccountError> {
        self.ask(|reply| Request::NoteUses(uses, reply))
    }

    pub(crate) fn uses(&self, address: &str) -> Result<HashMap<String, u64>, AccountError> {
        self.ask(|reply| Request::Uses(address.to_string(), reply))
    }

    pub(crate) fn session_start(
        &self,
        key: SessionKey,
        session: &StoredWebSession,
        limits: WebSessionLimits,
    ) -> Result<(), AccountError> {
        self.ask(|reply| Request::SessionStart(Box::new((key, session.clone())), limits, reply))
    }

    pub(crate) fn session_find(
        &self,
        key: SessionKey,
        now: u64,
        limits: WebSessionLimits,
    ) -> Result<Option<StoredWebSession>, AccountError> {
        self.ask(|reply| Request::SessionFind(key, now, limits, reply))
    }

    pub(crate) fn session_end(&self, key: SessionKey) -> Result<(), AccountError> {
        self.ask(|reply| Request::SessionEnd(key, reply))
    }

    /// Apply `change` to the records as they are in the database, with every other writer
    /// (on any host) held off until it is written or refused.
    pub(crate) fn change(
        &self,
        change: impl FnOnce(&mut Records) -> Result<(), AccountError>,
    ) -> Result<(), AccountError> {
        let (loaded_tx, loaded) = mpsc::sync_channel(1);
        let (decide, decision) = mpsc::sync_channel(1);
        let (done_tx, done) = mpsc::sync_channel(1);
        self.requests
            .send(Request::Change {
                loaded: loaded_tx,
                decision,
                done: done_tx,
            })
            .map_err(|_| gone())?;
        let mut records = loaded.recv().map_err(|_| gone())??;
        match change(&mut records) {
            Ok(()) => {
                decide.send(Some(records)).map_err(|_| gone())?;
                done.recv().map_err(|_| gone())?
            }
            Err(e) => {
                // The thread rolls back; its answer says nothing more.
                let _ = decide.send(None);
                let _ = done.recv();
                Err(e)
            }
        }
    }
}

fn gone() -> AccountError {
    AccountError::Database("the accounts-db thread ended".into())
}

fn db_error(e: postgres::Error) -> AccountError {
    AccountError::Database(describe(&e))
}

/// An error with its causes: the client's own text is only the kind ("error performing TLS
/// handshake"), the reason ("invalid peer certificate: UnknownIssuer") is its source. None of
/// them holds the connection string or the password.
fn describe(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The accounts-db thread: one request at a time, connecting when there is no connection.
fn serve(config: postgres::Config, settings: PostgresSettings, incoming: mpsc::Receiver<Request>) {
    let mut client: Option<Client> = None;
    while let Ok(request) = incoming.recv() {
        // A connection found broken (the server restarted) is made again once, at once: a
        // request fails only when PostgreSQL cannot be reached now.
        let mut fresh = false;
        let mut request = Some(request);
        while let Some(r) = request.take() {
            if client.as_ref().is_none_or(Client::is_closed) {
                match connect(&config, &settings) {
                    Ok(c) => {
                        client = Some(c);
                        fresh = true;
                    }
                    Err(e) => {
                        fail(r, e);
                        break;
                    }
                }
            }
            let Some(c) = client.as_mut() else { break };
            match handle(c, r) {
                Ok(()) => {}
                Err((r, e)) => {
                    // A fault of the connection (not an SQL error): drop it.
                    let broken = e.is_connection();
                    if broken {
                        client = None;
                    }
                    if broken && !fresh {
                        tracing::warn!(error = ?e, "account database connection lost; reconnecting");
                        request = Some(r);
                    } else {
                        fail(r, e.into());
                    }
                }
            }
        }
    }
}

fn connect(config: &postgres::Config, settings: &PostgresSettings) -> Result<Client, AccountError> {
    let mut config = config.clone();
    config.connect_timeout(settings.connect_timeout);
    // A server that went away without closing (a partition, a dead host): a request fails
    // after twice the connect timeout instead of waiting out TCP's retransmissions (minutes),
    // so logins get their temporary failure soon.
    config.tcp_user_timeout(settings.connect_timeout * 2);
    config.keepalives_idle(std::time::Duration::from_secs(30));
    config.application_name("ringpost");
    if let Some(path) = &settings.password_file {
        let text = std::fs::read_to_string(path).map_err(|source| AccountError::Io {
            path: path.clone(),
            source,
        })?;
        config.password(text.lines().next().unwrap_or_default());
    } else if let Ok(password) = std::env::var(PASSWORD_ENV) {
        config.password(password);
    }
    // A Unix socket never carries TLS (as with libpq, whatever sslmode says): PostgreSQL
    // refuses it there, and `require` would refuse the socket.
    if !config.get_hosts().iter().any(|h| matches!(h, Host::Tcp(_))) {
        config.ssl_mode(SslMode::Disable);
    }
    // `prefer` verifies what it uses like `require`, so it takes TLS only where this host was
    // told what to trust (`postgres_ca`) or what to show (`postgres_cert`); otherwise it
    // stays in plain text as before TLS was built (Debian's PostgreSQL offers TLS with a
    // self-signed certificate that no root vouches for).
    let tls = match config.get_ssl_mode() {
        SslMode::Disable => false,
        SslMode::Require => true,
        _ => settings.ca.is_some() || settings.client_cert.is_some(),
    };
    let connected = if tls {
        let tls_config = settings.tls_config().map_err(|e| {
            tracing::error!(error = %e, "cannot set up TLS to the account database");
            AccountError::Database(format!("TLS: {e}"))
        })?;
        // The client's TLS over rustls (its tokio runs on this thread only, as the client's).
        config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls_config))
    } else {
        config.connect(NoTls)
    };
    connected.map_err(|e| {
        let e = db_error(e);
        tracing::error!(error = %e, tls, "cannot connect to the account database");
        e
    })
}

/// Answer a request that could not be tried.
fn fail(request: Request, e: AccountError) {
    let text = e.to_string();
    let again = || AccountError::Database(text.clone());
    match request {
        Request::Version(r) => drop(r.send(Err(e))),
        Request::Load(r) => drop(r.send(Err(e))),
        Request::Change { loaded, done, .. } => {
            let _ = loaded.send(Err(e));
            let _ = done.send(Err(again()));
        }
        Request::Migrate(r) => drop(r.send(Err(e))),
        Request::NoteUses(_, r) => drop(r.send(Err(e))),
        Request::Uses(_, r) => drop(r.send(Err(e))),
        Request::SessionStart(.., r) => drop(r.send(Err(e))),
        Request::SessionFind(.., r) => drop(r.send(Err(e))),
        Request::SessionEnd(_, r) => drop(r.send(Err(e))),
    }
}

/// Run one request. `Err` gives the request back (it may be tried again on a new
/// connection, as long as nothing was answered yet) with what went wrong.
fn handle(client: &mut Client, request: Request) -> Result<(), (Request, Fault)> {
    match request {
        Request::Version(reply) => match read_version(client) {
            Ok(v) => drop(reply.send(Ok(v))),
            Err(e) => return Err((Request::Version(reply), e.into())),
        },
        Request::Load(reply) => match load(client) {
            Ok(loaded) => drop(reply.send(Ok(loaded))),
            Err(e) => return Err((Request::Load(reply), e)),
        },
        Request::Migrate(reply) => match migrate(client) {
            Ok(before) => drop(reply.send(before)),
            Err(e) => return Err((Request::Migrate(reply), e.into())),
        },
        Request::NoteUses(uses, reply) => match note_uses(client, &uses) {
            Ok(()) => drop(reply.send(Ok(()))),
            Err(e) => return Err((Request::NoteUses(uses, reply), e.into())),
        },
        Request::Uses(address, reply) => match uses(client, &address) {
            Ok(found) => drop(reply.send(Ok(found))),
            Err(e) => return Err((Request::Uses(address, reply), e.into())),
        },
        Request::SessionStart(new, limits, reply) => {
            match session_start(client, &new.0, &new.1, limits) {
                Ok(()) => drop(reply.send(Ok(()))),
                Err(e) => return Err((Request::SessionStart(new, limits, reply), e.into())),
            }
        }
        Request::SessionFind(key, now, limits, reply) => {
            match session_find(client, &key, now, limits) {
                Ok(found) => drop(reply.send(Ok(found))),
                Err(e) => return Err((Request::SessionFind(key, now, limits, reply), e)),
            }
        }
        Request::SessionEnd(key, reply) => match session_end(client, &key) {
            Ok(()) => drop(reply.send(Ok(()))),
            Err(e) => return Err((Request::SessionEnd(key, reply), e.into())),
        },
        Request::Change {
            loaded,
            decision,
            done,
        } => {
            let mut tx = match client.transaction() {
                Ok(tx) => tx,
                Err(e) => {
                    return Err((
                        Request::Change {
                            loaded,
                            decision,
                            done,
                        },
                        e.into(),
                    ))
                }
            };
            let before = match tx
                .query_one(
                    "SELECT version FROM accounts_version WHERE id = 1 FOR UPDATE",
                    &[],
                )
                .map_err(Fault::from)
                .and_then(|_| read_records(&mut tx))
            {
                Ok(before) => before,
                Err(e) => {
                    drop(tx);
                    return Err((
                        Request::Change {
                            loaded,
                            decision,
                            done,
                        },
                        e,
                    ));
                }
            };
            if loaded.send(Ok(before.clone())).is_err() {
                return Ok(());
            }
            // From here on the caller was answered: an error is its answer, never a retry.
            let Ok(Some(after)) = decision.recv() else {
                let _ = done.send(Ok(()));
                return Ok(());
            };
            let written = write_changes(&mut tx, &before, &after)
                .and_then(|()| {
                    tx.execute(
                        "UPDATE accounts_version SET version = version + 1 WHERE id = 1",
                        &[],
                    )
                    .map(drop)
                })
                .and_then(|()| tx.commit());
            let _ = done.send(written.map_err(db_error));
        }
    }
    Ok(())
}

fn read_version(client: &mut Client) -> Result<i64, postgres::Error> {
    client
        .query_one("SELECT version FROM accounts_version WHERE id = 1", &[])
        .map(|row| row.get(0))
}

fn load(client: &mut Client) -> Result<(i64, Records), Fault> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let version = tx
        .query_one("SELECT version FROM accounts_version WHERE id = 1", &[])?
        .get(0);
    let records = read_records(&mut tx)?;
    tx.commit()?;
    Ok((version, records))
}

/// Apply the migrations not applied yet, under the advisory lock; `Err` inside `Ok` for a
/// database newer than this build.
fn migrate(client: &mut Client) -> Result<Result<i32, AccountError>, postgres::Error> {
    let mut tx = client.transaction()?;
    // Held to the end of the transaction: a second host starting now waits here, then sees
    // the migrations done.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )?;
    let before: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])?
        .get(0);
    if before > SCHEMA_VERSION {
        return Ok(Err(AccountError::Database(format!(
            "the database's schema is version {before}, newer than this ringpost knows \
             ({SCHEMA_VERSION}): upgrade ringpost"
        ))));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(before as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&version],
        )?;
        tracing::info!(version, "account database schema migrated");
    }
    tx.commit()?;
    Ok(Ok(before))
}

fn note_uses(
    client: &mut Client,
    uses: &HashMap<(String, String), u64>,
) -> Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    for ((address, id), at) in uses {
        tx.execute(
            "INSERT INTO credential_uses (address, id, used_at) VALUES ($1, $2, $3)
             ON CONFLICT (address, id)
             DO UPDATE SET used_at = greatest(credential_uses.used_at, excluded.used_at)",
            &[address, id, &to_db(*at)],
        )?;
    }
    tx.execute(
        "DELETE FROM credential_uses u
         WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.address = u.address)
            OR (u.id <> 'web' AND NOT EXISTS (
                SELECT 1 FROM account_credentials c WHERE c.address = u.address AND c.id = u.id))",
        &[],
    )?;
    tx.commit()
}

fn uses(client: &mut Client, address: &str) -> Result<HashMap<String, u64>, postgres::Error> {
    Ok(client
        .query(
            "SELECT id, used_at FROM credential_uses WHERE address = $1",
            &[&address],
        )?
        .iter()
        .map(|row| (row.get(0), from_db(row.get(1))))
        .collect())
}

/// How stale a stored session's `last_seen` may be before a request writes it again: a
/// minute (half the idle time when that is shorter), so a busy browser costs a read per
/// request and a write per minute. A session may therefore end up to that much before
/// `idle` after its last request.
pub(crate) fn touch_interval(limits: WebSessionLimits) -> u64 {
    (limits.idle_secs / 2).min(60)
}

fn session_start(
    client: &mut Client,
    key: &SessionKey,
    session: &StoredWebSession,
    limits: WebSessionLimits,
) -> Result<(), postgres::Error> {
    let now = to_db(session.signed_in);
    let mut tx = client.transaction()?;
    // Every host starts sessions, so expired ones (of any account) go here rather than in
    // a sweep of its own.
    tx.execute(
        "DELETE FROM web_sessions
         WHERE last_seen <= $1::bigint - $2::bigint OR signed_in <= $1::bigint - $3::bigint",
        &[&now, &to_db(limits.idle_secs), &to_db(limits.max_secs)],
    )?;
    tx.execute(
        "INSERT INTO web_sessions (token_hash, account, credential_id, credential_stamp, csrf,
                                   signed_in, last_seen)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &key.as_slice(),
            &session.account,
            &session.credential.id,
            &stamp_to_db(session.credential.stamp),
            &session.csrf,
            &now,
            &to_db(session.last_seen),
        ],
    )?;
    // The account's oldest sessions past its cap (never the one just made).
    tx.execute(
        "DELETE FROM web_sessions WHERE token_hash IN (
             SELECT token_hash FROM web_sessions
             WHERE account = $1 AND token_hash <> $2
             ORDER BY last_seen DESC, signed_in DESC
             OFFSET $3)",
        &[
            &session.account,
            &key.as_slice(),
            &to_db(limits.per_account.saturating_sub(1) as u64),
        ],
    )?;
    tx.commit()
}

fn session_find(
    client: &mut Client,
    key: &SessionKey,
    now: u64,
    limits: WebSessionLimits,
) -> Result<Option<StoredWebSession>, Fault> {
    let Some(row) = client.query_opt(
        "SELECT account, credential_id, credential_stamp, csrf, signed_in, last_seen
         FROM web_sessions WHERE token_hash = $1",
        &[&key.as_slice()],
    )?
    else {
        return Ok(None);
    };
    let mut session = StoredWebSession {
        account: row.get(0),
        credential: CredentialUse {
            id: row.get(1),
            stamp: stamp_from_db(row.get(2)),
        },
        csrf: row.get(3),
        signed_in: from_db(row.get(4)),
        last_seen: from_db(row.get(5)),
    };
    let alive = now.saturating_sub(session.last_seen) < limits.idle_secs
        && now.saturating_sub(session.signed_in) < limits.max_secs;
    if !alive {
        client.execute(
            "DELETE FROM web_sessions WHERE token_hash = $1",
            &[&key.as_slice()],
        )?;
        return Ok(None);
    }
    if now.saturating_sub(session.last_seen) >= touch_interval(limits) {
        client.execute(
            "UPDATE web_sessions SET last_seen = greatest(last_seen, $2) WHERE token_hash = $1",
            &[&key.as_slice(), &to_db(now)],
        )?;
        session.last_seen = now;
    }
    Ok(Some(session))
}

fn session_end(client: &mut Client, key: &SessionKey) -> Result<(), postgres::Error> {
    client
        .execute(
            "DELETE FROM web_sessions WHERE token_hash = $1",
            &[&key.as_slice()],
        )
        .map(drop)
}

/// A credential's stamp (any 64 bits) in a `bigint`, bit for bit.
fn stamp_to_db(stamp: u64) -> i64 {
    i64::from_be_bytes(stamp.to_be_bytes())
}

fn stamp_from_db(stamp: i64) -> u64 {
    u64::from_be_bytes(stamp.to_be_bytes())
}

fn to_db(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_db(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// What went wrong talking to the database.
#[derive(Debug)]
enum Fault {
    Sql(postgres::Error),
    /// A value our code did not write: a table edited by hand into something the file
    /// could not hold either.
    Corrupt(&'static str),
}

impl From<postgres::Error> for Fault {
    fn from(e: postgres::Error) -> Fault {
        Fault::Sql(e)
    }
}

impl Fault {
    /// A fault of the connection (not an SQL error nor bad data): drop the connection.
    fn is_connection(&self) -> bool {
        matches!(self, Fault::Sql(e) if e.as_db_error().is_none())
    }
}

impl From<Fault> for AccountError {
    fn from(f: Fault) -> AccountError {
        match f {
            Fault::Sql(e) => db_error(e),
            Fault::Corrupt(what) => {
                AccountError::Database(format!("a value of {what} is not one ringpost writes"))
            }
        }
    }
}

fn corrupt(what: &'static str) -> Fault {
    Fault::Corrupt(what)
}

fn read_records(tx: &mut Transaction<'_>) -> Result<Records, Fault> {
    let mut records = Records::default();
    for row in tx.query(
        "SELECT address, incarnation, password_hash, scram_keys, password_set, quota_storage,
                quota_messages
         FROM accounts ORDER BY address",
        &[],
    )? {
        let address: &str = row.get(0);
        let address = Address::parse_syntax(address).map_err(|_| corrupt("accounts.address"))?;
        let incarnation = Incarnation::parse(row.get(1)).ok_or_else(|| corrupt("incarnation"))?;
        let limit = |text: &str| Limit::parse(text).ok_or_else(|| corrupt("quota"));
        records.live.insert(
            address,
            Entry {
                incarnation,
                hash: row.get(2),
                scram: row.get(3),
                set: row.get::<_, Option<i64>>(4).map(from_db),
                credentials: Vec::new(),
                quota: QuotaOverride {
                    storage: limit(row.get(5))?,
                    messages: limit(row.get(6))?,
                },
            },
        );
    }
    for row in tx.query(
        "SELECT address, id, kind, scopes, created, name, secret, scram_keys
         FROM account_credentials ORDER BY address, position",
        &[],
    )? {
        let address: &str = row.get(0);
        let address = Address::parse_syntax(address).map_err(|_| corrupt("address"))?;
        let Some(entry) = records.live.get_mut(&address) else {
            continue;
        };
        let kind = match row.get::<_, &str>(2) {
            "protocol" => CredentialKind::Protocol,
            _ => CredentialKind::App,
        };
        entry.credentials.push(Credential {
            id: row.get(1),
            kind,
            scopes: Scopes::parse(row.get(3)).ok_or_else(|| corrupt("scopes"))?,
            created: from_db(row.get(4)),
            name: row.get(5),
            secret: row.get(6),
            scram: row.get(7),
        });
    }
    for row in tx.query(
        "SELECT address, incarnation, deleted_at, retention, password_hash
         FROM deleted_accounts ORDER BY seq",
        &[],
    )? {
        let address: &str = row.get(0);
        let address = Address::parse_syntax(address).map_err(|_| corrupt("address"))?;
        records.deleted.push(Deleted {
            account: Account {
                address,
                incarnation: Incarnation::parse(row.get(1))
                    .ok_or_else(|| corrupt("incarnation"))?,
            },
            deleted_at: from_db(row.get(2)),
            retention: match row.get::<_, &str>(3) {
                "purge" => Retention::Purge,
                _ => Retention::Keep,
            },
            hash: row.get(4),
        });
    }
    Ok(records)
}

/// Write what differs between `before` (as read under the lock) and `after`.
fn write_changes(
    tx: &mut Transaction<'_>,
    before: &Records,
    after: &Records,
) -> Result<(), postgres::Error> {
    let addresses: BTreeSet<&Address> = before.live.keys().chain(after.live.keys()).collect();
    for address in addresses {
        let (old, new) = (before.live.get(address), after.live.get(address));
        if old == new {
            continue;
        }
        let a = address.as_str();
        if old.is_some() {
            tx.execute("DELETE FROM accounts WHERE address = $1", &[&a])?;
        }
        let Some(entry) = new else { continue };
        let incarnation = entry.incarnation.to_string();
        if !before.used(address, entry.incarnation) {
            // No ON CONFLICT: an incarnation used before for this address, by any host,
            // fails the whole change.
            tx.execute(
                "INSERT INTO account_incarnations (address, incarnation) VALUES ($1, $2)",
                &[&a, &incarnation],
            )?;
        }
        tx.execute(
            "INSERT INTO accounts (address, incarnation, password_hash, scram_keys, password_set,
                                   quota_storage, quota_messages)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &a,
                &incarnation,
                &entry.hash,
                &entry.scram,
                &entry.set.map(to_db),
                &entry.quota.storage.to_string(),
                &entry.quota.messages.to_string(),
            ],
        )?;
        for (position, c) in entry.credentials.iter().enumerate() {
            tx.execute(
                "INSERT INTO account_credentials (address, id, position, kind, scopes, created,
                                                  name, secret, scram_keys)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &a,
                    &c.id,
                    &i32::try_from(position).unwrap_or(i32::MAX),
                    &c.kind.name(),
                    &c.scopes.to_string(),
                    &to_db(c.created),
                    &c.name,
                    &c.secret,
                    &c.scram,
                ],
            )?;
        }
    }
    let key = |d: &Deleted| (d.account.address.clone(), d.account.incarnation);
    let old: HashMap<_, &Deleted> = before.deleted.iter().map(|d| (key(d), d)).collect();
    let new: HashMap<_, &Deleted> = after.deleted.iter().map(|d| (key(d), d)).collect();
    for (k, _) in old.iter().filter(|(k, _)| !new.contains_key(*k)) {
        tx.execute(
            "DELETE FROM deleted_accounts WHERE address = $1 AND incarnation = $2",
            &[&k.0.as_str(), &k.1.to_string()],
        )?;
    }
    // In the order of `after`, so the sequence keeps "oldest deletion first".
    for d in &after.deleted {
        let k = key(d);
        let retention = match d.retention {
            Retention::Keep => "keep",
            Retention::Purge => "purge",
        };
        let (a, i) = (k.0.as_str(), k.1.to_string());
        match old.get(&k) {
            Some(was) if *was == d => {}
            Some(_) => {
                tx.execute(
                    "UPDATE deleted_accounts SET retention = $3, deleted_at = $4
                     WHERE address = $1 AND incarnation = $2",
                    &[&a, &i, &retention, &to_db(d.deleted_at)],
                )?;
            }
            None => {
                if !before.used(&k.0, k.1) {
                    tx.execute(
                        "INSERT INTO account_incarnations (address, incarnation) VALUES ($1, $2)",
                        &[&a, &i],
                    )?;
                }
                tx.execute(
                    "INSERT INTO deleted_accounts (address, incarnation, deleted_at, retention,
                                                   password_hash)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&a, &i, &to_db(d.deleted_at), &retention, &d.hash],
                )?;
            }
        }
    }
    Ok(())
}
