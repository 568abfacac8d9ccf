//! The POP3 maildrop as fixed at login (RFC 1939 §4): message numbers 1..N in UID order with
//! the sizes the store listed, and the deletion marks that DELE sets and RSET clears
//! (RFC 1939 §5, §6). Knows nothing of the wire; never does IO.

use super::command::MessageNumber;
use super::service::MaildropEntry;
use crate::mail::Uid;

/// The messages of one POP3 session and their deletion marks.
#[derive(Debug)]
pub(super) struct Maildrop {
    uid_validity: u32,
    /// Sorted by UID, without duplicates: message number `n` is `messages[n - 1]`.
    messages: Vec<MaildropEntry>,
    deleted: Vec<bool>,
    /// Octets of every message, fixed at login.
    total_size: u64,
    deleted_count: usize,
    deleted_size: u64,
}

/// Why a message number names no message the client may use (RFC 1939 §5: a message marked
/// as deleted is not to be referred to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unavailable {
    NoSuchMessage,
    Deleted,
}

impl Maildrop {
    /// The maildrop the driver listed; it is sorted here too, so message numbers follow UIDs
    /// whatever order the store answered in.
    pub(super) fn new(uid_validity: u32, mut messages: Vec<MaildropEntry>) -> Maildrop {
        messages.sort_unstable_by_key(|m| m.uid);
        messages.dedup_by_key(|m| m.uid);
        Maildrop {
            uid_validity,
            deleted: vec![false; messages.len()],
            total_size: messages.iter().map(|m| m.size).sum(),
            messages,
            deleted_count: 0,
            deleted_size: 0,
        }
    }

    pub(super) fn uid_validity(&self) -> u32 {
        self.uid_validity
    }

    /// RFC 1939 §5 STAT: the number of messages not marked deleted and their total size.
    pub(super) fn stat(&self) -> (usize, u64) {
        (
            self.messages.len() - self.deleted_count,
            self.total_size - self.deleted_size,
        )
    }

    /// The message numbered `number`, unless there is none or it is marked deleted.
    pub(super) fn message(&self, number: MessageNumber) -> Result<MaildropEntry, Unavailable> {
        let index = Self::index(number);
        match (self.messages.get(index), self.deleted.get(index)) {
            (Some(_), Some(true)) => Err(Unavailable::Deleted),
            (Some(entry), _) => Ok(*entry),
            (None, _) => Err(Unavailable::NoSuchMessage),
        }
    }

    /// Every message not marked deleted, with its message number, in order.
    pub(super) fn live(&self) -> impl Iterator<Item = (usize, MaildropEntry)> + '_ {
        self.messages
            .iter()
            .zip(&self.deleted)
            .enumerate()
            .filter(|(_, (_, deleted))| !**deleted)
            .map(|(i, (entry, _))| (i + 1, *entry))
    }

    /// RFC 1939 §5 DELE: mark a message; it stays until QUIT.
    pub(super) fn delete(&mut self, number: MessageNumber) -> Result<(), Unavailable> {
        let entry = self.message(number)?;
        self.deleted[Self::index(number)] = true;
        self.deleted_count += 1;
        self.deleted_size += entry.size;
        Ok(())
    }

    /// RFC 1939 §5 RSET: unmark every message.
    pub(super) fn reset(&mut self) {
        self.deleted.fill(false);
        self.deleted_count = 0;
        self.deleted_size = 0;
    }

    /// The UIDs the UPDATE state must expunge (RFC 1939 §6), in order.
    pub(super) fn deleted_uids(&self) -> Vec<Uid> {
        self.messages
            .iter()
            .zip(&self.deleted)
            .filter(|(_, deleted)| **deleted)
            .map(|(entry, _)| entry.uid)
            .collect()
    }

    fn index(number: MessageNumber) -> usize {
        // A u32 always fits a usize on the 64-bit targets ringpost runs on.
        number.get() as usize - 1
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn number(n: u32) -> MessageNumber {
        MessageNumber::new(n).unwrap()
    }

    fn entry(uid: u32, size: u64) -> MaildropEntry {
        MaildropEntry {
            uid: Uid(uid),
            size,
        }
    }

    #[test]
    fn numbers_follow_uid_order_and_marks_come_and_go() {
        let mut drop = Maildrop::new(7, vec![entry(9, 30), entry(3, 10), entry(5, 20)]);
        assert_eq!(drop.stat(), (3, 60));
        assert_eq!(drop.message(number(1)), Ok(entry(3, 10)));
        assert_eq!(drop.message(number(3)), Ok(entry(9, 30)));
        assert_eq!(drop.message(number(4)), Err(Unavailable::NoSuchMessage));
        assert_eq!(drop.delete(number(2)), Ok(()));
        assert_eq!(drop.delete(number(2)), Err(Unavailable::Deleted));
        assert_eq!(drop.delete(number(4)), Err(Unavailable::NoSuchMessage));
        assert_eq!(drop.message(number(2)), Err(Unavailable::Deleted));
        assert_eq!(drop.stat(), (2, 40));
        assert_eq!(
            drop.live().collect::<Vec<_>>(),
            [(1, entry(3, 10)), (3, entry(9, 30))]
        );
        drop.delete(number(3)).unwrap();
        assert_eq!(drop.deleted_uids(), [Uid(5), Uid(9)]);
        drop.reset();
        assert_eq!(drop.stat(), (3, 60));
        assert_eq!(drop.deleted_uids(), Vec::<Uid>::new());
    }
}
