//! The logical operations the log records, and their payload encoding. Never does IO.
//!
//! A payload is `op_len: u32 LE`, then `op_len` bytes of the rkyv-archived [`Op`], then (for
//! [`Op::Append`]) the message bytes, so a message is read straight from its segment at a
//! known offset. Every op names its account, and carries everything its effect depends on
//! (UIDs, UIDVALIDITY, the MIME summary), so replaying the log rebuilds the same index.

use rkyv::rancor;
use rkyv::util::AlignedVec;

use super::index::BodyRef;
use super::types::{Result, StoreError};
use crate::mail::{FlagMode, Flags, MailboxId, MimeSummary, ModSeq, SpecialUse, Uid, UidValidity};

/// One recipient's copy of an appended message.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct AppendCopy {
    pub account: String,
    pub mailbox: MailboxId,
    pub uid: Uid,
    pub flags: Flags,
}

/// A mailbox created with an account, or on its own.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct NewMailbox {
    pub id: MailboxId,
    pub name: String,
    pub uid_validity: UidValidity,
    pub special: Option<SpecialUse>,
}

/// One message body moved by compaction: the bytes that were at `from` are now at `at` in the
/// relocation record's body area (same length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Moved {
    pub from: BodyRef,
    pub at: u32,
}

/// A change to the store, as written to the log.
// Ops live only while queued (one per waiting caller); boxing the append's summary would
// cost an allocation per delivery for no memory that matters.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Op {
    /// Create an account with its first mailboxes. A no-op if the account already exists.
    CreateAccount {
        account: String,
        mailboxes: Vec<NewMailbox>,
    },
    CreateMailbox {
        account: String,
        mailbox: NewMailbox,
    },
    RenameMailbox {
        account: String,
        id: MailboxId,
        name: String,
    },
    DeleteMailbox {
        account: String,
        id: MailboxId,
    },
    Subscribe {
        account: String,
        name: String,
        subscribed: bool,
    },
    /// One message for one or more accounts of this partition; the bytes follow the op.
    Append {
        internal_date: i64,
        summary: MimeSummary,
        copies: Vec<AppendCopy>,
    },
    /// Copy (and for MOVE, expunge from the source) `(source UID, new UID)` pairs.
    Copy {
        account: String,
        from: MailboxId,
        to: MailboxId,
        uids: Vec<(Uid, Uid)>,
        expunge_source: bool,
    },
    SetFlags {
        account: String,
        mailbox: MailboxId,
        uids: Vec<Uid>,
        mode: FlagMode,
        flags: Flags,
    },
    Expunge {
        account: String,
        mailbox: MailboxId,
        uids: Vec<Uid>,
    },
    /// Compaction copied live message bytes out of a sealed segment; the bytes follow the op.
    /// Every message of `accounts` whose body is a `from` now points at its new copy. Never
    /// adds or removes a message: an entry expunged before this record is simply not found.
    Relocate {
        accounts: Vec<String>,
        moves: Vec<Moved>,
    },
    /// Raise a mailbox's UIDNEXT to at least `uid_next` (import keeps a source's UIDNEXT, so
    /// UIDs its clients saw expunged there are never handed out again).
    RaiseUidNext {
        account: String,
        mailbox: MailboxId,
        uid_next: Uid,
    },
    /// [`Op::SetFlags`] with CONDSTORE's UNCHANGEDSINCE (RFC 7162 §3.1.3): a message whose
    /// modseq is above `unchanged_since` when the record is applied is left alone. The check
    /// runs in log order, so no change queued ahead of this one can slip between check and
    /// update. (Last in the enum: rkyv numbers variants in order, so older logs still read.)
    SetFlagsUnchangedSince {
        account: String,
        mailbox: MailboxId,
        uids: Vec<Uid>,
        mode: FlagMode,
        flags: Flags,
        unchanged_since: ModSeq,
    },
    /// Remove an account's mailboxes, messages and subscriptions: its deleted incarnation's
    /// mail is purged. The bodies become dead space for compaction. (After the older ops, so
    /// older logs still read.)
    PurgeAccount {
        account: String,
    },
    /// [`Op::Append`] with the time each copy was saved to its mailbox (RFC 8514 SAVEDATE),
    /// which an APPEND with a date of its own does not tell. Older logs hold only `Append`,
    /// whose messages have no known save date. (The date rides in each copy so the archived
    /// op keeps its size: see the test on older records.)
    AppendSaved {
        internal_date: i64,
        summary: MimeSummary,
        copies: Vec<SavedCopy>,
    },
    /// [`Op::Copy`] with the save date the copies get (the source's internal date stays).
    CopySaved {
        account: String,
        from: MailboxId,
        to: MailboxId,
        uids: Vec<(Uid, Uid)>,
        expunge_source: bool,
        saved: i64,
    },
    /// Set or (with no value) remove annotations (RFC 5464) of a mailbox, or of the server
    /// (the account's own entries of the server's annotations) when `mailbox` is `None`.
    SetMetadata {
        account: String,
        mailbox: Option<MailboxId>,
        entries: Vec<MetadataChange>,
    },
    /// Set (`Some`) or remove (`None`) one identifier's entry in a mailbox's access control
    /// list (RFC 4314). The identifier is an address (lower case) or `anyone`.
    SetAcl {
        account: String,
        mailbox: MailboxId,
        identifier: String,
        rights: Option<crate::mail::acl::Rights>,
    },
    /// Note (`shared`) or forget that `owner` gave this account rights on a mailbox of theirs:
    /// where LIST looks for the mailboxes shared with it.
    SetSharer {
        account: String,
        owner: String,
        shared: bool,
    },
}

