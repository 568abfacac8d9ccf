//! `[[dkim]]`: the keys submitted mail is signed with (RFC 6376; Ed25519 is RFC 8463).
//!
//! Each table names a signing domain, a selector and a private key (PEM: PKCS#8 Ed25519, or
//! RSA in PKCS#1 or PKCS#8). The key is read and checked here, when the configuration is
//! loaded — at start, by `check-config` and at every SIGHUP — so a missing or unusable key
//! refuses the file with an error naming the table, and a reload picks up new keys.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mail_auth::common::crypto::{DkimKey, Ed25519Key, RsaKey, Sha256};
pub use mail_auth::dkim::Canonicalization;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use serde::Deserialize;

use super::{ConfigError, Invalid};

/// The header fields signed when a table names none: those a recipient sees and that say
/// who wrote what, when and in reply to what (RFC 6376 §5.4.1). Fields a message lacks are
/// still listed in `h=`, so nobody can add them on the way without breaking the signature.
pub const DEFAULT_HEADERS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "In-Reply-To",
    "References",
    "Reply-To",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDkim {
    domain: String,
    selector: String,
    key: PathBuf,
    #[serde(default)]
    headers: Option<Vec<String>>,
    #[serde(default = "relaxed")]
    canonicalization: String,
}

fn relaxed() -> String {
    "relaxed/relaxed".into()
}

/// The two signature algorithms ringpost signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DkimAlgorithm {
    /// `ed25519-sha256` (RFC 8463).
    Ed25519,
    /// `rsa-sha256`, with the modulus size in bits.
    Rsa { bits: usize },
}

impl DkimAlgorithm {
    /// The `k=` tag of the key's DNS record.
    pub fn key_type(self) -> &'static str {
        match self {
            DkimAlgorithm::Ed25519 => "ed25519",
            DkimAlgorithm::Rsa { .. } => "rsa",
        }
    }
}

/// A loaded private key. Two keys are equal when their public halves are.
#[derive(Clone)]
pub struct DkimPrivateKey {
    algorithm: DkimAlgorithm,
    /// The public key as the DNS record's `p=` carries it, decoded: the raw 32 bytes for
    /// Ed25519 (RFC 8463 §4.2), the SubjectPublicKeyInfo DER for RSA.
    public_key: Vec<u8>,
    signer: Arc<DkimKey>,
}

impl DkimPrivateKey {
    pub fn algorithm(&self) -> DkimAlgorithm {
        self.algorithm
    }

    /// The public key as the DNS record's `p=` tag holds it (before base64).
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The key mail-auth signs with.
    pub fn signer(&self) -> &DkimKey {
        &self.signer
    }

