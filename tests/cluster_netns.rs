//! The cluster map over a real network partition: a three-member etcd, one member in each of
//! three network namespaces on a bridge. A node that reaches etcd only through the member
//! that gets cut off fences itself and the others see it down; healed, it is live again.
//! Needs root for `ip netns`; skipped without it unless `RINGPOST_REQUIRE_CLIENTS=1`.
// They need the etcd client, built only with the `cluster` feature (and protoc).
#![cfg(feature = "cluster")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ringpost::cluster::{ClusterHandle, NodeName, NodeState};
use ringpost::config::{ClusterConfig, Replication};
use support::etcd::{wait_until, Etcd};
use support::netns::Net;

const LIMIT: Duration = Duration::from_secs(30);

fn handle(node: &str, endpoints: Vec<String>) -> ClusterHandle {
    let handle = ClusterHandle::start(&ClusterConfig {
        node: node.into(),
        name: "main".into(),
        etcd: endpoints,
        advertise: "127.0.0.1:7000".parse().unwrap(),
        replicas: 1,
        replication: Replication::Sync,
        lease_ttl: Duration::from_secs(1),
        tls: None,
    })
    .unwrap();
    wait_until(&format!("{node} to join"), LIMIT, || {
        !handle.is_fenced() && handle.map().is_complete()
    });
    handle
}

fn state(handle: &ClusterHandle, node: &str) -> Option<NodeState> {
    handle
        .map()
        .node(&NodeName::new(node).unwrap())
        .map(|n| n.state())
}

#[test]
fn a_node_cut_off_from_etcd_is_fenced_and_seen_down() {
    let Some(net) = Net::create(3) else { return };
    let Some(etcd) = Etcd::start_in(&net) else {
        return;
    };
    let endpoints = etcd.endpoints();
    // mx1 reaches the two members that stay together; mx3 only the one that is cut off.
    let mx1 = handle("mx1", endpoints[..2].to_vec());
    let mx3 = handle("mx3", endpoints[2..].to_vec());
    wait_until("mx1 to see mx3 live", LIMIT, || {
        state(&mx1, "mx3") == Some(NodeState::Live)
    });
    net.cut(2);
    wait_until("mx3 to fence itself", LIMIT, || mx3.is_fenced());
    // mx3 holds no partition (the map was made over mx1): once its lease runs out it is
    // gone from the map, as a down node that nothing names.
    wait_until("mx1 to see mx3 gone", LIMIT, || {
        state(&mx1, "mx3").is_none()
    });
    // mx1 may have fenced itself for a moment while the majority elected a new leader (a 1 s
    // lease against a 0.5 s election timeout); it holds its lease on the majority side.
    wait_until("mx1 to be live on the majority side", LIMIT, || {
        !mx1.is_fenced()
    });
    net.heal(2);
    wait_until("mx3 to hold a lease again", LIMIT, || !mx3.is_fenced());
    wait_until("mx1 to see mx3 live again", LIMIT, || {
        state(&mx1, "mx3") == Some(NodeState::Live)
    });
    mx1.stop();
    mx3.stop();
    drop(etcd);
}
