//! Tests of the OAuth module. The keys are made here (RSA with the `rsa` crate, which ring
//! cannot do; P-256 and Ed25519 with ring) and tokens are signed with `jsonwebtoken::encode`
//! on our ring provider: [`Issuer::sign`] is how a test, or a test binary, mints a token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde_json::{json, Value};

use super::*;

const ISSUER: &str = "https://id.example.com/realms/mail";
const AUDIENCE: &str = "ringpost";
/// The tests' "now" (2023-11-14).
const NOW: i64 = 1_700_000_000;

/// A signing key and the JWK of its public half.
#[derive(Clone)]
struct Issuer {
    alg: Algorithm,
    kid: Option<String>,
    key: EncodingKey,
    jwk: Value,
}

impl Issuer {
    /// Sign `claims` with this key: the header names the algorithm and the key's `kid`.
    fn sign(&self, claims: &Value) -> String {
        assert!(install_crypto_provider());
        let mut header = Header::new(self.alg);
        header.kid = self.kid.clone();
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }

    fn with_kid(&self, kid: Option<&str>) -> Issuer {
        let mut other = self.clone();
        other.kid = kid.map(str::to_string);
        match kid {
            Some(kid) => other.jwk["kid"] = json!(kid),
            None => {
                other.jwk.as_object_mut().unwrap().remove("kid");
            }
        }
        other
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Two RSA-2048 keys (PKCS#1 DER private key, JWK), made once: generation is slow.
fn rsa_keys() -> &'static [(Vec<u8>, Value); 2] {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    static KEYS: OnceLock<[(Vec<u8>, Value); 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let make = || {
            let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
            let der = key.to_pkcs1_der().unwrap().as_bytes().to_vec();
            let jwk = json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "rsa-1",
                "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be()),
            });
            (der, jwk)
        };
        [make(), make()]
    })
}

fn rsa_issuer(which: usize) -> Issuer {
    let (der, jwk) = &rsa_keys()[which];
    Issuer {
        alg: Algorithm::RS256,
        kid: Some("rsa-1".into()),
        key: EncodingKey::from_rsa_der(der),
        jwk: jwk.clone(),
    }
}

fn es256_issuer() -> Issuer {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    // The uncompressed point: 04 || x || y.
    let point = pair.public_key().as_ref();
    Issuer {
        alg: Algorithm::ES256,
        kid: Some("ec-1".into()),
        key: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "kid": "ec-1",
            "x": b64(&point[1..33]), "y": b64(&point[33..65]),
        }),
    }
}

fn ed25519_issuer() -> Issuer {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    Issuer {
        alg: Algorithm::EdDSA,
        kid: Some("ed-1".into()),
        key: EncodingKey::from_ed_der(pkcs8.as_ref()),
        jwk: json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "kid": "ed-1",
            "x": b64(pair.public_key().as_ref()),
        }),
    }
}

fn keys_of(issuers: &[&Issuer]) -> Keys {
    let jwks = json!({ "keys": issuers.iter().map(|i| i.jwk.clone()).collect::<Vec<_>>() });
    Keys::from_jwks(jwks.to_string().as_bytes()).unwrap()
}

fn config() -> OAuthConfig {
    OAuthConfig::new(ISSUER, AUDIENCE)
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "f81d4fae-7dec",
        "exp": NOW + 600,
        "iat": NOW - 10,
        "email": "Alice@Example.COM",
        "email_verified": true,
    })
}

