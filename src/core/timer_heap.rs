//! The timer min-heap, with lazy cancellation and compaction.

use std::cmp::Ordering;

use super::schedulable::Schedulable;

/// asyncio's `_MIN_SCHEDULED_TIMER_HANDLES`.
pub const MIN_SCHEDULED_TIMER_HANDLES: usize = 100;

struct Entry<T> {
    deadline: f64,
    seq: u64,
    item: T,
}

impl<T> Entry<T> {
    /// Heap order: earlier deadline first, then push order. A NaN deadline
    /// is never in the future (asyncio's `when >= end` is false for it), so
    /// it orders as `-inf`: due at once, ahead of every timer, and never
    /// moving the others out of their order.
    fn before(&self, other: &Entry<T>) -> bool {
        let key = |d: f64| if d.is_nan() { f64::NEG_INFINITY } else { d };
        match key(self.deadline).total_cmp(&key(other.deadline)) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => self.seq < other.seq,
        }
    }
}

/// A binary min-heap of timers keyed by `(deadline, push sequence)`, so equal
/// deadlines pop in push order.
///
/// Cancellation is lazy: a cancelled item stays in the heap (the adapter
/// reports it with [`note_cancelled`](TimerHeap::note_cancelled)) until it
/// reaches the top or [`take_compacted`](TimerHeap::take_compacted) rebuilds
/// the heap. No method drops an item: everything removed is returned, after
/// `unscheduled()` was called on it.
pub struct TimerHeap<T: Schedulable> {
    entries: Vec<Entry<T>>,
    next_seq: u64,
    cancelled: usize,
}

impl<T: Schedulable> TimerHeap<T> {
    pub fn new() -> TimerHeap<T> {
        TimerHeap {
            entries: Vec::new(),
            next_seq: 0,
            cancelled: 0,
        }
    }

    /// Schedules `item` at `deadline`.
    pub fn push(&mut self, deadline: f64, item: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.push(Entry {
            deadline,
            seq,
            item,
        });
        self.sift_up(self.entries.len() - 1);
    }

    /// Entries held, cancelled ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The deadline of the top entry, cancelled or not.
    pub fn peek_deadline(&self) -> Option<f64> {
        self.entries.first().map(|e| e.deadline)
    }

    /// Pops the top entry if it is due before `end`, cancelled or not (the
    /// caller decides what to do with a cancelled one).
    ///
    /// "Due" is asyncio's test negated (`not when >= end`), i.e. `deadline <
    /// end` for every non-NaN deadline; a NaN deadline counts as due.
    pub fn pop_due(&mut self, end: f64) -> Option<T> {
        let top = self.entries.first()?;
        let not_yet = matches!(
            top.deadline.partial_cmp(&end),
            Some(Ordering::Greater | Ordering::Equal)
        );
        if not_yet {
            None
        } else {
            Some(self.pop_top())
        }
    }

    /// Pops the top entry only if it is cancelled.
    pub fn pop_cancelled_top(&mut self) -> Option<T> {
        if self.entries.first()?.item.is_cancelled() {
            Some(self.pop_top())
        } else {
            None
        }
    }

    /// An item still in the heap was cancelled (call once per item).
    pub fn note_cancelled(&mut self) {
        self.cancelled += 1;
    }

    /// Cancelled entries still in the heap, as reported by `note_cancelled`.
    pub fn cancelled_count(&self) -> usize {
        self.cancelled
    }

    /// When cancelled entries dominate (asyncio's rule: more than
    /// `MIN_SCHEDULED_TIMER_HANDLES` entries and more than half of them
    /// cancelled), removes every cancelled entry in one O(n) rebuild, resets
    /// the count and returns the removed items; otherwise returns nothing.
    pub fn take_compacted(&mut self) -> Vec<T> {
        let len = self.entries.len();
        if len <= MIN_SCHEDULED_TIMER_HANDLES || self.cancelled * 2 <= len {
            return Vec::new();
        }
        let mut removed = Vec::with_capacity(self.cancelled);
        let mut kept = Vec::with_capacity(len - self.cancelled);
        for entry in self.entries.drain(..) {
            if entry.item.is_cancelled() {
                entry.item.unscheduled();
                removed.push(entry.item);
            } else {
                kept.push(entry);
            }
        }
        self.entries = kept;
        self.cancelled = 0;
        self.heapify();
        removed
    }

