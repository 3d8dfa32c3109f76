//! `Owned`: the one place reference counts are paired.

use pyo3_ffi::*;
use std::ptr::NonNull;

use crate::python::ffi::raised::{PyResult, Raised};

/// A strong reference to a Python object; dropping it decrefs.
///
/// Every `Owned` is created, cloned and dropped with the GIL held.
pub struct Owned(NonNull<PyObject>);

impl Owned {
    /// Takes over a new reference returned by the C-API; a null pointer means
    /// the call failed and an exception is set.
    ///
    /// # Safety
    /// `ptr` is null or a new (owned) reference, and the GIL is held.
    #[inline]
    pub unsafe fn from_new(ptr: *mut PyObject) -> PyResult<Owned> {
        NonNull::new(ptr).map(Owned).ok_or(Raised)
    }

    /// Takes a new strong reference to a borrowed, non-null object.
    ///
    /// # Safety
    /// `ptr` is a valid object pointer, and the GIL is held.
    #[inline]
    pub unsafe fn from_borrowed(ptr: *mut PyObject) -> Owned {
        // SAFETY: the caller guarantees `ptr` is a live object and the GIL is held.
        unsafe { Py_INCREF(ptr) };
        // SAFETY: valid object pointers are non-null.
        Owned(unsafe { NonNull::new_unchecked(ptr) })
    }

    /// `None`, as a strong reference.
    #[inline]
    pub fn none() -> Owned {
        // SAFETY: Py_None is a valid immortal object; the GIL is held by every caller.
        unsafe { Owned::from_borrowed(Py_None()) }
    }

    #[inline]
    pub fn as_ptr(&self) -> *mut PyObject {
        self.0.as_ptr()
    }

    /// Hands the reference to the caller (the FFI edge returns it to Python).
    #[inline]
    pub fn into_ptr(self) -> *mut PyObject {
        let ptr = self.0.as_ptr();
        std::mem::forget(self);
        ptr
    }
}

impl Clone for Owned {
    #[inline]
    fn clone(&self) -> Owned {
        // SAFETY: self holds a strong reference, so the object is alive.
        unsafe { Owned::from_borrowed(self.as_ptr()) }
    }
}

impl Drop for Owned {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: self owns one strong reference, released exactly once here.
        unsafe { Py_DECREF(self.as_ptr()) }
    }
}

/// A nullable owned slot inside a native object (`Handle._callback` etc.).
///
/// # Safety
/// `slot` points at a field that holds null or one strong reference.
#[inline]
pub unsafe fn clear_slot(slot: *mut *mut PyObject) {
    // SAFETY: per the contract, the slot holds null or a reference we own;
    // it is nulled before the decref so re-entrant code never sees it dangling.
    unsafe {
        let old = *slot;
        if !old.is_null() {
            *slot = std::ptr::null_mut();
            Py_DECREF(old);
        }
    }
}

impl Owned {
    /// A new reference to `ptr`, or to None when it is null.
    pub fn from_ptr_or_none(ptr: *mut PyObject) -> Owned {
        if ptr.is_null() {
            return Owned::none();
        }
        // SAFETY: ptr is a live object (the caller's borrowed reference).
        unsafe { Owned::from_borrowed(ptr) }
    }
}
