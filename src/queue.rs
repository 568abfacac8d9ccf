//! The outbound queue: mail accepted on submission for recipients outside our domains, kept
//! durably in the store until the sending half (smarthost relay, MX lookup, retries, bounces —
//! a later issue) takes it.
//!
//! A queued message is an ordinary stored message in the INBOX of an internal account that can
//! never log in (a queue account is not an address: it has no local part). There are
//! [`QUEUES`] of them, spread over the partitions and so over the shards: a shard queues what
//! it accepts in a queue it owns ([`queue_for`]), and each shard's runner sends what its own
//! queues hold. Their `State` mailboxes keep each message's delivery state
//! ([`crate::outbound::state`]). Its first header
//! fields carry the envelope; after them come our `Return-Path:`/`Received:` and the message
//! as the client sent it. This module formats and parses that envelope and lists the queue;
//! it never sends mail.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::mail::{Flags, Uid};
use crate::outbound::state::DeliveryState;
use crate::placement::ShardMap;
use crate::smtp::client::xtext;
use crate::smtp::dsn::{xtext_decode, MessageDsn, Notify, RecipientDsn, Ret};
use crate::store::{Store, StoreConfig, StoreError};

/// The first queue account (the only one before the queue was spread over shards).
pub const QUEUE_ACCOUNT: &str = "@outbound-queue";

/// Number of queue accounts. Part of the on-disk layout: never lower it.
pub const QUEUES: usize = 64;

/// The mailbox of a queue account that holds delivery states.
pub const STATE_MAILBOX: &str = "State";

/// Queue account number `i` (below [`QUEUES`]).
pub fn queue_account(i: usize) -> String {
    if i == 0 {
        QUEUE_ACCOUNT.to_string()
    } else {
        format!("{QUEUE_ACCOUNT}-{i}")
    }
}

/// The queue accounts whose partitions `shard` owns under `map`.
pub fn owned_queues(map: ShardMap, shard: crate::placement::ShardId) -> Vec<String> {
    (0..QUEUES)
        .map(queue_account)
        .filter(|q| map.home_shard(q) == shard)
        .collect()
}

/// The queue a message accepted on `shard` goes to: the first queue the shard owns (no hop
/// to another shard), or, on a shard that owns none (more shards than queues reach), one
/// chosen by the message's id.
pub fn queue_for(map: ShardMap, shard: crate::placement::ShardId, id: &str) -> String {
    match owned_queues(map, shard).into_iter().next() {
        Some(q) => q,
        None => {
            let spread = id.bytes().fold(0usize, |h, b| {
                h.wrapping_mul(31).wrapping_add(usize::from(b))
            });
            queue_account(spread % QUEUES)
        }
    }
}

/// Whether `account` is a queue account (never a user's).
pub fn is_queue(account: &str) -> bool {
    account.starts_with(QUEUE_ACCOUNT)
}

const ID: &str = "X-Ringpost-Queue-Id";
const FROM: &str = "X-Ringpost-Envelope-From";
const TO: &str = "X-Ringpost-Envelope-To";
const PARAMS: &str = "X-Ringpost-Envelope-Params";

/// The envelope header fields put in front of a queued message: its id, the reverse-path,
/// REQUIRETLS, RET and ENVID if given, and one field per recipient with its NOTIFY/ORCPT (RFC 3461; values
/// as on the wire, xtext where the RFC has it).
pub fn envelope_header(
    id: &str,
    reverse_path: &str,
    recipients: &[String],
    dsn: &MessageDsn,
) -> String {
    let mut h = format!("{ID}: {id}\r\n{FROM}: <{reverse_path}>\r\n");
    if dsn.ret.is_some() || dsn.envid.is_some() || dsn.requiretls {
        h.push_str(PARAMS);
        h.push(':');
        if dsn.requiretls {
            h.push_str(" REQUIRETLS");
        }
        match dsn.ret {
            Some(Ret::Full) => h.push_str(" RET=FULL"),
            Some(Ret::Headers) => h.push_str(" RET=HDRS"),
            None => {}
        }
        if let Some(envid) = &dsn.envid {
            let _ = write!(h, " ENVID={}", xtext(envid));
        }
        h.push_str("\r\n");
    }
    for (i, r) in recipients.iter().enumerate() {
        let _ = write!(h, "{TO}: <{r}>");
        let d = dsn.remote.get(i).cloned().unwrap_or_default();
        match d.notify {
            Some(Notify::Never) => h.push_str(" NOTIFY=NEVER"),
            Some(Notify::On {
                success,
                failure,
                delay,
            }) => {
                let words: Vec<&str> =
                    [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")]
                        .iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, w)| *w)
                        .collect();
                let _ = write!(h, " NOTIFY={}", words.join(","));
            }
            None => {}
        }
        if let Some(orcpt) = &d.orcpt {
            let _ = write!(h, " ORCPT={}", xtext(orcpt));
        }
        h.push_str("\r\n");
    }
    h
}

