//! `Chunk`: one queued write of a stream or write-pipe transport.

use pyo3_ffi::*;

use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{PyResult, Raised};

/// One queued write: an immutable bytes object we keep a reference to, or a
/// copy of a mutable buffer (bytearray, memoryview) taken at write() time.
pub enum Chunk {
    Bytes(Owned),
    Copy(Vec<u8>),
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        match self {
            // SAFETY: the Owned keeps the (immutable) bytes object alive.
            Chunk::Bytes(b) => unsafe {
                std::slice::from_raw_parts(
                    PyBytes_AS_STRING(b.as_ptr()).cast::<u8>(),
                    Py_SIZE(b.as_ptr()) as usize,
                )
            },
            Chunk::Copy(v) => v,
        }
    }
}

impl Chunk {
    /// A copy of a mutable buffer's bytes, taken now: the caller may reuse
    /// the buffer once write() returns.
    pub fn copy_of(data: *mut PyObject) -> PyResult<Chunk> {
        // SAFETY: data is live; the view is released before returning.
        unsafe {
            let mut view: Py_buffer = std::mem::zeroed();
            if PyObject_GetBuffer(data, &mut view, PyBUF_SIMPLE) < 0 {
                return Err(Raised);
            }
            let copy =
                std::slice::from_raw_parts(view.buf.cast::<u8>(), view.len as usize).to_vec();
            PyBuffer_Release(&mut view);
            Ok(Chunk::Copy(copy))
        }
    }
}
