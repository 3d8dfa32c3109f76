//! `WritePipeTransport`: the write end of a pipe (or a socket or character
//! device used as one), with the behaviour of asyncio's
//! `unix_events._UnixWritePipeTransport` and its `_FlowControlMixin`.
//!
//! `write()` writes at once when nothing is queued and queues the rest; a
//! writable event (`WRITABLE`) flushes the queue with one
//! `writev`. On pipes and sockets the write end is also watched for
//! readability (asyncio's "reader trick"): that event
//! (`PEER_CLOSED`) means the reader went away.

use pyo3_ffi::*;
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::ptr::null_mut;

use crate::core::interest::Direction;
use crate::core::sys;
use crate::core::write_queue::WriteQueue;
use crate::python::event_loop::ready_item::NativeCallback;
use crate::python::ffi::args::utf8;
use crate::python::ffi::entry::{ffi_edge, noargs, noargs_def, onearg_def};
use crate::python::ffi::names::{self, call_support};
use crate::python::ffi::objects::{bool_object, getset_ro, getset_rw};
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{self, raise, PyResult, Raised};
use crate::python::ffi::type_spec::{zeroed_type_object, TypeSpec};
use crate::python::transport::flow_control::{Buffered, FlowControl};
use crate::python::transport::write_chunk::{Chunk, Pending};
use crate::python::transport::{self as common, PipeKind, Transport, TransportKind};

/// What only the write side keeps.
struct WriteState {
    queue: RefCell<WriteQueue<Chunk>>,
    conn_lost: Cell<u32>,
    flow: FlowControl<usize>,
}

impl Buffered for WriteState {
    type Size = usize;

    fn flow(&self) -> &FlowControl<usize> {
        &self.flow
    }

    fn conn_lost(&self) -> &Cell<u32> {
        &self.conn_lost
    }

    fn buffer_size(&self) -> usize {
        self.queue.borrow().len()
    }

    fn water_marks(high: &Owned, low: &Owned) -> PyResult<(usize, usize)> {
        common::flow_control::water_marks_usize(high, low)
    }
}

impl TransportKind for WriteState {
    /// The write end turning readable: the reader went away.
    const READABLE: &'static NativeCallback = &PEER_CLOSED;
    const TRACKS_FD: bool = false;

    fn unclosed_warning() -> &'static names::Cached {
        &names::S_UNCLOSED_PIPE_TRANSPORT
    }

    fn visit(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        self.flow.visit(visit, arg)
    }

    fn clear(&self) {
        self.flow.clear();
    }
}

impl PipeKind for WriteState {
    const NAME: &'static str = "WritePipeTransport";
    const QUIET_OS_ERRORS: bool = true;

    fn new_state() -> WriteState {
        WriteState {
            queue: RefCell::new(WriteQueue::new()),
            conn_lost: Cell::new(0),
            flow: FlowControl::new(64 * 1024, 16 * 1024),
        }
    }

    fn close_with(slf: WritePipe<'_>, exc: *mut PyObject) -> PyResult<()> {
        close_with(slf, exc)
    }
}

pub static mut WRITE_PIPE_TRANSPORT_TYPE: PyTypeObject = zeroed_type_object();

/// A borrowed `WritePipeTransport`.
type WritePipe<'py> = Transport<'py, WriteState>;

fn buffered(slf: WritePipe<'_>) -> usize {
    slf.state().queue.borrow().len()
}

/// Drops what is queued (the chunks are released after the borrow ends).
fn clear_queue(slf: WritePipe<'_>) {
    let old = std::mem::take(&mut *slf.state().queue.borrow_mut());
    drop(old);
}

// --- readiness -----------------------------------------------------------------

static WRITABLE: NativeCallback = common::registration::transport_callback(
    // SAFETY: the engine runs this table only with a write pipe.
    |obj| on_writable(unsafe { WritePipe::from_ptr(obj) }),
    Direction::Write,
    &names::S_WRITE_READY,
);
static PEER_CLOSED: NativeCallback = common::registration::transport_callback(
    // SAFETY: the engine runs this table only with a write pipe.
    |obj| on_peer_closed(unsafe { WritePipe::from_ptr(obj) }),
    Direction::Read,
    &names::S_READ_READY,
);

