//! The authenticated- and selected-state commands (RFC 9051 §6.3, §6.4): each becomes one or
//! more typed [`MailboxRequest`]s, and the replies become responses. A command that needs
//! the store parks its state in a [`Pending`] until the driver answers; FETCH and SEARCH ask
//! for messages in batches, so memory stays bounded whatever the mailbox size.

use std::collections::VecDeque;

use super::super::command::{
    self as cmd, AppendMessage, Command, FetchAttribute, Flag, ListReturn, Mailbox, Search,
    StatusItem, StoreReply, Tag,
};
use super::super::fetch;
use super::super::mutf7;
use super::super::response::{Code, Response, Status};
use super::messages::requeue;
use super::qresync::ResyncJob;
use super::search::{self};
use super::sort::Order;
use super::view::{Access, Dialect, Expunges};
use super::{ImapSession, Wait};
use crate::mail::{Flags, SystemFlags, Uid};
use crate::mailbox::{Content, MailboxError, MailboxReply, MailboxRequest, Transfer};

/// Whether a command addresses messages by sequence number or by UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Addressing {
    Sequence,
    Uid,
}

impl Addressing {
    /// RFC 9051 §7.5.1: no EXPUNGE while FETCH, STORE or SEARCH without UID runs.
    pub(super) fn expunges(self) -> Expunges {
        match self {
            Addressing::Sequence => Expunges::HoldBack,
            Addressing::Uid => Expunges::Report,
        }
    }
}

/// A command waiting for the driver's answer.
#[derive(Debug)]
pub(super) enum Pending {
    List {
        tag: Tag,
        job: ListJob,
    },
    /// A LIST RETURN (STATUS …) or (MYRIGHTS) asking for one status (RFC 5819) or set of
    /// rights (RFC 8440) after another: `names.front()` is the mailbox asked about, for its
    /// rights once `rights_step`.
    ListStatus {
        tag: Tag,
        items: Option<Vec<StatusItem>>,
        myrights: bool,
        rights_step: bool,
        names: VecDeque<String>,
    },
    Status {
        tag: Tag,
        name: String,
        items: Vec<StatusItem>,
    },
    /// CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE.
    Simple {
        tag: Tag,
        done: &'static str,
    },
    Select {
        tag: Tag,
        name: String,
        access: Access,
        /// The QRESYNC parameter (RFC 7162 §3.2.5), once QRESYNC is enabled.
        qresync: Option<cmd::QResync>,
    },
    /// A QRESYNC SELECT asking what vanished since the client's modseq.
    Resync(ResyncJob),
    /// A QRESYNC SELECT asking which messages changed since the client's modseq.
    ResyncFlags(ResyncJob),
    /// UNSELECT, and CLOSE's last step.
    Unselect {
        tag: Tag,
        done: &'static str,
    },
    /// CLOSE on a read-write mailbox: the silent expunge, then UNSELECT.
    CloseExpunge {
        tag: Tag,
    },
    Append(AppendJob),
    /// A large APPEND literal is to be streamed: the driver prepares the store for it. A
    /// synchronizing literal gets its `+` only once that is done.
    StreamBegin {
        tag: Tag,
        sync: bool,
    },
    /// The driver took the next bytes of the streamed literal.
    StreamData,
    /// The streams of a command that failed were dropped.
    StreamsDropped,
    /// A MULTIAPPEND failed part way: the messages it appended are being removed.
    AppendUndo {
        tag: Tag,
        error: MailboxError,
    },
    Fetch(FetchJob),
    /// UID FETCH … (CHANGEDSINCE m VANISHED) asking what vanished first (RFC 7162 §3.2.6).
    FetchVanished(FetchJob),
    Store {
        tag: Tag,
        addressing: Addressing,
        reply: StoreReply,
    },
    Transfer {
        tag: Tag,
        transfer: Transfer,
    },
    Expunge {
        tag: Tag,
    },
    Search(SearchJob),
    /// A SEARCH with BODY / TEXT keys asked the full-text index which messages to read.
    TextSearch(SearchJob),
    /// REPLACE stored the new message: the old one is being expunged.
    ReplaceExpunge {
        tag: Tag,
    },
    /// CATENATE (RFC 4469): the answer for one URL of a message being put together
    /// (`checked`: its UIDVALIDITY is known to match, the message itself is asked for).
    Catenate {
        job: Box<super::catenate::CatenateJob>,
        url: Box<crate::imap::command::ImapUrl>,
        checked: bool,
    },
    /// A CATENATE failed after earlier messages of its MULTIAPPEND were appended: they are
    /// being removed.
    CatenateUndo {
        tag: Tag,
        error: super::catenate::CatenateError,
    },
    /// GETQUOTA (no mailbox) or GETQUOTAROOT.
    Quota {
        tag: Tag,
        mailbox: Option<String>,
    },
    /// GETMETADATA: what was asked, and the mailbox's name as the client gave it.
    Metadata {
        tag: Tag,
        name: String,
        get: crate::imap::command::GetMetadata,
    },
    /// Search contexts evaluating changed messages again (RFC 5267 §4.3).
    Recheck(super::context::RecheckJob),
    /// NOTIFY SET or NONE: what it asks of the selected mailbox, once the service agrees.
    Notify {
        tag: Tag,
        state: Option<Box<super::notify::Notifying>>,
    },
    /// SETACL, DELETEACL, GETACL, LISTRIGHTS, MYRIGHTS (RFC 4314) on the mailbox `name`.
    Acl {
        tag: Tag,
        name: String,
        job: super::acl::AclJob,
    },
}

