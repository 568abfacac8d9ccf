//! The client state machine from the greeting to [`ClientEvent::Ready`] (EHLO or HELO,
//! STARTTLS, AUTH), QUIT, and every way a session ends early. Replies are framed by
//! [`LineBuffer`] and gathered by [`ReplyReader`]; each expected reply is queued as an
//! [`Expect`] when its command is written, so pipelined replies are matched in order
//! (RFC 2920 §3.1). The mail transaction is in [`super::transaction`].

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use super::capabilities::Capabilities;
use super::command::{self, line};
use super::reply::{Class, RawReply, Reply, ReplyError, ReplyReader};
use super::transaction::Transaction;
use super::{timeouts, ClientConfig, ClientEvent, Envelope, Failure, FailureKind, TlsPolicy};
use crate::wire::{Frame, LineBuffer};

/// One SMTP client connection, sans IO. See the [module docs](super) for the contract.
#[derive(Debug)]
pub struct ClientSession {
    lines: LineBuffer,
    machine: Machine,
}

/// Why [`ClientSession::send`] did not start a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Not after a [`ClientEvent::Ready`] (setting up, busy, quitting or closed).
    #[error("the session is not ready for a message")]
    NotReady,
    /// An envelope without recipients.
    #[error("the envelope has no recipients")]
    NoRecipients,
}

/// Everything but the line buffer, so a framed line can be handled while it still borrows
/// the buffer.
pub(super) struct Machine {
    pub(super) config: ClientConfig,
    reader: ReplyReader,
    pub(super) phase: Phase,
    /// TLS is up (implicit, or after STARTTLS).
    pub(super) tls: bool,
    /// What the last EHLO announced; nothing before it, after HELO and after STARTTLS.
    pub(super) caps: Capabilities,
    /// The replies owed for the commands written, in order.
    pub(super) pending: VecDeque<Expect>,
    pub(super) transaction: Option<Transaction>,
    /// [`ClientSession::quit`] was called while the session could not QUIT at once.
    pub(super) quit_requested: bool,
    pub(super) out: Vec<u8>,
    pub(super) events: VecDeque<ClientEvent>,
}

impl fmt::Debug for Machine {
    /// Without the unsent bytes: they may hold an AUTH response (the password in base64).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("config", &self.config)
            .field("phase", &self.phase)
            .field("tls", &self.tls)
            .field("caps", &self.caps)
            .field("pending", &self.pending)
            .field("transaction", &self.transaction)
            .field("quit_requested", &self.quit_requested)
            .field("unsent", &self.out.len())
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Greeting, EHLO/HELO, STARTTLS, AUTH.
    Opening,
    /// [`ClientEvent::StartTls`] asked for; waiting for the driver.
    Handshake,
    /// [`ClientEvent::Ready`] said; waiting for `send` or `quit`.
    Ready,
    /// A transaction, or the RSET after one.
    Busy,
    /// QUIT written.
    Quitting,
    Closed,
}

/// The reply a written command is owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth(AuthStep),
    Mail,
    /// The RCPT of the envelope's recipient at this index.
    Rcpt(usize),
    /// The 354 to DATA.
    Data,
    /// The reply to the end of data.
    DataEnd,
    /// The reply to `BDAT <n> LAST` and its data.
    Bdat,
    Rset,
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuthStep {
    /// 235, or a refusal.
    Final,
    /// AUTH LOGIN's 334 for the user name.
    LoginUser,
    /// AUTH LOGIN's 334 for the password.
    LoginPassword,
}

/// Whether QUIT is written when a session ends early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Farewell {
    /// The last reply was read in step: say goodbye (RFC 5321 §3.1, §4.1.1.10).
    Quit,
    /// The stream is out of step or gone: write nothing more, drop what is unsent.
    Silent,
}

