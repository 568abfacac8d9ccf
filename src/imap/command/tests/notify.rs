//! NOTIFY (RFC 5465 §3, §8): every form, the RFC's examples, and the combinations it makes
//! syntax errors.

use super::*;

fn set(status: bool, groups: Vec<EventGroup>) -> Command {
    Command::Notify(Notify::Set { status, groups })
}

fn group(filter: NotifyFilter, events: Option<Vec<NotifyEvent>>) -> EventGroup {
    EventGroup { filter, events }
}

fn messages() -> Vec<NotifyEvent> {
    vec![
        NotifyEvent::MessageNew(Vec::new()),
        NotifyEvent::MessageExpunge,
    ]
}

#[test]
fn none_and_the_simple_filters() {
    assert_eq!(ok(b"a1 NOTIFY NONE"), Command::Notify(Notify::None));
    assert_eq!(ok(b"a1 notify none"), Command::Notify(Notify::None));
    assert_eq!(
        ok(b"a1 NOTIFY SET (selected (MessageNew MessageExpunge)) (inboxes NONE)"),
        set(
            false,
            vec![
                group(NotifyFilter::Selected, Some(messages())),
                group(NotifyFilter::Inboxes, None),
            ]
        )
    );
    assert_eq!(
        ok(b"a1 NOTIFY SET STATUS (PERSONAL (MessageNew MessageExpunge FlagChange)) (Subscribed (MailboxName SubscriptionChange)) (SELECTED-DELAYED (MailboxMetadataChange ServerMetadataChange))"),
        set(
            true,
            vec![
                group(
                    NotifyFilter::Personal,
                    Some(vec![
                        NotifyEvent::MessageNew(Vec::new()),
                        NotifyEvent::MessageExpunge,
                        NotifyEvent::FlagChange,
                    ])
                ),
                group(
                    NotifyFilter::Subscribed,
                    Some(vec![
                        NotifyEvent::MailboxName,
                        NotifyEvent::SubscriptionChange
                    ])
                ),
                group(
                    NotifyFilter::SelectedDelayed,
                    Some(vec![
                        NotifyEvent::MailboxMetadataChange,
                        NotifyEvent::ServerMetadataChange
                    ])
                ),
            ]
        )
    );
}

#[test]
fn subtree_and_mailboxes_take_one_name_or_a_list() {
    assert_eq!(
        ok(b"a1 NOTIFY SET (subtree Lists (MessageNew MessageExpunge)) (mailboxes (misc \"a b\" INBOX) (MailboxName))"),
        set(
            false,
            vec![
                group(NotifyFilter::Subtree(vec![mbox("Lists")]), Some(messages())),
                group(
                    NotifyFilter::Mailboxes(vec![mbox("misc"), mbox("a b"), Mailbox::Inbox]),
                    Some(vec![NotifyEvent::MailboxName])
                ),
            ]
        )
    );
}

/// RFC 5465 §3.1's example (errata 2318), with the events in parentheses as its grammar
/// (§8, `events`) has them (the example leaves them out): fetch attributes for the
/// selected mailbox's new messages.
#[test]
fn rfc_example_with_fetch_attributes() {
    let cmd = ok(b"a1 notify set (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge)) (mailboxes misc (MessageNew MessageExpunge))");
    let Command::Notify(Notify::Set { status, groups }) = cmd else {
        panic!("not NOTIFY SET");
    };
    assert!(!status);
    assert_eq!(groups.len(), 3);
    let Some(events) = &groups[0].events else {
        panic!("no events");
    };
    let NotifyEvent::MessageNew(attrs) = &events[0] else {
        panic!("not MessageNew");
    };
    assert_eq!(attrs.len(), 2);
    assert_eq!(attrs[0], FetchAttribute::Uid);
    assert!(matches!(attrs[1], FetchAttribute::BodyPeek(_)));
}

#[test]
fn unknown_events_parse_for_the_session_to_refuse() {
    assert_eq!(
        ok(b"a1 NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange QuotaChange))"),
        set(
            false,
            vec![group(
                NotifyFilter::Personal,
                Some(vec![
                    NotifyEvent::MessageNew(Vec::new()),
                    NotifyEvent::MessageExpunge,
                    NotifyEvent::AnnotationChange,
                    NotifyEvent::Other("QuotaChange".into()),
                ])
            )]
        )
    );
}

#[test]
fn rules_the_rfc_makes_syntax_errors() {
    // §5.2, §5.3: MessageNew and MessageExpunge only together.
    for line in [
        &b"a1 NOTIFY SET (selected (MessageNew))"[..],
        b"a1 NOTIFY SET (personal (MessageExpunge))",
        b"a1 NOTIFY SET (personal (FlagChange))",
        b"a1 NOTIFY SET (personal (MessageNew FlagChange))",
        b"a1 NOTIFY SET (inboxes (AnnotationChange MessageExpunge))",
    ] {
        assert_eq!(tagged_err(line), Malformed::NotifyEventPairs, "{line:?}");
    }
    // §3: SELECTED and SELECTED-DELAYED exclude each other (and appear once).
    assert_eq!(
        tagged_err(b"a1 NOTIFY SET (selected NONE) (selected-delayed NONE)"),
        Malformed::NotifySelectedTwice
    );
    assert_eq!(
        tagged_err(b"a1 NOTIFY SET (selected NONE) (selected (MailboxName))"),
        Malformed::NotifySelectedTwice
    );
    // §5.2: fetch attributes only for the selected mailbox.
    assert_eq!(
        tagged_err(b"a1 NOTIFY SET (personal (MessageNew (UID) MessageExpunge))"),
        Malformed::NotifyFetchOutsideSelected
    );
}

#[test]
fn malformed_forms() {
    assert_eq!(tagged_err(b"a1 NOTIFY"), Malformed::MissingArgument);
    assert_eq!(tagged_err(b"a1 NOTIFY "), Malformed::MissingArgument);
    assert_eq!(tagged_err(b"a1 NOTIFY GET"), Malformed::InvalidNotify);
    assert_eq!(tagged_err(b"a1 NOTIFY SET"), Malformed::MissingArgument);
    assert_eq!(
        tagged_err(b"a1 NOTIFY SET STATUS"),
        Malformed::MissingArgument
    );
    assert_eq!(
        tagged_err(b"a1 NOTIFY NONE extra"),
        Malformed::TrailingCharacters
    );
    assert_eq!(
        tagged_err(b"a1 NOTIFY SET (everything (MailboxName))"),
        Malformed::InvalidNotify
    );
    assert_eq!(
        tagged_err(b"a1 NOTIFY SET (personal ())"),
        Malformed::MissingArgument
    );
    assert_eq!(
        tagged_err(b"a1 NOTIFY SET (personal (MailboxName)"),
        Malformed::MissingArgument
    );
    assert_eq!(
        tagged_err(b"a1 NOTIFY SET (personal (MailboxName))  (inboxes NONE)"),
        Malformed::ExpectedParenthesis
    );
    // A SUBTREE without its mailboxes reads the events as the names.
    assert_eq!(
        tagged_err(b"a1 NOTIFY SET (subtree (MailboxName))"),
        Malformed::ExpectedSpace
    );
    assert_eq!(
        tagged_err(b"a1 NOTIFY SET (selected (MessageNew (BODY[ MessageExpunge))"),
        Malformed::InvalidSection
    );
    assert!(Verb::Notify.needs_authentication());
}
