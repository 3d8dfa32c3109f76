//! `ReadPipeTransport`: the read end of a pipe (or a socket or character
//! device used as one), with the behaviour of asyncio's
//! `unix_events._UnixReadPipeTransport`.
//!
//! Readiness arrives through `READABLE`; each event reads at most
//! 256 KiB with `read(2)` (as `os.read`) and hands it to `data_received`.
//! The Python edge (`Loop._make_read_pipe_transport`) validates the pipe,
//! makes it non-blocking and schedules `connection_made`, the first read and
//! the waiter, as asyncio's constructor does.

use pyo3_ffi::*;
use std::ptr::null_mut;

use crate::core::interest::Direction;
use crate::core::sys;
use crate::python::event_loop::ready_item::NativeCallback;
use crate::python::ffi::entry::{ffi_edge, noargs, noargs_def};
use crate::python::ffi::names;
use crate::python::ffi::objects::{getset_ro, getset_rw};
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{self, PyResult};
use crate::python::ffi::type_spec::{set_class_attrs, zeroed_type_object, TypeSpec};
use crate::python::transport::read_buffer::{read_bytes, MAX_READ};
use crate::python::transport::{self as common, PipeKind, Transport, TransportKind};

/// What only the read side keeps: nothing beyond the common part (its
/// `paused` flag is `IoState::paused`).
struct ReadState;

impl TransportKind for ReadState {
    const READABLE: &'static NativeCallback = &READABLE;
    const TRACKS_FD: bool = false;

    fn unclosed_warning() -> &'static names::Cached {
        &names::S_UNCLOSED_PIPE_TRANSPORT
    }
}

impl PipeKind for ReadState {
    const NAME: &'static str = "ReadPipeTransport";
    const QUIET_OS_ERRORS: bool = false;

    fn new_state() -> ReadState {
        ReadState
    }

    fn close_with(slf: ReadPipe<'_>, exc: *mut PyObject) -> PyResult<()> {
        close_with(slf, exc)
    }
}

/// A borrowed `ReadPipeTransport`.
type ReadPipe<'py> = Transport<'py, ReadState>;

pub static mut READ_PIPE_TRANSPORT_TYPE: PyTypeObject = zeroed_type_object();

static READABLE: NativeCallback = common::registration::transport_callback(
    // SAFETY: the engine runs this table only with a read pipe.
    |obj| on_readable(unsafe { ReadPipe::from_ptr(obj) }),
    Direction::Read,
    &names::S_READ_READY,
);

/// The pipe is readable (`_read_ready`).
fn on_readable(slf: ReadPipe<'_>) -> PyResult<()> {
    if !slf.io_state().reading.get() {
        return Ok(());
    }
    common::registration::run_callback(slf.any(), Direction::Read, &names::S_READ_READY, || {
        read_ready(slf)
    })
}

fn read_ready(slf: ReadPipe<'_>) -> PyResult<()> {
    let bytes = match read_bytes(slf.owned_fd(), MAX_READ) {
        Ok(bytes) => bytes?,
        Err(e) if sys::would_block(&e) => return Ok(()),
        Err(e) => {
            let Some(exc) = raised::io_exception(&e) else {
                return Ok(());
            };
            return common::methods::pipe_fatal_error::<ReadState>(
                slf,
                &exc,
                c"Fatal read error on pipe transport",
            );
        }
    };
    // SAFETY: bytes is a live bytes object.
    if unsafe { Py_SIZE(bytes.as_ptr()) } > 0 {
        return common::protocol::call_protocol(
            slf.any(),
            &names::S_DATA_RECEIVED,
            &[bytes.as_ptr()],
        )
        .map(drop);
    }
    common::report::debug_log(slf.any(), &names::S_INFO_LOG, c"%r was closed by peer")?;
    slf.io_state().closing.set(true);
    common::registration::unregister(slf.any(), Direction::Read);
    let proto = common::protocol::protocol(slf.any());
    // SAFETY: proto is live; a new reference or null.
    let eof_received = unsafe {
        Owned::from_new(PyObject_GetAttr(
            proto.as_ptr(),
            names::S_EOF_RECEIVED.get(),
        ))?
    };
    common::protocol::call_soon(slf.any(), eof_received.as_ptr(), &[])?;
    common::protocol::schedule_connection_lost(slf.any(), null_mut())
}

