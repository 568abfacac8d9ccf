//! FETCH and UID FETCH: macros, every data item, sections, partials, BINARY, modifiers.

use super::*;

use FetchAttribute as A;

fn items(input: &str) -> FetchItems {
    let Command::Fetch(f) = ok(format!("a1 FETCH 1 {input}").as_bytes()) else {
        panic!("not FETCH")
    };
    f.items
}

fn one(input: &str) -> FetchAttribute {
    let FetchItems::Attributes(mut list) = items(input) else {
        panic!("a macro")
    };
    assert_eq!(list.len(), 1, "{input}");
    list.remove(0)
}

fn part(numbers: &[u32]) -> Part {
    Part(numbers.iter().map(|&n| nz(n)).collect())
}

fn body(numbers: &[u32], text: Option<SectionText>, partial: Option<(u64, u64)>) -> BodySection {
    BodySection {
        part: part(numbers),
        text,
        partial: partial.map(|(offset, len)| Partial {
            offset,
            length: std::num::NonZeroU64::new(len).unwrap(),
        }),
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn macros() {
    assert_eq!(items("ALL"), FetchItems::All);
    assert_eq!(items("fast"), FetchItems::Fast);
    assert_eq!(items("FULL"), FetchItems::Full);
    assert_eq!(
        FetchItems::Full.attributes(),
        vec![
            A::Flags,
            A::InternalDate,
            A::Rfc822Size,
            A::Envelope,
            A::Body
        ]
    );
    assert_eq!(
        FetchItems::Fast.attributes(),
        vec![A::Flags, A::InternalDate, A::Rfc822Size]
    );
    // A macro cannot be in a list.
    assert_eq!(tagged_err(b"a1 FETCH 1 (ALL)"), Malformed::InvalidFetchItem);
}

#[test]
fn simple_items() {
    for (input, expected) in [
        ("ENVELOPE", A::Envelope),
        ("flags", A::Flags),
        ("INTERNALDATE", A::InternalDate),
        ("RFC822", A::Rfc822),
        ("RFC822.HEADER", A::Rfc822Header),
        ("RFC822.SIZE", A::Rfc822Size),
        ("RFC822.TEXT", A::Rfc822Text),
        ("BODY", A::Body),
        ("BODYSTRUCTURE", A::BodyStructure),
        ("UID", A::Uid),
        ("MODSEQ", A::ModSeq),
        ("SAVEDATE", A::SaveDate),
        ("EMAILID", A::EmailId),
        ("threadid", A::ThreadId),
    ] {
        assert_eq!(one(input), expected, "{input}");
    }
}

#[test]
fn body_sections() {
    assert_eq!(one("BODY[]"), A::BodySection(body(&[], None, None)));
    assert_eq!(
        one("BODY.PEEK[]<0.2048>"),
        A::BodyPeek(body(&[], None, Some((0, 2048))))
    );
    assert_eq!(
        one("BODY[HEADER]"),
        A::BodySection(body(&[], Some(SectionText::Header), None))
    );
    assert_eq!(
        one("body.peek[text]"),
        A::BodyPeek(body(&[], Some(SectionText::Text), None))
    );
    assert_eq!(one("BODY[1]"), A::BodySection(body(&[1], None, None)));
    assert_eq!(
        one("BODY[1.2.3]<10.20>"),
        A::BodySection(body(&[1, 2, 3], None, Some((10, 20))))
    );
    assert_eq!(
        one("BODY[4.2.MIME]"),
        A::BodySection(body(&[4, 2], Some(SectionText::Mime), None))
    );
    assert_eq!(
        one("BODY[3.HEADER]"),
        A::BodySection(body(&[3], Some(SectionText::Header), None))
    );
    assert_eq!(
        one("BODY[2.TEXT]"),
        A::BodySection(body(&[2], Some(SectionText::Text), None))
    );
    assert_eq!(
        one("BODY.PEEK[HEADER.FIELDS (DATE FROM \"Subject\" X-Mailer)]"),
        A::BodyPeek(body(
            &[],
            Some(SectionText::HeaderFields(names(&[
                "DATE", "FROM", "Subject", "X-Mailer"
            ]))),
            None
        ))
    );
    assert_eq!(
        one("BODY[1.HEADER.FIELDS.NOT (Received)]<5.10>"),
        A::BodySection(body(
            &[1],
            Some(SectionText::HeaderFieldsNot(names(&["Received"]))),
            Some((5, 10))
        ))
    );
}

#[test]
fn binary_items() {
    let bin = |numbers: &[u32], partial: Option<(u64, u64)>| BinarySection {
        part: part(numbers),
        partial: partial.map(|(offset, len)| Partial {
            offset,
            length: std::num::NonZeroU64::new(len).unwrap(),
        }),
    };
    assert_eq!(one("BINARY[]"), A::Binary(bin(&[], None)));
    assert_eq!(
        one("BINARY.PEEK[1.2]<0.100>"),
        A::BinaryPeek(bin(&[1, 2], Some((0, 100))))
    );
    assert_eq!(one("BINARY.SIZE[3]"), A::BinarySize(part(&[3])));
    assert_eq!(
        tagged_err(b"a1 FETCH 1 BINARY[TEXT]"),
        Malformed::InvalidSection
    );
    // BINARY.SIZE takes no partial: `<` is where the modifiers should start.
    assert_eq!(
        tagged_err(b"a1 FETCH 1 BINARY.SIZE[1]<0.1>"),
        Malformed::ExpectedSpace
    );
    assert_eq!(
        tagged_err(b"a1 FETCH 1 BINARY"),
        Malformed::InvalidFetchItem
    );
}

#[test]
fn lists_sets_and_modifiers() {
    assert_eq!(
        ok(b"a1 UID FETCH 300:* (UID FLAGS MODSEQ) (CHANGEDSINCE 12345 VANISHED)"),
        Command::UidFetch(Fetch {
            set: set(vec![SeqItem::Range(uid(300), SeqBound::Largest)]),
            items: FetchItems::Attributes(vec![A::Uid, A::Flags, A::ModSeq]),
            modifiers: FetchModifiers {
                changed_since: Some(modseq(12345)),
                vanished: true,
                partial: None,
            },
        })
    );
    assert_eq!(
        ok(b"a1 FETCH $ (FLAGS) (CHANGEDSINCE 1)"),
        Command::Fetch(Fetch {
            set: set(vec![SeqItem::Saved]),
            items: FetchItems::Attributes(vec![A::Flags]),
            modifiers: FetchModifiers {
                changed_since: Some(modseq(1)),
                vanished: false,
                partial: None,
            },
        })
    );
    assert_eq!(
        tagged_err(b"a1 FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)"),
        Malformed::InvalidVanished
    );
    assert_eq!(
        tagged_err(b"a1 UID FETCH 1:* FLAGS (VANISHED)"),
        Malformed::InvalidVanished
    );
    assert_eq!(
        tagged_err(b"a1 FETCH 1 FLAGS (CHANGEDSINCE 0)"),
        Malformed::InvalidFetchModifier
    );
    assert_eq!(
        tagged_err(b"a1 FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)"),
        Malformed::InvalidFetchModifier
    );
    assert_eq!(
        tagged_err(b"a1 FETCH 1 FLAGS (FOO)"),
        Malformed::InvalidFetchModifier
    );
}

#[test]
fn fetch_errors() {
    assert_eq!(tagged_err(b"a1 FETCH 1"), Malformed::MissingArgument);
    assert_eq!(tagged_err(b"a1 FETCH 1 ()"), Malformed::MissingArgument);
    assert_eq!(
        tagged_err(b"a1 FETCH 1 (FLAGS"),
        Malformed::ExpectedParenthesis
    );
    assert_eq!(tagged_err(b"a1 FETCH 1 FROB"), Malformed::InvalidFetchItem);
    assert_eq!(
        tagged_err(b"a1 FETCH 1 SAVEDATE[]"),
        Malformed::InvalidFetchItem
    );
    // RFC 8970 §6: PREVIEW takes LAZY and nothing else.
    assert_eq!(
        tagged_err(b"a1 FETCH 1 (PREVIEW (EAGER))"),
        Malformed::InvalidFetchItem
    );
    assert_eq!(
        tagged_err(b"a1 FETCH 1 (PREVIEW ())"),
        Malformed::InvalidFetchItem
    );
    for bad in [
        &b"a1 FETCH 1 BODY[MIME]"[..],
        b"a1 FETCH 1 BODY[0]",
        b"a1 FETCH 1 BODY[1.]",
        b"a1 FETCH 1 BODY[HEADERS]",
        b"a1 FETCH 1 BODY[]<0>",
        b"a1 FETCH 1 BODY[]<0.0>",
        b"a1 FETCH 1 BODY[]<x.1>",
        b"a1 FETCH 1 BODY[HEADER.FIELDS (Sub:ject)]",
    ] {
        assert_eq!(tagged_err(bad), Malformed::InvalidSection, "{bad:?}");
    }
    assert_eq!(
        tagged_err(b"a1 FETCH 1 BODY[HEADER"),
        Malformed::MissingArgument
    );
    assert_eq!(
        tagged_err(b"a1 FETCH 1 BODY[HEADER.FIELDS ()]"),
        Malformed::MissingArgument
    );
    assert_eq!(
        tagged_err(b"a1 FETCH 1 BODY[HEADER.FIELDS]"),
        Malformed::ExpectedSpace
    );
    assert_eq!(
        tagged_err(b"a1 FETCH 1 BODY.PEEK"),
        Malformed::InvalidFetchItem
    );
}
