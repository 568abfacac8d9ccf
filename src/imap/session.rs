//! The IMAP session state machine (RFC 9051 §3), over [`super::framing`] and
//! [`super::command`]: the not-authenticated and any-state commands here, the authenticated
//! and selected states in [`commands`] (mailbox work goes to the driver as typed
//! [`crate::mailbox::MailboxRequest`]s), the selected mailbox in [`view`], SEARCH in
//! [`search`], the searches kept up to date (RFC 5267 §4) in [`context`], QRESYNC's
//! resynchronization and VANISHED responses in [`qresync`].
//!
//! Every peer mistake maps to a reply here; nothing a client sends can panic the session.
//! Never does IO, never reads the clock: the driver feeds bytes and answers events.

mod acl;
mod catenate;
mod commands;
mod context;
#[cfg(test)]
mod handoff_tests;
mod mailboxes;
mod messages;
mod metadata;
mod notify;
mod qresync;
#[cfg(test)]
mod robustness_tests;
mod search;
mod sort;
#[cfg(test)]
mod stream_tests;
mod uidset;
mod view;

use std::collections::VecDeque;

use self::commands::Pending;
use self::view::View;
use crate::mailbox::{MailboxAnswer, MailboxChange, MailboxNotice, MailboxReply, MailboxRequest};

use super::command::{
    self, AuthMechanism, Command, Malformed, NameEncoding, ParseError, Tag, Verb,
};
use super::framing::{CommandAssembler, Fragment, Item, LiteralHeader, LiteralMode};
use super::response::{Capability, Code, Response, Status};
use crate::sasl::{Mechanism, SaslError, SaslExchange, SaslStep};
use crate::session::{
    AuthOutcome, Credentials, Event, Handoff, Output, Overload, Security, Session, SessionConfig,
};
use crate::wire::Frame;

/// RFC 9051 §3 connection states (Selected comes with SELECT).
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    NotAuthenticated,
    Authenticated {
        account: String,
    },
    /// BYE sent, close requested: all further input is ignored.
    Logout,
}

/// Work the session waits for before it reads any further command.
#[derive(Debug)]
enum Wait {
    Nothing,
    /// `Event::StartTls` was emitted.
    Tls,
    /// `Event::StartCompression` was emitted: what follows the command is compressed.
    Compression,
    /// `Event::Authenticate` was emitted for the command with this tag.
    AuthResult(Tag),
    /// An AUTHENTICATE exchange is expecting the client's next response line.
    SaslResponse(Tag, SaslExchange),
    /// `Event::Request` was emitted for this command.
    Mailbox(Pending),
    /// IDLE (RFC 9051 §6.3.13) until the client sends `DONE`.
    Idle(Tag),
}

/// One IMAP connection, sans-IO.
#[derive(Debug)]
pub struct ImapSession {
    /// Complete commands received.
    commands: u64,
    /// The limit last refused for, not yet taken by the driver (for its log line).
    limit_hit: Option<&'static str>,
    config: SessionConfig,
    security: Security,
    state: State,
    wait: Wait,
    framer: CommandAssembler,
    /// The reply owed for a command whose non-synchronizing literal is being discarded.
    deferred: Option<Response>,
    auth_failures: u32,
    /// The mechanism of the pending authentication (a bearer token's refusal is a challenge
    /// first; SCRAM goes on).
    pending_mechanism: &'static str,
    /// `ENABLE IMAP4rev2` was accepted (RFC 9051 §6.3.1); rev2-only behaviour keys off this.
    imap4rev2_enabled: bool,
    /// `ENABLE UTF8=ACCEPT` (RFC 6855 §3): mailbox names are UTF-8, as with IMAP4rev2.
    utf8_accept: bool,
    /// The selected mailbox (RFC 9051 §3.3), in the authenticated state only.
    selected: Option<View>,
    /// CONDSTORE is enabled (RFC 7162 §3.1): FETCH responses carry MODSEQ.
    condstore: bool,
    /// NOTIFY is set (RFC 5465): what it asked of the selected mailbox (boxed: an idle
    /// session stays small).
    notify: Option<Box<notify::Notifying>>,
    /// `ENABLE QRESYNC` (RFC 7162 §3.2.3): SELECT takes QRESYNC, expunges are `VANISHED`.
    qresync: bool,
    /// ENABLE UIDONLY (RFC 9586): no message sequence numbers in commands or responses.
    uid_only: bool,
    /// COMPRESS DEFLATE succeeded (RFC 4978): on for the rest of the connection, across
    /// UNAUTHENTICATE and a new login.
    compressing: bool,
    /// Between COMPRESS's OK and [`Session::handle_compression_started`]: how much of `out`
    /// may go out uncompressed (the OK and what came before it). Anything queued meanwhile (a
    /// farewell on shutdown or revocation) waits until the driver compresses.
    uncompressed_out: Option<usize>,
    /// Large APPEND literals the driver holds as streams for the command being read or run,
    /// and not appended yet (see [`STREAM_LITERAL_FROM`]).
    streamed: u32,
    out: Vec<u8>,
    events: VecDeque<Event<MailboxRequest>>,
}

