//! The type slots every transport type shares (GC traversal and clear,
//! finalizer, dealloc) and the `TypeSpec` they make up.

use pyo3_ffi::*;
use std::ffi::{c_int, c_void};
use std::ptr::null_mut;

use crate::python::ffi::names::call_support;
use crate::python::ffi::owned::clear_slot;
use crate::python::ffi::raised;
use crate::python::ffi::type_spec::TypeSpec;
use crate::python::transport::registration::loop_of;
use crate::python::transport::{
    io_object, io_state, refs, ObjectRefs, TransportKind, TransportObject,
};

unsafe extern "C" fn traverse<S: TransportKind>(
    slf: *mut PyObject,
    visit: visitproc,
    arg: *mut c_void,
) -> c_int {
    let s = refs(slf);
    // SAFETY: the GC passes a live object; each slot is null or live; the
    // state, when set, is an S.
    unsafe {
        let rc = crate::python::ffi::objects::visit_slots(
            &[
                (*s).dict,
                (*s).loop_,
                (*s).io,
                (*s).protocol,
                (*s).extra,
                (*s).read_context,
                (*s).write_context,
                (*s).read_handle,
                (*s).write_handle,
                (*s).connection_context,
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
    let s = refs(slf);
    // SAFETY: each slot is null or owned; clear_slot nulls it first; the
    // state, when set, is an S.
    unsafe {
        let st = (*slf.cast::<TransportObject<S>>()).state;
        if !st.is_null() {
            (*st).clear();
        }
        clear_slot(&raw mut (*s).dict);
        clear_slot(&raw mut (*s).protocol);
        clear_slot(&raw mut (*s).extra);
        clear_slot(&raw mut (*s).read_context);
        clear_slot(&raw mut (*s).write_context);
        clear_slot(&raw mut (*s).read_handle);
        clear_slot(&raw mut (*s).write_handle);
        clear_slot(&raw mut (*s).connection_context);
        clear_slot(&raw mut (*s).io);
        clear_slot(&raw mut (*s).loop_);
    }
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
        if io_object(slf).is_null()
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
        if !(*refs(slf)).weakreflist.is_null() {
            PyObject_ClearWeakRefs(slf);
        }
        let o = slf.cast::<TransportObject<S>>();
        if S::TRACKS_FD && !io_object(slf).is_null() && !(*o).state.is_null() {
            if let Some(lp) = loop_of(slf) {
                lp.forget_transport_fd(io_state(slf).fd.get());
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
