//! FETCH response data (RFC 9051 §7.5.2): FLAGS, body sections, BINARY and the whole
//! response line, rendered from the store's MIME summary and, only for body items, from the
//! message bytes (or just the header block) with the summary's part offsets; ENVELOPE and
//! BODYSTRUCTURE come from [`super::structure`]. A message is never re-parsed to answer a
//! FETCH; only `HEADER.FIELDS` splits the (already located) header into fields.
//!
//! Never does IO; writes into the caller's buffer.

use std::num::NonZeroU32;

use super::command::{BinarySection, BodySection, FetchAttribute, Part, Partial, SectionText};
use super::structure::{body_structure, children, envelope, is_message, Structure};
use crate::mail::mime::PartSummary;
use crate::mail::{Flags, MessageBytes, MimeSummary, SystemFlags};
use crate::mailbox::{Content, FetchedMessage};
use crate::session::Output;

/// Append `s` as an IMAP string: quoted when it can be, a literal otherwise.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    let quotable = s.len() < 1024
        && s.iter()
            .all(|&b| b.is_ascii() && b != b'\r' && b != b'\n' && b != 0);
    if quotable {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// Append a UTF-8 mailbox name for an IMAP4rev2 client: quoted, UTF-8 allowed (RFC 9051
/// §9 `quoted` takes `UTF8-2`..`UTF8-4`); a literal only for control characters.
pub fn utf8_string(out: &mut Vec<u8>, s: &str) {
    if s.len() < 1024 && !s.chars().any(char::is_control) {
        out.push(b'"');
        for &b in s.as_bytes() {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s.as_bytes());
    }
}

/// `{n}CRLF` and the bytes.
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// `nstring`: NIL or a string.
pub fn nstring(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s.as_bytes()),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Whether a flag list shows `\Recent` (RFC 3501 §2.3.2: to the IMAP4rev1 session that
/// claimed the message; IMAP4rev2 has no `\Recent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecentFlag {
    Shown,
    Hidden,
}

impl RecentFlag {
    /// `Shown` when `recent`.
    pub fn shown_if(recent: bool) -> RecentFlag {
        if recent {
            RecentFlag::Shown
        } else {
            RecentFlag::Hidden
        }
    }
}

/// `(\Seen \Answered keyword …)`, with `\Recent` for a session that sees it as recent.
pub fn flag_list(out: &mut Vec<u8>, flags: &Flags, recent: RecentFlag) {
    out.push(b'(');
    let mut first = true;
    let mut put = |out: &mut Vec<u8>, s: &str| {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(s.as_bytes());
    };
    for (bit, name) in [
        (SystemFlags::SEEN, "\\Seen"),
        (SystemFlags::ANSWERED, "\\Answered"),
        (SystemFlags::FLAGGED, "\\Flagged"),
        (SystemFlags::DELETED, "\\Deleted"),
        (SystemFlags::DRAFT, "\\Draft"),
    ] {
        if flags.system.contains(bit) {
            put(out, name);
        }
    }
    if recent == RecentFlag::Shown {
        put(out, "\\Recent");
    }
    for k in &flags.keywords {
        put(out, k.as_str());
    }
    out.push(b')');
}

/// The parts a part number's next component indexes: a multipart's children, or for a
/// message (the whole one, or a message/rfc822 part's nested root `root`) its body parts.
fn numbered(parts: &[PartSummary], root: usize) -> Vec<usize> {
    if parts[root].media_type == "multipart" {
        children(parts, root)
    } else {
        vec![root]
    }
}

/// The part a section's part number names (RFC 9051 §6.4.5), by index in the summary.
fn resolve(parts: &[PartSummary], part: &[NonZeroU32]) -> Option<usize> {
    if parts.is_empty() {
        return None;
    }
    let mut choices = numbered(parts, 0);
    let mut current = None;
    for n in part {
        let i = *choices.get(n.get() as usize - 1)?;
        current = Some(i);
        choices = if parts[i].media_type == "multipart" {
            children(parts, i)
        } else if is_message(&parts[i]) {
            match children(parts, i).first() {
                Some(&root) => numbered(parts, root),
                None => Vec::new(),
            }
        } else {
            Vec::new()
        };
    }
    current
}

/// Byte range of a body section in the message, or `None` when the section does not exist
/// (answered as an empty string, as Dovecot and Cyrus do).
fn section_range(
    summary: &MimeSummary,
    total: usize,
    part: &Part,
    text: Option<&SectionText>,
) -> Option<(usize, usize)> {
    let parts = &summary.parts;
    let clamp = |a: u32, b: u32| {
        let a = (a as usize).min(total);
        (a, (b as usize).clamp(a, total))
    };
    // The message whose HEADER/TEXT is meant: the whole one, or a message/rfc822 part's.
    let message_root = |target: Option<usize>| -> Option<usize> {
        match target {
            None => (!parts.is_empty()).then_some(0),
            Some(i) if is_message(&parts[i]) => children(parts, i).first().copied(),
            Some(_) => None,
        }
    };
    let target = if part.0.is_empty() {
        None
    } else {
        Some(resolve(parts, &part.0)?)
    };
    match (text, target) {
        (None, None) => Some((0, total)),
        (None, Some(i)) => Some(clamp(parts[i].body_offset, parts[i].body_end)),
        (Some(SectionText::Mime), Some(i)) => {
            Some(clamp(parts[i].header_offset, parts[i].body_offset))
        }
        (Some(SectionText::Mime), None) => None,
        (Some(SectionText::Text), t) => {
            let r = message_root(t)?;
            Some(clamp(
                parts[r].body_offset,
                parts[r].body_end.max(parts[r].body_offset),
            ))
        }
        (
            Some(
                SectionText::Header
                | SectionText::HeaderFields(_)
                | SectionText::HeaderFieldsNot(_),
            ),
            t,
        ) => {
            match message_root(t) {
                Some(r) => Some(clamp(parts[r].header_offset, parts[r].body_offset)),
                // A message without a summary: everything up to the first blank line.
                None if parts.is_empty() => Some((0, total)),
                None => None,
            }
        }
    }
}

use crate::mail::header::{field_name, header_fields};
pub use crate::mail::header::{header_value, header_values, msg_ids};

/// A message's THREADID (RFC 8474 §5.2), from its header block alone, so it never changes:
/// the thread's root is the first msg-id of References (RFC 5322 §3.6.4 has replies repeat
/// their parent's References and add the parent), else that of In-Reply-To, else the
/// message's own Message-ID; the id is `T` and 16 hex digits of the root's SHA-256. A message
/// with none of them is a thread of its own: `TE` and its EMAILID number.
pub fn thread_object_id(header: &[u8], email_id: u64) -> String {
    let first = |name: &str| {
        header_values(header, name)
            .iter()
            .find_map(|v| msg_ids(v).into_iter().next())
    };
    let root = first("References")
        .or_else(|| first("In-Reply-To"))
        .or_else(|| first("Message-ID"));
    match root {
        Some(root) => {
            let digest = ring::digest::digest(&ring::digest::SHA256, root.as_bytes());
            let mut n = [0u8; 8];
            n.copy_from_slice(&digest.as_ref()[..8]);
            format!("T{:016x}", u64::from_be_bytes(n))
        }
        None => format!("TE{email_id:016x}"),
    }
}

/// The header block of a fetched message (up to its body), or nothing.
pub fn header_of(msg: &FetchedMessage) -> &[u8] {
    let bytes = msg.bytes.as_deref().unwrap_or_default();
    let end = msg
        .summary
        .parts
        .first()
        .map_or(bytes.len(), |p| (p.body_offset as usize).min(bytes.len()));
    &bytes[..end]
}

/// A body section's bytes: a slice of the message as read, or (for `HEADER.FIELDS`) built.
pub enum Section {
    Shared(MessageBytes),
    Built(Vec<u8>),
}

impl Section {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Section::Shared(b) => b,
            Section::Built(v) => v,
        }
    }

    /// The partial range `<offset.length>` of this section (RFC 9051 §6.4.5).
    fn partial(self, partial: Option<Partial>) -> Section {
        let Some(p) = partial else {
            return self;
        };
        let len = self.as_slice().len();
        let start = usize::try_from(p.offset).unwrap_or(usize::MAX).min(len);
        let n = usize::try_from(p.length.get()).unwrap_or(usize::MAX);
        let end = start.saturating_add(n).min(len);
        match self {
            Section::Shared(b) => Section::Shared(b.slice(start, end - start)),
            Section::Built(v) => Section::Built(v[start..end].to_vec()),
        }
    }

    /// `{n}CRLF` and the bytes, which are spliced into `out` rather than copied.
    fn literal(&self, out: &mut Output) {
        let data = self.as_slice();
        out.bytes_mut()
            .extend_from_slice(format!("{{{}}}\r\n", data.len()).as_bytes());
        match self {
            Section::Shared(b) => out.push_shared(b),
            Section::Built(v) => out.bytes_mut().extend_from_slice(v),
        }
    }
}

