//! One mail transaction (RFC 5321 §3.3): the checks that fail a message before anything is
//! sent, MAIL and its parameters, RCPT, DATA or BDAT (RFC 3030), pipelined when the server
//! allows (RFC 2920), and the outcome of every recipient.

use std::fmt;

use super::command::{self, canonical, dot_stuffed, is_writable_address, line, MailParameters};
use super::reply::{Class, Reply};
use super::session::{Expect, Machine, Phase};
use super::{BodyType, ClientEvent, Envelope, RecipientOutcome, TransactionResult};

/// A transaction in flight.
pub(super) struct Transaction {
    envelope: Envelope,
    /// What DATA or BDAT sends: canonical (CRLF line ends), or exactly as given for a
    /// BINARYMIME body.
    content: Vec<u8>,
    recipients: Vec<Progress>,
    /// MAIL, every RCPT and DATA/BDAT were written at once.
    pipelined: bool,
    /// BDAT rather than DATA.
    chunking: bool,
    /// The server accepted MAIL: it holds a transaction until the end of data or RSET.
    mail_accepted: bool,
    /// The server answered the end of data, or took BDAT LAST: its transaction is over.
    ended: bool,
}

impl fmt::Debug for Transaction {
    /// The content's length, not the message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("envelope", &self.envelope)
            .field("content", &self.content.len())
            .field("recipients", &self.recipients)
            .field("pipelined", &self.pipelined)
            .field("chunking", &self.chunking)
            .field("mail_accepted", &self.mail_accepted)
            .field("ended", &self.ended)
            .finish()
    }
}

/// Where one recipient stands.
#[derive(Debug, Clone)]
enum Progress {
    /// RCPT not written yet.
    Unsent,
    /// RCPT written, no reply yet.
    Sent,
    /// RCPT accepted: the reply to the data decides.
    Accepted,
    Decided(RecipientOutcome),
}

/// The outcome a reply gives (2xx delivered, 4xx deferred, 5xx failed).
fn outcome(reply: &Reply) -> RecipientOutcome {
    match reply.class() {
        Class::Positive => RecipientOutcome::Delivered(reply.clone()),
        Class::Transient => RecipientOutcome::Deferred(reply.clone()),
        Class::Intermediate | Class::Permanent => RecipientOutcome::Failed(reply.clone()),
    }
}

impl Transaction {
    /// Decide every recipient not yet decided nor accepted.
    fn decide_open(&mut self, outcome: &RecipientOutcome) {
        for progress in &mut self.recipients {
            if matches!(progress, Progress::Unsent | Progress::Sent) {
                *progress = Progress::Decided(outcome.clone());
            }
        }
    }

    /// Decide every accepted recipient by the reply to the data.
    fn decide_accepted(&mut self, reply: &Reply) {
        for progress in &mut self.recipients {
            if matches!(progress, Progress::Accepted) {
                *progress = Progress::Decided(outcome(reply));
            }
        }
    }

    fn any_accepted(&self) -> bool {
        self.recipients
            .iter()
            .any(|p| matches!(p, Progress::Accepted))
    }

    fn all_decided(&self) -> bool {
        self.recipients
            .iter()
            .all(|p| matches!(p, Progress::Decided(_)))
    }

    /// The result when the transaction ended in step (every recipient decided).
    fn result(self) -> TransactionResult {
        let lost = Reply::synthetic(451, (4, 5, 0), "No outcome for this recipient");
        self.abandon(&lost)
    }

    /// The result when the session ends early: what is not decided is deferred with `reply`.
    pub(super) fn abandon(self, reply: &Reply) -> TransactionResult {
        let recipients = self
            .recipients
            .into_iter()
            .map(|progress| match progress {
                Progress::Decided(outcome) => outcome,
                Progress::Unsent | Progress::Sent | Progress::Accepted => {
                    RecipientOutcome::Deferred(reply.clone())
                }
            })
            .collect();
        TransactionResult { recipients }
    }
}

