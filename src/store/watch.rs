//! What the home shard knows about its open mailboxes beyond the log: the change feeds of
//! the sessions that have a mailbox selected, the account-wide feeds of the sessions that
//! watch every mailbox of their account (IMAP NOTIFY), and which messages are still
//! `\Recent` (RFC 3501 §2.3.2) because no session has claimed them yet.
//!
//! An account feed is bounded: a session that does not read its changes (its client does
//! not read its socket) would otherwise make the shard hold every change of a busy account.
//! When a feed is full it is closed and marked overflowed; its session says so to its client
//! (RFC 5465 §5.8 NOTIFICATIONOVERFLOW) and stops watching.
//!
//! `\Recent` lives in memory only, as one UID per mailbox: the first UID no session has
//! claimed. It is never persisted; after a restart no message is recent until new mail
//! arrives. A mailbox without an entry has nothing unclaimed, so the map holds only
//! mailboxes that received mail no session has seen: a delivery costs one map lookup,
//! nothing per message is kept. Never does IO.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures_channel::mpsc;

use crate::mail::{AccountChange, Change, MailboxId, Recent, Uid};

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

/// What waits in one account-wide feed: the mailboxes whose messages or flags changed
/// (each once, however often: a session reports a mailbox's figures, not each message), and
/// the other changes in order. Shared by the store (which adds) and the session's service
/// (which takes); both on the home shard.
#[derive(Default)]
struct AccountQueue {
    /// Mailboxes whose messages changed (arrivals, expunges) or whose flags changed, in the
    /// order of their first change.
    touched: Vec<Touched>,
    /// Everything else: names, deletions, subscriptions, annotations.
    changes: Vec<AccountChange>,
    max_pending: usize,
    overflowed: bool,
    waker: Option<std::task::Waker>,
}

/// One mailbox whose messages or flags changed since the feed was last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touched {
    pub mailbox: MailboxId,
    /// Messages arrived or were expunged.
    pub messages: bool,
    /// Flags changed.
    pub flags: bool,
}

impl AccountQueue {
    fn pending(&self) -> usize {
        self.touched.len() + self.changes.len()
    }

    /// Add a change; false when the feed is (now) overflowed.
    fn push(&mut self, change: AccountChange) -> bool {
        if self.overflowed {
            return false;
        }
        let (mailbox, messages, flags) = match &change {
            AccountChange::Mailbox(id, Change::Exists { .. } | Change::Expunged { .. }) => {
                (*id, true, false)
            }
            AccountChange::Mailbox(id, Change::Flags { .. }) => (*id, false, true),
            _ => {
                if self.pending() >= self.max_pending {
                    return self.overflow();
                }
                self.changes.push(change);
                return self.wake();
            }
        };
        if let Some(t) = self.touched.iter_mut().find(|t| t.mailbox == mailbox) {
            t.messages |= messages;
            t.flags |= flags;
            return true;
        }
        if self.pending() >= self.max_pending {
            return self.overflow();
        }
        self.touched.push(Touched {
            mailbox,
            messages,
            flags,
        });
        self.wake()
    }

    fn overflow(&mut self) -> bool {
        self.overflowed = true;
        self.touched = Vec::new();
        self.changes = Vec::new();
        self.wake();
        false
    }

    fn wake(&mut self) -> bool {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
        true
    }
}

/// What an account feed hands over at once: the mailboxes touched and the other changes
/// since the last read, or that it overflowed (and is closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountBatch {
    Changes {
        touched: Vec<Touched>,
        changes: Vec<AccountChange>,
    },
    Overflowed,
}

/// The receiving end of an account-wide feed ([`Mailboxes::watch_account`]); dropping it
/// unsubscribes.
pub struct AccountFeed {
    queue: Rc<RefCell<AccountQueue>>,
}

