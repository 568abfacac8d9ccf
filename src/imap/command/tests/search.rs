//! SEARCH and UID SEARCH: every key, CHARSET, ESEARCH RETURN options, SEARCHRES, MODSEQ.

use super::*;

fn search(criteria: Vec<SearchKey>) -> Search {
    Search {
        returns: None,
        charset: Charset::Utf8,
        criteria,
    }
}

fn key(input: &str) -> SearchKey {
    let Command::Search(s) = ok(format!("a1 SEARCH {input}").as_bytes()) else {
        panic!("not SEARCH")
    };
    assert_eq!(s.criteria.len(), 1, "{input}");
    s.criteria.into_iter().next().unwrap()
}

#[test]
fn flag_and_state_keys() {
    use SearchKey as K;
    for (input, expected) in [
        ("ALL", K::All),
        ("answered", K::Answered),
        ("DELETED", K::Deleted),
        ("DRAFT", K::Draft),
        ("FLAGGED", K::Flagged),
        ("SEEN", K::Seen),
        ("UNANSWERED", K::Unanswered),
        ("UNDELETED", K::Undeleted),
        ("UNDRAFT", K::Undraft),
        ("UNFLAGGED", K::Unflagged),
        ("UNSEEN", K::Unseen),
        ("NEW", K::New),
        ("OLD", K::Old),
        ("RECENT", K::Recent),
        ("KEYWORD $Forwarded", K::Keyword(kw("$Forwarded"))),
        ("UNKEYWORD Junk", K::Unkeyword(kw("Junk"))),
    ] {
        assert_eq!(key(input), expected, "{input}");
    }
}

#[test]
fn text_date_and_size_keys() {
    use SearchKey as K;
    for (input, expected) in [
        ("BCC bob", K::Bcc("bob".into())),
        ("BODY \"hello world\"", K::Body("hello world".into())),
        ("CC x]y", K::Cc("x]y".into())),
        ("FROM \"Smith\"", K::From("Smith".into())),
        (
            "SUBJECT \"gr\u{fc}\u{df}e\"",
            K::Subject("gr\u{fc}\u{df}e".into()),
        ),
        ("TEXT \"\"", K::Text("".into())),
        ("TO alice@example.com", K::To("alice@example.com".into())),
        (
            "HEADER Message-ID \"<x@y>\"",
            K::Header("Message-ID".into(), "<x@y>".into()),
        ),
        ("BEFORE 1-Feb-1994", K::Before(date(1994, 2, 1))),
        ("ON \"29-Feb-2024\"", K::On(date(2024, 2, 29))),
        ("SINCE 01-jan-2000", K::Since(date(2000, 1, 1))),
        ("SENTBEFORE 31-Dec-1999", K::SentBefore(date(1999, 12, 31))),
        ("SENTON 15-Jun-2021", K::SentOn(date(2021, 6, 15))),
        ("SENTSINCE 1-Mar-2020", K::SentSince(date(2020, 3, 1))),
        ("LARGER 10000", K::Larger(10000)),
        ("SMALLER 9223372036854775807", K::Smaller(i64::MAX as u64)),
    ] {
        assert_eq!(key(input), expected, "{input}");
    }
}

#[test]
fn set_keys_and_logic() {
    use SearchKey as K;
    assert_eq!(
        key("1:5,7"),
        K::Sequence(set(vec![
            SeqItem::Range(seq(1), seq(5)),
            SeqItem::One(seq(7))
        ]))
    );
    assert_eq!(key("$"), K::Sequence(set(vec![SeqItem::Saved])));
    assert_eq!(
        key("UID 443:557,*"),
        K::Uid(set(vec![
            SeqItem::Range(uid(443), uid(557)),
            SeqItem::One(SeqBound::Largest)
        ]))
    );
    assert_eq!(key("UID $"), K::Uid(set(vec![SeqItem::Saved])));
    assert_eq!(key("NOT SEEN"), K::Not(Box::new(K::Seen)));
    assert_eq!(
        key("OR (SEEN FLAGGED) NOT 2:*"),
        K::Or(
            Box::new(K::And(vec![K::Seen, K::Flagged])),
            Box::new(K::Not(Box::new(K::Sequence(set(vec![SeqItem::Range(
                seq(2),
                SeqBound::Largest
            )])))))
        )
    );
    assert_eq!(key("((ALL))"), K::And(vec![K::And(vec![K::All])]));
}

