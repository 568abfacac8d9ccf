//! The runtime: one glommio executor pinned per core, sharing nothing mutable.
//!
//! [`serve`] takes the data-dir lock, loads TLS and accounts, starts one executor per CPU of
//! the process's affinity mask (or `server.shards`), binds every listener on each, and on
//! SIGINT/SIGTERM stops accepting, tells every session to say goodbye, waits for them up to
//! `timeouts.shutdown_grace_secs` and returns. Commands reach the running server through
//! its [`control`] socket. Every executor is built by [`executor`]
//! (offline commands run theirs with [`run_standalone`]); deliveries fan out to home shards
//! through [`fanout`]. Connections are served by [`net`]'s one driver, which runs each
//! protocol's requests through its [`service`]. This module is the only one that names
//! glommio, with the store's one IO file (`store/io.rs`), so the runtime can be replaced behind
//! them (PLATFORM.md §14).

pub mod accounts_watch;
pub mod auth_checks;
pub mod control;
pub mod executor;
pub mod fanout;
pub mod memory;
pub mod mesh;
pub mod metrics;
pub mod net;
pub mod outbound;
pub mod privileges;
pub mod replication;
pub mod service;
mod shutdown;
pub mod watchdog;
pub mod web_sessions;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

pub use crate::placement::{MeshError, Partition, ShardId, ShardMap, PARTITIONS};
pub use executor::{run_standalone, Executor, ExecutorThread};
pub use mesh::{Handler, HandlerFuture, Mesh, MeshBuilder};
pub use shutdown::Shutdown;

use crate::accounts::AccountStore;
use crate::config::{Config, FullTextIndex};
use crate::store::text::FullText;
use crate::store::{Store, StoreConfig};
use control::{ControlSocket, ShardJob};
use fanout::{Deliverer, StoreReply, StoreRequest};
use net::{
    AuthThrottle, ConnectionLimits, CurrentServer, MovedConnection, ServerContext, ShardState,
};
use service::mailbox::{ShareReply, ShareRequest};

/// How often a shard looks at the process-wide stop flag set by the signal handler.
const STOP_POLL: Duration = Duration::from_millis(50);

/// How long another host of the cluster may take to answer a delivery's copies.
const CLUSTER_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The internal link of a cluster host: its TLS (mutual, with the cluster CA) and the
/// routes the map gives. The link is what keeps a host from serving another's accounts, so
/// a cluster host without its certificates does not start.
fn cluster_link(
    config: &crate::config::ClusterConfig,
    handle: &crate::cluster::ClusterHandle,
) -> io::Result<net::link::ClusterLink> {
    let Some(tls) = config.tls.as_ref() else {
        return Err(io::Error::other(
            "[cluster] needs ca, cert and key: hosts hand each other sessions and deliveries \
             over mutual TLS (`ringpost cluster ca` and `ringpost cluster cert` make them)",
        ));
    };
    let (server_tls, client_tls) = crate::tls::cluster_configs(&tls.ca, &tls.cert, &tls.key)
        .map_err(|e| io::Error::other(format!("[cluster] TLS: {e}")))?;
    Ok(net::link::ClusterLink {
        node: config.node.clone(),
        routes: Arc::new(net::link::MapRoutes(handle.clone())),
        server_tls,
        client_tls,
        connect_timeout: Duration::from_secs(5),
    })
}

/// How long every shard gets to bind its listeners and report ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Applies a new `[log] level` (a tracing filter directive) on reload; the logger is the
/// caller's.
pub type SetLogLevel = Box<dyn Fn(&str) -> Result<(), String> + Send>;

