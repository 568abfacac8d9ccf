//! CATENATE (RFC 4469): an APPEND whose message is put together from literal text and parts
//! of messages already in the user's mailboxes, named by IMAP URLs (RFC 5092). Never does IO:
//! the session fetches what the URLs name.

use super::cursor::{Cursor, LiteralKind};
use super::fetch::{BodySection, Partial};
use super::Malformed;
use crate::mail::Uid;

/// One part of a CATENATE message (`cat-part`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    /// `TEXT literal`: the octets as sent.
    Text(Vec<u8>),
    /// `URL "…"`: a message or a part of one.
    Url(ImapUrl),
}

/// An IMAP URL naming a message or a section of one in the user's own mailboxes (RFC 5092
/// `imessagepart`: absolute `imap://user@host/…` or the `/…` path form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    /// The URL as the client wrote it (for `[BADURL]`).
    pub raw: String,
    /// The mailbox, percent-decoded (UTF-8; a modified UTF-7 name is decoded too).
    pub mailbox: String,
    pub uid_validity: Option<u32>,
    pub uid: Uid,
    /// `;SECTION=` (RFC 5092 `isection`), parsed like a FETCH section; `None` for the
    /// whole message.
    pub section: Option<BodySection>,
    /// `;PARTIAL=offset[.length]`.
    pub partial: Option<Partial>,
}

/// Why a URL cannot be used: the session answers `NO [BADURL url]` (RFC 4469 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadUrl;

fn percent_decode(s: &str) -> Result<Vec<u8>, BadUrl> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or(BadUrl)?;
            let hex = std::str::from_utf8(hex).map_err(|_| BadUrl)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| BadUrl)?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// `;NAME=value` at the start of `s` (case-insensitive name): the value and the rest.
fn param<'a>(s: &'a str, name: &str) -> Option<(&'a str, &'a str)> {
    let rest = s.strip_prefix(';')?;
    let (key, value) = rest.split_once('=')?;
    if !key.eq_ignore_ascii_case(name) {
        return None;
    }
    Some(match value.find('/') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, ""),
    })
}

impl ImapUrl {
    /// Parse an URL of a message or message part (RFC 5092 §3, the forms RFC 4469 §3
    /// allows): `imap://[user[;AUTH=…]@]host[:port]/mailbox[;UIDVALIDITY=n]/;UID=n
    /// [/;SECTION=s][/;PARTIAL=o[.l]]`, or the same from `/mailbox` on. URLAUTH is refused.
    pub fn parse(raw: &str) -> Result<ImapUrl, BadUrl> {
        let path = if let Some(rest) = raw
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("imap://"))
            .map(|_| &raw[7..])
        {
            // The server and user are ours: the session has only the user's own mailboxes.
            let slash = rest.find('/').ok_or(BadUrl)?;
            &rest[slash..]
        } else {
            raw
        };
        let path = path.strip_prefix('/').ok_or(BadUrl)?;
        // The mailbox runs up to `;UIDVALIDITY=` or the `/;UID=` that follows it.
        let lower = path.to_ascii_lowercase();
        let uid_at = lower.find("/;uid=").ok_or(BadUrl)?;
        let (mailbox_part, rest) = path.split_at(uid_at);
        let (mailbox_enc, uid_validity) =
            match mailbox_part.to_ascii_lowercase().find(";uidvalidity=") {
                Some(i) => {
                    let n = &mailbox_part[i + ";uidvalidity=".len()..];
                    let n: u32 = n.parse().map_err(|_| BadUrl)?;
                    if n == 0 {
                        return Err(BadUrl);
                    }
                    (&mailbox_part[..i], Some(n))
                }
                None => (mailbox_part, None),
            };
        if mailbox_enc.is_empty() {
            return Err(BadUrl);
        }
        let decoded = String::from_utf8(percent_decode(mailbox_enc)?).map_err(|_| BadUrl)?;
        let mailbox = if decoded.contains('&') {
            crate::imap::mutf7::decode(decoded.as_bytes()).unwrap_or(decoded)
        } else {
            decoded
        };
        let (uid, mut rest) = param(&rest[1..], "UID").ok_or(BadUrl)?;
        let uid: u32 = uid.parse().map_err(|_| BadUrl)?;
        if uid == 0 {
            return Err(BadUrl);
        }
        let mut section = None;
        let mut partial = None;
        if let Some((s, r)) = rest.strip_prefix('/').and_then(|r| param(r, "SECTION")) {
            let s = String::from_utf8(percent_decode(s)?).map_err(|_| BadUrl)?;
            let text = format!("[{s}]");
            let mut c = Cursor::new_line(text.as_bytes());
            let parsed = c.body_section().map_err(|_| BadUrl)?;
            if !c.at_end() {
                return Err(BadUrl);
            }
            section = Some(parsed);
            rest = r;
        }
        if let Some((p, r)) = rest.strip_prefix('/').and_then(|r| param(r, "PARTIAL")) {
            let (offset, length) = match p.split_once('.') {
                Some((o, l)) => (o, Some(l)),
                None => (p, None),
            };
            let offset: u64 = offset.parse().map_err(|_| BadUrl)?;
            let length = match length {
                Some(l) => {
                    let l: u64 = l.parse().map_err(|_| BadUrl)?;
                    std::num::NonZeroU64::new(l).ok_or(BadUrl)?
                }
                None => std::num::NonZeroU64::MAX,
            };
            partial = Some(Partial { offset, length });
            rest = r;
        }
        // Anything else (URLAUTH, EXPIRE, a search) is not a message part.
        if !rest.is_empty() {
            return Err(BadUrl);
        }
        Ok(ImapUrl {
            raw: raw.to_string(),
            mailbox,
            uid_validity,
            uid: Uid(uid),
            section,
            partial,
        })
    }
}

impl Cursor<'_> {
    /// `"CATENATE" SP "(" cat-part *(SP cat-part) ")"` after `CATENATE` (RFC 4469 §5):
    /// `cat-part = "TEXT" SP literal / "URL" SP astring`; with BINARY a TEXT literal8 too.
    pub(super) fn catenate(&mut self) -> Result<Vec<CatPart>, Malformed> {
        self.sp()?;
        self.paren_list(false, |c| {
            if c.eat_word(b"TEXT") {
                c.sp()?;
                let kind = if c.eat(b'~') {
                    LiteralKind::Binary
                } else {
                    LiteralKind::Text
                };
                return Ok(CatPart::Text(c.literal(kind)?.into_owned()));
            }
            if c.eat_word(b"URL") {
                c.sp()?;
                let raw = String::from_utf8(c.astring()?.into_owned())
                    .map_err(|_| Malformed::InvalidUtf8)?;
                return Ok(match ImapUrl::parse(&raw) {
                    Ok(url) => CatPart::Url(url),
                    // Well-formed IMAP, an URL the session refuses with BADURL.
                    Err(BadUrl) => CatPart::Url(ImapUrl {
                        raw,
                        mailbox: String::new(),
                        uid_validity: None,
                        uid: Uid(0),
                        section: None,
                        partial: None,
                    }),
                });
            }
            Err(Malformed::InvalidCatenatePart)
        })
    }
}
