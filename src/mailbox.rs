//! IMAP's mailbox requests and replies: what an IMAP session hands its service (run on the
//! account's home shard by `runtime::service::mailbox`) and what it gets back. Plain data: the
//! session never touches the store; the store never sees protocol syntax. While a mailbox is
//! selected, the service passes the store's changes to it on as [`MailboxNotice`]s; once NOTIFY is set,
//! also what the session watches of the account's other mailboxes.
//!
//! The store's index on the home shard is the one in-memory view of a mailbox that every
//! session of the account shares: a session keeps only its sequence-number map and reads
//! per-message data from the index when a command needs it. So requests are small on
//! purpose: a SELECT answers with the UIDs (as runs) and a few counts, never per-message
//! flags or bodies; a FETCH names the UIDs of one batch and how much of each message it
//! needs, and a batch of message bytes stops at [`BATCH_BYTES`], so a session asks for a
//! large mailbox piece by piece and memory stays bounded.

use crate::mail::acl::{AclEntry, Rights, RightsChange};
use crate::mail::metadata::Annotation;
use crate::mail::{
    Change, FlagMode, FlagUpdate, Flags, MailboxId, MailboxInfo, MailboxStatus, MessageBytes,
    MimeSummary, ModSeq, Quota, Recent, Uid, UidRange, UidValidity, Vanished,
};

pub use crate::mail::{MailboxSnapshot as Snapshot, MessageMeta, UidRun};

/// How much of a message a FETCH batch needs (ordered: each includes the ones before).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Content {
    /// Flags, modseq, internal date and size only (FETCH FLAGS, SEARCH on index keys).
    Metadata,
    /// Also the envelope (SORT, THREAD ORDEREDSUBJECT, SEARCH SENTBEFORE…): the MIME
    /// summary without its parts.
    Envelope,
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
    /// SEARCH BODY / TEXT: which messages of the mailbox the account's full-text index says
    /// may match every one of `queries` (indexing those it does not cover yet first).
    TextSearch {
        mailbox: String,
        queries: Vec<crate::mail::text::TextQuery>,
    },
    /// SORT and THREAD (RFC 5256): the index data and ordering keys of those of `uids` still
    /// in the mailbox; with `references`, keys holding each message's References (THREAD
    /// REFERENCES and REFS). The store keeps the keys once derived.
    Order {
        mailbox: String,
        uids: Vec<Uid>,
        references: bool,
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
    /// The account's quota: usage and limits (RFC 9208 GETQUOTA); with a mailbox, which
    /// must exist (GETQUOTAROOT).
    Quota {
        mailbox: Option<String>,
    },
    /// Every annotation (RFC 5464 GETMETADATA) of the mailbox, which must exist, or with
    /// `None` of the server: the account's own and those the administrator sets. Answered
    /// as [`MailboxReply::Metadata`], sorted by name; the session picks what was asked.
    GetMetadata {
        mailbox: Option<String>,
    },
    /// SETMETADATA (RFC 5464 §4.3): set or remove annotations, all or none, durable before
    /// the reply. `Done`, or `Failed` with `MetadataTooMany`/`MetadataMaxSize`.
    SetMetadata {
        mailbox: Option<String>,
        entries: Vec<Annotation>,
    },
    /// GETACL (RFC 4314 §3.3): the mailbox's ACL, its owner first (answered as
    /// [`MailboxReply::Acl`]). Needs the `a` right.
    GetAcl {
        mailbox: String,
    },
    /// SETACL (`Some`) or DELETEACL (`None`) of one identifier (RFC 4314 §3.1, §3.2),
    /// durable before the reply. Needs the `a` right.
    SetAcl {
        mailbox: String,
        /// An address (lower case) or `anyone`.
        identifier: String,
        change: Option<RightsChange>,
    },
    /// LISTRIGHTS (RFC 4314 §3.4): the rights `identifier` always has on the mailbox (every
    /// right for its owner, none for anyone else), as [`MailboxReply::Rights`]. Needs `a`.
    ListRights {
        mailbox: String,
        identifier: String,
    },
    /// MYRIGHTS (RFC 4314 §3.5): the user's rights on the mailbox, as
    /// [`MailboxReply::Rights`].
    MyRights {
        mailbox: String,
    },
    /// NOTIFY (RFC 5465): watch the account's mailboxes as `spec` says, from now on
    /// (replacing any earlier watch), or stop (`None`). Answered with
    /// [`MailboxReply::Notifying`]: with `spec.initial_status`, the STATUS of every watched
    /// mailbox but the selected one.
    Notify(Option<NotifySpec>),
}

