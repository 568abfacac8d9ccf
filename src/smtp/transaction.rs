//! The SMTP mail transaction (RFC 5321 §3.3): MAIL, RCPT, then DATA (§4.1.1.4) or BDAT
//! chunks (RFC 3030), ending in [`DeliveryRequest::Deliver`] and the reply to it. Recipients in local
//! domains are resolved by the driver ([`DeliveryRequest::CheckRecipient`]); nothing is delivered here.

use super::command::{ForwardPath, MailFrom, Mailbox, RcptTo, ReversePath, SyntaxError};
use super::dsn::{MessageDsn, RecipientDsn};
use super::message::{ChunkReader, DotDecoder, Flaw, MessageSink};
use super::reply::{line, Refusal};
use super::service::{Delivery, DeliveryOutcome, DeliveryRequest, RecipientStatus};
use super::session::{Input, Machine, SmtpKind, Waiting};
use crate::session::Event;

/// One mail transaction, from an accepted MAIL to the reply after its content.
#[derive(Debug)]
pub(super) struct Transaction {
    /// The envelope sender; empty for `<>`.
    reverse_path: String,
    /// RFC 6531 §3.4: UTF-8 addresses are allowed in this transaction.
    smtputf8: bool,
    /// Canonical local accounts, deduplicated, in RCPT order.
    local: Vec<String>,
    /// Accepted non-local recipients (submission only), deduplicated, in RCPT order.
    remote: Vec<String>,
    /// RFC 3461: RET, ENVID and each recipient's NOTIFY/ORCPT (parallel to `local` and
    /// `remote`), and those of the RCPT whose local check is awaited.
    dsn: MessageDsn,
    pending_dsn: RecipientDsn,
    /// The content, once DATA or the first BDAT started it.
    content: Option<Content>,
}

#[derive(Debug)]
struct Content {
    sink: MessageSink,
    framing: Framing,
}

#[derive(Debug)]
enum Framing {
    Data(DotDecoder),
    Chunks(ChunkReader),
}

/// A refused BDAT chunk up to this size (or up to the message size limit, if larger) is read
/// and dropped; a larger one ends the connection.
const DISCARD_MAX: u64 = 64 << 10;

impl Transaction {
    /// Whether MAIL carried SMTPUTF8 (the `Received:` protocol name depends on it).
    pub(super) fn smtputf8(&self) -> bool {
        self.smtputf8
    }

    fn recipients(&self) -> usize {
        self.local.len() + self.remote.len()
    }
}

impl Machine {
    /// MAIL FROM (RFC 5321 §4.1.1.2), with SIZE (RFC 1870), BODY (RFC 6152) and SMTPUTF8
    /// (RFC 6531).
    pub(super) fn mail(&mut self, mail: MailFrom) {
        let Some(client) = &self.client else {
            return self.refuse(Refusal::NeedHelo);
        };
        if self.kind == SmtpKind::Submission && self.account.is_none() {
            return self.refuse(Refusal::AuthRequired);
        }
        if self.transaction.is_some() {
            return self.refuse(Refusal::NestedMail);
        }
        // Parameters are service extensions, which only EHLO announces (RFC 5321 §4.1.1.11).
        if !client.extended && mail.has_parameters() {
            return self.refuse(Refusal::Syntax(SyntaxError::UnknownParameter));
        }
        let limit = u64::try_from(self.config.limits.max_message_size).unwrap_or(u64::MAX);
        if mail.size.is_some_and(|size| size > limit) {
            return self.refuse(Refusal::DeclaredSizeTooBig);
        }
        // RFC 8689 §4.1: REQUIRETLS is offered over TLS only.
        if mail.requiretls && !self.security.is_tls() {
            return self.refuse(Refusal::Syntax(SyntaxError::UnknownParameter));
        }
        let reverse_path = match &mail.reverse_path {
            ReversePath::Null => String::new(),
            ReversePath::Mailbox(mailbox) => {
                if !mailbox.is_ascii() && !mail.smtputf8 {
                    return self.refuse(Refusal::Utf8AddressNeedsSmtputf8);
                }
                mailbox.to_string()
            }
        };
        if self.kind == SmtpKind::Submission {
            // RFC 6409 §6.1: the sender is the authenticated account; bounces (`<>`) are
            // never submitted by users.
            let owned = self
                .account
                .as_deref()
                .is_some_and(|account| account.eq_ignore_ascii_case(&reverse_path));
            if !owned {
                return self.refuse(Refusal::SenderNotOwned);
            }
        }
        // BODY=7BIT and BODY=8BITMIME are both accepted and change nothing: the content is
        // stored as received (RFC 6152 §3 asks for no conversion).
        self.transaction = Some(Transaction {
            reverse_path,
            smtputf8: mail.smtputf8,
            local: Vec::new(),
            remote: Vec::new(),
            dsn: MessageDsn {
                ret: mail.ret,
                envid: mail.envid,
                requiretls: mail.requiretls,
                ..MessageDsn::default()
            },
            pending_dsn: RecipientDsn::default(),
            content: None,
        });
        line(&mut self.out, "250 2.1.0 OK");
    }

