//! The administration `ringpost cluster …` runs: blocking calls, each driving a tokio
//! current-thread runtime of the CLI process's own (never a server's shard).
//!
//! Until replication lands (issue 19), a move is an ownership switch: the partition's new
//! primary (and replicas) are written with the next epoch, and no data is copied. A partition
//! that already holds mail on its old primary keeps that mail there, invisible to the new one.

use std::time::Duration;

use etcd_client::Client;
use tokio::runtime::Runtime;

use super::{
    apply_moves, claim_bootstrap, compare_and_set, complete_bootstrap, connect, read,
    set_placement, Applied, ClusterError,
};
use crate::cluster::map::{Assignment, NodeName, Placement};
use crate::cluster::plan::{self, Plan};
use crate::cluster::schema::{Keys, Snapshot};
use crate::config::ClusterConfig;
use crate::placement::Partition;

/// How often a move is planned again after someone else changed the map meanwhile.
const ATTEMPTS: usize = 3;

/// A connection to the cluster's etcd for one command.
pub struct Admin {
    runtime: Runtime,
    client: Client,
    keys: Keys,
}

/// What an add-node or drain-node did (or, with `dry_run`, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebalanced {
    /// The plan from the map as last read.
    pub plan: Plan,
    /// Partitions whose primary changes.
    pub primaries: usize,
    /// What was written (zero for a dry run).
    pub applied: Applied,
}

impl Admin {
    /// Connect to `config.etcd` (each call bounded by a few lease TTLs).
    pub fn connect(config: &ClusterConfig) -> Result<Admin, ClusterError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ClusterError::Thread)?;
        let timeout = (config.lease_ttl * 2).max(Duration::from_secs(5));
        let client =
            runtime.block_on(connect(&config.etcd, config.etcd_tls.as_ref(), 0, timeout))?;
        Ok(Admin {
            runtime,
            client,
            keys: Keys::new(&config.name),
        })
    }

    /// Everything the cluster holds in etcd now.
    pub fn snapshot(&mut self) -> Result<Snapshot, ClusterError> {
        self.runtime.block_on(read(&mut self.client, &self.keys))
    }

    /// Bootstrap the map over `nodes` unless one exists (then finish it if a node began it).
    /// Returns whether this call created it.
    pub fn init(&mut self, nodes: &[NodeName], replicas: usize) -> Result<bool, ClusterError> {
        let (client, keys) = (&mut self.client, &self.keys);
        self.runtime.block_on(async {
            let created = claim_bootstrap(client, keys, nodes, replicas).await?;
            complete_bootstrap(client, keys).await?;
            Ok(created)
        })
    }

    /// Set one partition if its key's mod_revision is still `expected` (see
    /// [`super::compare_and_set`]).
    pub fn compare_and_set(
        &mut self,
        partition: Partition,
        expected: i64,
        next: &Assignment,
    ) -> Result<bool, ClusterError> {
        self.runtime.block_on(compare_and_set(
            &mut self.client,
            &self.keys,
            partition,
            expected,
            next,
        ))
    }

    /// Place `node` and move its share of partitions to it. Refused unless the node is live
    /// (it registered with a lease), or `force`.
    pub fn add_node(
        &mut self,
        node: &NodeName,
        replicas: usize,
        force: bool,
        dry_run: bool,
    ) -> Result<Rebalanced, ClusterError> {
        let snapshot = self.complete_snapshot()?;
        if !snapshot.members.contains_key(node) && !force {
            return Err(ClusterError::Refused(format!(
                "node {node} is not live (start ringpost there with [cluster] node = \"{node}\" \
                 first, or pass --force)"
            )));
        }
        self.rebalance(node, Placement::Active, replicas, dry_run)
    }

    /// Mark `node` draining and move every partition it holds to the other placed nodes.
    pub fn drain_node(
        &mut self,
        node: &NodeName,
        replicas: usize,
        dry_run: bool,
    ) -> Result<Rebalanced, ClusterError> {
        let snapshot = self.complete_snapshot()?;
        if !snapshot.placed.contains_key(node) {
            return Err(ClusterError::Refused(format!(
                "node {node} is not placed in the map"
            )));
        }
        let others = snapshot
            .placed
            .iter()
            .filter(|(n, p)| *n != node && **p == Placement::Active)
            .count();
        if others == 0 {
            return Err(ClusterError::Refused(format!(
                "node {node} is the last placed node: its partitions have nowhere to go"
            )));
        }
        self.rebalance(node, Placement::Draining, replicas, dry_run)
    }

    /// The snapshot, refused if the map was never bootstrapped.
    fn complete_snapshot(&mut self) -> Result<Snapshot, ClusterError> {
        let snapshot = self.snapshot()?;
        if snapshot.bootstrap.is_none() {
            return Err(ClusterError::Refused(
                "there is no cluster map yet: run `ringpost cluster init` or start a node".into(),
            ));
        }
        Ok(snapshot)
    }

    /// Set `node`'s placement, then plan over the active nodes and apply, planning again
    /// if someone changed the map between the read and the write.
    fn rebalance(
        &mut self,
        node: &NodeName,
        placement: Placement,
        replicas: usize,
        dry_run: bool,
    ) -> Result<Rebalanced, ClusterError> {
        let (client, keys) = (&mut self.client, &self.keys);
        self.runtime.block_on(async {
            if !dry_run {
                set_placement(client, keys, node, placement).await?;
                // A bootstrap another node began and did not finish.
                complete_bootstrap(client, keys).await?;
            }
            let mut total = Applied::default();
            for _ in 0..ATTEMPTS {
                let snapshot = read(client, keys).await?;
                let map = snapshot.map();
                let mut nodes: Vec<NodeName> = map.active_nodes();
                match placement {
                    Placement::Active => nodes.push(node.clone()),
                    Placement::Draining | Placement::Unplaced => nodes.retain(|n| n != node),
                }
                let plan = plan::plan(&map, &nodes, replicas)
                    .map_err(|e| ClusterError::Refused(e.to_string()))?;
                let plan = plan::copy_first(&map, plan::keep_copies(&map, &nodes, plan));
                let primaries = plan.moves.iter().filter(|m| m.changes_primary()).count();
                if dry_run || plan.moves.is_empty() {
                    return Ok(Rebalanced {
                        plan,
                        primaries,
                        applied: total,
                    });
                }
                let applied = apply_moves(client, &snapshot, &plan.moves).await?;
                total.moved += applied.moved;
                total.refused = applied.refused;
                if applied.refused == 0 {
                    return Ok(Rebalanced {
                        plan,
                        primaries,
                        applied: total,
                    });
                }
            }
            Err(ClusterError::Refused(format!(
                "the map kept changing while moving partitions ({} moved, {} not): run the \
                 command again",
                total.moved, total.refused
            )))
        })
    }
}