impl ClientSession {
    /// A session for a new connection; it speaks once the server greets.
    pub fn new(config: ClientConfig) -> ClientSession {
        let machine = Machine {
            reader: ReplyReader::new(config.max_reply_lines),
            phase: Phase::Opening,
            tls: config.tls == TlsPolicy::Implicit,
            caps: Capabilities::default(),
            pending: VecDeque::from([Expect::Greeting]),
            transaction: None,
            quit_requested: false,
            out: Vec::with_capacity(256),
            events: VecDeque::new(),
            config,
        };
        ClientSession {
            lines: LineBuffer::new(machine.config.max_line),
            machine,
        }
    }

    /// Bytes received from the server (decrypted when TLS is up).
    pub fn handle_input(&mut self, bytes: &[u8]) {
        match self.machine.phase {
            Phase::Closed => return,
            Phase::Handshake => {
                // Plaintext between the 220 to STARTTLS and the handshake is an attack
                // (CVE-2011-0411 class), never a reply to read after it.
                if !bytes.is_empty() {
                    self.machine.injection();
                }
                return;
            }
            _ => {}
        }
        self.lines.extend(bytes);
        while !matches!(self.machine.phase, Phase::Closed | Phase::Handshake) {
            let result = match self.lines.next_line() {
                None => break,
                Some(Frame::Line { line, .. }) => self.machine.reader.push(line),
                Some(Frame::TooLong { .. }) => Err(ReplyError::LineTooLong),
            };
            match result {
                Ok(None) => {}
                Ok(Some(raw)) => {
                    let trailing = self.lines.buffered();
                    self.machine.handle_reply(raw, trailing);
                }
                Err(error) => {
                    let reply =
                        error.reply(self.machine.config.max_reply_lines, self.lines.max_line());
                    self.machine
                        .fail(FailureKind::Protocol, reply, Farewell::Silent);
                }
            }
        }
    }

    /// Move the bytes to send to the end of `out`.
    pub fn poll_output(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.machine.out);
    }

    /// The next event for the driver, if any.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.machine.events.pop_front()
    }

    /// The handshake asked for with [`ClientEvent::StartTls`] succeeded: everything learnt
    /// before it is forgotten and EHLO sent again (RFC 3207 §4.2).
    pub fn handle_tls_established(&mut self) {
        let m = &mut self.machine;
        if m.phase != Phase::Handshake {
            return;
        }
        m.tls = true;
        m.caps = Capabilities::default();
        m.reader = ReplyReader::new(m.config.max_reply_lines);
        self.lines.clear();
        m.phase = Phase::Opening;
        m.hello();
    }

    /// The handshake asked for with [`ClientEvent::StartTls`] failed: the session ends.
    pub fn handle_tls_failed(&mut self) {
        if self.machine.phase == Phase::Handshake {
            let reply = Reply::synthetic(451, (4, 7, 5), "TLS handshake failed");
            self.machine
                .fail(FailureKind::TlsHandshake, reply, Farewell::Silent);
        }
    }

    /// Start a transaction for `envelope` and `message` (the message as stored, CRLF line
    /// ends expected; see the module docs for what is changed). Its outcome comes as one
    /// [`ClientEvent::Done`]. Only after [`ClientEvent::Ready`].
    pub fn send(&mut self, envelope: Envelope, message: &[u8]) -> Result<(), SendError> {
        if self.machine.phase != Phase::Ready {
            return Err(SendError::NotReady);
        }
        if envelope.recipients.is_empty() {
            return Err(SendError::NoRecipients);
        }
        self.machine.start(envelope, message);
        Ok(())
    }

    /// End the session: QUIT now when ready, or once the setup or the transaction in
    /// progress is over. [`ClientEvent::Closed`] with `None` follows the server's reply.
    pub fn quit(&mut self) {
        match self.machine.phase {
            Phase::Ready => self.machine.write_quit(),
            Phase::Opening | Phase::Handshake | Phase::Busy => self.machine.quit_requested = true,
            Phase::Quitting | Phase::Closed => {}
        }
    }

    /// The connection closed or broke. Recipients in flight are deferred; after QUIT this is
    /// just the end.
    pub fn handle_connection_lost(&mut self) {
        let reply = Reply::synthetic(451, (4, 4, 2), "Connection lost");
        self.machine
            .fail(FailureKind::ConnectionLost, reply, Farewell::Silent);
    }

    /// The server said nothing for [`ClientSession::timeout`]. Recipients in flight are
    /// deferred.
    pub fn handle_timeout(&mut self) {
        let text = match self.timeout() {
            Some(limit) => format!("No reply from the server in {} s", limit.as_secs()),
            None => "Timed out".to_string(),
        };
        let reply = Reply::synthetic(451, (4, 4, 2), text);
        self.machine
            .fail(FailureKind::Timeout, reply, Farewell::Silent);
    }

    /// How long the driver may wait for the server's next reply (RFC 5321 §4.5.3.2); `None`
    /// when no reply is owed (ready, in the TLS handshake, closed).
    pub fn timeout(&self) -> Option<Duration> {
        if matches!(self.machine.phase, Phase::Closed | Phase::Handshake) {
            return None;
        }
        self.machine.pending.front().map(|expect| match expect {
            Expect::Greeting => timeouts::GREETING,
            Expect::Rcpt(_) => timeouts::RCPT,
            Expect::Data => timeouts::DATA_INITIATION,
            Expect::DataEnd | Expect::Bdat => timeouts::DATA_TERMINATION,
            Expect::Ehlo
            | Expect::Helo
            | Expect::StartTls
            | Expect::Auth(_)
            | Expect::Mail
            | Expect::Rset
            | Expect::Quit => timeouts::MAIL,
        })
    }

    /// What the server's last EHLO announced (nothing after HELO or before EHLO).
    pub fn capabilities(&self) -> &Capabilities {
        &self.machine.caps
    }

    /// Whether TLS is up.
    pub fn is_tls(&self) -> bool {
        self.machine.tls
    }
}