/// asyncio's `_close(exc)`.
fn close_with(slf: ReadPipe<'_>, exc: *mut PyObject) -> PyResult<()> {
    slf.io_state().closing.set(true);
    common::registration::unregister(slf.any(), Direction::Read);
    common::protocol::schedule_connection_lost(slf.any(), exc)
}

noargs!(m_read_ready, |slf: ReadPipe| {
    read_ready(slf)?;
    Ok(Owned::none())
});
noargs!(m_close, |slf: ReadPipe| {
    if !slf.io_state().closing.get() {
        close_with(slf, null_mut())?;
    }
    Ok(Owned::none())
});

unsafe extern "C" fn tp_repr(slf: *mut PyObject) -> *mut PyObject {
    // SAFETY: CPython calls a type's slots and methods only with its
    // instances (or a subtype's, same layout).
    let slf = unsafe { ReadPipe::from_ptr(slf) };
    ffi_edge(|| common::report::pipe_repr(slf.any(), Direction::Read, None))
}

const COMMON: [PyMethodDef; 5] = common::methods::pipe_methods::<ReadState>();
const READING: [PyMethodDef; 4] = common::methods::reading_methods::<ReadState>(
    c"Stop calling data_received() until resumed.",
    c"Register for reading (after connection_made), unless paused or closing.",
);

static mut METHODS: [PyMethodDef; 13] = [
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    COMMON[4],
    READING[0],
    READING[1],
    READING[2],
    noargs_def(
        c"close",
        m_close,
        c"Stop reading; connection_lost(None) follows.",
    ),
    READING[3],
    noargs_def(
        c"_read_ready",
        m_read_ready,
        c"Read what the pipe has (what a readable event runs).",
    ),
    common::methods::pipe_fatal_error_def::<ReadState>(),
    PyMethodDef::zeroed(),
];

static mut GETSET: [PyGetSetDef; 8] = [
    getset_ro(c"_loop", common::methods::get_loop),
    getset_rw(c"_pipe", common::methods::get_io, common::methods::set_pipe),
    getset_ro(c"_fileno", common::methods::get_fileno),
    getset_ro(c"_protocol", common::methods::get_protocol_attr),
    getset_ro(c"_extra", common::methods::get_extra),
    getset_ro(c"_closing", common::methods::get_closing),
    getset_ro(c"_paused", common::methods::get_paused),
    crate::python::ffi::objects::GETSET_END,
];

/// The `ReadPipeTransport` type.
pub fn type_spec() -> TypeSpec {
    TypeSpec {
        tp: &raw mut READ_PIPE_TRANSPORT_TYPE,
        name: c"zloop._zloop.ReadPipeTransport",
        doc: c"A native read pipe transport (pipe, socket or character device).",
        new: Some(common::pipe_tp_new::<ReadState>),
        repr: Some(tp_repr),
        methods: (&raw mut METHODS).cast(),
        getset: (&raw mut GETSET).cast(),
        finish: Some(set_max_size),
        ..common::type_slots::shared_type_spec::<ReadState>()
    }
}

/// asyncio's class attribute: the most one read returns.
fn set_max_size(tp: *mut PyTypeObject) -> PyResult<()> {
    // SAFETY: a new int reference or null; tp is our readied type.
    unsafe {
        let max_size = Owned::from_new(PyLong_FromSize_t(MAX_READ))?;
        set_class_attrs(tp, &[(c"max_size", max_size.as_ptr())])
    }
}
