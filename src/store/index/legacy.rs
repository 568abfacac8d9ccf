//! The older index file formats, read so that a data directory written by an older ringpost
//! still opens. Never written.
//!
//! `RPIDX003` is today's format without ACLs and sharers: its mailboxes come across with
//! empty ACLs (only their owner has rights), as they were.
//!
//! `RPIDX002` is `RPIDX003` without save dates, EMAILIDs and annotations: its messages
//! come across with no known save date (SAVEDATE NIL, RFC 8514 allows it) and the EMAILID of
//! their bytes' place ([`super::email_id_of`]: the place they were appended at, unless
//! compaction moved them since, and unique either way), its mailboxes with no annotations.
//!
//! `RPIDX001` came before the expunge log and the fuller MIME summary.
//! Such an index knows no expunge history: each mailbox's log starts complete only after its
//! HIGHESTMODSEQ, which is exactly what was true (every earlier expunge had a modseq at or
//! below it). Its MIME summaries lack disposition parameters, language, location and nested
//! envelopes: those stay empty (a nested message's ENVELOPE reads as NIL fields, as before).

use rkyv::rancor;
use rkyv::util::AlignedVec;

use super::{email_id_of, AccountIndex, Annotation, BodyRef, Mailbox, MessageEntry};
use crate::mail::mime::{Envelope, MimeSummary, Param, PartSummary};
use crate::mail::{Flags, MailboxId, ModSeq, SpecialUse, Uid, UidValidity};
use crate::store::expunged::ExpungeLog;
use crate::store::types::{Result, StoreError};

pub const INDEX_MAGIC_V1: &[u8; 8] = b"RPIDX001";
pub const INDEX_MAGIC_V2: &[u8; 8] = b"RPIDX002";
pub const INDEX_MAGIC_V3: &[u8; 8] = b"RPIDX003";

/// [`AccountIndex`] as `RPIDX003` archived it: without the sharers.
#[derive(rkyv::Archive, rkyv::Deserialize)]
#[cfg_attr(test, derive(rkyv::Serialize))]
pub(super) struct AccountIndexV3 {
    pub account: String,
    pub applied_seq: u64,
    pub created: bool,
    pub next_mailbox_id: u32,
    pub last_uid_validity: u32,
    pub mailboxes: Vec<MailboxV3>,
    pub subscriptions: Vec<String>,
    pub metadata: Vec<Annotation>,
}

/// [`Mailbox`] without its ACL (messages as today's).
#[derive(rkyv::Archive, rkyv::Deserialize)]
#[cfg_attr(test, derive(rkyv::Serialize))]
pub(super) struct MailboxV3 {
    pub id: MailboxId,
    pub name: String,
    pub special: Option<SpecialUse>,
    pub uid_validity: UidValidity,
    pub uid_next: Uid,
    pub highest_modseq: ModSeq,
    pub messages: Vec<MessageEntry>,
    pub expunged: ExpungeLog,
    pub metadata: Vec<Annotation>,
}

/// An `RPIDX003` archive (framing and CRC already checked), validated and converted: no
/// mailbox has an ACL, nobody shares with the account.
pub fn from_file_bytes_v3(archive: AlignedVec<16>) -> Result<AccountIndex> {
    let old = rkyv::from_bytes::<AccountIndexV3, rancor::Error>(&archive)
        .map_err(|e| StoreError::corrupt("index file (RPIDX003)", e))?;
    Ok(AccountIndex {
        account: old.account,
        applied_seq: old.applied_seq,
        created: old.created,
        next_mailbox_id: old.next_mailbox_id,
        last_uid_validity: old.last_uid_validity,
        mailboxes: old
            .mailboxes
            .into_iter()
            .map(|m| Mailbox {
                id: m.id,
                name: m.name,
                special: m.special,
                uid_validity: m.uid_validity,
                uid_next: m.uid_next,
                highest_modseq: m.highest_modseq,
                messages: m.messages,
                expunged: m.expunged,
                metadata: m.metadata,
                acl: Vec::new(),
            })
            .collect(),
        subscriptions: old.subscriptions,
        metadata: old.metadata,
        sharers: Vec::new(),
    })
}

/// [`AccountIndex`] as `RPIDX002` archived it (same fields, same order).
#[derive(rkyv::Archive, rkyv::Deserialize)]
#[cfg_attr(test, derive(rkyv::Serialize))]
pub(super) struct AccountIndexV2 {
    pub account: String,
    pub applied_seq: u64,
    pub created: bool,
    pub next_mailbox_id: u32,
    pub last_uid_validity: u32,
    pub mailboxes: Vec<MailboxV2>,
    pub subscriptions: Vec<String>,
}

/// [`Mailbox`] without annotations.
#[derive(rkyv::Archive, rkyv::Deserialize)]
#[cfg_attr(test, derive(rkyv::Serialize))]
pub(super) struct MailboxV2 {
    pub id: MailboxId,
    pub name: String,
    pub special: Option<SpecialUse>,
    pub uid_validity: UidValidity,
    pub uid_next: Uid,
    pub highest_modseq: ModSeq,
    pub messages: Vec<MessageV2>,
    pub expunged: ExpungeLog,
}

/// [`MessageEntry`] without save date and EMAILID.
#[derive(rkyv::Archive, rkyv::Deserialize)]
#[cfg_attr(test, derive(rkyv::Serialize))]
pub(super) struct MessageV2 {
    pub uid: Uid,
    pub flags: Flags,
    pub internal_date: i64,
    pub size: u32,
    pub modseq: ModSeq,
    pub body: BodyRef,
    pub summary: MimeSummary,
}

