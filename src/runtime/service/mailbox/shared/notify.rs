//! NOTIFY (RFC 5465) of other accounts' shared mailboxes.
//!
//! A session's NOTIFY watches its own account through the store's account-wide feed on its
//! home shard. The mailboxes other accounts share with the user live in their owners'
//! stores, on the owners' home shards: for each owner the session's event groups may name
//! (SUBTREE `Shared` or `Shared/<owner>`, MAILBOXES `Shared/<owner>/…`, SUBSCRIBED; never
//! INBOXES or PERSONAL, which are the user's own), the session asks the owner's shard to
//! watch the owner's account ([`ShareRequest::WatchOwner`]). There a pump reads the owner's
//! account feed, keeps the user's rights on each mailbox current (every SETACL/DELETEACL is
//! a change on that feed), and sends back, over the sharing mesh, typed
//! [`OwnerNotice`]s named in the shared namespace:
//!
//! - a mailbox the user may look up and read (`l` and `r`, RFC 4314) whose messages or flags
//!   changed: its STATUS figures, read once per batch of changes, as for the account's own
//!   mailboxes; without `r` nothing is said of its messages (RFC 5465 §5: no MessageNew,
//!   MessageExpunge or FlagChange for a mailbox the user may not read);
//! - a mailbox created, renamed or deleted that the user may look up; the `l` right granted
//!   is told as a creation (`* LIST () …`), revoked as a deletion (`* LIST (\NonExistent)
//!   …`): the user can no longer tell the mailbox from one that does not exist (RFC 4314
//!   §6), and hears nothing more of it;
//! - an annotation of a mailbox the user may read.
//!
//! The owner's shard picks what any group of the session might want (the subscriptions are
//! the user's, kept on the user's shard); the user's shard then applies the session's groups
//! exactly ([`super::super::Notifier`]). Nothing touches another shard's store.
//!
//! Bounded: the owner's feed holds at most `[imap] notify_max_pending` changes while its
//! pump waits for the user's shard to take a batch, and the session's queue of owners'
//! notices as many (a STATUS replaces the one of the same mailbox still waiting); either
//! overflowing ends the session's NOTIFY with `* OK [NOTIFICATIONOVERFLOW]`, as its own
//! feed's does. At most `[imap] notify_max_owners` owners are watched per session; the
//! others' mailboxes are not, and NOTIFY SET says so with an untagged `* NO [LIMIT]`. The
//! watches end with the session's NOTIFY: NOTIFY NONE, another NOTIFY SET, an overflow, the
//! end of the session ([`RemoteWatch`] stops its pump when dropped; a pump whose notices
//! nobody takes stops too).
//!
//! Owners are found when NOTIFY is set: those the spec names, and, for SUBTREE `Shared` and
//! SUBSCRIBED, those noted as sharing with the user or with `anyone` (as LIST finds them).
//! An owner named in the spec is watched even before sharing anything, so a later grant is
//! heard. An owner not watched yet who grants the user (or `anyone`) a right later is
//! noted on the user's home shard (the `anyone` note is passed on to every shard); a
//! session there that watches the whole namespace then starts watching the owner too, and
//! tells the mailboxes the user may now look up as created.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use futures_channel::oneshot;

use super::{
    account_key, mesh, next_watch_id, Access, OwnerNotice, RemoteWatch, ShareMesh, ShareReply,
    ShareRequest, Watched, ANYONE_REGISTRY, OWNER_QUEUES, PUMPS,
};
use crate::mail::acl::{rights_of, shared_mailbox_name, Rights, SHARED_PREFIX};
use crate::mail::{AccountChange, Change, MailboxId, MailboxStatus};
use crate::mailbox::{MailboxFilter, MailboxReply, NotifyEvents, NotifySpec};
use crate::placement::ShardId;
use crate::runtime::net::ShardState;
use crate::runtime::service::Context;
use crate::store::{AccountBatch, AccountFeed, Store, Touched};

/// The rights a STATUS of a shared mailbox needs.
fn readable() -> Rights {
    Rights::LOOKUP.union(Rights::READ)
}

