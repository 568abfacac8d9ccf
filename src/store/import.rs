//! Maildir import (`ringpost import maildir <address> <path>`): folders (the Maildir root is
//! INBOX; Maildir++ `.Sent`, `.Work.2024` and plain `Sent/`, `Work/2024/` subfolders), flags
//! from the `:2,` info (RFC-less but universal: D F P R S T), internal date from the file's
//! mtime, and — with a Dovecot `dovecot-uidlist` — the original UIDVALIDITY, UIDs and UIDNEXT,
//! so IMAP clients keep their caches. Reads the Maildir with blocking calls (an offline tool) and
//! appends through the store with many appends in flight, so group commit batches them.
//! Never modifies or deletes anything in the Maildir.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use super::io;
use super::types::{Result, StoreError};
use super::{canonical_account, Store, StoreConfig};
use crate::mail::{Flags, Keyword, SystemFlags, Uid, UidValidity};
use crate::placement::ShardMap;

/// Appends kept in flight at once.
const WINDOW: usize = 64;

/// Progress, reported after each message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress<'a> {
    pub folder: &'a str,
    /// Messages imported (or found already there) so far, over all folders.
    pub done: u64,
    /// Messages found, over all folders.
    pub total: u64,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub folders: usize,
    pub messages: u64,
    pub bytes: u64,
    /// Messages whose original UID could not be kept (below the mailbox's UIDNEXT).
    pub renumbered: u64,
    /// Messages already in their mailbox (same bytes, same internal date), so not imported
    /// again: running an import twice keeps one copy of each message.
    pub skipped: u64,
}

struct Folder {
    name: String,
    dir: PathBuf,
    uid_validity: Option<UidValidity>,
    uid_next: Option<Uid>,
    /// Base file name (before `:`) → UID.
    uids: HashMap<String, u32>,
}

/// What a `dovecot-uidlist` says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uidlist {
    pub uid_validity: Option<UidValidity>,
    /// The folder's UIDNEXT (`N`): UIDs below it may have been seen by clients.
    pub uid_next: Option<Uid>,
    /// Base file name (before `:`) → UID.
    pub uids: HashMap<String, u32>,
}

/// A Dovecot `dovecot-uidlist`: header `3 V<validity> N<next> ...` (or v1 `1 <v> <n>`),
/// then `<uid> [fields] :<base name>` (v3) or `<uid> <base name>` (v1) lines.
pub fn parse_uidlist(text: &str) -> Uidlist {
    let mut lines = text.lines();
    let mut validity = None;
    let mut next = None;
    if let Some(header) = lines.next() {
        let mut f = header.split_whitespace();
        match f.next() {
            Some("1") => {
                validity = f.next().and_then(|v| v.parse().ok()).map(UidValidity);
                next = f.next().and_then(|v| v.parse().ok()).map(Uid);
            }
            Some(_) => {
                for x in f {
                    if let Some(v) = x.strip_prefix('V') {
                        validity = v.parse().ok().map(UidValidity);
                    } else if let Some(n) = x.strip_prefix('N') {
                        next = n.parse().ok().map(Uid);
                    }
                }
            }
            None => {}
        }
    }
    let mut uids = HashMap::new();
    for line in lines {
        let Some((uid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(uid) = uid.parse::<u32>() else {
            continue;
        };
        let name = match rest.find(':') {
            Some(i) => &rest[i + 1..],
            None => rest.trim(),
        };
        uids.insert(name.trim().to_string(), uid);
    }
    Uidlist {
        uid_validity: validity,
        uid_next: next,
        uids,
    }
}

/// Flags from a Maildir file name's `:2,` info.
pub fn flags_of(file_name: &str) -> Flags {
    let mut system = SystemFlags::NONE;
    let mut keywords = Vec::new();
    if let Some((_, info)) = file_name.rsplit_once(":2,") {
        for c in info.chars() {
            match c {
                'D' => system = system.union(SystemFlags::DRAFT),
                'F' => system = system.union(SystemFlags::FLAGGED),
                'P' => keywords.extend(Keyword::new("$Forwarded")),
                'R' => system = system.union(SystemFlags::ANSWERED),
                'S' => system = system.union(SystemFlags::SEEN),
                'T' => system = system.union(SystemFlags::DELETED),
                _ => {}
            }
        }
    }
    Flags::new(system, keywords)
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() || dir.join("new").is_dir()
}

fn folder(name: String, dir: PathBuf) -> Folder {
    let list = std::fs::read_to_string(dir.join("dovecot-uidlist"))
        .map(|t| parse_uidlist(&t))
        .unwrap_or_default();
    Folder {
        name,
        dir,
        uid_validity: list.uid_validity,
        uid_next: list.uid_next,
        uids: list.uids,
    }
}

fn find_folders(root: &Path) -> Result<Vec<Folder>> {
    let mut out = Vec::new();
    if is_maildir(root) {
        out.push(folder("INBOX".into(), root.to_path_buf()));
    }
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if !path.is_dir() || matches!(name.as_str(), "cur" | "new" | "tmp") {
                continue;
            }
            let full = if let Some(plus) = name.strip_prefix('.').filter(|_| prefix.is_empty()) {
                // Maildir++: `.Work.2024` is Work/2024.
                if plus.is_empty() || plus.starts_with('.') {
                    continue;
                }
                plus.replace('.', "/")
            } else if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if is_maildir(&path) {
                out.push(folder(full.clone(), path.clone()));
            }
            if !name.starts_with('.') {
                stack.push((path, full));
            }
        }
    }
    Ok(out)
}

