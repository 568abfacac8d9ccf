//! The outbound queue: mail accepted on submission for recipients outside our domains, kept
//! durably in the store until the sending half (smarthost relay, MX lookup, retries, bounces —
//! a later issue) takes it.
//!
//! A queued message is an ordinary stored message in the INBOX of an internal account that can
//! never log in ([`QUEUE_ACCOUNT`] is not an address: it has no local part). Its first header
//! fields carry the envelope; after them come our `Return-Path:`/`Received:` and the message
//! as the client sent it. This module formats and parses that envelope and lists the queue;
//! it never sends mail.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::mail::Uid;
use crate::placement::ShardMap;
use crate::store::{Store, StoreConfig, StoreError};

/// The internal account whose INBOX is the outbound queue.
pub const QUEUE_ACCOUNT: &str = "@outbound-queue";

const ID: &str = "X-Ringpost-Queue-Id";
const FROM: &str = "X-Ringpost-Envelope-From";
const TO: &str = "X-Ringpost-Envelope-To";

/// The envelope header fields put in front of a queued message.
pub fn envelope_header(id: &str, reverse_path: &str, recipients: &[String]) -> String {
    let mut h = format!("{ID}: {id}\r\n{FROM}: <{reverse_path}>\r\n{TO}: ");
    for (i, r) in recipients.iter().enumerate() {
        if i > 0 {
            h.push_str(",\r\n\t");
        }
        let _ = write!(h, "<{r}>");
    }
    h.push_str("\r\n");
    h
}

/// One queued message, as `ringpost queue list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: String,
    pub reverse_path: String,
    pub recipients: Vec<String>,
    /// Bytes as stored (envelope fields included).
    pub size: usize,
    /// Seconds since the Unix epoch at which it was accepted.
    pub accepted: i64,
}

impl QueuedMessage {
    /// Read the envelope back from a queued message's bytes; `None` if they do not start with
    /// the envelope fields this module writes.
    pub fn parse(bytes: &[u8], accepted: i64) -> Option<QueuedMessage> {
        let end = memchr::memmem::find(bytes, b"\r\nReturn-Path:")?;
        let head = std::str::from_utf8(&bytes[..end]).ok()?;
        // Unfold continuation lines (RFC 5322 §2.2.3).
        let unfolded = head.replace("\r\n\t", " ");
        let mut id = None;
        let mut from = None;
        let mut to = None;
        for line in unfolded.split("\r\n") {
            let (name, value) = line.split_once(": ")?;
            match name {
                ID => id = Some(value.to_string()),
                FROM => from = Some(value.trim_matches(['<', '>']).to_string()),
                TO => {
                    to = Some(
                        value
                            .split(',')
                            .map(|r| r.trim().trim_matches(['<', '>']).to_string())
                            .filter(|r| !r.is_empty())
                            .collect(),
                    )
                }
                _ => return None,
            }
        }
        Some(QueuedMessage {
            id: id?,
            reverse_path: from?,
            recipients: to?,
            size: bytes.len(),
            accepted,
        })
    }
}

/// Every queued message in `store` with its UID in the queue's INBOX; `store` must be the
/// store of [`QUEUE_ACCOUNT`]'s home shard.
async fn entries(store: &Store) -> Result<Vec<(Uid, QueuedMessage)>, StoreError> {
    let entries = match store
        .messages(QUEUE_ACCOUNT, "INBOX", Uid(1)..=Uid(u32::MAX))
        .await
    {
        Ok(entries) => entries,
        // Nothing was ever queued.
        Err(StoreError::NoSuchMailbox) => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut queued = Vec::new();
    for e in entries {
        let body = store.read(QUEUE_ACCOUNT, "INBOX", e.uid).await?;
        match QueuedMessage::parse(&body, e.internal_date) {
            Some(q) => queued.push((e.uid, q)),
            None => tracing::warn!(uid = e.uid.0, "a queued message without its envelope"),
        }
    }
    Ok(queued)
}

/// Every queued message in `store` (see [`entries`]).
pub async fn list(store: &Store) -> Result<Vec<QueuedMessage>, StoreError> {
    Ok(entries(store).await?.into_iter().map(|(_, q)| q).collect())
}

/// What the administrator asks of the queue (`ringpost queue …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueOp {
    List,
    /// The envelope and the message as stored, by queue id.
    Show(String),
    /// Remove a message from the queue without sending it or a bounce (as `postsuper -d`).
    Delete(String),
}

/// The answer to a [`QueueOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueAnswer {
    List(Vec<QueuedMessage>),
    /// The message's envelope and its bytes after the envelope fields (from `Return-Path:`).
    Show(Option<(QueuedMessage, Vec<u8>)>),
    /// Whether there was such a message.
    Deleted(bool),
}

/// Carry out `op` on the queue in `store` (the store of [`QUEUE_ACCOUNT`]'s home shard).
pub async fn run(store: &Store, op: &QueueOp) -> Result<QueueAnswer, StoreError> {
    match op {
        QueueOp::List => Ok(QueueAnswer::List(list(store).await?)),
        QueueOp::Show(id) => {
            let Some((uid, q)) = entries(store).await?.into_iter().find(|(_, q)| q.id == *id)
            else {
                return Ok(QueueAnswer::Show(None));
            };
            let body = store.read(QUEUE_ACCOUNT, "INBOX", uid).await?;
            let start = memchr::memmem::find(&body, b"\r\nReturn-Path:").map_or(0, |at| at + 2);
            Ok(QueueAnswer::Show(Some((q, body[start..].to_vec()))))
        }
        QueueOp::Delete(id) => {
            let Some((uid, q)) = entries(store).await?.into_iter().find(|(_, q)| q.id == *id)
            else {
                return Ok(QueueAnswer::Deleted(false));
            };
            store.expunge(QUEUE_ACCOUNT, "INBOX", Some(&[uid])).await?;
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
    }
}

/// [`run`] with a store of its own under `root` (the server stopped, on an executor the
/// caller provides), found with the server's shard map `map`; closed again after.
pub async fn run_offline(
    root: PathBuf,
    map: ShardMap,
    config: StoreConfig,
    op: QueueOp,
) -> Result<QueueAnswer, StoreError> {
    let store = Store::new(root, map.home_shard(QUEUE_ACCOUNT), map, config);
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
        let head = envelope_header("ABC123", "alice@example.com", &rcpts);
        assert_eq!(
            head,
            "X-Ringpost-Queue-Id: ABC123\r\nX-Ringpost-Envelope-From: <alice@example.com>\r\n\
             X-Ringpost-Envelope-To: <a@elsewhere.org>,\r\n\t<b@other.net>\r\n"
        );
        let stored =
            format!("{head}Return-Path: <alice@example.com>\r\nReceived: x\r\n\r\nbody\r\n");
        assert_eq!(
            QueuedMessage::parse(stored.as_bytes(), 7),
            Some(QueuedMessage {
                id: "ABC123".into(),
                reverse_path: "alice@example.com".into(),
                recipients: rcpts,
                size: stored.len(),
                accepted: 7,
            })
        );
    }

    #[test]
    fn null_reverse_path_and_foreign_bytes() {
        let head = envelope_header("Q", "", &["x@y.org".to_string()]);
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
