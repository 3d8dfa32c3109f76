//! zloop: an asyncio event loop whose engine is Rust.
//!
//! `core` is pure Rust (no Python); `python` is the CPython adapter and the
//! only code that touches `pyo3-ffi`.

pub mod core;

#[cfg(not(test))]
mod python;
