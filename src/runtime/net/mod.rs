//! Listeners and the connection driver: the only place that touches sockets.
//!
//! Which protocol a listener speaks decides only which [`service`](super::service) the driver
//! is instantiated with (in [`accept_loop`]); the driver itself names no protocol.
//!
//! Every shard binds every configured listener (SO_REUSEPORT: the kernel spreads accepted
//! connections over the shards), sets TCP_NODELAY on each accepted socket (PLATFORM.md: a TLS
//! handshake takes 25–30 ms without it) and runs the driver's `serve_connection` for it.

#[cfg(test)]
mod compress_tests;
mod driver;
#[cfg(test)]
mod driver_tests;
mod limits;
pub mod link;
pub mod login_cache;
pub mod proxy;
mod scram_login;
pub mod sessions;
mod throttle;
mod transport;

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_lite::future;
use glommio::net::TcpListener;

pub use driver::{resume_connection, MovedConnection};
pub use limits::{ConnectionLimits, Permit};
pub use throttle::{Admission, AuthThrottle};
pub use transport::{TlsInfo, Transport};

use crate::accounts::AccountStore;
use crate::config::{Config, Listener, Protocol};
use crate::runtime::fanout::Deliverer;
use crate::runtime::service::delivery::DeliveryService;
use crate::runtime::service::mailbox::MailboxService;
use crate::runtime::service::maildrop::{MaildropLocks, MaildropService};
use crate::runtime::service::web::WebService;
use crate::runtime::{Mesh, ShardId, ShardMap, Shutdown};
use crate::store::Store;

/// What every shard shares, read-only (and `Send + Sync`). A reload (SIGHUP) makes a new one
/// with the new configuration and certificate; the counters (connections, failed logins) and
/// the account database are the same objects in both.
pub struct ServerContext {
    pub config: Config,
    pub tls: Arc<rustls::ServerConfig>,
    /// The same, announcing ALPN `http/1.1`, for the HTTPS listeners (the mail listeners
    /// name no ALPN protocol, so clients that offer theirs are not refused).
    pub tls_http: Arc<rustls::ServerConfig>,
    pub accounts: Arc<AccountStore>,
    pub limits: Arc<ConnectionLimits>,
    /// Failed authentications across connections and shards.
    pub auth_throttle: Arc<AuthThrottle>,
    /// An OAuth issuer's keys fetched from `[auth.oauth] jwks_url`.
    pub oauth_keys: Arc<crate::runtime::outbound::jwks::FetchedKeys>,
    /// The web workspace's signed-in browsers (every shard's).
    pub web_sessions: Arc<crate::runtime::web_sessions::WebSessions>,
    /// Every shard's job channel (the metrics listener asks them all).
    pub jobs: Arc<crate::runtime::control::ShardJobs>,
    /// This host's view of the cluster map (`[cluster]`); `None` on a single host.
    pub cluster: Option<crate::cluster::ClusterHandle>,
    /// The cluster's internal link, on a host of a cluster (`[cluster]`); `None` on a single
    /// host, which then never hands a session elsewhere.
    pub link: Option<Arc<link::ClusterLink>>,
}

/// The server's current context, replaced whole by a reload. Shards read it through
/// [`ShardState::server`]: one relaxed atomic load per look, the lock only after a reload.
pub struct CurrentServer {
    generation: AtomicU64,
    current: Mutex<Arc<ServerContext>>,
}

impl CurrentServer {
    pub fn new(server: Arc<ServerContext>) -> CurrentServer {
        CurrentServer {
            generation: AtomicU64::new(0),
            current: Mutex::new(server),
        }
    }

    /// The context now.
    pub fn get(&self) -> Arc<ServerContext> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Make `server` the context of every connection accepted from now on.
    pub fn replace(&self, server: Arc<ServerContext>) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = server;
        self.generation.fetch_add(1, Ordering::Release);
    }
}

