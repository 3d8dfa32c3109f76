//! Helpers shared by the core's unit tests: descriptors to poll, read and
//! write (pipes, socket pairs), and a readiness probe.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Takes ownership of `fd`, just returned by a successful syscall (panics,
/// with the errno, when it is -1).
pub fn owned(fd: RawFd) -> OwnedFd {
    assert!(fd >= 0, "{}", io::Error::last_os_error());
    // SAFETY: `fd` was just created by a successful syscall and is owned
    // by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A non-blocking, close-on-exec pipe: (read end, write end).
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of two ints.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
    assert_eq!(rc, 0, "{}", io::Error::last_os_error());
    (owned(fds[0]), owned(fds[1]))
}

/// A connected, non-blocking, close-on-exec `AF_UNIX` stream socket pair.
pub fn socketpair() -> (OwnedFd, OwnedFd) {
    socketpair_of(libc::SOCK_STREAM)
}

/// Like [`socketpair`], of socket type `kind` (`SOCK_STREAM`,
/// `SOCK_DGRAM`, ...).
pub fn socketpair_of(kind: libc::c_int) -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of two ints.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "{}", io::Error::last_os_error());
    (owned(fds[0]), owned(fds[1]))
}

/// Whether `fd` is readable right now (a zero-timeout `poll`).
pub fn is_readable(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `p` is one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}
