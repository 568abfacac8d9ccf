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

/// One cluster at a time: three hosts each, on two cores, starve each other's leases.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serially() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

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

/// Wait until the map's assignment of `partition` satisfies `done`.
fn wait_for_assignment(
    cluster: &mut Cluster,
    partition: Partition,
    what: &str,
    done: impl Fn(&ringpost::cluster::Assignment) -> bool,
) {
    cluster.wait_or_dump(what, |admin| {
        let snapshot = admin.snapshot().unwrap();
        let a = &snapshot.partitions[usize::from(partition.index())]
            .as_ref()
            .unwrap()
            .assignment;
        if done(a) {
            Ok(())
        } else {
            Err(format!("partition {}: {a:?}", partition.index()))
        }
    });
}

#[test]
fn a_drained_primarys_mail_is_served_by_its_replica() {
    let _one = serially();
    let Some(etcd) = Etcd::start() else { return };
    let Some(pg) = Postgres::start() else { return };
    let mut cluster = Cluster::start(&etcd, &pg, "replicated", &["mx1", "mx2", "mx3"], 1, "sync");
    let out = cluster.python("replication.py", &["deliver", "n=12"]);
    assert!(out.contains("delivered 12"), "{out}");
    let out = cluster.python("replication.py", &["count", "n=12"]);
    assert!(out.contains("counted 12"), "{out}");

    // Drain the node serving alice: her partition's replica becomes its primary.
    let (partition, primary, epoch) = primary_of(&mut cluster, "alice@example.com");
    let out = cluster.hosts[0].cli(&["cluster", "where", "ALICE@example.com"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!(
            "alice@example.com partition {} primary {primary} replicas [",
            partition.index()
        )),
        "{text}"
    );
    let moved = cluster.admin.drain_node(&primary, 1, false).unwrap();
    assert!(moved.applied.moved > 0, "{moved:?}");
    wait_for_assignment(
        &mut cluster,
        partition,
        "alice's partition to move",
        |now| now.primary != primary && now.epoch.0 > epoch,
    );
    let out = cluster.python("replication.py", &["count", "n=12"]);
    assert!(out.contains("counted 12"), "{out}");
    let logs: Vec<String> = cluster.hosts.iter().map(|h| h.log()).collect();
    assert!(
        logs.iter().any(|l| l.contains("primary now")),
        "no replica was promoted"
    );
}

#[test]
fn a_killed_primarys_partitions_fail_over_and_no_acknowledged_message_is_lost() {
    let _one = serially();
    let Some(etcd) = Etcd::start() else { return };
    let Some(pg) = Postgres::start() else { return };
    let mut cluster = Cluster::start(&etcd, &pg, "failover", &["mx1", "mx2", "mx3"], 1, "sync");
    let out = cluster.python("replication.py", &["deliver", "n=5"]);
    assert!(out.contains("delivered 5"), "{out}");

    // The victim serves alice; the load goes through another host.
    let (partition, victim, epoch) = primary_of(&mut cluster, "alice@example.com");
    let v = cluster.nodes.iter().position(|n| *n == victim).unwrap();
    let via = (v + 1) % cluster.hosts.len();
    let scratch = tempfile::tempdir().unwrap();
    let acked = scratch.path().join("acked");
    let via_arg = format!("via={via}");
    let out_arg = format!("out={}", acked.display());
    let load = cluster.python_in_background(
        "replication.py",
        &["load", "seconds=12", &via_arg, &out_arg],
    );
    // Beside it, IMAP APPENDs to alice (and more deliveries) on sessions kept open through
    // the same host, reconnecting after a failure, until the failover and a few more.
    let trickled = scratch.path().join("trickled");
    let (flag, ready) = (scratch.path().join("flag"), scratch.path().join("ready"));
    let trickle_args = [
        "trickle".to_string(),
        via_arg.clone(),
        "tag=kill".to_string(),
        format!("out={}", trickled.display()),
        format!("flag={}", flag.display()),
        format!("ready={}", ready.display()),
    ];
    let trickle_args: Vec<&str> = trickle_args.iter().map(String::as_str).collect();
    let imap = cluster.python_in_background("replication.py", &trickle_args);
    wait_until("the IMAP load to begin", LIMIT, || ready.exists());
    std::thread::sleep(std::time::Duration::from_secs(2));
    cluster.hosts[v].kill9();
    let gone = std::time::Instant::now();
    wait_for_assignment(
        &mut cluster,
        partition,
        "alice's partition to fail over",
        |now| now.primary != victim && now.epoch.0 > epoch,
    );
    eprintln!(
        "failover: alice's partition had a new primary {} ms after the kill (lease_ttl = 2 s)",
        gone.elapsed().as_millis()
    );
    std::fs::write(&flag, b"").unwrap();
    for (what, run) in [("the SMTP load", load), ("the IMAP load", imap)] {
        match run.join() {
            Ok(out) => eprintln!("{}", out.lines().last().unwrap_or("")),
            Err(why) => {
                cluster.dump_logs();
                panic!("{what} failed: {why}");
            }
        }
    }
    let file_arg = format!("file={}", acked.display());
    let skip_arg = format!("skip={v}");
    let out = cluster.python("replication.py", &["acked", &file_arg, &skip_arg]);
    assert!(out.contains("acked: ok"), "{out}");
    let files_arg = format!("files={}", trickled.display());
    let out = cluster.python("replication.py", &["verify", &files_arg, &skip_arg]);
    assert!(out.contains("verified:"), "{out}");

    // Writes to alice's partition dropped the dead victim from its replicas after a few
    // seconds (sync goes on without a replica that cannot confirm), and refill gave it a
    // live one, which caught up. The victim comes back; draining alice's primary now moves
    // her partition to that replica, and every acknowledged message is there.
    let snapshot = cluster.admin.snapshot().unwrap();
    let a = &snapshot.partitions[usize::from(partition.index())]
        .as_ref()
        .unwrap()
        .assignment;
    assert!(!a.replicas.contains(&victim), "{a:?}");
    cluster.hosts[v].spawn();
    let out = cluster.python("replication.py", &["deliver", "n=5"]);
    assert!(out.contains("delivered 5"), "{out}");
    let (_, now, epoch) = primary_of(&mut cluster, "alice@example.com");
    let moved = cluster.admin.drain_node(&now, 1, false).unwrap();
    assert!(moved.applied.moved > 0, "{moved:?}");
    wait_for_assignment(
        &mut cluster,
        partition,
        "alice's partition to move to its replica",
        |a| a.primary != now && a.epoch.0 > epoch,
    );
    let out = cluster.python("replication.py", &["acked", &file_arg]);
    assert!(out.contains("acked: ok"), "{out}");
    let snapshots = cluster
        .hosts
        .iter()
        .filter(|h| h.log().contains("snapshot installed"))
        .count();
    eprintln!("{snapshots} host(s) caught up from a copy of the files somewhere");
}

