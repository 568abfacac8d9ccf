//! The command line: one subcommand per scenario plus `seed`, all sharing one option set.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::conn::TlsMode;

const SCENARIOS: &str = "\
Scenarios (each a subcommand; `loadtest SCENARIO --help` lists every option):

  imap-login   One operation = a whole session: connect, TLS (implicit or STARTTLS), LOGIN,
               LOGOUT. Throughput is logins/s; latency is the full session.
  tls-handshake One operation = connect, the TLS handshake of an implicit-TLS listener
               (IMAPS, POP3S, SMTPS), its greeting line, close: handshakes/s; kinds `full`
               and `resumed` count each (--no-resume: all full).
  imap-churn   One operation = a whole session of a mail client checking in: connect, TLS,
               LOGIN, SELECT --mailbox, FETCH the flags of 3 random messages, STORE +FLAGS
               \\Seen on one, LOGOUT. Logins/s under the churn of reconnecting clients (what
               a login cache is for). Needs a seeded mailbox.
  imap-fetch   Each session logs in once and SELECTs --mailbox; one operation = one
               `FETCH n BODY.PEEK[]` of a random message. Reports MB/s received. Needs a
               seeded mailbox (see `seed`).
  imap-append  Each session logs in once; one operation = one APPEND of a --size message to
               --mailbox (synchronizing literal).
  imap-mixed   Dovecot-imaptest-like mix on a shared mailbox: FETCH flags 25%, FETCH body
               20%, STORE flags 20%, SEARCH 10%, APPEND 10%, STORE \\Deleted + EXPUNGE 8%,
               SELECT 5%, NOOP 2%. One operation = one of these; per-kind latency reported.
  imap-idle    Opens --sessions sessions on one event loop (mio), each LOGIN, SELECT (unless
               --select ''), IDLE; holds them for --hold seconds and reports the server's
               memory per idle session from /proc/<pid>/status VmRSS and smaps_rollup Pss
               deltas (needs --server-pid). --no-idle holds logged-in sessions without IDLE.
               Raises this process's open-file limit as far as the hard limit allows.
  smtp-submit  Each session: EHLO, STARTTLS (with --tls starttls), AUTH PLAIN; one operation
               = one message (MAIL, RCPT --rcpt, DATA of --size bytes) acknowledged with 250.
               --ops-per-session 1 reconnects for every message.
  smtp-inbound Like smtp-submit without AUTH, as an MX sees it (MAIL FROM --from).
  pop3-retr    Each session: STLS (with --tls starttls), USER/PASS, STAT; one operation =
               `RETR n` of a random message. Needs a seeded mailbox.
  hostile      Holds connections that never log in — --silent that send nothing, --slow that
               send the protocol's NOOP one byte every --slow-interval seconds (to the
               --plain-target listeners), --tls-stall that send half or all of a ClientHello
               and then nothing (to the --tls-target implicit-TLS listeners) — from
               --per-source connections per source address counting up from --source-base,
               while a normal client (an SMTP delivery through --smtp-target, then IMAP
               LOGIN, SELECT, FETCH, LOGOUT on --target) runs --probes times alone and again
               under that load. Then holds on until the server has closed every hostile
               connection or --hold seconds have passed. Reports the normal client's latency
               alone and under load, the server's RSS (needs --server-pid), and per class
               how and when the server ended its connections.
  dav-seed     PUT --count events (iCalendar, unique UIDs, spread over 2026, one in five
               recurring, one in ten all-day) into --calendar and --count vCards 3.0 into
               --addressbook, over --sessions keep-alive connections at once (If-None-Match:
               *). --create makes a missing collection (MKCALENDAR, extended MKCOL), --reset
               DELETEs every member first. Reports PUTs/s and what the collections hold.
  dav-sync     One operation = vdirsyncer's full first sync of a collection pair: PROPFIND
               Depth 1 on --calendar (resourcetype, getcontenttype, getetag), then
               calendar-multiget REPORTs of every href in batches of --batch; the same for
               --addressbook with addressbook-multiget. Every href must come back with its
               data. Reports syncs/s, HTTP requests/s and per-request latency.
  dav-mix      Before the clock starts, one client per --user lists both collections
               (PROPFIND Depth 1) and reads the calendar's sync-token: what a polling client
               knows from its first sync. Then one operation = one request, chosen uniformly
               among: PROPFIND Depth 0 on the calendar (getctag, sync-token), PROPFIND Depth
               1 (getetag), a calendar-query with a one-week time-range (calendar-data), a
               calendar-multiget of 10 random hrefs, an addressbook-query with a text-match on
               FN (a first name), an addressbook-multiget of 10, a sync-collection from the
               token the last one returned. Per-kind latency.
               The DAV scenarios speak HTTP/1.1 over --tls implicit (HTTPS) or none, with
               Basic credentials on every request; a connection the server closes
               (Connection: close, HTTP/1.0) is replaced by a new one. --calendar and
               --addressbook are paths on --target; <user> stands for the login.
  seed         Bring --user's --mailbox to --count messages of --size bytes, by IMAP APPEND
               (--via imap, synchronous) or SMTP (--via smtp, to --target's inbound or
               submission port; delivery may be asynchronous). --reset expunges it first.

