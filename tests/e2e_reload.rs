//! SIGHUP reloads the configuration: certificates (new handshakes only), limits; a broken
//! file is refused with the error logged and the running configuration kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{Options, Server};

/// A certificate and key for `localhost`, in PEM, told apart by their organization.
fn certificate(organization: &str) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, organization);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn sighup_reloads_certificates_and_limits_and_keeps_live_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (first_cert, first_key) = certificate("first");
    let (second_cert, second_key) = certificate("second");
    std::fs::write(path("cert.pem"), &first_cert).unwrap();
    std::fs::write(path("key.pem"), &first_key).unwrap();
    std::fs::write(path("new-cert.pem"), &second_cert).unwrap();
    std::fs::write(path("new-key.pem"), &second_key).unwrap();
    std::fs::write(path("bundle.pem"), format!("{first_cert}{second_cert}")).unwrap();

    let server = Server::start(Options {
        extra: format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\n[auth]\nfailure_delay_ms = 50\n",
            path("cert.pem"),
            path("key.pem")
        ),
        ..Options::default()
    });
    let pid = server.child.as_ref().unwrap().id().to_string();
    let out = server.python_with_ca(
        "reload.py",
        &path("bundle.pem"),
        &[
            &pid,
            server.config.to_str().unwrap(),
            &path("cert.pem"),
            &path("key.pem"),
            &path("new-cert.pem"),
            &path("new-key.pem"),
            server.stderr.to_str().unwrap(),
        ],
    );
    assert!(out.contains("reload passed"), "{out}");
    let log = server.log();
    assert!(log.contains("reload refused"), "{log}");
}
