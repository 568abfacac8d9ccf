//! One SMTP transaction for a group of recipients that share a destination: find the hosts
//! (the smarthost, or the domain's MX hosts through DNS), connect to each address in turn,
//! and drive the sans-IO client session ([`crate::smtp::client`]) over the connection until
//! a host takes the transaction.
//!
//! TLS: to MX hosts, STARTTLS whenever offered, without checking the certificate
//! (opportunistic, RFC 7435: encryption against passive listeners, as Postfix's `may`); if
//! the handshake fails, the same host is tried once more in plaintext. To the smarthost,
//! implicit TLS or STARTTLS as `relay_tls` says, with the certificate verified against the
//! system's roots (and `ca_file`), and AUTH only over TLS.
//!
//! A message sent with REQUIRETLS (RFC 8689) goes only over TLS with the certificate
//! verified for the host's name, to a host that offers REQUIRETLS: no plaintext retry, and
//! when no host qualifies for TLS reasons it fails (5.7.30) rather than waits. (MX records
//! are not DNSSEC-checked: the MX names come from DNS as they are.)
//!
//! A domain with an MTA-STS policy (RFC 8461, [`super::mta_sts`]) in `enforce` mode gets
//! its mail only through the MX hosts the policy names, over STARTTLS with the certificate
//! verified for the MX host's name, with no plaintext retry; when none qualifies the message
//! waits (4.7.5). In `testing` mode delivery is as without a policy, and what enforcing
//! would have refused is logged.
//!
//! A connection that finished a transaction waits in the shard's [`Pool`] for the next
//! message to the same host (`connection_cache_secs`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::future;
use glommio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig as TlsConfig, DigitallySignedStruct, SignatureScheme};

use super::resolver::Resolver;
use crate::config::{OutboundConfig, RelayTls};
use crate::outbound::dns::Question;
use crate::outbound::mta_sts::{self, Plan, Requirement};
use crate::outbound::route::{route, Route};
use crate::runtime::net::{ShardState, Transport};
use crate::session::Secret;
use crate::smtp::client::{
    BodyType, ClientConfig, ClientEvent, ClientSession, Envelope, Failure, FailureKind, Recipient,
    RecipientOutcome, Reply, TlsPolicy, TransactionResult,
};
use crate::smtp::dsn::{RecipientDsn, Ret};

/// What became of one recipient in one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub kind: Kind,
    /// The enhanced status code for a report (`5.1.1`).
    pub status: String,
    /// The reply (`550 5.1.1 No such user`) or our reason.
    pub diagnostic: String,
    /// The host that answered (`mx.example.org [192.0.2.1]`), if one did.
    pub remote: Option<String>,
    /// The TLS version used, if any.
    pub tls: Option<String>,
    /// The host offered DSN, so NOTIFY/ORCPT went on with the message and reports are its
    /// business from here (RFC 3461 §5.2.1).
    pub dsn_passed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Delivered,
    Deferred,
    Failed,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Delivered => "delivered",
            Kind::Deferred => "deferred",
            Kind::Failed => "failed",
        }
    }
}

impl Outcome {
    fn ours(kind: Kind, status: &str, diagnostic: String) -> Outcome {
        Outcome {
            kind,
            status: status.to_string(),
            diagnostic,
            remote: None,
            tls: None,
            dsn_passed: false,
        }
    }

    /// One line for the queue's record and `queue show`.
    pub fn describe(&self) -> String {
        match &self.remote {
            Some(host) => format!("{host}: {}", self.diagnostic),
            None => self.diagnostic.clone(),
        }
    }
}

/// What one transaction carries: the envelope with its DSN parameters, and the message.
pub struct Message<'a> {
    pub reverse_path: &'a str,
    /// The recipients with their NOTIFY/ORCPT.
    pub recipients: Vec<(String, RecipientDsn)>,
    pub ret: Option<Ret>,
    pub envid: Option<String>,
    /// RFC 8689: only over verified TLS.
    pub requiretls: bool,
    pub body: &'a [u8],
}

