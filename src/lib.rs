//! zloop: an asyncio event loop whose engine is Rust.
//!
//! `core` is pure Rust (no Python); `python` is the CPython adapter and the
//! only code that touches `pyo3-ffi`.
//!
//! Every unsafe operation sits in an explicit `unsafe` block with a
//! `// SAFETY:` comment stating what it relies on; the two lints below make
//! the rule checkable.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod core;

#[cfg(not(test))]
mod python;
