//! The loop engine: what a loop holds between iterations (ready queue,
//! timers, fd watchers, the reactor and the waker) and the operations on
//! it. The iteration itself, asyncio's `BaseEventLoop._run_once` /
//! `run_forever` over a [`Dispatcher`](super::dispatcher::Dispatcher), is
//! in `run`.

use std::collections::HashMap;
use std::io;
use std::mem;
use std::os::fd::RawFd;

use super::interest::{Direction, Event, Interest};
use super::reactor::Reactor;
use super::ready_queue::ReadyQueue;
use super::schedulable::Schedulable;
use super::sys::{self, EventBuf, Waker};
use super::timer_heap::TimerHeap;

mod run;
#[cfg(test)]
mod tests;

pub use run::{run_forever, run_once};

/// asyncio's `MAXIMUM_SELECT_TIMEOUT`: the longest single poll, in seconds.
pub const MAXIMUM_SELECT_TIMEOUT: f64 = 24.0 * 3600.0;

/// Everything a loop holds between iterations.
///
/// Driven by [`run_once`] / [`run_forever`] through a `RefCell`, so that a
/// callback run by the dispatcher can re-enter it. No method drops an item:
/// whatever is removed is returned to the caller.
pub struct Engine<T: Schedulable + Clone> {
    ready: ReadyQueue<T>,
    timers: TimerHeap<T>,
    reactor: Reactor,
    waker: Waker,
    events: EventBuf,
    slots: HashMap<RawFd, IoSlot<T>>,
    stopping: bool,
    sleeping: bool,
    clock_resolution: f64,
    /// `sys::fork_count()` when the poller instance and the waker were made.
    forks_seen: u64,
    /// Watchers let go of after a fork, for the caller to drop.
    orphans: Vec<T>,
}

impl<T: Schedulable + Clone> Engine<T> {
    /// A new engine: a poller instance, the waker registered readable in it.
    pub fn new() -> io::Result<Engine<T>> {
        let mut reactor = Reactor::new()?;
        let waker = Waker::new()?;
        reactor.set_interest(waker.fd(), Interest::READABLE)?;
        Ok(Engine {
            ready: ReadyQueue::new(),
            timers: TimerHeap::new(),
            reactor,
            waker,
            events: EventBuf::new(),
            slots: HashMap::new(),
            stopping: false,
            sleeping: false,
            clock_resolution: sys::clock_resolution(),
            forks_seen: {
                sys::watch_forks();
                sys::fork_count()
            },
            orphans: Vec::new(),
        })
    }

    /// In a `fork()` child, the poller instance and the waker are still the
    /// parent's: a DEL would unregister the parent's connections, a poll
    /// would race it for their readiness, and draining the waker would eat
    /// its wake-ups. So the child's engine takes a poller instance and a
    /// waker of its own, and lets go of every inherited watcher (kept in
    /// `orphans` for the caller to drop): the inherited transports, sharing
    /// their sockets with the parent, are never read or flushed here.
    /// Timers and callbacks carry on.
    #[inline]
    fn leave_parent_after_fork(&mut self) {
        if sys::fork_count() != self.forks_seen {
            self.leave_parent();
        }
    }

    #[cold]
    fn leave_parent(&mut self) {
        self.forks_seen = sys::fork_count();
        if self.reactor.fd() < 0 {
            return; // closed before the fork
        }
        for (_, slot) in self.slots.drain() {
            self.orphans.extend(slot.reader);
            self.orphans.extend(slot.writer);
        }
        let fresh = self.reactor.replace_after_fork().and_then(|()| {
            let waker = Waker::new()?;
            self.reactor.set_interest(waker.fd(), Interest::READABLE)?;
            Ok(waker)
        });
        match fresh {
            Ok(waker) => self.waker = waker,
            // Out of fds: the engine fails its next poll with EBADF rather
            // than share the parent's objects.
            Err(_) => {
                self.reactor.close();
                self.waker.close();
            }
        }
    }

    /// The loop's clock (`time.monotonic()`).
    pub fn now(&self) -> f64 {
        sys::monotonic()
    }

    /// `clock_getres(CLOCK_MONOTONIC)`; timers due within it of now fire.
    pub fn clock_resolution(&self) -> f64 {
        self.clock_resolution
    }

    // ---- ready queue -------------------------------------------------

