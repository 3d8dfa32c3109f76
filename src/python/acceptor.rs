//! `Acceptor`: the native accept loop of a listening socket.
//!
//! It is the reader callback of the listening fd: each call makes up to
//! `backlog` accept attempts (`backlog + 1` from Python 3.14, as asyncio's
//! `_accept_connection`) with `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)` and
//! hands each new fd to `on_connection(fd)` (the Python edge builds the
//! protocol and transport). Running out of descriptors or memory (EMFILE,
//! ENFILE, ENOBUFS, ENOMEM) goes to `on_resource_error(exc)`, which pauses
//! accepting as asyncio does, so the server keeps serving; as in asyncio,
//! the remaining attempts of that event are still made (each one failing
//! is reported).

use pyo3_ffi::*;
use std::ffi::{c_int, c_void};
use std::os::fd::{IntoRawFd, RawFd};
use std::ptr;

use crate::core::sys;
use crate::python::fd_owner::FdOwner;
use crate::python::ffi::borrowed::Borrowed;
use crate::python::ffi::entry::ffi_edge;
use crate::python::ffi::objects::visit_slots;
use crate::python::ffi::owned::{clear_slot, Owned};
use crate::python::ffi::raised::{self, raise_io, raise_static, PyResult, Raised};
use crate::python::ffi::type_spec::{zeroed_type_object, TypeSpec};

#[repr(C)]
pub struct AcceptorObject {
    ob_base: PyObject,
    on_connection: *mut PyObject,
    on_resource_error: *mut PyObject,
    /// The listening socket object (null when made from a bare fd number):
    /// accepting stops once it no longer holds `fd`, so a socket closed
    /// behind the server's back never accepts for whoever reuses the number.
    sock: *mut PyObject,
    sock_fd_owner: FdOwner,
    fd: RawFd,
    backlog: usize,
}

pub static mut ACCEPTOR_TYPE: PyTypeObject = zeroed_type_object();

/// A borrowed `Acceptor`.
type Acceptor<'py> = Borrowed<'py, AcceptorObject>;

fn is_resource_error(errno: i32) -> bool {
    matches!(
        errno,
        libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM
    )
}

/// Accept attempts per readable event beyond `backlog`: asyncio loops
/// `range(backlog)` up to 3.13 and `range(backlog + 1)` from 3.14.
const EXTRA_ATTEMPTS: usize = if cfg!(Py_3_14) { 1 } else { 0 };

/// A connection aborted before `accept()` ends the event's accept loop up to
/// 3.13; from 3.14 asyncio discards it and goes on accepting.
const CONTINUE_AFTER_ABORTED: bool = cfg!(Py_3_14);