/// Text of the greeting (RFC 9051 §7.1.1). The host name is left out on purpose: replies do
/// not reveal configuration.
const GREETING: &str = "ringpost ready.";

/// APPEND literals of at least this many octets are streamed to the store as they arrive
/// instead of being buffered by the session: the message is held once, in the buffer its log
/// record is written from.
pub const STREAM_LITERAL_FROM: u64 = 256 << 10;

/// A refused non-synchronizing literal up to this size (or up to the literal limit of its
/// command, if larger) is read and dropped and the session goes on; a larger one ends it.
const DISCARD_MAX: u64 = 64 << 10;

/// Before login a literal holds a user name or a password: a few KiB at most (as Dovecot).
const PRE_AUTH_LITERAL_MAX: usize = 8 << 10;

/// RFC 2971 §3.3: an ID field value is at most 1024 octets.
const ID_VALUE_MAX: usize = 1024;

impl ImapSession {
    /// A session on a fresh connection, greeting queued. `security` is [`Security::Tls`] on implicit-TLS
    /// listeners (the handshake is already done).
    pub fn new(config: SessionConfig, security: Security) -> ImapSession {
        let limits = &config.limits;
        let framer = CommandAssembler::new(
            limits.max_line_length,
            pre_auth_max_command(limits.max_line_length),
        );
        let mut session = ImapSession {
            commands: 0,
            limit_hit: None,
            config,
            security,
            state: State::NotAuthenticated,
            wait: Wait::Nothing,
            framer,
            deferred: None,
            auth_failures: 0,
            pending_mechanism: "",
            imap4rev2_enabled: false,
            utf8_accept: false,
            selected: None,
            condstore: false,
            notify: None,
            qresync: false,
            uid_only: false,
            compressing: false,
            uncompressed_out: None,
            streamed: 0,
            out: Vec::new(),
            events: VecDeque::new(),
        };
        let caps = session.capabilities();
        session.send(Response::untagged(
            Status::Ok,
            Some(Code::Capability(caps)),
            GREETING,
        ));
        session
    }

    /// A session another host began, continued here where [`Session::handoff`] took it:
    /// waiting for the answer to its login, with no greeting (the client has had it). The
    /// client's connection is TLS (no login happens before it), held by the other host.
    pub fn from_handoff(config: SessionConfig, handoff: Handoff) -> Option<ImapSession> {
        let tag = Tag::parse(&handoff.tag)?;
        let mut session = ImapSession::new(config, Security::Tls);
        session.out.clear();
        session.commands = handoff.commands;
        session.auth_failures = handoff.auth_failures;
        session.compressing = handoff.compressing;
        session.pending_mechanism =
            Mechanism::parse(handoff.mechanism.as_bytes()).map_or("", |m| m.name());
        session.wait = Wait::AuthResult(tag);
        session.framer.extend(&handoff.input);
        Some(session)
    }

    /// The capabilities for the current state and transport (RFC 9051 §6.1.1, §6.2.1:
    /// STARTTLS and LOGINDISABLED before TLS, SASL mechanisms only after).
    fn capabilities(&self) -> Vec<Capability> {
        let mut caps = vec![
            Capability::Imap4rev1,
            Capability::Imap4rev2,
            Capability::LiteralPlus,
            Capability::Enable,
            Capability::Id,
        ];
        if self.state != State::NotAuthenticated {
            caps.extend([
                Capability::Idle,
                Capability::Namespace,
                Capability::UidPlus,
                Capability::Move,
                Capability::Unselect,
                Capability::Children,
                Capability::SpecialUse,
                Capability::CreateSpecialUse,
                Capability::ListExtended,
                Capability::ListStatus,
                Capability::StatusSize,
                Capability::Esearch,
                Capability::SearchRes,
                Capability::CondStore,
                Capability::QResync,
                Capability::Utf8Accept,
                Capability::Binary,
                Capability::MultiAppend,
                Capability::Sort,
                Capability::SortDisplay,
                Capability::ESort,
                Capability::ContextSearch,
                Capability::ContextSort,
                Capability::ThreadOrderedSubject,
                Capability::ThreadReferences,
                Capability::ThreadRefs,
                Capability::CompressDeflate,
                Capability::Unauthenticate,
                Capability::Preview,
                Capability::Within,
                Capability::UidOnly,
                Capability::Partial,
                Capability::InProgress,
                Capability::Catenate,
                Capability::Replace,
                Capability::Quota,
                Capability::QuotaResStorage,
                Capability::QuotaResMessage,
                Capability::Metadata,
                Capability::MetadataServer,
                Capability::SaveDate,
                Capability::ObjectId,
                Capability::Notify,
                Capability::Acl,
                Capability::RightsTexk,
                Capability::ListMyRights,
                Capability::AppendLimit(self.config.limits.max_message_size),
            ]);
            return caps;
        }
        if self.security.is_tls() {
            caps.extend([
                Capability::Auth(Mechanism::Plain),
                Capability::Auth(Mechanism::Login),
                Capability::SaslIr,
            ]);
            for m in [
                Mechanism::ScramSha256Plus,
                Mechanism::ScramSha256,
                Mechanism::OAuthBearer,
                Mechanism::XOAuth2,
            ] {
                if self.config.offers(m) {
                    caps.push(Capability::Auth(m));
                }
            }
        } else {
            if self.config.offers_starttls(self.security) {
                caps.push(Capability::StartTls);
            }
            caps.push(Capability::LoginDisabled);
        }
        caps
    }

