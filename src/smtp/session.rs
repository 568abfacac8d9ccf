//! The SMTP session state machine: greeting, EHLO/HELO, STARTTLS, AUTH and the commands
//! outside a mail transaction. The transaction itself (MAIL, RCPT, DATA, BDAT) is in
//! [`super::transaction`]. Framing comes from [`LineBuffer`] for command lines and from
//! [`super::message`] for message content; every refusal is written by
//! [`Refusal::write`](super::reply::Refusal), the one place that maps errors to replies.

use std::collections::VecDeque;
use std::fmt::Write as _;

use super::command::{AuthMechanism, Command, Domain, ParseError};
use super::received::{protocol_name, Authentication, Dialect};
use super::reply::{line, Refusal};
use super::service::{DeliveryOutcome, DeliveryReply, DeliveryRequest, RecipientStatus};
use super::transaction::Transaction;
use crate::sasl::{encode_challenge, SaslError, SaslExchange, SaslStep};
use crate::session::{
    AuthOutcome, Credentials, Event, Output, Overload, Security, Session, SessionConfig,
};
use crate::wire::{Frame, LineBuffer};

/// Which service a listener offers; decides whether AUTH exists at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpKind {
    /// MX (port 25): mail for local domains from anyone; never AUTH.
    Inbound,
    /// Message submission (RFC 6409; ports 587 and 465): AUTH over TLS, required before MAIL.
    Submission,
}

/// One SMTP connection, sans IO.
#[derive(Debug)]
pub struct SmtpSession {
    lines: LineBuffer,
    machine: Machine,
}

/// Everything but the line buffer, so a framed line can be handled while it still borrows
/// the buffer (no copy of the line).
#[derive(Debug)]
pub(super) struct Machine {
    /// Complete commands received.
    commands: u64,
    /// The limit last refused for, not yet taken by the driver (for its log line).
    limit_hit: Option<&'static str>,
    pub(super) config: SessionConfig,
    pub(super) kind: SmtpKind,
    pub(super) security: Security,
    /// The client's EHLO/HELO; `None` before it and after STARTTLS (RFC 3207 §4.2).
    pub(super) client: Option<Client>,
    /// Inside AUTH: the next line is a SASL response (RFC 4954 §4).
    sasl: Option<SaslExchange>,
    /// The canonical account once AUTH succeeded.
    pub(super) account: Option<String>,
    auth_failures: u32,
    /// The mechanism of the pending authentication (a bearer token's refusal is a challenge
    /// first; SCRAM goes on).
    pending_mechanism: &'static str,
    /// The mail transaction after an accepted MAIL (RFC 5321 §3.3).
    pub(super) transaction: Option<Transaction>,
    /// How the next input bytes are read.
    pub(super) input: Input,
    pub(super) waiting: Option<Waiting>,
    closed: bool,
    pub(super) out: Vec<u8>,
    pub(super) events: VecDeque<Event<DeliveryRequest>>,
}

#[derive(Debug)]
pub(super) struct Client {
    pub(super) domain: Domain,
    /// EHLO (true) rather than HELO: service extensions such as AUTH may be used.
    pub(super) extended: bool,
}

/// How input bytes are framed at the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Input {
    /// CRLF command lines, at most `max_line_length` long.
    Commands,
    /// After `354`: message content up to `CRLF.CRLF`, with no line-length limit (the
    /// message size limit bounds it).
    Data,
    /// Inside a BDAT chunk (RFC 3030 §2): `remaining` raw octets still belong to it, whatever
    /// they contain. `refusal` is the reply owed once they are read, if the chunk is refused.
    Chunk {
        remaining: u64,
        size: u64,
        last: bool,
        refusal: Option<Refusal>,
    },
}

/// The event the driver has not answered yet; no input is processed meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Waiting {
    Tls,
    Auth,
    Recipient,
    Delivery,
}

/// What the caller must do with the line buffer after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    /// STARTTLS was accepted: drop every buffered byte (RFC 3207 §4.2).
    DiscardBuffered,
}

