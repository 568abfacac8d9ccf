//! Message commands of the selected state (RFC 9051 §6.4): FETCH, STORE, COPY/MOVE,
//! EXPUNGE, SEARCH, SORT and THREAD (RFC 5256) over the selected view, asking the store for
//! messages in bounded batches.

use std::collections::VecDeque;
use std::sync::Arc;

use super::super::command::{
    self as cmd, FetchAttribute, Search, SearchReturn, SequenceSet, StoreAction, StoreReply, Tag,
};
use super::super::fetch::{self, FetchLine, RecentFlag};
use super::super::response::{Code, Response, Status};
use super::commands::{
    number_set, store_flags, store_name, Addressing, FetchJob, Pending, SearchJob,
};
use super::context::Context;
use super::qresync;
use super::search::{self, Candidate, Need};
use super::sort::{self, Order};
use super::view::{Dialect, Expunges, View};
use super::ImapSession;
use crate::mail::order::OrderFields;
use crate::mail::text::SearchText;
use crate::mail::{
    FlagMode, FlagUpdate, Flags, MessageMeta, MimeSummary, ModSeq, SystemFlags, Uid,
};
use crate::mailbox::{Content, FetchedMessage, MailboxReply, MailboxRequest, Transfer};
use crate::session::Output;

/// Messages per FETCH request: index data only, with the MIME summary, and with bytes (the
/// driver also stops a batch at [`crate::mailbox::BATCH_BYTES`] of message bytes).
const METADATA_BATCH: usize = 2048;
const ENVELOPE_BATCH: usize = 1024;
const SUMMARY_BATCH: usize = 512;
/// Header blocks are small: a batch of them is one combined read of nearby records.
const HEADER_BATCH: usize = 512;
const BYTES_BATCH: usize = 128;

/// What a search reads of each message, and whether the store's ordering keys stand in for
/// the envelopes and header blocks a SORT or THREAD would otherwise read: they do when the
/// criteria need no more than the index (`SORT (DATE) UTF-8 ALL`, `THREAD … UNSEEN`).
fn content_for(criteria: Need, order: &Order) -> (Content, bool) {
    let keyed = criteria <= Need::Metadata && order.need() >= Need::Summary;
    let need = if keyed {
        Need::Metadata
    } else {
        criteria.max(order.need())
    };
    let content = match need {
        Need::View | Need::Metadata => Content::Metadata,
        Need::Summary => Content::Envelope,
        Need::Header => Content::Header,
        Need::Bytes => Content::Bytes,
    };
    (content, keyed)
}

/// The next batch of `remaining` to ask for, so a FETCH or SEARCH of a large mailbox never
/// holds much of it in memory.
pub(super) fn next_batch(remaining: &mut VecDeque<Uid>, content: Content) -> Vec<Uid> {
    let limit = match content {
        Content::Metadata => METADATA_BATCH,
        Content::Envelope => ENVELOPE_BATCH,
        Content::Summary => SUMMARY_BATCH,
        Content::Header => HEADER_BATCH,
        Content::Bytes => BYTES_BATCH,
    };
    let n = limit.min(remaining.len());
    let mut batch: Vec<Uid> = remaining.drain(..n).collect();
    batch.sort_unstable();
    batch
}

/// `* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [ALL set] [COUNT n] [PARTIAL (…)]` (RFC 4731
/// §3.1, RFC 9394 §3.1) for `numbers` in result order, sets written by `set` (SEARCH's sorted
/// sets, or ESORT's ordered ones); MODSEQ and the line end are the caller's.
fn esearch_line(
    tag: &Tag,
    uid: bool,
    r: SearchReturn,
    numbers: &[u32],
    set: fn(&[u32]) -> String,
) -> String {
    let mut line = format!("* ESEARCH (TAG \"{tag}\")");
    if uid {
        line.push_str(" UID");
    }
    if let (true, Some(n)) = (r.min, numbers.first()) {
        line.push_str(&format!(" MIN {n}"));
    }
    if let (true, Some(n)) = (r.max, numbers.last()) {
        line.push_str(&format!(" MAX {n}"));
    }
    if r.all && !numbers.is_empty() {
        line.push_str(&format!(" ALL {}", set(numbers)));
    }
    if r.count {
        line.push_str(&format!(" COUNT {}", numbers.len()));
    }
    if let Some(range) = r.partial {
        line.push_str(&partial_data(range, range.page(numbers), set));
    }
    line
}

