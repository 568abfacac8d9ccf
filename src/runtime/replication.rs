//! Replication between the hosts of a cluster, runtime side: each shard keeps the roles of
//! the partitions it owns as the cluster map says, follows the primaries of those it
//! replicates, serves its own partitions' logs to their replicas, and — with
//! `replication = "sync"` — holds a delivery's acknowledgement until the replicas have it.
//!
//! # Roles follow the map
//!
//! Every [`RECONCILE`] the shard compares the map's assignment of each partition it owns
//! with the store's role ([`Store::role`]):
//!
//! - this node is the **primary** at epoch `e`: a store at an older epoch is promoted
//!   ([`Store::promote`]; from a replica after a failover, or a primary whose replica set
//!   changed); a follower of the partition stops;
//! - this node is a **replica** at `e`: a store at an older epoch becomes a replica at `e`
//!   ([`Store::make_replica`]: an old primary is fenced for good), and a follower runs;
//! - neither: the follower stops; a partition this shard held since it started is fenced
//!   at the new epoch ([`Store::observe_epoch`]: sessions still open here cannot write to
//!   it); the files stay (a partition moved away is not deleted by a map change).
//!
//! While this host may have lost its etcd lease ([`ClusterHandle::is_fenced`]) the whole
//! store refuses writes ([`Store::set_fenced`]): another host may be promoted any moment.
//!
//! # The stream
//!
//! A follower (on the replica's shard that owns the partition) opens a link to the primary
//! host ([`Hello::Follow`]), which moves it to the shard that owns the partition there, and
//! asks for the log after its durable position (a request frame). The primary answers with
//! chunks of its durable log ([`Store::read_log`]), one at a time: the replica checks and
//! applies each ([`Store::apply_chunk`], written and `fdatasync`ed where the primary wrote
//! it) and acknowledges its new durable position; the primary sends the next chunk when the
//! ack came, or waits for its log to grow ([`Store::wait_durable`]). Stop-and-wait keeps
//! both sides simple and bounded (one chunk of at most [`CHUNK_BYTES`] in flight); a replica
//! that fell far behind catches up at one chunk per round trip and `fdatasync`.
//!
//! The primary records each replica's acknowledged position per partition; a `sync`
//! delivery waits (at most [`SYNC_TIMEOUT`]) until every replica the map names has
//! acknowledged the position after its write — a replica that is down too: failover may
//! promote it when it returns, so it must hold every acknowledged write. A replica that has
//! not confirmed within [`LAG_LIMIT`] is first dropped from the map (an etcd transaction
//! that requires this host to still be the primary at that epoch), as Kafka shrinks its
//! in-sync set, and the write goes on without it; the cluster thread's refill gives the
//! partition a replica again, which catches up. If the map cannot be changed, or the others
//! do not confirm within [`SYNC_TIMEOUT`], the copies are retracted and the client told to
//! try again (4xx): the message may then arrive twice, never zero times.
//!
//! A log position that is not on the primary's log any more (compacted away, or a log that
//! diverged: an old primary's writes nobody acknowledged) is answered "resync needed"; the
//! replica then needs a snapshot copied over, which this stream does not carry yet — it
//! logs an error and retries slowly.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;
use futures_lite::future;

use super::net::link::{self as netlink, ClusterLink, Remote};
use super::net::{ShardState, Transport};
use crate::cluster::{ClusterHandle, NodeName};
use crate::placement::{Partition, PARTITIONS};
use crate::store::replica::{LogRead, Role};
use crate::store::segment::LogPosition;
use crate::store::snapshot::{PartitionSnapshot, SnapshotEnd};
use crate::store::{Store, StoreError};
use crate::wire::link::{
    decode_snapshot_part, encode_snapshot_part, Answer, SnapshotPart, SNAPSHOT_PIECE,
};
use crate::wire::replication::{Body, ErrorCode, Frame};

/// How often a shard compares the map with its partitions' roles.
pub const RECONCILE: Duration = Duration::from_millis(100);
/// The most log bytes one chunk carries (a larger record goes alone).
pub const CHUNK_BYTES: usize = 1 << 20;
/// How long a `sync` delivery waits for its replicas in all.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a replica may take to confirm a `sync` write before the primary drops it from
/// the map and goes on without it.
pub const LAG_LIMIT: Duration = Duration::from_secs(5);
/// How long a replica may take to acknowledge a chunk.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a follower waits before connecting again after a failure.
const RETRY: Duration = Duration::from_millis(250);
/// How often a replica without a stream is invited again.
const INVITE_AGAIN: Duration = Duration::from_secs(2);
/// How long a follower told to start over waits before asking again.
const RESYNC_RETRY: Duration = Duration::from_secs(5);
/// How many handoffs one shard runs at once (each opens its partition and streams it).
const HANDOFFS_AT_ONCE: usize = 4;
/// How long a primary refuses writes to a partition it hands off while the new nodes take
/// the last records; past it, writes are taken again and the catch-up goes on.
const HANDOFF_PAUSE: Duration = Duration::from_secs(5);