/// The fields stored in front of a queued message, in this order: the envelope
/// ([`envelope_header`]), our `Return-Path:`, the message's `DKIM-Signature:` fields (empty
/// when unsigned), our `Received:`. [`outgoing`] drops the first two, so what is sent starts
/// with the signatures — which cover the message as the client sent it, not our trace field.
pub fn queued_head(envelope: &str, return_path: &str, signatures: &str, received: &str) -> String {
    format!("{envelope}{return_path}{signatures}{received}")
}

/// One queued message, as `ringpost queue list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: String,
    pub reverse_path: String,
    pub recipients: Vec<String>,
    /// RET, ENVID and each recipient's NOTIFY/ORCPT (`remote`, parallel to `recipients`).
    pub dsn: MessageDsn,
    /// Bytes as stored (envelope fields included).
    pub size: usize,
    /// Seconds since the Unix epoch at which it was accepted.
    pub accepted: i64,
}

impl QueuedMessage {
    /// Read the envelope back from a queued message's bytes; `None` if they do not start with
    /// the envelope fields this module writes (now, or before the DSN parameters: then one
    /// `To` field listed every recipient).
    pub fn parse(bytes: &[u8], accepted: i64) -> Option<QueuedMessage> {
        let end = memchr::memmem::find(bytes, b"\r\nReturn-Path:")?;
        let head = std::str::from_utf8(&bytes[..end]).ok()?;
        // Unfold continuation lines (RFC 5322 §2.2.3).
        let unfolded = head.replace("\r\n\t", " ");
        let mut id = None;
        let mut from = None;
        let mut recipients = Vec::new();
        let mut dsn = MessageDsn::default();
        for line in unfolded.split("\r\n") {
            let (name, value) = line.split_once(": ")?;
            match name {
                ID => id = Some(value.to_string()),
                FROM => from = Some(value.trim_matches(['<', '>']).to_string()),
                PARAMS => {
                    for param in value.split(' ') {
                        if param == "REQUIRETLS" {
                            dsn.requiretls = true;
                            continue;
                        }
                        let (k, v) = param.split_once('=')?;
                        match k {
                            "RET" => dsn.ret = Some(crate::smtp::dsn::parse_ret(v.as_bytes())?),
                            "ENVID" => dsn.envid = Some(xtext_decode(v.as_bytes())?),
                            _ => return None,
                        }
                    }
                }
                TO => {
                    let close = value.find('>')?;
                    let (address, rest) = (&value[..=close], value[close + 1..].trim_start());
                    if rest.starts_with(',') {
                        // The format before DSN parameters: `<a>, <b>, …`.
                        for r in value.split(',') {
                            let r = r.trim().trim_matches(['<', '>']);
                            if !r.is_empty() {
                                recipients.push(r.to_string());
                                dsn.remote.push(RecipientDsn::default());
                            }
                        }
                        continue;
                    }
                    let mut d = RecipientDsn::default();
                    for param in rest.split(' ').filter(|p| !p.is_empty()) {
                        let (k, v) = param.split_once('=')?;
                        match k {
                            "NOTIFY" => {
                                d.notify = Some(crate::smtp::dsn::parse_notify(v.as_bytes())?)
                            }
                            "ORCPT" => d.orcpt = Some(xtext_decode(v.as_bytes())?),
                            _ => return None,
                        }
                    }
                    recipients.push(address.trim_matches(['<', '>']).to_string());
                    dsn.remote.push(d);
                }
                _ => return None,
            }
        }
        if recipients.is_empty() {
            return None;
        }
        Some(QueuedMessage {
            id: id?,
            reverse_path: from?,
            recipients,
            dsn,
            size: bytes.len(),
            accepted,
        })
    }
}

