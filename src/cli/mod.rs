//! The `ringpost` command line: run the server, check the configuration, manage accounts,
//! import mail (with the server stopped), back up and restore the data folder, make DKIM keys.
//!
//! Exit codes: 0 done; 1 the operation failed (the server stopped with an error, the account
//! exists or does not, the domain is not local, the address is malformed); 2 the command line
//! or the configuration is invalid. `fsck`: 0 the store is clean, 1 problems found, 2 it could
//! not run (the server holds the data, a bad configuration, an unreadable file).
//!
//! A password is never taken from the command line, where `ps` and the shell history would
//! show it: it is prompted for twice on a terminal, or read as one line from standard input.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

mod accounts;
mod admin;
mod cluster;
mod dkim;

use clap::{Parser, Subcommand};

use crate::accounts::{
    AccountError, AccountStore, Address, Incarnation, Limit, Retention, MAX_PASSWORD_LEN,
};
use crate::config::{Config, ConfigError, TlsSource};
use crate::queue::QueueOp;
use crate::runtime;
use crate::session::{Secret, TlsMode};
use crate::tls::{self, TlsError};

/// ringpost: a thread-per-core mail engine (IMAP, POP3, SMTP).
#[derive(Debug, Parser)]
#[command(name = "ringpost", version)]
struct Cli {
    /// The configuration file [default: config/ringpost.toml, or /etc/ringpost/ringpost.toml
    /// where that does not exist]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
enum Command {
    /// Run the server until SIGINT or SIGTERM (log level: RINGPOST_LOG, default `info`).
    Serve,
    /// Validate the configuration and print a summary.
    CheckConfig,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The account database itself (`[accounts]`): schema migrations, importing the file.
    #[command(subcommand)]
    Accounts(accounts::AccountsCommand),
    /// Inspect the outbound queue (mail accepted for other domains): asked of the running
    /// server over its control socket, or read from the store when it is stopped.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// List the sessions of the running server: account, protocol, client address, shard,
    /// TLS, when it connected, idle time and bytes. With ACCOUNT, only its sessions.
    Who { account: Option<String> },
    /// End every session of an account on the running server (each says goodbye as for a
    /// deleted account); prints how many there were.
    Kick { account: String },
    /// The running server's figures since it started, one `name value` per line (names and
    /// labels as Prometheus writes them): connections, logins, refusals, messages, bytes,
    /// the queue's length, what is open now.
    Stats,
    /// Import mail into an existing account. The server must be stopped.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Check the message store offline (the server must be stopped).
    ///
    /// Verifies every log segment (record framing, CRC-32C, sequence numbers and the chain of
    /// records), the checkpoints, and every account index against the log (UID order,
    /// UIDNEXT, modseqs, sizes, every message's bytes in an existing record), and prints a
    /// report per partition. Exit status: 0 clean (a torn tail left by a crash is a warning),
    /// 1 problems found, 2 could not run.
    Fsck {
        /// Rebuild the index files and checkpoint of each partition with problems from its
        /// log (the log is the truth; replaced files are kept in the partition's
        /// fsck-backup-<time> folder), then check again. A damaged log is never changed.
        #[arg(long)]
        repair: bool,
    },
    /// Copy a consistent snapshot of the data folder (accounts, certificate, message store)
    /// into DEST, a new or empty folder.
    ///
    /// While the server runs, it is asked over its control socket (data_dir/control.sock)
    /// to hard-link every partition at one instant, and delivery goes on; every message
    /// acknowledged before the command started is in the backup. With the server stopped,
    /// the data-dir lock is taken and the files are copied as they are. Prints each
    /// partition's snapshot point and what was copied; the manifest DEST/ringpost-backup,
    /// written last, lists every file with its CRC-32C.
    Backup { dest: PathBuf },
    /// Copy the backup in SRC into the configured data_dir, which must be empty or absent
    /// with no server running on it; then open (recover) the store and count what it holds.
    Restore { src: PathBuf },
    /// DKIM keys for signing submitted mail.
    #[command(subcommand)]
    Dkim(DkimCommand),
    /// The cluster map in etcd (needs `[cluster]`): status, bootstrap, add and drain nodes.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
enum ClusterCommand {
    /// Nodes (state, advertised address, primaries and replicas each holds) and a summary
    /// of the partitions and their epochs.
    Status,
    /// Create the map over NODES (default: this host's `[cluster] node`) unless one exists.
    /// Not needed when the first nodes are simply started: they create it over themselves.
    Init {
        /// Comma-separated node names.
        #[arg(long, value_delimiter = ',')]
        nodes: Vec<String>,
    },
    /// Place NAME in the map and move its share of partitions to it (a new primary or
    /// replica gets the partition's next epoch). A new replica copies its partition's mail;
    /// a primary moved to NAME does not yet (the command counts those moves).
    AddNode {
        name: String,
        /// Add it even though it is not live (has not registered with etcd).
        #[arg(long)]
        force: bool,
        /// Print the plan's size without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Make the cluster's CA (DIR/ca.pem, and its key DIR/ca.key, mode 0600): every host's
    /// certificate for the internal link is issued by it. Keep the key off the hosts.
    Ca {
        /// Where to write them (created if missing; existing files are not overwritten).
        dir: PathBuf,
    },
    /// Issue NODE's certificate for the internal link (OUT/NODE.pem, OUT/NODE.key) with the
    /// CA in CA_DIR; copy the CA's ca.pem and these two to the host, as `[cluster]` ca, cert
    /// and key.
    Cert {
        node: String,
        /// The folder `cluster ca` wrote.
        #[arg(long = "ca")]
        ca_dir: PathBuf,
        /// Where to write them (default: the CA's folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Mark NAME draining and move every partition it holds to the other placed nodes
    /// (primaries to their replicas where there are any: they hold the mail).
    DrainNode {
        name: String,
        /// Print the plan's size without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Which partition ACCOUNT's mail is in, and which nodes hold it (primary, replicas,
    /// epoch) by the map in etcd.
    Where { account: String },
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
enum DkimCommand {
    /// Make a key for DOMAIN and SELECTOR, write it (mode 0600, never over an existing file)
    /// to data_dir/dkim/<SELECTOR>._domainkey.<DOMAIN>.pem or --out, and print its DNS TXT
    /// record and the [[dkim]] table to add to the configuration.
    Generate {
        domain: String,
        selector: String,
        /// rsa: verified by every receiver; ed25519 (RFC 8463): short, but not verified
        /// everywhere yet — publish it beside an RSA key, not instead of one.
        #[arg(long, value_enum, default_value_t = DkimKeyType::Rsa)]
        algorithm: DkimKeyType,
        /// The RSA key's size (2048 to 4096).
        #[arg(long, default_value_t = 2048)]
        bits: usize,
        /// Write the key here instead of into the data folder.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DkimKeyType {
    Rsa,
    Ed25519,
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
enum QueueCommand {
    /// List the queued messages: id, accepted, size, sender, recipients.
    List,
    /// Print a queued message's envelope and the message as stored.
    Show { id: String },
    /// Remove a message from the queue without sending it or a bounce.
    Delete { id: String },
    /// Try a message (or, without ID, every message) now instead of at its next due time.
    Retry { id: Option<String> },
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
enum ImportCommand {
    /// Import a Maildir: Maildir++ `.Folder` and plain subfolders, `:2,` flags, file times as
    /// internal dates, and Dovecot's UIDVALIDITY, UIDs and UIDNEXT where `dovecot-uidlist`
    /// files are present.
    Maildir { address: String, path: PathBuf },
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from standard input, or prompted for twice.
    Add { address: String },
    /// Change an account's password (read like `user add`'s); with `--protocol`, set its
    /// protocol password instead: the one IMAP, POP3, SMTP and DAV take when `[auth]
    /// protocol_password = "separate"`.
    Passwd {
        address: String,
        #[arg(long)]
        protocol: bool,
    },
    /// App passwords: generated by the server, named, scoped, shown once, revocable.
    #[command(subcommand)]
    AppPassword(AppPasswordCommand),
    /// Delete an account: its sessions end and nobody can log in or receive mail as it.
    /// Its mail is kept, invisible, for `user restore` unless `--purge` is given. An
    /// account created later with the same address starts empty either way.
    Del {
        address: String,
        /// Keep the mail, invisible, for `user restore` (the default).
        #[arg(long, conflicts_with = "purge")]
        keep_data: bool,
        /// Remove the mail: the running server does it at once, or at its next start.
        #[arg(long)]
        purge: bool,
    },
    /// Bring back a deleted account whose mail was kept, with its mail and password (the
    /// one deleted last, or the given incarnation; see `user list --deleted`).
    Restore {
        address: String,
        #[arg(long)]
        incarnation: Option<String>,
    },
    /// Remove the kept mail of a deleted account (every kept incarnation of the address, or
    /// the given one).
    Purge {
        address: String,
        #[arg(long)]
        incarnation: Option<String>,
    },
    /// Show or set an account's quota. Each limit is a size (`500M`, `2G`, bytes without a
    /// suffix) or a count of messages, `none` for no limit, or `default` for `[quota]`'s.
    /// Without options, shows the account's limits. A running server applies them at the
    /// next APPEND, COPY or delivery.
    Quota {
        address: String,
        /// Bytes of all messages together.
        #[arg(long, value_name = "LIMIT")]
        storage: Option<String>,
        /// Messages in all mailboxes together.
        #[arg(long, value_name = "LIMIT")]
        messages: Option<String>,
    },
    /// List the accounts, one per line; with `--deleted`, the deleted ones with their
    /// incarnation, deletion time and whether their mail is kept or purged.
    List {
        #[arg(long)]
        deleted: bool,
    },
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
enum AppPasswordCommand {
    /// Make a new app password and print it (the only time it is shown).
    Add {
        address: String,
        /// What it is for ("Thunderbird at home").
        #[arg(long)]
        name: String,
        /// Comma-separated: imap, pop3, smtp, dav (default: all four).
        #[arg(long)]
        scopes: Option<String>,
    },
    /// The account's protocol and app passwords: id, kind, scopes, created, last used, name.
    List { address: String },
    /// Remove an app password (or the protocol password) by id; sessions that logged in
    /// with it end.
    Revoke { address: String, id: String },
}

/// Why a command failed; each maps to an exit code.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error("reading the password: {0}")]
    Password(String),
    #[error("writing the output: {0}")]
    Output(std::io::Error),
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
    #[error("reading the queue: {0}")]
    Queue(std::io::Error),
    #[error("{0}")]
    Admin(String),
    #[error("import failed: {0}")]
    Import(String),
    #[error("backup failed: {0}")]
    Backup(crate::backup::BackupError),
    #[error("restore failed: {0}")]
    Restore(crate::backup::BackupError),
    #[error("{0}")]
    Usage(String),
    #[error("fsck could not run: {0}")]
    Fsck(String),
    #[error("fsck: the store has problems (listed above)")]
    FsckProblems,
    #[error("dkim: {0}")]
    Dkim(String),
}

impl CliError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Config(_) | CliError::Tls(_) | CliError::Usage(_) | CliError::Fsck(_) => {
                ExitCode::from(2)
            }
            CliError::Account(_)
            | CliError::Password(_)
            | CliError::Output(_)
            | CliError::Serve(_)
            | CliError::Queue(_)
            | CliError::Admin(_)
            | CliError::Import(_)
            | CliError::FsckProblems
            | CliError::Dkim(_)
            | CliError::Backup(_)
            | CliError::Restore(_) => ExitCode::from(1),
        }
    }
}

/// Parse the command line, run the command and say how it went.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with success; usage errors to stderr with 2.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringpost: {e}");
            e.exit_code()
        }
    }
}

/// The development configuration, relative to the working directory (a source checkout).
const DEV_CONFIG: &str = "config/ringpost.toml";
/// Where a packaged install keeps its configuration.
const SYSTEM_CONFIG: &str = "/etc/ringpost/ringpost.toml";

/// `--config`, or the development file when it exists here, or the system one.
fn config_path(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        if std::path::Path::new(DEV_CONFIG).exists() {
            PathBuf::from(DEV_CONFIG)
        } else {
            PathBuf::from(SYSTEM_CONFIG)
        }
    })
}

fn execute(cli: Cli) -> Result<(), CliError> {
    let config_file = config_path(cli.config);
    match cli.command {
        Command::Serve => serve(Config::load(&config_file)?),
        Command::CheckConfig => check_config(&Config::load(&config_file)?),
        Command::User(command) => {
            let config = Config::load(&config_file)?;
            let store = AccountStore::open_configured(&config)?;
            user(&store, &config, command)
        }
        Command::Accounts(command) => accounts::accounts(&Config::load(&config_file)?, command),
        Command::Queue(command) => {
            let config = Config::load(&config_file)?;
            admin::queue(
                &config,
                match command {
                    QueueCommand::List => QueueOp::List,
                    QueueCommand::Show { id } => QueueOp::Show(id),
                    QueueCommand::Delete { id } => QueueOp::Delete(id),
                    QueueCommand::Retry { id } => QueueOp::Retry(id),
                },
            )
        }
        Command::Who { account } => admin::who(&Config::load(&config_file)?, account.as_deref()),
        Command::Kick { account } => admin::kick(&Config::load(&config_file)?, &account),
        Command::Stats => admin::stats(&Config::load(&config_file)?),
        Command::Import(ImportCommand::Maildir { address, path }) => {
            import_maildir(&Config::load(&config_file)?, &address, &path)
        }
        Command::Fsck { repair } => fsck(&Config::load(&config_file)?, repair),
        Command::Backup { dest } => backup(&Config::load(&config_file)?, &dest),
        Command::Restore { src } => restore(&Config::load(&config_file)?, &src),
        Command::Cluster(ClusterCommand::Ca { dir }) => cluster::make_ca(&dir),
        Command::Cluster(ClusterCommand::Cert { node, ca_dir, out }) => {
            cluster::make_cert(&node, &ca_dir, out.as_deref().unwrap_or(&ca_dir))
        }
        Command::Cluster(command) => cluster::cluster(
            &Config::load(&config_file)?,
            match command {
                ClusterCommand::Status => cluster::ClusterOp::Status,
                ClusterCommand::Init { nodes } => cluster::ClusterOp::Init { nodes },
                ClusterCommand::AddNode {
                    name,
                    force,
                    dry_run,
                } => cluster::ClusterOp::AddNode {
                    node: name,
                    force,
                    dry_run,
                },
                ClusterCommand::DrainNode { name, dry_run } => cluster::ClusterOp::DrainNode {
                    node: name,
                    dry_run,
                },
                ClusterCommand::Where { account } => cluster::ClusterOp::Where { account },
                ClusterCommand::Ca { .. } | ClusterCommand::Cert { .. } => {
                    unreachable!("handled above")
                }
            },
        ),
        Command::Dkim(DkimCommand::Generate {
            domain,
            selector,
            algorithm,
            bits,
            out,
        }) => {
            let algorithm = match algorithm {
                DkimKeyType::Rsa => crate::config::dkim::DkimAlgorithm::Rsa { bits },
                DkimKeyType::Ed25519 => crate::config::dkim::DkimAlgorithm::Ed25519,
            };
            dkim::generate(
                &Config::load(&config_file)?,
                &domain,
                &selector,
                algorithm,
                out,
            )
        }
    }
}

/// `ringpost fsck [--repair]`, holding the data-dir lock the server takes.
fn fsck(config: &Config, repair: bool) -> Result<(), CliError> {
    use crate::store::fsck;
    let _lock = runtime::lock_data_dir(&config.data_dir)
        .map_err(|e| CliError::Fsck(format!("{e}; stop the server before running fsck")))?;
    // What --repair writes belongs to the server's user, as if the server had written it.
    runtime::privileges::drop_root(config.run_as.as_ref(), &config.data_dir)
        .map_err(|e| CliError::Fsck(e.to_string()))?;
    let root = config.data_dir.join("store");
    let failed = |e: crate::store::StoreError| CliError::Fsck(e.to_string());
    let report = if repair {
        let done = fsck::repair(&root).map_err(failed)?;
        let mut out = format!("{}repair:\n", done.before);
        if done.actions.is_empty() {
            out.push_str("  nothing to repair\n");
        }
        for action in &done.actions {
            out.push_str(&format!("  {action}\n"));
        }
        print(&format!("{out}after repair:\n"))?;
        done.after
    } else {
        fsck::check(&root).map_err(failed)?
    };
    print(&report.to_string())?;
    if report.is_clean() {
        Ok(())
    } else {
        Err(CliError::FsckProblems)
    }
}

/// `ringpost backup DEST`: what was copied and where each partition's copy stands.
fn backup(config: &Config, dest: &std::path::Path) -> Result<(), CliError> {
    use crate::backup::Source;
    let report = crate::backup::backup(config, dest).map_err(CliError::Backup)?;
    let from = match report.source {
        Source::Server => "from the running server",
        Source::Offline => "with the server stopped",
    };
    let open = report.partitions.iter().filter(|p| p.end.is_some()).count();
    let mut out = format!(
        "backed up {} into {} ({from})\nsnapshot taken {}; partitions: {} ({open} at their \
         durable log end, {} copied whole)\n",
        config.data_dir.display(),
        dest.display(),
        crate::date::rfc3339(report.taken_at),
        report.partitions.len(),
        report.partitions.len() - open,
    );
    for p in &report.partitions {
        match p.end {
            Some(end) => out.push_str(&format!(
                "  partition {:>4}: up to segment {} offset {} (next record {})\n",
                p.partition, end.segment, end.offset, end.next_seq
            )),
            None => out.push_str(&format!("  partition {:>4}: whole\n", p.partition)),
        }
    }
    out.push_str(&format!(
        "copied {} files, {} bytes; manifest {}\n",
        report.files,
        report.bytes,
        dest.join(crate::backup::MANIFEST).display()
    ));
    print(&out)
}

/// `ringpost restore SRC`: what was copied and what the restored store holds.
fn restore(config: &Config, src: &std::path::Path) -> Result<(), CliError> {
    let report = crate::backup::restore(config, src).map_err(CliError::Restore)?;
    print(&format!(
        "restored {} (snapshot taken {}) into {}: {} files, {} bytes\n\
         the store opens: partitions: {}, accounts: {}, messages: {}; accounts in the \
         accounts file: {}\n",
        src.display(),
        crate::date::rfc3339(report.taken_at),
        config.data_dir.display(),
        report.files,
        report.bytes,
        report.store.partitions,
        report.store.accounts,
        report.store.messages,
        report.accounts
    ))
}

/// Import the Maildir at `path` into the account `address`, holding the data-dir lock the
/// server takes, into the partition the server's shard map gives the account.
fn import_maildir(config: &Config, address: &str, path: &std::path::Path) -> Result<(), CliError> {
    use crate::store::import;

    let accounts = AccountStore::open_configured(config)?;
    let Some(account) = accounts.lookup(address)? else {
        let parsed = Address::parse(address, &config.local_domains)?;
        return Err(AccountError::Unknown(parsed).into());
    };
    if !path.join("cur").is_dir() && !path.join("new").is_dir() {
        return Err(CliError::Import(format!(
            "{} is not a Maildir (it has no cur/ or new/)",
            path.display()
        )));
    }
    let _lock = runtime::lock_data_dir(&config.data_dir)
        .map_err(|e| CliError::Import(format!("{e}: stop the server before importing")))?;
    // The imported mail belongs to the server's user, as if the server had written it.
    runtime::privileges::drop_root(config.run_as.as_ref(), &config.data_dir)
        .map_err(|e| CliError::Import(e.to_string()))?;
    let shards = runtime::shard_count(config).map_err(|e| CliError::Import(e.to_string()))?;
    let store_config = runtime::store_config(config);
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg:20} [{bar:40}] {pos}/{len} messages ({per_sec}, {eta} left)",
        )
        .map_err(|e| CliError::Import(e.to_string()))?
        .progress_chars("=> "),
    );
    let shown = bar.clone();
    let (root, map) = (
        config.data_dir.join("store"),
        runtime::ShardMap::new(shards),
    );
    let (name, maildir) = (account.store_key(), path.to_path_buf());
    let report = runtime::run_standalone("import", move || async move {
        import::maildir_offline(root, map, store_config, &name, &maildir, move |p| {
            shown.set_length(p.total);
            shown.set_position(p.done);
            shown.set_message(p.folder.to_string());
        })
        .await
    })
    .map_err(|e| CliError::Import(e.to_string()))
    .and_then(|imported| imported.map_err(|e| CliError::Import(e.to_string())));
    bar.finish_and_clear();
    let report = report?;
    let mut out = format!(
        "imported {} messages ({} bytes) in {} folders into {}\n",
        report.messages, report.bytes, report.folders, account.address
    );
    if report.skipped > 0 {
        out.push_str(&format!(
            "{} messages were already there and were skipped\n",
            report.skipped
        ));
    }
    if report.renumbered > 0 {
        out.push_str(&format!(
            "{} messages got new UIDs (their original UIDs were already used)\n",
            report.renumbered
        ));
    }
    print(&out)
}