/// A body section of the message, before any partial range.
pub fn section(msg: &FetchedMessage, part: &Part, text: Option<&SectionText>) -> Section {
    let Some(bytes) = msg.bytes.as_ref() else {
        return Section::Built(Vec::new());
    };
    let Some((a, b)) = section_range(&msg.summary, bytes.len(), part, text) else {
        return Section::Built(Vec::new());
    };
    match text {
        Some(SectionText::HeaderFields(names)) | Some(SectionText::HeaderFieldsNot(names)) => {
            let keep = matches!(text, Some(SectionText::HeaderFields(_)));
            let mut out = Vec::new();
            for f in header_fields(&bytes[a..b]) {
                let listed = names
                    .iter()
                    .any(|n| field_name(f).eq_ignore_ascii_case(n.as_bytes()));
                if listed == keep {
                    out.extend_from_slice(f);
                }
            }
            // RFC 9051 §6.4.5: the blank line that ends the header is included.
            out.extend_from_slice(b"\r\n");
            Section::Built(out)
        }
        _ => Section::Shared(bytes.slice(a, b - a)),
    }
}

/// The bytes of a body section of `bytes`, before any partial range.
pub fn section_bytes(msg: &FetchedMessage, part: &Part, text: Option<&SectionText>) -> Vec<u8> {
    section(msg, part, text).as_slice().to_vec()
}

