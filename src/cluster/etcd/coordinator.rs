//! The cluster thread: this node's membership and its copy of the map.
//!
//! One OS thread (`ringpost-cluster`) with a tokio current-thread runtime: it grants this
//! node an etcd lease and keeps it alive, registers `members/<node>` on it, bootstraps the
//! map when etcd holds none (the first nodes to start form it), reads the prefix once and
//! then follows it with a watch, publishing a new [`ClusterMap`] after every change. After
//! a lost connection it reconnects and resumes the watch from the last revision it applied
//! (a full read if etcd compacted that revision away).
//!
//! Shards never wait for it: [`ClusterHandle::map`] is one atomic load of an `Arc`
//! (`arc-swap`). [`ClusterHandle::is_fenced`] is true until the lease is confirmed, and again
//! as soon as the lease may have run out — counted from when the last confirmed keep-alive
//! was *sent*, so this node gives up before etcd can hand its partitions to another — so
//! the store can refuse writes while cut off from etcd.
//!
//! **Failover.** Whenever its map changes (and once it holds its lease after a full read),
//! a live, unfenced node with a complete map looks for partitions whose primary is down
//! ([`plan::failover`]) and promotes each one's first live replica, the old primary
//! becoming its last replica ([`apply_failover`]: a compare-and-swap on each partition's
//! mod_revision, raising its epoch, that also requires the old primary's member key still
//! absent). Every live node watches, so a failover never depends on one particular node;
//! to keep them from all writing at once, only the live placed (`Active`) node whose name
//! sorts first acts at once, and any other acts on a partition only once the same failover
//! (the partition at the same mod_revision) has been pending for a lease TTL. When several
//! try anyway, one transaction wins per partition and the others are refused; the watch
//! brings the winner's result. A partition none of whose nodes is live stays as it is
//! (logged: nothing can serve it). Dead replicas stay in the map: the new primary must not
//! wait for a replica whose member key is gone, which is the runtime's to honour.
//!
//! **Refill.** With the same rules (and in the same pass) it gives replicas back to
//! partitions with a live primary and fewer than `min(replicas, live placed nodes − 1)`
//! ([`plan::refill`]), as after [`ClusterHandle::drop_replica`]: the primary of a partition
//! removes a replica it can no longer wait for (synchronous replication; a transaction
//! that requires the partition still at its epoch with this node as primary), and a live
//! placed node — perhaps the same one, which then catches up — is added back.
//!
//! **Startup grace.** A missing member key only means a node is dead to a node that has
//! watched long enough to have seen it: when a whole cluster starts, the first node up sees
//! the others without member keys because they have not started yet. So a node takes no
//! failover (nor refill) action — neither at once nor after the lease-TTL wait — until it has held its
//! lease and watched the map for two lease TTLs since it (re)connected; the wait of the
//! others counts from the end of that grace. A node that never registers is failed over
//! once the grace is over. A reconnect that kept the lease of a connection whose grace was
//! over starts no new grace: the others' leases outlived the disruption too.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp, WatchOptions};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{
    apply_events, apply_failover, claim_bootstrap, complete_bootstrap, connect, read, ClusterError,
};
use crate::cluster::map::{ClusterMap, NodeName, NodeState, Placement};
use crate::cluster::plan;
use crate::cluster::schema::{Keys, Snapshot};
use crate::config::ClusterConfig;
use crate::placement::Partition;

/// What the answer to [`ClusterHandle::drop_replica`] and [`ClusterHandle::hand_off`] is
/// sent on.
type ChangeReply = futures_channel::oneshot::Sender<Result<bool, ClusterError>>;

/// What the thread is asked to do.
enum Command {
    /// Revoke the lease (the others see this node leave at once) and end.
    Stop,
    /// Change a partition this node is primary of at `epoch`.
    Change {
        partition: Partition,
        epoch: u64,
        change: Change,
        reply: ChangeReply,
    },
}

/// A primary's change to its partition's assignment.
#[derive(Debug, Clone)]
enum Change {
    /// Remove a replica ([`super::drop_replica`]).
    DropReplica(NodeName),
    /// Make the handoff under way ([`super::hand_off`]).
    HandOff,
}

