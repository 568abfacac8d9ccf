//! The client lines of the examples in RFC 9051 §6.3 and §6.4 (and of the extension RFCs),
//! decoded to typed values.

use super::*;

fn cmd(input: &str) -> Command {
    parse(&[line(input.as_bytes())]).unwrap().command
}

fn select(name: &str) -> Select {
    Select {
        mailbox: mbox(name),
        condstore: false,
        qresync: None,
    }
}

fn list(selection: ListSelection, patterns: &[&str], returns: ListReturn) -> Command {
    Command::List(List {
        selection,
        reference: String::new(),
        patterns: patterns.iter().map(|p| p.to_string()).collect(),
        returns,
    })
}

#[test]
fn rfc9051_section_6_3_authenticated_state() {
    assert_eq!(
        cmd("t2 ENABLE CONDSTORE X-GOOD-IDEA"),
        Command::Enable(vec!["CONDSTORE".into(), "X-GOOD-IDEA".into()])
    );
    assert_eq!(cmd("A142 SELECT INBOX"), Command::Select(select("INBOX")));
    assert_eq!(
        cmd("A932 EXAMINE blurdybloop"),
        Command::Examine(select("blurdybloop"))
    );
    assert_eq!(
        cmd("A003 CREATE owatagusiam/"),
        Command::Create(Create {
            mailbox: mbox("owatagusiam/"),
            special_use: vec![]
        })
    );
    assert_eq!(
        cmd("A683 DELETE blurdybloop"),
        Command::Delete(mbox("blurdybloop"))
    );
    assert_eq!(cmd("A685 DELETE foo/bar"), Command::Delete(mbox("foo/bar")));
    assert_eq!(
        cmd("A683 RENAME blurdybloop sarasoop"),
        Command::Rename {
            from: mbox("blurdybloop"),
            to: mbox("sarasoop")
        }
    );
    assert_eq!(
        cmd("Z433 RENAME INBOX old-mail"),
        Command::Rename {
            from: Mailbox::Inbox,
            to: mbox("old-mail")
        }
    );
    assert_eq!(
        cmd("A002 SUBSCRIBE #news.comp.mail.mime"),
        Command::Subscribe(mbox("#news.comp.mail.mime"))
    );
    assert_eq!(
        cmd("A002 UNSUBSCRIBE #news.comp.mail.mime"),
        Command::Unsubscribe(mbox("#news.comp.mail.mime"))
    );
    assert_eq!(
        cmd("A101 LIST \"\" \"\""),
        list(ListSelection::default(), &[""], ListReturn::default())
    );
    assert_eq!(
        cmd("A102 LIST #news.comp.mail.misc \"\""),
        Command::List(List {
            selection: ListSelection::default(),
            reference: "#news.comp.mail.misc".into(),
            patterns: vec![String::new()],
            returns: ListReturn::default()
        })
    );
    assert_eq!(
        cmd("A202 LIST ~/Mail/ %"),
        Command::List(List {
            selection: ListSelection::default(),
            reference: "~/Mail/".into(),
            patterns: vec!["%".into()],
            returns: ListReturn::default()
        })
    );
    assert_eq!(cmd("A001 NAMESPACE"), Command::Namespace);
    assert_eq!(
        cmd("A042 STATUS blurdybloop (UIDNEXT MESSAGES)"),
        Command::Status(Status {
            mailbox: mbox("blurdybloop"),
            items: vec![StatusItem::UidNext, StatusItem::Messages]
        })
    );
    assert_eq!(cmd("A001 IDLE"), Command::Idle);
    assert!(is_idle_done(b"DONE"));
}

#[test]
fn rfc9051_section_6_3_12_append() {
    let message = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n\
        From: Fred Foobar <foobar@Blurdybloop.example>\r\n\
        Subject: afternoon meeting\r\n\
        To: mooch@owatagu.siam.edu.example\r\n\
        Message-Id: <B27397-0100000@Blurdybloop.example>\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
        \r\n\
        Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
    let first = format!("A003 APPEND saved-messages (\\Seen) {{{}}}", message.len());
    let parts = [line(first.as_bytes()), lit(message.as_bytes()), line(b"")];
    assert_eq!(
        ok_parts(&parts),
        Command::Append(Append {
            mailbox: mbox("saved-messages"),
            messages: vec![AppendMessage {
                flags: vec![Flag::Seen],
                date: None,
                data: MessageData::Text(message.as_bytes().to_vec())
            }]
        })
    );
}

