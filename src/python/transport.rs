//! `Transport`: the native stream transport (TCP and Unix sockets), with the
//! behaviour of asyncio's `_SelectorSocketTransport`.
//!
//! Readiness arrives as `ReadyItem::Read`/`Write` straight from the engine;
//! reads go to `data_received` (or `get_buffer`/`buffer_updated`), writes
//! are sent at once when nothing is queued and the rest is flushed with one
//! gathered `sendmsg` per writable event. Cold paths (error reports, debug
//! logs, server bookkeeping) call `zloop._support`.

use pyo3_ffi::*;
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void, CStr};
use std::io;
use std::os::fd::RawFd;
use std::ptr::{self, null_mut};

use super::args::{keyword_args, utf8, Surplus};
use super::event_loop::LoopObject;
use super::handle::{bool_object, getset_ro};
use super::names::{self, call_support};
use super::owned::{clear_slot, Owned};
use super::raised::{self, raise, raise_io, raise_static, PyResult, Raised};
use super::read_buffer::{recv_bytes, MAX_READ};
use super::ready_item::ReadyItem;
use super::type_object::{ffi_edge, kw_def, new_type, noargs, noargs_def, onearg, onearg_def};
use crate::core::sys;
use crate::core::write_queue::WriteQueue;

/// asyncio's `LOG_THRESHOLD_FOR_CONNLOST_WRITES`.
const LOG_THRESHOLD_FOR_CONNLOST_WRITES: u32 = 5;

#[repr(C)]
pub struct TransportObject {
    ob_base: PyObject,
    dict: *mut PyObject,
    weakreflist: *mut PyObject,
    /// The loop (null once the connection is lost, as asyncio's `_loop`).
    loop_: *mut PyObject,
    /// The Python socket object (null once closed).
    sock: *mut PyObject,
    protocol: *mut PyObject,
    server: *mut PyObject,
    extra: *mut PyObject,
    empty_waiter: *mut PyObject,
    /// Contexts copied when reading / writing was registered: asyncio runs
    /// each reader and writer callback in the context of its `_add_reader`
    /// / `_add_writer` call, so protocol callbacks see the context the
    /// connection was set up in.
    read_context: *mut PyObject,
    write_context: *mut PyObject,
    state: *mut TransportState,
}

/// One queued write: an immutable bytes object we keep a reference to, or a
/// copy of a mutable buffer (bytearray, memoryview) taken at write() time.
pub enum Chunk {
    Bytes(Owned),
    Copy(Vec<u8>),
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        match self {
            // SAFETY: the Owned keeps the (immutable) bytes object alive.
            Chunk::Bytes(b) => unsafe {
                std::slice::from_raw_parts(
                    PyBytes_AS_STRING(b.as_ptr()).cast::<u8>(),
                    Py_SIZE(b.as_ptr()) as usize,
                )
            },
            Chunk::Copy(v) => v,
        }
    }
}

struct TransportState {
    fd: RawFd,
    queue: RefCell<WriteQueue<Chunk>>,
    /// The protocol is an `asyncio.BufferedProtocol`.
    buffered: Cell<bool>,
    protocol_connected: Cell<bool>,
    closing: Cell<bool>,
    eof: Cell<bool>,
    /// `pause_reading()` was called.
    paused: Cell<bool>,
    /// `pause_writing()` was called on the protocol.
    protocol_paused: Cell<bool>,
    conn_lost: Cell<u32>,
    high_water: Cell<usize>,
    low_water: Cell<usize>,
    /// Registered with the engine for reading / writing.
    reading: Cell<bool>,
    writing: Cell<bool>,
}

pub static mut TRANSPORT_TYPE: PyTypeObject = unsafe { std::mem::zeroed() };

/// An owned reference to a `TransportObject`.
#[derive(Clone)]
pub struct TransportRef(Owned);

fn obj_of(slf: *mut PyObject) -> *mut TransportObject {
    slf.cast()
}

fn state<'a>(slf: *mut PyObject) -> &'a TransportState {
    // SAFETY: tp_new sets `state` before the object is handed out; only
    // dealloc frees it; fields are Cells, so shared access is enough.
    unsafe { &*(*obj_of(slf)).state }
}

