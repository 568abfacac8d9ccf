//! The cluster map's etcd side: reads, the bootstrap, compare-and-swap of partitions, the
//! membership thread ([`coordinator`]) and the administration the CLI runs ([`admin`]).
//!
//! The only files of ours that name etcd-client and tokio besides the auth thread
//! (`runtime/auth_checks.rs`): everything here runs on a thread of its own with a tokio
//! current-thread runtime, never on a shard (tests/layering.rs checks it). The keys and
//! values are [`super::schema`]'s.

pub mod admin;
pub mod coordinator;

use std::time::Duration;

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, Identity,
    TlsOptions, Txn, TxnOp, WatchResponse,
};

use super::map::{Assignment, NodeName, Placement};
use super::plan::{self, Move};
use super::schema::{self, Bootstrap, Keys, Snapshot};
use crate::config::EtcdTls;
use crate::placement::Partition;

pub use coordinator::ClusterHandle;

/// Partitions changed in one transaction: etcd refuses a transaction of more than 128
/// operations by default (`--max-txn-ops`); each partition takes one compare and one put.
const PARTITIONS_PER_TXN: usize = 100;

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    #[error("etcd did not answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Refused(String),
    #[error("cannot start the cluster thread: {0}")]
    Thread(std::io::Error),
}

