//! The delivery transaction SMTP uses: begin, add recipients, stream the body once, commit.
//! Commit sends each home shard its recipients' copy over the mesh (the owner's store writes
//! it with [`Store::deliver_local`]), and returns only when every copy is durable. Never
//! writes a partition it does not own: a remote copy is a [`StoreRequest`] to its owner. The
//! store knows nothing of this: it appends and retracts copies of accounts it owns.
//!
//! Quotas: a recipient added with limits gets its copy only if it fits (checked by its home
//! shard, against its index there); one that does not is reported in
//! [`Committed::over_quota`], and the others still get theirs.
//!
//! On a host of a cluster, copies for accounts whose partition another host serves go to that
//! host over the internal link ([`crate::runtime::net::link`]) as one call per host, answered
//! once its copies are durable there; that host runs them through its own store mesh
//! ([`Deliverer::serve_call`]).
//!
//! Failure: if any shard or host fails, the copies other shards made are expunged before `commit`
//! returns the error, so a failed transaction leaves no copy visible. A crash in the middle
//! can leave copies whose transaction never answered (the SMTP client retries: mail may be
//! duplicated, never lost). Copies on one partition are one record: all or none.

use std::rc::Rc;
use std::sync::Arc;

use super::mesh::{Handler, HandlerFuture, Mesh};
use super::net::link::{self, ClusterLink, Remote, Route};
use super::replication::Replication;
use crate::mail::{QuotaLimits, QuotaUsage, Uid};
use crate::placement::{Partition, ShardId};
use crate::store::{canonical_account, now, Result, Store, StoreError};
use crate::wire::link::{StoreCall, StoreResult};

/// A request to the store of another shard.
#[derive(Debug, Clone)]
pub enum StoreRequest {
    /// Deliver to the INBOX of these accounts (all owned by the receiving shard), each
    /// within its quota limits (`limits[i]` for `accounts[i]`).
    Deliver {
        accounts: Vec<String>,
        limits: Vec<QuotaLimits>,
        body: Arc<[u8]>,
        internal_date: i64,
    },
    /// Undo copies of a failed transaction.
    Retract { copies: Vec<(String, Uid)> },
    /// What an account holds (its home shard's index), for a quota check at RCPT.
    Usage { account: String },
}

/// The owner's answer. Errors travel as text: they are reported, not matched on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreReply {
    /// Each account's UID, or `None` when its quota had no room for the message.
    Delivered(std::result::Result<Vec<Option<Uid>>, String>),
    Retracted(std::result::Result<(), String>),
    Usage(std::result::Result<QuotaUsage, String>),
}

/// The mesh the store's shards talk over.
pub type StoreMesh = Mesh<StoreRequest, StoreReply>;

/// The request handler a shard joins the store mesh with.
/// On a cluster host, `replication` holds each delivery's answer until its partitions'
/// replicas have it, with `replication = "sync"`.
pub fn handler(
    store: Store,
    replication: Option<Rc<Replication>>,
) -> Handler<StoreRequest, StoreReply> {
    Rc::new(move |_from: ShardId, request: StoreRequest| {
        let store = store.clone();
        let replication = replication.clone();
        Box::pin(async move {
            match request {
                StoreRequest::Deliver {
                    accounts,
                    limits,
                    body,
                    internal_date,
                } => StoreReply::Delivered(
                    deliver_replicated(
                        &store,
                        replication.as_deref(),
                        &accounts,
                        &limits,
                        &body,
                        internal_date,
                    )
                    .await
                    .map_err(|e| e.to_string()),
                ),
                StoreRequest::Retract { copies } => {
                    StoreReply::Retracted(store.retract(&copies).await.map_err(|e| e.to_string()))
                }
                StoreRequest::Usage { account } => {
                    StoreReply::Usage(store.quota_usage(&account).await.map_err(|e| e.to_string()))
                }
            }
        }) as HandlerFuture<StoreReply>
    })
}

/// [`deliver_within_quota`], then (with sync replication) wait for the replicas: the copies
/// are retracted when they do not confirm in time, and the delivery fails (the sender tries
/// again later; the message may come twice, never not at all).
async fn deliver_replicated(
    store: &Store,
    replication: Option<&Replication>,
    accounts: &[String],
    limits: &[QuotaLimits],
    body: &[u8],
    internal_date: i64,
) -> Result<Vec<Option<Uid>>> {
    let uids = deliver_within_quota(store, accounts, limits, body, internal_date).await?;
    let Some(replication) = replication else {
        return Ok(uids);
    };
    let mut partitions: Vec<Partition> = accounts.iter().map(|a| Partition::of(a)).collect();
    partitions.sort_by_key(|p| p.index());
    partitions.dedup();
    if let Err(e) = replication.wait_replicated(store, &partitions).await {
        let copies: Vec<(String, Uid)> = accounts
            .iter()
            .zip(&uids)
            .filter_map(|(a, u)| u.map(|u| (a.clone(), u)))
            .collect();
        if let Err(r) = store.retract(&copies).await {
            tracing::error!(error = %r, "could not retract copies the replicas did not confirm");
        }
        return Err(e);
    }
    Ok(uids)
}

