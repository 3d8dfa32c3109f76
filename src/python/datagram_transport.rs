//! `DatagramTransport`: the native datagram transport (UDP and Unix
//! datagram sockets), with the behaviour of asyncio's
//! `_SelectorDatagramTransport` on the running interpreter.
//!
//! Readiness arrives as `ReadyItem::DatagramRead`/`DatagramWrite` straight
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

use pyo3_ffi::*;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ffi::{c_int, c_void, CStr};
use std::io;
use std::os::fd::RawFd;
use std::ptr::{self, null_mut};
use std::sync::atomic::{AtomicI64, Ordering};

use super::address;
use super::args::{keyword_args, positional, utf8, Surplus};
use super::event_loop::LoopObject;
use super::handle::{bool_object, getset_ro};
use super::names::{self, call_support};
use super::owned::{clear_slot, Owned};
use super::raised::{self, raise, raise_io, raise_static, PyResult, Raised};
use super::read_buffer::{recvfrom_bytes, MAX_READ};
use super::ready_item::ReadyItem;
use super::type_object::{ffi_edge, kw_def, new_type, noargs, noargs_def, onearg, onearg_def};
use crate::core::sys;

/// asyncio's `LOG_THRESHOLD_FOR_CONNLOST_WRITES`.
const LOG_THRESHOLD_FOR_CONNLOST_WRITES: u32 = 5;

/// What `sendto()` adds to the write-buffer size per queued datagram on top
/// of its length, and what a flushed one takes off. Python 3.13.0 adds 8
/// ("header bytes") but takes off only the length (gh-135444); the fixed
/// releases name the overhead `_header_size` and take it off again. Read
/// from the running asyncio in `ready()`.
static HEADER_ADDED: AtomicI64 = AtomicI64::new(0);
static HEADER_REMOVED: AtomicI64 = AtomicI64::new(0);

#[repr(C)]
pub struct DatagramTransportObject {
    ob_base: PyObject,
    dict: *mut PyObject,
    weakreflist: *mut PyObject,
    /// The loop (null once the connection is lost, as asyncio's `_loop`).
    loop_: *mut PyObject,
    /// The Python socket object (null once closed).
    sock: *mut PyObject,
    protocol: *mut PyObject,
    extra: *mut PyObject,
    /// The `remote_addr` the endpoint was connected to, or None.
    address: *mut PyObject,
    /// Contexts copied when reading / writing was registered, as asyncio's
    /// `_add_reader`/`_add_writer` handles copy them.
    read_context: *mut PyObject,
    write_context: *mut PyObject,
    state: *mut DatagramState,
}

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
    fd: RawFd,
    family: c_int,
    /// Addresses are converted here (AF_INET, AF_INET6, AF_UNIX).
    native_addresses: bool,
    /// `extra['peername']` is true: `send()`, no address.
    connected: bool,
    /// `_address` is true: sendto() checks and uses it.
    has_address: bool,
    queue: RefCell<VecDeque<Queued>>,
    /// asyncio's `_buffer_size` (what `get_write_buffer_size()` says).
    buffer_size: Cell<i64>,
    protocol_connected: Cell<bool>,
    closing: Cell<bool>,
    /// `pause_reading()` was called.
    paused: Cell<bool>,
    /// `pause_writing()` was called on the protocol.
    protocol_paused: Cell<bool>,
    conn_lost: Cell<u32>,
    high_water: Cell<i64>,
    low_water: Cell<i64>,
    /// Registered with the engine for reading / writing.
    reading: Cell<bool>,
    writing: Cell<bool>,
}

pub static mut DATAGRAM_TRANSPORT_TYPE: PyTypeObject = unsafe { std::mem::zeroed() };

/// An owned reference to a `DatagramTransportObject`.
#[derive(Clone)]
pub struct DatagramTransportRef(Owned);

fn obj_of(slf: *mut PyObject) -> *mut DatagramTransportObject {
    slf.cast()
}

fn state<'a>(slf: *mut PyObject) -> &'a DatagramState {
    // SAFETY: tp_new sets `state` before the object is handed out; only
    // dealloc frees it; fields are Cells, so shared access is enough.
    unsafe { &*(*obj_of(slf)).state }
}

impl DatagramTransportRef {
    pub fn as_ptr(&self) -> *mut PyObject {
        self.0.as_ptr()
    }

    fn st(&self) -> &DatagramState {
        state(self.as_ptr())
    }

    /// Whether a queued read item should still run.
    pub fn wants_read(&self) -> bool {
        self.st().reading.get()
    }

    pub fn wants_write(&self) -> bool {
        self.st().writing.get()
    }

    /// The engine dropped our reader (someone replaced it).
    pub fn forget_reader(&self) {
        self.st().reading.set(false);
    }

    pub fn forget_writer(&self) {
        self.st().writing.set(false);
    }

    pub fn on_readable(&self) -> PyResult<()> {
        let slf = self.as_ptr();
        let st = self.st();
        if st.conn_lost.get() > 0 || !st.reading.get() {
            return Ok(());
        }
        let lp = loop_object(slf);
        let result = in_context(slf, Direction::Read, || read_ready(slf));
        report_escaped(lp, slf, &names::S_READ_READY, result)
    }

    pub fn on_writable(&self) -> PyResult<()> {
        let slf = self.as_ptr();
        if !self.st().writing.get() {
            return Ok(());
        }
        let lp = loop_object(slf);
        let result = in_context(slf, Direction::Write, || sendto_ready(slf));
        report_escaped(lp, slf, &names::S_SENDTO_READY, result)
    }
}