fn apply_partial(data: &[u8], partial: Option<Partial>) -> &[u8] {
    match partial {
        None => data,
        Some(p) => {
            let start = usize::try_from(p.offset)
                .unwrap_or(usize::MAX)
                .min(data.len());
            let len = usize::try_from(p.length.get()).unwrap_or(usize::MAX);
            &data[start..start.saturating_add(len).min(data.len())]
        }
    }
}

fn section_name(out: &mut Vec<u8>, s: &BodySection) {
    out.extend_from_slice(b"BODY[");
    part_name(out, &s.part);
    if let Some(text) = &s.text {
        if !s.part.0.is_empty() {
            out.push(b'.');
        }
        match text {
            SectionText::Header => out.extend_from_slice(b"HEADER"),
            SectionText::Text => out.extend_from_slice(b"TEXT"),
            SectionText::Mime => out.extend_from_slice(b"MIME"),
            SectionText::HeaderFields(names) | SectionText::HeaderFieldsNot(names) => {
                out.extend_from_slice(if matches!(text, SectionText::HeaderFields(_)) {
                    b"HEADER.FIELDS ("
                } else {
                    b"HEADER.FIELDS.NOT ("
                });
                for (i, n) in names.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    string(out, n.to_ascii_uppercase().as_bytes());
                }
                out.push(b')');
            }
        }
    }
    out.push(b']');
    if let Some(p) = s.partial {
        out.extend_from_slice(format!("<{}>", p.offset).as_bytes());
    }
}

fn part_name(out: &mut Vec<u8>, part: &Part) {
    for (i, n) in part.0.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        out.extend_from_slice(n.to_string().as_bytes());
    }
}

/// The decoded content of a part for BINARY (RFC 3516); `None` for an unknown encoding.
fn binary_content(msg: &FetchedMessage, part: &Part) -> Option<Vec<u8>> {
    let raw = section_bytes(msg, part, None);
    if part.0.is_empty() {
        // The whole message: a transfer encoding applies to a body, not to a message.
        return Some(raw);
    }
    let encoding =
        resolve(&msg.summary.parts, &part.0).and_then(|i| msg.summary.parts[i].encoding.clone());
    match encoding.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("7bit" | "8bit" | "binary") => Some(raw),
        Some("base64") => {
            use base64::Engine;
            let clean: Vec<u8> = raw
                .into_iter()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(&clean)
                .ok()
                .or_else(|| {
                    base64::engine::general_purpose::STANDARD_NO_PAD
                        .decode(&clean)
                        .ok()
                })
        }
        Some("quoted-printable") => Some(quoted_printable(&raw)),
        Some(_) => None,
    }
}