struct Shared {
    node: NodeName,
    map: ArcSwap<ClusterMap>,
    fenced: AtomicBool,
    /// When this node's lease may run out, in nanoseconds after `origin` (0: no lease).
    /// [`ClusterHandle::is_fenced`] compares it with the clock itself: the cluster thread
    /// may be stuck in a call to an etcd it cannot reach (a keep-alive waiting for room on
    /// a stalled connection) just when the lease runs out.
    lease_deadline: AtomicU64,
    origin: std::time::Instant,
    /// Maps published since the start.
    published: AtomicU64,
    /// Partitions whose primary this node replaced by a live replica (failover).
    failovers: AtomicU64,
    commands: mpsc::UnboundedSender<Command>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// This node's view of the cluster, shared by every thread (cheap to clone).
#[derive(Clone)]
pub struct ClusterHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ClusterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterHandle")
            .field("node", &self.shared.node)
            .field("fenced", &self.is_fenced())
            .finish()
    }
}

impl ClusterHandle {
    /// Start the cluster thread for `config`. Returns at once: the map is empty and the node
    /// fenced until etcd has answered.
    pub fn start(config: &ClusterConfig) -> Result<ClusterHandle, ClusterError> {
        let node = NodeName::new(&config.node)
            .ok_or_else(|| ClusterError::Refused(format!("bad node name {:?}", config.node)))?;
        let (commands, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            node,
            map: ArcSwap::from_pointee(ClusterMap::empty()),
            fenced: AtomicBool::new(true),
            lease_deadline: AtomicU64::new(0),
            origin: std::time::Instant::now(),
            published: AtomicU64::new(0),
            failovers: AtomicU64::new(0),
            commands,
            thread: Mutex::new(None),
        });
        let config = config.clone();
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ringpost-cluster".into())
            .spawn(move || run(config, for_thread, receiver))
            .map_err(ClusterError::Thread)?;
        *shared.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
        Ok(ClusterHandle { shared })
    }

    /// The latest map (never blocks; an empty map until the first read).
    pub fn map(&self) -> Arc<ClusterMap> {
        self.shared.map.load_full()
    }

    /// This node's name (`[cluster] node`).
    pub fn this_node(&self) -> &NodeName {
        &self.shared.node
    }

    /// Whether this node may have lost its lease (or never had one yet): it must not act as
    /// any partition's primary while this is true.
    pub fn is_fenced(&self) -> bool {
        let shared = &self.shared;
        shared.fenced.load(Ordering::SeqCst)
            || shared.origin.elapsed().as_nanos()
                >= u128::from(shared.lease_deadline.load(Ordering::SeqCst))
    }

    /// Maps published so far (grows with every change seen).
    pub fn published(&self) -> u64 {
        self.shared.published.load(Ordering::SeqCst)
    }

    /// Partitions this node failed over so far (promoted a replica of a down primary).
    pub fn failovers(&self) -> u64 {
        self.shared.failovers.load(Ordering::SeqCst)
    }

    /// The `ringpost_cluster_*` metric lines of this node's view.
    pub fn metric_lines(&self) -> Vec<String> {
        let map = self.map();
        let mut lines = Vec::new();
        for state in [NodeState::Live, NodeState::Draining, NodeState::Down] {
            let n = map.nodes().filter(|n| n.state() == state).count();
            lines.push(format!(
                "ringpost_cluster_nodes{{state=\"{}\"}} {n}",
                state.name()
            ));
        }
        let node = self.this_node();
        lines.push(format!(
            "ringpost_cluster_partitions{{role=\"primary\"}} {}",
            map.owned_by(node).count()
        ));
        lines.push(format!(
            "ringpost_cluster_partitions{{role=\"replica\"}} {}",
            map.replicated_by(node).count()
        ));
        lines.push(format!("ringpost_cluster_revision {}", map.revision));
        lines.push(format!(
            "ringpost_cluster_fenced {}",
            u8::from(self.is_fenced())
        ));
        lines.push(format!("ringpost_cluster_maps_total {}", self.published()));
        lines.push(format!(
            "ringpost_cluster_failovers_total {}",
            self.failovers()
        ));
        lines
    }

    /// Ask the cluster thread to remove `replica` from `partition`'s replicas, raising its
    /// epoch by one, in one etcd transaction that requires the partition to still have this
    /// node as primary and `epoch` as its epoch (and `replica` among its replicas). With
    /// synchronous replication a primary stops waiting for a replica (dead or far behind)
    /// only after this answered `Ok(true)`: a replica the map no longer names can never be
    /// promoted with writes missing. `Ok(false)`: the map moved on (read it again); `Err`:
    /// etcd failed or this node is not connected. Never blocks: the answer comes on the
    /// receiver (awaited on a shard, completed on the cluster thread). A live placed node
    /// may be given back as replica later ([`plan::refill`]); it catches up.
    pub fn drop_replica(
        &self,
        partition: Partition,
        replica: NodeName,
        epoch: u64,
    ) -> futures_channel::oneshot::Receiver<Result<bool, ClusterError>> {
        self.change(partition, epoch, Change::DropReplica(replica))
    }

    /// Make the handoff under way for `partition` (the map names this node as primary at
    /// `epoch`, and where the partition goes): the next epoch names the handoff's primary and
    /// replicas. The primary calls it once the new nodes have its whole log and it takes no
    /// more writes for the partition. Answers like [`ClusterHandle::drop_replica`].
    pub fn hand_off(
        &self,
        partition: Partition,
        epoch: u64,
    ) -> futures_channel::oneshot::Receiver<Result<bool, ClusterError>> {
        self.change(partition, epoch, Change::HandOff)
    }

    fn change(
        &self,
        partition: Partition,
        epoch: u64,
        change: Change,
    ) -> futures_channel::oneshot::Receiver<Result<bool, ClusterError>> {
        let (reply, answer) = futures_channel::oneshot::channel();
        let command = Command::Change {
            partition,
            epoch,
            change,
            reply,
        };
        if let Err(e) = self.shared.commands.send(command) {
            if let Command::Change { reply, .. } = e.0 {
                let _ = reply.send(Err(ClusterError::Refused(
                    "the cluster thread has ended".into(),
                )));
            }
        }
        answer
    }

    /// Leave the cluster (the lease is revoked: the others see this node down at once) and
    /// wait for the thread. Later calls do nothing.
    pub fn stop(&self) {
        let _ = self.shared.commands.send(Command::Stop);
        let thread = self
            .shared
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!(target: "ringpost::cluster", "the cluster thread panicked");
            }
        }
    }
}

