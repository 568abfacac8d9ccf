//! imap-idle: thousands of sessions held on one thread with mio (edge-triggered readiness),
//! each driven by a small state machine: connect, TLS, LOGIN, SELECT, IDLE. Once all are
//! idle the server's memory is sampled again; the difference per session is the figure.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustls::ClientConnection;

use crate::cli::Opts;
use crate::conn::{Endpoint, TlsMode};
use crate::error::Failure;
use crate::imap::quote;
use crate::procstat;
use crate::report::{histogram, IdleStats, Latency, Report, Stats};
use crate::runner::{server_stats, Sampler};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Connecting,
    Greeting,
    StartTls,
    Login,
    Select,
    Idle,
    /// The goal: IDLE acknowledged (or, with --no-idle, logged in and selected).
    Held,
    Logout,
}

struct Session {
    sock: TcpStream,
    tls: Option<ClientConnection>,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    phase: Phase,
    started: Instant,
    user: usize,
}

/// The outcome of feeding a session: still going, or done with its current goal.
enum Step {
    Going,
    Finished,
}

/// Raise this process's open-file limit towards `wanted` (at most the hard limit); the limit now.
pub(crate) fn raise_nofile(wanted: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let lim = getrlimit(Resource::Nofile);
    let hard = lim.maximum;
    let target = hard.map_or(wanted, |h| h.min(wanted.max(lim.current.unwrap_or(0))));
    let new = rustix::process::Rlimit {
        current: Some(target),
        maximum: hard,
    };
    if setrlimit(Resource::Nofile, new).is_ok() {
        target
    } else {
        lim.current.unwrap_or(1024)
    }
}

