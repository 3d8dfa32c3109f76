//! What the four native transports (`Transport`, `DatagramTransport`,
//! `ReadPipeTransport`, `WritePipeTransport`) share: the object layout up to
//! their own state, registration with the engine and the contexts captured
//! with it, loop and protocol calls, flow control, connection loss, reports
//! through `zloop._support`, and the methods, attributes and type slots
//! every one of them has. Each type's own file keeps what is specific to it.
//!
//! asyncio's transports are callbacks registered with `_add_reader` /
//! `_add_writer`; here readiness arrives as a `ReadyItem` holding a
//! `TransportRef`, straight from the engine.

pub mod address;
pub mod datagram;
pub mod read_buffer;
pub mod read_pipe;
pub mod stream;
pub mod write_pipe;

use pyo3_ffi::*;
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void, CStr};
use std::fmt::Display;
use std::os::fd::RawFd;
use std::ptr::null_mut;

use crate::core::interest::Direction;
use crate::python::event_loop::ready_item::ReadyItem;
use crate::python::event_loop::{release_io, LoopObject};
use crate::python::fd_owner::FdOwner;
use crate::python::ffi::args::{keyword_args, utf8};
use crate::python::ffi::entry::{ffi_edge, kw_def, noargs, noargs_def, onearg, onearg_def};
use crate::python::ffi::names::{self, call_support};
use crate::python::ffi::objects::bool_object;
use crate::python::ffi::owned::{clear_slot, Owned};
use crate::python::ffi::raised::{self, raise, raise_io, PyResult, Raised};
use crate::python::ffi::type_spec::TypeSpec;

/// asyncio's `LOG_THRESHOLD_FOR_CONNLOST_WRITES`.
pub const LOG_THRESHOLD_FOR_CONNLOST_WRITES: u32 = 5;

/// The object references every transport holds.
#[repr(C)]
pub struct Slots {
    pub dict: *mut PyObject,
    pub weakreflist: *mut PyObject,
    /// The loop (null once the connection is lost, as asyncio's `_loop`).
    pub loop_: *mut PyObject,
    /// The socket or pipe object (null once closed, as asyncio's `_sock` /
    /// `_pipe`).
    pub io: *mut PyObject,
    pub protocol: *mut PyObject,
    pub extra: *mut PyObject,
    /// Contexts copied when reading / writing was registered: asyncio runs
    /// each reader and writer callback in the context of its `_add_reader`
    /// / `_add_writer` call, so protocol callbacks see the context the
    /// connection was set up in.
    pub read_context: *mut PyObject,
    pub write_context: *mut PyObject,
    /// Debug mode only: the `Handle` of `transport._read_ready()` /
    /// `_write_ready()` made when reading / writing was registered, as
    /// asyncio's `_add_reader` makes one (null otherwise). It is what
    /// `loop._current_handle` shows while the callback runs, and its source
    /// traceback is the "created at" part of slow-callback reports.
    pub read_handle: *mut PyObject,
    pub write_handle: *mut PyObject,
    /// 3.15+'s connection context (`_SelectorTransport._context`): when
    /// set, every callback of the transport (readiness, connection_lost)
    /// runs in this one context instead of a copy per registration.
    pub connection_context: *mut PyObject,
}

/// Plain state every transport has; all-zero is a valid value, so it lives
/// inline in the (zeroed) object.
#[repr(C)]
pub struct Core {
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
    pub slots: Slots,
    pub core: Core,
    pub state: *mut S,
}

/// What a transport type adds to the shared machinery.
pub trait Kind: Sized + 'static {
    /// What a readable event queues for this type.
    const READ_ITEM: fn(TransportRef) -> ReadyItem;
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

#[inline]
fn common(slf: *mut PyObject) -> *mut TransportObject<()> {
    slf.cast()
}

#[inline]
pub fn slots(slf: *mut PyObject) -> *mut Slots {
    // SAFETY: slf is a live transport; this only computes a field address.
    unsafe { &raw mut (*common(slf)).slots }
}

#[inline]
pub fn core<'a>(slf: *mut PyObject) -> &'a Core {
    // SAFETY: slf is a live transport; Core is all Cells, so a shared
    // reference is enough for every access.
    unsafe { &(*common(slf)).core }
}

/// The concrete state of a transport of type `S` (set by its `tp_new`).
///
/// # Safety
/// `slf` is a live transport whose `state` was allocated as an `S`.
#[inline]
pub unsafe fn state<'a, S>(slf: *mut PyObject) -> &'a S {
    // SAFETY: per the contract; only dealloc frees the state.
    unsafe { &*(*slf.cast::<TransportObject<S>>()).state }
}

/// The transport's fd for a syscall: -1 (so the call fails with EBADF, as
/// asyncio's call through a closed socket object does) once the socket or
/// pipe object no longer holds it, e.g. closed behind the transport's back,
/// its number perhaps already reused by another connection. `FdOwner` may
/// run Python code: call this before borrowing the transport's state.
#[inline]
pub fn owned_fd(slf: *mut PyObject) -> RawFd {
    let c = core(slf);
    c.fd_owner.get().checked(io_object(slf), c.fd.get())
}

/// The socket or pipe object, null once closed.
#[inline]
pub fn io_object(slf: *mut PyObject) -> *mut PyObject {
    // SAFETY: slf is live.
    unsafe { (*slots(slf)).io }
}

/// An owned object reference kept in a transport's state (null: none).
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
pub fn alloc<S: Kind>(
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
        let alloc = (*tp).tp_alloc.unwrap_or(PyType_GenericAlloc);
        let obj = Owned::from_new(alloc(tp, 0))?;
        let o = obj.as_ptr().cast::<TransportObject<S>>();
        (*o).state = Box::into_raw(Box::new(state));
        (*o).core.fd.set(fd);
        (*o).core.fd_owner.set(FdOwner::of(io));
        let s = &mut (*o).slots;
        s.loop_ = Owned::from_borrowed(lp).into_ptr();
        s.io = Owned::from_borrowed(io).into_ptr();
        s.extra = Owned::from_borrowed(extra).into_ptr();
        if S::TRACKS_FD {
            LoopObject::from_ptr(lp).remember_transport_fd(fd);
        }
        Ok(obj)
    }
}

/// What the pipe transports' shared code needs from each.
pub trait PipeKind: Kind {
    /// The type's name in `tp_new` errors.
    const NAME: &'static str;
    /// `_fatal_error` logs any OSError in debug mode only (the write side),
    /// not just EIO.
    const QUIET_OS_ERRORS: bool;
    /// The state of a new transport.
    fn new_state() -> Self;
    /// asyncio's `_close(exc)`.
    fn close_with(slf: *mut PyObject, exc: *mut PyObject) -> PyResult<()>;
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
        replace_protocol(obj.as_ptr(), protocol);
        Ok(obj)
    })
}

