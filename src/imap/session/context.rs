//! Search contexts (RFC 5267 §4, CONTEXT=SEARCH and CONTEXT=SORT): the results of the
//! SEARCH and SORT commands sent with `RETURN (UPDATE)`, kept up to date for as long as the
//! mailbox stays selected, or until CANCELUPDATE. What changes in them is told with
//! `* ESEARCH (TAG "t") [UID] ADDTO (position set …) REMOVEFROM (position set …)`.
//!
//! A context is held by the selected [`super::view::View`] and dies with it. It keeps its
//! result: a SEARCH result as a set of UIDs (positions are always 0, RFC 5267 §4.3.3: the
//! client keeps the result in mailbox order), a SORT result in sort order with the few
//! fields its criteria compare for each message ([`SortKeys`]), so a new match is placed
//! without reading the others again.
//!
//! Changes reach a context in two ways:
//! - an expunge is certain: its REMOVEFROM is written by the view as it applies the expunge,
//!   and for a context in message numbers just before the `* n EXPUNGE` (or `* VANISHED`)
//!   that retires the number (RFC 5267 §4.3.4);
//! - a new message, a flag change (another session's or this one's), and a change of the
//!   largest UID (what `*` means in a UID set) make the message one to *recheck*: the session
//!   reads what the criteria need of it from the store once the change has been told (so an
//!   ADDTO in message numbers comes after its EXISTS, RFC 5267 §4.3.3), evaluates the
//!   criteria again, and tells what moved in or out.
//!
//! Criteria whose truth can change without any change to the message are not kept: message
//! sequence numbers (renumbered by every expunge), `$` (replaced by the next SAVE) and
//! YOUNGER/OLDER (true or false as the clock runs). Such an UPDATE is refused with
//! `* NO [NOUPDATE "tag"]` (RFC 5267 §4.3.1), as is one beyond `[imap] max_search_contexts`;
//! the command still answers its other return options.

use std::collections::{BTreeSet, HashMap, VecDeque};

use super::super::command::{Search, SearchKey, SeqBound, SeqItem, SortCriterion, Tag};
use super::super::response::{Code, Response, Status};
use super::commands::{number_set, Pending};
use super::messages::ordered_set;
use super::messages::{next_batch, requeue};
use super::search::{self, Candidate, Need};
use super::sort::{self, Order, SortKeys};
use super::uidset::UidSet;
use super::view::Expunges;
use super::{ImapSession, State, Wait};
use crate::mail::Uid;
use crate::mailbox::FetchedMessage;
use crate::mailbox::{Content, MailboxReply, MailboxRequest};

/// Why criteria cannot be kept up to date, as the NOUPDATE text says it; `None` if they can.
pub fn not_updatable(keys: &[SearchKey]) -> Option<&'static str> {
    let saved = |items: &[SeqItem<_>]| items.iter().any(|i| matches!(i, SeqItem::Saved));
    keys.iter().find_map(|k| match k {
        SearchKey::Sequence(set) if saved(set.items()) => {
            Some("Searches by $ are not kept up to date")
        }
        SearchKey::Sequence(_) => Some("Searches by message number are not kept up to date"),
        SearchKey::Uid(set) if set.items().iter().any(|i| matches!(i, SeqItem::Saved)) => {
            Some("Searches by $ are not kept up to date")
        }
        SearchKey::Younger(_) | SearchKey::Older(_) => {
            Some("Searches by age are not kept up to date")
        }
        SearchKey::Not(k) => not_updatable(std::slice::from_ref(k)),
        SearchKey::Or(a, b) => not_updatable(std::slice::from_ref(a))
            .or_else(|| not_updatable(std::slice::from_ref(b))),
        SearchKey::And(keys) => not_updatable(keys),
        _ => None,
    })
}

