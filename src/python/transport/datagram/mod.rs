//! `DatagramTransport`: the native datagram transport (UDP and Unix
//! datagram sockets), with the behaviour of asyncio's
//! `_SelectorDatagramTransport` on the running interpreter.
//!
//! Readiness arrives through `READABLE`/`WRITABLE` straight
//! from the engine. One datagram is read per readable event with
//! `recvfrom(2)` and its sender converted as `socket.recvfrom` would;
//! `sendto()` sends at once when nothing is queued, else (and on EAGAIN)
//! queues `(bytes, addr)` pairs, flushed when the socket is writable, with
//! asyncio's flow control. Addresses that are not plain numeric ones, and
//! families other than AF_INET/AF_INET6/AF_UNIX, go through the Python
//! socket's own `sendto`/`recvfrom`, so they behave exactly as asyncio's.
//!
//! Exceptions escaping a readiness callback are reported as asyncio's
//! `Handle._run` reports those of `_read_ready`/`_sendto_ready` (the
//! transport keeps going); the cold paths live in `zloop._support`.

mod sending;

use sending::{clear_queue, sendto, sendto_ready};

use pyo3_ffi::*;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ffi::{c_int, c_void, CStr};
use std::ptr::{self};
use std::sync::atomic::{AtomicI64, Ordering};

use crate::core::interest::Direction;
use crate::core::sys;
use crate::python::event_loop::ready_item::NativeCallback;
use crate::python::ffi::args::{keyword_args, positional};
use crate::python::ffi::entry::{ffi_edge, kw_def, noargs, noargs_def, onearg, onearg_def};
use crate::python::ffi::names;
use crate::python::ffi::objects::getset_ro;
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{self, raise, raise_static, PyResult, Raised};
use crate::python::ffi::type_spec::{set_class_attrs, zeroed_type_object, TypeSpec};
use crate::python::transport::flow_control::{Buffered, FlowControl};
use crate::python::transport::protocol::{call_protocol, SocketKind};
use crate::python::transport::read_buffer::{recvfrom_bytes, MAX_READ};
use crate::python::transport::{self as kit, address, ObjectSlot, Transport, TransportKind};

/// What `sendto()` adds to the write-buffer size per queued datagram on top
/// of its length, and what a flushed one takes off. Python 3.13.0 adds 8
/// ("header bytes") but takes off only the length (gh-135444); the fixed
/// releases name the overhead `_header_size` and take it off again. Read
/// from the running asyncio in `ready()`.
static HEADER_ADDED: AtomicI64 = AtomicI64::new(0);
static HEADER_REMOVED: AtomicI64 = AtomicI64::new(0);

/// A datagram waiting for the socket: an immutable copy (`bytes(data)`)
/// and the address given to `sendto()` (None: null).
struct Queued {
    data: Owned,
    addr: Option<Owned>,
}

impl Queued {
    fn len(&self) -> i64 {
        // SAFETY: data is a live bytes object.
        unsafe { Py_SIZE(self.data.as_ptr()) as i64 }
    }
}

struct DatagramState {
    family: c_int,
    /// Addresses are converted here (AF_INET, AF_INET6, AF_UNIX).
    native_addresses: bool,
    /// `extra['peername']` is true: `send()`, no address.
    connected: bool,
    /// `_address` is true: sendto() checks and uses it.
    has_address: bool,
    /// The `remote_addr` the endpoint was connected to, or None.
    address: ObjectSlot,
    queue: RefCell<VecDeque<Queued>>,
    /// asyncio's `_buffer_size` (what `get_write_buffer_size()` says).
    buffer_size: Cell<i64>,
    protocol_connected: Cell<bool>,
    conn_lost: Cell<u32>,
    flow: FlowControl<i64>,
}

impl Buffered for DatagramState {
    type Size = i64;

    fn flow(&self) -> &FlowControl<i64> {
        &self.flow
    }

    fn conn_lost(&self) -> &Cell<u32> {
        &self.conn_lost
    }

    fn buffer_size(&self) -> i64 {
        self.buffer_size.get()
    }

    fn water_marks(high: &Owned, low: &Owned) -> PyResult<(i64, i64)> {
        kit::flow_control::water_marks(high, low)
    }
}

impl SocketKind for DatagramState {
    fn drained(&self) -> bool {
        self.queue.borrow().is_empty()
    }

    /// asyncio's `_force_close` keeps `_buffer_size` as it was.
    fn drop_buffer(&self) {
        clear_queue(self);
    }

