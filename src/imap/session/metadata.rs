//! METADATA and METADATA-SERVER (RFC 5464): GETMETADATA and SETMETADATA, and how their
//! replies become responses. The service answers a GETMETADATA with every annotation of the
//! mailbox (or server); the session picks the entries asked for, with DEPTH and MAXSIZE.

use std::collections::BTreeMap;

use super::super::command::{GetMetadata, Mailbox, SetMetadata, Tag};
use super::super::fetch;
use super::super::response::{Code, Response, Status};
use super::commands::{store_name, Pending};
use super::view::Expunges;
use super::ImapSession;
use crate::mail::metadata::{within, Annotation};
use crate::mailbox::MailboxRequest;

/// The mailbox a METADATA command names; `None` for the server (`""`, RFC 5464 §3.2).
fn target(m: &Mailbox) -> Option<String> {
    let name = store_name(m);
    (!name.is_empty()).then_some(name)
}

/// An entry name as an astring: an atom unless it holds a character an atom cannot.
fn entry(out: &mut Vec<u8>, name: &str) {
    if name.bytes().any(|b| b"(){\"\\]".contains(&b)) {
        fetch::string(out, name.as_bytes());
    } else {
        out.extend_from_slice(name.as_bytes());
    }
}

/// `value = nstring / literal8`: a literal8 for a value with NUL in it.
fn value(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        None => out.extend_from_slice(b"NIL"),
        Some(v) if v.contains(&0) => {
            out.extend_from_slice(format!("~{{{}}}\r\n", v.len()).as_bytes());
            out.extend_from_slice(v);
        }
        Some(v) => fetch::string(out, v),
    }
}

impl ImapSession {
    pub(super) fn getmetadata(&mut self, tag: Tag, get: GetMetadata) {
        let mailbox = target(&get.mailbox);
        let name = mailbox.clone().unwrap_or_default();
        self.request(
            Pending::Metadata { tag, name, get },
            MailboxRequest::GetMetadata { mailbox },
        );
    }

    pub(super) fn setmetadata(&mut self, tag: Tag, set: SetMetadata) {
        let mailbox = target(&set.mailbox);
        // The server's shared entries (`/shared/comment`, `/shared/admin`) are the
        // administrator's, from the configuration; a user sets only private ones there.
        if mailbox.is_none() && set.entries.iter().any(|e| e.name.starts_with("/shared/")) {
            self.finish(
                tag,
                Status::No,
                Some(Code::NoPerm),
                "Shared server annotations are set by the administrator",
                Expunges::Report,
            );
            return;
        }
        self.request(
            Pending::Simple {
                tag,
                done: "SETMETADATA completed",
            },
            MailboxRequest::SetMetadata {
                mailbox,
                entries: set.entries,
            },
        );
    }

    /// `* METADATA mailbox (entry value …)` with the entries asked for: each requested entry
    /// that does not exist as NIL (as Dovecot and Cyrus answer), the entries DEPTH reaches
    /// below it, and no value longer than MAXSIZE (the longest left out is told with
    /// `OK [METADATA LONGENTRIES n]`, §4.2.1). Nothing at all when nothing is left.
    pub(super) fn metadata_reply(
        &mut self,
        tag: Tag,
        name: &str,
        get: &GetMetadata,
        entries: &[Annotation],
    ) {
        let mut found: BTreeMap<&str, Option<&[u8]>> = BTreeMap::new();
        let mut longest = 0usize;
        for want in &get.entries {
            let mut exists = false;
            for e in entries.iter().filter(|e| within(&e.name, want, get.depth)) {
                exists |= e.name == *want;
                let v = e.value.as_deref().unwrap_or_default();
                if get.max_size.is_some_and(|max| v.len() > max as usize) {
                    longest = longest.max(v.len());
                    continue;
                }
                found.insert(&e.name, Some(v));
            }
            // `/private` and `/shared` alone name a subtree, never an entry.
            let root = want == "/private" || want == "/shared";
            if !exists && !root {
                found.entry(want).or_insert(None);
            }
        }
        if !found.is_empty() {
            self.out.extend_from_slice(b"* METADATA ");
            self.put_name(name);
            self.out.extend_from_slice(b" (");
            for (i, (e, v)) in found.into_iter().enumerate() {
                if i > 0 {
                    self.out.push(b' ');
                }
                entry(&mut self.out, e);
                self.out.push(b' ');
                value(&mut self.out, v);
            }
            self.out.extend_from_slice(b")\r\n");
        }
        let code = (longest > 0).then_some(Code::MetadataLongEntries(longest as u64));
        self.send(Response::tagged(
            tag,
            Status::Ok,
            code,
            "GETMETADATA completed",
        ));
    }
}