/// `claims()` with `changes` applied (`null` removes a claim).
fn claims_with(changes: Value) -> Value {
    let mut claims = claims();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

/// One EC issuer and its keys for the claim tests (cheap to make).
fn ec_setup() -> (Issuer, Keys) {
    let issuer = es256_issuer();
    let keys = keys_of(&[&issuer]);
    (issuer, keys)
}

fn check(changes: Value) -> Result<Validated, TokenError> {
    let (issuer, keys) = ec_setup();
    validate(&issuer.sign(&claims_with(changes)), &keys, &config(), NOW)
}

/// A token by hand: any header, the given signature bytes.
fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

// ---- Tokens -------------------------------------------------------------------------------

#[test]
fn a_valid_token_passes_for_each_algorithm() {
    let rsa = rsa_issuer(0);
    let ec = es256_issuer();
    let ed = ed25519_issuer();
    let keys = keys_of(&[&rsa, &ec, &ed]);
    assert_eq!(keys.len(), 3);
    assert!(keys.ignored().is_empty());
    for issuer in [&rsa, &ec, &ed] {
        let validated = validate(&issuer.sign(&claims()), &keys, &config(), NOW)
            .unwrap_or_else(|e| panic!("{:?}: {e}", issuer.alg));
        assert_eq!(
            validated,
            Validated {
                username: "alice@example.com".into(),
                expires_at: NOW + 600,
                subject: Some("f81d4fae-7dec".into()),
            }
        );
    }
}

#[test]
fn expiry_is_checked_with_the_leeway() {
    assert_eq!(check(json!({"exp": NOW - 61})), Err(TokenError::Expired));
    // exp must be later than now - leeway.
    assert_eq!(check(json!({"exp": NOW - 60})), Err(TokenError::Expired));
    assert!(check(json!({"exp": NOW - 59})).is_ok());
    let (issuer, keys) = ec_setup();
    let token = issuer.sign(&claims_with(json!({"exp": NOW - 1})));
    let strict = OAuthConfig {
        leeway_secs: 0,
        ..config()
    };
    assert_eq!(
        validate(&token, &keys, &strict, NOW),
        Err(TokenError::Expired)
    );
    // A huge leeway saturates instead of overflowing.
    let lax = OAuthConfig {
        leeway_secs: u64::MAX,
        ..config()
    };
    assert!(validate(&token, &keys, &lax, NOW).is_ok());
}

#[test]
fn exp_is_required_and_typed() {
    assert_eq!(
        check(json!({"exp": null})),
        Err(TokenError::InvalidClaim("exp"))
    );
    // A string where a number belongs is refused, not taken as absent.
    assert_eq!(
        check(json!({"exp": "99999999999"})),
        Err(TokenError::InvalidClaim("exp"))
    );
    // NumericDate may be fractional.
    assert_eq!(
        check(json!({"exp": (NOW + 100) as f64 + 0.5}))
            .unwrap()
            .expires_at,
        NOW + 100
    );
    // Beyond i64: far in the future, not an error.
    assert!(check(json!({"exp": u64::MAX})).is_ok());
}

#[test]
fn not_before_and_issued_at_are_checked() {
    assert_eq!(
        check(json!({"nbf": NOW + 61})),
        Err(TokenError::NotYetValid)
    );
    assert!(check(json!({"nbf": NOW + 60})).is_ok());
    assert!(check(json!({"nbf": NOW - 1000})).is_ok());
    assert_eq!(
        check(json!({"nbf": "0"})),
        Err(TokenError::InvalidClaim("nbf"))
    );
    assert_eq!(
        check(json!({"iat": NOW + 3600})),
        Err(TokenError::IssuedInFuture)
    );
    assert!(check(json!({"iat": null})).is_ok());
    assert_eq!(
        check(json!({"iat": true})),
        Err(TokenError::InvalidClaim("iat"))
    );
}

#[test]
fn the_audience_must_include_ours() {
    assert_eq!(
        check(json!({"aud": "another-client"})),
        Err(TokenError::WrongAudience)
    );
    assert_eq!(check(json!({"aud": null})), Err(TokenError::WrongAudience));
    assert_eq!(check(json!({"aud": []})), Err(TokenError::WrongAudience));
    assert!(check(json!({"aud": ["account", AUDIENCE]})).is_ok());
    assert_eq!(
        check(json!({"aud": {"x": AUDIENCE}})),
        Err(TokenError::InvalidClaim("aud"))
    );
    // Exact comparison.
    assert_eq!(
        check(json!({"aud": "RINGPOST"})),
        Err(TokenError::WrongAudience)
    );
}

#[test]
fn the_issuer_must_be_ours_exactly() {
    assert_eq!(
        check(json!({"iss": "https://evil.example.net/"})),
        Err(TokenError::WrongIssuer)
    );
    assert_eq!(
        check(json!({"iss": format!("{ISSUER}/")})),
        Err(TokenError::WrongIssuer)
    );
    assert_eq!(check(json!({"iss": null})), Err(TokenError::WrongIssuer));
    assert_eq!(
        check(json!({"iss": [ISSUER]})),
        Err(TokenError::InvalidClaim("iss"))
    );
}

#[test]
fn an_empty_configured_issuer_or_audience_accepts_nothing() {
    let (issuer, keys) = ec_setup();
    let token = issuer.sign(&claims_with(json!({"iss": "", "aud": ""})));
    assert_eq!(
        validate(&token, &keys, &OAuthConfig::new("", AUDIENCE), NOW),
        Err(TokenError::WrongIssuer)
    );
    let token = issuer.sign(&claims_with(json!({"aud": ""})));
    assert_eq!(
        validate(&token, &keys, &OAuthConfig::new(ISSUER, ""), NOW),
        Err(TokenError::WrongAudience)
    );
}

#[test]
fn another_key_with_the_same_kid_is_a_bad_signature() {
    let published = rsa_issuer(0);
    let impostor = rsa_issuer(1);
    let keys = keys_of(&[&published]);
    assert_eq!(
        validate(&impostor.sign(&claims()), &keys, &config(), NOW),
        Err(TokenError::BadSignature)
    );
    for make in [es256_issuer, ed25519_issuer] {
        let published = make();
        let impostor = make();
        let keys = keys_of(&[&published]);
        assert_eq!(
            validate(&impostor.sign(&claims()), &keys, &config(), NOW),
            Err(TokenError::BadSignature)
        );
    }
}

#[test]
fn changed_claims_break_the_signature() {
    let (issuer, keys) = ec_setup();
    let token = issuer.sign(&claims());
    let forged = claims_with(json!({"email": "mallory@example.com"}));
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(forged.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(
        validate(&tampered, &keys, &config(), NOW),
        Err(TokenError::BadSignature)
    );
    // An empty or truncated signature.
    let unsigned = format!("{}.{}.", parts[0], parts[1]);
    assert_eq!(
        validate(&unsigned, &keys, &config(), NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn alg_none_is_refused() {
    let (_, keys) = ec_setup();
    for header in [
        json!({"alg": "none", "kid": "ec-1"}),
        json!({"alg": "none"}),
        json!({"alg": "None", "typ": "JWT"}),
    ] {
        let token = raw_token(&header, &claims(), b"");
        assert!(
            matches!(
                validate(&token, &keys, &config(), NOW),
                Err(TokenError::UnsupportedAlgorithm(_))
            ),
            "{header}"
        );
    }
    let token = raw_token(&json!({"alg": "none"}), &claims(), b"");
    assert_eq!(
        validate(&token, &keys, &config(), NOW),
        Err(TokenError::UnsupportedAlgorithm("none".into()))
    );
}

#[test]
fn hs256_with_the_public_key_as_secret_is_refused() {
    // The classic algorithm confusion: the attacker signs with HMAC, using the server's public
    // RSA key (which anyone can fetch) as the shared secret.
    let rsa = rsa_issuer(0);
    let keys = keys_of(&[&rsa]);
    let public_jwk = rsa.jwk.to_string();
    let n = URL_SAFE_NO_PAD
        .decode(rsa.jwk["n"].as_str().unwrap())
        .unwrap();
    for secret in [public_jwk.as_bytes(), n.as_slice()] {
        for alg in ["HS256", "HS384", "HS512"] {
            let header = json!({"alg": alg, "kid": "rsa-1", "typ": "JWT"});
            let signing_input = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(claims().to_string().as_bytes())
            );
            let mac = ring::hmac::sign(
                &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
                signing_input.as_bytes(),
            );
            let token = format!("{signing_input}.{}", b64(mac.as_ref()));
            assert_eq!(
                validate(&token, &keys, &config(), NOW),
                Err(TokenError::UnsupportedAlgorithm(alg.into()))
            );
        }
    }
}

#[test]
fn the_provider_itself_refuses_hmac_and_other_algorithms() {
    // Even a caller that went to jsonwebtoken directly and asked for HS256 with the RSA public
    // key gets no verification out of the ring provider.
    assert!(install_crypto_provider());
    let rsa = rsa_issuer(0);
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(rsa.jwk.clone()).unwrap();
    let public = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let header = json!({"alg": "HS256", "kid": "rsa-1"});
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    let n = URL_SAFE_NO_PAD
        .decode(rsa.jwk["n"].as_str().unwrap())
        .unwrap();
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &n),
        signing_input.as_bytes(),
    );
    let token = format!("{signing_input}.{}", b64(mac.as_ref()));
    let hs256 = jsonwebtoken::Validation::new(Algorithm::HS256);
    assert!(jsonwebtoken::decode::<Value>(&token, &public, &hs256).is_err());
    // No HMAC signing either, and an RS384 signature is not an RS256 one.
    let secret = EncodingKey::from_secret(b"secret").unwrap();
    assert!(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(), &secret).is_err());
    assert!(jsonwebtoken::encode(&Header::new(Algorithm::RS384), &claims(), &rsa.key).is_err());
    // An RSA key does not sign as ES256.
    assert!(jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims(), &rsa.key).is_err());
}

