//! The layering, checked by reading the sources (DESIGN.md "Layers, one direction"):
//!
//! - **protocols** (sans-IO sessions and their framing and contracts) name no runtime, no
//!   store, no service, no files, no sockets and no clock;
//! - the **model** (`src/mail/`) depends on nothing of ours;
//! - the **store** reaches neither up into the runtime (its mesh, the services) nor into any
//!   protocol;
//! - **config** and **accounts** are leaves below the sessions;
//! - only the **runtime** and the store's one IO file name glommio;
//! - the **cluster** (the map over several hosts) reaches neither the runtime, the store nor
//!   a protocol; only its etcd code (`src/cluster/etcd/`) and the auth thread
//!   (`runtime/auth_checks.rs`) name tokio or etcd_client, and both run on threads of their
//!   own, never on a shard.
//!
//! Every top-level module of `src/` must be placed in one of the layers below, so a new
//! protocol folder is checked from its first file. A failure names the file and line.

#![allow(clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};

/// Sans-IO protocol modules: sessions, framing, the session contract and the requests
/// sessions hand their services. Future protocols (http, dav, an SMTP client) go here.
const PROTOCOLS: &[&str] = &[
    "imap", "pop3", "smtp", "sasl", "scram", "oauth", "wire", "session", "mailbox", "outbound",
    "http", "dav",
];
/// The domain types every layer shares.
const MODEL: &[&str] = &["mail"];
/// The runtime: executors, sockets, the driver, the cross-shard mesh and the services it runs.
const RUNTIME: &[&str] = &["runtime"];
/// The message store.
const STORE: &[&str] = &["store"];
/// Partitions over several hosts: the map, its planner and schema (pure) and its etcd thread.
const CLUSTER: &[&str] = &["cluster"];
/// The only files that may name tokio or etcd_client (each runs its own thread).
const TOKIO_FILES: &[&str] = &["cluster/etcd/", "runtime/auth_checks.rs"];
/// Leaves: configuration, the account database, date formats, placement of accounts,
/// latency histograms.
const LEAVES: &[&str] = &["config", "accounts", "date", "placement", "latency"];
/// Outside the layers: the binary's entry points, TLS setup, the queue listing, backups,
/// test support.
const EDGE: &[&str] = &[
    "lib",
    "main",
    "cli",
    "tls",
    "queue",
    "backup",
    "transcript",
    "fuzzing",
];

/// The one store file that may name glommio (DMA files, timers, spawning).
const STORE_IO: &str = "store/io.rs";

#[derive(Debug)]
struct Violation {
    file: String,
    line: usize,
    what: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "src/{}:{}: {}", self.file, self.line, self.what)
    }
}

/// The top-level module a path under `src/` belongs to (`imap/session/view.rs` → `imap`).
fn module_of(path: &str) -> &str {
    let first = path.split('/').next().unwrap_or(path);
    first.strip_suffix(".rs").unwrap_or(first)
}

/// Test-only files (unit tests and their support) may use whatever a test needs.
fn is_test_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name == "tests.rs" || name.ends_with("_tests.rs") || path.contains("/tests/")
}

/// `line` without its `//` comment (a `//` inside a string literal ends the line early,
/// which can only hide a reference, never invent one).
fn code_of(line: &str) -> &str {
    match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    }
}

/// The modules of ours a file names, with the line: `crate::store::…`, `crate::{store, …}`
/// (grouped imports may span lines).
fn crate_references(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let code: Vec<&str> = text.lines().map(code_of).collect();
    let joined = code.join("\n");
    let mut rest = joined.as_str();
    let mut offset = 0;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let line = joined[..offset + at].matches('\n').count() + 1;
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 1;
            let mut end = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            // Top-level items only: `{store::{A, B}, mail}` names store and mail.
            let mut depth = 0;
            let mut item = String::new();
            for c in group[..end].chars().chain([',']) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let name: String = item
                            .trim()
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if !name.is_empty() {
                            found.push((line, name));
                        }
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push((line, name));
            }
        }
        offset += at + "crate::".len();
        rest = &joined[offset..];
    }
    found
}

