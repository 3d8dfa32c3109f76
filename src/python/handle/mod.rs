//! `Handle`: a scheduled callback, as `asyncio.Handle`.

mod borrowed;
mod free_list;
pub mod timer_handle;

pub use borrowed::Handle;
pub use free_list::HandleFreeList;

use pyo3_ffi::*;
use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_int, c_void};
use std::ptr::{self, null_mut};

use crate::core::schedulable::Schedulable;
use crate::python::event_loop::LoopObject;
use crate::python::ffi::entry::{ffi_edge, getter, noargs, noargs_def};
use crate::python::ffi::names::{self, call_support};
use crate::python::ffi::objects::{bool_object, getset_ro};
use crate::python::ffi::owned::{clear_slot, Owned};
use crate::python::ffi::raised::{self, PyResult, Raised};
use crate::python::ffi::type_spec::{zeroed_type_object, TypeSpec};

/// The object layout shared by `Handle` and `TimerHandle`. What changes
/// after creation is in cells, so a `&HandleObject` may be held while
/// Python code runs (which may cancel the handle).
#[repr(C)]
pub struct HandleObject {
    /// In a cell: CPython changes the header (the reference count) while
    /// native code holds a `&HandleObject`.
    pub ob_base: UnsafeCell<PyObject>,
    /// The callable; null once cancelled.
    pub callback: Cell<*mut PyObject>,
    /// The single argument when `nargs == 1` (the common `fut` case).
    pub arg0: Cell<*mut PyObject>,
    /// The argument tuple when `nargs > 1`.
    pub args: Cell<*mut PyObject>,
    pub nargs: isize,
    pub context: Cell<*mut PyObject>,
    /// Strong reference to the owning `LoopObject`.
    pub loop_: Cell<*mut PyObject>,
    pub source_traceback: Cell<*mut PyObject>,
    /// Representation kept at cancel time in debug mode, as asyncio does.
    pub repr: Cell<*mut PyObject>,
    pub weakreflist: Cell<*mut PyObject>,
    /// Deadline of a `TimerHandle` (loop time, seconds).
    pub when: f64,
    pub cancelled: Cell<bool>,
    /// A `TimerHandle` still in the loop's timer heap.
    pub scheduled: Cell<bool>,
    /// `context` is the handle's own copy of the caller's context, left
    /// untracked by the GC while only the handle can reach it. Whatever the
    /// caller passed as `context=` (any object) is never tracked, untracked
    /// or traversed on its behalf: that is its owner's business.
    pub own_context: bool,
}

pub static mut HANDLE_TYPE: PyTypeObject = zeroed_type_object();

/// An owned reference to a `HandleObject`, as the engine stores it.
///
/// Handles are created untracked by the cyclic GC: while only the engine
/// holds one, the loop's `tp_traverse` reports the handle's references as its
/// own (see `visit_engine_held`), which is exact and keeps full collections
/// from walking every pending callback twice. A handle that outlives its
/// time in the engine with other owners (`self._timer = loop.call_later(..)`)
/// is tracked when the engine lets go of it, so cycles through it are
/// collected as asyncio's would be.
#[derive(Clone)]
pub struct HandleRef(Owned);

impl Drop for HandleRef {
    #[inline]
    fn drop(&mut self) {
        let ptr = self.as_ptr();
        // SAFETY: self holds a reference, so the object is live; the GIL is
        // held. Tracking is checked first: tracking twice is a fatal error.
        unsafe {
            if Py_REFCNT(ptr) > 1 && PyObject_GC_IsTracked(ptr) == 0 {
                self.handle().track_context();
                PyObject_GC_Track(ptr.cast());
            }
        }
    }
}

impl HandleRef {
    #[inline]
    pub fn obj(&self) -> *mut HandleObject {
        self.0.as_ptr().cast()
    }

