//! TLS (stand-in until the accounts branch lands).
use crate::config::Config;
use std::sync::Arc;
pub fn server_config(config: &Config) -> Result<Arc<rustls::ServerConfig>, std::io::Error> {
    let ck = rcgen::generate_simple_self_signed(vec![config.hostname.clone(), "localhost".into()])
        .map_err(std::io::Error::other)?;
    let dir = config.data_dir.join("tls");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("cert.pem"), ck.cert.pem())?;
    let cert = ck.cert.der().clone();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
    let c = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .map_err(std::io::Error::other)?
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .map_err(std::io::Error::other)?;
    Ok(Arc::new(c))
}
