//! Tags, command names and the not-authenticated and any-state commands.

use super::*;

fn field(name: &[u8], value: Option<&[u8]>) -> IdField {
    IdField {
        name: name.to_vec(),
        value: value.map(<[u8]>::to_vec),
    }
}

fn login(u: &str, p: &str) -> Command {
    Command::Login {
        username: u.into(),
        password: Secret::new(p.into()),
    }
}

#[test]
fn simple_commands_any_case() {
    assert_eq!(ok(b"a1 CAPABILITY"), Command::Capability);
    assert_eq!(ok(b"a1 capability"), Command::Capability);
    assert_eq!(ok(b"a1 NoOp"), Command::Noop);
    assert_eq!(ok(b"a1 LOGOUT"), Command::Logout);
    assert_eq!(ok(b"a1 starttls"), Command::StartTls);
}

#[test]
fn simple_commands_take_no_arguments() {
    assert_eq!(tagged_err(b"a1 NOOP x"), Malformed::TrailingCharacters);
    assert_eq!(tagged_err(b"a1 CAPABILITY "), Malformed::TrailingCharacters);
    assert_eq!(
        tagged_err(b"a1 STARTTLS now"),
        Malformed::TrailingCharacters
    );
}

#[test]
fn tags() {
    assert_eq!(parse(&[line(b"A.1] NOOP")]).unwrap().tag.as_str(), "A.1]");
    assert_eq!(err(b""), (None, Malformed::EmptyLine));
    assert_eq!(err(b" NOOP"), (None, Malformed::InvalidTag));
    assert_eq!(err(b"a+1 NOOP"), (None, Malformed::InvalidTag));
    assert_eq!(err(b"+ NOOP"), (None, Malformed::InvalidTag));
    assert_eq!(err(b"a(1 NOOP"), (None, Malformed::InvalidTag));
    assert_eq!(err(b"a*1 NOOP"), (None, Malformed::InvalidTag));
    assert_eq!(err(b"a\"1 NOOP"), (None, Malformed::InvalidTag));
    assert_eq!(err(b"a1"), (Some("a1".into()), Malformed::MissingCommand));
    assert_eq!(err(b"a1 "), (Some("a1".into()), Malformed::MissingCommand));
    assert_eq!(
        err(b"a1  NOOP"),
        (Some("a1".into()), Malformed::MissingCommand)
    );
}

#[test]
fn tag_recovery_needs_a_space() {
    assert_eq!(Tag::recover(b"a17 LOGIN xxx").unwrap().as_str(), "a17");
    assert_eq!(Tag::recover(b"a17xxxxxxxx"), None);
    assert_eq!(Tag::recover(b"a+7 LOGIN"), None);
    assert_eq!(Tag::recover(b" LOGIN"), None);
}

#[test]
fn unknown_command() {
    assert_eq!(tagged_err(b"a1 FROB"), Malformed::UnknownCommand);
    assert_eq!(tagged_err(b"a1 FROB x y"), Malformed::UnknownCommand);
}

#[test]
fn login_atoms_quoted_and_literals() {
    assert_eq!(ok(b"a1 LOGIN alice secret"), login("alice", "secret"));
    assert_eq!(
        ok(b"a1 login alice@example.com s]"),
        login("alice@example.com", "s]")
    );
    assert_eq!(
        ok(b"a1 LOGIN \"alice\" \"pa ss\\\"w\\\\rd\""),
        login("alice", "pa ss\"w\\rd")
    );
    assert_eq!(ok(b"a1 LOGIN \"\" \"\""), login("", ""));
    assert_eq!(
        ok("a1 LOGIN \"j\u{fc}rgen\" \"p\u{e4}ss\"".as_bytes()),
        login("j\u{fc}rgen", "p\u{e4}ss")
    );
    // 8-bit characters are not ATOM-CHARs: UTF-8 needs a quoted string or a literal.
    assert_eq!(
        tagged_err("a1 LOGIN j\u{fc}rgen pw".as_bytes()),
        Malformed::ExpectedSpace
    );
    let parts = [
        line(b"a1 LOGIN {5}"),
        lit(b"alice"),
        line(b" {6+}"),
        lit(b"se\"c t"),
        line(b""),
    ];
    assert_eq!(parse(&parts).unwrap().command, login("alice", "se\"c t"));
    let parts = [line(b"a1 LOGIN alice {0}"), lit(b""), line(b"")];
    assert_eq!(parse(&parts).unwrap().command, login("alice", ""));
}

