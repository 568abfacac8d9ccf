//! The control socket, `data_dir/control.sock`: how `ringpost` commands ask the running
//! server to do something (the snapshot `ringpost backup` copies, `queue`, `who`, `kick`,
//! `stats`). Both ends of the protocol are here; what a command does is elsewhere (the store
//! links a snapshot, [`crate::backup`] lays out its folder, [`crate::queue`] reads and
//! changes the queue, each shard's [`Sessions`] and [`Counters`] know its sessions).
//!
//! # Who may connect
//!
//! The socket is bound in a fresh folder of mode 0700, made mode 0600 and only then renamed
//! into the data folder: at no moment can anyone but the server's user (or root) connect.
//!
//! # Framing
//!
//! A request is one line: a command word and its arguments, separated by single spaces,
//! UTF-8, ended by LF, at most [`MAX_LINE`] bytes. Each request is answered, in order, by
//! zero or more data lines that start with `* `, then one final line: `OK`, `OK <text>`, or
//! `ERR <text>`. A connection may carry any number of requests. An unknown command gets
//! `ERR unknown command …`, and the connection stays usable; a line too long or not UTF-8
//! closes it. New commands are new words: clients of the old ones are unaffected.
//!
//! # Commands
//!
//! - `snapshot`: every shard hard-links its partitions into a new snapshot folder
//!   (`data_dir/snapshots/<name>`, see [`crate::store::snapshot`]), then the accounts file and
//!   the generated certificate are linked. One data line per partition: `* partition <n> end
//!   <segment> <offset> <next-seq>` (open: the durable end of its log at that instant) or `*
//!   partition <n> whole` (not open: its segments are copied whole). Final line `OK <name>`.
//!   The folder stays until `release <name>` or until this connection closes.
//! - `release <name>`: remove a snapshot folder this connection made.
//! - `who`: one data line per session on any shard, fields separated by TAB: shard,
//!   protocol, client address, `tls` or `plain`, connected (Unix seconds), seconds since its
//!   last input, bytes in, bytes out, commands, account address (`-` before login), user name
//!   as given (`-`). Final line `OK <count>`.
//! - `kick <address>`: end every session logged in to the account, on every shard (each
//!   says goodbye as for a deleted account). Final line `OK <count ended>`.
//! - `stats`: one data line per figure, `<name> <value>`, the names and labels as Prometheus
//!   writes them (`ringpost_logins_total{protocol="imap",result="failed"} 3`): totals since
//!   start summed over the shards, and what is open now.
//! - `queue list`: one data line per queued message, TAB-separated: queue id, accepted (Unix
//!   seconds), size, `<reverse-path>`, the recipients as `<a>,<b>`. Final line `OK <count>`.
//! - `queue show <id>`: the message's `queue list` line, its delivery-state record's lines
//!   (none before a first attempt) and an empty data line, then each line of the message as
//!   stored from `Return-Path:` on (without its CRLF; bytes that are not UTF-8 replaced).
//! - `queue delete <id>`: remove it from the queue, sending nothing (as `postsuper -d`).
//! - `queue retry [<id>]`: make the message (or every message) due now. Final line `OK
//!   <count>`.
//! - `flush-uses`: write the credentials' last use (`data_dir/credentials.used`) now rather
//!   than at the next minute. Final line `OK`.
//!
//! The socket is served by a thread of its own with blocking IO, one thread per connection
//! (administration is rare). Work on the store goes to each shard as a [`ShardJob`], which the
//! shard takes up at its next poll of the stop flag (every 50 ms) and runs as a task.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use std::rc::Rc;
use std::time::Instant;

use crate::backup::SnapshotFolder;
use crate::queue::{QueueAnswer, QueueOp, QueuedMessage};
#[cfg(doc)]
use crate::runtime::net::sessions::{Counters, Sessions};
use crate::runtime::net::sessions::{SessionInfo, ShardStats, PROTOCOLS};
use crate::runtime::net::ShardState;
use crate::store::{PartitionSnapshot, SnapshotEnd};

/// The socket's name in the data folder.
pub const SOCKET: &str = "control.sock";

/// Longest request line.
pub const MAX_LINE: usize = 4096;

/// How long a request waits for every shard's part.
const SHARD_TIMEOUT: Duration = Duration::from_secs(300);

/// How often the accepting thread looks at the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// Work for one shard, sent by the control thread; the shard answers on `reply`.
pub enum ShardJob {
    /// Link the shard's partitions into the store folder `into` of a snapshot.
    Snapshot {
        into: PathBuf,
        reply: mpsc::Sender<Result<Vec<PartitionSnapshot>, String>>,
    },
    /// The shard's live sessions.
    Sessions {
        reply: mpsc::Sender<Vec<SessionInfo>>,
    },
    /// End the sessions of the account `address`; how many.
    Kick {
        address: String,
        reply: mpsc::Sender<usize>,
    },
    /// The shard's counters, and the queue's length if the queue lives here.
    Stats {
        reply: mpsc::Sender<(ShardStats, Option<u64>)>,
    },
    /// An operation on the queue (sent to the queue's home shard).
    Queue {
        op: QueueOp,
        reply: mpsc::Sender<Result<QueueAnswer, String>>,
    },
}

