//! The per-account index: mailboxes, and per message its UID, flags, modseq, dates, size,
//! where its bytes are, and its MIME summary. Applying a log [`Op`] to it is the only way it
//! changes, at run time and in recovery alike. It is written to disk with rkyv and validated
//! with bytecheck when read back (the trust boundary: [`IndexFile::open`]). Never does IO
//! itself beyond the byte encodings; the partition decides when files are written.

use std::collections::HashMap;

use rkyv::rancor;
use rkyv::util::AlignedVec;

use super::expunged::ExpungeLog;
use super::op::{AppendCopy, MetadataChange, Moved, NewMailbox, Op};
use super::types::{Result, StoreError};
use crate::mail::acl::AclEntry;
use crate::mail::{
    Change, FlagMode, Flags, MailboxId, MimeSummary, ModSeq, SpecialUse, SystemFlags, Uid,
    UidRange, UidValidity, Vanished,
};

mod legacy;

/// Where a message's bytes are: segment number, byte offset in it, length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug))]
pub struct BodyRef {
    pub segment: u32,
    pub offset: u64,
    pub len: u32,
}

/// One message in a mailbox.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct MessageEntry {
    pub uid: Uid,
    pub flags: Flags,
    /// Seconds since the Unix epoch (RFC 9051 §2.3.3).
    pub internal_date: i64,
    pub size: u32,
    pub modseq: ModSeq,
    pub body: BodyRef,
    pub summary: MimeSummary,
    /// When the message was saved to this mailbox (RFC 8514), seconds since the Unix epoch;
    /// 0 when unknown (stored before save dates were kept).
    pub saved: i64,
    /// The message's EMAILID (RFC 8474 §5.1): fixed when its bytes are first stored, kept
    /// by COPY and MOVE. See [`email_id_of`].
    pub email_id: u64,
}

impl MessageEntry {
    /// What sessions are told of the message from the index.
    pub fn meta(&self) -> crate::mail::MessageMeta {
        crate::mail::MessageMeta {
            uid: self.uid,
            flags: self.flags.clone(),
            modseq: self.modseq,
            internal_date: self.internal_date,
            size: self.size,
            saved: (self.saved != 0).then_some(self.saved),
            email_id: self.email_id,
        }
    }

    /// The length of its header block (through the blank line), or its size without a
    /// MIME summary.
    pub fn header_len(&self) -> u64 {
        self.summary
            .parts
            .first()
            .map_or(u64::from(self.size), |p| u64::from(p.body_offset))
    }
}

/// The EMAILID number of a message whose bytes were appended at `body`: the place of its
/// bytes in the log when first written, unique in the partition for good (segment numbers
/// are never reused, and two bodies never share bytes). Compaction moves the bytes later,
/// but the number stays with the message.
pub fn email_id_of(body: BodyRef) -> u64 {
    (u64::from(body.segment) << 40) | (body.offset & ((1 << 40) - 1))
}

/// One annotation (RFC 5464) of a mailbox or of the server: its entry name (`/private/...`
/// or `/shared/...`, lower case) and value.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Annotation {
    pub name: String,
    pub value: Vec<u8>,
}

/// Apply annotation changes to `list` (kept sorted by name).
fn set_annotations(list: &mut Vec<Annotation>, changes: &[MetadataChange]) {
    for c in changes {
        let at = list.binary_search_by(|a| a.name.as_str().cmp(&c.name));
        match (at, &c.value) {
            (Ok(i), Some(v)) => list[i].value = v.clone(),
            (Err(i), Some(v)) => list.insert(
                i,
                Annotation {
                    name: c.name.clone(),
                    value: v.clone(),
                },
            ),
            (Ok(i), None) => {
                list.remove(i);
            }
            (Err(_), None) => {}
        }
    }
}

/// One mailbox and its messages, sorted by UID.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Mailbox {
    pub id: MailboxId,
    pub name: String,
    pub special: Option<SpecialUse>,
    pub uid_validity: UidValidity,
    pub uid_next: Uid,
    pub highest_modseq: ModSeq,
    pub messages: Vec<MessageEntry>,
    /// The UIDs expunged from it, with the modseq of each expunge (QRESYNC).
    pub expunged: ExpungeLog,
    /// Its annotations (RFC 5464), sorted by entry name: they go with it on RENAME and
    /// are gone with it on DELETE.
    pub metadata: Vec<Annotation>,
    /// Its access control list (RFC 4314), sorted by identifier; never names the owner, who
    /// has every right. Kept by RENAME, gone with DELETE.
    pub acl: Vec<AclEntry>,
}

impl Mailbox {
    fn new(m: &NewMailbox) -> Mailbox {
        Mailbox {
            id: m.id,
            name: m.name.clone(),
            special: m.special,
            uid_validity: m.uid_validity,
            uid_next: Uid(1),
            highest_modseq: ModSeq(1),
            messages: Vec::new(),
            expunged: ExpungeLog::default(),
            metadata: Vec::new(),
            acl: Vec::new(),
        }
    }

    /// The UIDs of `within` (normalized) expunged after `since`, from the expunge log when
    /// it reaches back that far, else every UID of `within` below UIDNEXT that is not here
    /// (RFC 7162 §3.2.5.2: a server without the history reports those).
    pub fn vanished(&self, since: ModSeq, within: &[UidRange]) -> Vanished {
        if self.expunged.covers(since) {
            return Vanished::Since(self.expunged.since(since, within));
        }
        let mut out = Vec::new();
        let Some(below_next) = self.uid_next.0.checked_sub(1).filter(|&u| u > 0) else {
            return Vanished::Absent(out);
        };
        for range in within {
            if range.first.0 > below_next {
                break;
            }
            let last = range.last.min(Uid(below_next));
            let mut next = range.first;
            let start = self.find(range.first).unwrap_or_else(|i| i);
            for e in self.messages[start..].iter().take_while(|e| e.uid <= last) {
                if e.uid > next {
                    out.push(UidRange::new(next, Uid(e.uid.0 - 1)));
                }
                next = Uid(e.uid.0.saturating_add(1));
            }
            if next <= last {
                out.push(UidRange::new(next, last));
            }
        }
        Vanished::Absent(out)
    }

    /// The messages changed after `since` (RFC 7162 §3.1.4.1), with flags and modseq.
    pub fn changed_since(&self, since: ModSeq) -> Vec<(Uid, Flags, ModSeq)> {
        self.messages
            .iter()
            .filter(|e| e.modseq > since)
            .map(|e| (e.uid, e.flags.clone(), e.modseq))
            .collect()
    }

