//! Interned attribute names and cached Python objects, made once at import.

use pyo3_ffi::*;
use std::ffi::CStr;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::PyResult;

/// A process-wide object created at module import and never released.
pub struct Cached(AtomicPtr<PyObject>);

impl Cached {
    pub const fn empty() -> Cached {
        Cached(AtomicPtr::new(std::ptr::null_mut()))
    }

    /// The cached object, borrowed (valid for the life of the process).
    #[inline]
    pub fn get(&self) -> *mut PyObject {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, obj: Owned) {
        self.0.store(obj.into_ptr(), Ordering::Relaxed);
    }
}

macro_rules! interned {
    ($($name:ident = $text:literal;)*) => {
        $(pub static $name: Cached = Cached::empty();)*

        fn intern_all() -> PyResult<()> {
            $(
                // SAFETY: the literal is a valid C string; GIL held at import.
                $name.set(unsafe { Owned::from_new(PyUnicode_InternFromString($text.as_ptr()))? });
            )*
            Ok(())
        }
    };
}

interned! {
    S_CALL_EXCEPTION_HANDLER = c"call_exception_handler";
    S_CHECK_THREAD = c"_check_thread";
    S_CHECK_CALLBACK = c"_check_callback";
    S_CALL_SOON = c"call_soon";
    S_CALL_AT = c"call_at";
    S_CALL_SOON_THREADSAFE = c"call_soon_threadsafe";
    S_RUN = c"run";
    S_LOOP = c"loop";
    S_CONTEXT = c"context";
    S_CURRENT_HANDLE = c"_current_handle";
    S_RUN_FOREVER_SETUP = c"_run_forever_setup";
    S_RUN_FOREVER_CLEANUP = c"_run_forever_cleanup";
    S_FILENO = c"fileno";
    S_RECV_INTO = c"recv_into";
    S_HANDLE_REPR = c"handle_repr";
    S_REPORT_CALLBACK_ERROR = c"report_callback_error";
    S_SOURCE_TRACEBACK = c"source_traceback";
    S_LOG_SLOW_CALLBACK = c"log_slow_callback";
    S_LOG_SLOW_TRANSPORT_CALLBACK = c"log_slow_transport_callback";
    S_NAME = c"name";
    S_DATA_RECEIVED = c"data_received";
    S_GET_BUFFER = c"get_buffer";
    S_BUFFER_UPDATED = c"buffer_updated";
    S_EOF_RECEIVED = c"eof_received";
    S_CONNECTION_LOST = c"connection_lost";
    S_PAUSE_WRITING = c"pause_writing";
    S_RESUME_WRITING = c"resume_writing";
    S_SET_RESULT = c"set_result";
    S_SET_EXCEPTION = c"set_exception";
    S_CLOSE = c"close";
    S_CREATE_FUTURE = c"create_future";
    S_CALL_CONNECTION_LOST = c"_call_connection_lost";
    S_TRANSPORT_FATAL_ERROR = c"transport_fatal_error";
    S_DEBUG_LOG = c"debug_log";
    S_WRITE_AFTER_LOST = c"write_after_connection_lost";
    S_PROTOCOL_CALL_FAILED = c"protocol_call_failed";
    S_SERVER_DETACH = c"server_detach";
    S_UNCLOSED_TRANSPORT = c"unclosed_transport";
    S_DONE = c"done";
    S_CANCELLED = c"cancelled";
    S_REMOVE_READER = c"remove_reader";
    S_REMOVE_WRITER = c"remove_writer";
    S_ENSURE_FD_NO_TRANSPORT = c"_ensure_fd_no_transport";
    S_ADD_DONE_CALLBACK = c"add_done_callback";
    S_CONNECT_EX = c"connect_ex";
    S_REMOVE_DONE_CALLBACK = c"remove_done_callback";
    S_REMOVE_SIGNAL_HANDLER = c"remove_signal_handler";
    S_DATAGRAM_RECEIVED = c"datagram_received";
    S_ERROR_RECEIVED = c"error_received";
    S_TRANSPORT_CALLBACK_ERROR = c"transport_callback_error";
    S_READ_READY = c"_read_ready";
    S_SENDTO_READY = c"_sendto_ready";
    S_SENDTO = c"sendto";
    S_RECVFROM = c"recvfrom";
    S_FAMILY = c"family";
    S_PEERNAME = c"peername";
    S_JOIN = c"join";
    S_INFO_LOG = c"info_log";
    S_WRITE_READY = c"_write_ready";
    S_PIPE_FATAL_ERROR = c"pipe_fatal_error";
    S_PIPE_WRITE_AFTER_LOST = c"pipe_write_after_connection_lost";
    S_UNCLOSED_PIPE_TRANSPORT = c"unclosed_pipe_transport";
}

