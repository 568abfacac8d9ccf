//! Authenticated-state commands: SELECT/EXAMINE, CREATE, DELETE, RENAME, (UN)SUBSCRIBE,
//! LIST/LSUB, NAMESPACE, STATUS, APPEND, IDLE; mailbox name encodings.

use super::*;

fn select(name: &str) -> Select {
    Select {
        mailbox: mbox(name),
        condstore: false,
        qresync: None,
    }
}

#[test]
fn select_and_examine() {
    assert_eq!(ok(b"a1 SELECT INBOX"), Command::Select(select("INBOX")));
    assert_eq!(ok(b"a1 select inbox"), Command::Select(select("INBOX")));
    assert_eq!(ok(b"a1 SELECT \"InBoX\""), Command::Select(select("inbox")));
    assert_eq!(
        ok(b"a1 EXAMINE Archive"),
        Command::Examine(select("Archive"))
    );
    assert_eq!(
        ok(b"a1 SELECT INBOX (CONDSTORE)"),
        Command::Select(Select {
            condstore: true,
            ..select("INBOX")
        })
    );
}

#[test]
fn select_qresync_forms() {
    let q = |known, seq_match| {
        Command::Select(Select {
            qresync: Some(QResync {
                uid_validity: UidValidity::from(nz(67890007)),
                mod_seq: modseq(20050715194045000),
                known_uids: known,
                seq_match,
            }),
            ..select("INBOX")
        })
    };
    assert_eq!(
        ok(b"a1 SELECT INBOX (QRESYNC (67890007 20050715194045000))"),
        q(None, None)
    );
    let known = set(vec![
        SeqItem::Range(uid(41), uid(211)),
        SeqItem::Range(uid(214), uid(541)),
    ]);
    assert_eq!(
        ok(b"a1 SELECT INBOX (QRESYNC (67890007 20050715194045000 41:211,214:541))"),
        q(Some(known.clone()), None)
    );
    assert_eq!(
        ok(b"a1 SELECT INBOX (QRESYNC (67890007 20050715194045000 41:211,214:541 (1:3 41:43)))"),
        q(
            Some(known),
            Some(SeqMatch {
                seqs: set(vec![SeqItem::Range(seq(1), seq(3))]),
                uids: set(vec![SeqItem::Range(uid(41), uid(43))]),
            })
        )
    );
    for bad in [
        &b"a1 SELECT INBOX (QRESYNC (0 1))"[..],
        b"a1 SELECT INBOX (QRESYNC (1 0))",
        b"a1 SELECT INBOX (QRESYNC (1 2 1:*))",
        b"a1 SELECT INBOX (QRESYNC (1 2 $))",
        b"a1 SELECT INBOX (QRESYNC (1 2 (1 1)))",
        b"a1 SELECT INBOX (QRESYNC 1 2)",
    ] {
        assert_eq!(
            tagged_err(bad),
            Malformed::InvalidQresyncParameters,
            "{bad:?}"
        );
    }
    assert_eq!(
        tagged_err(b"a1 SELECT INBOX (CONDSTORE CONDSTORE)"),
        Malformed::InvalidSelectParameter
    );
    assert_eq!(
        tagged_err(b"a1 SELECT INBOX (FOO)"),
        Malformed::InvalidSelectParameter
    );
    assert_eq!(
        tagged_err(b"a1 SELECT INBOX ()"),
        Malformed::MissingArgument
    );
}

#[test]
fn create_with_and_without_special_use() {
    assert_eq!(
        ok(b"a1 CREATE owatagusiam/"),
        Command::Create(Create {
            mailbox: mbox("owatagusiam/"),
            special_use: vec![]
        })
    );
    assert_eq!(
        ok(b"a1 CREATE MySpecial (USE (\\Drafts \\Sent))"),
        Command::Create(Create {
            mailbox: mbox("MySpecial"),
            special_use: vec![SpecialUse::Drafts, SpecialUse::Sent]
        })
    );
    assert_eq!(
        ok(b"a1 CREATE Old (use (\\archive \\X-Mine))"),
        Command::Create(Create {
            mailbox: mbox("Old"),
            special_use: vec![SpecialUse::Archive, SpecialUse::Other(kw("X-Mine"))]
        })
    );
    assert_eq!(
        tagged_err(b"a1 CREATE x (USE (Sent))"),
        Malformed::InvalidSpecialUse
    );
    assert_eq!(
        tagged_err(b"a1 CREATE x (FOO (\\Sent))"),
        Malformed::InvalidSpecialUse
    );
}

