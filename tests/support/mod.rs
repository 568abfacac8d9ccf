//! Test support: start the real `ringpost` binary on free loopback ports with its own data
//! folder and accounts, and run the real-client scripts in `tests/clients/` against it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod clients;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod dns;
pub mod etcd;
pub mod https;
pub mod netns;
pub mod pg;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_ringpost");
pub const ALICE: (&str, &str) = ("alice@example.com", "alice-pass-1");
pub const BOB: (&str, &str) = ("bob@example.com", "bob-pass-1");

/// The seven listeners of the dev config, in this order.
pub const LISTENERS: [(&str, &str, &str); 7] = [
    ("imap", "starttls", "imap"),
    ("imap", "implicit", "imaps"),
    ("pop3", "starttls", "pop3"),
    ("pop3", "implicit", "pop3s"),
    ("submission", "starttls", "submission"),
    ("submission", "implicit", "smtps"),
    ("smtp", "starttls", "smtp"),
];

pub struct Options {
    pub extra: String,
    pub shards: usize,
    /// `RINGPOST_LOG` for the server process.
    pub log: &'static str,
    /// Start the server with this soft limit on open files (its hard limit unchanged).
    pub soft_open_files: Option<u64>,
    /// More environment for the server process.
    pub env: Vec<(&'static str, String)>,
    /// More keys of the `[server]` table.
    pub server_extra: String,
    /// More keys for some listeners, by name (`("imaps", "proxy_protocol = true\n")`).
    pub listener_extra: Vec<(&'static str, String)>,
    /// Local domains (alice and bob are added in the first).
    pub domains: Vec<&'static str>,
    /// Listeners at a given address instead of 127.0.0.1 and a free port, by name
    /// (`("smtp", "127.0.0.2:2525")`: a remote MX on its own loopback address).
    pub addresses: Vec<(&'static str, std::net::SocketAddr)>,
    /// Also the HTTP listeners ([`HTTP_LISTENERS`]).
    pub http: bool,
    /// Add alice and bob before the start (false: hosts sharing one account directory,
    /// where one host adds them).
    pub add_users: bool,
    /// Every listener on this address (and a free port) instead of 127.0.0.1.
    pub bind: Option<std::net::IpAddr>,
    /// Run the server in this network namespace (`ip netns exec`), where [`Options::bind`]
    /// is one of its addresses.
    pub netns: Option<String>,
}

/// The HTTP listeners a test may ask for ([`Options::http`]).
pub const HTTP_LISTENERS: [(&str, &str, &str); 3] = [
    ("http", "implicit", "https"),
    ("http", "none", "http"),
    ("metrics", "none", "metrics"),
];

impl Default for Options {
    fn default() -> Self {
        // A short failure delay keeps the suite fast; the delay itself is tested separately.
        Options {
            extra: "[auth]\nfailure_delay_ms = 50\nmax_failures = 3\n".into(),
            shards: 2,
            log: "ringpost=debug",
            soft_open_files: None,
            env: Vec::new(),
            server_extra: String::new(),
            listener_extra: Vec::new(),
            domains: vec!["example.com"],
            addresses: Vec::new(),
            http: false,
            add_users: true,
            bind: None,
            netns: None,
        }
    }
}

pub struct Server {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub ports: std::collections::BTreeMap<&'static str, u16>,
    /// Every listener's address.
    pub listen: std::collections::BTreeMap<&'static str, SocketAddr>,
    pub child: Option<Child>,
    pub stderr: PathBuf,
    pub log_level: &'static str,
    pub soft_open_files: Option<u64>,
    pub env: Vec<(&'static str, String)>,
    /// The network namespace the server runs in ([`Options::netns`]).
    pub netns: Option<String>,
}

/// Set (by `.ci/run`) where every client must be installed: a missing one fails the test
/// instead of skipping it.
pub const REQUIRE_CLIENTS: &str = "RINGPOST_REQUIRE_CLIENTS";

/// Whether the client program `tool` (Debian package `package`) is installed. When it is not,
/// the calling test should return at once: this writes one line naming the package to the
/// terminal (past the test harness's capture), or, under [`REQUIRE_CLIENTS`], panics.
pub fn have(tool: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(dir.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    });
    if !found {
        skipped(&format!(
            "{} needs {tool}: apt-get install {package}",
            std::thread::current().name().unwrap_or("a test")
        ));
    }
    found
}

/// Report a skip on the terminal, or fail under [`REQUIRE_CLIENTS`].
pub fn skipped(why: &str) {
    assert!(
        std::env::var_os(REQUIRE_CLIENTS).is_none(),
        "{REQUIRE_CLIENTS} is set, and {why}"
    );
    // Straight to the file descriptor: the harness captures `eprintln!`.
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {why}");
}

/// Reserve `n` distinct free ports (held together so they differ, then released). A port is
/// handed out once per test process: a test that stops its server and starts it again on
/// the same ports must not find that a test running beside it took one meanwhile.
pub fn free_ports(n: usize) -> Vec<u16> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let mut held = Vec::new();
    let mut ports = Vec::with_capacity(n);
    while ports.len() < n {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            ports.push(port);
        }
        // Held until the end, so the kernel offers another port next time.
        held.push(listener);
        assert!(held.len() < 10_000, "no fresh free port left");
    }
    ports
}

impl Server {
    /// Write a config, add alice and bob, start `ringpost serve` and wait until every port
    /// accepts connections.
    pub fn start(opts: Options) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut ports: std::collections::BTreeMap<&'static str, u16> = LISTENERS
            .iter()
            .map(|l| l.2)
            .zip(free_ports(LISTENERS.len()))
            .collect();
        let domains: Vec<String> = opts.domains.iter().map(|d| format!("\"{d}\"")).collect();
        let mut text = format!(
            "[server]\nhostname = \"localhost\"\ndata_dir = \"data\"\nshards = {}\n{}[domains]\nlocal = [{}]\n{}\n",
            opts.shards,
            opts.server_extra,
            domains.join(", "),
            opts.extra
        );
        // A test that is not about sending keeps the mail it queues where it put it.
        if !opts.extra.contains("[outbound]") {
            text.push_str("[outbound]\nenabled = false\n");
        }
        // Inbound checks ask DNS about every sender: only the tests about them turn them on.
        if !opts.extra.contains("[inbound]") {
            text.push_str("[inbound]\nauth_checks = false\n");
        }
        let mut listen = std::collections::BTreeMap::new();
        let http: &[(&str, &str, &str)] = if opts.http { &HTTP_LISTENERS } else { &[] };
        for (name, port) in http.iter().map(|l| l.2).zip(free_ports(http.len())) {
            ports.insert(name, port);
        }
        for &(protocol, tls, name) in LISTENERS.iter().chain(http) {
            let address = match opts.addresses.iter().find(|(n, _)| *n == name) {
                Some((_, a)) => {
                    ports.insert(name, a.port());
                    *a
                }
                None => std::net::SocketAddr::new(
                    opts.bind.unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
                    ports[name],
                ),
            };
            listen.insert(name, address);
            text.push_str(&format!(
                "[[listener]]\nprotocol = \"{protocol}\"\naddress = \"{address}\"\ntls = \"{tls}\"\n"
            ));
            for (_, extra) in opts.listener_extra.iter().filter(|(n, _)| *n == name) {
                text.push_str(extra);
            }
        }
        let config = dir.path().join("ringpost.toml");
        std::fs::write(&config, text).unwrap();
        // Readable by a server that drops root to another user (`[server] user`).
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut server = Server {
            stderr: dir.path().join("server.log"),
            dir,
            config,
            ports,
            listen,
            child: None,
            log_level: opts.log,
            soft_open_files: opts.soft_open_files,
            env: opts.env,
            netns: opts.netns,
        };
        let users: &[(&str, &str)] = if opts.add_users { &[ALICE, BOB] } else { &[] };
        for &(user, pass) in users {
            let out = server.cli(&["user", "add", user], Some(pass));
            assert!(
                out.status.success(),
                "user add: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        server.spawn();
        server
    }

    /// Start (or restart) the server process and wait until it is ready: its listeners
    /// accept and its control socket answers. The main thread binds the ports before the
    /// shards start, so a port that accepts (the kernel's backlog) says nothing yet; the
    /// control socket is made once every shard has started. A server that fails during
    /// start-up panics here with its log instead of resetting a test's first connection.
    pub fn spawn(&mut self) {
        let control = self.data_dir().join("control.sock");
        let _ = std::fs::remove_file(&control);
        let log = std::fs::File::create(&self.stderr).unwrap();
        // `ip netns exec` and the shell exec the server: the child's pid is the server's.
        let mut argv: Vec<String> = Vec::new();
        if let Some(ns) = &self.netns {
            argv.extend(["ip", "netns", "exec", ns].map(String::from));
        }
        if let Some(n) = self.soft_open_files {
            // The shell lowers its soft limit and becomes the server (same pid).
            argv.extend(
                ["sh", "-c", &format!("ulimit -Sn {n} && exec \"$0\" \"$@\"")].map(String::from),
            );
        }
        argv.push(BIN.to_string());
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        let child = command
            .args(["--config", self.config.to_str().unwrap(), "serve"])
            .env("RINGPOST_LOG", self.log_level)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        for addr in self.listen.values() {
            let (addr, port) = (*addr, addr.port());
            while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                    panic!("server exited with {status}: {}", self.log());
                }
                assert!(
                    Instant::now() < deadline,
                    "server did not listen on {port}: {}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        while std::os::unix::net::UnixStream::connect(&control).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("server exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "server did not become ready: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Send SIGHUP and wait (bounded) until the log says `configuration reloaded` for the
    /// `times`-th time.
    #[allow(dead_code)]
    pub fn reload(&self, times: usize) {
        let pid = self
            .child
            .as_ref()
            .expect("server is running")
            .id()
            .to_string();
        assert!(Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.log().matches("configuration reloaded").count() < times {
            assert!(Instant::now() < deadline, "{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self, name: &str) -> u16 {
        self.ports[name]
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The generated self-signed certificate clients must trust.
    pub fn cafile(&self) -> PathBuf {
        self.data_dir().join("tls").join("cert.pem")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Run a `ringpost` subcommand against this server's config, with optional stdin.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(["--config", self.config.to_str().unwrap()])
            .args(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut pipe = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            pipe.write_all(s.as_bytes()).unwrap();
            pipe.write_all(b"\n").unwrap();
        }
        drop(pipe);
        child.wait_with_output().unwrap()
    }

    /// Run `tests/clients/<script>` with the server's ports and CA file; panic with its
    /// output unless it exits 0.
    pub fn python(&self, script: &str, args: &[&str]) -> String {
        self.python_with_ca(script, self.cafile().to_str().unwrap(), args)
    }

    /// [`Server::python`] with another CA file (PEM bundle) for the script to trust.
    pub fn python_with_ca(&self, script: &str, cafile: &str, args: &[&str]) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/clients")
            .join(script);
        let ports = serde_ports(&self.ports);
        let out = Command::new("python3")
            .arg(&path)
            .arg(ports)
            .arg(cafile)
            .args(args)
            .output()
            .expect("python3 is required for the interop tests");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        // A script skips a part whose client is missing with `SKIPPED: …` (common.have).
        for line in stdout.lines() {
            if let Some(why) = line.strip_prefix("SKIPPED: ") {
                skipped(&format!("{script}: {why}"));
            }
        }
        assert!(
            out.status.success(),
            "{script} failed:\n--- stdout\n{stdout}\n--- stderr\n{}\n--- server log\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        stdout
    }

    /// Send the server process `signal` (`STOP`, `CONT`, …).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("server is running").id();
        let status = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Kill the server with SIGKILL (no shutdown of any kind) and reap it; [`Server::spawn`]
    /// starts it again on the same data.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("server is running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Send SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server is running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop after SIGTERM: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn serde_ports(ports: &std::collections::BTreeMap<&'static str, u16>) -> String {
    let fields: Vec<String> = ports.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
    format!("{{{}}}", fields.join(", "))
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every message of `account`'s `mailbox`, read straight from the store in `data_dir` (the
/// server must be stopped: only one process may own the store). `shards` is the server's.
pub fn mailbox_messages(
    data_dir: &Path,
    shards: usize,
    account: &str,
    mailbox: &str,
) -> Vec<Vec<u8>> {
    use ringpost::mail::Uid;
    use ringpost::runtime::ShardMap;
    use ringpost::store::{Store, StoreConfig, StoreError};
    let root = data_dir.join("store");
    // An account's mail is under its current incarnation's key; internal accounts (the
    // outbound queue) are not in the accounts file and go by their name.
    let accounts =
        ringpost::accounts::AccountStore::open(data_dir, &["example.com".into()]).unwrap();
    let account = match accounts.lookup(account).unwrap() {
        Some(a) => a.store_key(),
        None => account.to_string(),
    };
    let mailbox = mailbox.to_string();
    ringpost::runtime::Executor::new("test")
        .io_memory(512 << 10)
        .ring_depth(64)
        .spawn(move || async move {
            let map = ShardMap::new(shards);
            let store = Store::new(root, map.home_shard(&account), map, StoreConfig::default());
            let entries = match store
                .messages(&account, &mailbox, Uid(1)..=Uid(u32::MAX))
                .await
            {
                Ok(e) => e,
                Err(StoreError::NoSuchMailbox) => Vec::new(),
                Err(e) => panic!("reading {account}/{mailbox}: {e}"),
            };
            let mut bodies = Vec::new();
            for e in entries {
                bodies.push(
                    store
                        .read(&account, &mailbox, e.uid)
                        .await
                        .unwrap()
                        .to_vec(),
                );
            }
            store.close().await.unwrap();
            bodies
        })
        .unwrap()
        .join()
        .unwrap()
}

/// The message without the `Return-Path:` and `Received:` header fields we put in front of it
/// (with folded continuation lines): what the client sent.
pub fn strip_our_received(message: &[u8]) -> &[u8] {
    assert!(
        message.starts_with(b"Return-Path: <"),
        "no Return-Path: header first"
    );
    let eol = message
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("Return-Path line")
        + 2;
    let message = &message[eol..];
    assert!(
        message.starts_with(b"Received: from "),
        "no Received: header second"
    );
    let mut pos = 0;
    loop {
        let end = pos
            + message[pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("header line")
            + 2;
        pos = end;
        if !matches!(message.get(pos), Some(b' ' | b'\t')) {
            return &message[pos..];
        }
    }
}
