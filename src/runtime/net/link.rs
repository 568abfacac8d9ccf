//! The internal link between the hosts of a cluster (issue 19): any host takes any client,
//! and a session whose account is served by another host is continued there.
//!
//! The client's TLS ends on the host it reached ("the front"). Once its login is verified and
//! the account's partition is served elsewhere, the front connects to that host's internal
//! listener ("the back") over mutual TLS with the cluster's CA, sends a [`Hello`] with the
//! session's [`Handoff`](crate::session::Handoff) and the real client address, and from the
//! back's `+OK` on relays bytes both ways without looking at them. The back continues the
//! session where the front took it: it answers the login, runs what was pipelined behind it,
//! and serves the session on the account's home shard as if the client had connected there.
//! When the back refuses (its map says another host, the account is gone) or cannot be
//! reached, the front answers the login with a temporary failure and the client retries.
//!
//! This is the Dovecot-proxy / Cyrus-Murder role, with one difference: the back trusts the
//! front's verification (the link is mutually authenticated), so the client's credentials
//! never cross it and SCRAM works through it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future;
use glommio::net::TcpStream;

use super::transport::Transport;
use super::ShardState;
use crate::placement::Partition;
use crate::wire::link::{self, Answer, Hello, SessionHello, StoreCall, StoreResult};

/// Where a partition is served when it is not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The host's node name (its certificate names it).
    pub node: String,
    /// Its internal listener.
    pub address: SocketAddr,
}

/// Where a partition is served now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// By this host.
    Here,
    /// By another host.
    There(Remote),
    /// By no host that can take work now (the map is not read yet, the partition has no
    /// primary, this host is fenced): the work waits, the client retries.
    Unavailable(String),
}

/// The cluster's view of where partitions are served, as the routing needs it. Kept current
/// by whoever follows the cluster map; read on every login and delivery, so it must be cheap.
pub trait Routes: Send + Sync {
    fn route(&self, partition: Partition) -> Route;

    /// Whether the map names another host as the partition's primary now, reachable or
    /// not: sessions of its accounts on this host have been moved away (this host being
    /// cut off for a moment moves nothing).
    fn primary_elsewhere(&self, partition: Partition) -> bool;
}

/// The routes the cluster map in etcd gives ([`crate::cluster`]): a partition is served by
/// its primary; this host serves nothing while it may have lost its lease (fenced).
pub struct MapRoutes(pub crate::cluster::ClusterHandle);

impl Routes for MapRoutes {
    fn route(&self, partition: Partition) -> Route {
        let map = self.0.map();
        let Some(assignment) = map.assignment(partition) else {
            return Route::Unavailable(format!("partition {} has no primary", partition.index()));
        };
        if assignment.primary == *self.0.this_node() {
            if self.0.is_fenced() {
                return Route::Unavailable("this host is cut off from etcd".into());
            }
            return Route::Here;
        }
        match map.node(&assignment.primary) {
            Some(node) if node.live => match node.advertise {
                Some(address) => Route::There(Remote {
                    node: node.name.as_str().to_string(),
                    address,
                }),
                None => Route::Unavailable(format!("{} has no address", node.name.as_str())),
            },
            _ => Route::Unavailable(format!(
                "partition {}'s primary {} is down",
                partition.index(),
                assignment.primary.as_str()
            )),
        }
    }

    fn primary_elsewhere(&self, partition: Partition) -> bool {
        self.0
            .map()
            .assignment(partition)
            .is_some_and(|a| a.primary != *self.0.this_node())
    }
}

/// Everything a shard needs to take part in the link.
pub struct ClusterLink {
    /// This host's node name.
    pub node: String,
    pub routes: Arc<dyn Routes>,
    /// The internal listener's side: client certificates from the cluster CA required.
    pub server_tls: Arc<rustls::ServerConfig>,
    /// The connecting side: the cluster CA as the only root, this host's certificate.
    pub client_tls: Arc<rustls::ClientConfig>,
    /// How long connecting and the hello exchange may take.
    pub connect_timeout: Duration,
}