#[test]
fn modseq_key() {
    assert_eq!(
        key("MODSEQ 0"),
        SearchKey::ModSeq {
            entry: None,
            mod_seq: modseq(0)
        }
    );
    assert_eq!(
        key("MODSEQ \"/flags/\\\\draft\" all 620162338"),
        SearchKey::ModSeq {
            entry: Some(ModSeqEntry {
                flag: Flag::Draft,
                kind: EntryKind::All
            }),
            mod_seq: modseq(620162338)
        }
    );
    assert_eq!(
        key("MODSEQ \"/flags/$Junk\" priv 5"),
        SearchKey::ModSeq {
            entry: Some(ModSeqEntry {
                flag: Flag::Keyword(kw("$Junk")),
                kind: EntryKind::Private
            }),
            mod_seq: modseq(5)
        }
    );
    assert_eq!(
        tagged_err(b"a1 SEARCH MODSEQ \"/flags/\\\\Seen\" mine 5"),
        Malformed::InvalidSearchKey
    );
    assert_eq!(
        tagged_err(b"a1 SEARCH MODSEQ \"/x/\\\\Seen\" all 5"),
        Malformed::InvalidSearchKey
    );
}

#[test]
fn charset_and_return_options() {
    assert_eq!(
        ok(b"a1 SEARCH CHARSET US-ASCII FLAGGED"),
        Command::Search(Search {
            charset: Charset::UsAscii,
            ..search(vec![SearchKey::Flagged])
        })
    );
    assert_eq!(
        ok(b"a1 SEARCH charset utf-8 SUBJECT x"),
        Command::Search(search(vec![SearchKey::Subject("x".into())]))
    );
    assert_eq!(
        tagged_err(b"a1 SEARCH CHARSET KOI8-R ALL"),
        Malformed::UnsupportedCharset
    );
    assert_eq!(
        ok(b"a1 UID SEARCH RETURN (MIN MAX COUNT SAVE) UNSEEN"),
        Command::UidSearch(Search {
            returns: Some(SearchReturn {
                min: true,
                max: true,
                count: true,
                save: true,
                all: false,
                partial: None,
                context: false,
                update: false,
            }),
            ..search(vec![SearchKey::Unseen])
        })
    );
    assert_eq!(
        ok(b"a1 SEARCH RETURN () CHARSET UTF-8 ALL"),
        Command::Search(Search {
            returns: Some(SearchReturn {
                all: true,
                ..SearchReturn::default()
            }),
            ..search(vec![SearchKey::All])
        })
    );
    assert_eq!(
        tagged_err(b"a1 SEARCH RETURN (PARTIAL 1:5 ALL) ALL"),
        Malformed::InvalidSearchReturn
    );
    assert_eq!(
        tagged_err(b"a1 SEARCH RETURN ALL"),
        Malformed::ExpectedParenthesis
    );
}

/// RFC 5267 §4.2, §4.3: CONTEXT and UPDATE; a list asking no result data but UPDATE (or
/// CONTEXT alone) answers ALL, SAVE alone stays without ESEARCH, and MIN stays MIN.
#[test]
fn search_context_and_update() {
    let returns = |line: &[u8]| match ok(line) {
        Command::Search(s) | Command::UidSearch(s) => s.returns.unwrap(),
        Command::Sort(s) | Command::UidSort(s) => s.search.returns.unwrap(),
        other => panic!("{other:?}"),
    };
    let r = returns(b"a1 UID SEARCH RETURN (UPDATE) KEYWORD $Junk");
    assert!(r.update && r.all && !r.context && !r.min);
    let r = returns(b"a1 SEARCH RETURN (context count) UNDELETED");
    assert!(r.context && r.count && !r.all && !r.update);
    let r = returns(b"a1 SEARCH RETURN (CONTEXT) ALL");
    assert!(r.context && r.all);
    let r = returns(b"a1 SEARCH RETURN (SAVE CONTEXT) ALL");
    assert!(r.save && r.context && !r.all);
    let r = returns(b"a1 SEARCH RETURN (UPDATE SAVE) ALL");
    assert!(r.save && r.update && r.all);
    let r = returns(b"a1 SEARCH RETURN (UPDATE MIN) ALL");
    assert!(r.update && r.min && !r.all);
    let r = returns(b"a1 UID SORT RETURN (UPDATE PARTIAL 1:10) (DATE) UTF-8 ALL");
    assert!(r.update && !r.all && r.partial.is_some());
    assert_eq!(
        tagged_err(b"a1 SEARCH RETURN (UPDATES) ALL"),
        Malformed::InvalidSearchReturn
    );
}