/// Deliver `message` (every recipient for `domain`, or every one for the relay): one
/// outcome per recipient, in order.
pub async fn deliver(
    state: &Rc<ShardState>,
    config: &OutboundConfig,
    domain: &str,
    message: &Message<'_>,
) -> Vec<Outcome> {
    let recipients = &message.recipients;
    let all = |o: Outcome| vec![o; recipients.len()];
    let resolver = resolver_for(state, config);
    // A message sent with REQUIRETLS goes only over verified TLS, wherever it goes.
    let mx_target = |host: String| Target {
        host,
        policy: if message.requiretls {
            TlsPolicy::Required
        } else {
            TlsPolicy::Opportunistic
        },
        verified: message.requiretls,
        report: false,
    };
    let (targets, port, auth) = match &config.relay {
        Some(relay) => {
            let auth = match (&relay.user, &relay.password_file) {
                (Some(user), Some(file)) => match std::fs::read_to_string(file) {
                    Ok(p) => Some((
                        user.clone(),
                        Secret::new(p.trim_end_matches(['\r', '\n']).to_string()),
                    )),
                    Err(e) => {
                        return all(Outcome::ours(
                            Kind::Deferred,
                            "4.3.5",
                            format!(
                                "cannot read the relay password file {}: {e}",
                                file.display()
                            ),
                        ))
                    }
                },
                _ => None,
            };
            let policy = match relay.tls {
                RelayTls::Implicit => TlsPolicy::Implicit,
                // A relay without TLS cannot carry a REQUIRETLS message.
                RelayTls::StartTls if !message.requiretls => TlsPolicy::Opportunistic,
                RelayTls::StartTls | RelayTls::StartTlsRequired => TlsPolicy::Required,
            };
            let target = Target {
                host: relay.host.clone(),
                policy,
                verified: true,
                report: false,
            };
            (vec![target], relay.port, auth)
        }
        // An address literal (`user@[192.0.2.1]`, RFC 5321 §4.1.3): that host, no MX lookup.
        None if domain.parse::<std::net::IpAddr>().is_ok() => {
            (vec![mx_target(domain.to_string())], config.mx_port, None)
        }
        None => {
            let seed: u64 = rand::random();
            let answer = match resolver.ask(domain, Question::Mx).await {
                Ok(a) => a,
                Err(e) => {
                    return all(Outcome::ours(
                        Kind::Deferred,
                        "4.4.3",
                        format!("DNS lookup of the MX records of {domain} failed: {e}"),
                    ))
                }
            };
            let hosts = match route(domain, &answer, seed) {
                Route::NullMx => {
                    return all(Outcome::ours(
                        Kind::Failed,
                        "5.1.10",
                        format!("550 5.1.10 {domain} does not accept mail (null MX, RFC 7505)"),
                    ))
                }
                Route::NoSuchDomain => {
                    return all(Outcome::ours(
                        Kind::Failed,
                        "5.1.2",
                        format!("550 5.1.2 the domain {domain} does not exist"),
                    ))
                }
                Route::Hosts(hosts) => hosts,
            };
            let sts = match config.mta_sts {
                true => super::mta_sts::policy(state, config, &resolver, domain).await,
                false => None,
            };
            match mta_sts::plan(&hosts, sts.as_ref()) {
                Plan::Defer { reason } => {
                    return all(Outcome::ours(
                        Kind::Deferred,
                        "4.7.5",
                        format!("451 4.7.5 {reason}"),
                    ))
                }
                Plan::Try {
                    targets,
                    would_fail,
                } => {
                    for why in would_fail {
                        tracing::warn!(target: "ringpost::delivery", domain, "{why}");
                    }
                    let targets = targets
                        .into_iter()
                        .map(|t| match t.requirement {
                            Requirement::VerifiedTls => Target {
                                host: t.host,
                                policy: TlsPolicy::Required,
                                verified: true,
                                report: false,
                            },
                            Requirement::ReportTls if !message.requiretls => Target {
                                report: true,
                                ..mx_target(t.host)
                            },
                            Requirement::ReportTls | Requirement::None => mx_target(t.host),
                        })
                        .collect();
                    (targets, config.mx_port, None)
                }
            }
        }
    };
    let mut last = String::from("no host to try");
    // Every host that answered failed for want of (verified) TLS.
    let mut tls_only_failures = true;
    for target in &targets {
        let host = &target.host;
        let addresses = match resolver.addresses(host).await {
            Ok(a) if !a.is_empty() => a,
            Ok(_) => {
                tls_only_failures = false;
                last = format!("{host} has no address");
                continue;
            }
            Err(e) => {
                tls_only_failures = false;
                last = format!("DNS lookup of {host} failed: {e}");
                continue;
            }
        };
        for ip in addresses {
            let mut policy = target.policy;
            loop {
                let attempt = Attempt {
                    state,
                    config,
                    host,
                    address: SocketAddr::new(ip, port),
                    policy,
                    verified: target.verified,
                    report: target.report,
                    auth: auth.clone(),
                };
                match attempt.run(message).await {
                    Ok(outcomes) => return outcomes,
                    Err(Retry::Plaintext(why))
                        if policy == TlsPolicy::Opportunistic && !target.verified =>
                    {
                        if target.report {
                            tracing::warn!(target: "ringpost::delivery", domain, host = %host, reason = %why, "MTA-STS policy (testing): TLS failed, which the policy would not allow");
                        }
                        tracing::info!(target: "ringpost::delivery", host = %host, reason = %why, "TLS failed; trying once more without it");
                        policy = TlsPolicy::Disabled;
                    }
                    Err(Retry::Plaintext(why)) => {
                        last = why;
                        break;
                    }
                    Err(Retry::NextHost(why)) => {
                        tls_only_failures = false;
                        last = why;
                        break;
                    }
                    Err(Retry::NoTls(why)) => {
                        last = why;
                        break;
                    }
                    // `run` deals with these itself.
                    Err(Retry::Stale(why)) => {
                        tls_only_failures = false;
                        last = why;
                        break;
                    }
                }
            }
        }
    }
    if message.requiretls && tls_only_failures {
        return all(Outcome::ours(
            Kind::Failed,
            "5.7.30",
            format!("550 5.7.30 REQUIRETLS: no host for {domain} offered verified TLS: {last}"),
        ));
    }
    all(Outcome::ours(
        Kind::Deferred,
        "4.4.1",
        format!("451 4.4.1 no host for {domain} took the message: {last}"),
    ))
}

