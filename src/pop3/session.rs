//! The POP3 session state machine: AUTHORIZATION (RFC 1939 §4, with STLS and SASL),
//! TRANSACTION (§5) over the maildrop the driver opened, and UPDATE (§6) on QUIT. Framing
//! comes from [`LineBuffer`]; every refusal is written by [`Refusal::reply`], the one place
//! that maps errors to `-ERR` lines.

use std::collections::VecDeque;
use std::fmt;
use std::io::Write as _;

use super::command::{AuthMechanism, Command, MessageNumber, ParseError};
use super::maildrop::{Maildrop, Unavailable};
use super::multiline::{send_dot_stuffed, top};
use super::service::{
    ExpungeOutcome, MaildropOutcome, MaildropReply, MaildropRequest, MessageOutcome,
};
use crate::config::uidl::UidlFormat;
use crate::sasl::{encode_challenge, SaslError, SaslExchange, SaslStep};
use crate::session::{
    AuthOutcome, Credentials, Event, Handoff, Output, Overload, Security, Session, SessionConfig,
};
use crate::wire::{Frame, LineBuffer};

/// One POP3 connection, sans IO.
#[derive(Debug)]
pub struct Pop3Session {
    lines: LineBuffer,
    machine: Machine,
}

/// Everything but the line buffer, so a framed line can be handled while it still borrows
/// the buffer (no copy of the line).
#[derive(Debug)]
struct Machine {
    /// Complete commands received.
    commands: u64,
    /// The limit last refused for, not yet taken by the driver (for its log line).
    limit_hit: Option<&'static str>,
    config: SessionConfig,
    security: Security,
    state: State,
    waiting: Option<Waiting>,
    auth_failures: u32,
    /// The mechanism of the pending authentication (a bearer token's refusal is a challenge
    /// first; SCRAM goes on).
    pending_mechanism: &'static str,
    uidl_format: UidlFormat,
    out: Vec<u8>,
    events: VecDeque<Event<MaildropRequest>>,
}

#[derive(Debug)]
enum State {
    /// RFC 1939 §4. `user` holds the name of an accepted USER, waiting for PASS.
    Authorization { user: Option<String> },
    /// Inside AUTH: the next line is a SASL response (RFC 5034 §4).
    Sasl(SaslExchange),
    /// RFC 1939 §5: authenticated as `account`, with its maildrop locked and listed.
    Transaction { account: String, maildrop: Maildrop },
    /// Close was requested; nothing more is read or written.
    Closed,
}

/// The event the driver has not answered yet; no input is processed meanwhile (RFC 2449 §6.6:
/// pipelined commands are answered in order, each after the one before it).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Waiting {
    Tls,
    Auth,
    /// [`MaildropRequest::Open`] for the freshly authenticated `account`; the session stays in
    /// AUTHORIZATION until the maildrop is open (RFC 1939 §4).
    Maildrop {
        account: String,
    },
    /// [`MaildropRequest::Read`] for RETR (`top: None`) or TOP; `size` is the listed size.
    Message {
        size: u64,
        top: Option<u32>,
    },
    /// [`MaildropRequest::Expunge`] of `count` messages after QUIT (RFC 1939 §6).
    Expunge {
        count: usize,
    },
}

/// What the caller must do with the line buffer after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    /// STLS was accepted: drop every buffered byte (RFC 2595 §3.1).
    DiscardBuffered,
}

/// Every way a command is refused. [`Refusal::reply`] is the only place that writes `-ERR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    UnknownCommand,
    InvalidArguments,
    LineTooLong,
    WrongState,
    /// Credentials before TLS (RFC 2595 §4, RFC 3206 §4 `[AUTH]`).
    TlsRequired,
    TlsActive,
    StlsUnavailable,
    PassWithoutUser,
    UnsupportedMechanism,
    SaslCancelled,
    SaslMalformed,
    AuthFailed,
    TooManyFailures,
    TemporaryAuthFailure,
    /// RFC 2449 §8.1.2: another POP3 session holds the maildrop.
    MaildropInUse,
    MaildropUnavailable,
    /// Out of range, malformed or never a message number (RFC 1939 §5).
    NoSuchMessage,
    /// Marked by DELE in this session (RFC 1939 §5: may not be referred to).
    MessageDeleted,
    /// Expunged by another session (IMAP) since the maildrop was listed.
    MessageGone,
    MessageUnavailable,
    /// RFC 1939 §6: the UPDATE state could not remove every marked message.
    ExpungeFailed,
    IdleTimeout,
    ShuttingDown,
    /// The account was deleted while the session ran: nothing marked is removed.
    AccountRevoked,
    /// The maildrop is now served by another host of the cluster (RFC 3206 §4 `[SYS/TEMP]`:
    /// reconnecting reaches it).
    Moved,
}

