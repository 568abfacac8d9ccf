//! Hostile clients against the real server (issue 12): connections that never log in (silent,
//! trickling, stalled in the TLS handshake), pipelines that are never read, and the open-file
//! limit thousands of connections need. Each test starts its own server on free ports.
//!
//! `hostile_clients_do_not_starve_a_normal_client` runs a short form of the load generator's
//! `hostile` scenario; `RINGPOST_HOSTILE_FULL=1` runs the full size (2,000 silent, 2,000 slow,
//! 200 stalled TLS handshakes, 50 normal-client runs, held until the server closed them):
//! `RINGPOST_HOSTILE_FULL=1 cargo test --release --test e2e_hostile hostile_clients -- --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use support::{Options, Server, ALICE};

/// The auth settings every test here keeps (support's default `extra`).
const AUTH: &str = "[auth]\nfailure_delay_ms = 50\nmax_failures = 3\n";

fn addr(server: &Server, name: &str) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.port(name)))
}

fn pid(server: &Server) -> u32 {
    server.child.as_ref().unwrap().id()
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// A rustls client that trusts the server's generated certificate.
fn tls_config(server: &Server) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(server.cafile()).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn tls_client(server: &Server) -> rustls::ClientConnection {
    rustls::ClientConnection::new(
        tls_config(server),
        ServerName::try_from("localhost").unwrap(),
    )
    .unwrap()
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A blocking implicit-TLS connection, read line by line.
fn tls_connect(server: &Server, name: &str) -> BufReader<TlsStream> {
    let tcp = TcpStream::connect(addr(server, name)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    BufReader::new(rustls::StreamOwned::new(tls_client(server), tcp))
}

fn read_line(r: &mut impl BufRead) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line
}

/// Send an IMAP command and read up to its tagged reply, which must be OK.
fn imap_ok(r: &mut BufReader<TlsStream>, tag: &str, command: &str) {
    r.get_mut()
        .write_all(format!("{tag} {command}\r\n").as_bytes())
        .unwrap();
    for _ in 0..1000 {
        let line = read_line(r);
        assert!(!line.is_empty(), "closed during {command}");
        if line.starts_with(&format!("{tag} ")) {
            assert!(line.starts_with(&format!("{tag} OK")), "{command}: {line}");
            return;
        }
    }
    panic!("no tagged reply to {command}");
}

/// Everything the peer sends until it closes the connection, or until `deadline`.
/// `true` when it closed.
fn read_to_close(stream: &mut TcpStream, got: &mut Vec<u8>, deadline: Instant) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return true,
            Err(e) => panic!("read: {e}"),
        }
    }
    false
}

#[test]
fn the_server_raises_its_open_file_limit_to_the_hard_limit() {
    let limits = |pid: &str| -> (u64, u64) {
        let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(3)
            .take(2)
            .map(|v| v.parse().unwrap_or(u64::MAX))
            .collect();
        (v[0], v[1])
    };
    let (_, hard) = limits("self");
    if hard <= 512 {
        eprintln!("hard open-file limit {hard}: nothing to raise, skipped");
        return;
    }
    let server = Server::start(Options {
        soft_open_files: Some(256),
        ..Options::default()
    });
    let (soft, server_hard) = limits(&pid(&server).to_string());
    assert_eq!(server_hard, hard);
    assert_eq!(
        soft, hard,
        "started with a soft limit of 256, the server kept {soft}"
    );
}