/// The shard's resolver for the current `[outbound] nameservers`, made on first use and
/// again when they change (a reload).
pub(crate) fn resolver_for(state: &ShardState, config: &OutboundConfig) -> Rc<Resolver> {
    let mut cached = state.outbound.resolver.borrow_mut();
    match cached.as_ref() {
        Some(r) if r.is_for(&config.nameservers) => r.clone(),
        _ => {
            let r = Rc::new(Resolver::new(&config.nameservers));
            *cached = Some(r.clone());
            r
        }
    }
}

/// A host to try and what its connection must achieve.
struct Target {
    host: String,
    policy: TlsPolicy,
    /// The certificate must be valid for `host` (the relay, REQUIRETLS, MTA-STS enforce).
    verified: bool,
    /// MTA-STS testing mode: not verified, but a certificate that would not verify is
    /// logged.
    report: bool,
}

/// Why an attempt on one address ended before a transaction's outcome.
enum Retry {
    /// The TLS handshake failed: the same host may be tried again without TLS (or, where
    /// TLS is required, not at all).
    Plaintext(String),
    /// STARTTLS was required and not offered (or refused): try the next host.
    NoTls(String),
    /// Try the next address or host.
    NextHost(String),
    /// A cached connection was closed by the host before the transaction got anywhere: try
    /// the same host on a new connection.
    Stale(String),
}

/// How [`drive`] ended.
enum Ended {
    /// The session is ready for another transaction.
    Ready,
    /// The session is over (`Some`: ended early, and why).
    Closed(Option<Failure>),
}

