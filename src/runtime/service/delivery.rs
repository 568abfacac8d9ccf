//! The SMTP service (inbound and submission): resolves recipients in local domains and makes
//! a received message durable — in every local recipient's INBOX on its home shard, and in
//! the outbound queue for the others — with our trace headers in front. `Delivered` only once
//! every copy is on disk (DESIGN.md: an acknowledged message is on disk). A submitted message
//! for remote recipients is DKIM-signed here, once, before it is queued
//! ([`crate::outbound::dkim`]); local copies are not signed. A message on the inbound
//! listener is checked first (SPF, DKIM, DMARC, ARC on the auth thread,
//! [`crate::runtime::auth_checks`]) when `[inbound] auth_checks` is on: the results go into an
//! `Authentication-Results:` field, forged ones naming our host are removed, and a policy
//! (`dmarc_reject`, `spf_reject_fail`) may refuse it before it is acknowledged.

use super::{Context, Placement, Service};
use crate::config::{Config, Listener, Protocol};
use crate::queue::{envelope_header, queue_for, queued_head, QueuedMessage};
use crate::runtime::fanout::{Committed, Deliverer};
use crate::session::{Security, SessionConfig};
use crate::smtp::{
    received_header, strip_forged, AuthResults, Delivery, DeliveryOutcome, DeliveryReply,
    DeliveryRequest, ReceivedInfo, RecipientStatus, SmtpKind, SmtpSession,
};

/// SMTP's service. Stateless: a transaction's state is the session's until it is delivered.
pub struct DeliveryService;

impl Service for DeliveryService {
    type Session = SmtpSession;
    const PLACEMENT: Placement = Placement::Anywhere;

    fn session(
        listener: &Listener,
        session: SessionConfig,
        security: Security,
        _config: &Config,
    ) -> SmtpSession {
        let kind = match listener.protocol {
            Protocol::Submission => SmtpKind::Submission,
            _ => SmtpKind::Inbound,
        };
        SmtpSession::new(session, kind, security)
    }

    fn new() -> Self {
        DeliveryService
    }

    async fn handle(&mut self, request: DeliveryRequest, cx: &Context<'_>) -> DeliveryReply {
        match request {
            DeliveryRequest::CheckRecipient(address) => {
                DeliveryReply::Recipient(check_recipient(cx, &address).await)
            }
            DeliveryRequest::Deliver(delivery) => {
                DeliveryReply::Delivered(deliver(cx, *delivery).await)
            }
        }
    }

    async fn next_notice(&mut self) -> std::convert::Infallible {
        std::future::pending().await
    }
}

async fn check_recipient(cx: &Context<'_>, address: &str) -> RecipientStatus {
    match cx.shard.server().accounts.lookup(address) {
        Ok(Some(account)) => {
            let key = account.store_key();
            if mailbox_full(cx, &key).await {
                return RecipientStatus::MailboxFull;
            }
            RecipientStatus::Local { account: key }
        }
        Ok(None) => RecipientStatus::UnknownLocal,
        Err(e) => {
            tracing::error!(error = %e, "account database unavailable");
            RecipientStatus::TemporaryFailure
        }
    }
}

/// The quota limits of the account with store key `key` (the config's default if it has
/// none of its own, or if the account database cannot be read).
fn quota_limits(cx: &Context<'_>, key: &str) -> crate::mail::QuotaLimits {
    let server = cx.shard.server();
    let address = crate::accounts::address_of_key(key);
    match server.accounts.quota_limits(address, server.config.quota) {
        Ok(limits) => limits.unwrap_or(server.config.quota),
        Err(_) => server.config.quota,
    }
}

/// Whether the account is at its quota already, as its home shard counts (asked only when
/// it has limits). A failure to ask is not a refusal: the delivery checks again.
async fn mailbox_full(cx: &Context<'_>, key: &str) -> bool {
    let limits = quota_limits(cx, key);
    if !limits.is_limited() {
        return false;
    }
    let Some(deliverer) = cx.shard.deliverer.borrow().clone() else {
        return false;
    };
    match deliverer.usage(key).await {
        Ok(usage) => limits.full(usage),
        Err(e) => {
            tracing::warn!(error = %e, "could not read a recipient's quota usage");
            false
        }
    }
}