    /// The position of `uid`, or where it would go.
    pub fn find(&self, uid: Uid) -> std::result::Result<usize, usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid)
    }

    pub fn get(&self, uid: Uid) -> Option<&MessageEntry> {
        self.find(uid).ok().map(|i| &self.messages[i])
    }

    fn bump(&mut self) -> ModSeq {
        self.highest_modseq = ModSeq(self.highest_modseq.0 + 1);
        self.highest_modseq
    }
}

/// An account's whole index.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct AccountIndex {
    pub account: String,
    /// The sequence number of the last log record applied: replay skips records up to it.
    pub applied_seq: u64,
    /// True once the account's `CreateAccount` record has been applied.
    pub created: bool,
    pub next_mailbox_id: u32,
    pub last_uid_validity: u32,
    pub mailboxes: Vec<Mailbox>,
    pub subscriptions: Vec<String>,
    /// The account's server annotations (RFC 5464 §3.2: entries of mailbox ""), sorted.
    pub metadata: Vec<Annotation>,
    /// The accounts (addresses, sorted) that gave this one rights on a mailbox of theirs
    /// (RFC 4314): where LIST looks for shared mailboxes. A hint: the owner's ACL decides.
    pub sharers: Vec<String>,
}

/// The result of applying one op to one account, handed back to the op's caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done,
    /// The op was valid when queued but lost a race with an earlier op in the log (for
    /// example its mailbox was deleted first); nothing changed.
    MailboxGone,
    MailboxExists,
    /// The messages whose flags changed, and (for a conditional STORE, RFC 7162 §3.1.3)
    /// those left alone because they changed after the caller's modseq.
    Flags {
        changed: Vec<(Uid, Flags, ModSeq)>,
        modified: Vec<Uid>,
    },
    Copied(Vec<(Uid, Uid)>),
    Expunged(Vec<Uid>),
}

/// Canonical mailbox name: `INBOX` in any case is `INBOX` (RFC 9051 §5.1).
pub fn canonical_mailbox(name: &str) -> Result<String> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.starts_with('/')
        || name.ends_with('/')
        || name.contains("//")
        || name.chars().any(|c| c.is_control() || c == '*' || c == '%');
    if bad {
        return Err(StoreError::InvalidMailboxName);
    }
    if name.eq_ignore_ascii_case("INBOX") {
        return Ok("INBOX".to_string());
    }
    if let Some(rest) = name.get(..6).filter(|p| p.eq_ignore_ascii_case("INBOX/")) {
        let _ = rest;
        return Ok(format!("INBOX/{}", &name[6..]));
    }
    Ok(name.to_string())
}

impl AccountIndex {
    /// An account that does not exist yet (no `CreateAccount` applied).
    pub fn empty(account: &str) -> AccountIndex {
        AccountIndex {
            account: account.to_string(),
            applied_seq: 0,
            created: false,
            next_mailbox_id: 1,
            last_uid_validity: 0,
            mailboxes: Vec::new(),
            subscriptions: Vec::new(),
            metadata: Vec::new(),
            sharers: Vec::new(),
        }
    }

    pub fn mailbox(&self, name: &str) -> Option<&Mailbox> {
        self.mailboxes.iter().find(|m| m.name == name)
    }

    pub fn mailbox_by_id(&self, id: MailboxId) -> Option<&Mailbox> {
        self.mailboxes.iter().find(|m| m.id == id)
    }

    fn mailbox_mut(&mut self, id: MailboxId) -> Option<&mut Mailbox> {
        self.mailboxes.iter_mut().find(|m| m.id == id)
    }

    /// Bytes of all messages in all mailboxes.
    pub fn size(&self) -> u64 {
        self.mailboxes
            .iter()
            .flat_map(|m| &m.messages)
            .map(|e| u64::from(e.size))
            .sum()
    }

    fn add_mailbox(&mut self, m: &NewMailbox) -> Outcome {
        if self.mailbox(&m.name).is_some() || self.mailbox_by_id(m.id).is_some() {
            return Outcome::MailboxExists;
        }
        self.next_mailbox_id = self.next_mailbox_id.max(m.id.0 + 1);
        self.last_uid_validity = self.last_uid_validity.max(m.uid_validity.0);
        self.mailboxes.push(Mailbox::new(m));
        Outcome::Done
    }

    /// Apply one log record's op. `body` is where an append's bytes are; `events` collects
    /// what watchers of each mailbox are told. The caller skips records with
    /// `seq <= applied_seq` (already in this index) and only calls this for accounts the op
    /// names.
    pub fn apply(
        &mut self,
        seq: u64,
        op: &Op,
        body: Option<BodyRef>,
        events: &mut Vec<(MailboxId, Change)>,
    ) -> Outcome {
        self.apply_tracked(seq, op, body, events, &mut Vec::new())
    }