/// ` PARTIAL (range set)`, or `NIL` for an empty page (RFC 9394 §3.1).
fn partial_data(range: cmd::PartialRange, page: &[u32], set: fn(&[u32]) -> String) -> String {
    let results = if page.is_empty() {
        "NIL".to_string()
    } else {
        set(page)
    };
    format!(" PARTIAL ({range} {results})")
}

/// A sequence set that keeps the order of `numbers` (ESORT's ALL, RFC 5267 §3): only runs
/// ascending by one are written as ranges.
pub(super) fn ordered_set(numbers: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < numbers.len() {
        let mut j = i;
        while j + 1 < numbers.len() && numbers[j + 1] == numbers[j].wrapping_add(1) {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if j > i {
            out.push_str(&format!("{}:{}", numbers[i], numbers[j]));
        } else {
            out.push_str(&numbers[i].to_string());
        }
        i = j + 1;
    }
    out
}

/// Put the UIDs a batch left over back in front of `remaining`, in order.
pub(super) fn requeue(remaining: &mut VecDeque<Uid>, rest: Vec<Uid>) {
    for uid in rest.into_iter().rev() {
        remaining.push_front(uid);
    }
}

/// Message `seq` (UID `uid`) of `view` as a search sees it.
fn candidate<'a>(
    view: &'a View,
    seq: u32,
    uid: Uid,
    fetched: Option<&'a FetchedMessage>,
    parsed: Option<&'a mail_parser::Message<'a>>,
    text: Option<&'a SearchText>,
    now: i64,
) -> Candidate<'a> {
    Candidate {
        now,
        seq,
        count: view.count(),
        uid,
        recent: view.is_recent(uid),
        largest_uid: view.largest_uid(),
        fetched,
        parsed,
        text,
        text_known: false,
        saved: view.saved(),
    }
}

