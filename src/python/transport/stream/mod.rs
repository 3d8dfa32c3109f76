//! `Transport`: the native stream transport (TCP and Unix sockets), with the
//! behaviour of asyncio's `_SelectorSocketTransport`.
//!
//! Readiness arrives through `READABLE`/`WRITABLE` straight from the engine;
//! reads go to `data_received` (or `get_buffer`/`buffer_updated`), writes
//! are sent at once when nothing is queued and the rest is flushed with one
//! gathered `sendmsg` per writable event. Cold paths (error reports, debug
//! logs, server bookkeeping) call `zloop._support`. What every transport
//! has (layout, registration, contexts, flow control, closing) is in
//! the `transport` module.

mod writing;

use writing::{flush, runtime_error, write, writelines};

use pyo3_ffi::*;
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void, CStr};
use std::io;
use std::ptr::{self};

use crate::core::interest::Direction;
use crate::core::sys;
use crate::core::write_queue::WriteQueue;
use crate::python::event_loop::ready_item::NativeCallback;
use crate::python::ffi::entry::{ffi_edge, noargs, noargs_def, onearg, onearg_def};
use crate::python::ffi::names::{self, call_support};
use crate::python::ffi::objects::{bool_object, getset_ro};
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{self, raise_io, raise_static, PyResult, Raised};
use crate::python::ffi::type_spec::{set_class_attrs, zeroed_type_object, TypeSpec};
use crate::python::transport::flow_control::{Buffered, FlowControl};
use crate::python::transport::protocol::{call_protocol, SocketKind};
use crate::python::transport::read_buffer::{recv_bytes, MAX_READ};
use crate::python::transport::registration::in_context;
use crate::python::transport::report::debug_log;
use crate::python::transport::write_chunk::Chunk;
use crate::python::transport::{self as kit, ObjectSlot, Transport, TransportKind};

struct TransportState {
    queue: RefCell<WriteQueue<Chunk>>,
    /// The protocol is an `asyncio.BufferedProtocol`.
    buffered: Cell<bool>,
    protocol_connected: Cell<bool>,
    eof: Cell<bool>,
    conn_lost: Cell<u32>,
    flow: FlowControl<usize>,
    server: ObjectSlot,
    empty_waiter: ObjectSlot,
}

impl Buffered for TransportState {
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
        kit::flow_control::water_marks_usize(high, low)
    }
}

impl SocketKind for TransportState {
    fn drained(&self) -> bool {
        self.queue.borrow().is_empty()
    }

    fn drop_buffer(&self) {
        self.queue.borrow_mut().clear();
    }

    fn call_connection_lost(slf: Stream<'_>, exc: *mut PyObject) -> PyResult<()> {
        connection_lost(slf, exc)
    }
}

impl TransportKind for TransportState {
    const READABLE: &'static NativeCallback = &READABLE;
    const TRACKS_FD: bool = true;

    fn unclosed_warning() -> &'static names::Cached {
        &names::S_UNCLOSED_TRANSPORT
    }

    fn visit(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        match self.server.visit(visit, arg) {
            0 => match self.empty_waiter.visit(visit, arg) {
                0 => self.flow.visit(visit, arg),
                rc => rc,
            },
            rc => rc,
        }
    }

    fn clear(&self) {
        self.server.clear();
        self.empty_waiter.clear();
        self.flow.clear();
    }
}

pub static mut TRANSPORT_TYPE: PyTypeObject = zeroed_type_object();

/// A borrowed stream `Transport`.
type Stream<'py> = Transport<'py, TransportState>;

static READABLE: NativeCallback = kit::registration::transport_callback(
    // SAFETY: the engine runs this table only with a stream transport.
    |obj| on_readable(unsafe { Stream::from_ptr(obj) }),
    Direction::Read,
    &names::S_READ_READY,
);
static WRITABLE: NativeCallback = kit::registration::transport_callback(
    // SAFETY: the engine runs this table only with a stream transport.
    |obj| on_writable(unsafe { Stream::from_ptr(obj) }),
    Direction::Write,
    &names::S_WRITE_READY,
);

