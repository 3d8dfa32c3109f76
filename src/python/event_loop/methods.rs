//! The `Loop` type's Python face: the entry points of its methods (scheduling,
//! timers, the run loop, tasks, readers and writers, the native `sock_*`
//! halves), its method table, and its `TypeSpec`.

use pyo3_ffi::*;
use std::ffi::CStr;
use std::ptr::{self, null_mut};

use crate::core::engine;
use crate::core::interest::Direction;
use crate::python::event_loop::attributes::GETSET;
use crate::python::event_loop::dispatcher::LoopDispatcher;
use crate::python::event_loop::ready_item::ReadyItem;
use crate::python::event_loop::{
    clear, dealloc, loop_new, traverse, unwatch_fd, LoopObject, LOOP_TYPE,
};
use crate::python::ffi::args::{self, context_keyword, missing, positional, wrong_count};
use crate::python::ffi::entry::{fast_def, ffi_edge, kw_def, noargs_def, onearg_def};
use crate::python::ffi::names;
use crate::python::ffi::objects::bool_object;
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{raise_io, raise_static, take_pending, PyResult, Raised};
use crate::python::ffi::type_spec::TypeSpec;
use crate::python::handle::timer_handle::TIMER_HANDLE_TYPE;
use crate::python::handle::{HandleRef, HANDLE_TYPE};

/// Debug-mode checks of asyncio's `call_soon`/`call_at`: `_check_thread()`
/// (unless `threadsafe`) and `_check_callback(callback, method)`, through
/// the Python methods so subclasses and asyncio's messages stay in charge.
fn debug_checks(
    slf: *mut PyObject,
    callback: *mut PyObject,
    method: &CStr,
    threadsafe: bool,
) -> PyResult<()> {
    // SAFETY: slf and callback are live; names are interned; results owned.
    unsafe {
        if !threadsafe {
            Owned::from_new(PyObject_CallMethodNoArgs(slf, names::S_CHECK_THREAD.get()))?;
        }
        let name = Owned::from_new(PyUnicode_FromString(method.as_ptr()))?;
        let argv = [slf, callback, name.as_ptr()];
        Owned::from_new(PyObject_VectorcallMethod(
            names::S_CHECK_CALLBACK.get(),
            argv.as_ptr(),
            3,
            null_mut(),
        ))?;
    }
    Ok(())
}

/// Shared body of `call_soon` and `call_soon_threadsafe`.
unsafe fn schedule_soon(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
    method: &'static CStr,
    threadsafe: bool,
) -> PyResult<Owned> {
    // SAFETY: CPython passes valid fastcall arguments.
    let args = unsafe { positional(argv, nargsf) };
    let name = if threadsafe {
        "call_soon_threadsafe"
    } else {
        "call_soon"
    };
    // SAFETY: as above.
    let context = unsafe { context_keyword(name, argv, args.len(), kwnames)? };
    let Some((&callback, rest)) = args.split_first() else {
        return Err(missing(name, &["callback"], 0));
    };
    // SAFETY: CPython calls the Loop type's methods only with a Loop.
    let lp = unsafe { LoopObject::from_ptr(slf) };
    lp.check_closed()?;
    if lp.debug() {
        debug_checks(slf, callback, method, threadsafe)?;
    }
    let handle = HandleRef::new(
        ptr::addr_of_mut!(HANDLE_TYPE),
        slf,
        callback,
        rest,
        context,
        0.0,
    )?;
    let returned = handle.to_owned();
    let mut engine = lp.engine().borrow_mut();
    engine.push_ready(ReadyItem::Handle(handle));
    if threadsafe {
        engine.wake();
    }
    Ok(returned)
}

unsafe extern "C" fn call_soon(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: fastcall arguments straight from CPython.
    ffi_edge(|| unsafe { schedule_soon(slf, argv, nargsf, kwnames, c"call_soon", false) })
}

unsafe extern "C" fn call_soon_threadsafe(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: fastcall arguments straight from CPython.
    ffi_edge(|| unsafe { schedule_soon(slf, argv, nargsf, kwnames, c"call_soon_threadsafe", true) })
}