/// Quoted-printable decoding, line by line (RFC 2045 §6.7): trailing white space on a line
/// is transport padding and goes (rule 3); a line that then ends in `=` is a soft line
/// break (rule 5), joined to the next without a line ending; `=XX` is an octet; an `=` not
/// followed by two hex digits is kept as it is (the RFC's advice for robustness).
fn quoted_printable(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut rest = raw;
    while !rest.is_empty() {
        let (line, ending, next) = match memchr::memchr(b'\n', rest) {
            Some(at) if at > 0 && rest[at - 1] == b'\r' => {
                (&rest[..at - 1], &b"\r\n"[..], &rest[at + 1..])
            }
            Some(at) => (&rest[..at], &b"\n"[..], &rest[at + 1..]),
            None => (rest, &b""[..], &rest[rest.len()..]),
        };
        rest = next;
        let line = line.trim_ascii_end();
        let (line, soft) = match line.strip_suffix(b"=") {
            Some(body) => (body, true),
            None => (line, false),
        };
        let mut i = 0;
        while i < line.len() {
            if line[i] == b'=' {
                if let (Some(h), Some(l)) = (
                    line.get(i + 1).and_then(|&b| hex(b)),
                    line.get(i + 2).and_then(|&b| hex(b)),
                ) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
            }
            out.push(line[i]);
            i += 1;
        }
        if !soft {
            out.extend_from_slice(ending);
        }
    }
    out
}

/// What a FETCH of these attributes needs from the store: index data alone (FLAGS, UID,
/// MODSEQ, INTERNALDATE, RFC822.SIZE: a client's flag resync), the MIME summary too, the
/// header block only (Thunderbird's and K-9's `BODY.PEEK[HEADER.FIELDS (…)]` of every
/// message), or the message bytes.
pub fn content(attrs: &[FetchAttribute]) -> Content {
    let header_only = |s: &BodySection| {
        s.part.0.is_empty()
            && matches!(
                s.text,
                Some(
                    SectionText::Header
                        | SectionText::HeaderFields(_)
                        | SectionText::HeaderFieldsNot(_)
                )
            )
    };
    attrs
        .iter()
        .map(|a| match a {
            FetchAttribute::Rfc822Header => Content::Header,
            FetchAttribute::BodySection(s) | FetchAttribute::BodyPeek(s) if header_only(s) => {
                Content::Header
            }
            FetchAttribute::Rfc822
            | FetchAttribute::Rfc822Text
            | FetchAttribute::BodySection(_)
            | FetchAttribute::BodyPeek(_)
            | FetchAttribute::Binary(_)
            | FetchAttribute::BinaryPeek(_)
            | FetchAttribute::BinarySize(_)
            | FetchAttribute::Preview { .. } => Content::Bytes,
            FetchAttribute::Envelope | FetchAttribute::Body | FetchAttribute::BodyStructure => {
                Content::Summary
            }
            FetchAttribute::Flags
            | FetchAttribute::InternalDate
            | FetchAttribute::Rfc822Size
            | FetchAttribute::Uid
            | FetchAttribute::ModSeq
            | FetchAttribute::SaveDate
            | FetchAttribute::EmailId => Content::Metadata,
            // THREADID is read from References, In-Reply-To and Message-ID.
            FetchAttribute::ThreadId => Content::Header,
        })
        .max()
        .unwrap_or(Content::Metadata)
}

/// Whether every BINARY item of `attrs` can decode its part of `msg` (RFC 3516 §4.3).
pub fn binary_decodable(msg: &FetchedMessage, attrs: &[FetchAttribute]) -> bool {
    attrs.iter().all(|a| match a {
        FetchAttribute::Binary(BinarySection { part, .. })
        | FetchAttribute::BinaryPeek(BinarySection { part, .. })
        | FetchAttribute::BinarySize(part) => binary_content(msg, part).is_some(),
        _ => true,
    })
}

/// Whether fetching these attributes sets `\Seen` (RFC 9051 §6.4.5).
pub fn sets_seen(attrs: &[FetchAttribute]) -> bool {
    attrs.iter().any(|a| {
        matches!(
            a,
            FetchAttribute::Rfc822
                | FetchAttribute::Rfc822Text
                | FetchAttribute::BodySection(_)
                | FetchAttribute::Binary(_)
        )
    })
}

