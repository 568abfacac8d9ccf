//! STATUS (RFC 9051 §6.3.11) and its data items, also used by LIST-STATUS (RFC 5819).
//! Never does IO.

use super::cursor::Cursor;
use super::mailbox::{Mailbox, NameEncoding};
use super::Malformed;

/// A STATUS data item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusItem {
    Messages,
    UidNext,
    UidValidity,
    Unseen,
    /// RFC 9051 §6.3.11.
    Deleted,
    /// STATUS=SIZE (RFC 8438).
    Size,
    /// IMAP4rev1 only (RFC 3501 §6.3.10).
    Recent,
    /// CONDSTORE (RFC 7162 §3.1.9).
    HighestModSeq,
    /// APPENDLIMIT (RFC 7889 §3).
    AppendLimit,
    /// QUOTA=RES-STORAGE (RFC 9208 §4.2.3): the bytes an EXPUNGE would give back.
    DeletedStorage,
    /// OBJECTID (RFC 8474 §4.3).
    MailboxId,
}

/// The arguments of STATUS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub mailbox: Mailbox,
    pub items: Vec<StatusItem>,
}

impl Cursor<'_> {
    /// `status-att`.
    pub(super) fn status_item(&mut self) -> Result<StatusItem, Malformed> {
        let name = self.atom()?;
        let items = [
            ("MESSAGES", StatusItem::Messages),
            ("UIDNEXT", StatusItem::UidNext),
            ("UIDVALIDITY", StatusItem::UidValidity),
            ("UNSEEN", StatusItem::Unseen),
            ("DELETED", StatusItem::Deleted),
            ("SIZE", StatusItem::Size),
            ("RECENT", StatusItem::Recent),
            ("HIGHESTMODSEQ", StatusItem::HighestModSeq),
            ("APPENDLIMIT", StatusItem::AppendLimit),
            ("DELETED-STORAGE", StatusItem::DeletedStorage),
            ("MAILBOXID", StatusItem::MailboxId),
        ];
        if let Some(&(_, item)) = items
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        {
            return Ok(item);
        }
        Err(Malformed::InvalidStatusItem)
    }

    /// `"(" status-att *(SP status-att) ")"`.
    pub(super) fn status_items(&mut self) -> Result<Vec<StatusItem>, Malformed> {
        self.paren_list(false, Cursor::status_item)
    }

    /// `status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"`.
    pub(super) fn status(&mut self, names: NameEncoding) -> Result<Status, Malformed> {
        self.sp()?;
        let mailbox = self.mailbox(names)?;
        self.sp()?;
        let items = self.status_items()?;
        Ok(Status { mailbox, items })
    }
}