/// Makes `protocol` the transport's protocol (the old one is released last).
pub fn replace_protocol(slf: *mut PyObject, protocol: *mut PyObject) {
    // SAFETY: slf is live; protocol is live.
    unsafe {
        let s = slots(slf);
        let old = (*s).protocol;
        (*s).protocol = Owned::from_borrowed(protocol).into_ptr();
        Py_XDECREF(old);
    }
}

// --- engine registration ---------------------------------------------------

/// An owned reference to a transport, as the engine holds it.
#[derive(Clone)]
pub struct TransportRef(Owned);

impl TransportRef {
    /// A new reference to the live transport `slf`.
    pub fn of(slf: *mut PyObject) -> TransportRef {
        // SAFETY: per the contract, slf is a live transport.
        TransportRef(unsafe { Owned::from_borrowed(slf) })
    }

    #[inline]
    pub fn as_ptr(&self) -> *mut PyObject {
        self.0.as_ptr()
    }

    /// Whether a queued item of this interest should still run.
    #[inline]
    pub fn wants(&self, interest: Direction) -> bool {
        flag(self.as_ptr(), interest).get()
    }

    /// The engine dropped our registration (someone replaced it).
    pub fn forget(&self, interest: Direction) {
        flag(self.as_ptr(), interest).set(false);
    }
}

#[inline]
fn flag<'a>(slf: *mut PyObject, interest: Direction) -> &'a Cell<bool> {
    let c = core(slf);
    match interest {
        Direction::Read => &c.reading,
        Direction::Write => &c.writing,
    }
}

/// The debug-mode handle standing for `interest`'s callback (null if none).
pub fn debug_handle(slf: *mut PyObject, interest: Direction) -> *mut PyObject {
    // SAFETY: slf is live; reading a field.
    unsafe { *debug_handle_slot(slf, interest) }
}

fn debug_handle_slot(slf: *mut PyObject, interest: Direction) -> *mut *mut PyObject {
    let s = slots(slf);
    // SAFETY: only computes a field address of a live transport.
    unsafe {
        match interest {
            Direction::Read => &raw mut (*s).read_handle,
            Direction::Write => &raw mut (*s).write_handle,
        }
    }
}

/// Debug mode: a Handle of `transport.<method>()`, as asyncio's reader or
/// writer handle (running in `context`, with its source traceback).
fn make_debug_handle(
    slf: *mut PyObject,
    lp: &Owned,
    method: &names::Cached,
    context: *mut PyObject,
) -> PyResult<Owned> {
    // SAFETY: slf is live; the bound method is a new reference.
    let callback = unsafe { Owned::from_new(PyObject_GetAttr(slf, method.get()))? };
    let handle = crate::python::handle::HandleRef::new(
        &raw mut crate::python::handle::HANDLE_TYPE,
        lp.as_ptr(),
        callback.as_ptr(),
        &[],
        context,
        0.0,
    )?;
    // Dropping the engine-style reference leaves it tracked by the GC.
    Ok(handle.to_owned())
}

#[inline]
fn context_slot(slf: *mut PyObject, interest: Direction) -> *mut *mut PyObject {
    let s = slots(slf);
    // SAFETY: only computes a field address of a live transport.
    unsafe {
        match interest {
            Direction::Read => &raw mut (*s).read_context,
            Direction::Write => &raw mut (*s).write_context,
        }
    }
}

#[inline]
pub fn loop_of<'a>(slf: *mut PyObject) -> Option<&'a LoopObject> {
    // SAFETY: slf is live; loop_ is null or a live Loop.
    let lp = unsafe { (*slots(slf)).loop_ };
    (!lp.is_null()).then(|| LoopObject::from_ptr(lp))
}

/// The loop as an owned reference (it outlives a callback that lets go of it).
pub fn loop_owned(slf: *mut PyObject) -> Option<Owned> {
    // SAFETY: slf is live; loop_ is null or a live Loop.
    let lp = unsafe { (*slots(slf)).loop_ };
    // SAFETY: lp is live when non-null.
    (!lp.is_null()).then(|| unsafe { Owned::from_borrowed(lp) })
}

/// Watches the fd for `interest` (idempotent) with the item `make` builds,
/// its callbacks running in a copy of the current context.
pub fn register(
    slf: *mut PyObject,
    interest: Direction,
    make: fn(TransportRef) -> ReadyItem,
) -> PyResult<()> {
    let flag = flag(slf, interest);
    if flag.get() {
        return Ok(());
    }
    // Owned: in debug mode Python code runs below, which may let go of it.
    let Some(loop_ref) = loop_owned(slf) else {
        return Ok(());
    };
    let lp = LoopObject::from_ptr(loop_ref.as_ptr());
    // asyncio's `_add_reader`/`_add_writer` check this first.
    lp.ensure_open()?;
    let fd = core(slf).fd.get();
    if !io_object(slf).is_null() && owned_fd(slf) != fd {
        // The object was closed behind our back and the number may name
        // another connection now: never watch it on our behalf. EBADF is
        // what asyncio's selector says for a number no longer open.
        return Err(raise_io(&std::io::Error::from_raw_os_error(libc::EBADF)));
    }
    // SAFETY: the slot holds null or an owned Context; the copy is owned.
    let context = unsafe {
        let shared = (*slots(slf)).connection_context;
        let copy = if shared.is_null() {
            Owned::from_new(PyContext_CopyCurrent())?
        } else {
            Owned::from_borrowed(shared)
        };
        let slot = context_slot(slf, interest);
        clear_slot(slot);
        *slot = copy.clone().into_ptr();
        copy
    };
    // SAFETY: slf is live.
    let item = make(TransportRef(unsafe { Owned::from_borrowed(slf) }));
    if lp.debug() {
        if let Some((_, method, _)) = item.transport_callback() {
            let handle = make_debug_handle(slf, &loop_ref, method, context.as_ptr())?;
            // SAFETY: the slot holds null or an owned reference.
            unsafe {
                let slot = debug_handle_slot(slf, interest);
                clear_slot(slot);
                *slot = handle.into_ptr();
            }
        }
    }
    let result = {
        let mut engine = lp.engine().borrow_mut();
        engine.set_watcher(fd, interest, item)
    };
    match result {
        Ok(replaced) => {
            flag.set(true);
            // Whoever watched the fd before learns it no longer does, so it
            // never unregisters the fd from under us later.
            replaced.map_or(Ok(()), release_io)
        }
        Err((err, item)) => {
            drop(item);
            Err(raise_io(&err))
        }
    }
}

