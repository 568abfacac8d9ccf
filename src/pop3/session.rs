//! The POP3 session state machine: AUTHORIZATION (RFC 1939 §4, with STLS and SASL) and the
//! entry to TRANSACTION. Framing comes from [`LineBuffer`]; every refusal is written by
//! [`Refusal::reply`], the one place that maps errors to `-ERR` lines.

use std::collections::VecDeque;

use super::command::{AuthMechanism, Command, ParseError};
use crate::sasl::{encode_challenge, SaslError, SaslExchange, SaslStep};
use crate::session::{AuthOutcome, Credentials, Event, Session, SessionConfig};
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
    config: SessionConfig,
    tls_active: bool,
    state: State,
    waiting: Option<Waiting>,
    auth_failures: u32,
    out: Vec<u8>,
    events: VecDeque<Event>,
}

#[derive(Debug)]
enum State {
    /// RFC 1939 §4. `user` holds the name of an accepted USER, waiting for PASS.
    Authorization { user: Option<String> },
    /// Inside AUTH: the next line is a SASL response (RFC 5034 §4).
    Sasl(SaslExchange),
    /// RFC 1939 §5: authenticated as `account`.
    Transaction { account: String },
    /// Close was requested; nothing more is read or written.
    Closed,
}

/// The event the driver has not answered yet; no input is processed meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Tls,
    Auth,
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
    /// A mailbox command before the store exists: refused, never faked.
    NotSupported,
    IdleTimeout,
    ShuttingDown,
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
            Refusal::NotSupported => "-ERR Command not supported",
            Refusal::IdleTimeout => "-ERR Autologout; idle for too long",
            Refusal::ShuttingDown => "-ERR [SYS/TEMP] Server shutting down",
        }
    }

    /// Whether the connection is closed after this reply.
    fn closes(self) -> bool {
        matches!(
            self,
            Refusal::TooManyFailures | Refusal::IdleTimeout | Refusal::ShuttingDown
        )
    }
}

const GREETING: &str = "+OK ringpost ready.";

impl Pop3Session {
    /// A session for a new connection; the greeting is queued at once. `tls_active` is true on
    /// implicit-TLS listeners.
    pub fn new(config: SessionConfig, tls_active: bool) -> Pop3Session {
        let mut machine = Machine {
            config,
            tls_active,
            state: State::Authorization { user: None },
            waiting: None,
            auth_failures: 0,
            out: Vec::with_capacity(256),
            events: VecDeque::new(),
        };
        machine.line(GREETING);
        Pop3Session {
            lines: LineBuffer::new(machine.config.limits.max_line_length),
            machine,
        }
    }

    /// The account this session authenticated as, once in the TRANSACTION state.
    pub fn account(&self) -> Option<&str> {
        match &self.machine.state {
            State::Transaction { account } => Some(account),
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
}

impl Session for Pop3Session {
    fn handle_input(&mut self, input: &[u8]) {
        match (&self.machine.state, self.machine.waiting) {
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
        if self.machine.waiting != Some(Waiting::Tls) {
            return;
        }
        self.machine.waiting = None;
        self.machine.tls_active = true;
        self.machine.state = State::Authorization { user: None };
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

    fn handle_idle_timeout(&mut self) {
        self.machine.refuse(Refusal::IdleTimeout);
    }

    fn handle_shutdown(&mut self) {
        self.machine.refuse(Refusal::ShuttingDown);
    }

    fn poll_output(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.machine.out);
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.machine.events.pop_front()
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
        }
    }

    fn handle_command(&mut self, command: Command) -> Flow {
        let authorization = matches!(self.state, State::Authorization { .. });
        match command {
            Command::Capa => self.capabilities(),
            Command::Quit => {
                // RFC 1939 §6: the UPDATE state (expunge) comes with the store.
                self.line("+OK Bye");
                self.close();
            }
            Command::Stls => {
                if self.tls_active {
                    self.refuse(Refusal::TlsActive);
                } else if !self.config.offers_starttls(self.tls_active) {
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
                        } => self.authenticate(Credentials { username, password }),
                        _ => self.refuse(Refusal::PassWithoutUser),
                    }
                }
            },
            Command::AuthList => match self.may_authenticate() {
                Err(refusal) => self.refuse(refusal),
                Ok(()) => {
                    self.line("+OK Supported mechanisms follow");
                    self.line("PLAIN");
                    self.line("LOGIN");
                    self.line(".");
                }
            },
            Command::Auth {
                mechanism,
                initial_response,
            } => match (self.may_authenticate(), mechanism) {
                (Err(refusal), _) => self.refuse(refusal),
                (Ok(()), AuthMechanism::Unsupported) => self.refuse(Refusal::UnsupportedMechanism),
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
            Command::Noop if !authorization => self.line("+OK"),
            Command::Noop
            | Command::Stat
            | Command::List(_)
            | Command::Retr(_)
            | Command::Dele(_)
            | Command::Rset
            | Command::Top { .. }
            | Command::Uidl(_) => {
                if authorization {
                    self.refuse(Refusal::WrongState);
                } else {
                    self.refuse(Refusal::NotSupported);
                }
            }
        }
        Flow::Continue
    }

    /// Whether USER, PASS or AUTH may be used now. Credentials are only ever accepted over
    /// TLS (RFC 2595 §4, and ringpost's TLS-before-PLAIN rule), only in AUTHORIZATION.
    fn may_authenticate(&self) -> Result<(), Refusal> {
        if !matches!(self.state, State::Authorization { .. }) {
            Err(Refusal::WrongState)
        } else if !self.tls_active {
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
        }
    }

    fn authenticate(&mut self, credentials: Credentials) {
        self.waiting = Some(Waiting::Auth);
        self.events.push_back(Event::Authenticate(credentials));
    }

    fn auth_outcome(&mut self, outcome: AuthOutcome) {
        match outcome {
            AuthOutcome::Success { account } => {
                self.state = State::Transaction { account };
                self.line("+OK Logged in.");
            }
            AuthOutcome::Failure => {
                self.auth_failures += 1;
                if self.auth_failures >= self.config.limits.max_auth_failures {
                    self.refuse(Refusal::TooManyFailures);
                } else {
                    self.refuse(Refusal::AuthFailed);
                }
            }
            AuthOutcome::TemporaryFailure => self.refuse(Refusal::TemporaryAuthFailure),
        }
    }

    /// RFC 2449 §5 and §6. USER and SASL only where they would be accepted (after TLS, in
    /// AUTHORIZATION); STLS only where it is offered.
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
        if self.config.offers_starttls(self.tls_active) {
            self.line("STLS");
        }
        if self.may_authenticate().is_ok() {
            self.line("USER");
            self.line("SASL PLAIN LOGIN");
        }
        self.line("IMPLEMENTATION ringpost");
        self.line(".");
    }

    fn refuse(&mut self, refusal: Refusal) {
        if matches!(self.state, State::Closed) {
            return;
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
}
