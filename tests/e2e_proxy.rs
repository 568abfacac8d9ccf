//! End to end behind a real load balancer: Debian's haproxy in TCP mode in front of ringpost,
//! `send-proxy-v2` to the implicit-TLS IMAP listener (ringpost terminates TLS) and
//! `send-proxy` (v1) to inbound SMTP. Clients connect from 127.0.0.2 while haproxy reaches
//! ringpost from 127.0.0.1, the only trusted source; the logs and the `Received:` header
//! must name 127.0.0.2. Hand-made headers check the rest (tests/clients/proxy.py).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{mailbox_messages, Options, Server, ALICE};

/// haproxy run by the test: `haproxy -f CFG -db` (foreground), killed when dropped.
struct Haproxy {
    child: Child,
    log: PathBuf,
}

impl Haproxy {
    /// Frontends on free ports, each passing TCP to one ringpost port with a PROXY header
    /// (`send-proxy` or `send-proxy-v2`). Returns once every frontend accepts connections.
    fn start(dir: &Path, routes: &[(&str, u16, &str)]) -> (Haproxy, Vec<u16>) {
        let ports = support::free_ports(routes.len());
        let mut cfg = String::from(
            "global\n    maxconn 100\n    nbthread 1\n\
             defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n",
        );
        for ((name, backend, send_proxy), port) in routes.iter().zip(&ports) {
            write!(
                cfg,
                "frontend {name}\n    bind 127.0.0.1:{port}\n    default_backend {name}\n\
                 backend {name}\n    server ringpost 127.0.0.1:{backend} {send_proxy}\n"
            )
            .unwrap();
        }
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, cfg).unwrap();
        let log = dir.join("haproxy.log");
        let child = Command::new("haproxy")
            .arg("-f")
            .arg(&path)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.join("haproxy.err")).unwrap())
            .spawn()
            .expect("haproxy starts");
        let mut haproxy = Haproxy { child, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in &ports {
            // From the clients' address: haproxy passes even this probe on with a header.
            while connect_from(CLIENT, *port).is_err() {
                if let Some(status) = haproxy.child.try_wait().unwrap() {
                    panic!("haproxy exited with {status}: {}", haproxy.output());
                }
                assert!(
                    Instant::now() < deadline,
                    "haproxy did not listen on {port}: {}",
                    haproxy.output()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        (haproxy, ports)
    }

    fn output(&self) -> String {
        let err = self.log.with_file_name("haproxy.err");
        format!(
            "{}{}",
            std::fs::read_to_string(&self.log).unwrap_or_default(),
            std::fs::read_to_string(err).unwrap_or_default()
        )
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the clients connect from; haproxy reaches ringpost from 127.0.0.1.
const CLIENT: [u8; 4] = [127, 0, 0, 2];

/// A TCP connection to 127.0.0.1:`port` from the loopback address `source`.
fn connect_from(source: [u8; 4], port: u16) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((source, 0)).into())?;
    socket.connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)).into(),
        Duration::from_millis(200),
    )?;
    Ok(socket.into())
}

/// Log lines of `target` that contain every one of `fields`.
fn lines_with<'a>(log: &'a str, target: &str, fields: &[&str]) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.contains(target) && fields.iter().all(|f| l.contains(f)))
        .collect()
}