    /// Whether the `IMAP4rev2` extension was enabled by the client.
    pub fn imap4rev2_enabled(&self) -> bool {
        self.imap4rev2_enabled
    }

    /// Bytes received and not yet consumed.
    #[cfg(test)]
    pub(super) fn buffered_input(&self) -> usize {
        self.framer.buffered()
    }

    /// Largest literal accepted now for `verb`. Before login only a user name or password
    /// can be in a literal, so the line limit bounds what an unauthenticated peer can make us
    /// buffer; an ID value is at most 1024 octets (RFC 2971 §3.3).
    fn max_literal(&self, verb: Verb) -> u64 {
        let limits = &self.config.limits;
        let max = match (verb, &self.state) {
            (Verb::Id, _) => limits.max_literal_size.min(ID_VALUE_MAX),
            (_, State::NotAuthenticated) => limits
                .max_literal_size
                .min(limits.max_line_length)
                .min(PRE_AUTH_LITERAL_MAX),
            // RFC 7889: a message over APPENDLIMIT is refused before it is sent (APPEND,
            // REPLACE, UID REPLACE).
            _ if command::stores_message(self.framer.first_line()) => {
                limits.max_literal_size.min(limits.max_message_size)
            }
            _ => limits.max_literal_size,
        };
        max as u64
    }

    fn send(&mut self, response: Response) {
        if let Response::Status {
            code: Some(Code::TooBig),
            text,
            ..
        } = &response
        {
            self.limit_hit = Some(text);
        }
        response.encode(&mut self.out);
    }

    fn tagged(&mut self, tag: Tag, status: Status, code: Option<Code>, text: &'static str) {
        self.send(Response::tagged(tag, status, code, text));
    }

    fn bye_and_close(&mut self, text: &'static str) {
        self.send(Response::untagged(Status::Bye, None, text));
        self.close();
    }

    fn close(&mut self) {
        self.state = State::Logout;
        self.wait = Wait::Nothing;
        self.deferred = None;
        self.framer.clear();
        self.events.push_back(Event::Close);
    }

    /// Run buffered input until it runs out or the session must wait.
    fn process(&mut self) {
        while self.state != State::Logout {
            match self.wait {
                Wait::Tls | Wait::Compression | Wait::AuthResult(_) | Wait::Mailbox(_) => return,
                Wait::Idle(_) => {
                    if !self.process_idle_line() {
                        self.notify_fetch();
                        return;
                    }
                }
                Wait::SaslResponse(..) => {
                    if !self.process_sasl_line() {
                        return;
                    }
                }
                Wait::Nothing => {
                    let Some(item) = self.framer.next_item() else {
                        self.notify_fetch();
                        return;
                    };
                    self.handle_item(item);
                }
            }
        }
    }

    fn handle_item(&mut self, item: Item) {
        match item {
            Item::Command(parts) => {
                self.handle_command(&parts);
                // Streams of a command that did not become an APPEND die with it.
                if matches!(self.wait, Wait::Nothing) {
                    self.drop_streams();
                }
            }
            Item::Literal(header) => self.decide_literal(header),
            Item::LiteralData(data) => {
                self.request(Pending::StreamData, MailboxRequest::AppendData(data));
            }
            Item::TooLong { head } => {
                self.drop_streams();
                // RFC 9051 §7.1: TOOBIG; the tag is echoed when it can be read whole.
                self.send(Response::Status {
                    tag: Tag::recover(&head),
                    status: Status::Bad,
                    code: Some(Code::TooBig),
                    text: "Command line too long",
                });
            }
            Item::Discarded => {
                if let Some(reply) = self.deferred.take() {
                    self.send(reply);
                }
            }
        }
    }

    /// A complete command. Before login, an authenticated-state command is refused on its
    /// name alone: its arguments are never parsed for a peer that has not logged in.
    fn handle_command(&mut self, parts: &[Fragment]) {
        self.commands += 1;
        if self.state == State::NotAuthenticated {
            let first = match parts.first() {
                Some(Fragment::Line(line)) => line.as_slice(),
                _ => &[],
            };
            if let Ok((tag, Some(verb))) = command::peek(first) {
                if verb.needs_authentication() {
                    self.send(bad(tag, "Log in first"));
                    return;
                }
            }
        }
        match command::parse(parts, self.name_encoding()) {
            Ok(cmd) => self.execute(cmd.tag, cmd.command),
            Err(e) => self.send(malformed(e)),
        }
    }