/// Every message in the queue account `queue` from UID `from` on, with its UID; `store`
/// must own `queue`.
pub async fn entries_of(
    store: &Store,
    queue: &str,
    from: Uid,
) -> Result<Vec<(Uid, QueuedMessage)>, StoreError> {
    Ok(entries_with_bodies(store, queue, from, |_| false)
        .await?
        .into_iter()
        .map(|(uid, q, _)| (uid, q))
        .collect())
}

/// The messages of `queue` from UID `from` on, as [`entries_of`], each with its stored
/// bytes (for the runner, which sends them next), but those `known` says the caller has. A
/// message without its envelope is skipped with a warning.
pub async fn entries_with_bodies(
    store: &Store,
    queue: &str,
    from: Uid,
    known: impl Fn(Uid) -> bool,
) -> Result<Vec<(Uid, QueuedMessage, Vec<u8>)>, StoreError> {
    let entries = match store.messages(queue, "INBOX", from..=Uid(u32::MAX)).await {
        Ok(entries) => entries,
        Err(StoreError::NoSuchMailbox) => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut queued = Vec::new();
    for e in entries.into_iter().filter(|e| !known(e.uid)) {
        let body = store.read(queue, "INBOX", e.uid).await?;
        match QueuedMessage::parse(&body, e.internal_date) {
            Some(q) => queued.push((e.uid, q, body.to_vec())),
            None => tracing::warn!(
                queue,
                uid = e.uid.0,
                "a queued message without its envelope"
            ),
        }
    }
    Ok(queued)
}

/// Every message in every queue `store` owns, with its queue and UID.
async fn entries(store: &Store) -> Result<Vec<(String, Uid, QueuedMessage)>, StoreError> {
    let mut all = Vec::new();
    for queue in (0..QUEUES).map(queue_account).filter(|q| store.may_hold(q)) {
        for (uid, q) in entries_of(store, &queue, Uid(1)).await? {
            all.push((queue.clone(), uid, q));
        }
    }
    Ok(all)
}

/// Every message in the queues `store` owns.
pub async fn list(store: &Store) -> Result<Vec<QueuedMessage>, StoreError> {
    let mut all: Vec<QueuedMessage> = entries(store)
        .await?
        .into_iter()
        .map(|(_, _, q)| q)
        .collect();
    all.sort_by(|a, b| (a.accepted, &a.id).cmp(&(b.accepted, &b.id)));
    Ok(all)
}

/// How many messages the queues `store` owns hold.
pub async fn count(store: &Store) -> u64 {
    let mut n = 0;
    for queue in (0..QUEUES).map(queue_account).filter(|q| store.may_hold(q)) {
        if let Ok(status) = store.status(&queue, "INBOX").await {
            n += u64::from(status.messages);
        }
    }
    n
}

/// The body of a queued message without its envelope fields and our `Return-Path:` (which
/// only a final delivery adds, RFC 5321 §4.4): what is sent on.
pub fn outgoing(stored: &[u8]) -> &[u8] {
    let Some(at) = memchr::memmem::find(stored, b"\r\nReturn-Path:") else {
        return stored;
    };
    let rest = &stored[at + 2..];
    match memchr::memmem::find(rest, b"\r\n") {
        Some(end) => &rest[end + 2..],
        None => rest,
    }
}

/// What the administrator asks of the queue (`ringpost queue …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueOp {
    List,
    /// The envelope and the message as stored, by queue id.
    Show(String),
    /// Remove a message from the queue without sending it or a bounce (as `postsuper -d`).
    Delete(String),
    /// Make a message (`None`: every message) due now.
    Retry(Option<String>),
}

/// The answer to a [`QueueOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueAnswer {
    List(Vec<QueuedMessage>),
    /// The message's envelope, its delivery state and its bytes.
    Show(Option<Box<Shown>>),
    /// Whether there was such a message.
    Deleted(bool),
    /// How many messages were made due.
    Retried(usize),
}

/// What `queue show` tells of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub message: QueuedMessage,
    /// Attempts, next due time, deferral reasons; `None` before the first attempt.
    pub state: Option<DeliveryState>,
    /// The stored bytes after the envelope fields (from `Return-Path:`).
    pub bytes: Vec<u8>,
}