/// Run the session over its connection until it is ready with nothing left to send, or
/// closed: the greeting, EHLO, STARTTLS and AUTH on a new connection, then `envelope` (when
/// given; a reused connection was handed its envelope already). Returns the transaction's
/// result, if one came.
async fn drive(
    connection: &mut Connection,
    tls: &Arc<TlsConfig>,
    server_name: &ServerName<'static>,
    mut envelope: Option<Envelope>,
    body: &[u8],
) -> (Option<TransactionResult>, Ended) {
    let Connection {
        transport, session, ..
    } = connection;
    let mut result: Option<TransactionResult> = None;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let ended = loop {
        session.poll_output(&mut out);
        if !out.is_empty() {
            let written = with_timeout(wait_limit(session), transport.write_all(&out)).await;
            out.clear();
            if !matches!(written, Some(Ok(()))) {
                session.handle_connection_lost();
                continue;
            }
        }
        match session.poll_event() {
            Some(ClientEvent::StartTls) => match handshake(transport, tls, server_name).await {
                Ok(()) => session.handle_tls_established(),
                Err(_) => session.handle_tls_failed(),
            },
            Some(ClientEvent::Ready) => match envelope.take() {
                Some(e) => {
                    if session.send(e, body).is_err() {
                        session.quit();
                    }
                }
                None if result.is_some() => break Ended::Ready,
                None => session.quit(),
            },
            Some(ClientEvent::Done(r)) => result = Some(r),
            Some(ClientEvent::Closed(failure)) => break Ended::Closed(failure),
            None => match with_timeout(wait_limit(session), transport.read(&mut buf)).await {
                Some(Ok(0)) | Some(Err(_)) => session.handle_connection_lost(),
                Some(Ok(n)) => session.handle_input(&buf[..n]),
                None => session.handle_timeout(),
            },
        }
    };
    (result, ended)
}

/// What a cached connection is for: the same host and address, used the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    host: String,
    address: SocketAddr,
    policy: TlsPolicy,
    verified: bool,
    report: bool,
    user: Option<String>,
}

/// An open connection to a remote host with its session.
pub struct Connection {
    transport: Transport,
    session: ClientSession,
    /// The TLS configuration for its handshake.
    tls: Arc<TlsConfig>,
    /// MTA-STS testing mode: where the certificate check's verdict is left.
    report: Option<Verdict>,
    key: PoolKey,
    opened: Instant,
    idle_since: Instant,
    transactions: u32,
}

/// How long one connection carries messages, however busy (as Postfix's
/// `smtp_connection_reuse_time_limit`): a host's other addresses get their turn, and a
/// host that slows down is left.
const REUSE_LIFETIME: Duration = Duration::from_secs(300);

/// The shard's connections that finished a transaction and wait, briefly, for the next
/// message to the same host (Postfix's connection cache). At most
/// `max_connections_per_destination` wait per host; the runner closes those idle longer
/// than `connection_cache_secs`.
#[derive(Default)]
pub struct Pool {
    idle: RefCell<HashMap<PoolKey, Vec<Connection>>>,
    /// The most connections that may wait per key.
    per_key: Cell<usize>,
}

impl Pool {
    /// A connection to the host `key` names, the most recently used first.
    fn take(&self, key: &PoolKey) -> Option<Connection> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(key)?;
        let c = list.pop();
        if list.is_empty() {
            idle.remove(key);
        }
        c
    }

    /// Keep `connection` for the next message, or close it when caching is off, the host
    /// has enough waiting, or it has carried messages long enough.
    fn put(&self, mut connection: Connection, keep: Duration) {
        let full = self
            .idle
            .borrow()
            .get(&connection.key)
            .is_some_and(|l| l.len() >= self.per_key.get().max(1));
        if keep.is_zero() || full || connection.opened.elapsed() >= REUSE_LIFETIME {
            glommio::spawn_local(farewell(connection)).detach();
            return;
        }
        connection.idle_since = Instant::now();
        self.idle
            .borrow_mut()
            .entry(connection.key.clone())
            .or_default()
            .push(connection);
    }

    /// Close the connections idle for `keep` or more (all of them with `None`); how long
    /// until the next one is due, if any waits.
    pub fn reap(&self, keep: Option<Duration>, per_key: usize) -> Option<Duration> {
        self.per_key.set(per_key);
        let mut closing = Vec::new();
        let mut next: Option<Duration> = None;
        self.idle.borrow_mut().retain(|_, list| {
            let mut kept = Vec::with_capacity(list.len());
            for c in list.drain(..) {
                let idle = c.idle_since.elapsed();
                match keep {
                    Some(keep) if idle < keep => {
                        let left = keep - idle;
                        next = Some(next.map_or(left, |n| n.min(left)));
                        kept.push(c);
                    }
                    _ => closing.push(c),
                }
            }
            *list = kept;
            !list.is_empty()
        });
        for c in closing {
            glommio::spawn_local(farewell(c)).detach();
        }
        next
    }
}

