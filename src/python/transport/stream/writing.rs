//! Writing on a stream transport: `write`/`writelines` (sent at once\n//! when nothing is queued), the write queue and its flush on writable events,\n//! `write_eof`, and draining before a close.

use pyo3_ffi::*;
use std::ffi::CStr;
use std::io;
use std::ptr::null_mut;

use crate::core::sys;
use crate::python::ffi::names::{self, call_support};
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{self, raise_io, raise_static, PyResult, Raised};
use crate::python::transport as kit;
use crate::python::transport::stream::{
    connection_lost, fatal_error, fatal_os_error, start_writing, stop_writing, Stream,
    TransportState,
};
use crate::python::transport::write_chunk::{is_bytes_like, not_bytes_like, Chunk, Pending};

/// The start of asyncio's TypeError message for a `write()` of the wrong type.
#[cfg(Py_3_14)]
const NOT_BYTES_LIKE: &str = "data argument must be a bytes, bytearray, or memoryview object, not ";
#[cfg(not(Py_3_14))]
const NOT_BYTES_LIKE: &str = "data argument must be a bytes-like object, not ";

/// `data` as a queueable chunk: a reference for bytes, a copy otherwise.
fn chunk_of(data: *mut PyObject) -> PyResult<Chunk> {
    // SAFETY: data is live.
    if unsafe { PyBytes_Check(data) } != 0 {
        // SAFETY: as above; bytes are immutable, so a reference is enough.
        return Ok(Chunk::Bytes(unsafe { Owned::from_borrowed(data) }));
    }
    Chunk::copy_of(data)
}

pub(super) fn runtime_error(message: &CStr) -> Raised {
    // SAFETY: valid exception class.
    raise_static(unsafe { PyExc_RuntimeError }, message)
}

/// A buffer `sock.send()` refuses (not contiguous) after asyncio's own
/// checks passed: there it is a fatal write error, not an exception from
/// `write()`.
fn unsendable(slf: Stream<'_>) -> PyResult<()> {
    match raised::take_buffer_error() {
        Some(exc) => {
            let st = slf.state();
            if st.conn_lost.get() > 0 {
                st.conn_lost.set(st.conn_lost.get() + 1);
                return Ok(());
            }
            fatal_error(slf, exc, c"Fatal write error on socket transport")
        }
        None => Err(Raised),
    }
}

pub(super) fn write(slf: Stream<'_>, data: *mut PyObject) -> PyResult<()> {
    // asyncio's order: the type, write_eof(), sendfile, then the data.
    if !is_bytes_like(data) {
        return Err(not_bytes_like(NOT_BYTES_LIKE, data));
    }
    let st = slf.state();
    if st.eof.get() {
        return Err(runtime_error(c"Cannot call write() after write_eof()"));
    }
    if !st.empty_waiter.get().is_null() {
        return Err(runtime_error(c"unable to write; sendfile is in progress"));
    }
    let data = match Pending::of(data) {
        Ok(data) => data,
        Err(Raised) => return unsendable(slf),
    };
    if data.as_ref().is_empty() {
        return Ok(());
    }
    if st.conn_lost.get() > 0 {
        if st.conn_lost.get() >= kit::LOG_THRESHOLD_FOR_CONNLOST_WRITES {
            call_support(&names::S_WRITE_AFTER_LOST, &[])?;
        }
        st.conn_lost.set(st.conn_lost.get() + 1);
        return Ok(());
    }
    let mut sent = 0;
    let idle = st.queue.borrow().is_empty();
    if idle {
        match sys::send(slf.owned_fd(), data.as_ref()) {
            Ok(n) if n == data.as_ref().len() => return Ok(()),
            Ok(n) => sent = n,
            Err(e) if sys::would_block(&e) => {}
            Err(e) => return fatal_os_error(slf, &e, c"Fatal write error on socket transport"),
        }
    }
    // The lent buffer is let go before any Python code can run.
    let (chunk, offset) = data.into_chunk(sent);
    if idle {
        start_writing(slf)?;
    }
    st.queue.borrow_mut().push(chunk, offset);
    kit::flow_control::maybe_pause_protocol::<TransportState>(slf)
}

