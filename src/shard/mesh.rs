//! A typed request/reply channel between shards, over glommio's channel mesh.
//!
//! Every shard joins the same [`MeshBuilder`] with a handler for the requests it owns (for
//! example: "append this copy to an account of yours"). [`Mesh::request`] sends a typed request
//! to a shard and resolves with that shard's typed reply. A request to the calling shard itself
//! runs the handler locally (glommio refuses `send_to(self)`), so callers never special-case it.
//!
//! Peer ids: glommio numbers mesh peers by executor creation order. Shards are created in
//! index order, so peer id == [`ShardId`]; [`Mesh::join`] checks this and fails otherwise.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;

use futures_channel::oneshot;
use glommio::channels::channel_mesh::{FullMesh, MeshBuilder as GlommioMesh, Senders};

use super::map::ShardId;

/// The boxed future a request handler returns.
pub type HandlerFuture<Resp> = Pin<Box<dyn Future<Output = Resp>>>;

/// What runs a request on its owner shard: `(from, request) -> reply`.
pub type Handler<Req, Resp> = Rc<dyn Fn(ShardId, Req) -> HandlerFuture<Resp>>;

enum Envelope<Req, Resp> {
    Request { id: u64, from: usize, body: Req },
    Reply { id: u64, body: Resp },
}

/// Why a request got no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MeshError {
    #[error("no such shard: {0}")]
    NoSuchShard(ShardId),
    #[error("{0} is gone (shutting down)")]
    ShardGone(ShardId),
}

/// Built once before the shards start; a clone is moved into each shard.
pub struct MeshBuilder<Req: Send + 'static, Resp: Send + 'static> {
    inner: FullMesh<Envelope<Req, Resp>>,
}

impl<Req: Send + 'static, Resp: Send + 'static> Clone for MeshBuilder<Req, Resp> {
    fn clone(&self) -> Self {
        MeshBuilder {
            inner: self.inner.clone(),
        }
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> MeshBuilder<Req, Resp> {
    /// A mesh between `shards` shards, each channel holding up to `capacity` messages.
    pub fn new(shards: usize, capacity: usize) -> Self {
        MeshBuilder {
            inner: GlommioMesh::full(shards, capacity),
        }
    }
}

struct Shared<Resp> {
    pending: RefCell<HashMap<u64, oneshot::Sender<Resp>>>,
    next_id: Cell<u64>,
}

/// One shard's end of a typed mesh.
pub struct Mesh<Req: Send + 'static, Resp: Send + 'static> {
    me: ShardId,
    senders: Rc<Senders<Envelope<Req, Resp>>>,
    shared: Rc<Shared<Resp>>,
    handler: Handler<Req, Resp>,
}

impl<Req: Send + 'static, Resp: Send + 'static> Mesh<Req, Resp> {
    /// Join the mesh as shard `me` (every shard must join before any returns) and start
    /// serving requests addressed to this shard with `handler`.
    pub async fn join(
        builder: MeshBuilder<Req, Resp>,
        me: ShardId,
        handler: Handler<Req, Resp>,
    ) -> io::Result<Self> {
        let (senders, mut receivers) = builder
            .inner
            .join()
            .await
            .map_err(|_| io::Error::other("cannot join the cross-shard mesh"))?;
        if senders.peer_id() != me.0 {
            return Err(io::Error::other(format!(
                "mesh peer id {} differs from {me}: shards were not created in index order",
                senders.peer_id()
            )));
        }
        let senders = Rc::new(senders);
        let shared = Rc::new(Shared {
            pending: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
        });
        for (peer, receiver) in receivers.streams() {
            let senders = senders.clone();
            let shared = shared.clone();
            let handler = handler.clone();
            glommio::spawn_local(async move {
                while let Some(envelope) = receiver.recv().await {
                    match envelope {
                        Envelope::Request { id, from, body } => {
                            let senders = senders.clone();
                            let reply = handler(ShardId(from), body);
                            glommio::spawn_local(async move {
                                let body = reply.await;
                                // The requester is gone only when it is shutting down; then
                                // nobody waits for this reply.
                                let _ = senders.send_to(from, Envelope::Reply { id, body }).await;
                            })
                            .detach();
                        }
                        Envelope::Reply { id, body } => {
                            if let Some(tx) = shared.pending.borrow_mut().remove(&id) {
                                let _ = tx.send(body);
                            }
                        }
                    }
                }
                tracing::debug!(peer, "mesh receiver closed");
            })
            .detach();
        }
        Ok(Mesh {
            me,
            senders,
            shared,
            handler,
        })
    }

    /// This shard.
    pub fn shard(&self) -> ShardId {
        self.me
    }

    /// Number of shards in the mesh.
    pub fn shards(&self) -> usize {
        self.senders.nr_consumers()
    }

    /// Send `request` to shard `to` and wait for its reply.
    pub async fn request(&self, to: ShardId, request: Req) -> Result<Resp, MeshError> {
        if to.0 >= self.shards() {
            return Err(MeshError::NoSuchShard(to));
        }
        if to == self.me {
            return Ok((self.handler)(self.me, request).await);
        }
        let id = self.shared.next_id.get();
        self.shared.next_id.set(id.wrapping_add(1));
        let (tx, rx) = oneshot::channel();
        self.shared.pending.borrow_mut().insert(id, tx);
        let envelope = Envelope::Request {
            id,
            from: self.me.0,
            body: request,
        };
        if self.senders.send_to(to.0, envelope).await.is_err() {
            self.shared.pending.borrow_mut().remove(&id);
            return Err(MeshError::ShardGone(to));
        }
        rx.await.map_err(|_| MeshError::ShardGone(to))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use glommio::{LocalExecutorBuilder, Placement};

    /// Two shards: each asks the other (and itself) to compute, many requests in flight.
    #[test]
    fn typed_requests_reach_the_owner_and_replies_come_back() {
        let builder: MeshBuilder<(u64, String), String> = MeshBuilder::new(2, 64);
        let mut handles = Vec::new();
        for shard in 0..2 {
            let builder = builder.clone();
            let h = LocalExecutorBuilder::new(Placement::Unbound)
                .io_memory(256 << 10)
                .ring_depth(32)
                .spawn(move || async move {
                    let me = ShardId(shard);
                    let handler: Handler<(u64, String), String> =
                        Rc::new(move |from: ShardId, (n, s): (u64, String)| {
                            Box::pin(async move { format!("{s}:{n}:from{}:at{}", from.0, me.0) })
                                as HandlerFuture<String>
                        });
                    let mesh = Rc::new(Mesh::join(builder, me, handler).await.unwrap());
                    assert_eq!(mesh.shards(), 2);
                    let other = ShardId(1 - shard);
                    let mut tasks = Vec::new();
                    for n in 0..200u64 {
                        let mesh = mesh.clone();
                        tasks.push(glommio::spawn_local(async move {
                            let to = if n % 4 == 0 { mesh.shard() } else { other };
                            let reply = mesh.request(to, (n, "q".to_string())).await.unwrap();
                            assert_eq!(reply, format!("q:{n}:from{shard}:at{}", to.0));
                        }));
                    }
                    for t in tasks {
                        t.await;
                    }
                    assert_eq!(
                        mesh.request(ShardId(5), (0, String::new())).await,
                        Err(MeshError::NoSuchShard(ShardId(5)))
                    );
                    // Keep serving the peer until it is done too.
                    glommio::timer::sleep(std::time::Duration::from_millis(200)).await;
                })
                .unwrap();
            handles.push(h);
        }
        for h in handles {
            h.join().unwrap();
        }
    }
}
