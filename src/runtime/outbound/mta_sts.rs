//! MTA-STS (RFC 8461) for outbound delivery: each recipient domain's policy, looked up in
//! DNS (`_mta-sts.<domain>` TXT), fetched over HTTPS from
//! `https://mta-sts.<domain>/.well-known/mta-sts.txt` with the certificate verified, and
//! cached. What a policy means for the MX hosts is [`crate::outbound::mta_sts`]'s (sans-IO);
//! this module does the lookups, the fetch and the cache.
//!
//! # The cache
//!
//! Per shard, in memory, and on disk under `data_dir/mta-sts/` (one small file per domain,
//! written when a policy is fetched, read the first time a shard needs the domain), so a
//! restart does not reopen the window a cached policy closes (RFC 8461 §10.2: an attacker
//! who blocks the TXT lookup cannot make a cached policy vanish). A TXT answer is used for
//! [`TXT_TTL`]; a fetch that failed is not tried again for the domain for
//! [`FETCH_RETRY`] (the cached policy, if any, applies meanwhile, §3.3). A cached policy
//! due for renewal is refreshed in the background: the message does not wait.
//!
//! The cache files are small and written rarely (once per policy change), with blocking
//! file calls on the shard; everything else here is asynchronous.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::future;
use glommio::net::TcpStream;
use rustls::pki_types::ServerName;

use super::resolver::Resolver;
use crate::config::OutboundConfig;
use crate::outbound::dns::{Answer, Question};
use crate::outbound::mta_sts::{self as sts, Cached, Decision, Mode, Policy, Progress, StsRecord};
use crate::runtime::net::{ShardState, Transport};

/// How long a TXT answer is used before it is asked again.
const TXT_TTL: i64 = 60;

/// How long after a failed fetch the domain's policy is not fetched again.
const FETCH_RETRY: i64 = 300;

/// The longest a fetch may take, connection to last byte (RFC 8461 §3.3 asks for a
/// timeout; its example says one minute).
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// What a shard knows of one domain.
#[derive(Default)]
struct Slot {
    /// The file was read (or there was none).
    loaded: bool,
    cached: Option<Cached>,
    /// The STS record seen at the last lookup, and when that was.
    record: Option<StsRecord>,
    looked: Option<i64>,
    /// When a fetch last failed.
    failed: Option<i64>,
    /// A fetch is running (a background refresh, or another message's).
    fetching: bool,
}

/// The shard's MTA-STS knowledge, by domain.
#[derive(Default)]
pub struct Cache {
    domains: RefCell<HashMap<String, Slot>>,
}

