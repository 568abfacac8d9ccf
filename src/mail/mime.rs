//! A message's MIME summary, as the store's index keeps it: ENVELOPE fields and the
//! BODYSTRUCTURE tree with byte offsets, parsed once at delivery with mail-parser (RFC 9051
//! §7.5.2). It never re-parses a stored message and never formats IMAP responses; the IMAP
//! module renders from this. Never does IO.

use mail_parser::{Address, MessageParser, MimeHeaders, PartType};

/// One address of an ENVELOPE field: display name, local part and domain.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct EnvelopeAddress {
    pub name: Option<String>,
    pub mailbox: Option<String>,
    pub host: Option<String>,
}

/// The ENVELOPE fields (RFC 9051 §7.5.2). Date, subject and ids are the raw header values.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct Envelope {
    pub date: Option<String>,
    pub subject: Option<String>,
    pub from: Vec<EnvelopeAddress>,
    pub sender: Vec<EnvelopeAddress>,
    pub reply_to: Vec<EnvelopeAddress>,
    pub to: Vec<EnvelopeAddress>,
    pub cc: Vec<EnvelopeAddress>,
    pub bcc: Vec<EnvelopeAddress>,
    pub in_reply_to: Option<String>,
    pub message_id: Option<String>,
}

/// A MIME parameter (`charset=utf-8`).
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Param {
    pub name: String,
    pub value: String,
}

/// One MIME part. Parts are stored flat in pre-order; `parent` is the index of the enclosing
/// part (`None` for the root), so the BODYSTRUCTURE tree is rebuilt without recursion in the
/// archived type. Offsets are byte offsets in the whole message, for `BODY[1.2]` fetches.
#[derive(Debug, Clone, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct PartSummary {
    pub parent: Option<u32>,
    pub media_type: String,
    pub subtype: String,
    pub params: Vec<Param>,
    pub id: Option<String>,
    pub description: Option<String>,
    pub encoding: Option<String>,
    pub disposition: Option<String>,
    /// Content-Disposition parameters (`filename`): clients name attachments from them.
    pub disposition_params: Vec<Param>,
    /// Content-Language tags (RFC 3282).
    pub language: Vec<String>,
    /// Content-Location (RFC 2557).
    pub location: Option<String>,
    /// The ENVELOPE of a message/rfc822 part's own header (RFC 9051 §7.5.2 body-type-msg).
    pub envelope: Option<Box<Envelope>>,
    pub header_offset: u32,
    pub body_offset: u32,
    pub body_end: u32,
    /// Lines in the body (text/* and message/rfc822 parts, RFC 9051 §7.5.2).
    pub lines: u32,
}

/// What the index keeps of a message's MIME structure.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct MimeSummary {
    pub envelope: Envelope,
    pub parts: Vec<PartSummary>,
}

impl MimeSummary {
    /// Parse `raw` once. A message mail-parser cannot read gets an empty envelope and a single
    /// `text/plain` part covering everything, so delivery never fails on bad MIME.
    pub fn parse(raw: &[u8]) -> MimeSummary {
        single_part(raw).unwrap_or_else(|| MimeSummary::parse_whole(raw))
    }

    /// Parse the whole message (every part, bodies decoded by mail-parser).
    fn parse_whole(raw: &[u8]) -> MimeSummary {
        let Some(message) = parse_message(raw) else {
            return MimeSummary::opaque(raw);
        };
        let envelope = envelope_of(&message);
        let mut parts = Vec::new();
        walk(&message, raw, 0, 0, None, &mut parts, 0);
        if parts.is_empty() {
            return MimeSummary {
                envelope,
                parts: MimeSummary::opaque(raw).parts,
            };
        }
        MimeSummary { envelope, parts }
    }

    fn opaque(raw: &[u8]) -> MimeSummary {
        let len = u32::try_from(raw.len()).unwrap_or(u32::MAX);
        MimeSummary {
            envelope: Envelope::default(),
            parts: vec![PartSummary {
                parent: None,
                media_type: "text".into(),
                subtype: "plain".into(),
                params: Vec::new(),
                id: None,
                description: None,
                encoding: None,
                disposition: None,
                disposition_params: Vec::new(),
                language: Vec::new(),
                location: None,
                envelope: None,
                header_offset: 0,
                body_offset: 0,
                body_end: len,
                lines: count_lines(raw),
            }],
        }
    }
}

/// The offset just after the blank line that ends the header, if there is one.
fn header_end(raw: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', raw).find_map(|i| match raw.get(i + 1..) {
        Some([b'\n', ..]) => Some(i + 2),
        Some([b'\r', b'\n', ..]) => Some(i + 3),
        _ => None,
    })
}

