//! The delivery transaction SMTP uses: begin, add recipients, stream the body once, commit.
//! Commit sends each home shard its recipients' copy over the mesh (the owner's store writes
//! it with [`Store::deliver_local`]), and returns only when every copy is durable. Never
//! writes a partition it does not own: a remote copy is a [`StoreRequest`] to its owner. The
//! store knows nothing of this: it appends and retracts copies of accounts it owns.
//!
//! Failure: if any shard fails, the copies other shards made are expunged before `commit`
//! returns the error, so a failed transaction leaves no copy visible. A crash in the middle
//! can leave copies whose transaction never answered (the SMTP client retries: mail may be
//! duplicated, never lost). Copies on one partition are one record: all or none.

use std::rc::Rc;
use std::sync::Arc;

use super::mesh::{Handler, HandlerFuture, Mesh};
use crate::mail::Uid;
use crate::placement::{ShardId, ShardMap};
use crate::store::{canonical_account, now, Result, Store, StoreError};

/// A request to the store of another shard.
#[derive(Debug, Clone)]
pub enum StoreRequest {
    /// Deliver to the INBOX of these accounts (all owned by the receiving shard).
    Deliver {
        accounts: Vec<String>,
        body: Arc<[u8]>,
        internal_date: i64,
    },
    /// Undo copies of a failed transaction.
    Retract { copies: Vec<(String, Uid)> },
}

/// The owner's answer. Errors travel as text: they are reported, not matched on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreReply {
    Delivered(std::result::Result<Vec<Uid>, String>),
    Retracted(std::result::Result<(), String>),
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
                    body,
                    internal_date,
                } => StoreReply::Delivered(
                    store
                        .deliver_local(&accounts, &body, internal_date)
                        .await
                        .map_err(|e| e.to_string()),
                ),
                StoreRequest::Retract { copies } => {
                    StoreReply::Retracted(store.retract(&copies).await.map_err(|e| e.to_string()))
                }
            }
        }) as HandlerFuture<StoreReply>
    })
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
                Ok(StoreReply::Delivered(_)) => {
                    return Err(StoreError::Remote("unexpected reply".into()))
                }
                Err(e) => return Err(StoreError::Mesh(e)),
            }
        }
        Ok(())
    }

    /// Start a transaction.
    pub fn begin(&self) -> Delivery {
        Delivery {
            deliverer: self.clone(),
            recipients: Vec::new(),
            body: Vec::new(),
            internal_date: None,
        }
    }
}

/// One message on its way to one or more local accounts.
pub struct Delivery {
    deliverer: Deliverer,
    recipients: Vec<String>,
    body: Vec<u8>,
    internal_date: Option<i64>,
}

impl Delivery {
    /// Add a recipient account (canonicalised; duplicates are delivered once).
    pub fn add_recipient(&mut self, account: &str) -> Result<()> {
        let account = canonical_account(account)?;
        if !self.recipients.contains(&account) {
            self.recipients.push(account);
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

    /// Make every recipient's copy durable on its home shard; returns each recipient's UID.
    pub async fn commit(self) -> Result<Vec<(String, Uid)>> {
        let Delivery {
            deliverer,
            recipients,
            body,
            internal_date,
        } = self;
        let internal_date = internal_date.unwrap_or_else(now);
        let by_shard = by_home_shard(deliverer.store.map(), recipients, |r| r);
        let body: Arc<[u8]> = Arc::from(body);
        let mut tasks = Vec::new();
        for (shard, accounts) in by_shard {
            let mesh = deliverer.mesh.clone();
            let request = StoreRequest::Deliver {
                accounts: accounts.clone(),
                body: body.clone(),
                internal_date,
            };
            // Local copies go through the mesh too: it runs the handler in place.
            let task = glommio::spawn_local(async move { mesh.request(shard, request).await });
            tasks.push((shard, accounts, task));
        }
        let mut done: Vec<(ShardId, Vec<(String, Uid)>)> = Vec::new();
        let mut failure = None;
        for (shard, accounts, task) in tasks {
            match task.await {
                Ok(StoreReply::Delivered(Ok(uids))) => {
                    done.push((shard, accounts.into_iter().zip(uids).collect()));
                }
                Ok(StoreReply::Delivered(Err(e))) => {
                    failure.get_or_insert(StoreError::Remote(e));
                }
                Ok(StoreReply::Retracted(_)) => {
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
        Ok(done.into_iter().flat_map(|(_, c)| c).collect())
    }
}