/// What survives a lost connection: the lease (if still alive it is kept) and the state the
/// watch resumes from.
struct Session {
    config: ClusterConfig,
    keys: Keys,
    shared: Arc<Shared>,
    lease: Option<i64>,
    /// Until when the lease is certainly alive.
    lease_until: Option<Instant>,
    snapshot: Option<Snapshot>,
    /// Connections made so far: the next one starts at the next endpoint.
    attempts: usize,
    /// When to look for partitions to fail over next (`None`: when the map changes).
    failover_at: Option<Instant>,
    /// The failovers seen pending: each partition's mod_revision then, and since when.
    pending: HashMap<Partition, (i64, Instant)>,
    /// How many partitions had no live node when last looked at (logged when it changes).
    unservable: usize,
    /// Until when this connection is in its startup grace (no failover before): set when the
    /// lease is held and the watch started, `None` while not connected.
    grace_until: Option<Instant>,
}

/// How a connection to etcd ended.
enum Ended {
    Stopped,
    Lost(ClusterError),
}

fn run(config: ClusterConfig, shared: Arc<Shared>, mut commands: mpsc::UnboundedReceiver<Command>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(target: "ringpost::cluster", error = %e, "cannot start the cluster runtime; this node stays fenced");
            return;
        }
    };
    let mut session = Session {
        keys: Keys::new(&config.name),
        config,
        shared,
        lease: None,
        lease_until: None,
        snapshot: None,
        attempts: 0,
        failover_at: None,
        pending: HashMap::new(),
        unservable: 0,
        grace_until: None,
    };
    runtime.block_on(async move {
        let retry = (session.config.lease_ttl / 4).max(Duration::from_millis(100));
        loop {
            match session.connected(&mut commands).await {
                Ended::Stopped => break,
                Ended::Lost(e) => {
                    tracing::warn!(target: "ringpost::cluster", error = %e, "lost etcd; reconnecting");
                }
            }
            // Wait before the next try, still counting the lease down and obeying a stop.
            let until = Instant::now() + retry;
            loop {
                session.check_lease();
                let tick = tokio::time::sleep_until(until.min(Instant::now() + retry / 4));
                tokio::select! {
                    command = commands.recv() => match command {
                        Some(Command::Stop) | None => {
                            session.shared.fenced.store(true, Ordering::SeqCst);
                            return;
                        }
                        Some(Command::Change { reply, .. }) => {
                            let _ = reply.send(Err(ClusterError::Refused(
                                "not connected to etcd".into(),
                            )));
                        }
                    },
                    _ = tick => {}
                }
                if Instant::now() >= until {
                    break;
                }
            }
        }
    });
}

