//! Exact-byte transcript tests for [`super::ImapSession`], replayed by the one transcript
//! runner of every protocol ([`crate::transcript`], which has the line syntax) at every split
//! point of the client bytes.
//!
//! Transcripts live in `tests/transcripts/imap/*.txt`. IMAP's own words:
//! - `@listener starttls|implicit|none`, `@max_line_length N`, `@max_literal_size N`,
//!   `@max_auth_failures N`, `@max_search_contexts N`: the session's configuration (before
//!   any other line);
//! - `@message NAME TEXT`: a stored message (escapes as in `R:`) that replies refer to;
//! - `E: mailbox REQUEST`: the session asks its service for this, written as its `Debug` form;
//! - `D: mailbox REPLY`: the service answers it ([`mailbox_reply`] has the syntax), and
//!   `D: change exists UID` / `expunged UID` / `flags UID FLAGS MODSEQ`: a change arrives;
//! - `D: notify …`: a NOTIFY notice arrives ([`notice`] has the syntax).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use super::ImapSession;
use crate::mail::order::OrderFields;
use crate::mail::{
    Change, FlagUpdate, Flags, Keyword, MailboxInfo, MailboxStatus, MimeSummary, ModSeq,
    SpecialUse, SystemFlags, Uid, UidRange, UidValidity, Vanished,
};
use crate::mailbox::{
    Content, FetchedMessage, MailboxAnswer, MailboxError, MailboxNotice, MailboxReply,
    MailboxRequest, MessageMeta, Snapshot, UidRun,
};
use crate::session::{
    AuthOutcome, Event, Limits, Output, Security, Session, SessionConfig, TlsMode,
};
use crate::transcript::{replay_with, unescape, Answer, Scripted, SplitPoints};

/// `seen,deleted,$label` (or `-` for none) as store flags.
fn flags(text: &str) -> Flags {
    let mut system = SystemFlags::NONE;
    let mut keywords = Vec::new();
    for f in text.split(',').filter(|f| !f.is_empty() && *f != "-") {
        match f {
            "seen" => system = system.union(SystemFlags::SEEN),
            "answered" => system = system.union(SystemFlags::ANSWERED),
            "flagged" => system = system.union(SystemFlags::FLAGGED),
            "deleted" => system = system.union(SystemFlags::DELETED),
            "draft" => system = system.union(SystemFlags::DRAFT),
            k => keywords.push(Keyword::new(k).unwrap()),
        }
    }
    Flags::new(system, keywords)
}

fn num<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