    /// Mailbox names are UTF-8 once IMAP4rev2 (RFC 9051 §5.1) or UTF8=ACCEPT (RFC 6855 §3)
    /// is enabled, modified UTF-7 before (RFC 3501 §5.1.3).
    fn name_encoding(&self) -> NameEncoding {
        if self.imap4rev2_enabled || self.utf8_accept {
            NameEncoding::Utf8
        } else {
            NameEncoding::ModifiedUtf7
        }
    }

    /// A line ended with a literal marker: send `+`, read it silently (LITERAL+), or refuse
    /// the command before the client sends it (RFC 9051 §7.5, RFC 7888 §4).
    fn decide_literal(&mut self, header: LiteralHeader) {
        let sync = header.mode == LiteralMode::Synchronizing;
        // What a refused non-synchronizing literal may cost us in reading and dropping.
        let mut discard_max = DISCARD_MAX;
        let refusal = match command::peek(self.framer.first_line()) {
            Err(e) => Some(malformed(e)),
            Ok((tag, None)) => Some(bad(tag, Malformed::UnknownCommand.text())),
            Ok((tag, Some(verb))) => {
                discard_max = discard_max.max(self.max_literal(verb));
                let total = (self.framer.assembled_len() as u64).saturating_add(header.len);
                if let Some(reply) = self.refusal(&tag, verb) {
                    Some(reply)
                } else if !verb.takes_strings() {
                    Some(bad(tag, "Literal not allowed here"))
                } else if verb == Verb::Login && !self.security.is_tls() {
                    Some(privacy_required(tag))
                } else if header.len > self.max_literal(verb) || total > self.max_command() as u64 {
                    // RFC 7888 §4: NO for a synchronizing literal, BAD once a
                    // non-synchronizing one has been read.
                    let status = if sync { Status::No } else { Status::Bad };
                    Some(Response::tagged(
                        tag,
                        status,
                        Some(Code::TooBig),
                        "Literal too big",
                    ))
                } else {
                    None
                }
            }
        };
        match refusal {
            None => match self.streamed_append(header) {
                // The `+` (if any) once the store is ready for it.
                Some(tag) => self.request(
                    Pending::StreamBegin { tag, sync },
                    MailboxRequest::AppendBegin { len: header.len },
                ),
                None => {
                    self.framer.accept_literal();
                    if sync {
                        self.send(Response::Continue("Ready for additional command text"));
                    }
                }
            },
            // RFC 7888 §4: a refused non-synchronizing literal is consumed, or the connection
            // closed. Past what is worth reading, the BAD goes out now and the connection ends,
            // so a peer cannot keep us reading (and itself unanswered) for as long as it sends.
            Some(reply) if !sync && header.len > discard_max => {
                self.send(reply);
                self.drop_streams();
                self.bye_and_close("Literal too big");
            }
            Some(reply) => self.refuse_literal(reply, sync),
        }
    }

    /// The APPEND's tag if this (accepted) literal is streamed to the store rather than
    /// buffered: a large APPEND message once logged in.
    fn streamed_append(&self, header: LiteralHeader) -> Option<Tag> {
        if header.len < STREAM_LITERAL_FROM || !matches!(self.state, State::Authenticated { .. }) {
            return None;
        }
        let line = self.framer.first_line();
        // A CATENATE's TEXT parts are kept in memory (they are the short parts; the large
        // ones come by URL).
        let catenate = line
            .windows(b"CATENATE".len())
            .any(|w| w.eq_ignore_ascii_case(b"CATENATE"));
        match command::peek(line) {
            Ok((tag, Some(_))) if command::stores_message(line) && !catenate => Some(tag),
            _ => None,
        }
    }

    /// Refuse the literal being decided, and with it its command.
    fn refuse_literal(&mut self, reply: Response, sync: bool) {
        self.framer.reject_literal();
        if sync {
            self.send(reply);
        } else {
            self.deferred = Some(reply);
        }
        self.drop_streams();
    }

    /// Tell the driver to forget the streams of a command that will not append them.
    fn drop_streams(&mut self) {
        if self.streamed > 0 {
            self.streamed = 0;
            self.request(Pending::StreamsDropped, MailboxRequest::DropStreams);
        }
    }

    fn max_command(&self) -> usize {
        let limits = &self.config.limits;
        match self.state {
            State::NotAuthenticated => pre_auth_max_command(limits.max_line_length),
            _ => limits
                .max_literal_size
                .saturating_add(limits.max_line_length),
        }
    }

    /// The reply a command gets in this state whatever its arguments, if the state forbids it.
    fn state_refusal(&self, tag: &Tag, verb: Verb) -> Option<Response> {
        let authenticated = matches!(self.state, State::Authenticated { .. });
        if !authenticated && verb.needs_authentication() {
            return Some(bad(tag.clone(), "Log in first"));
        }
        if authenticated && matches!(verb, Verb::Login | Verb::Authenticate | Verb::StartTls) {
            return Some(bad(tag.clone(), "Already authenticated"));
        }
        if self.selected.is_none() && verb.needs_selection() {
            return Some(bad(tag.clone(), "No mailbox selected"));
        }
        None
    }

