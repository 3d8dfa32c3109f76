//! The readiness reactor: level-triggered registrations over the
//! platform's poller ([`sys::poller`]: epoll on Linux). Owns the map of what
//! each fd is registered for, which decides when the kernel must be told.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

pub use super::interest::Event;
use super::interest::Interest;
use super::sys::poller;
pub use super::sys::EventBuf;

/// A poller instance plus what each fd is currently registered for.
///
/// The map mirrors the kernel's registrations exactly, so the kernel is only
/// told when the interest really changes.
pub struct Reactor {
    /// None once closed.
    epfd: Option<OwnedFd>,
    registered: HashMap<RawFd, Interest>,
    /// Poller registration calls made, to check that unchanged interest
    /// costs none.
    #[cfg(test)]
    ctl_calls: usize,
}

impl Reactor {
    /// A new poller instance (close-on-exec) with nothing registered.
    pub fn new() -> io::Result<Reactor> {
        Ok(Reactor {
            epfd: Some(poller::create()?),
            registered: HashMap::new(),
            #[cfg(test)]
            ctl_calls: 0,
        })
    }

    /// The poller fd (-1 once closed, so further calls fail with EBADF).
    pub fn fd(&self) -> RawFd {
        self.epfd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Counts a registration call (tests only).
    fn count_ctl(&mut self) {
        #[cfg(test)]
        {
            self.ctl_calls += 1;
        }
    }

    /// Makes `fd`'s registration match `interest`.
    ///
    /// ADD when `fd` is not registered and `interest` is non-empty, MOD when
    /// it is registered and `interest` differs, DEL (errors ignored, the fd
    /// may already be closed) when `interest` is empty; no syscall at all
    /// when nothing changes. On an ADD/MOD failure the registration is left
    /// as it was and the error is returned (`EPERM` for a regular file,
    /// `EBADF`, ...).
    ///
    /// A MOD of an fd the kernel no longer has (it was closed and its
    /// number reused, which silently dropped the kernel's registration) is
    /// made an ADD by the poller (epoll: on `ENOENT`).
    pub fn set_interest(&mut self, fd: RawFd, interest: Interest) -> io::Result<()> {
        let current = self.interest(fd);
        if interest == current {
            return Ok(());
        }
        if interest.is_empty() {
            self.forget(fd);
            return Ok(());
        }
        if current.is_empty() {
            self.count_ctl();
            poller::add(self.fd(), fd, interest)?;
            self.registered.insert(fd, interest);
            Ok(())
        } else {
            self.modify(fd, current, interest)
        }
    }

    /// MOD a registered fd (the poller re-adds it when the kernel no longer
    /// has it).
    fn modify(&mut self, fd: RawFd, current: Interest, interest: Interest) -> io::Result<()> {
        self.count_ctl();
        poller::modify(self.fd(), fd, current, interest)?;
        self.registered.insert(fd, interest);
        Ok(())
    }

    /// Like [`set_interest`](Reactor::set_interest), but a registered fd is
    /// told its interest again (MOD, or ADD when the kernel no longer has
    /// it) even when unchanged: its number may now name another file.
    pub fn renew_interest(&mut self, fd: RawFd, interest: Interest) -> io::Result<()> {
        let current = self.interest(fd);
        if current.is_empty() || interest.is_empty() {
            return self.set_interest(fd, interest);
        }
        self.modify(fd, current, interest)
    }

    /// What `fd` is registered for (`Interest::NONE` when not registered).
    pub fn interest(&self, fd: RawFd) -> Interest {
        self.registered.get(&fd).copied().unwrap_or_default()
    }

    /// Deregisters `fd` (DEL, errors ignored); no syscall when it is not
    /// registered.
    pub fn forget(&mut self, fd: RawFd) {
        if let Some(current) = self.registered.remove(&fd) {
            self.count_ctl();
            let _ = poller::delete(self.fd(), fd, current);
        }
    }

    /// How many fds are registered.
    pub fn len(&self) -> usize {
        self.registered.len()
    }

    /// Nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.registered.is_empty()
    }

    /// Closes the poller fd and forgets every registration.
    pub fn close(&mut self) {
        self.epfd = None;
        self.registered.clear();
    }

    /// In a `fork()` child: lets go of the poller instance shared with the
    /// parent without touching its registrations (closing our copy of the
    /// fd only drops a reference; a DEL would remove the parent's), and
    /// starts an empty one of our own.
    pub fn replace_after_fork(&mut self) -> io::Result<()> {
        let own = poller::create()?;
        self.registered.clear();
        self.epfd = Some(own);
        Ok(())
    }

