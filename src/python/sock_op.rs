//! `SockOp`: the native halves of `sock_recv`, `sock_recv_into` and
//! `sock_sendall`.
//!
//! Each first tries the syscall at once; only when the socket is not ready
//! does it make a future and register a `SockOp` as the fd's reader (or
//! writer) callback, which completes the future when the socket is ready, as
//! asyncio's `_sock_recv`/`_sock_sendall` do. The future's done callback
//! (also a `SockOp`) unregisters it, so cancellation leaves the fd unwatched.

use pyo3_ffi::*;
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;
use std::ptr::{self, null_mut};

use super::event_loop::{add_io, Direction};
use super::names;
use super::owned::{clear_slot, Owned};
use super::raised::{self, raise_io, PyResult, Raised};
use super::read_buffer::recv_bytes;
use super::type_object::{ffi_edge, new_type};
use crate::core::sys;

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
    /// Done callback of the future: stop watching the fd (reader or writer)
    /// unless its handle was cancelled.
    Unwatch(Direction),
}

#[repr(C)]
pub struct SockOpObject {
    ob_base: PyObject,
    loop_: *mut PyObject,
    future: *mut PyObject,
    /// RecvInto: the buffer; Unwatch: the reader/writer handle.
    target: *mut PyObject,
    fd: RawFd,
    work: *mut RefCell<Work>,
}

pub static mut SOCK_OP_TYPE: PyTypeObject = unsafe { std::mem::zeroed() };