/// One readable event of the listening socket.
fn accept_ready(acceptor: Acceptor<'_>) -> PyResult<()> {
    let obj = acceptor.raw();
    // SAFETY: obj is a live Acceptor (the caller holds a reference).
    let backlog = unsafe { (*obj).backlog };
    for _ in 0..backlog.max(1) + EXTRA_ATTEMPTS {
        // SAFETY: as above; sock is null or the acceptor's own reference.
        // Checked on every round: on_connection may close the socket.
        let fd = unsafe {
            match (*obj).sock {
                sock if sock.is_null() => (*obj).fd,
                sock => (*obj).sock_fd_owner.checked(sock, (*obj).fd),
            }
        };
        match sys::accept(fd) {
            Ok(conn) => {
                let conn = conn.into_raw_fd();
                // SAFETY: the callback slot is live; the int is a new reference.
                unsafe {
                    let callback = Owned::from_borrowed((*obj).on_connection);
                    let arg = Owned::from_new(PyLong_FromLong(conn as _));
                    let arg = match arg {
                        Ok(arg) => arg,
                        Err(Raised) => {
                            libc::close(conn);
                            return Err(Raised);
                        }
                    };
                    Owned::from_new(PyObject_CallOneArg(callback.as_ptr(), arg.as_ptr()))?;
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) && CONTINUE_AFTER_ABORTED => {}
            Err(e) if sys::would_block(&e) || e.raw_os_error() == Some(libc::ECONNABORTED) => {
                return Ok(());
            }
            Err(e) if e.raw_os_error().is_some_and(is_resource_error) => {
                let Some(exc) = raised::io_exception(&e) else {
                    return Err(Raised);
                };
                // SAFETY: the callback slot is live; exc is owned.
                unsafe {
                    let callback = Owned::from_borrowed((*obj).on_resource_error);
                    Owned::from_new(PyObject_CallOneArg(callback.as_ptr(), exc.as_ptr()))?;
                }
            }
            // Anything else goes to the exception handler, as asyncio's
            // `_accept_connection` lets it.
            Err(e) => return Err(raise_io(&e)),
        }
    }
    Ok(())
}

unsafe extern "C" fn tp_call(
    slf: *mut PyObject,
    _args: *mut PyObject,
    _kw: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: CPython calls a type's slot only with its instances.
    let acceptor = unsafe { Acceptor::from_ptr(slf) };
    ffi_edge(|| accept_ready(acceptor).map(|_| Owned::none()))
}

/// `Acceptor(fd, backlog, on_connection, on_resource_error)`.
unsafe extern "C" fn tp_new(
    tp: *mut PyTypeObject,
    args: *mut PyObject,
    _kw: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: args is the positional tuple CPython passes to tp_new.
        unsafe {
            if PyTuple_GET_SIZE(args) != 4 {
                return Err(raise_static(
                    PyExc_TypeError,
                    c"Acceptor(fd, backlog, on_connection, on_resource_error)",
                ));
            }
            let fileobj = PyTuple_GET_ITEM(args, 0);
            let fd = crate::python::ffi::args::fileobj_to_fd(fileobj)?;
            let backlog = PyLong_AsSsize_t(PyTuple_GET_ITEM(args, 1));
            if backlog == -1 && !PyErr_Occurred().is_null() {
                return Err(Raised);
            }
            let obj = crate::python::ffi::type_spec::alloc_object(tp)?;
            let a = obj.as_ptr().cast::<AcceptorObject>();
            (*a).fd = fd;
            if PyLong_Check(fileobj) == 0 {
                (*a).sock = Owned::from_borrowed(fileobj).into_ptr();
                (*a).sock_fd_owner = FdOwner::of(fileobj);
            }
            (*a).backlog = backlog.max(1) as usize;
            (*a).on_connection = Owned::from_borrowed(PyTuple_GET_ITEM(args, 2)).into_ptr();
            (*a).on_resource_error = Owned::from_borrowed(PyTuple_GET_ITEM(args, 3)).into_ptr();
            Ok(obj)
        }
    })
}

unsafe extern "C" fn traverse(slf: *mut PyObject, visit: visitproc, arg: *mut c_void) -> c_int {
    let obj = slf.cast::<AcceptorObject>();
    // SAFETY: the GC passes a live object; each slot is null or owned.
    unsafe {
        visit_slots(
            &[(*obj).on_connection, (*obj).on_resource_error, (*obj).sock],
            visit,
            arg,
        )
    }
}

unsafe extern "C" fn clear(slf: *mut PyObject) -> c_int {
    let obj = slf.cast::<AcceptorObject>();
    // SAFETY: each slot is null or owned.
    unsafe {
        clear_slot(&mut (*obj).on_connection);
        clear_slot(&mut (*obj).on_resource_error);
        clear_slot(&mut (*obj).sock);
    }
    0
}

unsafe extern "C" fn dealloc(slf: *mut PyObject) {
    // SAFETY: last reference gone: untrack, release the slots, free.
    unsafe {
        PyObject_GC_UnTrack(slf.cast());
        clear(slf);
        crate::python::ffi::type_spec::free_object(slf);
    }
}

/// The `Acceptor` type.
pub fn type_spec() -> TypeSpec {
    TypeSpec {
        tp: ptr::addr_of_mut!(ACCEPTOR_TYPE),
        name: c"zloop._zloop.Acceptor",
        doc: c"The native accept loop of a listening socket (its reader callback).",
        basicsize: std::mem::size_of::<AcceptorObject>(),
        flags: Py_TPFLAGS_HAVE_GC,
        new: Some(tp_new),
        call: Some(tp_call),
        dealloc: Some(dealloc),
        traverse: Some(traverse),
        clear: Some(clear),
        ..TypeSpec::DEFAULTS
    }
}
