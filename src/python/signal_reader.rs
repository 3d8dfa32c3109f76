//! `SignalReader`: the native reader of the signal wake-up fd.
//!
//! Python's C-level signal handler writes each caught signal's number, one
//! byte, to the fd given to `signal.set_wakeup_fd()`: the write end of a
//! socket pair whose read end the loop watches with this object as the
//! reader callback. Each call drains the socket and schedules the handler
//! of every signal number read, as asyncio's `_handle_signal` does: the
//! handle itself goes on the ready queue, a cancelled one is removed with
//! `loop.remove_signal_handler(sig)`, and a number with no handler (removed
//! while the signal was in flight) is ignored.

use pyo3_ffi::*;
use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;
use std::ptr::{self, null_mut};

use crate::core::sys;
use crate::python::event_loop::ready_item::ReadyItem;
use crate::python::event_loop::LoopObject;
use crate::python::ffi::args::positional;
use crate::python::ffi::borrowed::Borrowed;
use crate::python::ffi::entry::{fast_def, ffi_edge};
use crate::python::ffi::names;
use crate::python::ffi::objects::visit_slots;
use crate::python::ffi::owned::{clear_slot, Owned};
use crate::python::ffi::raised::{raise_io, raise_static, PyResult, Raised};
use crate::python::ffi::type_spec::{zeroed_type_object, TypeSpec};
use crate::python::handle::{HandleRef, HANDLE_TYPE};

#[repr(C)]
pub struct SignalReaderObject {
    ob_base: PyObject,
    loop_: *mut PyObject,
    /// The loop's `_signal_handlers` dict: signal number -> native Handle.
    handlers: *mut PyObject,
    fd: RawFd,
}

pub static mut SIGNAL_READER_TYPE: PyTypeObject = zeroed_type_object();

/// A borrowed `SignalReader`.
type SignalReader<'py> = Borrowed<'py, SignalReaderObject>;

/// The layout of an object CPython passed to one of the type's slots.
///
/// # Safety
/// `slf` is a live SignalReader.
unsafe fn obj_of(slf: *mut PyObject) -> *mut SignalReaderObject {
    // SAFETY: per the contract.
    unsafe { SignalReader::from_ptr(slf) }.raw()
}

/// Drains the wake-up socket; every byte read is a signal number.
fn read_signals(slf: SignalReader<'_>) -> PyResult<()> {
    // SAFETY: slf is a live reader (the caller holds a reference).
    let fd = unsafe { (*slf.raw()).fd };
    let mut buf = [0u8; 4096];
    loop {
        match sys::recv(fd, &mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                for &signum in &buf[..n] {
                    dispatch(slf, signum)?;
                }
            }
            Err(e) if sys::would_block(&e) => return Ok(()),
            Err(e) => return Err(raise_io(&e)),
        }
    }
}

/// asyncio's `_handle_signal(sig)`.
fn dispatch(slf: SignalReader<'_>, signum: u8) -> PyResult<()> {
    // SAFETY: slf is live; its slots hold the loop and the dict (both live
    // while it is); the key is a new reference; the item is borrowed from
    // the dict and re-owned before any call that may change the dict.
    unsafe {
        let obj = slf.raw();
        if (*obj).loop_.is_null() || (*obj).handlers.is_null() {
            return Ok(());
        }
        let lp = Owned::from_borrowed((*obj).loop_);
        let key = Owned::from_new(PyLong_FromLong(signum.into()))?;
        let item = PyDict_GetItemWithError((*obj).handlers, key.as_ptr());
        if item.is_null() {
            return if PyErr_Occurred().is_null() {
                Ok(())
            } else {
                Err(Raised)
            };
        }
        let Some(handle) = HandleRef::from_object(item) else {
            return Ok(());
        };
        if handle.cancelled() {
            Owned::from_new(PyObject_CallMethodOneArg(
                lp.as_ptr(),
                names::S_REMOVE_SIGNAL_HANDLER.get(),
                key.as_ptr(),
            ))?;
            return Ok(());
        }
        let engine_loop = LoopObject::from_ptr(lp.as_ptr());
        engine_loop
            .engine()
            .borrow_mut()
            .push_ready(ReadyItem::Handle(handle));
        Ok(())
    }
}

unsafe extern "C" fn tp_call(
    slf: *mut PyObject,
    _args: *mut PyObject,
    _kw: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: CPython calls a type's slot only with its instances.
    let slf = unsafe { SignalReader::from_ptr(slf) };
    ffi_edge(|| read_signals(slf).map(|_| Owned::none()))
}