    /// RCPT TO (RFC 5321 §4.1.1.3). A local domain is resolved by the driver; anything else is
    /// relaying, allowed only to authenticated submission.
    pub(super) fn rcpt(&mut self, rcpt: RcptTo) {
        let Some(transaction) = &mut self.transaction else {
            return self.refuse(Refusal::NeedMail);
        };
        // Like every parameter, only after EHLO (RFC 5321 §4.1.1.11).
        if rcpt.dsn != RecipientDsn::default() && !self.client.as_ref().is_some_and(|c| c.extended)
        {
            return self.refuse(Refusal::Syntax(SyntaxError::UnknownParameter));
        }
        let mailbox = match rcpt.forward_path {
            // RFC 5321 §4.5.1: `<Postmaster>` is the postmaster of the first local domain.
            ForwardPath::Postmaster => match self.config.local_domains.first() {
                Some(domain) => Mailbox {
                    local_part: "postmaster".to_string(),
                    domain: domain.clone(),
                },
                None => return self.refuse(Refusal::UnknownUser),
            },
            ForwardPath::Mailbox(mailbox) => mailbox,
        };
        if !mailbox.is_ascii() && !transaction.smtputf8 {
            return self.refuse(Refusal::Utf8AddressNeedsSmtputf8);
        }
        if transaction.recipients() >= self.config.limits.max_recipients {
            return self.refuse(Refusal::TooManyRecipients);
        }
        let address = mailbox.to_string();
        if self.config.is_local_domain(&mailbox.domain) {
            transaction.pending_dsn = rcpt.dsn;
            self.waiting = Some(Waiting::Recipient);
            self.events
                .push_back(Event::Request(DeliveryRequest::CheckRecipient(address)));
        } else if self.kind == SmtpKind::Submission && self.account.is_some() {
            // Accepted for the outbound queue.
            if !transaction.remote.contains(&address) {
                transaction.remote.push(address);
                transaction.dsn.remote.push(rcpt.dsn);
            }
            line(&mut self.out, "250 2.1.5 OK");
        } else {
            self.refuse(Refusal::RelayDenied);
        }
    }

    /// The driver's answer to [`DeliveryRequest::CheckRecipient`].
    pub(super) fn recipient_status(&mut self, status: RecipientStatus) {
        let Some(transaction) = &mut self.transaction else {
            // Cannot happen: nothing resets the transaction while the answer is awaited.
            return self.refuse(Refusal::TemporaryFailure);
        };
        match status {
            RecipientStatus::Local { account } => {
                if !transaction.local.contains(&account) {
                    transaction.local.push(account);
                    transaction
                        .dsn
                        .local
                        .push(std::mem::take(&mut transaction.pending_dsn));
                }
                line(&mut self.out, "250 2.1.5 OK");
            }
            RecipientStatus::UnknownLocal => self.refuse(Refusal::UnknownUser),
            RecipientStatus::MailboxFull => self.refuse(Refusal::MailboxFull),
            RecipientStatus::TemporaryFailure => self.refuse(Refusal::TemporaryFailure),
        }
    }

    /// DATA (RFC 5321 §4.1.1.4): `354`, then the content is read by [`Machine::data_input`].
    pub(super) fn data(&mut self) {
        let limit = self.config.limits.max_message_size;
        let Some(transaction) = &mut self.transaction else {
            return self.refuse(Refusal::NeedMail);
        };
        if transaction.content.is_some() {
            return self.refuse(Refusal::DataAfterBdat);
        }
        if transaction.recipients() == 0 {
            return self.refuse(Refusal::NoValidRecipients);
        }
        transaction.content = Some(Content {
            sink: MessageSink::new(limit),
            framing: Framing::Data(DotDecoder::new(self.config.limits.bare_lf)),
        });
        self.input = Input::Data;
        line(&mut self.out, "354 End data with <CR><LF>.<CR><LF>");
    }

    /// Content after `354`. Returns how many bytes of `input` it used when the end of data
    /// was among them.
    pub(super) fn data_input(&mut self, input: &[u8]) -> Option<usize> {
        let Some(Content {
            sink,
            framing: Framing::Data(decoder),
        }) = self.transaction.as_mut().and_then(|t| t.content.as_mut())
        else {
            // Cannot happen: Input::Data is set only with DATA content. Read commands again.
            self.input = Input::Commands;
            return Some(0);
        };
        let used = decoder.decode(input, sink)?;
        self.input = Input::Commands;
        self.end_of_message();
        Some(used)
    }

