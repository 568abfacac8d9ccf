//! Message commands of the selected state (RFC 9051 §6.4): FETCH, STORE, COPY/MOVE,
//! EXPUNGE and SEARCH over the selected view, asking the store for messages in bounded
//! batches.

use std::collections::VecDeque;

use super::super::command::{
    self as cmd, FetchAttribute, Search, SearchReturn, SequenceSet, StoreAction, StoreReply, Tag,
};
use super::super::fetch::{self, FetchLine};
use super::super::response::{Code, Response, Status};
use super::commands::{
    number_set, store_flags, store_name, Addressing, FetchJob, Pending, SearchJob,
};
use super::search::{self, Candidate, Need};
use super::view::{Dialect, Expunges, View};
use super::ImapSession;
use crate::mailbox::{Content, FetchedMessage, MailboxReply, MailboxRequest, Transfer};
use crate::session::Output;
use crate::store::{FlagMode, Flags, SystemFlags, Uid};

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

impl ImapSession {
    pub(super) fn expunge(&mut self, tag: Tag, set: Option<SequenceSet<cmd::Uid>>) {
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
    pub(super) fn targets<T: Copy + Into<u32>>(
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

    pub(super) fn fetch<T: Copy + Into<u32>>(
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

    pub(super) fn next_fetch(&mut self, mut job: FetchJob) {
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

    /// One batch's FETCH responses, written to `out` (bodies spliced in, not copied).
    pub(super) fn fetched(
        &mut self,
        job: &mut FetchJob,
        messages: &[FetchedMessage],
        out: &mut Output,
    ) {
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
                out,
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

    pub(super) fn store<T: Copy + Into<u32>>(
        &mut self,
        tag: Tag,
        addressing: Addressing,
        s: cmd::Store<T>,
    ) {
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

    pub(super) fn transfer<T: Copy + Into<u32>>(
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

    pub(super) fn search(&mut self, tag: Tag, addressing: Addressing, search: Search) {
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

    pub(super) fn candidate<'a>(
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

    pub(super) fn next_search(&mut self, mut job: SearchJob) {
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

    pub(super) fn searched(&mut self, job: &mut SearchJob, messages: &[FetchedMessage]) {
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

    pub(super) fn search_done(&mut self, job: SearchJob) {
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

    pub(super) fn stored(
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

    pub(super) fn transferred(
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

    pub(super) fn report_expunged(&mut self, uids: &[Uid]) {
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