    /// The DNS TXT record's value: `v=DKIM1; k=…; p=…`.
    pub fn dns_record(&self) -> String {
        use base64::Engine as _;
        format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm.key_type(),
            base64::engine::general_purpose::STANDARD.encode(&self.public_key)
        )
    }

    /// Read a key from PEM text (PKCS#8 Ed25519, or RSA in PKCS#1 or PKCS#8).
    pub fn from_pem(pem: &[u8]) -> Result<DkimPrivateKey, String> {
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| format!("no private key in PEM form ({e})"))?;
        let rejected = |what: &str, e: mail_auth::Error| format!("{what} key rejected: {e}");
        match der {
            PrivateKeyDer::Pkcs8(pkcs8) => {
                let bytes = pkcs8.secret_pkcs8_der();
                // OpenSSL writes Ed25519 keys without their public half (PKCS#8 v1), ring
                // with it (v2): both are read.
                if let Ok(key) = Ed25519Key::from_pkcs8_maybe_unchecked_der(bytes) {
                    return Ok(DkimPrivateKey {
                        algorithm: DkimAlgorithm::Ed25519,
                        public_key: key.public_key(),
                        signer: Arc::new(DkimKey::Ed25519(key)),
                    });
                }
                let bits = ring::rsa::KeyPair::from_pkcs8(bytes)
                    .map_err(|e| {
                        format!("a PKCS#8 key that is neither Ed25519 nor a usable RSA key ({e})")
                    })?
                    .public()
                    .modulus_len()
                    * 8;
                let key = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(pkcs8))
                    .map_err(|e| rejected("RSA", e))?;
                Ok(DkimPrivateKey::rsa(key, bits))
            }
            PrivateKeyDer::Pkcs1(pkcs1) => {
                let bits = ring::rsa::KeyPair::from_der(pkcs1.secret_pkcs1_der())
                    .map_err(|e| format!("RSA key rejected ({e}; at least 2048 bits are needed)"))?
                    .public()
                    .modulus_len()
                    * 8;
                let key = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs1(pkcs1))
                    .map_err(|e| rejected("RSA", e))?;
                Ok(DkimPrivateKey::rsa(key, bits))
            }
            PrivateKeyDer::Sec1(_) => {
                Err("an EC key: DKIM signs with Ed25519 or RSA keys only".into())
            }
            _ => Err("a key of a kind DKIM does not sign with".into()),
        }
    }

    /// A new key in PEM (PKCS#8), and the key read back from it: Ed25519 from ring, RSA of
    /// `bits` (2048 to 4096) from the `rsa` crate (ring makes no RSA keys).
    pub fn generate(algorithm: DkimAlgorithm) -> Result<(String, DkimPrivateKey), String> {
        let der = match algorithm {
            DkimAlgorithm::Ed25519 => {
                let v2 = ring::signature::Ed25519KeyPair::generate_pkcs8(
                    &ring::rand::SystemRandom::new(),
                )
                .map_err(|e| format!("generating an Ed25519 key: {e}"))?;
                // ring writes PKCS#8 v2 (RFC 5958, with the public key), which OpenSSL 3.0
                // cannot read; written as v1 (RFC 8410 §7), the seed alone, as OpenSSL does.
                let seed = v2
                    .as_ref()
                    .strip_prefix(ED25519_PKCS8_V2_PREFIX)
                    .and_then(|rest| rest.get(..32))
                    .ok_or("generating an Ed25519 key: ring's key is not the expected PKCS#8")?;
                [ED25519_PKCS8_V1_PREFIX, seed].concat()
            }
            DkimAlgorithm::Rsa { bits } => {
                use rsa::pkcs8::EncodePrivateKey as _;
                if !(2048..=4096).contains(&bits) {
                    return Err(format!("{bits} bits: RSA keys have 2048 to 4096 bits"));
                }
                rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits)
                    .and_then(|k| k.to_pkcs8_der().map_err(rsa::Error::from))
                    .map_err(|e| format!("generating an RSA key: {e}"))?
                    .as_bytes()
                    .to_vec()
            }
        };
        let pem = pem_of("PRIVATE KEY", &der);
        let key = DkimPrivateKey::from_pem(pem.as_bytes())?;
        Ok((pem, key))
    }

    fn rsa(key: RsaKey<Sha256>, bits: usize) -> DkimPrivateKey {
        DkimPrivateKey {
            algorithm: DkimAlgorithm::Rsa { bits },
            public_key: spki_of_rsa(&key.public_key()),
            signer: Arc::new(DkimKey::Rsa(key)),
        }
    }
}

impl PartialEq for DkimPrivateKey {
    fn eq(&self, other: &Self) -> bool {
        self.algorithm == other.algorithm && self.public_key == other.public_key
    }
}

impl Eq for DkimPrivateKey {}

impl fmt::Debug for DkimPrivateKey {
    // Never the private half.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimPrivateKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// An RSAPublicKey (PKCS#1 DER) wrapped in a SubjectPublicKeyInfo, the form DKIM records
/// publish (`openssl rsa -pubout`, RFC 6376 §3.6.1).
fn spki_of_rsa(rsa_public_key: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier { rsaEncryption, NULL }
    const ALGORITHM: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0x00];
    bit_string.extend_from_slice(rsa_public_key);
    let mut body = ALGORITHM.to_vec();
    der_push(&mut body, 0x03, &bit_string);
    let mut spki = Vec::with_capacity(body.len() + 4);
    der_push(&mut spki, 0x30, &body);
    spki
}