#[test]
fn login_errors() {
    assert_eq!(tagged_err(b"a1 LOGIN"), Malformed::MissingArgument);
    assert_eq!(tagged_err(b"a1 LOGIN alice"), Malformed::MissingArgument);
    assert_eq!(tagged_err(b"a1 LOGIN alice "), Malformed::MissingArgument);
    assert_eq!(tagged_err(b"a1 LOGIN alice  pw"), Malformed::InvalidAtom);
    assert_eq!(
        tagged_err(b"a1 LOGIN alice pw x"),
        Malformed::TrailingCharacters
    );
    assert_eq!(tagged_err(b"a1 LOGIN a(b pw"), Malformed::ExpectedSpace);
    assert_eq!(tagged_err(b"a1 LOGIN alice \"pw"), Malformed::InvalidQuoted);
    assert_eq!(
        tagged_err(b"a1 LOGIN alice \"p\\w\""),
        Malformed::InvalidQuoted
    );
    assert_eq!(
        tagged_err(b"a1 LOGIN alice \"p\xff\""),
        Malformed::InvalidUtf8
    );
    assert_eq!(
        tagged_err(b"a1 LOGIN alice p\xc3\xa4"),
        Malformed::TrailingCharacters
    );
    assert_eq!(tagged_err(b"a1 LOGIN alice {x}"), Malformed::InvalidLiteral);
    let e = parse(&[line(b"a1 LOGIN {2}"), lit(b"a\0"), line(b" pw")]).unwrap_err();
    assert_eq!(e.reason, Malformed::InvalidLiteral);
    let e = parse(&[line(b"a1 LOGIN {2}"), lit(b"\xff\xfe"), line(b" pw")]).unwrap_err();
    assert_eq!(e.reason, Malformed::InvalidUtf8);
    let e = parse(&[line(b"a1 LOGIN {1}"), lit(b"a"), line(b"pw")]).unwrap_err();
    assert_eq!(e.reason, Malformed::ExpectedSpace);
}

#[test]
fn authenticate_forms() {
    assert_eq!(
        ok(b"a1 AUTHENTICATE PLAIN"),
        Command::Authenticate {
            mechanism: AuthMechanism::Known(Mechanism::Plain),
            initial_response: None
        }
    );
    assert_eq!(
        ok(b"a1 authenticate login dXNlcg=="),
        Command::Authenticate {
            mechanism: AuthMechanism::Known(Mechanism::Login),
            initial_response: Some(b"dXNlcg==".to_vec())
        }
    );
    assert_eq!(
        ok(b"a1 AUTHENTICATE PLAIN ="),
        Command::Authenticate {
            mechanism: AuthMechanism::Known(Mechanism::Plain),
            initial_response: Some(b"=".to_vec())
        }
    );
    assert_eq!(
        ok(b"a1 AUTHENTICATE CRAM-MD5"),
        Command::Authenticate {
            mechanism: AuthMechanism::Other("CRAM-MD5".into()),
            initial_response: None
        }
    );
    assert_eq!(tagged_err(b"a1 AUTHENTICATE"), Malformed::MissingArgument);
    assert_eq!(
        tagged_err(b"a1 AUTHENTICATE PLAIN abc"),
        Malformed::InvalidBase64
    );
    assert_eq!(
        tagged_err(b"a1 AUTHENTICATE PLAIN a=bc"),
        Malformed::InvalidBase64
    );
    assert_eq!(
        tagged_err(b"a1 AUTHENTICATE PLAIN a==="),
        Malformed::InvalidBase64
    );
    assert_eq!(
        tagged_err(b"a1 AUTHENTICATE PLAIN \"abcd\""),
        Malformed::InvalidAtom
    );
    assert_eq!(
        tagged_err(b"a1 AUTHENTICATE PLAIN abcd x"),
        Malformed::TrailingCharacters
    );
}