/// What a session asks to hear of its account's mailboxes (RFC 5465 event groups, without
/// their syntax). The selected mailbox's own changes come through its feed as ever; this
/// says which other changes the service turns into [`MailboxNotice`]s.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifySpec {
    /// The events of the SELECTED or SELECTED-DELAYED group: for the selected mailbox they
    /// come before any other group's.
    pub selected: Option<NotifyEvents>,
    /// The other groups, in the client's order: a mailbox gets the events of the first that
    /// matches it.
    pub groups: Vec<(MailboxFilter, NotifyEvents)>,
    /// Answer with the STATUS of the mailboxes watched for message events.
    pub initial_status: bool,
}

/// Which mailboxes an event group names (RFC 5465 §6). Names are the store's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxFilter {
    /// Where deliveries go: INBOX (ringpost delivers nowhere else on its own).
    Inboxes,
    /// Every mailbox of the account (none of the shared namespace: those are other
    /// accounts').
    Personal,
    /// The subscribed mailboxes, as the subscriptions are at the time of the event (other
    /// users' shared mailboxes included, when subscribed).
    Subscribed,
    /// These mailboxes and every mailbox under them.
    Subtree(Vec<String>),
    /// Exactly these mailboxes.
    Mailboxes(Vec<String>),
}

impl MailboxFilter {
    pub fn matches(&self, name: &str, subscribed: bool) -> bool {
        match self {
            MailboxFilter::Inboxes => name == "INBOX",
            MailboxFilter::Personal => {
                crate::mail::acl::shared_name(name) == crate::mail::acl::SharedName::Personal
            }
            MailboxFilter::Subscribed => subscribed,
            MailboxFilter::Subtree(roots) => roots.iter().any(|r| {
                name == r
                    || name
                        .strip_prefix(r.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            }),
            MailboxFilter::Mailboxes(names) => names.iter().any(|n| n == name),
        }
    }
}

/// The events of one group (RFC 5465 §5) ringpost can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotifyEvents {
    /// MessageNew and MessageExpunge (always together).
    pub messages: bool,
    /// FlagChange.
    pub flags: bool,
    /// MailboxName: created, deleted, renamed.
    pub names: bool,
    /// SubscriptionChange.
    pub subscriptions: bool,
    /// MailboxMetadataChange.
    pub mailbox_metadata: bool,
    /// ServerMetadataChange (about no mailbox: any group that names it asks for it).
    pub server_metadata: bool,
}

impl NotifyEvents {
    /// The events either asks for.
    pub fn union(self, other: NotifyEvents) -> NotifyEvents {
        NotifyEvents {
            messages: self.messages || other.messages,
            flags: self.flags || other.flags,
            names: self.names || other.names,
            subscriptions: self.subscriptions || other.subscriptions,
            mailbox_metadata: self.mailbox_metadata || other.mailbox_metadata,
            server_metadata: self.server_metadata || other.server_metadata,
        }
    }
}

impl NotifySpec {
    /// The events asked for mailbox `name`: the selected group's for the selected mailbox,
    /// else the first matching group's, else none.
    pub fn events(&self, name: &str, selected: bool, subscribed: bool) -> NotifyEvents {
        if selected {
            if let Some(events) = self.selected {
                return events;
            }
        }
        self.groups
            .iter()
            .find(|(filter, _)| filter.matches(name, subscribed))
            .map(|(_, events)| *events)
            .unwrap_or_default()
    }

    /// Whether any group asks for ServerMetadataChange.
    pub fn server_metadata(&self) -> bool {
        self.selected.is_some_and(|e| e.server_metadata)
            || self.groups.iter().any(|(_, e)| e.server_metadata)
    }
}