    /// The handle, borrowed while this reference lives.
    #[inline]
    pub fn handle(&self) -> Handle<'_> {
        // SAFETY: self holds a reference to a live handle.
        unsafe { Handle::from_ptr(self.as_ptr()) }
    }

    #[inline]
    pub fn as_ptr(&self) -> *mut PyObject {
        self.0.as_ptr()
    }

    /// `obj` as a handle when it is exactly a native `Handle` (not a
    /// `TimerHandle`, not a Python object), borrowed into a new reference.
    pub fn from_object(obj: *mut PyObject) -> Option<HandleRef> {
        // SAFETY: obj is a live object; comparing its type pointer.
        unsafe {
            (Py_TYPE(obj) == ptr::addr_of_mut!(HANDLE_TYPE))
                .then(|| HandleRef(Owned::from_borrowed(obj)))
        }
    }

    /// A new reference to a borrowed handle.
    pub fn from_handle(handle: Handle<'_>) -> HandleRef {
        // SAFETY: handle is live; the reference is new.
        HandleRef(unsafe { Owned::from_borrowed(handle.as_ptr()) })
    }

    /// A new reference for the caller (the handle `call_soon` returns).
    pub fn to_owned(&self) -> Owned {
        self.0.clone()
    }

    /// Visits what the handle references on behalf of the loop whose engine
    /// holds it: a tracked handle is visited itself; an untracked one is
    /// reported as part of the loop (its references count as the loop's).
    ///
    /// That is exact while the engine is the handle's only owner. A handle
    /// with other owners is tracked as soon as the engine lets go of it; until
    /// then the only inexact case is a loop that nothing references but such
    /// handles, i.e. an unclosed, abandoned loop: the collector then finalizes
    /// it (BaseEventLoop.__del__ closes it, which tracks the handles and so
    /// resurrects it), which is what its deallocation would do anyway.
    pub fn visit_engine_held(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        let obj = self.obj();
        let h = self.handle().fields();
        // SAFETY: the GC calls traverse with the GIL held; the handle is live.
        unsafe {
            if PyObject_GC_IsTracked(obj.cast()) != 0 {
                return visit(obj.cast(), arg);
            }
            let context = h.context.get();
            if h.own_context && !context.is_null() && PyObject_GC_IsTracked(context) == 0 {
                if let Some(traverse) = (*Py_TYPE(context)).tp_traverse {
                    let rc = traverse(context, visit, arg);
                    if rc != 0 {
                        return rc;
                    }
                }
            } else if !context.is_null() {
                let rc = visit(context, arg);
                if rc != 0 {
                    return rc;
                }
            }
            let rc = crate::python::ffi::objects::visit_slots(
                &[
                    h.callback.get(),
                    h.arg0.get(),
                    h.args.get(),
                    h.loop_.get(),
                    h.source_traceback.get(),
                    h.repr.get(),
                ],
                visit,
                arg,
            );
            if rc != 0 {
                return rc;
            }
        }
        0
    }

    /// Creates a handle for `callback(*args)` in `context` (a copy of the
    /// current context when null or None).
    pub fn new(
        tp: *mut PyTypeObject,
        loop_: *mut PyObject,
        callback: *mut PyObject,
        args: &[*mut PyObject],
        context: *mut PyObject,
        when: f64,
    ) -> PyResult<HandleRef> {
        // SAFETY: callers pass borrowed live references and hold the GIL.
        // Every field is initialized before the object is tracked by the GC.
        unsafe {
            let own_context = context.is_null() || context == Py_None();
            let context = if own_context {
                // Our private copy: like the handle, it is left to the loop's
                // traverse while nobody else can reach it (see `HandleRef`).
                let copy = Owned::from_new(PyContext_CopyCurrent())?;
                PyObject_GC_UnTrack(copy.as_ptr().cast());
                copy
            } else {
                Owned::from_borrowed(context)
            };
            let packed_args = if args.len() > 1 {
                let tuple = Owned::from_new(PyTuple_New(args.len() as Py_ssize_t))?;
                for (i, &arg) in args.iter().enumerate() {
                    Py_INCREF(arg);
                    PyTuple_SET_ITEM(tuple.as_ptr(), i as Py_ssize_t, arg);
                }
                tuple.into_ptr()
            } else {
                null_mut()
            };
            let obj: *mut HandleObject = HandleFreeList::alloc(tp);
            if obj.is_null() {
                Py_XDECREF(packed_args);
                return Err(Raised);
            }
            Py_INCREF(callback);
            Py_INCREF(loop_);
            let arg0 = if args.len() == 1 {
                Py_INCREF(args[0]);
                args[0]
            } else {
                null_mut()
            };
            ptr::addr_of_mut!((*obj).callback).write(Cell::new(callback));
            ptr::addr_of_mut!((*obj).arg0).write(Cell::new(arg0));
            ptr::addr_of_mut!((*obj).args).write(Cell::new(packed_args));
            ptr::addr_of_mut!((*obj).nargs).write(args.len() as isize);
            ptr::addr_of_mut!((*obj).context).write(Cell::new(context.into_ptr()));
            ptr::addr_of_mut!((*obj).loop_).write(Cell::new(loop_));
            ptr::addr_of_mut!((*obj).source_traceback).write(Cell::new(null_mut()));
            ptr::addr_of_mut!((*obj).repr).write(Cell::new(null_mut()));
            ptr::addr_of_mut!((*obj).weakreflist).write(Cell::new(null_mut()));
            ptr::addr_of_mut!((*obj).when).write(when);
            ptr::addr_of_mut!((*obj).cancelled).write(Cell::new(false));
            ptr::addr_of_mut!((*obj).scheduled).write(Cell::new(false));
            ptr::addr_of_mut!((*obj).own_context).write(own_context);
            let handle = HandleRef(Owned::from_new(obj.cast())?);
            if LoopObject::from_ptr(loop_).debug() {
                let tb = call_support(&names::S_SOURCE_TRACEBACK, &[])?;
                (*obj).source_traceback.set(tb.into_ptr());
            }
            Ok(handle)
        }
    }

    /// Runs the callback as `Handle._run` does: exceptions other than
    /// KeyboardInterrupt and SystemExit go to the loop's exception handler.
    pub fn run(&self) -> PyResult<()> {
        let h = self.handle().fields();
        // SAFETY: self keeps the handle alive; the GIL is held. Callback and
        // arguments are re-owned for the call because the callback may cancel
        // its own handle, which releases them.
        unsafe {
            if h.cancelled.get() || h.callback.get().is_null() {
                return Ok(());
            }
            let callback = Owned::from_borrowed(h.callback.get());
            let context = Owned::from_borrowed(h.context.get());
            let arg0 = (!h.arg0.get().is_null()).then(|| Owned::from_borrowed(h.arg0.get()));
            let args = (!h.args.get().is_null()).then(|| Owned::from_borrowed(h.args.get()));
            let result = call_in_context(&callback, &context, arg0.as_ref(), args.as_ref());
            match result {
                Ok(_) => Ok(()),
                Err(Raised) if raised::pending_is_exit() => Err(Raised),
                Err(Raised) => match raised::take_pending() {
                    Some(exc) => call_support(
                        &names::S_REPORT_CALLBACK_ERROR,
                        &[self.as_ptr(), exc.as_ptr()],
                    )
                    .map(drop),
                    None => Ok(()),
                },
            }
        }
    }

    pub fn cancelled(&self) -> bool {
        self.handle().cancelled()
    }
}

