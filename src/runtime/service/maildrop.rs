//! The POP3 service: locks and lists an account's INBOX as the maildrop (RFC 1939 §4), reads
//! one message for RETR/TOP and expunges durably on QUIT (§6), on the account's home shard.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use super::{Context, Placement, Service};
use crate::config::{Config, Listener};
use crate::mail::Uid;
use crate::pop3::{
    ExpungeOutcome, MaildropEntry, MaildropOutcome, MaildropReply, MaildropRequest, MessageOutcome,
    Pop3Session,
};
use crate::session::{Security, SessionConfig};
use crate::store::StoreError;

/// The accounts whose maildrop a POP3 session of this shard holds. Shard-local: POP3 sessions
/// run on their account's home shard, so one table sees them all.
#[derive(Clone, Default)]
pub struct MaildropLocks(Rc<RefCell<HashSet<String>>>);

/// A POP3 session's exclusive hold on an account's maildrop (RFC 1939 §8), released when it
/// is dropped: when the connection ends, however it ends.
pub struct MaildropLock {
    locks: MaildropLocks,
    account: String,
}

impl MaildropLocks {
    fn acquire(&self, account: &str) -> Option<MaildropLock> {
        self.0
            .borrow_mut()
            .insert(account.to_string())
            .then(|| MaildropLock {
                locks: self.clone(),
                account: account.to_string(),
            })
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        self.locks.0.borrow_mut().remove(&self.account);
    }
}

/// POP3's service: holds the maildrop lock for the connection's lifetime.
pub struct MaildropService {
    lock: Option<MaildropLock>,
}

impl Service for MaildropService {
    type Session = Pop3Session;
    const PLACEMENT: Placement = Placement::HomeShard;

    fn session(
        _listener: &Listener,
        session: SessionConfig,
        security: Security,
        config: &Config,
    ) -> Pop3Session {
        Pop3Session::new(session, security).with_uidl_format(config.pop3_uidl_format.clone())
    }

    fn resume_session(
        _listener: &Listener,
        session: SessionConfig,
        config: &Config,
        handoff: crate::session::Handoff,
    ) -> Option<Pop3Session> {
        Some(
            Pop3Session::from_handoff(session, handoff)
                .with_uidl_format(config.pop3_uidl_format.clone()),
        )
    }

    fn new() -> Self {
        MaildropService { lock: None }
    }

    async fn handle(&mut self, request: MaildropRequest, cx: &Context<'_>) -> MaildropReply {
        match request {
            MaildropRequest::Open => MaildropReply::Opened(self.open(cx).await),
            MaildropRequest::Read { uid } => MaildropReply::Message(read(cx, uid).await),
            MaildropRequest::Expunge { uids } => MaildropReply::Expunged(expunge(cx, &uids).await),
        }
    }

    async fn next_notice(&mut self) -> std::convert::Infallible {
        std::future::pending().await
    }
}

impl MaildropService {
    /// Lock and list the authenticated account's INBOX.
    async fn open(&mut self, cx: &Context<'_>) -> MaildropOutcome {
        let Some(account) = cx.account else {
            return MaildropOutcome::TemporaryFailure;
        };
        let Some(lock) = cx.shard.maildrops.acquire(account) else {
            return MaildropOutcome::InUse;
        };
        let store = &cx.shard.store;
        let listed = async {
            store.open_account(account).await?;
            let status = store.status(account, "INBOX").await?;
            let messages = store
                .messages(account, "INBOX", Uid(1)..=Uid(u32::MAX))
                .await?;
            Ok::<_, StoreError>((status, messages))
        };
        match listed.await {
            Ok((status, messages)) => {
                self.lock = Some(lock);
                MaildropOutcome::Opened {
                    uid_validity: status.uid_validity.0,
                    messages: messages
                        .iter()
                        .map(|m| MaildropEntry {
                            uid: m.uid,
                            size: u64::from(m.size),
                        })
                        .collect(),
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "opening a maildrop failed");
                MaildropOutcome::TemporaryFailure
            }
        }
    }
}

/// One message whole, as stored; sent from the read buffer, never copied (dot-stuffing
/// splices).
async fn read(cx: &Context<'_>, uid: Uid) -> MessageOutcome {
    let Some(account) = cx.account else {
        return MessageOutcome::TemporaryFailure;
    };
    match cx.shard.store.read(account, "INBOX", uid).await {
        Ok(body) => MessageOutcome::Message(body.into()),
        Err(StoreError::NoSuchMessage) => MessageOutcome::Gone,
        Err(e) => {
            tracing::error!(error = %e, "reading a message failed");
            MessageOutcome::TemporaryFailure
        }
    }
}

/// Expunge the messages QUIT marked, durably.
async fn expunge(cx: &Context<'_>, uids: &[Uid]) -> ExpungeOutcome {
    let Some(account) = cx.account else {
        return ExpungeOutcome::TemporaryFailure;
    };
    let store = &cx.shard.store;
    let replication = cx.shard.replication.borrow().clone();
    let expunged = match store.expunge(account, "INBOX", Some(uids)).await {
        // With `sync` replication, +OK once the replicas have it too.
        Ok(_) => match &replication {
            Some(r) => r.confirm(store, account).await,
            None => Ok(()),
        },
        Err(e) => Err(e),
    };
    match expunged {
        Ok(()) => ExpungeOutcome::Done,
        Err(e) => {
            tracing::error!(error = %e, "POP3 expunge failed");
            ExpungeOutcome::TemporaryFailure
        }
    }
}
