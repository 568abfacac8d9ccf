//! Connection limits shared by all shards: total open connections and connections per client
//! IP address. Lock-free: one atomic counter for the total and a fixed table of atomic
//! counters indexed by a hash of the IP address. Two addresses that share a slot share a
//! budget, which can only make the limit stricter for them, never looser.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::session::Overload;

const IP_SLOTS: usize = 1 << 16;

pub struct ConnectionLimits {
    /// Both changed in place by a configuration reload.
    max_total: AtomicUsize,
    max_per_ip: AtomicU32,
    total: AtomicUsize,
    per_ip: Box<[AtomicU32]>,
}

/// Held for the life of a connection; releases its slots when dropped.
pub struct Permit {
    limits: Arc<ConnectionLimits>,
    slot: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.limits.total.fetch_sub(1, Ordering::Relaxed);
        self.limits.per_ip[self.slot].fetch_sub(1, Ordering::Relaxed);
    }
}

impl ConnectionLimits {
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits {
            max_total: AtomicUsize::new(max_total),
            max_per_ip: AtomicU32::new(u32::try_from(max_per_ip).unwrap_or(u32::MAX)),
            total: AtomicUsize::new(0),
            per_ip: (0..IP_SLOTS).map(|_| AtomicU32::new(0)).collect(),
        })
    }

    /// New maxima (a configuration reload): connections open over them stay, new ones wait
    /// until the count is under.
    pub fn set_maxima(&self, max_total: usize, max_per_ip: usize) {
        self.max_total.store(max_total, Ordering::Relaxed);
        self.max_per_ip.store(
            u32::try_from(max_per_ip).unwrap_or(u32::MAX),
            Ordering::Relaxed,
        );
    }

    /// Admit one more connection from `ip`, or say why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Overload> {
        if self.total.fetch_add(1, Ordering::Relaxed) >= self.max_total.load(Ordering::Relaxed) {
            self.total.fetch_sub(1, Ordering::Relaxed);
            return Err(Overload::ServerFull);
        }
        let slot = slot_of(ip);
        if self.per_ip[slot].fetch_add(1, Ordering::Relaxed)
            >= self.max_per_ip.load(Ordering::Relaxed)
        {
            self.per_ip[slot].fetch_sub(1, Ordering::Relaxed);
            self.total.fetch_sub(1, Ordering::Relaxed);
            return Err(Overload::TooManyFromIp);
        }
        Ok(Permit {
            limits: self.clone(),
            slot,
        })
    }

    /// Open connections right now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

fn slot_of(ip: IpAddr) -> usize {
    // IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
    let ip = match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h as usize) & (IP_SLOTS - 1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn per_ip_and_total_limits_and_release() {
        let limits = ConnectionLimits::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let p1 = limits.admit(a).unwrap();
        let _p2 = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).err(), Some(Overload::TooManyFromIp));
        let _p3 = limits.admit(b).unwrap();
        assert_eq!(limits.admit(b).err(), Some(Overload::ServerFull));
        assert_eq!(limits.open(), 3);
        drop(p1);
        assert_eq!(limits.open(), 2);
        assert!(limits.admit(a).is_ok());
    }

    #[test]
    fn mapped_ipv6_counts_as_ipv4() {
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let m: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(slot_of(a), slot_of(m));
    }
}