/// Every rule, over `(path under src/, text)` pairs.
fn violations(files: &[(String, String)]) -> Vec<Violation> {
    let mut out = Vec::new();
    for (path, text) in files {
        let module = module_of(path);
        let layers: [(&[&str], &str); 7] = [
            (PROTOCOLS, "protocol"),
            (MODEL, "model"),
            (RUNTIME, "runtime"),
            (STORE, "store"),
            (CLUSTER, "cluster"),
            (LEAVES, "leaf"),
            (EDGE, "edge"),
        ];
        let Some(layer) = layers
            .iter()
            .find(|(members, _)| members.contains(&module))
            .map(|(_, name)| *name)
        else {
            out.push(Violation {
                file: path.clone(),
                line: 1,
                what: format!(
                    "module `{module}` is in no layer: add it to one in tests/layering.rs"
                ),
            });
            continue;
        };
        // glommio: the runtime and the store's IO file only, comments included, so
        // `grep -rl glommio src` tells the truth.
        if layer != "runtime" && path != STORE_IO {
            for (i, line) in text.lines().enumerate() {
                if line.contains("glommio") {
                    out.push(Violation {
                        file: path.clone(),
                        line: i + 1,
                        what: "names glommio (only the runtime and store/io.rs may)".into(),
                    });
                }
            }
        }
        // tokio and etcd_client: on their own threads only, never on a shard.
        if !TOKIO_FILES.iter().any(|allowed| path.starts_with(allowed)) {
            for (i, line) in text.lines().enumerate() {
                let code = code_of(line);
                for word in ["tokio", "etcd_client"] {
                    if code.contains(&format!("{word}::")) || code.contains(&format!("use {word}"))
                    {
                        out.push(Violation {
                            file: path.clone(),
                            line: i + 1,
                            what: format!(
                                "names {word} (only src/cluster/etcd/ and runtime/auth_checks.rs may)"
                            ),
                        });
                    }
                }
            }
        }
        if is_test_file(path) {
            continue;
        }
        let forbidden: &[&str] = match layer {
            "protocol" => &[
                "store", "runtime", "shard", "net", "service", "accounts", "cli", "queue", "tls",
            ],
            "model" => &[
                "store", "runtime", "shard", "net", "service", "accounts", "cli", "queue", "tls",
                "config", "session", "mailbox", "imap", "pop3", "smtp", "sasl", "wire", "date",
            ],
            "store" => &[
                "runtime", "shard", "net", "service", "imap", "pop3", "smtp", "session", "mailbox",
                "sasl", "cli",
            ],
            "cluster" => &[
                "runtime", "shard", "net", "service", "store", "session", "mailbox", "imap",
                "pop3", "smtp", "sasl", "wire", "cli", "queue", "tls", "accounts",
            ],
            "leaf" => &[
                "runtime", "shard", "net", "service", "store", "session", "mailbox", "imap",
                "pop3", "smtp", "sasl", "wire", "cli", "queue", "tls",
            ],
            _ => &[],
        };
        for (line, name) in crate_references(text) {
            if forbidden.contains(&name.as_str()) {
                out.push(Violation {
                    file: path.clone(),
                    line,
                    what: format!("the {layer} layer imports crate::{name}"),
                });
            }
        }
        if layer == "model" {
            // The model does no IO of any kind and never waits.
            for (i, line) in text.lines().enumerate() {
                for word in ["std::io", "std::time", "std::thread", "std::net"] {
                    if code_of(line).contains(word) {
                        out.push(Violation {
                            file: path.clone(),
                            line: i + 1,
                            what: format!("the model names {word}"),
                        });
                    }
                }
            }
        }
        if layer == "protocol" || layer == "model" {
            let banned = [
                ("std::fs", "files"),
                ("TcpStream", "sockets"),
                ("TcpListener", "sockets"),
                ("UdpSocket", "sockets"),
                ("Instant", "the clock"),
                ("SystemTime", "the clock"),
            ];
            for (i, line) in text.lines().enumerate() {
                let code = code_of(line);
                for (word, what) in banned {
                    if code.contains(word) {
                        out.push(Violation {
                            file: path.clone(),
                            line: i + 1,
                            what: format!("a sans-IO {layer} module touches {what} ({word})"),
                        });
                    }
                }
            }
        }
    }
    out
}

fn collect(dir: &Path, root: &Path, files: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, root, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            let text = fs::read_to_string(&path).expect("readable source");
            files.push((rel, text));
        }
    }
}

#[test]
fn every_module_keeps_to_its_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    assert!(files.len() > 50, "found only {} files", files.len());
    let found = violations(&files);
    let report: Vec<String> = found.iter().map(|v| v.to_string()).collect();
    assert!(
        report.is_empty(),
        "layering violations:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_check_catches_a_protocol_that_reaches_down() {
    let files = vec![
        (
            "imap/session/evil.rs".to_string(),
            "use glommio::timer::sleep;\nuse crate::{mail::Uid, store::Store};\nfn f() { let _ = crate::shard::ShardId(0); let _ = std::time::Instant::now(); }\n".to_string(),
        ),
        (
            "store/read.rs".to_string(),
            "use crate::runtime::Mesh;\n// glommio in a comment counts too\n".to_string(),
        ),
        ("ftp/mod.rs".to_string(), String::new()),
        (
            "cluster/map.rs".to_string(),
            "use crate::runtime::Mesh;\nuse tokio::sync::mpsc;\n".to_string(),
        ),
        (
            "cluster/etcd/coordinator.rs".to_string(),
            "use tokio::sync::mpsc;\nuse etcd_client::Client;\n".to_string(),
        ),
        (
            "imap/session/fine.rs".to_string(),
            "use crate::mail::{Flags, Uid};\nuse crate::session::Output;\n".to_string(),
        ),
    ];
    let found: Vec<String> = violations(&files).iter().map(|v| v.to_string()).collect();
    assert_eq!(
        found,
        [
            "src/imap/session/evil.rs:1: names glommio (only the runtime and store/io.rs may)",
            "src/imap/session/evil.rs:2: the protocol layer imports crate::store",
            "src/imap/session/evil.rs:3: the protocol layer imports crate::shard",
            "src/imap/session/evil.rs:3: a sans-IO protocol module touches the clock (Instant)",
            "src/store/read.rs:2: names glommio (only the runtime and store/io.rs may)",
            "src/store/read.rs:1: the store layer imports crate::runtime",
            "src/ftp/mod.rs:1: module `ftp` is in no layer: add it to one in tests/layering.rs",
            "src/cluster/map.rs:2: names tokio (only src/cluster/etcd/ and runtime/auth_checks.rs may)",
            "src/cluster/map.rs:1: the cluster layer imports crate::runtime",
        ]
    );
}