/// Whether the criteria read flags or modseqs (a flag change may move a message in or out).
fn reads_flags(keys: &[SearchKey]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::Answered
        | SearchKey::Deleted
        | SearchKey::Draft
        | SearchKey::Flagged
        | SearchKey::Seen
        | SearchKey::Unanswered
        | SearchKey::Undeleted
        | SearchKey::Undraft
        | SearchKey::Unflagged
        | SearchKey::Unseen
        | SearchKey::New
        | SearchKey::Keyword(_)
        | SearchKey::Unkeyword(_)
        | SearchKey::ModSeq { .. } => true,
        SearchKey::Not(k) => reads_flags(std::slice::from_ref(k)),
        SearchKey::Or(a, b) => {
            reads_flags(std::slice::from_ref(a)) || reads_flags(std::slice::from_ref(b))
        }
        SearchKey::And(keys) => reads_flags(keys),
        _ => false,
    })
}

/// Whether a UID set of the criteria says `*` (the largest UID, which moves).
fn reads_largest(keys: &[SearchKey]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::Uid(set) => set.items().iter().any(|i| match i {
            SeqItem::One(b) => matches!(b, SeqBound::Largest),
            SeqItem::Range(a, b) => {
                matches!(a, SeqBound::Largest) || matches!(b, SeqBound::Largest)
            }
            SeqItem::Saved => false,
        }),
        SearchKey::Not(k) => reads_largest(std::slice::from_ref(k)),
        SearchKey::Or(a, b) => {
            reads_largest(std::slice::from_ref(a)) || reads_largest(std::slice::from_ref(b))
        }
        SearchKey::And(keys) => reads_largest(keys),
        _ => false,
    })
}

/// A context's result.
#[derive(Debug)]
enum Kept {
    /// SEARCH: the matching UIDs.
    Search(BTreeSet<Uid>),
    /// SORT: the matching UIDs in sort order, and what places each.
    Sort {
        criteria: Vec<SortCriterion>,
        order: Vec<Uid>,
        keys: HashMap<Uid, SortKeys>,
    },
}

/// One change to a context's result, as ADDTO or REMOVEFROM carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Update {
    add: bool,
    /// 1-based position in a SORT result; 0 for a SEARCH result.
    position: u32,
    /// A UID or a message number, as the searching command used.
    number: u32,
}

/// One kept search (RFC 5267 §4.3).
#[derive(Debug)]
pub struct Context {
    tag: Tag,
    /// UID SEARCH or UID SORT: updates name UIDs, not message numbers.
    uid: bool,
    criteria: Vec<SearchKey>,
    /// What evaluating the criteria (and placing a SORT match) needs of a message.
    need: Need,
    reads_flags: bool,
    reads_largest: bool,
    kept: Kept,
    /// Messages to evaluate again.
    recheck: BTreeSet<Uid>,
    /// Updates not yet written.
    updates: Vec<Update>,
}

impl Context {
    /// The context of a SEARCH whose result is `matched`.
    pub fn search(tag: Tag, uid: bool, criteria: Vec<SearchKey>, matched: &[Uid]) -> Context {
        let kept = Kept::Search(matched.iter().copied().collect());
        Context::new(tag, uid, criteria, Need::View, kept)
    }

    /// The context of a SORT whose result is `records`, in sort order.
    pub fn sort(
        tag: Tag,
        uid: bool,
        criteria: Vec<SearchKey>,
        sort_criteria: Vec<SortCriterion>,
        records: &[sort::Record],
    ) -> Context {
        let order = records.iter().map(|r| r.uid).collect();
        let keys = records
            .iter()
            .map(|r| (r.uid, sort::sort_keys(r, &sort_criteria)))
            .collect();
        let need = Order::Sort(sort_criteria.clone()).need();
        let kept = Kept::Sort {
            criteria: sort_criteria,
            order,
            keys,
        };
        Context::new(tag, uid, criteria, need, kept)
    }