    /// Every item, in no particular order (for GC traversal).
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|e| &e.item)
    }

    /// Removes every item (in no particular order) and resets the count.
    pub fn take_all(&mut self) -> Vec<T> {
        self.cancelled = 0;
        self.entries
            .drain(..)
            .map(|e| {
                e.item.unscheduled();
                e.item
            })
            .collect()
    }

    /// Removes the top entry (the heap must not be empty).
    fn pop_top(&mut self) -> T {
        let last = self.entries.len() - 1;
        self.entries.swap(0, last);
        let entry = self.entries.pop().expect("pop_top on an empty heap");
        if !self.entries.is_empty() {
            self.sift_down(0);
        }
        if entry.item.is_cancelled() {
            self.cancelled = self.cancelled.saturating_sub(1);
        }
        entry.item.unscheduled();
        entry.item
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if !self.entries[i].before(&self.entries[parent]) {
                break;
            }
            self.entries.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.entries.len();
        loop {
            let left = 2 * i + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let child = if right < n && self.entries[right].before(&self.entries[left]) {
                right
            } else {
                left
            };
            if !self.entries[child].before(&self.entries[i]) {
                break;
            }
            self.entries.swap(i, child);
            i = child;
        }
    }

    fn heapify(&mut self) {
        for i in (0..self.entries.len() / 2).rev() {
            self.sift_down(i);
        }
    }
}

impl<T: Schedulable> Default for TimerHeap<T> {
    fn default() -> TimerHeap<T> {
        TimerHeap::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    struct Item {
        id: usize,
        cancelled: Cell<bool>,
        unscheduled: Cell<u32>,
    }

    impl Schedulable for Rc<Item> {
        fn is_cancelled(&self) -> bool {
            self.cancelled.get()
        }
        fn unscheduled(&self) {
            self.unscheduled.set(self.unscheduled.get() + 1);
        }
    }

    fn item(id: usize) -> Rc<Item> {
        Rc::new(Item {
            id,
            cancelled: Cell::new(false),
            unscheduled: Cell::new(0),
        })
    }

    fn drain_ids(h: &mut TimerHeap<Rc<Item>>, end: f64) -> Vec<usize> {
        let mut out = Vec::new();
        while let Some(i) = h.pop_due(end) {
            out.push(i.id);
        }
        out
    }

    #[test]
    fn deadline_then_push_order() {
        let mut h = TimerHeap::new();
        let deadlines = [5.0, 1.0, 3.0, 1.0, 2.0, 5.0, 0.5, 3.0, 1.0, 4.0];
        for (id, d) in deadlines.iter().enumerate() {
            h.push(*d, item(id));
        }
        assert_eq!(h.len(), 10);
        assert_eq!(h.peek_deadline(), Some(0.5));
        let mut expected: Vec<usize> = (0..deadlines.len()).collect();
        expected.sort_by(|a, b| deadlines[*a].total_cmp(&deadlines[*b]).then(a.cmp(b)));
        assert_eq!(drain_ids(&mut h, f64::INFINITY), expected);
        assert!(h.is_empty());
    }

    #[test]
    fn equal_deadlines_are_fifo() {
        let mut h = TimerHeap::new();
        for id in 0..500 {
            h.push(7.0, item(id));
        }
        assert_eq!(drain_ids(&mut h, 8.0), (0..500).collect::<Vec<_>>());
    }

    #[test]
    fn pseudo_random_order() {
        let mut h = TimerHeap::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut ds = Vec::new();
        for id in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let d = (x % 50) as f64;
            ds.push(d);
            h.push(d, item(id));
        }
        let mut expected: Vec<usize> = (0..ds.len()).collect();
        expected.sort_by(|a, b| ds[*a].total_cmp(&ds[*b]).then(a.cmp(b)));
        assert_eq!(drain_ids(&mut h, 100.0), expected);
    }

    #[test]
    fn pop_due_is_strictly_before_end() {
        let mut h = TimerHeap::new();
        h.push(1.0, item(0));
        assert!(h.pop_due(1.0).is_none());
        assert!(h.pop_due(0.5).is_none());
        let i = h.pop_due(1.0 + 1e-9).unwrap();
        assert_eq!(i.unscheduled.get(), 1);
        assert!(h.pop_due(f64::INFINITY).is_none());
    }

    #[test]
    fn nan_deadlines_are_due_at_once_and_infinite_ones_never() {
        let mut h = TimerHeap::new();
        h.push(f64::NAN, item(0));
        h.push(f64::INFINITY, item(1));
        h.push(f64::NEG_INFINITY, item(2));
        h.push(1.0, item(3));
        h.push(-f64::NAN, item(4));
        h.push(0.5, item(5));
        // Either NaN orders as -inf (then push order); the rest by deadline.
        assert!(h.peek_deadline().unwrap().is_nan());
        assert_eq!(drain_ids(&mut h, 0.0), vec![0, 2, 4]);
        assert_eq!(drain_ids(&mut h, 2.0), vec![5, 3]);
        assert_eq!(h.peek_deadline(), Some(f64::INFINITY));
        assert!(h.pop_due(f64::INFINITY).is_none());
        let rest: Vec<usize> = h.take_all().iter().map(|i| i.id).collect();
        assert_eq!(rest, vec![1]);
    }

