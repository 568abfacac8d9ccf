//! Shared mailboxes (RFC 4314 ACL, RFC 2342 "other users'" namespace) across shards.
//!
//! A user sees another account's mailbox as `Shared/<owner>/<mailbox>`. Every mailbox, and
//! its ACL, lives in its owner's store, on the owner's home shard; the user's session runs on
//! the user's home shard, which may be another one. So the user's service never touches the
//! owner's store: it sends the request, with the owner's name for the mailbox, over the
//! sharing mesh to the owner's home shard as a [`ShareRequest::Mailbox`], and relays the
//! typed answer. There ([`serve`]) the owner's index decides the user's rights and the
//! request runs against the owner's store, shard-local and lock-free as every other store
//! call, or is refused: `NO [NONEXISTENT]` without the `l` right (RFC 4314 §6: the mailbox
//! is not revealed), `NO [NOPERM]` with `l` but without the right the request needs. The
//! owner's own ACL commands go the same way to the owner's own shard (a request to one's own
//! shard runs in place).
//!
//! - SELECT of a shared mailbox starts a watch on the owner's shard; a pump task there sends
//!   each change of the mailbox to the user's shard as a [`ShareRequest::Notice`], one after
//!   the other, where it goes into the session's ordinary change feed. UNSELECT, another
//!   SELECT or the end of the session stops the watch ([`ShareRequest::Unwatch`]); a notice
//!   for a session that is gone stops it too.
//! - LIST asks the owners who noted, in the user's index, that they share with the user (and
//!   those who share with `anyone`, noted in the index of the internal account
//!   [`ANYONE_REGISTRY`]) for the mailboxes the user may look up ([`ShareRequest::Visible`]).
//!   The note is a hint written when SETACL grants rights; the owner's ACL decides.
//! - NOTIFY (RFC 5465) of shared mailboxes: for each owner a session's NOTIFY names, a pump
//!   on the owner's shard reads the owner's account feed and sends what the user may know
//!   of (STATUS with `lr`, names with `l`, rights granted or revoked) back as
//!   [`ShareRequest::OwnerNotices`] ([`notify`]).
//! - COPY and MOVE between two accounts' mailboxes read the messages in batches from the
//!   source's owner and append them, with the flags the user's rights allow, at the target's
//!   owner; a MOVE then removes them from the source (not atomic across accounts: a failure
//!   part way leaves the copies made so far, as two separate commands would).
//! - Flags are shared: every user of a mailbox sees the same `\Seen` (no private flags).
//!
//! Nothing here writes protocol syntax; the session knows only names and rights.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use futures_channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures_channel::oneshot;
use futures_lite::StreamExt;

use super::Access;
use crate::mail::acl::{
    rights_of, shared_mailbox_name, shared_name, AclEntry, Rights, RightsChange, SharedName, ANYONE,
};
use crate::mail::{
    Change, FlagMode, FlagUpdate, Flags, MailboxInfo, MailboxStatus, MessageBytes, Recent,
    SystemFlags, Uid,
};
use crate::mailbox::{
    AppendBody, Content, MailboxError, MailboxReply, MailboxRequest, NotifySpec, Reply, Transfer,
};
use crate::placement::ShardId;
use crate::runtime::mesh::{Handler, HandlerFuture, Mesh};
use crate::runtime::net::ShardState;
use crate::runtime::service::Context;

mod notify;

use notify::OwnerQueue;
pub(super) use notify::OwnerWatches;

/// The internal account whose index notes the owners who share a mailbox with `anyone`.
/// Not an address (no local part), so no user can log in as it.
pub const ANYONE_REGISTRY: &str = "@shared-anyone";

/// A request to the shard of a shared mailbox's owner (or, for notices, back to a user's).
#[derive(Debug)]
pub enum ShareRequest {
    /// Run `request` (naming the owner's mailboxes by the owner's names) for `user` (an
    /// address) against `owner`'s store (a store key). A SELECT with `watch` starts sending
    /// the mailbox's changes back as notices for that watch.
    Mailbox {
        owner: String,
        user: String,
        request: MailboxRequest,
        watch: Option<u64>,
    },
    /// `owner`'s mailboxes that `user` may look up, named in the shared namespace.
    Visible { owner: String, user: String },
    /// Note or forget, in `account`'s index, that `owner` shares mailboxes with it.
    Sharer {
        account: String,
        owner: String,
        shared: bool,
    },
    /// The owners noted in `account`'s index.
    Sharers { account: String },
    /// Stop the watch `id` the sending shard started.
    Unwatch { id: u64 },
    /// A change to the mailbox a session of the receiving shard watches as `id`.
    Notice { id: u64, change: Change },
    /// NOTIFY: watch the mailboxes of `owner` (a store key) that `user` (an address) may
    /// see, for the session of the sending shard that watches them as `id`, and send what
    /// `spec` may ask for back as [`ShareRequest::OwnerNotices`]; at most `max_pending`
    /// changes wait unread in the owner's feed. Answered with the initial STATUS figures
    /// when `spec` asks for them.
    WatchOwner {
        owner: String,
        user: String,
        id: u64,
        spec: NotifySpec,
        max_pending: usize,
    },
    /// What an owner's watch `id` has to tell the receiving shard's session.
    OwnerNotices { id: u64, notices: Vec<OwnerNotice> },
    /// `owner` (an address) now shares a mailbox with `anyone`: the receiving shard's
    /// NOTIFY sessions that watch the whole shared namespace start watching it.
    NewSharer { owner: String },
}

/// What an owner's shard tells a user's NOTIFY about the owner's mailboxes the user may
/// see, named in the shared namespace (RFC 5465 §5, with RFC 4314 rights).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerNotice {
    /// Messages arrived or were expunged (`messages`), or flags changed (`flags`), in a
    /// mailbox the user may look up and read: its figures, read once per batch.
    Status {
        name: String,
        status: MailboxStatus,
        messages: bool,
        flags: bool,
    },
    /// A mailbox the user may look up appeared (created, or the `l` right granted), went
    /// (`deleted`: deleted, or `l` revoked) or was renamed (`old`).
    Name {
        name: String,
        old: Option<String>,
        deleted: bool,
    },
    /// An annotation of a mailbox the user may read changed.
    Metadata { mailbox: String, entry: String },
    /// The owner's feed overflowed: the watch has ended.
    Overflow,
    /// Not from an owner's watch: `owner` (an address; `key` its store key, `home` its
    /// shard) was noted, on the user's shard, as sharing with the user or with anyone. A
    /// session watching the whole shared namespace starts watching it.
    Sharer {
        owner: String,
        key: String,
        home: ShardId,
    },
}

