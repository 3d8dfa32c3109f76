//! A reusable buffer for `epoll_wait` results.

use super::event::Event;

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
        Event::from_epoll(&self.slots[i])
    }

    /// The first `n` events (the count `epoll_wait` returned), clamped to
    /// the capacity.
    pub fn events(&self, n: usize) -> impl Iterator<Item = Event> + '_ {
        self.slots[..n.min(self.slots.len())]
            .iter()
            .map(Event::from_epoll)
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

    #[test]
    fn capacities() {
        assert_eq!(EventBuf::new().capacity(), 1024);
        assert_eq!(EventBuf::default().capacity(), 1024);
        assert_eq!(EventBuf::with_capacity(3).capacity(), 3);
        assert_eq!(EventBuf::empty().capacity(), 0);
        assert_eq!(EventBuf::with_capacity(3).events(10).count(), 3);
        assert_eq!(EventBuf::empty().events(10).count(), 0);
    }
}