/// RFC 5267 §5: `"CANCELUPDATE" 1*(SP quoted)`.
#[test]
fn cancelupdate() {
    assert_eq!(
        ok(b"a1 CANCELUPDATE \"B01\""),
        Command::CancelUpdate(vec!["B01".into()])
    );
    assert_eq!(
        ok(b"a1 cancelupdate \"B01\" \"B02\""),
        Command::CancelUpdate(vec!["B01".into(), "B02".into()])
    );
    assert_eq!(tagged_err(b"a1 CANCELUPDATE"), Malformed::MissingArgument);
    assert_eq!(
        tagged_err(b"a1 CANCELUPDATE B01"),
        Malformed::InvalidContextTag
    );
    assert_eq!(
        tagged_err(b"a1 CANCELUPDATE {3}\r\nB01"),
        Malformed::InvalidContextTag
    );
    assert_eq!(
        tagged_err(b"a1 CANCELUPDATE \"B01\" "),
        Malformed::InvalidContextTag
    );
}

#[test]
fn literal_search_strings() {
    let parts = [
        line(b"a1 SEARCH CHARSET UTF-8 TEXT {6}"),
        lit("X\u{431}\u{430}".as_bytes()),
        line(b" UNSEEN"),
    ];
    assert_eq!(
        ok_parts(&parts),
        Command::Search(search(vec![
            SearchKey::Text("X\u{431}\u{430}".into()),
            SearchKey::Unseen
        ]))
    );
    let parts = [line(b"a1 SEARCH TEXT {2}"), lit(b"\xff\xfe"), line(b"")];
    assert_eq!(parse(&parts).unwrap_err().reason, Malformed::InvalidUtf8);
}

#[test]
fn search_errors() {
    assert_eq!(tagged_err(b"a1 SEARCH"), Malformed::MissingArgument);
    assert_eq!(tagged_err(b"a1 SEARCH FROB"), Malformed::InvalidSearchKey);
    assert_eq!(
        tagged_err(b"a1 SEARCH SAVEDBEFORE 30-Feb-2020"),
        Malformed::InvalidDate
    );
    // RFC 8474 §7: `objectid = 1*255(ALPHA / DIGIT / "_" / "-")`.
    assert_eq!(
        tagged_err(b"a1 SEARCH EMAILID \"\""),
        Malformed::InvalidSearchKey
    );
    let long = format!("a1 SEARCH THREADID {}", "x".repeat(256));
    assert_eq!(tagged_err(long.as_bytes()), Malformed::InvalidSearchKey);
    assert_eq!(
        tagged_err(b"a1 SEARCH FUZZY SUBJECT x"),
        Malformed::UnsupportedItem
    );
    assert_eq!(
        tagged_err(b"a1 SEARCH BEFORE 30-Feb-2020"),
        Malformed::InvalidDate
    );
    assert_eq!(
        tagged_err(b"a1 SEARCH BEFORE 2020-01-01"),
        Malformed::InvalidDate
    );
    assert_eq!(
        tagged_err(b"a1 SEARCH SINCE 1-Jan-20"),
        Malformed::InvalidDate
    );
    assert_eq!(tagged_err(b"a1 SEARCH LARGER x"), Malformed::InvalidNumber);
    assert_eq!(
        tagged_err(b"a1 SEARCH KEYWORD \\Seen"),
        Malformed::InvalidFlag
    );
    assert_eq!(tagged_err(b"a1 SEARCH OR SEEN"), Malformed::MissingArgument);
    assert_eq!(
        tagged_err(b"a1 SEARCH (SEEN"),
        Malformed::ExpectedParenthesis
    );
    assert_eq!(tagged_err(b"a1 SEARCH ()"), Malformed::MissingArgument);
    assert_eq!(tagged_err(b"a1 SEARCH SEEN)"), Malformed::ExpectedSpace);
    assert_eq!(
        tagged_err(b"a1 SEARCH HEADER Subject"),
        Malformed::MissingArgument
    );
    let deep = format!("a1 SEARCH {}ALL", "NOT ".repeat(MAX_SEARCH_DEPTH));
    assert_eq!(tagged_err(deep.as_bytes()), Malformed::SearchTooDeep);
}

