//! `ringpost cluster status|init|add-node|drain-node`: the cluster map in etcd, read and
//! changed through the `[cluster]` section of the same configuration file (its `etcd`
//! endpoints, `name` and `replicas`).
//!
//! A partition whose new primary was its replica keeps its mail (the replica followed the
//! primary's log); one whose new primary held no copy starts empty there, its mail staying
//! on the old primary until moves copy mail (not built yet): each command counts those
//! moves. Each prints the plan's size; `--dry-run` prints it without writing.

#[cfg(feature = "cluster")]
use std::collections::BTreeMap;

use super::{print, CliError};
#[cfg(feature = "cluster")]
use crate::cluster::etcd::admin::{Admin, Rebalanced};
use crate::cluster::NodeName;
#[cfg(feature = "cluster")]
use crate::cluster::NodeState;
#[cfg(feature = "cluster")]
use crate::config::ClusterConfig;
use crate::config::Config;

/// What `ringpost cluster` was asked.
#[derive(Debug, PartialEq, Eq)]
pub enum ClusterOp {
    Status,
    Init {
        nodes: Vec<String>,
    },
    AddNode {
        node: String,
        force: bool,
        dry_run: bool,
    },
    DrainNode {
        node: String,
        dry_run: bool,
    },
    Where {
        account: String,
    },
}

/// Create `path` with `bytes`, readable by its owner only; an existing file is an error.
fn write_new(path: &std::path::Path, bytes: &[u8]) -> Result<(), CliError> {
    super::dkim::create_private(path, bytes).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::Admin(format!("{} exists: not overwritten", path.display()))
        } else {
            CliError::Admin(format!("{}: {e}", path.display()))
        }
    })
}

/// `ringpost cluster ca DIR`: a new cluster CA.
pub fn make_ca(dir: &std::path::Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::Admin(format!("{}: {e}", dir.display())))?;
    let (cert, key) = crate::tls::new_cluster_ca()
        .map_err(|e| CliError::Admin(format!("cannot make the CA: {e}")))?;
    let key_path = dir.join("ca.key");
    let cert_path = dir.join("ca.pem");
    write_new(&key_path, key.as_bytes())?;
    write_new(&cert_path, cert.as_bytes())?;
    print(&format!(
        "wrote the cluster CA: {} and its key {} (mode 0600; keep the key off the hosts)\n\
         issue each host's certificate with: ringpost cluster cert NODE --ca {}\n",
        cert_path.display(),
        key_path.display(),
        dir.display()
    ))
}

/// `ringpost cluster cert NODE --ca DIR`: NODE's certificate for the internal link.
pub fn make_cert(
    node: &str,
    ca_dir: &std::path::Path,
    out: &std::path::Path,
) -> Result<(), CliError> {
    let node = node_name(node)?;
    let ca_key_path = ca_dir.join("ca.key");
    let ca_key = std::fs::read_to_string(&ca_key_path)
        .map_err(|e| CliError::Admin(format!("{}: {e}", ca_key_path.display())))?;
    let (cert, key) = crate::tls::new_node_cert(&ca_key, node.as_str())
        .map_err(|e| CliError::Admin(format!("cannot issue the certificate: {e}")))?;
    std::fs::create_dir_all(out).map_err(|e| CliError::Admin(format!("{}: {e}", out.display())))?;
    let key_path = out.join(format!("{}.key", node.as_str()));
    let cert_path = out.join(format!("{}.pem", node.as_str()));
    write_new(&key_path, key.as_bytes())?;
    write_new(&cert_path, cert.as_bytes())?;
    print(&format!(
        "wrote {} and {} (mode 0600) for node {}\n\n[cluster]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        cert_path.display(),
        key_path.display(),
        node.as_str(),
        ca_dir.join("ca.pem").display(),
        cert_path.display(),
        key_path.display(),
    ))
}