    /// Appends to the ready queue (runs in a later iteration if pushed
    /// while one is running).
    pub fn push_ready(&mut self, item: T) {
        self.ready.push(item);
    }

    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    // ---- timers ------------------------------------------------------

    /// Schedules `item` at `deadline` (loop clock). Equal deadlines fire in
    /// scheduling order.
    pub fn push_timer(&mut self, deadline: f64, item: T) {
        self.timers.push(deadline, item);
    }

    /// A timer still in the heap was cancelled (call once per timer).
    pub fn note_timer_cancelled(&mut self) {
        self.timers.note_cancelled();
    }

    /// Timers held, cancelled ones not yet discarded included.
    pub fn timer_count(&self) -> usize {
        self.timers.len()
    }

    // ---- fd readers and writers --------------------------------------

    fn slot_interest(&self, fd: RawFd) -> Interest {
        self.slots.get(&fd).map_or(Interest::NONE, |s| Interest {
            readable: s.reader.is_some(),
            writable: s.writer.is_some(),
        })
    }

    /// Makes the poller match `fd`'s slot, dropping the slot once empty. If the
    /// kernel refuses (e.g. the fd was closed), `fd` is deregistered.
    fn sync_interest(&mut self, fd: RawFd) {
        let interest = self.slot_interest(fd);
        if interest.is_empty() {
            // An empty slot holds no item, so removing it drops none.
            self.slots.remove(&fd);
        }
        if self.reactor.set_interest(fd, interest).is_err() {
            self.reactor.forget(fd);
        }
    }

    /// Makes `item` the watcher of `fd` for `direction` (its reader or its
    /// writer), returning the one it replaces. On a poller error (e.g.
    /// `EPERM` for a regular file, `EBADF`) nothing changes and `item` comes
    /// back with the error. The waker's own fd is refused with `EEXIST`.
    pub fn set_watcher(
        &mut self,
        fd: RawFd,
        direction: Direction,
        item: T,
    ) -> Result<Option<T>, (io::Error, T)> {
        self.leave_parent_after_fork();
        if fd == self.waker.fd() {
            return Err((io::Error::from_raw_os_error(libc::EEXIST), item));
        }
        let mut interest = self.slot_interest(fd);
        let replacing = match direction {
            Direction::Read => mem::replace(&mut interest.readable, true),
            Direction::Write => mem::replace(&mut interest.writable, true),
        };
        // A new owner for a watched fd may mean the number was closed and
        // reused, which silently dropped the kernel's registration of the old
        // file: say it again rather than trust the unchanged interest.
        let registered = if replacing {
            self.reactor.renew_interest(fd, interest)
        } else {
            self.reactor.set_interest(fd, interest)
        };
        if let Err(e) = registered {
            return Err((e, item));
        }
        let slot = self.slots.entry(fd).or_default();
        Ok(slot.place(direction).replace(item))
    }

    /// Removes and returns `fd`'s watcher for `direction`, updating the
    /// poller.
    pub fn remove_watcher(&mut self, fd: RawFd, direction: Direction) -> Option<T> {
        self.leave_parent_after_fork();
        let old = self.slots.get_mut(&fd)?.place(direction).take()?;
        self.sync_interest(fd);
        Some(old)
    }

    /// Whether `fd` has a watcher for `direction`.
    pub fn has_watcher(&self, fd: RawFd, direction: Direction) -> bool {
        self.watcher(fd, direction).is_some()
    }

    /// `fd`'s watcher for `direction`, if any.
    pub fn watcher(&self, fd: RawFd, direction: Direction) -> Option<&T> {
        self.slots.get(&fd)?.watcher(direction)
    }

    /// The reactor (read-only: registrations go through the slots).
    pub fn reactor(&self) -> &Reactor {
        &self.reactor
    }

    // ---- stopping and waking -----------------------------------------

