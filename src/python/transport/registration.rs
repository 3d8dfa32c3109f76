//! Registration with the engine: the `NativeCallback` tables a `ReadyItem` runs,
//! the per-direction contexts (and debug mode's handles) captured when a
//! transport starts reading or writing, and running its callbacks in them.

use pyo3_ffi::*;
use std::cell::Cell;

use crate::core::interest::Direction;
use crate::python::event_loop::ready_item::{NativeCallback, ReadyItem};
use crate::python::event_loop::LoopObject;
use crate::python::ffi::names::{self, call_support};
use crate::python::ffi::objects::bool_object;
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{self, raise_io, PyResult, Raised};
use crate::python::transport::{ObjectSlot, Transport};

/// The engine's table for a transport kind's readiness in `interest`:
/// `run` is the kind's handler (its object checked as the kind's, see
/// `NativeCallback`), `method` the asyncio method it stands for.
pub const fn transport_callback(
    run: unsafe fn(*mut PyObject) -> PyResult<()>,
    interest: Direction,
    method: &'static names::Cached,
) -> NativeCallback {
    match interest {
        Direction::Read => NativeCallback {
            run,
            wanted: wanted::<false>,
            forget: forget::<false>,
            asyncio_method: Some(method),
            debug_handle: engine_debug_handle::<false>,
        },
        Direction::Write => NativeCallback {
            run,
            wanted: wanted::<true>,
            forget: forget::<true>,
            asyncio_method: Some(method),
            debug_handle: engine_debug_handle::<true>,
        },
    }
}

/// The direction a table's functions stand for (a `bool` const parameter,
/// as an enum cannot be one).
const fn direction(write: bool) -> Direction {
    if write {
        Direction::Write
    } else {
        Direction::Read
    }
}

/// `NativeCallback::wanted`: still registered for the direction.
///
/// # Safety
/// `obj` is a live transport, as the engine passes a transport's table.
unsafe fn wanted<const WRITE: bool>(obj: *mut PyObject) -> bool {
    // SAFETY: per the contract; only the common part is read.
    flag(unsafe { Transport::from_ptr(obj) }, direction(WRITE)).get()
}

/// `NativeCallback::forget`: the engine no longer watches the direction.
///
/// # Safety
/// As `wanted`.
unsafe fn forget<const WRITE: bool>(obj: *mut PyObject) {
    // SAFETY: per the contract; only the common part is written.
    flag(unsafe { Transport::from_ptr(obj) }, direction(WRITE)).set(false)
}

/// `NativeCallback::debug_handle`.
///
/// # Safety
/// As `wanted`.
unsafe fn engine_debug_handle<const WRITE: bool>(obj: *mut PyObject) -> *mut PyObject {
    // SAFETY: per the contract; only the common part is read.
    debug_handle(unsafe { Transport::from_ptr(obj) }, direction(WRITE))
}

#[inline]
fn flag<'py>(slf: Transport<'py>, interest: Direction) -> &'py Cell<bool> {
    let c = slf.io_state();
    match interest {
        Direction::Read => &c.reading,
        Direction::Write => &c.writing,
    }
}

/// The debug-mode handle standing for `interest`'s callback (null if none).
pub fn debug_handle(slf: Transport<'_>, interest: Direction) -> *mut PyObject {
    debug_handle_slot(slf, interest).get()
}

fn debug_handle_slot(slf: Transport<'_>, interest: Direction) -> &ObjectSlot {
    let s = slf.refs();
    match interest {
        Direction::Read => &s.read_handle,
        Direction::Write => &s.write_handle,
    }
}

/// Debug mode: a Handle of `transport.<method>()`, as asyncio's reader or
/// writer handle (running in `context`, with its source traceback).
fn make_debug_handle(
    slf: Transport<'_>,
    lp: &Owned,
    method: &names::Cached,
    context: *mut PyObject,
) -> PyResult<Owned> {
    // SAFETY: slf is live; the bound method is a new reference.
    let callback = unsafe { Owned::from_new(PyObject_GetAttr(slf.as_ptr(), method.get()))? };
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
fn context_slot(slf: Transport<'_>, interest: Direction) -> &ObjectSlot {
    let s = slf.refs();
    match interest {
        Direction::Read => &s.read_context,
        Direction::Write => &s.write_context,
    }
}

/// The loop, borrowed (None once let go). Python code that may let go of
/// it must not run while this is held: see `loop_owned`.
#[inline]
pub fn loop_of<'py>(slf: Transport<'py>) -> Option<&'py LoopObject> {
    let lp = slf.refs().loop_.get();
    // SAFETY: a transport's loop slot holds only a Loop (tp_new checks it).
    (!lp.is_null()).then(|| unsafe { LoopObject::from_ptr(lp) })
}

