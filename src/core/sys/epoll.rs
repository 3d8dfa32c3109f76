//! The Linux readiness poller: epoll, level-triggered. Owns the epoll
//! calls, the translation of an [`Interest`] to epoll flags and of an
//! `epoll_event` back to an [`Event`], and the [`EventBuf`] that
//! `epoll_wait` fills.
//!
//! The poller backend's items, which a backend for another platform
//! provides alike: [`EventBuf`], [`create`], [`add`], [`modify`],
//! [`delete`] and [`wait`]. The fd of a registration is its `epoll_event`
//! data, so an event names its fd.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use libc::c_int;

use super::{check, owned, retry};
use crate::core::interest::{Event, Interest};

/// A new epoll instance (`EPOLL_CLOEXEC`).
pub fn create() -> io::Result<OwnedFd> {
    // SAFETY: epoll_create1 takes no pointers.
    retry(|| unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }).map(owned)
}

/// `epoll_ctl(epfd, op, fd, {events, data = fd})`.
pub fn ctl(epfd: RawFd, op: c_int, fd: RawFd, events: u32) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events,
        u64: fd as u32 as u64,
    };
    // SAFETY: `ev` is a valid epoll_event for the duration of the call (a
    // non-null pointer is passed even for EPOLL_CTL_DEL, as old kernels want).
    retry(|| unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) }).map(drop)
}

fn epoll_flags(interest: Interest) -> u32 {
    let mut flags = 0;
    if interest.readable {
        flags |= libc::EPOLLIN as u32;
    }
    if interest.writable {
        flags |= libc::EPOLLOUT as u32;
    }
    flags
}

/// Registers `fd`, not registered yet, for `interest` (ADD).
pub fn add(epfd: RawFd, fd: RawFd, interest: Interest) -> io::Result<()> {
    ctl(epfd, libc::EPOLL_CTL_ADD, fd, epoll_flags(interest))
}

/// Changes the registration of `fd` (registered for `_old`) to `interest`,
/// also when unchanged (MOD). A MOD that fails with `ENOENT` (the fd was
/// closed and its number reused, which silently dropped the kernel's
/// registration) is retried as an ADD.
pub fn modify(epfd: RawFd, fd: RawFd, _old: Interest, interest: Interest) -> io::Result<()> {
    match ctl(epfd, libc::EPOLL_CTL_MOD, fd, epoll_flags(interest)) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => add(epfd, fd, interest),
        other => other,
    }
}

/// Deregisters `fd` (registered for `_old`) (DEL).
pub fn delete(epfd: RawFd, fd: RawFd, _old: Interest) -> io::Result<()> {
    ctl(epfd, libc::EPOLL_CTL_DEL, fd, 0)
}

/// Waits for events into `buf`, returning how many were stored.
///
/// Does NOT retry `EINTR`: it comes back as `ErrorKind::Interrupted`.
pub fn wait(epfd: RawFd, buf: &mut EventBuf, timeout_ms: i32) -> io::Result<usize> {
    let max = buf.capacity().min(c_int::MAX as usize) as c_int;
    // SAFETY: `buf.as_mut_ptr()` points to `buf.capacity()` (>= `max`)
    // initialised, writable epoll_event slots that stay alive and unaliased
    // for the duration of the call.
    let n = unsafe { libc::epoll_wait(epfd, buf.as_mut_ptr(), max, timeout_ms) };
    check(n).map(|n| n as usize)
}

/// Decodes an `epoll_event` whose data is the fd (as [`ctl`] registers
/// it).
///
/// Mapped like Python's `selectors.EpollSelector`: any flag other than
/// `EPOLLIN` (so `EPOLLOUT`, `EPOLLERR`, `EPOLLHUP`, `EPOLLRDHUP`) makes it
/// writable, and any flag other than `EPOLLOUT` makes it readable.
fn event(ev: &libc::epoll_event) -> Event {
    // Copies out of the (packed on x86_64) struct; no references taken.
    let flags = ev.events;
    let data = ev.u64;
    Event {
        fd: data as u32 as RawFd,
        readable: flags & !(libc::EPOLLOUT as u32) != 0,
        writable: flags & !(libc::EPOLLIN as u32) != 0,
    }
}

