//! The placement planner: given the nodes that should hold partitions and the current map,
//! the assignment every partition should have, and which partitions that changes.
//!
//! Pure and deterministic (the same input gives the same plan on every host), with the
//! fewest moves that still balance the cluster:
//!
//! - **primaries**: each node gets ⌊1024/n⌋ or ⌈1024/n⌉ of them. A partition keeps its
//!   primary while that node is wanted and under its share; the extra ones (1024 mod n) go
//!   to the nodes that hold the most already, so a balanced map stays as it is. Only
//!   partitions over a share, on a node no longer wanted, or unassigned move — adding an
//!   n+1-th node moves exactly its new share (about 1/(n+1) of the partitions); draining a
//!   node moves exactly its partitions. A partition that must move prefers one of its
//!   current replicas (it has the data), then the node furthest below its share, ties by
//!   rendezvous hash so the moves spread evenly;
//! - **replicas**: `min(replicas, n − 1)` per partition, on nodes distinct from the primary
//!   and from each other, kept where they are when still valid and within the node's share,
//!   the missing ones given to the least loaded nodes (ties by rendezvous hash).
//!
//! **Failover** ([`failover`]) is separate from planning and smaller: a partition whose
//! primary is down (its lease ran out: [`Node::live`](super::map::Node::live) is false) and
//! that has a live replica gets that replica as primary — the first live one in the
//! assignment's replica order — and the old primary becomes its last replica, so it catches
//! up when it comes back. Nothing else changes: the other replicas stay where they are, live
//! or not (a dead replica is not dropped, the map stays the smallest change), and a
//! partition with no live copy stays as it is (nothing could serve it). Dead replicas stay
//! in the map, so a primary must not wait for a replica whose member key is gone: that is
//! the runtime's to honour, not the map's. A live replica is promoted even if its node is
//! draining (it has the data; the drain moves the partition on). Rebalancing afterwards
//! (the shares are uneven once a node's primaries went to its replicas) is the planner's,
//! when an operator drains or adds a node.
//!
//! **Refill** ([`refill`]) gives replicas back: with synchronous replication a primary
//! stops waiting for a replica only once the map no longer names it
//! ([`ClusterHandle::drop_replica`](super::ClusterHandle::drop_replica)), and a partition
//! with a live primary and fewer than `min(replicas, live placed nodes − 1)` replicas then
//! gets live placed nodes added, the least loaded first (the dropped one may come back: it
//! catches up). It only adds; the replicas listed stay.
//!
//! It never reads or writes etcd; the etcd code applies a plan (or a failover) as
//! transactions.

use std::collections::HashMap;

use super::map::{Assignment, ClusterMap, Epoch, Handoff, NodeName, Placement};
use crate::placement::Partition;
#[cfg(test)]
use crate::placement::PARTITIONS;

/// Who should hold one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub primary: NodeName,
    pub replicas: Vec<NodeName>,
}

impl Target {
    /// Whether `assignment` already is this target (replicas in any order).
    pub fn is(&self, assignment: &Assignment) -> bool {
        let mut a = assignment.replicas.clone();
        let mut b = self.replicas.clone();
        a.sort();
        b.sort();
        self.primary == assignment.primary && a == b
    }

    /// The assignment that replaces `from`: this target with the next epoch.
    pub fn after(&self, from: Option<&Assignment>) -> Assignment {
        Assignment {
            primary: self.primary.clone(),
            replicas: self.replicas.clone(),
            epoch: Epoch(from.map_or(1, |a| a.epoch.0 + 1)),
            handoff: None,
        }
    }
}

/// One partition whose assignment changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub partition: Partition,
    pub from: Option<Assignment>,
    pub to: Target,
    /// Copy first ([`copy_first`]): the move is applied as a handoff that the primary makes
    /// once the nodes new to the partition have caught up, not at once.
    pub copy_first: bool,
}

impl Move {
    /// The assignment that replaces `current` (the next epoch): the target, or with
    /// `copy_first` the current holders plus the target as the handoff under way.
    pub fn next(&self, current: Option<&Assignment>) -> Assignment {
        match current {
            Some(current) if self.copy_first => Assignment {
                primary: current.primary.clone(),
                replicas: current.replicas.clone(),
                epoch: Epoch(current.epoch.0 + 1),
                handoff: Some(Handoff {
                    primary: self.to.primary.clone(),
                    replicas: self.to.replicas.clone(),
                }),
            },
            _ => self.to.after(current),
        }
    }

    /// Whether the primary changes (not only replicas).
    pub fn changes_primary(&self) -> bool {
        self.from
            .as_ref()
            .is_none_or(|from| from.primary != self.to.primary)
    }
}

/// A whole plan: every partition's target, and the moves that reach it from the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Indexed by partition number.
    pub targets: Vec<Target>,
    pub moves: Vec<Move>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no node to place partitions on")]
    NoNodes,
}