/// The answers. A FETCH's bytes travel owned (the store's read buffers stay on their shard).
#[derive(Debug)]
pub enum ShareReply {
    Answer(Reply<Vec<u8>>),
    Visible(Result<Vec<(MailboxInfo, Rights)>, String>),
    Sharers(Result<Vec<String>, String>),
    Done(Result<(), String>),
    /// Whether the notice reached a watching session.
    Delivered(bool),
    /// A NOTIFY watch of an owner started: the initial STATUS of the mailboxes it may
    /// report (when asked), and the mailboxes the user may look up.
    Watching(Result<Watched, String>),
}

/// What an owner's shard answers when its NOTIFY watch of the owner started.
#[derive(Debug)]
pub struct Watched {
    /// The initial STATUS of the mailboxes the watch may report, when asked.
    pub statuses: Vec<(String, MailboxStatus)>,
    /// The mailboxes the user may look up (shared names).
    pub visible: Vec<String>,
}

/// The mesh shared mailboxes are reached over.
pub type ShareMesh = Mesh<ShareRequest, ShareReply>;

thread_local! {
    /// This shard's sessions watching a shared mailbox: watch id → their change feed.
    static WATCHERS: RefCell<HashMap<u64, UnboundedSender<Change>>> = RefCell::new(HashMap::new());
    static NEXT_WATCH: Cell<u64> = const { Cell::new(1) };
    /// The pumps this shard runs for other shards' watchers: (their shard, watch id) → the
    /// way to stop it.
    static PUMPS: RefCell<HashMap<(usize, u64), oneshot::Sender<()>>> =
        RefCell::new(HashMap::new());
    /// This shard's NOTIFY sessions watching other accounts: watch id → their queue of
    /// owners' notices (one queue per session, for all its owners).
    static OWNER_QUEUES: RefCell<HashMap<u64, Weak<RefCell<OwnerQueue>>>> =
        RefCell::new(HashMap::new());
}

fn next_watch_id() -> u64 {
    NEXT_WATCH.with(|n| {
        let id = n.get();
        n.set(id.wrapping_add(1));
        id
    })
}

/// The handler a shard joins the sharing mesh with.
pub fn handler(state: Weak<ShardState>) -> Handler<ShareRequest, ShareReply> {
    Rc::new(move |from: ShardId, request: ShareRequest| {
        let state = state.upgrade();
        Box::pin(async move {
            let Some(state) = state else {
                return ShareReply::Done(Err("shard stopping".into()));
            };
            match request {
                ShareRequest::Mailbox {
                    owner,
                    user,
                    request,
                    watch,
                } => {
                    let watch = watch.map(|id| (from, id));
                    let reply = serve(&state, &owner, &user, request, watch).await;
                    ShareReply::Answer(reply.map_bytes(|b| b.to_vec()))
                }
                ShareRequest::Visible { owner, user } => {
                    ShareReply::Visible(visible(&state, &owner, &user).await)
                }
                ShareRequest::Sharer {
                    account,
                    owner,
                    shared,
                } => {
                    let done = state.store.set_sharer(&account, &owner, shared).await;
                    if done.is_ok() && shared {
                        notify::noted_sharer(&state, &account, &owner);
                    }
                    ShareReply::Done(done.map_err(|e| e.to_string()))
                }
                ShareRequest::NewSharer { owner } => {
                    notify::new_sharer(&state, None, &owner);
                    ShareReply::Done(Ok(()))
                }
                ShareRequest::Sharers { account } => ShareReply::Sharers(
                    state
                        .store
                        .sharers(&account)
                        .await
                        .map_err(|e| e.to_string()),
                ),
                ShareRequest::Unwatch { id } => {
                    // Dropping the sender stops the pump.
                    PUMPS.with(|p| p.borrow_mut().remove(&(from.0, id)));
                    ShareReply::Done(Ok(()))
                }
                ShareRequest::WatchOwner {
                    owner,
                    user,
                    id,
                    spec,
                    max_pending,
                } => ShareReply::Watching(
                    notify::watch_owner(&state, from, owner, user, id, spec, max_pending).await,
                ),
                ShareRequest::OwnerNotices { id, notices } => {
                    let queue = OWNER_QUEUES.with(|q| q.borrow().get(&id).and_then(Weak::upgrade));
                    match queue {
                        Some(queue) => {
                            let mut queue = queue.borrow_mut();
                            for notice in notices {
                                queue.push(notice);
                            }
                            ShareReply::Delivered(true)
                        }
                        None => {
                            OWNER_QUEUES.with(|q| q.borrow_mut().remove(&id));
                            ShareReply::Delivered(false)
                        }
                    }
                }
                ShareRequest::Notice { id, change } => {
                    let sender = WATCHERS.with(|w| w.borrow().get(&id).cloned());
                    let delivered = sender.is_some_and(|s| s.unbounded_send(change).is_ok());
                    if !delivered {
                        WATCHERS.with(|w| w.borrow_mut().remove(&id));
                    }
                    ShareReply::Delivered(delivered)
                }
            }
        }) as HandlerFuture<ShareReply>
    })
}

/// A session's watch of a shared mailbox on its owner's shard: stopped when dropped.
pub(super) struct RemoteWatch {
    id: u64,
    owner: ShardId,
    mesh: Rc<ShareMesh>,
}

impl Drop for RemoteWatch {
    fn drop(&mut self) {
        WATCHERS.with(|w| w.borrow_mut().remove(&self.id));
        OWNER_QUEUES.with(|q| q.borrow_mut().remove(&self.id));
        let (mesh, owner, id) = (self.mesh.clone(), self.owner, self.id);
        // A pump that never hears this stops at its next notice, which nobody takes.
        glommio::spawn_local(async move {
            let _ = mesh.request(owner, ShareRequest::Unwatch { id }).await;
        })
        .detach();
    }
}

/// The selected mailbox when it is another account's: its watch, and its name in the
/// shared namespace.
pub(super) struct RemoteSelected {
    _watch: RemoteWatch,
    pub(super) name: String,
}

