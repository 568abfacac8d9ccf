//! Per-worker statistics, their merge, and the final report (text or JSON).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::error::Failure;

/// A histogram of latencies in microseconds, 1 µs to 1 hour, 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts (low >= 1, high >= 2 * low,
    // sigfig <= 5), so creation cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

pub struct Stats {
    pub latency: Histogram<u64>,
    pub by_kind: BTreeMap<&'static str, Histogram<u64>>,
    pub ok: u64,
    pub failed: u64,
    pub bytes: u64,
    pub sessions: u64,
    /// HTTP requests answered and connections opened (the DAV scenarios).
    pub requests: u64,
    pub connections: u64,
    pub failures: BTreeMap<String, u64>,
    pub first_failure: Option<String>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            latency: histogram(),
            by_kind: BTreeMap::new(),
            ok: 0,
            failed: 0,
            bytes: 0,
            sessions: 0,
            requests: 0,
            connections: 0,
            failures: BTreeMap::new(),
            first_failure: None,
        }
    }
}

impl Stats {
    pub fn record_ok(&mut self, kind: &'static str, micros: u64, bytes: u64) {
        let v = micros.clamp(1, 3_600_000_000);
        // saturating_record never fails (values are clamped into range).
        self.latency.saturating_record(v);
        self.by_kind
            .entry(kind)
            .or_insert_with(histogram)
            .saturating_record(v);
        self.ok += 1;
        self.bytes += bytes;
    }

    pub fn record_failure(&mut self, failure: &Failure) {
        self.failed += 1;
        *self.failures.entry(failure.key()).or_default() += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(failure.to_string());
        }
    }

    pub fn merge(&mut self, other: Stats) {
        // Both histograms have the same bounds, so add() cannot fail.
        let _ = self.latency.add(&other.latency);
        for (k, h) in other.by_kind {
            let _ = self.by_kind.entry(k).or_insert_with(histogram).add(&h);
        }
        self.ok += other.ok;
        self.failed += other.failed;
        self.bytes += other.bytes;
        self.sessions += other.sessions;
        self.requests += other.requests;
        self.connections += other.connections;
        for (k, n) in other.failures {
            *self.failures.entry(k).or_default() += n;
        }
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }
}

