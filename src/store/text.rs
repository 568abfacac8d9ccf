//! The per-account full-text index that IMAP `SEARCH BODY` / `TEXT` narrow with.
//!
//! # What it holds
//!
//! For each message it covers (a *document*: mailbox id and UID, which name the same bytes
//! forever, since UIDs and mailbox ids are never reused), the terms of its searchable text
//! ([`crate::mail::text`]): one dictionary for header blocks, one for bodies. A term's
//! postings are its documents' numbers, ascending, as delta varints.
//!
//! # How it answers
//!
//! Substring semantics (RFC 9051 §6.4.4) must hold, so a needle word is looked up as a
//! substring of the dictionary's terms: the terms sit in one byte string, separated by NUL,
//! and `memmem` finds every term containing the word at memory speed. A document matches a
//! needle when, for each of the needle's words, one of its terms contains the word. That is a
//! superset of the messages that match (a verification pass confirms them), and exactly the
//! matches when the needle is one word ([`crate::mail::text::Needle::exact`]).
//!
//! # Derived, never the truth
//!
//! The index is rebuilt from messages, never from itself: messages it does not cover yet
//! (appended since it last looked, or everything after its file was lost or found damaged)
//! are read and added before it answers ([`Store::text_search`]). Expunged documents stay
//! until the next write of the file drops them (their UIDs are gone from the mailbox, so no
//! answer names them). Its file (`<partition>/text/<account>.fts`, checksummed) is written
//! with the account's index, and is not part of backups: it is rebuilt on first search.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};

use std::rc::Rc;

use super::index::canonical_mailbox;
use super::io;
use super::partition::{escape, write_atomic, PartitionStore};
use super::Inner;
use super::{canonical_account, StoreError};
use crate::mail::text::{self, SearchText, TextQuery};
use crate::mail::{Change, MailboxId, Uid};

const MAGIC: &[u8; 8] = b"RPFTS001";

/// Which accounts keep a text index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullText {
    /// None: text searches read every message.
    Off,
    /// Accounts that searched text: built by the first search, then kept up to date in the
    /// background as mail arrives.
    Searched,
    /// Every account, in the background as mail arrives.
    All,
}

/// The file of `account`'s text index in a partition's directory.
pub(crate) fn path(dir: &Path, account: &str) -> PathBuf {
    dir.join("text").join(format!("{}.fts", escape(account)))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.at)?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.varint()?).ok()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
}

/// A term's documents.
#[derive(Default)]
struct Postings {
    /// Delta varints of ascending document numbers.
    bytes: Vec<u8>,
    last: u32,
    count: u32,
}

impl Postings {
    fn push(&mut self, doc: u32) {
        if self.count > 0 && self.last == doc {
            return;
        }
        let delta = if self.count == 0 {
            doc
        } else {
            doc - self.last
        };
        put_varint(&mut self.bytes, u64::from(delta));
        self.last = doc;
        self.count += 1;
    }

    fn for_each(&self, mut f: impl FnMut(u32)) {
        let mut r = Reader {
            bytes: &self.bytes,
            at: 0,
        };
        let mut doc = 0u32;
        for i in 0..self.count {
            let Some(d) = r.u32() else { return };
            doc = if i == 0 { d } else { doc.saturating_add(d) };
            f(doc);
        }
    }
}

/// Term `id` of a dictionary's `blob` (each term after a NUL, starting at `starts[id]`).
fn term_at<'a>(blob: &'a [u8], starts: &[u32], id: u32) -> &'a [u8] {
    let start = starts[id as usize] as usize;
    let end = starts
        .get(id as usize + 1)
        .map_or(blob.len(), |&s| s as usize - 1);
    &blob[start..end]
}