/// A mutually authenticated TLS connection to `remote`'s internal listener.
async fn connect(link: &ClusterLink, remote: &Remote) -> io::Result<Transport> {
    let tcp = TcpStream::connect(remote.address).await?;
    // Without TCP_NODELAY every relayed reply waits for a delayed ACK.
    tcp.set_nodelay(true)?;
    let mut transport = Transport::plain(tcp);
    let name = rustls_pki_types::ServerName::try_from(remote.node.clone())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    transport
        .client_handshake(link.client_tls.clone(), name)
        .await?;
    Ok(transport)
}

/// How long a link connection for store calls may stay idle in a [`LinkPool`] before it is
/// not used again (the other host keeps it [`LINK_IDLE`], longer).
const POOL_IDLE: Duration = Duration::from_secs(20);
/// Idle link connections kept per other host and shard.
const POOL_PER_HOST: usize = 16;
/// How long a host keeps a link connection open for the next store call.
pub const LINK_IDLE: Duration = Duration::from_secs(60);

/// One shard's idle link connections to other hosts, kept for the next store call: a
/// delivery through another host costs a TLS handshake only when no connection is idle.
#[derive(Default)]
pub struct LinkPool {
    idle: RefCell<HashMap<String, Vec<(Transport, Instant)>>>,
}

impl LinkPool {
    /// The most recently used idle connection to `node` not idle too long (older ones are
    /// dropped).
    fn take(&self, node: &str) -> Option<Transport> {
        let mut idle = self.idle.borrow_mut();
        let kept = idle.get_mut(node)?;
        kept.retain(|(_, since)| since.elapsed() < POOL_IDLE);
        kept.pop().map(|(transport, _)| transport)
    }

    fn put(&self, node: &str, transport: Transport) {
        let mut idle = self.idle.borrow_mut();
        let kept = idle.entry(node.to_string()).or_default();
        if kept.len() < POOL_PER_HOST {
            kept.push((transport, Instant::now()));
        }
    }

    /// Idle connections kept now (for tests and metrics).
    pub fn idle(&self) -> usize {
        self.idle.borrow().values().map(Vec::len).sum()
    }
}

/// Run `call` on the store of `remote`, which serves the accounts it names, and wait for
/// its result (a delivery's result comes once every copy there is durable). On an idle
/// connection from `pool` if there is one, else a new one (the link's `connect_timeout`
/// bounds connecting: a host that hangs is given up on soon); the connection goes back to
/// the pool after the result. `timeout` bounds the whole exchange. A pooled connection the
/// other host closed meanwhile (nothing of a result came back) is replaced by a new one for
/// the same call: the other host closes only idle connections, between calls.
pub async fn store_call(
    link: &ClusterLink,
    pool: &LinkPool,
    remote: &Remote,
    call: StoreCall,
    timeout: Duration,
) -> io::Result<StoreResult> {
    let hello = link::encode_hello(&Hello::Store(call));
    let exchange = async {
        if let Some(mut transport) = pool.take(&remote.node) {
            match call_on(&mut transport, &hello).await {
                Ok(result) => {
                    pool.put(&remote.node, transport);
                    return Ok(result);
                }
                Err(Called::Stale) => {}
                Err(Called::Failed(e)) => return Err(e),
            }
        }
        let mut transport = within(
            link.connect_timeout,
            "no link to the other host in time",
            connect(link, remote),
        )
        .await?;
        match call_on(&mut transport, &hello).await {
            Ok(result) => {
                pool.put(&remote.node, transport);
                Ok(result)
            }
            Err(Called::Stale) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the other host closed the link",
            )),
            Err(Called::Failed(e)) => Err(e),
        }
    };
    within(timeout, "no result from the other host in time", exchange).await
}

/// Why a store call on one connection failed.
enum Called {
    /// The connection was closed before any of the result came: the call was not run.
    Stale,
    Failed(io::Error),
}