/// Stops watching the fd for `interest` (idempotent).
pub fn unregister(slf: *mut PyObject, interest: Direction) {
    if !flag(slf, interest).replace(false) {
        return;
    }
    if let Some(lp) = loop_of(slf) {
        let fd = core(slf).fd.get();
        let removed = {
            let mut engine = lp.engine().borrow_mut();
            engine.remove_watcher(fd, interest)
        };
        drop(removed);
    }
    let handle = debug_handle(slf, interest);
    if !handle.is_null() {
        // asyncio cancels the reader/writer handle it removes.
        // SAFETY: the slot holds an owned handle; taken before cancelling.
        unsafe {
            let handle = Owned::from_new(std::mem::replace(
                &mut *debug_handle_slot(slf, interest),
                null_mut(),
            ));
            if let Ok(handle) = handle {
                // unregister() cannot fail: a repr that raised in debug
                // mode's cancel() is reported as unraisable instead.
                if crate::python::handle::cancel(handle.as_ptr().cast()).is_err() {
                    PyErr_WriteUnraisable(handle.as_ptr());
                }
            }
        }
    }
}

/// Runs `f` inside the context captured when `interest` was registered.
#[inline]
pub fn in_context(
    slf: *mut PyObject,
    interest: Direction,
    f: impl FnOnce() -> PyResult<()>,
) -> PyResult<()> {
    // SAFETY: slf is live; the slot is null or a live Context, re-owned for
    // the call because the callback may register again (replacing it).
    unsafe {
        let slot = *context_slot(slf, interest);
        if slot.is_null() {
            return f();
        }
        let context = Owned::from_borrowed(slot);
        if PyContext_Enter(context.as_ptr()) < 0 {
            return Err(Raised);
        }
        let result = f();
        if PyContext_Exit(context.as_ptr()) < 0 {
            return Err(Raised);
        }
        result
    }
}

/// A pipe's or datagram transport's readiness callback (`name` is the
/// asyncio method it stands for) in the context captured at registration. An exception escaping it
/// is reported as asyncio's `Handle._run` reports one; KeyboardInterrupt
/// and SystemExit propagate.
pub fn run_callback(
    slf: *mut PyObject,
    interest: Direction,
    name: &names::Cached,
    f: impl FnOnce() -> PyResult<()>,
) -> PyResult<()> {
    let Some(lp) = loop_owned(slf) else {
        return Ok(());
    };
    let result = in_context(slf, interest, f);
    if result.is_ok() || raised::pending_is_exit() {
        return result;
    }
    let Some(exc) = raised::take_pending() else {
        return Ok(());
    };
    // SAFETY: slf is live; the bound method is a new reference or null.
    let callback = unsafe { Owned::from_new(PyObject_GetAttr(slf, name.get()))? };
    let removed = bool_object(!flag(slf, interest).get());
    call_support(
        &names::S_TRANSPORT_CALLBACK_ERROR,
        &[
            lp.as_ptr(),
            callback.as_ptr(),
            exc.as_ptr(),
            removed.as_ptr(),
        ],
    )
    .map(drop)
}

// --- loop and protocol calls -------------------------------------------------

/// The current protocol (it may change during any call into Python).
pub fn protocol(slf: *mut PyObject) -> Owned {
    // SAFETY: slf is live; the slot is null or a live protocol.
    Owned::from_ptr_or_none(unsafe { (*slots(slf)).protocol })
}

/// `protocol.<name>(*args)` on the current protocol.
#[inline]
pub fn call_protocol(
    slf: *mut PyObject,
    name: &names::Cached,
    args: &[*mut PyObject],
) -> PyResult<Owned> {
    let proto = protocol(slf);
    names::call_method(proto.as_ptr(), name, args)
}

/// `loop.call_soon(callback, *args)` (nothing once the loop is let go).
pub fn call_soon(
    slf: *mut PyObject,
    callback: *mut PyObject,
    args: &[*mut PyObject],
) -> PyResult<()> {
    let Some(lp) = loop_owned(slf) else {
        return Ok(());
    };
    let mut argv = Vec::with_capacity(args.len() + 1);
    argv.push(callback);
    argv.extend_from_slice(args);
    names::call_method(lp.as_ptr(), &names::S_CALL_SOON, &argv).map(drop)
}

/// `loop.call_soon(self._call_connection_lost, exc)` (in the connection
/// context when there is one, as 3.15's `_call_soon`); `exc` null is None.
pub fn schedule_connection_lost(slf: *mut PyObject, exc: *mut PyObject) -> PyResult<()> {
    // SAFETY: slf is live; the bound method is a new reference; None is immortal.
    unsafe {
        let method = Owned::from_new(PyObject_GetAttr(slf, names::S_CALL_CONNECTION_LOST.get()))?;
        let context = (*slots(slf)).connection_context;
        if context.is_null() {
            return call_soon(slf, method.as_ptr(), &[none_if_null(exc)]);
        }
        let Some(lp) = loop_owned(slf) else {
            return Ok(());
        };
        let kwnames = Owned::from_new(PyTuple_Pack(1, names::S_CONTEXT.get()))?;
        let argv = [lp.as_ptr(), method.as_ptr(), none_if_null(exc), context];
        Owned::from_new(PyObject_VectorcallMethod(
            names::S_CALL_SOON.get(),
            argv.as_ptr(),
            3,
            kwnames.as_ptr(),
        ))
        .map(drop)
    }
}

/// `_use_connection_context(context)`: 3.15+, from the Python edge.
pub fn set_connection_context(slf: *mut PyObject, context: *mut PyObject) -> PyResult<()> {
    // SAFETY: slf and context are live; a type check before keeping it.
    unsafe {
        if PyContext_CheckExact(context) == 0 {
            return Err(raise(PyExc_TypeError, "a contextvars.Context is required"));
        }
        let slot = &raw mut (*slots(slf)).connection_context;
        clear_slot(slot);
        *slot = Owned::from_borrowed(context).into_ptr();
    }
    Ok(())
}

/// None for a null `exc` (how the internals pass "no exception").
pub fn none_if_null(exc: *mut PyObject) -> *mut PyObject {
    if exc.is_null() {
        // SAFETY: Py_None is immortal.
        unsafe { Py_None() }
    } else {
        exc
    }
}

