//! `[cluster]`: this host's place in a cluster of ringpost hosts whose partition map lives in
//! etcd (issue 19, DESIGN.md "Beyond one host"). Without the section nothing of the cluster
//! runs and the server is the single-host engine.
//!
//! Only the values are checked here (names, URLs, addresses, ranges, that the TLS files are
//! named together); the files are read by whoever uses them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    node: String,
    #[serde(default = "default_name")]
    name: String,
    etcd: Vec<String>,
    advertise: String,
    #[serde(default = "default_replicas")]
    replicas: usize,
    #[serde(default = "default_replication")]
    replication: String,
    #[serde(default = "default_lease_ttl")]
    lease_ttl: u64,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    etcd_ca: Option<PathBuf>,
    etcd_cert: Option<PathBuf>,
    etcd_key: Option<PathBuf>,
}

fn default_name() -> String {
    "main".into()
}

fn default_replicas() -> usize {
    1
}

fn default_replication() -> String {
    "sync".into()
}

fn default_lease_ttl() -> u64 {
    5
}

/// The most replicas a partition may have besides its primary.
pub const MAX_REPLICAS: usize = 4;

/// How a primary's writes reach its replicas (`[cluster] replication`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replication {
    /// A write is acknowledged once every replica has it on disk too.
    Sync,
    /// A write is acknowledged once the primary has it; replicas follow.
    Async,
}

/// The internal listener's mutual TLS: every host presents a certificate of the cluster CA
/// and accepts only peers presenting one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// TLS to etcd (`https://` endpoints): the CA that signed the members' certificates, and
/// this host's client certificate and key when the members ask for one
/// (`--client-cert-auth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdTls {
    pub ca: PathBuf,
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// `[cluster]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This host's node name: unique in the cluster, `[a-z0-9._-]`, at most 63 bytes.
    pub node: String,
    /// The cluster's name: every key of it in etcd is under `/ringpost/<name>/`.
    pub name: String,
    /// etcd's client URLs (`http://host:2379`, or all `https://`), at least one.
    pub etcd: Vec<String>,
    /// TLS to etcd, with `https://` endpoints.
    pub etcd_tls: Option<EtcdTls>,
    /// Where the other hosts reach this one's internal listener.
    pub advertise: SocketAddr,
    /// Copies of each partition besides its primary.
    pub replicas: usize,
    pub replication: Replication,
    /// This node's etcd lease: it is counted as down this long after it last reached etcd.
    pub lease_ttl: Duration,
    /// The internal listener's mutual TLS, when configured.
    pub tls: Option<ClusterTls>,
}

/// Whether `name` is a valid node (or cluster) name: 1 to 63 bytes of `a-z`, `0-9`, `.`, `_`,
/// `-`, starting with a letter or digit. It is an etcd key segment and a log field.
pub fn valid_node_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