    fn call_connection_lost(slf: Datagram<'_>, exc: *mut PyObject) -> PyResult<()> {
        connection_lost(slf, exc)
    }
}

impl TransportKind for DatagramState {
    const READABLE: &'static NativeCallback = &READABLE;
    const TRACKS_FD: bool = true;

    fn unclosed_warning() -> &'static names::Cached {
        &names::S_UNCLOSED_TRANSPORT
    }

    /// The address, the water-mark objects and the queued datagrams'
    /// addresses.
    fn visit(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        let rc = self.address.visit(visit, arg);
        if rc != 0 {
            return rc;
        }
        let rc = self.flow.visit(visit, arg);
        if rc != 0 {
            return rc;
        }
        if let Ok(queue) = self.queue.try_borrow() {
            for item in queue.iter() {
                if let Some(addr) = &item.addr {
                    // SAFETY: the queue owns a reference to addr.
                    let rc = unsafe { visit(addr.as_ptr(), arg) };
                    if rc != 0 {
                        return rc;
                    }
                }
            }
        }
        0
    }

    fn clear(&self) {
        clear_queue(self);
        self.address.clear();
        self.flow.clear();
    }
}

pub static mut DATAGRAM_TRANSPORT_TYPE: PyTypeObject = zeroed_type_object();

/// A borrowed `DatagramTransport`.
type Datagram<'py> = Transport<'py, DatagramState>;

static READABLE: NativeCallback = kit::registration::transport_callback(
    // SAFETY: the engine runs this table only with a datagram transport.
    |obj| on_readable(unsafe { Datagram::from_ptr(obj) }),
    Direction::Read,
    &names::S_READ_READY,
);
static WRITABLE: NativeCallback = kit::registration::transport_callback(
    // SAFETY: the engine runs this table only with a datagram transport.
    |obj| on_writable(unsafe { Datagram::from_ptr(obj) }),
    Direction::Write,
    &names::S_SENDTO_READY,
);

/// The socket is readable.
fn on_readable(slf: Datagram<'_>) -> PyResult<()> {
    if slf.state().conn_lost.get() > 0 || !slf.io_state().reading.get() {
        return Ok(());
    }
    kit::registration::run_callback(slf.any(), Direction::Read, &names::S_READ_READY, || {
        read_ready(slf)
    })
}

/// The socket is writable.
fn on_writable(slf: Datagram<'_>) -> PyResult<()> {
    if !slf.io_state().writing.get() {
        return Ok(());
    }
    kit::registration::run_callback(slf.any(), Direction::Write, &names::S_SENDTO_READY, || {
        sendto_ready(slf)
    })
}

fn start_writing(slf: Datagram<'_>) -> PyResult<()> {
    kit::registration::register(slf.any(), Direction::Write, &WRITABLE)
}

fn stop_writing(slf: Datagram<'_>) {
    kit::registration::unregister(slf.any(), Direction::Write)
}

// --- protocol calls ----------------------------------------------------------

/// asyncio's `_fatal_error(exc, message)` (reporting in Python, then
/// `_force_close(exc)`).
fn fatal_error(slf: Datagram<'_>, exc: Owned, message: &CStr) -> PyResult<()> {
    kit::report::report_socket_fatal(slf.any(), exc, message)
}

/// How a socket operation that raised ended, as asyncio's `except` clauses
/// sort it.
enum Failure {
    /// BlockingIOError / InterruptedError: try again when ready.
    Again,
    /// Another OSError: for `protocol.error_received()`.
    Os(Owned),
    /// Anything else but KeyboardInterrupt/SystemExit: fatal.
    Other(Owned),
}

/// Sorts the pending exception; KeyboardInterrupt and SystemExit stay
/// pending (`Err`).
fn pending_failure() -> PyResult<Failure> {
    if raised::pending_is_exit() {
        return Err(Raised);
    }
    let Some(exc) = raised::take_pending() else {
        return Err(Raised);
    };
    // SAFETY: exc is a live exception instance; the classes are valid.
    unsafe {
        let is = |cls: *mut PyObject| PyErr_GivenExceptionMatches(exc.as_ptr(), cls) != 0;
        if is(PyExc_BlockingIOError) || is(PyExc_InterruptedError) {
            Ok(Failure::Again)
        } else if is(PyExc_OSError) {
            Ok(Failure::Os(exc))
        } else {
            Ok(Failure::Other(exc))
        }
    }
}