/// Terms and their postings.
#[derive(Default)]
struct Dictionary {
    /// `\0term\0term\0…`: every term is preceded by a NUL.
    blob: Vec<u8>,
    /// Where each term starts in `blob` (after its NUL).
    starts: Vec<u32>,
    postings: Vec<Postings>,
    /// Term ids by the term's bytes.
    table: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl Dictionary {
    fn term(&self, id: u32) -> &[u8] {
        term_at(&self.blob, &self.starts, id)
    }

    fn id(&mut self, term: &[u8]) -> u32 {
        let hash = self.hasher.hash_one(term);
        self.id_hashed(hash, term)
    }

    /// [`Dictionary::id`] with the term's hash already known.
    fn id_hashed(&mut self, hash: u64, term: &[u8]) -> u32 {
        let Dictionary {
            blob,
            starts,
            table,
            hasher,
            postings,
        } = self;
        let found = table.find(hash, |&id| term_at(blob, starts, id) == term);
        if let Some(&id) = found {
            return id;
        }
        let id = starts.len() as u32;
        blob.push(0);
        starts.push(blob.len() as u32);
        blob.extend_from_slice(term);
        postings.push(Postings::default());
        table.insert_unique(hash, id, |&id| hasher.hash_one(term_at(blob, starts, id)));
        id
    }

    /// Add `doc`'s terms of `folded`, each once however often the text repeats it: the
    /// document's distinct terms are found first (a small table of this text's own), so the
    /// dictionary and the postings are touched once per distinct term.
    fn add(&mut self, doc: u32, folded: &str, seen: &mut hashbrown::HashTable<(u64, u32, u32)>) {
        seen.clear();
        let base = folded.as_ptr() as usize;
        text::for_each_term(folded, |t| {
            let bytes = t.as_bytes();
            let hash = self.hasher.hash_one(bytes);
            let at = (t.as_ptr() as usize - base) as u32;
            let len = bytes.len() as u32;
            let known = seen.find(hash, |&(h, a, l)| {
                h == hash && l == len && &folded.as_bytes()[a as usize..(a + l) as usize] == bytes
            });
            if known.is_none() {
                seen.insert_unique(hash, (hash, at, len), |&(h, _, _)| h);
            }
        });
        for &(hash, at, len) in seen.iter() {
            let term = &folded.as_bytes()[at as usize..(at + len) as usize];
            let id = self.id_hashed(hash, term);
            self.postings[id as usize].push(doc);
        }
    }

    /// Set in `docs` every document with a term containing `word`.
    fn containing(&self, word: &str, docs: &mut [u64]) {
        let mut last = u32::MAX;
        for hit in memchr::memmem::find_iter(&self.blob, word.as_bytes()) {
            let id = self.starts.partition_point(|&s| s as usize <= hit) as u32 - 1;
            if id == last {
                continue;
            }
            last = id;
            self.postings[id as usize].for_each(|d| {
                if let Some(w) = docs.get_mut(d as usize / 64) {
                    *w |= 1 << (d % 64);
                }
            });
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.starts.len() as u64);
        for (id, p) in self.postings.iter().enumerate() {
            let term = self.term(id as u32);
            put_varint(out, term.len() as u64);
            out.extend_from_slice(term);
            put_varint(out, u64::from(p.count));
            put_varint(out, u64::from(p.last));
            put_varint(out, p.bytes.len() as u64);
            out.extend_from_slice(&p.bytes);
        }
    }

    fn decode(r: &mut Reader<'_>) -> Option<Dictionary> {
        let n = r.varint()?;
        let mut d = Dictionary::default();
        for _ in 0..n {
            let len = usize::try_from(r.varint()?).ok()?;
            let term = r.take(len)?;
            if term.contains(&0) {
                return None;
            }
            let count = r.u32()?;
            let last = r.u32()?;
            let plen = usize::try_from(r.varint()?).ok()?;
            let bytes = r.take(plen)?.to_vec();
            let id = d.id(term);
            if id as usize != d.postings.len() - 1 {
                return None; // a term twice
            }
            d.postings[id as usize] = Postings { bytes, last, count };
        }
        Some(d)
    }

    /// The dictionary with documents renumbered by `map` (`None`: dropped).
    fn renumbered(&self, map: &[Option<u32>]) -> Dictionary {
        let mut d = Dictionary::default();
        for (id, p) in self.postings.iter().enumerate() {
            let mut kept = Postings::default();
            p.for_each(|doc| {
                if let Some(Some(new)) = map.get(doc as usize) {
                    kept.push(*new);
                }
            });
            if kept.count > 0 {
                let new = d.id(self.term(id as u32));
                d.postings[new as usize] = kept;
            }
        }
        d
    }
}

/// One account's text index. See the module documentation.
#[derive(Default)]
pub struct TextIndex {
    /// Each document's mailbox and UID, by document number.
    docs: Vec<(MailboxId, u32)>,
    /// Per mailbox, its documents as (UID, document), ascending by UID.
    by_mailbox: HashMap<MailboxId, Vec<(u32, u32)>>,
    header: Dictionary,
    body: Dictionary,
    /// Changed since its file was written.
    pub(crate) dirty: bool,
}

impl TextIndex {
    /// Documents (expunged ones included until the next write drops them).
    pub fn docs(&self) -> usize {
        self.docs.len()
    }