/// The reply syntax of `D: mailbox …`:
/// - `done`; `fail nonexistent|exists|cannot|inbox|toobig|overquota|unavailable`;
/// - `quota STORAGE MESSAGES [storage=LIMIT] [messages=LIMIT]` (usage and limits, bytes);
/// - `listed NAME[:special][:sub] … [+NAME …]` (special: sent drafts trash junk archive;
///   `+NAME`: subscribed, but no such mailbox);
/// - `status MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ [RECENT
///   [DELETED-SIZE]]`;
/// - `selected UIDVALIDITY UIDNEXT HIGHESTMODSEQ FIRST-UNSEEN|- [UID|FIRST:LAST …]
///   [recent=UID] [keywords=K1,K2…] [id=ID]` (the UIDs as runs; `recent=`: the first
///   `\Recent` UID; `keywords=`: the keywords in use; `id=`: the mailbox id, 1 by default);
///   a `status` reply takes `id=ID` too (1 by default);
/// - `appended UIDVALIDITY UID`; `created UIDVALIDITY ID` (a CREATE's new mailbox);
/// - `metadata [NAME=VALUE …]` (annotations, sorted; VALUE escaped as in `R:`, `\x20` for a
///   space); `fail toomany`, `fail maxsize N` (METADATA's refusals);
/// - `fetched [UID:FLAGS:MODSEQ:MESSAGE[:DATE[:SAVED[:EMAILID]]] …]` (bytes included when the
///   request asked; for a `Metadata` request `UID:FLAGS:MODSEQ` with the size 0, or
///   `:MESSAGE` for its size; DATE the internal date, 1700000000 by default; SAVED the save
///   date, `-` unknown, a minute after DATE by default; EMAILID its number, 0x100 + UID by
///   default); `ordered` with the same words: the ordering keys of SORT and THREAD;
/// - `flags [UID:FLAGS:MODSEQ …]` (changed; `=UID:FLAGS:MODSEQ` left as it was, `!UID` refused
///   by UNCHANGEDSINCE); `transferred UIDVALIDITY [FROM:TO …]`; `expunged [UID …]`;
/// - `vanished since|absent [FIRST[:LAST] …]` (the expunge log's answer, or the UIDs absent
///   when the log does not reach back);
/// - `acl [IDENTIFIER=RIGHTS …]` (GETACL's entries), `rights RIGHTS` (MYRIGHTS, LISTRIGHTS;
///   `-` for none); `fail noperm|limit|owner|negative|nouser` (the ACL refusals); a
///   `selected` reply takes `rights=RIGHTS` for another account's mailbox.
fn mailbox_reply(
    words: &[&str],
    messages: &HashMap<String, Vec<u8>>,
    content: Option<Content>,
) -> MailboxReply {
    let fields = |w: &str| w.split(':').map(str::to_string).collect::<Vec<_>>();
    match words[0] {
        "done" => MailboxReply::Done,
        // `ordered` and the words of `fetched`: a SORT or THREAD's keys, as the store derives
        // them (References always read).
        "ordered" => {
            let mut fetched = words.to_vec();
            fetched[0] = "fetched";
            let MailboxReply::Fetched { messages, now, .. } =
                mailbox_reply(&fetched, messages, Some(Content::Header))
            else {
                unreachable!("fetched is a fetch")
            };
            MailboxReply::Ordered {
                messages: messages
                    .into_iter()
                    .map(|m| {
                        let env = &m.summary.envelope;
                        let keys = OrderFields::of(env)
                            .with_references(m.bytes.as_deref().unwrap_or_default(), env);
                        (m.meta, std::sync::Arc::new(keys))
                    })
                    .collect(),
                now,
            }
        }
        // `indexing DONE TOTAL`: the index is still being built.
        "indexing" => MailboxReply::TextIndexing {
            done: num(words[1]),
            total: num(words[2]),
        },
        // `notifying [NAME:MESSAGES:UIDNEXT:UIDVALIDITY:UNSEEN:HIGHESTMODSEQ …]
        // [unwatched=N]`: NOTIFY's answer, with the initial STATUS of the watched mailboxes,
        // and how many owners of shared mailboxes are past `[imap] notify_max_owners`.
        "notifying" => MailboxReply::Notifying {
            unwatched: words[1..]
                .iter()
                .find_map(|w| w.strip_prefix("unwatched="))
                .map_or(0, num::<usize>),
            statuses: words[1..]
                .iter()
                .filter(|w| !w.starts_with("unwatched="))
                .map(|w| {
                    let f = fields(w);
                    let MailboxNotice::Status { name, status } =
                        notice(&["status", &f[0], &f[1], &f[2], &f[3], &f[4], &f[5]])
                    else {
                        unreachable!()
                    };
                    (name, status)
                })
                .collect(),
        },
        // `text UID,UID… exact|inexact` (`-`: none), or `text none`: the full-text index's
        // answer to a TextSearch.
        "text" => MailboxReply::TextCandidates(match words[1] {
            "none" => None,
            uids => Some((
                uids.split(',')
                    .filter(|u| *u != "-")
                    .map(|u| Uid(num(u)))
                    .collect(),
                words[2] == "exact",
            )),
        }),
        // `metadata NAME=VALUE …`: VALUE with the escapes of `R:` lines.
        "metadata" => MailboxReply::Metadata(
            words[1..]
                .iter()
                .map(|w| {
                    let (name, value) = w.split_once('=').unwrap();
                    crate::mail::metadata::Annotation {
                        name: name.to_string(),
                        value: Some(unescape(value)),
                    }
                })
                .collect(),
        ),
        "created" => MailboxReply::Created {
            uid_validity: UidValidity(num(words[1])),
            id: crate::mail::MailboxId(num(words[2])),
        },
        "acl" => MailboxReply::Acl(
            words[1..]
                .iter()
                .map(|w| {
                    let (identifier, rights) = w.split_once('=').unwrap();
                    crate::mail::acl::AclEntry {
                        identifier: identifier.to_string(),
                        rights: crate::mail::acl::Rights::parse(rights).unwrap(),
                    }
                })
                .collect(),
        ),
        "rights" => MailboxReply::Rights(
            crate::mail::acl::Rights::parse(words[1].trim_start_matches('-')).unwrap(),
        ),
        "fail" => MailboxReply::Failed(match words[1] {
            "noperm" => MailboxError::NoPermission,
            "limit" => MailboxError::AclTooMany,
            "owner" => MailboxError::AclRefused("The owner always has every right"),
            "negative" => MailboxError::AclRefused("Negative rights are not supported"),
            "nouser" => MailboxError::AclRefused("No such user"),
            "nonexistent" => MailboxError::NoSuchMailbox,
            "exists" => MailboxError::MailboxExists,
            "cannot" => MailboxError::InvalidName,
            "inbox" => MailboxError::InboxIsPermanent,
            "toobig" => MailboxError::TooLarge,
            "overquota" => MailboxError::OverQuota,
            "toomany" => MailboxError::MetadataTooMany,
            "maxsize" => MailboxError::MetadataMaxSize(num(words[2])),
            _ => MailboxError::Unavailable("test".into()),
        }),
        "listed" => {
            let mut subscriptions: Vec<String> = Vec::new();
            let mut mailboxes = Vec::new();
            for (w, id) in words[1..].iter().zip(1u32..) {
                if let Some(name) = w.strip_prefix('+') {
                    subscriptions.push(name.to_string());
                    continue;
                }
                let f = fields(w);
                let special = f.iter().find_map(|x| match x.as_str() {
                    "sent" => Some(SpecialUse::Sent),
                    "drafts" => Some(SpecialUse::Drafts),
                    "trash" => Some(SpecialUse::Trash),
                    "junk" => Some(SpecialUse::Junk),
                    "archive" => Some(SpecialUse::Archive),
                    _ => None,
                });
                let subscribed = f.iter().any(|x| x == "sub");
                if subscribed {
                    subscriptions.push(f[0].clone());
                }
                mailboxes.push(MailboxInfo {
                    id: crate::mail::MailboxId(id),
                    name: f[0].clone(),
                    special,
                    subscribed,
                });
            }
            subscriptions.sort();
            MailboxReply::Listed {
                mailboxes,
                subscriptions,
            }
        }
        "status" => {
            let id = words
                .iter()
                .find_map(|w| w.strip_prefix("id="))
                .map_or(1, num);
            let words: Vec<&str> = words.iter().copied().filter(|w| !w.contains('=')).collect();
            MailboxReply::Status(MailboxStatus {
                id: crate::mail::MailboxId(id),
                messages: num(words[1]),
                uid_next: Uid(num(words[2])),
                uid_validity: UidValidity(num(words[3])),
                unseen: num(words[4]),
                deleted: num(words[5]),
                size: num(words[6]),
                highest_modseq: ModSeq(num(words[7])),
                recent: words.get(8).map_or(0, |w| num(w)),
                deleted_size: words.get(9).map_or(0, |w| num(w)),
            })
        }
        "selected" => MailboxReply::Selected(Snapshot {
            id: crate::mail::MailboxId(
                words[5..]
                    .iter()
                    .find_map(|w| w.strip_prefix("id="))
                    .map_or(1, num),
            ),
            uid_validity: UidValidity(num(words[1])),
            uid_next: Uid(num(words[2])),
            highest_modseq: ModSeq(num(words[3])),
            first_unseen: (words[4] != "-").then(|| num(words[4])),
            recent: words[5..]
                .iter()
                .find_map(|w| w.strip_prefix("recent="))
                .map(|w| Uid(num(w))),
            keywords: words[5..]
                .iter()
                .find_map(|w| w.strip_prefix("keywords="))
                .map_or_else(Vec::new, |w| {
                    w.split(',').map(|k| Keyword::new(k).unwrap()).collect()
                }),
            rights: words[5..]
                .iter()
                .find_map(|w| w.strip_prefix("rights="))
                .map(|w| crate::mail::acl::Rights::parse(w).unwrap()),
            uids: words[5..]
                .iter()
                .filter(|w| !w.contains('='))
                .map(|w| {
                    let (first, last) = w.split_once(':').unwrap_or((w, w));
                    UidRun {
                        first: Uid(num(first)),
                        count: num::<u32>(last) - num::<u32>(first) + 1,
                    }
                })
                .collect(),
        }),
        // `quota STORAGE-USED MESSAGES-USED [storage=LIMIT] [messages=LIMIT]` (bytes).
        "quota" => MailboxReply::Quota(crate::mail::Quota {
            usage: crate::mail::QuotaUsage {
                storage: num(words[1]),
                messages: num(words[2]),
            },
            limits: crate::mail::QuotaLimits {
                storage: words[3..]
                    .iter()
                    .find_map(|w| w.strip_prefix("storage="))
                    .map(num),
                messages: words[3..]
                    .iter()
                    .find_map(|w| w.strip_prefix("messages="))
                    .map(num),
            },
        }),
        "appended" => MailboxReply::Appended {
            uid_validity: UidValidity(num(words[1])),
            uid: Uid(num(words[2])),
        },
        // The transcripts' clock: a day after their messages' default internal date.
        "fetched" => MailboxReply::Fetched {
            now: 1_700_086_400,
            messages: words[1..]
                .iter()
                .map(|w| {
                    let f = fields(w);
                    let meta = |size: usize| MessageMeta {
                        uid: Uid(num(&f[0])),
                        flags: flags(&f[1]),
                        modseq: ModSeq(num(&f[2])),
                        // A fifth field sets the internal date (Unix seconds).
                        internal_date: f.get(4).map_or(1_700_000_000, |d| num::<i64>(d)),
                        size: size as u32,
                        // A sixth field sets the save date (`-`: unknown); none: a minute
                        // after the internal date.
                        saved: match f.get(5).map(String::as_str) {
                            Some("-") => None,
                            Some(d) => Some(num::<i64>(d)),
                            None => Some(f.get(4).map_or(1_700_000_000, |d| num::<i64>(d)) + 60),
                        },
                        // A seventh field sets the EMAILID number; none: 0x100 + UID.
                        email_id: f
                            .get(6)
                            .map_or(0x100 + num::<u64>(&f[0]), |d| num::<u64>(d)),
                    };
                    let raw = f.get(3).map(|name| {
                        messages
                            .get(name)
                            .unwrap_or_else(|| panic!("message {name}"))
                    });
                    if content == Some(Content::Metadata) {
                        return FetchedMessage {
                            meta: meta(raw.map_or(0, Vec::len)),
                            summary: MimeSummary::default(),
                            bytes: None,
                        };
                    }
                    let raw = raw.unwrap_or_else(|| panic!("fetched {w}: no message"));
                    let summary = MimeSummary::parse(raw);
                    let header = summary
                        .parts
                        .first()
                        .map_or(raw.len(), |p| p.body_offset as usize);
                    FetchedMessage {
                        meta: meta(raw.len()),
                        bytes: match content {
                            Some(Content::Bytes) => Some(raw.clone().into()),
                            Some(Content::Header) => Some(raw[..header].to_vec().into()),
                            _ => None,
                        },
                        summary,
                    }
                })
                .collect(),
            rest: Vec::new(),
        },
        "flags" => {
            let mut update = FlagUpdate::default();
            for w in &words[1..] {
                if let Some(uid) = w.strip_prefix('!') {
                    update.modified.push(Uid(num(uid)));
                    continue;
                }
                let (list, w) = match w.strip_prefix('=') {
                    Some(w) => (&mut update.unchanged, w),
                    None => (&mut update.changed, *w),
                };
                let f = fields(w);
                list.push((Uid(num(&f[0])), flags(&f[1]), ModSeq(num(&f[2]))));
            }
            MailboxReply::Flags(update)
        }
        "vanished" => {
            let ranges = words[2..]
                .iter()
                .map(|w| {
                    let f = fields(w);
                    let first = Uid(num(&f[0]));
                    UidRange::new(first, f.get(1).map_or(first, |l| Uid(num(l))))
                })
                .collect();
            MailboxReply::Vanished(match words[1] {
                "since" => Vanished::Since(ranges),
                _ => Vanished::Absent(ranges),
            })
        }
        // `transferred UIDVALIDITY [FROM:TO …] [modseq=N]` (the source's HIGHESTMODSEQ).
        "transferred" => MailboxReply::Transferred {
            uid_validity: UidValidity(num(words[1])),
            pairs: words[2..]
                .iter()
                .filter(|w| !w.starts_with("modseq="))
                .map(|w| {
                    let f = fields(w);
                    (Uid(num(&f[0])), Uid(num(&f[1])))
                })
                .collect(),
            source_modseq: ModSeq(
                words
                    .iter()
                    .find_map(|w| w.strip_prefix("modseq="))
                    .map_or(0, num),
            ),
        },
        // `expunged [UID …] [modseq=N]`: the mailbox's HIGHESTMODSEQ afterwards (0 if absent).
        "expunged" => MailboxReply::Expunged {
            uids: words[1..]
                .iter()
                .filter(|w| !w.starts_with("modseq="))
                .map(|w| Uid(num(w)))
                .collect(),
            highest_modseq: ModSeq(
                words
                    .iter()
                    .find_map(|w| w.strip_prefix("modseq="))
                    .map_or(0, num),
            ),
        },
        other => panic!("mailbox reply {other}"),
    }
}