#[test]
fn delete_rename_subscribe() {
    assert_eq!(
        ok(b"a1 DELETE blurdybloop"),
        Command::Delete(mbox("blurdybloop"))
    );
    let parts = [line(b"a1 RENAME \"foo bar\" {3}"), lit(b"baz"), line(b"")];
    assert_eq!(
        ok_parts(&parts),
        Command::Rename {
            from: mbox("foo bar"),
            to: mbox("baz")
        }
    );
    assert_eq!(
        ok(b"a1 SUBSCRIBE #news.comp.mail.mime"),
        Command::Subscribe(mbox("#news.comp.mail.mime"))
    );
    assert_eq!(ok(b"a1 UNSUBSCRIBE \"\""), Command::Unsubscribe(mbox("")));
    assert_eq!(tagged_err(b"a1 RENAME a"), Malformed::MissingArgument);
    assert_eq!(tagged_err(b"a1 DELETE a b"), Malformed::TrailingCharacters);
}

#[test]
fn mailbox_names_modified_utf7_and_utf8() {
    assert_eq!(
        ok(b"a1 SELECT ~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        Command::Select(select(
            "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}"
        ))
    );
    assert_eq!(
        ok(b"a1 DELETE \"Tom &- Jerry\""),
        Command::Delete(mbox("Tom & Jerry"))
    );
    assert_eq!(
        tagged_err(b"a1 DELETE &U,BTFw"),
        Malformed::InvalidMailboxName
    );
    assert_eq!(
        tagged_err(b"a1 DELETE &AGE-"),
        Malformed::InvalidMailboxName
    );
    assert_eq!(
        tagged_err("a1 DELETE \"Entw\u{fc}rfe\"".as_bytes()),
        Malformed::InvalidMailboxName
    );
    // With UTF-8 names (IMAP4rev2 / UTF8=ACCEPT), `&` is just `&` and UTF-8 is taken as is.
    let utf8 = |input: &str| {
        super::super::parse(&[line(input.as_bytes())], NameEncoding::Utf8)
            .map(|c| c.command)
            .map_err(|e| e.reason)
    };
    assert_eq!(
        utf8("a1 DELETE \"Entw\u{fc}rfe\""),
        Ok(Command::Delete(mbox("Entw\u{fc}rfe")))
    );
    assert_eq!(
        utf8("a1 DELETE Tom&Jerry"),
        Ok(Command::Delete(mbox("Tom&Jerry")))
    );
    assert_eq!(
        utf8("a1 SELECT inbox"),
        Ok(Command::Select(select("INBOX")))
    );
    let parts = [line(b"a1 DELETE {2}"), lit(b"\xff\xfe"), line(b"")];
    assert_eq!(
        super::super::parse(&parts, NameEncoding::Utf8)
            .unwrap_err()
            .reason,
        Malformed::InvalidMailboxName
    );
}

fn list(reference: &str, patterns: &[&str]) -> List {
    List {
        selection: ListSelection::default(),
        reference: reference.into(),
        patterns: patterns.iter().map(|p| p.to_string()).collect(),
        returns: ListReturn::default(),
    }
}

#[test]
fn list_basic() {
    assert_eq!(ok(b"a1 LIST \"\" *"), Command::List(list("", &["*"])));
    assert_eq!(ok(b"a1 LIST \"\" \"\""), Command::List(list("", &[""])));
    assert_eq!(
        ok(b"a1 LIST #news.comp.mail.misc %]"),
        Command::List(list("#news.comp.mail.misc", &["%]"]))
    );
    assert_eq!(
        ok(b"a1 list ~/Mail/ &U,BTFw-/%"),
        Command::List(list("~/Mail/", &["\u{53f0}\u{5317}/%"]))
    );
    assert_eq!(
        ok(b"a1 LSUB \"\" INBOX.*"),
        Command::Lsub(Lsub {
            reference: "".into(),
            pattern: "INBOX.*".into()
        })
    );
}