/// Null for None (a Python argument for "no exception").
pub fn null_if_none(exc: *mut PyObject) -> *mut PyObject {
    // SAFETY: Py_None is immortal; comparing pointers.
    if exc == unsafe { Py_None() } {
        null_mut()
    } else {
        exc
    }
}

/// asyncio's `_call_connection_lost(exc)`: `protocol.connection_lost(exc)`
/// (when `tell_protocol`), then, in any case, `release`; a protocol error
/// wins over a release error.
pub fn lose_connection(
    slf: *mut PyObject,
    exc: *mut PyObject,
    tell_protocol: bool,
    release: impl FnOnce() -> PyResult<()>,
) -> PyResult<()> {
    let result = if tell_protocol {
        call_protocol(slf, &names::S_CONNECTION_LOST, &[none_if_null(exc)]).map(drop)
    } else {
        Ok(())
    };
    // `finally:` keep a pending error while we clean up.
    let pending = result.is_err().then(raised::take_pending).flatten();
    let cleanup = release();
    if let Some(exc) = pending {
        if cleanup.is_err() {
            // SAFETY: the cleanup's error gives way to the protocol's.
            unsafe { PyErr_Clear() };
        }
        return Err(raised::restore(exc));
    }
    cleanup
}

/// Stops watching, closes the socket or pipe object and lets go of the
/// protocol and the loop.
pub fn release<S: Kind>(slf: *mut PyObject) -> PyResult<()> {
    unregister(slf, Direction::Read);
    unregister(slf, Direction::Write);
    let s = slots(slf);
    // SAFETY: slf is live; each slot is null or owned; io.close() is a
    // plain method call on a live object.
    unsafe {
        let io = (*s).io;
        let closed = if io.is_null() {
            Ok(())
        } else {
            let io = Owned::from_borrowed(io);
            clear_slot(&raw mut (*s).io);
            if S::TRACKS_FD {
                if let Some(lp) = loop_of(slf) {
                    lp.forget_transport_fd(core(slf).fd.get());
                }
            }
            Owned::from_new(PyObject_CallMethodNoArgs(io.as_ptr(), names::S_CLOSE.get())).map(drop)
        };
        clear_slot(&raw mut (*s).protocol);
        clear_slot(&raw mut (*s).loop_);
        closed
    }
}

/// A transport with a write buffer under asyncio's flow control.
pub trait Buffered: Kind {
    /// How the type counts its buffer.
    type Size: Copy + PartialOrd + PyInt;
    fn flow(&self) -> &FlowControl<Self::Size>;
    /// asyncio's `_conn_lost`.
    fn conn_lost(&self) -> &Cell<u32>;
    /// What `get_write_buffer_size()` says.
    fn buffer_size(&self) -> Self::Size;
    /// `(high, low)` byte counts of validated water marks
    /// (`water_mark_objects`).
    fn water_marks(high: &Owned, low: &Owned) -> PyResult<(Self::Size, Self::Size)>;
}

/// What the socket transports' shared closing needs from each.
pub trait SocketKind: Buffered {
    /// Nothing is queued for sending.
    fn drained(&self) -> bool;
    /// Drops what is queued for sending.
    fn drop_buffer(&self);
    /// asyncio's `_call_connection_lost(exc)`.
    fn call_connection_lost(slf: *mut PyObject, exc: *mut PyObject) -> PyResult<()>;
}

/// asyncio's `_SelectorTransport.close()`: stop reading; lose the
/// connection now when nothing is left to send.
pub fn close_socket<S: SocketKind>(slf: *mut PyObject) -> PyResult<()> {
    let c = core(slf);
    if c.closing.get() {
        return Ok(());
    }
    c.closing.set(true);
    unregister(slf, Direction::Read);
    // SAFETY: slf is a transport of type S.
    let st = unsafe { state::<S>(slf) };
    if st.drained() {
        st.conn_lost().set(st.conn_lost().get() + 1);
        unregister(slf, Direction::Write);
        schedule_connection_lost(slf, null_mut())?;
    }
    Ok(())
}

/// asyncio's `_SelectorTransport._force_close(exc)`.
pub fn force_close_socket<S: SocketKind>(slf: *mut PyObject, exc: *mut PyObject) -> PyResult<()> {
    // SAFETY: slf is a transport of type S.
    let st = unsafe { state::<S>(slf) };
    if st.conn_lost().get() > 0 {
        return Ok(());
    }
    if !st.drained() {
        st.drop_buffer();
        unregister(slf, Direction::Write);
    }
    let c = core(slf);
    if !c.closing.get() {
        c.closing.set(true);
        unregister(slf, Direction::Read);
    }
    st.conn_lost().set(st.conn_lost().get() + 1);
    schedule_connection_lost(slf, exc)
}

noargs!(m_socket_close<S: SocketKind>, |slf| close_socket::<S>(slf)
    .map(|_| Owned::none()));
noargs!(m_socket_abort<S: SocketKind>, |slf| force_close_socket::<S>(
    slf,
    null_mut()
)
.map(|_| Owned::none()));
onearg!(m_force_close<S: SocketKind>, |slf, exc| force_close_socket::<
    S,
>(slf, null_if_none(exc))
.map(|_| Owned::none()));
onearg!(m_socket_call_connection_lost<S: SocketKind>, |slf, exc| {
    S::call_connection_lost(slf, null_if_none(exc)).map(|_| Owned::none())
});

// --- flow control --------------------------------------------------------------

/// asyncio's `_FlowControlMixin` state; `T` is how the type counts its
/// buffer.
pub struct FlowControl<T> {
    /// `pause_writing()` was called on the protocol.
    pub protocol_paused: Cell<bool>,
    pub high_water: Cell<T>,
    pub low_water: Cell<T>,
    /// The `(low, high)` objects the last `set_write_buffer_limits()`
    /// computed: `get_write_buffer_limits()` returns them as asyncio does
    /// (a float stays a float), the byte counts above being for comparing.
    limits: RefCell<Option<(Owned, Owned)>>,
}

impl<T: Copy + PartialOrd> FlowControl<T> {
    pub fn new(high: T, low: T) -> FlowControl<T> {
        FlowControl {
            protocol_paused: Cell::new(false),
            high_water: Cell::new(high),
            low_water: Cell::new(low),
            limits: RefCell::new(None),
        }
    }

    /// Sets the water marks: byte counts and the objects they came from.
    pub fn set(&self, (high, low): (T, T), objects: (Owned, Owned)) {
        self.high_water.set(high);
        self.low_water.set(low);
        // The old objects are dropped after the borrow ends.
        let old = self.limits.replace(Some(objects));
        drop(old);
    }

