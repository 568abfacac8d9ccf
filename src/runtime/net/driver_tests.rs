//! The driver's bound on buffered input, checked on a real socket with a service whose request
//! the test holds open: while a request is pending the driver reads nothing (issue 12, defect
//! 4: pipelined input must not pile up while a session waits for its delivery or the store).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::driver::serve_connection;
use super::{AuthThrottle, ConnectionLimits, CurrentServer, ServerContext, ShardState};
use crate::accounts::AccountStore;
use crate::config::{Config, Listener};
use crate::runtime::service::{Context, Placement, Service};
use crate::runtime::{Executor, ShardId, ShardMap, Shutdown};
use crate::session::{AuthOutcome, Event, Output, Overload, Security, Session, SessionConfig};
use crate::store::Store;

/// Bytes the session was handed, in all.
static RECEIVED: AtomicUsize = AtomicUsize::new(0);
/// A request is being served (the service is inside `handle`).
static PENDING: AtomicBool = AtomicBool::new(false);
/// The test lets pending requests finish.
static RELEASED: AtomicBool = AtomicBool::new(false);

/// A line protocol: `WAIT` asks the service for a request (answered `DONE`), `QUIT` closes,
/// every other line is answered `OK`. Like the real sessions, it handles all complete lines
/// it has unless it waits for a reply.
struct GateSession {
    input: Vec<u8>,
    out: Vec<u8>,
    events: VecDeque<Event<()>>,
    waiting: bool,
}

impl GateSession {
    fn process(&mut self) {
        while !self.waiting {
            let Some(end) = self.input.iter().position(|&b| b == b'\n') else {
                return;
            };
            let line: Vec<u8> = self.input.drain(..=end).collect();
            match line.as_slice() {
                b"WAIT\r\n" => {
                    self.waiting = true;
                    self.events.push_back(Event::Request(()));
                }
                b"QUIT\r\n" => {
                    self.out.extend_from_slice(b"BYE\r\n");
                    self.events.push_back(Event::Close);
                    self.waiting = true;
                }
                _ => self.out.extend_from_slice(b"OK\r\n"),
            }
        }
    }
}

impl Session for GateSession {
    type Request = ();
    type Reply = ();
    type Notice = std::convert::Infallible;

    fn overloaded(_config: &SessionConfig, _why: Overload) -> String {
        "NO\r\n".into()
    }
    fn handle_input(&mut self, input: &[u8]) {
        RECEIVED.fetch_add(input.len(), Ordering::SeqCst);
        self.input.extend_from_slice(input);
        self.process();
    }
    fn handle_tls_established(&mut self) {}
    fn handle_auth(&mut self, _outcome: AuthOutcome) {}
    fn handle_reply(&mut self, _reply: (), _out: &mut Output) {
        self.waiting = false;
        self.out.extend_from_slice(b"DONE\r\n");
        self.process();
    }
    fn handle_notice(&mut self, notice: std::convert::Infallible) {
        match notice {}
    }
    fn handle_idle_timeout(&mut self) {
        self.events.push_back(Event::Close);
    }
    fn handle_shutdown(&mut self) {
        self.events.push_back(Event::Close);
    }
    fn handle_revoked(&mut self) {
        self.events.push_back(Event::Close);
    }
    fn handle_moved(&mut self) {
        self.events.push_back(Event::Close);
    }
    fn commands(&self) -> u64 {
        0
    }
    fn take_limit(&mut self) -> Option<&'static str> {
        None
    }
    fn handle_keepalive(&mut self) {}
    fn poll_output(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.out);
    }
    fn poll_event(&mut self) -> Option<Event<()>> {
        self.events.pop_front()
    }
}

/// Holds every request until the test releases it.
struct GateService;

impl Service for GateService {
    type Session = GateSession;
    const PLACEMENT: Placement = Placement::Anywhere;

    fn session(_: &Listener, _: SessionConfig, _: Security, _: &Config) -> GateSession {
        GateSession {
            input: Vec::new(),
            out: b"READY\r\n".to_vec(),
            events: VecDeque::new(),
            waiting: false,
        }
    }
    fn new() -> Self {
        GateService
    }
    async fn handle(&mut self, _request: (), _cx: &Context<'_>) {
        PENDING.store(true, Ordering::SeqCst);
        // Bounded by the test, which releases the gate or fails.
        while !RELEASED.load(Ordering::SeqCst) {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        PENDING.store(false, Ordering::SeqCst);
    }
    async fn next_notice(&mut self) -> std::convert::Infallible {
        std::future::pending().await
    }
}

pub(super) fn shard_state(config: Config) -> Rc<ShardState> {
    let tls = crate::tls::server_config(&config).unwrap();
    let accounts = AccountStore::open(&config.data_dir, &config.local_domains).unwrap();
    let server = Arc::new(ServerContext {
        limits: ConnectionLimits::new(config.max_connections, config.max_connections_per_ip),
        auth_throttle: Arc::new(AuthThrottle::new(
            config.auth_throttling,
            config.auth_failure_delay,
        )),
        tls_http: crate::tls::with_alpn(&tls, &[b"http/1.1"]),
        tls,
        accounts: Arc::new(accounts),
        oauth_keys: Default::default(),
        web_sessions: Default::default(),
        link: None,
        jobs: Default::default(),
        cluster: None,
        config,
    });
    let store = Store::new(
        server.config.data_dir.join("store"),
        ShardId(0),
        ShardMap::new(1),
        crate::runtime::store_config(&server.config),
    );
    Rc::new(ShardState::new(
        Arc::new(CurrentServer::new(server)),
        Shutdown::new(),
        ShardId(0),
        ShardMap::new(1),
        store,
    ))
}

/// Read until `text` ends with `want` (blocking, with the socket's timeout).
pub(super) fn read_until(stream: &mut TcpStream, text: &mut Vec<u8>, want: &[u8]) {
    let mut buf = [0u8; 64 << 10];
    while !text.ends_with(want) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before {:?}", String::from_utf8_lossy(want));
        text.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn pipelined_input_is_not_read_while_a_request_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[server]\nhostname = \"localhost\"\ndata_dir = \"{}\"\n[domains]\nlocal = [\"example.com\"]\n[[listener]]\nprotocol = \"smtp\"\naddress = \"127.0.0.1:2525\"\ntls = \"none\"\n",
        dir.path().join("data").display()
    );
    let config = Config::parse(&text, &dir.path().join("ringpost.toml")).unwrap();
    let listener = config.listeners[0].clone();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
    let server = Executor::new("driver-test")
        .io_memory(512 << 10)
        .ring_depth(64)
        .spawn(move || async move {
            let state = shard_state(config);
            let socket = glommio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            addr_tx.send(socket.local_addr().unwrap()).unwrap();
            let tcp = socket.accept().await.unwrap();
            let peer = tcp.peer_addr().unwrap();
            serve_connection::<GateService>(tcp, peer, listener, state).await;
        })
        .unwrap();
    let addr = addr_rx.recv_timeout(Duration::from_secs(30)).unwrap();