/// An exception out of a readiness callback: KeyboardInterrupt and
/// SystemExit propagate; anything else goes to the loop's exception handler
/// as asyncio's `Handle._run` words it ("Exception in callback
/// DatagramTransport._read_ready()"), and the loop goes on.
fn report_escaped(
    lp: Option<Owned>,
    slf: *mut PyObject,
    method: &names::Cached,
    result: PyResult<()>,
) -> PyResult<()> {
    if result.is_ok() || raised::pending_is_exit() {
        return result;
    }
    let Some(exc) = raised::take_pending() else {
        return Ok(());
    };
    let Some(lp) = lp else {
        return Err(raised::restore(exc));
    };
    // SAFETY: slf is live; the bound method is a new reference or null.
    let callback = unsafe { Owned::from_new(PyObject_GetAttr(slf, method.get()))? };
    call_support(
        &names::S_TRANSPORT_CALLBACK_ERROR,
        &[lp.as_ptr(), callback.as_ptr(), exc.as_ptr()],
    )
    .map(drop)
}

#[derive(Clone, Copy)]
enum Direction {
    Read,
    Write,
}

/// Runs `f` inside the context captured when `direction` was registered.
fn in_context(
    slf: *mut PyObject,
    direction: Direction,
    f: impl FnOnce() -> PyResult<()>,
) -> PyResult<()> {
    // SAFETY: slf is live; the slot is null or a live Context, re-owned for
    // the call because the callback may register again (replacing it).
    unsafe {
        let obj = obj_of(slf);
        let slot = match direction {
            Direction::Read => (*obj).read_context,
            Direction::Write => (*obj).write_context,
        };
        if slot.is_null() {
            return f();
        }
        let context = Owned::from_borrowed(slot);
        if PyContext_Enter(context.as_ptr()) < 0 {
            return Err(Raised);
        }
        let result = f();
        if PyContext_Exit(context.as_ptr()) < 0 {
            return Err(Raised);
        }
        result
    }
}

/// Replaces a context slot with a copy of the current context.
fn capture_context(slot: *mut *mut PyObject) -> PyResult<()> {
    // SAFETY: slot is a field of a live transport holding null or an owned
    // reference; the new copy is owned.
    unsafe {
        let copy = Owned::from_new(PyContext_CopyCurrent())?;
        clear_slot(slot);
        *slot = copy.into_ptr();
    }
    Ok(())
}

// --- engine registration ---------------------------------------------------

fn loop_of<'a>(slf: *mut PyObject) -> Option<&'a LoopObject> {
    // SAFETY: slf is a live transport; loop_ is null or a live Loop.
    let lp = unsafe { (*obj_of(slf)).loop_ };
    (!lp.is_null()).then(|| LoopObject::from_ptr(lp))
}

/// The loop as an owned reference (it outlives a callback that loses it).
fn loop_object(slf: *mut PyObject) -> Option<Owned> {
    // SAFETY: slf is live; loop_ is null or a live object.
    let lp = unsafe { (*obj_of(slf)).loop_ };
    // SAFETY: lp is a live object when non-null.
    (!lp.is_null()).then(|| unsafe { Owned::from_borrowed(lp) })
}

fn this(slf: *mut PyObject) -> DatagramTransportRef {
    // SAFETY: slf is a live transport.
    DatagramTransportRef(unsafe { Owned::from_borrowed(slf) })
}

/// The "registered" flag and the context slot of one direction.
fn registration<'a>(
    slf: *mut PyObject,
    direction: Direction,
) -> (&'a Cell<bool>, *mut *mut PyObject) {
    let st = state(slf);
    // SAFETY: slf is live; the slots belong to it.
    unsafe {
        let obj = obj_of(slf);
        match direction {
            Direction::Read => (&st.reading, &mut (*obj).read_context),
            Direction::Write => (&st.writing, &mut (*obj).write_context),
        }
    }
}

/// Watches the socket in `direction` (idempotent), running its callbacks in
/// a copy of the current context, as asyncio's `_add_reader`/`_add_writer`.
fn register(slf: *mut PyObject, direction: Direction) -> PyResult<()> {
    let (flag, context) = registration(slf, direction);
    if flag.get() {
        return Ok(());
    }
    let Some(lp) = loop_of(slf) else {
        return Ok(());
    };
    capture_context(context)?;
    let fd = state(slf).fd;
    let result = {
        let mut engine = lp.engine().borrow_mut();
        match direction {
            Direction::Read => engine.set_reader(fd, ReadyItem::DatagramRead(this(slf))),
            Direction::Write => engine.set_writer(fd, ReadyItem::DatagramWrite(this(slf))),
        }
    };
    match result {
        Ok(replaced) => {
            flag.set(true);
            drop(replaced);
            Ok(())
        }
        Err((err, item)) => {
            drop(item);
            Err(raise_io(&err))
        }
    }
}

/// Stops watching the socket in `direction` (idempotent).
fn unregister(slf: *mut PyObject, direction: Direction) {
    let (flag, _) = registration(slf, direction);
    if !flag.replace(false) {
        return;
    }
    if let Some(lp) = loop_of(slf) {
        let fd = state(slf).fd;
        let removed = {
            let mut engine = lp.engine().borrow_mut();
            match direction {
                Direction::Read => engine.remove_reader(fd),
                Direction::Write => engine.remove_writer(fd),
            }
        };
        drop(removed);
    }
}

fn start_reading(slf: *mut PyObject) -> PyResult<()> {
    register(slf, Direction::Read)
}