    /// [`AccountIndex::apply`], also collecting in `released` the bodies of the messages the
    /// op removed (what compaction's dead-byte estimate counts; a body shared by several
    /// messages is listed once per message).
    pub fn apply_tracked(
        &mut self,
        seq: u64,
        op: &Op,
        body: Option<BodyRef>,
        events: &mut Vec<(MailboxId, Change)>,
        released: &mut Vec<BodyRef>,
    ) -> Outcome {
        self.applied_seq = self.applied_seq.max(seq);
        match op {
            Op::CreateAccount { mailboxes, .. } => self.create_account(mailboxes),
            Op::CreateMailbox { mailbox, .. } => self.add_mailbox(mailbox),
            Op::RenameMailbox { id, name, .. } => self.rename_mailbox(*id, name, events),
            Op::DeleteMailbox { id, .. } => {
                let Some(i) = self.mailboxes.iter().position(|m| m.id == *id) else {
                    return Outcome::MailboxGone;
                };
                let gone = self.mailboxes.remove(i);
                released.extend(gone.messages.iter().map(|e| e.body));
                events.push((*id, Change::Deleted));
                Outcome::Done
            }
            Op::Subscribe {
                name, subscribed, ..
            } => {
                let pos = self.subscriptions.binary_search(name);
                match (pos, subscribed) {
                    (Err(i), true) => self.subscriptions.insert(i, name.clone()),
                    (Ok(i), false) => {
                        self.subscriptions.remove(i);
                    }
                    _ => {}
                }
                Outcome::Done
            }
            Op::Append {
                internal_date,
                summary,
                copies,
            } => {
                let copies = copies.iter().map(|c| (c, 0));
                self.append(*internal_date, summary, copies, body, events)
            }
            Op::AppendSaved {
                internal_date,
                summary,
                copies,
            } => {
                let copies = copies.iter().map(|c| (&c.copy, c.saved));
                self.append(*internal_date, summary, copies, body, events)
            }
            Op::Copy {
                from,
                to,
                uids,
                expunge_source,
                ..
            } => self.copy(*from, *to, uids, *expunge_source, None, events),
            Op::CopySaved {
                from,
                to,
                uids,
                expunge_source,
                saved,
                ..
            } => self.copy(*from, *to, uids, *expunge_source, Some(*saved), events),
            Op::SetMetadata {
                mailbox, entries, ..
            } => {
                let list = match mailbox {
                    None => &mut self.metadata,
                    Some(id) => match self.mailbox_mut(*id) {
                        Some(mb) => &mut mb.metadata,
                        None => return Outcome::MailboxGone,
                    },
                };
                set_annotations(list, entries);
                Outcome::Done
            }
            Op::SetAcl {
                mailbox,
                identifier,
                rights,
                ..
            } => {
                let Some(mb) = self.mailbox_mut(*mailbox) else {
                    return Outcome::MailboxGone;
                };
                let at = mb
                    .acl
                    .binary_search_by(|e| e.identifier.as_str().cmp(identifier));
                match (at, rights) {
                    (Ok(i), Some(r)) => mb.acl[i].rights = *r,
                    (Err(i), Some(r)) => mb.acl.insert(
                        i,
                        AclEntry {
                            identifier: identifier.clone(),
                            rights: *r,
                        },
                    ),
                    (Ok(i), None) => {
                        mb.acl.remove(i);
                    }
                    (Err(_), None) => {}
                }
                Outcome::Done
            }
            Op::SetSharer { owner, shared, .. } => {
                match (self.sharers.binary_search(owner), shared) {
                    (Err(i), true) => self.sharers.insert(i, owner.clone()),
                    (Ok(i), false) => {
                        self.sharers.remove(i);
                    }
                    _ => {}
                }
                Outcome::Done
            }
            Op::SetFlags {
                mailbox,
                uids,
                mode,
                flags,
                ..
            } => self.set_flags(*mailbox, uids, *mode, flags, None, events),
            Op::SetFlagsUnchangedSince {
                mailbox,
                uids,
                mode,
                flags,
                unchanged_since,
                ..
            } => self.set_flags(*mailbox, uids, *mode, flags, Some(*unchanged_since), events),
            Op::Expunge { mailbox, uids, .. } => {
                if self.mailbox_by_id(*mailbox).is_none() {
                    return Outcome::MailboxGone;
                }
                Outcome::Expunged(self.remove(*mailbox, uids, events, released))
            }
            Op::Relocate { moves, .. } => self.relocate(moves, body),
            Op::RaiseUidNext {
                mailbox, uid_next, ..
            } => {
                let Some(mb) = self.mailbox_mut(*mailbox) else {
                    return Outcome::MailboxGone;
                };
                mb.uid_next = mb.uid_next.max(*uid_next);
                Outcome::Done
            }
            Op::PurgeAccount { .. } => {
                for m in self.mailboxes.drain(..) {
                    released.extend(m.messages.iter().map(|e| e.body));
                    events.push((m.id, Change::Deleted));
                }
                self.subscriptions.clear();
                self.metadata.clear();
                self.sharers.clear();
                // Mailbox ids and UIDVALIDITY values stay reserved: were the key ever used
                // again, no client could mistake a new mailbox for a purged one.
                self.created = false;
                Outcome::Done
            }
        }
    }

    /// A delivery or APPEND: this account's copies of one message body.
    /// `copies` with their save dates (0: unknown).
    fn append<'c>(
        &mut self,
        internal_date: i64,
        summary: &MimeSummary,
        copies: impl Iterator<Item = (&'c AppendCopy, i64)>,
        body: Option<BodyRef>,
        events: &mut Vec<(MailboxId, Change)>,
    ) -> Outcome {
        let Some(body) = body else {
            return Outcome::MailboxGone;
        };
        let mut outcome = Outcome::MailboxGone;
        let me = self.account.clone();
        for (c, saved) in copies.filter(|(c, _)| c.account == me) {
            let Some(mb) = self.mailbox_mut(c.mailbox) else {
                continue;
            };
            if c.uid < mb.uid_next {
                // Two appends raced for the same UID: cannot happen with reservations;
                // kept as a guard so the index can never hold a UID twice.
                continue;
            }
            mb.uid_next = Uid(c.uid.0 + 1);
            let modseq = mb.bump();
            mb.messages.push(MessageEntry {
                uid: c.uid,
                flags: c.flags.clone(),
                internal_date,
                size: body.len,
                modseq,
                body,
                summary: summary.clone(),
                saved,
                email_id: email_id_of(body),
            });
            events.push((mb.id, Change::Exists { uid: c.uid }));
            outcome = Outcome::Done;
        }
        outcome
    }

    /// COPY, or MOVE when `expunge_source` (RFC 6851): the same bodies under new UIDs.
    fn copy(
        &mut self,
        from: MailboxId,
        to: MailboxId,
        uids: &[(Uid, Uid)],
        expunge_source: bool,
        saved: Option<i64>,
        events: &mut Vec<(MailboxId, Change)>,
    ) -> Outcome {
        let Some(src) = self.mailbox_by_id(from) else {
            return Outcome::MailboxGone;
        };
        let copied: Vec<(Uid, MessageEntry)> = uids
            .iter()
            .filter_map(|(s, d)| src.get(*s).map(|e| (*d, e.clone())))
            .collect();
        let Some(dst) = self.mailbox_mut(to) else {
            return Outcome::MailboxGone;
        };
        let mut pairs = Vec::new();
        for (new_uid, mut entry) in copied {
            if new_uid < dst.uid_next {
                continue;
            }
            let old_uid = entry.uid;
            dst.uid_next = Uid(new_uid.0 + 1);
            entry.uid = new_uid;
            entry.modseq = dst.bump();
            // A copy is saved to its mailbox now; a record from before save dates were
            // kept leaves the date unknown rather than wrong.
            entry.saved = saved.unwrap_or(0);
            dst.messages.push(entry);
            events.push((to, Change::Exists { uid: new_uid }));
            pairs.push((old_uid, new_uid));
        }
        if expunge_source {
            let gone: Vec<Uid> = pairs.iter().map(|p| p.0).collect();
            // The bytes stay referenced by the copies: nothing is released.
            self.remove(from, &gone, events, &mut Vec::new());
        }
        Outcome::Copied(pairs)
    }