/// What the service tells a session without being asked: the selected mailbox's changes,
/// and, once NOTIFY is set, what the session watches of the account's other mailboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxNotice {
    /// A change to the selected mailbox.
    Selected(MailboxChange),
    /// A watched mailbox other than the selected one changed (messages or flags): its
    /// figures now (RFC 5465 §5.2-§5.4).
    Status { name: String, status: MailboxStatus },
    /// MailboxName (RFC 5465 §5.4): a mailbox was created, deleted or renamed (`old`).
    Name {
        name: String,
        old: Option<String>,
        deleted: bool,
    },
    /// SubscriptionChange (RFC 5465 §5.5).
    Subscription { name: String, subscribed: bool },
    /// MailboxMetadataChange / ServerMetadataChange (RFC 5465 §5.6, §5.7): an entry of
    /// this mailbox (`None`: of the server) changed.
    Metadata {
        mailbox: Option<String>,
        entry: String,
    },
    /// More changes piled up than `[imap] notify_max_pending` allows: the watch has ended
    /// (RFC 5465 §5.8), the session must behave as after NOTIFY NONE.
    Overflow,
}

/// The message of an APPEND.
#[derive(Clone, PartialEq, Eq)]
pub enum AppendBody {
    /// The bytes, received whole by the session.
    Bytes(Vec<u8>),
    /// The bytes of a `~{n}` literal8 (RFC 3516 §4.3), stored exactly: binary data keeps
    /// its bare CRs and LFs.
    Binary(Vec<u8>),
    /// The oldest stream received with [`MailboxRequest::AppendBegin`] and not appended yet.
    Streamed,
}

impl std::fmt::Debug for AppendBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The bytes alone, as the request showed them before streams existed.
            AppendBody::Bytes(b) => write!(f, "{b:?}"),
            AppendBody::Binary(b) => write!(f, "Binary({b:?})"),
            AppendBody::Streamed => f.write_str("Streamed"),
        }
    }
}

/// One message of a FETCH batch.
pub type FetchedMessage = Fetched<MessageBytes>;

/// One message of a FETCH batch, its bytes as `B`: [`MessageBytes`] for a session, owned
/// bytes where a reply travels between threads (a shared mailbox's owner answering).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched<B> {
    pub meta: MessageMeta,
    /// Empty when the request asked for [`Content::Metadata`].
    pub summary: MimeSummary,
    /// The message's bytes (or only its header block), when the request asked for them.
    pub bytes: Option<B>,
}

/// The service's answer to a [`MailboxRequest`], with the changes to the selected mailbox that
/// must be reported before it: those the request itself caused (an APPEND or COPY to the
/// selected mailbox) or that landed meanwhile (RFC 9051 §6.3.12: the EXISTS of an APPEND to the
/// selected mailbox comes at once). Empty for SELECT/UNSELECT, whose snapshot covers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxAnswer {
    pub changes: Vec<MailboxChange>,
    pub reply: MailboxReply,
}

/// The answer to one [`MailboxRequest`].
pub type MailboxReply = Reply<MessageBytes>;

/// The answer to one [`MailboxRequest`], a FETCH's bytes as `B` (see [`Fetched`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<B> {
    /// Every mailbox, and every subscribed name (which may name no mailbox).
    Listed {
        mailboxes: Vec<MailboxInfo>,
        subscriptions: Vec<String>,
    },
    Status(MailboxStatus),
    Selected(Snapshot),
    /// CREATE, DELETE, RENAME, (UN)SUBSCRIBE, UNSELECT.
    Done,
    /// CREATE: the new mailbox's id and UIDVALIDITY, its MAILBOXID (RFC 8474 §4.1).
    Created {
        id: MailboxId,
        uid_validity: UidValidity,
    },
    Appended {
        uid_validity: UidValidity,
        uid: Uid,
    },
    /// The answer to [`MailboxRequest::TextSearch`]: the UIDs that may match and whether
    /// they are exactly the matches; `None` when the full-text index cannot narrow.
    TextCandidates(Option<(Vec<Uid>, bool)>),
    /// The answer to [`MailboxRequest::TextSearch`] while the mailbox is still being indexed
    /// (its first text search): `done` of `total` messages are; ask again.
    TextIndexing {
        done: usize,
        total: usize,
    },
    /// One batch of a FETCH; `rest` are the UIDs of the request left for another batch
    /// because their bytes would have passed [`BATCH_BYTES`].
    Fetched {
        messages: Vec<Fetched<B>>,
        rest: Vec<Uid>,
        /// The service's clock when it answered (Unix seconds): what SEARCH YOUNGER and
        /// OLDER (RFC 5032) measure from, since the session has no clock of its own.
        now: i64,
    },
    /// The answer to [`MailboxRequest::Order`], in UID order.
    Ordered {
        messages: Vec<(MessageMeta, std::sync::Arc<crate::mail::order::OrderFields>)>,
        /// The service's clock, as with [`Reply::Fetched`].
        now: i64,
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
    Quota(Quota),
    /// NOTIFY is set (or off): the initial STATUS of the watched mailboxes, if asked, and
    /// how many other users' shared mailboxes are not watched because the session watches
    /// as many owners as `[imap] notify_max_owners` allows.
    Notifying {
        statuses: Vec<(String, MailboxStatus)>,
        unwatched: usize,
    },
    /// Annotations with their values, sorted by entry name.
    Metadata(Vec<Annotation>),
    /// GETACL's entries, the mailbox's owner first with every right.
    Acl(Vec<AclEntry>),
    /// MYRIGHTS's rights, or LISTRIGHTS's rights always granted.
    Rights(Rights),
    Failed(MailboxError),
}

