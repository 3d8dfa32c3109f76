//! Thin libc wrappers (Linux).
//!
//! Errors are `std::io::Error` built from `errno`, so the errno is preserved
//! (`raw_os_error()`). `EINTR` is retried everywhere except in
//! [`epoll_wait`], whose caller must get the chance to run signal handlers.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use libc::c_int;

use super::event_buf::EventBuf;
use super::sockaddr::SockAddr;

const NS_PER_SEC: i64 = 1_000_000_000;

/// `-1` → the current `errno` as an error.
fn check(ret: c_int) -> io::Result<c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Calls `f` until it does not fail with `EINTR`.
fn retry(mut f: impl FnMut() -> c_int) -> io::Result<c_int> {
    loop {
        match check(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// [`retry`] for the `ssize_t`-returning calls (`read`, `write`).
fn retry_size(mut f: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        let ret = f();
        if ret >= 0 {
            return Ok(ret as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Wraps a descriptor just returned by a successful syscall.
fn owned(fd: c_int) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful syscall that creates a
    // new descriptor, so it is open and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn clock(f: unsafe extern "C" fn(libc::clockid_t, *mut libc::timespec) -> c_int) -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the
    // call; CLOCK_MONOTONIC always exists on Linux, so the call cannot fail
    // (if it somehow did, `ts` stays zeroed, which is still initialised).
    unsafe { f(libc::CLOCK_MONOTONIC, &mut ts) };
    ts
}

static FORKS: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_fork_in_child() {
    // Async-signal-safe: a lone atomic add.
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// Starts counting `fork()`s (idempotent): call before making a kernel
/// object whose sharing with a parent [`fork_count`] should reveal.
pub fn watch_forks() {
    static WATCH: Once = Once::new();
    WATCH.call_once(|| {
        // SAFETY: registers a handler that only does an atomic add. Failure
        // (ENOMEM) leaves forks uncounted, which is today's behaviour.
        unsafe { libc::pthread_atfork(None, None, Some(count_fork_in_child)) };
    });
}

/// How many times this process is a `fork()` child of the process that
/// called [`watch_forks`] (0 in that process). Compared with the count seen
/// when a kernel object was made, it tells whether that object is shared
/// with a parent process.
#[inline]
pub fn fork_count() -> u64 {
    FORKS.load(Ordering::Relaxed)
}

/// CLOCK_MONOTONIC in seconds, computed exactly as CPython's
/// `time.monotonic()` does (`_PyTime_AsSecondsDouble`), so both agree.
pub fn monotonic() -> f64 {
    let ts = clock(libc::clock_gettime);
    let ns = (ts.tv_sec as i64)
        .saturating_mul(NS_PER_SEC)
        .saturating_add(ts.tv_nsec as i64);
    if ns % NS_PER_SEC == 0 {
        (ns / NS_PER_SEC) as f64
    } else {
        ns as f64 / 1e9
    }
}

/// `clock_getres(CLOCK_MONOTONIC)` in seconds, computed like CPython's
/// `time.get_clock_info('monotonic').resolution`.
pub fn clock_resolution() -> f64 {
    let ts = clock(libc::clock_getres);
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

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

/// A new eventfd (counter 0, `EFD_NONBLOCK | EFD_CLOEXEC`).
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers.
    retry(|| unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) }).map(owned)
}

/// `read(2)` into `buf`.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid writable region of `buf.len()` bytes.
    retry_size(|| unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(2)` from `buf`.
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid readable region of `buf.len()` bytes.
    retry_size(|| unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })
}

/// `recv(2)` into `buf` (flags 0).
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid writable region of `buf.len()` bytes.
    retry_size(|| unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) })
}

/// `send(2)` from `buf` with `MSG_NOSIGNAL` (a closed peer is `EPIPE`, not
/// `SIGPIPE`).
pub fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid readable region of `buf.len()` bytes.
    retry_size(|| unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) })
}

/// `sendmsg(2)` of several buffers at once (a gathered write) with
/// `MSG_NOSIGNAL`; at most `IOV_MAX` of them are used.
pub fn send_vectored(fd: RawFd, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    let count = bufs.len().min(libc::UIO_MAXIOV as usize);
    // SAFETY: zeroed msghdr is valid (no name, no control data); the iovec
    // array is `IoSlice`s, which are ABI-compatible with `struct iovec` and
    // borrowed for the duration of the call.
    retry_size(|| unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = count as _;
        libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL)
    })
}

/// `recvfrom(2)` into `buf` (flags 0): the datagram's length and its
/// sender (an empty address when the kernel gives none).
pub fn recvfrom(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, SockAddr)> {
    let mut addr = SockAddr::empty();
    let (sa, len) = addr.as_mut_parts();
    // SAFETY: `buf` is a valid writable region of `buf.len()` bytes; `sa` and
    // `len` point into `addr`, a sockaddr_storage and its capacity.
    let n = retry_size(|| unsafe {
        *len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        libc::recvfrom(fd, buf.as_mut_ptr().cast(), buf.len(), 0, sa, len)
    })?;
    Ok((n, addr))
}

/// `sendto(2)` of one datagram to `addr` with `MSG_NOSIGNAL`.
pub fn sendto(fd: RawFd, buf: &[u8], addr: &SockAddr) -> io::Result<usize> {
    let (sa, len) = addr.as_parts();
    // SAFETY: `buf` is readable for `buf.len()` bytes; `sa` points at `len`
    // initialised bytes of a sockaddr.
    retry_size(|| unsafe {
        libc::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
            sa,
            len,
        )
    })
}

/// `writev(2)` of several buffers at once, for fds that are not sockets
/// (pipes, character devices); at most `IOV_MAX` of them are used.
pub fn write_vectored(fd: RawFd, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    let count = bufs.len().min(libc::UIO_MAXIOV as usize);
    // SAFETY: `IoSlice`s are ABI-compatible with `struct iovec`; the array
    // is borrowed for the duration of the call.
    retry_size(|| unsafe { libc::writev(fd, bufs.as_ptr().cast(), count as _) })
}

/// `shutdown(fd, SHUT_WR)`: sends EOF, keeps reading.
pub fn shutdown_write(fd: RawFd) -> io::Result<()> {
    // SAFETY: shutdown takes no pointers.
    retry(|| unsafe { libc::shutdown(fd, libc::SHUT_WR) }).map(drop)
}

/// `accept4(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC`; the peer address is not
/// asked for (the caller reads it with getpeername when it needs it).
pub fn accept(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: null address pointers are allowed by accept4.
    retry(|| unsafe {
        libc::accept4(
            fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })
    .map(owned)
}

/// The pending error of a socket (`SO_ERROR`), 0 when none; reading it
/// clears it.
pub fn socket_error(fd: RawFd) -> io::Result<c_int> {
    let mut value: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: value/len point at a c_int and its size, as SO_ERROR expects.
    retry(|| unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut value as *mut c_int).cast(),
            &mut len,
        )
    })?;
    Ok(value)
}

/// Whether an error is "try again later" (`EAGAIN`/`EWOULDBLOCK`).
pub fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

/// Sets or clears `O_NONBLOCK` (no `F_SETFL` when already as wanted).
pub fn set_nonblocking(fd: RawFd, nonblocking: bool) -> io::Result<()> {
    // SAFETY: F_GETFL takes no pointer argument.
    let flags = retry(|| unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let wanted = if nonblocking {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if wanted != flags {
        // SAFETY: F_SETFL takes an int argument, no pointer.
        retry(|| unsafe { libc::fcntl(fd, libc::F_SETFL, wanted) })?;
    }
    Ok(())
}

/// Sets `FD_CLOEXEC` (no `F_SETFD` when already set).
pub fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFD takes no pointer argument.
    let flags = retry(|| unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    if flags & libc::FD_CLOEXEC == 0 {
        // SAFETY: F_SETFD takes an int argument, no pointer.
        retry(|| unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) })?;
    }
    Ok(())
}

/// A poll timeout in seconds → milliseconds for `epoll_wait`.
///
/// `None` → `-1` (block); otherwise `ceil(seconds * 1000)` clamped to
/// `[0, i32::MAX]`, so a wait never ends early (a positive sub-millisecond
/// timeout becomes 1 ms). NaN → 0.
pub fn timeout_to_ms(timeout: Option<f64>) -> i32 {
    match timeout {
        None => -1,
        // `as` saturates and maps NaN to 0.
        Some(t) => (t * 1000.0).ceil().clamp(0.0, i32::MAX as f64) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::test_util::{pipe, socketpair_of};
    use std::os::fd::AsRawFd;

    #[test]
    fn timeout_conversion() {
        assert_eq!(timeout_to_ms(None), -1);
        assert_eq!(timeout_to_ms(Some(0.0)), 0);
        assert_eq!(timeout_to_ms(Some(-3.0)), 0);
        assert_eq!(timeout_to_ms(Some(1e-9)), 1);
        assert_eq!(timeout_to_ms(Some(0.0004)), 1);
        assert_eq!(timeout_to_ms(Some(0.001)), 1);
        assert_eq!(timeout_to_ms(Some(0.0011)), 2);
        assert_eq!(timeout_to_ms(Some(1.5)), 1500);
        assert_eq!(timeout_to_ms(Some(86400.0)), 86_400_000);
        assert_eq!(timeout_to_ms(Some(1e12)), i32::MAX);
        assert_eq!(timeout_to_ms(Some(f64::INFINITY)), i32::MAX);
        assert_eq!(timeout_to_ms(Some(f64::NEG_INFINITY)), 0);
        assert_eq!(timeout_to_ms(Some(f64::NAN)), 0);
    }

    #[test]
    fn clock_is_monotonic_and_resolution_sane() {
        let a = monotonic();
        let b = monotonic();
        assert!(b >= a);
        let res = clock_resolution();
        assert!(res > 0.0 && res < 0.1, "{res}");
    }

    #[test]
    fn read_write_and_flags() {
        let (r, w) = pipe();
        set_nonblocking(r.as_raw_fd(), false).unwrap();
        // SAFETY: F_GETFL takes no pointer argument.
        let fl = unsafe { libc::fcntl(r.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(fl & libc::O_NONBLOCK, 0);
        set_nonblocking(r.as_raw_fd(), true).unwrap();
        // SAFETY: F_GETFL takes no pointer argument.
        let fl = unsafe { libc::fcntl(r.as_raw_fd(), libc::F_GETFL) };
        assert_ne!(fl & libc::O_NONBLOCK, 0);
        let mut buf = [0u8; 8];
        let err = read(r.as_raw_fd(), &mut buf).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
        assert_eq!(write(w.as_raw_fd(), b"abc").unwrap(), 3);
        assert_eq!(read(r.as_raw_fd(), &mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
        set_nonblocking(r.as_raw_fd(), false).unwrap();
        // SAFETY: F_GETFL takes no pointer argument.
        let fl = unsafe { libc::fcntl(r.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(fl & libc::O_NONBLOCK, 0);

        let mut fds = [0 as c_int; 2];
        // SAFETY: `fds` is a writable array of two ints.
        check(unsafe { libc::pipe(fds.as_mut_ptr()) }).unwrap();
        let (a, b) = (owned(fds[0]), owned(fds[1]));
        set_cloexec(a.as_raw_fd()).unwrap();
        // SAFETY: F_GETFD takes no pointer argument.
        let fl = unsafe { libc::fcntl(a.as_raw_fd(), libc::F_GETFD) };
        assert_ne!(fl & libc::FD_CLOEXEC, 0);
        drop(b);
    }

    #[test]
    fn errno_is_preserved() {
        let err = write(-1, b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        let err = epoll_ctl(-1, libc::EPOLL_CTL_ADD, 0, libc::EPOLLIN as u32).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn udp_sendto_and_recvfrom() {
        // SAFETY: socket takes no pointers.
        let a = owned(
            check(unsafe {
                libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK, 0)
            })
            .unwrap(),
        );
        // SAFETY: as above.
        let b = owned(check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) }).unwrap());
        let any = SockAddr::ipv4([127, 0, 0, 1], 0);
        let (sa, len) = any.as_parts();
        // SAFETY: sa/len describe a valid sockaddr_in.
        check(unsafe { libc::bind(a.as_raw_fd(), sa, len) }).unwrap();
        let mut bound = SockAddr::empty();
        let (bsa, blen) = bound.as_mut_parts();
        // SAFETY: bsa/blen describe the writable storage of `bound`.
        check(unsafe { libc::getsockname(a.as_raw_fd(), bsa, blen) }).unwrap();
        let mut buf = [0u8; 16];
        let err = recvfrom(a.as_raw_fd(), &mut buf)
            .map(|(n, _)| n)
            .unwrap_err();
        assert!(would_block(&err));
        assert_eq!(sendto(b.as_raw_fd(), b"hello", &bound).unwrap(), 5);
        assert_eq!(sendto(b.as_raw_fd(), b"", &bound).unwrap(), 0);
        let (n, from) = recvfrom(a.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        let (ip, port) = from.as_ipv4().unwrap();
        assert_eq!(ip, [127, 0, 0, 1]);
        assert_ne!(port, 0);
        let (n, _) = recvfrom(a.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(n, 0, "an empty datagram is a datagram");
    }

    #[test]
    fn unix_datagram_from_an_unnamed_socket() {
        let (a, b) = socketpair_of(libc::SOCK_DGRAM);
        assert_eq!(send(b.as_raw_fd(), b"x").unwrap(), 1);
        let mut buf = [0u8; 4];
        let (n, from) = recvfrom(a.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(n, 1);
        match from.as_unix() {
            None => assert!(from.is_empty()),
            Some(name) => assert_eq!(name, super::super::sockaddr::UnixName::Path(b"")),
        }
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