#[derive(Debug)]
pub(super) struct ListJob {
    pub(super) lsub: bool,
    pub(super) patterns: Vec<String>,
    pub(super) subscribed_only: bool,
    pub(super) recursive_match: bool,
    pub(super) special_only: bool,
    pub(super) returns: ListReturn,
}

#[derive(Debug)]
pub(super) struct AppendJob {
    pub(super) tag: Tag,
    pub(super) mailbox: String,
    pub(super) messages: VecDeque<AppendMessage>,
    pub(super) uids: Vec<u32>,
    /// REPLACE (RFC 8508): the selected mailbox's message the new one replaces, expunged
    /// once the new one is stored.
    pub(super) replaces: Option<Uid>,
}

#[derive(Debug)]
pub(super) struct FetchJob {
    pub(super) tag: Tag,
    pub(super) addressing: Addressing,
    pub(super) attrs: Vec<FetchAttribute>,
    pub(super) content: Content,
    pub(super) remaining: VecDeque<Uid>,
    /// Messages whose `\Seen` this FETCH set (sorted): their FLAGS are included.
    pub(super) seen_now: Vec<Uid>,
    /// CHANGEDSINCE (RFC 7162 §3.1.4.1): only messages with a greater modseq.
    pub(super) changed_since: Option<u64>,
    /// A BINARY item met a part it cannot decode (`NO [UNKNOWN-CTE]`).
    pub(super) unknown_encoding: bool,
    /// A FETCH of NOTIFY's MessageNew (RFC 5465 §5.2), no command's: no tagged reply, the
    /// session goes back to what it was waiting for.
    pub(super) after: Option<super::context::Then>,
}

#[derive(Debug)]
pub(super) struct SearchJob {
    pub(super) tag: Tag,
    pub(super) addressing: Addressing,
    pub(super) search: Search,
    pub(super) content: Content,
    pub(super) remaining: VecDeque<Uid>,
    pub(super) matched: Vec<Uid>,
    /// SORT and THREAD: what to compute besides matching, and the compact record of each
    /// match it needs (RFC 5256).
    pub(super) order: super::sort::Order,
    pub(super) records: Vec<super::sort::Record>,
    /// The modseq of each matched message, when the store said (RFC 7162 §3.1.5: the
    /// answer names the highest of those it returns).
    pub(super) modseqs: Vec<(Uid, u64)>,
    /// The messages to look at in all, and the twentieths of them looked at and reported
    /// (INPROGRESS, RFC 9585).
    pub(super) total: usize,
    pub(super) reported: usize,
    /// The full-text index answered the BODY / TEXT keys exactly: every message left
    /// matches them, and only the other keys are evaluated.
    pub(super) text_known: bool,
    /// A SORT or THREAD that asks the store for its ordering keys (the criteria need only
    /// the index), not for envelopes or header blocks.
    pub(super) keyed: bool,
}

/// The store's name of a mailbox argument.
pub(super) fn store_name(m: &Mailbox) -> String {
    match m {
        Mailbox::Inbox => "INBOX".to_string(),
        // RFC 9051 §6.3.4: a trailing hierarchy delimiter is not part of the name.
        Mailbox::Other(n) => n.as_str().trim_end_matches('/').to_string(),
    }
}

pub(super) fn store_flags(flags: &[Flag]) -> Flags {
    let mut system = SystemFlags::NONE;
    let mut keywords = Vec::new();
    for f in flags {
        match f {
            Flag::Seen => system = system.union(SystemFlags::SEEN),
            Flag::Answered => system = system.union(SystemFlags::ANSWERED),
            Flag::Flagged => system = system.union(SystemFlags::FLAGGED),
            Flag::Deleted => system = system.union(SystemFlags::DELETED),
            Flag::Draft => system = system.union(SystemFlags::DRAFT),
            // \Recent is the server's (RFC 3501 §2.3.2); unknown system flags cannot be set.
            Flag::Recent | Flag::Extension(_) => {}
            Flag::Keyword(k) => keywords.push(k.clone()),
        }
    }
    Flags::new(system, keywords)
}