    /// `(low, high)` as asyncio keeps them: the objects last set, else the
    /// default byte counts.
    pub fn limits(&self) -> PyResult<(Owned, Owned)>
    where
        T: PyInt,
    {
        let given = self
            .limits
            .borrow()
            .as_ref()
            .map(|(low, high)| (low.clone(), high.clone()));
        match given {
            Some(objects) => Ok(objects),
            None => Ok((
                self.low_water.get().to_py()?,
                self.high_water.get().to_py()?,
            )),
        }
    }

    /// GC traversal of the objects kept for `get_write_buffer_limits()`.
    pub fn visit(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        let Ok(limits) = self.limits.try_borrow() else {
            return 0;
        };
        let Some((low, high)) = limits.as_ref() else {
            return 0;
        };
        // SAFETY: both are live objects we own.
        unsafe {
            crate::python::ffi::objects::visit_slots(&[low.as_ptr(), high.as_ptr()], visit, arg)
        }
    }

    pub fn clear(&self) {
        let old = self.limits.try_borrow_mut().ok().and_then(|mut l| l.take());
        drop(old);
    }
}

/// asyncio's `_maybe_pause_protocol()`.
pub fn maybe_pause_protocol<S: Buffered>(slf: *mut PyObject) -> PyResult<()> {
    // SAFETY: slf is a transport of type S.
    let st = unsafe { state::<S>(slf) };
    let flow = st.flow();
    if st.buffer_size() <= flow.high_water.get() || flow.protocol_paused.get() {
        return Ok(());
    }
    flow.protocol_paused.set(true);
    flow_control_call(
        slf,
        &names::S_PAUSE_WRITING,
        c"protocol.pause_writing() failed",
    )
}

/// asyncio's `_maybe_resume_protocol()`.
pub fn maybe_resume_protocol<S: Buffered>(slf: *mut PyObject) -> PyResult<()> {
    // SAFETY: slf is a transport of type S.
    let st = unsafe { state::<S>(slf) };
    let flow = st.flow();
    if !flow.protocol_paused.get() || st.buffer_size() > flow.low_water.get() {
        return Ok(());
    }
    flow.protocol_paused.set(false);
    flow_control_call(
        slf,
        &names::S_RESUME_WRITING,
        c"protocol.resume_writing() failed",
    )
}

/// `pause_writing`/`resume_writing`: a failure is reported, not fatal.
fn flow_control_call(slf: *mut PyObject, name: &names::Cached, message: &CStr) -> PyResult<()> {
    if call_protocol(slf, name, &[]).is_ok() {
        return Ok(());
    }
    if raised::pending_is_exit() {
        return Err(Raised);
    }
    let Some(exc) = raised::take_pending() else {
        return Ok(());
    };
    let text = str_object(message)?;
    call_support(
        &names::S_PROTOCOL_CALL_FAILED,
        &[slf, exc.as_ptr(), text.as_ptr()],
    )
    .map(drop)
}

/// A water mark or buffer size as a Python int.
pub trait PyInt: Copy {
    fn to_py(self) -> PyResult<Owned>;
}

impl PyInt for usize {
    fn to_py(self) -> PyResult<Owned> {
        // SAFETY: a new int reference or null.
        unsafe { Owned::from_new(PyLong_FromSize_t(self)) }
    }
}

impl PyInt for i64 {
    fn to_py(self) -> PyResult<Owned> {
        // SAFETY: a new int reference or null.
        unsafe { Owned::from_new(PyLong_FromLongLong(self)) }
    }
}

noargs!(m_get_write_buffer_limits<S: Buffered>, |slf| {
    // SAFETY: slf is a transport of type S.
    let (low, high) = unsafe { state::<S>(slf) }.flow().limits()?;
    // SAFETY: both are live; a new tuple reference or null.
    unsafe { Owned::from_new(PyTuple_Pack(2, low.as_ptr(), high.as_ptr())) }
});

noargs!(m_get_write_buffer_size<S: Buffered>, |slf| {
    // SAFETY: slf is a transport of type S.
    unsafe { state::<S>(slf) }.buffer_size().to_py()
});

unsafe extern "C" fn m_set_write_buffer_limits<S: Buffered>(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: fastcall arguments straight from CPython.
        let [high, low] = unsafe {
            keyword_args(
                "set_write_buffer_limits",
                [c"high", c"low"],
                argv,
                nargsf,
                kwnames,
            )?
        };
        let (high, low) = water_mark_objects(high, low)?;
        let counts = S::water_marks(&high, &low)?;
        // SAFETY: slf is a transport of type S.
        unsafe { state::<S>(slf) }.flow().set(counts, (low, high));
        maybe_pause_protocol::<S>(slf).map(|_| Owned::none())
    })
}

/// `get_write_buffer_size()` (`size_doc`), `get_write_buffer_limits()`,
/// `set_write_buffer_limits(high=None, low=None)`.
pub const fn flow_methods<S: Buffered>(size_doc: &'static CStr) -> [PyMethodDef; 3] {
    [
        noargs_def(
            c"get_write_buffer_size",
            m_get_write_buffer_size::<S>,
            size_doc,
        ),
        noargs_def(
            c"get_write_buffer_limits",
            m_get_write_buffer_limits::<S>,
            c"(low, high) water marks.",
        ),
        kw_def(
            c"set_write_buffer_limits",
            m_set_write_buffer_limits::<S>,
            c"Set the flow-control water marks.",
        ),
    ]
}

/// `_conn_lost`.
pub unsafe extern "C" fn get_conn_lost<S: Buffered>(
    slf: *mut PyObject,
    _: *mut c_void,
) -> *mut PyObject {
    // SAFETY: slf is a transport of type S; a new int reference or null.
    ffi_edge(|| unsafe { Owned::from_new(PyLong_FromLong(state::<S>(slf).conn_lost().get() as _)) })
}

/// `_protocol_paused`.
pub unsafe extern "C" fn get_protocol_paused<S: Buffered>(
    slf: *mut PyObject,
    _: *mut c_void,
) -> *mut PyObject {
    // SAFETY: slf is a transport of type S.
    ffi_edge(|| {
        Ok(bool_object(
            unsafe { state::<S>(slf) }.flow().protocol_paused.get(),
        ))
    })
}

