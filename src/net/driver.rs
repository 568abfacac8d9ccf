//! The one connection driver: runs any protocol session over plaintext, STARTTLS or implicit
//! TLS, and does everything a session cannot do itself: IO, TLS handshakes, password checks off
//! the shard, the failure delay, idle and handshake timeouts, and shutdown.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future;
use glommio::net::TcpStream;
use glommio::timer::sleep;

use super::limits::{Permit, Refusal};
use super::transport::{Transport, TransportParts};
use super::ActiveConnections;
use super::ServerContext;
use crate::config::{Listener, Protocol};
use crate::imap::ImapSession;
use crate::mail::Uid;
use crate::mailbox::{Access, MailboxChange, MailboxRequest};
use crate::pop3::Pop3Session;
use crate::queue::{envelope_header, QUEUE_ACCOUNT};
use crate::session::{
    AuthOutcome, Delivery, DeliveryOutcome, Event, MaildropEntry, MaildropOutcome, MessageOutcome,
    Output, RecipientStatus, Session, SessionConfig, TlsMode,
};
use crate::shard::{Mesh, ShardId, ShardMap, Shutdown};
use crate::smtp::{received_header, ReceivedInfo, SmtpKind, SmtpSession};
use crate::store::delivery::Deliverer;
use crate::store::{Store, StoreError};

/// Plaintext read from the transport at once.
const READ_BUF: usize = 16 * 1024;

/// What one shard's connections share.
pub struct ShardState {
    pub server: Arc<ServerContext>,
    pub shutdown: Shutdown,
    /// This shard.
    pub id: ShardId,
    /// Where accounts live.
    pub map: ShardMap,
    /// Connections served here, for draining at shutdown.
    pub active: ActiveConnections,
    /// The channel that moves authenticated connections to their account's home shard; set
    /// once every shard has joined it.
    pub moves: RefCell<Option<Rc<Mesh<MovedConnection, ()>>>>,
    /// This shard's message store (the partitions it owns).
    pub store: Store,
    /// Deliveries to any shard's accounts; set once the store mesh is joined.
    pub deliverer: RefCell<Option<Deliverer>>,
    /// Makes queue ids unique within this shard.
    pub deliveries: Cell<u64>,
    /// Accounts whose maildrop a POP3 session holds.
    pub maildrops: Rc<RefCell<HashSet<String>>>,
}

impl ShardState {
    /// A queue id for a `250` reply: unique per server (time, shard, counter), short, and
    /// meaningless to anyone who does not have the logs.
    fn queue_id(&self, now: i64) -> String {
        let n = self.deliveries.get();
        self.deliveries.set(n + 1);
        format!("{now:X}{:02X}{n:05X}", self.id.0)
    }
}

/// What a connection is besides its transport and its shard-local handles; all `Send`, so
/// it travels unchanged when the connection moves shards.
struct Core {
    session: Box<dyn Session + Send>,
    peer: SocketAddr,
    listener: Listener,
    /// Counts this connection against the limits until it is dropped, wherever it runs.
    _permit: Permit,
    shutdown_sent: bool,
    /// The authenticated account.
    account: Option<String>,
}

/// A live connection on its way to another shard: everything it is made of, and all `Send`.
pub struct MovedConnection {
    transport: TransportParts,
    core: Core,
}

/// One connection being served on this shard.
struct Connection {
    transport: Transport,
    core: Core,
    /// The POP3 maildrop lock this session holds (released when the connection ends).
    maildrop: Option<MaildropLock>,
    /// Mailbox access (and the selected mailbox's change feed) for IMAP, on the home shard.
    access: Option<Access>,
}

/// A POP3 session's exclusive hold on an account's maildrop (RFC 1939 §8). The lock table is
/// shard-local: POP3 sessions run on their account's home shard, so one table sees them all.
pub struct MaildropLock {
    locks: Rc<RefCell<HashSet<String>>>,
    account: String,
}

impl MaildropLock {
    fn acquire(locks: &Rc<RefCell<HashSet<String>>>, account: &str) -> Option<MaildropLock> {
        locks
            .borrow_mut()
            .insert(account.to_string())
            .then(|| MaildropLock {
                locks: locks.clone(),
                account: account.to_string(),
            })
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        self.locks.borrow_mut().remove(&self.account);
    }
}

enum Wake {
    Input(io::Result<usize>),
    Change(MailboxChange),
    Idle,
    KeepAlive,
    Shutdown,
}

