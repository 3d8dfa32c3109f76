//! Argument handling shared by the `Loop` methods, with asyncio's errors.

use pyo3_ffi::*;
use std::ffi::CStr;
use std::os::fd::RawFd;
use std::ptr::null_mut;

use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{raise, PyResult, Raised};

/// The positional arguments of a METH_FASTCALL call as a slice.
///
/// # Safety
/// `args` points at `nargs` (+ keyword values) live references, as CPython
/// passes them.
pub unsafe fn positional<'a>(args: *const *mut PyObject, nargs: Py_ssize_t) -> &'a [*mut PyObject] {
    // SAFETY: a pure computation on the count CPython passed.
    let n = unsafe { PyVectorcall_NARGS(nargs as usize) } as usize;
    if n == 0 {
        &[]
    } else {
        // SAFETY: per the contract.
        unsafe { std::slice::from_raw_parts(args, n) }
    }
}

/// The `context=` keyword of `call_soon` & co. (null when absent); any other
/// keyword is a TypeError, worded as Python words it.
///
/// # Safety
/// As `positional`; `kwnames` is null or a tuple of str.
pub unsafe fn context_keyword(
    method: &str,
    args: *const *mut PyObject,
    nargs: usize,
    kwnames: *mut PyObject,
) -> PyResult<*mut PyObject> {
    if kwnames.is_null() {
        return Ok(null_mut());
    }
    let mut context = null_mut();
    // SAFETY: kwnames is a tuple of str whose values follow the positionals.
    unsafe {
        for i in 0..PyTuple_GET_SIZE(kwnames) {
            let name = PyTuple_GET_ITEM(kwnames, i);
            // Interned names (CPython's own `_asyncio` passes one) match by identity.
            if name == crate::python::ffi::names::S_CONTEXT.get()
                || PyUnicode_CompareWithASCIIString(name, c"context".as_ptr()) == 0
            {
                context = *args.add(nargs + i as usize);
            } else {
                let shown = Owned::from_new(PyObject_Str(name))?;
                let text = utf8(shown.as_ptr())?;
                return Err(raise(
                    PyExc_TypeError,
                    &format!("{method}() got an unexpected keyword argument '{text}'"),
                ));
            }
        }
    }
    Ok(context)
}

/// Fastcall arguments matched against keyword `names` (positional first;
/// null where not given), with Python's TypeErrors for too many positional
/// arguments, an unknown keyword, or a value given twice.
///
/// # Safety
/// The arguments are the ones CPython passed to a METH_FASTCALL|KEYWORDS method.
pub unsafe fn keyword_args<const N: usize>(
    method: &str,
    names: [&CStr; N],
    argv: *const *mut PyObject,
    nargsf: Py_ssize_t,
    kwnames: *mut PyObject,
) -> PyResult<[*mut PyObject; N]> {
    // SAFETY: per the contract.
    let args = unsafe { positional(argv, nargsf) };
    let mut out = [null_mut(); N];
    if args.len() > N {
        // SAFETY: valid exception class.
        return Err(raise(
            unsafe { PyExc_TypeError },
            &format!(
                "{method}() takes at most {N} arguments ({} given)",
                args.len()
            ),
        ));
    }
    let given = args.len().min(N);
    out[..given].copy_from_slice(&args[..given]);
    if kwnames.is_null() {
        return Ok(out);
    }
    // SAFETY: kwnames is a tuple of str; the values follow the positionals.
    unsafe {
        for i in 0..PyTuple_GET_SIZE(kwnames) {
            let key = PyTuple_GET_ITEM(kwnames, i);
            let value = *argv.add(args.len() + i as usize);
            match names
                .iter()
                .position(|n| PyUnicode_CompareWithASCIIString(key, n.as_ptr()) == 0)
            {
                Some(at) if at < given => {
                    return Err(raise(
                        PyExc_TypeError,
                        &format!(
                            "{method}() got multiple values for argument '{}'",
                            utf8(key)?
                        ),
                    ))
                }
                Some(at) => out[at] = value,
                None => {
                    return Err(raise(
                        PyExc_TypeError,
                        &format!(
                            "{method}() got an unexpected keyword argument '{}'",
                            utf8(key)?
                        ),
                    ))
                }
            }
        }
    }
    Ok(out)
}

/// Borrowed UTF-8 text of a str object.
pub fn utf8(obj: *mut PyObject) -> PyResult<String> {
    let mut size: Py_ssize_t = 0;
    // SAFETY: obj is a live str; the returned buffer lives as long as obj.
    unsafe {
        let data = PyUnicode_AsUTF8AndSize(obj, &mut size);
        if data.is_null() {
            return Err(Raised);
        }
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), size as usize);
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// The TypeError Python raises for a wrong number of positional
/// arguments: missing ones named, or too many counted.
pub fn wrong_count(method: &str, names: &[&str], given: usize) -> Raised {
    if given >= names.len() {
        let takes = match names.len() {
            1 => "1 positional argument".to_string(),
            n => format!("{n} positional arguments"),
        };
        let were = if given == 1 { "was" } else { "were" };
        // SAFETY: PyExc_TypeError is a valid exception class.
        return raise(
            unsafe { PyExc_TypeError },
            &format!("{method}() takes {takes} but {given} {were} given"),
        );
    }
    missing(method, names, given)
}