/// Make one received message durable for every recipient; nothing is kept when it fails.
/// One log line (target `ringpost::delivery`) says what happened to it.
async fn deliver(cx: &Context<'_>, mut delivery: Delivery) -> DeliveryOutcome {
    let shard = cx.shard;
    let now = crate::store::now();
    let id = shard.queue_id(now);
    let (signatures, signed_by) = dkim_signatures(cx, &delivery, &id, now);
    let auth = inbound_checks(cx, &mut delivery).await;
    let (auth_field, refused) = match &auth {
        Some((results, field)) => {
            let inbound = &shard.server().config.inbound;
            (
                field.as_str(),
                results.refusal(inbound.dmarc_reject, inbound.spf_reject_fail),
            )
        }
        None => ("", None),
    };
    let outcome = match refused {
        Some(refusal) => DeliveryOutcome::Refused(refusal),
        None => store_delivery(cx, &delivery, &id, now, &signatures, auth_field).await,
    };
    let recipients: Vec<&str> = delivery
        .local_recipients
        .iter()
        .map(|key| crate::accounts::address_of_key(key))
        .chain(delivery.remote_recipients.iter().map(String::as_str))
        .collect();
    if matches!(outcome, DeliveryOutcome::Delivered { .. }) {
        report_local_successes(cx, &delivery, &id, now).await;
    }
    shard.counters.message(
        matches!(outcome, DeliveryOutcome::Delivered { .. }),
        delivery.message.len() as u64,
        delivery.local_recipients.len() as u64,
        delivery.remote_recipients.len() as u64,
    );
    let summary = auth
        .as_ref()
        .map(|(results, _)| results.summary())
        .unwrap_or_default();
    tracing::info!(
        target: "ringpost::delivery",
        id = id.as_str(),
        from = delivery.reverse_path.as_str(),
        to = recipients.join(",").as_str(),
        local = delivery.local_recipients.len(),
        queued = delivery.remote_recipients.len(),
        size = delivery.message.len(),
        client_ip = %cx.peer.ip(),
        user = delivery.authenticated.as_deref().unwrap_or(""),
        dkim = signed_by.as_str(),
        spf = summary.0.as_str(),
        dkim_verified = summary.1.as_str(),
        dmarc = summary.2.as_str(),
        arc = summary.3,
        result = match outcome {
            DeliveryOutcome::Delivered { .. } => "accepted",
            DeliveryOutcome::Refused(crate::smtp::PolicyRefusal::Dmarc) => "refused by DMARC",
            DeliveryOutcome::Refused(crate::smtp::PolicyRefusal::Spf) => "refused by SPF",
            DeliveryOutcome::TemporaryFailure => "deferred",
            DeliveryOutcome::OverQuota => "refused: over quota",
        },
        "delivery"
    );
    outcome
}

/// The inbound checks of a message from the MX listener, when `[inbound] auth_checks` is on:
/// its results and the `Authentication-Results:` field (CRLF-terminated) written from them.
/// `Authentication-Results:` fields of the message that claim our host name are removed
/// from it (RFC 8601 §5) on the inbound listener whether the checks are on or not: only we
/// may speak for us. Submitted mail is left alone.
async fn inbound_checks(
    cx: &Context<'_>,
    delivery: &mut Delivery,
) -> Option<(AuthResults, String)> {
    if delivery.kind != SmtpKind::Inbound {
        return None;
    }
    let server = cx.shard.server();
    let config = &server.config;
    let results = if config.inbound.auth_checks {
        let check = crate::runtime::auth_checks::Check {
            // The checks see the message as the client sent it, forged fields and all.
            message: delivery.message.clone(),
            client_ip: cx.peer.ip(),
            helo: delivery.helo.clone(),
            mail_from: delivery.reverse_path.clone(),
            hostname: config.hostname.clone(),
            timeout: config.inbound.auth_timeout,
        };
        Some(
            crate::runtime::auth_checks::check(
                check,
                &config.outbound.nameservers,
                config.inbound.auth_queue,
            )
            .await,
        )
    } else {
        None
    };
    if let Some(stripped) = strip_forged(&delivery.message, &config.hostname) {
        delivery.message = stripped;
    }
    results.map(|results| {
        let field = results.header(&config.hostname);
        (results, field)
    })
}

/// The local recipients a message was accepted for but whose quota had no room when it was
/// written (others got it, so the client heard 250): the sender gets a bounce for them
/// (RFC 3461 §6.2, status 5.2.2), unless their NOTIFY asked for no failure report.
async fn report_over_quota(
    cx: &Context<'_>,
    delivery: &Delivery,
    id: &str,
    now: i64,
    over_quota: &[String],
) {
    use crate::outbound::dsn::Action;
    use crate::runtime::outbound::Wanted;
    tracing::info!(
        target: "ringpost::delivery",
        %id,
        over_quota = over_quota
            .iter()
            .map(|k| crate::accounts::address_of_key(k))
            .collect::<Vec<_>>()
            .join(",")
            .as_str(),
        "not delivered to these recipients: over quota"
    );
    let outcome = LocalOutcome {
        wanted: Wanted::Failure,
        action: Action::Failed,
        status: "5.2.2",
        diagnostic: "552 5.2.2 mailbox full: the message exceeds the quota",
    };
    report_local(
        cx,
        delivery,
        id,
        now,
        |key| over_quota.contains(key),
        outcome,
    )
    .await;
}

