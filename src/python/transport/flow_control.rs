//! asyncio's `_FlowControlMixin`: the write buffer's water marks and the
//! protocol's pause_writing/resume_writing calls.

use pyo3_ffi::*;
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void, CStr};

use crate::python::ffi::args::{keyword_args, utf8};
use crate::python::ffi::entry::{ffi_edge, getter, kw_def, noargs, noargs_def};
use crate::python::ffi::names::{self, call_support};
use crate::python::ffi::objects::bool_object;
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{self, raise, PyResult, Raised};
use crate::python::transport::protocol::call_protocol;
use crate::python::transport::report::str_object;
use crate::python::transport::{Transport, TransportKind};

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
pub fn maybe_pause_protocol<S: Buffered>(slf: Transport<'_, S>) -> PyResult<()> {
    let st = slf.state();
    let flow = st.flow();
    if st.buffer_size() <= flow.high_water.get() || flow.protocol_paused.get() {
        return Ok(());
    }
    flow.protocol_paused.set(true);
    flow_control_call(
        slf.any(),
        &names::S_PAUSE_WRITING,
        c"protocol.pause_writing() failed",
    )
}

/// asyncio's `_maybe_resume_protocol()`.
pub fn maybe_resume_protocol<S: Buffered>(slf: Transport<'_, S>) -> PyResult<()> {
    let st = slf.state();
    let flow = st.flow();
    if !flow.protocol_paused.get() || st.buffer_size() > flow.low_water.get() {
        return Ok(());
    }
    flow.protocol_paused.set(false);
    flow_control_call(
        slf.any(),
        &names::S_RESUME_WRITING,
        c"protocol.resume_writing() failed",
    )
}

/// `pause_writing`/`resume_writing`: a failure is reported, not fatal.
fn flow_control_call(slf: Transport<'_>, name: &names::Cached, message: &CStr) -> PyResult<()> {
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
        &[slf.as_ptr(), exc.as_ptr(), text.as_ptr()],
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

noargs!(m_get_write_buffer_limits<S: Buffered>, |slf: Transport<S>| {
    let (low, high) = slf.state().flow().limits()?;
    // SAFETY: both are live; a new tuple reference or null.
    unsafe { Owned::from_new(PyTuple_Pack(2, low.as_ptr(), high.as_ptr())) }
});

noargs!(m_get_write_buffer_size<S: Buffered>, |slf: Transport<S>| slf
    .state()
    .buffer_size()
    .to_py());

unsafe extern "C" fn m_set_write_buffer_limits<S: Buffered>(
    slf: *mut PyObject,
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> *mut PyObject {
    // SAFETY: CPython calls a method only with an instance of its type.
    let slf = unsafe { Transport::<S>::from_ptr(slf) };
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
        slf.state().flow().set(counts, (low, high));
        maybe_pause_protocol(slf).map(|_| Owned::none())
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

// `_conn_lost`.
getter!(pub get_conn_lost<S: Buffered>, |slf: Transport<S>| i64::from(
    slf.state().conn_lost().get()
)
.to_py());

// `_protocol_paused`.
getter!(pub get_protocol_paused<S: Buffered>, |slf: Transport<S>| Ok(bool_object(
    slf.state().flow().protocol_paused.get()
)));

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

/// A transport with a write buffer under asyncio's flow control.
pub trait Buffered: TransportKind {
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