/// The policy that applies to mail for `domain` now (`None`: deliver as without one).
pub async fn policy(
    state: &Rc<ShardState>,
    config: &OutboundConfig,
    resolver: &Resolver,
    domain: &str,
) -> Option<Policy> {
    let domain = domain.to_ascii_lowercase();
    let now = crate::store::now();
    let cache = &state.outbound.sts;
    let file = cache_file(state, &domain);
    {
        let mut domains = cache.domains.borrow_mut();
        let slot = domains.entry(domain.clone()).or_default();
        if !slot.loaded {
            slot.loaded = true;
            slot.cached = file.as_ref().and_then(load);
        }
    }
    let stale = cache
        .domains
        .borrow()
        .get(&domain)
        .is_none_or(|s| s.looked.is_none_or(|t| now - t >= TXT_TTL));
    if stale {
        let record = match resolver.ask(&sts::txt_name(&domain), Question::Txt).await {
            Ok(Answer::Txt(strings)) => sts::sts_record(&strings),
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(target: "ringpost::delivery", domain, error = %e, "MTA-STS: the TXT lookup failed");
                None
            }
        };
        if let Some(slot) = cache.domains.borrow_mut().get_mut(&domain) {
            slot.record = record;
            slot.looked = Some(now);
        }
    }
    // What to do, decided on the slot as it is now (nothing borrowed across the fetch).
    enum Next {
        Apply(Option<Policy>),
        Refresh(Policy, String),
        Fetch(Option<Policy>, String),
    }
    let next = {
        let domains = cache.domains.borrow();
        let slot = domains.get(&domain)?;
        let recently_failed = slot.failed.is_some_and(|t| now - t < FETCH_RETRY);
        let id = slot.record.as_ref().map(|r| r.id.clone());
        match (
            sts::decide(slot.cached.as_ref(), slot.record.as_ref(), now),
            id,
        ) {
            (Decision::NoPolicy, _) => Next::Apply(None),
            (Decision::UseCached { policy, refresh }, Some(id))
                if refresh && !recently_failed && !slot.fetching =>
            {
                Next::Refresh(policy.clone(), id)
            }
            (Decision::UseCached { policy, .. }, _) => Next::Apply(Some(policy.clone())),
            (Decision::Fetch { fallback }, Some(id)) if !recently_failed && !slot.fetching => {
                Next::Fetch(fallback.cloned(), id)
            }
            (Decision::Fetch { fallback }, _) => Next::Apply(fallback.cloned()),
        }
    };
    match next {
        Next::Apply(p) => p,
        Next::Refresh(current, id) => {
            let state = state.clone();
            let config = config.clone();
            let resolver = resolver.clone();
            glommio::spawn_local(async move {
                update(&state, &config, &resolver, &domain, &id).await;
            })
            .detach();
            Some(current)
        }
        Next::Fetch(fallback, id) => match update(state, config, resolver, &domain, &id).await {
            Some(p) => (p.mode != Mode::None).then_some(p),
            None => fallback,
        },
    }
}

/// Fetch the domain's policy for the record `id` and keep it; `None` if the fetch failed
/// (logged, and not tried again for [`FETCH_RETRY`]).
async fn update(
    state: &ShardState,
    config: &OutboundConfig,
    resolver: &Resolver,
    domain: &str,
    id: &str,
) -> Option<Policy> {
    let cache = &state.outbound.sts;
    if let Some(slot) = cache.domains.borrow_mut().get_mut(domain) {
        slot.fetching = true;
    }
    let fetched = future::or(fetch(state, config, resolver, domain), async {
        glommio::timer::sleep(FETCH_TIMEOUT).await;
        Err(format!("no answer in {} s", FETCH_TIMEOUT.as_secs()))
    })
    .await;
    let now = crate::store::now();
    let mut domains = cache.domains.borrow_mut();
    let slot = domains.entry(domain.to_string()).or_default();
    slot.fetching = false;
    match fetched {
        Ok(policy) => {
            tracing::info!(target: "ringpost::delivery", domain, id, mode = policy.mode.name(), max_age = policy.max_age, "MTA-STS policy fetched");
            let cached = Cached::new(policy.clone(), id, now);
            if let Some(file) = cache_file(state, domain) {
                if let Err(e) = save(&file, &cached) {
                    tracing::warn!(target: "ringpost::delivery", domain, error = %e, "cannot keep the MTA-STS policy on disk");
                }
            }
            slot.cached = Some(cached);
            slot.failed = None;
            Some(policy)
        }
        Err(e) => {
            tracing::warn!(target: "ringpost::delivery", domain, error = %e, "MTA-STS policy fetch failed");
            slot.failed = Some(now);
            None
        }
    }
}

