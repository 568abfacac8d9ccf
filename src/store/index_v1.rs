//! Reading index files of format 1 (`RPIDX001`), written before the MIME summary kept
//! Content-Disposition parameters, Content-Language/-Location and the envelopes of nested
//! messages. The archived shape of that format is frozen here; [`upgrade`] turns such a file
//! into today's [`AccountIndex`] (the new fields empty: a nested message's ENVELOPE then reads
//! as NIL fields, as it did before). Never write this format.

use rkyv::rancor;
use rkyv::util::AlignedVec;

use super::index::{AccountIndex, BodyRef, Mailbox, MessageEntry};
use super::mime::{Envelope, MimeSummary, Param, PartSummary};
use super::types::{Flags, MailboxId, ModSeq, Result, SpecialUse, StoreError, Uid, UidValidity};

pub const MAGIC: &[u8; 8] = b"RPIDX001";

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct PartV1 {
    pub parent: Option<u32>,
    pub media_type: String,
    pub subtype: String,
    pub params: Vec<Param>,
    pub id: Option<String>,
    pub description: Option<String>,
    pub encoding: Option<String>,
    pub disposition: Option<String>,
    pub header_offset: u32,
    pub body_offset: u32,
    pub body_end: u32,
    pub lines: u32,
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct SummaryV1 {
    pub envelope: Envelope,
    pub parts: Vec<PartV1>,
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct MessageV1 {
    pub uid: Uid,
    pub flags: Flags,
    pub internal_date: i64,
    pub size: u32,
    pub modseq: ModSeq,
    pub body: BodyRef,
    pub summary: SummaryV1,
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct MailboxV1 {
    pub id: MailboxId,
    pub name: String,
    pub special: Option<SpecialUse>,
    pub uid_validity: UidValidity,
    pub uid_next: Uid,
    pub highest_modseq: ModSeq,
    pub messages: Vec<MessageV1>,
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct AccountV1 {
    pub account: String,
    pub applied_seq: u64,
    pub created: bool,
    pub next_mailbox_id: u32,
    pub last_uid_validity: u32,
    pub mailboxes: Vec<MailboxV1>,
    pub subscriptions: Vec<String>,
}

/// The archive of a format-1 file whose framing and CRC the caller checked, validated with
/// bytecheck and converted.
pub fn upgrade(archive: &[u8]) -> Result<AccountIndex> {
    let mut bytes = AlignedVec::<16>::with_capacity(archive.len());
    bytes.extend_from_slice(archive);
    let old = rkyv::from_bytes::<AccountV1, rancor::Error>(&bytes)
        .map_err(|e| StoreError::corrupt("index file (format 1)", e))?;
    Ok(AccountIndex {
        account: old.account,
        applied_seq: old.applied_seq,
        created: old.created,
        next_mailbox_id: old.next_mailbox_id,
        last_uid_validity: old.last_uid_validity,
        mailboxes: old.mailboxes.into_iter().map(mailbox).collect(),
        subscriptions: old.subscriptions,
    })
}

fn mailbox(m: MailboxV1) -> Mailbox {
    Mailbox {
        id: m.id,
        name: m.name,
        special: m.special,
        uid_validity: m.uid_validity,
        uid_next: m.uid_next,
        highest_modseq: m.highest_modseq,
        messages: m.messages.into_iter().map(message).collect(),
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::types::SystemFlags;

    /// A format-1 file as the previous release wrote it.
    fn v1_file(index: &AccountV1) -> Vec<u8> {
        let archived = rkyv::to_bytes::<rancor::Error>(index).unwrap();
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&crc32c::crc32c(&archived).to_le_bytes());
        out.extend_from_slice(&(archived.len() as u32).to_le_bytes());
        out.extend_from_slice(&archived);
        out
    }

    #[test]
    fn a_format_1_file_reads_as_todays_index() {
        let old = AccountV1 {
            account: "alice@example.com".into(),
            applied_seq: 42,
            created: true,
            next_mailbox_id: 2,
            last_uid_validity: 7,
            mailboxes: vec![MailboxV1 {
                id: MailboxId(1),
                name: "INBOX".into(),
                special: None,
                uid_validity: UidValidity(7),
                uid_next: Uid(4),
                highest_modseq: ModSeq(9),
                messages: vec![MessageV1 {
                    uid: Uid(3),
                    flags: Flags::new(SystemFlags::SEEN, ["$Work".to_string()]),
                    internal_date: 1_700_000_000,
                    size: 120,
                    modseq: ModSeq(8),
                    body: BodyRef {
                        segment: 5,
                        offset: 4096,
                        len: 120,
                    },
                    summary: SummaryV1 {
                        envelope: Envelope {
                            subject: Some("hi".into()),
                            ..Envelope::default()
                        },
                        parts: vec![PartV1 {
                            parent: None,
                            media_type: "text".into(),
                            subtype: "plain".into(),
                            params: Vec::new(),
                            id: None,
                            description: None,
                            encoding: None,
                            disposition: Some("inline".into()),
                            header_offset: 0,
                            body_offset: 20,
                            body_end: 120,
                            lines: 3,
                        }],
                    },
                }],
            }],
            subscriptions: vec!["INBOX".into()],
        };
        let index = AccountIndex::from_file_bytes(&v1_file(&old)).unwrap();
        assert_eq!(index.applied_seq, 42);
        assert_eq!(index.subscriptions, ["INBOX"]);
        let m = index.mailbox("INBOX").unwrap();
        assert_eq!((m.uid_next, m.highest_modseq), (Uid(4), ModSeq(9)));
        let e = m.get(Uid(3)).unwrap();
        assert_eq!(
            e.flags,
            Flags::new(SystemFlags::SEEN, ["$Work".to_string()])
        );
        assert_eq!((e.body.segment, e.body.offset, e.size), (5, 4096, 120));
        assert_eq!(e.summary.envelope.subject.as_deref(), Some("hi"));
        let p = &e.summary.parts[0];
        assert_eq!((p.body_offset, p.body_end, p.lines), (20, 120, 3));
        assert_eq!(p.disposition.as_deref(), Some("inline"));
        assert!(p.envelope.is_none() && p.disposition_params.is_empty());
        // Written back, it is format 2 and reads the same.
        let again = AccountIndex::from_file_bytes(&index.to_file_bytes().unwrap()).unwrap();
        assert_eq!(again, index);
        // A damaged format-1 file is refused, not misread.
        let mut bad = v1_file(&old);
        let n = bad.len();
        bad[n - 3] ^= 0xff;
        assert!(AccountIndex::from_file_bytes(&bad).is_err());
    }
}