/// The socket is readable.
fn on_readable(slf: Stream<'_>) -> PyResult<()> {
    let st = slf.state();
    if st.conn_lost.get() > 0 || !slf.io_state().reading.get() {
        return Ok(());
    }
    in_context(slf.any(), Direction::Read, || {
        if st.buffered.get() {
            read_into_protocol_buffer(slf)
        } else {
            read_bytes(slf)
        }
    })
}

/// The socket is writable.
fn on_writable(slf: Stream<'_>) -> PyResult<()> {
    if slf.state().conn_lost.get() > 0 || !slf.io_state().writing.get() {
        return Ok(());
    }
    in_context(slf.any(), Direction::Write, || flush(slf))
}

fn start_writing(slf: Stream<'_>) -> PyResult<()> {
    kit::registration::register(slf.any(), Direction::Write, &WRITABLE)
}

fn stop_reading(slf: Stream<'_>) {
    kit::registration::unregister(slf.any(), Direction::Read)
}

fn stop_writing(slf: Stream<'_>) {
    kit::registration::unregister(slf.any(), Direction::Write)
}

// --- protocol calls ----------------------------------------------------------

/// An exception from a protocol call: KeyboardInterrupt and SystemExit
/// propagate, anything else is a fatal error of the transport.
fn protocol_failed(slf: Stream<'_>, message: &CStr) -> PyResult<()> {
    if raised::pending_is_exit() {
        return Err(Raised);
    }
    match raised::take_pending() {
        Some(exc) => fatal_error(slf, exc, message),
        None => Ok(()),
    }
}

/// asyncio's `_fatal_error(exc, message)` (reporting in Python, then
/// `_force_close(exc)`).
fn fatal_error(slf: Stream<'_>, exc: Owned, message: &CStr) -> PyResult<()> {
    kit::report::report_socket_fatal(slf.any(), exc, message)
}

fn fatal_os_error(slf: Stream<'_>, err: &io::Error, message: &CStr) -> PyResult<()> {
    match raised::io_exception(err) {
        Some(exc) => fatal_error(slf, exc, message),
        None => Ok(()),
    }
}

// --- reading -----------------------------------------------------------------

fn read_bytes(slf: Stream<'_>) -> PyResult<()> {
    let bytes = match recv_bytes(slf.owned_fd(), MAX_READ) {
        Ok(bytes) => bytes?,
        Err(e) if sys::would_block(&e) => return Ok(()),
        Err(e) => return fatal_os_error(slf, &e, c"Fatal read error on socket transport"),
    };
    // SAFETY: bytes is a live bytes object.
    if unsafe { Py_SIZE(bytes.as_ptr()) } == 0 {
        return on_eof(slf);
    }
    match call_protocol(slf.any(), &names::S_DATA_RECEIVED, &[bytes.as_ptr()]) {
        Ok(_) => Ok(()),
        Err(Raised) => protocol_failed(slf, c"Fatal error: protocol.data_received() call failed."),
    }
}