#[cfg(feature = "cluster")]
fn cluster_config(config: &Config) -> Result<&ClusterConfig, CliError> {
    config.cluster.as_ref().ok_or_else(|| {
        CliError::Usage(format!(
            "{}: there is no [cluster] section (the etcd endpoints are read from it)",
            config.path.display()
        ))
    })
}

fn node_name(name: &str) -> Result<NodeName, CliError> {
    NodeName::new(name).ok_or_else(|| CliError::Usage(format!("{name:?} is not a node name")))
}

#[cfg(feature = "cluster")]
fn failed(e: crate::cluster::etcd::ClusterError) -> CliError {
    CliError::Admin(format!("cluster: {e}"))
}

#[cfg(feature = "cluster")]
pub fn cluster(config: &Config, op: ClusterOp) -> Result<(), CliError> {
    let cluster = cluster_config(config)?;
    let mut admin = Admin::connect(cluster).map_err(failed)?;
    match op {
        ClusterOp::Status => status(&mut admin, cluster),
        ClusterOp::Where { account } => where_is(&mut admin, config, &account),
        ClusterOp::Init { nodes } => {
            let nodes = if nodes.is_empty() {
                vec![node_name(&cluster.node)?]
            } else {
                nodes
                    .iter()
                    .map(|n| node_name(n))
                    .collect::<Result<Vec<_>, _>>()?
            };
            let created = admin.init(&nodes, cluster.replicas).map_err(failed)?;
            let names: Vec<String> = nodes.iter().map(ToString::to_string).collect();
            if created {
                print(&format!(
                    "cluster {}: map created over {}\n",
                    cluster.name,
                    names.join(", ")
                ))
            } else {
                print(&format!(
                    "cluster {}: a map exists already; left as it is\n",
                    cluster.name
                ))
            }
        }
        ClusterOp::AddNode {
            node,
            force,
            dry_run,
        } => {
            let node = node_name(&node)?;
            let done = admin
                .add_node(&node, cluster.replicas, force, dry_run)
                .map_err(failed)?;
            report("add-node", &node, &done, dry_run)
        }
        ClusterOp::DrainNode { node, dry_run } => {
            let node = node_name(&node)?;
            let done = admin
                .drain_node(&node, cluster.replicas, dry_run)
                .map_err(failed)?;
            report("drain-node", &node, &done, dry_run)
        }
    }
}

#[cfg(feature = "cluster")]
fn report(what: &str, node: &NodeName, done: &Rebalanced, dry_run: bool) -> Result<(), CliError> {
    let replicas_only = done.plan.moves.len() - done.primaries;
    let copied = done.plan.moves.iter().filter(|m| m.copy_first).count();
    let uncopied = done
        .plan
        .moves
        .iter()
        .filter(|m| {
            !m.copy_first
                && m.changes_primary()
                && m.from.as_ref().is_some_and(|f| !f.holds(&m.to.primary))
        })
        .count();
    let mut out = format!(
        "{what} {node}: {} partitions change ({} primaries, {replicas_only} replica sets only)\n",
        done.plan.moves.len(),
        done.primaries
    );
    if copied > 0 {
        out.push_str(&format!(
            "{copied} of them move copy-first: their new nodes follow the primary's log, and \
             the primary switches each over once they have caught up (`cluster status` shows \
             the handoffs left)\n"
        ));
    }
    if uncopied > 0 {
        out.push_str(&format!(
            "note: {uncopied} primaries move at once to a node that holds no copy of them (the \
             old primary is down and cannot hand them over): their mail comes back only with \
             that node\n"
        ));
    }
    if dry_run {
        out.push_str("dry run: nothing written\n");
    } else {
        out.push_str(&format!(
            "applied: {} partitions moved, each with its epoch raised by one\n",
            done.applied.moved
        ));
    }
    print(&out)
}