/// Carry out `op` on the queue in `store` (the store of [`QUEUE_ACCOUNT`]'s home shard).
pub async fn run(store: &Store, op: &QueueOp) -> Result<QueueAnswer, StoreError> {
    match op {
        QueueOp::List => Ok(QueueAnswer::List(list(store).await?)),
        QueueOp::Show(id) => {
            let Some((queue, uid, q)) = entries(store)
                .await?
                .into_iter()
                .find(|(_, _, q)| q.id == *id)
            else {
                return Ok(QueueAnswer::Show(None));
            };
            let body = store.read(&queue, "INBOX", uid).await?;
            let start = memchr::memmem::find(&body, b"\r\nReturn-Path:").map_or(0, |at| at + 2);
            let state = latest_state(store, &queue, &q.id).await?;
            Ok(QueueAnswer::Show(Some(Box::new(Shown {
                message: q,
                state,
                bytes: body[start..].to_vec(),
            }))))
        }
        QueueOp::Delete(id) => {
            let Some((queue, uid, q)) = entries(store)
                .await?
                .into_iter()
                .find(|(_, _, q)| q.id == *id)
            else {
                return Ok(QueueAnswer::Deleted(false));
            };
            store.expunge(&queue, "INBOX", Some(&[uid])).await?;
            remove_states(store, &queue, &q.id).await?;
            tracing::info!(
                target: "ringpost::delivery",
                id = q.id.as_str(),
                from = q.reverse_path.as_str(),
                to = q.recipients.join(",").as_str(),
                size = q.size,
                "deleted from the queue by the administrator"
            );
            Ok(QueueAnswer::Deleted(true))
        }
        QueueOp::Retry(wanted) => {
            // The stopped server's way (the running one changes its runner's schedule): each
            // matching message's latest state record is rewritten due now.
            let mut retried = 0;
            for (queue, _, q) in entries(store).await? {
                if wanted.as_ref().is_some_and(|w| *w != q.id) {
                    continue;
                }
                let mut state = latest_state(store, &queue, &q.id)
                    .await?
                    .unwrap_or_else(|| DeliveryState::new(&q.id, 0));
                state.due = 0;
                write_state(store, &queue, &state, 0).await?;
                remove_states_below(store, &queue, &q.id).await?;
                retried += 1;
            }
            Ok(QueueAnswer::Retried(retried))
        }
    }
}

/// Every delivery-state record in `queue`, oldest first, with its UID.
pub async fn states(store: &Store, queue: &str) -> Result<Vec<(Uid, DeliveryState)>, StoreError> {
    let records = match store
        .messages(queue, STATE_MAILBOX, Uid(1)..=Uid(u32::MAX))
        .await
    {
        Ok(r) => r,
        Err(StoreError::NoSuchMailbox) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let body = store.read(queue, STATE_MAILBOX, r.uid).await?;
        match DeliveryState::parse(&body) {
            Some(state) => out.push((r.uid, state)),
            None => tracing::warn!(queue, uid = r.uid.0, "a delivery state that does not parse"),
        }
    }
    Ok(out)
}

/// The newest delivery state of message `id` in `queue`.
async fn latest_state(
    store: &Store,
    queue: &str,
    id: &str,
) -> Result<Option<DeliveryState>, StoreError> {
    Ok(states(store, queue)
        .await?
        .into_iter()
        .rev()
        .find(|(_, s)| s.id == id)
        .map(|(_, s)| s))
}

/// Write `state` as the newest record of its message in `queue` (creating the `State`
/// mailbox the first time); its UID.
pub async fn write_state(
    store: &Store,
    queue: &str,
    state: &DeliveryState,
    now: i64,
) -> Result<Uid, StoreError> {
    let body = state.encode();
    match store
        .append(queue, STATE_MAILBOX, &body, Flags::default(), now)
        .await
    {
        Err(StoreError::NoSuchMailbox) => {
            match store.create_mailbox(queue, STATE_MAILBOX).await {
                Ok(_) | Err(StoreError::MailboxExists) => {}
                Err(e) => return Err(e),
            }
            store
                .append(queue, STATE_MAILBOX, &body, Flags::default(), now)
                .await
        }
        other => other,
    }
}