/// Send `hello` (a store call) on `transport` and read its result.
async fn call_on(transport: &mut Transport, hello: &[u8]) -> Result<StoreResult, Called> {
    let closed = |e: &io::Error| {
        matches!(
            e.kind(),
            io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
        )
    };
    if let Err(e) = transport.write_all(hello).await {
        return Err(if closed(&e) {
            Called::Stale
        } else {
            Called::Failed(e)
        });
    }
    let mut buf = Vec::with_capacity(256);
    match read_decoded(
        transport,
        &mut buf,
        |b| link::decode_result(b).into_result(),
        "the other host closed the link",
    )
    .await
    {
        Ok(result) => Ok(result),
        Err(e) if closed(&e) && buf.is_empty() => Err(Called::Stale),
        Err(e) => Err(Called::Failed(e)),
    }
}

/// Read from `transport` into `buf` until `decode` makes something of its front: that value,
/// with its bytes taken off `buf` (what came after it stays for the next call). `closed` says
/// what it means when the other side closes first.
pub(crate) async fn read_decoded<T, E>(
    transport: &mut Transport,
    buf: &mut Vec<u8>,
    decode: impl Fn(&[u8]) -> Result<Option<(T, usize)>, E>,
    closed: &'static str,
) -> io::Result<T>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        match decode(buf) {
            Ok(Some((value, used))) => {
                buf.drain(..used);
                return Ok(value);
            }
            Ok(None) => {}
            Err(why) => return Err(io::Error::new(io::ErrorKind::InvalidData, why)),
        }
        // Small while waiting for something to begin (an idle follower waits here), large
        // within one; read straight into the buffer.
        let want = if buf.is_empty() { 4096 } else { 64 * 1024 };
        let filled = buf.len();
        buf.resize(filled + want, 0);
        let n = transport.read(&mut buf[filled..]).await;
        buf.truncate(filled + *n.as_ref().unwrap_or(&0));
        if n? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, closed));
        }
    }
}

/// One link-protocol answer from `transport`, with the bytes that came after it.
async fn read_answer(transport: &mut Transport) -> io::Result<(Answer, Vec<u8>)> {
    let mut buf = Vec::with_capacity(256);
    let answer = read_decoded(
        transport,
        &mut buf,
        |b| link::decode_answer(b).into_result(),
        "the other host closed the link",
    )
    .await?;
    Ok((answer, buf))
}

/// Connect to `remote`, say `hello` and read its answer: the transport once it accepted, with
/// what came after the answer; `what` names the exchange in the time-out error.
async fn exchange_hello(
    link: &ClusterLink,
    remote: &Remote,
    hello: &Hello,
    what: &'static str,
) -> io::Result<(Transport, Vec<u8>)> {
    let exchange = async {
        let mut transport = connect(link, remote).await?;
        transport.write_all(&link::encode_hello(hello)).await?;
        match read_answer(&mut transport).await? {
            (Answer::Accepted, rest) => Ok((transport, rest)),
            (Answer::Refused(why), _) => {
                transport.close().await;
                Err(io::Error::new(io::ErrorKind::ConnectionRefused, why))
            }
        }
    };
    within(link.connect_timeout, what, exchange).await
}

/// `work`, or a time-out error saying `what` once `limit` has passed.
pub(crate) async fn within<T>(
    limit: Duration,
    what: &'static str,
    work: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let timer = async {
        glommio::timer::sleep(limit).await;
        Err(io::Error::new(io::ErrorKind::TimedOut, what))
    };
    future::or(work, timer).await
}

/// Open a link to `remote` for following `partition`'s log: the replication stream starts
/// right after the hello (no answer line).
pub(crate) async fn open_follow(
    link: &ClusterLink,
    remote: &Remote,
    partition: u16,
) -> io::Result<Transport> {
    let exchange = async {
        let mut transport = connect(link, remote).await?;
        let hello = Hello::Follow {
            node: link.node.clone(),
            partition,
        };
        transport.write_all(&link::encode_hello(&hello)).await?;
        Ok(transport)
    };
    within(
        link.connect_timeout,
        "no link to the primary in time",
        exchange,
    )
    .await
}

