//! Errors as values: `Raised` means "a Python exception is set".

use pyo3_ffi::*;
use std::ffi::CStr;
use std::io;

use crate::python::ffi::owned::Owned;

/// Marker for "the callee set a Python exception"; turned into a NULL/-1
/// return only at the FFI edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised;

pub type PyResult<T> = Result<T, Raised>;

/// Sets `exc_type(message)` and returns the marker.
pub fn raise(exc_type: *mut PyObject, message: &str) -> Raised {
    let text = std::ffi::CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // SAFETY: exc_type is an exception class and text a valid C string; GIL held.
    unsafe { PyErr_SetString(exc_type, text.as_ptr()) };
    Raised
}

/// Sets `exc_type(message)` from a static C string.
pub fn raise_static(exc_type: *mut PyObject, message: &CStr) -> Raised {
    // SAFETY: as in `raise`.
    unsafe { PyErr_SetString(exc_type, message.as_ptr()) };
    Raised
}

/// A failed syscall as an `OSError` instance (the errno's subclass), not
/// raised; None only if making it failed (that error is then pending).
pub fn io_exception(err: &io::Error) -> Option<Owned> {
    raise_io(err);
    take_pending()
}

/// Sets an `OSError` (the errno's subclass, as Python's own calls do).
pub fn raise_io(err: &io::Error) -> Raised {
    match err.raw_os_error() {
        Some(errno) => {
            // SAFETY: PyErr_SetFromErrno reads the thread's errno, which we set
            // to the saved value first; GIL held.
            unsafe {
                *libc::__errno_location() = errno;
                PyErr_SetFromErrno(PyExc_OSError);
            }
            Raised
        }
        // SAFETY: PyExc_OSError is a valid exception class.
        None => raise(unsafe { PyExc_OSError }, &err.to_string()),
    }
}

/// Whether the pending exception is KeyboardInterrupt or SystemExit, the two
/// that asyncio lets escape from a callback.
pub fn pending_is_exit() -> bool {
    // SAFETY: plain queries of the error indicator; GIL held.
    unsafe {
        PyErr_ExceptionMatches(PyExc_KeyboardInterrupt) != 0
            || PyErr_ExceptionMatches(PyExc_SystemExit) != 0
    }
}

/// Takes the pending exception out of the error indicator, normalized, with
/// its traceback attached.
pub fn take_pending() -> Option<crate::python::ffi::owned::Owned> {
    #[cfg(Py_3_12)]
    {
        // SAFETY: returns a new reference or null; GIL held.
        unsafe { crate::python::ffi::owned::Owned::from_new(PyErr_GetRaisedException()).ok() }
    }
    #[cfg(not(Py_3_12))]
    {
        let mut ptype = std::ptr::null_mut();
        let mut value = std::ptr::null_mut();
        let mut tb = std::ptr::null_mut();
        // SAFETY: Fetch hands us three owned (possibly null) references;
        // Normalize replaces them in place; we release type and traceback.
        #[allow(deprecated)]
        unsafe {
            PyErr_Fetch(&mut ptype, &mut value, &mut tb);
            if ptype.is_null() {
                return None;
            }
            PyErr_NormalizeException(&mut ptype, &mut value, &mut tb);
            if !tb.is_null() && !value.is_null() {
                PyException_SetTraceback(value, tb);
            }
            Py_XDECREF(ptype);
            Py_XDECREF(tb);
            crate::python::ffi::owned::Owned::from_new(value).ok()
        }
    }
}

/// Puts an exception taken by `take_pending` back as the pending one.
pub fn restore(exc: crate::python::ffi::owned::Owned) -> Raised {
    #[cfg(Py_3_12)]
    // SAFETY: SetRaisedException steals the reference; GIL held.
    unsafe {
        PyErr_SetRaisedException(exc.into_ptr())
    };
    #[cfg(not(Py_3_12))]
    // SAFETY: Restore steals three references: a new one to the type, the
    // instance's own, and the new one GetTraceback returns (or null).
    #[allow(deprecated)]
    unsafe {
        let value = exc.into_ptr();
        let ptype: *mut PyObject = Py_TYPE(value).cast();
        Py_INCREF(ptype);
        PyErr_Restore(ptype, value, PyException_GetTraceback(value));
    };
    Raised
}

/// The pending exception when it is a BufferError (taken), else None with
/// the exception left pending.
pub fn take_buffer_error() -> Option<Owned> {
    // SAFETY: checks and takes the current thread's pending exception.
    if unsafe { PyErr_ExceptionMatches(PyExc_BufferError) } == 0 {
        return None;
    }
    take_pending()
}
