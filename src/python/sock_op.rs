//! `SockOp`: the native halves of `sock_recv`, `sock_recv_into` and
//! `sock_sendall`.
//!
//! Each first tries the syscall at once; only when the socket is not ready
//! does it make a future and register a `SockOp` as the fd's reader (or
//! writer) callback, which completes the future when the socket is ready, as
//! asyncio's `_sock_recv`/`_sock_sendall` do. The op is also the future's
//! done callback: called by the future (cancelled from outside), it
//! unregisters itself, so cancellation leaves the fd unwatched.

use pyo3_ffi::*;
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;
use std::ptr::{self, null_mut};

use crate::core::interest::Direction;
use crate::core::sys;
use crate::python::event_loop::ready_item::{NativeCallback, ReadyItem};
use crate::python::event_loop::{unwatch_fd, LoopObject};
use crate::python::fd_owner::FdOwner;
use crate::python::ffi::borrowed::Borrowed;
use crate::python::ffi::entry::ffi_edge;
use crate::python::ffi::names;
use crate::python::ffi::objects::visit_slots;
use crate::python::ffi::owned::{clear_slot, Owned};
use crate::python::ffi::raised::{self, raise_io, PyResult, Raised};
use crate::python::ffi::type_spec::{zeroed_type_object, TypeSpec};
use crate::python::transport::read_buffer::recv_bytes;

/// What a `SockOp` does when called.
enum Work {
    /// Receive up to n bytes into a new bytes object.
    Recv(usize),
    /// Receive into the (writable) buffer held in `target`.
    RecvInto,
    /// Send the rest of `data`, starting at the offset.
    SendAll(Vec<u8>, Cell<usize>),
    /// A non-blocking connect in progress: `SO_ERROR` decides; `target`
    /// holds the address for the error message.
    Connect,
    /// Call `target.<method>(*args)` (a socket method doing one syscall,
    /// which also converts addresses) until it stops raising
    /// BlockingIOError: `sock_recvfrom`, `sock_recvfrom_into`,
    /// `sock_sendto`, `sock_accept`.
    Call {
        method: Owned,
        args: Owned,
        direction: Direction,
    },
}

#[repr(C)]
pub struct SockOpObject {
    ob_base: PyObject,
    loop_: *mut PyObject,
    future: *mut PyObject,
    /// RecvInto: the buffer; Connect: the address.
    target: *mut PyObject,
    /// The socket object: the fd is used only while it still holds it.
    sock: *mut PyObject,
    sock_fd_owner: FdOwner,
    /// The op is among the future's done callbacks.
    is_done_callback: bool,
    /// Registered with the engine as the fd's reader or writer.
    registered: bool,
    fd: RawFd,
    work: *mut RefCell<Work>,
}

pub static mut SOCK_OP_TYPE: PyTypeObject = zeroed_type_object();

/// A borrowed `SockOp`.
type SockOp<'py> = Borrowed<'py, SockOpObject>;

fn new_op(
    lp: &LoopObject,
    future: *mut PyObject,
    sock: *mut PyObject,
    target: *mut PyObject,
    fd: RawFd,
    work: Work,
) -> PyResult<Owned> {
    // SAFETY: a zeroed GC object of our type; every field set before use.
    unsafe {
        let tp = ptr::addr_of_mut!(SOCK_OP_TYPE);
        let obj = Owned::from_new(PyType_GenericAlloc(tp, 0))?;
        let op = obj.as_ptr().cast::<SockOpObject>();
        (*op).loop_ = Owned::from_borrowed(lp.as_ptr()).into_ptr();
        (*op).future = Owned::from_ptr_or_none(future).into_ptr();
        (*op).target = if target.is_null() {
            null_mut()
        } else {
            Owned::from_borrowed(target).into_ptr()
        };
        (*op).sock = Owned::from_borrowed(sock).into_ptr();
        (*op).sock_fd_owner = FdOwner::of(sock);
        (*op).is_done_callback = false;
        (*op).registered = false;
        (*op).fd = fd;
        (*op).work = Box::into_raw(Box::new(RefCell::new(work)));
        Ok(obj)
    }
}

/// `future.<name>(value)`.
fn settle(future: *mut PyObject, name: &names::Cached, value: *mut PyObject) -> PyResult<()> {
    // SAFETY: both are live; the method name is interned.
    unsafe { Owned::from_new(PyObject_CallMethodOneArg(future, name.get(), value)).map(drop) }
}