/// `(high, low)` water marks from `set_write_buffer_limits(high, low)`
/// arguments (null or None: default), computed and checked as asyncio's
/// `_set_write_buffer_limits` does on the objects themselves (`4 * low`,
/// `high // 4`, `high >= low >= 0`, its ValueError with their reprs), so
/// floats, huge ints and other comparable numbers behave as there; they are
/// compared as whole byte counts (`water_marks`: floored, saturated).
pub fn water_mark_objects(high: *mut PyObject, low: *mut PyObject) -> PyResult<(Owned, Owned)> {
    // SAFETY: Py_None is immortal; the arguments are null or live; every
    // result is owned.
    unsafe {
        let given = |obj: *mut PyObject| !obj.is_null() && obj != Py_None();
        let four = Owned::from_new(PyLong_FromLong(4))?;
        let high = if given(high) {
            Owned::from_borrowed(high)
        } else if given(low) {
            Owned::from_new(PyNumber_Multiply(four.as_ptr(), low))?
        } else {
            Owned::from_new(PyLong_FromLong(64 * 1024))?
        };
        let low = if given(low) {
            Owned::from_borrowed(low)
        } else {
            Owned::from_new(PyNumber_FloorDivide(high.as_ptr(), four.as_ptr()))?
        };
        let at_least = |a: &Owned, b: *mut PyObject| -> PyResult<bool> {
            let r = Owned::from_new(PyObject_RichCompare(a.as_ptr(), b, Py_GE))?;
            match PyObject_IsTrue(r.as_ptr()) {
                -1 => Err(Raised),
                t => Ok(t == 1),
            }
        };
        let zero = Owned::from_new(PyLong_FromLong(0))?;
        if !(at_least(&high, low.as_ptr())? && at_least(&low, zero.as_ptr())?) {
            let (h, l) = (
                Owned::from_new(PyObject_Repr(high.as_ptr()))?,
                Owned::from_new(PyObject_Repr(low.as_ptr()))?,
            );
            return Err(raise(
                PyExc_ValueError,
                &format!(
                    "high ({}) must be >= low ({}) must be >= 0",
                    utf8(h.as_ptr())?,
                    utf8(l.as_ptr())?
                ),
            ));
        }
        Ok((high, low))
    }
}

/// Validated water marks as byte counts.
pub fn water_marks(high: &Owned, low: &Owned) -> PyResult<(i64, i64)> {
    Ok((byte_count(high)?, byte_count(low)?))
}

/// A validated (>= 0) water mark as a whole byte count: ints saturate at
/// `i64::MAX`; other numbers are floored through `float()` (a buffer size
/// exceeds 1.5 exactly when it exceeds 1).
fn byte_count(mark: &Owned) -> PyResult<i64> {
    // SAFETY: mark is live; the conversions set an error on failure.
    unsafe {
        if PyLong_Check(mark.as_ptr()) != 0 {
            let mut overflow = 0;
            let v = PyLong_AsLongLongAndOverflow(mark.as_ptr(), &mut overflow);
            if overflow != 0 {
                return Ok(i64::MAX);
            }
            if v == -1 && !PyErr_Occurred().is_null() {
                return Err(Raised);
            }
            return Ok(v);
        }
        let v = PyFloat_AsDouble(mark.as_ptr());
        if v == -1.0 && !PyErr_Occurred().is_null() {
            return Err(Raised);
        }
        // `as` saturates (inf: i64::MAX).
        Ok(v.floor() as i64)
    }
}

/// `water_marks` as byte counts (they are non-negative once validated).
pub fn water_marks_usize(high: &Owned, low: &Owned) -> PyResult<(usize, usize)> {
    let (high, low) = water_marks(high, low)?;
    Ok((high as usize, low as usize))
}

// --- reports -----------------------------------------------------------------

/// A new str object holding `text`.
pub fn str_object(text: &CStr) -> PyResult<Owned> {
    // SAFETY: a new str reference or null.
    unsafe { Owned::from_new(PyUnicode_FromString(text.as_ptr())) }
}

/// A socket transport's `_fatal_error(exc, message)` report (reporting in
/// Python; the caller then force-closes).
pub fn report_socket_fatal(slf: *mut PyObject, exc: Owned, message: &CStr) -> PyResult<()> {
    let text = str_object(message)?;
    call_support(
        &names::S_TRANSPORT_FATAL_ERROR,
        &[slf, exc.as_ptr(), text.as_ptr()],
    )
    .map(drop)
}

/// A pipe transport's `_fatal_error(exc, message)` report (the caller then
/// closes): an OSError (with `any_os_error`; else only EIO) is logged in
/// debug mode only, anything else goes to the exception handler.
fn report_pipe_fatal(
    slf: *mut PyObject,
    exc: &Owned,
    message: &CStr,
    any_os_error: bool,
) -> PyResult<()> {
    let text = str_object(message)?;
    call_support(
        &names::S_PIPE_FATAL_ERROR,
        &[
            slf,
            exc.as_ptr(),
            text.as_ptr(),
            bool_object(any_os_error).as_ptr(),
        ],
    )
    .map(drop)
}

/// Debug mode only: `logger.<level>(message, transport)`.
pub fn debug_log(slf: *mut PyObject, level: &names::Cached, message: &CStr) -> PyResult<()> {
    if !loop_of(slf).is_some_and(|lp| lp.debug()) {
        return Ok(());
    }
    let text = str_object(message)?;
    call_support(level, &[text.as_ptr(), slf]).map(drop)
}

/// The type's short name and the "closed"/"closing" words of a repr.
fn repr_head(slf: *mut PyObject) -> Vec<String> {
    let c = core(slf);
    // SAFETY: slf is live; tp_name is a C string.
    let full = unsafe { CStr::from_ptr((*Py_TYPE(slf)).tp_name).to_string_lossy() };
    let mut info = vec![full.rsplit('.').next().unwrap_or_default().to_owned()];
    if io_object(slf).is_null() {
        info.push("closed".into());
    } else if c.closing.get() {
        info.push("closing".into());
    }
    info.push(format!("fd={}", c.fd.get()));
    info
}

fn repr_object(info: Vec<String>) -> PyResult<Owned> {
    let text = std::ffi::CString::new(format!("<{}>", info.join(" "))).unwrap_or_default();
    str_object(&text)
}

/// `repr()`, as asyncio's selector transports build it.
pub fn socket_repr(slf: *mut PyObject, bufsize: impl Display) -> PyResult<Owned> {
    let mut info = repr_head(slf);
    if loop_of(slf).is_some_and(|lp| !lp.is_closed()) {
        let c = core(slf);
        let polling = |on: bool| if on { "polling" } else { "idle" };
        info.push(format!("read={}", polling(c.reading.get())));
        info.push(format!(
            "write=<{}, bufsize={bufsize}>",
            polling(c.writing.get())
        ));
    }
    repr_object(info)
}

