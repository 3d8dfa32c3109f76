//! What the two pipe transports (`ReadPipeTransport`, `WritePipeTransport`)
//! share: the object layout up to their own state, registration with the
//! engine, loop and protocol calls, connection loss, reports through
//! `zloop._support`, and the methods and attributes both expose.
//!
//! asyncio's pipe transports are callbacks registered with `_add_reader` /
//! `_add_writer`; here readiness arrives as `ReadyItem::PipeRead` /
//! `PipeWrite` / `PipeClosed` straight from the engine, and an exception
//! escaping one is reported as asyncio's `Handle` reports it.

use pyo3_ffi::*;
use std::cell::Cell;
use std::ffi::{c_int, c_void, CStr};
use std::io;
use std::os::fd::RawFd;
use std::ptr::null_mut;

use super::args::{keyword_args, utf8, Surplus};
use super::event_loop::LoopObject;
use super::handle::bool_object;
use super::names::{self, call_support};
use super::owned::{clear_slot, Owned};
use super::raised::{self, raise, raise_io, PyResult, Raised};
use super::ready_item::ReadyItem;
use super::type_object::{ffi_edge, kw_def, noargs_def, onearg_def};

/// The object references every pipe transport holds.
#[repr(C)]
pub struct Slots {
    pub dict: *mut PyObject,
    pub weakreflist: *mut PyObject,
    /// The loop (null once the connection is lost, as asyncio's `_loop`).
    pub loop_: *mut PyObject,
    /// The pipe object (null once closed, as asyncio's `_pipe`).
    pub pipe: *mut PyObject,
    pub protocol: *mut PyObject,
    pub extra: *mut PyObject,
    /// Contexts copied when reading / writing was registered, as asyncio's
    /// `_add_reader`/`_add_writer` copy the caller's context.
    pub read_context: *mut PyObject,
    pub write_context: *mut PyObject,
}

/// Plain state both transports have; all-zero is a valid value, so it lives
/// inline in the (zeroed) object.
#[repr(C)]
pub struct Core {
    pub fd: Cell<RawFd>,
    pub closing: Cell<bool>,
    /// Registered with the engine for reading / writing.
    pub reading: Cell<bool>,
    pub writing: Cell<bool>,
}

/// A pipe transport object: the common part, then a pointer to the state
/// of the concrete type (`S`). The common part's layout does not depend on
/// `S`, so shared code reads it through `PipeObject<()>`.
#[repr(C)]
pub struct PipeObject<S> {
    ob_base: PyObject,
    pub slots: Slots,
    pub core: Core,
    pub state: *mut S,
}

fn common(slf: *mut PyObject) -> *mut PipeObject<()> {
    slf.cast()
}

pub fn slots(slf: *mut PyObject) -> *mut Slots {
    // SAFETY: slf is a live pipe transport; this only computes a field address.
    unsafe { &raw mut (*common(slf)).slots }
}

pub fn core<'a>(slf: *mut PyObject) -> &'a Core {
    // SAFETY: slf is a live pipe transport; Core is all Cells, so a shared
    // reference is enough for every access.
    unsafe { &(*common(slf)).core }
}

/// The concrete state of a transport of type `S` (set by its `tp_new`).
///
/// # Safety
/// `slf` is a live transport whose `state` was allocated as an `S`.
pub unsafe fn state<'a, S>(slf: *mut PyObject) -> &'a S {
    // SAFETY: per the contract; only dealloc frees the state.
    unsafe { &*(*slf.cast::<PipeObject<S>>()).state }
}

