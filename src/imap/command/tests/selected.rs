//! Selected-state commands other than SEARCH and FETCH: CHECK, CLOSE, UNSELECT, EXPUNGE,
//! UID EXPUNGE, STORE, COPY, MOVE and their UID forms; sequence sets and flags.

use super::*;

#[test]
fn argumentless_commands() {
    assert_eq!(ok(b"a1 CHECK"), Command::Check);
    assert_eq!(ok(b"a1 close"), Command::Close);
    assert_eq!(ok(b"a1 UNSELECT"), Command::Unselect);
    assert_eq!(ok(b"a1 EXPUNGE"), Command::Expunge);
    assert_eq!(tagged_err(b"a1 EXPUNGE 1"), Malformed::TrailingCharacters);
}

#[test]
fn sequence_sets() {
    assert_eq!(
        ok(b"a1 UID EXPUNGE 3000:3002,4,*:7,$,*"),
        Command::UidExpunge(set(vec![
            SeqItem::Range(uid(3000), uid(3002)),
            SeqItem::One(uid(4)),
            SeqItem::Range(SeqBound::Largest, uid(7)),
            SeqItem::Saved,
            SeqItem::One(SeqBound::Largest),
        ]))
    );
    for bad in [
        &b"a1 UID EXPUNGE 0"[..],
        b"a1 UID EXPUNGE 1:0",
        b"a1 UID EXPUNGE 1,,2",
        b"a1 UID EXPUNGE 1:",
        b"a1 UID EXPUNGE :1",
        b"a1 UID EXPUNGE 1x",
        b"a1 UID EXPUNGE 4294967296",
        b"a1 UID EXPUNGE -1",
    ] {
        assert_eq!(tagged_err(bad), Malformed::InvalidSequenceSet, "{bad:?}");
    }
    assert_eq!(tagged_err(b"a1 UID EXPUNGE"), Malformed::MissingArgument);
    assert_eq!(
        ok(b"a1 UID EXPUNGE 4294967295"),
        Command::UidExpunge(set(vec![SeqItem::One(uid(u32::MAX))]))
    );
}

#[test]
fn sequence_set_membership_either_order() {
    let Command::UidExpunge(s) = ok(b"a1 UID EXPUNGE 9:5,*") else {
        panic!("not UID EXPUNGE")
    };
    let hits: Vec<u32> = (1..=12).filter(|&n| s.contains(n, 12)).collect();
    assert_eq!(hits, vec![5, 6, 7, 8, 9, 12]);
    assert!(!s.is_explicit());
}

fn store<T>(
    set: SequenceSet<T>,
    action: StoreAction,
    reply: StoreReply,
    flags: Vec<Flag>,
) -> Store<T> {
    Store {
        set,
        unchanged_since: None,
        action,
        reply,
        flags,
    }
}

#[test]
fn store_forms() {
    assert_eq!(
        ok(b"a1 STORE 2:4 +FLAGS (\\Deleted)"),
        Command::Store(store(
            set(vec![SeqItem::Range(seq(2), seq(4))]),
            StoreAction::Add,
            StoreReply::Flags,
            vec![Flag::Deleted]
        ))
    );
    assert_eq!(
        ok(b"a1 STORE 1 -flags.silent \\Seen \\Answered $Label1"),
        Command::Store(store(
            set(vec![SeqItem::One(seq(1))]),
            StoreAction::Remove,
            StoreReply::Silent,
            vec![Flag::Seen, Flag::Answered, Flag::Keyword(kw("$Label1"))]
        ))
    );
    assert_eq!(
        ok(b"a1 STORE $ FLAGS ()"),
        Command::Store(store(
            set(vec![SeqItem::Saved]),
            StoreAction::Replace,
            StoreReply::Flags,
            vec![]
        ))
    );
    assert_eq!(
        ok(b"a1 UID STORE 1:* (UNCHANGEDSINCE 0) FLAGS.SILENT (\\Draft \\Flagged \\Recent \\Custom)"),
        Command::UidStore(Store {
            unchanged_since: Some(modseq(0)),
            ..store(
                set(vec![SeqItem::Range(uid(1), SeqBound::Largest)]),
                StoreAction::Replace,
                StoreReply::Silent,
                vec![Flag::Draft, Flag::Flagged, Flag::Recent, Flag::Extension(kw("Custom"))]
            )
        })
    );
    assert_eq!(
        ok(b"a1 STORE 7 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)"),
        Command::Store(Store {
            unchanged_since: Some(modseq(320162338)),
            ..store(
                set(vec![SeqItem::One(seq(7))]),
                StoreAction::Add,
                StoreReply::Silent,
                vec![Flag::Deleted]
            )
        })
    );
}

