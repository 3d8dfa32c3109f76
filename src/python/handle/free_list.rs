//! `HandleFreeList`: the memory of deallocated handles, kept for the next
//! ones.
//!
//! A busy loop makes and drops a handle for every callback; giving each one
//! back to the allocator and asking for it again (with the GC's generation
//! accounting on both sides) cost about a fifth of `call_soon`'s own
//! instructions. CPython keeps freelists for its own hot GC types (lists,
//! dicts, frames) the same way: an untracked object's memory, GC header
//! included, is reused as is and only its reference count and type are set
//! again. Free-threaded builds allocate per thread; there the list stays
//! empty and every handle goes back to the allocator. So it does under
//! `PYTHONMALLOC` (`scripts/memcheck`'s `malloc`, or `debug`): a memory
//! checker then sees every handle freed, and any use after free.

use pyo3_ffi::*;
use std::ptr::{self, null_mut};

/// Enough for the handles a server makes and drops per loop iteration.
const CAPACITY: usize = 256;

pub struct HandleFreeList {
    items: [*mut PyObject; CAPACITY],
    len: usize,
    /// How many blocks the list may keep: CAPACITY, or 0 when disabled.
    limit: usize,
}

// Only touched with the GIL held (never in free-threaded builds).
static mut FREE_LIST: HandleFreeList = HandleFreeList {
    items: [null_mut(); CAPACITY],
    len: 0,
    limit: 0,
};

impl HandleFreeList {
    /// Enables the list unless `PYTHONMALLOC` asks for another allocator.
    ///
    /// # Safety
    /// The GIL is held (module import).
    pub unsafe fn init() {
        // SAFETY: the GIL serialises every access to the list.
        unsafe {
            let list = &mut *ptr::addr_of_mut!(FREE_LIST);
            list.limit = if std::env::var_os("PYTHONMALLOC").is_some_and(|v| !v.is_empty()) {
                0
            } else {
                CAPACITY
            };
        }
    }

    /// A new handle of type `tp`: reused memory when the list has some, else
    /// `PyObject_GC_New`. Only the object header is initialized.
    ///
    /// # Safety
    /// The GIL is held; `tp` is `Handle` or `TimerHandle` (one layout).
    #[inline]
    pub unsafe fn alloc<T>(tp: *mut PyTypeObject) -> *mut T {
        #[cfg(not(Py_GIL_DISABLED))]
        // SAFETY: the GIL serialises every access to the list; an item is
        // untracked memory of a handle-sized GC object nobody references.
        unsafe {
            let list = &mut *ptr::addr_of_mut!(FREE_LIST);
            if list.len > 0 {
                list.len -= 1;
                let obj = list.items[list.len];
                // Sets the type and a reference count of one, as
                // PyObject_GC_New does (the handle types are static).
                return PyObject_Init(obj, tp).cast();
            }
        }
        // SAFETY: the caller holds the GIL; tp is a ready GC type.
        unsafe { PyObject_GC_New(tp) }
    }

    /// Takes the memory of a handle whose teardown is complete (untracked,
    /// fields cleared), or gives it back to the allocator when the list is
    /// full.
    ///
    /// # Safety
    /// The GIL is held; `obj` is a dead handle, in `tp_dealloc`.
    #[inline]
    pub unsafe fn free(obj: *mut PyObject) {
        #[cfg(not(Py_GIL_DISABLED))]
        // SAFETY: the GIL serialises every access to the list.
        unsafe {
            let list = &mut *ptr::addr_of_mut!(FREE_LIST);
            if list.len < list.limit {
                list.items[list.len] = obj;
                list.len += 1;
                return;
            }
        }
        // SAFETY: obj came from PyObject_GC_New and is untracked.
        unsafe { PyObject_GC_Del(obj.cast()) }
    }

    /// Gives every kept block back to the allocator (module teardown).
    ///
    /// # Safety
    /// The GIL is held.
    pub unsafe fn drain() {
        // SAFETY: the GIL serialises every access to the list; each item
        // came from PyObject_GC_New.
        unsafe {
            let list = &mut *ptr::addr_of_mut!(FREE_LIST);
            while list.len > 0 {
                list.len -= 1;
                PyObject_GC_Del(list.items[list.len].cast());
            }
        }
    }
}
