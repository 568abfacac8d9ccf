//! TLS handshakes in memory, both ends in this process: the ceiling for the server's
//! handshakes per core-second (issue 20). The server side is ringpost's own configuration
//! (`ringpost::tls::server_config`: the self-signed ECDSA P-256 certificate a fresh data
//! directory gets, TLS 1.3 and 1.2, stateless tickets); the client is rustls with ring, as
//! the load generator's. Each iteration is one whole handshake, client and server; the
//! server's share is measured apart by timing only the server's calls.
//!
//! `cargo bench --bench tls_handshake`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

fn configs() -> (Arc<ServerConfig>, RootCertStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let text = format!(
        "[server]\nhostname = \"localhost\"\ndata_dir = \"{}\"\n[domains]\nlocal = [\"example.com\"]\n\
         [[listener]]\nprotocol = \"imap\"\naddress = \"127.0.0.1:1993\"\ntls = \"implicit\"\n",
        dir.path().display()
    );
    let config =
        ringpost::config::Config::parse(&text, &dir.path().join("ringpost.toml")).expect("config");
    let server = ringpost::tls::server_config(&config).expect("server config");
    let (cert, _) = ringpost::tls::self_signed_paths(dir.path());
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).expect("certificate") {
        roots.add(c.expect("PEM")).expect("root");
    }
    (server, roots, dir)
}

fn client(roots: &RootCertStore, tls12: bool, resume: bool) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut c = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    if !resume {
        c.resumption = rustls::client::Resumption::disabled();
    }
    Arc::new(c)
}

/// Move every pending TLS record from one side to the other (the receiver processes them).
fn pump(from: &mut dyn rustls_io::Side, to: &mut dyn rustls_io::Side) {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).expect("write_tls");
    }
    let mut slice = &buf[..];
    while !slice.is_empty() {
        to.read_tls(&mut slice).expect("read_tls");
        to.process().expect("process");
    }
}

/// One handshake; returns the time spent in the server's calls and whether it resumed.
fn handshake(server: &Arc<ServerConfig>, client: &Arc<ClientConfig>) -> (Duration, bool) {
    let name = ServerName::try_from("localhost").expect("name");
    let mut c = rustls_io::Client(ClientConnection::new(client.clone(), name).expect("client"));
    let mut in_server = Duration::ZERO;
    let t = Instant::now();
    let mut s = rustls_io::Server(ServerConnection::new(server.clone()).expect("server"));
    in_server += t.elapsed();
    while c.0.is_handshaking() || s.0.is_handshaking() || s.0.wants_write() {
        pump(&mut c, &mut s.timed(&mut in_server));
        pump(&mut s.timed(&mut in_server), &mut c);
    }
    let resumed = matches!(c.0.handshake_kind(), Some(rustls::HandshakeKind::Resumed));
    (in_server, resumed)
}

mod rustls_io {
    use std::time::{Duration, Instant};

    /// A connection as the pump sees it.
    pub trait Side {
        fn wants_write(&self) -> bool;
        fn write_tls(&mut self, out: &mut Vec<u8>) -> std::io::Result<usize>;
        fn read_tls(&mut self, rd: &mut &[u8]) -> std::io::Result<usize>;
        fn process(&mut self) -> Result<(), rustls::Error>;
    }
    pub struct Client(pub rustls::ClientConnection);
    pub struct Server(pub rustls::ServerConnection);
    /// The server, with the time its calls take added up.
    pub struct Timed<'a>(&'a mut Server, &'a mut Duration);
    impl Server {
        pub fn timed<'a>(&'a mut self, total: &'a mut Duration) -> Timed<'a> {
            Timed(self, total)
        }
    }
    impl Side for Client {
        fn wants_write(&self) -> bool {
            self.0.wants_write()
        }
        fn write_tls(&mut self, out: &mut Vec<u8>) -> std::io::Result<usize> {
            self.0.write_tls(out)
        }
        fn read_tls(&mut self, rd: &mut &[u8]) -> std::io::Result<usize> {
            self.0.read_tls(rd)
        }
        fn process(&mut self) -> Result<(), rustls::Error> {
            self.0.process_new_packets().map(|_| ())
        }
    }
    impl Side for Timed<'_> {
        fn wants_write(&self) -> bool {
            self.0 .0.wants_write()
        }
        fn write_tls(&mut self, out: &mut Vec<u8>) -> std::io::Result<usize> {
            let t = Instant::now();
            let r = self.0 .0.write_tls(out);
            *self.1 += t.elapsed();
            r
        }
        fn read_tls(&mut self, rd: &mut &[u8]) -> std::io::Result<usize> {
            let t = Instant::now();
            let r = self.0 .0.read_tls(rd);
            *self.1 += t.elapsed();
            r
        }
        fn process(&mut self) -> Result<(), rustls::Error> {
            let t = Instant::now();
            let r = self.0 .0.process_new_packets().map(|_| ());
            *self.1 += t.elapsed();
            r
        }
    }
}

fn bench(c: &mut Criterion) {
    let (server, roots, _dir) = configs();
    let mut g = c.benchmark_group("tls_handshake");
    g.sample_size(30).measurement_time(Duration::from_secs(4));
    for (name, tls12, resume) in [
        ("tls13_full", false, false),
        ("tls13_resumed", false, true),
        ("tls12_full", true, false),
        ("tls12_resumed", true, true),
    ] {
        let client = client(&roots, tls12, resume);
        // The first handshake fills the client's ticket cache; the check that the resumed
        // variants do resume (and the full ones do not) is part of the bench's setup.
        handshake(&server, &client);
        let (_, resumed) = handshake(&server, &client);
        assert_eq!(resumed, resume, "{name}: resumed {resumed}");
        // Both ends of a whole handshake.
        g.bench_function(format!("{name}_both"), |b| {
            b.iter(|| handshake(&server, &client))
        });
        // The server's calls alone (its share of the above).
        g.bench_function(format!("{name}_server"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| handshake(&server, &client).0).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