fn stop_reading(slf: *mut PyObject) {
    unregister(slf, Direction::Read)
}

fn start_writing(slf: *mut PyObject) -> PyResult<()> {
    register(slf, Direction::Write)
}

fn stop_writing(slf: *mut PyObject) {
    unregister(slf, Direction::Write)
}

// --- protocol calls ----------------------------------------------------------

/// The current protocol (it may change during any call into Python).
fn protocol(slf: *mut PyObject) -> Owned {
    // SAFETY: slf is live.
    Owned::from_ptr_or_none(unsafe { (*obj_of(slf)).protocol })
}

/// `protocol.<name>(*args)`.
fn call_protocol(
    slf: *mut PyObject,
    name: &names::Cached,
    args: &[*mut PyObject],
) -> PyResult<Owned> {
    let proto = protocol(slf);
    let mut argv = Vec::with_capacity(args.len() + 1);
    argv.push(proto.as_ptr());
    argv.extend_from_slice(args);
    // SAFETY: argv holds live borrowed references; the name is interned.
    unsafe {
        Owned::from_new(PyObject_VectorcallMethod(
            name.get(),
            argv.as_ptr(),
            argv.len(),
            null_mut(),
        ))
    }
}

/// asyncio's `_fatal_error(exc, message)` (reporting in Python, then
/// `_force_close(exc)`).
fn fatal_error(slf: *mut PyObject, exc: Owned, message: &CStr) -> PyResult<()> {
    // SAFETY: a new str reference or null.
    let text = unsafe { Owned::from_new(PyUnicode_FromString(message.as_ptr()))? };
    call_support(
        &names::S_TRANSPORT_FATAL_ERROR,
        &[slf, exc.as_ptr(), text.as_ptr()],
    )
    .map(drop)
}

