//! hostile: what clients that never log in can hold, and whether a normal client is still
//! served meanwhile. Three classes of hostile connections share one mio event loop:
//!
//! - **silent**: connect to a listener with a plaintext greeting, then send nothing;
//! - **slow**: connect, and once the greeting has arrived send the protocol's NOOP one byte
//!   every `--slow-interval` seconds, for ever (a slowloris: an idle timer never fires);
//! - **tls-stall**: connect to an implicit-TLS listener and send half a ClientHello
//!   (`tls-partial`) or a whole one (`tls-hello`), then nothing.
//!
//! Hostile connections come from `--source-base`, `--source-base`+1, … (`--per-source` each),
//! so a per-address connection limit on the server applies as it would to that many
//! attackers. The normal client (the probe) is an SMTP delivery to `--rcpt` through
//! `--smtp-target`, then an IMAP session on `--target` (LOGIN, SELECT, FETCH of the newest
//! message, LOGOUT); it runs `--probes` times before the hostile connections are opened (the
//! baseline) and again while they are held. The report gives the probe's latencies, the
//! server's RSS (before, with every hostile connection held, peak, after they are gone), and
//! for each class how the server ended its connections: after how long, and the last line it
//! sent.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde::Serialize;

use crate::cli::HostileOpts;
use crate::conn::Endpoint;
use crate::error::Failure;
use crate::imap::Imap;
use crate::message::message;
use crate::procstat;
use crate::report::{histogram, Latency, Report, Stats};
use crate::runner::{server_stats, Sampler};
use crate::smtp::Smtp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Silent,
    Slow,
    TlsPartial,
    TlsHello,
}

impl Class {
    const ALL: [Class; 4] = [
        Class::Silent,
        Class::Slow,
        Class::TlsPartial,
        Class::TlsHello,
    ];

    fn name(self) -> &'static str {
        match self {
            Class::Silent => "silent",
            Class::Slow => "slow",
            Class::TlsPartial => "tls-partial",
            Class::TlsHello => "tls-hello",
        }
    }

    fn is_tls(self) -> bool {
        matches!(self, Class::TlsPartial | Class::TlsHello)
    }
}

/// How one class of hostile connections fared.
#[derive(Serialize, Debug, Clone, Default)]
pub struct ClassStats {
    pub class: String,
    pub wanted: u64,
    /// Connections established.
    pub opened: u64,
    /// Connections that could not be established (refused, timed out).
    pub not_opened: u64,
    /// Connections the server closed (FIN or RST) while we held them.
    pub closed_by_server: u64,
    /// Connections still open when the hold ended (we closed them).
    pub still_open: u64,
    /// Seconds from connect to the server's close: min, median, max.
    pub close_after_min_s: f64,
    pub close_after_median_s: f64,
    pub close_after_max_s: f64,
    /// The last line the server sent before closing, `target: line`, with how often (TLS
    /// classes: what arrived, in bytes).
    pub farewells: BTreeMap<String, u64>,
    /// Bytes the slow connections sent in all.
    pub bytes_sent: u64,
}

#[derive(Serialize, Debug, Clone, Default)]
pub struct HostileStats {
    pub classes: Vec<ClassStats>,
    /// Server RSS before anything, KiB.
    pub server_rss_before_kib: u64,
    /// With every hostile connection open (before the probes under load).
    pub server_rss_held_kib: u64,
    /// The most seen while sampling (every 250 ms) during the whole run.
    pub server_rss_peak_kib: u64,
    /// Once the hostile connections are gone.
    pub server_rss_after_kib: u64,
    pub baseline_imap: Latency,
    pub baseline_smtp: Latency,
    pub loaded_imap: Latency,
    pub loaded_smtp: Latency,
    pub probe_failures: u64,
    /// Seconds from the first hostile connect to the end of the hold.
    pub held_seconds: f64,
}

struct Hostile {
    sock: TcpStream,
    class: Class,
    target: SocketAddr,
    started: Instant,
    connected: bool,
    /// Slow connections: what they send, a byte at a time (chosen from the greeting).
    pattern: Option<&'static [u8]>,
    sent: u64,
    next_send: Instant,
    /// TLS classes: bytes of the ClientHello (or its half) still to send.
    hello_sent: usize,
    hello_len: usize,
    /// The line being received (capped), and the last complete one.
    line: Vec<u8>,
    last_line: Option<Vec<u8>>,
    bytes_in: u64,
}