/// The owner's side of [`StoreRequest::Deliver`]: the accounts whose quota has room get
/// their copy (one store call for all of them); the others `None`. The check and the append
/// run on this shard with no other delivery between them, except those in flight at once.
async fn deliver_within_quota(
    store: &Store,
    accounts: &[String],
    limits: &[QuotaLimits],
    body: &[u8],
    internal_date: i64,
) -> Result<Vec<Option<Uid>>> {
    let mut fits = Vec::with_capacity(accounts.len());
    for (i, account) in accounts.iter().enumerate() {
        let limits = limits.get(i).copied().unwrap_or(QuotaLimits::NONE);
        fits.push(
            !limits.is_limited()
                || limits.admits(store.quota_usage(account).await?, body.len() as u64, 1),
        );
    }
    let admitted: Vec<String> = accounts
        .iter()
        .zip(&fits)
        .filter(|(_, fit)| **fit)
        .map(|(a, _)| a.clone())
        .collect();
    let mut uids = if admitted.is_empty() {
        Vec::new()
    } else {
        store.deliver_local(&admitted, body, internal_date).await?
    }
    .into_iter();
    Ok(fits
        .into_iter()
        .map(|fit| if fit { uids.next() } else { None })
        .collect())
}

/// Where a request for an account goes: a shard of this host, or another host.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Shard(ShardId),
    Host(Remote),
}

/// What a shard's SMTP sessions deliver through: this shard's store, the store mesh and, on a
/// host of a cluster, the link to the other hosts.
#[derive(Clone)]
pub struct Deliverer {
    store: Store,
    mesh: Rc<StoreMesh>,
    cluster: Option<Arc<ClusterLink>>,
    /// Idle link connections to the other hosts, for the next call.
    pool: Rc<link::LinkPool>,
    /// How long another host may take to answer a call.
    remote_timeout: std::time::Duration,
}

impl Deliverer {
    pub fn new(store: Store, mesh: Rc<StoreMesh>) -> Deliverer {
        Deliverer {
            store,
            mesh,
            cluster: None,
            pool: Rc::default(),
            remote_timeout: std::time::Duration::from_secs(60),
        }
    }

    /// Send copies for accounts other hosts serve over `cluster`, waiting at most `timeout`
    /// for each host's answer.
    pub fn with_cluster(
        mut self,
        cluster: Option<Arc<ClusterLink>>,
        timeout: std::time::Duration,
    ) -> Deliverer {
        self.cluster = cluster;
        self.remote_timeout = timeout;
        self
    }

    /// Where requests for `account` (a canonical store key) go; an error when its partition
    /// is served by no host now (a temporary failure for the client).
    fn target(&self, account: &str) -> Result<Target> {
        let here = Target::Shard(self.store.map().home_shard(account));
        let Some(cluster) = self.cluster.as_ref() else {
            return Ok(here);
        };
        match cluster.routes.route(Partition::of(account)) {
            Route::Here => Ok(here),
            Route::There(remote) => Ok(Target::Host(remote)),
            Route::Unavailable(why) => Err(StoreError::Remote(why)),
        }
    }

    /// Group `items` by where the account each names goes, keeping their order.
    fn by_target<T>(
        &self,
        items: Vec<T>,
        account: impl Fn(&T) -> &String,
    ) -> Result<Vec<(Target, Vec<T>)>> {
        let mut groups: Vec<(Target, Vec<T>)> = Vec::new();
        for item in items {
            let target = self.target(account(&item))?;
            match groups.iter_mut().find(|(t, _)| *t == target) {
                Some((_, v)) => v.push(item),
                None => groups.push((target, vec![item])),
            }
        }
        Ok(groups)
    }

