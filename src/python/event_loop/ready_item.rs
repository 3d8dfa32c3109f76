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
use crate::python::handle::{self, HandleRef};

/// How the engine runs one kind of native readiness.
pub struct NativeCallback {
    /// Handles the readiness (the object is borrowed for the call).
    pub run: fn(*mut PyObject) -> PyResult<()>,
    /// Whether a queued event should still run (the object may have
    /// stopped reading or writing since it was queued).
    pub wanted: fn(*mut PyObject) -> bool,
    /// The engine let go of the registration (replaced or removed).
    pub forget: fn(*mut PyObject),
    /// The asyncio method this readiness stands for (`_read_ready`,
    /// `_write_ready`, `_sendto_ready`), for debug mode's handles and
    /// slow-callback reports; None for what asyncio runs as plain handles.
    pub asyncio_method: Option<&'static names::Cached>,
    /// Debug mode's handle standing for this callback (null if none).
    pub debug_handle: fn(*mut PyObject) -> *mut PyObject,
}

/// A callback handle, or native readiness (no Python handle per event).
#[derive(Clone)]
pub enum ReadyItem {
    Handle(HandleRef),
    Native(Owned, &'static NativeCallback),
}

impl ReadyItem {
    #[inline]
    pub fn run(self) -> PyResult<()> {
        match self {
            ReadyItem::Handle(handle) => handle.run(),
            ReadyItem::Native(obj, callback) => (callback.run)(obj.as_ptr()),
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
            ReadyItem::Native(obj, callback) => callback
                .asyncio_method
                .map(|method| (obj, method, (callback.debug_handle)(obj.as_ptr()))),
        }
    }

    /// Lets go of an item the engine no longer watches an fd with: a handle
    /// is cancelled (as asyncio cancels a replaced or removed reader), a
    /// native object learns it is no longer registered.
    pub fn release(self) -> PyResult<()> {
        match self {
            ReadyItem::Handle(handle) => handle::cancel(handle.obj()),
            ReadyItem::Native(obj, callback) => {
                (callback.forget)(obj.as_ptr());
                Ok(())
            }
        }
    }

    /// Reports what the item references to the GC, on behalf of the loop.
    pub fn visit(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        match self {
            ReadyItem::Handle(handle) => handle.visit_engine_held(visit, arg),
            // SAFETY: the object is live (we hold a reference) and tracked.
            ReadyItem::Native(obj, _) => unsafe { visit(obj.as_ptr(), arg) },
        }
    }
}

impl Schedulable for ReadyItem {
    #[inline]
    fn is_cancelled(&self) -> bool {
        match self {
            ReadyItem::Handle(handle) => handle.is_cancelled(),
            ReadyItem::Native(obj, callback) => !(callback.wanted)(obj.as_ptr()),
        }
    }

    #[inline]
    fn unscheduled(&self) {
        if let ReadyItem::Handle(handle) = self {
            handle.unscheduled();
        }
    }
}