    /// Distinct terms, header and body.
    pub fn terms(&self) -> usize {
        self.header.starts.len() + self.body.starts.len()
    }

    pub fn covers(&self, mailbox: MailboxId, uid: u32) -> bool {
        self.by_mailbox
            .get(&mailbox)
            .is_some_and(|v| v.binary_search_by_key(&uid, |&(u, _)| u).is_ok())
    }

    /// Add a message's text (nothing if it is covered already).
    pub fn add(&mut self, mailbox: MailboxId, uid: u32, t: &SearchText) {
        let list = self.by_mailbox.entry(mailbox).or_default();
        let Err(at) = list.binary_search_by_key(&uid, |&(u, _)| u) else {
            return;
        };
        let doc = self.docs.len() as u32;
        list.insert(at, (uid, doc));
        self.docs.push((mailbox, uid));
        let mut seen = hashbrown::HashTable::with_capacity(1024);
        self.header.add(doc, &text::fold(&t.header), &mut seen);
        for b in &t.bodies {
            self.body.add(doc, &text::fold(b), &mut seen);
        }
        self.dirty = true;
    }

    /// The UIDs of `mailbox` whose text may match every query: `None` when no query has a
    /// word to look for. Exactly the matches when every query is [`text::Needle::exact`].
    pub fn candidates(
        &self,
        mailbox: MailboxId,
        queries: &[text::TextQuery],
    ) -> Option<(Vec<u32>, bool)> {
        let words = self.docs.len().div_ceil(64);
        let mut all: Option<Vec<u64>> = None;
        let mut exact = true;
        for q in queries {
            let needle = text::needle(&q.needle);
            exact &= needle.exact;
            for word in &needle.words {
                let mut docs = vec![0u64; words];
                self.body.containing(word, &mut docs);
                if !q.body_only {
                    self.header.containing(word, &mut docs);
                }
                match all.as_mut() {
                    None => all = Some(docs),
                    Some(a) => a.iter_mut().zip(&docs).for_each(|(a, d)| *a &= d),
                }
            }
            if needle.words.is_empty() {
                exact = false;
            }
        }
        let all = all?;
        let uids = self
            .by_mailbox
            .get(&mailbox)
            .map(|list| {
                list.iter()
                    .filter(|&&(_, d)| all[d as usize / 64] & (1 << (d % 64)) != 0)
                    .map(|&(u, _)| u)
                    .collect()
            })
            .unwrap_or_default();
        Some((uids, exact))
    }

    /// Drop the documents `live` says are gone, when they are a quarter or more of all.
    pub fn prune(&mut self, live: impl Fn(MailboxId, u32) -> bool) {
        let keep: Vec<bool> = self.docs.iter().map(|&(m, u)| live(m, u)).collect();
        let dead = keep.iter().filter(|k| !**k).count();
        if dead == 0 || dead * 4 < self.docs.len() {
            return;
        }
        let mut map = Vec::with_capacity(self.docs.len());
        let mut docs = Vec::with_capacity(self.docs.len() - dead);
        for (i, k) in keep.iter().enumerate() {
            if *k {
                map.push(Some(docs.len() as u32));
                docs.push(self.docs[i]);
            } else {
                map.push(None);
            }
        }
        self.header = self.header.renumbered(&map);
        self.body = self.body.renumbered(&map);
        self.docs = docs;
        self.rebuild_mailboxes();
        self.dirty = true;
    }

    fn rebuild_mailboxes(&mut self) {
        self.by_mailbox.clear();
        for (doc, &(m, uid)) in self.docs.iter().enumerate() {
            self.by_mailbox
                .entry(m)
                .or_default()
                .push((uid, doc as u32));
        }
        for list in self.by_mailbox.values_mut() {
            list.sort_unstable();
        }
    }