/// `reader.handle(callback, args)`: a native Handle for a signal handler,
/// built as asyncio's `events.Handle(callback, args, loop, None)` (a copy
/// of the current context; a source traceback in debug mode).
unsafe extern "C" fn m_handle(
    slf: *mut PyObject,
    argv: *mut *mut PyObject,
    nargsf: Py_ssize_t,
) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: fastcall arguments straight from CPython; slf is live.
        unsafe {
            let args = positional(argv, nargsf);
            if args.len() != 2 || PyTuple_Check(args[1]) == 0 {
                return Err(raise_static(
                    PyExc_TypeError,
                    c"handle(callback, args) takes a callback and a tuple",
                ));
            }
            let lp = (*obj_of(slf)).loop_;
            if lp.is_null() {
                return Err(raise_static(PyExc_RuntimeError, c"the reader was cleared"));
            }
            let tuple = args[1];
            let rest: Vec<*mut PyObject> = (0..PyTuple_GET_SIZE(tuple))
                .map(|i| PyTuple_GET_ITEM(tuple, i))
                .collect();
            let handle = HandleRef::new(
                ptr::addr_of_mut!(HANDLE_TYPE),
                lp,
                args[0],
                &rest,
                null_mut(),
                0.0,
            )?;
            Ok(handle.to_owned())
        }
    })
}

/// `SignalReader(loop, fd, handlers)`.
unsafe extern "C" fn tp_new(
    tp: *mut PyTypeObject,
    args: *mut PyObject,
    _kw: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: args is the positional tuple CPython passes to tp_new;
        // the loop and the dict are type-checked before they are kept.
        unsafe {
            if PyTuple_GET_SIZE(args) != 3 {
                return Err(raise_static(
                    PyExc_TypeError,
                    c"SignalReader(loop, fd, handlers)",
                ));
            }
            let lp = PyTuple_GET_ITEM(args, 0);
            let handlers = PyTuple_GET_ITEM(args, 2);
            if PyObject_TypeCheck(lp, ptr::addr_of_mut!(crate::python::event_loop::LOOP_TYPE)) == 0
                || PyDict_Check(handlers) == 0
            {
                return Err(raise_static(
                    PyExc_TypeError,
                    c"SignalReader() needs a zloop loop and a dict",
                ));
            }
            let fd = crate::python::ffi::args::fileobj_to_fd(PyTuple_GET_ITEM(args, 1))?;
            let obj = crate::python::ffi::type_spec::alloc_object(tp)?;
            let r = obj_of(obj.as_ptr());
            (*r).fd = fd;
            (*r).loop_ = Owned::from_borrowed(lp).into_ptr();
            (*r).handlers = Owned::from_borrowed(handlers).into_ptr();
            Ok(obj)
        }
    })
}

unsafe extern "C" fn traverse(slf: *mut PyObject, visit: visitproc, arg: *mut c_void) -> c_int {
    // SAFETY: CPython calls a type's slot only with its instances.
    let obj = unsafe { obj_of(slf) };
    // SAFETY: the GC passes a live object; each slot is null or owned.
    unsafe { visit_slots(&[(*obj).loop_, (*obj).handlers], visit, arg) }
}

unsafe extern "C" fn clear(slf: *mut PyObject) -> c_int {
    // SAFETY: CPython calls a type's slot only with its instances.
    let obj = unsafe { obj_of(slf) };
    // SAFETY: each slot is null or owned.
    unsafe {
        clear_slot(&mut (*obj).handlers);
        clear_slot(&mut (*obj).loop_);
    }
    0
}

unsafe extern "C" fn dealloc(slf: *mut PyObject) {
    // SAFETY: last reference gone: untrack, release the slots, free.
    unsafe {
        PyObject_GC_UnTrack(slf.cast());
        clear(slf);
        crate::python::ffi::type_spec::free_object(slf);
    }
}

static mut METHODS: [PyMethodDef; 2] = [
    fast_def(
        c"handle",
        m_handle,
        c"handle(callback, args): a native Handle for a signal handler.",
    ),
    PyMethodDef::zeroed(),
];

/// The `SignalReader` type.
pub fn type_spec() -> TypeSpec {
    TypeSpec {
        tp: ptr::addr_of_mut!(SIGNAL_READER_TYPE),
        name: c"zloop._zloop.SignalReader",
        doc: c"The reader callback of the signal wake-up fd: schedules signal handlers.",
        basicsize: std::mem::size_of::<SignalReaderObject>(),
        flags: Py_TPFLAGS_HAVE_GC,
        new: Some(tp_new),
        call: Some(tp_call),
        dealloc: Some(dealloc),
        traverse: Some(traverse),
        clear: Some(clear),
        methods: ptr::addr_of_mut!(METHODS).cast(),
        ..TypeSpec::DEFAULTS
    }
}
