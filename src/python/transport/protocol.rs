//! Calls to the loop and the protocol, and how a transport loses its
//! connection: `connection_lost` scheduling, release of the socket or pipe,
//! and the socket transports' close/abort.

use pyo3_ffi::*;
use std::ptr::null_mut;

use crate::core::interest::Direction;
use crate::python::ffi::entry::{noargs, onearg};
use crate::python::ffi::names;
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{self, raise, PyResult};
use crate::python::transport::flow_control::Buffered;
use crate::python::transport::registration::{loop_of, loop_owned, unregister};
use crate::python::transport::{Transport, TransportKind};

/// The current protocol (it may change during any call into Python).
pub fn protocol(slf: Transport<'_>) -> Owned {
    slf.refs().protocol.attr()
}

/// `protocol.<name>(*args)` on the current protocol.
#[inline]
pub fn call_protocol(
    slf: Transport<'_>,
    name: &names::Cached,
    args: &[*mut PyObject],
) -> PyResult<Owned> {
    let proto = protocol(slf);
    names::call_method(proto.as_ptr(), name, args)
}

/// `loop.call_soon(callback, *args)` (nothing once the loop is let go).
pub fn call_soon(
    slf: Transport<'_>,
    callback: *mut PyObject,
    args: &[*mut PyObject],
) -> PyResult<()> {
    let Some(lp) = loop_owned(slf) else {
        return Ok(());
    };
    let mut argv = Vec::with_capacity(args.len() + 1);
    argv.push(callback);
    argv.extend_from_slice(args);
    names::call_method(lp.as_ptr(), &names::S_CALL_SOON, &argv).map(drop)
}

/// `loop.call_soon(self._call_connection_lost, exc)` (in the connection
/// context when there is one, as 3.15's `_call_soon`); `exc` null is None.
pub fn schedule_connection_lost(slf: Transport<'_>, exc: *mut PyObject) -> PyResult<()> {
    // SAFETY: slf is live; the bound method is a new reference; None is immortal.
    unsafe {
        let method = Owned::from_new(PyObject_GetAttr(
            slf.as_ptr(),
            names::S_CALL_CONNECTION_LOST.get(),
        ))?;
        let Some(context) = slf.refs().connection_context.take_clone() else {
            return call_soon(slf, method.as_ptr(), &[none_if_null(exc)]);
        };
        let Some(lp) = loop_owned(slf) else {
            return Ok(());
        };
        let kwnames = Owned::from_new(PyTuple_Pack(1, names::S_CONTEXT.get()))?;
        let argv = [
            lp.as_ptr(),
            method.as_ptr(),
            none_if_null(exc),
            context.as_ptr(),
        ];
        Owned::from_new(PyObject_VectorcallMethod(
            names::S_CALL_SOON.get(),
            argv.as_ptr(),
            3,
            kwnames.as_ptr(),
        ))
        .map(drop)
    }
}

/// `_use_connection_context(context)`: 3.15+, from the Python edge.
pub fn set_connection_context(slf: Transport<'_>, context: *mut PyObject) -> PyResult<()> {
    // SAFETY: context is live; a type check before keeping it.
    unsafe {
        if PyContext_CheckExact(context) == 0 {
            return Err(raise(PyExc_TypeError, "a contextvars.Context is required"));
        }
        slf.refs()
            .connection_context
            .set(Owned::from_borrowed(context));
    }
    Ok(())
}

/// None for a null `exc` (how the internals pass "no exception").
pub fn none_if_null(exc: *mut PyObject) -> *mut PyObject {
    if exc.is_null() {
        // SAFETY: Py_None is immortal.
        unsafe { Py_None() }
    } else {
        exc
    }
}

/// Null for None (a Python argument for "no exception").
pub fn null_if_none(exc: *mut PyObject) -> *mut PyObject {
    // SAFETY: Py_None is immortal; comparing pointers.
    if exc == unsafe { Py_None() } {
        null_mut()
    } else {
        exc
    }
}

