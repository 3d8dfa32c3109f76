//! `ReadPipeTransport`: the read end of a pipe (or a socket or character
//! device used as one), with the behaviour of asyncio's
//! `unix_events._UnixReadPipeTransport`.
//!
//! Readiness arrives as `ReadyItem::PipeRead`; each event reads at most
//! 256 KiB with `read(2)` (as `os.read`) and hands it to `data_received`.
//! The Python edge (`Loop._make_read_pipe_transport`) validates the pipe,
//! makes it non-blocking and schedules `connection_made`, the first read and
//! the waiter, as asyncio's constructor does.

use pyo3_ffi::*;
use std::cell::Cell;
use std::ffi::{c_void, CStr};
use std::ptr::null_mut;

use super::handle::{bool_object, getset_ro};
use super::names;
use super::owned::Owned;
use super::pipe_common::{self as common, core, Interest, PipeRef, COMMON_METHODS};
use super::raised::PyResult;
use super::read_buffer::{read_bytes, MAX_READ};
use super::ready_item::ReadyItem;
use super::type_object::{ffi_edge, kw_def, noargs, noargs_def};
use crate::core::sys;

/// What only the read side keeps.
struct ReadState {
    /// `pause_reading()` was called.
    paused: Cell<bool>,
}

pub static mut READ_PIPE_TRANSPORT_TYPE: PyTypeObject = unsafe { std::mem::zeroed() };

fn st<'a>(slf: *mut PyObject) -> &'a ReadState {
    // SAFETY: every object of this type was made by tp_new with a ReadState.
    unsafe { common::state::<ReadState>(slf) }
}

fn make_item(p: PipeRef) -> ReadyItem {
    ReadyItem::PipeRead(p)
}

fn is_reading(slf: *mut PyObject) -> bool {
    !st(slf).paused.get() && !core(slf).closing.get()
}

/// The pipe is readable (`_read_ready`).
pub fn on_readable(p: &PipeRef) -> PyResult<()> {
    let slf = p.as_ptr();
    if !core(slf).reading.get() {
        return Ok(());
    }
    common::run_callback(slf, Interest::Read, &names::S_READ_READY, || {
        read_ready(slf)
    })
}

fn read_ready(slf: *mut PyObject) -> PyResult<()> {
    let bytes = match read_bytes(core(slf).fd.get(), MAX_READ) {
        Ok(bytes) => bytes?,
        Err(e) if sys::would_block(&e) => return Ok(()),
        Err(e) => {
            let Some(exc) = common::os_error(&e) else {
                return Ok(());
            };
            return fatal_error(slf, &exc, c"Fatal read error on pipe transport");
        }
    };
    // SAFETY: bytes is a live bytes object.
    if unsafe { Py_SIZE(bytes.as_ptr()) } > 0 {
        return common::call_protocol(slf, &names::S_DATA_RECEIVED, &[bytes.as_ptr()]).map(drop);
    }
    common::debug_log(slf, &names::S_INFO_LOG, c"%r was closed by peer")?;
    core(slf).closing.set(true);
    common::unregister(slf, Interest::Read);
    // SAFETY: slf is live; the protocol slot is null or live; results owned.
    let eof_received = unsafe {
        let proto = Owned::from_ptr_or_none((*common::slots(slf)).protocol);
        Owned::from_new(PyObject_GetAttr(
            proto.as_ptr(),
            names::S_EOF_RECEIVED.get(),
        ))?
    };
    common::call_soon(slf, eof_received.as_ptr(), &[])?;
    common::schedule_connection_lost(slf, null_mut())
}

/// asyncio's `_fatal_error`: only EIO is quiet on the read side.
fn fatal_error(slf: *mut PyObject, exc: &Owned, message: &CStr) -> PyResult<()> {
    common::report_fatal(slf, exc, message, false)?;
    close_with(slf, exc.as_ptr())
}

/// asyncio's `_close(exc)`.
fn close_with(slf: *mut PyObject, exc: *mut PyObject) -> PyResult<()> {
    core(slf).closing.set(true);
    common::unregister(slf, Interest::Read);
    common::schedule_connection_lost(slf, exc)
}