    #[test]
    fn lazy_cancel() {
        let mut h = TimerHeap::new();
        let items: Vec<_> = (0..4).map(item).collect();
        for (i, it) in items.iter().enumerate() {
            h.push(i as f64, it.clone());
        }
        assert!(h.pop_cancelled_top().is_none());
        items[0].cancelled.set(true);
        h.note_cancelled();
        items[1].cancelled.set(true);
        h.note_cancelled();
        items[3].cancelled.set(true);
        h.note_cancelled();
        assert_eq!(h.cancelled_count(), 3);
        assert_eq!(h.pop_cancelled_top().unwrap().id, 0);
        assert_eq!(h.pop_cancelled_top().unwrap().id, 1);
        assert!(h.pop_cancelled_top().is_none());
        assert_eq!(h.cancelled_count(), 1);
        assert_eq!(h.peek_deadline(), Some(2.0));
        assert_eq!(h.pop_due(10.0).unwrap().id, 2);
        // pop_due hands back cancelled items too, and counts them.
        let it = h.pop_due(10.0).unwrap();
        assert_eq!(it.id, 3);
        assert_eq!(h.cancelled_count(), 0);
        assert!(items.iter().all(|i| i.unscheduled.get() == 1));
    }

    fn filled(n: usize, cancel: usize) -> (TimerHeap<Rc<Item>>, Vec<Rc<Item>>) {
        let mut h = TimerHeap::new();
        let items: Vec<_> = (0..n).map(item).collect();
        for (i, it) in items.iter().enumerate() {
            // Interleave deadlines so cancelled ones are spread out.
            h.push(((i * 7) % 13) as f64, it.clone());
        }
        for it in items.iter().skip(1).step_by(2).take(cancel) {
            it.cancelled.set(true);
            h.note_cancelled();
        }
        assert_eq!(h.cancelled_count(), cancel);
        (h, items)
    }

    #[test]
    fn compaction_thresholds() {
        // Exactly 100 entries: never (asyncio needs more than 100).
        let (mut h, _) = filled(100, 50);
        assert!(h.take_compacted().is_empty());
        // 101 entries, 50 cancelled: not more than half.
        let (mut h, _) = filled(101, 50);
        assert!(h.take_compacted().is_empty());
        assert_eq!(h.len(), 101);
        // 102 entries, 51 cancelled: exactly half, still not more.
        let (mut h, _) = filled(102, 51);
        assert!(h.take_compacted().is_empty());
    }

    #[test]
    fn compaction_removes_cancelled_and_keeps_order() {
        let (mut h, items) = filled(101, 50);
        // One more cancellation tips it over: 51 * 2 > 101.
        items[0].cancelled.set(true);
        h.note_cancelled();
        let removed = h.take_compacted();
        assert_eq!(removed.len(), 51);
        assert!(removed.iter().all(|i| i.cancelled.get()));
        assert!(removed.iter().all(|i| i.unscheduled.get() == 1));
        assert_eq!(h.cancelled_count(), 0);
        assert_eq!(h.len(), 50);
        assert!(h.take_compacted().is_empty());
        let mut expected: Vec<usize> = (0..101).filter(|i| !items[*i].cancelled.get()).collect();
        expected.sort_by_key(|i| ((i * 7) % 13, *i));
        assert_eq!(drain_ids(&mut h, 100.0), expected);
    }

    #[test]
    fn iter_and_take_all() {
        let mut h = TimerHeap::new();
        for id in 0..10 {
            h.push(10.0 - id as f64, item(id));
        }
        h.note_cancelled();
        let mut ids: Vec<usize> = h.iter().map(|i| i.id).collect();
        ids.sort();
        assert_eq!(ids, (0..10).collect::<Vec<_>>());
        let all = h.take_all();
        assert_eq!(all.len(), 10);
        assert!(all.iter().all(|i| i.unscheduled.get() == 1));
        assert!(h.is_empty());
        assert_eq!(h.cancelled_count(), 0);
        assert_eq!(h.peek_deadline(), None);
        assert!(h.pop_due(f64::INFINITY).is_none());
        assert!(h.pop_cancelled_top().is_none());
    }
}
