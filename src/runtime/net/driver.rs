//! The one connection driver: runs any protocol's session and service over plaintext,
//! STARTTLS or implicit TLS, and does everything a session cannot do itself: IO, TLS
//! handshakes, password checks off the shard, the failure delay, idle, keep-alive and
//! handshake timeouts, moving an authenticated connection to its account's home shard, and
//! shutdown. It names no protocol: what differs between protocols is the [`Service`] it is
//! instantiated with.
//!
//! **Buffered input is bounded by the loop's shape** (issue 12, defect 4). The driver reads
//! only when the session has nothing to send and no event for it: never while a request runs
//! (a delivery, a store operation), a TLS handshake or a password check is under way, or a
//! write waits for a client that does not read. Sessions handle every complete command they
//! hold unless they wait for such an event. So a connection holds at most one read of input
//! ([`READ_BUF`]), the incomplete command its session is assembling (bounded by the session's
//! limits: `limits.max_line_length`, an IMAP command's literals, SMTP message content up to
//! `limits.max_message_size`), and over TLS one read of ciphertext and what rustls decrypted
//! from it (rustls takes no more while plaintext is unread). Whatever else a client pipelines
//! stays in the kernel's socket buffers, which stop the client when full. With compression on
//! (IMAP COMPRESS) add one read of compressed bytes not inflated yet and the inflater's 32 KiB
//! window; a read hands the session at most [`READ_BUF`] inflated bytes, however few
//! compressed bytes they came from, so the session's limits bound what a bomb inflates to
//! (`compress_tests.rs`). `driver_tests.rs` holds a request open and checks that not a byte
//! is read meanwhile; `tests/e2e_hostile.rs` pipelines behind a delivery and an APPEND without
//! reading replies and bounds the server's RSS.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future;
use glommio::net::TcpStream;
use glommio::timer::sleep;

use super::limits::Permit;
use super::proxy;
use super::sessions::{LiveSession, LoginResult};
use super::transport::{Transport, TransportParts};
use super::{link, login_cache, scram_login, Admission, ServerContext, ShardState};
use crate::accounts::{CredentialUse, Scope, Verification};
use crate::config::{IpNet, Listener};
use crate::placement::Partition;
use crate::runtime::outbound::jwks;
use crate::runtime::service::{Context, Placement, Service};
use crate::runtime::ShardId;
use crate::session::{
    AuthOutcome, Credentials, Event, Output, Overload, Security, Session, SessionConfig, TlsMode,
};
use crate::wire::deflate;
use crate::wire::link::{LinkProtocol, SessionHello};

/// Plaintext read from the transport at once: with the session's incomplete command, all the
/// input a connection holds (see the module's documentation).
const READ_BUF: usize = 16 * 1024;

/// A connection quiet this long (no input, nothing sent) gives back its buffers: the read
/// buffer, the transport's ciphertext buffers, the session's input and output buffers and,
/// when compressed, the compressor's memory (the inflater's window stays; the next reply makes
/// a new compressor, without the history). An idle session (IMAP IDLE, a mail client's open
/// connection) then holds its socket, its TLS state and its session state, and waits for input
/// without a buffer ([`Transport::wait_input`]); the next input or reply allocates them again.
const QUIET: Duration = Duration::from_secs(2);

/// What a connection is besides its transport and its shard-local handles; all `Send`, so
/// it travels unchanged when the connection moves shards.
struct Core<S: Service> {
    session: S::Session,
    peer: SocketAddr,
    listener: Listener,
    /// Counts this connection against the limits until it is dropped, wherever it runs.
    _permit: Permit,
    shutdown_sent: bool,
    /// The account was deleted: the session was told and no request is served any more.
    revoked: bool,
    /// The authenticated account's store key, and the accounts file version that said so.
    account: Option<(String, u64)>,
    /// The credential it logged in with: the session ends when it is revoked or changed.
    credential: Option<CredentialUse>,
    /// A SCRAM exchange between two client messages.
    scram: Option<Box<scram_login::ScramPending>>,
    /// The user name that logged in, as given (for the session-end log line).
    user: Option<String>,
    /// For the session-end log line: when it began, bytes read and written.
    started: Instant,
    /// Unix seconds at accept (`ringpost who`).
    connected: i64,
    bytes_in: u64,
    bytes_out: u64,
    /// When a connection that has not logged in yet is closed (`timeouts.login_secs`, counted
    /// from accept); `None` on listeners without logins (inbound SMTP) and once it has fired.
    login_by: Option<Instant>,
}

/// A live connection on its way to another shard: everything it is made of, and all `Send`.
pub struct MovedConnection {
    transport: TransportParts,
    core: Box<dyn Parked + Send>,
}

/// A connection's [`Core`] for any service (or another connection's state: a replication
/// stream's), waiting to be resumed on its new shard.
pub(super) trait Parked {
    fn resume(
        self: Box<Self>,
        transport: Transport,
        state: Rc<ShardState>,
    ) -> future::BoxedLocal<()>;
}

/// One connection being served on this shard.
struct Connection<S: Service> {
    transport: Transport,
    core: Core<S>,
    /// The service's per-connection state (a selected mailbox, a maildrop lock); made
    /// anew on each shard the connection runs on.
    service: S,
}

enum Wake<N> {
    Input(io::Result<usize>),
    Notice(N),
    Idle,
    /// Not logged in by `Core::login_by`.
    LoginTimeout,
    KeepAlive,
    /// An HTTP request not complete within `[http] request_secs`.
    RequestTimeout,
    Shutdown,
    Revoked,
    /// Quiet for [`QUIET`] while holding buffers.
    Quiet,
}

/// How [`drive`] ended.
enum Ending {
    /// Closed (by either side) or broken.
    Closed,
    /// Authenticated for an account that lives on another shard.
    Move(ShardId),
    /// Authenticated for an account another host serves, which took the session: relay.
    Relay(Box<Relayed>),
}

/// A session another host continues, as the host that holds its client sees it.
struct Relayed {
    back: Transport,
    /// What the other host sent with its answer: the session's first output.
    early: Vec<u8>,
    node: String,
    /// The account's partition: the relay ends once the map gives it to another host.
    partition: Partition,
}