/// The replica of alice's partition is frozen (SIGSTOP) while its primary acknowledges mail
/// without it (`async`); the primary is killed, the replica thaws and is promoted, and new
/// mail goes to it. The old primary's log now holds records no other host has: when it
/// comes back it cannot follow the log and starts over from a copy of the new primary's
/// files. What async replication acknowledged and the replica never received is lost with
/// the old primary's log (async's bargain); everything before and since is there, once, on
/// every host.
#[test]
fn an_old_primary_whose_log_went_further_starts_over_from_a_snapshot() {
    let _one = serially();
    let Some(etcd) = Etcd::start() else { return };
    let Some(pg) = Postgres::start() else { return };
    let mut cluster = Cluster::start(&etcd, &pg, "diverged", &["mx1", "mx2", "mx3"], 1, "async");
    let out = cluster.python("replication.py", &["deliver", "n=3", "prefix=before"]);
    assert!(out.contains("delivered 3"), "{out}");
    let out = cluster.python("replication.py", &["count", "n=3", "prefix=before"]);
    assert!(out.contains("counted 3"), "{out}");

    let (partition, old, epoch) = primary_of(&mut cluster, "alice@example.com");
    let snapshot = cluster.admin.snapshot().unwrap();
    let replica = snapshot.partitions[usize::from(partition.index())]
        .as_ref()
        .unwrap()
        .assignment
        .replicas[0]
        .clone();
    let o = cluster.nodes.iter().position(|n| *n == old).unwrap();
    let r = cluster.nodes.iter().position(|n| *n == replica).unwrap();
    let via = (0..3).find(|i| *i != o && *i != r).unwrap();
    let via_arg = format!("via={via}");

    // Only to alice: the frozen host may be bob's primary, and his deliveries then wait for
    // it (and get 451 once the link call times out).
    cluster.hosts[r].signal("STOP");
    let out = cluster.python(
        "replication.py",
        &["deliver", "n=4", &via_arg, "prefix=lost", "users=alice"],
    );
    assert!(out.contains("delivered 4"), "{out}");
    cluster.hosts[o].kill9();
    cluster.hosts[r].signal("CONT");
    wait_for_assignment(
        &mut cluster,
        partition,
        "the thawed replica to be promoted",
        |a| a.primary == replica && a.epoch.0 > epoch,
    );
    let out = cluster.python(
        "replication.py",
        &["deliver", "n=5", &via_arg, "prefix=after"],
    );
    assert!(out.contains("delivered 5"), "{out}");

    // The old primary returns, is told its log is not on the new primary's, and copies it.
    cluster.hosts[o].spawn();
    let (_, now, epoch) = primary_of(&mut cluster, "alice@example.com");
    assert_eq!(now, replica);
    let deadline = std::time::Instant::now() + LIMIT;
    while !cluster.hosts[o].log().contains("snapshot installed") {
        if std::time::Instant::now() > deadline {
            cluster.dump_logs();
            panic!("the old primary installed no snapshot");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let moved = cluster.admin.drain_node(&replica, 1, false).unwrap();
    assert!(moved.applied.moved > 0, "{moved:?}");
    wait_for_assignment(
        &mut cluster,
        partition,
        "alice's partition to return to the old primary",
        |a| a.primary == old && a.epoch.0 > epoch,
    );
    // (Of the "lost" messages, the replica may have had some in its socket when it thawed.)
    for (n, prefix) in [("n=3", "prefix=before"), ("n=5", "prefix=after")] {
        let out = cluster.python("replication.py", &["count", n, prefix, "users=alice"]);
        assert!(out.contains("counted"), "{out}");
    }
}

/// A fourth host joins three under an SMTP load: `cluster add-node` moves its share
/// copy-first — the new host follows each partition's log as a learner (`sync` does not wait
/// for it), and the primary switches the map over once it has caught up, writes paused for
/// that last stretch; a switch before that would lose what the learner had not received.
/// Then alice's primary is drained under the same load, her replica taking over the same
/// way, and her IMAP and POP3 sessions there end with a reconnect. Every acknowledged
/// message is there exactly once through every host, the new one too.
#[test]
fn a_fourth_host_joins_under_load_and_partitions_move_copy_first() {
    let _one = serially();
    let Some(etcd) = Etcd::start() else { return };
    let Some(pg) = Postgres::start() else { return };
    let mut cluster = Cluster::start(&etcd, &pg, "joining", &["mx1", "mx2", "mx3"], 1, "sync");
    let out = cluster.python("replication.py", &["deliver", "n=3", "prefix=before"]);
    assert!(out.contains("delivered 3"), "{out}");

    let scratch = tempfile::tempdir().unwrap();
    let acked = scratch.path().join("acked");
    let out_arg = format!("out={}", acked.display());
    let load =
        cluster.python_in_background("replication.py", &["load", "seconds=20", "via=0", &out_arg]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    cluster.add_host("mx4");
    let mx4 = NodeName::new("mx4").unwrap();
    let added = cluster.admin.add_node(&mx4, 1, false, false).unwrap();
    let copy_first = added.plan.moves.iter().filter(|m| m.copy_first).count();
    assert!(added.primaries > 0 && copy_first > 0, "{added:?}");
    let began = std::time::Instant::now();
    let settled = |cluster: &mut Cluster, what: &str| {
        cluster.wait_or_dump(what, |admin| {
            let map = admin.snapshot().unwrap().map();
            let left: Vec<_> = map
                .assignments()
                .filter_map(|(p, a)| a.filter(|a| a.handoff.is_some()).map(|a| (p, a.clone())))
                .collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("handoffs left: {left:?}"))
            }
        })
    };
    settled(&mut cluster, "every handoff to mx4 to be made");
    let map = cluster.admin.snapshot().unwrap().map();
    let on_mx4 = map.owned_by(&mx4).count();
    assert!(on_mx4 > 0, "mx4 serves no partition");
    eprintln!(
        "add-node: {copy_first} copy-first moves made in {} ms under load; mx4 is primary of \
         {on_mx4} partitions",
        began.elapsed().as_millis()
    );

    // Alice's primary drained under the same load: her replica (or mx4) takes over once it
    // has her whole log.
    // Her IMAP and POP3 sessions on that host end with a reconnect once it is not hers.
    let (partition, primary, epoch) = primary_of(&mut cluster, "alice@example.com");
    let p = cluster.nodes.iter().position(|n| *n == primary).unwrap();
    let ready = scratch.path().join("ready");
    let (via_arg, ready_arg) = (format!("via={p}"), format!("ready={}", ready.display()));
    let sessions = cluster.python_in_background("replication.py", &["moved", &via_arg, &ready_arg]);
    wait_until("alice's sessions to be open", LIMIT, || ready.exists());
    let drained = cluster.admin.drain_node(&primary, 1, false).unwrap();
    assert!(drained.applied.moved > 0, "{drained:?}");
    wait_for_assignment(
        &mut cluster,
        partition,
        "alice's partition to be handed off",
        |a| a.primary != primary && a.epoch.0 > epoch && a.handoff.is_none(),
    );
    for (what, run) in [("the sessions", sessions), ("the load", load)] {
        let out = match run.join() {
            Ok(out) => out,
            Err(why) => {
                cluster.dump_logs();
                panic!("{what} failed: {why}");
            }
        };
        eprintln!("{out}");
    }
    settled(&mut cluster, "every handoff to be made");
    let file_arg = format!("file={}", acked.display());
    let out = cluster.python("replication.py", &["acked", &file_arg]);
    assert!(out.contains("acked: ok"), "{out}");
    let out = cluster.python("replication.py", &["count", "n=3", "prefix=before"]);
    assert!(out.contains("counted 3"), "{out}");
    let made = cluster
        .hosts
        .iter()
        .map(|h| h.log().matches("handoff made").count())
        .sum::<usize>();
    assert!(
        made >= copy_first,
        "{made} handoffs logged for {copy_first} moves"
    );
    let failovers = cluster
        .hosts
        .iter()
        .map(|h| h.log().matches("failover: live replicas promoted").count())
        .sum::<usize>();
    eprintln!("{made} handoffs made, {failovers} failovers (the machine starved a lease)");
}