    /// Compaction moved these bodies: point their entries at the new place.
    fn relocate(&mut self, moves: &[Moved], body: Option<BodyRef>) -> Outcome {
        let Some(area) = body else {
            return Outcome::MailboxGone;
        };
        let to: HashMap<(u32, u64), BodyRef> = moves
            .iter()
            .map(|m| {
                let new = BodyRef {
                    segment: area.segment,
                    offset: area.offset + u64::from(m.at),
                    len: m.from.len,
                };
                ((m.from.segment, m.from.offset), new)
            })
            .collect();
        for e in self
            .mailboxes
            .iter_mut()
            .flat_map(|m| m.messages.iter_mut())
        {
            if let Some(new) = to.get(&(e.body.segment, e.body.offset)) {
                if new.len == e.body.len {
                    e.body = *new;
                }
            }
        }
        // Same bytes, same UIDs and modseqs: nothing for watchers to see.
        Outcome::Done
    }

    /// The account's first op: its default mailboxes, subscribed (replayed ops find it created).
    fn create_account(&mut self, mailboxes: &[NewMailbox]) -> Outcome {
        if !self.created {
            self.created = true;
            for m in mailboxes {
                self.add_mailbox(m);
                // Default mailboxes start subscribed, as Dovecot's `auto = subscribe`:
                // clients that list only subscribed folders (Thunderbird's default)
                // show Sent, Drafts, Trash… from the start.
                if let Err(i) = self.subscriptions.binary_search(&m.name) {
                    self.subscriptions.insert(i, m.name.clone());
                }
            }
        }
        Outcome::Done
    }

    /// RENAME, with the inferior names (RFC 9051 §6.3.6).
    fn rename_mailbox(
        &mut self,
        id: MailboxId,
        name: &str,
        events: &mut Vec<(MailboxId, Change)>,
    ) -> Outcome {
        if self.mailbox(name).is_some() {
            return Outcome::MailboxExists;
        }
        let Some(old) = self.mailbox_by_id(id).map(|m| m.name.clone()) else {
            return Outcome::MailboxGone;
        };
        // Inferior names move with their parent (RFC 9051 §6.3.6).
        let prefix = format!("{old}/");
        for m in &mut self.mailboxes {
            if m.id == id {
                m.name = name.to_string();
                events.push((
                    m.id,
                    Change::Renamed {
                        name: name.to_string(),
                    },
                ));
            } else if let Some(rest) = m.name.strip_prefix(&prefix) {
                m.name = format!("{name}/{rest}");
                events.push((
                    m.id,
                    Change::Renamed {
                        name: m.name.clone(),
                    },
                ));
            }
        }
        Outcome::Done
    }

    /// STORE, conditional on `unchanged_since` when given: decided here, in log order, so a
    /// change that lands between a client's check and its STORE is seen (RFC 7162 §3.1.3).
    fn set_flags(
        &mut self,
        mailbox: MailboxId,
        uids: &[Uid],
        mode: FlagMode,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
        events: &mut Vec<(MailboxId, Change)>,
    ) -> Outcome {
        let Some(mb) = self.mailbox_mut(mailbox) else {
            return Outcome::MailboxGone;
        };
        let mut changed = Vec::new();
        let mut modified = Vec::new();
        let mut next = None;
        for uid in uids {
            let Ok(i) = mb.find(*uid) else { continue };
            if unchanged_since.is_some_and(|limit| mb.messages[i].modseq > limit) {
                modified.push(*uid);
                continue;
            }
            let new = mb.messages[i].flags.apply(mode, flags);
            if new == mb.messages[i].flags {
                continue;
            }
            // One modseq for the whole operation (RFC 7162 §3.1.3 allows it).
            let modseq = *next.get_or_insert_with(|| mb.bump());
            let e = &mut mb.messages[i];
            e.flags = new.clone();
            e.modseq = modseq;
            events.push((
                mailbox,
                Change::Flags {
                    uid: *uid,
                    flags: new.clone(),
                    modseq,
                },
            ));
            changed.push((*uid, new, modseq));
        }
        Outcome::Flags { changed, modified }
    }