/// What [`authenticate`] leaves for the connection loop to do.
enum AfterLogin {
    /// Go on here (a failure, a challenge, or an account at home here).
    Stay,
    Move(ShardId),
    Relay(Box<Relayed>),
}

/// Serve one accepted connection with service `S` to the end (here or, after
/// authentication, on its account's home shard).
pub async fn serve_connection<S: Service>(
    tcp: TcpStream,
    peer: SocketAddr,
    listener: Listener,
    state: Rc<ShardState>,
) {
    let server = state.server();
    let session_config = session_config(&server, &listener);
    // Behind a load balancer the client is the one its PROXY header names: it is the peer
    // for limits, throttling, logs and `Received:` from here on.
    let (tcp, peer, early) = match &listener.proxy_protocol {
        None => (tcp, peer, Vec::new()),
        Some(trusted) => match Box::pin(proxied(tcp, peer, &listener, trusted, &server)).await {
            Some(proxied) => proxied,
            None => return,
        },
    };
    let mut transport = Transport::plain_after(tcp, early);
    let permit = match server.limits.admit(peer.ip()) {
        Ok(p) => p,
        Err(why) => {
            tracing::info!(
                target: "ringpost::limits",
                protocol = listener.protocol.name(),
                listener = %listener.address,
                client_ip = %peer.ip(),
                client_port = peer.port(),
                reason = why.text(),
                "connection refused"
            );
            state.counters.connection_refused(listener.protocol);
            Box::pin(refuse::<S::Session>(
                transport,
                &listener,
                &session_config,
                why,
            ))
            .await;
            return;
        }
    };
    // The login deadline runs from accept, TLS handshake included.
    let login_by = server
        .config
        .timeouts
        .login_deadline(listener.protocol)
        .map(|d| Instant::now() + d);
    if listener.tls == TlsMode::Implicit
        && !Box::pin(handshake(&mut transport, &state, peer, listener.protocol)).await
    {
        transport.close().await;
        return;
    }
    let security = if transport.is_tls() {
        Security::Tls
    } else {
        Security::Plaintext
    };
    let session = S::session(&listener, session_config, security, &server.config);
    let core = Core {
        session,
        peer,
        listener,
        _permit: permit,
        shutdown_sent: false,
        revoked: false,
        account: None,
        credential: None,
        scram: None,
        user: None,
        started: Instant::now(),
        connected: crate::store::now(),
        bytes_in: 0,
        bytes_out: 0,
        login_by,
    };
    run(
        Connection {
            transport,
            core,
            service: S::new(),
        },
        state,
    )
    .await;
}

/// What a session on `listener` is configured with.
fn session_config(server: &ServerContext, listener: &Listener) -> SessionConfig {
    SessionConfig {
        hostname: server.config.hostname.clone(),
        tls_mode: listener.tls,
        limits: server.config.limits.clone(),
        local_domains: server.config.local_domains.clone(),
        oauth: server.config.oauth.is_some(),
        scram: server.config.scram,
    }
}

/// Continue a session another host of the cluster handed over ([`link`]) on `transport`,
/// the link it came on: answer the hello, then serve the session on its account's home shard
/// as if its client had connected here (limits, logs and `ringpost who` name the client).
pub async fn serve_handoff(
    transport: Transport,
    hello: SessionHello,
    front: SocketAddr,
    state: Rc<ShardState>,
) {
    use crate::runtime::service::{
        mailbox::MailboxService, maildrop::MaildropService, web::WebService,
    };
    match hello.protocol {
        LinkProtocol::Imap => {
            Box::pin(continue_session::<MailboxService>(
                transport, hello, front, state,
            ))
            .await
        }
        LinkProtocol::Pop3 => {
            Box::pin(continue_session::<MaildropService>(
                transport, hello, front, state,
            ))
            .await
        }
        LinkProtocol::Http => {
            Box::pin(continue_session::<WebService>(
                transport, hello, front, state,
            ))
            .await
        }
    }
}

async fn continue_session<S: Service>(
    mut transport: Transport,
    hello: SessionHello,
    front: SocketAddr,
    state: Rc<ShardState>,
) {
    let server = state.server();
    let checked = Box::pin(check_handoff(&server, &hello)).await;
    let (key, version, permit) = match checked {
        Ok(taken) => taken,
        Err(why) => {
            tracing::info!(
                target: "ringpost::cluster",
                front = %front,
                client_ip = %hello.client.ip(),
                user = %hello.user,
                reason = %why,
                "handed-over session refused"
            );
            let answer = crate::wire::link::encode_answer(&crate::wire::link::Answer::Refused(why));
            let _ = transport.write_all(&answer).await;
            transport.close().await;
            return;
        }
    };
    let protocol = match hello.protocol {
        LinkProtocol::Imap => crate::config::Protocol::Imap,
        LinkProtocol::Pop3 => crate::config::Protocol::Pop3,
        LinkProtocol::Http => crate::config::Protocol::Http,
    };
    let listener = Listener {
        protocol,
        address: hello.listener,
        tls: TlsMode::Implicit,
        proxy_protocol: None,
    };
    let config = session_config(&server, &listener);
    let Some(mut session) = S::resume_session(&listener, config, &server.config, hello.handoff)
    else {
        let answer = crate::wire::link::encode_answer(&crate::wire::link::Answer::Refused(
            "the session cannot be continued".into(),
        ));
        let _ = transport.write_all(&answer).await;
        transport.close().await;
        return;
    };
    let accepted = crate::wire::link::encode_answer(&crate::wire::link::Answer::Accepted);
    if transport.write_all(&accepted).await.is_err() {
        return;
    }
    tracing::info!(
        target: "ringpost::cluster",
        protocol = protocol.name(),
        front = %front,
        client_ip = %hello.client.ip(),
        user = %hello.user,
        client_tls = %hello.tls,
        "session continued here from another host"
    );
    session.handle_auth(AuthOutcome::Success {
        account: hello.account,
    });
    let home = state.map.home_shard(&key);
    let core = Core {
        session,
        peer: hello.client,
        listener,
        _permit: permit,
        shutdown_sent: false,
        revoked: false,
        account: Some((key, version)),
        credential: Some(CredentialUse {
            id: hello.credential_id,
            stamp: hello.credential_stamp,
        }),
        scram: None,
        user: Some(hello.user),
        started: Instant::now(),
        connected: crate::store::now(),
        bytes_in: 0,
        bytes_out: 0,
        login_by: None,
    };
    let conn = Connection {
        transport,
        core,
        service: S::new(),
    };
    if home == state.id {
        run(conn, state).await;
    } else {
        move_connection(conn, home, &state).await;
    }
}