    /// The reply a well-formed command gets now, if it may not run: refused by the state,
    /// or by UIDONLY.
    fn refusal(&self, tag: &Tag, verb: Verb) -> Option<Response> {
        if let Some(reply) = self.state_refusal(tag, verb) {
            return Some(reply);
        }
        if self.uid_only && verb.takes_sequence_numbers() {
            return Some(uid_required(tag.clone()));
        }
        None
    }

    fn execute(&mut self, tag: Tag, command: Command) {
        let verb = command.verb();
        if let Some(reply) = self.refusal(&tag, verb) {
            self.send(reply);
            return;
        }
        // RFC 9586 §3: not even inside a UID command's search keys or QRESYNC's
        // sequence-match data.
        if self.uid_only && command.names_sequence_numbers() {
            self.send(uid_required(tag));
            return;
        }
        match command {
            Command::Capability => {
                self.send(Response::Capability(self.capabilities()));
                self.tagged(tag, Status::Ok, None, "CAPABILITY completed");
            }
            Command::Noop => self.ok(tag, "NOOP completed"),
            Command::Logout => {
                // RFC 9051 §6.1.3: untagged BYE, then the tagged OK, then close.
                self.send(Response::untagged(Status::Bye, None, "Logging out"));
                self.tagged(tag, Status::Ok, None, "LOGOUT completed");
                self.close();
            }
            Command::Id(_) => {
                self.send(Response::Id {
                    name: "ringpost",
                    version: env!("CARGO_PKG_VERSION"),
                });
                self.tagged(tag, Status::Ok, None, "ID completed");
            }
            Command::Enable(names) => self.enable(tag, &names),
            Command::StartTls => self.start_tls(tag),
            Command::Compress(algorithm) => self.compress(tag, &algorithm),
            Command::Login { username, password } => {
                if !self.security.is_tls() {
                    // RFC 9051 §6.2.3: LOGINDISABLED is advertised; refuse without checking.
                    self.send(privacy_required(tag));
                    return;
                }
                self.authenticate(
                    tag,
                    Credentials {
                        username,
                        password,
                        mechanism: "IMAP LOGIN",
                    },
                );
            }
            Command::Authenticate {
                mechanism,
                initial_response,
            } => self.start_sasl(tag, mechanism, initial_response.as_deref()),
            other => self.execute_mailbox(tag, other),
        }
    }

    /// Turn CONDSTORE on (RFC 7162 §3.1): the first CONDSTORE-enabling command while a
    /// mailbox is selected is followed by `OK [HIGHESTMODSEQ]`, so the client learns the
    /// mailbox's modseq it had no reason to ask for at SELECT.
    pub(super) fn enable_condstore(&mut self) {
        if self.condstore {
            return;
        }
        self.condstore = true;
        if let Some(view) = self.selected.as_ref() {
            let mut out = Vec::new();
            Response::untagged(
                Status::Ok,
                Some(Code::HighestModSeq(view.highest_modseq.0)),
                "Highest",
            )
            .encode(&mut out);
            self.out.extend_from_slice(&out);
        }
    }

    /// RFC 8437: back to the not-authenticated state. The selected mailbox is closed without
    /// an expunge, what ENABLE turned on is off again, and the driver forgets the account
    /// (and the service its state); TLS stays. A later login may be another account's.
    pub(super) fn unauthenticate(&mut self, tag: Tag) {
        self.selected = None;
        // The service goes with the login, and its watch with it.
        self.notify = None;
        self.state = State::NotAuthenticated;
        self.imap4rev2_enabled = false;
        self.utf8_accept = false;
        self.condstore = false;
        self.qresync = false;
        self.uid_only = false;
        self.auth_failures = 0;
        self.events.push_back(Event::Unauthenticated);
        self.tagged(tag, Status::Ok, None, "UNAUTHENTICATE completed");
    }

    /// RFC 5161 §3.1: list only what this command newly enabled.
    fn enable(&mut self, tag: Tag, names: &[String]) {
        let mut enabled = Vec::new();
        let mut condstore_now = false;
        for name in names {
            if name.eq_ignore_ascii_case("IMAP4rev2") && !self.imap4rev2_enabled {
                self.imap4rev2_enabled = true;
                enabled.push("IMAP4rev2");
            }
            // RFC 7162 §3.1: CONDSTORE can be enabled only after login.
            let authenticated = self.state != State::NotAuthenticated;
            if name.eq_ignore_ascii_case("CONDSTORE") && authenticated && !self.condstore {
                condstore_now = true;
                enabled.push("CONDSTORE");
            }
            // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE; ENABLED names only what was asked.
            if name.eq_ignore_ascii_case("QRESYNC") && authenticated && !self.qresync {
                self.qresync = true;
                condstore_now = true;
                enabled.push("QRESYNC");
            }
            if name.eq_ignore_ascii_case("UIDONLY") && authenticated && !self.uid_only {
                self.uid_only = true;
                enabled.push("UIDONLY");
            }
            if name.eq_ignore_ascii_case("UTF8=ACCEPT") && authenticated && !self.utf8_accept {
                self.utf8_accept = true;
                enabled.push("UTF8=ACCEPT");
            }
        }
        self.send(Response::Enabled(enabled));
        if condstore_now {
            self.enable_condstore();
        }
        self.tagged(tag, Status::Ok, None, "ENABLE completed");
    }

