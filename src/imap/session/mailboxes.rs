//! Mailbox-level commands (RFC 9051 §6.3): LIST/LSUB with LIST-EXTENDED and LIST-STATUS,
//! STATUS, SELECT/EXAMINE and APPEND, and how their replies become responses.

use std::collections::VecDeque;

use super::super::command::{List, MessageData, QResync, Select, StatusItem, Tag};
use super::super::fetch;
use super::super::response::{Code, Response, Status};
use super::commands::{
    number_set, store_flags, store_name, unix_time, AppendJob, ListJob, Pending,
};
use super::view::{Access, Expunges, View};
use super::ImapSession;
use crate::mail::{MailboxInfo, Recent};
use crate::mailbox::{AppendBody, MailboxError, MailboxRequest};

/// LIST pattern matching (RFC 9051 §6.3.9): `*` matches anything, `%` anything but `/`.
/// Dynamic programming over (pattern, name) positions: linear in their product, whatever
/// wildcards a client sends (backtracking would be exponential).
fn pattern_matches(pattern: &[char], name: &[char]) -> bool {
    // reach[j]: the pattern consumed so far can match name[..j].
    let mut reach = vec![false; name.len() + 1];
    reach[0] = true;
    for &p in pattern {
        let mut next = vec![false; name.len() + 1];
        match p {
            '*' | '%' => {
                for j in 0..=name.len() {
                    next[j] =
                        reach[j] || (j > 0 && next[j - 1] && (p == '*' || name[j - 1] != '/'));
                }
            }
            c => {
                for j in 1..=name.len() {
                    next[j] = reach[j - 1] && name[j - 1] == c;
                }
            }
        }
        reach = next;
    }
    reach[name.len()]
}

fn list_matches(pattern: &str, name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    // INBOX is case-insensitive (RFC 9051 §5.1): match it in upper case.
    let pattern: String = if pattern.len() >= 5 && pattern[..5].eq_ignore_ascii_case("INBOX") {
        format!("INBOX{}", &pattern[5..])
    } else {
        pattern.to_string()
    };
    let pattern: Vec<char> = pattern.chars().collect();
    pattern_matches(&pattern, &name)
}

/// Where a LIST RETURN (STATUS …) / (MYRIGHTS) stands.
#[derive(Debug)]
pub(super) struct ListStep {
    pub(super) items: Option<Vec<StatusItem>>,
    pub(super) myrights: bool,
    /// The request just answered asked for rights (else for a status).
    pub(super) rights_step: bool,
}

impl ImapSession {
    pub(super) fn list(&mut self, tag: Tag, list: List) {
        // REMOTE selects nothing more here: every mailbox is local (RFC 5258 §3.1).
        let patterns = list
            .patterns
            .iter()
            .map(|p| format!("{}{}", list.reference, p))
            .collect();
        let job = ListJob {
            lsub: false,
            patterns,
            subscribed_only: list.selection.subscribed,
            recursive_match: list.selection.recursive_match,
            special_only: list.selection.special_use,
            returns: list.returns,
        };
        self.request(Pending::List { tag, job }, MailboxRequest::List);
    }

    pub(super) fn select(&mut self, tag: Tag, select: Select, access: Access) {
        self.notify_reselected();
        if let Some(q) = &select.qresync {
            if !self.qresync_allowed(&tag, q) {
                return;
            }
        }
        self.condstore |= select.condstore;
        if self.selected.take().is_some() && (self.imap4rev2_enabled || self.qresync) {
            // RFC 9051 §7.1, RFC 7162 §3.2.11: the previous mailbox is closed (without
            // expunge).
            self.send(Response::untagged(
                Status::Ok,
                Some(Code::Closed),
                "Previous mailbox closed",
            ));
        }
        let name = store_name(&select.mailbox);
        // RFC 3501 §6.3.1, §6.3.2: SELECT takes the `\Recent` messages, EXAMINE only sees
        // them. An IMAP4rev2 session cannot show `\Recent` (RFC 9051 §1.2 removed it), so
        // it leaves them to the IMAP4rev1 clients that can.
        let recent = match access {
            Access::ReadWrite if self.rev1() => Recent::Claim,
            Access::ReadWrite | Access::ReadOnly => Recent::Peek,
        };
        self.request(
            Pending::Select {
                tag,
                name: name.clone(),
                access,
                qresync: select.qresync,
            },
            MailboxRequest::Select {
                mailbox: name,
                recent,
            },
        );
    }

