//! A typed request/reply channel between shards.
//!
//! Every shard joins the same [`MeshBuilder`] with a handler for the requests it owns (for
//! example: "append this copy to an account of yours"). [`Mesh::request`] sends a typed request
//! to a shard and resolves with that shard's typed reply. A request to the calling shard itself
//! runs the handler locally, so callers never special-case it.
//!
//! Not glommio's `channel_mesh`: its join can hang for good when executors start together (we
//! saw 1 start in 30 hang on this machine, and glommio issue #555 reports deadlocks under
//! load). Instead each shard has an inbox — a lock-free crossbeam queue — and a doorbell, one
//! end of a Unix socket pair: a sender pushes onto the queue and writes one byte to the
//! doorbell unless a ring is already pending; the owner shard awaits the doorbell like any
//! socket, clears the pending flag, then drains the queue. The kernel does the cross-thread
//! wake-up, so no wake can be lost, and nothing waits for every shard to join.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io::{self, Write};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam::queue::SegQueue;
use futures_channel::oneshot;
use futures_lite::AsyncReadExt;

use crate::placement::{MeshError, ShardId};

/// The boxed future a request handler returns.
pub type HandlerFuture<Resp> = Pin<Box<dyn Future<Output = Resp>>>;

/// What runs a request on its owner shard: `(from, request) -> reply`.
pub type Handler<Req, Resp> = Rc<dyn Fn(ShardId, Req) -> HandlerFuture<Resp>>;

enum Envelope<Req, Resp> {
    Request { id: u64, from: usize, body: Req },
    Reply { id: u64, body: Resp },
}

/// One shard's inbox, reachable from every thread.
struct Inbox<Req, Resp> {
    queue: SegQueue<Envelope<Req, Resp>>,
    /// Set by the sender that rang the doorbell, cleared by the owner before it drains.
    ring_pending: AtomicBool,
    /// Set when the owner's receiver has stopped: nothing will read the queue any more.
    closed: AtomicBool,
    /// The write end of the doorbell (non-blocking).
    bell: StdUnixStream,
}

impl<Req, Resp> Inbox<Req, Resp> {
    fn post(&self, envelope: Envelope<Req, Resp>) -> bool {
        if self.closed.load(Ordering::SeqCst) {
            return false;
        }
        self.queue.push(envelope);
        if !self.ring_pending.swap(true, Ordering::SeqCst) {
            // WouldBlock means the doorbell is full of rings already: the owner will wake.
            let _ = (&self.bell).write(&[1]);
        }
        true
    }
}

/// Built once before the shards start; a clone is moved into each shard.
pub struct MeshBuilder<Req: Send + 'static, Resp: Send + 'static> {
    inboxes: Arc<Vec<Inbox<Req, Resp>>>,
    /// The read ends of the doorbells, taken by each shard when it joins.
    bells: Arc<Mutex<Vec<Option<StdUnixStream>>>>,
}

impl<Req: Send + 'static, Resp: Send + 'static> Clone for MeshBuilder<Req, Resp> {
    fn clone(&self) -> Self {
        MeshBuilder {
            inboxes: self.inboxes.clone(),
            bells: self.bells.clone(),
        }
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> MeshBuilder<Req, Resp> {
    /// A mesh between `shards` shards.
    pub fn new(shards: usize) -> io::Result<Self> {
        let mut inboxes = Vec::with_capacity(shards);
        let mut bells = Vec::with_capacity(shards);
        for _ in 0..shards {
            let (write, read) = StdUnixStream::pair()?;
            write.set_nonblocking(true)?;
            inboxes.push(Inbox {
                queue: SegQueue::new(),
                ring_pending: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                bell: write,
            });
            bells.push(Some(read));
        }
        Ok(MeshBuilder {
            inboxes: Arc::new(inboxes),
            bells: Arc::new(Mutex::new(bells)),
        })
    }
}

struct Shared<Resp> {
    pending: RefCell<HashMap<u64, oneshot::Sender<Resp>>>,
    next_id: Cell<u64>,
}

/// One shard's end of a typed mesh.
pub struct Mesh<Req: Send + 'static, Resp: Send + 'static> {
    me: ShardId,
    inboxes: Arc<Vec<Inbox<Req, Resp>>>,
    shared: Rc<Shared<Resp>>,
    handler: Handler<Req, Resp>,
}

/// Marks an inbox closed when its receiver task ends (shard shutdown).
struct CloseOnDrop<Req, Resp> {
    inboxes: Arc<Vec<Inbox<Req, Resp>>>,
    me: usize,
}

impl<Req, Resp> Drop for CloseOnDrop<Req, Resp> {
    fn drop(&mut self) {
        self.inboxes[self.me].closed.store(true, Ordering::SeqCst);
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> Mesh<Req, Resp> {
    /// Join the mesh as shard `me` (on that shard's executor) and start serving requests
    /// addressed to it with `handler`. Never waits for the other shards.
    pub async fn join(
        builder: MeshBuilder<Req, Resp>,
        me: ShardId,
        handler: Handler<Req, Resp>,
    ) -> io::Result<Self> {
        let read_end = builder
            .bells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(me.0)
            .and_then(Option::take)
            .ok_or_else(|| {
                io::Error::other(format!("{me} is not in this mesh or joined it twice"))
            })?;
        // SAFETY: `into_raw_fd` hands over sole ownership of an open, connected Unix socket;
        // the glommio stream becomes its only owner.
        #[allow(unsafe_code)]
        let mut doorbell = unsafe { glommio::net::UnixStream::from_raw_fd(read_end.into_raw_fd()) };
        let shared = Rc::new(Shared {
            pending: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
        });
        let mesh = Mesh {
            me,
            inboxes: builder.inboxes.clone(),
            shared: shared.clone(),
            handler: handler.clone(),
        };
        let inboxes = builder.inboxes;
        glommio::spawn_local(async move {
            let _closed = CloseOnDrop {
                inboxes: inboxes.clone(),
                me: me.0,
            };
            let inbox = &inboxes[me.0];
            let mut rings = [0u8; 64];
            loop {
                match doorbell.read(&mut rings).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                // Clear before draining: a message pushed after this rings again.
                inbox.ring_pending.store(false, Ordering::SeqCst);
                while let Some(envelope) = inbox.queue.pop() {
                    match envelope {
                        Envelope::Request { id, from, body } => {
                            let reply = handler(ShardId(from), body);
                            let inboxes = inboxes.clone();
                            glommio::spawn_local(async move {
                                let body = reply.await;
                                // A requester that is gone is shutting down; nobody waits.
                                inboxes[from].post(Envelope::Reply { id, body });
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
            }
            tracing::debug!(shard = me.0, "mesh receiver stopped");
        })
        .detach();
        Ok(mesh)
    }

    /// This shard.
    pub fn shard(&self) -> ShardId {
        self.me
    }

    /// Number of shards in the mesh.
    pub fn shards(&self) -> usize {
        self.inboxes.len()
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
        if !self.inboxes[to.0].post(Envelope::Request {
            id,
            from: self.me.0,
            body: request,
        }) {
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
        let builder: MeshBuilder<(u64, String), String> = MeshBuilder::new(2).unwrap();
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
                    for n in 0..5000u64 {
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
