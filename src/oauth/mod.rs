//! OAuth 2.0 bearer tokens for SASL, server side: OAUTHBEARER (RFC 7628) and Google's XOAUTH2,
//! with validation of JWT access tokens against the issuer's keys. Sans-IO: the caller passes
//! the decoded client message, the JWKS document as bytes and the time as Unix seconds; nothing
//! here reads a file, a socket or the clock, and nothing fetches the keys.
//!
//! # An exchange
//!
//! Both mechanisms are client-first (RFC 7628 §3.2; SASL-IR, RFC 4959, carries the message in
//! the command). Without an initial response the server sends an empty challenge and the
//! client's answer is the message.
//!
//! 1. [`parse_oauthbearer`] or [`parse_xoauth2`] turns the decoded message into a
//!    [`BearerRequest`], or a [`MessageError`].
//! 2. [`authenticate`] ([`validate`] then [`check_identity`]) checks the token against
//!    [`Keys`] (read once with [`Keys::from_jwks`]) and an [`OAuthConfig`], giving the user in
//!    [`Validated`], or a [`TokenError`].
//! 3. On success the exchange is done: the user is `Validated::username`.
//! 4. On failure the server does not fail at once. RFC 7628 §3.2.2: it sends the JSON of
//!    [`error_challenge`] as a challenge (with the error's `status()`), the client answers with
//!    the single byte `0x01` (§3.2.3; in practice whatever it sends is ignored), and only then
//!    does the server fail the exchange (IMAP `NO`, SMTP `535`, POP3 `-ERR`). XOAUTH2 clients
//!    follow the same steps, so one failure path serves both.
//!
//! Where this module fits: `sasl` runs the exchange and frames the challenges; this module
//! parses, validates and formats, and is layered with the protocols (`tests/layering.rs`).
//!
//! # Cryptography
//!
//! jsonwebtoken parses tokens and JWKs; signatures are checked with ring through
//! [`install_crypto_provider`]'s provider (see `ring_provider.rs` for why). Only RS256, ES256 and
//! EdDSA (Ed25519) are accepted, and each only with a key of its own kind.

mod message;
mod ring_provider;
mod token;

#[cfg(test)]
mod tests;

pub use message::{parse_oauthbearer, parse_xoauth2, BearerRequest, MessageError, MAX_MESSAGE_LEN};
pub use ring_provider::install as install_crypto_provider;
pub use token::{
    authenticate, check_identity, validate, Keys, KeysError, OAuthConfig, TokenError, Validated,
    DEFAULT_LEEWAY_SECS, DEFAULT_USERNAME_CLAIM, MAX_JWKS_LEN,
};

/// RFC 6750 §3.1: the token is expired, revoked, malformed or invalid for another reason
/// (bad signature, other issuer or audience, another user than the one named).
pub const STATUS_INVALID_TOKEN: &str = "invalid_token";
/// RFC 6750 §3.1: the request (the SASL message) is malformed.
pub const STATUS_INVALID_REQUEST: &str = "invalid_request";
/// RFC 6750 §3.1: the token lacks a scope the server requires.
pub const STATUS_INSUFFICIENT_SCOPE: &str = "insufficient_scope";

/// The server's failure challenge (RFC 7628 §3.2.2), as raw bytes for the protocol to
/// base64-encode: `{"status":"invalid_token","scope":"…","openid-configuration":"…"}`.
///
/// `status` is one of the `STATUS_*` values (or an error's `status()`); `scope` is the
/// space-separated scopes a token needs; `openid_configuration` is the URL of the issuer's
/// discovery document, from which a client can learn where to get a token. The two optional
/// members are left out when `None`. The strings are JSON-escaped, so the result is valid JSON
/// whatever they hold.
pub fn error_challenge(
    status: &str,
    scope: Option<&str>,
    openid_configuration: Option<&str>,
) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Challenge<'a> {
        status: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        scope: Option<&'a str>,
        #[serde(
            rename = "openid-configuration",
            skip_serializing_if = "Option::is_none"
        )]
        openid_configuration: Option<&'a str>,
    }
    let challenge = Challenge {
        status,
        scope,
        openid_configuration,
    };
    // Serializing string fields cannot fail; the fallback only keeps this free of panics.
    serde_json::to_vec(&challenge).unwrap_or_else(|_| br#"{"status":"invalid_token"}"#.to_vec())
}