/// A session's queue of what its owners' watches told, not handed over yet.
pub(in crate::runtime::service::mailbox) struct OwnerQueue {
    notices: VecDeque<OwnerNotice>,
    max_pending: usize,
    overflowed: bool,
    waker: Option<std::task::Waker>,
}

impl OwnerQueue {
    /// Add a notice: a STATUS replaces the one of its mailbox still waiting; one more than
    /// `max_pending` waiting overflows the queue (nothing else is kept).
    pub(super) fn push(&mut self, notice: OwnerNotice) {
        if self.overflowed {
            return;
        }
        if let OwnerNotice::Status {
            name,
            status,
            messages,
            flags,
        } = &notice
        {
            let waiting = self.notices.iter_mut().find_map(|n| match n {
                OwnerNotice::Status {
                    name: waiting,
                    status,
                    messages,
                    flags,
                } if waiting == name => Some((status, messages, flags)),
                _ => None,
            });
            if let Some((s, m, f)) = waiting {
                *s = status.clone();
                *m |= messages;
                *f |= flags;
                return;
            }
        }
        if notice == OwnerNotice::Overflow || self.notices.len() >= self.max_pending {
            self.overflowed = true;
            self.notices.clear();
            self.notices.push_back(OwnerNotice::Overflow);
        } else {
            self.notices.push_back(notice);
        }
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

thread_local! {
    /// This shard's NOTIFY sessions that watch the whole shared namespace (SUBTREE
    /// `Shared`, SUBSCRIBED): their user's store key and their queue, told of new sharers.
    static LISTENERS: RefCell<Vec<(String, std::rc::Weak<RefCell<OwnerQueue>>)>> =
        const { RefCell::new(Vec::new()) };
}

/// On `account`'s home shard: `owner` (an address) was noted as sharing with `account` (a
/// store key), or with anyone ([`ANYONE_REGISTRY`]: passed on to every shard).
pub(super) fn noted_sharer(state: &Rc<ShardState>, account: &str, owner: &str) {
    if account != ANYONE_REGISTRY {
        new_sharer(state, Some(account), owner);
        return;
    }
    let Some(mesh) = state.shares.borrow().clone() else {
        return;
    };
    for shard in 0..mesh.shards() {
        let (mesh, owner) = (mesh.clone(), owner.to_string());
        glommio::spawn_local(async move {
            let _ = mesh
                .request(ShardId(shard), ShareRequest::NewSharer { owner })
                .await;
        })
        .detach();
    }
}

/// Tell this shard's sessions that listen (those of `account`, or all: `None`) that `owner`
/// shares with them.
pub(super) fn new_sharer(state: &ShardState, account: Option<&str>, owner: &str) {
    let key = match state.server().accounts.lookup(owner) {
        Ok(Some(found)) => found.store_key(),
        _ => return,
    };
    let home = state.map.home_shard(&key);
    LISTENERS.with(|l| {
        let mut listeners = l.borrow_mut();
        listeners.retain(|(_, q)| q.strong_count() > 0);
        for (user, queue) in listeners.iter() {
            if account.is_some_and(|a| a != user) {
                continue;
            }
            if let Some(queue) = queue.upgrade() {
                queue.borrow_mut().push(OwnerNotice::Sharer {
                    owner: owner.to_string(),
                    key: key.clone(),
                    home,
                });
            }
        }
    });
}

/// A session's NOTIFY watches of other accounts: dropping them stops every one.
pub(in crate::runtime::service::mailbox) struct OwnerWatches {
    queue: Rc<RefCell<OwnerQueue>>,
    watches: Vec<RemoteWatch>,
    /// The owners watched (addresses).
    owners: Vec<String>,
    /// What a watch started later needs.
    mesh: Option<Rc<ShareMesh>>,
    user: String,
    spec: NotifySpec,
    max_pending: usize,
    max_owners: usize,
}

impl OwnerWatches {
    /// Start watching `owner` (`key` its store key, on shard `home`), now sharing with the
    /// user, unless it is watched already or the session watches as many as it may; the
    /// mailboxes the user may now look up are told as created. Cancel-safe: a watch
    /// interrupted while it starts is stopped, and the news queued again.
    pub(in crate::runtime::service::mailbox) async fn add(
        &mut self,
        owner: String,
        key: String,
        home: ShardId,
    ) {
        if owner == self.user
            || self.owners.contains(&owner)
            || self.owners.len() >= self.max_owners
        {
            return;
        }
        let Some(mesh) = self.mesh.clone() else {
            return;
        };
        let mut retry = Retry {
            queue: self.queue.clone(),
            notice: Some(OwnerNotice::Sharer {
                owner: owner.clone(),
                key: key.clone(),
                home,
            }),
        };
        let started = start(
            &mesh,
            &self.queue,
            home,
            key,
            &self.user,
            &self.spec,
            self.max_pending,
        )
        .await;
        retry.notice = None;
        let Some((watch, _, visible)) = started else {
            return;
        };
        let mut queue = self.queue.borrow_mut();
        for name in visible {
            queue.push(OwnerNotice::Name {
                name,
                old: None,
                deleted: false,
            });
        }
        self.watches.push(watch);
        self.owners.push(owner);
    }

    /// The next notice of any owner. Cancel-safe: a notice is taken only when returned.
    pub(in crate::runtime::service::mailbox) async fn next(&self) -> OwnerNotice {
        std::future::poll_fn(|cx| {
            let mut queue = self.queue.borrow_mut();
            match queue.notices.pop_front() {
                Some(notice) => std::task::Poll::Ready(notice),
                None => {
                    queue.waker = Some(cx.waker().clone());
                    std::task::Poll::Pending
                }
            }
        })
        .await
    }
}

/// A new sharer's news, queued again unless taken care of (the wait that took it may be
/// dropped while the watch starts).
struct Retry {
    queue: Rc<RefCell<OwnerQueue>>,
    notice: Option<OwnerNotice>,
}

impl Drop for Retry {
    fn drop(&mut self) {
        if let Some(notice) = self.notice.take() {
            self.queue.borrow_mut().push(notice);
        }
    }
}

/// The owner a name of the shared namespace is in: `Shared/<owner>` or below it.
fn owner_in(name: &str) -> Option<String> {
    let rest = name.strip_prefix(SHARED_PREFIX)?.strip_prefix('/')?;
    let owner = rest.split('/').next().unwrap_or_default();
    (!owner.is_empty()).then(|| owner.to_lowercase())
}

/// The owners `spec` names, and whether it may name any owner's mailboxes (SUBTREE of the
/// whole namespace, SUBSCRIBED).
fn owners_named(spec: &NotifySpec) -> (Vec<String>, bool) {
    let mut named = Vec::new();
    let mut every = false;
    for (filter, _) in &spec.groups {
        match filter {
            MailboxFilter::Subtree(roots) => {
                for root in roots {
                    if root == SHARED_PREFIX {
                        every = true;
                    }
                    named.extend(owner_in(root));
                }
            }
            MailboxFilter::Mailboxes(names) => named.extend(names.iter().filter_map(|n| {
                // `Shared/<owner>` is a level of the namespace, no mailbox.
                let owner = owner_in(n)?;
                (n.len() > SHARED_PREFIX.len() + 1 + owner.len()).then_some(owner)
            })),
            MailboxFilter::Subscribed => every = true,
            MailboxFilter::Inboxes | MailboxFilter::Personal => {}
        }
    }
    (named, every)
}

/// The owners noted as sharing with the session's user, or with `anyone` (as LIST finds
/// them).
async fn sharers(access: &Access, cx: &Context<'_>) -> Vec<String> {
    super::sharers_of(access.account(), cx)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the owners sharing with the user are unknown");
            Vec::new()
        })
}

