//! The cluster map against a real etcd (Debian's etcd-server on loopback): bootstrap,
//! membership through leases, compare-and-swap, the watch across an etcd restart, a
//! three-member etcd losing a member, failover of a dead node's partitions to their replicas,
//! `ringpost cluster` add-node / drain-node / status, and etcd over TLS with client
//! certificates.
//! Each test starts its own etcd; lease TTLs are 1 s, waits are bounded polls.
// They need the etcd client, built only with the `cluster` feature (and protoc).
#![cfg(feature = "cluster")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::time::Duration;

use ringpost::cluster::etcd::admin::Admin;
use ringpost::cluster::{ClusterHandle, ClusterMap, Epoch, NodeName, NodeState};
use ringpost::config::{ClusterConfig, EtcdTls, Replication};
use ringpost::runtime::{Partition, PARTITIONS};
use support::etcd::{wait_until, Etcd};

/// Long enough for any step here on a loaded machine; the steps take about a second.
const LIMIT: Duration = Duration::from_secs(30);

fn config(node: &str, etcd: &Etcd) -> ClusterConfig {
    ClusterConfig {
        node: node.into(),
        name: "main".into(),
        etcd: etcd.endpoints(),
        advertise: "127.0.0.1:7000".parse().unwrap(),
        replicas: 1,
        replication: Replication::Sync,
        lease_ttl: Duration::from_secs(1),
        tls: None,
        etcd_tls: None,
    }
}

fn name(n: &str) -> NodeName {
    NodeName::new(n).unwrap()
}

/// Start `node` and wait until it holds its lease and has a complete map.
fn join(node: &str, etcd: &Etcd) -> ClusterHandle {
    join_with(&config(node, etcd))
}

/// Start a node with `config` and wait until it holds its lease and has a complete map.
fn join_with(config: &ClusterConfig) -> ClusterHandle {
    let handle = ClusterHandle::start(config).unwrap();
    wait_until(&format!("{} to join", config.node), LIMIT, || {
        !handle.is_fenced() && handle.map().is_complete()
    });
    handle
}

fn state_of(map: &ClusterMap, node: &str) -> Option<NodeState> {
    map.node(&name(node)).map(|n| n.state())
}

/// Make every handoff the map names, as each partition's primary host does once the new
/// nodes caught up (there is no store here, so nothing to catch up): through the primary's
/// own handle, `ClusterHandle::hand_off`, the etcd transaction a host makes (one that times
/// out or finds the map changed is tried again, as a host does). Returns how many handoffs
/// the map named at first.
fn make_handoffs(admin: &mut Admin, handles: &[&ClusterHandle]) -> usize {
    let wait = futures_lite::future::block_on;
    let deadline = std::time::Instant::now() + LIMIT;
    let mut named = None;
    loop {
        let map = admin.snapshot().unwrap().map();
        let pending: Vec<(Partition, NodeName, u64)> = map
            .assignments()
            .filter_map(|(p, a)| {
                let a = a?;
                a.handoff
                    .as_ref()
                    .map(|_| (p, a.primary.clone(), a.epoch.0))
            })
            .collect();
        let named = *named.get_or_insert(pending.len());
        if pending.is_empty() {
            return named;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} handoffs still pending",
            pending.len()
        );
        for (p, primary, epoch) in pending {
            let handle = handles
                .iter()
                .find(|h| *h.this_node() == primary)
                .expect("a handle for every primary");
            let _ = wait(handle.hand_off(p, epoch));
        }
    }
}