/// How one FETCH response line is put together.
pub struct FetchLine<'a> {
    pub seq: u32,
    pub msg: &'a FetchedMessage,
    pub attrs: &'a [FetchAttribute],
    /// UID FETCH: UID is always included (RFC 9051 §6.4.9).
    pub with_uid: bool,
    /// `\Recent` in this session.
    pub recent: bool,
    /// FLAGS changed implicitly (`\Seen` set by this fetch): FLAGS is included.
    pub with_flags: bool,
    /// CONDSTORE is on: an implicit FLAGS change comes with its MODSEQ (RFC 7162 §3.2).
    pub condstore: bool,
    /// UIDONLY (RFC 9586 §3): `* uid UIDFETCH (…)`, the UID in place of the number.
    pub uid_only: bool,
}

/// `* seq FETCH (…)` CRLF. Body sections are spliced into `output` as slices of the
/// message bytes the store read, never copied here.
pub fn fetch_line(output: &mut Output, line: &FetchLine<'_>) {
    let msg = line.msg;
    let head = if line.uid_only {
        format!("* {} UIDFETCH (", msg.meta.uid.0)
    } else {
        format!("* {} FETCH (", line.seq)
    };
    output.bytes_mut().extend_from_slice(head.as_bytes());
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !first {
            out.push(b' ');
        }
        first = false;
    };
    let has = |f: fn(&FetchAttribute) -> bool| line.attrs.iter().any(f);
    if line.with_uid && !line.uid_only && !has(|a| matches!(a, FetchAttribute::Uid)) {
        let out = output.bytes_mut();
        sep(out);
        out.extend_from_slice(format!("UID {}", msg.meta.uid.0).as_bytes());
    }
    if line.with_flags && !has(|a| matches!(a, FetchAttribute::Flags)) {
        let out = output.bytes_mut();
        sep(out);
        out.extend_from_slice(b"FLAGS ");
        flag_list(out, &msg.meta.flags, RecentFlag::shown_if(line.recent));
    }
    if line.with_flags && line.condstore && !has(|a| matches!(a, FetchAttribute::ModSeq)) {
        let out = output.bytes_mut();
        sep(out);
        out.extend_from_slice(format!("MODSEQ ({})", msg.meta.modseq.0).as_bytes());
    }
    for attr in line.attrs {
        sep(output.bytes_mut());
        // The section a literal body item sends, after its name.
        let section_item = match attr {
            FetchAttribute::Rfc822 => Some((&b"RFC822 "[..], section(msg, &Part::default(), None))),
            FetchAttribute::Rfc822Header => Some((
                &b"RFC822.HEADER "[..],
                section(msg, &Part::default(), Some(&SectionText::Header)),
            )),
            FetchAttribute::Rfc822Text => Some((
                &b"RFC822.TEXT "[..],
                section(msg, &Part::default(), Some(&SectionText::Text)),
            )),
            _ => None,
        };
        if let Some((name, data)) = section_item {
            output.bytes_mut().extend_from_slice(name);
            data.literal(output);
            continue;
        }
        if let FetchAttribute::BodySection(s) | FetchAttribute::BodyPeek(s) = attr {
            let out = output.bytes_mut();
            section_name(out, s);
            out.push(b' ');
            section(msg, &s.part, s.text.as_ref())
                .partial(s.partial)
                .literal(output);
            continue;
        }
        fetch_item(
            output.bytes_mut(),
            msg,
            attr,
            RecentFlag::shown_if(line.recent),
        );
    }
    output.bytes_mut().extend_from_slice(b")\r\n");
}

