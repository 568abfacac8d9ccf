//! IMAP4rev2 / IMAP4rev1 server sessions (RFC 9051, RFC 3501), sans-IO: bytes in, bytes and
//! [`crate::session::Event`]s out.
//!
//! Layers, each in its own file, each depending only on the ones before it:
//! - [`framing`]: lines and literals (`{n}`, `{n+}`) assembled into commands on top of
//!   [`crate::wire::LineBuffer`], before any parsing; oversized input is dropped unread.
//! - [`command`]: a framed command parsed into a typed [`Command`] (one file per concept);
//!   [`mutf7`] decodes and encodes modified UTF-7 mailbox names.
//! - [`response`]: every response ringpost sends, and its encoding; [`fetch`] renders FETCH
//!   data (body sections, BINARY, FLAGS) from the store's MIME summary and bytes, with
//!   [`structure`] for ENVELOPE and BODYSTRUCTURE.
//! - `session`: the state machine ([`ImapSession`]), where each command and each peer mistake
//!   becomes a reply; mailbox work leaves it as typed [`crate::mailbox::MailboxRequest`]s.
//!
//! Built: every command of RFC 9051 and RFC 3501 in every state, with IDLE, NAMESPACE,
//! UIDPLUS, MOVE, UNSELECT, CHILDREN, SPECIAL-USE, CREATE-SPECIAL-USE, LIST-EXTENDED,
//! LIST-STATUS, STATUS=SIZE, ESEARCH, SEARCHRES, CONDSTORE, QRESYNC, UTF8=ACCEPT, BINARY,
//! MULTIAPPEND, APPENDLIMIT, UNAUTHENTICATE, PREVIEW, WITHIN, SORT and SORT=DISPLAY (RFC 5256,
//! RFC 5957), ESORT (RFC 5267 §3), CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4: results
//! kept up to date with ADDTO/REMOVEFROM, CANCELUPDATE, NOUPDATE past `[imap]
//! max_search_contexts`), THREAD=ORDEREDSUBJECT, THREAD=REFERENCES (RFC 5256) and
//! THREAD=REFS (draft-ietf-morg-inthread), UIDONLY (RFC 9586), PARTIAL (RFC 9394), INPROGRESS
//! (RFC 9585), CATENATE (RFC 4469), REPLACE (RFC 8508), QUOTA (RFC 9208), METADATA and
//! METADATA-SERVER (RFC 5464), SAVEDATE (RFC 8514), OBJECTID (RFC 8474: MAILBOXID and
//! EMAILID from the store, THREADID from the thread's root msg-id),
//! COMPRESS=DEFLATE (the session answers COMPRESS and asks the driver for
//! [`crate::session::Event::StartCompression`]; the codec is [`crate::wire::deflate`]),
//! NOTIFY (RFC 5465: every mailbox filter and every event but AnnotationChange, which is
//! `NO [BADEVENT]` since there are no per-message annotations; the selected mailbox's
//! changes go out between commands with a SELECTED group, expunges held back for
//! SELECTED-DELAYED, MessageNew's fetch attributes as an unsolicited FETCH; other mailboxes
//! as STATUS, names and subscriptions as LIST, annotations as METADATA, all from the
//! service's account-wide watch; `* OK [NOTIFICATIONOVERFLOW]` past `[imap]
//! notify_max_pending`)), and
//! ACL, RIGHTS=texk (RFC 4314) and LIST-MYRIGHTS (RFC 8440): SETACL, DELETEACL, GETACL,
//! LISTRIGHTS, MYRIGHTS and `LIST … RETURN (MYRIGHTS)`, with other accounts' mailboxes in the
//! namespace `Shared/<owner>/<mailbox>` ([`crate::mail::acl`] has the rights model). The
//! session knows only names and rights: which rights a request needs is checked by the service
//! on the owner's home shard; the session opens a shared mailbox read-only when its rights
//! allow no change (§5.2), shows in PERMANENTFLAGS only the flags they allow, and asks to set
//! `\Seen` on FETCH only with `s`. Flags are shared between the users of a mailbox.
//!
//! This module never touches sockets, files, the clock or the executor.

pub mod command;
pub mod fetch;
pub mod framing;
pub mod mutf7;
pub mod response;
mod session;
pub mod structure;

pub use command::{Command, NameEncoding, Tag, TaggedCommand, Verb};
pub use session::ImapSession;

#[cfg(test)]
mod transcript_tests;