/// One shard's part in replication.
pub struct Replication {
    cluster: ClusterHandle,
    link: Arc<ClusterLink>,
    sync: bool,
    /// Each replica's acknowledged position per partition: the next sequence number it needs.
    acked: RefCell<HashMap<(u16, String), u64>>,
    /// Woken on every acknowledgement.
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
    /// The followers running here, by partition.
    followers: RefCell<HashMap<u16, Follower>>,
    /// The map revision reconciled last.
    reconciled: Cell<Option<u64>>,
    /// Partitions a primary asked this shard to follow.
    invited: RefCell<HashSet<u16>>,
    /// Set when an invitation came: reconcile again though the map is the same.
    dirty: Cell<bool>,
    /// The streams this shard serves now, as a primary: (partition, replica node).
    streams: RefCell<HashSet<(u16, String)>>,
    /// When each replica was last invited to follow a partition.
    invitations: RefCell<HashMap<(u16, String), std::time::Instant>>,
    /// The handoffs running here, by partition: the epoch each started at.
    handoffs: RefCell<HashMap<u16, u64>>,
    /// Partitions whose writes are paused for a handoff's last stretch, with the epoch of
    /// the map that named the handoff: the gate stays shut until the map moves past it.
    paused: RefCell<HashMap<u16, u64>>,
    /// The partitions the map made this host the primary of when last reconciled.
    primary_here: RefCell<HashSet<u16>>,
}

/// A running follower: whom it follows, and its stop signal (dropping it stops the task).
struct Follower {
    epoch: u64,
    primary: NodeName,
    _stop: oneshot::Sender<()>,
}

impl Replication {
    pub fn new(cluster: ClusterHandle, link: Arc<ClusterLink>, sync: bool) -> Replication {
        Replication {
            cluster,
            link,
            sync,
            acked: RefCell::default(),
            waiters: RefCell::default(),
            followers: RefCell::default(),
            reconciled: Cell::new(None),
            invited: RefCell::default(),
            dirty: Cell::new(false),
            streams: RefCell::default(),
            invitations: RefCell::default(),
            handoffs: RefCell::default(),
            paused: RefCell::default(),
            primary_here: RefCell::default(),
        }
    }

    /// How many partitions this shard follows now.
    pub fn following(&self) -> usize {
        self.followers.borrow().len()
    }

    fn record_ack(&self, partition: Partition, node: &str, next_seq: u64) {
        let mut acked = self.acked.borrow_mut();
        let slot = acked
            .entry((partition.index(), node.to_string()))
            .or_insert(0);
        *slot = (*slot).max(next_seq);
        drop(acked);
        for waiter in self.waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
    }

    /// [`Replication::wait_replicated`] for the partition of `account` (a store key; its
    /// DAV key is in the same partition): what a write acknowledged to a client waits for.
    pub async fn confirm(&self, store: &Store, account: &str) -> Result<(), StoreError> {
        self.wait_replicated(store, &[Partition::of(account)]).await
    }

    /// With `sync`: wait until every replica the map names for each partition has
    /// acknowledged the partition's log up to where it is durable now (past the writes just
    /// made). A replica that has not within [`LAG_LIMIT`] is dropped from the map first
    /// ([`ClusterHandle::drop_replica`]: it can then never be promoted without these writes)
    /// and not waited for; an error if the map cannot be changed (it moved on, etcd is out
    /// of reach) or the rest has not confirmed within [`SYNC_TIMEOUT`]. At once without
    /// `sync`.
    pub async fn wait_replicated(
        &self,
        store: &Store,
        partitions: &[Partition],
    ) -> Result<(), StoreError> {
        if !self.sync {
            return Ok(());
        }
        let began = std::time::Instant::now();
        let map = self.cluster.map();
        let mut wanted = Vec::new();
        for &partition in partitions {
            let Some(assignment) = map.assignment(partition) else {
                continue;
            };
            // Every replica the map names, live or not: one that is down may be promoted
            // when it returns, so it must have every acknowledged write (or leave the map).
            if assignment.replicas.is_empty() {
                continue;
            }
            let target = store.durable_position(partition).await?.chain.next_seq;
            wanted.push((partition, assignment.clone(), target));
        }
        let lagging = |wanted: &[(Partition, crate::cluster::Assignment, u64)]| {
            let acked = self.acked.borrow();
            let mut behind = Vec::new();
            for (p, assignment, target) in wanted {
                for r in &assignment.replicas {
                    let key = (p.index(), r.as_str().to_string());
                    if acked.get(&key).is_none_or(|a| a < target) {
                        behind.push((*p, r.clone(), assignment.epoch.0));
                    }
                }
            }
            behind
        };
        let settle = |limit: Duration, wanted: &[(Partition, crate::cluster::Assignment, u64)]| {
            let wanted = wanted.to_vec();
            async move {
                let wait = async {
                    while !lagging(&wanted).is_empty() {
                        let (tx, rx) = oneshot::channel();
                        self.waiters.borrow_mut().push(tx);
                        let _ = rx.await;
                    }
                };
                future::or(wait, glommio::timer::sleep(limit)).await;
            }
        };
        settle(LAG_LIMIT, &wanted).await;
        let behind = lagging(&wanted);
        if behind.is_empty() {
            return Ok(());
        }
        let refused = || StoreError::Remote("a replica did not confirm the write in time".into());
        for (partition, replica, epoch) in &behind {
            match self
                .cluster
                .drop_replica(*partition, replica.clone(), *epoch)
                .await
            {
                Ok(Ok(true)) => {
                    tracing::warn!(target: "ringpost::cluster", partition = partition.index(), replica = %replica, "replica dropped from the map: it did not confirm a write in time");
                }
                Ok(Ok(false)) => return Err(refused()), // the map moved on meanwhile
                Ok(Err(e)) => {
                    tracing::warn!(target: "ringpost::cluster", partition = partition.index(), replica = %replica, error = %e, "cannot drop a lagging replica from the map");
                    return Err(refused());
                }
                Err(_) => return Err(refused()),
            }
        }
        // The rest (not dropped) must have confirmed by now; give them what is left.
        wanted.iter_mut().for_each(|(p, a, _)| {
            a.replicas
                .retain(|r| !behind.iter().any(|(bp, br, _)| bp == p && br == r))
        });
        settle(SYNC_TIMEOUT.saturating_sub(began.elapsed()), &wanted).await;
        if lagging(&wanted).is_empty() {
            Ok(())
        } else {
            Err(refused())
        }
    }