    /// RFC 9051 §6.2.1.
    fn start_tls(&mut self, tag: Tag) {
        if !self.config.offers_starttls(self.security) {
            let text = if self.security.is_tls() {
                "TLS is already active"
            } else {
                "STARTTLS not available"
            };
            self.tagged(tag, Status::Bad, None, text);
            return;
        }
        self.tagged(tag, Status::Ok, None, "Begin TLS negotiation now");
        // Pipelined plaintext after STARTTLS must never be executed (RFC 9051 §6.2.1,
        // RFC 2595 §3.1).
        self.framer.clear();
        self.wait = Wait::Tls;
        self.events.push_back(Event::StartTls);
    }

    /// RFC 4978 §3: `COMPRESS DEFLATE` (the state was checked: authenticated or selected).
    /// After the tagged OK both directions are raw DEFLATE streams; the bytes the client sent
    /// after this command are compressed already, so they are handed to the driver to inflate
    /// ([`Session::handle_compression_started`]) and never parsed here.
    ///
    /// TLS compression would be reason for `NO [COMPRESSIONACTIVE]` too (RFC 4978 §3), but
    /// rustls never compresses, so only our own COMPRESS counts.
    fn compress(&mut self, tag: Tag, algorithm: &str) {
        if self.compressing {
            self.tagged(
                tag,
                Status::No,
                Some(Code::CompressionActive),
                "DEFLATE active via COMPRESS",
            );
            return;
        }
        if !algorithm.eq_ignore_ascii_case("DEFLATE") {
            self.tagged(tag, Status::Bad, None, "Unknown compression algorithm");
            return;
        }
        self.tagged(tag, Status::Ok, None, "DEFLATE active");
        self.compressing = true;
        self.uncompressed_out = Some(self.out.len());
        self.wait = Wait::Compression;
        self.events.push_back(Event::StartCompression);
    }

    /// RFC 9051 §6.2.2, RFC 4959.
    fn start_sasl(&mut self, tag: Tag, mechanism: AuthMechanism, initial: Option<&[u8]>) {
        if !self.security.is_tls() {
            self.send(privacy_required(tag));
            return;
        }
        let mechanism = match mechanism {
            AuthMechanism::Known(m) if self.config.offers(m) => m,
            _ => {
                self.tagged(
                    tag,
                    Status::No,
                    None,
                    "Unsupported authentication mechanism",
                );
                return;
            }
        };
        let (exchange, step) = SaslExchange::start(mechanism, initial);
        self.sasl_step(tag, exchange, step);
    }

    fn sasl_step(&mut self, tag: Tag, exchange: SaslExchange, step: SaslStep) {
        match step {
            SaslStep::Challenge(raw) => {
                self.send(Response::Challenge(raw));
                self.wait = Wait::SaslResponse(tag, exchange);
            }
            SaslStep::Done(credentials) => self.authenticate(tag, credentials),
            // RFC 9051 §6.2.2: a cancelled exchange or invalid base64 gets a tagged BAD.
            SaslStep::Failed(SaslError::Cancelled) => {
                self.tagged(tag, Status::Bad, None, "Authentication cancelled")
            }
            SaslStep::Failed(SaslError::Malformed) => {
                self.tagged(tag, Status::Bad, None, "Invalid SASL response")
            }
            SaslStep::Failed(SaslError::Rejected) => self.auth_failed(tag),
        }
    }

    /// Feed one line to the running SASL exchange; false when more input is needed.
    fn process_sasl_line(&mut self) -> bool {
        let step = match self.framer.next_raw_line() {
            None => return false,
            Some(Frame::Line { line, .. }) => {
                let Wait::SaslResponse(_, exchange) = &mut self.wait else {
                    return false;
                };
                Some(exchange.step(line))
            }
            Some(Frame::TooLong { .. }) => None,
        };
        let Wait::SaslResponse(tag, exchange) = std::mem::replace(&mut self.wait, Wait::Nothing)
        else {
            return false;
        };
        match step {
            Some(step) => self.sasl_step(tag, exchange, step),
            None => self.tagged(
                tag,
                Status::Bad,
                Some(Code::TooBig),
                "SASL response too long",
            ),
        }
        true
    }

