//! `Loop`: the native base of `zloop.Loop`.
//!
//! It owns the engine and implements the hot methods (scheduling, timers,
//! readers and writers, the run loop); the Python subclass adds asyncio's
//! choreography from `asyncio.base_events.BaseEventLoop`.

pub mod attributes;
pub mod dispatcher;
pub mod methods;
pub mod ready_item;

use pyo3_ffi::*;

use crate::python::ffi::type_spec::zeroed_type_object;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;
use std::ptr::null_mut;

use crate::core::engine::Engine;
use crate::core::interest::Direction;
use crate::python::event_loop::ready_item::ReadyItem;
use crate::python::ffi::entry::ffi_edge;
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{raise_io, raise_static, PyResult};

#[repr(C)]
pub struct LoopObject {
    /// In a cell: CPython changes the header (the reference count) while
    /// native code holds a `&LoopObject`, and `as_ptr()` hands it out.
    ob_base: UnsafeCell<PyObject>,
    /// Boxed so the GC can tell an initialized object (non-null) apart.
    state: *mut LoopState,
}

struct LoopState {
    engine: RefCell<Engine<ReadyItem>>,
    closed: Cell<bool>,
    debug: Cell<bool>,
    /// `threading.get_ident()` of the thread running the loop.
    thread_id: Cell<Option<u64>>,
    slow_callback_duration: Cell<f64>,
    /// `_task_factory`, as `set_task_factory` stores it (None when null).
    task_factory: RefCell<Option<Owned>>,
    /// fds of this loop's live native transports: `sock_*` only asks
    /// `_ensure_fd_no_transport` about these.
    transport_fds: RefCell<std::collections::HashMap<RawFd, usize>>,
    /// The file objects `add_reader`/`add_writer` were given, per watched
    /// fd (asyncio's `SelectorKey.fileobj`): `remove_reader(sock)` finds a
    /// closed socket here, whose `fileno()` no longer names its fd.
    io_objects: RefCell<std::collections::HashMap<RawFd, Owned>>,
}

pub static mut LOOP_TYPE: PyTypeObject = zeroed_type_object();

impl LoopObject {
    /// The typed borrow of a loop object.
    ///
    /// # Safety
    /// `ptr` is a live instance of `Loop` (or a subclass) whose state was
    /// set by `tp_new`, alive for `'a`: what CPython passes the type's
    /// methods and slots, and what a transport's or handle's loop slot holds.
    #[inline]
    pub unsafe fn from_ptr<'a>(ptr: *mut PyObject) -> &'a LoopObject {
        // SAFETY: per the contract.
        unsafe { &*ptr.cast::<LoopObject>() }
    }

    /// The object, for calls into CPython (borrowed).
    #[inline]
    pub fn as_ptr(&self) -> *mut PyObject {
        self.ob_base.get()
    }

    #[inline]
    fn state(&self) -> &LoopState {
        // SAFETY: tp_new sets `state` before the object is handed out and
        // only dealloc frees it.
        unsafe { &*self.state }
    }

    #[inline]
    pub fn engine(&self) -> &RefCell<Engine<ReadyItem>> {
        &self.state().engine
    }

    #[inline]
    pub fn debug(&self) -> bool {
        self.state().debug.get()
    }

    pub fn slow_callback_duration(&self) -> f64 {
        self.state().slow_callback_duration.get()
    }

    /// A timer still in the heap was cancelled (`_timer_handle_cancelled`).
    pub fn timer_cancelled(&self) {
        if let Ok(mut engine) = self.engine().try_borrow_mut() {
            engine.note_timer_cancelled();
        }
    }

    /// Counted: a transport whose socket was closed behind its back may
    /// still be alive beside the new one that reuses its fd number.
    pub fn remember_transport_fd(&self, fd: RawFd) {
        *self
            .state()
            .transport_fds
            .borrow_mut()
            .entry(fd)
            .or_default() += 1;
    }

    pub fn forget_transport_fd(&self, fd: RawFd) {
        let mut fds = self.state().transport_fds.borrow_mut();
        if let Some(count) = fds.get_mut(&fd) {
            *count -= 1;
            if *count == 0 {
                fds.remove(&fd);
            }
        }
    }

    /// Remembers the file object watched as `fd` (not for a bare number).
    fn remember_io_object(&self, fd: RawFd, fileobj: *mut PyObject) {
        // SAFETY: fileobj is live; a type check only.
        if unsafe { PyLong_Check(fileobj) } != 0 {
            return;
        }
        // SAFETY: fileobj is live; the map keeps its own reference.
        let fileobj = unsafe { Owned::from_borrowed(fileobj) };
        let old = self.state().io_objects.borrow_mut().insert(fd, fileobj);
        drop(old);
    }

    /// Forgets `fd`'s file object once nothing watches `fd` any more.
    fn forget_io_object_if_unwatched(&self, fd: RawFd) {
        let watched = {
            let engine = self.engine().borrow();
            engine.has_watcher(fd, Direction::Read) || engine.has_watcher(fd, Direction::Write)
        };
        if !watched {
            let old = self.state().io_objects.borrow_mut().remove(&fd);
            drop(old);
        }
    }