fn change(words: &[&str]) -> Change {
    match words {
        ["exists", uid] => Change::Exists { uid: Uid(num(uid)) },
        ["expunged", uid] => Change::Expunged { uid: Uid(num(uid)) },
        ["flags", uid, f, modseq] => Change::Flags {
            uid: Uid(num(uid)),
            flags: flags(f),
            modseq: ModSeq(num(modseq)),
        },
        other => panic!("change {other:?}"),
    }
}

/// The syntax of `D: notify …` (RFC 5465 notices from the service):
/// - `status NAME MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ`;
/// - `created NAME`, `deleted NAME`, `renamed OLD NEW`;
/// - `subscribed NAME`, `unsubscribed NAME`;
/// - `metadata NAME|- ENTRY` (`-`: a server entry);
/// - `overflow`.
fn notice(words: &[&str]) -> MailboxNotice {
    match words {
        ["status", name, messages, uid_next, uid_validity, unseen, modseq] => {
            MailboxNotice::Status {
                name: name.to_string(),
                status: MailboxStatus {
                    id: crate::mail::MailboxId(2),
                    messages: num(messages),
                    uid_next: Uid(num(uid_next)),
                    uid_validity: UidValidity(num(uid_validity)),
                    unseen: num(unseen),
                    deleted: 0,
                    size: 0,
                    highest_modseq: ModSeq(num(modseq)),
                    recent: 0,
                    deleted_size: 0,
                },
            }
        }
        ["created", name] | ["deleted", name] => MailboxNotice::Name {
            name: name.to_string(),
            old: None,
            deleted: words[0] == "deleted",
        },
        ["renamed", old, new] => MailboxNotice::Name {
            name: new.to_string(),
            old: Some(old.to_string()),
            deleted: false,
        },
        ["subscribed", name] | ["unsubscribed", name] => MailboxNotice::Subscription {
            name: name.to_string(),
            subscribed: words[0] == "subscribed",
        },
        ["metadata", mailbox, entry] => MailboxNotice::Metadata {
            mailbox: (*mailbox != "-").then(|| mailbox.to_string()),
            entry: entry.to_string(),
        },
        ["overflow"] => MailboxNotice::Overflow,
        other => panic!("notice {other:?}"),
    }
}

