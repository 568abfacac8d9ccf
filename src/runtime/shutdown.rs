//! Shard-local signals awaited by any number of tasks on the shard: [`Notify`], which wakes
//! every waiter each time it is notified, and the [`Shutdown`] signal built on it, fired once.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct NotifyInner {
    /// Bumped by every [`Notify::notify_all`].
    generation: Cell<u64>,
    next_id: Cell<u64>,
    /// Wakers of pending waits, removed when a wait is dropped (connections come and go).
    wakers: RefCell<HashMap<u64, Waker>>,
}

/// Wakes every task waiting on it, each time it is notified. Cloneable; all clones are one.
#[derive(Clone, Default)]
pub struct Notify {
    inner: Rc<NotifyInner>,
}

impl Notify {
    /// Wake every pending [`Notify::changed`].
    pub fn notify_all(&self) {
        let inner = &self.inner;
        inner.generation.set(inner.generation.get() + 1);
        let wakers: Vec<Waker> = inner.wakers.borrow_mut().drain().map(|(_, w)| w).collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Resolves at the first [`Notify::notify_all`] after this call.
    pub fn changed(&self) -> Changed {
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id + 1);
        Changed {
            inner: self.inner.clone(),
            id,
            generation: self.inner.generation.get(),
        }
    }

    /// Number of registered waiters (for tests).
    #[cfg(test)]
    pub(crate) fn waiters(&self) -> usize {
        self.inner.wakers.borrow().len()
    }
}

/// The future of [`Notify::changed`].
pub struct Changed {
    inner: Rc<NotifyInner>,
    id: u64,
    generation: u64,
}

impl Drop for Changed {
    fn drop(&mut self) {
        self.inner.wakers.borrow_mut().remove(&self.id);
    }
}

impl Future for Changed {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.generation.get() != self.generation {
            return Poll::Ready(());
        }
        self.inner
            .wakers
            .borrow_mut()
            .insert(self.id, cx.waker().clone());
        Poll::Pending
    }
}

/// Cloneable handle; all clones see the same signal.
#[derive(Clone, Default)]
pub struct Shutdown {
    fired: Rc<Cell<bool>>,
    notify: Notify,
}

impl Shutdown {
    pub fn new() -> Self {
        Shutdown::default()
    }

    /// Fire the signal and wake every waiter. Idempotent.
    pub fn fire(&self) {
        self.fired.set(true);
        self.notify.notify_all();
    }

    pub fn is_fired(&self) -> bool {
        self.fired.get()
    }

    /// Resolves once [`Shutdown::fire`] has been called.
    pub fn wait(&self) -> Wait {
        Wait {
            fired: self.fired.clone(),
            changed: self.notify.changed(),
        }
    }

    /// Number of registered waiters (for tests).
    #[cfg(test)]
    fn waiters(&self) -> usize {
        self.notify.waiters()
    }
}

/// The future of [`Shutdown::wait`].
pub struct Wait {
    fired: Rc<Cell<bool>>,
    changed: Changed,
}

impl Future for Wait {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.fired.get() {
            return Poll::Ready(());
        }
        // Only `fire` notifies, and it sets the flag first.
        Pin::new(&mut self.changed).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_resolve_after_fire() {
        let s = Shutdown::new();
        let w = s.wait();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut w = Box::pin(w);
        assert_eq!(w.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(s.waiters(), 1);
        s.fire();
        assert_eq!(w.as_mut().poll(&mut cx), Poll::Ready(()));
        assert!(s.is_fired());
    }

    #[test]
    fn dropped_waits_leave_no_waker_behind() {
        let s = Shutdown::new();
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..100 {
            let mut w = Box::pin(s.wait());
            assert_eq!(w.as_mut().poll(&mut cx), Poll::Pending);
        }
        assert_eq!(s.waiters(), 0);
    }
}