/// Run the server until SIGINT or SIGTERM, then shut down gracefully. SIGHUP reloads the
/// configuration file (see [`reload`]).
pub fn serve(config: Config, set_log_level: SetLogLevel) -> io::Result<()> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create {}: {e}", config.data_dir.display()),
        )
    })?;
    let _lock = lock_data_dir(&config.data_dir)?;
    // Snapshot folders a backup left when the server or the backup stopped mid-way.
    if let Err(e) = crate::backup::remove_stale_snapshots(&config.data_dir) {
        tracing::warn!(error = %e, "cannot remove old backup snapshots");
    }
    ports_are_free(&config)?;
    raise_open_file_limit(config.max_connections);
    let tls = crate::tls::server_config(&config).map_err(|e| io::Error::other(e.to_string()))?;
    let open_accounts = |config: &Config| {
        AccountStore::open_configured(config).map_err(|e| io::Error::other(e.to_string()))
    };
    // The accounts file is opened while root (it may create data_dir); PostgreSQL's
    // connection thread starts after root is dropped, like every other thread.
    let file_accounts = match config.accounts {
        crate::config::AccountsBackend::File => Some(open_accounts(&config)?),
        crate::config::AccountsBackend::Postgres(_) => None,
    };
    let cpus = allowed_cpus()?;
    let shards = shard_count(&config)?;
    // Every shard's listening sockets, bound while root (ports below 1024), before any
    // thread exists; then root is dropped for good.
    let mut sockets = (0..shards)
        .map(|_| net::bind_all(&config))
        .collect::<io::Result<Vec<_>>>()?;
    // With `[cluster]`, every shard's socket of the internal listener (other hosts hand
    // sessions and deliveries to this one there), at the address it advertises.
    let mut link_sockets = (0..shards)
        .map(|_| {
            config
                .cluster
                .as_ref()
                .map(|c| net::bind_link(c.advertise))
                .transpose()
        })
        .collect::<io::Result<Vec<_>>>()?;
    privileges::drop_root(config.run_as.as_ref(), &config.data_dir)?;
    let accounts = match file_accounts {
        Some(accounts) => accounts,
        None => open_accounts(&config)?,
    };

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())?;
    let (job_senders, mut job_receivers): (Vec<_>, Vec<_>) =
        (0..shards).map(|_| mpsc::channel::<ShardJob>()).unzip();
    // With `[cluster]`, the one thread that talks to etcd (membership, the map); started
    // after root was dropped, like every other thread. It never blocks the start: the node
    // stays fenced until etcd has answered.
    let cluster = match &config.cluster {
        Some(c) => Some(
            crate::cluster::ClusterHandle::start(c).map_err(|e| io::Error::other(e.to_string()))?,
        ),
        None => None,
    };
    if config.cluster.is_some() {
        // Scratch folders of snapshots sent or received when the process last ran.
        match std::fs::remove_dir_all(config.data_dir.join("replication")) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    let link = match (&config.cluster, &cluster) {
        (Some(c), Some(handle)) => Some(Arc::new(cluster_link(c, handle)?)),
        _ => None,
    };
    let server = Arc::new(ServerContext {
        jobs: Arc::new(control::ShardJobs::new(job_senders.clone()).with_cluster(cluster.clone())),
        cluster: cluster.clone(),
        limits: ConnectionLimits::new(config.max_connections, config.max_connections_per_ip),
        auth_throttle: Arc::new(AuthThrottle::new(
            config.auth_throttling,
            config.auth_failure_delay,
        )),
        config,
        tls_http: crate::tls::with_alpn(&tls, &[b"http/1.1"]),
        tls,
        accounts: Arc::new(accounts),
        oauth_keys: Default::default(),
        web_sessions: Default::default(),
        link,
    });
    let current = Arc::new(CurrentServer::new(server.clone()));
    if server.config.inbound.auth_checks {
        // The one thread (tokio, mail-auth's resolver) for the inbound checks; shards only
        // send it messages. Started after root was dropped, like every other thread.
        auth_checks::start(
            &server.config.outbound.nameservers,
            server.config.inbound.auth_queue,
        );
    }

    let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
    let moves: MeshBuilder<MovedConnection, ()> = MeshBuilder::new(shards)?;
    let store_mesh: MeshBuilder<StoreRequest, StoreReply> = MeshBuilder::new(shards)?;
    let share_mesh: MeshBuilder<ShareRequest, ShareReply> = MeshBuilder::new(shards)?;
    let mut handles = Vec::with_capacity(shards);
    for index in 0..shards {
        let cpu = cpus[index % cpus.len()];
        let current = current.clone();
        let stop = stop.clone();
        let listening = std::mem::take(&mut sockets[index]);
        let link_socket = link_sockets[index].take();
        // Reports even if the shard's thread dies before running anything.
        let ready = ReadyReport {
            id: ShardId(index),
            tx: Some(ready_tx.clone()),
        };
        let moves = moves.clone();
        let store_mesh = store_mesh.clone();
        let share_mesh = share_mesh.clone();
        let jobs = job_receivers.remove(0);
        // Shards are created in index order: glommio numbers mesh peers by creation order, so
        // this keeps peer id == ShardId (see mesh.rs).
        let handle = Executor::new(format!("shard-{index}"))
            .pinned(cpu)
            .spawn(move || {
                run_shard(
                    ShardId(index),
                    shards,
                    current,
                    listening,
                    moves,
                    store_mesh,
                    share_mesh,
                    FromMain {
                        stop,
                        jobs,
                        link_socket,
                    },
                    ready,
                )
            })
            .map_err(|e| {
                io::Error::other(format!("cannot start shard {index} on CPU {cpu}: {e}"))
            })?;
        handles.push(handle);
    }
    drop(ready_tx);
    let mut failure = None;
    let mut control = None;
    let started = Instant::now();
    let mut ready_shards = 0;
    while ready_shards < shards && failure.is_none() {
        match ready_rx.recv_timeout(STOP_POLL) {
            Ok(Ok(())) => ready_shards += 1,
            Ok(Err(e)) => failure = Some(e),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                failure = Some(io::Error::other("a shard died during start-up"));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if stop.load(Ordering::SeqCst) {
                    // SIGTERM during start-up: stop the shards that did start.
                    break;
                }
                if started.elapsed() > START_TIMEOUT {
                    failure = Some(io::Error::other(format!(
                        "only {ready_shards} of {shards} shards started within {}s",
                        START_TIMEOUT.as_secs()
                    )));
                }
            }
        }
    }
    if let Some(e) = failure.take() {
        stop.store(true, Ordering::SeqCst);
        failure = Some(match executor::memlock_hint(shards) {
            Some(hint) => io::Error::new(e.kind(), format!("{e}: {hint}")),
            None => e,
        });
    } else if ready_shards == shards {
        for l in &server.config.listeners {
            tracing::info!(protocol = l.protocol.name(), address = %l.address, tls = ?l.tls, "listening");
        }
        // Backups (and later administration) reach the shards through the control socket.
        match ControlSocket::start(
            &server.config.data_dir,
            job_senders,
            server.accounts.clone(),
            stop.clone(),
        ) {
            Ok(socket) => {
                tracing::info!(path = %socket.path().display(), "control socket ready");
                control = Some(socket);
            }
            Err(e) => {
                tracing::error!(error = %e, "no control socket: `ringpost backup` cannot reach this server");
            }
        }
        tracing::info!(shards, hostname = %server.config.hostname, "ringpost ready");
        notify_service_manager(&[sd_notify::NotifyState::Ready]);
        // Until SIGINT/SIGTERM, SIGHUP reloads.
        while !stop.load(Ordering::SeqCst) {
            if hup.swap(false, Ordering::SeqCst) {
                // systemd 253+ (Type=notify-reload) wants the monotonic time with RELOADING.
                match sd_notify::NotifyState::monotonic_usec_now() {
                    Ok(now) => notify_service_manager(&[sd_notify::NotifyState::Reloading, now]),
                    Err(_) => notify_service_manager(&[sd_notify::NotifyState::Reloading]),
                }
                reload(&current, &set_log_level);
                notify_service_manager(&[sd_notify::NotifyState::Ready]);
            }
            std::thread::sleep(STOP_POLL);
        }
        notify_service_manager(&[sd_notify::NotifyState::Stopping]);
    }
    if let Some(control) = control {
        control.join();
    }
    let stuck_shards = shards - ready_shards;
    for h in handles {
        // A shard that never started cannot be joined; the process exits without it.
        if stuck_shards > 0 && failure.is_some() {
            break;
        }
        if h.join().is_err() {
            failure.get_or_insert(io::Error::other("a shard panicked"));
        }
    }
    if let Some(cluster) = cluster {
        // Revokes this node's lease: the other hosts see it leave at once.
        cluster.stop();
    }
    match failure {
        Some(e) => Err(e),
        None => {
            tracing::info!("ringpost stopped");
            Ok(())
        }
    }
}

