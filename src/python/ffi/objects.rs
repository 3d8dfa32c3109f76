//! Small helpers for the objects every native type hands out or reads:
//! bools, getset tables, GC traversal of reference slots, the
//! interpreter's state.

use pyo3_ffi::*;
use std::ffi::{c_int, c_void};
use std::ptr;

use crate::python::ffi::owned::Owned;

#[cfg(not(Py_3_13))]
extern "C" {
    /// Exported by CPython 3.11 and 3.12 (`Py_IsFinalizing` from 3.13 on).
    fn _Py_IsFinalizing() -> c_int;
}

/// Whether the interpreter is shutting down (then nothing can be imported).
pub fn interpreter_finalizing() -> bool {
    #[cfg(Py_3_13)]
    // SAFETY: a plain query, valid at any time with the GIL held.
    let finalizing = unsafe { Py_IsFinalizing() };
    #[cfg(not(Py_3_13))]
    // SAFETY: as above (the same function under its older name).
    let finalizing = unsafe { _Py_IsFinalizing() };
    finalizing != 0
}

/// `tp_traverse` over an object's reference slots: visits the non-null ones,
/// stopping at the first non-zero answer, as `Py_VISIT` does.
///
/// # Safety
/// Every non-null pointer is a live object owned by the traversed object.
pub unsafe fn visit_slots(slots: &[*mut PyObject], visit: visitproc, arg: *mut c_void) -> c_int {
    for &slot in slots {
        if !slot.is_null() {
            // SAFETY: per the contract.
            let rc = unsafe { visit(slot, arg) };
            if rc != 0 {
                return rc;
            }
        }
    }
    0
}

/// The all-null entry that ends a `tp_getset` table.
pub const GETSET_END: PyGetSetDef = PyGetSetDef {
    name: std::ptr::null(),
    get: None,
    set: None,
    doc: std::ptr::null(),
    closure: std::ptr::null_mut(),
};

pub fn bool_object(value: bool) -> Owned {
    // SAFETY: PyBool_FromLong never fails.
    unsafe { Owned::from_new(PyBool_FromLong(value as _)).unwrap_or_else(|_| Owned::none()) }
}

pub const fn getset_ro(name: &'static std::ffi::CStr, get: getter) -> PyGetSetDef {
    PyGetSetDef {
        name: name.as_ptr(),
        get: Some(get),
        set: None,
        doc: ptr::null(),
        closure: ptr::null_mut(),
    }
}

pub const fn getset_rw(name: &'static std::ffi::CStr, get: getter, set: setter) -> PyGetSetDef {
    PyGetSetDef {
        name: name.as_ptr(),
        get: Some(get),
        set: Some(set),
        doc: ptr::null(),
        closure: ptr::null_mut(),
    }
}
