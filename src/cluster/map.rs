//! The cluster map as every host sees it: the nodes (where they are reached, whether they
//! are live, placed or draining) and, for each of the [`PARTITIONS`] partitions, its
//! primary, its replicas and its epoch.
//!
//! Pure data: no IO, no clock, no etcd. The etcd thread builds a new map from what etcd holds
//! and publishes it whole; shards and sessions only read it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use crate::placement::{Partition, PARTITIONS};

/// A node's name (`[cluster] node`): valid by construction (see
/// [`crate::config::cluster::valid_node_name`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName(String);

impl NodeName {
    /// `name` if it is a valid node name.
    pub fn new(name: &str) -> Option<NodeName> {
        crate::config::cluster::valid_node_name(name).then(|| NodeName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The fencing token of a partition's ownership: it grows by one with every change of the
/// partition's primary or replicas. A writer holding an older epoch is stale and must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Epoch(pub u64);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "epoch {}", self.0)
    }
}

/// Whether a node takes partitions when the map is planned (etcd `nodes/<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Placed: the planner gives it partitions.
    Active,
    /// Being emptied: the planner moves its partitions away and gives it none.
    Draining,
    /// Known only from its membership (it runs, but was never added): holds nothing.
    Unplaced,
}

/// What a node is now, for routing and for `ringpost cluster status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Its lease is alive and it takes partitions (or could, once added).
    Live,
    /// Its lease is alive and its partitions are being moved away.
    Draining,
    /// No live lease: it is unreachable, stopped or cut off from etcd.
    Down,
}

impl NodeState {
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Live => "live",
            NodeState::Draining => "draining",
            NodeState::Down => "down",
        }
    }
}

/// One host of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: NodeName,
    /// Its internal listener, as it registered it; `None` while it is down.
    pub advertise: Option<SocketAddr>,
    /// Whether it holds a live lease (etcd `members/<name>`).
    pub live: bool,
    pub placement: Placement,
}

impl Node {
    pub fn state(&self) -> NodeState {
        match (self.live, self.placement) {
            (false, _) => NodeState::Down,
            (true, Placement::Draining) => NodeState::Draining,
            (true, Placement::Active | Placement::Unplaced) => NodeState::Live,
        }
    }
}

/// Who holds one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub primary: NodeName,
    /// Distinct from the primary and from each other.
    pub replicas: Vec<NodeName>,
    pub epoch: Epoch,
    /// A move under way: who is to hold the partition once the nodes that have no copy yet
    /// caught up. Those follow the primary's log meanwhile (as learners: not waited for by
    /// `sync`, never promoted); the primary makes the switch ([`Handoff`]).
    pub handoff: Option<Handoff>,
}

/// Where a partition goes once its new nodes caught up: a move that copies the mail first and
/// switches ownership in one transaction, made by the primary when the new primary has its
/// whole log (writes paused for that last stretch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub primary: NodeName,
    pub replicas: Vec<NodeName>,
}

impl Assignment {
    /// Whether `node` holds a copy (primary or replica).
    pub fn holds(&self, node: &NodeName) -> bool {
        self.primary == *node || self.replicas.contains(node)
    }

    /// The nodes that follow the log to take part once the handoff is made: named by the
    /// handoff, not holding a copy yet.
    pub fn learners(&self) -> impl Iterator<Item = &NodeName> {
        self.handoff
            .iter()
            .flat_map(|h| std::iter::once(&h.primary).chain(&h.replicas))
            .filter(|n| !self.holds(n))
    }

    /// Whether `node` follows the primary's log: a replica or a learner.
    pub fn follows(&self, node: &NodeName) -> bool {
        self.primary != *node
            && (self.replicas.contains(node) || self.learners().any(|l| l == node))
    }

    /// The assignment once the handoff is made (the next epoch), if one is under way.
    pub fn handed_off(&self) -> Option<Assignment> {
        let h = self.handoff.as_ref()?;
        Some(Assignment {
            primary: h.primary.clone(),
            replicas: h.replicas.clone(),
            epoch: Epoch(self.epoch.0 + 1),
            handoff: None,
        })
    }
}

/// The whole map at one etcd revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMap {
    /// The etcd revision this map reflects (0: empty, nothing read yet).
    pub revision: i64,
    nodes: BTreeMap<NodeName, Node>,
    /// Indexed by partition number; `None` until the map is bootstrapped.
    partitions: Vec<Option<Assignment>>,
}

impl Default for ClusterMap {
    fn default() -> Self {
        ClusterMap::empty()
    }
}

impl ClusterMap {
    /// No nodes and no partition assigned.
    pub fn empty() -> ClusterMap {
        ClusterMap {
            revision: 0,
            nodes: BTreeMap::new(),
            partitions: vec![None; usize::from(PARTITIONS)],
        }
    }

    /// Add or replace a node.
    pub fn set_node(&mut self, node: Node) {
        self.nodes.insert(node.name.clone(), node);
    }