/// Allocates a transport of type `tp` holding `loop`, `pipe`, `protocol`,
/// `extra` and `state`.
pub fn new_object<S>(
    tp: *mut PyTypeObject,
    args: *mut PyObject,
    type_name: &str,
    state: S,
) -> PyResult<Owned> {
    // SAFETY: args is the positional tuple CPython passes to tp_new.
    let argv: Vec<*mut PyObject> = unsafe {
        (0..PyTuple_GET_SIZE(args))
            .map(|i| PyTuple_GET_ITEM(args, i))
            .collect()
    };
    if argv.len() != 5 {
        // SAFETY: valid exception class.
        return Err(raise(
            unsafe { PyExc_TypeError },
            &format!("{type_name}() takes 5 arguments (loop, pipe, fileno, protocol, extra)"),
        ));
    }
    let (lp, pipe, fileno, protocol, extra) = (argv[0], argv[1], argv[2], argv[3], argv[4]);
    // SAFETY: the loop argument is type-checked before it is used as one.
    if unsafe { PyObject_TypeCheck(lp, &raw mut super::event_loop::LOOP_TYPE) } == 0 {
        // SAFETY: valid exception class.
        return Err(raise(
            unsafe { PyExc_TypeError },
            &format!("{type_name}() needs a zloop loop"),
        ));
    }
    let fd = super::args::fileobj_to_fd(fileno)?;
    // SAFETY: tp_alloc returns a zeroed, GC-tracked object; every field is
    // written before the object is visible to Python code.
    unsafe {
        let alloc = (*tp).tp_alloc.unwrap_or(PyType_GenericAlloc);
        let obj = Owned::from_new(alloc(tp, 0))?;
        let o = obj.as_ptr().cast::<PipeObject<S>>();
        (*o).state = Box::into_raw(Box::new(state));
        (*o).core.fd.set(fd);
        let s = &mut (*o).slots;
        s.loop_ = Owned::from_borrowed(lp).into_ptr();
        s.pipe = Owned::from_borrowed(pipe).into_ptr();
        s.protocol = Owned::from_borrowed(protocol).into_ptr();
        s.extra = Owned::from_borrowed(extra).into_ptr();
        Ok(obj)
    }
}

// --- engine registration ---------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    Read,
    Write,
}

/// An owned reference to a pipe transport, as the engine holds it.
#[derive(Clone)]
pub struct PipeRef(Owned);

impl PipeRef {
    pub fn as_ptr(&self) -> *mut PyObject {
        self.0.as_ptr()
    }

    /// Whether a queued item of this interest should still run.
    pub fn wants(&self, interest: Interest) -> bool {
        flag(self.as_ptr(), interest).get()
    }

    /// The engine dropped our registration (someone replaced it).
    pub fn forget(&self, interest: Interest) {
        flag(self.as_ptr(), interest).set(false);
    }
}

fn flag<'a>(slf: *mut PyObject, interest: Interest) -> &'a Cell<bool> {
    let c = core(slf);
    match interest {
        Interest::Read => &c.reading,
        Interest::Write => &c.writing,
    }
}

fn context_slot(slf: *mut PyObject, interest: Interest) -> *mut *mut PyObject {
    let s = slots(slf);
    // SAFETY: only computes a field address of a live transport.
    unsafe {
        match interest {
            Interest::Read => &raw mut (*s).read_context,
            Interest::Write => &raw mut (*s).write_context,
        }
    }
}

pub fn loop_of<'a>(slf: *mut PyObject) -> Option<&'a LoopObject> {
    // SAFETY: slf is live; loop_ is null or a live Loop.
    let lp = unsafe { (*slots(slf)).loop_ };
    (!lp.is_null()).then(|| LoopObject::from_ptr(lp))
}

fn loop_owned(slf: *mut PyObject) -> Option<Owned> {
    // SAFETY: slf is live; loop_ is null or a live Loop.
    let lp = unsafe { (*slots(slf)).loop_ };
    // SAFETY: lp is live when non-null.
    (!lp.is_null()).then(|| unsafe { Owned::from_borrowed(lp) })
}

/// Watches the pipe for `interest` (idempotent) with the item `make` builds,
/// its callbacks running in a copy of the current context.
pub fn register(
    slf: *mut PyObject,
    interest: Interest,
    make: fn(PipeRef) -> ReadyItem,
) -> PyResult<()> {
    let flag = flag(slf, interest);
    if flag.get() {
        return Ok(());
    }
    let Some(lp) = loop_of(slf) else {
        return Ok(());
    };
    // SAFETY: the slot holds null or an owned Context; the copy is owned.
    unsafe {
        let copy = Owned::from_new(PyContext_CopyCurrent())?;
        let slot = context_slot(slf, interest);
        clear_slot(slot);
        *slot = copy.into_ptr();
    }
    let fd = core(slf).fd.get();
    // SAFETY: slf is live.
    let item = make(PipeRef(unsafe { Owned::from_borrowed(slf) }));
    let result = {
        let mut engine = lp.engine().borrow_mut();
        match interest {
            Interest::Read => engine.set_reader(fd, item),
            Interest::Write => engine.set_writer(fd, item),
        }
    };
    match result {
        Ok(replaced) => {
            flag.set(true);
            drop(replaced);
            Ok(())
        }
        Err((err, item)) => {
            drop(item);
            Err(raise_io(&err))
        }
    }
}