#[test]
fn rfc9051_section_6_4_selected_state() {
    use SearchKey as K;
    assert_eq!(cmd("A341 CLOSE"), Command::Close);
    assert_eq!(cmd("A342 UNSELECT"), Command::Unselect);
    assert_eq!(cmd("A202 EXPUNGE"), Command::Expunge);
    let criteria = vec![
        K::Flagged,
        K::Since(date(1994, 2, 1)),
        K::Not(Box::new(K::From("Smith".into()))),
    ];
    assert_eq!(
        cmd("A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\""),
        Command::Search(Search {
            returns: Some(SearchReturn {
                min: true,
                count: true,
                ..SearchReturn::default()
            }),
            charset: Charset::Utf8,
            criteria: criteria.clone(),
        })
    );
    assert_eq!(
        cmd("A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\""),
        Command::Search(Search {
            returns: Some(SearchReturn {
                all: true,
                ..SearchReturn::default()
            }),
            charset: Charset::Utf8,
            criteria,
        })
    );
    assert_eq!(
        cmd("A284 SEARCH TEXT \"string not in mailbox\""),
        Command::Search(Search {
            returns: None,
            charset: Charset::Utf8,
            criteria: vec![K::Text("string not in mailbox".into())]
        })
    );
    let cyrillic = "\u{43e}\u{442}\u{43f}\u{443}\u{441}\u{43a}";
    let parts = [
        line(b"A285 SEARCH CHARSET UTF-8 TEXT {12}"),
        lit(cyrillic.as_bytes()),
        line(b""),
    ];
    assert_eq!(
        ok_parts(&parts),
        Command::Search(Search {
            returns: None,
            charset: Charset::Utf8,
            criteria: vec![K::Text(cyrillic.into())]
        })
    );
    let parts = [
        line(b"A286 SEARCH CHARSET KOI8-R (OR $ 1,3000:3021) TEXT {4}"),
        lit(b"\xf0\xd2\xc9\xd7"),
        line(b""),
    ];
    let e = parse(&parts).unwrap_err();
    assert_eq!(
        (e.tag.unwrap().as_str(), e.reason),
        ("A286", Malformed::UnsupportedCharset)
    );
    assert_eq!(
        cmd("A301 SEARCH $ SMALLER 4096"),
        Command::Search(Search {
            returns: None,
            charset: Charset::Utf8,
            criteria: vec![K::Sequence(set(vec![SeqItem::Saved])), K::Smaller(4096)]
        })
    );
    assert_eq!(
        cmd("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])"),
        Command::Fetch(Fetch {
            set: set(vec![SeqItem::Range(seq(2), seq(4))]),
            items: FetchItems::Attributes(vec![
                FetchAttribute::Flags,
                FetchAttribute::BodySection(BodySection {
                    part: Part::default(),
                    text: Some(SectionText::HeaderFields(vec![
                        "DATE".into(),
                        "FROM".into()
                    ])),
                    partial: None,
                }),
            ]),
            modifiers: FetchModifiers::default(),
        })
    );
    assert_eq!(
        cmd("A003 STORE 2:4 +FLAGS (\\Deleted)"),
        Command::Store(Store {
            set: set(vec![SeqItem::Range(seq(2), seq(4))]),
            unchanged_since: None,
            action: StoreAction::Add,
            reply: StoreReply::Flags,
            flags: vec![Flag::Deleted],
        })
    );
    assert_eq!(
        cmd("A003 COPY 2:4 MEETING"),
        Command::Copy(Transfer {
            set: set(vec![SeqItem::Range(seq(2), seq(4))]),
            mailbox: mbox("MEETING")
        })
    );
    assert_eq!(
        cmd("a UID MOVE 42:69 foo"),
        Command::UidMove(Transfer {
            set: set(vec![SeqItem::Range(uid(42), uid(69))]),
            mailbox: mbox("foo")
        })
    );
    assert_eq!(
        cmd("A999 UID FETCH 4827313:4828442 FLAGS"),
        Command::UidFetch(Fetch {
            set: set(vec![SeqItem::Range(uid(4827313), uid(4828442))]),
            items: FetchItems::Attributes(vec![FetchAttribute::Flags]),
            modifiers: FetchModifiers::default(),
        })
    );
    assert_eq!(
        cmd("A003 UID EXPUNGE 3000:3002"),
        Command::UidExpunge(set(vec![SeqItem::Range(uid(3000), uid(3002))]))
    );
}

