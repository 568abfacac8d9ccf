//! NOTIFY (RFC 5465): the command, and what the client hears without asking.
//!
//! The session keeps only what concerns the selected mailbox (which events of the SELECTED
//! or SELECTED-DELAYED group to send at once, and the fetch attributes of MessageNew); what
//! it watches of the other mailboxes goes to the service as a [`NotifySpec`], which turns
//! the account's changes into [`MailboxNotice`]s: STATUS figures, names, subscriptions,
//! annotations. Those are written as they come: the driver hands notices over only while
//! the session waits for input (between commands or during IDLE), and RFC 5465 §5.1 lets
//! them go out at any time.
//!
//! The selected mailbox: with a SELECTED group that asks for message or flag events, the
//! changes are reported as they come, between commands as during IDLE. Expunges too (RFC
//! 5465 §3: SELECTED allows EXPUNGE while no command is in progress); with
//! SELECTED-DELAYED they wait for a command that may report them (RFC 9051 §7.5.1, as
//! without NOTIFY). Without a selected group (or with `NONE`), the selected mailbox is
//! reported as without NOTIFY, and never with STATUS.

use super::super::command::{EventGroup, FetchAttribute, Notify, NotifyEvent, NotifyFilter, Tag};
use super::super::fetch;
use super::super::response::{Code, Response, Status};
use super::commands::{store_name, Addressing, FetchJob, Pending};
use super::context::Then;
use super::view::Expunges;
use super::{ImapSession, Wait};
use crate::mail::{MailboxStatus, Uid};
use crate::mailbox::{
    MailboxFilter, MailboxNotice, MailboxReply, MailboxRequest, NotifyEvents, NotifySpec,
};

/// The events ringpost reports (RFC 5465 §3's BADEVENT list). AnnotationChange is not
/// among them: ringpost keeps no per-message annotations (RFC 5257 ANNOTATE), only
/// METADATA's mailbox and server entries.
const SUPPORTED: &str = "MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange \
                         MailboxMetadataChange ServerMetadataChange";

/// What NOTIFY asked of the selected mailbox, while it is set.
#[derive(Debug, Clone, Default)]
pub(super) struct Notifying {
    /// SELECTED-DELAYED: expunges wait for a command that may report them.
    delayed: bool,
    /// MessageNew and MessageExpunge of the selected mailbox are sent at once.
    messages: bool,
    /// FlagChange of the selected mailbox is sent at once.
    flags: bool,
    /// MessageNew's fetch attributes (RFC 5465 §5.2): a FETCH of each new message follows
    /// its EXISTS.
    fetch: Vec<FetchAttribute>,
    /// The largest UID of the selected mailbox the client has had that FETCH for (or knew
    /// when NOTIFY was set or the mailbox selected); `None`: not yet read from the view.
    fetched_through: Option<u32>,
}

