//! The methods and attributes every transport has: reading control,
//! extra info, protocol access, closing, and the attribute getters.

use pyo3_ffi::*;
use std::ffi::{c_int, c_void, CStr};

use crate::core::interest::Direction;
use crate::python::fd_owner::FdOwner;
use crate::python::ffi::args::{keyword_args, utf8};
use crate::python::ffi::entry::{ffi_edge, getter, kw_def, noargs, noargs_def, onearg, onearg_def};
use crate::python::ffi::names;
use crate::python::ffi::objects::bool_object;
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{PyResult, Raised};
use crate::python::transport::flow_control::PyInt;
use crate::python::transport::protocol::{
    lose_connection, m_force_close, m_socket_abort, m_socket_call_connection_lost, m_socket_close,
    null_if_none, protocol, release, SocketKind,
};
use crate::python::transport::registration::{register, unregister};
use crate::python::transport::report::{debug_log, report_pipe_fatal};
use crate::python::transport::{replace_protocol, PipeKind, Transport, TransportKind};

fn is_reading(slf: Transport<'_>) -> bool {
    let c = slf.io_state();
    !c.paused.get() && !c.closing.get()
}

noargs!(m_is_reading, |slf: Transport| Ok(bool_object(is_reading(
    slf
))));

noargs!(m_pause_reading, |slf: Transport| {
    if !is_reading(slf) {
        return Ok(Owned::none());
    }
    slf.io_state().paused.set(true);
    unregister(slf, Direction::Read);
    debug_log(slf, &names::S_DEBUG_LOG, c"%r pauses reading")?;
    Ok(Owned::none())
});

noargs!(m_resume_reading<S: TransportKind>, |slf: Transport<S>| {
    let slf = slf.any();
    let c = slf.io_state();
    if c.closing.get() || !c.paused.get() {
        return Ok(Owned::none());
    }
    c.paused.set(false);
    register(slf, Direction::Read, S::READABLE)?;
    debug_log(slf, &names::S_DEBUG_LOG, c"%r resumes reading")?;
    Ok(Owned::none())
});

// Scheduled after connection_made(), which may have paused or closed.
noargs!(m_start_reading<S: TransportKind>, |slf: Transport<S>| {
    let slf = slf.any();
    if is_reading(slf) {
        register(slf, Direction::Read, S::READABLE)?;
    }
    Ok(Owned::none())
});

/// `is_reading`, `pause_reading`, `resume_reading` of a reading transport,
/// then `_start_reading` (the docs differ by type).
pub const fn reading_methods<S: TransportKind>(
    pause_doc: &'static CStr,
    start_doc: &'static CStr,
) -> [PyMethodDef; 4] {
    [
        noargs_def(
            c"is_reading",
            m_is_reading,
            c"Whether the transport is receiving.",
        ),
        noargs_def(c"pause_reading", m_pause_reading, pause_doc),
        noargs_def(
            c"resume_reading",
            m_resume_reading::<S>,
            c"Resume reading after pause_reading().",
        ),
        noargs_def(c"_start_reading", m_start_reading::<S>, start_doc),
    ]
}

// --- methods and attributes every transport has ------------------------------

/// A pipe transport's asyncio `_fatal_error(exc, message)`: report, then
/// close.
pub fn pipe_fatal_error<S: PipeKind>(
    slf: Transport<'_, S>,
    exc: &Owned,
    message: &CStr,
) -> PyResult<()> {
    report_pipe_fatal(slf.any(), exc, message, S::QUIET_OS_ERRORS)?;
    S::close_with(slf, exc.as_ptr())
}

/// `_fatal_error(exc, message='Fatal error on pipe transport')`.
unsafe extern "C" fn m_pipe_fatal_error<S: PipeKind>(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: CPython calls a method only with an instance of its type.
    let slf = unsafe { Transport::<S>::from_ptr(slf) };
    ffi_edge(|| {
        // SAFETY: fastcall arguments straight from CPython.
        let [exc, message] =
            unsafe { keyword_args("_fatal_error", [c"exc", c"message"], argv, nargsf, kwnames)? };
        if exc.is_null() {
            return Err(crate::python::ffi::args::missing(
                "_fatal_error",
                &["exc"],
                0,
            ));
        }
        // SAFETY: exc is live.
        let exc = unsafe { Owned::from_borrowed(exc) };
        let text = if message.is_null() {
            c"Fatal error on pipe transport".to_owned()
        } else {
            std::ffi::CString::new(utf8(message)?).unwrap_or_default()
        };
        pipe_fatal_error(slf, &exc, &text).map(|_| Owned::none())
    })
}

/// The pipe transports' `_fatal_error` method.
pub const fn pipe_fatal_error_def<S: PipeKind>() -> PyMethodDef {
    kw_def(
        c"_fatal_error",
        m_pipe_fatal_error::<S>,
        c"_fatal_error(exc, message='Fatal error on pipe transport'): report, then close.",
    )
}

/// `get_extra_info(name, default=None)`.
///
/// # Safety
/// The arguments are the ones CPython passed to a METH_FASTCALL|KEYWORDS method.
unsafe fn get_extra_info(
    slf: Transport<'_>,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: per the contract.
        let [name, default] = unsafe {
            keyword_args(
                "get_extra_info",
                [c"name", c"default"],
                argv,
                nargsf,
                kwnames,
            )?
        };
        if name.is_null() {
            return Err(crate::python::ffi::args::missing(
                "get_extra_info",
                &["name"],
                0,
            ));
        }
        // SAFETY: extra is the dict given at creation; GetItem borrows.
        unsafe {
            let extra = slf.refs().extra.get();
            if !extra.is_null() {
                let found = PyDict_GetItemWithError(extra, name);
                if !found.is_null() {
                    return Ok(Owned::from_borrowed(found));
                }
                if !PyErr_Occurred().is_null() {
                    return Err(Raised);
                }
            }
        }
        Ok(Owned::from_ptr_or_none(default))
    })
}