/// Tell systemd (a `Type=notify` unit: `NOTIFY_SOCKET` is set) that the server is ready,
/// reloading or stopping. Without a service manager this does nothing.
fn notify_service_manager(states: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "cannot notify the service manager");
    }
}

/// SIGHUP: read the configuration file again and apply what can change while serving — the
/// certificate and key (new handshakes use them; live sessions keep theirs), limits,
/// timeouts, `[auth]`, local domains, POP3 UIDLs, the SMTP bare-LF policy and the log level.
/// Listeners, shards and `data_dir` stay as they are (a warning names each one that
/// differs). A file that does not load, or a certificate that does not, changes nothing:
/// the error is logged and the running configuration stays.
pub fn reload(current: &CurrentServer, set_log_level: &SetLogLevel) {
    let old = current.get();
    let path = old.config.path.clone();
    let mut new = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "reload refused; the running configuration stays");
            return;
        }
    };
    if new.listeners != old.config.listeners {
        tracing::warn!("listeners cannot change while running; restart to apply the new ones");
        new.listeners = old.config.listeners.clone();
    }
    if new.shards != old.config.shards {
        tracing::warn!(
            running = old.config.shards,
            "server.shards cannot change while running; restart to apply it"
        );
        new.shards = old.config.shards;
    }
    if new.cluster != old.config.cluster {
        tracing::warn!("[cluster] cannot change while running; restart to apply it");
        new.cluster = old.config.cluster.clone();
    }
    if new.data_dir != old.config.data_dir {
        tracing::warn!(
            running = %old.config.data_dir.display(),
            "server.data_dir cannot change while running; restart to apply it"
        );
        new.data_dir = old.config.data_dir.clone();
    }
    if new.accounts != old.config.accounts {
        tracing::warn!("[accounts] cannot change while running; restart to apply it");
        new.accounts = old.config.accounts.clone();
    }
    let tls = match crate::tls::server_config(&new) {
        Ok(tls) => tls,
        Err(e) => {
            tracing::error!(error = %e, "reload refused: the certificate does not load; the running configuration stays");
            return;
        }
    };
    if new.log.format != old.config.log.format {
        tracing::warn!("log.format cannot change while running; restart to apply it");
        new.log.format = old.config.log.format;
    }
    if new.log.level != old.config.log.level {
        if let Err(e) = set_log_level(&new.log.level) {
            tracing::warn!(error = %e, "log level not changed");
        }
    }
    old.accounts.set_local_domains(&new.local_domains);
    old.accounts.set_policy(new.password_policy);
    old.limits
        .set_maxima(new.max_connections, new.max_connections_per_ip);
    old.auth_throttle
        .set(new.auth_throttling, new.auth_failure_delay);
    current.replace(Arc::new(ServerContext {
        config: new,
        tls_http: crate::tls::with_alpn(&tls, &[b"http/1.1"]),
        tls,
        accounts: old.accounts.clone(),
        limits: old.limits.clone(),
        auth_throttle: old.auth_throttle.clone(),
        oauth_keys: old.oauth_keys.clone(),
        web_sessions: old.web_sessions.clone(),
        link: old.link.clone(),
        jobs: old.jobs.clone(),
        cluster: old.cluster.clone(),
    }));
    tracing::info!(path = %path.display(), "configuration reloaded");
}

