#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, HandshakeKind, ProtocolVersion};
use rustls::{RootCertStore, ServerConnection};

use super::*;

/// A valid configuration with its data folder in `dir`, and optional operator files.
fn config(dir: &Path, files: Option<(&Path, &Path)>) -> Config {
    let tls = match files {
        Some((cert, key)) => format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        None => String::new(),
    };
    let text = format!(
        "[server]\nhostname = \"mail.example.com\"\ndata_dir = \"{}\"\n{tls}\
         [domains]\nlocal = [\"example.com\"]\n\
         [[listener]]\nprotocol = \"imap\"\naddress = \"127.0.0.1:1143\"\ntls = \"starttls\"\n",
        dir.join("data").display()
    );
    Config::parse(&text, &dir.join("ringpost.toml")).unwrap()
}

/// Write a freshly generated pair as `name.crt` / `name.key` into `dir`.
fn operator_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let generated = generate("mail.example.com").unwrap();
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
    (cert, key)
}

fn client_config(
    cert_pem: &Path,
    version: &'static rustls::SupportedProtocolVersion,
) -> Arc<ClientConfig> {
    client_config_with(cert_pem, version, rustls::crypto::ring::default_provider())
}

/// [`client_config`] offering what `provider` has (its cipher suites, in its order).
fn client_config_with(
    cert_pem: &Path,
    version: &'static rustls::SupportedProtocolVersion,
    provider: rustls::crypto::CryptoProvider,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_pem).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Move every pending TLS record from `from` to `to` and let `to` process them.
fn transfer(from: &mut Connection, to: &mut Connection) -> Result<usize, rustls::Error> {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let len = buf.len();
    let mut slice = buf.as_slice();
    while !slice.is_empty() {
        to.read_tls(&mut slice).unwrap();
        to.process_new_packets()?;
    }
    Ok(len)
}

/// Run a handshake in memory until both sides are done (or one fails), then deliver what the
/// server sends after it (TLS 1.3 session tickets).
fn handshake(
    server_config: Arc<ServerConfig>,
    client_config: Arc<ClientConfig>,
    name: &str,
) -> Result<(Connection, Connection), rustls::Error> {
    let name = ServerName::try_from(name.to_string()).unwrap();
    let mut client = Connection::Client(ClientConnection::new(client_config, name).unwrap());
    let mut server = Connection::Server(ServerConnection::new(server_config).unwrap());
    for _ in 0..10 {
        if !client.is_handshaking() && !server.is_handshaking() {
            break;
        }
        transfer(&mut client, &mut server)?;
        transfer(&mut server, &mut client)?;
    }
    assert!(!client.is_handshaking() && !server.is_handshaking());
    transfer(&mut server, &mut client)?;
    Ok((client, server))
}

/// Send one line each way and check it arrives unchanged.
fn exchange(client: &mut Connection, server: &mut Connection) {
    client.writer().write_all(b"a1 NOOP\r\n").unwrap();
    transfer(client, server).unwrap();
    let mut got = [0u8; 9];
    server.reader().read_exact(&mut got).unwrap();
    assert_eq!(&got, b"a1 NOOP\r\n");
    server.writer().write_all(b"a1 OK\r\n").unwrap();
    transfer(server, client).unwrap();
    let mut got = [0u8; 7];
    client.reader().read_exact(&mut got).unwrap();
    assert_eq!(&got, b"a1 OK\r\n");
}

#[test]
fn self_signed_pair_is_generated_once_then_reused() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), None);
    let (cert, key) = self_signed_paths(&config.data_dir);
    assert_eq!(cert, dir.path().join("data/tls/cert.pem"));
    assert_eq!(key, dir.path().join("data/tls/key.pem"));

    server_config(&config).unwrap();
    let cert_pem = std::fs::read_to_string(&cert).unwrap();
    let key_pem = std::fs::read_to_string(&key).unwrap();
    assert!(
        cert_pem.starts_with("-----BEGIN CERTIFICATE-----\n"),
        "{cert_pem}"
    );
    assert!(
        key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"),
        "{key_pem}"
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&key), mode(&cert)), (0o600, 0o644));

    server_config(&config).unwrap();
    assert_eq!(std::fs::read_to_string(&cert).unwrap(), cert_pem);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), key_pem);
}

#[test]
fn a_missing_certificate_is_regenerated_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), None);
    let (cert, key) = self_signed_paths(&config.data_dir);
    server_config(&config).unwrap();
    let old_key = std::fs::read(&key).unwrap();
    std::fs::remove_file(&cert).unwrap();
    server_config(&config).unwrap();
    assert_ne!(std::fs::read(&key).unwrap(), old_key);
    // And the new pair matches (server_config checked it), so the handshake works.
    let client = client_config(&cert, &rustls::version::TLS13);
    handshake(server_config(&config).unwrap(), client, "localhost").unwrap();
}

#[test]
fn generated_certificate_names_the_host_localhost_and_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), None);
    let server = server_config(&config).unwrap();
    let (cert, _) = self_signed_paths(&config.data_dir);
    for name in ["mail.example.com", "localhost", "127.0.0.1", "::1"] {
        let client = client_config(&cert, &rustls::version::TLS13);
        handshake(Arc::clone(&server), client, name).unwrap();
    }
    let client = client_config(&cert, &rustls::version::TLS13);
    match handshake(server, client, "other.example.com") {
        Err(rustls::Error::InvalidCertificate(_)) => {}
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("accepted a certificate for the wrong name"),
    }
}