/// Ask `remote`, the primary of `partition`, for a copy of its files (this host is a
/// replica at `epoch`): the transport once it accepted, with what came after its answer
/// (the first parts).
pub(crate) async fn ask_snapshot(
    link: &ClusterLink,
    remote: &Remote,
    partition: u16,
    epoch: u64,
) -> io::Result<(Transport, Vec<u8>)> {
    let hello = Hello::Snapshot {
        node: link.node.clone(),
        partition,
        epoch,
    };
    exchange_hello(
        link,
        remote,
        &hello,
        "no answer to the snapshot request in time",
    )
    .await
}

/// Ask `remote` to follow `partition`, of which this host is the primary at `epoch`.
pub(crate) async fn invite(
    link: &ClusterLink,
    remote: &Remote,
    partition: u16,
    epoch: u64,
) -> io::Result<()> {
    let hello = Hello::Invite {
        node: link.node.clone(),
        partition,
        epoch,
    };
    let (transport, _) =
        exchange_hello(link, remote, &hello, "no answer to the invitation in time").await?;
    transport.close().await;
    Ok(())
}

/// Open a link to `remote` and hand it a session; `Ok` once it accepted, with any bytes it
/// sent after its answer (the session's first output).
pub async fn hand_over(
    link: &ClusterLink,
    remote: &Remote,
    hello: SessionHello,
) -> io::Result<(Transport, Vec<u8>)> {
    let hello = Hello::Session(Box::new(hello));
    exchange_hello(
        link,
        remote,
        &hello,
        "no answer from the other host in time",
    )
    .await
}

/// How often a quiet relay asks whether its session's partition moved.
pub const RELAY_CHECK: Duration = Duration::from_secs(1);

/// Relay bytes between the client and the back until either side closes, the shard shuts
/// down, or `moved` (asked before every read, and every [`RELAY_CHECK`] while quiet) says
/// the back serves the session's account no more. `early`: what the back sent with its
/// answer, for the client first.
pub async fn relay(
    client: &mut Transport,
    back: &mut Transport,
    early: Vec<u8>,
    state: &ShardState,
    moved: &dyn Fn() -> bool,
) -> (u64, u64) {
    let (mut to_back, mut to_client) = (0u64, early.len() as u64);
    if !early.is_empty() && client.write_all(&early).await.is_err() {
        return (to_back, to_client);
    }
    let mut from_client = vec![0u8; 16 * 1024];
    let mut from_back = vec![0u8; 16 * 1024];
    enum Wake {
        Client(io::Result<usize>),
        Back(io::Result<usize>),
        Shutdown,
        Check,
    }
    loop {
        // Looked at before every read and every RELAY_CHECK while quiet.
        if moved() {
            break;
        }
        let wake = future::or(
            async { Wake::Client(client.read(&mut from_client).await) },
            future::or(
                async { Wake::Back(back.read(&mut from_back).await) },
                future::or(
                    async {
                        state.shutdown.wait().await;
                        Wake::Shutdown
                    },
                    async {
                        glommio::timer::sleep(RELAY_CHECK).await;
                        Wake::Check
                    },
                ),
            ),
        )
        .await;
        match wake {
            Wake::Client(Ok(n)) if n > 0 => {
                if back.write_all(&from_client[..n]).await.is_err() {
                    break;
                }
                to_back += n as u64;
            }
            Wake::Back(Ok(n)) if n > 0 => {
                if client.write_all(&from_back[..n]).await.is_err() {
                    break;
                }
                to_client += n as u64;
            }
            Wake::Check => {}
            // Either side closed or failed, or this host is stopping: the back's session
            // ends when its link closes, the client reconnects to any host.
            _ => break,
        }
    }
    (to_back, to_client)
}

