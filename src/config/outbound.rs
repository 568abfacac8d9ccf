//! `[outbound]`: how ringpost sends the mail it accepted for other domains.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Invalid};
use crate::outbound::schedule::Schedule;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawOutbound {
    enabled: bool,
    relay: Option<String>,
    relay_tls: String,
    relay_user: Option<String>,
    relay_password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    nameservers: Vec<String>,
    mx_port: u16,
    helo_name: Option<String>,
    retry_initial_secs: u64,
    retry_max_secs: u64,
    delay_warning_hours: Number,
    max_queue_days: Number,
    connect_timeout_secs: u64,
    max_connections: usize,
    max_connections_per_destination: usize,
    connection_cache_secs: u64,
    mta_sts: bool,
    mta_sts_port: u16,
}

impl Default for RawOutbound {
    fn default() -> Self {
        RawOutbound {
            enabled: true,
            relay: None,
            relay_tls: "starttls-required".into(),
            relay_user: None,
            relay_password_file: None,
            ca_file: None,
            nameservers: Vec::new(),
            mx_port: 25,
            helo_name: None,
            retry_initial_secs: 300,
            retry_max_secs: 3600,
            delay_warning_hours: Number::Whole(4),
            max_queue_days: Number::Whole(5),
            connect_timeout_secs: 30,
            max_connections: 100,
            max_connections_per_destination: 20,
            connection_cache_secs: 2,
            mta_sts: true,
            mta_sts_port: 443,
        }
    }
}

/// A number in the file that may be whole (`4`) or not (`0.5`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub(super) enum Number {
    Whole(u64),
    Fraction(f64),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Number::Whole(n) => n as f64,
            Number::Fraction(f) => f,
        }
    }
}

/// How the smarthost's connection is secured (`relay_tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayTls {
    /// TLS from the first byte (port 465), the certificate verified.
    Implicit,
    /// STARTTLS when offered (verified when used); plaintext otherwise, and then no AUTH.
    StartTls,
    /// STARTTLS or nothing: the message waits until the relay offers it.
    StartTlsRequired,
}

/// The smarthost every message goes to, when one is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// Host name (for TLS verification and DNS) or address, and port.
    pub host: String,
    pub port: u16,
    pub tls: RelayTls,
    /// User name and the file holding the password (read at each connection, so it can be
    /// rotated without a reload).
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
}

/// `[outbound]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundConfig {
    /// Whether queued mail is sent at all (off: it stays queued, as before this existed).
    pub enabled: bool,
    pub relay: Option<Relay>,
    /// Extra certificates (PEM) trusted besides the system's where outbound TLS is verified:
    /// the relay, and MX hosts for REQUIRETLS messages.
    pub ca_file: Option<PathBuf>,
    /// Resolvers to ask; empty: those of /etc/resolv.conf.
    pub nameservers: Vec<SocketAddr>,
    /// The port of remote MX hosts (25; another only for tests).
    pub mx_port: u16,
    /// The name in our EHLO.
    pub helo_name: String,
    pub schedule: Schedule,
    pub connect_timeout: Duration,
    /// Delivery attempts at once on the whole server, and to one destination (as Postfix's
    /// `default_process_limit` and `default_destination_concurrency_limit`); each shard
    /// sending mail takes its share ([`OutboundConfig::share`]).
    pub max_connections: usize,
    pub max_connections_per_destination: usize,
    /// How long a connection that finished a transaction is kept open for the next message
    /// to the same host; zero: one connection per transaction.
    pub connection_cache: Duration,
    /// Whether recipient domains' MTA-STS policies (RFC 8461) are looked up and applied.
    pub mta_sts: bool,
    /// The port policies are fetched from (443; another only for tests).
    pub mta_sts_port: u16,
}

impl OutboundConfig {
    /// One shard's share of a server-wide limit when `senders` shards send mail: an even
    /// split, rounded up, at least one.
    pub fn share(limit: usize, senders: usize) -> usize {
        limit.div_ceil(senders.max(1)).max(1)
    }
}