/// Stops watching the pipe for `interest` (idempotent).
pub fn unregister(slf: *mut PyObject, interest: Interest) {
    if !flag(slf, interest).replace(false) {
        return;
    }
    if let Some(lp) = loop_of(slf) {
        let fd = core(slf).fd.get();
        let removed = {
            let mut engine = lp.engine().borrow_mut();
            match interest {
                Interest::Read => engine.remove_reader(fd),
                Interest::Write => engine.remove_writer(fd),
            }
        };
        drop(removed);
    }
}

/// Runs a readiness callback (`name` is the asyncio method it stands for)
/// in the context captured at registration. An exception escaping it is
/// reported as asyncio's `Handle._run` reports one; KeyboardInterrupt and
/// SystemExit propagate.
pub fn run_callback(
    slf: *mut PyObject,
    interest: Interest,
    name: &names::Cached,
    f: impl FnOnce() -> PyResult<()>,
) -> PyResult<()> {
    let Some(lp) = loop_owned(slf) else {
        return Ok(());
    };
    // SAFETY: the slot is null or a live Context, re-owned for the call
    // because the callback may register again (replacing it).
    let result = unsafe {
        let slot = *context_slot(slf, interest);
        if slot.is_null() {
            f()
        } else {
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
    };
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

/// `protocol.<name>(*args)` on the current protocol.
pub fn call_protocol(
    slf: *mut PyObject,
    name: &names::Cached,
    args: &[*mut PyObject],
) -> PyResult<Owned> {
    // SAFETY: slf is live; the slot is null or a live protocol.
    let proto = Owned::from_ptr_or_none(unsafe { (*slots(slf)).protocol });
    let mut argv = Vec::with_capacity(args.len() + 1);
    argv.push(proto.as_ptr());
    argv.extend_from_slice(args);
    // SAFETY: argv holds live borrowed references; the name is interned.
    unsafe {
        Owned::from_new(PyObject_VectorcallMethod(
            name.get(),
            argv.as_ptr(),
            argv.len(),
            null_mut(),
        ))
    }
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
    let mut argv = vec![lp.as_ptr(), callback];
    argv.extend_from_slice(args);
    // SAFETY: argv holds live references; the name is interned.
    unsafe {
        Owned::from_new(PyObject_VectorcallMethod(
            names::S_CALL_SOON.get(),
            argv.as_ptr(),
            argv.len(),
            null_mut(),
        ))
        .map(drop)
    }
}

/// `loop.call_soon(self._call_connection_lost, exc)`; `exc` null is None.
pub fn schedule_connection_lost(slf: *mut PyObject, exc: *mut PyObject) -> PyResult<()> {
    // SAFETY: slf is live; the bound method is a new reference; None is immortal.
    unsafe {
        let method = Owned::from_new(PyObject_GetAttr(slf, names::S_CALL_CONNECTION_LOST.get()))?;
        let exc = if exc.is_null() { Py_None() } else { exc };
        call_soon(slf, method.as_ptr(), &[exc])
    }
}

/// asyncio's `_call_connection_lost(exc)`: tell the protocol, then (in any
/// case) close the pipe and let go of the protocol and the loop.
pub fn call_connection_lost(slf: *mut PyObject, exc: *mut PyObject) -> PyResult<()> {
    // SAFETY: Py_None is immortal.
    let exc = if exc.is_null() {
        unsafe { Py_None() }
    } else {
        exc
    };
    let result = call_protocol(slf, &names::S_CONNECTION_LOST, &[exc]).map(drop);
    // `finally:` keep a pending error while we clean up.
    let pending = result.is_err().then(raised::take_pending).flatten();
    unregister(slf, Interest::Read);
    unregister(slf, Interest::Write);
    let s = slots(slf);
    // SAFETY: slf is live; each slot is null or owned; pipe.close() is a
    // plain method call on a live object.
    let cleanup = unsafe {
        let pipe = (*s).pipe;
        let closed = if pipe.is_null() {
            Ok(())
        } else {
            let pipe = Owned::from_borrowed(pipe);
            clear_slot(&raw mut (*s).pipe);
            Owned::from_new(PyObject_CallMethodNoArgs(
                pipe.as_ptr(),
                names::S_CLOSE.get(),
            ))
            .map(drop)
        };
        clear_slot(&raw mut (*s).protocol);
        clear_slot(&raw mut (*s).loop_);
        closed
    };
    if let Some(exc) = pending {
        if cleanup.is_err() {
            // SAFETY: the cleanup's error gives way to the protocol's.
            unsafe { PyErr_Clear() };
        }
        return Err(raised::restore(exc));
    }
    cleanup
}

// --- reports -----------------------------------------------------------------

/// asyncio's `_fatal_error(exc, message)` report (the caller then closes):
/// an OSError (with `any_os_error`; else only EIO) is logged in debug mode
/// only, anything else goes to the exception handler.
pub fn report_fatal(
    slf: *mut PyObject,
    exc: &Owned,
    message: &CStr,
    any_os_error: bool,
) -> PyResult<()> {
    // SAFETY: a new str reference or null.
    let text = unsafe { Owned::from_new(PyUnicode_FromString(message.as_ptr()))? };
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

/// A failed syscall as an OSError instance.
pub fn os_error(err: &io::Error) -> Option<Owned> {
    raise_io(err);
    raised::take_pending()
}

/// Debug mode only: `logger.<level>(message, transport)`.
pub fn debug_log(slf: *mut PyObject, name: &names::Cached, message: &CStr) -> PyResult<()> {
    if !loop_of(slf).is_some_and(|lp| lp.debug()) {
        return Ok(());
    }
    // SAFETY: a new str reference or null.
    let text = unsafe { Owned::from_new(PyUnicode_FromString(message.as_ptr()))? };
    call_support(name, &[text.as_ptr(), slf]).map(drop)
}

/// `repr()`, as asyncio's pipe transports build it; `bufsize` only for the
/// write side.
pub fn repr(slf: *mut PyObject, interest: Interest, bufsize: Option<usize>) -> PyResult<Owned> {
    let c = core(slf);
    // SAFETY: slf is live; tp_name is a C string.
    let (pipe, name) = unsafe {
        let full = CStr::from_ptr((*Py_TYPE(slf)).tp_name)
            .to_string_lossy()
            .into_owned();
        (
            (*slots(slf)).pipe,
            full.rsplit('.').next().unwrap_or_default().to_owned(),
        )
    };
    let mut info = vec![name];
    if pipe.is_null() {
        info.push("closed".into());
    } else if c.closing.get() {
        info.push("closing".into());
    }
    info.push(format!("fd={}", c.fd.get()));
    // asyncio asks its selector, which a closed loop no longer has.
    let polling = loop_of(slf).filter(|lp| !lp.is_closed()).map(|lp| {
        let fd = c.fd.get();
        let engine = lp.engine().borrow();
        match interest {
            Interest::Read => engine.has_reader(fd),
            Interest::Write => engine.has_writer(fd),
        }
    });
    match (pipe.is_null(), polling) {
        (false, Some(polling)) => {
            info.push(if polling { "polling" } else { "idle" }.into());
            if let Some(size) = bufsize {
                info.push(format!("bufsize={size}"));
            }
        }
        (false, None) => info.push("open".into()),
        (true, _) => info.push("closed".into()),
    }
    let text = std::ffi::CString::new(format!("<{}>", info.join(" "))).unwrap_or_default();
    // SAFETY: a new str reference or null.
    unsafe { Owned::from_new(PyUnicode_FromString(text.as_ptr())) }
}

/// `(high, low)` water marks from `set_write_buffer_limits(high, low)`
/// arguments (null or None: default), with asyncio's rules and message.
pub fn water_marks(high: *mut PyObject, low: *mut PyObject) -> PyResult<(usize, usize)> {
    // SAFETY: Py_None is immortal; comparing pointers.
    let none = unsafe { Py_None() };
    let as_int = |obj: *mut PyObject| -> PyResult<Option<i128>> {
        if obj.is_null() || obj == none {
            return Ok(None);
        }
        // SAFETY: obj is live; PyLong_AsLongLong sets an error on failure.
        let v = unsafe { PyLong_AsLongLong(obj) };
        if v == -1 && !unsafe { PyErr_Occurred() }.is_null() {
            return Err(Raised);
        }
        Ok(Some(v as i128))
    };
    let (high_v, low_v) = (as_int(high)?, as_int(low)?);
    let high_v = match (high_v, low_v) {
        (Some(h), _) => h,
        (None, None) => 64 * 1024,
        (None, Some(l)) => 4 * l,
    };
    let low_v = low_v.unwrap_or(high_v / 4);
    if !(high_v >= low_v && low_v >= 0) {
        // SAFETY: valid exception class.
        return Err(raise(
            unsafe { PyExc_ValueError },
            &format!("high ({high_v}) must be >= low ({low_v}) must be >= 0"),
        ));
    }
    Ok((high_v as usize, low_v as usize))
}

// --- methods and attributes both types have ---------------------------------

/// `_fatal_error(exc, message='Fatal error on pipe transport')`, for the
/// type whose `fatal_error` reports and closes.
///
/// # Safety
/// The arguments are the ones CPython passed to a METH_FASTCALL|KEYWORDS method.
pub unsafe fn fatal_error_method(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
    fatal_error: fn(*mut PyObject, &Owned, &CStr) -> PyResult<()>,
) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: per the contract.
        let [exc, message] = unsafe {
            keyword_args(
                "_fatal_error",
                [c"exc", c"message"],
                Surplus::Reject,
                argv,
                nargsf,
                kwnames,
            )?
        };
        if exc.is_null() {
            return Err(super::args::missing("_fatal_error", &["exc"], 0));
        }
        // SAFETY: exc is live.
        let exc = unsafe { Owned::from_borrowed(exc) };
        let text = if message.is_null() {
            c"Fatal error on pipe transport".to_owned()
        } else {
            std::ffi::CString::new(utf8(message)?).unwrap_or_default()
        };
        fatal_error(slf, &exc, &text).map(|_| Owned::none())
    })
}

