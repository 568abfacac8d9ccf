//! SEARCH evaluation (RFC 9051 §6.4.4) over the selected view. Sequence, UID, `$` and
//! `\Recent` keys are answered from the view alone; flag, size, date and modseq keys from the
//! store's index data, and keys on header fields and text from the message, which the
//! session fetches in batches first ([`Need`]).
//! Text matching is a case-insensitive substring match on UTF-8: header fields decoded as
//! mail-parser reads them; BODY and TEXT in what [`crate::mail::text`] says a message's text
//! is. A search with BODY or TEXT keys first asks the store's full-text index which messages
//! can match ([`text_queries`]), and reads only those (or none, when the index's answer is
//! exact and nothing else needs the message).

use super::super::command::{Date, SearchKey, SeqItem, SequenceSet};
use super::super::fetch::header_value;
use super::uidset::UidSet;
use crate::mail::text::{SearchText, TextQuery};
use crate::mail::{SystemFlags, Uid};
use crate::mailbox::FetchedMessage;

/// What evaluating a search needs beyond the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    View,
    /// Flags, modseq, internal date and size from the index.
    Metadata,
    /// The envelope (dates, subject, addresses, message ids): fetched without the MIME parts.
    Summary,
    /// The header block (header-field keys).
    Header,
    Bytes,
}

pub fn need(keys: &[SearchKey]) -> Need {
    keys.iter().map(need_one).max().unwrap_or(Need::View)
}

fn need_one(key: &SearchKey) -> Need {
    match key {
        SearchKey::All
        | SearchKey::Recent
        | SearchKey::Old
        | SearchKey::Sequence(_)
        | SearchKey::Uid(_) => Need::View,
        SearchKey::SentBefore(_) | SearchKey::SentOn(_) | SearchKey::SentSince(_) => Need::Summary,
        SearchKey::Bcc(_)
        | SearchKey::Cc(_)
        | SearchKey::From(_)
        | SearchKey::Subject(_)
        | SearchKey::To(_)
        | SearchKey::Header(..)
        | SearchKey::ThreadId(_) => Need::Header,
        SearchKey::Body(_) | SearchKey::Text(_) => Need::Bytes,
        SearchKey::Not(k) => need_one(k),
        SearchKey::Or(a, b) => need_one(a).max(need_one(b)),
        SearchKey::And(keys) => need(keys),
        _ => Need::Metadata,
    }
}

/// The BODY and TEXT keys every match of `keys` satisfies: the top-level conjunction's (an
/// `AND` within it included, none under `NOT` or `OR`). The full-text index narrows with them.
pub fn text_queries(keys: &[SearchKey]) -> Vec<TextQuery> {
    let mut out = Vec::new();
    for k in keys {
        match k {
            SearchKey::Body(s) => out.push(TextQuery {
                needle: s.clone(),
                body_only: true,
            }),
            SearchKey::Text(s) => out.push(TextQuery {
                needle: s.clone(),
                body_only: false,
            }),
            SearchKey::And(keys) => out.extend(text_queries(keys)),
            _ => {}
        }
    }
    out
}

/// Whether a BODY or TEXT key stands under a `NOT` or `OR` in `keys`.
pub fn nested_text(keys: &[SearchKey]) -> bool {
    fn any_text(k: &SearchKey) -> bool {
        match k {
            SearchKey::Body(_) | SearchKey::Text(_) => true,
            SearchKey::Not(k) => any_text(k),
            SearchKey::Or(a, b) => any_text(a) || any_text(b),
            SearchKey::And(keys) => keys.iter().any(any_text),
            _ => false,
        }
    }
    keys.iter().any(|k| match k {
        SearchKey::Not(_) | SearchKey::Or(..) => any_text(k),
        SearchKey::And(keys) => nested_text(keys),
        _ => false,
    })
}

/// What evaluating `keys` needs when their top-level BODY and TEXT keys are known to hold.
pub fn need_besides_text(keys: &[SearchKey]) -> Need {
    keys.iter()
        .map(|k| match k {
            SearchKey::Body(_) | SearchKey::Text(_) => Need::View,
            SearchKey::And(keys) => need_besides_text(keys),
            k => need_one(k),
        })
        .max()
        .unwrap_or(Need::View)
}

/// Whether a MODSEQ key appears anywhere in `keys`.
pub fn mentions_modseq(keys: &[SearchKey]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(k) => mentions_modseq(std::slice::from_ref(k)),
        SearchKey::Or(a, b) => mentions_modseq(&[(**a).clone(), (**b).clone()]),
        SearchKey::And(keys) => mentions_modseq(keys),
        _ => false,
    })
}