    pub fn to_file_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        put_varint(&mut out, self.docs.len() as u64);
        for &(m, uid) in &self.docs {
            put_varint(&mut out, u64::from(m.0));
            put_varint(&mut out, u64::from(uid));
        }
        self.header.encode(&mut out);
        self.body.encode(&mut out);
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// The index a file holds; `None` when it is not one whole and intact.
    pub fn from_file_bytes(bytes: &[u8]) -> Option<TextIndex> {
        let body_len = bytes.len().checked_sub(4)?;
        let (body, crc) = bytes.split_at(body_len);
        if !body.starts_with(MAGIC) || crc32c::crc32c(body).to_le_bytes() != crc {
            return None;
        }
        let mut r = Reader {
            bytes: body,
            at: MAGIC.len(),
        };
        let n = r.varint()?;
        let mut docs = Vec::new();
        for _ in 0..n {
            docs.push((MailboxId(r.u32()?), r.u32()?));
        }
        let header = Dictionary::decode(&mut r)?;
        let body_dict = Dictionary::decode(&mut r)?;
        if r.at != body.len() {
            return None;
        }
        let mut index = TextIndex {
            docs,
            by_mailbox: HashMap::new(),
            header,
            body: body_dict,
            dirty: false,
        };
        index.rebuild_mailboxes();
        // A document named twice, or a posting past the last document, is damage.
        let n = index.docs.len();
        if index.by_mailbox.values().map(Vec::len).sum::<usize>() != n
            || index
                .by_mailbox
                .values()
                .any(|l| l.windows(2).any(|w| w[0].0 == w[1].0))
            || [&index.header, &index.body].iter().any(|d| {
                d.postings
                    .iter()
                    .any(|p| p.count > 0 && p.last as usize >= n)
            })
        {
            return None;
        }
        Some(index)
    }

    /// The index in `account`'s file, or an empty one when there is none or it is damaged
    /// (it is rebuilt from the messages, so damage costs time, never answers).
    pub fn load(dir: &Path, account: &str) -> TextIndex {
        match std::fs::read(path(dir, account)) {
            Ok(bytes) => TextIndex::from_file_bytes(&bytes).unwrap_or_else(|| {
                tracing::warn!(account, "text index file damaged: rebuilding it on search");
                TextIndex::default()
            }),
            Err(_) => TextIndex::default(),
        }
    }