/// The loop as an owned reference (it outlives a callback that lets go of it).
pub fn loop_owned(slf: Transport<'_>) -> Option<Owned> {
    slf.refs().loop_.take_clone()
}

/// Watches the fd for `interest` (idempotent) with the kind's `callback`,
/// its callbacks running in a copy of the current context.
pub fn register(
    slf: Transport<'_>,
    interest: Direction,
    callback: &'static NativeCallback,
) -> PyResult<()> {
    let flag = flag(slf, interest);
    if flag.get() {
        return Ok(());
    }
    // Owned: in debug mode Python code runs below, which may let go of it.
    let Some(loop_ref) = loop_owned(slf) else {
        return Ok(());
    };
    // SAFETY: a transport's loop slot holds only a Loop (tp_new checks it).
    let lp = unsafe { LoopObject::from_ptr(loop_ref.as_ptr()) };
    // asyncio's `_add_reader`/`_add_writer` check this first.
    lp.ensure_open()?;
    let fd = slf.io_state().fd.get();
    if !slf.io_object().is_null() && slf.owned_fd() != fd {
        // The object was closed behind our back and the number may name
        // another connection now: never watch it on our behalf. EBADF is
        // what asyncio's selector says for a number no longer open.
        return Err(raise_io(&std::io::Error::from_raw_os_error(libc::EBADF)));
    }
    let context = match slf.refs().connection_context.take_clone() {
        Some(shared) => shared,
        // SAFETY: a new Context reference or null.
        None => unsafe { Owned::from_new(PyContext_CopyCurrent())? },
    };
    context_slot(slf, interest).set(context.clone());
    // SAFETY: the table is the one of this transport's kind (its caller's
    // contract), so the engine runs it with the object it was made for.
    let item = unsafe { ReadyItem::native(Owned::from_borrowed(slf.as_ptr()), callback) };
    if lp.debug() {
        if let Some(method) = callback.asyncio_method {
            let handle = make_debug_handle(slf, &loop_ref, method, context.as_ptr())?;
            debug_handle_slot(slf, interest).set(handle);
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
            replaced.map_or(Ok(()), ReadyItem::release)
        }
        Err((err, item)) => {
            drop(item);
            Err(raise_io(&err))
        }
    }
}

/// Stops watching the fd for `interest` (idempotent).
pub fn unregister(slf: Transport<'_>, interest: Direction) {
    if !flag(slf, interest).replace(false) {
        return;
    }
    if let Some(lp) = loop_of(slf) {
        let fd = slf.io_state().fd.get();
        let removed = {
            let mut engine = lp.engine().borrow_mut();
            engine.remove_watcher(fd, interest)
        };
        drop(removed);
    }
    // asyncio cancels the reader/writer handle it removes.
    if let Some(handle) = debug_handle_slot(slf, interest).take() {
        // unregister() cannot fail: a repr that raised in debug mode's
        // cancel() is reported as unraisable instead.
        // SAFETY: the slot holds only Handles made by make_debug_handle.
        let native = unsafe { crate::python::handle::Handle::from_ptr(handle.as_ptr()) };
        if native.cancel().is_err() {
            // SAFETY: handle is live; the pending exception is reported.
            unsafe { PyErr_WriteUnraisable(handle.as_ptr()) };
        }
    }
}

/// Runs `f` inside the context captured when `interest` was registered.
#[inline]
pub fn in_context(
    slf: Transport<'_>,
    interest: Direction,
    f: impl FnOnce() -> PyResult<()>,
) -> PyResult<()> {
    // Re-owned for the call: the callback may register again (replacing it).
    let Some(context) = context_slot(slf, interest).take_clone() else {
        return f();
    };
    // SAFETY: context is a live Context; enter and exit pair up.
    unsafe {
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
    slf: Transport<'_>,
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
    let callback = unsafe { Owned::from_new(PyObject_GetAttr(slf.as_ptr(), name.get()))? };
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