impl Refusal {
    fn reply(self) -> &'static str {
        match self {
            Refusal::UnknownCommand => "-ERR Unknown command",
            Refusal::InvalidArguments => "-ERR Invalid arguments",
            Refusal::LineTooLong => "-ERR Line too long",
            Refusal::WrongState => "-ERR Command not valid in this state",
            Refusal::TlsRequired => {
                "-ERR [AUTH] Plaintext authentication disallowed, use STLS first"
            }
            Refusal::TlsActive => "-ERR Command not permitted when TLS active",
            Refusal::StlsUnavailable => "-ERR STLS not available",
            Refusal::PassWithoutUser => "-ERR Send USER first",
            Refusal::UnsupportedMechanism => "-ERR Unsupported authentication mechanism",
            Refusal::SaslCancelled => "-ERR Authentication cancelled",
            Refusal::SaslMalformed => "-ERR Malformed authentication data",
            // RFC 3206 §4: the same words whether the user exists or not.
            Refusal::AuthFailed => "-ERR [AUTH] Authentication failed.",
            Refusal::TooManyFailures => "-ERR [AUTH] Too many failures",
            Refusal::TemporaryAuthFailure => {
                "-ERR [SYS/TEMP] Temporary authentication failure, try again later"
            }
            Refusal::MaildropInUse => "-ERR [IN-USE] Mailbox is locked by another POP3 session",
            Refusal::MaildropUnavailable => {
                "-ERR [SYS/TEMP] Unable to open the mailbox, try again later"
            }
            Refusal::NoSuchMessage => "-ERR No such message",
            Refusal::MessageDeleted => "-ERR Message is deleted",
            Refusal::MessageGone => "-ERR Message was deleted by another session",
            Refusal::MessageUnavailable => {
                "-ERR [SYS/TEMP] Unable to read the message, try again later"
            }
            Refusal::ExpungeFailed => "-ERR [SYS/TEMP] Some deleted messages were not removed",
            Refusal::IdleTimeout => "-ERR Autologout; idle for too long",
            Refusal::ShuttingDown => "-ERR [SYS/TEMP] Server shutting down",
            Refusal::AccountRevoked => "-ERR [AUTH] Account no longer valid",
            Refusal::Moved => "-ERR [SYS/TEMP] Maildrop moved to another server, please reconnect",
        }
    }

    /// Whether the connection is closed after this reply.
    fn closes(self) -> bool {
        matches!(
            self,
            Refusal::TooManyFailures
                | Refusal::ExpungeFailed
                | Refusal::IdleTimeout
                | Refusal::ShuttingDown
                | Refusal::AccountRevoked
                | Refusal::Moved
        )
    }
}

const GREETING: &str = "+OK ringpost ready.";

impl Pop3Session {
    /// A session for a new connection; the greeting is queued at once. `security` is [`Security::Tls`] on
    /// implicit-TLS listeners.
    pub fn new(config: SessionConfig, security: Security) -> Pop3Session {
        let mut machine = Machine {
            commands: 0,
            limit_hit: None,
            config,
            security,
            state: State::Authorization { user: None },
            waiting: None,
            auth_failures: 0,
            pending_mechanism: "",
            uidl_format: UidlFormat::default(),
            out: Vec::with_capacity(256),
            events: VecDeque::new(),
        };
        machine.line(GREETING);
        Pop3Session {
            lines: LineBuffer::new(machine.config.limits.max_line_length),
            machine,
        }
    }