/// After NOTIFY SET set the watch of the account's own mailboxes (`reply`): watch the
/// owners `spec` may name, up to `[imap] notify_max_owners`, adding their initial STATUS.
pub(in crate::runtime::service::mailbox) async fn watch_owners(
    access: &mut Access,
    cx: &Context<'_>,
    spec: NotifySpec,
    reply: MailboxReply,
) -> MailboxReply {
    let MailboxReply::Notifying { mut statuses, .. } = reply else {
        return reply;
    };
    if access.notifier.is_none() {
        return MailboxReply::Notifying {
            statuses,
            unwatched: 0,
        };
    }
    let user = crate::accounts::address_of_key(access.account()).to_string();
    let (mut owners, every) = owners_named(&spec);
    if every {
        owners.extend(sharers(access, cx).await);
    }
    // In the spec's order, then the sharers' (sorted); each once, never the user.
    let mut seen = std::collections::HashSet::new();
    owners.retain(|o| *o != user && seen.insert(o.clone()));
    let max = cx.shard.server().config.notify_max_owners;
    let mut watches = Vec::new();
    let mut watched = Vec::new();
    let mut unwatched = 0;
    let queue = Rc::new(RefCell::new(OwnerQueue {
        notices: VecDeque::new(),
        max_pending: access.notify_max_pending.max(1),
        overflowed: false,
        waker: None,
    }));
    let mesh = match mesh(cx) {
        Ok(mesh) => Some(mesh),
        Err(e) => {
            tracing::warn!(error = ?e, "shared mailboxes not watched");
            None
        }
    };
    for owner in owners {
        let (Some(mesh), Some(key)) = (&mesh, account_key(cx, &owner)) else {
            continue;
        };
        if watches.len() >= max {
            unwatched += 1;
            continue;
        }
        let home = cx.shard.map.home_shard(&key);
        let max_pending = access.notify_max_pending;
        let Some((watch, initial, _)) =
            start(mesh, &queue, home, key, &user, &spec, max_pending).await
        else {
            continue;
        };
        if let Some(notifier) = access.notifier.as_ref() {
            // Never the selected mailbox's (RFC 5465 §3, as for the account's own).
            let selected = access.remote.as_ref().map(|r| r.name.as_str());
            statuses.extend(initial.into_iter().filter(|(name, _)| {
                let events = notifier.events(name, false);
                (events.messages || events.flags) && selected != Some(name.as_str())
            }));
        }
        watches.push(watch);
        watched.push(owner);
    }
    if every && max > 0 {
        LISTENERS.with(|l| {
            // Only live sessions' stay: the list is as long as this shard's listeners.
            let mut listeners = l.borrow_mut();
            listeners.retain(|(_, q)| q.strong_count() > 0);
            listeners.push((access.account().to_string(), Rc::downgrade(&queue)));
        });
    }
    if let Some(notifier) = access.notifier.as_mut() {
        if every || !watches.is_empty() {
            notifier.owners = Some(OwnerWatches {
                queue,
                watches,
                owners: watched,
                mesh,
                user,
                spec,
                max_pending: access.notify_max_pending,
                max_owners: max,
            });
        }
    }
    MailboxReply::Notifying {
        statuses,
        unwatched,
    }
}