impl SmtpSession {
    /// A session for a new connection; the greeting is queued at once. `security` is [`Security::Tls`] on
    /// implicit-TLS listeners (port 465).
    pub fn new(config: SessionConfig, kind: SmtpKind, security: Security) -> SmtpSession {
        let mut machine = Machine {
            commands: 0,
            limit_hit: None,
            config,
            kind,
            security,
            client: None,
            sasl: None,
            account: None,
            auth_failures: 0,
            pending_mechanism: "",
            transaction: None,
            input: Input::Commands,
            waiting: None,
            closed: false,
            out: Vec::with_capacity(256),
            events: VecDeque::new(),
        };
        // RFC 5321 §4.2: "220 <domain>"; "ESMTP" invites EHLO (§4.1.1.1).
        let greeting = format!("220 {} ESMTP ringpost", machine.config.hostname);
        line(&mut machine.out, &greeting);
        SmtpSession {
            lines: LineBuffer::new(machine.config.limits.max_line_length),
            machine,
        }
    }

    /// The account this session authenticated as (submission only).
    pub fn account(&self) -> Option<&str> {
        self.machine.account.as_deref()
    }

    /// Whether the client greeted with EHLO rather than HELO (false before any greeting).
    pub fn greeted_with_ehlo(&self) -> bool {
        self.machine.client.as_ref().is_some_and(|c| c.extended)
    }

    /// The `with` keyword for the `Received:` header of the transaction in progress (read it
    /// while handling [`DeliveryRequest::Deliver`]): RFC 3848's `ESMTP`/`ESMTPS`/`ESMTPA`/`ESMTPSA`
    /// (`SMTP` after HELO), or RFC 6531's `UTF8SMTP...` when MAIL carried SMTPUTF8.
    pub fn protocol(&self) -> &'static str {
        self.machine.protocol()
    }

    /// Handle buffered input until more is needed or an event must be answered first.
    /// Pipelined commands (RFC 2920) are answered one by one, in order.
    fn process(&mut self) {
        while self.machine.accepts_input() {
            match self.machine.input {
                Input::Commands => {
                    let Some(frame) = self.lines.next_line() else {
                        break;
                    };
                    if self.machine.handle_frame(frame) == Flow::DiscardBuffered {
                        self.lines.clear();
                    }
                }
                Input::Data => {
                    if self.lines.buffered() == 0 {
                        break;
                    }
                    let input = self.lines.take_up_to(usize::MAX);
                    if let Some(used) = self.machine.data_input(input) {
                        // The end of data: what follows is the next command, so it goes back
                        // in front of the line framer (only pipelined bytes are copied).
                        let rest = input[used..].to_vec();
                        self.lines.extend(&rest);
                    }
                }
                Input::Chunk { remaining, .. } => {
                    if remaining > 0 {
                        let want = usize::try_from(remaining).unwrap_or(usize::MAX);
                        let input = self.lines.take_up_to(want);
                        if input.is_empty() {
                            break;
                        }
                        self.machine.chunk_input(input);
                    } else {
                        self.machine.chunk_done();
                    }
                }
            }
        }
    }

    /// The answer to [`DeliveryRequest::CheckRecipient`].
    pub fn handle_recipient(&mut self, status: RecipientStatus) {
        if self.machine.waiting != Some(Waiting::Recipient) {
            return;
        }
        self.machine.waiting = None;
        self.machine.recipient_status(status);
        self.process();
    }

    /// The answer to [`DeliveryRequest::Deliver`].
    pub fn handle_delivery(&mut self, outcome: DeliveryOutcome) {
        if self.machine.waiting != Some(Waiting::Delivery) {
            return;
        }
        self.machine.waiting = None;
        self.machine.delivery_outcome(outcome);
        self.process();
    }
}

impl Session for SmtpSession {
    type Request = DeliveryRequest;
    type Reply = DeliveryReply;
    type Notice = std::convert::Infallible;