/// One FETCH data item that is not a literal body section (those are spliced by
/// [`fetch_line`]).
fn fetch_item(out: &mut Vec<u8>, msg: &FetchedMessage, attr: &FetchAttribute, recent: RecentFlag) {
    match attr {
        FetchAttribute::Uid => out.extend_from_slice(format!("UID {}", msg.meta.uid.0).as_bytes()),
        FetchAttribute::Flags => {
            out.extend_from_slice(b"FLAGS ");
            flag_list(out, &msg.meta.flags, recent);
        }
        FetchAttribute::InternalDate => {
            out.extend_from_slice(b"INTERNALDATE \"");
            out.extend_from_slice(crate::date::imap_date_time(msg.meta.internal_date).as_bytes());
            out.push(b'"');
        }
        FetchAttribute::Rfc822Size => {
            out.extend_from_slice(format!("RFC822.SIZE {}", msg.meta.size).as_bytes())
        }
        // RFC 8514 §4: NIL when the save date is not known (messages stored before it was
        // kept).
        FetchAttribute::SaveDate => match msg.meta.saved {
            Some(at) => {
                out.extend_from_slice(b"SAVEDATE \"");
                out.extend_from_slice(crate::date::imap_date_time(at).as_bytes());
                out.push(b'"');
            }
            None => out.extend_from_slice(b"SAVEDATE NIL"),
        },
        FetchAttribute::EmailId => out.extend_from_slice(
            format!(
                "EMAILID ({})",
                crate::mail::email_object_id(msg.meta.email_id)
            )
            .as_bytes(),
        ),
        FetchAttribute::ThreadId => out.extend_from_slice(
            format!(
                "THREADID ({})",
                thread_object_id(header_of(msg), msg.meta.email_id)
            )
            .as_bytes(),
        ),
        FetchAttribute::ModSeq => {
            out.extend_from_slice(format!("MODSEQ ({})", msg.meta.modseq.0).as_bytes())
        }
        FetchAttribute::Envelope => {
            out.extend_from_slice(b"ENVELOPE ");
            envelope(out, &msg.summary.envelope);
        }
        FetchAttribute::Body => {
            out.extend_from_slice(b"BODY ");
            body_structure(out, &msg.summary, Structure::Basic);
        }
        FetchAttribute::BodyStructure => {
            out.extend_from_slice(b"BODYSTRUCTURE ");
            body_structure(out, &msg.summary, Structure::Extended);
        }
        FetchAttribute::Binary(BinarySection { part, partial })
        | FetchAttribute::BinaryPeek(BinarySection { part, partial }) => {
            out.extend_from_slice(b"BINARY[");
            part_name(out, part);
            out.push(b']');
            if let Some(p) = partial {
                out.extend_from_slice(format!("<{}>", p.offset).as_bytes());
            }
            out.push(b' ');
            match binary_content(msg, part) {
                Some(data) => {
                    let data = apply_partial(&data, *partial);
                    if data.contains(&0) {
                        out.push(b'~');
                    }
                    literal(out, data);
                }
                None => out.extend_from_slice(b"NIL"),
            }
        }
        // RFC 8970: a UTF-8 string; quoted when it is ASCII, a literal otherwise.
        FetchAttribute::Preview { .. } => {
            out.extend_from_slice(b"PREVIEW ");
            let text = msg
                .bytes
                .as_deref()
                .map(crate::mail::mime::preview)
                .unwrap_or_default();
            string(out, text.as_bytes());
        }
        FetchAttribute::BinarySize(part) => {
            out.extend_from_slice(b"BINARY.SIZE[");
            part_name(out, part);
            out.push(b']');
            let size = binary_content(msg, part).map_or(0, |d| d.len());
            out.extend_from_slice(format!(" {size}").as_bytes());
        }
        // Written above.
        FetchAttribute::Rfc822
        | FetchAttribute::Rfc822Header
        | FetchAttribute::Rfc822Text
        | FetchAttribute::BodySection(_)
        | FetchAttribute::BodyPeek(_) => {}
    }
}

#[cfg(test)]
mod qp_tests {
    use super::quoted_printable;

