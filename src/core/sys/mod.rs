//! The operating system, behind thin wrappers: libc calls whose errors are
//! `std::io::Error`s built from `errno` (so `raw_os_error()` keeps it), with
//! `EINTR` retried everywhere except in the poller's `wait`, whose caller
//! must get the chance to run signal handlers.
//!
//! Owns the helpers every wrapper shares (errno checks, `EINTR` retries,
//! taking ownership of a new descriptor) and `fork()` counting. The rest is
//! one file a concern:
//! - `time`: the monotonic clock and poll-timeout conversion;
//! - `heap`: the one malloc setting a server moving large messages needs;
//! - `socket`: reads, writes, sends and receives on descriptors, and their
//!   flags;
//! - the platform's backends, selected by `cfg`: `epoll` (the readiness
//!   poller, reached as [`poller`]) and `eventfd` (the [`Waker`]) on Linux.
//!
//! A backend for another platform (kqueue) is one file beside them that
//! provides the same items, selected here by `cfg`: a poller module with
//! `EventBuf`, `create`, `add`, `modify`, `delete` and `wait`
//! (level-triggered; `wait` does not retry `EINTR`; an event names its fd,
//! error and hang-up wake both sides), and a `Waker` whose fd, registered
//! readable, ends a blocking `wait` when woken from any thread.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use libc::c_int;

pub mod heap;
mod socket;
mod time;

#[cfg(target_os = "linux")]
pub mod epoll;
#[cfg(target_os = "linux")]
mod eventfd;

#[cfg(not(target_os = "linux"))]
compile_error!(
    "zloop supports Linux only (epoll and eventfd backends, in src/core/sys/); \
     another platform needs its poller and waker backends beside them"
);

/// The readiness poller of this platform.
#[cfg(target_os = "linux")]
pub use epoll as poller;
#[cfg(target_os = "linux")]
pub use epoll::EventBuf;
#[cfg(target_os = "linux")]
pub use eventfd::Waker;
pub use socket::{
    accept, read, recv, recvfrom, send, send_vectored, sendto, set_cloexec, set_nonblocking,
    shutdown_write, socket_error, would_block, write, write_vectored,
};
pub use time::{clock_resolution, monotonic, timeout_to_ms};

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