#[test]
fn the_first_node_bootstraps_a_complete_map() {
    let Some(etcd) = Etcd::start() else { return };
    let mx1 = join("mx1", &etcd);
    let map = mx1.map();
    assert_eq!(mx1.this_node().as_str(), "mx1");
    assert_eq!(map.owned_by(&name("mx1")).count(), usize::from(PARTITIONS));
    assert_eq!(map.epoch_range(), Some((Epoch(1), Epoch(1))));
    // One replica asked for, but one node: none.
    assert_eq!(map.replicated_by(&name("mx1")).count(), 0);
    assert_eq!(state_of(&map, "mx1"), Some(NodeState::Live));
    // Every partition is a key of its own in etcd.
    let keys = etcd.etcdctl(&[
        "get",
        "--prefix",
        "--keys-only",
        "/ringpost/main/partitions/",
    ]);
    assert_eq!(keys.lines().filter(|l| !l.is_empty()).count(), 1024);
    let member = etcd.etcdctl(&["get", "--print-value-only", "/ringpost/main/members/mx1"]);
    assert_eq!(member.trim(), "127.0.0.1:7000");
    mx1.stop();
    assert!(mx1.is_fenced());
}

#[test]
fn two_nodes_bootstrapping_at_once_make_one_map() {
    let Some(etcd) = Etcd::start() else { return };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| join("mx1", &etcd));
        let b = s.spawn(|| join("mx2", &etcd));
        (a.join().unwrap(), b.join().unwrap())
    });
    // Both see the same assignment of every partition.
    wait_until("the two maps to agree", LIMIT, || {
        let (x, y) = (a.map(), b.map());
        x.assignments().eq(y.assignments())
    });
    let map = a.map();
    assert!(map.is_complete());
    let owners: usize = ["mx1", "mx2"]
        .iter()
        .map(|n| map.owned_by(&name(n)).count())
        .sum();
    assert_eq!(owners, usize::from(PARTITIONS));
    assert_eq!(map.epoch_range(), Some((Epoch(1), Epoch(1))));
    let record = etcd.etcdctl(&["get", "--print-value-only", "/ringpost/main/bootstrap"]);
    // Whichever node won the bootstrap named the members it saw: itself, or both.
    assert!(
        [
            "{\"nodes\":[\"mx1\"],\"replicas\":1}",
            "{\"nodes\":[\"mx2\"],\"replicas\":1}",
            "{\"nodes\":[\"mx1\",\"mx2\"],\"replicas\":1}",
        ]
        .contains(&record.trim()),
        "{record}"
    );
    a.stop();
    b.stop();
}

#[test]
fn a_stale_epoch_is_refused() {
    let Some(etcd) = Etcd::start() else { return };
    let mx1 = join("mx1", &etcd);
    let mut admin = Admin::connect(&config("mx1", &etcd)).unwrap();
    let p = Partition::from_index(5).unwrap();
    let read = admin.snapshot().unwrap().partitions[5].clone().unwrap();
    let mut next = read.assignment.clone();
    next.epoch = Epoch(read.assignment.epoch.0 + 1);
    // Two writers read the same state; the first wins, the second is refused.
    assert!(admin.compare_and_set(p, read.mod_revision, &next).unwrap());
    let mut other = next.clone();
    other.primary = name("mx9");
    assert!(!admin.compare_and_set(p, read.mod_revision, &other).unwrap());
    // Creating a partition that exists is refused too.
    assert!(!admin.compare_and_set(p, 0, &other).unwrap());
    wait_until("the watch to show epoch 2", LIMIT, || {
        mx1.map().epoch(p) == Some(Epoch(2))
    });
    assert_eq!(
        mx1.map().primary(p).map(|n| n.name.clone()),
        Some(name("mx1"))
    );
    mx1.stop();
}