/// What [`route`] made of a request.
pub(super) enum Routed {
    /// The user's own mailboxes only: run as before.
    Local(MailboxRequest),
    Answered(MailboxReply),
}

/// The mailbox a request names first (the source of a transfer, the old name of a rename),
/// as `&String` or `&mut String` after the request's borrow. Subscriptions are the user's
/// own, whatever they name (RFC 4314 §4: UNSUBSCRIBE needs no right; SUBSCRIBE checks no
/// existence here): none.
macro_rules! first_mailbox {
    ($request:expr) => {
        match $request {
            MailboxRequest::Status { mailbox }
            | MailboxRequest::Create { mailbox, .. }
            | MailboxRequest::Delete { mailbox }
            | MailboxRequest::TextSearch { mailbox, .. }
            | MailboxRequest::Order { mailbox, .. }
            | MailboxRequest::Select { mailbox, .. }
            | MailboxRequest::Append { mailbox, .. }
            | MailboxRequest::Discard { mailbox, .. }
            | MailboxRequest::Fetch { mailbox, .. }
            | MailboxRequest::Store { mailbox, .. }
            | MailboxRequest::Vanished { mailbox, .. }
            | MailboxRequest::Changed { mailbox, .. }
            | MailboxRequest::Transfer { mailbox, .. }
            | MailboxRequest::Expunge { mailbox, .. }
            | MailboxRequest::GetAcl { mailbox }
            | MailboxRequest::SetAcl { mailbox, .. }
            | MailboxRequest::ListRights { mailbox, .. }
            | MailboxRequest::MyRights { mailbox }
            | MailboxRequest::Rename { from: mailbox, .. }
            | MailboxRequest::Quota {
                mailbox: Some(mailbox),
            }
            | MailboxRequest::GetMetadata {
                mailbox: Some(mailbox),
            }
            | MailboxRequest::SetMetadata {
                mailbox: Some(mailbox),
                ..
            } => Some(mailbox),
            _ => None,
        }
    };
}

/// The mailbox a request names first (see [`first_mailbox`]).
fn named(request: &MailboxRequest) -> Option<&str> {
    first_mailbox!(request).map(String::as_str)
}

/// `request` with its first mailbox (see [`named`]) renamed `name`.
fn renamed(mut request: MailboxRequest, name: String) -> MailboxRequest {
    match &mut request {
        // A request about no mailbox yet (the quota root, server annotations) gets one.
        MailboxRequest::Quota {
            mailbox: slot @ None,
        }
        | MailboxRequest::GetMetadata {
            mailbox: slot @ None,
        }
        | MailboxRequest::SetMetadata {
            mailbox: slot @ None,
            ..
        } => *slot = Some(name),
        other => {
            if let Some(mailbox) = first_mailbox!(other) {
                *mailbox = name;
            }
        }
    }
    request
}

fn is_acl(request: &MailboxRequest) -> bool {
    matches!(
        request,
        MailboxRequest::GetAcl { .. }
            | MailboxRequest::SetAcl { .. }
            | MailboxRequest::ListRights { .. }
            | MailboxRequest::MyRights { .. }
    )
}

fn failed(e: MailboxError) -> Routed {
    Routed::Answered(MailboxReply::Failed(e))
}

/// Decide where a request of `access`'s session runs: its own store (as before), or the
/// store of the owner of the shared mailbox it names.
pub(super) async fn route(
    access: &mut Access,
    request: MailboxRequest,
    cx: &Context<'_>,
) -> Routed {
    if matches!(
        request,
        MailboxRequest::Select { .. } | MailboxRequest::Unselect
    ) {
        // The watch of the mailbox selected so far ends here, whoever's it was: nothing of
        // it may reach the session once another mailbox is selected (or none).
        access.remote = None;
        access.watch = None;
    }
    match request {
        MailboxRequest::List => return Routed::Answered(list(access, cx).await),
        MailboxRequest::Notify(Some(spec)) => {
            // The account's own mailboxes first (this replaces the watches so far, the
            // owners' included), then the owners'.
            let reply = access
                .execute(&cx.shard.store, MailboxRequest::Notify(Some(spec.clone())))
                .await;
            return Routed::Answered(notify::watch_owners(access, cx, spec, reply).await);
        }
        MailboxRequest::Transfer {
            mailbox,
            uids,
            to,
            transfer,
        } => {
            let personal = |n: &str| shared_name(n) == SharedName::Personal;
            if personal(&mailbox) && personal(&to) {
                return Routed::Local(MailboxRequest::Transfer {
                    mailbox,
                    uids,
                    to,
                    transfer,
                });
            }
            return Routed::Answered(across(access, cx, &mailbox, uids, &to, transfer).await);
        }
        MailboxRequest::Rename { from, to } => {
            return match (shared_name(&from), shared_name(&to)) {
                (SharedName::Personal, SharedName::Personal) => {
                    Routed::Local(MailboxRequest::Rename { from, to })
                }
                (
                    SharedName::Mailbox { owner, mailbox },
                    SharedName::Mailbox {
                        owner: to_owner,
                        mailbox: to_mailbox,
                    },
                ) if owner == to_owner => {
                    let request = MailboxRequest::Rename {
                        from: mailbox.to_string(),
                        to: to_mailbox.to_string(),
                    };
                    Routed::Answered(forward(access, cx, &owner, request).await)
                }
                (SharedName::Mailbox { .. } | SharedName::Level, _)
                    if !exists_for(access, cx, &from).await =>
                {
                    failed(MailboxError::NoSuchMailbox)
                }
                _ => failed(MailboxError::AclRefused(
                    "A mailbox cannot move between accounts",
                )),
            };
        }
        _ => {}
    }
    let Some(name) = named(&request).map(str::to_string) else {
        return Routed::Local(request);
    };
    match shared_name(&name) {
        SharedName::Personal if is_acl(&request) => {
            // The user's own mailbox: the same checks and effects, on this shard.
            let own = crate::accounts::address_of_key(access.account()).to_string();
            Routed::Answered(forward(access, cx, &own, request).await)
        }
        SharedName::Personal => {
            if let MailboxRequest::Create { mailbox, .. } = &request {
                let mailbox = mailbox.clone();
                let store = &cx.shard.store;
                let reply = access.execute(store, request).await;
                if !matches!(reply, MailboxReply::Failed(_)) {
                    let max = cx.shard.server().config.max_acl_entries;
                    if let Err(e) = inherit(store, access.account(), &mailbox, max).await {
                        tracing::error!(error = %e, "a new mailbox did not get its parent's ACL");
                    }
                }
                return Routed::Answered(reply);
            }
            Routed::Local(request)
        }
        // `Shared` and `Shared/<owner>` are levels of the namespace, no mailboxes.
        SharedName::Level => match request {
            MailboxRequest::Create { .. } => failed(MailboxError::AclRefused(
                "Mailboxes are created in the shared namespace below Shared/<owner>/",
            )),
            _ => failed(MailboxError::NoSuchMailbox),
        },
        SharedName::Mailbox { owner, mailbox } => {
            let request = renamed(request, mailbox.to_string());
            Routed::Answered(forward(access, cx, &owner, request).await)
        }
    }
}