/// Schedules a `TimerHandle` at `when` (asyncio's `call_at` after its
/// argument checks).
fn schedule_at(
    lp: &LoopObject,
    when: f64,
    callback: *mut PyObject,
    rest: &[*mut PyObject],
    context: *mut PyObject,
) -> PyResult<Owned> {
    let slf = lp.as_ptr();
    lp.check_closed()?;
    if lp.debug() {
        debug_checks(slf, callback, c"call_at", false)?;
    }
    let timer = HandleRef::new(
        ptr::addr_of_mut!(TIMER_HANDLE_TYPE),
        slf,
        callback,
        rest,
        context,
        when,
    )?;
    // The flag mirrors the timer's heap membership.
    timer.handle().fields().scheduled.set(true);
    let returned = timer.to_owned();
    lp.engine()
        .borrow_mut()
        .push_timer(when, ReadyItem::Handle(timer));
    Ok(returned)
}

/// How `call_later` and `call_at` differ: the method's name, its first
/// parameter, asyncio's message for None there, and how it becomes a
/// deadline.
struct TimerMethod {
    name: &'static str,
    first: &'static str,
    none_message: &'static CStr,
    deadline: fn(*mut PyObject) -> PyResult<f64>,
}

const CALL_LATER: TimerMethod = TimerMethod {
    name: "call_later",
    first: "delay",
    none_message: c"delay must not be None",
    deadline: |delay| args::deadline_after(crate::core::sys::monotonic(), delay),
};

const CALL_AT: TimerMethod = TimerMethod {
    name: "call_at",
    first: "when",
    none_message: c"when cannot be None",
    deadline: args::as_f64,
};

/// `call_later(delay, callback, *args, context=None)` /
/// `call_at(when, ...)`: asyncio's argument checks, then `schedule_at`.
///
/// # Safety
/// The arguments are the ones CPython passed to a Loop's METH_FASTCALL |
/// METH_KEYWORDS method.
unsafe fn schedule_timer(
    method: &TimerMethod,
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> PyResult<Owned> {
    // SAFETY: per the contract.
    let (lp, args) = unsafe { (LoopObject::from_ptr(slf), positional(argv, nargsf)) };
    // SAFETY: as above.
    let context = unsafe { context_keyword(method.name, argv, args.len(), kwnames)? };
    if args.len() < 2 {
        return Err(missing(
            method.name,
            &[method.first, "callback"],
            args.len(),
        ));
    }
    // SAFETY: Py_None is a valid singleton; comparing pointers.
    if args[0] == unsafe { Py_None() } {
        // SAFETY: valid exception class.
        return Err(raise_static(
            unsafe { PyExc_TypeError },
            method.none_message,
        ));
    }
    let when = (method.deadline)(args[0])?;
    schedule_at(lp, when, args[1], &args[2..], context)
}

unsafe extern "C" fn call_later(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: fastcall arguments of a Loop method straight from CPython.
    ffi_edge(|| unsafe { schedule_timer(&CALL_LATER, slf, argv, nargsf, kwnames) })
}

unsafe extern "C" fn call_at(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: fastcall arguments of a Loop method straight from CPython.
    ffi_edge(|| unsafe { schedule_timer(&CALL_AT, slf, argv, nargsf, kwnames) })
}

unsafe extern "C" fn time(_slf: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    // SAFETY: returns a new float reference or null.
    ffi_edge(|| unsafe { Owned::from_new(PyFloat_FromDouble(crate::core::sys::monotonic())) })
}

unsafe extern "C" fn stop(slf: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: CPython calls the Loop type's methods only with a Loop.
        unsafe { LoopObject::from_ptr(slf) }
            .engine()
            .borrow_mut()
            .stop();
        Ok(Owned::none())
    })
}

unsafe extern "C" fn is_running(slf: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    ffi_edge(|| {
        Ok(bool_object(
            // SAFETY: CPython calls the Loop type's methods only with a Loop.
            unsafe { LoopObject::from_ptr(slf) }
                .state()
                .thread_id
                .get()
                .is_some(),
        ))
    })
}

unsafe extern "C" fn is_closed(slf: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    // SAFETY: CPython calls the Loop type's methods only with a Loop.
    let lp = unsafe { LoopObject::from_ptr(slf) };
    ffi_edge(|| Ok(bool_object(lp.state().closed.get())))
}