    /// A primary asked this shard to follow `partition` (it wrote there and no stream of
    /// ours was open): looked at in the next reconcile.
    pub fn invited(&self, partition: Partition) {
        if self.invited.borrow_mut().insert(partition.index()) {
            self.dirty.set(true);
        }
    }

    /// Bring the write gate, the roles of this shard's partitions and its followers in line
    /// with the map, and invite the replicas of partitions written here that do not follow
    /// yet.
    async fn reconcile(self: &Rc<Self>, state: &Rc<ShardState>) {
        let map = self.cluster.map();
        let me = self.cluster.this_node().clone();
        let fenced = self.cluster.is_fenced() || !map.is_complete();
        // A pause ends once the map moved on from the epoch that named the handoff.
        self.paused.borrow_mut().retain(|&i, epoch| {
            Partition::from_index(i)
                .and_then(|p| map.assignment(p))
                .is_some_and(|a| a.epoch.0 == *epoch)
        });
        let gate = self.gate(&map, &me, fenced);
        let before = state.store.write_gate();
        if before.as_deref() != Some(&gate[..]) {
            let was_fenced = before.is_none_or(|g| !g.iter().any(|w| *w));
            let now_fenced = !gate.iter().any(|w| *w);
            if was_fenced != now_fenced {
                tracing::info!(target: "ringpost::cluster", shard = %state.id, "store writes {}", if now_fenced { "refused: this host serves no partition now (lease not held, or map not read)" } else { "taken for the partitions this host serves" });
            }
            state.store.set_write_gate(Some(gate));
        }
        if !map.is_complete() {
            return;
        }
        let published = self.cluster.published();
        if self.reconciled.get() != Some(published) {
            self.note_moves(state, &map, &me);
        }
        if self.reconciled.get() != Some(published) || self.dirty.replace(false) {
            if self.settle(state, &map, &me).await {
                self.reconciled.set(Some(published));
            } else {
                self.reconciled.set(None);
            }
        }
        if !fenced {
            self.invite(state, &map, &me);
            self.start_handoffs(state, &map, &me);
        }
    }

    /// Tell the shard's sessions when a partition it served as primary is now served by
    /// another host ([`ShardState::partitions_moved`]).
    fn note_moves(&self, state: &ShardState, map: &crate::cluster::ClusterMap, me: &NodeName) {
        let now: HashSet<u16> = owned_assignments(state, map)
            .filter(|(_, a)| a.primary == *me)
            .map(|(p, _)| p.index())
            .collect();
        let before = self.primary_here.replace(now);
        let moved = before
            .iter()
            .filter(|i| !self.primary_here.borrow().contains(i))
            .count();
        if moved > 0 {
            tracing::info!(target: "ringpost::cluster", shard = %state.id, partitions = moved, "partitions now served by another host: their sessions here end with a reconnect");
            state.partitions_moved.notify_all();
        }
    }

    /// Which partitions this host may write: those the map makes it primary of, unless it is
    /// fenced or a handoff paused them.
    fn gate(&self, map: &crate::cluster::ClusterMap, me: &NodeName, fenced: bool) -> Rc<[bool]> {
        let paused = self.paused.borrow();
        (0..PARTITIONS)
            .map(|i| {
                !fenced
                    && !paused.contains_key(&i)
                    && Partition::from_index(i)
                        .and_then(|p| map.assignment(p))
                        .is_some_and(|a| a.primary == *me)
            })
            .collect()
    }

    /// Start the handoff of every partition this shard owns and is primary of whose map
    /// names one, up to [`HANDOFFS_AT_ONCE`] at a time.
    fn start_handoffs(
        self: &Rc<Self>,
        state: &Rc<ShardState>,
        map: &crate::cluster::ClusterMap,
        me: &NodeName,
    ) {
        for (partition, assignment) in owned_assignments(state, map) {
            if self.handoffs.borrow().len() >= HANDOFFS_AT_ONCE {
                return;
            }
            let index = partition.index();
            if assignment.primary != *me || assignment.handoff.is_none() {
                continue;
            }
            let epoch = assignment.epoch.0;
            if self.handoffs.borrow().get(&index) == Some(&epoch) {
                continue;
            }
            self.handoffs.borrow_mut().insert(index, epoch);
            let me = self.clone();
            let state = state.clone();
            let guard = state.active.enter();
            glommio::spawn_local(async move {
                let run = Box::pin(me.hand_off(&state, partition, epoch));
                let outcome = future::or(async { Some(run.await) }, async {
                    state.shutdown.wait().await;
                    None
                })
                .await;
                if let Some(Err(e)) = outcome {
                    tracing::warn!(target: "ringpost::cluster", partition = index, epoch, error = %e, "handoff not made (tried again)");
                }
                let mut handoffs = me.handoffs.borrow_mut();
                if handoffs.get(&index) == Some(&epoch) {
                    handoffs.remove(&index);
                }
                drop(guard);
            })
            .detach();
        }
    }

    /// Whether the map still names this node as `partition`'s primary at `epoch` with a
    /// handoff; the nodes the handoff waits for then: the learners and a new primary.
    fn handoff_waits_for(&self, partition: Partition, epoch: u64) -> Option<Vec<NodeName>> {
        let map = self.cluster.map();
        let me = self.cluster.this_node();
        let a = map.assignment(partition)?;
        let h = a.handoff.as_ref()?;
        if a.primary != *me || a.epoch.0 != epoch || self.cluster.is_fenced() {
            return None;
        }
        let mut wait: Vec<NodeName> = a.learners().cloned().collect();
        if h.primary != *me && !wait.contains(&h.primary) {
            wait.push(h.primary.clone());
        }
        Some(wait)
    }