#[test]
fn behind_haproxy_the_client_address_is_the_one_the_proxy_names() {
    if !support::have("haproxy", "haproxy") {
        return;
    }
    const PER_IP: usize = 5;
    let trusted = "proxy_protocol = true\nproxy_trusted = [\"127.0.0.1/32\", \"::1/128\"]\n";
    let mut server = Server::start(Options {
        extra: format!(
            "[auth]\nfailure_delay_ms = 50\n[limits]\nmax_connections_per_ip = {PER_IP}\n\
             [timeouts]\ntls_handshake_secs = 2\n"
        ),
        log: "info",
        listener_extra: vec![
            ("imap", trusted.into()),
            ("imaps", trusted.into()),
            ("smtp", trusted.into()),
        ],
        ..Options::default()
    });
    let (haproxy, ports) = Haproxy::start(
        server.dir.path(),
        &[
            ("imaps", server.port("imaps"), "send-proxy-v2"),
            ("smtp", server.port("smtp"), "send-proxy"),
        ],
    );
    let balancer = format!("{{\"imaps\": {}, \"smtp\": {}}}", ports[0], ports[1]);
    let out = server.python("proxy.py", &[&balancer, &PER_IP.to_string()]);
    assert!(out.contains("proxy passed"), "{out}");
    drop(haproxy);
    assert!(server.terminate().success());
    let log = server.log();
    print!("{log}");

    let imaps = format!("listener=127.0.0.1:{}", server.port("imaps"));
    let imap = format!("listener=127.0.0.1:{}", server.port("imap"));
    let smtp = format!("listener=127.0.0.1:{}", server.port("smtp"));
    let client = "client_ip=127.0.0.2 ";
    // Through haproxy: the login, the failed login, the sessions and the delivery are the
    // client's, and nothing on those listeners is haproxy's own address.
    for (target, fields, what) in [
        ("ringpost::auth", vec![" login ", &imaps, client], "login"),
        (
            "ringpost::auth",
            vec![" login failed ", &imaps, client],
            "failed login",
        ),
        (
            "ringpost::session",
            vec!["session ended", &imaps, client],
            "IMAPS session",
        ),
        (
            "ringpost::session",
            vec!["session ended", &smtp, client],
            "SMTP session",
        ),
        ("ringpost::delivery", vec![client], "delivery"),
    ] {
        assert!(
            !lines_with(&log, target, &fields).is_empty(),
            "no {what} line with {client}:\n{log}"
        );
    }
    for listener in [&imaps, &smtp] {
        for target in ["ringpost::auth", "ringpost::session", "ringpost::delivery"] {
            let haproxys = lines_with(&log, target, &[listener, "client_ip=127.0.0.1 "]);
            assert!(
                haproxys.is_empty(),
                "haproxy's address logged: {haproxys:?}"
            );
        }
    }
    // Straight to the listeners: the untrusted source and the bad headers are refused and
    // logged; a header's client is logged as such; LOCAL keeps the proxy's address.
    for (target, fields, what) in [
        (
            "ringpost::limits",
            vec!["client_ip=127.0.0.3 ", "untrusted PROXY protocol source"],
            "untrusted source",
        ),
        (
            "ringpost::limits",
            vec!["client_ip=127.0.0.1 ", "no valid PROXY header", &imap],
            "bad header",
        ),
        (
            "ringpost::limits",
            vec!["client_ip=127.0.0.1 ", "no valid PROXY header", &imaps],
            "oversized header",
        ),
        (
            "ringpost::limits",
            vec!["client_ip=127.0.0.1 ", "no PROXY header in time", &imap],
            "header timeout",
        ),
        (
            "ringpost::auth",
            vec![" login ", &imaps, "client_ip=192.0.2.10 client_port=5555 "],
            "login after a v2 header",
        ),
        (
            "ringpost::session",
            vec![
                "session ended",
                &imap,
                "client_ip=192.0.2.9 client_port=4242 ",
            ],
            "session after a v1 header",
        ),
        (
            "ringpost::session",
            vec!["session ended", &imap, "client_ip=127.0.0.1 "],
            "LOCAL session",
        ),
        (
            "ringpost::limits",
            vec!["client_ip=192.0.2.20 ", "connection refused"],
            "per-client limit",
        ),
    ] {
        assert!(
            !lines_with(&log, target, &fields).is_empty(),
            "no {what} line ({fields:?}):\n{log}"
        );
    }

    // The Received: header of the message that came through haproxy names the client.
    let inbox = mailbox_messages(&server.data_dir(), 2, ALICE.0, "INBOX");
    let via: Vec<String> = inbox
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .filter(|m| m.contains("Subject: via haproxy"))
        .collect();
    assert_eq!(via.len(), 1, "{inbox:?}");
    let received = via[0]
        .lines()
        .find(|l| l.starts_with("Received: "))
        .unwrap();
    assert!(
        received.starts_with("Received: from client.example.org ([127.0.0.2])"),
        "{received}"
    );
}
