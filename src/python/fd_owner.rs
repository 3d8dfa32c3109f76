//! `FdOwner`: how a transport or pending `sock_*` call tells that the
//! socket or pipe object it was given still holds the fd number it was made
//! with.
//!
//! An fd number is only a name: once the object is closed behind the
//! transport's back, the kernel hands the same number to the next socket or
//! file opened. asyncio's socket transports never notice, because every
//! syscall goes through the socket object (`sock.send` on a closed socket
//! raises EBADF). The native code makes its syscalls on the number, so before
//! each one it asks the object for its current fd and uses -1 (EBADF, the
//! same error asyncio gets) when the object no longer reports ours.
//!
//! For the two objects transports are made of in practice (`socket.socket`,
//! and `io.FileIO` for pipes) that question is a read of the fd field the
//! object's C struct starts with, checked against `fileno()` at import; any
//! other object is asked through its `fileno()` method.

use pyo3_ffi::*;
use std::ffi::c_int;
use std::os::fd::RawFd;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::python::ffi::names;
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::PyResult;

/// Where an object's current fd is read from. All-zero (`FilenoMethod`) is
/// the always-correct default.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(u8)]
pub enum FdOwner {
    /// `obj.fileno()` (a Python call).
    #[default]
    FilenoMethod = 0,
    /// The `sock_fd` field of a `_socket.socket` (or subclass) instance.
    SocketField = 1,
    /// The `fd` field of an `_io.FileIO` (or subclass) instance.
    FileIoField = 2,
}

/// `_socket.socket` / `_io.FileIO` when their fd field was found where
/// expected at import (null: ask `fileno()`).
static SOCKET_TYPE: AtomicPtr<PyTypeObject> = AtomicPtr::new(null_mut());
static FILEIO_TYPE: AtomicPtr<PyTypeObject> = AtomicPtr::new(null_mut());

/// Both structs begin `PyObject_HEAD; int fd;` (socketmodule.h, fileio.c).
const FD_FIELD_OFFSET: usize = std::mem::size_of::<PyObject>();

/// The fd field of an instance of a type whose layout was checked.
///
/// # Safety
/// `obj` is a live instance of `SOCKET_TYPE` or `FILEIO_TYPE` (or a
/// subclass, which keeps the base's layout as its prefix).
#[inline]
unsafe fn fd_field(obj: *mut PyObject) -> RawFd {
    // SAFETY: per the contract, an int lives at this offset of the object.
    unsafe { *obj.cast::<u8>().add(FD_FIELD_OFFSET).cast::<c_int>() }
}

/// `obj.fileno()` as a number; -1 if it raises or is not an int (the
/// exception is dropped: the caller's syscall then fails with EBADF).
fn fileno_of(obj: *mut PyObject) -> RawFd {
    // SAFETY: obj is live; the result is owned; a failure is cleared.
    unsafe {
        let Ok(number) = Owned::from_new(PyObject_CallMethodNoArgs(obj, names::S_FILENO.get()))
        else {
            PyErr_Clear();
            return -1;
        };
        let fd = PyLong_AsLong(number.as_ptr());
        if fd == -1 && !PyErr_Occurred().is_null() {
            PyErr_Clear();
            return -1;
        }
        RawFd::try_from(fd).unwrap_or(-1)
    }
}

impl FdOwner {
    /// How to read `obj`'s current fd, decided once per transport.
    pub fn of(obj: *mut PyObject) -> FdOwner {
        let is = |tp: &AtomicPtr<PyTypeObject>| {
            let tp = tp.load(Ordering::Relaxed);
            // SAFETY: obj is live; tp is a static type or null.
            !tp.is_null() && unsafe { PyObject_TypeCheck(obj, tp) } != 0
        };
        if is(&SOCKET_TYPE) {
            FdOwner::SocketField
        } else if is(&FILEIO_TYPE) {
            FdOwner::FileIoField
        } else {
            FdOwner::FilenoMethod
        }
    }