/// asyncio's `_call_connection_lost(exc)`: `protocol.connection_lost(exc)`
/// (when `tell_protocol`), then, in any case, `release`; a protocol error
/// wins over a release error.
pub fn lose_connection(
    slf: Transport<'_>,
    exc: *mut PyObject,
    tell_protocol: bool,
    release: impl FnOnce() -> PyResult<()>,
) -> PyResult<()> {
    let result = if tell_protocol {
        call_protocol(slf, &names::S_CONNECTION_LOST, &[none_if_null(exc)]).map(drop)
    } else {
        Ok(())
    };
    // `finally:` keep a pending error while we clean up.
    let pending = result.is_err().then(raised::take_pending).flatten();
    let cleanup = release();
    if let Some(exc) = pending {
        if cleanup.is_err() {
            // SAFETY: the cleanup's error gives way to the protocol's.
            unsafe { PyErr_Clear() };
        }
        return Err(raised::restore(exc));
    }
    cleanup
}

/// Stops watching, closes the socket or pipe object and lets go of the
/// protocol and the loop.
pub fn release<S: TransportKind>(slf: Transport<'_, S>) -> PyResult<()> {
    let slf = slf.any();
    unregister(slf, Direction::Read);
    unregister(slf, Direction::Write);
    let s = slf.refs();
    let closed = match s.io.take() {
        None => Ok(()),
        Some(io) => {
            if S::TRACKS_FD {
                if let Some(lp) = loop_of(slf) {
                    lp.forget_transport_fd(slf.io_state().fd.get());
                }
            }
            // SAFETY: io is live; a new reference or null.
            unsafe {
                Owned::from_new(PyObject_CallMethodNoArgs(io.as_ptr(), names::S_CLOSE.get()))
                    .map(drop)
            }
        }
    };
    s.protocol.clear();
    s.loop_.clear();
    closed
}

/// What the socket transports' shared closing needs from each.
pub trait SocketKind: Buffered {
    /// Nothing is queued for sending.
    fn drained(&self) -> bool;
    /// Drops what is queued for sending.
    fn drop_buffer(&self);
    /// asyncio's `_call_connection_lost(exc)`.
    fn call_connection_lost(slf: Transport<'_, Self>, exc: *mut PyObject) -> PyResult<()>;
}

/// asyncio's `_SelectorTransport.close()`: stop reading; lose the
/// connection now when nothing is left to send.
pub fn close_socket<S: SocketKind>(slf: Transport<'_, S>) -> PyResult<()> {
    let c = slf.io_state();
    if c.closing.get() {
        return Ok(());
    }
    c.closing.set(true);
    unregister(slf.any(), Direction::Read);
    let st = slf.state();
    if st.drained() {
        st.conn_lost().set(st.conn_lost().get() + 1);
        unregister(slf.any(), Direction::Write);
        schedule_connection_lost(slf.any(), null_mut())?;
    }
    Ok(())
}

/// asyncio's `_SelectorTransport._force_close(exc)`.
pub fn force_close_socket<S: SocketKind>(
    slf: Transport<'_, S>,
    exc: *mut PyObject,
) -> PyResult<()> {
    let st = slf.state();
    if st.conn_lost().get() > 0 {
        return Ok(());
    }
    if !st.drained() {
        st.drop_buffer();
        unregister(slf.any(), Direction::Write);
    }
    let c = slf.io_state();
    if !c.closing.get() {
        c.closing.set(true);
        unregister(slf.any(), Direction::Read);
    }
    st.conn_lost().set(st.conn_lost().get() + 1);
    schedule_connection_lost(slf.any(), exc)
}

noargs!(pub m_socket_close<S: SocketKind>, |slf: Transport<S>| close_socket(slf)
    .map(|_| Owned::none()));
noargs!(pub m_socket_abort<S: SocketKind>, |slf: Transport<S>| force_close_socket(
    slf,
    null_mut()
)
.map(|_| Owned::none()));
onearg!(pub m_force_close<S: SocketKind>, |slf: Transport<S>, exc| force_close_socket(
    slf,
    null_if_none(exc)
)
.map(|_| Owned::none()));
onearg!(pub m_socket_call_connection_lost<S: SocketKind>, |slf: Transport<S>, exc| {
    S::call_connection_lost(slf, null_if_none(exc)).map(|_| Owned::none())
});
