//! DKIM signatures (RFC 6376; Ed25519, RFC 8463) for submitted mail on its way out.
//!
//! A message is signed with every `[[dkim]]` key whose domain is the domain of an address in
//! its RFC 5322 `From:` field — the identifier DMARC aligns with (RFC 7489 §3.1.1) — not the
//! envelope sender's or the account's. Signing happens once, when the message is queued:
//! the fields go into the stored copy, so every recipient and every retry gets the same
//! bytes. mail-auth parses the message, canonicalizes it and writes the field; the keys are
//! ring's; the time (`t=`) is the caller's, so this module reads no clock.

use mail_auth::common::crypto::SigningKey;
use mail_auth::common::headers::{HeaderStream, HeaderWriter, Writable};
use mail_auth::dkim::Signature;
use mail_auth::AuthenticatedMessage;

use crate::config::dkim::DkimConfig;

/// One key's outcome for a message.
#[derive(Debug)]
pub struct Signed<'a> {
    pub config: &'a DkimConfig,
    /// The `DKIM-Signature:` field, folded, ending in CRLF; or why it could not be made.
    pub field: Result<String, String>,
}

/// The domains of the addresses in a message's `From:` field, lower case, each once.
fn from_domains(message: &AuthenticatedMessage<'_>) -> Vec<String> {
    let mut domains: Vec<String> = Vec::new();
    for address in message.froms() {
        let Some((_, domain)) = address.rsplit_once('@') else {
            continue;
        };
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if !domain.is_empty() && !domains.contains(&domain) {
            domains.push(domain);
        }
    }
    domains
}

/// Sign `message` (as the client sent it) with every key in `keys` for its `From:` domain,
/// at `now` (seconds since the Unix epoch), but only for `sender_domain`, the submitting
/// account's domain: on a server that hosts several customers' domains, nobody gets a
/// signature for a domain that is not theirs by writing it in `From:`. Empty when no key
/// applies.
pub fn sign<'a>(
    message: &[u8],
    keys: &'a [DkimConfig],
    sender_domain: &str,
    now: u64,
) -> Vec<Signed<'a>> {
    if keys.is_empty() {
        return Vec::new();
    }
    let Some(parsed) = AuthenticatedMessage::parse(message) else {
        return Vec::new();
    };
    let domains = from_domains(&parsed);
    let sender_domain = sender_domain.to_ascii_lowercase();
    keys.iter()
        .filter(|k| k.domain == sender_domain && domains.contains(&k.domain))
        .map(|config| Signed {
            config,
            field: sign_one(&parsed, config, now).map_err(|e| e.to_string()),
        })
        .collect()
}

/// The header fields and body of a parsed message, as mail-auth's canonicalization reads
/// them.
struct Fields<'a, 'x> {
    headers: std::slice::Iter<'a, (&'x [u8], &'x [u8])>,
    body: &'x [u8],
}

impl<'x> HeaderStream<'x> for Fields<'_, 'x> {
    fn next_header(&mut self) -> Option<(&'x [u8], &'x [u8])> {
        self.headers.next().copied()
    }

    fn body(&mut self) -> &'x [u8] {
        self.body
    }
}

/// The `DKIM-Signature:` field of `message` under `config`: what mail-auth's
/// `DkimSigner::sign` does, with the time given instead of read from the clock.
fn sign_one(
    message: &AuthenticatedMessage<'_>,
    config: &DkimConfig,
    now: u64,
) -> mail_auth::Result<String> {
    let key = config.key.signer();
    let template = Signature {
        v: 1,
        a: key.algorithm(),
        d: config.domain.clone(),
        s: config.selector.clone(),
        h: config.headers.clone(),
        ch: config.header_canonicalization,
        cb: config.body_canonicalization,
        ..Signature::default()
    };
    // The fields to sign, hashed bottom-up when a name occurs more than once (RFC 6376
    // §5.4.2), and `h=`: each one present, then the absent ones, so that they cannot be
    // added on the way.
    let fields = Fields {
        headers: message.raw_parsed_headers().iter(),
        body: message.raw_body(),
    };
    let (_, headers, signed, body) = template.canonicalize(fields);
    let mut signature = template;
    signature.bh = key.hash(body).as_ref().to_vec();
    signature.t = now;
    signature.h = signed;
    // RFC 6376 §3.7: the signed fields, then this field with an empty `b=`, canonicalized.
    let mut data = Vec::with_capacity(1024);
    headers.write(&mut data);
    signature.write(&mut data, false);
    signature.b = key.sign(data.as_slice())?;
    Ok(signature.to_header())
}

#[cfg(test)]
#[path = "dkim_tests.rs"]
mod tests;
