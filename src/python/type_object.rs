//! Shared plumbing for the hand-written static type objects and their
//! FFI entry points.

use pyo3_ffi::*;
use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;

use super::owned::Owned;
use super::raised::{raise_static, PyResult, Raised};

/// Sets the common fields of a zero-initialized static type object.
///
/// # Safety
/// `tp` points at a static, zeroed `PyTypeObject` not yet readied; GIL held.
pub unsafe fn new_type(
    tp: *mut PyTypeObject,
    name: &'static CStr,
    basicsize: usize,
    flags: std::ffi::c_ulong,
) {
    // SAFETY: per the contract, we are the only writer of this static.
    unsafe {
        (*tp).ob_base = PyVarObject {
            ob_base: PyObject_HEAD_INIT,
            ob_size: 0,
        };
        (*tp).tp_name = name.as_ptr();
        (*tp).tp_basicsize = basicsize as Py_ssize_t;
        (*tp).tp_flags = flags;
    }
}

fn panicked() -> Raised {
    // SAFETY: PyExc_SystemError is a valid exception class.
    raise_static(
        unsafe { PyExc_SystemError },
        c"zloop: internal error (a Rust panic was stopped at the FFI boundary)",
    )
}

/// The FFI edge of a function returning an object: errors become NULL with
/// the exception set, and no panic unwinds into CPython.
#[inline]
pub fn ffi_edge<F: FnOnce() -> PyResult<Owned>>(f: F) -> *mut PyObject {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(obj)) => obj.into_ptr(),
        Ok(Err(Raised)) => null_mut(),
        Err(_) => {
            panicked();
            null_mut()
        }
    }
}

/// The FFI edge of a slot returning 0 / -1.
#[inline]
pub fn ffi_edge_int<F: FnOnce() -> PyResult<()>>(f: F) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => 0,
        Ok(Err(Raised)) => -1,
        Err(_) => {
            panicked();
            -1
        }
    }
}
