//! The metrics listener's text: Prometheus' text exposition format (version 0.0.4) of the
//! figures the shards count (see [`crate::runtime::net::sessions::Counters`]), with the
//! `# HELP` and `# TYPE` lines that make each family self-describing.

/// What each family means. A family not named here gets a generic help line.
const HELP: &[(&str, &str)] = &[
    (
        "ringpost_uptime_seconds",
        "Seconds since the server started.",
    ),
    ("ringpost_shards", "Shards (cores) serving."),
    (
        "ringpost_connections_open",
        "Connections open now, by protocol.",
    ),
    (
        "ringpost_connections_total",
        "Connections accepted, by protocol.",
    ),
    (
        "ringpost_connections_refused_total",
        "Connections refused for a connection limit, by protocol.",
    ),
    (
        "ringpost_logins_total",
        "Logins (and workspace sign-ins), by protocol and result.",
    ),
    (
        "ringpost_requests_refused_total",
        "Requests refused for a configured limit, by protocol.",
    ),
    (
        "ringpost_session_bytes_total",
        "Bytes received and sent by sessions that ended.",
    ),
    (
        "ringpost_messages_total",
        "Messages received over SMTP, by result.",
    ),
    (
        "ringpost_message_bytes_total",
        "Bytes of messages accepted over SMTP.",
    ),
    (
        "ringpost_recipients_total",
        "Recipients of accepted messages: delivered locally or queued.",
    ),
    ("ringpost_queue_messages", "Messages in the outbound queue."),
    (
        "ringpost_accounts_loaded",
        "Accounts whose mailbox index is in memory.",
    ),
    (
        "ringpost_shard_connections_open",
        "Connections open now, by shard.",
    ),
    (
        "ringpost_commands_total",
        "Commands (HTTP: requests) of sessions that ended, by protocol.",
    ),
    (
        "ringpost_request_duration_seconds",
        "How long the work a session handed its service took (mailbox, maildrop, delivery, web), by protocol.",
    ),
    (
        "ringpost_logins_by_mechanism_total",
        "Logins by SASL mechanism or protocol command, and result.",
    ),
    (
        "ringpost_listener_connections_total",
        "Connections accepted, by listener.",
    ),
    (
        "ringpost_store_records_total",
        "Records made durable in the store (appends, flag changes, expunges...).",
    ),
    ("ringpost_store_bytes_total", "Bytes of records written to the store's log."),
    (
        "ringpost_store_syncs_total",
        "Partition log writes, each ended by one fdatasync.",
    ),
    (
        "ringpost_store_sync_duration_seconds",
        "How long a partition log write took, fdatasync included.",
    ),
    (
        "ringpost_queue_depth",
        "Messages the outbound queue runners hold, by state.",
    ),
    (
        "ringpost_cluster_nodes",
        "Cluster nodes in this host's map, by state (live, draining, down).",
    ),
    (
        "ringpost_cluster_partitions",
        "Partitions this host holds in the cluster map, by role (primary, replica).",
    ),
    (
        "ringpost_cluster_revision",
        "The etcd revision of this host's cluster map.",
    ),
    (
        "ringpost_cluster_fenced",
        "1 while this host may have lost its etcd lease (it must not act as a primary).",
    ),
    (
        "ringpost_cluster_maps_total",
        "Cluster maps published by the cluster thread since the start.",
    ),
];

/// Families that are histograms (their samples end in `_bucket`, `_sum`, `_count`).
const HISTOGRAMS: &[&str] = &[
    "ringpost_request_duration_seconds",
    "ringpost_store_sync_duration_seconds",
];

/// The family a sample line belongs to: its name up to `{` or the space, without a
/// histogram's sample suffix.
fn family(line: &str) -> &str {
    let end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..end];
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if HISTOGRAMS.contains(&base) {
                return base;
            }
        }
    }
    name
}

/// `samples` (`name{labels} value` lines, each family's together) with each family's
/// `# HELP` and `# TYPE` before its first sample. [`HISTOGRAMS`] are histograms, names
/// ending in `_total` counters, the rest gauges.
pub fn exposition(samples: &[String]) -> String {
    let mut out = String::with_capacity(samples.len() * 64);
    let mut previous = "";
    for line in samples {
        let name = family(line);
        if name != previous {
            let help = HELP
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("A ringpost figure.", |(_, h)| h);
            let kind = if HISTOGRAMS.contains(&name) {
                "histogram"
            } else if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            previous = name;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_is_described_once_before_its_samples() {
        let text = exposition(&[
            "ringpost_uptime_seconds 9".to_string(),
            "ringpost_logins_total{protocol=\"imap\",result=\"failed\"} 3".to_string(),
            "ringpost_logins_total{protocol=\"pop3\",result=\"failed\"} 0".to_string(),
        ]);
        assert_eq!(
            text,
            "# HELP ringpost_uptime_seconds Seconds since the server started.\n\
             # TYPE ringpost_uptime_seconds gauge\n\
             ringpost_uptime_seconds 9\n\
             # HELP ringpost_logins_total Logins (and workspace sign-ins), by protocol and result.\n\
             # TYPE ringpost_logins_total counter\n\
             ringpost_logins_total{protocol=\"imap\",result=\"failed\"} 3\n\
             ringpost_logins_total{protocol=\"pop3\",result=\"failed\"} 0\n"
        );
        let text = exposition(&[
            "ringpost_store_sync_duration_seconds_bucket{le=\"+Inf\"} 2".to_string(),
            "ringpost_store_sync_duration_seconds_sum 0.01".to_string(),
            "ringpost_store_sync_duration_seconds_count 2".to_string(),
        ]);
        assert_eq!(text.matches("# TYPE").count(), 1, "{text}");
        assert!(text.contains("# TYPE ringpost_store_sync_duration_seconds histogram\n"));
    }
}
