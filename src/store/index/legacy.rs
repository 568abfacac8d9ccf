//! The index file format before the expunge log (`RPIDX001`), read so that a data directory
//! written by an older ringpost still opens. Never written. Such an index knows no expunge
//! history: each mailbox's log starts complete only after its HIGHESTMODSEQ, which is
//! exactly what was true (every earlier expunge had a modseq at or below it).

use rkyv::rancor;
use rkyv::util::AlignedVec;

use super::{AccountIndex, Mailbox, MessageEntry};
use crate::store::expunged::ExpungeLog;
use crate::store::types::{MailboxId, ModSeq, Result, SpecialUse, StoreError, Uid, UidValidity};

pub const INDEX_MAGIC_V1: &[u8; 8] = b"RPIDX001";

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
    messages: Vec<MessageEntry>,
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
                messages: m.messages,
                expunged: ExpungeLog {
                    runs: Vec::new(),
                    complete_after: m.highest_modseq,
                },
            })
            .collect(),
        subscriptions: old.subscriptions,
    })
}
