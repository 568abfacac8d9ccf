//! The client's message of OAUTHBEARER (RFC 7628 §3.1) and of XOAUTH2 (Google's older format),
//! after the protocol has base64-decoded it.
//!
//! OAUTHBEARER (RFC 7628 §3.1, GS2 header from RFC 5801 §4):
//!
//! ```text
//! client-resp = (gs2-header kvsep *kvpair kvsep) / kvsep
//! gs2-header  = gs2-cb-flag "," [ "a=" saslname ] ","   ; gs2-cb-flag: "n" / "y" / "p=" cb-name
//! kvsep       = %x01
//! kvpair      = key "=" value kvsep
//! key         = 1*ALPHA
//! value       = *(VCHAR / SP / HTAB / CR / LF)
//! ```
//!
//! for example `n,a=user@example.com,^Ahost=imap.example.com^Aport=993^Aauth=Bearer eyJ…^A^A`.
//! The keys are `auth` (required), `host` and `port`; others are ignored, as §3.1 asks.
//!
//! XOAUTH2: `user=user@example.com^Aauth=Bearer eyJ…^A^A`, the same key/value pairs without
//! a GS2 header.
//!
//! `auth` is what an HTTP `Authorization` field would hold: `"Bearer" 1*SP b64token`
//! (RFC 6750 §2.1), the scheme compared without regard to case (RFC 7628 §4, RFC 9110 §11.1).
//!
//! The alternative `client-resp = kvsep` is the client's dummy answer to an error challenge;
//! the exchange is failing by then, so it is no request and is refused
//! ([`MessageError::Gs2Header`]).

use std::fmt;

/// The longest message accepted, after base64 decoding: a JWT access token is a few KiB; the
/// bound keeps a hostile client from making the server hold or scan more.
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;

/// The key/value separator (`^A`).
const KVSEP: u8 = 0x01;

/// What the client asked for: a bearer token, and who it says it is.
///
/// `Debug` does not show the token: it is a credential.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerRequest {
    /// The identity the client names: OAUTHBEARER's GS2 `a=` (unescaped), XOAUTH2's `user=`.
    /// Compared with the token's user by [`super::check_identity`].
    pub authzid: Option<String>,
    /// The bearer token (a `b64token`, RFC 6750 §2.1), without the scheme.
    pub token: String,
    /// OAUTHBEARER's `host`: the name the client connected to (informational).
    pub host: Option<String>,
    /// OAUTHBEARER's `port`: the port the client connected to (informational).
    pub port: Option<u16>,
}

impl fmt::Debug for BearerRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerRequest")
            .field("authzid", &self.authzid)
            .field("token", &"[redacted]")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish()
    }
}

/// Why a client message is not a request. Each answers [`MessageError::status`]
/// `invalid_request` in the error challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("the message is longer than {MAX_MESSAGE_LEN} bytes")]
    TooLong,
    /// `p=`: the client wants channel binding, which OAUTHBEARER does not define (there is no
    /// OAUTHBEARER-PLUS).
    #[error("the client asks for channel binding, which OAUTHBEARER does not define")]
    ChannelBinding,
    #[error("malformed GS2 header")]
    Gs2Header,
    /// The `a=` saslname or the XOAUTH2 `user=` is empty, badly escaped, not UTF-8 or holds a
    /// control character.
    #[error("malformed identity (`a=` or `user=`)")]
    Identity,
    #[error("malformed key/value pair")]
    KvPair,
    #[error("a key is given twice")]
    DuplicateKey,
    /// The closing `^A` is missing, or something follows it.
    #[error("the message does not end with the key/value terminator")]
    Framing,
    #[error("no `auth` key")]
    MissingAuth,
    #[error("no `user` key")]
    MissingUser,
    /// `auth` holds no `Bearer` credential (another scheme, or an empty value).
    #[error("the `auth` value is not a Bearer credential")]
    NotBearer,
    /// The token is empty or holds a character outside `b64token`.
    #[error("the bearer token is empty or malformed")]
    Token,
    #[error("the `port` value is not a port number")]
    Port,
}

impl MessageError {
    /// The RFC 7628 §3.2.2 status for [`super::error_challenge`]: a malformed request.
    pub fn status(&self) -> &'static str {
        super::STATUS_INVALID_REQUEST
    }
}

/// Parse an OAUTHBEARER client response (RFC 7628 §3.1).
pub fn parse_oauthbearer(message: &[u8]) -> Result<BearerRequest, MessageError> {
    if message.len() > MAX_MESSAGE_LEN {
        return Err(MessageError::TooLong);
    }
    let (authzid, rest) = parse_gs2_header(message)?;
    let rest = rest.strip_prefix(&[KVSEP]).ok_or(MessageError::Framing)?;
    let mut auth = None;
    let mut host = None;
    let mut port = None;
    for (key, value) in parse_kvpairs(rest)? {
        match key {
            "auth" => set_once(&mut auth, value)?,
            "host" => set_once(&mut host, value)?,
            "port" => set_once(&mut port, value)?,
            // RFC 7628 §3.1: keys the server does not know are ignored.
            _ => {}
        }
    }
    let token = bearer_token(auth.ok_or(MessageError::MissingAuth)?)?;
    let port = port.map(parse_port).transpose()?;
    Ok(BearerRequest {
        authzid,
        token: token.to_string(),
        host: host.map(str::to_string),
        port,
    })
}

