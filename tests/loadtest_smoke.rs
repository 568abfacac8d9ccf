//! Smoke test of the load generator (`loadtest/`) against a ringpost started here: every
//! scenario runs for about a second and must report work done and no failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{Options, Server, ALICE};

fn run(server: &Server, scenario: &str, port: &str, tls: &str, extra: &[&str]) -> loadtest::Report {
    let target = format!("127.0.0.1:{}", server.port(port));
    let cafile = server.cafile();
    let mut args = vec![
        "loadtest",
        scenario,
        "--target",
        &target,
        "--tls",
        tls,
        "--cafile",
        cafile.to_str().unwrap(),
        "--user",
        ALICE.0,
        "--password",
        ALICE.1,
        "--rcpt",
        "bob@example.com",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    loadtest::run_args(args).unwrap_or_else(|e| panic!("{scenario}: {e}"))
}

fn assert_clean(report: &loadtest::Report) {
    assert!(
        report.ops > 0 && report.failed == 0,
        "{}: {} ok, {} failed {:?} (first: {:?})",
        report.scenario,
        report.ops,
        report.failed,
        report.failures,
        report.first_failure
    );
}

#[test]
fn supported_scenarios_run_clean_against_ringpost() {
    let server = Server::start(Options::default());
    let pid = server.child.as_ref().unwrap().id().to_string();
    let one_second = ["--duration", "1", "--sessions", "2", "--server-pid", &pid];

    // imap-login over implicit TLS and over STARTTLS.
    for (port, tls) in [("imaps", "implicit"), ("imap", "starttls")] {
        let r = run(&server, "imap-login", port, tls, &one_second);
        assert_clean(&r);
        assert!(r.latency.p50_us > 0 && r.latency.max_us >= r.latency.p99_us);
        let srv = r.server.as_ref().expect("server stats with --server-pid");
        assert!(srv.cpu_seconds > 0.0 && srv.peak_rss_kib > 0, "{srv:?}");
    }

    // tls-handshake: resumed from the shared ticket cache after the first ones, or full
    // every time with --no-resume.
    let r = run(&server, "tls-handshake", "imaps", "implicit", &one_second);
    assert_clean(&r);
    let resumed = r.by_kind.get("resumed").map_or(0, |l| l.count);
    assert!(resumed > 0 && resumed + 2 >= r.ops, "{:?}", r.by_kind);
    let mut full_only = one_second.to_vec();
    full_only.push("--no-resume");
    let r = run(&server, "tls-handshake", "imaps", "implicit", &full_only);
    assert_clean(&r);
    assert_eq!(
        r.by_kind.get("full").map(|l| l.count),
        Some(r.ops),
        "{:?}",
        r.by_kind
    );

    // imap-idle in the form ringpost serves today: logged-in sessions held without SELECT or
    // IDLE (both land with the message store), with the server's memory per session.
    let r = run(
        &server,
        "imap-idle",
        "imaps",
        "implicit",
        &[
            "--sessions",
            "20",
            "--hold",
            "1",
            "--select",
            "",
            "--no-idle",
            "--server-pid",
            &pid,
        ],
    );
    assert_clean(&r);
    assert_eq!(r.ops, 20);
    let idle = r.idle.as_ref().unwrap();
    assert_eq!(idle.idle_sessions, 20);
    assert!(idle.server_rss_after_kib > 0);

    // The JSON report (the binary's --json) carries the same figures.
    let json = r.json().unwrap();
    assert!(json.contains("\"scenario\": \"imap-idle\""), "{json}");
    assert!(json.contains("\"idle_sessions\": 20"), "{json}");
}

// Not yet served by ringpost (the message store, SELECT/FETCH/STORE/SEARCH/EXPUNGE/APPEND/IDLE,
// SMTP MAIL..DATA and POP3 STAT/RETR are being built): each runs strictly when asked for.

#[test]
fn imap_append() {
    let server = Server::start(Options::default());
    assert_clean(&run(
        &server,
        "imap-append",
        "imaps",
        "implicit",
        &["--duration", "1", "--sessions", "2"],
    ));
}

#[test]
fn imap_fetch() {
    let server = Server::start(Options::default());
    assert_clean(&run(
        &server,
        "seed",
        "imaps",
        "implicit",
        &["--count", "20", "--size", "4096"],
    ));
    assert_clean(&run(
        &server,
        "imap-fetch",
        "imaps",
        "implicit",
        &["--duration", "1", "--sessions", "2"],
    ));
}

#[test]
fn imap_mixed() {
    let server = Server::start(Options::default());
    assert_clean(&run(
        &server,
        "seed",
        "imaps",
        "implicit",
        &["--count", "20", "--size", "4096"],
    ));
    assert_clean(&run(
        &server,
        "imap-mixed",
        "imaps",
        "implicit",
        &["--duration", "1", "--sessions", "2"],
    ));
}

#[test]
fn imap_idle_selected() {
    let server = Server::start(Options::default());
    assert_clean(&run(
        &server,
        "imap-idle",
        "imaps",
        "implicit",
        &["--sessions", "10", "--hold", "1"],
    ));
}

#[test]
fn smtp_submit() {
    let server = Server::start(Options::default());
    assert_clean(&run(
        &server,
        "smtp-submit",
        "smtps",
        "implicit",
        &["--duration", "1", "--sessions", "2"],
    ));
}

#[test]
fn smtp_inbound() {
    let server = Server::start(Options::default());
    assert_clean(&run(
        &server,
        "smtp-inbound",
        "smtp",
        "starttls",
        &["--duration", "1", "--sessions", "2"],
    ));
    // MAIL, RCPT and DATA in one write, as MTAs send them (RFC 2920).
    let r = run(
        &server,
        "smtp-inbound",
        "smtp",
        "starttls",
        &["--duration", "1", "--sessions", "2", "--pipelining"],
    );
    assert_clean(&r);
    assert!(r.ops > 2, "{} messages", r.ops);
    // A refused recipient in a pipelined group: the refusal is reported, DATA's refusal is
    // read too, and the session stays in step for the next transaction.
    let target = format!("127.0.0.1:{}", server.port("smtp"));
    let cafile = server.cafile();
    let r = loadtest::run_args([
        "loadtest",
        "smtp-inbound",
        "--target",
        &target,
        "--tls",
        "starttls",
        "--cafile",
        cafile.to_str().unwrap(),
        "--rcpt",
        "nobody@example.com",
        "--pipelining",
        "--duration",
        "1",
        "--sessions",
        "1",
        "--quiet",
    ])
    .unwrap();
    assert_eq!(r.ops, 0);
    assert!(r.failed >= 2, "{:?}", r.failures);
    assert_eq!(
        r.failures.keys().collect::<Vec<_>>(),
        ["RCPT 550"],
        "{:?}",
        r.failures
    );
}

#[test]
fn pop3_retr() {
    let server = Server::start(Options::default());
    // Seed alice's INBOX over SMTP submission (IMAP APPEND is not there yet).
    let target = format!("127.0.0.1:{}", server.port("smtps"));
    let cafile = server.cafile();
    let seed = loadtest::run_args(vec![
        "loadtest",
        "seed",
        "--via",
        "smtp",
        "--target",
        &target,
        "--tls",
        "implicit",
        "--cafile",
        cafile.to_str().unwrap(),
        "--user",
        ALICE.0,
        "--password",
        ALICE.1,
        "--rcpt",
        ALICE.0,
        "--count",
        "20",
        "--size",
        "4096",
        "--quiet",
    ])
    .unwrap();
    assert_clean(&seed);
    assert_clean(&run(
        &server,
        "pop3-retr",
        "pop3s",
        "implicit",
        &["--duration", "1", "--sessions", "1"],
    ));
}
