//! What the four native transports (`Transport`, `DatagramTransport`,
//! `ReadPipeTransport`, `WritePipeTransport`) share: the object layout up to
//! their own state, registration with the engine and the contexts captured
//! with it, loop and protocol calls, flow control, connection loss, reports
//! through `zloop._support`, and the methods, attributes and type slots
//! every one of them has. Each type's own file keeps what is specific to it.
//!
//! asyncio's transports are callbacks registered with `_add_reader` /
//! `_add_writer`; here readiness arrives as a `ReadyItem` holding the
//! transport and its kind's `NativeCallback` table, straight from the engine.

pub mod address;
mod borrowed;
pub mod datagram;
mod flow_control;
mod methods;
mod protocol;
pub mod read_buffer;
pub mod read_pipe;
mod registration;
mod report;
pub mod stream;
mod type_slots;
pub mod write_chunk;
pub mod write_pipe;

use pyo3_ffi::*;
use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;
use std::ptr::null_mut;

use crate::python::event_loop::ready_item::NativeCallback;
use crate::python::event_loop::LoopObject;
use crate::python::fd_owner::FdOwner;
use crate::python::ffi::entry::ffi_edge;
use crate::python::ffi::names;
use crate::python::ffi::owned::{clear_slot, Owned};
use crate::python::ffi::raised::{raise, PyResult};

pub use borrowed::Transport;

/// asyncio's `LOG_THRESHOLD_FOR_CONNLOST_WRITES`.
pub const LOG_THRESHOLD_FOR_CONNLOST_WRITES: u32 = 5;

/// The object references every transport holds.
#[repr(C)]
pub struct ObjectRefs {
    pub dict: ObjectSlot,
    /// CPython's weak reference list head (not a reference we own).
    pub weakreflist: Cell<*mut PyObject>,
    /// The loop (null once the connection is lost, as asyncio's `_loop`).
    pub loop_: ObjectSlot,
    /// The socket or pipe object (null once closed, as asyncio's `_sock` /
    /// `_pipe`).
    pub io: ObjectSlot,
    pub protocol: ObjectSlot,
    pub extra: ObjectSlot,
    /// Contexts copied when reading / writing was registered: asyncio runs
    /// each reader and writer callback in the context of its `_add_reader`
    /// / `_add_writer` call, so protocol callbacks see the context the
    /// connection was set up in.
    pub read_context: ObjectSlot,
    pub write_context: ObjectSlot,
    /// Debug mode only: the `Handle` of `transport._read_ready()` /
    /// `_write_ready()` made when reading / writing was registered, as
    /// asyncio's `_add_reader` makes one (null otherwise). It is what
    /// `loop._current_handle` shows while the callback runs, and its source
    /// traceback is the "created at" part of slow-callback reports.
    pub read_handle: ObjectSlot,
    pub write_handle: ObjectSlot,
    /// 3.15+'s connection context (`_SelectorTransport._context`): when
    /// set, every callback of the transport (readiness, connection_lost)
    /// runs in this one context instead of a copy per registration.
    pub connection_context: ObjectSlot,
}

/// Plain state every transport has; all-zero is a valid value, so it lives
/// inline in the (zeroed) object.
#[repr(C)]
pub struct IoState {
    pub fd: Cell<RawFd>,
    /// How to ask the socket or pipe object whether it still holds `fd`.
    pub fd_owner: Cell<FdOwner>,
    pub closing: Cell<bool>,
    /// `pause_reading()` was called (reading transports).
    pub paused: Cell<bool>,
    /// Registered with the engine for reading / writing.
    pub reading: Cell<bool>,
    pub writing: Cell<bool>,
}

/// A transport object: the common part, then a pointer to the state of
/// the concrete type (`S`). The common part's layout does not depend on
/// `S`, so shared code reads it through `TransportObject<()>`.
#[repr(C)]
pub struct TransportObject<S> {
    ob_base: PyObject,
    pub refs: ObjectRefs,
    pub io_state: IoState,
    pub state: *mut S,
}

/// What a transport type adds to the shared machinery.
pub trait TransportKind: Sized + 'static {
    /// How the engine runs this type's readable events.
    const READABLE: &'static NativeCallback;
    /// Socket transports: the loop keeps their fds until they are closed.
    const TRACKS_FD: bool;
    /// The `zloop._support` function that warns about an unclosed one.
    fn unclosed_warning() -> &'static names::Cached;
    /// Visits the objects the state holds beyond the common slots.
    fn visit(&self, _visit: visitproc, _arg: *mut c_void) -> c_int {
        0
    }
    /// Releases them (`tp_clear`).
    fn clear(&self) {}
}

/// An owned object reference kept in a transport (null: none); all-zero
/// is empty, so it can live in the zeroed object.
#[repr(transparent)]
pub struct ObjectSlot(Cell<*mut PyObject>);

impl ObjectSlot {
    pub const fn empty() -> ObjectSlot {
        ObjectSlot(Cell::new(null_mut()))
    }

    pub fn get(&self) -> *mut PyObject {
        self.0.get()
    }

    /// Holds `obj`, releasing what was held (after the slot changed).
    pub fn set(&self, obj: Owned) {
        let old = self.0.replace(obj.into_ptr());
        // SAFETY: old is null or a reference this slot owned.
        unsafe { Py_XDECREF(old) };
    }

