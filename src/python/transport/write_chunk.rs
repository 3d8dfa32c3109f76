//! `Chunk`: one queued write of a stream or write-pipe transport.

use pyo3_ffi::*;

use crate::python::ffi::args::utf8;
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{raise, PyResult, Raised};

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

/// bytes, bytearray or memoryview: what `write()` and `sendto()` take.
pub fn is_bytes_like(data: *mut PyObject) -> bool {
    // SAFETY: data is live; type checks only.
    unsafe {
        PyBytes_Check(data) != 0 || PyByteArray_Check(data) != 0 || PyMemoryView_Check(data) != 0
    }
}

/// asyncio's TypeError for data that is not bytes-like: `prefix` and the
/// repr of the type's name.
pub fn not_bytes_like(prefix: &str, data: *mut PyObject) -> Raised {
    // SAFETY: data is live; every result is owned.
    let name = unsafe {
        Owned::from_new(PyObject_GetAttrString(
            Py_TYPE(data).cast(),
            c"__name__".as_ptr(),
        ))
    };
    // SAFETY: as above.
    let shown = name.and_then(|name| unsafe { Owned::from_new(PyObject_Repr(name.as_ptr())) });
    match shown.and_then(|shown| utf8(shown.as_ptr())) {
        // SAFETY: valid exception class.
        Ok(shown) => raise(unsafe { PyExc_TypeError }, &format!("{prefix}{shown}")),
        Err(raised) => raised,
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
