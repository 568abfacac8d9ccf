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
//! Failure: if any shard fails, the copies other shards made are expunged before `commit`
//! returns the error, so a failed transaction leaves no copy visible. A crash in the middle
//! can leave copies whose transaction never answered (the SMTP client retries: mail may be
//! duplicated, never lost). Copies on one partition are one record: all or none.

use std::rc::Rc;
use std::sync::Arc;

use super::mesh::{Handler, HandlerFuture, Mesh};
use crate::mail::{QuotaLimits, QuotaUsage, Uid};
use crate::placement::{ShardId, ShardMap};
use crate::store::{canonical_account, now, Result, Store, StoreError};

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
pub fn handler(store: Store) -> Handler<StoreRequest, StoreReply> {
    Rc::new(move |_from: ShardId, request: StoreRequest| {
        let store = store.clone();
        Box::pin(async move {
            match request {
                StoreRequest::Deliver {
                    accounts,
                    limits,
                    body,
                    internal_date,
                } => StoreReply::Delivered(
                    deliver_within_quota(&store, &accounts, &limits, &body, internal_date)
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

/// Group `items` by the home shard of the account each names, keeping their order.
fn by_home_shard<T>(
    map: ShardMap,
    items: Vec<T>,
    account: impl Fn(&T) -> &String,
) -> Vec<(ShardId, Vec<T>)> {
    let mut groups: Vec<(ShardId, Vec<T>)> = Vec::new();
    for item in items {
        let home = map.home_shard(account(&item));
        match groups.iter_mut().find(|(s, _)| *s == home) {
            Some((_, v)) => v.push(item),
            None => groups.push((home, vec![item])),
        }
    }
    groups
}

/// What a shard's SMTP sessions deliver through: this shard's store and the store mesh.
#[derive(Clone)]
pub struct Deliverer {
    store: Store,
    mesh: Rc<StoreMesh>,
}

impl Deliverer {
    pub fn new(store: Store, mesh: Rc<StoreMesh>) -> Deliverer {
        Deliverer { store, mesh }
    }

    /// Undo committed copies (of a transaction whose other half failed): each is expunged
    /// by its home shard.
    pub async fn retract(&self, copies: Vec<(String, Uid)>) -> Result<()> {
        let by_shard = by_home_shard(self.store.map(), copies, |(account, _)| account);
        for (shard, copies) in by_shard {
            match self
                .mesh
                .request(shard, StoreRequest::Retract { copies })
                .await
            {
                Ok(StoreReply::Retracted(Ok(()))) => {}
                Ok(StoreReply::Retracted(Err(e))) => return Err(StoreError::Remote(e)),
                Ok(_) => return Err(StoreError::Remote("unexpected reply".into())),
                Err(e) => return Err(StoreError::Mesh(e)),
            }
        }
        Ok(())
    }

    /// What `account` holds, asked of its home shard.
    pub async fn usage(&self, account: &str) -> Result<QuotaUsage> {
        let account = canonical_account(account)?;
        let shard = self.store.map().home_shard(&account);
        match self
            .mesh
            .request(shard, StoreRequest::Usage { account })
            .await
        {
            Ok(StoreReply::Usage(Ok(usage))) => Ok(usage),
            Ok(StoreReply::Usage(Err(e))) => Err(StoreError::Remote(e)),
            Ok(_) => Err(StoreError::Remote("unexpected reply".into())),
            Err(e) => Err(StoreError::Mesh(e)),
        }
    }

    /// Start a transaction.
    pub fn begin(&self) -> Delivery {
        Delivery {
            deliverer: self.clone(),
            recipients: Vec::new(),
            limits: Vec::new(),
            body: Vec::new(),
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
            internal_date,
        } = self;
        let internal_date = internal_date.unwrap_or_else(now);
        let by_shard = by_home_shard(
            deliverer.store.map(),
            recipients.into_iter().zip(limits).collect(),
            |(r, _)| r,
        );
        let body: Arc<[u8]> = Arc::from(body);
        let mut tasks = Vec::new();
        for (shard, members) in by_shard {
            let mesh = deliverer.mesh.clone();
            let (accounts, limits): (Vec<String>, Vec<QuotaLimits>) = members.into_iter().unzip();
            let request = StoreRequest::Deliver {
                accounts: accounts.clone(),
                limits,
                body: body.clone(),
                internal_date,
            };
            // Local copies go through the mesh too: it runs the handler in place.
            let task = glommio::spawn_local(async move { mesh.request(shard, request).await });
            tasks.push((shard, accounts, task));
        }
        let mut done: Vec<(ShardId, Vec<(String, Uid)>)> = Vec::new();
        let mut over_quota = Vec::new();
        let mut failure = None;
        for (shard, accounts, task) in tasks {
            match task.await {
                Ok(StoreReply::Delivered(Ok(uids))) => {
                    let mut copies = Vec::new();
                    for (account, uid) in accounts.into_iter().zip(uids) {
                        match uid {
                            Some(uid) => copies.push((account, uid)),
                            None => over_quota.push(account),
                        }
                    }
                    done.push((shard, copies));
                }
                Ok(StoreReply::Delivered(Err(e))) => {
                    failure.get_or_insert(StoreError::Remote(e));
                }
                Ok(_) => {
                    failure.get_or_insert(StoreError::Remote("unexpected reply".into()));
                }
                Err(e) => {
                    failure.get_or_insert(StoreError::Mesh(e));
                }
            }
        }
        if let Some(e) = failure {
            for (shard, copies) in done {
                let reply = deliverer
                    .mesh
                    .request(shard, StoreRequest::Retract { copies })
                    .await;
                if !matches!(reply, Ok(StoreReply::Retracted(Ok(())))) {
                    tracing::error!(%shard, ?reply, "could not retract the copies of a failed delivery");
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