unsafe extern "C" fn get_debug(slf: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    // SAFETY: CPython calls the Loop type's methods only with a Loop.
    ffi_edge(|| Ok(bool_object(unsafe { LoopObject::from_ptr(slf) }.debug())))
}

/// Calls a no-argument method of the loop by interned name.
fn call_method0(slf: *mut PyObject, name: &names::Cached) -> PyResult<Owned> {
    // SAFETY: slf is live; name is interned; result owned.
    unsafe { Owned::from_new(PyObject_CallMethodNoArgs(slf, name.get())) }
}

unsafe extern "C" fn run_forever(slf: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    // SAFETY: CPython calls the Loop type's methods only with a Loop.
    let lp = unsafe { LoopObject::from_ptr(slf) };
    ffi_edge(|| {
        call_method0(slf, &names::S_RUN_FOREVER_SETUP)?;
        let mut dispatcher = LoopDispatcher { lp };
        let result = engine::run_forever(dispatcher.lp.engine(), &mut dispatcher);
        // `finally: self._run_forever_cleanup()`, keeping the loop's error.
        let pending = result.is_err().then(take_pending).flatten();
        call_method0(slf, &names::S_RUN_FOREVER_CLEANUP)?;
        match pending {
            Some(exc) => Err(crate::python::ffi::raised::restore(exc)),
            None => result.map(|_| Owned::none()),
        }
    })
}

unsafe extern "C" fn run_once(slf: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    // SAFETY: CPython calls the Loop type's methods only with a Loop.
    let lp = unsafe { LoopObject::from_ptr(slf) };
    ffi_edge(|| {
        let mut dispatcher = LoopDispatcher { lp };
        engine::run_once(dispatcher.lp.engine(), &mut dispatcher)?;
        Ok(Owned::none())
    })
}

unsafe extern "C" fn write_to_self(slf: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: CPython calls the Loop type's methods only with a Loop.
        unsafe { LoopObject::from_ptr(slf) }
            .engine()
            .borrow()
            .wake_always();
        Ok(Owned::none())
    })
}

unsafe extern "C" fn create_future(slf: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    // SAFETY: Future(loop=self) with one spare slot before the arguments.
    ffi_edge(|| unsafe {
        let argv = [null_mut(), slf];
        Owned::from_new(PyObject_Vectorcall(
            names::FUTURE_TYPE.get(),
            argv.as_ptr().add(1),
            PY_VECTORCALL_ARGUMENTS_OFFSET,
            names::KW_LOOP.get(),
        ))
    })
}

/// `create_task(coro, *, name=None, context=None)`: `Task(coro, loop=self,
/// name=name, context=context)` natively; with a task factory or in debug
/// mode (where asyncio trims the task's source traceback) it defers to
/// `BaseEventLoop.create_task`, as it does for any unusual arguments.
unsafe extern "C" fn create_task(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: fastcall arguments straight from CPython.
        let args = unsafe { positional(argv, nargsf) };
        // SAFETY: CPython calls the Loop type's methods only with a Loop.
        let lp = unsafe { LoopObject::from_ptr(slf) };
        // SAFETY: kwnames is null or a tuple of str; values follow the positionals.
        let keywords = unsafe { task_keywords(argv, args.len(), kwnames) };
        let plain = args.len() == 1 && !lp.debug() && lp.state().task_factory.borrow().is_none();
        match keywords {
            Some((name, context)) if plain => {
                lp.check_closed()?;
                // SAFETY: Py_None is immortal; every pointer is borrowed and live.
                unsafe {
                    let none = Py_None();
                    let call = [
                        null_mut(),
                        args[0],
                        slf,
                        if name.is_null() { none } else { name },
                        if context.is_null() { none } else { context },
                    ];
                    Owned::from_new(PyObject_Vectorcall(
                        names::TASK_TYPE.get(),
                        call.as_ptr().add(1),
                        1 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                        names::KW_TASK.get(),
                    ))
                }
            }
            _ => {
                // SAFETY: forwards the same arguments with self in front.
                unsafe {
                    let nkw = if kwnames.is_null() {
                        0
                    } else {
                        PyTuple_GET_SIZE(kwnames) as usize
                    };
                    let mut call = Vec::with_capacity(1 + args.len() + nkw);
                    call.push(slf);
                    call.extend_from_slice(std::slice::from_raw_parts(argv, args.len() + nkw));
                    Owned::from_new(PyObject_Vectorcall(
                        names::BASE_CREATE_TASK.get(),
                        call.as_ptr(),
                        1 + args.len(),
                        kwnames,
                    ))
                }
            }
        }
    })
}