fn serve(config: Config) -> Result<(), CliError> {
    let (_flush_on_exit, set_log_level) = init_logging(&config.log);
    crate::runtime::serve(config, set_log_level).map_err(CliError::Serve)
}

/// The filter for `[log] level`. rustls' own warnings are about a client's handshake
/// (an IP address as SNI, which RFC 6066 §3 forbids and clients like wrk send anyway: one
/// line per connection) and are left out unless the level names rustls.
fn level_filter(level: &str) -> Result<tracing_subscriber::EnvFilter, String> {
    let filter = tracing_subscriber::EnvFilter::try_new(level).map_err(|e| e.to_string())?;
    if level.contains("rustls") {
        return Ok(filter);
    }
    match "rustls=error".parse() {
        Ok(directive) => Ok(filter.add_directive(directive)),
        Err(_) => Ok(filter),
    }
}

/// Log to stderr as `[log]` says: `format` text or JSON lines, filtered by `level` unless
/// `RINGPOST_LOG` is set (tracing `EnvFilter` syntax); colours only on a terminal.
///
/// Lines go through a bounded in-memory queue to a writer thread: a shard never blocks on
/// stderr (a reader that stops draining the pipe would stall every shard behind the stderr
/// lock). When the queue is
/// full, lines are dropped and counted rather than stalling the server. The returned guard
/// flushes what is queued when `serve` returns.
fn init_logging(
    log: &crate::config::LogConfig,
) -> (
    tracing_appender::non_blocking::WorkerGuard,
    crate::runtime::SetLogLevel,
) {
    use tracing_subscriber::EnvFilter;
    let from_env = std::env::var("RINGPOST_LOG").is_ok_and(|s| !s.is_empty());
    let configured = || level_filter(&log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = match std::env::var("RINGPOST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            eprintln!(
                "ringpost: RINGPOST_LOG={spec:?} is not a valid filter ({e}); using [log] level"
            );
            configured()
        }),
        _ => configured(),
    };
    let ansi = std::io::stderr().is_terminal();
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let refuse_if_env = move || -> Result<(), String> {
        if from_env {
            return Err("RINGPOST_LOG is set and wins over [log] level".into());
        }
        Ok(())
    };
    // try_init fails only if a subscriber is already installed, which then keeps logging.
    let set_log_level: crate::runtime::SetLogLevel = match log.format {
        crate::config::LogFormat::Text => {
            let builder = builder.with_filter_reloading();
            let handle = builder.reload_handle();
            let _ = builder.try_init();
            Box::new(move |level: &str| {
                refuse_if_env()?;
                let filter = level_filter(level)?;
                handle.reload(filter).map_err(|e| e.to_string())
            })
        }
        crate::config::LogFormat::Json => {
            let builder = builder.json().flatten_event(true).with_filter_reloading();
            let handle = builder.reload_handle();
            let _ = builder.try_init();
            Box::new(move |level: &str| {
                refuse_if_env()?;
                let filter = level_filter(level)?;
                handle.reload(filter).map_err(|e| e.to_string())
            })
        }
    };
    (guard, set_log_level)
}

