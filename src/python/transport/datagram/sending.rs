//! Sending on a datagram transport: `sendto` (at once when nothing is\n//! queued), the queue of datagrams with their addresses, and its flush on\n//! writable events.

use pyo3_ffi::*;
use std::ptr::null_mut;
use std::sync::atomic::Ordering;

use crate::core::sys;
use crate::python::ffi::args::utf8;
use crate::python::ffi::names::{self, call_support};
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{self, raise, PyResult, Raised};
use crate::python::transport::datagram::{
    connection_lost, pending_failure, send_failed, start_writing, stop_writing, Datagram,
    DatagramState, Failure, Queued, HEADER_ADDED, HEADER_REMOVED,
};
use crate::python::transport::write_chunk::{is_bytes_like, not_bytes_like};
use crate::python::transport::{self as kit, address};

enum Sent {
    Done,
    Failed(Failure),
}

/// The bytes of `data` (bytes or any C-contiguous buffer) for `f`.
fn with_bytes<T>(data: *mut PyObject, f: impl FnOnce(&[u8]) -> T) -> PyResult<T> {
    // SAFETY: data is live; a bytes object's storage is immutable while it
    // lives; a buffer view is released before returning.
    unsafe {
        if PyBytes_Check(data) != 0 {
            let buf = std::slice::from_raw_parts(
                PyBytes_AS_STRING(data).cast::<u8>(),
                Py_SIZE(data) as usize,
            );
            return Ok(f(buf));
        }
        let mut view: Py_buffer = std::mem::zeroed();
        if PyObject_GetBuffer(data, &mut view, PyBUF_SIMPLE) < 0 {
            return Err(Raised);
        }
        let buf = std::slice::from_raw_parts(view.buf.cast::<u8>(), view.len as usize);
        let result = f(buf);
        PyBuffer_Release(&mut view);
        Ok(result)
    }
}

/// One datagram out: `sock.send(data)` when connected, else
/// `sock.sendto(data, addr)` (natively when the address converts here).
fn send_one(slf: Datagram<'_>, data: *mut PyObject, addr: *mut PyObject) -> PyResult<Sent> {
    let st = slf.state();
    let io_result = if st.connected {
        let fd = slf.owned_fd();
        with_bytes(data, |buf| sys::send(fd, buf))
    } else if st.native_addresses {
        match address::from_python(st.family, addr) {
            Ok(Some(sockaddr)) => {
                let fd = slf.owned_fd();
                with_bytes(data, |buf| sys::sendto(fd, buf, &sockaddr))
            }
            Ok(None) => return python_sendto(slf, data, addr),
            Err(Raised) => Err(Raised),
        }
    } else {
        return python_sendto(slf, data, addr);
    };
    match io_result {
        Ok(Ok(_)) => Ok(Sent::Done),
        Ok(Err(e)) if sys::would_block(&e) => Ok(Sent::Failed(Failure::Again)),
        Ok(Err(e)) => Ok(Sent::Failed(Failure::Os(
            raised::io_exception(&e).ok_or(Raised)?,
        ))),
        Err(Raised) => pending_failure().map(Sent::Failed),
    }
}

/// `sock.sendto(data, addr)` through the socket object: name resolution,
/// special hosts, other families and every error stay the socket module's.
fn python_sendto(slf: Datagram<'_>, data: *mut PyObject, addr: *mut PyObject) -> PyResult<Sent> {
    // SAFETY: sock is null or a live socket; results owned.
    unsafe {
        let sock = slf.io_object();
        if sock.is_null() {
            return Ok(Sent::Done);
        }
        let argv = [sock, data, addr];
        let result = PyObject_VectorcallMethod(names::S_SENDTO.get(), argv.as_ptr(), 3, null_mut());
        match Owned::from_new(result) {
            Ok(_) => Ok(Sent::Done),
            Err(Raised) => pending_failure().map(Sent::Failed),
        }
    }
}

fn header_added() -> i64 {
    HEADER_ADDED.load(Ordering::Relaxed)
}

fn header_removed() -> i64 {
    HEADER_REMOVED.load(Ordering::Relaxed)
}

