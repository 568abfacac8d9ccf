//! Inbound checks end to end (`[inbound] auth_checks`): SPF, DKIM and DMARC of mail arriving
//! on a ringpost's inbound listener, with Debian's dnsmasq serving the records on a high
//! port and every server on loopback. A message DKIM-signed and sent by a second ringpost
//! (submission → its queue runner → the receiver as MX) passes all three; a forged one,
//! sent with smtplib from an address SPF does not allow with `From:` in a `p=reject`
//! domain, is refused with `550 5.7.1` under `dmarc_reject = true` and delivered with
//! `dmarc=fail` without it; a forged `Authentication-Results:` naming the receiver is removed;
//! SPF `fail` is refused under `spf_reject_fail`; a resolver that never answers gives
//! `temperror` after `auth_timeout_secs`, and the message is delivered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::dns::dnsmasq_on;
use support::{Options, Server, ALICE};

const CAROL: (&str, &str) = ("carol@remote1.test", "remote-pass-1");

/// The records of both tests: example.com allows 127.0.0.1 and asks for `p=reject`;
/// spammer.test allows nobody. DMARC walks up the tree (`_dmarc.com`), so dnsmasq answers
/// for `.com` itself (NXDOMAIN) rather than refusing, which would be a `temperror`.
fn records() -> Vec<String> {
    [
        "--local=/com/",
        "--mx-host=remote1.test,mx.remote1.test,10",
        "--host-record=mx.remote1.test,127.0.0.2",
        "--txt-record=example.com,v=spf1 ip4:127.0.0.1 -all",
        "--txt-record=_dmarc.example.com,v=DMARC1; p=reject",
        "--txt-record=spammer.test,v=spf1 -all",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The receiving ringpost (remote1.test, carol) on `mx`, checking inbound mail against the
/// DNS server on `dns_port`.
fn receiver(mx: Option<SocketAddr>, dns_port: u16, dmarc_reject: bool) -> Server {
    receiver_with(
        mx,
        SocketAddr::from(([127, 0, 0, 1], dns_port)),
        &format!("dmarc_reject = {dmarc_reject}\n"),
    )
}

/// Every INBOX message of carol's, as her IMAP client reads it.
fn carols_mail(receiver: &Server) -> Vec<String> {
    let raw: Vec<String> = serde_json::from_str(
        receiver
            .python("outbound.py", &["raw", CAROL.0, CAROL.1])
            .trim(),
    )
    .unwrap();
    use base64::Engine as _;
    raw.iter()
        .map(|m| {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(m).unwrap()).unwrap()
        })
        .collect()
}

/// The `Authentication-Results:` fields of a message's header, unfolded.
fn auth_results(message: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current: Option<String> = None;
    for line in message.split("\r\n") {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(f) = current.as_mut() {
                f.push(' ');
                f.push_str(line.trim());
            }
            continue;
        }
        fields.extend(current.take());
        if line.starts_with("Authentication-Results:") {
            current = Some(line.to_string());
        }
    }
    fields.extend(current);
    fields
}

