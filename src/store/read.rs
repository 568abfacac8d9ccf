//! The store's read operations: mailbox lists and status, message listings, searches and
//! message bytes, all from the applied (durable) index of one account. Never reads another
//! account's index: every lookup starts from the account's own index, and message bytes are
//! found only through that index's entries.

use std::ops::RangeInclusive;

use futures_channel::mpsc;

use super::index::Mailbox;
use super::index::{canonical_mailbox, AccountIndex, MessageEntry};
use super::segment::{self, Body};
use super::types::{Result, StoreError};
use super::{canonical_account, Store};
use crate::mail::ranges::{self, UidRange};
use crate::mail::{
    Change, Flags, Keyword, MailboxId, MailboxInfo, MailboxSnapshot, MailboxStatus, MessageMeta,
    ModSeq, Recent, SystemFlags, Uid, UidRun, UidValidity, Vanished,
};

/// Messages at most this far apart in a segment are read together by
/// [`Store::read_prefixes`] (the gap is read and thrown away)...
pub const READ_GAP: u64 = 16 << 10;
/// ...as long as one read stays within this many bytes.
pub const READ_SPAN: u64 = 1 << 20;

/// A small search language over the index (no message bytes are read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    Flag(SystemFlags),
    NotFlag(SystemFlags),
    Keyword(String),
    /// Case-insensitive substring of the raw Subject header.
    Subject(String),
    /// Case-insensitive substring of any From address or name.
    From(String),
    Larger(u32),
    Smaller(u32),
    Uids(RangeInclusive<Uid>),
    And(Vec<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    Not(Box<SearchKey>),
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

impl SearchKey {
    pub fn matches(&self, e: &MessageEntry) -> bool {
        match self {
            SearchKey::All => true,
            SearchKey::Flag(f) => e.flags.system.contains(*f),
            SearchKey::NotFlag(f) => !e.flags.system.contains(*f),
            SearchKey::Keyword(k) => e
                .flags
                .keywords
                .iter()
                .any(|x| x.as_str().eq_ignore_ascii_case(k)),
            SearchKey::Subject(s) => e
                .summary
                .envelope
                .subject
                .as_deref()
                .is_some_and(|subj| contains_ci(subj, s)),
            SearchKey::From(s) => e.summary.envelope.from.iter().any(|a| {
                [&a.name, &a.mailbox, &a.host]
                    .into_iter()
                    .flatten()
                    .any(|v| contains_ci(v, s))
            }),
            SearchKey::Larger(n) => e.size > *n,
            SearchKey::Smaller(n) => e.size < *n,
            SearchKey::Uids(r) => r.contains(&e.uid),
            SearchKey::And(keys) => keys.iter().all(|k| k.matches(e)),
            SearchKey::Or(a, b) => a.matches(e) || b.matches(e),
            SearchKey::Not(k) => !k.matches(e),
        }
    }
}

/// What IMAP SELECT needs of a mailbox, computed in one pass over its index: the UIDs as
/// runs, the counts, the first unseen message and the keywords in use. Clones no flags or
/// summaries (a keyword only the first time it is seen), so a 100,000-message mailbox costs
/// a few runs and a short list, not a copy of its index.
fn snapshot_of(m: &Mailbox, recent: Option<Uid>) -> MailboxSnapshot {
    let mut uids: Vec<UidRun> = Vec::new();
    let mut first_unseen = None;
    let mut keywords: Vec<&Keyword> = Vec::new();
    for (n, e) in m.messages.iter().enumerate() {
        match uids.last_mut() {
            Some(run) if run.first.0.checked_add(run.count) == Some(e.uid.0) => {
                run.count += 1;
            }
            _ => uids.push(UidRun {
                first: e.uid,
                count: 1,
            }),
        }
        if first_unseen.is_none() && !e.flags.system.contains(SystemFlags::SEEN) {
            first_unseen = Some(n as u32 + 1);
        }
        for k in &e.flags.keywords {
            if let Err(at) = keywords.binary_search(&k) {
                keywords.insert(at, k);
            }
        }
    }
    MailboxSnapshot {
        id: m.id,
        uid_validity: m.uid_validity,
        uid_next: m.uid_next,
        highest_modseq: m.highest_modseq,
        uids,
        first_unseen,
        recent,
        keywords: keywords.into_iter().cloned().collect(),
        rights: None,
    }
}

/// Every future of `futures` polled together; their outputs in order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

impl Store {
    async fn with_index<R>(
        &self,
        account: &str,
        f: impl FnOnce(&AccountIndex) -> Result<R>,
    ) -> Result<R> {
        let account = canonical_account(account)?;
        let p = self.partition(&account).await?;
        p.with_account(&account, |a| f(&a.index))?
    }

    /// Run `f` over the account's index as it is now, copying nothing: for callers that keep
    /// their own structure in mailboxes and messages (calendars and address books, whose
    /// resource names and UIDs are in the messages' envelopes). `f` runs between two awaits,
    /// so it sees one consistent state.
    pub async fn inspect<R>(&self, account: &str, f: impl FnOnce(&AccountIndex) -> R) -> Result<R> {
        self.with_index(account, |i| Ok(f(i))).await
    }

    /// Whether the account exists (has been opened or received mail).
    pub async fn account_exists(&self, account: &str) -> Result<bool> {
        self.with_index(account, |i| Ok(i.created)).await
    }

    /// The mailbox id of `name`.
    pub async fn mailbox_id(&self, account: &str, name: &str) -> Result<MailboxId> {
        let name = canonical_mailbox(name)?;
        self.with_index(account, |i| {
            i.mailbox(&name)
                .map(|m| m.id)
                .ok_or(StoreError::NoSuchMailbox)
        })
        .await
    }

    /// Every mailbox of the account, sorted by name.
    pub async fn list_mailboxes(&self, account: &str) -> Result<Vec<MailboxInfo>> {
        self.with_index(account, |i| {
            let mut v: Vec<MailboxInfo> = i
                .mailboxes
                .iter()
                .map(|m| MailboxInfo {
                    id: m.id,
                    name: m.name.clone(),
                    special: m.special,
                    subscribed: i.subscriptions.binary_search(&m.name).is_ok(),
                })
                .collect();
            v.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(v)
        })
        .await
    }

    /// The annotations (RFC 5464) of `mailbox`, or with `None` the account's server
    /// annotations, sorted by entry name.
    pub async fn metadata(
        &self,
        account: &str,
        mailbox: Option<&str>,
    ) -> Result<Vec<super::index::Annotation>> {
        let name = mailbox.map(canonical_mailbox).transpose()?;
        self.with_index(account, |i| match &name {
            None => Ok(i.metadata.clone()),
            Some(name) => i
                .mailbox(name)
                .map(|m| m.metadata.clone())
                .ok_or(StoreError::NoSuchMailbox),
        })
        .await
    }

    /// The access control list (RFC 4314) of `mailbox`, sorted by identifier.
    pub async fn acl(
        &self,
        account: &str,
        mailbox: &str,
    ) -> Result<Vec<crate::mail::acl::AclEntry>> {
        let name = canonical_mailbox(mailbox)?;
        self.with_index(account, |i| {
            i.mailbox(&name)
                .map(|m| m.acl.clone())
                .ok_or(StoreError::NoSuchMailbox)
        })
        .await
    }

    /// Every mailbox of the account with its access control list, for LIST of the shared
    /// namespace (only mailboxes with an ACL).
    pub async fn acls(
        &self,
        account: &str,
    ) -> Result<Vec<(MailboxInfo, Vec<crate::mail::acl::AclEntry>)>> {
        self.with_index(account, |i| {
            Ok(i.mailboxes
                .iter()
                .filter(|m| !m.acl.is_empty())
                .map(|m| {
                    (
                        MailboxInfo {
                            id: m.id,
                            name: m.name.clone(),
                            special: m.special,
                            subscribed: false,
                        },
                        m.acl.clone(),
                    )
                })
                .collect())
        })
        .await
    }

    /// The accounts that noted they share mailboxes with this one ([`Store::set_sharer`]).
    pub async fn sharers(&self, account: &str) -> Result<Vec<String>> {
        self.with_index(account, |i| Ok(i.sharers.clone())).await
    }

    /// The account's subscriptions (names may name mailboxes that no longer exist).
    pub async fn subscriptions(&self, account: &str) -> Result<Vec<String>> {
        self.with_index(account, |i| Ok(i.subscriptions.clone()))
            .await
    }

    /// Counts, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and size of a mailbox.
    pub async fn status(&self, account: &str, mailbox: &str) -> Result<MailboxStatus> {
        let name = canonical_mailbox(mailbox)?;
        let canonical = canonical_account(account)?;
        self.with_index(account, |i| {
            let m = i.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
            // One pass over the messages for every figure.
            let (mut unseen, mut deleted, mut size, mut deleted_size) = (0u32, 0u32, 0u64, 0u64);
            for e in &m.messages {
                let bytes = u64::from(e.size);
                size += bytes;
                if !e.flags.system.contains(SystemFlags::SEEN) {
                    unseen += 1;
                }
                if e.flags.system.contains(SystemFlags::DELETED) {
                    deleted += 1;
                    deleted_size += bytes;
                }
            }
            let unclaimed = self.inner.mailboxes.borrow().unclaimed(&canonical, m.id);
            let recent = unclaimed.map_or(0, |first| {
                m.messages.len() - m.find(first).unwrap_or_else(|at| at)
            });
            Ok(MailboxStatus {
                id: m.id,
                uid_validity: m.uid_validity,
                uid_next: m.uid_next,
                highest_modseq: m.highest_modseq,
                messages: m.messages.len() as u32,
                unseen,
                deleted,
                size,
                recent: recent as u32,
                deleted_size,
            })
        })
        .await
    }

    /// A mailbox's UIDVALIDITY and HIGHESTMODSEQ alone (what APPENDUID, COPYUID and an
    /// expunge's reply need), without going over its messages as [`Store::status`] does.
    pub async fn validity_and_modseq(
        &self,
        account: &str,
        mailbox: &str,
    ) -> Result<(UidValidity, ModSeq)> {
        let name = canonical_mailbox(mailbox)?;
        self.with_index(account, |i| {
            let m = i.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
            Ok((m.uid_validity, m.highest_modseq))
        })
        .await
    }

    /// Total bytes of all messages of the account (quota, POP3 STAT).
    pub async fn account_size(&self, account: &str) -> Result<u64> {
        self.with_index(account, |i| Ok(i.size())).await
    }

    /// The bytes and the number of the messages of `mailbox` among `uids` (what a COPY of
    /// them adds to the account).
    pub async fn messages_size(
        &self,
        account: &str,
        mailbox: &str,
        uids: &[Uid],
    ) -> Result<(u64, u64)> {
        let name = canonical_mailbox(mailbox)?;
        self.with_index(account, |i| {
            let m = i.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
            Ok(uids
                .iter()
                .filter_map(|u| m.get(*u))
                .fold((0, 0), |(b, n), e| (b + u64::from(e.size), n + 1)))
        })
        .await
    }

    /// What the account holds, for its quota: the bytes and the number of its messages in
    /// every mailbox. A walk over the index (no IO): asked only for accounts with limits.
    pub async fn quota_usage(&self, account: &str) -> Result<crate::mail::QuotaUsage> {
        self.with_index(account, |i| {
            Ok(crate::mail::QuotaUsage {
                storage: i.size(),
                messages: i.mailboxes.iter().map(|m| m.messages.len() as u64).sum(),
            })
        })
        .await
    }

    /// The messages of a mailbox with UIDs in `uids`, in UID order.
    pub async fn messages(
        &self,
        account: &str,
        mailbox: &str,
        uids: RangeInclusive<Uid>,
    ) -> Result<Vec<MessageEntry>> {
        let name = canonical_mailbox(mailbox)?;
        self.with_index(account, |i| {
            let m = i.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
            let start = m.find(*uids.start()).unwrap_or_else(|x| x);
            Ok(m.messages[start..]
                .iter()
                .take_while(|e| e.uid <= *uids.end())
                .cloned()
                .collect())
        })
        .await
    }

    /// What IMAP SELECT needs of a mailbox (see `snapshot_of`), as of now, and its change
    /// feed from now on: both in one step, so no change falls between them. With
    /// [`Recent::Claim`] the unclaimed messages become this session's `\Recent` ones (RFC
    /// 3501 §2.3.2) and, with the messages that arrive while it watches, no later session's.
    pub async fn select(
        &self,
        account: &str,
        mailbox: &str,
        recent: Recent,
    ) -> Result<(mpsc::UnboundedReceiver<Change>, MailboxSnapshot)> {
        let name = canonical_mailbox(mailbox)?;
        let canonical = canonical_account(account)?;
        self.with_index(account, |i| {
            let m = i.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
            let (feed, first_recent) = self
                .inner
                .mailboxes
                .borrow_mut()
                .watch(&canonical, m.id, recent);
            Ok((feed, snapshot_of(m, first_recent)))
        })
        .await
    }

    /// What IMAP EXAMINE would see of a mailbox now, without watching it (see
    /// `snapshot_of`).
    pub async fn snapshot(&self, account: &str, mailbox: &str) -> Result<MailboxSnapshot> {
        let name = canonical_mailbox(mailbox)?;
        let canonical = canonical_account(account)?;
        self.with_index(account, |i| {
            let m = i.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
            let unclaimed = self.inner.mailboxes.borrow().unclaimed(&canonical, m.id);
            Ok(snapshot_of(m, unclaimed))
        })
        .await
    }

    /// The index data of the messages of `uids` in a mailbox, in UID order (missing UIDs
    /// are left out): what FETCH FLAGS and SEARCH on index keys need, without the MIME
    /// summary or body location.
    pub async fn message_meta(
        &self,
        account: &str,
        mailbox: &str,
        uids: &[Uid],
    ) -> Result<Vec<MessageMeta>> {
        // Only the small index data: a SEARCH of flags over a whole mailbox asks for every
        // message, so nothing else is built or moved per message.
        self.index_entries(account, mailbox, uids, MessageEntry::meta)
            .await
    }

    /// [`Store::message_meta`] with each message's envelope: what SORT, THREAD and
    /// SENTBEFORE/SENTON/SENTSINCE look at, without copying each message's MIME structure.
    pub async fn message_envelopes(
        &self,
        account: &str,
        mailbox: &str,
        uids: &[Uid],
    ) -> Result<Vec<(MessageMeta, crate::mail::mime::Envelope)>> {
        self.index_entries(account, mailbox, uids, |e| {
            (e.meta(), e.summary.envelope.clone())
        })
        .await
    }

    /// `take` of the index entries of `uids` (sorted, deduplicated, missing ones left out).
    async fn index_entries<T>(
        &self,
        account: &str,
        mailbox: &str,
        uids: &[Uid],
        take: impl Fn(&MessageEntry) -> T,
    ) -> Result<Vec<T>> {
        let name = canonical_mailbox(mailbox)?;
        self.with_index(account, |i| {
            let m = i.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
            let mut uids = uids.to_vec();
            uids.sort_unstable();
            uids.dedup();
            Ok(uids
                .into_iter()
                .filter_map(|uid| m.get(uid))
                .map(take)
                .collect())
        })
        .await
    }

    /// The UIDs of `within` expunged from a mailbox after `since` (RFC 7162 §3.2.5): from its
    /// expunge log, or, when the log does not reach back that far, every UID of `within`
    /// below UIDNEXT that is not in the mailbox.
    pub async fn vanished_since(
        &self,
        account: &str,
        mailbox: &str,
        since: ModSeq,
        within: &[UidRange],
    ) -> Result<Vanished> {
        let name = canonical_mailbox(mailbox)?;
        let within = ranges::normalize(within.to_vec());
        self.with_index(account, |i| {
            let m = i.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
            Ok(m.vanished(since, &within))
        })
        .await
    }

    /// The messages of a mailbox whose modseq is above `since`, with flags and modseq, in
    /// UID order (what a QRESYNC SELECT reports as FETCH, RFC 7162 §3.2.5).
    pub async fn changed_since(
        &self,
        account: &str,
        mailbox: &str,
        since: ModSeq,
    ) -> Result<Vec<(Uid, Flags, ModSeq)>> {
        let name = canonical_mailbox(mailbox)?;
        self.with_index(account, |i| {
            let m = i.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
            Ok(m.changed_since(since))
        })
        .await
    }

    /// UIDs of the messages of a mailbox matching `key`.
    pub async fn search(&self, account: &str, mailbox: &str, key: &SearchKey) -> Result<Vec<Uid>> {
        let name = canonical_mailbox(mailbox)?;
        self.with_index(account, |i| {
            let m = i.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
            Ok(m.messages
                .iter()
                .filter(|e| key.matches(e))
                .map(|e| e.uid)
                .collect())
        })
        .await
    }

    /// A message's bytes.
    pub async fn read(&self, account: &str, mailbox: &str, uid: Uid) -> Result<Body> {
        self.read_range(account, mailbox, uid, 0, u64::MAX).await
    }

    /// The first `len` bytes (clamped to each message) of several messages of a mailbox, in
    /// the order asked; `None` for a UID that is not (or no longer) there.
    ///
    /// Messages that lie close together in a segment, as messages appended one after the
    /// other do, are read with one read of at most [`READ_SPAN`] bytes and served as slices
    /// of its buffer: a FETCH batch costs a few reads and buffers, not one per message.
    pub async fn read_prefixes(
        &self,
        account: &str,
        mailbox: &str,
        wants: &[(Uid, u64)],
    ) -> Result<Vec<Option<Body>>> {
        let account = canonical_account(account)?;
        let name = canonical_mailbox(mailbox)?;
        let p = self.partition(&account).await?;
        // Every location and file is taken in one step, with no await in between: a file
        // that compaction deletes afterwards stays readable through the handle held here.
        let located: Vec<Option<(u32, u64, u64)>> = p.with_account(&account, |a| {
            let m = a.index.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
            Ok::<_, StoreError>(
                wants
                    .iter()
                    .map(|&(uid, len)| {
                        m.get(uid).map(|e| {
                            let b = e.body;
                            (b.segment, b.offset, len.min(u64::from(b.len)))
                        })
                    })
                    .collect(),
            )
        })??;
        let mut files = std::collections::HashMap::new();
        {
            let segments = p.segments.borrow();
            for &(segment, _, _) in located.iter().flatten() {
                if let std::collections::hash_map::Entry::Vacant(v) = files.entry(segment) {
                    let file = segments
                        .file(segment)
                        .ok_or_else(|| StoreError::corrupt("index", "names a missing segment"))?;
                    v.insert(file);
                }
            }
        }
        let mut order: Vec<usize> = (0..located.len())
            .filter(|&i| located[i].is_some_and(|(_, _, len)| len > 0))
            .collect();
        order.sort_unstable_by_key(|&i| located[i].map(|(s, o, _)| (s, o)));
        let mut out: Vec<Option<Body>> =
            located.iter().map(|l| l.map(|_| Body::default())).collect();
        // The runs first (each a range of `order`), then every run's read at once: a batch
        // of scattered messages costs one trip through the ring, not one per run.
        let mut runs: Vec<(u32, u64, u64, std::ops::Range<usize>)> = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let Some((segment, start, len)) = located[order[i]] else {
                i += 1;
                continue;
            };
            let mut end = start + len;
            let mut j = i + 1;
            while let Some(&(s, o, l)) = order.get(j).and_then(|&k| located[k].as_ref()) {
                if s != segment || o > end + READ_GAP || (o + l).max(end) - start > READ_SPAN {
                    break;
                }
                end = end.max(o + l);
                j += 1;
            }
            runs.push((segment, start, end, i..j));
            i = j;
        }
        let mut reads = Vec::with_capacity(runs.len());
        for (segment, start, end, _) in &runs {
            let file = files
                .get(segment)
                .ok_or_else(|| StoreError::corrupt("index", "names a missing segment"))?;
            // A run spans at most READ_SPAN bytes, or one message (a u32 length).
            reads.push(segment::read(file, *start, (end - start) as usize));
        }
        for (read, (_, start, _, members)) in join_all(reads).await.into_iter().zip(&runs) {
            let run = read?;
            for &k in &order[members.clone()] {
                if let Some((_, o, l)) = located[k] {
                    out[k] = Some(run.slice((o - start) as usize, l as usize));
                }
            }
        }
        Ok(out)
    }

    /// Up to `len` bytes of a message from byte `start` (clamped to the message, as IMAP
    /// partial fetches are: RFC 9051 §6.4.5).
    pub async fn read_range(
        &self,
        account: &str,
        mailbox: &str,
        uid: Uid,
        start: u64,
        len: u64,
    ) -> Result<Body> {
        let account = canonical_account(account)?;
        let name = canonical_mailbox(mailbox)?;
        let p = self.partition(&account).await?;
        let body = p.with_account(&account, |a| {
            let m = a.index.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
            m.get(uid).map(|e| e.body).ok_or(StoreError::NoSuchMessage)
        })??;
        let size = u64::from(body.len);
        let start = start.min(size);
        let len = len.min(size - start);
        let file = p
            .segments
            .borrow()
            .file(body.segment)
            .ok_or_else(|| StoreError::corrupt("index", "names a missing segment"))?;
        // `len` is at most the message size, a u32.
        segment::read(&file, body.offset + start, len as usize).await
    }
}