/// Every shard's job channel, for what a shard asks of all of them (the metrics listener's
/// scrape). Blocking: use from a blocking thread, never on a shard.
#[derive(Default)]
pub struct ShardJobs {
    shards: Vec<mpsc::Sender<ShardJob>>,
    started: Option<Instant>,
    /// The cluster thread's figures join the shards' (`ringpost_cluster_*`).
    cluster: Option<crate::cluster::ClusterHandle>,
}

impl ShardJobs {
    pub fn new(shards: Vec<mpsc::Sender<ShardJob>>) -> ShardJobs {
        ShardJobs {
            shards,
            started: Some(Instant::now()),
            cluster: None,
        }
    }

    /// The same, with the cluster's figures in the metrics.
    pub fn with_cluster(mut self, cluster: Option<crate::cluster::ClusterHandle>) -> ShardJobs {
        self.cluster = cluster;
        self
    }

    /// The Prometheus text exposition (version 0.0.4) of the figures `stats` shows and the
    /// detail only metrics show: each shard's counters, summed at the scrape.
    pub fn metrics(&self) -> Result<String, String> {
        let per_shard = ask_every_shard(&self.shards, |reply| ShardJob::Stats { reply })?;
        let uptime = self.started.map_or(0, |s| s.elapsed().as_secs());
        let mut lines = render_stats(&per_shard, uptime);
        lines.extend(render_detail(&per_shard));
        if let Some(cluster) = &self.cluster {
            lines.extend(cluster.metric_lines());
        }
        Ok(crate::runtime::metrics::exposition(&lines))
    }
}

/// Start every job waiting in `jobs` as a task of the calling shard.
pub(crate) fn start_jobs(jobs: &mpsc::Receiver<ShardJob>, state: &Rc<ShardState>) {
    while let Ok(job) = jobs.try_recv() {
        let state = state.clone();
        glommio::spawn_local(async move {
            let store = &state.store;
            match job {
                ShardJob::Snapshot { into, reply } => {
                    let linked = store.link_snapshot(&into).await;
                    let _ = reply.send(linked.map_err(|e| e.to_string()));
                }
                ShardJob::Sessions { reply } => {
                    let _ = reply.send(state.sessions.list(state.id));
                }
                ShardJob::Kick { address, reply } => {
                    let ended = state.sessions.kick(&address);
                    if ended > 0 {
                        tracing::info!(shard = %state.id, account = %address, sessions = ended, "kicked");
                    }
                    let _ = reply.send(ended);
                }
                ShardJob::Stats { reply } => {
                    let mut stats = state.counters.snapshot(&state.sessions);
                    stats.accounts_loaded = store.loaded_accounts() as u64;
                    stats.store = store.stats();
                    stats.queue = state.outbound.depth();
                    let queue = crate::queue::count(store).await;
                    let _ = reply.send((stats, Some(queue)));
                }
                ShardJob::Queue {
                    op: QueueOp::Retry(id),
                    reply,
                } => {
                    // The runner's schedule is the running truth; it writes it durably.
                    let retried = crate::runtime::outbound::retry(&state, id.as_deref());
                    let _ = reply.send(Ok(QueueAnswer::Retried(retried)));
                }
                ShardJob::Queue { op, reply } => {
                    let answer = crate::queue::run(store, &op).await;
                    if let (QueueOp::Delete(id), Ok(QueueAnswer::Deleted(true))) = (&op, &answer) {
                        crate::runtime::outbound::forget(&state, id);
                    }
                    let _ = reply.send(answer.map_err(|e| e.to_string()));
                }
            }
        })
        .detach();
    }
}

/// The running control socket. The stop flag stops it; [`ControlSocket::join`] waits for
/// that and the socket's removal.
pub(crate) struct ControlSocket {
    path: PathBuf,
    thread: std::thread::JoinHandle<()>,
}

impl ControlSocket {
    /// Bind `data_dir/control.sock` (replacing a stale one: the caller holds the data-dir
    /// lock) and serve it on a thread until `stop` is set, handing store work to `shards`.
    pub(crate) fn start(
        data_dir: &Path,
        shards: Vec<mpsc::Sender<ShardJob>>,
        accounts: Arc<crate::accounts::AccountStore>,
        stop: Arc<AtomicBool>,
    ) -> io::Result<ControlSocket> {
        let path = data_dir.join(SOCKET);
        let listener = bind_private(data_dir, &path)?;
        listener.set_nonblocking(true)?;
        let server = Arc::new(Server {
            data_dir: data_dir.to_path_buf(),
            shards,
            accounts,
            started: Instant::now(),
        });
        let thread_path = path.clone();
        let thread = std::thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                accept_loop(&listener, &server, &stop);
                let _ = std::fs::remove_file(&thread_path);
            })?;
        Ok(ControlSocket { path, thread })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Wait until the socket has stopped accepting (after the stop flag) and is removed.
    /// Connections still open are not waited for: they end with the process.
    pub(crate) fn join(self) {
        let _ = self.thread.join();
    }
}