/// Whether this host takes a handed-over session: it serves the account's partition, the
/// account exists in the directory and the credential it logged in with is current. The
/// account's store key and directory version, and the client's place under the limits.
async fn check_handoff(
    server: &Arc<ServerContext>,
    hello: &SessionHello,
) -> Result<(String, u64, Permit), String> {
    let Some(cluster) = server.link.as_ref() else {
        return Err("not a cluster host".into());
    };
    let accounts = server.accounts.clone();
    let address = hello.account.clone();
    let credential = CredentialUse {
        id: hello.credential_id.clone(),
        stamp: hello.credential_stamp,
    };
    let found = glommio::executor()
        .spawn_blocking(move || {
            let account = accounts.lookup(&address)?;
            let version = accounts.version()?;
            let current = accounts.credential_current(&address, &credential);
            Ok::<_, crate::accounts::AccountError>((account, version, current))
        })
        .await;
    let (key, version) = match found {
        Ok((Some(account), version, true)) => (account.store_key(), version),
        Ok((Some(_), _, false)) => return Err("the credential changed".into()),
        Ok((None, _, _)) => return Err("no such account".into()),
        Err(e) => return Err(format!("the account directory: {e}")),
    };
    // The account's partition is its store key's, as the front found it in the shared
    // directory.
    let partition = Partition::of(&key);
    match cluster.routes.route(partition) {
        link::Route::Here => {}
        link::Route::There(remote) => {
            return Err(format!(
                "partition {} is served by {}, not {}",
                partition.index(),
                remote.node,
                cluster.node
            ))
        }
        link::Route::Unavailable(why) => return Err(why),
    }
    let permit = server
        .limits
        .admit(hello.client.ip())
        .map_err(|why| why.text().to_string())?;
    Ok((key, version, permit))
}

impl<S: Service> Parked for Core<S> {
    fn resume(
        self: Box<Self>,
        transport: Transport,
        state: Rc<ShardState>,
    ) -> future::BoxedLocal<()> {
        let conn = Connection {
            transport,
            core: *self,
            service: S::new(),
        };
        tracing::debug!(shard = %state.id, peer = %conn.core.peer, "connection moved to its home shard");
        Box::pin(run(conn, state))
    }
}

/// Continue a connection moved here from another shard.
pub async fn resume_connection(moved: MovedConnection, state: Rc<ShardState>) {
    let transport = Transport::from_parts(moved.transport);
    moved.core.resume(transport, state).await;
}

async fn run<S: Service>(mut conn: Connection<S>, state: Rc<ShardState>) {
    let registration = state.sessions.register(
        conn.core.listener.protocol,
        conn.core.listener.address,
        conn.core.peer,
        conn.core.connected,
    );
    // Bytes counted before the connection came here were counted where they were moved.
    let (bytes_in, bytes_out) = (conn.core.bytes_in, conn.core.bytes_out);
    let commands = conn.core.session.commands();
    let ending = drive(&mut conn, &state, &registration.entry).await;
    drop(registration);
    state.counters.session_bytes(
        conn.core.bytes_in - bytes_in,
        conn.core.bytes_out - bytes_out,
    );
    // What ran here (a moved session's earlier commands were counted where they ran).
    state.counters.commands(
        conn.core.listener.protocol,
        conn.core.session.commands().saturating_sub(commands),
    );
    match ending {
        Ending::Closed => {
            conn.transport.close().await;
            log_ended(&conn.core, None);
        }
        Ending::Relay(relayed) => Box::pin(relay_session(conn, *relayed, &state)).await,
        Ending::Move(to) => Box::pin(move_connection(conn, to, &state)).await,
    }
}

/// Relay a session another host continues until either side closes, then log its end.
async fn relay_session<S: Service>(mut conn: Connection<S>, relayed: Relayed, state: &ShardState) {
    let Relayed {
        mut back,
        early,
        node,
        partition,
    } = relayed;
    // A failover or a move gives the partition to another host: the session there cannot
    // write any more (and, cut off from etcd, may never learn why), so it ends here and the
    // client reconnects, to the new primary.
    let server = state.server();
    let moved = || {
        server
            .link
            .as_ref()
            .is_some_and(|cluster| match cluster.routes.route(partition) {
                link::Route::Here => true,
                link::Route::There(remote) => remote.node != node,
                link::Route::Unavailable(_) => false,
            })
    };
    let (sent, received) = Box::pin(link::relay(
        &mut conn.transport,
        &mut back,
        early,
        state,
        &moved,
    ))
    .await;
    conn.core.bytes_in += sent;
    conn.core.bytes_out += received;
    Box::pin(future::zip(conn.transport.close(), back.close())).await;
    log_ended(&conn.core, Some(&node));
}

/// Log a session's end: served here, or relayed to `node` (which logs its commands).
fn log_ended<S: Service>(core: &Core<S>, relayed_to: Option<&dyn std::fmt::Display>) {
    let node = relayed_to.map(|n| n.to_string()).unwrap_or_default();
    tracing::info!(
        target: "ringpost::session",
        protocol = core.listener.protocol.name(),
        listener = %core.listener.address,
        client_ip = %core.peer.ip(),
        client_port = core.peer.port(),
        user = core.user.as_deref().unwrap_or(""),
        node = %node,
        duration_ms = core.started.elapsed().as_millis() as u64,
        bytes_in = core.bytes_in,
        bytes_out = core.bytes_out,
        commands = core.session.commands(),
        "{}",
        if relayed_to.is_some() { "relayed session ended" } else { "session ended" }
    );
}