pub(super) fn check_outbound(
    raw: &RawOutbound,
    hostname: &str,
    resolve: &dyn Fn(&Path) -> PathBuf,
    invalid: &Invalid,
) -> Result<OutboundConfig, ConfigError> {
    let relay = match &raw.relay {
        None => None,
        Some(text) => {
            let (host, port) = text
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
                .filter(|(h, p)| !h.is_empty() && *p != 0)
                .ok_or_else(|| invalid("outbound.relay", format!("{text:?} is not host:port")))?;
            let tls = match raw.relay_tls.as_str() {
                "implicit" => RelayTls::Implicit,
                "starttls" => RelayTls::StartTls,
                "starttls-required" => RelayTls::StartTlsRequired,
                other => {
                    return Err(invalid(
                        "outbound.relay_tls",
                        format!(
                        "{other:?}: expected \"implicit\", \"starttls\" or \"starttls-required\""
                    ),
                    ))
                }
            };
            if raw.relay_user.is_some() != raw.relay_password_file.is_some() {
                return Err(invalid(
                    "outbound.relay_user",
                    "relay_user and relay_password_file go together".into(),
                ));
            }
            Some(Relay {
                host: host.to_ascii_lowercase(),
                port,
                tls,
                user: raw.relay_user.clone(),
                password_file: raw.relay_password_file.as_deref().map(resolve),
            })
        }
    };
    let nameservers = raw
        .nameservers
        .iter()
        .map(|n| {
            n.parse::<SocketAddr>()
                .or_else(|_| {
                    n.parse::<std::net::IpAddr>()
                        .map(|ip| SocketAddr::new(ip, 53))
                })
                .map_err(|_| {
                    invalid(
                        "outbound.nameservers",
                        format!("{n:?} is not ip or ip:port"),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (key, value) in [
        ("outbound.retry_initial_secs", raw.retry_initial_secs),
        ("outbound.retry_max_secs", raw.retry_max_secs),
        ("outbound.connect_timeout_secs", raw.connect_timeout_secs),
        ("outbound.max_connections", raw.max_connections as u64),
        (
            "outbound.max_connections_per_destination",
            raw.max_connections_per_destination as u64,
        ),
    ] {
        if value == 0 {
            return Err(invalid(key, "must be at least 1".into()));
        }
    }
    // Hours and days may be fractions (0.5 hours), down to a second.
    let seconds = |key: &str, n: Number, unit: f64| -> Result<u64, ConfigError> {
        let secs = n.as_f64() * unit;
        if !secs.is_finite() || !(0.0..=1e12).contains(&secs) {
            return Err(invalid(key, "must be a number of zero or more".into()));
        }
        Ok(secs.round() as u64)
    };
    let warn_after = seconds(
        "outbound.delay_warning_hours",
        raw.delay_warning_hours,
        3600.0,
    )?;
    let lifetime = seconds("outbound.max_queue_days", raw.max_queue_days, 86_400.0)?;
    if lifetime == 0 {
        return Err(invalid(
            "outbound.max_queue_days",
            "must be more than zero".into(),
        ));
    }
    if raw.mx_port == 0 {
        return Err(invalid("outbound.mx_port", "must not be 0".into()));
    }
    if raw.mta_sts_port == 0 {
        return Err(invalid("outbound.mta_sts_port", "must not be 0".into()));
    }
    Ok(OutboundConfig {
        enabled: raw.enabled,
        relay,
        ca_file: raw.ca_file.as_deref().map(resolve),
        nameservers,
        mx_port: raw.mx_port,
        helo_name: raw
            .helo_name
            .clone()
            .unwrap_or_else(|| hostname.to_string()),
        schedule: Schedule {
            initial: raw.retry_initial_secs,
            max: raw.retry_max_secs.max(raw.retry_initial_secs),
            warn_after,
            lifetime,
        },
        connect_timeout: Duration::from_secs(raw.connect_timeout_secs),
        max_connections: raw.max_connections,
        max_connections_per_destination: raw.max_connections_per_destination,
        connection_cache: Duration::from_secs(raw.connection_cache_secs.min(300)),
        mta_sts: raw.mta_sts,
        mta_sts_port: raw.mta_sts_port,
    })
}
