//! The shard runtime (to be written).