/// Whether `name` (in the shared namespace) is a mailbox the user may look up.
async fn exists_for(access: &mut Access, cx: &Context<'_>, name: &str) -> bool {
    let SharedName::Mailbox { owner, mailbox } = shared_name(name) else {
        return false;
    };
    let request = MailboxRequest::MyRights {
        mailbox: mailbox.to_string(),
    };
    matches!(
        forward(access, cx, &owner, request).await,
        MailboxReply::Rights(r) if r.contains(Rights::LOOKUP)
    )
}

/// The store key of the account `address`, if it is one.
fn account_key(cx: &Context<'_>, address: &str) -> Option<String> {
    match cx.shard.server().accounts.lookup(address) {
        Ok(Some(account)) => Some(account.store_key()),
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "account database unavailable");
            None
        }
    }
}

fn mesh(cx: &Context<'_>) -> Result<Rc<ShareMesh>, MailboxError> {
    cx.shard
        .shares
        .borrow()
        .clone()
        .ok_or_else(|| MailboxError::Unavailable("the sharing mesh is not joined".into()))
}

/// Run `request` (with the owner's names) on a mailbox of `owner` (an address) for this
/// session's user, on the owner's home shard; a SELECT starts relaying its changes.
async fn forward(
    access: &mut Access,
    cx: &Context<'_>,
    owner: &str,
    request: MailboxRequest,
) -> MailboxReply {
    let user = crate::accounts::address_of_key(access.account()).to_string();
    let owner_key = if owner == user {
        access.account().to_string()
    } else {
        match account_key(cx, owner) {
            Some(key) => key,
            // No such account: nothing to reveal either.
            None => return MailboxReply::Failed(MailboxError::NoSuchMailbox),
        }
    };
    let mesh = match mesh(cx) {
        Ok(mesh) => mesh,
        Err(e) => return MailboxReply::Failed(e),
    };
    // A streamed literal is in this shard's memory: its bytes travel, exactly as received.
    let request = match request {
        MailboxRequest::Append {
            mailbox,
            message: AppendBody::Streamed,
            flags,
            internal_date,
        } => match access.streams.pop_front() {
            Some(stream) => MailboxRequest::Append {
                mailbox,
                message: AppendBody::Binary(stream.body().to_vec()),
                flags,
                internal_date,
            },
            None => {
                return MailboxReply::Failed(MailboxError::Unavailable(
                    "no stream to append".into(),
                ))
            }
        },
        other => other,
    };
    let home = cx.shard.map.home_shard(&owner_key);
    let selecting = match &request {
        MailboxRequest::Select { mailbox, .. } => Some(shared_mailbox_name(owner, mailbox)),
        _ => None,
    };
    let watch = match &request {
        MailboxRequest::Select { .. } => {
            let id = next_watch_id();
            let (tx, rx) = unbounded();
            WATCHERS.with(|w| w.borrow_mut().insert(id, tx));
            Some((id, rx))
        }
        _ => None,
    };
    let asked = ShareRequest::Mailbox {
        owner: owner_key,
        user,
        request,
        watch: watch.as_ref().map(|(id, _)| *id),
    };
    let reply = match mesh.request(home, asked).await {
        Ok(ShareReply::Answer(reply)) => reply.map_bytes(MessageBytes::from),
        Ok(other) => MailboxReply::Failed(MailboxError::Unavailable(format!(
            "unexpected sharing reply {other:?}"
        ))),
        Err(e) => MailboxReply::Failed(MailboxError::Unavailable(e.to_string())),
    };
    if let Some((id, rx)) = watch {
        if matches!(reply, MailboxReply::Selected(_)) {
            access.watch = Some(rx);
            access.remote = Some(Box::new(RemoteSelected {
                _watch: RemoteWatch {
                    id,
                    owner: home,
                    mesh,
                },
                name: selecting.unwrap_or_default(),
            }));
        } else {
            WATCHERS.with(|w| w.borrow_mut().remove(&id));
        }
    }
    reply
}

/// The owners noted as sharing with `account` or with `anyone`, sorted, each once: a hint
/// (each owner's ACL decides). Without the `anyone` registry's answer, the user's own.
async fn sharers_of(
    account: &str,
    cx: &Context<'_>,
) -> Result<Vec<String>, crate::store::StoreError> {
    let mut owners = cx.shard.store.sharers(account).await?;
    if let Ok(mesh) = mesh(cx) {
        let registry = cx.shard.map.home_shard(ANYONE_REGISTRY);
        let asked = ShareRequest::Sharers {
            account: ANYONE_REGISTRY.to_string(),
        };
        match mesh.request(registry, asked).await {
            Ok(ShareReply::Sharers(Ok(more))) => owners.extend(more),
            other => tracing::warn!(?other, "the owners sharing with anyone are unknown"),
        }
    }
    owners.sort();
    owners.dedup();
    Ok(owners)
}