/// A real server as cluster node mx1 (lease `ttl` seconds), with what a cluster host needs:
/// the certificates of its internal link and a shared (PostgreSQL) account directory. The
/// PostgreSQL server and the certificates' folder live as long as the returned values, and
/// the port it advertises.
fn mx1_server(
    etcd: &Etcd,
    ttl: u64,
) -> Option<(
    support::Server,
    support::pg::Postgres,
    tempfile::TempDir,
    u16,
)> {
    let pg = support::pg::Postgres::start()?;
    pg.create_database("accounts");
    let certs = tempfile::tempdir().unwrap();
    let (ca, ca_key) = ringpost::tls::new_cluster_ca().unwrap();
    let (cert, key) = ringpost::tls::new_node_cert(&ca_key, "mx1").unwrap();
    for (name, text) in [("ca.pem", ca), ("mx1.pem", cert), ("mx1.key", key)] {
        std::fs::write(certs.path().join(name), text).unwrap();
    }
    let advertise = support::free_ports(1)[0];
    let extra = format!(
        "[auth]\nfailure_delay_ms = 50\n[accounts]\nbackend = \"postgres\"\npostgres = \"{}\"\n\
         [cluster]\nnode = \"mx1\"\netcd = [\"{}\"]\nadvertise = \"127.0.0.1:{advertise}\"\n\
         lease_ttl = {ttl}\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        pg.connection("accounts"),
        etcd.endpoints()[0],
        certs.path().join("ca.pem").display(),
        certs.path().join("mx1.pem").display(),
        certs.path().join("mx1.key").display(),
    );
    let server = support::Server::start(support::Options {
        extra,
        ..Default::default()
    });
    Some((server, pg, certs, advertise))
}

#[test]
fn a_killed_nodes_lease_runs_out_and_the_others_see_it_down() {
    let Some(etcd) = Etcd::start() else { return };
    // mx1 is the real server, killed with SIGKILL: nothing revokes its lease.
    let Some((mut server, _pg, _certs, _)) = mx1_server(&etcd, 1) else {
        return;
    };
    // mx1 makes the map over itself first (a node starting meanwhile would be in it).
    let mut admin = Admin::connect(&config("mx9", &etcd)).unwrap();
    wait_until("mx1 to make the map", LIMIT, || {
        admin.snapshot().unwrap().map().is_complete()
    });
    let mx2 = ClusterHandle::start(&config("mx2", &etcd)).unwrap();
    wait_until("mx2 to see mx1 live", LIMIT, || {
        state_of(&mx2.map(), "mx1") == Some(NodeState::Live) && !mx2.is_fenced()
    });
    let mut child = server.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    wait_until("mx2 to see mx1 down", LIMIT, || {
        state_of(&mx2.map(), "mx1") == Some(NodeState::Down)
    });
    // mx1 keeps its partitions (no replica to fail over to: mx2 was never placed), and mx2
    // stays live.
    assert_eq!(
        mx2.map().owned_by(&name("mx1")).count(),
        usize::from(PARTITIONS)
    );
    assert!(!mx2.is_fenced());
    assert!(
        server.log().contains("registered in etcd"),
        "{}",
        server.log()
    );
    mx2.stop();
}

#[test]
fn the_watch_resumes_after_etcd_restarts_and_the_node_is_fenced_meanwhile() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let mx1 = join("mx1", &etcd);
    etcd.kill(0);
    wait_until("mx1 to fence itself", LIMIT, || mx1.is_fenced());
    etcd.restart(0);
    wait_until("mx1 to hold a lease again", LIMIT, || !mx1.is_fenced());
    // A change made after the restart reaches mx1's map through its resumed watch.
    let mut admin = Admin::connect(&config("mx1", &etcd)).unwrap();
    let read = admin.snapshot().unwrap().partitions[9].clone().unwrap();
    let mut next = read.assignment.clone();
    next.epoch = Epoch(read.assignment.epoch.0 + 1);
    let p = Partition::from_index(9).unwrap();
    assert!(admin.compare_and_set(p, read.mod_revision, &next).unwrap());
    wait_until("mx1 to see the new epoch", LIMIT, || {
        mx1.map().epoch(p) == Some(next.epoch)
    });
    mx1.stop();
}

