//! The SMTP session state machine, up to MAIL. Framing comes from [`LineBuffer`]; every
//! refusal is written by [`Refusal::write`], the one place that maps errors to replies.

use std::collections::VecDeque;
use std::fmt::Write as _;

use super::command::{AuthMechanism, Command, Domain, ParseError, SyntaxError};
use crate::sasl::{encode_challenge, SaslError, SaslExchange, SaslStep};
use crate::session::{AuthOutcome, Credentials, Event, Session, SessionConfig};
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
struct Machine {
    config: SessionConfig,
    kind: SmtpKind,
    tls_active: bool,
    /// The client's EHLO/HELO; `None` before it and after STARTTLS (RFC 3207 §4.2).
    client: Option<Client>,
    /// Inside AUTH: the next line is a SASL response (RFC 4954 §4).
    sasl: Option<SaslExchange>,
    /// The canonical account once AUTH succeeded.
    account: Option<String>,
    auth_failures: u32,
    waiting: Option<Waiting>,
    closed: bool,
    out: Vec<u8>,
    events: VecDeque<Event>,
}

#[derive(Debug)]
struct Client {
    #[allow(dead_code)] // Read by the mail transaction (Received: header), a later issue.
    domain: Domain,
    /// EHLO (true) rather than HELO: service extensions such as AUTH may be used.
    extended: bool,
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
    /// STARTTLS was accepted: drop every buffered byte (RFC 3207 §4.2).
    DiscardBuffered,
}

/// Every way a command is refused. [`Refusal::write`] is the only place that writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Unrecognized,
    Syntax(SyntaxError),
    LineTooLong,
    /// RFC 5321 §2.3.8: lines end in CRLF. A bare LF is refused rather than guessed at, so no
    /// peer can make ringpost see a command boundary another server does not (SMTP smuggling).
    BareLf,
    NotImplemented,
    NeedEhlo,
    TlsActive,
    StartTlsUnavailable,
    AuthUnavailable,
    /// RFC 3207 §4, RFC 4954 §4: credentials only over TLS.
    TlsRequired,
    AlreadyAuthenticated,
    UnsupportedMechanism,
    SaslCancelled,
    SaslMalformed,
    /// RFC 4954 §6: 535 whether the user exists or not.
    AuthFailed,
    TooManyFailures,
    TemporaryAuthFailure,
    /// RFC 4954 §6: MAIL on submission before AUTH.
    AuthRequired,
    IdleTimeout,
    ShuttingDown,
}

impl Refusal {
    /// Append the reply line, with its enhanced status code (RFC 3463, RFC 2034).
    fn write(self, hostname: &str, out: &mut Vec<u8>) {
        let text: &str = match self {
            Refusal::Unrecognized => "500 5.5.2 Command unrecognized",
            Refusal::Syntax(SyntaxError::MissingDomain) => "501 5.5.4 Syntax: EHLO/HELO domain",
            Refusal::Syntax(SyntaxError::UnexpectedArguments) => {
                "501 5.5.4 Syntax error (no parameters allowed)"
            }
            Refusal::Syntax(SyntaxError::BadArguments) => "501 5.5.4 Syntax error in arguments",
            Refusal::Syntax(SyntaxError::BadSender) => "501 5.1.7 Bad sender address syntax",
            Refusal::Syntax(SyntaxError::BadRecipient) => "501 5.1.3 Bad recipient address syntax",
            Refusal::Syntax(SyntaxError::UnknownParameter) => "555 5.5.4 Unsupported parameter",
            Refusal::Syntax(SyntaxError::BadParameter) => "501 5.5.4 Invalid parameter value",
            Refusal::LineTooLong => "500 5.5.6 Line too long",
            Refusal::BareLf => "500 5.5.2 Bare LF line endings are not accepted, use CRLF",
            Refusal::NotImplemented => "502 5.5.1 Command not implemented",
            Refusal::NeedEhlo => "503 5.5.1 Send EHLO first",
            Refusal::TlsActive => "503 5.5.1 TLS already active",
            Refusal::StartTlsUnavailable => "502 5.5.1 STARTTLS not available",
            Refusal::AuthUnavailable => "502 5.5.1 AUTH not available",
            Refusal::TlsRequired => "530 5.7.0 Must issue a STARTTLS command first",
            Refusal::AlreadyAuthenticated => "503 5.5.1 Already authenticated",
            Refusal::UnsupportedMechanism => "504 5.5.4 Unrecognized authentication type",
            Refusal::SaslCancelled => "501 5.0.0 Authentication cancelled",
            Refusal::SaslMalformed => "501 5.5.2 Malformed authentication data",
            Refusal::AuthFailed => "535 5.7.8 Authentication credentials invalid",
            Refusal::TemporaryAuthFailure => "454 4.7.0 Temporary authentication failure",
            Refusal::AuthRequired => "530 5.7.0 Authentication required",
            // RFC 5321 §3.8: 421 names the host.
            Refusal::TooManyFailures => {
                return line(
                    out,
                    &format!("421 4.7.0 {hostname} Too many authentication failures"),
                )
            }
            Refusal::IdleTimeout => {
                return line(
                    out,
                    &format!("421 4.4.2 {hostname} Timeout, closing connection"),
                )
            }
            Refusal::ShuttingDown => {
                return line(out, &format!("421 4.3.2 {hostname} Service shutting down"))
            }
        };
        line(out, text);
    }

