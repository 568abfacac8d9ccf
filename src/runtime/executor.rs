//! The one place executors are built: every executor ringpost runs — a server shard pinned
//! to its CPU, or the single executor of an offline command (`ringpost queue list`,
//! `ringpost import maildir`) — gets its settings here. Never runs anything itself: callers
//! hand it the future to run.
//!
//! Each executor thread also gets the store's heartbeat: every store opened on it beats the
//! [`super::watchdog`], which interrupts the thread if its keep-awake timer stops firing.

use std::future::Future;
use std::io;
use std::time::Duration;

use super::watchdog;

/// Locked IO memory of an executor. RLIMIT_MEMLOCK is 8 MiB on these hosts and an executor
/// locks about three times this (PLATFORM.md §8); glommio refuses below 512 KiB.
const IO_MEMORY: usize = 1 << 20;

/// io_uring depth of each of an executor's rings.
const RING_DEPTH: usize = 128;

/// Timers fire up to this late while a task is CPU-bound; glommio's default is 100 ms
/// (PLATFORM.md §9).
const PREEMPT_TIMER: Duration = Duration::from_millis(5);

/// An executor to start: its thread's name, where it runs and how much IO memory it locks.
#[derive(Debug, Clone)]
pub struct Executor {
    name: String,
    cpu: Option<usize>,
    io_memory: usize,
    ring_depth: usize,
}

impl Executor {
    /// An executor whose thread is called `name`, free to run on any allowed CPU, with the
    /// server's IO memory and ring depth.
    pub fn new(name: impl Into<String>) -> Executor {
        Executor {
            name: name.into(),
            cpu: None,
            io_memory: IO_MEMORY,
            ring_depth: RING_DEPTH,
        }
    }

    /// Pin the executor's thread to `cpu` (a server shard).
    pub fn pinned(mut self, cpu: usize) -> Executor {
        self.cpu = Some(cpu);
        self
    }

    /// Lock `bytes` of IO memory instead (tests run many executors side by side under an
    /// 8 MiB RLIMIT_MEMLOCK and use 256 KiB: PLATFORM.md §8).
    pub fn io_memory(mut self, bytes: usize) -> Executor {
        self.io_memory = bytes;
        self
    }

    /// Use rings of `depth` entries instead.
    pub fn ring_depth(mut self, depth: usize) -> Executor {
        self.ring_depth = depth;
        self
    }

    /// Start the executor's thread and run the future `start` makes on it.
    pub fn spawn<F, Fut, T>(self, start: F) -> io::Result<ExecutorThread<T>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        let placement = match self.cpu {
            Some(cpu) => glommio::Placement::Fixed(cpu),
            None => glommio::Placement::Unbound,
        };
        glommio::LocalExecutorBuilder::new(placement)
            .name(&self.name)
            .io_memory(self.io_memory)
            .ring_depth(self.ring_depth)
            .preempt_timer(PREEMPT_TIMER)
            .spawn(move || {
                crate::store::set_heartbeat(watchdog::store_heartbeat);
                start()
            })
            .map(ExecutorThread)
            .map_err(|e| io::Error::other(e.to_string()))
    }

    /// Run the future `start` makes on this executor and wait for its output.
    pub fn run<F, Fut, T>(self, start: F) -> io::Result<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        self.spawn(start)?.join()
    }
}

/// A running executor's thread.
pub struct ExecutorThread<T: Send + 'static>(glommio::ExecutorJoinHandle<T>);

impl<T: Send + 'static> ExecutorThread<T> {
    /// Wait for the executor's future to finish; an error if it panicked.
    pub fn join(self) -> io::Result<T> {
        self.0.join().map_err(|e| io::Error::other(e.to_string()))
    }
}

/// Why executors may have failed to start, when RLIMIT_MEMLOCK is too low for `executors` of
/// them: glommio registers its IO memory with io_uring, and the kernel counts it as locked
/// memory; below the limit an executor cannot start (PLATFORM.md §8). `None` when the limit
/// is not the likely cause.
pub fn memlock_hint(executors: usize) -> Option<String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    #[allow(unsafe_code)]
    // SAFETY: getrlimit writes one rlimit through a pointer to a live local.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } == 0;
    if !ok || limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    // About three times the IO memory per executor (PLATFORM.md §8).
    let needed = (3 * IO_MEMORY * executors) as u64;
    (limit.rlim_cur < needed).then(|| {
        format!(
            "RLIMIT_MEMLOCK is {} KiB, and {executors} shards lock about {} KiB for io_uring; \
             raise it (systemd: LimitMEMLOCK=infinity; a shell: ulimit -l unlimited) or run \
             fewer shards (server.shards)",
            limit.rlim_cur / 1024,
            needed / 1024
        )
    })
}

/// Run the future `start` makes on an executor of its own, named `name`, and wait for it: the
/// runtime of an offline command (the server stopped, one store opened by hand).
pub fn run_standalone<F, Fut, T>(name: &str, start: F) -> io::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    Executor::new(name).run(start)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_standalone_executor_runs_the_future_and_returns_its_output() {
        let out = Executor::new("test")
            .io_memory(256 << 10)
            .ring_depth(32)
            .run(|| async {
                glommio::timer::sleep(Duration::from_millis(1)).await;
                std::thread::current().name().map(str::to_string)
            })
            .unwrap();
        // The runtime numbers its executor threads after the name.
        assert!(out.unwrap().starts_with("test-"));
    }

    #[test]
    fn a_store_on_an_executor_of_the_runtime_beats_the_watchdog_while_it_lives() {
        use crate::placement::{ShardId, ShardMap};
        use crate::store::{Store, StoreConfig};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let (before, living, after) = Executor::new("test")
            .io_memory(256 << 10)
            .ring_depth(32)
            .run(move || async move {
                let before = watchdog::registered_here();
                let store = Store::new(root, ShardId(0), ShardMap::new(1), StoreConfig::default());
                glommio::timer::sleep(Duration::from_millis(20)).await;
                let living = watchdog::registered_here();
                drop(store);
                glommio::timer::sleep(Duration::from_millis(20)).await;
                (before, living, watchdog::registered_here())
            })
            .unwrap();
        assert_eq!((before, living, after), (false, true, false));
    }
}