    /// Write the index's file if it changed.
    pub fn save(&mut self, dir: &Path, account: &str) -> super::Result<u64> {
        if !self.dirty {
            return Ok(0);
        }
        std::fs::create_dir_all(dir.join("text"))?;
        let bytes = self.to_file_bytes();
        write_atomic(&path(dir, account), &bytes)?;
        self.dirty = false;
        Ok(bytes.len() as u64)
    }
}

/// Bytes of messages read and indexed per batch: between batches the shard serves others.
const INDEX_BATCH_BYTES: u64 = 1 << 20;

/// After a batch: queue the mailboxes that got new mail for their accounts' text indexes
/// (those that have one, or all with [`FullText::All`]) and start the partition's background
/// indexer if it is not running.
pub(crate) fn note_new_mail(
    inner: &Rc<Inner>,
    p: &Rc<PartitionStore>,
    events: &[(String, MailboxId, Change)],
) {
    let mode = inner.config.full_text_index;
    if mode == FullText::Off {
        return;
    }
    {
        let accounts = p.accounts.borrow();
        let mut pending = p.text_pending.borrow_mut();
        for (account, mailbox, change) in events {
            if !matches!(change, Change::Exists { .. }) {
                continue;
            }
            let indexed =
                mode == FullText::All || accounts.get(account).is_some_and(|a| a.text.is_some());
            if indexed && !pending.contains(&(account.clone(), *mailbox)) {
                pending.insert((account.clone(), *mailbox));
            }
        }
    }
    if p.text_indexing.get() || inner.closing.get() || p.text_pending.borrow().is_empty() {
        return;
    }
    p.text_indexing.set(true);
    let (store, p) = (
        super::Store {
            inner: inner.clone(),
        },
        p.clone(),
    );
    io::spawn_detached(async move {
        loop {
            if store.inner.closing.get() {
                break;
            }
            let next = p.text_pending.borrow_mut().pop_first();
            let Some((account, id)) = next else { break };
            let name = p.with_account(&account, |a| {
                a.index.mailbox_by_id(id).map(|m| m.name.clone())
            });
            // A mailbox deleted meanwhile has nothing to index.
            let Ok(Some(name)) = name else { continue };
            if let Err(e) = store.index_text(&account, &name).await {
                tracing::warn!(account, mailbox = name, error = %e, "text indexing stopped");
            }
        }
        p.text_indexing.set(false);
    });
}

impl super::Store {
    /// The UIDs of `mailbox` that may match every text query (IMAP SEARCH BODY / TEXT), and
    /// whether they are exactly the matches; `None` when the index cannot narrow (it is
    /// turned off, or no query has a word to look for). Indexes the mailbox's messages it
    /// does not cover yet first: at most `budget` bytes of them per call, answering
    /// [`TextAnswer::Indexing`] when there are more, so a caller can say how far it is and
    /// ask again.
    pub async fn text_search(
        &self,
        account: &str,
        mailbox: &str,
        queries: &[TextQuery],
        budget: u64,
    ) -> super::Result<TextAnswer> {
        if self.config().full_text_index == FullText::Off || queries.is_empty() {
            return Ok(TextAnswer::Candidates(None));
        }
        let account = canonical_account(account)?;
        let name = canonical_mailbox(mailbox)?;
        let progress = self.index_text_within(&account, &name, budget).await?;
        if progress.left > 0 {
            return Ok(TextAnswer::Indexing {
                done: progress.covered,
                total: progress.covered + progress.left,
            });
        }
        let p = self.partition(&account).await?;
        let dir = p.dir().to_path_buf();
        p.with_account(&account, |a| {
            let m = a.index.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
            let text = text_index(&mut a.text, &dir, &account);
            // Expunged messages stay in the index until its next write: never named.
            Ok(TextAnswer::Candidates(text.candidates(m.id, queries).map(
                |(uids, exact)| {
                    let uids = uids
                        .into_iter()
                        .map(Uid)
                        .filter(|&u| m.get(u).is_some())
                        .collect();
                    (uids, exact)
                },
            )))
        })?
    }

    /// The account's text index as loaded now: documents and distinct terms; `None` when
    /// it is not loaded (never searched, or evicted with the account's index).
    pub async fn text_stats(&self, account: &str) -> super::Result<Option<(usize, usize)>> {
        let account = canonical_account(account)?;
        let p = self.partition(&account).await?;
        p.with_account(&account, |a| a.text.as_ref().map(|t| (t.docs(), t.terms())))
    }

    /// Add the messages of `mailbox` the account's text index does not cover yet; returns
    /// how many.
    pub async fn index_text(&self, account: &str, mailbox: &str) -> super::Result<usize> {
        let progress = self.index_text_within(account, mailbox, u64::MAX).await?;
        Ok(progress.added)
    }

