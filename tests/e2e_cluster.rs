//! Any host takes any client (issue 19): three ringpost hosts on loopback, one real etcd
//! holding the map (made over the three as `ringpost cluster init` does), one real
//! PostgreSQL holding the account directory they share, the internal link over mutual TLS
//! with certificates from `ringpost cluster ca` / `cluster cert` (tests/support/cluster.rs).
//! Python's clients then log in, append, deliver, read and PROPFIND through every host
//! (tests/clients/cluster.py), and the logs show sessions relayed and continued.
// They need the etcd client, built only with the `cluster` feature (and protoc).
#![cfg(feature = "cluster")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::cluster::Cluster;
use support::etcd::Etcd;
use support::pg::Postgres;

#[test]
fn any_host_serves_any_account_over_the_internal_link() {
    let Some(etcd) = Etcd::start() else { return };
    let Some(pg) = Postgres::start() else { return };
    let cluster = Cluster::start(&etcd, &pg, "accounts", &["mx1", "mx2", "mx3"], 0, "sync");
    let out = cluster.python("cluster.py", &[]);
    assert!(out.contains("cluster: ok"), "{out}");

    // alice's and bob's sessions reached hosts that do not serve them, and were continued
    // where they live; a delivery's copies crossed the link the same way.
    cluster.assert_sessions_relayed();
}