    fn new(tag: Tag, uid: bool, criteria: Vec<SearchKey>, order_need: Need, kept: Kept) -> Self {
        Context {
            tag,
            uid,
            need: search::need(&criteria).max(order_need),
            reads_flags: reads_flags(&criteria),
            reads_largest: reads_largest(&criteria),
            criteria,
            kept,
            recheck: BTreeSet::new(),
            updates: Vec::new(),
        }
    }

    fn holds(&self, uid: Uid) -> bool {
        match &self.kept {
            Kept::Search(set) => set.contains(&uid),
            Kept::Sort { keys, .. } => keys.contains_key(&uid),
        }
    }

    /// Take `uid` out of the result, if there; the update says where it was.
    fn remove(&mut self, uid: Uid, number: u32) {
        let position = match &mut self.kept {
            Kept::Search(set) => {
                if !set.remove(&uid) {
                    return;
                }
                0
            }
            Kept::Sort {
                criteria,
                order,
                keys,
            } => {
                let Some(key) = keys.get(&uid) else {
                    return;
                };
                let found = order
                    .binary_search_by(|&u| {
                        let other = keys.get(&u).map_or(&[][..], |k| &k[..]);
                        sort::compare_keys((other, u), (key, uid), criteria)
                    })
                    .ok()
                    .or_else(|| order.iter().position(|&u| u == uid));
                keys.remove(&uid);
                let Some(at) = found else {
                    return;
                };
                order.remove(at);
                at as u32 + 1
            }
        };
        self.updates.push(Update {
            add: false,
            position,
            number,
        });
    }

    /// Put `uid` into the result (its place by `key` for a SORT result).
    fn insert(&mut self, uid: Uid, number: u32, key: Option<SortKeys>) {
        let position = match &mut self.kept {
            Kept::Search(set) => {
                if !set.insert(uid) {
                    return;
                }
                0
            }
            Kept::Sort {
                criteria,
                order,
                keys,
            } => {
                let Some(key) = key else {
                    return;
                };
                if keys.contains_key(&uid) {
                    return;
                }
                let at = order.partition_point(|&u| {
                    let other = keys.get(&u).map_or(&[][..], |k| &k[..]);
                    sort::compare_keys((other, u), (&key, uid), criteria).is_lt()
                });
                order.insert(at, uid);
                keys.insert(uid, key);
                at as u32 + 1
            }
        };
        self.updates.push(Update {
            add: true,
            position,
            number,
        });
    }

    /// `* ESEARCH (TAG "t") [UID] REMOVEFROM (…) ADDTO (…)` for the updates not yet written,
    /// in the order they were made (RFC 5267 §4.3.2: the client applies them in order).
    /// Consecutive updates of one kind share a data item; within it, a run that continues at
    /// the next position (ADDTO) or at the same one (REMOVEFROM) shares a pair.
    fn write_updates(&mut self, out: &mut Vec<u8>) {
        if self.updates.is_empty() {
            return;
        }
        let mut line = format!("* ESEARCH (TAG \"{}\")", self.tag);
        if self.uid {
            line.push_str(" UID");
        }
        let updates = std::mem::take(&mut self.updates);
        let sorted = matches!(self.kept, Kept::Sort { .. });
        let mut i = 0;
        while i < updates.len() {
            let add = updates[i].add;
            let mut j = i;
            while j < updates.len() && updates[j].add == add {
                j += 1;
            }
            line.push_str(if add { " ADDTO (" } else { " REMOVEFROM (" });
            line.push_str(&pairs(&updates[i..j], sorted));
            line.push(')');
            i = j;
        }
        line.push_str("\r\n");
        out.extend_from_slice(line.as_bytes());
    }
}