/// What an IMAP transcript has said that later lines depend on.
#[derive(Default)]
pub(crate) struct Notes {
    limits: Limits,
    mode: Option<TlsMode>,
    messages: HashMap<String, Vec<u8>>,
    /// How much of each message the last FETCH request asked for.
    content: Option<Content>,
}

impl Scripted for ImapSession {
    type Notes = Notes;

    fn directive(notes: &mut Notes, key: &str, value: &str) -> bool {
        match key {
            "listener" => {
                notes.mode = Some(match value {
                    "starttls" => TlsMode::Starttls,
                    "implicit" => TlsMode::Implicit,
                    "none" => TlsMode::None,
                    _ => panic!("listener {value}"),
                })
            }
            "max_line_length" => notes.limits.max_line_length = num(value),
            "max_literal_size" => notes.limits.max_literal_size = num(value),
            "max_auth_failures" => notes.limits.max_auth_failures = num(value),
            "max_search_contexts" => notes.limits.max_search_contexts = num(value),
            "message" => {
                let (name, body) = value.split_once(' ').unwrap();
                notes.messages.insert(name.to_string(), unescape(body));
            }
            _ => return false,
        }
        true
    }

    fn request(notes: &mut Notes, text: &str) -> Option<String> {
        let debug = text.strip_prefix("mailbox ")?;
        notes.content = [
            Content::Bytes,
            Content::Header,
            Content::Summary,
            Content::Metadata,
        ]
        .into_iter()
        .find(|c| debug.contains(&format!("content: {c:?}")));
        Some(debug.to_string())
    }