/// How [`drive`] ended.
enum Ending {
    /// Closed (by either side) or broken.
    Closed,
    /// Authenticated for an account that lives on another shard.
    Move(ShardId),
}

/// Serve one accepted connection to the end (here or, after authentication, on its
/// account's home shard).
pub async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    listener: Listener,
    state: Rc<ShardState>,
) {
    let server = state.server.clone();
    let permit = match server.limits.admit(peer.ip()) {
        Ok(p) => p,
        Err(refusal) => {
            refuse(tcp, &listener, &server.config.hostname, refusal).await;
            return;
        }
    };
    let mut transport = Transport::plain(tcp);
    if listener.tls == TlsMode::Implicit && !handshake(&mut transport, &server).await {
        transport.close().await;
        return;
    }
    let session_config = SessionConfig {
        hostname: server.config.hostname.clone(),
        tls_mode: listener.tls,
        limits: server.config.limits.clone(),
        local_domains: server.config.local_domains.clone(),
    };
    let tls_active = transport.is_tls();
    let session: Box<dyn Session + Send> = match listener.protocol {
        Protocol::Imap => Box::new(ImapSession::new(session_config, tls_active)),
        Protocol::Pop3 => Box::new(
            Pop3Session::new(session_config, tls_active)
                .with_uidl_format(server.config.pop3_uidl_format.clone()),
        ),
        Protocol::Submission => Box::new(SmtpSession::new(
            session_config,
            SmtpKind::Submission,
            tls_active,
        )),
        Protocol::Smtp => Box::new(SmtpSession::new(
            session_config,
            SmtpKind::Inbound,
            tls_active,
        )),
    };
    let core = Core {
        session,
        peer,
        listener,
        _permit: permit,
        shutdown_sent: false,
        account: None,
    };
    let conn = Connection {
        transport,
        core,
        maildrop: None,
        access: None,
    };
    run(conn, state).await;
}

/// Continue a connection moved here from another shard.
pub async fn resume_connection(moved: MovedConnection, state: Rc<ShardState>) {
    let conn = Connection {
        transport: Transport::from_parts(moved.transport),
        core: moved.core,
        maildrop: None,
        access: None,
    };
    tracing::debug!(shard = %state.id, peer = %conn.core.peer, "connection moved to its home shard");
    run(conn, state).await;
}

async fn run(mut conn: Connection, state: Rc<ShardState>) {
    match drive(&mut conn, &state).await {
        Ending::Closed => conn.transport.close().await,
        Ending::Move(to) => {
            let Some(mesh) = state.moves.borrow().clone() else {
                conn.transport.close().await;
                return;
            };
            let moved = match conn.transport.into_parts() {
                Ok(transport) => MovedConnection {
                    transport,
                    core: conn.core,
                },
                Err(e) => {
                    tracing::warn!(error = %e, "cannot move a connection; closing it");
                    return;
                }
            };
            if let Err(e) = mesh.request(to, moved).await {
                // Only while shutting down: the connection is dropped (closed) with the message.
                tracing::debug!(error = %e, "connection move failed");
            }
        }
    }
}