/// Unix seconds of an IMAP date-time.
pub(super) fn unix_time(d: &cmd::DateTime) -> i64 {
    let day = search::days(
        i64::from(d.date.year()),
        u32::from(d.date.month()),
        u32::from(d.date.day()),
    );
    day * 86_400 + i64::from(d.hour) * 3600 + i64::from(d.minute) * 60 + i64::from(d.second)
        - i64::from(d.offset_minutes) * 60
}

/// A sorted list of numbers as a sequence set (`1:3,7`).
pub(super) fn number_set(numbers: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < numbers.len() {
        let start = numbers[i];
        let mut end = start;
        while i + 1 < numbers.len() && numbers[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = numbers[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

impl ImapSession {
    pub(super) fn request(&mut self, pending: Pending, request: MailboxRequest) {
        self.wait = Wait::Mailbox(pending);
        self.events
            .push_back(crate::session::Event::Request(request));
    }

    pub(super) fn rev1(&self) -> bool {
        !self.imap4rev2_enabled
    }

    pub(super) fn dialect(&self) -> Dialect {
        Dialect {
            rev1: self.rev1(),
            condstore: self.condstore,
            qresync: self.qresync,
            uid_only: self.uid_only,
        }
    }

    /// Tell the client about queued changes if it may hear them now.
    pub(super) fn flush_changes(&mut self, expunges: Expunges) {
        let dialect = self.dialect();
        if let Some(view) = self.selected.as_mut() {
            view.flush(&mut self.out, expunges, dialect);
        }
    }

    /// End a command: pending changes (where allowed), then the tagged reply.
    /// The end of a command: the changes the client may hear now, the search contexts'
    /// updates they cause (RFC 5267 §4.3), then the tagged reply.
    pub(super) fn finish(
        &mut self,
        tag: Tag,
        status: Status,
        code: Option<Code>,
        text: &'static str,
        expunges: Expunges,
    ) {
        self.flush_changes(expunges);
        let reply = Response::tagged(tag, status, code, text);
        self.recheck_contexts(super::context::Then::Reply(reply));
    }

    pub(super) fn ok(&mut self, tag: Tag, text: &'static str) {
        self.finish(tag, Status::Ok, None, text, Expunges::Report);
    }

    pub(super) fn failed(&mut self, tag: Tag, e: MailboxError, expunges: Expunges) {
        let (code, text) = match e {
            MailboxError::NoSuchMailbox => (Code::NonExistent, "No such mailbox"),
            MailboxError::MailboxExists => (Code::AlreadyExists, "Mailbox already exists"),
            MailboxError::InvalidName => (Code::Cannot, "Invalid mailbox name"),
            MailboxError::InboxIsPermanent => (Code::Cannot, "INBOX cannot be changed that way"),
            MailboxError::TooLarge => (Code::TooBig, "Message too large"),
            MailboxError::OverQuota => (Code::OverQuota, "Quota exceeded"),
            MailboxError::MetadataTooMany => (Code::MetadataTooMany, "Too many annotations"),
            MailboxError::MetadataMaxSize(n) => (Code::MetadataMaxSize(n), "Value too long"),
            MailboxError::NoPermission => (Code::NoPerm, "Permission denied"),
            MailboxError::AclTooMany => (Code::Limit, "Too many access control entries"),
            MailboxError::AclRefused(why) => (Code::Cannot, why),
            MailboxError::Unavailable(_) => (
                Code::Unavailable,
                "Temporary server failure, try again later",
            ),
        };
        self.finish(tag, Status::No, Some(code), text, expunges);
    }

    /// A mailbox name as this client reads it: UTF-8 after ENABLE IMAP4rev2, else modified
    /// UTF-7 (RFC 3501 §5.1.3).
    pub(super) fn put_name(&mut self, name: &str) {
        if self.imap4rev2_enabled || self.utf8_accept {
            fetch::utf8_string(&mut self.out, name);
        } else {
            fetch::string(&mut self.out, mutf7::encode(name).as_bytes());
        }
    }

    /// Run an authenticated- or selected-state command (the state was checked).
    pub(super) fn execute_mailbox(&mut self, tag: Tag, command: Command) {
        match command {
            Command::Noop | Command::Check => {
                let text = if matches!(command, Command::Noop) {
                    "NOOP completed"
                } else {
                    "CHECK completed"
                };
                self.ok(tag, text);
            }
            Command::Namespace => {
                // RFC 2342: the user's own mailboxes, and the other users' mailboxes shared with
                // them (RFC 4314) as `Shared/<owner>/<mailbox>`; no public namespace.
                self.out
                    .extend_from_slice(b"* NAMESPACE ((\"\" \"/\")) ((\"Shared/\" \"/\")) NIL\r\n");
                self.ok(tag, "NAMESPACE completed");
            }
            Command::Create(c) => self.create(tag, c),
            Command::Delete(m) => self.request(
                Pending::Simple {
                    tag,
                    done: "DELETE completed",
                },
                MailboxRequest::Delete {
                    mailbox: store_name(&m),
                },
            ),
            Command::Rename { from, to } => self.request(
                Pending::Simple {
                    tag,
                    done: "RENAME completed",
                },
                MailboxRequest::Rename {
                    from: store_name(&from),
                    to: store_name(&to),
                },
            ),
            Command::Subscribe(m) => self.request(
                Pending::Simple {
                    tag,
                    done: "SUBSCRIBE completed",
                },
                MailboxRequest::Subscribe {
                    mailbox: store_name(&m),
                },
            ),
            Command::Unsubscribe(m) => self.request(
                Pending::Simple {
                    tag,
                    done: "UNSUBSCRIBE completed",
                },
                MailboxRequest::Unsubscribe {
                    mailbox: store_name(&m),
                },
            ),
            Command::List(list) => self.list(tag, list),
            Command::Lsub(lsub) => {
                let job = ListJob {
                    lsub: true,
                    patterns: vec![format!("{}{}", lsub.reference, lsub.pattern)],
                    subscribed_only: true,
                    recursive_match: false,
                    special_only: false,
                    returns: ListReturn::default(),
                };
                self.request(Pending::List { tag, job }, MailboxRequest::List);
            }
            Command::Status(s) => {
                let name = store_name(&s.mailbox);
                self.request(
                    Pending::Status {
                        tag,
                        name: name.clone(),
                        items: s.items,
                    },
                    MailboxRequest::Status { mailbox: name },
                );
            }
            Command::Select(s) => self.select(tag, s, Access::ReadWrite),
            Command::Examine(s) => self.select(tag, s, Access::ReadOnly),
            Command::Append(a) => self.append(tag, a),
            Command::Idle => {
                self.send(Response::Continue("idling"));
                self.wait = Wait::Idle(tag);
                self.idle_changes();
            }
            Command::CancelUpdate(tags) => self.cancel_update(tag, &tags),
            Command::Notify(n) => self.notify_command(tag, n),
            Command::Unselect | Command::Close => self.unselect(tag, &command),
            Command::Unauthenticate => self.unauthenticate(tag),
            Command::Expunge => self.expunge(tag, None),
            Command::UidExpunge(set) => self.expunge(tag, Some(set)),
            Command::Fetch(f) => self.fetch(tag, Addressing::Sequence, f.set, f.items, f.modifiers),
            Command::UidFetch(f) => self.fetch(tag, Addressing::Uid, f.set, f.items, f.modifiers),
            Command::Store(s) => self.store(tag, Addressing::Sequence, s),
            Command::UidStore(s) => self.store(tag, Addressing::Uid, s),
            Command::Copy(t) => self.transfer(tag, Addressing::Sequence, t, Transfer::Copy),
            Command::UidCopy(t) => self.transfer(tag, Addressing::Uid, t, Transfer::Copy),
            Command::Move(t) => self.transfer(tag, Addressing::Sequence, t, Transfer::Move),
            Command::UidMove(t) => self.transfer(tag, Addressing::Uid, t, Transfer::Move),
            Command::Replace(r) => self.replace(tag, Addressing::Sequence, r),
            Command::UidReplace(r) => self.replace(tag, Addressing::Uid, r),
            Command::GetQuota(root) => {
                if root.is_empty() {
                    self.request(
                        Pending::Quota { tag, mailbox: None },
                        MailboxRequest::Quota { mailbox: None },
                    );
                } else {
                    // One quota root per account, `""` (RFC 9208 §4.1.1).
                    self.finish(
                        tag,
                        Status::No,
                        Some(Code::NonExistent),
                        "No such quota root",
                        Expunges::Report,
                    );
                }
            }
            Command::GetQuotaRoot(m) => {
                let name = store_name(&m);
                self.request(
                    Pending::Quota {
                        tag,
                        mailbox: Some(name.clone()),
                    },
                    MailboxRequest::Quota {
                        mailbox: Some(name),
                    },
                );
            }
            // Limits are the administrator's (`ringpost user quota`): QUOTASET is not
            // advertised (RFC 9208 §4.1.3).
            Command::SetQuota { .. } => self.finish(
                tag,
                Status::No,
                Some(Code::NoPerm),
                "Quota limits are set by the administrator",
                Expunges::Report,
            ),
            Command::GetMetadata(g) => self.getmetadata(tag, g),
            Command::SetAcl(s) => self.setacl(tag, s),
            Command::DeleteAcl {
                mailbox,
                identifier,
            } => self.deleteacl(tag, &mailbox, identifier),
            Command::GetAcl(m) => self.getacl(tag, &m),
            Command::ListRights {
                mailbox,
                identifier,
            } => self.listrights(tag, &mailbox, identifier),
            Command::MyRights(m) => self.myrights(tag, &m),
            Command::SetMetadata(s) => self.setmetadata(tag, s),
            Command::Search(s) => self.search(tag, Addressing::Sequence, s, Order::None),
            Command::UidSearch(s) => self.search(tag, Addressing::Uid, s, Order::None),
            Command::Sort(s) => {
                self.search(tag, Addressing::Sequence, s.search, Order::Sort(s.order))
            }
            Command::UidSort(s) => {
                self.search(tag, Addressing::Uid, s.search, Order::Sort(s.order))
            }
            Command::Thread(t) => self.search(
                tag,
                Addressing::Sequence,
                t.search,
                Order::Thread(t.algorithm),
            ),
            Command::UidThread(t) => {
                self.search(tag, Addressing::Uid, t.search, Order::Thread(t.algorithm))
            }
            _ => self.send(Response::tagged(
                tag,
                Status::Bad,
                None,
                "Command not supported",
            )),
        }
    }

    /// CREATE, with CREATE-SPECIAL-USE (RFC 6154 §3): one of the attributes the store keeps
    /// per mailbox; anything else is `NO [USEATTR]`.
    fn create(&mut self, tag: Tag, c: crate::imap::command::Create) {
        // CREATE-SPECIAL-USE (RFC 6154 §3): one of the attributes the store keeps per
        // mailbox; anything else is `NO [USEATTR]`.
        let special = match c.special_use.as_slice() {
            [] => None,
            [one] => match store_special_use(one) {
                Some(s) => Some(s),
                None => {
                    self.finish(
                        tag,
                        Status::No,
                        Some(Code::UseAttr),
                        "This special-use attribute is not supported",
                        Expunges::Report,
                    );
                    return;
                }
            },
            _ => {
                self.finish(
                    tag,
                    Status::No,
                    Some(Code::UseAttr),
                    "A mailbox takes one special-use attribute",
                    Expunges::Report,
                );
                return;
            }
        };
        let mailbox = store_name(&c.mailbox);
        self.request(
            Pending::Simple {
                tag,
                done: "CREATE completed",
            },
            MailboxRequest::Create { mailbox, special },
        );
    }

    /// APPEND and MULTIAPPEND (RFC 3502): refused whole when one message is over the limit.
    fn append(&mut self, tag: Tag, a: crate::imap::command::Append) {
        let max = self.config.limits.max_message_size as u64;
        if a.messages.iter().any(|m| m.data.len() > max) {
            self.refuse_too_big(tag);
            return;
        }
        let job = AppendJob {
            tag,
            mailbox: store_name(&a.mailbox),
            messages: a.messages.into(),
            uids: Vec::new(),
            replaces: None,
        };
        self.next_append(job, None);
    }

    /// `NO [TOOBIG]` for a message over the size limit (RFC 7889: APPENDLIMIT).
    fn refuse_too_big(&mut self, tag: Tag) {
        self.finish(
            tag,
            Status::No,
            Some(Code::TooBig),
            "Message too large",
            Expunges::Report,
        );
    }

    /// REPLACE and UID REPLACE (RFC 8508 §3): an APPEND of the new message, then the old one
    /// expunged as by MOVE. Nothing is expunged if the APPEND fails.
    fn replace<T: Copy + Into<u32>>(
        &mut self,
        tag: Tag,
        addressing: Addressing,
        r: crate::imap::command::Replace<T>,
    ) {
        if r.message.data.len() > self.config.limits.max_message_size as u64 {
            self.refuse_too_big(tag);
            self.drop_streams();
            return;
        }
        let Some(uids) = self.targets(&tag, addressing, &r.target) else {
            self.drop_streams();
            return;
        };
        let read_only = self.selected.as_ref().is_none_or(|v| v.read_only());
        let refusal = match uids.first() {
            None => Some("No such message"),
            Some(_) if read_only => Some("Mailbox is read-only"),
            Some(_) => None,
        };
        if let Some(text) = refusal {
            self.drop_streams();
            self.finish(tag, Status::No, Some(Code::Cannot), text, Expunges::Report);
            return;
        }
        let job = AppendJob {
            tag,
            mailbox: store_name(&r.mailbox),
            messages: VecDeque::from([r.message]),
            uids: Vec::new(),
            replaces: uids.first().copied(),
        };
        self.next_append(job, None);
    }

    /// UNSELECT (RFC 3691) and CLOSE (RFC 9051 §6.4.1, which expunges first when the
    /// mailbox is writable).
    fn unselect(&mut self, tag: Tag, command: &Command) {
        let Some(view) = self.selected.take() else {
            return;
        };
        let closing = matches!(command, Command::Close);
        if closing && !view.read_only() {
            // RFC 9051 §6.4.1: expunge silently, then close.
            self.request(
                Pending::CloseExpunge { tag },
                MailboxRequest::Expunge {
                    mailbox: view.name,
                    uids: None,
                },
            );
        } else {
            let done = if closing {
                "CLOSE completed"
            } else {
                "UNSELECT completed"
            };
            self.request(Pending::Unselect { tag, done }, MailboxRequest::Unselect);
        }
    }

    /// The driver answered the outstanding request of `pending`.
    pub(super) fn resume(&mut self, pending: Pending, reply: MailboxReply) {
        match pending {
            Pending::Append(_)
            | Pending::AppendUndo { .. }
            | Pending::ReplaceExpunge { .. }
            | Pending::Catenate { .. }
            | Pending::CatenateUndo { .. }
            | Pending::StreamBegin { .. }
            | Pending::StreamData
            | Pending::StreamsDropped => self.resume_append(pending, reply),
            Pending::Fetch(_)
            | Pending::Store { .. }
            | Pending::Transfer { .. }
            | Pending::Expunge { .. }
            | Pending::Search(_)
            | Pending::TextSearch(_) => self.resume_messages(pending, reply),
            Pending::Recheck(job) => self.rechecked(job, reply),
            Pending::Notify { tag, state } => self.notify_reply(tag, state, reply),
            Pending::Acl { tag, name, job } => self.acl_reply(tag, name, job, reply),
            _ => self.resume_mailboxes(pending, reply),
        }
    }

    /// The replies to mailbox-level requests: LIST, STATUS, SELECT and its resync, CLOSE.
    fn resume_mailboxes(&mut self, pending: Pending, reply: MailboxReply) {
        match (pending, reply) {
            (Pending::Simple { tag, done }, MailboxReply::Done) => self.ok(tag, done),
            // RFC 8474 §4.1: CREATE tells the new mailbox's MAILBOXID.
            (Pending::Simple { tag, done }, MailboxReply::Created { id, uid_validity }) => {
                let id = crate::mail::mailbox_object_id(uid_validity, id);
                self.finish(
                    tag,
                    Status::Ok,
                    Some(Code::MailboxId(id)),
                    done,
                    Expunges::Report,
                );
            }
            (
                Pending::List { tag, job },
                MailboxReply::Listed {
                    mailboxes,
                    subscriptions,
                },
            ) => self.listed(tag, job, &mailboxes, &subscriptions),
            (
                Pending::ListStatus {
                    tag,
                    items,
                    myrights,
                    rights_step,
                    names,
                },
                reply,
            ) => {
                // A mailbox gone meanwhile (or refused) gets no line; the LIST goes on.
                if let Some(name) = names.front().cloned() {
                    match (reply, &items) {
                        (MailboxReply::Status(s), Some(items)) if !rights_step => {
                            self.status_line(&name, items, &s)
                        }
                        (MailboxReply::Rights(r), _) if rights_step => self.myrights_line(&name, r),
                        _ => {}
                    }
                }
                let step = super::mailboxes::ListStep {
                    items,
                    myrights,
                    rights_step,
                };
                self.next_list_status(tag, step, names);
            }
            (Pending::Status { tag, name, items }, MailboxReply::Status(s)) => {
                self.status_line(&name, &items, &s);
                self.ok(tag, "STATUS completed");
            }
            (Pending::Quota { tag, mailbox }, MailboxReply::Quota(quota)) => {
                let done = match mailbox {
                    Some(name) => {
                        self.out.extend_from_slice(b"* QUOTAROOT ");
                        self.put_name(&name);
                        self.out.extend_from_slice(b" \"\"\r\n");
                        "GETQUOTAROOT completed"
                    }
                    None => "GETQUOTA completed",
                };
                quota_line(&mut self.out, &quota);
                self.ok(tag, done);
            }
            (
                Pending::Select {
                    tag,
                    name,
                    access,
                    qresync,
                },
                MailboxReply::Selected(snapshot),
            ) => self.selected_reply(tag, name, access, snapshot, qresync),
            (Pending::Metadata { tag, name, get }, MailboxReply::Metadata(entries)) => {
                self.metadata_reply(tag, &name, &get, &entries)
            }
            (Pending::Resync(job), MailboxReply::Vanished(vanished)) => {
                self.resync_vanished(job, vanished)
            }
            (Pending::ResyncFlags(job), MailboxReply::Flags(update)) => {
                self.resync_flags(job, update.changed)
            }
            (Pending::FetchVanished(job), MailboxReply::Vanished(vanished)) => {
                self.fetch_vanished_reply(job, vanished)
            }
            (Pending::Unselect { tag, done }, _) => self.ok(tag, done),
            (Pending::CloseExpunge { tag }, _) => self.request(
                Pending::Unselect {
                    tag,
                    done: "CLOSE completed",
                },
                MailboxRequest::Unselect,
            ),
            (pending, reply) => self.unanswered(pending, reply),
        }
    }

    /// The replies to APPEND (MULTIAPPEND, streamed literals).
    fn resume_append(&mut self, pending: Pending, reply: MailboxReply) {
        match (pending, reply) {
            (Pending::Append(mut job), MailboxReply::Appended { uid_validity, uid }) => {
                job.uids.push(uid.0);
                self.next_append(job, Some(uid_validity.0));
            }
            // RFC 3502 §6.3.11: MULTIAPPEND is all or nothing; what was appended goes again.
            (Pending::Append(job), MailboxReply::Failed(error)) if !job.uids.is_empty() => {
                let uids = job.uids.iter().map(|&u| Uid(u)).collect();
                let request = MailboxRequest::Discard {
                    mailbox: job.mailbox,
                    uids,
                };
                self.request(
                    Pending::AppendUndo {
                        tag: job.tag,
                        error,
                    },
                    request,
                );
            }
            (Pending::StreamBegin { sync, .. }, MailboxReply::Done) => {
                self.streamed += 1;
                self.framer.stream_literal();
                if sync {
                    self.send(Response::Continue("Ready for additional command text"));
                }
            }
            (Pending::StreamBegin { tag, sync }, _) => {
                // Refused like a literal over the limits (RFC 7888 §4).
                let status = if sync { Status::No } else { Status::Bad };
                let reply = Response::tagged(tag, status, Some(Code::TooBig), "Literal too big");
                self.refuse_literal(reply, sync);
            }
            // A write that failed leaves the stream short: its APPEND fails then.
            (Pending::StreamData | Pending::StreamsDropped, _) => {}
            (Pending::AppendUndo { tag, error }, _) => {
                self.append_failed(tag, error);
            }
            (Pending::Catenate { job, url, checked }, reply) => {
                self.catenate_reply(*job, *url, checked, reply);
            }
            (Pending::CatenateUndo { tag, error }, _) => {
                self.finish_catenate_failed(tag, error);
            }
            (
                Pending::ReplaceExpunge { tag },
                MailboxReply::Expunged {
                    uids,
                    highest_modseq,
                },
            ) => {
                // RFC 8508 §3.2: the new message's EXISTS (if it went to this mailbox), then
                // the old one's EXPUNGE.
                self.flush_changes(Expunges::Report);
                self.report_expunged(&uids);
                let code = self.expunged_modseq(highest_modseq);
                self.finish(tag, Status::Ok, code, "REPLACE completed", Expunges::Report);
            }
            (Pending::Append(job), MailboxReply::Failed(error)) => {
                self.append_failed(job.tag, error);
            }
            (pending, reply) => self.unanswered(pending, reply),
        }
    }

    /// The replies to requests on messages: FETCH's \Seen, STORE, COPY/MOVE, EXPUNGE, SEARCH.
    fn resume_messages(&mut self, pending: Pending, reply: MailboxReply) {
        match (pending, reply) {
            // NOTIFY's FETCH of new messages failed: the client hears nothing more of them.
            (
                Pending::Fetch(FetchJob {
                    after: Some(after), ..
                }),
                _,
            ) => self.after_recheck(after, true),
            (Pending::Fetch(mut job), MailboxReply::Flags(update)) => {
                // FETCH set \Seen: those messages' responses include FLAGS (RFC 9051 §6.4.5).
                if let Some(view) = self.selected.as_mut() {
                    for (uid, _, modseq) in &update.changed {
                        view.stored(*uid, *modseq);
                    }
                }
                job.seen_now = update.changed.into_iter().map(|c| c.0).collect();
                self.next_fetch(job);
            }
            (
                Pending::Store {
                    tag,
                    addressing,
                    reply,
                },
                MailboxReply::Flags(update),
            ) => {
                let code = self.stored(addressing, reply, update);
                let expunges = addressing.expunges();
                self.finish(tag, Status::Ok, code, "STORE completed", expunges);
            }
            (
                Pending::Transfer { tag, transfer },
                MailboxReply::Transferred {
                    uid_validity,
                    pairs,
                    source_modseq,
                },
            ) => self.transferred(tag, transfer, uid_validity.0, pairs, source_modseq),
            (Pending::Transfer { tag, .. }, MailboxReply::Failed(MailboxError::NoSuchMailbox)) => {
                self.finish(
                    tag,
                    Status::No,
                    Some(Code::TryCreate),
                    "No such mailbox",
                    Expunges::Report,
                )
            }
            (
                Pending::Expunge { tag },
                MailboxReply::Expunged {
                    uids,
                    highest_modseq,
                },
            ) => {
                self.report_expunged(&uids);
                let code = self.expunged_modseq(highest_modseq);
                self.finish(tag, Status::Ok, code, "EXPUNGE completed", Expunges::Report);
            }
            (
                Pending::Search(mut job),
                MailboxReply::Fetched {
                    messages,
                    rest,
                    now,
                },
            ) => {
                self.searched(&mut job, &messages, now);
                requeue(&mut job.remaining, rest);
                self.next_search(job);
            }
            (Pending::Search(mut job), MailboxReply::Ordered { messages, now }) => {
                self.searched_in_order(&mut job, messages, now);
                self.next_search(job);
            }
            (Pending::TextSearch(job), MailboxReply::TextCandidates(answer)) => {
                self.narrowed(job, answer);
            }
            (Pending::TextSearch(job), MailboxReply::TextIndexing { done, total }) => {
                self.text_indexing(job, done, total);
            }
            (pending, reply) => self.unanswered(pending, reply),
        }
    }

    /// A failure the request has no special answer for, or a reply that does not fit it.
    fn unanswered(&mut self, pending: Pending, reply: MailboxReply) {
        match (pending, reply) {
            (pending, MailboxReply::Failed(e)) => {
                if matches!(pending, Pending::Resync(_) | Pending::ResyncFlags(_)) {
                    // A SELECT that answers NO leaves nothing selected (RFC 9051 §6.3.2),
                    // and a client told nothing vanished would keep a stale cache.
                    self.selected = None;
                }
                if let Some((tag, expunges)) = pending.tag_and_expunges() {
                    self.failed(tag, e, expunges);
                }
            }
            (pending, other) => {
                // A reply that does not fit the request is a bug in the driver; the client
                // gets a temporary failure and the session goes on.
                tracing::error!(?other, "mismatched mailbox reply");
                if let Some((tag, expunges)) = pending.tag_and_expunges() {
                    self.failed(tag, MailboxError::Unavailable(String::new()), expunges);
                }
            }
        }
    }
}

impl Pending {
    /// The tag of the command waiting, and what it may report; `None` for a step inside
    /// the reading of a command (a streamed literal's bytes), which has no reply of its own.
    fn tag_and_expunges(self) -> Option<(Tag, Expunges)> {
        Some(match self {
            Pending::StreamData | Pending::StreamsDropped | Pending::Recheck(_) => return None,
            Pending::StreamBegin { tag, .. } => (tag, Expunges::Report),
            Pending::List { tag, .. }
            | Pending::ListStatus { tag, .. }
            | Pending::Status { tag, .. }
            | Pending::Simple { tag, .. }
            | Pending::Select { tag, .. }
            | Pending::Unselect { tag, .. }
            | Pending::CloseExpunge { tag }
            | Pending::Transfer { tag, .. }
            | Pending::Expunge { tag }
            | Pending::Quota { tag, .. }
            | Pending::Metadata { tag, .. }
            | Pending::Notify { tag, .. }
            | Pending::Acl { tag, .. }
            | Pending::ReplaceExpunge { tag } => (tag, Expunges::Report),
            Pending::Append(job) => (job.tag, Expunges::Report),
            Pending::Catenate { job, .. } => (job.append.tag, Expunges::Report),
            Pending::CatenateUndo { tag, .. } => (tag, Expunges::Report),
            Pending::Resync(job) | Pending::ResyncFlags(job) => (job.tag, Expunges::Report),
            Pending::FetchVanished(job) => (job.tag, job.addressing.expunges()),
            Pending::AppendUndo { tag, .. } => (tag, Expunges::Report),
            Pending::Fetch(job) => (job.tag, job.addressing.expunges()),
            Pending::Store {
                tag, addressing, ..
            } => (tag, addressing.expunges()),
            Pending::Search(job) | Pending::TextSearch(job) => (job.tag, job.addressing.expunges()),
        })
    }
}

/// `* QUOTA "" (STORAGE used limit MESSAGE used limit)` (RFC 9208 §4.2.1), naming only the
/// resources that have a limit (the grammar has no "unlimited"); nothing at all when none
/// has. STORAGE counts in units of 1024 octets, rounded up, so any mail shows.
fn quota_line(out: &mut Vec<u8>, quota: &crate::mail::Quota) {
    let mut parts = Vec::new();
    if let Some(limit) = quota.limits.storage {
        parts.push(format!(
            "STORAGE {} {}",
            quota.usage.storage.div_ceil(1024),
            limit / 1024
        ));
    }
    if let Some(limit) = quota.limits.messages {
        parts.push(format!("MESSAGE {} {limit}", quota.usage.messages));
    }
    if !parts.is_empty() {
        out.extend_from_slice(format!("* QUOTA \"\" ({})\r\n", parts.join(" ")).as_bytes());
    }
}

/// The store's special-use attribute for an IMAP one, if the store can keep it.
fn store_special_use(attr: &crate::imap::command::SpecialUse) -> Option<crate::mail::SpecialUse> {
    use crate::imap::command::SpecialUse as Imap;
    use crate::mail::SpecialUse as Store;
    match attr {
        Imap::Sent => Some(Store::Sent),
        Imap::Drafts => Some(Store::Drafts),
        Imap::Trash => Some(Store::Trash),
        Imap::Junk => Some(Store::Junk),
        Imap::Archive => Some(Store::Archive),
        Imap::All | Imap::Flagged | Imap::Important | Imap::Other(_) => None,
    }
}