/// `cluster where ACCOUNT`: the account's partition (by its store key in the shared
/// directory) and who holds it.
#[cfg(feature = "cluster")]
fn where_is(admin: &mut Admin, config: &Config, account: &str) -> Result<(), CliError> {
    let accounts = crate::accounts::AccountStore::open_configured(config)
        .map_err(|e| CliError::Admin(format!("accounts: {e}")))?;
    let found = accounts
        .lookup(account)
        .map_err(|e| CliError::Admin(format!("accounts: {e}")))?
        .ok_or_else(|| CliError::Admin(format!("no account {account}")))?;
    let key = found.store_key();
    let partition = crate::placement::Partition::of(&key);
    let map = admin.snapshot().map_err(failed)?.map();
    let mut out = format!("{} partition {}", found.address.as_str(), partition.index());
    match map.assignment(partition) {
        Some(a) => {
            let live = |n: &NodeName| {
                if map.node(n).is_some_and(|n| n.live) {
                    ""
                } else {
                    " (down)"
                }
            };
            let replicas: Vec<String> = a
                .replicas
                .iter()
                .map(|r| format!("{r}{}", live(r)))
                .collect();
            out.push_str(&format!(
                " primary {}{} replicas [{}] epoch {}",
                a.primary,
                live(&a.primary),
                replicas.join(", "),
                a.epoch
            ));
            if let Some(h) = &a.handoff {
                let to: Vec<String> = h.replicas.iter().map(ToString::to_string).collect();
                out.push_str(&format!(
                    " moving to primary {} replicas [{}]",
                    h.primary,
                    to.join(", ")
                ));
            }
            out.push('\n');
        }
        None => out.push_str(" unassigned\n"),
    }
    print(&out)
}

/// Nodes with their state, advertised address and share; then the epochs.
#[cfg(feature = "cluster")]
fn status(admin: &mut Admin, cluster: &ClusterConfig) -> Result<(), CliError> {
    let snapshot = admin.snapshot().map_err(failed)?;
    let map = snapshot.map();
    let mut out = format!(
        "cluster {} (etcd revision {})\n",
        cluster.name, snapshot.revision
    );
    if snapshot.bootstrap.is_none() {
        out.push_str("no map yet: start a node or run `ringpost cluster init`\n");
    }
    out.push_str("node  state  placement  advertise  primaries  replicas\n");
    for node in map.nodes() {
        let placement = match node.placement {
            crate::cluster::Placement::Active => "active",
            crate::cluster::Placement::Draining => "draining",
            crate::cluster::Placement::Unplaced => "unplaced",
        };
        out.push_str(&format!(
            "{}  {}  {placement}  {}  {}  {}\n",
            node.name,
            node.state().name(),
            node.advertise
                .map_or_else(|| "-".to_string(), |a| a.to_string()),
            map.owned_by(&node.name).count(),
            map.replicated_by(&node.name).count(),
        ));
    }
    let assigned = map.assignments().filter(|(_, a)| a.is_some()).count();
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    for (partition, _) in map.assignments() {
        let state = map
            .primary(partition)
            .map_or("unassigned", |n| match n.state() {
                NodeState::Live | NodeState::Draining => "served",
                NodeState::Down => "primary down",
            });
        *by_state.entry(state).or_default() += 1;
    }
    out.push_str(&format!("partitions: {assigned} assigned"));
    for (state, n) in &by_state {
        out.push_str(&format!(", {n} {state}"));
    }
    out.push('\n');
    let moving = map
        .assignments()
        .filter(|(_, a)| a.is_some_and(|a| a.handoff.is_some()))
        .count();
    if moving > 0 {
        out.push_str(&format!(
            "handoffs under way: {moving} (their new nodes are catching up)\n"
        ));
    }
    match map.epoch_range() {
        Some((lo, hi)) => out.push_str(&format!("epochs: {} to {}\n", lo.0, hi.0)),
        None => out.push_str("epochs: none\n"),
    }
    print(&out)
}

/// Without the `cluster` feature there is no etcd client: say how to get one.
#[cfg(not(feature = "cluster"))]
pub fn cluster(_config: &Config, _op: ClusterOp) -> Result<(), CliError> {
    Err(CliError::Usage(crate::cluster::etcd::NOT_BUILT.into()))
}
