//! How the cluster map is written in etcd: the keys, their values, and the state that a
//! read of the prefix plus the watch events after it add up to.
//!
//! ```text
//! /ringpost/<cluster>/members/<node>      "10.0.0.1:7000"        on the node's lease: it is live
//! /ringpost/<cluster>/nodes/<node>        "active" | "draining"  placed in the map (no lease)
//! /ringpost/<cluster>/partitions/<nnnn>   {"primary":"mx1","replicas":["mx2"],"epoch":3}
//!                                         (+ "handoff":{"primary":"mx4","replicas":["mx1"]}
//!                                          while a move copies the partition)
//! /ringpost/<cluster>/bootstrap           {"nodes":["mx1","mx2"],"replicas":1}
//! ```
//!
//! `<nnnn>` is the partition number in four digits (`0000` to `1023`). A partition's value
//! changes only in a transaction that compares its `mod_revision` with the one the writer
//! read, and every change raises the epoch by one: of two writers that read the same map,
//! one wins and the other is refused. `bootstrap` is created once, in a transaction that
//! requires it absent; it names the first nodes, and the partitions are then created from
//! the deterministic plan over them, each only if still absent (etcd limits a transaction to
//! 128 operations by default, `--max-txn-ops`, so 1024 keys take several), so any node can
//! finish a bootstrap that another started and the result is the same map.
//!
//! Pure: text in, values out, no etcd client.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::map::{Assignment, ClusterMap, Epoch, Handoff, Node, NodeName, Placement};
use crate::placement::{Partition, PARTITIONS};

/// The keys of one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

/// What a key under the prefix is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Member(NodeName),
    Node(NodeName),
    Partition(Partition),
    Bootstrap,
}

impl Keys {
    /// The keys of cluster `name` (a valid node name, `[cluster] name`).
    pub fn new(name: &str) -> Keys {
        Keys {
            prefix: format!("/ringpost/{name}/"),
        }
    }

    /// Every key of the cluster starts with this.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn members(&self) -> String {
        format!("{}members/", self.prefix)
    }

    pub fn member(&self, node: &NodeName) -> String {
        format!("{}members/{node}", self.prefix)
    }

    pub fn node(&self, node: &NodeName) -> String {
        format!("{}nodes/{node}", self.prefix)
    }

    pub fn partitions(&self) -> String {
        format!("{}partitions/", self.prefix)
    }

    pub fn partition(&self, partition: Partition) -> String {
        format!("{}partitions/{:04}", self.prefix, partition.index())
    }

    pub fn bootstrap(&self) -> String {
        format!("{}bootstrap", self.prefix)
    }

    /// What `key` is, if it is one of this cluster's.
    pub fn parse(&self, key: &[u8]) -> Option<Key> {
        let key = std::str::from_utf8(key).ok()?.strip_prefix(&self.prefix)?;
        if key == "bootstrap" {
            return Some(Key::Bootstrap);
        }
        let (kind, name) = key.split_once('/')?;
        match kind {
            "members" => NodeName::new(name).map(Key::Member),
            "nodes" => NodeName::new(name).map(Key::Node),
            "partitions" if name.len() == 4 => name
                .parse::<u16>()
                .ok()
                .and_then(Partition::from_index)
                .map(Key::Partition),
            _ => None,
        }
    }
}

/// A partition's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PartitionValue {
    primary: String,
    replicas: Vec<String>,
    epoch: u64,
    /// Absent unless a move is under way (values written before moves had it stay valid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    handoff: Option<HandoffValue>,
}

/// Where a partition goes once its new nodes caught up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct HandoffValue {
    primary: String,
    replicas: Vec<String>,
}

/// The value of a partition key.
pub fn encode_assignment(a: &Assignment) -> String {
    let names = |v: &[NodeName]| v.iter().map(ToString::to_string).collect();
    let value = PartitionValue {
        primary: a.primary.to_string(),
        replicas: names(&a.replicas),
        epoch: a.epoch.0,
        handoff: a.handoff.as_ref().map(|h| HandoffValue {
            primary: h.primary.to_string(),
            replicas: names(&h.replicas),
        }),
    };
    // A struct of strings and a number always serializes.
    serde_json::to_string(&value).unwrap_or_default()
}

/// A partition key's value, if it is well formed.
pub fn decode_assignment(value: &[u8]) -> Option<Assignment> {
    let v: PartitionValue = serde_json::from_slice(value).ok()?;
    let names = |v: &[String]| {
        v.iter()
            .map(|r| NodeName::new(r))
            .collect::<Option<Vec<_>>>()
    };
    let handoff = match v.handoff {
        Some(h) => Some(Handoff {
            primary: NodeName::new(&h.primary)?,
            replicas: names(&h.replicas)?,
        }),
        None => None,
    };
    Some(Assignment {
        primary: NodeName::new(&v.primary)?,
        replicas: names(&v.replicas)?,
        epoch: Epoch(v.epoch),
        handoff,
    })
}