/// LIST: the user's own mailboxes, and the mailboxes other accounts let them look up.
async fn list(access: &mut Access, cx: &Context<'_>) -> MailboxReply {
    let store = &cx.shard.store;
    let mut reply = access.execute(store, MailboxRequest::List).await;
    let MailboxReply::Listed {
        mailboxes,
        subscriptions,
    } = &mut reply
    else {
        return reply;
    };
    let user = crate::accounts::address_of_key(access.account()).to_string();
    let Ok(mesh) = mesh(cx) else {
        return reply;
    };
    let owners = match sharers_of(access.account(), cx).await {
        Ok(owners) => owners,
        Err(e) => return MailboxReply::Failed(e.into()),
    };
    for owner in owners.iter().filter(|o| **o != user) {
        let Some(key) = account_key(cx, owner) else {
            continue;
        };
        let home = cx.shard.map.home_shard(&key);
        let asked = ShareRequest::Visible {
            owner: key,
            user: user.clone(),
        };
        match mesh.request(home, asked).await {
            Ok(ShareReply::Visible(Ok(shared))) => {
                for (mut info, _) in shared {
                    info.subscribed = subscriptions.binary_search(&info.name).is_ok();
                    mailboxes.push(info);
                }
            }
            other => tracing::warn!(?other, %owner, "shared mailboxes not listed"),
        }
    }
    mailboxes.sort_by(|a, b| a.name.cmp(&b.name));
    reply
}

/// The owner's side of LIST: the mailboxes of `owner` (a store key) `user` may look up.
async fn visible(
    state: &ShardState,
    owner: &str,
    user: &str,
) -> Result<Vec<(MailboxInfo, Rights)>, String> {
    let address = crate::accounts::address_of_key(owner);
    let all = state.store.acls(owner).await.map_err(|e| e.to_string())?;
    Ok(all
        .into_iter()
        .filter_map(|(mut info, acl)| {
            let rights = rights_of(&acl, user);
            rights.contains(Rights::LOOKUP).then(|| {
                info.name = shared_mailbox_name(address, &info.name);
                // Another account's special uses are not the user's Sent or Trash.
                info.special = None;
                (info, rights)
            })
        })
        .collect())
}

/// The right a request needs, missing: refused as if the mailbox did not exist unless the
/// user may look it up (RFC 4314 §6).
fn refuse(rights: Rights) -> MailboxError {
    if rights.contains(Rights::LOOKUP) {
        MailboxError::NoPermission
    } else {
        MailboxError::NoSuchMailbox
    }
}

fn need(rights: Rights, wanted: Rights) -> Result<(), MailboxError> {
    if rights.contains(wanted) {
        Ok(())
    } else {
        Err(refuse(rights))
    }
}

/// The flags of `flags` `rights` let a user set or clear (RFC 4314 §4: `s` for `\Seen`,
/// `t` for `\Deleted`, `w` for the others).
fn allowed_flags(flags: &Flags, rights: Rights) -> Flags {
    let mut system = SystemFlags::NONE;
    let pairs = [
        (SystemFlags::SEEN, Rights::SEEN),
        (SystemFlags::DELETED, Rights::DELETE_MESSAGES),
        (SystemFlags::ANSWERED, Rights::WRITE),
        (SystemFlags::FLAGGED, Rights::WRITE),
        (SystemFlags::DRAFT, Rights::WRITE),
    ];
    for (flag, right) in pairs {
        if flags.system.contains(flag) && rights.contains(right) {
            system = system.union(flag);
        }
    }
    let keywords = if rights.contains(Rights::WRITE) {
        flags.keywords.clone()
    } else {
        Vec::new()
    };
    Flags::new(system, keywords)
}

/// Every flag class `rights` allows changing.
fn all_flag_rights(rights: Rights) -> bool {
    rights.contains(
        Rights::SEEN
            .union(Rights::WRITE)
            .union(Rights::DELETE_MESSAGES),
    )
}

/// The rights of `user` on `owner`'s `mailbox`; every right for the owner; none, for a
/// mailbox that does not exist.
async fn rights_on(
    state: &ShardState,
    owner: &str,
    user: &str,
    mailbox: &str,
) -> Result<Rights, MailboxError> {
    if crate::accounts::address_of_key(owner) == user {
        return match state.store.mailbox_id(owner, mailbox).await {
            Ok(_) => Ok(Rights::ALL),
            Err(crate::store::StoreError::NoSuchMailbox) => Ok(Rights::NONE),
            Err(e) => Err(e.into()),
        };
    }
    match state.store.acl(owner, mailbox).await {
        Ok(acl) => Ok(rights_of(&acl, user)),
        Err(
            crate::store::StoreError::NoSuchMailbox | crate::store::StoreError::InvalidMailboxName,
        ) => Ok(Rights::NONE),
        Err(e) => Err(e.into()),
    }
}

/// The rights of `user` on the nearest existing parent of `name` (what CREATE and the
/// target of RENAME need `k` on, RFC 4314 §4); none at the top of another's hierarchy.
async fn parent_rights(
    state: &ShardState,
    owner: &str,
    user: &str,
    name: &str,
) -> Result<Rights, MailboxError> {
    let mut at = name;
    while let Some((parent, _)) = at.rsplit_once('/') {
        if state.store.mailbox_id(owner, parent).await.is_ok() {
            return rights_on(state, owner, user, parent).await;
        }
        at = parent;
    }
    Ok(if crate::accounts::address_of_key(owner) == user {
        Rights::ALL
    } else {
        Rights::NONE
    })
}

/// RFC 4314 §4: a new mailbox inherits the ACL of its nearest existing parent.
async fn inherit(
    store: &crate::store::Store,
    owner: &str,
    name: &str,
    max: usize,
) -> Result<(), crate::store::StoreError> {
    let mut at = name;
    while let Some((parent, _)) = at.rsplit_once('/') {
        if let Ok(acl) = store.acl(owner, parent).await {
            for e in acl {
                let change = Some(RightsChange::Replace(e.rights));
                store
                    .set_acl(owner, name, &e.identifier, change, max)
                    .await?;
            }
            return Ok(());
        }
        at = parent;
    }
    Ok(())
}

/// The owner's side of a request on one of its mailboxes for `user`: the rights checked, the
/// request run against this shard's store as the owner's. `watch`: a SELECT relays the
/// mailbox's changes to that shard's watch.
async fn serve(
    state: &Rc<ShardState>,
    owner: &str,
    user: &str,
    request: MailboxRequest,
    watch: Option<(ShardId, u64)>,
) -> MailboxReply {
    match serve_checked(state, owner, user, request, watch).await {
        Ok(reply) => reply,
        Err(e) => MailboxReply::Failed(e),
    }
}

