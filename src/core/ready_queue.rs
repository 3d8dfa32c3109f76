//! The FIFO of items ready to run.

use std::collections::VecDeque;

/// A FIFO queue of ready items. Never drops an item itself.
pub struct ReadyQueue<T> {
    items: VecDeque<T>,
}

impl<T> ReadyQueue<T> {
    pub fn new() -> ReadyQueue<T> {
        ReadyQueue {
            items: VecDeque::new(),
        }
    }

    /// Appends at the back.
    pub fn push(&mut self, item: T) {
        self.items.push_back(item);
    }

    /// Removes from the front.
    pub fn pop(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Front to back.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }

    /// Removes every item, front to back.
    pub fn take_all(&mut self) -> Vec<T> {
        self.items.drain(..).collect()
    }
}

impl<T> Default for ReadyQueue<T> {
    fn default() -> ReadyQueue<T> {
        ReadyQueue::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo() {
        let mut q = ReadyQueue::new();
        assert!(q.is_empty());
        for i in 0..5 {
            q.push(i);
        }
        assert_eq!(q.len(), 5);
        assert_eq!(q.pop(), Some(0));
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        q.push(5);
        assert_eq!(q.take_all(), vec![1, 2, 3, 4, 5]);
        assert!(q.is_empty());
        assert_eq!(q.pop(), None);
    }
}
