//! The Linux waker: an eventfd that, registered readable in the poller,
//! ends a blocking poll when written (from any thread).
//!
//! The waker backend's item, which a backend for another platform provides
//! alike: [`Waker`].

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::socket::{read, write};
use super::{owned, retry};

/// A new eventfd (counter 0, `EFD_NONBLOCK | EFD_CLOEXEC`).
fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers.
    retry(|| unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) }).map(owned)
}

/// An eventfd (non-blocking, close-on-exec) registered readable in the
/// reactor; writing it ends a blocking poll.
pub struct Waker {
    /// None once closed.
    fd: Option<OwnedFd>,
}

impl Waker {
    pub fn new() -> io::Result<Waker> {
        Ok(Waker {
            fd: Some(eventfd()?),
        })
    }

    /// The eventfd (-1 once closed: waking a closed loop does nothing).
    pub fn fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Adds 1 to the counter. Errors are ignored: `EAGAIN` means the counter
    /// is full, so the fd is readable already.
    pub fn wake(&self) {
        let _ = write(self.fd(), &1u64.to_ne_bytes());
    }

    /// Closes the eventfd; later wakes do nothing.
    pub fn close(&mut self) {
        self.fd = None;
    }

    /// Resets the counter (reads until `EAGAIN`, or any other error).
    pub fn drain(&self) {
        let mut buf = [0u8; 8];
        while read(self.fd(), &mut buf).is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::test_util::is_readable;

    fn readable(w: &Waker) -> bool {
        is_readable(w.fd())
    }

    #[test]
    fn wake_then_drain() {
        let w = Waker::new().unwrap();
        assert!(!readable(&w));
        w.wake();
        w.wake();
        assert!(readable(&w));
        w.drain();
        assert!(!readable(&w));
        w.drain();
        assert!(!readable(&w));
    }

    #[test]
    fn full_counter_is_ignored() {
        let w = Waker::new().unwrap();
        // The largest value an eventfd counter can hold.
        write(w.fd(), &(u64::MAX - 1).to_ne_bytes()).unwrap();
        w.wake(); // EAGAIN, ignored
        assert!(readable(&w));
        w.drain();
        assert!(!readable(&w));
    }

    #[test]
    fn wake_from_another_thread() {
        let w = std::sync::Arc::new(Waker::new().unwrap());
        let w2 = w.clone();
        std::thread::spawn(move || w2.wake()).join().unwrap();
        assert!(readable(&w));
    }
}