    /// Offsets and lengths of the bodies in `segment` that this account's messages use.
    pub fn bodies_in(&self, segment: u32) -> impl Iterator<Item = BodyRef> + '_ {
        self.mailboxes
            .iter()
            .flat_map(|m| &m.messages)
            .map(|e| e.body)
            .filter(move |b| b.segment == segment)
    }

    fn remove(
        &mut self,
        mailbox: MailboxId,
        uids: &[Uid],
        events: &mut Vec<(MailboxId, Change)>,
        released: &mut Vec<BodyRef>,
    ) -> Vec<Uid> {
        let Some(mb) = self.mailbox_mut(mailbox) else {
            return Vec::new();
        };
        let mut gone = Vec::new();
        if uids.len().saturating_mul(16) < mb.messages.len() {
            // A few out of many (the outbound queue removes one at a time from thousands):
            // find each and close the gap, one move of the tail each, instead of a pass
            // over every message. From the highest UID down, so the moves stay short.
            let mut bodies = Vec::new();
            for uid in uids.iter().rev() {
                if let Ok(at) = mb.messages.binary_search_by_key(uid, |m| m.uid) {
                    let e = mb.messages.remove(at);
                    gone.push(e.uid);
                    bodies.push(e.body);
                }
            }
            gone.reverse();
            released.extend(bodies.into_iter().rev());
        } else {
            mb.messages.retain(|e| {
                // Ops carry their UIDs sorted and unique (see `sorted_uids`).
                let hit = uids.binary_search(&e.uid).is_ok();
                if hit {
                    gone.push(e.uid);
                    released.push(e.body);
                }
                !hit
            });
        }
        if !gone.is_empty() {
            // RFC 7162 §3.2: an expunge gets a modseq, and the UIDs keep it for QRESYNC.
            let modseq = mb.bump();
            mb.expunged.record(&gone, modseq);
        }
        for uid in &gone {
            events.push((mailbox, Change::Expunged { uid: *uid }));
        }
        gone
    }

    /// UIDs of messages flagged `\Deleted` (what a plain EXPUNGE removes).
    pub fn deleted_uids(&self, mailbox: MailboxId) -> Vec<Uid> {
        self.mailbox_by_id(mailbox)
            .map(|mb| {
                mb.messages
                    .iter()
                    .filter(|e| e.flags.system.contains(SystemFlags::DELETED))
                    .map(|e| e.uid)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The index file's bytes: `RPIDX004`, CRC-32C of the archive, its length, the archive.
    pub fn to_file_bytes(&self) -> Result<Vec<u8>> {
        let archived = rkyv::to_bytes::<rancor::Error>(self)
            .map_err(|e| StoreError::corrupt("index encoding", e))?;
        let len =
            u32::try_from(archived.len()).map_err(|_| StoreError::TooLarge(archived.len()))?;
        let mut out = Vec::with_capacity(INDEX_HEADER + archived.len());
        out.extend_from_slice(INDEX_MAGIC);
        out.extend_from_slice(&crc32c::crc32c(&archived).to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&archived);
        Ok(out)
    }

    /// Read an index file's bytes back into an owned index, validating them first. A file
    /// of an older format (`RPIDX001`, `RPIDX002`, `RPIDX003`) is read too.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<AccountIndex> {
        if bytes.starts_with(legacy::INDEX_MAGIC_V3) {
            return legacy::from_file_bytes_v3(framed(bytes, legacy::INDEX_MAGIC_V3)?);
        }
        if bytes.starts_with(legacy::INDEX_MAGIC_V2) {
            return legacy::from_file_bytes_v2(framed(bytes, legacy::INDEX_MAGIC_V2)?);
        }
        if bytes.starts_with(legacy::INDEX_MAGIC_V1) {
            return legacy::from_file_bytes(framed(bytes, legacy::INDEX_MAGIC_V1)?);
        }
        let file = IndexFile::open(bytes)?;
        rkyv::deserialize::<AccountIndex, rancor::Error>(file.archived())
            .map_err(|e| StoreError::corrupt("index file", e))
    }
}

/// `RPIDX004`: mailboxes carry their ACL (RFC 4314), the account who shares mailboxes with
/// it. (`RPIDX003` added save dates, EMAILIDs and annotations; `RPIDX002` the expunge log
/// and the fuller MIME summaries.)
pub(crate) const INDEX_MAGIC: &[u8; 8] = b"RPIDX004";
const INDEX_HEADER: usize = 16;

/// The archive of an index file with this magic, its length and CRC checked, aligned for
/// rkyv.
fn framed(raw: &[u8], magic: &[u8; 8]) -> Result<AlignedVec<16>> {
    if raw.len() < INDEX_HEADER || &raw[..8] != magic {
        return Err(StoreError::corrupt("index file", "bad magic"));
    }
    let word = |at: usize| u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
    let (crc, len) = (word(8), word(12) as usize);
    let body = raw
        .get(INDEX_HEADER..INDEX_HEADER + len)
        .ok_or_else(|| StoreError::corrupt("index file", "truncated"))?;
    if crc32c::crc32c(body) != crc {
        return Err(StoreError::corrupt("index file", "checksum mismatch"));
    }
    let mut bytes = AlignedVec::<16>::with_capacity(len);
    bytes.extend_from_slice(body);
    Ok(bytes)
}

/// A validated, archived index read in place (no deserialization): lookups go straight to
/// the bytes. Construction is the trust boundary: framing, CRC and bytecheck are all checked.
pub struct IndexFile {
    bytes: AlignedVec<16>,
}

impl IndexFile {
    pub fn open(raw: &[u8]) -> Result<IndexFile> {
        let bytes = framed(raw, INDEX_MAGIC)?;
        rkyv::access::<ArchivedAccountIndex, rancor::Error>(&bytes)
            .map_err(|e| StoreError::corrupt("index file", e))?;
        Ok(IndexFile { bytes })
    }

    #[allow(unsafe_code)]
    pub fn archived(&self) -> &ArchivedAccountIndex {
        // SAFETY: `open` validated exactly these bytes with `rkyv::access` (bytecheck), and
        // `bytes` is private and never mutated afterwards.
        unsafe { rkyv::access_unchecked::<ArchivedAccountIndex>(&self.bytes) }
    }

    /// Look a message up in place by mailbox name and UID.
    pub fn lookup(&self, mailbox: &str, uid: Uid) -> Option<&ArchivedMessageEntry> {
        let mb = self
            .archived()
            .mailboxes
            .iter()
            .find(|m| m.name.as_str() == mailbox)?;
        let i = mb
            .messages
            .binary_search_by_key(&uid.0, |e| e.uid.0.to_native())
            .ok()?;
        mb.messages.get(i)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::op::AppendCopy;

    fn account_with(n: u32) -> AccountIndex {
        let mut a = AccountIndex::empty("a@x.y");
        let mut ev = Vec::new();
        let op = Op::CreateAccount {
            account: "a@x.y".into(),
            mailboxes: vec![NewMailbox {
                id: MailboxId(1),
                name: "INBOX".into(),
                uid_validity: UidValidity(77),
                special: None,
            }],
        };
        a.apply(1, &op, None, &mut ev);
        for i in 0..n {
            let op = Op::Append {
                internal_date: 1000 + i64::from(i),
                summary: MimeSummary::parse(format!("Subject: {i}\r\n\r\nx").as_bytes()),
                copies: vec![AppendCopy {
                    account: "a@x.y".into(),
                    mailbox: MailboxId(1),
                    uid: Uid(i + 1),
                    flags: Flags::default(),
                }],
            };
            let body = BodyRef {
                segment: 1,
                offset: u64::from(i) * 100,
                len: 50 + i,
            };
            a.apply(2 + u64::from(i), &op, Some(body), &mut ev);
        }
        a
    }

    #[test]
    fn index_file_round_trips_and_reads_in_place() {
        let a = account_with(10);
        let bytes = a.to_file_bytes().unwrap();
        assert_eq!(AccountIndex::from_file_bytes(&bytes).unwrap(), a);
        let f = IndexFile::open(&bytes).unwrap();
        let e = f.lookup("INBOX", Uid(4)).unwrap();
        assert_eq!(e.size.to_native(), 53);
        assert_eq!(e.body.offset.to_native(), 300);
        assert!(f.lookup("INBOX", Uid(11)).is_none());
        assert!(f.lookup("Sent", Uid(1)).is_none());
    }

    #[test]
    fn every_corrupted_byte_of_an_index_file_is_detected() {
        let bytes = account_with(3).to_file_bytes().unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(
                matches!(IndexFile::open(&bad), Err(StoreError::Corrupt { .. })),
                "byte {i}"
            );
        }
        assert!(IndexFile::open(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn flags_bump_modseq_once_per_op_and_only_on_change() {
        let mut a = account_with(3);
        let mut ev = Vec::new();
        let hms = a.mailboxes[0].highest_modseq;
        let op = Op::SetFlags {
            account: "a@x.y".into(),
            mailbox: MailboxId(1),
            uids: vec![Uid(1), Uid(3), Uid(9)],
            mode: FlagMode::Add,
            flags: Flags::system(SystemFlags::SEEN),
        };
        let out = a.apply(100, &op, None, &mut ev);
        let m = ModSeq(hms.0 + 1);
        assert_eq!(
            out,
            Outcome::Flags {
                changed: vec![
                    (Uid(1), Flags::system(SystemFlags::SEEN), m),
                    (Uid(3), Flags::system(SystemFlags::SEEN), m)
                ],
                modified: vec![]
            }
        );
        assert_eq!(
            a.apply(101, &op, None, &mut ev),
            Outcome::Flags {
                changed: vec![],
                modified: vec![]
            }
        );
        assert_eq!(a.mailboxes[0].highest_modseq, m);
    }

    fn expunge(a: &mut AccountIndex, seq: u64, uids: &[u32]) -> Outcome {
        let op = Op::Expunge {
            account: "a@x.y".into(),
            mailbox: MailboxId(1),
            uids: uids.iter().map(|&u| Uid(u)).collect(),
        };
        a.apply(seq, &op, None, &mut Vec::new())
    }

    fn r(a: u32, b: u32) -> UidRange {
        UidRange::new(Uid(a), Uid(b))
    }

    /// The two ways of removing (a few of many, found one by one; many, in one pass) leave
    /// the same messages, release the same bodies and report the same UIDs.
    #[test]
    fn removing_a_few_or_many_leaves_the_same_index() {
        for uids in [
            vec![1],
            vec![200],
            vec![3, 17, 150, 999],
            (1..=200).step_by(3).collect::<Vec<u32>>(),
        ] {
            let mut few = account_with(200);
            let mut many = account_with(200);
            let ids: Vec<Uid> = uids.iter().map(|&u| Uid(u)).collect();
            let (mut released_few, mut released_many) = (Vec::new(), Vec::new());
            let gone_few = few.remove(MailboxId(1), &ids, &mut Vec::new(), &mut released_few);
            // The pass over every message, as for a large set.
            let mb = many.mailbox_mut(MailboxId(1)).unwrap();
            let mut gone_many = Vec::new();
            mb.messages.retain(|e| {
                let hit = ids.binary_search(&e.uid).is_ok();
                if hit {
                    gone_many.push(e.uid);
                    released_many.push(e.body);
                }
                !hit
            });
            assert_eq!(gone_few, gone_many, "{uids:?}");
            assert_eq!(released_few, released_many);
            let left = |a: &AccountIndex| -> Vec<Uid> {
                a.mailboxes[0].messages.iter().map(|m| m.uid).collect()
            };
            assert_eq!(left(&few), left(&many));
        }
    }

    #[test]
    fn every_expunge_bumps_highest_modseq_and_is_logged() {
        let mut a = account_with(10);
        let before = a.mailboxes[0].highest_modseq;
        expunge(&mut a, 100, &[2, 3, 4, 7]);
        let after_first = a.mailboxes[0].highest_modseq;
        assert_eq!(after_first, ModSeq(before.0 + 1));
        // MOVE's removal from the source is an expunge too.
        a.apply(
            101,
            &Op::CreateMailbox {
                account: "a@x.y".into(),
                mailbox: NewMailbox {
                    id: MailboxId(2),
                    name: "Archive".into(),
                    uid_validity: UidValidity(78),
                    special: None,
                },
            },
            None,
            &mut Vec::new(),
        );
        let moved = Op::Copy {
            account: "a@x.y".into(),
            from: MailboxId(1),
            to: MailboxId(2),
            uids: vec![(Uid(9), Uid(1))],
            expunge_source: true,
        };
        a.apply(102, &moved, None, &mut Vec::new());
        let inbox = &a.mailboxes[0];
        assert_eq!(inbox.highest_modseq, ModSeq(after_first.0 + 1));
        let all = [r(1, u32::MAX)];
        assert_eq!(
            inbox.vanished(before, &all),
            Vanished::Since(vec![r(2, 4), r(7, 7), r(9, 9)])
        );
        assert_eq!(
            inbox.vanished(after_first, &all),
            Vanished::Since(vec![r(9, 9)])
        );
        assert_eq!(
            inbox.vanished(before, &[r(3, 8)]),
            Vanished::Since(vec![r(3, 4), r(7, 7)])
        );
        assert_eq!(
            inbox.vanished(inbox.highest_modseq, &all),
            Vanished::Since(vec![])
        );
        // An expunge of nothing changes nothing.
        expunge(&mut a, 103, &[2]);
        assert_eq!(a.mailboxes[0].highest_modseq, inbox_modseq(&a));
    }

    fn inbox_modseq(a: &AccountIndex) -> ModSeq {
        a.mailboxes[0].highest_modseq
    }

    #[test]
    fn without_history_every_absent_uid_of_the_set_is_vanished() {
        let mut a = account_with(10);
        expunge(&mut a, 100, &[2, 3, 8]);
        let mb = &mut a.mailboxes[0];
        mb.expunged.trim(0);
        let since = ModSeq(1);
        assert!(!mb.expunged.covers(since));
        assert_eq!(
            mb.vanished(since, &[r(1, u32::MAX)]),
            Vanished::Absent(vec![r(2, 3), r(8, 8)])
        );
        assert_eq!(
            mb.vanished(since, &[r(3, 5), r(8, 20)]),
            Vanished::Absent(vec![r(3, 3), r(8, 8)])
        );
        // UIDs at or above UIDNEXT were never used: not vanished.
        mb.uid_next = Uid(13);
        assert_eq!(
            mb.vanished(since, &[r(9, 20)]),
            Vanished::Absent(vec![r(11, 12)])
        );
    }

    #[test]
    fn conditional_store_leaves_messages_changed_since_alone() {
        let mut a = account_with(3);
        let hms = inbox_modseq(&a);
        // UID 2 changes after the client looked.
        a.apply(
            100,
            &Op::SetFlags {
                account: "a@x.y".into(),
                mailbox: MailboxId(1),
                uids: vec![Uid(2)],
                mode: FlagMode::Add,
                flags: Flags::system(SystemFlags::ANSWERED),
            },
            None,
            &mut Vec::new(),
        );
        let op = Op::SetFlagsUnchangedSince {
            account: "a@x.y".into(),
            mailbox: MailboxId(1),
            uids: vec![Uid(1), Uid(2), Uid(3), Uid(9)],
            mode: FlagMode::Add,
            flags: Flags::system(SystemFlags::SEEN),
            unchanged_since: hms,
        };
        let mut ev = Vec::new();
        let m = ModSeq(hms.0 + 2);
        assert_eq!(
            a.apply(101, &op, None, &mut ev),
            Outcome::Flags {
                changed: vec![
                    (Uid(1), Flags::system(SystemFlags::SEEN), m),
                    (Uid(3), Flags::system(SystemFlags::SEEN), m)
                ],
                modified: vec![Uid(2)]
            }
        );
        assert_eq!(ev.len(), 2);
        assert_eq!(
            a.mailboxes[0].get(Uid(2)).unwrap().flags,
            Flags::system(SystemFlags::ANSWERED)
        );
    }

    #[test]
    fn replaying_the_same_ops_rebuilds_the_same_expunge_log() {
        let mut live = account_with(6);
        expunge(&mut live, 100, &[1, 2]);
        expunge(&mut live, 101, &[5]);
        let mut replayed = account_with(6);
        expunge(&mut replayed, 100, &[1, 2]);
        expunge(&mut replayed, 101, &[5]);
        assert_eq!(live, replayed);
        let back = AccountIndex::from_file_bytes(&live.to_file_bytes().unwrap()).unwrap();
        assert_eq!(back, live);
        assert_eq!(back.mailboxes[0].expunged.runs.len(), 2);
    }

    /// `testdata/index-v1.idx` was written by the previous version (`RPIDX001`): INBOX with
    /// UIDs 1 and 3 left after UID 2 was expunged at modseq 5.
    #[test]
    fn an_index_of_the_previous_format_still_opens() {
        let bytes = include_bytes!("testdata/index-v1.idx");
        assert_eq!(&bytes[..8], b"RPIDX001");
        let a = AccountIndex::from_file_bytes(bytes).unwrap();
        assert_eq!(a.account, "a@x.y");
        assert_eq!(a.applied_seq, 9);
        let inbox = &a.mailboxes[0];
        let uids: Vec<Uid> = inbox.messages.iter().map(|e| e.uid).collect();
        assert_eq!(uids, [Uid(1), Uid(3)]);
        // Format-1 MIME summaries come across with the newer fields empty.
        let part = &inbox.messages[0].summary.parts[0];
        assert_eq!(
            (part.media_type.as_str(), part.subtype.as_str()),
            ("text", "plain")
        );
        assert!(part.envelope.is_none() && part.disposition_params.is_empty());
        assert_eq!(inbox.highest_modseq, ModSeq(5));
        assert_eq!(inbox.uid_next, Uid(4));
        // No history: the log is complete only from the old HIGHESTMODSEQ on.
        assert_eq!(inbox.expunged.complete_after, ModSeq(5));
        assert_eq!(
            inbox.vanished(ModSeq(4), &[r(1, 3)]),
            Vanished::Absent(vec![r(2, 2)])
        );
        assert_eq!(
            inbox.vanished(ModSeq(5), &[r(1, 3)]),
            Vanished::Since(vec![])
        );
        // Written back, it is the new format; one corrupted byte is still caught.
        let v2 = a.to_file_bytes().unwrap();
        assert_eq!(&v2[..8], b"RPIDX004");
        assert_eq!(AccountIndex::from_file_bytes(&v2).unwrap(), a);
        let mut bad = bytes.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(
            AccountIndex::from_file_bytes(&bad),
            Err(StoreError::Corrupt { .. })
        ));
    }

    /// An `RPIDX002` file (today's index without save dates, EMAILIDs and annotations, as the
    /// previous version archived it) opens: save dates unknown, EMAILIDs from the bodies.
    #[test]
    fn an_index_of_format_2_still_opens() {
        use legacy::{AccountIndexV2, MailboxV2, MessageV2};
        let a = account_with(3);
        let v2 = AccountIndexV2 {
            account: a.account.clone(),
            applied_seq: a.applied_seq,
            created: a.created,
            next_mailbox_id: a.next_mailbox_id,
            last_uid_validity: a.last_uid_validity,
            mailboxes: a
                .mailboxes
                .iter()
                .map(|m| MailboxV2 {
                    id: m.id,
                    name: m.name.clone(),
                    special: m.special,
                    uid_validity: m.uid_validity,
                    uid_next: m.uid_next,
                    highest_modseq: m.highest_modseq,
                    messages: m
                        .messages
                        .iter()
                        .map(|e| MessageV2 {
                            uid: e.uid,
                            flags: e.flags.clone(),
                            internal_date: e.internal_date,
                            size: e.size,
                            modseq: e.modseq,
                            body: e.body,
                            summary: e.summary.clone(),
                        })
                        .collect(),
                    expunged: m.expunged.clone(),
                })
                .collect(),
            subscriptions: a.subscriptions.clone(),
        };
        let archive = rkyv::to_bytes::<rancor::Error>(&v2).unwrap();
        let mut bytes = b"RPIDX002".to_vec();
        bytes.extend_from_slice(&crc32c::crc32c(&archive).to_le_bytes());
        bytes.extend_from_slice(&(archive.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&archive);
        let back = AccountIndex::from_file_bytes(&bytes).unwrap();
        // `account_with` appends with `Op::Append`: no save dates there either.
        assert_eq!(back, a);
        let e = &back.mailboxes[0].messages[1];
        assert_eq!((e.saved, e.email_id), (0, email_id_of(e.body)));
        bytes[20] ^= 1;
        assert!(AccountIndex::from_file_bytes(&bytes).is_err());
    }

    /// An `RPIDX003` file (today's index without ACLs and sharers) opens: no mailbox has
    /// an ACL, nobody shares with the account; written back it is `RPIDX004`.
    #[test]
    fn an_index_of_format_3_still_opens() {
        use legacy::{AccountIndexV3, MailboxV3};
        let a = account_with(3);
        let v3 = AccountIndexV3 {
            account: a.account.clone(),
            applied_seq: a.applied_seq,
            created: a.created,
            next_mailbox_id: a.next_mailbox_id,
            last_uid_validity: a.last_uid_validity,
            mailboxes: a
                .mailboxes
                .iter()
                .map(|m| MailboxV3 {
                    id: m.id,
                    name: m.name.clone(),
                    special: m.special,
                    uid_validity: m.uid_validity,
                    uid_next: m.uid_next,
                    highest_modseq: m.highest_modseq,
                    messages: m.messages.clone(),
                    expunged: m.expunged.clone(),
                    metadata: m.metadata.clone(),
                })
                .collect(),
            subscriptions: a.subscriptions.clone(),
            metadata: a.metadata.clone(),
        };
        let archive = rkyv::to_bytes::<rancor::Error>(&v3).unwrap();
        let mut bytes = b"RPIDX003".to_vec();
        bytes.extend_from_slice(&crc32c::crc32c(&archive).to_le_bytes());
        bytes.extend_from_slice(&(archive.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&archive);
        let back = AccountIndex::from_file_bytes(&bytes).unwrap();
        assert_eq!(back, a);
        assert_eq!(&back.to_file_bytes().unwrap()[..8], b"RPIDX004");
        bytes[20] ^= 1;
        assert!(AccountIndex::from_file_bytes(&bytes).is_err());
    }

    fn create_archive(a: &mut AccountIndex, seq: u64) {
        let op = Op::CreateMailbox {
            account: "a@x.y".into(),
            mailbox: NewMailbox {
                id: MailboxId(2),
                name: "Archive".into(),
                uid_validity: UidValidity(78),
                special: None,
            },
        };
        a.apply(seq, &op, None, &mut Vec::new());
    }

    /// RFC 8514: a copy is saved anew (its internal date stays); RFC 8474 §5.1: COPY and MOVE
    /// keep the EMAILID, and distinct bodies have distinct ones.
    #[test]
    fn copies_get_a_new_save_date_and_keep_their_emailid() {
        let mut a = account_with(3);
        create_archive(&mut a, 100);
        let inbox = a.mailboxes[0].clone();
        let ids: std::collections::BTreeSet<u64> =
            inbox.messages.iter().map(|e| e.email_id).collect();
        assert_eq!(ids.len(), 3);
        let copy = |uids: Vec<(Uid, Uid)>, expunge_source, saved| Op::CopySaved {
            account: "a@x.y".into(),
            from: MailboxId(1),
            to: MailboxId(2),
            uids,
            expunge_source,
            saved,
        };
        a.apply(
            101,
            &copy(vec![(Uid(1), Uid(1))], false, 5_000),
            None,
            &mut Vec::new(),
        );
        a.apply(
            102,
            &copy(vec![(Uid(2), Uid(2))], true, 6_000),
            None,
            &mut Vec::new(),
        );
        let archive = a.mailbox_by_id(MailboxId(2)).unwrap();
        let (c, m) = (archive.get(Uid(1)).unwrap(), archive.get(Uid(2)).unwrap());
        assert_eq!((c.saved, c.internal_date), (5_000, 1000));
        assert_eq!((m.saved, m.internal_date), (6_000, 1001));
        assert_eq!(c.email_id, inbox.messages[0].email_id);
        assert_eq!(m.email_id, inbox.messages[1].email_id);
        assert!(a.mailboxes[0].get(Uid(2)).is_none());
        // A copy by an older record has no known save date.
        let old = Op::Copy {
            account: "a@x.y".into(),
            from: MailboxId(1),
            to: MailboxId(2),
            uids: vec![(Uid(3), Uid(3))],
            expunge_source: false,
        };
        a.apply(103, &old, None, &mut Vec::new());
        let archive = a.mailbox_by_id(MailboxId(2)).unwrap();
        assert_eq!(archive.get(Uid(3)).unwrap().saved, 0);
        // An append with save dates keeps each copy's.
        let op = Op::AppendSaved {
            internal_date: 42,
            summary: MimeSummary::parse(b"Subject: y\r\n\r\nx"),
            copies: vec![crate::store::op::SavedCopy {
                copy: AppendCopy {
                    account: "a@x.y".into(),
                    mailbox: MailboxId(1),
                    uid: Uid(10),
                    flags: Flags::default(),
                },
                saved: 7_000,
            }],
        };
        let body = BodyRef {
            segment: 2,
            offset: 64,
            len: 9,
        };
        a.apply(104, &op, Some(body), &mut Vec::new());
        let e = a.mailboxes[0].get(Uid(10)).unwrap();
        assert_eq!((e.internal_date, e.saved), (42, 7_000));
        assert_eq!(e.email_id, (2 << 40) | 64);
    }

    /// RFC 5464: annotations of a mailbox go with it on RENAME and are gone with it on
    /// DELETE; the server's stay; all survive the index file.
    #[test]
    fn annotations_follow_their_mailbox() {
        let mut a = account_with(1);
        create_archive(&mut a, 100);
        let set = |mailbox, name: &str, value: Option<&[u8]>| Op::SetMetadata {
            account: "a@x.y".into(),
            mailbox,
            entries: vec![MetadataChange {
                name: name.into(),
                value: value.map(<[u8]>::to_vec),
            }],
        };
        let mut ev = Vec::new();
        a.apply(
            101,
            &set(Some(MailboxId(2)), "/shared/comment", Some(b"old")),
            None,
            &mut ev,
        );
        a.apply(
            102,
            &set(Some(MailboxId(2)), "/private/comment", Some(b"mine")),
            None,
            &mut ev,
        );
        a.apply(
            103,
            &set(None, "/private/vendor/x", Some(b"1")),
            None,
            &mut ev,
        );
        a.apply(
            104,
            &set(Some(MailboxId(2)), "/shared/comment", Some(b"new")),
            None,
            &mut ev,
        );
        a.apply(
            105,
            &set(Some(MailboxId(2)), "/shared/nothing", None),
            None,
            &mut ev,
        );
        assert_eq!(
            a.apply(
                106,
                &set(Some(MailboxId(9)), "/shared/comment", None),
                None,
                &mut ev
            ),
            Outcome::MailboxGone
        );
        let rename = Op::RenameMailbox {
            account: "a@x.y".into(),
            id: MailboxId(2),
            name: "Old".into(),
        };
        a.apply(107, &rename, None, &mut ev);
        let names = |m: &Mailbox| -> Vec<(String, Vec<u8>)> {
            m.metadata
                .iter()
                .map(|e| (e.name.clone(), e.value.clone()))
                .collect()
        };
        assert_eq!(
            names(a.mailbox("Old").unwrap()),
            [
                ("/private/comment".to_string(), b"mine".to_vec()),
                ("/shared/comment".to_string(), b"new".to_vec())
            ]
        );
        let back = AccountIndex::from_file_bytes(&a.to_file_bytes().unwrap()).unwrap();
        assert_eq!(back, a);
        a.apply(
            108,
            &set(Some(MailboxId(2)), "/private/comment", None),
            None,
            &mut ev,
        );
        assert_eq!(names(a.mailbox("Old").unwrap()).len(), 1);
        let delete = Op::DeleteMailbox {
            account: "a@x.y".into(),
            id: MailboxId(2),
        };
        a.apply(109, &delete, None, &mut ev);
        assert!(a.mailbox("Old").is_none());
        assert_eq!(a.metadata.len(), 1);
        // A mailbox made again under the name starts with none.
        create_archive(&mut a, 110);
        assert!(a.mailbox_by_id(MailboxId(2)).unwrap().metadata.is_empty());
    }

    #[test]
    fn inbox_is_case_insensitive_and_bad_names_are_refused() {
        assert_eq!(canonical_mailbox("inBox").unwrap(), "INBOX");
        assert_eq!(canonical_mailbox("inbox/x").unwrap(), "INBOX/x");
        assert_eq!(canonical_mailbox("Work/2024").unwrap(), "Work/2024");
        for bad in ["", "/a", "a/", "a//b", "a*", "a%b", "a\u{1}"] {
            assert!(canonical_mailbox(bad).is_err(), "{bad:?}");
        }
    }
}