/// [`AppendCopy`] with its save date (Unix seconds).
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct SavedCopy {
    pub copy: AppendCopy,
    pub saved: i64,
}

/// One annotation set (`Some`) or removed (`None`) by [`Op::SetMetadata`]. `name` is the
/// entry name as stored: `/private/...` or `/shared/...`, lower case.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct MetadataChange {
    pub name: String,
    pub value: Option<Vec<u8>>,
}

impl Op {
    /// The accounts this op touches (one, except for a multi-recipient append).
    pub fn accounts(&self) -> Vec<&str> {
        match self {
            Op::CreateAccount { account, .. }
            | Op::CreateMailbox { account, .. }
            | Op::RenameMailbox { account, .. }
            | Op::DeleteMailbox { account, .. }
            | Op::Subscribe { account, .. }
            | Op::Copy { account, .. }
            | Op::SetFlags { account, .. }
            | Op::SetFlagsUnchangedSince { account, .. }
            | Op::Expunge { account, .. }
            | Op::RaiseUidNext { account, .. }
            | Op::CopySaved { account, .. }
            | Op::SetMetadata { account, .. }
            | Op::SetAcl { account, .. }
            | Op::SetSharer { account, .. }
            | Op::PurgeAccount { account } => vec![account.as_str()],
            Op::Append { copies, .. } => {
                let mut v: Vec<&str> = copies.iter().map(|c| c.account.as_str()).collect();
                v.sort_unstable();
                v.dedup();
                v
            }
            Op::AppendSaved { copies, .. } => {
                let mut v: Vec<&str> = copies.iter().map(|c| c.copy.account.as_str()).collect();
                v.sort_unstable();
                v.dedup();
                v
            }
            Op::Relocate { accounts, .. } => accounts.iter().map(String::as_str).collect(),
        }
    }

    /// Whether message bytes follow the op in its record (append and relocation).
    pub fn has_body(&self) -> bool {
        matches!(
            self,
            Op::Append { .. } | Op::AppendSaved { .. } | Op::Relocate { .. }
        )
    }

    /// Whether this op appends messages (it carries their bytes).
    pub fn is_append(&self) -> bool {
        matches!(self, Op::Append { .. } | Op::AppendSaved { .. })
    }
}

/// Encode `op` (and the message `body` of an append) as a record payload. Returns the payload
/// and the offset of the body inside it.
pub fn encode(op: &Op, body: &[u8]) -> Result<(Vec<u8>, usize)> {
    let archived =
        rkyv::to_bytes::<rancor::Error>(op).map_err(|e| StoreError::corrupt("op encoding", e))?;
    let op_len = u32::try_from(archived.len()).map_err(|_| StoreError::TooLarge(archived.len()))?;
    let mut out = Vec::with_capacity(4 + archived.len() + body.len());
    out.extend_from_slice(&op_len.to_le_bytes());
    out.extend_from_slice(&archived);
    let body_at = out.len();
    out.extend_from_slice(body);
    Ok((out, body_at))
}

/// Encode `op` alone: the front of a payload whose body follows it elsewhere (an append
/// received as a stream, [`super::stream`]). The body starts right after these bytes.
pub fn encode_front(op: &Op) -> Result<Vec<u8>> {
    encode(op, &[]).map(|(front, _)| front)
}

