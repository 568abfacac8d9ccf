//! Mail transactions: pipelined or not, DATA or BDAT, every recipient's outcome, the checks
//! before MAIL, DSN and REQUIRETLS parameters, and transactions cut short.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

#[test]
fn one_command_at_a_time_without_pipelining() {
    replay(
        plain(),
        &format!(
            "{}
             M: Subject: hi
             M:
             M: Hello
             D: send from:<alice@example.org> to:<bob@example.net>
             C: MAIL FROM:<alice@example.org>
             W: 300
             S: 250 ok
             C: RCPT TO:<bob@example.net>
             W: 300
             S: 250 ok
             C: DATA
             W: 120
             S: 354 go ahead
             C: Subject: hi
             C:
             C: Hello
             C: .
             W: 600
             S: 250 queued as 1234
             E: done delivered 250 queued as 1234
             E: ready
             W: none",
            opened(&[])
        ),
    );
}

#[test]
fn pipelining_sends_the_envelope_and_data_in_one_write() {
    replay(
        plain(),
        &format!(
            "{}
             M: Subject: hi
             M:
             M: Hello
             D: send from:<alice@example.org> to:<bob@example.net> to:<carol@example.net> body:8bit
             C: MAIL FROM:<alice@example.org> SIZE=22 BODY=8BITMIME
             C: RCPT TO:<bob@example.net>
             C: RCPT TO:<carol@example.net>
             C: DATA
             W: 300
             S: 250 2.1.0 Ok
             W: 300
             S: 250 2.1.5 Ok
             S: 250 2.1.5 Ok
             S: 354 End data with <CR><LF>.<CR><LF>
             C: Subject: hi
             C:
             C: Hello
             C: .
             S: 250-2.0.0 Ok: queued
             S: 250 2.0.0 as ABC
             E: done delivered 250 [2.0.0] Ok: queued as ABC | delivered 250 [2.0.0] Ok: queued as ABC
             E: ready",
            opened(MODERN)
        ),
    );
}

#[test]
fn each_recipient_gets_its_own_outcome() {
    replay(
        plain(),
        &format!(
            "{}
             M: Hello
             D: send from:<a@example.org> to:<ok@example.net> to:<gone@example.net> to:<full@example.net>
             C: MAIL FROM:<a@example.org> SIZE=7
             C: RCPT TO:<ok@example.net>
             C: RCPT TO:<gone@example.net>
             C: RCPT TO:<full@example.net>
             C: DATA
             S: 250 2.1.0 Ok
             S: 250 2.1.5 Ok
             S: 550 5.1.1 No such user
             S: 452 4.2.2 Mailbox full
             S: 354 go
             C: Hello
             C: .
             S: 250 2.0.0 Ok
             E: done delivered 250 [2.0.0] Ok | failed 550 [5.1.1] No such user | deferred 452 [4.2.2] Mailbox full
             E: ready",
            opened(MODERN)
        ),
    );
}

#[test]
fn every_rcpt_refused_with_pipelining_sends_no_data_then_rset() {
    replay(
        plain(),
        &format!(
            "{}
             M: Hello
             D: send from:<a@example.org> to:<x@example.net> to:<y@example.net>
             C: MAIL FROM:<a@example.org> SIZE=7
             C: RCPT TO:<x@example.net>
             C: RCPT TO:<y@example.net>
             C: DATA
             S: 250 2.1.0 Ok
             S: 550 5.1.1 No x
             S: 450 4.2.1 Later y
             S: 554 5.5.1 No valid recipients
             E: done failed 550 [5.1.1] No x | deferred 450 [4.2.1] Later y
             C: RSET
             W: 300
             S: 250 2.0.0 Ok
             E: ready",
            opened(MODERN)
        ),
    );
    // RFC 2920 §3.1: a server that says 354 anyway gets a lone dot, and no RSET follows.
    replay(
        plain(),
        &format!(
            "{}
             M: Hello
             D: send from:<a@example.org> to:<x@example.net>
             C: MAIL FROM:<a@example.org> SIZE=7
             C: RCPT TO:<x@example.net>
             C: DATA
             S: 250 2.1.0 Ok
             S: 550 5.1.1 No x
             S: 354 go
             C: .
             S: 554 5.5.1 No valid recipients
             E: done failed 550 [5.1.1] No x
             E: ready",
            opened(MODERN)
        ),
    );
}