    /// Whether every node of `nodes` acknowledged `partition`'s log up to `next_seq`.
    fn all_acked(&self, partition: Partition, nodes: &[NodeName], next_seq: u64) -> bool {
        let acked = self.acked.borrow();
        nodes.iter().all(|n| {
            acked
                .get(&(partition.index(), n.as_str().to_string()))
                .is_some_and(|a| *a >= next_seq)
        })
    }

    /// Make the handoff of `partition` the map names at `epoch`: wait until the nodes new to
    /// it (and its new primary) follow close behind, pause its writes, wait until they have
    /// the whole log, and switch the map over in one transaction; the pause then lasts until
    /// the map shows the switch (this host is no longer the primary). A pause that the new
    /// nodes do not catch up within [`HANDOFF_PAUSE`] ends and the catch-up goes on. Ends
    /// when the map moves on.
    async fn hand_off(
        self: &Rc<Self>,
        state: &Rc<ShardState>,
        partition: Partition,
        epoch: u64,
    ) -> Result<(), StoreError> {
        let store = &state.store;
        let index = partition.index();
        let began = std::time::Instant::now();
        tracing::debug!(target: "ringpost::cluster", partition = index, epoch, "handoff: the new nodes are catching up");
        loop {
            let Some(wait) = self.handoff_waits_for(partition, epoch) else {
                return Ok(());
            };
            // Nothing to copy unless the partition has files here.
            let has_log = store.exists(partition) || store.is_open(partition);
            if has_log {
                // Close behind: at what was durable a moment ago.
                let target = store.durable_position(partition).await?.chain.next_seq;
                if !self.all_acked(partition, &wait, target) {
                    glommio::timer::sleep(RECONCILE).await;
                    continue;
                }
            }
            let keeps_primary = self
                .cluster
                .map()
                .assignment(partition)
                .and_then(|a| {
                    a.handoff
                        .as_ref()
                        .map(|h| h.primary == *self.cluster.this_node())
                })
                .unwrap_or(false);
            if keeps_primary {
                // Only new replicas: nothing written here can be missed by a new primary, and
                // the replicas follow on from close behind.
                match self.cluster.hand_off(partition, epoch).await {
                    Ok(Ok(true)) => {
                        tracing::info!(target: "ringpost::cluster", partition = index, epoch, took_ms = began.elapsed().as_millis() as u64, "handoff made (new replicas)");
                        return Ok(());
                    }
                    _ => {
                        glommio::timer::sleep(RETRY).await;
                        continue;
                    }
                }
            }
            // The last stretch, with writes paused.
            self.paused.borrow_mut().insert(index, epoch);
            store.set_write_gate(Some(self.gate(
                &self.cluster.map(),
                self.cluster.this_node(),
                self.cluster.is_fenced(),
            )));
            let pause = std::time::Instant::now();
            let caught_up = loop {
                if self.handoff_waits_for(partition, epoch).is_none() {
                    break false;
                }
                let end = if has_log || store.exists(partition) {
                    store.settled_end(partition).await?
                } else {
                    None
                };
                let done = match end {
                    Some(end) => self.all_acked(partition, &wait, end.chain.next_seq),
                    None => !(has_log || store.exists(partition)),
                };
                if done {
                    break true;
                }
                if pause.elapsed() > HANDOFF_PAUSE {
                    break false;
                }
                glommio::timer::sleep(Duration::from_millis(5)).await;
            };
            if caught_up {
                // Once asked, the switch may be in etcd even without an answer (a time-out
                // after the transaction went out): writes stay paused until the map moves
                // past this epoch (the pause's own rule, in `reconcile`), never resumed on a
                // guess. The question is asked again until etcd answers it.
                loop {
                    match self.cluster.hand_off(partition, epoch).await {
                        Ok(Ok(true)) => {
                            tracing::info!(target: "ringpost::cluster", partition = index, epoch, took_ms = began.elapsed().as_millis() as u64, paused_ms = pause.elapsed().as_millis() as u64, copied = has_log, "handoff made");
                            return Ok(());
                        }
                        Ok(Ok(false)) => {
                            // The key moved on (made by an earlier try, or changed by
                            // another writer): the map brings the change.
                            return Ok(());
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(target: "ringpost::cluster", partition = index, epoch, error = %e, "handoff not written yet; asked again");
                        }
                        Err(_) => {}
                    }
                    let moved_on = self
                        .cluster
                        .map()
                        .assignment(partition)
                        .is_none_or(|a| a.epoch.0 != epoch);
                    if moved_on {
                        return Ok(());
                    }
                    glommio::timer::sleep(RETRY).await;
                }
            }
            if pause.elapsed() > HANDOFF_PAUSE {
                tracing::info!(target: "ringpost::cluster", partition = index, epoch, "handoff: the new nodes did not catch up while writes were paused; writes resume");
            }
            self.paused.borrow_mut().remove(&index);
            store.set_write_gate(Some(self.gate(
                &self.cluster.map(),
                self.cluster.this_node(),
                self.cluster.is_fenced(),
            )));
            if self.handoff_waits_for(partition, epoch).is_none() {
                return Ok(());
            }
            glommio::timer::sleep(RETRY).await;
        }
    }

