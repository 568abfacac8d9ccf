//! The mail envelope in transcripts: MAIL and RCPT on inbound and submission, recipient
//! resolution through the driver, relaying, limits, pipelining and the delivery outcome.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::test_driver::{
    check, inbound, inbound_delivery, inbound_hello, replay_driven, submission_hello, submissions,
    FAIL_DELIVERY, GREETING, OVER_QUOTA,
};
use super::SmtpKind;
use crate::session::{Event, Session, TlsMode};
use crate::smtp::{Delivery, DeliveryOutcome, DeliveryRequest, RecipientStatus};

#[test]
fn inbound_transaction_with_local_unknown_and_relayed_recipients() {
    replay_driven(
        inbound,
        &format!(
            "{}
             C: MAIL FROM:<sender@example.org>
             S: 250 2.1.0 OK
             C: RCPT TO:<alice@example.com>
             S: 250 2.1.5 OK
             C: RCPT TO:<Bob@Example.COM>
             S: 250 2.1.5 OK
             C: RCPT TO:<nobody@example.com>
             S: 550 5.1.1 No such user here
             C: RCPT TO:<carol@elsewhere.org>
             S: 554 5.7.1 Relay access denied
             # another address of alice: one copy only
             C: RCPT TO:<alice@EXAMPLE.net>
             S: 250 2.1.5 OK
             C: DATA
             S: 354 End data with <CR><LF>.<CR><LF>
             C: Subject: hello
             C:
             C: Hi.
             C: .
             S: 250 2.0.0 Ok: queued as Q1
             C: RCPT TO:<alice@example.com>
             S: 503 5.5.1 Need MAIL command first
             C: QUIT
             S: 221 2.0.0 Bye
             E: close",
            inbound_hello()
        ),
        &[
            check("alice@example.com"),
            check("Bob@Example.COM"),
            check("nobody@example.com"),
            check("alice@EXAMPLE.net"),
            inbound_delivery(
                "sender@example.org",
                &["alice@example.com", "bob@example.com"],
                b"Subject: hello\r\n\r\nHi.\r\n",
            ),
        ],
    );
}

#[test]
fn submission_checks_the_sender_and_queues_remote_recipients() {
    replay_driven(
        submissions,
        &format!(
            "{}
             C: MAIL FROM:<mallory@example.com>
             S: 553 5.7.1 Sender address not owned by authenticated user
             C: MAIL FROM:<>
             S: 553 5.7.1 Sender address not owned by authenticated user
             C: MAIL FROM:<Alice@Example.COM> SIZE=40
             S: 250 2.1.0 OK
             C: RCPT TO:<friend@elsewhere.org>
             S: 250 2.1.5 OK
             C: RCPT TO:<bob@example.com>
             S: 250 2.1.5 OK
             C: RCPT TO:<nobody@example.net>
             S: 550 5.1.1 No such user here
             C: RCPT TO:<friend@elsewhere.org>
             S: 250 2.1.5 OK
             C: DATA
             S: 354 End data with <CR><LF>.<CR><LF>
             C: From: alice@example.com
             C:
             C: See you.
             C: .
             S: 250 2.0.0 Ok: queued as Q1",
            submission_hello()
        ),
        &[
            check("bob@example.com"),
            check("nobody@example.net"),
            Event::Request(DeliveryRequest::Deliver(Box::new(Delivery {
                kind: SmtpKind::Submission,
                reverse_path: "Alice@Example.COM".to_string(),
                local_recipients: vec!["bob@example.com".to_string()],
                remote_recipients: vec!["friend@elsewhere.org".to_string()],
                dsn: crate::smtp::dsn::MessageDsn {
                    local: vec![Default::default()],
                    remote: vec![Default::default()],
                    ..Default::default()
                },
                helo: "client.example.org".to_string(),
                authenticated: Some("alice@example.com".to_string()),
                protocol: "ESMTPSA",
                message: b"From: alice@example.com\r\n\r\nSee you.\r\n".to_vec(),
            }))),
        ],
    );
}

