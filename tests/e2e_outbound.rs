//! Outbound delivery end to end, with real components on loopback: Debian's dnsmasq serves
//! the test domains' MX and A records (including a null MX and a domain that does not
//! exist), a second ringpost is the remote MX for some of them, Postfix's smtp-sink is the
//! MX for others (one that refuses every recipient, one that defers them), and an address
//! where nothing listens is a primary MX that is down. Every remote host listens on the same
//! port (`[outbound] mx_port`) on its own 127.0.0.x address. DKIM signatures are checked
//! as a receiver would, by dkimpy (Debian's python3-dkim) with the keys from the dnsmasq.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::dns::{dnsmasq, dnsmasq_on, Dns};
use support::https::DocumentServer;
use support::{Options, Server, ALICE, BOB};

/// Postfix's smtp-sink on `address`, dumping every transaction into its own file.
struct Sink {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sink {
    fn start(address: SocketAddr, extra: &[&str]) -> Sink {
        let dir = tempfile::tempdir().unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let child = Command::new("smtp-sink")
            .args(["-u", "nobody", "-d"])
            .arg(dir.path().join("%H%M%S."))
            .args(extra)
            .arg(address.to_string())
            .arg("16")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "smtp-sink did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Sink { child, dir }
    }

    /// Every transaction received so far (the sink's envelope lines, then the message).
    fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap()).to_string())
            .collect()
    }
}

fn have_all() -> bool {
    support::have("dnsmasq", "dnsmasq-base") && support::have("smtp-sink", "postfix")
}

fn outbound_config(dns: &Dns, mx_port: u16) -> String {
    outbound_config_on(dns.port, mx_port)
}

/// [`outbound_config`] for a DNS server on `dns_port`.
fn outbound_config_on(dns_port: u16, mx_port: u16) -> String {
    format!(
        "[auth]\nfailure_delay_ms = 50\n[outbound]\nenabled = true\nnameservers = [\"127.0.0.1:{dns_port}\"]\n\
         mx_port = {mx_port}\nretry_initial_secs = 1\nretry_max_secs = 2\nconnect_timeout_secs = 5\n"
    )
}

fn python(server: &Server, args: &[&str]) -> String {
    server.python("outbound.py", args).trim().to_string()
}