#[test]
fn a_refused_mail_decides_everyone() {
    // Pipelined: the RCPT and DATA replies are read and ignored; no transaction, no RSET.
    replay(
        plain(),
        &format!(
            "{}
             M: Hello
             D: send from:<a@example.org> to:<x@example.net> to:<y@example.net>
             C: MAIL FROM:<a@example.org> SIZE=7
             C: RCPT TO:<x@example.net>
             C: RCPT TO:<y@example.net>
             C: DATA
             S: 553 5.7.1 Sender rejected
             S: 503 5.5.1 Need MAIL
             S: 250 2.1.5 Whatever
             S: 503 5.5.1 Need MAIL
             E: done failed 553 [5.7.1] Sender rejected | failed 553 [5.7.1] Sender rejected
             E: ready",
            opened(MODERN)
        ),
    );
    replay(
        plain(),
        &format!(
            "{}
             M: Hello
             D: send from:<a@example.org> to:<x@example.net>
             C: MAIL FROM:<a@example.org>
             S: 451 Greylisted
             E: done deferred 451 Greylisted
             E: ready",
            opened(&[])
        ),
    );
}

#[test]
fn data_refused_or_failed_at_the_end() {
    // DATA itself refused: the transaction is open on the server, so RSET.
    replay(
        plain(),
        &format!(
            "{}
             M: Hello
             D: send from:<a@example.org> to:<x@example.net>
             C: MAIL FROM:<a@example.org>
             S: 250 ok
             C: RCPT TO:<x@example.net>
             S: 250 ok
             C: DATA
             S: 451 4.3.0 Try later
             E: done deferred 451 4.3.0 Try later
             C: RSET
             S: 250 ok
             E: ready",
            opened(&[])
        ),
    );
    // Refused after the data: the reply ends the transaction (RFC 5321 §4.1.1.4).
    for (reply, outcome) in [
        ("554 5.7.1 Spam", "failed 554 [5.7.1] Spam"),
        ("452 4.3.1 Disk full", "deferred 452 [4.3.1] Disk full"),
    ] {
        replay(
            plain(),
            &format!(
                "{}
                 M: Hello
                 D: send from:<a@example.org> to:<x@example.net>
                 C: MAIL FROM:<a@example.org> SIZE=7
                 C: RCPT TO:<x@example.net>
                 C: DATA
                 S: 250 2.1.0 ok
                 S: 250 2.1.5 ok
                 S: 354 go
                 C: Hello
                 C: .
                 S: {reply}
                 E: done {outcome}
                 E: ready",
                opened(MODERN)
            ),
        );
    }
}

#[test]
fn two_messages_on_one_connection_with_rset_after_a_failure() {
    replay(
        plain(),
        &format!(
            "{}
             M: first
             D: send from:<a@example.org> to:<x@example.net>
             C: MAIL FROM:<a@example.org>
             S: 250 ok
             C: RCPT TO:<x@example.net>
             S: 550 no x
             E: done failed 550 no x
             C: RSET
             D: send from:<a@example.org> to:<y@example.net>
             E: send refused NotReady
             S: 250 ok
             E: ready
             M: second
             D: send from:<a@example.org> to:<y@example.net>
             C: MAIL FROM:<a@example.org>
             S: 250 ok
             C: RCPT TO:<y@example.net>
             S: 251 forwarded
             C: DATA
             S: 354 go
             C: second
             C: .
             S: 250 ok
             E: done delivered 250 ok
             E: ready
             D: quit
             C: QUIT
             S: 221 bye
             E: closed",
            opened(&[])
        ),
    );
}

#[test]
fn quit_during_a_transaction_waits_for_its_end() {
    // QUIT replaces the RSET a failed transaction would need.
    replay(
        plain(),
        &format!(
            "{}
             M: Hello
             D: send from:<a@example.org> to:<x@example.net>
             C: MAIL FROM:<a@example.org> SIZE=7
             C: RCPT TO:<x@example.net>
             C: DATA
             D: quit
             S: 250 2.1.0 ok
             S: 550 5.1.1 no x
             S: 554 5.5.1 no valid recipients
             E: done failed 550 [5.1.1] no x
             C: QUIT
             S: 221 2.0.0 bye
             E: closed",
            opened(MODERN)
        ),
    );
}

