//! The IMAP service: runs a session's [`MailboxRequest`]s against the home shard's store.
//!
//! The driver keeps one [`Access`] per authenticated connection. `Access::execute` runs on the
//! account's home shard (authenticated IMAP sessions are moved there), so every store call is
//! shard-local. While a mailbox is selected, `Access` holds the store's change feed for it; the
//! driver hands each change to the session as a notice. Once the session sets NOTIFY (RFC
//! 5465), `Access` also holds a feed of the whole account ([`Store::watch_account`]) and
//! turns what the session watches into notices: a STATUS of each watched mailbox whose
//! messages or flags changed (read once per batch of changes, however many there were), and
//! mailbox names, subscriptions and annotations as they change. Other accounts' shared
//! mailboxes the session's NOTIFY names are watched on their owners' home shards, which
//! send typed notices back over the sharing mesh (`shared::notify`).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::rc::Rc;

mod shared;

pub use shared::{handler as share_handler, ShareMesh, ShareReply, ShareRequest};

use futures_channel::mpsc::UnboundedReceiver;
use futures_lite::StreamExt;

use super::{Context, Placement, Service};
use crate::config::{Config, Listener};
use crate::imap::ImapSession;
use crate::mail::metadata::{Annotation, MetadataSettings};
use crate::mail::{
    AccountChange, Change, FlagUpdate, Flags, MailboxId, MessageBytes, MimeSummary, ModSeq,
    QuotaLimits, Subscription, Uid,
};
use crate::mailbox::{
    AppendBody, Content, FetchedMessage, MailboxAnswer, MailboxError, MailboxNotice, MailboxReply,
    MailboxRequest, MessageMeta, NotifySpec, Transfer, BATCH_BYTES,
};
use crate::runtime::replication::Replication;
use crate::session::{Security, SessionConfig};
use crate::store::op::MetadataChange;
use crate::store::text::TextAnswer;
use crate::store::{AccountBatch, AccountFeed, AppendStream, Store, StoreError};

/// One connection's access to its account's mailboxes.
pub struct Access {
    account: String,
    /// The account's default mailboxes exist (created on first use).
    opened: bool,
    /// The store's change feed for the selected mailbox, if any (for another account's
    /// mailbox, the changes its owner's shard relays).
    watch: Option<UnboundedReceiver<Change>>,
    /// The selected mailbox's id (NOTIFY reports it through `watch`, never as STATUS).
    selected: Option<MailboxId>,
    /// NOTIFY's watch of the account, once set (boxed: the connection's future holds the
    /// service, and most sessions never set NOTIFY).
    notifier: Option<Box<Notifier>>,
    /// The store, kept for the STATUS reads of NOTIFY's notices (which run outside any
    /// request).
    store: Option<Store>,
    /// `[imap] notify_max_pending`: changes a NOTIFY feed holds unread before it overflows.
    notify_max_pending: usize,
    /// The watch on the owner's shard of the selected mailbox when it is another account's:
    /// stopped when dropped.
    /// Boxed with the mailbox's name (`Shared/<owner>/…`, which NOTIFY reports through
    /// `watch`, never as STATUS): every idle connection's future holds this.
    remote: Option<Box<shared::RemoteSelected>>,
    /// Large APPEND literals received as streams and not appended yet, oldest first. They
    /// die with the connection: nothing of them is in the store before they are appended.
    streams: std::collections::VecDeque<AppendStream>,
    /// The account's quota limits, read from the account database before each request
    /// that adds messages or asks for them.
    limits: QuotaLimits,
    /// METADATA's limits and the administrator's server entries (`[imap]`), read from the
    /// configuration before each METADATA request.
    metadata: MetadataSettings,
    /// The shard's replication when this host is in a cluster: with `sync`, a write is
    /// answered once the account's replicas have it.
    pub replication: Option<Rc<Replication>>,
}

impl Access {
    pub fn new(account: String) -> Access {
        Access {
            account,
            opened: false,
            watch: None,
            selected: None,
            notifier: None,
            store: None,
            notify_max_pending: crate::config::Limits::default().notify_max_pending,
            remote: None,
            streams: std::collections::VecDeque::new(),
            limits: QuotaLimits::NONE,
            metadata: MetadataSettings::default(),
            replication: None,
        }
    }