/// The plan that spreads every partition over `nodes` with `replicas` copies besides the
/// primary (fewer when there are not enough nodes), starting from `map`.
pub fn plan(map: &ClusterMap, nodes: &[NodeName], replicas: usize) -> Result<Plan, PlanError> {
    let mut nodes = nodes.to_vec();
    nodes.sort();
    nodes.dedup();
    if nodes.is_empty() {
        return Err(PlanError::NoNodes);
    }
    let current: Vec<Option<&Assignment>> = map.assignments().map(|(_, a)| a).collect();
    let primaries = plan_primaries(&current, &nodes);
    let copies = replicas.min(nodes.len() - 1);
    let replica_sets = plan_replicas(&current, &nodes, &primaries, copies);
    let mut targets = Vec::with_capacity(current.len());
    let mut moves = Vec::new();
    for (i, (primary, replicas)) in primaries.into_iter().zip(replica_sets).enumerate() {
        let target = Target {
            primary: nodes[primary].clone(),
            replicas: replicas.into_iter().map(|r| nodes[r].clone()).collect(),
        };
        let from = current[i];
        if !from.is_some_and(|a| target.is(a)) {
            if let Some(partition) = u16::try_from(i).ok().and_then(Partition::from_index) {
                moves.push(Move {
                    partition,
                    from: from.cloned(),
                    to: target.clone(),
                    copy_first: false,
                });
            }
        }
        targets.push(target);
    }
    Ok(Plan { targets, moves })
}

/// `plan` with no partition that must leave its primary (a node drained or no longer placed)
/// moved to a node that holds no copy of it while one of its current replicas could take it: such a move would make a node with no
/// mail (or stale mail: a node that came back after a failover) the primary, and moves that
/// copy mail first are not built. The replica (the first current one on a node of `nodes`
/// that is live in `map`) becomes the primary instead, and the node the plan chose becomes
/// a replica, so it copies the partition by following its log. The shares may end up uneven
/// by those partitions; a later plan evens them out. A partition without such a replica
/// moves as planned (the commands count those moves). Deterministic.
pub fn keep_copies(map: &ClusterMap, nodes: &[NodeName], plan: Plan) -> Plan {
    let Plan { mut targets, moves } = plan;
    let live = |n: &NodeName| map.node(n).is_some_and(|n| n.live);
    let mut kept = Vec::with_capacity(moves.len());
    for mut m in moves {
        if let Some(from) = m.from.as_ref() {
            // Only partitions that must leave their primary (drained, or no longer placed);
            // a balancing move off a primary that stays is the planner's to make.
            let copyless = !nodes.contains(&from.primary) && !from.holds(&m.to.primary);
            let copy = from
                .replicas
                .iter()
                .find(|r| **r != m.to.primary && nodes.contains(r) && live(r))
                .cloned();
            if let (true, Some(copy)) = (copyless, copy) {
                let planned = std::mem::replace(&mut m.to.primary, copy.clone());
                m.to.replicas.retain(|r| *r != copy);
                m.to.replicas.insert(0, planned);
                targets[usize::from(m.partition.index())] = m.to.clone();
            }
        }
        if m.from.as_ref().is_none_or(|f| !m.to.is(f)) {
            kept.push(m);
        }
    }
    Plan {
        targets,
        moves: kept,
    }
}

/// `plan` with every move that brings a partition to a node holding no copy of it, or that
/// changes its primary, made a copy-first move where the partition's primary is live to make
/// the handoff: the new nodes follow its log as learners while it goes on serving, and it
/// switches ownership in one transaction once they and the new primary have its whole log
/// (see [`Assignment::handoff`]); so even with `async` replication a planned move loses no
/// acknowledged write. A move whose primary is down (it could not hand off) or that only
/// drops nodes is applied at once.
pub fn copy_first(map: &ClusterMap, plan: Plan) -> Plan {
    let live = |n: &NodeName| map.node(n).is_some_and(|n| n.live);
    let Plan { targets, moves } = plan;
    let moves = moves
        .into_iter()
        .map(|mut m| {
            if let Some(from) = m.from.as_ref() {
                let new_node = std::iter::once(&m.to.primary)
                    .chain(&m.to.replicas)
                    .any(|n| !from.holds(n));
                m.copy_first = (new_node || from.primary != m.to.primary) && live(&from.primary);
            }
            m
        })
        .collect();
    Plan { targets, moves }
}

/// Each node's share of `total` slots: ⌊total/n⌋, plus one for the `total mod n` nodes that
/// hold the most now (ties by name order, i.e. index).
fn shares(total: usize, held: &[usize]) -> Vec<usize> {
    let n = held.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| held[b].cmp(&held[a]).then(a.cmp(&b)));
    let mut share = vec![total / n; n];
    for &i in order.iter().take(total % n) {
        share[i] += 1;
    }
    share
}