#[test]
fn message_content_is_dot_stuffed_with_crlf_line_ends() {
    replay(
        plain(),
        &format!(
            "{}
             M: .leading dot
             M: ..two dots
             M: middle . dot
             M: .
             N: a\\nbare\\rends\\n.\\nlast line without crlf
             D: send from:<a@example.org> to:<x@example.net>
             C: MAIL FROM:<a@example.org>
             S: 250 ok
             C: RCPT TO:<x@example.net>
             S: 250 ok
             C: DATA
             S: 354 go
             C: ..leading dot
             C: ...two dots
             C: middle . dot
             C: ..
             C: a
             C: bare
             C: ends
             C: ..
             C: last line without crlf
             C: .
             S: 250 ok
             E: done delivered 250 ok
             E: ready",
            opened(&[])
        ),
    );
}

#[test]
fn chunking_sends_one_bdat_last_without_dot_stuffing() {
    // The content is canonical (a CRLF added at the end) and counted as such.
    replay(
        plain(),
        &format!(
            "{}
             M: .dots stay
             N: no final crlf
             D: send from:<a@example.org> to:<b@example.net>
             C: MAIL FROM:<a@example.org>
             C: RCPT TO:<b@example.net>
             C: BDAT 27 LAST
             C: .dots stay
             C: no final crlf
             S: 250 ok
             S: 250 ok
             W: 600
             S: 250 queued
             E: done delivered 250 queued
             E: ready",
            opened(&["PIPELINING", "CHUNKING"])
        ),
    );
    // Without pipelining, BDAT waits for the RCPT replies.
    replay(
        plain(),
        &format!(
            "{}
             M: Hi
             D: send from:<a@example.org> to:<b@example.net>
             C: MAIL FROM:<a@example.org>
             S: 250 ok
             C: RCPT TO:<b@example.net>
             S: 250 ok
             C: BDAT 4 LAST
             C: Hi
             S: 554 5.7.1 Spam
             E: done failed 554 5.7.1 Spam
             C: RSET
             S: 250 ok
             E: ready",
            opened(&["CHUNKING"])
        ),
    );
}

#[test]
fn a_binary_body_goes_exactly_as_given() {
    replay(
        plain(),
        &format!(
            "{}
             N: \\x00\\xff\\n.\\r
             D: send from:<a@example.org> to:<b@example.net> body:binary
             C: MAIL FROM:<a@example.org> BODY=BINARYMIME
             C: RCPT TO:<b@example.net>
             R: BDAT 5 LAST\\r\\n\\x00\\xff\\n.\\r
             S: 250 ok
             S: 250 ok
             S: 250 ok
             E: done delivered 250 ok
             E: ready",
            opened(&["PIPELINING", "CHUNKING", "BINARYMIME"])
        ),
    );
}

#[test]
fn messages_the_server_cannot_take_fail_before_anything_is_sent() {
    let cases: [(&[&str], &str, &str); 6] = [
        (
            &["SIZE 20", "8BITMIME"],
            "body:8bit",
            "552 [5.3.4] Message of 30 octets too big for the server (SIZE 20)",
        ),
        (
            &["8BITMIME"],
            "smtputf8",
            "554 [5.6.7] SMTPUTF8 needed but not offered by the server",
        ),
        (
            &["SMTPUTF8"],
            "body:8bit",
            "554 [5.6.3] 8-bit message but the server does not offer 8BITMIME",
        ),
        (
            &["CHUNKING", "8BITMIME"],
            "body:binary",
            "554 [5.6.3] Binary message but the server does not offer BINARYMIME and CHUNKING",
        ),
        (
            &["BINARYMIME", "8BITMIME"],
            "body:binary",
            "554 [5.6.3] Binary message but the server does not offer BINARYMIME and CHUNKING",
        ),
        (
            &["REQUIRETLS"],
            "requiretls",
            "554 [5.7.30] REQUIRETLS needed but the connection is not TLS",
        ),
    ];
    for (keywords, words, reply) in cases {
        replay(
            plain(),
            &format!(
                "{}
                 M: xxxxxxxxxxxxxxxxxxxxxxxxxxxx
                 D: send from:<a@example.org> to:<x@example.net> to:<y@example.net> {words}
                 E: done failed {reply} | failed {reply}
                 E: ready",
                opened(keywords)
            ),
        );
    }
    // A non-ASCII address needs SMTPUTF8 whatever the envelope says.
    replay(
        plain(),
        &format!(
            "{}
             D: send from:<a@example.org> to:<j\u{f6}rg@example.net>
             E: done failed 554 [5.6.7] SMTPUTF8 needed but not offered by the server
             E: ready",
            opened(&["8BITMIME"])
        ),
    );
    // SIZE without a limit only adds SIZE=.
    replay(
        plain(),
        &format!(
            "{}
             M: xxxxxxxxxxxxxxxxxxxxxxxxxxxx
             D: send from:<a@example.org> to:<x@example.net>
             C: MAIL FROM:<a@example.org> SIZE=30",
            opened(&["SIZE"])
        ),
    );
}