fn check_config(config: &Config) -> Result<(), CliError> {
    check_environment(config)?;
    let tls = match &config.tls {
        TlsSource::Files { cert, key } => {
            // Load them now: a bad certificate should fail here, not at the first handshake.
            tls::server_config(config)?;
            format!("{} and {}", cert.display(), key.display())
        }
        TlsSource::SelfSigned => {
            let (cert, key) = tls::self_signed_paths(&config.data_dir);
            let state = if cert.exists() && key.exists() {
                "present"
            } else {
                "generated on first start"
            };
            format!("self-signed, {} ({state})", cert.display())
        }
    };
    let mut out = format!(
        "configuration OK: {}\nhostname:      {}\ndata_dir:      {}\ntls:           {tls}\n\
         local domains: {}\nlisteners:\n",
        config.path.display(),
        config.hostname,
        config.data_dir.display(),
        config.local_domains.join(", "),
    );
    for listener in &config.listeners {
        let mode = match listener.tls {
            TlsMode::Starttls => "starttls",
            TlsMode::Implicit => "implicit tls",
            TlsMode::None => "no tls",
        };
        let proxy = match &listener.proxy_protocol {
            Some(trusted) => {
                let trusted: Vec<String> = trusted.iter().map(ToString::to_string).collect();
                format!(", PROXY protocol from {}", trusted.join(" "))
            }
            None => String::new(),
        };
        out.push_str(&format!(
            "  {:<11} {:<22} {mode}{proxy}\n",
            listener.protocol.name(),
            listener.address
        ));
    }
    if !config.dkim.is_empty() {
        out.push_str("dkim keys:\n");
    }
    for d in &config.dkim {
        let algorithm = match d.key.algorithm() {
            crate::config::dkim::DkimAlgorithm::Ed25519 => "ed25519".to_string(),
            crate::config::dkim::DkimAlgorithm::Rsa { bits } => format!("rsa {bits}"),
        };
        out.push_str(&format!(
            "  {}._domainkey.{} {algorithm} {}\n",
            d.selector,
            d.domain,
            d.key_path.display()
        ));
    }
    if let Some(c) = &config.cluster {
        out.push_str(&format!(
            "cluster:       node {} of cluster {}, advertised at {}; etcd {}; {} replica(s), {}\n",
            c.node,
            c.name,
            c.advertise,
            c.etcd.join(" "),
            c.replicas,
            match c.replication {
                crate::config::Replication::Sync => "sync",
                crate::config::Replication::Async => "async",
            }
        ));
    }
    if let Some(problem) = tls::hostname_problem(config) {
        out.push_str(&format!("warning: {problem}\n"));
    }
    print(&out)
}

