//! The control socket, `data_dir/control.sock`: how `ringpost` commands ask the running
//! server to do something (today: the snapshot `ringpost backup` copies; later `queue`,
//! `who`, `kick`, `stats`). Both ends of the protocol are here; what a command does is
//! elsewhere (the store links a snapshot, [`crate::backup`] lays out its folder).
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

use crate::backup::SnapshotFolder;
use crate::store::{PartitionSnapshot, SnapshotEnd, Store};

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
}

/// Start every job waiting in `jobs` as a task of the calling shard.
pub(crate) fn start_jobs(jobs: &mpsc::Receiver<ShardJob>, store: &Store) {
    while let Ok(job) = jobs.try_recv() {
        let store = store.clone();
        glommio::spawn_local(async move {
            match job {
                ShardJob::Snapshot { into, reply } => {
                    let linked = store.link_snapshot(&into).await;
                    let _ = reply.send(linked.map_err(|e| e.to_string()));
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
        stop: Arc<AtomicBool>,
    ) -> io::Result<ControlSocket> {
        let path = data_dir.join(SOCKET);
        let listener = bind_private(data_dir, &path)?;
        listener.set_nonblocking(true)?;
        let (data_dir, shards) = (data_dir.to_path_buf(), Arc::new(shards));
        let thread_path = path.clone();
        let thread = std::thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                accept_loop(&listener, &data_dir, &shards, &stop);
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

fn accept_loop(
    listener: &UnixListener,
    data_dir: &Path,
    shards: &Arc<Vec<mpsc::Sender<ShardJob>>>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (data_dir, shards) = (data_dir.to_path_buf(), shards.clone());
                let spawned = std::thread::Builder::new()
                    .name("control-conn".into())
                    .spawn(move || {
                        if let Err(e) = serve_connection(stream, &data_dir, &shards) {
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
}

fn parse_request(line: &str) -> Result<Request, String> {
    let mut words = line.split(' ');
    let command = words.next().unwrap_or_default();
    let args: Vec<&str> = words.collect();
    match (command, args.as_slice()) {
        ("snapshot", []) => Ok(Request::Snapshot),
        ("release", [name]) => Ok(Request::Release((*name).to_string())),
        ("snapshot" | "release", _) => Err(format!("wrong arguments for {command}")),
        _ => Err(format!("unknown command {command:?}")),
    }
}

/// Serve one client until it closes; release whatever snapshots it still holds.
fn serve_connection(
    stream: UnixStream,
    data_dir: &Path,
    shards: &[mpsc::Sender<ShardJob>],
) -> io::Result<()> {
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
        assert_eq!(parse_request("who"), Err("unknown command \"who\"".into()));
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