    pub fn clear(&self) {
        // SAFETY: the cell holds null or one owned reference.
        unsafe { clear_slot(self.0.as_ptr()) }
    }

    /// A new reference to what the slot holds (None when empty).
    pub fn take_clone(&self) -> Option<Owned> {
        let obj = self.get();
        // SAFETY: a live object this slot owns.
        (!obj.is_null()).then(|| unsafe { Owned::from_borrowed(obj) })
    }

    /// What the slot held, which it no longer does.
    pub fn take(&self) -> Option<Owned> {
        let obj = self.0.replace(null_mut());
        // SAFETY: the reference the slot owned moves to the caller.
        (!obj.is_null())
            .then(|| unsafe { Owned::from_new(obj) }.ok())
            .flatten()
    }

    /// The held object as an attribute value (None when empty).
    pub fn attr(&self) -> Owned {
        Owned::from_ptr_or_none(self.get())
    }

    pub fn visit(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        let obj = self.get();
        if obj.is_null() {
            return 0;
        }
        // SAFETY: a live object this slot owns.
        unsafe { visit(obj, arg) }
    }
}

impl Drop for ObjectSlot {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The five positional arguments of a transport's `tp_new` (`usage` is the
/// TypeError for another count).
pub fn new_args(args: *mut PyObject, usage: &str) -> PyResult<[*mut PyObject; 5]> {
    // SAFETY: args is the positional tuple CPython passes to tp_new.
    unsafe {
        if PyTuple_GET_SIZE(args) != 5 {
            return Err(raise(PyExc_TypeError, usage));
        }
        Ok(std::array::from_fn(|i| {
            PyTuple_GET_ITEM(args, i as Py_ssize_t)
        }))
    }
}

/// Whether `obj` is a zloop loop.
pub fn is_loop(obj: *mut PyObject) -> bool {
    // SAFETY: obj is live; a type check only.
    unsafe { PyObject_TypeCheck(obj, &raw mut crate::python::event_loop::LOOP_TYPE) != 0 }
}

/// Allocates a transport of type `tp` on `fd`, holding `lp`, `io`, `extra`
/// and `state`; the caller sets the protocol.
pub fn alloc<S: TransportKind>(
    tp: *mut PyTypeObject,
    lp: *mut PyObject,
    io: *mut PyObject,
    extra: *mut PyObject,
    fd: RawFd,
    state: S,
) -> PyResult<Owned> {
    // SAFETY: tp_alloc returns a zeroed, GC-tracked object; every field is
    // written before the object is visible to Python code.
    unsafe {
        let obj = crate::python::ffi::type_spec::alloc_object(tp)?;
        let o = obj.as_ptr().cast::<TransportObject<S>>();
        (*o).state = Box::into_raw(Box::new(state));
        (*o).io_state.fd.set(fd);
        (*o).io_state.fd_owner.set(FdOwner::of(io));
        let s = &(*o).refs;
        s.loop_.set(Owned::from_borrowed(lp));
        s.io.set(Owned::from_borrowed(io));
        s.extra.set(Owned::from_borrowed(extra));
        if S::TRACKS_FD {
            LoopObject::from_ptr(lp).remember_transport_fd(fd);
        }
        Ok(obj)
    }
}

/// What the pipe transports' shared code needs from each.
pub trait PipeKind: TransportKind {
    /// The type's name in `tp_new` errors.
    const NAME: &'static str;
    /// `_fatal_error` logs any OSError in debug mode only (the write side),
    /// not just EIO.
    const QUIET_OS_ERRORS: bool;
    /// The state of a new transport.
    fn new_state() -> Self;
    /// asyncio's `_close(exc)`.
    fn close_with(slf: Transport<'_, Self>, exc: *mut PyObject) -> PyResult<()>;
}

/// `ReadPipeTransport(loop, pipe, fileno, protocol, extra)` /
/// `WritePipeTransport(...)`: the object only. The Python edge
/// (`Loop._make_read_pipe_transport` & co.) validates the pipe and schedules
/// `connection_made` and the rest, as asyncio's constructor does.
pub unsafe extern "C" fn pipe_tp_new<S: PipeKind>(
    tp: *mut PyTypeObject,
    args: *mut PyObject,
    _kw: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| {
        let name = S::NAME;
        let [lp, pipe, fileno, protocol, extra] = new_args(
            args,
            &format!("{name}() takes 5 arguments (loop, pipe, fileno, protocol, extra)"),
        )?;
        if !is_loop(lp) {
            // SAFETY: valid exception class.
            return Err(raise(
                unsafe { PyExc_TypeError },
                &format!("{name}() needs a zloop loop"),
            ));
        }
        let fd = crate::python::ffi::args::fileobj_to_fd(fileno)?;
        let obj = alloc(tp, lp, pipe, extra, fd, S::new_state())?;
        // SAFETY: obj is the new transport of kind S.
        replace_protocol(unsafe { Transport::from_ptr(obj.as_ptr()) }, protocol);
        Ok(obj)
    })
}

/// Makes `protocol` the transport's protocol (the old one is released last).
pub fn replace_protocol(slf: Transport<'_>, protocol: *mut PyObject) {
    // SAFETY: protocol is a live object the caller lends us.
    slf.refs()
        .protocol
        .set(unsafe { Owned::from_borrowed(protocol) });
}