fn new_op(
    lp: *mut PyObject,
    future: *mut PyObject,
    target: *mut PyObject,
    fd: RawFd,
    work: Work,
) -> PyResult<Owned> {
    // SAFETY: a zeroed GC object of our type; every field set before use.
    unsafe {
        let tp = ptr::addr_of_mut!(SOCK_OP_TYPE);
        let obj = Owned::from_new(PyType_GenericAlloc(tp, 0))?;
        let op = obj.as_ptr().cast::<SockOpObject>();
        (*op).loop_ = Owned::from_borrowed(lp).into_ptr();
        (*op).future = Owned::from_ptr_or_none(future).into_ptr();
        (*op).target = if target.is_null() {
            null_mut()
        } else {
            Owned::from_borrowed(target).into_ptr()
        };
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

/// recv into an object's writable buffer; returns the byte count.
fn recv_into(fd: RawFd, target: *mut PyObject) -> PyResult<std::io::Result<usize>> {
    // SAFETY: the view is filled by GetBuffer and released before returning.
    unsafe {
        let mut view: Py_buffer = std::mem::zeroed();
        if PyObject_GetBuffer(target, &mut view, PyBUF_WRITABLE) < 0 {
            return Err(Raised);
        }
        let region = std::slice::from_raw_parts_mut(view.buf.cast::<u8>(), view.len as usize);
        let r = sys::recv(fd, region);
        PyBuffer_Release(&mut view);
        Ok(r)
    }
}

/// The pending exception of a failed syscall, as an object.
fn io_exception(err: &std::io::Error) -> Option<Owned> {
    raise_io(err);
    raised::take_pending()
}

fn fail(future: *mut PyObject, err: &std::io::Error) -> PyResult<()> {
    match io_exception(err) {
        Some(exc) => settle(future, &names::S_SET_EXCEPTION, exc.as_ptr()),
        None => Err(Raised),
    }
}

/// One call of a `SockOp`: the socket became ready, or (Unwatch) the future
/// completed.
fn run(op: *mut SockOpObject) -> PyResult<()> {
    // SAFETY: op is live (the caller holds a reference); fields set at creation.
    let (lp, future, target, fd, work) = unsafe {
        (
            (*op).loop_,
            (*op).future,
            (*op).target,
            (*op).fd,
            &*(*op).work,
        )
    };
    if let Work::Unwatch(direction) = *work.borrow() {
        // SAFETY: target is the handle; `cancelled()` returns a bool.
        let cancelled = unsafe {
            let r = Owned::from_new(PyObject_CallMethodNoArgs(target, names::S_CANCELLED.get()))?;
            r.as_ptr() == Py_True()
        };
        if !cancelled {
            let name = match direction {
                Direction::Reader => &names::S_REMOVE_READER,
                Direction::Writer => &names::S_REMOVE_WRITER,
            };
            // SAFETY: a new int reference; the loop is live.
            unsafe {
                let fd_obj = Owned::from_new(PyLong_FromLong(fd as _))?;
                Owned::from_new(PyObject_CallMethodOneArg(lp, name.get(), fd_obj.as_ptr()))?;
            }
        }
        return Ok(());
    }
    if future_done(future)? {
        return Ok(());
    }
    let mut work = work.borrow_mut();
    match &mut *work {
        Work::Recv(n) => match recv_bytes(fd, *n) {
            Ok(data) => settle(future, &names::S_SET_RESULT, data?.as_ptr()),
            Err(e) if sys::would_block(&e) => Ok(()),
            Err(e) => fail(future, &e),
        },
        Work::RecvInto => match recv_into(fd, target)? {
            Ok(count) => {
                // SAFETY: a new int reference or null.
                let count = unsafe { Owned::from_new(PyLong_FromSize_t(count))? };
                settle(future, &names::S_SET_RESULT, count.as_ptr())
            }
            Err(e) if sys::would_block(&e) => Ok(()),
            Err(e) => fail(future, &e),
        },
        Work::SendAll(data, sent) => match sys::send(fd, &data[sent.get()..]) {
            Ok(n) => {
                sent.set(sent.get() + n);
                if sent.get() == data.len() {
                    // SAFETY: Py_None is immortal.
                    settle(future, &names::S_SET_RESULT, unsafe { Py_None() })
                } else {
                    Ok(())
                }
            }
            Err(e) if sys::would_block(&e) => Ok(()),
            Err(e) => fail(future, &e),
        },
        Work::Connect => match sys::socket_error(fd) {
            // SAFETY: Py_None is immortal.
            Ok(0) => settle(future, &names::S_SET_RESULT, unsafe { Py_None() }),
            Ok(errno) => {
                let exc = connect_failed(errno, target)?;
                settle(future, &names::S_SET_EXCEPTION, exc.as_ptr())
            }
            Err(e) if sys::would_block(&e) => Ok(()),
            Err(e) => fail(future, &e),
        },
        Work::Unwatch(_) => Ok(()),
    }
}

/// `OSError(errno, f'Connect call failed {address}')`, as asyncio words it.
fn connect_failed(errno: i32, address: *mut PyObject) -> PyResult<Owned> {
    // SAFETY: address is live; all results are owned new references.
    unsafe {
        let shown = Owned::from_new(PyObject_Str(address))?;
        let text = format!("Connect call failed {}", super::args::utf8(shown.as_ptr())?);
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
    lp: *mut PyObject,
    sock: *mut PyObject,
    address: *mut PyObject,
) -> PyResult<Owned> {
    let fd = super::args::fileobj_to_fd(sock)?;
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
    let op = new_op(lp, future.as_ptr(), address, fd, Work::Connect)?;
    wait_for(lp, &future, fd, op, Direction::Writer)
}

/// Registers `op` as the fd's reader/writer and the future's done callback.
fn wait_for(
    lp: *mut PyObject,
    future: &Owned,
    fd: RawFd,
    op: Owned,
    direction: Direction,
) -> PyResult<Owned> {
    // SAFETY: the loop and future are live; results owned.
    unsafe {
        let fd_obj = Owned::from_new(PyLong_FromLong(fd as _))?;
        Owned::from_new(PyObject_CallMethodOneArg(
            lp,
            names::S_ENSURE_FD_NO_TRANSPORT.get(),
            fd_obj.as_ptr(),
        ))?;
        let handle = add_io(lp, &[fd_obj.as_ptr(), op.as_ptr()], direction)?;
        let unwatch = new_op(
            lp,
            null_mut(),
            handle.as_ptr(),
            fd,
            Work::Unwatch(direction),
        )?;
        Owned::from_new(PyObject_CallMethodOneArg(
            future.as_ptr(),
            names::S_ADD_DONE_CALLBACK.get(),
            unwatch.as_ptr(),
        ))?;
    }
    Ok(future.clone())
}

fn create_future(lp: *mut PyObject) -> PyResult<Owned> {
    // SAFETY: the loop is live; result owned.
    unsafe { Owned::from_new(PyObject_CallMethodNoArgs(lp, names::S_CREATE_FUTURE.get())) }
}

/// `Loop._sock_recv_native(sock, n)`: bytes at once, or a future.
pub fn sock_recv(lp: *mut PyObject, sock: *mut PyObject, n: *mut PyObject) -> PyResult<Owned> {
    let fd = super::args::fileobj_to_fd(sock)?;
    // SAFETY: n is live; PyLong_AsSsize_t sets an error on failure.
    let size = unsafe {
        let size = PyLong_AsSsize_t(n);
        if size == -1 && !PyErr_Occurred().is_null() {
            return Err(Raised);
        }
        if size < 0 {
            return Err(super::raised::raise_static(
                PyExc_ValueError,
                c"negative buffersize in recv",
            ));
        }
        size as usize
    };
    match recv_bytes(fd, size) {
        Ok(data) => return data,
        Err(e) if sys::would_block(&e) => {}
        Err(e) => return Err(raise_io(&e)),
    }
    let future = create_future(lp)?;
    let op = new_op(lp, future.as_ptr(), null_mut(), fd, Work::Recv(size))?;
    wait_for(lp, &future, fd, op, Direction::Reader)
}

/// `Loop._sock_recv_into_native(sock, buf)`: the count at once, or a future.
pub fn sock_recv_into(
    lp: *mut PyObject,
    sock: *mut PyObject,
    buf: *mut PyObject,
) -> PyResult<Owned> {
    let fd = super::args::fileobj_to_fd(sock)?;
    match recv_into(fd, buf)? {
        // SAFETY: a new int reference or null.
        Ok(count) => return unsafe { Owned::from_new(PyLong_FromSize_t(count)) },
        Err(e) if sys::would_block(&e) => {}
        Err(e) => return Err(raise_io(&e)),
    }
    let future = create_future(lp)?;
    let op = new_op(lp, future.as_ptr(), buf, fd, Work::RecvInto)?;
    wait_for(lp, &future, fd, op, Direction::Reader)
}

/// `Loop._sock_sendall_native(sock, data)`: None when all went at once,
/// else a future for the rest.
pub fn sock_sendall(
    lp: *mut PyObject,
    sock: *mut PyObject,
    data: *mut PyObject,
) -> PyResult<Owned> {
    let fd = super::args::fileobj_to_fd(sock)?;
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
        null_mut(),
        fd,
        Work::SendAll(bytes, Cell::new(0)),
    )?;
    wait_for(lp, &future, fd, op, Direction::Writer)
}

unsafe extern "C" fn tp_call(
    slf: *mut PyObject,
    _args: *mut PyObject,
    _kw: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| run(slf.cast()).map(|_| Owned::none()))
}

unsafe extern "C" fn traverse(slf: *mut PyObject, visit: visitproc, arg: *mut c_void) -> c_int {
    let op = slf.cast::<SockOpObject>();
    // SAFETY: the GC passes a live object; each slot is null or live.
    unsafe {
        for field in [(*op).loop_, (*op).future, (*op).target] {
            if !field.is_null() {
                let rc = visit(field, arg);
                if rc != 0 {
                    return rc;
                }
            }
        }
    }
    0
}

unsafe extern "C" fn clear(slf: *mut PyObject) -> c_int {
    let op = slf.cast::<SockOpObject>();
    // SAFETY: each slot is null or owned.
    unsafe {
        clear_slot(&mut (*op).loop_);
        clear_slot(&mut (*op).future);
        clear_slot(&mut (*op).target);
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
        if let Some(free) = (*Py_TYPE(slf)).tp_free {
            free(slf.cast());
        }
    }
}

/// Fills and readies the static `SockOp` type.
pub fn ready() -> PyResult<*mut PyTypeObject> {
    // SAFETY: called once at import with the GIL held.
    unsafe {
        let tp = ptr::addr_of_mut!(SOCK_OP_TYPE);
        new_type(
            tp,
            c"zloop._zloop.SockOp",
            std::mem::size_of::<SockOpObject>(),
            Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
        );
        (*tp).tp_doc =
            c"A pending sock_recv/sock_recv_into/sock_sendall (its fd callback).".as_ptr();
        (*tp).tp_call = Some(tp_call);
        (*tp).tp_dealloc = Some(dealloc);
        (*tp).tp_traverse = Some(traverse);
        (*tp).tp_clear = Some(clear);
        if PyType_Ready(tp) < 0 {
            return Err(Raised);
        }
        Ok(tp)
    }
}
