//! Hostile clients against the real server (issue 12): connections that never log in (silent,
//! trickling, stalled in the TLS handshake), pipelines that are never read, and the open-file
//! limit thousands of connections need. Each test starts its own server on free ports.

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