#[test]
fn smtputf8_is_asked_for_when_needed_and_offered() {
    replay(
        plain(),
        &format!(
            "{}
             D: send from:<\u{e9}@example.org> to:<j\u{f6}rg@b\u{fc}cher.example> body:8bit
             C: MAIL FROM:<\u{e9}@example.org> SIZE=0 BODY=8BITMIME SMTPUTF8
             C: RCPT TO:<j\u{f6}rg@b\u{fc}cher.example>
             C: DATA",
            opened(MODERN)
        ),
    );
}

#[test]
fn addresses_that_would_change_a_command_are_refused() {
    replay(
        plain(),
        &format!(
            "{}
             M: Hi
             D: send from:<a@example.org> to:<x>@example.net> to:<y@example.net> to:<>
             C: MAIL FROM:<a@example.org> SIZE=4
             C: RCPT TO:<y@example.net>
             C: DATA
             S: 250 2.1.0 ok
             S: 250 2.1.5 ok
             S: 354 go
             C: Hi
             C: .
             S: 250 2.0.0 ok
             E: done failed 553 [5.1.3] Recipient address not fit for SMTP | delivered 250 [2.0.0] ok | failed 553 [5.1.3] Recipient address not fit for SMTP
             E: ready",
            opened(MODERN)
        ),
    );
    replay(
        plain(),
        &format!(
            "{}
             D: send from:<a>@example.org> to:<y@example.net>
             E: done failed 553 [5.1.7] Sender address not fit for SMTP
             E: ready",
            opened(MODERN)
        ),
    );
    let line_break = Envelope {
        reverse_path: "a@example.org\r\nRCPT TO:<evil@example.com>".into(),
        recipients: vec![Recipient::new("b@example.net")],
        body: BodyType::SevenBit,
        smtputf8: false,
        requiretls: false,
        ret: None,
        envid: None,
    };
    let mut s = ClientSession::new(plain());
    assert_eq!(s.send(line_break.clone(), b"x"), Err(SendError::NotReady));
    s.handle_input(b"220 mx\r\n");
    s.handle_input(b"250 mx\r\n");
    let no_one = Envelope {
        recipients: Vec::new(),
        ..line_break.clone()
    };
    assert_eq!(s.send(no_one, b"x"), Err(SendError::NoRecipients));
    assert_eq!(s.send(line_break, b"x"), Ok(()));
    let mut out = Vec::new();
    s.poll_output(&mut out);
    assert_eq!(out, b"EHLO client.example.org\r\n");
    let failed = RecipientOutcome::Failed(Reply::synthetic(
        553,
        (5, 1, 7),
        "Sender address not fit for SMTP",
    ));
    let events: Vec<ClientEvent> = std::iter::from_fn(|| s.poll_event()).collect();
    assert_eq!(
        events,
        [
            ClientEvent::Ready,
            ClientEvent::Done(TransactionResult {
                recipients: vec![failed]
            }),
            ClientEvent::Ready
        ]
    );
}

#[test]
fn dsn_parameters_only_when_dsn_is_offered() {
    let send = "D: send from:<a@example.org> to:<b@example.net> notify:success,failure orcpt:b+x@example.net to:<c@example.net> notify:never to:<d@example.net> notify:delay orcpt:d\u{e9}@example.net ret:hdrs envid:QID=1+2";
    replay(
        plain(),
        &format!(
            "{}
             {send}
             C: MAIL FROM:<a@example.org> RET=HDRS ENVID=QID+3D1+2B2
             C: RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx@example.net
             C: RCPT TO:<c@example.net> NOTIFY=NEVER
             C: RCPT TO:<d@example.net> NOTIFY=DELAY ORCPT=utf-8;d\\x{{E9}}@example.net
             C: DATA",
            opened(&["PIPELINING", "DSN"])
        ),
    );
    replay(
        plain(),
        &format!(
            "{}
             {send}
             C: MAIL FROM:<a@example.org>
             C: RCPT TO:<b@example.net>
             C: RCPT TO:<c@example.net>
             C: RCPT TO:<d@example.net>
             C: DATA",
            opened(&["PIPELINING"])
        ),
    );
}