/// The TypeError Python raises for a missing positional argument (`given`
/// of `names` were passed; passing all of them or more is a caller bug,
/// answered with the too-many error rather than a panic).
pub fn missing(method: &str, names: &[&str], given: usize) -> Raised {
    let Some(absent) = names.get(given..).filter(|a| !a.is_empty()) else {
        return wrong_count(method, names, given);
    };
    let quoted: Vec<String> = absent.iter().map(|n| format!("'{n}'")).collect();
    let list = match quoted.len() {
        1 => quoted[0].clone(),
        2 => format!("{} and {}", quoted[0], quoted[1]),
        _ => {
            let (last, rest) = quoted.split_last().unwrap_or((&quoted[0], &[]));
            format!("{}, and {}", rest.join(", "), last)
        }
    };
    let plural = if absent.len() == 1 {
        "argument"
    } else {
        "arguments"
    };
    // SAFETY: PyExc_TypeError is a valid exception class.
    raise(
        unsafe { PyExc_TypeError },
        &format!(
            "{method}() missing {} required positional {plural}: {list}",
            absent.len()
        ),
    )
}

/// A number as f64 (`float(x)` semantics for int, float and `__float__`).
pub fn as_f64(obj: *mut PyObject) -> PyResult<f64> {
    // SAFETY: obj is live; PyFloat_AsDouble sets an error on failure.
    unsafe {
        if PyFloat_CheckExact(obj) != 0 {
            return Ok(PyFloat_AS_DOUBLE(obj));
        }
        let value = PyFloat_AsDouble(obj);
        if value == -1.0 && !PyErr_Occurred().is_null() {
            return Err(Raised);
        }
        Ok(value)
    }
}

/// `now + delay` as asyncio computes `self.time() + delay`: floats and ints
/// directly, anything else through the number protocol (so its TypeError
/// text is Python's own).
pub fn deadline_after(now: f64, delay: *mut PyObject) -> PyResult<f64> {
    // SAFETY: delay is live; every new reference is owned.
    unsafe {
        if PyFloat_CheckExact(delay) != 0 {
            return Ok(now + PyFloat_AS_DOUBLE(delay));
        }
        let base = Owned::from_new(PyFloat_FromDouble(now))?;
        let sum = Owned::from_new(PyNumber_Add(base.as_ptr(), delay))?;
        as_f64(sum.as_ptr())
    }
}

/// The fd behind an int or an object with `fileno()`, as asyncio's
/// `_ensure_fd_no_transport` and the selectors check it.
pub fn fileobj_to_fd(obj: *mut PyObject) -> PyResult<RawFd> {
    let number = fileobj_number(obj)?;
    // An fd beyond the int range cannot be open: EBADF, as epoll says.
    Ok(fd_of_number(&number)?.unwrap_or(RawFd::MAX))
}

/// The int behind an int or an object with `fileno()` (asyncio's
/// `_ensure_fd_no_transport` conversion and its ValueError), unchecked.
pub fn fileobj_number(obj: *mut PyObject) -> PyResult<Owned> {
    // SAFETY: obj is live; new references are owned.
    unsafe {
        if PyLong_Check(obj) != 0 {
            return Ok(Owned::from_borrowed(obj));
        }
        let converted = Owned::from_new(PyObject_CallMethodNoArgs(
            obj,
            crate::python::ffi::names::S_FILENO.get(),
        ))
        .and_then(|f| Owned::from_new(PyNumber_Long(f.as_ptr())));
        match converted {
            Ok(n) => Ok(n),
            Err(Raised) => {
                let expected = PyErr_ExceptionMatches(PyExc_AttributeError) != 0
                    || PyErr_ExceptionMatches(PyExc_TypeError) != 0
                    || PyErr_ExceptionMatches(PyExc_ValueError) != 0;
                if !expected {
                    return Err(Raised);
                }
                PyErr_Clear();
                let shown = Owned::from_new(PyObject_Repr(obj))?;
                Err(raise(
                    PyExc_ValueError,
                    &format!("Invalid file object: {}", utf8(shown.as_ptr())?),
                ))
            }
        }
    }
}

/// The fd an int names: ValueError for a negative one (as selectors say
/// it), None beyond the C int range (no such fd can be open).
pub fn fd_of_number(number: &Owned) -> PyResult<Option<RawFd>> {
    // SAFETY: number is a live int; the conversion reports overflow.
    unsafe {
        let mut overflow = 0;
        let fd = PyLong_AsLongLongAndOverflow(number.as_ptr(), &mut overflow);
        if fd == -1 && overflow == 0 && !PyErr_Occurred().is_null() {
            return Err(Raised);
        }
        if overflow > 0 {
            return Ok(None);
        }
        if overflow < 0 || fd < 0 {
            let shown = Owned::from_new(PyObject_Str(number.as_ptr()))?;
            return Err(raise(
                PyExc_ValueError,
                &format!("Invalid file descriptor: {}", utf8(shown.as_ptr())?),
            ));
        }
        Ok(RawFd::try_from(fd).ok())
    }
}