/// The `name=` and `context=` keywords of `create_task` (null when absent),
/// or None when there is any other keyword.
unsafe fn task_keywords(
    argv: *const *mut PyObject,
    nargs: usize,
    kwnames: *mut PyObject,
) -> Option<(*mut PyObject, *mut PyObject)> {
    let (mut name, mut context) = (null_mut(), null_mut());
    if kwnames.is_null() {
        return Some((name, context));
    }
    // SAFETY: per the contract.
    unsafe {
        for i in 0..PyTuple_GET_SIZE(kwnames) {
            let key = PyTuple_GET_ITEM(kwnames, i);
            let value = *argv.add(nargs + i as usize);
            if PyUnicode_CompareWithASCIIString(key, c"name".as_ptr()) == 0 {
                name = value;
            } else if PyUnicode_CompareWithASCIIString(key, c"context".as_ptr()) == 0 {
                context = value;
            } else {
                return None;
            }
        }
    }
    Some((name, context))
}

/// Drops every pending handle, timer, reader and writer: the native half
/// of `close()`.
unsafe extern "C" fn release_engine(slf: *mut PyObject, _: *mut PyObject) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: CPython calls the Loop type's methods only with a Loop.
        let lp = unsafe { LoopObject::from_ptr(slf) };
        let items = lp.engine().borrow_mut().close();
        drop(items);
        drop(lp.take_io_objects());
        Ok(Owned::none())
    })
}

/// The Python method that adds (or removes) a `direction` watcher.
fn method_name(direction: Direction, adding: bool) -> &'static str {
    match (direction, adding) {
        (Direction::Read, true) => "add_reader",
        (Direction::Write, true) => "add_writer",
        (Direction::Read, false) => "remove_reader",
        (Direction::Write, false) => "remove_writer",
    }
}

/// `_add_reader`/`_add_writer`: watch an fd with a new handle, returned.
pub fn add_io(lp: &LoopObject, args: &[*mut PyObject], direction: Direction) -> PyResult<Owned> {
    if args.len() < 2 {
        return Err(missing(
            method_name(direction, true),
            &["fd", "callback"],
            args.len(),
        ));
    }
    // In asyncio's order: the file object, the loop, then the number.
    let number = args::fileobj_number(args[0])?;
    lp.check_closed()?;
    let Some(fd) = args::fd_of_number(&number)? else {
        // SAFETY: valid exception class.
        return Err(raise_static(
            unsafe { PyExc_OverflowError },
            c"Python int too large to convert to C int",
        ));
    };
    let handle = HandleRef::new(
        ptr::addr_of_mut!(HANDLE_TYPE),
        lp.as_ptr(),
        args[1],
        &args[2..],
        null_mut(),
        0.0,
    )?;
    let returned = handle.to_owned();
    let replaced = {
        let mut engine = lp.engine().borrow_mut();
        engine.set_watcher(fd, direction, ReadyItem::Handle(handle))
    };
    match replaced {
        Ok(Some(old)) => old.release()?,
        Ok(None) => {}
        Err((err, rejected)) => {
            drop(rejected);
            return Err(raise_io(&err));
        }
    }
    lp.remember_io_object(fd, args[0]);
    Ok(returned)
}

/// `_remove_reader`/`_remove_writer`.
fn remove_io(lp: &LoopObject, fileobj: *mut PyObject, direction: Direction) -> PyResult<Owned> {
    let number = args::fileobj_number(fileobj)?;
    if lp.is_closed() {
        return Ok(bool_object(false));
    }
    let fd = match args::fd_of_number(&number) {
        // Beyond the C int range: nothing can be watched there.
        Ok(None) => return Ok(bool_object(false)),
        Ok(Some(fd)) => fd,
        Err(Raised) => {
            // A closed socket: found by identity if it is watched, else
            // the ValueError stands, as in asyncio's selectors.
            // SAFETY: an exception is pending; a class check.
            let invalid = unsafe { PyErr_ExceptionMatches(PyExc_ValueError) } != 0;
            match lp.watched_fd_of(fileobj) {
                Some(fd) if invalid => {
                    // SAFETY: clearing the pending ValueError.
                    unsafe { PyErr_Clear() };
                    fd
                }
                _ => return Err(Raised),
            }
        }
    };
    unwatch_fd(lp, fd, direction).map(bool_object)
}