/// RFC 3461: RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT reach the delivery, each
/// recipient's with it (local and remote), and bad values are refused without ending the
/// transaction.
#[test]
fn dsn_parameters_reach_the_delivery() {
    use crate::smtp::dsn::{MessageDsn, Notify, RecipientDsn, Ret};
    replay_driven(
        submissions,
        &format!(
            "{}
             C: MAIL FROM:<alice@example.com> RET=FULL ENVID=QQ+2B314
             S: 250 2.1.0 OK
             C: RCPT TO:<f@e.org> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;F@E.org
             S: 250 2.1.5 OK
             C: RCPT TO:<o@e.org> NOTIFY=MAYBE
             S: 501 5.5.4 Invalid parameter value
             C: RCPT TO:<bob@example.com> NOTIFY=NEVER
             S: 250 2.1.5 OK
             C: DATA
             S: 354 End data with <CR><LF>.<CR><LF>
             C: Subject: x
             C:
             C: .
             S: 250 2.0.0 Ok: queued as Q1",
            submission_hello()
        ),
        &[
            check("bob@example.com"),
            Event::Request(DeliveryRequest::Deliver(Box::new(Delivery {
                kind: SmtpKind::Submission,
                reverse_path: "alice@example.com".to_string(),
                local_recipients: vec!["bob@example.com".to_string()],
                remote_recipients: vec!["f@e.org".to_string()],
                dsn: MessageDsn {
                    ret: Some(Ret::Full),
                    envid: Some("QQ+314".into()),
                    requiretls: false,
                    local: vec![RecipientDsn {
                        notify: Some(Notify::Never),
                        orcpt: None,
                    }],
                    remote: vec![RecipientDsn {
                        notify: Some(Notify::On {
                            success: true,
                            failure: false,
                            delay: true,
                        }),
                        orcpt: Some("F@E.org".into()),
                    }],
                },
                helo: "client.example.org".to_string(),
                authenticated: Some("alice@example.com".to_string()),
                protocol: "ESMTPSA",
                message: b"Subject: x\r\n\r\n".to_vec(),
            }))),
        ],
    );
}

#[test]
fn submission_needs_auth_before_mail() {
    replay_driven(
        submissions,
        &format!(
            "{GREETING}
             C: MAIL FROM:<alice@example.com>
             S: 503 5.5.1 Send EHLO or HELO first
             C: EHLO client.example.org
             {}
             C: MAIL FROM:<alice@example.com>
             S: 530 5.7.0 Authentication required
             C: RCPT TO:<friend@elsewhere.org>
             S: 503 5.5.1 Need MAIL command first",
            super::test_driver::ehlo_reply(52_428_800, &["REQUIRETLS", "AUTH PLAIN LOGIN"])
        ),
        &[],
    );
}

#[test]
fn postmaster_temporary_failures_and_sizes_declared() {
    replay_driven(
        inbound,
        &format!(
            "{}
             C: MAIL FROM:<> SIZE=52428801
             S: 552 5.3.4 Message size exceeds fixed maximum message size
             C: MAIL FROM:<> SIZE=52428800 BODY=7BIT
             S: 250 2.1.0 OK
             C: RCPT TO:<Postmaster>
             S: 250 2.1.5 OK
             C: RCPT TO:<tempfail@example.com>
             S: 451 4.3.0 Temporary local problem, try again later
             C: DATA
             S: 354 End data with <CR><LF>.<CR><LF>
             C: Subject: bounce
             C:
             C: .
             S: 250 2.0.0 Ok: queued as Q1",
            inbound_hello()
        ),
        &[
            check("postmaster@example.com"),
            check("tempfail@example.com"),
            inbound_delivery("", &["postmaster@example.com"], b"Subject: bounce\r\n\r\n"),
        ],
    );
}

#[test]
fn too_many_recipients_are_deferred_without_asking_the_driver() {
    replay_driven(
        inbound,
        &format!(
            "{}
             C: MAIL FROM:<sender@example.org>
             S: 250 2.1.0 OK
             C: RCPT TO:<alice@example.com>
             S: 250 2.1.5 OK
             C: RCPT TO:<nobody@example.com>
             S: 550 5.1.1 No such user here
             C: RCPT TO:<bob@example.com>
             S: 250 2.1.5 OK
             C: RCPT TO:<carol@example.com>
             S: 250 2.1.5 OK
             C: RCPT TO:<postmaster@example.com>
             S: 452 4.5.3 Too many recipients
             C: RCPT TO:<elsewhere@example.org>
             S: 452 4.5.3 Too many recipients
             C: RSET
             S: 250 2.0.0 OK",
            inbound_hello()
        ),
        &[
            check("alice@example.com"),
            check("nobody@example.com"),
            check("bob@example.com"),
            check("carol@example.com"),
        ],
    );
}

