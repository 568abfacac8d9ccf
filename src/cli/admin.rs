//! The administration commands that ask the running server over its control socket
//! (`data_dir/control.sock`, see [`crate::runtime::control`]) and, where that makes sense,
//! work on the stopped server's data instead: `who`, `kick`, `stats`, `queue list|show|delete`,
//! and the session ending of `user del`.

use std::io;

use super::{print, CliError};
use crate::config::Config;
use crate::outbound::state::DeliveryState;
use crate::queue::{QueueAnswer, QueueOp, QueuedMessage, Shown};
use crate::runtime;
use crate::runtime::control::{self, ControlClient, ControlError};

/// Whom a command talks to: the running server, or the data folder of a stopped one (whose
/// lock is held until this is dropped).
enum Target {
    Server(ControlClient),
    Offline(#[allow(dead_code)] std::fs::File),
}

/// The running server's control socket, or the data-dir lock if no server runs.
fn target(config: &Config) -> Result<Target, CliError> {
    match runtime::lock_data_dir(&config.data_dir) {
        Ok(lock) => Ok(Target::Offline(lock)),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => ControlClient::connect(&config.data_dir)
            .map(Target::Server)
            .map_err(|c| {
                CliError::Admin(format!(
                    "a server runs on {} but its control socket does not answer: {c}",
                    config.data_dir.display()
                ))
            }),
        Err(e) => Err(CliError::Admin(e.to_string())),
    }
}

/// The running server's control socket; an error naming the data folder if none runs.
fn server(config: &Config) -> Result<ControlClient, CliError> {
    match target(config)? {
        Target::Server(client) => Ok(client),
        Target::Offline(_) => Err(CliError::Admin(format!(
            "no server is running on {}",
            config.data_dir.display()
        ))),
    }
}

fn refused(e: ControlError) -> CliError {
    CliError::Admin(e.to_string())
}

/// `ringpost who [ACCOUNT]`: the sessions of every shard, by account.
pub(super) fn who(config: &Config, account: Option<&str>) -> Result<(), CliError> {
    let (lines, _) = server(config)?.request("who").map_err(refused)?;
    let mut sessions = lines
        .iter()
        .map(|l| control::parse_session(l).ok_or_else(|| CliError::Admin(format!("garbled: {l}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(wanted) = account {
        let wanted = wanted.to_lowercase();
        sessions.retain(|s| s.account.as_deref() == Some(wanted.as_str()));
    }
    sessions.sort_by(|a, b| {
        (a.account.is_none(), &a.account, a.protocol, a.connected).cmp(&(
            b.account.is_none(),
            &b.account,
            b.protocol,
            b.connected,
        ))
    });
    let mut out = format!(
        "{:<32} {:<10} {:<24} {:>5} {:<5} {:<20} {:>6} {:>10} {:>10}\n",
        "ACCOUNT", "PROTOCOL", "CLIENT", "SHARD", "TLS", "CONNECTED", "IDLE", "IN", "OUT"
    );
    for s in &sessions {
        out.push_str(&format!(
            "{:<32} {:<10} {:<24} {:>5} {:<5} {:<20} {:>5}s {:>10} {:>10}\n",
            s.account.as_deref().unwrap_or("-"),
            s.protocol,
            s.client.to_string(),
            s.shard,
            if s.tls { "yes" } else { "no" },
            crate::date::rfc3339(s.connected),
            s.idle_secs,
            s.bytes_in,
            s.bytes_out,
        ));
    }
    let accounts = {
        let mut a: Vec<_> = sessions
            .iter()
            .filter_map(|s| s.account.as_deref())
            .collect();
        a.dedup();
        a.len()
    };
    out.push_str(&format!(
        "{} sessions, {accounts} accounts logged in\n",
        sessions.len()
    ));
    print(&out)
}

/// `ringpost kick ACCOUNT`.
pub(super) fn kick(config: &Config, account: &str) -> Result<(), CliError> {
    let address = account.to_lowercase();
    let (_, count) = server(config)?
        .request(&format!("kick {address}"))
        .map_err(refused)?;
    print(&format!("{count} sessions of {address} ended\n"))
}

/// `ringpost stats`: the server's figures, one `name value` per line.
pub(super) fn stats(config: &Config) -> Result<(), CliError> {
    let (lines, _) = server(config)?.request("stats").map_err(refused)?;
    let mut out = lines.join("\n");
    out.push('\n');
    print(&out)
}

/// After `user del`: end the account's sessions now if a server runs. Its accounts watcher
/// would end them within a second anyway; this makes it immediate, and says how many.
pub(super) fn end_sessions_of_deleted(config: &Config, address: &str) -> String {
    match runtime::lock_data_dir(&config.data_dir) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {}
        // No server runs (the lock was ours for a moment).
        _ => return String::new(),
    }
    match ControlClient::connect(&config.data_dir)
        .and_then(|mut c| c.request(&format!("kick {address}")))
    {
        Ok((_, count)) => format!("{count} sessions of {address} ended\n"),
        Err(e) => format!(
            "the server could not be asked to end the sessions now ({e}); it ends them within a second\n"
        ),
    }
}

/// Have the running server (if any) write the credentials' last use now, so a listing shows
/// logins of the last minute too. Without a server, or if it does not answer, the file is
/// as the server last wrote it.
pub(super) fn flush_uses(config: &Config) {
    if !matches!(runtime::lock_data_dir(&config.data_dir), Err(e) if e.kind() == io::ErrorKind::AddrInUse)
    {
        return;
    }
    let _ = ControlClient::connect(&config.data_dir).and_then(|mut c| c.request("flush-uses"));
}

/// `ringpost queue list|show|delete`: asked of the running server, or done on the stopped
/// server's store.
pub(super) fn queue(config: &Config, op: QueueOp) -> Result<(), CliError> {
    let answer = match target(config)? {
        Target::Server(mut client) => {
            let request = match &op {
                QueueOp::List => "queue list".to_string(),
                QueueOp::Show(id) => format!("queue show {id}"),
                QueueOp::Delete(id) => format!("queue delete {id}"),
                QueueOp::Retry(None) => "queue retry".to_string(),
                QueueOp::Retry(Some(id)) => format!("queue retry {id}"),
            };
            match client.request(&request) {
                Ok((lines, text)) => answer_from_lines(&op, &lines, &text)?,
                Err(ControlError::Refused(e)) if e.starts_with("no such message") => match op {
                    QueueOp::Delete(_) => QueueAnswer::Deleted(false),
                    _ => QueueAnswer::Show(None),
                },
                Err(e) => return Err(refused(e)),
            }
        }
        Target::Offline(_lock) => {
            let store_config = runtime::store_config(config);
            let root = config.data_dir.join("store");
            let op = op.clone();
            runtime::run_standalone("queue", move || {
                crate::queue::run_offline(root, store_config, op)
            })
            .map_err(CliError::Queue)?
            .map_err(|e| CliError::Queue(io::Error::other(e.to_string())))?
        }
    };
    match (op, answer) {
        (_, QueueAnswer::List(queued)) => {
            let mut out = String::new();
            for q in &queued {
                out.push_str(&format!(
                    "{}  {}  {:>8}  <{}>  {}\n",
                    q.id,
                    crate::date::rfc5322(q.accepted),
                    q.size,
                    q.reverse_path,
                    brackets(&q.recipients, " ")
                ));
            }
            out.push_str(&format!("{} queued\n", queued.len()));
            print(&out)
        }
        (_, QueueAnswer::Show(Some(shown))) => {
            let mut out = envelope(&shown.message);
            if let Some(state) = &shown.state {
                out.push_str(&delivery_state(&shown.message, state));
            }
            out.push('\n');
            out.push_str(&String::from_utf8_lossy(&shown.bytes).replace("\r\n", "\n"));
            print(&out)
        }
        (QueueOp::Delete(id), QueueAnswer::Deleted(true)) => print(&format!("deleted {id}\n")),
        (QueueOp::Retry(Some(id)), QueueAnswer::Retried(0)) => {
            Err(CliError::Admin(format!("no message {id} in the queue")))
        }
        (QueueOp::Retry(_), QueueAnswer::Retried(n)) => print(&format!("{n} messages due now\n")),
        (QueueOp::Show(id) | QueueOp::Delete(id), _) => {
            Err(CliError::Admin(format!("no message {id} in the queue")))
        }
        (QueueOp::List | QueueOp::Retry(_), _) => Err(CliError::Admin("unexpected answer".into())),
    }
}

/// What the server's data lines for `op` say.
fn answer_from_lines(op: &QueueOp, lines: &[String], text: &str) -> Result<QueueAnswer, CliError> {
    let garbled =
        |l: &str| CliError::Admin(format!("the server answered something unexpected: {l}"));
    let parse = |l: &String| control::parse_queued(l).ok_or_else(|| garbled(l));
    Ok(match op {
        QueueOp::List => QueueAnswer::List(lines.iter().map(parse).collect::<Result<_, _>>()?),
        QueueOp::Show(_) => {
            let (first, rest) = lines.split_first().ok_or_else(|| garbled(text))?;
            // The state record's lines, up to an empty line; then the message.
            let blank = rest.iter().position(String::is_empty).unwrap_or(0);
            let record: String = rest[..blank].iter().map(|l| format!("{l}\r\n")).collect();
            let state = DeliveryState::parse(format!("{record}\r\n").as_bytes());
            let mut bytes = Vec::new();
            for line in rest.get(blank + 1..).unwrap_or_default() {
                bytes.extend_from_slice(line.as_bytes());
                bytes.extend_from_slice(b"\r\n");
            }
            QueueAnswer::Show(Some(Box::new(Shown {
                message: parse(first)?,
                state,
                bytes,
            })))
        }
        QueueOp::Delete(_) => QueueAnswer::Deleted(text == "deleted"),
        QueueOp::Retry(_) => QueueAnswer::Retried(text.parse().map_err(|_| garbled(text))?),
    })
}

fn brackets(addresses: &[String], separator: &str) -> String {
    addresses
        .iter()
        .map(|r| format!("<{r}>"))
        .collect::<Vec<_>>()
        .join(separator)
}

/// A queued message's delivery state as `queue show` prints it below the envelope.
fn delivery_state(q: &QueuedMessage, state: &DeliveryState) -> String {
    let mut out = format!("Attempts: {}\n", state.attempts);
    if state.due > 0 {
        out.push_str(&format!(
            "Next attempt: {}\n",
            crate::date::rfc5322(state.due)
        ));
    }
    if state.warned {
        out.push_str("Delay notice: sent\n");
    }
    for (i, rcpt) in q.recipients.iter().enumerate() {
        if state.done.contains(&i) {
            out.push_str(&format!("Done: <{rcpt}>\n"));
        } else if let Some(why) = state.deferred.get(&i) {
            out.push_str(&format!("Deferred: <{rcpt}>: {why}\n"));
        }
    }
    out
}

/// The envelope of a queued message as `queue show` prints it above the message.
fn envelope(q: &QueuedMessage) -> String {
    format!(
        "Queue-Id: {}\nAccepted: {}\nSize: {}\nSender: <{}>\nRecipients: {}\n",
        q.id,
        crate::date::rfc5322(q.accepted),
        q.size,
        q.reverse_path,
        brackets(&q.recipients, ", ")
    )
}