    fn answer(notes: &mut Notes, text: &str) -> Option<Answer<ImapSession>> {
        let words: Vec<&str> = text.split(' ').collect();
        match words[0] {
            "mailbox" => Some(Answer::Reply(MailboxAnswer {
                changes: Vec::new(),
                reply: mailbox_reply(&words[1..], &notes.messages, notes.content),
            })),
            "change" => Some(Answer::Notice(MailboxNotice::Selected(change(&words[1..])))),
            "notify" => Some(Answer::Notice(notice(&words[1..]))),
            _ => None,
        }
    }

    fn every_split_point() -> SplitPoints {
        SplitPoints::Every
    }
}

fn run(text: &str) {
    replay_with(text, |notes: &Notes| {
        let mode = notes.mode.unwrap_or(TlsMode::Starttls);
        ImapSession::new(
            SessionConfig {
                hostname: "mail.example.com".into(),
                tls_mode: mode,
                limits: notes.limits.clone(),
                local_domains: vec!["example.com".to_string()],
                oauth: false,
                scram: false,
            },
            Security::at_start(mode),
        )
    });
}

macro_rules! transcripts {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run(
                    include_str!(concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/tests/transcripts/imap/",
                        stringify!($name),
                        ".txt"
                    )),
                );
            }
        )*
    };
}