struct Mail {
    path: PathBuf,
    uid: Option<u32>,
    flags: Flags,
}

fn messages_of(f: &Folder) -> Result<Vec<Mail>> {
    let mut v = Vec::new();
    for sub in ["cur", "new"] {
        let Ok(rd) = std::fs::read_dir(f.dir.join(sub)) else {
            continue;
        };
        for e in rd {
            let e = e?;
            if !e.file_type()?.is_file() {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let base = name.split(':').next().unwrap_or(&name).to_string();
            v.push(Mail {
                path: e.path(),
                uid: f.uids.get(&base).copied(),
                flags: flags_of(&name),
            });
        }
    }
    // Listed UIDs first and ascending (UIDs are reserved in that order), then the rest.
    v.sort_by(|a, b| match (a.uid, b.uid) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.path.cmp(&b.path),
    });
    Ok(v)
}

fn mtime(path: &Path) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// The messages a mailbox already holds, by internal date and size, for finding the ones an
/// earlier import brought in. Only messages whose date and size match are read and compared.
struct Present(HashMap<(i64, u32), Vec<Uid>>);

impl Present {
    async fn of(store: &Store, account: &str, mailbox: &str) -> Result<Present> {
        let mut by_key: HashMap<(i64, u32), Vec<Uid>> = HashMap::new();
        for e in store
            .messages(account, mailbox, Uid(1)..=Uid(u32::MAX))
            .await?
        {
            by_key
                .entry((e.internal_date, e.size))
                .or_default()
                .push(e.uid);
        }
        Ok(Present(by_key))
    }