pub unsafe extern "C" fn m_get_extra_info(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: fastcall arguments straight from CPython.
        let [name, default] = unsafe {
            keyword_args(
                "get_extra_info",
                [c"name", c"default"],
                Surplus::Reject,
                argv,
                nargsf,
                kwnames,
            )?
        };
        if name.is_null() {
            return Err(super::args::missing("get_extra_info", &["name"], 0));
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

pub unsafe extern "C" fn m_set_protocol(
    slf: *mut PyObject,
    protocol: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: slf is live; the old protocol is released after the new is set.
    ffi_edge(|| unsafe {
        let s = slots(slf);
        let old = (*s).protocol;
        (*s).protocol = Owned::from_borrowed(protocol).into_ptr();
        Py_XDECREF(old);
        Ok(Owned::none())
    })
}

pub unsafe extern "C" fn m_get_protocol(slf: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    // SAFETY: slf is live; the slot is null or a live protocol.
    ffi_edge(|| Ok(Owned::from_ptr_or_none(unsafe { (*slots(slf)).protocol })))
}

pub unsafe extern "C" fn m_is_closing(slf: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    ffi_edge(|| Ok(bool_object(core(slf).closing.get())))
}

pub unsafe extern "C" fn m_call_connection_lost(
    slf: *mut PyObject,
    exc: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: Py_None is immortal.
    let exc = if exc == unsafe { Py_None() } {
        null_mut()
    } else {
        exc
    };
    ffi_edge(|| call_connection_lost(slf, exc).map(|_| Owned::none()))
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
slot_getter!(get_pipe, pipe);
slot_getter!(get_protocol_attr, protocol);
slot_getter!(get_extra, extra);

pub unsafe extern "C" fn get_fileno(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: a new int reference or null.
    ffi_edge(|| unsafe { Owned::from_new(PyLong_FromLong(core(slf).fd.get() as _)) })
}

pub unsafe extern "C" fn get_closing(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    ffi_edge(|| Ok(bool_object(core(slf).closing.get())))
}

// --- type slots --------------------------------------------------------------

pub unsafe extern "C" fn traverse(slf: *mut PyObject, visit: visitproc, arg: *mut c_void) -> c_int {
    let s = slots(slf);
    // SAFETY: the GC passes a live object; each slot is null or live.
    unsafe {
        super::type_object::visit_slots(
            &[
                (*s).dict,
                (*s).loop_,
                (*s).pipe,
                (*s).protocol,
                (*s).extra,
                (*s).read_context,
                (*s).write_context,
            ],
            visit,
            arg,
        )
    }
}

pub unsafe extern "C" fn clear(slf: *mut PyObject) -> c_int {
    let s = slots(slf);
    // SAFETY: each slot is null or owned; clear_slot nulls it first.
    unsafe {
        clear_slot(&raw mut (*s).dict);
        clear_slot(&raw mut (*s).protocol);
        clear_slot(&raw mut (*s).extra);
        clear_slot(&raw mut (*s).read_context);
        clear_slot(&raw mut (*s).write_context);
        clear_slot(&raw mut (*s).pipe);
        clear_slot(&raw mut (*s).loop_);
    }
    0
}

/// `__del__`: an unclosed transport warns (ResourceWarning) and closes its
/// pipe, as asyncio's does.
pub unsafe extern "C" fn finalize(slf: *mut PyObject) {
    // SAFETY: called by CPython with the object intact; the pending
    // exception is saved and restored around the Python call.
    unsafe {
        // At interpreter shutdown warnings cannot be issued; the pipe
        // object closes itself when it goes.
        if (*slots(slf)).pipe.is_null() || super::type_object::interpreter_finalizing() {
            return;
        }
        let saved = raised::take_pending();
        if call_support(&names::S_UNCLOSED_PIPE_TRANSPORT, &[slf]).is_err() {
            PyErr_WriteUnraisable(slf);
        }
        if let Some(exc) = saved {
            raised::restore(exc);
        }
    }
}

/// `tp_dealloc` of a transport whose state is an `S`.
///
/// # Safety
/// Called by CPython as the type's `tp_dealloc` when the last reference goes.
pub unsafe fn dealloc<S>(slf: *mut PyObject) {
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
        clear(slf);
        let o = slf.cast::<PipeObject<S>>();
        let st = (*o).state;
        if !st.is_null() {
            (*o).state = null_mut();
            drop(Box::from_raw(st));
        }
        super::type_object::free_object(slf);
    }
}

/// Fills the slots every pipe transport type has (state `S`); the caller
/// adds its own (`tp_new`, `tp_dealloc`, `tp_repr`, methods, attributes)
/// and readies the type.
///
/// # Safety
/// `tp` is the type's zeroed static; called once at import with the GIL held.
pub unsafe fn init_type<S>(tp: *mut PyTypeObject, name: &'static CStr, doc: &'static CStr) {
    // SAFETY: per the contract.
    unsafe {
        super::type_object::new_type(
            tp,
            name,
            std::mem::size_of::<PipeObject<S>>(),
            Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
        );
        (*tp).tp_doc = doc.as_ptr();
        (*tp).tp_finalize = Some(finalize);
        (*tp).tp_traverse = Some(traverse);
        (*tp).tp_clear = Some(clear);
        let slots_at = std::mem::offset_of!(PipeObject<S>, slots);
        (*tp).tp_dictoffset = (slots_at + std::mem::offset_of!(Slots, dict)) as Py_ssize_t;
        (*tp).tp_weaklistoffset =
            (slots_at + std::mem::offset_of!(Slots, weakreflist)) as Py_ssize_t;
    }
}

/// The methods both pipe transports have, by name.
pub const COMMON_METHODS: [PyMethodDef; 5] = [
    kw_def(
        c"get_extra_info",
        m_get_extra_info,
        c"get_extra_info(name, default=None).",
    ),
    onearg_def(c"set_protocol", m_set_protocol, c"Replace the protocol."),
    noargs_def(c"get_protocol", m_get_protocol, c"The current protocol."),
    noargs_def(
        c"is_closing",
        m_is_closing,
        c"Whether the transport is closing or closed.",
    ),
    onearg_def(
        c"_call_connection_lost",
        m_call_connection_lost,
        c"Tell the protocol, close the pipe, let go of everything.",
    ),
];