/// Start a watch of the account `key` on its shard `home` for the session whose queue is
/// `queue`: the watch, the initial STATUS figures and the mailboxes `user` may look up; or
/// nothing if the owner's shard could not start it.
async fn start(
    mesh: &Rc<ShareMesh>,
    queue: &Rc<RefCell<OwnerQueue>>,
    home: ShardId,
    key: String,
    user: &str,
    spec: &NotifySpec,
    max_pending: usize,
) -> Option<(RemoteWatch, Vec<(String, MailboxStatus)>, Vec<String>)> {
    let id = next_watch_id();
    OWNER_QUEUES.with(|q| q.borrow_mut().insert(id, Rc::downgrade(queue)));
    // Dropped on any failure below (or when the future is): forgets the queue, stops a pump
    // that started.
    let watch = RemoteWatch {
        id,
        owner: home,
        mesh: mesh.clone(),
    };
    let asked = ShareRequest::WatchOwner {
        owner: key,
        user: user.to_string(),
        id,
        spec: spec.clone(),
        max_pending,
    };
    match mesh.request(home, asked).await {
        Ok(ShareReply::Watching(Ok(Watched { statuses, visible }))) => {
            Some((watch, statuses, visible))
        }
        other => {
            tracing::warn!(?other, "shared mailboxes not watched");
            None
        }
    }
}

/// The events any group of `spec` may ask for `name` (a shared name; never the selected
/// mailbox here), whether or not the user subscribes to it.
fn wanted(spec: &NotifySpec, name: &str) -> NotifyEvents {
    spec.events(name, false, true)
        .union(spec.events(name, false, false))
}

