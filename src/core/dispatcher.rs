//! What the engine calls out to while running an iteration.

use std::io;

/// The engine's view of the outside world (in production: the CPython
/// adapter; in tests: a fake). `run_once` never holds a borrow of the engine
/// while calling any of these, so each may re-enter the engine.
pub trait Dispatcher<T> {
    type Error;

    /// Runs `wait` (a blocking poll that borrows nothing from the
    /// engine). The adapter releases the GIL around it.
    fn block(&mut self, wait: &mut dyn FnMut() -> io::Result<usize>) -> io::Result<usize>;

    /// The poll was interrupted by a signal (EINTR). Err ends this iteration
    /// with that error (the adapter runs Python signal handlers here).
    fn interrupted(&mut self) -> Result<(), Self::Error>;

    /// The poll failed with something other than EINTR.
    fn poll_failed(&mut self, err: io::Error) -> Self::Error;

    /// Run one ready item. Err ends this iteration; items not yet run stay
    /// queued, in order.
    fn run(&mut self, item: T) -> Result<(), Self::Error>;

    /// Dispose of items removed by the engine (cancelled timers,
    /// replaced/cancelled readers). Called with no engine borrow held.
    /// Default: drop them.
    fn discard(&mut self, items: Vec<T>) {
        drop(items)
    }
}