/// The pipe is writable (`_write_ready`).
fn on_writable(slf: WritePipe<'_>) -> PyResult<()> {
    if !slf.io_state().writing.get() {
        return Ok(());
    }
    common::registration::run_callback(slf.any(), Direction::Write, &names::S_WRITE_READY, || {
        write_ready(slf)
    })
}

/// The write end turned readable: the reader went away (`_read_ready`).
fn on_peer_closed(slf: WritePipe<'_>) -> PyResult<()> {
    if !slf.io_state().reading.get() {
        return Ok(());
    }
    common::registration::run_callback(slf.any(), Direction::Read, &names::S_READ_READY, || {
        peer_closed(slf)
    })
}

fn write_ready(slf: WritePipe<'_>) -> PyResult<()> {
    let s = slf.state();
    let fd = slf.owned_fd();
    let result = s.queue.borrow_mut().write_to(fd);
    match result {
        Err(e) if sys::would_block(&e) => Ok(()),
        Err(e) => {
            clear_queue(slf);
            s.conn_lost.set(s.conn_lost.get() + 1);
            common::registration::unregister(slf.any(), Direction::Write);
            match raised::io_exception(&e) {
                Some(exc) => common::methods::pipe_fatal_error::<WriteState>(
                    slf,
                    &exc,
                    c"Fatal write error on pipe transport",
                ),
                None => Ok(()),
            }
        }
        Ok(_) => {
            if !s.queue.borrow().is_empty() {
                return Ok(());
            }
            common::registration::unregister(slf.any(), Direction::Write);
            common::flow_control::maybe_resume_protocol::<WriteState>(slf)?; // may write again
            if slf.io_state().closing.get() {
                common::registration::unregister(slf.any(), Direction::Read);
                return common::methods::pipe_connection_lost::<WriteState>(slf, null_mut());
            }
            Ok(())
        }
    }
}

fn peer_closed(slf: WritePipe<'_>) -> PyResult<()> {
    common::report::debug_log(slf.any(), &names::S_INFO_LOG, c"%r was closed by peer")?;
    if buffered(slf) == 0 {
        return close_with(slf, null_mut());
    }
    // SAFETY: valid exception class; the result is a new reference or null.
    let exc = unsafe { Owned::from_new(PyObject_CallNoArgs(PyExc_BrokenPipeError))? };
    close_with(slf, exc.as_ptr())
}

// --- writing -------------------------------------------------------------------

/// `data` for writing; anything not bytes-like fails asyncio's
/// `assert isinstance(...)`.
fn pending_of(data: *mut PyObject) -> PyResult<Pending> {
    // SAFETY: data is live; type checks only; the repr is owned.
    unsafe {
        if PyBytes_Check(data) == 0 && PyByteArray_Check(data) == 0 && PyMemoryView_Check(data) == 0
        {
            let shown = Owned::from_new(PyObject_Repr(data))?;
            return Err(raise(PyExc_AssertionError, &utf8(shown.as_ptr())?));
        }
    }
    Pending::of(data)
}

fn write(slf: WritePipe<'_>, data: *mut PyObject) -> PyResult<()> {
    let data = match pending_of(data) {
        Ok(data) => data,
        Err(Raised) => match raised::take_buffer_error() {
            // A buffer os.write() refuses (not contiguous): asyncio's
            // write fails there, as a fatal write error.
            Some(exc) => {
                let s = slf.state();
                s.conn_lost.set(s.conn_lost.get() + 1);
                return common::methods::pipe_fatal_error::<WriteState>(
                    slf,
                    &exc,
                    c"Fatal write error on pipe transport",
                );
            }
            None => return Err(Raised),
        },
    };
    let len = data.as_ref().len();
    if len == 0 {
        return Ok(());
    }
    let s = slf.state();
    if s.conn_lost.get() > 0 || slf.io_state().closing.get() {
        if s.conn_lost.get() >= common::LOG_THRESHOLD_FOR_CONNLOST_WRITES {
            call_support(&names::S_PIPE_WRITE_AFTER_LOST, &[])?;
        }
        s.conn_lost.set(s.conn_lost.get() + 1);
        return Ok(());
    }
    let mut sent = 0;
    let idle = s.queue.borrow().is_empty();
    if idle {
        match sys::write(slf.owned_fd(), data.as_ref()) {
            Ok(n) if n == len => return Ok(()),
            Ok(n) => sent = n,
            Err(e) if sys::would_block(&e) => {}
            Err(e) => {
                s.conn_lost.set(s.conn_lost.get() + 1);
                return match raised::io_exception(&e) {
                    Some(exc) => common::methods::pipe_fatal_error::<WriteState>(
                        slf,
                        &exc,
                        c"Fatal write error on pipe transport",
                    ),
                    None => Ok(()),
                };
            }
        }
    }
    // The lent buffer is let go before any Python code can run.
    let (chunk, offset) = data.into_chunk(sent);
    if idle {
        common::registration::register(slf.any(), Direction::Write, &WRITABLE)?;
    }
    s.queue.borrow_mut().push(chunk, offset);
    common::flow_control::maybe_pause_protocol::<WriteState>(slf)
}