#[test]
fn handshake_completes_with_tls13_and_resumes_with_a_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), None);
    let server = server_config(&config).unwrap();
    let (cert, _) = self_signed_paths(&config.data_dir);
    let client = client_config(&cert, &rustls::version::TLS13);

    let (mut c, mut s) = handshake(Arc::clone(&server), Arc::clone(&client), "localhost").unwrap();
    assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(s.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(c.handshake_kind(), Some(HandshakeKind::Full));
    // The server's order, not the client's (which puts AES-256 first).
    assert_eq!(
        s.negotiated_cipher_suite().map(|s| s.suite()),
        Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
    );
    let presented = c.peer_certificates().unwrap().to_vec();
    let on_disk: Vec<_> = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(presented, on_disk);
    exchange(&mut c, &mut s);

    let (c, _s) = handshake(server, client, "localhost").unwrap();
    assert_eq!(c.handshake_kind(), Some(HandshakeKind::Resumed));
}

#[test]
fn a_client_offering_only_chacha20_gets_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), None);
    let server = server_config(&config).unwrap();
    let (cert, _) = self_signed_paths(&config.data_dir);
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .retain(|s| s.suite() == rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
    let client = client_config_with(&cert, &rustls::version::TLS13, provider);
    let (mut c, mut s) = handshake(server, client, "localhost").unwrap();
    assert_eq!(
        s.negotiated_cipher_suite().map(|s| s.suite()),
        Some(rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
    exchange(&mut c, &mut s);
}

#[test]
fn handshake_completes_with_tls12_and_resumes_with_a_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), None);
    let server = server_config(&config).unwrap();
    let (cert, _) = self_signed_paths(&config.data_dir);
    let client = client_config(&cert, &rustls::version::TLS12);

    let (mut c, mut s) = handshake(Arc::clone(&server), Arc::clone(&client), "localhost").unwrap();
    assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    assert_eq!(s.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    assert_eq!(
        s.negotiated_cipher_suite().map(|s| s.suite()),
        Some(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
    );
    exchange(&mut c, &mut s);

    let (c, _s) = handshake(server, client, "localhost").unwrap();
    assert_eq!(c.handshake_kind(), Some(HandshakeKind::Resumed));
}

#[test]
fn operator_files_are_loaded_and_nothing_is_generated() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = operator_pair(dir.path(), "mail");
    let config = config(dir.path(), Some((&cert, &key)));
    let server = server_config(&config).unwrap();
    assert!(!dir.path().join("data").exists());
    let (mut c, mut s) = handshake(
        server,
        client_config(&cert, &rustls::version::TLS13),
        "mail.example.com",
    )
    .unwrap();
    exchange(&mut c, &mut s);
}

#[test]
fn file_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = operator_pair(dir.path(), "mail");
    let missing = dir.path().join("missing.pem");
    let err = |cert: &Path, key: &Path| {
        server_config(&config(dir.path(), Some((cert, key))))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(&missing, &key),
        format!(
            "{}: cannot read: No such file or directory (os error 2)",
            missing.display()
        )
    );
    assert_eq!(
        err(&cert, &missing),
        format!(
            "{}: cannot read: No such file or directory (os error 2)",
            missing.display()
        )
    );
    // Each file swapped for the other: no certificate, no key.
    assert_eq!(
        err(&key, &key),
        format!("{}: no certificate found in this PEM file", key.display())
    );
    assert_eq!(
        err(&cert, &cert),
        format!("{}: no private key found in this PEM file", cert.display())
    );
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(
        err(&empty, &key),
        format!("{}: no certificate found in this PEM file", empty.display())
    );
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = operator_pair(dir.path(), "one");
    let (_, other_key) = operator_pair(dir.path(), "two");
    match server_config(&config(dir.path(), Some((&cert, &other_key)))) {
        Err(e @ TlsError::KeyMismatch { .. }) => assert_eq!(
            e.to_string(),
            format!(
                "{}: the private key does not match the certificate in {}",
                other_key.display(),
                cert.display()
            )
        ),
        other => panic!("{other:?}"),
    }
}

/// A client whose clock reads `now` plus `days`.
fn client_config_at(cert_pem: &Path, days: u64) -> Arc<ClientConfig> {
    #[derive(Debug)]
    struct Later(u64);
    impl rustls::time_provider::TimeProvider for Later {
        fn current_time(&self) -> Option<rustls::pki_types::UnixTime> {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            Some(rustls::pki_types::UnixTime::since_unix_epoch(
                now + std::time::Duration::from_secs(self.0 * 86_400),
            ))
        }
    }
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_pem).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_details(provider, Arc::new(Later(days)))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[test]
fn generated_certificate_is_valid_for_825_days_and_renewed_before_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), None);
    let server = server_config(&config).unwrap();
    let (cert, _) = self_signed_paths(&config.data_dir);
    // Valid today and in 820 days, expired after 825 (Apple's limit for server certificates).
    for days in [0, 820] {
        handshake(
            Arc::clone(&server),
            client_config_at(&cert, days),
            "localhost",
        )
        .unwrap();
    }
    match handshake(server, client_config_at(&cert, 826), "localhost") {
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. },
        )) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
    // A generated pair older than RENEW_AFTER_DAYS is replaced at the next start.
    let pem = std::fs::read(&cert).unwrap();
    server_config(&config).unwrap();
    assert_eq!(std::fs::read(&cert).unwrap(), pem, "renewed too early");
    let old = std::time::SystemTime::now()
        - std::time::Duration::from_secs((RENEW_AFTER_DAYS + 1) * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&cert)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let server = server_config(&config).unwrap();
    assert_ne!(std::fs::read(&cert).unwrap(), pem, "not renewed");
    handshake(server, client_config_at(&cert, 0), "localhost").unwrap();
}
