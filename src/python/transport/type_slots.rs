//! The type slots every transport type shares (GC traversal and clear,
//! finalizer, dealloc) and the `TypeSpec` they make up.

use pyo3_ffi::*;
use std::ffi::{c_int, c_void};
use std::ptr::null_mut;

use crate::python::ffi::names::call_support;
use crate::python::ffi::raised;
use crate::python::ffi::type_spec::TypeSpec;
use crate::python::transport::registration::loop_of;
use crate::python::transport::{ObjectRefs, Transport, TransportKind, TransportObject};

/// The common part of the object a slot was given. Slots run on objects
/// whose state may not be set (a failed `tp_new`), so they read the state
/// through the raw layout, checking it.
///
/// # Safety
/// `slf` is a live transport, as CPython calls a type's slots with.
unsafe fn common<'py>(slf: *mut PyObject) -> Transport<'py> {
    // SAFETY: per the contract; the common part needs no state.
    unsafe { Transport::from_ptr(slf) }
}

unsafe extern "C" fn traverse<S: TransportKind>(
    slf: *mut PyObject,
    visit: visitproc,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: the GC passes a live object; each slot is null or live; the
    // state, when set, is an S.
    unsafe {
        let s = common(slf).refs();
        let rc = crate::python::ffi::objects::visit_slots(
            &[
                s.dict.get(),
                s.loop_.get(),
                s.io.get(),
                s.protocol.get(),
                s.extra.get(),
                s.read_context.get(),
                s.write_context.get(),
                s.read_handle.get(),
                s.write_handle.get(),
                s.connection_context.get(),
            ],
            visit,
            arg,
        );
        let st = (*slf.cast::<TransportObject<S>>()).state;
        if rc != 0 || st.is_null() {
            return rc;
        }
        (*st).visit(visit, arg)
    }
}

unsafe extern "C" fn clear<S: TransportKind>(slf: *mut PyObject) -> c_int {
    // SAFETY: CPython passes a live object; the state, when set, is an S.
    let s = unsafe {
        let st = (*slf.cast::<TransportObject<S>>()).state;
        if !st.is_null() {
            (*st).clear();
        }
        common(slf).refs()
    };
    s.dict.clear();
    s.protocol.clear();
    s.extra.clear();
    s.read_context.clear();
    s.write_context.clear();
    s.read_handle.clear();
    s.write_handle.clear();
    s.connection_context.clear();
    s.io.clear();
    s.loop_.clear();
    0
}

/// `__del__`: an unclosed transport warns (ResourceWarning) and closes its
/// socket or pipe, as asyncio's does.
unsafe extern "C" fn finalize<S: TransportKind>(slf: *mut PyObject) {
    // SAFETY: called by CPython with the object intact; the pending
    // exception is saved and restored around the Python call.
    unsafe {
        // At interpreter shutdown warnings cannot be issued; the socket or
        // pipe object closes itself when it goes.
        if common(slf).io_object().is_null()
            || (*slf.cast::<TransportObject<S>>()).state.is_null()
            || crate::python::ffi::objects::interpreter_finalizing()
        {
            return;
        }
        let saved = raised::take_pending();
        if call_support(S::unclosed_warning(), &[slf]).is_err() {
            PyErr_WriteUnraisable(slf);
        }
        if let Some(exc) = saved {
            raised::restore(exc);
        }
    }
}

unsafe extern "C" fn dealloc<S: TransportKind>(slf: *mut PyObject) {
    // SAFETY: last reference gone. The finalizer may resurrect the object;
    // then we stop. Otherwise untrack, release the slots and the state.
    unsafe {
        if PyObject_CallFinalizerFromDealloc(slf) < 0 {
            return;
        }
        PyObject_GC_UnTrack(slf.cast());
        let t = common(slf);
        if !t.refs().weakreflist.get().is_null() {
            PyObject_ClearWeakRefs(slf);
        }
        let o = slf.cast::<TransportObject<S>>();
        if S::TRACKS_FD && !t.io_object().is_null() && !(*o).state.is_null() {
            if let Some(lp) = loop_of(t) {
                lp.forget_transport_fd(t.io_state().fd.get());
            }
        }
        clear::<S>(slf);
        let st = (*o).state;
        if !st.is_null() {
            (*o).state = null_mut();
            drop(Box::from_raw(st));
        }
        crate::python::ffi::type_spec::free_object(slf);
    }
}

/// The slots every transport type with state `S` shares (GC, finalizer,
/// dealloc, dict and weakrefs); each type's `type_spec()` adds its own.
pub fn shared_type_spec<S: TransportKind>() -> TypeSpec {
    let slots_at = std::mem::offset_of!(TransportObject<S>, refs);
    TypeSpec {
        basicsize: std::mem::size_of::<TransportObject<S>>(),
        flags: Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
        dealloc: Some(dealloc::<S>),
        finalize: Some(finalize::<S>),
        traverse: Some(traverse::<S>),
        clear: Some(clear::<S>),
        dictoffset: slots_at + std::mem::offset_of!(ObjectRefs, dict),
        weaklistoffset: slots_at + std::mem::offset_of!(ObjectRefs, weakreflist),
        ..TypeSpec::DEFAULTS
    }
}