/// The value of a `nodes/` key.
pub fn encode_placement(p: Placement) -> &'static str {
    match p {
        Placement::Active => "active",
        Placement::Draining => "draining",
        // Never written: an unplaced node has no `nodes/` key.
        Placement::Unplaced => "unplaced",
    }
}

pub fn decode_placement(value: &[u8]) -> Option<Placement> {
    match value {
        b"active" => Some(Placement::Active),
        b"draining" => Some(Placement::Draining),
        _ => None,
    }
}

/// The bootstrap record: the first nodes and the replica count the map was planned with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bootstrap {
    pub nodes: Vec<String>,
    pub replicas: usize,
}

impl Bootstrap {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(value: &[u8]) -> Option<Bootstrap> {
        let b: Bootstrap = serde_json::from_slice(value).ok()?;
        b.node_names().map(|_| b)
    }

    /// The nodes, if every name is valid.
    pub fn node_names(&self) -> Option<Vec<NodeName>> {
        self.nodes.iter().map(|n| NodeName::new(n)).collect()
    }
}

/// A partition's assignment with the etcd `mod_revision` of its key: what a compare-and-swap
/// compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub assignment: Assignment,
    pub mod_revision: i64,
}

/// Everything under the prefix, kept up to date from a read and the watch events after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    keys: Keys,
    /// The etcd revision of the last read or event applied.
    pub revision: i64,
    pub members: BTreeMap<NodeName, Option<SocketAddr>>,
    pub placed: BTreeMap<NodeName, Placement>,
    pub partitions: Vec<Option<Versioned>>,
    pub bootstrap: Option<Bootstrap>,
}

