//! The store's one door to the runtime's IO: glommio's direct-IO files and aligned buffers,
//! local tasks, timers, its blocking thread pool and its semaphore, and the conversion of its
//! errors into [`StoreError`]. Every other store file says `super::io::…`, so replacing the
//! runtime (PLATFORM.md §14) changes this file and nothing else in the store.
//!
//! Never decides anything: it names things. Where a re-export says all there is to say, it is
//! one; a wrapper is here only where it makes the interface smaller.

use std::future::Future;
use std::time::Duration;

use super::types::StoreError;

/// An aligned buffer a [`DmaFile`] writes from.
pub(crate) use glommio::io::DmaBuffer;
/// A file opened with O_DIRECT and driven through io_uring. Never glommio's
/// `DmaStreamWriter`, which writes stale bytes of earlier buffers (PLATFORM.md §5).
pub(crate) use glommio::io::DmaFile;
/// How a [`DmaFile`] is opened.
pub(crate) use glommio::io::OpenOptions;
/// Bytes read from a [`DmaFile`], sliceable without a copy.
pub(crate) use glommio::io::ReadResult;
/// A local task's handle: awaiting it yields the task's output.
pub(crate) use glommio::Task;

/// The executor-local semaphore (for async critical sections such as opening a partition).
pub(crate) type Semaphore = glommio::sync::Semaphore;

/// An aligned buffer of `size` bytes for direct IO, contents unspecified. Not from the executor's
/// registered pool: such a buffer may live as long as an upload, and the pool is small
/// (PLATFORM.md §8).
pub(crate) fn dma_buffer(size: usize) -> DmaBuffer {
    glommio::allocate_dma_buffer_global(size)
}

/// Run `future` as a task of the current executor; await the returned handle for its output.
pub(crate) fn spawn<T: 'static>(future: impl Future<Output = T> + 'static) -> Task<T> {
    glommio::spawn_local(future)
}

/// Run `future` as a task of the current executor that nobody waits for.
pub(crate) fn spawn_detached(future: impl Future<Output = ()> + 'static) {
    glommio::spawn_local(future).detach();
}

/// Let other tasks run if this one has used up its share of the CPU (a long computation
/// between two IOs calls it now and then).
pub(crate) async fn yield_if_needed() {
    glommio::yield_if_needed().await;
}

/// Wait `duration` without blocking the executor. A timer fires up to the executor's
/// preemption quantum late while a task computes (PLATFORM.md §9).
pub(crate) async fn sleep(duration: Duration) {
    glommio::timer::sleep(duration).await;
}

/// Run blocking `work` (file creation, renames, directory syncs) on the executor's blocking
/// thread pool, off the shard thread, and wait for its result.
pub(crate) async fn blocking<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
    glommio::executor().spawn_blocking(work).await
}

impl From<glommio::GlommioError<()>> for StoreError {
    fn from(e: glommio::GlommioError<()>) -> StoreError {
        StoreError::Io(e.into())
    }
}