    /// Whether `request` may change the account's store (and so its partition's log).
    fn writes(request: &MailboxRequest) -> bool {
        match request {
            MailboxRequest::List
            | MailboxRequest::Status { .. }
            | MailboxRequest::TextSearch { .. }
            | MailboxRequest::Order { .. }
            | MailboxRequest::Select { .. }
            | MailboxRequest::Unselect
            | MailboxRequest::AppendBegin { .. }
            | MailboxRequest::AppendData(_)
            | MailboxRequest::DropStreams
            | MailboxRequest::Fetch { .. }
            | MailboxRequest::Vanished { .. }
            | MailboxRequest::Changed { .. }
            | MailboxRequest::Quota { .. }
            | MailboxRequest::GetMetadata { .. }
            | MailboxRequest::GetAcl { .. }
            | MailboxRequest::ListRights { .. }
            | MailboxRequest::MyRights { .. }
            | MailboxRequest::Notify(_) => false,
            MailboxRequest::Create { .. }
            | MailboxRequest::Delete { .. }
            | MailboxRequest::Rename { .. }
            | MailboxRequest::Subscribe { .. }
            | MailboxRequest::Unsubscribe { .. }
            | MailboxRequest::Append { .. }
            | MailboxRequest::Discard { .. }
            | MailboxRequest::Store { .. }
            | MailboxRequest::Transfer { .. }
            | MailboxRequest::Expunge { .. }
            | MailboxRequest::SetMetadata { .. }
            | MailboxRequest::SetAcl { .. } => true,
        }
    }

    /// Whether the quota limits are read before this request.
    fn counts(request: &MailboxRequest) -> bool {
        matches!(
            request,
            MailboxRequest::AppendBegin { .. }
                | MailboxRequest::Append { .. }
                | MailboxRequest::Transfer {
                    transfer: Transfer::Copy,
                    ..
                }
                | MailboxRequest::Quota { .. }
        )
    }