#[test]
fn list_extended() {
    assert_eq!(
        ok(b"a1 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX Drafts Sent/%) RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN SIZE))"),
        Command::List(List {
            selection: ListSelection {
                subscribed: true,
                recursive_match: true,
                ..ListSelection::default()
            },
            returns: ListReturn {
                children: true,
                special_use: true,
                status: Some(vec![StatusItem::Messages, StatusItem::Unseen, StatusItem::Size]),
                ..ListReturn::default()
            },
            ..list("", &["INBOX", "Drafts", "Sent/%"])
        })
    );
    assert_eq!(
        ok(b"a1 LIST (REMOTE SPECIAL-USE) \"\" * RETURN (SUBSCRIBED)"),
        Command::List(List {
            selection: ListSelection {
                remote: true,
                special_use: true,
                ..ListSelection::default()
            },
            returns: ListReturn {
                subscribed: true,
                ..ListReturn::default()
            },
            ..list("", &["*"])
        })
    );
    assert_eq!(
        ok(b"a1 LIST () \"\" % RETURN ()"),
        Command::List(list("", &["%"]))
    );
    assert_eq!(
        tagged_err(b"a1 LIST (RECURSIVEMATCH) \"\" *"),
        Malformed::RecursiveMatchAlone
    );
    assert_eq!(
        tagged_err(b"a1 LIST (REMOTE RECURSIVEMATCH) \"\" *"),
        Malformed::RecursiveMatchAlone
    );
    assert_eq!(
        tagged_err(b"a1 LIST (FOO) \"\" *"),
        Malformed::InvalidListOption
    );
    assert_eq!(
        tagged_err(b"a1 LIST \"\" * RETURN (FOO)"),
        Malformed::InvalidListOption
    );
    assert_eq!(
        tagged_err(b"a1 LIST \"\" * FOO (CHILDREN)"),
        Malformed::InvalidListOption
    );
    assert_eq!(tagged_err(b"a1 LIST \"\" ()"), Malformed::MissingArgument);
}

#[test]
fn namespace_status_idle() {
    assert_eq!(ok(b"a1 NAMESPACE"), Command::Namespace);
    assert_eq!(ok(b"a1 IDLE"), Command::Idle);
    assert_eq!(tagged_err(b"a1 IDLE now"), Malformed::TrailingCharacters);
    assert_eq!(
        ok(b"a1 STATUS blurdybloop (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT)"),
        Command::Status(Status {
            mailbox: mbox("blurdybloop"),
            items: vec![
                StatusItem::Messages,
                StatusItem::UidNext,
                StatusItem::UidValidity,
                StatusItem::Unseen,
                StatusItem::Deleted,
                StatusItem::Size,
                StatusItem::Recent,
                StatusItem::HighestModSeq,
                StatusItem::AppendLimit,
            ]
        })
    );
    assert_eq!(tagged_err(b"a1 STATUS x ()"), Malformed::MissingArgument);
    assert_eq!(
        tagged_err(b"a1 STATUS x (FOO)"),
        Malformed::InvalidStatusItem
    );
    assert_eq!(
        tagged_err(b"a1 STATUS x MESSAGES"),
        Malformed::ExpectedParenthesis
    );
}

#[test]
fn idle_done_line() {
    assert!(is_idle_done(b"DONE"));
    assert!(is_idle_done(b"done"));
    assert!(!is_idle_done(b"a1 DONE"));
    assert!(!is_idle_done(b"DONE "));
    assert!(!is_idle_done(b""));
}

fn dt(date: Date, h: u8, m: u8, s: u8, offset: i16) -> DateTime {
    DateTime {
        date,
        hour: h,
        minute: m,
        second: s,
        offset_minutes: offset,
    }
}