    /// The fd `obj` holds now (-1 once closed). `obj` is the object `self`
    /// was decided for. `FilenoMethod` runs Python code: call it before
    /// taking any borrow of the caller's state.
    #[inline]
    pub fn current_fd(self, obj: *mut PyObject) -> RawFd {
        match self {
            // SAFETY: `of` chose a field kind only for an instance of the
            // checked type; an object's type never changes to an unrelated
            // layout (`__class__` assignment requires a compatible one).
            FdOwner::SocketField | FdOwner::FileIoField => unsafe { fd_field(obj) },
            FdOwner::FilenoMethod => fileno_of(obj),
        }
    }

    /// `fd` if `obj` still holds it, else -1 (a syscall on it fails EBADF).
    #[inline]
    pub fn checked(self, obj: *mut PyObject, fd: RawFd) -> RawFd {
        if !obj.is_null() && self.current_fd(obj) == fd {
            fd
        } else {
            -1
        }
    }
}

/// Whether the fd field of `tp`'s instances is where we read it: made with
/// `make`, an instance's field must equal its `fileno()`, and -1 once
/// `close()`d.
fn layout_checked(tp: *mut PyObject, make: &[*mut PyObject]) -> bool {
    // SAFETY: tp is a live type; every result is owned; failures are cleared
    // (a type we cannot check is simply asked through fileno()).
    unsafe {
        let args = match Owned::from_new(PyTuple_New(make.len() as Py_ssize_t)) {
            Ok(a) => a,
            Err(_) => {
                PyErr_Clear();
                return false;
            }
        };
        for (i, &arg) in make.iter().enumerate() {
            Py_INCREF(arg);
            PyTuple_SET_ITEM(args.as_ptr(), i as Py_ssize_t, arg);
        }
        let Ok(obj) = Owned::from_new(PyObject_Call(tp, args.as_ptr(), null_mut())) else {
            PyErr_Clear();
            return false;
        };
        let open_ok =
            fileno_of(obj.as_ptr()) >= 0 && fd_field(obj.as_ptr()) == fileno_of(obj.as_ptr());
        let closed = Owned::from_new(PyObject_CallMethodNoArgs(
            obj.as_ptr(),
            names::S_CLOSE.get(),
        ));
        if closed.is_err() {
            PyErr_Clear();
            return false;
        }
        open_ok && fd_field(obj.as_ptr()) == -1
    }
}

/// Finds `module.name` and keeps it in `slot` if its layout checks out.
fn check_type(
    slot: &AtomicPtr<PyTypeObject>,
    module: &std::ffi::CStr,
    name: &std::ffi::CStr,
    make: &[*mut PyObject],
) -> PyResult<()> {
    // SAFETY: GIL held at import; results owned; the type object is kept
    // alive by its module for the life of the process (a strong reference
    // is leaked into the slot).
    unsafe {
        let m = Owned::from_new(PyImport_ImportModule(module.as_ptr()))?;
        let tp = Owned::from_new(PyObject_GetAttrString(m.as_ptr(), name.as_ptr()))?;
        if PyType_Check(tp.as_ptr()) != 0 && layout_checked(tp.as_ptr(), make) {
            slot.store(tp.into_ptr().cast(), Ordering::Relaxed);
        }
    }
    Ok(())
}

/// At module import: which fd fields can be read directly.
pub fn init() -> PyResult<()> {
    check_type(&SOCKET_TYPE, c"_socket", c"socket", &[])?;
    // SAFETY: a new str reference, owned.
    let null_device = unsafe { Owned::from_new(PyUnicode_FromString(c"/dev/null".as_ptr()))? };
    check_type(&FILEIO_TYPE, c"_io", c"FileIO", &[null_device.as_ptr()])
}

/// Whether the socket and FileIO layouts were recognised (tests).
pub fn fields_recognised() -> bool {
    !SOCKET_TYPE.load(Ordering::Relaxed).is_null() && !FILEIO_TYPE.load(Ordering::Relaxed).is_null()
}