transcripts!(
    notify,
    notify_shared,
    context_search,
    context_sort,
    context_qresync,
    catenate,
    partial,
    uidonly,
    quota,
    replace,
    sort,
    thread_references,
    thread_refs,
    thread_orderedsubject,
    sort_thread_errors,
    esort,
    compress,
    compress_pipelined,
    compress_farewell,
    search_header_repeated,
    within,
    savedate,
    objectid,
    metadata,
    acl,
    preview,
    unauthenticate,
    condstore_implicit_and_esearch,
    binary_quoted_printable,
    mime_digest_and_epilogue,
    envelope_groups_and_routes,
    greeting_starttls_listener,
    greeting_implicit_listener,
    greeting_plaintext_only_listener,
    login_before_tls_refused,
    starttls_discards_pipelined_login,
    starttls_when_not_offered,
    login_after_tls,
    login_literals,
    authenticate_plain,
    authenticate_login,
    authenticate_cancel_and_errors,
    auth_failures,
    auth_temporary_failure,
    pipelined_after_login,
    over_long_lines,
    oversize_literals,
    literal_refusals,
    authenticated_malformed,
    malformed_commands,
    authenticated_state,
    id_and_enable,
    logout,
    logout_authenticated,
    idle_timeout,
    shutdown,
    bare_lf,
    selected_state,
    search_full_text,
    condstore,
    qresync_select,
    qresync_vanished,
    qresync_rfc_example,
    recent_and_keywords,
    client_mbsync_first_sync,
    client_mbsync_nothing_to_sync,
    client_curl_list,
    client_curl_fetch,
    client_curl_search,
    client_fetchmail,
    client_thunderbird,
    huge_nonsync_literal_closes,
);

/// A session on an implicit-TLS listener with these limits, greeting queued.
fn implicit_session(limits: Limits) -> ImapSession {
    let config = SessionConfig {
        hostname: "h".into(),
        tls_mode: TlsMode::Implicit,
        limits,
        local_domains: vec!["example.com".to_string()],
        oauth: false,
        scram: false,
    };
    ImapSession::new(config, Security::Tls)
}

/// A session over an implicit-TLS listener whose literals may be at most 1 KiB, greeting read.
fn session_with_small_literals() -> ImapSession {
    let mut s = implicit_session(Limits {
        max_literal_size: 1024,
        ..Limits::default()
    });
    s.poll_output(&mut Vec::new());
    s
}

/// Regression: before login, `a1 LOGIN alice {10000000+}` got no reply while the server read
/// and dropped the 10 MB (and would have for a terabyte). Now the BAD comes at once and the
/// connection closes, having buffered nothing.
#[test]
fn huge_rejected_nonsync_literal_is_answered_at_once_and_closes() {
    let mut s = session_with_small_literals();
    let mut out = Vec::new();
    s.handle_input(b"a1 LOGIN alice {10000000+}\r\n");
    s.poll_output(&mut out);
    assert_eq!(
        out,
        b"a1 BAD [TOOBIG] Literal too big\r\n* BYE Literal too big\r\n"
    );
    assert_eq!(s.poll_event(), Some(Event::Close));
    out.clear();
    s.handle_input(&vec![b'x'; 65536]);
    s.handle_input(b"\r\na2 NOOP\r\n");
    s.poll_output(&mut out);
    assert_eq!(out, b"");
    assert_eq!(s.buffered_input(), 0);
}

