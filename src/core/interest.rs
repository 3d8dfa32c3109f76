//! The readiness vocabulary shared by the engine, the reactor and the
//! poller backends: what a registration waits for ([`Interest`]), which
//! side of an fd a watcher watches ([`Direction`]), and what a poll reports
//! ([`Event`]).

use std::os::fd::RawFd;

/// The readiness an fd is registered for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    pub readable: bool,
    pub writable: bool,
}

impl Interest {
    pub const NONE: Interest = Interest {
        readable: false,
        writable: false,
    };
    pub const READABLE: Interest = Interest {
        readable: true,
        writable: false,
    };
    pub const WRITABLE: Interest = Interest {
        readable: false,
        writable: true,
    };
    pub const BOTH: Interest = Interest {
        readable: true,
        writable: true,
    };

    /// Neither readable nor writable.
    pub fn is_empty(self) -> bool {
        !self.readable && !self.writable
    }
}

/// Readiness of one fd, as reported by one poll.
///
/// Mapped like Python's `selectors`: an error or hang-up makes it both
/// readable and writable, so it wakes both sides; the consumer filters by
/// its own interest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub fd: RawFd,
    pub readable: bool,
    pub writable: bool,
}

/// One side of an fd's readiness: the reader or the writer watching it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Read,
    Write,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consts() {
        assert!(Interest::NONE.is_empty());
        assert!(Interest::default().is_empty());
        assert!(!Interest::READABLE.is_empty());
        assert!(!Interest::WRITABLE.is_empty());
        assert_eq!(
            Interest::BOTH,
            Interest {
                readable: true,
                writable: true
            }
        );
    }
}