    /// Read one line during IDLE: `DONE` ends it; false when more input is needed.
    fn process_idle_line(&mut self) -> bool {
        let done = match self.framer.next_raw_line() {
            None => return false,
            Some(Frame::Line { line, .. }) => command::is_idle_done(line),
            Some(Frame::TooLong { .. }) => false,
        };
        let Wait::Idle(tag) = std::mem::replace(&mut self.wait, Wait::Nothing) else {
            return false;
        };
        if done {
            self.ok(tag, "IDLE terminated");
        } else {
            // RFC 9051 §6.3.13: anything but DONE is a protocol error.
            self.tagged(tag, Status::Bad, None, "Expected DONE");
        }
        true
    }

    /// Same reply for an unknown user and a wrong password.
    fn auth_failed(&mut self, tag: Tag) {
        self.auth_failures += 1;
        self.tagged(
            tag,
            Status::No,
            Some(Code::AuthenticationFailed),
            "Authentication failed.",
        );
        if self.auth_failures >= self.config.limits.max_auth_failures {
            self.limit_hit = Some("too many failed logins");
            self.bye_and_close("Too many authentication failures");
        }
    }

    fn authenticate(&mut self, tag: Tag, credentials: Credentials) {
        self.pending_mechanism = credentials.mechanism;
        self.wait = Wait::AuthResult(tag);
        self.events.push_back(Event::Authenticate(credentials));
    }

    /// The answer to a [`MailboxRequest`]. The session moves its pending output to `out`
    /// first and may then write the reply's responses there, splicing message bytes in.
    pub fn handle_mailbox(&mut self, reply: MailboxReply, out: &mut Output) {
        let Wait::Mailbox(pending) = std::mem::replace(&mut self.wait, Wait::Nothing) else {
            return;
        };
        match (pending, reply) {
            // FETCH responses go straight to `out`, their bodies spliced in from the store's
            // read buffers (never copied into `self.out`).
            // The UIDs the driver left for another batch (its byte budget) go back in front.
            (Pending::Fetch(mut job), MailboxReply::Fetched { messages, rest, .. }) => {
                out.bytes_mut().append(&mut self.out);
                self.fetched(&mut job, &messages, out);
                messages::requeue(&mut job.remaining, rest);
                self.next_fetch(job);
            }
            (pending, reply) => self.resume(pending, reply),
        }
        self.process();
    }

    /// Another session or a delivery changed the selected mailbox; the session decides when
    /// the client may be told (RFC 9051 §7.5.1).
    pub fn handle_mailbox_change(&mut self, change: MailboxChange) {
        let Some(view) = self.selected.as_mut() else {
            return;
        };
        view.queue(change);
        // RFC 9051 §6.3.13: during IDLE, changes are sent at once.
        self.idle_changes();
    }
}

impl Session for ImapSession {
    type Request = MailboxRequest;
    type Reply = MailboxAnswer;
    type Notice = MailboxNotice;

    fn overloaded(_config: &SessionConfig, why: Overload) -> String {
        format!("* BYE [UNAVAILABLE] {}\r\n", why.text())
    }

    fn handle_input(&mut self, input: &[u8]) {
        // While TLS is being negotiated, anything that arrives is plaintext the client
        // pipelined after STARTTLS: never executed.
        if self.state == State::Logout || matches!(self.wait, Wait::Tls) {
            return;
        }
        self.framer.extend(input);
        self.process();
    }

    fn handle_tls_established(&mut self) {
        if !matches!(self.wait, Wait::Tls) {
            return;
        }
        self.security = Security::Tls;
        self.wait = Wait::Nothing;
        self.framer.clear();
    }

    fn handle_compression_started(&mut self) -> Vec<u8> {
        if self.uncompressed_out.take().is_none() {
            return Vec::new();
        }
        if matches!(self.wait, Wait::Compression) {
            self.wait = Wait::Nothing;
        }
        // Empty if the session closed meanwhile (its farewell is all that is left to send).
        self.framer.take_rest()
    }

    fn handle_auth(&mut self, outcome: AuthOutcome) {
        let Wait::AuthResult(tag) = std::mem::replace(&mut self.wait, Wait::Nothing) else {
            return;
        };
        match outcome {
            AuthOutcome::Success { account } => {
                self.state = State::Authenticated { account };
                self.framer.set_max_command(self.max_command());
                let caps = self.capabilities();
                self.tagged(tag, Status::Ok, Some(Code::Capability(caps)), "Logged in");
            }
            // RFC 7628 §3.2.2: a refused bearer token gets the error challenge first.
            AuthOutcome::Failure if matches!(self.pending_mechanism, "OAUTHBEARER" | "XOAUTH2") => {
                let (exchange, step) = crate::sasl::oauth_failure();
                self.sasl_step(tag, exchange, step);
            }
            AuthOutcome::Failure => self.auth_failed(tag),
            AuthOutcome::Continue(challenge) => {
                let mechanism =
                    Mechanism::parse(self.pending_mechanism.as_bytes()).unwrap_or(Mechanism::Plain);
                let exchange = crate::sasl::relay(mechanism);
                self.sasl_step(tag, exchange, SaslStep::Challenge(challenge));
            }
            AuthOutcome::TemporaryFailure => self.tagged(
                tag,
                Status::No,
                Some(Code::Unavailable),
                "Authentication temporarily unavailable, try again later",
            ),
        }
        self.process();
    }