    /// A session another host began, continued here where [`Session::handoff`] took it:
    /// waiting for the answer to USER/PASS or AUTH, with no greeting (the client has had it),
    /// over the client's TLS, which the other host holds.
    pub fn from_handoff(config: SessionConfig, handoff: Handoff) -> Pop3Session {
        let mut session = Pop3Session::new(config, Security::Tls);
        let machine = &mut session.machine;
        machine.out.clear();
        machine.commands = handoff.commands;
        machine.auth_failures = handoff.auth_failures;
        machine.pending_mechanism =
            crate::sasl::Mechanism::parse(handoff.mechanism.as_bytes()).map_or("", |m| m.name());
        machine.waiting = Some(Waiting::Auth);
        session.lines.extend(&handoff.input);
        session
    }

    /// Derive UIDL unique-ids with `format` instead of Dovecot's default `%08Xu%08Xv`
    /// (for accounts migrated from a Dovecot with another `pop3_uidl_format`).
    pub fn with_uidl_format(mut self, format: UidlFormat) -> Pop3Session {
        self.machine.uidl_format = format;
        self
    }

    /// The account this session authenticated as, once in the TRANSACTION state.
    pub fn account(&self) -> Option<&str> {
        match &self.machine.state {
            State::Transaction { account, .. } => Some(account),
            _ => None,
        }
    }

    /// Handle every complete buffered line until an event must be answered first.
    fn process(&mut self) {
        while self.machine.accepts_input() {
            let Some(frame) = self.lines.next_line() else {
                break;
            };
            if self.machine.handle_frame(frame) == Flow::DiscardBuffered {
                self.lines.clear();
            }
        }
    }

    /// The answer to [`MaildropRequest::Open`].
    pub fn handle_maildrop(&mut self, outcome: MaildropOutcome) {
        let Some(Waiting::Maildrop { account }) = self
            .machine
            .waiting
            .take_if(|w| matches!(w, Waiting::Maildrop { .. }))
        else {
            return;
        };
        self.machine.maildrop_outcome(account, outcome);
        self.process();
    }

    /// The answer to [`MaildropRequest::Read`]: the status line and the body go to `out`
    /// after whatever was pending.
    pub fn handle_message(&mut self, outcome: MessageOutcome, out: &mut Output) {
        let Some(Waiting::Message { size, top }) = self
            .machine
            .waiting
            .take_if(|w| matches!(w, Waiting::Message { .. }))
        else {
            return;
        };
        self.machine.message_outcome(size, top, outcome, out);
        self.process();
    }

    /// The answer to [`MaildropRequest::Expunge`].
    pub fn handle_expunged(&mut self, outcome: ExpungeOutcome) {
        let Some(Waiting::Expunge { count }) = self
            .machine
            .waiting
            .take_if(|w| matches!(w, Waiting::Expunge { .. }))
        else {
            return;
        };
        if outcome == ExpungeOutcome::Done {
            // RFC 1939 §6: +OK only once the marked messages are really gone.
            self.machine
                .reply(format_args!("+OK Bye ({count} messages deleted)"));
            self.machine.close();
        } else {
            self.machine.refuse(Refusal::ExpungeFailed);
        }
    }
}

impl Session for Pop3Session {
    type Request = MaildropRequest;
    type Reply = MaildropReply;
    type Notice = std::convert::Infallible;

    fn overloaded(_config: &SessionConfig, why: Overload) -> String {
        format!("-ERR [SYS/TEMP] {}\r\n", why.text())
    }

    fn handle_input(&mut self, input: &[u8]) {
        match (&self.machine.state, &self.machine.waiting) {
            (State::Closed, _) => {}
            // Plaintext that arrives between an accepted STLS and the handshake is discarded
            // like the bytes pipelined behind STLS (RFC 2595 §3.1).
            (_, Some(Waiting::Tls)) => {}
            _ => {
                self.lines.extend(input);
                self.process();
            }
        }
    }