/// The connection loop: send what the session queued, act on its events, feed it input.
async fn drive(conn: &mut Connection, state: &ShardState) -> Ending {
    let server = &state.server;
    let idle = server.config.timeouts.idle(conn.core.listener.protocol);
    let keepalive = match conn.core.listener.protocol {
        Protocol::Imap => server.config.timeouts.imap_keepalive,
        _ => idle,
    };
    let mut last_input = Instant::now();
    // What goes out next: the session's bytes, and FETCH bodies spliced in from the store's
    // read buffers (written to TLS from there, never copied into an output buffer).
    let mut out = Output::default();
    let mut buf = vec![0u8; READ_BUF];
    loop {
        conn.core.session.poll_output(out.bytes_mut());
        if !out.is_empty() {
            if conn.transport.write_parts(&out.parts()).await.is_err() {
                return Ending::Closed;
            }
            out.clear();
        }
        if let Some(event) = conn.core.session.poll_event() {
            match event {
                Event::StartTls => {
                    if !handshake(&mut conn.transport, server).await {
                        return Ending::Closed;
                    }
                    conn.core.session.handle_tls_established();
                }
                Event::Authenticate(credentials) => {
                    let outcome = verify(server, credentials).await;
                    if outcome == AuthOutcome::Failure {
                        // Slow down guessing; the same delay for every kind of failure.
                        sleep(server.config.auth_failure_delay).await;
                    }
                    let home = match &outcome {
                        AuthOutcome::Success { account } => {
                            conn.core.account = Some(account.clone());
                            Some(state.map.home_shard(account))
                        }
                        _ => None,
                    };
                    conn.core.session.handle_auth(outcome);
                    // Mailbox sessions run on their account's home shard, where every
                    // mailbox operation is local and lock-free (DESIGN.md). SMTP stays: its
                    // deliveries travel to the home shards as messages instead.
                    let mailbox_protocol =
                        matches!(conn.core.listener.protocol, Protocol::Imap | Protocol::Pop3);
                    if let Some(home) = home.filter(|h| mailbox_protocol && *h != state.id) {
                        return Ending::Move(home);
                    }
                }
                Event::CheckRecipient(address) => {
                    let status = match server.accounts.lookup(&address) {
                        Ok(Some(account)) => RecipientStatus::Local {
                            account: account.into_string(),
                        },
                        Ok(None) => RecipientStatus::UnknownLocal,
                        Err(e) => {
                            tracing::error!(error = %e, "account database unavailable");
                            RecipientStatus::TemporaryFailure
                        }
                    };
                    conn.core.session.handle_recipient(status);
                }
                Event::Deliver(delivery) => {
                    let outcome = deliver(state, &conn.transport, conn.core.peer, delivery).await;
                    conn.core.session.handle_delivery(outcome);
                }
                Event::OpenMaildrop => {
                    let outcome = open_maildrop(state, conn).await;
                    conn.core.session.handle_maildrop(outcome);
                }
                Event::ReadMessage { uid } => {
                    let outcome = match &conn.core.account {
                        Some(account) => match state.store.read(account, "INBOX", Uid(uid)).await {
                            // Sent from the read buffer, never copied (dot-stuffing splices).
                            Ok(body) => MessageOutcome::Message(body.into()),
                            Err(StoreError::NoSuchMessage) => MessageOutcome::Gone,
                            Err(e) => {
                                tracing::error!(error = %e, "reading a message failed");
                                MessageOutcome::TemporaryFailure
                            }
                        },
                        None => MessageOutcome::TemporaryFailure,
                    };
                    conn.core.session.handle_message(outcome, &mut out);
                }
                Event::Expunge { uids } => {
                    let durable = match &conn.core.account {
                        Some(account) => {
                            let uids: Vec<Uid> = uids.into_iter().map(Uid).collect();
                            match state.store.expunge(account, "INBOX", Some(&uids)).await {
                                Ok(_) => true,
                                Err(e) => {
                                    tracing::error!(error = %e, "POP3 expunge failed");
                                    false
                                }
                            }
                        }
                        None => false,
                    };
                    conn.core.session.handle_expunged(durable);
                }
                Event::Mailbox(request) => {
                    // Changes the request itself caused (an APPEND or COPY to the selected
                    // mailbox) or that landed meanwhile are handed over before the reply, so
                    // the session can report them before its tagged OK (RFC 9051 §6.3.12:
                    // the EXISTS of an APPEND to the selected mailbox comes at once). Not for
                    // SELECT/UNSELECT: the feed is then a new mailbox's, which the reply's
                    // snapshot already covers.
                    let drain = !matches!(
                        request,
                        MailboxRequest::Select { .. } | MailboxRequest::Unselect
                    );
                    let reply = match (&mut conn.access, &conn.core.account) {
                        (Some(access), _) => access.execute(&state.store, request).await,
                        (None, Some(account)) => {
                            let access = conn.access.insert(Access::new(account.clone()));
                            access.execute(&state.store, request).await
                        }
                        (None, None) => {
                            tracing::error!("mailbox request before authentication");
                            return Ending::Closed;
                        }
                    };
                    if let Some(access) = conn.access.as_mut().filter(|_| drain) {
                        while let Some(change) = access.ready_change() {
                            conn.core.session.handle_mailbox_change(change);
                        }
                    }
                    conn.core.session.handle_mailbox(reply, &mut out);
                }
                Event::Close => return Ending::Closed,
            }
            continue;
        }
        if state.shutdown.is_fired() && !conn.core.shutdown_sent {
            conn.core.shutdown_sent = true;
            conn.core.session.handle_shutdown();
            continue;
        }
        let shutdown_sent = conn.core.shutdown_sent;
        let read = conn.transport.read(&mut buf);
        // The autologout deadline runs from the last input, across keep-alives.
        let idle_left = idle.saturating_sub(last_input.elapsed());
        let idle_timer = async {
            if keepalive < idle_left {
                sleep(keepalive).await;
                Wake::KeepAlive
            } else {
                sleep(idle_left).await;
                Wake::Idle
            }
        };
        let stop = async {
            if shutdown_sent {
                future::pending::<()>().await;
            }
            state.shutdown.wait().await;
            Wake::Shutdown
        };
        let access = &mut conn.access;
        let change = async {
            match access {
                Some(access) => Wake::Change(access.next_change().await),
                None => future::pending().await,
            }
        };
        let wake = future::or(
            async { Wake::Input(read.await) },
            future::or(change, future::or(idle_timer, stop)),
        )
        .await;
        match wake {
            Wake::Input(Ok(0)) | Wake::Input(Err(_)) => return Ending::Closed,
            Wake::Input(Ok(n)) => {
                last_input = Instant::now();
                conn.core.session.handle_input(&buf[..n]);
            }
            Wake::KeepAlive => conn.core.session.handle_keepalive(),
            Wake::Change(change) => conn.core.session.handle_mailbox_change(change),
            Wake::Idle => conn.core.session.handle_idle_timeout(),
            Wake::Shutdown => {
                conn.core.shutdown_sent = true;
                conn.core.session.handle_shutdown();
            }
        }
    }
}

