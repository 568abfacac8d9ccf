//! HTTPS end to end: the real server with its HTTP listeners (HTTPS, plain HTTP, metrics),
//! driven by curl, Python's http.client and raw sockets, and the workspace by Debian's
//! chromium through Playwright.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{have, skipped, Options, Server, ALICE};

fn http_server(extra: &str) -> Server {
    Server::start(Options {
        extra: format!(
            "[auth]\nfailure_delay_ms = 50\nmax_failures = 3\n{extra}[http]\nrequest_secs = 2\nmax_body_bytes = 16384\n"
        ),
        http: true,
        ..Default::default()
    })
}

/// The venv with Playwright and prometheus_client (`.ci/run` makes it: `target/venv`).
fn venv_python() -> Option<PathBuf> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python3");
    if python.exists() {
        Some(python)
    } else {
        skipped("the browser and metrics tests need target/venv (see .ci/run)");
        None
    }
}

/// Run a client script with the venv's Python.
fn venv_script(server: &Server, python: &Path, script: &str, args: &[&str]) -> String {
    let ports = serde_json_ports(server);
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let out = Command::new(python)
        .arg(&path)
        .arg(ports)
        .arg(server.cafile())
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{script} failed:\n--- stdout\n{stdout}\n--- stderr\n{}\n--- server log\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    stdout
}