/// The primary (an index into `nodes`) of every partition.
fn plan_primaries(current: &[Option<&Assignment>], nodes: &[NodeName]) -> Vec<usize> {
    let index: HashMap<&NodeName, usize> = nodes.iter().enumerate().map(|(i, n)| (n, i)).collect();
    let mut held = vec![0usize; nodes.len()];
    for a in current.iter().flatten() {
        if let Some(&i) = index.get(&a.primary) {
            held[i] += 1;
        }
    }
    let share = shares(current.len(), &held);
    let mut count = vec![0usize; nodes.len()];
    let mut primary: Vec<Option<usize>> = vec![None; current.len()];
    for (p, a) in current.iter().enumerate() {
        if let Some(&i) = a.and_then(|a| index.get(&a.primary)) {
            if count[i] < share[i] {
                count[i] += 1;
                primary[p] = Some(i);
            }
        }
    }
    for (p, slot) in primary.iter_mut().enumerate() {
        if slot.is_some() {
            continue;
        }
        // The open shares add up to the unplaced partitions: some node always has room.
        let holds_copy = |i: usize| {
            current[p].is_some_and(|a| a.replicas.iter().any(|r| index.get(r) == Some(&i)))
        };
        let chosen = (0..nodes.len())
            .filter(|&i| count[i] < share[i])
            .max_by_key(|&i| (holds_copy(i), share[i] - count[i], spread(p, &nodes[i])));
        if let Some(i) = chosen {
            count[i] += 1;
            *slot = Some(i);
        }
    }
    primary.into_iter().map(|p| p.unwrap_or(0)).collect()
}

/// `copies` replicas (indexes into `nodes`) of every partition, none its primary, none twice.
fn plan_replicas(
    current: &[Option<&Assignment>],
    nodes: &[NodeName],
    primaries: &[usize],
    copies: usize,
) -> Vec<Vec<usize>> {
    let mut replicas: Vec<Vec<usize>> = vec![Vec::with_capacity(copies); current.len()];
    if copies == 0 {
        return replicas;
    }
    let index: HashMap<&NodeName, usize> = nodes.iter().enumerate().map(|(i, n)| (n, i)).collect();
    // The replicas that stay valid under the new primaries, in their order.
    let valid: Vec<Vec<usize>> = current
        .iter()
        .zip(primaries)
        .map(|(a, &primary)| {
            let mut keep: Vec<usize> = Vec::new();
            for r in a.iter().flat_map(|a| a.replicas.iter()) {
                if let Some(&i) = index.get(r) {
                    if i != primary && !keep.contains(&i) && keep.len() < copies {
                        keep.push(i);
                    }
                }
            }
            keep
        })
        .collect();
    let mut held = vec![0usize; nodes.len()];
    for i in valid.iter().flatten() {
        held[*i] += 1;
    }
    let share = shares(current.len() * copies, &held);
    let mut count = vec![0usize; nodes.len()];
    for (p, keep) in valid.iter().enumerate() {
        for &i in keep {
            if count[i] < share[i] {
                count[i] += 1;
                replicas[p].push(i);
            }
        }
    }
    for (p, set) in replicas.iter_mut().enumerate() {
        while set.len() < copies {
            let chosen = (0..nodes.len())
                .filter(|&i| i != primaries[p] && !set.contains(&i))
                .max_by_key(|&i| {
                    // Below its share first (most below first), then over it by the least.
                    let room = share[i] as i64 - count[i] as i64;
                    (room, spread(p, &nodes[i]))
                });
            match chosen {
                Some(i) => {
                    count[i] += 1;
                    set.push(i);
                }
                // Fewer than copies + 1 nodes: cannot happen, copies ≤ n − 1.
                None => break,
            }
        }
    }
    // The fill can leave a node over its share where the partitions that needed a replica
    // all had the under-share node as primary (a new node takes primaries and replicas from
    // the same partitions): hand such replicas over, one partition at a time.
    for over in 0..nodes.len() {
        for under in 0..nodes.len() {
            for p in 0..replicas.len() {
                if count[over] <= share[over] || count[under] >= share[under] {
                    break;
                }
                if primaries[p] != under
                    && replicas[p].contains(&over)
                    && !replicas[p].contains(&under)
                {
                    for r in replicas[p].iter_mut().filter(|r| **r == over) {
                        *r = under;
                    }
                    count[over] -= 1;
                    count[under] += 1;
                }
            }
        }
    }
    replicas
}