/// Parse an XOAUTH2 client response: `user=… ^A auth=Bearer … ^A ^A`.
pub fn parse_xoauth2(message: &[u8]) -> Result<BearerRequest, MessageError> {
    if message.len() > MAX_MESSAGE_LEN {
        return Err(MessageError::TooLong);
    }
    let mut user = None;
    let mut auth = None;
    for (key, value) in parse_kvpairs(message)? {
        match key {
            "user" => set_once(&mut user, value)?,
            "auth" => set_once(&mut auth, value)?,
            _ => {}
        }
    }
    let user = user.ok_or(MessageError::MissingUser)?;
    // The value grammar allows blanks and line breaks; a user name holds none.
    if user.is_empty() || user.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(MessageError::Identity);
    }
    let token = bearer_token(auth.ok_or(MessageError::MissingAuth)?)?;
    Ok(BearerRequest {
        authzid: Some(user.to_string()),
        token: token.to_string(),
        host: None,
        port: None,
    })
}

/// `gs2-cb-flag "," [gs2-authzid] ","` (RFC 5801 §4): the unescaped authzid and the rest.
///
/// The GS2 non-standard flag `F,` is refused: it concerns GSS-API mechanisms, which
/// OAUTHBEARER is not. `y` (the client could bind but thinks the server cannot) is accepted:
/// OAUTHBEARER has no binding variant for it to have been downgraded from.
fn parse_gs2_header(message: &[u8]) -> Result<(Option<String>, &[u8]), MessageError> {
    let rest = match message {
        [b'n' | b'y', b',', rest @ ..] => rest,
        [b'p', b'=', ..] => return Err(MessageError::ChannelBinding),
        _ => return Err(MessageError::Gs2Header),
    };
    let (field, rest) = split_once(rest, b',').ok_or(MessageError::Gs2Header)?;
    if field.is_empty() {
        return Ok((None, rest));
    }
    let name = field.strip_prefix(b"a=").ok_or(MessageError::Gs2Header)?;
    Ok((Some(decode_saslname(name)?), rest))
}

/// `saslname = 1*(UTF8-char-safe / "=2C" / "=3D")` (RFC 5801 §4): `=2C` is `,` and `=3D` is
/// `=`; a bare `=` or NUL is malformed. Control characters are refused as well: the name is an
/// identity to compare and to log.
fn decode_saslname(name: &[u8]) -> Result<String, MessageError> {
    let mut out = Vec::with_capacity(name.len());
    let mut rest = name;
    while let Some((&b, after)) = rest.split_first() {
        rest = after;
        match b {
            b'=' => {
                let decoded = match rest {
                    [b'2', b'C', ..] => b',',
                    [b'3', b'D', ..] => b'=',
                    _ => return Err(MessageError::Identity),
                };
                out.push(decoded);
                rest = rest.get(2..).unwrap_or_default();
            }
            b if b < 0x20 || b == 0x7F => return Err(MessageError::Identity),
            b => out.push(b),
        }
    }
    if out.is_empty() {
        return Err(MessageError::Identity);
    }
    String::from_utf8(out).map_err(|_| MessageError::Identity)
}

/// `*kvpair kvsep` running to the end of the message: the pairs, in order.
fn parse_kvpairs(mut rest: &[u8]) -> Result<Vec<(&str, &str)>, MessageError> {
    let mut pairs = Vec::new();
    loop {
        let (pair, after) = split_once(rest, KVSEP).ok_or(MessageError::Framing)?;
        if pair.is_empty() {
            // The closing kvsep: nothing may follow it.
            return if after.is_empty() {
                Ok(pairs)
            } else {
                Err(MessageError::Framing)
            };
        }
        let (key, value) = split_once(pair, b'=').ok_or(MessageError::KvPair)?;
        if key.is_empty() || !key.iter().all(u8::is_ascii_alphabetic) {
            return Err(MessageError::KvPair);
        }
        if !value.iter().all(|&b| is_value_byte(b)) {
            return Err(MessageError::KvPair);
        }
        // Both are ASCII by now.
        let key = std::str::from_utf8(key).map_err(|_| MessageError::KvPair)?;
        let value = std::str::from_utf8(value).map_err(|_| MessageError::KvPair)?;
        pairs.push((key, value));
        rest = after;
    }
}

/// `value = *(VCHAR / SP / HTAB / CR / LF)`.
fn is_value_byte(b: u8) -> bool {
    matches!(b, 0x21..=0x7E | b' ' | b'\t' | b'\r' | b'\n')
}

fn set_once<'a>(slot: &mut Option<&'a str>, value: &'a str) -> Result<(), MessageError> {
    if slot.replace(value).is_some() {
        return Err(MessageError::DuplicateKey);
    }
    Ok(())
}

/// `credentials = "Bearer" 1*SP b64token` (RFC 6750 §2.1) → the token.
fn bearer_token(auth: &str) -> Result<&str, MessageError> {
    let (scheme, rest) = auth.split_once(' ').ok_or(MessageError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(MessageError::NotBearer);
    }
    let token = rest.trim_start_matches(' ');
    // b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let body = token.trim_end_matches('=');
    let b64token_byte = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
    if body.is_empty() || !body.bytes().all(b64token_byte) {
        return Err(MessageError::Token);
    }
    Ok(token)
}

/// A decimal port number (RFC 7628 §3.1).
fn parse_port(value: &str) -> Result<u16, MessageError> {
    if value.is_empty() || value.len() > 5 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MessageError::Port);
    }
    value.parse().map_err(|_| MessageError::Port)
}

/// Split at the first `sep`, which belongs to neither side.
fn split_once(bytes: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let at = memchr::memchr(sep, bytes)?;
    Some((bytes.get(..at)?, bytes.get(at + 1..)?))
}
