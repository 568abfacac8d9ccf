//! Whatever a logged-in client sends, and whatever order of replies and changes the driver
//! produces, the session does not panic, asks for one thing at a time, and ends every
//! command with a reply.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::ImapSession;
use crate::mail::{
    Change, FlagUpdate, Flags, MailboxInfo, MailboxStatus, MimeSummary, ModSeq, SystemFlags, Uid,
    UidValidity, Vanished,
};
use crate::mailbox::{
    Content, FetchedMessage, MailboxError, MailboxReply, MailboxRequest, MessageMeta, Snapshot,
    UidRun,
};
use crate::session::{
    AuthOutcome, Event, Limits, Output, Security, Session, SessionConfig, TlsMode,
};

const MESSAGE: &[u8] =
    b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nhi\r\n--b--\r\n";

fn meta(uid: u32) -> MessageMeta {
    MessageMeta {
        uid: Uid(uid),
        flags: Flags::system(SystemFlags(uid as u8 % 32)),
        modseq: ModSeq(u64::from(uid)),
        internal_date: i64::from(uid) * 86_400,
        size: MESSAGE.len() as u32,
        saved: Some(i64::from(uid) * 86_400 + 60),
        email_id: u64::from(uid),
    }
}

/// A plausible answer to `request`; `fail` turns it into an error.
fn answer(request: MailboxRequest, fail: bool) -> MailboxReply {
    if fail {
        return MailboxReply::Failed(MailboxError::NoSuchMailbox);
    }
    match request {
        MailboxRequest::List => MailboxReply::Listed {
            mailboxes: ["INBOX", "a", "a/b", "c/d/e"]
                .iter()
                .zip(1..)
                .map(|(n, id)| MailboxInfo {
                    id: crate::mail::MailboxId(id),
                    name: (*n).to_string(),
                    special: None,
                    subscribed: id % 2 == 0,
                })
                .collect(),
            subscriptions: vec!["a".into(), "c/d/e".into(), "gone/x".into()],
        },
        MailboxRequest::Status { .. } => MailboxReply::Status(MailboxStatus {
            id: crate::mail::MailboxId(1),
            uid_validity: UidValidity(1),
            uid_next: Uid(9),
            highest_modseq: ModSeq(9),
            messages: 5,
            unseen: 1,
            deleted: 1,
            size: 100,
            recent: 1,
            deleted_size: 20,
        }),
        MailboxRequest::Select { .. } => MailboxReply::Selected(Snapshot {
            id: crate::mail::MailboxId(1),
            uid_validity: UidValidity(1),
            uid_next: Uid(9),
            highest_modseq: ModSeq(9),
            uids: [(1, 2), (4, 2), (8, 1)]
                .into_iter()
                .map(|(first, count)| UidRun {
                    first: Uid(first),
                    count,
                })
                .collect(),
            first_unseen: Some(2),
            recent: Some(Uid(8)),
            keywords: vec![crate::mail::Keyword::new("$Label1").unwrap()],
            rights: None,
        }),
        MailboxRequest::Fetch { uids, content, .. } => {
            // A bytes batch of more than two messages leaves the rest for the next one.
            let cut = if content >= Content::Header {
                2
            } else {
                uids.len()
            };
            let (now, rest) = uids.split_at(cut.min(uids.len()));
            MailboxReply::Fetched {
                now: 0,
                messages: now
                    .iter()
                    .map(|u| FetchedMessage {
                        meta: meta(u.0),
                        summary: MimeSummary::parse(MESSAGE),
                        bytes: (content >= Content::Header).then(|| MESSAGE.to_vec().into()),
                    })
                    .collect(),
                rest: rest.to_vec(),
            }
        }
        MailboxRequest::Store {
            uids,
            unchanged_since,
            ..
        } => {
            let mut update = FlagUpdate::default();
            for u in uids {
                if unchanged_since.is_some_and(|m| ModSeq(u64::from(u.0)) > m) {
                    update.modified.push(u);
                } else if u.0 % 2 == 0 {
                    update
                        .changed
                        .push((u, Flags::system(SystemFlags::SEEN), ModSeq(20)));
                } else {
                    update
                        .unchanged
                        .push((u, meta(u.0).flags, ModSeq(u64::from(u.0))));
                }
            }
            MailboxReply::Flags(update)
        }
        MailboxRequest::Vanished { uids, since, .. } => {
            // The log answers for recent modseqs only.
            let ranges = uids.into_iter().filter(|r| r.first.0 % 3 == 0).collect();
            MailboxReply::Vanished(if since.0 > 5 {
                Vanished::Since(ranges)
            } else {
                Vanished::Absent(ranges)
            })
        }
        MailboxRequest::Changed { .. } => MailboxReply::Flags(FlagUpdate {
            changed: [2, 3, 7, 12]
                .into_iter()
                .map(|u| (Uid(u), Flags::system(SystemFlags::ANSWERED), ModSeq(15)))
                .collect(),
            ..FlagUpdate::default()
        }),
        MailboxRequest::Transfer { uids, .. } => MailboxReply::Transferred {
            uid_validity: UidValidity(2),
            pairs: uids.into_iter().map(|u| (u, Uid(u.0 + 100))).collect(),
            source_modseq: ModSeq(50),
        },
        MailboxRequest::Expunge { uids, .. } => MailboxReply::Expunged {
            uids: uids.unwrap_or_else(|| vec![Uid(2), Uid(5)]),
            highest_modseq: ModSeq(50),
        },
        MailboxRequest::Append { .. } => MailboxReply::Appended {
            uid_validity: UidValidity(1),
            uid: Uid(10),
        },
        _ => MailboxReply::Done,
    }
}

