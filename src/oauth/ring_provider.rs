//! jsonwebtoken's cryptography on ring.
//!
//! jsonwebtoken (10 and later) parses and frames tokens itself and hands signing and
//! verification to a [`CryptoProvider`]; it ships two, on aws-lc-rs and on the RustCrypto
//! crates. ringpost already builds ring (rustls, DKIM), so this provider keeps the token
//! signatures on ring rather than building a second crypto library.
//!
//! Only the three algorithms ringpost accepts are here: RS256 (RSASSA-PKCS1-v1_5 with SHA-256,
//! RFC 7518 §3.3; 2048 to 8192 bit moduli, ring's bounds), ES256 (ECDSA P-256 with SHA-256,
//! RFC 7518 §3.4; the fixed-width `r || s` form JWS uses) and EdDSA with Ed25519 (RFC 8037).
//! Every other algorithm, HMAC above all, is refused by both factories, so even a caller that
//! skipped [`super::validate`]'s own checks could not be led into algorithm confusion here.
//!
//! Signing exists for tests and tools that mint tokens (`jsonwebtoken::encode`): RS256 from a
//! PKCS#1 or PKCS#8 DER private key, ES256 and EdDSA from PKCS#8 DER.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents,
    UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};

/// The provider, installed process-wide by [`install`].
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key,
        rsa_pub_components_from_public_key,
        ec_pub_components_from_private_key,
        ed_pub_components_from_private_key,
        compute_digest,
    },
};

/// Install the ring provider as jsonwebtoken's process-wide default, unless one is already
/// installed (normally this one: the call is cheap and idempotent). Returns whether a provider
/// is in place, so that jsonwebtoken never reaches its panic for a missing one.
///
/// [`super::validate`] calls this itself; call it before using jsonwebtoken directly, for
/// example to sign test tokens with `jsonwebtoken::encode`.
pub fn install() -> bool {
    // Err only means that a provider was installed first; jsonwebtoken keeps that one.
    let _ = PROVIDER.install_default();
    CryptoProvider::try_get_default().is_some()
}

/// The family each accepted algorithm needs its key to be of.
fn family_of(algorithm: Algorithm) -> Option<AlgorithmFamily> {
    match algorithm {
        Algorithm::RS256 => Some(AlgorithmFamily::Rsa),
        Algorithm::ES256 => Some(AlgorithmFamily::Ec),
        Algorithm::EdDSA => Some(AlgorithmFamily::Ed),
        _ => None,
    }
}

struct RingVerifier {
    algorithm: Algorithm,
    key: DecodingKey,
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    let family = family_of(*algorithm).ok_or(ErrorKind::UnsupportedAlgorithm)?;
    if key.family() != family {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(Box::new(RingVerifier {
        algorithm: *algorithm,
        key: key.clone(),
    }))
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let verified = match (self.algorithm, self.key.kind()) {
            (Algorithm::RS256, DecodingKeyKind::RsaModulusExponent { n, e }) => {
                RsaPublicKeyComponents { n, e }.verify(&RSA_PKCS1_2048_8192_SHA256, msg, sig)
            }
            // A DER `RSAPublicKey` (PKCS#1), as `DecodingKey::from_rsa_der` holds it.
            (Algorithm::RS256, DecodingKeyKind::SecretOrDer(der)) => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).verify(msg, sig)
            }
            // The uncompressed point `04 || x || y`, as `DecodingKey::from_ec_components`
            // builds it from a JWK.
            (Algorithm::ES256, DecodingKeyKind::SecretOrDer(point)) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(msg, sig)
            }
            (Algorithm::EdDSA, DecodingKeyKind::SecretOrDer(x)) => {
                UnparsedPublicKey::new(&ED25519, x).verify(msg, sig)
            }
            _ => return Err(signature::Error::new()),
        };
        verified.map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

enum RingSigner {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    let family = family_of(*algorithm).ok_or(ErrorKind::UnsupportedAlgorithm)?;
    if key.family() != family {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let der = key.as_bytes();
    let signer = match algorithm {
        Algorithm::RS256 => RsaKeyPair::from_der(der)
            .or_else(|_| RsaKeyPair::from_pkcs8(der))
            .map(RingSigner::Rsa)
            .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?,
        Algorithm::ES256 => {
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
                .map(RingSigner::Ecdsa)
                .map_err(|_| ErrorKind::InvalidEcdsaKey)?
        }
        _ => Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map(RingSigner::Ed25519)
            .map_err(|_| ErrorKind::InvalidEddsaKey)?,
    };
    Ok(Box::new(signer))
}

impl Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let rng = SystemRandom::new();
        match self {
            RingSigner::Rsa(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .map_err(|_| signature::Error::new())?;
                Ok(sig)
            }
            RingSigner::Ecdsa(pair) => pair
                .sign(&rng, msg)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| signature::Error::new()),
            RingSigner::Ed25519(pair) => Ok(pair.sign(msg).as_ref().to_vec()),
        }
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        match self {
            RingSigner::Rsa(_) => Algorithm::RS256,
            RingSigner::Ecdsa(_) => Algorithm::ES256,
            RingSigner::Ed25519(_) => Algorithm::EdDSA,
        }
    }
}

// JWK helpers (`Jwk::from_encoding_key`, thumbprints). ringpost does not need them; they are
// here so that a caller who does gets an answer or an error, never the panic of
// `KeyUtils::new_unimplemented`.

fn rsa_pub_components_from_private_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let pair = RsaKeyPair::from_der(der)
        .or_else(|_| RsaKeyPair::from_pkcs8(der))
        .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?;
    let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok((components.n, components.e))
}

fn rsa_pub_components_from_public_key(_der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
    // ring parses a public key only to verify with it.
    Err(ErrorKind::Provider("ring does not take apart RSA public keys".into()).into())
}

fn ec_pub_components_from_private_key(
    der: &[u8],
    algorithm: Algorithm,
) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>), Error> {
    if algorithm != Algorithm::ES256 {
        return Err(ErrorKind::InvalidEcdsaKey.into());
    }
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
            .map_err(|_| ErrorKind::InvalidEcdsaKey)?;
    match pair.public_key().as_ref() {
        [0x04, xy @ ..] if xy.len() == 64 => {
            let (x, y) = xy.split_at(32);
            Ok((EllipticCurve::P256, x.to_vec(), y.to_vec()))
        }
        _ => Err(ErrorKind::InvalidEcdsaKey.into()),
    }
}

fn ed_pub_components_from_private_key(der: &[u8], curve: &EllipticCurve) -> Result<Vec<u8>, Error> {
    if *curve != EllipticCurve::Ed25519 {
        return Err(ErrorKind::InvalidEddsaKey.into());
    }
    let pair =
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| ErrorKind::InvalidEddsaKey)?;
    Ok(pair.public_key().as_ref().to_vec())
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>, Error> {
    let algorithm = match hash {
        ThumbprintHash::SHA256 => &ring::digest::SHA256,
        ThumbprintHash::SHA384 => &ring::digest::SHA384,
        ThumbprintHash::SHA512 => &ring::digest::SHA512,
        _ => return Err(ErrorKind::Provider("unknown thumbprint hash".into()).into()),
    };
    Ok(ring::digest::digest(algorithm, data).as_ref().to_vec())
}