async fn serve_checked(
    state: &Rc<ShardState>,
    owner: &str,
    user: &str,
    request: MailboxRequest,
    watch: Option<(ShardId, u64)>,
) -> Result<MailboxReply, MailboxError> {
    let store = &state.store;
    let server = state.server();
    let address = crate::accounts::address_of_key(owner).to_string();
    let mut access = Access::new(owner.to_string());
    access.metadata = server.config.metadata.clone();
    access.replication = state.replication.borrow().clone();
    if Access::counts(&request) {
        access.limits = match server.accounts.quota_limits(&address, server.config.quota) {
            Ok(limits) => limits.unwrap_or(server.config.quota),
            Err(e) => {
                tracing::error!(error = %e, "account database unavailable");
                server.config.quota
            }
        };
    }
    let max_acl = server.config.max_acl_entries;
    let name = named(&request).unwrap_or_default().to_string();
    let rights = match &request {
        MailboxRequest::Create { mailbox, .. } => {
            parent_rights(state, owner, user, mailbox).await?
        }
        _ => rights_on(state, owner, user, &name).await?,
    };
    if rights.is_empty() {
        return Err(MailboxError::NoSuchMailbox);
    }
    let request = match request {
        MailboxRequest::Status { .. }
        | MailboxRequest::Fetch { .. }
        | MailboxRequest::TextSearch { .. }
        | MailboxRequest::Order { .. }
        | MailboxRequest::Vanished { .. }
        | MailboxRequest::Changed { .. }
        | MailboxRequest::GetMetadata { .. } => {
            need(rights, Rights::READ)?;
            request
        }
        MailboxRequest::Quota { .. } => request,
        MailboxRequest::SetMetadata { .. } => {
            need(rights, Rights::WRITE)?;
            request
        }
        MailboxRequest::Select { mailbox, .. } => {
            need(rights, Rights::READ)?;
            // Another user never takes the owner's \Recent messages.
            let recent = if rights == Rights::ALL {
                Recent::Claim
            } else {
                Recent::Peek
            };
            let mut reply = access
                .execute(store, MailboxRequest::Select { mailbox, recent })
                .await;
            if let MailboxReply::Selected(snapshot) = &mut reply {
                snapshot.rights = Some(rights);
                if let (Some(feed), Some((to, id))) = (access.watch.take(), watch) {
                    pump(state.clone(), feed, to, id, address.clone());
                }
            }
            return Ok(reply);
        }
        MailboxRequest::Append {
            mailbox,
            message,
            flags,
            internal_date,
        } => {
            need(rights, Rights::INSERT)?;
            MailboxRequest::Append {
                mailbox,
                message,
                flags: allowed_flags(&flags, rights),
                internal_date,
            }
        }
        MailboxRequest::Discard { .. } => {
            need(rights, Rights::DELETE_MESSAGES.union(Rights::EXPUNGE))?;
            request
        }
        MailboxRequest::Expunge { .. } => {
            need(rights, Rights::EXPUNGE)?;
            request
        }
        MailboxRequest::Store {
            mailbox,
            uids,
            mode,
            flags,
            unchanged_since,
        } => {
            let allowed = allowed_flags(&flags, rights);
            if allowed != flags || (mode == FlagMode::Replace && !all_flag_rights(rights)) {
                // RFC 4314 §4: a STORE fails only if no flag it names may be changed.
                let any = [Rights::SEEN, Rights::WRITE, Rights::DELETE_MESSAGES]
                    .iter()
                    .any(|r| rights.contains(*r));
                if (allowed == Flags::default() && mode != FlagMode::Replace)
                    || (mode == FlagMode::Replace && !any)
                {
                    return Err(refuse(rights));
                }
                if mode == FlagMode::Replace {
                    let update = replace_within(
                        store,
                        owner,
                        &mailbox,
                        &uids,
                        &flags,
                        rights,
                        unchanged_since,
                    )
                    .await?;
                    return Ok(MailboxReply::Flags(update));
                }
            }
            MailboxRequest::Store {
                mailbox,
                uids,
                mode,
                flags: allowed,
                unchanged_since,
            }
        }
        MailboxRequest::Create { .. } => {
            need(rights, Rights::CREATE)?;
            let reply = access.execute(store, request).await;
            if !matches!(reply, MailboxReply::Failed(_)) {
                inherit(store, owner, &name, max_acl).await?;
            }
            return Ok(reply);
        }
        MailboxRequest::Delete { .. } => {
            need(rights, Rights::DELETE_MAILBOX)?;
            request
        }
        MailboxRequest::Rename { from, to } => {
            need(rights, Rights::DELETE_MAILBOX)?;
            let target = parent_rights(state, owner, user, &to).await?;
            if !target.contains(Rights::CREATE) {
                return Err(MailboxError::NoPermission);
            }
            MailboxRequest::Rename { from, to }
        }
        MailboxRequest::GetAcl { mailbox } => {
            need(rights, Rights::ADMIN)?;
            let mut entries = vec![AclEntry {
                identifier: address.clone(),
                rights: Rights::ALL,
            }];
            entries.extend(store.acl(owner, &mailbox).await?);
            return Ok(MailboxReply::Acl(entries));
        }
        MailboxRequest::ListRights { identifier, .. } => {
            need(rights, Rights::ADMIN)?;
            let always = if identifier == address {
                Rights::ALL
            } else {
                Rights::NONE
            };
            return Ok(MailboxReply::Rights(always));
        }
        MailboxRequest::MyRights { .. } => {
            if !rights.any_for_myrights() {
                return Err(MailboxError::NoSuchMailbox);
            }
            return Ok(MailboxReply::Rights(rights));
        }
        MailboxRequest::SetAcl {
            mailbox,
            identifier,
            change,
        } => {
            need(rights, Rights::ADMIN)?;
            set_acl(state, owner, &mailbox, &identifier, change, max_acl).await?;
            return Ok(MailboxReply::Done);
        }
        // The user's own business, never an owner's: not sent here.
        MailboxRequest::List
        | MailboxRequest::Subscribe { .. }
        | MailboxRequest::Unsubscribe { .. }
        | MailboxRequest::Unselect
        | MailboxRequest::AppendBegin { .. }
        | MailboxRequest::AppendData(_)
        | MailboxRequest::DropStreams
        | MailboxRequest::Notify(_)
        | MailboxRequest::Transfer { .. } => {
            return Err(MailboxError::Unavailable(
                "not a request on a shared mailbox".into(),
            ))
        }
    };
    Ok(access.execute(store, request).await)
}

