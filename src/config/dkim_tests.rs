#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use base64::Engine as _;

use super::*;
use crate::config::{Config, ConfigError};

/// One RSA-2048 key for every test of the crate (making one takes a while): its PKCS#8 PEM
/// and the key.
pub(crate) fn rsa_2048() -> &'static (String, DkimPrivateKey) {
    static KEY: OnceLock<(String, DkimPrivateKey)> = OnceLock::new();
    KEY.get_or_init(|| DkimPrivateKey::generate(DkimAlgorithm::Rsa { bits: 2048 }).unwrap())
}

/// RFC 8032 §7.1, test 1: an Ed25519 secret key and its public key.
const RFC8032_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The RFC 8032 key as `openssl genpkey -algorithm ed25519` writes keys: PKCS#8 v1, the
/// seed alone.
fn openssl_ed25519_pem() -> String {
    let mut der = ED25519_PKCS8_V1_PREFIX.to_vec();
    der.extend(hex(RFC8032_SECRET));
    pem_of("PRIVATE KEY", &der)
}

fn p_of(record: &str) -> Vec<u8> {
    let p = record.rsplit_once("p=").unwrap().1;
    base64::engine::general_purpose::STANDARD.decode(p).unwrap()
}

#[test]
fn ed25519_keys_load_from_ring_and_from_openssl() {
    let (pem, key) = DkimPrivateKey::generate(DkimAlgorithm::Ed25519).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    assert_eq!(key.algorithm(), DkimAlgorithm::Ed25519);
    let record = key.dns_record();
    assert!(record.starts_with("v=DKIM1; k=ed25519; p="), "{record}");
    // RFC 8463 §4.2: the bare 32-byte public key.
    assert_eq!(p_of(&record).len(), 32);
    assert_eq!(DkimPrivateKey::from_pem(pem.as_bytes()).unwrap(), key);
    // Written as PKCS#8 v1, which OpenSSL 3.0 reads (it cannot read ring's v2).
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).unwrap();
    assert_eq!(der.secret_pkcs8_der().len(), 48);
    assert!(der.secret_pkcs8_der().starts_with(ED25519_PKCS8_V1_PREFIX));
    // A v2 key (ring's, with its public half) is read too.
    let v2 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let ring_key = DkimPrivateKey::from_pem(pem_of("PRIVATE KEY", v2.as_ref()).as_bytes()).unwrap();
    assert_eq!(ring_key.algorithm(), DkimAlgorithm::Ed25519);

    let openssl = DkimPrivateKey::from_pem(openssl_ed25519_pem().as_bytes()).unwrap();
    assert_eq!(openssl.algorithm(), DkimAlgorithm::Ed25519);
    assert_eq!(openssl.public_key(), hex(RFC8032_PUBLIC));
    // Never the private half in a log.
    assert_eq!(
        format!("{openssl:?}"),
        "DkimPrivateKey { algorithm: Ed25519, .. }"
    );
}

#[test]
fn rsa_keys_load_in_pkcs8_and_pkcs1() {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
    let (pem, key) = rsa_2048();
    assert_eq!(key.algorithm(), DkimAlgorithm::Rsa { bits: 2048 });
    let record = key.dns_record();
    assert!(record.starts_with("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"));
    // `p=` is the SubjectPublicKeyInfo of the key.
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(pem).unwrap();
    let public = rsa::RsaPublicKey::from_public_key_der(&p_of(&record)).unwrap();
    assert_eq!(public, private.to_public_key());
    // The same key as `openssl genrsa` (before 3.0) writes it: PKCS#1.
    let pkcs1 = private.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert_eq!(DkimPrivateKey::from_pem(pkcs1.as_bytes()).unwrap(), *key);
}

#[test]
fn unusable_keys_are_refused_saying_why() {
    let refused = |pem: &str| match DkimPrivateKey::from_pem(pem.as_bytes()) {
        Ok(k) => panic!("accepted {k:?}"),
        Err(e) => e,
    };
    assert!(refused("not a key").contains("no private key"));
    // A certificate is no key.
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    assert!(refused(&cert.cert.pem()).contains("no private key"));
    // ECDSA P-256 (PKCS#8) and SEC1: no DKIM algorithm.
    let ec = cert.key_pair.serialize_pem();
    assert!(refused(&ec).contains("neither Ed25519 nor a usable RSA key"));
    // (The label says SEC1; the key is not even read.)
    let sec1 = pem_of("EC PRIVATE KEY", &cert.key_pair.serialize_der());
    assert!(refused(&sec1).contains("an EC key"));
    // RSA below 2048 bits (ring signs with nothing smaller).
    use rsa::pkcs8::EncodePrivateKey as _;
    let small = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024)
        .unwrap()
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap();
    assert!(refused(&small).contains("RSA"), "{}", refused(&small));
    assert!(DkimPrivateKey::generate(DkimAlgorithm::Rsa { bits: 1024 }).is_err());
}

const BASE: &str = r#"
[server]
hostname = "mail.example.com"
[domains]
local = ["example.com"]
[[listener]]
protocol = "submission"
address = "127.0.0.1:1587"
tls = "starttls"
"#;

