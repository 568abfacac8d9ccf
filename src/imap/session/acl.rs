//! ACL (RFC 4314) and LIST-MYRIGHTS (RFC 8440): SETACL, DELETEACL, GETACL, LISTRIGHTS and
//! MYRIGHTS become typed requests; the service checks the rights and answers with the ACL
//! or a set of rights, which become `* ACL`, `* LISTRIGHTS` and `* MYRIGHTS` here.

use super::super::command::{Mailbox, SetAcl, Tag};
use super::super::fetch;
use super::commands::{store_name, Pending};
use super::ImapSession;
use crate::mail::acl::{AclEntry, Rights};
use crate::mailbox::{MailboxReply, MailboxRequest};

/// What an ACL command waits for.
#[derive(Debug)]
pub(super) enum AclJob {
    Get,
    Set(&'static str),
    ListRights { identifier: String },
    MyRights,
}

/// An identifier or a set of rights as an astring: an atom when it can be one.
fn astring(out: &mut Vec<u8>, s: &str) {
    let atom = !s.is_empty()
        && s.bytes()
            .all(|b| b > b' ' && b < 0x7f && !b"(){%*\"\\]".contains(&b));
    if atom {
        out.extend_from_slice(s.as_bytes());
    } else {
        fetch::string(out, s.as_bytes());
    }
}

impl ImapSession {
    pub(super) fn setacl(&mut self, tag: Tag, set: SetAcl) {
        let name = store_name(&set.mailbox);
        self.request(
            Pending::Acl {
                tag,
                name: name.clone(),
                job: AclJob::Set("SETACL completed"),
            },
            MailboxRequest::SetAcl {
                mailbox: name,
                identifier: set.identifier,
                change: Some(set.change),
            },
        );
    }

    pub(super) fn deleteacl(&mut self, tag: Tag, mailbox: &Mailbox, identifier: String) {
        let name = store_name(mailbox);
        self.request(
            Pending::Acl {
                tag,
                name: name.clone(),
                job: AclJob::Set("DELETEACL completed"),
            },
            MailboxRequest::SetAcl {
                mailbox: name,
                identifier,
                change: None,
            },
        );
    }

    pub(super) fn getacl(&mut self, tag: Tag, mailbox: &Mailbox) {
        let name = store_name(mailbox);
        self.request(
            Pending::Acl {
                tag,
                name: name.clone(),
                job: AclJob::Get,
            },
            MailboxRequest::GetAcl { mailbox: name },
        );
    }

    pub(super) fn listrights(&mut self, tag: Tag, mailbox: &Mailbox, identifier: String) {
        let name = store_name(mailbox);
        self.request(
            Pending::Acl {
                tag,
                name: name.clone(),
                job: AclJob::ListRights {
                    identifier: identifier.clone(),
                },
            },
            MailboxRequest::ListRights {
                mailbox: name,
                identifier,
            },
        );
    }

    pub(super) fn myrights(&mut self, tag: Tag, mailbox: &Mailbox) {
        let name = store_name(mailbox);
        self.request(
            Pending::Acl {
                tag,
                name: name.clone(),
                job: AclJob::MyRights,
            },
            MailboxRequest::MyRights { mailbox: name },
        );
    }

    /// `* MYRIGHTS mailbox rights` (RFC 4314 §3.8).
    pub(super) fn myrights_line(&mut self, name: &str, rights: Rights) {
        self.out.extend_from_slice(b"* MYRIGHTS ");
        self.put_name(name);
        self.out.push(b' ');
        astring(&mut self.out, &rights.to_string());
        self.out.extend_from_slice(b"\r\n");
    }

    /// The service answered an ACL command.
    pub(super) fn acl_reply(&mut self, tag: Tag, name: String, job: AclJob, reply: MailboxReply) {
        match (job, reply) {
            (AclJob::Set(done), MailboxReply::Done) => self.ok(tag, done),
            (AclJob::Get, MailboxReply::Acl(entries)) => {
                self.acl_line(&name, &entries);
                self.ok(tag, "GETACL completed");
            }
            (AclJob::ListRights { identifier }, MailboxReply::Rights(required)) => {
                // RFC 4314 §3.7: the rights always granted (every one for the owner), then
                // each right that can be granted on its own: none is tied to another.
                self.out.extend_from_slice(b"* LISTRIGHTS ");
                self.put_name(&name);
                self.out.push(b' ');
                astring(&mut self.out, &identifier);
                self.out.push(b' ');
                astring(&mut self.out, &required.to_string());
                if required != Rights::ALL {
                    self.out.extend_from_slice(b" l r s w i p k x t e a c d");
                }
                self.out.extend_from_slice(b"\r\n");
                self.ok(tag, "LISTRIGHTS completed");
            }
            (AclJob::MyRights, MailboxReply::Rights(rights)) => {
                self.myrights_line(&name, rights);
                self.ok(tag, "MYRIGHTS completed");
            }
            (job, reply) => self.acl_failed(tag, job, reply),
        }
    }

    fn acl_failed(&mut self, tag: Tag, job: AclJob, reply: MailboxReply) {
        let _ = job;
        let error = match reply {
            MailboxReply::Failed(e) => e,
            other => {
                tracing::error!(?other, "mismatched ACL reply");
                crate::mailbox::MailboxError::Unavailable(String::new())
            }
        };
        self.failed(tag, error, super::view::Expunges::Report);
    }

    /// `* ACL mailbox *(SP identifier SP rights)` (RFC 4314 §3.6).
    fn acl_line(&mut self, name: &str, entries: &[AclEntry]) {
        self.out.extend_from_slice(b"* ACL ");
        self.put_name(name);
        for e in entries {
            self.out.push(b' ');
            astring(&mut self.out, &e.identifier);
            self.out.push(b' ');
            astring(&mut self.out, &e.rights.to_string());
        }
        self.out.extend_from_slice(b"\r\n");
    }
}