#[test]
fn clients_that_never_log_in_are_closed_at_the_login_deadline_however_they_trickle() {
    let server = Server::start(Options {
        extra: format!("{AUTH}[timeouts]\nlogin_secs = 2\n"),
        ..Options::default()
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    // A client that logs in at once is not affected: the deadline ends with the login.
    let mut logged_in = tls_connect(&server, "imaps");
    assert!(read_line(&mut logged_in).starts_with("* OK"));
    imap_ok(
        &mut logged_in,
        "l",
        &format!("LOGIN {} {}", ALICE.0, ALICE.1),
    );
    // Inbound SMTP has no login: only its idle timer (5 minutes) applies.
    let mut inbound = TcpStream::connect(addr(&server, "smtp")).unwrap();

    // Silent on every listener that requires a login, and one that trickles a NOOP a byte
    // every 100 ms: its input never lets an idle timer fire, but the login deadline does.
    let stop = Arc::new(AtomicBool::new(false));
    let trickler = TcpStream::connect(addr(&server, "imap")).unwrap();
    let writer = {
        let mut w = trickler.try_clone().unwrap();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sent = 0usize;
            // Ends when the server closes the connection (or at the test's deadline).
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if w.write_all(&[b"a NOOP\r\n"[sent % 8]]).is_err() {
                    break;
                }
                sent += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            sent
        })
    };
    let mut clients = vec![("imap trickling", trickler, "* BYE")];
    for (name, farewell) in [("imap", "* BYE"), ("pop3", "-ERR"), ("submission", "421 ")] {
        clients.push((
            name,
            TcpStream::connect(addr(&server, name)).unwrap(),
            farewell,
        ));
    }
    let readers: Vec<_> = clients
        .into_iter()
        .map(|(name, mut stream, farewell)| {
            std::thread::spawn(move || {
                let mut got = Vec::new();
                let closed = read_to_close(&mut stream, &mut got, deadline);
                (
                    name,
                    farewell,
                    closed,
                    String::from_utf8_lossy(&got).into_owned(),
                )
            })
        })
        .collect();
    for reader in readers {
        let (name, farewell, closed, got) = reader.join().unwrap();
        assert!(
            closed,
            "{name}: still open long after the login deadline; got {got:?}"
        );
        let last = got.lines().last().unwrap_or_default();
        assert!(last.starts_with(farewell), "{name}: closed with {got:?}");
    }
    stop.store(true, Ordering::Relaxed);
    let sent = writer.join().unwrap();
    assert!(
        sent >= 16,
        "the trickler sent only {sent} bytes: no NOOP completed"
    );

    // The logged-in session and the inbound SMTP session are still served.
    imap_ok(&mut logged_in, "n", "NOOP");
    let mut inbound_reader = BufReader::new(inbound.try_clone().unwrap());
    inbound
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert!(read_line(&mut inbound_reader).starts_with("220 "));
    inbound.write_all(b"NOOP\r\n").unwrap();
    assert!(read_line(&mut inbound_reader).starts_with("250 "));
    let log = server.log();
    assert!(log.contains("no login in time; closing"), "{log}");
}

/// A nonblocking client connection, plaintext or TLS, that reads only when told to: a client
/// that pipelines and does not read the replies.
struct Pipe {
    sock: TcpStream,
    tls: Option<rustls::ClientConnection>,
    /// Plaintext received.
    inbox: Vec<u8>,
}

impl Pipe {
    /// A connection with small socket buffers on our side (so what the kernel holds for us is
    /// small next to what we pipeline), after `setup` ran blocking on it.
    fn open(target: SocketAddr, tls: Option<rustls::ClientConnection>) -> Pipe {
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .unwrap();
        socket.set_recv_buffer_size(64 << 10).unwrap();
        socket.set_send_buffer_size(64 << 10).unwrap();
        socket.connect(&target.into()).unwrap();
        let sock: TcpStream = socket.into();
        sock.set_nodelay(true).unwrap();
        sock.set_nonblocking(true).unwrap();
        Pipe {
            sock,
            tls,
            inbox: Vec::new(),
        }
    }

