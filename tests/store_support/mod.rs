//! What the store tests share: an executor of the runtime's, sized for this machine (8 MiB of
//! locked memory: a small io_memory and ring) and a store configuration with small segments, so
//! tests cross segment boundaries with little data.
#![allow(dead_code)] // Each test file uses what it needs.

use ringpost::runtime::Executor;
use ringpost::store::StoreConfig;

/// Run `f` on a fresh executor thread and wait for it (a panic inside fails the test).
pub fn run<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    Executor::new("test")
        .io_memory(256 << 10)
        .ring_depth(32)
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