impl Schedulable for HandleRef {
    #[inline]
    fn is_cancelled(&self) -> bool {
        self.cancelled()
    }

    #[inline]
    fn unscheduled(&self) {
        self.handle().fields().scheduled.set(false)
    }
}

/// `callback(*args)` inside `context`, with `Context.run` semantics.
unsafe fn call_in_context(
    callback: &Owned,
    context: &Owned,
    arg0: Option<&Owned>,
    args: Option<&Owned>,
) -> PyResult<Owned> {
    // SAFETY: every pointer is kept alive by the `Owned`s above; the GIL is
    // held (this covers the whole body).
    unsafe {
        if PyContext_CheckExact(context.as_ptr()) == 0 {
            // Not a Context: behave as asyncio, which calls `context.run(...)`.
            let mut argv = vec![context.as_ptr(), callback.as_ptr()];
            if let Some(a) = arg0 {
                argv.push(a.as_ptr());
            }
            if let Some(t) = args {
                for i in 0..PyTuple_GET_SIZE(t.as_ptr()) {
                    argv.push(PyTuple_GET_ITEM(t.as_ptr(), i));
                }
            }
            return Owned::from_new(PyObject_VectorcallMethod(
                names::S_RUN.get(),
                argv.as_ptr(),
                argv.len(),
                null_mut(),
            ));
        }
        if PyContext_Enter(context.as_ptr()) < 0 {
            return Err(Raised);
        }
        let result = match (arg0, args) {
            (_, Some(t)) => {
                let items = (*t.as_ptr().cast::<PyTupleObject>()).ob_item.as_ptr();
                PyObject_Vectorcall(
                    callback.as_ptr(),
                    items,
                    PyTuple_GET_SIZE(t.as_ptr()) as usize,
                    null_mut(),
                )
            }
            (Some(a), None) => {
                // One spare slot in front lets bound methods avoid a copy.
                let argv = [null_mut(), a.as_ptr()];
                PyObject_Vectorcall(
                    callback.as_ptr(),
                    argv.as_ptr().add(1),
                    1 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                    null_mut(),
                )
            }
            (None, None) => {
                let argv = [null_mut::<PyObject>()];
                PyObject_Vectorcall(
                    callback.as_ptr(),
                    argv.as_ptr().add(1),
                    PY_VECTORCALL_ARGUMENTS_OFFSET,
                    null_mut(),
                )
            }
        };
        let result = Owned::from_new(result);
        if PyContext_Exit(context.as_ptr()) < 0 {
            return Err(Raised);
        }
        result
    }
}

