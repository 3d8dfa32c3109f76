//! `ReadyItem`: what the engine queues and runs for a `Loop`: a callback
//! handle, or readiness dispatched straight to a native object (a
//! transport's read or write side, a pending `sock_*` call) through the
//! static `NativeCallback` table of its kind. This file names no transport
//! type: adding a kind means one more table in the kind's own file.

use pyo3_ffi::*;
use std::ffi::{c_int, c_void};

use crate::core::schedulable::Schedulable;
use crate::python::ffi::names;
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::PyResult;
use crate::python::handle::HandleRef;

/// How the engine runs one kind of native readiness. Each function is
/// called only with an object of the kind the table belongs to (what
/// `ReadyItem::native` promises), borrowed for the call, so each may view
/// it as its kind's typed borrow.
pub struct NativeCallback {
    /// Handles the readiness.
    pub run: unsafe fn(*mut PyObject) -> PyResult<()>,
    /// Whether a queued event should still run (the object may have
    /// stopped reading or writing since it was queued).
    pub wanted: unsafe fn(*mut PyObject) -> bool,
    /// The engine let go of the registration (replaced or removed).
    pub forget: unsafe fn(*mut PyObject),
    /// The asyncio method this readiness stands for (`_read_ready`,
    /// `_write_ready`, `_sendto_ready`), for debug mode's handles and
    /// slow-callback reports; None for what asyncio runs as plain handles.
    pub asyncio_method: Option<&'static names::Cached>,
    /// Debug mode's handle standing for this callback (null if none).
    pub debug_handle: unsafe fn(*mut PyObject) -> *mut PyObject,
}

/// A native object and its kind's table; made only by `ReadyItem::native`.
#[derive(Clone)]
pub struct NativeReady {
    obj: Owned,
    callback: &'static NativeCallback,
}

/// A callback handle, or native readiness (no Python handle per event).
#[derive(Clone)]
pub enum ReadyItem {
    Handle(HandleRef),
    Native(NativeReady),
}

impl ReadyItem {
    /// Readiness of `obj` run through `callback`.
    ///
    /// # Safety
    /// `callback` is the table of `obj`'s kind: its functions may view the
    /// object as that kind's.
    #[inline]
    pub unsafe fn native(obj: Owned, callback: &'static NativeCallback) -> ReadyItem {
        ReadyItem::Native(NativeReady { obj, callback })
    }

    #[inline]
    pub fn run(self) -> PyResult<()> {
        match self {
            ReadyItem::Handle(handle) => handle.run(),
            // SAFETY: the pairing `native` promised.
            ReadyItem::Native(n) => unsafe { (n.callback.run)(n.obj.as_ptr()) },
        }
    }

    /// The handle, when this is one (debug-mode bookkeeping).
    pub fn handle(&self) -> Option<&HandleRef> {
        match self {
            ReadyItem::Handle(handle) => Some(handle),
            ReadyItem::Native(..) => None,
        }
    }

    /// The object and the asyncio method a native readiness stands for,
    /// with its debug handle, for debug mode's `_current_handle` and
    /// slow-callback warning.
    pub fn asyncio_callback(&self) -> Option<(&Owned, &'static names::Cached, *mut PyObject)> {
        match self {
            ReadyItem::Handle(_) => None,
            ReadyItem::Native(n) => n.callback.asyncio_method.map(|method| {
                // SAFETY: the pairing `native` promised.
                let handle = unsafe { (n.callback.debug_handle)(n.obj.as_ptr()) };
                (&n.obj, method, handle)
            }),
        }
    }

    /// Lets go of an item the engine no longer watches an fd with: a handle
    /// is cancelled (as asyncio cancels a replaced or removed reader), a
    /// native object learns it is no longer registered.
    pub fn release(self) -> PyResult<()> {
        match self {
            ReadyItem::Handle(handle) => handle.handle().cancel(),
            ReadyItem::Native(n) => {
                // SAFETY: the pairing `native` promised.
                unsafe { (n.callback.forget)(n.obj.as_ptr()) };
                Ok(())
            }
        }
    }

    /// Reports what the item references to the GC, on behalf of the loop.
    pub fn visit(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        match self {
            ReadyItem::Handle(handle) => handle.visit_engine_held(visit, arg),
            // SAFETY: the object is live (we hold a reference) and tracked.
            ReadyItem::Native(n) => unsafe { visit(n.obj.as_ptr(), arg) },
        }
    }
}

impl Schedulable for ReadyItem {
    #[inline]
    fn is_cancelled(&self) -> bool {
        match self {
            ReadyItem::Handle(handle) => handle.is_cancelled(),
            // SAFETY: the pairing `native` promised.
            ReadyItem::Native(n) => !unsafe { (n.callback.wanted)(n.obj.as_ptr()) },
        }
    }

    #[inline]
    fn unscheduled(&self) {
        if let ReadyItem::Handle(handle) = self {
            handle.unscheduled();
        }
    }
}