/// asyncio's `sendto(data, addr=None)`.
pub(super) fn sendto(slf: Datagram<'_>, data: *mut PyObject, addr: *mut PyObject) -> PyResult<()> {
    if !is_bytes_like(data) {
        return Err(not_bytes_like(
            "data argument must be a bytes-like object, not ",
            data,
        ));
    }
    // Before 3.13 an empty datagram is silently dropped (gh-113812).
    #[cfg(not(Py_3_13))]
    {
        // SAFETY: data is live; len() of a bytes-like object.
        let n = unsafe { PyObject_Length(data) };
        if n < 0 {
            return Err(Raised);
        }
        if n == 0 {
            return Ok(());
        }
    }
    let st = slf.state();
    let mut addr = if addr.is_null() {
        // SAFETY: Py_None is immortal.
        unsafe { Py_None() }
    } else {
        addr
    };
    if st.has_address {
        // Set whenever has_address is.
        let address = st.address.get();
        if !address_allowed(addr, address)? {
            // SAFETY: address is live; results owned.
            let shown = unsafe { Owned::from_new(PyObject_Str(address))? };
            return Err(raise(
                // SAFETY: valid exception class.
                unsafe { PyExc_ValueError },
                &format!("Invalid address: must be None or {}", utf8(shown.as_ptr())?),
            ));
        }
        addr = address;
    }
    let released = slf.io_object().is_null();
    // asyncio drops a connected endpoint's datagrams once the connection is
    // lost; once the socket is released it would raise AttributeError on
    // `None.sendto`, for connected and unconnected endpoints alike: we drop
    // those datagrams the same way instead.
    if (st.conn_lost.get() > 0 && st.has_address) || released {
        if st.conn_lost.get() >= kit::LOG_THRESHOLD_FOR_CONNLOST_WRITES {
            call_support(&names::S_WRITE_AFTER_LOST, &[])?;
        }
        st.conn_lost.set(st.conn_lost.get() + 1);
        return Ok(());
    }
    if st.queue.borrow().is_empty() {
        match send_one(slf, data, addr)? {
            Sent::Done => return Ok(()),
            Sent::Failed(Failure::Again) => start_writing(slf)?,
            Sent::Failed(failure) => return send_failed(slf, failure),
        }
    }
    // Queue an immutable copy, as asyncio's `bytes(data)`.
    // SAFETY: data is live; new references or null.
    let (copy, length) = unsafe {
        let copy = Owned::from_new(PyBytes_FromObject(data))?;
        let length = PyObject_Length(data);
        if length < 0 {
            return Err(Raised);
        }
        (copy, length as i64)
    };
    // SAFETY: Py_None is immortal; addr is live.
    let addr = (addr != unsafe { Py_None() }).then(|| unsafe { Owned::from_borrowed(addr) });
    st.queue.borrow_mut().push_back(Queued { data: copy, addr });
    st.buffer_size
        .set(st.buffer_size.get() + length + header_added());
    kit::flow_control::maybe_pause_protocol::<DatagramState>(slf)
}

/// `addr in (None, address)`, compared as the tuple membership test does.
fn address_allowed(addr: *mut PyObject, address: *mut PyObject) -> PyResult<bool> {
    // SAFETY: both are live objects; Py_None is immortal.
    unsafe {
        let none = Py_None();
        if addr == none || addr == address {
            return Ok(true);
        }
        for candidate in [none, address] {
            match PyObject_RichCompareBool(candidate, addr, Py_EQ) {
                -1 => return Err(Raised),
                0 => {}
                _ => return Ok(true),
            }
        }
        Ok(false)
    }
}

/// asyncio's `_sendto_ready()`: flush the queue until the socket is full.
pub(super) fn sendto_ready(slf: Datagram<'_>) -> PyResult<()> {
    let st = slf.state();
    loop {
        let item = st.queue.borrow_mut().pop_front();
        let Some(item) = item else {
            break;
        };
        let charged = item.len() + header_removed();
        st.buffer_size.set(st.buffer_size.get() - charged);
        let addr = item.addr.as_ref().map_or_else(
            // SAFETY: Py_None is immortal.
            || unsafe { Py_None() },
            Owned::as_ptr,
        );
        match send_one(slf, item.data.as_ptr(), addr)? {
            Sent::Done => {}
            Sent::Failed(Failure::Again) => {
                st.queue.borrow_mut().push_front(item);
                st.buffer_size.set(st.buffer_size.get() + charged);
                break;
            }
            Sent::Failed(failure) => {
                drop(item);
                return send_failed(slf, failure);
            }
        }
    }
    kit::flow_control::maybe_resume_protocol::<DatagramState>(slf)?;
    if st.queue.borrow().is_empty() {
        stop_writing(slf);
        if slf.io_state().closing.get() {
            return connection_lost(slf, null_mut());
        }
    }
    Ok(())
}

/// Empties the queue; the items are dropped after the borrow ends (an
/// address object's destructor may run Python code).
pub(super) fn clear_queue(st: &DatagramState) {
    let items = match st.queue.try_borrow_mut() {
        Ok(mut queue) => std::mem::take(&mut *queue),
        Err(_) => return,
    };
    drop(items);
}