    fn handle_tls_established(&mut self) {
        if !matches!(self.machine.waiting, Some(Waiting::Tls)) {
            return;
        }
        self.machine.waiting = None;
        self.machine.security = Security::Tls;
        self.machine.state = State::Authorization { user: None };
        self.lines.clear();
    }

    fn handle_auth(&mut self, outcome: AuthOutcome) {
        if !matches!(self.machine.waiting, Some(Waiting::Auth)) {
            return;
        }
        self.machine.waiting = None;
        self.machine.auth_outcome(outcome);
        self.process();
    }

    fn handle_reply(&mut self, reply: MaildropReply, out: &mut Output) {
        match reply {
            MaildropReply::Opened(outcome) => self.handle_maildrop(outcome),
            MaildropReply::Message(outcome) => self.handle_message(outcome, out),
            MaildropReply::Expunged(outcome) => self.handle_expunged(outcome),
        }
    }

    fn handle_notice(&mut self, notice: std::convert::Infallible) {
        match notice {}
    }

    fn handle_keepalive(&mut self) {
        // Nothing to say: POP3 has no long waits the client starts; the idle timer ends
        // silent sessions.
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

    fn handle_moved(&mut self) {
        self.machine.refuse(Refusal::Moved);
    }

    fn poll_output(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.machine.out);
    }

    fn poll_event(&mut self) -> Option<Event<MaildropRequest>> {
        self.machine.events.pop_front()
    }

    fn handoff(&mut self) -> Option<Handoff> {
        let machine = &self.machine;
        if machine.waiting != Some(Waiting::Auth)
            || !machine.out.is_empty()
            || !machine.events.is_empty()
        {
            return None;
        }
        let input = self.lines.take_rest();
        self.lines.extend(&input);
        Some(Handoff {
            tag: Vec::new(),
            mechanism: self.machine.pending_mechanism.to_owned(),
            auth_failures: self.machine.auth_failures,
            commands: self.machine.commands,
            compressing: false,
            input,
        })
    }
}

impl Machine {
    fn accepts_input(&self) -> bool {
        self.waiting.is_none() && !matches!(self.state, State::Closed)
    }

    fn handle_frame(&mut self, frame: Frame<'_>) -> Flow {
        match frame {
            // RFC 1939 §3 asks for CRLF; a bare LF is accepted here because POP3 commands carry
            // no message data that another server could re-interpret (unlike SMTP).
            Frame::Line { line, bare_lf: _ } => self.handle_line(line),
            Frame::TooLong { head: _ } => {
                if let State::Sasl(_) = self.state {
                    self.state = State::Authorization { user: None };
                }
                self.refuse(Refusal::LineTooLong);
                Flow::Continue
            }
        }
    }

    fn handle_line(&mut self, line: &[u8]) -> Flow {
        if let State::Sasl(exchange) = &mut self.state {
            let step = exchange.step(line);
            if !matches!(step, SaslStep::Challenge(_)) {
                self.state = State::Authorization { user: None };
            }
            self.sasl_step(step);
            return Flow::Continue;
        }
        match Command::parse(line) {
            Ok(command) => self.handle_command(command),
            Err(ParseError::UnknownCommand) => {
                self.refuse(Refusal::UnknownCommand);
                Flow::Continue
            }
            Err(ParseError::InvalidArguments) => {
                self.refuse(Refusal::InvalidArguments);
                Flow::Continue
            }
            Err(ParseError::NoSuchMessage) => {
                if matches!(self.state, State::Transaction { .. }) {
                    self.refuse(Refusal::NoSuchMessage);
                } else {
                    self.refuse(Refusal::WrongState);
                }
                Flow::Continue
            }
        }
    }

