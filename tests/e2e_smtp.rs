//! End to end: SMTP delivery into the store with real clients (smtplib, curl), checked byte
//! for byte in the recipients' INBOXes after the server stops; and kill -9 durability.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use support::{mailbox_messages, strip_our_received, Options, Server, ALICE, BOB};

const LIMIT: usize = 100_000;

fn options() -> Options {
    Options {
        extra: format!("[auth]\nfailure_delay_ms = 50\n[limits]\nmax_message_size = {LIMIT}\n"),
        ..Options::default()
    }
}

fn curl_send(
    server: &Server,
    url: &str,
    extra: &[&str],
    from: &str,
    to: &str,
    file: &std::path::Path,
) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20", "--cacert"])
        .arg(server.cafile())
        .args(extra)
        .args(["--mail-from", from, "--mail-rcpt", to, "--upload-file"])
        .arg(file)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mail_sent_by_real_clients_lands_byte_identical_in_the_inboxes() {
    if !support::have("curl", "curl") {
        return;
    }
    let mut server = Server::start(options());
    let json = server.dir.path().join("expected.json");
    let out = server.python(
        "smtp_delivery.py",
        &[json.to_str().unwrap(), &LIMIT.to_string()],
    );
    assert!(out.contains("smtp delivery passed"), "{out}");
    let expected: BTreeMap<String, Vec<String>> =
        serde_json_lite(&std::fs::read_to_string(&json).unwrap());

    // curl: implicit TLS submission and STARTTLS submission.
    let msg = server.dir.path().join("curl.eml");
    let curl_msg =
        b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: curl\r\n\r\nSent by curl.\r\n";
    std::fs::write(&msg, curl_msg).unwrap();
    let auth = format!("{}:{}", ALICE.0, ALICE.1);
    curl_send(
        &server,
        &format!("smtps://localhost:{}", server.port("smtps")),
        &["-u", &auth],
        ALICE.0,
        BOB.0,
        &msg,
    );
    curl_send(
        &server,
        &format!("smtp://localhost:{}", server.port("submission")),
        &["--ssl-reqd", "-u", &auth],
        ALICE.0,
        BOB.0,
        &msg,
    );
    curl_send(
        &server,
        &format!("smtp://localhost:{}", server.port("smtp")),
        &[],
        "x@remote.example",
        ALICE.0,
        &msg,
    );

    let status = server.terminate();
    assert!(status.success());
    for (account, extra_curl) in [(ALICE.0, 1), (BOB.0, 2)] {
        let mut want: Vec<Vec<u8>> = expected[account]
            .iter()
            .map(|b| base64::engine::general_purpose::STANDARD.decode(b).unwrap())
            .collect();
        want.extend(std::iter::repeat_n(curl_msg.to_vec(), extra_curl));
        let got = mailbox_messages(&server.data_dir(), 2, account, "INBOX");
        let mut got: Vec<Vec<u8>> = got.iter().map(|m| strip_our_received(m).to_vec()).collect();
        want.sort();
        got.sort();
        assert_eq!(got.len(), want.len(), "{account}: message count");
        for (g, w) in got.iter().zip(&want) {
            assert!(
                g == w,
                "{account}: stored\n{}\nsent\n{}",
                String::from_utf8_lossy(g),
                String::from_utf8_lossy(w)
            );
        }
    }
}

/// A minimal parser for the `{"account": ["b64", ...], ...}` file the script writes.
fn serde_json_lite(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut map = BTreeMap::new();
    let mut rest = text.trim().trim_start_matches('{').trim_end_matches('}');
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let end = after.find('"').unwrap();
        let key = after[..end].to_string();
        let open = after.find('[').unwrap();
        let close = after.find(']').unwrap();
        let values = after[open + 1..close]
            .split(',')
            .map(|v| v.trim().trim_matches('"').to_string())
            .filter(|v| !v.is_empty())
            .collect();
        map.insert(key, values);
        rest = &after[close + 1..];
    }
    map
}

#[test]
fn every_message_that_got_250_survives_kill_9() {
    let mut server = Server::start(options());
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/smtp_flood.py");
    let mut flood = Command::new("python3")
        .arg(script)
        .arg(server.port("smtp").to_string())
        .arg(ALICE.0)
        .arg("8") // concurrent sessions
        .arg("20") // seconds at most
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = flood.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    // Let acknowledged mail pile up, then kill the server mid-stream.
    std::thread::sleep(Duration::from_millis(1500));
    let mut child = server.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while flood.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "flood client did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let acked: Vec<String> = reader
        .join()
        .unwrap()
        .into_iter()
        .filter_map(|l| l.strip_prefix("ACK ").map(str::to_string))
        .collect();
    assert!(
        acked.len() >= 5,
        "too few messages were acknowledged before the kill: {}",
        acked.len()
    );
    let stored = mailbox_messages(&server.data_dir(), 2, ALICE.0, "INBOX");
    let stored_ids: std::collections::HashSet<String> = stored
        .iter()
        .filter_map(|m| {
            let text = String::from_utf8_lossy(m);
            text.lines()
                .find_map(|l| l.strip_prefix("Message-ID: ").map(str::to_string))
        })
        .collect();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !stored_ids.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged messages lost: {missing:?}",
        missing.len(),
        acked.len()
    );
    // And the server starts again on the recovered store.
    server.spawn();
}