/// A failure of a send: `error_received(exc)` for an OSError, a fatal
/// error for anything else.
fn send_failed(slf: Datagram<'_>, failure: Failure) -> PyResult<()> {
    match failure {
        Failure::Again => Ok(()),
        Failure::Os(exc) => {
            call_protocol(slf.any(), &names::S_ERROR_RECEIVED, &[exc.as_ptr()]).map(drop)
        }
        Failure::Other(exc) => fatal_error(slf, exc, c"Fatal write error on datagram transport"),
    }
}

// --- reading -----------------------------------------------------------------

/// asyncio's `_read_ready()`: one datagram to `datagram_received`.
fn read_ready(slf: Datagram<'_>) -> PyResult<()> {
    let st = slf.state();
    if st.conn_lost.get() > 0 {
        return Ok(());
    }
    let received = if st.native_addresses {
        match recvfrom_bytes(slf.owned_fd()) {
            Err(e) if sys::would_block(&e) => return Ok(()),
            Err(e) => Err(Failure::Os(raised::io_exception(&e).ok_or(Raised)?)),
            Ok(Ok((data, addr))) => match address::to_python(&addr) {
                Ok(addr) => Ok((data, addr)),
                Err(Raised) => Err(pending_failure()?),
            },
            Ok(Err(Raised)) => Err(pending_failure()?),
        }
    } else {
        python_recvfrom(slf)?
    };
    match received {
        Ok((data, addr)) => call_protocol(
            slf.any(),
            &names::S_DATAGRAM_RECEIVED,
            &[data.as_ptr(), addr.as_ptr()],
        )
        .map(drop),
        Err(Failure::Again) => Ok(()),
        Err(Failure::Os(exc)) => {
            call_protocol(slf.any(), &names::S_ERROR_RECEIVED, &[exc.as_ptr()]).map(drop)
        }
        Err(Failure::Other(exc)) => {
            fatal_error(slf, exc, c"Fatal read error on datagram transport")
        }
    }
}

/// `data, addr = sock.recvfrom(max_size)` through the socket object (the
/// families this adapter does not convert).
fn python_recvfrom(slf: Datagram<'_>) -> PyResult<Result<(Owned, Owned), Failure>> {
    // SAFETY: slf is live; sock is null or a live socket object; results
    // are owned.
    unsafe {
        let sock = slf.io_object();
        if sock.is_null() {
            return Ok(Err(Failure::Again));
        }
        let size = Owned::from_new(PyLong_FromSize_t(MAX_READ))?;
        let result = match Owned::from_new(PyObject_CallMethodOneArg(
            sock,
            names::S_RECVFROM.get(),
            size.as_ptr(),
        )) {
            Ok(result) => result,
            Err(Raised) => return pending_failure().map(Err),
        };
        if PyTuple_Check(result.as_ptr()) == 0 || PyTuple_GET_SIZE(result.as_ptr()) != 2 {
            raise_static(
                PyExc_ValueError,
                c"recvfrom() did not return (data, address)",
            );
            return pending_failure().map(Err);
        }
        let data = Owned::from_borrowed(PyTuple_GET_ITEM(result.as_ptr(), 0));
        let addr = Owned::from_borrowed(PyTuple_GET_ITEM(result.as_ptr(), 1));
        Ok(Ok((data, addr)))
    }
}

// --- closing -----------------------------------------------------------------

/// asyncio's `_call_connection_lost(exc)`: tell the protocol, then release
/// the socket, the protocol and the loop.
fn connection_lost(slf: Datagram<'_>, exc: *mut PyObject) -> PyResult<()> {
    kit::protocol::lose_connection(slf.any(), exc, slf.state().protocol_connected.get(), || {
        kit::protocol::release::<DatagramState>(slf)
    })
}

// --- Python methods ----------------------------------------------------------

fn set_protocol(slf: Datagram<'_>, protocol: *mut PyObject) {
    kit::replace_protocol(slf.any(), protocol);
    slf.state().protocol_connected.set(true);
}

unsafe extern "C" fn m_sendto(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: CPython calls a type's slots and methods only with its
    // instances (or a subtype's, same layout).
    let slf = unsafe { Datagram::from_ptr(slf) };
    ffi_edge(|| {
        // SAFETY: fastcall arguments straight from CPython.
        let args = unsafe { positional(argv, nargsf) };
        if args.len() > 2 {
            // SAFETY: valid exception class.
            return Err(raise(
                unsafe { PyExc_TypeError },
                &format!(
                    "sendto() takes from 2 to 3 positional arguments but {} were given",
                    args.len() + 1
                ),
            ));
        }
        // SAFETY: as above.
        let slots = unsafe { keyword_args("sendto", [c"data", c"addr"], argv, nargsf, kwnames)? };
        if slots[0].is_null() {
            return Err(crate::python::ffi::args::missing("sendto", &["data"], 0));
        }
        sendto(slf, slots[0], slots[1]).map(|_| Owned::none())
    })
}

