//! One readiness event reported by the reactor.

use std::os::fd::RawFd;

/// Readiness of one fd, as reported by one `epoll_wait`.
///
/// Mapped like Python's `selectors.EpollSelector`: any flag other than
/// `EPOLLIN` (so `EPOLLOUT`, `EPOLLERR`, `EPOLLHUP`, `EPOLLRDHUP`) makes it
/// writable, and any flag other than `EPOLLOUT` makes it readable. An error
/// or hang-up therefore wakes both sides; the consumer filters by its own
/// interest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub fd: RawFd,
    pub readable: bool,
    pub writable: bool,
}

impl Event {
    /// Decodes an `epoll_event` whose data is the fd (as the reactor
    /// registers it).
    pub fn from_epoll(ev: &libc::epoll_event) -> Event {
        // Copies out of the (packed on x86_64) struct; no references taken.
        let flags = ev.events;
        let data = ev.u64;
        Event {
            fd: data as u32 as RawFd,
            readable: flags & !(libc::EPOLLOUT as u32) != 0,
            writable: flags & !(libc::EPOLLIN as u32) != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(flags: u32) -> Event {
        Event::from_epoll(&libc::epoll_event {
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
        let e = Event::from_epoll(&libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 1_000_000,
        });
        assert_eq!(e.fd, 1_000_000);
    }
}