impl TransportRef {
    pub fn as_ptr(&self) -> *mut PyObject {
        self.0.as_ptr()
    }

    fn st(&self) -> &TransportState {
        state(self.as_ptr())
    }

    /// Whether a queued `Read` item should still run.
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
        in_context(slf, Direction::Read, || {
            if st.buffered.get() {
                read_into_protocol_buffer(slf)
            } else {
                read_bytes(slf)
            }
        })
    }

    pub fn on_writable(&self) -> PyResult<()> {
        let slf = self.as_ptr();
        let st = self.st();
        if st.conn_lost.get() > 0 || !st.writing.get() {
            return Ok(());
        }
        in_context(slf, Direction::Write, || flush(slf))
    }
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

fn this(slf: *mut PyObject) -> TransportRef {
    // SAFETY: slf is a live transport.
    TransportRef(unsafe { Owned::from_borrowed(slf) })
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
            Direction::Read => engine.set_reader(fd, ReadyItem::Read(this(slf))),
            Direction::Write => engine.set_writer(fd, ReadyItem::Write(this(slf))),
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

/// An exception from a protocol call: KeyboardInterrupt and SystemExit
/// propagate, anything else is a fatal error of the transport.
fn protocol_failed(slf: *mut PyObject, message: &CStr) -> PyResult<()> {
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
fn fatal_error(slf: *mut PyObject, exc: Owned, message: &CStr) -> PyResult<()> {
    // SAFETY: a new str reference or null.
    let text = unsafe { Owned::from_new(PyUnicode_FromString(message.as_ptr()))? };
    call_support(
        &names::S_TRANSPORT_FATAL_ERROR,
        &[slf, exc.as_ptr(), text.as_ptr()],
    )
    .map(drop)
}

/// A failed syscall as an OSError instance.
fn os_error(err: &io::Error) -> Option<Owned> {
    raise_io(err);
    raised::take_pending()
}

fn fatal_os_error(slf: *mut PyObject, err: &io::Error, message: &CStr) -> PyResult<()> {
    match os_error(err) {
        Some(exc) => fatal_error(slf, exc, message),
        None => Ok(()),
    }
}

// --- reading -----------------------------------------------------------------

fn read_bytes(slf: *mut PyObject) -> PyResult<()> {
    let bytes = match recv_bytes(state(slf).fd, MAX_READ) {
        Ok(bytes) => bytes?,
        Err(e) if sys::would_block(&e) => return Ok(()),
        Err(e) => return fatal_os_error(slf, &e, c"Fatal read error on socket transport"),
    };
    // SAFETY: bytes is a live bytes object.
    if unsafe { Py_SIZE(bytes.as_ptr()) } == 0 {
        return on_eof(slf);
    }
    match call_protocol(slf, &names::S_DATA_RECEIVED, &[bytes.as_ptr()]) {
        Ok(_) => Ok(()),
        Err(Raised) => protocol_failed(slf, c"Fatal error: protocol.data_received() call failed."),
    }
}

fn read_into_protocol_buffer(slf: *mut PyObject) -> PyResult<()> {
    // SAFETY: a new int reference or null.
    let minus_one = unsafe { Owned::from_new(PyLong_FromLong(-1))? };
    let buf = match call_protocol(slf, &names::S_GET_BUFFER, &[minus_one.as_ptr()]) {
        Ok(buf) => buf,
        Err(Raised) => {
            return protocol_failed(slf, c"Fatal error: protocol.get_buffer() call failed.")
        }
    };
    // SAFETY: a zeroed Py_buffer is the documented initial state; the view is
    // released on every path below.
    let mut view: Py_buffer = unsafe { std::mem::zeroed() };
    // SAFETY: buf is live; PyObject_GetBuffer fills view or sets an error.
    if unsafe { PyObject_GetBuffer(buf.as_ptr(), &mut view, PyBUF_WRITABLE) } < 0 {
        return protocol_failed(slf, c"Fatal error: protocol.get_buffer() call failed.");
    }
    if view.len == 0 {
        // SAFETY: the view was filled above.
        unsafe { PyBuffer_Release(&mut view) };
        // SAFETY: valid exception class.
        raise_static(
            unsafe { PyExc_RuntimeError },
            c"get_buffer() returned an empty buffer",
        );
        return protocol_failed(slf, c"Fatal error: protocol.get_buffer() call failed.");
    }
    // SAFETY: the view is a writable region of view.len bytes until released.
    let received = unsafe {
        let region = std::slice::from_raw_parts_mut(view.buf.cast::<u8>(), view.len as usize);
        let r = sys::recv(state(slf).fd, region);
        PyBuffer_Release(&mut view);
        r
    };
    drop(buf);
    match received {
        Ok(0) => on_eof(slf),
        Ok(n) => {
            // SAFETY: a new int reference or null.
            let count = unsafe { Owned::from_new(PyLong_FromSize_t(n))? };
            match call_protocol(slf, &names::S_BUFFER_UPDATED, &[count.as_ptr()]) {
                Ok(_) => Ok(()),
                Err(Raised) => {
                    protocol_failed(slf, c"Fatal error: protocol.buffer_updated() call failed.")
                }
            }
        }
        Err(e) if sys::would_block(&e) => Ok(()),
        Err(e) => fatal_os_error(slf, &e, c"Fatal read error on socket transport"),
    }
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

fn on_eof(slf: *mut PyObject) -> PyResult<()> {
    debug_log(slf, c"%r received EOF")?;
    let keep_open = match call_protocol(slf, &names::S_EOF_RECEIVED, &[]) {
        Ok(result) => result,
        Err(Raised) => {
            return protocol_failed(slf, c"Fatal error: protocol.eof_received() call failed.")
        }
    };
    // SAFETY: keep_open is live.
    match unsafe { PyObject_IsTrue(keep_open.as_ptr()) } {
        -1 => Err(Raised),
        0 => close(slf),
        _ => {
            // Half-closed: stop reading, keep writing (is_reading() stays true,
            // as asyncio's does).
            stop_reading(slf);
            Ok(())
        }
    }
}

// --- writing -----------------------------------------------------------------

/// `data` as a queueable chunk (a reference for bytes, a copy otherwise), or
/// asyncio's TypeError for anything that is not bytes-like.
fn chunk_of(data: *mut PyObject, strict_types: bool) -> PyResult<Chunk> {
    // SAFETY: data is live; buffer views are released before returning.
    unsafe {
        if PyBytes_Check(data) != 0 {
            return Ok(Chunk::Bytes(Owned::from_borrowed(data)));
        }
        if strict_types && PyByteArray_Check(data) == 0 && PyMemoryView_Check(data) == 0 {
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
        let mut view: Py_buffer = std::mem::zeroed();
        if PyObject_GetBuffer(data, &mut view, PyBUF_SIMPLE) < 0 {
            return Err(Raised);
        }
        let copy = std::slice::from_raw_parts(view.buf.cast::<u8>(), view.len as usize).to_vec();
        PyBuffer_Release(&mut view);
        Ok(Chunk::Copy(copy))
    }
}

fn runtime_error(message: &CStr) -> Raised {
    // SAFETY: valid exception class.
    raise_static(unsafe { PyExc_RuntimeError }, message)
}

fn write(slf: *mut PyObject, data: *mut PyObject) -> PyResult<()> {
    let chunk = chunk_of(data, true)?;
    let st = state(slf);
    if st.eof.get() {
        return Err(runtime_error(c"Cannot call write() after write_eof()"));
    }
    // SAFETY: slf is live.
    if !unsafe { (*obj_of(slf)).empty_waiter }.is_null() {
        return Err(runtime_error(c"unable to write; sendfile is in progress"));
    }
    if chunk.as_ref().is_empty() {
        return Ok(());
    }
    if st.conn_lost.get() > 0 {
        if st.conn_lost.get() >= LOG_THRESHOLD_FOR_CONNLOST_WRITES {
            call_support(&names::S_WRITE_AFTER_LOST, &[])?;
        }
        st.conn_lost.set(st.conn_lost.get() + 1);
        return Ok(());
    }
    let mut sent = 0;
    if st.queue.borrow().is_empty() {
        match sys::send(st.fd, chunk.as_ref()) {
            Ok(n) if n == chunk.as_ref().len() => return Ok(()),
            Ok(n) => sent = n,
            Err(e) if sys::would_block(&e) => {}
            Err(e) => return fatal_os_error(slf, &e, c"Fatal write error on socket transport"),
        }
        start_writing(slf)?;
    }
    st.queue.borrow_mut().push(chunk, sent);
    maybe_pause_protocol(slf)
}

fn writelines(slf: *mut PyObject, list: *mut PyObject) -> PyResult<()> {
    let st = state(slf);
    if st.eof.get() {
        return Err(runtime_error(c"Cannot call writelines() after write_eof()"));
    }
    // SAFETY: slf is live.
    if !unsafe { (*obj_of(slf)).empty_waiter }.is_null() {
        return Err(runtime_error(
            c"unable to writelines; sendfile is in progress",
        ));
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
            chunks.push(chunk_of(item.as_ptr(), false)?);
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
    if !st.queue.borrow().is_empty() && state(slf).conn_lost.get() == 0 {
        start_writing(slf)?;
    }
    maybe_pause_protocol(slf)
}

/// Sends what is queued (one gathered write), as asyncio's `_write_sendmsg`.
fn flush(slf: *mut PyObject) -> PyResult<()> {
    let st = state(slf);
    let result = st.queue.borrow_mut().send_to(st.fd);
    match result {
        Err(e) if sys::would_block(&e) => Ok(()),
        Err(e) => {
            stop_writing(slf);
            st.queue.borrow_mut().clear();
            fatal_os_error(slf, &e, c"Fatal write error on socket transport")?;
            settle_empty_waiter(slf, Some(&e))
        }
        Ok(_) => {
            maybe_resume_protocol(slf)?;
            if !st.queue.borrow().is_empty() {
                return Ok(());
            }
            stop_writing(slf);
            settle_empty_waiter(slf, None)?;
            if st.closing.get() {
                call_connection_lost(slf, null_mut())
            } else if st.eof.get() {
                sys::shutdown_write(st.fd).map_err(|e| raise_io(&e))
            } else {
                Ok(())
            }
        }
    }
}

/// Resolves a sendfile's empty waiter: the buffer drained, or the write failed.
fn settle_empty_waiter(slf: *mut PyObject, error: Option<&io::Error>) -> PyResult<()> {
    // SAFETY: slf is live.
    let waiter = unsafe { (*obj_of(slf)).empty_waiter };
    if waiter.is_null() {
        return Ok(());
    }
    // SAFETY: waiter is live; method names are C strings; results owned.
    unsafe {
        let waiter = Owned::from_borrowed(waiter);
        match error {
            Some(e) => {
                let exc = os_error(e).unwrap_or_else(Owned::none);
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

fn maybe_pause_protocol(slf: *mut PyObject) -> PyResult<()> {
    let st = state(slf);
    if st.queue.borrow().len() <= st.high_water.get() || st.protocol_paused.get() {
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
    if !st.protocol_paused.get() || st.queue.borrow().len() > st.low_water.get() {
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

/// asyncio's `_force_close(exc)`.
fn force_close(slf: *mut PyObject, exc: *mut PyObject) -> PyResult<()> {
    let st = state(slf);
    if st.conn_lost.get() > 0 {
        return Ok(());
    }
    if !st.queue.borrow().is_empty() {
        st.queue.borrow_mut().clear();
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
    let Some(lp) = loop_of(slf) else {
        return Ok(());
    };
    // SAFETY: slf, the loop and exc (or None) are live; results owned.
    unsafe {
        let method = Owned::from_new(PyObject_GetAttr(slf, names::S_CALL_CONNECTION_LOST.get()))?;
        let exc = if exc.is_null() { Py_None() } else { exc };
        let lp_ptr = (lp as *const LoopObject).cast_mut().cast::<PyObject>();
        let argv = [lp_ptr, method.as_ptr(), exc];
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
/// the socket, the protocol, the loop and the server.
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
    cleanup?;
    settle_empty_waiter_lost(slf)
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
        let server = (*obj).server;
        let detached = if server.is_null() {
            Ok(())
        } else {
            let server = Owned::from_borrowed(server);
            clear_slot(&mut (*obj).server);
            call_support(&names::S_SERVER_DETACH, &[server.as_ptr(), slf]).map(drop)
        };
        closed.and(detached)
    }
}

/// `_call_connection_lost` of a socket transport also fails a pending
/// sendfile: ConnectionError("Connection is closed by peer").
fn settle_empty_waiter_lost(slf: *mut PyObject) -> PyResult<()> {
    // SAFETY: slf is live.
    let waiter = unsafe { (*obj_of(slf)).empty_waiter };
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

fn set_protocol(slf: *mut PyObject, protocol: *mut PyObject) -> PyResult<()> {
    // SAFETY: protocol is live; the class is cached for the process.
    let buffered = match unsafe { PyObject_IsInstance(protocol, names::BUFFERED_PROTOCOL.get()) } {
        -1 => return Err(Raised),
        v => v == 1,
    };
    let st = state(slf);
    st.buffered.set(buffered);
    // SAFETY: slf is live; the old protocol is released after the new is set.
    unsafe {
        let obj = obj_of(slf);
        let old = (*obj).protocol;
        Py_INCREF(protocol);
        (*obj).protocol = protocol;
        Py_XDECREF(old);
    }
    st.protocol_connected.set(true);
    Ok(())
}

/// `set_write_buffer_limits(high=None, low=None)`, asyncio's rules and message.
fn set_write_buffer_limits(
    slf: *mut PyObject,
    high: *mut PyObject,
    low: *mut PyObject,
) -> PyResult<()> {
    // SAFETY: Py_None is immortal; comparing pointers.
    let none = unsafe { Py_None() };
    let as_int = |obj: *mut PyObject| -> PyResult<Option<i128>> {
        if obj.is_null() || obj == none {
            return Ok(None);
        }
        // SAFETY: obj is live; PyLong_AsLongLong sets an error on failure.
        let v = unsafe { PyLong_AsLongLong(obj) };
        if v == -1 && !unsafe { PyErr_Occurred() }.is_null() {
            return Err(Raised);
        }
        Ok(Some(v as i128))
    };
    let (high_v, low_v) = (as_int(high)?, as_int(low)?);
    let high_v = match (high_v, low_v) {
        (Some(h), _) => h,
        (None, None) => 64 * 1024,
        (None, Some(l)) => 4 * l,
    };
    let low_v = low_v.unwrap_or(high_v / 4);
    if !(high_v >= low_v && low_v >= 0) {
        // SAFETY: valid exception class.
        return Err(raise(
            unsafe { PyExc_ValueError },
            &format!("high ({high_v}) must be >= low ({low_v}) must be >= 0"),
        ));
    }
    let st = state(slf);
    st.high_water.set(high_v as usize);
    st.low_water.set(low_v as usize);
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
            full.rsplit('.').next().unwrap_or("Transport").to_owned(),
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
            st.queue.borrow().len()
        ));
    }
    let text = format!("<{}>", info.join(" "));
    let c = std::ffi::CString::new(text).unwrap_or_default();
    // SAFETY: a new str reference or null.
    unsafe { Owned::from_new(PyUnicode_FromString(c.as_ptr())) }
}

onearg!(m_write, |slf, data| write(slf, data).map(|_| Owned::none()));
onearg!(m_writelines, |slf, list| writelines(slf, list)
    .map(|_| Owned::none()));
noargs!(m_write_eof, |slf| {
    let st = state(slf);
    if st.closing.get() || st.eof.get() {
        return Ok(Owned::none());
    }
    st.eof.set(true);
    if st.queue.borrow().is_empty() {
        sys::shutdown_write(st.fd).map_err(|e| raise_io(&e))?;
    }
    Ok(Owned::none())
});
noargs!(m_can_write_eof, |_slf| Ok(bool_object(true)));
noargs!(m_get_write_buffer_size, |slf| {
    // SAFETY: a new int reference or null.
    unsafe { Owned::from_new(PyLong_FromSize_t(state(slf).queue.borrow().len())) }
});
noargs!(m_get_write_buffer_limits, |slf| {
    let st = state(slf);
    // SAFETY: new references or null; Py_BuildValue-free tuple packing.
    unsafe {
        let low = Owned::from_new(PyLong_FromSize_t(st.low_water.get()))?;
        let high = Owned::from_new(PyLong_FromSize_t(st.high_water.get()))?;
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
onearg!(m_set_protocol, |slf, protocol| set_protocol(slf, protocol)
    .map(|_| Owned::none()));
noargs!(m_get_protocol, |slf| Ok(protocol(slf)));
noargs!(m_make_empty_waiter, |slf| {
    // SAFETY: slf is live; the waiter is a new Future of our loop.
    unsafe {
        let obj = obj_of(slf);
        if !(*obj).empty_waiter.is_null() {
            return Err(runtime_error(c"Empty waiter is already set"));
        }
        let Some(lp) = loop_of(slf) else {
            return Err(runtime_error(c"Transport is closed"));
        };
        let lp_ptr = (lp as *const LoopObject).cast_mut().cast::<PyObject>();
        let waiter = Owned::from_new(PyObject_CallMethodNoArgs(
            lp_ptr,
            names::S_CREATE_FUTURE.get(),
        ))?;
        (*obj).empty_waiter = waiter.clone().into_ptr();
        if state(slf).queue.borrow().is_empty() {
            Owned::from_new(PyObject_CallMethodOneArg(
                waiter.as_ptr(),
                names::S_SET_RESULT.get(),
                Py_None(),
            ))?;
        }
        Ok(waiter)
    }
});
noargs!(m_reset_empty_waiter, |slf| {
    // SAFETY: slf is live; the slot is null or owned.
    unsafe { clear_slot(&mut (*obj_of(slf)).empty_waiter) };
    Ok(Owned::none())
});

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
        }
        Ok(Owned::from_ptr_or_none(default))
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
        let [high, low] = unsafe {
            keyword_args(
                "set_write_buffer_limits",
                [c"high", c"low"],
                Surplus::Ignore,
                argv,
                nargsf,
                kwnames,
            )?
        };
        set_write_buffer_limits(slf, high, low).map(|_| Owned::none())
    })
}

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
slot_getter!(get_server, server);
slot_getter!(get_extra, extra);
slot_getter!(get_empty_waiter, empty_waiter);

unsafe extern "C" fn get_sock_fd(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: a new int reference or null.
    ffi_edge(|| unsafe { Owned::from_new(PyLong_FromLong(state(slf).fd as _)) })
}

unsafe extern "C" fn get_closing(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    ffi_edge(|| Ok(bool_object(state(slf).closing.get())))
}

unsafe extern "C" fn get_eof(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    ffi_edge(|| Ok(bool_object(state(slf).eof.get())))
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
                c"Transport() takes 5 arguments (loop, sock, protocol, extra, server)",
            ));
        }
        let (lp, sock, protocol, extra, server) = (argv[0], argv[1], argv[2], argv[3], argv[4]);
        // SAFETY: the loop argument is type-checked before it is used as one.
        if unsafe { PyObject_TypeCheck(lp, ptr::addr_of_mut!(super::event_loop::LOOP_TYPE)) } == 0 {
            // SAFETY: valid exception class.
            return Err(raise_static(
                unsafe { PyExc_TypeError },
                c"Transport() needs a zloop loop",
            ));
        }
        let fd = super::args::fileobj_to_fd(sock)?;
        // SAFETY: tp_alloc returns a zeroed, GC-tracked object; every field is
        // written before the object is visible to Python code.
        unsafe {
            let alloc = (*tp).tp_alloc.unwrap_or(PyType_GenericAlloc);
            let obj = Owned::from_new(alloc(tp, 0))?;
            let t = obj.as_ptr().cast::<TransportObject>();
            (*t).state = Box::into_raw(Box::new(TransportState {
                fd,
                queue: RefCell::new(WriteQueue::new()),
                buffered: Cell::new(false),
                protocol_connected: Cell::new(false),
                closing: Cell::new(false),
                eof: Cell::new(false),
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
            if server != Py_None() {
                (*t).server = Owned::from_borrowed(server).into_ptr();
            }
            set_protocol(obj.as_ptr(), protocol)?;
            LoopObject::from_ptr(lp).remember_transport_fd(fd);
            Ok(obj)
        }
    })
}

unsafe extern "C" fn traverse(slf: *mut PyObject, visit: visitproc, arg: *mut c_void) -> c_int {
    let obj = obj_of(slf);
    // SAFETY: the GC passes a live object; each slot is null or live.
    unsafe {
        super::type_object::visit_slots(
            &[
                (*obj).dict,
                (*obj).loop_,
                (*obj).sock,
                (*obj).protocol,
                (*obj).server,
                (*obj).extra,
                (*obj).empty_waiter,
                (*obj).read_context,
                (*obj).write_context,
            ],
            visit,
            arg,
        )
    }
}

unsafe extern "C" fn clear(slf: *mut PyObject) -> c_int {
    let obj = obj_of(slf);
    // SAFETY: each slot is null or owned; clear_slot nulls it first.
    unsafe {
        clear_slot(&mut (*obj).dict);
        clear_slot(&mut (*obj).protocol);
        clear_slot(&mut (*obj).server);
        clear_slot(&mut (*obj).extra);
        clear_slot(&mut (*obj).empty_waiter);
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
        // At interpreter shutdown warnings cannot be issued (nothing can be
        // imported); the socket object closes itself when it goes.
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

static mut METHODS: [PyMethodDef; 22] = [
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
        c"_make_empty_waiter",
        m_make_empty_waiter,
        c"A future done when the buffer is empty (sendfile).",
    ),
    noargs_def(
        c"_reset_empty_waiter",
        m_reset_empty_waiter,
        c"Forget the empty waiter.",
    ),
    PyMethodDef::zeroed(),
];

static mut GETSET: [PyGetSetDef; 13] = [
    getset_ro(c"_sock", get_sock),
    getset_ro(c"_sock_fd", get_sock_fd),
    getset_ro(c"_loop", get_loop),
    getset_ro(c"_protocol", get_protocol_attr),
    getset_ro(c"_server", get_server),
    getset_ro(c"_extra", get_extra),
    getset_ro(c"_empty_waiter", get_empty_waiter),
    getset_ro(c"_closing", get_closing),
    getset_ro(c"_eof", get_eof),
    getset_ro(c"_conn_lost", get_conn_lost),
    getset_ro(c"_paused", get_paused),
    getset_ro(c"_protocol_paused", get_protocol_paused),
    super::type_object::GETSET_END,
];

/// Fills and readies the static `Transport` type.
pub fn ready() -> PyResult<*mut PyTypeObject> {
    // SAFETY: called once at import with the GIL held.
    unsafe {
        let tp = ptr::addr_of_mut!(TRANSPORT_TYPE);
        new_type(
            tp,
            c"zloop._zloop.Transport",
            std::mem::size_of::<TransportObject>(),
            Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
        );
        (*tp).tp_doc = c"A native stream transport (TCP or Unix socket).".as_ptr();
        (*tp).tp_new = Some(tp_new);
        (*tp).tp_dealloc = Some(dealloc);
        (*tp).tp_finalize = Some(finalize);
        (*tp).tp_traverse = Some(traverse);
        (*tp).tp_clear = Some(clear);
        (*tp).tp_repr = Some(tp_repr);
        (*tp).tp_dictoffset = std::mem::offset_of!(TransportObject, dict) as Py_ssize_t;
        (*tp).tp_weaklistoffset = std::mem::offset_of!(TransportObject, weakreflist) as Py_ssize_t;
        (*tp).tp_methods = ptr::addr_of_mut!(METHODS).cast();
        (*tp).tp_getset = ptr::addr_of_mut!(GETSET).cast();
        super::type_object::ready_type(tp)?;
        // Class attributes asyncio's start_tls() and sendfile() look for.
        if PyDict_SetItemString((*tp).tp_dict, c"_start_tls_compatible".as_ptr(), Py_True()) < 0
            || PyDict_SetItemString(
                (*tp).tp_dict,
                c"_sendfile_compatible".as_ptr(),
                names::SENDFILE_TRY_NATIVE.get(),
            ) < 0
        {
            return Err(Raised);
        }
        PyType_Modified(tp);
        Ok(tp)
    }
}
