//! Compression in the driver and transport (IMAP COMPRESS's machinery, RFC 4978), on a real
//! socket with a line protocol of its own: `ZIP` turns compression on, with the bytes pipelined
//! behind it handed back; everything after is raw DEFLATE both ways. A decompression bomb
//! reaches the session one read buffer at a time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use super::driver::serve_connection;
use super::driver_tests::shard_state;
use crate::config::{Config, Listener};
use crate::runtime::service::{Context, Placement, Service};
use crate::runtime::Executor;
use crate::session::{AuthOutcome, Event, Output, Overload, Security, Session, SessionConfig};

/// The largest piece of input the session was handed at once.
static LARGEST_INPUT: AtomicUsize = AtomicUsize::new(0);

/// `ZIP` → `OK` and compression; `LEN` → the length of the line before it; `QUIT` → `BYE`;
/// any other line is remembered (its length) and answered `OK`. Lines are bounded at 1 MiB:
/// longer ones are dropped as they arrive and answered `TOOLONG`.
struct ZipSession {
    line: Vec<u8>,
    too_long: bool,
    last_len: usize,
    /// Bytes received after `ZIP` and not processed.
    held: Option<Vec<u8>>,
    out: Vec<u8>,
    events: VecDeque<Event<()>>,
}

const MAX_LINE: usize = 1 << 20;

impl ZipSession {
    fn take(&mut self, input: &[u8]) {
        let mut rest = input;
        while !rest.is_empty() {
            if let Some(held) = self.held.as_mut() {
                held.extend_from_slice(rest);
                return;
            }
            let (part, more) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..=i], true),
                None => (rest, false),
            };
            rest = &rest[part.len()..];
            if !self.too_long {
                self.line.extend_from_slice(part);
                if self.line.len() > MAX_LINE {
                    self.too_long = true;
                    self.line = Vec::new();
                }
            }
            if more {
                let line = std::mem::take(&mut self.line);
                if std::mem::take(&mut self.too_long) {
                    self.out.extend_from_slice(b"TOOLONG\r\n");
                    continue;
                }
                match line.as_slice() {
                    b"ZIP\r\n" => {
                        self.out.extend_from_slice(b"OK\r\n");
                        self.events.push_back(Event::StartCompression);
                        self.held = Some(Vec::new());
                    }
                    b"LEN\r\n" => self
                        .out
                        .extend_from_slice(format!("{}\r\n", self.last_len).as_bytes()),
                    b"QUIT\r\n" => {
                        self.out.extend_from_slice(b"BYE\r\n");
                        self.events.push_back(Event::Close);
                    }
                    _ => {
                        self.last_len = line.len();
                        self.out.extend_from_slice(b"OK\r\n");
                    }
                }
            }
        }
    }
}

impl Session for ZipSession {
    type Request = ();
    type Reply = ();
    type Notice = std::convert::Infallible;

    fn overloaded(_config: &SessionConfig, _why: Overload) -> String {
        "NO\r\n".into()
    }
    fn handle_input(&mut self, input: &[u8]) {
        LARGEST_INPUT.fetch_max(input.len(), Ordering::SeqCst);
        self.take(input);
    }
    fn handle_tls_established(&mut self) {}
    fn handle_compression_started(&mut self) -> Vec<u8> {
        self.held.take().unwrap_or_default()
    }
    fn handle_auth(&mut self, _outcome: AuthOutcome) {}
    fn handle_reply(&mut self, _reply: (), _out: &mut Output) {}
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

struct ZipService;

impl Service for ZipService {
    type Session = ZipSession;
    const PLACEMENT: Placement = Placement::Anywhere;

    fn session(_: &Listener, _: SessionConfig, _: Security, _: &Config) -> ZipSession {
        ZipSession {
            line: Vec::new(),
            too_long: false,
            last_len: 0,
            held: None,
            out: b"READY\r\n".to_vec(),
            events: VecDeque::new(),
        }
    }
    fn new() -> Self {
        ZipService
    }
    async fn handle(&mut self, _request: (), _cx: &Context<'_>) {}
    async fn next_notice(&mut self) -> std::convert::Infallible {
        std::future::pending().await
    }
}

/// The client's ends of both DEFLATE streams.
struct Client {
    tcp: TcpStream,
    deflate: Compress,
    inflate: Decompress,
    /// Inflated and not read yet.
    text: Vec<u8>,
}

impl Client {
    fn send(&mut self, data: &[u8]) {
        let mut wire = Vec::with_capacity(data.len() / 2 + 1024);
        let mut rest = data;
        loop {
            if wire.capacity() - wire.len() < 1024 {
                wire.reserve(64 << 10);
            }
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(rest, &mut wire, FlushCompress::Sync)
                .unwrap();
            rest = &rest[(self.deflate.total_in() - before) as usize..];
            if rest.is_empty() && wire.len() < wire.capacity() {
                break;
            }
        }
        self.tcp.write_all(&wire).unwrap();
    }