#[test]
fn pipelined_transaction_is_answered_in_order_with_the_waits_between() {
    replay_driven(
        inbound,
        &format!(
            "{}
             C: MAIL FROM:<sender@example.org>
             C: RCPT TO:<alice@example.com>
             C: RCPT TO:<nobody@example.com>
             C: RCPT TO:<bob@example.com>
             C: DATA
             S: 250 2.1.0 OK
             S: 250 2.1.5 OK
             S: 550 5.1.1 No such user here
             S: 250 2.1.5 OK
             S: 354 End data with <CR><LF>.<CR><LF>
             C: Subject: pipelined
             C:
             C: one write
             C: .
             C: MAIL FROM:<second@example.org>
             C: RCPT TO:<carol@example.com>
             C: DATA
             S: 250 2.0.0 Ok: queued as Q1
             S: 250 2.1.0 OK
             S: 250 2.1.5 OK
             S: 354 End data with <CR><LF>.<CR><LF>
             C: second
             C: .
             C: QUIT
             S: 250 2.0.0 Ok: queued as Q2
             S: 221 2.0.0 Bye
             E: close",
            inbound_hello()
        ),
        &[
            check("alice@example.com"),
            check("nobody@example.com"),
            check("bob@example.com"),
            inbound_delivery(
                "sender@example.org",
                &["alice@example.com", "bob@example.com"],
                b"Subject: pipelined\r\n\r\none write\r\n",
            ),
            check("carol@example.com"),
            inbound_delivery("second@example.org", &["carol@example.com"], b"second\r\n"),
        ],
    );
}

#[test]
fn pipelined_data_after_refused_recipients_is_refused() {
    // RFC 2920 §3.1: DATA after no accepted RCPT gets 554; the client then sends no data.
    replay_driven(
        inbound,
        &format!(
            "{}
             C: MAIL FROM:<sender@example.org>
             C: RCPT TO:<nobody@example.com>
             C: RCPT TO:<someone@elsewhere.org>
             C: DATA
             C: RSET
             S: 250 2.1.0 OK
             S: 550 5.1.1 No such user here
             S: 554 5.7.1 Relay access denied
             S: 554 5.5.1 No valid recipients
             S: 250 2.0.0 OK",
            inbound_hello()
        ),
        &[check("nobody@example.com")],
    );
}

#[test]
fn store_failure_is_a_temporary_refusal_and_ends_the_transaction() {
    replay_driven(
        inbound,
        &format!(
            "{}
             C: MAIL FROM:<sender@example.org>
             S: 250 2.1.0 OK
             C: RCPT TO:<alice@example.com>
             S: 250 2.1.5 OK
             C: DATA
             S: 354 End data with <CR><LF>.<CR><LF>
             C: {FAIL_DELIVERY}
             C: .
             S: 451 4.3.0 Temporary local problem, try again later
             C: DATA
             S: 503 5.5.1 Need MAIL command first",
            inbound_hello()
        ),
        &[
            check("alice@example.com"),
            inbound_delivery(
                "sender@example.org",
                &["alice@example.com"],
                format!("{FAIL_DELIVERY}\r\n").as_bytes(),
            ),
        ],
    );
}

/// RFC 3463 X.2.2 (mailbox full): a recipient at its quota is refused at RCPT with a
/// temporary 452 and the transaction goes on; a message that fits in no recipient's quota
/// is refused after DATA with 552 5.2.2 (RFC 5321 §4.2.2: "exceeded storage allocation").
#[test]
fn quota_refusals_at_rcpt_and_after_data() {
    replay_driven(
        inbound,
        &format!(
            "{}
             C: MAIL FROM:<sender@example.org>
             S: 250 2.1.0 OK
             C: RCPT TO:<full@example.com>
             S: 452 4.2.2 Mailbox full, try again later
             C: RCPT TO:<alice@example.com>
             S: 250 2.1.5 OK
             C: DATA
             S: 354 End data with <CR><LF>.<CR><LF>
             C: {OVER_QUOTA}
             C: .
             S: 552 5.2.2 Mailbox full: the message exceeds the quota
             C: DATA
             S: 503 5.5.1 Need MAIL command first",
            inbound_hello()
        ),
        &[
            check("full@example.com"),
            check("alice@example.com"),
            inbound_delivery(
                "sender@example.org",
                &["alice@example.com"],
                format!("{OVER_QUOTA}\r\n").as_bytes(),
            ),
        ],
    );
}

#[test]
fn utf8_addresses_need_smtputf8() {
    replay_driven(
        inbound,
        &format!(
            "{}
             C: MAIL FROM:<jörg@example.org>
             S: 553 5.6.7 Non-ASCII address requires SMTPUTF8
             C: MAIL FROM:<sender@example.org>
             S: 250 2.1.0 OK
             C: RCPT TO:<jösé@example.com>
             S: 553 5.6.7 Non-ASCII address requires SMTPUTF8
             C: RSET
             S: 250 2.0.0 OK
             C: MAIL FROM:<jörg@example.org> SMTPUTF8
             S: 250 2.1.0 OK
             C: RCPT TO:<jösé@example.com>
             S: 250 2.1.5 OK",
            inbound_hello()
        ),
        &[check("jösé@example.com")],
    );
}