/// Rendezvous (highest random weight) score of `node` for partition `p`: breaks ties so that
/// moves and replicas spread evenly and the same on every host.
fn spread(p: usize, node: &NodeName) -> u64 {
    // FNV-1a 64 over the partition number and the name, then a final mix (splitmix64).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in (p as u64)
        .to_le_bytes()
        .iter()
        .chain(node.as_str().as_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A map whose partitions are assigned as `plan` says (every epoch one past the map's), for
/// checking a plan or bootstrapping.
pub fn apply(map: &ClusterMap, plan: &Plan) -> ClusterMap {
    let mut next = map.clone();
    for m in &plan.moves {
        next.set_assignment(m.partition, Some(m.next(m.from.as_ref())));
    }
    next
}

/// The moves that give every partition whose primary is down a live primary: the first live
/// replica (in the assignment's order) is promoted; the replicas become the remaining ones
/// (live or not, in order) followed by the old primary. Partitions whose primary is live, or
/// that have no live replica (see [`unservable`]), are left out. Deterministic: the same map
/// gives the same moves on every host. Each move raises its partition's epoch by one when
/// applied ([`Target::after`]).
pub fn failover(map: &ClusterMap) -> Vec<Move> {
    let live = |name: &NodeName| map.node(name).is_some_and(|n| n.live);
    map.assignments()
        .filter_map(|(partition, a)| {
            let a = a?;
            if live(&a.primary) {
                return None;
            }
            let primary = a.replicas.iter().find(|r| live(r))?.clone();
            // The assignment's replicas are distinct from each other and from the primary;
            // a malformed one must not name the new primary twice either.
            let mut replicas: Vec<NodeName> = a
                .replicas
                .iter()
                .filter(|r| **r != primary && **r != a.primary)
                .cloned()
                .collect();
            replicas.push(a.primary.clone());
            Some(Move {
                partition,
                from: Some(a.clone()),
                to: Target { primary, replicas },
                copy_first: false,
            })
        })
        .collect()
}

/// The moves that give every partition with a live primary at least
/// `min(replicas, live Active nodes − 1)` replicas again (after a primary dropped one it
/// could not wait for: [`ClusterHandle::drop_replica`](super::ClusterHandle::drop_replica)).
/// The replicas listed are kept, live or not, and in order; the missing ones are live placed
/// (`Active`) nodes that neither are the primary nor already a replica, the least loaded
/// first (partitions held, counting the ones added here), ties by rendezvous hash then name.
/// Only raises a partition's count up to the target, never lowers one; leaves a partition
/// with a handoff under way alone. Deterministic; each move raises its partition's epoch by
/// one when applied.
pub fn refill(map: &ClusterMap, replicas: usize) -> Vec<Move> {
    let mut candidates: Vec<&NodeName> = map
        .nodes()
        .filter(|n| n.live && n.placement == Placement::Active)
        .map(|n| &n.name)
        .collect();
    candidates.sort();
    let target = replicas.min(candidates.len().saturating_sub(1));
    let live = |name: &NodeName| map.node(name).is_some_and(|n| n.live);
    let mut load: HashMap<&NodeName, usize> = candidates.iter().map(|n| (*n, 0)).collect();
    for (_, a) in map.assignments() {
        for n in a
            .into_iter()
            .flat_map(|a| std::iter::once(&a.primary).chain(&a.replicas))
        {
            if let Some(count) = load.get_mut(n) {
                *count += 1;
            }
        }
    }
    let mut moves = Vec::new();
    for (partition, a) in map.assignments() {
        let Some(a) = a else { continue };
        // A handoff under way names the replicas to come (its learners are catching up);
        // changing the assignment now would cancel it.
        if !live(&a.primary) || a.replicas.len() >= target || a.handoff.is_some() {
            continue;
        }
        let mut next = a.replicas.clone();
        let p = usize::from(partition.index());
        while next.len() < target {
            let pick = candidates
                .iter()
                .copied()
                .filter(|n| **n != a.primary && !next.contains(n))
                .min_by_key(|n| (load.get(n).copied().unwrap_or(0), spread(p, n), *n));
            let Some(pick) = pick else { break };
            if let Some(count) = load.get_mut(pick) {
                *count += 1;
            }
            next.push(pick.clone());
        }
        if next.len() > a.replicas.len() {
            moves.push(Move {
                partition,
                from: Some(a.clone()),
                to: Target {
                    primary: a.primary.clone(),
                    replicas: next,
                },
                copy_first: false,
            });
        }
    }
    moves
}

/// The assigned partitions no live node holds (primary and every replica down): failover
/// cannot help them until one of their nodes comes back.
pub fn unservable(map: &ClusterMap) -> Vec<Partition> {
    let live = |name: &NodeName| map.node(name).is_some_and(|n| n.live);
    map.assignments()
        .filter(|(_, a)| a.is_some_and(|a| !live(&a.primary) && !a.replicas.iter().any(live)))
        .map(|(p, _)| p)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use proptest::prelude::*;

    use super::*;
    use crate::cluster::map::Node;

    fn partitions() -> usize {
        usize::from(PARTITIONS)
    }

    fn names(n: usize) -> Vec<NodeName> {
        (1..=n)
            .map(|i| NodeName::new(&format!("mx{i}")).unwrap())
            .collect()
    }

    fn bootstrap(nodes: &[NodeName], replicas: usize) -> ClusterMap {
        let empty = ClusterMap::empty();
        apply(&empty, &plan(&empty, nodes, replicas).unwrap())
    }

    /// Every invariant a plan's result must hold, and the spread of primaries and replicas.
    fn check(map: &ClusterMap, nodes: &[NodeName], replicas: usize) {
        assert!(map.is_complete());
        let copies = replicas.min(nodes.len() - 1);
        let mut primaries: HashMap<&NodeName, usize> = nodes.iter().map(|n| (n, 0)).collect();
        let mut held: HashMap<&NodeName, usize> = nodes.iter().map(|n| (n, 0)).collect();
        for (p, a) in map.assignments() {
            let a = a.unwrap();
            *primaries
                .get_mut(&a.primary)
                .expect("primary is a wanted node") += 1;
            assert_eq!(a.replicas.len(), copies, "{p:?}");
            for (i, r) in a.replicas.iter().enumerate() {
                assert_ne!(*r, a.primary, "{p:?}: a replica is the primary");
                assert!(!a.replicas[..i].contains(r), "{p:?}: a replica twice");
                *held.get_mut(r).expect("replica is a wanted node") += 1;
            }
        }
        let spread = |counts: &HashMap<&NodeName, usize>| {
            counts.values().max().unwrap() - counts.values().min().unwrap()
        };
        assert!(spread(&primaries) <= 1, "primaries: {primaries:?}");
        assert!(spread(&held) <= 1, "replicas: {held:?}");
    }

    #[test]
    fn bootstrap_spreads_evenly() {
        for n in 1..=7 {
            for r in 0..=2 {
                let nodes = names(n);
                let map = bootstrap(&nodes, r);
                check(&map, &nodes, r);
                assert!(map.assignments().all(|(_, a)| a.unwrap().epoch == Epoch(1)));
            }
        }
    }

    #[test]
    fn no_nodes_is_an_error() {
        assert_eq!(plan(&ClusterMap::empty(), &[], 1), Err(PlanError::NoNodes));
    }

    #[test]
    fn a_planned_map_needs_no_moves() {
        let nodes = names(3);
        let map = bootstrap(&nodes, 1);
        assert_eq!(plan(&map, &nodes, 1).unwrap().moves, []);
    }

    #[test]
    fn the_plan_is_the_same_whatever_the_order_of_nodes() {
        let nodes = names(4);
        let mut reversed = nodes.clone();
        reversed.reverse();
        let empty = ClusterMap::empty();
        assert_eq!(
            plan(&empty, &nodes, 1).unwrap(),
            plan(&empty, &reversed, 1).unwrap()
        );
    }

    #[test]
    fn draining_a_node_promotes_its_replicas() {
        let nodes = names(3);
        let map = bootstrap(&nodes, 1);
        let plan = plan(&map, &nodes[..2], 1).unwrap();
        for m in plan.moves.iter().filter(|m| m.changes_primary()) {
            let from = m.from.as_ref().unwrap();
            // mx3's partitions whose replica is mx1 or mx2 are taken over by that replica.
            assert_eq!(from.replicas, std::slice::from_ref(&m.to.primary), "{m:?}");
        }
    }

    #[test]
    fn keep_copies_moves_primaries_only_to_nodes_holding_the_partition() {
        // mx3 died and came back: its partitions went to their replicas (mx3 is now their
        // last replica, a stale copy), so mx1 and mx2 hold far more than their share. Draining
        // mx1 must not hand its partitions to mx3 for balance where mx2 holds them.
        let nodes = names(3);
        let mut map = bootstrap(&nodes, 1);
        with_nodes(&mut map, &nodes, &[true, true, false]);
        let failed_over = failover(&map);
        let mut map = apply(
            &map,
            &Plan {
                targets: Vec::new(),
                moves: failed_over,
            },
        );
        with_nodes(&mut map, &nodes, &[true, true, true]);
        let wanted = [nodes[1].clone(), nodes[2].clone()];
        let planned = plan(&map, &wanted, 1).unwrap();
        assert!(
            planned
                .moves
                .iter()
                .any(|m| m.changes_primary() && !m.from.as_ref().unwrap().holds(&m.to.primary)),
            "the balancing plan alone moves some primaries to a node without a copy"
        );
        let kept = keep_copies(&map, &wanted, planned);
        assert!(!kept.moves.is_empty());
        for m in &kept.moves {
            let from = m.from.as_ref().unwrap();
            assert!(wanted.contains(&m.to.primary), "{m:?}");
            assert!(!m.to.replicas.contains(&m.to.primary), "{m:?}");
            if m.changes_primary() {
                assert!(from.holds(&m.to.primary), "{m:?}");
            }
            assert_eq!(kept.targets[usize::from(m.partition.index())], m.to);
        }
        // Nothing changes for a plan that moves no primary to a copyless node.
        let map = bootstrap(&nodes, 1);
        let drain = plan(&map, &nodes[..2], 1).unwrap();
        assert_eq!(keep_copies(&map, &nodes[..2], drain.clone()), drain);
    }

    #[test]
    fn copy_first_moves_hand_off_where_the_primary_is_live() {
        // mx4 joins three live nodes: every move that brings a partition to it, or changes a
        // primary, becomes a handoff named by the current primary.
        let nodes = names(4);
        let mut map = bootstrap(&nodes[..3], 1);
        with_nodes(&mut map, &nodes, &[true, true, true, true]);
        let planned = copy_first(&map, plan(&map, &nodes, 1).unwrap());
        assert!(planned.moves.iter().any(|m| m.changes_primary()));
        for m in &planned.moves {
            let from = m.from.as_ref().unwrap();
            let new_node = std::iter::once(&m.to.primary)
                .chain(&m.to.replicas)
                .any(|n| !from.holds(n));
            assert_eq!(m.copy_first, new_node || m.changes_primary(), "{m:?}");
            let next = m.next(Some(from));
            assert_eq!(next.epoch.0, from.epoch.0 + 1);
            if m.copy_first {
                // Served as before; mx4 follows as a learner until the switch.
                assert_eq!(next.primary, from.primary);
                assert_eq!(next.replicas, from.replicas);
                assert!(next.follows(&nodes[3]) || !m.to.replicas.contains(&nodes[3]));
                assert!(
                    !next.replicas.contains(&nodes[3]),
                    "a learner is no replica"
                );
                let switched = next.handed_off().unwrap();
                assert!(m.to.is(&switched), "{m:?}");
                assert_eq!(switched.epoch.0, next.epoch.0 + 1);
                assert_eq!(switched.handoff, None);
            } else {
                assert_eq!(next, m.to.after(Some(from)));
            }
        }
        // Applied, the map names mx4 only as a learner: nothing is served from it yet.
        let staged = apply(&map, &planned);
        assert_eq!(staged.owned_by(&nodes[3]).count(), 0);
        assert!(staged
            .assignments()
            .any(|(_, a)| a.is_some_and(|a| a.learners().any(|l| *l == nodes[3]))));

        // A primary that is down cannot hand off: its moves apply at once.
        let mut map = bootstrap(&nodes[..3], 1);
        with_nodes(&mut map, &nodes, &[false, true, true, true]);
        let planned = copy_first(&map, plan(&map, &nodes, 1).unwrap());
        for m in &planned.moves {
            let from = m.from.as_ref().unwrap();
            if from.primary == nodes[0] {
                assert!(!m.copy_first, "{m:?}");
            }
        }
    }

    /// `nodes` in a map, live or down as `live` says, all placed.
    fn with_nodes(map: &mut ClusterMap, nodes: &[NodeName], live: &[bool]) {
        for (n, &live) in nodes.iter().zip(live) {
            map.set_node(Node {
                name: n.clone(),
                advertise: None,
                live,
                placement: Placement::Active,
            });
        }
    }

    fn assign(map: &mut ClusterMap, p: u16, primary: &NodeName, replicas: &[&NodeName], e: u64) {
        map.set_assignment(
            Partition::from_index(p).unwrap(),
            Some(Assignment {
                primary: primary.clone(),
                replicas: replicas.iter().map(|r| (*r).clone()).collect(),
                epoch: Epoch(e),
                handoff: None,
            }),
        );
    }

    #[test]
    fn failover_promotes_the_first_live_replica_and_keeps_the_old_primary_as_replica() {
        let n = names(4);
        let mut map = ClusterMap::empty();
        with_nodes(&mut map, &n, &[false, false, true, true]);
        // mx1 down; its first replica mx2 is down too, mx3 is the first live one.
        assign(&mut map, 0, &n[0], &[&n[1], &n[2], &n[3]], 5);
        // mx3 is live: nothing to do.
        assign(&mut map, 1, &n[2], &[&n[0]], 2);
        // mx1 and mx2 both down, no other copy: nothing can serve it.
        assign(&mut map, 2, &n[0], &[&n[1]], 3);
        // No replica at all.
        assign(&mut map, 3, &n[1], &[], 1);
        // The live replica is the first one.
        assign(&mut map, 4, &n[1], &[&n[3], &n[0]], 9);
        let moves = failover(&map);
        let p = |i| Partition::from_index(i).unwrap();
        assert_eq!(
            moves,
            [
                Move {
                    partition: p(0),
                    from: map.assignment(p(0)).cloned(),
                    to: Target {
                        primary: n[2].clone(),
                        replicas: vec![n[1].clone(), n[3].clone(), n[0].clone()],
                    },
                    copy_first: false,
                },
                Move {
                    partition: p(4),
                    from: map.assignment(p(4)).cloned(),
                    to: Target {
                        primary: n[3].clone(),
                        replicas: vec![n[0].clone(), n[1].clone()],
                    },
                    copy_first: false,
                },
            ]
        );
        assert_eq!(unservable(&map), [p(2), p(3)]);
        let next = apply(
            &map,
            &Plan {
                targets: Vec::new(),
                moves,
            },
        );
        assert_eq!(next.epoch(p(0)), Some(Epoch(6)));
        assert_eq!(next.epoch(p(4)), Some(Epoch(10)));
        assert_eq!(next.epoch(p(1)), Some(Epoch(2)));
        // Done once: nothing more to fail over.
        assert_eq!(failover(&next), []);
    }

    #[test]
    fn failover_of_a_bootstrapped_map_moves_only_the_dead_nodes_primaries() {
        let n = names(3);
        let mut map = bootstrap(&n, 1);
        with_nodes(&mut map, &n, &[true, false, true]);
        let moves = failover(&map);
        assert_eq!(moves.len(), map.owned_by(&n[1]).count());
        assert!(moves.iter().all(|m| m.to.replicas == [n[1].clone()]));
        // An unassigned map, or one whose nodes are all live, needs none.
        assert_eq!(failover(&ClusterMap::empty()), []);
        with_nodes(&mut map, &n, &[true, true, true]);
        assert_eq!(failover(&map), []);
    }

    #[test]
    fn refill_adds_the_least_loaded_live_placed_nodes() {
        let n = names(4);
        let mut map = ClusterMap::empty();
        // mx4 is down: never a new replica.
        with_nodes(&mut map, &n, &[true, true, true, false]);
        // Dropped its replica: gets one back, not the primary.
        assign(&mut map, 0, &n[0], &[], 3);
        // Full (its replica is down but listed): unchanged.
        assign(&mut map, 1, &n[1], &[&n[3]], 2);
        // Primary down: failover's, not refill's.
        assign(&mut map, 2, &n[3], &[], 7);
        // Already has one.
        assign(&mut map, 3, &n[2], &[&n[0]], 1);
        let p = |i| Partition::from_index(i).unwrap();
        let moves = refill(&map, 1);
        // mx1 holds 2 partitions, mx2 1, mx3 1: the tie between mx2 and mx3 goes by hash.
        assert_eq!(moves.len(), 1);
        assert_eq!(moves[0].partition, p(0));
        assert_eq!(moves[0].to.primary, n[0]);
        assert_eq!(moves[0].to.replicas.len(), 1);
        assert!([&n[1], &n[2]].contains(&&moves[0].to.replicas[0]));
        assert_eq!(refill(&map, 1), moves);
        // Two replicas asked for, three live placed nodes: two each, the listed ones kept.
        let two = refill(&map, 2);
        let next = apply(
            &map,
            &Plan {
                targets: Vec::new(),
                moves: two.clone(),
            },
        );
        assert_eq!(next.assignment(p(1)).unwrap().replicas[0], n[3]);
        assert_eq!(next.assignment(p(1)).unwrap().replicas.len(), 2);
        assert_eq!(next.assignment(p(2)), map.assignment(p(2)));
        assert_eq!(next.epoch(p(0)), Some(Epoch(4)));
        assert_eq!(refill(&next, 2), []);
        // Zero replicas, or one live placed node: nothing to add.
        assert_eq!(refill(&map, 0), []);
        with_nodes(&mut map, &n, &[true, false, false, false]);
        assert_eq!(refill(&map, 1), []);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Adding a node moves exactly the new node's share of primaries, no more.
        #[test]
        fn adding_a_node_moves_only_its_share(n in 1usize..8, r in 0usize..3) {
            let nodes = names(n + 1);
            let map = bootstrap(&nodes[..n], r);
            let plan = plan(&map, &nodes, r).unwrap();
            let next = apply(&map, &plan);
            check(&next, &nodes, r);
            let newcomer = &nodes[n];
            let moved = plan.moves.iter().filter(|m| m.changes_primary()).count();
            prop_assert_eq!(moved, next.owned_by(newcomer).count());
            prop_assert!(moved <= partitions().div_ceil(n + 1));
            // Every moved primary went to the new node.
            prop_assert!(plan.moves.iter().filter(|m| m.changes_primary()).all(|m| &m.to.primary == newcomer));
            // The epoch grows by one exactly where something changed.
            for m in &plan.moves {
                prop_assert_eq!(next.epoch(m.partition).unwrap().0, m.from.as_ref().unwrap().epoch.0 + 1);
            }
            prop_assert_eq!(super::plan(&next, &nodes, r).unwrap().moves, vec![]);
        }

        /// Draining a node moves exactly its primaries, and nothing of it stays.
        #[test]
        fn draining_a_node_moves_only_its_partitions(n in 2usize..8, r in 0usize..3, gone in 0usize..8) {
            let nodes = names(n);
            let gone = &nodes[gone % n];
            let map = bootstrap(&nodes, r);
            let rest: Vec<NodeName> = nodes.iter().filter(|x| *x != gone).cloned().collect();
            let plan = plan(&map, &rest, r).unwrap();
            let next = apply(&map, &plan);
            check(&next, &rest, r);
            let moved = plan.moves.iter().filter(|m| m.changes_primary()).count();
            prop_assert_eq!(moved, map.owned_by(gone).count());
            prop_assert!(next.assignments().all(|(_, a)| !a.unwrap().holds(gone)));
        }

        /// From any map (random primaries and replicas, some on unknown nodes, some
        /// partitions unassigned) the plan's result holds every invariant.
        #[test]
        fn any_map_is_repaired(
            n in 1usize..7,
            r in 0usize..3,
            seeds in proptest::collection::vec((0usize..9, 0usize..9, 0usize..9, 0u64..5), partitions()),
        ) {
            let all = names(9);
            let nodes = &all[..n];
            let mut map = ClusterMap::empty();
            for (i, (p, a, b, e)) in seeds.into_iter().enumerate() {
                let partition = Partition::from_index(i as u16).unwrap();
                if e == 0 {
                    continue;
                }
                map.set_assignment(partition, Some(Assignment {
                    primary: all[p].clone(),
                    replicas: vec![all[a].clone(), all[b].clone()],
                    epoch: Epoch(e),
                    handoff: None,
                }));
            }
            let plan = plan(&map, nodes, r).unwrap();
            let next = apply(&map, &plan);
            check(&next, nodes, r);
            prop_assert_eq!(super::plan(&next, nodes, r).unwrap().moves, vec![]);
        }

        /// After failover no partition with a live copy has a dead primary; only the moved
        /// partitions change, each by exactly one epoch, and every partition is held by the
        /// same nodes as before.
        #[test]
        fn failover_leaves_no_servable_partition_without_a_live_primary(
            n in 1usize..7,
            live in proptest::collection::vec(any::<bool>(), 6),
            seeds in proptest::collection::vec((0usize..6, 0usize..4, any::<u64>(), 0u64..1000), partitions()),
        ) {
            let nodes = names(n);
            let mut map = ClusterMap::empty();
            with_nodes(&mut map, &nodes, &live[..n]);
            for (i, (primary, copies, order, e)) in seeds.into_iter().enumerate() {
                if e == 0 {
                    continue;
                }
                // The primary, then up to `copies` other distinct nodes in an order of the seed.
                let primary = primary % n;
                let mut others: Vec<usize> = (0..n).filter(|&x| x != primary).collect();
                others.sort_by_key(|&x| spread(order as usize, &nodes[x]));
                others.truncate(copies);
                let replicas: Vec<&NodeName> = others.iter().map(|&x| &nodes[x]).collect();
                assign(&mut map, i as u16, &nodes[primary], &replicas, e);
            }
            let moves = failover(&map);
            prop_assert_eq!(&failover(&map), &moves);
            let next = apply(&map, &Plan { targets: Vec::new(), moves: moves.clone() });
            let is_live = |x: &NodeName| map.node(x).unwrap().live;
            let moved: Vec<Partition> = moves.iter().map(|m| m.partition).collect();
            for (p, before) in map.assignments() {
                let after = next.assignment(p);
                let Some(before) = before else {
                    prop_assert!(after.is_none());
                    continue;
                };
                let after = after.unwrap();
                let servable = is_live(&before.primary) || before.replicas.iter().any(is_live);
                if servable {
                    prop_assert!(is_live(&after.primary), "{:?}: {:?}", p, after);
                }
                let mut held_before: Vec<&NodeName> =
                    std::iter::once(&before.primary).chain(&before.replicas).collect();
                let mut held_after: Vec<&NodeName> =
                    std::iter::once(&after.primary).chain(&after.replicas).collect();
                held_before.sort();
                held_after.sort();
                prop_assert_eq!(held_before, held_after);
                if moved.contains(&p) {
                    prop_assert_eq!(after.epoch.0, before.epoch.0 + 1);
                    prop_assert!(!is_live(&before.primary));
                    prop_assert_eq!(after.replicas.last(), Some(&before.primary));
                } else {
                    prop_assert_eq!(after, before);
                }
            }
            prop_assert_eq!(failover(&next), vec![]);
        }

        /// Refill never adds the primary, a node twice, or a node that is not live and
        /// placed; it only raises a partition's count, up to the target; only the changed
        /// partitions change, each by one epoch; and a refilled map needs no more.
        #[test]
        fn refill_only_adds_live_distinct_replicas_up_to_the_target(
            n in 1usize..7,
            r in 0usize..4,
            live in proptest::collection::vec(any::<bool>(), 6),
            draining in proptest::collection::vec(any::<bool>(), 6),
            seeds in proptest::collection::vec((0usize..6, 0usize..4, any::<u64>(), 0u64..1000), partitions()),
        ) {
            let nodes = names(n);
            let mut map = ClusterMap::empty();
            with_nodes(&mut map, &nodes, &live[..n]);
            for (x, node) in nodes.iter().enumerate() {
                if draining[x] {
                    map.set_node(Node { name: node.clone(), advertise: None, live: live[x], placement: Placement::Draining });
                }
            }
            for (i, (primary, copies, order, e)) in seeds.into_iter().enumerate() {
                if e == 0 {
                    continue;
                }
                let primary = primary % n;
                let mut others: Vec<usize> = (0..n).filter(|&x| x != primary).collect();
                others.sort_by_key(|&x| spread(order as usize, &nodes[x]));
                others.truncate(copies);
                let replicas: Vec<&NodeName> = others.iter().map(|&x| &nodes[x]).collect();
                assign(&mut map, i as u16, &nodes[primary], &replicas, e);
            }
            let usable: Vec<&NodeName> = map.nodes().filter(|x| x.live && x.placement == Placement::Active).map(|x| &x.name).collect();
            let target = r.min(usable.len().saturating_sub(1));
            let moves = refill(&map, r);
            prop_assert_eq!(&refill(&map, r), &moves);
            let next = apply(&map, &Plan { targets: Vec::new(), moves: moves.clone() });
            let moved: Vec<Partition> = moves.iter().map(|m| m.partition).collect();
            for (p, before) in map.assignments() {
                let after = next.assignment(p);
                let Some(before) = before else {
                    prop_assert!(after.is_none());
                    continue;
                };
                let after = after.unwrap();
                if !moved.contains(&p) {
                    prop_assert_eq!(after, before);
                    continue;
                }
                prop_assert_eq!(after.epoch.0, before.epoch.0 + 1);
                prop_assert_eq!(&after.primary, &before.primary);
                prop_assert!(map.node(&before.primary).unwrap().live);
                prop_assert!(after.replicas.len() > before.replicas.len());
                prop_assert!(after.replicas.len() <= target.max(before.replicas.len()));
                prop_assert_eq!(&after.replicas[..before.replicas.len()], &before.replicas[..]);
                for (i, x) in after.replicas.iter().enumerate() {
                    prop_assert!(*x != after.primary);
                    prop_assert!(!after.replicas[..i].contains(x));
                }
                for x in &after.replicas[before.replicas.len()..] {
                    prop_assert!(usable.contains(&x));
                }
            }
            prop_assert_eq!(refill(&next, r), vec![]);
        }
    }
}