#[test]
fn an_algorithm_other_than_the_keys_is_refused() {
    // A token that says ES256 but names the RSA key's kid finds no key.
    let rsa = rsa_issuer(0);
    let ec = es256_issuer().with_kid(Some("rsa-1"));
    let keys = keys_of(&[&rsa]);
    assert_eq!(
        validate(&ec.sign(&claims()), &keys, &config(), NOW),
        Err(TokenError::UnknownKey)
    );
    // Unsupported asymmetric algorithms are refused by name.
    let token = raw_token(&json!({"alg": "PS256", "kid": "rsa-1"}), &claims(), b"x");
    assert_eq!(
        validate(&token, &keys, &config(), NOW),
        Err(TokenError::UnsupportedAlgorithm("PS256".into()))
    );
}

#[test]
fn keys_are_chosen_by_kid() {
    let ec1 = es256_issuer();
    let ec2 = es256_issuer().with_kid(Some("ec-2"));
    let keys = keys_of(&[&ec1, &ec2]);
    assert!(validate(&ec1.sign(&claims()), &keys, &config(), NOW).is_ok());
    assert!(validate(&ec2.sign(&claims()), &keys, &config(), NOW).is_ok());
    let unknown = ec1.with_kid(Some("ec-3"));
    assert_eq!(
        validate(&unknown.sign(&claims()), &keys, &config(), NOW),
        Err(TokenError::UnknownKey)
    );
    // Without a kid, two keys of the kind are ambiguous...
    assert_eq!(
        validate(&ec1.with_kid(None).sign(&claims()), &keys, &config(), NOW),
        Err(TokenError::UnknownKey)
    );
    // ...and one is the key.
    let ed = ed25519_issuer();
    let keys = keys_of(&[&ec1, &ed]);
    assert!(validate(&ec1.with_kid(None).sign(&claims()), &keys, &config(), NOW).is_ok());
    // A key published without a kid serves tokens without one.
    let bare = ed25519_issuer().with_kid(None);
    let keys = keys_of(&[&bare]);
    assert!(validate(&bare.sign(&claims()), &keys, &config(), NOW).is_ok());
    assert_eq!(
        validate(
            &bare.with_kid(Some("x")).sign(&claims()),
            &keys,
            &config(),
            NOW
        ),
        Err(TokenError::UnknownKey)
    );
    // A kid of the wrong JSON type is malformed.
    let token = raw_token(&json!({"alg": "ES256", "kid": 7}), &claims(), b"x");
    assert_eq!(
        validate(&token, &keys, &config(), NOW),
        Err(TokenError::Malformed)
    );
}