    fn overloaded(config: &SessionConfig, why: Overload) -> String {
        format!(
            "421 4.7.0 {} {}, try again later\r\n",
            config.hostname,
            why.text()
        )
    }

    fn handle_input(&mut self, input: &[u8]) {
        // Plaintext that arrives between an accepted STARTTLS and the handshake is discarded
        // like the bytes pipelined behind it (RFC 3207 §4.2).
        if self.machine.closed || self.machine.waiting == Some(Waiting::Tls) {
            return;
        }
        self.lines.extend(input);
        self.process();
    }

    fn handle_tls_established(&mut self) {
        if self.machine.waiting != Some(Waiting::Tls) {
            return;
        }
        let m = &mut self.machine;
        m.waiting = None;
        m.security = Security::Tls;
        // RFC 3207 §4.2: forget everything learnt from the client; it must EHLO again.
        m.client = None;
        m.sasl = None;
        m.account = None;
        m.transaction = None;
        self.lines.clear();
    }

    fn handle_auth(&mut self, outcome: AuthOutcome) {
        if self.machine.waiting != Some(Waiting::Auth) {
            return;
        }
        self.machine.waiting = None;
        self.machine.auth_outcome(outcome);
        self.process();
    }

    fn handle_reply(&mut self, reply: DeliveryReply, _out: &mut Output) {
        match reply {
            DeliveryReply::Recipient(status) => self.handle_recipient(status),
            DeliveryReply::Delivered(outcome) => self.handle_delivery(outcome),
        }
    }

    fn handle_notice(&mut self, notice: std::convert::Infallible) {
        match notice {}
    }

    fn handle_keepalive(&mut self) {
        // Nothing to say: the idle timer ends silent sessions (RFC 5321 §4.5.3.2).
    }

    fn handle_idle_timeout(&mut self) {
        self.machine.refuse(Refusal::IdleTimeout);
    }

    fn handle_shutdown(&mut self) {
        self.machine.refuse(Refusal::ShuttingDown);
    }

    fn commands(&self) -> u64 {
        self.machine.commands
    }

    fn take_limit(&mut self) -> Option<&'static str> {
        self.machine.limit_hit.take()
    }

    fn handle_revoked(&mut self) {
        self.machine.refuse(Refusal::AccountRevoked);
    }

    /// Submission does not use the account's mailboxes where it runs (deliveries are routed
    /// per recipient): a move changes nothing for it.
    fn handle_moved(&mut self) {}

    fn poll_output(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.machine.out);
    }

    fn poll_event(&mut self) -> Option<Event<DeliveryRequest>> {
        self.machine.events.pop_front()
    }
}

