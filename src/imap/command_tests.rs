//! Parser unit tests: every command form, every error with and without a tag.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn line(s: &[u8]) -> Fragment {
    Fragment::Line(s.to_vec())
}

fn lit(s: &[u8]) -> Fragment {
    Fragment::Literal(s.to_vec())
}

fn ok(input: &[u8]) -> Command {
    let parsed = parse(&[line(input)]).unwrap();
    assert_eq!(parsed.tag.as_str(), "a1");
    parsed.command
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
fn authenticated_commands_are_recognised_without_reading_arguments() {
    for (name, verb) in [
        (&b"SELECT INBOX"[..], Verb::Select),
        (b"examine INBOX", Verb::Examine),
        (b"CREATE x", Verb::Create),
        (b"DELETE x", Verb::Delete),
        (b"RENAME x y", Verb::Rename),
        (b"SUBSCRIBE x", Verb::Subscribe),
        (b"UNSUBSCRIBE x", Verb::Unsubscribe),
        (b"LIST \"\" *", Verb::List),
        (b"LSUB \"\" *", Verb::Lsub),
        (b"NAMESPACE", Verb::Namespace),
        (b"STATUS x (MESSAGES)", Verb::Status),
        (b"APPEND x (\\Seen", Verb::Append),
        (b"IDLE", Verb::Idle),
        (b"CHECK", Verb::Check),
        (b"CLOSE", Verb::Close),
        (b"UNSELECT", Verb::Unselect),
        (b"EXPUNGE", Verb::Expunge),
        (b"SEARCH ALL", Verb::Search),
        (b"FETCH 1:* (FLAGS)", Verb::Fetch),
        (b"STORE 1 +FLAGS (\\Seen)", Verb::Store),
        (b"COPY 1 x", Verb::Copy),
        (b"MOVE 1 x", Verb::Move),
        (b"uid fetch 1 FLAGS", Verb::Uid),
    ] {
        let mut input = b"a1 ".to_vec();
        input.extend_from_slice(name);
        assert_eq!(ok(&input), Command::NotYetSupported(verb));
        assert!(verb.needs_authentication());
    }
}

#[test]
fn peek_reads_tag_and_verb_only() {
    let (tag, verb) = peek(b"t LOGIN {5}").unwrap();
    assert_eq!((tag.as_str(), verb), ("t", Some(Verb::Login)));
    let (tag, verb) = peek(b"t XYZZY {5}").unwrap();
    assert_eq!((tag.as_str(), verb), ("t", None));
    assert_eq!(peek(b"{5}").unwrap_err().reason, Malformed::InvalidTag);
}

#[test]
fn verbs_taking_strings() {
    assert!(Verb::Login.takes_strings());
    assert!(Verb::Id.takes_strings());
    assert!(!Verb::Authenticate.takes_strings());
    assert!(!Verb::Enable.takes_strings());
    assert!(!Verb::Noop.takes_strings());
}