fn read_into_protocol_buffer(slf: Stream<'_>) -> PyResult<()> {
    // SAFETY: a new int reference or null.
    let minus_one = unsafe { Owned::from_new(PyLong_FromLong(-1))? };
    let buf = match call_protocol(slf.any(), &names::S_GET_BUFFER, &[minus_one.as_ptr()]) {
        Ok(buf) => buf,
        Err(Raised) => {
            return protocol_failed(slf, c"Fatal error: protocol.get_buffer() call failed.")
        }
    };
    // asyncio checks `len(buf)` (its TypeError, or an empty buffer, are
    // get_buffer()'s failures) before handing buf to `sock.recv_into`.
    // SAFETY: buf is live; PyObject_Size sets an error on failure.
    match unsafe { PyObject_Size(buf.as_ptr()) } {
        n if n < 0 => {
            return protocol_failed(slf, c"Fatal error: protocol.get_buffer() call failed.")
        }
        0 => {
            // SAFETY: valid exception class.
            raise_static(
                unsafe { PyExc_RuntimeError },
                c"get_buffer() returned an empty buffer",
            );
            return protocol_failed(slf, c"Fatal error: protocol.get_buffer() call failed.");
        }
        _ => {}
    }
    // SAFETY: a zeroed Py_buffer is the documented initial state; the view is
    // released on every path below.
    let mut view: Py_buffer = unsafe { std::mem::zeroed() };
    // SAFETY: buf is live; PyObject_GetBuffer fills view or sets an error.
    if unsafe { PyObject_GetBuffer(buf.as_ptr(), &mut view, PyBUF_WRITABLE) } < 0 {
        // Not a writable contiguous buffer: `sock.recv_into(buf)` itself
        // says so, in the running Python's own words.
        // SAFETY: clearing the error just set.
        unsafe { PyErr_Clear() };
        return recv_into_through_socket(slf, &buf);
    }
    let fd = slf.owned_fd();
    // SAFETY: the view is a writable region of view.len bytes until released.
    let received = unsafe {
        let r = if view.len == 0 {
            // recv_into() of an empty buffer returns 0 without a syscall.
            Ok(0)
        } else {
            let region = std::slice::from_raw_parts_mut(view.buf.cast::<u8>(), view.len as usize);
            sys::recv(fd, region)
        };
        PyBuffer_Release(&mut view);
        r
    };
    drop(buf);
    match received {
        Ok(n) => buffer_filled(slf, n),
        Err(e) if sys::would_block(&e) => Ok(()),
        Err(e) => fatal_os_error(slf, &e, c"Fatal read error on socket transport"),
    }
}

/// `buffer_updated(n)`, or EOF for 0.
fn buffer_filled(slf: Stream<'_>, n: usize) -> PyResult<()> {
    if n == 0 {
        return on_eof(slf);
    }
    // SAFETY: a new int reference or null.
    let count = unsafe { Owned::from_new(PyLong_FromSize_t(n))? };
    match call_protocol(slf.any(), &names::S_BUFFER_UPDATED, &[count.as_ptr()]) {
        Ok(_) => Ok(()),
        Err(Raised) => protocol_failed(slf, c"Fatal error: protocol.buffer_updated() call failed."),
    }
}

/// asyncio's own read step, `self._sock.recv_into(buf)`, for a buffer the
/// native path cannot take.
fn recv_into_through_socket(slf: Stream<'_>, buf: &Owned) -> PyResult<()> {
    let sock = Owned::from_ptr_or_none(slf.io_object());
    let read = names::call_method(sock.as_ptr(), &names::S_RECV_INTO, &[buf.as_ptr()]).and_then(
        // SAFETY: n is a live object; PyLong_AsSsize_t sets an error on failure.
        |n| match unsafe { PyLong_AsSsize_t(n.as_ptr()) } {
            // SAFETY: a plain query of the thread's error state.
            -1 if unsafe { !PyErr_Occurred().is_null() } => Err(Raised),
            n => Ok(n.max(0) as usize),
        },
    );
    match read {
        Ok(n) => buffer_filled(slf, n),
        Err(Raised) => {
            // SAFETY: an exception is pending; the classes are valid.
            let retry = unsafe {
                PyErr_ExceptionMatches(PyExc_BlockingIOError) != 0
                    || PyErr_ExceptionMatches(PyExc_InterruptedError) != 0
            };
            if retry {
                // SAFETY: clearing the pending error.
                unsafe { PyErr_Clear() };
                return Ok(());
            }
            protocol_failed(slf, c"Fatal read error on socket transport")
        }
    }
}

fn on_eof(slf: Stream<'_>) -> PyResult<()> {
    debug_log(slf.any(), &names::S_DEBUG_LOG, c"%r received EOF")?;
    let keep_open = match call_protocol(slf.any(), &names::S_EOF_RECEIVED, &[]) {
        Ok(result) => result,
        Err(Raised) => {
            return protocol_failed(slf, c"Fatal error: protocol.eof_received() call failed.")
        }
    };
    // SAFETY: keep_open is live.
    match unsafe { PyObject_IsTrue(keep_open.as_ptr()) } {
        -1 => Err(Raised),
        0 => kit::protocol::close_socket::<TransportState>(slf),
        _ => {
            // Half-closed: stop reading, keep writing (is_reading() stays true,
            // as asyncio's does).
            stop_reading(slf);
            Ok(())
        }
    }
}