/// What `serve` would trip over that the file alone does not show: a data folder it cannot
/// write, and (unless this data folder's server is the one running) an address another
/// process listens on.
fn check_environment(config: &Config) -> Result<(), CliError> {
    let unusable = |what: String| {
        CliError::Config(ConfigError::Invalid {
            path: config.path.clone(),
            key: "server.data_dir".into(),
            message: what,
        })
    };
    // Checking creates nothing: an absent data folder must be creatable in the nearest
    // folder that exists, an existing one writable.
    let existing = config
        .data_dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(std::path::Path::new("."));
    let probe = existing.join(format!(".ringpost-check-config-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| {
        unusable(format!(
            "{} cannot be written here ({}: {e})",
            config.data_dir.display(),
            existing.display()
        ))
    })?;
    let _ = std::fs::remove_file(&probe);
    // If this data folder's server runs (it holds the lock), its own listeners are no clash.
    let running = config.data_dir.exists() && runtime::lock_data_dir(&config.data_dir).is_err();
    if !running {
        runtime::ports_are_free(config).map_err(|e| {
            CliError::Config(ConfigError::Invalid {
                path: config.path.clone(),
                key: "listener".into(),
                message: e.to_string(),
            })
        })?;
    }
    Ok(())
}

/// A quota limit on the command line: `none`, `default`, a number, or (for sizes) a number
/// with `K`, `M`, `G` or `T` (powers of 1024).
fn parse_limit(text: &str, size: bool) -> Result<Limit, CliError> {
    let bad = || {
        CliError::Usage(format!(
            "{text:?} is not a limit: a number{}, `none` or `default`",
            if size { " (with K, M, G or T)" } else { "" }
        ))
    };
    if let Some(limit) = Limit::parse(text) {
        return Ok(limit);
    }
    if !size {
        return Err(bad());
    }
    let upper = text.to_ascii_uppercase();
    let (digits, shift) = match upper.trim_end_matches(['B', 'I']).chars().last() {
        Some('K') => (&upper[..upper.find('K').unwrap_or(0)], 10),
        Some('M') => (&upper[..upper.find('M').unwrap_or(0)], 20),
        Some('G') => (&upper[..upper.find('G').unwrap_or(0)], 30),
        Some('T') => (&upper[..upper.find('T').unwrap_or(0)], 40),
        _ => return Err(bad()),
    };
    let n: u64 = digits.trim().parse().map_err(|_| bad())?;
    n.checked_mul(1 << shift).map(Limit::At).ok_or_else(bad)
}