/// Expunge every delivery-state record of message `id` in `queue`.
async fn remove_states(store: &Store, queue: &str, id: &str) -> Result<(), StoreError> {
    let stale: Vec<Uid> = states(store, queue)
        .await?
        .into_iter()
        .filter(|(_, s)| s.id == id)
        .map(|(uid, _)| uid)
        .collect();
    if !stale.is_empty() {
        store.expunge(queue, STATE_MAILBOX, Some(&stale)).await?;
    }
    Ok(())
}

/// Expunge every delivery-state record of message `id` in `queue` but the newest.
async fn remove_states_below(store: &Store, queue: &str, id: &str) -> Result<(), StoreError> {
    let mut mine: Vec<Uid> = states(store, queue)
        .await?
        .into_iter()
        .filter(|(_, s)| s.id == id)
        .map(|(uid, _)| uid)
        .collect();
    mine.pop();
    if !mine.is_empty() {
        store.expunge(queue, STATE_MAILBOX, Some(&mine)).await?;
    }
    Ok(())
}

/// [`run`] with a store of its own under `root` that owns every partition (the server
/// stopped, on an executor the caller provides); closed again after.
pub async fn run_offline(
    root: PathBuf,
    config: StoreConfig,
    op: QueueOp,
) -> Result<QueueAnswer, StoreError> {
    let map = ShardMap::new(1);
    let store = Store::new(root, crate::placement::ShardId(0), map, config);
    let answer = run(&store, &op).await;
    store.close().await?;
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips() {
        let rcpts = vec!["a@elsewhere.org".to_string(), "b@other.net".to_string()];
        let dsn = MessageDsn {
            ret: Some(Ret::Headers),
            envid: Some("QQ 314".into()),
            requiretls: true,
            local: Vec::new(),
            remote: vec![
                RecipientDsn {
                    notify: Some(Notify::On {
                        success: true,
                        failure: true,
                        delay: false,
                    }),
                    orcpt: Some("A@Elsewhere.org".into()),
                },
                RecipientDsn::default(),
            ],
        };
        let head = envelope_header("ABC123", "alice@example.com", &rcpts, &dsn);
        assert_eq!(
            head,
            "X-Ringpost-Queue-Id: ABC123\r\nX-Ringpost-Envelope-From: <alice@example.com>\r\n\
             X-Ringpost-Envelope-Params: REQUIRETLS RET=HDRS ENVID=QQ+20314\r\n\
             X-Ringpost-Envelope-To: <a@elsewhere.org> NOTIFY=SUCCESS,FAILURE ORCPT=A@Elsewhere.org\r\n\
             X-Ringpost-Envelope-To: <b@other.net>\r\n"
        );
        let stored =
            format!("{head}Return-Path: <alice@example.com>\r\nReceived: x\r\n\r\nbody\r\n");
        assert_eq!(
            QueuedMessage::parse(stored.as_bytes(), 7),
            Some(QueuedMessage {
                id: "ABC123".into(),
                reverse_path: "alice@example.com".into(),
                recipients: rcpts,
                dsn,
                size: stored.len(),
                accepted: 7,
            })
        );
    }

    #[test]
    fn messages_queued_before_dsn_parameters_still_parse() {
        let stored =
            "X-Ringpost-Queue-Id: OLD1\r\nX-Ringpost-Envelope-From: <alice@example.com>\r\n\
                      X-Ringpost-Envelope-To: <a@elsewhere.org>,\r\n\t<b@other.net>\r\n\
                      Return-Path: <alice@example.com>\r\n\r\nbody\r\n";
        let q = QueuedMessage::parse(stored.as_bytes(), 1).unwrap_or_else(|| panic!("parse"));
        assert_eq!(q.recipients, ["a@elsewhere.org", "b@other.net"]);
        assert_eq!(q.dsn.remote, vec![RecipientDsn::default(); 2]);
    }

    #[test]
    fn null_reverse_path_and_foreign_bytes() {
        let head = envelope_header("Q", "", &["x@y.org".to_string()], &MessageDsn::default());
        let stored = format!("{head}Return-Path: <>\r\n\r\n");
        let q = QueuedMessage::parse(stored.as_bytes(), 0).unwrap_or_else(|| panic!("parse"));
        assert_eq!(q.reverse_path, "");
        assert_eq!(
            QueuedMessage::parse(b"Subject: hi\r\nReturn-Path: <>\r\n", 0),
            None
        );
        assert_eq!(QueuedMessage::parse(b"no envelope", 0), None);
    }
}