    fn handle_command(&mut self, command: Command) -> Flow {
        self.commands += 1;
        let authorization = matches!(self.state, State::Authorization { .. });
        match command {
            Command::Capa => self.capabilities(),
            Command::Quit => self.quit(),
            Command::Stls => {
                if self.security.is_tls() {
                    self.refuse(Refusal::TlsActive);
                } else if !self.config.offers_starttls(self.security) {
                    self.refuse(Refusal::StlsUnavailable);
                } else if !authorization {
                    self.refuse(Refusal::WrongState);
                } else {
                    self.line("+OK Begin TLS negotiation");
                    self.waiting = Some(Waiting::Tls);
                    self.events.push_back(Event::StartTls);
                    return Flow::DiscardBuffered;
                }
            }
            Command::User(name) => match self.may_authenticate() {
                Err(refusal) => self.refuse(refusal),
                Ok(()) => {
                    self.state = State::Authorization { user: Some(name) };
                    self.line("+OK");
                }
            },
            Command::Pass(password) => match self.may_authenticate() {
                Err(refusal) => self.refuse(refusal),
                Ok(()) => {
                    match std::mem::replace(&mut self.state, State::Authorization { user: None }) {
                        State::Authorization {
                            user: Some(username),
                        } => self.authenticate(Credentials {
                            username,
                            password,
                            mechanism: "USER/PASS",
                        }),
                        _ => self.refuse(Refusal::PassWithoutUser),
                    }
                }
            },
            Command::AuthList => match self.may_authenticate() {
                Err(refusal) => self.refuse(refusal),
                Ok(()) => {
                    self.line("+OK Supported mechanisms follow");
                    for m in crate::sasl::Mechanism::ALL {
                        if self.config.offers(m) {
                            self.line(m.name());
                        }
                    }
                    self.line(".");
                }
            },
            Command::Auth {
                mechanism,
                initial_response,
            } => match (self.may_authenticate(), mechanism) {
                (Err(refusal), _) => self.refuse(refusal),
                (Ok(()), AuthMechanism::Unsupported) => self.refuse(Refusal::UnsupportedMechanism),
                (Ok(()), AuthMechanism::Known(m)) if !self.config.offers(m) => {
                    self.refuse(Refusal::UnsupportedMechanism)
                }
                (Ok(()), AuthMechanism::Known(mechanism)) => {
                    self.state = State::Authorization { user: None };
                    let (exchange, step) =
                        SaslExchange::start(mechanism, initial_response.as_deref());
                    if let SaslStep::Challenge(_) = step {
                        self.state = State::Sasl(exchange);
                    }
                    self.sasl_step(step);
                }
            },
            Command::Noop
            | Command::Stat
            | Command::List(_)
            | Command::Retr(_)
            | Command::Dele(_)
            | Command::Rset
            | Command::Top { .. }
            | Command::Uidl(_) => {
                if let Err(refusal) = self.transaction(command) {
                    self.refuse(refusal);
                }
            }
        }
        Flow::Continue
    }

    /// A mailbox command (RFC 1939 §5, §7); only valid in the TRANSACTION state.
    fn transaction(&mut self, command: Command) -> Result<(), Refusal> {
        let State::Transaction { maildrop, .. } = &mut self.state else {
            return Err(Refusal::WrongState);
        };
        let out = &mut self.out;
        match command {
            Command::Noop => push_line(out, format_args!("+OK")),
            Command::Stat => {
                let (count, size) = maildrop.stat();
                push_line(out, format_args!("+OK {count} {size}"));
            }
            Command::List(None) => {
                let (count, size) = maildrop.stat();
                push_line(out, format_args!("+OK {count} messages ({size} octets)"));
                for (number, entry) in maildrop.live() {
                    push_line(out, format_args!("{number} {}", entry.size));
                }
                out.extend_from_slice(b".\r\n");
            }
            Command::List(Some(number)) => {
                let entry = maildrop.message(number).map_err(refusal)?;
                push_line(out, format_args!("+OK {} {}", number.get(), entry.size));
            }
            Command::Uidl(None) => {
                out.extend_from_slice(b"+OK\r\n");
                for (number, entry) in maildrop.live() {
                    push_uidl(
                        out,
                        number,
                        entry.uid.0,
                        maildrop.uid_validity(),
                        &self.uidl_format,
                    );
                }
                out.extend_from_slice(b".\r\n");
            }
            Command::Uidl(Some(number)) => {
                let entry = maildrop.message(number).map_err(refusal)?;
                out.extend_from_slice(b"+OK ");
                // A u32 always fits a usize on the 64-bit targets ringpost runs on.
                let n = number.get() as usize;
                push_uidl(
                    out,
                    n,
                    entry.uid.0,
                    maildrop.uid_validity(),
                    &self.uidl_format,
                );
            }
            Command::Retr(number) => self.read(number, None)?,
            Command::Top { message, lines } => self.read(message, Some(lines))?,
            Command::Dele(number) => {
                maildrop.delete(number).map_err(refusal)?;
                push_line(out, format_args!("+OK Marked to be deleted."));
            }
            Command::Rset => {
                maildrop.reset();
                push_line(out, format_args!("+OK"));
            }
            // Not mailbox commands: dispatched by `handle_command`, never sent here.
            _ => return Err(Refusal::WrongState),
        }
        Ok(())
    }

