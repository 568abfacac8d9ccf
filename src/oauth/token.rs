//! Validation of JWT access tokens (RFC 7519; signed as JWS compact serialization, RFC 7515)
//! against the issuer's published keys (a JWK Set, RFC 7517 §5), following the JWT best
//! current practice (RFC 8725): the algorithm comes from the key the server holds, never from
//! the token alone.
//!
//! jsonwebtoken parses the token and the keys and checks the signature (on ring, through
//! [`super::ring_provider`]); the claims are checked here, with the time passed in, because
//! jsonwebtoken's own checks read the system clock and treat a claim of the wrong JSON type
//! as an absent one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::message::{BearerRequest, MAX_MESSAGE_LEN};
use super::ring_provider;

/// The claim that names the user unless configured otherwise.
pub const DEFAULT_USERNAME_CLAIM: &str = "email";
/// Clock skew tolerated between the issuer and this server, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;
/// The largest JWKS document read. Issuers publish a few keys, a few KiB.
pub const MAX_JWKS_LEN: usize = 1024 * 1024;

/// What a token must say to be accepted. Plain data; the configuration file is parsed
/// elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    /// The `iss` every token must carry, compared exactly (RFC 7519 §4.1.1).
    pub issuer: String,
    /// A value the token's `aud` must hold (RFC 7519 §4.1.3): this server's client ID or
    /// resource identifier at the issuer.
    pub audience: String,
    /// The claim whose string value is the user name (lower-cased). Default `email`.
    pub username_claim: String,
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat`. Default 60.
    pub leeway_secs: u64,
}

impl OAuthConfig {
    /// A configuration with the default username claim and leeway.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> OAuthConfig {
        OAuthConfig {
            issuer: issuer.into(),
            audience: audience.into(),
            username_claim: DEFAULT_USERNAME_CLAIM.to_string(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
        }
    }
}

/// A token that passed: who it names, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    /// The username claim's value, ASCII lower-cased (as the accounts layer stores names).
    pub username: String,
    /// The token's `exp` (Unix seconds): a session may be ended once it passes.
    pub expires_at: i64,
    /// The token's `sub`, if it has one: the issuer's stable ID of the user, for the log.
    pub subject: Option<String>,
}

/// Why a token, or the identity presented with it, is refused. Each answers
/// [`TokenError::status`] `invalid_token` in the error challenge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWS compact serialization with a JSON header and JSON claims, or too long.
    #[error("not a signed JWT")]
    Malformed,
    /// The header's `alg` is not RS256, ES256 or EdDSA: `none`, HMAC (`HS256`, which a public
    /// key must never be used as the secret of) and everything else are refused. Holds the
    /// name (printable ASCII, shortened) for the log.
    #[error("signature algorithm `{0}` is not accepted")]
    UnsupportedAlgorithm(String),
    /// No key of the issuer has the token's `kid` and algorithm; or, for a token without a
    /// `kid`, not exactly one key has its algorithm.
    #[error("no key of the issuer matches the token's key ID and algorithm")]
    UnknownKey,
    /// The signature does not verify with the selected key (or could not be checked at all).
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token is issued in the future (iat)")]
    IssuedInFuture,
    #[error("the token is from another issuer")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    /// A registered claim is missing where required (`exp`) or of the wrong JSON type.
    #[error("claim `{0}` is missing or of the wrong type")]
    InvalidClaim(&'static str),
    /// The username claim is missing, not a string, empty or holds a control character.
    #[error("the username claim is missing or not a usable string")]
    UsernameClaim,
    /// The username claim is `email` and the token says the address is not verified.
    #[error("the email address is not verified")]
    EmailNotVerified,
    /// The identity the client named (`a=`, `user=`) is not the token's user.
    #[error("the identity named is not the token's user")]
    IdentityMismatch,
}

impl TokenError {
    /// The RFC 7628 §3.2.2 status for [`super::error_challenge`] (RFC 6750 §3.1: "expired,
    /// revoked, malformed, or invalid for other reasons").
    pub fn status(&self) -> &'static str {
        super::STATUS_INVALID_TOKEN
    }
}

/// Why a JWKS document gave no keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    #[error("the JWKS document is larger than {MAX_JWKS_LEN} bytes")]
    TooLarge,
    #[error("the JWKS document is not JSON: {0}")]
    NotJson(String),
    #[error("the JWKS document has no `keys` array")]
    NoKeysArray,
    /// Every key was of a kind or use this server does not take; the notes say why.
    #[error("the JWKS document has no usable signing key ({})", .0.join("; "))]
    NoUsableKeys(Vec<String>),
}

/// The three signature algorithms accepted, each tied to one kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyAlg {
    /// RSA key (`kty` RSA, 2048 to 8192 bits).
    Rs256,
    /// EC key on P-256 (`kty` EC, `crv` P-256).
    Es256,
    /// Ed25519 key (`kty` OKP, `crv` Ed25519).
    EdDsa,
}

impl KeyAlg {
    fn from_name(name: &str) -> Option<KeyAlg> {
        match name {
            "RS256" => Some(KeyAlg::Rs256),
            "ES256" => Some(KeyAlg::Es256),
            "EdDSA" => Some(KeyAlg::EdDsa),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            KeyAlg::Rs256 => "RS256",
            KeyAlg::Es256 => "ES256",
            KeyAlg::EdDsa => "EdDSA",
        }
    }

    fn jwt(self) -> Algorithm {
        match self {
            KeyAlg::Rs256 => Algorithm::RS256,
            KeyAlg::Es256 => Algorithm::ES256,
            KeyAlg::EdDsa => Algorithm::EdDSA,
        }
    }
}

#[derive(Debug, Clone)]
struct Key {
    kid: Option<String>,
    alg: KeyAlg,
    key: DecodingKey,
}

/// The issuer's signing keys, read from its JWKS document.
#[derive(Debug, Clone)]
pub struct Keys {
    keys: Vec<Key>,
    ignored: Vec<String>,
}

impl Keys {
    /// Read a JWKS document (RFC 7517 §5: `{"keys": [...]}`).
    ///
    /// Kept: RSA keys (RS256), EC P-256 keys (ES256) and OKP Ed25519 keys (EdDSA) whose `use`
    /// is `sig` or absent, whose `key_ops` (if any) include `verify` and whose `alg` (if any)
    /// is the algorithm of their kind. Other keys (encryption keys, symmetric `oct` keys,
    /// other curves, RSA keys under 2048 bits, a second key with the same `kid` and kind) are
    /// skipped, each with a note in [`Keys::ignored`]: a JWKS commonly holds keys for other
    /// uses. A document that leaves no key is an error.
    pub fn from_jwks(json: &[u8]) -> Result<Keys, KeysError> {
        if json.len() > MAX_JWKS_LEN {
            return Err(KeysError::TooLarge);
        }
        let doc: Value =
            serde_json::from_slice(json).map_err(|e| KeysError::NotJson(e.to_string()))?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeysError::NoKeysArray)?;
        let mut keys: Vec<Key> = Vec::new();
        let mut ignored = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let label = match entry.get("kid").and_then(Value::as_str) {
                Some(kid) => format!("key {index} (kid {})", printable(kid)),
                None => format!("key {index}"),
            };
            match usable_key(entry) {
                Ok(key) => {
                    if keys.iter().any(|k| k.kid == key.kid && k.alg == key.alg) {
                        ignored.push(format!(
                            "{label}: another {} key has the same kid",
                            key.alg.name()
                        ));
                    } else {
                        keys.push(key);
                    }
                }
                Err(why) => ignored.push(format!("{label}: {why}")),
            }
        }
        if keys.is_empty() {
            return Err(KeysError::NoUsableKeys(ignored));
        }
        Ok(Keys { keys, ignored })
    }

    /// How many keys were kept.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// One note per key of the document that was skipped, saying which and why (for the log).
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// RFC 7515 §4.1.4: the `kid` picks the key; the algorithm must be the key's. Without a
    /// `kid`, the one key of the algorithm's kind, if there is exactly one.
    fn select(&self, alg: KeyAlg, kid: Option<&str>) -> Result<&Key, TokenError> {
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| k.alg == alg && (kid.is_none() || k.kid.as_deref() == kid));
        match (candidates.next(), candidates.next()) {
            (Some(key), None) => Ok(key),
            _ => Err(TokenError::UnknownKey),
        }
    }
}

/// One JWKS entry → a key, or why not.
fn usable_key(entry: &Value) -> Result<Key, String> {
    let kty = entry.get("kty").and_then(Value::as_str).unwrap_or("?");
    let jwk: Jwk = serde_json::from_value(entry.clone())
        .map_err(|e| format!("not a JWK this server reads ({e})"))?;
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(_) => return Err("its `use` is not `sig`".into()),
    }
    if let Some(ops) = &jwk.common.key_operations {
        if !ops.contains(&KeyOperations::Verify) {
            return Err("its `key_ops` do not include `verify`".into());
        }
    }
    let (alg, key) = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let bits = modulus_bits(&rsa.n).ok_or("its RSA modulus `n` is not base64url")?;
            if !(2048..=8192).contains(&bits) {
                return Err(format!(
                    "its RSA modulus has {bits} bits (2048 to 8192 accepted)"
                ));
            }
            (
                KeyAlg::Rs256,
                DecodingKey::from_rsa_components(&rsa.n, &rsa.e),
            )
        }
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            if decoded_len(&ec.x) != Some(32) || decoded_len(&ec.y) != Some(32) {
                return Err("its P-256 coordinates are not 32 bytes of base64url".into());
            }
            (KeyAlg::Es256, DecodingKey::from_ec_components(&ec.x, &ec.y))
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            if decoded_len(&okp.x) != Some(32) {
                return Err("its Ed25519 key is not 32 bytes of base64url".into());
            }
            (KeyAlg::EdDsa, DecodingKey::from_ed_components(&okp.x))
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err("a symmetric (`oct`) key: only public keys are accepted".into())
        }
        _ => {
            return Err(format!(
                "kty {} is not an RSA, EC P-256 or OKP Ed25519 public key",
                printable(kty)
            ))
        }
    };
    let key = key.map_err(|e| format!("its key material is unreadable ({e})"))?;
    if let Some(declared) = &jwk.common.key_algorithm {
        if format!("{declared:?}") != alg.name() {
            return Err(format!(
                "its `alg` is {declared:?}, not {} (the only one for its kind)",
                alg.name()
            ));
        }
    }
    Ok(Key {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
    })
}

fn decoded_len(b64url: &str) -> Option<usize> {
    URL_SAFE_NO_PAD.decode(b64url).ok().map(|bytes| bytes.len())
}

/// The size of a big-endian unsigned integer in base64url, in bits.
fn modulus_bits(n: &str) -> Option<u32> {
    let bytes = URL_SAFE_NO_PAD.decode(n).ok()?;
    let Some(at) = bytes.iter().position(|&b| b != 0) else {
        return Some(0);
    };
    let significant = bytes.len() - at;
    let top = bytes.get(at)?;
    u32::try_from(significant)
        .ok()?
        .checked_mul(8)?
        .checked_sub(top.leading_zeros())
}

/// At most 40 characters of `s`, printable ASCII only: for notes and errors that quote
/// what a peer sent.
fn printable(s: &str) -> String {
    s.chars()
        .take(40)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// Validate a bearer token: signature, issuer, audience, validity times and the username
/// claim. `now` is the current time in Unix seconds.
///
/// The header's `alg` must be RS256, ES256 or EdDSA and the key's own; a `jku`, `x5u` or
/// `jwk` header is never followed: only [`Keys`] sign. `exp` is required and must be later
/// than `now - leeway`; `nbf` and `iat`, if present, must not be later than `now + leeway`.
///
/// When the username claim is `email`, a token whose `email_verified` is present and not
/// `true` (OpenID Connect Core §5.1; some issuers send the string `"true"`, which is accepted
/// too) is refused: an unverified address names no one. An absent `email_verified` is
/// accepted, since many issuers leave it out of access tokens.
pub fn validate(
    token: &str,
    keys: &Keys,
    config: &OAuthConfig,
    now: i64,
) -> Result<Validated, TokenError> {
    if token.len() > MAX_MESSAGE_LEN {
        return Err(TokenError::Malformed);
    }
    let (alg, kid) = peek_header(token)?;
    let key = keys.select(alg, kid.as_deref())?;
    if !ring_provider::install() {
        return Err(TokenError::BadSignature);
    }
    // Only the signature is jsonwebtoken's to check; the claims are checked below.
    let mut validation = Validation::new(key.alg.jwt());
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let data =
        jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation).map_err(|e| {
            match e.kind() {
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidKeyFormat
                | ErrorKind::InvalidRsaKey(_)
                | ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidEddsaKey
                | ErrorKind::Provider(_) => TokenError::BadSignature,
                _ => TokenError::Malformed,
            }
        })?;
    check_claims(&data.claims, config, now)
}

/// Validate the token of `request` and check the identity it names against the token's user:
/// [`validate`] then [`check_identity`].
pub fn authenticate(
    request: &BearerRequest,
    keys: &Keys,
    config: &OAuthConfig,
    now: i64,
) -> Result<Validated, TokenError> {
    let validated = validate(&request.token, keys, config, now)?;
    check_identity(request.authzid.as_deref(), &validated)?;
    Ok(validated)
}

/// The identity the client named (OAUTHBEARER `a=`, XOAUTH2 `user=`) must be the token's user,
/// ASCII case aside: acting as someone else is not offered. Naming none is fine: the token says
/// who.
pub fn check_identity(identity: Option<&str>, validated: &Validated) -> Result<(), TokenError> {
    match identity {
        None => Ok(()),
        Some(name) if name.eq_ignore_ascii_case(&validated.username) => Ok(()),
        Some(_) => Err(TokenError::IdentityMismatch),
    }
}

/// The header's `alg` (one of ours, or refused) and `kid`, read before any key is chosen.
fn peek_header(token: &str) -> Result<(KeyAlg, Option<String>), TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&header).map_err(|_| TokenError::Malformed)?;
    let alg = match header.get("alg") {
        Some(Value::String(name)) => KeyAlg::from_name(name)
            .ok_or_else(|| TokenError::UnsupportedAlgorithm(printable(name)))?,
        _ => return Err(TokenError::Malformed),
    };
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(TokenError::Malformed),
    };
    Ok((alg, kid))
}

/// RFC 7519 §4.1 claims, strictly typed.
fn check_claims(
    claims: &Map<String, Value>,
    config: &OAuthConfig,
    now: i64,
) -> Result<Validated, TokenError> {
    // An empty configured issuer or audience would match a token that carries an empty one.
    match claims.get("iss") {
        Some(Value::String(iss)) if !config.issuer.is_empty() && *iss == config.issuer => {}
        Some(Value::String(_)) | None => return Err(TokenError::WrongIssuer),
        Some(_) => return Err(TokenError::InvalidClaim("iss")),
    }
    let audience = config.audience.as_str();
    let aud_ok = !audience.is_empty()
        && match claims.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
            None => false,
            Some(_) => return Err(TokenError::InvalidClaim("aud")),
        };
    if !aud_ok {
        return Err(TokenError::WrongAudience);
    }

    let leeway = i64::try_from(config.leeway_secs).unwrap_or(i64::MAX);
    let exp = claims
        .get("exp")
        .and_then(numeric_date)
        .ok_or(TokenError::InvalidClaim("exp"))?;
    if exp <= now.saturating_sub(leeway) {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = numeric_date(nbf).ok_or(TokenError::InvalidClaim("nbf"))?;
        if nbf > now.saturating_add(leeway) {
            return Err(TokenError::NotYetValid);
        }
    }
    if let Some(iat) = claims.get("iat") {
        let iat = numeric_date(iat).ok_or(TokenError::InvalidClaim("iat"))?;
        if iat > now.saturating_add(leeway) {
            return Err(TokenError::IssuedInFuture);
        }
    }

    let username = match claims.get(&config.username_claim) {
        Some(Value::String(name)) if !name.is_empty() && !name.chars().any(char::is_control) => {
            name.to_ascii_lowercase()
        }
        _ => return Err(TokenError::UsernameClaim),
    };
    if config.username_claim == "email" {
        match claims.get("email_verified") {
            None | Some(Value::Bool(true)) => {}
            Some(Value::String(s)) if s == "true" => {}
            Some(_) => return Err(TokenError::EmailNotVerified),
        }
    }
    let subject = match claims.get("sub") {
        None => None,
        Some(Value::String(sub)) => Some(sub.clone()),
        Some(_) => return Err(TokenError::InvalidClaim("sub")),
    };
    Ok(Validated {
        username,
        expires_at: exp,
        subject,
    })
}

/// A NumericDate (RFC 7519 §2): seconds since the epoch, possibly fractional; rounded down,
/// saturating at the ends of `i64`. Any other JSON type is `None`.
fn numeric_date(value: &Value) -> Option<i64> {
    if let Some(secs) = value.as_i64() {
        return Some(secs);
    }
    if value.as_u64().is_some() {
        return Some(i64::MAX);
    }
    let secs = value.as_f64()?;
    // `as` saturates a float that does not fit.
    secs.is_finite().then(|| secs.floor() as i64)
}
