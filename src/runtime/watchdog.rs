//! A watchdog for glommio's lost wake-ups.
//!
//! glommio 0.9 can go to sleep in `io_uring_enter` and miss the completion that should wake
//! it: its timers live on the latency ring, and the main ring sleeps on a poll of that ring's
//! fd, which here sometimes never fires. The executor then sleeps until something else
//! happens: a store test stalled 700 s that way, and another 12 minutes under load, until
//! gdb interrupted the syscall (glommio treats `EINTR` as a wake-up and looks at every ring).
//!
//! So a thread that should wake every few milliseconds ([`Heartbeat::beat`], from the store's
//! keep-awake task) registers here, and one watchdog thread for the process checks the
//! heartbeats. A thread whose heartbeat is stale while it sleeps in the kernel's
//! `io_cqring_wait` gets a signal with an empty handler installed without `SA_RESTART`:
//! exactly what gdb did. A thread that is busy computing is never signalled.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The signal sent to a stuck executor thread (ignored by default, so harmless elsewhere).
const NUDGE: libc::c_int = libc::SIGURG;

/// A heartbeat older than this, on a thread asleep in io_uring, means a lost wake-up.
pub const STALE: Duration = Duration::from_millis(200);

/// How often the watchdog looks.
const CHECK_EVERY: Duration = Duration::from_millis(100);

struct Slot {
    tid: libc::pid_t,
    /// Milliseconds since [`epoch`] of the last beat.
    beat: Arc<AtomicU64>,
    gone: Arc<AtomicBool>,
}

struct Registry {
    slots: Mutex<Vec<Slot>>,
    nudges: AtomicU64,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

extern "C" fn on_nudge(_: libc::c_int) {}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        install_handler();
        let spawned = std::thread::Builder::new()
            .name("ringpost-watchdog".into())
            .spawn(watch);
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the executor watchdog");
        }
        Registry {
            slots: Mutex::new(Vec::new()),
            nudges: AtomicU64::new(0),
        }
    })
}

#[allow(unsafe_code)]
fn install_handler() {
    // SAFETY: a zeroed sigaction is valid; the handler does nothing, so it is
    // async-signal-safe; sa_flags has no SA_RESTART, so a blocking io_uring_enter returns
    // EINTR.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_nudge as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        action.sa_flags = 0;
        if libc::sigaction(NUDGE, &action, std::ptr::null_mut()) != 0 {
            tracing::error!("cannot install the executor watchdog's signal handler");
        }
    }
}

/// Whether thread `tid` of this process sleeps waiting for io_uring completions.
fn asleep_in_io_uring(tid: libc::pid_t) -> bool {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/wchan"))
        .is_ok_and(|w| w.trim() == "io_cqring_wait")
}

fn watch() {
    loop {
        std::thread::sleep(CHECK_EVERY);
        let registry = registry();
        let Ok(mut slots) = registry.slots.lock() else {
            return;
        };
        slots.retain(|s| !s.gone.load(Ordering::Acquire));
        let now = now_ms();
        for s in slots.iter() {
            let age = now.saturating_sub(s.beat.load(Ordering::Acquire));
            if age > STALE.as_millis() as u64 && asleep_in_io_uring(s.tid) {
                registry.nudges.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    thread = s.tid,
                    stalled_ms = age,
                    "executor missed a wake-up; nudging it"
                );
                nudge(s.tid);
            }
        }
    }
}

/// Signal thread `tid` of this process. By kernel thread id (tgkill), not pthread_t: should
/// a registered thread ever end without its Heartbeat being dropped, a stale id is at worst
/// an `ESRCH`, never a dangling pthread handle.
fn nudge(tid: libc::pid_t) {
    // SAFETY: a plain syscall with integer arguments; the handler it triggers does nothing.
    #[allow(unsafe_code)]
    unsafe {
        libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, NUDGE);
    }
}

/// How many times the watchdog has nudged a thread (for tests and diagnostics).
pub fn nudges() -> u64 {
    registry().nudges.load(Ordering::Relaxed)
}

/// The calling thread's registration; beat it at least every [`STALE`] while awake.
pub struct Heartbeat {
    beat: Arc<AtomicU64>,
    gone: Arc<AtomicBool>,
}

impl Heartbeat {
    /// Register the calling thread with the watchdog.
    #[allow(unsafe_code)]
    pub fn register() -> Heartbeat {
        let beat = Arc::new(AtomicU64::new(now_ms()));
        let gone = Arc::new(AtomicBool::new(false));
        // SAFETY: plain syscalls about the calling thread.
        let tid = unsafe { libc::gettid() };
        if let Ok(mut slots) = registry().slots.lock() {
            slots.push(Slot {
                tid,
                beat: Arc::clone(&beat),
                gone: Arc::clone(&gone),
            });
        }
        Heartbeat { beat, gone }
    }

    pub fn beat(&self) {
        self.beat.store(now_ms(), Ordering::Release);
    }
}

/// Whether the calling thread has a live registration.
#[cfg(test)]
#[allow(unsafe_code)]
pub(crate) fn registered_here() -> bool {
    // SAFETY: a plain syscall about the calling thread.
    let tid = unsafe { libc::gettid() };
    registry().slots.lock().is_ok_and(|slots| {
        slots
            .iter()
            .any(|s| s.tid == tid && !s.gone.load(Ordering::Acquire))
    })
}

/// A heartbeat for a store's keep-awake task, registered for the calling thread and dropped
/// with the store (the runtime gives this to the store of every executor it builds).
pub fn store_heartbeat() -> Box<dyn Fn()> {
    let heartbeat = Heartbeat::register();
    Box::new(move || heartbeat.beat())
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        // Under the lock, so the watchdog never signals a thread that has ended.
        let _guard = registry().slots.lock();
        self.gone.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A thread stuck in `io_uring_enter` (waiting for a completion that never comes, as
    /// when glommio loses a wake-up) with a stale heartbeat is interrupted.
    #[test]
    #[allow(unsafe_code)]
    fn a_thread_asleep_in_io_uring_with_a_stale_heartbeat_is_nudged() {
        let before = nudges();
        let waited = std::thread::spawn(|| {
            let _heartbeat = Heartbeat::register();
            // A ring with nothing submitted: waiting for one completion blocks forever
            // unless a signal interrupts it.
            let mut p = [0u8; 120]; // struct io_uring_params
                                    // SAFETY: io_uring_setup with zeroed params; io_uring_enter with no SQEs and
                                    // IORING_ENTER_GETEVENTS waits for one CQE.
            let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4, p.as_mut_ptr()) };
            assert!(fd >= 0, "io_uring_setup failed");
            let started = Instant::now();
            let r = unsafe {
                libc::syscall(
                    libc::SYS_io_uring_enter,
                    fd as libc::c_int,
                    0u32,
                    1u32,
                    1u32, // IORING_ENTER_GETEVENTS
                    std::ptr::null::<libc::c_void>(),
                    0usize,
                )
            };
            let errno = std::io::Error::last_os_error().raw_os_error();
            unsafe { libc::close(fd as libc::c_int) };
            (r, errno, started.elapsed())
        });
        let (r, errno, took) = waited.join().unwrap();
        assert_eq!((r, errno), (-1, Some(libc::EINTR)));
        assert!(
            took >= STALE,
            "nudged before the heartbeat was stale: {took:?}"
        );
        assert!(nudges() > before);
    }
}