    /// The registered fds, in no particular order.
    pub fn fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.registered.keys().copied()
    }

    /// Polls into `buf`; `EINTR` is returned, not retried.
    pub fn wait(&self, buf: &mut EventBuf, timeout_ms: i32) -> io::Result<usize> {
        poller::wait(self.fd(), buf, timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sys;
    use crate::core::test_util::{owned, pipe, socketpair};
    use std::os::fd::IntoRawFd;

    /// Atomically makes `fd`'s number refer to a new (unlinked) regular
    /// file, closing what it referred to; returns it owned again.
    fn replace_with_regular_file(fd: OwnedFd) -> OwnedFd {
        let path = std::env::temp_dir().join(format!(
            "zloop-reactor-{}-{}",
            std::process::id(),
            fd.as_raw_fd()
        ));
        let file = std::fs::File::create(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let raw = fd.into_raw_fd();
        // SAFETY: both fds are open and owned by this test; dup2 atomically
        // closes `raw`'s old file (whose ownership was released above).
        let rc = unsafe { libc::dup2(file.as_raw_fd(), raw) };
        assert_eq!(rc, raw);
        owned(raw)
    }

    fn poll(r: &Reactor) -> Vec<Event> {
        let mut buf = EventBuf::with_capacity(16);
        let n = r.wait(&mut buf, 0).unwrap();
        buf.events(n).collect()
    }

    #[test]
    fn readable_after_write() {
        let mut r = Reactor::new().unwrap();
        let (rd, wr) = pipe();
        r.set_interest(rd.as_raw_fd(), Interest::READABLE).unwrap();
        assert!(poll(&r).is_empty());
        sys::write(wr.as_raw_fd(), b"x").unwrap();
        let evs = poll(&r);
        assert_eq!(
            evs,
            vec![Event {
                fd: rd.as_raw_fd(),
                readable: true,
                writable: false
            }]
        );
        // Level-triggered: still reported until drained.
        assert_eq!(poll(&r).len(), 1);
        let mut b = [0u8; 4];
        sys::read(rd.as_raw_fd(), &mut b).unwrap();
        assert!(poll(&r).is_empty());
    }

    #[test]
    fn writable_and_both() {
        let mut r = Reactor::new().unwrap();
        let (a, b) = socketpair();
        r.set_interest(a.as_raw_fd(), Interest::WRITABLE).unwrap();
        let evs = poll(&r);
        assert_eq!(evs.len(), 1);
        assert!(evs[0].writable && !evs[0].readable);
        sys::write(b.as_raw_fd(), b"hi").unwrap();
        r.set_interest(a.as_raw_fd(), Interest::BOTH).unwrap();
        assert_eq!(r.interest(a.as_raw_fd()), Interest::BOTH);
        let evs = poll(&r);
        assert!(evs[0].writable && evs[0].readable);
        r.set_interest(a.as_raw_fd(), Interest::READABLE).unwrap();
        let evs = poll(&r);
        assert!(!evs[0].writable && evs[0].readable);
    }

    #[test]
    fn unchanged_interest_makes_no_syscall() {
        let mut r = Reactor::new().unwrap();
        let (rd, _wr) = pipe();
        let fd = rd.as_raw_fd();
        r.set_interest(fd, Interest::NONE).unwrap();
        assert_eq!(r.ctl_calls, 0);
        r.set_interest(fd, Interest::READABLE).unwrap();
        assert_eq!(r.ctl_calls, 1);
        r.set_interest(fd, Interest::READABLE).unwrap();
        assert_eq!(r.ctl_calls, 1);
        r.set_interest(fd, Interest::BOTH).unwrap();
        assert_eq!(r.ctl_calls, 2);
        r.set_interest(fd, Interest::BOTH).unwrap();
        assert_eq!(r.ctl_calls, 2);
        r.forget(fd);
        assert_eq!(r.ctl_calls, 3);
        r.forget(fd);
        assert_eq!(r.ctl_calls, 3);

        // Observable too: once the fd number refers to a regular file
        // (which epoll refuses), an unchanged interest is still Ok, because
        // nothing reaches the kernel.
        let (rd2, _wr2) = pipe();
        let fd2 = rd2.as_raw_fd();
        r.set_interest(fd2, Interest::READABLE).unwrap();
        let file = replace_with_regular_file(rd2);
        assert!(r.set_interest(fd2, Interest::READABLE).is_ok());
        assert!(r.set_interest(fd2, Interest::BOTH).is_err());
        r.forget(fd2);
        drop(file);
    }

    /// Closes `fd` and opens a pipe whose read end takes the same number;
    /// returns (read end, write end).
    fn reuse_number_for_pipe(fd: OwnedFd) -> (OwnedFd, OwnedFd) {
        let raw = fd.as_raw_fd();
        let (rd, wr) = pipe();
        // SAFETY: both are open fds owned by this test; dup2 atomically
        // closes `raw`'s old file, whose OwnedFd is forgotten first.
        let rc = unsafe { libc::dup2(rd.as_raw_fd(), fd.into_raw_fd()) };
        assert_eq!(rc, raw);
        drop(rd);
        (owned(raw), wr)
    }

    #[test]
    fn renewed_interest_reaches_the_file_that_reused_the_number() {
        let mut r = Reactor::new().unwrap();
        let (a, _b) = socketpair();
        let fd = a.as_raw_fd();
        r.set_interest(fd, Interest::READABLE).unwrap();
        let (rd, wr) = reuse_number_for_pipe(a);
        sys::write(wr.as_raw_fd(), b"x").unwrap();
        // The kernel dropped the old file's registration; the map did not.
        assert!(poll(&r).is_empty());
        r.set_interest(fd, Interest::READABLE).unwrap();
        assert!(poll(&r).is_empty(), "unchanged interest makes no syscall");
        r.renew_interest(fd, Interest::READABLE).unwrap();
        assert_eq!(poll(&r).len(), 1);
        assert_eq!(r.interest(fd), Interest::READABLE);
        drop(rd);
    }

    #[test]
    fn empty_interest_deletes() {
        let mut r = Reactor::new().unwrap();
        let (rd, wr) = pipe();
        let fd = rd.as_raw_fd();
        r.set_interest(fd, Interest::READABLE).unwrap();
        sys::write(wr.as_raw_fd(), b"x").unwrap();
        assert_eq!(poll(&r).len(), 1);
        r.set_interest(fd, Interest::NONE).unwrap();
        assert_eq!(r.interest(fd), Interest::NONE);
        assert!(r.is_empty());
        assert!(poll(&r).is_empty());
        // The kernel agrees: MOD now says ENOENT.
        let err =
            sys::epoll::ctl(r.fd(), libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN as u32).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn del_of_closed_fd_is_ignored() {
        let mut r = Reactor::new().unwrap();
        let (rd, _wr) = pipe();
        let fd = rd.as_raw_fd();
        r.set_interest(fd, Interest::READABLE).unwrap();
        drop(rd);
        r.set_interest(fd, Interest::NONE).unwrap();
        assert!(r.is_empty());
    }

    #[test]
    fn regular_file_is_eperm_and_map_unchanged() {
        let mut r = Reactor::new().unwrap();
        let path = std::env::temp_dir().join(format!("zloop-reactor-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let fd = file.as_raw_fd();
        let err = r.set_interest(fd, Interest::READABLE).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        assert_eq!(r.interest(fd), Interest::NONE);
        assert!(r.is_empty());
    }

    #[test]
    fn bad_fd_is_ebadf() {
        let mut r = Reactor::new().unwrap();
        let err = r.set_interest(-1, Interest::READABLE).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert!(r.is_empty());
    }

    #[test]
    fn mod_failure_leaves_map_unchanged() {
        let mut r = Reactor::new().unwrap();
        let (rd, _wr) = pipe();
        let fd = rd.as_raw_fd();
        r.set_interest(fd, Interest::READABLE).unwrap();
        let file = replace_with_regular_file(rd);
        // MOD (then ADD) of what is now a regular file: EPERM, registration
        // kept as it was.
        let err = r.set_interest(fd, Interest::BOTH).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        assert_eq!(r.interest(fd), Interest::READABLE);
        r.forget(fd);
        assert!(r.is_empty());
        drop(file);
    }

    #[test]
    fn reused_fd_number_is_re_added() {
        let mut r = Reactor::new().unwrap();
        let (rd, _wr) = pipe();
        let fd = rd.as_raw_fd();
        r.set_interest(fd, Interest::READABLE).unwrap();
        // Replace what `fd` refers to atomically (closing the old pipe end,
        // which drops the kernel's registration), so no other thread can
        // grab the number in between.
        let (rd2, wr2) = pipe();
        let fd = rd.into_raw_fd();
        // SAFETY: both fds are open and owned by this test; dup2 atomically
        // closes `fd`'s old file (whose ownership was released above).
        let rc = unsafe { libc::dup2(rd2.as_raw_fd(), fd) };
        assert_eq!(rc, fd);
        let reused = owned(fd);
        r.set_interest(fd, Interest::BOTH).unwrap();
        sys::write(wr2.as_raw_fd(), b"x").unwrap();
        let evs = poll(&r);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].fd, fd);
        assert!(evs[0].readable);
        drop(reused);
    }

    #[test]
    fn hangup_is_readable() {
        let mut r = Reactor::new().unwrap();
        let (rd, wr) = pipe();
        r.set_interest(rd.as_raw_fd(), Interest::READABLE).unwrap();
        drop(wr);
        let evs = poll(&r);
        assert_eq!(evs.len(), 1);
        assert!(evs[0].readable, "{evs:?}");
        // EPOLLHUP alone also counts as writable, like selectors.
        assert!(evs[0].writable, "{evs:?}");

        let (a, b) = socketpair();
        r.set_interest(a.as_raw_fd(), Interest::READABLE).unwrap();
        drop(b);
        let evs = poll(&r);
        let ev = evs.iter().find(|e| e.fd == a.as_raw_fd()).unwrap();
        assert!(ev.readable);
    }

    #[test]
    fn wait_with_timeout_times_out() {
        let r = Reactor::new().unwrap();
        let mut buf = EventBuf::new();
        let t0 = sys::monotonic();
        assert_eq!(r.wait(&mut buf, 20).unwrap(), 0);
        assert!(sys::monotonic() - t0 >= 0.015);
    }
}