/// Serve one connection on the internal listener: check the peer's certificate (the TLS
/// handshake does), read its hello, and continue the session it hands over.
pub async fn serve_link(tcp: TcpStream, peer: SocketAddr, state: Rc<ShardState>) {
    let server = state.server();
    let Some(link) = server.link.clone() else {
        return;
    };
    let mut transport = Transport::plain(tcp);
    let max_message = server.config.limits.max_message_size;
    let exchange = async {
        transport.handshake(link.server_tls.clone()).await?;
        let mut buf = Vec::with_capacity(1024);
        let hello = read_decoded(
            &mut transport,
            &mut buf,
            |b| link::decode_hello(b, max_message).into_result(),
            "closed before its hello",
        )
        .await?;
        // A front sends nothing after a session's or store call's hello before the answer; a
        // replica sends its request frame right away.
        if !buf.is_empty() && !matches!(hello, Hello::Follow { .. }) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bytes after the hello",
            ));
        }
        Ok((hello, buf))
    };
    let (hello, rest) = match within(link.connect_timeout, "no hello in time", exchange).await {
        Ok(got) => got,
        Err(e) => {
            tracing::info!(target: "ringpost::cluster", peer = %peer, error = %e, "link refused");
            transport.close().await;
            return;
        }
    };
    match hello {
        Hello::Session(hello) => {
            super::driver::serve_handoff(transport, *hello, peer, state).await;
        }
        Hello::Store(call) => {
            Box::pin(serve_store_calls(transport, call, &state)).await;
        }
        Hello::Follow { node, partition } => {
            let stream = Stream::Follow { node, rest };
            Box::pin(serve_stream(transport, partition, stream, state)).await;
        }
        Hello::Invite { partition, .. } => {
            Box::pin(serve_stream(transport, partition, Stream::Invited, state)).await;
        }
        Hello::Snapshot {
            node,
            partition,
            epoch,
        } => {
            let stream = Stream::Snapshot { node, epoch };
            Box::pin(serve_stream(transport, partition, stream, state)).await;
        }
    }
}

/// Serve `call`, then the next store calls the other host sends on the same connection (it
/// keeps the connection in its [`LinkPool`]) until it stays idle for [`LINK_IDLE`], closes
/// it, sends something else, or this host shuts down.
async fn serve_store_calls(mut transport: Transport, call: StoreCall, state: &ShardState) {
    let server = state.server();
    let max_message = server.config.limits.max_message_size;
    let mut call = call;
    loop {
        let deliverer = state.deliverer.borrow().clone();
        let accounts = server.accounts.clone();
        let rekeyed = glommio::executor()
            .spawn_blocking(move || rekey(&accounts, call))
            .await;
        let result = match (rekeyed, deliverer) {
            (Err(refused), _) => refused,
            (Ok(call), Some(deliverer)) => Box::pin(deliverer.serve_call(call)).await,
            (Ok(_), None) => StoreResult::Delivered(Err("this host is starting".into())),
        };
        if transport
            .write_all(&link::encode_result(&result))
            .await
            .is_err()
        {
            break;
        }
        let mut buf = Vec::new();
        let next = read_decoded(
            &mut transport,
            &mut buf,
            |b| link::decode_hello(b, max_message).into_result(),
            "the other host closed the link",
        );
        let next = future::or(within(LINK_IDLE, "idle", next), async {
            state.shutdown.wait().await;
            Err(io::Error::other("shutting down"))
        })
        .await;
        match next {
            Ok(Hello::Store(next)) if buf.is_empty() => call = next,
            _ => break,
        }
    }
    transport.close().await;
}

/// What a replication hello asks of the shard that owns its partition.
enum Stream {
    /// The replica `node` follows the partition's log (`rest`: what came after the hello).
    Follow { node: String, rest: Vec<u8> },
    /// The primary asks this host to follow it.
    Invited,
    /// The replica `node` at `epoch` asks for a copy of the partition's files.
    Snapshot { node: String, epoch: u64 },
}

