//! `Handle<'py>`: a live `Handle` or `TimerHandle`, borrowed for `'py`: made
//! once where CPython hands over the object (a method, getter or slot of
//! the type) or from a `HandleRef`, so the code inward takes a checked value
//! instead of a raw pointer and reads the fields (cells where they change)
//! without `unsafe`.

use pyo3_ffi::*;

use crate::python::event_loop::LoopObject;
use crate::python::ffi::borrowed::Borrowed;
use crate::python::ffi::names;
use crate::python::ffi::owned::{clear_slot, Owned};
use crate::python::ffi::raised::PyResult;
use crate::python::handle::HandleObject;

/// A borrowed handle.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Handle<'py>(Borrowed<'py, HandleObject>);

impl<'py> Handle<'py> {
    /// # Safety
    /// `obj` is a `Handle` or `TimerHandle` (or a subtype's instance, same
    /// layout) made by `HandleRef::new`, alive for `'py`.
    #[inline]
    pub unsafe fn from_ptr(obj: *mut PyObject) -> Handle<'py> {
        // SAFETY: per the contract.
        Handle(unsafe { Borrowed::from_ptr(obj) })
    }

    #[inline]
    pub fn as_ptr(self) -> *mut PyObject {
        self.0.as_ptr()
    }

    /// The fields: what changes after creation is in cells (the header
    /// too), so the reference may be held while Python code runs.
    #[inline]
    pub fn fields(self) -> &'py HandleObject {
        // SAFETY: the handle is live for 'py (the contract of from_ptr).
        unsafe { &*self.0.raw() }
    }

    #[inline]
    pub fn cancelled(self) -> bool {
        self.fields().cancelled.get()
    }

    /// The loop that made the handle (it keeps it until `tp_clear`).
    fn loop_object(self) -> Option<&'py LoopObject> {
        let lp = self.fields().loop_.get();
        // SAFETY: the slot holds null or the Loop given to HandleRef::new.
        (!lp.is_null()).then(|| unsafe { LoopObject::from_ptr(lp) })
    }

    /// `Handle.cancel()`: idempotent; releases the callback and its arguments.
    pub fn cancel(self) -> PyResult<()> {
        let h = self.fields();
        if h.cancelled.replace(true) {
            return Ok(());
        }
        if let Some(lp) = self.loop_object() {
            if h.scheduled.get() {
                lp.timer_cancelled();
            }
            if lp.debug() && h.repr.get().is_null() {
                let text = names::call_support(&names::S_HANDLE_REPR, &[self.as_ptr()])?;
                h.repr.set(text.into_ptr());
            }
        }
        // SAFETY: each slot holds null or one owned reference.
        unsafe {
            clear_slot(h.callback.as_ptr());
            clear_slot(h.arg0.as_ptr());
            clear_slot(h.args.as_ptr());
        }
        Ok(())
    }

    /// `Handle._args` as asyncio keeps it: the tuple, or None once cancel()
    /// released it.
    pub fn args_tuple(self) -> PyResult<Owned> {
        let h = self.fields();
        // SAFETY: each slot is null or a live reference; new references.
        unsafe {
            if h.callback.get().is_null() {
                return Ok(Owned::none());
            }
            if !h.args.get().is_null() {
                return Ok(Owned::from_borrowed(h.args.get()));
            }
            if !h.arg0.get().is_null() {
                return Owned::from_new(PyTuple_Pack(1, h.arg0.get()));
            }
            Owned::from_new(PyTuple_New(0))
        }
    }

    /// Hands the handle's private context copy back to the cyclic GC: it is
    /// about to be reachable from somewhere other than its untracked handle.
    pub fn track_context(self) {
        let h = self.fields();
        let context = h.context.get();
        // SAFETY: the slot is null or a live object; GIL held. Only our own
        // copy (a Context, a GC type) is ever tracked here.
        unsafe {
            if h.own_context && !context.is_null() && PyObject_GC_IsTracked(context) == 0 {
                PyObject_GC_Track(context.cast());
            }
        }
    }

    /// The handle's context for Python code (which may keep it).
    pub fn escaping_context(self) -> Owned {
        self.track_context();
        Owned::from_ptr_or_none(self.fields().context.get())
    }
}
