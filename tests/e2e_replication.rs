//! Replication between cluster hosts (issue 19): three hosts with one replica of every
//! partition and `replication = "sync"` (tests/support/cluster.rs). Mail delivered through
//! one host is on each partition's primary and its replica when the 250 comes; draining
//! the primary of alice's and bob's partitions (`ringpost cluster drain-node`) makes their
//! replicas the primaries, and every message is still there through every host: the
//! replicas had them, byte for byte in the log, before the move.
#![cfg(feature = "cluster")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ringpost::accounts::AccountStore;
use ringpost::cluster::NodeName;
use ringpost::config::Config;
use ringpost::placement::Partition;
use support::cluster::{Cluster, LIMIT};
use support::etcd::{wait_until, Etcd};
use support::pg::Postgres;

/// The node serving `user`'s partition, and the partition's epoch, by the map in etcd.
fn primary_of(cluster: &mut Cluster, user: &str) -> (Partition, NodeName, u64) {
    let config = Config::load(&cluster.hosts[0].config).unwrap();
    let accounts = AccountStore::open_configured(&config).unwrap();
    let key = accounts.lookup(user).unwrap().unwrap().store_key();
    let partition = Partition::of(&key);
    let snapshot = cluster.admin.snapshot().unwrap();
    let assignment = snapshot.partitions[usize::from(partition.index())]
        .as_ref()
        .unwrap()
        .assignment
        .clone();
    (partition, assignment.primary, assignment.epoch.0)
}

#[test]
fn a_drained_primarys_mail_is_served_by_its_replica() {
    let Some(etcd) = Etcd::start() else { return };
    let Some(pg) = Postgres::start() else { return };
    let mut cluster = Cluster::start(&etcd, &pg, "replicated", &["mx1", "mx2", "mx3"], 1, "sync");
    let out = cluster.python("replication.py", &["deliver", "12"]);
    assert!(out.contains("delivered 12"), "{out}");
    let out = cluster.python("replication.py", &["count", "12"]);
    assert!(out.contains("counted 12"), "{out}");

    // Drain the node serving alice: her partition's replica becomes its primary.
    let (partition, primary, epoch) = primary_of(&mut cluster, "alice@example.com");
    let moved = cluster.admin.drain_node(&primary, 1, false).unwrap();
    assert!(moved.applied.moved > 0, "{moved:?}");
    wait_until("alice's partition to move", LIMIT, || {
        let snapshot = cluster.admin.snapshot().unwrap();
        let now = &snapshot.partitions[usize::from(partition.index())]
            .as_ref()
            .unwrap()
            .assignment;
        now.primary != primary && now.epoch.0 > epoch
    });
    let out = cluster.python("replication.py", &["count", "12"]);
    assert!(out.contains("counted 12"), "{out}");
    let logs: Vec<String> = cluster.hosts.iter().map(|h| h.log()).collect();
    assert!(
        logs.iter().any(|l| l.contains("primary now")),
        "no replica was promoted"
    );
}