/// A failed syscall as an OSError instance (the errno's subclass).
fn os_error(err: &io::Error) -> PyResult<Owned> {
    raise_io(err);
    raised::take_pending().ok_or(Raised)
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
fn send_failed(slf: *mut PyObject, failure: Failure) -> PyResult<()> {
    match failure {
        Failure::Again => Ok(()),
        Failure::Os(exc) => call_protocol(slf, &names::S_ERROR_RECEIVED, &[exc.as_ptr()]).map(drop),
        Failure::Other(exc) => fatal_error(slf, exc, c"Fatal write error on datagram transport"),
    }
}

// --- reading -----------------------------------------------------------------

/// asyncio's `_read_ready()`: one datagram to `datagram_received`.
fn read_ready(slf: *mut PyObject) -> PyResult<()> {
    let st = state(slf);
    if st.conn_lost.get() > 0 {
        return Ok(());
    }
    let received = if st.native_addresses {
        match recvfrom_bytes(st.fd) {
            Err(e) if sys::would_block(&e) => return Ok(()),
            Err(e) => Err(Failure::Os(os_error(&e)?)),
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
            slf,
            &names::S_DATAGRAM_RECEIVED,
            &[data.as_ptr(), addr.as_ptr()],
        )
        .map(drop),
        Err(Failure::Again) => Ok(()),
        Err(Failure::Os(exc)) => {
            call_protocol(slf, &names::S_ERROR_RECEIVED, &[exc.as_ptr()]).map(drop)
        }
        Err(Failure::Other(exc)) => {
            fatal_error(slf, exc, c"Fatal read error on datagram transport")
        }
    }
}

/// `data, addr = sock.recvfrom(max_size)` through the socket object (the
/// families this adapter does not convert).
fn python_recvfrom(slf: *mut PyObject) -> PyResult<Result<(Owned, Owned), Failure>> {
    // SAFETY: slf is live; sock is null or a live socket object; results
    // are owned.
    unsafe {
        let sock = (*obj_of(slf)).sock;
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

// --- writing -----------------------------------------------------------------

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
fn send_one(slf: *mut PyObject, data: *mut PyObject, addr: *mut PyObject) -> PyResult<Sent> {
    let st = state(slf);
    let io_result = if st.connected {
        with_bytes(data, |buf| sys::send(st.fd, buf))
    } else if st.native_addresses {
        match address::from_python(st.family, addr) {
            Ok(Some(sockaddr)) => with_bytes(data, |buf| sys::sendto(st.fd, buf, &sockaddr)),
            Ok(None) => return python_sendto(slf, data, addr),
            Err(Raised) => Err(Raised),
        }
    } else {
        return python_sendto(slf, data, addr);
    };
    match io_result {
        Ok(Ok(_)) => Ok(Sent::Done),
        Ok(Err(e)) if sys::would_block(&e) => Ok(Sent::Failed(Failure::Again)),
        Ok(Err(e)) => Ok(Sent::Failed(Failure::Os(os_error(&e)?))),
        Err(Raised) => pending_failure().map(Sent::Failed),
    }
}

/// `sock.sendto(data, addr)` through the socket object: name resolution,
/// special hosts, other families and every error stay the socket module's.
fn python_sendto(slf: *mut PyObject, data: *mut PyObject, addr: *mut PyObject) -> PyResult<Sent> {
    // SAFETY: slf is live; sock is null or a live socket; results owned.
    unsafe {
        let sock = (*obj_of(slf)).sock;
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
fn sendto(slf: *mut PyObject, data: *mut PyObject, addr: *mut PyObject) -> PyResult<()> {
    // SAFETY: data is live; type checks only.
    let bytes_like = unsafe {
        PyBytes_Check(data) != 0 || PyByteArray_Check(data) != 0 || PyMemoryView_Check(data) != 0
    };
    if !bytes_like {
        // SAFETY: data is live; results owned.
        unsafe {
            let name = Owned::from_new(PyObject_GetAttrString(
                Py_TYPE(data).cast(),
                c"__name__".as_ptr(),
            ))?;
            let shown = Owned::from_new(PyObject_Repr(name.as_ptr()))?;
            return Err(raise(
                PyExc_TypeError,
                &format!(
                    "data argument must be a bytes-like object, not {}",
                    utf8(shown.as_ptr())?
                ),
            ));
        }
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
    let st = state(slf);
    // SAFETY: Py_None is immortal; the address slot is null or live.
    let mut addr = if addr.is_null() {
        unsafe { Py_None() }
    } else {
        addr
    };
    if st.has_address {
        // SAFETY: address is set whenever has_address is.
        let address = unsafe { (*obj_of(slf)).address };
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
    // SAFETY: slf is live.
    let released = unsafe { (*obj_of(slf)).sock }.is_null();
    // asyncio drops a connected endpoint's datagrams once the connection is
    // lost; once the socket is released it would raise AttributeError on
    // `None.sendto`, for connected and unconnected endpoints alike: we drop
    // those datagrams the same way instead.
    if (st.conn_lost.get() > 0 && st.has_address) || released {
        if st.conn_lost.get() >= LOG_THRESHOLD_FOR_CONNLOST_WRITES {
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
    maybe_pause_protocol(slf)
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
fn sendto_ready(slf: *mut PyObject) -> PyResult<()> {
    let st = state(slf);
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
    maybe_resume_protocol(slf)?;
    if st.queue.borrow().is_empty() {
        stop_writing(slf);
        if st.closing.get() {
            return call_connection_lost(slf, null_mut());
        }
    }
    Ok(())
}

fn maybe_pause_protocol(slf: *mut PyObject) -> PyResult<()> {
    let st = state(slf);
    if st.buffer_size.get() <= st.high_water.get() || st.protocol_paused.get() {
        return Ok(());
    }
    st.protocol_paused.set(true);
    flow_control_call(
        slf,
        &names::S_PAUSE_WRITING,
        c"protocol.pause_writing() failed",
    )
}

fn maybe_resume_protocol(slf: *mut PyObject) -> PyResult<()> {
    let st = state(slf);
    if !st.protocol_paused.get() || st.buffer_size.get() > st.low_water.get() {
        return Ok(());
    }
    st.protocol_paused.set(false);
    flow_control_call(
        slf,
        &names::S_RESUME_WRITING,
        c"protocol.resume_writing() failed",
    )
}

/// `pause_writing`/`resume_writing`: a failure is reported, not fatal.
fn flow_control_call(slf: *mut PyObject, name: &names::Cached, message: &CStr) -> PyResult<()> {
    if call_protocol(slf, name, &[]).is_ok() {
        return Ok(());
    }
    if raised::pending_is_exit() {
        return Err(Raised);
    }
    let Some(exc) = raised::take_pending() else {
        return Ok(());
    };
    // SAFETY: a new str reference or null.
    let text = unsafe { Owned::from_new(PyUnicode_FromString(message.as_ptr()))? };
    call_support(
        &names::S_PROTOCOL_CALL_FAILED,
        &[slf, exc.as_ptr(), text.as_ptr()],
    )
    .map(drop)
}

/// Empties the queue; the items are dropped after the borrow ends (an
/// address object's destructor may run Python code).
fn clear_queue(st: &DatagramState) {
    let items = match st.queue.try_borrow_mut() {
        Ok(mut queue) => std::mem::take(&mut *queue),
        Err(_) => return,
    };
    drop(items);
}

// --- closing -----------------------------------------------------------------

fn close(slf: *mut PyObject) -> PyResult<()> {
    let st = state(slf);
    if st.closing.get() {
        return Ok(());
    }
    st.closing.set(true);
    stop_reading(slf);
    if st.queue.borrow().is_empty() {
        st.conn_lost.set(st.conn_lost.get() + 1);
        stop_writing(slf);
        schedule_connection_lost(slf, null_mut())?;
    }
    Ok(())
}

/// asyncio's `_force_close(exc)` (it keeps `_buffer_size` as it was).
fn force_close(slf: *mut PyObject, exc: *mut PyObject) -> PyResult<()> {
    let st = state(slf);
    if st.conn_lost.get() > 0 {
        return Ok(());
    }
    if !st.queue.borrow().is_empty() {
        clear_queue(st);
        stop_writing(slf);
    }
    if !st.closing.get() {
        st.closing.set(true);
        stop_reading(slf);
    }
    st.conn_lost.set(st.conn_lost.get() + 1);
    schedule_connection_lost(slf, exc)
}

/// `loop.call_soon(self._call_connection_lost, exc)`.
fn schedule_connection_lost(slf: *mut PyObject, exc: *mut PyObject) -> PyResult<()> {
    let Some(lp) = loop_object(slf) else {
        return Ok(());
    };
    // SAFETY: slf, the loop and exc (or None) are live; results owned.
    unsafe {
        let method = Owned::from_new(PyObject_GetAttr(slf, names::S_CALL_CONNECTION_LOST.get()))?;
        let exc = if exc.is_null() { Py_None() } else { exc };
        let argv = [lp.as_ptr(), method.as_ptr(), exc];
        Owned::from_new(PyObject_VectorcallMethod(
            names::S_CALL_SOON.get(),
            argv.as_ptr(),
            3,
            null_mut(),
        ))?;
    }
    Ok(())
}

/// asyncio's `_call_connection_lost(exc)`: tell the protocol, then release
/// the socket, the protocol and the loop.
fn call_connection_lost(slf: *mut PyObject, exc: *mut PyObject) -> PyResult<()> {
    let st = state(slf);
    let result = if st.protocol_connected.get() {
        // SAFETY: Py_None is immortal.
        let exc = if exc.is_null() {
            unsafe { Py_None() }
        } else {
            exc
        };
        call_protocol(slf, &names::S_CONNECTION_LOST, &[exc]).map(drop)
    } else {
        Ok(())
    };
    // `finally:` keep a pending error while we clean up.
    let pending = result.is_err().then(raised::take_pending).flatten();
    let cleanup = release_after_lost(slf);
    if let Some(exc) = pending {
        if cleanup.is_err() {
            // SAFETY: drops the cleanup's error in favour of the protocol's.
            unsafe { PyErr_Clear() };
        }
        return Err(raised::restore(exc));
    }
    cleanup
}

fn release_after_lost(slf: *mut PyObject) -> PyResult<()> {
    stop_reading(slf);
    stop_writing(slf);
    // SAFETY: slf is live; each slot is null or owned; sock.close() is a
    // plain method call on a live socket.
    unsafe {
        let obj = obj_of(slf);
        let sock = (*obj).sock;
        let closed = if sock.is_null() {
            Ok(())
        } else {
            let sock = Owned::from_borrowed(sock);
            clear_slot(&mut (*obj).sock);
            if let Some(lp) = loop_of(slf) {
                lp.forget_transport_fd(state(slf).fd);
            }
            Owned::from_new(PyObject_CallMethodNoArgs(
                sock.as_ptr(),
                names::S_CLOSE.get(),
            ))
            .map(drop)
        };
        clear_slot(&mut (*obj).protocol);
        clear_slot(&mut (*obj).loop_);
        closed
    }
}

// --- Python methods ----------------------------------------------------------

fn set_protocol(slf: *mut PyObject, protocol: *mut PyObject) {
    // SAFETY: slf is live; the old protocol is released after the new is set.
    unsafe {
        let obj = obj_of(slf);
        let old = (*obj).protocol;
        Py_INCREF(protocol);
        (*obj).protocol = protocol;
        Py_XDECREF(old);
    }
    state(slf).protocol_connected.set(true);
}

/// `set_write_buffer_limits(high=None, low=None)`, asyncio's rules and message.
fn set_write_buffer_limits(
    slf: *mut PyObject,
    high: *mut PyObject,
    low: *mut PyObject,
) -> PyResult<()> {
    // SAFETY: Py_None is immortal; comparing pointers.
    let none = unsafe { Py_None() };
    let as_int = |obj: *mut PyObject| -> PyResult<Option<i64>> {
        if obj.is_null() || obj == none {
            return Ok(None);
        }
        // SAFETY: obj is live; PyLong_AsLongLong sets an error on failure.
        let v = unsafe { PyLong_AsLongLong(obj) };
        if v == -1 && !unsafe { PyErr_Occurred() }.is_null() {
            return Err(Raised);
        }
        Ok(Some(v))
    };
    let (high_v, low_v) = (as_int(high)?, as_int(low)?);
    let high_v = match (high_v, low_v) {
        (Some(h), _) => h,
        (None, None) => 64 * 1024,
        (None, Some(l)) => l.saturating_mul(4),
    };
    let low_v = low_v.unwrap_or(high_v.div_euclid(4));
    if !(high_v >= low_v && low_v >= 0) {
        // SAFETY: valid exception class.
        return Err(raise(
            unsafe { PyExc_ValueError },
            &format!("high ({high_v}) must be >= low ({low_v}) must be >= 0"),
        ));
    }
    let st = state(slf);
    st.high_water.set(high_v);
    st.low_water.set(low_v);
    maybe_pause_protocol(slf)
}

fn repr(slf: *mut PyObject) -> PyResult<Owned> {
    let st = state(slf);
    // SAFETY: slf is live.
    let (sock, name) = unsafe {
        let tp = Py_TYPE(slf);
        let full = CStr::from_ptr((*tp).tp_name).to_string_lossy().into_owned();
        (
            (*obj_of(slf)).sock,
            full.rsplit('.')
                .next()
                .unwrap_or("DatagramTransport")
                .to_owned(),
        )
    };
    let mut info = vec![name];
    if sock.is_null() {
        info.push("closed".into());
    } else if st.closing.get() {
        info.push("closing".into());
    }
    info.push(format!("fd={}", st.fd));
    if loop_of(slf).is_some_and(|lp| !lp.is_closed()) {
        info.push(format!(
            "read={}",
            if st.reading.get() { "polling" } else { "idle" }
        ));
        info.push(format!(
            "write=<{}, bufsize={}>",
            if st.writing.get() { "polling" } else { "idle" },
            st.buffer_size.get()
        ));
    }
    let text = format!("<{}>", info.join(" "));
    let c = std::ffi::CString::new(text).unwrap_or_default();
    // SAFETY: a new str reference or null.
    unsafe { Owned::from_new(PyUnicode_FromString(c.as_ptr())) }
}

fn debug_log(slf: *mut PyObject, message: &CStr) -> PyResult<()> {
    let debug = loop_of(slf).is_some_and(|lp| lp.debug());
    if !debug {
        return Ok(());
    }
    // SAFETY: a new str reference or null.
    let text = unsafe { Owned::from_new(PyUnicode_FromString(message.as_ptr()))? };
    call_support(&names::S_DEBUG_LOG, &[text.as_ptr(), slf]).map(drop)
}

unsafe extern "C" fn m_sendto(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
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
        let slots = unsafe {
            keyword_args(
                "sendto",
                [c"data", c"addr"],
                Surplus::Ignore,
                argv,
                nargsf,
                kwnames,
            )?
        };
        if slots[0].is_null() {
            return Err(super::args::missing("sendto", &["data"], 0));
        }
        sendto(slf, slots[0], slots[1]).map(|_| Owned::none())
    })
}

unsafe extern "C" fn m_get_extra_info(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: fastcall arguments straight from CPython.
        let [name, default] = unsafe {
            keyword_args(
                "get_extra_info",
                [c"name", c"default"],
                Surplus::Ignore,
                argv,
                nargsf,
                kwnames,
            )?
        };
        if name.is_null() {
            return Err(super::args::missing("get_extra_info", &["name"], 0));
        }
        // SAFETY: extra is a dict (set at creation); GetItem borrows.
        unsafe {
            let extra = (*obj_of(slf)).extra;
            if !extra.is_null() {
                let found = PyDict_GetItemWithError(extra, name);
                if !found.is_null() {
                    return Ok(Owned::from_borrowed(found));
                }
                if !PyErr_Occurred().is_null() {
                    return Err(Raised);
                }
            }
            Ok(Owned::from_ptr_or_none(default))
        }
    })
}

unsafe extern "C" fn m_set_write_buffer_limits(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: fastcall arguments straight from CPython.
        let slots = unsafe {
            keyword_args(
                "set_write_buffer_limits",
                [c"high", c"low"],
                Surplus::Ignore,
                argv,
                nargsf,
                kwnames,
            )?
        };
        set_write_buffer_limits(slf, slots[0], slots[1]).map(|_| Owned::none())
    })
}

noargs!(m_get_write_buffer_size, |slf| {
    // SAFETY: a new int reference or null.
    unsafe { Owned::from_new(PyLong_FromLongLong(state(slf).buffer_size.get())) }
});
noargs!(m_get_write_buffer_limits, |slf| {
    let st = state(slf);
    // SAFETY: new references or null.
    unsafe {
        let low = Owned::from_new(PyLong_FromLongLong(st.low_water.get()))?;
        let high = Owned::from_new(PyLong_FromLongLong(st.high_water.get()))?;
        Owned::from_new(PyTuple_Pack(2, low.as_ptr(), high.as_ptr()))
    }
});
noargs!(m_is_reading, |slf| {
    let st = state(slf);
    Ok(bool_object(!st.closing.get() && !st.paused.get()))
});
noargs!(m_pause_reading, |slf| {
    let st = state(slf);
    if st.closing.get() || st.paused.get() {
        return Ok(Owned::none());
    }
    st.paused.set(true);
    stop_reading(slf);
    debug_log(slf, c"%r pauses reading")?;
    Ok(Owned::none())
});
noargs!(m_resume_reading, |slf| {
    let st = state(slf);
    if st.closing.get() || !st.paused.get() {
        return Ok(Owned::none());
    }
    st.paused.set(false);
    start_reading(slf)?;
    debug_log(slf, c"%r resumes reading")?;
    Ok(Owned::none())
});
noargs!(m_start_reading, |slf| {
    let st = state(slf);
    if !st.closing.get() && !st.paused.get() {
        start_reading(slf)?;
    }
    Ok(Owned::none())
});
noargs!(m_close, |slf| close(slf).map(|_| Owned::none()));
noargs!(m_abort, |slf| force_close(slf, null_mut())
    .map(|_| Owned::none()));
noargs!(m_is_closing, |slf| Ok(bool_object(
    state(slf).closing.get()
)));
onearg!(m_force_close, |slf, exc| {
    // SAFETY: Py_None is immortal.
    let exc = if exc == unsafe { Py_None() } {
        null_mut()
    } else {
        exc
    };
    force_close(slf, exc).map(|_| Owned::none())
});
onearg!(m_call_connection_lost, |slf, exc| {
    // SAFETY: Py_None is immortal.
    let exc = if exc == unsafe { Py_None() } {
        null_mut()
    } else {
        exc
    };
    call_connection_lost(slf, exc).map(|_| Owned::none())
});
onearg!(m_set_protocol, |slf, protocol| {
    set_protocol(slf, protocol);
    Ok(Owned::none())
});
noargs!(m_get_protocol, |slf| Ok(protocol(slf)));
noargs!(m_read_ready, |slf| read_ready(slf).map(|_| Owned::none()));
noargs!(m_sendto_ready, |slf| sendto_ready(slf)
    .map(|_| Owned::none()));

unsafe extern "C" fn tp_repr(slf: *mut PyObject) -> *mut PyObject {
    ffi_edge(|| repr(slf))
}

// --- attributes --------------------------------------------------------------

macro_rules! slot_getter {
    ($name:ident, $field:ident) => {
        unsafe extern "C" fn $name(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
            // SAFETY: slf is live; the slot is null or a live reference.
            ffi_edge(|| Ok(Owned::from_ptr_or_none(unsafe { (*obj_of(slf)).$field })))
        }
    };
}

slot_getter!(get_sock, sock);
slot_getter!(get_loop, loop_);
slot_getter!(get_protocol_attr, protocol);
slot_getter!(get_extra, extra);
slot_getter!(get_address, address);

unsafe extern "C" fn get_sock_fd(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: a new int reference or null.
    ffi_edge(|| unsafe { Owned::from_new(PyLong_FromLong(state(slf).fd as _)) })
}

unsafe extern "C" fn get_closing(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    ffi_edge(|| Ok(bool_object(state(slf).closing.get())))
}

unsafe extern "C" fn get_conn_lost(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: a new int reference or null.
    ffi_edge(|| unsafe { Owned::from_new(PyLong_FromLong(state(slf).conn_lost.get() as _)) })
}

unsafe extern "C" fn get_paused(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    ffi_edge(|| Ok(bool_object(state(slf).paused.get())))
}

unsafe extern "C" fn get_protocol_paused(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    ffi_edge(|| Ok(bool_object(state(slf).protocol_paused.get())))
}

unsafe extern "C" fn get_buffer_size(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: a new int reference or null.
    ffi_edge(|| unsafe { Owned::from_new(PyLong_FromLongLong(state(slf).buffer_size.get())) })
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
        // SAFETY: args is the positional tuple CPython passes to tp_new.
        let argv: Vec<*mut PyObject> = unsafe {
            (0..PyTuple_GET_SIZE(args))
                .map(|i| PyTuple_GET_ITEM(args, i))
                .collect()
        };
        if argv.len() != 5 {
            // SAFETY: valid exception class.
            return Err(raise_static(
                unsafe { PyExc_TypeError },
                c"DatagramTransport() takes 5 arguments (loop, sock, protocol, extra, address)",
            ));
        }
        let (lp, sock, protocol, extra, address) = (argv[0], argv[1], argv[2], argv[3], argv[4]);
        // SAFETY: the loop and extra arguments are type-checked before use.
        unsafe {
            if PyObject_TypeCheck(lp, ptr::addr_of_mut!(super::event_loop::LOOP_TYPE)) == 0
                || PyDict_Check(extra) == 0
            {
                return Err(raise_static(
                    PyExc_TypeError,
                    c"DatagramTransport() needs a zloop loop and an extra dict",
                ));
            }
        }
        let fd = super::args::fileobj_to_fd(sock)?;
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
        // SAFETY: tp_alloc returns a zeroed, GC-tracked object; every field is
        // written before the object is visible to Python code.
        unsafe {
            let alloc = (*tp).tp_alloc.unwrap_or(PyType_GenericAlloc);
            let obj = Owned::from_new(alloc(tp, 0))?;
            let t = obj.as_ptr().cast::<DatagramTransportObject>();
            (*t).state = Box::into_raw(Box::new(DatagramState {
                fd,
                family,
                native_addresses: address::is_native_family(family),
                connected,
                has_address,
                queue: RefCell::new(VecDeque::new()),
                buffer_size: Cell::new(0),
                protocol_connected: Cell::new(false),
                closing: Cell::new(false),
                paused: Cell::new(false),
                protocol_paused: Cell::new(false),
                conn_lost: Cell::new(0),
                high_water: Cell::new(64 * 1024),
                low_water: Cell::new(16 * 1024),
                reading: Cell::new(false),
                writing: Cell::new(false),
            }));
            (*t).loop_ = Owned::from_borrowed(lp).into_ptr();
            (*t).sock = Owned::from_borrowed(sock).into_ptr();
            (*t).extra = Owned::from_borrowed(extra).into_ptr();
            (*t).address = Owned::from_borrowed(address).into_ptr();
            set_protocol(obj.as_ptr(), protocol);
            LoopObject::from_ptr(lp).remember_transport_fd(fd);
            Ok(obj)
        }
    })
}

unsafe extern "C" fn traverse(slf: *mut PyObject, visit: visitproc, arg: *mut c_void) -> c_int {
    let obj = obj_of(slf);
    // SAFETY: the GC passes a live object; each slot is null or live; the
    // queued objects are owned by the state.
    unsafe {
        let rc = super::type_object::visit_slots(
            &[
                (*obj).dict,
                (*obj).loop_,
                (*obj).sock,
                (*obj).protocol,
                (*obj).extra,
                (*obj).address,
                (*obj).read_context,
                (*obj).write_context,
            ],
            visit,
            arg,
        );
        if rc != 0 || (*obj).state.is_null() {
            return rc;
        }
        if let Ok(queue) = (*(*obj).state).queue.try_borrow() {
            for item in queue.iter() {
                if let Some(addr) = &item.addr {
                    let rc = visit(addr.as_ptr(), arg);
                    if rc != 0 {
                        return rc;
                    }
                }
            }
        }
        0
    }
}

unsafe extern "C" fn clear(slf: *mut PyObject) -> c_int {
    let obj = obj_of(slf);
    // SAFETY: each slot is null or owned; clear_slot nulls it first.
    unsafe {
        if !(*obj).state.is_null() {
            clear_queue(&*(*obj).state);
        }
        clear_slot(&mut (*obj).dict);
        clear_slot(&mut (*obj).protocol);
        clear_slot(&mut (*obj).extra);
        clear_slot(&mut (*obj).address);
        clear_slot(&mut (*obj).read_context);
        clear_slot(&mut (*obj).write_context);
        clear_slot(&mut (*obj).sock);
        clear_slot(&mut (*obj).loop_);
    }
    0
}

/// `__del__`: an unclosed transport warns (ResourceWarning) and closes its
/// socket, as asyncio's does.
unsafe extern "C" fn finalize(slf: *mut PyObject) {
    // SAFETY: called by CPython with the object still intact; the pending
    // exception is saved and restored around the Python call.
    unsafe {
        if (*obj_of(slf)).sock.is_null()
            || (*obj_of(slf)).state.is_null()
            || super::type_object::interpreter_finalizing()
        {
            return;
        }
        let saved = raised::take_pending();
        if call_support(&names::S_UNCLOSED_TRANSPORT, &[slf]).is_err() {
            PyErr_WriteUnraisable(slf);
        }
        if let Some(exc) = saved {
            raised::restore(exc);
        }
    }
}

unsafe extern "C" fn dealloc(slf: *mut PyObject) {
    // SAFETY: last reference gone. The finalizer may resurrect the object;
    // then we stop. Otherwise untrack, release the slots and the state.
    unsafe {
        if PyObject_CallFinalizerFromDealloc(slf) < 0 {
            return;
        }
        PyObject_GC_UnTrack(slf.cast());
        let obj = obj_of(slf);
        if !(*obj).weakreflist.is_null() {
            PyObject_ClearWeakRefs(slf);
        }
        if !(*obj).sock.is_null() && !(*obj).state.is_null() {
            if let Some(lp) = loop_of(slf) {
                lp.forget_transport_fd((*(*obj).state).fd);
            }
        }
        clear(slf);
        let st = (*obj).state;
        if !st.is_null() {
            (*obj).state = null_mut();
            drop(Box::from_raw(st));
        }
        super::type_object::free_object(slf);
    }
}

static mut METHODS: [PyMethodDef; 19] = [
    kw_def(
        c"sendto",
        m_sendto,
        c"sendto(data, addr=None): send one datagram (at once when possible).",
    ),
    noargs_def(
        c"get_write_buffer_size",
        m_get_write_buffer_size,
        c"Bytes queued for sending.",
    ),
    noargs_def(
        c"get_write_buffer_limits",
        m_get_write_buffer_limits,
        c"(low, high) water marks.",
    ),
    kw_def(
        c"set_write_buffer_limits",
        m_set_write_buffer_limits,
        c"Set the flow-control water marks.",
    ),
    noargs_def(
        c"is_reading",
        m_is_reading,
        c"Whether the transport is receiving.",
    ),
    noargs_def(
        c"pause_reading",
        m_pause_reading,
        c"Stop calling datagram_received() until resumed.",
    ),
    noargs_def(
        c"resume_reading",
        m_resume_reading,
        c"Resume reading after pause_reading().",
    ),
    noargs_def(
        c"close",
        m_close,
        c"Close after the buffer drains; connection_lost(None) follows.",
    ),
    noargs_def(c"abort", m_abort, c"Close at once, dropping the buffer."),
    noargs_def(
        c"is_closing",
        m_is_closing,
        c"Whether close() or abort() was called.",
    ),
    kw_def(
        c"get_extra_info",
        m_get_extra_info,
        c"get_extra_info(name, default=None).",
    ),
    onearg_def(c"set_protocol", m_set_protocol, c"Replace the protocol."),
    noargs_def(c"get_protocol", m_get_protocol, c"The current protocol."),
    noargs_def(
        c"_start_reading",
        m_start_reading,
        c"Register for reading (after connection_made).",
    ),
    onearg_def(
        c"_force_close",
        m_force_close,
        c"Close at once because of exc.",
    ),
    onearg_def(
        c"_call_connection_lost",
        m_call_connection_lost,
        c"Tell the protocol and release everything.",
    ),
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
    getset_ro(c"_sock", get_sock),
    getset_ro(c"_sock_fd", get_sock_fd),
    getset_ro(c"_loop", get_loop),
    getset_ro(c"_protocol", get_protocol_attr),
    getset_ro(c"_extra", get_extra),
    getset_ro(c"_address", get_address),
    getset_ro(c"_closing", get_closing),
    getset_ro(c"_conn_lost", get_conn_lost),
    getset_ro(c"_paused", get_paused),
    getset_ro(c"_protocol_paused", get_protocol_paused),
    getset_ro(c"_buffer_size", get_buffer_size),
    getset_ro(c"_server", get_server),
    super::type_object::GETSET_END,
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

/// Fills and readies the static `DatagramTransport` type.
pub fn ready() -> PyResult<*mut PyTypeObject> {
    read_header_accounting()?;
    // SAFETY: called once at import with the GIL held.
    unsafe {
        let tp = ptr::addr_of_mut!(DATAGRAM_TRANSPORT_TYPE);
        new_type(
            tp,
            c"zloop._zloop.DatagramTransport",
            std::mem::size_of::<DatagramTransportObject>(),
            Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
        );
        (*tp).tp_doc = c"A native datagram transport (UDP or Unix datagram socket).".as_ptr();
        (*tp).tp_new = Some(tp_new);
        (*tp).tp_dealloc = Some(dealloc);
        (*tp).tp_finalize = Some(finalize);
        (*tp).tp_traverse = Some(traverse);
        (*tp).tp_clear = Some(clear);
        (*tp).tp_repr = Some(tp_repr);
        (*tp).tp_dictoffset = std::mem::offset_of!(DatagramTransportObject, dict) as Py_ssize_t;
        (*tp).tp_weaklistoffset =
            std::mem::offset_of!(DatagramTransportObject, weakreflist) as Py_ssize_t;
        (*tp).tp_methods = ptr::addr_of_mut!(METHODS).cast();
        (*tp).tp_getset = ptr::addr_of_mut!(GETSET).cast();
        super::type_object::ready_type(tp)?;
        // asyncio's `max_size`: the recvfrom() size.
        let max_size = Owned::from_new(PyLong_FromSize_t(MAX_READ))?;
        if PyDict_SetItemString((*tp).tp_dict, c"max_size".as_ptr(), max_size.as_ptr()) < 0 {
            return Err(Raised);
        }
        PyType_Modified(tp);
        Ok(tp)
    }
}