/// `position set *(SP position set)` for updates of one kind. SEARCH updates (position 0)
/// are one pair in mailbox order (RFC 5267 §4.3.3 recommends it, for the shortest set);
/// SORT updates keep their order, a set written so (only runs ascending by one as ranges).
fn pairs(updates: &[Update], sorted: bool) -> String {
    if !sorted {
        let mut numbers: Vec<u32> = updates.iter().map(|u| u.number).collect();
        numbers.sort_unstable();
        numbers.dedup();
        return format!("0 {}", number_set(&numbers));
    }
    let mut out = Vec::new();
    let mut k = 0;
    while k < updates.len() {
        let first = updates[k];
        let mut run = vec![first.number];
        let mut next = k + 1;
        while next < updates.len() {
            let u = updates[next];
            let continues = if first.add {
                u.position == first.position + run.len() as u32
            } else {
                u.position == first.position
            };
            if !continues {
                break;
            }
            run.push(u.number);
            next += 1;
        }
        out.push(format!("{} {}", first.position, ordered_set(&run)));
        k = next;
    }
    out.join(" ")
}

/// What the view tells a candidate message of itself (the parts of a
/// [`super::search::Candidate`] that are the view's).
pub struct ViewFacts<'a> {
    pub count: u32,
    pub largest_uid: u32,
    pub saved: &'a UidSet,
    pub seq: &'a dyn Fn(Uid) -> Option<u32>,
    pub recent: &'a dyn Fn(Uid) -> bool,
}

/// A message evaluated again for one context.
struct Verdict {
    uid: Uid,
    /// Its UID or message number, as the context names messages.
    number: u32,
    matches: bool,
    /// Where it goes in a SORT result it joins.
    key: Option<SortKeys>,
}

/// The contexts of the selected mailbox.
#[derive(Debug, Default)]
pub struct Contexts {
    list: Vec<Context>,
}

impl Contexts {
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether a context has this tag (RFC 5267 §4.3: reusing it is BAD).
    pub fn has(&self, tag: &Tag) -> bool {
        self.list.iter().any(|c| c.tag == *tag)
    }

    pub fn add(&mut self, context: Context) {
        self.list.push(context);
    }

