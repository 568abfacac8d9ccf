//! When a queued message is tried again, when the sender is told it is late, and when it is
//! given up (`[outbound] retry_initial_secs`, `retry_max_secs`, `delay_warning_hours`,
//! `max_queue_days`). Times are Unix seconds passed in: no clock here.

/// The retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Wait after the first failed attempt; doubled after each further one.
    pub initial: u64,
    /// The longest wait between two attempts.
    pub max: u64,
    /// A message this old gets a delay notification (once), if still not delivered.
    pub warn_after: u64,
    /// A message this old is given up and bounced.
    pub lifetime: u64,
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule {
            initial: 300,
            max: 3600,
            warn_after: 4 * 3600,
            lifetime: 5 * 86_400,
        }
    }
}

impl Schedule {
    /// When to try again after `attempts` failed attempts (at least one), the last at `now`:
    /// `initial`, then doubling, up to `max`; never after the message's end of life.
    pub fn next_attempt(&self, attempts: u32, accepted: i64, now: i64) -> i64 {
        let doublings = attempts.saturating_sub(1).min(40);
        let wait = self
            .initial
            .saturating_mul(1u64 << doublings)
            .min(self.max.max(self.initial));
        let next = now.saturating_add(i64::try_from(wait).unwrap_or(i64::MAX));
        next.min(self.expires(accepted)).max(now)
    }

    /// When a message accepted at `accepted` is given up.
    pub fn expires(&self, accepted: i64) -> i64 {
        accepted.saturating_add(i64::try_from(self.lifetime).unwrap_or(i64::MAX))
    }

    pub fn expired(&self, accepted: i64, now: i64) -> bool {
        now >= self.expires(accepted)
    }

    /// Whether a message accepted at `accepted` and not yet delivered is due for its delay
    /// notification (never if it was sent already).
    pub fn warn_now(&self, accepted: i64, now: i64, warned: bool) -> bool {
        !warned
            && self.warn_after > 0
            && now >= accepted.saturating_add(i64::try_from(self.warn_after).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_never_past_the_lifetime() {
        let s = Schedule::default();
        let waits: Vec<i64> = (1..=6).map(|n| s.next_attempt(n, 0, 1000) - 1000).collect();
        assert_eq!(waits, [300, 600, 1200, 2400, 3600, 3600]);
        // Near the end of life, the next attempt is the last moment.
        let accepted = 0;
        let end = s.expires(accepted);
        assert_eq!(s.next_attempt(3, accepted, end - 10), end);
        assert!(s.expired(accepted, end) && !s.expired(accepted, end - 1));
        assert_eq!(s.next_attempt(u32::MAX, 0, 5), 3605);
    }

    #[test]
    fn one_delay_warning_after_its_time() {
        let s = Schedule::default();
        assert!(!s.warn_now(0, 4 * 3600 - 1, false));
        assert!(s.warn_now(0, 4 * 3600, false));
        assert!(!s.warn_now(0, 4 * 3600, true));
        let never = Schedule { warn_after: 0, ..s };
        assert!(!never.warn_now(0, 10 * 86_400, false));
    }
}