    #[test]
    fn soft_breaks_padding_and_octets() {
        // RFC 2045 §6.7: `=` then white space before the line end is still a soft break;
        // trailing white space is padding; `=3D` is `=`.
        assert_eq!(
            quoted_printable(b"caf=C3=A9 =  \r\nau lait   \r\n1 =3D 1=\r\n!"),
            "café au lait\r\n1 = 1!".as_bytes()
        );
        assert_eq!(quoted_printable(b"a=\nb\n"), b"ab\n");
        assert_eq!(quoted_printable(b"50=% off =ZZ"), b"50=% off =ZZ");
        assert_eq!(quoted_printable(b"tab\t\t\r\nend"), b"tab\r\nend");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::mail::{ModSeq, Uid};
    use crate::mailbox::MessageMeta;

    fn message(raw: &[u8]) -> FetchedMessage {
        FetchedMessage {
            meta: MessageMeta {
                uid: Uid(7),
                flags: Flags::default(),
                modseq: ModSeq(3),
                internal_date: 0,
                size: raw.len() as u32,
                saved: None,
                email_id: 1,
            },
            summary: MimeSummary::parse(raw),
            bytes: Some(raw.to_vec().into()),
        }
    }

    const MULTI: &[u8] = b"Subject: m\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n";

    fn part(n: &[u32]) -> Part {
        Part(n.iter().map(|&x| NonZeroU32::new(x).unwrap()).collect())
    }

    /// RFC 8474 §5.2: a thread's messages share the THREADID of its root msg-id, whether
    /// they name it in References, In-Reply-To or (the root itself) Message-ID.
    #[test]
    fn thread_ids_follow_the_root_of_references() {
        let root = thread_object_id(b"Message-ID: <root@x>\r\nSubject: a\r\n\r\n", 1);
        let reply = thread_object_id(b"Message-ID: <r1@x>\r\nIn-Reply-To: <root@x>\r\n\r\n", 2);
        let deeper = thread_object_id(
            b"Message-ID: <r2@x>\r\nIn-Reply-To: <r1@x>\r\nReferences: <root@x>\r\n <r1@x>\r\n\r\n",
            3,
        );
        assert_eq!(root, reply);
        assert_eq!(root, deeper);
        assert_eq!(root.len(), 17);
        assert!(root.starts_with('T'));
        let other = thread_object_id(b"Message-ID: <other@x>\r\n\r\n", 4);
        assert_ne!(root, other);
        // No ids at all: a thread of its own, by EMAILID.
        assert_eq!(
            thread_object_id(b"Subject: x\r\n\r\n", 0x2a),
            "TE000000000000002a"
        );
        // The same everywhere: the digest of the root, not of where the message is.
        assert_eq!(
            thread_object_id(b"References: <root@x>\r\n\r\n", 9),
            "T".to_string() + &root[1..]
        );
    }

    #[test]
    fn sections_of_a_multipart_message() {
        let m = message(MULTI);
        assert_eq!(section_bytes(&m, &part(&[1]), None), b"hello");
        assert_eq!(
            section_bytes(&m, &part(&[2]), Some(&SectionText::Mime)),
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        );
        assert_eq!(
            section_bytes(&m, &Part::default(), Some(&SectionText::Header)),
            b"Subject: m\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
        );
        assert_eq!(
            section_bytes(
                &m,
                &Part::default(),
                Some(&SectionText::HeaderFields(vec!["subject".into()]))
            ),
            b"Subject: m\r\n\r\n"
        );
        assert_eq!(binary_content(&m, &part(&[2])).unwrap(), vec![0, 1, 2]);
        assert_eq!(section_bytes(&m, &part(&[3]), None), b"");
    }

    #[test]
    fn bodystructure_of_a_forwarded_message_as_dovecot_writes_it() {
        // Dovecot 2.3.19 answered exactly this for the same message (the peer in ../shared).
        let raw = b"Subject: fwd\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: Ann <ann@example.org>\r\nSubject: inner\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <i@x>\r\n\r\ninner body\r\n--b--\r\n";
        let summary = crate::mail::MimeSummary::parse(raw);
        let mut out = Vec::new();
        body_structure(&mut out, &summary, Structure::Extended);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 114 (\"Mon, 1 Jan 2024 10:00:00 +0000\" \"inner\" ((\"Ann\" NIL \"ann\" \"example.org\")) ((\"Ann\" NIL \"ann\" \"example.org\")) ((\"Ann\" NIL \"ann\" \"example.org\")) NIL NIL NIL NIL \"<i@x>\") (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL) 5 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)"
        );
    }

    #[test]
    fn attachment_disposition_keeps_its_filename() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\nContent-Language: en\r\nContent-Location: http://x.example/r.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n";
        let summary = crate::mail::MimeSummary::parse(raw);
        let mut out = Vec::new();
        body_structure(&mut out, &summary, Structure::Extended);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "((\"application\" \"pdf\" (\"name\" \"r.pdf\") NIL NIL \"base64\" 4 NIL (\"attachment\" (\"filename\" \"r.pdf\")) \"en\" \"http://x.example/r.pdf\") \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)"
        );
    }

    #[test]
    fn bodystructure_of_a_multipart_message() {
        let m = message(MULTI);
        let mut out = Vec::new();
        body_structure(&mut out, &m.summary, Structure::Basic);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0)(\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 4) \"mixed\")"
        );
    }

    #[test]
    fn strings_are_quoted_or_literal() {
        let mut out = Vec::new();
        string(&mut out, b"a \"b\" \\");
        string(&mut out, "é".as_bytes());
        assert_eq!(out, b"\"a \\\"b\\\" \\\\\"{2}\r\n\xc3\xa9");
    }
}