    /// Roles and followers as the map says; whether every partition took its role.
    async fn settle(
        self: &Rc<Self>,
        state: &Rc<ShardState>,
        map: &crate::cluster::ClusterMap,
        me: &NodeName,
    ) -> bool {
        let store = &state.store;
        let mut settled = true;
        for (partition, assignment) in owned_assignments(state, map) {
            let index = partition.index();
            let epoch = assignment.epoch.0;
            let result = if assignment.primary == *me {
                self.followers.borrow_mut().remove(&index);
                if store.is_open(partition) {
                    self.become_primary(store, partition, epoch).await
                } else {
                    Ok(()) // stamped when a replica first asks for its log
                }
            } else if assignment.follows(me) {
                let following = self
                    .followers
                    .borrow()
                    .get(&index)
                    .is_some_and(|f| f.epoch == epoch && f.primary == assignment.primary);
                if following || !(store.exists(partition) || self.invited.borrow().contains(&index))
                {
                    Ok(())
                } else {
                    match self.become_replica(store, partition, epoch).await {
                        Ok(()) => {
                            self.ensure_follower(
                                state,
                                partition,
                                epoch,
                                assignment.primary.clone(),
                            );
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
            } else {
                self.followers.borrow_mut().remove(&index);
                self.invited.borrow_mut().remove(&index);
                if store.is_open(partition) {
                    // Moved away: stamp the new epoch (the gate refuses writes already).
                    store.observe_epoch(partition, epoch).await.map(|_| ())
                } else {
                    Ok(())
                }
            };
            if let Err(e) = result {
                settled = false;
                tracing::warn!(target: "ringpost::cluster", partition = index, epoch, error = %e, "cannot take the role the map gives");
            }
        }
        settled
    }

    /// For each partition open here that this host is the primary of, ask every live replica
    /// without a stream from it to follow (at most every [`INVITE_AGAIN`] per replica).
    fn invite(&self, state: &Rc<ShardState>, map: &crate::cluster::ClusterMap, me: &NodeName) {
        for partition in state.store.open_partitions() {
            let Some(assignment) = map.assignment(partition) else {
                continue;
            };
            if assignment.primary != *me {
                continue;
            }
            for replica in assignment.replicas.iter().chain(assignment.learners()) {
                let Some(node) = map.node(replica).filter(|n| n.live) else {
                    continue;
                };
                let Some(address) = node.advertise else {
                    continue;
                };
                let key = (partition.index(), replica.as_str().to_string());
                if self.streams.borrow().contains(&key) {
                    continue;
                }
                let now = std::time::Instant::now();
                let recent = self
                    .invitations
                    .borrow()
                    .get(&key)
                    .is_some_and(|at| now.duration_since(*at) < INVITE_AGAIN);
                if recent {
                    continue;
                }
                self.invitations.borrow_mut().insert(key, now);
                let link = self.link.clone();
                let remote = Remote {
                    node: replica.as_str().to_string(),
                    address,
                };
                let epoch = assignment.epoch.0;
                glommio::spawn_local(async move {
                    if let Err(e) = netlink::invite(&link, &remote, partition.index(), epoch).await {
                        tracing::debug!(target: "ringpost::cluster", partition = partition.index(), replica = %remote.node, error = %e, "invitation to follow failed");
                    }
                })
                .detach();
            }
        }
    }

    async fn become_primary(
        &self,
        store: &Store,
        partition: Partition,
        epoch: u64,
    ) -> Result<(), StoreError> {
        match store.role(partition).await? {
            Role::Primary { epoch: ours } if ours >= epoch => Ok(()),
            Role::Replica { epoch: ours } if ours > epoch => Ok(()), // the map is behind
            role => {
                let at = store.promote(partition, epoch).await?;
                tracing::info!(target: "ringpost::cluster", partition = partition.index(), epoch, was = ?role, next_seq = at.chain.next_seq, "primary now");
                Ok(())
            }
        }
    }

    async fn become_replica(
        &self,
        store: &Store,
        partition: Partition,
        epoch: u64,
    ) -> Result<(), StoreError> {
        match store.role(partition).await? {
            Role::Replica { epoch: ours } if ours >= epoch => Ok(()),
            Role::Primary { epoch: ours } if ours > epoch => Ok(()), // the map is behind
            role => {
                store.make_replica(partition, epoch).await?;
                if !role.is_replica() && role.epoch() > 0 {
                    tracing::info!(target: "ringpost::cluster", partition = partition.index(), epoch, "fenced: a replica now");
                }
                Ok(())
            }
        }
    }

    /// A follower of `primary` at `epoch` runs for the partition (a different one stops).
    fn ensure_follower(
        self: &Rc<Self>,
        state: &Rc<ShardState>,
        partition: Partition,
        epoch: u64,
        primary: NodeName,
    ) {
        let index = partition.index();
        if let Some(f) = self.followers.borrow().get(&index) {
            if f.epoch == epoch && f.primary == primary {
                return;
            }
        }
        let (stop, stopped) = oneshot::channel();
        self.followers.borrow_mut().insert(
            index,
            Follower {
                epoch,
                primary: primary.clone(),
                _stop: stop,
            },
        );
        let me = self.clone();
        let state = state.clone();
        let guard = state.active.enter();
        glommio::spawn_local(async move {
            Box::pin(me.follow(&state, partition, epoch, primary, stopped)).await;
            drop(guard);
        })
        .detach();
    }

    /// Follow the partition's primary until stopped (or the shard shuts down).
    async fn follow(
        &self,
        state: &Rc<ShardState>,
        partition: Partition,
        epoch: u64,
        primary: NodeName,
        mut stopped: oneshot::Receiver<()>,
    ) {
        loop {
            // A primary that is down is not dialled until the map says it is back.
            let remote = self
                .cluster
                .map()
                .node(&primary)
                .filter(|n| n.live)
                .and_then(|n| {
                    n.advertise.map(|address| Remote {
                        node: primary.as_str().to_string(),
                        address,
                    })
                });
            let pause = match remote {
                None => RETRY,
                Some(remote) => {
                    let run = self.follow_once(state, partition, epoch, &remote);
                    // The stop first: a follower replaced by one for a new epoch applies no
                    // further chunk once told.
                    let ended = future::or(
                        async {
                            let _ = (&mut stopped).await;
                            None
                        },
                        async { Some(run.await) },
                    );
                    let ended = future::or(ended, async {
                        state.shutdown.wait().await;
                        None
                    })
                    .await;
                    match ended {
                        None => return,
                        Some(Ok(pause)) => pause,
                        Some(Err(e)) => {
                            tracing::debug!(target: "ringpost::cluster", partition = partition.index(), primary = %remote.node, error = %e, "replication stream ended");
                            RETRY
                        }
                    }
                }
            };
            let waited = future::or(
                async {
                    glommio::timer::sleep(pause).await;
                    true
                },
                async {
                    let _ = (&mut stopped).await;
                    false
                },
            );
            let waited = future::or(waited, async {
                state.shutdown.wait().await;
                false
            })
            .await;
            if !waited {
                return;
            }
        }
    }

    /// One stream from the primary; `Ok(pause)` when the primary ended it with a reason.
    async fn follow_once(
        &self,
        state: &Rc<ShardState>,
        partition: Partition,
        epoch: u64,
        remote: &Remote,
    ) -> io::Result<Duration> {
        let store = &state.store;
        let from = store
            .durable_position(partition)
            .await
            .map_err(io::Error::other)?;
        let mut transport = netlink::open_follow(&self.link, remote, partition.index()).await?;
        let mut out = Vec::with_capacity(64);
        Frame {
            partition: partition.index(),
            epoch,
            body: Body::Request(from.into()),
        }
        .encode(&mut out);
        transport.write_all(&out).await?;
        let mut buf = Vec::new();
        loop {
            let frame = read_frame(&mut transport, &mut buf).await?;
            match frame.body {
                Body::Chunk(chunk) => {
                    if frame.epoch < epoch {
                        return Ok(RETRY);
                    }
                    // A task of its own: a follower stopped (a new epoch) while the chunk is
                    // written must not cancel the write halfway, which would leave the log's
                    // writer ahead of its durable end for good.
                    let applying = {
                        let store = store.clone();
                        glommio::spawn_local(async move {
                            store.apply_chunk(partition, epoch, &chunk).await
                        })
                        .detach()
                    };
                    let at = match applying.await {
                        Some(Ok(at)) => at,
                        None => return Ok(RETRY),
                        Some(Err(e)) => {
                            tracing::warn!(target: "ringpost::cluster", partition = partition.index(), error = %e, "shipped chunk refused");
                            return Ok(RETRY);
                        }
                    };
                    out.clear();
                    Frame {
                        partition: partition.index(),
                        epoch,
                        body: Body::Ack(at.into()),
                    }
                    .encode(&mut out);
                    transport.write_all(&out).await?;
                }
                Body::Error(ErrorCode::ResyncNeeded) => {
                    tracing::warn!(target: "ringpost::cluster", partition = partition.index(), primary = %remote.node, "this replica's log is not on its primary's any more: starting over from a copy of its files");
                    drop(transport);
                    return match self.fetch_snapshot(state, partition, epoch, remote).await {
                        Ok(at) => {
                            tracing::info!(target: "ringpost::cluster", partition = partition.index(), next_seq = at.chain.next_seq, "snapshot installed; following the log from its end");
                            Ok(Duration::ZERO)
                        }
                        Err(e) => {
                            tracing::error!(target: "ringpost::cluster", partition = partition.index(), primary = %remote.node, error = %e, "snapshot failed");
                            Ok(RESYNC_RETRY)
                        }
                    };
                }
                Body::Error(code) => {
                    tracing::debug!(target: "ringpost::cluster", partition = partition.index(), ?code, "primary refused the stream");
                    return Ok(RETRY);
                }
                Body::Request(_) | Body::Ack(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "unexpected replication frame",
                    ));
                }
            }
        }
    }
}

impl Replication {
    /// Copy the partition's files from its primary and put them in place of this replica's
    /// (the log could not be caught up); the durable position after.
    async fn fetch_snapshot(
        &self,
        state: &Rc<ShardState>,
        partition: Partition,
        epoch: u64,
        remote: &Remote,
    ) -> io::Result<LogPosition> {
        let (mut transport, mut buf) =
            netlink::ask_snapshot(&self.link, remote, partition.index(), epoch).await?;
        let root = state
            .server()
            .config
            .data_dir
            .join("replication")
            .join(format!("incoming-p{:04}", partition.index()));
        let fresh = root.clone();
        blocking(move || {
            match std::fs::remove_dir_all(&fresh) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            std::fs::create_dir_all(&fresh)
        })
        .await?;
        let folder = format!("p{:04}/", partition.index());
        let end = loop {
            let part = netlink::within(
                ACK_TIMEOUT,
                "no snapshot part in time",
                read_part(&mut transport, &mut buf),
            )
            .await?;
            match part {
                SnapshotPart::File { path, offset, data } => {
                    let safe = path.starts_with(&folder)
                        && std::path::Path::new(&path)
                            .components()
                            .all(|c| matches!(c, std::path::Component::Normal(_)));
                    if !safe {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("snapshot file {path:?} is not in the partition's folder"),
                        ));
                    }
                    let file = root.join(&path);
                    blocking(move || {
                        use std::os::unix::fs::FileExt;
                        if let Some(dir) = file.parent() {
                            std::fs::create_dir_all(dir)?;
                        }
                        let f = std::fs::OpenOptions::new()
                            .create(true)
                            .write(true)
                            .truncate(false)
                            .open(&file)?;
                        f.write_all_at(&data, offset)
                    })
                    .await?;
                }
                SnapshotPart::Done { end } => break end,
            }
        };
        transport.close().await;
        // Folders travel only with their files: an empty index folder is made here.
        let accounts = root.join(&folder).join("accounts");
        blocking(move || std::fs::create_dir_all(accounts)).await?;
        let snapshot = PartitionSnapshot {
            partition: partition.index(),
            end: end.map(|(segment, offset, next_seq)| SnapshotEnd {
                segment,
                offset,
                next_seq,
            }),
        };
        let at = state
            .store
            .install_snapshot(partition, &root, snapshot, epoch)
            .await
            .map_err(io::Error::other);
        let _ = blocking(move || std::fs::remove_dir_all(&root)).await;
        at
    }
}