#[test]
fn a_three_member_etcd_keeps_working_without_one_member() {
    let Some(mut etcd) = Etcd::start_members(3) else {
        return;
    };
    let mx1 = join("mx1", &etcd);
    let mx2 = join("mx2", &etcd);
    etcd.kill(0);
    // The two members left are a quorum: writes go on and both nodes see them.
    let mut admin = Admin::connect(&config("mx1", &etcd)).unwrap();
    let done = admin.add_node(&name("mx2"), 1, false, false).unwrap();
    assert_eq!(done.applied.refused, 0);
    assert!(done.primaries >= 500, "{done:?}");
    make_handoffs(&mut admin, &[&mx1, &mx2]);
    for node in [&mx1, &mx2] {
        wait_until("the new map", LIMIT, || {
            node.map().owned_by(&name("mx2")).count() == done.primaries
        });
    }
    // Both hold their leases through the member's loss (reconnected to another member).
    wait_until("both nodes live", LIMIT, || {
        !mx1.is_fenced() && !mx2.is_fenced()
    });
    assert_eq!(state_of(&mx1.map(), "mx2"), Some(NodeState::Live));
    mx1.stop();
    mx2.stop();
}

#[test]
fn a_dead_primarys_partitions_fail_over_to_their_replicas() {
    fail_over_mx1(false);
}

/// The live placed node whose name sorts first acts at once; here it is `mx0`, a member key
/// and a placement written by hand that no process stands behind: the others must act
/// after a lease TTL, so a failover does not depend on one node.
#[test]
fn failover_does_not_depend_on_the_first_node() {
    fail_over_mx1(true);
}

/// Three nodes with one replica each; mx1 is cut off from etcd (its lease runs out, nothing
/// revokes it) and every partition it was primary of must go to its replica. With
/// `idle_first`, a live placed `mx0` that never acts sorts before mx2 and mx3.
fn fail_over_mx1(idle_first: bool) {
    let Some(mut etcd) = Etcd::start_members(3) else {
        return;
    };
    let endpoints = etcd.endpoints();
    // mx1 talks to etcd member 0 only: killing that member cuts mx1 off without revoking
    // its lease, which then runs out in the two members left (a quorum). mx2 and mx3 talk
    // to those two.
    let mx1 = join_with(&ClusterConfig {
        etcd: vec![endpoints[0].clone()],
        ..config("mx1", &etcd)
    });
    let others = |node: &str| ClusterConfig {
        etcd: endpoints[1..].to_vec(),
        ..config(node, &etcd)
    };
    let mx2 = join_with(&others("mx2"));
    let mx3 = join_with(&others("mx3"));
    let mut admin = Admin::connect(&others("mx2")).unwrap();
    for node in ["mx2", "mx3"] {
        let done = admin.add_node(&name(node), 1, false, false).unwrap();
        assert_eq!(done.applied.refused, 0, "{done:?}");
        make_handoffs(&mut admin, &[&mx1, &mx2, &mx3]);
    }
    let before = admin.snapshot().unwrap().map();
    let theirs: Vec<Partition> = before.owned_by(&name("mx1")).collect();
    assert!(!theirs.is_empty());
    for p in &theirs {
        assert_eq!(before.assignment(*p).unwrap().replicas.len(), 1, "{p:?}");
    }
    for node in [&mx1, &mx2, &mx3] {
        wait_until("every node to see the three-node map", LIMIT, || {
            node.map().assignments().eq(before.assignments())
        });
    }
    if idle_first {
        let granted = etcd.etcdctl(&["lease", "grant", "600"]);
        let lease = granted.split_whitespace().nth(1).unwrap().to_string();
        etcd.etcdctl(&[
            "put",
            &format!("--lease={lease}"),
            "/ringpost/main/members/mx0",
            "127.0.0.1:7999",
        ]);
        etcd.etcdctl(&["put", "/ringpost/main/nodes/mx0", "active"]);
        for node in [&mx2, &mx3] {
            wait_until("mx0 to be live and placed", LIMIT, || {
                state_of(&node.map(), "mx0") == Some(NodeState::Live)
                    && node.map().active_nodes().contains(&name("mx0"))
            });
        }
    }
    etcd.kill(0);
    for node in [&mx2, &mx3] {
        wait_until("mx1's partitions to have other primaries", LIMIT, || {
            let map = node.map();
            state_of(&map, "mx1") == Some(NodeState::Down)
                && map.owned_by(&name("mx1")).next().is_none()
        });
    }
    let after = mx2.map();
    for (p, was) in before.assignments() {
        let was = was.unwrap();
        let now = after.assignment(p).unwrap();
        if theirs.contains(&p) {
            // Its replica took over, and mx1 is the replica now, one epoch later.
            assert_eq!(now.primary, was.replicas[0], "{p:?}");
            assert_eq!(now.replicas, [name("mx1")], "{p:?}");
            assert_eq!(now.epoch.0, was.epoch.0 + 1, "{p:?}");
        } else {
            assert_eq!(now, was, "{p:?}");
        }
    }
    assert!(mx1.is_fenced());
    wait_until("mx2 and mx3 live", LIMIT, || {
        !mx2.is_fenced() && !mx3.is_fenced()
    });
    // Each partition was failed over by one node, counted by that node alone (at most: a
    // transaction whose answer was lost is done but not counted).
    let promoted = mx2.failovers() + mx3.failovers();
    assert!(
        (1..=theirs.len() as u64).contains(&promoted) && mx1.failovers() == 0,
        "{promoted}"
    );
    assert!(mx2
        .metric_lines()
        .iter()
        .any(|l| l.starts_with("ringpost_cluster_failovers_total ")));
    mx1.stop();
    mx2.stop();
    mx3.stop();
}