/// An `RPIDX002` archive (framing and CRC already checked), validated and converted.
pub fn from_file_bytes_v2(archive: AlignedVec<16>) -> Result<AccountIndex> {
    let old = rkyv::from_bytes::<AccountIndexV2, rancor::Error>(&archive)
        .map_err(|e| StoreError::corrupt("index file (RPIDX002)", e))?;
    Ok(AccountIndex {
        account: old.account,
        applied_seq: old.applied_seq,
        created: old.created,
        next_mailbox_id: old.next_mailbox_id,
        last_uid_validity: old.last_uid_validity,
        mailboxes: old
            .mailboxes
            .into_iter()
            .map(|m| Mailbox {
                id: m.id,
                name: m.name,
                special: m.special,
                uid_validity: m.uid_validity,
                uid_next: m.uid_next,
                highest_modseq: m.highest_modseq,
                messages: m
                    .messages
                    .into_iter()
                    .map(|e| MessageEntry {
                        uid: e.uid,
                        flags: e.flags,
                        internal_date: e.internal_date,
                        size: e.size,
                        modseq: e.modseq,
                        body: e.body,
                        summary: e.summary,
                        saved: 0,
                        email_id: email_id_of(e.body),
                    })
                    .collect(),
                expunged: m.expunged,
                metadata: Vec::new(),
                acl: Vec::new(),
            })
            .collect(),
        subscriptions: old.subscriptions,
        metadata: Vec::new(),
        sharers: Vec::new(),
    })
}

/// [`AccountIndex`] as `RPIDX001` archived it (same fields, same order).
#[derive(rkyv::Archive, rkyv::Deserialize)]
struct AccountIndexV1 {
    account: String,
    applied_seq: u64,
    created: bool,
    next_mailbox_id: u32,
    last_uid_validity: u32,
    mailboxes: Vec<MailboxV1>,
    subscriptions: Vec<String>,
}

/// [`Mailbox`] without its expunge log.
#[derive(rkyv::Archive, rkyv::Deserialize)]
struct MailboxV1 {
    id: MailboxId,
    name: String,
    special: Option<SpecialUse>,
    uid_validity: UidValidity,
    uid_next: Uid,
    highest_modseq: ModSeq,
    messages: Vec<MessageV1>,
}

/// [`MessageEntry`] with the format-1 MIME summary.
#[derive(rkyv::Archive, rkyv::Deserialize)]
struct MessageV1 {
    uid: Uid,
    flags: Flags,
    internal_date: i64,
    size: u32,
    modseq: ModSeq,
    body: BodyRef,
    summary: SummaryV1,
}

#[derive(rkyv::Archive, rkyv::Deserialize)]
struct SummaryV1 {
    envelope: Envelope,
    parts: Vec<PartV1>,
}

#[derive(rkyv::Archive, rkyv::Deserialize)]
struct PartV1 {
    parent: Option<u32>,
    media_type: String,
    subtype: String,
    params: Vec<Param>,
    id: Option<String>,
    description: Option<String>,
    encoding: Option<String>,
    disposition: Option<String>,
    header_offset: u32,
    body_offset: u32,
    body_end: u32,
    lines: u32,
}

fn message(e: MessageV1) -> MessageEntry {
    MessageEntry {
        uid: e.uid,
        flags: e.flags,
        internal_date: e.internal_date,
        size: e.size,
        modseq: e.modseq,
        body: e.body,
        summary: MimeSummary {
            envelope: e.summary.envelope,
            parts: e.summary.parts.into_iter().map(part).collect(),
        },
        saved: 0,
        email_id: email_id_of(e.body),
    }
}

fn part(p: PartV1) -> PartSummary {
    PartSummary {
        parent: p.parent,
        media_type: p.media_type,
        subtype: p.subtype,
        params: p.params,
        id: p.id,
        description: p.description,
        encoding: p.encoding,
        disposition: p.disposition,
        disposition_params: Vec::new(),
        language: Vec::new(),
        location: None,
        envelope: None,
        header_offset: p.header_offset,
        body_offset: p.body_offset,
        body_end: p.body_end,
        lines: p.lines,
    }
}

/// An `RPIDX001` archive (framing and CRC already checked), validated and converted.
pub fn from_file_bytes(archive: AlignedVec<16>) -> Result<AccountIndex> {
    let old = rkyv::from_bytes::<AccountIndexV1, rancor::Error>(&archive)
        .map_err(|e| StoreError::corrupt("index file (RPIDX001)", e))?;
    Ok(AccountIndex {
        account: old.account,
        applied_seq: old.applied_seq,
        created: old.created,
        next_mailbox_id: old.next_mailbox_id,
        last_uid_validity: old.last_uid_validity,
        mailboxes: old
            .mailboxes
            .into_iter()
            .map(|m| Mailbox {
                id: m.id,
                name: m.name,
                special: m.special,
                uid_validity: m.uid_validity,
                uid_next: m.uid_next,
                highest_modseq: m.highest_modseq,
                messages: m.messages.into_iter().map(message).collect(),
                expunged: ExpungeLog {
                    runs: Vec::new(),
                    complete_after: m.highest_modseq,
                },
                metadata: Vec::new(),
                acl: Vec::new(),
            })
            .collect(),
        subscriptions: old.subscriptions,
        metadata: Vec::new(),
        sharers: Vec::new(),
    })
}
