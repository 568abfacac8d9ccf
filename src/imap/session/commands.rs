//! The authenticated- and selected-state commands (RFC 9051 §6.3, §6.4): each becomes one or
//! more typed [`MailboxRequest`]s, and the replies become responses. A command that needs
//! the store parks its state in a [`Pending`] until the driver answers; FETCH and SEARCH ask
//! for messages in batches, so memory stays bounded whatever the mailbox size.

use std::collections::VecDeque;

use super::super::command::{
    self as cmd, AppendMessage, Command, FetchAttribute, Flag, List, ListReturn, Mailbox,
    MessageData, Search, SearchReturn, SequenceSet, StatusItem, StoreAction, StoreReply, Tag,
};
use super::super::fetch::{self, FetchLine};
use super::super::mutf7;
use super::super::response::{Code, Response, Status};
use super::search::{self, Candidate, Need};
use super::view::{Access, Dialect, Expunges, View};
use super::{ImapSession, Wait};
use crate::mailbox::{
    Content, FetchedMessage, MailboxError, MailboxReply, MailboxRequest, Transfer,
};
use crate::store::{FlagMode, Flags, MailboxInfo, SystemFlags, Uid};

/// Messages per FETCH request without bytes, and with them (then also at most
/// [`BATCH_BYTES`] of message bytes, but always at least one message).
const SUMMARY_BATCH: usize = 512;
const BYTES_BATCH: usize = 128;
const BATCH_BYTES: u64 = 4 << 20;

/// The next batch of `remaining` to ask for, bounded in count and (by the sizes the view
/// knows) in bytes, so a FETCH of a large mailbox never holds much of it in memory.
fn next_batch(view: &View, remaining: &mut VecDeque<Uid>, content: Content) -> Vec<Uid> {
    let mut batch = Vec::new();
    let mut bytes = 0u64;
    while let Some(&uid) = remaining.front() {
        let size = match content {
            Content::Summary => 0,
            Content::Header | Content::Bytes => view.get(uid).map_or(0, |m| u64::from(m.meta.size)),
        };
        let limit = match content {
            Content::Summary => SUMMARY_BATCH,
            Content::Header | Content::Bytes => BYTES_BATCH,
        };
        if !batch.is_empty() && (batch.len() >= limit || bytes + size > BATCH_BYTES) {
            break;
        }
        bytes += size;
        batch.push(uid);
        remaining.pop_front();
    }
    batch.sort_unstable();
    batch
}

/// Whether a command addresses messages by sequence number or by UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Addressing {
    Sequence,
    Uid,
}

impl Addressing {
    /// RFC 9051 §7.5.1: no EXPUNGE while FETCH, STORE or SEARCH without UID runs.
    fn expunges(self) -> Expunges {
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
    /// A LIST RETURN (STATUS …) asking for one status after another (RFC 5819).
    ListStatus {
        tag: Tag,
        items: Vec<StatusItem>,
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
    },
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
    /// A MULTIAPPEND failed part way: the messages it appended are being removed.
    AppendUndo {
        tag: Tag,
        error: MailboxError,
    },
    Fetch(FetchJob),
    Store {
        tag: Tag,
        addressing: Addressing,
        reply: StoreReply,
        uids: Vec<Uid>,
        /// UNCHANGEDSINCE failures, as numbers of this command's kind (`[MODIFIED …]`).
        modified: Vec<u32>,
    },
    Transfer {
        tag: Tag,
        transfer: Transfer,
    },
    Expunge {
        tag: Tag,
    },
    Search(SearchJob),
}

#[derive(Debug)]
pub(super) struct ListJob {
    lsub: bool,
    patterns: Vec<String>,
    subscribed_only: bool,
    recursive_match: bool,
    special_only: bool,
    returns: ListReturn,
}

#[derive(Debug)]
pub(super) struct AppendJob {
    tag: Tag,
    mailbox: String,
    messages: VecDeque<AppendMessage>,
    uids: Vec<u32>,
}

#[derive(Debug)]
pub(super) struct FetchJob {
    tag: Tag,
    addressing: Addressing,
    attrs: Vec<FetchAttribute>,
    content: Content,
    remaining: VecDeque<Uid>,
    /// Messages whose `\Seen` this FETCH set: their FLAGS are included.
    seen_now: Vec<Uid>,
    /// CHANGEDSINCE (RFC 7162 §3.1.4.1): only messages with a greater modseq.
    changed_since: Option<u64>,
    /// A BINARY item met a part it cannot decode (`NO [UNKNOWN-CTE]`).
    unknown_encoding: bool,
}

#[derive(Debug)]
pub(super) struct SearchJob {
    tag: Tag,
    addressing: Addressing,
    search: Search,
    content: Content,
    remaining: VecDeque<Uid>,
    matched: Vec<Uid>,
}

/// The store's name of a mailbox argument.
fn store_name(m: &Mailbox) -> String {
    match m {
        Mailbox::Inbox => "INBOX".to_string(),
        // RFC 9051 §6.3.4: a trailing hierarchy delimiter is not part of the name.
        Mailbox::Other(n) => n.as_str().trim_end_matches('/').to_string(),
    }
}

fn store_flags(flags: &[Flag]) -> Flags {
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
            Flag::Keyword(k) => keywords.push(k.as_str().to_string()),
        }
    }
    Flags::new(system, keywords)
}