// --- closing -----------------------------------------------------------------

/// asyncio's `_call_connection_lost(exc)`: tell the protocol, then release
/// the socket, the protocol, the loop and the server.
fn connection_lost(slf: Stream<'_>, exc: *mut PyObject) -> PyResult<()> {
    let st = slf.state();
    kit::protocol::lose_connection(slf.any(), exc, st.protocol_connected.get(), || {
        let closed = kit::protocol::release::<TransportState>(slf);
        let detached = match st.server.take() {
            Some(server) => {
                call_support(&names::S_SERVER_DETACH, &[server.as_ptr(), slf.as_ptr()]).map(drop)
            }
            None => Ok(()),
        };
        closed.and(detached)
    })?;
    settle_empty_waiter_lost(slf)
}

/// `_call_connection_lost` of a socket transport also fails a pending
/// sendfile: ConnectionError("Connection is closed by peer").
fn settle_empty_waiter_lost(slf: Stream<'_>) -> PyResult<()> {
    let waiter = slf.state().empty_waiter.get();
    if waiter.is_null() {
        return Ok(());
    }
    // SAFETY: waiter is live; results owned.
    unsafe {
        let waiter = Owned::from_borrowed(waiter);
        let message = Owned::from_new(PyUnicode_FromString(
            c"Connection is closed by peer".as_ptr(),
        ))?;
        let exc = Owned::from_new(PyObject_CallOneArg(PyExc_ConnectionError, message.as_ptr()))?;
        Owned::from_new(PyObject_CallMethodOneArg(
            waiter.as_ptr(),
            names::S_SET_EXCEPTION.get(),
            exc.as_ptr(),
        ))?;
    }
    Ok(())
}

// --- Python methods ----------------------------------------------------------

fn set_protocol(slf: Stream<'_>, protocol: *mut PyObject) -> PyResult<()> {
    // SAFETY: protocol is live; the class is cached for the process.
    let buffered = match unsafe { PyObject_IsInstance(protocol, names::BUFFERED_PROTOCOL.get()) } {
        -1 => return Err(Raised),
        v => v == 1,
    };
    let st = slf.state();
    st.buffered.set(buffered);
    kit::replace_protocol(slf.any(), protocol);
    st.protocol_connected.set(true);
    Ok(())
}

onearg!(m_write, |slf: Stream, data| write(slf, data)
    .map(|_| Owned::none()));
onearg!(m_writelines, |slf: Stream, list| writelines(slf, list)
    .map(|_| Owned::none()));
noargs!(m_write_eof, |slf: Stream| {
    let st = slf.state();
    if slf.io_state().closing.get() || st.eof.get() {
        return Ok(Owned::none());
    }
    st.eof.set(true);
    if st.queue.borrow().is_empty() {
        sys::shutdown_write(slf.owned_fd()).map_err(|e| raise_io(&e))?;
    }
    Ok(Owned::none())
});
noargs!(m_can_write_eof, |_slf| Ok(bool_object(true)));
noargs!(m_read_ready, |slf: Stream| on_readable(slf)
    .map(|_| Owned::none()));
noargs!(m_write_ready, |slf: Stream| on_writable(slf)
    .map(|_| Owned::none()));