#[test]
fn rset_ehlo_and_starttls_end_the_transaction() {
    replay_driven(
        inbound,
        &format!(
            "{}
             C: MAIL FROM:<sender@example.org>
             S: 250 2.1.0 OK
             C: EHLO client.example.org
             {}
             C: RCPT TO:<alice@example.com>
             S: 503 5.5.1 Need MAIL command first
             C: MAIL FROM:<sender@example.org>
             S: 250 2.1.0 OK
             C: STARTTLS
             S: 220 2.0.0 Ready to start TLS
             E: starttls
             D: tls
             C: EHLO client.example.org
             {}
             C: RCPT TO:<alice@example.com>
             S: 503 5.5.1 Need MAIL command first",
            inbound_hello(),
            super::test_driver::ehlo_reply(52_428_800, &["STARTTLS"]),
            super::test_driver::ehlo_reply(52_428_800, &["REQUIRETLS"]),
        ),
        &[],
    );
}

/// The session processes nothing while the driver owes an answer, and ignores an answer it
/// did not ask for.
#[test]
fn input_waits_for_the_driver() {
    let mut s = inbound();
    let mut out = Vec::new();
    s.handle_input(b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.com>\r\nNOOP\r\n");
    s.poll_output(&mut out);
    assert!(String::from_utf8_lossy(&out).ends_with("250 2.1.0 OK\r\n"));
    assert_eq!(
        s.poll_event(),
        Some(Event::Request(DeliveryRequest::CheckRecipient(
            "bob@example.com".into()
        )))
    );
    assert_eq!(s.poll_event(), None);
    s.handle_input(b"DATA\r\n");
    s.handle_delivery(DeliveryOutcome::Delivered { id: "X".into() });
    out.clear();
    s.poll_output(&mut out);
    assert_eq!(out, b"");
    s.handle_recipient(RecipientStatus::Local {
        account: "bob@example.com".into(),
    });
    s.poll_output(&mut out);
    assert_eq!(
        out,
        b"250 2.1.5 OK\r\n250 2.0.0 OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    s.handle_input(b"x\r\n.\r\nNOOP\r\n");
    let Some(Event::Request(DeliveryRequest::Deliver(delivery))) = s.poll_event() else {
        panic!("no delivery");
    };
    assert_eq!(delivery.message, b"x\r\n");
    s.handle_recipient(RecipientStatus::UnknownLocal);
    out.clear();
    s.poll_output(&mut out);
    assert_eq!(out, b"");
    s.handle_delivery(DeliveryOutcome::Delivered { id: "X1".into() });
    s.poll_output(&mut out);
    assert_eq!(out, b"250 2.0.0 Ok: queued as X1\r\n250 2.0.0 OK\r\n");
}

#[test]
fn the_driver_can_name_the_protocol_for_received() {
    let mut s = inbound();
    assert!(!s.greeted_with_ehlo());
    s.handle_input(b"HELO c\r\n");
    assert!(!s.greeted_with_ehlo());
    assert_eq!(s.protocol(), "SMTP");
    s.handle_input(b"EHLO c\r\n");
    assert!(s.greeted_with_ehlo());
    assert_eq!(s.protocol(), "ESMTP");
    let mut s = submissions();
    s.handle_input(b"EHLO c\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    assert_eq!(s.protocol(), "ESMTPS");
    s.handle_auth(crate::session::AuthOutcome::Success {
        account: "alice@example.com".into(),
    });
    assert_eq!(s.protocol(), "ESMTPSA");
    s.handle_input(b"MAIL FROM:<alice@example.com> SMTPUTF8\r\n");
    assert_eq!(s.protocol(), "UTF8SMTPSA");
    s.handle_input(b"RSET\r\n");
    assert_eq!(s.protocol(), "ESMTPSA");
    // Still readable while the delivery is being made durable.
    let mut s = inbound();
    s.handle_input(
        b"EHLO c\r\nMAIL FROM:<a@example.org> SMTPUTF8\r\nRCPT TO:<bob@example.com>\r\n",
    );
    s.handle_recipient(RecipientStatus::Local {
        account: "bob@example.com".into(),
    });
    s.handle_input(b"DATA\r\nhi\r\n.\r\n");
    assert_eq!(s.poll_event(), Some(check("bob@example.com")));
    assert!(matches!(
        s.poll_event(),
        Some(Event::Request(DeliveryRequest::Deliver(_)))
    ));
    assert_eq!(s.protocol(), "UTF8SMTP");
    s.handle_delivery(DeliveryOutcome::TemporaryFailure);
    assert_eq!(s.protocol(), "ESMTP");
    let s = super::test_driver::session(
        SmtpKind::Inbound,
        TlsMode::None,
        super::test_driver::limits(100),
    );
    assert_eq!(s.protocol(), "SMTP");
}
