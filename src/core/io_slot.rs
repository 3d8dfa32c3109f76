//! The reader and writer registered for one fd.

use super::interest::Direction;

/// The reader and writer items registered for one fd.
pub struct IoSlot<T> {
    pub reader: Option<T>,
    pub writer: Option<T>,
}

impl<T> IoSlot<T> {
    /// Neither a reader nor a writer.
    pub fn is_empty(&self) -> bool {
        self.reader.is_none() && self.writer.is_none()
    }

    /// The watcher for `direction`: the reader or the writer.
    pub fn watcher(&self, direction: Direction) -> Option<&T> {
        match direction {
            Direction::Read => self.reader.as_ref(),
            Direction::Write => self.writer.as_ref(),
        }
    }

    /// The place of the watcher for `direction`.
    pub fn place(&mut self, direction: Direction) -> &mut Option<T> {
        match direction {
            Direction::Read => &mut self.reader,
            Direction::Write => &mut self.writer,
        }
    }
}

impl<T> Default for IoSlot<T> {
    fn default() -> IoSlot<T> {
        IoSlot {
            reader: None,
            writer: None,
        }
    }
}
