//! The reader and writer registered for one fd.

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
}

impl<T> Default for IoSlot<T> {
    fn default() -> IoSlot<T> {
        IoSlot {
            reader: None,
            writer: None,
        }
    }
}