/// Move `transport` with its `parked` state to shard `to`, which resumes it.
pub(super) async fn move_parked(
    transport: Transport,
    parked: Box<dyn Parked + Send>,
    to: ShardId,
    state: &ShardState,
) {
    let Some(mesh) = state.moves.borrow().clone() else {
        transport.close().await;
        return;
    };
    let moved = match transport.into_parts() {
        Ok(transport) => MovedConnection {
            transport,
            core: parked,
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot move a connection; closing it");
            return;
        }
    };
    if let Err(e) = Box::pin(mesh.request(to, moved)).await {
        tracing::debug!(error = %e, "connection move failed");
    }
}

/// Move a connection to shard `to`, where its account lives.
async fn move_connection<S: Service>(conn: Connection<S>, to: ShardId, state: &ShardState) {
    // The service's state belongs to this shard; the new shard makes its own.
    drop(conn.service);
    move_parked(conn.transport, Box::new(conn.core), to, state).await;
}

/// The connection loop: send what the session queued, act on its events, feed it input.
async fn drive<S: Service>(
    conn: &mut Connection<S>,
    state: &ShardState,
    live: &LiveSession,
) -> Ending {
    let server = &state.server();
    let idle = server.config.timeouts.idle(conn.core.listener.protocol);
    let keepalive = server
        .config
        .timeouts
        .keepalive(conn.core.listener.protocol);
    let mut last_input = Instant::now();
    // HTTP: when the request now arriving began (the request deadline runs from there).
    let request_limit = server.config.timeouts.http_request;
    let mut request_began: Option<Instant> = None;
    // What goes out next: the session's bytes, and message bodies spliced in from the store's
    // read buffers (written to TLS from there, never copied into an output buffer).
    let mut out = Output::default();
    // The read buffer: [`READ_BUF`] bytes while the connection is active, none once it has
    // been quiet for [`QUIET`] (then allocated again when input arrives).
    let mut buf = vec![0u8; READ_BUF];
    // Buffers were given back and nothing was read or sent since: what is still held (a
    // command half received) stays, without waking every [`QUIET`] to try again.
    let mut quieted = false;
    loop {
        if let Some(limit) = conn.core.session.take_limit() {
            log_limit(&conn.core, limit);
            state.counters.request_refused(conn.core.listener.protocol);
        }
        conn.core.session.poll_output(out.bytes_mut());
        if !out.is_empty() {
            if conn.transport.write_parts(&out.parts()).await.is_err() {
                return Ending::Closed;
            }
            conn.core.bytes_out += out.len() as u64;
            out.clear();
            quieted = false;
        }
        let core = &conn.core;
        live.refresh(
            conn.transport.is_tls(),
            core.user.as_deref(),
            core.account.as_ref().map(|(key, _)| key.as_str()),
            core.bytes_in,
            core.bytes_out,
            core.session.commands(),
        );
        if !conn.core.revoked && (live.is_kicked() || revoked(conn, state)) {
            if live.is_kicked() {
                log_kicked(&conn.core);
            }
            conn.core.revoked = true;
            conn.core.shutdown_sent = true;
            conn.core.session.handle_revoked();
            continue;
        }
        if !conn.core.revoked && moved_away(&conn.core, state) {
            tracing::info!(target: "ringpost::cluster", peer = %conn.core.peer, protocol = conn.core.listener.protocol.name(), user = conn.core.user.as_deref().unwrap_or(""), "session ended: its account is served by another host now");
            // Nothing more is done here for the account; the client reconnects.
            conn.core.revoked = true;
            conn.core.shutdown_sent = true;
            conn.core.session.handle_moved();
            continue;
        }
        if let Some(event) = conn.core.session.poll_event() {
            match event {
                Event::StartTls => {
                    let protocol = conn.core.listener.protocol;
                    let tls = handshake(&mut conn.transport, state, conn.core.peer, protocol);
                    if !Box::pin(tls).await {
                        return Ending::Closed;
                    }
                    conn.core.session.handle_tls_established();
                }
                Event::StartCompression => {
                    // The tagged OK went out uncompressed just now (output is flushed before
                    // events); the compressed streams start right after it.
                    let pipelined = conn.core.session.handle_compression_started();
                    if let Err(e) = conn.transport.start_compression(deflate::LEVEL, pipelined) {
                        tracing::debug!(peer = %conn.core.peer, error = %e, "cannot start compression");
                        return Ending::Closed;
                    }
                }
                Event::Authenticate(credentials) => {
                    // Boxed, as requests below: the connection's future stays as small as
                    // its idle wait, not as large as the largest thing a session can do.
                    match Box::pin(authenticate(conn, state, credentials)).await {
                        AfterLogin::Stay => {}
                        AfterLogin::Move(home) => return Ending::Move(home),
                        AfterLogin::Relay(relayed) => return Ending::Relay(relayed),
                    }
                }
                // Nothing more is done for a deleted account; the session is closing.
                Event::Request(_) if conn.core.revoked => {}
                Event::Request(request) => {
                    let cx = Context {
                        shard: state,
                        peer: conn.core.peer,
                        transport: &conn.transport,
                        account: conn.core.account.as_ref().map(|(key, _)| key.as_str()),
                        credential: conn.core.credential.as_ref(),
                    };
                    let began = Instant::now();
                    let reply = Box::pin(conn.service.handle(request, &cx)).await;
                    state
                        .counters
                        .request(conn.core.listener.protocol, began.elapsed());
                    conn.core.session.handle_reply(reply, &mut out);
                }
                Event::Close => return Ending::Closed,
                Event::Unauthenticated => {
                    conn.core.account = None;
                    conn.core.credential = None;
                    conn.core.user = None;
                    conn.core.scram = None;
                    // Nothing of the old account's (a selected mailbox's feed) survives.
                    conn.service = S::new();
                    // A new login deadline, from now.
                    conn.core.login_by = state
                        .server()
                        .config
                        .timeouts
                        .login_deadline(conn.core.listener.protocol)
                        .map(|d| Instant::now() + d);
                }
            }
            continue;
        }
        if state.shutdown.is_fired() && !conn.core.shutdown_sent {
            conn.core.shutdown_sent = true;
            conn.core.session.handle_shutdown();
            continue;
        }

        let shutdown_sent = conn.core.shutdown_sent;
        let holds_buffers = !buf.is_empty()
            || conn.transport.holds_buffers()
            || conn.transport.holds_compressor()
            || out.holds_buffers()
            || conn.core.session.holds_buffers();
        let transport = &mut conn.transport;
        let read_buf = &mut buf;
        let read = async move {
            if read_buf.is_empty() {
                transport.wait_input().await?;
                read_buf.resize(READ_BUF, 0);
            }
            transport.read(read_buf).await
        };
        // The autologout deadline runs from the last input, across keep-alives; the login
        // deadline from accept, whatever the input.
        let idle_left = idle.saturating_sub(last_input.elapsed());
        let login_left = match (&conn.core.account, conn.core.login_by) {
            (None, Some(by)) => Some(by.saturating_duration_since(Instant::now())),
            _ => None,
        };
        let mut next = (idle_left, Wake::Idle);
        if let Some(keepalive) = keepalive.filter(|k| *k < next.0) {
            next = (keepalive, Wake::KeepAlive);
        }
        if let Some(login_left) = login_left.filter(|l| *l <= next.0) {
            next = (login_left, Wake::LoginTimeout);
        }
        // A request counts from the input that began it (pipelined leftovers: from the last).
        request_began = match conn.core.session.request_in_progress() {
            true => request_began.or(Some(last_input)),
            false => None,
        };
        if let Some(began) = request_began {
            let left = request_limit.saturating_sub(began.elapsed());
            if left <= next.0 {
                next = (left, Wake::RequestTimeout);
            }
        }
        if holds_buffers && !quieted && QUIET < next.0 {
            next = (QUIET, Wake::Quiet);
        }
        let (wait, timeout) = next;
        let idle_timer = async {
            sleep(wait).await;
            timeout
        };
        let stop = async {
            if shutdown_sent {
                future::pending::<()>().await;
            }
            state.shutdown.wait().await;
            Wake::Shutdown
        };
        let core = &conn.core;
        let revocation = async {
            if core.account.is_some() && !core.revoked {
                let gone = future::or(wait_revoked(core, state), wait_moved(core, state));
                future::or(gone, live.kicked()).await
            } else {
                future::pending::<()>().await
            }
            Wake::Revoked
        };
        let service = &mut conn.service;
        let notice = async { Wake::Notice(service.next_notice().await) };
        let wake = future::or(
            async { Wake::Input(read.await) },
            future::or(notice, future::or(idle_timer, future::or(stop, revocation))),
        )
        .await;
        match wake {
            Wake::Input(Ok(0)) | Wake::Input(Err(_)) => return Ending::Closed,
            Wake::Input(Ok(n)) => {
                last_input = Instant::now();
                quieted = false;
                conn.core.bytes_in += n as u64;
                conn.core.session.handle_input(&buf[..n]);
            }
            Wake::RequestTimeout => {
                tracing::debug!(peer = %conn.core.peer, protocol = conn.core.listener.protocol.name(), "request not complete in time; closing");
                request_began = None;
                conn.core.session.handle_request_timeout();
            }
            Wake::LoginTimeout => {
                tracing::debug!(peer = %conn.core.peer, protocol = conn.core.listener.protocol.name(), "no login in time; closing");
                // Fires once: the session says goodbye and asks to close.
                conn.core.login_by = None;
                conn.core.session.handle_idle_timeout();
            }
            Wake::KeepAlive => conn.core.session.handle_keepalive(),
            Wake::Notice(notice) => conn.core.session.handle_notice(notice),
            Wake::Idle => {
                tracing::debug!(peer = %conn.core.peer, protocol = conn.core.listener.protocol.name(), "idle for too long; closing");
                conn.core.session.handle_idle_timeout();
            }
            Wake::Shutdown => {
                conn.core.shutdown_sent = true;
                conn.core.session.handle_shutdown();
            }
            // Acted on at the top of the loop.
            Wake::Revoked => {}
            Wake::Quiet => {
                conn.transport.release_compressor();
                conn.transport.release_buffers();
                conn.core.session.release_buffers();
                out.release();
                buf = Vec::new();
                quieted = true;
                crate::runtime::memory::released();
            }
        }
    }
}

