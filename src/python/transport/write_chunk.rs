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
        Ok(Chunk::Copy(BufferView::of(data)?.as_ref().to_vec()))
    }
}

/// A contiguous buffer of a bytes-like object, held for the moment (the
/// object cannot be resized meanwhile): what a write sends from directly,
/// so only what the socket did not take is copied.
pub struct BufferView(Py_buffer);

impl BufferView {
    /// The object's bytes (`PyBUF_SIMPLE`: a non-contiguous view fails with
    /// the buffer protocol's own error).
    pub fn of(data: *mut PyObject) -> PyResult<BufferView> {
        // SAFETY: data is live; a zeroed Py_buffer is what GetBuffer fills.
        unsafe {
            let mut view: Py_buffer = std::mem::zeroed();
            if PyObject_GetBuffer(data, &mut view, PyBUF_SIMPLE) < 0 {
                return Err(Raised);
            }
            Ok(BufferView(view))
        }
    }
}

impl AsRef<[u8]> for BufferView {
    fn as_ref(&self) -> &[u8] {
        if self.0.len == 0 {
            return &[];
        }
        // SAFETY: a filled simple view is `len` readable bytes at `buf`,
        // valid until released (by Drop).
        unsafe { std::slice::from_raw_parts(self.0.buf.cast::<u8>(), self.0.len as usize) }
    }
}

impl Drop for BufferView {
    fn drop(&mut self) {
        // SAFETY: the view was filled by PyObject_GetBuffer, released once.
        unsafe { PyBuffer_Release(&mut self.0) }
    }
}

/// What `write()` was given, until it is sent or queued.
pub enum Pending {
    /// A bytes object, queued by reference.
    Kept(Chunk),
    /// Another buffer, held only during the call.
    Lent(BufferView),
}

impl AsRef<[u8]> for Pending {
    fn as_ref(&self) -> &[u8] {
        match self {
            Pending::Kept(chunk) => chunk.as_ref(),
            Pending::Lent(view) => view.as_ref(),
        }
    }
}

impl Pending {
    /// A bytes object by reference, another bytes-like object's buffer
    /// held for the call: it is sent from directly, and only what the fd
    /// did not take is copied (the caller may reuse the buffer once write()
    /// returns).
    pub fn of(data: *mut PyObject) -> PyResult<Pending> {
        // SAFETY: data is live; a type check only.
        if unsafe { PyBytes_Check(data) } != 0 {
            // SAFETY: as above; bytes are immutable, so a reference is enough.
            return Ok(Pending::Kept(Chunk::Bytes(unsafe {
                Owned::from_borrowed(data)
            })));
        }
        BufferView::of(data).map(Pending::Lent)
    }

    /// The chunk to queue after `sent` bytes went, with its offset: a kept
    /// bytes object from `sent`, or a copy of only the rest of a lent buffer.
    pub fn into_chunk(self, sent: usize) -> (Chunk, usize) {
        match self {
            Pending::Kept(chunk) => (chunk, sent),
            Pending::Lent(view) => (Chunk::Copy(view.as_ref()[sent..].to_vec()), 0),
        }
    }
}