#[test]
fn append_forms() {
    let parts = [
        line(b"a1 APPEND saved-messages (\\Seen $Forwarded) \" 7-Feb-1994 21:52:25 -0800\" {5}"),
        lit(b"Hello"),
        line(b""),
    ];
    assert_eq!(
        ok_parts(&parts),
        Command::Append(Append {
            mailbox: mbox("saved-messages"),
            messages: vec![AppendMessage {
                flags: vec![Flag::Seen, Flag::Keyword(kw("$Forwarded"))],
                date: Some(dt(date(1994, 2, 7), 21, 52, 25, -480)),
                data: MessageData::Text(b"Hello".to_vec()),
            }]
        })
    );
    // MULTIAPPEND with literal8 (BINARY) and UTF8 (UTF8=ACCEPT), non-synchronizing.
    let parts = [
        line(b"a1 APPEND INBOX {2+}"),
        lit(b"m1"),
        line(b" () \"01-Jan-2024 00:00:00 +0130\" ~{3}"),
        lit(b"a\0b"),
        line(b" UTF8 (~{2+}"),
        lit(b"m3"),
        line(b")"),
    ];
    assert_eq!(
        ok_parts(&parts),
        Command::Append(Append {
            mailbox: Mailbox::Inbox,
            messages: vec![
                AppendMessage {
                    flags: vec![],
                    date: None,
                    data: MessageData::Text(b"m1".to_vec())
                },
                AppendMessage {
                    flags: vec![],
                    date: Some(dt(date(2024, 1, 1), 0, 0, 0, 90)),
                    data: MessageData::Binary(b"a\0b".to_vec()),
                },
                AppendMessage {
                    flags: vec![],
                    date: None,
                    data: MessageData::Utf8(b"m3".to_vec())
                },
            ]
        })
    );
}

#[test]
fn append_errors() {
    assert_eq!(tagged_err(b"a1 APPEND INBOX"), Malformed::MissingArgument);
    assert_eq!(
        tagged_err(b"a1 APPEND INBOX \"hello\""),
        Malformed::InvalidDateTime
    );
    assert_eq!(
        tagged_err(b"a1 APPEND INBOX hello"),
        Malformed::ExpectedMessageLiteral
    );
    assert_eq!(
        tagged_err(b"a1 APPEND INBOX (\\Seen)"),
        Malformed::MissingArgument
    );
    assert_eq!(
        tagged_err(b"a1 APPEND INBOX (\\*) {1}"),
        Malformed::InvalidFlag
    );
    let e = parse(&[line(b"a1 APPEND INBOX {3}"), lit(b"a\0b"), line(b"")]).unwrap_err();
    assert_eq!(e.reason, Malformed::InvalidLiteral);
    for bad in [
        "\"31-Feb-2024 00:00:00 +0000\"",
        "\"01-Foo-2024 00:00:00 +0000\"",
        "\"01-Jan-2024 24:00:00 +0000\"",
        "\"01-Jan-2024 00:00:00 0000\"",
        "\"1-Jan-2024 00:00:00 +0000\"",
    ] {
        let input = format!("a1 APPEND INBOX {bad} {{1}}");
        let e = parse(&[line(input.as_bytes()), lit(b"x"), line(b"")]).unwrap_err();
        assert_eq!(e.reason, Malformed::InvalidDateTime, "{bad}");
    }
}

#[test]
fn examine_with_condstore_and_qresync_and_enable_qresync() {
    assert_eq!(
        ok(b"a1 EXAMINE Work (CONDSTORE QRESYNC (9 1 1,3:5 (1,2 1,3)))"),
        Command::Examine(Select {
            condstore: true,
            qresync: Some(QResync {
                uid_validity: UidValidity::from(nz(9)),
                mod_seq: modseq(1),
                known_uids: Some(set(vec![
                    SeqItem::One(uid(1)),
                    SeqItem::Range(uid(3), uid(5)),
                ])),
                seq_match: Some(SeqMatch {
                    seqs: set(vec![SeqItem::One(seq(1)), SeqItem::One(seq(2))]),
                    uids: set(vec![SeqItem::One(uid(1)), SeqItem::One(uid(3))]),
                }),
            }),
            ..select("Work")
        })
    );
    assert_eq!(
        ok(b"a1 ENABLE QRESYNC CONDSTORE"),
        Command::Enable(vec!["QRESYNC".into(), "CONDSTORE".into()])
    );
    // Errors keep the tag (so the reply is a tagged BAD).
    for bad in [
        &b"a1 EXAMINE INBOX (QRESYNC (1 2 1:3 (1:* 1:3)))"[..],
        b"a1 EXAMINE INBOX (QRESYNC (1 2 1:3 (1:3 $)))",
        b"a1 EXAMINE INBOX (QRESYNC (1 9223372036854775808))",
        b"a1 EXAMINE INBOX (QRESYNC (1 2 1:3 (1:3 1:3))",
        b"a1 EXAMINE INBOX (QRESYNC (1 2 1:3 (1:3)))",
        b"a1 EXAMINE INBOX (QRESYNC (4294967296 2))",
    ] {
        let (tag, _) = err(bad);
        assert_eq!(tag.as_deref(), Some("a1"), "{bad:?}");
    }
}