/// `NOTIFY=SUCCESS` on a local recipient (submission): the sender hears that the message
/// is in the mailbox (RFC 3461 §6.2.1, action `delivered`).
async fn report_local_successes(cx: &Context<'_>, delivery: &Delivery, id: &str, now: i64) {
    use crate::outbound::dsn::Action;
    use crate::runtime::outbound::Wanted;
    let outcome = LocalOutcome {
        wanted: Wanted::Success,
        action: Action::Delivered,
        status: "2.0.0",
        diagnostic: "250 2.0.0 delivered to the mailbox",
    };
    report_local(cx, delivery, id, now, |_| true, outcome).await;
}

/// What happened to some local recipients, as a delivery status notification says it.
struct LocalOutcome {
    /// The NOTIFY condition that asks for this report (without NOTIFY: failures only).
    wanted: crate::runtime::outbound::Wanted,
    action: crate::outbound::dsn::Action,
    status: &'static str,
    diagnostic: &'static str,
}

/// A report to the sender about the local recipients `which` selects whose NOTIFY asks for
/// `outcome` (none if there are none).
async fn report_local(
    cx: &Context<'_>,
    delivery: &Delivery,
    id: &str,
    now: i64,
    which: impl Fn(&String) -> bool,
    outcome: LocalOutcome,
) {
    use crate::outbound::dsn::RecipientReport;
    use crate::runtime::outbound::{report, wants, About};
    let reports: Vec<RecipientReport> = delivery
        .local_recipients
        .iter()
        .zip(
            delivery
                .dsn
                .local
                .iter()
                .map(Some)
                .chain(std::iter::repeat(None)),
        )
        .filter(|(key, _)| which(key))
        .filter(|(_, dsn)| match dsn {
            Some(dsn) => wants(dsn, outcome.wanted),
            None => outcome.wanted == crate::runtime::outbound::Wanted::Failure,
        })
        .map(|(key, dsn)| RecipientReport {
            address: crate::accounts::address_of_key(key).to_string(),
            original: dsn
                .and_then(|d| d.orcpt.as_ref())
                .map(|a| format!("rfc822;{a}")),
            action: outcome.action,
            status: outcome.status.into(),
            remote_mta: None,
            diagnostic: outcome.diagnostic.into(),
        })
        .collect();
    if reports.is_empty() {
        return;
    }
    let about = About {
        id,
        reverse_path: &delivery.reverse_path,
        accepted: now,
        envid: delivery.dsn.envid.as_deref(),
        headers_only: delivery.dsn.ret == Some(crate::smtp::dsn::Ret::Headers),
    };
    report(cx.shard, &about, &delivery.message, reports, None).await;
}

/// The `DKIM-Signature:` fields for a submitted message going to remote recipients (one per
/// `[[dkim]]` key of its `From:` domain), and the keys that signed it for the log
/// (`selector._domainkey.domain`, comma-separated). Signing is CPU work done here on the
/// shard: microseconds for Ed25519, about a millisecond for RSA-2048, plus hashing the body.
/// A key that fails is logged and left out: the message goes without that signature.
fn dkim_signatures(cx: &Context<'_>, delivery: &Delivery, id: &str, now: i64) -> (String, String) {
    let Some(account) = &delivery.authenticated else {
        return (String::new(), String::new());
    };
    if delivery.remote_recipients.is_empty() {
        return (String::new(), String::new());
    }
    let account_domain = account.rsplit_once('@').map_or("", |(_, d)| d);
    let config = &cx.shard.server().config;
    let mut fields = String::new();
    let mut signed_by = Vec::new();
    let now = u64::try_from(now).unwrap_or(0);
    for signed in crate::outbound::dkim::sign(&delivery.message, &config.dkim, account_domain, now)
    {
        let name = format!(
            "{}._domainkey.{}",
            signed.config.selector, signed.config.domain
        );
        match signed.field {
            Ok(field) => {
                fields.push_str(&field);
                signed_by.push(name);
            }
            Err(e) => tracing::warn!(
                target: "ringpost::delivery",
                %id,
                key = %signed.config.key_path.display(),
                selector = name.as_str(),
                error = e.as_str(),
                "DKIM signing failed; the message goes without this signature"
            ),
        }
    }
    (fields, signed_by.join(","))
}

