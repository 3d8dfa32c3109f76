//! Shared plumbing for the hand-written static type objects and their
//! FFI entry points.

use pyo3_ffi::*;
use std::ffi::{c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;

use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{raise_static, PyResult, Raised};

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
        // A free-threaded build keeps the flags in an atomic; the type is
        // not shared yet, so a plain store is enough.
        #[cfg(Py_GIL_DISABLED)]
        {
            *(*tp).tp_flags.get_mut() = flags;
        }
        #[cfg(not(Py_GIL_DISABLED))]
        {
            (*tp).tp_flags = flags;
        }
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

/// `PyType_Ready`, as a value.
///
/// # Safety
/// `tp` is a static type object filled by `new_type`; GIL held.
pub unsafe fn ready_type(tp: *mut PyTypeObject) -> PyResult<*mut PyTypeObject> {
    // SAFETY: per the contract.
    if unsafe { PyType_Ready(tp) } < 0 {
        return Err(Raised);
    }
    Ok(tp)
}

/// The last step of a `tp_dealloc`: gives the memory back with the type's
/// own `tp_free` (a subclass may allocate differently).
///
/// # Safety
/// `slf` is an object whose references were all released; it is not used after.
pub unsafe fn free_object(slf: *mut PyObject) {
    // SAFETY: per the contract; tp_free matches the type's allocator.
    unsafe {
        if let Some(free) = (*Py_TYPE(slf)).tp_free {
            free(slf.cast());
        }
    }
}

/// A `METH_NOARGS` method-table entry.
pub const fn noargs_def(name: &'static CStr, f: PyCFunction, doc: &'static CStr) -> PyMethodDef {
    PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: PyMethodDefPointer { PyCFunction: f },
        ml_flags: METH_NOARGS,
        ml_doc: doc.as_ptr(),
    }
}

/// A `METH_O` method-table entry.
pub const fn onearg_def(name: &'static CStr, f: PyCFunction, doc: &'static CStr) -> PyMethodDef {
    PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: PyMethodDefPointer { PyCFunction: f },
        ml_flags: METH_O,
        ml_doc: doc.as_ptr(),
    }
}

/// A `METH_FASTCALL | METH_KEYWORDS` method-table entry.
pub const fn kw_def(
    name: &'static CStr,
    f: PyCFunctionFastWithKeywords,
    doc: &'static CStr,
) -> PyMethodDef {
    PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: PyMethodDefPointer {
            PyCFunctionFastWithKeywords: f,
        },
        ml_flags: METH_FASTCALL | METH_KEYWORDS,
        ml_doc: doc.as_ptr(),
    }
}

/// `noargs!(m_name, |slf| body)` (or `m_name<S: Bound>`): a `METH_NOARGS`
/// entry point whose body returns `PyResult<Owned>`, behind `ffi_edge`.
macro_rules! noargs {
    ($name:ident $(<$g:ident: $bound:path>)?, |$slf:ident| $body:expr) => {
        unsafe extern "C" fn $name$(<$g: $bound>)?(
            $slf: *mut pyo3_ffi::PyObject,
            _: *mut pyo3_ffi::PyObject,
        ) -> *mut pyo3_ffi::PyObject {
            $crate::python::ffi::type_spec::ffi_edge(|| $body)
        }
    };
}
pub(crate) use noargs;

/// `onearg!(m_name, |slf, arg| body)`: the same for `METH_O`.
macro_rules! onearg {
    ($name:ident $(<$g:ident: $bound:path>)?, |$slf:ident, $arg:ident| $body:expr) => {
        unsafe extern "C" fn $name$(<$g: $bound>)?(
            $slf: *mut pyo3_ffi::PyObject,
            $arg: *mut pyo3_ffi::PyObject,
        ) -> *mut pyo3_ffi::PyObject {
            $crate::python::ffi::type_spec::ffi_edge(|| $body)
        }
    };
}
pub(crate) use onearg;