unsafe extern "C" fn m_get_extra_info(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: CPython calls a method only with an instance of its type;
    // fastcall arguments straight from CPython.
    unsafe { get_extra_info(Transport::from_ptr(slf), argv, nargsf, kwnames) }
}

onearg!(m_set_protocol, |slf: Transport, protocol| {
    replace_protocol(slf, protocol);
    Ok(Owned::none())
});
noargs!(m_get_protocol, |slf: Transport| Ok(protocol(slf)));
noargs!(m_is_closing, |slf: Transport| Ok(bool_object(
    slf.io_state().closing.get()
)));

/// A pipe transport's `_call_connection_lost(exc)`: tell the protocol,
/// then (in any case) close the pipe and let go of the protocol and the loop.
pub fn pipe_connection_lost<S: TransportKind>(
    slf: Transport<'_, S>,
    exc: *mut PyObject,
) -> PyResult<()> {
    lose_connection(slf.any(), exc, true, || release(slf))
}

onearg!(m_pipe_call_connection_lost<S: TransportKind>, |slf: Transport<S>, exc| {
    pipe_connection_lost(slf, null_if_none(exc)).map(|_| Owned::none())
});

pub const GET_EXTRA_INFO_DOC: &CStr = c"get_extra_info(name, default=None).";

/// `get_extra_info` and `get_protocol` of the socket transports.
pub const fn socket_methods<S: TransportKind>() -> [PyMethodDef; 2] {
    [
        kw_def(c"get_extra_info", m_get_extra_info, GET_EXTRA_INFO_DOC),
        noargs_def(c"get_protocol", m_get_protocol, c"The current protocol."),
    ]
}

/// `close`, `abort`, `is_closing`, `_force_close`, `_call_connection_lost`
/// of the socket transports.
pub const fn socket_closing_methods<S: SocketKind>() -> [PyMethodDef; 5] {
    [
        noargs_def(
            c"close",
            m_socket_close::<S>,
            c"Close after the buffer drains; connection_lost(None) follows.",
        ),
        noargs_def(
            c"abort",
            m_socket_abort::<S>,
            c"Close at once, dropping the buffer.",
        ),
        noargs_def(
            c"is_closing",
            m_is_closing,
            c"Whether close() or abort() was called.",
        ),
        onearg_def(
            c"_force_close",
            m_force_close::<S>,
            c"Close at once because of exc.",
        ),
        onearg_def(
            c"_call_connection_lost",
            m_socket_call_connection_lost::<S>,
            c"Tell the protocol and release everything.",
        ),
    ]
}

/// The methods both pipe transports have, by name.
pub const fn pipe_methods<S: TransportKind>() -> [PyMethodDef; 5] {
    [
        kw_def(c"get_extra_info", m_get_extra_info, GET_EXTRA_INFO_DOC),
        onearg_def(c"set_protocol", m_set_protocol, c"Replace the protocol."),
        noargs_def(c"get_protocol", m_get_protocol, c"The current protocol."),
        noargs_def(
            c"is_closing",
            m_is_closing,
            c"Whether the transport is closing or closed.",
        ),
        onearg_def(
            c"_call_connection_lost",
            m_pipe_call_connection_lost::<S>,
            c"Tell the protocol, close the pipe, let go of everything.",
        ),
    ]
}

getter!(pub get_loop, |slf: Transport| Ok(slf.refs().loop_.attr()));
getter!(pub get_io, |slf: Transport| Ok(slf.refs().io.attr()));
getter!(pub get_protocol_attr, |slf: Transport| Ok(slf.refs().protocol.attr()));
getter!(pub get_extra, |slf: Transport| Ok(slf.refs().extra.attr()));

getter!(pub get_fileno, |slf: Transport| i64::from(slf.io_state().fd.get()).to_py());

/// `transport._pipe = obj` on a pipe transport, as asyncio's own tests do
/// after closing the pipe themselves (`_pipe.close(); _pipe = None`). None
/// marks the transport's pipe closed: its next syscall fails with EBADF (it
/// never reads or writes the bare number, which may be reused). Pipe
/// transports do not count their fd with the loop, so nothing else changes.
pub unsafe extern "C" fn set_pipe(
    slf: *mut PyObject,
    value: *mut PyObject,
    _: *mut c_void,
) -> c_int {
    if value.is_null() {
        // SAFETY: a static message; -1 reports the set exception.
        unsafe {
            PyErr_SetString(
                PyExc_AttributeError,
                c"cannot delete attribute '_pipe'".as_ptr(),
            )
        };
        return -1;
    }
    // SAFETY: CPython calls a setter only with an instance of its type.
    let slf = unsafe { Transport::<()>::from_ptr(slf) };
    // SAFETY: Py_None is immortal; value is live.
    if value == unsafe { Py_None() } {
        slf.refs().io.clear();
    } else {
        slf.io_state().fd_owner.set(FdOwner::of(value));
        // SAFETY: value is live; the slot releases its old object last.
        slf.refs().io.set(unsafe { Owned::from_borrowed(value) });
    }
    0
}

getter!(pub get_closing, |slf: Transport| Ok(bool_object(slf.io_state().closing.get())));
getter!(pub get_paused, |slf: Transport| Ok(bool_object(slf.io_state().paused.get())));