    /// Add messages of `mailbox` the text index does not cover yet, about `budget` bytes of
    /// them (at least one batch).
    pub async fn index_text_within(
        &self,
        account: &str,
        mailbox: &str,
        budget: u64,
    ) -> super::Result<IndexProgress> {
        let account = canonical_account(account)?;
        let name = canonical_mailbox(mailbox)?;
        let mut added = 0;
        let mut spent = 0u64;
        loop {
            let p = self.partition(&account).await?;
            let dir = p.dir().to_path_buf();
            let (id, batch, covered, left) = p.with_account(&account, |a| {
                let m = a.index.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
                let text = text_index(&mut a.text, &dir, &account);
                let mut bytes = 0u64;
                let mut batch: Vec<(Uid, u64, usize)> = Vec::new();
                let mut left = 0;
                for e in m.messages.iter() {
                    if text.covers(m.id, e.uid.0) {
                        continue;
                    }
                    left += 1;
                    let size = u64::from(e.size);
                    if spent >= budget || (!batch.is_empty() && bytes + size > INDEX_BATCH_BYTES) {
                        continue;
                    }
                    bytes += size;
                    let header = e
                        .summary
                        .parts
                        .first()
                        .map_or(e.size as usize, |p| p.body_offset as usize);
                    batch.push((e.uid, size, header));
                }
                spent += bytes;
                Ok::<_, StoreError>((m.id, batch, m.messages.len() - left, left))
            })??;
            if batch.is_empty() {
                return Ok(IndexProgress {
                    added,
                    covered,
                    left,
                });
            }
            let wants: Vec<(Uid, u64)> = batch.iter().map(|&(u, s, _)| (u, s)).collect();
            let bodies = self.read_prefixes(&account, &name, &wants).await?;
            let mut texts: Vec<(u32, Option<SearchText>)> = Vec::with_capacity(batch.len());
            for (&(uid, _, header), body) in batch.iter().zip(&bodies) {
                texts.push((uid.0, body.as_ref().map(|b| text::search_text(b, header))));
                // Parsing is the cost: others on the shard get their turn in between.
                io::yield_if_needed().await;
            }
            drop(bodies);
            p.with_account(&account, |a| {
                let text = text_index(&mut a.text, &dir, &account);
                for (uid, t) in &texts {
                    match t {
                        Some(t) => text.add(id, *uid, t),
                        // Expunged meanwhile: covered as nothing, so it is not read again.
                        None => text.add(id, *uid, &SearchText::default()),
                    }
                }
            })?;
            added += texts.len();
        }
    }
}

/// The account's text index, loaded from its file (or empty) on first use.
fn text_index<'a>(text: &'a mut Option<TextIndex>, dir: &Path, account: &str) -> &'a mut TextIndex {
    text.get_or_insert_with(|| TextIndex::load(dir, account))
}

/// How far [`Store::index_text_within`] got with a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexProgress {
    /// Messages added by this call.
    pub added: usize,
    /// Messages of the mailbox the index covers, and those it does not yet.
    pub covered: usize,
    pub left: usize,
}

