//! Malformed commands of the authenticated and selected states: each gets its own reason,
//! with the tag, and the reason's text is what the client reads after `BAD`.

use super::*;

#[test]
fn every_reason_has_reply_text() {
    for (input, reason, text) in [
        (
            &b"a1 SELECT"[..],
            Malformed::MissingArgument,
            "Missing argument",
        ),
        (
            b"a1 FETCH 1:x FLAGS",
            Malformed::InvalidSequenceSet,
            "Invalid sequence set",
        ),
        (
            b"a1 FETCH 1 BODY[FOO]",
            Malformed::InvalidSection,
            "Invalid body section",
        ),
        (
            b"a1 FETCH 1 FROB",
            Malformed::InvalidFetchItem,
            "Invalid FETCH item",
        ),
        (
            b"a1 SEARCH FROB",
            Malformed::InvalidSearchKey,
            "Invalid search key",
        ),
        (
            b"a1 SEARCH BEFORE 1-Foo-2000",
            Malformed::InvalidDate,
            "Invalid date",
        ),
        (
            b"a1 STORE 1 FLAG x",
            Malformed::InvalidStoreItem,
            "Expected FLAGS, +FLAGS or -FLAGS",
        ),
        (
            b"a1 STATUS x (FOO)",
            Malformed::InvalidStatusItem,
            "Invalid STATUS item",
        ),
        (
            b"a1 LIST (FOO) \"\" *",
            Malformed::InvalidListOption,
            "Invalid LIST option",
        ),
        (
            b"a1 DELETE &Jjo",
            Malformed::InvalidMailboxName,
            "Invalid mailbox name",
        ),
        (
            b"a1 UID FROB",
            Malformed::InvalidUidCommand,
            "Expected FETCH, STORE, COPY, MOVE, SEARCH, SORT, THREAD or EXPUNGE after UID",
        ),
        (
            b"a1 SEARCH CHARSET X ALL",
            Malformed::UnsupportedCharset,
            "Unsupported charset",
        ),
        (
            b"a1 SEARCH FUZZY SUBJECT x",
            Malformed::UnsupportedItem,
            "Extension item not supported",
        ),
        (
            b"a1 SELECT INBOX (QRESYNC (0 1))",
            Malformed::InvalidQresyncParameters,
            "Invalid QRESYNC parameters",
        ),
        (
            b"a1 UID FETCH 1 FLAGS (VANISHED)",
            Malformed::InvalidVanished,
            "VANISHED needs UID FETCH and CHANGEDSINCE",
        ),
    ] {
        assert_eq!(tagged_err(input), reason, "{input:?}");
        assert_eq!(reason.text(), text);
    }
}

#[test]
fn spacing_and_trailing_garbage() {
    assert_eq!(tagged_err(b"a1 SELECT  INBOX"), Malformed::InvalidAtom);
    assert_eq!(tagged_err(b"a1 SELECT INBOX "), Malformed::MissingArgument);
    assert_eq!(
        tagged_err(b"a1 FETCH 1  FLAGS"),
        Malformed::InvalidFetchItem
    );
    assert_eq!(
        tagged_err(b"a1 FETCH 1 FLAGS extra"),
        Malformed::ExpectedParenthesis
    );
    assert_eq!(tagged_err(b"a1 CHECK x"), Malformed::TrailingCharacters);
    assert_eq!(tagged_err(b"a1 COPY 1 x y"), Malformed::TrailingCharacters);
    assert_eq!(
        tagged_err(b"a1 NAMESPACE ()"),
        Malformed::TrailingCharacters
    );
}

#[test]
fn literal_where_the_grammar_has_none() {
    // A literal for a number or a flag is not valid.
    let parts = [line(b"a1 FETCH {1}"), lit(b"1"), line(b" FLAGS")];
    assert_eq!(
        parse(&parts).unwrap_err().reason,
        Malformed::InvalidSequenceSet
    );
    let parts = [line(b"a1 STORE 1 FLAGS {5}"), lit(b"\\Seen"), line(b"")];
    assert_eq!(parse(&parts).unwrap_err().reason, Malformed::InvalidFlag);
}