onearg!(m_use_connection_context, |slf: Stream, context| {
    kit::protocol::set_connection_context(slf.any(), context).map(|_| Owned::none())
});
onearg!(m_set_protocol, |slf: Stream, protocol| set_protocol(
    slf, protocol
)
.map(|_| Owned::none()));
noargs!(m_make_empty_waiter, |slf: Stream| {
    let st = slf.state();
    // SAFETY: slf is live; the waiter is a new Future of our loop.
    unsafe {
        if !st.empty_waiter.get().is_null() {
            return Err(runtime_error(c"Empty waiter is already set"));
        }
        let Some(lp) = kit::registration::loop_owned(slf.any()) else {
            return Err(runtime_error(c"Transport is closed"));
        };
        let waiter = Owned::from_new(PyObject_CallMethodNoArgs(
            lp.as_ptr(),
            names::S_CREATE_FUTURE.get(),
        ))?;
        st.empty_waiter.set(waiter.clone());
        if st.queue.borrow().is_empty() {
            Owned::from_new(PyObject_CallMethodOneArg(
                waiter.as_ptr(),
                names::S_SET_RESULT.get(),
                Py_None(),
            ))?;
        }
        Ok(waiter)
    }
});
noargs!(m_reset_empty_waiter, |slf: Stream| {
    slf.state().empty_waiter.clear();
    Ok(Owned::none())
});

unsafe extern "C" fn tp_repr(slf: *mut PyObject) -> *mut PyObject {
    // SAFETY: CPython calls a type's slots and methods only with its
    // instances (or a subtype's, same layout).
    let slf = unsafe { Stream::from_ptr(slf) };
    ffi_edge(|| {
        let size = slf.state().queue.borrow().len();
        kit::report::socket_repr(slf.any(), size)
    })
}

// --- attributes --------------------------------------------------------------

unsafe extern "C" fn get_server(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: CPython calls a type's slots and methods only with its
    // instances (or a subtype's, same layout).
    let slf = unsafe { Stream::from_ptr(slf) };
    ffi_edge(|| Ok(slf.state().server.attr()))
}

unsafe extern "C" fn get_empty_waiter(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: CPython calls a type's slots and methods only with its
    // instances (or a subtype's, same layout).
    let slf = unsafe { Stream::from_ptr(slf) };
    ffi_edge(|| Ok(slf.state().empty_waiter.attr()))
}

unsafe extern "C" fn get_eof(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: CPython calls a type's slots and methods only with its
    // instances (or a subtype's, same layout).
    let slf = unsafe { Stream::from_ptr(slf) };
    ffi_edge(|| Ok(bool_object(slf.state().eof.get())))
}

// --- type slots --------------------------------------------------------------

/// `Transport(loop, sock, protocol, extra, server)`: the object only; the
/// Python edge (`Loop._make_socket_transport`) schedules `connection_made`
/// and the first read, as asyncio's constructor does.
unsafe extern "C" fn tp_new(
    tp: *mut PyTypeObject,
    args: *mut PyObject,
    _kw: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| {
        let [lp, sock, protocol, extra, server] = kit::new_args(
            args,
            "Transport() takes 5 arguments (loop, sock, protocol, extra, server)",
        )?;
        if !kit::is_loop(lp) {
            // SAFETY: valid exception class.
            return Err(raise_static(
                unsafe { PyExc_TypeError },
                c"Transport() needs a zloop loop",
            ));
        }
        let fd = crate::python::ffi::args::fileobj_to_fd(sock)?;
        let state = TransportState {
            queue: RefCell::new(WriteQueue::new()),
            buffered: Cell::new(false),
            protocol_connected: Cell::new(false),
            eof: Cell::new(false),
            conn_lost: Cell::new(0),
            flow: FlowControl::new(64 * 1024, 16 * 1024),
            server: ObjectSlot::empty(),
            empty_waiter: ObjectSlot::empty(),
        };
        // SAFETY: Py_None is immortal.
        if server != unsafe { Py_None() } {
            // SAFETY: server is a live argument of the call.
            state.server.set(unsafe { Owned::from_borrowed(server) });
        }
        let obj = kit::alloc(tp, lp, sock, extra, fd, state)?;
        // SAFETY: obj is the new transport, of this kind.
        set_protocol(unsafe { Stream::from_ptr(obj.as_ptr()) }, protocol)?;
        Ok(obj)
    })
}

const READING: [PyMethodDef; 4] = kit::methods::reading_methods::<TransportState>(
    c"Stop calling data_received() until resumed.",
    c"Register for reading (after connection_made).",
);

