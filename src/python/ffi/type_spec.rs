//! Building the hand-written static type objects: filling, readying and
//! freeing.

use pyo3_ffi::*;
use std::ffi::CStr;

use crate::python::ffi::raised::{PyResult, Raised};

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