impl Machine {
    /// A complete reply; `trailing` bytes were received after it.
    fn handle_reply(&mut self, raw: RawReply, trailing: usize) {
        let Some(expect) = self.pending.pop_front() else {
            let reply = raw.into_reply(self.caps.enhanced_status_codes);
            return self.unsolicited(reply);
        };
        // Bytes that came when no further reply was owed answer a command not yet written.
        let ahead = trailing > 0 && self.pending.is_empty();
        if expect == Expect::Quit {
            // Whatever it says, the session is over (RFC 5321 §4.1.1.10).
            return self.close(None);
        }
        let enhanced = self.caps.enhanced_status_codes
            && !matches!(expect, Expect::Greeting | Expect::Ehlo | Expect::Helo);
        if raw.code == 421 {
            // RFC 5321 §3.8: the server is closing, whatever the command was.
            let reply = raw.into_reply(enhanced);
            return self.fail(FailureKind::ServerClosing, reply, Farewell::Silent);
        }
        match expect {
            Expect::Greeting => self.greeting(raw.into_reply(false)),
            Expect::Ehlo => self.ehlo(raw),
            Expect::Helo => self.helo(raw.into_reply(false)),
            Expect::StartTls => self.starttls(raw.into_reply(enhanced), ahead),
            Expect::Auth(step) => self.auth(step, raw.into_reply(enhanced)),
            Expect::Rset => self.rset(raw.into_reply(enhanced)),
            Expect::Mail | Expect::Rcpt(_) | Expect::Data | Expect::DataEnd | Expect::Bdat => {
                self.transaction_reply(expect, raw.into_reply(enhanced))
            }
            // Handled above.
            Expect::Quit => {}
        }
        if ahead {
            let reply = Reply::synthetic(
                451,
                (4, 5, 0),
                "The server sent a reply before the command it could answer",
            );
            self.fail(FailureKind::Protocol, reply, Farewell::Silent);
        }
    }

