//! TLS configuration: the rustls `ServerConfig` every listener shares, from the operator's PEM
//! files or from a self-signed pair generated into the data folder on first start.
//!
//! TLS 1.2 and 1.3 only, no client certificates, and resumption through stateless session
//! tickets rather than rustls' process-wide session cache (a mutex every shard would contend
//! on). This module reads and writes key files and never touches sockets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use crate::accounts::file::{write_atomically, FileLock};
use crate::config::{Config, TlsSource};

/// What went wrong setting up TLS; file errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{key}: the private key does not match the certificate in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("{cert}, {key}: unusable certificate or key: {source}")]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("TLS setup: {0}")]
    Setup(rustls::Error),
    #[error("generating a self-signed certificate for {hostname}: {source}")]
    Generate {
        hostname: String,
        source: rcgen::Error,
    },
}

/// The server configuration for `config.tls`, generating the self-signed pair if it is needed
/// and missing.
pub fn server_config(config: &Config) -> Result<Arc<ServerConfig>, TlsError> {
    let (cert_path, key_path) = match &config.tls {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
        TlsSource::SelfSigned => ensure_self_signed(&config.data_dir, &config.hostname)?,
    };
    let certs = load_certs(&cert_path)?;
    let key = load_key(&key_path)?;
    build(certs, key, &cert_path, &key_path)
}

/// `config` announcing `protocols` by ALPN (RFC 7301); a client offering only others is
/// refused with `no_application_protocol`, one offering none is served.
pub fn with_alpn(config: &Arc<ServerConfig>, protocols: &[&[u8]]) -> Arc<ServerConfig> {
    let mut config = ServerConfig::clone(config);
    config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Where the generated self-signed certificate and key live: `data_dir/tls/{cert,key}.pem`.
/// Clients can trust the certificate directly (`curl --cacert data/tls/cert.pem`).
pub fn self_signed_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

fn build(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: &Path,
    key_path: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(server_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Setup)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::KeyMismatch {
                    cert: cert_path.to_path_buf(),
                    key: key_path.to_path_buf(),
                }
            }
            source => TlsError::Unusable {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
                source,
            },
        })?;
    // Our order of cipher suites, not the client's (see `server_provider`).
    config.ignore_client_order = true;
    // PLATFORM.md item 13: tickets carry the session state, so no shared cache is needed.
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::Setup)?;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(Arc::new(config))
}

/// ring's suites, AES-128-GCM first: rustls clients (and most others) put AES-256-GCM with
/// SHA-384 first, whose TLS 1.3 key schedule runs SHA-512 in software (no CPU extension does
/// it), 7 % of a full handshake's server CPU here; SHA-256 runs on the SHA extensions, and
/// AES-128 takes 10 rounds per block to AES-256's 14. Both are the suites TLS 1.3 names as
/// mandatory or recommended; ChaCha20-Poly1305 stays for clients without AES, after them.
fn server_provider() -> rustls::crypto::CryptoProvider {
    use rustls::CipherSuite;
    let mut provider = rustls::crypto::ring::default_provider();
    let rank = |s: CipherSuite| match s {
        CipherSuite::TLS13_AES_128_GCM_SHA256 => 0,
        CipherSuite::TLS13_AES_256_GCM_SHA384 => 1,
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => 2,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 3,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => 4,
        _ => 5,
    };
    // A stable sort: suites of one rank keep ring's order.
    provider.cipher_suites.sort_by_key(|s| rank(s.suite()));
    provider
}

/// The two sides of the cluster's internal link (issue 19): every host is both a server
/// (other hosts hand it sessions) and a client (it hands sessions to others), each proving
/// itself with a certificate issued by the cluster's own CA, `ca`. TLS 1.3 only; a peer
/// without a certificate from that CA is refused during the handshake. A host is named by its
/// node name, which its certificate must carry as a DNS name.
pub fn cluster_configs(
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> Result<(Arc<ServerConfig>, Arc<rustls::ClientConfig>), TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for ca_cert in load_certs(ca)? {
        roots.add(ca_cert).map_err(|e| TlsError::File {
            path: ca.to_path_buf(),
            reason: format!("not a usable CA certificate: {e}"),
        })?;
    }
    let roots = Arc::new(roots);
    let certs = load_certs(cert)?;
    let private = load_key(key)?;
    let unusable = |source: rustls::Error| match source {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsError::KeyMismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            }
        }
        source => TlsError::Unusable {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            source,
        },
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        roots.clone(),
        provider.clone(),
    )
    .build()
    .map_err(|e| TlsError::File {
        path: ca.to_path_buf(),
        reason: format!("cannot verify clients with it: {e}"),
    })?;
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::Setup)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs.clone(), private.clone_key())
        .map_err(unusable)?;
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::Setup)?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, private)
        .map_err(unusable)?;
    Ok((Arc::new(server), Arc::new(client)))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_error = |reason: String| TlsError::File {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(pem_reason(e, "certificate")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(pem_reason(e, "certificate")))?;
    if certs.is_empty() {
        return Err(file_error(pem_reason(
            pem::Error::NoItemsFound,
            "certificate",
        )));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        path: path.to_path_buf(),
        reason: pem_reason(e, "private key"),
    })
}