async fn store_delivery(
    cx: &Context<'_>,
    delivery: &Delivery,
    id: &str,
    now: i64,
    signatures: &str,
    auth_results: &str,
) -> DeliveryOutcome {
    let Some(deliverer) = cx.shard.deliverer.borrow().clone() else {
        return DeliveryOutcome::TemporaryFailure;
    };
    let (return_path, received) = trace_headers(cx, delivery, id, now);
    // Remote recipients (submission only) go to the outbound queue first; if the local copies
    // then fail, the queued copy is retracted, so a 451 leaves nothing behind.
    let mut queued = Vec::new();
    let mut queued_bytes = None;
    if !delivery.remote_recipients.is_empty() {
        let envelope = envelope_header(
            id,
            &delivery.reverse_path,
            &delivery.remote_recipients,
            &delivery.dsn,
        );
        let head = queued_head(&envelope, &return_path, signatures, &received);
        let parts: [&[u8]; 2] = [head.as_bytes(), &delivery.message];
        let queue = queue_for(cx.shard.map, cx.shard.id, id);
        match store_copy(&deliverer, &[queue], &[], &parts, now).await {
            Ok(committed) => {
                queued = committed.copies;
                queued_bytes = Some(parts.concat());
            }
            Err(e) => {
                tracing::error!(%id, error = %e, "queueing failed; nothing kept");
                return DeliveryOutcome::TemporaryFailure;
            }
        }
    }
    if !delivery.local_recipients.is_empty() {
        // Return-Path first (RFC 5321 §4.4), then the results of the checks made on this hop
        // above the Received: field recording it (RFC 8601 §5: at the top, like trace fields).
        let parts: [&[u8]; 4] = [
            return_path.as_bytes(),
            auth_results.as_bytes(),
            received.as_bytes(),
            &delivery.message,
        ];
        let limits: Vec<_> = delivery
            .local_recipients
            .iter()
            .map(|key| quota_limits(cx, key))
            .collect();
        match store_copy(&deliverer, &delivery.local_recipients, &limits, &parts, now).await {
            Err(e) => {
                tracing::error!(%id, error = %e, "delivery failed; nothing kept");
                if !queued.is_empty() {
                    if let Err(e) = deliverer.retract(queued).await {
                        tracing::error!(%id, error = %e, "could not retract the queued copy");
                    }
                }
                return DeliveryOutcome::TemporaryFailure;
            }
            // Nobody had room and nothing else was written: the client hears it (552).
            Ok(committed) if committed.copies.is_empty() && queued.is_empty() => {
                return DeliveryOutcome::OverQuota;
            }
            Ok(committed) if !committed.over_quota.is_empty() => {
                report_over_quota(cx, delivery, id, now, &committed.over_quota).await;
            }
            Ok(_) => {}
        }
    }
    // The runner of this shard takes the queued copy as it is; another shard's (more shards
    // than queues) finds it at its next look into the queue.
    let handed = match (queued.first(), queued_bytes) {
        (Some((queue, uid)), Some(bytes)) if cx.shard.map.home_shard(queue) == cx.shard.id => {
            match QueuedMessage::parse(&bytes, now) {
                Some(message) => {
                    cx.shard
                        .outbound
                        .queued_here(queue.clone(), *uid, message, bytes);
                    true
                }
                None => false,
            }
        }
        _ => false,
    };
    if !queued.is_empty() && !handed {
        cx.shard.outbound.wake();
    }
    DeliveryOutcome::Delivered { id: id.to_string() }
}

/// One store delivery transaction: the concatenated `parts` to every account (within its
/// quota `limits`, when given), durable on each home shard when this returns `Ok`, nothing
/// kept when it returns `Err`.
async fn store_copy(
    deliverer: &Deliverer,
    accounts: &[String],
    limits: &[crate::mail::QuotaLimits],
    parts: &[&[u8]],
    now: i64,
) -> crate::store::Result<Committed> {
    let mut tx = deliverer.begin();
    for (i, account) in accounts.iter().enumerate() {
        let limits = limits
            .get(i)
            .copied()
            .unwrap_or(crate::mail::QuotaLimits::NONE);
        tx.add_recipient_within(account, limits)?;
    }
    for part in parts {
        tx.write(part)?;
    }
    tx.set_internal_date(now);
    tx.commit().await
}

/// What we put in front of a delivered message (RFC 5321 §4.4): `Return-Path:` (we are the
/// final delivery) and our `Received:` trace header, each ending in CRLF.
fn trace_headers(cx: &Context<'_>, delivery: &Delivery, id: &str, now: i64) -> (String, String) {
    let received = received_header(&ReceivedInfo {
        helo: delivery.helo.clone(),
        peer_ip: cx.peer.ip(),
        hostname: cx.shard.server().config.hostname.clone(),
        protocol: delivery.protocol,
        tls: cx.transport.tls_info().map(|t| (t.version, t.cipher)),
        authenticated: delivery.authenticated.clone(),
        id: id.to_string(),
        recipient: match delivery.local_recipients.as_slice() {
            [one] if delivery.remote_recipients.is_empty() => {
                Some(crate::accounts::address_of_key(one).to_string())
            }
            _ => None,
        },
        date: crate::date::rfc5322(now),
    });
    (
        format!("Return-Path: <{}>\r\n", delivery.reverse_path),
        received,
    )
}
