//! The engine: pure Rust, no Python.
//!
//! Layers, each depending only on the ones listed before it:
//! `interest` (readiness vocabulary), `sockaddr` → `sys` (libc wrappers, and
//! the platform's poller and waker backends, chosen by `cfg`) → `reactor`
//! (registrations over the poller), `schedulable` → `timer_heap`,
//! `ready_queue`, `write_queue` → `dispatcher` → `engine` (the loop's state,
//! its fd watchers, and in `engine::run` asyncio's `_run_once`).
//!
//! Rule for the whole core: no method ever drops an item (`T`) itself;
//! whatever is removed is handed back to the caller, who decides when it is
//! safe to drop it (in the adapter, dropping can run Python code).
//!
//! Every `unsafe` block says why it is sound in a `// SAFETY:` comment, and
//! an `unsafe fn` does its unsafe operations in such blocks too: both are
//! denied for the whole crate (`lib.rs`).

pub mod dispatcher;
pub mod engine;
pub mod interest;
pub mod reactor;
pub mod ready_queue;
pub mod schedulable;
pub mod sockaddr;
pub mod sys;
#[cfg(test)]
pub(crate) mod test_util;
pub mod timer_heap;
pub mod write_queue;

pub use dispatcher::Dispatcher;
pub use engine::{run_forever, run_once, Engine, IoSlot, MAXIMUM_SELECT_TIMEOUT};
pub use interest::{Direction, Event, Interest};
pub use reactor::Reactor;
pub use ready_queue::ReadyQueue;
pub use schedulable::Schedulable;
pub use sys::{EventBuf, Waker};
pub use timer_heap::TimerHeap;