/// Serve `stream` on the shard that owns `partition`, moving the connection there first.
async fn serve_stream(
    mut transport: Transport,
    partition: u16,
    stream: Stream,
    state: Rc<ShardState>,
) {
    let Some(partition) = Partition::from_index(partition) else {
        transport.close().await;
        return;
    };
    let owner = state.map.owner(partition);
    if owner != state.id {
        let parked = StreamParked { partition, stream };
        super::driver::move_parked(transport, Box::new(parked), owner, &state).await;
        return;
    }
    match stream {
        Stream::Follow { node, rest } => {
            crate::runtime::replication::serve_follow(transport, node, partition, rest, state).await
        }
        Stream::Snapshot { node, epoch } => {
            crate::runtime::replication::serve_snapshot(transport, node, partition, epoch, state)
                .await
        }
        Stream::Invited => {
            let replication = state.replication.borrow().clone();
            let answer = match replication {
                Some(r) => {
                    r.invited(partition);
                    Answer::Accepted
                }
                None => Answer::Refused("this host does not replicate".into()),
            };
            let _ = transport.write_all(&link::encode_answer(&answer)).await;
            transport.close().await;
        }
    }
}

/// A replication hello on its way to the shard that owns its partition.
struct StreamParked {
    partition: Partition,
    stream: Stream,
}

impl super::driver::Parked for StreamParked {
    fn resume(
        self: Box<Self>,
        transport: Transport,
        state: Rc<ShardState>,
    ) -> future::BoxedLocal<()> {
        let StreamParked { partition, stream } = *self;
        Box::pin(serve_stream(transport, partition.index(), stream, state))
    }
}

/// `call` with every account named by this host's store key for it: the host that serves an
/// account decides where its mail is (its directory's incarnation), whatever the calling
/// host's directory said. Refused whole when an account is unknown here.
fn rekey(
    accounts: &crate::accounts::AccountStore,
    call: StoreCall,
) -> Result<StoreCall, StoreResult> {
    let key = |named: &str| -> Result<String, String> {
        let address = crate::accounts::address_of_key(named);
        match accounts.lookup(address) {
            Ok(Some(account)) => Ok(account.store_key()),
            Ok(None) => Err(format!("{address}: no such account on this host")),
            Err(e) => Err(format!("the account directory: {e}")),
        }
    };
    match call {
        StoreCall::Deliver {
            accounts: named,
            limits,
            body,
            internal_date,
        } => match named.iter().map(|a| key(a)).collect::<Result<Vec<_>, _>>() {
            Ok(keys) => Ok(StoreCall::Deliver {
                accounts: keys,
                limits,
                body,
                internal_date,
            }),
            Err(e) => Err(StoreResult::Delivered(Err(e))),
        },
        StoreCall::Retract { copies } => {
            match copies
                .into_iter()
                .map(|(a, uid)| key(&a).map(|k| (k, uid)))
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(copies) => Ok(StoreCall::Retract { copies }),
                Err(e) => Err(StoreResult::Retracted(Err(e))),
            }
        }
        StoreCall::Usage { account } => match key(&account) {
            Ok(account) => Ok(StoreCall::Usage { account }),
            Err(e) => Err(StoreResult::Usage(Err(e))),
        },
    }
}

/// Accept connections on this shard's internal listener until shutdown; each is served by
/// [`serve_link`] (SO_REUSEPORT spreads them over the shards, as for client listeners).
pub async fn accept_loop(socket: glommio::net::TcpListener, state: Rc<ShardState>) {
    let address = socket
        .local_addr()
        .map_or_else(|_| "internal listener".to_string(), |a| a.to_string());
    let shard = state.clone();
    super::accept_until_shutdown(&socket, &state, &address, move |tcp, peer| {
        let state = shard.clone();
        async move { Box::pin(serve_link(tcp, peer, state)).await }
    })
    .await;
}
