//! The auth thread: SPF, DKIM, DMARC and ARC checks of inbound mail with mail-auth's
//! `MessageAuthenticator`, whose resolver (hickory) needs tokio. DESIGN.md: a tokio-based
//! crate runs on a thread of its own behind a typed channel, never on a shard. So the
//! process has ONE such thread, with a tokio current-thread runtime; shards hand it a
//! [`Check`] through a bounded channel (`try_send`: a full queue skips the checks, it never
//! blocks a shard) and await the answer on a `futures_channel::oneshot`, which works on any
//! executor. Each message's checks run as a task of their own on that thread (at most
//! [`IN_FLIGHT`] at once), bounded by `[inbound] auth_timeout_secs`; the shard also stops
//! waiting a little after that. When the thread or its resolver cannot start, every message
//! gets `temperror` results and is delivered as without the checks.
//!
//! The thread starts with the first message that needs it (or at `serve` when the
//! configuration asks for the checks) with the resolvers of `[outbound] nameservers` as
//! they were then (empty: /etc/resolv.conf); changing them takes a restart.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Duration;

use futures_channel::oneshot;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    dmarc::verify::DmarcParameters, AuthenticatedMessage, DkimResult, DmarcResult,
    MessageAuthenticator, SpfResult,
};

use crate::smtp::{AuthResults, DkimCheck, DmarcCheck, DmarcPolicy, SpfCheck, Verdict};

/// Messages checked at once on the auth thread (each mostly waits for DNS).
const IN_FLIGHT: usize = 64;
/// How much longer than the thread's own limit a shard waits for an answer.
const SHARD_GRACE: Duration = Duration::from_secs(2);

/// What the checks of one message need: the message as received (before our trace fields),
/// the client's address, its EHLO name and MAIL FROM, and our name (the SPF `host_domain`).
pub struct Check {
    pub message: Vec<u8>,
    pub client_ip: IpAddr,
    pub helo: String,
    pub mail_from: String,
    pub hostname: String,
    pub timeout: Duration,
}

struct Request {
    check: Check,
    reply: oneshot::Sender<AuthResults>,
}

static THREAD: OnceLock<tokio::sync::mpsc::Sender<Request>> = OnceLock::new();

/// Start the auth thread unless it runs already. `queue` bounds the messages waiting for it.
pub fn start(nameservers: &[SocketAddr], queue: usize) {
    let nameservers = nameservers.to_vec();
    THREAD.get_or_init(move || spawn(nameservers, queue));
}

/// Check one message; never fails: anything that goes wrong gives `temperror` results.
/// Waits on the shard's executor without blocking it.
pub async fn check(check: Check, nameservers: &[SocketAddr], queue: usize) -> AuthResults {
    start(nameservers, queue);
    let unavailable = AuthResults::unavailable(&check.mail_from, &check.helo);
    let Some(sender) = THREAD.get() else {
        return unavailable;
    };
    let wait = check.timeout + SHARD_GRACE;
    let (reply, answer) = oneshot::channel();
    match sender.try_send(Request { check, reply }) {
        Ok(()) => {}
        Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(
                target: "ringpost::delivery",
                "auth checks skipped: the auth thread's queue is full"
            );
            return unavailable;
        }
        Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
            // The thread could not start (logged once, when it tried).
            return unavailable;
        }
    }
    let timer = async {
        glommio::timer::sleep(wait).await;
        None
    };
    match futures_lite::future::or(async { answer.await.ok() }, timer).await {
        Some(results) => results,
        None => {
            tracing::warn!(
                target: "ringpost::delivery",
                "auth checks did not answer in time; counted as temperror"
            );
            unavailable
        }
    }
}

fn spawn(nameservers: Vec<SocketAddr>, queue: usize) -> tokio::sync::mpsc::Sender<Request> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Request>(queue.max(1));
    let spawned = std::thread::Builder::new()
        .name("ringpost-auth".into())
        .spawn(move || run(nameservers, receiver));
    if let Err(e) = spawned {
        // The receiver is gone with the closure: every check is then `temperror`.
        tracing::error!(error = %e, "cannot start the auth thread; inbound checks give temperror");
    }
    sender
}

fn run(nameservers: Vec<SocketAddr>, mut receiver: tokio::sync::mpsc::Receiver<Request>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the auth thread's runtime; inbound checks give temperror");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let authenticator = match authenticator(&nameservers) {
            Ok(a) => Rc::new(a),
            Err(e) => {
                tracing::error!(error = %e, "cannot build the resolver for inbound checks; they give temperror");
                return;
            }
        };
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        while let Some(request) = receiver.recv().await {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let authenticator = authenticator.clone();
            tokio::task::spawn_local(async move {
                let Request { check, reply } = request;
                let results =
                    match tokio::time::timeout(check.timeout, verify(&authenticator, &check)).await
                    {
                        Ok(results) => results,
                        Err(_) => {
                            tracing::warn!(
                                target: "ringpost::delivery",
                                timeout_secs = check.timeout.as_secs(),
                                "auth checks did not finish in time (DNS?); counted as temperror"
                            );
                            AuthResults::unavailable(&check.mail_from, &check.helo)
                        }
                    };
                // The shard may have stopped waiting; then nobody needs the answer.
                let _ = reply.send(results);
                drop(permit);
            });
        }
    });
}