// Each argument is a different part of the shard's start: its place, the shared context, its
// own sockets, the two meshes, the stop flag and the report; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
async fn run_shard(
    id: ShardId,
    shards: usize,
    current: Arc<CurrentServer>,
    listening: Vec<(crate::config::Listener, std::os::fd::OwnedFd)>,
    moves: MeshBuilder<MovedConnection, ()>,
    store_mesh: MeshBuilder<StoreRequest, StoreReply>,
    share_mesh: MeshBuilder<ShareRequest, ShareReply>,
    main: FromMain,
    ready: ReadyReport,
) {
    // With "shard ready" below, tells a shard that never ran apart from one stuck starting.
    tracing::debug!(%id, "shard starting");
    let server = current.get();
    let store = Store::new(
        server.config.data_dir.join("store"),
        id,
        ShardMap::new(shards),
        store_config(&server.config),
    );
    let state = Rc::new(ShardState::new(
        current,
        Shutdown::new(),
        id,
        ShardMap::new(shards),
        store,
    ));
    let replication = match (&server.cluster, &server.link, &server.config.cluster) {
        (Some(handle), Some(link), Some(config)) => Some(Rc::new(replication::Replication::new(
            handle.clone(),
            link.clone(),
            config.replication == crate::config::cluster::Replication::Sync,
        ))),
        _ => None,
    };
    if replication.is_some() {
        // A cluster host writes no partition until the map says it serves it.
        let shut: Rc<[bool]> = vec![false; usize::from(crate::placement::PARTITIONS)].into();
        state.store.set_write_gate(Some(shut));
        if let Some(handle) = server.cluster.clone() {
            // Nor any while it may have lost its lease, whatever the gate says yet.
            state
                .store
                .set_fence(Some(Rc::new(move || handle.is_fenced())));
        }
    }
    *state.replication.borrow_mut() = replication.clone();
    let handler = fanout::handler(state.store.clone(), replication.clone());
    match Mesh::join(store_mesh, id, handler).await {
        Ok(mesh) => {
            *state.deliverer.borrow_mut() = Some(
                Deliverer::new(state.store.clone(), Rc::new(mesh))
                    .with_cluster(server.link.clone(), CLUSTER_CALL_TIMEOUT),
            )
        }
        Err(e) => {
            ready.send(Err(e));
            return;
        }
    }
    let sharing = service::mailbox::share_handler(Rc::downgrade(&state));
    match Mesh::join(share_mesh, id, sharing).await {
        Ok(mesh) => *state.shares.borrow_mut() = Some(Rc::new(mesh)),
        Err(e) => {
            ready.send(Err(e));
            return;
        }
    }
    // Every shard joins the mesh before anything can fail: a shard that never joined would
    // leave the others waiting for it.
    let receiver = Rc::downgrade(&state);
    let on_move: Handler<MovedConnection, ()> = Rc::new(move |_from, moved| {
        if let Some(state) = receiver.upgrade() {
            let guard = state.active.enter();
            glommio::spawn_local(async move {
                net::resume_connection(moved, state).await;
                drop(guard);
            })
            .detach();
        }
        Box::pin(async {}) as HandlerFuture<()>
    });
    match Mesh::join(moves, id, on_move).await {
        Ok(mesh) => *state.moves.borrow_mut() = Some(Rc::new(mesh)),
        Err(e) => {
            ready.send(Err(e));
            return;
        }
    }
    let watcher = glommio::spawn_local(accounts_watch::run(state.clone()));
    let runner = glommio::spawn_local(outbound::run(state.clone()));
    let replicator = replication.map(|r| glommio::spawn_local(replication::run(r, state.clone())));
    let mut acceptors = Vec::new();
    for (listener, fd) in listening {
        let socket = net::adopt(fd);
        acceptors.push(glommio::spawn_local(net::accept_loop(
            listener,
            socket,
            state.clone(),
        )));
    }
    if let Some(fd) = main.link_socket {
        acceptors.push(glommio::spawn_local(net::link::accept_loop(
            net::adopt(fd),
            state.clone(),
        )));
    }
    ready.send(Ok(()));
    tracing::debug!(%id, "shard ready");
    while !main.stop.load(Ordering::SeqCst) {
        control::start_jobs(&main.jobs, &state);
        glommio::timer::sleep(STOP_POLL).await;
    }
    tracing::debug!(%id, connections = state.active.count(), "shutting down");
    state.shutdown.fire();
    // The accept loops end on the signal and drop their sockets: no new connections.
    for a in acceptors {
        a.await;
    }
    let deadline = Instant::now() + server.config.timeouts.shutdown_grace;
    while state.active.count() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    if state.active.count() > 0 {
        tracing::warn!(%id, connections = state.active.count(), "grace period over, closing the rest");
    }
    watcher.await;
    runner.await;
    if let Some(replicator) = replicator {
        replicator.await;
    }
    if let Err(e) = state.store.close().await {
        tracing::error!(%id, error = %e, "store checkpoint at shutdown failed (the log is intact)");
    }
}

