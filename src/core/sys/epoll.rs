//! The Linux readiness poller: epoll, level-triggered.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use libc::c_int;

use super::{check, owned, retry};
use crate::core::event_buf::EventBuf;

/// A new epoll instance (`EPOLL_CLOEXEC`).
pub fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: epoll_create1 takes no pointers.
    retry(|| unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }).map(owned)
}

/// `epoll_ctl(epfd, op, fd, {events, data = fd})`.
pub fn epoll_ctl(epfd: RawFd, op: c_int, fd: RawFd, events: u32) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events,
        u64: fd as u32 as u64,
    };
    // SAFETY: `ev` is a valid epoll_event for the duration of the call (a
    // non-null pointer is passed even for EPOLL_CTL_DEL, as old kernels want).
    retry(|| unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) }).map(drop)
}

/// Waits for events into `buf`, returning how many were stored.
///
/// Does NOT retry `EINTR`: it comes back as `ErrorKind::Interrupted`.
pub fn epoll_wait(epfd: RawFd, buf: &mut EventBuf, timeout_ms: i32) -> io::Result<usize> {
    let max = buf.capacity().min(c_int::MAX as usize) as c_int;
    // SAFETY: `buf.as_mut_ptr()` points to `buf.capacity()` (>= `max`)
    // initialised, writable epoll_event slots that stay alive and unaliased
    // for the duration of the call.
    let n = unsafe { libc::epoll_wait(epfd, buf.as_mut_ptr(), max, timeout_ms) };
    check(n).map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sys::write;
    use crate::core::test_util::pipe;
    use std::os::fd::AsRawFd;

    #[test]
    fn errno_is_preserved() {
        let err = epoll_ctl(-1, libc::EPOLL_CTL_ADD, 0, libc::EPOLLIN as u32).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn epoll_wait_zero_timeout() {
        let ep = epoll_create().unwrap();
        let mut buf = EventBuf::new();
        assert_eq!(epoll_wait(ep.as_raw_fd(), &mut buf, 0).unwrap(), 0);
        let (r, w) = pipe();
        epoll_ctl(
            ep.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            r.as_raw_fd(),
            libc::EPOLLIN as u32,
        )
        .unwrap();
        write(w.as_raw_fd(), b"x").unwrap();
        assert_eq!(epoll_wait(ep.as_raw_fd(), &mut buf, 0).unwrap(), 1);
        let ev = buf.events(1).next().unwrap();
        assert_eq!(ev.fd, r.as_raw_fd());
        assert!(ev.readable && !ev.writable);
    }
}