    /// CANCELUPDATE (RFC 5267 §4.3.5): every tag must name a context, or none is cancelled;
    /// the first tag that names none otherwise.
    pub fn cancel<'a>(&mut self, tags: &'a [String]) -> Result<(), &'a str> {
        if let Some(unknown) = tags
            .iter()
            .find(|t| !self.list.iter().any(|c| c.tag.as_str() == t.as_str()))
        {
            return Err(unknown);
        }
        self.list
            .retain(|c| !tags.iter().any(|t| t.as_str() == c.tag.as_str()));
        Ok(())
    }

    /// A message arrived: every context looks at it.
    pub fn arrived(&mut self, uid: Uid) {
        for c in &mut self.list {
            c.recheck.insert(uid);
        }
    }

    /// A message's flags changed: the contexts whose criteria read flags look at it again.
    pub fn flags_changed(&mut self, uid: Uid) {
        for c in self.list.iter_mut().filter(|c| c.reads_flags) {
            c.recheck.insert(uid);
        }
    }

    /// The largest UID went from `old` to `new`: with `*` in a UID set, only those two
    /// messages can have moved in or out of a result.
    pub fn largest_changed(&mut self, old: Option<Uid>, new: Option<Uid>) {
        if old == new {
            return;
        }
        for c in self.list.iter_mut().filter(|c| c.reads_largest) {
            c.recheck.extend(old.into_iter().chain(new));
        }
    }

    /// Whether a context in message numbers holds `uid` (its REMOVEFROM must go out before
    /// the expunge that renumbers, so a pending `* VANISHED` is written first).
    pub fn numbers_hold(&self, uid: Uid) -> bool {
        self.list.iter().any(|c| !c.uid && c.holds(uid))
    }

    /// Message `uid`, number `seq`, is being expunged: out of every result. The REMOVEFROM
    /// is written with [`Contexts::write_updates`], before the expunge is told (RFC 5267
    /// §4.3.4), while `seq` is still the number the client knows.
    pub fn expunging(&mut self, uid: Uid, seq: u32) {
        for c in &mut self.list {
            c.recheck.remove(&uid);
            c.remove(uid, if c.uid { uid.0 } else { seq });
        }
    }

    /// Write every update not yet written.
    pub fn write_updates(&mut self, out: &mut Vec<u8>) {
        for c in &mut self.list {
            c.write_updates(out);
        }
    }

    /// The messages to look at again, ascending, and what of them the store must send (the
    /// most any context rechecking them needs); `None` when there are none.
    pub fn to_recheck(&self) -> Option<(Vec<Uid>, Need)> {
        let mut uids = BTreeSet::new();
        let mut need = Need::View;
        for c in self.list.iter().filter(|c| !c.recheck.is_empty()) {
            uids.extend(c.recheck.iter().copied());
            need = need.max(c.need);
        }
        (!uids.is_empty()).then(|| (uids.into_iter().collect(), need))
    }

    /// End the contexts that wait for a recheck (the store could not answer for them);
    /// their tags.
    pub fn end_rechecking(&mut self) -> Vec<Tag> {
        let (ended, kept) = std::mem::take(&mut self.list)
            .into_iter()
            .partition(|c| !c.recheck.is_empty());
        self.list = kept;
        ended.into_iter().map(|c: Context| c.tag).collect()
    }

    /// Evaluate the pending rechecks of `uids` again: with `messages` (what the store sent of
    /// them), or from the view alone when `messages` is `None` (every context rechecking
    /// them needs no more). A message the store did not send, or the view no longer has, is
    /// not looked at (it is gone, and its expunge is on its way); `uids` are done with either
    /// way. What moved is written to `out`.
    pub fn recheck(
        &mut self,
        uids: &[Uid],
        messages: Option<&[FetchedMessage]>,
        now: i64,
        view: &ViewFacts<'_>,
        out: &mut Vec<u8>,
    ) {
        let parse = self
            .list
            .iter()
            .any(|c| c.need >= Need::Header && !c.recheck.is_empty());
        // BODY / TEXT keys: the message's searchable text, extracted once.
        let texts = self
            .list
            .iter()
            .any(|c| c.need >= Need::Bytes && !c.recheck.is_empty());
        let mut verdicts: Vec<Vec<Verdict>> = self.list.iter().map(|_| Vec::new()).collect();
        let mut look = |uid: Uid, fetched: Option<&FetchedMessage>| {
            let Some(seq) = (view.seq)(uid) else {
                return;
            };
            let parsed = fetched
                .and_then(|m| m.bytes.as_deref())
                .filter(|_| parse)
                .and_then(crate::mail::mime::parse_message);
            let text = fetched.filter(|_| texts).and_then(search::message_text);
            let candidate = Candidate {
                seq,
                count: view.count,
                uid,
                recent: (view.recent)(uid),
                largest_uid: view.largest_uid,
                fetched,
                parsed: parsed.as_ref(),
                text: text.as_ref(),
                text_known: false,
                saved: view.saved,
                now,
            };
            for (c, verdict) in self.list.iter_mut().zip(verdicts.iter_mut()) {
                if !c.recheck.remove(&uid) {
                    continue;
                }
                if c.need > Need::View && fetched.is_none() {
                    continue;
                }
                let matches = search::matches_all(&c.criteria, &candidate);
                let key = match (&c.kept, fetched) {
                    (Kept::Sort { criteria, .. }, Some(m)) if matches && !c.holds(uid) => {
                        let record = sort::record(&Order::Sort(criteria.clone()), m);
                        Some(sort::sort_keys(&record, criteria))
                    }
                    _ => None,
                };
                let number = if c.uid { uid.0 } else { seq };
                verdict.push(Verdict {
                    uid,
                    number,
                    matches,
                    key,
                });
            }
        };
        match messages {
            Some(messages) => {
                for m in messages {
                    look(m.meta.uid, Some(m));
                }
            }
            None => {
                for &uid in uids {
                    look(uid, None);
                }
            }
        }
        for c in &mut self.list {
            for uid in uids {
                c.recheck.remove(uid);
            }
        }
        for (c, verdict) in self.list.iter_mut().zip(verdicts) {
            // What left the result first, then what joined it, each in mailbox order.
            for v in verdict.iter().filter(|v| !v.matches) {
                c.remove(v.uid, v.number);
            }
            for v in verdict.into_iter().filter(|v| v.matches) {
                c.insert(v.uid, v.number, v.key);
            }
            c.write_updates(out);
        }
    }
}

