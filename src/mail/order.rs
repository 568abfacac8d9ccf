//! The keys SORT and THREAD order messages by (RFC 5256, RFC 5957), derived once per message
//! from its envelope and header block: the sent date, the base subject, the first address's
//! mailbox and display name, the Message-ID and References. The store keeps them per message
//! once a SORT or THREAD has asked (`store::order`), so an ordering reads no message and
//! parses nothing again.
//!
//! Strings are kept in the canonical form of `i;unicode-casemap` (RFC 5051, the default
//! comparator of RFC 5256): decoded (RFC 2047), white space collapsed, each character
//! case-folded (lowercased, where RFC 5051 titlecases: the two differ only for a few digraphs)
//! and fully decomposed (NFKD), compared by code point.

use super::header::{header_values, msg_ids};
use super::mime::{Envelope, EnvelopeAddress};

/// What ordering needs of one message, every string canonical. The envelope's part is
/// always there; `references` only once the header block was read (THREAD REFERENCES and
/// REFS need it, SORT and ORDEREDSUBJECT do not).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFields {
    /// The Date field in UTC (RFC 5256 §2.2), `None` without a valid one (the sent date is
    /// then the INTERNALDATE, which the index keeps).
    pub sent: Option<i64>,
    /// The base subject (RFC 5256 §2.1).
    pub subject: Box<str>,
    /// Whether extracting the base subject removed a reply or forward marker.
    pub reply: bool,
    /// The `addr-mailbox` of the first From, To and Cc address (RFC 5256 §3).
    pub from: Box<str>,
    pub to: Box<str>,
    pub cc: Box<str>,
    /// The display name of the first From and To address, or its address (RFC 5957 §3).
    pub display_from: Box<str>,
    pub display_to: Box<str>,
    /// The first valid msg-id of Message-ID.
    pub id: Option<Box<str>>,
    /// The msg-ids of References, else the first of In-Reply-To (RFC 5256 §2.4 step 1.A);
    /// `None` until the header block was read.
    pub references: Option<Box<[Box<str>]>>,
}

impl OrderFields {
    /// Every key the envelope gives (all but `references`).
    pub fn of(env: &Envelope) -> OrderFields {
        let sent = env
            .date
            .as_deref()
            .and_then(mail_parser::DateTime::parse_rfc822)
            .map(|d| d.to_timestamp());
        let decoded = env.subject.as_deref().map(decode_text).unwrap_or_default();
        let (base, reply) = base_subject(&decoded);
        let text = |list: &[EnvelopeAddress], f: fn(&EnvelopeAddress) -> String| -> Box<str> {
            first(list).map(f).unwrap_or_default().into_boxed_str()
        };
        OrderFields {
            sent,
            subject: fold(&base).into_boxed_str(),
            reply,
            from: text(&env.from, addr_mailbox),
            to: text(&env.to, addr_mailbox),
            cc: text(&env.cc, addr_mailbox),
            display_from: text(&env.from, display),
            display_to: text(&env.to, display),
            id: env
                .message_id
                .as_deref()
                .and_then(|v| msg_ids(v).into_iter().next())
                .map(String::into_boxed_str),
            references: None,
        }
    }

    /// These keys with `references` taken from the message's header block (`header`, up to
    /// the blank line; more is ignored only if it holds no References field).
    pub fn with_references(mut self, header: &[u8], env: &Envelope) -> OrderFields {
        let mut refs: Vec<Box<str>> = header_values(header, "References")
            .iter()
            .flat_map(|v| msg_ids(v))
            .map(String::into_boxed_str)
            .collect();
        if refs.is_empty() {
            // RFC 5256 §2.4 step 1.A: else the first valid Message-ID of In-Reply-To.
            refs.extend(
                env.in_reply_to
                    .as_deref()
                    .and_then(|v| msg_ids(v).into_iter().next())
                    .map(String::into_boxed_str),
            );
        }
        self.references = Some(refs.into_boxed_slice());
        self
    }
}

/// An unstructured header value with its RFC 2047 encoded-words decoded.
pub fn decode_text(raw: &str) -> String {
    if !raw.contains("=?") {
        return raw.to_string();
    }
    let mut bytes = b"Subject: ".to_vec();
    bytes.extend_from_slice(raw.as_bytes());
    bytes.extend_from_slice(b"\r\n\r\n");
    super::mime::parse_message(&bytes)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_else(|| raw.to_string())
}