    /// Ends `run_forever` after the current iteration.
    pub fn stop(&mut self) {
        self.stopping = true;
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    pub fn clear_stopping(&mut self) {
        self.stopping = false;
    }

    /// The loop may be blocked in a poll right now.
    pub fn is_sleeping(&self) -> bool {
        self.sleeping
    }

    /// Wakes a blocking poll; writes the waker only when the loop may be
    /// sleeping (otherwise it will look at the ready queue before polling),
    /// and only once per sleep: a burst of cross-thread calls costs one write.
    pub fn wake(&mut self) {
        if self.sleeping {
            self.sleeping = false;
            self.waker.wake();
        }
    }

    /// Writes the waker unconditionally.
    pub fn wake_always(&self) {
        self.waker.wake();
    }

    /// The waker (its fd can be written from any thread).
    pub fn waker(&self) -> &Waker {
        &self.waker
    }

    /// How long the next poll may block, as asyncio computes it: `0.0` when
    /// something is ready or the loop is stopping; else the time until the
    /// earliest timer clamped to `[0, MAXIMUM_SELECT_TIMEOUT]` (NaN → 0);
    /// `None` (forever) without timers.
    pub fn poll_timeout(&self) -> Option<f64> {
        if !self.ready.is_empty() || self.stopping {
            return Some(0.0);
        }
        let deadline = self.timers.peek_deadline()?;
        let t = deadline - self.now();
        Some(if t.is_nan() {
            0.0
        } else {
            t.clamp(0.0, MAXIMUM_SELECT_TIMEOUT)
        })
    }

    // ---- GC / close ---------------------------------------------------

    /// Visits every item held: ready, timers, readers, writers.
    pub fn for_each(&self, f: &mut dyn FnMut(&T)) {
        self.ready.iter().for_each(&mut *f);
        self.timers.iter().for_each(&mut *f);
        for slot in self.slots.values() {
            slot.reader.iter().for_each(&mut *f);
            slot.writer.iter().for_each(&mut *f);
        }
    }

    /// Releases everything: returns every item held (for the caller to
    /// drop outside any borrow) and closes the poller fd and the waker, as
    /// asyncio's `close()` closes its selector and self-pipe.
    pub fn close(&mut self) -> Vec<T> {
        let items = self.take_all();
        self.reactor.close();
        self.waker.close();
        items
    }

    /// Removes every item held (ready, timers, readers, writers) and
    /// deregisters every fd except the waker's.
    pub fn take_all(&mut self) -> Vec<T> {
        self.leave_parent_after_fork();
        let mut all = mem::take(&mut self.orphans);
        all.extend(self.ready.take_all());
        all.extend(self.timers.take_all());
        for (fd, slot) in self.slots.drain() {
            self.reactor.forget(fd);
            all.extend(slot.reader);
            all.extend(slot.writer);
        }
        all
    }

    // ---- run_once helpers --------------------------------------------

    /// Step 4 for one event: queue the reader/writer it concerns, or drop a
    /// cancelled one from its slot (into `garbage`).
    fn dispatch_event(&mut self, ev: Event, garbage: &mut Vec<T>) {
        if ev.fd == self.waker.fd() {
            self.waker.drain();
            return;
        }
        let Some(slot) = self.slots.get_mut(&ev.fd) else {
            return;
        };
        let mut changed = false;
        for (wanted, place) in [
            (ev.readable, &mut slot.reader),
            (ev.writable, &mut slot.writer),
        ] {
            if !wanted {
                continue;
            }
            if let Some(item) = place {
                if item.is_cancelled() {
                    garbage.extend(place.take());
                    changed = true;
                } else {
                    self.ready.push(item.clone());
                }
            }
        }
        if changed {
            self.sync_interest(ev.fd);
        }
    }
}

/// The reader and writer items registered for one fd.
pub struct IoSlot<T> {
    pub reader: Option<T>,
    pub writer: Option<T>,
}

impl<T> IoSlot<T> {
    /// Neither a reader nor a writer.
    pub fn is_empty(&self) -> bool {
        self.reader.is_none() && self.writer.is_none()
    }

    /// The watcher for `direction`: the reader or the writer.
    pub fn watcher(&self, direction: Direction) -> Option<&T> {
        match direction {
            Direction::Read => self.reader.as_ref(),
            Direction::Write => self.writer.as_ref(),
        }
    }

    /// The place of the watcher for `direction`.
    pub fn place(&mut self, direction: Direction) -> &mut Option<T> {
        match direction {
            Direction::Read => &mut self.reader,
            Direction::Write => &mut self.writer,
        }
    }
}

impl<T> Default for IoSlot<T> {
    fn default() -> IoSlot<T> {
        IoSlot {
            reader: None,
            writer: None,
        }
    }
}