#[test]
fn sort_and_thread_arguments() {
    use crate::imap::command::{SortCriterion, SortKey, ThreadAlgorithm};
    let Command::UidSort(s) = ok(b"a1 UID SORT (REVERSE date subject displayFrom) us-ascii UNSEEN")
    else {
        panic!("not UID SORT")
    };
    assert_eq!(
        s.order,
        vec![
            SortCriterion {
                reverse: true,
                key: SortKey::Date
            },
            SortCriterion {
                reverse: false,
                key: SortKey::Subject
            },
            SortCriterion {
                reverse: false,
                key: SortKey::DisplayFrom
            },
        ]
    );
    assert_eq!(s.search.charset, Charset::UsAscii);
    assert_eq!(s.search.criteria, vec![SearchKey::Unseen]);
    assert_eq!(s.search.returns, None);
    let Command::Sort(s) = ok(b"a1 SORT RETURN (MIN COUNT) (ARRIVAL) UTF-8 ALL") else {
        panic!("not SORT")
    };
    let r = s.search.returns.unwrap();
    assert!(r.min && r.count && !r.max && !r.all);
    let Command::Thread(t) = ok(b"a1 THREAD refs UTF-8 1:5 SEEN") else {
        panic!("not THREAD")
    };
    assert_eq!(t.algorithm, ThreadAlgorithm::Refs);
    assert_eq!(t.search.criteria.len(), 2);
    let Command::UidThread(t) = ok(b"a1 UID THREAD ORDEREDSUBJECT \"UTF-8\" ALL") else {
        panic!("not UID THREAD")
    };
    assert_eq!(t.algorithm, ThreadAlgorithm::OrderedSubject);

    assert_eq!(
        tagged_err(b"a1 SORT (DATE) ALL"),
        Malformed::MissingArgument
    );
    assert_eq!(
        tagged_err(b"a1 SORT (COLOUR) UTF-8 ALL"),
        Malformed::InvalidSortCriterion
    );
    assert_eq!(
        tagged_err(b"a1 SORT () UTF-8 ALL"),
        Malformed::MissingArgument
    );
    assert_eq!(
        tagged_err(b"a1 SORT (REVERSE) UTF-8 ALL"),
        Malformed::ExpectedSpace
    );
    assert_eq!(
        tagged_err(b"a1 SORT (DATE) KOI8-R ALL"),
        Malformed::UnsupportedCharset
    );
    assert_eq!(
        tagged_err(b"a1 THREAD X-FANCY UTF-8 ALL"),
        Malformed::InvalidThreadAlgorithm
    );
    assert_eq!(
        tagged_err(b"a1 THREAD REFERENCES UTF-8"),
        Malformed::MissingArgument
    );
    assert_eq!(
        tagged_err(b"a1 SORT RETURN (PARTIAL 1:5 ALL) (DATE) UTF-8 ALL"),
        Malformed::InvalidSearchReturn
    );
}

#[test]
fn partial_ranges_rfc_9394() {
    use crate::imap::command::PartialRange;
    let first = |a, b| PartialRange {
        from_end: false,
        first: a,
        last: b,
    };
    let last = |a, b| PartialRange {
        from_end: true,
        first: a,
        last: b,
    };
    let items: Vec<u32> = (1..=10).collect();
    assert_eq!(first(1, 3).page(&items), &[1, 2, 3]);
    assert_eq!(first(3, 1).page(&items), &[1, 2, 3]);
    assert_eq!(first(9, 20).page(&items), &[9, 10]);
    assert!(first(11, 20).page(&items).is_empty());
    assert_eq!(last(1, 3).page(&items), &[8, 9, 10]);
    assert_eq!(last(2, 2).page(&items), &[9]);
    assert_eq!(last(9, 20).page(&items), &[1, 2]);
    assert!(last(11, 20).page(&items).is_empty());
    assert_eq!(last(1, 100).to_string(), "-1:-100");
    match ok(b"a1 UID SEARCH RETURN (PARTIAL -1:-100 COUNT) UNDELETED") {
        Command::UidSearch(s) => {
            let r = s.returns.unwrap();
            assert_eq!(r.partial, Some(last(1, 100)));
            assert!(r.count && !r.all);
        }
        other => panic!("{other:?}"),
    }
    for bad in [
        &b"a1 SEARCH RETURN (PARTIAL 0:10) ALL"[..],
        b"a1 SEARCH RETURN (PARTIAL -1:10) ALL",
        b"a1 SEARCH RETURN (PARTIAL 1:-10) ALL",
        b"a1 SEARCH RETURN (PARTIAL 1) ALL",
        b"a1 SEARCH RETURN (PARTIAL 1:5 ALL) ALL",
        b"a1 SEARCH RETURN (PARTIAL 1:5 PARTIAL 6:9) ALL",
    ] {
        assert!(
            parse(&[line(bad)]).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    match ok(b"a1 UID FETCH 1:* (FLAGS) (PARTIAL -1:-30)") {
        Command::UidFetch(f) => assert_eq!(f.modifiers.partial, Some(last(1, 30))),
        other => panic!("{other:?}"),
    }
}
