//! Any host takes any client (issue 19): three ringpost hosts on loopback, one real etcd
//! holding the map (made over the three with `ringpost cluster init`), one real PostgreSQL
//! holding the account directory they share, the internal link
//! over mutual TLS with certificates from `ringpost cluster ca` / `cluster cert`. Python's
//! clients then log in, append, deliver, read and PROPFIND through every host
//! (tests/clients/cluster.py), and the logs show sessions relayed and continued.
// They need the etcd client, built only with the `cluster` feature (and protoc).
#![cfg(feature = "cluster")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ringpost::cluster::etcd::admin::Admin;
use ringpost::cluster::NodeName;
use ringpost::config::{ClusterConfig, Replication};
use support::etcd::{wait_until, Etcd};
use support::pg::Postgres;

const NODES: [&str; 3] = ["mx1", "mx2", "mx3"];
const LIMIT: Duration = Duration::from_secs(60);

fn ringpost(args: &[&str]) -> String {
    let out = Command::new(support::BIN).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "ringpost {args:?}: {text}");
    text
}

/// The cluster CA and every node's certificate, made as the README says.
fn certificates(dir: &Path) -> PathBuf {
    let ca = dir.join("ca");
    let out = ringpost(&["cluster", "ca", ca.to_str().unwrap()]);
    assert!(out.contains("ca.pem"), "{out}");
    for node in NODES {
        let out = ringpost(&["cluster", "cert", node, "--ca", ca.to_str().unwrap()]);
        assert!(out.contains(&format!("{node}.pem")), "{out}");
    }
    ca
}

fn observer(etcd: &Etcd) -> ClusterConfig {
    ClusterConfig {
        node: "observer".into(),
        name: "main".into(),
        etcd: etcd.endpoints(),
        advertise: "127.0.0.1:9".parse().unwrap(),
        replicas: 0,
        replication: Replication::Sync,
        lease_ttl: Duration::from_secs(1),
        tls: None,
    }
}

#[test]
fn any_host_serves_any_account_over_the_internal_link() {
    let Some(etcd) = Etcd::start() else { return };
    let Some(pg) = Postgres::start() else { return };
    pg.create_database("accounts");
    let dir = tempfile::tempdir().unwrap();
    let ca = certificates(dir.path());
    let mut admin = Admin::connect(&observer(&etcd)).unwrap();
    let nodes: Vec<NodeName> = NODES.iter().map(|n| NodeName::new(n).unwrap()).collect();
    assert!(admin.init(&nodes, 0).unwrap(), "the map is new");

    // One certificate for the clients on every host, as behind one DNS name.
    let pair =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let (tls_cert, tls_key) = (dir.path().join("tls.pem"), dir.path().join("tls.key"));
    std::fs::write(&tls_cert, pair.cert.pem()).unwrap();
    std::fs::write(&tls_key, pair.key_pair.serialize_pem()).unwrap();
    let advertise = support::free_ports(NODES.len());
    let hosts: Vec<support::Server> = NODES
        .iter()
        .zip(&advertise)
        .map(|(node, port)| {
            let extra = format!(
                "[tls]\ncert = \"{}\"\nkey = \"{}\"\n[auth]\nfailure_delay_ms = 50\n[accounts]\nbackend = \"postgres\"\npostgres = \"{}\"\n\
                 [cluster]\nnode = \"{node}\"\netcd = [\"{}\"]\n\
                 advertise = \"127.0.0.1:{port}\"\nreplicas = 0\nlease_ttl = 2\n\
                 ca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
                tls_cert.display(),
                tls_key.display(),
                pg.connection("accounts"),
                etcd.endpoints()[0],
                ca.join("ca.pem").display(),
                ca.join(format!("{node}.pem")).display(),
                ca.join(format!("{node}.key")).display(),
            );
            support::Server::start(support::Options {
                extra,
                http: true,
                add_users: false,
                ..Default::default()
            })
        })
        .collect();
    // One directory: alice and bob are added once, through any host.
    for (user, pass) in [support::ALICE, support::BOB] {
        let out = hosts[1].cli(&["user", "add", user], Some(pass));
        assert!(out.status.success(), "{out:?}");
    }
    wait_until("every host to hold its lease", LIMIT, || {
        let snapshot = admin.snapshot().unwrap();
        nodes
            .iter()
            .all(|n| snapshot.members.get(n).is_some_and(|a| a.is_some()))
    });

    let bundle = tls_cert;
    let ports: Vec<serde_json::Value> = hosts
        .iter()
        .map(|h| serde_json::to_value(&h.ports).unwrap())
        .collect();
    let ports = serde_json::to_string(&ports).unwrap();
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        hosts[0].python_with_ca("cluster.py", bundle.to_str().unwrap(), &[&ports])
    }));
    let out = match run {
        Ok(out) => out,
        Err(e) => {
            for (node, host) in NODES.iter().zip(&hosts) {
                eprintln!("--- {node}\n{}", host.log());
            }
            std::panic::resume_unwind(e);
        }
    };
    assert!(out.contains("cluster: ok"), "{out}");

    // alice's and bob's sessions reached hosts that do not serve them, and were continued
    // where they live; a delivery's copies crossed the link the same way.
    let logs: Vec<String> = hosts.iter().map(|h| h.log()).collect();
    assert!(
        logs.iter()
            .any(|l| l.contains("session continued on another host")),
        "no session was relayed"
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("session continued here from another host")),
        "no session was continued"
    );
}