/// The primary's side of a snapshot request: `node`, a replica at `epoch`, gets a copy of
/// the partition's files as they are at one instant (hard-linked, then sent).
pub async fn serve_snapshot(
    mut transport: Transport,
    node: String,
    partition: Partition,
    epoch: u64,
    state: Rc<ShardState>,
) {
    let replication = state.replication.borrow().clone();
    let result = match replication {
        Some(r) => send_snapshot(&mut transport, &r, partition, epoch, &state).await,
        None => Err(io::Error::other("this host does not replicate")),
    };
    if let Err(e) = result {
        tracing::warn!(target: "ringpost::cluster", partition = partition.index(), replica = %node, error = %e, "snapshot not sent");
        let answer = Answer::Refused(e.to_string());
        let _ = transport
            .write_all(&crate::wire::link::encode_answer(&answer))
            .await;
    } else {
        tracing::info!(target: "ringpost::cluster", partition = partition.index(), replica = %node, "snapshot sent");
    }
    transport.close().await;
}

async fn send_snapshot(
    transport: &mut Transport,
    replication: &Replication,
    partition: Partition,
    epoch: u64,
    state: &Rc<ShardState>,
) -> io::Result<()> {
    let map = replication.cluster.map();
    let named = map
        .assignment(partition)
        .is_some_and(|a| a.primary == *replication.cluster.this_node() && a.epoch.0 == epoch);
    if !named || replication.cluster.is_fenced() {
        return Err(io::Error::other(
            "not this partition's primary at that epoch",
        ));
    }
    let store = &state.store;
    replication
        .become_primary(store, partition, epoch)
        .await
        .map_err(io::Error::other)?;
    let root = state
        .server()
        .config
        .data_dir
        .join("replication")
        .join(format!("outgoing-p{:04}-{}", partition.index(), unique()));
    let made = root.clone();
    blocking(move || std::fs::create_dir_all(&made)).await?;
    let sent = async {
        let snapshot = store
            .replica_snapshot(partition, &root)
            .await
            .map_err(io::Error::other)?;
        let listed = root.clone();
        let files = blocking(move || list_files(&listed)).await?;
        transport
            .write_all(&crate::wire::link::encode_answer(&Answer::Accepted))
            .await?;
        for (path, len) in files {
            let mut offset = 0u64;
            loop {
                let file = root.join(&path);
                let piece = blocking(move || {
                    use std::os::unix::fs::FileExt;
                    let f = std::fs::File::open(&file)?;
                    let want = (len - offset).min(SNAPSHOT_PIECE as u64) as usize;
                    let mut data = vec![0u8; want];
                    f.read_exact_at(&mut data, offset)?;
                    Ok::<_, io::Error>(data)
                })
                .await?;
                let n = piece.len() as u64;
                let part = SnapshotPart::File {
                    path: path.clone(),
                    offset,
                    data: piece,
                };
                transport.write_all(&encode_snapshot_part(&part)).await?;
                offset += n;
                if offset >= len {
                    break;
                }
            }
        }
        let end = snapshot.end.map(|e| (e.segment, e.offset, e.next_seq));
        transport
            .write_all(&encode_snapshot_part(&SnapshotPart::Done { end }))
            .await
    }
    .await;
    let _ = blocking(move || std::fs::remove_dir_all(&root)).await;
    sent
}

