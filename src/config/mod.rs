//! The configuration file (TOML): its shape, its defaults and its validation.
//!
//! Every key is documented in `config/ringpost.toml`. Loading never half-succeeds: an invalid
//! file gives one error that names the offending key. Relative paths are resolved against the
//! folder of the configuration file. This module reads the file and nothing else.

pub mod accounts;
pub mod cluster;
pub mod dkim;
pub mod http;
pub mod inbound;
pub mod oauth;
pub mod outbound;
pub mod uidl;

pub use accounts::{AccountsBackend, PostgresSettings};
pub use cluster::{ClusterConfig, ClusterTls, EtcdTls, Replication};
pub use http::HttpConfig;
pub use inbound::InboundConfig;
pub use outbound::{OutboundConfig, Relay, RelayTls};

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A configuration error, naming the key or the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// The protocol a listener serves (config key `listener.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Imap,
    Pop3,
    /// SMTP submission (587/465): authenticated clients.
    Submission,
    /// Inbound SMTP (25): other mail servers; never authenticates.
    Smtp,
    /// HTTP/1.1: with implicit TLS the workspace, discovery documents (and later DAV); on
    /// plain HTTP only redirects to HTTPS and public `/.well-known/` documents.
    Http,
    /// Prometheus `/metrics` (plain HTTP, loopback by default); never authenticates.
    Metrics,
}

impl Protocol {
    /// Whether a listener of this protocol accepts credentials.
    pub fn authenticates(self) -> bool {
        !matches!(self, Protocol::Smtp | Protocol::Metrics)
    }

