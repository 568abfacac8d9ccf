//! Giving memory back to the system once connections have released their buffers.
//!
//! mimalloc (the server's allocator, `main.rs`) keeps freed pages for reuse and returns them to
//! the system lazily, when the same thread allocates again. A shard whose connections all went
//! quiet at once allocates nothing more, so the read and write buffers they just gave back
//! (tens of KiB each) would stay resident. [`released`] schedules one collection per shard a
//! moment later, however many connections released memory meanwhile.

use std::cell::Cell;
use std::time::Duration;

/// How long after the first release a shard collects (releases that follow within this are
/// collected with it).
const SETTLE: Duration = Duration::from_secs(1);

thread_local! {
    static SCHEDULED: Cell<bool> = const { Cell::new(false) };
}

// Linked for its native library, which defines `mi_collect` (the global allocator is set in
// `main.rs`; test binaries do not use it, but link the same library).
extern crate mimalloc as _;

#[allow(unsafe_code)]
mod ffi {
    extern "C" {
        /// mimalloc: free this thread's empty pages and return purgeable memory to the OS
        /// (`force`: now, rather than after mimalloc's purge delay).
        pub fn mi_collect(force: bool);
    }
}

/// A connection on this shard gave back buffers: collect the shard's free memory soon. Call on
/// a shard (it spawns a task on the current glommio executor).
pub fn released() {
    if SCHEDULED.with(|s| s.replace(true)) {
        return;
    }
    glommio::spawn_local(async {
        glommio::timer::sleep(SETTLE).await;
        SCHEDULED.with(|s| s.set(false));
        collect();
    })
    .detach();
}

/// Return this thread's free memory to the system now.
pub fn collect() {
    // SAFETY: mi_collect takes no pointers and only works on the calling thread's heap (and
    // mimalloc's own shared structures, under its locks); it is safe to call at any time, also
    // when mimalloc is not the global allocator (it then has nothing to collect).
    #[allow(unsafe_code)]
    unsafe {
        ffi::mi_collect(true)
    }
}