    /// Refuse `messages` more messages of `bytes` bytes if they would take the account over
    /// its quota (RFC 9208 §4.3). Usage is read from the index only when there are limits.
    /// Concurrent appends of one account each see the usage before the others: the limit can
    /// be passed by what is in flight at once, never more.
    async fn check_quota(
        &self,
        store: &Store,
        bytes: u64,
        messages: u64,
    ) -> Result<(), MailboxError> {
        if !self.limits.is_limited() {
            return Ok(());
        }
        let usage = store.quota_usage(&self.account).await?;
        if self.limits.admits(usage, bytes, messages) {
            Ok(())
        } else {
            Err(MailboxError::OverQuota)
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// Execute one request against this shard's store.
    pub async fn execute(&mut self, store: &Store, request: MailboxRequest) -> MailboxReply {
        if self.store.is_none() {
            self.store = Some(store.clone());
        }
        if !self.opened {
            // An account that never received mail gets its default mailboxes now.
            if let Err(e) = store.open_account(&self.account).await {
                return MailboxReply::Failed(to_error(e));
            }
            self.opened = true;
        }
        let writes = self.replication.is_some() && Access::writes(&request);
        let appended_to = match &request {
            MailboxRequest::Append { mailbox, .. } => Some(mailbox.clone()),
            _ => None,
        };
        match self.run(store, request).await {
            Ok(reply) if writes => self.replicated(store, reply, appended_to).await,
            Ok(reply) => reply,
            Err(e) => {
                if let MailboxError::Unavailable(why) = &e {
                    tracing::error!(error = %why, "mailbox request failed");
                }
                MailboxReply::Failed(e)
            }
        }
    }

    /// `reply` to a write once the account's replicas have it, with `sync` replication, as
    /// SMTP's 250 waits (`fanout::deliver_replicated`): an IMAP OK then survives a failover.
    /// When they do not confirm in time the client hears NO; an APPEND's message is taken
    /// back (its retry must not leave two), other writes stay and may be made again.
    async fn replicated(
        &self,
        store: &Store,
        reply: MailboxReply,
        appended_to: Option<String>,
    ) -> MailboxReply {
        let Some(replication) = &self.replication else {
            return reply;
        };
        let Err(e) = replication.confirm(store, &self.account).await else {
            return reply;
        };
        if let (Some(mailbox), MailboxReply::Appended { uid, .. }) = (appended_to, &reply) {
            if let Err(r) = store.expunge(&self.account, &mailbox, Some(&[*uid])).await {
                tracing::error!(error = %r, "could not take back an APPEND the replicas did not confirm");
            }
        }
        tracing::warn!(error = %e, "a write was not confirmed by the replicas in time");
        MailboxReply::Failed(to_error(e))
    }

    async fn run(
        &mut self,
        store: &Store,
        request: MailboxRequest,
    ) -> Result<MailboxReply, MailboxError> {
        let account = self.account.as_str();
        let reply = match request {
            MailboxRequest::List => MailboxReply::Listed {
                mailboxes: store.list_mailboxes(account).await?,
                subscriptions: store.subscriptions(account).await?,
            },
            MailboxRequest::Status { mailbox } => {
                MailboxReply::Status(store.status(account, &mailbox).await?)
            }
            MailboxRequest::Create { mailbox, special } => {
                store
                    .create_special_mailbox(account, &mailbox, special)
                    .await?;
                // Its MAILBOXID for the tagged OK (RFC 8474 §4.1); a mailbox renamed or
                // deleted by another session in between was still created: a plain OK.
                match store.status(account, &mailbox).await {
                    Ok(status) => MailboxReply::Created {
                        id: status.id,
                        uid_validity: status.uid_validity,
                    },
                    Err(_) => MailboxReply::Done,
                }
            }
            MailboxRequest::Delete { mailbox } => {
                store.delete_mailbox(account, &mailbox).await?;
                MailboxReply::Done
            }
            MailboxRequest::Rename { from, to } => {
                store.rename_mailbox(account, &from, &to).await?;
                MailboxReply::Done
            }
            MailboxRequest::Subscribe { mailbox } => {
                store
                    .subscribe(account, &mailbox, Subscription::Subscribed)
                    .await?;
                MailboxReply::Done
            }
            MailboxRequest::Unsubscribe { mailbox } => {
                store
                    .subscribe(account, &mailbox, Subscription::Unsubscribed)
                    .await?;
                MailboxReply::Done
            }
            MailboxRequest::Select { mailbox, recent } => {
                self.watch = None;
                self.selected = None;
                // The feed starts where the snapshot ends. UIDs and counts only: SELECT
                // never copies per-message data or bodies.
                let (watch, snapshot) = store.select(account, &mailbox, recent).await?;
                self.watch = Some(watch);
                self.selected = Some(snapshot.id);
                MailboxReply::Selected(snapshot)
            }
            MailboxRequest::Unselect => {
                self.watch = None;
                self.selected = None;
                MailboxReply::Done
            }
            MailboxRequest::Notify(None) => {
                self.notifier = None;
                MailboxReply::Notifying {
                    statuses: Vec::new(),
                    unwatched: 0,
                }
            }
            MailboxRequest::Notify(Some(spec)) => {
                self.notifier = None;
                // The feed first: nothing that lands while the list is read is missed.
                let feed = store.watch_account(account, self.notify_max_pending)?;
                let mailboxes = store.list_mailboxes(account).await?;
                let subscriptions: BTreeSet<String> =
                    store.subscriptions(account).await?.into_iter().collect();
                let mut statuses = Vec::new();
                if spec.initial_status {
                    for m in &mailboxes {
                        if Some(m.id) == self.selected {
                            continue;
                        }
                        let events = spec.events(&m.name, false, subscriptions.contains(&m.name));
                        if events.messages || events.flags {
                            // Deleted meanwhile: its deletion follows on the feed.
                            if let Ok(status) = store.status(account, &m.name).await {
                                statuses.push((m.name.clone(), status));
                            }
                        }
                    }
                }
                self.notifier = Some(Box::new(Notifier {
                    spec,
                    feed,
                    names: mailboxes.into_iter().map(|m| (m.id, m.name)).collect(),
                    subscriptions,
                    ready: VecDeque::new(),
                    owed: Vec::new(),
                    owners: None,
                }));
                // Other accounts' shared mailboxes are added by `shared::route`.
                MailboxReply::Notifying {
                    statuses,
                    unwatched: 0,
                }
            }
            MailboxRequest::AppendBegin { len } => {
                // Refused before a byte is sent: the literal's length is known.
                self.check_quota(store, len, 1).await?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                self.streams.push_back(store.begin_append(len)?);
                MailboxReply::Done
            }
            MailboxRequest::AppendData(bytes) => {
                let stream = self.streams.back_mut().ok_or_else(|| {
                    MailboxError::Unavailable("literal bytes without a stream".into())
                })?;
                stream.write(&bytes)?;
                MailboxReply::Done
            }
            MailboxRequest::DropStreams => {
                self.streams.clear();
                MailboxReply::Done
            }
            MailboxRequest::Append {
                mailbox,
                message,
                flags,
                internal_date,
            } => {
                self.append(store, &mailbox, message, flags, internal_date)
                    .await?
            }
            MailboxRequest::Fetch {
                mailbox,
                uids,
                content,
            } => fetch(store, account, &mailbox, &uids, content).await?,
            MailboxRequest::Order {
                mailbox,
                uids,
                references,
            } => MailboxReply::Ordered {
                messages: store
                    .order_fields(account, &mailbox, &uids, references)
                    .await?,
                now: crate::store::now(),
            },
            MailboxRequest::TextSearch { mailbox, queries } => match store
                .text_search(account, &mailbox, &queries, TEXT_INDEX_STEP)
                .await?
            {
                TextAnswer::Candidates(c) => MailboxReply::TextCandidates(c),
                TextAnswer::Indexing { done, total } => MailboxReply::TextIndexing { done, total },
            },
            MailboxRequest::Store {
                mailbox,
                uids,
                mode,
                flags,
                unchanged_since,
            } => MailboxReply::Flags(
                store
                    .update_flags(account, &mailbox, &uids, mode, flags, unchanged_since)
                    .await?,
            ),
            MailboxRequest::Vanished {
                mailbox,
                since,
                uids,
            } => MailboxReply::Vanished(
                store
                    .vanished_since(account, &mailbox, since, &uids)
                    .await?,
            ),
            MailboxRequest::Changed { mailbox, since } => MailboxReply::Flags(FlagUpdate {
                changed: store.changed_since(account, &mailbox, since).await?,
                ..FlagUpdate::default()
            }),
            MailboxRequest::Transfer {
                mailbox,
                uids,
                to,
                transfer,
            } => {
                // A MOVE stays within the account: its usage does not change.
                if transfer == Transfer::Copy && self.limits.is_limited() {
                    let (bytes, count) = store.messages_size(account, &mailbox, &uids).await?;
                    self.check_quota(store, bytes, count).await?;
                }
                transferred(store, account, &mailbox, &uids, &to, transfer).await?
            }
            MailboxRequest::Quota { mailbox } => {
                if let Some(mailbox) = mailbox {
                    // GETQUOTAROOT of a mailbox that does not exist is NO (RFC 9208 §4.1.2).
                    store.mailbox_id(account, &mailbox).await?;
                }
                MailboxReply::Quota(crate::mail::Quota {
                    usage: store.quota_usage(account).await?,
                    limits: self.limits,
                })
            }
            MailboxRequest::GetMetadata { mailbox } => {
                let stored = store.metadata(account, mailbox.as_deref()).await?;
                let mut entries: Vec<Annotation> = stored
                    .into_iter()
                    .map(|a| Annotation {
                        name: a.name,
                        value: Some(a.value),
                    })
                    .collect();
                if mailbox.is_none() {
                    // The server's shared entries are the administrator's (RFC 5464).
                    let admin = [
                        ("/shared/admin", &self.metadata.admin),
                        ("/shared/comment", &self.metadata.comment),
                    ];
                    for (name, value) in admin {
                        if let Some(v) = value {
                            entries.push(Annotation {
                                name: name.to_string(),
                                value: Some(v.clone().into_bytes()),
                            });
                        }
                    }
                    entries.sort_by(|a, b| a.name.cmp(&b.name));
                }
                MailboxReply::Metadata(entries)
            }
            MailboxRequest::SetMetadata { mailbox, entries } => {
                let max = self.metadata.max_size;
                if entries
                    .iter()
                    .any(|e| e.value.as_ref().is_some_and(|v| v.len() > max))
                {
                    return Err(MailboxError::MetadataMaxSize(max as u64));
                }
                let changes = entries
                    .into_iter()
                    .map(|e| MetadataChange {
                        name: e.name,
                        value: e.value,
                    })
                    .collect();
                let max_entries = self.metadata.max_entries;
                match store
                    .set_metadata(account, mailbox.as_deref(), changes, max_entries)
                    .await
                {
                    Err(StoreError::TooManyAnnotations) => {
                        return Err(MailboxError::MetadataTooMany)
                    }
                    other => other?,
                }
                MailboxReply::Done
            }
            // ACL requests go through `shared::route`, to the mailbox's owner.
            MailboxRequest::GetAcl { .. }
            | MailboxRequest::SetAcl { .. }
            | MailboxRequest::ListRights { .. }
            | MailboxRequest::MyRights { .. } => {
                return Err(MailboxError::Unavailable(
                    "an ACL request that was not routed".into(),
                ))
            }
            MailboxRequest::Discard { mailbox, uids } => {
                let uids = store.expunge(account, &mailbox, Some(&uids)).await?;
                expunged(store, account, &mailbox, uids).await?
            }
            MailboxRequest::Expunge { mailbox, uids } => {
                let uids = match uids {
                    None => None,
                    Some(set) => Some(deleted_among(store, account, &mailbox, set).await?),
                };
                let uids = store.expunge(account, &mailbox, uids.as_deref()).await?;
                expunged(store, account, &mailbox, uids).await?
            }
        };
        Ok(reply)
    }

    /// APPEND: buffered bytes, or the oldest stream received for it.
    async fn append(
        &mut self,
        store: &Store,
        mailbox: &str,
        message: AppendBody,
        flags: Flags,
        internal_date: Option<i64>,
    ) -> Result<MailboxReply, MailboxError> {
        let len = match &message {
            AppendBody::Bytes(b) | AppendBody::Binary(b) => b.len() as u64,
            // Checked when the stream began.
            AppendBody::Streamed => 0,
        };
        if len > 0 {
            self.check_quota(store, len, 1).await?;
        }
        let account = self.account.as_str();
        let date = internal_date.unwrap_or_else(crate::store::now);
        let uid = match message {
            AppendBody::Bytes(message) => {
                // Bare LFs become CRLF, as Dovecot stores them: sizes, FETCH and POP3 then
                // agree (RFC 5322 §2.1). A streamed literal (≥ 256 KiB) is kept as sent: its
                // length was fixed when it was announced.
                let message = crate::wire::crlf(message);
                store
                    .append(account, mailbox, &message, flags, date)
                    .await?
            }
            // RFC 3516 §4.3: a literal8's bytes are the message, exactly.
            AppendBody::Binary(message) => {
                store
                    .append(account, mailbox, &message, flags, date)
                    .await?
            }
            AppendBody::Streamed => {
                let stream = self
                    .streams
                    .pop_front()
                    .ok_or_else(|| MailboxError::Unavailable("no stream to append".into()))?;
                store
                    .append_stream(account, mailbox, stream, flags, date)
                    .await?
            }
        };
        Ok(MailboxReply::Appended {
            uid_validity: store.validity_and_modseq(account, mailbox).await?.0,
            uid,
        })
    }

    /// A change to the selected mailbox that has already arrived, without waiting.
    pub fn ready_change(&mut self) -> Option<Change> {
        self.watch.as_mut()?.try_recv().ok()
    }

    /// The next change to the selected mailbox; pending forever when nothing is selected.
    async fn next_change(watch: &mut Option<UnboundedReceiver<Change>>) -> Change {
        match watch.as_mut() {
            Some(feed) => match feed.next().await {
                Some(change) => change,
                None => {
                    // The store dropped the feed (shutdown): nothing more will come.
                    *watch = None;
                    std::future::pending().await
                }
            },
            None => std::future::pending().await,
        }
    }

    /// The next notice for the session: a change to the selected mailbox, or what NOTIFY
    /// watches. Cancel-safe (the driver drops it when input comes first): a STATUS owed is
    /// forgotten only once it is returned.
    pub async fn next_notice(&mut self) -> MailboxNotice {
        loop {
            if let Some(notifier) = self.notifier.as_mut() {
                if let Some(notice) = notifier.ready.pop_front() {
                    return notice;
                }
                if let Some(&id) = notifier.owed.first() {
                    let name = notifier.names.get(&id).cloned();
                    let status = match (&name, &self.store) {
                        (Some(name), Some(store)) if Some(id) != self.selected => {
                            store.status(&self.account, name).await.ok()
                        }
                        _ => None,
                    };
                    if let Some(notifier) = self.notifier.as_mut() {
                        notifier.owed.retain(|o| *o != id);
                    }
                    // A mailbox deleted or selected meanwhile is told otherwise.
                    if let (Some(name), Some(status)) = (name, status) {
                        return MailboxNotice::Status { name, status };
                    }
                    continue;
                }
            }
            let selected = self.selected;
            let watch = &mut self.watch;
            let batch = match self.notifier.as_mut() {
                None => return MailboxNotice::Selected(Access::next_change(watch).await),
                Some(notifier) => {
                    enum Step {
                        Selected(Change),
                        Batch(AccountBatch),
                        Owner(shared::OwnerNotice),
                    }
                    let (feed, owners) = (&mut notifier.feed, &notifier.owners);
                    let change = async { Step::Selected(Access::next_change(watch).await) };
                    let feed = async { Step::Batch(feed.next().await) };
                    let owner = async {
                        match owners {
                            Some(owners) => Step::Owner(owners.next().await),
                            None => std::future::pending().await,
                        }
                    };
                    use futures_lite::future::or;
                    let step = or(change, or(feed, owner)).await;
                    match step {
                        Step::Selected(change) => return MailboxNotice::Selected(change),
                        Step::Owner(shared::OwnerNotice::Overflow) => {
                            // RFC 5465 §5.8, as for the account's own feed.
                            self.notifier = None;
                            return MailboxNotice::Overflow;
                        }
                        Step::Owner(shared::OwnerNotice::Sharer { owner, key, home }) => {
                            if let Some(owners) = notifier.owners.as_mut() {
                                owners.add(owner, key, home).await;
                            }
                            continue;
                        }
                        Step::Owner(notice) => {
                            match notifier
                                .owner_notice(notice, self.remote.as_ref().map(|r| r.name.as_str()))
                            {
                                Some(notice) => return notice,
                                None => continue,
                            }
                        }
                        Step::Batch(batch) => batch,
                    }
                }
            };
            match batch {
                AccountBatch::Overflowed => {
                    // RFC 5465 §5.8: as after NOTIFY NONE.
                    self.notifier = None;
                    return MailboxNotice::Overflow;
                }
                AccountBatch::Changes { touched, changes } => {
                    if let Some(notifier) = self.notifier.as_mut() {
                        notifier.take(selected, touched, changes);
                    }
                }
            }
        }
    }
}

/// NOTIFY's watch of an account: what the session asked for, the feed, what the service
/// knows of the account's names and subscriptions (kept current from the feed), and the
/// notices not handed over yet. Bounded as the feed is: at most one owed STATUS per
/// mailbox, and the other notices of one batch.
struct Notifier {
    spec: NotifySpec,
    feed: AccountFeed,
    names: HashMap<MailboxId, String>,
    subscriptions: BTreeSet<String>,
    ready: VecDeque<MailboxNotice>,
    /// Mailboxes whose STATUS is owed, in order.
    owed: Vec<MailboxId>,
    /// The watches of other accounts whose mailboxes the session may see (RFC 4314
    /// shared mailboxes), on their owners' home shards; `None`: none is watched.
    owners: Option<shared::OwnerWatches>,
}

impl Notifier {
    fn events(&self, name: &str, selected: bool) -> crate::mailbox::NotifyEvents {
        self.spec
            .events(name, selected, self.subscriptions.contains(name))
    }

    /// What an owner's shard told of a shared mailbox, as the session's notice if the
    /// session watches it for that event. The owner's shard already checked the user's
    /// rights and the groups that could match; the subscriptions are known only here.
    /// `selected`: the selected mailbox's name if it is a shared one (its own changes come
    /// through its select watch; the SELECTED group decides what else is told of it).
    fn owner_notice(
        &self,
        notice: shared::OwnerNotice,
        selected: Option<&str>,
    ) -> Option<MailboxNotice> {
        let is_selected = |name: &str| selected == Some(name);
        match notice {
            shared::OwnerNotice::Status {
                name,
                status,
                messages,
                flags,
            } => {
                let events = self.events(&name, false);
                let told = (messages && events.messages) || (flags && events.flags);
                (told && !is_selected(&name)).then_some(MailboxNotice::Status { name, status })
            }
            shared::OwnerNotice::Name { name, old, deleted } => {
                let told = self.events(&name, is_selected(&name)).names
                    || old
                        .as_deref()
                        .is_some_and(|o| self.events(o, is_selected(o)).names);
                told.then_some(MailboxNotice::Name { name, old, deleted })
            }
            shared::OwnerNotice::Metadata { mailbox, entry } => self
                .events(&mailbox, is_selected(&mailbox))
                .mailbox_metadata
                .then_some(MailboxNotice::Metadata {
                    mailbox: Some(mailbox),
                    entry,
                }),
            shared::OwnerNotice::Overflow => Some(MailboxNotice::Overflow),
            shared::OwnerNotice::Sharer { .. } => None,
        }
    }

    /// A batch from the feed, turned into owed STATUS reads and notices.
    fn take(
        &mut self,
        selected: Option<MailboxId>,
        touched: Vec<crate::store::Touched>,
        changes: Vec<AccountChange>,
    ) {
        for t in touched {
            // The selected mailbox's changes come through its own feed.
            if Some(t.mailbox) == selected || self.owed.contains(&t.mailbox) {
                continue;
            }
            let Some(name) = self.names.get(&t.mailbox) else {
                continue;
            };
            let events = self.events(name, false);
            if (t.messages && events.messages) || (t.flags && events.flags) {
                self.owed.push(t.mailbox);
            }
        }
        for change in changes {
            match change {
                AccountChange::Created { id, name } => {
                    self.names.insert(id, name.clone());
                    if self.events(&name, false).names {
                        self.ready.push_back(MailboxNotice::Name {
                            name,
                            old: None,
                            deleted: false,
                        });
                    }
                }
                AccountChange::Mailbox(id, Change::Renamed { name }) => {
                    let old = self.names.insert(id, name.clone());
                    let is_selected = Some(id) == selected;
                    let told = self.events(&name, is_selected).names
                        || old
                            .as_deref()
                            .is_some_and(|o| self.events(o, is_selected).names);
                    if told {
                        self.ready.push_back(MailboxNotice::Name {
                            name,
                            old,
                            deleted: false,
                        });
                    }
                }
                AccountChange::Mailbox(id, Change::Deleted) => {
                    self.owed.retain(|o| *o != id);
                    if let Some(name) = self.names.remove(&id) {
                        if self.events(&name, Some(id) == selected).names {
                            self.ready.push_back(MailboxNotice::Name {
                                name,
                                old: None,
                                deleted: true,
                            });
                        }
                    }
                }
                // Arrivals, expunges and flags come as `touched`; the owner always has
                // every right.
                AccountChange::Mailbox(..) | AccountChange::Acl { .. } => {}
                AccountChange::Subscription { name, subscribed } => {
                    // A mailbox being unsubscribed still matches SUBSCRIBED for this.
                    let selected_name = selected.and_then(|id| self.names.get(&id));
                    let is_selected = selected_name == Some(&name);
                    self.subscriptions.insert(name.clone());
                    let told = self.events(&name, is_selected).subscriptions;
                    if !subscribed {
                        self.subscriptions.remove(&name);
                    }
                    if told {
                        self.ready
                            .push_back(MailboxNotice::Subscription { name, subscribed });
                    }
                }
                AccountChange::Metadata {
                    mailbox: None,
                    entry,
                } => {
                    if self.spec.server_metadata() {
                        self.ready.push_back(MailboxNotice::Metadata {
                            mailbox: None,
                            entry,
                        });
                    }
                }
                AccountChange::Metadata {
                    mailbox: Some(id),
                    entry,
                } => {
                    let Some(name) = self.names.get(&id).cloned() else {
                        continue;
                    };
                    if self.events(&name, Some(id) == selected).mailbox_metadata {
                        self.ready.push_back(MailboxNotice::Metadata {
                            mailbox: Some(name),
                            entry,
                        });
                    }
                }
            }
        }
    }
}

/// COPY or MOVE. Only a MOVE changes the source (its expunge): only then is its
/// HIGHESTMODSEQ read back for the tagged OK.
async fn transferred(
    store: &Store,
    account: &str,
    mailbox: &str,
    uids: &[Uid],
    to: &str,
    transfer: Transfer,
) -> Result<MailboxReply, MailboxError> {
    let (pairs, source_modseq) = match transfer {
        Transfer::Copy => (store.copy(account, mailbox, uids, to).await?, ModSeq(0)),
        Transfer::Move => {
            let pairs = store.move_messages(account, mailbox, uids, to).await?;
            let (_, source_modseq) = store.validity_and_modseq(account, mailbox).await?;
            (pairs, source_modseq)
        }
    };
    let (uid_validity, _) = store.validity_and_modseq(account, to).await?;
    Ok(MailboxReply::Transferred {
        uid_validity,
        pairs,
        source_modseq,
    })
}

/// The \Deleted messages among `set`: UID EXPUNGE removes only those (RFC 4315 §2.1).
async fn deleted_among(
    store: &Store,
    account: &str,
    mailbox: &str,
    mut set: Vec<Uid>,
) -> Result<Vec<Uid>, MailboxError> {
    set.sort_unstable();
    let deleted = store
        .search(
            account,
            mailbox,
            &crate::store::SearchKey::Flag(crate::mail::SystemFlags::DELETED),
        )
        .await?;
    Ok(deleted
        .into_iter()
        .filter(|u| set.binary_search(u).is_ok())
        .collect())
}

/// An expunge's reply: what went, and the mailbox's HIGHESTMODSEQ after it.
async fn expunged(
    store: &Store,
    account: &str,
    mailbox: &str,
    uids: Vec<Uid>,
) -> Result<MailboxReply, MailboxError> {
    let (_, highest_modseq) = store.validity_and_modseq(account, mailbox).await?;
    Ok(MailboxReply::Expunged {
        uids,
        highest_modseq,
    })
}

/// UIDs at most this far apart are read from the index as one range.
const RUN_GAP: u32 = 64;

/// Bytes of mail a text search's request indexes before it answers with how far it is (a
/// mailbox's first text search builds its index; the session reports progress in between).
const TEXT_INDEX_STEP: u64 = 16 << 20;

/// One FETCH batch: the index entries of `uids`, and their bytes (or header blocks) when
/// asked, up to [`BATCH_BYTES`]; the UIDs past that are handed back as `rest`.
async fn fetch(
    store: &Store,
    account: &str,
    mailbox: &str,
    uids: &[Uid],
    content: Content,
) -> Result<MailboxReply, MailboxError> {
    if content <= Content::Envelope {
        let entries = match content {
            Content::Envelope => store.message_envelopes(account, mailbox, uids).await?,
            _ => store
                .message_meta(account, mailbox, uids)
                .await?
                .into_iter()
                .map(|meta| (meta, Default::default()))
                .collect(),
        };
        let messages = entries
            .into_iter()
            .map(|(meta, envelope)| FetchedMessage {
                meta,
                summary: MimeSummary {
                    envelope,
                    parts: Vec::new(),
                },
                bytes: None,
            })
            .collect();
        return Ok(MailboxReply::Fetched {
            messages,
            rest: Vec::new(),
            now: crate::store::now(),
        });
    }
    let mut uids = uids.to_vec();
    uids.sort_unstable();
    uids.dedup();
    // Read the index in runs of nearby UIDs, so a sparse batch (UIDs 1 and 90000) does not
    // copy every entry between them.
    let mut entries = Vec::with_capacity(uids.len());
    let mut i = 0;
    while i < uids.len() {
        let mut j = i;
        while j + 1 < uids.len() && uids[j + 1].0 <= uids[j].0.saturating_add(RUN_GAP) {
            j += 1;
        }
        entries.extend(store.messages(account, mailbox, uids[i]..=uids[j]).await?);
        i = j + 1;
    }
    entries.retain(|e| uids.binary_search(&e.uid).is_ok());
    // In UID order, as many as the batch's byte budget takes (always at least one); the
    // UIDs past it go back to the session as `rest`, for its next batch.
    let mut rest = Vec::new();
    let mut wants: Vec<(Uid, u64)> = Vec::new();
    if content >= Content::Header {
        let mut budget = 0u64;
        let mut taken = 0;
        for e in &entries {
            let len = match content {
                Content::Header => e
                    .summary
                    .parts
                    .first()
                    .map_or(u64::from(e.size), |p| u64::from(p.body_offset)),
                _ => u64::from(e.size),
            };
            if taken > 0 && budget + len > BATCH_BYTES {
                break;
            }
            budget += len;
            taken += 1;
            wants.push((e.uid, len));
        }
        rest = entries.drain(taken..).map(|e| e.uid).collect();
    }
    // The batch's bodies (or header blocks) with a few combined reads, served as slices of
    // the read buffers: nothing is copied until TLS encrypts it.
    let mut bodies = if wants.is_empty() {
        Vec::new()
    } else {
        store.read_prefixes(account, mailbox, &wants).await?
    }
    .into_iter();
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let bytes = match content {
            Content::Metadata | Content::Envelope | Content::Summary => None,
            Content::Header | Content::Bytes => match bodies.next().flatten() {
                Some(body) => Some(MessageBytes::from(body)),
                // Expunged meanwhile: left out, like a missing UID.
                None => continue,
            },
        };
        out.push(FetchedMessage {
            meta: MessageMeta {
                uid: e.uid,
                flags: e.flags,
                modseq: e.modseq,
                internal_date: e.internal_date,
                size: e.size,
                saved: (e.saved != 0).then_some(e.saved),
                email_id: e.email_id,
            },
            summary: e.summary,
            bytes,
        });
    }
    Ok(MailboxReply::Fetched {
        messages: out,
        rest,
        now: crate::store::now(),
    })
}

impl From<StoreError> for MailboxError {
    fn from(e: StoreError) -> MailboxError {
        to_error(e)
    }
}

fn to_error(e: StoreError) -> MailboxError {
    match e {
        StoreError::NoSuchMailbox => MailboxError::NoSuchMailbox,
        StoreError::MailboxExists => MailboxError::MailboxExists,
        StoreError::InvalidMailboxName => MailboxError::InvalidName,
        StoreError::InboxIsPermanent => MailboxError::InboxIsPermanent,
        StoreError::TooLarge(_) => MailboxError::TooLarge,
        other => MailboxError::Unavailable(other.to_string()),
    }
}

/// IMAP's service: one [`Access`] per authenticated connection, made at its first request
/// (on the home shard, after the move).
pub struct MailboxService {
    access: Option<Access>,
}

impl Service for MailboxService {
    type Session = ImapSession;
    const PLACEMENT: Placement = Placement::HomeShard;