/// What the session does once the contexts are up to date.
#[derive(Debug)]
pub enum Then {
    /// Send a command's tagged reply.
    Reply(Response),
    /// Go on idling (RFC 9051 §6.3.13).
    Idle(Tag),
    /// Go on waiting for the next command (NOTIFY's notifications between commands).
    Resume,
}

/// Messages being read from the store to evaluate contexts again, a batch at a time.
#[derive(Debug)]
pub struct RecheckJob {
    remaining: VecDeque<Uid>,
    /// The batch asked for.
    batch: Vec<Uid>,
    content: Content,
    then: Then,
}

impl ImapSession {
    /// Bring the search contexts up to date with what the client has been told, then
    /// `then`. Criteria the view answers alone are evaluated at once; others ask the store
    /// for what they need of the messages, unless the session cannot wait for it now (a
    /// streamed APPEND literal is being dropped): those stay pending for the next command.
    pub(super) fn recheck_contexts(&mut self, then: Then) {
        let waiting = !matches!(self.wait, Wait::Nothing | Wait::Idle(_));
        let Some(view) = self.selected.as_mut() else {
            return self.after_recheck(then, false);
        };
        let Some((uids, need)) = view.contexts.to_recheck() else {
            return self.after_recheck(then, false);
        };
        let content = match need {
            Need::View => {
                view.recheck(&uids, None, 0, &mut self.out);
                return self.after_recheck(then, false);
            }
            _ if waiting || self.streamed > 0 || self.state == State::Logout => {
                return self.after_recheck(then, false);
            }
            Need::Metadata => Content::Metadata,
            Need::Summary => Content::Envelope,
            Need::Header => Content::Header,
            Need::Bytes => Content::Bytes,
        };
        let job = RecheckJob {
            remaining: uids.into(),
            batch: Vec::new(),
            content,
            then,
        };
        self.next_recheck(job);
    }

    fn next_recheck(&mut self, mut job: RecheckJob) {
        let Some(view) = self.selected.as_ref() else {
            return self.after_recheck(job.then, true);
        };
        if job.remaining.is_empty() {
            return self.after_recheck(job.then, true);
        }
        let uids = next_batch(&mut job.remaining, job.content);
        job.batch = uids.clone();
        let request = MailboxRequest::Fetch {
            mailbox: view.name.clone(),
            uids,
            content: job.content,
        };
        self.request(Pending::Recheck(job), request);
    }

    /// The store's answer for a batch of messages to evaluate again.
    pub(super) fn rechecked(&mut self, mut job: RecheckJob, reply: MailboxReply) {
        let Some(view) = self.selected.as_mut() else {
            return self.after_recheck(job.then, true);
        };
        match reply {
            MailboxReply::Fetched {
                messages,
                rest,
                now,
            } => {
                let done: Vec<Uid> = job
                    .batch
                    .iter()
                    .copied()
                    .filter(|u| !rest.contains(u))
                    .collect();
                view.recheck(&done, Some(&messages), now, &mut self.out);
                requeue(&mut job.remaining, rest);
                self.next_recheck(job);
            }
            other => {
                // The contexts cannot be brought up to date: they end, and the client is
                // told which (RFC 5267 §4.3.1's NOUPDATE, unsolicited).
                if let MailboxReply::Failed(e) = &other {
                    tracing::debug!(error = ?e, "search contexts not updated");
                } else {
                    tracing::error!(?other, "mismatched mailbox reply");
                }
                for tag in view.contexts.end_rechecking() {
                    self.send(Response::untagged(
                        Status::No,
                        Some(Code::NoUpdate(tag)),
                        "Search no longer kept up to date",
                    ));
                }
                self.after_recheck(job.then, true);
            }
        }
    }

