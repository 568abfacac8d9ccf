//! ACL (RFC 4314 §3) and LIST-MYRIGHTS (RFC 8440): every command form, the RFC's examples,
//! and the malformed forms.

use super::*;
use crate::mail::acl::{Rights, RightsChange};

fn rights(s: &str) -> Rights {
    Rights::parse(s).unwrap()
}

#[test]
fn setacl_modifiers_and_the_virtual_rights() {
    // RFC 4314 §2.1.1 and §3.1's examples.
    assert_eq!(
        ok(b"a1 SeTacl INBOX/Drafts David lrswida"),
        Command::SetAcl(SetAcl {
            mailbox: mbox("INBOX/Drafts"),
            identifier: "david".into(),
            change: RightsChange::Replace(rights("lrswixtea")),
        })
    );
    assert_eq!(
        ok(b"a1 SETACL INBOX/Drafts Chris +cda"),
        Command::SetAcl(SetAcl {
            mailbox: mbox("INBOX/Drafts"),
            identifier: "chris".into(),
            change: RightsChange::Add(rights("kxtea")),
        })
    );
    assert_eq!(
        ok(b"a1 SETACL Work \"Bob@Example.COM\" -w"),
        Command::SetAcl(SetAcl {
            mailbox: mbox("Work"),
            identifier: "bob@example.com".into(),
            change: RightsChange::Remove(Rights::WRITE),
        })
    );
    // No rights at all: the identifier keeps an empty set (the store drops the entry).
    assert_eq!(
        ok(b"a1 SETACL inbox anyone \"\""),
        Command::SetAcl(SetAcl {
            mailbox: Mailbox::Inbox,
            identifier: "anyone".into(),
            change: RightsChange::Replace(Rights::NONE),
        })
    );
    // A literal identifier.
    assert_eq!(
        ok_parts(&[
            line(b"a1 SETACL INBOX {15}"),
            lit(b"bob@example.com"),
            line(b" l")
        ]),
        Command::SetAcl(SetAcl {
            mailbox: Mailbox::Inbox,
            identifier: "bob@example.com".into(),
            change: RightsChange::Replace(Rights::LOOKUP),
        })
    );
}

#[test]
fn the_other_acl_commands() {
    assert_eq!(
        ok(b"a1 DeleteAcl INBOX Fred"),
        Command::DeleteAcl {
            mailbox: Mailbox::Inbox,
            identifier: "fred".into()
        }
    );
    assert_eq!(ok(b"a1 getacl INBOX"), Command::GetAcl(Mailbox::Inbox));
    assert_eq!(
        ok(b"a1 LISTRIGHTS ~/Mail/saved smith"),
        Command::ListRights {
            mailbox: mbox("~/Mail/saved"),
            identifier: "smith".into()
        }
    );
    assert_eq!(
        ok(b"a1 MYRIGHTS \"Shared/alice@example.com/INBOX\""),
        Command::MyRights(mbox("Shared/alice@example.com/INBOX"))
    );
    // RFC 8440 §3.
    assert_eq!(
        ok(b"a1 LIST \"\" \"%\" RETURN (MYRIGHTS)"),
        Command::List(List {
            selection: ListSelection::default(),
            reference: String::new(),
            patterns: vec!["%".into()],
            returns: ListReturn {
                myrights: true,
                ..ListReturn::default()
            },
        })
    );
    assert_eq!(
        ok(b"a1 LIST \"\" * RETURN (STATUS (MESSAGES) MYRIGHTS)"),
        Command::List(List {
            selection: ListSelection::default(),
            reference: String::new(),
            patterns: vec!["*".into()],
            returns: ListReturn {
                status: Some(vec![StatusItem::Messages]),
                myrights: true,
                ..ListReturn::default()
            },
        })
    );
}

#[test]
fn malformed_acl_commands() {
    // RFC 4314 §3.1: unknown rights, upper case included, are BAD.
    assert_eq!(
        tagged_err(b"a1 SETACL INBOX/Drafts John lrQswicda"),
        Malformed::InvalidRights
    );
    assert_eq!(
        tagged_err(b"a1 SETACL INBOX/Drafts John lrqswicda"),
        Malformed::InvalidRights
    );
    assert_eq!(
        tagged_err(b"a1 SETACL INBOX John +l1"),
        Malformed::InvalidRights
    );
    assert_eq!(
        tagged_err(b"a1 SETACL INBOX John"),
        Malformed::MissingArgument
    );
    assert_eq!(tagged_err(b"a1 SETACL INBOX"), Malformed::MissingArgument);
    // §3: an identifier that fails preparation.
    assert_eq!(
        tagged_err(b"a1 SETACL INBOX \"\" l"),
        Malformed::InvalidIdentifier
    );
    assert_eq!(
        tagged_err(b"a1 DELETEACL INBOX \"a b\""),
        Malformed::InvalidIdentifier
    );
    // A control character, here a tab inside a quoted identifier.
    assert_eq!(
        tagged_err(b"a1 LISTRIGHTS INBOX \"a\\\\\tb\""),
        Malformed::InvalidIdentifier
    );
    assert_eq!(tagged_err(b"a1 GETACL"), Malformed::MissingArgument);
    assert_eq!(
        tagged_err(b"a1 GETACL INBOX x"),
        Malformed::TrailingCharacters
    );
    assert_eq!(
        tagged_err(b"a1 MYRIGHTS INBOX x"),
        Malformed::TrailingCharacters
    );
    assert_eq!(
        tagged_err(b"a1 LIST \"\" * RETURN (MYRIGHTS"),
        Malformed::ExpectedParenthesis
    );
}