/// Wait (bounded) until `ringpost queue list` says the queue is empty.
fn wait_for_empty_queue(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = server.cli(&["queue", "list"], None);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.ends_with("\n0 queued\n") || text == "0 queued\n" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the queue did not empty:\n{text}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn remote_ringpost(mx: SocketAddr) -> Server {
    let server = Server::start(Options {
        domains: vec![
            "example.com",
            "remote1.test",
            "backup.test",
            "implicit.test",
        ],
        addresses: vec![("smtp", mx)],
        ..Options::default()
    });
    for user in [
        "carol@remote1.test",
        "dave@backup.test",
        "erin@implicit.test",
    ] {
        let out = server.cli(&["user", "add", user], Some("remote-pass-1"));
        assert!(out.status.success(), "{out:?}");
    }
    server
}

/// alice submits one message to recipients at seven domains: the reachable ones (a remote
/// ringpost as MX, as backup MX behind a primary that is down, and as implicit MX; an
/// smtp-sink) each receive it once, with its body intact; the refusing host, the null MX and
/// the domain that does not exist come back to alice as one delivery status report that
/// Python's email package reads, naming each of them; and the queue empties.
#[test]
fn mail_reaches_remote_hosts_and_failures_come_back_as_one_report() {
    if !have_all() {
        return;
    }
    let mx_port = support::free_ports(1)[0];
    let at = |last: u8| SocketAddr::from(([127, 0, 0, last], mx_port));
    let records: Vec<String> = [
        "--mx-host=remote1.test,mx.remote1.test,10",
        "--host-record=mx.remote1.test,127.0.0.2",
        "--mx-host=remote2.test,mx.remote2.test,10",
        "--host-record=mx.remote2.test,127.0.0.3",
        "--mx-host=backup.test,down.backup.test,10",
        "--mx-host=backup.test,mx.remote1.test,20",
        "--host-record=down.backup.test,127.0.0.5",
        "--host-record=implicit.test,127.0.0.2",
        "--mx-host=reject.test,mx.reject.test,10",
        "--host-record=mx.reject.test,127.0.0.4",
        // A null MX (RFC 7505): preference 0, the root as exchange.
        "--dns-rr=nullmx.test,15,000000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let dns = dnsmasq(&records);
    let remote = remote_ringpost(at(2));
    let sink = Sink::start(at(3), &[]);
    let _refusing = Sink::start(at(4), &["-f", "RCPT"]);
    let mut server = Server::start(Options {
        extra: outbound_config(&dns, mx_port),
        log: "info",
        ..Options::default()
    });
    let id = python(
        &server,
        &[
            "submit",
            ALICE.0,
            ALICE.1,
            ALICE.0,
            "carol@remote1.test",
            "sink@remote2.test",
            "dave@backup.test",
            "erin@implicit.test",
            "x@reject.test",
            "y@nullmx.test",
            "z@nosuch.test",
        ],
    );
    wait_for_empty_queue(&server);

    for user in [
        "carol@remote1.test",
        "dave@backup.test",
        "erin@implicit.test",
    ] {
        let subjects = python(&remote, &["subjects", user, "remote-pass-1"]);
        assert_eq!(subjects, "[\"outbound test\"]", "{user}");
    }
    let received = sink.messages();
    assert_eq!(received.len(), 1, "{received:?}");
    // (smtp-sink writes its dump with LF line ends.)
    let m = &received[0].replace("\r\n", "\n");
    assert!(m.contains("\nSubject: outbound test\n"), "{m}");
    // Dot-stuffing undone on the far side; our trace header kept, the envelope fields and
    // Return-Path not sent on.
    assert!(m.contains("\n.leading dot\n"), "{m}");
    assert!(m.contains(&format!("id {id}")), "{m}");
    assert!(!m.contains("X-Ringpost-Envelope"), "{m}");
    assert!(!m.contains("Return-Path:"), "{m}");

    let reports: serde_json::Value =
        serde_json::from_str(&python(&server, &["reports", ALICE.0, ALICE.1])).unwrap();
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert_eq!(r["subject"], "Undelivered Mail Returned to Sender");
    assert_eq!(r["actions"], serde_json::json!(["failed"]));
    assert_eq!(r["original_subject"], "outbound test");
    let mut recipients: Vec<String> = r["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    recipients.sort();
    assert_eq!(
        recipients,
        ["x@reject.test", "y@nullmx.test", "z@nosuch.test"]
    );
    let statuses: Vec<&str> = r["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(statuses.iter().all(|s| s.starts_with("5.")), "{statuses:?}");
    assert!(
        statuses.contains(&"5.1.10") && statuses.contains(&"5.1.2"),
        "{statuses:?}"
    );

    assert!(server.terminate().success());
    let log = server.log();
    assert_eq!(
        log.matches("result=\"delivered\"").count(),
        4,
        "one delivered line per reachable recipient:\n{log}"
    );
    assert!(log.contains("bounce sent"), "{log}");
    // The remote ringpost offers STARTTLS: opportunistic TLS was used; smtp-sink does not.
    let line = |to: &str| {
        log.lines()
            .find(|l| l.contains("delivery attempt") && l.contains(&format!("to={to}")))
            .unwrap_or_else(|| panic!("no attempt to {to}:\n{log}"))
            .to_string()
    };
    assert!(
        line("carol@remote1.test").contains("tls=\"TLSv1_3\""),
        "{log}"
    );
    assert!(line("sink@remote2.test").contains("tls=\"none\""), "{log}");
    assert!(
        line("dave@backup.test").contains("relay=\"mx.remote1.test [127.0.0.2]\""),
        "{log}"
    );
}

/// A host that defers every recipient (4xx): the message stays queued with the reason
/// (`queue show`), is tried again on the backoff schedule, and once the host takes mail it
/// is delivered exactly once — also after `ringpost queue retry` asks for it at once.
#[test]
fn a_deferred_message_is_tried_again_and_delivered_once() {
    if !have_all() {
        return;
    }
    let mx_port = support::free_ports(1)[0];
    let mx = SocketAddr::from(([127, 0, 0, 6], mx_port));
    let dns = dnsmasq(&[
        "--mx-host=flaky.test,mx.flaky.test,10".to_string(),
        "--host-record=mx.flaky.test,127.0.0.6".to_string(),
    ]);
    let deferring = Sink::start(mx, &["-r", "RCPT"]);
    let server = Server::start(Options {
        extra: outbound_config(&dns, mx_port),
        log: "info",
        ..Options::default()
    });
    let id = python(
        &server,
        &["submit", ALICE.0, ALICE.1, ALICE.0, "f@flaky.test"],
    );
    // Two attempts deferred (the second after the 1 s backoff).
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.log().matches("result=\"deferred\"").count() < 2 {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let shown = server.cli(&["queue", "show", &id], None);
    assert!(shown.status.success(), "{shown:?}");
    assert!(String::from_utf8_lossy(&shown.stdout).contains("Recipients: <f@flaky.test>"));
    drop(deferring);
    let sink = Sink::start(mx, &[]);
    let out = server.cli(&["queue", "retry", &id], None);
    assert!(out.status.success(), "{out:?}");
    wait_for_empty_queue(&server);
    let received = sink.messages();
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(received[0].contains("Subject: outbound test"));
    // No report: nothing failed, and it was not late enough for a delay notice.
    assert_eq!(python(&server, &["reports", ALICE.0, ALICE.1]), "[]");
}

/// Mail queued for a host that is down survives `kill -9` and is delivered once after the
/// restart, when the host is back.
#[test]
fn queued_mail_survives_a_crash_and_is_delivered_once_after_restart() {
    if !have_all() {
        return;
    }
    let mx_port = support::free_ports(1)[0];
    let mx = SocketAddr::from(([127, 0, 0, 7], mx_port));
    let dns = dnsmasq(&[
        "--mx-host=later.test,mx.later.test,10".to_string(),
        "--host-record=mx.later.test,127.0.0.7".to_string(),
    ]);
    let mut server = Server::start(Options {
        extra: outbound_config(&dns, mx_port),
        log: "info",
        ..Options::default()
    });
    python(
        &server,
        &["submit", ALICE.0, ALICE.1, ALICE.0, "l@later.test"],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log().contains("result=\"deferred\"") {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut child = server.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    // With the server stopped, `queue retry` marks it due in the store itself.
    let retried = server.cli(&["queue", "retry"], None);
    assert!(retried.status.success(), "{retried:?}");
    assert_eq!(
        String::from_utf8_lossy(&retried.stdout),
        "1 messages due now\n"
    );
    let sink = Sink::start(mx, &[]);
    server.spawn();
    wait_for_empty_queue(&server);
    assert_eq!(sink.messages().len(), 1);
}

/// With `[outbound] relay`, everything goes to the smarthost — here a second ringpost's
/// submission port with implicit TLS, its certificate verified against `ca_file` and
/// AUTH as the relay user — which delivers it.
#[test]
fn a_smarthost_takes_everything_over_verified_tls_with_auth() {
    let mut relay = Server::start(Options {
        domains: vec!["example.com", "remote1.test"],
        ..Options::default()
    });
    let out = relay.cli(
        &["user", "add", "carol@remote1.test"],
        Some("remote-pass-1"),
    );
    assert!(out.status.success(), "{out:?}");
    let password = relay.dir.path().join("relay-password");
    std::fs::write(&password, format!("{}\n", ALICE.1)).unwrap();
    let server = Server::start(Options {
        extra: format!(
            "[auth]\nfailure_delay_ms = 50\n[outbound]\nenabled = true\nrelay = \"localhost:{}\"\n\
             relay_tls = \"implicit\"\nrelay_user = \"{}\"\nrelay_password_file = \"{}\"\n\
             ca_file = \"{}\"\nretry_initial_secs = 1\n",
            relay.port("smtps"),
            ALICE.0,
            password.display(),
            relay.cafile().display()
        ),
        log: "info",
        ..Options::default()
    });
    python(
        &server,
        &["submit", ALICE.0, ALICE.1, ALICE.0, "carol@remote1.test"],
    );
    wait_for_empty_queue(&server);
    let subjects = python(&relay, &["subjects", "carol@remote1.test", "remote-pass-1"]);
    assert_eq!(subjects, "[\"outbound test\"]");
    // The relay saw an authenticated submission from us.
    assert!(relay.terminate().success());
    let log = relay.log();
    assert!(
        log.lines().any(|l| l.contains("ringpost::auth")
            && l.contains(" login ")
            && l.contains("protocol=\"submission\"")),
        "{log}"
    );
}

/// The DSN extension (RFC 3461) on submission: NOTIFY, ORCPT, RET and ENVID go on to a host
/// that offers DSN (it reports from there); a host without DSN makes us send a `relayed`
/// report where SUCCESS was asked; NOTIFY=NEVER silences a bounce; a local recipient with
/// NOTIFY=SUCCESS gets the sender a `delivered` report.
#[test]
fn dsn_parameters_are_honoured_and_passed_on() {
    if !have_all() {
        return;
    }
    let mx_port = support::free_ports(1)[0];
    let at = |last: u8| SocketAddr::from(([127, 0, 0, last], mx_port));
    let dns = dnsmasq(&[
        "--mx-host=dsn.test,mx.dsn.test,10".to_string(),
        "--host-record=mx.dsn.test,127.0.0.8".to_string(),
        "--mx-host=nodsn.test,mx.nodsn.test,10".to_string(),
        "--host-record=mx.nodsn.test,127.0.0.9".to_string(),
        "--mx-host=reject.test,mx.reject.test,10".to_string(),
        "--host-record=mx.reject.test,127.0.0.10".to_string(),
    ]);
    let with_dsn = Sink::start(at(8), &[]);
    let without_dsn = Sink::start(at(9), &["-N"]);
    let _refusing = Sink::start(at(10), &["-f", "RCPT"]);
    let server = Server::start(Options {
        extra: outbound_config(&dns, mx_port),
        log: "info",
        ..Options::default()
    });
    python(
        &server,
        &[
            "submit",
            ALICE.0,
            ALICE.1,
            &format!("{}|RET=HDRS|ENVID=env+2D1", ALICE.0),
            "a@dsn.test|NOTIFY=SUCCESS,FAILURE|ORCPT=rfc822;A@dsn.test",
            "b@nodsn.test|NOTIFY=SUCCESS",
            "c@reject.test|NOTIFY=NEVER",
            &format!("{}|NOTIFY=SUCCESS", support::BOB.0),
        ],
    );
    wait_for_empty_queue(&server);
    let passed = with_dsn.messages();
    assert_eq!(passed.len(), 1);
    let m = &passed[0];
    assert!(m.contains("RET=HDRS") && m.contains("ENVID=env-1"), "{m}");
    assert!(
        m.contains("NOTIFY=SUCCESS,FAILURE") && m.contains("ORCPT=rfc822;A@dsn.test"),
        "{m}"
    );
    assert_eq!(without_dsn.messages().len(), 1);
    // Two reports: `delivered` for bob (at delivery), `relayed` for b@nodsn.test; none for
    // the refused c@reject.test (NEVER), none from us for a@dsn.test (its host took DSN).
    let deadline = Instant::now() + Duration::from_secs(30);
    let reports = loop {
        let reports: serde_json::Value =
            serde_json::from_str(&python(&server, &["reports", ALICE.0, ALICE.1])).unwrap();
        if reports.as_array().unwrap().len() >= 2 || Instant::now() > deadline {
            break reports;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut seen: Vec<(String, String)> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["actions"][0].as_str().unwrap().to_string(),
                r["recipients"][0].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("delivered".to_string(), support::BOB.0.to_string()),
            ("relayed".to_string(), "b@nodsn.test".to_string()),
        ],
        "{reports}"
    );
    for r in reports.as_array().unwrap() {
        assert_eq!(r["subject"], "Successful Mail Delivery Report");
        assert_eq!(r["original_subject"], "outbound test");
    }
}

/// REQUIRETLS (RFC 8689): the message goes to an MX host whose certificate is valid for its
/// name and which offers REQUIRETLS; to a domain whose host has no STARTTLS it is not sent
/// but bounced with 5.7.30, the report carrying only the original's header.
#[test]
fn requiretls_mail_goes_only_over_verified_tls() {
    if !have_all() {
        return;
    }
    let mx_port = support::free_ports(1)[0];
    let at = |last: u8| SocketAddr::from(([127, 0, 0, last], mx_port));
    let dns = dnsmasq(&[
        "--mx-host=secure.test,mx.secure.test,10".to_string(),
        "--host-record=mx.secure.test,127.0.0.11".to_string(),
        "--mx-host=plain.test,mx.plain.test,10".to_string(),
        "--host-record=mx.plain.test,127.0.0.12".to_string(),
    ]);
    // The secure MX: a ringpost with a certificate for its MX name.
    let certs = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec![
        "mx.secure.test".to_string(),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
    ])
    .unwrap();
    let (cert, key) = (certs.path().join("mx.pem"), certs.path().join("mx.key"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(certs.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let secure = Server::start(Options {
        domains: vec!["example.com", "secure.test"],
        addresses: vec![("smtp", at(11))],
        extra: format!(
            "[auth]\nfailure_delay_ms = 50\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        ..Options::default()
    });
    let out = secure.cli(&["user", "add", "s@secure.test"], Some("remote-pass-1"));
    assert!(out.status.success(), "{out:?}");
    let plain = Sink::start(at(12), &[]);
    let server = Server::start(Options {
        extra: format!(
            "{}ca_file = \"{}\"\n",
            outbound_config(&dns, mx_port),
            cert.display()
        ),
        log: "info",
        ..Options::default()
    });
    python(
        &server,
        &[
            "submit",
            ALICE.0,
            ALICE.1,
            &format!("{}|REQUIRETLS", ALICE.0),
            "s@secure.test",
            "p@plain.test",
        ],
    );
    wait_for_empty_queue(&server);
    let subjects = secure.python_with_ca(
        "outbound.py",
        cert.to_str().unwrap(),
        &["subjects", "s@secure.test", "remote-pass-1"],
    );
    assert_eq!(subjects.trim(), "[\"outbound test\"]");
    assert!(plain.messages().is_empty(), "sent without TLS");
    let reports: serde_json::Value =
        serde_json::from_str(&python(&server, &["reports", ALICE.0, ALICE.1])).unwrap();
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(
        reports[0]["recipients"],
        serde_json::json!(["p@plain.test"])
    );
    assert_eq!(reports[0]["statuses"], serde_json::json!(["5.7.30"]));
    assert_eq!(reports[0]["original_subject"], "outbound test");
    assert_eq!(reports[0]["original_type"], "text/rfc822-headers");
}

/// Debian's Python, which has Debian's python3-dkim (dkimpy); the `python3` on PATH may be
/// another one.
const DEBIAN_PYTHON: &str = "/usr/bin/python3";

/// Whether dkimpy can run; when not, one `SKIPPED:` line (or a failure in CI).
fn have_dkimpy() -> bool {
    let found = Command::new(DEBIAN_PYTHON)
        .args(["-c", "import dkim, nacl, dns.resolver"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        support::skipped(&format!(
            "{} needs dkimpy for {DEBIAN_PYTHON}: apt-get install python3-dkim",
            std::thread::current().name().unwrap_or("a test")
        ));
    }
    found
}

/// dkimpy's verdict on each message (one file each): per DKIM-Signature field, its domain,
/// selector, algorithm and whether it verified with the key in DNS.
fn dkim_verify(dns: &Dns, messages: &[&[u8]]) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let path = dir.path().join(format!("{i}.eml"));
            std::fs::write(&path, m).unwrap();
            path
        })
        .collect();
    let out = Command::new(DEBIAN_PYTHON)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/dkim_verify.py"))
        .arg(dns.port.to_string())
        .args(&files)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "dkim_verify.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The record `ringpost dkim generate` tells the operator to publish, from its output:
/// (name without the final dot, value with its strings joined).
fn txt_record(output: &str) -> (String, String) {
    let line = output
        .lines()
        .find(|l| l.contains(" IN TXT "))
        .unwrap_or_else(|| panic!("no TXT record in:\n{output}"));
    let (name, strings) = line.split_once(" IN TXT ").unwrap();
    // The quoted strings (at most 255 bytes each) are the odd pieces between quotes.
    let value: String = strings.split('"').skip(1).step_by(2).collect();
    (name.trim_end_matches('.').to_string(), value)
}

/// The `DKIM-Signature:` fields of a message, each unfolded, in order.
fn signature_fields(message: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current: Option<String> = None;
    for line in message.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(f) = current.as_mut() {
                f.push_str(line.trim_end_matches('\r'));
            }
            continue;
        }
        if let Some(f) = current.take() {
            fields.push(f);
        }
        if line.starts_with("DKIM-Signature:") {
            current = Some(line.trim_end_matches('\r').to_string());
        }
    }
    fields.extend(current);
    fields
}

/// Submitted mail is DKIM-signed with both keys of its From: domain, made by `ringpost dkim
/// generate` and taken in by a SIGHUP reload: the copies that reach smtp-sink and the remote
/// ringpost carry the same two signatures, first in what was sent (above our Received:), and
/// dkimpy verifies both — Ed25519 and RSA, whose record is longer than one TXT string — with
/// the keys from DNS. The local copy is not signed, nor is mail whose From: domain has no key.
#[test]
fn submitted_mail_is_dkim_signed_and_verifies_where_it_arrives() {
    if !have_all() || !have_dkimpy() {
        return;
    }
    let [mx_port, dns_port] = support::free_ports(2)[..] else {
        unreachable!()
    };
    let at = |last: u8| SocketAddr::from(([127, 0, 0, last], mx_port));
    let remote = remote_ringpost(at(2));
    let sink = Sink::start(at(3), &[]);
    let mut server = Server::start(Options {
        extra: outbound_config_on(dns_port, mx_port),
        domains: vec!["example.com", "example.net"],
        log: "info",
        ..Options::default()
    });
    let frank = ("frank@example.net", "frank-pass-1");
    assert!(server
        .cli(&["user", "add", frank.0], Some(frank.1))
        .status
        .success());

    // Two keys for example.com, made and published as the command says.
    let mut records: Vec<String> = [
        "--mx-host=remote1.test,mx.remote1.test,10",
        "--host-record=mx.remote1.test,127.0.0.2",
        "--mx-host=remote2.test,mx.remote2.test,10",
        "--host-record=mx.remote2.test,127.0.0.3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut tables = String::new();
    for (selector, algorithm) in [("ed2026", "ed25519"), ("rsa2026", "rsa")] {
        let out = server.cli(
            &[
                "dkim",
                "generate",
                "example.com",
                selector,
                "--algorithm",
                algorithm,
            ],
            None,
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{out:?}");
        let (name, value) = txt_record(&text);
        assert_eq!(name, format!("{selector}._domainkey.example.com"));
        assert!(
            value.starts_with(&format!("v=DKIM1; k={algorithm}; p=")),
            "{value}"
        );
        // On dnsmasq's command line quotes are kept as part of the text, so the value goes
        // unquoted (it has no commas); dnsmasq splits it into 255-byte strings itself.
        records.push(format!("--txt-record={name},{value}"));
        tables.push_str(&text[text.find("[[dkim]]").unwrap()..]);
        let key = server
            .data_dir()
            .join(format!("dkim/{selector}._domainkey.example.com.pem"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Never over an existing key.
    let again = server.cli(&["dkim", "generate", "example.com", "ed2026"], None);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    let dns = dnsmasq_on(dns_port, &records);
    let mut config = std::fs::read_to_string(&server.config).unwrap();
    config.push_str(&tables);
    std::fs::write(&server.config, config).unwrap();
    server.reload(1);

    let signed_id = python(
        &server,
        &[
            "submit-dkim",
            ALICE.0,
            ALICE.1,
            ALICE.0,
            "carol@remote1.test",
            "sink@remote2.test",
            BOB.0,
        ],
    );
    wait_for_empty_queue(&server);
    let unsigned_id = python(
        &server,
        &[
            "submit-dkim",
            frank.0,
            frank.1,
            frank.0,
            "sink@remote2.test",
        ],
    );
    wait_for_empty_queue(&server);

    // smtp-sink's copies (its dump has LF line ends; the script restores CRLF).
    let sunk = sink.messages();
    assert_eq!(sunk.len(), 2, "{sunk:?}");
    let at_sink = sunk
        .iter()
        .find(|m| m.contains("From: Sender Name <alice@example.com>"))
        .unwrap();
    let frank_at_sink = sunk
        .iter()
        .find(|m| m.contains("From: Sender Name <frank@example.net>"))
        .unwrap();
    // The remote ringpost's copy, as carol's IMAP client reads it.
    let raw: Vec<String> = serde_json::from_str(&python(
        &remote,
        &["raw", "carol@remote1.test", "remote-pass-1"],
    ))
    .unwrap();
    assert_eq!(raw.len(), 1);
    use base64::Engine as _;
    let at_carol = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&raw[0])
            .unwrap(),
    )
    .unwrap();

    // And one changed on the way, which must not verify (a change relaxed canonicalization
    // would not see, such as the number of spaces, would still verify).
    let tampered = at_sink.replace("Hello  from", "Hullo  from");
    let verdicts = dkim_verify(
        &dns,
        &[
            at_sink.as_bytes(),
            at_carol.as_bytes(),
            frank_at_sink.as_bytes(),
            tampered.as_bytes(),
        ],
    );
    let both = serde_json::json!([
        {"d": "example.com", "s": "ed2026", "a": "ed25519-sha256", "ok": true},
        {"d": "example.com", "s": "rsa2026", "a": "rsa-sha256", "ok": true},
    ]);
    assert_eq!(verdicts[0], both, "smtp-sink's copy:\n{at_sink}");
    assert_eq!(verdicts[1], both, "carol's copy:\n{at_carol}");
    assert_eq!(verdicts[2], serde_json::json!([]), "{frank_at_sink}");
    assert!(
        verdicts[3]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["ok"] == false),
        "{verdicts:?}"
    );
    assert_eq!(verdicts[3].as_array().unwrap().len(), 2);

    // Signed once: the same two fields in both copies.
    let fields = signature_fields(at_carol.as_str());
    assert_eq!(fields.len(), 2);
    assert_eq!(signature_fields(at_sink.as_str()), fields);
    // First in what we sent: below the remote ringpost's own trace fields, above ours.
    // (Queue ids come from the clock: the remote ringpost's may be the same; ours is the
    // authenticated one.)
    let ours = at_carol
        .find(&format!("with ESMTPSA id {signed_id}"))
        .unwrap();
    let first_signature = at_carol.find("DKIM-Signature:").unwrap();
    assert!(first_signature < ours, "{at_carol}");
    assert_eq!(
        at_carol[..first_signature].matches("Received:").count(),
        1,
        "{at_carol}"
    );
    let ours = at_sink
        .find(&format!("with ESMTPSA id {signed_id}"))
        .unwrap();
    assert!(at_sink.find("DKIM-Signature:").unwrap() < ours, "{at_sink}");

    // Bob's copy stayed local: not signed.
    let bob: Vec<String> = serde_json::from_str(&python(&server, &["raw", BOB.0, BOB.1])).unwrap();
    assert_eq!(bob.len(), 1);
    let bob = base64::engine::general_purpose::STANDARD
        .decode(&bob[0])
        .unwrap();
    assert!(!String::from_utf8_lossy(&bob).contains("DKIM-Signature"));

    // The delivery log says which keys signed.
    assert!(server.terminate().success());
    let log = server.log();
    let line = |id: &str| {
        log.lines()
            .find(|l| l.contains(id) && l.contains("ringpost::delivery") && l.contains(" dkim="))
            .unwrap_or_else(|| panic!("no delivery line for {id}:\n{log}"))
            .to_string()
    };
    assert!(
        line(&signed_id)
            .contains("dkim=\"ed2026._domainkey.example.com,rsa2026._domainkey.example.com\""),
        "{log}"
    );
    assert!(line(&unsigned_id).contains("dkim=\"\""), "{log}");
}

/// An address literal (`user@[192.0.2.1]`, RFC 5321 §4.1.3) goes to that address, with no
/// DNS lookup.
#[test]
fn an_address_literal_goes_to_that_address() {
    if !have_all() {
        return;
    }
    let mx_port = support::free_ports(1)[0];
    let dns = dnsmasq(&[]);
    let sink = Sink::start(SocketAddr::from(([127, 0, 0, 13], mx_port)), &[]);
    let server = Server::start(Options {
        extra: outbound_config(&dns, mx_port),
        log: "info",
        ..Options::default()
    });
    python(
        &server,
        &["submit", ALICE.0, ALICE.1, ALICE.0, "lit@[127.0.0.13]"],
    );
    wait_for_empty_queue(&server);
    let received = sink.messages();
    assert_eq!(received.len(), 1);
    assert!(
        received[0].contains("X-Rcpt-Args: <lit@[127.0.0.13]>"),
        "{}",
        received[0]
    );
}

/// A host that keeps deferring: the sender gets one delay notice once the message is
/// `delay_warning_hours` old, and once it is `max_queue_days` old it is given up and
/// reported failed (4.4.7) with the last reason; the queue empties. (Fractions of hours and
/// days make that seconds here.)
#[test]
fn a_message_that_cannot_go_brings_one_delay_notice_then_expires() {
    if !have_all() {
        return;
    }
    let mx_port = support::free_ports(1)[0];
    let mx = SocketAddr::from(([127, 0, 0, 14], mx_port));
    let dns = dnsmasq(&[
        "--mx-host=slow.test,mx.slow.test,10".to_string(),
        "--host-record=mx.slow.test,127.0.0.14".to_string(),
    ]);
    let _deferring = Sink::start(mx, &["-r", "RCPT"]);
    let server = Server::start(Options {
        // A delay notice after 1.8 s, expiry after 6.9 s.
        extra: format!(
            "{}delay_warning_hours = 0.0005\nmax_queue_days = 0.00008\n",
            outbound_config(&dns, mx_port)
        ),
        log: "info",
        ..Options::default()
    });
    python(
        &server,
        &["submit", ALICE.0, ALICE.1, ALICE.0, "s@slow.test"],
    );
    wait_for_empty_queue(&server);
    let reports: serde_json::Value =
        serde_json::from_str(&python(&server, &["reports", ALICE.0, ALICE.1])).unwrap();
    let reports = reports.as_array().unwrap();
    let kinds: Vec<(&str, &str)> = reports
        .iter()
        .map(|r| {
            (
                r["actions"][0].as_str().unwrap(),
                r["statuses"][0].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds.len(), 2, "{reports:?}");
    assert!(
        kinds[0].0 == "delayed" && kinds[0].1.starts_with("4."),
        "{kinds:?}"
    );
    assert_eq!(kinds[1], ("failed", "4.4.7"), "{reports:?}");
    assert_eq!(reports[0]["subject"], "Delayed Mail (still being retried)");
    assert_eq!(reports[1]["recipients"], serde_json::json!(["s@slow.test"]));
    assert!(
        server.log().contains("delay notice sent"),
        "{}",
        server.log()
    );
}

/// Regression: with more messages due than the per-destination limit lets start, the runner
/// spun (a zero wait for messages it could not start), starving the shard's IO: the
/// attempts in flight never finished and the server hung. Five messages to a host that takes
/// a second per message, one connection at a time: all arrive, one after the other.
#[test]
fn messages_held_back_by_the_connection_limit_wait_without_spinning() {
    if !have_all() {
        return;
    }
    let mx_port = support::free_ports(1)[0];
    let mx = SocketAddr::from(([127, 0, 0, 15], mx_port));
    let dns = dnsmasq(&[
        "--mx-host=one.test,mx.one.test,10".to_string(),
        "--host-record=mx.one.test,127.0.0.15".to_string(),
    ]);
    let sink = Sink::start(mx, &["-w", "1"]);
    let server = Server::start(Options {
        extra: format!(
            "{}max_connections_per_destination = 1\n",
            outbound_config(&dns, mx_port)
        ),
        shards: 1,
        log: "info",
        ..Options::default()
    });
    for _ in 0..5 {
        python(
            &server,
            &["submit", ALICE.0, ALICE.1, ALICE.0, "x@one.test"],
        );
    }
    wait_for_empty_queue(&server);
    assert_eq!(sink.messages().len(), 5);
}

/// The remote's count of SMTP connections accepted since it started (`ringpost stats`; the
/// test harness's own check that the listener is up counts too).
fn smtp_connections(server: &Server) -> u64 {
    let out = server.cli(&["stats"], None);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("ringpost_connections_total{protocol=\"smtp\"} "))
        .unwrap_or_else(|| panic!("no SMTP connection count in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Messages to one host ride one connection, kept open between them for
/// `connection_cache_secs` (Postfix's connection cache), and a cached connection the host
/// has closed meanwhile (its idle timeout: a 421, then EOF) is replaced without a deferral.
#[test]
fn messages_to_one_host_share_a_connection_and_a_closed_one_is_replaced() {
    if !have_all() {
        return;
    }
    let mx_port = support::free_ports(1)[0];
    let mx = SocketAddr::from(([127, 0, 0, 16], mx_port));
    let dns = dnsmasq(&[
        "--mx-host=reuse.test,mx.reuse.test,10".to_string(),
        "--host-record=mx.reuse.test,127.0.0.16".to_string(),
    ]);
    let remote = Server::start(Options {
        domains: vec!["example.com", "reuse.test"],
        addresses: vec![("smtp", mx)],
        extra: "[timeouts]\nsmtp_idle_secs = 5\n".into(),
        ..Options::default()
    });
    let out = remote.cli(&["user", "add", "rita@reuse.test"], Some("remote-pass-1"));
    assert!(out.status.success(), "{out:?}");
    let server = Server::start(Options {
        extra: format!(
            "{}max_connections_per_destination = 1\nconnection_cache_secs = 60\n",
            outbound_config(&dns, mx_port)
        ),
        shards: 1,
        log: "info",
        ..Options::default()
    });
    let before = smtp_connections(&remote);
    for _ in 0..4 {
        python(
            &server,
            &["submit", ALICE.0, ALICE.1, ALICE.0, "rita@reuse.test"],
        );
    }
    wait_for_empty_queue(&server);
    assert_eq!(smtp_connections(&remote), before + 1, "{}", server.log());
    // The remote ends the idle connection after 5 s; the next message needs a new one.
    std::thread::sleep(Duration::from_secs(6));
    python(
        &server,
        &["submit", ALICE.0, ALICE.1, ALICE.0, "rita@reuse.test"],
    );
    wait_for_empty_queue(&server);
    assert_eq!(smtp_connections(&remote), before + 2, "{}", server.log());
    let log = server.log();
    assert_eq!(log.matches("result=\"delivered\"").count(), 5, "{log}");
    assert!(!log.contains("result=\"deferred\""), "{log}");
    let subjects = remote.python(
        "outbound.py",
        &["subjects", "rita@reuse.test", "remote-pass-1"],
    );
    let subjects: Vec<String> = serde_json::from_str(subjects.trim()).unwrap();
    assert_eq!(subjects.len(), 5, "{subjects:?}");
}

/// With `connection_cache_secs = 0` every message gets a connection of its own.
#[test]
fn without_the_connection_cache_each_message_gets_its_own_connection() {
    if !have_all() {
        return;
    }
    let mx_port = support::free_ports(1)[0];
    let mx = SocketAddr::from(([127, 0, 0, 17], mx_port));
    let dns = dnsmasq(&[
        "--mx-host=fresh.test,mx.fresh.test,10".to_string(),
        "--host-record=mx.fresh.test,127.0.0.17".to_string(),
    ]);
    let remote = Server::start(Options {
        domains: vec!["example.com", "fresh.test"],
        addresses: vec![("smtp", mx)],
        ..Options::default()
    });
    let out = remote.cli(&["user", "add", "fred@fresh.test"], Some("remote-pass-1"));
    assert!(out.status.success(), "{out:?}");
    let server = Server::start(Options {
        extra: format!(
            "{}connection_cache_secs = 0\n",
            outbound_config(&dns, mx_port)
        ),
        shards: 1,
        ..Options::default()
    });
    let before = smtp_connections(&remote);
    for _ in 0..3 {
        python(
            &server,
            &["submit", ALICE.0, ALICE.1, ALICE.0, "fred@fresh.test"],
        );
    }
    wait_for_empty_queue(&server);
    assert_eq!(smtp_connections(&remote), before + 3);
}

/// MTA-STS (RFC 8461) against a real DNS server and a real HTTPS policy server:
/// - `enforce.test` (enforce, mx: mx.sts.test) has a preferred MX without TLS: the mail
///   skips it and goes to mx.sts.test over TLS verified for that name;
/// - `nomatch.test` (enforce) has only an MX the policy does not name: the mail waits
///   (4.7.5), nothing goes out;
/// - `testing.test` (testing) has only such an MX: the mail goes there, and the log says
///   enforcing would have refused it;
///
/// The policies are kept in data_dir/mta-sts/ and fetched once.
#[test]
fn mta_sts_policies_decide_where_and_how_mail_goes() {
    if !have_all() {
        return;
    }
    let [mx_port, https_port] = support::free_ports(2)[..] else {
        unreachable!()
    };
    let at = |last: u8, port: u16| SocketAddr::from(([127, 0, 0, last], port));
    let mut records = vec![
        "--mx-host=enforce.test,plain.enforce.test,5".to_string(),
        "--mx-host=enforce.test,mx.sts.test,10".to_string(),
        "--host-record=plain.enforce.test,127.0.0.22".to_string(),
        "--host-record=mx.sts.test,127.0.0.21".to_string(),
        "--mx-host=nomatch.test,plain.nomatch.test,10".to_string(),
        "--host-record=plain.nomatch.test,127.0.0.22".to_string(),
        "--mx-host=testing.test,plain.testing.test,10".to_string(),
        "--host-record=plain.testing.test,127.0.0.22".to_string(),
    ];
    for domain in ["enforce.test", "nomatch.test", "testing.test"] {
        records.push(format!(
            "--txt-record=_mta-sts.{domain},v=STSv1; id=20261205T1"
        ));
        records.push(format!("--host-record=mta-sts.{domain},127.0.0.23"));
    }
    let dns = dnsmasq(&records);
    // One certificate for the secure MX and the policy hosts; the sender trusts it.
    let certs = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec![
        "mx.sts.test".to_string(),
        "mta-sts.enforce.test".to_string(),
        "mta-sts.nomatch.test".to_string(),
        "mta-sts.testing.test".to_string(),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
    ])
    .unwrap();
    let (cert, key) = (certs.path().join("c.pem"), certs.path().join("c.key"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(certs.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let policy = |name: &str, mode: &str| {
        let file = certs.path().join(name);
        std::fs::write(
            &file,
            format!("version: STSv1\r\nmode: {mode}\r\nmx: mx.sts.test\r\nmax_age: 86400\r\n"),
        )
        .unwrap();
        file
    };
    let policies = DocumentServer::start(
        at(23, https_port),
        &cert,
        &key,
        &[
            ("mta-sts.enforce.test", policy("enforce", "enforce")),
            ("mta-sts.nomatch.test", policy("nomatch", "enforce")),
            ("mta-sts.testing.test", policy("testing", "testing")),
        ],
    );
    let secure = Server::start(Options {
        domains: vec!["example.com", "enforce.test"],
        addresses: vec![("smtp", at(21, mx_port))],
        extra: format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            cert.display(),
            key.display()
        ),
        ..Options::default()
    });
    let out = secure.cli(&["user", "add", "e@enforce.test"], Some("remote-pass-1"));
    assert!(out.status.success(), "{out:?}");
    let plain = Sink::start(at(22, mx_port), &[]);
    let mut server = Server::start(Options {
        extra: format!(
            "{}ca_file = \"{}\"\nmta_sts_port = {https_port}\n",
            outbound_config(&dns, mx_port),
            cert.display()
        ),
        shards: 1,
        log: "info",
        ..Options::default()
    });
    python(
        &server,
        &["submit", ALICE.0, ALICE.1, ALICE.0, "e@enforce.test"],
    );
    let waiting = python(
        &server,
        &["submit", ALICE.0, ALICE.1, ALICE.0, "n@nomatch.test"],
    );
    python(
        &server,
        &["submit", ALICE.0, ALICE.1, ALICE.0, "t@testing.test"],
    );
    // enforce.test: at the secure MX, not at the preferred one without TLS.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = server.log();
        let done = ["e@enforce.test", "t@testing.test"].iter().all(|r| {
            log.lines()
                .any(|l| l.contains(&format!("to={r}")) && l.contains("result=\"delivered\""))
        }) && log.contains("to=n@nomatch.test");
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let subjects = secure.python_with_ca(
        "outbound.py",
        cert.to_str().unwrap(),
        &["subjects", "e@enforce.test", "remote-pass-1"],
    );
    assert_eq!(subjects.trim(), "[\"outbound test\"]");
    let log = server.log();
    let line = |to: &str| {
        log.lines()
            .find(|l| l.contains("delivery attempt") && l.contains(&format!("to={to}")))
            .unwrap_or_else(|| panic!("no attempt for {to}:\n{log}"))
            .to_string()
    };
    assert!(line("e@enforce.test").contains("relay=\"mx.sts.test [127.0.0.21]\""));
    assert!(line("e@enforce.test").contains("tls=\"TLSv1_3\""));
    // nomatch.test: deferred by the policy, never sent.
    let n = line("n@nomatch.test");
    assert!(
        n.contains("result=\"deferred\"") && n.contains("4.7.5"),
        "{n}"
    );
    assert!(
        n.contains("permits none of the MX hosts plain.nomatch.test"),
        "{n}"
    );
    // `queue show` says why it waits.
    let shown = server.cli(&["queue", "show", &waiting], None);
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(
        shown.contains("\nAttempts: ") && shown.contains("\nNext attempt: "),
        "{shown}"
    );
    assert!(
        shown.contains("\nDeferred: <n@nomatch.test>: 451 4.7.5 MTA-STS policy (enforce)"),
        "{shown}"
    );
    assert!(
        shown.contains("\n\nReturn-Path: <alice@example.com>\n"),
        "{shown}"
    );
    // testing.test: delivered to the MX the policy does not name, and reported.
    assert!(line("t@testing.test").contains("relay=\"plain.testing.test [127.0.0.22]\""));
    assert!(
        log.contains("MTA-STS policy (testing): MX host plain.testing.test is not permitted"),
        "{log}"
    );
    let sunk = plain.messages();
    assert_eq!(sunk.len(), 1, "{sunk:?}");
    assert!(sunk[0].contains("t@testing.test"), "{sunk:?}");
    // Each policy fetched once, and kept on disk.
    let requests = policies.requests();
    for domain in ["enforce.test", "nomatch.test", "testing.test"] {
        let host = format!("GET mta-sts.{domain} /.well-known/mta-sts.txt 200");
        assert_eq!(
            requests.iter().filter(|r| **r == host).count(),
            1,
            "{requests:?}"
        );
        let kept = std::fs::read_to_string(server.data_dir().join("mta-sts").join(domain)).unwrap();
        assert!(
            kept.contains("id: 20261205T1\n") && kept.contains("mx: mx.sts.test\n"),
            "{kept}"
        );
    } // After a restart, with the policy server gone, the kept policy still applies: the
      // waiting message is deferred for the same reason, and nothing is fetched.
    drop(policies);
    assert!(server.terminate().success());
    server.spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = server.log();
        let again = log.lines().any(|l| {
            l.contains("to=n@nomatch.test")
                && l.contains("result=\"deferred\"")
                && l.contains("4.7.5")
        });
        if again {
            assert!(!log.contains("MTA-STS policy fetch"), "{log}");
            break;
        }
        assert!(Instant::now() < deadline, "{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
