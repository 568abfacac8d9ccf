//! Test support: an in-memory driver that answers [`DeliveryRequest::CheckRecipient`] and
//! [`DeliveryRequest::Deliver`] from a fixed directory, so mail-transaction transcripts run through the
//! shared replay helper ([`crate::pop3::transcript`]), whole and at every kind of split point.
//! The answered events are logged and compared, as typed values, after each run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::{SmtpKind, SmtpSession};
use crate::session::{
    AuthOutcome, Event, Limits, Output, Overload, Security, Session, SessionConfig, TlsMode,
};
use crate::smtp::{Delivery, DeliveryOutcome, DeliveryReply, DeliveryRequest, RecipientStatus};
use crate::transcript::replay;
use crate::transcript::{Answer, Scripted};

/// The requests a [`Driven`] session answered, in order.
type Log = Rc<RefCell<Vec<Event<DeliveryRequest>>>>;

pub(super) const GREETING: &str = "S: 220 mail.example.com ESMTP ringpost";

/// The message header that makes the test store fail (`451 4.3.0`).
pub(super) const FAIL_DELIVERY: &str = "X-Test: fail delivery";

/// The message header that makes the test store find no room in any recipient's quota
/// (`552 5.2.2`).
pub(super) const OVER_QUOTA: &str = "X-Test: over quota";

/// Limits small enough to reach in a transcript; the command line limit stays tiny so that
/// tests show it never applies to message data.
pub(super) fn limits(max_message_size: usize) -> Limits {
    Limits {
        max_line_length: 64,
        max_message_size,
        max_recipients: 3,
        max_hops: 3,
        ..Limits::default()
    }
}

pub(super) fn session(kind: SmtpKind, tls_mode: TlsMode, limits: Limits) -> SmtpSession {
    let config = SessionConfig {
        hostname: "mail.example.com".into(),
        tls_mode,
        limits,
        local_domains: vec!["example.com".to_string(), "example.net".to_string()],
        oauth: false,
        scram: false,
    };
    SmtpSession::new(config, kind, Security::at_start(tls_mode))
}

/// Port 25 with STARTTLS offered.
pub(super) fn inbound() -> SmtpSession {
    session(SmtpKind::Inbound, TlsMode::Starttls, limits(52_428_800))
}

/// Port 25 with `[smtp] bare_lf = "reject"`.
pub(super) fn inbound_rejecting_bare_lf() -> SmtpSession {
    let limits = Limits {
        bare_lf: crate::config::BareLf::Reject,
        ..limits(52_428_800)
    };
    session(SmtpKind::Inbound, TlsMode::Starttls, limits)
}

/// Port 465.
pub(super) fn submissions() -> SmtpSession {
    session(SmtpKind::Submission, TlsMode::Implicit, limits(52_428_800))
}

/// The EHLO reply with `SIZE size` and the given last keywords.
pub(super) fn ehlo_reply(size: usize, tail: &[&str]) -> String {
    let mut keywords = vec![
        "mail.example.com".to_string(),
        "PIPELINING".to_string(),
        format!("SIZE {size}"),
        "8BITMIME".to_string(),
        "SMTPUTF8".to_string(),
        "ENHANCEDSTATUSCODES".to_string(),
        "DSN".to_string(),
        "CHUNKING".to_string(),
    ];
    keywords.extend(tail.iter().map(|s| s.to_string()));
    let last = keywords.len() - 1;
    keywords
        .iter()
        .enumerate()
        .map(|(i, k)| format!("S: 250{}{k}\n", if i == last { ' ' } else { '-' }))
        .collect()
}

/// Greeting and EHLO on an inbound session with the default limits.
pub(super) fn inbound_hello() -> String {
    format!(
        "{GREETING}\nC: EHLO client.example.org\n{}",
        ehlo_reply(52_428_800, &["STARTTLS"])
    )
}

/// Greeting, EHLO and a successful AUTH as alice on port 465.
pub(super) fn submission_hello() -> String {
    format!(
        "{GREETING}
         C: EHLO client.example.org
         {}
         C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
         E: auth alice secret
         D: auth ok alice@example.com
         S: 235 2.7.0 Authentication successful",
        ehlo_reply(52_428_800, &["REQUIRETLS", "AUTH PLAIN LOGIN"])
    )
}

/// The test directory: RCPT addresses (any case) and the canonical accounts they reach.
pub(super) fn directory(address: &str) -> RecipientStatus {
    let local = |account: &str| RecipientStatus::Local {
        account: account.to_string(),
    };
    match address.to_lowercase().as_str() {
        "alice@example.com" | "alice@example.net" => local("alice@example.com"),
        "bob@example.com" => local("bob@example.com"),
        "carol@example.com" => local("carol@example.com"),
        "postmaster@example.com" => local("postmaster@example.com"),
        "jösé@example.com" => local("jösé@example.com"),
        "tempfail@example.com" => RecipientStatus::TemporaryFailure,
        "full@example.com" => RecipientStatus::MailboxFull,
        _ => RecipientStatus::UnknownLocal,
    }
}

/// An SMTP session behind a driver that answers recipient and delivery events at once (after
/// the session has stopped to wait for them) and passes every other event through.
pub(super) struct Driven {
    session: SmtpSession,
    log: Log,
    passed: VecDeque<Event<DeliveryRequest>>,
    delivered: u32,
}