impl ImapSession {
    /// `NOTIFY NONE` / `NOTIFY SET` (RFC 5465 §3).
    pub(super) fn notify_command(&mut self, tag: Tag, notify: Notify) {
        let groups = match notify {
            Notify::None => {
                self.notify = None;
                self.request(
                    Pending::Notify { tag, state: None },
                    MailboxRequest::Notify(None),
                );
                return;
            }
            Notify::Set { status, groups } => (status, groups),
        };
        let (initial_status, groups) = groups;
        let unsupported = groups
            .iter()
            .flat_map(|g| g.events.iter().flatten())
            .any(|e| matches!(e, NotifyEvent::AnnotationChange | NotifyEvent::Other(_)));
        if unsupported {
            // RFC 5465 §3: NO [BADEVENT], and the notifications in force stay as they were.
            self.finish(
                tag,
                Status::No,
                Some(Code::BadEvent(SUPPORTED)),
                "Event not supported",
                Expunges::Report,
            );
            return;
        }
        let mut spec = NotifySpec {
            initial_status,
            ..NotifySpec::default()
        };
        let mut state = Notifying::default();
        for EventGroup { filter, events } in &groups {
            let kinds = events_of(events.as_deref());
            let mailboxes = |list: &Vec<crate::imap::command::Mailbox>| {
                list.iter().map(store_name).collect::<Vec<_>>()
            };
            let filter = match filter {
                NotifyFilter::Selected | NotifyFilter::SelectedDelayed => {
                    spec.selected = Some(kinds);
                    state.delayed = matches!(filter, NotifyFilter::SelectedDelayed);
                    state.messages = kinds.messages;
                    state.flags = kinds.flags;
                    state.fetch = events
                        .iter()
                        .flatten()
                        .find_map(|e| match e {
                            NotifyEvent::MessageNew(attrs) => Some(attrs.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    continue;
                }
                NotifyFilter::Inboxes => MailboxFilter::Inboxes,
                NotifyFilter::Personal => MailboxFilter::Personal,
                NotifyFilter::Subscribed => MailboxFilter::Subscribed,
                NotifyFilter::Subtree(list) => MailboxFilter::Subtree(mailboxes(list)),
                NotifyFilter::Mailboxes(list) => MailboxFilter::Mailboxes(mailboxes(list)),
            };
            spec.groups.push((filter, kinds));
        }
        if state.fetch.contains(&FetchAttribute::ModSeq) {
            self.enable_condstore();
        }
        self.request(
            Pending::Notify {
                tag,
                state: Some(Box::new(state)),
            },
            MailboxRequest::Notify(Some(spec)),
        );
    }

    /// The service's answer to NOTIFY: the initial STATUS responses, then the tagged OK.
    pub(super) fn notify_reply(
        &mut self,
        tag: Tag,
        state: Option<Box<Notifying>>,
        reply: MailboxReply,
    ) {
        match reply {
            MailboxReply::Notifying {
                statuses,
                unwatched,
            } => {
                for (name, status) in &statuses {
                    self.notify_status(name, status);
                }
                if unwatched > 0 {
                    // NOTIFY still holds for everything else: a warning, not a refusal
                    // (RFC 5530 LIMIT).
                    self.send(Response::untagged(
                        Status::No,
                        Some(Code::Limit),
                        "Too many owners: some other users' shared mailboxes are not watched",
                    ));
                }
                self.notify = state;
                self.ok(tag, "NOTIFY completed");
            }
            MailboxReply::Failed(e) => {
                self.notify = None;
                self.failed(tag, e, Expunges::Report);
            }
            other => {
                tracing::error!(?other, "mismatched mailbox reply");
                self.notify = None;
                self.failed(
                    tag,
                    crate::mailbox::MailboxError::Unavailable(String::new()),
                    Expunges::Report,
                );
            }
        }
    }

    /// A notice from the service: the selected mailbox's change, or what NOTIFY watches.
    pub(super) fn handle_notify_notice(&mut self, notice: MailboxNotice) {
        let notice = match notice {
            MailboxNotice::Selected(change) => {
                let wanted = self.notify.as_ref().is_some_and(|n| match &change {
                    crate::mail::Change::Exists { .. } | crate::mail::Change::Expunged { .. } => {
                        n.messages
                    }
                    crate::mail::Change::Flags { .. } => n.flags,
                    _ => false,
                });
                // During IDLE this tells the client at once.
                self.handle_mailbox_change(change);
                match self.wait {
                    Wait::Nothing if wanted => self.notify_selected(),
                    Wait::Idle(_) => self.notify_fetch(),
                    _ => {}
                }
                return;
            }
            // What came after NOTIFY NONE (or an overflow) is not told.
            _ if self.notify.is_none() => return,
            other => other,
        };
        match notice {
            MailboxNotice::Status { name, status } => {
                // The selected mailbox is never reported with STATUS (RFC 9051 §6.3.11).
                if self.selected.as_ref().is_some_and(|v| v.name == name) {
                    return;
                }
                self.notify_status(&name, &status);
            }
            MailboxNotice::Name { name, old, deleted } => {
                let attributes = if deleted { "\\NonExistent" } else { "" };
                self.list_line(attributes, &name);
                if let Some(old) = old {
                    // RFC 5465 §5.4, RFC 5258 §3.1: the old name as LIST extended data.
                    self.out.truncate(self.out.len() - 2);
                    self.out.extend_from_slice(b" (\"OLDNAME\" (");
                    self.put_name(&old);
                    self.out.extend_from_slice(b"))\r\n");
                }
            }
            MailboxNotice::Subscription { name, subscribed } => {
                let attributes = if subscribed { "\\Subscribed" } else { "" };
                self.list_line(attributes, &name);
            }
            MailboxNotice::Metadata { mailbox, entry } => {
                // RFC 5464 §4.4.2: the unsolicited form names the entries only.
                self.out.extend_from_slice(b"* METADATA ");
                match mailbox {
                    Some(name) => self.put_name(&name),
                    None => self.out.extend_from_slice(b"\"\""),
                }
                self.out.push(b' ');
                fetch::string(&mut self.out, entry.as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
            MailboxNotice::Overflow => {
                // RFC 5465 §5.8: as if NOTIFY NONE had been received.
                self.notify = None;
                self.send(Response::untagged(
                    Status::Ok,
                    Some(Code::NotificationOverflow),
                    "Too many changes at once: NOTIFY is off, set it again",
                ));
            }
            MailboxNotice::Selected(_) => {}
        }
    }

    /// `* LIST (attributes) "/" name`.
    fn list_line(&mut self, attributes: &str, name: &str) {
        self.out
            .extend_from_slice(format!("* LIST ({attributes}) \"/\" ").as_bytes());
        self.put_name(name);
        self.out.extend_from_slice(b"\r\n");
    }

    /// `* STATUS name (MESSAGES UIDNEXT UIDVALIDITY UNSEEN [HIGHESTMODSEQ])` (RFC 5465
    /// §5.2-§5.4: one set of figures whatever changed, HIGHESTMODSEQ once CONDSTORE is on).
    fn notify_status(&mut self, name: &str, s: &MailboxStatus) {
        self.out.extend_from_slice(b"* STATUS ");
        self.put_name(name);
        self.out.extend_from_slice(
            format!(
                " (MESSAGES {} UIDNEXT {} UIDVALIDITY {} UNSEEN {}",
                s.messages, s.uid_next.0, s.uid_validity.0, s.unseen
            )
            .as_bytes(),
        );
        if self.condstore {
            self.out
                .extend_from_slice(format!(" HIGHESTMODSEQ {}", s.highest_modseq.0).as_bytes());
        }
        self.out.extend_from_slice(b")\r\n");
    }

    /// Between commands, with a SELECTED group: tell the client of the selected mailbox's
    /// changes now (expunges held back for SELECTED-DELAYED), and what they change in the
    /// search contexts.
    fn notify_selected(&mut self) {
        let Some(n) = self.notify.as_ref() else {
            return;
        };
        let expunges = if n.delayed {
            Expunges::HoldBack
        } else {
            Expunges::Report
        };
        self.flush_changes(expunges);
        self.recheck_contexts(Then::Resume);
        if matches!(self.wait, Wait::Nothing) {
            self.notify_fetch();
        }
    }

    /// MessageNew's fetch attributes: a FETCH of the selected mailbox's messages the client
    /// has heard of (EXISTS) and not had it for, while the session waits for input (between
    /// commands or during IDLE). Notifications change nothing: attributes that would set
    /// `\Seen` are answered as their PEEK forms.
    pub(super) fn notify_fetch(&mut self) {
        let after = match &self.wait {
            Wait::Nothing => Then::Resume,
            Wait::Idle(tag) => Then::Idle(tag.clone()),
            _ => return,
        };
        let (Some(n), Some(view)) = (self.notify.as_mut(), self.selected.as_ref()) else {
            return;
        };
        let largest = view.largest_uid();
        let Some(through) = n.fetched_through else {
            n.fetched_through = Some(largest);
            return;
        };
        if n.fetch.is_empty() || largest <= through {
            n.fetched_through = Some(largest.max(through));
            return;
        }
        n.fetched_through = Some(largest);
        let uids: Vec<Uid> = view
            .ranges_between(Uid(through.saturating_add(1)), Uid(largest))
            .flat_map(|(a, b)| (a.0..=b.0).map(Uid))
            .collect();
        let attrs = n.fetch.clone();
        // Never sent: the FETCH responses are unsolicited, and no tagged reply follows.
        let Some(tag) = Tag::parse(b"NOTIFY") else {
            return;
        };
        let job = FetchJob {
            tag,
            addressing: Addressing::Uid,
            content: fetch::content(&attrs),
            remaining: uids.into_iter().collect(),
            attrs,
            seen_now: Vec::new(),
            changed_since: None,
            unknown_encoding: false,
            after: Some(after),
        };
        self.next_fetch(job);
    }

    /// SELECT, EXAMINE, UNSELECT: MessageNew's FETCH counts from the new view.
    pub(super) fn notify_reselected(&mut self) {
        if let Some(n) = self.notify.as_mut() {
            n.fetched_through = None;
        }
    }
}

/// The reportable events of a group (`None`: its `NONE`).
fn events_of(events: Option<&[NotifyEvent]>) -> NotifyEvents {
    let mut kinds = NotifyEvents::default();
    for e in events.unwrap_or_default() {
        match e {
            NotifyEvent::MessageNew(_) | NotifyEvent::MessageExpunge => kinds.messages = true,
            NotifyEvent::FlagChange => kinds.flags = true,
            NotifyEvent::MailboxName => kinds.names = true,
            NotifyEvent::SubscriptionChange => kinds.subscriptions = true,
            NotifyEvent::MailboxMetadataChange => kinds.mailbox_metadata = true,
            NotifyEvent::ServerMetadataChange => kinds.server_metadata = true,
            NotifyEvent::AnnotationChange | NotifyEvent::Other(_) => {}
        }
    }
    kinds
}