    // Small socket buffers on our side: what the kernel holds for us is small next to what we
    // pipeline.
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .unwrap();
    socket.set_recv_buffer_size(64 << 10).unwrap();
    socket.set_send_buffer_size(64 << 10).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut client: TcpStream = socket.into();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = Vec::new();
    read_until(&mut client, &mut got, b"READY\r\n");

    // A request, and once the service holds it, line after line without reading a reply.
    client.write_all(b"WAIT\r\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !PENDING.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the request never reached the service"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let received_before = RECEIVED.load(Ordering::SeqCst);
    assert_eq!(received_before, 6, "only WAIT was sent");
    client.set_nonblocking(true).unwrap();
    const CAP: usize = 256 << 20;
    let block = b"NOOP\r\n".repeat(64 << 10);
    let mut sent = 0usize;
    let mut last_progress = Instant::now();
    // Until the connection takes nothing for half a second (or the cap: a failure).
    while sent < CAP && last_progress.elapsed() < Duration::from_millis(500) {
        match client.write(&block[sent % block.len()..]) {
            Ok(n) => {
                sent += n;
                last_progress = Instant::now();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    assert!(sent < CAP, "{sent} bytes taken while a request was pending");
    assert!(PENDING.load(Ordering::SeqCst));
    assert_eq!(
        RECEIVED.load(Ordering::SeqCst),
        received_before,
        "the driver read {} bytes while the request was pending",
        RECEIVED.load(Ordering::SeqCst) - received_before
    );

    // Released, every line is read and answered in order.
    RELEASED.store(true, Ordering::SeqCst);
    client.set_nonblocking(false).unwrap();
    let mut rest = b"NOOP\r\n"[sent % 6..].to_vec();
    if rest.len() == 6 {
        rest.clear();
    }
    rest.extend_from_slice(b"QUIT\r\n");
    let lines = sent.div_ceil(6);
    let mut reader = client.try_clone().unwrap();
    let replies = std::thread::spawn(move || {
        let mut text = Vec::new();
        read_until(&mut reader, &mut text, b"BYE\r\n");
        text
    });
    client.write_all(&rest).unwrap();
    let text = replies.join().unwrap();
    let mut expected = b"DONE\r\n".to_vec();
    expected.extend_from_slice(&b"OK\r\n".repeat(lines));
    expected.extend_from_slice(b"BYE\r\n");
    assert!(
        text == expected,
        "{} bytes of replies, {} expected",
        text.len(),
        expected.len()
    );
    server.join().unwrap();
    eprintln!("{sent} bytes pipelined while the request was pending; none read");
}

/// The size of what `f` returns: for an async fn, its future (a connection's task holds it
/// for the connection's life).
fn returned<A, B, C, D, R>(_: fn(A, B, C, D) -> R) -> usize {
    std::mem::size_of::<R>()
}

/// What an idle connection costs besides its buffers (which it gives back when quiet): the
/// connection's future, its session and its TLS state. Each protocol's connection future is
/// allocated at its own size, so an IMAP connection does not pay for HTTP's.
#[test]
fn idle_connection_state_is_compact() {
    use crate::runtime::service::delivery::DeliveryService;
    use crate::runtime::service::mailbox::MailboxService;
    use crate::runtime::service::maildrop::MaildropService;
    use crate::runtime::service::web::WebService;
    let imap = returned(serve_connection::<MailboxService>);
    let pop3 = returned(serve_connection::<MaildropService>);
    let smtp = returned(serve_connection::<DeliveryService>);
    let web = returned(serve_connection::<WebService>);
    let session = std::mem::size_of::<crate::imap::ImapSession>();
    let transport = std::mem::size_of::<super::Transport>();
    eprintln!(
        "futures: imap {imap} pop3 {pop3} smtp {smtp} web {web}; ImapSession {session}; \
         Transport {transport}"
    );
    // Unoptimised sizes (this build): 7,816 bytes for IMAP before requests, logins and TLS
    // handshakes were boxed out of the connection's future, 5,504 after.
    for (protocol, size) in [("imap", imap), ("pop3", pop3), ("smtp", smtp), ("web", web)] {
        assert!(
            size <= 6 * 1024,
            "{protocol} connection future: {size} bytes"
        );
    }
    assert!(session <= 1024, "ImapSession: {session} bytes");
    assert!(transport <= 256, "Transport: {transport} bytes");
}