/// Say what is wrong with a PEM file that should hold a `what`.
fn pem_reason(error: pem::Error, what: &str) -> String {
    match error {
        pem::Error::Io(e) => format!("cannot read: {e}"),
        pem::Error::NoItemsFound => format!("no {what} found in this PEM file"),
        other => format!("not a valid PEM file: {other}"),
    }
}

/// Make sure the self-signed pair exists, generating it if not; reuse it if it does.
fn ensure_self_signed(data_dir: &Path, hostname: &str) -> Result<(PathBuf, PathBuf), TlsError> {
    let (cert, key) = self_signed_paths(data_dir);
    // The key is written before the certificate, so a certificate implies a complete pair.
    if cert.exists() && key.exists() && !due_for_renewal(&cert) {
        return Ok((cert, key));
    }
    let dir = data_dir.join("tls");
    let io_error = |path: &Path, e: std::io::Error| TlsError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
    let lock_path = dir.join("generate.lock");
    let _lock = FileLock::exclusive(&lock_path).map_err(|e| io_error(&lock_path, e))?;
    // Another process may have generated the pair while we waited for the lock.
    if cert.exists() && key.exists() && !due_for_renewal(&cert) {
        return Ok((cert, key));
    }
    let generated = generate(hostname).map_err(|source| TlsError::Generate {
        hostname: hostname.to_string(),
        source,
    })?;
    write_atomically(&key, generated.key_pair.serialize_pem().as_bytes(), 0o600)
        .map_err(|e| io_error(&key, e))?;
    write_atomically(&cert, generated.cert.pem().as_bytes(), 0o644)
        .map_err(|e| io_error(&cert, e))?;
    tracing::info!(
        "generated a self-signed certificate for {hostname} in {}",
        cert.display()
    );
    Ok((cert, key))
}

/// Days a generated certificate is valid: Apple's limit for TLS server certificates (825
/// days); clients refuse longer ones even when the user trusts the certificate itself.
pub const VALIDITY_DAYS: i64 = 825;

/// A generated certificate is replaced this many days after it was written (its file's
/// mtime), well before it expires.
pub const RENEW_AFTER_DAYS: u64 = 800;

fn due_for_renewal(cert: &Path) -> bool {
    let age = std::fs::metadata(cert)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok());
    age.is_some_and(|a| a.as_secs() > RENEW_AFTER_DAYS * 86_400)
}

/// `secs` after the Unix epoch as the certificate's day (UTC midnight).
fn cert_day(secs: i64) -> (i32, u8, u8) {
    let c = crate::date::Civil::from_unix(secs);
    let year = i32::try_from(c.year.clamp(1970, 9999)).unwrap_or(9999);
    (year, c.month as u8, c.day as u8)
}

/// A self-signed certificate for `hostname`, `localhost` and the loopback addresses, valid
/// from yesterday (clock skew) for [`VALIDITY_DAYS`].
fn generate(hostname: &str) -> Result<rcgen::CertifiedKey, rcgen::Error> {
    let mut names = vec![hostname.to_string()];
    for extra in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|n| n == extra) {
            names.push(extra.to_string());
        }
    }
    let mut params = rcgen::CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let now = crate::store::now();
    let (y, m, d) = cert_day(now - 86_400);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = cert_day(now + (VALIDITY_DAYS - 1) * 86_400);
    params.not_after = rcgen::date_time_ymd(y, m, d);
    let key_pair = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key_pair)?;
    Ok(rcgen::CertifiedKey { cert, key_pair })
}

/// Whether the configured certificate covers `hostname` (its subject alternative names,
/// wildcards included): `None` when it does, else why not. Only for `[tls]` files; a
/// generated certificate is made for the hostname.
pub fn hostname_problem(config: &Config) -> Option<String> {
    let TlsSource::Files { cert, .. } = &config.tls else {
        return None;
    };
    let certs = match load_certs(cert) {
        Ok(certs) => certs,
        Err(e) => return Some(e.to_string()),
    };
    let first = certs.first()?;
    let name = match rustls::pki_types::ServerName::try_from(config.hostname.as_str()) {
        Ok(name) => name,
        Err(e) => return Some(format!("{:?} is not a host name: {e}", config.hostname)),
    };
    let end_entity = match webpki::EndEntityCert::try_from(first) {
        Ok(ee) => ee,
        Err(e) => return Some(format!("{}: {e}", cert.display())),
    };
    match end_entity.verify_is_valid_for_subject_name(&name) {
        Ok(()) => None,
        Err(_) => Some(format!(
            "{} does not cover the hostname {:?}: clients checking it will refuse the connection",
            cert.display(),
            config.hostname
        )),
    }
}