    /// Send what rustls holds; true when nothing is left.
    fn flush_tls(&mut self) -> bool {
        let Some(tls) = self.tls.as_mut() else {
            return true;
        };
        while tls.wants_write() {
            match tls.write_tls(&mut self.sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) => panic!("write: {e}"),
            }
        }
        true
    }

    /// Hand over as much of `data` as the connection takes now; 0 when it takes nothing.
    fn send(&mut self, data: &[u8]) -> usize {
        if self.tls.is_none() {
            return match self.sock.write(data) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                Err(e) => panic!("write: {e}"),
            };
        }
        if !self.flush_tls() {
            return 0;
        }
        let n = self.tls.as_mut().unwrap().writer().write(data).unwrap();
        self.flush_tls();
        n
    }

    /// Take in whatever has arrived; false once the server closed the connection.
    fn recv(&mut self) -> bool {
        let mut buf = vec![0u8; 64 << 10];
        // Bounded: each pass reads what one socket buffer holds.
        for _ in 0..64 {
            let n = match self.tls.as_mut() {
                None => match self.sock.read(&mut buf) {
                    Ok(0) => return false,
                    Ok(n) => {
                        self.inbox.extend_from_slice(&buf[..n]);
                        n
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                    Err(e) => panic!("read: {e}"),
                },
                Some(tls) => {
                    let n = match tls.read_tls(&mut self.sock) {
                        Ok(0) => return false,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                        Err(e) => panic!("read: {e}"),
                    };
                    tls.process_new_packets().unwrap();
                    loop {
                        match tls.reader().read(&mut buf) {
                            Ok(0) => return false,
                            Ok(k) => self.inbox.extend_from_slice(&buf[..k]),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => panic!("read: {e}"),
                        }
                    }
                    n
                }
            };
            if n == 0 {
                return true;
            }
        }
        true
    }

    /// Read (blocking, bounded) until the received text contains `what`.
    fn recv_until(&mut self, what: &str, deadline: Instant) {
        while !String::from_utf8_lossy(&self.inbox).contains(what) {
            assert!(
                Instant::now() < deadline,
                "no {what:?} in {:?}",
                self.text()
            );
            self.flush_tls();
            assert!(self.recv(), "closed before {what:?}: {:?}", self.text());
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.inbox).into_owned()
    }
}

/// What a pipelining client managed to send before the server stopped taking more.
struct Pipelined {
    /// Bytes of `prefix` and then of `filler` lines handed over.
    sent: u64,
    /// Complete `filler` lines among them, once the last one is completed.
    lines: u64,
    /// The server's RSS when the client was blocked.
    rss_kib: u64,
}