pub(super) fn check_cluster(
    raw: &RawCluster,
    resolve: &dyn Fn(&Path) -> PathBuf,
    invalid: &Invalid,
) -> Result<ClusterConfig, ConfigError> {
    if !valid_node_name(&raw.node) {
        return Err(invalid(
            "cluster.node",
            format!(
                "{:?} is not a node name (1 to 63 of a-z 0-9 . _ -, starting with a letter or digit)",
                raw.node
            ),
        ));
    }
    if !valid_node_name(&raw.name) {
        return Err(invalid(
            "cluster.name",
            format!(
                "{:?} is not a cluster name (1 to 63 of a-z 0-9 . _ -, starting with a letter or digit)",
                raw.name
            ),
        ));
    }
    if raw.etcd.is_empty() {
        return Err(invalid(
            "cluster.etcd",
            "at least one etcd endpoint (\"http://host:2379\") is required".into(),
        ));
    }
    let https = raw.etcd[0].starts_with("https://");
    for (i, url) in raw.etcd.iter().enumerate() {
        let scheme = if https { "https://" } else { "http://" };
        let rest = url.strip_prefix(scheme).ok_or_else(|| {
            invalid(
                &format!("cluster.etcd[{i}]"),
                format!("{url:?} is not an {scheme} URL (the endpoints are all http:// or all https://)"),
            )
        })?;
        let hostport = rest.strip_suffix('/').unwrap_or(rest);
        let port_ok = hostport
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok || hostport.contains('/') {
            return Err(invalid(
                &format!("cluster.etcd[{i}]"),
                format!("{url:?} is not {scheme}HOST:PORT"),
            ));
        }
    }
    let etcd_tls = match (https, &raw.etcd_ca, &raw.etcd_cert, &raw.etcd_key) {
        (false, None, None, None) => None,
        (false, ..) => {
            return Err(invalid(
                "cluster.etcd_ca",
                "etcd_ca, etcd_cert and etcd_key are for https:// endpoints".into(),
            ))
        }
        (true, None, ..) => {
            return Err(invalid(
                "cluster.etcd_ca",
                "missing: https:// endpoints need the CA of the members' certificates".into(),
            ))
        }
        (true, Some(ca), None, None) => Some(EtcdTls {
            ca: resolve(ca),
            identity: None,
        }),
        (true, Some(ca), Some(cert), Some(key)) => Some(EtcdTls {
            ca: resolve(ca),
            identity: Some((resolve(cert), resolve(key))),
        }),
        (true, Some(_), ..) => {
            return Err(invalid(
                "cluster.etcd_cert",
                "etcd_cert and etcd_key go together (this host's client certificate)".into(),
            ))
        }
    };
    let advertise: SocketAddr = raw.advertise.parse().map_err(|_| {
        invalid(
            "cluster.advertise",
            format!(
                "{:?} is not an IP address and port (\"10.0.0.1:7000\")",
                raw.advertise
            ),
        )
    })?;
    if advertise.ip().is_unspecified() || advertise.port() == 0 {
        return Err(invalid(
            "cluster.advertise",
            format!("{advertise} cannot be reached by other hosts: name an address and a port"),
        ));
    }
    if raw.replicas > MAX_REPLICAS {
        return Err(invalid(
            "cluster.replicas",
            format!("at most {MAX_REPLICAS}"),
        ));
    }
    let replication = match raw.replication.as_str() {
        "sync" => Replication::Sync,
        "async" => Replication::Async,
        other => {
            return Err(invalid(
                "cluster.replication",
                format!("{other:?} is neither \"sync\" nor \"async\""),
            ))
        }
    };
    if !(1..=60).contains(&raw.lease_ttl) {
        return Err(invalid(
            "cluster.lease_ttl",
            format!("{} is not between 1 and 60 (seconds)", raw.lease_ttl),
        ));
    }
    let tls = match (&raw.ca, &raw.cert, &raw.key) {
        (None, None, None) => None,
        (Some(ca), Some(cert), Some(key)) => {
            for (key_name, path) in [("ca", ca), ("cert", cert), ("key", key)] {
                if path.as_os_str().is_empty() {
                    return Err(invalid(
                        &format!("cluster.{key_name}"),
                        "must not be empty".into(),
                    ));
                }
            }
            Some(ClusterTls {
                ca: resolve(ca),
                cert: resolve(cert),
                key: resolve(key),
            })
        }
        _ => {
            let missing: Vec<&str> = [("ca", &raw.ca), ("cert", &raw.cert), ("key", &raw.key)]
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| *k)
                .collect();
            return Err(invalid(
                &format!("cluster.{}", missing[0]),
                "missing: the internal listener's mutual TLS needs ca, cert and key together"
                    .into(),
            ));
        }
    };
    Ok(ClusterConfig {
        node: raw.node.clone(),
        name: raw.name.clone(),
        etcd: raw.etcd.clone(),
        etcd_tls,
        advertise,
        replicas: raw.replicas,
        replication,
        lease_ttl: Duration::from_secs(raw.lease_ttl),
        tls,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::{Config, ConfigError};
    use super::*;

    const BASE: &str = "[server]\nhostname = \"mx1.example.com\"\n[domains]\nlocal = [\"example.com\"]\n[accounts]\nbackend = \"postgres\"\npostgres = \"host=db.example.com dbname=ringpost\"\n[[listener]]\nprotocol = \"imap\"\naddress = \"127.0.0.1:1143\"\ntls = \"starttls\"\n";

    fn parse(cluster: &str) -> Result<Config, ConfigError> {
        Config::parse(
            &format!("{BASE}[cluster]\n{cluster}"),
            Path::new("/etc/ringpost/ringpost.toml"),
        )
    }

    fn error_key(cluster: &str) -> String {
        match parse(cluster) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    const GOOD: &str = "node = \"mx1\"\netcd = [\"http://10.0.0.1:2379\", \"http://10.0.0.2:2379/\"]\nadvertise = \"10.0.0.1:7000\"\n";

    #[test]
    fn no_section_means_no_cluster() {
        let config = Config::parse(BASE, Path::new("/etc/ringpost/ringpost.toml")).unwrap();
        assert_eq!(config.cluster, None);
    }

    #[test]
    fn the_defaults_and_every_key() {
        let config = parse(GOOD).unwrap();
        assert_eq!(
            config.cluster,
            Some(ClusterConfig {
                node: "mx1".into(),
                name: "main".into(),
                etcd: vec![
                    "http://10.0.0.1:2379".into(),
                    "http://10.0.0.2:2379/".into()
                ],
                advertise: "10.0.0.1:7000".parse().unwrap(),
                replicas: 1,
                replication: Replication::Sync,
                lease_ttl: Duration::from_secs(5),
                tls: None,
                etcd_tls: None,
            })
        );
        let config = parse(&format!(
            "{GOOD}name = \"eu-1\"\nreplicas = 2\nreplication = \"async\"\nlease_ttl = 2\nca = \"cluster/ca.pem\"\ncert = \"/etc/c.pem\"\nkey = \"k.pem\"\n"
        ))
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!(config.name, "eu-1");
        assert_eq!(config.replicas, 2);
        assert_eq!(config.replication, Replication::Async);
        assert_eq!(config.lease_ttl, Duration::from_secs(2));
        assert_eq!(
            config.tls,
            Some(ClusterTls {
                ca: PathBuf::from("/etc/ringpost/cluster/ca.pem"),
                cert: PathBuf::from("/etc/c.pem"),
                key: PathBuf::from("/etc/ringpost/k.pem"),
            })
        );
        // etcd over TLS: https:// endpoints with the members' CA, and a client certificate.
        let tls = |extra: &str| {
            parse(&format!(
                "node = \"mx1\"\netcd = [\"https://10.0.0.1:2379\"]\nadvertise = \"10.0.0.1:7000\"\n{extra}"
            ))
            .map(|c| c.cluster.unwrap().etcd_tls)
        };
        assert_eq!(
            tls("etcd_ca = \"etcd/ca.pem\"\netcd_cert = \"/e/c.pem\"\netcd_key = \"e.key\"\n")
                .unwrap(),
            Some(EtcdTls {
                ca: PathBuf::from("/etc/ringpost/etcd/ca.pem"),
                identity: Some((
                    PathBuf::from("/e/c.pem"),
                    PathBuf::from("/etc/ringpost/e.key")
                )),
            })
        );
        assert_eq!(
            tls("etcd_ca = \"/ca.pem\"\n").unwrap(),
            Some(EtcdTls {
                ca: PathBuf::from("/ca.pem"),
                identity: None,
            })
        );
    }

    #[test]
    fn each_mistake_names_its_key() {
        let with = |line: &str| {
            let key = line.split(" =").next().unwrap();
            let rest: String = GOOD
                .lines()
                .filter(|l| !l.starts_with(&format!("{key} =")))
                .map(|l| format!("{l}\n"))
                .collect();
            format!("{rest}{line}\n")
        };
        for (line, key) in [
            ("node = \"MX1\"", "cluster.node"),
            ("node = \"\"", "cluster.node"),
            ("node = \"mx/1\"", "cluster.node"),
            ("name = \"-x\"", "cluster.name"),
            ("etcd = []", "cluster.etcd"),
            ("etcd = [\"https://10.0.0.1:2379\"]", "cluster.etcd_ca"),
            (
                "etcd = [\"https://10.0.0.1:2379\", \"http://10.0.0.2:2379\"]",
                "cluster.etcd[1]",
            ),
            ("etcd = [\"ftp://10.0.0.1:2379\"]", "cluster.etcd[0]"),
            ("etcd_ca = \"ca.pem\"", "cluster.etcd_ca"),
            ("etcd = [\"http://10.0.0.1\"]", "cluster.etcd[0]"),
            ("advertise = \"mx1:7000\"", "cluster.advertise"),
            ("advertise = \"0.0.0.0:7000\"", "cluster.advertise"),
            ("replicas = 9", "cluster.replicas"),
            ("replication = \"maybe\"", "cluster.replication"),
            ("lease_ttl = 0", "cluster.lease_ttl"),
            ("ca = \"ca.pem\"", "cluster.cert"),
        ] {
            assert_eq!(error_key(&with(line)), key, "{line}");
        }
    }

    /// The commented-out `[cluster]` of each shipped file, uncommented, is a valid section
    /// naming every key.
    #[test]
    fn the_documented_sections_parse() {
        for file in [
            include_str!("../../config/ringpost.toml"),
            include_str!("../../config/production.example.toml"),
        ] {
            let start = file.find("# [cluster]\n").unwrap();
            let section: String = file[start..]
                .lines()
                .take_while(|l| l.starts_with('#'))
                .filter_map(|l| l.strip_prefix("# "))
                .filter(|l| !l.starts_with(' '))
                .map(|l| format!("{l}\n"))
                .collect();
            let text = section.replacen("[cluster]\n", "", 1);
            for key in [
                "node",
                "name",
                "etcd",
                "advertise",
                "replicas",
                "replication",
            ] {
                assert!(text.contains(&format!("{key} = ")), "{key}: {text}");
            }
            let config = parse(&text).unwrap().cluster.unwrap();
            assert_eq!(config.node, "mx1");
            // Without a shared account directory a cluster is refused.
            let alone = BASE.replace("[accounts]\nbackend = \"postgres\"\npostgres = \"host=db.example.com dbname=ringpost\"\n", "");
            let refused = Config::parse(
                &format!("{alone}[cluster]\n{text}"),
                Path::new("/etc/ringpost/ringpost.toml"),
            );
            assert!(
                matches!(&refused, Err(e) if e.to_string().contains("backend = \"postgres\"")),
                "{refused:?}"
            );
            assert!(config.tls.is_some());
        }
    }

    #[test]
    fn node_names() {
        for good in ["mx1", "a", "mx-1.eu_west", "1a"] {
            assert!(valid_node_name(good), "{good}");
        }
        for bad in ["", "Mx1", "-a", ".a", "a b", "a/b", &"a".repeat(64)] {
            assert!(!valid_node_name(bad), "{bad}");
        }
    }
}