fn commands() -> Vec<Vec<u8>> {
    [
        "a SELECT INBOX",
        "a EXAMINE a",
        "a SELECT INBOX (CONDSTORE)",
        "a FETCH 1:* ALL",
        "a FETCH 1:3 (BODY[] BODY.PEEK[1.MIME] BINARY[1] BODYSTRUCTURE ENVELOPE)",
        "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 3)",
        "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 3 VANISHED)",
        "a UID FETCH 2,7:* FLAGS (CHANGEDSINCE 9 VANISHED)",
        "a ENABLE QRESYNC",
        "a SELECT INBOX (QRESYNC (1 3))",
        "a EXAMINE INBOX (QRESYNC (1 7 1:20 (1:3 1,2,4)))",
        "a SELECT INBOX (QRESYNC (1 2 3:4294967295 (1:4294967295 1:4294967295)))",
        "a SELECT INBOX (QRESYNC (2 3))",
        "a FETCH 9 FLAGS",
        "a FETCH * BODY[HEADER]",
        "a FETCH 1:* (FLAGS BODY.PEEK[])",
        "a SEARCH RETURN (SAVE) 2:4",
        "a UID FETCH $ (FLAGS MODSEQ)",
        "a SEARCH SEEN NOT RECENT",
        "a STORE $ -FLAGS.SILENT (\\Seen)",
        "a STORE 1:2 +FLAGS (\\Deleted)",
        "a UID STORE 1:* (UNCHANGEDSINCE 4) FLAGS ()",
        "a SEARCH OR SUBJECT x BODY y",
        "a UID SEARCH RETURN (MIN MAX) UNSEEN",
        "a SEARCH SENTSINCE 1-Jan-2000 LARGER 3",
        "a COPY 1 a",
        "a UID MOVE 2:4 a",
        "a EXPUNGE",
        "a UID EXPUNGE 1:5",
        "a CLOSE",
        "a UNSELECT",
        "a CHECK",
        "a NOOP",
        "a IDLE",
        "DONE",
        "a LIST \"\" *",
        "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %",
        "a LIST \"\" (% a/*) RETURN (STATUS (MESSAGES))",
        "a LSUB \"\" *",
        "a STATUS INBOX (MESSAGES SIZE)",
        "a CREATE x/",
        "a DELETE x",
        "a RENAME a b",
        "a APPEND INBOX (\\Seen) {5+}\r\nhello",
        "a ENABLE IMAP4rev2",
        "a NAMESPACE",
    ]
    .iter()
    .map(|c| format!("{c}\r\n").into_bytes())
    .collect()
}

#[derive(Debug, Clone)]
enum Step {
    Input(Vec<u8>),
    Change(u8, u32),
    /// Answer the next request with an error.
    FailNext,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => proptest::sample::select(commands()).prop_map(Step::Input),
        1 => proptest::collection::vec(any::<u8>(), 0..20).prop_map(Step::Input),
        2 => (0u8..3, 1u32..12).prop_map(|(k, u)| Step::Change(k, u)),
        1 => Just(Step::FailNext),
    ]
}