impl Session {
    fn connect(ep: &Endpoint, user: usize) -> io::Result<Session> {
        let bind = ep
            .bind
            .unwrap_or_else(|| SocketAddr::new(unspecified(ep.addr), 0));
        let socket = crate::conn::new_socket(bind, ep.addr)?;
        socket.set_nonblocking(true)?;
        socket.set_nodelay(true)?;
        match socket.connect(&ep.addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let std_stream: std::net::TcpStream = socket.into();
        Ok(Session {
            sock: TcpStream::from_std(std_stream),
            tls: None,
            inbuf: Vec::new(),
            out: Vec::new(),
            phase: Phase::Connecting,
            started: Instant::now(),
            user,
        })
    }

    fn start_tls(&mut self, ep: &Endpoint) -> Result<(), Failure> {
        let tls = ClientConnection::new(ep.tls_config.clone(), ep.server_name.clone())
            .map_err(|e| Failure::Tls(e.to_string()))?;
        self.tls = Some(tls);
        Ok(())
    }

    fn send(&mut self, line: &str) {
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Move bytes both ways until the socket would block.
    fn pump(&mut self) -> Result<(), Failure> {
        let mut buf = [0u8; 16 * 1024];
        // Reads: bounded by the socket running dry (edge-triggered readiness requires it).
        for _ in 0..1024 {
            match &mut self.tls {
                Some(tls) => match tls.read_tls(&mut self.sock) {
                    Ok(0) => return Err(Failure::Closed),
                    Ok(_) => {
                        let state = tls
                            .process_new_packets()
                            .map_err(|e| Failure::Tls(e.to_string()))?;
                        let mut left = state.plaintext_bytes_to_read();
                        while left > 0 {
                            let n = tls.reader().read(&mut buf).map_err(Failure::io)?;
                            if n == 0 {
                                break;
                            }
                            self.inbuf.extend_from_slice(&buf[..n]);
                            left = left.saturating_sub(n);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(Failure::io(e)),
                },
                None => match self.sock.read(&mut buf) {
                    Ok(0) => return Err(Failure::Closed),
                    Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(Failure::io(e)),
                },
            }
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<(), Failure> {
        match &mut self.tls {
            Some(tls) => {
                if !self.out.is_empty() {
                    // Buffered by rustls until the handshake completes.
                    tls.writer().write_all(&self.out).map_err(Failure::io)?;
                    self.out.clear();
                }
                while tls.wants_write() {
                    match tls.write_tls(&mut self.sock) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(Failure::io(e)),
                    }
                }
            }
            None => {
                while !self.out.is_empty() {
                    match self.sock.write(&self.out) {
                        Ok(n) => {
                            self.out.drain(..n);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(Failure::io(e)),
                    }
                }
            }
        }
        Ok(())
    }

    fn take_line(&mut self) -> Option<Vec<u8>> {
        let pos = self.inbuf.iter().position(|&b| b == b'\n')?;
        let mut line: Vec<u8> = self.inbuf.drain(..=pos).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(line)
    }

    /// Handle whatever lines have arrived, advancing the phase.
    fn advance(&mut self, opts: &Opts, ep: &Endpoint) -> Result<Step, Failure> {
        // Bounded by the input buffered so far.
        while let Some(line) = self.take_line() {
            let tagged = |tag: &str| line.strip_prefix(tag.as_bytes()).map(<[u8]>::to_vec);
            let status = |rest: &[u8], cmd: &'static str| -> Result<(), Failure> {
                let rest = rest.strip_prefix(b" ").unwrap_or(rest);
                if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case(b"OK") {
                    Ok(())
                } else {
                    let code = if rest.starts_with(b"NO") { "NO" } else { "BAD" };
                    Err(Failure::reply(cmd, code, rest))
                }
            };
            match self.phase {
                Phase::Connecting => {}
                Phase::Greeting => {
                    if !line.starts_with(b"* OK") {
                        return Err(Failure::reply("greeting", "BYE", &line));
                    }
                    if ep.tls == TlsMode::Starttls {
                        self.send("s STARTTLS");
                        self.phase = Phase::StartTls;
                    } else {
                        self.login(opts);
                    }
                }
                Phase::StartTls => {
                    if let Some(rest) = tagged("s ") {
                        status(&rest, "STARTTLS")?;
                        if !self.inbuf.is_empty() {
                            return Err(Failure::Protocol("data pipelined after STARTTLS".into()));
                        }
                        self.start_tls(ep)?;
                        self.login(opts);
                    }
                }
                Phase::Login => {
                    if let Some(rest) = tagged("l ") {
                        status(&rest, "LOGIN")?;
                        if opts.select.is_empty() {
                            self.idle(opts);
                        } else {
                            self.send(&format!("x SELECT {}", quote(&opts.select)));
                            self.phase = Phase::Select;
                        }
                    }
                }
                Phase::Select => {
                    if let Some(rest) = tagged("x ") {
                        status(&rest, "SELECT")?;
                        self.idle(opts);
                        if self.phase == Phase::Held {
                            return Ok(Step::Finished);
                        }
                    }
                }
                Phase::Idle => {
                    if line.starts_with(b"+") {
                        self.phase = Phase::Held;
                        return Ok(Step::Finished);
                    }
                    if let Some(rest) = tagged("i ") {
                        status(&rest, "IDLE")?;
                        return Err(Failure::Protocol("IDLE ended at once".into()));
                    }
                }
                Phase::Held => {
                    if line.starts_with(b"* BYE") {
                        return Err(Failure::Closed);
                    }
                }
                Phase::Logout => {
                    if tagged("o ").is_some() {
                        return Ok(Step::Finished);
                    }
                }
            }
        }
        Ok(Step::Going)
    }

    fn login(&mut self, opts: &Opts) {
        let (user, pass) = opts.credentials(self.user);
        self.send(&format!("l LOGIN {} {}", quote(user), quote(pass)));
        self.phase = Phase::Login;
    }

    fn idle(&mut self, opts: &Opts) {
        if opts.no_idle {
            self.phase = Phase::Held;
        } else {
            self.send("i IDLE");
            self.phase = Phase::Idle;
        }
    }
}

fn unspecified(addr: SocketAddr) -> std::net::IpAddr {
    if addr.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    }
}

struct Engine<'a> {
    opts: &'a Opts,
    ep: &'a Endpoint,
    poll: Poll,
    slots: Vec<Option<Session>>,
    stats: Stats,
    setup: hdrhistogram::Histogram<u64>,
    held: u64,
    in_setup: usize,
}

impl Engine<'_> {
    fn fail(&mut self, i: usize, f: &Failure) {
        if let Some(mut s) = self.slots[i].take() {
            let _ = self.poll.registry().deregister(&mut s.sock);
            match s.phase {
                // Closing after LOGOUT is the expected end, not a failure.
                Phase::Logout => return,
                Phase::Held => self.held -= 1,
                _ => self.in_setup -= 1,
            }
        }
        self.stats.record_failure(f);
    }

    /// React to readiness (or a first kick) on session `i`.
    fn drive(&mut self, i: usize) {
        let (opts, ep) = (self.opts, self.ep);
        let Some(s) = self.slots[i].as_mut() else {
            return;
        };
        if s.phase == Phase::Connecting {
            match s.sock.take_error() {
                Ok(Some(e)) | Err(e) => return self.fail(i, &Failure::connect(e)),
                Ok(None) => {}
            }
            match s.sock.peer_addr() {
                Ok(_) => {
                    s.phase = Phase::Greeting;
                    if ep.tls == TlsMode::Implicit {
                        if let Err(f) = s.start_tls(ep) {
                            return self.fail(i, &f);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => return self.fail(i, &Failure::connect(e)),
            }
        }
        let was = s.phase;
        let result = s.pump().and_then(|_| s.advance(opts, ep));
        let result = result.and_then(|step| s.flush().map(|_| step));
        match result {
            Ok(step) => {
                if was != Phase::Held && s.phase == Phase::Held {
                    self.setup
                        .saturating_record((s.started.elapsed().as_micros() as u64).max(1));
                    self.held += 1;
                    self.in_setup -= 1;
                }
                if matches!(step, Step::Finished) && s.phase == Phase::Logout {
                    if let Some(mut s) = self.slots[i].take() {
                        let _ = self.poll.registry().deregister(&mut s.sock);
                    }
                }
            }
            Err(f) => self.fail(i, &f),
        }
    }

    fn open(&mut self, i: usize) {
        match Session::connect(self.ep, i) {
            Ok(mut s) => {
                let r = self.poll.registry().register(
                    &mut s.sock,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                );
                if let Err(e) = r {
                    self.stats.record_failure(&Failure::io(e));
                    return;
                }
                self.slots[i] = Some(s);
                self.in_setup += 1;
            }
            Err(e) => self.stats.record_failure(&Failure::connect(e)),
        }
    }

    fn poll_once(&mut self, events: &mut Events, timeout: Duration) -> Result<(), String> {
        match self.poll.poll(events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(format!("poll: {e}")),
        }
        let ready: Vec<usize> = events.iter().map(|e| e.token().0).collect();
        for i in ready {
            self.drive(i);
        }
        Ok(())
    }
}

/// Open sessions up to index `end`, --connect-concurrency at a time, until every one is idle
/// or failed. A session stuck in setup for longer than --timeout is failed.
fn setup(
    engine: &mut Engine<'_>,
    next: &mut usize,
    end: usize,
    deadline: Instant,
    events: &mut Events,
    held_now: &AtomicU64,
    failed_now: &AtomicU64,
) -> Result<(), String> {
    let timeout = engine.ep.timeout;
    while Instant::now() < deadline {
        while *next < end && engine.in_setup < engine.opts.connect_concurrency.max(1) {
            engine.open(*next);
            *next += 1;
        }
        engine.poll_once(events, Duration::from_millis(50))?;
        for i in 0..*next {
            let stuck = engine.slots[i]
                .as_ref()
                .is_some_and(|s| s.phase != Phase::Held && s.started.elapsed() > timeout);
            if stuck {
                engine.fail(i, &Failure::Io(io::ErrorKind::TimedOut));
            }
        }
        held_now.store(engine.held, Ordering::Relaxed);
        failed_now.store(engine.stats.failed, Ordering::Relaxed);
        if *next >= end && engine.in_setup == 0 {
            break;
        }
    }
    Ok(())
}

pub fn run(opts: &Opts, ep: &Endpoint) -> Result<Report, String> {
    let wanted = opts.sessions as u64 + 256;
    let limit = raise_nofile(wanted);
    let sessions = if limit < wanted {
        let n = limit.saturating_sub(256) as usize;
        eprintln!(
            "loadtest: open-file limit {limit} allows only {n} sessions (raise the hard limit: ulimit -Hn)"
        );
        n
    } else {
        opts.sessions
    };
    let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut engine = Engine {
        opts,
        ep,
        poll,
        slots: (0..sessions).map(|_| None).collect(),
        stats: Stats::default(),
        setup: histogram(),
        held: 0,
        in_setup: 0,
    };
    let before = procstat::sample(&opts.server_pid, true);
    let start = Instant::now();
    let hard_deadline = start + Duration::from_secs_f64(opts.max_time);
    let held_now = Arc::new(AtomicU64::new(0));
    let failed_now = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (h, f) = (held_now.clone(), failed_now.clone());
        Sampler::start(
            opts.server_pid.clone(),
            "imap-idle".into(),
            opts.quiet,
            move || {
                format!(
                    "idle {} failed {}",
                    h.load(Ordering::Relaxed),
                    f.load(Ordering::Relaxed)
                )
            },
        )
    };
    let mut events = Events::with_capacity(1024);
    // Setup: keep up to --connect-concurrency sessions in progress until all were tried.
    // A session stuck in setup for longer than --timeout is failed.
    // Two stages: the first tenth of the sessions, a memory sample, then the rest. The
    // slope between the two samples leaves out one-time costs (worker processes, TLS and
    // password-hash buffers, allocator arenas) that the first sessions pay.
    let first = (sessions / 10).max(1).min(sessions);
    let mut next = 0usize;
    let mut mid: Option<(u64, procstat::Sample)> = None;
    for stage_end in [first, sessions] {
        setup(
            &mut engine,
            &mut next,
            stage_end,
            hard_deadline,
            &mut events,
            &held_now,
            &failed_now,
        )?;
        if mid.is_none() && stage_end < sessions {
            mid = Some((engine.held, procstat::sample(&opts.server_pid, true)));
        }
    }
    let setup_secs = start.elapsed().as_secs_f64();
    // Hold: keep serving events (a server may send untagged data or drop sessions).
    let hold = opts.hold.or(opts.duration).unwrap_or(10.0);
    let hold_end = (Instant::now() + Duration::from_secs_f64(hold)).min(hard_deadline);
    let held_start = Instant::now();
    while Instant::now() < hold_end {
        engine.poll_once(&mut events, Duration::from_millis(100))?;
        held_now.store(engine.held, Ordering::Relaxed);
        failed_now.store(engine.stats.failed, Ordering::Relaxed);
    }
    let held_seconds = held_start.elapsed().as_secs_f64();
    let after = procstat::sample(&opts.server_pid, true);
    let client_rss = procstat::self_rss_kib();
    let idle_sessions = engine.held;
    // Leave politely: DONE + LOGOUT, then wait (bounded) for the tagged replies.
    for i in 0..sessions {
        if let Some(s) = engine.slots[i].as_mut() {
            if s.phase == Phase::Held {
                if !opts.no_idle {
                    s.send("DONE");
                }
                s.send("o LOGOUT");
                s.phase = Phase::Logout;
                let _ = s.flush();
            }
        }
    }
    let logout_deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < logout_deadline && engine.slots.iter().any(Option::is_some) {
        engine.poll_once(&mut events, Duration::from_millis(50))?;
        let lingering: Vec<usize> = (0..sessions)
            .filter(|&i| {
                engine.slots[i]
                    .as_ref()
                    .is_some_and(|s| s.phase != Phase::Logout)
            })
            .collect();
        for i in lingering {
            if let Some(mut s) = engine.slots[i].take() {
                let _ = engine.poll.registry().deregister(&mut s.sock);
            }
        }
    }
    let peak = sampler.finish();
    let server = server_stats(&opts.server_pid, before, peak, idle_sessions);
    let per = |a: u64, b: u64| {
        if idle_sessions == 0 || opts.server_pid.is_empty() {
            0.0
        } else {
            (a as f64 - b as f64) / idle_sessions as f64
        }
    };
    let slope = |mid: Option<(u64, u64)>, end: u64| match mid {
        Some((n, kib)) if idle_sessions > n && !opts.server_pid.is_empty() => {
            (end as f64 - kib as f64) / (idle_sessions - n) as f64
        }
        _ => 0.0,
    };
    let elapsed = start.elapsed().as_secs_f64();
    Ok(Report {
        scenario: "imap-idle".into(),
        target: opts.target.to_string(),
        tls: format!("{:?}", opts.tls).to_lowercase(),
        mode: "closed".into(),
        sessions,
        elapsed_seconds: elapsed,
        ops: idle_sessions,
        failed: engine.stats.failed,
        ops_per_second: idle_sessions as f64 / setup_secs.max(1e-9),
        sessions_opened: idle_sessions,
        latency: Latency::of(&engine.setup),
        failures: engine.stats.failures,
        first_failure: engine.stats.first_failure,
        server,
        idle: Some(IdleStats {
            idle_sessions,
            held_seconds,
            server_rss_before_kib: before.rss_kib,
            server_rss_after_kib: after.rss_kib,
            server_pss_before_kib: before.pss_kib,
            server_pss_after_kib: after.pss_kib,
            rss_per_session_kib: per(after.rss_kib, before.rss_kib),
            pss_per_session_kib: per(after.pss_kib, before.pss_kib),
            marginal_rss_per_session_kib: slope(mid.map(|(n, m)| (n, m.rss_kib)), after.rss_kib),
            marginal_pss_per_session_kib: slope(mid.map(|(n, m)| (n, m.pss_kib)), after.pss_kib),
            client_rss_kib: client_rss,
        }),
        ..Report::default()
    })
}