/// QUIT on an idle connection, its reply awaited briefly, then close.
async fn farewell(mut connection: Connection) {
    let Connection {
        transport, session, ..
    } = &mut connection;
    session.quit();
    let mut out = Vec::new();
    session.poll_output(&mut out);
    let limit = Duration::from_secs(5);
    if matches!(
        with_timeout(limit, transport.write_all(&out)).await,
        Some(Ok(()))
    ) {
        let mut buf = [0u8; 512];
        while !matches!(session.poll_event(), Some(ClientEvent::Closed(_))) {
            match with_timeout(limit, transport.read(&mut buf)).await {
                Some(Ok(n)) if n > 0 => session.handle_input(&buf[..n]),
                _ => break,
            }
        }
    }
    connection.transport.close().await;
}

struct Attempt<'a> {
    state: &'a Rc<ShardState>,
    config: &'a OutboundConfig,
    host: &'a str,
    address: SocketAddr,
    policy: TlsPolicy,
    verified: bool,
    report: bool,
    auth: Option<(String, Secret<String>)>,
}

impl Attempt<'_> {
    fn remote(&self) -> String {
        format!("{} [{}]", self.host, self.address.ip())
    }

    /// What a cached connection must match to carry this attempt.
    fn key(&self) -> PoolKey {
        PoolKey {
            host: self.host.to_ascii_lowercase(),
            address: self.address,
            policy: self.policy,
            verified: self.verified,
            report: self.report,
            user: self.auth.as_ref().map(|(u, _)| u.clone()),
        }
    }

    /// The transaction on a cached connection to the same host when there is one, else on a
    /// new connection. A cached connection the host closed meanwhile (an idle timeout: the
    /// connection lost or a 421 before the transaction got anywhere) is dropped and a new one
    /// made.
    async fn run(&self, message: &Message<'_>) -> Result<Vec<Outcome>, Retry> {
        let cached = self.state.outbound.pool.take(&self.key());
        if let Some(connection) = cached {
            match self.transact(connection, message).await {
                Err(Retry::Stale(why)) => {
                    tracing::debug!(target: "ringpost::delivery", host = %self.host, reason = %why, "a cached connection was closed by the host; connecting anew");
                }
                other => return other,
            }
        }
        let connection = self.connect().await?;
        self.transact(connection, message).await
    }

    /// A new connection: TCP, TLS first when implicit, and a session that waits for the
    /// greeting.
    async fn connect(&self) -> Result<Connection, Retry> {
        let remote = self.remote();
        let tcp = TcpStream::connect_timeout(self.address, self.config.connect_timeout)
            .await
            .map_err(|e| Retry::NextHost(format!("{remote}: cannot connect: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let mut transport = Transport::plain(tcp);
        let (tls, report) = self.tls_config().map_err(Retry::NextHost)?;
        if self.policy == TlsPolicy::Implicit {
            handshake(
                &mut transport,
                &tls,
                &server_name(self.host, self.address.ip()),
            )
            .await
            .map_err(|e| Retry::Plaintext(format!("{remote}: TLS: {e}")))?;
        }
        let session = ClientSession::new(ClientConfig {
            helo_name: self.config.helo_name.clone(),
            tls: self.policy,
            auth: self.auth.clone(),
            max_reply_lines: 100,
            max_line: 4096,
        });
        Ok(Connection {
            transport,
            session,
            tls,
            report,
            key: self.key(),
            opened: Instant::now(),
            idle_since: Instant::now(),
            transactions: 0,
        })
    }

    /// One transaction on `connection`; the connection goes back to the shard's cache when
    /// the session is ready for another, else it is closed.
    async fn transact(
        &self,
        mut connection: Connection,
        message: &Message<'_>,
    ) -> Result<Vec<Outcome>, Retry> {
        let (reverse_path, body) = (message.reverse_path, message.body);
        let remote = self.remote();
        let reused = connection.transactions > 0;
        let tls = connection.tls.clone();
        let server_name = server_name(self.host, self.address.ip());
        let envelope = Envelope {
            reverse_path: reverse_path.to_string(),
            recipients: message
                .recipients
                .iter()
                .map(|(address, dsn)| Recipient {
                    address: address.clone(),
                    notify: dsn.notify,
                    orcpt: dsn.orcpt.clone(),
                })
                .collect(),
            body: body_type(body),
            smtputf8: needs_smtputf8(reverse_path, &message.recipients),
            requiretls: message.requiretls,
            ret: message.ret,
            envid: message.envid.clone(),
        };
        let mut envelope = Some(envelope);
        if reused {
            // Ready since its last transaction: no event will say so again.
            if let Some(e) = envelope.take() {
                if connection.session.send(e, body).is_err() {
                    connection.session.quit();
                }
            }
        }
        let (result, ended) = drive(&mut connection, &tls, &server_name, envelope, body).await;
        let tls_version = connection.transport.tls_info().map(|t| t.version);
        let dsn_passed = connection.session.capabilities().dsn;
        if connection.transactions == 0 {
            self.report_tls(&connection);
        }
        connection.transactions += 1;
        let failure = match ended {
            Ended::Ready => {
                self.state
                    .outbound
                    .pool
                    .put(connection, self.config.connection_cache);
                None
            }
            Ended::Closed(failure) => {
                connection.transport.close().await;
                failure
            }
        };
        if reused {
            let nothing_done = result.as_ref().is_none_or(|r| {
                r.recipients
                    .iter()
                    .all(|o| matches!(o, RecipientOutcome::Deferred(_)))
            });
            if let Some(f) = &failure {
                if nothing_done
                    && matches!(
                        f.kind,
                        FailureKind::ConnectionLost | FailureKind::ServerClosing
                    )
                {
                    return Err(Retry::Stale(f.reply.to_string()));
                }
            }
        }
        match (result, failure) {
            (Some(r), _) => Ok(r
                .recipients
                .into_iter()
                .map(|o| Outcome {
                    dsn_passed,
                    ..outcome(o, &remote, tls_version.clone())
                })
                .collect()),
            (None, Some(failure)) => {
                let why = format!("{remote}: {}", failure.reply);
                match failure.kind {
                    FailureKind::TlsHandshake => Err(Retry::Plaintext(why)),
                    FailureKind::StartTlsUnavailable | FailureKind::StartTlsRefused => {
                        Err(Retry::NoTls(why))
                    }
                    _ => Err(Retry::NextHost(why)),
                }
            }
            (None, None) => Err(Retry::NextHost(format!(
                "{remote}: closed without a transaction"
            ))),
        }
    }

    /// The TLS client configuration for this connection: verified where the certificate
    /// must be valid, anything goes (opportunistic) otherwise; in MTA-STS testing mode a
    /// configuration of its own that takes any certificate but leaves the verdict of the
    /// real check where [`Attempt::report_tls`] finds it.
    fn tls_config(&self) -> Result<(Arc<TlsConfig>, Option<Verdict>), String> {
        let set = tls_set(self.state, self.config)?;
        if self.verified {
            return Ok((set.verified.clone(), None));
        }
        if !self.report {
            return Ok((set.opportunistic.clone(), None));
        }
        let verdict: Verdict = Arc::new(Mutex::new(None));
        let config = TlsConfig::builder_with_provider(set.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Reporting {
                checked: set.webpki.clone(),
                any: AnyCertificate(set.provider.clone()),
                verdict: verdict.clone(),
            }))
            .with_no_client_auth();
        Ok((Arc::new(config), Some(verdict)))
    }

    /// MTA-STS testing mode: log what enforcing would have refused on this connection (no
    /// TLS, or a certificate that does not verify for the host's name).
    fn report_tls(&self, connection: &Connection) {
        let Some(verdict) = &connection.report else {
            return;
        };
        let why = match verdict.lock().ok().and_then(|v| v.clone()) {
            Some(e) => Some(format!("the certificate does not verify: {e}")),
            None if !connection.transport.is_tls() => Some("no TLS".to_string()),
            None => None,
        };
        if let Some(why) = why {
            tracing::warn!(target: "ringpost::delivery", host = %self.host, reason = %why, "MTA-STS policy (testing): this connection would not have been allowed");
        }
    }
}

/// Where a certificate check that did not decide leaves its verdict.
type Verdict = Arc<Mutex<Option<String>>>;

/// What the outbound TLS configurations are made of.
pub struct TlsSet {
    provider: Arc<rustls::crypto::CryptoProvider>,
    opportunistic: Arc<TlsConfig>,
    verified: Arc<TlsConfig>,
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
}

impl TlsSet {
    /// The configuration that verifies certificates.
    pub fn verified(&self) -> &Arc<TlsConfig> {
        &self.verified
    }
}

/// The shard's TLS configurations, made on first use: the system's roots and `ca_file`.
pub(crate) fn tls_set(state: &ShardState, config: &OutboundConfig) -> Result<Rc<TlsSet>, String> {
    let cache = &state.outbound.tls;
    if let Some(c) = cache.borrow().as_ref() {
        return Ok(c.clone());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let opportunistic = TlsConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider.clone())))
        .with_no_client_auth();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(file) = &config.ca_file {
        use rustls::pki_types::pem::PemObject;
        let certs =
            CertificateDer::pem_file_iter(file).map_err(|e| format!("{}: {e}", file.display()))?;
        for cert in certs {
            roots
                .add(cert.map_err(|e| format!("{}: {e}", file.display()))?)
                .map_err(|e| format!("{}: {e}", file.display()))?;
        }
    }
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let verified = TlsConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(webpki.clone())
        .with_no_client_auth();
    let set = Rc::new(TlsSet {
        provider,
        opportunistic: Arc::new(opportunistic),
        verified: Arc::new(verified),
        webpki,
    });
    *cache.borrow_mut() = Some(set.clone());
    Ok(set)
}