noargs!(handle_cancel, |slf: Handle| slf
    .cancel()
    .map(|_| Owned::none()));
noargs!(handle_cancelled, |slf: Handle| Ok(bool_object(
    slf.cancelled()
)));
noargs!(handle_get_context, |slf: Handle| Ok(slf.escaping_context()));
// The HandleRef takes its own reference for the run.
noargs!(handle_run, |slf: Handle| HandleRef::from_handle(slf)
    .run()
    .map(|_| Owned::none()));

unsafe extern "C" fn handle_repr(slf: *mut PyObject) -> *mut PyObject {
    // SAFETY: CPython calls a type's slot only with its instances.
    let slf = unsafe { Handle::from_ptr(slf) };
    ffi_edge(|| {
        let cached = slf.fields().repr.get();
        if !cached.is_null() {
            // SAFETY: the slot holds a live reference.
            return Ok(unsafe { Owned::from_borrowed(cached) });
        }
        call_support(&names::S_HANDLE_REPR, &[slf.as_ptr()])
    })
}

getter!(get_callback, |slf: Handle| Ok(Owned::from_ptr_or_none(
    slf.fields().callback.get()
)));
getter!(get_args, |slf: Handle| slf.args_tuple());
getter!(get_cancelled, |slf: Handle| Ok(bool_object(
    slf.cancelled()
)));
getter!(get_loop, |slf: Handle| Ok(Owned::from_ptr_or_none(
    slf.fields().loop_.get()
)));
getter!(get_context, |slf: Handle| Ok(slf.escaping_context()));
getter!(get_source_traceback, |slf: Handle| Ok(
    Owned::from_ptr_or_none(slf.fields().source_traceback.get())
));
getter!(get_repr, |slf: Handle| Ok(Owned::from_ptr_or_none(
    slf.fields().repr.get()
)));