    /// Read and inflate until the text ends with `want`; returns it all.
    fn until(&mut self, want: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 16 << 10];
        while !self.text.ends_with(want) {
            let n = std::io::Read::read(&mut self.tcp, &mut buf).unwrap();
            assert!(
                n > 0,
                "closed; inflated so far {:?}",
                String::from_utf8_lossy(&self.text)
            );
            let mut input = &buf[..n];
            while !input.is_empty() {
                self.text.reserve(64 << 10);
                let before = self.inflate.total_in();
                self.inflate
                    .decompress_vec(input, &mut self.text, FlushDecompress::None)
                    .unwrap();
                input = &input[(self.inflate.total_in() - before) as usize..];
            }
        }
        std::mem::take(&mut self.text)
    }
}

#[test]
fn compressed_both_ways_with_pipelining_and_a_bounded_bomb() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[server]\nhostname = \"localhost\"\ndata_dir = \"{}\"\n[domains]\nlocal = [\"example.com\"]\n[[listener]]\nprotocol = \"smtp\"\naddress = \"127.0.0.1:2525\"\ntls = \"none\"\n",
        dir.path().join("data").display()
    );
    let config = Config::parse(&text, &dir.path().join("ringpost.toml")).unwrap();
    let listener = config.listeners[0].clone();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
    let server = Executor::new("compress-test")
        .io_memory(512 << 10)
        .ring_depth(64)
        .spawn(move || async move {
            let state = shard_state(config);
            let socket = glommio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            addr_tx.send(socket.local_addr().unwrap()).unwrap();
            let tcp = socket.accept().await.unwrap();
            let peer = tcp.peer_addr().unwrap();
            serve_connection::<ZipService>(tcp, peer, listener, state).await;
        })
        .unwrap();
    let addr = addr_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut got = Vec::new();
    super::driver_tests::read_until(&mut tcp, &mut got, b"READY\r\n");

    // ZIP, with a compressed line pipelined behind it in the same write.
    let mut client = Client {
        tcp,
        deflate: Compress::new(Compression::new(6), false),
        inflate: Decompress::new(false),
        text: Vec::new(),
    };
    let mut first = b"ZIP\r\n".to_vec();
    let mut pipelined = Vec::with_capacity(1024);
    client
        .deflate
        .compress_vec(b"hello\r\n", &mut pipelined, FlushCompress::Sync)
        .unwrap();
    first.extend_from_slice(&pipelined);
    client.tcp.write_all(&first).unwrap();
    // Exactly the OK's bytes: the compressed stream may follow in the same segment.
    let mut plain = [0u8; 4];
    std::io::Read::read_exact(&mut client.tcp, &mut plain).unwrap();
    assert_eq!(&plain, b"OK\r\n", "the OK is sent uncompressed");
    // The answer to the pipelined line comes compressed (and flushed).
    assert_eq!(client.until(b"\r\n"), b"OK\r\n");
    client.send(b"LEN\r\n");
    assert_eq!(client.until(b"\r\n"), b"7\r\n");

    // 64 MiB of one line, a few dozen KiB compressed: the session gets it one read buffer
    // at a time, and its own line limit refuses it.
    LARGEST_INPUT.store(0, Ordering::SeqCst);
    let mut bomb = vec![b'x'; 64 << 20];
    bomb.extend_from_slice(b"\r\n");
    client.send(&bomb);
    assert_eq!(client.until(b"\r\n"), b"TOOLONG\r\n");
    let largest = LARGEST_INPUT.load(Ordering::SeqCst);
    assert!(largest <= 16 << 10, "{largest} bytes handed over at once");

    // The session goes on.
    client.send(b"fine\r\nLEN\r\n");
    assert_eq!(client.until(b"6\r\n"), b"OK\r\n6\r\n");

    // Garbage: the connection is closed.
    client
        .tcp
        .write_all(b"\xff\xff\xff\xff not deflate\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut client.tcp, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed after invalid DEFLATE");
    server.join().unwrap();
}
