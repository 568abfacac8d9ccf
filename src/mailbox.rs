//! Mailbox access for the mailbox protocols: the typed requests an IMAP session hands to the
//! connection driver, how the driver executes them against the home shard's store, and the
//! typed replies. The session never touches the store; the store never sees protocol syntax.
//!
//! The driver keeps one [`Access`] per authenticated connection. `Access::execute` runs on the
//! account's home shard (authenticated IMAP/POP3 sessions are moved there), so every store call
//! is shard-local. While a mailbox is selected, `Access` holds the store's change feed for it;
//! the driver forwards each change to the session with `Session::handle_mailbox_change`.

use futures_channel::mpsc::UnboundedReceiver;
use futures_lite::StreamExt;

use crate::store::{Change, MailboxStatus, Store};

/// A request from a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxRequest {
    /// STATUS of a mailbox (RFC 9051 §6.3.11).
    Status { mailbox: String },
}

/// The driver's answer to a [`MailboxRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxReply {
    Status(Result<MailboxStatus, MailboxError>),
}

/// Why a request failed, as a session needs to know it to choose its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxError {
    /// No such mailbox (`NO [NONEXISTENT]`).
    NoSuchMailbox,
    /// A local, transient fault (`NO [UNAVAILABLE]`); the text is for the log only.
    Unavailable(String),
}

/// A change to the selected mailbox made by another session or a delivery.
pub type MailboxChange = Change;

/// One connection's access to its account's mailboxes.
pub struct Access {
    account: String,
    /// The store's change feed for the selected mailbox, if any.
    watch: Option<UnboundedReceiver<Change>>,
}

impl Access {
    pub fn new(account: String) -> Access {
        Access {
            account,
            watch: None,
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// Execute one request against this shard's store.
    pub async fn execute(&mut self, store: &Store, request: MailboxRequest) -> MailboxReply {
        match request {
            MailboxRequest::Status { mailbox } => MailboxReply::Status(
                store
                    .status(&self.account, &mailbox)
                    .await
                    .map_err(to_error),
            ),
        }
    }

    /// The next change to the selected mailbox; pending forever when nothing is selected.
    pub async fn next_change(&mut self) -> Change {
        match self.watch.as_mut() {
            Some(watch) => match watch.next().await {
                Some(change) => change,
                None => {
                    // The store dropped the feed (shutdown): nothing more will come.
                    self.watch = None;
                    std::future::pending().await
                }
            },
            None => std::future::pending().await,
        }
    }
}

fn to_error(e: crate::store::StoreError) -> MailboxError {
    match e {
        crate::store::StoreError::NoSuchMailbox => MailboxError::NoSuchMailbox,
        other => MailboxError::Unavailable(other.to_string()),
    }
}