    pub(super) fn next_append(&mut self, mut job: AppendJob, uid_validity: Option<u32>) {
        if let (true, Some(old), Some(v), Some(selected)) = (
            job.messages.is_empty(),
            job.replaces,
            uid_validity,
            self.selected.as_ref().map(|view| view.name.clone()),
        ) {
            // RFC 8508 §3.2: the new message's APPENDUID untagged, then the old one expunged.
            self.send(Response::untagged(
                Status::Ok,
                Some(Code::AppendUid(v, number_set(&job.uids))),
                "Replacement Message ID",
            ));
            let request = MailboxRequest::Discard {
                mailbox: selected,
                uids: vec![old],
            };
            self.request(Pending::ReplaceExpunge { tag: job.tag }, request);
            return;
        }
        let Some(message) = job.messages.pop_front() else {
            let code = uid_validity.map(|v| {
                let mut uids = job.uids.clone();
                uids.sort_unstable();
                Code::AppendUid(v, number_set(&uids))
            });
            self.finish(
                job.tag,
                Status::Ok,
                code,
                "APPEND completed",
                Expunges::Report,
            );
            return;
        };
        let mut message = message;
        let message_body = match std::mem::replace(&mut message.data, MessageData::Streamed(0)) {
            MessageData::Text(data) | MessageData::Utf8(data) => AppendBody::Bytes(data),
            MessageData::Binary(data) => AppendBody::Binary(data),
            MessageData::Streamed(_) => {
                // The driver holds the streams in command order and takes the oldest.
                self.streamed = self.streamed.saturating_sub(1);
                AppendBody::Streamed
            }
            MessageData::Catenate(parts) => {
                // RFC 4469: put together first, appended when whole.
                self.start_catenate(job, message, parts);
                return;
            }
        };
        self.append_body(job, message_body, &message);
    }

    /// Append one message of `job` (its body ready; flags and date from `message`).
    pub(super) fn append_body(
        &mut self,
        job: AppendJob,
        message_body: AppendBody,
        message: &crate::imap::command::AppendMessage,
    ) {
        let internal_date = message.date.as_ref().map(unix_time);
        let request = MailboxRequest::Append {
            mailbox: job.mailbox.clone(),
            message: message_body,
            flags: store_flags(&message.flags),
            internal_date,
        };
        self.request(Pending::Append(job), request);
    }

    pub(super) fn append_failed(&mut self, tag: Tag, error: MailboxError) {
        self.finish_append_failed(tag, error);
        // Streamed messages after the one that failed were never appended.
        self.drop_streams();
    }

    fn finish_append_failed(&mut self, tag: Tag, error: MailboxError) {
        match error {
            MailboxError::NoSuchMailbox => self.finish(
                tag,
                Status::No,
                Some(Code::TryCreate),
                "No such mailbox",
                Expunges::Report,
            ),
            other => self.failed(tag, other, Expunges::Report),
        }
    }