fn future_done(future: *mut PyObject) -> PyResult<bool> {
    // SAFETY: future is live; `done()` returns a bool object.
    unsafe {
        let done = Owned::from_new(PyObject_CallMethodNoArgs(future, names::S_DONE.get()))?;
        Ok(done.as_ptr() == Py_True())
    }
}

/// The socket's fd as the socket module would use it: -1 once closed (the
/// syscall then fails with EBADF, as `sock.recv()` does), not a ValueError.
fn socket_fd(sock: *mut PyObject) -> PyResult<RawFd> {
    match FdOwner::of(sock) {
        FdOwner::FilenoMethod => crate::python::ffi::args::fileobj_to_fd(sock),
        owner => Ok(owner.current_fd(sock)),
    }
}

/// recv into an object's writable buffer; returns the byte count, or None
/// when the object gives no writable buffer (the caller then lets
/// `sock.recv_into()` refuse it, in the running Python's own words).
fn recv_into(fd: RawFd, target: *mut PyObject) -> Option<std::io::Result<usize>> {
    // SAFETY: the view is filled by GetBuffer and released before returning.
    unsafe {
        let mut view: Py_buffer = std::mem::zeroed();
        if PyObject_GetBuffer(target, &mut view, PyBUF_WRITABLE) < 0 {
            PyErr_Clear();
            return None;
        }
        // An empty buffer receives nothing at once, as `sock.recv_into()`.
        let r = if view.len == 0 {
            Ok(0)
        } else {
            sys::recv(
                fd,
                std::slice::from_raw_parts_mut(view.buf.cast::<u8>(), view.len as usize),
            )
        };
        PyBuffer_Release(&mut view);
        Some(r)
    }
}

/// `sock.recv_into(buf)` through the socket object, for a buffer our own
/// view refused: the socket module's result or its own exception.
fn recv_into_by_socket(
    sock: *mut PyObject,
    buf: *mut PyObject,
) -> PyResult<Option<Result<Owned, Owned>>> {
    // SAFETY: sock and buf are live; the name is a cached interned string.
    let (method, args) = unsafe {
        (
            Owned::from_borrowed(names::S_RECV_INTO.get()),
            Owned::from_new(PyTuple_Pack(1, buf))?,
        )
    };
    call_socket_method(sock, &method, &args)
}

/// The op's socket became ready.
fn run(handle: SockOp<'_>) -> PyResult<()> {
    let op = handle.raw();
    // SAFETY: op is live (the caller holds a reference); fields set at creation.
    let (future, sock, target, work) =
        unsafe { ((*op).future, (*op).sock, (*op).target, &*(*op).work) };
    if future_done(future)? {
        return Ok(());
    }
    // A socket closed since (its number perhaps reused) fails with EBADF,
    // as asyncio's retry through the socket object does.
    // SAFETY: op is live; sock is the op's own reference.
    let fd = unsafe { (*op).sock_fd_owner.checked((*op).sock, (*op).fd) };
    let outcome = {
        let mut work = work.borrow_mut();
        attempt(&mut work, fd, sock, target)?
    };
    match outcome {
        Attempt::NotReady => Ok(()),
        Attempt::Done(name, value) => finish(handle, name, value),
    }
}

/// The op as the future's done callback: the future completed from outside
/// (cancelled), so stop watching the fd if the op is still registered.
fn future_completed(op: SockOp<'_>) -> PyResult<()> {
    let raw = op.raw();
    // SAFETY: op is live (the caller holds a reference); fields set at creation.
    unsafe {
        (*raw).is_done_callback = false;
        let direction = direction_of(&(*(*raw).work).borrow());
        unwatch(op, (*raw).fd, direction)
    }
}

