//! Where an account lives: account → partition → shard.
//!
//! Every account hashes to one of [`PARTITIONS`] partitions with a hash that is part of the
//! on-disk format (FNV-1a 64 over the canonical lower-case address): it must never change.
//! Each partition is owned by exactly one shard; changing the number of shards reassigns
//! partitions and never rewrites data. The same map can later spread partitions over hosts.
//!
//! Pure code that imports nothing else of ours: the store places partitions with it and the
//! runtime routes connections and requests with it (and re-exports it as `shard::…`), so
//! neither has to import the other for it.

use std::fmt;

/// Number of partitions. Part of the on-disk layout: never change it.
pub const PARTITIONS: u16 = 1024;

/// One shard: a pinned executor. Its value is its index in spawn order, which is also its
/// peer id in every cross-shard mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub usize);

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shard {}", self.0)
    }
}

/// A partition of the account space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition(u16);

impl Partition {
    /// The partition of a canonical (lower-case) account address.
    ///
    /// Only the part before a `:` counts: `alice@example.com:dav` (the store key of an
    /// account's calendars and contacts) lives where `alice@example.com` does, on the same
    /// home shard. Addresses never hold a `:` (the accounts file separates fields with it),
    /// so no account's partition changes.
    pub fn of(account: &str) -> Partition {
        let account = account.split_once(':').map_or(account, |(owner, _)| owner);
        // FNV-1a 64: tiny, stable across versions and platforms, well spread for short keys.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in account.bytes() {
            h ^= u64::from(b.to_ascii_lowercase());
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // The remainder is < PARTITIONS, so it fits in u16.
        Partition((h % u64::from(PARTITIONS)) as u16)
    }

    pub fn index(self) -> u16 {
        self.0
    }

    /// The partition numbered `index`, if there is one (`index < PARTITIONS`): what a
    /// partition's directory name gives back.
    pub fn from_index(index: u16) -> Option<Partition> {
        (index < PARTITIONS).then_some(Partition(index))
    }
}

/// The partition → shard assignment for a given number of shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardMap {
    shards: usize,
}

impl ShardMap {
    /// A map over `shards` shards (at least one).
    pub fn new(shards: usize) -> ShardMap {
        ShardMap {
            shards: shards.max(1),
        }
    }

    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The shard that owns `partition`.
    pub fn owner(&self, partition: Partition) -> ShardId {
        ShardId(usize::from(partition.0) % self.shards)
    }

    /// The home shard of a canonical account address.
    pub fn home_shard(&self, account: &str) -> ShardId {
        self.owner(Partition::of(account))
    }
}

/// Why a request to another shard got no reply. Defined with [`ShardId`] rather than with the
/// mesh that returns it, so the store's error type can carry it without naming the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MeshError {
    #[error("no such shard: {0}")]
    NoSuchShard(ShardId),
    #[error("{0} is gone (shutting down)")]
    ShardGone(ShardId),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suffix_after_a_colon_keeps_the_owners_partition() {
        for key in ["alice@example.com", "bob@example.org#00000000000000a1"] {
            assert_eq!(Partition::of(&format!("{key}:dav")), Partition::of(key));
        }
    }

    #[test]
    fn partition_is_stable_and_case_insensitive() {
        // These values are part of the on-disk format: a change here is a data migration.
        assert_eq!(
            Partition::of("alice@example.com"),
            Partition::of("ALICE@Example.COM")
        );
        assert_eq!(Partition::of("alice@example.com").index(), 582);
        assert_eq!(Partition::of("bob@example.com").index(), 665);
    }

    #[test]
    fn a_partition_comes_back_from_its_number_and_no_other_does() {
        let p = Partition::of("alice@example.com");
        assert_eq!(Partition::from_index(p.index()), Some(p));
        assert_eq!(
            Partition::from_index(PARTITIONS - 1).map(Partition::index),
            Some(1023)
        );
        assert_eq!(Partition::from_index(PARTITIONS), None);
    }

    #[test]
    fn every_partition_has_exactly_one_owner_and_owners_are_balanced() {
        for shards in [1, 2, 3, 7, 64] {
            let map = ShardMap::new(shards);
            let mut per_shard = vec![0usize; shards];
            for p in 0..PARTITIONS {
                per_shard[map.owner(Partition(p)).0] += 1;
            }
            let (min, max) = (
                per_shard.iter().min().copied(),
                per_shard.iter().max().copied(),
            );
            assert!(
                max.unwrap_or(0) - min.unwrap_or(0) <= 1,
                "{shards}: {per_shard:?}"
            );
        }
    }

    #[test]
    fn accounts_spread_over_partitions() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000 {
            seen.insert(Partition::of(&format!("user{i}@example.com")));
        }
        // 10,000 keys over 1,024 buckets: essentially every bucket is hit.
        assert!(seen.len() > 1000, "{}", seen.len());
    }

    #[test]
    fn zero_shards_means_one() {
        assert_eq!(ShardMap::new(0).home_shard("a@b.c"), ShardId(0));
    }
}