/// The DER in front of the 32-byte seed of an Ed25519 key in PKCS#8 v1 (RFC 8410 §7) and in
/// ring's PKCS#8 v2.
const ED25519_PKCS8_V1_PREFIX: &[u8] = &[
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const ED25519_PKCS8_V2_PREFIX: &[u8] = &[
    0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// `der` as a PEM block of `label`, 64 characters a line.
fn pem_of(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// Append a DER element: tag, definite length, content.
fn der_push(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
}

/// One `[[dkim]]` table, checked, its key loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimConfig {
    /// The signing domain (`d=`), lower case.
    pub domain: String,
    /// The selector (`s=`): the key's DNS record is at `<selector>._domainkey.<domain>`.
    pub selector: String,
    /// Where the key was read from.
    pub key_path: PathBuf,
    pub key: DkimPrivateKey,
    /// The header fields to sign (`h=`), as configured.
    pub headers: Vec<String>,
    /// `c=`: header and body canonicalization.
    pub header_canonicalization: Canonicalization,
    pub body_canonicalization: Canonicalization,
}

/// Whether `domain` can be a DKIM signing domain: a host name of letters, digits, hyphens
/// and dots (an A-label for an international domain).
pub fn valid_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Whether `selector` can be a selector: one or more dot-separated DNS labels
/// (RFC 6376 §3.1).
pub fn valid_selector(selector: &str) -> bool {
    valid_domain(selector)
}

/// Read `c=` as `header/body` or just `header` (the body then `simple`, RFC 6376 §3.5).
fn canonicalization(text: &str) -> Option<(Canonicalization, Canonicalization)> {
    let one = |t: &str| match t {
        "relaxed" => Some(Canonicalization::Relaxed),
        "simple" => Some(Canonicalization::Simple),
        _ => None,
    };
    match text.split_once('/') {
        Some((h, b)) => Some((one(h)?, one(b)?)),
        None => Some((one(text)?, Canonicalization::Simple)),
    }
}

pub(super) fn check_dkim(
    raw: &[RawDkim],
    resolve: &dyn Fn(&Path) -> PathBuf,
    invalid: &Invalid,
) -> Result<Vec<DkimConfig>, ConfigError> {
    let mut out: Vec<DkimConfig> = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let key_name = |k: &str| format!("dkim[{i}].{k}");
        let domain = t.domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if !valid_domain(&domain) {
            return Err(invalid(
                &key_name("domain"),
                format!("{:?} is not a domain name", t.domain),
            ));
        }
        let selector = t.selector.trim().to_ascii_lowercase();
        if !valid_selector(&selector) {
            return Err(invalid(
                &key_name("selector"),
                format!(
                    "{:?} is not a selector (DNS labels: letters, digits, hyphens, dots)",
                    t.selector
                ),
            ));
        }
        if out
            .iter()
            .any(|d| d.domain == domain && d.selector == selector)
        {
            return Err(invalid(
                &key_name("selector"),
                format!("{selector:?} is given twice for {domain}"),
            ));
        }
        let headers = match &t.headers {
            None => DEFAULT_HEADERS.iter().map(|h| h.to_string()).collect(),
            Some(list) => {
                for h in list {
                    if h.is_empty() || !h.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                        return Err(invalid(
                            &key_name("headers"),
                            format!("{h:?} is not a header field name"),
                        ));
                    }
                }
                list.clone()
            }
        };
        // RFC 6376 §5.4: the From field MUST be signed.
        if !headers.iter().any(|h| h.eq_ignore_ascii_case("from")) {
            return Err(invalid(
                &key_name("headers"),
                "must include \"From\" (RFC 6376 §5.4)".into(),
            ));
        }
        let (header_canonicalization, body_canonicalization) =
            canonicalization(&t.canonicalization).ok_or_else(|| {
                invalid(
                    &key_name("canonicalization"),
                    format!(
                        "{:?}: expected \"relaxed/relaxed\", \"relaxed/simple\", \
                         \"simple/relaxed\" or \"simple/simple\"",
                        t.canonicalization
                    ),
                )
            })?;
        let key_path = resolve(&t.key);
        let pem = std::fs::read(&key_path).map_err(|e| {
            invalid(
                &key_name("key"),
                format!("cannot read {}: {e}", key_path.display()),
            )
        })?;
        let key = DkimPrivateKey::from_pem(&pem)
            .map_err(|e| invalid(&key_name("key"), format!("{}: {e}", key_path.display())))?;
        out.push(DkimConfig {
            domain,
            selector,
            key_path,
            key,
            headers,
            header_canonicalization,
            body_canonicalization,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[path = "dkim_tests.rs"]
pub(crate) mod tests;