    /// The fd `fileobj` was watched as, found by identity (asyncio's
    /// `_fileobj_lookup` when `fileno()` fails).
    fn watched_fd_of(&self, fileobj: *mut PyObject) -> Option<RawFd> {
        let objects = self.state().io_objects.borrow();
        objects
            .iter()
            .find(|(_, obj)| obj.as_ptr() == fileobj)
            .map(|(&fd, _)| fd)
    }

    /// Every file object kept for watched fds, for the caller to drop.
    fn take_io_objects(&self) -> Vec<Owned> {
        match self.state().io_objects.try_borrow_mut() {
            Ok(mut objects) => objects.drain().map(|(_, obj)| obj).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Whether a native transport of this loop may own `fd`.
    pub fn may_have_transport(&self, fd: RawFd) -> bool {
        self.state().transport_fds.borrow().contains_key(&fd)
    }

    /// `_check_closed()`, for the adapter's other types.
    pub fn ensure_open(&self) -> PyResult<()> {
        self.check_closed()
    }

    pub fn is_closed(&self) -> bool {
        self.state().closed.get()
    }

    fn check_closed(&self) -> PyResult<()> {
        if self.state().closed.get() {
            // SAFETY: PyExc_RuntimeError is a valid exception class.
            return Err(raise_static(
                unsafe { PyExc_RuntimeError },
                c"Event loop is closed",
            ));
        }
        Ok(())
    }
}

/// Stops watching `fd` in `direction` (the native `_remove_reader` /
/// `_remove_writer`): true when it was watched.
pub fn unwatch_fd(lp: &LoopObject, fd: RawFd, direction: Direction) -> PyResult<bool> {
    if lp.is_closed() {
        return Ok(false);
    }
    let removed = lp.engine().borrow_mut().remove_watcher(fd, direction);
    lp.forget_io_object_if_unwatched(fd);
    match removed {
        Some(old) => old.release().map(|_| true),
        None => Ok(false),
    }
}

// --- type slots ---------------------------------------------------------------

unsafe extern "C" fn loop_new(
    tp: *mut PyTypeObject,
    _args: *mut PyObject,
    _kw: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| {
        let engine = Engine::new().map_err(|e| raise_io(&e))?;
        // SAFETY: tp_alloc returns a zeroed, GC-tracked object of `tp`'s size;
        // the state pointer is written before anyone else can see it.
        unsafe {
            let obj = crate::python::ffi::type_spec::alloc_object(tp)?;
            let state = Box::new(LoopState {
                engine: RefCell::new(engine),
                closed: Cell::new(false),
                debug: Cell::new(false),
                thread_id: Cell::new(None),
                slow_callback_duration: Cell::new(0.1),
                task_factory: RefCell::new(None),
                transport_fds: RefCell::new(std::collections::HashMap::new()),
                io_objects: RefCell::new(std::collections::HashMap::new()),
            });
            (*obj.as_ptr().cast::<LoopObject>()).state = Box::into_raw(state);
            Ok(obj)
        }
    })
}

unsafe extern "C" fn traverse(slf: *mut PyObject, visit: visitproc, arg: *mut c_void) -> c_int {
    // SAFETY: the GC passes a live object; a null state means not yet built.
    unsafe {
        let state = (*slf.cast::<LoopObject>()).state;
        if state.is_null() {
            return 0;
        }
        if let Ok(factory) = (*state).task_factory.try_borrow() {
            if let Some(f) = factory.as_ref() {
                let rc = visit(f.as_ptr(), arg);
                if rc != 0 {
                    return rc;
                }
            }
        }
        if let Ok(objects) = (*state).io_objects.try_borrow() {
            for obj in objects.values() {
                let rc = visit(obj.as_ptr(), arg);
                if rc != 0 {
                    return rc;
                }
            }
        }
        let Ok(engine) = (*state).engine.try_borrow() else {
            return 0;
        };
        let mut rc = 0;
        engine.for_each(&mut |item: &ReadyItem| {
            if rc == 0 {
                rc = item.visit(visit, arg);
            }
        });
        rc
    }
}

unsafe extern "C" fn clear(slf: *mut PyObject) -> c_int {
    // SAFETY: as in traverse; the items are dropped after the borrow ends
    // because dropping them can run arbitrary Python code.
    unsafe {
        let state = (*slf.cast::<LoopObject>()).state;
        if state.is_null() {
            return 0;
        }
        let factory = (*state)
            .task_factory
            .try_borrow_mut()
            .ok()
            .and_then(|mut f| f.take());
        drop(factory);
        drop(LoopObject::from_ptr(slf).take_io_objects());
        let items = match (*state).engine.try_borrow_mut() {
            Ok(mut engine) => engine.take_all(),
            Err(_) => return 0,
        };
        drop(items);
    }
    0
}

unsafe extern "C" fn dealloc(slf: *mut PyObject) {
    // SAFETY: last reference gone; untrack first, then release the state
    // (its items outside the borrow), then free the memory with the type's
    // own allocator.
    unsafe {
        PyObject_GC_UnTrack(slf.cast());
        clear(slf);
        let state = (*slf.cast::<LoopObject>()).state;
        if !state.is_null() {
            (*slf.cast::<LoopObject>()).state = null_mut();
            drop(Box::from_raw(state));
        }
        crate::python::ffi::type_spec::free_object(slf);
    }
}