/// A METH_FASTCALL method of the loop taking exactly two arguments, handed
/// to `$body(loop, first, second)`.
macro_rules! two_arg_method {
    ($name:ident, $python_name:literal, [$a:literal, $b:literal], $body:path) => {
        unsafe extern "C" fn $name(
            slf: *mut PyObject,
            argv: *mut *mut PyObject,
            n: Py_ssize_t,
        ) -> *mut PyObject {
            ffi_edge(|| {
                // SAFETY: fastcall arguments straight from CPython.
                let args = unsafe { positional(argv, n) };
                if args.len() != 2 {
                    return Err(wrong_count($python_name, &[$a, $b], args.len()));
                }
                // SAFETY: CPython calls the Loop type's methods only with a Loop.
                $body(unsafe { LoopObject::from_ptr(slf) }, args[0], args[1])
            })
        }
    };
}

two_arg_method!(
    sock_recv_native,
    "_sock_recv_native",
    ["sock", "n"],
    crate::python::sock_op::sock_recv
);
two_arg_method!(
    sock_recv_into_native,
    "_sock_recv_into_native",
    ["sock", "buf"],
    crate::python::sock_op::sock_recv_into
);
two_arg_method!(
    sock_sendall_native,
    "_sock_sendall_native",
    ["sock", "data"],
    crate::python::sock_op::sock_sendall
);
two_arg_method!(
    sock_connect_native,
    "_sock_connect_native",
    ["sock", "address"],
    crate::python::sock_op::sock_connect
);

unsafe extern "C" fn sock_call_native(
    slf: *mut PyObject,
    argv: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    // SAFETY: CPython calls the Loop type's methods only with a Loop;
    // fastcall arguments straight from CPython.
    let (lp, args) = unsafe { (LoopObject::from_ptr(slf), positional(argv, n)) };
    ffi_edge(|| crate::python::sock_op::sock_call(lp, args))
}

/// `_fd_events(fd)`: the selectors mask (EVENT_READ 1, EVENT_WRITE 2) the
/// engine watches fd with, 0 when it does not.
unsafe extern "C" fn fd_events(slf: *mut PyObject, fd: *mut PyObject) -> *mut PyObject {
    ffi_edge(|| {
        let fd = args::fileobj_to_fd(fd)?;
        // SAFETY: CPython calls the Loop type's methods only with a Loop.
        let engine = unsafe { LoopObject::from_ptr(slf) }.engine().borrow();
        let mask = i64::from(engine.has_watcher(fd, Direction::Read))
            | (i64::from(engine.has_watcher(fd, Direction::Write)) << 1);
        // SAFETY: a new int reference or null.
        unsafe { Owned::from_new(PyLong_FromLongLong(mask)) }
    })
}

unsafe extern "C" fn add_reader(
    slf: *mut PyObject,
    argv: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    // SAFETY: CPython calls the Loop type's methods only with a Loop;
    // fastcall arguments straight from CPython.
    let (lp, args) = unsafe { (LoopObject::from_ptr(slf), positional(argv, n)) };
    ffi_edge(|| add_io(lp, args, Direction::Read))
}

unsafe extern "C" fn add_writer(
    slf: *mut PyObject,
    argv: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    // SAFETY: CPython calls the Loop type's methods only with a Loop;
    // fastcall arguments straight from CPython.
    let (lp, args) = unsafe { (LoopObject::from_ptr(slf), positional(argv, n)) };
    ffi_edge(|| add_io(lp, args, Direction::Write))
}

unsafe extern "C" fn remove_reader(slf: *mut PyObject, fd: *mut PyObject) -> *mut PyObject {
    // SAFETY: CPython calls the Loop type's methods only with a Loop.
    let lp = unsafe { LoopObject::from_ptr(slf) };
    ffi_edge(|| remove_io(lp, fd, Direction::Read))
}