/// The per-shard cache of client TLS configurations.
pub type TlsCache = std::cell::RefCell<Option<Rc<TlsSet>>>;

async fn handshake(
    transport: &mut Transport,
    config: &Arc<TlsConfig>,
    name: &ServerName<'static>,
) -> std::io::Result<()> {
    match with_timeout(
        Duration::from_secs(60),
        transport.client_handshake(config.clone(), name.clone()),
    )
    .await
    {
        Some(r) => r,
        None => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}

/// How long the session may wait for the server now (RFC 5321 §4.5.3.2), five minutes when
/// it names no limit.
fn wait_limit(session: &ClientSession) -> Duration {
    session.timeout().unwrap_or(Duration::from_secs(300))
}

async fn with_timeout<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> Option<T> {
    future::or(async { Some(f.await) }, async {
        glommio::timer::sleep(limit).await;
        None
    })
    .await
}

fn server_name(host: &str, ip: IpAddr) -> ServerName<'static> {
    ServerName::try_from(host.to_string()).unwrap_or(ServerName::IpAddress(ip.into()))
}

fn outcome(o: RecipientOutcome, remote: &str, tls: Option<String>) -> Outcome {
    let (kind, reply) = match o {
        RecipientOutcome::Delivered(r) => (Kind::Delivered, r),
        RecipientOutcome::Deferred(r) => (Kind::Deferred, r),
        RecipientOutcome::Failed(r) => (Kind::Failed, r),
    };
    Outcome {
        kind,
        status: status_of(&reply, kind),
        diagnostic: reply.to_string(),
        remote: Some(remote.to_string()),
        tls,
        dsn_passed: false,
    }
}

