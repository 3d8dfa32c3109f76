//! `Borrowed<'py, T>`: a live native object whose layout is `T`, borrowed
//! for `'py`. It is made once where CPython or the engine hands over the
//! object (a slot or method of the type, its readiness table), so the
//! functions inward take a value whose type carries that promise instead
//! of a raw pointer. Objects with methods of their own wrap it
//! (`Transport`, `Handle`); the loop is borrowed as `&LoopObject`.

use pyo3_ffi::PyObject;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A borrowed native object of layout `T`.
#[repr(transparent)]
pub struct Borrowed<'py, T> {
    obj: NonNull<T>,
    _borrow: PhantomData<&'py T>,
}

impl<T> Clone for Borrowed<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Borrowed<'_, T> {}

impl<'py, T> Borrowed<'py, T> {
    /// # Safety
    /// `obj` is a live object whose layout is `T`, alive for `'py`.
    #[inline]
    pub unsafe fn from_ptr(obj: *mut PyObject) -> Borrowed<'py, T> {
        Borrowed {
            // SAFETY: per the contract the pointer is a live object.
            obj: unsafe { NonNull::new_unchecked(obj.cast()) },
            _borrow: PhantomData,
        }
    }

    #[inline]
    pub fn as_ptr(self) -> *mut PyObject {
        self.obj.as_ptr().cast()
    }

    /// The layout, for its fields: valid for `'py` (the type's promise);
    /// the GIL serialises every access.
    #[inline]
    pub fn raw(self) -> *mut T {
        self.obj.as_ptr()
    }
}