/// An administrator ended the session (`ringpost kick`, `user del`).
fn log_kicked<S: Service>(core: &Core<S>) {
    tracing::info!(
        target: "ringpost::session",
        protocol = core.listener.protocol.name(),
        listener = %core.listener.address,
        client_ip = %core.peer.ip(),
        client_port = core.peer.port(),
        user = core.user.as_deref().unwrap_or(""),
        "session ended by the administrator"
    );
}

/// Whether the connection's account was deleted (`ringpost user del`), or the credential it
/// logged in with revoked or changed, since it logged in. Checked before every request, so
/// nothing more is done for it once this shard has seen the change.
fn revoked<S: Service>(conn: &Connection<S>, state: &ShardState) -> bool {
    core_revoked(&conn.core, state)
}

fn core_revoked<S: Service>(core: &Core<S>, state: &ShardState) -> bool {
    let Some((key, since)) = core.account.as_ref() else {
        return false;
    };
    if state.deleted_accounts.revoked(key, *since) {
        return true;
    }
    // The file this shard has seen is the one the login was checked with: nothing changed.
    if state.deleted_accounts.version() <= *since {
        return false;
    }
    core.credential.as_ref().is_some_and(|used| {
        !state
            .server()
            .accounts
            .credential_current(crate::accounts::address_of_key(key), used)
    })
}

/// Whether the session's account is served by another host of the cluster now (its partition
/// moved away, see [`ShardState::partitions_moved`]): for sessions that use its mailboxes
/// here ([`Placement::HomeShard`]).
fn moved_away<S: Service>(core: &Core<S>, state: &ShardState) -> bool {
    let Some((key, _)) = core.account.as_ref() else {
        return false;
    };
    // Cheap for a single host, which replicates nothing: checked before every command.
    if S::PLACEMENT != Placement::HomeShard || state.replication.borrow().is_none() {
        return false;
    }
    let server = state.server();
    let Some(link) = server.link.as_ref() else {
        return false;
    };
    // Not only when the new primary is reachable: a session whose account another host
    // now serves cannot go on here either way.
    link.routes.primary_elsewhere(Partition::of(key))
}

