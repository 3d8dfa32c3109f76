//! The engine: pure Rust, no Python.
//!
//! Layers, each depending only on the ones listed before it:
//! `sys` (libc wrappers), `sockaddr` → `interest`, `event`, `event_buf` → `reactor`
//! (epoll), `waker` (eventfd), `schedulable` → `timer_heap`, `ready_queue`,
//! `io_slot` → `dispatcher` → `engine` (asyncio's `_run_once`).
//!
//! Rule for the whole core: no method ever drops an item (`T`) itself;
//! whatever is removed is handed back to the caller, who decides when it is
//! safe to drop it (in the adapter, dropping can run Python code).

pub mod dispatcher;
pub mod engine;
pub mod event;
pub mod event_buf;
pub mod interest;
pub mod io_slot;
pub mod reactor;
pub mod ready_queue;
pub mod schedulable;
pub mod sockaddr;
pub mod sys;
#[cfg(test)]
pub(crate) mod test_util;
pub mod timer_heap;
pub mod waker;
pub mod write_queue;

pub use dispatcher::Dispatcher;
pub use engine::{run_forever, run_once, Engine, MAXIMUM_SELECT_TIMEOUT};
pub use event::Event;
pub use event_buf::EventBuf;
pub use interest::Interest;
pub use io_slot::IoSlot;
pub use reactor::Reactor;
pub use ready_queue::ReadyQueue;
pub use schedulable::Schedulable;
pub use timer_heap::TimerHeap;
pub use waker::Waker;