/// What the main thread tells a running shard: when to stop, and the control socket's work.
struct FromMain {
    stop: Arc<AtomicBool>,
    jobs: mpsc::Receiver<ShardJob>,
    /// The shard's socket of the cluster's internal listener (`[cluster] advertise`).
    link_socket: Option<std::os::fd::OwnedFd>,
}

/// A shard's one start-up report. If the shard's future is dropped before it reported (its
/// thread died, or it returned early), the drop reports that, so the main thread never waits
/// for a shard that is gone.
struct ReadyReport {
    id: ShardId,
    tx: Option<mpsc::Sender<io::Result<()>>>,
}

impl ReadyReport {
    fn send(mut self, result: io::Result<()>) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(result);
        }
    }
}

impl Drop for ReadyReport {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Err(io::Error::other(format!(
                "{} stopped before it was ready",
                self.id
            ))));
        }
    }
}

/// Refuse to start when another process listens on one of our addresses. The shards bind
/// with SO_REUSEPORT, which would otherwise succeed next to another SO_REUSEPORT server (a
/// second ringpost on other data, say) and silently split the connections with it. The
/// kernel's table of listening sockets (`/proc/net/tcp`, `tcp6`) answers exactly that
/// question; a trial bind would not (connections a stopped server left closing on the
/// port make it fail although nothing listens).
pub(crate) fn ports_are_free(config: &Config) -> io::Result<()> {
    let listening = listening_sockets();
    for l in config.listeners.iter().filter(|l| l.address.port() != 0) {
        let clash = listening.iter().find(|other| {
            other.port() == l.address.port()
                && (other.ip() == l.address.ip()
                    || other.ip().is_unspecified()
                    || l.address.ip().is_unspecified())
        });
        if let Some(other) = clash {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "cannot listen on {} ({}): another process listens on {other}",
                    l.address,
                    l.protocol.name()
                ),
            ));
        }
    }
    Ok(())
}