/// The reply's enhanced status code, or one made from its class (RFC 3463 §3.1's generic
/// `x.0.0`).
fn status_of(reply: &Reply, kind: Kind) -> String {
    match reply.enhanced {
        Some(e) => e.to_string(),
        None => match kind {
            Kind::Delivered => "2.0.0".into(),
            Kind::Deferred => "4.0.0".into(),
            Kind::Failed => "5.0.0".into(),
        },
    }
}

/// 8BITMIME when any byte has its high bit set.
fn body_type(body: &[u8]) -> BodyType {
    if body.iter().any(|b| *b >= 0x80) {
        BodyType::EightBitMime
    } else {
        BodyType::SevenBit
    }
}

fn needs_smtputf8(reverse_path: &str, recipients: &[(String, RecipientDsn)]) -> bool {
    !reverse_path.is_ascii() || recipients.iter().any(|(r, _)| !r.is_ascii())
}

/// Opportunistic TLS: the handshake's signatures are checked, the certificate is not (any
/// name, any issuer), as RFC 7435 allows when nothing says the peer must authenticate.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// MTA-STS testing mode: every certificate is taken, as [`AnyCertificate`] does, and the
/// verdict of the real check for the host's name is left in `verdict` for the log.
#[derive(Debug)]
struct Reporting {
    checked: Arc<rustls::client::WebPkiServerVerifier>,
    any: AnyCertificate,
    verdict: Verdict,
}

impl ServerCertVerifier for Reporting {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Err(e) = self.checked.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            if let Ok(mut v) = self.verdict.lock() {
                *v = Some(e.to_string());
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.any.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.any.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.any.supported_verify_schemes()
    }
}