fn serde_json_ports(server: &Server) -> String {
    let fields: Vec<String> = server
        .ports
        .iter()
        .map(|(name, port)| format!("\"{name}\": {port}"))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

fn curl(server: &Server, args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(server.cafile())
        .args(["--resolve"])
        .arg(format!("localhost:{}:127.0.0.1", server.port("https")))
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn http_wire_behaviour_with_raw_sockets() {
    let server = http_server("");
    server.python("http_checks.py", &["wire"]);
    // The server is still up and answering after every refusal.
    server.python("http_checks.py", &["discovery"]);
}

#[test]
fn curl_keeps_the_connection_alive_and_uploads_chunked() {
    if !have("curl", "curl") {
        return;
    }
    let server = http_server("");
    let base = format!("https://localhost:{}", server.port("https"));
    // Two requests, one connection, ALPN http/1.1.
    let (out, err) = curl(
        &server,
        &[
            "-v",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            &format!("{base}/style.css"),
            &format!("{base}/signin"),
        ],
    );
    assert!(err.contains("ALPN: server accepted http/1.1"), "{err}");
    assert!(
        err.contains("Re-using existing connection")
            || err.contains("Reusing existing")
            || err.matches("Connected to").count() == 1,
        "{err}"
    );
    assert!(out.is_empty(), "{out}");
    // A chunked upload (curl sends Transfer-Encoding: chunked when told so).
    let request = "<?xml version=\"1.0\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>bob@example.com</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>";
    let (out, err) = curl(
        &server,
        &[
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "Content-Type: text/xml",
            "--data-binary",
            request,
            &format!("{base}/autodiscover/autodiscover.xml"),
        ],
    );
    assert!(
        out.contains("<LoginName>bob@example.com</LoginName>"),
        "{out}{err}"
    );
    // A body past [http] max_body_bytes is refused before it is read.
    let big = "x".repeat(20_000);
    let (out, _) = curl(
        &server,
        &[
            "-w",
            "%{http_code}",
            "-o",
            "/dev/null",
            "--data-binary",
            &big,
            &format!("{base}/autodiscover/autodiscover.xml"),
        ],
    );
    assert_eq!(out, "413");
    // Plain HTTP: a redirect to HTTPS, never a page.
    let (out, _) = curl(
        &server,
        &[
            "-w",
            "%{http_code} %{redirect_url}",
            "-o",
            "/dev/null",
            &format!("http://127.0.0.1:{}/signin", server.port("http")),
        ],
    );
    assert_eq!(
        out,
        format!("301 https://localhost:{}/signin", server.port("https"))
    );
}

#[test]
fn the_workspace_in_a_real_browser() {
    if !have("chromium", "chromium") {
        return;
    }
    let Some(python) = venv_python() else { return };
    let server = http_server("protocol_password = \"separate\"\n");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    venv_script(
        &server,
        &python,
        "workspace.py",
        &["browser", shots.to_str().unwrap()],
    );
    // The password never reached a log line; the sign-in did.
    let log = server.log();
    assert!(!log.contains(ALICE.1), "a password in the log");
    assert!(
        !log.contains("Protokoll-Passwort-42"),
        "a password in the log"
    );
    assert!(log.contains("protocol password set"), "{log}");
}

#[test]
fn workspace_forms_cookies_and_csrf() {
    let server = http_server("protocol_password = \"separate\"\n");
    server.python("workspace.py", &["forms"]);
}

#[test]
fn dav_discovery_and_objects_at_sogos_urls() {
    // On by default; said here so the test does not depend on the default.
    let server = Server::start(Options {
        extra: "[auth]\nfailure_delay_ms = 50\n[http]\ndav = true\ndav_max_resource_bytes = 4096\n"
            .into(),
        http: true,
        ..Default::default()
    });
    server.python("dav.py", &["discovery"]);
    server.python("dav.py", &["objects"]);
    if let Some(python) = venv_python() {
        venv_script(&server, &python, "dav.py", &["caldav"]);
    }
}

/// Exact bytes for the discovery sequences (generic, DAVx5, Apple Calendar and Contacts,
/// Thunderbird), objects and every REPORT type: tests/transcripts/dav/, replayed in order on
/// one fresh server (RINGPOST_BLESS=1 rewrites the expected answers).
#[test]
fn dav_transcripts_byte_for_byte() {
    let server = Server::start(Options {
        extra: "[auth]\nfailure_delay_ms = 50\n[http]\ndav = true\n".into(),
        http: true,
        ..Default::default()
    });
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts/dav");
    server.python("dav_transcripts.py", &[dir.to_str().unwrap()]);
}

#[test]
fn vdirsyncer_syncs_both_ways_and_khal_and_khard_read_it() {
    let Some(python) = venv_python() else { return };
    let server = Server::start(Options {
        extra: "[auth]\nfailure_delay_ms = 50\n[http]\ndav = true\n".into(),
        http: true,
        ..Default::default()
    });
    venv_script(&server, &python, "dav_sync.py", &[]);
}

/// litmus (the WebDAV test suite, from Debian) at the calendar home: its `http` group, and
/// the parts of `basic` that apply to CalDAV collections. The rest of `basic` PUTs arbitrary
/// bytes into a calendar (refused: only iCalendar goes in, RFC 4791 §4.1) or makes a
/// collection inside one (refused: RFC 4791 §4.2); those must fail with 403 and nothing
/// else.
#[test]
fn litmus_http_and_the_basic_tests_that_apply_to_calendars() {
    if !have("litmus", "litmus") {
        return;
    }
    let server = Server::start(Options {
        extra: "[auth]\nfailure_delay_ms = 50\n[http]\ndav = true\n".into(),
        http: true,
        ..Default::default()
    });
    let url = format!(
        "https://localhost:{}/SOGo/dav/alice@example.com/Calendar/",
        server.port("https")
    );
    let out = Command::new("litmus")
        .args(["-k", &url, ALICE.0, ALICE.1])
        .env("TESTS", "http basic")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // "NN. name.... result" lines: what follows the dots is the outcome; after a WARNING
    // it is on the next line ("    ...... pass (with 1 warning)").
    let lines: Vec<&str> = text.lines().collect();
    let outcome = |test: &str| -> String {
        let at = lines
            .iter()
            .rposition(|l| l.contains(&format!(". {test}.")))
            .unwrap_or_else(|| panic!("litmus did not run {test}:\n{text}"));
        let (_, rest) = lines[at]
            .rsplit_once(&format!(". {test}"))
            .unwrap_or_default();
        let rest = rest.trim_start_matches('.').trim();
        if rest.starts_with("WARNING") {
            let next = lines.get(at + 1).copied().unwrap_or_default();
            next.trim().trim_start_matches('.').trim().to_string()
        } else {
            rest.to_string()
        }
    };
    for test in [
        "init",
        "begin",
        "options",
        "put_no_parent",
        "delete_null",
        "mkcol_no_parent",
        "mkcol_with_body",
        "finish",
    ] {
        let got = outcome(test);
        assert!(got.starts_with("pass"), "{test}: {got}\n{text}");
    }
    for test in ["put_get", "put_get_utf8_segment", "mkcol"] {
        let got = outcome(test);
        assert!(
            got.starts_with("FAIL") && got.contains("403"),
            "{test} should be refused with 403 in a calendar: {got}\n{text}"
        );
    }
    // It needs a collection inside the calendar first (the refused MKCOL).
    assert_eq!(
        outcome("delete_fragment"),
        "FAIL (could not create collection)"
    );
    assert!(
        text.contains("<- summary for `http': of 3 tests run: 3 passed, 0 failed."),
        "{text}"
    );
}

/// The discovery walk DAVx5, Apple Calendar/Contacts and Thunderbird make from a bare host
/// name, by curl: PROPFIND on the well-known URL (following its redirect, as they do), the
/// principal's home sets, the homes with Depth 1. The exact bytes of each answer, with the
/// property lists each client sends, are in tests/transcripts/dav/.
#[test]
fn curl_walks_the_discovery_sequence() {
    if !have("curl", "curl") {
        return;
    }
    let server = Server::start(Options {
        extra: "[auth]\nfailure_delay_ms = 50\n[http]\ndav = true\n".into(),
        http: true,
        ..Default::default()
    });
    let base = format!("https://localhost:{}", server.port("https"));
    let user = format!("{}:{}", ALICE.0.to_uppercase(), ALICE.1);
    let propfind = |url: &str, depth: &str, body: &str| {
        let (out, err) = curl(
            &server,
            &[
                "-L",
                "-u",
                &user,
                "-X",
                "PROPFIND",
                "-H",
                &format!("Depth: {depth}"),
                "-H",
                "Content-Type: application/xml; charset=utf-8",
                "--data-binary",
                body,
                "-w",
                "\n%{http_code} %{num_redirects}",
                url,
            ],
        );
        assert!(err.is_empty(), "{err}");
        out
    };
    for well_known in ["caldav", "carddav"] {
        let out = propfind(
            &format!("{base}/.well-known/{well_known}"),
            "0",
            "<d:propfind xmlns:d=\"DAV:\"><d:prop><d:current-user-principal/></d:prop></d:propfind>",
        );
        assert!(out.ends_with("\n207 1"), "{out}");
        assert!(
            out.contains("<d:current-user-principal><d:href>/SOGo/dav/alice@example.com/</d:href>"),
            "{out}"
        );
    }
    let out = propfind(
        &format!("{base}/SOGo/dav/alice@example.com/"),
        "0",
        "<d:propfind xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\" xmlns:card=\"urn:ietf:params:xml:ns:carddav\"><d:prop><c:calendar-home-set/><card:addressbook-home-set/></d:prop></d:propfind>",
    );
    assert!(
        out.contains("<c:calendar-home-set><d:href>/SOGo/dav/alice@example.com/Calendar/</d:href>")
            && out.contains(
                "<card:addressbook-home-set><d:href>/SOGo/dav/alice@example.com/Contacts/</d:href>"
            ),
        "{out}"
    );
    for (home, kind) in [
        ("Calendar", "<c:calendar/>"),
        ("Contacts", "<card:addressbook/>"),
    ] {
        let out = propfind(
            &format!("{base}/SOGo/dav/alice@example.com/{home}/"),
            "1",
            "<d:propfind xmlns:d=\"DAV:\"><d:prop><d:resourcetype/><d:displayname/></d:prop></d:propfind>",
        );
        assert!(
            out.contains(&format!(
                "<d:href>/SOGo/dav/alice@example.com/{home}/personal/</d:href>"
            )) && out.contains(kind)
                && out.ends_with("\n207 0"),
            "{out}"
        );
    }
}

#[test]
fn calendars_follow_the_account_through_deletion_restore_and_purge() {
    let server = Server::start(Options {
        extra: "[auth]\nfailure_delay_ms = 50\n[http]\ndav = true\n".into(),
        http: true,
        ..Default::default()
    });
    let config = server.config.to_str().unwrap().to_string();
    server.python("dav.py", &["lifecycle", support::BIN, &config]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !server
        .log()
        .contains("purged the calendars and contacts of a deleted account")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no purge: {}",
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn dav_limits_and_hostile_bodies() {
    let server = Server::start(Options {
        extra: "[auth]\nfailure_delay_ms = 50\n[http]\ndav = true\nmax_body_bytes = 16384\n\
                dav_max_objects = 3\ndav_max_collections = 3\n"
            .into(),
        http: true,
        ..Default::default()
    });
    server.python("dav.py", &["limits"]);
}

#[test]
fn dav_off_serves_nothing_of_it() {
    // With `dav = false`, none of it is served.
    let off = Server::start(Options {
        extra: "[http]\ndav = false\n".into(),
        http: true,
        ..Default::default()
    });
    let (out, _) = curl(
        &off,
        &[
            "-w",
            "%{http_code}",
            "-o",
            "/dev/null",
            &format!("https://localhost:{}/.well-known/caldav", off.port("https")),
        ],
    );
    assert_eq!(out, "404");
}

#[test]
fn failed_sign_ins_count_with_failed_mail_logins() {
    let server = http_server("ip_max_failures = 3\n");
    server.python("workspace.py", &["throttle"]);
}

#[test]
fn metrics_count_what_the_clients_did() {
    let Some(python) = venv_python() else { return };
    let server = http_server("");
    // Two bad IMAP logins by imaplib, then a second of the load generator's imap-login.
    for _ in 0..2 {
        let out = server.python(
            "credentials.py",
            &["login", "imap", ALICE.0, "wrong-password"],
        );
        assert_eq!(out.trim(), "refused");
    }
    let target = format!("127.0.0.1:{}", server.port("imaps"));
    let cafile = server.cafile();
    let report = loadtest::run_args([
        "loadtest",
        "imap-login",
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
        "--duration",
        "1",
        "--sessions",
        "2",
        "--quiet",
    ])
    .unwrap();
    assert!(report.ops > 0 && report.failed == 0, "{report:?}");
    // A session cut off at the end of the second may have logged in without being counted.
    let (least, most) = (report.ops, report.ops + 2);
    venv_script(
        &server,
        &python,
        "http_checks.py",
        &["metrics", &least.to_string(), &most.to_string(), "2"],
    );
}