/// STORE FLAGS (replace) by a user who may change only some flags: each message keeps the
/// flags the user may not change and gets, of the others, those named.
async fn replace_within(
    store: &crate::store::Store,
    owner: &str,
    mailbox: &str,
    uids: &[Uid],
    flags: &Flags,
    rights: Rights,
    unchanged_since: Option<crate::mail::ModSeq>,
) -> Result<FlagUpdate, MailboxError> {
    let every = Flags::new(
        SystemFlags::SEEN
            .union(SystemFlags::DELETED)
            .union(SystemFlags::ANSWERED)
            .union(SystemFlags::FLAGGED)
            .union(SystemFlags::DRAFT),
        [],
    );
    let changeable = allowed_flags(&every, rights);
    let named = allowed_flags(flags, rights);
    let mut groups: Vec<(Flags, Vec<Uid>)> = Vec::new();
    for meta in store.message_meta(owner, mailbox, uids).await? {
        let kept = Flags::new(
            meta.flags.system.without(changeable.system),
            if rights.contains(Rights::WRITE) {
                Vec::new()
            } else {
                meta.flags.keywords.clone()
            },
        );
        let new = kept.apply(FlagMode::Add, &named);
        match groups.iter_mut().find(|(f, _)| *f == new) {
            Some((_, v)) => v.push(meta.uid),
            None => groups.push((new, vec![meta.uid])),
        }
    }
    let mut all = FlagUpdate::default();
    for (new, uids) in groups {
        let u = store
            .update_flags(
                owner,
                mailbox,
                &uids,
                FlagMode::Replace,
                new,
                unchanged_since,
            )
            .await?;
        all.changed.extend(u.changed);
        all.unchanged.extend(u.unchanged);
        all.modified.extend(u.modified);
    }
    all.changed.sort_by_key(|c| c.0);
    all.unchanged.sort_by_key(|c| c.0);
    all.modified.sort();
    Ok(all)
}

/// SETACL/DELETEACL on `owner`'s `mailbox`, and the note in the grantee's index that lets
/// LIST find the mailbox.
async fn set_acl(
    state: &Rc<ShardState>,
    owner: &str,
    mailbox: &str,
    identifier: &str,
    change: Option<RightsChange>,
    max: usize,
) -> Result<(), MailboxError> {
    let address = crate::accounts::address_of_key(owner);
    if identifier.starts_with('-') {
        return Err(MailboxError::AclRefused(
            "Negative rights are not supported",
        ));
    }
    if identifier == address {
        return Err(MailboxError::AclRefused("The owner always has every right"));
    }
    let registry = if identifier == ANYONE {
        ANYONE_REGISTRY.to_string()
    } else {
        match state.server().accounts.lookup(identifier) {
            Ok(Some(account)) => account.store_key(),
            Ok(None) => return Err(MailboxError::AclRefused("No such user")),
            Err(e) => return Err(MailboxError::Unavailable(e.to_string())),
        }
    };
    let store = &state.store;
    match store.set_acl(owner, mailbox, identifier, change, max).await {
        Err(crate::store::StoreError::TooManyAclEntries) => return Err(MailboxError::AclTooMany),
        other => other?,
    };
    // Noted while any mailbox of the owner grants the identifier something.
    let shared = store
        .acls(owner)
        .await?
        .iter()
        .any(|(_, acl)| acl.iter().any(|e| e.identifier == identifier));
    let mesh = state
        .shares
        .borrow()
        .clone()
        .ok_or_else(|| MailboxError::Unavailable("the sharing mesh is not joined".into()))?;
    let home = state.map.home_shard(&registry);
    let asked = ShareRequest::Sharer {
        account: registry,
        owner: address.to_string(),
        shared,
    };
    match mesh.request(home, asked).await {
        Ok(ShareReply::Done(Ok(()))) => Ok(()),
        other => Err(MailboxError::Unavailable(format!(
            "the grantee was not told: {other:?}"
        ))),
    }
}

/// Send each change of a watched mailbox to the watching session's shard, in order, until
/// the watch is stopped, the mailbox's feed ends or nobody takes a notice.
fn pump(
    state: Rc<ShardState>,
    mut feed: UnboundedReceiver<Change>,
    to: ShardId,
    id: u64,
    owner: String,
) {
    let (stop, mut stopped) = oneshot::channel::<()>();
    PUMPS.with(|p| p.borrow_mut().insert((to.0, id), stop));
    glommio::spawn_local(async move {
        enum Step {
            Change(Option<Change>),
            Stop,
        }
        loop {
            let step = futures_lite::future::or(async { Step::Change(feed.next().await) }, async {
                let _ = (&mut stopped).await;
                Step::Stop
            })
            .await;
            let change = match step {
                Step::Change(Some(Change::Renamed { name })) => Change::Renamed {
                    name: shared_mailbox_name(&owner, &name),
                },
                Step::Change(Some(change)) => change,
                Step::Change(None) | Step::Stop => break,
            };
            let Some(mesh) = state.shares.borrow().clone() else {
                break;
            };
            match mesh.request(to, ShareRequest::Notice { id, change }).await {
                Ok(ShareReply::Delivered(true)) => {}
                _ => break,
            }
        }
        PUMPS.with(|p| p.borrow_mut().remove(&(to.0, id)));
    })
    .detach();
}

/// COPY or MOVE where one side (or both) is another account's mailbox: the messages are
/// read from the source in batches and appended to the target with their flags (those the
/// user's rights on the target allow) and internal dates; a MOVE then removes them from the
/// source. Needs `r` on the source (and `t`, `e` for a MOVE), `i` on the target.
async fn across(
    access: &mut Access,
    cx: &Context<'_>,
    source: &str,
    uids: Vec<Uid>,
    target: &str,
    transfer: Transfer,
) -> MailboxReply {
    match across_checked(access, cx, source, uids, target, transfer).await {
        Ok(reply) => reply,
        Err(e) => MailboxReply::Failed(e),
    }
}

/// A request on `name`, run where it lives (this store or its owner's).
async fn on(access: &mut Access, cx: &Context<'_>, request: MailboxRequest) -> MailboxReply {
    let name = named(&request).unwrap_or_default().to_string();
    match shared_name(&name) {
        SharedName::Personal if is_acl(&request) => {
            let own = crate::accounts::address_of_key(access.account()).to_string();
            forward(access, cx, &own, request).await
        }
        SharedName::Personal => access.execute(&cx.shard.store, request).await,
        SharedName::Level => MailboxReply::Failed(MailboxError::NoSuchMailbox),
        SharedName::Mailbox { owner, mailbox } => {
            let request = renamed(request, mailbox.to_string());
            forward(access, cx, &owner, request).await
        }
    }
}