pub unsafe extern "C" fn traverse(slf: *mut PyObject, visit: visitproc, arg: *mut c_void) -> c_int {
    // SAFETY: the GC calls this with a live handle.
    let h = unsafe { Handle::from_ptr(slf) }.fields();
    // SAFETY: each slot is null or live.
    unsafe {
        crate::python::ffi::objects::visit_slots(
            &[
                h.callback.get(),
                h.arg0.get(),
                h.args.get(),
                h.context.get(),
                h.loop_.get(),
                h.source_traceback.get(),
                h.repr.get(),
            ],
            visit,
            arg,
        )
    }
}

pub unsafe extern "C" fn clear(slf: *mut PyObject) -> c_int {
    // SAFETY: CPython calls this with a live handle.
    let handle = unsafe { Handle::from_ptr(slf) };
    let h = handle.fields();
    // SAFETY: each slot is null or an owned reference; clear_slot nulls it
    // first. A context copy goes back to the GC before its last reference
    // does: CPython's context dealloc untracks without checking.
    unsafe {
        clear_slot(h.callback.as_ptr());
        clear_slot(h.arg0.as_ptr());
        clear_slot(h.args.as_ptr());
        handle.track_context();
        clear_slot(h.context.as_ptr());
        clear_slot(h.loop_.as_ptr());
        clear_slot(h.source_traceback.as_ptr());
        clear_slot(h.repr.as_ptr());
    }
    0
}

unsafe extern "C" fn dealloc(slf: *mut PyObject) {
    // SAFETY: called once when the last reference goes; untrack before
    // tearing down so the GC never sees a half-cleared object.
    unsafe {
        PyObject_GC_UnTrack(slf.cast());
        if !Handle::from_ptr(slf).fields().weakreflist.get().is_null() {
            PyObject_ClearWeakRefs(slf);
        }
        clear(slf);
        HandleFreeList::free(slf);
    }
}

static mut METHODS: [PyMethodDef; 5] = [
    noargs_def(
        c"cancel",
        handle_cancel,
        c"Cancel the callback; cancelling twice is harmless.",
    ),
    noargs_def(
        c"cancelled",
        handle_cancelled,
        c"Whether cancel() was called.",
    ),
    noargs_def(
        c"get_context",
        handle_get_context,
        c"The contextvars.Context the callback runs in.",
    ),
    noargs_def(
        c"_run",
        handle_run,
        c"Runs the callback in its context (asyncio's Handle._run).",
    ),
    PyMethodDef::zeroed(),
];

static mut GETSET: [PyGetSetDef; 8] = [
    getset_ro(c"_callback", get_callback),
    getset_ro(c"_args", get_args),
    getset_ro(c"_cancelled", get_cancelled),
    getset_ro(c"_loop", get_loop),
    getset_ro(c"_context", get_context),
    getset_ro(c"_source_traceback", get_source_traceback),
    getset_ro(c"_repr", get_repr),
    crate::python::ffi::objects::GETSET_END,
];

/// The `Handle` type.
pub fn type_spec() -> TypeSpec {
    TypeSpec {
        tp: ptr::addr_of_mut!(HANDLE_TYPE),
        name: c"zloop._zloop.Handle",
        doc: c"A callback scheduled on a zloop Loop (asyncio.Handle's API).",
        basicsize: std::mem::size_of::<HandleObject>(),
        flags: Py_TPFLAGS_HAVE_GC,
        dealloc: Some(dealloc),
        traverse: Some(traverse),
        clear: Some(clear),
        repr: Some(handle_repr),
        weaklistoffset: std::mem::offset_of!(HandleObject, weakreflist),
        methods: ptr::addr_of_mut!(METHODS).cast(),
        getset: ptr::addr_of_mut!(GETSET).cast(),
        ..TypeSpec::DEFAULTS
    }
}