/// Resolves once [`moved_away`] says so (checked whenever partitions of this shard move).
async fn wait_moved<S: Service>(core: &Core<S>, state: &ShardState) {
    if S::PLACEMENT != Placement::HomeShard || state.replication.borrow().is_none() {
        return future::pending().await;
    }
    loop {
        let changed = state.partitions_moved.changed();
        if moved_away(core, state) {
            return;
        }
        changed.await;
    }
}

/// Resolves once [`core_revoked`] says so (checked whenever the shard reads a new version of
/// the accounts file).
async fn wait_revoked<S: Service>(core: &Core<S>, state: &ShardState) {
    while !core_revoked(core, state) {
        state.deleted_accounts.changed().await;
    }
}

/// Verify credentials for the session and hand it the outcome, here or, for an account
/// another host serves, to that host with the session ([`link`]). `Move`: authenticated for
/// an account whose home is another shard, where a session of this service must run.
async fn authenticate<S: Service>(
    conn: &mut Connection<S>,
    state: &ShardState,
    mut credentials: Credentials,
) -> AfterLogin {
    let server = &state.server();
    let throttle = &server.auth_throttle;
    let ip = conn.core.peer.ip();
    let scope = match conn.core.listener.protocol {
        crate::config::Protocol::Imap => Scope::Imap,
        crate::config::Protocol::Pop3 => Scope::Pop3,
        crate::config::Protocol::Submission | crate::config::Protocol::Smtp => Scope::Smtp,
        // DAV requests' HTTP Basic credentials; otherwise the workspace's sign-in (metrics
        // never authenticate).
        crate::config::Protocol::Http
            if credentials.mechanism == crate::http::session::HTTP_BASIC =>
        {
            Scope::Dav
        }
        crate::config::Protocol::Http | crate::config::Protocol::Metrics => Scope::Web,
    };
    // SCRAM: the messages before the last are answered here, without a login attempt.
    let mut decided = None;
    if crate::sasl::is_scram(&credentials) {
        let plus = credentials.mechanism == crate::sasl::Mechanism::ScramSha256Plus.name();
        let step = scram_login::step(
            &mut conn.core.scram,
            credentials.password.expose(),
            plus,
            conn.transport.tls_exporter(),
            &server.accounts,
            scope,
            server.config.protocol_passwords,
            server.config.password_policy.scram_iterations,
        );
        match step {
            scram_login::Step::Continue(challenge) => {
                conn.core
                    .session
                    .handle_auth(AuthOutcome::Continue(challenge));
                return AfterLogin::Stay;
            }
            scram_login::Step::Done(user, result) => {
                credentials.username = user;
                decided = Some(result);
            }
        }
    }
    let user = credentials.username.clone();
    let admission = throttle.admit(ip, &user, unix_now());
    let mechanism = credentials.mechanism;
    let (outcome, store_key) = match admission {
        Admission::Refused => (AuthOutcome::TemporaryFailure, None),
        Admission::After(wait) => {
            if !wait.is_zero() {
                // This account failed often lately: slow every attempt on it, never refuse.
                sleep(wait).await;
            }
            let verified = match decided {
                Some(result) => result,
                None => verify(state, server, credentials, scope).await,
            };
            match &verified.0 {
                AuthOutcome::Failure => throttle.failed(ip, &user, unix_now()),
                AuthOutcome::Success { .. } => throttle.succeeded(&user),
                AuthOutcome::TemporaryFailure | AuthOutcome::Continue(_) => {}
            }
            verified
        }
    };
    // HTTP Basic names its credentials on every request: a connection's repeated successful
    // logins as the same user are one login in the auth log (failures are always logged).
    let repeated = mechanism == crate::http::session::HTTP_BASIC
        && matches!(outcome, AuthOutcome::Success { .. })
        && conn.core.account.is_some()
        && conn.core.user.as_deref() == Some(user.as_str());
    if !repeated {
        log_login(conn, &user, mechanism, &outcome, admission);
    }
    state.counters.login(
        conn.core.listener.protocol,
        mechanism,
        match (&outcome, admission) {
            (_, Admission::Refused)
            | (AuthOutcome::TemporaryFailure, _)
            | (AuthOutcome::Continue(_), _) => LoginResult::Refused,
            (AuthOutcome::Failure, _) => LoginResult::Failed,
            (AuthOutcome::Success { .. }, _) => LoginResult::Succeeded,
        },
    );
    if outcome == AuthOutcome::Failure || admission == Admission::Refused {
        // Slow down guessing; the same delay for every kind of failure.
        sleep(server.config.auth_failure_delay).await;
    }
    if matches!(outcome, AuthOutcome::Success { .. }) {
        conn.core.user = Some(user);
    }
    let mut outcome = outcome;
    let home = match (&outcome, store_key) {
        (AuthOutcome::Success { account }, Some((key, version, credential))) => {
            // An account another host serves: that host continues the session (a DAV
            // request and what follows it on HTTP; the workspace's sign-in stays here).
            let relayable = conn.core.listener.protocol != crate::config::Protocol::Http
                || mechanism == crate::http::session::HTTP_BASIC;
            if S::PLACEMENT == Placement::HomeShard && relayable {
                if let Some(link) = server.link.as_ref() {
                    match link.routes.route(Partition::of(&key)) {
                        link::Route::Here => {}
                        link::Route::There(remote) => {
                            let account = account.clone();
                            let relayed = Box::pin(relay_to(
                                conn,
                                link,
                                &remote,
                                &account,
                                &credential,
                                Partition::of(&key),
                            ));
                            match relayed.await {
                                Some(relayed) => return AfterLogin::Relay(relayed),
                                None => outcome = AuthOutcome::TemporaryFailure,
                            }
                        }
                        link::Route::Unavailable(why) => {
                            tracing::warn!(target: "ringpost::cluster", account = %account, reason = %why, "login refused for now: its partition is not served");
                            outcome = AuthOutcome::TemporaryFailure;
                        }
                    }
                }
            }
            if matches!(outcome, AuthOutcome::Success { .. }) {
                let home = state.map.home_shard(&key);
                conn.core.account = Some((key, version));
                conn.core.credential = Some(credential);
                Some(home)
            } else {
                conn.core.user = None;
                None
            }
        }
        _ => None,
    };
    conn.core.session.handle_auth(outcome);
    match home.filter(|home| S::PLACEMENT == Placement::HomeShard && *home != state.id) {
        Some(home) => AfterLogin::Move(home),
        None => AfterLogin::Stay,
    }
}