impl Session {
    /// Record when the lease may run out (`None`: no lease), for the shards too.
    fn set_lease_until(&mut self, until: Option<Instant>) {
        self.lease_until = until;
        let nanos = until.map_or(0, |until| {
            let after = until
                .into_std()
                .saturating_duration_since(self.shared.origin)
                .as_nanos();
            u64::try_from(after).unwrap_or(u64::MAX)
        });
        self.shared.lease_deadline.store(nanos, Ordering::SeqCst);
    }

    /// Fence this node if its lease may have run out.
    fn check_lease(&mut self) {
        let expired = self.lease_until.is_none_or(|until| Instant::now() >= until);
        if expired && !self.shared.fenced.swap(true, Ordering::SeqCst) {
            tracing::error!(target: "ringpost::cluster", node = %self.shared.node, "lease lost: this node is fenced");
        }
    }

    /// One connection to etcd, from connect to loss or stop.
    async fn connected(&mut self, commands: &mut mpsc::UnboundedReceiver<Command>) -> Ended {
        let ttl = self.config.lease_ttl;
        let start = self.attempts;
        self.attempts += 1;
        // A new connection starts a new grace (what was seen before may be stale), unless it
        // kept the lease of a connection whose grace was over (below).
        let had_grace = self.grace_until.take().is_some_and(|g| g <= Instant::now());
        let held = self.lease;
        let mut client =
            match connect(&self.config.etcd, self.config.etcd_tls.as_ref(), start, ttl).await {
                Ok(c) => c,
                Err(e) => return Ended::Lost(e),
            };
        let lease = match self.register(&mut client).await {
            Ok(lease) => lease,
            Err(e) => return Ended::Lost(e),
        };
        // The lease outlived the lost connection (a leader change of etcd, say): the other
        // hosts' leases did too, so a member key missing now is a host that is down, not
        // one still coming back. No new grace then.
        let kept = had_grace && held == Some(lease);
        let (mut keeper, mut keepalive) = match client.lease_keep_alive(lease).await {
            Ok(pair) => pair,
            Err(e) => return Ended::Lost(e.into()),
        };
        if let Err(e) = self.bootstrap_and_read(&mut client).await {
            return Ended::Lost(e);
        }
        // The map is read (or the watch resumes where it was): look for failovers once this
        // node holds its lease.
        self.failover_at = Some(Instant::now());
        let revision = self.snapshot.as_ref().map_or(0, |s| s.revision);
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(revision + 1)
            .with_progress_notify();
        let mut watch = match client.watch(self.keys.prefix(), Some(options)).await {
            Ok(w) => w,
            Err(e) => return Ended::Lost(e.into()),
        };
        // The lease is held and the map watched from now: a node whose member key is
        // missing is only believed dead after two lease TTLs of this (see the module docs).
        self.grace_until = Some(if kept {
            Instant::now()
        } else {
            Instant::now() + 2 * ttl
        });
        let every = (ttl / 3).max(Duration::from_millis(100));
        let mut keep = tokio::time::interval(every);
        keep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // When each unanswered keep-alive left: answers come back in order, and each counts
        // from its own request, never from a later one.
        let mut sent: std::collections::VecDeque<Instant> = std::collections::VecDeque::new();
        loop {
            self.check_lease();
            tokio::select! {
                _ = keep.tick() => {
                    sent.push_back(Instant::now());
                    if let Err(e) = keeper.keep_alive().await {
                        return Ended::Lost(e.into());
                    }
                }
                // A keep-alive unanswered for half a TTL: the member is stuck (while etcd
                // changes leader, a follower can hold the stream without answering or
                // failing it). Reconnect at once, to a member with a leader, and keep the
                // lease (etcd's new leader extends it) instead of losing it with the stream.
                _ = sleep_until(sent.front().map(|&at| at + ttl / 2)) => {
                    tracing::warn!(target: "ringpost::cluster", node = %self.shared.node, "etcd keep-alive unanswered for half the lease TTL; reconnecting");
                    return Ended::Lost(ClusterError::Timeout(ttl / 2));
                }
                answer = keepalive.message() => match answer {
                    Ok(Some(answer)) if answer.ttl() > 0 => {
                        let Some(at) = sent.pop_front() else { continue };
                        self.set_lease_until(Some(at + Duration::from_secs(answer.ttl() as u64)));
                        if self.shared.fenced.swap(false, Ordering::SeqCst) {
                            tracing::info!(target: "ringpost::cluster", node = %self.shared.node, lease = lease, "lease held: this node is live");
                            // Fenced, it could not fail partitions over: look now.
                            self.failover_at = Some(Instant::now());
                        }
                    }
                    Ok(Some(_)) => {
                        // etcd no longer knows the lease: it ran out while we were away.
                        self.lease = None;
                        self.set_lease_until(None);
                        self.check_lease();
                        return Ended::Lost(ClusterError::Refused("the lease expired".into()));
                    }
                    Ok(None) => return Ended::Lost(ClusterError::Refused("keep-alive stream ended".into())),
                    Err(e) => return Ended::Lost(e.into()),
                },
                message = watch.message() => match message {
                    Ok(Some(response)) => {
                        if response.compact_revision() > 0 || response.canceled() {
                            // The revision to resume from is gone: read everything again.
                            self.snapshot = None;
                            return Ended::Lost(ClusterError::Refused(format!(
                                "watch canceled (compacted at {})",
                                response.compact_revision()
                            )));
                        }
                        if let Some(snapshot) = self.snapshot.as_mut() {
                            if apply_events(snapshot, &response) {
                                self.publish();
                                self.failover_at = Some(Instant::now());
                            }
                        }
                    }
                    Ok(None) => return Ended::Lost(ClusterError::Refused("watch stream ended".into())),
                    Err(e) => return Ended::Lost(e.into()),
                },
                _ = sleep_until(self.failover_at) => {
                    self.failover_at = None;
                    self.fail_over(&mut client).await;
                }
                command = commands.recv() => match command {
                    Some(Command::Stop) | None => {
                        self.shared.fenced.store(true, Ordering::SeqCst);
                        let limit = ttl.min(Duration::from_secs(2));
                        let _ = tokio::time::timeout(limit, client.lease_revoke(lease)).await;
                        tracing::info!(target: "ringpost::cluster", node = %self.shared.node, "left the cluster");
                        return Ended::Stopped;
                    }
                    Some(Command::Change { partition, epoch, change, reply }) => {
                        let result = self.change(&mut client, partition, epoch, change).await;
                        let _ = reply.send(result);
                    }
                },
            }
        }
    }

