//! Closed- and open-loop drivers: one thread per session (session counts here are tens to
//! hundreds; the thousands of imap-idle use the event loop in `idle`), a shared ticket
//! counter for --ops and --rate, a sampler thread for progress and the server's /proc.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::procstat;
use crate::report::{Latency, Report, ServerStats, Stats};
use crate::scenarios::{self, Ctx};

struct Shared {
    next_ticket: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    stop: AtomicBool,
}

/// When the run ends: a deadline, and for --ops a ticket limit.
pub struct Limits {
    pub start: Instant,
    pub deadline: Instant,
    pub ops: Option<u64>,
}

impl Limits {
    pub fn new(duration: Option<f64>, ops: Option<u64>, max_time: f64) -> Limits {
        let start = Instant::now();
        let secs = match (duration, ops) {
            (Some(d), _) => d.min(max_time),
            (None, Some(_)) => max_time,
            (None, None) => 10f64.min(max_time),
        };
        Limits {
            start,
            deadline: start + Duration::from_secs_f64(secs.max(0.0)),
            ops,
        }
    }
}

/// Samples the server tree every 250 ms for peak RSS and prints the progress line.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    peak_rss: Arc<AtomicU64>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    pub fn start(
        pids: Vec<u32>,
        label: String,
        quiet: bool,
        progress: impl Fn() -> String + Send + 'static,
    ) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_rss = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak_rss.clone());
        let tty = std::io::stderr().is_terminal();
        let handle = std::thread::spawn(move || {
            let start = Instant::now();
            let mut last_print = start;
            // Ends when the run sets `stop`; the run itself is bounded in time.
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                let mut server = String::new();
                if !pids.is_empty() {
                    let sample = procstat::sample(&pids, false);
                    p.fetch_max(sample.rss_kib, Ordering::Relaxed);
                    server = format!(" | server RSS {:.1} MiB", sample.rss_kib as f64 / 1024.0);
                }
                if !quiet && last_print.elapsed() >= Duration::from_secs(1) {
                    last_print = Instant::now();
                    let line = format!(
                        "[{label} {:5.1}s] {}{server}",
                        start.elapsed().as_secs_f64(),
                        progress()
                    );
                    if tty {
                        eprint!("\r{line}\x1b[K");
                    } else {
                        eprintln!("{line}");
                    }
                }
            }
            if tty && !quiet {
                eprintln!();
            }
        });
        Sampler {
            stop,
            peak_rss,
            handle: Some(handle),
        }
    }

    /// Stop sampling; the peak RSS seen.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.peak_rss.load(Ordering::Relaxed)
    }
}

pub fn server_stats(
    pids: &[u32],
    before: procstat::Sample,
    peak_rss: u64,
    ops: u64,
) -> Option<ServerStats> {
    if pids.is_empty() {
        return None;
    }
    let after = procstat::sample(pids, false);
    let cpu = after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64
        / procstat::ticks_per_second() as f64;
    Some(ServerStats {
        pids: pids.to_vec(),
        processes: after.processes,
        cpu_seconds: cpu,
        peak_rss_kib: peak_rss.max(after.rss_kib),
        ops_per_core_second: if cpu > 0.0 { ops as f64 / cpu } else { 0.0 },
        requests_per_core_second: 0.0,
    })
}

pub fn run(ctx: Ctx, name: &str) -> Report {
    let ctx = Arc::new(ctx);
    let opts = &ctx.opts;
    let sessions = opts.sessions.max(1);
    let shared = Arc::new(Shared {
        next_ticket: AtomicU64::new(0),
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let before = procstat::sample(&opts.server_pid, false);
    let limits = Arc::new(Limits::new(opts.duration, opts.ops, opts.max_time));
    let progress = {
        let sh = shared.clone();
        let start = limits.start;
        move || {
            let ok = sh.ok.load(Ordering::Relaxed);
            let secs = start.elapsed().as_secs_f64().max(0.001);
            format!(
                "ok {ok} ({:.0}/s) failed {}",
                ok as f64 / secs,
                sh.failed.load(Ordering::Relaxed)
            )
        }
    };
    let sampler = Sampler::start(
        opts.server_pid.clone(),
        name.to_string(),
        opts.quiet,
        progress,
    );
    let total = Arc::new(Mutex::new(Stats::default()));
    let mut handles = Vec::with_capacity(sessions);
    for worker in 0..sessions {
        let (ctx, shared, limits, total) =
            (ctx.clone(), shared.clone(), limits.clone(), total.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("session-{worker}"))
            .stack_size(512 * 1024)
            .spawn(move || {
                let stats = worker_loop(&ctx, worker, &shared, &limits);
                if let Ok(mut t) = total.lock() {
                    t.merge(stats);
                }
            });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                eprintln!("loadtest: could not start session thread {worker}: {e}");
                break;
            }
        }
    }
    for h in handles {
        let _ = h.join();
    }
    shared.stop.store(true, Ordering::Relaxed);
    let elapsed = limits.start.elapsed().as_secs_f64();
    let peak = sampler.finish();
    let stats = std::mem::take(&mut *total.lock().unwrap_or_else(|e| e.into_inner()));
    let mut server = server_stats(&opts.server_pid, before, peak, stats.ok);
    if let Some(s) = server.as_mut() {
        if s.cpu_seconds > 0.0 {
            s.requests_per_core_second = stats.requests as f64 / s.cpu_seconds;
        }
    }
    build_report(name, &ctx, stats, elapsed, server)
}