/// Make one received message durable in every local recipient's INBOX (on each recipient's
/// home shard) with our `Received:` header in front; `Delivered` only once all copies are on
/// disk (DESIGN.md: an acknowledged message is on disk).
async fn deliver(
    state: &ShardState,
    transport: &Transport,
    peer: SocketAddr,
    delivery: Delivery,
) -> DeliveryOutcome {
    let Some(deliverer) = state.deliverer.borrow().clone() else {
        return DeliveryOutcome::TemporaryFailure;
    };
    let now = crate::store::now();
    let id = state.queue_id(now);
    let header = trace_headers(
        &state.server.config.hostname,
        transport,
        peer,
        &delivery,
        &id,
        now,
    );
    // Remote recipients (submission only) go to the outbound queue first; if the local copies
    // then fail, the queued copy is retracted, so a 451 leaves nothing behind.
    let mut queued = Vec::new();
    if !delivery.remote_recipients.is_empty() {
        let envelope = envelope_header(&id, &delivery.reverse_path, &delivery.remote_recipients);
        let parts: [&[u8]; 3] = [envelope.as_bytes(), header.as_bytes(), &delivery.message];
        match store_copy(&deliverer, &[QUEUE_ACCOUNT.to_string()], &parts, now).await {
            Ok(copies) => queued = copies,
            Err(e) => {
                tracing::error!(%id, error = %e, "queueing failed; nothing kept");
                return DeliveryOutcome::TemporaryFailure;
            }
        }
    }
    if !delivery.local_recipients.is_empty() {
        let parts: [&[u8]; 2] = [header.as_bytes(), &delivery.message];
        if let Err(e) = store_copy(&deliverer, &delivery.local_recipients, &parts, now).await {
            tracing::error!(%id, error = %e, "delivery failed; nothing kept");
            if !queued.is_empty() {
                if let Err(e) = deliverer.retract(queued).await {
                    tracing::error!(%id, error = %e, "could not retract the queued copy");
                }
            }
            return DeliveryOutcome::TemporaryFailure;
        }
    }
    tracing::info!(
        %id,
        local = delivery.local_recipients.len(),
        queued = delivery.remote_recipients.len(),
        size = delivery.message.len(),
        "accepted"
    );
    DeliveryOutcome::Delivered { id }
}

/// One store delivery transaction: the concatenated `parts` to every account, durable on each
/// home shard when this returns `Ok`, nothing kept when it returns `Err`.
async fn store_copy(
    deliverer: &Deliverer,
    accounts: &[String],
    parts: &[&[u8]],
    now: i64,
) -> crate::store::Result<Vec<(String, Uid)>> {
    let mut tx = deliverer.begin();
    for account in accounts {
        tx.add_recipient(account)?;
    }
    for part in parts {
        tx.write(part)?;
    }
    tx.set_internal_date(now);
    tx.commit().await
}