    pub(super) fn listed(
        &mut self,
        tag: Tag,
        job: ListJob,
        all: &[MailboxInfo],
        subscriptions: &[String],
    ) {
        let verb = if job.lsub { "LSUB" } else { "LIST" };
        if job.patterns.iter().all(String::is_empty) && !job.lsub {
            // RFC 9051 §6.3.9: the hierarchy delimiter and root.
            self.out
                .extend_from_slice(b"* LIST (\\Noselect) \"/\" \"\"\r\n");
            self.ok(tag, "LIST completed");
            return;
        }
        // Every existing name, missing parents of nested names, and subscribed names of
        // mailboxes that do not exist (RFC 5258 §3: `\NonExistent`).
        let mut names: Vec<(String, Option<&MailboxInfo>)> =
            all.iter().map(|m| (m.name.clone(), Some(m))).collect();
        let known: Vec<String> = all.iter().map(|m| m.name.clone()).collect();
        for name in known.iter().chain(subscriptions) {
            let mut prefix = name.as_str();
            while let Some((parent, _)) = prefix.rsplit_once('/') {
                if !names.iter().any(|(n, _)| n == parent) {
                    names.push((parent.to_string(), None));
                }
                prefix = parent;
            }
        }
        for name in subscriptions {
            if !names.iter().any(|(n, _)| n == name) {
                names.push((name.clone(), None));
            }
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let is_subscribed = |name: &str| subscriptions.iter().any(|s| s == name);
        let mut status_names = VecDeque::new();
        for (name, info) in &names {
            if !job
                .patterns
                .iter()
                .any(|p| !p.is_empty() && list_matches(p, name))
            {
                continue;
            }
            let subscribed = is_subscribed(name);
            let under = format!("{name}/");
            // RFC 5258 §3.5: RECURSIVEMATCH reports a parent of subscribed mailboxes.
            let subscribed_child = job.recursive_match
                && !subscribed
                && subscriptions.iter().any(|s| s.starts_with(&under));
            // RFC 3501 §6.3.9: LSUB with `%` names an unsubscribed parent of subscribed
            // mailboxes the pattern does not reach, with \Noselect, so the client knows to
            // look below it.
            let lsub_parent = job.lsub
                && !subscribed
                && subscriptions.iter().any(|s| {
                    s.starts_with(&under)
                        && !job
                            .patterns
                            .iter()
                            .any(|p| !p.is_empty() && list_matches(p, s))
                });
            if job.subscribed_only && !subscribed && !subscribed_child && !lsub_parent {
                continue;
            }
            if job.special_only && info.and_then(|i| i.special).is_none() {
                continue;
            }
            let synthetic = info.is_none() && !subscribed;
            if synthetic && job.subscribed_only && !subscribed_child && !lsub_parent {
                continue;
            }
            let children = all.iter().any(|m| m.name.starts_with(&under));
            let mut attrs: Vec<&str> = Vec::new();
            if lsub_parent {
                attrs.push("\\Noselect");
            } else if info.is_none() {
                attrs.push(if job.lsub || synthetic {
                    "\\Noselect"
                } else {
                    "\\NonExistent"
                });
            }
            if !job.lsub {
                attrs.push(if children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                });
                if let Some(special) = info.and_then(|i| i.special) {
                    attrs.push(special.attribute());
                }
                if subscribed && (job.returns.subscribed || job.subscribed_only) {
                    attrs.push("\\Subscribed");
                }
            }
            self.out
                .extend_from_slice(format!("* {verb} ({}) \"/\" ", attrs.join(" ")).as_bytes());
            self.put_name(name);
            if subscribed_child && !job.lsub {
                self.out
                    .extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            self.out.extend_from_slice(b"\r\n");
            if info.is_some() {
                status_names.push_back(name.clone());
            }
        }
        if (job.returns.status.is_some() || job.returns.myrights) && !status_names.is_empty() {
            // Queue the statuses and rights; the first request goes out now.
            status_names.push_front(String::new());
            let step = ListStep {
                items: job.returns.status,
                myrights: job.returns.myrights,
                rights_step: true,
            };
            self.next_list_status(tag, step, status_names);
        } else {
            self.ok(
                tag,
                if job.lsub {
                    "LSUB completed"
                } else {
                    "LIST completed"
                },
            );
        }
    }

    /// The next request of a LIST RETURN (STATUS …) / (MYRIGHTS): after the step just
    /// answered (`step.rights_step`: the rights of `names.front()`, else its status).
    pub(super) fn next_list_status(
        &mut self,
        tag: Tag,
        step: ListStep,
        mut names: VecDeque<String>,
    ) {
        let ListStep {
            items,
            myrights,
            rights_step,
        } = step;
        // The status of this mailbox was answered: its rights come next, if asked for.
        if !rights_step && myrights {
            if let Some(mailbox) = names.front().cloned() {
                let pending = Pending::ListStatus {
                    tag,
                    items,
                    myrights,
                    rights_step: true,
                    names,
                };
                self.request(pending, MailboxRequest::MyRights { mailbox });
                return;
            }
        }
        names.pop_front();
        let Some(mailbox) = names.front().cloned() else {
            self.ok(tag, "LIST completed");
            return;
        };
        let request = if items.is_some() {
            MailboxRequest::Status { mailbox }
        } else {
            MailboxRequest::MyRights { mailbox }
        };
        let rights_step = items.is_none();
        self.request(
            Pending::ListStatus {
                tag,
                items,
                myrights,
                rights_step,
                names,
            },
            request,
        );
    }

    pub(super) fn status_line(
        &mut self,
        name: &str,
        items: &[StatusItem],
        s: &crate::mail::MailboxStatus,
    ) {
        self.out.extend_from_slice(b"* STATUS ");
        self.put_name(name);
        let mut parts = Vec::new();
        for item in items {
            parts.push(match item {
                StatusItem::Messages => format!("MESSAGES {}", s.messages),
                StatusItem::UidNext => format!("UIDNEXT {}", s.uid_next.0),
                StatusItem::UidValidity => format!("UIDVALIDITY {}", s.uid_validity.0),
                StatusItem::Unseen => format!("UNSEEN {}", s.unseen),
                StatusItem::Deleted => format!("DELETED {}", s.deleted),
                StatusItem::Size => format!("SIZE {}", s.size),
                StatusItem::Recent => format!("RECENT {}", s.recent),
                StatusItem::HighestModSeq => format!("HIGHESTMODSEQ {}", s.highest_modseq.0),
                StatusItem::DeletedStorage => format!("DELETED-STORAGE {}", s.deleted_size),
                StatusItem::MailboxId => format!(
                    "MAILBOXID ({})",
                    crate::mail::mailbox_object_id(s.uid_validity, s.id)
                ),
                StatusItem::AppendLimit => {
                    format!("APPENDLIMIT {}", self.config.limits.max_message_size)
                }
            });
        }
        self.out
            .extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
    }

    pub(super) fn selected_reply(
        &mut self,
        tag: Tag,
        name: String,
        access: Access,
        mut snapshot: crate::mailbox::Snapshot,
        qresync: Option<QResync>,
    ) {
        if !self.rev1() {
            snapshot.recent = None;
        }
        let first_unseen = snapshot.first_unseen;
        // RFC 4314 §5.2: another account's mailbox opens read-only unless the user may change
        // something in it.
        let opened = match snapshot.rights {
            Some(r) if !r.read_write() => Access::ReadOnly,
            _ => access,
        };
        let mailbox_id = crate::mail::mailbox_object_id(snapshot.uid_validity, snapshot.id);
        let view = View::new(name, opened, snapshot);
        let mut out = Vec::new();
        view.write_flags(&mut out);
        out.extend_from_slice(format!("* {} EXISTS\r\n", view.count()).as_bytes());
        if self.rev1() {
            out.extend_from_slice(format!("* {} RECENT\r\n", view.recent_count()).as_bytes());
            // A sequence number: not under UIDONLY (RFC 9586 §3).
            if let Some(n) = first_unseen.filter(|_| !self.uid_only) {
                Response::untagged(Status::Ok, Some(Code::Unseen(n)), "First unseen")
                    .encode(&mut out);
            }
        } else {
            // RFC 9051 §6.3.2: a LIST response with the mailbox's name.
            out.extend_from_slice(b"* LIST () \"/\" ");
            fetch::utf8_string(&mut out, &view.name);
            out.extend_from_slice(b"\r\n");
        }
        view.write_permanent_flags(&mut out);
        Response::untagged(
            Status::Ok,
            Some(Code::UidValidity(view.uid_validity.0)),
            "UIDs valid",
        )
        .encode(&mut out);
        Response::untagged(
            Status::Ok,
            Some(Code::UidNext(view.uid_next.0)),
            "Predicted next UID",
        )
        .encode(&mut out);
        // RFC 7162 §3.1.2.1: every SELECT of a mailbox with persistent modseqs.
        Response::untagged(
            Status::Ok,
            Some(Code::HighestModSeq(view.highest_modseq.0)),
            "Highest",
        )
        .encode(&mut out);
        // RFC 8474 §4.2: the MAILBOXID of the selected mailbox.
        Response::untagged(Status::Ok, Some(Code::MailboxId(mailbox_id)), "Ok").encode(&mut out);
        self.out.extend_from_slice(&out);
        self.selected = Some(view);
        match qresync {
            Some(q) => self.resync(tag, access, q),
            None => self.select_completed(tag, access),
        }
    }

    /// The tagged OK of SELECT or EXAMINE (`access`: which one was asked); READ-ONLY when
    /// the mailbox was opened read-only (EXAMINE, or another account's mailbox where the
    /// user may change nothing, RFC 4314 §5.2).
    pub(super) fn select_completed(&mut self, tag: Tag, access: Access) {
        let text = match access {
            Access::ReadWrite => "SELECT completed",
            Access::ReadOnly => "EXAMINE completed",
        };
        let read_only = self.selected.as_ref().is_some_and(|v| v.read_only());
        let code = if read_only || access == Access::ReadOnly {
            Code::ReadOnly
        } else {
            Code::ReadWrite
        };
        self.send(Response::tagged(tag, Status::Ok, Some(code), text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_wildcards() {
        assert!(list_matches("*", "a/b/c"));
        assert!(list_matches("%", "abc"));
        assert!(!list_matches("%", "a/b"));
        assert!(list_matches("a/%", "a/b"));
        assert!(!list_matches("a/%", "a/b/c"));
        assert!(list_matches("inbox", "INBOX"));
        assert!(list_matches("a*c", "abbbc"));
        assert!(!list_matches("a*c", "abbbd"));
        let hostile = "*a".repeat(2000) + "b";
        assert!(!list_matches(&hostile, &"a".repeat(255)));
    }

    #[test]
    fn number_sets() {
        assert_eq!(number_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(number_set(&[]), "");
    }
}