#[test]
fn the_username_claim_must_be_a_usable_string() {
    assert_eq!(
        check(json!({"email": null})),
        Err(TokenError::UsernameClaim)
    );
    assert_eq!(check(json!({"email": 42})), Err(TokenError::UsernameClaim));
    assert_eq!(check(json!({"email": ""})), Err(TokenError::UsernameClaim));
    assert_eq!(
        check(json!({"email": "a@b\r\nX-Injected: 1"})),
        Err(TokenError::UsernameClaim)
    );
    // Another claim can name the user.
    let (issuer, keys) = ec_setup();
    let config = OAuthConfig {
        username_claim: "preferred_username".into(),
        ..config()
    };
    let token = issuer.sign(&claims_with(
        json!({"preferred_username": "BOB@example.com", "email_verified": false}),
    ));
    let validated = validate(&token, &keys, &config, NOW).unwrap();
    // email_verified concerns the email claim only.
    assert_eq!(validated.username, "bob@example.com");
    let token = issuer.sign(&claims());
    assert_eq!(
        validate(&token, &keys, &config, NOW),
        Err(TokenError::UsernameClaim)
    );
}

#[test]
fn an_unverified_email_is_refused() {
    assert_eq!(
        check(json!({"email_verified": false})),
        Err(TokenError::EmailNotVerified)
    );
    assert_eq!(
        check(json!({"email_verified": "false"})),
        Err(TokenError::EmailNotVerified)
    );
    assert_eq!(
        check(json!({"email_verified": 1})),
        Err(TokenError::EmailNotVerified)
    );
    assert!(check(json!({"email_verified": "true"})).is_ok());
    assert!(check(json!({"email_verified": null})).is_ok());
}

#[test]
fn subject_is_optional_but_typed() {
    assert_eq!(check(json!({"sub": null})).unwrap().subject, None);
    assert_eq!(
        check(json!({"sub": 12})),
        Err(TokenError::InvalidClaim("sub"))
    );
}

#[test]
fn the_named_identity_must_be_the_tokens_user() {
    let (issuer, keys) = ec_setup();
    let token = issuer.sign(&claims());
    let request = |authzid: Option<&str>| BearerRequest {
        authzid: authzid.map(str::to_string),
        token: token.clone(),
        host: None,
        port: None,
    };
    // Case folded on both sides.
    for named in [None, Some("alice@example.com"), Some("ALICE@EXAMPLE.COM")] {
        let validated = authenticate(&request(named), &keys, &config(), NOW).unwrap();
        assert_eq!(validated.username, "alice@example.com");
    }
    assert_eq!(
        authenticate(&request(Some("bob@example.com")), &keys, &config(), NOW),
        Err(TokenError::IdentityMismatch)
    );
    assert_eq!(
        authenticate(&request(Some("")), &keys, &config(), NOW),
        Err(TokenError::IdentityMismatch)
    );
    // The token is checked before the identity.
    assert_eq!(
        authenticate(
            &request(Some("bob@example.com")),
            &keys,
            &config(),
            NOW + 3600
        ),
        Err(TokenError::Expired)
    );
}