#[cfg(test)]
mod tests;

/// The cluster CA's subject. Every cluster's CA has this name; they differ by key. A node
/// certificate is issued by rebuilding the CA's parameters around its key, so the name must
/// never change.
const CLUSTER_CA_NAME: &str = "ringpost cluster CA";

/// How long cluster certificates are valid: ten years (they never leave the cluster; a
/// node's is replaced by issuing a new one).
const CLUSTER_VALIDITY_DAYS: i64 = 3650;

fn cluster_ca_params() -> Result<rcgen::CertificateParams, rcgen::Error> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, CLUSTER_CA_NAME);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    // Fixed dates, so the parameters rebuilt to issue a node certificate are the CA's own.
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2125, 1, 1);
    Ok(params)
}

/// A new cluster CA: its certificate and private key, PEM (`ringpost cluster ca`).
pub fn new_cluster_ca() -> Result<(String, String), rcgen::Error> {
    let key = rcgen::KeyPair::generate()?;
    let cert = cluster_ca_params()?.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A certificate for the cluster node `node`, issued by the CA whose private key is
/// `ca_key_pem`: the node name as its DNS name (hosts address each other by node name in
/// TLS), usable as server and as client. Certificate and key, PEM (`ringpost cluster cert`).
pub fn new_node_cert(ca_key_pem: &str, node: &str) -> Result<(String, String), rcgen::Error> {
    let ca_key = rcgen::KeyPair::from_pem(ca_key_pem)?;
    let ca = cluster_ca_params()?.self_signed(&ca_key)?;
    let mut params = rcgen::CertificateParams::new(vec![node.to_string()])?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, node);
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = crate::store::now();
    let (y, m, d) = cert_day(now - 86_400);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = cert_day(now + CLUSTER_VALIDITY_DAYS * 86_400);
    params.not_after = rcgen::date_time_ymd(y, m, d);
    let key = rcgen::KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca, &ca_key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod cluster_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn node_certificates_from_one_ca_verify_each_other_and_refuse_another_cas() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, ca_key) = new_cluster_ca().unwrap();
        let (other_ca, other_key) = new_cluster_ca().unwrap();
        let ca_path = write(dir.path(), "ca.pem", &ca);
        let other_path = write(dir.path(), "other.pem", &other_ca);
        for (node, key) in [("mx1", &ca_key), ("mx2", &ca_key), ("rogue", &other_key)] {
            let (cert, k) = new_node_cert(key, node).unwrap();
            write(dir.path(), &format!("{node}.pem"), &cert);
            write(dir.path(), &format!("{node}.key"), &k);
        }
        let configs = |ca: &Path, node: &str| {
            cluster_configs(
                ca,
                &dir.path().join(format!("{node}.pem")),
                &dir.path().join(format!("{node}.key")),
            )
            .unwrap()
        };
        let (mx1_server, _) = configs(&ca_path, "mx1");
        let (_, mx2_client) = configs(&ca_path, "mx2");
        let (_, rogue_client) = configs(&other_path, "rogue");
        assert!(handshake(&mx1_server, &mx2_client, "mx1").is_ok());
        // A client whose certificate another CA issued is refused by the server.
        assert!(handshake(&mx1_server, &rogue_client, "mx1").is_err());
        // A server must carry the name it is reached by.
        assert!(handshake(&mx1_server, &mx2_client, "mx3").is_err());
    }

    /// Run a TLS handshake between the two configurations in memory.
    fn handshake(
        server: &Arc<ServerConfig>,
        client: &Arc<rustls::ClientConfig>,
        name: &str,
    ) -> Result<(), rustls::Error> {
        let mut s = rustls::ServerConnection::new(server.clone())?;
        let name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
        let mut c = rustls::ClientConnection::new(client.clone(), name)?;
        for _ in 0..10 {
            let mut buf = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut buf).unwrap();
            }
            let mut slice = &buf[..];
            while !slice.is_empty() {
                s.read_tls(&mut slice).unwrap();
            }
            s.process_new_packets()?;
            let mut buf = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut buf).unwrap();
            }
            let mut slice = &buf[..];
            while !slice.is_empty() {
                c.read_tls(&mut slice).unwrap();
            }
            c.process_new_packets()?;
            if !c.is_handshaking() && !s.is_handshaking() {
                return Ok(());
            }
        }
        Err(rustls::Error::General("handshake did not finish".into()))
    }
}