    /// This node's lease (the old one if etcd still knows it, else a new one) with its member
    /// key on it. A member key of the same name on another lease is another process (or this
    /// node's previous life, whose lease has not run out): refused until it is gone.
    async fn register(&mut self, client: &mut Client) -> Result<i64, ClusterError> {
        let ttl = self.config.lease_ttl;
        let alive = match self.lease {
            Some(id) => client
                .lease_time_to_live(id, None)
                .await
                .ok()
                .filter(|r| r.ttl() > 0)
                .map(|_| id),
            None => None,
        };
        let lease = match alive {
            Some(id) => id,
            None => {
                let sent = Instant::now();
                let granted = client.lease_grant(ttl.as_secs() as i64, None).await?;
                self.set_lease_until(Some(
                    sent + Duration::from_secs(granted.ttl().max(0) as u64),
                ));
                granted.id()
            }
        };
        self.lease = Some(lease);
        let key = self.keys.member(&self.shared.node);
        let value = self.config.advertise.to_string();
        let put = TxnOp::put(
            key.clone(),
            value.clone(),
            Some(PutOptions::new().with_lease(lease)),
        );
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([put.clone()]);
        if !client.txn(txn).await?.succeeded() {
            let txn = Txn::new()
                .when([Compare::lease(key.clone(), CompareOp::Equal, lease)])
                .and_then([put]);
            if !client.txn(txn).await?.succeeded() {
                return Err(ClusterError::Refused(format!(
                    "node {} is already a member on another lease (another process, or this \
                     node before a restart: waiting for that lease to run out)",
                    self.shared.node
                )));
            }
        }
        tracing::info!(target: "ringpost::cluster", node = %self.shared.node, advertise = %value, lease, "registered in etcd");
        Ok(lease)
    }