#[test]
fn malformed_tokens_are_refused() {
    let (issuer, keys) = ec_setup();
    let good = issuer.sign(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let not_json = format!("{}.{}.{}", b64(b"{\"alg\":"), parts[1], parts[2]);
    let not_object = format!("{}.{}.{}", b64(b"[1]"), parts[1], parts[2]);
    let payload_not_json = format!("{}.{}.{}", parts[0], b64(b"nope"), parts[2]);
    let long = "a".repeat(MAX_MESSAGE_LEN + 1);
    for token in [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.b.c",
        &format!("{good}.x"),
        &not_json,
        &not_object,
        &long,
    ] {
        assert_eq!(
            validate(token, &keys, &config(), NOW),
            Err(TokenError::Malformed),
            "{token:.40}"
        );
    }
    // A payload that is not JSON fails the signature first (it was not what was signed).
    assert!(validate(&payload_not_json, &keys, &config(), NOW).is_err());
    // A header without alg.
    let token = raw_token(&json!({"kid": "ec-1"}), &claims(), b"x");
    assert_eq!(
        validate(&token, &keys, &config(), NOW),
        Err(TokenError::Malformed)
    );
    // A correctly signed token with a critical header parameter this server does not know
    // (RFC 7515 §4.1.11) is refused.
    assert!(install_crypto_provider());
    let header = json!({"alg": "ES256", "kid": "ec-1", "crit": ["exp"], "exp": 1});
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    let signature =
        jsonwebtoken::crypto::sign(signing_input.as_bytes(), &issuer.key, Algorithm::ES256)
            .unwrap();
    let token = format!("{signing_input}.{signature}");
    assert_eq!(
        validate(&token, &keys, &config(), NOW),
        Err(TokenError::Malformed)
    );
    // The same without crit passes, so it was crit that was refused.
    let header = json!({"alg": "ES256", "kid": "ec-1"});
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    let signature =
        jsonwebtoken::crypto::sign(signing_input.as_bytes(), &issuer.key, Algorithm::ES256)
            .unwrap();
    assert!(validate(
        &format!("{signing_input}.{signature}"),
        &keys,
        &config(),
        NOW
    )
    .is_ok());
}

#[test]
fn every_token_error_is_invalid_token() {
    for e in [
        TokenError::Malformed,
        TokenError::BadSignature,
        TokenError::Expired,
        TokenError::IdentityMismatch,
    ] {
        assert_eq!(e.status(), STATUS_INVALID_TOKEN);
    }
}

// ---- JWKS ---------------------------------------------------------------------------------

#[test]
fn jwks_keeps_signing_keys_and_notes_the_rest() {
    let ec = es256_issuer();
    // 1024-bit modulus: too small.
    let small_n = b64(&[0xC5; 128]);
    let jwks = json!({"keys": [
        ec.jwk,
        {"kty": "RSA", "use": "enc", "kid": "enc-1", "n": b64(&[0xC5; 256]), "e": "AQAB"},
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "EC", "crv": "P-384", "kid": "p384", "x": b64(&[1; 48]), "y": b64(&[2; 48])},
        {"kty": "RSA", "kid": "small", "n": small_n, "e": "AQAB"},
        {"kty": "RSA", "kid": "pss", "alg": "PS256", "n": b64(&[0xC5; 256]), "e": "AQAB"},
        {"kty": "RSA", "kid": "ops", "key_ops": ["encrypt"], "n": b64(&[0xC5; 256]), "e": "AQAB"},
        {"kty": "OKP", "crv": "X25519", "kid": "x", "x": b64(&[3; 32])},
        {"kty": "EC", "crv": "P-256", "kid": "short", "x": b64(&[1; 31]), "y": b64(&[2; 32])},
        {"kty": "RSA", "kid": "no-n", "e": "AQAB"},
        {"kty": "RSA", "kid": "ec-1", "alg": "RSA-OAEP", "n": b64(&[0xC5; 256]), "e": "AQAB"},
        "not an object",
        ec.jwk,
    ]});
    let keys = Keys::from_jwks(jwks.to_string().as_bytes()).unwrap();
    assert_eq!(keys.len(), 1);
    let notes = keys.ignored();
    assert_eq!(notes.len(), 12, "{notes:#?}");
    for (note, says) in [
        (1, "`use` is not `sig`"),
        (2, "symmetric"),
        (3, "kty EC is not"),
        (4, "has 1024 bits"),
        (5, "`alg` is PS256"),
        (6, "`key_ops`"),
        (7, "kty OKP is not"),
        (8, "32 bytes"),
        (9, "kty RSA is not"),
        (11, "not a JWK"),
        (12, "same kid"),
    ] {
        let found = notes
            .iter()
            .find(|n| n.starts_with(&format!("key {note}")))
            .unwrap_or_else(|| panic!("no note for key {note}: {notes:#?}"));
        assert!(found.contains(says), "{found}");
    }
    // The kept key works.
    assert!(validate(&ec.sign(&claims()), &keys, &config(), NOW).is_ok());
}

