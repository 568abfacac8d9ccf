//! What the store tests share: a glommio executor sized for this machine (8 MiB of locked
//! memory: a small io_memory and ring) and a store configuration with small segments, so
//! tests cross segment boundaries with little data.
#![allow(dead_code)] // Each test file uses what it needs.

use std::time::Duration;

use glommio::{LocalExecutorBuilder, Placement};
use ringpost::store::StoreConfig;

/// Run `f` on a fresh executor thread and wait for it (a panic inside fails the test).
pub fn run<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(256 << 10)
        .ring_depth(32)
        .preempt_timer(Duration::from_millis(5))
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

/// The default store configuration with 256 KiB segments.
pub fn small() -> StoreConfig {
    StoreConfig {
        segment_size: 256 << 10,
        ..StoreConfig::default()
    }
}