fn user(store: &AccountStore, config: &Config, command: UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Add { address } => {
            // Refuse a bad or existing address before asking for a password.
            let parsed = Address::parse(&address, &config.local_domains)?;
            if store.list()?.contains(&parsed) {
                return Err(AccountError::Exists(parsed).into());
            }
            let password = read_password(&parsed)?;
            let added = store.add(&address, password.expose())?;
            print(&format!("added {added}\n"))
        }
        UserCommand::Passwd { address, protocol } => {
            let parsed = Address::parse(&address, &config.local_domains)?;
            if !store.list()?.contains(&parsed) {
                return Err(AccountError::Unknown(parsed).into());
            }
            let password = read_password(&parsed)?;
            if !protocol {
                let changed = store.set_password(&address, password.expose())?;
                return print(&format!("changed the password of {changed}\n"));
            }
            let changed = store.set_protocol_password(&address, password.expose())?;
            let note = match config.protocol_passwords {
                crate::accounts::ProtocolPasswords::Separate => "",
                crate::accounts::ProtocolPasswords::SameAsWeb => {
                    "note: [auth] protocol_password is \"same-as-web\": the mail protocols take the account's own password until it is \"separate\"\n"
                }
            };
            print(&format!("set the protocol password of {changed}\n{note}"))
        }
        UserCommand::AppPassword(command) => app_password(store, config, command),
        UserCommand::Quota {
            address,
            storage,
            messages,
        } => {
            let mut quota = store.quota(&address)?;
            if let Some(text) = &storage {
                quota.storage = parse_limit(text, true)?;
            }
            if let Some(text) = &messages {
                quota.messages = parse_limit(text, false)?;
            }
            if storage.is_some() || messages.is_some() {
                store.set_quota(&address, quota)?;
            }
            let effective = quota.over(config.quota);
            let show = |own: Limit, effective: Option<u64>, unit: &str| {
                let value = effective.map_or("none".to_string(), |n| format!("{n}{unit}"));
                match own {
                    Limit::Default => format!("{value} (the default)"),
                    _ => value,
                }
            };
            print(&format!(
                "{address}: storage {}, messages {}\n",
                show(quota.storage, effective.storage, " bytes"),
                show(quota.messages, effective.messages, ""),
            ))
        }
        UserCommand::Del { address, purge, .. } => {
            let retention = if purge {
                Retention::Purge
            } else {
                Retention::Keep
            };
            let deleted = store.delete(&address, retention)?;
            let ended = admin::end_sessions_of_deleted(config, deleted.address.as_str());
            let text = match retention {
                Retention::Keep => format!(
                    "deleted {} (incarnation {}); its mail is kept: `ringpost user restore {}` brings it back\n",
                    deleted.address, deleted.incarnation, deleted.address
                ),
                Retention::Purge => format!(
                    "deleted {} (incarnation {}); the server removes its mail\n",
                    deleted.address, deleted.incarnation
                ),
            };
            print(&(text + &ended))
        }
        UserCommand::Restore {
            address,
            incarnation,
        } => {
            let incarnation = incarnation.as_deref().map(parse_incarnation).transpose()?;
            let restored = store.restore(&address, incarnation)?;
            print(&format!(
                "restored {} (incarnation {})\n",
                restored.address, restored.incarnation
            ))
        }
        UserCommand::Purge {
            address,
            incarnation,
        } => {
            let incarnation = incarnation.as_deref().map(parse_incarnation).transpose()?;
            let mut out = String::new();
            for account in store.purge(&address, incarnation)? {
                out.push_str(&format!(
                    "the server removes the mail of {} (incarnation {})\n",
                    account.address, account.incarnation
                ));
            }
            print(&out)
        }
        UserCommand::List { deleted: false } => {
            let mut out = String::new();
            for address in store.list()? {
                out.push_str(address.as_str());
                out.push('\n');
            }
            print(&out)
        }
        UserCommand::List { deleted: true } => {
            let mut out = String::new();
            for d in store.list_deleted()? {
                let retention = match d.retention {
                    Retention::Keep => "kept",
                    Retention::Purge => "purged",
                };
                out.push_str(&format!(
                    "{} {} deleted {} mail {retention}\n",
                    d.account.address,
                    d.account.incarnation,
                    crate::date::rfc3339(i64::try_from(d.deleted_at).unwrap_or(i64::MAX))
                ));
            }
            print(&out)
        }
    }
}

