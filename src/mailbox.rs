//! Mailbox access for the mailbox protocols: the typed requests an IMAP session hands to the
//! connection driver, how the driver executes them against the home shard's store, and the
//! typed replies. The session never touches the store; the store never sees protocol syntax.
//!
//! The driver keeps one [`Access`] per authenticated connection. `Access::execute` runs on the
//! account's home shard (authenticated IMAP/POP3 sessions are moved there), so every store call
//! is shard-local. While a mailbox is selected, `Access` holds the store's change feed for it;
//! the driver forwards each change to the session with `Session::handle_mailbox_change`.
//!
//! The store's index on the home shard is the one in-memory view of a mailbox that every
//! session of the account shares: a session keeps only its sequence-number map and reads
//! per-message data from the index when a command needs it. So requests are small on
//! purpose: a SELECT answers with the UIDs (as runs) and a few counts, never per-message
//! flags or bodies; a FETCH names the UIDs of one batch and how much of each message it
//! needs, and a batch of message bytes stops at [`BATCH_BYTES`], so a session asks for a
//! large mailbox piece by piece and memory stays bounded.

use futures_channel::mpsc::UnboundedReceiver;
use futures_lite::StreamExt;

use crate::mail::{
    Change, FlagMode, FlagUpdate, Flags, MailboxInfo, MailboxStatus, MessageBytes, MimeSummary,
    ModSeq, Recent, Uid, UidRange, UidValidity, Vanished,
};
use crate::store::{AppendStream, Store, StoreError};

pub use crate::mail::{MailboxSnapshot as Snapshot, MessageMeta, UidRun};

/// How much of a message a FETCH batch needs (ordered: each includes the ones before).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Content {
    /// Flags, modseq, internal date and size only (FETCH FLAGS, SEARCH on index keys).
    Metadata,
    /// Index data and the MIME summary.
    Summary,
    /// Also the message's header block (up to and including the blank line).
    Header,
    /// Also the message's bytes.
    Bytes,
}

/// Whether a transfer leaves the source message in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    Copy,
    Move,
}

/// A request from a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxRequest {
    /// Every mailbox of the account with its attributes (RFC 9051 §6.3.9); the session
    /// matches patterns itself.
    List,
    /// STATUS of a mailbox (RFC 9051 §6.3.11).
    Status {
        mailbox: String,
    },
    Create {
        mailbox: String,
        /// RFC 6154 §3 `USE`: the special-use attribute of the new mailbox.
        special: Option<crate::mail::SpecialUse>,
    },
    Delete {
        mailbox: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Subscribe {
        mailbox: String,
    },
    Unsubscribe {
        mailbox: String,
    },
    /// SELECT/EXAMINE: start watching the mailbox and answer with a [`Snapshot`] of it;
    /// `recent` says whether the session claims the `\Recent` messages (RFC 3501 §6.3.1,
    /// §6.3.2).
    Select {
        mailbox: String,
        recent: Recent,
    },
    /// UNSELECT/CLOSE/a failed SELECT: stop watching.
    Unselect,
    /// Start receiving a large APPEND literal of `len` bytes as a stream: its bytes follow in
    /// [`MailboxRequest::AppendData`] and go straight into the store's write buffer, so the
    /// message is never held whole by the session. `Done`, or `Failed(TooLarge)`.
    AppendBegin {
        len: u64,
    },
    /// The next bytes of the stream begun last.
    AppendData(Vec<u8>),
    /// Forget every stream not appended yet (the command that carried them failed).
    DropStreams,
    /// APPEND one message (RFC 9051 §6.3.12): durable before the reply.
    Append {
        mailbox: String,
        message: AppendBody,
        flags: Flags,
        /// `None`: now (the session has no clock).
        internal_date: Option<i64>,
    },
    /// Remove these messages whatever their flags: undoing a MULTIAPPEND that failed part
    /// way (RFC 3502: all or nothing).
    Discard {
        mailbox: String,
        uids: Vec<Uid>,
    },
    /// Per-message data of one batch of UIDs (missing UIDs are left out of the reply).
    Fetch {
        mailbox: String,
        uids: Vec<Uid>,
        content: Content,
    },
    /// STORE (RFC 9051 §6.4.6), with CONDSTORE's UNCHANGEDSINCE (RFC 7162 §3.1.3) checked
    /// by the store when it applies the change.
    Store {
        mailbox: String,
        uids: Vec<Uid>,
        mode: FlagMode,
        flags: Flags,
        unchanged_since: Option<ModSeq>,
    },
    /// QRESYNC (RFC 7162 §3.2.5, §3.2.6): the UIDs among `uids` expunged after `since`.
    Vanished {
        mailbox: String,
        since: ModSeq,
        uids: Vec<UidRange>,
    },
    /// QRESYNC SELECT (RFC 7162 §3.2.5): the messages whose modseq is above `since`, with
    /// their flags (answered as [`MailboxReply::Flags`]).
    Changed {
        mailbox: String,
        since: ModSeq,
    },
    /// COPY/MOVE (RFC 9051 §6.4.7, RFC 6851).
    Transfer {
        mailbox: String,
        uids: Vec<Uid>,
        to: String,
        transfer: Transfer,
    },
    /// EXPUNGE the `\Deleted` messages, all of them or (UID EXPUNGE) only those in `uids`.
    Expunge {
        mailbox: String,
        uids: Option<Vec<Uid>>,
    },
}