onearg!(m_set_protocol, |slf: Datagram, protocol| {
    set_protocol(slf, protocol);
    Ok(Owned::none())
});
noargs!(m_read_ready, |slf: Datagram| read_ready(slf)
    .map(|_| Owned::none()));
noargs!(m_sendto_ready, |slf: Datagram| sendto_ready(slf)
    .map(|_| Owned::none()));

unsafe extern "C" fn tp_repr(slf: *mut PyObject) -> *mut PyObject {
    // SAFETY: CPython calls a type's slots and methods only with its
    // instances (or a subtype's, same layout).
    let slf = unsafe { Datagram::from_ptr(slf) };
    ffi_edge(|| kit::report::socket_repr(slf.any(), slf.state().buffer_size.get()))
}

// --- attributes --------------------------------------------------------------

unsafe extern "C" fn get_address(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: CPython calls a type's slots and methods only with its
    // instances (or a subtype's, same layout).
    let slf = unsafe { Datagram::from_ptr(slf) };
    ffi_edge(|| Ok(slf.state().address.attr()))
}

unsafe extern "C" fn get_buffer_size(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: CPython calls a type's slots and methods only with its
    // instances (or a subtype's, same layout).
    let slf = unsafe { Datagram::from_ptr(slf) };
    // SAFETY: a new int reference or null.
    ffi_edge(|| unsafe { Owned::from_new(PyLong_FromLongLong(slf.state().buffer_size.get())) })
}

// --- type slots --------------------------------------------------------------

/// Whether `obj` is true (Python truthiness).
fn truthy(obj: *mut PyObject) -> PyResult<bool> {
    // SAFETY: obj is live.
    match unsafe { PyObject_IsTrue(obj) } {
        -1 => Err(Raised),
        v => Ok(v == 1),
    }
}

/// `DatagramTransport(loop, sock, protocol, extra, address)`: the object
/// only; the Python edge (`Loop._make_datagram_transport`) schedules
/// `connection_made` and the first read, as asyncio's constructor does.
unsafe extern "C" fn tp_new(
    tp: *mut PyTypeObject,
    args: *mut PyObject,
    _kw: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| {
        let [lp, sock, protocol, extra, address] = kit::new_args(
            args,
            "DatagramTransport() takes 5 arguments (loop, sock, protocol, extra, address)",
        )?;
        // SAFETY: extra is live; a type check only.
        if !kit::is_loop(lp) || unsafe { PyDict_Check(extra) } == 0 {
            // SAFETY: valid exception class.
            return Err(raise_static(
                unsafe { PyExc_TypeError },
                c"DatagramTransport() needs a zloop loop and an extra dict",
            ));
        }
        let fd = crate::python::ffi::args::fileobj_to_fd(sock)?;
        // SAFETY: sock is live; results owned or null.
        let family = unsafe {
            let family = Owned::from_new(PyObject_GetAttr(sock, names::S_FAMILY.get()))?;
            let v = PyLong_AsLong(family.as_ptr());
            if v == -1 && !PyErr_Occurred().is_null() {
                return Err(Raised);
            }
            v as c_int
        };
        // SAFETY: extra is a dict; GetItem borrows.
        let peername = unsafe { PyDict_GetItemWithError(extra, names::S_PEERNAME.get()) };
        // SAFETY: as above.
        if peername.is_null() && !unsafe { PyErr_Occurred() }.is_null() {
            return Err(Raised);
        }
        let connected = !peername.is_null() && truthy(peername)?;
        let has_address = truthy(address)?;
        let state = DatagramState {
            family,
            native_addresses: address::is_native_family(family),
            connected,
            has_address,
            address: ObjectSlot::empty(),
            queue: RefCell::new(VecDeque::new()),
            buffer_size: Cell::new(0),
            protocol_connected: Cell::new(false),
            conn_lost: Cell::new(0),
            flow: FlowControl::new(64 * 1024, 16 * 1024),
        };
        // SAFETY: address is live.
        state.address.set(unsafe { Owned::from_borrowed(address) });
        let obj = kit::alloc(tp, lp, sock, extra, fd, state)?;
        // SAFETY: obj is the new transport, of this kind.
        set_protocol(unsafe { Datagram::from_ptr(obj.as_ptr()) }, protocol);
        Ok(obj)
    })
}