/// Lock and list the authenticated account's INBOX for a POP3 session (on its home shard).
async fn open_maildrop(state: &ShardState, conn: &mut Connection) -> MaildropOutcome {
    let Some(account) = conn.core.account.clone() else {
        return MaildropOutcome::TemporaryFailure;
    };
    let Some(lock) = MaildropLock::acquire(&state.maildrops, &account) else {
        return MaildropOutcome::InUse;
    };
    let listed = async {
        state.store.open_account(&account).await?;
        let status = state.store.status(&account, "INBOX").await?;
        let messages = state
            .store
            .messages(&account, "INBOX", Uid(1)..=Uid(u32::MAX))
            .await?;
        Ok::<_, StoreError>((status, messages))
    };
    match listed.await {
        Ok((status, messages)) => {
            conn.maildrop = Some(lock);
            MaildropOutcome::Opened {
                uid_validity: status.uid_validity.0,
                messages: messages
                    .iter()
                    .map(|m| MaildropEntry {
                        uid: m.uid.0,
                        size: u64::from(m.size),
                    })
                    .collect(),
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "opening a maildrop failed");
            MaildropOutcome::TemporaryFailure
        }
    }
}

/// What we put in front of a delivered message (RFC 5321 §4.4): `Return-Path:` (we are the
/// final delivery) and our `Received:` trace header.
fn trace_headers(
    hostname: &str,
    transport: &Transport,
    peer: SocketAddr,
    delivery: &Delivery,
    id: &str,
    now: i64,
) -> String {
    let received = received_header(&ReceivedInfo {
        helo: delivery.helo.clone(),
        peer_ip: peer.ip(),
        hostname: hostname.to_string(),
        protocol: delivery.protocol,
        tls: transport.tls_info().map(|t| (t.version, t.cipher)),
        authenticated: delivery.authenticated.clone(),
        id: id.to_string(),
        recipient: match delivery.local_recipients.as_slice() {
            [one] if delivery.remote_recipients.is_empty() => Some(one.clone()),
            _ => None,
        },
        date: crate::date::rfc5322(now),
    });
    format!("Return-Path: <{}>\r\n{received}", delivery.reverse_path)
}

/// TLS handshake bounded by the configured timeout. `false`: failed or timed out.
async fn handshake(transport: &mut Transport, server: &ServerContext) -> bool {
    let timeout = server.config.timeouts.tls_handshake;
    let result = future::or(
        async { Some(transport.handshake(server.tls.clone()).await) },
        async {
            sleep(timeout).await;
            None
        },
    )
    .await;
    match result {
        Some(Ok(())) => true,
        Some(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            false
        }
        None => {
            tracing::debug!("TLS handshake timed out");
            false
        }
    }
}

/// Check a password on the executor's blocking pool: argon2 takes tens of milliseconds and
/// must not stall every other connection of the shard.
async fn verify(
    server: &Arc<ServerContext>,
    credentials: crate::session::Credentials,
) -> AuthOutcome {
    let accounts = server.accounts.clone();
    glommio::executor()
        .spawn_blocking(move || {
            accounts.verify(&credentials.username, credentials.password.expose())
        })
        .await
}

/// Tell a connection over the limits why it is refused (in plaintext listeners' protocol
/// language), then close. Implicit-TLS connections are closed without a handshake: under
/// overload a handshake is the most expensive thing we could do.
async fn refuse(tcp: TcpStream, listener: &Listener, hostname: &str, refusal: Refusal) {
    let why = match refusal {
        Refusal::ServerFull => "Too many connections",
        Refusal::TooManyFromIp => "Too many connections from your address",
    };
    let mut transport = Transport::plain(tcp);
    if listener.tls != TlsMode::Implicit {
        let reply = match listener.protocol {
            Protocol::Imap => format!("* BYE [UNAVAILABLE] {why}\r\n"),
            Protocol::Pop3 => format!("-ERR [SYS/TEMP] {why}\r\n"),
            Protocol::Submission | Protocol::Smtp => {
                format!("421 4.7.0 {hostname} {why}, try again later\r\n")
            }
        };
        let _ = future::or(
            async { transport.write_all(reply.as_bytes()).await },
            async {
                sleep(Duration::from_secs(5)).await;
                Ok(())
            },
        )
        .await;
    }
    transport.close().await;
}