/// One message under evaluation.
pub struct Candidate<'a> {
    pub seq: u32,
    pub count: u32,
    pub uid: Uid,
    /// `\Recent` in this session.
    pub recent: bool,
    pub largest_uid: u32,
    /// What the store said about the message: absent when the search needs only the view.
    pub fetched: Option<&'a FetchedMessage>,
    /// The message parsed once for its header-field keys.
    pub parsed: Option<&'a mail_parser::Message<'a>>,
    /// What BODY and TEXT look in, extracted once.
    pub text: Option<&'a SearchText>,
    /// The top-level BODY and TEXT keys are known to hold (the full-text index said so).
    pub text_known: bool,
    /// `$`, the saved search result (RFC 5182).
    pub saved: &'a UidSet,
    /// The service's clock (Unix seconds), for YOUNGER and OLDER (RFC 5032).
    pub now: i64,
}

fn names_saved<T>(set: &SequenceSet<T>) -> bool {
    set.items().iter().any(|i| matches!(i, SeqItem::Saved))
}

/// Days since the Unix epoch of a civil date (Howard Hinnant's days_from_civil).
pub fn days(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn date_days(d: Date) -> i64 {
    days(
        i64::from(d.year()),
        u32::from(d.month()),
        u32::from(d.day()),
    )
}

fn contains(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

fn sent_days(c: &Candidate<'_>) -> Option<i64> {
    let raw = c.fetched?.summary.envelope.date.as_deref()?;
    let d = mail_parser::DateTime::parse_rfc822(raw)?;
    // RFC 9051 §6.4.4: the date of the Date header, disregarding time and time zone.
    Some(days(
        i64::from(d.year),
        u32::from(d.month),
        u32::from(d.day),
    ))
}

fn address_text(a: Option<&mail_parser::Address<'_>>) -> String {
    let mut s = String::new();
    if let Some(a) = a {
        for addr in a.iter() {
            if let Some(n) = addr.name() {
                s.push_str(n);
                s.push(' ');
            }
            if let Some(e) = addr.address() {
                s.push_str(e);
                s.push(' ');
            }
        }
    }
    s
}

/// The length of a fetched message's header block (its bytes' first part's body offset).
fn header_len(f: &FetchedMessage, bytes: &[u8]) -> usize {
    f.summary
        .parts
        .first()
        .map_or(bytes.len(), |p| (p.body_offset as usize).min(bytes.len()))
}

fn header_block<'a>(c: &Candidate<'a>) -> &'a [u8] {
    let Some(f) = c.fetched else { return &[] };
    let Some(bytes) = f.bytes.as_deref() else {
        return &[];
    };
    &bytes[..header_len(f, bytes)]
}

/// What BODY and TEXT look in, for a message fetched with its bytes.
pub fn message_text(f: &FetchedMessage) -> Option<SearchText> {
    let bytes = f.bytes.as_deref()?;
    Some(crate::mail::text::search_text(bytes, header_len(f, bytes)))
}

/// Whether a message matches every key of `keys`.
pub fn matches_all(keys: &[SearchKey], c: &Candidate<'_>) -> bool {
    keys.iter().all(|k| matches(k, c))
}

