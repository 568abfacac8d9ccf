//! CATENATE (RFC 4469): an APPEND message put together from literal text and parts of the
//! user's stored messages, named by IMAP URLs. Each URL is resolved with the requests FETCH
//! uses (a STATUS first when the URL names a UIDVALIDITY); the message is appended once whole.

use std::collections::VecDeque;

use super::super::command::{AppendMessage, CatPart, ImapUrl, Tag};
use super::super::fetch;
use super::super::response::{Code, Status};
use super::commands::{AppendJob, Pending};
use super::view::Expunges;
use super::ImapSession;
use crate::mail::Uid;
use crate::mailbox::{AppendBody, Content, MailboxError, MailboxReply, MailboxRequest};

/// A CATENATE message being put together.
#[derive(Debug)]
pub(super) struct CatenateJob {
    /// The APPEND it belongs to (its other messages, what it appended so far).
    pub(super) append: AppendJob,
    /// This message's flags and date (its data is `built`).
    pub(super) message: AppendMessage,
    pub(super) parts: VecDeque<CatPart>,
    pub(super) built: Vec<u8>,
    /// A TEXT part holds a NUL (a literal8): the result is stored exactly as put together.
    pub(super) binary: bool,
}

impl ImapSession {
    /// Start putting a CATENATE message together.
    pub(super) fn start_catenate(
        &mut self,
        append: AppendJob,
        message: AppendMessage,
        parts: Vec<CatPart>,
    ) {
        // A NUL can only come from a literal8 or a binary part: then the bytes are kept
        // exactly, else bare LFs become CRLF as for any APPEND.
        let binary = parts
            .iter()
            .any(|p| matches!(p, CatPart::Text(t) if t.contains(&0)));
        let job = CatenateJob {
            append,
            message,
            parts: parts.into(),
            built: Vec::new(),
            binary,
        };
        self.next_catenate(job);
    }

    /// Take the next parts: text at once, a URL by asking for its message.
    pub(super) fn next_catenate(&mut self, mut job: CatenateJob) {
        let max = self.config.limits.max_message_size;
        while let Some(part) = job.parts.pop_front() {
            match part {
                CatPart::Text(text) => {
                    if job.built.len() + text.len() > max {
                        return self.catenate_failed(job, CatenateError::TooBig);
                    }
                    job.built.extend_from_slice(&text);
                }
                CatPart::Url(url) => {
                    if url.uid == Uid(0) {
                        return self.catenate_failed(job, CatenateError::BadUrl(url.raw));
                    }
                    let request = match url.uid_validity {
                        Some(_) => MailboxRequest::Status {
                            mailbox: url.mailbox.clone(),
                        },
                        None => fetch_request(&url),
                    };
                    let checked = url.uid_validity.is_none();
                    let (job, url) = (Box::new(job), Box::new(url));
                    self.request(Pending::Catenate { job, url, checked }, request);
                    return;
                }
            }
        }
        let body = std::mem::take(&mut job.built);
        let message = if job.binary {
            AppendBody::Binary(body)
        } else {
            AppendBody::Bytes(body)
        };
        self.append_body(job.append, message, &job.message);
    }

    /// The answer for one URL: its mailbox's UIDVALIDITY, then its message.
    pub(super) fn catenate_reply(
        &mut self,
        mut job: CatenateJob,
        url: ImapUrl,
        checked: bool,
        reply: MailboxReply,
    ) {
        match reply {
            MailboxReply::Status(s) if !checked => {
                if Some(s.uid_validity.0) != url.uid_validity {
                    return self.catenate_failed(job, CatenateError::BadUrl(url.raw));
                }
                let request = fetch_request(&url);
                self.request(
                    Pending::Catenate {
                        job: Box::new(job),
                        url: Box::new(url),
                        checked: true,
                    },
                    request,
                );
            }
            MailboxReply::Fetched { messages, .. } if checked => {
                let Some(msg) = messages.iter().find(|m| m.meta.uid == url.uid) else {
                    // Expunged, or never there.
                    return self.catenate_failed(job, CatenateError::BadUrl(url.raw));
                };
                let data = match &url.section {
                    Some(s) => fetch::section_bytes(msg, &s.part, s.text.as_ref()),
                    None => msg.bytes.as_ref().map(|b| b.to_vec()).unwrap_or_default(),
                };
                let data = match url.partial {
                    Some(p) => {
                        let start = usize::try_from(p.offset)
                            .unwrap_or(usize::MAX)
                            .min(data.len());
                        let len = usize::try_from(p.length.get()).unwrap_or(usize::MAX);
                        data[start..start.saturating_add(len).min(data.len())].to_vec()
                    }
                    None => data,
                };
                if job.built.len() + data.len() > self.config.limits.max_message_size {
                    return self.catenate_failed(job, CatenateError::TooBig);
                }
                job.built.extend_from_slice(&data);
                self.next_catenate(job);
            }
            MailboxReply::Failed(MailboxError::Unavailable(why)) => {
                self.catenate_failed(job, CatenateError::Store(MailboxError::Unavailable(why)))
            }
            // No such mailbox, or an answer that does not fit: the URL names nothing.
            _ => self.catenate_failed(job, CatenateError::BadUrl(url.raw)),
        }
    }

    /// The message cannot be put together: nothing of this APPEND stays (RFC 3502 all or
    /// nothing: what it appended before goes again).
    fn catenate_failed(&mut self, job: CatenateJob, error: CatenateError) {
        let tag = job.append.tag.clone();
        if !job.append.uids.is_empty() {
            let uids = job.append.uids.iter().map(|&u| Uid(u)).collect();
            let request = MailboxRequest::Discard {
                mailbox: job.append.mailbox.clone(),
                uids,
            };
            self.request(Pending::CatenateUndo { tag, error }, request);
            return;
        }
        self.finish_catenate_failed(tag, error);
    }

    pub(super) fn finish_catenate_failed(&mut self, tag: Tag, error: CatenateError) {
        self.drop_streams();
        match error {
            CatenateError::BadUrl(url) => {
                // `url-resp-text` has no `]`, CR or LF.
                let url: String = url
                    .chars()
                    .filter(|c| !matches!(c, ']' | '\r' | '\n' | '\0'))
                    .collect();
                self.finish(
                    tag,
                    Status::No,
                    Some(Code::BadUrl(url)),
                    "The URL names no message part of yours",
                    Expunges::Report,
                );
            }
            CatenateError::TooBig => self.finish(
                tag,
                Status::No,
                Some(Code::TooBig),
                "Message too large",
                Expunges::Report,
            ),
            CatenateError::Store(e) => self.failed(tag, e, Expunges::Report),
        }
    }
}

/// Why a CATENATE failed.
#[derive(Debug)]
pub(super) enum CatenateError {
    BadUrl(String),
    TooBig,
    Store(MailboxError),
}

fn fetch_request(url: &ImapUrl) -> MailboxRequest {
    MailboxRequest::Fetch {
        mailbox: url.mailbox.clone(),
        uids: vec![url.uid],
        content: Content::Bytes,
    }
}