impl Snapshot {
    pub fn new(keys: Keys) -> Snapshot {
        Snapshot {
            keys,
            revision: 0,
            members: BTreeMap::new(),
            placed: BTreeMap::new(),
            partitions: vec![None; usize::from(PARTITIONS)],
            bootstrap: None,
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A key was put with `value` at `mod_revision`. Returns whether the key is ours and
    /// well formed (anything else under the prefix is ignored).
    pub fn put(&mut self, key: &[u8], value: &[u8], mod_revision: i64) -> bool {
        self.revision = self.revision.max(mod_revision);
        match self.keys.parse(key) {
            Some(Key::Member(node)) => {
                let advertise = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
                self.members.insert(node, advertise);
                true
            }
            Some(Key::Node(node)) => match decode_placement(value) {
                Some(p) => {
                    self.placed.insert(node, p);
                    true
                }
                None => false,
            },
            Some(Key::Partition(p)) => match decode_assignment(value) {
                Some(assignment) => {
                    self.partitions[usize::from(p.index())] = Some(Versioned {
                        assignment,
                        mod_revision,
                    });
                    true
                }
                None => false,
            },
            Some(Key::Bootstrap) => {
                self.bootstrap = Bootstrap::decode(value);
                self.bootstrap.is_some()
            }
            None => false,
        }
    }

    /// A key was deleted (at `revision`); a member's lease ran out or was revoked.
    pub fn delete(&mut self, key: &[u8], revision: i64) -> bool {
        self.revision = self.revision.max(revision);
        match self.keys.parse(key) {
            Some(Key::Member(node)) => self.members.remove(&node).is_some(),
            Some(Key::Node(node)) => self.placed.remove(&node).is_some(),
            Some(Key::Partition(p)) => self.partitions[usize::from(p.index())].take().is_some(),
            Some(Key::Bootstrap) => self.bootstrap.take().is_some(),
            None => false,
        }
    }

    /// The map this state describes: every member and placed node, and every node a
    /// partition names (down and unplaced if nothing else says).
    pub fn map(&self) -> ClusterMap {
        let mut map = ClusterMap::empty();
        map.revision = self.revision;
        let mut names: Vec<&NodeName> = self.members.keys().chain(self.placed.keys()).collect();
        for v in self.partitions.iter().flatten() {
            names.push(&v.assignment.primary);
            names.extend(v.assignment.replicas.iter());
        }
        names.sort();
        names.dedup();
        for name in names {
            map.set_node(Node {
                name: name.clone(),
                advertise: self.members.get(name).copied().flatten(),
                live: self.members.contains_key(name),
                placement: self
                    .placed
                    .get(name)
                    .copied()
                    .unwrap_or(Placement::Unplaced),
            });
        }
        for (i, v) in self.partitions.iter().enumerate() {
            if let Some(p) = u16::try_from(i).ok().and_then(Partition::from_index) {
                map.set_assignment(p, v.as_ref().map(|v| v.assignment.clone()));
            }
        }
        map
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::cluster::map::NodeState;

    fn name(n: &str) -> NodeName {
        NodeName::new(n).unwrap()
    }

    #[test]
    fn keys_are_written_and_read_back() {
        let keys = Keys::new("eu");
        let p = Partition::from_index(42).unwrap();
        assert_eq!(keys.partition(p), "/ringpost/eu/partitions/0042");
        assert_eq!(keys.member(&name("mx1")), "/ringpost/eu/members/mx1");
        assert_eq!(keys.node(&name("mx1")), "/ringpost/eu/nodes/mx1");
        assert_eq!(keys.bootstrap(), "/ringpost/eu/bootstrap");
        for (key, parsed) in [
            ("/ringpost/eu/partitions/0042", Some(Key::Partition(p))),
            ("/ringpost/eu/members/mx1", Some(Key::Member(name("mx1")))),
            ("/ringpost/eu/nodes/mx1", Some(Key::Node(name("mx1")))),
            ("/ringpost/eu/bootstrap", Some(Key::Bootstrap)),
            ("/ringpost/eu/partitions/1024", None),
            ("/ringpost/eu/partitions/42", None),
            ("/ringpost/eu/members/MX1", None),
            ("/ringpost/us/members/mx1", None),
            ("/ringpost/eu/other/x", None),
        ] {
            assert_eq!(keys.parse(key.as_bytes()), parsed, "{key}");
        }
    }

    #[test]
    fn a_partition_value_round_trips_and_bad_ones_are_refused() {
        let a = Assignment {
            primary: name("mx1"),
            replicas: vec![name("mx2"), name("mx3")],
            epoch: Epoch(7),
            handoff: None,
        };
        let text = encode_assignment(&a);
        assert_eq!(
            text,
            r#"{"primary":"mx1","replicas":["mx2","mx3"],"epoch":7}"#
        );
        assert_eq!(decode_assignment(text.as_bytes()), Some(a.clone()));
        let moving = Assignment {
            handoff: Some(Handoff {
                primary: name("mx4"),
                replicas: vec![name("mx1")],
            }),
            ..a
        };
        let text = encode_assignment(&moving);
        assert_eq!(
            text,
            r#"{"primary":"mx1","replicas":["mx2","mx3"],"epoch":7,"handoff":{"primary":"mx4","replicas":["mx1"]}}"#
        );
        assert_eq!(decode_assignment(text.as_bytes()), Some(moving));
        for bad in [
            &br#"{"primary":"MX1","replicas":[],"epoch":1}"#[..],
            br#"{"primary":"mx1","replicas":[],"epoch":1,"handoff":{"primary":"MX4","replicas":[]}}"#,
            br#"{"primary":"mx1","epoch":1}"#,
            b"mx1",
        ] {
            assert_eq!(decode_assignment(bad), None);
        }
    }

    #[test]
    fn events_build_the_map() {
        let keys = Keys::new("main");
        let mut s = Snapshot::new(keys.clone());
        assert!(s.put(keys.member(&name("mx1")).as_bytes(), b"10.0.0.1:7000", 5));
        assert!(s.put(keys.node(&name("mx1")).as_bytes(), b"active", 6));
        assert!(s.put(keys.node(&name("mx2")).as_bytes(), b"draining", 7));
        let p = Partition::from_index(3).unwrap();
        assert!(s.put(
            keys.partition(p).as_bytes(),
            br#"{"primary":"mx1","replicas":["mx2"],"epoch":2}"#,
            8
        ));
        assert!(!s.put(b"/ringpost/main/partitions/0003x", b"", 9));
        let map = s.map();
        assert_eq!(map.revision, 9);
        assert_eq!(map.primary(p).map(|n| n.state()), Some(NodeState::Live));
        assert_eq!(
            map.replicas(p).map(|n| n.state()).collect::<Vec<_>>(),
            [NodeState::Down]
        );
        assert_eq!(s.partitions[3].as_ref().map(|v| v.mod_revision), Some(8));
        // The lease of mx1 runs out.
        assert!(s.delete(keys.member(&name("mx1")).as_bytes(), 10));
        let map = s.map();
        assert_eq!(map.primary(p).map(|n| n.state()), Some(NodeState::Down));
        assert_eq!(map.primary(p).and_then(|n| n.advertise), None);
    }
}