Loop modes: closed loop (default) runs --sessions sessions, each issuing its next operation
as soon as the previous one finished. Open loop (--rate R) schedules operations at R/s over
the --sessions sessions; latency is measured from each operation's scheduled time, so a
server that falls behind shows it in the percentiles (no coordinated omission).
Stop after --duration seconds or --ops operations (whichever the command gives; --max-time
bounds an --ops run).

Report: operations, throughput, MB/s, latency p50/p90/p99/p99.9/max (hdrhistogram, µs
resolution), failures by command and reply code, and with --server-pid the server's CPU
seconds (its whole process tree), peak RSS and operations per server-core-second. --json
prints the report as JSON. A progress line goes to stderr every second unless --quiet.

Only loopback targets are allowed unless --allow-remote: this is a load generator.";

#[derive(Parser, Debug)]
#[command(
    name = "loadtest",
    version,
    about = "Load generator for IMAP, POP3, SMTP and CalDAV/CardDAV servers over plaintext, STARTTLS or implicit TLS",
    after_help = SCENARIOS
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Connect, TLS, LOGIN, LOGOUT per operation (logins/s)
    ImapLogin(Opts),
    /// Connect, implicit TLS handshake, read the greeting, close (handshakes/s)
    TlsHandshake(Opts),
    /// Whole short sessions: LOGIN, SELECT, a few FETCH/STORE, LOGOUT
    ImapChurn(Opts),
    /// SELECT a seeded mailbox, FETCH random message bodies (FETCH/s, MB/s)
    ImapFetch(Opts),
    /// APPEND --size messages (APPEND/s)
    ImapAppend(Opts),
    /// imaptest-like mix of SELECT/FETCH/STORE/SEARCH/EXPUNGE/APPEND (ops/s)
    ImapMixed(Opts),
    /// SELECT a seeded mailbox, `UID SORT (REVERSE DATE) UTF-8 ALL` (sorts/s)
    ImapSort(Opts),
    /// SELECT a seeded mailbox, `UID THREAD REFERENCES UTF-8 ALL` (threads/s)
    ImapThread(Opts),
    /// SELECT a seeded mailbox, `UID SEARCH TEXT <word>` over every message (searches/s)
    ImapSearchText(Opts),
    /// The same search as `OR TEXT <word> TEXT <word>`: no index can narrow an OR, so the
    /// server reads every message (ringpost's linear scan)
    ImapSearchScan(Opts),
    /// Hold --sessions idle IMAP sessions; server memory per session
    ImapIdle(Opts),
    /// Authenticated submission: AUTH PLAIN, then messages (messages/s)
    SmtpSubmit(Opts),
    /// Inbound (MX) SMTP without AUTH: messages to a local recipient (messages/s)
    SmtpInbound(Opts),
    /// USER/PASS, STAT, RETR random messages (RETR/s, MB/s)
    Pop3Retr(Opts),
    /// Load --count messages of --size bytes into --user's --mailbox
    Seed(Opts),
    /// Silent, slow and TLS-stalling connections while a normal client is served
    Hostile(HostileOpts),
    /// PUT --count events and --count vCards into --calendar and --addressbook (PUTs/s)
    DavSeed(Opts),
    /// vdirsyncer's first sync: PROPFIND Depth 1 + multiget REPORTs of both collections
    DavSync(Opts),
    /// A polling DAV client's PROPFIND/REPORT mix (requests/s, per-kind latency)
    DavMix(Opts),
}