/// Send `prefix`, then `filler` lines over and over, never reading, until the connection has
/// taken nothing for two seconds (the server stopped reading: its socket buffers and ours
/// are full) or `cap` bytes were sent. Then read everything the server answers while sending
/// the rest of the last line and `last`, until the reply to `last` (`done`) arrives.
fn pipeline_without_reading(
    pipe: &mut Pipe,
    server_pid: u32,
    rss_before_kib: u64,
    prefix: &[u8],
    filler: &[u8],
    last: &[u8],
    done: &str,
) -> Pipelined {
    const CAP: u64 = 256 << 20;
    let block: Vec<u8> = filler.repeat((64 << 10) / filler.len());
    let mut sent = 0u64;
    let mut last_progress = Instant::now();
    let started = Instant::now();
    let blocked = loop {
        let at = sent as usize;
        let data = if at < prefix.len() {
            &prefix[at..]
        } else {
            &block[(at - prefix.len()) % block.len()..]
        };
        let n = pipe.send(data);
        if n > 0 {
            sent += n as u64;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > Duration::from_secs(2) {
            break true;
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
        if sent >= CAP || started.elapsed() > Duration::from_secs(300) {
            break false;
        }
    };
    let rss_kib = vm_rss_kib(server_pid);
    assert!(
        blocked,
        "{sent} bytes pipelined without the server ever stopping to read"
    );
    assert!(
        rss_kib < rss_before_kib + RSS_GROWTH_MAX_KIB,
        "{sent} bytes pipelined; server RSS grew from {rss_before_kib} to {rss_kib} KiB"
    );
    // Finish the line cut off, then the last command, reading all the while.
    let past = sent.saturating_sub(prefix.len() as u64);
    let cut = (past % filler.len() as u64) as usize;
    let lines = past / filler.len() as u64 + u64::from(cut > 0);
    let mut rest = Vec::new();
    if cut > 0 {
        rest.extend_from_slice(&filler[cut..]);
    }
    rest.extend_from_slice(last);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut at = 0;
    while !pipe.text().contains(done) {
        assert!(
            Instant::now() < deadline,
            "no {done:?} after draining {} bytes",
            pipe.inbox.len()
        );
        if at < rest.len() {
            at += pipe.send(&rest[at..]);
        } else {
            pipe.flush_tls();
        }
        let open = pipe.recv();
        if !open {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Pipelined {
        sent,
        lines,
        rss_kib,
    }
}

/// How much more than it had before a server may hold while a client pipelines at it: the
/// message in flight and the replies to one read of commands, with room to spare. A server
/// that buffered the pipeline would grow by the hundreds of MiB sent.
const RSS_GROWTH_MAX_KIB: u64 = 96 << 10;

#[test]
fn pipelined_input_is_not_read_while_a_delivery_is_pending() {
    let server = Server::start(Options::default());
    let pid = pid(&server);
    let mut pipe = Pipe::open(addr(&server, "smtp"), None);
    let deadline = Instant::now() + Duration::from_secs(30);
    pipe.recv_until("220 ", deadline);
    pipe.send(b"EHLO client.example\r\nMAIL FROM:<sender@remote.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n");
    pipe.recv_until("354 ", deadline);
    let before = vm_rss_kib(pid);
    pipe.inbox.clear();
    // A 4 MiB message, its end, and straight after it NOOP after NOOP, never reading.
    let mut message = b"Subject: pipelined behind a delivery\r\n\r\n".to_vec();
    while message.len() < 4 << 20 {
        message.extend_from_slice(
            b"0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n",
        );
    }
    message.extend_from_slice(b".\r\n");
    let p = pipeline_without_reading(
        &mut pipe,
        pid,
        before,
        &message,
        b"NOOP\r\n",
        b"QUIT\r\n",
        "221 ",
    );
    eprintln!(
        "smtp: {} bytes pipelined ({} NOOPs) before the server stopped reading; server RSS {} -> {} KiB",
        p.sent, p.lines, before, p.rss_kib
    );
    // Every command answered, in order: the delivery, each NOOP, QUIT.
    let text = pipe.text();
    let replies: Vec<&str> = text.lines().collect();
    assert!(replies[0].starts_with("250 "), "{}", replies[0]);
    assert_eq!(
        replies.len() as u64,
        p.lines + 2,
        "replies: {}",
        replies.len()
    );
    assert!(replies[1..replies.len() - 1]
        .iter()
        .all(|r| *r == "250 2.0.0 OK"));
    assert!(replies.last().unwrap().starts_with("221 "));
}

#[test]
fn pipelined_input_is_not_read_while_an_append_is_pending() {
    let server = Server::start(Options::default());
    let pid = pid(&server);
    // Over implicit TLS: rustls, not only the socket, must stop taking input.
    let mut pipe = Pipe::open(addr(&server, "imaps"), Some(tls_client(&server)));
    let deadline = Instant::now() + Duration::from_secs(30);
    pipe.recv_until("* OK", deadline);
    pipe.send(format!("l LOGIN {} {}\r\n", ALICE.0, ALICE.1).as_bytes());
    pipe.recv_until("l OK", deadline);
    let before = vm_rss_kib(pid);
    pipe.inbox.clear();
    // A 4 MiB APPEND (LITERAL+: no wait for the go-ahead), then NOOP after NOOP.
    let mut message = b"Subject: pipelined behind an append\r\n\r\n".to_vec();
    while message.len() < 4 << 20 {
        message.extend_from_slice(
            b"0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n",
        );
    }
    let mut prefix = format!("a APPEND INBOX {{{}+}}\r\n", message.len()).into_bytes();
    prefix.extend_from_slice(&message);
    prefix.extend_from_slice(b"\r\n");
    let p = pipeline_without_reading(
        &mut pipe,
        pid,
        before,
        &prefix,
        b"n NOOP\r\n",
        b"z LOGOUT\r\n",
        "z OK",
    );
    eprintln!(
        "imaps: {} bytes pipelined ({} NOOPs) before the server stopped reading; server RSS {} -> {} KiB",
        p.sent, p.lines, before, p.rss_kib
    );
    let text = pipe.text();
    let replies: Vec<&str> = text.lines().collect();
    assert!(replies[0].starts_with("a OK [APPENDUID "), "{}", replies[0]);
    let noops = replies
        .iter()
        .filter(|r| **r == "n OK NOOP completed")
        .count() as u64;
    assert_eq!(noops, p.lines);
    assert_eq!(
        replies.len() as u64,
        p.lines + 3,
        "{:?}",
        &replies[replies.len().saturating_sub(3)..]
    );
    assert!(replies[replies.len() - 2].starts_with("* BYE"));
}

/// The first flight of a TLS client: its ClientHello.
fn client_hello(server: &Server) -> Vec<u8> {
    let mut client = tls_client(server);
    let mut hello = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut hello).unwrap();
    }
    hello
}

#[test]
fn a_stalled_tls_handshake_does_not_hold_up_shutdown() {
    // Handshakes that would wait two minutes, and a grace period longer than `terminate`
    // waits for the server to exit.
    let mut server = Server::start(Options {
        extra: format!("{AUTH}[timeouts]\ntls_handshake_secs = 120\nshutdown_grace_secs = 60\n"),
        ..Options::default()
    });
    let hello = client_hello(&server);
    let mut stalled = Vec::new();
    for name in ["imaps", "pop3s", "smtps"] {
        for _ in 0..3 {
            let mut s = TcpStream::connect(addr(&server, name)).unwrap();
            s.write_all(&hello).unwrap();
            // The server's first flight: it is inside the handshake, waiting for our Finished.
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut byte = [0u8; 1];
            assert_eq!(s.read(&mut byte).unwrap(), 1, "{name}: no ServerHello");
            stalled.push(s);
        }
    }
    let status = server.terminate();
    assert!(status.success(), "{status}");
}

#[test]
fn hostile_clients_do_not_starve_a_normal_client() {
    // The short form keeps the suite fast: the deadlines that end the hostile connections are
    // a few seconds. The full form (RINGPOST_HOSTILE_FULL=1) runs the numbers with the
    // default timeouts, inbound SMTP among the targets, and holds until the server has ended
    // every connection it is going to end (inbound SMTP's idle timer: 5 minutes).
    let full = std::env::var_os("RINGPOST_HOSTILE_FULL").is_some();
    let (silent, slow, tls_stall, probes, hold) = match full {
        true => ("2000", "2000", "200", "50", "330"),
        false => ("150", "150", "40", "5", "60"),
    };
    let extra = match full {
        true => AUTH.to_string(),
        false => format!("{AUTH}[timeouts]\nlogin_secs = 3\ntls_handshake_secs = 3\n"),
    };
    let mut server = Server::start(Options {
        extra,
        ..Options::default()
    });
    let pid = pid(&server).to_string();
    let port = |name: &str| format!("127.0.0.1:{}", server.port(name));
    let cafile = server.cafile();
    let mut args: Vec<String> = [
        "loadtest",
        "hostile",
        "--target",
        &port("imaps"),
        "--cafile",
        cafile.to_str().unwrap(),
        "--user",
        ALICE.0,
        "--password",
        ALICE.1,
        "--smtp-target",
        &port("smtp"),
        "--silent",
        silent,
        "--slow",
        slow,
        "--tls-stall",
        tls_stall,
        "--probes",
        probes,
        "--hold",
        hold,
        "--server-pid",
        &pid,
        "--max-time",
        "900",
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut plain = vec!["imap", "pop3", "submission"];
    if full {
        plain.push("smtp");
    }
    for name in plain {
        args.extend(["--plain-target".to_string(), port(name)]);
    }
    for name in ["imaps", "pop3s", "smtps"] {
        args.extend(["--tls-target".to_string(), port(name)]);
    }
    let report = loadtest::run_args(args).unwrap_or_else(|e| panic!("hostile: {e}"));
    eprint!("{}", report.text());
    let h = report.hostile.as_ref().unwrap();

    // The normal client was served correctly every time, alone and under the load.
    assert_eq!(
        report.failed, 0,
        "{:?} {:?}",
        report.failures, report.first_failure
    );
    let runs: u64 = probes.parse().unwrap();
    for l in [
        &h.baseline_imap,
        &h.baseline_smtp,
        &h.loaded_imap,
        &h.loaded_smtp,
    ] {
        assert_eq!(l.count, runs);
    }
    // Every hostile connection was accepted, and (short form) ended by the server.
    for c in &h.classes {
        assert_eq!(c.opened, c.wanted, "{}: {:?}", c.class, c.farewells);
        if !full {
            assert_eq!(
                c.closed_by_server, c.wanted,
                "{}: {:?}",
                c.class, c.farewells
            );
        }
    }
    // Memory stayed bounded, and the server is alive and stops cleanly.
    assert!(
        h.server_rss_peak_kib < 512 << 10,
        "server peak RSS {} KiB",
        h.server_rss_peak_kib
    );
    assert!(server.child.as_mut().unwrap().try_wait().unwrap().is_none());
    let status = server.terminate();
    assert!(status.success(), "{status}");
}