/// mail-parser's parse of `raw`, or `None` when it cannot read it — also when it panics:
/// messages come from anyone, and mail-parser 0.11.9 has a `debug_assert!` that a multipart
/// with a broken part tree reaches (found by the `mime` fuzz target; in release builds it
/// is compiled out). A panic here must never take a shard down.
/// Characters a preview holds at most (RFC 8970 §3.2).
pub const PREVIEW_CHARS: usize = 256;

/// A message's preview (RFC 8970): the start of its first text part (or of its HTML part,
/// without the markup), charset and transfer encoding decoded, white space runs as one
/// space, at most [`PREVIEW_CHARS`] characters. Empty when the message has no text to
/// show (an attachment alone, an encrypted body): §3.1 asks for a zero-length string then.
pub fn preview(raw: &[u8]) -> String {
    let Some(message) = parse_message(raw) else {
        return String::new();
    };
    let Some(text) = message.body_preview(PREVIEW_CHARS * 4) else {
        return String::new();
    };
    let mut out = String::new();
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    match out.char_indices().nth(PREVIEW_CHARS) {
        Some((cut, _)) => out[..cut].to_string(),
        None => out,
    }
}

pub fn parse_message(raw: &[u8]) -> Option<mail_parser::Message<'_>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        MessageParser::default().parse(raw)
    }))
    .ok()
    .flatten()
}

/// The summary of a message that is not multipart (nor message/*), from its header alone:
/// its body is one leaf part, so mail-parser need not decode it (most mail is like this, and
/// decoding the body was the largest cost of an append). `None` when the header says the
/// message has parts, or when it has no body: then the whole message is parsed.
fn single_part(raw: &[u8]) -> Option<MimeSummary> {
    let end = header_end(raw)?;
    let header = parse_message(&raw[..end])?;
    let root = header.parts.first()?;
    if let Some(ct) = root.content_type() {
        let t = ct.ctype();
        if t.eq_ignore_ascii_case("multipart") || t.eq_ignore_ascii_case("message") {
            return None;
        }
    }
    let mut summary = MimeSummary::parse_whole_header(&header, raw)?;
    let part = summary.parts.first_mut()?;
    let body = &raw[end..];
    part.header_offset = 0;
    part.body_offset = u32::try_from(end).ok()?;
    part.body_end = u32::try_from(raw.len()).ok()?;
    part.lines = if part.media_type == "text" {
        count_lines(body)
    } else {
        0
    };
    Some(summary)
}

impl MimeSummary {
    /// The envelope and the root part of a parsed header-only message.
    fn parse_whole_header(message: &mail_parser::Message<'_>, raw: &[u8]) -> Option<MimeSummary> {
        let envelope = envelope_of(message);
        let mut parts = Vec::new();
        walk(message, raw, 0, 0, None, &mut parts, MAX_DEPTH);
        (parts.len() == 1).then_some(MimeSummary { envelope, parts })
    }
}

fn envelope_of(message: &mail_parser::Message<'_>) -> Envelope {
    Envelope {
        date: raw_header(message, "Date"),
        subject: raw_header(message, "Subject"),
        from: addresses(message.from()),
        sender: addresses(message.sender()),
        reply_to: addresses(message.reply_to()),
        to: addresses(message.to()),
        cc: addresses(message.cc()),
        bcc: addresses(message.bcc()),
        in_reply_to: raw_header(message, "In-Reply-To"),
        message_id: raw_header(message, "Message-ID"),
    }
}

fn attributes(ct: &mail_parser::ContentType<'_>) -> Vec<Param> {
    ct.attributes()
        .unwrap_or_default()
        .iter()
        .map(|a| Param {
            name: a.name.to_string(),
            value: a.value.to_string(),
        })
        .collect()
}