noargs!(m_is_reading, |slf| Ok(bool_object(is_reading(slf))));
noargs!(m_pause_reading, |slf| {
    if !is_reading(slf) {
        return Ok(Owned::none());
    }
    st(slf).paused.set(true);
    common::unregister(slf, Interest::Read);
    common::debug_log(slf, &names::S_DEBUG_LOG, c"%r pauses reading")?;
    Ok(Owned::none())
});
noargs!(m_resume_reading, |slf| {
    if core(slf).closing.get() || !st(slf).paused.get() {
        return Ok(Owned::none());
    }
    st(slf).paused.set(false);
    common::register(slf, Interest::Read, make_item)?;
    common::debug_log(slf, &names::S_DEBUG_LOG, c"%r resumes reading")?;
    Ok(Owned::none())
});
noargs!(m_start_reading, |slf| {
    // Scheduled after connection_made(), which may have paused or closed.
    if is_reading(slf) {
        common::register(slf, Interest::Read, make_item)?;
    }
    Ok(Owned::none())
});
noargs!(m_read_ready, |slf| {
    read_ready(slf)?;
    Ok(Owned::none())
});
noargs!(m_close, |slf| {
    if !core(slf).closing.get() {
        close_with(slf, null_mut())?;
    }
    Ok(Owned::none())
});

unsafe extern "C" fn m_fatal_error(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: fastcall arguments straight from CPython.
    unsafe { common::fatal_error_method(slf, argv, nargsf, kwnames, fatal_error) }
}

unsafe extern "C" fn tp_repr(slf: *mut PyObject) -> *mut PyObject {
    ffi_edge(|| common::repr(slf, Interest::Read, None))
}

unsafe extern "C" fn get_paused(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    ffi_edge(|| Ok(bool_object(st(slf).paused.get())))
}

/// `ReadPipeTransport(loop, pipe, fileno, protocol, extra)`: the object only.
unsafe extern "C" fn tp_new(
    tp: *mut PyTypeObject,
    args: *mut PyObject,
    _kw: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| {
        let state = ReadState {
            paused: Cell::new(false),
        };
        common::new_object(tp, args, "ReadPipeTransport", state)
    })
}

unsafe extern "C" fn dealloc(slf: *mut PyObject) {
    // SAFETY: CPython calls this as the type's tp_dealloc.
    unsafe { common::dealloc::<ReadState>(slf) }
}

static mut METHODS: [PyMethodDef; 13] = [
    COMMON_METHODS[0],
    COMMON_METHODS[1],
    COMMON_METHODS[2],
    COMMON_METHODS[3],
    COMMON_METHODS[4],
    noargs_def(
        c"is_reading",
        m_is_reading,
        c"Whether the transport is receiving.",
    ),
    noargs_def(
        c"pause_reading",
        m_pause_reading,
        c"Stop calling data_received() until resumed.",
    ),
    noargs_def(
        c"resume_reading",
        m_resume_reading,
        c"Resume reading after pause_reading().",
    ),
    noargs_def(
        c"close",
        m_close,
        c"Stop reading; connection_lost(None) follows.",
    ),
    noargs_def(
        c"_start_reading",
        m_start_reading,
        c"Register for reading (after connection_made), unless paused or closing.",
    ),
    noargs_def(
        c"_read_ready",
        m_read_ready,
        c"Read what the pipe has (what a readable event runs).",
    ),
    kw_def(
        c"_fatal_error",
        m_fatal_error,
        c"_fatal_error(exc, message='Fatal error on pipe transport'): report, then close.",
    ),
    PyMethodDef::zeroed(),
];

static mut GETSET: [PyGetSetDef; 8] = [
    getset_ro(c"_loop", common::get_loop),
    getset_ro(c"_pipe", common::get_pipe),
    getset_ro(c"_fileno", common::get_fileno),
    getset_ro(c"_protocol", common::get_protocol_attr),
    getset_ro(c"_extra", common::get_extra),
    getset_ro(c"_closing", common::get_closing),
    getset_ro(c"_paused", get_paused),
    super::type_object::GETSET_END,
];

/// Fills and readies the static `ReadPipeTransport` type.
pub fn ready() -> PyResult<*mut PyTypeObject> {
    // SAFETY: called once at import with the GIL held.
    unsafe {
        let tp = &raw mut READ_PIPE_TRANSPORT_TYPE;
        common::init_type::<ReadState>(
            tp,
            c"zloop._zloop.ReadPipeTransport",
            c"A native read pipe transport (pipe, socket or character device).",
        );
        (*tp).tp_new = Some(tp_new);
        (*tp).tp_dealloc = Some(dealloc);
        (*tp).tp_repr = Some(tp_repr);
        (*tp).tp_methods = (&raw mut METHODS).cast();
        (*tp).tp_getset = (&raw mut GETSET).cast();
        super::type_object::ready_type(tp)
    }
}