/// What one readiness event achieved.
enum Attempt {
    /// The socket was not ready after all (spurious wake-up).
    NotReady,
    /// Settle the future with `set_result`/`set_exception` and this value.
    Done(&'static names::Cached, Owned),
}

/// Stops watching the fd if `op` is still its registered reader/writer
/// (someone may have replaced it, as asyncio's `_sock_read_done` allows).
fn unwatch(op: SockOp<'_>, fd: RawFd, direction: Direction) -> PyResult<()> {
    // SAFETY: op is live; its loop slot is null (cleared) or the Loop it
    // was made for, which it keeps alive.
    let (registered, lp) = unsafe { ((*op.raw()).registered, (*op.raw()).loop_) };
    if registered && !lp.is_null() {
        // SAFETY: as above.
        unwatch_fd(unsafe { LoopObject::from_ptr(lp) }, fd, direction)?;
    }
    Ok(())
}

fn direction_of(work: &Work) -> Direction {
    match work {
        Work::SendAll(..) | Work::Connect => Direction::Write,
        Work::Call { direction, .. } => *direction,
        _ => Direction::Read,
    }
}

/// One call of a socket method: its result, None while it would block, or
/// the exception it raised.
fn call_socket_method(
    sock: *mut PyObject,
    method: &Owned,
    args: &Owned,
) -> PyResult<Option<Result<Owned, Owned>>> {
    // SAFETY: sock, method and args are live; results owned.
    unsafe {
        let bound = Owned::from_new(PyObject_GetAttr(sock, method.as_ptr()))?;
        match Owned::from_new(PyObject_Call(bound.as_ptr(), args.as_ptr(), null_mut())) {
            Ok(value) => Ok(Some(Ok(value))),
            Err(Raised) => {
                if PyErr_ExceptionMatches(PyExc_BlockingIOError) != 0
                    || PyErr_ExceptionMatches(PyExc_InterruptedError) != 0
                {
                    PyErr_Clear();
                    return Ok(None);
                }
                if raised::pending_is_exit() {
                    return Err(Raised);
                }
                Ok(raised::take_pending().map(Err))
            }
        }
    }
}

/// The operation completed: unregister at once (no done callback needed
/// any more), then settle the future.
fn finish(handle: SockOp<'_>, name: &names::Cached, value: Owned) -> PyResult<()> {
    let op = handle.raw();
    // SAFETY: op is live; slots are null or owned; the future is live.
    unsafe {
        let direction = direction_of(&(*(*op).work).borrow());
        unwatch(handle, (*op).fd, direction)?;
        let future = Owned::from_borrowed((*op).future);
        if std::mem::replace(&mut (*op).is_done_callback, false) {
            Owned::from_new(PyObject_CallMethodOneArg(
                future.as_ptr(),
                names::S_REMOVE_DONE_CALLBACK.get(),
                op.cast(),
            ))?;
        }
        settle(future.as_ptr(), name, value.as_ptr())
    }
}

/// Tries the operation once.
fn attempt(
    work: &mut Work,
    fd: RawFd,
    sock: *mut PyObject,
    target: *mut PyObject,
) -> PyResult<Attempt> {
    let failed = |e: &std::io::Error| -> PyResult<Attempt> {
        if sys::would_block(e) {
            return Ok(Attempt::NotReady);
        }
        match raised::io_exception(e) {
            Some(exc) => Ok(Attempt::Done(&names::S_SET_EXCEPTION, exc)),
            None => Err(Raised),
        }
    };
    let done = |value: Owned| Ok(Attempt::Done(&names::S_SET_RESULT, value));
    match work {
        Work::Recv(n) => match recv_bytes(fd, *n) {
            Ok(data) => done(data?),
            Err(e) => failed(&e),
        },
        Work::RecvInto => match recv_into(fd, target) {
            // SAFETY: a new int reference or null.
            Some(Ok(count)) => done(unsafe { Owned::from_new(PyLong_FromSize_t(count))? }),
            Some(Err(e)) => failed(&e),
            // The buffer was released while we waited.
            None => match recv_into_by_socket(sock, target)? {
                None => Ok(Attempt::NotReady),
                Some(Ok(value)) => done(value),
                Some(Err(exc)) => Ok(Attempt::Done(&names::S_SET_EXCEPTION, exc)),
            },
        },
        Work::SendAll(data, sent) => match sys::send(fd, &data[sent.get()..]) {
            Ok(n) => {
                sent.set(sent.get() + n);
                if sent.get() == data.len() {
                    done(Owned::none())
                } else {
                    Ok(Attempt::NotReady)
                }
            }
            Err(e) => failed(&e),
        },
        Work::Connect => match sys::socket_error(fd) {
            Ok(0) => done(Owned::none()),
            Ok(errno) => Ok(Attempt::Done(
                &names::S_SET_EXCEPTION,
                connect_failed(errno, target)?,
            )),
            Err(e) => failed(&e),
        },
        Work::Call { method, args, .. } => match call_socket_method(target, method, args)? {
            None => Ok(Attempt::NotReady),
            Some(Ok(value)) => done(value),
            Some(Err(exc)) => Ok(Attempt::Done(&names::S_SET_EXCEPTION, exc)),
        },
    }
}

/// `Loop._sock_call_native(sock, method, args, for_writing)`: tries
/// `sock.<method>(*args)` at once; returns `(True, result)`, or `(False,
/// future)` after registering the retry for when the socket is ready.
pub fn sock_call(lp: &LoopObject, argv: &[*mut PyObject]) -> PyResult<Owned> {
    let [sock, method, args, for_writing] = argv else {
        return Err(crate::python::ffi::args::wrong_count(
            "_sock_call_native",
            &["sock", "method", "args", "for_writing"],
            argv.len(),
        ));
    };
    let fd = socket_fd(*sock)?;
    // SAFETY: the arguments are live borrowed references.
    let (method, args) = unsafe { (Owned::from_borrowed(*method), Owned::from_borrowed(*args)) };
    let pack = |done: bool, value: &Owned| -> PyResult<Owned> {
        let flag = crate::python::ffi::objects::bool_object(done);
        // SAFETY: both are live; the tuple is a new reference.
        unsafe { Owned::from_new(PyTuple_Pack(2, flag.as_ptr(), value.as_ptr())) }
    };
    match call_socket_method(*sock, &method, &args)? {
        Some(Ok(value)) => return pack(true, &value),
        Some(Err(exc)) => return Err(raised::restore(exc)),
        None => {}
    }
    // SAFETY: for_writing is live.
    let direction = match unsafe { PyObject_IsTrue(*for_writing) } {
        -1 => return Err(Raised),
        0 => Direction::Read,
        _ => Direction::Write,
    };
    let future = create_future(lp)?;
    let op = new_op(
        lp,
        future.as_ptr(),
        *sock,
        *sock,
        fd,
        Work::Call {
            method,
            args,
            direction,
        },
    )?;
    let future = wait_for(lp, &future, fd, op, direction)?;
    pack(false, &future)
}

/// `OSError(errno, f'Connect call failed {address}')`, as asyncio words it.
fn connect_failed(errno: i32, address: *mut PyObject) -> PyResult<Owned> {
    // SAFETY: address is live; all results are owned new references.
    unsafe {
        let shown = Owned::from_new(PyObject_Str(address))?;
        let text = format!(
            "Connect call failed {}",
            crate::python::ffi::args::utf8(shown.as_ptr())?
        );
        let message = std::ffi::CString::new(text).unwrap_or_default();
        let message = Owned::from_new(PyUnicode_FromString(message.as_ptr()))?;
        let code = Owned::from_new(PyLong_FromLong(errno as _))?;
        let args = Owned::from_new(PyTuple_Pack(2, code.as_ptr(), message.as_ptr()))?;
        Owned::from_new(PyObject_Call(PyExc_OSError, args.as_ptr(), null_mut()))
    }
}

/// `Loop._sock_connect_native(sock, address)`: None when connected at
/// once, else a future settled when the connect completes.
pub fn sock_connect(
    lp: &LoopObject,
    sock: *mut PyObject,
    address: *mut PyObject,
) -> PyResult<Owned> {
    let fd = socket_fd(sock)?;
    // SAFETY: sock is live; `connect_ex` returns the errno as an int (the
    // address is parsed by the socket module, whatever its family).
    let errno = unsafe {
        let r = Owned::from_new(PyObject_CallMethodOneArg(
            sock,
            names::S_CONNECT_EX.get(),
            address,
        ))?;
        let v = PyLong_AsLong(r.as_ptr());
        if v == -1 && !PyErr_Occurred().is_null() {
            return Err(Raised);
        }
        v as i32
    };
    if errno == 0 {
        return Ok(Owned::none());
    }
    if errno != libc::EINPROGRESS && errno != libc::EAGAIN && errno != libc::EINTR {
        // Failed at once: the errno's own message, as socket.connect() says it.
        return Err(raise_io(&std::io::Error::from_raw_os_error(errno)));
    }
    let future = create_future(lp)?;
    let op = new_op(lp, future.as_ptr(), sock, address, fd, Work::Connect)?;
    wait_for(lp, &future, fd, op, Direction::Write)
}

/// Registers `op` as the fd's reader/writer (straight in the engine: no
/// handle, no context, as it runs no user code) and an Unwatch op as the
/// future's done callback, for when the future is cancelled.
fn wait_for(
    lp: &LoopObject,
    future: &Owned,
    fd: RawFd,
    op: Owned,
    direction: Direction,
) -> PyResult<Owned> {
    let lp_obj = lp;
    if lp_obj.may_have_transport(fd) {
        // SAFETY: the loop is live; results owned.
        unsafe {
            let fd_obj = Owned::from_new(PyLong_FromLong(fd as _))?;
            Owned::from_new(PyObject_CallMethodOneArg(
                lp.as_ptr(),
                names::S_ENSURE_FD_NO_TRANSPORT.get(),
                fd_obj.as_ptr(),
            ))?;
        }
    }
    lp_obj.ensure_open()?;
    // SAFETY: op is a SockOp and SOCK_READY is the SockOp table.
    let item = unsafe { ReadyItem::native(op.clone(), &SOCK_READY) };
    let replaced = {
        let mut engine = lp_obj.engine().borrow_mut();
        engine.set_watcher(fd, direction, item)
    };
    match replaced {
        Ok(old) => {
            // SAFETY: op is our live SockOp.
            unsafe { (*op.as_ptr().cast::<SockOpObject>()).registered = true };
            if let Some(old) = old {
                old.release()?;
            }
        }
        Err((err, rejected)) => {
            drop(rejected);
            return Err(raise_io(&err));
        }
    }
    // SAFETY: op is live; the future is live; results owned.
    unsafe {
        Owned::from_new(PyObject_CallMethodOneArg(
            future.as_ptr(),
            names::S_ADD_DONE_CALLBACK.get(),
            op.as_ptr(),
        ))?;
        (*op.as_ptr().cast::<SockOpObject>()).is_done_callback = true;
    }
    Ok(future.clone())
}

/// How the engine runs a pending op: its socket is ready; or it lets go
/// of the op (someone replaced or removed the fd's reader/writer).
static SOCK_READY: NativeCallback = NativeCallback {
    // SAFETY: the engine runs this table only with a SockOp.
    run: |op| run(unsafe { SockOp::from_ptr(op) }),
    wanted: |_| true,
    // SAFETY: the engine holds a reference to the live op.
    forget: |op| unsafe { (*op.cast::<SockOpObject>()).registered = false },
    asyncio_method: None,
    debug_handle: |_| std::ptr::null_mut(),
};

fn create_future(lp: &LoopObject) -> PyResult<Owned> {
    // SAFETY: the loop is live; result owned.
    unsafe {
        Owned::from_new(PyObject_CallMethodNoArgs(
            lp.as_ptr(),
            names::S_CREATE_FUTURE.get(),
        ))
    }
}

/// `Loop._sock_recv_native(sock, n)`: bytes at once, or a future.
pub fn sock_recv(lp: &LoopObject, sock: *mut PyObject, n: *mut PyObject) -> PyResult<Owned> {
    let fd = socket_fd(sock)?;
    // SAFETY: n is live; PyNumber_Index and PyLong_AsSsize_t set an error
    // on failure.
    let size = unsafe {
        // As `sock.recv(n)` takes it: anything with `__index__`.
        let index = Owned::from_new(PyNumber_Index(n))?;
        let size = PyLong_AsSsize_t(index.as_ptr());
        if size == -1 && !PyErr_Occurred().is_null() {
            return Err(Raised);
        }
        if size < 0 {
            return Err(crate::python::ffi::raised::raise_static(
                PyExc_ValueError,
                c"negative buffersize in recv",
            ));
        }
        size as usize
    };
    if size == 0 {
        // `sock.recv(0)` returns at once without a syscall, closed or not.
        return crate::python::transport::read_buffer::bytes_of(&[]);
    }
    match recv_bytes(fd, size) {
        Ok(data) => return data,
        Err(e) if sys::would_block(&e) => {}
        Err(e) => return Err(raise_io(&e)),
    }
    let future = create_future(lp)?;
    let op = new_op(lp, future.as_ptr(), sock, null_mut(), fd, Work::Recv(size))?;
    wait_for(lp, &future, fd, op, Direction::Read)
}

/// `Loop._sock_recv_into_native(sock, buf)`: the count at once, or a future.
pub fn sock_recv_into(lp: &LoopObject, sock: *mut PyObject, buf: *mut PyObject) -> PyResult<Owned> {
    let fd = socket_fd(sock)?;
    match recv_into(fd, buf) {
        // SAFETY: a new int reference or null.
        Some(Ok(count)) => return unsafe { Owned::from_new(PyLong_FromSize_t(count)) },
        Some(Err(e)) if sys::would_block(&e) => {}
        Some(Err(e)) => return Err(raise_io(&e)),
        // A buffer recv_into() refuses (released, read-only, not
        // contiguous): the socket module's own error. Should it take the
        // buffer after all, its answer stands.
        None => match recv_into_by_socket(sock, buf)? {
            Some(Ok(value)) => return Ok(value),
            Some(Err(exc)) => return Err(raised::restore(exc)),
            None => {}
        },
    }
    let future = create_future(lp)?;
    let op = new_op(lp, future.as_ptr(), sock, buf, fd, Work::RecvInto)?;
    wait_for(lp, &future, fd, op, Direction::Read)
}

/// `Loop._sock_sendall_native(sock, data)`: None when all went at once,
/// else a future for the rest.
pub fn sock_sendall(lp: &LoopObject, sock: *mut PyObject, data: *mut PyObject) -> PyResult<Owned> {
    let fd = socket_fd(sock)?;
    // SAFETY: the view is filled by GetBuffer and released before returning.
    let bytes = unsafe {
        let mut view: Py_buffer = std::mem::zeroed();
        if PyObject_GetBuffer(data, &mut view, PyBUF_SIMPLE) < 0 {
            return Err(Raised);
        }
        let copy = std::slice::from_raw_parts(view.buf.cast::<u8>(), view.len as usize);
        let sent = match sys::send(fd, copy) {
            Ok(n) => n,
            Err(e) if sys::would_block(&e) => 0,
            Err(e) => {
                PyBuffer_Release(&mut view);
                return Err(raise_io(&e));
            }
        };
        // Only the unsent rest is kept (a copy: the caller may reuse data).
        let rest = copy[sent..].to_vec();
        PyBuffer_Release(&mut view);
        rest
    };
    if bytes.is_empty() {
        return Ok(Owned::none());
    }
    let future = create_future(lp)?;
    let op = new_op(
        lp,
        future.as_ptr(),
        sock,
        null_mut(),
        fd,
        Work::SendAll(bytes, Cell::new(0)),
    )?;
    wait_for(lp, &future, fd, op, Direction::Write)
}

unsafe extern "C" fn tp_call(
    slf: *mut PyObject,
    _args: *mut PyObject,
    _kw: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: CPython calls a type's slot only with its instances.
    let op = unsafe { SockOp::from_ptr(slf) };
    ffi_edge(|| future_completed(op).map(|_| Owned::none()))
}

unsafe extern "C" fn traverse(slf: *mut PyObject, visit: visitproc, arg: *mut c_void) -> c_int {
    let op = slf.cast::<SockOpObject>();
    // SAFETY: the GC passes a live object; each slot is null or owned; the
    // work (set at creation, freed only by dealloc) is visited only when not
    // borrowed (skipping it then under-reports, which is safe).
    unsafe {
        let rc = visit_slots(
            &[(*op).loop_, (*op).future, (*op).target, (*op).sock],
            visit,
            arg,
        );
        if rc != 0 || (*op).work.is_null() {
            return rc;
        }
        match (*(*op).work).try_borrow().as_deref() {
            Ok(Work::Call { method, args, .. }) => {
                visit_slots(&[method.as_ptr(), args.as_ptr()], visit, arg)
            }
            _ => 0,
        }
    }
}

unsafe extern "C" fn clear(slf: *mut PyObject) -> c_int {
    let op = slf.cast::<SockOpObject>();
    // SAFETY: each slot is null or owned.
    unsafe {
        clear_slot(&mut (*op).loop_);
        clear_slot(&mut (*op).future);
        clear_slot(&mut (*op).target);
        clear_slot(&mut (*op).sock);
    }
    0
}

unsafe extern "C" fn dealloc(slf: *mut PyObject) {
    // SAFETY: last reference gone: untrack, release, free the work box.
    unsafe {
        PyObject_GC_UnTrack(slf.cast());
        clear(slf);
        let op = slf.cast::<SockOpObject>();
        if !(*op).work.is_null() {
            drop(Box::from_raw((*op).work));
            (*op).work = null_mut();
        }
        crate::python::ffi::type_spec::free_object(slf);
    }
}

/// The `SockOp` type.
pub fn type_spec() -> TypeSpec {
    TypeSpec {
        tp: ptr::addr_of_mut!(SOCK_OP_TYPE),
        name: c"zloop._zloop.SockOp",
        doc: c"A pending sock_* call: its fd callback, and its future's done callback.",
        basicsize: std::mem::size_of::<SockOpObject>(),
        flags: Py_TPFLAGS_HAVE_GC,
        call: Some(tp_call),
        dealloc: Some(dealloc),
        traverse: Some(traverse),
        clear: Some(clear),
        ..TypeSpec::DEFAULTS
    }
}