    /// RETR and TOP: the message is read by the driver first (RFC 1939 §7 for TOP).
    fn read(&mut self, number: MessageNumber, top: Option<u32>) -> Result<(), Refusal> {
        let State::Transaction { maildrop, .. } = &self.state else {
            return Err(Refusal::WrongState);
        };
        let entry = maildrop.message(number).map_err(refusal)?;
        self.waiting = Some(Waiting::Message {
            size: entry.size,
            top,
        });
        self.events
            .push_back(Event::Request(MaildropRequest::Read { uid: entry.uid }));
        Ok(())
    }

    /// RETR/TOP's answer. The status line and the body go to the driver's `out` after
    /// whatever was pending, the body's clean runs spliced from the store's read buffer.
    fn message_outcome(
        &mut self,
        size: u64,
        lines: Option<u32>,
        outcome: MessageOutcome,
        out: &mut Output,
    ) {
        match outcome {
            MessageOutcome::Message(message) => {
                match lines {
                    // The size of the listing, so RETR agrees with LIST (RFC 1939 §5).
                    None => self.reply(format_args!("+OK {size} octets")),
                    Some(_) => self.line("+OK"),
                }
                out.bytes_mut().append(&mut self.out);
                let body = match lines {
                    None => message,
                    Some(lines) => message.slice(0, top(&message, lines).len()),
                };
                send_dot_stuffed(&body, out);
            }
            MessageOutcome::Gone => self.refuse(Refusal::MessageGone),
            MessageOutcome::TemporaryFailure => self.refuse(Refusal::MessageUnavailable),
        }
    }

    /// RFC 1939 §6: QUIT in TRANSACTION enters UPDATE and expunges the marked messages; in
    /// AUTHORIZATION it just ends the session. A session that ends any other way (a dropped
    /// connection, a timeout, a shutdown) never expunges.
    fn quit(&mut self) {
        let uids = match &self.state {
            State::Transaction { maildrop, .. } => maildrop.deleted_uids(),
            _ => Vec::new(),
        };
        if uids.is_empty() {
            self.line("+OK Bye");
            self.close();
        } else {
            self.waiting = Some(Waiting::Expunge { count: uids.len() });
            self.events
                .push_back(Event::Request(MaildropRequest::Expunge { uids }));
        }
    }

    /// Whether USER, PASS or AUTH may be used now. Credentials are only ever accepted over
    /// TLS (RFC 2595 §4, and ringpost's TLS-before-PLAIN rule), only in AUTHORIZATION.
    fn may_authenticate(&self) -> Result<(), Refusal> {
        if !matches!(self.state, State::Authorization { .. }) {
            Err(Refusal::WrongState)
        } else if !self.security.is_tls() {
            Err(Refusal::TlsRequired)
        } else {
            Ok(())
        }
    }