/// `repr()`, as asyncio's pipe transports build it; `bufsize` only for the
/// write side.
pub fn pipe_repr(
    slf: *mut PyObject,
    interest: Direction,
    bufsize: Option<usize>,
) -> PyResult<Owned> {
    let mut info = repr_head(slf);
    let fd = core(slf).fd.get();
    // asyncio asks its selector, which a closed loop no longer has.
    let polling = loop_of(slf).filter(|lp| !lp.is_closed()).map(|lp| {
        let engine = lp.engine().borrow();
        engine.has_watcher(fd, interest)
    });
    match (io_object(slf).is_null(), polling) {
        (false, Some(polling)) => {
            info.push(if polling { "polling" } else { "idle" }.into());
            if let Some(size) = bufsize {
                info.push(format!("bufsize={size}"));
            }
        }
        (false, None) => info.push("open".into()),
        (true, _) => info.push("closed".into()),
    }
    repr_object(info)
}

// --- reading: is_reading / pause_reading / resume_reading / _start_reading --

fn is_reading(slf: *mut PyObject) -> bool {
    let c = core(slf);
    !c.paused.get() && !c.closing.get()
}

noargs!(m_is_reading, |slf| Ok(bool_object(is_reading(slf))));

noargs!(m_pause_reading<S: Kind>, |slf| {
    if !is_reading(slf) {
        return Ok(Owned::none());
    }
    core(slf).paused.set(true);
    unregister(slf, Direction::Read);
    debug_log(slf, &names::S_DEBUG_LOG, c"%r pauses reading")?;
    Ok(Owned::none())
});

noargs!(m_resume_reading<S: Kind>, |slf| {
    let c = core(slf);
    if c.closing.get() || !c.paused.get() {
        return Ok(Owned::none());
    }
    c.paused.set(false);
    register(slf, Direction::Read, S::READ_ITEM)?;
    debug_log(slf, &names::S_DEBUG_LOG, c"%r resumes reading")?;
    Ok(Owned::none())
});

// Scheduled after connection_made(), which may have paused or closed.
noargs!(m_start_reading<S: Kind>, |slf| {
    if is_reading(slf) {
        register(slf, Direction::Read, S::READ_ITEM)?;
    }
    Ok(Owned::none())
});

/// `is_reading`, `pause_reading`, `resume_reading` of a reading transport,
/// then `_start_reading` (the docs differ by type).
pub const fn reading_methods<S: Kind>(
    pause_doc: &'static CStr,
    start_doc: &'static CStr,
) -> [PyMethodDef; 4] {
    [
        noargs_def(
            c"is_reading",
            m_is_reading,
            c"Whether the transport is receiving.",
        ),
        noargs_def(c"pause_reading", m_pause_reading::<S>, pause_doc),
        noargs_def(
            c"resume_reading",
            m_resume_reading::<S>,
            c"Resume reading after pause_reading().",
        ),
        noargs_def(c"_start_reading", m_start_reading::<S>, start_doc),
    ]
}

// --- methods and attributes every transport has ------------------------------

/// A pipe transport's asyncio `_fatal_error(exc, message)`: report, then
/// close.
pub fn pipe_fatal_error<S: PipeKind>(
    slf: *mut PyObject,
    exc: &Owned,
    message: &CStr,
) -> PyResult<()> {
    report_pipe_fatal(slf, exc, message, S::QUIET_OS_ERRORS)?;
    S::close_with(slf, exc.as_ptr())
}

/// `_fatal_error(exc, message='Fatal error on pipe transport')`.
unsafe extern "C" fn m_pipe_fatal_error<S: PipeKind>(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: fastcall arguments straight from CPython.
        let [exc, message] =
            unsafe { keyword_args("_fatal_error", [c"exc", c"message"], argv, nargsf, kwnames)? };
        if exc.is_null() {
            return Err(crate::python::ffi::args::missing(
                "_fatal_error",
                &["exc"],
                0,
            ));
        }
        // SAFETY: exc is live.
        let exc = unsafe { Owned::from_borrowed(exc) };
        let text = if message.is_null() {
            c"Fatal error on pipe transport".to_owned()
        } else {
            std::ffi::CString::new(utf8(message)?).unwrap_or_default()
        };
        pipe_fatal_error::<S>(slf, &exc, &text).map(|_| Owned::none())
    })
}

/// The pipe transports' `_fatal_error` method.
pub const fn pipe_fatal_error_def<S: PipeKind>() -> PyMethodDef {
    kw_def(
        c"_fatal_error",
        m_pipe_fatal_error::<S>,
        c"_fatal_error(exc, message='Fatal error on pipe transport'): report, then close.",
    )
}

/// `get_extra_info(name, default=None)`.
///
/// # Safety
/// The arguments are the ones CPython passed to a METH_FASTCALL|KEYWORDS method.
unsafe fn get_extra_info(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: per the contract.
        let [name, default] = unsafe {
            keyword_args(
                "get_extra_info",
                [c"name", c"default"],
                argv,
                nargsf,
                kwnames,
            )?
        };
        if name.is_null() {
            return Err(crate::python::ffi::args::missing(
                "get_extra_info",
                &["name"],
                0,
            ));
        }
        // SAFETY: extra is the dict given at creation; GetItem borrows.
        unsafe {
            let extra = (*slots(slf)).extra;
            if !extra.is_null() {
                let found = PyDict_GetItemWithError(extra, name);
                if !found.is_null() {
                    return Ok(Owned::from_borrowed(found));
                }
                if !PyErr_Occurred().is_null() {
                    return Err(Raised);
                }
            }
        }
        Ok(Owned::from_ptr_or_none(default))
    })
}

unsafe extern "C" fn m_get_extra_info<S: Kind>(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: fastcall arguments straight from CPython.
    unsafe { get_extra_info(slf, argv, nargsf, kwnames) }
}

onearg!(m_set_protocol, |slf, protocol| {
    replace_protocol(slf, protocol);
    Ok(Owned::none())
});
noargs!(m_get_protocol, |slf| Ok(protocol(slf)));
noargs!(m_is_closing, |slf| Ok(bool_object(core(slf).closing.get())));

/// A pipe transport's `_call_connection_lost(exc)`: tell the protocol,
/// then (in any case) close the pipe and let go of the protocol and the loop.
pub fn pipe_connection_lost<S: Kind>(slf: *mut PyObject, exc: *mut PyObject) -> PyResult<()> {
    lose_connection(slf, exc, true, || release::<S>(slf))
}