/// A whole cluster starting cold: the map names mx1, mx2 and mx3 (one replica each), mx1
/// starts alone and sees the other two without member keys. It must not fail their
/// partitions over before they had a chance to start: they do, within its startup grace,
/// and no partition's epoch changes.
#[test]
fn no_failover_when_the_other_nodes_start_within_the_grace() {
    let Some(etcd) = Etcd::start() else { return };
    let mut admin = Admin::connect(&config("mx1", &etcd)).unwrap();
    let nodes = [name("mx1"), name("mx2"), name("mx3")];
    assert!(admin.init(&nodes, 1).unwrap());
    let before = admin.snapshot().unwrap().map();
    // Partitions mx1 would have taken over: mx2's or mx3's with mx1 as replica.
    let exposed = before
        .assignments()
        .filter(|(_, a)| {
            let a = a.unwrap();
            a.primary != nodes[0] && a.replicas.contains(&nodes[0])
        })
        .count();
    assert!(exposed > 0);
    let mx1 = join("mx1", &etcd);
    // Within the grace (two lease TTLs: 2 s) the other two start.
    let others: Vec<ClusterHandle> = ["mx2", "mx3"]
        .iter()
        .map(|n| ClusterHandle::start(&config(n, &etcd)).unwrap())
        .collect();
    for node in &others {
        wait_until("the others to join", LIMIT, || {
            !node.is_fenced() && node.map().is_complete()
        });
    }
    wait_until("mx1 to see all three live", LIMIT, || {
        let map = mx1.map();
        nodes
            .iter()
            .all(|n| map.node(n).is_some_and(|n| n.state() == NodeState::Live))
    });
    // Past every node's grace, with a margin: still nothing failed over.
    std::thread::sleep(Duration::from_secs(3));
    let after = admin.snapshot().unwrap().map();
    for (p, was) in before.assignments() {
        assert_eq!(after.assignment(p), was, "{p:?}");
    }
    for node in std::iter::once(&mx1).chain(&others) {
        assert_eq!(node.failovers(), 0);
        node.stop();
    }
}