// --- closing -------------------------------------------------------------------

/// asyncio's `_close(exc)`: drop the buffer, stop watching, lose the
/// connection on the next iteration.
fn close_with(slf: WritePipe<'_>, exc: *mut PyObject) -> PyResult<()> {
    slf.io_state().closing.set(true);
    if buffered(slf) > 0 {
        common::registration::unregister(slf.any(), Direction::Write);
    }
    clear_queue(slf);
    common::registration::unregister(slf.any(), Direction::Read);
    common::protocol::schedule_connection_lost(slf.any(), exc)
}

/// `write_eof()`: close once the buffer is flushed.
fn write_eof(slf: WritePipe<'_>) -> PyResult<()> {
    if slf.io_state().closing.get() {
        return Ok(());
    }
    slf.io_state().closing.set(true);
    if buffered(slf) == 0 {
        common::registration::unregister(slf.any(), Direction::Read);
        common::protocol::schedule_connection_lost(slf.any(), null_mut())?;
    }
    Ok(())
}

// --- Python methods ------------------------------------------------------------

unsafe extern "C" fn m_write(slf: *mut PyObject, data: *mut PyObject) -> *mut PyObject {
    // SAFETY: CPython calls a type's slots and methods only with its
    // instances (or a subtype's, same layout).
    let slf = unsafe { WritePipe::from_ptr(slf) };
    ffi_edge(|| write(slf, data).map(|_| Owned::none()))
}

unsafe extern "C" fn m_writelines(slf: *mut PyObject, list: *mut PyObject) -> *mut PyObject {
    // SAFETY: CPython calls a type's slots and methods only with its
    // instances (or a subtype's, same layout).
    let slf = unsafe { WritePipe::from_ptr(slf) };
    // WriteTransport.writelines: b''.join(list_of_data), then write().
    // SAFETY: the empty bytes and the joined result are new references.
    ffi_edge(|| unsafe {
        let empty = Owned::from_new(PyBytes_FromStringAndSize(null_mut(), 0))?;
        let joined = Owned::from_new(PyObject_CallMethodOneArg(
            empty.as_ptr(),
            names::S_JOIN.get(),
            list,
        ))?;
        write(slf, joined.as_ptr()).map(|_| Owned::none())
    })
}

noargs!(m_write_eof, |slf: WritePipe| write_eof(slf)
    .map(|_| Owned::none()));
noargs!(m_can_write_eof, |_slf| Ok(bool_object(true)));
noargs!(m_close, |slf: WritePipe| {
    let open = !slf.io_object().is_null();
    if open && !slf.io_state().closing.get() {
        write_eof(slf)?;
    }
    Ok(Owned::none())
});
noargs!(m_abort, |slf: WritePipe| close_with(slf, null_mut())
    .map(|_| Owned::none()));
noargs!(m_start_reading, |slf: WritePipe| {
    // The reader trick; nothing to watch once the pipe is gone.
    if !slf.io_object().is_null() {
        common::registration::register(slf.any(), Direction::Read, WriteState::READABLE)?;
    }
    Ok(Owned::none())
});
// asyncio's write pipe transport is a `transports.Transport`, whose read
// half it leaves unimplemented.
noargs!(m_not_implemented, |_slf| {
    // SAFETY: valid exception class.
    unsafe { PyErr_SetNone(PyExc_NotImplementedError) };
    Err(Raised)
});
noargs!(m_write_ready, |slf: WritePipe| write_ready(slf)
    .map(|_| Owned::none()));
noargs!(m_read_ready, |slf: WritePipe| peer_closed(slf)
    .map(|_| Owned::none()));

