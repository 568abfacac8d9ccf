//! Failed authentications counted across connections and shards (`[auth]` throttling): per
//! client IP address, which blocks for the rest of the window once over its limit, and per
//! account, which delays (doubling) but never blocks, so an attacker cannot lock a real user
//! out. Memory is fixed: two tables of atomic counters indexed by a keyed hash, like
//! [`super::ConnectionLimits`]. Two keys sharing a slot share a count, which can only make
//! throttling stricter for them; the hash key is random per process, so nobody can pick
//! keys that collide with a given user.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use crate::config::Throttling;

const SLOTS: usize = 1 << 14;

/// What to do with an authentication before its credentials are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Check the credentials after waiting this long (zero: at once).
    After(Duration),
    /// Refuse with the protocol's temporary failure, without checking: the client's address
    /// failed too often.
    Refused,
}

pub struct AuthThrottle {
    /// The settings, and the delay an account's first throttled attempt waits
    /// (`auth.failure_delay_ms`); replaced by a reload, the counts kept.
    settings: RwLock<(Throttling, Duration)>,
    hasher: RandomState,
    ips: Box<[AtomicU64]>,
    accounts: Box<[AtomicU64]>,
}

/// A slot holds the start of its window (Unix seconds, high 32 bits) and the failures
/// counted since (low 32 bits).
fn pack(start: u64, count: u64) -> u64 {
    (start << 32) | count.min(u64::from(u32::MAX))
}

fn unpack(v: u64) -> (u64, u64) {
    (v >> 32, v & 0xffff_ffff)
}

impl AuthThrottle {
    pub fn new(settings: Throttling, base_delay: Duration) -> AuthThrottle {
        let table = || (0..SLOTS).map(|_| AtomicU64::new(0)).collect();
        AuthThrottle {
            settings: RwLock::new((settings, base_delay)),
            hasher: RandomState::new(),
            ips: table(),
            accounts: table(),
        }
    }

    /// Whether, and after how long, an authentication from `ip` for `user` (as given, any
    /// case) may be checked at `now` (Unix seconds).
    pub fn admit(&self, ip: IpAddr, user: &str, now: u64) -> Admission {
        let (s, base_delay) = self.settings();
        let s = &s;
        if s.ip_max_failures > 0
            && self.count(&self.ips, self.ip_slot(ip), now) >= u64::from(s.ip_max_failures)
        {
            return Admission::Refused;
        }
        let failures = self.count(&self.accounts, self.account_slot(user), now);
        if failures == 0 || failures < u64::from(s.account_free_failures) {
            return Admission::After(Duration::ZERO);
        }
        let over = failures - u64::from(s.account_free_failures);
        let factor = 1u32 << over.min(20);
        Admission::After(base_delay.saturating_mul(factor).min(s.account_max_delay))
    }

    /// New settings (a configuration reload); the failures counted so far stay.
    pub fn set(&self, settings: Throttling, base_delay: Duration) {
        *self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner) = (settings, base_delay);
    }

    fn settings(&self) -> (Throttling, Duration) {
        *self.settings.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Count a failed authentication.
    pub fn failed(&self, ip: IpAddr, user: &str, now: u64) {
        self.bump(&self.ips, self.ip_slot(ip), now);
        self.bump(&self.accounts, self.account_slot(user), now);
    }

    /// A successful authentication ends its account's delays (the IP's count stays: one
    /// valid account must not let an address guess on at others).
    pub fn succeeded(&self, user: &str) {
        self.accounts[self.account_slot(user)].store(0, Ordering::Relaxed);
    }

    fn ip_slot(&self, ip: IpAddr) -> usize {
        // IPv4-mapped IPv6 and IPv4 are one client.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        (self.hasher.hash_one(ip) as usize) % SLOTS
    }

    fn account_slot(&self, user: &str) -> usize {
        (self.hasher.hash_one(user.to_ascii_lowercase()) as usize) % SLOTS
    }

    /// Failures counted in `slot`'s current window, 0 once it has passed.
    fn count(&self, table: &[AtomicU64], slot: usize, now: u64) -> u64 {
        let (start, count) = unpack(table[slot].load(Ordering::Relaxed));
        if now.saturating_sub(start) >= self.settings().0.window.as_secs() {
            0
        } else {
            count
        }
    }

    fn bump(&self, table: &[AtomicU64], slot: usize, now: u64) {
        let window = self.settings().0.window.as_secs();
        // fetch_update retries on a race; the closure always returns Some, so it cannot fail.
        let _ = table[slot].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            let (start, count) = unpack(v);
            Some(if now.saturating_sub(start) >= window {
                pack(now, 1)
            } else {
                pack(start, count + 1)
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(ip_max: u32) -> AuthThrottle {
        AuthThrottle::new(
            Throttling {
                window: Duration::from_secs(600),
                ip_max_failures: ip_max,
                account_free_failures: 2,
                account_max_delay: Duration::from_secs(5),
            },
            Duration::from_millis(500),
        )
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const OTHER_IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn an_address_over_its_limit_is_refused_until_the_window_ends() {
        let t = throttle(3);
        for i in 0..3 {
            assert_eq!(
                t.admit(IP, &format!("u{i}@x"), 100),
                Admission::After(Duration::ZERO)
            );
            t.failed(IP, &format!("u{i}@x"), 100);
        }
        assert_eq!(t.admit(IP, "alice@x", 150), Admission::Refused);
        // The mapped IPv6 form is the same client.
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(t.admit(mapped, "alice@x", 150), Admission::Refused);
        assert_eq!(
            t.admit(OTHER_IP, "alice@x", 150),
            Admission::After(Duration::ZERO)
        );
        assert_eq!(
            t.admit(IP, "alice@x", 700),
            Admission::After(Duration::ZERO)
        );
    }

    #[test]
    fn an_account_is_slowed_doubling_to_a_cap_and_never_refused() {
        let t = throttle(0);
        let mut delays = Vec::new();
        for i in 0..8 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, i));
            match t.admit(ip, "Alice@X", 100) {
                Admission::After(d) => delays.push(d.as_millis()),
                Admission::Refused => panic!("an account is never refused"),
            }
            t.failed(ip, "alice@x", 100);
        }
        assert_eq!(delays, [0, 0, 500, 1000, 2000, 4000, 5000, 5000]);
        // The real user's success ends the delays.
        t.succeeded("ALICE@x");
        assert_eq!(
            t.admit(IP, "alice@x", 101),
            Admission::After(Duration::ZERO)
        );
    }
}