/// mx1, mx2 and mx3 live and placed, one replica each; returns them and the map.
fn three_nodes(etcd: &Etcd) -> (Vec<ClusterHandle>, ClusterMap) {
    let nodes: Vec<ClusterHandle> = ["mx1", "mx2", "mx3"]
        .iter()
        .map(|n| join(n, etcd))
        .collect();
    let mut admin = Admin::connect(&config("mx1", etcd)).unwrap();
    for node in ["mx2", "mx3"] {
        let done = admin.add_node(&name(node), 1, false, false).unwrap();
        assert_eq!(done.applied.refused, 0, "{done:?}");
        let handles: Vec<&ClusterHandle> = nodes.iter().collect();
        make_handoffs(&mut admin, &handles);
    }
    let map = admin.snapshot().unwrap().map();
    for node in &nodes {
        wait_until("every node to see the three-node map", LIMIT, || {
            node.map().assignments().eq(map.assignments())
        });
    }
    (nodes, map)
}

/// A partition mx1 is primary of, with its replica and epoch.
fn mx1_partition(map: &ClusterMap) -> (Partition, NodeName, u64) {
    let p = map.owned_by(&name("mx1")).next().unwrap();
    let a = map.assignment(p).unwrap();
    (p, a.replicas[0].clone(), a.epoch.0)
}

#[test]
fn drop_replica_applies_at_the_current_epoch_only() {
    let Some(etcd) = Etcd::start() else { return };
    let (nodes, map) = three_nodes(&etcd);
    let mx1 = &nodes[0];
    let (p, replica, epoch) = mx1_partition(&map);
    // A stale epoch, a node that is no replica, a partition mx1 is not primary of: refused.
    let wait = futures_lite::future::block_on;
    assert!(!wait(mx1.drop_replica(p, replica.clone(), epoch - 1))
        .unwrap()
        .unwrap());
    assert!(!wait(mx1.drop_replica(p, name("mx1"), epoch))
        .unwrap()
        .unwrap());
    let theirs = map.owned_by(&name("mx2")).next().unwrap();
    let (r, e) = {
        let a = map.assignment(theirs).unwrap();
        (a.replicas[0].clone(), a.epoch.0)
    };
    assert!(!wait(mx1.drop_replica(theirs, r, e)).unwrap().unwrap());
    // The current epoch: done, one epoch later, without the replica.
    assert!(wait(mx1.drop_replica(p, replica.clone(), epoch))
        .unwrap()
        .unwrap());
    let mut admin = Admin::connect(&config("mx1", &etcd)).unwrap();
    let after = admin.snapshot().unwrap().map();
    let a = after.assignment(p).unwrap();
    assert!(a.epoch.0 > epoch);
    // The same call again: the map moved on.
    assert!(!wait(mx1.drop_replica(p, replica, epoch)).unwrap().unwrap());
    for node in &nodes {
        node.stop();
    }
    // Not connected: an error, not a wait.
    assert!(wait(mx1.drop_replica(p, name("mx2"), epoch + 1))
        .unwrap()
        .is_err());
}

#[test]
fn a_dropped_replica_is_refilled() {
    let Some(etcd) = Etcd::start() else { return };
    let (nodes, map) = three_nodes(&etcd);
    let (p, replica, epoch) = mx1_partition(&map);
    let wait = futures_lite::future::block_on;
    assert!(wait(nodes[0].drop_replica(p, replica, epoch))
        .unwrap()
        .unwrap());
    // Dropped (epoch + 1), then given a replica again by refill (epoch + 2).
    for node in &nodes {
        wait_until("the partition to have a replica again", LIMIT, || {
            let map = node.map();
            let a = map.assignment(p).unwrap();
            a.epoch.0 == epoch + 2 && a.replicas.len() == 1 && a.primary == name("mx1")
        });
    }
    // Nothing else changed.
    let after = nodes[1].map();
    for (q, was) in map.assignments() {
        if q != p {
            assert_eq!(after.assignment(q), was, "{q:?}");
        }
    }
    assert!(nodes.iter().all(|n| n.failovers() == 0));
    for node in &nodes {
        node.stop();
    }
}