    /// Make sure the map exists (bootstrapping it from the live members if etcd has none),
    /// then read it — unless a watch can resume from the last revision applied.
    async fn bootstrap_and_read(&mut self, client: &mut Client) -> Result<(), ClusterError> {
        if self.snapshot.as_ref().is_some_and(|s| s.revision > 0) {
            return Ok(());
        }
        let mut snapshot = read(client, &self.keys).await?;
        if snapshot.bootstrap.is_none() {
            let members: Vec<NodeName> = snapshot.members.keys().cloned().collect();
            if claim_bootstrap(client, &self.keys, &members, self.config.replicas).await? {
                tracing::info!(target: "ringpost::cluster", nodes = ?members.iter().map(ToString::to_string).collect::<Vec<_>>(), "bootstrapping the cluster map");
            }
            complete_bootstrap(client, &self.keys).await?;
            snapshot = read(client, &self.keys).await?;
        } else if snapshot.partitions.iter().any(Option::is_none) {
            // A bootstrap another node began and did not finish.
            complete_bootstrap(client, &self.keys).await?;
            snapshot = read(client, &self.keys).await?;
        }
        self.snapshot = Some(snapshot);
        self.publish();
        Ok(())
    }

    /// [`ClusterHandle::drop_replica`] or [`ClusterHandle::hand_off`] on this connection,
    /// bounded like a failover (the keep-alives wait meanwhile).
    async fn change(
        &mut self,
        client: &mut Client,
        partition: Partition,
        epoch: u64,
        change: Change,
    ) -> Result<bool, ClusterError> {
        let limit = (self.config.lease_ttl / 3).max(Duration::from_millis(100));
        let node = &self.shared.node;
        let result = match &change {
            Change::DropReplica(replica) => {
                let work = super::drop_replica(client, &self.keys, node, partition, replica, epoch);
                tokio::time::timeout(limit, work).await
            }
            Change::HandOff => {
                let work = super::hand_off(client, &self.keys, node, partition, epoch);
                tokio::time::timeout(limit, work).await
            }
        };
        let result = result.unwrap_or(Err(ClusterError::Timeout(limit)));
        let what = match &change {
            Change::DropReplica(replica) => format!("drop replica {replica}"),
            Change::HandOff => "hand off".to_string(),
        };
        match &result {
            Ok(true) => {
                tracing::info!(target: "ringpost::cluster", partition = partition.index(), epoch, change = %what, "partition changed in the map")
            }
            Ok(false) => {
                tracing::info!(target: "ringpost::cluster", partition = partition.index(), epoch, change = %what, "partition not changed: the map moved on")
            }
            Err(e) => {
                tracing::warn!(target: "ringpost::cluster", partition = partition.index(), epoch, change = %what, error = %e, "changing a partition in the map failed")
            }
        }
        result
    }