/// Hand the session to `remote`, which serves its account; `None` (logged) when it cannot
/// take it, and the login is then answered here as a temporary failure.
async fn relay_to<S: Service>(
    conn: &mut Connection<S>,
    cluster: &link::ClusterLink,
    remote: &link::Remote,
    account: &str,
    credential: &CredentialUse,
    partition: Partition,
) -> Option<Box<Relayed>> {
    let protocol = match conn.core.listener.protocol {
        crate::config::Protocol::Imap => LinkProtocol::Imap,
        crate::config::Protocol::Pop3 => LinkProtocol::Pop3,
        crate::config::Protocol::Http => LinkProtocol::Http,
        _ => return None,
    };
    let Some(handoff) = conn.core.session.handoff() else {
        tracing::warn!(target: "ringpost::cluster", protocol = protocol.name(), "session cannot be handed over; login refused for now");
        return None;
    };
    let tls = conn
        .transport
        .tls_info()
        .map(|t| format!("{} {}", t.version, t.cipher))
        .unwrap_or_default();
    let hello = SessionHello {
        protocol,
        listener: conn.core.listener.address,
        client: conn.core.peer,
        user: conn.core.user.clone().unwrap_or_default(),
        account: account.to_owned(),
        credential_id: credential.id.clone(),
        credential_stamp: credential.stamp,
        tls,
        handoff,
    };
    match link::hand_over(cluster, remote, hello).await {
        Ok((back, early)) => {
            tracing::info!(
                target: "ringpost::cluster",
                protocol = protocol.name(),
                client_ip = %conn.core.peer.ip(),
                user = conn.core.user.as_deref().unwrap_or(""),
                node = %remote.node,
                "session continued on another host"
            );
            Some(Box::new(Relayed {
                back,
                early,
                node: remote.node.clone(),
                partition,
            }))
        }
        Err(e) => {
            tracing::warn!(
                target: "ringpost::cluster",
                protocol = protocol.name(),
                node = %remote.node,
                address = %remote.address,
                error = %e,
                "cannot hand a session to the host that serves its account"
            );
            None
        }
    }
}

/// One line per request a session refused for a configured limit (target
/// `ringpost::limits`), as for connections refused by one.
fn log_limit<S: Service>(core: &Core<S>, limit: &str) {
    tracing::info!(
        target: "ringpost::limits",
        protocol = core.listener.protocol.name(),
        listener = %core.listener.address,
        client_ip = %core.peer.ip(),
        client_port = core.peer.port(),
        user = core.user.as_deref().unwrap_or(""),
        reason = limit,
        "request refused"
    );
}

/// One line per login attempt (target `ringpost::auth`): what fail2ban and operators read.
/// Never the password.
fn log_login<S: Service>(
    conn: &Connection<S>,
    user: &str,
    mechanism: &str,
    outcome: &AuthOutcome,
    admission: Admission,
) {
    let core = &conn.core;
    let tls = conn.transport.tls_info().map(|t| t.version);
    let tls = tls.as_deref().unwrap_or("none");
    let protocol = core.listener.protocol.name();
    match outcome {
        AuthOutcome::Success { account } => tracing::info!(
            target: "ringpost::auth",
            protocol,
            listener = %core.listener.address,
            client_ip = %core.peer.ip(),
            client_port = core.peer.port(),
            user,
            account = account.as_str(),
            mechanism,
            tls,
            "login"
        ),
        failed => {
            let reason = match (failed, admission) {
                (_, Admission::Refused) => "too many failures from this address",
                (AuthOutcome::Failure, _) => "invalid credentials",
                _ => "account database unavailable",
            };
            tracing::info!(
                target: "ringpost::auth",
                protocol,
                listener = %core.listener.address,
                client_ip = %core.peer.ip(),
                client_port = core.peer.port(),
                user,
                mechanism,
                tls,
                reason,
                "login failed"
            );
        }
    }
}

/// The start of a connection on a PROXY protocol listener from `proxy`: refused unless
/// `proxy` is `trusted`; then its header, read within the TLS handshake timeout. Returns the
/// socket, the client (the proxy itself for a health check or an unknown client) and the
/// bytes read after the header; `None`: the connection was closed, and logged.
async fn proxied(
    mut tcp: TcpStream,
    proxy: SocketAddr,
    listener: &Listener,
    trusted: &[IpNet],
    server: &ServerContext,
) -> Option<(TcpStream, SocketAddr, Vec<u8>)> {
    let refused = |reason: &str, error: Option<&dyn std::fmt::Display>| {
        tracing::info!(
            target: "ringpost::limits",
            protocol = listener.protocol.name(),
            listener = %listener.address,
            client_ip = %proxy.ip(),
            client_port = proxy.port(),
            reason,
            error = error.map(tracing::field::display),
            "connection refused"
        );
    };
    if !trusted.iter().any(|net| net.contains(proxy.ip())) {
        refused("untrusted PROXY protocol source", None);
        Transport::plain(tcp).close().await;
        return None;
    }
    let timeout = server.config.timeouts.tls_handshake;
    let read = future::or(async { Some(proxy::read_header(&mut tcp).await) }, async {
        sleep(timeout).await;
        None
    })
    .await;
    match read {
        Some(Ok((header, early))) => {
            let client = header.source.client().unwrap_or(proxy);
            tracing::debug!(
                listener = %listener.address,
                proxy = %proxy,
                client = %client,
                source = ?header.source,
                "PROXY header"
            );
            return Some((tcp, client, early));
        }
        // A bare TCP probe (connect and close): not worth an info line.
        Some(Err(proxy::ReadError::Closed(0))) => {
            tracing::debug!(
                listener = %listener.address,
                proxy = %proxy,
                "closed before a PROXY header"
            );
        }
        Some(Err(e)) => refused("no valid PROXY header", Some(&e)),
        None => refused("no PROXY header in time", None),
    }
    Transport::plain(tcp).close().await;
    None
}