/// A configuration file for the CLI, pointing at `etcd`.
fn cli_config(dir: &std::path::Path, etcd: &Etcd) -> std::path::PathBuf {
    let path = dir.join("ringpost.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nhostname = \"localhost\"\ndata_dir = \"data\"\n[domains]\nlocal = [\"example.com\"]\n\
             [[listener]]\nprotocol = \"imap\"\naddress = \"127.0.0.1:1143\"\ntls = \"starttls\"\n\
             [accounts]\nbackend = \"postgres\"\npostgres = \"host=/run/postgresql dbname=unused\"\n\
             [cluster]\nnode = \"mx1\"\netcd = [\"{}\"]\nadvertise = \"127.0.0.1:7000\"\nlease_ttl = 1\n",
            etcd.endpoints().join("\", \"")
        ),
    )
    .unwrap();
    path
}

fn ringpost(config: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(support::BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn add_node_and_drain_node_through_the_cli() {
    let Some(etcd) = Etcd::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = cli_config(dir.path(), &etcd);
    let (ok, out) = ringpost(&file, &["cluster", "status"]);
    assert!(ok, "{out}");
    assert!(out.contains("no map yet"), "{out}");
    let (ok, out) = ringpost(&file, &["cluster", "init"]);
    assert!(ok && out.contains("map created over mx1"), "{out}");
    let mx1 = join("mx1", &etcd);
    // mx2 has not started: refused unless forced.
    let (ok, out) = ringpost(&file, &["cluster", "add-node", "mx2"]);
    assert!(!ok && out.contains("not live"), "{out}");
    let mx2 = join("mx2", &etcd);
    let (ok, out) = ringpost(&file, &["cluster", "add-node", "mx2", "--dry-run"]);
    assert!(
        ok && out.contains("512 primaries") && out.contains("dry run"),
        "{out}"
    );
    assert_eq!(mx1.map().owned_by(&name("mx2")).count(), 0);
    let (ok, out) = ringpost(&file, &["cluster", "add-node", "mx2"]);
    assert!(ok && out.contains("1024 partitions moved"), "{out}");
    assert!(out.contains("1024 of them move copy-first"), "{out}");
    // Every partition changes (a new primary or a new replica), copy-first: epoch 2 names
    // the handoff, the primary's switch makes it 3.
    let (ok, out) = ringpost(&file, &["cluster", "status"]);
    assert!(ok && out.contains("handoffs under way: 1024"), "{out}");
    let mut admin = Admin::connect(&config("mx1", &etcd)).unwrap();
    assert!(make_handoffs(&mut admin, &[&mx1, &mx2]) > 0);
    // (mx1's refill may have given partitions mx2 as a replica meanwhile, at once: the
    // add-node then planned again from there.)
    let settled = |node: &ClusterHandle, owned: usize| {
        let map = node.map();
        map.owned_by(&name("mx2")).count() == owned
            && map
                .assignments()
                .all(|(_, a)| a.is_some_and(|a| a.handoff.is_none()))
    };
    wait_until("mx1 to see mx2's share", LIMIT, || settled(&mx1, 512));
    let map = mx1.map();
    assert_eq!(map.replicated_by(&name("mx2")).count(), 512);
    let (ok, out) = ringpost(&file, &["cluster", "drain-node", "mx1"]);
    assert!(ok && out.contains("512 primaries"), "{out}");
    assert!(out.contains("512 of them move copy-first"), "{out}");
    // mx1's primaries move copy-first; mx2's partitions only lose their replica mx1, at once.
    assert_eq!(make_handoffs(&mut admin, &[&mx1, &mx2]), 512);
    wait_until("mx2 to hold everything", LIMIT, || {
        settled(&mx2, usize::from(PARTITIONS))
    });
    let map = mx2.map();
    assert_eq!(map.owned_by(&name("mx2")).count(), usize::from(PARTITIONS));
    assert_eq!(state_of(&map, "mx1"), Some(NodeState::Draining));
    assert_eq!(map.replicated_by(&name("mx1")).count(), 0);
    let (ok, out) = ringpost(&file, &["cluster", "status"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("mx1  draining  draining  127.0.0.1:7000  0  0"),
        "{out}"
    );
    assert!(
        out.contains("mx2  live  active  127.0.0.1:7000  1024  0"),
        "{out}"
    );
    assert!(
        out.contains("partitions: 1024 assigned, 1024 served"),
        "{out}"
    );
    // The last placed node cannot be drained.
    let (ok, out) = ringpost(&file, &["cluster", "drain-node", "mx2"]);
    assert!(!ok && out.contains("last placed node"), "{out}");
    mx1.stop();
    mx2.stop();
}

#[test]
fn a_server_stopped_with_sigterm_leaves_the_cluster_at_once() {
    let Some(etcd) = Etcd::start() else { return };
    // A long lease: only the revocation at shutdown can make mx1 down within the test.
    let Some((mut server, _pg, _certs, advertise)) = mx1_server(&etcd, 60) else {
        return;
    };
    let out = server.cli(&["check-config"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "cluster:       node mx1 of cluster main, advertised at 127.0.0.1:{advertise}"
        )),
        "{text}"
    );
    let mx2 = ClusterHandle::start(&config("mx2", &etcd)).unwrap();
    wait_until("mx2 to see mx1 live", LIMIT, || {
        state_of(&mx2.map(), "mx1") == Some(NodeState::Live)
    });
    assert!(server.terminate().success(), "{}", server.log());
    assert!(
        server.log().contains("left the cluster"),
        "{}",
        server.log()
    );
    wait_until("mx2 to see mx1 down", LIMIT, || {
        state_of(&mx2.map(), "mx1") == Some(NodeState::Down)
    });
    mx2.stop();
}

/// etcd over TLS: a node with the members' CA and a client certificate joins and sees the
/// map, as does the CLI's admin connection; without a client certificate, trusting
/// another CA, or in plain http, the members cannot be reached.
#[test]
fn a_node_reaches_etcd_over_tls_with_a_client_certificate() {
    let Some(etcd) = Etcd::start_tls() else {
        return;
    };
    let tls = etcd.tls.as_ref().unwrap();
    let with = |ca: &std::path::Path, identity: bool| ClusterConfig {
        etcd_tls: Some(EtcdTls {
            ca: ca.to_path_buf(),
            identity: identity.then(|| tls.client.clone()),
        }),
        ..config("mx1", &etcd)
    };
    assert!(etcd.endpoints()[0].starts_with("https://"));
    let mx1 = join_with(&with(&tls.ca, true));
    let mut admin = Admin::connect(&with(&tls.ca, true)).unwrap();
    let snapshot = admin.snapshot().unwrap();
    assert!(
        snapshot.members.contains_key(&name("mx1")),
        "{:?}",
        snapshot.members
    );
    assert!(snapshot.map().is_complete());
    // The members ask for a client certificate (--client-cert-auth).
    assert!(Admin::connect(&with(&tls.ca, false)).is_err());
    // The members' certificate is checked against the CA named.
    let other = tempfile::tempdir().unwrap();
    let other_ca = other.path().join("ca.pem");
    let pair = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    std::fs::write(&other_ca, pair.cert.pem()).unwrap();
    assert!(Admin::connect(&with(&other_ca, true)).is_err());
    // Plain http to a TLS member gets nowhere.
    let plain = ClusterConfig {
        etcd: vec![etcd.endpoints()[0].replacen("https://", "http://", 1)],
        ..config("mx1", &etcd)
    };
    assert!(Admin::connect(&plain).is_err());
    mx1.stop();
}