impl Machine {
    /// Start a transaction (the session is ready and the envelope has recipients).
    pub(super) fn start(&mut self, envelope: Envelope, message: &[u8]) {
        let content = match envelope.body {
            BodyType::BinaryMime => message.to_vec(),
            BodyType::SevenBit | BodyType::EightBitMime => canonical(message),
        };
        let smtputf8 = envelope.smtputf8
            || !envelope.reverse_path.is_ascii()
            || envelope.recipients.iter().any(|r| !r.address.is_ascii());
        let mut t = Transaction {
            recipients: vec![Progress::Unsent; envelope.recipients.len()],
            pipelined: self.caps.pipelining,
            chunking: self.caps.chunking,
            mail_accepted: false,
            ended: false,
            envelope,
            content,
        };
        self.phase = Phase::Busy;
        if !is_writable_address(&t.envelope.reverse_path) {
            let reply = Reply::synthetic(553, (5, 1, 7), "Sender address not fit for SMTP");
            t.decide_open(&RecipientOutcome::Failed(reply));
        }
        for (progress, recipient) in t.recipients.iter_mut().zip(&t.envelope.recipients) {
            if recipient.address.is_empty() || !is_writable_address(&recipient.address) {
                let reply = Reply::synthetic(553, (5, 1, 3), "Recipient address not fit for SMTP");
                *progress = Progress::Decided(RecipientOutcome::Failed(reply));
            }
        }
        if let Some(reply) = self.unsendable(&t, smtputf8) {
            t.decide_open(&RecipientOutcome::Failed(reply));
        }
        if t.all_decided() {
            return self.finish(t);
        }
        let dsn = self.caps.dsn;
        let parameters = MailParameters {
            size: self.caps.size.map(|_| t.content.len()),
            body: Some(t.envelope.body),
            smtputf8,
            ret: t.envelope.ret.filter(|_| dsn),
            envid: t.envelope.envid.as_deref().filter(|_| dsn),
            requiretls: t.envelope.requiretls,
        };
        command::mail(&mut self.out, &t.envelope.reverse_path, &parameters);
        self.pending.push_back(Expect::Mail);
        if t.pipelined {
            // RFC 2920 §3.1: the whole envelope and DATA (or BDAT) in one group.
            while self.write_next_rcpt(&mut t) {}
            self.write_data_command(&t);
        }
        self.transaction = Some(t);
    }

    /// Why the server cannot take this message as it is, as the reply that fails every
    /// recipient; checked in the order the module docs give.
    fn unsendable(&self, t: &Transaction, smtputf8: bool) -> Option<Reply> {
        let caps = &self.caps;
        let envelope = &t.envelope;
        let size = t.content.len();
        if envelope.requiretls && !self.tls {
            Some(Reply::synthetic(
                554,
                (5, 7, 30),
                "REQUIRETLS needed but the connection is not TLS",
            ))
        } else if envelope.requiretls && !caps.requiretls {
            Some(Reply::synthetic(
                554,
                (5, 7, 30),
                "REQUIRETLS support required but not offered by the server",
            ))
        } else if caps
            .size
            .is_some_and(|limit| limit > 0 && size as u64 > limit)
        {
            let limit = caps.size.unwrap_or_default();
            Some(Reply::synthetic(
                552,
                (5, 3, 4),
                format!("Message of {size} octets too big for the server (SIZE {limit})"),
            ))
        } else if smtputf8 && !caps.smtputf8 {
            Some(Reply::synthetic(
                554,
                (5, 6, 7),
                "SMTPUTF8 needed but not offered by the server",
            ))
        } else if envelope.body == BodyType::EightBitMime && !caps.eight_bit_mime {
            Some(Reply::synthetic(
                554,
                (5, 6, 3),
                "8-bit message but the server does not offer 8BITMIME",
            ))
        } else if envelope.body == BodyType::BinaryMime && !(caps.chunking && caps.binary_mime) {
            Some(Reply::synthetic(
                554,
                (5, 6, 3),
                "Binary message but the server does not offer BINARYMIME and CHUNKING",
            ))
        } else {
            None
        }
    }

    /// Write the next RCPT, if a recipient is left; `false` when none is.
    fn write_next_rcpt(&mut self, t: &mut Transaction) -> bool {
        let Some(i) = t
            .recipients
            .iter()
            .position(|p| matches!(p, Progress::Unsent))
        else {
            return false;
        };
        command::rcpt(&mut self.out, &t.envelope.recipients[i], self.caps.dsn);
        t.recipients[i] = Progress::Sent;
        self.pending.push_back(Expect::Rcpt(i));
        true
    }