    pub(super) fn after_recheck(&mut self, then: Then, asked_store: bool) {
        match then {
            Then::Reply(reply) => self.send(reply),
            Then::Idle(tag) => {
                self.wait = Wait::Idle(tag);
                if asked_store {
                    // What arrived while the store was asked.
                    self.idle_changes();
                }
            }
            Then::Resume => self.wait = Wait::Nothing,
        }
    }

    /// During IDLE, tell the client of every change now (RFC 9051 §6.3.13), and what it
    /// changes in the search contexts.
    pub(super) fn idle_changes(&mut self) {
        let Wait::Idle(tag) = &self.wait else {
            return;
        };
        let tag = tag.clone();
        self.flush_changes(Expunges::Report);
        self.recheck_contexts(Then::Idle(tag));
    }

    /// The tag of a searching command with UPDATE, or `None` after refusing it (BAD when a
    /// context has the tag already, RFC 5267 §4.3), or after refusing only the UPDATE with
    /// `* NO [NOUPDATE]` (RFC 5267 §4.3.1: the other return options are still answered).
    pub(super) fn check_update(&mut self, tag: &Tag, search: &mut Search) -> bool {
        let Some(returns) = search.returns.as_mut().filter(|r| r.update) else {
            return true;
        };
        let Some(view) = self.selected.as_ref() else {
            return true;
        };
        if view.contexts.has(tag) {
            self.send(Response::tagged(
                tag.clone(),
                Status::Bad,
                None,
                "Tag reuse: a search context has this tag",
            ));
            return false;
        }
        let refusal = if view.contexts.len() >= self.config.limits.max_search_contexts {
            Some("Too many search contexts")
        } else {
            not_updatable(&search.criteria)
        };
        if let Some(text) = refusal {
            returns.update = false;
            self.send(Response::untagged(
                Status::No,
                Some(Code::NoUpdate(tag.clone())),
                text,
            ));
        }
        true
    }