/// What became of a hostile connection.
struct Ended {
    class: Class,
    farewell: String,
    after: Option<Duration>,
    opened: bool,
    sent: u64,
}

/// The protocol's NOOP, by its greeting; sent one byte at a time.
fn pattern_for(greeting: &[u8]) -> &'static [u8] {
    if greeting.starts_with(b"* ") {
        b"a NOOP\r\n"
    } else {
        // SMTP (220) and POP3 (+OK) both know NOOP (POP3 only after login: -ERR before).
        b"NOOP\r\n"
    }
}

impl Hostile {
    fn connect(
        class: Class,
        target: SocketAddr,
        source: Option<IpAddr>,
        now: Instant,
    ) -> io::Result<Hostile> {
        let bind = SocketAddr::new(
            source.unwrap_or(match target {
                SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
            }),
            0,
        );
        let socket = crate::conn::new_socket(bind, target)?;
        socket.set_nonblocking(true)?;
        socket.set_nodelay(true)?;
        match socket.connect(&target.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let std_stream: std::net::TcpStream = socket.into();
        Ok(Hostile {
            sock: TcpStream::from_std(std_stream),
            class,
            target,
            started: now,
            connected: false,
            pattern: None,
            sent: 0,
            next_send: now,
            hello_sent: 0,
            hello_len: 0,
            line: Vec::new(),
            last_line: None,
            bytes_in: 0,
        })
    }

    /// Read what the server sent; `Err` once the connection is over.
    fn read(&mut self, slow_interval: Duration, now: Instant) -> Result<(), String> {
        let mut buf = [0u8; 4096];
        // Bounded: a server can fill at most the socket buffer between two readiness events,
        // and this loop stops at the count below in any case.
        for _ in 0..4096 {
            match self.sock.read(&mut buf) {
                Ok(0) => return Err("closed".into()),
                Ok(n) => {
                    self.bytes_in += n as u64;
                    if self.class.is_tls() {
                        continue;
                    }
                    for &b in &buf[..n] {
                        if b == b'\n' {
                            let mut line = std::mem::take(&mut self.line);
                            if line.last() == Some(&b'\r') {
                                line.pop();
                            }
                            if self.class == Class::Slow && self.pattern.is_none() {
                                self.pattern = Some(pattern_for(&line));
                                self.next_send = now + slow_interval;
                            }
                            self.last_line = Some(line);
                        } else if self.line.len() < 200 {
                            self.line.push(b);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("{:?}", e.kind())),
            }
        }
        Ok(())
    }

    /// What the server last said (text protocols) or sent (TLS).
    fn farewell(&self) -> String {
        let said = if self.class.is_tls() {
            // Bucketed: signatures vary a few bytes in length.
            match self.bytes_in {
                0 => "no TLS records".to_string(),
                1..=7 => "one TLS alert".to_string(),
                n => format!("about {} bytes of TLS", (n + 50) / 100 * 100),
            }
        } else {
            match &self.last_line {
                Some(line) => String::from_utf8_lossy(line).into_owned(),
                None => "nothing".into(),
            }
        };
        format!("{}: {said}", self.target)
    }
}

struct Engine {
    poll: Poll,
    slots: Vec<Option<Hostile>>,
    ended: Vec<Ended>,
    hello: Vec<u8>,
    slow_interval: Duration,
    connecting: usize,
    open: u64,
}

impl Engine {
    fn end(&mut self, i: usize, how: &str, by_server: bool) {
        let Some(mut h) = self.slots[i].take() else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut h.sock);
        if h.connected {
            self.open -= 1;
        } else {
            self.connecting -= 1;
        }
        let farewell = if h.connected {
            format!("{} ({how})", h.farewell())
        } else {
            format!("{}: not connected ({how})", h.target)
        };
        self.ended.push(Ended {
            class: h.class,
            farewell,
            after: (by_server && h.connected).then(|| h.started.elapsed()),
            opened: h.connected,
            sent: h.sent,
        });
    }

    fn drive(&mut self, i: usize) {
        let now = Instant::now();
        let Some(h) = self.slots[i].as_mut() else {
            return;
        };
        if !h.connected {
            match h.sock.take_error() {
                Ok(Some(e)) | Err(e) => {
                    let how = format!("{:?}", e.kind());
                    return self.end(i, &how, false);
                }
                Ok(None) => {}
            }
            match h.sock.peer_addr() {
                Ok(_) => {
                    h.connected = true;
                    self.connecting -= 1;
                    self.open += 1;
                    h.hello_len = match h.class {
                        Class::TlsHello => self.hello.len(),
                        Class::TlsPartial => self.hello.len() / 2,
                        _ => 0,
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => {
                    let how = format!("{:?}", e.kind());
                    return self.end(i, &how, false);
                }
            }
        }
        let Some(h) = self.slots[i].as_mut() else {
            return;
        };
        while h.hello_sent < h.hello_len {
            match h.sock.write(&self.hello[h.hello_sent..h.hello_len]) {
                Ok(n) => h.hello_sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    let how = format!("{:?}", e.kind());
                    return self.end(i, &how, true);
                }
            }
        }
        if let Err(how) = h.read(self.slow_interval, now) {
            self.end(i, &how, true);
        }
    }

    /// Every slow connection whose turn it is sends its next byte.
    fn trickle(&mut self, now: Instant) {
        for i in 0..self.slots.len() {
            let Some(h) = self.slots[i].as_mut() else {
                continue;
            };
            let Some(pattern) = h.pattern else { continue };
            if h.next_send > now {
                continue;
            }
            let byte = pattern[(h.sent % pattern.len() as u64) as usize];
            match h.sock.write(&[byte]) {
                Ok(_) => {
                    h.sent += 1;
                    h.next_send += self.slow_interval;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    let how = format!("{:?}", e.kind());
                    self.end(i, &how, true);
                }
            }
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
        self.trickle(Instant::now());
        Ok(())
    }

    fn live(&self) -> usize {
        self.connecting + self.open as usize
    }
}

/// One run of the normal client: an SMTP delivery, then IMAP LOGIN, SELECT, FETCH of the
/// newest message, LOGOUT. Latencies go to `stats` under `smtp` and `imap` (whole sessions).
fn probe(
    opts: &HostileOpts,
    imap_ep: &Endpoint,
    smtp_ep: &Endpoint,
    rng: &mut SmallRng,
    stats: &mut Stats,
    kinds: (&'static str, &'static str),
) {
    let common = &opts.common;
    let (user, pass) = common.credentials(0);
    let start = Instant::now();
    let delivered = (|| {
        let mut smtp = Smtp::connect(smtp_ep, &common.helo)?;
        let id = format!("hostile-{:016x}", rand::Rng::gen::<u64>(rng));
        let msg = message(rng, common.size, &common.from, &common.rcpt(), &id);
        smtp.send(&common.from, &[common.rcpt()], &msg)?;
        smtp.quit()
    })();
    match delivered {
        Ok(()) => stats.record_ok(kinds.1, start.elapsed().as_micros() as u64, 0),
        Err(f) => stats.record_failure(&f),
    }
    let start = Instant::now();
    let fetched = (|| {
        let mut imap = Imap::connect(imap_ep)?;
        imap.login(user, pass)?;
        let n = imap.select(&common.mailbox)?;
        if n == 0 {
            return Err(Failure::Setup("mailbox empty after a delivery"));
        }
        let before = imap.conn.bytes_in;
        imap.command("FETCH", &format!("FETCH {n} BODY.PEEK[]"))?;
        let got = imap.conn.bytes_in - before;
        if got < common.size as u64 / 2 {
            return Err(Failure::Protocol(format!(
                "FETCH returned {got} bytes for a message of about {}",
                common.size
            )));
        }
        imap.logout()?;
        Ok(got)
    })();
    match fetched {
        Ok(bytes) => stats.record_ok(kinds.0, start.elapsed().as_micros() as u64, bytes),
        Err(f) => stats.record_failure(&f),
    }
}

/// Source address of hostile connection `i`.
fn source_of(opts: &HostileOpts, i: usize) -> Option<IpAddr> {
    if opts.per_source == 0 {
        return opts.common.bind;
    }
    let base = u32::from(opts.source_base);
    let n = u32::try_from(i / opts.per_source).unwrap_or(u32::MAX);
    Some(IpAddr::V4(Ipv4Addr::from(base.saturating_add(n))))
}

/// The ClientHello this client would send to `ep` (its first flight).
fn client_hello(ep: &Endpoint) -> Result<Vec<u8>, String> {
    let mut conn = rustls::ClientConnection::new(ep.tls_config.clone(), ep.server_name.clone())
        .map_err(|e| format!("TLS client: {e}"))?;
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello)
            .map_err(|e| format!("ClientHello: {e}"))?;
    }
    Ok(hello)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    (sorted[i.min(sorted.len() - 1)] * 10.0).round() / 10.0
}

pub fn run(opts: &HostileOpts, ep: &Endpoint) -> Result<Report, String> {
    let common = &opts.common;
    if opts.plain_targets.is_empty() && opts.silent + opts.slow > 0 {
        return Err("--plain-target is required for silent and slow connections".into());
    }
    for t in opts.plain_targets.iter().chain(&opts.tls_targets) {
        if !common.allow_remote && !t.ip().is_loopback() {
            return Err(format!("{t} is not a loopback address"));
        }
    }
    if opts.per_source > 0 && !common.target.is_ipv4() {
        return Err("--per-source spreads over IPv4 source addresses: give an IPv4 --target or --per-source 0".into());
    }
    let smtp_ep = Endpoint {
        addr: opts.smtp_target,
        tls: opts.smtp_tls,
        ..ep.clone()
    };
    let tls_targets = if opts.tls_targets.is_empty() {
        vec![common.target]
    } else {
        opts.tls_targets.clone()
    };
    let plan: Vec<(Class, SocketAddr)> = {
        let mut plan = Vec::new();
        for i in 0..opts.silent {
            plan.push((
                Class::Silent,
                opts.plain_targets[i % opts.plain_targets.len()],
            ));
        }
        for i in 0..opts.slow {
            plan.push((
                Class::Slow,
                opts.plain_targets[i % opts.plain_targets.len()],
            ));
        }
        for i in 0..opts.tls_stall {
            let class = if i % 2 == 0 {
                Class::TlsPartial
            } else {
                Class::TlsHello
            };
            plan.push((class, tls_targets[i % tls_targets.len()]));
        }
        plan
    };
    let wanted = plan.len() as u64 + 256;
    let limit = crate::idle::raise_nofile(wanted);
    if limit < wanted {
        return Err(format!(
            "open-file limit {limit} is too low for {} connections (raise the hard limit: ulimit -Hn)",
            plan.len()
        ));
    }
    let hello = client_hello(ep)?;
    let pids = common.server_pid.clone();
    let sample = |pids: &[u32]| procstat::sample(pids, false).rss_kib;

    let start = Instant::now();
    let before = procstat::sample(&pids, false);
    let open_now = Arc::new(AtomicU64::new(0));
    let closed_now = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (o, c) = (open_now.clone(), closed_now.clone());
        Sampler::start(pids.clone(), "hostile".into(), common.quiet, move || {
            format!(
                "hostile open {} ended {}",
                o.load(Ordering::Relaxed),
                c.load(Ordering::Relaxed)
            )
        })
    };

    // The baseline: the normal client alone, after a few runs that are not counted (the
    // first logins start the server's blocking pool, the first SELECT loads the index).
    let mut rng = SmallRng::seed_from_u64(common.seed);
    let mut warm_up = Stats::default();
    for _ in 0..opts.probes.min(3) {
        probe(opts, ep, &smtp_ep, &mut rng, &mut warm_up, ("imap", "smtp"));
    }
    // Failures of the warm-up count; its latencies do not.
    let mut baseline = Stats {
        failed: warm_up.failed,
        failures: warm_up.failures,
        first_failure: warm_up.first_failure,
        ..Stats::default()
    };
    for _ in 0..opts.probes {
        probe(
            opts,
            ep,
            &smtp_ep,
            &mut rng,
            &mut baseline,
            ("imap", "smtp"),
        );
    }

    // Open every hostile connection, --connect-concurrency in progress at a time; one stuck
    // in connect for longer than --timeout is given up.
    let mut engine = Engine {
        poll: Poll::new().map_err(|e| format!("poll: {e}"))?,
        slots: Vec::with_capacity(plan.len()),
        ended: Vec::new(),
        hello,
        slow_interval: Duration::from_secs_f64(opts.slow_interval.max(0.01)),
        connecting: 0,
        open: 0,
    };
    let mut events = Events::with_capacity(4096);
    let hostile_start = Instant::now();
    let hard_deadline = start + Duration::from_secs_f64(common.max_time);
    let mut next = 0;
    while next < plan.len() || engine.connecting > 0 {
        if Instant::now() > hard_deadline {
            return Err("--max-time reached while opening connections".into());
        }
        while next < plan.len() && engine.connecting < common.connect_concurrency.max(1) {
            let (class, target) = plan[next];
            let now = Instant::now();
            match Hostile::connect(class, target, source_of(opts, next), now) {
                Ok(mut h) => {
                    let r = engine.poll.registry().register(
                        &mut h.sock,
                        Token(next),
                        Interest::READABLE | Interest::WRITABLE,
                    );
                    engine.slots.push(None);
                    match r {
                        Ok(()) => {
                            engine.slots[next] = Some(h);
                            engine.connecting += 1;
                        }
                        Err(e) => engine.ended.push(Ended {
                            class,
                            farewell: format!("{target}: not connected (register: {e})"),
                            after: None,
                            opened: false,
                            sent: 0,
                        }),
                    }
                }
                Err(e) => {
                    engine.slots.push(None);
                    engine.ended.push(Ended {
                        class,
                        farewell: format!("{target}: not connected ({:?})", e.kind()),
                        after: None,
                        opened: false,
                        sent: 0,
                    });
                }
            }
            next += 1;
        }
        engine.poll_once(&mut events, Duration::from_millis(20))?;
        let stuck: Vec<usize> = (0..engine.slots.len())
            .filter(|&i| {
                engine.slots[i]
                    .as_ref()
                    .is_some_and(|h| !h.connected && h.started.elapsed() > ep.timeout)
            })
            .collect();
        for i in stuck {
            engine.end(i, "connect timed out", false);
        }
        open_now.store(engine.open, Ordering::Relaxed);
        closed_now.store(engine.ended.len() as u64, Ordering::Relaxed);
    }
    // Let the greetings and first flights arrive before measuring.
    let settle = Instant::now() + Duration::from_secs(1);
    while Instant::now() < settle {
        engine.poll_once(&mut events, Duration::from_millis(20))?;
    }
    let rss_held = sample(&pids);

    // The normal client again, while every hostile connection is held.
    let loaded = {
        let (opts2, ep2, smtp2) = (opts.clone(), ep.clone(), smtp_ep.clone());
        let seed = common.seed.wrapping_add(1);
        std::thread::spawn(move || {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut stats = Stats::default();
            for _ in 0..opts2.probes {
                probe(&opts2, &ep2, &smtp2, &mut rng, &mut stats, ("imap", "smtp"));
            }
            stats
        })
    };
    while !loaded.is_finished() {
        if Instant::now() > hard_deadline {
            return Err("--max-time reached while probing under load".into());
        }
        engine.poll_once(&mut events, Duration::from_millis(20))?;
        open_now.store(engine.open, Ordering::Relaxed);
        closed_now.store(engine.ended.len() as u64, Ordering::Relaxed);
    }
    let loaded = loaded
        .join()
        .map_err(|_| "the probe thread panicked".to_string())?;

    // Hold: until the server has ended every hostile connection or --hold seconds from the
    // first connect.
    let hold = common.hold.or(common.duration).unwrap_or(10.0);
    let hold_end = (hostile_start + Duration::from_secs_f64(hold)).min(hard_deadline);
    while engine.live() > 0 && Instant::now() < hold_end {
        engine.poll_once(&mut events, Duration::from_millis(50))?;
        open_now.store(engine.open, Ordering::Relaxed);
        closed_now.store(engine.ended.len() as u64, Ordering::Relaxed);
    }
    let held_seconds = hostile_start.elapsed().as_secs_f64();
    let mut still_open: BTreeMap<Class, u64> = BTreeMap::new();
    for slot in engine.slots.iter_mut() {
        if let Some(h) = slot.take() {
            *still_open.entry(h.class).or_default() += 1;
            if h.connected {
                engine.ended.push(Ended {
                    class: h.class,
                    farewell: String::new(),
                    after: None,
                    opened: true,
                    sent: h.sent,
                });
            }
        }
    }
    drop(engine.slots);
    // The server notices the closes and frees what they held.
    std::thread::sleep(Duration::from_secs(2));
    let rss_after = sample(&pids);
    let peak = sampler.finish();

    let classes = Class::ALL
        .iter()
        .map(|&class| {
            let mine: Vec<&Ended> = engine.ended.iter().filter(|e| e.class == class).collect();
            let mut afters: Vec<f64> = mine
                .iter()
                .filter_map(|e| e.after.map(|d| d.as_secs_f64()))
                .collect();
            afters.sort_by(f64::total_cmp);
            let mut farewells: BTreeMap<String, u64> = BTreeMap::new();
            for e in &mine {
                if e.farewell.is_empty() {
                    continue;
                }
                if farewells.len() < 24 || farewells.contains_key(&e.farewell) {
                    *farewells.entry(e.farewell.clone()).or_default() += 1;
                }
            }
            ClassStats {
                class: class.name().into(),
                wanted: plan.iter().filter(|p| p.0 == class).count() as u64,
                opened: mine.iter().filter(|e| e.opened).count() as u64,
                not_opened: mine.iter().filter(|e| !e.opened).count() as u64,
                closed_by_server: afters.len() as u64,
                still_open: still_open.get(&class).copied().unwrap_or(0),
                close_after_min_s: percentile(&afters, 0.0),
                close_after_median_s: percentile(&afters, 0.5),
                close_after_max_s: percentile(&afters, 1.0),
                farewells,
                bytes_sent: mine.iter().map(|e| e.sent).sum(),
            }
        })
        .collect();

    let kind = |s: &Stats, k: &str| s.by_kind.get(k).map(Latency::of).unwrap_or_default();
    let mut all = Stats::default();
    all.merge(loaded);
    let loaded_imap = kind(&all, "imap");
    let loaded_smtp = kind(&all, "smtp");
    let probe_failures = baseline.failed + all.failed;
    let mut by_kind = BTreeMap::new();
    by_kind.insert("baseline imap".to_string(), kind(&baseline, "imap"));
    by_kind.insert("baseline smtp".to_string(), kind(&baseline, "smtp"));
    by_kind.insert("under load imap".to_string(), loaded_imap.clone());
    by_kind.insert("under load smtp".to_string(), loaded_smtp.clone());
    let hostile = HostileStats {
        classes,
        server_rss_before_kib: before.rss_kib,
        server_rss_held_kib: rss_held,
        server_rss_peak_kib: peak.max(rss_held).max(rss_after),
        server_rss_after_kib: rss_after,
        baseline_imap: kind(&baseline, "imap"),
        baseline_smtp: kind(&baseline, "smtp"),
        loaded_imap,
        loaded_smtp,
        probe_failures,
        held_seconds,
    };
    let ok = baseline.ok + all.ok;
    let mut failures = baseline.failures.clone();
    for (k, n) in &all.failures {
        *failures.entry(k.clone()).or_default() += n;
    }
    let mut latency = histogram();
    let _ = latency.add(&all.latency);
    Ok(Report {
        scenario: "hostile".into(),
        target: common.target.to_string(),
        tls: format!("{:?}", common.tls).to_lowercase(),
        mode: "closed".into(),
        sessions: plan.len(),
        elapsed_seconds: start.elapsed().as_secs_f64(),
        ops: ok,
        failed: probe_failures,
        latency: Latency::of(&latency),
        by_kind,
        failures,
        first_failure: baseline.first_failure.or(all.first_failure),
        server: server_stats(&pids, before, peak, ok),
        hostile: Some(hostile),
        ..Report::default()
    })
}

impl HostileStats {
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mib = |k: u64| k as f64 / 1024.0;
        let ms = |us: u64| us as f64 / 1000.0;
        let mut s = String::new();
        for c in &self.classes {
            if c.wanted == 0 {
                continue;
            }
            let _ = writeln!(
                s,
                "  {:<12} {} wanted, {} opened, {} not opened; closed by the server: {} after {:.1} / {:.1} / {:.1} s (min / median / max); still open at the end: {}{}",
                c.class,
                c.wanted,
                c.opened,
                c.not_opened,
                c.closed_by_server,
                c.close_after_min_s,
                c.close_after_median_s,
                c.close_after_max_s,
                c.still_open,
                if c.bytes_sent > 0 {
                    format!("; {} bytes trickled", c.bytes_sent)
                } else {
                    String::new()
                }
            );
            for (line, n) in &c.farewells {
                let _ = writeln!(s, "      {n:>6} × {line}");
            }
        }
        let _ = writeln!(
            s,
            "  server RSS: before {:.1} MiB, all hostile connections held {:.1} MiB, peak {:.1} MiB, after {:.1} MiB",
            mib(self.server_rss_before_kib),
            mib(self.server_rss_held_kib),
            mib(self.server_rss_peak_kib),
            mib(self.server_rss_after_kib)
        );
        for (name, l) in [
            ("imap, alone", &self.baseline_imap),
            ("imap, under load", &self.loaded_imap),
            ("smtp, alone", &self.baseline_smtp),
            ("smtp, under load", &self.loaded_smtp),
        ] {
            let _ = writeln!(
                s,
                "  normal client {name:<17} {:>4} runs: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                l.count,
                ms(l.p50_us),
                ms(l.p99_us),
                ms(l.max_us)
            );
        }
        s
    }
}