    fn handle_reply(&mut self, answer: MailboxAnswer, out: &mut Output) {
        for change in answer.changes {
            self.handle_mailbox_change(change);
        }
        self.handle_mailbox(answer.reply, out);
    }

    fn handle_notice(&mut self, notice: MailboxNotice) {
        self.handle_notify_notice(notice);
    }

    fn handle_keepalive(&mut self) {
        // RFC 9051 §6.3.13 permits untagged responses during IDLE; a periodic one keeps NAT
        // state alive and tells the client the server is still there (as Dovecot does).
        if matches!(self.wait, Wait::Idle(_)) {
            self.out.extend_from_slice(b"* OK Still here\r\n");
        }
    }

    fn handle_idle_timeout(&mut self) {
        if self.state != State::Logout {
            self.bye_and_close("Autologout; idle for too long");
        }
    }

    fn handle_shutdown(&mut self) {
        if self.state != State::Logout {
            self.bye_and_close("Server shutting down");
        }
    }

    fn commands(&self) -> u64 {
        self.commands
    }

    fn take_limit(&mut self) -> Option<&'static str> {
        self.limit_hit.take()
    }

    fn handle_revoked(&mut self) {
        if self.state != State::Logout {
            self.bye_and_close("Account no longer valid");
        }
    }

    fn handle_moved(&mut self) {
        if self.state != State::Logout {
            // RFC 5530 §3: the mailbox is temporarily unavailable here; a reconnect reaches
            // the host that serves it now.
            self.send(Response::untagged(
                Status::Bye,
                Some(Code::Unavailable),
                "Mailbox moved to another server, please reconnect",
            ));
            self.close();
        }
    }

    fn poll_output(&mut self, out: &mut Vec<u8>) {
        match self.uncompressed_out.as_mut() {
            Some(ready) => {
                out.extend(self.out.drain(..*ready));
                *ready = 0;
            }
            None => out.append(&mut self.out),
        }
    }

    fn poll_event(&mut self) -> Option<Event<MailboxRequest>> {
        self.events.pop_front()
    }

    fn handoff(&mut self) -> Option<Handoff> {
        let Wait::AuthResult(tag) = &self.wait else {
            return None;
        };
        // Waiting for a login's answer, nothing of the next command is assembled yet; only
        // unframed bytes are held.
        if !self.framer.parts().is_empty() || !self.out.is_empty() || !self.events.is_empty() {
            return None;
        }
        let input = self.framer.take_rest();
        self.framer.extend(&input);
        Some(Handoff {
            tag: tag.as_str().as_bytes().to_vec(),
            mechanism: self.pending_mechanism.to_owned(),
            auth_failures: self.auth_failures,
            commands: self.commands,
            compressing: self.compressing,
            input,
        })
    }

    fn holds_buffers(&self) -> bool {
        self.out.capacity() > 0 || self.events.capacity() > 0 || self.framer.holds_buffers()
    }

    fn release_buffers(&mut self) {
        if self.out.is_empty() {
            self.out = Vec::new();
        }
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        self.framer.release();
    }
}

/// Before login a command holds at most a user name and a password, or an ID list: a few
/// lines' worth, and never much more than one line however long lines may be.
fn pre_auth_max_command(max_line_length: usize) -> usize {
    max_line_length
        .saturating_mul(4)
        .min(max_line_length.saturating_add(4 * PRE_AUTH_LITERAL_MAX))
}

fn bad(tag: Tag, text: &'static str) -> Response {
    Response::tagged(tag, Status::Bad, None, text)
}

/// RFC 9586 §3: a message sequence number after ENABLE UIDONLY.
fn uid_required(tag: Tag) -> Response {
    Response::tagged(
        tag,
        Status::Bad,
        Some(Code::UidRequired),
        "Message sequence numbers are off (UIDONLY): use UIDs",
    )
}

fn privacy_required(tag: Tag) -> Response {
    Response::tagged(
        tag,
        Status::No,
        Some(Code::PrivacyRequired),
        "TLS is required to log in",
    )
}

/// The one place parse errors become replies: tagged BAD when the tag could be read, except
/// for an unsupported SEARCH charset, which RFC 9051 §6.4.4 answers `NO [BADCHARSET]`, and a
/// mailbox name that is not valid modified UTF-7: the command is well formed, the name is
/// one no mailbox can have, so `NO [CANNOT]` (as Dovecot answers it).
fn malformed(e: ParseError) -> Response {
    let (status, code) = match e.reason {
        Malformed::UnsupportedCharset => (Status::No, Some(Code::BadCharset)),
        Malformed::InvalidMailboxName => (Status::No, Some(Code::Cannot)),
        _ => (Status::Bad, None),
    };
    Response::Status {
        tag: e.tag,
        status,
        code,
        text: e.reason.text(),
    }
}