    /// A reply when none is owed: a 421 is the server closing (an idle timeout); anything
    /// else is out of step.
    fn unsolicited(&mut self, reply: Reply) {
        if reply.code == 421 {
            return self.fail(FailureKind::ServerClosing, reply, Farewell::Silent);
        }
        let text = format!("Unexpected reply from the server: {reply}");
        let reply = Reply::synthetic(451, (4, 5, 0), text);
        self.fail(FailureKind::Protocol, reply, Farewell::Silent);
    }

    /// A reply of the wrong class for `what` (a 354 to RCPT, a 250 to DATA).
    pub(super) fn out_of_step(&mut self, what: &str, reply: &Reply) {
        let text = format!("Unexpected reply to {what}: {reply}");
        let reply = Reply::synthetic(451, (4, 5, 0), text);
        self.fail(FailureKind::Protocol, reply, Farewell::Silent);
    }

    /// Plaintext after the 220 to STARTTLS.
    fn injection(&mut self) {
        let reply = Reply::synthetic(
            451,
            (4, 5, 0),
            "The server sent data after its reply to STARTTLS (response injection)",
        );
        self.fail(FailureKind::Protocol, reply, Farewell::Silent);
    }

    /// RFC 5321 §3.1: 220, anything else turns us away (554 means "no service here").
    fn greeting(&mut self, reply: Reply) {
        if reply.code == 220 {
            self.hello();
        } else {
            self.fail(FailureKind::Greeting, reply, Farewell::Quit);
        }
    }

    /// EHLO (RFC 5321 §4.1.1.1), again after STARTTLS.
    fn hello(&mut self) {
        line(&mut self.out, &format!("EHLO {}", self.config.helo_name));
        self.pending.push_back(Expect::Ehlo);
    }

    fn ehlo(&mut self, raw: RawReply) {
        match raw.code {
            200..=299 => {
                self.caps = Capabilities::parse(&raw.lines);
                self.after_hello();
            }
            // RFC 5321 §4.1.4, §3.2: a server that does not know EHLO; try HELO.
            500 | 502 => {
                line(&mut self.out, &format!("HELO {}", self.config.helo_name));
                self.pending.push_back(Expect::Helo);
            }
            _ => self.fail(FailureKind::Hello, raw.into_reply(false), Farewell::Quit),
        }
    }

    fn helo(&mut self, reply: Reply) {
        if reply.class() == Class::Positive {
            self.caps = Capabilities::default();
            self.after_hello();
        } else {
            self.fail(FailureKind::Hello, reply, Farewell::Quit);
        }
    }

    /// After EHLO/HELO: STARTTLS if the policy wants it, then AUTH if configured.
    fn after_hello(&mut self) {
        if !self.tls {
            match self.config.tls {
                TlsPolicy::Opportunistic | TlsPolicy::Required if self.caps.starttls => {
                    line(&mut self.out, "STARTTLS");
                    self.pending.push_back(Expect::StartTls);
                    return;
                }
                TlsPolicy::Required => {
                    let reply = Reply::synthetic(
                        451,
                        (4, 7, 4),
                        "STARTTLS required but not offered by the server",
                    );
                    return self.fail(FailureKind::StartTlsUnavailable, reply, Farewell::Quit);
                }
                TlsPolicy::Opportunistic | TlsPolicy::Disabled | TlsPolicy::Implicit => {}
            }
        }
        self.authenticate();
    }

    /// RFC 3207 §4: 220, then the handshake before anything else is read.
    fn starttls(&mut self, reply: Reply, ahead: bool) {
        if reply.code == 220 {
            if ahead {
                return self.injection();
            }
            self.phase = Phase::Handshake;
            self.events.push_back(ClientEvent::StartTls);
        } else if self.config.tls == TlsPolicy::Required {
            self.fail(FailureKind::StartTlsRefused, reply, Farewell::Quit);
        } else {
            // Opportunistic: carry on in plaintext with what EHLO said (RFC 3207 §4.1).
            self.authenticate();
        }
    }

