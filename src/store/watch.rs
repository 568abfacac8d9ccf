//! What the home shard knows about its open mailboxes beyond the log: the change feeds of
//! the sessions that have a mailbox selected, and which messages are still `\Recent`
//! (RFC 3501 §2.3.2) because no session has claimed them yet.
//!
//! `\Recent` lives in memory only, as one UID per mailbox: the first UID no session has
//! claimed. It is never persisted; after a restart no message is recent until new mail
//! arrives. A mailbox without an entry has nothing unclaimed, so the map holds only
//! mailboxes that received mail no session has seen: a delivery costs one map lookup,
//! nothing per message is kept. Never does IO.

use std::collections::HashMap;

use futures_channel::mpsc;

use crate::mail::{Change, MailboxId, Recent, Uid};

/// One session's change feed.
struct Watcher {
    tx: mpsc::UnboundedSender<Change>,
    recent: Recent,
}

/// One mailbox's feeds and the first UID not yet claimed (`None`: nothing unclaimed).
#[derive(Default)]
struct Live {
    watchers: Vec<Watcher>,
    unclaimed: Option<Uid>,
}

/// The open mailboxes of a shard's store, by account (canonical name) and mailbox id.
#[derive(Default)]
pub(crate) struct Mailboxes {
    live: HashMap<(String, MailboxId), Live>,
}

impl Mailboxes {
    /// A new change feed for the mailbox, and the first UID that is `\Recent` to its
    /// session (every message from it on), if any. With [`Recent::Claim`], those messages
    /// are no longer recent to any later session.
    pub fn watch(
        &mut self,
        account: &str,
        mailbox: MailboxId,
        recent: Recent,
    ) -> (mpsc::UnboundedReceiver<Change>, Option<Uid>) {
        let (tx, rx) = mpsc::unbounded();
        let live = self.live.entry((account.to_string(), mailbox)).or_default();
        live.watchers.push(Watcher { tx, recent });
        let first = match recent {
            Recent::Claim => live.unclaimed.take(),
            Recent::Peek => live.unclaimed,
        };
        (rx, first)
    }

    /// The first UID of the mailbox no session has claimed, if any.
    pub fn unclaimed(&self, account: &str, mailbox: MailboxId) -> Option<Uid> {
        self.live
            .get(&(account.to_string(), mailbox))
            .and_then(|l| l.unclaimed)
    }

    /// Send applied changes to the mailboxes' feeds. A new message nobody who claims
    /// `\Recent` is watching for stays unclaimed (RFC 3501 §2.3.2: the next SELECT sees it
    /// as recent); one a claiming session is told about is that session's.
    pub fn notify(&mut self, events: Vec<(String, MailboxId, Change)>) {
        for (account, mailbox, change) in events {
            let key = (account, mailbox);
            let live = match (self.live.get_mut(&key), &change) {
                (Some(live), _) => live,
                (None, Change::Exists { .. }) => self.live.entry(key.clone()).or_default(),
                (None, _) => continue,
            };
            // Dropped receivers (unselected sessions) go here, before they could count as
            // claiming.
            live.watchers
                .retain(|w| w.tx.unbounded_send(change.clone()).is_ok());
            match change {
                Change::Exists { uid } => {
                    if !live.watchers.iter().any(|w| w.recent == Recent::Claim) {
                        live.unclaimed.get_or_insert(uid);
                    }
                }
                Change::Deleted => live.unclaimed = None,
                Change::Expunged { .. } | Change::Flags { .. } | Change::Renamed { .. } => {}
            }
            if live.watchers.is_empty() && live.unclaimed.is_none() {
                self.live.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn exists(uid: u32) -> Vec<(String, MailboxId, Change)> {
        vec![("a".into(), MailboxId(1), Change::Exists { uid: Uid(uid) })]
    }

    #[test]
    fn arrivals_nobody_claims_stay_recent_until_a_claim() {
        let mut m = Mailboxes::default();
        m.notify(exists(5));
        m.notify(exists(6));
        assert_eq!(m.unclaimed("a", MailboxId(1)), Some(Uid(5)));
        let (_peek, first) = m.watch("a", MailboxId(1), Recent::Peek);
        assert_eq!(first, Some(Uid(5)));
        m.notify(exists(7));
        assert_eq!(m.unclaimed("a", MailboxId(1)), Some(Uid(5)));
        let (_claim, first) = m.watch("a", MailboxId(1), Recent::Claim);
        assert_eq!(first, Some(Uid(5)));
        assert_eq!(m.unclaimed("a", MailboxId(1)), None);
        let (_again, first) = m.watch("a", MailboxId(1), Recent::Claim);
        assert_eq!(first, None);
    }

    #[test]
    fn a_claiming_watcher_takes_arrivals_until_it_goes() {
        let mut m = Mailboxes::default();
        let (mut rx, _) = m.watch("a", MailboxId(1), Recent::Claim);
        m.notify(exists(1));
        assert_eq!(rx.try_recv().unwrap(), Change::Exists { uid: Uid(1) });
        assert_eq!(m.unclaimed("a", MailboxId(1)), None);
        drop(rx);
        m.notify(exists(2));
        assert_eq!(m.unclaimed("a", MailboxId(1)), Some(Uid(2)));
        m.notify(vec![("a".into(), MailboxId(1), Change::Deleted)]);
        assert_eq!(m.unclaimed("a", MailboxId(1)), None);
        assert!(m.live.is_empty());
    }
}