impl Command {
    pub fn opts(&self) -> &Opts {
        match self {
            Command::ImapLogin(o)
            | Command::TlsHandshake(o)
            | Command::ImapChurn(o)
            | Command::ImapFetch(o)
            | Command::ImapAppend(o)
            | Command::ImapMixed(o)
            | Command::ImapSort(o)
            | Command::ImapThread(o)
            | Command::ImapSearchText(o)
            | Command::ImapSearchScan(o)
            | Command::ImapIdle(o)
            | Command::SmtpSubmit(o)
            | Command::SmtpInbound(o)
            | Command::Pop3Retr(o)
            | Command::Seed(o)
            | Command::DavSeed(o)
            | Command::DavSync(o)
            | Command::DavMix(o) => o,
            Command::Hostile(h) => &h.common,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Command::ImapLogin(_) => "imap-login",
            Command::TlsHandshake(_) => "tls-handshake",
            Command::ImapChurn(_) => "imap-churn",
            Command::ImapFetch(_) => "imap-fetch",
            Command::ImapAppend(_) => "imap-append",
            Command::ImapMixed(_) => "imap-mixed",
            Command::ImapSort(_) => "imap-sort",
            Command::ImapThread(_) => "imap-thread",
            Command::ImapSearchText(_) => "imap-search-text",
            Command::ImapSearchScan(_) => "imap-search-scan",
            Command::ImapIdle(_) => "imap-idle",
            Command::SmtpSubmit(_) => "smtp-submit",
            Command::SmtpInbound(_) => "smtp-inbound",
            Command::Pop3Retr(_) => "pop3-retr",
            Command::Seed(_) => "seed",
            Command::Hostile(_) => "hostile",
            Command::DavSeed(_) => "dav-seed",
            Command::DavSync(_) => "dav-sync",
            Command::DavMix(_) => "dav-mix",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    Imap,
    Smtp,
}

/// `hostile`'s own options, on top of the common ones (--target is the IMAP listener the
/// normal client uses; --hold, --connect-concurrency, --timeout and --server-pid apply).
#[derive(Args, Debug, Clone)]
pub struct HostileOpts {
    #[command(flatten)]
    pub common: Opts,
    /// SMTP listener the normal client delivers to --rcpt through (inbound: no AUTH)
    #[arg(long)]
    pub smtp_target: SocketAddr,
    /// TLS for --smtp-target
    #[arg(long, value_enum, default_value = "starttls")]
    pub smtp_tls: TlsMode,
    /// Listener with a plaintext greeting for silent and slow connections; repeat for several
    #[arg(long = "plain-target")]
    pub plain_targets: Vec<SocketAddr>,
    /// Implicit-TLS listener for stalled handshakes; repeat for several (default: --target)
    #[arg(long = "tls-target")]
    pub tls_targets: Vec<SocketAddr>,
    /// Connections that send nothing
    #[arg(long, default_value_t = 2000)]
    pub silent: usize,
    /// Connections that send one byte every --slow-interval seconds
    #[arg(long, default_value_t = 2000)]
    pub slow: usize,
    /// Connections that stall in the TLS handshake (half: part of a ClientHello, half: all)
    #[arg(long, default_value_t = 200)]
    pub tls_stall: usize,
    /// Seconds between two bytes of a slow connection
    #[arg(long, default_value_t = 1.0)]
    pub slow_interval: f64,
    /// Runs of the normal client alone, and again under the hostile load
    #[arg(long, default_value_t = 50)]
    pub probes: usize,
    /// First source address of the hostile connections
    #[arg(long, default_value = "127.0.1.1")]
    pub source_base: std::net::Ipv4Addr,
    /// Hostile connections per source address (0: all from --bind, or any)
    #[arg(long, default_value_t = 40)]
    pub per_source: usize,
}

#[derive(Args, Debug, Clone)]
pub struct Opts {
    /// Server address, e.g. 127.0.0.1:993 or [::1]:993
    #[arg(long, short = 't')]
    pub target: SocketAddr,
    /// implicit (IMAPS/POP3S/SMTPS), starttls (STARTTLS/STLS before login) or none
    #[arg(long, value_enum, default_value = "implicit")]
    pub tls: TlsMode,
    /// PEM file of CA certificates (or the self-signed certificate) to trust
    #[arg(long)]
    pub cafile: Option<PathBuf>,
    /// Do not verify the server's certificate
    #[arg(long)]
    pub insecure: bool,
    /// Never resume a TLS session: every connection makes a full handshake (by default the
    /// sessions share one cache of the server's tickets and resume where it lets them)
    #[arg(long)]
    pub no_resume: bool,
    /// Name to send in SNI and to verify the certificate against
    #[arg(long, default_value = "localhost")]
    pub server_name: String,
    /// Source address to bind client sockets to (e.g. 127.0.0.2: Dovecot treats a client
    /// with the server's own IP as secure)
    #[arg(long)]
    pub bind: Option<std::net::IpAddr>,
    /// Account(s) to log in as; sessions take them in turn. Repeat for several
    #[arg(long, short = 'u', default_value = "alice@example.com")]
    pub user: Vec<String>,
    /// Password(s), one for every --user or one for all
    #[arg(long, short = 'p', env = "LOADTEST_PASSWORD", value_delimiter = ',')]
    pub password: Vec<String>,
    /// Concurrent sessions (closed loop: each runs as fast as it can)
    #[arg(long, short = 'c', default_value_t = 16)]
    pub sessions: usize,
    /// Open loop: start operations at this fixed rate per second
    #[arg(long)]
    pub rate: Option<f64>,
    /// Run this many seconds (default 10 unless --ops is given)
    #[arg(long, short = 'd')]
    pub duration: Option<f64>,
    /// Stop after this many operations (bounded by --max-time)
    #[arg(long, short = 'n')]
    pub ops: Option<u64>,
    /// Hard limit on a run's length in seconds
    #[arg(long, default_value_t = 600.0)]
    pub max_time: f64,
    /// Random seed (message choice, message text, mixed-op choice)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Socket connect/read/write time-out in seconds
    #[arg(long, default_value_t = 15.0)]
    pub timeout: f64,
    /// Server process id(s) to measure (with all their descendants); repeat or comma-separate
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// Mailbox for fetch/append/mixed/idle/seed
    #[arg(long, default_value = "INBOX")]
    pub mailbox: String,
    /// Message size in bytes for append/submit/inbound/seed
    #[arg(long, short = 's', default_value_t = 10240)]
    pub size: usize,
    /// Recipient for SMTP scenarios (default: the first --user)
    #[arg(long)]
    pub rcpt: Option<String>,
    /// Envelope sender for smtp-inbound (smtp-submit uses the logged-in --user)
    #[arg(long, default_value = "sender@loadtest.invalid")]
    pub from: String,
    /// EHLO name
    #[arg(long, default_value = "loadtest.invalid")]
    pub helo: String,
    /// smtp-submit, smtp-inbound: send MAIL, RCPT and DATA in one write and read their
    /// replies after (RFC 2920, as MTAs do); the server must offer PIPELINING
    #[arg(long)]
    pub pipelining: bool,
    /// Close and reopen a session after this many operations (0: keep it)
    #[arg(long, default_value_t = 0)]
    pub ops_per_session: u64,
    /// imap-idle: seconds to hold the sessions once all are idle (default: --duration)
    #[arg(long)]
    pub hold: Option<f64>,
    /// imap-idle: sessions in setup (connect..IDLE) at once
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// imap-idle: mailbox to SELECT before IDLE; '' for none (IDLE in authenticated state)
    #[arg(long, default_value = "INBOX")]
    pub select: String,
    /// imap-idle: hold logged-in (and selected) sessions without sending IDLE
    #[arg(long)]
    pub no_idle: bool,
    /// seed: target message count in --mailbox; dav-seed: events, and as many vCards
    #[arg(long, default_value_t = 100)]
    pub count: u32,
    /// seed: imap (APPEND, synchronous) or smtp (delivery through the server)
    #[arg(long, value_enum, default_value = "imap")]
    pub via: Via,
    /// seed: expunge every message in --mailbox first; dav-seed: DELETE every member of
    /// --calendar and --addressbook first
    #[arg(long)]
    pub reset: bool,
    /// DAV: the calendar collection's path (<user>: the login)
    #[arg(long, default_value = "/SOGo/dav/<user>/Calendar/personal/")]
    pub calendar: String,
    /// DAV: the address book collection's path (<user>: the login)
    #[arg(long, default_value = "/SOGo/dav/<user>/Contacts/personal/")]
    pub addressbook: String,
    /// dav-sync: hrefs per multiget REPORT
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// dav-seed: create --calendar (MKCALENDAR) and --addressbook (extended MKCOL) when missing
    #[arg(long)]
    pub create: bool,
    /// dav-seed: UIDs are PREFIX-ev-N and PREFIX-vc-N, resources PREFIX-ev-N.ics and
    /// PREFIX-vc-N.vcf (default: from the time and --seed, new every run)
    #[arg(long)]
    pub uid_prefix: Option<String>,
    /// HTTP: largest response body read, in bytes
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub max_body: usize,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Allow a non-loopback --target (never point a load generator at someone else's server)
    #[arg(long)]
    pub allow_remote: bool,
}

impl Opts {
    pub fn credentials(&self, i: usize) -> (&str, &str) {
        let user = &self.user[i % self.user.len()];
        let pass = if self.password.len() == self.user.len() {
            &self.password[i % self.password.len()]
        } else {
            self.password.first().map(String::as_str).unwrap_or("")
        };
        (user, pass)
    }

    pub fn rcpt(&self) -> String {
        self.rcpt.clone().unwrap_or_else(|| self.user[0].clone())
    }
}