unsafe extern "C" fn tp_repr(slf: *mut PyObject) -> *mut PyObject {
    // SAFETY: CPython calls a type's slots and methods only with its
    // instances (or a subtype's, same layout).
    let slf = unsafe { WritePipe::from_ptr(slf) };
    ffi_edge(|| common::report::pipe_repr(slf.any(), Direction::Write, Some(buffered(slf))))
}

unsafe extern "C" fn get_high_water(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: CPython calls a type's slots and methods only with its
    // instances (or a subtype's, same layout).
    let slf = unsafe { WritePipe::from_ptr(slf) };
    ffi_edge(|| Ok(slf.state().flow.limits()?.1))
}

unsafe extern "C" fn get_low_water(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: CPython calls a type's slots and methods only with its
    // instances (or a subtype's, same layout).
    let slf = unsafe { WritePipe::from_ptr(slf) };
    ffi_edge(|| Ok(slf.state().flow.limits()?.0))
}

const COMMON: [PyMethodDef; 5] = common::methods::pipe_methods::<WriteState>();

const FLOW: [PyMethodDef; 3] =
    common::flow_control::flow_methods::<WriteState>(c"Bytes queued for writing.");

static mut METHODS: [PyMethodDef; 22] = [
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    COMMON[4],
    onearg_def(
        c"write",
        m_write,
        c"Write bytes-like data (written at once when possible).",
    ),
    onearg_def(
        c"writelines",
        m_writelines,
        c"Write the concatenation of an iterable of bytes.",
    ),
    noargs_def(
        c"write_eof",
        m_write_eof,
        c"Close once the buffer is flushed.",
    ),
    noargs_def(c"can_write_eof", m_can_write_eof, c"True."),
    noargs_def(
        c"close",
        m_close,
        c"Close once the buffer is flushed (write_eof()).",
    ),
    noargs_def(c"abort", m_abort, c"Close at once, dropping the buffer."),
    FLOW[0],
    FLOW[1],
    FLOW[2],
    noargs_def(
        c"is_reading",
        m_not_implemented,
        c"Not implemented (a write transport).",
    ),
    noargs_def(
        c"pause_reading",
        m_not_implemented,
        c"Not implemented (a write transport).",
    ),
    noargs_def(
        c"resume_reading",
        m_not_implemented,
        c"Not implemented (a write transport).",
    ),
    noargs_def(
        c"_start_reading",
        m_start_reading,
        c"Watch the write end for readability: the reader going away.",
    ),
    noargs_def(
        c"_write_ready",
        m_write_ready,
        c"Flush the buffer (what a writable event runs).",
    ),
    noargs_def(
        c"_read_ready",
        m_read_ready,
        c"The reader went away: close.",
    ),
    common::methods::pipe_fatal_error_def::<WriteState>(),
    PyMethodDef::zeroed(),
];

static mut GETSET: [PyGetSetDef; 11] = [
    getset_ro(c"_loop", common::methods::get_loop),
    getset_rw(c"_pipe", common::methods::get_io, common::methods::set_pipe),
    getset_ro(c"_fileno", common::methods::get_fileno),
    getset_ro(c"_protocol", common::methods::get_protocol_attr),
    getset_ro(c"_extra", common::methods::get_extra),
    getset_ro(c"_closing", common::methods::get_closing),
    getset_ro(
        c"_conn_lost",
        common::flow_control::get_conn_lost::<WriteState>,
    ),
    getset_ro(
        c"_protocol_paused",
        common::flow_control::get_protocol_paused::<WriteState>,
    ),
    getset_ro(c"_high_water", get_high_water),
    getset_ro(c"_low_water", get_low_water),
    crate::python::ffi::objects::GETSET_END,
];

/// The `WritePipeTransport` type.
pub fn type_spec() -> TypeSpec {
    TypeSpec {
        tp: &raw mut WRITE_PIPE_TRANSPORT_TYPE,
        name: c"zloop._zloop.WritePipeTransport",
        doc: c"A native write pipe transport (pipe, socket or character device).",
        new: Some(common::pipe_tp_new::<WriteState>),
        repr: Some(tp_repr),
        methods: (&raw mut METHODS).cast(),
        getset: (&raw mut GETSET).cast(),
        ..common::type_slots::shared_type_spec::<WriteState>()
    }
}