    /// Whether a listener of this protocol speaks HTTP (no STARTTLS there: RFC 2817's
    /// upgrade is used by no browser).
    pub fn is_http(self) -> bool {
        matches!(self, Protocol::Http | Protocol::Metrics)
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
            Protocol::Submission => "submission",
            Protocol::Smtp => "smtp",
            Protocol::Http => "http",
            Protocol::Metrics => "metrics",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    server: RawServer,
    #[serde(default)]
    tls: RawTls,
    domains: RawDomains,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    timeouts: RawTimeouts,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    accounts: accounts::RawAccounts,
    #[serde(default)]
    pop3: RawPop3,
    #[serde(default)]
    quota: RawQuota,
    #[serde(default)]
    imap: RawImap,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    smtp: RawSmtp,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    outbound: outbound::RawOutbound,
    #[serde(default)]
    inbound: inbound::RawInbound,
    #[serde(default)]
    http: http::RawHttp,
    #[serde(default)]
    dkim: Vec<dkim::RawDkim>,
    #[serde(default)]
    listener: Vec<RawListener>,
    cluster: Option<cluster::RawCluster>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSmtp {
    bare_lf: String,
}

impl Default for RawSmtp {
    fn default() -> Self {
        RawSmtp {
            bare_lf: "normalize".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    format: String,
    level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// How log lines are written (`[log] format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event: timestamp, level, target, message, `key=value`.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `[log]`: where the server's log lines go is always stderr (systemd's journal, a pipe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing `EnvFilter` directive (`info`, `ringpost::auth=debug,info`, …);
    /// `RINGPOST_LOG` overrides it.
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    hostname: String,
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    #[serde(default)]
    shards: usize,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    group: Option<String>,
    /// Sources trusted to send a PROXY protocol header, for every listener with
    /// `proxy_protocol = true` that has no `proxy_trusted` of its own.
    #[serde(default)]
    proxy_trusted: Vec<String>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomains {
    local: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    max_line_length: usize,
    max_literal_size: usize,
    max_message_size: usize,
    max_connections: usize,
    max_connections_per_ip: usize,
    max_recipients: usize,
    max_hops: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        let l = Limits::default();
        RawLimits {
            max_line_length: l.max_line_length,
            max_literal_size: l.max_literal_size,
            max_message_size: l.max_message_size,
            max_connections: 10_000,
            max_connections_per_ip: 100,
            max_recipients: l.max_recipients,
            max_hops: l.max_hops,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTimeouts {
    tls_handshake_secs: u64,
    login_secs: u64,
    imap_idle_secs: u64,
    imap_keepalive_secs: u64,
    pop3_idle_secs: u64,
    smtp_idle_secs: u64,
    shutdown_grace_secs: u64,
}

impl Default for RawTimeouts {
    fn default() -> Self {
        RawTimeouts {
            tls_handshake_secs: 30,
            // Dovecot's login processes give a client 3 minutes to log in.
            login_secs: 3 * 60,
            imap_idle_secs: 30 * 60,
            imap_keepalive_secs: 2 * 60,
            pop3_idle_secs: 10 * 60,
            smtp_idle_secs: 5 * 60,
            shutdown_grace_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAuth {
    failure_delay_ms: u64,
    max_failures: u32,
    failure_window_secs: u64,
    ip_max_failures: u32,
    account_free_failures: u32,
    account_max_delay_ms: u64,
    protocol_password: String,
    cache_ttl_secs: u64,
    cache_size: usize,
    min_password_length: usize,
    scram_iterations: u32,
    scram: bool,
    oauth: Option<oauth::RawOAuth>,
}

impl Default for RawAuth {
    fn default() -> Self {
        let t = Throttling::default();
        RawAuth {
            failure_delay_ms: 1000,
            max_failures: Limits::default().max_auth_failures,
            failure_window_secs: t.window.as_secs(),
            ip_max_failures: t.ip_max_failures,
            account_free_failures: t.account_free_failures,
            account_max_delay_ms: t.account_max_delay.as_millis() as u64,
            protocol_password: "same-as-web".into(),
            cache_ttl_secs: 600,
            cache_size: 10_000,
            min_password_length: crate::accounts::PasswordPolicy::default().min_length,
            scram_iterations: crate::accounts::PasswordPolicy::default().scram_iterations,
            scram: false,
            oauth: None,
        }
    }
}

/// How failed authentications across connections slow an attacker (`[auth]`): per client IP
/// they block, per account they only slow, so nobody can lock a real user out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttling {
    /// Failures are counted over this long after the first; then the count starts again.
    pub window: Duration,
    /// Failures from one IP address within the window after which its authentications are
    /// refused (with the protocol's temporary failure) until the window ends; 0: never.
    pub ip_max_failures: u32,
    /// Failures on one account within the window from which on its authentications are
    /// delayed (at least one failure always).
    pub account_free_failures: u32,
    /// The longest delay for an account: it starts at `failure_delay_ms` and doubles with
    /// every further failure.
    pub account_max_delay: Duration,
}

impl Default for Throttling {
    fn default() -> Self {
        Throttling {
            window: Duration::from_secs(900),
            ip_max_failures: 50,
            account_free_failures: 3,
            account_max_delay: Duration::from_secs(15),
        }
    }
}

/// `[imap]`: METADATA's limits (RFC 5464) and the server entries the administrator sets, and
/// how many searches a session may keep up to date (RFC 5267 §4.3).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawImap {
    max_search_contexts: usize,
    notify_max_pending: usize,
    notify_max_owners: usize,
    max_acl_entries: usize,
    metadata_max_entries: usize,
    metadata_max_size: usize,
    metadata_admin: String,
    metadata_comment: String,
}

/// `[imap] notify_max_owners` unless set.
const DEFAULT_NOTIFY_MAX_OWNERS: usize = 64;

/// `[imap] max_acl_entries` unless set.
const DEFAULT_MAX_ACL_ENTRIES: usize = 64;

impl Default for RawImap {
    fn default() -> Self {
        let d = crate::mail::metadata::MetadataSettings::default();
        RawImap {
            max_search_contexts: Limits::default().max_search_contexts,
            notify_max_pending: Limits::default().notify_max_pending,
            notify_max_owners: DEFAULT_NOTIFY_MAX_OWNERS,
            max_acl_entries: DEFAULT_MAX_ACL_ENTRIES,
            metadata_max_entries: d.max_entries,
            metadata_max_size: d.max_size,
            metadata_admin: String::new(),
            metadata_comment: String::new(),
        }
    }
}

/// `[quota]`: every account's limits unless its own are set (`ringpost user quota`); 0 is
/// no limit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawQuota {
    storage: u64,
    messages: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPop3 {
    uidl_format: String,
}

impl Default for RawPop3 {
    fn default() -> Self {
        RawPop3 {
            uidl_format: uidl::DOVECOT_DEFAULT_UIDL_FORMAT.to_string(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStore {
    segment_size: u64,
    compact_dead_percent: u32,
    full_text_index: FullTextIndex,
}

impl Default for RawStore {
    fn default() -> Self {
        let s = StoreTuning::default();
        RawStore {
            segment_size: s.segment_size,
            compact_dead_percent: s.compact_dead_percent,
            full_text_index: s.full_text_index,
        }
    }
}

/// `[store]`: the message store's log segments and when compaction reclaims them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreTuning {
    /// Size of a new log segment file in bytes (a multiple of 4096).
    pub segment_size: u64,
    /// A sealed segment is compacted once this percentage of it is released by expunges;
    /// 0 turns background compaction off.
    pub compact_dead_percent: u32,
    /// Which accounts keep a full-text index for IMAP SEARCH BODY / TEXT.
    pub full_text_index: FullTextIndex,
}

/// `[store] full_text_index`: which accounts keep a full-text index (`store::text`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FullTextIndex {
    /// None: every text search reads and decodes every message of its mailbox.
    Off,
    /// An account's first text search builds its index; from then on new mail is indexed in
    /// the background as it arrives.
    Searched,
    /// Every account's mail is indexed in the background as it arrives (the first search of
    /// an account is fast too; costs CPU on delivery and memory per account).
    All,
}

impl Default for StoreTuning {
    fn default() -> Self {
        StoreTuning {
            segment_size: 16 << 20,
            compact_dead_percent: 50,
            full_text_index: FullTextIndex::Searched,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListener {
    protocol: Protocol,
    address: String,
    tls: TlsMode,
    #[serde(default)]
    proxy_protocol: bool,
    proxy_trusted: Option<Vec<String>>,
}

/// Where the TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files given by the operator.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed pair for `hostname`, generated into data_dir on first start and reused.
    SelfSigned,
}

/// One listening socket, bound on every shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub protocol: Protocol,
    pub address: SocketAddr,
    pub tls: TlsMode,
    /// `Some(trusted)`: every connection starts with a PROXY protocol header (v1 or v2) from a
    /// load balancer at one of these networks (never empty), and the client address it
    /// carries stands for the connection's peer. `None`: no header; the peer is the socket's.
    pub proxy_protocol: Option<Vec<IpNet>>,
}

/// An IP network (`10.0.0.0/8`, `::1/128`; a bare address is the one host), as in
/// `proxy_trusted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The network address, host bits zero; an IPv4-mapped IPv6 network is kept as IPv4.
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parse `ADDRESS/PREFIX` or a bare `ADDRESS`. The error says what is wrong.
    pub fn parse(text: &str) -> Result<IpNet, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{text}`: `{addr}` is not an IP address"))?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= bits => p,
                _ => {
                    return Err(format!(
                        "`{text}`: the prefix length must be a number from 0 to {bits}"
                    ))
                }
            },
        };
        let net = IpNet { addr, prefix };
        if net.masked() != addr {
            return Err(format!(
                "`{text}` has bits set past the prefix: the network is `{}/{prefix}`",
                net.masked()
            ));
        }
        // `::ffff:10.0.0.0/104` is 10.0.0.0/8: peers are compared as IPv4 when they can be.
        Ok(match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => IpNet {
                    addr: IpAddr::V4(v4),
                    prefix: prefix - 96,
                },
                None => net,
            },
            _ => net,
        })
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address as the IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask(u128::from(u32::from(ip)), self.prefix, 32) == u128::from(u32::from(net))
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask(u128::from(ip), self.prefix, 128) == u128::from(net)
            }
            _ => false,
        }
    }

    /// The network's prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// `addr` with the bits past the prefix cleared.
    fn masked(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let m = mask(u128::from(u32::from(a)), self.prefix, 32);
                IpAddr::V4(std::net::Ipv4Addr::from(m as u32))
            }
            IpAddr::V6(a) => IpAddr::V6(std::net::Ipv6Addr::from(mask(
                u128::from(a),
                self.prefix,
                128,
            ))),
        }
    }
}

/// `value` (an address of `bits` bits) with all but its first `prefix` bits cleared.
fn mask(value: u128, prefix: u8, bits: u32) -> u128 {
    let keep = u32::from(prefix).min(bits);
    if keep == 0 {
        return 0;
    }
    let all = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    value & (all << (bits - keep)) & all
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Timeouts (config table `[timeouts]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    pub tls_handshake: Duration,
    /// From accept to a successful login, on listeners that require one (IMAP, POP3,
    /// submission); not reset by input, so a client that trickles bytes cannot hold a
    /// connection it never logs in on.
    pub login: Duration,
    pub imap_idle: Duration,
    /// How often an IMAP session in IDLE hears `* OK Still here`.
    pub imap_keepalive: Duration,
    pub pop3_idle: Duration,
    pub smtp_idle: Duration,
    /// A keep-alive HTTP connection between requests (`[http] idle_secs`).
    pub http_idle: Duration,
    /// From an HTTP request's first byte to its last (`[http] request_secs`).
    pub http_request: Duration,
    pub shutdown_grace: Duration,
}

impl Timeouts {
    /// The idle timeout of a listener's protocol.
    pub fn idle(&self, protocol: Protocol) -> Duration {
        match protocol {
            Protocol::Imap => self.imap_idle,
            Protocol::Pop3 => self.pop3_idle,
            Protocol::Submission | Protocol::Smtp => self.smtp_idle,
            Protocol::Http | Protocol::Metrics => self.http_idle,
        }
    }

    /// How long a connection on a listener of `protocol` may take to log in, if its protocol
    /// requires a login (everything but inbound SMTP, which never authenticates).
    pub fn login_deadline(&self, protocol: Protocol) -> Option<Duration> {
        match protocol {
            Protocol::Imap | Protocol::Pop3 | Protocol::Submission => Some(self.login),
            // A web page is read without signing in; each request has its own deadline.
            Protocol::Smtp | Protocol::Http | Protocol::Metrics => None,
        }
    }

    /// How long a session may wait silently before it is asked for a keep-alive, if its
    /// protocol has one (IMAP: an untagged `OK` during IDLE, RFC 9051 §6.3.13).
    pub fn keepalive(&self, protocol: Protocol) -> Option<Duration> {
        match protocol {
            Protocol::Imap => Some(self.imap_keepalive),
            Protocol::Pop3
            | Protocol::Submission
            | Protocol::Smtp
            | Protocol::Http
            | Protocol::Metrics => None,
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file this was loaded from.
    pub path: PathBuf,
    pub hostname: String,
    /// Absolute or relative to the current directory (already resolved against the file).
    pub data_dir: PathBuf,
    /// Number of shards; 0 = one per CPU in the affinity mask.
    pub shards: usize,
    /// Started as root: the user (and group) to run as once the listeners are bound.
    pub run_as: Option<RunAs>,
    pub tls: TlsSource,
    /// Local domains, lower case.
    pub local_domains: Vec<String>,
    pub limits: Limits,
    /// Open connections allowed per shard... across the whole server.
    pub max_connections: usize,
    /// Open connections allowed from one client IP address.
    pub max_connections_per_ip: usize,
    pub timeouts: Timeouts,
    /// Delay before answering a failed authentication.
    pub auth_failure_delay: Duration,
    /// Throttling of failed authentications across connections.
    pub auth_throttling: Throttling,
    /// Which password the mail protocols take (`[auth] protocol_password`).
    pub protocol_passwords: crate::accounts::ProtocolPasswords,
    /// How long a verified login is remembered (zero: never), and how many per shard.
    pub auth_cache_ttl: Duration,
    pub auth_cache_size: usize,
    /// What new passwords must be.
    pub password_policy: crate::accounts::PasswordPolicy,
    /// `[accounts]`: where the account database lives (the file in `data_dir` by default).
    pub accounts: AccountsBackend,
    /// SCRAM-SHA-256 is offered (`[auth] scram`).
    pub scram: bool,
    /// OAuth bearer tokens (`[auth.oauth]`): offered only when configured.
    pub oauth: Option<oauth::OAuthSettings>,
    /// How POP3 UIDL values are made from UIDVALIDITY and UID (Dovecot's `pop3_uidl_format`).
    pub pop3_uidl_format: uidl::UidlFormat,
    /// Every account's quota limits unless the account database sets its own (`[quota]`).
    pub quota: crate::mail::QuotaLimits,
    /// METADATA's limits and the administrator's server entries (`[imap]`).
    pub metadata: crate::mail::metadata::MetadataSettings,
    /// Entries one mailbox's access control list may have (`[imap] max_acl_entries`,
    /// RFC 4314); one more is answered `NO [LIMIT]`.
    pub max_acl_entries: usize,
    /// IMAP NOTIFY: the other users whose shared mailboxes one session's NOTIFY watches
    /// (`[imap] notify_max_owners`; each is a watch on the owner's home shard). The
    /// mailboxes of owners past it are not watched, and NOTIFY SET says so with an untagged
    /// `* NO [LIMIT]` before its OK; 0 watches no shared mailbox. Not in [`Limits`]: every
    /// session holds those.
    pub notify_max_owners: usize,
    pub log: LogConfig,
    /// The store's segment size and compaction threshold.
    pub store: StoreTuning,
    /// Sending queued mail (`[outbound]`).
    pub outbound: OutboundConfig,
    /// Checks on mail arriving on the inbound listener (`[inbound]`).
    pub inbound: InboundConfig,
    /// `[http]`: HTTPS limits, the workspace's sessions, the public host name.
    pub http: HttpConfig,
    /// The keys submitted mail is signed with (`[[dkim]]`), loaded.
    pub dkim: Vec<dkim::DkimConfig>,
    pub listeners: Vec<Listener>,
    /// This host's place in a cluster (`[cluster]`); `None`: a single host, as without it.
    pub cluster: Option<ClusterConfig>,
}

impl Config {
    /// Read and validate the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parse and validate `text`, resolving relative paths against `path`'s folder.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let invalid: &Invalid = &invalid;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };

        let hostname = raw.server.hostname.trim().to_ascii_lowercase();
        if hostname.is_empty() || hostname.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                "server.hostname",
                "must be a host name without spaces".into(),
            ));
        }
        if raw.server.data_dir.as_os_str().is_empty() {
            return Err(invalid("server.data_dir", "must not be empty".into()));
        }
        if raw.server.shards > 1024 {
            return Err(invalid("server.shards", "at most 1024".into()));
        }
        let tls = match (raw.tls.cert, raw.tls.key) {
            (Some(cert), Some(key)) => TlsSource::Files {
                cert: resolve(&cert),
                key: resolve(&key),
            },
            (None, None) => TlsSource::SelfSigned,
            (Some(_), None) => return Err(invalid("tls.key", "missing: tls.cert is set".into())),
            (None, Some(_)) => return Err(invalid("tls.cert", "missing: tls.key is set".into())),
        };
        let local_domains = local_domains(&raw.domains, invalid)?;
        let l = &raw.limits;
        check_limits(l, &raw.auth, invalid)?;
        if raw.imap.max_acl_entries == 0 {
            return Err(invalid(
                "imap.max_acl_entries",
                "must be at least 1 (a mailbox must be shareable)".into(),
            ));
        }
        // RFC 5267 §4.3.1: a server offering CONTEXT=SEARCH keeps at least one context.
        if raw.imap.max_search_contexts == 0 {
            return Err(invalid(
                "imap.max_search_contexts",
                "must be at least 1 (RFC 5267 §4.3.1)".into(),
            ));
        }
        if raw.imap.notify_max_pending == 0 {
            return Err(invalid(
                "imap.notify_max_pending",
                "must be at least 1".into(),
            ));
        }
        let t = &raw.timeouts;
        check_timeouts(t, invalid)?;

        let store = check_store(&raw.store, invalid)?;
        let outbound =
            outbound::check_outbound(&raw.outbound, &raw.server.hostname, &resolve, invalid)?;
        let dkim = dkim::check_dkim(&raw.dkim, &resolve, invalid)?;
        let oauth = match &raw.auth.oauth {
            Some(o) => Some(oauth::check_oauth(o, &resolve, invalid)?),
            None => None,
        };
        let inbound = inbound::check_inbound(&raw.inbound, invalid)?;
        let accounts = accounts::check_accounts(&raw.accounts, &resolve, invalid)?;
        let http = http::check_http(&raw.http, &raw.server.hostname, invalid)?;
        let proxy_trusted =
            trusted_networks("server.proxy_trusted", &raw.server.proxy_trusted, invalid)?;
        let listeners = listeners(&raw.listener, &proxy_trusted, invalid)?;
        let cluster = match &raw.cluster {
            Some(c) => Some(cluster::check_cluster(c, &resolve, invalid)?),
            None => None,
        };
        // Every host must know an account by the same store key (its address and the
        // incarnation the directory gave it): that key places the account's mail in a
        // partition, and partitions are what hosts serve. One shared directory gives that.
        if cluster.is_some() && matches!(accounts, AccountsBackend::File) {
            return Err(invalid(
                "cluster",
                "the hosts of a cluster share one account directory: set [accounts] \
                 backend = \"postgres\""
                    .to_string(),
            ));
        }
        let pop3_uidl_format = uidl::UidlFormat::parse(&raw.pop3.uidl_format)
            .map_err(|e| invalid("pop3.uidl_format", e.to_string()))?;
        if listeners.is_empty() {
            return Err(invalid(
                "listener",
                "at least one [[listener]] is required".into(),
            ));
        }

        let run_as = match (&raw.server.user, &raw.server.group) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(invalid(
                    "server.group",
                    "needs server.user (the user to run as)".into(),
                ))
            }
            (Some(user), group) => {
                if user.is_empty() || group.as_ref().is_some_and(|g| g.is_empty()) {
                    return Err(invalid("server.user", "must not be empty".into()));
                }
                Some(RunAs {
                    user: user.clone(),
                    group: group.clone(),
                })
            }
        };
        let bare_lf = match raw.smtp.bare_lf.as_str() {
            "normalize" => BareLf::Normalize,
            "reject" => BareLf::Reject,
            other => {
                return Err(invalid(
                    "smtp.bare_lf",
                    format!("{other:?} is neither \"normalize\" nor \"reject\""),
                ))
            }
        };
        let log = LogConfig {
            format: match raw.log.format.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(invalid(
                        "log.format",
                        format!("{other:?} is neither \"text\" nor \"json\""),
                    ))
                }
            },
            level: match tracing_subscriber::EnvFilter::try_new(&raw.log.level) {
                Ok(_) => raw.log.level.clone(),
                Err(e) => {
                    return Err(invalid(
                        "log.level",
                        format!("{:?} is not a log filter: {e}", raw.log.level),
                    ))
                }
            },
        };
        Ok(Config {
            path: path.to_path_buf(),
            hostname,
            data_dir: resolve(&raw.server.data_dir),
            shards: raw.server.shards,
            run_as,
            tls,
            local_domains,
            limits: Limits {
                max_line_length: l.max_line_length,
                max_literal_size: l.max_literal_size,
                max_message_size: l.max_message_size,
                max_auth_failures: raw.auth.max_failures,
                max_recipients: l.max_recipients,
                max_hops: l.max_hops,
                bare_lf,
                max_search_contexts: raw.imap.max_search_contexts,
                notify_max_pending: raw.imap.notify_max_pending,
            },
            max_connections: l.max_connections,
            max_connections_per_ip: l.max_connections_per_ip,
            timeouts: Timeouts {
                tls_handshake: Duration::from_secs(t.tls_handshake_secs),
                login: Duration::from_secs(t.login_secs),
                imap_idle: Duration::from_secs(t.imap_idle_secs),
                imap_keepalive: Duration::from_secs(t.imap_keepalive_secs),
                pop3_idle: Duration::from_secs(t.pop3_idle_secs),
                smtp_idle: Duration::from_secs(t.smtp_idle_secs),
                http_idle: http.idle,
                http_request: http.request,
                shutdown_grace: Duration::from_secs(t.shutdown_grace_secs),
            },
            auth_failure_delay: Duration::from_millis(raw.auth.failure_delay_ms),
            auth_throttling: Throttling {
                window: Duration::from_secs(raw.auth.failure_window_secs),
                ip_max_failures: raw.auth.ip_max_failures,
                account_free_failures: raw.auth.account_free_failures,
                account_max_delay: Duration::from_millis(raw.auth.account_max_delay_ms),
            },
            protocol_passwords: match raw.auth.protocol_password.as_str() {
                "same-as-web" => crate::accounts::ProtocolPasswords::SameAsWeb,
                "separate" => crate::accounts::ProtocolPasswords::Separate,
                other => {
                    return Err(invalid(
                        "auth.protocol_password",
                        format!("{other:?} is neither \"same-as-web\" nor \"separate\""),
                    ))
                }
            },
            auth_cache_ttl: Duration::from_secs(raw.auth.cache_ttl_secs),
            auth_cache_size: raw.auth.cache_size,
            password_policy: crate::accounts::PasswordPolicy {
                min_length: raw.auth.min_password_length,
                scram_iterations: raw.auth.scram_iterations,
            },
            scram: raw.auth.scram,
            accounts,
            oauth,
            pop3_uidl_format,
            quota: crate::mail::QuotaLimits {
                storage: Some(raw.quota.storage).filter(|&n| n > 0),
                messages: Some(raw.quota.messages).filter(|&n| n > 0),
            },
            max_acl_entries: raw.imap.max_acl_entries,
            notify_max_owners: raw.imap.notify_max_owners,
            metadata: crate::mail::metadata::MetadataSettings {
                max_entries: raw.imap.metadata_max_entries,
                max_size: raw.imap.metadata_max_size,
                admin: Some(raw.imap.metadata_admin).filter(|s| !s.is_empty()),
                comment: Some(raw.imap.metadata_comment).filter(|s| !s.is_empty()),
            },
            log,
            store,
            outbound,
            inbound,
            http,
            dkim,
            listeners,
            cluster,
        })
    }

    /// Whether `domain` (any case) is one of ours.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.local_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }
}

/// Builds the error for a key (`ConfigError::Invalid`, naming the file).
type Invalid<'a> = dyn Fn(&str, String) -> ConfigError + 'a;

/// `[domains] local`: lower case, each a domain name, at least one.
fn local_domains(raw: &RawDomains, invalid: &Invalid) -> Result<Vec<String>, ConfigError> {
    let mut local_domains = Vec::new();
    for (i, d) in raw.local.iter().enumerate() {
        let d = d.trim().to_ascii_lowercase();
        if d.is_empty() || !d.contains('.') && d != "localhost" || d.contains(['@', ' ']) {
            return Err(invalid(
                &format!("domains.local[{i}]"),
                format!("`{d}` is not a domain name"),
            ));
        }
        local_domains.push(d);
    }
    if local_domains.is_empty() {
        return Err(invalid(
            "domains.local",
            "at least one local domain is required".into(),
        ));
    }
    if local_domains.is_empty() {
        return Err(invalid(
            "domains.local",
            "at least one local domain is required".into(),
        ));
    }
    Ok(local_domains)
}

/// `[limits]` and `[auth]`: the minimums clients and RFCs need, the maximums that keep a
/// failure delay sane.
fn check_limits(l: &RawLimits, auth: &RawAuth, invalid: &Invalid) -> Result<(), ConfigError> {
    for (key, value, min) in [
        ("limits.max_line_length", l.max_line_length, 512),
        ("limits.max_literal_size", l.max_literal_size, 1024),
        ("limits.max_message_size", l.max_message_size, 1024),
        ("limits.max_connections", l.max_connections, 1),
        ("limits.max_connections_per_ip", l.max_connections_per_ip, 1),
        // RFC 5321 §4.5.3.1.8: a server must accept at least 100 recipients.
        ("limits.max_recipients", l.max_recipients, 100),
        ("limits.max_hops", l.max_hops, 10),
    ] {
        if value < min {
            return Err(invalid(key, format!("must be at least {min}")));
        }
    }
    if auth.max_failures == 0 {
        return Err(invalid("auth.max_failures", "must be at least 1".into()));
    }
    if auth.failure_delay_ms > 60_000 {
        return Err(invalid("auth.failure_delay_ms", "at most 60000".into()));
    }
    if auth.failure_window_secs == 0 || auth.failure_window_secs > 86_400 {
        return Err(invalid(
            "auth.failure_window_secs",
            "between 1 and 86400".into(),
        ));
    }
    if !(4096..=10_000_000).contains(&auth.scram_iterations) {
        return Err(invalid(
            "auth.scram_iterations",
            "between 4096 (RFC 7677) and 10000000".into(),
        ));
    }
    if auth.cache_ttl_secs > 86_400 {
        return Err(invalid("auth.cache_ttl_secs", "at most 86400".into()));
    }
    if !(1..=1024).contains(&auth.min_password_length) {
        return Err(invalid(
            "auth.min_password_length",
            "between 1 and 1024".into(),
        ));
    }
    if auth.account_max_delay_ms > 60_000 {
        return Err(invalid("auth.account_max_delay_ms", "at most 60000".into()));
    }
    Ok(())
}

/// `[store]`: segments of whole 4 KiB blocks between 64 KiB and 1 GiB, a percentage.
fn check_store(s: &RawStore, invalid: &Invalid) -> Result<StoreTuning, ConfigError> {
    if s.segment_size < 64 << 10 || s.segment_size > 1 << 30 || !s.segment_size.is_multiple_of(4096)
    {
        return Err(invalid(
            "store.segment_size",
            "a multiple of 4096 between 65536 and 1073741824".into(),
        ));
    }
    if s.compact_dead_percent > 100 {
        return Err(invalid("store.compact_dead_percent", "at most 100".into()));
    }
    Ok(StoreTuning {
        segment_size: s.segment_size,
        compact_dead_percent: s.compact_dead_percent,
        full_text_index: s.full_text_index,
    })
}

/// `[timeouts]`: none zero, IMAP's autologout at least RFC 9051's 30 minutes.
fn check_timeouts(t: &RawTimeouts, invalid: &Invalid) -> Result<(), ConfigError> {
    for (key, value) in [
        ("timeouts.tls_handshake_secs", t.tls_handshake_secs),
        ("timeouts.login_secs", t.login_secs),
        ("timeouts.imap_keepalive_secs", t.imap_keepalive_secs),
        ("timeouts.pop3_idle_secs", t.pop3_idle_secs),
        ("timeouts.smtp_idle_secs", t.smtp_idle_secs),
    ] {
        if value == 0 {
            return Err(invalid(key, "must be at least 1".into()));
        }
    }
    // RFC 9051 §5.4: an inactivity autologout timer must be at least 30 minutes.
    if t.imap_idle_secs < 30 * 60 {
        return Err(invalid(
            "timeouts.imap_idle_secs",
            "must be at least 1800 (RFC 9051 §5.4)".into(),
        ));
    }
    Ok(())
}

/// `proxy_trusted`: networks that parse, none of them every address (anyone could then claim
/// to be any client).
fn trusted_networks(
    key: &str,
    raw: &[String],
    invalid: &Invalid,
) -> Result<Vec<IpNet>, ConfigError> {
    let mut nets = Vec::new();
    for (i, text) in raw.iter().enumerate() {
        let key = format!("{key}[{i}]");
        let net = IpNet::parse(text).map_err(|e| invalid(&key, e))?;
        if net.prefix() == 0 {
            return Err(invalid(
                &key,
                format!(
                    "`{text}` trusts every address, so any client could claim any address; \
                     name the load balancers' networks"
                ),
            ));
        }
        nets.push(net);
    }
    Ok(nets)
}

/// `[[listener]]`: addresses that parse and differ, never `tls = "none"` where credentials
/// are accepted (TLS before PLAIN), and a trusted source for every PROXY protocol listener
/// (its own `proxy_trusted`, else `[server] proxy_trusted`).
fn listeners(
    raw: &[RawListener],
    server_trusted: &[IpNet],
    invalid: &Invalid,
) -> Result<Vec<Listener>, ConfigError> {
    let mut listeners: Vec<Listener> = Vec::new();
    for (i, raw_l) in raw.iter().enumerate() {
        let key = format!("listener[{i}]");
        let address: SocketAddr = raw_l.address.parse().map_err(|_| {
            invalid(
                &format!("{key}.address"),
                format!("`{}` is not IP:port", raw_l.address),
            )
        })?;
        if raw_l.protocol.is_http() && raw_l.tls == TlsMode::Starttls {
            return Err(invalid(
                &format!("{key}.tls"),
                format!(
                    "\"starttls\" does not exist for protocol \"{}\"; use \"implicit\" (HTTPS) or \"none\"",
                    raw_l.protocol.name()
                ),
            ));
        }
        // Plain HTTP accepts no credential (it only redirects to HTTPS), so `none` is allowed.
        if raw_l.tls == TlsMode::None
            && raw_l.protocol.authenticates()
            && raw_l.protocol != Protocol::Http
        {
            return Err(invalid(
                &format!("{key}.tls"),
                format!(
                    "`none` is refused for protocol \"{}\": it accepts credentials, which must never \
                     travel without TLS; use \"starttls\" or \"implicit\"",
                    raw_l.protocol.name()
                ),
            ));
        }
        if let Some(j) = listeners.iter().position(|o| o.address == address) {
            return Err(invalid(
                &format!("{key}.address"),
                format!("{address} is also listener[{j}]"),
            ));
        }
        let own_trusted = match &raw_l.proxy_trusted {
            Some(list) => Some(trusted_networks(
                &format!("{key}.proxy_trusted"),
                list,
                invalid,
            )?),
            None => None,
        };
        let proxy_protocol = match (raw_l.proxy_protocol, own_trusted) {
            (false, None) => None,
            (false, Some(_)) => {
                return Err(invalid(
                    &format!("{key}.proxy_trusted"),
                    "is set, but proxy_protocol is not true on this listener".into(),
                ))
            }
            (true, trusted) => {
                let trusted = trusted.unwrap_or_else(|| server_trusted.to_vec());
                if trusted.is_empty() {
                    return Err(invalid(
                        &format!("{key}.proxy_protocol"),
                        "no trusted source: name the load balancers in proxy_trusted, on the \
                         listener or in [server]"
                            .into(),
                    ));
                }
                Some(trusted)
            }
        };
        listeners.push(Listener {
            protocol: raw_l.protocol,
            address,
            tls: raw_l.tls,
            proxy_protocol,
        });
    }
    Ok(listeners)
}

/// How a listener protects its connections (config key `listener.tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plaintext first; the client upgrades with STARTTLS/STLS.
    Starttls,
    /// TLS from the first byte.
    Implicit,
    /// Never TLS (only for inbound SMTP and metrics, which never authenticate, and plain
    /// HTTP, which only redirects to HTTPS).
    None,
}

/// Limits every session enforces (config table `[limits]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest command line accepted, in bytes, excluding CRLF.
    pub max_line_length: usize,
    /// Largest IMAP literal accepted, in bytes.
    pub max_literal_size: usize,
    /// Largest message accepted (SMTP SIZE, IMAP APPEND).
    pub max_message_size: usize,
    /// Failed authentications after which the session is closed.
    pub max_auth_failures: u32,
    /// Recipients accepted per SMTP transaction (RFC 5321 §4.5.3.1.8: at least 100).
    pub max_recipients: usize,
    /// `Received:` headers after which a message is taken to be looping (`554 5.4.6`).
    pub max_hops: usize,
    /// What SMTP does with a bare LF in DATA content (`[smtp] bare_lf`).
    pub bare_lf: BareLf,
    /// IMAP searches a session keeps up to date at once (`[imap] max_search_contexts`,
    /// RFC 5267 §4.3.1: at least one); one more is answered `NO [NOUPDATE]`.
    pub max_search_contexts: usize,
    /// IMAP NOTIFY (RFC 5465): the mailboxes with changes and the other changes (names,
    /// subscriptions, annotations) a session's watch holds unread (`[imap]
    /// notify_max_pending`, at least 1); one more ends the watch with
    /// `* OK [NOTIFICATIONOVERFLOW]` (RFC 5465 §5.8).
    pub notify_max_pending: usize,
}

/// `[server] user` and `group`: who the server runs as after binding its listeners, when
/// started as root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub user: String,
    /// The user's primary group when absent.
    pub group: Option<String>,
}

/// `[smtp] bare_lf`: a bare LF (not after CR) in DATA content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareLf {
    /// Stored as CRLF, as Postfix 3.9's `smtpd_forbid_bare_newline = normalize`: clients that
    /// send LF-only files (`curl -T`) work. It never starts a line, so it is never part of the
    /// end of data (only `CRLF.CRLF` ends it) nor of dot-stuffing: smuggling stays impossible.
    Normalize,
    /// The message is refused at its end (`550 5.6.11`).
    Reject,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_length: 65536,
            max_literal_size: 64 * 1024 * 1024,
            max_message_size: 50 * 1024 * 1024,
            max_auth_failures: 3,
            max_recipients: 100,
            max_hops: 50,
            bare_lf: BareLf::Normalize,
            max_search_contexts: 16,
            notify_max_pending: 1000,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The smallest config that parses: what other modules' tests add their sections to.
    pub(crate) const MINIMAL: &str = r#"
[server]
hostname = "mail.example.com"
[domains]
local = ["example.com"]
[[listener]]
protocol = "imap"
address = "127.0.0.1:1143"
tls = "starttls"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/ringpost/ringpost.toml"))
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn outbound_defaults_relay_and_fractional_times() {
        let c = parse(MINIMAL).unwrap();
        assert!(c.outbound.enabled && c.outbound.relay.is_none());
        assert_eq!(
            c.outbound.schedule,
            crate::outbound::schedule::Schedule::default()
        );
        assert_eq!(c.outbound.helo_name, "mail.example.com");
        assert!(c.outbound.mta_sts && c.outbound.mta_sts_port == 443);
        assert_eq!(
            (
                c.outbound.max_connections,
                c.outbound.max_connections_per_destination,
                c.outbound.connection_cache
            ),
            (100, 20, std::time::Duration::from_secs(2))
        );
        // Server-wide limits, shared by the shards that send.
        assert_eq!(OutboundConfig::share(20, 2), 10);
        assert_eq!(OutboundConfig::share(20, 3), 7);
        assert_eq!(OutboundConfig::share(1, 64), 1);
        let c = parse(&format!(
            "{MINIMAL}[outbound]\nrelay = \"smtp.example.net:465\"\nrelay_tls = \"implicit\"\n\
             delay_warning_hours = 0.5\nmax_queue_days = 0.25\nnameservers = [\"127.0.0.1:5353\", \"::1\"]\n"
        ))
        .unwrap();
        let relay = c.outbound.relay.unwrap();
        assert_eq!(
            (relay.host.as_str(), relay.port, relay.tls),
            ("smtp.example.net", 465, RelayTls::Implicit)
        );
        assert_eq!(
            (c.outbound.schedule.warn_after, c.outbound.schedule.lifetime),
            (1800, 21_600)
        );
        assert_eq!(
            c.outbound.nameservers[1],
            "[::1]:53".parse::<std::net::SocketAddr>().unwrap()
        );
        for (bad, key) in [
            ("max_queue_days = 0", "outbound.max_queue_days"),
            ("delay_warning_hours = -1", "outbound.delay_warning_hours"),
            ("relay = \"nohostport\"", "outbound.relay"),
            (
                "relay = \"h:25\"\nrelay_tls = \"maybe\"",
                "outbound.relay_tls",
            ),
            (
                "relay = \"h:25\"\nrelay_user = \"u\"",
                "outbound.relay_user",
            ),
            ("nameservers = [\"dns.example\"]", "outbound.nameservers"),
            ("retry_initial_secs = 0", "outbound.retry_initial_secs"),
            ("mta_sts_port = 0", "outbound.mta_sts_port"),
        ] {
            let e = err(&format!("{MINIMAL}[outbound]\n{bad}\n"));
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    #[test]
    fn minimal_config_gets_defaults_and_resolves_paths() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/etc/ringpost/data"));
        assert_eq!(c.tls, TlsSource::SelfSigned);
        assert_eq!(c.shards, 0);
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.store, StoreTuning::default());
        assert_eq!(c.timeouts.imap_idle, Duration::from_secs(1800));
        assert_eq!(c.timeouts.login, Duration::from_secs(180));
        // Inbound SMTP never logs in; every other listener must, in time.
        assert_eq!(c.timeouts.login_deadline(Protocol::Smtp), None);
        for p in [Protocol::Imap, Protocol::Pop3, Protocol::Submission] {
            assert_eq!(c.timeouts.login_deadline(p), Some(Duration::from_secs(180)));
        }
        assert_eq!(
            c.listeners,
            vec![Listener {
                protocol: Protocol::Imap,
                address: "127.0.0.1:1143".parse().unwrap(),
                tls: TlsMode::Starttls,
                proxy_protocol: None,
            }]
        );
    }