const READING: [PyMethodDef; 4] = kit::methods::reading_methods::<DatagramState>(
    c"Stop calling datagram_received() until resumed.",
    c"Register for reading (after connection_made).",
);

const CLOSING: [PyMethodDef; 5] = kit::methods::socket_closing_methods::<DatagramState>();

const FLOW: [PyMethodDef; 3] =
    kit::flow_control::flow_methods::<DatagramState>(c"Bytes queued for sending.");

const SOCKET: [PyMethodDef; 2] = kit::methods::socket_methods::<DatagramState>();

static mut METHODS: [PyMethodDef; 19] = [
    kw_def(
        c"sendto",
        m_sendto,
        c"sendto(data, addr=None): send one datagram (at once when possible).",
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
        c"_read_ready",
        m_read_ready,
        c"Receive one datagram (what a readable event runs).",
    ),
    noargs_def(
        c"_sendto_ready",
        m_sendto_ready,
        c"Flush queued datagrams (what a writable event runs).",
    ),
    PyMethodDef::zeroed(),
];

static mut GETSET: [PyGetSetDef; 13] = [
    getset_ro(c"_sock", kit::methods::get_io),
    getset_ro(c"_sock_fd", kit::methods::get_fileno),
    getset_ro(c"_loop", kit::methods::get_loop),
    getset_ro(c"_protocol", kit::methods::get_protocol_attr),
    getset_ro(c"_extra", kit::methods::get_extra),
    getset_ro(c"_address", get_address),
    getset_ro(c"_closing", kit::methods::get_closing),
    getset_ro(
        c"_conn_lost",
        kit::flow_control::get_conn_lost::<DatagramState>,
    ),
    getset_ro(c"_paused", kit::methods::get_paused),
    getset_ro(
        c"_protocol_paused",
        kit::flow_control::get_protocol_paused::<DatagramState>,
    ),
    getset_ro(c"_buffer_size", get_buffer_size),
    getset_ro(c"_server", get_server),
    crate::python::ffi::objects::GETSET_END,
];

unsafe extern "C" fn get_server(_slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // Datagram endpoints have no server (asyncio's attribute is None).
    ffi_edge(|| Ok(Owned::none()))
}

/// The write-buffer overhead of the running asyncio (see `HEADER_ADDED`).
fn read_header_accounting() -> PyResult<()> {
    // SAFETY: valid C strings; results owned or null (an AttributeError for
    // a missing `_header_size` is cleared: older releases lack it).
    unsafe {
        let module = Owned::from_new(PyImport_ImportModule(c"asyncio.selector_events".as_ptr()))?;
        let cls = Owned::from_new(PyObject_GetAttrString(
            module.as_ptr(),
            c"_SelectorDatagramTransport".as_ptr(),
        ))?;
        let header = PyObject_GetAttrString(cls.as_ptr(), c"_header_size".as_ptr());
        if header.is_null() {
            PyErr_Clear();
            let added = if cfg!(Py_3_13) { 8 } else { 0 };
            HEADER_ADDED.store(added, Ordering::Relaxed);
            HEADER_REMOVED.store(0, Ordering::Relaxed);
            return Ok(());
        }
        let header = Owned::from_new(header)?;
        let v = PyLong_AsLongLong(header.as_ptr());
        if v == -1 && !PyErr_Occurred().is_null() {
            return Err(Raised);
        }
        HEADER_ADDED.store(v, Ordering::Relaxed);
        HEADER_REMOVED.store(v, Ordering::Relaxed);
    }
    Ok(())
}

/// The `DatagramTransport` type.
pub fn type_spec() -> TypeSpec {
    TypeSpec {
        tp: ptr::addr_of_mut!(DATAGRAM_TRANSPORT_TYPE),
        name: c"zloop._zloop.DatagramTransport",
        doc: c"A native datagram transport (UDP or Unix datagram socket).",
        new: Some(tp_new),
        repr: Some(tp_repr),
        methods: ptr::addr_of_mut!(METHODS).cast(),
        getset: ptr::addr_of_mut!(GETSET).cast(),
        finish: Some(finish_type),
        ..kit::type_slots::shared_type_spec::<DatagramState>()
    }
}

/// asyncio's `max_size` (the recvfrom() size), and the running Python's
/// buffer accounting read once.
fn finish_type(tp: *mut PyTypeObject) -> PyResult<()> {
    read_header_accounting()?;
    // SAFETY: a new int reference or null; tp is our readied type.
    unsafe {
        let max_size = Owned::from_new(PyLong_FromSize_t(MAX_READ))?;
        set_class_attrs(tp, &[(c"max_size", max_size.as_ptr())])
    }
}
