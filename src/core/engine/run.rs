//! One loop iteration (asyncio's `BaseEventLoop._run_once`) and the loop
//! that repeats it (`run_forever`), driving an [`Engine`] through a
//! [`Dispatcher`].

use std::cell::RefCell;
use std::io;
use std::mem;

use super::Engine;
use crate::core::dispatcher::Dispatcher;
use crate::core::schedulable::Schedulable;
use crate::core::sys::{self, poller, EventBuf};

/// One loop iteration, in the order of asyncio's `BaseEventLoop._run_once`:
/// drop cancelled timers, poll (blocking only when nothing is ready), queue
/// the readers/writers of ready fds, queue due timers, then run exactly the
/// items that were ready at that point, FIFO.
///
/// No borrow of `engine` is held while calling into `d`, so `d` may
/// re-enter it. The poller fd must stay open for the whole call.
pub fn run_once<T, D>(engine: &RefCell<Engine<T>>, d: &mut D) -> Result<(), D::Error>
where
    T: Schedulable + Clone,
    D: Dispatcher<T>,
{
    // 1. Cancelled timers: whole-heap compaction when they dominate, then
    //    whatever cancelled entries remain at the top.
    let garbage = {
        let mut e = engine.borrow_mut();
        let mut garbage = e.timers.take_compacted();
        if sys::fork_count() != e.forks_seen {
            e.leave_parent();
            garbage.append(&mut e.orphans);
        }
        while let Some(t) = e.timers.pop_cancelled_top() {
            garbage.push(t);
        }
        garbage
    };
    if !garbage.is_empty() {
        d.discard(garbage);
    }

    // 2. Poll.
    let polled = {
        let mut guard = engine.borrow_mut();
        let e = &mut *guard;
        let ms = sys::timeout_to_ms(e.poll_timeout());
        if ms == 0 {
            if e.reactor.len() > 1 {
                e.reactor.wait(&mut e.events, 0)
            } else {
                // Only the waker is registered: no I/O can be pending, and the
                // ready queue is already non-empty, so skip the syscall.
                Ok(0)
            }
        } else {
            e.sleeping = true;
            let epfd = e.reactor.fd();
            let mut buf = mem::replace(&mut e.events, EventBuf::empty());
            drop(guard);
            let polled = d.block(&mut || poller::wait(epfd, &mut buf, ms));
            let mut e = engine.borrow_mut();
            e.events = buf;
            e.sleeping = false;
            polled
        }
    };

    // 3. Poll errors.
    let n = match polled {
        Ok(n) => n,
        Err(err) if err.kind() == io::ErrorKind::Interrupted => {
            d.interrupted()?;
            0
        }
        Err(err) => return Err(d.poll_failed(err)),
    };

    // 4. Readiness → ready queue; 5. due timers → ready queue.
    let garbage = {
        let mut guard = engine.borrow_mut();
        let e = &mut *guard;
        let mut garbage = Vec::new();
        for i in 0..n.min(e.events.capacity()) {
            let ev = e.events.get(i);
            e.dispatch_event(ev, &mut garbage);
        }
        // No clock read when no timer is scheduled.
        let end = if e.timers.is_empty() {
            f64::NEG_INFINITY
        } else {
            e.now() + e.clock_resolution
        };
        while let Some(t) = e.timers.pop_due(end) {
            if t.is_cancelled() {
                garbage.push(t);
            } else {
                e.ready.push(t);
            }
        }
        garbage
    };
    if !garbage.is_empty() {
        d.discard(garbage);
    }

    // 6. Run what is ready now; later pushes wait for the next iteration.
    let ntodo = engine.borrow().ready.len();
    let mut skipped = Vec::new();
    let mut result = Ok(());
    for _ in 0..ntodo {
        let item = engine.borrow_mut().ready.pop();
        let Some(item) = item else {
            break;
        };
        if item.is_cancelled() {
            skipped.push(item);
            continue;
        }
        if let Err(err) = d.run(item) {
            result = Err(err);
            break;
        }
    }
    if !skipped.is_empty() {
        d.discard(skipped);
    }
    result
}

/// Runs iterations until one ends with `stopping` set (or fails), like
/// asyncio's `run_forever`; `stopping` is cleared on the way out either way.
pub fn run_forever<T, D>(engine: &RefCell<Engine<T>>, d: &mut D) -> Result<(), D::Error>
where
    T: Schedulable + Clone,
    D: Dispatcher<T>,
{
    let result = loop {
        if let Err(err) = run_once(engine, d) {
            break Err(err);
        }
        if engine.borrow().stopping {
            break Ok(());
        }
    };
    engine.borrow_mut().stopping = false;
    result
}