/// Every TCP socket in LISTEN state in this network namespace.
fn listening_sockets() -> Vec<std::net::SocketAddr> {
    let mut out = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        out.extend(text.lines().skip(1).filter_map(parse_listening));
    }
    out
}

/// One `/proc/net/tcp{,6}` line's local address, if the socket listens (state `0A`). The
/// kernel prints the address as 32-bit words in host byte order.
fn parse_listening(line: &str) -> Option<std::net::SocketAddr> {
    let mut fields = line.split_whitespace();
    let local = fields.nth(1)?;
    let state = fields.nth(1)?;
    if state != "0A" {
        return None;
    }
    let (addr, port) = local.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = Vec::with_capacity(16);
    for i in (0..addr.len()).step_by(8) {
        let word = u32::from_str_radix(addr.get(i..i + 8)?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = match bytes.len() {
        4 => std::net::IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
        16 => std::net::IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?),
        _ => return None,
    };
    Some(std::net::SocketAddr::new(ip, port))
}

/// Take an exclusive lock on `data_dir/ringpost.pid` and write our pid into it: a second
/// server on the same data would otherwise silently take half the connections (SO_REUSEPORT).
pub(crate) fn lock_data_dir(data_dir: &Path) -> io::Result<File> {
    let path = data_dir.join("ringpost.pid");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "another ringpost (pid {}) is running on {}",
                    holder.trim(),
                    data_dir.display()
                ),
            ));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display())));
        }
    }
    file.set_len(0)?;
    writeln!(file, "{}", std::process::id())?;
    file.sync_all()?;
    Ok(file)
}

/// Descriptors a server needs besides its connections: listeners, io_uring rings, the mesh's
/// doorbells, store segments and indexes, the account database, logs.
const OTHER_FILES: u64 = 1024;

/// Raise the soft limit on open files to the hard limit, as servers do: every connection is a
/// descriptor, and with the usual soft default of 1,024 accept would fail (EMFILE) long before
/// `limits.max_connections`. Warns when even the hard limit is too low for that many.
fn raise_open_file_limit(max_connections: usize) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given, which outlives the call.
    #[allow(unsafe_code)]
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        tracing::warn!(error = %io::Error::last_os_error(), "cannot read the open-file limit");
        return;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct it is given, which outlives the call.
        #[allow(unsafe_code)]
        match unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } {
            0 => limit.rlim_cur = limit.rlim_max,
            _ => tracing::warn!(
                error = %io::Error::last_os_error(),
                soft = limit.rlim_cur,
                hard = limit.rlim_max,
                "cannot raise the open-file limit"
            ),
        }
    }
    let wanted = (max_connections as u64).saturating_add(OTHER_FILES);
    if limit.rlim_cur < wanted {
        tracing::warn!(
            open_files = limit.rlim_cur,
            max_connections,
            "the open-file limit is below limits.max_connections plus {OTHER_FILES}: connections past it fail at accept; raise the hard limit (ulimit -Hn, systemd LimitNOFILE=)"
        );
    } else {
        tracing::debug!(open_files = limit.rlim_cur, "open-file limit");
    }
}

