//! Latency histograms for the metrics listener: an hdrhistogram per shard and protocol (or
//! per store), recorded without locks, reduced to Prometheus' fixed buckets at the scrape
//! and summed over the shards there.
//!
//! A leaf: plain data, no IO, never reads the clock (callers pass durations).

use std::time::Duration;

use hdrhistogram::Histogram;

/// The buckets' upper bounds in microseconds (`le` labels, in seconds, when rendered).
pub const BOUNDS_US: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
];

/// Durations recorded on one shard.
#[derive(Debug)]
pub struct Latency {
    /// Microseconds, 1 µs to an hour, 2 significant figures (1 % error).
    hist: Option<Histogram<u64>>,
    sum_us: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 2).ok(),
            sum_us: 0,
        }
    }
}

impl Latency {
    pub fn record(&mut self, took: Duration) {
        let us = u64::try_from(took.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, 3_600_000_000);
        if let Some(h) = self.hist.as_mut() {
            h.saturating_record(us);
        }
        self.sum_us = self.sum_us.saturating_add(us);
    }

    /// The counts at [`BOUNDS_US`], cumulative, with the total and the sum.
    pub fn buckets(&self) -> Buckets {
        let mut b = Buckets::default();
        if let Some(h) = &self.hist {
            for (slot, bound) in b.cumulative.iter_mut().zip(BOUNDS_US) {
                *slot = h.count_between(0, bound);
            }
            b.count = h.len();
        }
        b.sum_us = self.sum_us;
        b
    }
}

/// A histogram as Prometheus shows it: cumulative counts per bound, the count, the sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Buckets {
    pub cumulative: [u64; BOUNDS_US.len()],
    pub count: u64,
    pub sum_us: u64,
}

impl Buckets {
    /// Add another shard's.
    pub fn add(&mut self, other: &Buckets) {
        for (a, b) in self.cumulative.iter_mut().zip(other.cumulative) {
            *a += b;
        }
        self.count += other.count;
        self.sum_us += other.sum_us;
    }

    /// `name_bucket{labels,le="…"}` lines, `+Inf`, `name_sum` (seconds) and `name_count`;
    /// `labels` is empty or `key="value",…` without braces.
    pub fn render(&self, name: &str, labels: &str) -> Vec<String> {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut lines = Vec::with_capacity(BOUNDS_US.len() + 3);
        for (bound, count) in BOUNDS_US.iter().zip(self.cumulative) {
            let le = *bound as f64 / 1e6;
            lines.push(format!("{name}_bucket{{{labels}{sep}le=\"{le}\"}} {count}"));
        }
        lines.push(format!(
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        ));
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        lines.push(format!("{name}_sum{braces} {}", self.sum_us as f64 / 1e6));
        lines.push(format!("{name}_count{braces} {}", self.count));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_cumulative_buckets_and_shards_add_up() {
        let mut a = Latency::default();
        a.record(Duration::from_micros(40));
        a.record(Duration::from_micros(700));
        a.record(Duration::from_secs(30));
        let mut b = Latency::default();
        b.record(Duration::from_millis(3));
        let mut sum = a.buckets();
        sum.add(&b.buckets());
        assert_eq!(sum.count, 4);
        assert_eq!(sum.cumulative[0], 1, "≤ 50 µs");
        assert_eq!(sum.cumulative[3], 1, "≤ 500 µs");
        assert_eq!(sum.cumulative[4], 2, "≤ 1 ms");
        assert_eq!(sum.cumulative[6], 3, "≤ 5 ms");
        assert_eq!(sum.cumulative[15], 3, "≤ 10 s: not the 30 s one");
        assert_eq!(sum.sum_us, 40 + 700 + 30_000_000 + 3_000);
        let lines = sum.render("x_seconds", "protocol=\"imap\"");
        assert_eq!(
            lines[0],
            "x_seconds_bucket{protocol=\"imap\",le=\"0.00005\"} 1"
        );
        assert_eq!(
            lines[16],
            "x_seconds_bucket{protocol=\"imap\",le=\"+Inf\"} 4"
        );
        assert_eq!(lines[17], "x_seconds_sum{protocol=\"imap\"} 30.00374");
        assert_eq!(lines[18], "x_seconds_count{protocol=\"imap\"} 4");
        assert_eq!(
            Buckets::default().render("y", "")[16],
            "y_bucket{le=\"+Inf\"} 0"
        );
    }
}