    /// Whether a message with these bytes and this date is present and not matched yet; a
    /// match is used up, so two equal files still need two equal messages.
    async fn take(
        &mut self,
        store: &Store,
        account: &str,
        mailbox: &str,
        date: i64,
        bytes: &[u8],
    ) -> Result<bool> {
        let Ok(size) = u32::try_from(bytes.len()) else {
            return Ok(false);
        };
        let Some(candidates) = self.0.get_mut(&(date, size)) else {
            return Ok(false);
        };
        for i in 0..candidates.len() {
            let body = store.read(account, mailbox, candidates[i]).await?;
            if *body == *bytes {
                candidates.swap_remove(i);
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Import the Maildir at `path` into `account` (created if new), calling `progress` after
/// every message. Must run on the account's home shard.
pub async fn maildir(
    store: &Store,
    account: &str,
    path: &Path,
    mut progress: impl FnMut(&Progress<'_>),
) -> Result<Report> {
    let account = canonical_account(account)?;
    let folders = find_folders(path)?;
    let mut plan = Vec::new();
    for f in &folders {
        plan.push(messages_of(f)?);
    }
    let total: u64 = plan.iter().map(|m| m.len() as u64).sum();
    // A new account takes its mailboxes' original UIDVALIDITY values.
    let validities: HashMap<String, UidValidity> = folders
        .iter()
        .filter_map(|f| f.uid_validity.map(|v| (f.name.clone(), v)))
        .collect();
    store.open_account_with(&account, &validities).await?;
    let mut report = Report {
        folders: folders.len(),
        ..Report::default()
    };
    for (f, mails) in folders.iter().zip(plan) {
        if store.mailbox_id(&account, &f.name).await.is_err() {
            store
                .create_mailbox_with(&account, &f.name, f.uid_validity)
                .await?;
        }
        let mut next = store.status(&account, &f.name).await?.uid_next.0;
        let mut present = Present::of(store, &account, &f.name).await?;
        let mut window = VecDeque::new();
        for m in mails {
            // Maildir files are usually LF-only; stored mail is CRLF (RFC 5322 §2.1) so that
            // RFC822.SIZE, POP3 LIST and the bytes a FETCH or RETR sends all agree.
            let bytes = crate::wire::crlf(std::fs::read(&m.path)?);
            let date = mtime(&m.path);
            if present.take(store, &account, &f.name, date, &bytes).await? {
                report.skipped += 1;
                continue;
            }
            report.bytes += bytes.len() as u64;
            let uid = match m.uid {
                Some(u) if u >= next => {
                    next = u + 1;
                    Some(Uid(u))
                }
                Some(_) => {
                    report.renumbered += 1;
                    None
                }
                None => None,
            };
            let (store, account, name) = (store.clone(), account.clone(), f.name.clone());
            // Tasks start in spawn order, so UIDs are reserved in this (ascending) order.
            window.push_back(io::spawn(async move {
                match uid {
                    Some(uid) => {
                        store
                            .append_with_uid(&account, &name, uid, &bytes, m.flags, date)
                            .await
                    }
                    None => store.append(&account, &name, &bytes, m.flags, date).await,
                }
            }));
            if window.len() >= WINDOW {
                if let Some(t) = window.pop_front() {
                    t.await?;
                    report.messages += 1;
                    progress(&Progress {
                        folder: &f.name,
                        done: report.messages + report.skipped,
                        total,
                    });
                }
            }
        }
        while let Some(t) = window.pop_front() {
            t.await?;
            report.messages += 1;
            progress(&Progress {
                folder: &f.name,
                done: report.messages + report.skipped,
                total,
            });
        }
        if let Some(n) = f.uid_next.filter(|n| n.0 > next) {
            store.raise_uid_next(&account, &f.name, n).await?;
        }
    }
    if report.messages + report.skipped != total {
        return Err(StoreError::corrupt("import", "message count mismatch"));
    }
    Ok(report)
}

/// Run [`maildir`] with a store of its own (the command-line import, with the server
/// stopped, on an executor the caller provides): the store of `account`'s home shard under
/// `root`, with the server's shard map, so the account's partition is where the server will
/// look for it. Checkpoints the store before it returns.
pub async fn maildir_offline(
    root: PathBuf,
    map: ShardMap,
    config: StoreConfig,
    account: &str,
    path: &Path,
    mut progress: impl FnMut(&Progress<'_>),
) -> Result<Report> {
    let shard = map.home_shard(&canonical_account(account)?);
    let store = Store::new(root, shard, map, config);
    let report = maildir(&store, account, path, &mut progress).await;
    // A checkpoint, so the server's first start replays nothing.
    let closed = store.close().await;
    let report = report?;
    closed.map(|()| report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uidlist_v3_and_v1() {
        let l = parse_uidlist("3 V1234 N5 G0123\n1 :a.M1\n4 W10 S9 :b.M2\n");
        assert_eq!(l.uid_validity, Some(UidValidity(1234)));
        assert_eq!(l.uid_next, Some(Uid(5)));
        assert_eq!(l.uids.get("a.M1"), Some(&1));
        assert_eq!(l.uids.get("b.M2"), Some(&4));
        let l = parse_uidlist("1 99 3\n2 c.M3\n");
        assert_eq!(l.uid_validity, Some(UidValidity(99)));
        assert_eq!(l.uid_next, Some(Uid(3)));
        assert_eq!(l.uids.get("c.M3"), Some(&2));
    }

    #[test]
    fn maildir_info_flags() {
        let f = flags_of("123.M1.host:2,FPRST");
        assert_eq!(
            f.system,
            SystemFlags::FLAGGED
                .union(SystemFlags::ANSWERED)
                .union(SystemFlags::SEEN)
                .union(SystemFlags::DELETED)
        );
        let keywords: Vec<&str> = f.keywords.iter().map(Keyword::as_str).collect();
        assert_eq!(keywords, ["$Forwarded"]);
        assert_eq!(flags_of("123.M1.host"), Flags::default());
    }
}