    /// Run `request` where `target` says: over the mesh, or on another host.
    async fn call(&self, target: Target, request: StoreRequest) -> Result<StoreReply> {
        match target {
            Target::Shard(shard) => Ok(self.mesh.request(shard, request).await?),
            Target::Host(remote) => {
                let Some(cluster) = self.cluster.as_ref() else {
                    return Err(StoreError::Remote("not a cluster host".into()));
                };
                let call = match request {
                    StoreRequest::Deliver {
                        accounts,
                        limits,
                        body,
                        internal_date,
                    } => StoreCall::Deliver {
                        accounts,
                        limits,
                        body: body.to_vec(),
                        internal_date,
                    },
                    StoreRequest::Retract { copies } => StoreCall::Retract {
                        copies: copies.into_iter().map(|(a, u)| (a, u.0)).collect(),
                    },
                    StoreRequest::Usage { account } => StoreCall::Usage { account },
                };
                let result =
                    link::store_call(cluster, &self.pool, &remote, call, self.remote_timeout)
                        .await
                        .map_err(|e| StoreError::Remote(format!("host {}: {e}", remote.node)))?;
                Ok(match result {
                    StoreResult::Delivered(r) => StoreReply::Delivered(
                        r.map(|uids| uids.into_iter().map(|u| u.map(Uid)).collect()),
                    ),
                    StoreResult::Retracted(r) => StoreReply::Retracted(r),
                    StoreResult::Usage(r) => StoreReply::Usage(r),
                })
            }
        }
    }

    /// Undo committed copies (of a transaction whose other half failed): each is expunged
    /// by its home shard.
    pub async fn retract(&self, copies: Vec<(String, Uid)>) -> Result<()> {
        for (target, copies) in self.by_target(copies, |(account, _)| account)? {
            match self.call(target, StoreRequest::Retract { copies }).await? {
                StoreReply::Retracted(Ok(())) => {}
                StoreReply::Retracted(Err(e)) => return Err(StoreError::Remote(e)),
                _ => return Err(StoreError::Remote("unexpected reply".into())),
            }
        }
        Ok(())
    }

    /// What `account` holds, asked of its home shard.
    pub async fn usage(&self, account: &str) -> Result<QuotaUsage> {
        let account = canonical_account(account)?;
        let target = self.target(&account)?;
        match self.call(target, StoreRequest::Usage { account }).await? {
            StoreReply::Usage(Ok(usage)) => Ok(usage),
            StoreReply::Usage(Err(e)) => Err(StoreError::Remote(e)),
            _ => Err(StoreError::Remote("unexpected reply".into())),
        }
    }

    /// Run a call another host of the cluster made for accounts this host serves (see
    /// [`link::store_call`]); refused whole when any account named is not served here.
    pub async fn serve_call(&self, call: StoreCall) -> StoreResult {
        let named: Vec<&String> = match &call {
            StoreCall::Deliver { accounts, .. } => accounts.iter().collect(),
            StoreCall::Retract { copies } => copies.iter().map(|(a, _)| a).collect(),
            StoreCall::Usage { account } => vec![account],
        };
        let elsewhere = named.iter().find(|a| match self.cluster.as_ref() {
            Some(c) => c.routes.route(Partition::of(a)) != Route::Here,
            None => true,
        });
        let refusal = elsewhere.map(|a| format!("{a} is not served by this host"));
        match call {
            StoreCall::Deliver {
                accounts,
                limits,
                body,
                internal_date,
            } => {
                if let Some(why) = refusal {
                    return StoreResult::Delivered(Err(why));
                }
                let result = self
                    .deliver_here(accounts, limits, Arc::from(body), internal_date)
                    .await
                    .map(|uids| uids.into_iter().map(|u| u.map(|u| u.0)).collect());
                StoreResult::Delivered(result.map_err(|e| e.to_string()))
            }
            StoreCall::Retract { copies } => {
                if let Some(why) = refusal {
                    return StoreResult::Retracted(Err(why));
                }
                let copies = copies.into_iter().map(|(a, u)| (a, Uid(u))).collect();
                StoreResult::Retracted(self.retract(copies).await.map_err(|e| e.to_string()))
            }
            StoreCall::Usage { account } => {
                if let Some(why) = refusal {
                    return StoreResult::Usage(Err(why));
                }
                StoreResult::Usage(self.usage(&account).await.map_err(|e| e.to_string()))
            }
        }
    }

    /// Deliver to accounts of this host's shards, each within its limits: each account's
    /// UID or `None` (no room), in order; on a failure nothing stays.
    async fn deliver_here(
        &self,
        accounts: Vec<String>,
        limits: Vec<QuotaLimits>,
        body: Arc<[u8]>,
        internal_date: i64,
    ) -> Result<Vec<Option<Uid>>> {
        let mut delivery = self.begin();
        delivery.body_shared = Some(body);
        for (i, account) in accounts.iter().enumerate() {
            delivery.add_recipient_within(
                account,
                limits.get(i).copied().unwrap_or(QuotaLimits::NONE),
            )?;
        }
        delivery.set_internal_date(internal_date);
        let committed = delivery.commit().await?;
        Ok(accounts
            .iter()
            .map(|a| {
                committed
                    .copies
                    .iter()
                    .find(|(c, _)| c == a)
                    .map(|(_, uid)| *uid)
            })
            .collect())
    }

