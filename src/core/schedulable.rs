//! What the engine needs to know about an item it schedules.

/// An item the engine schedules (in the adapter, a handle).
pub trait Schedulable {
    /// The item was cancelled: it must not run, and may be discarded.
    fn is_cancelled(&self) -> bool;

    /// Called by `TimerHeap` on every item it hands back (fired or
    /// discarded), so the adapter can clear the handle's "scheduled" flag.
    fn unscheduled(&self) {}
}