pub(super) fn writelines(slf: Stream<'_>, list: *mut PyObject) -> PyResult<()> {
    let st = slf.state();
    if st.eof.get() {
        return Err(runtime_error(c"Cannot call writelines() after write_eof()"));
    }
    if !st.empty_waiter.get().is_null() {
        return Err(runtime_error(
            c"unable to writelines; sendfile is in progress",
        ));
    }
    // 3.12+ returns at once for anything falsy (`if not list_of_data`).
    #[cfg(Py_3_12)]
    // SAFETY: list is live; PyObject_IsTrue sets an error on failure.
    match unsafe { PyObject_IsTrue(list) } {
        -1 => return Err(Raised),
        0 => return Ok(()),
        _ => {}
    }
    // SAFETY: list is live; the iterator and items are owned.
    let chunks = unsafe {
        let iter = Owned::from_new(PyObject_GetIter(list))?;
        let mut chunks = Vec::new();
        loop {
            let item = PyIter_Next(iter.as_ptr());
            if item.is_null() {
                if !PyErr_Occurred().is_null() {
                    return Err(Raised);
                }
                break;
            }
            let item = Owned::from_new(item)?;
            match chunk_of(item.as_ptr()) {
                Ok(chunk) => chunks.push(chunk),
                Err(Raised) => return unsendable(slf),
            }
        }
        chunks
    };
    if chunks.is_empty() {
        return Ok(());
    }
    if st.conn_lost.get() > 0 {
        return Ok(());
    }
    {
        let mut queue = st.queue.borrow_mut();
        for chunk in chunks {
            queue.push(chunk, 0);
        }
    }
    flush(slf)?;
    if !st.queue.borrow().is_empty() && slf.state().conn_lost.get() == 0 {
        start_writing(slf)?;
    }
    kit::flow_control::maybe_pause_protocol::<TransportState>(slf)
}

/// Sends what is queued (one gathered write), as asyncio's `_write_sendmsg`.
pub(super) fn flush(slf: Stream<'_>) -> PyResult<()> {
    let st = slf.state();
    let fd = slf.owned_fd();
    let result = st.queue.borrow_mut().send_to(fd);
    match result {
        Err(e) if sys::would_block(&e) => Ok(()),
        Err(e) => {
            stop_writing(slf);
            st.queue.borrow_mut().clear();
            fatal_os_error(slf, &e, c"Fatal write error on socket transport")?;
            settle_empty_waiter(slf, Some(&e))
        }
        Ok(_) => {
            kit::flow_control::maybe_resume_protocol::<TransportState>(slf)?;
            if !st.queue.borrow().is_empty() {
                return Ok(());
            }
            stop_writing(slf);
            settle_empty_waiter(slf, None)?;
            if slf.io_state().closing.get() {
                connection_lost(slf, null_mut())
            } else if st.eof.get() {
                sys::shutdown_write(slf.owned_fd()).map_err(|e| raise_io(&e))
            } else {
                Ok(())
            }
        }
    }
}

/// Resolves a sendfile's empty waiter: the buffer drained, or the write failed.
fn settle_empty_waiter(slf: Stream<'_>, error: Option<&io::Error>) -> PyResult<()> {
    let waiter = slf.state().empty_waiter.get();
    if waiter.is_null() {
        return Ok(());
    }
    // SAFETY: waiter is live; method names are C strings; results owned.
    unsafe {
        let waiter = Owned::from_borrowed(waiter);
        match error {
            Some(e) => {
                let exc = raised::io_exception(e).unwrap_or_else(Owned::none);
                Owned::from_new(PyObject_CallMethodOneArg(
                    waiter.as_ptr(),
                    names::S_SET_EXCEPTION.get(),
                    exc.as_ptr(),
                ))?;
            }
            None => {
                Owned::from_new(PyObject_CallMethodOneArg(
                    waiter.as_ptr(),
                    names::S_SET_RESULT.get(),
                    Py_None(),
                ))?;
            }
        }
    }
    Ok(())
}