#[test]
fn submission_to_other_domains_lands_in_the_outbound_queue() {
    if !support::have("curl", "curl") {
        return;
    }
    let mut server = Server::start(options());
    let msg = server.dir.path().join("out.eml");
    let body = b"From: alice@example.com\r\nTo: friend@elsewhere.org\r\nSubject: out\r\n\r\nTo the world.\r\n";
    std::fs::write(&msg, body).unwrap();
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20", "--cacert"])
        .arg(server.cafile())
        .args(["-u", &format!("{}:{}", ALICE.0, ALICE.1)])
        .args([
            "--mail-from",
            ALICE.0,
            "--mail-rcpt",
            "friend@elsewhere.org",
            "--mail-rcpt",
            "other@else.net",
        ])
        .args(["--mail-rcpt", BOB.0, "--upload-file"])
        .arg(&msg)
        .arg(format!("smtps://localhost:{}", server.port("smtps")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // While the server runs, it answers over its control socket; stopped, the store is read:
    // the same listing either way.
    let live = server.cli(&["queue", "list"], None);
    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    assert!(server.terminate().success());

    let listed = server.cli(&["queue", "list"], None);
    assert_eq!(listed.stdout, live.stdout);
    let text = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(
        listed.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(text.ends_with("1 queued\n"), "{text}");
    assert!(
        text.contains("<alice@example.com>  <friend@elsewhere.org> <other@else.net>"),
        "{text}"
    );
    // The local recipient got its copy in the same transaction.
    let bob = mailbox_messages(&server.data_dir(), 2, BOB.0, "INBOX");
    assert_eq!(bob.len(), 1);
    assert_eq!(strip_our_received(&bob[0]), body);
}

#[test]
fn swaks_submits_over_starttls_and_smtps_and_delivers_inbound() {
    if !support::have("swaks", "swaks") {
        return;
    }
    let mut server = Server::start(options());
    let swaks = |args: &[&str]| {
        let out = Command::new("swaks")
            .args(["--server", "127.0.0.1", "--timeout", "20", "--tls-ca-path"])
            .arg(server.cafile())
            .args(args)
            .output()
            .expect("swaks is required for the interop tests");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "swaks {args:?}:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let submission = server.port("submission").to_string();
    let smtps = server.port("smtps").to_string();
    let inbound = server.port("smtp").to_string();
    let auth = [
        "--auth",
        "PLAIN",
        "--auth-user",
        ALICE.0,
        "--auth-password",
        ALICE.1,
    ];
    let mut args = vec![
        "--port",
        &submission,
        "--tls",
        "--from",
        ALICE.0,
        "--to",
        BOB.0,
        "--header",
        "Subject: swaks starttls",
    ];
    args.extend_from_slice(&auth);
    let text = swaks(&args);
    assert!(text.contains("250 2.0.0 Ok: queued as"), "{text}");
    let mut args = vec![
        "--port",
        &smtps,
        "--tlsc",
        "--from",
        ALICE.0,
        "--to",
        BOB.0,
        "--header",
        "Subject: swaks smtps",
    ];
    args.extend_from_slice(&auth);
    swaks(&args);
    swaks(&[
        "--port",
        &inbound,
        "--from",
        "x@remote.example",
        "--to",
        BOB.0,
        "--header",
        "Subject: swaks inbound",
    ]);
    assert!(server.terminate().success());
    let bob = mailbox_messages(&server.data_dir(), 2, BOB.0, "INBOX");
    let subjects: Vec<bool> = ["swaks starttls", "swaks smtps", "swaks inbound"]
        .iter()
        .map(|s| {
            bob.iter()
                .any(|m| String::from_utf8_lossy(m).contains(&format!("Subject: {s}\r\n")))
        })
        .collect();
    assert_eq!(subjects, vec![true, true, true]);
}

/// Regression: a bare LF in DATA was refused (550) on every listener, so `curl -T` of a file
/// with LF line ends failed with "Weird server reply". By default (`[smtp] bare_lf =
/// "normalize"`) it is stored with CRLF; with `"reject"` it is refused as before.
#[test]
fn curl_uploads_an_lf_only_file_and_it_is_stored_with_crlf() {
    if !support::have("curl", "curl") {
        return;
    }
    let mut server = Server::start(options());
    let msg = server.dir.path().join("lf.eml");
    std::fs::write(
        &msg,
        b"From: x@remote.example\nTo: alice@example.com\nSubject: lf\n\nOne.\n.Two, with a dot.\n",
    )
    .unwrap();
    let auth = format!("{}:{}", ALICE.0, ALICE.1);
    curl_send(
        &server,
        &format!("smtp://localhost:{}", server.port("smtp")),
        &[],
        "x@remote.example",
        ALICE.0,
        &msg,
    );
    curl_send(
        &server,
        &format!("smtps://localhost:{}", server.port("smtps")),
        &["-u", &auth],
        ALICE.0,
        ALICE.0,
        &msg,
    );
    assert!(server.terminate().success());
    let got = mailbox_messages(&server.data_dir(), 2, ALICE.0, "INBOX");
    assert_eq!(got.len(), 2);
    // curl ends data with CRLF.CRLF, its CRLF an empty last line after the file's own LF.
    for m in &got {
        assert_eq!(
            strip_our_received(m),
            b"From: x@remote.example\r\nTo: alice@example.com\r\nSubject: lf\r\n\r\nOne.\r\n.Two, with a dot.\r\n\r\n"
        );
    }

    let mut strict = Server::start(Options {
        extra: "[auth]\nfailure_delay_ms = 50\n[smtp]\nbare_lf = \"reject\"\n".into(),
        ..Options::default()
    });
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .args(["--mail-from", "x@remote.example", "--mail-rcpt", ALICE.0])
        .arg("--upload-file")
        .arg(&msg)
        .arg(format!("smtp://localhost:{}", strict.port("smtp")))
        .output()
        .unwrap();
    // curl says "Weird server reply" to the 550 5.6.11 after the data.
    assert!(!out.status.success());
    assert!(strict.terminate().success());
    assert!(mailbox_messages(&strict.data_dir(), 2, ALICE.0, "INBOX").is_empty());
}