/// A client for one of `endpoints` that answers a linearizable read (so it is part of a
/// quorum): every member is asked at once and the first good answer wins (the others are
/// dropped), so a member that is cut off or down costs no wait when another answers. A
/// member that refuses (no leader during an election, say) is asked again every 100 ms until
/// `timeout` has passed since the start. `start` only rotates which member is asked first.
/// `require_leader`: a member cut off from its cluster's quorum refuses calls instead of
/// answering from a stale copy. One member per client, not etcd-client's balanced channel,
/// which keeps sending calls to a member that is down: a lost member ends the connection and
/// the caller's next `connect` asks them all again.
pub async fn connect(
    endpoints: &[String],
    tls: Option<&EtcdTls>,
    start: usize,
    timeout: Duration,
) -> Result<Client, ClusterError> {
    let until = tokio::time::Instant::now() + timeout;
    // Read at each connect, so renewed certificates are taken without a restart.
    let tls = tls.map(tls_options).transpose()?;
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..endpoints.len() {
        let endpoint = endpoints[(start + i) % endpoints.len()].clone();
        let tls = tls.clone();
        attempts.spawn(async move {
            loop {
                let left = until.saturating_duration_since(tokio::time::Instant::now());
                let failed = match bounded(left, attempt(&endpoint, tls.clone(), timeout)).await {
                    Ok(client) => return Ok(client),
                    Err(e) => e,
                };
                tracing::debug!(target: "ringpost::cluster", endpoint = %endpoint, error = %failed, "etcd endpoint not usable");
                if tokio::time::Instant::now() + Duration::from_millis(100) >= until {
                    return Err(failed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    let mut last = ClusterError::Refused("no etcd endpoint".into());
    while let Some(joined) = attempts.join_next().await {
        match joined {
            // Dropping the set aborts the attempts still running.
            Ok(Ok(client)) => return Ok(client),
            Ok(Err(e)) => last = e,
            Err(e) => last = ClusterError::Refused(format!("etcd connect attempt: {e}")),
        }
    }
    Err(last)
}

/// The TLS settings of `tls`'s files.
fn tls_options(tls: &EtcdTls) -> Result<TlsOptions, ClusterError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| {
            ClusterError::Refused(format!("etcd TLS: cannot read {}: {e}", path.display()))
        })
    };
    let mut options = TlsOptions::new().ca_certificate(Certificate::from_pem(read(&tls.ca)?));
    if let Some((cert, key)) = &tls.identity {
        options = options.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(options)
}

/// A client of `endpoint` alone that has answered a linearizable read.
async fn attempt(
    endpoint: &str,
    tls: Option<TlsOptions>,
    timeout: Duration,
) -> Result<Client, etcd_client::Error> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(timeout)
        .with_timeout(timeout)
        .with_keep_alive(timeout, timeout)
        .with_require_leader(true);
    if let Some(tls) = tls {
        options = options.with_tls(tls);
    }
    let mut client = Client::connect([endpoint], Some(options)).await?;
    client
        .get("/ringpost/", Some(GetOptions::new().with_count_only()))
        .await?;
    Ok(client)
}

/// `work`, or [`ClusterError::Timeout`] after `limit`.
async fn bounded<T>(
    limit: Duration,
    work: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, ClusterError> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(ClusterError::Timeout(limit)),
    }
}

/// Everything under the cluster's prefix, at one revision.
pub async fn read(client: &mut Client, keys: &Keys) -> Result<Snapshot, ClusterError> {
    let response = client
        .get(keys.prefix(), Some(GetOptions::new().with_prefix()))
        .await?;
    let mut snapshot = Snapshot::new(keys.clone());
    for kv in response.kvs() {
        snapshot.put(kv.key(), kv.value(), kv.mod_revision());
    }
    if let Some(header) = response.header() {
        snapshot.revision = header.revision();
    }
    Ok(snapshot)
}

/// Apply a watch response's events to `snapshot`; returns whether anything of ours changed.
pub fn apply_events(snapshot: &mut Snapshot, response: &WatchResponse) -> bool {
    let mut changed = false;
    for event in response.events() {
        let Some(kv) = event.kv() else { continue };
        changed |= match event.event_type() {
            EventType::Put => snapshot.put(kv.key(), kv.value(), kv.mod_revision()),
            EventType::Delete => snapshot.delete(kv.key(), kv.mod_revision()),
        };
    }
    if response.events().is_empty() {
        // A progress notification: every event up to its revision has been sent.
        if let Some(header) = response.header() {
            snapshot.revision = snapshot.revision.max(header.revision());
        }
    }
    changed
}

/// Create the bootstrap record naming `nodes` (and mark each placed) unless one exists.
/// Returns whether this call created it.
pub async fn claim_bootstrap(
    client: &mut Client,
    keys: &Keys,
    nodes: &[NodeName],
    replicas: usize,
) -> Result<bool, ClusterError> {
    let record = Bootstrap {
        nodes: nodes.iter().map(ToString::to_string).collect(),
        replicas,
    };
    let mut puts = vec![TxnOp::put(keys.bootstrap(), record.encode(), None)];
    for node in nodes {
        puts.push(TxnOp::put(
            keys.node(node),
            schema::encode_placement(Placement::Active),
            None,
        ));
    }
    let txn = Txn::new()
        .when([Compare::create_revision(
            keys.bootstrap(),
            CompareOp::Equal,
            0,
        )])
        .and_then(puts);
    Ok(client.txn(txn).await?.succeeded())
}

/// Create every partition the bootstrap record's plan has and etcd does not yet, each only if
/// still absent: run by any number of nodes at once, the result is the one map.
pub async fn complete_bootstrap(client: &mut Client, keys: &Keys) -> Result<(), ClusterError> {
    let snapshot = read(client, keys).await?;
    let Some(record) = &snapshot.bootstrap else {
        return Err(ClusterError::Refused("no bootstrap record".into()));
    };
    let Some(nodes) = record.node_names() else {
        return Err(ClusterError::Refused(
            "the bootstrap record names a bad node".into(),
        ));
    };
    let empty = super::map::ClusterMap::empty();
    let plan = plan::plan(&empty, &nodes, record.replicas)
        .map_err(|e| ClusterError::Refused(format!("bootstrap: {e}")))?;
    let missing: Vec<&Move> = plan
        .moves
        .iter()
        .filter(|m| snapshot.partitions[usize::from(m.partition.index())].is_none())
        .collect();
    for batch in missing.chunks(PARTITIONS_PER_TXN) {
        let compares: Vec<Compare> = batch
            .iter()
            .map(|m| Compare::create_revision(keys.partition(m.partition), CompareOp::Equal, 0))
            .collect();
        let puts: Vec<TxnOp> = batch
            .iter()
            .map(|m| {
                TxnOp::put(
                    keys.partition(m.partition),
                    schema::encode_assignment(&m.to.after(None)),
                    None,
                )
            })
            .collect();
        // Refused: another node created some of these meanwhile; the same values, since the
        // plan is deterministic. The next read sees them.
        client.txn(Txn::new().when(compares).and_then(puts)).await?;
    }
    Ok(())
}

/// Set `partition` to `next` if its key's mod_revision is still `expected` (0: the key must
/// not exist). Returns whether it was set; a writer that read an older state is refused.
pub async fn compare_and_set(
    client: &mut Client,
    keys: &Keys,
    partition: Partition,
    expected: i64,
    next: &Assignment,
) -> Result<bool, ClusterError> {
    let key = keys.partition(partition);
    let compare = if expected == 0 {
        Compare::create_revision(key.clone(), CompareOp::Equal, 0)
    } else {
        Compare::mod_revision(key.clone(), CompareOp::Equal, expected)
    };
    let txn = Txn::new().when([compare]).and_then([TxnOp::put(
        key,
        schema::encode_assignment(next),
        None,
    )]);
    Ok(client.txn(txn).await?.succeeded())
}

/// What applying moves did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    /// Partitions changed.
    pub moved: usize,
    /// Partitions left as they were because someone changed them after `snapshot` was read
    /// (their whole transaction was refused).
    pub refused: usize,
    /// Partitions not tried: the time given ran out first.
    pub left: usize,
}

/// Apply `moves` (planned from `snapshot`) in transactions of [`PARTITIONS_PER_TXN`], each
/// comparing every partition's mod_revision with the snapshot's and raising its epoch by one.
pub async fn apply_moves(
    client: &mut Client,
    snapshot: &Snapshot,
    moves: &[Move],
) -> Result<Applied, ClusterError> {
    apply_batches(client, snapshot, moves, PARTITIONS_PER_TXN, None, |_| {
        Vec::new()
    })
    .await
}

/// Partitions failed over in one transaction: besides one compare per partition, each names
/// the member key of every old primary in it (at most one per partition), and etcd limits
/// compares to 128 as it does puts.
const FAILOVERS_PER_TXN: usize = 64;

/// Apply failover moves ([`plan::failover`], planned from `snapshot`; refills,
/// [`plan::refill`], may come along) as [`apply_moves`] does, each transaction also
/// requiring that every old primary it replaces still has no member key: a primary whose
/// lease came back (a snapshot that missed it, or a node that restarted meanwhile) keeps
/// its partitions. A move that keeps its primary adds no such compare. No transaction starts after `until` (the
/// ones not tried are counted in [`Applied::left`]); none is cut off midway.
pub async fn apply_failover(
    client: &mut Client,
    snapshot: &Snapshot,
    moves: &[Move],
    until: tokio::time::Instant,
) -> Result<Applied, ClusterError> {
    let keys = snapshot.keys().clone();
    apply_batches(
        client,
        snapshot,
        moves,
        FAILOVERS_PER_TXN,
        Some(until),
        |batch| {
            let mut gone: Vec<&NodeName> = batch
                .iter()
                .filter(|m| m.changes_primary())
                .filter_map(|m| m.from.as_ref().map(|a| &a.primary))
                .collect();
            gone.sort();
            gone.dedup();
            gone.into_iter()
                .map(|node| Compare::create_revision(keys.member(node), CompareOp::Equal, 0))
                .collect()
        },
    )
    .await
}

/// Apply `moves` in transactions of `per_txn` partitions, each comparing every partition's
/// mod_revision with the snapshot's (plus the compares `guard` adds for the batch) and
/// raising its epoch by one; none started after `until`.
async fn apply_batches(
    client: &mut Client,
    snapshot: &Snapshot,
    moves: &[Move],
    per_txn: usize,
    until: Option<tokio::time::Instant>,
    guard: impl Fn(&[Move]) -> Vec<Compare>,
) -> Result<Applied, ClusterError> {
    let keys = snapshot.keys();
    let mut applied = Applied::default();
    for batch in moves.chunks(per_txn) {
        if until.is_some_and(|until| tokio::time::Instant::now() >= until) {
            applied.left += batch.len();
            continue;
        }
        let mut compares = guard(batch);
        let mut puts = Vec::with_capacity(batch.len());
        for m in batch {
            let current = snapshot.partitions[usize::from(m.partition.index())].as_ref();
            let key = keys.partition(m.partition);
            compares.push(match current {
                Some(v) => Compare::mod_revision(key.clone(), CompareOp::Equal, v.mod_revision),
                None => Compare::create_revision(key.clone(), CompareOp::Equal, 0),
            });
            let next = m.next(current.map(|v| &v.assignment));
            puts.push(TxnOp::put(key, schema::encode_assignment(&next), None));
        }
        if client
            .txn(Txn::new().when(compares).and_then(puts))
            .await?
            .succeeded()
        {
            applied.moved += batch.len();
        } else {
            applied.refused += batch.len();
        }
    }
    Ok(applied)
}

/// Remove `replica` from `partition`'s replicas (raising its epoch by one) if the partition's
/// key still names `primary` as primary at `epoch` and `replica` as one of its replicas; a
/// handoff under way stays. Returns whether it was done (see [`change_as_primary`]).
pub async fn drop_replica(
    client: &mut Client,
    keys: &Keys,
    primary: &NodeName,
    partition: Partition,
    replica: &NodeName,
    epoch: u64,
) -> Result<bool, ClusterError> {
    change_as_primary(client, keys, primary, partition, epoch, |current| {
        current.replicas.contains(replica).then(|| Assignment {
            primary: current.primary.clone(),
            replicas: current
                .replicas
                .iter()
                .filter(|r| *r != replica)
                .cloned()
                .collect(),
            epoch: super::map::Epoch(epoch + 1),
            handoff: current.handoff.clone(),
        })
    })
    .await
}

/// Make `partition`'s handoff (the next epoch names the handoff's primary and replicas) if
/// its key still names `primary` as primary at `epoch` with a handoff under way. Returns
/// whether it was done (see [`change_as_primary`]).
pub async fn hand_off(
    client: &mut Client,
    keys: &Keys,
    primary: &NodeName,
    partition: Partition,
    epoch: u64,
) -> Result<bool, ClusterError> {
    change_as_primary(
        client,
        keys,
        primary,
        partition,
        epoch,
        Assignment::handed_off,
    )
    .await
}

/// Replace `partition`'s assignment by what `next` makes of it, if its key still names
/// `primary` as primary at `epoch` and `next` makes something; the put compares on the
/// mod_revision of the value read, so a map that moved on meanwhile refuses it. Returns
/// whether it was done.
async fn change_as_primary(
    client: &mut Client,
    keys: &Keys,
    primary: &NodeName,
    partition: Partition,
    epoch: u64,
    next: impl FnOnce(&Assignment) -> Option<Assignment>,
) -> Result<bool, ClusterError> {
    let response = client.get(keys.partition(partition), None).await?;
    let Some(kv) = response.kvs().first() else {
        return Ok(false);
    };
    let Some(current) = schema::decode_assignment(kv.value()) else {
        return Ok(false);
    };
    if current.primary != *primary || current.epoch.0 != epoch {
        return Ok(false);
    }
    let Some(next) = next(&current) else {
        return Ok(false);
    };
    compare_and_set(client, keys, partition, kv.mod_revision(), &next).await
}

/// Mark `node` placed (`Active`) or draining.
pub async fn set_placement(
    client: &mut Client,
    keys: &Keys,
    node: &NodeName,
    placement: Placement,
) -> Result<(), ClusterError> {
    client
        .put(keys.node(node), schema::encode_placement(placement), None)
        .await?;
    Ok(())
}