/// What one shard's connections share.
pub struct ShardState {
    /// This shard's copy of the current context (see [`ShardState::server`]).
    server: RefCell<(u64, Arc<ServerContext>)>,
    pub current: Arc<CurrentServer>,
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
    /// Requests on shared mailboxes to their owners' shards (RFC 4314); set once joined.
    pub shares: RefCell<Option<Rc<crate::runtime::service::mailbox::ShareMesh>>>,
    /// Makes queue ids unique within this shard.
    pub deliveries: Cell<u64>,
    /// Accounts whose maildrop a POP3 session holds.
    pub maildrops: MaildropLocks,
    /// The deleted accounts, kept current by the shard's accounts watcher.
    pub deleted_accounts: crate::runtime::accounts_watch::DeletedAccounts,
    /// The sessions running here now (`ringpost who`, `kick`).
    pub sessions: sessions::Sessions,
    /// Totals since start (`ringpost stats`).
    pub counters: sessions::Counters,
    /// The queue runner's state (sending queued mail).
    pub outbound: crate::runtime::outbound::Runner,
    /// Logins verified lately (see [`login_cache`]).
    pub login_cache: login_cache::LoginCache,
    /// This shard's part in replication between cluster hosts; set at start on a cluster
    /// host.
    pub replication: RefCell<Option<Rc<crate::runtime::replication::Replication>>>,
    /// Notified when partitions this shard served as primary are now served by another host
    /// (a cluster move or failover): sessions of their accounts end with a reconnect.
    pub partitions_moved: crate::runtime::shutdown::Notify,
}

impl ShardState {
    /// A shard's state around the server's current context.
    pub fn new(
        current: Arc<CurrentServer>,
        shutdown: Shutdown,
        id: ShardId,
        map: ShardMap,
        store: Store,
    ) -> ShardState {
        ShardState {
            server: RefCell::new((current.generation.load(Ordering::Acquire), current.get())),
            current,
            shutdown,
            id,
            map,
            active: ActiveConnections::default(),
            moves: RefCell::new(None),
            store,
            deliverer: RefCell::new(None),
            shares: RefCell::new(None),
            deliveries: Cell::new(0),
            maildrops: Default::default(),
            deleted_accounts: Default::default(),
            sessions: Default::default(),
            counters: Default::default(),
            outbound: Default::default(),
            login_cache: Default::default(),
            replication: RefCell::new(None),
            partitions_moved: Default::default(),
        }
    }

    /// The server's context as of now (the one a reload made last). A connection takes it
    /// when it starts and keeps it, so a live session keeps its certificate and settings.
    pub fn server(&self) -> Arc<ServerContext> {
        let generation = self.current.generation.load(Ordering::Acquire);
        let mut cached = self.server.borrow_mut();
        if cached.0 != generation {
            *cached = (generation, self.current.get());
        }
        cached.1.clone()
    }

    /// A queue id for a `250` reply: unique per server (time, shard, counter), short, and
    /// meaningless to anyone who does not have the logs.
    pub fn queue_id(&self, now: i64) -> String {
        let n = self.deliveries.get();
        self.deliveries.set(n + 1);
        format!("{now:X}{:02X}{n:05X}", self.id.0)
    }
}

/// Connections currently served by this shard, for draining at shutdown.
#[derive(Clone, Default)]
pub struct ActiveConnections(Rc<Cell<usize>>);

impl ActiveConnections {
    pub fn count(&self) -> usize {
        self.0.get()
    }
    pub(crate) fn enter(&self) -> ActiveGuard {
        self.0.set(self.0.get() + 1);
        ActiveGuard(self.0.clone())
    }
}