/// Decode a record payload: the op (validated: this is a trust boundary, the bytes come from
/// disk) and the offset of the body inside the payload.
pub fn decode(payload: &[u8]) -> Result<(Op, usize)> {
    let len_bytes: [u8; 4] = payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError::corrupt("log record", "payload shorter than its op length"))?;
    let op_len = u32::from_le_bytes(len_bytes) as usize;
    let op_bytes = payload
        .get(4..4 + op_len)
        .ok_or_else(|| StoreError::corrupt("log record", "op length beyond the payload"))?;
    // rkyv needs its input aligned; a record payload is only 8-aligned in the segment.
    let mut aligned = AlignedVec::<16>::with_capacity(op_bytes.len());
    aligned.extend_from_slice(op_bytes);
    let op = rkyv::from_bytes::<Op, rancor::Error>(&aligned)
        .map_err(|e| StoreError::corrupt("log record", e))?;
    Ok((op, 4 + op_len))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::mail::{Keyword, SystemFlags};

    #[test]
    fn ops_round_trip_with_their_body() {
        let op = Op::Append {
            internal_date: 1_700_000_000,
            summary: MimeSummary::parse(b"Subject: x\r\n\r\nbody"),
            copies: vec![AppendCopy {
                account: "a@x.y".into(),
                mailbox: MailboxId(1),
                uid: Uid(7),
                flags: Flags::new(SystemFlags::SEEN, Keyword::new("$Junk")),
            }],
        };
        let (payload, at) = encode(&op, b"the body").unwrap();
        let (back, at2) = decode(&payload).unwrap();
        assert_eq!(back, op);
        assert_eq!(at, at2);
        assert_eq!(&payload[at..], b"the body");
    }

    #[test]
    fn garbage_payload_is_rejected_not_trusted() {
        let (mut payload, _) = encode(
            &Op::Expunge {
                account: "a@x.y".into(),
                mailbox: MailboxId(1),
                uids: vec![Uid(1), Uid(2)],
            },
            b"",
        )
        .unwrap();
        // A length that points outside the archive.
        for b in &mut payload[4..] {
            *b = 0xff;
        }
        assert!(matches!(decode(&payload), Err(StoreError::Corrupt { .. })));
        assert!(matches!(decode(&[1, 0]), Err(StoreError::Corrupt { .. })));
    }

    /// Records in existing segment logs were written before `SetFlagsUnchangedSince`: they
    /// must decode exactly as before (the payloads were written by the previous version).
    #[test]
    fn records_written_before_the_conditional_store_op_still_decode() {
        assert_eq!(std::mem::size_of::<ArchivedOp>(), 128);
        let (op, _) = decode(include_bytes!("testdata/op-setflags-v1.bin")).unwrap();
        assert_eq!(
            op,
            Op::SetFlags {
                account: "a@x.y".into(),
                mailbox: MailboxId(1),
                uids: vec![Uid(1), Uid(3)],
                mode: FlagMode::Add,
                flags: Flags::system(SystemFlags::SEEN),
            }
        );
        let (op, _) = decode(include_bytes!("testdata/op-expunge-v1.bin")).unwrap();
        assert_eq!(
            op,
            Op::Expunge {
                account: "a@x.y".into(),
                mailbox: MailboxId(1),
                uids: vec![Uid(2)],
            }
        );
        let conditional = Op::SetFlagsUnchangedSince {
            account: "a@x.y".into(),
            mailbox: MailboxId(1),
            uids: vec![Uid(4)],
            mode: FlagMode::Replace,
            flags: Flags::default(),
            unchanged_since: ModSeq(9),
        };
        let (payload, _) = encode(&conditional, b"").unwrap();
        assert_eq!(decode(&payload).unwrap().0, conditional);
    }

    /// The ops added for SAVEDATE and METADATA round-trip, and leave the archived op its size
    /// (a bigger one would move the root of every older record).
    #[test]
    fn save_date_and_metadata_ops_round_trip() {
        assert_eq!(std::mem::size_of::<ArchivedOp>(), 128);
        let ops = [
            Op::AppendSaved {
                internal_date: 1_600_000_000,
                summary: MimeSummary::parse(b"Subject: x\r\n\r\nbody"),
                copies: vec![SavedCopy {
                    copy: AppendCopy {
                        account: "a@x.y".into(),
                        mailbox: MailboxId(1),
                        uid: Uid(7),
                        flags: Flags::default(),
                    },
                    saved: 1_700_000_000,
                }],
            },
            Op::CopySaved {
                account: "a@x.y".into(),
                from: MailboxId(1),
                to: MailboxId(2),
                uids: vec![(Uid(7), Uid(1))],
                expunge_source: true,
                saved: 1_700_000_100,
            },
            Op::SetMetadata {
                account: "a@x.y".into(),
                mailbox: None,
                entries: vec![
                    MetadataChange {
                        name: "/private/comment".into(),
                        value: Some(b"hi".to_vec()),
                    },
                    MetadataChange {
                        name: "/shared/comment".into(),
                        value: None,
                    },
                ],
            },
        ];
        for op in ops {
            let (payload, at) = encode(&op, b"x").unwrap();
            let (back, at2) = decode(&payload).unwrap();
            assert_eq!((back, at2), (op, at));
        }
    }
}