impl ImapSession {
    pub(super) fn expunge(&mut self, tag: Tag, set: Option<SequenceSet<Uid>>) {
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
        let uids = set.map(|s| view.by_uid(&s));
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
        let uids = match addressing {
            Addressing::Uid => view.by_uid(set),
            Addressing::Sequence => match view.by_sequence(set) {
                Some(uids) => uids,
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
        Some(uids)
    }

    pub(super) fn fetch<T: Copy + Into<u32>>(
        &mut self,
        tag: Tag,
        addressing: Addressing,
        set: SequenceSet<T>,
        items: cmd::FetchItems,
        modifiers: cmd::FetchModifiers,
    ) {
        if modifiers.vanished && !self.qresync {
            // RFC 7162 §3.2.6: VANISHED only once QRESYNC is enabled.
            self.send(Response::tagged(
                tag,
                Status::Bad,
                None,
                "QRESYNC is not enabled",
            ));
            return;
        }
        let Some(mut uids) = self.targets(&tag, addressing, &set) else {
            return;
        };
        if let Some(range) = modifiers.partial {
            // RFC 9394 §4: the page, by position among the set's messages in order.
            uids.sort_unstable();
            uids.dedup();
            uids = range.page(&uids).to_vec();
        }
        let mut attrs = items.attributes();
        let changed_since = modifiers.changed_since.map(ModSeq::get);
        if changed_since.is_some() && !attrs.contains(&FetchAttribute::ModSeq) {
            // RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ.
            attrs.push(FetchAttribute::ModSeq);
        }
        if attrs.contains(&FetchAttribute::ModSeq) {
            self.enable_condstore();
        }
        let content = fetch::content(&attrs);
        let job = FetchJob {
            tag,
            addressing,
            content,
            remaining: uids.into_iter().collect(),
            attrs,
            seen_now: Vec::new(),
            changed_since,
            unknown_encoding: false,
            after: None,
        };
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        match changed_since.filter(|_| modifiers.vanished) {
            Some(since) => {
                let within = qresync::uid_set_ranges(&set, view);
                self.fetch_vanished(job, within, since);
            }
            None => self.fetch_start(job),
        }
    }

    /// Set `\Seen` first if the FETCH implies it, then fetch batch after batch.
    pub(super) fn fetch_start(&mut self, job: FetchJob) {
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        if fetch::sets_seen(&job.attrs) && view.may_set_seen() && !job.remaining.is_empty() {
            // The store sets \Seen where it is missing and says where that was (those
            // messages' FETCH responses include FLAGS); nothing is written if none was.
            let request = MailboxRequest::Store {
                mailbox: view.name.clone(),
                uids: job.remaining.iter().copied().collect(),
                mode: FlagMode::Add,
                flags: Flags::system(SystemFlags::SEEN),
                unchanged_since: None,
            };
            self.request(Pending::Fetch(job), request);
            return;
        }
        self.next_fetch(job);
    }

    pub(super) fn next_fetch(&mut self, mut job: FetchJob) {
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        if job.remaining.is_empty() {
            if let Some(after) = job.after {
                return self.after_recheck(after, true);
            }
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
        let uids = next_batch(&mut job.remaining, job.content);
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
        let condstore = self.dialect().condstore;
        let Some(view) = self.selected.as_mut() else {
            return;
        };
        let shows_flags = job.attrs.contains(&FetchAttribute::Flags);
        for msg in messages {
            // A message expunged by another session but not yet reported keeps its number.
            let Some(seq) = view.seq(msg.meta.uid) else {
                continue;
            };
            if job.changed_since.is_some_and(|c| msg.meta.modseq.0 <= c) {
                continue;
            }
            if !fetch::binary_decodable(msg, &job.attrs) {
                job.unknown_encoding = true;
                continue;
            }
            let with_flags = job.seen_now.binary_search(&msg.meta.uid).is_ok();
            // A keyword another session set after the snapshot, its change not yet
            // reported: the client hears of the keyword first (RFC 9051 §7.3.5).
            if (shows_flags || with_flags) && view.learn(&msg.meta.flags) {
                view.write_new_keywords(&mut self.out);
            }
            fetch::fetch_line(
                out,
                &FetchLine {
                    seq,
                    msg,
                    attrs: &job.attrs,
                    with_uid: job.addressing == Addressing::Uid,
                    recent: rev1 && view.is_recent(msg.meta.uid),
                    with_flags,
                    condstore,
                    uid_only: self.uid_only,
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
        // RFC 7162 §3.1.3: UNCHANGEDSINCE leaves messages changed since alone; the store
        // checks it when it applies the change, so nothing can change in between.
        let unchanged_since = s.unchanged_since;
        let mailbox = view.name.clone();
        if unchanged_since.is_some() {
            self.enable_condstore();
        }
        let pending = Pending::Store {
            tag,
            addressing,
            reply: s.reply,
        };
        if uids.is_empty() {
            self.resume(pending, MailboxReply::Flags(FlagUpdate::default()));
            return;
        }
        let request = MailboxRequest::Store {
            mailbox,
            uids,
            mode,
            flags: store_flags(&s.flags),
            unchanged_since,
        };
        self.request(pending, request);
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

    /// SEARCH, and SORT and THREAD (`order`), which search the same way and keep a compact
    /// record of each match for ordering it at the end.
    pub(super) fn search(
        &mut self,
        tag: Tag,
        addressing: Addressing,
        mut search: Search,
        order: Order,
    ) {
        if !self.check_update(&tag, &mut search) {
            return;
        }
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        let (content, keyed) = content_for(search::need(&search.criteria), &order);
        let content = match search::need(&search.criteria).max(order.need()) {
            Need::View => {
                let matched: Vec<Uid> = view
                    .uids()
                    .zip(1..)
                    .filter(|&(uid, seq)| {
                        search::matches_all(
                            &search.criteria,
                            // Keys that need the clock need the store's reply too.
                            &candidate(view, seq, uid, None, None, None, 0),
                        )
                    })
                    .map(|(uid, _)| uid)
                    .collect();
                let job = SearchJob {
                    tag,
                    addressing,
                    search,
                    content: Content::Metadata,
                    remaining: VecDeque::new(),
                    matched,
                    order,
                    records: Vec::new(),
                    modseqs: Vec::new(),
                    total: 0,
                    reported: 0,
                    text_known: false,
                    keyed: false,
                };
                self.search_done(job);
                return;
            }
            _ => content,
        };
        let job = SearchJob {
            tag,
            addressing,
            search,
            content,
            remaining: view.uids().collect(),
            matched: Vec::new(),
            order,
            records: Vec::new(),
            modseqs: Vec::new(),
            total: view.count() as usize,
            reported: 0,
            text_known: false,
            keyed,
        };
        if !search::text_queries(&job.search.criteria).is_empty() {
            self.ask_text_index(job);
            return;
        }
        self.next_search(job);
    }

    /// Ask the full-text index which messages can match the search's BODY / TEXT keys.
    fn ask_text_index(&mut self, job: SearchJob) {
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        let request = MailboxRequest::TextSearch {
            mailbox: view.name.clone(),
            queries: search::text_queries(&job.search.criteria),
        };
        self.request(Pending::TextSearch(job), request);
    }

    /// The mailbox's first text search is building its index: say how far it is (RFC 9585,
    /// at most every twentieth of the way, as the reading of messages does) and ask again.
    pub(super) fn text_indexing(&mut self, mut job: SearchJob, done: usize, total: usize) {
        let step = done * 20 / total.max(1);
        if done > 0 && step > job.reported {
            job.reported = step;
            let line = format!(
                "* OK [INPROGRESS (\"{}\" {done} {total})] Indexing\r\n",
                job.tag
            );
            self.out.extend_from_slice(line.as_bytes());
        }
        self.ask_text_index(job);
    }

    /// The full-text index's answer for a search's BODY / TEXT keys: read only the messages
    /// it names, and none at all for those keys when its answer is exact.
    pub(super) fn narrowed(&mut self, mut job: SearchJob, answer: Option<(Vec<Uid>, bool)>) {
        if let Some((candidates, exact)) = answer {
            job.remaining
                .retain(|uid| candidates.binary_search(uid).is_ok());
            job.total = job.remaining.len();
            if exact && !search::nested_text(&job.search.criteria) {
                job.text_known = true;
                let need = search::need_besides_text(&job.search.criteria).max(job.order.need());
                if need == Need::View {
                    // Nothing else to ask the store: the view answers the other keys.
                    if let Some(view) = self.selected.as_ref() {
                        let criteria = &job.search.criteria;
                        job.matched = std::mem::take(&mut job.remaining)
                            .into_iter()
                            .filter(|&uid| {
                                view.seq(uid).is_some_and(|seq| {
                                    let mut c = candidate(view, seq, uid, None, None, None, 0);
                                    c.text_known = true;
                                    search::matches_all(criteria, &c)
                                })
                            })
                            .collect();
                    }
                    self.search_done(job);
                    return;
                }
                let criteria = search::need_besides_text(&job.search.criteria);
                (job.content, job.keyed) = content_for(criteria, &job.order);
            }
        }
        self.next_search(job);
    }

    pub(super) fn next_search(&mut self, mut job: SearchJob) {
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        if job.remaining.is_empty() {
            self.search_done(job);
            return;
        }
        // RFC 9585: a search that takes several batches says how far it is, at most once
        // every twentieth of the way, so a client can show progress (or know it is alive).
        let done = job.total.saturating_sub(job.remaining.len());
        let step = done * 20 / job.total.max(1);
        if done > 0 && step > job.reported {
            job.reported = step;
            let line = format!(
                "* OK [INPROGRESS (\"{}\" {done} {})] Searching\r\n",
                job.tag, job.total
            );
            self.out.extend_from_slice(line.as_bytes());
        }
        let uids = next_batch(&mut job.remaining, job.content);
        let request = if job.keyed {
            MailboxRequest::Order {
                mailbox: view.name.clone(),
                uids,
                references: job.order.references(),
            }
        } else {
            MailboxRequest::Fetch {
                mailbox: view.name.clone(),
                uids,
                content: job.content,
            }
        };
        self.request(Pending::Search(job), request);
    }

    /// A batch of a SORT or THREAD whose criteria need only the index: each message's
    /// index data and the ordering keys the store keeps.
    pub(super) fn searched_in_order(
        &mut self,
        job: &mut SearchJob,
        messages: Vec<(MessageMeta, Arc<OrderFields>)>,
        now: i64,
    ) {
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        for (meta, keys) in messages {
            let Some(seq) = view.seq(meta.uid) else {
                continue;
            };
            let msg = FetchedMessage {
                meta,
                summary: MimeSummary::default(),
                bytes: None,
            };
            let mut c = candidate(view, seq, msg.meta.uid, Some(&msg), None, None, now);
            // BODY / TEXT keys the full-text index answered exactly.
            c.text_known = job.text_known;
            if search::matches_all(&job.search.criteria, &c) {
                job.matched.push(msg.meta.uid);
                job.modseqs.push((msg.meta.uid, msg.meta.modseq.0));
                job.records.push(sort::Record::new(&msg.meta, keys));
            }
        }
    }

    pub(super) fn searched(&mut self, job: &mut SearchJob, messages: &[FetchedMessage], now: i64) {
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        // Parsed only for keys on header fields: THREAD fetches header blocks for References
        // alone, and reads that field itself. The text of BODY / TEXT keys is extracted only
        // when the full-text index did not answer them.
        let parse = search::need_besides_text(&job.search.criteria) >= search::Need::Header;
        let texts = !job.text_known && !search::text_queries(&job.search.criteria).is_empty()
            || search::nested_text(&job.search.criteria);
        for msg in messages {
            let Some(seq) = view.seq(msg.meta.uid) else {
                continue;
            };
            let parsed = msg
                .bytes
                .as_deref()
                .filter(|_| parse)
                .and_then(crate::mail::mime::parse_message);
            let text = Some(msg).filter(|_| texts).and_then(search::message_text);
            let mut c = candidate(
                view,
                seq,
                msg.meta.uid,
                Some(msg),
                parsed.as_ref(),
                text.as_ref(),
                now,
            );
            c.text_known = job.text_known;
            if search::matches_all(&job.search.criteria, &c) {
                job.matched.push(msg.meta.uid);
                job.modseqs.push((msg.meta.uid, msg.meta.modseq.0));
                if job.order != Order::None {
                    job.records.push(sort::record(&job.order, msg));
                }
            }
        }
    }

    pub(super) fn search_done(&mut self, job: SearchJob) {
        if job.order != Order::None {
            self.sort_done(job);
            return;
        }
        let Some(view) = self.selected.as_ref() else {
            return;
        };
        let mut numbers: Vec<u32> = match job.addressing {
            Addressing::Uid => job.matched.iter().map(|u| u.0).collect(),
            Addressing::Sequence => job.matched.iter().filter_map(|u| view.seq(*u)).collect(),
        };
        numbers.sort_unstable();
        let returns = job.search.returns;
        // RFC 7162 §3.1.5, RFC 4731 §3.2: a search with MODSEQ reports the highest modseq
        // of the messages it returns — with RETURN (MIN) and/or (MAX) alone, of those.
        let ends_only =
            returns.is_some_and(|r| (r.min || r.max) && !r.all && !r.count && r.partial.is_none());
        let returned: Option<Vec<Uid>> = returns.filter(|_| ends_only).map(|r| {
            let first = job.matched.iter().min().copied();
            let last = job.matched.iter().max().copied();
            [(r.min, first), (r.max, last)]
                .into_iter()
                .filter_map(|(wanted, uid)| uid.filter(|_| wanted))
                .collect()
        });
        let modseq = job
            .modseqs
            .iter()
            .filter(|(uid, _)| returned.as_ref().is_none_or(|r| r.contains(uid)))
            .map(|&(_, m)| m)
            .max()
            .filter(|_| search::mentions_modseq(&job.search.criteria));
        if modseq.is_some() {
            self.enable_condstore();
        }
        let save_only = returns.is_some_and(|r| {
            r.save && !(r.min || r.max || r.all || r.count || r.partial.is_some())
        });
        if let Some(r) = returns.filter(|r| r.save) {
            // RFC 5182 §2.1: with MIN and/or MAX alone, only those messages are saved; with
            // PARTIAL, the page returned.
            let mut saved = job.matched.clone();
            saved.sort_unstable();
            if let Some(range) = r.partial {
                saved = range.page(&saved).to_vec();
            } else if (r.min || r.max) && !r.all && !r.count {
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
                view.save(&saved);
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
            let r = if !(r.min || r.max || r.all || r.count || r.partial.is_some()) {
                SearchReturn { all: true, ..r }
            } else {
                r
            };
            let uid = job.addressing == Addressing::Uid;
            let mut line = esearch_line(&job.tag, uid, r, &numbers, number_set);
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
        if returns.is_some_and(|r| r.update) {
            let uid = job.addressing == Addressing::Uid;
            let context = Context::search(job.tag.clone(), uid, job.search.criteria, &job.matched);
            if let Some(view) = self.selected.as_mut() {
                view.contexts.add(context);
            }
        }
        let expunges = job.addressing.expunges();
        self.finish(job.tag, Status::Ok, None, "SEARCH completed", expunges);
    }

    /// The end of SORT (RFC 5256 §4 `* SORT`, or ESORT's `* ESEARCH`, RFC 5267 §3) or
    /// THREAD (`* THREAD`): the records put in order, answered in this command's numbers.
    fn sort_done(&mut self, mut job: SearchJob) {
        let mut records = std::mem::take(&mut job.records);
        let modseq = job
            .modseqs
            .iter()
            .map(|&(_, m)| m)
            .max()
            .filter(|_| search::mentions_modseq(&job.search.criteria));
        let Some(view) = self.selected.as_mut() else {
            return;
        };
        let addressing = job.addressing;
        let mut line = String::new();
        let text = match &job.order {
            Order::Thread(algorithm) => {
                let forest = sort::thread(&mut records, *algorithm);
                let number = |uid: Uid| match addressing {
                    Addressing::Uid => Some(uid.0),
                    Addressing::Sequence => view.seq(uid),
                };
                let threads = sort::encode(&forest, &records, number);
                line.push_str("* THREAD");
                if !threads.is_empty() {
                    line.push(' ');
                    line.push_str(&threads);
                }
                line.push_str("\r\n");
                "THREAD completed"
            }
            Order::Sort(criteria) => {
                sort::sort(&mut records, criteria);
                if job.search.returns.is_some_and(|r| r.update) {
                    view.contexts.add(Context::sort(
                        job.tag.clone(),
                        addressing == Addressing::Uid,
                        job.search.criteria.clone(),
                        criteria.clone(),
                        &records,
                    ));
                }
                let uids: Vec<Uid> = records.iter().map(|r| r.uid).collect();
                let numbers: Vec<u32> = uids
                    .iter()
                    .filter_map(|&uid| match addressing {
                        Addressing::Uid => Some(uid.0),
                        Addressing::Sequence => view.seq(uid),
                    })
                    .collect();
                match job.search.returns {
                    None => {
                        line.push_str("* SORT");
                        for n in &numbers {
                            line.push_str(&format!(" {n}"));
                        }
                        if let Some(m) = modseq {
                            line.push_str(&format!(" (MODSEQ {m})"));
                        }
                        line.push_str("\r\n");
                    }
                    Some(r) => {
                        // RFC 5267 §3: MIN and MAX are the first and last in sort order.
                        let ends_only =
                            (r.min || r.max) && !r.all && !r.count && r.partial.is_none();
                        if r.save {
                            // RFC 5182 §2.1 with RFC 5267 §3: `$` is the set of what the
                            // command returns (with MIN and/or MAX alone, only those).
                            let mut saved: Vec<Uid> = if let Some(range) = r.partial {
                                range.page(&uids).to_vec()
                            } else if ends_only {
                                [(r.min, uids.first()), (r.max, uids.last())]
                                    .into_iter()
                                    .filter_map(|(wanted, u)| u.copied().filter(|_| wanted))
                                    .collect()
                            } else {
                                uids.clone()
                            };
                            saved.sort_unstable();
                            saved.dedup();
                            view.save(&saved);
                        }
                        if r.min || r.max || r.all || r.count || r.partial.is_some() {
                            let uid = addressing == Addressing::Uid;
                            line.push_str(&esearch_line(&job.tag, uid, r, &numbers, ordered_set));
                            let returned_modseq = if ends_only {
                                let ends = [(r.min, uids.first()), (r.max, uids.last())];
                                job.modseqs
                                    .iter()
                                    .filter(|(u, _)| ends.iter().any(|(w, e)| *w && *e == Some(u)))
                                    .map(|&(_, m)| m)
                                    .max()
                                    .filter(|_| modseq.is_some())
                            } else {
                                modseq
                            };
                            if let Some(m) = returned_modseq {
                                line.push_str(&format!(" MODSEQ {m}"));
                            }
                            line.push_str("\r\n");
                        }
                    }
                }
                "SORT completed"
            }
            Order::None => "SEARCH completed",
        };
        self.out.extend_from_slice(line.as_bytes());
        if modseq.is_some() {
            self.enable_condstore();
        }
        self.finish(job.tag, Status::Ok, None, text, addressing.expunges());
    }

    /// A STORE's flag changes: remembered (so the feed's echo is not reported again), and
    /// unless `.SILENT`, every message's flags (RFC 9051 §6.4.6); the `[MODIFIED]` code of
    /// the UNCHANGEDSINCE failures (RFC 7162 §3.1.3), in this command's kind of numbers.
    pub(super) fn stored(
        &mut self,
        addressing: Addressing,
        reply: StoreReply,
        update: FlagUpdate,
    ) -> Option<Code> {
        let Dialect {
            rev1,
            condstore,
            uid_only,
            ..
        } = self.dialect();
        let view = self.selected.as_mut()?;
        let mut new_keywords = false;
        for (uid, flags, modseq) in &update.changed {
            view.stored(*uid, *modseq);
            new_keywords |= view.learn(flags);
        }
        for (_, flags, _) in &update.unchanged {
            new_keywords |= view.learn(flags);
        }
        if new_keywords {
            // RFC 9051 §7.3.5: the new FLAGS before any FETCH that shows the keyword (sent
            // with .SILENT too: the client's list of flags must stay right).
            view.write_new_keywords(&mut self.out);
        }
        let modified: Vec<u32> = update
            .modified
            .iter()
            .filter_map(|u| match addressing {
                Addressing::Uid => Some(u.0),
                Addressing::Sequence => view.seq(*u),
            })
            .collect();
        if reply == StoreReply::Silent && condstore {
            // RFC 7162 §3.1.3: with CONDSTORE, even a .SILENT STORE sends each changed
            // message's new MODSEQ, so the client's cache stays right.
            let mut changed = update.changed;
            changed.sort_unstable_by_key(|l| l.0);
            for (uid, _, modseq) in changed {
                let Some(seq) = view.seq(uid) else {
                    continue;
                };
                let line = match addressing {
                    _ if uid_only => format!("* {} UIDFETCH (MODSEQ ({}))\r\n", uid.0, modseq.0),
                    Addressing::Uid => {
                        format!("* {seq} FETCH (UID {} MODSEQ ({}))\r\n", uid.0, modseq.0)
                    }
                    Addressing::Sequence => format!("* {seq} FETCH (MODSEQ ({}))\r\n", modseq.0),
                };
                self.out.extend_from_slice(line.as_bytes());
            }
        } else if reply != StoreReply::Silent {
            let mut lines = update.changed;
            lines.extend(update.unchanged);
            lines.sort_unstable_by_key(|l| l.0);
            for (uid, flags, modseq) in lines {
                let Some(seq) = view.seq(uid) else {
                    continue;
                };
                let mut line = if uid_only {
                    format!("* {} UIDFETCH (", uid.0)
                } else {
                    format!("* {seq} FETCH (")
                };
                if addressing == Addressing::Uid && !uid_only {
                    line.push_str(&format!("UID {} ", uid.0));
                }
                line.push_str("FLAGS ");
                self.out.extend_from_slice(line.as_bytes());
                fetch::flag_list(
                    &mut self.out,
                    &flags,
                    RecentFlag::shown_if(rev1 && view.is_recent(uid)),
                );
                if condstore {
                    let modseq = format!(" MODSEQ ({})", modseq.0);
                    self.out.extend_from_slice(modseq.as_bytes());
                }
                self.out.extend_from_slice(b")\r\n");
            }
        }
        (!modified.is_empty()).then(|| Code::Modified(number_set(&modified)))
    }

    pub(super) fn transferred(
        &mut self,
        tag: Tag,
        transfer: Transfer,
        uid_validity: u32,
        pairs: Vec<(Uid, Uid)>,
        source_modseq: ModSeq,
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
                let code = self.expunged_modseq(source_modseq);
                self.finish(tag, Status::Ok, code, "MOVE completed", Expunges::Report);
            }
        }
    }

    /// After an expunge this session made: with QRESYNC the tagged OK carries the mailbox's
    /// new HIGHESTMODSEQ (as Dovecot's does), so the client's cached modseq moves past its own
    /// expunge without another resync.
    pub(super) fn expunged_modseq(&mut self, highest: ModSeq) -> Option<Code> {
        let view = self.selected.as_mut()?;
        view.highest_modseq = view.highest_modseq.max(highest);
        self.qresync.then_some(Code::HighestModSeq(highest.0))
    }

    pub(super) fn report_expunged(&mut self, uids: &[Uid]) {
        let Some(view) = self.selected.as_mut() else {
            return;
        };
        // Highest first, so each number is still the one the client knows; the contexts'
        // REMOVEFROM lines go out first (RFC 5267 §4.3.4).
        let mut uids = uids.to_vec();
        uids.sort_unstable_by(|a, b| b.cmp(a));
        let seqs = view.remove_all(&uids, &mut self.out);
        if self.qresync || self.uid_only {
            // RFC 7162 §3.2.10, RFC 9586 §3: one `* VANISHED` line instead of EXPUNGEs.
            let mut gone: Vec<Uid> = uids
                .iter()
                .zip(&seqs)
                .filter(|(_, seq)| seq.is_some())
                .map(|(u, _)| *u)
                .collect();
            gone.reverse();
            qresync::write_vanished(&mut self.out, &qresync::ranges_of(&gone), false);
            return;
        }
        for seq in seqs.into_iter().flatten() {
            self.out
                .extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
        }
    }
}
