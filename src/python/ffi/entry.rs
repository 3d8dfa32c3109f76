//! The one way a native function is entered from CPython: `ffi_edge` turns
//! errors (values until here) into NULL/-1 with the exception set and stops
//! panics; the `noargs!`/`onearg!` macros and the method-table builders
//! wrap it for method tables.

use pyo3_ffi::*;
use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;

use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{raise_static, PyResult, Raised};

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

/// A `METH_FASTCALL` method-table entry.
pub const fn fast_def(name: &'static CStr, f: PyCFunctionFast, doc: &'static CStr) -> PyMethodDef {
    PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: PyMethodDefPointer { PyCFunctionFast: f },
        ml_flags: METH_FASTCALL,
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
/// `|slf: T| body` hands the body `T::from_ptr(self)`, the typed borrow of
/// the type whose method table holds the entry (`T` says which).
macro_rules! noargs {
    ($vis:vis $name:ident $(<$g:ident: $bound:path>)?, |$slf:ident: $ty:ty| $body:expr) => {
        $vis unsafe extern "C" fn $name$(<$g: $bound>)?(
            $slf: *mut pyo3_ffi::PyObject,
            _: *mut pyo3_ffi::PyObject,
        ) -> *mut pyo3_ffi::PyObject {
            // SAFETY: CPython calls a method only with an instance of the
            // type whose table holds it (or of a subtype, same layout).
            let $slf = unsafe { <$ty>::from_ptr($slf) };
            $crate::python::ffi::entry::ffi_edge(|| $body)
        }
    };
    ($vis:vis $name:ident $(<$g:ident: $bound:path>)?, |$slf:ident| $body:expr) => {
        $vis unsafe extern "C" fn $name$(<$g: $bound>)?(
            $slf: *mut pyo3_ffi::PyObject,
            _: *mut pyo3_ffi::PyObject,
        ) -> *mut pyo3_ffi::PyObject {
            $crate::python::ffi::entry::ffi_edge(|| $body)
        }
    };
}
pub(crate) use noargs;

/// `onearg!(m_name, |slf, arg| body)`: the same for `METH_O`.
macro_rules! onearg {
    ($vis:vis $name:ident $(<$g:ident: $bound:path>)?, |$slf:ident: $ty:ty, $arg:ident| $body:expr) => {
        $vis unsafe extern "C" fn $name$(<$g: $bound>)?(
            $slf: *mut pyo3_ffi::PyObject,
            $arg: *mut pyo3_ffi::PyObject,
        ) -> *mut pyo3_ffi::PyObject {
            // SAFETY: CPython calls a method only with an instance of the
            // type whose table holds it (or of a subtype, same layout).
            let $slf = unsafe { <$ty>::from_ptr($slf) };
            $crate::python::ffi::entry::ffi_edge(|| $body)
        }
    };
    ($vis:vis $name:ident $(<$g:ident: $bound:path>)?, |$slf:ident, $arg:ident| $body:expr) => {
        $vis unsafe extern "C" fn $name$(<$g: $bound>)?(
            $slf: *mut pyo3_ffi::PyObject,
            $arg: *mut pyo3_ffi::PyObject,
        ) -> *mut pyo3_ffi::PyObject {
            $crate::python::ffi::entry::ffi_edge(|| $body)
        }
    };
}
pub(crate) use onearg;

/// `getter!(get_name, |slf: T| body)` (or `get_name<S: Bound>`): a getset
/// getter whose body returns `PyResult<Owned>`, given the typed borrow `T`
/// of the type whose getset table holds it.
macro_rules! getter {
    ($vis:vis $name:ident $(<$g:ident: $bound:path>)?, |$slf:ident: $ty:ty| $body:expr) => {
        $vis unsafe extern "C" fn $name$(<$g: $bound>)?(
            $slf: *mut pyo3_ffi::PyObject,
            _: *mut std::ffi::c_void,
        ) -> *mut pyo3_ffi::PyObject {
            // SAFETY: CPython calls a getter only with an instance of the
            // type whose table holds it (or of a subtype, same layout).
            let $slf = unsafe { <$ty>::from_ptr($slf) };
            $crate::python::ffi::entry::ffi_edge(|| $body)
        }
    };
}
pub(crate) use getter;