fn matches(key: &SearchKey, c: &Candidate<'_>) -> bool {
    // Keys the view answers alone ([`Need::View`]).
    match key {
        SearchKey::All => return true,
        SearchKey::Recent => return c.recent,
        SearchKey::Old => return !c.recent,
        SearchKey::Sequence(set) => {
            return set.contains(c.seq, c.count) || (names_saved(set) && c.saved.contains(c.uid))
        }
        SearchKey::Uid(set) => {
            return set.contains(c.uid.0, c.largest_uid)
                || (names_saved(set) && c.saved.contains(c.uid))
        }
        // Only top-level ones are known (`nested_text` is false when this is set).
        SearchKey::Body(_) | SearchKey::Text(_) if c.text_known => return true,
        SearchKey::Not(k) => return !matches(k, c),
        SearchKey::Or(a, b) => return matches(a, c) || matches(b, c),
        SearchKey::And(keys) => return matches_all(keys, c),
        _ => {}
    }
    // Every other key was fetched for ([`need`]): without the index data nothing matches.
    let Some(meta) = c.fetched.map(|f| &f.meta) else {
        return false;
    };
    let has = |f: SystemFlags| meta.flags.system.contains(f);
    let internal = meta.internal_date.div_euclid(86_400);
    // A message whose save date is unknown (stored before save dates were kept; FETCH says
    // NIL) is searched by its internal date: the closest date ringpost has for it, and the
    // one it was saved with when it was appended or delivered.
    let saved = meta.saved.unwrap_or(meta.internal_date).div_euclid(86_400);
    match key {
        SearchKey::Answered => has(SystemFlags::ANSWERED),
        SearchKey::Deleted => has(SystemFlags::DELETED),
        SearchKey::Draft => has(SystemFlags::DRAFT),
        SearchKey::Flagged => has(SystemFlags::FLAGGED),
        SearchKey::Seen => has(SystemFlags::SEEN),
        SearchKey::Unanswered => !has(SystemFlags::ANSWERED),
        SearchKey::Undeleted => !has(SystemFlags::DELETED),
        SearchKey::Undraft => !has(SystemFlags::DRAFT),
        SearchKey::Unflagged => !has(SystemFlags::FLAGGED),
        SearchKey::Unseen => !has(SystemFlags::SEEN),
        SearchKey::New => c.recent && !has(SystemFlags::SEEN),
        SearchKey::Keyword(k) => meta
            .flags
            .keywords
            .iter()
            .any(|x| x.as_str().eq_ignore_ascii_case(k.as_str())),
        SearchKey::Unkeyword(k) => !meta
            .flags
            .keywords
            .iter()
            .any(|x| x.as_str().eq_ignore_ascii_case(k.as_str())),
        SearchKey::Before(d) => internal < date_days(*d),
        SearchKey::SavedBefore(d) => saved < date_days(*d),
        SearchKey::SavedOn(d) => saved == date_days(*d),
        SearchKey::SavedSince(d) => saved >= date_days(*d),
        SearchKey::SaveDateSupported => true,
        SearchKey::EmailId(id) => crate::mail::email_object_id(meta.email_id) == *id,
        SearchKey::ThreadId(id) => {
            super::super::fetch::thread_object_id(header_block(c), meta.email_id) == *id
        }
        SearchKey::On(d) => internal == date_days(*d),
        SearchKey::Since(d) => internal >= date_days(*d),
        SearchKey::SentBefore(d) => sent_days(c).is_some_and(|s| s < date_days(*d)),
        SearchKey::SentOn(d) => sent_days(c) == Some(date_days(*d)),
        SearchKey::SentSince(d) => sent_days(c).is_some_and(|s| s >= date_days(*d)),
        // RFC 5032 §3: by internal date, in seconds before now.
        SearchKey::Younger(n) => {
            u64::try_from(c.now - meta.internal_date).is_ok_and(|age| age <= *n)
                || meta.internal_date > c.now
        }
        SearchKey::Older(n) => u64::try_from(c.now - meta.internal_date).is_ok_and(|age| age > *n),
        SearchKey::Larger(n) => u64::from(meta.size) > *n,
        SearchKey::Smaller(n) => u64::from(meta.size) < *n,
        SearchKey::ModSeq { mod_seq, .. } => meta.modseq >= *mod_seq,
        SearchKey::Subject(s) => {
            c.parsed
                .and_then(|m| m.subject())
                .is_some_and(|subj| contains(subj, s))
                || header_value(header_block(c), "Subject").is_some_and(|v| contains(&v, s))
        }
        SearchKey::From(s) | SearchKey::To(s) | SearchKey::Cc(s) | SearchKey::Bcc(s) => {
            let (name, decoded) = match (key, c.parsed) {
                (SearchKey::From(_), m) => ("From", m.map(|m| address_text(m.from()))),
                (SearchKey::To(_), m) => ("To", m.map(|m| address_text(m.to()))),
                (SearchKey::Cc(_), m) => ("Cc", m.map(|m| address_text(m.cc()))),
                (_, m) => ("Bcc", m.map(|m| address_text(m.bcc()))),
            };
            decoded.is_some_and(|d| contains(&d, s))
                || header_value(header_block(c), name).is_some_and(|v| contains(&v, s))
        }
        // Any occurrence of a repeated field (RFC 9051 §6.4.4: "the specified field").
        SearchKey::Header(name, value) => crate::imap::fetch::header_values(header_block(c), name)
            .iter()
            .any(|v| contains(v, value)),
        SearchKey::Body(s) => c.text.is_some_and(|t| t.contains(s, true)),
        SearchKey::Text(s) => c.text.is_some_and(|t| t.contains(s, false)),
        // Answered from the view above.
        SearchKey::All
        | SearchKey::Recent
        | SearchKey::Old
        | SearchKey::Sequence(_)
        | SearchKey::Uid(_)
        | SearchKey::Not(_)
        | SearchKey::Or(..)
        | SearchKey::And(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days(1970, 1, 1), 0);
        assert_eq!(days(2024, 3, 1), 19783);
    }
}