proptest! {
    #[test]
    fn any_commands_replies_and_changes(steps in proptest::collection::vec(step(), 0..40)) {
        let config = SessionConfig {
            hostname: "h".into(),
            tls_mode: TlsMode::Implicit,
            limits: Limits::default(),
            local_domains: vec!["example.com".to_string()], oauth: false, scram: false,
        };
        let mut s = ImapSession::new(config, Security::Tls);
        s.handle_input(b"l LOGIN u p\r\n");
        prop_assert!(matches!(s.poll_event(), Some(Event::Authenticate(_))));
        s.handle_auth(AuthOutcome::Success { account: "u".into() });
        let mut out = Vec::new();
        let mut fail = false;
        for step in steps {
            match step {
                Step::Input(bytes) => s.handle_input(&bytes),
                Step::Change(kind, uid) => s.handle_mailbox_change(match kind {
                    0 => Change::Exists { uid: Uid(uid) },
                    1 => Change::Expunged { uid: Uid(uid) },
                    _ => Change::Flags {
                        uid: Uid(uid),
                        flags: Flags::system(SystemFlags::FLAGGED),
                        modseq: ModSeq(u64::from(uid) + 30),
                    },
                }),
                Step::FailNext => fail = true,
            }
            // The driver answers one request at a time until the session waits for input.
            while let Some(event) = s.poll_event() {
                prop_assert!(s.poll_event().is_none(), "two events at once");
                match event {
                    Event::Request(request) => {
                        let mut sent = Output::default();
                        s.handle_mailbox(answer(request, std::mem::take(&mut fail)), &mut sent);
                        out.extend_from_slice(&sent.to_vec());
                    }
                    Event::Close => {}
                    other => prop_assert!(false, "unexpected event {other:?}"),
                }
            }
            s.poll_output(&mut out);
        }
        prop_assert!(out.is_empty() || out.ends_with(b"\r\n"));
    }
}

/// RFC 9585: a SEARCH that takes many batches reports how far it is (at most every
/// twentieth of the way, with the tag, the messages looked at and their number), and ends
/// with its normal answer.
#[test]
fn a_long_search_reports_its_progress() {
    let mut s = super::stream_tests::session();
    s.handle_input(b"s SELECT INBOX\r\nt SEARCH BODY hi\r\n");
    let mut out = Vec::new();
    let mut fetches = 0;
    while let Some(event) = s.poll_event() {
        let Event::Request(request) = event else {
            panic!("unexpected event {event:?}");
        };
        let reply = match request {
            MailboxRequest::Select { .. } => MailboxReply::Selected(Snapshot {
                id: crate::mail::MailboxId(1),
                uid_validity: UidValidity(1),
                uid_next: Uid(1001),
                highest_modseq: ModSeq(9),
                uids: vec![UidRun {
                    first: Uid(1),
                    count: 1000,
                }],
                first_unseen: None,
                recent: None,
                keywords: Vec::new(),
                rights: None,
            }),
            MailboxRequest::Fetch { uids, .. } => {
                fetches += 1;
                MailboxReply::Fetched {
                    now: 0,
                    messages: uids
                        .iter()
                        .map(|u| FetchedMessage {
                            meta: meta(u.0),
                            summary: MimeSummary::parse(MESSAGE),
                            bytes: Some(MESSAGE.to_vec().into()),
                        })
                        .collect(),
                    rest: Vec::new(),
                }
            }
            // No full-text index: every message is read.
            MailboxRequest::TextSearch { .. } => MailboxReply::TextCandidates(None),
            other => panic!("unexpected request {other:?}"),
        };
        let mut sent = Output::default();
        s.handle_mailbox(reply, &mut sent);
        out.extend_from_slice(&sent.to_vec());
        s.poll_output(&mut out);
    }
    let text = String::from_utf8(out).unwrap();
    let progress: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("* OK [INPROGRESS"))
        .collect();
    // 1,000 messages in batches of 128: a report after each of the first seven.
    assert_eq!(fetches, 8);
    assert_eq!(progress.len(), 7, "{text}");
    assert_eq!(progress[0], "* OK [INPROGRESS (\"t\" 128 1000)] Searching");
    assert_eq!(progress[6], "* OK [INPROGRESS (\"t\" 896 1000)] Searching");
    assert!(text.ends_with("t OK SEARCH completed\r\n"), "{text}");
}
