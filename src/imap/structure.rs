//! ENVELOPE and BODYSTRUCTURE/BODY (RFC 9051 §7.5.2) rendered from the MIME summary the
//! store parsed once at delivery; never from the message bytes. Never does IO.

use super::fetch::{nstring, string};
use crate::mail::mime::{Envelope, EnvelopeAddress, Param, PartSummary};
use crate::mail::MimeSummary;

fn addresses(out: &mut Vec<u8>, list: &[EnvelopeAddress]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        nstring(out, a.name.as_deref());
        out.extend_from_slice(b" NIL ");
        nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        nstring(out, a.host.as_deref());
        out.push(b')');
    }
    out.push(b')');
}

/// `ENVELOPE` data (RFC 9051 §7.5.2): Sender and Reply-To default to From.
pub fn envelope(out: &mut Vec<u8>, e: &Envelope) {
    out.push(b'(');
    nstring(out, e.date.as_deref());
    out.push(b' ');
    nstring(out, e.subject.as_deref());
    out.push(b' ');
    addresses(out, &e.from);
    out.push(b' ');
    addresses(
        out,
        if e.sender.is_empty() {
            &e.from
        } else {
            &e.sender
        },
    );
    out.push(b' ');
    addresses(
        out,
        if e.reply_to.is_empty() {
            &e.from
        } else {
            &e.reply_to
        },
    );
    for list in [&e.to, &e.cc, &e.bcc] {
        out.push(b' ');
        addresses(out, list);
    }
    out.push(b' ');
    nstring(out, e.in_reply_to.as_deref());
    out.push(b' ');
    nstring(out, e.message_id.as_deref());
    out.push(b')');
}

const EMPTY_ENVELOPE: &[u8] = b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)";

/// Whether `BODYSTRUCTURE` (with extension data) or `BODY` (without) is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structure {
    Basic,
    Extended,
}

pub(super) fn children(parts: &[PartSummary], of: usize) -> Vec<usize> {
    let of = u32::try_from(of).ok();
    parts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.parent.is_some() && p.parent == of)
        .map(|(i, _)| i)
        .collect()
}

pub(super) fn is_message(p: &PartSummary) -> bool {
    p.media_type == "message" && p.subtype == "rfc822"
}

/// `BODY`/`BODYSTRUCTURE` of the whole message.
pub fn body_structure(out: &mut Vec<u8>, summary: &MimeSummary, kind: Structure) {
    if summary.parts.is_empty() {
        out.extend_from_slice(b"(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)");
        return;
    }
    part_structure(out, summary, 0, kind, 0);
}

fn params(out: &mut Vec<u8>, params: &[Param]) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, p.name.as_bytes());
        out.push(b' ');
        string(out, p.value.as_bytes());
    }
    out.push(b')');
}

/// A text part's parameters, with RFC 2045 §5.2's default `charset` when it names none
/// (as Dovecot writes it; clients pick a decoder from it).
fn body_params(out: &mut Vec<u8>, p: &PartSummary) {
    let has_charset = p
        .params
        .iter()
        .any(|x| x.name.eq_ignore_ascii_case("charset"));
    if p.media_type != "text" || has_charset {
        params(out, &p.params);
        return;
    }
    out.extend_from_slice(b"(\"charset\" \"us-ascii\"");
    for x in &p.params {
        out.push(b' ');
        string(out, x.name.as_bytes());
        out.push(b' ');
        string(out, x.value.as_bytes());
    }
    out.push(b')');
}

fn disposition(out: &mut Vec<u8>, p: &PartSummary) {
    match &p.disposition {
        Some(d) => {
            out.push(b'(');
            string(out, d.as_bytes());
            out.push(b' ');
            params(out, &p.disposition_params);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
}

/// body-fld-lang and body-fld-loc (RFC 9051 §9).
fn language_location(out: &mut Vec<u8>, p: &PartSummary) {
    match p.language.as_slice() {
        [] => out.extend_from_slice(b"NIL"),
        [one] => string(out, one.as_bytes()),
        many => {
            out.push(b'(');
            for (i, l) in many.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                string(out, l.as_bytes());
            }
            out.push(b')');
        }
    }
    out.push(b' ');
    nstring(out, p.location.as_deref());
}

fn part_structure(
    out: &mut Vec<u8>,
    summary: &MimeSummary,
    i: usize,
    kind: Structure,
    depth: usize,
) {
    let parts = &summary.parts;
    let p = &parts[i];
    let kids = children(parts, i);
    if p.media_type == "multipart" && depth < 32 {
        out.push(b'(');
        if kids.is_empty() {
            // RFC 9051 §7.5.2 needs at least one body: an empty text part stands in.
            out.extend_from_slice(b"(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)");
        }
        for k in kids {
            part_structure(out, summary, k, kind, depth + 1);
        }
        out.push(b' ');
        string(out, p.subtype.as_bytes());
        if kind == Structure::Extended {
            out.push(b' ');
            params(out, &p.params);
            out.push(b' ');
            disposition(out, p);
            out.push(b' ');
            language_location(out, p);
        }
        out.push(b')');
        return;
    }
    out.push(b'(');
    string(out, p.media_type.as_bytes());
    out.push(b' ');
    string(out, p.subtype.as_bytes());
    out.push(b' ');
    body_params(out, p);
    out.push(b' ');
    nstring(out, p.id.as_deref());
    out.push(b' ');
    nstring(out, p.description.as_deref());
    out.push(b' ');
    string(out, p.encoding.as_deref().unwrap_or("7bit").as_bytes());
    out.extend_from_slice(format!(" {}", p.body_end.saturating_sub(p.body_offset)).as_bytes());
    if is_message(p) {
        out.push(b' ');
        match &p.envelope {
            Some(e) => envelope(out, e),
            // A message/rfc822 part the store kept as a leaf (it was encoded).
            None => out.extend_from_slice(EMPTY_ENVELOPE),
        }
        out.push(b' ');
        match kids.first() {
            Some(&k) if depth < 32 => part_structure(out, summary, k, kind, depth + 1),
            _ => out.extend_from_slice(b"(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)"),
        }
        out.extend_from_slice(format!(" {}", p.lines).as_bytes());
    } else if p.media_type == "text" {
        out.extend_from_slice(format!(" {}", p.lines).as_bytes());
    }
    if kind == Structure::Extended {
        out.extend_from_slice(b" NIL ");
        disposition(out, p);
        out.push(b' ');
        language_location(out, p);
    }
    out.push(b')');
}
