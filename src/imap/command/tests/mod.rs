//! Parser unit tests: every command form with its exact typed value, the RFC examples, every
//! malformed form with its reason, and a property test that no input panics the parser.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::mail::{ModSeq, UidValidity};

mod acl;
mod auth;
mod fetch;
mod mailbox;
mod malformed;
mod notify;
mod rfc_examples;
mod search;
mod selected;

fn line(s: &[u8]) -> Fragment {
    Fragment::Line(s.to_vec())
}

fn lit(s: &[u8]) -> Fragment {
    Fragment::Literal(s.to_vec())
}

/// Parse as an IMAP4rev1 client sends (modified UTF-7 names).
fn parse(parts: &[Fragment]) -> Result<TaggedCommand, ParseError> {
    super::parse(parts, NameEncoding::ModifiedUtf7)
}

fn ok(input: &[u8]) -> Command {
    let parsed = parse(&[line(input)]).unwrap();
    assert_eq!(parsed.tag.as_str(), "a1");
    parsed.command
}

/// A command of several fragments (lines and literals).
fn ok_parts(parts: &[Fragment]) -> Command {
    parse(parts).unwrap().command
}

fn err(input: &[u8]) -> (Option<String>, Malformed) {
    let e = parse(&[line(input)]).unwrap_err();
    (e.tag.map(|t| t.as_str().to_owned()), e.reason)
}

fn tagged_err(input: &[u8]) -> Malformed {
    let (tag, reason) = err(input);
    assert_eq!(tag.as_deref(), Some("a1"));
    reason
}

fn nz(n: u32) -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(n).unwrap()
}

fn seq(n: u32) -> SeqBound<SeqNum> {
    SeqBound::Value(SeqNum(nz(n)))
}

fn uid(n: u32) -> SeqBound<Uid> {
    SeqBound::Value(Uid::from(nz(n)))
}

fn set<T>(items: Vec<SeqItem<T>>) -> SequenceSet<T> {
    SequenceSet::new(items).unwrap()
}

fn mbox(name: &str) -> Mailbox {
    Mailbox::from_decoded(name.to_owned())
}

fn modseq(n: u64) -> ModSeq {
    ModSeq::new(n).unwrap()
}

fn kw(s: &str) -> Keyword {
    Keyword::new(s).unwrap()
}

fn date(y: u16, m: u8, d: u8) -> Date {
    Date::new(y, m, d).unwrap()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// Any bytes, cut into lines and literals, parse or fail with a reason; never a panic.
    #[test]
    fn arbitrary_input_never_panics(
        pieces in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..60),
                proptest::sample::select(vec![
                    b"a1 FETCH ".to_vec(), b"a1 UID SEARCH ".to_vec(), b"BODY.PEEK[".to_vec(),
                    b"HEADER.FIELDS (".to_vec(), b"OR NOT (".to_vec(), b"1:*,$".to_vec(),
                    b"a1 APPEND INBOX (\\Seen) ".to_vec(), b"~{".to_vec(), b"UTF8 (".to_vec(),
                    b"a1 LIST (SUBSCRIBED) ".to_vec(), b"RETURN (".to_vec(), b"&U,BTFw-".to_vec(),
                    b"a1 SELECT x (QRESYNC (".to_vec(), b"a1 STORE 1 (UNCHANGEDSINCE ".to_vec(),
                    b")".to_vec(), b"]".to_vec(), b"<0.".to_vec(), b" ".to_vec(), b"\"".to_vec(),
                ]),
            ],
            1..8,
        ),
        literal_every in 1usize..4,
        utf8 in proptest::prelude::any::<bool>(),
    ) {
        // Join the pieces into fragments: every `literal_every`-th piece is a literal,
        // following a line that ends with a marker for it, as the framer produces them.
        let mut parts = Vec::new();
        let mut current = Vec::new();
        for (i, piece) in pieces.into_iter().enumerate() {
            if i % (literal_every + 1) == literal_every {
                current.extend_from_slice(format!("{{{}}}", piece.len()).as_bytes());
                parts.push(Fragment::Line(std::mem::take(&mut current)));
                parts.push(Fragment::Literal(piece));
            } else {
                current.extend(piece);
            }
        }
        parts.push(Fragment::Line(current));
        let names = if utf8 { NameEncoding::Utf8 } else { NameEncoding::ModifiedUtf7 };
        match super::parse(&parts, names) {
            Ok(cmd) => proptest::prop_assert!(!cmd.tag.as_str().is_empty()),
            Err(e) => proptest::prop_assert!(!e.reason.text().is_empty()),
        }
    }

    /// Deep nesting is refused with a reason, not a stack overflow.
    #[test]
    fn nesting_is_bounded(depth in 0usize..400, kind in 0usize..3) {
        let open = ["NOT ", "(", "OR ALL "][kind];
        let close = ["", ")", ""][kind];
        let input = format!("a1 SEARCH {}ALL{}", open.repeat(depth), close.repeat(depth));
        let result = parse(&[line(input.as_bytes())]);
        if depth < MAX_SEARCH_DEPTH {
            proptest::prop_assert_eq!(result.unwrap().command.verb(), Verb::Search);
        } else {
            proptest::prop_assert_eq!(result.unwrap_err().reason, Malformed::SearchTooDeep);
        }
    }
}