/// A reusable array of `libc::epoll_event` that `epoll_wait` fills.
pub struct EventBuf {
    slots: Vec<libc::epoll_event>,
}

const EMPTY: libc::epoll_event = libc::epoll_event { events: 0, u64: 0 };

impl EventBuf {
    /// Capacity of [`EventBuf::new`] / `Default`.
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// A buffer for [`EventBuf::DEFAULT_CAPACITY`] events.
    pub fn new() -> EventBuf {
        EventBuf::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A buffer for `capacity` events. `epoll_wait` fails with `EINVAL` on a
    /// zero-capacity buffer.
    pub fn with_capacity(capacity: usize) -> EventBuf {
        EventBuf {
            slots: vec![EMPTY; capacity],
        }
    }

    /// A zero-capacity placeholder that does not allocate (what the engine
    /// leaves behind while its real buffer is lent out to a blocking poll).
    pub const fn empty() -> EventBuf {
        EventBuf { slots: Vec::new() }
    }

    /// How many events one `epoll_wait` can return into this buffer.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The `i`-th event stored by the last `epoll_wait`.
    ///
    /// Panics if `i >= capacity()`.
    pub fn get(&self, i: usize) -> Event {
        event(&self.slots[i])
    }

    /// The first `n` events (the count `epoll_wait` returned), clamped to
    /// the capacity.
    pub fn events(&self, n: usize) -> impl Iterator<Item = Event> + '_ {
        self.slots[..n.min(self.slots.len())].iter().map(event)
    }

    /// Pointer to the first of `capacity()` slots, for `epoll_wait`.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::epoll_event {
        self.slots.as_mut_ptr()
    }
}

impl Default for EventBuf {
    fn default() -> EventBuf {
        EventBuf::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sys::write;
    use crate::core::test_util::pipe;
    use std::os::fd::AsRawFd;

    #[test]
    fn errno_is_preserved() {
        let err = ctl(-1, libc::EPOLL_CTL_ADD, 0, libc::EPOLLIN as u32).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn epoll_wait_zero_timeout() {
        let ep = create().unwrap();
        let mut buf = EventBuf::new();
        assert_eq!(wait(ep.as_raw_fd(), &mut buf, 0).unwrap(), 0);
        let (r, w) = pipe();
        add(ep.as_raw_fd(), r.as_raw_fd(), Interest::READABLE).unwrap();
        write(w.as_raw_fd(), b"x").unwrap();
        assert_eq!(wait(ep.as_raw_fd(), &mut buf, 0).unwrap(), 1);
        let ev = buf.events(1).next().unwrap();
        assert_eq!(ev.fd, r.as_raw_fd());
        assert!(ev.readable && !ev.writable);
    }

    #[test]
    fn capacities() {
        assert_eq!(EventBuf::new().capacity(), 1024);
        assert_eq!(EventBuf::default().capacity(), 1024);
        assert_eq!(EventBuf::with_capacity(3).capacity(), 3);
        assert_eq!(EventBuf::empty().capacity(), 0);
        assert_eq!(EventBuf::with_capacity(3).events(10).count(), 3);
        assert_eq!(EventBuf::empty().events(10).count(), 0);
    }

    fn ev(flags: u32) -> Event {
        event(&libc::epoll_event {
            events: flags,
            u64: 7,
        })
    }

    #[test]
    fn mapping_matches_python_selectors() {
        let (i, o) = (libc::EPOLLIN as u32, libc::EPOLLOUT as u32);
        let e = ev(i);
        assert_eq!((e.fd, e.readable, e.writable), (7, true, false));
        let e = ev(o);
        assert_eq!((e.readable, e.writable), (false, true));
        let e = ev(i | o);
        assert_eq!((e.readable, e.writable), (true, true));
        for f in [libc::EPOLLERR, libc::EPOLLHUP, libc::EPOLLRDHUP] {
            let e = ev(f as u32);
            assert_eq!((e.readable, e.writable), (true, true));
        }
    }

    #[test]
    fn negative_and_large_fds_round_trip() {
        let e = event(&libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 1_000_000,
        });
        assert_eq!(e.fd, 1_000_000);
    }
}
