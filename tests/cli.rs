//! The `ringpost` binary end to end: configuration checks and account management, run as an
//! operator would, against a temporary configuration and data folder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const CONFIG: &str = r#"
[server]
hostname = "mail.example.com"
data_dir = "data"
[domains]
local = ["example.com"]
[[listener]]
protocol = "imap"
address = "127.0.0.1:1143"
tls = "starttls"
[[listener]]
protocol = "smtp"
address = "127.0.0.1:2525"
tls = "none"
"#;

/// A temporary folder holding `ringpost.toml`.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(config: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ringpost.toml"), config).unwrap();
        Setup { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("ringpost.toml")
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Run `ringpost --config <file> args...` with `stdin` piped in.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        run_with(&self.config(), args, stdin)
    }
}

fn run_with(config: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringpost"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // The command may exit before reading its input (a refused address): ignore EPIPE.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn check_config_summarises_a_valid_file() {
    let setup = Setup::new(CONFIG);
    let out = setup.run(&["check-config"], "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let data = setup.data();
    assert_eq!(
        stdout(&out),
        format!(
            "configuration OK: {}\n\
             hostname:      mail.example.com\n\
             data_dir:      {}\n\
             tls:           self-signed, {}/tls/cert.pem (generated on first start)\n\
             local domains: example.com\n\
             listeners:\n\
             \x20 imap        127.0.0.1:1143         starttls\n\
             \x20 smtp        127.0.0.1:2525         no tls\n",
            setup.config().display(),
            data.display(),
            data.display()
        )
    );
    assert_eq!(stderr(&out), "");
    // Checking generates nothing.
    assert!(!data.exists());
}

#[test]
fn check_config_names_the_offending_key() {
    let setup = Setup::new(&CONFIG.replace("tls = \"starttls\"", "tls = \"none\""));
    let out = setup.run(&["check-config"], "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(err.starts_with("ringpost: "), "{err}");
    assert!(
        err.contains(": listener[0].tls: `none` is refused"),
        "{err}"
    );
}

#[test]
fn check_config_reports_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let out = run_with(&missing, &["check-config"], "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "ringpost: cannot read {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}

#[test]
fn check_config_loads_operator_tls_files() {
    let setup = Setup::new(&format!(
        "{CONFIG}\n[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n"
    ));
    let out = setup.run(&["check-config"], "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "ringpost: {}: cannot read: No such file or directory (os error 2)\n",
            setup.dir.path().join("cert.pem").display()
        )
    );
}

#[test]
fn user_add_list_passwd_del() {
    let setup = Setup::new(CONFIG);

    let out = setup.run(&["user", "add", "Alice@Example.COM"], "first secret\n");
    assert_eq!(
        stdout(&out),
        "added alice@example.com\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));

    let out = setup.run(&["user", "add", "bob@example.com"], "bobs secret\r\n");
    assert_eq!(stdout(&out), "added bob@example.com\n", "{}", stderr(&out));

    let out = setup.run(&["user", "list"], "");
    assert_eq!(stdout(&out), "alice@example.com\nbob@example.com\n");
    assert_eq!(out.status.code(), Some(0));

    let accounts = std::fs::read_to_string(setup.data().join("accounts")).unwrap();
    assert!(!accounts.contains("secret"), "{accounts}");
    let hashes: Vec<&str> = accounts
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').find(|f| f.starts_with('$')).unwrap())
        .collect();
    assert_eq!(hashes.len(), 2);
    assert!(
        hashes.iter().all(|h| h.starts_with("$argon2id$")),
        "{accounts}"
    );

    let out = setup.run(&["user", "add", "alice@example.com"], "again\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "ringpost: alice@example.com already exists\n");

    let out = setup.run(&["user", "passwd", "ALICE@example.com"], "second secret\n");
    assert_eq!(
        stdout(&out),
        "changed the password of alice@example.com\n",
        "{}",
        stderr(&out)
    );
    let changed = std::fs::read_to_string(setup.data().join("accounts")).unwrap();
    assert_ne!(changed, accounts);

    let out = setup.run(&["user", "del", "bob@example.com"], "");
    assert!(
        stdout(&out).starts_with("deleted bob@example.com (incarnation "),
        "{}",
        stdout(&out)
    );
    let out = setup.run(&["user", "list"], "");
    assert_eq!(stdout(&out), "alice@example.com\n");

    let out = setup.run(&["user", "del", "bob@example.com"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "ringpost: bob@example.com does not exist\n");

    let out = setup.run(&["user", "passwd", "carol@example.com"], "pw\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "ringpost: carol@example.com does not exist\n");
}

#[test]
fn user_errors_exit_1_with_a_clear_message() {
    let setup = Setup::new(CONFIG);
    for (args, stdin, message) in [
        (
            &["user", "add", "bob@elsewhere.net"][..],
            "pw\n",
            "ringpost: elsewhere.net is not a local domain\n",
        ),
        (
            &["user", "add", "bob"],
            "pw\n",
            "ringpost: \"bob\" is not a valid address: missing `@domain`\n",
        ),
        (
            &["user", "add", "bob@example.com"],
            "",
            "ringpost: reading the password: standard input is empty (send the password as one line)\n",
        ),
        (
            &["user", "add", "bob@example.com"],
            "\n",
            "ringpost: unacceptable password: empty\n",
        ),
        (
            &["user", "add", "bob@example.com"],
            "too-short\n",
            "ringpost: unacceptable password: shorter than 10 characters\n",
        ),
        (
            &["user", "add", "bob@example.com"],
            "Bob@Example.com\n",
            "ringpost: unacceptable password: the address itself\n",
        ),
    ] {
        let out = setup.run(args, stdin);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&out), message, "{args:?}");
        assert_eq!(stdout(&out), "", "{args:?}");
    }
    let out = setup.run(&["user", "list"], "");
    assert_eq!(stdout(&out), "");
}

#[test]
fn a_password_argument_is_a_usage_error() {
    let setup = Setup::new(CONFIG);
    let out = setup.run(&["user", "add", "bob@example.com", "hunter2"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unexpected argument 'hunter2'"),
        "{}",
        stderr(&out)
    );
    assert!(!setup.data().join("accounts").exists());
}

#[test]
fn serve_refuses_an_invalid_configuration_with_exit_2() {
    let setup = Setup::new(&CONFIG.replace(
        "[domains]\nlocal = [\"example.com\"]",
        "[domains]\nlocal = []",
    ));
    let out = setup.run(&["serve"], "");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(": domains.local: at least one local domain is required"),
        "{err}"
    );
}

#[test]
fn user_del_keeps_the_mail_for_restore_unless_purged() {
    let setup = Setup::new(CONFIG);
    setup.run(&["user", "add", "bob@example.com"], "first-password\n");
    let out = setup.run(&["user", "del", "bob@example.com"], "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = stdout(&out);
    assert!(first.contains("its mail is kept"), "{first}");
    let incarnation = first
        .split("incarnation ")
        .nth(1)
        .unwrap()
        .get(..16)
        .unwrap()
        .to_string();

    let out = setup.run(&["user", "list", "--deleted"], "");
    let listed = stdout(&out);
    assert!(
        listed.starts_with(&format!("bob@example.com {incarnation} deleted 20")),
        "{listed}"
    );
    assert!(listed.trim_end().ends_with("mail kept"), "{listed}");

    let out = setup.run(
        &["user", "restore", "bob@example.com", "--incarnation", "xyz"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not an incarnation"),
        "{}",
        stderr(&out)
    );

    let out = setup.run(&["user", "restore", "bob@example.com"], "");
    assert_eq!(
        stdout(&out),
        format!("restored bob@example.com (incarnation {incarnation})\n"),
        "{}",
        stderr(&out)
    );
    let out = setup.run(&["user", "list"], "");
    assert_eq!(stdout(&out), "bob@example.com\n");

    let out = setup.run(&["user", "del", "--purge", "bob@example.com"], "");
    assert!(
        stdout(&out).contains("the server removes its mail"),
        "{}",
        stdout(&out)
    );
    let out = setup.run(&["user", "restore", "bob@example.com"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "ringpost: bob@example.com has no deleted account whose mail was kept\n"
    );
    let out = setup.run(
        &["user", "del", "--purge", "--keep-data", "bob@example.com"],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "clap refuses both");
}

#[test]
fn without_config_here_the_system_file_is_used() {
    let dir = tempfile::tempdir().unwrap();
    if std::path::Path::new("/etc/ringpost/ringpost.toml").exists() {
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringpost"))
        .arg("check-config")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/etc/ringpost/ringpost.toml"),
        "{}",
        stderr(&out)
    );
}

/// The shipped systemd unit passes `systemd-analyze verify` without a warning (with its
/// binary path pointed at the one just built, which verify checks exists).
#[test]
fn the_systemd_unit_verifies_cleanly() {
    if !support::have("systemd-analyze", "systemd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/ringpost.service"
    ))
    .unwrap()
    .replace("/usr/local/bin/ringpost", env!("CARGO_BIN_EXE_ringpost"));
    let path = dir.path().join("ringpost.service");
    std::fs::write(&path, unit).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let complaints: Vec<&str> = std::str::from_utf8(&out.stderr)
        .unwrap()
        .lines()
        .filter(|l| l.contains("ringpost.service"))
        .collect();
    assert!(complaints.is_empty(), "{complaints:#?}");
}

/// What serve would trip over, check-config says first: an address another process listens
/// on, a data folder that cannot be written, and (a warning) a certificate that does not
/// cover the hostname.
#[test]
fn check_config_catches_what_serve_would() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let setup = Setup::new(&CONFIG.replace("127.0.0.1:1143", &format!("127.0.0.1:{port}")));
    let out = setup.run(&["check-config"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("cannot listen on 127.0.0.1:{port} (imap)")),
        "{}",
        stderr(&out)
    );
    drop(busy);

    let setup = Setup::new(&CONFIG.replace("data_dir = \"data\"", "data_dir = \"/proc/ringpost\""));
    let out = setup.run(&["check-config"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("server.data_dir"), "{}", stderr(&out));

    let setup = Setup::new(CONFIG);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["other.example.net".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(setup.dir.path().join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(setup.dir.path().join("key.pem"), key.serialize_pem()).unwrap();
    let with_tls = CONFIG.replace(
        "[domains]",
        "[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n[domains]",
    );
    std::fs::write(setup.config(), with_tls).unwrap();
    let out = setup.run(&["check-config"], "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("does not cover the hostname \"mail.example.com\""),
        "{}",
        stdout(&out)
    );
}