/// The owner's side of [`ShareRequest::WatchOwner`]: the feed first (nothing that lands
/// while the rights are read is missed), the initial figures, then the pump.
pub(super) async fn watch_owner(
    state: &Rc<ShardState>,
    to: ShardId,
    owner: String,
    user: String,
    id: u64,
    spec: NotifySpec,
    max_pending: usize,
) -> Result<Watched, String> {
    let store = &state.store;
    let error = |e: crate::store::StoreError| e.to_string();
    let feed = store.watch_account(&owner, max_pending).map_err(error)?;
    let names: HashMap<MailboxId, String> = store
        .list_mailboxes(&owner)
        .await
        .map_err(error)?
        .into_iter()
        .map(|m| (m.id, m.name))
        .collect();
    let rights: HashMap<MailboxId, Rights> = store
        .acls(&owner)
        .await
        .map_err(error)?
        .into_iter()
        .map(|(info, acl)| (info.id, rights_of(&acl, &user)))
        .filter(|(_, r)| !r.is_empty())
        .collect();
    let pump = OwnerPump {
        feed,
        to,
        id,
        address: crate::accounts::address_of_key(&owner).to_string(),
        owner,
        user,
        spec,
        names,
        rights,
    };
    let mut statuses = Vec::new();
    if pump.spec.initial_status {
        for (id, name) in &pump.names {
            let shared = pump.shared(name);
            let events = wanted(&pump.spec, &shared);
            if pump.rights_on(*id).contains(readable()) && (events.messages || events.flags) {
                // Deleted meanwhile: its deletion follows on the feed.
                if let Ok(status) = store.status(&pump.owner, name).await {
                    statuses.push((shared, status));
                }
            }
        }
        statuses.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let mut visible: Vec<String> = pump
        .names
        .iter()
        .filter(|(id, _)| pump.rights_on(**id).contains(Rights::LOOKUP))
        .map(|(_, name)| pump.shared(name))
        .collect();
    visible.sort();
    pump.start(state.clone());
    Ok(Watched { statuses, visible })
}

/// One session's watch of an owner's account, on the owner's shard.
struct OwnerPump {
    feed: AccountFeed,
    /// The watching session's shard and watch.
    to: ShardId,
    id: u64,
    /// The owner's store key and address.
    owner: String,
    address: String,
    /// The watching user's address (what the ACLs name).
    user: String,
    spec: NotifySpec,
    /// The owner's mailboxes (the owner's names).
    names: HashMap<MailboxId, String>,
    /// The user's rights on them (none where absent).
    rights: HashMap<MailboxId, Rights>,
}

impl OwnerPump {
    fn shared(&self, name: &str) -> String {
        shared_mailbox_name(&self.address, name)
    }

    fn rights_on(&self, id: MailboxId) -> Rights {
        self.rights.get(&id).copied().unwrap_or(Rights::NONE)
    }

    /// The user's rights on the owner's mailbox `name` now; none if it is gone.
    async fn read_rights(&self, store: &Store, name: &str) -> Rights {
        match store.acl(&self.owner, name).await {
            Ok(acl) => rights_of(&acl, &self.user),
            Err(_) => Rights::NONE,
        }
    }

    fn set_rights(&mut self, id: MailboxId, rights: Rights) -> Rights {
        let old = if rights.is_empty() {
            self.rights.remove(&id)
        } else {
            self.rights.insert(id, rights)
        };
        old.unwrap_or(Rights::NONE)
    }

    /// Send what each batch of the owner's changes tells the user, until the watch is
    /// stopped, the feed overflows or nobody takes the notices.
    fn start(mut self, state: Rc<ShardState>) {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let key = (self.to.0, self.id);
        PUMPS.with(|p| p.borrow_mut().insert(key, stop));
        glommio::spawn_local(async move {
            loop {
                let feed = &mut self.feed;
                let step = futures_lite::future::or(async { Some(feed.next().await) }, async {
                    let _ = (&mut stopped).await;
                    None
                })
                .await;
                let (notices, last) = match step {
                    None => break,
                    Some(AccountBatch::Overflowed) => (vec![OwnerNotice::Overflow], true),
                    Some(AccountBatch::Changes { touched, changes }) => {
                        (self.take(&state.store, touched, changes).await, false)
                    }
                };
                if !notices.is_empty() {
                    let Some(mesh) = state.shares.borrow().clone() else {
                        break;
                    };
                    let told = ShareRequest::OwnerNotices {
                        id: self.id,
                        notices,
                    };
                    match mesh.request(self.to, told).await {
                        Ok(ShareReply::Delivered(true)) => {}
                        _ => break,
                    }
                }
                if last {
                    break;
                }
            }
            PUMPS.with(|p| p.borrow_mut().remove(&key));
        })
        .detach();
    }

    /// One batch of the owner's changes, as notices for the user: names first (the rights
    /// they change apply to the figures), then the figures of the mailboxes touched.
    async fn take(
        &mut self,
        store: &Store,
        touched: Vec<Touched>,
        changes: Vec<AccountChange>,
    ) -> Vec<OwnerNotice> {
        let mut out = Vec::new();
        for change in changes {
            match change {
                AccountChange::Created { id, name } => {
                    // A new mailbox's ACL is inherited just after: told at that change if
                    // not yet readable here.
                    let rights = self.read_rights(store, &name).await;
                    self.names.insert(id, name.clone());
                    self.set_rights(id, rights);
                    let shared = self.shared(&name);
                    if rights.contains(Rights::LOOKUP) && wanted(&self.spec, &shared).names {
                        out.push(OwnerNotice::Name {
                            name: shared,
                            old: None,
                            deleted: false,
                        });
                    }
                }
                AccountChange::Acl { mailbox: id } => {
                    let Some(name) = self.names.get(&id).cloned() else {
                        continue;
                    };
                    let rights = self.read_rights(store, &name).await;
                    let old = self.set_rights(id, rights);
                    let lookup = rights.contains(Rights::LOOKUP);
                    let shared = self.shared(&name);
                    if old.contains(Rights::LOOKUP) != lookup && wanted(&self.spec, &shared).names {
                        // RFC 5465 §5.4 with RFC 4314 §6: gaining `l` is a creation to the
                        // user, losing it a deletion.
                        out.push(OwnerNotice::Name {
                            name: shared,
                            old: None,
                            deleted: !lookup,
                        });
                    }
                }
                AccountChange::Mailbox(id, Change::Renamed { name }) => {
                    let old = self.names.insert(id, name.clone()).map(|o| self.shared(&o));
                    let shared = self.shared(&name);
                    let told = wanted(&self.spec, &shared).names
                        || old.as_deref().is_some_and(|o| wanted(&self.spec, o).names);
                    if self.rights_on(id).contains(Rights::LOOKUP) && told {
                        out.push(OwnerNotice::Name {
                            name: shared,
                            old,
                            deleted: false,
                        });
                    }
                }
                AccountChange::Mailbox(id, Change::Deleted) => {
                    let rights = self.set_rights(id, Rights::NONE);
                    let Some(name) = self.names.remove(&id) else {
                        continue;
                    };
                    let shared = self.shared(&name);
                    if rights.contains(Rights::LOOKUP) && wanted(&self.spec, &shared).names {
                        out.push(OwnerNotice::Name {
                            name: shared,
                            old: None,
                            deleted: true,
                        });
                    }
                }
                AccountChange::Metadata {
                    mailbox: Some(id),
                    entry,
                } => {
                    let Some(name) = self.names.get(&id) else {
                        continue;
                    };
                    let shared = self.shared(name);
                    if self.rights_on(id).contains(readable())
                        && wanted(&self.spec, &shared).mailbox_metadata
                    {
                        out.push(OwnerNotice::Metadata {
                            mailbox: shared,
                            entry,
                        });
                    }
                }
                // The owner's subscriptions and server annotations are the owner's own;
                // messages and flags come as `touched`.
                AccountChange::Metadata { mailbox: None, .. }
                | AccountChange::Subscription { .. }
                | AccountChange::Mailbox(..) => {}
            }
        }
        for t in touched {
            let Some(name) = self.names.get(&t.mailbox) else {
                continue;
            };
            let shared = self.shared(name);
            let events = wanted(&self.spec, &shared);
            let told = (t.messages && events.messages) || (t.flags && events.flags);
            if !told || !self.rights_on(t.mailbox).contains(readable()) {
                continue;
            }
            // Deleted meanwhile: its deletion was or will be told.
            if let Ok(status) = store.status(&self.owner, name).await {
                out.push(OwnerNotice::Status {
                    name: shared,
                    status,
                    messages: t.messages,
                    flags: t.flags,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::mail::{ModSeq, Uid, UidValidity};

    fn status(messages: u32) -> MailboxStatus {
        MailboxStatus {
            id: MailboxId(1),
            messages,
            uid_next: Uid(messages + 1),
            uid_validity: UidValidity(1),
            unseen: 0,
            highest_modseq: ModSeq(1),
            deleted: 0,
            size: 0,
            recent: 0,
            deleted_size: 0,
        }
    }

    fn queue(max_pending: usize) -> OwnerQueue {
        OwnerQueue {
            notices: VecDeque::new(),
            max_pending,
            overflowed: false,
            waker: None,
        }
    }

    #[test]
    fn the_spec_names_owners_of_the_shared_namespace_only() {
        let spec = |filter| NotifySpec {
            groups: vec![(filter, NotifyEvents::default())],
            ..NotifySpec::default()
        };
        let subtree = |r: &[&str]| {
            owners_named(&spec(MailboxFilter::Subtree(
                r.iter().map(|s| s.to_string()).collect(),
            )))
        };
        assert_eq!(subtree(&["Shared"]), (vec![], true));
        assert_eq!(
            subtree(&["Shared/Bob@Example.com", "Shared/c@d.e/Team", "Work"]),
            (
                vec!["bob@example.com".to_string(), "c@d.e".to_string()],
                false
            )
        );
        assert_eq!(subtree(&["SharedX", "Shared/"]), (vec![], false));
        let mailboxes = owners_named(&spec(MailboxFilter::Mailboxes(vec![
            "Shared/b@c.d/Team".into(),
            "Shared/x@y.z".into(),
        ])));
        assert_eq!(mailboxes, (vec!["b@c.d".to_string()], false));
        assert_eq!(
            owners_named(&spec(MailboxFilter::Subscribed)),
            (vec![], true)
        );
        assert_eq!(
            owners_named(&spec(MailboxFilter::Personal)),
            (vec![], false)
        );
        assert_eq!(owners_named(&spec(MailboxFilter::Inboxes)), (vec![], false));
    }

    #[test]
    fn a_status_waiting_is_replaced_and_the_queue_is_bounded() {
        let mut q = queue(2);
        let st = |name: &str, n, messages, flags| OwnerNotice::Status {
            name: name.into(),
            status: status(n),
            messages,
            flags,
        };
        q.push(st("Shared/b@c.d/A", 1, true, false));
        q.push(st("Shared/b@c.d/A", 2, false, true));
        assert_eq!(q.notices.len(), 1);
        assert_eq!(q.notices[0], st("Shared/b@c.d/A", 2, true, true));
        q.push(OwnerNotice::Name {
            name: "Shared/b@c.d/B".into(),
            old: None,
            deleted: false,
        });
        assert_eq!(q.notices.len(), 2);
        q.push(st("Shared/b@c.d/C", 1, true, false));
        assert!(q.overflowed);
        assert_eq!(q.notices, VecDeque::from([OwnerNotice::Overflow]));
        q.push(st("Shared/b@c.d/D", 1, true, false));
        assert_eq!(q.notices, VecDeque::from([OwnerNotice::Overflow]));
    }

    #[test]
    fn personal_filters_never_match_the_shared_namespace() {
        assert!(MailboxFilter::Personal.matches("Work", false));
        assert!(!MailboxFilter::Personal.matches("Shared/b@c.d/Team", false));
        assert!(MailboxFilter::Subtree(vec!["Shared".into()]).matches("Shared/b@c.d/Team", false));
        assert!(MailboxFilter::Subscribed.matches("Shared/b@c.d/Team", true));
    }
}