/// TLS handshake bounded by the configured timeout, and given up when the shard shuts down
/// (a stalled handshake must not hold the shutdown for its whole timeout). `false`: failed,
/// timed out or shutting down.
async fn handshake(
    transport: &mut Transport,
    state: &ShardState,
    peer: SocketAddr,
    protocol: crate::config::Protocol,
) -> bool {
    let server = state.server();
    let timeout = server.config.timeouts.tls_handshake;
    let tls = if protocol.is_http() {
        server.tls_http.clone()
    } else {
        server.tls.clone()
    };
    let result = future::or(
        async { Some(transport.handshake(tls).await) },
        future::or(
            async {
                sleep(timeout).await;
                None
            },
            async {
                state.shutdown.wait().await;
                Some(Err(io::Error::other("shutting down")))
            },
        ),
    )
    .await;
    match result {
        Some(Ok(())) => true,
        Some(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            false
        }
        None => {
            tracing::debug!(%peer, "TLS handshake timed out");
            false
        }
    }
}

/// Seconds since the Unix epoch (the throttle's clock).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Check a password for a login to `scope`: from the shard's verified-login cache when the
/// same user gave the same password lately and no account changed since (see
/// [`login_cache`]); otherwise on the executor's blocking pool, since argon2 takes tens of
/// milliseconds and must not stall every other connection of the shard. The session hears
/// the address; the store key (which incarnation of the account) and the credential used
/// stay with the driver.
async fn verify(
    state: &ShardState,
    server: &Arc<ServerContext>,
    credentials: Credentials,
    scope: Scope,
) -> (AuthOutcome, Option<(String, u64, CredentialUse)>) {
    let config = &server.config;
    if crate::sasl::is_bearer(&credentials) {
        return verify_bearer(state, server, &credentials).await;
    }
    let mode = config.protocol_passwords;
    let ttl = config.auth_cache_ttl;
    let fingerprint = (!ttl.is_zero()).then(|| {
        login_cache::fingerprint(
            scope,
            mode,
            &credentials.username,
            credentials.password.expose(),
        )
    });
    if let Some(f) = &fingerprint {
        let current = server.accounts.version_if_unchanged();
        if let Some(hit) = current.and_then(|v| state.login_cache.get(f, ttl, v)) {
            server.accounts.note_use(&hit.account, &hit.credential.id);
            return (
                AuthOutcome::Success {
                    account: hit.account,
                },
                Some((hit.store_key, hit.version, hit.credential)),
            );
        }
    }
    let accounts = server.accounts.clone();
    let verification = glommio::executor()
        .spawn_blocking(move || {
            accounts.verify(
                &credentials.username,
                credentials.password.expose(),
                scope,
                mode,
            )
        })
        .await;
    match verification {
        Verification::Valid {
            account,
            store_key,
            version,
            credential,
        } => {
            server.accounts.note_use(&account, &credential.id);
            if let Some(f) = fingerprint {
                let verified = login_cache::Verified {
                    account: account.clone(),
                    store_key: store_key.clone(),
                    version,
                    credential: credential.clone(),
                };
                state
                    .login_cache
                    .put(f, verified, ttl, config.auth_cache_size);
            }
            (
                AuthOutcome::Success { account },
                Some((store_key, version, credential)),
            )
        }
        Verification::Invalid => (AuthOutcome::Failure, None),
        Verification::Unavailable => (AuthOutcome::TemporaryFailure, None),
    }
}

/// Check an OAuth bearer token (OAUTHBEARER, XOAUTH2) against `[auth.oauth]`: a signature
/// check and the claims, microseconds, on the shard. The token's user must be an account of
/// ours, and the identity the client named (if any) that user.
async fn verify_bearer(
    state: &ShardState,
    server: &Arc<ServerContext>,
    credentials: &Credentials,
) -> (AuthOutcome, Option<(String, u64, CredentialUse)>) {
    let Some(settings) = &server.config.oauth else {
        return (AuthOutcome::Failure, None);
    };
    let named = (!credentials.username.is_empty()).then_some(credentials.username.as_str());
    let check = |keys: Option<std::sync::Arc<crate::oauth::Keys>>| {
        let Some(keys) = keys else {
            return Err(crate::oauth::TokenError::UnknownKey);
        };
        let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
        crate::oauth::validate(credentials.password.expose(), &keys, &settings.config, now)
            .and_then(|v| crate::oauth::check_identity(named, &v).map(|()| v))
    };
    let mut validated = check(jwks::keys(state, settings, false).await);
    if matches!(validated, Err(crate::oauth::TokenError::UnknownKey)) && settings.jwks_url.is_some()
    {
        // The issuer may have rotated its keys since they were fetched.
        validated = check(jwks::keys(state, settings, true).await);
    }
    let validated = match validated {
        Ok(v) => v,
        Err(e) => {
            tracing::info!(target: "ringpost::auth", mechanism = credentials.mechanism, reason = %e, "bearer token refused");
            return (AuthOutcome::Failure, None);
        }
    };
    let accounts = &server.accounts;
    match (accounts.lookup(&validated.username), accounts.version()) {
        (Ok(Some(account)), Ok(version)) => (
            AuthOutcome::Success {
                account: account.address.as_str().to_string(),
            },
            Some((
                account.store_key(),
                version,
                CredentialUse {
                    id: crate::accounts::OAUTH_CREDENTIAL.to_string(),
                    stamp: 0,
                },
            )),
        ),
        (Ok(None), _) => {
            tracing::info!(target: "ringpost::auth", user = %validated.username, "bearer token for no account of ours");
            (AuthOutcome::Failure, None)
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "account database unavailable");
            (AuthOutcome::TemporaryFailure, None)
        }
    }
}

/// Tell a connection over the limits why it is refused (in the protocol's words, on listeners
/// that start in plaintext), then close. Implicit-TLS connections are closed without a
/// handshake: under overload a handshake is the most expensive thing we could do.
async fn refuse<S: Session>(
    mut transport: Transport,
    listener: &Listener,
    config: &SessionConfig,
    why: Overload,
) {
    if listener.tls != TlsMode::Implicit {
        let reply = S::overloaded(config, why);
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
