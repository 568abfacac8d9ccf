//! dnsmasq as the DNS server of end-to-end tests (Debian's dnsmasq-base), shared by
//! `e2e_outbound.rs` and `e2e_inbound_auth.rs`.

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A dnsmasq serving the test zone `.test` (authoritatively: unknown names are NXDOMAIN).
pub struct Dns {
    pub child: Child,
    pub port: u16,
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn dnsmasq(records: &[String]) -> Dns {
    dnsmasq_on(super::free_ports(1)[0], records)
}

/// [`dnsmasq`] on a given port.
pub fn dnsmasq_on(port: u16, records: &[String]) -> Dns {
    let mut cmd = Command::new("dnsmasq");
    cmd.args([
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        "--bind-interfaces",
        "--listen-address=127.0.0.1",
        "--pid-file=",
        "--local=/test/",
        "--log-queries",
        "--log-facility=-",
    ])
    .arg(format!("--port={port}"))
    .args(records)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let child = cmd.spawn().expect("dnsmasq");
    let dns = Dns { child, port };
    // Ready when it answers a question.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let query =
        ringpost::outbound::dns::query(1, "mx.remote1.test", ringpost::outbound::dns::Question::A)
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        socket.send_to(&query, ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 512];
        if socket.recv(&mut buf).is_ok() {
            return dns;
        }
        assert!(Instant::now() < deadline, "dnsmasq did not answer");
    }
}