    fn sasl_step(&mut self, step: SaslStep) {
        match step {
            SaslStep::Challenge(raw) => {
                // RFC 5034 §4: "+" SP base64; an empty challenge is "+ ".
                self.out.extend_from_slice(b"+ ");
                self.line(&encode_challenge(&raw));
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
                // RFC 1939 §4: TRANSACTION only once the maildrop is locked and listed.
                self.waiting = Some(Waiting::Maildrop { account });
                self.events.push_back(Event::Request(MaildropRequest::Open));
            }
            // RFC 7628 §3.2.2: a refused bearer token gets the error challenge first.
            AuthOutcome::Failure if matches!(self.pending_mechanism, "OAUTHBEARER" | "XOAUTH2") => {
                let (exchange, step) = crate::sasl::oauth_failure();
                self.state = State::Sasl(exchange);
                self.sasl_step(step);
            }
            AuthOutcome::Failure => self.auth_failed(),
            AuthOutcome::TemporaryFailure => self.refuse(Refusal::TemporaryAuthFailure),
            AuthOutcome::Continue(challenge) => {
                let mechanism = crate::sasl::Mechanism::parse(self.pending_mechanism.as_bytes())
                    .unwrap_or(crate::sasl::Mechanism::Plain);
                self.state = State::Sasl(crate::sasl::relay(mechanism));
                self.sasl_step(SaslStep::Challenge(challenge));
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

    fn maildrop_outcome(&mut self, account: String, outcome: MaildropOutcome) {
        match outcome {
            MaildropOutcome::Opened {
                uid_validity,
                messages,
            } => {
                self.state = State::Transaction {
                    account,
                    maildrop: Maildrop::new(uid_validity, messages),
                };
                self.line("+OK Logged in.");
            }
            // The credentials were right: neither counts as an authentication failure, and
            // the client may try again from AUTHORIZATION.
            MaildropOutcome::InUse => self.refuse(Refusal::MaildropInUse),
            MaildropOutcome::TemporaryFailure => self.refuse(Refusal::MaildropUnavailable),
        }
    }

    /// RFC 2449 §5 and §6. USER and SASL only where they would be accepted (after TLS, in
    /// AUTHORIZATION); STLS only where it is offered. In TRANSACTION the same list without
    /// USER, SASL and STLS (RFC 2449 §5).
    fn capabilities(&mut self) {
        self.line("+OK Capability list follows");
        for cap in [
            "TOP",
            "UIDL",
            "RESP-CODES",
            "AUTH-RESP-CODE",
            "PIPELINING",
            "EXPIRE NEVER",
            "LOGIN-DELAY 0",
        ] {
            self.line(cap);
        }
        let authorization = matches!(self.state, State::Authorization { .. });
        if authorization && self.config.offers_starttls(self.security) {
            self.line("STLS");
        }
        if self.may_authenticate().is_ok() {
            self.line("USER");
            self.line(&format!("SASL {}", crate::sasl::offered(&self.config)));
        }
        self.line("IMPLEMENTATION ringpost");
        self.line(".");
    }

    fn refuse(&mut self, refusal: Refusal) {
        if matches!(self.state, State::Closed) {
            return;
        }
        match refusal {
            Refusal::LineTooLong => self.limit_hit = Some("line too long"),
            Refusal::TooManyFailures => self.limit_hit = Some("too many failed logins"),
            _ => {}
        }
        self.line(refusal.reply());
        if refusal.closes() {
            self.close();
        }
    }

    fn close(&mut self) {
        // An answer the driver still owes (a password check) is ignored once closing.
        self.waiting = None;
        self.state = State::Closed;
        self.events.push_back(Event::Close);
    }

    fn line(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn reply(&mut self, args: fmt::Arguments<'_>) {
        push_line(&mut self.out, args);
    }
}

/// Map a message number the client may not use to its reply.
fn refusal(unavailable: Unavailable) -> Refusal {
    match unavailable {
        Unavailable::NoSuchMessage => Refusal::NoSuchMessage,
        Unavailable::Deleted => Refusal::MessageDeleted,
    }
}

/// Append a formatted line and CRLF, without an intermediate `String`.
fn push_line(out: &mut Vec<u8>, args: fmt::Arguments<'_>) {
    // io::Write for Vec<u8> cannot fail.
    let _ = out.write_fmt(args);
    out.extend_from_slice(b"\r\n");
}

/// One `n unique-id` line of a UIDL answer (RFC 1939 §7).
fn push_uidl(out: &mut Vec<u8>, number: usize, uid: u32, uid_validity: u32, format: &UidlFormat) {
    let _ = write!(out, "{number} ");
    format.write(uid, uid_validity, out);
    out.extend_from_slice(b"\r\n");
}