#[derive(Serialize, Debug, Clone, Default)]
pub struct Latency {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            count: h.len(),
            mean_us: (h.mean() * 10.0).round() / 10.0,
            p50_us: h.value_at_quantile(0.5),
            p90_us: h.value_at_quantile(0.9),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

#[derive(Serialize, Debug, Clone, Default)]
pub struct ServerStats {
    pub pids: Vec<u32>,
    /// Processes in the measured tree at the end of the run.
    pub processes: usize,
    /// CPU seconds (user + system) the tree used during the run.
    pub cpu_seconds: f64,
    /// Largest sum of VmRSS over the tree seen while sampling (every 250 ms), KiB.
    pub peak_rss_kib: u64,
    /// Successful operations per CPU second the server spent.
    pub ops_per_core_second: f64,
    /// HTTP requests per CPU second the server spent (the DAV scenarios; 0 otherwise).
    pub requests_per_core_second: f64,
}

#[derive(Serialize, Debug, Clone, Default)]
pub struct IdleStats {
    /// Sessions that reached the idle state.
    pub idle_sessions: u64,
    pub held_seconds: f64,
    pub server_rss_before_kib: u64,
    pub server_rss_after_kib: u64,
    pub server_pss_before_kib: u64,
    pub server_pss_after_kib: u64,
    pub rss_per_session_kib: f64,
    pub pss_per_session_kib: f64,
    /// (after - sample at the first tenth) / sessions added since: the cost of one more
    /// session without one-time costs.
    pub marginal_rss_per_session_kib: f64,
    pub marginal_pss_per_session_kib: f64,
    pub client_rss_kib: u64,
}

#[derive(Serialize, Debug, Clone, Default)]
pub struct Report {
    pub scenario: String,
    pub target: String,
    pub tls: String,
    pub mode: String,
    pub sessions: usize,
    pub rate: Option<f64>,
    pub message_size: usize,
    pub elapsed_seconds: f64,
    /// Successful operations.
    pub ops: u64,
    pub failed: u64,
    pub ops_per_second: f64,
    /// Bytes received from the server (after TLS), for FETCH/RETR MB/s.
    pub bytes_received: u64,
    pub mb_per_second: f64,
    pub sessions_opened: u64,
    /// HTTP requests answered (the DAV scenarios: an operation may be many), their rate, and
    /// the connections they took (servers that close after each answer need one each).
    pub requests: u64,
    pub requests_per_second: f64,
    pub connections_opened: u64,
    pub latency: Latency,
    pub by_kind: BTreeMap<String, Latency>,
    pub failures: BTreeMap<String, u64>,
    pub first_failure: Option<String>,
    pub server: Option<ServerStats>,
    pub idle: Option<IdleStats>,
    pub hostile: Option<crate::hostile::HostileStats>,
    /// Facts about the run worth a line (e.g. what dav-seed left in the collections).
    pub notes: Vec<String>,
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

impl Report {
    /// The report as pretty JSON (the binary's --json).
    pub fn json(&self) -> Result<String, String> {
        serde_json::to_string_pretty(self).map_err(|e| e.to_string())
    }

    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} against {} (tls {}), {} loop, {} sessions{}",
            self.scenario,
            self.target,
            self.tls,
            self.mode,
            self.sessions,
            self.rate.map(|r| format!(", {r}/s")).unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "  {} ok, {} failed in {:.2} s: {:.1} ops/s, {:.2} MB/s received, {} sessions opened",
            self.ops,
            self.failed,
            self.elapsed_seconds,
            self.ops_per_second,
            self.mb_per_second,
            self.sessions_opened
        );
        if self.requests > 0 {
            let _ = writeln!(
                s,
                "  {} HTTP requests: {:.1} requests/s, {} connections opened",
                self.requests, self.requests_per_second, self.connections_opened
            );
        }
        let l = &self.latency;
        let _ = writeln!(
            s,
            "  latency p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            ms(l.p50_us),
            ms(l.p90_us),
            ms(l.p99_us),
            ms(l.p999_us),
            ms(l.max_us)
        );
        if self.by_kind.len() > 1 {
            for (k, l) in &self.by_kind {
                let _ = writeln!(
                    s,
                    "    {k:<16} {:>8}  p50 {}  p99 {}  max {}",
                    l.count,
                    ms(l.p50_us),
                    ms(l.p99_us),
                    ms(l.max_us)
                );
            }
        }
        if !self.failures.is_empty() {
            let _ = writeln!(s, "  failures:");
            for (k, n) in &self.failures {
                let _ = writeln!(s, "    {k:<24} {n}");
            }
            if let Some(f) = &self.first_failure {
                let _ = writeln!(s, "  first failure: {f}");
            }
        }
        if let Some(srv) = &self.server {
            let requests = if self.requests > 0 {
                format!(
                    ", {:.1} requests per core-second",
                    srv.requests_per_core_second
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  server {:?} ({} processes): {:.2} CPU s, peak RSS {:.1} MiB, {:.1} ops per core-second{requests}",
                srv.pids,
                srv.processes,
                srv.cpu_seconds,
                srv.peak_rss_kib as f64 / 1024.0,
                srv.ops_per_core_second
            );
        }
        for note in &self.notes {
            let _ = writeln!(s, "  note: {note}");
        }
        if let Some(idle) = &self.idle {
            let _ = writeln!(
                s,
                "  idle: {} sessions held {:.1} s; server RSS {} -> {} KiB ({:.1} KiB/session), PSS {} -> {} KiB ({:.1} KiB/session); marginal RSS {:.1} PSS {:.1} KiB/session; client RSS {} KiB",
                idle.idle_sessions,
                idle.held_seconds,
                idle.server_rss_before_kib,
                idle.server_rss_after_kib,
                idle.rss_per_session_kib,
                idle.server_pss_before_kib,
                idle.server_pss_after_kib,
                idle.pss_per_session_kib,
                idle.marginal_rss_per_session_kib,
                idle.marginal_pss_per_session_kib,
                idle.client_rss_kib
            );
        }
        if let Some(h) = &self.hostile {
            s.push_str(&h.text());
        }
        s
    }
}