/// The message of an APPEND.
#[derive(Clone, PartialEq, Eq)]
pub enum AppendBody {
    /// The bytes, received whole by the session.
    Bytes(Vec<u8>),
    /// The oldest stream received with [`MailboxRequest::AppendBegin`] and not appended yet.
    Streamed,
}

impl std::fmt::Debug for AppendBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The bytes alone, as the request showed them before streams existed.
            AppendBody::Bytes(b) => write!(f, "{b:?}"),
            AppendBody::Streamed => f.write_str("Streamed"),
        }
    }
}

/// One message of a FETCH batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedMessage {
    pub meta: MessageMeta,
    /// Empty when the request asked for [`Content::Metadata`].
    pub summary: MimeSummary,
    /// The message's bytes (or only its header block), when the request asked for them.
    pub bytes: Option<MessageBytes>,
}

/// The driver's answer to a [`MailboxRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxReply {
    /// Every mailbox, and every subscribed name (which may name no mailbox).
    Listed {
        mailboxes: Vec<MailboxInfo>,
        subscriptions: Vec<String>,
    },
    Status(MailboxStatus),
    Selected(Snapshot),
    /// CREATE, DELETE, RENAME, (UN)SUBSCRIBE, UNSELECT.
    Done,
    Appended {
        uid_validity: UidValidity,
        uid: Uid,
    },
    /// One batch of a FETCH; `rest` are the UIDs of the request left for another batch
    /// because their bytes would have passed [`BATCH_BYTES`].
    Fetched {
        messages: Vec<FetchedMessage>,
        rest: Vec<Uid>,
    },
    /// What a STORE did to each message; for [`MailboxRequest::Changed`], the messages
    /// changed after its modseq, as `changed` (with their flags and modseq).
    Flags(FlagUpdate),
    /// The answer to [`MailboxRequest::Vanished`].
    Vanished(Vanished),
    /// `(source UID, new UID)` pairs and the target's UIDVALIDITY (RFC 4315 COPYUID).
    Transferred {
        uid_validity: UidValidity,
        pairs: Vec<(Uid, Uid)>,
        /// The source mailbox's HIGHESTMODSEQ after a MOVE (which expunges there); 0 for
        /// a COPY, which leaves the source alone.
        source_modseq: ModSeq,
    },
    /// The UIDs removed, and the mailbox's HIGHESTMODSEQ after it (QRESYNC clients are told it
    /// with the tagged OK, as Dovecot does, so their cache moves on without a resync).
    Expunged {
        uids: Vec<Uid>,
        highest_modseq: ModSeq,
    },
    Failed(MailboxError),
}