fn build_report(
    name: &str,
    ctx: &Ctx,
    stats: Stats,
    elapsed: f64,
    server: Option<ServerStats>,
) -> Report {
    let opts = &ctx.opts;
    Report {
        scenario: name.to_string(),
        target: opts.target.to_string(),
        tls: format!("{:?}", opts.tls).to_lowercase(),
        mode: if opts.rate.is_some() {
            "open"
        } else {
            "closed"
        }
        .into(),
        sessions: opts.sessions,
        rate: opts.rate,
        message_size: opts.size,
        elapsed_seconds: elapsed,
        ops: stats.ok,
        failed: stats.failed,
        ops_per_second: stats.ok as f64 / elapsed.max(1e-9),
        bytes_received: stats.bytes,
        mb_per_second: stats.bytes as f64 / 1e6 / elapsed.max(1e-9),
        sessions_opened: stats.sessions,
        requests: stats.requests,
        requests_per_second: stats.requests as f64 / elapsed.max(1e-9),
        connections_opened: stats.connections,
        latency: Latency::of(&stats.latency),
        by_kind: stats
            .by_kind
            .iter()
            .map(|(k, h)| (k.to_string(), Latency::of(h)))
            .collect(),
        failures: stats.failures,
        first_failure: stats.first_failure,
        server,
        idle: None,
        hostile: None,
        notes: Vec::new(),
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// Failures without a single success after which a session gives up.
const GIVE_UP_AFTER: u64 = 200;

fn worker_loop(ctx: &Ctx, worker: usize, shared: &Shared, limits: &Limits) -> Stats {
    let opts = &ctx.opts;
    let mut stats = Stats::default();
    let mut rng = SmallRng::seed_from_u64(opts.seed.wrapping_mul(1_000_003) ^ worker as u64);
    let mut session: Option<Box<dyn scenarios::Session>> = None;
    let mut session_ops = 0u64;
    // Bounded by the deadline (and by --ops): every iteration consumes a ticket.
    loop {
        if Instant::now() >= limits.deadline || shared.stop.load(Ordering::Relaxed) {
            break;
        }
        if stats.ok == 0 && stats.failed >= GIVE_UP_AFTER {
            // Nothing has worked: the server lacks the feature or refuses us. The report's
            // failures say why; hammering it further measures nothing.
            break;
        }
        let ticket = shared.next_ticket.fetch_add(1, Ordering::Relaxed);
        if limits.ops.is_some_and(|n| ticket >= n) {
            break;
        }
        let intended = match opts.rate {
            Some(rate) if rate > 0.0 => {
                let at = limits.start + Duration::from_secs_f64(ticket as f64 / rate);
                if at >= limits.deadline {
                    break;
                }
                sleep_until(at);
                at
            }
            _ => Instant::now(),
        };
        if session.is_none() {
            let t = Instant::now();
            match scenarios::open(ctx, worker) {
                Ok(s) => {
                    stats.sessions += 1;
                    stats
                        .by_kind
                        .entry("(session setup)")
                        .or_insert_with(crate::report::histogram)
                        .saturating_record((t.elapsed().as_micros() as u64).max(1));
                    session = Some(s);
                    session_ops = 0;
                }
                Err(f) => {
                    stats.record_failure(&f);
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                    // Do not hammer a server that refuses sessions.
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            }
        }
        let Some(s) = session.as_mut() else { continue };
        match s.op(ctx, &mut rng) {
            Ok(op) => {
                let micros = intended.elapsed().as_micros() as u64;
                stats.record_ok(op.kind, micros, op.bytes);
                stats.requests += op.requests;
                stats.connections += op.connections;
                for (kind, us) in op.parts {
                    stats
                        .by_kind
                        .entry(kind)
                        .or_insert_with(crate::report::histogram)
                        .saturating_record(us.clamp(1, 3_600_000_000));
                }
                shared.ok.fetch_add(1, Ordering::Relaxed);
                session_ops += 1;
            }
            Err(f) => {
                stats.record_failure(&f);
                shared.failed.fetch_add(1, Ordering::Relaxed);
                if f.is_fatal() {
                    session = None;
                }
            }
        }
        if opts.ops_per_session > 0 && session_ops >= opts.ops_per_session {
            if let Some(s) = session.take() {
                s.close();
            }
        }
    }
    if let Some(s) = session.take() {
        s.close();
    }
    stats
}