    /// Start a transaction.
    pub fn begin(&self) -> Delivery {
        Delivery {
            deliverer: self.clone(),
            recipients: Vec::new(),
            limits: Vec::new(),
            body: Vec::new(),
            body_shared: None,
            internal_date: None,
        }
    }
}

/// What a committed transaction did.
#[derive(Debug, Default)]
pub struct Committed {
    /// Each recipient that got its copy, with the copy's UID.
    pub copies: Vec<(String, Uid)>,
    /// The recipients whose quota had no room for the message: nothing was written for them.
    pub over_quota: Vec<String>,
}

/// One message on its way to one or more local accounts.
pub struct Delivery {
    deliverer: Deliverer,
    recipients: Vec<String>,
    /// `limits[i]` for `recipients[i]`.
    limits: Vec<QuotaLimits>,
    body: Vec<u8>,
    /// The body, when it came whole (another host's call) rather than in chunks.
    body_shared: Option<Arc<[u8]>>,
    internal_date: Option<i64>,
}

impl Delivery {
    /// Add a recipient account (canonicalised; duplicates are delivered once).
    pub fn add_recipient(&mut self, account: &str) -> Result<()> {
        self.add_recipient_within(account, QuotaLimits::NONE)
    }

    /// Add a recipient whose copy is written only if it fits in its quota `limits`.
    pub fn add_recipient_within(&mut self, account: &str, limits: QuotaLimits) -> Result<()> {
        let account = canonical_account(account)?;
        if !self.recipients.contains(&account) {
            self.recipients.push(account);
            self.limits.push(limits);
        }
        Ok(())
    }

    /// Append the next chunk of the message (already un-dot-stuffed by SMTP).
    pub fn write(&mut self, chunk: &[u8]) -> Result<()> {
        let max = self.deliverer.store.config().max_message_size;
        if self.body.len() + chunk.len() > max {
            return Err(StoreError::TooLarge(self.body.len() + chunk.len()));
        }
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    /// Set the internal date (default: the time of commit).
    pub fn set_internal_date(&mut self, secs: i64) {
        self.internal_date = Some(secs);
    }

    /// Make every recipient's copy durable on its home shard (those with room in their
    /// quota); returns each copy's UID, and who had no room.
    pub async fn commit(self) -> Result<Committed> {
        let Delivery {
            deliverer,
            recipients,
            limits,
            body,
            body_shared,
            internal_date,
        } = self;
        let internal_date = internal_date.unwrap_or_else(now);
        let by_target =
            deliverer.by_target(recipients.into_iter().zip(limits).collect(), |(r, _)| r)?;
        let body: Arc<[u8]> = body_shared.unwrap_or_else(|| Arc::from(body));
        let mut tasks = Vec::new();
        for (target, members) in by_target {
            let (accounts, limits): (Vec<String>, Vec<QuotaLimits>) = members.into_iter().unzip();
            let request = StoreRequest::Deliver {
                accounts: accounts.clone(),
                limits,
                body: body.clone(),
                internal_date,
            };
            // Local copies go through the mesh too: it runs the handler in place.
            let on = deliverer.clone();
            let to = target.clone();
            let task = glommio::spawn_local(async move { on.call(to, request).await });
            tasks.push((target, accounts, task));
        }
        let mut done: Vec<(Target, Vec<(String, Uid)>)> = Vec::new();
        let mut over_quota = Vec::new();
        let mut failure = None;
        for (target, accounts, task) in tasks {
            match task.await {
                Ok(StoreReply::Delivered(Ok(uids))) => {
                    let mut copies = Vec::new();
                    for (account, uid) in accounts.into_iter().zip(uids) {
                        match uid {
                            Some(uid) => copies.push((account, uid)),
                            None => over_quota.push(account),
                        }
                    }
                    done.push((target, copies));
                }
                Ok(StoreReply::Delivered(Err(e))) => {
                    failure.get_or_insert(StoreError::Remote(e));
                }
                Ok(_) => {
                    failure.get_or_insert(StoreError::Remote("unexpected reply".into()));
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            for (target, copies) in done {
                let reply = deliverer
                    .call(target.clone(), StoreRequest::Retract { copies })
                    .await;
                if !matches!(reply, Ok(StoreReply::Retracted(Ok(())))) {
                    tracing::error!(
                        ?target,
                        ?reply,
                        "could not retract the copies of a failed delivery"
                    );
                }
            }
            return Err(e);
        }
        Ok(Committed {
            copies: done.into_iter().flat_map(|(_, c)| c).collect(),
            over_quota,
        })
    }
}