unsafe extern "C" fn m_pipe_call_connection_lost<S: Kind>(
    slf: *mut PyObject,
    exc: *mut PyObject,
) -> *mut PyObject {
    let exc = null_if_none(exc);
    ffi_edge(|| pipe_connection_lost::<S>(slf, exc).map(|_| Owned::none()))
}

pub const GET_EXTRA_INFO_DOC: &CStr = c"get_extra_info(name, default=None).";

/// `get_extra_info` and `get_protocol` of the socket transports.
pub const fn socket_methods<S: Kind>() -> [PyMethodDef; 2] {
    [
        kw_def(c"get_extra_info", m_get_extra_info::<S>, GET_EXTRA_INFO_DOC),
        noargs_def(c"get_protocol", m_get_protocol, c"The current protocol."),
    ]
}

/// `close`, `abort`, `is_closing`, `_force_close`, `_call_connection_lost`
/// of the socket transports.
pub const fn socket_closing_methods<S: SocketKind>() -> [PyMethodDef; 5] {
    [
        noargs_def(
            c"close",
            m_socket_close::<S>,
            c"Close after the buffer drains; connection_lost(None) follows.",
        ),
        noargs_def(
            c"abort",
            m_socket_abort::<S>,
            c"Close at once, dropping the buffer.",
        ),
        noargs_def(
            c"is_closing",
            m_is_closing,
            c"Whether close() or abort() was called.",
        ),
        onearg_def(
            c"_force_close",
            m_force_close::<S>,
            c"Close at once because of exc.",
        ),
        onearg_def(
            c"_call_connection_lost",
            m_socket_call_connection_lost::<S>,
            c"Tell the protocol and release everything.",
        ),
    ]
}

/// The methods both pipe transports have, by name.
pub const fn pipe_methods<S: Kind>() -> [PyMethodDef; 5] {
    [
        kw_def(c"get_extra_info", m_get_extra_info::<S>, GET_EXTRA_INFO_DOC),
        onearg_def(c"set_protocol", m_set_protocol, c"Replace the protocol."),
        noargs_def(c"get_protocol", m_get_protocol, c"The current protocol."),
        noargs_def(
            c"is_closing",
            m_is_closing,
            c"Whether the transport is closing or closed.",
        ),
        onearg_def(
            c"_call_connection_lost",
            m_pipe_call_connection_lost::<S>,
            c"Tell the protocol, close the pipe, let go of everything.",
        ),
    ]
}

macro_rules! slot_getter {
    ($name:ident, $field:ident) => {
        pub unsafe extern "C" fn $name(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
            // SAFETY: slf is live; the slot is null or a live reference.
            ffi_edge(|| Ok(Owned::from_ptr_or_none(unsafe { (*slots(slf)).$field })))
        }
    };
}

slot_getter!(get_loop, loop_);
slot_getter!(get_io, io);
slot_getter!(get_protocol_attr, protocol);
slot_getter!(get_extra, extra);

pub unsafe extern "C" fn get_fileno(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: a new int reference or null.
    ffi_edge(|| unsafe { Owned::from_new(PyLong_FromLong(core(slf).fd.get() as _)) })
}

/// `transport._pipe = obj` on a pipe transport, as asyncio's own tests do
/// after closing the pipe themselves (`_pipe.close(); _pipe = None`). None
/// marks the transport's pipe closed: its next syscall fails with EBADF (it
/// never reads or writes the bare number, which may be reused). Pipe
/// transports do not count their fd with the loop, so nothing else changes.
pub unsafe extern "C" fn set_pipe(
    slf: *mut PyObject,
    value: *mut PyObject,
    _: *mut c_void,
) -> c_int {
    if value.is_null() {
        // SAFETY: a static message; -1 reports the set exception.
        unsafe {
            PyErr_SetString(
                PyExc_AttributeError,
                c"cannot delete attribute '_pipe'".as_ptr(),
            )
        };
        return -1;
    }
    // SAFETY: slf is a live pipe transport; the slot is null or owned, and
    // the old object is released after the slot holds its successor.
    unsafe {
        let new = if value == Py_None() {
            null_mut()
        } else {
            core(slf).fd_owner.set(FdOwner::of(value));
            Owned::from_borrowed(value).into_ptr()
        };
        let old = std::mem::replace(&mut (*slots(slf)).io, new);
        if !old.is_null() {
            Py_DECREF(old);
        }
    }
    0
}

pub unsafe extern "C" fn get_closing(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    ffi_edge(|| Ok(bool_object(core(slf).closing.get())))
}

pub unsafe extern "C" fn get_paused(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    ffi_edge(|| Ok(bool_object(core(slf).paused.get())))
}

// --- type slots --------------------------------------------------------------

unsafe extern "C" fn traverse<S: Kind>(
    slf: *mut PyObject,
    visit: visitproc,
    arg: *mut c_void,
) -> c_int {
    let s = slots(slf);
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

unsafe extern "C" fn clear<S: Kind>(slf: *mut PyObject) -> c_int {
    let s = slots(slf);
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
unsafe extern "C" fn finalize<S: Kind>(slf: *mut PyObject) {
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

unsafe extern "C" fn dealloc<S: Kind>(slf: *mut PyObject) {
    // SAFETY: last reference gone. The finalizer may resurrect the object;
    // then we stop. Otherwise untrack, release the slots and the state.
    unsafe {
        if PyObject_CallFinalizerFromDealloc(slf) < 0 {
            return;
        }
        PyObject_GC_UnTrack(slf.cast());
        if !(*slots(slf)).weakreflist.is_null() {
            PyObject_ClearWeakRefs(slf);
        }
        let o = slf.cast::<TransportObject<S>>();
        if S::TRACKS_FD && !io_object(slf).is_null() && !(*o).state.is_null() {
            if let Some(lp) = loop_of(slf) {
                lp.forget_transport_fd(core(slf).fd.get());
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
pub fn shared_type_spec<S: Kind>() -> TypeSpec {
    let slots_at = std::mem::offset_of!(TransportObject<S>, slots);
    TypeSpec {
        basicsize: std::mem::size_of::<TransportObject<S>>(),
        flags: Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
        dealloc: Some(dealloc::<S>),
        finalize: Some(finalize::<S>),
        traverse: Some(traverse::<S>),
        clear: Some(clear::<S>),
        dictoffset: slots_at + std::mem::offset_of!(Slots, dict),
        weaklistoffset: slots_at + std::mem::offset_of!(Slots, weakreflist),
        ..TypeSpec::DEFAULTS
    }
}