impl Driven {
    pub(super) fn new(session: SmtpSession, log: Log) -> Driven {
        Driven {
            session,
            log,
            passed: VecDeque::new(),
            delivered: 0,
        }
    }

    fn answer(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match &event {
                Event::Request(DeliveryRequest::CheckRecipient(address)) => {
                    let status = directory(address);
                    self.log.borrow_mut().push(event.clone());
                    self.session.handle_recipient(status);
                }
                Event::Request(DeliveryRequest::Deliver(delivery)) => {
                    let fail = delivery
                        .message
                        .windows(FAIL_DELIVERY.len())
                        .any(|w| w == FAIL_DELIVERY.as_bytes());
                    let over_quota = delivery
                        .message
                        .windows(OVER_QUOTA.len())
                        .any(|w| w == OVER_QUOTA.as_bytes());
                    let outcome = if fail {
                        DeliveryOutcome::TemporaryFailure
                    } else if over_quota {
                        DeliveryOutcome::OverQuota
                    } else {
                        self.delivered += 1;
                        DeliveryOutcome::Delivered {
                            id: format!("Q{}", self.delivered),
                        }
                    };
                    self.log.borrow_mut().push(event.clone());
                    self.session.handle_delivery(outcome);
                }
                _ => self.passed.push_back(event),
            }
        }
    }
}

impl Session for Driven {
    type Request = DeliveryRequest;
    type Reply = DeliveryReply;
    type Notice = std::convert::Infallible;

    fn overloaded(config: &SessionConfig, why: Overload) -> String {
        SmtpSession::overloaded(config, why)
    }
    fn handle_reply(&mut self, reply: DeliveryReply, out: &mut Output) {
        self.session.handle_reply(reply, out);
        self.answer();
    }
    fn handle_notice(&mut self, notice: std::convert::Infallible) {
        match notice {}
    }
    fn handle_keepalive(&mut self) {
        self.session.handle_keepalive();
    }
    fn handle_input(&mut self, input: &[u8]) {
        self.session.handle_input(input);
        self.answer();
    }
    fn handle_tls_established(&mut self) {
        self.session.handle_tls_established();
        self.answer();
    }
    fn handle_auth(&mut self, outcome: AuthOutcome) {
        self.session.handle_auth(outcome);
        self.answer();
    }
    fn handle_idle_timeout(&mut self) {
        self.session.handle_idle_timeout();
        self.answer();
    }
    fn handle_shutdown(&mut self) {
        self.session.handle_shutdown();
        self.answer();
    }

    fn commands(&self) -> u64 {
        self.session.commands()
    }

    fn take_limit(&mut self) -> Option<&'static str> {
        self.session.take_limit()
    }

    fn handle_revoked(&mut self) {
        self.session.handle_revoked();
        self.answer();
    }
    fn handle_moved(&mut self) {
        self.session.handle_moved();
        self.answer();
    }
    fn poll_output(&mut self, out: &mut Vec<u8>) {
        self.session.poll_output(out);
    }
    fn poll_event(&mut self) -> Option<Event<DeliveryRequest>> {
        self.passed.pop_front()
    }
}

/// Replay `script` (see [`replay`]) and check that every run asked the driver exactly
/// `expected` recipient checks and deliveries, in order.
pub(super) fn replay_driven(
    make: impl Fn() -> SmtpSession,
    script: &str,
    expected: &[Event<DeliveryRequest>],
) {
    let logs: RefCell<Vec<Log>> = RefCell::new(Vec::new());
    replay(
        || {
            let log = Rc::new(RefCell::new(Vec::new()));
            logs.borrow_mut().push(Rc::clone(&log));
            Driven::new(make(), log)
        },
        script,
    );
    let logs = logs.into_inner();
    assert!(!logs.is_empty());
    for (run, log) in logs.iter().enumerate() {
        assert_eq!(*log.borrow(), expected, "driver events of run {run}");
    }
}

pub(super) fn check(address: &str) -> Event<DeliveryRequest> {
    Event::Request(DeliveryRequest::CheckRecipient(address.to_string()))
}

/// A delivery from `client.example.org` with no remote recipients and no authentication.
pub(super) fn inbound_delivery(
    from: &str,
    local: &[&str],
    message: &[u8],
) -> Event<DeliveryRequest> {
    Event::Request(DeliveryRequest::Deliver(Box::new(Delivery {
        kind: SmtpKind::Inbound,
        reverse_path: from.to_string(),
        local_recipients: local.iter().map(|s| s.to_string()).collect(),
        remote_recipients: Vec::new(),
        dsn: crate::smtp::dsn::MessageDsn {
            local: vec![Default::default(); local.len()],
            ..Default::default()
        },
        helo: "client.example.org".to_string(),
        authenticated: None,
        protocol: "ESMTP",
        message: message.to_vec(),
    })))
}

/// SMTP transcripts spell no requests or replies: [`Driven`] answers them, and the runs
/// compare what it was asked.
impl Scripted for SmtpSession {
    type Notes = ();
    fn request(_notes: &mut (), _text: &str) -> Option<String> {
        None
    }
    fn answer(_notes: &mut (), _text: &str) -> Option<Answer<SmtpSession>> {
        None
    }
}

impl Scripted for Driven {
    type Notes = ();
    fn request(_notes: &mut (), _text: &str) -> Option<String> {
        None
    }
    fn answer(_notes: &mut (), _text: &str) -> Option<Answer<Driven>> {
        None
    }
}