/// The first real address of a list (group markers skipped).
fn first(list: &[EnvelopeAddress]) -> Option<&EnvelopeAddress> {
    list.iter()
        .find(|a| a.host.is_some() && a.mailbox.is_some())
}

/// RFC 5256 §3: the `addr-mailbox` (local part).
fn addr_mailbox(a: &EnvelopeAddress) -> String {
    fold(a.mailbox.as_deref().unwrap_or_default())
}

/// RFC 5957 §3: the display name, or the `addr-spec` without one.
fn display(a: &EnvelopeAddress) -> String {
    match a.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => fold(name),
        None => fold(&format!(
            "{}@{}",
            a.mailbox.as_deref().unwrap_or_default(),
            a.host.as_deref().unwrap_or_default()
        )),
    }
}

/// Canonical form for comparison: white space runs as one space, trimmed, case-folded and
/// decomposed.
pub fn fold(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        if word.is_ascii() {
            // Nothing to decompose: the common case, without the normalizer's tables.
            out.extend(word.chars().map(|c| c.to_ascii_lowercase()));
        } else {
            out.extend(word.chars().flat_map(char::to_lowercase).nfkd());
        }
    }
    out
}

/// RFC 5256 §2.1: the base subject of a decoded subject, and whether a reply or forward
/// marker (`Re:`, `Fwd:`, `(fwd)`, `[fwd: ...]`) was removed from it. Not yet case-folded.
pub fn base_subject(decoded: &str) -> (String, bool) {
    // Step 1: tabs and line breaks as spaces, runs of spaces as one.
    let mut s = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        let c = if c.is_ascii_whitespace() { ' ' } else { c };
        if c == ' ' && s.ends_with(' ') {
            continue;
        }
        s.push(c);
    }
    let mut reply = false;
    let mut s = s.as_str();
    loop {
        // Step 2: subj-trailer, `(fwd)` or WSP, repeatedly.
        loop {
            if let Some(rest) = s.strip_suffix(' ') {
                s = rest;
            } else if s.len() >= 5
                && s.is_char_boundary(s.len() - 5)
                && s[s.len() - 5..].eq_ignore_ascii_case("(fwd)")
            {
                s = &s[..s.len() - 5];
                reply = true;
            } else {
                break;
            }
        }
        // Steps 3 to 5: leaders, then one blob if something is left after it.
        loop {
            let before = s.len();
            while let Some((len, refwd)) = leader(s) {
                s = &s[len..];
                reply |= refwd;
            }
            if let Some(len) = blob(s) {
                if s[len..].bytes().any(|b| b != b' ') {
                    s = &s[len..];
                }
            }
            if s.len() == before {
                break;
            }
        }
        // Step 6: `[fwd: subject]`.
        if s.len() >= 6 && s.as_bytes()[..5].eq_ignore_ascii_case(b"[fwd:") && s.ends_with(']') {
            s = &s[5..s.len() - 1];
            reply = true;
            continue;
        }
        break;
    }
    (s.to_string(), reply)
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`: its length at the start of `s`.
fn blob(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first() != Some(&b'[') {
        return None;
    }
    let close = 1 + b[1..].iter().position(|&c| c == b'[' || c == b']')?;
    if b[close] != b']' {
        return None;
    }
    let mut end = close + 1;
    while b.get(end) == Some(&b' ') {
        end += 1;
    }
    Some(end)
}

/// `subj-leader = (*subj-blob subj-refwd) / WSP`: its length at the start of `s`, and
/// whether it was a `subj-refwd`.
fn leader(s: &str) -> Option<(usize, bool)> {
    if s.starts_with(' ') {
        return Some((1, false));
    }
    let mut pos = 0;
    while let Some(len) = blob(&s[pos..]) {
        pos += len;
    }
    refwd(&s[pos..]).map(|len| (pos + len, true))
}

/// `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`.
fn refwd(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let starts = |p: &[u8]| b.len() >= p.len() && b[..p.len()].eq_ignore_ascii_case(p);
    let prefixes: &[&[u8]] = &[b"re", b"fwd", b"fw"];
    for p in prefixes {
        if !starts(p) {
            continue;
        }
        let mut pos = p.len();
        while b.get(pos) == Some(&b' ') {
            pos += 1;
        }
        if let Some(len) = blob(&s[pos..]) {
            pos += len;
        }
        if b.get(pos) == Some(&b':') {
            return Some(pos + 1);
        }
    }
    None
}