#[test]
fn store_errors() {
    assert_eq!(
        tagged_err(b"a1 STORE 1 FLAGZ (\\Seen)"),
        Malformed::InvalidStoreItem
    );
    assert_eq!(
        tagged_err(b"a1 STORE 1 +FLAGS.LOUD (\\Seen)"),
        Malformed::InvalidStoreItem
    );
    assert_eq!(
        tagged_err(b"a1 STORE 1 FLAGS (\\*)"),
        Malformed::InvalidFlag
    );
    assert_eq!(tagged_err(b"a1 STORE 1 FLAGS (\\)"), Malformed::InvalidFlag);
    assert_eq!(
        tagged_err(b"a1 STORE 1 FLAGS (\\Seen"),
        Malformed::ExpectedParenthesis
    );
    assert_eq!(tagged_err(b"a1 STORE 1 FLAGS"), Malformed::MissingArgument);
    assert_eq!(
        tagged_err(b"a1 STORE 1 (CHANGEDSINCE 1) FLAGS x"),
        Malformed::InvalidStoreModifier
    );
    assert_eq!(
        tagged_err(b"a1 STORE 1 (UNCHANGEDSINCE 9223372036854775808) FLAGS x"),
        Malformed::InvalidStoreModifier
    );
}

#[test]
fn copy_and_move() {
    assert_eq!(
        ok(b"a1 COPY 2:4 MEETING"),
        Command::Copy(Transfer {
            set: set(vec![SeqItem::Range(seq(2), seq(4))]),
            mailbox: mbox("MEETING")
        })
    );
    assert_eq!(
        ok(b"a1 MOVE 1,3 \"Saved Mail\""),
        Command::Move(Transfer {
            set: set(vec![SeqItem::One(seq(1)), SeqItem::One(seq(3))]),
            mailbox: mbox("Saved Mail")
        })
    );
    assert_eq!(
        ok(b"a1 UID COPY 4827313:4828442 inbox"),
        Command::UidCopy(Transfer {
            set: set(vec![SeqItem::Range(uid(4827313), uid(4828442))]),
            mailbox: Mailbox::Inbox
        })
    );
    assert_eq!(
        ok(b"a1 uid move 42 Trash"),
        Command::UidMove(Transfer {
            set: set(vec![SeqItem::One(uid(42))]),
            mailbox: mbox("Trash")
        })
    );
    assert_eq!(tagged_err(b"a1 COPY 1"), Malformed::MissingArgument);
    assert_eq!(
        tagged_err(b"a1 MOVE x Trash"),
        Malformed::InvalidSequenceSet
    );
}

#[test]
fn uid_subcommands() {
    assert_eq!(tagged_err(b"a1 UID"), Malformed::MissingArgument);
    assert_eq!(tagged_err(b"a1 UID NOOP"), Malformed::InvalidUidCommand);
    assert_eq!(tagged_err(b"a1 UID FROB 1"), Malformed::InvalidUidCommand);
    assert_eq!(tagged_err(b"a1 UID (FETCH)"), Malformed::InvalidUidCommand);
    assert_eq!(ok(b"a1 UID SEARCH ALL").verb(), Verb::Uid);
}

#[test]
fn flags_parse() {
    assert_eq!(Flag::parse(b"\\seen"), Some(Flag::Seen));
    assert_eq!(Flag::parse(b"\\ANSWERED"), Some(Flag::Answered));
    assert_eq!(
        Flag::parse(b"$MDNSent"),
        Some(Flag::Keyword(kw("$MDNSent")))
    );
    assert_eq!(Flag::parse(b"\\*"), None);
    assert_eq!(Flag::parse(b"a]b"), None);
    assert_eq!(Flag::parse(b""), None);
    assert_eq!(Keyword::new("has space"), None);
}