const CLOSING: [PyMethodDef; 5] = kit::methods::socket_closing_methods::<TransportState>();

const FLOW: [PyMethodDef; 3] =
    kit::flow_control::flow_methods::<TransportState>(c"Bytes queued for sending.");

const SOCKET: [PyMethodDef; 2] = kit::methods::socket_methods::<TransportState>();

static mut METHODS: [PyMethodDef; 25] = [
    onearg_def(
        c"write",
        m_write,
        c"Write bytes-like data (sent at once when possible).",
    ),
    onearg_def(
        c"writelines",
        m_writelines,
        c"Write an iterable of bytes-like objects.",
    ),
    noargs_def(
        c"write_eof",
        m_write_eof,
        c"Close the write end after the buffer drains.",
    ),
    noargs_def(
        c"can_write_eof",
        m_can_write_eof,
        c"True: sockets support write_eof().",
    ),
    FLOW[0],
    FLOW[1],
    FLOW[2],
    READING[0],
    READING[1],
    READING[2],
    CLOSING[0],
    CLOSING[1],
    CLOSING[2],
    SOCKET[0],
    onearg_def(c"set_protocol", m_set_protocol, c"Replace the protocol."),
    SOCKET[1],
    READING[3],
    CLOSING[3],
    CLOSING[4],
    noargs_def(
        c"_make_empty_waiter",
        m_make_empty_waiter,
        c"A future done when the buffer is empty (sendfile).",
    ),
    noargs_def(
        c"_reset_empty_waiter",
        m_reset_empty_waiter,
        c"Forget the empty waiter.",
    ),
    noargs_def(
        c"_read_ready",
        m_read_ready,
        c"The socket is readable (what the engine calls natively).",
    ),
    noargs_def(
        c"_write_ready",
        m_write_ready,
        c"The socket is writable (what the engine calls natively).",
    ),
    onearg_def(
        c"_use_connection_context",
        m_use_connection_context,
        c"3.15+: run every callback of the connection in this context.",
    ),
    PyMethodDef::zeroed(),
];

static mut GETSET: [PyGetSetDef; 13] = [
    getset_ro(c"_sock", kit::methods::get_io),
    getset_ro(c"_sock_fd", kit::methods::get_fileno),
    getset_ro(c"_loop", kit::methods::get_loop),
    getset_ro(c"_protocol", kit::methods::get_protocol_attr),
    getset_ro(c"_server", get_server),
    getset_ro(c"_extra", kit::methods::get_extra),
    getset_ro(c"_empty_waiter", get_empty_waiter),
    getset_ro(c"_closing", kit::methods::get_closing),
    getset_ro(c"_eof", get_eof),
    getset_ro(
        c"_conn_lost",
        kit::flow_control::get_conn_lost::<TransportState>,
    ),
    getset_ro(c"_paused", kit::methods::get_paused),
    getset_ro(
        c"_protocol_paused",
        kit::flow_control::get_protocol_paused::<TransportState>,
    ),
    crate::python::ffi::objects::GETSET_END,
];

/// The `Transport` type.
pub fn type_spec() -> TypeSpec {
    TypeSpec {
        tp: ptr::addr_of_mut!(TRANSPORT_TYPE),
        name: c"zloop._zloop.Transport",
        doc: c"A native stream transport (TCP or Unix socket).",
        new: Some(tp_new),
        repr: Some(tp_repr),
        methods: ptr::addr_of_mut!(METHODS).cast(),
        getset: ptr::addr_of_mut!(GETSET).cast(),
        finish: Some(set_compatibility_flags),
        ..kit::type_slots::shared_type_spec::<TransportState>()
    }
}

/// Class attributes asyncio's start_tls() and sendfile() look for.
fn set_compatibility_flags(tp: *mut PyTypeObject) -> PyResult<()> {
    // SAFETY: tp is our readied type; both values are live (True is immortal).
    unsafe {
        set_class_attrs(
            tp,
            &[
                (c"_start_tls_compatible", Py_True()),
                (c"_sendfile_compatible", names::SENDFILE_TRY_NATIVE.get()),
            ],
        )
    }
}