impl<B> Reply<B> {
    /// The same reply with a FETCH's bytes made into `C`.
    pub fn map_bytes<C>(self, f: impl Fn(B) -> C) -> Reply<C> {
        match self {
            Reply::Fetched {
                messages,
                rest,
                now,
            } => Reply::Fetched {
                messages: messages
                    .into_iter()
                    .map(|m| Fetched {
                        meta: m.meta,
                        summary: m.summary,
                        bytes: m.bytes.map(&f),
                    })
                    .collect(),
                rest,
                now,
            },
            Reply::Listed {
                mailboxes,
                subscriptions,
            } => Reply::Listed {
                mailboxes,
                subscriptions,
            },
            Reply::Status(s) => Reply::Status(s),
            Reply::Selected(s) => Reply::Selected(s),
            Reply::Done => Reply::Done,
            Reply::Created { id, uid_validity } => Reply::Created { id, uid_validity },
            Reply::Appended { uid_validity, uid } => Reply::Appended { uid_validity, uid },
            Reply::TextCandidates(c) => Reply::TextCandidates(c),
            Reply::TextIndexing { done, total } => Reply::TextIndexing { done, total },
            Reply::Ordered { messages, now } => Reply::Ordered { messages, now },
            Reply::Notifying {
                statuses,
                unwatched,
            } => Reply::Notifying {
                statuses,
                unwatched,
            },
            Reply::Flags(f) => Reply::Flags(f),
            Reply::Vanished(v) => Reply::Vanished(v),
            Reply::Transferred {
                uid_validity,
                pairs,
                source_modseq,
            } => Reply::Transferred {
                uid_validity,
                pairs,
                source_modseq,
            },
            Reply::Expunged {
                uids,
                highest_modseq,
            } => Reply::Expunged {
                uids,
                highest_modseq,
            },
            Reply::Quota(q) => Reply::Quota(q),
            Reply::Metadata(m) => Reply::Metadata(m),
            Reply::Acl(a) => Reply::Acl(a),
            Reply::Rights(r) => Reply::Rights(r),
            Reply::Failed(e) => Reply::Failed(e),
        }
    }
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
    /// The account's quota would be passed (`NO [OVERQUOTA]`, RFC 9208 §4.3).
    OverQuota,
    /// The mailbox (or server) has as many annotations as it may (`NO [METADATA TOOMANY]`).
    MetadataTooMany,
    /// A value is longer than this (`NO [METADATA MAXSIZE n]`).
    MetadataMaxSize(u64),
    /// The user lacks the right the request needs on a mailbox they can see (`NO
    /// [NOPERM]`, RFC 4314); one they cannot see is [`MailboxError::NoSuchMailbox`].
    NoPermission,
    /// The mailbox has as many ACL entries as `[imap] max_acl_entries` allows (`NO
    /// [LIMIT]`).
    AclTooMany,
    /// A SETACL or DELETEACL that cannot be done (`NO [CANNOT]`), and why.
    AclRefused(&'static str),
    /// A local, transient fault (`NO [UNAVAILABLE]`); the text is for the log only.
    Unavailable(String),
}

/// A change to the selected mailbox made by another session or a delivery.
pub type MailboxChange = Change;

/// Message bytes one FETCH batch reads at most (but always at least one message).
pub const BATCH_BYTES: u64 = 4 << 20;