    /// Promote a live replica of every partition whose primary is down, if this node is to
    /// act now (see the module docs); otherwise note when it will be. Errors and refusals
    /// are logged and looked at again later, never end the connection.
    async fn fail_over(&mut self, client: &mut Client) {
        let Some(snapshot) = &self.snapshot else {
            return;
        };
        let map = snapshot.map();
        let here = &self.shared.node;
        let live_here = map.node(here).is_some_and(|n| n.live);
        if self.shared.fenced.load(Ordering::SeqCst) || !live_here || !map.is_complete() {
            // Looked at again when the lease is held or the map changes.
            self.pending.clear();
            return;
        }
        let Some(grace_until) = self.grace_until else {
            self.pending.clear();
            return;
        };
        if Instant::now() < grace_until {
            // Startup grace: a node without a member key may just not have started yet
            // (a cold start of the whole cluster). Nothing is pending before it ends, so the
            // others' lease-TTL wait counts from its end too.
            self.pending.clear();
            self.failover_at = Some(self.failover_at.map_or(grace_until, |t| t.min(grace_until)));
            return;
        }
        let unservable = plan::unservable(&map).len();
        if unservable != self.unservable {
            if unservable > 0 {
                tracing::warn!(target: "ringpost::cluster", partitions = unservable, "partitions with no live node: nothing can serve them until one of their nodes is back");
            } else {
                tracing::info!(target: "ringpost::cluster", "every partition has a live node again");
            }
            self.unservable = unservable;
        }
        let mut moves = plan::failover(&map);
        // Partitions with a live primary short of replicas get some back; failover's have
        // a dead primary, so the two never name the same partition.
        moves.extend(plan::refill(&map, self.config.replicas));
        let now = Instant::now();
        let revision = |p: Partition| {
            snapshot.partitions[usize::from(p.index())]
                .as_ref()
                .map_or(0, |v| v.mod_revision)
        };
        // The same failover as before (the partition unchanged since) keeps its start.
        self.pending = moves
            .iter()
            .map(|m| {
                let at = revision(m.partition);
                let since = match self.pending.get(&m.partition) {
                    Some(&(seen, since)) if seen == at => since,
                    _ => now,
                };
                (m.partition, (at, since))
            })
            .collect();
        if moves.is_empty() {
            return;
        }
        let wait = self.config.lease_ttl;
        let first = map
            .nodes()
            .filter(|n| n.live && n.placement == Placement::Active)
            .map(|n| &n.name)
            .min();
        let due: Vec<plan::Move> = if first == Some(here) {
            moves
        } else {
            let pending = &self.pending;
            let later = pending
                .values()
                .map(|&(_, since)| since + wait)
                .filter(|&at| at > now)
                .min();
            if let Some(at) = later {
                self.failover_at = Some(self.failover_at.map_or(at, |t| t.min(at)));
            }
            moves
                .into_iter()
                .filter(|m| {
                    pending
                        .get(&m.partition)
                        .is_some_and(|&(_, since)| since + wait <= now)
                })
                .collect()
        };
        if due.is_empty() {
            return;
        }
        let (promotions, refills): (Vec<plan::Move>, Vec<plan::Move>) =
            due.into_iter().partition(plan::Move::changes_primary);
        let from: BTreeSet<String> = promotions
            .iter()
            .filter_map(|m| m.from.as_ref().map(|a| a.primary.to_string()))
            .collect();
        // The keep-alives wait meanwhile: no transaction starts after a third of the lease
        // (one keep-alive interval). What is left is looked at again.
        let until = now + (wait / 3).max(Duration::from_millis(100));
        let mut again = false;
        if !promotions.is_empty() {
            match apply_failover(client, snapshot, &promotions, until).await {
                Ok(applied) => {
                    self.shared
                        .failovers
                        .fetch_add(applied.moved as u64, Ordering::SeqCst);
                    tracing::info!(
                        target: "ringpost::cluster",
                        promoted = applied.moved,
                        refused = applied.refused,
                        left = applied.left,
                        from = ?from,
                        "failover: live replicas promoted to primary of partitions whose primary is down"
                    );
                    // Refused: changed by another node (the watch brings it) or the old
                    // primary is back. Left: the watch brings what was done. Look again in
                    // case nothing changes.
                    again |= applied.refused > 0 || applied.left > 0;
                }
                Err(e) => {
                    tracing::warn!(target: "ringpost::cluster", error = %e, from = ?from, "failover failed; trying again");
                    again = true;
                }
            }
        }
        if !refills.is_empty() {
            match apply_failover(client, snapshot, &refills, until).await {
                Ok(applied) => {
                    tracing::info!(
                        target: "ringpost::cluster",
                        refilled = applied.moved,
                        refused = applied.refused,
                        left = applied.left,
                        "refill: live placed nodes added as replicas of partitions short of them"
                    );
                    again |= applied.refused > 0 || applied.left > 0;
                }
                Err(e) => {
                    tracing::warn!(target: "ringpost::cluster", error = %e, "refill failed; trying again");
                    again = true;
                }
            }
        }
        if again {
            self.failover_at = Some(now + wait);
        }
    }

    /// Publish the snapshot's map, logging what changed from the last one.
    fn publish(&self) {
        let Some(snapshot) = &self.snapshot else {
            return;
        };
        let next = snapshot.map();
        let previous = self.shared.map.load();
        for node in next.nodes() {
            let before = previous.node(&node.name).map(|n| n.state());
            if before != Some(node.state()) {
                tracing::info!(target: "ringpost::cluster", node = %node.name, state = node.state().name(), "node state");
            }
        }
        let moved = next
            .assignments()
            .filter(|(p, a)| previous.assignment(*p) != *a)
            .count();
        if moved > 0 {
            let here = self.shared.node.clone();
            tracing::info!(
                target: "ringpost::cluster",
                changed = moved,
                revision = next.revision,
                primary_here = next.owned_by(&here).count(),
                replica_here = next.replicated_by(&here).count(),
                "partition map changed"
            );
        }
        self.shared.map.store(Arc::new(next));
        self.shared.published.fetch_add(1, Ordering::SeqCst);
    }
}

/// Sleep until `at`, or forever if `None`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
