//! `TimerHandle`: a `Handle` with a deadline, as `asyncio.TimerHandle`.

use pyo3_ffi::*;
use std::ffi::c_int;
use std::ptr;

use crate::python::ffi::entry::{ffi_edge, getter, noargs, noargs_def};
use crate::python::ffi::objects::{bool_object, getset_ro};
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{PyResult, Raised};
use crate::python::ffi::type_spec::{zeroed_type_object, TypeSpec};
use crate::python::handle::{Handle, HandleObject, HANDLE_TYPE};

pub static mut TIMER_HANDLE_TYPE: PyTypeObject = zeroed_type_object();

fn is_timer(obj: *mut PyObject) -> bool {
    // SAFETY: obj is a live object; type checks only read its type.
    unsafe { PyObject_TypeCheck(obj, ptr::addr_of_mut!(TIMER_HANDLE_TYPE)) != 0 }
}

fn float(value: f64) -> PyResult<Owned> {
    // SAFETY: a new float reference or null.
    unsafe { Owned::from_new(PyFloat_FromDouble(value)) }
}

noargs!(timer_when, |slf: Handle| float(slf.fields().when));
getter!(get_when, |slf: Handle| float(slf.fields().when));
getter!(get_scheduled, |slf: Handle| Ok(bool_object(
    slf.fields().scheduled.get()
)));

unsafe extern "C" fn timer_hash(slf: *mut PyObject) -> Py_hash_t {
    // SAFETY: CPython calls a type's slot only with its instances.
    let slf = unsafe { Handle::from_ptr(slf) };
    // asyncio hashes `_when`.
    match float(slf.fields().when) {
        // SAFETY: f is a live float.
        Ok(f) => unsafe { PyObject_Hash(f.as_ptr()) },
        Err(_) => -1,
    }
}

/// Equality as asyncio's: same deadline, callback, arguments and state.
fn timers_equal(a: Handle<'_>, b: Handle<'_>) -> PyResult<bool> {
    let (ha, hb) = (a.fields(), b.fields());
    // SAFETY: RichCompareBool takes borrowed live references.
    unsafe {
        if ha.when != hb.when || ha.cancelled.get() != hb.cancelled.get() {
            return Ok(false);
        }
        let (ca, cb) = (
            Owned::from_ptr_or_none(ha.callback.get()),
            Owned::from_ptr_or_none(hb.callback.get()),
        );
        let same_cb = PyObject_RichCompareBool(ca.as_ptr(), cb.as_ptr(), Py_EQ);
        if same_cb < 0 {
            return Err(Raised);
        }
        if same_cb == 0 {
            return Ok(false);
        }
        let (aa, ab) = (a.args_tuple()?, b.args_tuple()?);
        let same_args = PyObject_RichCompareBool(aa.as_ptr(), ab.as_ptr(), Py_EQ);
        if same_args < 0 {
            return Err(Raised);
        }
        Ok(same_args == 1)
    }
}

unsafe extern "C" fn timer_richcompare(
    slf: *mut PyObject,
    other: *mut PyObject,
    op: c_int,
) -> *mut PyObject {
    // SAFETY: CPython calls a type's slot with an instance as the first.
    let slf = unsafe { Handle::from_ptr(slf) };
    ffi_edge(|| {
        if !is_timer(other) {
            // SAFETY: Py_NotImplemented is a valid singleton.
            return Ok(unsafe { Owned::from_borrowed(Py_NotImplemented()) });
        }
        // SAFETY: checked to be a TimerHandle; the caller lends it.
        let other = unsafe { Handle::from_ptr(other) };
        let (a, b) = (slf.fields().when, other.fields().when);
        let result = if op == Py_LT {
            a < b
        } else if op == Py_GT {
            a > b
        } else if op == Py_LE {
            a < b || timers_equal(slf, other)?
        } else if op == Py_GE {
            a > b || timers_equal(slf, other)?
        } else if op == Py_EQ {
            timers_equal(slf, other)?
        } else {
            !timers_equal(slf, other)?
        };
        Ok(bool_object(result))
    })
}

static mut METHODS: [PyMethodDef; 2] = [
    noargs_def(
        c"when",
        timer_when,
        c"The scheduled time, in loop.time() seconds.",
    ),
    PyMethodDef::zeroed(),
];

static mut GETSET: [PyGetSetDef; 3] = [
    getset_ro(c"_when", get_when),
    getset_ro(c"_scheduled", get_scheduled),
    crate::python::ffi::objects::GETSET_END,
];

/// The `TimerHandle` type (a `Handle` subtype).
pub fn type_spec() -> TypeSpec {
    TypeSpec {
        tp: ptr::addr_of_mut!(TIMER_HANDLE_TYPE),
        name: c"zloop._zloop.TimerHandle",
        doc: c"A callback scheduled for a time (asyncio.TimerHandle's API).",
        basicsize: std::mem::size_of::<HandleObject>(),
        flags: Py_TPFLAGS_HAVE_GC,
        // Made after Handle (module init's order).
        base: ptr::addr_of_mut!(HANDLE_TYPE),
        traverse: Some(crate::python::handle::traverse),
        clear: Some(crate::python::handle::clear),
        hash: Some(timer_hash),
        richcompare: Some(timer_richcompare),
        methods: ptr::addr_of_mut!(METHODS).cast(),
        getset: ptr::addr_of_mut!(GETSET).cast(),
        ..TypeSpec::DEFAULTS
    }
}