#[test]
fn quota_commands_rfc_9208() {
    // RFC 9208 §4.1.1–§4.1.3 examples.
    assert_eq!(
        ok(b"a1 GETQUOTA \"!partition.sda4\""),
        Command::GetQuota("!partition.sda4".into())
    );
    assert_eq!(ok(b"a1 GETQUOTA \"\""), Command::GetQuota(String::new()));
    assert_eq!(
        ok(b"a1 GETQUOTAROOT inbox"),
        Command::GetQuotaRoot(mbox("INBOX"))
    );
    assert_eq!(
        ok(b"a1 SETQUOTA \"User quota\" (STORAGE 510 message 100)"),
        Command::SetQuota {
            root: "User quota".into(),
            limits: vec![
                QuotaResourceLimit {
                    resource: "STORAGE".into(),
                    limit: 510
                },
                QuotaResourceLimit {
                    resource: "MESSAGE".into(),
                    limit: 100
                },
            ],
        }
    );
    // An empty list removes every limit (RFC 9208 §4.1.3): well-formed.
    assert!(matches!(
        ok(b"a1 SETQUOTA \"\" ()"),
        Command::SetQuota { .. }
    ));
    assert_eq!(
        err(b"S2 SETQUOTA \"\" (STORAGE x)").1,
        Malformed::InvalidNumber
    );
    assert_eq!(err(b"S3 GETQUOTA").1, Malformed::MissingArgument);
    assert_eq!(
        err(b"S4 GETQUOTA \"\" extra").1,
        Malformed::TrailingCharacters
    );
    assert_eq!(
        ok(b"a1 STATUS INBOX (DELETED-STORAGE)"),
        ok(b"a1 STATUS INBOX (deleted-storage)")
    );
}

#[test]
fn replace_rfc_8508() {
    match ok_parts(&[
        Fragment::Line(b"a1 REPLACE 4 Drafts (\\Seen \\Draft) {7}".to_vec()),
        Fragment::Literal(b"draft 2".to_vec()),
        Fragment::Line(b"".to_vec()),
    ]) {
        Command::Replace(r) => {
            assert_eq!(r.mailbox, mbox("Drafts"));
            assert_eq!(r.message.flags.len(), 2);
            assert_eq!(r.message.data, MessageData::Text(b"draft 2".to_vec()));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        ok_parts(&[
            Fragment::Line(b"a1 UID REPLACE * Sent ~{1}".to_vec()),
            Fragment::Literal(b"\0".to_vec()),
            Fragment::Line(b"".to_vec()),
        ]),
        Command::UidReplace(_)
    ));
    // One message only, and one number.
    let two = [
        Fragment::Line(b"a1 REPLACE 1 Drafts {1}".to_vec()),
        Fragment::Literal(b"x".to_vec()),
        Fragment::Line(b" {1}".to_vec()),
        Fragment::Literal(b"y".to_vec()),
        Fragment::Line(b"".to_vec()),
    ];
    assert_eq!(
        parse(&two).unwrap_err().reason,
        Malformed::TrailingCharacters
    );
    assert_eq!(
        err(b"a1 REPLACE 1:2 Drafts").1,
        Malformed::InvalidSequenceSet
    );
    assert_eq!(err(b"a1 REPLACE 1 Drafts").1, Malformed::MissingArgument);
}