/// A refused non-synchronizing literal of at most 64 KiB is still read and dropped (never
/// buffered whole) and the session goes on (RFC 7888 §4).
#[test]
fn rejected_nonsync_literal_up_to_64k_is_discarded_and_the_session_goes_on() {
    let mut s = session_with_small_literals();
    let mut out = Vec::new();
    s.handle_input(b"a1 LOGIN alice {65536+}\r\n");
    let chunk = vec![b'x'; 4096];
    for _ in 0..16 {
        s.handle_input(&chunk);
        assert!(
            s.buffered_input() <= 4096,
            "buffered {}",
            s.buffered_input()
        );
    }
    s.poll_output(&mut out);
    assert_eq!(out, b"");
    s.handle_input(b"\r\na2 NOOP\r\n");
    s.poll_output(&mut out);
    assert_eq!(
        out,
        b"a1 BAD [TOOBIG] Literal too big\r\na2 OK NOOP completed\r\n"
    );
    assert_eq!(s.poll_event(), None);
}

#[test]
fn enable_imap4rev2_sets_the_flag() {
    let mut s = implicit_session(Limits::default());
    s.handle_input(b"a1 LOGIN alice secret\r\n");
    assert!(matches!(s.poll_event(), Some(Event::Authenticate(_))));
    s.handle_auth(AuthOutcome::Success {
        account: "alice".into(),
    });
    assert!(!s.imap4rev2_enabled());
    s.handle_input(b"a2 ENABLE IMAP4REV2\r\n");
    assert!(s.imap4rev2_enabled());
}

/// A 100,000-message SELECT: the snapshot is three runs of UIDs, the session numbers the
/// messages from them, and commands on sequence numbers name the right UIDs.
#[test]
fn select_of_100000_messages_numbers_them_from_uid_runs() {
    let mut s = implicit_session(Limits::default());
    let mut out = Vec::new();
    let mut exchange = |s: &mut ImapSession, input: &[u8]| {
        s.handle_input(input);
        out.clear();
        s.poll_output(&mut out);
        let events: Vec<Event<MailboxRequest>> = std::iter::from_fn(|| s.poll_event()).collect();
        (String::from_utf8(out.clone()).unwrap(), events)
    };
    exchange(&mut s, b"a1 LOGIN alice secret\r\n");
    s.handle_auth(AuthOutcome::Success {
        account: "alice".into(),
    });
    let (_, events) = exchange(&mut s, b"a2 SELECT INBOX\r\n");
    assert!(matches!(
        events.as_slice(),
        [Event::Request(MailboxRequest::Select { .. })]
    ));
    // UIDs 1..=9, 11..=49999, 50001..=100002: 100,000 messages.
    let run = |first, count| UidRun {
        first: Uid(first),
        count,
    };
    // What the session writes into the driver's output while handling a reply.
    let mut sent = Output::default();
    s.handle_mailbox(
        MailboxReply::Selected(Snapshot {
            id: crate::mail::MailboxId(1),
            uid_validity: UidValidity(7),
            uid_next: Uid(100_003),
            highest_modseq: ModSeq(100_005),
            uids: vec![run(1, 9), run(11, 49_989), run(50_001, 50_002)],
            first_unseen: Some(99_999),
            recent: None,
            keywords: Vec::new(),
            rights: None,
        }),
        &mut sent,
    );
    assert!(sent.is_empty());
    let (text, _) = exchange(&mut s, b"");
    assert!(text.contains("* 100000 EXISTS\r\n"), "{text}");
    assert!(
        text.contains("* OK [UNSEEN 99999] First unseen\r\n"),
        "{text}"
    );
    assert!(
        text.ends_with("a2 OK [READ-WRITE] SELECT completed\r\n"),
        "{text}"
    );
    // Messages 10 and 49999 are the first after each gap; * is the last.
    let (_, events) = exchange(&mut s, b"a3 FETCH 10,49999,* FLAGS\r\n");
    let [Event::Request(MailboxRequest::Fetch { uids, content, .. })] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(uids, &vec![Uid(11), Uid(50_001), Uid(100_002)]);
    assert_eq!(*content, Content::Metadata);
    s.handle_mailbox(
        MailboxReply::Fetched {
            messages: Vec::new(),
            rest: Vec::new(),
            now: 0,
        },
        &mut sent,
    );
    assert!(sent.is_empty());
    // Answered from the sequence map alone, without asking the store: messages 49999:50001
    // are UIDs 50001:50003; UIDs 49999:50001 are two messages (50000 is gone).
    let (text, events) = exchange(
        &mut s,
        b"a4 UID SEARCH RETURN (MIN MAX COUNT) 49999:50001\r\na5 SEARCH RETURN (ALL) UID 49999:50001\r\n",
    );
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(
        text,
        "a3 OK FETCH completed\r\n\
         * ESEARCH (TAG \"a4\") UID MIN 50001 MAX 50003 COUNT 3\r\n\
         a4 OK SEARCH completed\r\n\
         * ESEARCH (TAG \"a5\") ALL 49998:49999\r\n\
         a5 OK SEARCH completed\r\n"
    );
    // Another session expunges UID 11: message 10 goes, and the numbers after it move down.
    s.handle_mailbox_change(Change::Expunged { uid: Uid(11) });
    let (text, _) = exchange(&mut s, b"a6 NOOP\r\n");
    assert_eq!(text, "* 10 EXPUNGE\r\na6 OK NOOP completed\r\n");
    let (_, events) = exchange(&mut s, b"a7 FETCH 10 UID\r\n");
    let [Event::Request(MailboxRequest::Fetch { uids, .. })] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(uids, &vec![Uid(12)]);
}