/// Unix seconds of an IMAP date-time.
fn unix_time(d: &cmd::DateTime) -> i64 {
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

impl ImapSession {
    fn request(&mut self, pending: Pending, request: MailboxRequest) {
        self.wait = Wait::Mailbox(pending);
        self.events
            .push_back(crate::session::Event::Mailbox(request));
    }

    fn rev1(&self) -> bool {
        !self.imap4rev2_enabled
    }

    pub(super) fn dialect(&self) -> Dialect {
        Dialect {
            rev1: self.rev1(),
            condstore: self.condstore,
        }
    }

    /// Tell the client about queued changes if it may hear them now.
    fn flush_changes(&mut self, expunges: Expunges) {
        let dialect = self.dialect();
        if let Some(view) = self.selected.as_mut() {
            view.flush(&mut self.out, expunges, dialect);
        }
    }

    /// End a command: pending changes (where allowed), then the tagged reply.
    fn finish(
        &mut self,
        tag: Tag,
        status: Status,
        code: Option<Code>,
        text: &'static str,
        expunges: Expunges,
    ) {
        self.flush_changes(expunges);
        self.send(Response::tagged(tag, status, code, text));
    }

    pub(super) fn ok(&mut self, tag: Tag, text: &'static str) {
        self.finish(tag, Status::Ok, None, text, Expunges::Report);
    }

    fn failed(&mut self, tag: Tag, e: MailboxError, expunges: Expunges) {
        let (code, text) = match e {
            MailboxError::NoSuchMailbox => (Code::NonExistent, "No such mailbox"),
            MailboxError::MailboxExists => (Code::AlreadyExists, "Mailbox already exists"),
            MailboxError::InvalidName => (Code::Cannot, "Invalid mailbox name"),
            MailboxError::InboxIsPermanent => (Code::Cannot, "INBOX cannot be changed that way"),
            MailboxError::TooLarge => (Code::TooBig, "Message too large"),
            MailboxError::Unavailable(_) => (
                Code::Unavailable,
                "Temporary server failure, try again later",
            ),
        };
        self.finish(tag, Status::No, Some(code), text, expunges);
    }

    /// A mailbox name as this client reads it: UTF-8 after ENABLE IMAP4rev2, else modified
    /// UTF-7 (RFC 3501 §5.1.3).
    fn put_name(&mut self, name: &str) {
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
                self.out
                    .extend_from_slice(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
                self.ok(tag, "NAMESPACE completed");
            }
            Command::Create(c) => {
                if !c.special_use.is_empty() {
                    // CREATE-SPECIAL-USE is not offered (RFC 6154 §3).
                    self.finish(
                        tag,
                        Status::No,
                        Some(Code::Cannot),
                        "Special-use attributes cannot be set",
                        Expunges::Report,
                    );
                    return;
                }
                let mailbox = store_name(&c.mailbox);
                self.request(
                    Pending::Simple {
                        tag,
                        done: "CREATE completed",
                    },
                    MailboxRequest::Create { mailbox },
                );
            }
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
            Command::Select(s) | Command::Examine(s) if s.qresync.is_some() => {
                let _ = s;
                self.send(Response::tagged(
                    tag,
                    Status::Bad,
                    None,
                    "QRESYNC is not supported",
                ));
            }
            Command::Select(s) => {
                self.condstore |= s.condstore;
                self.select(tag, &s.mailbox, Access::ReadWrite)
            }
            Command::Examine(s) => {
                self.condstore |= s.condstore;
                self.select(tag, &s.mailbox, Access::ReadOnly)
            }
            Command::Append(a) => {
                let max = self.config.limits.max_message_size;
                let too_big = a.messages.iter().any(|m| match &m.data {
                    MessageData::Text(d) | MessageData::Binary(d) | MessageData::Utf8(d) => {
                        d.len() > max
                    }
                });
                if too_big {
                    self.finish(
                        tag,
                        Status::No,
                        Some(Code::TooBig),
                        "Message too large",
                        Expunges::Report,
                    );
                    return;
                }
                let job = AppendJob {
                    tag,
                    mailbox: store_name(&a.mailbox),
                    messages: a.messages.into(),
                    uids: Vec::new(),
                };
                self.next_append(job, None);
            }
            Command::Idle => {
                self.send(Response::Continue("idling"));
                self.flush_changes(Expunges::Report);
                self.wait = Wait::Idle(tag);
            }
            Command::Unselect | Command::Close => {
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
            Command::Search(s) => self.search(tag, Addressing::Sequence, s),
            Command::UidSearch(s) => self.search(tag, Addressing::Uid, s),
            _ => self.send(Response::tagged(
                tag,
                Status::Bad,
                None,
                "Command not supported",
            )),
        }
    }

    fn list(&mut self, tag: Tag, list: List) {
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

    fn select(&mut self, tag: Tag, mailbox: &Mailbox, access: Access) {
        if self.selected.take().is_some() && self.imap4rev2_enabled {
            // RFC 9051 §7.1: the previous mailbox is closed (without expunge).
            self.send(Response::untagged(
                Status::Ok,
                Some(Code::Closed),
                "Previous mailbox closed",
            ));
        }
        let name = store_name(mailbox);
        self.request(
            Pending::Select {
                tag,
                name: name.clone(),
                access,
            },
            MailboxRequest::Select { mailbox: name },
        );
    }

    fn next_append(&mut self, mut job: AppendJob, uid_validity: Option<u32>) {
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
        let (MessageData::Text(data) | MessageData::Binary(data) | MessageData::Utf8(data)) =
            message.data;
        let internal_date = message.date.as_ref().map(unix_time);
        let request = MailboxRequest::Append {
            mailbox: job.mailbox.clone(),
            message: data,
            flags: store_flags(&message.flags),
            internal_date,
        };
        self.request(Pending::Append(job), request);
    }

    fn append_failed(&mut self, tag: Tag, error: MailboxError) {
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

    fn expunge(&mut self, tag: Tag, set: Option<SequenceSet<cmd::Uid>>) {
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        if view.read_only() {
            self.finish(
                tag,
                Status::No,
                Some(Code::Cannot),
                "Mailbox is read-only",
                Expunges::Report,
            );
            return;
        }
        let uids = set.map(|s| {
            view.by_uid(&s)
                .into_iter()
                .map(|i| view.messages[i].meta.uid)
                .collect()
        });
        let mailbox = view.name.clone();
        self.request(
            Pending::Expunge { tag },
            MailboxRequest::Expunge { mailbox, uids },
        );
    }

    /// The UIDs a command's set names, or `None` after answering BAD.
    fn targets<T: Copy + Into<u32>>(
        &mut self,
        tag: &Tag,
        addressing: Addressing,
        set: &SequenceSet<T>,
    ) -> Option<Vec<Uid>> {
        let view = self.selected.as_ref()?;
        let indexes = match addressing {
            Addressing::Uid => view.by_uid(set),
            Addressing::Sequence => match view.by_sequence(set) {
                Some(i) => i,
                None => {
                    self.send(Response::tagged(
                        tag.clone(),
                        Status::Bad,
                        None,
                        "Invalid message sequence number",
                    ));
                    return None;
                }
            },
        };
        Some(
            indexes
                .into_iter()
                .map(|i| view.messages[i].meta.uid)
                .collect(),
        )
    }

    fn fetch<T: Copy + Into<u32>>(
        &mut self,
        tag: Tag,
        addressing: Addressing,
        set: SequenceSet<T>,
        items: cmd::FetchItems,
        modifiers: cmd::FetchModifiers,
    ) {
        if modifiers.vanished {
            self.send(Response::tagged(
                tag,
                Status::Bad,
                None,
                "QRESYNC is not supported",
            ));
            return;
        }
        let Some(uids) = self.targets(&tag, addressing, &set) else {
            return;
        };
        let mut attrs = items.attributes();
        let changed_since = modifiers.changed_since.map(cmd::ModSeq::get);
        if changed_since.is_some() && !attrs.contains(&FetchAttribute::ModSeq) {
            // RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ.
            attrs.push(FetchAttribute::ModSeq);
        }
        if attrs.contains(&FetchAttribute::ModSeq) {
            self.condstore = true;
        }
        let content = fetch::content(&attrs);
        let mut job = FetchJob {
            tag,
            addressing,
            content,
            remaining: uids.iter().copied().collect(),
            attrs,
            seen_now: Vec::new(),
            changed_since,
            unknown_encoding: false,
        };
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        if fetch::sets_seen(&job.attrs) && !view.read_only() {
            let unseen: Vec<Uid> = uids
                .into_iter()
                .filter(|u| {
                    view.get(*u)
                        .is_some_and(|m| !m.meta.flags.system.contains(SystemFlags::SEEN))
                })
                .collect();
            if !unseen.is_empty() {
                job.seen_now = unseen.clone();
                let request = MailboxRequest::Store {
                    mailbox: view.name.clone(),
                    uids: unseen,
                    mode: FlagMode::Add,
                    flags: Flags::system(SystemFlags::SEEN),
                };
                self.request(Pending::Fetch(job), request);
                return;
            }
        }
        self.next_fetch(job);
    }

    fn next_fetch(&mut self, mut job: FetchJob) {
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        if job.remaining.is_empty() {
            let expunges = job.addressing.expunges();
            if job.unknown_encoding {
                // RFC 3516 §4.3: BINARY of a part whose encoding cannot be decoded.
                let text = "Unknown Content-Transfer-Encoding";
                self.finish(job.tag, Status::No, Some(Code::UnknownCte), text, expunges);
            } else {
                self.finish(job.tag, Status::Ok, None, "FETCH completed", expunges);
            }
            return;
        }
        let uids = next_batch(view, &mut job.remaining, job.content);
        let request = MailboxRequest::Fetch {
            mailbox: view.name.clone(),
            uids,
            content: job.content,
        };
        self.request(Pending::Fetch(job), request);
    }

    fn fetched(&mut self, job: &mut FetchJob, messages: &[FetchedMessage]) {
        let rev1 = self.rev1();
        let Some(view) = self.selected.as_mut() else {
            return;
        };
        for msg in messages {
            view.refresh(&msg.meta);
        }
        for msg in messages {
            // A message expunged by another session but not yet reported keeps its number.
            let (Some(seq), Some(vm)) = (view.seq(msg.meta.uid), view.get(msg.meta.uid)) else {
                continue;
            };
            if job.changed_since.is_some_and(|c| msg.meta.modseq.0 <= c) {
                continue;
            }
            if !fetch::binary_decodable(msg, &job.attrs) {
                job.unknown_encoding = true;
                continue;
            }
            fetch::fetch_line(
                &mut self.out,
                &FetchLine {
                    seq,
                    msg,
                    attrs: &job.attrs,
                    with_uid: job.addressing == Addressing::Uid,
                    recent: vm.recent && rev1,
                    with_flags: job.seen_now.contains(&msg.meta.uid),
                },
            );
        }
    }

    fn store<T: Copy + Into<u32>>(&mut self, tag: Tag, addressing: Addressing, s: cmd::Store<T>) {
        let Some(uids) = self.targets(&tag, addressing, &s.set) else {
            return;
        };
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        if view.read_only() {
            self.finish(
                tag,
                Status::No,
                Some(Code::Cannot),
                "Mailbox is read-only",
                addressing.expunges(),
            );
            return;
        }
        let mode = match s.action {
            StoreAction::Replace => FlagMode::Replace,
            StoreAction::Add => FlagMode::Add,
            StoreAction::Remove => FlagMode::Remove,
        };
        // RFC 7162 §3.1.3: UNCHANGEDSINCE leaves messages changed since alone. The check is
        // against this session's view, which includes every change the store reported.
        let (uids, modified): (Vec<Uid>, Vec<Uid>) = match s.unchanged_since {
            Some(limit) => uids
                .into_iter()
                .partition(|u| view.get(*u).is_none_or(|m| m.meta.modseq.0 <= limit.get())),
            None => (uids, Vec::new()),
        };
        let modified: Vec<u32> = modified
            .iter()
            .filter_map(|u| match addressing {
                Addressing::Uid => Some(u.0),
                Addressing::Sequence => view.seq(*u),
            })
            .collect();
        let request = MailboxRequest::Store {
            mailbox: view.name.clone(),
            uids: uids.clone(),
            mode,
            flags: store_flags(&s.flags),
        };
        if s.unchanged_since.is_some() {
            self.condstore = true;
        }
        let nothing = uids.is_empty();
        let pending = Pending::Store {
            tag,
            addressing,
            reply: s.reply,
            uids,
            modified,
        };
        if nothing {
            self.resume(pending, MailboxReply::Flags(Vec::new()));
        } else {
            self.request(pending, request);
        }
    }

    fn transfer<T: Copy + Into<u32>>(
        &mut self,
        tag: Tag,
        addressing: Addressing,
        t: cmd::Transfer<T>,
        transfer: Transfer,
    ) {
        let Some(uids) = self.targets(&tag, addressing, &t.set) else {
            return;
        };
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        if transfer == Transfer::Move && view.read_only() {
            self.finish(
                tag,
                Status::No,
                Some(Code::Cannot),
                "Mailbox is read-only",
                Expunges::Report,
            );
            return;
        }
        let request = MailboxRequest::Transfer {
            mailbox: view.name.clone(),
            uids,
            to: store_name(&t.mailbox),
            transfer,
        };
        self.request(Pending::Transfer { tag, transfer }, request);
    }

    fn search(&mut self, tag: Tag, addressing: Addressing, search: Search) {
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        let mut need = search::need(&search.criteria);
        if need == Need::View && view.has_placeholders() {
            // New messages are known only by UID: read their metadata first.
            need = Need::Summary;
        }
        let content = match need {
            Need::View => {
                let matched: Vec<Uid> = (0..view.messages.len())
                    .filter(|&i| {
                        search::matches_all(&search.criteria, &self.candidate(i, None, None))
                    })
                    .map(|i| view.messages[i].meta.uid)
                    .collect();
                let job = SearchJob {
                    tag,
                    addressing,
                    search,
                    content: Content::Summary,
                    remaining: VecDeque::new(),
                    matched,
                };
                self.search_done(job);
                return;
            }
            Need::Summary => Content::Summary,
            Need::Header => Content::Header,
            Need::Bytes => Content::Bytes,
        };
        let job = SearchJob {
            tag,
            addressing,
            search,
            content,
            remaining: view.messages.iter().map(|m| m.meta.uid).collect(),
            matched: Vec::new(),
        };
        self.next_search(job);
    }

    fn candidate<'a>(
        &'a self,
        index: usize,
        fetched: Option<&'a FetchedMessage>,
        parsed: Option<&'a mail_parser::Message<'a>>,
    ) -> Candidate<'a> {
        let (view, saved) = self
            .selected
            .as_ref()
            .map_or((&[][..], &[][..]), |v| (&v.messages[..], &v.saved[..]));
        Candidate {
            saved,
            seq: index as u32 + 1,
            count: view.len() as u32,
            message: &view[index],
            largest_uid: view.last().map_or(0, |m| m.meta.uid.0),
            fetched,
            parsed,
        }
    }

    fn next_search(&mut self, mut job: SearchJob) {
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        if job.remaining.is_empty() {
            self.search_done(job);
            return;
        }
        let uids = next_batch(view, &mut job.remaining, job.content);
        let request = MailboxRequest::Fetch {
            mailbox: view.name.clone(),
            uids,
            content: job.content,
        };
        self.request(Pending::Search(job), request);
    }

    fn searched(&mut self, job: &mut SearchJob, messages: &[FetchedMessage]) {
        let Some(view) = self.selected.as_mut() else {
            return;
        };
        for msg in messages {
            view.refresh(&msg.meta);
        }
        for msg in messages {
            let Some(seq) = self.selected.as_ref().and_then(|v| v.seq(msg.meta.uid)) else {
                continue;
            };
            let parsed = msg
                .bytes
                .as_deref()
                .and_then(|b| mail_parser::MessageParser::default().parse(b));
            let c = self.candidate(seq as usize - 1, Some(msg), parsed.as_ref());
            if search::matches_all(&job.search.criteria, &c) {
                job.matched.push(msg.meta.uid);
            }
        }
    }

    fn search_done(&mut self, job: SearchJob) {
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        let mut numbers: Vec<u32> = match job.addressing {
            Addressing::Uid => job.matched.iter().map(|u| u.0).collect(),
            Addressing::Sequence => job.matched.iter().filter_map(|u| view.seq(*u)).collect(),
        };
        numbers.sort_unstable();
        // RFC 7162 §3.1.5: a search with MODSEQ reports the highest modseq it matched.
        let modseq = search::mentions_modseq(&job.search.criteria)
            .then(|| {
                job.matched
                    .iter()
                    .filter_map(|u| view.get(*u).map(|m| m.meta.modseq.0))
                    .max()
            })
            .flatten();
        if modseq.is_some() {
            self.condstore = true;
        }
        let returns = job.search.returns;
        let save_only = returns.is_some_and(|r| r.save && !(r.min || r.max || r.all || r.count));
        if let Some(r) = returns.filter(|r| r.save) {
            // RFC 5182 §2.1: with MIN and/or MAX alone, only those messages are saved.
            let mut saved = job.matched.clone();
            saved.sort_unstable();
            if (r.min || r.max) && !r.all && !r.count {
                let ends = [saved.first().copied(), saved.last().copied()];
                let keep: Vec<Uid> = [r.min, r.max]
                    .iter()
                    .zip(ends)
                    .filter_map(|(wanted, uid)| uid.filter(|_| *wanted))
                    .collect();
                saved = keep;
                saved.dedup();
            }
            if let Some(view) = self.selected.as_mut() {
                view.saved = saved;
            }
        }
        let esearch = returns.is_some() || self.imap4rev2_enabled;
        if save_only {
            // RFC 5182 §2.1: SAVE alone returns no ESEARCH response.
        } else if esearch {
            let r = job.search.returns.unwrap_or(SearchReturn {
                all: true,
                ..SearchReturn::default()
            });
            let r = if !(r.min || r.max || r.all || r.count) {
                SearchReturn { all: true, ..r }
            } else {
                r
            };
            let mut line = format!("* ESEARCH (TAG \"{}\")", job.tag);
            if job.addressing == Addressing::Uid {
                line.push_str(" UID");
            }
            if let (true, Some(n)) = (r.min, numbers.first()) {
                line.push_str(&format!(" MIN {n}"));
            }
            if let (true, Some(n)) = (r.max, numbers.last()) {
                line.push_str(&format!(" MAX {n}"));
            }
            if r.all && !numbers.is_empty() {
                line.push_str(&format!(" ALL {}", number_set(&numbers)));
            }
            if r.count {
                line.push_str(&format!(" COUNT {}", numbers.len()));
            }
            if let Some(m) = modseq {
                line.push_str(&format!(" MODSEQ {m}"));
            }
            line.push_str("\r\n");
            self.out.extend_from_slice(line.as_bytes());
        } else {
            let mut line = String::from("* SEARCH");
            for n in &numbers {
                line.push_str(&format!(" {n}"));
            }
            if let Some(m) = modseq {
                line.push_str(&format!(" (MODSEQ {m})"));
            }
            line.push_str("\r\n");
            self.out.extend_from_slice(line.as_bytes());
        }
        let expunges = job.addressing.expunges();
        self.finish(job.tag, Status::Ok, None, "SEARCH completed", expunges);
    }

    /// The driver answered the outstanding request of `pending`.
    pub(super) fn resume(&mut self, pending: Pending, reply: MailboxReply) {
        match (pending, reply) {
            (Pending::Simple { tag, done }, MailboxReply::Done) => self.ok(tag, done),
            (
                Pending::List { tag, job },
                MailboxReply::Listed {
                    mailboxes,
                    subscriptions,
                },
            ) => self.listed(tag, job, &mailboxes, &subscriptions),
            (Pending::ListStatus { tag, items, names }, reply) => {
                if let MailboxReply::Status(s) = reply {
                    if let Some(name) = names.front().cloned() {
                        self.status_line(&name, &items, &s);
                    }
                }
                self.next_list_status(tag, items, names);
            }
            (Pending::Status { tag, name, items }, MailboxReply::Status(s)) => {
                self.status_line(&name, &items, &s);
                self.ok(tag, "STATUS completed");
            }
            (Pending::Select { tag, name, access }, MailboxReply::Selected(snapshot)) => {
                self.selected_reply(tag, name, access, snapshot)
            }
            (Pending::Unselect { tag, done }, _) => self.ok(tag, done),
            (Pending::CloseExpunge { tag }, _) => self.request(
                Pending::Unselect {
                    tag,
                    done: "CLOSE completed",
                },
                MailboxRequest::Unselect,
            ),
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
            (Pending::AppendUndo { tag, error }, _) => {
                self.append_failed(tag, error);
            }
            (Pending::Append(job), MailboxReply::Failed(error)) => {
                self.append_failed(job.tag, error);
            }
            (Pending::Fetch(job), MailboxReply::Flags(changed)) => {
                if let Some(view) = self.selected.as_mut() {
                    for (uid, flags, modseq) in changed {
                        view.set_flags(uid, flags, modseq);
                    }
                }
                self.next_fetch(job);
            }
            (Pending::Fetch(mut job), MailboxReply::Fetched(messages)) => {
                self.fetched(&mut job, &messages);
                self.next_fetch(job);
            }
            (
                Pending::Store {
                    tag,
                    addressing,
                    reply,
                    uids,
                    modified,
                },
                MailboxReply::Flags(changed),
            ) => {
                self.stored(addressing, reply, &uids, changed);
                let code = (!modified.is_empty()).then(|| Code::Modified(number_set(&modified)));
                let expunges = addressing.expunges();
                self.finish(tag, Status::Ok, code, "STORE completed", expunges);
            }
            (
                Pending::Transfer { tag, transfer },
                MailboxReply::Transferred {
                    uid_validity,
                    pairs,
                },
            ) => self.transferred(tag, transfer, uid_validity.0, pairs),
            (Pending::Transfer { tag, .. }, MailboxReply::Failed(MailboxError::NoSuchMailbox)) => {
                self.finish(
                    tag,
                    Status::No,
                    Some(Code::TryCreate),
                    "No such mailbox",
                    Expunges::Report,
                )
            }
            (Pending::Expunge { tag }, MailboxReply::Expunged(uids)) => {
                self.report_expunged(&uids);
                self.ok(tag, "EXPUNGE completed");
            }
            (Pending::Search(mut job), MailboxReply::Fetched(messages)) => {
                self.searched(&mut job, &messages);
                self.next_search(job);
            }
            (pending, MailboxReply::Failed(e)) => {
                let (tag, expunges) = pending.tag_and_expunges();
                self.failed(tag, e, expunges);
            }
            (pending, other) => {
                // A reply that does not fit the request is a bug in the driver; the client
                // gets a temporary failure and the session goes on.
                tracing::error!(?other, "mismatched mailbox reply");
                let (tag, expunges) = pending.tag_and_expunges();
                self.failed(tag, MailboxError::Unavailable(String::new()), expunges);
            }
        }
    }

    fn listed(&mut self, tag: Tag, job: ListJob, all: &[MailboxInfo], subscriptions: &[String]) {
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
            if job.subscribed_only && !subscribed && !subscribed_child {
                continue;
            }
            if job.special_only && info.and_then(|i| i.special).is_none() {
                continue;
            }
            let synthetic = info.is_none() && !subscribed;
            if synthetic && job.subscribed_only && !subscribed_child {
                continue;
            }
            let children = all.iter().any(|m| m.name.starts_with(&under));
            let mut attrs: Vec<&str> = Vec::new();
            if info.is_none() {
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
        match job.returns.status {
            Some(items) if !status_names.is_empty() => {
                // Queue the statuses; the first request goes out now.
                status_names.push_front(String::new());
                self.next_list_status(tag, items, status_names);
            }
            _ => self.ok(
                tag,
                if job.lsub {
                    "LSUB completed"
                } else {
                    "LIST completed"
                },
            ),
        }
    }

    fn next_list_status(&mut self, tag: Tag, items: Vec<StatusItem>, mut names: VecDeque<String>) {
        names.pop_front();
        match names.front().cloned() {
            Some(mailbox) => self.request(
                Pending::ListStatus { tag, items, names },
                MailboxRequest::Status { mailbox },
            ),
            None => self.ok(tag, "LIST completed"),
        }
    }

    fn status_line(&mut self, name: &str, items: &[StatusItem], s: &crate::store::MailboxStatus) {
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
                StatusItem::Recent => "RECENT 0".to_string(),
                StatusItem::HighestModSeq => format!("HIGHESTMODSEQ {}", s.highest_modseq.0),
                StatusItem::AppendLimit => {
                    format!("APPENDLIMIT {}", self.config.limits.max_message_size)
                }
            });
        }
        self.out
            .extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
    }

    fn selected_reply(
        &mut self,
        tag: Tag,
        name: String,
        access: Access,
        snapshot: crate::mailbox::Snapshot,
    ) {
        let view = View::new(name, access, snapshot);
        let mut out = Vec::new();
        out.extend_from_slice(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n");
        out.extend_from_slice(format!("* {} EXISTS\r\n", view.count()).as_bytes());
        if self.rev1() {
            out.extend_from_slice(b"* 0 RECENT\r\n");
            if let Some(n) = view.first_unseen() {
                Response::untagged(Status::Ok, Some(Code::Unseen(n)), "First unseen")
                    .encode(&mut out);
            }
        } else {
            // RFC 9051 §6.3.2: a LIST response with the mailbox's name.
            out.extend_from_slice(b"* LIST () \"/\" ");
            fetch::utf8_string(&mut out, &view.name);
            out.extend_from_slice(b"\r\n");
        }
        let permanent = match access {
            Access::ReadWrite => Code::PermanentFlags,
            Access::ReadOnly => Code::NoPermanentFlags,
        };
        Response::untagged(Status::Ok, Some(permanent), "Flags permitted").encode(&mut out);
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
        self.out.extend_from_slice(&out);
        let (code, text) = match access {
            Access::ReadWrite => (Code::ReadWrite, "SELECT completed"),
            Access::ReadOnly => (Code::ReadOnly, "EXAMINE completed"),
        };
        self.selected = Some(view);
        self.send(Response::tagged(tag, Status::Ok, Some(code), text));
    }

    fn stored(
        &mut self,
        addressing: Addressing,
        reply: StoreReply,
        uids: &[Uid],
        changed: Vec<(Uid, Flags, crate::store::ModSeq)>,
    ) {
        let Dialect { rev1, condstore } = self.dialect();
        let Some(view) = self.selected.as_mut() else {
            return;
        };
        for (uid, flags, modseq) in changed {
            view.set_flags(uid, flags, modseq);
        }
        if reply == StoreReply::Silent {
            return;
        }
        for uid in uids {
            let (Some(seq), Some(m)) = (view.seq(*uid), view.get(*uid)) else {
                continue;
            };
            let mut line = format!("* {seq} FETCH (");
            if addressing == Addressing::Uid {
                line.push_str(&format!("UID {} ", uid.0));
            }
            line.push_str("FLAGS ");
            self.out.extend_from_slice(line.as_bytes());
            fetch::flag_list(&mut self.out, &m.meta.flags, m.recent && rev1);
            if condstore {
                let modseq = format!(" MODSEQ ({})", m.meta.modseq.0);
                self.out.extend_from_slice(modseq.as_bytes());
            }
            self.out.extend_from_slice(b")\r\n");
        }
    }

    fn transferred(
        &mut self,
        tag: Tag,
        transfer: Transfer,
        uid_validity: u32,
        pairs: Vec<(Uid, Uid)>,
    ) {
        let mut pairs = pairs;
        pairs.sort_unstable();
        let from: Vec<u32> = pairs.iter().map(|p| p.0 .0).collect();
        let to: Vec<u32> = pairs.iter().map(|p| p.1 .0).collect();
        let code = (!pairs.is_empty())
            .then(|| Code::CopyUid(uid_validity, number_set(&from), number_set(&to)));
        match transfer {
            Transfer::Copy => {
                self.finish(tag, Status::Ok, code, "COPY completed", Expunges::Report)
            }
            Transfer::Move => {
                // RFC 6851 §4.3: COPYUID in an untagged OK, before the EXPUNGEs.
                if let Some(code) = code {
                    Response::untagged(Status::Ok, Some(code), "Moved").encode(&mut self.out);
                }
                let moved: Vec<Uid> = pairs.iter().map(|p| p.0).collect();
                self.report_expunged(&moved);
                self.finish(tag, Status::Ok, None, "MOVE completed", Expunges::Report);
            }
        }
    }

    fn report_expunged(&mut self, uids: &[Uid]) {
        let Some(view) = self.selected.as_mut() else {
            return;
        };
        // Highest first, so each number is still the one the client knows.
        let mut uids = uids.to_vec();
        uids.sort_unstable_by(|a, b| b.cmp(a));
        for uid in uids {
            if let Some(seq) = view.remove(uid) {
                self.out
                    .extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
            }
        }
    }
}

impl Pending {
    fn tag_and_expunges(self) -> (Tag, Expunges) {
        match self {
            Pending::List { tag, .. }
            | Pending::ListStatus { tag, .. }
            | Pending::Status { tag, .. }
            | Pending::Simple { tag, .. }
            | Pending::Select { tag, .. }
            | Pending::Unselect { tag, .. }
            | Pending::CloseExpunge { tag }
            | Pending::Transfer { tag, .. }
            | Pending::Expunge { tag } => (tag, Expunges::Report),
            Pending::Append(job) => (job.tag, Expunges::Report),
            Pending::AppendUndo { tag, .. } => (tag, Expunges::Report),
            Pending::Fetch(job) => (job.tag, job.addressing.expunges()),
            Pending::Store {
                tag, addressing, ..
            } => (tag, addressing.expunges()),
            Pending::Search(job) => (job.tag, job.addressing.expunges()),
        }
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