    /// Set (or clear) a partition's assignment.
    pub fn set_assignment(&mut self, partition: Partition, assignment: Option<Assignment>) {
        self.partitions[usize::from(partition.index())] = assignment;
    }

    pub fn node(&self, name: &NodeName) -> Option<&Node> {
        self.nodes.get(name)
    }

    /// Every known node, by name.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    pub fn assignment(&self, partition: Partition) -> Option<&Assignment> {
        self.partitions[usize::from(partition.index())].as_ref()
    }

    /// Every partition with its assignment (if any), in partition order.
    pub fn assignments(&self) -> impl Iterator<Item = (Partition, Option<&Assignment>)> {
        self.partitions.iter().enumerate().filter_map(|(i, a)| {
            let index = u16::try_from(i).ok()?;
            Some((Partition::from_index(index)?, a.as_ref()))
        })
    }

    /// Whether every partition has an assignment (the map is bootstrapped).
    pub fn is_complete(&self) -> bool {
        self.partitions.iter().all(Option::is_some)
    }

    /// The node serving `partition`'s reads and writes. `None` if the partition is not
    /// assigned yet or its primary is unknown to the map.
    pub fn primary(&self, partition: Partition) -> Option<&Node> {
        self.nodes.get(&self.assignment(partition)?.primary)
    }

    /// `partition`'s replicas that the map knows.
    pub fn replicas(&self, partition: Partition) -> impl Iterator<Item = &Node> {
        self.assignment(partition)
            .into_iter()
            .flat_map(|a| a.replicas.iter())
            .filter_map(|name| self.nodes.get(name))
    }

    /// `partition`'s epoch (`None` if unassigned).
    pub fn epoch(&self, partition: Partition) -> Option<Epoch> {
        self.assignment(partition).map(|a| a.epoch)
    }

    /// The partitions whose primary is `node`, in order.
    pub fn owned_by<'a>(&'a self, node: &'a NodeName) -> impl Iterator<Item = Partition> + 'a {
        self.assignments()
            .filter(move |(_, a)| a.is_some_and(|a| a.primary == *node))
            .map(|(p, _)| p)
    }

    /// The partitions `node` is a replica of, in order.
    pub fn replicated_by<'a>(&'a self, node: &'a NodeName) -> impl Iterator<Item = Partition> + 'a {
        self.assignments()
            .filter(move |(_, a)| a.is_some_and(|a| a.replicas.contains(node)))
            .map(|(p, _)| p)
    }

    /// Nodes whose placement is [`Placement::Active`], by name: where the planner puts
    /// partitions.
    pub fn active_nodes(&self) -> Vec<NodeName> {
        self.nodes
            .values()
            .filter(|n| n.placement == Placement::Active)
            .map(|n| n.name.clone())
            .collect()
    }

    /// The smallest and largest epoch of the assigned partitions.
    pub fn epoch_range(&self) -> Option<(Epoch, Epoch)> {
        let mut epochs = self.partitions.iter().flatten().map(|a| a.epoch);
        let first = epochs.next()?;
        Some(epochs.fold((first, first), |(lo, hi), e| (lo.min(e), hi.max(e))))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn name(n: &str) -> NodeName {
        NodeName::new(n).unwrap()
    }

    #[test]
    fn lookups_follow_the_assignments() {
        let mut map = ClusterMap::empty();
        for (n, live, placement) in [
            ("mx1", true, Placement::Active),
            ("mx2", false, Placement::Active),
            ("mx3", true, Placement::Draining),
        ] {
            map.set_node(Node {
                name: name(n),
                advertise: live.then(|| "10.0.0.1:7000".parse().unwrap()),
                live,
                placement,
            });
        }
        let p = Partition::from_index(7).unwrap();
        assert_eq!(map.primary(p), None);
        assert!(!map.is_complete());
        map.set_assignment(
            p,
            Some(Assignment {
                primary: name("mx1"),
                replicas: vec![name("mx2"), name("mx3")],
                epoch: Epoch(4),
                handoff: None,
            }),
        );
        assert_eq!(map.primary(p).map(|n| n.name.as_str()), Some("mx1"));
        assert_eq!(
            map.replicas(p).map(|n| n.state()).collect::<Vec<_>>(),
            [NodeState::Down, NodeState::Draining]
        );
        assert_eq!(map.epoch(p), Some(Epoch(4)));
        assert_eq!(map.owned_by(&name("mx1")).collect::<Vec<_>>(), [p]);
        assert_eq!(map.replicated_by(&name("mx3")).collect::<Vec<_>>(), [p]);
        assert_eq!(map.owned_by(&name("mx2")).count(), 0);
        assert_eq!(map.active_nodes(), [name("mx1"), name("mx2")]);
        assert_eq!(map.epoch_range(), Some((Epoch(4), Epoch(4))));
    }
}