/// `asyncio.Future` (the C `_asyncio.Future` where available).
pub static FUTURE_TYPE: Cached = Cached::empty();
/// The `("loop",)` keyword-names tuple for `Future(loop=...)`.
pub static KW_LOOP: Cached = Cached::empty();
/// `asyncio.Task` (the C `_asyncio.Task` where available).
pub static TASK_TYPE: Cached = Cached::empty();
/// `("loop", "name", "context")`, for `Task(coro, loop=, name=, context=)`.
pub static KW_TASK: Cached = Cached::empty();
/// `BaseEventLoop.create_task`, for the cases the native path leaves to it.
pub static BASE_CREATE_TASK: Cached = Cached::empty();
/// `asyncio.BufferedProtocol`, to pick the read path of a protocol.
pub static BUFFERED_PROTOCOL: Cached = Cached::empty();
/// `asyncio.constants._SendfileMode.TRY_NATIVE`.
pub static SENDFILE_TRY_NATIVE: Cached = Cached::empty();
/// `zloop._support`, the Python helpers for cold paths (reprs, error reports).
static SUPPORT: Cached = Cached::empty();

fn import_attr(module: &CStr, attr: &CStr) -> PyResult<Owned> {
    // SAFETY: valid C strings; both calls return new references or null.
    unsafe {
        let m = Owned::from_new(PyImport_ImportModule(module.as_ptr()))?;
        Owned::from_new(PyObject_GetAttrString(m.as_ptr(), attr.as_ptr()))
    }
}

pub fn init() -> PyResult<()> {
    intern_all()?;
    FUTURE_TYPE.set(import_attr(c"asyncio.futures", c"Future")?);
    // SAFETY: PyTuple_Pack takes borrowed references and returns a new tuple.
    KW_LOOP.set(unsafe { Owned::from_new(PyTuple_Pack(1, S_LOOP.get()))? });
    TASK_TYPE.set(import_attr(c"asyncio.tasks", c"Task")?);
    // SAFETY: as above.
    KW_TASK.set(unsafe {
        Owned::from_new(PyTuple_Pack(3, S_LOOP.get(), S_NAME.get(), S_CONTEXT.get()))?
    });
    BUFFERED_PROTOCOL.set(import_attr(c"asyncio.protocols", c"BufferedProtocol")?);
    let mode = import_attr(c"asyncio.constants", c"_SendfileMode")?;
    // SAFETY: mode is a live enum class; the result is a new reference or null.
    SENDFILE_TRY_NATIVE.set(unsafe {
        Owned::from_new(PyObject_GetAttrString(
            mode.as_ptr(),
            c"TRY_NATIVE".as_ptr(),
        ))?
    });
    let base = import_attr(c"asyncio.base_events", c"BaseEventLoop")?;
    // SAFETY: base is a live class; the result is a new reference or null.
    BASE_CREATE_TASK.set(unsafe {
        Owned::from_new(PyObject_GetAttrString(
            base.as_ptr(),
            c"create_task".as_ptr(),
        ))?
    });
    Ok(())
}

/// Remembers `zloop._support` (the package registers it at import), so
/// reaching it never goes through `__import__`: finalizers can run in frames
/// without builtins.
pub fn register_support(module: *mut PyObject) {
    // SAFETY: module is a live object; the reference is kept for the process.
    SUPPORT.set(unsafe { Owned::from_borrowed(module) });
}

/// `zloop._support` (imported here only if the package did not register it).
pub fn support() -> PyResult<*mut PyObject> {
    let cached = SUPPORT.get();
    if !cached.is_null() {
        return Ok(cached);
    }
    // SAFETY: valid C string; returns a new reference or null.
    let module = unsafe { Owned::from_new(PyImport_ImportModule(c"zloop._support".as_ptr()))? };
    let ptr = module.as_ptr();
    SUPPORT.set(module);
    Ok(ptr)
}

/// `receiver.<name>(*args)`; the argument vector is built on the stack
/// (readiness callbacks call protocols through this once per event).
pub fn call_method(
    receiver: *mut PyObject,
    name: &Cached,
    args: &[*mut PyObject],
) -> PyResult<Owned> {
    const ON_STACK: usize = 6;
    let call = |argv: &[*mut PyObject]| {
        // SAFETY: argv holds the receiver and borrowed live arguments; the
        // method name is interned.
        unsafe {
            Owned::from_new(PyObject_VectorcallMethod(
                name.get(),
                argv.as_ptr(),
                argv.len(),
                std::ptr::null_mut(),
            ))
        }
    };
    if args.len() < ON_STACK {
        let mut argv = [std::ptr::null_mut(); ON_STACK];
        argv[0] = receiver;
        argv[1..=args.len()].copy_from_slice(args);
        return call(&argv[..=args.len()]);
    }
    let mut argv = Vec::with_capacity(args.len() + 1);
    argv.push(receiver);
    argv.extend_from_slice(args);
    call(&argv)
}

/// Calls `zloop._support.<name>(*args)`.
pub fn call_support(name: &Cached, args: &[*mut PyObject]) -> PyResult<Owned> {
    call_method(support()?, name, args)
}