#[test]
fn extension_rfc_examples() {
    // RFC 5258 §5 (LIST-EXTENDED).
    let subscribed = ListSelection {
        subscribed: true,
        ..ListSelection::default()
    };
    assert_eq!(
        cmd("A02 LIST (SUBSCRIBED) \"\" \"*\""),
        list(subscribed, &["*"], ListReturn::default())
    );
    assert_eq!(
        cmd("A03 LIST () \"\" \"%\" RETURN (CHILDREN)"),
        list(
            ListSelection::default(),
            &["%"],
            ListReturn {
                children: true,
                ..ListReturn::default()
            }
        )
    );
    assert_eq!(
        cmd("A05 LIST (REMOTE SUBSCRIBED) \"\" \"*\""),
        list(
            ListSelection {
                remote: true,
                subscribed: true,
                ..ListSelection::default()
            },
            &["*"],
            ListReturn::default()
        )
    );
    assert_eq!(
        cmd("C04 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\""),
        list(
            ListSelection {
                subscribed: true,
                recursive_match: true,
                ..ListSelection::default()
            },
            &["%"],
            ListReturn::default()
        )
    );
    assert_eq!(
        cmd("A01 LIST \"\" (\"INBOX\" \"Drafts\" \"Sent/%\")"),
        list(
            ListSelection::default(),
            &["INBOX", "Drafts", "Sent/%"],
            ListReturn::default()
        )
    );
    // RFC 6154 §5.1, §5.3 (SPECIAL-USE, CREATE-SPECIAL-USE).
    assert_eq!(
        cmd("t3 LIST (SPECIAL-USE) \"\" \"*\""),
        list(
            ListSelection {
                special_use: true,
                ..ListSelection::default()
            },
            &["*"],
            ListReturn::default()
        )
    );
    assert_eq!(
        cmd("t4 LIST \"\" \"%\" RETURN (SPECIAL-USE)"),
        list(
            ListSelection::default(),
            &["%"],
            ListReturn {
                special_use: true,
                ..ListReturn::default()
            }
        )
    );
    assert_eq!(
        cmd("t1 CREATE \"Foo\" (USE (\\Important))"),
        Command::Create(Create {
            mailbox: mbox("Foo"),
            special_use: vec![SpecialUse::Important]
        })
    );
    // RFC 5819 §3 (LIST-STATUS).
    assert_eq!(
        cmd("A01 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))"),
        list(
            ListSelection::default(),
            &["%"],
            ListReturn {
                status: Some(vec![StatusItem::Messages, StatusItem::Unseen]),
                ..ListReturn::default()
            }
        )
    );
    // RFC 7162 §3.1.3, §3.1.4.1, §3.1.5, §3.2.5.2 (CONDSTORE, QRESYNC).
    assert_eq!(
        cmd("a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121231000) +FLAGS.SILENT (\\Deleted)"),
        Command::UidStore(Store {
            set: set(vec![
                SeqItem::One(uid(6)),
                SeqItem::One(uid(4)),
                SeqItem::One(uid(8))
            ]),
            unchanged_since: Some(modseq(12121231000)),
            action: StoreAction::Add,
            reply: StoreReply::Silent,
            flags: vec![Flag::Deleted],
        })
    );
    assert_eq!(
        cmd("s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)"),
        Command::UidFetch(Fetch {
            set: set(vec![SeqItem::Range(uid(1), SeqBound::Largest)]),
            items: FetchItems::Attributes(vec![FetchAttribute::Flags]),
            modifiers: FetchModifiers {
                changed_since: Some(modseq(12345)),
                vanished: false,
                partial: None,
            },
        })
    );
    assert_eq!(
        cmd("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338"),
        Command::Search(Search {
            returns: None,
            charset: Charset::Utf8,
            criteria: vec![SearchKey::ModSeq {
                entry: Some(ModSeqEntry {
                    flag: Flag::Draft,
                    kind: EntryKind::All
                }),
                mod_seq: modseq(620162338)
            }],
        })
    );
    assert_eq!(
        cmd("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))"),
        Command::Select(Select {
            qresync: Some(QResync {
                uid_validity: UidValidity::from(nz(67890007)),
                mod_seq: modseq(20050715194045000),
                known_uids: Some(set(vec![
                    SeqItem::One(uid(41)),
                    SeqItem::Range(uid(43), uid(211)),
                    SeqItem::Range(uid(214), uid(541))
                ])),
                seq_match: None,
            }),
            ..select("INBOX")
        })
    );
    // RFC 5182 §3 (SEARCHRES).
    assert_eq!(
        cmd("A283 FETCH $ (UID INTERNALDATE FLAGS RFC822.HEADER)"),
        Command::Fetch(Fetch {
            set: set(vec![SeqItem::Saved]),
            items: FetchItems::Attributes(vec![
                FetchAttribute::Uid,
                FetchAttribute::InternalDate,
                FetchAttribute::Flags,
                FetchAttribute::Rfc822Header
            ]),
            modifiers: FetchModifiers::default(),
        })
    );
}