    fn session(
        _listener: &Listener,
        session: SessionConfig,
        security: Security,
        _config: &Config,
    ) -> ImapSession {
        ImapSession::new(session, security)
    }

    fn resume_session(
        _listener: &Listener,
        session: SessionConfig,
        _config: &Config,
        handoff: crate::session::Handoff,
    ) -> Option<ImapSession> {
        ImapSession::from_handoff(session, handoff)
    }

    fn new() -> Self {
        MailboxService { access: None }
    }

    async fn handle(&mut self, request: MailboxRequest, cx: &Context<'_>) -> MailboxAnswer {
        // Changes the request itself caused (an APPEND or COPY to the selected mailbox) or
        // that landed meanwhile are reported before the reply (RFC 9051 §6.3.12). Not after
        // SELECT/UNSELECT: the feed is then a new mailbox's, which the reply's snapshot covers.
        let drain = !matches!(
            request,
            MailboxRequest::Select { .. } | MailboxRequest::Unselect
        );
        let access = match (&mut self.access, cx.account) {
            // Only ever the authenticated account's (the driver makes a new service when a
            // session unauthenticates; this holds even if it did not).
            (Some(access), Some(account)) if access.account() == account => access,
            (_, Some(account)) => self.access.insert(Access::new(account.to_string())),
            (_, None) => {
                // The session asks for mailboxes only once authenticated.
                return MailboxAnswer {
                    changes: Vec::new(),
                    reply: MailboxReply::Failed(MailboxError::Unavailable(
                        "mailbox request before authentication".into(),
                    )),
                };
            }
        };
        if matches!(
            request,
            MailboxRequest::GetMetadata { .. } | MailboxRequest::SetMetadata { .. }
        ) {
            access.metadata = cx.shard.server().config.metadata.clone();
        }
        if matches!(request, MailboxRequest::Notify(_)) {
            access.notify_max_pending = cx.shard.server().config.limits.notify_max_pending;
        }
        access.replication = cx.shard.replication.borrow().clone();
        if Access::counts(&request) || matches!(request, MailboxRequest::Transfer { .. }) {
            let server = cx.shard.server();
            let address = crate::accounts::address_of_key(access.account());
            access.limits = match server.accounts.quota_limits(address, server.config.quota) {
                Ok(limits) => limits.unwrap_or(server.config.quota),
                Err(e) => {
                    tracing::error!(error = %e, "account database unavailable");
                    server.config.quota
                }
            };
        }
        // A request naming another account's mailbox (or an ACL) runs at its owner's shard.
        let reply = match shared::route(access, request, cx).await {
            shared::Routed::Local(request) => access.execute(&cx.shard.store, request).await,
            shared::Routed::Answered(reply) => reply,
        };
        let mut changes = Vec::new();
        if drain {
            while let Some(change) = access.ready_change() {
                changes.push(change);
            }
        }
        MailboxAnswer { changes, reply }
    }

    async fn next_notice(&mut self) -> MailboxNotice {
        match &mut self.access {
            // NOTIFY's wait (with its STATUS reads) is boxed: every idle connection's future
            // holds this one, and most never set NOTIFY.
            Some(access) if access.notifier.is_some() => Box::pin(access.next_notice()).await,
            Some(access) => MailboxNotice::Selected(Access::next_change(&mut access.watch).await),
            None => std::future::pending().await,
        }
    }
}