    /// Whether the connection is closed after this reply (every 421, RFC 5321 §3.8).
    fn closes(self) -> bool {
        matches!(
            self,
            Refusal::TooManyFailures | Refusal::IdleTimeout | Refusal::ShuttingDown
        )
    }
}

impl SmtpSession {
    /// A session for a new connection; the greeting is queued at once. `tls_active` is true on
    /// implicit-TLS listeners (port 465).
    pub fn new(config: SessionConfig, kind: SmtpKind, tls_active: bool) -> SmtpSession {
        let mut machine = Machine {
            config,
            kind,
            tls_active,
            client: None,
            sasl: None,
            account: None,
            auth_failures: 0,
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

    /// Handle every complete buffered line until an event must be answered first. Pipelined
    /// commands (RFC 2920) are answered one by one, in order.
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

impl Session for SmtpSession {
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
        m.tls_active = true;
        // RFC 3207 §4.2: forget everything learnt from the client; it must EHLO again.
        m.client = None;
        m.sasl = None;
        m.account = None;
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
        match command {
            Command::Ehlo(domain) => {
                // RFC 5321 §4.1.4: EHLO resets any mail transaction (none is kept yet).
                self.client = Some(Client {
                    domain,
                    extended: true,
                });
                self.ehlo_reply();
            }
            Command::Helo(domain) => {
                self.client = Some(Client {
                    domain,
                    extended: false,
                });
                let reply = format!("250 {}", self.config.hostname);
                line(&mut self.out, &reply);
            }
            Command::StartTls => {
                if self.tls_active {
                    return self.refused(Refusal::TlsActive);
                }
                if !self.config.offers_starttls(self.tls_active) {
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
                let AuthMechanism::Known(mechanism) = mechanism else {
                    return self.refused(Refusal::UnsupportedMechanism);
                };
                let (exchange, step) = SaslExchange::start(mechanism, initial_response.as_deref());
                self.sasl_step(exchange, step);
            }
            Command::Mail(_) => {
                if self.kind == SmtpKind::Submission && self.account.is_none() {
                    return self.refused(Refusal::AuthRequired);
                }
                // The mail transaction (RFC 5321 §3.3) arrives with delivery.
                return self.refused(Refusal::NotImplemented);
            }
            Command::Rcpt(_) | Command::Data | Command::Bdat { .. } | Command::Expn => {
                return self.refused(Refusal::NotImplemented)
            }
            Command::Rset | Command::Noop => line(&mut self.out, "250 2.0.0 OK"),
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
            "ENHANCEDSTATUSCODES".to_string(),
        ];
        if self.config.offers_starttls(self.tls_active) {
            lines.push("STARTTLS".to_string());
        }
        if self.kind == SmtpKind::Submission && self.tls_active {
            lines.push("AUTH PLAIN LOGIN".to_string());
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
        } else if !self.tls_active {
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
        }
    }

    fn authenticate(&mut self, credentials: Credentials) {
        self.waiting = Some(Waiting::Auth);
        self.events.push_back(Event::Authenticate(credentials));
    }

    fn auth_outcome(&mut self, outcome: AuthOutcome) {
        match outcome {
            AuthOutcome::Success { account } => {
                self.account = Some(account);
                line(&mut self.out, "235 2.7.0 Authentication successful");
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

    fn refused(&mut self, refusal: Refusal) -> Flow {
        self.refuse(refusal);
        Flow::Continue
    }

    fn refuse(&mut self, refusal: Refusal) {
        if self.closed {
            return;
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

fn line(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}