/// The authenticator over `nameservers` (each ip:port, over UDP and TCP), or those of
/// /etc/resolv.conf when there are none.
fn authenticator(nameservers: &[SocketAddr]) -> Result<MessageAuthenticator, String> {
    if nameservers.is_empty() {
        return MessageAuthenticator::new_system_conf().map_err(|e| e.to_string());
    }
    let servers = nameservers
        .iter()
        .map(|address| {
            let mut udp = ConnectionConfig::udp();
            udp.port = address.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = address.port();
            NameServerConfig::new(address.ip(), true, vec![udp, tcp])
        })
        .collect();
    let mut options = ResolverOpts::default();
    options.timeout = Duration::from_secs(3);
    options.attempts = 2;
    MessageAuthenticator::new(ResolverConfig::from_name_servers(servers), options)
        .map_err(|e| e.to_string())
}

/// Every check of one message, in the order DMARC needs them.
async fn verify(authenticator: &MessageAuthenticator, check: &Check) -> AuthResults {
    let spf_params = if check.mail_from.is_empty() {
        SpfParameters::verify_ehlo(check.client_ip, &check.helo, &check.hostname)
    } else {
        SpfParameters::verify_mail_from(
            check.client_ip,
            &check.helo,
            &check.hostname,
            &check.mail_from,
        )
    };
    let spf = authenticator.verify_spf(spf_params).await;
    let spf_check = SpfCheck {
        result: match spf.result() {
            SpfResult::Pass => Verdict::Pass,
            SpfResult::Fail => Verdict::Fail,
            SpfResult::SoftFail => Verdict::SoftFail,
            SpfResult::Neutral => Verdict::Neutral,
            SpfResult::TempError => Verdict::TempError,
            SpfResult::PermError => Verdict::PermError,
            SpfResult::None => Verdict::None,
        },
        mail_from: check.mail_from.clone(),
        helo: check.helo.clone(),
    };
    let Some(message) = AuthenticatedMessage::parse(&check.message) else {
        // Not a message mail-auth can read: no signature to check, no From: to align.
        return AuthResults {
            spf: spf_check,
            dkim: Vec::new(),
            dmarc: Some(DmarcCheck {
                result: Verdict::PermError,
                from_domain: String::new(),
                policy: DmarcPolicy::None,
            }),
            arc: Verdict::None,
        };
    };
    let dkim = authenticator.verify_dkim(&message).await;
    let arc = authenticator.verify_arc(&message).await;
    let mail_from_domain = match check.mail_from.rsplit_once('@') {
        Some((_, domain)) => domain,
        None => check.helo.as_str(),
    };
    let dmarc = authenticator
        .verify_dmarc(DmarcParameters::new(
            &message,
            &dkim,
            mail_from_domain,
            &spf,
        ))
        .await;
    AuthResults {
        spf: spf_check,
        dkim: dkim
            .iter()
            .map(|output| DkimCheck {
                result: dkim_verdict(output.result()),
                domain: output.signature().map(|s| s.d.clone()).unwrap_or_default(),
                selector: output.signature().map(|s| s.s.clone()).unwrap_or_default(),
            })
            .collect(),
        dmarc: Some(DmarcCheck {
            result: match dmarc.result() {
                DmarcResult::Pass => Verdict::Pass,
                DmarcResult::Fail(_) => Verdict::Fail,
                DmarcResult::TempError(_) => Verdict::TempError,
                DmarcResult::PermError(_) => Verdict::PermError,
                DmarcResult::None => Verdict::None,
            },
            from_domain: dmarc.domain().to_string(),
            policy: match dmarc.policy() {
                mail_auth::dmarc::Policy::Reject => DmarcPolicy::Reject,
                mail_auth::dmarc::Policy::Quarantine => DmarcPolicy::Quarantine,
                _ => DmarcPolicy::None,
            },
        }),
        arc: dkim_verdict(arc.result()),
    }
}

fn dkim_verdict(result: &DkimResult) -> Verdict {
    match result {
        DkimResult::Pass => Verdict::Pass,
        DkimResult::Neutral(_) => Verdict::Neutral,
        DkimResult::Fail(_) => Verdict::Fail,
        DkimResult::PermError(_) => Verdict::PermError,
        DkimResult::TempError(_) => Verdict::TempError,
        DkimResult::None => Verdict::None,
    }
}