    #[test]
    fn smtp_bare_lf_is_normalize_by_default_or_reject() {
        assert_eq!(parse(MINIMAL).unwrap().limits.bare_lf, BareLf::Normalize);
        let strict = parse(&format!("{MINIMAL}\n[smtp]\nbare_lf = \"reject\"\n")).unwrap();
        assert_eq!(strict.limits.bare_lf, BareLf::Reject);
        match parse(&format!("{MINIMAL}\n[smtp]\nbare_lf = \"fix\"\n")) {
            Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "smtp.bare_lf"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn log_format_and_level_are_checked() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.log.format, LogFormat::Text);
        assert_eq!(c.log.level, "info");
        let json = parse(&format!(
            "{MINIMAL}\n[log]\nformat = \"json\"\nlevel = \"ringpost::auth=debug,warn\"\n"
        ))
        .unwrap();
        assert_eq!(json.log.format, LogFormat::Json);
        assert_eq!(json.log.level, "ringpost::auth=debug,warn");
        for (bad, key) in [
            ("format = \"xml\"", "log.format"),
            ("level = \"ringpost=loud\"", "log.level"),
        ] {
            match parse(&format!("{MINIMAL}\n[log]\n{bad}\n")) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn tls_none_is_refused_where_credentials_are_accepted() {
        for proto in ["imap", "pop3", "submission"] {
            let text = MINIMAL
                .replace("\"imap\"", &format!("\"{proto}\""))
                .replace("starttls", "none");
            let e = err(&text);
            assert!(e.contains("listener[0].tls"), "{e}");
        }
        let text = MINIMAL
            .replace("\"imap\"", "\"smtp\"")
            .replace("starttls", "none");
        assert_eq!(parse(&text).unwrap().listeners[0].tls, TlsMode::None);
    }

    #[test]
    fn http_listeners_take_implicit_tls_or_none_never_starttls() {
        for proto in ["http", "metrics"] {
            let with = |tls: &str| {
                MINIMAL.replace(
                    "[[listener]]",
                    &format!(
                        "[[listener]]\nprotocol = \"{proto}\"\naddress = \"127.0.0.1:8443\"\ntls = \"{tls}\"\n\n[[listener]]"
                    ),
                )
            };
            let e = err(&with("starttls"));
            assert!(
                e.contains("listener[0].tls") && e.contains("starttls"),
                "{e}"
            );
            for tls in ["none", "implicit"] {
                let c = parse(&with(tls)).unwrap();
                assert_eq!(c.listeners[0].protocol.name(), proto);
            }
        }
        // [http]: defaults, the public host, and ranges that name the key.
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.http.public_host, c.hostname);
        assert_eq!(c.http.max_body_bytes, 10 << 20);
        assert_eq!(c.timeouts.idle(Protocol::Http), Duration::from_secs(60));
        assert_eq!(c.timeouts.login_deadline(Protocol::Http), None);
        let c = parse(&format!(
            "{MINIMAL}\n[http]\npublic_host = \"Mail.Example.COM\"\n"
        ))
        .unwrap();
        assert_eq!(c.http.public_host, "mail.example.com");
        for (key, value) in [
            ("public_host", "\"bad host/\""),
            ("max_body_bytes", "10"),
            ("request_secs", "0"),
            ("session_max_secs", "60"),
            ("max_target_bytes", "999999"),
        ] {
            let e = err(&format!("{MINIMAL}\n[http]\n{key} = {value}\n"));
            assert!(e.contains(&format!("http.{key}")), "{key}: {e}");
        }
    }

    #[test]
    fn errors_name_the_key() {
        assert!(
            err(&MINIMAL.replace("127.0.0.1:1143", "localhost")).contains("listener[0].address")
        );
        assert!(err(&format!("{MINIMAL}\n[limits]\nmax_line_length = 3\n"))
            .contains("limits.max_line_length"));
        assert!(err(&format!("{MINIMAL}\n[tls]\ncert = \"c.pem\"\n")).contains("tls.key"));
        assert!(
            err(&MINIMAL.replace("example.com\"]", "bad domain\"]")).contains("domains.local[0]")
        );
        assert!(err(&format!("{MINIMAL}\n[store]\nsegment_size = 70000\n"))
            .contains("store.segment_size"));
        assert!(
            err(&format!("{MINIMAL}\n[store]\ncompact_dead_percent = 101\n"))
                .contains("store.compact_dead_percent")
        );
        let small = parse(&format!(
            "{MINIMAL}\n[store]\nsegment_size = 131072\ncompact_dead_percent = 0\nfull_text_index = \"all\"\n"
        ))
        .unwrap();
        assert_eq!(
            small.store,
            StoreTuning {
                segment_size: 131072,
                compact_dead_percent: 0,
                full_text_index: FullTextIndex::All,
            }
        );
        assert!(
            err(&format!("{MINIMAL}\n[timeouts]\nimap_idle_secs = 60\n"))
                .contains("timeouts.imap_idle_secs")
        );
        // RFC 5267 §4.3.1: at least one search context; the default 16, and as set.
        assert!(
            err(&format!("{MINIMAL}\n[imap]\nmax_search_contexts = 0\n"))
                .contains("imap.max_search_contexts")
        );
        assert_eq!(parse(MINIMAL).unwrap().limits.max_search_contexts, 16);
        let one = parse(&format!("{MINIMAL}\n[imap]\nmax_search_contexts = 1\n")).unwrap();
        assert_eq!(one.limits.max_search_contexts, 1);
        // NOTIFY's bound: at least one change, 1000 by default, and as set.
        assert!(err(&format!("{MINIMAL}\n[imap]\nnotify_max_pending = 0\n"))
            .contains("imap.notify_max_pending"));
        assert_eq!(parse(MINIMAL).unwrap().limits.notify_max_pending, 1000);
        let few = parse(&format!("{MINIMAL}\n[imap]\nnotify_max_pending = 5\n")).unwrap();
        assert_eq!(few.limits.notify_max_pending, 5);
        // RFC 4314: entries per mailbox ACL, 64 unless set, never 0.
        assert_eq!(parse(MINIMAL).unwrap().max_acl_entries, 64);
        assert_eq!(parse(MINIMAL).unwrap().notify_max_owners, 64);
        let owners = parse(&format!("{MINIMAL}\n[imap]\nnotify_max_owners = 0\n")).unwrap();
        assert_eq!(owners.notify_max_owners, 0);
        let acl = parse(&format!("{MINIMAL}\n[imap]\nmax_acl_entries = 3\n")).unwrap();
        assert_eq!(acl.max_acl_entries, 3);
        assert!(err(&format!("{MINIMAL}\n[imap]\nmax_acl_entries = 0\n"))
            .contains("imap.max_acl_entries"));
        assert!(err(&format!("{MINIMAL}\n[timeouts]\nlogin_secs = 0\n"))
            .contains("timeouts.login_secs"));
        // Unknown keys are refused (a typo must not silently fall back to a default).
        let e = err(&MINIMAL.replace("[domains]", "[domains]\nlocl = 1"));
        assert!(e.contains("locl"), "{e}");
    }

    #[test]
    fn duplicate_addresses_are_refused() {
        let text = format!("{MINIMAL}\n[[listener]]\nprotocol = \"pop3\"\naddress = \"127.0.0.1:1143\"\ntls = \"implicit\"\n");
        assert!(err(&text).contains("listener[1].address"));
    }

    #[test]
    fn ip_networks_parse_and_match() {
        let net = |s: &str| IpNet::parse(s).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(net("10.0.0.0/8").contains(ip("10.200.3.4")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!net("127.0.0.1/32").contains(ip("127.0.0.2")));
        // A dual-stack socket sees IPv4 peers as IPv4-mapped IPv6 addresses.
        assert!(net("127.0.0.1/32").contains(ip("::ffff:127.0.0.1")));
        assert!(net("::ffff:10.0.0.0/104").contains(ip("10.1.2.3")));
        assert!(net("::1/128").contains(ip("::1")));
        assert!(!net("::1/128").contains(ip("127.0.0.1")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(!net("2001:db8::/32").contains(ip("2001:db9::1")));
        assert!(!net("10.0.0.0/8").contains(ip("::a00:1")));
        assert!(net("192.168.1.128/25").contains(ip("192.168.1.255")));
        assert!(!net("192.168.1.128/25").contains(ip("192.168.1.127")));
        assert_eq!(net(" 10.0.0.0/8 ").to_string(), "10.0.0.0/8");
        for bad in [
            "10.0.0.0/33",
            "::1/129",
            "10.0.0.0/",
            "10.0.0.0/x",
            "10.0.0/8",
            "localhost",
            "",
            "10.0.0.1/8",
        ] {
            assert!(IpNet::parse(bad).is_err(), "{bad:?} accepted");
        }
        let e = IpNet::parse("10.0.0.1/8").unwrap_err();
        assert!(e.contains("10.0.0.0/8"), "{e}");
    }

    #[test]
    fn proxy_protocol_needs_a_trusted_source() {
        let with = |listener_keys: &str, server_keys: &str| {
            MINIMAL
                .replace("[domains]", &format!("{server_keys}\n[domains]"))
                .replace(
                    "tls = \"starttls\"",
                    &format!("tls = \"starttls\"\n{listener_keys}"),
                )
        };
        // Off by default.
        assert_eq!(parse(MINIMAL).unwrap().listeners[0].proxy_protocol, None);
        // The listener's own list.
        let c = parse(&with(
            "proxy_protocol = true\nproxy_trusted = [\"10.0.0.0/8\", \"::1\"]",
            "",
        ))
        .unwrap();
        let trusted = c.listeners[0].proxy_protocol.clone().unwrap();
        assert_eq!(trusted.len(), 2);
        assert_eq!(trusted[1].to_string(), "::1/128");
        // The server's list, for listeners without one; the listener's replaces it.
        let c = parse(&with(
            "proxy_protocol = true",
            "proxy_trusted = [\"127.0.0.1/32\"]",
        ))
        .unwrap();
        assert_eq!(
            c.listeners[0].proxy_protocol.as_ref().unwrap()[0].to_string(),
            "127.0.0.1/32"
        );
        let c = parse(&with(
            "proxy_protocol = true\nproxy_trusted = [\"10.1.0.0/16\"]",
            "proxy_trusted = [\"127.0.0.1/32\"]",
        ))
        .unwrap();
        assert_eq!(
            c.listeners[0].proxy_protocol.as_ref().unwrap()[0].to_string(),
            "10.1.0.0/16"
        );
        // Errors name the key.
        for (listener, server, key) in [
            ("proxy_protocol = true", "", "listener[0].proxy_protocol"),
            (
                "proxy_protocol = true\nproxy_trusted = []",
                "proxy_trusted = [\"127.0.0.1\"]",
                "listener[0].proxy_protocol",
            ),
            (
                "proxy_trusted = [\"10.0.0.0/8\"]",
                "",
                "listener[0].proxy_trusted",
            ),
            (
                "proxy_protocol = true\nproxy_trusted = [\"10.0.0.0/8\", \"10.0.0.0/40\"]",
                "",
                "listener[0].proxy_trusted[1]",
            ),
            (
                "proxy_protocol = true",
                "proxy_trusted = [\"0.0.0.0/0\"]",
                "server.proxy_trusted[0]",
            ),
            (
                "proxy_protocol = true",
                "proxy_trusted = [\"mail.example.com\"]",
                "server.proxy_trusted[0]",
            ),
        ] {
            match parse(&with(listener, server)) {
                Err(ConfigError::Invalid {
                    key: k, message, ..
                }) => {
                    assert_eq!(k, key, "{listener} / {server}: {message}")
                }
                other => panic!("{listener} / {server}: {other:?}"),
            }
        }
    }

    #[test]
    fn shipped_configs_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let dev = Config::load(&dir.join("ringpost.toml")).unwrap();
        assert_eq!(dev.listeners.len(), 10);
        assert!(dev.listeners.iter().all(|l| l.address.ip().is_loopback()));
        let prod = Config::load(&dir.join("production.example.toml")).unwrap();
        let ports: Vec<u16> = prod.listeners.iter().map(|l| l.address.port()).collect();
        assert_eq!(ports, vec![143, 993, 110, 995, 587, 465, 25, 443, 80, 9100]);
        assert_eq!(prod.http.public_host, "mail.example.com");
        // METADATA: the shipped defaults are the built-in ones; the example names an admin.
        assert_eq!(
            dev.metadata,
            crate::mail::metadata::MetadataSettings::default()
        );
        assert_eq!(
            prod.metadata.admin.as_deref(),
            Some("mailto:postmaster@example.com")
        );
        assert_eq!(prod.metadata.max_entries, 100);
        let metrics = prod.listeners.last().unwrap();
        assert_eq!(metrics.protocol, Protocol::Metrics);
        assert!(metrics.address.ip().is_loopback());
    }
}