/// Bind a Unix socket at `path` that only this user can connect to (see the module docs).
fn bind_private(data_dir: &Path, path: &Path) -> io::Result<UnixListener> {
    let private = data_dir.join(format!(".control-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let bound = (|| {
        let inside = private.join(SOCKET);
        let listener = UnixListener::bind(&inside)?;
        std::fs::set_permissions(&inside, std::fs::Permissions::from_mode(0o600))?;
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::rename(&inside, path)?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&private);
    bound.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// What the control thread knows of the server it serves.
struct Server {
    data_dir: PathBuf,
    /// Each shard's job channel, in shard order.
    shards: Vec<mpsc::Sender<ShardJob>>,
    /// For `flush-uses`.
    accounts: Arc<crate::accounts::AccountStore>,
    started: Instant,
}

fn accept_loop(listener: &UnixListener, server: &Arc<Server>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let server = server.clone();
                let spawned = std::thread::Builder::new()
                    .name("control-conn".into())
                    .spawn(move || {
                        if let Err(e) = serve_connection(stream, &server) {
                            tracing::debug!(error = %e, "control connection ended");
                        }
                    });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "cannot serve a control connection");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(e) => {
                tracing::warn!(error = %e, "control socket accept failed");
                std::thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// A request, parsed.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Snapshot,
    Release(String),
    Who,
    Kick(String),
    Stats,
    Queue(QueueOp),
    /// Write the credentials' last use now (`user app-password list` reads them).
    FlushUses,
}

fn parse_request(line: &str) -> Result<Request, String> {
    let mut words = line.split(' ');
    let command = words.next().unwrap_or_default();
    let args: Vec<&str> = words.collect();
    match (command, args.as_slice()) {
        ("snapshot", []) => Ok(Request::Snapshot),
        ("release", [name]) => Ok(Request::Release((*name).to_string())),
        ("who", []) => Ok(Request::Who),
        ("kick", [address]) => Ok(Request::Kick(address.to_lowercase())),
        ("stats", []) => Ok(Request::Stats),
        ("flush-uses", []) => Ok(Request::FlushUses),
        ("queue", ["list"]) => Ok(Request::Queue(QueueOp::List)),
        ("queue", ["show", id]) => Ok(Request::Queue(QueueOp::Show((*id).to_string()))),
        ("queue", ["delete", id]) => Ok(Request::Queue(QueueOp::Delete((*id).to_string()))),
        ("queue", ["retry"]) => Ok(Request::Queue(QueueOp::Retry(None))),
        ("queue", ["retry", id]) => Ok(Request::Queue(QueueOp::Retry(Some((*id).to_string())))),
        ("snapshot" | "release" | "who" | "kick" | "stats" | "queue" | "flush-uses", _) => {
            Err(format!("wrong arguments for {command}"))
        }
        _ => Err(format!("unknown command {command:?}")),
    }
}

/// Serve one client until it closes; release whatever snapshots it still holds.
fn serve_connection(stream: UnixStream, server: &Server) -> io::Result<()> {
    let (data_dir, shards) = (server.data_dir.as_path(), server.shards.as_slice());
    stream.set_nonblocking(false)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut held: Vec<SnapshotFolder> = Vec::new();
    let result = (|| loop {
        let Some(line) = read_line(&mut reader)? else {
            return Ok(());
        };
        let mut reply = String::new();
        match parse_request(&line) {
            Ok(Request::Snapshot) => match snapshot(data_dir, shards) {
                Ok((folder, partitions)) => {
                    for p in &partitions {
                        reply.push_str(&format!("* {}\n", render_partition(p)));
                    }
                    reply.push_str(&format!("OK {}\n", folder.name()));
                    tracing::info!(
                        snapshot = folder.name(),
                        partitions = partitions.len(),
                        "backup snapshot linked"
                    );
                    held.push(folder);
                }
                Err(e) => reply.push_str(&format!("ERR {}\n", one_line(&e))),
            },
            Ok(Request::Release(name)) => match held.iter().position(|f| f.name() == name) {
                Some(i) => match held.remove(i).remove() {
                    Ok(()) => reply.push_str("OK\n"),
                    Err(e) => reply.push_str(&format!("ERR {}\n", one_line(&e.to_string()))),
                },
                None => reply.push_str("ERR no such snapshot on this connection\n"),
            },
            Ok(Request::Who) => match ask_every_shard(shards, |reply| ShardJob::Sessions { reply })
            {
                Ok(per_shard) => {
                    let sessions: Vec<SessionInfo> = per_shard.into_iter().flatten().collect();
                    for s in &sessions {
                        reply.push_str(&format!("* {}\n", render_session(s)));
                    }
                    reply.push_str(&format!("OK {}\n", sessions.len()));
                }
                Err(e) => reply.push_str(&format!("ERR {e}\n")),
            },
            Ok(Request::Kick(address)) => {
                match ask_every_shard(shards, |reply| ShardJob::Kick {
                    address: address.clone(),
                    reply,
                }) {
                    Ok(ended) => reply.push_str(&format!("OK {}\n", ended.iter().sum::<usize>())),
                    Err(e) => reply.push_str(&format!("ERR {e}\n")),
                }
            }
            Ok(Request::FlushUses) => match server.accounts.flush_uses() {
                Ok(()) => reply.push_str("OK\n"),
                Err(e) => reply.push_str(&format!("ERR {}\n", one_line(&e.to_string()))),
            },
            Ok(Request::Stats) => {
                match ask_every_shard(shards, |reply| ShardJob::Stats { reply }) {
                    Ok(per_shard) => {
                        for line in render_stats(&per_shard, server.started.elapsed().as_secs()) {
                            reply.push_str(&format!("* {line}\n"));
                        }
                        reply.push_str("OK\n");
                    }
                    Err(e) => reply.push_str(&format!("ERR {e}\n")),
                }
            }
            Ok(Request::Queue(op)) => {
                // The queue is spread over the shards: ask each, and put the answers together.
                let answer = ask_every_shard(shards, |reply| ShardJob::Queue {
                    op: op.clone(),
                    reply,
                })
                .and_then(|answers| answers.into_iter().collect::<Result<Vec<_>, _>>())
                .map(|answers| merge_queue_answers(&op, answers));
                match answer {
                    Ok(QueueAnswer::List(queued)) => {
                        for q in &queued {
                            reply.push_str(&format!("* {}\n", render_queued(q)));
                        }
                        reply.push_str(&format!("OK {}\n", queued.len()));
                    }
                    Ok(QueueAnswer::Show(Some(shown))) => {
                        // The envelope line, the state record's lines up to an empty line
                        // (only the empty line before a first attempt), the message.
                        reply.push_str(&format!("* {}\n", render_queued(&shown.message)));
                        if let Some(state) = &shown.state {
                            for line in String::from_utf8_lossy(&state.encode()).lines() {
                                if !line.is_empty() {
                                    reply.push_str(&format!("* {line}\n"));
                                }
                            }
                        }
                        reply.push_str("* \n");
                        for line in String::from_utf8_lossy(&shown.bytes).lines() {
                            reply.push_str(&format!("* {}\n", line.trim_end_matches('\r')));
                        }
                        reply.push_str("OK\n");
                    }
                    Ok(QueueAnswer::Deleted(true)) => reply.push_str("OK deleted\n"),
                    Ok(QueueAnswer::Retried(n)) => reply.push_str(&format!("OK {n}\n")),
                    Ok(QueueAnswer::Show(None) | QueueAnswer::Deleted(false)) => {
                        reply.push_str("ERR no such message in the queue\n")
                    }
                    Err(e) => reply.push_str(&format!("ERR {}\n", one_line(&e))),
                }
            }
            Err(e) => reply.push_str(&format!("ERR {e}\n")),
        }
        writer.write_all(reply.as_bytes())?;
    })();
    for folder in held {
        if let Err(e) = folder.remove() {
            tracing::warn!(error = %e, "cannot remove a backup snapshot");
        }
    }
    result
}

/// One request line without its LF; `None` at the end of the stream.
fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    reader
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.pop() != Some(b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request line too long or cut off",
        ));
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "request is not UTF-8"))
}

fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// Send a job to every shard at once, then collect the answers in shard order.
fn ask_every_shard<T>(
    shards: &[mpsc::Sender<ShardJob>],
    job: impl Fn(mpsc::Sender<T>) -> ShardJob,
) -> Result<Vec<T>, String> {
    let mut waiting = Vec::with_capacity(shards.len());
    for (i, shard) in shards.iter().enumerate() {
        let (reply, answer) = mpsc::channel();
        shard
            .send(job(reply))
            .map_err(|_| format!("shard {i} has stopped"))?;
        waiting.push((i, answer));
    }
    waiting
        .into_iter()
        .map(|(i, answer)| {
            answer
                .recv_timeout(SHARD_TIMEOUT)
                .map_err(|_| format!("shard {i} did not answer"))
        })
        .collect()
}

/// The shards' answers to one queue operation as one: every listed message (oldest
/// first), the message one shard found, whether any deleted it, how many were made due.
fn merge_queue_answers(op: &QueueOp, answers: Vec<QueueAnswer>) -> QueueAnswer {
    match op {
        QueueOp::List => {
            let mut all: Vec<QueuedMessage> = answers
                .into_iter()
                .flat_map(|a| match a {
                    QueueAnswer::List(l) => l,
                    _ => Vec::new(),
                })
                .collect();
            all.sort_by(|a, b| (a.accepted, &a.id).cmp(&(b.accepted, &b.id)));
            QueueAnswer::List(all)
        }
        QueueOp::Show(_) => QueueAnswer::Show(answers.into_iter().find_map(|a| match a {
            QueueAnswer::Show(found) => found,
            _ => None,
        })),
        QueueOp::Delete(_) => QueueAnswer::Deleted(
            answers
                .iter()
                .any(|a| matches!(a, QueueAnswer::Deleted(true))),
        ),
        QueueOp::Retry(_) => QueueAnswer::Retried(
            answers
                .iter()
                .map(|a| match a {
                    QueueAnswer::Retried(n) => *n,
                    _ => 0,
                })
                .sum(),
        ),
    }
}