proptest::proptest! {
    /// Whatever a client sends, the session does not panic, and every byte it sends is a
    /// CRLF-terminated line starting with `*`, `+` or a valid tag.
    #[test]
    fn arbitrary_input_gets_well_formed_replies(
        chunks in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
                proptest::sample::select(vec![
                    b"a LOGIN {3}\r\n".to_vec(),
                    b"b LOGIN x {2+}\r\n".to_vec(),
                    b"c AUTHENTICATE PLAIN\r\n".to_vec(),
                    b"d AUTHENTICATE LOGIN\r\n".to_vec(),
                    b"e ID (\"x\" {1}\r\n".to_vec(),
                    b"f STARTTLS\r\n".to_vec(),
                    b"g NOOP\r\n".to_vec(),
                    b"\r\n".to_vec(),
                    b"*\r\n".to_vec(),
                ]),
            ],
            0..30,
        ),
        implicit in proptest::prelude::any::<bool>(),
    ) {
        let config = SessionConfig {
            hostname: "h".into(),
            tls_mode: if implicit { TlsMode::Implicit } else { TlsMode::Starttls },
            limits: Limits {
                max_line_length: 30,
                max_literal_size: 8,
                ..Limits::default()
            }, local_domains: vec!["example.com".to_string()], oauth: false, scram: false, };
        let mut s = ImapSession::new(config, if implicit { Security::Tls } else { Security::Plaintext });
        let mut out = Vec::new();
        for chunk in &chunks {
            s.handle_input(chunk);
            while let Some(event) = s.poll_event() {
                match event {
                    Event::StartTls => s.handle_tls_established(),
                    Event::Authenticate(_) => s.handle_auth(AuthOutcome::Failure),
                    Event::Close => {}
                    other => proptest::prop_assert!(false, "IMAP emitted {other:?}"),
                }
            }
            s.poll_output(&mut out);
        }
        proptest::prop_assert!(out.is_empty() || out.ends_with(b"\r\n"));
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            proptest::prop_assert!(line.ends_with(b"\r"));
            let first = line.split(|&b| b == b' ').next().unwrap_or(&[]);
            proptest::prop_assert!(
                first == b"*" || first == b"+" || super::Tag::parse(first).is_some(),
                "bad line {:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
}

/// Regression: an RFC 2971 ID of the largest size a client may send (30 fields, values of
/// 1024 octets: about 32 KB on one line) got `BAD [TOOBIG]` under the old 8 KiB default line
/// limit. With the defaults it is answered, before login as after.
#[test]
fn id_of_maximum_size_is_answered_with_default_limits() {
    let mut s = implicit_session(Limits::default());
    s.poll_output(&mut Vec::new());
    let mut line = b"a1 ID (".to_vec();
    for i in 0..30 {
        let field = format!("\"field-{i:02}-{}\" ", "f".repeat(20));
        line.extend_from_slice(field.as_bytes());
        line.push(b'"');
        line.extend(std::iter::repeat_n(b'v', 1024));
        line.extend_from_slice(if i < 29 { b"\" " } else { b"\")" });
    }
    line.extend_from_slice(b"\r\n");
    assert!(line.len() > 31_000, "{}", line.len());
    s.handle_input(&line);
    let mut out = Vec::new();
    s.poll_output(&mut out);
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("* ID (\"name\" \"ringpost\""), "{out}");
    assert!(out.ends_with("a1 OK ID completed\r\n"), "{out}");
}