/// Why a request failed, as a session needs to know it to choose its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxError {
    /// No such mailbox (`NO [NONEXISTENT]`).
    NoSuchMailbox,
    /// `NO [ALREADYEXISTS]`.
    MailboxExists,
    /// A name the store refuses (`NO [CANNOT]`).
    InvalidName,
    /// INBOX cannot be deleted or renamed (`NO [CANNOT]`).
    InboxIsPermanent,
    /// `NO [TOOBIG]`.
    TooLarge,
    /// A local, transient fault (`NO [UNAVAILABLE]`); the text is for the log only.
    Unavailable(String),
}

/// A change to the selected mailbox made by another session or a delivery.
pub type MailboxChange = Change;

/// One connection's access to its account's mailboxes.
pub struct Access {
    account: String,
    /// The account's default mailboxes exist (created on first use).
    opened: bool,
    /// The store's change feed for the selected mailbox, if any.
    watch: Option<UnboundedReceiver<Change>>,
    /// Large APPEND literals received as streams and not appended yet, oldest first. They
    /// die with the connection: nothing of them is in the store before they are appended.
    streams: std::collections::VecDeque<AppendStream>,
}

impl Access {
    pub fn new(account: String) -> Access {
        Access {
            account,
            opened: false,
            watch: None,
            streams: std::collections::VecDeque::new(),
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// Execute one request against this shard's store.
    pub async fn execute(&mut self, store: &Store, request: MailboxRequest) -> MailboxReply {
        if !self.opened {
            // An account that never received mail gets its default mailboxes now.
            if let Err(e) = store.open_account(&self.account).await {
                return MailboxReply::Failed(to_error(e));
            }
            self.opened = true;
        }
        match self.run(store, request).await {
            Ok(reply) => reply,
            Err(e) => {
                if let MailboxError::Unavailable(why) = &e {
                    tracing::error!(error = %why, "mailbox request failed");
                }
                MailboxReply::Failed(e)
            }
        }
    }

    async fn run(
        &mut self,
        store: &Store,
        request: MailboxRequest,
    ) -> Result<MailboxReply, MailboxError> {
        let account = self.account.as_str();
        let reply = match request {
            MailboxRequest::List => MailboxReply::Listed {
                mailboxes: store.list_mailboxes(account).await?,
                subscriptions: store.subscriptions(account).await?,
            },
            MailboxRequest::Status { mailbox } => {
                MailboxReply::Status(store.status(account, &mailbox).await?)
            }
            MailboxRequest::Create { mailbox, special } => {
                store
                    .create_special_mailbox(account, &mailbox, special)
                    .await?;
                MailboxReply::Done
            }
            MailboxRequest::Delete { mailbox } => {
                store.delete_mailbox(account, &mailbox).await?;
                MailboxReply::Done
            }
            MailboxRequest::Rename { from, to } => {
                store.rename_mailbox(account, &from, &to).await?;
                MailboxReply::Done
            }
            MailboxRequest::Subscribe { mailbox } => {
                store.subscribe(account, &mailbox, true).await?;
                MailboxReply::Done
            }
            MailboxRequest::Unsubscribe { mailbox } => {
                store.subscribe(account, &mailbox, false).await?;
                MailboxReply::Done
            }
            MailboxRequest::Select { mailbox, recent } => {
                self.watch = None;
                // The feed starts where the snapshot ends. UIDs and counts only: SELECT
                // never copies per-message data or bodies.
                let (watch, snapshot) = store.select(account, &mailbox, recent).await?;
                self.watch = Some(watch);
                MailboxReply::Selected(snapshot)
            }
            MailboxRequest::Unselect => {
                self.watch = None;
                MailboxReply::Done
            }
            MailboxRequest::AppendBegin { len } => {
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                self.streams.push_back(store.begin_append(len)?);
                MailboxReply::Done
            }
            MailboxRequest::AppendData(bytes) => {
                let stream = self.streams.back_mut().ok_or_else(|| {
                    MailboxError::Unavailable("literal bytes without a stream".into())
                })?;
                stream.write(&bytes)?;
                MailboxReply::Done
            }
            MailboxRequest::DropStreams => {
                self.streams.clear();
                MailboxReply::Done
            }
            MailboxRequest::Append {
                mailbox,
                message,
                flags,
                internal_date,
            } => {
                let date = internal_date.unwrap_or_else(crate::store::now);
                let uid = match message {
                    AppendBody::Bytes(message) => {
                        // Bare LFs become CRLF, as Dovecot stores them: sizes, FETCH and POP3
                        // then agree (RFC 5322 §2.1). A streamed literal (≥ 256 KiB) is kept
                        // as sent: its length was fixed when it was announced.
                        let message = crate::wire::crlf(message);
                        store
                            .append(account, &mailbox, &message, flags, date)
                            .await?
                    }
                    AppendBody::Streamed => {
                        let stream = self.streams.pop_front().ok_or_else(|| {
                            MailboxError::Unavailable("no stream to append".into())
                        })?;
                        store
                            .append_stream(account, &mailbox, stream, flags, date)
                            .await?
                    }
                };
                let status = store.status(account, &mailbox).await?;
                MailboxReply::Appended {
                    uid_validity: status.uid_validity,
                    uid,
                }
            }
            MailboxRequest::Fetch {
                mailbox,
                uids,
                content,
            } => fetch(store, account, &mailbox, &uids, content).await?,
            MailboxRequest::Store {
                mailbox,
                uids,
                mode,
                flags,
                unchanged_since,
            } => MailboxReply::Flags(
                store
                    .update_flags(account, &mailbox, &uids, mode, flags, unchanged_since)
                    .await?,
            ),
            MailboxRequest::Vanished {
                mailbox,
                since,
                uids,
            } => MailboxReply::Vanished(
                store
                    .vanished_since(account, &mailbox, since, &uids)
                    .await?,
            ),
            MailboxRequest::Changed { mailbox, since } => MailboxReply::Flags(FlagUpdate {
                changed: store.changed_since(account, &mailbox, since).await?,
                ..FlagUpdate::default()
            }),
            MailboxRequest::Transfer {
                mailbox,
                uids,
                to,
                transfer,
            } => {
                // Only a MOVE changes the source (its expunge): only then is its
                // HIGHESTMODSEQ read back for the tagged OK.
                let (pairs, source_modseq) = match transfer {
                    Transfer::Copy => (store.copy(account, &mailbox, &uids, &to).await?, ModSeq(0)),
                    Transfer::Move => {
                        let pairs = store.move_messages(account, &mailbox, &uids, &to).await?;
                        let source = store.status(account, &mailbox).await?;
                        (pairs, source.highest_modseq)
                    }
                };
                let status = store.status(account, &to).await?;
                MailboxReply::Transferred {
                    uid_validity: status.uid_validity,
                    pairs,
                    source_modseq,
                }
            }
            MailboxRequest::Discard { mailbox, uids } => {
                let uids = store.expunge(account, &mailbox, Some(&uids)).await?;
                expunged(store, account, &mailbox, uids).await?
            }
            MailboxRequest::Expunge { mailbox, uids } => {
                let uids = match uids {
                    None => None,
                    // UID EXPUNGE removes only the \Deleted ones of its set (RFC 4315 §2.1).
                    Some(mut set) => {
                        set.sort_unstable();
                        let deleted = store
                            .search(
                                account,
                                &mailbox,
                                &crate::store::SearchKey::Flag(crate::mail::SystemFlags::DELETED),
                            )
                            .await?;
                        Some(
                            deleted
                                .into_iter()
                                .filter(|u| set.binary_search(u).is_ok())
                                .collect::<Vec<_>>(),
                        )
                    }
                };
                let uids = store.expunge(account, &mailbox, uids.as_deref()).await?;
                expunged(store, account, &mailbox, uids).await?
            }
        };
        Ok(reply)
    }

    /// A change to the selected mailbox that has already arrived, without waiting.
    pub fn ready_change(&mut self) -> Option<Change> {
        self.watch.as_mut()?.try_recv().ok()
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

/// An expunge's reply: what went, and the mailbox's HIGHESTMODSEQ after it.
async fn expunged(
    store: &Store,
    account: &str,
    mailbox: &str,
    uids: Vec<Uid>,
) -> Result<MailboxReply, MailboxError> {
    let highest_modseq = store.status(account, mailbox).await?.highest_modseq;
    Ok(MailboxReply::Expunged {
        uids,
        highest_modseq,
    })
}

/// UIDs at most this far apart are read from the index as one range.
const RUN_GAP: u32 = 64;

/// Message bytes one FETCH batch reads at most (but always at least one message).
pub const BATCH_BYTES: u64 = 4 << 20;

/// One FETCH batch: the index entries of `uids`, and their bytes (or header blocks) when
/// asked, up to [`BATCH_BYTES`]; the UIDs past that are handed back as `rest`.
async fn fetch(
    store: &Store,
    account: &str,
    mailbox: &str,
    uids: &[Uid],
    content: Content,
) -> Result<MailboxReply, MailboxError> {
    if content == Content::Metadata {
        let messages = store
            .message_meta(account, mailbox, uids)
            .await?
            .into_iter()
            .map(|meta| FetchedMessage {
                meta,
                summary: MimeSummary::default(),
                bytes: None,
            })
            .collect();
        return Ok(MailboxReply::Fetched {
            messages,
            rest: Vec::new(),
        });
    }
    let mut uids = uids.to_vec();
    uids.sort_unstable();
    uids.dedup();
    // Read the index in runs of nearby UIDs, so a sparse batch (UIDs 1 and 90000) does not
    // copy every entry between them.
    let mut entries = Vec::with_capacity(uids.len());
    let mut i = 0;
    while i < uids.len() {
        let mut j = i;
        while j + 1 < uids.len() && uids[j + 1].0 <= uids[j].0.saturating_add(RUN_GAP) {
            j += 1;
        }
        entries.extend(store.messages(account, mailbox, uids[i]..=uids[j]).await?);
        i = j + 1;
    }
    entries.retain(|e| uids.binary_search(&e.uid).is_ok());
    // In UID order, as many as the batch's byte budget takes (always at least one); the
    // UIDs past it go back to the session as `rest`, for its next batch.
    let mut rest = Vec::new();
    let mut wants: Vec<(Uid, u64)> = Vec::new();
    if content >= Content::Header {
        let mut budget = 0u64;
        let mut taken = 0;
        for e in &entries {
            let len = match content {
                Content::Header => e
                    .summary
                    .parts
                    .first()
                    .map_or(u64::from(e.size), |p| u64::from(p.body_offset)),
                _ => u64::from(e.size),
            };
            if taken > 0 && budget + len > BATCH_BYTES {
                break;
            }
            budget += len;
            taken += 1;
            wants.push((e.uid, len));
        }
        rest = entries.drain(taken..).map(|e| e.uid).collect();
    }
    // The batch's bodies (or header blocks) with a few combined reads, served as slices of
    // the read buffers: nothing is copied until TLS encrypts it.
    let mut bodies = if wants.is_empty() {
        Vec::new()
    } else {
        store.read_prefixes(account, mailbox, &wants).await?
    }
    .into_iter();
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let bytes = match content {
            Content::Metadata | Content::Summary => None,
            Content::Header | Content::Bytes => match bodies.next().flatten() {
                Some(body) => Some(MessageBytes::from(body)),
                // Expunged meanwhile: left out, like a missing UID.
                None => continue,
            },
        };
        out.push(FetchedMessage {
            meta: MessageMeta {
                uid: e.uid,
                flags: e.flags,
                modseq: e.modseq,
                internal_date: e.internal_date,
                size: e.size,
            },
            summary: e.summary,
            bytes,
        });
    }
    Ok(MailboxReply::Fetched {
        messages: out,
        rest,
    })
}

impl From<StoreError> for MailboxError {
    fn from(e: StoreError) -> MailboxError {
        to_error(e)
    }
}

fn to_error(e: StoreError) -> MailboxError {
    match e {
        StoreError::NoSuchMailbox => MailboxError::NoSuchMailbox,
        StoreError::MailboxExists => MailboxError::MailboxExists,
        StoreError::InvalidMailboxName => MailboxError::InvalidName,
        StoreError::InboxIsPermanent => MailboxError::InboxIsPermanent,
        StoreError::TooLarge(_) => MailboxError::TooLarge,
        other => MailboxError::Unavailable(other.to_string()),
    }
}