#[test]
fn jwks_without_usable_keys_is_an_error() {
    assert!(matches!(
        Keys::from_jwks(b"{not json"),
        Err(KeysError::NotJson(_))
    ));
    assert_eq!(Keys::from_jwks(b"{}").unwrap_err(), KeysError::NoKeysArray);
    assert_eq!(
        Keys::from_jwks(br#"{"keys": {}}"#).unwrap_err(),
        KeysError::NoKeysArray
    );
    assert_eq!(
        Keys::from_jwks(br#"{"keys": []}"#).unwrap_err(),
        KeysError::NoUsableKeys(vec![])
    );
    let only_hmac = br#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#;
    match Keys::from_jwks(only_hmac) {
        Err(KeysError::NoUsableKeys(notes)) => assert_eq!(notes.len(), 1),
        other => panic!("{other:?}"),
    }
    let huge = vec![b' '; MAX_JWKS_LEN + 1];
    assert_eq!(Keys::from_jwks(&huge).unwrap_err(), KeysError::TooLarge);
}

// ---- The error challenge ------------------------------------------------------------------

#[test]
fn error_challenge_is_json_with_the_members_given() {
    let full = error_challenge(
        STATUS_INVALID_TOKEN,
        Some("openid email"),
        Some("https://id.example.com/.well-known/openid-configuration"),
    );
    assert_eq!(
        String::from_utf8(full).unwrap(),
        r#"{"status":"invalid_token","scope":"openid email","openid-configuration":"https://id.example.com/.well-known/openid-configuration"}"#
    );
    assert_eq!(
        error_challenge(STATUS_INVALID_REQUEST, None, None),
        br#"{"status":"invalid_request"}"#
    );
    // Whatever the strings hold, the result parses back to them.
    let odd = "a\"b\\c\u{1}\u{e9}";
    let parsed: Value = serde_json::from_slice(&error_challenge(odd, Some(odd), None)).unwrap();
    assert_eq!(parsed, json!({"status": odd, "scope": odd}));
    assert_eq!(MessageError::MissingAuth.status(), STATUS_INVALID_REQUEST);
}

// ---- SASL messages ------------------------------------------------------------------------

fn oauthbearer(message: &[u8]) -> Result<BearerRequest, MessageError> {
    parse_oauthbearer(message)
}

#[test]
fn oauthbearer_rfc7628_example() {
    // RFC 7628 §4.1.
    let request = oauthbearer(
        b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01\
          auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
    )
    .unwrap();
    assert_eq!(
        request,
        BearerRequest {
            authzid: Some("user@example.com".into()),
            token: "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==".into(),
            host: Some("server.example.com".into()),
            port: Some(143),
        }
    );
}

#[test]
fn oauthbearer_minimal_and_variants() {
    let minimal = oauthbearer(b"n,,\x01auth=Bearer abc\x01\x01").unwrap();
    assert_eq!(minimal.authzid, None);
    assert_eq!(minimal.token, "abc");
    assert_eq!((minimal.host, minimal.port), (None, None));
    // y: the client could bind but believes the server cannot.
    assert!(oauthbearer(b"y,,\x01auth=Bearer abc\x01\x01").is_ok());
    // The scheme in any case, any number of spaces, JWT characters.
    for auth in [
        "bearer abc",
        "BEARER abc",
        "Bearer   abc",
        "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_~+/==",
    ] {
        let message = format!("n,,\x01auth={auth}\x01\x01");
        assert!(oauthbearer(message.as_bytes()).is_ok(), "{auth}");
    }
    // Unknown keys are ignored; values may hold blanks and line breaks.
    let request =
        oauthbearer(b"n,,\x01mfa=otp 123\r\n\x01auth=Bearer abc\x01extra=\x01\x01").unwrap();
    assert_eq!(request.token, "abc");
}

#[test]
fn oauthbearer_authzid_escapes() {
    let request = oauthbearer(b"n,a=od=2Cd=3Dname@example.com,\x01auth=Bearer t\x01\x01").unwrap();
    assert_eq!(request.authzid.as_deref(), Some("od,d=name@example.com"));
    let request =
        oauthbearer("n,a=jos\u{e9}@example.com,\x01auth=Bearer t\x01\x01".as_bytes()).unwrap();
    assert_eq!(request.authzid.as_deref(), Some("jos\u{e9}@example.com"));
    for bad in [
        &b"n,a=,\x01auth=Bearer t\x01\x01"[..],
        b"n,a=x=41,\x01auth=Bearer t\x01\x01",
        b"n,a=x=2c,\x01auth=Bearer t\x01\x01",
        b"n,a=x=,\x01auth=Bearer t\x01\x01",
        b"n,a=x=2,\x01auth=Bearer t\x01\x01",
        b"n,a=x\x00y,\x01auth=Bearer t\x01\x01",
        b"n,a=x\x01y,\x01auth=Bearer t\x01\x01",
        b"n,a=\xff\xfe,\x01auth=Bearer t\x01\x01",
    ] {
        assert_eq!(
            oauthbearer(bad),
            Err(MessageError::Identity),
            "{}",
            bad.escape_ascii()
        );
    }
}

#[test]
fn oauthbearer_gs2_header_errors() {
    assert_eq!(
        oauthbearer(b"p=tls-unique,,\x01auth=Bearer t\x01\x01"),
        Err(MessageError::ChannelBinding)
    );
    for bad in [
        &b""[..],
        b"\x01",
        b"F,n,,\x01auth=Bearer t\x01\x01",
        b"x,,\x01auth=Bearer t\x01\x01",
        b"n\x01auth=Bearer t\x01\x01",
        b"N,,\x01auth=Bearer t\x01\x01",
        b"n,b=user,\x01auth=Bearer t\x01\x01",
        b"n,a=user\x01auth=Bearer t\x01\x01",
        b"p",
    ] {
        assert_eq!(
            oauthbearer(bad),
            Err(MessageError::Gs2Header),
            "{}",
            bad.escape_ascii()
        );
    }
}

#[test]
fn oauthbearer_kvpair_errors() {
    let cases: &[(&[u8], MessageError)] = &[
        (b"n,,\x01\x01", MessageError::MissingAuth),
        (b"n,,\x01host=h\x01\x01", MessageError::MissingAuth),
        (b"n,,\x01AUTH=Bearer t\x01\x01", MessageError::MissingAuth),
        (
            b"n,,\x01auth=Bearer t\x01auth=Bearer u\x01\x01",
            MessageError::DuplicateKey,
        ),
        (
            b"n,,\x01port=1\x01port=2\x01auth=Bearer t\x01\x01",
            MessageError::DuplicateKey,
        ),
        (
            b"n,,\x01k1=v\x01auth=Bearer t\x01\x01",
            MessageError::KvPair,
        ),
        (b"n,,\x01=v\x01auth=Bearer t\x01\x01", MessageError::KvPair),
        (
            b"n,,\x01novalue\x01auth=Bearer t\x01\x01",
            MessageError::KvPair,
        ),
        (b"n,,\x01auth=Bearer t\x00\x01\x01", MessageError::KvPair),
        (
            b"n,,\x01auth=Bearer t\xc3\xa9\x01\x01",
            MessageError::KvPair,
        ),
        (b"n,,auth=Bearer t\x01\x01", MessageError::Framing),
        (b"n,,\x01auth=Bearer t\x01", MessageError::Framing),
        (b"n,,\x01auth=Bearer t", MessageError::Framing),
        (b"n,,\x01auth=Bearer t\x01\x01x", MessageError::Framing),
        (b"n,,\x01auth=Bearer t\x01\x01\x01", MessageError::Framing),
        (
            b"n,,\x01auth=Basic dXNlcjpwdw==\x01\x01",
            MessageError::NotBearer,
        ),
        (b"n,,\x01auth=\x01\x01", MessageError::NotBearer),
        (b"n,,\x01auth=Bearer\x01\x01", MessageError::NotBearer),
        (b"n,,\x01auth=Bearer \x01\x01", MessageError::Token),
        (b"n,,\x01auth=Bearer ==\x01\x01", MessageError::Token),
        (b"n,,\x01auth=Bearer a b\x01\x01", MessageError::Token),
        (b"n,,\x01auth=Bearer a=b\x01\x01", MessageError::Token),
        (b"n,,\x01auth=Bearer t \x01\x01", MessageError::Token),
        (b"n,,\x01auth=Bearer t\r\n\x01\x01", MessageError::Token),
        (
            b"n,,\x01port=http\x01auth=Bearer t\x01\x01",
            MessageError::Port,
        ),
        (
            b"n,,\x01port=70000\x01auth=Bearer t\x01\x01",
            MessageError::Port,
        ),
        (b"n,,\x01port=\x01auth=Bearer t\x01\x01", MessageError::Port),
        (
            b"n,,\x01port=-1\x01auth=Bearer t\x01\x01",
            MessageError::Port,
        ),
    ];
    for (message, error) in cases {
        assert_eq!(
            oauthbearer(message),
            Err(*error),
            "{}",
            message.escape_ascii()
        );
    }
}

#[test]
fn messages_over_the_bound_are_refused() {
    let token = "a".repeat(MAX_MESSAGE_LEN);
    let message = format!("n,,\x01auth=Bearer {token}\x01\x01");
    assert_eq!(oauthbearer(message.as_bytes()), Err(MessageError::TooLong));
    let message = format!("user=u\x01auth=Bearer {token}\x01\x01");
    assert_eq!(
        parse_xoauth2(message.as_bytes()),
        Err(MessageError::TooLong)
    );
    // Just under the bound is fine.
    let token = "a".repeat(MAX_MESSAGE_LEN - 20);
    let message = format!("n,,\x01auth=Bearer {token}\x01\x01");
    assert!(oauthbearer(message.as_bytes()).is_ok());
}

#[test]
fn the_token_does_not_show_in_debug() {
    let request = oauthbearer(b"n,,\x01auth=Bearer s3cr3t-token\x01\x01").unwrap();
    let shown = format!("{request:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(shown.contains("redacted"));
}

#[test]
fn xoauth2_messages() {
    // Google's documented example.
    let request = parse_xoauth2(
        b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01",
    )
    .unwrap();
    assert_eq!(
        request,
        BearerRequest {
            authzid: Some("someuser@example.com".into()),
            token: "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg".into(),
            host: None,
            port: None,
        }
    );
    // Order does not matter.
    assert!(parse_xoauth2(b"auth=Bearer t\x01user=u@example.com\x01\x01").is_ok());
    let cases: &[(&[u8], MessageError)] = &[
        (b"auth=Bearer t\x01\x01", MessageError::MissingUser),
        (b"user=u\x01\x01", MessageError::MissingAuth),
        (b"user=\x01auth=Bearer t\x01\x01", MessageError::Identity),
        (b"user=a b\x01auth=Bearer t\x01\x01", MessageError::Identity),
        (b"user=u\x01auth=Bearer t\x01", MessageError::Framing),
        (b"", MessageError::Framing),
        (b"\x01", MessageError::MissingUser),
        (
            b"user=u\x01user=v\x01auth=Bearer t\x01\x01",
            MessageError::DuplicateKey,
        ),
        (b"user=u\x01auth=Basic t\x01\x01", MessageError::NotBearer),
        // An OAUTHBEARER message is not an XOAUTH2 one.
        (b"n,,\x01auth=Bearer t\x01\x01", MessageError::KvPair),
    ];
    for (message, error) in cases {
        assert_eq!(
            parse_xoauth2(message),
            Err(*error),
            "{}",
            message.escape_ascii()
        );
    }
}

#[test]
fn a_parsed_token_validates_end_to_end() {
    // What the protocol will do: decode the message, parse, authenticate.
    let ed = ed25519_issuer();
    let keys = keys_of(&[&ed]);
    let token = ed.sign(&claims());
    let message = format!("n,a=alice@example.com,\x01host=mail.example.com\x01port=993\x01auth=Bearer {token}\x01\x01");
    let request = parse_oauthbearer(message.as_bytes()).unwrap();
    let validated = authenticate(&request, &keys, &config(), NOW).unwrap();
    assert_eq!(validated.username, "alice@example.com");
    let message = format!("user=Alice@example.com\x01auth=Bearer {token}\x01\x01");
    let request = parse_xoauth2(message.as_bytes()).unwrap();
    assert!(authenticate(&request, &keys, &config(), NOW).is_ok());
    let message = format!("user=bob@example.com\x01auth=Bearer {token}\x01\x01");
    let request = parse_xoauth2(message.as_bytes()).unwrap();
    let refused = authenticate(&request, &keys, &config(), NOW).unwrap_err();
    assert_eq!(refused, TokenError::IdentityMismatch);
    // The failure challenge the server then sends.
    let challenge = error_challenge(refused.status(), Some("openid email"), None);
    assert_eq!(
        serde_json::from_slice::<Value>(&challenge).unwrap()["status"],
        "invalid_token"
    );
}

/// The saslname encoding of RFC 5801 §4, for the round-trip property.
fn encode_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

proptest::proptest! {
    #[test]
    fn parsers_never_panic_on_any_bytes(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)
    ) {
        let _ = parse_oauthbearer(&bytes);
        let _ = parse_xoauth2(&bytes);
        let mut with_header = b"n,,\x01".to_vec();
        with_header.extend_from_slice(&bytes);
        let _ = parse_oauthbearer(&with_header);
    }

    #[test]
    fn parsers_never_panic_on_near_misses(
        parts in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just("n".to_string()),
                proptest::strategy::Just(",".to_string()),
                proptest::strategy::Just("a=".to_string()),
                proptest::strategy::Just("=2C".to_string()),
                proptest::strategy::Just("=".to_string()),
                proptest::strategy::Just("\x01".to_string()),
                proptest::strategy::Just("auth=".to_string()),
                proptest::strategy::Just("Bearer ".to_string()),
                proptest::strategy::Just("user=".to_string()),
                proptest::strategy::Just("port=".to_string()),
                "[a-zA-Z0-9 ._~+/=-]{0,6}",
            ],
            0..24,
        )
    ) {
        let message = parts.concat();
        let _ = parse_oauthbearer(message.as_bytes());
        let _ = parse_xoauth2(message.as_bytes());
    }

    #[test]
    fn authzid_round_trips(name in "[^\\x00-\\x1f\\x7f]{1,40}") {
        let message = format!("n,a={},\x01auth=Bearer t\x01\x01", encode_saslname(&name));
        let request = parse_oauthbearer(message.as_bytes());
        proptest::prop_assert_eq!(request.map(|r| r.authzid), Ok(Some(name)));
    }

    #[test]
    fn validate_never_panics_on_any_token(token in "[A-Za-z0-9_.=-]{0,300}") {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        let keys = KEYS.get_or_init(|| keys_of(&[&es256_issuer()]));
        proptest::prop_assert!(validate(&token, keys, &config(), NOW).is_err());
    }

    #[test]
    fn validate_never_panics_on_any_header_or_claims(
        header in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        claims in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
    ) {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        let keys = KEYS.get_or_init(|| keys_of(&[&es256_issuer()]));
        let token = format!("{}.{}.{}", b64(&header), b64(&claims), b64(b"sig"));
        proptest::prop_assert!(validate(&token, keys, &config(), NOW).is_err());
    }
}
