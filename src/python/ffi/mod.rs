//! The C-API toolkit every native type is written with: owned references,
//! errors as values until the FFI edge, argument parsing, interned names,
//! and the static type-object builders.

pub mod args;
pub mod borrowed;
pub mod entry;
pub mod names;
pub mod objects;
pub mod owned;
pub mod raised;
pub mod type_spec;