    /// BDAT (RFC 3030 §2). The chunk's octets are read, even when the command is refused, so
    /// that none of them is ever taken for a command; a chunk larger than any message accepted
    /// here (and than 64 KiB) is refused at once and the connection closed instead, so a peer
    /// cannot keep us reading, unanswered, for as long as it sends.
    pub(super) fn bdat(&mut self, size: u64, last: bool) {
        let limit = self.config.limits.max_message_size;
        if size > (limit as u64).max(DISCARD_MAX) {
            self.transaction = None;
            return self.refuse(Refusal::ChunkTooBig);
        }
        let refusal = match &mut self.transaction {
            None => Some(Refusal::NeedMail),
            Some(t) if t.recipients() == 0 => Some(Refusal::NoValidRecipients),
            Some(t) => {
                let content = t.content.get_or_insert_with(|| Content {
                    sink: MessageSink::new(limit),
                    framing: Framing::Chunks(ChunkReader::new()),
                });
                if content.sink.would_exceed(size) {
                    // Known now, answered after the chunk, which is read but not kept. The
                    // failed BDAT ends the transaction (RFC 3030 §2): later chunks get 503.
                    self.transaction = None;
                    Some(Refusal::Message(Flaw::TooBig))
                } else {
                    None
                }
            }
        };
        self.input = Input::Chunk {
            remaining: size,
            size,
            last,
            refusal,
        };
    }

    /// Octets of the current BDAT chunk.
    pub(super) fn chunk_input(&mut self, data: &[u8]) {
        let Input::Chunk {
            remaining, refusal, ..
        } = &mut self.input
        else {
            return;
        };
        *remaining -= data.len() as u64;
        if refusal.is_some() {
            return;
        }
        if let Some(Content {
            sink,
            framing: Framing::Chunks(reader),
        }) = self.transaction.as_mut().and_then(|t| t.content.as_mut())
        {
            reader.read(data, sink);
        }
    }

    /// The current BDAT chunk has been read: reply to it.
    pub(super) fn chunk_done(&mut self) {
        let Input::Chunk {
            size,
            last,
            refusal,
            ..
        } = self.input
        else {
            return;
        };
        self.input = Input::Commands;
        if let Some(refusal) = refusal {
            return self.refuse(refusal);
        }
        if !last {
            let reply = format!("250 2.0.0 {size} octets received");
            return line(&mut self.out, &reply);
        }
        if let Some(Content {
            sink,
            framing: Framing::Chunks(reader),
        }) = self.transaction.as_mut().and_then(|t| t.content.as_mut())
        {
            reader.finish(sink);
        }
        self.end_of_message();
    }

    /// The content is complete: refuse it, or ask the driver to deliver it. The transaction
    /// lasts until the reply (so [`Transaction::smtputf8`] can still be read).
    fn end_of_message(&mut self) {
        let Some(transaction) = &mut self.transaction else {
            return;
        };
        let Some(content) = transaction.content.take() else {
            return;
        };
        let message = match content.sink.finish(self.config.limits.max_hops) {
            Ok(message) => message,
            // The transaction is over either way (RFC 5321 §4.1.1.4).
            Err(flaw) => {
                self.transaction = None;
                return self.refuse(Refusal::Message(flaw));
            }
        };
        let protocol = self.protocol();
        let Some(transaction) = &mut self.transaction else {
            return;
        };
        let delivery = Delivery {
            kind: self.kind,
            protocol,
            reverse_path: std::mem::take(&mut transaction.reverse_path),
            local_recipients: std::mem::take(&mut transaction.local),
            remote_recipients: std::mem::take(&mut transaction.remote),
            dsn: std::mem::take(&mut transaction.dsn),
            helo: self
                .client
                .as_ref()
                .map(|c| c.domain.as_str().to_string())
                .unwrap_or_default(),
            authenticated: self.account.clone(),
            message,
        };
        self.waiting = Some(Waiting::Delivery);
        self.events
            .push_back(Event::Request(DeliveryRequest::Deliver(Box::new(delivery))));
    }

    /// The driver's answer to [`DeliveryRequest::Deliver`]: only now may the client hear `250`.
    pub(super) fn delivery_outcome(&mut self, outcome: DeliveryOutcome) {
        self.transaction = None;
        match outcome {
            DeliveryOutcome::Delivered { id } => {
                let reply = format!("250 2.0.0 Ok: queued as {id}");
                line(&mut self.out, &reply);
            }
            DeliveryOutcome::TemporaryFailure => self.refuse(Refusal::TemporaryFailure),
            DeliveryOutcome::OverQuota => self.refuse(Refusal::OverQuota),
            DeliveryOutcome::Refused(policy) => self.refuse(Refusal::Policy(policy)),
        }
    }
}