/// alice@example.com submits a message to carol@remote1.test; her ringpost signs it with a
/// key from `ringpost dkim generate` and sends it from 127.0.0.1 to the receiver, which finds
/// SPF, DKIM and DMARC passing and says so in one `Authentication-Results:` field at the
/// top, above its `Received:`, and in its delivery log line.
#[test]
fn signed_mail_from_an_allowed_host_passes_spf_dkim_and_dmarc() {
    if !support::have("dnsmasq", "dnsmasq-base") {
        return;
    }
    let [mx_port, dns_port] = support::free_ports(2)[..] else {
        unreachable!()
    };
    let mut records = records();
    let mut receiver = receiver(
        Some(SocketAddr::from(([127, 0, 0, 2], mx_port))),
        dns_port,
        true,
    );
    let sender = Server::start(Options {
        extra: format!(
            "[auth]\nfailure_delay_ms = 50\n[outbound]\nenabled = true\n\
             nameservers = [\"127.0.0.1:{dns_port}\"]\nmx_port = {mx_port}\n\
             retry_initial_secs = 1\nretry_max_secs = 2\nconnect_timeout_secs = 5\n"
        ),
        log: "info",
        ..Options::default()
    });
    let out = sender.cli(
        &[
            "dkim",
            "generate",
            "example.com",
            "in2026",
            "--algorithm",
            "ed25519",
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = text.lines().find(|l| l.contains(" IN TXT ")).unwrap();
    let (name, strings) = line.split_once(" IN TXT ").unwrap();
    let value: String = strings.split('"').skip(1).step_by(2).collect();
    records.push(format!(
        "--txt-record={},{value}",
        name.trim_end_matches('.')
    ));
    let _dns = dnsmasq_on(dns_port, &records);
    let mut config = std::fs::read_to_string(&sender.config).unwrap();
    config.push_str(&text[text.find("[[dkim]]").unwrap()..]);
    std::fs::write(&sender.config, config).unwrap();
    sender.reload(1);

    let id = sender
        .python(
            "outbound.py",
            &["submit-dkim", ALICE.0, ALICE.1, ALICE.0, CAROL.0],
        )
        .trim()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mail = loop {
        let mail = carols_mail(&receiver);
        if !mail.is_empty() {
            break mail;
        }
        assert!(
            Instant::now() < deadline,
            "nothing arrived ({id}):\n{}\n{}",
            sender.log(),
            receiver.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(mail.len(), 1);
    let message = &mail[0];
    let results = auth_results(message);
    assert_eq!(results.len(), 1, "{message}");
    let field = &results[0];
    assert!(
        field.starts_with("Authentication-Results: localhost;"),
        "{field}"
    );
    for expected in [
        "spf=pass smtp.mailfrom=alice@example.com;",
        "dkim=pass header.d=example.com header.s=in2026;",
        "dmarc=pass header.from=example.com policy.dmarc=reject;",
        "arc=none",
    ] {
        assert!(field.contains(expected), "{expected} in {field}");
    }
    // Return-Path, then the results, then the receiver's Received:, then the sender's.
    assert!(message.starts_with("Return-Path: <alice@example.com>\r\nAuthentication-Results:"));
    let at = message.find("Authentication-Results:").unwrap();
    let received = message.find("Received:").unwrap();
    let signature = message.find("DKIM-Signature:").unwrap();
    assert!(at < received && received < signature, "{message}");

    assert!(receiver.terminate().success());
    let log = receiver.log();
    let line = log
        .lines()
        .find(|l| l.contains("ringpost::delivery") && l.contains(" spf="))
        .unwrap_or_else(|| panic!("no delivery line:\n{log}"));
    for expected in [
        "spf=\"pass\"",
        "dkim_verified=\"pass:example.com\"",
        "dmarc=\"pass:example.com\"",
        "result=\"accepted\"",
    ] {
        assert!(line.contains(expected), "{expected} in {line}");
    }
}

/// A message from 127.0.0.1 with `From:` in example.com (`p=reject`), envelope sender at
/// spammer.test (`v=spf1 -all`), no signature: refused with `550 5.7.1` under
/// `dmarc_reject = true`, nothing kept; after a reload with `dmarc_reject = false`, delivered
/// with `spf=fail`, `dkim=none` and `dmarc=fail` — and without the forged
/// `Authentication-Results: localhost` it carried.
#[test]
fn forged_mail_is_refused_under_dmarc_reject_and_marked_without_it() {
    if !support::have("dnsmasq", "dnsmasq-base") {
        return;
    }
    let dns_port = support::free_ports(1)[0];
    let _dns = dnsmasq_on(dns_port, &records());
    let mut receiver = receiver(None, dns_port, true);
    let forge = |receiver: &Server| -> (u16, String) {
        serde_json::from_str(
            receiver
                .python(
                    "inbound_auth.py",
                    &["forge", "ceo@spammer.test", "boss@example.com", CAROL.0],
                )
                .trim(),
        )
        .unwrap()
    };
    let (code, reply) = forge(&receiver);
    assert_eq!(code, 550, "{reply}");
    assert!(reply.starts_with("5.7.1 "), "{reply}");
    assert!(carols_mail(&receiver).is_empty());

    let config = std::fs::read_to_string(&receiver.config).unwrap();
    let config = config.replace("dmarc_reject = true", "dmarc_reject = false");
    std::fs::write(&receiver.config, config).unwrap();
    receiver.reload(1);
    let (code, reply) = forge(&receiver);
    assert_eq!(code, 250, "{reply}");
    let mail = carols_mail(&receiver);
    assert_eq!(mail.len(), 1);
    let results = auth_results(&mail[0]);
    assert_eq!(results.len(), 1, "the forged field is gone: {}", mail[0]);
    let field = &results[0];
    for expected in [
        "spf=fail smtp.mailfrom=ceo@spammer.test;",
        "dkim=none;",
        "dmarc=fail header.from=example.com policy.dmarc=reject;",
    ] {
        assert!(field.contains(expected), "{expected} in {field}");
    }
    assert!(mail[0].contains("Subject: urgent wire transfer\r\n"));

    assert!(receiver.terminate().success());
    let log = receiver.log();
    assert!(
        log.lines().any(|l| l.contains("ringpost::delivery")
            && l.contains("result=\"refused by DMARC\"")
            && l.contains("dmarc=\"fail:example.com\"")),
        "{log}"
    );
}

/// A receiver (on `mx` when given) with its own `[inbound]` settings (`extra_inbound`) and
/// resolver.
fn receiver_with(mx: Option<SocketAddr>, dns: SocketAddr, extra_inbound: &str) -> Server {
    let server = Server::start(Options {
        // Server::start adds alice and bob at example.com.
        domains: vec!["example.com", "remote1.test"],
        addresses: mx.map(|a| vec![("smtp", a)]).unwrap_or_default(),
        extra: format!(
            "[inbound]\nauth_checks = true\n{extra_inbound}\
             [outbound]\nenabled = false\nnameservers = [\"{dns}\"]\n"
        ),
        log: "info",
        ..Options::default()
    });
    let out = server.cli(&["user", "add", CAROL.0], Some(CAROL.1));
    assert!(out.status.success(), "{out:?}");
    server
}

fn forge(receiver: &Server, mail_from: &str, from: &str) -> (u16, String) {
    serde_json::from_str(
        receiver
            .python("inbound_auth.py", &["forge", mail_from, from, CAROL.0])
            .trim(),
    )
    .unwrap()
}

/// `spf_reject_fail = true`: a sender SPF refuses (`-all`) gets `550 5.7.23` before the
/// message is acknowledged, and nothing is kept; SPF `fail` alone, without it, is delivered
/// and marked.
#[test]
fn spf_fail_is_refused_under_spf_reject_fail() {
    if !support::have("dnsmasq", "dnsmasq-base") {
        return;
    }
    let dns_port = support::free_ports(1)[0];
    let _dns = dnsmasq_on(dns_port, &records());
    let dns = SocketAddr::from(([127, 0, 0, 1], dns_port));
    let mut receiver = receiver_with(None, dns, "spf_reject_fail = true\n");
    // spammer.test publishes no DMARC record: only SPF speaks.
    let (code, reply) = forge(&receiver, "ceo@spammer.test", "ceo@spammer.test");
    assert_eq!(code, 550, "{reply}");
    assert!(reply.starts_with("5.7.23 "), "{reply}");
    assert!(carols_mail(&receiver).is_empty());
    assert!(receiver.terminate().success());
    let log = receiver.log();
    assert!(
        log.lines().any(|l| l.contains("ringpost::delivery")
            && l.contains("result=\"refused by SPF\"")
            && l.contains("spf=\"fail\"")),
        "{log}"
    );

    let receiver = receiver_with(None, dns, "");
    let (code, reply) = forge(&receiver, "ceo@spammer.test", "ceo@spammer.test");
    assert_eq!(code, 250, "{reply}");
    let mail = carols_mail(&receiver);
    assert_eq!(mail.len(), 1);
    let results = auth_results(&mail[0]);
    assert!(
        results[0].contains("spf=fail smtp.mailfrom=ceo@spammer.test;"),
        "{results:?}"
    );
}

/// A resolver that never answers (a UDP socket nobody reads): the checks run out of
/// `auth_timeout_secs`, the message is delivered with `temperror` results (never refused, even
/// under `dmarc_reject`), and the log says why.
#[test]
fn checks_that_do_not_answer_in_time_give_temperror_and_deliver() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dns = silent.local_addr().unwrap();
    let mut receiver = receiver_with(
        None,
        dns,
        "auth_timeout_secs = 1\ndmarc_reject = true\nspf_reject_fail = true\n",
    );
    let (code, reply) = forge(&receiver, "ceo@spammer.test", "boss@example.com");
    assert_eq!(code, 250, "{reply}");
    let mail = carols_mail(&receiver);
    assert_eq!(mail.len(), 1);
    let results = auth_results(&mail[0]);
    assert_eq!(results.len(), 1, "the forged field is gone: {}", mail[0]);
    for expected in ["spf=temperror", "dkim=temperror", "dmarc=temperror"] {
        assert!(results[0].contains(expected), "{expected} in {results:?}");
    }
    assert!(receiver.terminate().success());
    let log = receiver.log();
    assert!(
        log.contains("auth checks did not finish in time (DNS?); counted as temperror"),
        "{log}"
    );
    drop(silent);
}
