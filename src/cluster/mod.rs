//! Beyond one host (issue 19, DESIGN.md): ringpost's partitions spread over several hosts,
//! with etcd for everything that needs consensus — leases for membership, transactions
//! (compare-and-swap on a key's mod_revision, every change raising the partition's epoch)
//! for changes, watches for routing. No consensus, membership or election code of our own.
//!
//! - [`map`]: the map every host routes by (nodes; each partition's primary, replicas and
//!   epoch) — pure data, the runtime may hold it;
//! - [`plan`]: the placement planner (initial spread, add a node, drain a node),
//!   failover (a down primary's live replica takes over) and refill (a partition short of
//!   replicas after one was dropped gets live nodes back) — pure;
//! - [`schema`]: the etcd keys and values, and the state a read plus watch events make —
//!   pure;
//! - [`etcd`]: the only code that talks to etcd: the cluster thread ([`ClusterHandle`]) and
//!   the administration `ringpost cluster` runs. tokio runs there on a thread of its own,
//!   never on a shard.
//!
//! Without `[cluster]` none of this runs.

#[cfg(feature = "cluster")]
pub mod etcd;
/// Without the `cluster` feature: the same names, and a `[cluster]` that is refused.
#[cfg(not(feature = "cluster"))]
#[path = "unbuilt.rs"]
pub mod etcd;
pub mod map;
pub mod plan;
pub mod schema;

pub use etcd::ClusterHandle;
pub use map::{Assignment, ClusterMap, Epoch, Handoff, Node, NodeName, NodeState, Placement};