#[test]
fn catenate_urls_rfc_4469() {
    use crate::imap::command::ImapUrl;
    let url = ImapUrl::parse("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME").unwrap();
    assert_eq!(url.mailbox, "Drafts");
    assert_eq!(url.uid_validity, Some(385759045));
    assert_eq!(url.uid, crate::mail::Uid(20));
    let section = url.section.unwrap();
    assert_eq!(section.part.0.len(), 1);
    assert_eq!(section.text, Some(SectionText::Mime));
    let url = ImapUrl::parse("imap://joe@example.com/a%20b%2Fc/;UID=7/;PARTIAL=10.20").unwrap();
    assert_eq!(url.mailbox, "a b/c");
    assert_eq!(url.uid_validity, None);
    assert_eq!(url.partial.unwrap().offset, 10);
    assert_eq!(url.partial.unwrap().length.get(), 20);
    // Modified UTF-7 names are taken too.
    assert_eq!(
        ImapUrl::parse("/Entw&APw-rfe/;UID=1").unwrap().mailbox,
        "Entwürfe"
    );
    for bad in [
        "Drafts/;UID=20",
        "/Drafts",
        "/Drafts/;UID=0",
        "/;UID=3",
        "/Drafts;UIDVALIDITY=x/;UID=3",
        "/Drafts/;UID=3/;SECTION=BOGUS",
        "/Drafts/;UID=3/;URLAUTH=anonymous",
        "/Drafts/;UID=3/;PARTIAL=1.0",
        "imap://example.com",
        "/Dr%zzafts/;UID=3",
    ] {
        assert!(ImapUrl::parse(bad).is_err(), "{bad}");
    }
}

/// RFC 5464 §4.2: GETMETADATA with its options, one entry or a list; names lower-cased.
#[test]
fn getmetadata_options_and_entries() {
    use crate::mail::metadata::Depth;
    assert_eq!(
        ok(b"a1 GETMETADATA \"\" /Shared/Comment"),
        Command::GetMetadata(GetMetadata {
            mailbox: Mailbox::from_decoded(String::new()),
            max_size: None,
            depth: Depth::Zero,
            entries: vec!["/shared/comment".into()],
        })
    );
    assert_eq!(
        ok(b"a1 GETMETADATA (MAXSIZE 1024 DEPTH infinity) INBOX (/private /shared/x)"),
        Command::GetMetadata(GetMetadata {
            mailbox: Mailbox::Inbox,
            max_size: Some(1024),
            depth: Depth::Infinity,
            entries: vec!["/private".into(), "/shared/x".into()],
        })
    );
    let Command::GetMetadata(g) = ok(b"a1 GETMETADATA (depth 1) INBOX /shared") else {
        panic!("not GETMETADATA")
    };
    assert_eq!(g.depth, Depth::One);
    for bad in [
        &b"a1 GETMETADATA INBOX /other/x"[..],
        b"a1 GETMETADATA INBOX /shared/",
        b"a1 GETMETADATA (DEPTH 2) INBOX /shared/x",
        b"a1 GETMETADATA (MAXSIZE 1 MAXSIZE 2) INBOX /shared/x",
        b"a1 GETMETADATA (FROB 1) INBOX /shared/x",
        b"a1 GETMETADATA INBOX \"/shared/a*\"",
    ] {
        assert_eq!(tagged_err(bad), Malformed::InvalidMetadata, "{bad:?}");
    }
    assert_eq!(
        tagged_err(b"a1 GETMETADATA INBOX"),
        Malformed::MissingArgument
    );
}

/// RFC 5464 §4.3: SETMETADATA values as quoted strings, literals, literal8 and NIL.
#[test]
fn setmetadata_values() {
    use crate::mail::metadata::Annotation;
    let parts = [
        Fragment::Line(b"a1 SETMETADATA INBOX (/private/comment {3}".to_vec()),
        Fragment::Literal(b"a b".to_vec()),
        Fragment::Line(b" /shared/comment NIL /shared/x \"q\" /shared/bin ~{2}".to_vec()),
        Fragment::Literal(b"\0\x01".to_vec()),
        Fragment::Line(b")".to_vec()),
    ];
    let entry = |name: &str, value: Option<&[u8]>| Annotation {
        name: name.into(),
        value: value.map(<[u8]>::to_vec),
    };
    assert_eq!(
        ok_parts(&parts),
        Command::SetMetadata(SetMetadata {
            mailbox: Mailbox::Inbox,
            entries: vec![
                entry("/private/comment", Some(b"a b")),
                entry("/shared/comment", None),
                entry("/shared/x", Some(b"q")),
                entry("/shared/bin", Some(b"\0\x01")),
            ],
        })
    );
    assert_eq!(
        tagged_err(b"a1 SETMETADATA INBOX (/shared NIL)"),
        Malformed::InvalidMetadata
    );
    assert_eq!(
        tagged_err(b"a1 SETMETADATA INBOX ()"),
        Malformed::MissingArgument
    );
    assert_eq!(
        tagged_err(b"a1 SETMETADATA INBOX (/shared/x)"),
        Malformed::ExpectedSpace
    );
}