    /// AUTH when configured (RFC 4954 §4): only over TLS; PLAIN with an initial response,
    /// else LOGIN.
    fn authenticate(&mut self) {
        let Some((user, password)) = &self.config.auth else {
            return self.become_ready();
        };
        let refusal = if !self.tls {
            Some((
                FailureKind::AuthNeedsTls,
                (4, 7, 10),
                "AUTH configured but TLS is not established: credentials never go in plaintext",
            ))
        } else if self.caps.offers_auth("PLAIN") {
            command::auth_plain(&mut self.out, user, password.expose());
            self.pending.push_back(Expect::Auth(AuthStep::Final));
            None
        } else if self.caps.offers_auth("LOGIN") {
            line(&mut self.out, "AUTH LOGIN");
            self.pending.push_back(Expect::Auth(AuthStep::LoginUser));
            None
        } else if self.caps.auth.is_empty() {
            Some((
                FailureKind::AuthUnavailable,
                (4, 7, 0),
                "AUTH configured but not offered by the server",
            ))
        } else {
            Some((
                FailureKind::AuthUnavailable,
                (4, 7, 0),
                "AUTH configured but the server offers neither PLAIN nor LOGIN",
            ))
        };
        if let Some((kind, enhanced, text)) = refusal {
            self.fail(kind, Reply::synthetic(451, enhanced, text), Farewell::Quit);
        }
    }

    fn auth(&mut self, step: AuthStep, reply: Reply) {
        let Some((user, password)) = &self.config.auth else {
            return self.out_of_step("AUTH", &reply);
        };
        match (step, reply.class(), reply.code) {
            (_, Class::Transient | Class::Permanent, _) => {
                self.fail(FailureKind::AuthRejected, reply, Farewell::Quit)
            }
            (AuthStep::Final, Class::Positive, _) => self.become_ready(),
            (AuthStep::LoginUser, Class::Intermediate, 334) => {
                command::auth_response(&mut self.out, user);
                self.pending
                    .push_back(Expect::Auth(AuthStep::LoginPassword));
            }
            (AuthStep::LoginPassword, Class::Intermediate, 334) => {
                command::auth_response(&mut self.out, password.expose());
                self.pending.push_back(Expect::Auth(AuthStep::Final));
            }
            _ => self.out_of_step("AUTH", &reply),
        }
    }

    fn rset(&mut self, reply: Reply) {
        if reply.class() == Class::Positive {
            self.become_ready();
        } else {
            self.fail(FailureKind::Protocol, reply, Farewell::Quit);
        }
    }

    /// The session can take a message: say so, or QUIT if asked to meanwhile.
    pub(super) fn become_ready(&mut self) {
        if self.quit_requested {
            self.write_quit();
        } else {
            self.phase = Phase::Ready;
            self.events.push_back(ClientEvent::Ready);
        }
    }

    fn write_quit(&mut self) {
        line(&mut self.out, "QUIT");
        self.pending.push_back(Expect::Quit);
        self.phase = Phase::Quitting;
    }

    pub(super) fn close(&mut self, failure: Option<Failure>) {
        self.pending.clear();
        self.phase = Phase::Closed;
        self.events.push_back(ClientEvent::Closed(failure));
    }

    /// End the session early: recipients in flight are deferred with `reply` in a `Done`,
    /// then `Closed` says why.
    pub(super) fn fail(&mut self, kind: FailureKind, reply: Reply, farewell: Farewell) {
        match self.phase {
            Phase::Closed => return,
            // After QUIT nothing is in flight: whatever goes wrong, the session is just over.
            Phase::Quitting => return self.close(None),
            Phase::Opening | Phase::Handshake | Phase::Ready | Phase::Busy => {}
        }
        if let Some(transaction) = self.transaction.take() {
            self.events
                .push_back(ClientEvent::Done(transaction.abandon(&reply)));
        }
        match farewell {
            Farewell::Quit => line(&mut self.out, "QUIT"),
            Farewell::Silent => self.out.clear(),
        }
        self.close(Some(Failure { kind, reply }));
    }
}