unsafe extern "C" fn remove_writer(slf: *mut PyObject, fd: *mut PyObject) -> *mut PyObject {
    // SAFETY: CPython calls the Loop type's methods only with a Loop.
    let lp = unsafe { LoopObject::from_ptr(slf) };
    ffi_edge(|| remove_io(lp, fd, Direction::Write))
}

static mut METHODS: [PyMethodDef; 26] = [
    kw_def(c"call_soon", call_soon,
        c"call_soon(callback, *args, context=None): run callback(*args) on the next iteration."),
    kw_def(c"call_soon_threadsafe", call_soon_threadsafe,
        c"call_soon_threadsafe(callback, *args, context=None): call_soon from any thread; wakes the loop."),
    kw_def(c"call_later", call_later,
        c"call_later(delay, callback, *args, context=None): run callback after delay seconds."),
    kw_def(c"call_at", call_at,
        c"call_at(when, callback, *args, context=None): run callback at loop time when."),
    noargs_def(c"time", time,
        c"The loop's clock (time.monotonic())."),
    noargs_def(c"stop", stop,
        c"Stop running after the current iteration."),
    noargs_def(c"is_running", is_running,
        c"Whether the loop is running."),
    noargs_def(c"is_closed", is_closed,
        c"Whether the loop was closed."),
    noargs_def(c"get_debug", get_debug,
        c"Whether debug mode is on."),
    noargs_def(c"run_forever", run_forever,
        c"Run until stop() is called."),
    noargs_def(c"_run_once", run_once,
        c"Run one iteration of the loop."),
    noargs_def(c"_write_to_self", write_to_self,
        c"Wake the loop from another thread."),
    noargs_def(c"create_future", create_future,
        c"A new asyncio.Future attached to this loop."),
    kw_def(c"create_task", create_task,
        c"create_task(coro, *, name=None, context=None): schedule a coroutine as an asyncio.Task."),
    noargs_def(c"_release_engine", release_engine,
        c"Drop pending callbacks, timers, readers and writers, and close the epoll fd and the waker (close())."),
    fast_def(c"_add_reader", add_reader,
        c"_add_reader(fd, callback, *args): call callback(*args) when fd is readable; returns the handle."),
    fast_def(c"_add_writer", add_writer,
        c"_add_writer(fd, callback, *args): call callback(*args) when fd is writable; returns the handle."),
    onearg_def(c"_remove_reader", remove_reader,
        c"_remove_reader(fd): stop watching fd for reading; True if it was watched."),
    onearg_def(c"_remove_writer", remove_writer,
        c"_remove_writer(fd): stop watching fd for writing; True if it was watched."),
    fast_def(c"_sock_recv_native", sock_recv_native,
        c"_sock_recv_native(sock, n): bytes now, or a future."),
    fast_def(c"_sock_recv_into_native", sock_recv_into_native,
        c"_sock_recv_into_native(sock, buf): a count now, or a future."),
    fast_def(c"_sock_sendall_native", sock_sendall_native,
        c"_sock_sendall_native(sock, data): None when all was sent, or a future."),
    fast_def(c"_sock_connect_native", sock_connect_native,
        c"_sock_connect_native(sock, address): None when connected, or a future."),
    fast_def(c"_sock_call_native", sock_call_native,
        c"_sock_call_native(sock, method, args, for_writing): (True, result) now, or (False, future)."),
    onearg_def(c"_fd_events", fd_events,
        c"_fd_events(fd): selectors mask of what the engine watches fd for."),
    PyMethodDef::zeroed(),
];

/// The `Loop` type (zloop.Loop's native base).
pub fn type_spec() -> TypeSpec {
    TypeSpec {
        tp: ptr::addr_of_mut!(LOOP_TYPE),
        name: c"zloop._zloop.Loop",
        doc: c"The native engine of zloop.Loop.",
        basicsize: std::mem::size_of::<LoopObject>(),
        flags: Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
        new: Some(loop_new),
        dealloc: Some(dealloc),
        traverse: Some(traverse),
        clear: Some(clear),
        methods: ptr::addr_of_mut!(METHODS).cast(),
        getset: ptr::addr_of_mut!(GETSET).cast(),
        ..TypeSpec::DEFAULTS
    }
}