async fn across_checked(
    access: &mut Access,
    cx: &Context<'_>,
    source: &str,
    uids: Vec<Uid>,
    target: &str,
    transfer: Transfer,
) -> Result<MailboxReply, MailboxError> {
    let rights = |name: &str| MailboxRequest::MyRights {
        mailbox: name.to_string(),
    };
    let source_rights = match on(access, cx, rights(source)).await {
        MailboxReply::Rights(r) => r,
        MailboxReply::Failed(e) => return Err(e),
        _ => return Err(MailboxError::Unavailable("no rights answered".into())),
    };
    if transfer == Transfer::Move {
        need(
            source_rights,
            Rights::READ
                .union(Rights::DELETE_MESSAGES)
                .union(Rights::EXPUNGE),
        )?;
    }
    // The target must exist for the user (COPY's TRYCREATE otherwise) and take messages.
    match on(access, cx, rights(target)).await {
        MailboxReply::Rights(r) => need(r, Rights::INSERT)?,
        MailboxReply::Failed(e) => return Err(e),
        _ => return Err(MailboxError::Unavailable("no rights answered".into())),
    }
    let mut pairs = Vec::new();
    let mut uid_validity = None;
    let mut remaining = uids;
    remaining.sort_unstable();
    remaining.dedup();
    while !remaining.is_empty() {
        let asked = MailboxRequest::Fetch {
            mailbox: source.to_string(),
            uids: std::mem::take(&mut remaining),
            content: Content::Bytes,
        };
        let (messages, rest) = match on(access, cx, asked).await {
            MailboxReply::Fetched { messages, rest, .. } => (messages, rest),
            MailboxReply::Failed(e) => return Err(e),
            _ => return Err(MailboxError::Unavailable("no messages answered".into())),
        };
        if messages.is_empty() && rest.len() >= remaining.len() {
            break;
        }
        remaining = rest;
        for m in messages {
            let Some(bytes) = m.bytes else { continue };
            let append = MailboxRequest::Append {
                mailbox: target.to_string(),
                message: AppendBody::Binary(bytes.to_vec()),
                flags: m.meta.flags.clone(),
                internal_date: Some(m.meta.internal_date),
            };
            match on(access, cx, append).await {
                MailboxReply::Appended {
                    uid_validity: v,
                    uid,
                } => {
                    uid_validity = Some(v);
                    pairs.push((m.meta.uid, uid));
                }
                MailboxReply::Failed(e) => return Err(e),
                _ => return Err(MailboxError::Unavailable("no append answered".into())),
            }
        }
    }
    let mut source_modseq = crate::mail::ModSeq(0);
    if transfer == Transfer::Move && !pairs.is_empty() {
        let discard = MailboxRequest::Discard {
            mailbox: source.to_string(),
            uids: pairs.iter().map(|p| p.0).collect(),
        };
        match on(access, cx, discard).await {
            MailboxReply::Expunged { highest_modseq, .. } => source_modseq = highest_modseq,
            MailboxReply::Failed(e) => return Err(e),
            _ => return Err(MailboxError::Unavailable("no expunge answered".into())),
        }
    }
    let uid_validity = match uid_validity {
        Some(v) => v,
        // Nothing copied: the target's UIDVALIDITY still goes in COPYUID.
        None => match on(
            access,
            cx,
            MailboxRequest::Status {
                mailbox: target.to_string(),
            },
        )
        .await
        {
            MailboxReply::Status(s) => s.uid_validity,
            MailboxReply::Failed(e) => return Err(e),
            _ => return Err(MailboxError::Unavailable("no status answered".into())),
        },
    };
    Ok(MailboxReply::Transferred {
        uid_validity,
        pairs,
        source_modseq,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::mail::Keyword;

    fn flags(system: SystemFlags, keywords: &[&str]) -> Flags {
        Flags::new(system, keywords.iter().map(|k| Keyword::new(k).unwrap()))
    }

    /// RFC 4314 §4: `s` for \Seen, `t` for \Deleted, `w` for the rest, keywords included.
    #[test]
    fn flags_follow_the_rights() {
        let all = flags(
            SystemFlags::SEEN
                .union(SystemFlags::DELETED)
                .union(SystemFlags::FLAGGED),
            &["$Work"],
        );
        let r = |s: &str| Rights::parse(s).unwrap();
        assert_eq!(allowed_flags(&all, r("lrs")), flags(SystemFlags::SEEN, &[]));
        assert_eq!(
            allowed_flags(&all, r("lrt")),
            flags(SystemFlags::DELETED, &[])
        );
        assert_eq!(
            allowed_flags(&all, r("lrw")),
            flags(SystemFlags::FLAGGED, &["$Work"])
        );
        assert_eq!(allowed_flags(&all, r("lrswt")), all);
        assert!(all_flag_rights(r("swt")) && !all_flag_rights(r("sw")));
    }

    /// RFC 4314 §6: without `l`, a missing right looks like a missing mailbox.
    #[test]
    fn refusals_reveal_nothing_without_lookup() {
        let r = |s: &str| Rights::parse(s).unwrap();
        assert_eq!(need(r("lr"), Rights::READ), Ok(()));
        assert_eq!(
            need(r("lr"), Rights::INSERT),
            Err(MailboxError::NoPermission)
        );
        assert_eq!(need(r("i"), Rights::READ), Err(MailboxError::NoSuchMailbox));
    }

    #[test]
    fn requests_are_renamed_for_their_owner() {
        let request = MailboxRequest::Select {
            mailbox: "Shared/a@b.c/INBOX".into(),
            recent: Recent::Peek,
        };
        assert_eq!(named(&request), Some("Shared/a@b.c/INBOX"));
        let request = renamed(request, "INBOX".into());
        assert_eq!(named(&request), Some("INBOX"));
        assert_eq!(named(&MailboxRequest::List), None);
        let quota = renamed(MailboxRequest::Quota { mailbox: None }, "X".into());
        assert_eq!(
            quota,
            MailboxRequest::Quota {
                mailbox: Some("X".into())
            }
        );
    }
}
