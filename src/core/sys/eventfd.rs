//! The Linux waker's kernel object: an eventfd.

use std::io;
use std::os::fd::OwnedFd;

use super::{owned, retry};

/// A new eventfd (counter 0, `EFD_NONBLOCK | EFD_CLOEXEC`).
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers.
    retry(|| unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) }).map(owned)
}
