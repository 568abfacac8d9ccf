//! The store's write operations: each validates against the visible index, reserves what it
//! needs (UIDs, mailbox ids), queues one log record and returns once that record is durable
//! and applied. Never mutates an index directly: only applying the record does.

use std::collections::HashMap;
use std::rc::Rc;

use super::index::{canonical_mailbox, Outcome};
use super::io;
use super::op::{AppendCopy, NewMailbox, Op, SavedCopy};
use super::partition::PartitionStore;
use super::stream::AppendStream;
use super::types::{Result, StoreError, DEFAULT_MAILBOXES};
use super::{canonical_account, now, Store};
use crate::mail::{
    AccountChange, FlagMode, FlagUpdate, Flags, MailboxId, MimeSummary, ModSeq, SpecialUse,
    Subscription, Uid, UidValidity,
};

/// UIDs sorted and unique, as every op carries them.
pub(crate) fn sorted_uids(uids: &[Uid]) -> Vec<Uid> {
    let mut v = uids.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

fn now_u32() -> u32 {
    u32::try_from(now()).unwrap_or(u32::MAX)
}

fn expect_done(outcome: Outcome) -> Result<()> {
    match outcome {
        Outcome::Done => Ok(()),
        Outcome::MailboxExists => Err(StoreError::MailboxExists),
        _ => Err(StoreError::NoSuchMailbox),
    }
}

impl Store {
    /// Make sure `account` exists: on first use it gets INBOX, Sent, Drafts, Trash, Junk and
    /// Archive (RFC 6154). Idempotent.
    pub async fn open_account(&self, account: &str) -> Result<()> {
        self.open_account_with(account, &HashMap::new()).await
    }

    /// Make sure `account` exists, with no default mailboxes: for keys that hold something
    /// other than mail (calendars and address books make their own). Idempotent.
    pub async fn open_bare_account(&self, account: &str) -> Result<()> {
        let account = canonical_account(account)?;
        let p = self.partition(&account).await?;
        let op = p.with_account(&account, |a| {
            if a.index.created {
                return None;
            }
            a.inflight += 1;
            Some(Op::CreateAccount {
                account: account.clone(),
                mailboxes: Vec::new(),
            })
        })?;
        if let Some(op) = op {
            self.submit(p.clone(), op, &[]).await?;
        }
        Ok(())
    }

    /// Like [`Store::open_account`], but a new account's default mailboxes named in
    /// `uid_validity` get those UIDVALIDITY values (import keeps the original ones).
    pub async fn open_account_with(
        &self,
        account: &str,
        uid_validity: &HashMap<String, UidValidity>,
    ) -> Result<()> {
        let account = canonical_account(account)?;
        let p = self.partition(&account).await?;
        self.ensure_created_with(&p, &account, uid_validity).await
    }

    async fn ensure_created(&self, p: &Rc<PartitionStore>, account: &str) -> Result<()> {
        self.ensure_created_with(p, account, &HashMap::new()).await
    }

    async fn ensure_created_with(
        &self,
        p: &Rc<PartitionStore>,
        account: &str,
        validities: &HashMap<String, UidValidity>,
    ) -> Result<()> {
        let op = p.with_account(account, |a| {
            if a.index.created {
                return None;
            }
            // Fixed ids 1..=6 for the default mailboxes: concurrent creators agree, and the
            // second CreateAccount record is a no-op.
            let uid_validity = a.reserve_uid_validity(now_u32());
            a.inflight += 1;
            Some(Op::CreateAccount {
                account: account.to_string(),
                mailboxes: DEFAULT_MAILBOXES
                    .iter()
                    .zip(1u32..)
                    .map(|((name, special), id)| NewMailbox {
                        id: MailboxId(id),
                        name: (*name).to_string(),
                        uid_validity: validities
                            .get(*name)
                            .copied()
                            .unwrap_or(UidValidity(uid_validity)),
                        special: *special,
                    })
                    .collect(),
            })
        })?;
        if let Some(op) = op {
            self.submit(p.clone(), op, &[]).await?;
        }
        Ok(())
    }

    /// Create a mailbox; returns its id.
    pub async fn create_mailbox(&self, account: &str, name: &str) -> Result<MailboxId> {
        self.create_mailbox_with(account, name, None).await
    }

    /// Create a mailbox with a given UIDVALIDITY (Maildir import keeps the original one).
    pub async fn create_mailbox_with(
        &self,
        account: &str,
        name: &str,
        uid_validity: Option<UidValidity>,
    ) -> Result<MailboxId> {
        self.create_mailbox_full(account, name, uid_validity, None)
            .await
    }

    /// Create a mailbox with a special-use attribute (RFC 6154 §3, IMAP CREATE … USE).
    pub async fn create_special_mailbox(
        &self,
        account: &str,
        name: &str,
        special: Option<SpecialUse>,
    ) -> Result<MailboxId> {
        self.create_mailbox_full(account, name, None, special).await
    }

    async fn create_mailbox_full(
        &self,
        account: &str,
        name: &str,
        uid_validity: Option<UidValidity>,
        special: Option<SpecialUse>,
    ) -> Result<MailboxId> {
        let account = canonical_account(account)?;
        let name = canonical_mailbox(name)?;
        let p = self.partition(&account).await?;
        self.ensure_created(&p, &account).await?;
        let (op, id) = p.with_account(&account, |a| {
            if a.index.mailbox(&name).is_some() {
                return Err(StoreError::MailboxExists);
            }
            let id = a.reserve_mailbox_id();
            let v = match uid_validity {
                Some(v) => v,
                None => UidValidity(a.reserve_uid_validity(now_u32())),
            };
            a.inflight += 1;
            let op = Op::CreateMailbox {
                account: account.clone(),
                mailbox: NewMailbox {
                    id,
                    name: name.clone(),
                    uid_validity: v,
                    special,
                },
            };
            Ok((op, id))
        })??;
        expect_done(self.submit(p, op, &[]).await?)?;
        self.inner
            .notify_account(&account, AccountChange::Created { id, name });
        Ok(id)
    }

    /// Rename a mailbox and its inferiors (RFC 9051 §6.3.6). INBOX cannot be renamed here.
    pub async fn rename_mailbox(&self, account: &str, from: &str, to: &str) -> Result<()> {
        let account = canonical_account(account)?;
        let (from, to) = (canonical_mailbox(from)?, canonical_mailbox(to)?);
        if from == "INBOX" || to == "INBOX" {
            return Err(StoreError::InboxIsPermanent);
        }
        let p = self.partition(&account).await?;
        let op = p.with_account(&account, |a| {
            if a.index.mailbox(&to).is_some() {
                return Err(StoreError::MailboxExists);
            }
            let id = a.index.mailbox(&from).ok_or(StoreError::NoSuchMailbox)?.id;
            a.inflight += 1;
            Ok::<_, StoreError>(Op::RenameMailbox {
                account: account.clone(),
                id,
                name: to.clone(),
            })
        })??;
        expect_done(self.submit(p, op, &[]).await?)
    }

    /// Set or remove annotations (RFC 5464 SETMETADATA) of a mailbox, or with `None` the
    /// account's server annotations. Entry names are as stored (lower case). Refused with
    /// [`StoreError::TooManyAnnotations`] when the mailbox (or the server) would then have more
    /// than `max_entries` entries, counting the changes queued ahead (checked here, on the
    /// home shard, against the index and the entries this call adds).
    pub async fn set_metadata(
        &self,
        account: &str,
        mailbox: Option<&str>,
        entries: Vec<super::op::MetadataChange>,
        max_entries: usize,
    ) -> Result<()> {
        let account = canonical_account(account)?;
        let mailbox = mailbox.map(canonical_mailbox).transpose()?;
        let p = self.partition(&account).await?;
        let op = p.with_account(&account, |a| {
            let (id, list) = match &mailbox {
                None => (None, &a.index.metadata),
                Some(name) => {
                    let mb = a.index.mailbox(name).ok_or(StoreError::NoSuchMailbox)?;
                    (Some(mb.id), &mb.metadata)
                }
            };
            let mut names: std::collections::BTreeSet<&str> =
                list.iter().map(|e| e.name.as_str()).collect();
            for e in &entries {
                match e.value {
                    Some(_) => names.insert(e.name.as_str()),
                    None => names.remove(e.name.as_str()),
                };
            }
            let added = entries
                .iter()
                .any(|e| e.value.is_some() && list.iter().all(|a| a.name != e.name));
            if added && names.len() > max_entries {
                return Err(StoreError::TooManyAnnotations);
            }
            a.inflight += 1;
            Ok::<_, StoreError>(Op::SetMetadata {
                account: account.clone(),
                mailbox: id,
                entries,
            })
        })??;
        let (mailbox, names) = match &op {
            Op::SetMetadata {
                mailbox, entries, ..
            } => (*mailbox, entries.iter().map(|e| e.name.clone()).collect()),
            _ => (None, Vec::new()),
        };
        expect_done(self.submit(p, op, &[]).await?)?;
        for entry in names {
            self.inner
                .notify_account(&account, AccountChange::Metadata { mailbox, entry });
        }
        Ok(())
    }

    /// Change one identifier's rights on a mailbox (RFC 4314 SETACL; `None` is DELETEACL)
    /// and return them as they now are. Refused with [`StoreError::TooManyAclEntries`] when
    /// the change would add an entry past `max_entries`. An entry left with no rights is
    /// removed. The new rights are computed here, on the home shard, from the entry as the
    /// index has it.
    pub async fn set_acl(
        &self,
        account: &str,
        mailbox: &str,
        identifier: &str,
        change: Option<crate::mail::acl::RightsChange>,
        max_entries: usize,
    ) -> Result<crate::mail::acl::Rights> {
        use crate::mail::acl::Rights;
        let account = canonical_account(account)?;
        let mailbox = canonical_mailbox(mailbox)?;
        let p = self.partition(&account).await?;
        let (op, rights, id) = p.with_account(&account, |a| {
            let mb = a.index.mailbox(&mailbox).ok_or(StoreError::NoSuchMailbox)?;
            let old = mb.acl.iter().find(|e| e.identifier == identifier);
            let new = match change {
                None => Rights::NONE,
                Some(c) => c.apply(old.map_or(Rights::NONE, |e| e.rights)),
            };
            if old.is_none() && !new.is_empty() && mb.acl.len() >= max_entries {
                return Err(StoreError::TooManyAclEntries);
            }
            a.inflight += 1;
            Ok::<_, StoreError>((
                Op::SetAcl {
                    account: account.clone(),
                    mailbox: mb.id,
                    identifier: identifier.to_string(),
                    rights: (!new.is_empty()).then_some(new),
                },
                new,
                mb.id,
            ))
        })??;
        expect_done(self.submit(p, op, &[]).await?)?;
        // NOTIFY's watches of the owner for other users read the rights again.
        self.inner
            .notify_account(&account, AccountChange::Acl { mailbox: id });
        Ok(rights)
    }

    /// Note (`shared`) or forget that `owner` gave `account` rights on a mailbox of theirs:
    /// what LIST reads to find the mailboxes shared with it ([`Store::sharers`]).
    pub async fn set_sharer(&self, account: &str, owner: &str, shared: bool) -> Result<()> {
        let account = canonical_account(account)?;
        let owner = canonical_account(owner)?;
        let p = self.partition(&account).await?;
        let op = p.with_account(&account, |a| {
            if a.index.sharers.binary_search(&owner).is_ok() == shared {
                return None;
            }
            a.inflight += 1;
            Some(Op::SetSharer {
                account: account.clone(),
                owner: owner.clone(),
                shared,
            })
        })?;
        match op {
            Some(op) => expect_done(self.submit(p, op, &[]).await?),
            None => Ok(()),
        }
    }

    /// Delete a mailbox and its messages. Inferior mailboxes stay.
    pub async fn delete_mailbox(&self, account: &str, name: &str) -> Result<()> {
        let account = canonical_account(account)?;
        let name = canonical_mailbox(name)?;
        if name == "INBOX" {
            return Err(StoreError::InboxIsPermanent);
        }
        let p = self.partition(&account).await?;
        let op = p.with_account(&account, |a| {
            let id = a.index.mailbox(&name).ok_or(StoreError::NoSuchMailbox)?.id;
            a.inflight += 1;
            Ok::<_, StoreError>(Op::DeleteMailbox {
                account: account.clone(),
                id,
            })
        })??;
        expect_done(self.submit(p, op, &[]).await?)
    }

    /// Remove everything `account` holds (a deleted account's mail, purged). `false` when
    /// there was nothing: the account was never created or is purged already.
    pub async fn purge_account(&self, account: &str) -> Result<bool> {
        let account = canonical_account(account)?;
        let p = self.partition(&account).await?;
        let op = p.with_account(&account, |a| {
            if !a.index.created && a.index.mailboxes.is_empty() {
                return None;
            }
            a.inflight += 1;
            Some(Op::PurgeAccount {
                account: account.clone(),
            })
        })?;
        let Some(op) = op else {
            return Ok(false);
        };
        expect_done(self.submit(p, op, &[]).await?)?;
        Ok(true)
    }

    /// Add or remove `name` from the account's subscriptions (RFC 9051 §6.3.7).
    pub async fn subscribe(
        &self,
        account: &str,
        name: &str,
        subscription: Subscription,
    ) -> Result<()> {
        let subscribed = subscription == Subscription::Subscribed;
        let account = canonical_account(account)?;
        let name = canonical_mailbox(name)?;
        let p = self.partition(&account).await?;
        let op = p.with_account(&account, |a| {
            a.inflight += 1;
            Op::Subscribe {
                account: account.clone(),
                name: name.clone(),
                subscribed,
            }
        })?;
        expect_done(self.submit(p, op, &[]).await?)?;
        self.inner
            .notify_account(&account, AccountChange::Subscription { name, subscribed });
        Ok(())
    }

    /// Raise a mailbox's UIDNEXT to at least `uid_next` (never lowers it).
    pub async fn raise_uid_next(&self, account: &str, mailbox: &str, uid_next: Uid) -> Result<()> {
        let account = canonical_account(account)?;
        let mailbox = canonical_mailbox(mailbox)?;
        let p = self.partition(&account).await?;
        let op = p.with_account(&account, |a| {
            let id = a
                .index
                .mailbox(&mailbox)
                .ok_or(StoreError::NoSuchMailbox)?
                .id;
            // Later reservations start at the raised value too (`reserve_uid` takes the max).
            a.inflight += 1;
            Ok::<_, StoreError>(Op::RaiseUidNext {
                account: account.clone(),
                mailbox: id,
                uid_next,
            })
        })??;
        expect_done(self.submit(p, op, &[]).await?)
    }

    /// Append a message to a mailbox (IMAP APPEND); returns its UID once durable.
    pub async fn append(
        &self,
        account: &str,
        mailbox: &str,
        body: &[u8],
        flags: Flags,
        internal_date: i64,
    ) -> Result<Uid> {
        self.append_inner(account, mailbox, body, flags, internal_date, None)
            .await
    }

    /// Append with a chosen UID, which must not be below the mailbox's UIDNEXT (Maildir
    /// import keeps the original UIDs).
    pub async fn append_with_uid(
        &self,
        account: &str,
        mailbox: &str,
        uid: Uid,
        body: &[u8],
        flags: Flags,
        internal_date: i64,
    ) -> Result<Uid> {
        self.append_inner(account, mailbox, body, flags, internal_date, Some(uid))
            .await
    }

    /// Start receiving a message of `len` bytes for [`Store::append_stream`]: the bytes go
    /// straight into the buffer its record will be written from. Nothing is reserved or
    /// written yet; dropping the stream leaves no trace.
    pub fn begin_append(&self, len: usize) -> Result<AppendStream> {
        if len > self.inner.config.max_message_size {
            return Err(StoreError::TooLarge(len));
        }
        Ok(AppendStream::new(len))
    }

    /// Append the message received in `stream` (complete) to a mailbox; returns its UID once
    /// durable. The MIME summary is parsed from the stream's buffer, and the record is framed
    /// around the body there: the message is never copied to another buffer.
    pub async fn append_stream(
        &self,
        account: &str,
        mailbox: &str,
        stream: AppendStream,
        flags: Flags,
        internal_date: i64,
    ) -> Result<Uid> {
        if !stream.is_complete() {
            return Err(StoreError::Io(std::io::Error::other(
                "appending a message that was not received whole",
            )));
        }
        let account = canonical_account(account)?;
        let mailbox = canonical_mailbox(mailbox)?;
        let summary = MimeSummary::parse(stream.body());
        let p = self.partition(&account).await?;
        let (op, uid) = append_op(&p, &account, &mailbox, None, flags, internal_date, summary)?;
        expect_done(self.submit_stream(p, op, stream).await?)?;
        Ok(uid)
    }

    async fn append_inner(
        &self,
        account: &str,
        mailbox: &str,
        body: &[u8],
        flags: Flags,
        internal_date: i64,
        uid: Option<Uid>,
    ) -> Result<Uid> {
        if body.len() > self.inner.config.max_message_size {
            return Err(StoreError::TooLarge(body.len()));
        }
        let account = canonical_account(account)?;
        let mailbox = canonical_mailbox(mailbox)?;
        let summary = MimeSummary::parse(body);
        let p = self.partition(&account).await?;
        let (op, uid) = append_op(&p, &account, &mailbox, uid, flags, internal_date, summary)?;
        expect_done(self.submit(p, op, body).await?)?;
        Ok(uid)
    }

    /// Deliver one message to the INBOX of several accounts, all owned by this shard
    /// (creating accounts on first delivery). One record per partition holds that
    /// partition's copies and the bytes once; partitions are written in the same batch.
    /// Returns the UIDs in the order of `accounts`.
    pub async fn deliver_local(
        &self,
        accounts: &[String],
        body: &[u8],
        internal_date: i64,
    ) -> Result<Vec<Uid>> {
        if body.len() > self.inner.config.max_message_size {
            return Err(StoreError::TooLarge(body.len()));
        }
        let summary = MimeSummary::parse(body);
        // Per partition: (position in `accounts`, account).
        type Group = (Rc<PartitionStore>, Vec<(usize, String)>);
        let mut groups: Vec<Group> = Vec::new();
        for (i, account) in accounts.iter().enumerate() {
            let account = canonical_account(account)?;
            let p = self.partition(&account).await?;
            self.ensure_created(&p, &account).await?;
            match groups.iter_mut().find(|(q, _)| Rc::ptr_eq(q, &p)) {
                Some((_, v)) => v.push((i, account)),
                None => groups.push((p, vec![(i, account)])),
            }
        }
        let mut uids = vec![Uid(0); accounts.len()];
        let mut waits = Vec::new();
        for (p, members) in groups {
            let mut copies = Vec::new();
            for (i, account) in &members {
                let copy = p.with_account(account, |a| {
                    let inbox = MailboxId(1);
                    let uid = Uid(a.reserve_uid(inbox, None)?);
                    a.inflight += 1;
                    Ok::<_, StoreError>(AppendCopy {
                        account: account.clone(),
                        mailbox: inbox,
                        uid,
                        flags: Flags::default(),
                    })
                })??;
                uids[*i] = copy.uid;
                copies.push(SavedCopy { copy, saved: now() });
            }
            let op = Op::AppendSaved {
                internal_date,
                summary: summary.clone(),
                copies,
            };
            let store = self.clone();
            let body = body.to_vec();
            waits.push(io::spawn(async move { store.submit(p, op, &body).await }));
        }
        for w in waits {
            expect_done(w.await?)?;
        }
        Ok(uids)
    }

    /// Change flags (RFC 9051 §6.4.6). Returns the messages whose flags changed, with their
    /// new flags and modseq.
    pub async fn set_flags(
        &self,
        account: &str,
        mailbox: &str,
        uids: &[Uid],
        mode: FlagMode,
        flags: Flags,
    ) -> Result<Vec<(Uid, Flags, ModSeq)>> {
        let update = self
            .update_flags(account, mailbox, uids, mode, flags, None)
            .await?;
        Ok(update.changed)
    }

    /// Change flags as IMAP STORE does (RFC 9051 §6.4.6), optionally only where a message's
    /// modseq is at most `unchanged_since` (RFC 7162 §3.1.3; checked when the record is
    /// applied, so atomically). Messages the change would leave as they are cost no log
    /// record; when no message would change, nothing is written at all.
    pub async fn update_flags(
        &self,
        account: &str,
        mailbox: &str,
        uids: &[Uid],
        mode: FlagMode,
        flags: Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<FlagUpdate> {
        let account = canonical_account(account)?;
        let mailbox = canonical_mailbox(mailbox)?;
        let p = self.partition(&account).await?;
        let mut update = FlagUpdate::default();
        let op = p.with_account(&account, |a| {
            let mb = a.index.mailbox(&mailbox).ok_or(StoreError::NoSuchMailbox)?;
            let id = mb.id;
            let mut touch = Vec::new();
            for uid in sorted_uids(uids) {
                let Some(e) = mb.get(uid) else { continue };
                if unchanged_since.is_some_and(|limit| e.modseq > limit) {
                    // Modseqs only grow: this one fails whatever is queued ahead of it.
                    update.modified.push(uid);
                } else if e.flags.apply(mode, &flags) == e.flags {
                    update.unchanged.push((uid, e.flags.clone(), e.modseq));
                } else {
                    touch.push(uid);
                }
            }
            if touch.is_empty() {
                return Ok::<_, StoreError>(None);
            }
            a.inflight += 1;
            let account = account.clone();
            Ok(Some(match unchanged_since {
                None => Op::SetFlags {
                    account,
                    mailbox: id,
                    uids: touch,
                    mode,
                    flags,
                },
                Some(unchanged_since) => Op::SetFlagsUnchangedSince {
                    account,
                    mailbox: id,
                    uids: touch,
                    mode,
                    flags,
                    unchanged_since,
                },
            }))
        })??;
        let Some(op) = op else {
            return Ok(update);
        };
        let touched = match &op {
            Op::SetFlags { uids, .. } | Op::SetFlagsUnchangedSince { uids, .. } => uids.clone(),
            _ => Vec::new(),
        };
        let Outcome::Flags { changed, modified } = self.submit(p.clone(), op, &[]).await? else {
            return Err(StoreError::NoSuchMailbox);
        };
        // A message an earlier queued change already gave these flags is unchanged now.
        let settled: Vec<Uid> = touched
            .into_iter()
            .filter(|u| {
                changed.binary_search_by_key(u, |c| c.0).is_err()
                    && modified.binary_search(u).is_err()
            })
            .collect();
        if !settled.is_empty() {
            p.with_account(&account, |a| {
                if let Some(mb) = a.index.mailbox(&mailbox) {
                    for uid in settled {
                        if let Some(e) = mb.get(uid) {
                            update.unchanged.push((uid, e.flags.clone(), e.modseq));
                        }
                    }
                }
            })?;
            update.unchanged.sort_unstable_by_key(|u| u.0);
        }
        update.changed = changed;
        update.modified.extend(modified);
        update.modified.sort_unstable();
        Ok(update)
    }

    /// Copy messages to another mailbox of the same account (RFC 9051 §6.4.7); returns
    /// `(source UID, new UID)` pairs for COPYUID (RFC 4315). Bytes are shared, not rewritten.
    pub async fn copy(
        &self,
        account: &str,
        from: &str,
        uids: &[Uid],
        to: &str,
    ) -> Result<Vec<(Uid, Uid)>> {
        self.copy_inner(account, from, uids, to, false).await
    }

    /// Move messages (RFC 6851): copy and expunge from the source in one record.
    pub async fn move_messages(
        &self,
        account: &str,
        from: &str,
        uids: &[Uid],
        to: &str,
    ) -> Result<Vec<(Uid, Uid)>> {
        self.copy_inner(account, from, uids, to, true).await
    }

    async fn copy_inner(
        &self,
        account: &str,
        from: &str,
        uids: &[Uid],
        to: &str,
        expunge_source: bool,
    ) -> Result<Vec<(Uid, Uid)>> {
        let account = canonical_account(account)?;
        let (from, to) = (canonical_mailbox(from)?, canonical_mailbox(to)?);
        let p = self.partition(&account).await?;
        let op = p.with_account(&account, |a| {
            let src = a.index.mailbox(&from).ok_or(StoreError::NoSuchMailbox)?;
            let src_id = src.id;
            let present: Vec<Uid> = sorted_uids(uids)
                .into_iter()
                .filter(|u| src.get(*u).is_some())
                .collect();
            let dst = a.index.mailbox(&to).ok_or(StoreError::NoSuchMailbox)?.id;
            let mut pairs = Vec::with_capacity(present.len());
            for u in present {
                pairs.push((u, Uid(a.reserve_uid(dst, None)?)));
            }
            a.inflight += 1;
            Ok::<_, StoreError>(Op::CopySaved {
                account: account.clone(),
                from: src_id,
                to: dst,
                uids: pairs,
                expunge_source,
                saved: now(),
            })
        })??;
        match self.submit(p, op, &[]).await? {
            Outcome::Copied(v) => Ok(v),
            _ => Err(StoreError::NoSuchMailbox),
        }
    }

    /// Undo delivered copies (of a delivery that failed elsewhere): expunge each `(account,
    /// uid)` from its INBOX. Every account must be owned by this shard.
    pub async fn retract(&self, copies: &[(String, Uid)]) -> Result<()> {
        for (account, uid) in copies {
            self.expunge(account, "INBOX", Some(&[*uid])).await?;
        }
        Ok(())
    }

    /// Expunge `uids`, or (with `None`) every message flagged `\Deleted`. Returns the UIDs
    /// removed.
    pub async fn expunge(
        &self,
        account: &str,
        mailbox: &str,
        uids: Option<&[Uid]>,
    ) -> Result<Vec<Uid>> {
        let account = canonical_account(account)?;
        let mailbox = canonical_mailbox(mailbox)?;
        let p = self.partition(&account).await?;
        let op = p.with_account(&account, |a| {
            let id = a
                .index
                .mailbox(&mailbox)
                .ok_or(StoreError::NoSuchMailbox)?
                .id;
            let uids = match uids {
                Some(u) => sorted_uids(u),
                None => a.index.deleted_uids(id),
            };
            a.inflight += 1;
            Ok::<_, StoreError>(Op::Expunge {
                account: account.clone(),
                mailbox: id,
                uids,
            })
        })??;
        match self.submit(p, op, &[]).await? {
            Outcome::Expunged(v) => Ok(v),
            _ => Err(StoreError::NoSuchMailbox),
        }
    }
}

/// Reserve `uid` (or the next UID) in `mailbox` of `account` and build the one-copy Append
/// op that uses it; the caller submits it (from a buffer or a stream).
fn append_op(
    p: &PartitionStore,
    account: &str,
    mailbox: &str,
    uid: Option<Uid>,
    flags: Flags,
    internal_date: i64,
    summary: MimeSummary,
) -> Result<(Op, Uid)> {
    p.with_account(account, |a| {
        let id = a
            .index
            .mailbox(mailbox)
            .ok_or(StoreError::NoSuchMailbox)?
            .id;
        let uid = Uid(a.reserve_uid(id, uid.map(|u| u.0))?);
        a.inflight += 1;
        let op = Op::AppendSaved {
            internal_date,
            summary,
            copies: vec![SavedCopy {
                copy: AppendCopy {
                    account: account.to_string(),
                    mailbox: id,
                    uid,
                    flags,
                },
                saved: now(),
            }],
        };
        Ok::<_, StoreError>((op, uid))
    })?
}