/// A `who` data line (see the module docs). Tabs and line ends in a user name as given
/// become spaces.
fn render_session(s: &SessionInfo) -> String {
    let user = s
        .user
        .as_deref()
        .map_or_else(|| "-".to_string(), |u| u.replace(['\t', '\r', '\n'], " "));
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        s.shard,
        s.protocol,
        s.client,
        if s.tls { "tls" } else { "plain" },
        s.connected,
        s.idle_secs,
        s.bytes_in,
        s.bytes_out,
        s.commands,
        s.account.as_deref().unwrap_or("-"),
        user
    )
}

/// A `queue list` data line (see the module docs).
fn render_queued(q: &QueuedMessage) -> String {
    format!(
        "{}\t{}\t{}\t<{}>\t{}",
        q.id,
        q.accepted,
        q.size,
        q.reverse_path,
        q.recipients
            .iter()
            .map(|r| format!("<{r}>"))
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// Read a `queue list` data line back.
pub fn parse_queued(line: &str) -> Option<QueuedMessage> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [id, accepted, size, from, to] = fields.as_slice() else {
        return None;
    };
    let unbracket = |a: &str| Some(a.strip_prefix('<')?.strip_suffix('>')?.to_string());
    Some(QueuedMessage {
        dsn: Default::default(),
        id: (*id).to_string(),
        accepted: accepted.parse().ok()?,
        size: size.parse().ok()?,
        reverse_path: unbracket(from)?,
        recipients: to
            .split(',')
            .filter(|r| !r.is_empty())
            .map(unbracket)
            .collect::<Option<_>>()?,
    })
}

/// Read a `who` data line back.
pub fn parse_session(line: &str) -> Option<SessionInfo> {
    let fields: Vec<&str> = line.splitn(11, '\t').collect();
    let [shard, protocol, client, tls, connected, idle, bytes_in, bytes_out, commands, account, user] =
        fields.as_slice()
    else {
        return None;
    };
    let protocol = PROTOCOLS
        .iter()
        .map(|p| p.name())
        .find(|name| name == protocol)?;
    let dash = |v: &str| (v != "-").then(|| v.to_string());
    Some(SessionInfo {
        shard: shard.parse().ok()?,
        protocol,
        // Not sent: the CLI shows the client, not which of our addresses it reached.
        listener: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        client: client.parse().ok()?,
        tls: *tls == "tls",
        connected: connected.parse().ok()?,
        idle_secs: idle.parse().ok()?,
        bytes_in: bytes_in.parse().ok()?,
        bytes_out: bytes_out.parse().ok()?,
        commands: commands.parse().ok()?,
        account: dash(account),
        user: dash(user),
    })
}

/// The `stats` data lines: every figure summed over the shards, per protocol where it is
/// counted per protocol.
fn render_stats(per_shard: &[(ShardStats, Option<u64>)], uptime_secs: u64) -> Vec<String> {
    let mut total = ShardStats::default();
    let mut queue = 0;
    for (s, q) in per_shard {
        for (sum, add) in [
            (&mut total.open, &s.open),
            (&mut total.connections, &s.connections),
            (&mut total.connections_refused, &s.connections_refused),
            (&mut total.logins_succeeded, &s.logins_succeeded),
            (&mut total.logins_failed, &s.logins_failed),
            (&mut total.logins_refused, &s.logins_refused),
            (&mut total.requests_refused, &s.requests_refused),
        ] {
            for (a, b) in sum.iter_mut().zip(add) {
                *a += b;
            }
        }
        total.bytes_in += s.bytes_in;
        total.bytes_out += s.bytes_out;
        total.messages_accepted += s.messages_accepted;
        total.messages_deferred += s.messages_deferred;
        total.message_bytes += s.message_bytes;
        total.recipients_local += s.recipients_local;
        total.recipients_queued += s.recipients_queued;
        total.accounts_loaded += s.accounts_loaded;
        queue += q.unwrap_or(0);
    }
    let mut lines = vec![
        format!("ringpost_uptime_seconds {uptime_secs}"),
        format!("ringpost_shards {}", per_shard.len()),
    ];
    let per_protocol =
        |lines: &mut Vec<String>,
         name: &str,
         extra: &str,
         values: &[u64; crate::runtime::net::sessions::N_PROTOCOLS]| {
            for (p, v) in PROTOCOLS.iter().zip(values) {
                lines.push(format!("{name}{{protocol=\"{}\"{extra}}} {v}", p.name()));
            }
        };
    per_protocol(&mut lines, "ringpost_connections_open", "", &total.open);
    per_protocol(
        &mut lines,
        "ringpost_connections_total",
        "",
        &total.connections,
    );
    per_protocol(
        &mut lines,
        "ringpost_connections_refused_total",
        "",
        &total.connections_refused,
    );
    for (result, values) in [
        ("succeeded", &total.logins_succeeded),
        ("failed", &total.logins_failed),
        ("refused", &total.logins_refused),
    ] {
        let extra = format!(",result=\"{result}\"");
        per_protocol(&mut lines, "ringpost_logins_total", &extra, values);
    }
    per_protocol(
        &mut lines,
        "ringpost_requests_refused_total",
        "",
        &total.requests_refused,
    );
    lines.extend([
        format!(
            "ringpost_session_bytes_total{{direction=\"in\"}} {}",
            total.bytes_in
        ),
        format!(
            "ringpost_session_bytes_total{{direction=\"out\"}} {}",
            total.bytes_out
        ),
        format!(
            "ringpost_messages_total{{result=\"accepted\"}} {}",
            total.messages_accepted
        ),
        format!(
            "ringpost_messages_total{{result=\"deferred\"}} {}",
            total.messages_deferred
        ),
        format!("ringpost_message_bytes_total {}", total.message_bytes),
        format!(
            "ringpost_recipients_total{{kind=\"local\"}} {}",
            total.recipients_local
        ),
        format!(
            "ringpost_recipients_total{{kind=\"queued\"}} {}",
            total.recipients_queued
        ),
        format!("ringpost_queue_messages {queue}"),
        format!("ringpost_accounts_loaded {}", total.accounts_loaded),
    ]);
    for (i, (s, _)) in per_shard.iter().enumerate() {
        lines.push(format!(
            "ringpost_shard_connections_open{{shard=\"{i}\"}} {}",
            s.open.iter().sum::<u64>()
        ));
    }
    lines
}

/// What the metrics listener shows beyond `stats`: commands and request latency per
/// protocol (histograms), logins per mechanism, connections per listener, the store's
/// commits and their latency, and the queue by state, summed over the shards.
fn render_detail(per_shard: &[(ShardStats, Option<u64>)]) -> Vec<String> {
    use crate::latency::Buckets;
    use crate::runtime::net::sessions::N_PROTOCOLS;
    let mut commands = [0u64; N_PROTOCOLS];
    let mut latency = [Buckets::default(); N_PROTOCOLS];
    let mut mechanisms: Vec<(String, [u64; 3])> = Vec::new();
    let mut listeners: Vec<(String, &'static str, u64)> = Vec::new();
    let mut store = crate::store::StoreStats::default();
    let mut queue = crate::runtime::outbound::QueueDepth::default();
    for (s, _) in per_shard {
        for (i, b) in s.request_latency.iter().enumerate() {
            commands[i] += s.commands[i];
            latency[i].add(b);
        }
        for (m, counts) in &s.logins_by_mechanism {
            match mechanisms.iter_mut().find(|(n, _)| n == m) {
                Some((_, sum)) => sum.iter_mut().zip(counts).for_each(|(a, b)| *a += b),
                None => mechanisms.push((m.clone(), *counts)),
            }
        }
        for (a, p, n) in &s.listener_connections {
            match listeners.iter_mut().find(|(b, q, _)| b == a && q == p) {
                Some((_, _, sum)) => *sum += n,
                None => listeners.push((a.clone(), p, *n)),
            }
        }
        store.records += s.store.records;
        store.bytes += s.store.bytes;
        store.syncs += s.store.syncs;
        store.sync_latency.add(&s.store.sync_latency);
        queue.sending += s.queue.sending;
        queue.held += s.queue.held;
        queue.waiting += s.queue.waiting;
    }
    mechanisms.sort();
    listeners.sort();
    let mut lines = Vec::new();
    for (p, n) in PROTOCOLS.iter().zip(commands) {
        lines.push(format!(
            "ringpost_commands_total{{protocol=\"{}\"}} {n}",
            p.name()
        ));
    }
    for (p, b) in PROTOCOLS.iter().zip(&latency) {
        lines.extend(b.render(
            "ringpost_request_duration_seconds",
            &format!("protocol=\"{}\"", p.name()),
        ));
    }
    for (m, counts) in &mechanisms {
        for (result, n) in ["succeeded", "failed", "refused"].iter().zip(counts) {
            lines.push(format!(
                "ringpost_logins_by_mechanism_total{{mechanism=\"{m}\",result=\"{result}\"}} {n}"
            ));
        }
    }
    for (a, p, n) in &listeners {
        lines.push(format!(
            "ringpost_listener_connections_total{{listener=\"{a}\",protocol=\"{p}\"}} {n}"
        ));
    }
    lines.push(format!("ringpost_store_records_total {}", store.records));
    lines.push(format!("ringpost_store_bytes_total {}", store.bytes));
    lines.push(format!("ringpost_store_syncs_total {}", store.syncs));
    lines.extend(
        store
            .sync_latency
            .render("ringpost_store_sync_duration_seconds", ""),
    );
    for (state, n) in [
        ("sending", queue.sending),
        ("held", queue.held),
        ("waiting", queue.waiting),
    ] {
        lines.push(format!("ringpost_queue_depth{{state=\"{state}\"}} {n}"));
    }
    lines
}

/// Make a snapshot folder, have every shard link its partitions into it, then link the
/// accounts file and certificate. The accounts file comes last: every account whose mail
/// the shards linked existed before it, so the copy names it (or says it was deleted).
fn snapshot(
    data_dir: &Path,
    shards: &[mpsc::Sender<ShardJob>],
) -> Result<(SnapshotFolder, Vec<PartitionSnapshot>), String> {
    let folder = SnapshotFolder::create(data_dir).map_err(|e| e.to_string())?;
    let linked = (|| {
        let mut waiting = Vec::new();
        for (i, shard) in shards.iter().enumerate() {
            let (reply, answer) = mpsc::channel();
            shard
                .send(ShardJob::Snapshot {
                    into: folder.store_root(),
                    reply,
                })
                .map_err(|_| format!("shard {i} has stopped"))?;
            waiting.push((i, answer));
        }
        let mut partitions = Vec::new();
        for (i, answer) in waiting {
            match answer.recv_timeout(SHARD_TIMEOUT) {
                Ok(Ok(p)) => partitions.extend(p),
                Ok(Err(e)) => return Err(format!("shard {i}: {e}")),
                Err(_) => return Err(format!("shard {i} did not answer")),
            }
        }
        partitions.sort_by_key(|p| p.partition);
        folder
            .link_data_files(data_dir)
            .map_err(|e| e.to_string())?;
        Ok(partitions)
    })();
    match linked {
        Ok(partitions) => Ok((folder, partitions)),
        Err(e) => {
            let _ = folder.remove();
            Err(e)
        }
    }
}

fn render_partition(p: &PartitionSnapshot) -> String {
    match p.end {
        Some(end) => format!(
            "partition {} end {} {} {}",
            p.partition, end.segment, end.offset, end.next_seq
        ),
        None => format!("partition {} whole", p.partition),
    }
}

fn parse_partition(line: &str) -> Option<PartitionSnapshot> {
    let words: Vec<&str> = line.split(' ').collect();
    match words.as_slice() {
        ["partition", n, "whole"] => Some(PartitionSnapshot {
            partition: n.parse().ok()?,
            end: None,
        }),
        ["partition", n, "end", segment, offset, next_seq] => Some(PartitionSnapshot {
            partition: n.parse().ok()?,
            end: Some(SnapshotEnd {
                segment: segment.parse().ok()?,
                offset: offset.parse().ok()?,
                next_seq: next_seq.parse().ok()?,
            }),
        }),
        _ => None,
    }
}

/// A client of the control socket.
pub struct ControlClient {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The server answered `ERR …`.
    #[error("the server refused: {0}")]
    Refused(String),
    #[error("the server answered something unexpected: {0:?}")]
    Garbled(String),
}

impl ControlClient {
    /// Connect to the control socket of the server running on `data_dir`.
    pub fn connect(data_dir: &Path) -> Result<ControlClient, ControlError> {
        let path = data_dir.join(SOCKET);
        let stream = UnixStream::connect(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        stream.set_read_timeout(Some(SHARD_TIMEOUT + Duration::from_secs(30)))?;
        Ok(ControlClient {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Send one request line; the data lines (without `* `) and the final `OK` text.
    pub fn request(&mut self, line: &str) -> Result<(Vec<String>, String), ControlError> {
        self.writer.write_all(format!("{line}\n").as_bytes())?;
        let mut data = Vec::new();
        loop {
            let mut answer = String::new();
            if self.reader.read_line(&mut answer)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the control connection",
                )
                .into());
            }
            let answer = answer.trim_end_matches('\n');
            if let Some(d) = answer.strip_prefix("* ") {
                data.push(d.to_string());
            } else if answer == "OK" {
                return Ok((data, String::new()));
            } else if let Some(text) = answer.strip_prefix("OK ") {
                return Ok((data, text.to_string()));
            } else if let Some(text) = answer.strip_prefix("ERR ") {
                return Err(ControlError::Refused(text.to_string()));
            } else {
                return Err(ControlError::Garbled(answer.to_string()));
            }
        }
    }

    /// `snapshot`: the new snapshot folder's name and its partitions.
    pub fn snapshot(&mut self) -> Result<(String, Vec<PartitionSnapshot>), ControlError> {
        let (data, name) = self.request("snapshot")?;
        let partitions = data
            .iter()
            .map(|l| parse_partition(l).ok_or_else(|| ControlError::Garbled(l.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((name, partitions))
    }

    /// `release <name>`.
    pub fn release(&mut self, name: &str) -> Result<(), ControlError> {
        self.request(&format!("release {name}")).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_parse() {
        assert_eq!(parse_request("snapshot"), Ok(Request::Snapshot));
        assert_eq!(
            parse_request("release 17-ab"),
            Ok(Request::Release("17-ab".into()))
        );
        assert_eq!(
            parse_request("snapshot now"),
            Err("wrong arguments for snapshot".into())
        );
        assert_eq!(
            parse_request("release"),
            Err("wrong arguments for release".into())
        );
        assert_eq!(parse_request("who"), Ok(Request::Who));
        assert_eq!(
            parse_request("kick Alice@Example.com"),
            Ok(Request::Kick("alice@example.com".into()))
        );
        assert_eq!(parse_request("stats"), Ok(Request::Stats));
        assert_eq!(parse_request("flush-uses"), Ok(Request::FlushUses));
        assert_eq!(
            parse_request("queue show 6A1B"),
            Ok(Request::Queue(QueueOp::Show("6A1B".into())))
        );
        assert_eq!(
            parse_request("queue delete 6A1B"),
            Ok(Request::Queue(QueueOp::Delete("6A1B".into())))
        );
        assert_eq!(
            parse_request("queue retry"),
            Ok(Request::Queue(QueueOp::Retry(None)))
        );
        assert_eq!(
            parse_request("queue retry 6A1B"),
            Ok(Request::Queue(QueueOp::Retry(Some("6A1B".into()))))
        );
        assert_eq!(
            parse_request("queue retry 6A1B now"),
            Err("wrong arguments for queue".into())
        );
        assert_eq!(
            parse_request("kick"),
            Err("wrong arguments for kick".into())
        );
        assert_eq!(
            parse_request("shutdown"),
            Err("unknown command \"shutdown\"".into())
        );
    }

    #[test]
    fn who_and_queue_lines_round_trip() {
        let session = SessionInfo {
            shard: 1,
            protocol: "imap",
            listener: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            client: "[2001:db8::1]:4000".parse().unwrap(),
            tls: true,
            connected: 1_700_000_000,
            idle_secs: 12,
            bytes_in: 100,
            bytes_out: 2000,
            commands: 7,
            account: Some("alice@example.com".into()),
            user: Some("Alice With\tTab".into()),
        };
        let back = parse_session(&render_session(&session)).unwrap();
        assert_eq!(back.user.as_deref(), Some("Alice With Tab"));
        assert_eq!(
            SessionInfo {
                user: session.user.clone(),
                ..back
            },
            session
        );
        let anonymous = SessionInfo {
            account: None,
            user: None,
            ..session
        };
        assert_eq!(parse_session(&render_session(&anonymous)), Some(anonymous));
        let queued = QueuedMessage {
            dsn: Default::default(),
            id: "6A1B".into(),
            reverse_path: String::new(),
            recipients: vec!["\"a b\"@x.org".into(), "c@y.net".into()],
            size: 1234,
            accepted: 1_700_000_000,
        };
        assert_eq!(parse_queued(&render_queued(&queued)), Some(queued));
        assert_eq!(parse_queued("6A1B\t1\t2\tnobrackets\t<a@b>"), None);
    }

    #[test]
    fn stats_sum_the_shards() {
        let mut one = ShardStats::default();
        one.open[0] = 2;
        one.logins_failed[1] = 3;
        one.messages_accepted = 5;
        let mut two = one.clone();
        two.open[0] = 1;
        let lines = render_stats(&[(one, None), (two, Some(4))], 9);
        for expected in [
            "ringpost_uptime_seconds 9",
            "ringpost_shards 2",
            "ringpost_connections_open{protocol=\"imap\"} 3",
            "ringpost_logins_total{protocol=\"pop3\",result=\"failed\"} 6",
            "ringpost_messages_total{result=\"accepted\"} 10",
            "ringpost_queue_messages 4",
            "ringpost_shard_connections_open{shard=\"1\"} 1",
        ] {
            assert!(lines.iter().any(|l| l == expected), "{expected}: {lines:?}");
        }
    }

    #[test]
    fn partition_lines_round_trip() {
        for p in [
            PartitionSnapshot {
                partition: 582,
                end: Some(SnapshotEnd {
                    segment: 3,
                    offset: 12_345,
                    next_seq: 1_000,
                }),
            },
            PartitionSnapshot {
                partition: 7,
                end: None,
            },
        ] {
            assert_eq!(parse_partition(&render_partition(&p)), Some(p));
        }
        assert_eq!(parse_partition("partition x whole"), None);
        assert_eq!(parse_partition("partition 1 end 2 3"), None);
    }

    #[test]
    fn lines_are_bounded_and_utf8() {
        let mut ok = &b"snapshot\nrelease a\n"[..];
        assert_eq!(read_line(&mut ok).unwrap().as_deref(), Some("snapshot"));
        assert_eq!(read_line(&mut ok).unwrap().as_deref(), Some("release a"));
        assert_eq!(read_line(&mut ok).unwrap(), None);
        let long = vec![b'x'; MAX_LINE + 10];
        assert!(read_line(&mut &long[..]).is_err());
        assert!(read_line(&mut &b"\xff\n"[..]).is_err());
        assert!(read_line(&mut &b"no newline"[..]).is_err());
    }

    #[test]
    fn only_the_owner_can_reach_the_socket() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SOCKET);
        std::fs::write(&path, b"stale").unwrap();
        let _listener = bind_private(dir.path(), &path).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        UnixStream::connect(&path).unwrap();
        // The private folder it was bound in is gone.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from(SOCKET)]);
    }
}