fn app_password(
    store: &AccountStore,
    config: &Config,
    command: AppPasswordCommand,
) -> Result<(), CliError> {
    use crate::accounts::Scopes;
    match command {
        AppPasswordCommand::Add {
            address,
            name,
            scopes,
        } => {
            let scopes = match scopes {
                None => Scopes::PROTOCOLS,
                Some(text) => Scopes::parse(&text)
                    .filter(|s| !s.contains(crate::accounts::Scope::Web))
                    .ok_or_else(|| {
                        CliError::Usage(format!(
                            "{text:?}: scopes are a comma-separated list of imap, pop3, smtp, dav"
                        ))
                    })?,
            };
            let (credential, password) = store.add_app_password(&address, &name, scopes)?;
            print(&format!(
                "{}\napp password {} ({}) for {}: {scopes}; shown this once\n",
                password.0, credential.id, credential.name, address
            ))
        }
        AppPasswordCommand::List { address } => {
            let credentials = store.credentials(&address, config.protocol_passwords)?;
            admin::flush_uses(config);
            let used = store.last_uses(&address)?;
            let when = |t: Option<u64>| match t {
                Some(t) => crate::date::rfc3339(i64::try_from(t).unwrap_or(i64::MAX)),
                None => "never".to_string(),
            };
            let created = |t: u64| match t {
                0 => "unknown".to_string(),
                t => when(Some(t)),
            };
            let mut out = String::new();
            for c in credentials {
                let line = format!(
                    "{:<8}  {:<8}  {:<18}  created {}  last used {}  {}",
                    c.id,
                    c.kind.name(),
                    c.scopes.to_string(),
                    created(c.created),
                    when(used.get(&c.id).copied()),
                    c.name
                );
                out.push_str(line.trim_end());
                out.push('\n');
            }
            print(&out)
        }
        AppPasswordCommand::Revoke { address, id } => {
            let revoked = store.revoke(&address, &id)?;
            print(&format!(
                "revoked {} {} of {address}; the server ends its sessions within a second\n",
                revoked.kind.name(),
                revoked.id
            ))
        }
    }
}