/// One HTTPS GET of the policy, through each address of `mta-sts.<domain>` in turn.
async fn fetch(
    state: &ShardState,
    config: &OutboundConfig,
    resolver: &Resolver,
    domain: &str,
) -> Result<Policy, String> {
    let host = sts::policy_host(domain).map_err(|e| e.to_string())?;
    let request = sts::request(domain).map_err(|e| e.to_string())?;
    let addresses = resolver
        .addresses(&host)
        .await
        .map_err(|e| format!("{host}: {e}"))?;
    if addresses.is_empty() {
        return Err(format!("{host} has no address"));
    }
    let tls = super::send::tls_set(state, config)?;
    let name = ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
    let mut last = String::new();
    for ip in addresses {
        let address = SocketAddr::new(ip, config.mta_sts_port);
        let read = |received: &[u8], eof: bool| match (eof, sts::read_response(received)) {
            (true, _) => sts::read_response_at_eof(received).map(Some),
            (false, Progress::NeedMore) => Ok(None),
            (false, Progress::Done(r)) => r.map(Some),
        };
        let got = https_get(
            address,
            tls.verified().clone(),
            name.clone(),
            &request,
            config,
            read,
        )
        .await;
        match got {
            Ok(policy) => return Ok(policy),
            Err(e) => last = format!("{host} [{ip}]: {e}"),
        }
    }
    Err(last)
}

/// One HTTPS request to `address` (the certificate verified for `name`), its response read
/// by `read` from everything received so far (`Ok(None)`: more is needed; the second
/// argument says the server closed the connection), bounded by what `read` accepts.
pub(crate) async fn https_get<T, E: std::fmt::Display>(
    address: SocketAddr,
    tls: std::sync::Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
    request: &[u8],
    config: &OutboundConfig,
    read: impl Fn(&[u8], bool) -> Result<Option<T>, E>,
) -> Result<T, String> {
    let tcp = TcpStream::connect_timeout(address, config.connect_timeout)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let mut transport = Transport::plain(tcp);
    transport
        .client_handshake(tls, name)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    transport
        .write_all(request)
        .await
        .map_err(|e| e.to_string())?;
    let mut received = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let result = loop {
        match transport.read(&mut buf).await {
            Ok(0) => {
                break match read(&received, true) {
                    Ok(Some(t)) => Ok(t),
                    Ok(None) => Err("the response ended early".to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
            Ok(n) => {
                received.extend_from_slice(&buf[..n]);
                match read(&received, false) {
                    Ok(Some(t)) => break Ok(t),
                    Ok(None) => {}
                    Err(e) => break Err(e.to_string()),
                }
            }
            Err(e) => break Err(e.to_string()),
        }
    };
    transport.close().await;
    result
}

/// The domain's cache file, for a name fit to be a file name (what
/// [`sts::policy_host`] accepts is).
fn cache_file(state: &ShardState, domain: &str) -> Option<PathBuf> {
    sts::policy_host(domain).ok()?;
    if domain.starts_with('.') || domain.contains("..") || domain.contains('/') {
        return None;
    }
    Some(state.server().config.data_dir.join("mta-sts").join(domain))
}

/// A cached policy from its file: `id:` and `fetched:` lines, an empty line, the policy.
fn load(file: &PathBuf) -> Option<Cached> {
    let text = std::fs::read_to_string(file).ok()?;
    let (head, body) = text.split_once("\n\n")?;
    let mut id = None;
    let mut fetched = None;
    for line in head.lines() {
        match line.split_once(": ") {
            Some(("id", v)) => id = Some(v.to_string()),
            Some(("fetched", v)) => fetched = v.parse::<i64>().ok(),
            _ => {}
        }
    }
    let policy = Policy::parse(body.as_bytes()).ok()?;
    Some(Cached::new(policy, id?, fetched?))
}

fn save(file: &PathBuf, cached: &Cached) -> std::io::Result<()> {
    let dir = file
        .parent()
        .ok_or_else(|| std::io::Error::other("no folder"))?;
    std::fs::create_dir_all(dir)?;
    let p = &cached.policy;
    let mut text = format!(
        "id: {}\nfetched: {}\n\nversion: STSv1\nmode: {}\n",
        cached.id,
        cached.fetched,
        p.mode.name()
    );
    for mx in &p.mx {
        text.push_str(&format!("mx: {mx}\n"));
    }
    text.push_str(&format!("max_age: {}\n", p.max_age));
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file)
}
