//! A shard-local shutdown signal: fired once, awaited by any number of tasks on the shard.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct Inner {
    fired: Cell<bool>,
    next_id: Cell<u64>,
    /// Wakers of pending waits, removed when a wait is dropped (connections come and go).
    wakers: RefCell<HashMap<u64, Waker>>,
}

/// Cloneable handle; all clones see the same signal.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Rc<Inner>,
}

impl Shutdown {
    pub fn new() -> Self {
        Shutdown::default()
    }

    /// Fire the signal and wake every waiter. Idempotent.
    pub fn fire(&self) {
        self.inner.fired.set(true);
        let wakers: Vec<Waker> = self
            .inner
            .wakers
            .borrow_mut()
            .drain()
            .map(|(_, w)| w)
            .collect();
        for w in wakers {
            w.wake();
        }
    }

    pub fn is_fired(&self) -> bool {
        self.inner.fired.get()
    }

    /// Resolves once [`Shutdown::fire`] has been called.
    pub fn wait(&self) -> Wait {
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id + 1);
        Wait {
            inner: self.inner.clone(),
            id,
        }
    }

    /// Number of registered waiters (for tests).
    #[cfg(test)]
    fn waiters(&self) -> usize {
        self.inner.wakers.borrow().len()
    }
}

/// The future of [`Shutdown::wait`].
pub struct Wait {
    inner: Rc<Inner>,
    id: u64,
}

impl Drop for Wait {
    fn drop(&mut self) {
        self.inner.wakers.borrow_mut().remove(&self.id);
    }
}

impl Future for Wait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.fired.get() {
            return Poll::Ready(());
        }
        self.inner
            .wakers
            .borrow_mut()
            .insert(self.id, cx.waker().clone());
        Poll::Pending
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
