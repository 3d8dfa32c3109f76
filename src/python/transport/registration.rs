//! Registration with the engine: the `NativeCallback` tables a `ReadyItem` runs,
//! the per-direction contexts (and debug mode's handles) captured when a
//! transport starts reading or writing, and running its callbacks in them.

use pyo3_ffi::*;
use std::cell::Cell;
use std::ptr::null_mut;

use crate::core::interest::Direction;
use crate::python::event_loop::ready_item::{NativeCallback, ReadyItem};
use crate::python::event_loop::LoopObject;
use crate::python::ffi::names::{self, call_support};
use crate::python::ffi::objects::bool_object;
use crate::python::ffi::owned::{clear_slot, Owned};
use crate::python::ffi::raised::{self, raise_io, PyResult, Raised};
use crate::python::transport::{io_object, io_state, owned_fd, refs};

/// The engine's table for a transport kind's readiness in `interest`:
/// `run` is the kind's handler, `method` the asyncio method it stands for.
pub const fn transport_callback(
    run: fn(*mut PyObject) -> PyResult<()>,
    interest: Direction,
    method: &'static names::Cached,
) -> NativeCallback {
    match interest {
        Direction::Read => NativeCallback {
            run,
            wanted: |slf| io_state(slf).reading.get(),
            forget: |slf| io_state(slf).reading.set(false),
            asyncio_method: Some(method),
            debug_handle: |slf| debug_handle(slf, Direction::Read),
        },
        Direction::Write => NativeCallback {
            run,
            wanted: |slf| io_state(slf).writing.get(),
            forget: |slf| io_state(slf).writing.set(false),
            asyncio_method: Some(method),
            debug_handle: |slf| debug_handle(slf, Direction::Write),
        },
    }
}

#[inline]
fn flag<'a>(slf: *mut PyObject, interest: Direction) -> &'a Cell<bool> {
    let c = io_state(slf);
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
    let s = refs(slf);
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
    let s = refs(slf);
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
    let lp = unsafe { (*refs(slf)).loop_ };
    (!lp.is_null()).then(|| LoopObject::from_ptr(lp))
}

/// The loop as an owned reference (it outlives a callback that lets go of it).
pub fn loop_owned(slf: *mut PyObject) -> Option<Owned> {
    // SAFETY: slf is live; loop_ is null or a live Loop.
    let lp = unsafe { (*refs(slf)).loop_ };
    // SAFETY: lp is live when non-null.
    (!lp.is_null()).then(|| unsafe { Owned::from_borrowed(lp) })
}

/// Watches the fd for `interest` (idempotent) with the kind's `callback`,
/// its callbacks running in a copy of the current context.
pub fn register(
    slf: *mut PyObject,
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
    let lp = LoopObject::from_ptr(loop_ref.as_ptr());
    // asyncio's `_add_reader`/`_add_writer` check this first.
    lp.ensure_open()?;
    let fd = io_state(slf).fd.get();
    if !io_object(slf).is_null() && owned_fd(slf) != fd {
        // The object was closed behind our back and the number may name
        // another connection now: never watch it on our behalf. EBADF is
        // what asyncio's selector says for a number no longer open.
        return Err(raise_io(&std::io::Error::from_raw_os_error(libc::EBADF)));
    }
    // SAFETY: the slot holds null or an owned Context; the copy is owned.
    let context = unsafe {
        let shared = (*refs(slf)).connection_context;
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
    let item = ReadyItem::Native(unsafe { Owned::from_borrowed(slf) }, callback);
    if lp.debug() {
        if let Some(method) = callback.asyncio_method {
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
            replaced.map_or(Ok(()), ReadyItem::release)
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
        let fd = io_state(slf).fd.get();
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