/// [`Store::text_search`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextAnswer {
    /// The mailbox is not indexed yet: `done` of its `total` messages are.
    Indexing { done: usize, total: usize },
    /// The candidates and whether they are exact; `None`: the index cannot narrow.
    Candidates(Option<(Vec<Uid>, bool)>),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn text(header: &str, body: &str) -> SearchText {
        SearchText {
            header: header.into(),
            bodies: vec![body.into()],
        }
    }

    fn q(needle: &str, body_only: bool) -> TextQuery {
        TextQuery {
            needle: needle.into(),
            body_only,
        }
    }

    fn sample() -> TextIndex {
        let mut i = TextIndex::default();
        i.add(
            MailboxId(1),
            1,
            &text("Subject: Othello", "To be or not to be"),
        );
        i.add(
            MailboxId(1),
            2,
            &text("Subject: Hello", "Hello world, again"),
        );
        i.add(MailboxId(2), 1, &text("Subject: x", "hello there"));
        i.add(MailboxId(1), 4, &text("Subject: y", "WORLDWIDE web"));
        i
    }

    #[test]
    fn substring_of_terms_in_one_mailbox() {
        let i = sample();
        assert_eq!(
            i.candidates(MailboxId(1), &[q("hello", false)]),
            Some((vec![1, 2], true))
        );
        assert_eq!(
            i.candidates(MailboxId(1), &[q("HELLO", true)]),
            Some((vec![2], true))
        );
        assert_eq!(
            i.candidates(MailboxId(1), &[q("world", true)]),
            Some((vec![2, 4], true))
        );
        assert_eq!(
            i.candidates(MailboxId(1), &[q("lo wor", true)]),
            Some((vec![2], false))
        );
        assert_eq!(
            i.candidates(MailboxId(1), &[q("world", true), q("web", true)]),
            Some((vec![4], true))
        );
        assert_eq!(i.candidates(MailboxId(1), &[q("!!", true)]), None);
        assert_eq!(
            i.candidates(MailboxId(1), &[q("absent", true)]),
            Some((vec![], true))
        );
    }

    #[test]
    fn file_round_trip_and_damage() {
        let i = sample();
        let bytes = i.to_file_bytes();
        let back = TextIndex::from_file_bytes(&bytes).unwrap();
        assert_eq!(back.docs(), 4);
        assert_eq!(back.terms(), i.terms());
        assert_eq!(
            back.candidates(MailboxId(1), &[q("hello", false)]),
            Some((vec![1, 2], true))
        );
        assert!(back.covers(MailboxId(2), 1) && !back.covers(MailboxId(2), 2));
        for cut in [0, 3, 8, bytes.len() / 2, bytes.len() - 1] {
            assert!(TextIndex::from_file_bytes(&bytes[..cut]).is_none(), "{cut}");
        }
        let mut flipped = bytes.clone();
        flipped[12] ^= 1;
        assert!(TextIndex::from_file_bytes(&flipped).is_none());
    }

    #[test]
    fn prune_drops_expunged_documents() {
        let mut i = sample();
        i.dirty = false;
        i.prune(|m, u| !(m == MailboxId(1) && u == 2));
        assert_eq!(i.docs(), 3);
        assert!(i.dirty);
        assert_eq!(
            i.candidates(MailboxId(1), &[q("hello", false)]),
            Some((vec![1], true))
        );
        assert_eq!(
            i.candidates(MailboxId(2), &[q("hello", false)]),
            Some((vec![1], true))
        );
        // Under a quarter dead: left alone.
        let mut j = sample();
        j.dirty = false;
        j.add(MailboxId(3), 1, &text("", "x"));
        j.dirty = false;
        j.prune(|m, _| m != MailboxId(3));
        assert_eq!(j.docs(), 5);
        assert!(!j.dirty);
    }

    const VOCAB: &[&str] = &[
        "Hello",
        "othello",
        "WORLD",
        "worldwide",
        "a.b",
        "1,000",
        "straße",
        "STRASSE",
        "Élan",
        "東京",
        "タワー",
        "e\u{301}te",
        "x-y",
        "foo_bar",
        "ΣΊΣΥΦΟΣ",
        "lunch",
        "LUNCHEON",
        " ",
        "  ",
        ", ",
        "!",
        "\r\n",
        "=?utf-8?q?x?=",
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123456789",
    ];

    fn sentence() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(VOCAB), 0..12)
            .prop_map(|words| words.concat())
    }

    use proptest::prelude::*;

    proptest! {
        /// The index never leaves out a message that matches, and when it says its answer
        /// is exact, it names only messages that match: checked against the verifier's own
        /// substring match over random texts and needles (parts of those texts included).
        #[test]
        fn answers_agree_with_substring_matching(
            docs in proptest::collection::vec((sentence(), proptest::collection::vec(sentence(), 0..3)), 1..12),
            picks in proptest::collection::vec((any::<usize>(), any::<usize>(), 0usize..40, any::<bool>()), 1..16),
            extra in proptest::collection::vec(sentence(), 0..4),
        ) {
            let mut index = TextIndex::default();
            let texts: Vec<SearchText> = docs
                .iter()
                .map(|(h, b)| SearchText { header: h.clone(), bodies: b.clone() })
                .collect();
            for (uid, t) in texts.iter().enumerate() {
                index.add(MailboxId(7), uid as u32 + 1, t);
            }
            let mut needles: Vec<(String, bool)> = Vec::new();
            for &(d, at, len, body_only) in &picks {
                let t = &texts[d % texts.len()];
                let source = t.bodies.first().unwrap_or(&t.header);
                let chars: Vec<char> = source.chars().collect();
                if chars.is_empty() {
                    continue;
                }
                let start = at % chars.len();
                let end = (start + len).min(chars.len());
                needles.push((chars[start..end].iter().collect(), body_only));
            }
            needles.extend(extra.into_iter().map(|n| (n, false)));
            for (needle, body_only) in needles {
                let q = [TextQuery { needle: needle.clone(), body_only }];
                let Some((got, exact)) = index.candidates(MailboxId(7), &q) else {
                    continue;
                };
                for (i, t) in texts.iter().enumerate() {
                    let uid = i as u32 + 1;
                    let matches = t.contains(&needle, body_only);
                    prop_assert!(!matches || got.contains(&uid), "{needle:?} left out {uid}");
                    prop_assert!(!exact || matches || !got.contains(&uid), "{needle:?} named {uid}");
                }
            }
        }
    }
}