    /// CANCELUPDATE (RFC 5267 §4.3.5).
    pub(super) fn cancel_update(&mut self, tag: Tag, tags: &[String]) {
        let Some(view) = self.selected.as_mut() else {
            return;
        };
        match view.contexts.cancel(tags) {
            Ok(()) => self.ok(tag, "CANCELUPDATE completed"),
            Err(_) => self.finish(
                tag,
                Status::No,
                Some(Code::NonExistent),
                "No search context has that tag",
                Expunges::Report,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::imap::command::SortKey;

    fn tag(t: &str) -> Tag {
        Tag::parse(t.as_bytes()).unwrap()
    }

    fn written(c: &mut Context) -> String {
        let mut out = Vec::new();
        c.write_updates(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn sorted_context(uids_and_sizes: &[(u32, u32)]) -> Context {
        let criteria = vec![SortCriterion {
            key: SortKey::Size,
            reverse: false,
        }];
        let mut records: Vec<sort::Record> = uids_and_sizes
            .iter()
            .map(|&(u, size)| sort::Record {
                uid: Uid(u),
                size,
                ..sort::Record::default()
            })
            .collect();
        sort::sort(&mut records, &criteria);
        Context::sort(tag("S1"), true, vec![SearchKey::All], criteria, &records)
    }

    fn size_key(size: i64) -> Option<SortKeys> {
        Some(vec![sort::KeyPart::Number(size)].into_boxed_slice())
    }

    #[test]
    fn search_updates_are_position_zero_in_mailbox_order() {
        let mut c = Context::search(tag("B01"), true, vec![SearchKey::All], &[Uid(5)]);
        c.insert(Uid(9), 9, None);
        c.insert(Uid(7), 7, None);
        c.insert(Uid(8), 8, None);
        assert_eq!(
            written(&mut c),
            "* ESEARCH (TAG \"B01\") UID ADDTO (0 7:9)\r\n"
        );
        c.remove(Uid(5), 5);
        c.remove(Uid(4), 4); // not in the result: nothing
        assert_eq!(
            written(&mut c),
            "* ESEARCH (TAG \"B01\") UID REMOVEFROM (0 5)\r\n"
        );
        assert_eq!(written(&mut c), "");
    }

    #[test]
    fn sort_updates_name_positions_in_sort_order() {
        // Sizes: 10 → 100, 11 → 300, 12 → 200: order 10, 12, 11.
        let mut c = sorted_context(&[(10, 100), (11, 300), (12, 200)]);
        // 13 (size 250) goes between 12 and 11: position 3; 14 (size 50) first.
        c.insert(Uid(13), 13, size_key(250));
        c.insert(Uid(14), 14, size_key(50));
        assert_eq!(
            written(&mut c),
            "* ESEARCH (TAG \"S1\") UID ADDTO (3 13 1 14)\r\n"
        );
        // Order now 14, 10, 12, 13, 11. Two in a row from position 2.
        c.insert(Uid(15), 15, size_key(150));
        c.insert(Uid(16), 16, size_key(160));
        assert_eq!(
            written(&mut c),
            "* ESEARCH (TAG \"S1\") UID ADDTO (3 15:16)\r\n"
        );
        // Order 14, 10, 15, 16, 12, 13, 11: removing 15 and 16 is two at position 3.
        c.remove(Uid(15), 15);
        c.remove(Uid(16), 16);
        c.remove(Uid(11), 11);
        assert_eq!(
            written(&mut c),
            "* ESEARCH (TAG \"S1\") UID REMOVEFROM (3 15:16 5 11)\r\n"
        );
        c.insert(Uid(11), 11, size_key(300));
        c.remove(Uid(14), 14);
        assert_eq!(
            written(&mut c),
            "* ESEARCH (TAG \"S1\") UID ADDTO (5 11) REMOVEFROM (1 14)\r\n"
        );
    }

    #[test]
    fn equal_keys_order_by_uid() {
        let mut c = sorted_context(&[(10, 100), (12, 100)]);
        c.insert(Uid(11), 11, size_key(100));
        assert_eq!(
            written(&mut c),
            "* ESEARCH (TAG \"S1\") UID ADDTO (2 11)\r\n"
        );
    }

    #[test]
    fn updatable_criteria() {
        let seq = SearchKey::Sequence(
            crate::imap::command::SequenceSet::new(vec![SeqItem::One(SeqBound::Largest)]).unwrap(),
        );
        assert!(not_updatable(&[SearchKey::Seen]).is_none());
        assert!(not_updatable(&[SearchKey::Not(Box::new(seq.clone()))]).is_some());
        assert!(not_updatable(&[SearchKey::Or(
            Box::new(SearchKey::All),
            Box::new(SearchKey::Younger(5))
        )])
        .is_some());
        assert!(reads_flags(&[SearchKey::And(vec![SearchKey::Unseen])]));
        assert!(!reads_flags(&[SearchKey::Larger(5)]));
        let all = crate::imap::command::SequenceSet::new(vec![SeqItem::Range(
            SeqBound::Value(Uid(1)),
            SeqBound::Largest,
        )])
        .unwrap();
        assert!(reads_largest(&[SearchKey::Uid(all)]));
    }

    #[test]
    fn cancel_is_all_or_nothing() {
        let mut contexts = Contexts::default();
        contexts.add(Context::search(tag("A"), true, vec![SearchKey::All], &[]));
        contexts.add(Context::search(tag("B"), true, vec![SearchKey::All], &[]));
        assert_eq!(
            contexts.cancel(&["A".to_string(), "C".to_string()]),
            Err("C")
        );
        assert_eq!(contexts.len(), 2);
        assert_eq!(contexts.cancel(&["A".to_string()]), Ok(()));
        assert!(!contexts.has(&tag("A")) && contexts.has(&tag("B")));
    }
}