impl Machine {
    /// See [`SmtpSession::protocol`].
    pub(super) fn protocol(&self) -> &'static str {
        let dialect = if self.transaction.as_ref().is_some_and(|t| t.smtputf8()) {
            Dialect::Utf8Smtp
        } else if self.client.as_ref().is_some_and(|c| c.extended) {
            Dialect::Esmtp
        } else {
            Dialect::Smtp
        };
        let auth = match self.account {
            Some(_) => Authentication::Authenticated,
            None => Authentication::None,
        };
        protocol_name(dialect, self.security, auth)
    }

    pub(super) fn accepts_input(&self) -> bool {
        self.waiting.is_none() && !self.closed
    }

    fn handle_frame(&mut self, frame: Frame<'_>) -> Flow {
        match frame {
            Frame::Line {
                line,
                bare_lf: false,
            } => match self.sasl.take() {
                Some(exchange) => {
                    self.sasl_response(exchange, line);
                    Flow::Continue
                }
                None => match Command::parse(line) {
                    Ok(command) => self.handle_command(command),
                    Err(ParseError::Unrecognized) => self.refused(Refusal::Unrecognized),
                    Err(ParseError::Syntax(e)) => self.refused(Refusal::Syntax(e)),
                },
            },
            // A refused line also ends a SASL exchange in progress.
            Frame::Line { bare_lf: true, .. } => {
                self.sasl = None;
                self.refused(Refusal::BareLf)
            }
            Frame::TooLong { .. } => {
                self.sasl = None;
                self.refused(Refusal::LineTooLong)
            }
        }
    }

    fn handle_command(&mut self, command: Command) -> Flow {
        self.commands += 1;
        match command {
            Command::Ehlo(domain) => {
                // RFC 5321 §4.1.4: EHLO and HELO reset any mail transaction.
                self.transaction = None;
                self.client = Some(Client {
                    domain,
                    extended: true,
                });
                self.ehlo_reply();
            }
            Command::Helo(domain) => {
                self.transaction = None;
                self.client = Some(Client {
                    domain,
                    extended: false,
                });
                let reply = format!("250 {}", self.config.hostname);
                line(&mut self.out, &reply);
            }
            Command::StartTls => {
                if self.security.is_tls() {
                    return self.refused(Refusal::TlsActive);
                }
                if !self.config.offers_starttls(self.security) {
                    return self.refused(Refusal::StartTlsUnavailable);
                }
                line(&mut self.out, "220 2.0.0 Ready to start TLS");
                self.waiting = Some(Waiting::Tls);
                self.events.push_back(Event::StartTls);
                return Flow::DiscardBuffered;
            }
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                if let Err(refusal) = self.may_authenticate() {
                    return self.refused(refusal);
                }
                let mechanism = match mechanism {
                    AuthMechanism::Known(m) if self.config.offers(m) => m,
                    _ => return self.refused(Refusal::UnsupportedMechanism),
                };
                let (exchange, step) = SaslExchange::start(mechanism, initial_response.as_deref());
                self.sasl_step(exchange, step);
            }
            Command::Mail(mail) => self.mail(mail),
            Command::Rcpt(rcpt) => self.rcpt(rcpt),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            // RFC 5321 §3.5.3: EXPN may be disabled; mailing lists are not ringpost's.
            Command::Expn => return self.refused(Refusal::NotImplemented),
            Command::Rset => {
                // RFC 5321 §4.1.1.5: abort the transaction, keep the greeting.
                self.transaction = None;
                line(&mut self.out, "250 2.0.0 OK");
            }
            Command::Noop => line(&mut self.out, "250 2.0.0 OK"),
            // RFC 5321 §3.5.3: 252 and never an answer that tells whether an address exists.
            Command::Vrfy => line(
                &mut self.out,
                "252 2.5.2 Cannot VRFY user, but will accept message",
            ),
            Command::Help => line(
                &mut self.out,
                "214 2.0.0 ringpost: see RFC 5321 (https://www.rfc-editor.org/rfc/rfc5321)",
            ),
            Command::Quit => {
                line(&mut self.out, "221 2.0.0 Bye");
                self.close();
            }
        }
        Flow::Continue
    }

    /// RFC 5321 §4.1.1.1: `250-<hostname>`, then one keyword per line, the last with `250 `.
    fn ehlo_reply(&mut self) {
        let mut lines = vec![
            self.config.hostname.clone(),
            "PIPELINING".to_string(),
            format!("SIZE {}", self.config.limits.max_message_size),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            // RFC 3461: reports on request, and the parameters passed on when relaying.
            "DSN".to_string(),
            "CHUNKING".to_string(),
        ];
        if self.config.offers_starttls(self.security) {
            lines.push("STARTTLS".to_string());
        }
        if self.security.is_tls() {
            // RFC 8689 §4.1: offered over TLS only.
            lines.push("REQUIRETLS".to_string());
        }
        if self.kind == SmtpKind::Submission && self.security.is_tls() {
            lines.push(format!("AUTH {}", crate::sasl::offered(&self.config)));
        }
        let last = lines.len() - 1;
        let mut text = String::new();
        for (i, l) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            // Writing to a String cannot fail.
            let _ = write!(text, "250{sep}{l}\r\n");
        }
        self.out.extend_from_slice(text.as_bytes());
    }

    /// Whether AUTH may start now (RFC 4954 §4), checked before its arguments so an inbound
    /// or plaintext connection learns nothing from them.
    fn may_authenticate(&self) -> Result<(), Refusal> {
        if self.kind == SmtpKind::Inbound {
            Err(Refusal::AuthUnavailable)
        } else if !self.security.is_tls() {
            Err(Refusal::TlsRequired)
        } else if !self.client.as_ref().is_some_and(|c| c.extended) {
            Err(Refusal::NeedEhlo)
        } else if self.account.is_some() {
            Err(Refusal::AlreadyAuthenticated)
        } else {
            Ok(())
        }
    }

    fn sasl_response(&mut self, mut exchange: SaslExchange, response: &[u8]) {
        let step = exchange.step(response);
        self.sasl_step(exchange, step);
    }

    fn sasl_step(&mut self, exchange: SaslExchange, step: SaslStep) {
        match step {
            SaslStep::Challenge(raw) => {
                // RFC 4954 §4: "334" SP base64; an empty challenge is "334 ".
                let challenge = format!("334 {}", encode_challenge(&raw));
                line(&mut self.out, &challenge);
                self.sasl = Some(exchange);
            }
            SaslStep::Done(credentials) => self.authenticate(credentials),
            SaslStep::Failed(SaslError::Cancelled) => self.refuse(Refusal::SaslCancelled),
            SaslStep::Failed(SaslError::Malformed) => self.refuse(Refusal::SaslMalformed),
            SaslStep::Failed(SaslError::Rejected) => self.auth_failed(),
        }
    }

    fn authenticate(&mut self, credentials: Credentials) {
        self.pending_mechanism = credentials.mechanism;
        self.waiting = Some(Waiting::Auth);
        self.events.push_back(Event::Authenticate(credentials));
    }

    fn auth_outcome(&mut self, outcome: AuthOutcome) {
        match outcome {
            AuthOutcome::Success { account } => {
                self.account = Some(account);
                line(&mut self.out, "235 2.7.0 Authentication successful");
            }
            // RFC 7628 §3.2.2: a refused bearer token gets the error challenge first.
            AuthOutcome::Failure if matches!(self.pending_mechanism, "OAUTHBEARER" | "XOAUTH2") => {
                let (exchange, step) = crate::sasl::oauth_failure();
                self.sasl_step(exchange, step);
            }
            AuthOutcome::Failure => self.auth_failed(),
            AuthOutcome::TemporaryFailure => self.refuse(Refusal::TemporaryAuthFailure),
            AuthOutcome::Continue(challenge) => {
                let mechanism = crate::sasl::Mechanism::parse(self.pending_mechanism.as_bytes())
                    .unwrap_or(crate::sasl::Mechanism::Plain);
                self.sasl_step(
                    crate::sasl::relay(mechanism),
                    SaslStep::Challenge(challenge),
                );
            }
        }
    }

    fn auth_failed(&mut self) {
        self.auth_failures += 1;
        if self.auth_failures >= self.config.limits.max_auth_failures {
            self.refuse(Refusal::TooManyFailures);
        } else {
            self.refuse(Refusal::AuthFailed);
        }
    }

    pub(super) fn refused(&mut self, refusal: Refusal) -> Flow {
        self.refuse(refusal);
        Flow::Continue
    }

    pub(super) fn refuse(&mut self, refusal: Refusal) {
        if self.closed {
            return;
        }
        if let Some(limit) = refusal.limit() {
            self.limit_hit = Some(limit);
        }
        refusal.write(&self.config.hostname, &mut self.out);
        if refusal.closes() {
            self.close();
        }
    }

    fn close(&mut self) {
        // An answer the driver still owes (a password check) is ignored once closing.
        self.waiting = None;
        self.closed = true;
        self.events.push_back(Event::Close);
    }
}
