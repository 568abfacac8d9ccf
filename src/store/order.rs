//! SORT and THREAD keys kept per message (RFC 5256; see [`crate::mail::order`]), as
//! Dovecot's cache keeps them: derived the first time an ordering asks for a message, then
//! answered from memory, so a SORT or THREAD of a mailbox ordered before neither decodes a
//! subject nor reads a header block again.
//!
//! The keys come from the index's envelope; THREAD REFERENCES and REFS also need the
//! References field, read from the header block once per message. A message's bytes never
//! change under its UID and UIDs are never reused, so a key stays right until its message
//! goes; keys of expunged messages are dropped when a mailbox's keys outnumber its messages.
//! The keys live with the account's loaded index and go when an idle account is evicted
//! (`[store] max_loaded_accounts`): derived data, rebuilt on the next ordering.

use std::collections::HashMap;
use std::sync::Arc;

use super::index::{canonical_mailbox, AccountIndex, Mailbox};
use super::types::{Result, StoreError};
use super::{canonical_account, Store};
use crate::mail::order::OrderFields;
use crate::mail::{MailboxId, MessageMeta, Uid};

/// Header blocks read at once while taking References.
const HEADER_READS: usize = 512;

/// Keys of expunged messages may pile up to this many past a mailbox's message count before
/// they are swept out.
const SLACK: usize = 1024;

/// The keys of an account's messages, per mailbox.
#[derive(Debug, Default)]
pub struct OrderCache {
    mailboxes: HashMap<MailboxId, HashMap<Uid, Arc<OrderFields>>>,
}

impl OrderCache {
    /// The keys of mailbox `m`, with those of messages no longer in it swept out when
    /// they have piled up.
    fn of(&mut self, m: &Mailbox) -> &mut HashMap<Uid, Arc<OrderFields>> {
        let keys = self.mailboxes.entry(m.id).or_default();
        if keys.len() > m.messages.len() + SLACK {
            keys.retain(|&uid, _| m.get(uid).is_some());
        }
        keys
    }

    /// Drop the keys of mailboxes that are gone (deleted).
    fn sweep(&mut self, index: &AccountIndex) {
        if self.mailboxes.len() > index.mailboxes.len() {
            self.mailboxes
                .retain(|id, _| index.mailboxes.iter().any(|m| m.id == *id));
        }
    }
}

impl Store {
    /// The index data and ordering keys of those of `uids` still in `mailbox`, in UID order;
    /// with `references`, keys that hold References (read from header blocks where not known).
    pub async fn order_fields(
        &self,
        account: &str,
        mailbox: &str,
        uids: &[Uid],
        references: bool,
    ) -> Result<Vec<(MessageMeta, Arc<OrderFields>)>> {
        let account = canonical_account(account)?;
        let name = canonical_mailbox(mailbox)?;
        let p = self.partition(&account).await?;
        let mut uids = uids.to_vec();
        uids.sort_unstable();
        uids.dedup();
        // Keys from the envelope are derived at once; those that need a header block are
        // read below, a few hundred at a time.
        let unread: Vec<(Uid, u64)> = p.with_account(&account, |a| {
            a.order.sweep(&a.index);
            let m = a.index.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
            let keys = a.order.of(m);
            let mut unread = Vec::new();
            for &uid in &uids {
                let Some(e) = m.get(uid) else { continue };
                match keys.get(&uid) {
                    Some(k) if !references || k.references.is_some() => {}
                    _ if references => unread.push((uid, e.header_len())),
                    _ => {
                        keys.insert(uid, Arc::new(OrderFields::of(&e.summary.envelope)));
                    }
                }
            }
            Ok::<_, StoreError>(unread)
        })??;
        for chunk in unread.chunks(HEADER_READS) {
            let headers = self.read_prefixes(&account, &name, chunk).await?;
            p.with_account(&account, |a| {
                // Deleted meanwhile: the answer below says so.
                let Some(m) = a.index.mailbox(&name) else {
                    return;
                };
                let keys = a.order.of(m);
                for (&(uid, _), header) in chunk.iter().zip(headers) {
                    // Expunged meanwhile: left out, like a missing UID.
                    let (Some(e), Some(header)) = (m.get(uid), header) else {
                        continue;
                    };
                    let env = &e.summary.envelope;
                    let known = keys.get(&uid).map(|k| OrderFields::clone(k));
                    let k = known.unwrap_or_else(|| OrderFields::of(env));
                    keys.insert(uid, Arc::new(k.with_references(&header, env)));
                }
            })?;
        }
        p.with_account(&account, |a| {
            let m = a.index.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?;
            let keys = a.order.of(m);
            Ok(uids
                .iter()
                .filter_map(|&uid| {
                    let e = m.get(uid)?;
                    let k = keys.get(&uid)?;
                    (!references || k.references.is_some()).then(|| (e.meta(), Arc::clone(k)))
                })
                .collect())
        })?
    }
}