/// A config folder holding the RSA and Ed25519 keys (`rsa.pem`, `ed.pem`), and a parser of
/// `BASE` plus `extra` as a file in it.
fn folder() -> (
    tempfile::TempDir,
    impl Fn(&str) -> Result<Config, ConfigError>,
) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rsa.pem"), &rsa_2048().0).unwrap();
    std::fs::write(dir.path().join("ed.pem"), openssl_ed25519_pem()).unwrap();
    std::fs::write(dir.path().join("junk.pem"), "junk").unwrap();
    let path = dir.path().join("ringpost.toml");
    let parse = move |extra: &str| Config::parse(&format!("{BASE}{extra}"), &path);
    (dir, parse)
}

fn refused(result: Result<Config, ConfigError>) -> (String, String) {
    match result {
        Err(ConfigError::Invalid { key, message, .. }) => (key, message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn dkim_tables_load_both_algorithms_with_defaults() {
    let (dir, parse) = folder();
    assert!(parse("").unwrap().dkim.is_empty());
    let c = parse(
        r#"
[[dkim]]
domain = "Example.COM"
selector = "ed2026"
key = "ed.pem"
[[dkim]]
domain = "example.com"
selector = "rsa2026"
key = "rsa.pem"
headers = ["From", "Subject"]
canonicalization = "simple/relaxed"
"#,
    )
    .unwrap();
    assert_eq!(c.dkim.len(), 2);
    let (ed, rsa) = (&c.dkim[0], &c.dkim[1]);
    assert_eq!(ed.domain, "example.com");
    assert_eq!(ed.selector, "ed2026");
    // Relative to the configuration file's folder.
    assert_eq!(ed.key_path, dir.path().join("ed.pem"));
    assert_eq!(ed.key.algorithm(), DkimAlgorithm::Ed25519);
    assert_eq!(ed.headers, DEFAULT_HEADERS);
    assert_eq!(ed.header_canonicalization, Canonicalization::Relaxed);
    assert_eq!(ed.body_canonicalization, Canonicalization::Relaxed);
    assert_eq!(rsa.key.algorithm(), DkimAlgorithm::Rsa { bits: 2048 });
    assert_eq!(rsa.headers, ["From", "Subject"]);
    assert_eq!(rsa.header_canonicalization, Canonicalization::Simple);
    assert_eq!(rsa.body_canonicalization, Canonicalization::Relaxed);
    // `c=relaxed` alone means a simple body (RFC 6376 §3.5).
    let c = parse(
        "[[dkim]]\ndomain = \"example.com\"\nselector = \"s\"\nkey = \"ed.pem\"\ncanonicalization = \"relaxed\"\n",
    )
    .unwrap();
    assert_eq!(
        (
            c.dkim[0].header_canonicalization,
            c.dkim[0].body_canonicalization
        ),
        (Canonicalization::Relaxed, Canonicalization::Simple)
    );
}

#[test]
fn a_bad_dkim_table_refuses_the_config_naming_it() {
    let (dir, parse) = folder();
    let table = |domain: &str, selector: &str, key: &str, more: &str| {
        format!(
            "[[dkim]]\ndomain = \"{domain}\"\nselector = \"{selector}\"\nkey = \"{key}\"\n{more}"
        )
    };
    let (key, message) = refused(parse(&table("example.com", "s", "missing.pem", "")));
    assert_eq!(key, "dkim[0].key");
    assert!(
        message.contains(&dir.path().join("missing.pem").display().to_string()),
        "{message}"
    );
    let (key, message) = refused(parse(&format!(
        "{}{}",
        table("example.com", "a", "ed.pem", ""),
        table("example.com", "b", "junk.pem", "")
    )));
    assert_eq!(key, "dkim[1].key");
    assert!(
        message.contains("junk.pem") && message.contains("no private key"),
        "{message}"
    );
    for (text, bad) in [
        (table("exa mple.com", "s", "ed.pem", ""), "dkim[0].domain"),
        (table("", "s", "ed.pem", ""), "dkim[0].domain"),
        (
            table("example.com", "s;t", "ed.pem", ""),
            "dkim[0].selector",
        ),
        (
            table("example.com", "s", "ed.pem", "headers = [\"Subject\"]\n"),
            "dkim[0].headers",
        ),
        (
            table(
                "example.com",
                "s",
                "ed.pem",
                "headers = [\"Sub:ject\", \"From\"]\n",
            ),
            "dkim[0].headers",
        ),
        (
            table(
                "example.com",
                "s",
                "ed.pem",
                "canonicalization = \"loose/simple\"\n",
            ),
            "dkim[0].canonicalization",
        ),
        (
            format!(
                "{}{}",
                table("example.com", "s", "ed.pem", ""),
                table("EXAMPLE.com", "S", "rsa.pem", "")
            ),
            "dkim[1].selector",
        ),
    ] {
        assert_eq!(refused(parse(&text)).0, bad, "{text}");
    }
    // An unknown key in the table is a parse error.
    assert!(matches!(
        parse(&table(
            "example.com",
            "s",
            "ed.pem",
            "algorithm = \"rsa\"\n"
        )),
        Err(ConfigError::Parse { .. })
    ));
}