#[test]
fn requiretls_only_over_tls_to_a_server_that_offers_it() {
    replay(
        tls(),
        &format!(
            "{}
             D: send from:<a@example.org> to:<b@example.net> requiretls
             C: MAIL FROM:<a@example.org> REQUIRETLS
             C: RCPT TO:<b@example.net>
             C: DATA",
            opened(&["PIPELINING", "REQUIRETLS"])
        ),
    );
    replay(
        tls(),
        &format!(
            "{}
             D: send from:<a@example.org> to:<b@example.net> requiretls
             E: done failed 554 [5.7.30] REQUIRETLS support required but not offered by the server
             E: ready",
            opened(&["PIPELINING"])
        ),
    );
}

#[test]
fn connection_lost_mid_data_defers_what_is_in_flight() {
    replay(
        plain(),
        &format!(
            "{}
             M: Hello
             D: send from:<a@example.org> to:<x@example.net> to:<y@example.net>
             C: MAIL FROM:<a@example.org> SIZE=7
             C: RCPT TO:<x@example.net>
             C: RCPT TO:<y@example.net>
             C: DATA
             S: 250 2.1.0 ok
             S: 550 5.1.1 no x
             S: 250 2.1.5 ok
             S: 354 go
             C: Hello
             C: .
             D: lost
             E: done failed 550 [5.1.1] no x | deferred 451 [4.4.2] Connection lost
             E: closed ConnectionLost 451 [4.4.2] Connection lost
             D: quit
             S: 250 too late",
            opened(MODERN)
        ),
    );
}

#[test]
fn timeout_mid_transaction_defers_what_is_in_flight() {
    replay(
        plain(),
        &format!(
            "{}
             M: Hello
             D: send from:<a@example.org> to:<x@example.net>
             C: MAIL FROM:<a@example.org>
             S: 250 ok
             C: RCPT TO:<x@example.net>
             S: 250 ok
             C: DATA
             S: 354 go
             C: Hello
             C: .
             W: 600
             D: timeout
             E: done deferred 451 [4.4.2] No reply from the server in 600 s
             E: closed Timeout 451 [4.4.2] No reply from the server in 600 s",
            opened(&[])
        ),
    );
}

#[test]
fn a_421_mid_transaction_defers_even_accepted_recipients() {
    replay(
        plain(),
        &format!(
            "{}
             M: Hello
             D: send from:<a@example.org> to:<x@example.net> to:<y@example.net>
             C: MAIL FROM:<a@example.org> SIZE=7
             C: RCPT TO:<x@example.net>
             C: RCPT TO:<y@example.net>
             C: DATA
             S: 250 2.1.0 ok
             S: 250 2.1.5 ok
             S: 421 4.3.2 mx.example.net Shutting down
             E: done deferred 421 [4.3.2] mx.example.net Shutting down | deferred 421 [4.3.2] mx.example.net Shutting down
             E: closed ServerClosing 421 [4.3.2] mx.example.net Shutting down",
            opened(MODERN)
        ),
    );
}

#[test]
fn replies_of_the_wrong_kind_or_too_early_end_the_session() {
    replay(
        plain(),
        &format!(
            "{}
             D: send from:<a@example.org> to:<x@example.net>
             C: MAIL FROM:<a@example.org>
             S: 250 ok
             C: RCPT TO:<x@example.net>
             S: 250 ok
             C: DATA
             S: 250 ok
             E: done deferred 451 [4.5.0] Unexpected reply to DATA: 250 ok
             E: closed Protocol 451 [4.5.0] Unexpected reply to DATA: 250 ok",
            opened(&[])
        ),
    );
    replay(
        plain(),
        &format!(
            "{}
             D: send from:<a@example.org> to:<x@example.net>
             C: MAIL FROM:<a@example.org>
             S: 354 what
             E: done deferred 451 [4.5.0] Unexpected reply to MAIL: 354 what
             E: closed Protocol 451 [4.5.0] Unexpected reply to MAIL: 354 what",
            opened(&[])
        ),
    );
    // Without pipelining, the RCPT reply cannot be here with MAIL's: it answers nothing
    // we sent, and the RCPT written meanwhile is dropped. (Cut between the two replies, the
    // second one would be read as RCPT's, so this runs whole.)
    run(
        plain(),
        &format!(
            "{}
             D: send from:<a@example.org> to:<x@example.net>
             C: MAIL FROM:<a@example.org>
             S: 250 ok
             S: 250 ok
             E: done deferred 451 [4.5.0] The server sent a reply before the command it could answer
             E: closed Protocol 451 [4.5.0] The server sent a reply before the command it could answer",
            opened(&[])
        ),
        &Cut::Whole,
    );
}
