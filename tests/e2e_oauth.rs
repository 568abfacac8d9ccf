//! OAuth 2.0 bearer tokens end to end (`[auth.oauth]`): tokens signed here with a generated
//! Ed25519 key (its JWKS given to the server), presented with SASL OAUTHBEARER (RFC 7628) and
//! XOAUTH2 by Python's imaplib and smtplib and a raw POP3 client, over implicit TLS. A valid
//! token logs in; an expired one, one for another audience and one signed by another key are
//! refused after RFC 7628's JSON error challenge; a server without `[auth.oauth]` does not
//! offer the mechanisms; and with it, bearer tokens are refused before TLS on every listener
//! (the TLS-before-PLAIN matrix).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair};
use support::{Options, Server, ALICE};

const ISSUER: &str = "https://id.example.test";
const AUDIENCE: &str = "ringpost-mail";

struct Issuer {
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

impl Issuer {
    fn new() -> Issuer {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .unwrap()
            .as_ref()
            .to_vec();
        let public = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .unwrap()
            .public_key()
            .as_ref()
            .to_vec();
        Issuer { pkcs8, public }
    }

    fn jwks(&self) -> String {
        self.jwks_with("k1")
    }

    fn jwks_with(&self, kid: &str) -> String {
        serde_json::json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&self.public),
        }]})
        .to_string()
    }

    fn token(&self, audience: &str, expires_in: i64) -> String {
        self.token_with("k1", audience, expires_in)
    }

    fn token_with(&self, kid: &str, audience: &str, expires_in: i64) -> String {
        ringpost::oauth::install_crypto_provider();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let claims = serde_json::json!({
            "iss": ISSUER, "aud": audience, "sub": "alice-1",
            "email": ALICE.0.to_uppercase(), "iat": now, "exp": now + expires_in,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ed_der(&self.pkcs8),
        )
        .unwrap()
    }
}

fn login(server: &Server, proto: &str, mech: &str, token: &str) -> serde_json::Value {
    serde_json::from_str(
        server
            .python("oauth.py", &["login", proto, mech, ALICE.0, token])
            .trim(),
    )
    .unwrap()
}

/// A server taking `issuer`'s tokens (its JWKS in a file under `dir`), with `auth` as the
/// rest of `[auth]`.
fn oauth_server(issuer: &Issuer, dir: &tempfile::TempDir, auth: &str) -> Server {
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, issuer.jwks()).unwrap();
    Server::start(Options {
        extra: format!(
            "[auth]\n{auth}[auth.oauth]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\n\
             jwks = \"{}\"\n",
            jwks.display()
        ),
        ..Options::default()
    })
}

#[test]
fn bearer_tokens_log_in_and_bad_ones_get_the_error_challenge() {
    let issuer = Issuer::new();
    let dir = tempfile::tempdir().unwrap();
    let server = oauth_server(
        &issuer,
        &dir,
        "failure_delay_ms = 50\nmax_failures = 10\nip_max_failures = 100\n",
    );
    let valid = issuer.token(AUDIENCE, 300);
    for proto in ["imap", "smtp", "pop3"] {
        for mech in ["OAUTHBEARER", "XOAUTH2"] {
            let r = login(&server, proto, mech, &valid);
            assert_eq!(r["result"], "ok", "{proto} {mech}: {r}");
            let caps = r["caps"].to_string();
            assert!(
                caps.contains("OAUTHBEARER") && caps.contains("XOAUTH2"),
                "{caps}"
            );
        }
    }
    let expired = issuer.token(AUDIENCE, -3600);
    let elsewhere = issuer.token("another-service", 300);
    let forged = Issuer::new().token(AUDIENCE, 300);
    for (why, token) in [
        ("expired", &expired),
        ("audience", &elsewhere),
        ("forged", &forged),
    ] {
        for proto in ["imap", "smtp", "pop3"] {
            let r = login(&server, proto, "OAUTHBEARER", token);
            assert_eq!(r["result"], "refused", "{why} {proto}: {r}");
            assert_eq!(r["error"]["status"], "invalid_token", "{why} {proto}: {r}");
        }
    }
    let log = server.log();
    assert!(log.contains("bearer token refused"), "{log}");
}

/// The TLS-before-PLAIN matrix with `[auth.oauth]` configured: bearer tokens (OAUTHBEARER,
/// XOAUTH2, with and without an initial response) are refused before TLS on every listener
/// like passwords, and offered after it.
#[test]
fn bearer_tokens_are_refused_before_tls_like_every_credential() {
    let issuer = Issuer::new();
    let dir = tempfile::tempdir().unwrap();
    let server = oauth_server(&issuer, &dir, "failure_delay_ms = 50\nmax_failures = 3\n");
    let out = server.python("auth_matrix.py", &["oauth"]);
    assert!(out.contains("auth matrix passed"), "{out}");
}

#[test]
fn without_oauth_configured_the_mechanisms_are_not_offered() {
    let server = Server::start(Options::default());
    let r = login(&server, "imap", "OAUTHBEARER", "not-a-token");
    assert_eq!(r["result"], "refused", "{r}");
    assert_eq!(
        r["caps"],
        serde_json::json!(["AUTH=PLAIN", "AUTH=LOGIN"]),
        "{r}"
    );
    assert!(r["error"].is_null(), "{r}");
}

/// `jwks_url`: the keys come from the issuer over HTTPS (a real server, the certificate
/// verified with `[outbound] ca_file`); when the issuer rotates its keys, a token signed
/// with the new key makes the server fetch them again and it logs in.
#[test]
fn keys_are_fetched_from_jwks_url_and_fetched_again_when_rotated() {
    let (old, new) = (Issuer::new(), Issuer::new());
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("c.key"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, old.jwks_with("k1")).unwrap();
    let port = support::free_ports(1)[0];
    let issuer = support::https::DocumentServer::start(
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        &cert,
        &key,
        &[("localhost/jwks.json", jwks.clone())],
    );
    let server = Server::start(Options {
        extra: format!(
            "[auth]\nfailure_delay_ms = 50\nmax_failures = 10\nip_max_failures = 100\n\
             [auth.oauth]\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\n\
             jwks_url = \"https://localhost:{port}/jwks.json\"\n\
             [outbound]\nenabled = false\nca_file = \"{}\"\n",
            cert.display()
        ),
        log: "info",
        ..Options::default()
    });
    let r = login(
        &server,
        "imap",
        "OAUTHBEARER",
        &old.token_with("k1", AUDIENCE, 300),
    );
    assert_eq!(r["result"], "ok", "{r}\n{}", server.log());
    // The issuer rotates: the new key only. Fetches are at least ten seconds apart.
    std::fs::write(&jwks, new.jwks_with("k2")).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(11));
    let r = login(
        &server,
        "imap",
        "OAUTHBEARER",
        &new.token_with("k2", AUDIENCE, 300),
    );
    assert_eq!(r["result"], "ok", "{r}\n{}", server.log());
    let r = login(
        &server,
        "smtp",
        "XOAUTH2",
        &old.token_with("k1", AUDIENCE, 300),
    );
    assert_eq!(r["result"], "refused", "the old key is gone: {r}");
    let fetched = issuer
        .requests()
        .iter()
        .filter(|l| l.starts_with("GET localhost /jwks.json 200"))
        .count();
    assert_eq!(fetched, 2, "{:?}", issuer.requests());
}