impl AccountFeed {
    /// What waits, without waiting; `None` when nothing does.
    pub fn try_next(&mut self) -> Option<AccountBatch> {
        let mut q = self.queue.borrow_mut();
        if q.overflowed {
            return Some(AccountBatch::Overflowed);
        }
        if q.pending() == 0 {
            return None;
        }
        Some(AccountBatch::Changes {
            touched: std::mem::take(&mut q.touched),
            changes: std::mem::take(&mut q.changes),
        })
    }

    /// The next batch, once there is one. Cancel-safe: nothing is taken until it is
    /// returned.
    pub async fn next(&mut self) -> AccountBatch {
        std::future::poll_fn(|cx| match self.try_next() {
            Some(batch) => std::task::Poll::Ready(batch),
            None => {
                self.queue.borrow_mut().waker = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        })
        .await
    }
}

/// The open mailboxes of a shard's store, by account (canonical name) and mailbox id.
#[derive(Default)]
pub(crate) struct Mailboxes {
    live: HashMap<(String, MailboxId), Live>,
    /// Account-wide feeds, by account (canonical name).
    accounts: HashMap<String, Vec<Rc<RefCell<AccountQueue>>>>,
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

    /// A new feed of every change to the account. At most `max_pending` (at least one)
    /// mailboxes and other changes wait in it unread; one more overflows it.
    pub fn watch_account(&mut self, account: &str, max_pending: usize) -> AccountFeed {
        let queue = Rc::new(RefCell::new(AccountQueue {
            max_pending: max_pending.max(1),
            ..AccountQueue::default()
        }));
        self.accounts
            .entry(account.to_string())
            .or_default()
            .push(queue.clone());
        AccountFeed { queue }
    }

    /// Tell the account's feeds; an overflowed one, or one whose receiver is gone, is
    /// forgotten.
    pub fn notify_account(&mut self, account: &str, change: AccountChange) {
        let Some(feeds) = self.accounts.get_mut(account) else {
            return;
        };
        feeds.retain(|q| Rc::strong_count(q) > 1 && q.borrow_mut().push(change.clone()));
        if feeds.is_empty() {
            self.accounts.remove(account);
        }
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
            if self.accounts.contains_key(&account) {
                self.notify_account(&account, AccountChange::Mailbox(mailbox, change.clone()));
            }
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
    fn account_feeds_hear_every_mailbox_once_and_overflow_past_their_bound() {
        let mut m = Mailboxes::default();
        let mut feed = m.watch_account("a", 3);
        let mut other = m.watch_account("b", 3);
        assert_eq!(feed.try_next(), None);
        m.notify(exists(1));
        m.notify(exists(2));
        m.notify(vec![(
            "a".into(),
            MailboxId(1),
            Change::Flags {
                uid: Uid(1),
                flags: Default::default(),
                modseq: crate::mail::ModSeq(9),
            },
        )]);
        let sub = AccountChange::Subscription {
            name: "x".into(),
            subscribed: true,
        };
        m.notify_account("a", sub.clone());
        assert_eq!(
            feed.try_next(),
            Some(AccountBatch::Changes {
                touched: vec![Touched {
                    mailbox: MailboxId(1),
                    messages: true,
                    flags: true
                }],
                changes: vec![sub.clone()],
            })
        );
        assert_eq!(other.try_next(), None, "b heard nothing");
        // Three wait (two mailboxes and a deletion); a fourth overflows the feed.
        m.notify(exists(3));
        m.notify(vec![(
            "a".into(),
            MailboxId(2),
            Change::Exists { uid: Uid(1) },
        )]);
        m.notify(vec![("a".into(), MailboxId(3), Change::Deleted)]);
        assert!(matches!(
            feed.try_next(),
            Some(AccountBatch::Changes { .. })
        ));
        for id in 4..8 {
            m.notify(vec![("a".into(), MailboxId(id), Change::Deleted)]);
        }
        assert_eq!(feed.try_next(), Some(AccountBatch::Overflowed));
        assert!(
            !m.accounts.contains_key("a"),
            "an overflowed feed is forgotten"
        );
        drop(other);
        m.notify_account("b", sub);
        assert!(m.accounts.is_empty(), "dropped feeds are forgotten");
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