fn parse_incarnation(text: &str) -> Result<Incarnation, CliError> {
    Incarnation::parse(text).ok_or_else(|| {
        CliError::Usage(format!(
            "{text:?} is not an incarnation (16 hex digits, see `ringpost user list --deleted`)"
        ))
    })
}

fn print(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(CliError::Output)
}

/// The new password: prompted for twice on a terminal, else one line of standard input.
fn read_password(address: &Address) -> Result<Secret<String>, CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return read_password_line(&mut stdin.lock());
    }
    let failed = |e: std::io::Error| CliError::Password(e.to_string());
    let first = Secret::new(
        rpassword::prompt_password(format!("Password for {address}: ")).map_err(failed)?,
    );
    let second = Secret::new(rpassword::prompt_password("Same password again: ").map_err(failed)?);
    if first != second {
        return Err(CliError::Password("the two passwords differ".into()));
    }
    Ok(first)
}

/// One line of `input` without its line ending (`\n` or `\r\n`).
fn read_password_line(input: &mut impl BufRead) -> Result<Secret<String>, CliError> {
    let mut line = Vec::new();
    // Read a little past the limit: enough to tell a too-long password, without reading an
    // unbounded stream into memory.
    let limit = (MAX_PASSWORD_LEN + 3) as u64;
    input
        .take(limit)
        .read_until(b'\n', &mut line)
        .map_err(|e| CliError::Password(e.to_string()))?;
    if line.is_empty() {
        return Err(CliError::Password(
            "standard input is empty (send the password as one line)".into(),
        ));
    }
    if line.ends_with(b"\n") {
        line.pop();
        if line.ends_with(b"\r") {
            line.pop();
        }
    }
    if line.len() > MAX_PASSWORD_LEN {
        return Err(AccountError::BadPassword("longer than 1024 bytes").into());
    }
    String::from_utf8(line)
        .map(Secret::new)
        .map_err(|_| CliError::Password("the password is not valid UTF-8".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn quota_limits_on_the_command_line() {
        assert_eq!(parse_limit("none", true).unwrap(), Limit::Unlimited);
        assert_eq!(parse_limit("default", false).unwrap(), Limit::Default);
        assert_eq!(parse_limit("1000", false).unwrap(), Limit::At(1000));
        assert_eq!(parse_limit("20K", true).unwrap(), Limit::At(20 << 10));
        assert_eq!(parse_limit("500m", true).unwrap(), Limit::At(500 << 20));
        assert_eq!(parse_limit("2GiB", true).unwrap(), Limit::At(2 << 30));
        assert_eq!(parse_limit("1T", true).unwrap(), Limit::At(1 << 40));
        for bad in ["", "lots", "1.5G", "G", "-1"] {
            assert!(parse_limit(bad, true).is_err(), "{bad}");
        }
        assert!(parse_limit("20K", false).is_err());
        assert!(parse_limit("99999999999T", true).is_err());
    }

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_is_a_global_option_with_a_default() {
        let cli = Cli::try_parse_from(["ringpost", "serve"]).unwrap();
        assert_eq!(cli.config, None);
        assert_eq!(cli.command, Command::Serve);
        let cli = Cli::try_parse_from([
            "ringpost",
            "user",
            "add",
            "a@example.com",
            "--config",
            "x.toml",
        ])
        .unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("x.toml")));
        assert_eq!(
            cli.command,
            Command::User(UserCommand::Add {
                address: "a@example.com".into()
            })
        );
    }

    #[test]
    fn a_password_is_never_accepted_as_an_argument() {
        let e = Cli::try_parse_from(["ringpost", "user", "add", "a@example.com", "secret"])
            .unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
    }

    #[test]
    fn import_maildir_takes_an_address_and_a_path() {
        let cli =
            Cli::try_parse_from(["ringpost", "import", "maildir", "a@example.com", "/m"]).unwrap();
        assert_eq!(
            cli.command,
            Command::Import(ImportCommand::Maildir {
                address: "a@example.com".into(),
                path: PathBuf::from("/m")
            })
        );
    }

    #[test]
    fn password_line_loses_its_line_ending_only() {
        for (input, password) in [
            (&b"pw\n"[..], "pw"),
            (b"pw\r\n", "pw"),
            (b"pw", "pw"),
            (b" p w \n", " p w "),
            (b"pw\nsecond line\n", "pw"),
            (b"\n", ""),
        ] {
            let got = read_password_line(&mut &input[..]).unwrap();
            assert_eq!(got.expose(), password);
        }
    }

    #[test]
    fn password_line_errors() {
        let message = |input: &[u8]| read_password_line(&mut &input[..]).unwrap_err().to_string();
        assert_eq!(
            message(b""),
            "reading the password: standard input is empty (send the password as one line)"
        );
        assert_eq!(
            message(b"\xff\n"),
            "reading the password: the password is not valid UTF-8"
        );
        let long = [b'x'; 5000];
        assert_eq!(
            message(&long),
            "unacceptable password: longer than 1024 bytes"
        );
        let mut exact = vec![b'x'; MAX_PASSWORD_LEN];
        exact.extend_from_slice(b"\r\n");
        assert_eq!(
            read_password_line(&mut &exact[..]).unwrap().expose().len(),
            MAX_PASSWORD_LEN
        );
    }
}