    /// DATA, or `BDAT <n> LAST` with the whole message (RFC 3030 §2: no dot-stuffing).
    fn write_data_command(&mut self, t: &Transaction) {
        if t.chunking {
            line(&mut self.out, &format!("BDAT {} LAST", t.content.len()));
            self.out.extend_from_slice(&t.content);
            self.pending.push_back(Expect::Bdat);
        } else {
            line(&mut self.out, "DATA");
            self.pending.push_back(Expect::Data);
        }
    }

    /// A reply to MAIL, RCPT, DATA, the end of data or BDAT.
    pub(super) fn transaction_reply(&mut self, expect: Expect, reply: Reply) {
        let Some(mut t) = self.transaction.take() else {
            return self.out_of_step("a transaction that is over", &reply);
        };
        let class = reply.class();
        match expect {
            Expect::Mail => match class {
                Class::Positive => t.mail_accepted = true,
                Class::Transient | Class::Permanent => t.decide_open(&outcome(&reply)),
                Class::Intermediate => return self.abandon(t, "MAIL", &reply),
            },
            // After a refused MAIL the pipelined RCPTs' replies (503) say nothing more.
            Expect::Rcpt(i) if t.mail_accepted => match class {
                Class::Positive => t.recipients[i] = Progress::Accepted,
                Class::Transient | Class::Permanent => {
                    t.recipients[i] = Progress::Decided(outcome(&reply))
                }
                Class::Intermediate => return self.abandon(t, "RCPT", &reply),
            },
            Expect::Rcpt(_) => {}
            Expect::Data => match class {
                Class::Intermediate if reply.code == 354 => {
                    if t.any_accepted() {
                        dot_stuffed(&mut self.out, &t.content);
                    } else {
                        // RFC 2920 §3.1: DATA accepted though no RCPT was: a lone dot.
                        line(&mut self.out, ".");
                    }
                    self.pending.push_back(Expect::DataEnd);
                }
                Class::Transient | Class::Permanent => t.decide_accepted(&reply),
                Class::Positive | Class::Intermediate => return self.abandon(t, "DATA", &reply),
            },
            Expect::DataEnd => match class {
                Class::Positive | Class::Transient | Class::Permanent => {
                    t.decide_accepted(&reply);
                    t.ended = true;
                }
                Class::Intermediate => return self.abandon(t, "the end of data", &reply),
            },
            Expect::Bdat => match class {
                Class::Positive | Class::Transient | Class::Permanent => {
                    t.decide_accepted(&reply);
                    // RFC 3030 §2: after a refused BDAT, RSET clears what the server holds.
                    t.ended = class == Class::Positive;
                }
                Class::Intermediate => return self.abandon(t, "BDAT", &reply),
            },
            _ => return self.abandon(t, "a transaction command", &reply),
        }
        if !t.pipelined && self.pending.is_empty() && t.mail_accepted && !t.ended {
            // One command at a time: the next RCPT, then DATA if anyone was accepted.
            if !self.write_next_rcpt(&mut t) && t.any_accepted() {
                self.write_data_command(&t);
            }
        }
        if self.pending.is_empty() {
            self.finish(t);
        } else {
            self.transaction = Some(t);
        }
    }

    /// A reply of the wrong class inside the transaction: the session ends.
    fn abandon(&mut self, t: Transaction, what: &str, reply: &Reply) {
        self.transaction = Some(t);
        self.out_of_step(what, reply);
    }

    /// Report the outcome; RSET when the server may still hold the transaction (MAIL
    /// accepted, no end of data answered), then ready again.
    fn finish(&mut self, t: Transaction) {
        let reset = t.mail_accepted && !t.ended;
        self.events.push_back(ClientEvent::Done(t.result()));
        if reset && !self.quit_requested {
            line(&mut self.out, "RSET");
            self.pending.push_back(Expect::Rset);
        } else {
            self.become_ready();
        }
    }
}
