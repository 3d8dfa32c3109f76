//! The attributes `asyncio.BaseEventLoop` reads and writes on the loop
//! (`_closed`, `_stopping`, `_debug`, `_thread_id`,
//! `slow_callback_duration`, `_task_factory`), kept natively.

use pyo3_ffi::*;
use std::ffi::{c_int, c_void};

use crate::python::event_loop::LoopObject;
use crate::python::ffi::args;
use crate::python::ffi::entry::{ffi_edge, ffi_edge_int};
use crate::python::ffi::objects::{bool_object, getset_rw};
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{raise_static, PyResult, Raised};

fn truth(value: *mut PyObject) -> PyResult<bool> {
    if value.is_null() {
        // SAFETY: valid exception class.
        return Err(raise_static(
            unsafe { PyExc_AttributeError },
            c"cannot delete attribute",
        ));
    }
    // SAFETY: value is live.
    match unsafe { PyObject_IsTrue(value) } {
        -1 => Err(Raised),
        v => Ok(v == 1),
    }
}

unsafe extern "C" fn get_closed(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: CPython calls the Loop type's getters and setters only with a Loop.
    let lp = unsafe { LoopObject::from_ptr(slf) };
    ffi_edge(|| Ok(bool_object(lp.state().closed.get())))
}

unsafe extern "C" fn set_closed(slf: *mut PyObject, value: *mut PyObject, _: *mut c_void) -> c_int {
    ffi_edge_int(|| {
        // SAFETY: CPython calls the Loop type's getters and setters only with a Loop.
        unsafe { LoopObject::from_ptr(slf) }
            .state()
            .closed
            .set(truth(value)?);
        Ok(())
    })
}

unsafe extern "C" fn get_stopping(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    ffi_edge(|| {
        Ok(bool_object(
            // SAFETY: CPython calls the Loop type's getters and setters only with a Loop.
            unsafe { LoopObject::from_ptr(slf) }
                .engine()
                .borrow()
                .is_stopping(),
        ))
    })
}

unsafe extern "C" fn set_stopping(
    slf: *mut PyObject,
    value: *mut PyObject,
    _: *mut c_void,
) -> c_int {
    ffi_edge_int(|| {
        let stopping = truth(value)?;
        // SAFETY: CPython calls the Loop type's getters and setters only with a Loop.
        let mut engine = unsafe { LoopObject::from_ptr(slf) }.engine().borrow_mut();
        if stopping {
            engine.stop();
        } else {
            engine.clear_stopping();
        }
        Ok(())
    })
}

unsafe extern "C" fn get_debug_attr(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: CPython calls the Loop type's getters and setters only with a Loop.
    ffi_edge(|| Ok(bool_object(unsafe { LoopObject::from_ptr(slf) }.debug())))
}

unsafe extern "C" fn set_debug_attr(
    slf: *mut PyObject,
    value: *mut PyObject,
    _: *mut c_void,
) -> c_int {
    ffi_edge_int(|| {
        // SAFETY: CPython calls the Loop type's getters and setters only with a Loop.
        unsafe { LoopObject::from_ptr(slf) }
            .state()
            .debug
            .set(truth(value)?);
        Ok(())
    })
}

unsafe extern "C" fn get_thread_id(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: CPython calls the Loop type's getters and setters only with a Loop.
    ffi_edge(
        || match unsafe { LoopObject::from_ptr(slf) }.state().thread_id.get() {
            // SAFETY: returns a new int reference or null.
            Some(id) => unsafe { Owned::from_new(PyLong_FromUnsignedLongLong(id)) },
            None => Ok(Owned::none()),
        },
    )
}

unsafe extern "C" fn set_thread_id(
    slf: *mut PyObject,
    value: *mut PyObject,
    _: *mut c_void,
) -> c_int {
    ffi_edge_int(|| {
        // SAFETY: value is null (delete) or live.
        let id = unsafe {
            if value.is_null() || value == Py_None() {
                None
            } else {
                let id = PyLong_AsUnsignedLongLong(value);
                if id == u64::MAX && !PyErr_Occurred().is_null() {
                    return Err(Raised);
                }
                Some(id)
            }
        };
        // SAFETY: CPython calls the Loop type's getters and setters only with a Loop.
        unsafe { LoopObject::from_ptr(slf) }
            .state()
            .thread_id
            .set(id);
        Ok(())
    })
}

unsafe extern "C" fn get_slow(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    // SAFETY: returns a new float reference or null.
    ffi_edge(|| unsafe {
        Owned::from_new(PyFloat_FromDouble(
            LoopObject::from_ptr(slf).slow_callback_duration(),
        ))
    })
}

unsafe extern "C" fn set_slow(slf: *mut PyObject, value: *mut PyObject, _: *mut c_void) -> c_int {
    ffi_edge_int(|| {
        if value.is_null() {
            // SAFETY: valid exception class.
            return Err(raise_static(
                unsafe { PyExc_AttributeError },
                c"cannot delete attribute",
            ));
        }
        let seconds = args::as_f64(value)?;
        // SAFETY: CPython calls the Loop type's getters and setters only with a Loop.
        unsafe { LoopObject::from_ptr(slf) }
            .state()
            .slow_callback_duration
            .set(seconds);
        Ok(())
    })
}

pub static mut GETSET: [PyGetSetDef; 7] = [
    getset_rw(c"_closed", get_closed, set_closed),
    getset_rw(c"_stopping", get_stopping, set_stopping),
    getset_rw(c"_debug", get_debug_attr, set_debug_attr),
    getset_rw(c"_thread_id", get_thread_id, set_thread_id),
    getset_rw(c"slow_callback_duration", get_slow, set_slow),
    getset_rw(
        c"_task_factory",
        get_task_factory_attr,
        set_task_factory_attr,
    ),
    crate::python::ffi::objects::GETSET_END,
];

unsafe extern "C" fn get_task_factory_attr(slf: *mut PyObject, _: *mut c_void) -> *mut PyObject {
    ffi_edge(|| {
        // SAFETY: CPython calls the Loop type's getters and setters only with a Loop.
        let factory = unsafe { LoopObject::from_ptr(slf) }
            .state()
            .task_factory
            .borrow();
        Ok(factory.clone().unwrap_or_else(Owned::none))
    })
}

unsafe extern "C" fn set_task_factory_attr(
    slf: *mut PyObject,
    value: *mut PyObject,
    _: *mut c_void,
) -> c_int {
    ffi_edge_int(|| {
        // SAFETY: value is null (delete) or a live object.
        let factory = unsafe {
            if value.is_null() || value == Py_None() {
                None
            } else {
                Some(Owned::from_borrowed(value))
            }
        };
        // The old factory is dropped after the borrow ends (it may run code).
        // SAFETY: CPython calls the Loop type's getters and setters only with a Loop.
        let old = unsafe { LoopObject::from_ptr(slf) }
            .state()
            .task_factory
            .replace(factory);
        drop(old);
        Ok(())
    })
}