/// The store tunables for this configuration (the server's shards and offline tools alike).
pub fn store_config(config: &Config) -> StoreConfig {
    StoreConfig {
        // Room for our Return-Path:/Received: headers and, for a queued copy, the envelope of
        // every recipient, on top of the largest message accepted.
        max_message_size: config.limits.max_message_size
            + 4096
            + config.limits.max_recipients * 330,
        segment_size: config.store.segment_size,
        // Above 1.0 no segment ever qualifies: 0 % turns background compaction off.
        compact_dead_ratio: match config.store.compact_dead_percent {
            0 => 2.0,
            percent => f64::from(percent) / 100.0,
        },
        full_text_index: match config.store.full_text_index {
            FullTextIndex::Off => FullText::Off,
            FullTextIndex::Searched => FullText::Searched,
            FullTextIndex::All => FullText::All,
        },
        ..StoreConfig::default()
    }
}

/// How many shards a server with this configuration runs: `server.shards`, or one per CPU in
/// the affinity mask. Offline tools use it to find data with the server's own shard map.
pub fn shard_count(config: &Config) -> io::Result<usize> {
    Ok(match config.shards {
        0 => allowed_cpus()?.len(),
        n => n,
    })
}

/// The CPUs this process may run on. glommio's `CpuSet::online()` ignores the affinity mask
/// (PLATFORM.md §10), so read the kernel's own list.
fn allowed_cpus() -> io::Result<Vec<usize>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .ok_or_else(|| io::Error::other("no Cpus_allowed_list in /proc/self/status"))?;
    parse_cpu_list(list.trim())
        .ok_or_else(|| io::Error::other(format!("cannot parse CPU list `{list}`")))
}

/// Parse a kernel CPU list such as `0-3,8,10-11`.
fn parse_cpu_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                cpus.extend(a.trim().parse::<usize>().ok()?..=b.trim().parse::<usize>().ok()?)
            }
            None => cpus.push(part.trim().parse().ok()?),
        }
    }
    (!cpus.is_empty()).then_some(cpus)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0-1"), Some(vec![0, 1]));
        assert_eq!(parse_cpu_list("0-2,5,7-8"), Some(vec![0, 1, 2, 5, 7, 8]));
        assert_eq!(parse_cpu_list("3"), Some(vec![3]));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert!(!allowed_cpus().unwrap().is_empty());
    }

    #[test]
    fn a_port_another_process_listens_on_is_refused_even_with_reuseport() {
        // The other server binds the way glommio does (SO_REUSEPORT): our shards' own
        // SO_REUSEPORT bind would succeed next to it; the probe must not.
        let other =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        other.set_reuse_port(true).unwrap();
        other
            .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        other.listen(8).unwrap();
        let taken = other.local_addr().unwrap().as_socket().unwrap();
        let mut config = crate::config::Config::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ringpost.toml"),
        )
        .unwrap();
        config.listeners.truncate(1);
        config.listeners[0].address = taken;
        let err = ports_are_free(&config).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(err.to_string().contains(&taken.to_string()), "{err}");
        drop(other);
        ports_are_free(&config).unwrap();
        config.listeners.clear();
        ports_are_free(&config).unwrap();
    }

    #[test]
    fn proc_net_tcp_lines_parse() {
        let v4 = "   1: 0100007F:2729 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1757166 1 0000000026ed6578 100 0 0 10 0";
        assert_eq!(
            parse_listening(v4),
            Some("127.0.0.1:10025".parse().unwrap())
        );
        let established = v4.replace(" 0A ", " 01 ");
        assert_eq!(parse_listening(&established), None);
        let v6 = "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0";
        assert_eq!(parse_listening(v6), Some("[::1]:8080".parse().unwrap()));
        assert_eq!(parse_listening("garbage"), None);
    }

    #[test]
    fn second_lock_on_the_same_data_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = lock_data_dir(dir.path()).unwrap();
        let err = lock_data_dir(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(
            err.to_string().contains(&std::process::id().to_string()),
            "{err}"
        );
    }
}