/// Counts one connection while it lives.
pub(crate) struct ActiveGuard(Rc<Cell<usize>>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Bind every configured listener on this shard (SO_REUSEPORT is always set by glommio).
pub fn bind_all(config: &Config) -> io::Result<Vec<(Listener, OwnedFd)>> {
    config
        .listeners
        .iter()
        .map(|l| {
            bind(l.address).map(|fd| (l.clone(), fd)).map_err(|e| {
                io::Error::other(format!(
                    "cannot listen on {} ({}): {e}",
                    l.address,
                    l.protocol.name()
                ))
            })
        })
        .collect()
}

/// A listening socket of the cluster's internal listener on `address` (see [`bind`]).
pub fn bind_link(address: std::net::SocketAddr) -> io::Result<OwnedFd> {
    bind(address).map_err(|e| {
        io::Error::other(format!(
            "cannot listen on {address} ([cluster] advertise): {e}"
        ))
    })
}

/// A listening socket on `address` with SO_REUSEPORT (each shard has its own and the kernel
/// spreads connections over them), as glommio's own `TcpListener::bind` makes it. Made on the
/// main thread, before root is dropped, and handed to its shard.
fn bind(address: std::net::SocketAddr) -> io::Result<OwnedFd> {
    use socket2::{Domain, Protocol as IpProtocol, Socket, Type};
    let domain = if address.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let socket = Socket::new(domain, Type::STREAM, Some(IpProtocol::TCP))?;
    socket.set_reuse_port(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Serve a socket [`bind_all`] made on this shard's executor.
pub fn adopt(fd: OwnedFd) -> TcpListener {
    #[allow(unsafe_code)]
    // SAFETY: `fd` is a bound, listening TCP socket that we own; ownership passes to the
    // listener, which closes it.
    unsafe {
        TcpListener::from_raw_fd(fd.into_raw_fd())
    }
}

/// Accept connections on `socket` until the shard shuts down.
pub async fn accept_loop(listener: Listener, socket: TcpListener, state: Rc<ShardState>) {
    let address = listener.address.to_string();
    let shard = state.clone();
    accept_until_shutdown(&socket, &state, &address, move |tcp, peer| {
        let idle = shard.server().config.timeouts.idle(listener.protocol);
        // A client that stops reading must not hold a write forever.
        let _ = tcp.set_write_timeout(Some(idle));
        shard
            .counters
            .connection(listener.protocol, listener.address);
        let state = shard.clone();
        let listener = listener.clone();
        async move {
            // Each protocol is its session and service; the driver is the same. Each
            // connection's future is boxed at its own protocol's size: inline, every
            // connection would hold as much as the largest (an idle IMAP session's task
            // would be as large as an HTTP connection's).
            match listener.protocol {
                Protocol::Imap => {
                    Box::pin(driver::serve_connection::<MailboxService>(
                        tcp, peer, listener, state,
                    ))
                    .await
                }
                Protocol::Pop3 => {
                    Box::pin(driver::serve_connection::<MaildropService>(
                        tcp, peer, listener, state,
                    ))
                    .await
                }
                Protocol::Submission | Protocol::Smtp => {
                    Box::pin(driver::serve_connection::<DeliveryService>(
                        tcp, peer, listener, state,
                    ))
                    .await
                }
                Protocol::Http | Protocol::Metrics => {
                    Box::pin(driver::serve_connection::<WebService>(
                        tcp, peer, listener, state,
                    ))
                    .await
                }
            }
        }
    })
    .await;
}

/// Accept on `socket` until shutdown: each connection gets TCP_NODELAY (without it a TLS
/// handshake stalls on delayed ACKs) and runs the future `serve` makes for it, as a task
/// counted active until it ends. A failed accept (out of descriptors, or transient) backs off
/// briefly instead of spinning. `address` names the listener in logs.
pub(crate) async fn accept_until_shutdown<F, Fut>(
    socket: &TcpListener,
    state: &Rc<ShardState>,
    address: &str,
    mut serve: F,
) where
    F: FnMut(glommio::net::TcpStream, std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    loop {
        let accepted = future::or(async { Some(socket.accept().await) }, async {
            state.shutdown.wait().await;
            None
        })
        .await;
        let Some(accepted) = accepted else { break };
        match accepted {
            Ok(tcp) => {
                let Ok(peer) = tcp.peer_addr() else { continue };
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
                let guard = state.active.enter();
                let task = serve(tcp, peer);
                glommio::spawn_local(async move {
                    task.await;
                    drop(guard);
                })
                .detach();
            }
            Err(e) => {
                tracing::warn!(address = %address, error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