/// Every file under `root`: its path relative to `root` (`/`-separated) and its length.
fn list_files(root: &std::path::Path) -> io::Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                let relative = entry
                    .path()
                    .strip_prefix(root)
                    .map_err(io::Error::other)?
                    .to_string_lossy()
                    .into_owned();
                out.push((relative, entry.metadata()?.len()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A number not used before in this process (names of scratch folders).
pub(crate) fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The partitions this shard owns that the map assigns, with their assignments.
fn owned_assignments<'m>(
    state: &'m ShardState,
    map: &'m crate::cluster::ClusterMap,
) -> impl Iterator<Item = (Partition, &'m crate::cluster::Assignment)> + 'm {
    map.assignments()
        .filter(|(p, _)| state.map.owner(*p) == state.id)
        .filter_map(|(p, a)| a.map(|a| (p, a)))
}

/// Run `work` on a blocking thread (file work off the shard).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    glommio::executor().spawn_blocking(work).await
}

/// Read one snapshot part from `transport` (`buf` keeps what came after it).
async fn read_part(transport: &mut Transport, buf: &mut Vec<u8>) -> io::Result<SnapshotPart> {
    netlink::read_decoded(
        transport,
        buf,
        |b| decode_snapshot_part(b).into_result(),
        "the primary closed the snapshot",
    )
    .await
}

/// Run the shard's replication until shutdown: reconcile roles with the map every
/// [`RECONCILE`].
pub async fn run(replication: Rc<Replication>, state: Rc<ShardState>) {
    loop {
        replication.reconcile(&state).await;
        let go_on = future::or(
            async {
                glommio::timer::sleep(RECONCILE).await;
                true
            },
            async {
                state.shutdown.wait().await;
                false
            },
        )
        .await;
        if !go_on {
            replication.followers.borrow_mut().clear();
            return;
        }
    }
}

/// The primary's side of a stream: `node` follows `partition`, which this shard owns;
/// `buf` holds what came after the hello.
pub async fn serve_follow(
    mut transport: Transport,
    node: String,
    partition: Partition,
    mut buf: Vec<u8>,
    state: Rc<ShardState>,
) {
    let replication = state.replication.borrow().clone();
    let Some(replication) = replication else {
        transport.close().await;
        return;
    };
    let result = future::or(
        stream(
            &mut transport,
            &replication,
            &node,
            partition,
            &mut buf,
            &state,
        ),
        async {
            state.shutdown.wait().await;
            Ok(())
        },
    )
    .await;
    if let Err(e) = result {
        tracing::debug!(target: "ringpost::cluster", partition = partition.index(), replica = %node, error = %e, "replication stream ended");
    }
    transport.close().await;
}

async fn stream(
    transport: &mut Transport,
    replication: &Replication,
    node: &str,
    partition: Partition,
    buf: &mut Vec<u8>,
    state: &Rc<ShardState>,
) -> io::Result<()> {
    let store = &state.store;
    let request = netlink::within(
        replication.link.connect_timeout,
        "no request in time",
        read_frame(transport, buf),
    )
    .await?;
    let Body::Request(from) = request.body else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a stream starts with a request",
        ));
    };
    let refuse = |code| {
        let mut out = Vec::new();
        Frame {
            partition: partition.index(),
            epoch: 0,
            body: Body::Error(code),
        }
        .encode(&mut out);
        out
    };
    // Served only as the primary the map names at the replica's epoch, with the store
    // stamped at that epoch (a partition not open when the map changed is stamped now).
    let map = replication.cluster.map();
    let named = map.assignment(partition).is_some_and(|a| {
        a.primary == *replication.cluster.this_node() && a.epoch.0 == request.epoch
    });
    if !named || replication.cluster.is_fenced() {
        return transport.write_all(&refuse(ErrorCode::StaleEpoch)).await;
    }
    if let Err(e) = replication
        .become_primary(store, partition, request.epoch)
        .await
    {
        tracing::debug!(target: "ringpost::cluster", partition = partition.index(), error = %e, "cannot serve the log");
        return transport.write_all(&refuse(ErrorCode::StaleEpoch)).await;
    }
    let epoch = match store.role(partition).await {
        Ok(Role::Primary { epoch }) if epoch == request.epoch => epoch,
        _ => {
            return transport.write_all(&refuse(ErrorCode::StaleEpoch)).await;
        }
    };
    let key = (partition.index(), node.to_string());
    replication.streams.borrow_mut().insert(key.clone());
    let _served = Served(&replication.streams, key);
    let mut at = LogPosition::from(from);
    replication.record_ack(partition, node, at.chain.next_seq);
    let mut out = Vec::with_capacity(CHUNK_BYTES + 128);
    loop {
        match store.read_log(partition, at, CHUNK_BYTES).await {
            Ok(LogRead::Chunk(chunk)) => {
                out.clear();
                Frame {
                    partition: partition.index(),
                    epoch,
                    body: Body::Chunk(chunk),
                }
                .encode(&mut out);
                transport.write_all(&out).await?;
                let ack = netlink::within(
                    ACK_TIMEOUT,
                    "no acknowledgement in time",
                    read_frame(transport, buf),
                )
                .await?;
                let Body::Ack(acked) = ack.body else {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "expected an acknowledgement",
                    ));
                };
                at = LogPosition::from(acked);
                replication.record_ack(partition, node, at.chain.next_seq);
            }
            Ok(LogRead::UpToDate(end)) => {
                replication.record_ack(partition, node, end.chain.next_seq);
                // Wait for more log; look again now and then (a fence or a new epoch ends
                // the stream at the next read).
                let more = future::or(
                    async { store.wait_durable(partition, end).await.map(|_| ()) },
                    async {
                        glommio::timer::sleep(Duration::from_secs(1)).await;
                        Ok(())
                    },
                );
                more.await.map_err(io::Error::other)?;
                match store.role(partition).await {
                    Ok(Role::Primary { epoch: now }) if now == epoch => {}
                    _ => return transport.write_all(&refuse(ErrorCode::StaleEpoch)).await,
                }
            }
            Ok(LogRead::Resync) => {
                return transport.write_all(&refuse(ErrorCode::ResyncNeeded)).await;
            }
            Err(StoreError::NotPrimary { .. }) => {
                return transport.write_all(&refuse(ErrorCode::StaleEpoch)).await;
            }
            Err(e) => return Err(io::Error::other(e)),
        }
    }
}

/// Removes a stream from the streams served while it runs.
struct Served<'a>(&'a RefCell<HashSet<(u16, String)>>, (u16, String));

impl Drop for Served<'_> {
    fn drop(&mut self) {
        self.0.borrow_mut().remove(&self.1);
    }
}

/// Read one replication frame from `transport` (`buf` keeps what came after it).
async fn read_frame(transport: &mut Transport, buf: &mut Vec<u8>) -> io::Result<Frame> {
    netlink::read_decoded(
        transport,
        buf,
        Frame::decode,
        "the other host closed the stream",
    )
    .await
}