#[test]
fn enable_forms() {
    assert_eq!(
        ok(b"a1 ENABLE IMAP4rev2 CONDSTORE"),
        Command::Enable(vec!["IMAP4rev2".into(), "CONDSTORE".into()])
    );
    assert_eq!(
        ok(b"a1 enable AUTH=PLAIN"),
        Command::Enable(vec!["AUTH=PLAIN".into()])
    );
    assert_eq!(tagged_err(b"a1 ENABLE"), Malformed::MissingArgument);
    assert_eq!(tagged_err(b"a1 ENABLE "), Malformed::MissingArgument);
    assert_eq!(tagged_err(b"a1 ENABLE \"X\""), Malformed::InvalidAtom);
}

#[test]
fn id_forms() {
    assert_eq!(ok(b"a1 ID NIL"), Command::Id(None));
    assert_eq!(ok(b"a1 id nil"), Command::Id(None));
    assert_eq!(ok(b"a1 ID ()"), Command::Id(Some(vec![])));
    assert_eq!(
        ok(b"a1 ID (\"name\" \"sodr\" \"version\" NIL)"),
        Command::Id(Some(vec![
            field(b"name", Some(b"sodr")),
            field(b"version", None)
        ]))
    );
    let parts = [line(b"a1 ID (\"name\" {3+}"), lit(b"x\"y"), line(b")")];
    assert_eq!(
        parse(&parts).unwrap().command,
        Command::Id(Some(vec![field(b"name", Some(b"x\"y"))]))
    );
    assert_eq!(tagged_err(b"a1 ID"), Malformed::MissingArgument);
    assert_eq!(tagged_err(b"a1 ID FOO"), Malformed::InvalidIdList);
    assert_eq!(tagged_err(b"a1 ID (\"name\")"), Malformed::ExpectedSpace);
    assert_eq!(
        tagged_err(b"a1 ID (\"name\" \"x\""),
        Malformed::InvalidIdList
    );
    assert_eq!(
        tagged_err(b"a1 ID (\"name\" \"x\") x"),
        Malformed::TrailingCharacters
    );
    assert_eq!(tagged_err(b"a1 ID (name \"x\")"), Malformed::InvalidQuoted);
    assert_eq!(tagged_err(b"a1 ID (\"name\" FOO)"), Malformed::InvalidAtom);
}

#[test]
fn compress_takes_one_algorithm_name() {
    assert_eq!(
        ok(b"a1 COMPRESS DEFLATE"),
        Command::Compress("DEFLATE".into())
    );
    assert_eq!(
        ok(b"a1 compress deflate"),
        Command::Compress("deflate".into())
    );
    // An unknown name parses: the session refuses it with BAD.
    assert_eq!(ok(b"a1 COMPRESS LZ4"), Command::Compress("LZ4".into()));
    assert!(Verb::Compress.needs_authentication());
    assert!(!Verb::Compress.takes_strings());
    assert_eq!(tagged_err(b"a1 COMPRESS"), Malformed::MissingArgument);
    assert_eq!(
        tagged_err(b"a1 COMPRESS DEFLATE X"),
        Malformed::TrailingCharacters
    );
}

#[test]
fn peek_reads_tag_and_verb_only() {
    let (tag, verb) = peek(b"t LOGIN {5}").unwrap();
    assert_eq!((tag.as_str(), verb), ("t", Some(Verb::Login)));
    let (tag, verb) = peek(b"t XYZZY {5}").unwrap();
    assert_eq!((tag.as_str(), verb), ("t", None));
    assert_eq!(peek(b"{5}").unwrap_err().reason, Malformed::InvalidTag);
    let (tag, verb) = peek(b"t uid FETCH 1:* (").unwrap();
    assert_eq!((tag.as_str(), verb), ("t", Some(Verb::Uid)));
}

#[test]
fn verbs_taking_strings() {
    assert!(Verb::Login.takes_strings());
    assert!(Verb::Id.takes_strings());
    assert!(Verb::Append.takes_strings());
    assert!(Verb::Uid.takes_strings());
    assert!(!Verb::Store.takes_strings());
    assert!(!Verb::Authenticate.takes_strings());
    assert!(!Verb::Enable.takes_strings());
    assert!(!Verb::Noop.takes_strings());
}