fn languages(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    match value {
        mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
        mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

fn raw_header(message: &mail_parser::Message<'_>, name: &str) -> Option<String> {
    message.header_raw(name).map(|v| v.trim().to_string())
}

fn addresses(address: Option<&Address<'_>>) -> Vec<EnvelopeAddress> {
    match address {
        None => Vec::new(),
        Some(Address::List(list)) => list.iter().map(envelope_address).collect(),
        Some(Address::Group(groups)) => {
            let mut out = Vec::new();
            for group in groups {
                // RFC 3501 §7.4.2 / RFC 9051 §7.5.2: a group is a start marker (NIL host, the
                // group's name as the mailbox), its members, and an end marker (NIL mailbox,
                // NIL host). Addresses outside any group come as a group without a name.
                let Some(name) = &group.name else {
                    out.extend(group.addresses.iter().map(envelope_address));
                    continue;
                };
                out.push(EnvelopeAddress {
                    name: None,
                    mailbox: Some(name.to_string()),
                    host: None,
                });
                out.extend(group.addresses.iter().map(envelope_address));
                out.push(EnvelopeAddress {
                    name: None,
                    mailbox: None,
                    host: None,
                });
            }
            out
        }
    }
}

/// One address: its local part and domain. A source route (`@relay.example:user@host`, RFC
/// 5322 §4.4's obs-route) stays out of the mailbox name; an address without a domain gets
/// the placeholder Dovecot uses, since a NIL host would read as a group marker.
fn envelope_address(a: &mail_parser::Addr<'_>) -> EnvelopeAddress {
    let (mailbox, host) = match a.address.as_deref() {
        Some(addr) => {
            let addr = match addr.strip_prefix('@').and_then(|r| r.split_once(':')) {
                Some((_route, rest)) => rest,
                None => addr,
            };
            match addr.rsplit_once('@') {
                Some((l, d)) => (Some(l.to_string()), Some(d.to_string())),
                None => (Some(addr.to_string()), Some(MISSING_DOMAIN.to_string())),
            }
        }
        // A phrase without an address (`From: Undisclosed`): the phrase as the mailbox, so
        // the structure is not read as a group's end marker.
        None => {
            return EnvelopeAddress {
                name: None,
                mailbox: Some(a.name.as_deref().unwrap_or_default().to_string()),
                host: Some(MISSING_DOMAIN.to_string()),
            }
        }
    };
    EnvelopeAddress {
        name: a.name.as_deref().map(str::to_string),
        mailbox,
        host,
    }
}

/// The host of an address that has none (as Dovecot writes it).
const MISSING_DOMAIN: &str = "MISSING_DOMAIN";

fn count_lines(bytes: &[u8]) -> u32 {
    u32::try_from(memchr::memchr_iter(b'\n', bytes).count()).unwrap_or(u32::MAX)
}

/// Nesting limit for message/rfc822 inside multiparts: beyond it a part is kept as a leaf.
const MAX_DEPTH: usize = 16;

/// Add `message`'s part `part_id` and everything under it to `out`. `base` is added to
/// `message`'s offsets to make them offsets in `raw` (0 with mail-parser 0.11, whose nested
/// messages keep the outer buffer and absolute offsets).
fn walk(
    message: &mail_parser::Message<'_>,
    raw: &[u8],
    base: u32,
    part_id: usize,
    parent: Option<u32>,
    out: &mut Vec<PartSummary>,
    depth: usize,
) {
    let Some(part) = message.parts.get(part_id) else {
        return;
    };
    let me = u32::try_from(out.len()).unwrap_or(u32::MAX);
    let (media_type, subtype, params) = match part.content_type() {
        Some(ct) => (
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("plain").to_ascii_lowercase(),
            attributes(ct),
        ),
        // RFC 2046 §5.1.5: in a multipart/digest a part without Content-Type is a
        // message/rfc822 (mail-parser parses it as one; say so).
        None if matches!(part.body, PartType::Message(_)) => {
            ("message".into(), "rfc822".into(), Vec::new())
        }
        None => ("text".into(), "plain".into(), Vec::new()),
    };
    let (body_offset, body_end) = (
        base.saturating_add(part.offset_body),
        base.saturating_add(part.offset_end),
    );
    let body = raw
        .get(body_offset as usize..body_end as usize)
        .unwrap_or_default();
    let lines = if media_type == "text" || matches!(part.body, PartType::Message(_)) {
        count_lines(body)
    } else {
        0
    };
    // A nested message parsed in place has offsets into `raw`; one that had to
    // be decoded first (base64 message/rfc822) has offsets into its decoded copy, which the
    // store does not keep, so it stays a leaf.
    let nested = match &part.body {
        PartType::Message(nested) => in_place(nested.raw_message(), raw).and_then(|at| {
            // mail-parser 0.11 keeps the outer buffer and absolute offsets (base 0); count
            // from where the nested root's header really is either way.
            let root = nested.parts.first()?.offset_header;
            Some((
                nested,
                base.checked_add(at)?
                    .checked_sub(base.saturating_add(root))?,
            ))
        }),
        _ => None,
    };
    let (disposition, disposition_params) = match part.content_disposition() {
        Some(d) => (Some(d.ctype().to_string()), attributes(d)),
        None => (None, Vec::new()),
    };
    out.push(PartSummary {
        parent,
        media_type,
        subtype,
        params,
        id: part.content_id().map(str::to_string),
        description: part.content_description().map(str::to_string),
        encoding: part.content_transfer_encoding().map(str::to_string),
        disposition,
        disposition_params,
        language: languages(part.content_language()),
        location: part.content_location().map(str::to_string),
        envelope: nested.map(|(n, _)| Box::new(envelope_of(n))),
        header_offset: base.saturating_add(part.offset_header),
        body_offset,
        body_end,
        lines,
    });
    if depth >= MAX_DEPTH {
        return;
    }
    match &part.body {
        PartType::Multipart(children) => {
            for &child in children {
                walk(message, raw, base, child as usize, Some(me), out, depth + 1);
            }
        }
        PartType::Message(_) => {
            if let Some((nested, at)) = nested {
                // The nested message's root part is its first part.
                walk(nested, raw, at, 0, Some(me), out, depth + 1);
            }
        }
        _ => {}
    }
}

/// Where `inner` starts in `outer`, when it is a slice of it.
fn in_place(inner: &[u8], outer: &[u8]) -> Option<u32> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start + inner.len() <= outer.len())
        .then(|| u32::try_from(start).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    #[test]
    fn simple_message_envelope_and_single_part() {
        let raw = b"From: Alice <alice@example.com>\r\nTo: bob@example.org, Carol <c@x.y>\r\nSubject: Hi there\r\nMessage-ID: <1@x>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nline1\r\nline2\r\n";
        let s = MimeSummary::parse(raw);
        assert_eq!(s.envelope.subject.as_deref(), Some("Hi there"));
        assert_eq!(s.envelope.message_id.as_deref(), Some("<1@x>"));
        assert_eq!(
            s.envelope.from,
            vec![EnvelopeAddress {
                name: Some("Alice".into()),
                mailbox: Some("alice".into()),
                host: Some("example.com".into())
            }]
        );
        assert_eq!(s.envelope.to.len(), 2);
        assert_eq!(s.parts.len(), 1);
        let p = &s.parts[0];
        assert_eq!(
            (p.media_type.as_str(), p.subtype.as_str()),
            ("text", "plain")
        );
        assert_eq!(
            &raw[p.body_offset as usize..p.body_end as usize],
            b"line1\r\nline2\r\n"
        );
        assert_eq!(p.lines, 2);
    }

    #[test]
    fn multipart_offsets_point_at_the_parts() {
        let raw = b"Subject: m\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n";
        let s = MimeSummary::parse(raw);
        let kinds: Vec<_> = s
            .parts
            .iter()
            .map(|p| (p.parent, p.media_type.as_str(), p.subtype.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (None, "multipart", "mixed"),
                (Some(0), "text", "plain"),
                (Some(0), "application", "octet-stream")
            ]
        );
        let p1 = &s.parts[1];
        assert!(raw[p1.body_offset as usize..p1.body_end as usize].starts_with(b"hello"));
        assert_eq!(s.parts[2].encoding.as_deref(), Some("base64"));
        assert_eq!(s.parts[0].params[0].value, "b");
    }

    /// The header-only fast path gives exactly what parsing the whole message gives.
    #[test]
    fn previews_are_short_plain_and_whole_characters() {
        let long = format!("Subject: x\r\n\r\n{}\r\n", "ä ".repeat(400));
        let p = preview(long.as_bytes());
        assert_eq!(p.chars().count(), PREVIEW_CHARS);
        assert!(p.starts_with("ä ä"));
        assert_eq!(preview(b"Subject: none\r\n\r\n"), "");
        assert_eq!(preview(b"Subject: x\r\n\r\n  a\r\n\r\n b  \r\n"), "a b");
    }

    #[test]
    fn digest_parts_default_to_messages() {
        let raw = b"Subject: digest\r\nContent-Type: multipart/digest; boundary=\"d\"\r\n\r\npreamble\r\n--d\r\n\r\nFrom: a@example.com\r\nSubject: one\r\n\r\nfirst body\r\n--d\r\nContent-Type: text/plain\r\n\r\nnot a message\r\n--d--\r\nepilogue\r\n";
        let s = MimeSummary::parse(raw);
        let kinds: Vec<String> = s
            .parts
            .iter()
            .map(|p| format!("{}/{}", p.media_type, p.subtype))
            .collect();
        assert_eq!(
            kinds,
            [
                "multipart/digest",
                "message/rfc822",
                "text/plain",
                "text/plain"
            ]
        );
        assert_eq!(
            s.parts[1]
                .envelope
                .as_ref()
                .and_then(|e| e.subject.as_deref()),
            Some("one")
        );
    }

    #[test]
    fn groups_have_start_and_end_markers_and_routes_stay_out_of_mailboxes() {
        let raw = b"From: <@relay.example:ann@example.org>\r\nTo: a@example.com, Friends: b@example.net, Carl <c@example.net>;, d@example.com\r\nCc: root\r\n\r\nbody\r\n";
        let e = MimeSummary::parse(raw).envelope;
        let addr =
            |name: Option<&str>, mailbox: Option<&str>, host: Option<&str>| EnvelopeAddress {
                name: name.map(str::to_string),
                mailbox: mailbox.map(str::to_string),
                host: host.map(str::to_string),
            };
        assert_eq!(e.from, vec![addr(None, Some("ann"), Some("example.org"))]);
        assert_eq!(
            e.to,
            vec![
                addr(None, Some("a"), Some("example.com")),
                addr(None, Some("Friends"), None),
                addr(None, Some("b"), Some("example.net")),
                addr(Some("Carl"), Some("c"), Some("example.net")),
                addr(None, None, None),
                addr(None, Some("d"), Some("example.com")),
            ]
        );
        assert_eq!(e.cc, vec![addr(None, Some("root"), Some("MISSING_DOMAIN"))]);
    }

    #[test]
    fn single_part_fast_path_matches_the_whole_parse() {
        let bodies: [&[u8]; 4] = [
            b"",
            b"x",
            b"line1\r\nline2\r\n",
            b"\xff\xfe binary\n\n\nend",
        ];
        let headers = [
            "Subject: s\r\n\r\n",
            "From: A <a@x.y>\r\nTo: b@c.d\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nMessage-ID: <i@d>\r\n\r\n",
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
            "Content-Type: application/pdf; name=x.pdf\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment\r\n\r\n",
            "Subject: lf only\n\n",
            "X-Empty:\r\n\r\n",
            "Subject: folded\r\n  over two lines\r\nContent-Type: text/plain;\r\n charset=\"us-ascii\"\r\n\r\n",
            "Content-Type: image/png\r\nContent-ID: <c@d>\r\nContent-Description: a picture\r\n\r\n",
        ];
        for h in headers {
            for b in bodies {
                let mut raw = h.as_bytes().to_vec();
                raw.extend_from_slice(b);
                let fast = single_part(&raw).expect(h);
                assert_eq!(fast, MimeSummary::parse_whole(&raw), "{h:?} {b:?}");
            }
        }
        let multi = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n";
        assert!(single_part(multi).is_none());
        assert!(single_part(b"Subject: no body").is_none());
    }

    #[test]
    fn nested_message_has_its_envelope_parts_and_offsets() {
        let raw = b"Subject: fwd\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee\r\n--b\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"inner.eml\"\r\nContent-Language: de, en\r\n\r\nFrom: Ann <ann@example.org>\r\nSubject: inner\r\nMessage-ID: <i@x>\r\n\r\ninner body\r\n--b--\r\n";
        let s = MimeSummary::parse(raw);
        let kinds: Vec<(&str, &str, Option<u32>)> = s
            .parts
            .iter()
            .map(|p| (p.media_type.as_str(), p.subtype.as_str(), p.parent))
            .collect();
        assert_eq!(
            kinds,
            [
                ("multipart", "mixed", None),
                ("text", "plain", Some(0)),
                ("message", "rfc822", Some(0)),
                ("text", "plain", Some(2)),
            ]
        );
        let msg = &s.parts[2];
        let inner = msg.envelope.as_deref().expect("nested envelope");
        assert_eq!(inner.subject.as_deref(), Some("inner"));
        assert_eq!(inner.message_id.as_deref(), Some("<i@x>"));
        assert_eq!(inner.from[0].host.as_deref(), Some("example.org"));
        assert_eq!(msg.disposition.as_deref(), Some("attachment"));
        assert_eq!(
            msg.disposition_params,
            [Param {
                name: "filename".into(),
                value: "inner.eml".into()
            }]
        );
        assert_eq!(msg.language, ["de", "en"]);
        let body = &s.parts[3];
        let slice = |p: &PartSummary| &raw[p.body_offset as usize..p.body_end as usize];
        assert_eq!(slice(body), b"inner body");
        assert!(slice(msg).starts_with(b"From: Ann"));
        assert_eq!(
            &raw[body.header_offset as usize..body.body_offset as usize],
            b"From: Ann <ann@example.org>\r\nSubject: inner\r\nMessage-ID: <i@x>\r\n\r\n"
        );
        assert!(s.parts[1].envelope.is_none());
    }

    #[test]
    fn garbage_is_a_single_opaque_part() {
        let s = MimeSummary::parse(b"");
        assert_eq!(s.parts.len(), 1);
        assert_eq!(s.parts[0].body_end, 0);
    }
}
