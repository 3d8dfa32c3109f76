//! Reports through `zloop._support` (fatal errors, debug logs) and the
//! transports' reprs.

use pyo3_ffi::*;
use std::ffi::CStr;
use std::fmt::Display;

use crate::core::interest::Direction;
use crate::python::ffi::names::{self, call_support};
use crate::python::ffi::objects::bool_object;
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::PyResult;
use crate::python::transport::registration::loop_of;
use crate::python::transport::Transport;

/// A new str object holding `text`.
pub fn str_object(text: &CStr) -> PyResult<Owned> {
    // SAFETY: a new str reference or null.
    unsafe { Owned::from_new(PyUnicode_FromString(text.as_ptr())) }
}

/// A socket transport's `_fatal_error(exc, message)` report (reporting in
/// Python; the caller then force-closes).
pub fn report_socket_fatal(slf: Transport<'_>, exc: Owned, message: &CStr) -> PyResult<()> {
    let text = str_object(message)?;
    call_support(
        &names::S_TRANSPORT_FATAL_ERROR,
        &[slf.as_ptr(), exc.as_ptr(), text.as_ptr()],
    )
    .map(drop)
}

/// A pipe transport's `_fatal_error(exc, message)` report (the caller then
/// closes): an OSError (with `any_os_error`; else only EIO) is logged in
/// debug mode only, anything else goes to the exception handler.
pub fn report_pipe_fatal(
    slf: Transport<'_>,
    exc: &Owned,
    message: &CStr,
    any_os_error: bool,
) -> PyResult<()> {
    let text = str_object(message)?;
    call_support(
        &names::S_PIPE_FATAL_ERROR,
        &[
            slf.as_ptr(),
            exc.as_ptr(),
            text.as_ptr(),
            bool_object(any_os_error).as_ptr(),
        ],
    )
    .map(drop)
}

/// Debug mode only: `logger.<level>(message, transport)`.
pub fn debug_log(slf: Transport<'_>, level: &names::Cached, message: &CStr) -> PyResult<()> {
    if !loop_of(slf).is_some_and(|lp| lp.debug()) {
        return Ok(());
    }
    let text = str_object(message)?;
    call_support(level, &[text.as_ptr(), slf.as_ptr()]).map(drop)
}

/// The type's short name and the "closed"/"closing" words of a repr.
fn repr_head(slf: Transport<'_>) -> Vec<String> {
    let c = slf.io_state();
    // SAFETY: slf is live; tp_name is a C string.
    let full = unsafe { CStr::from_ptr((*Py_TYPE(slf.as_ptr())).tp_name).to_string_lossy() };
    let mut info = vec![full.rsplit('.').next().unwrap_or_default().to_owned()];
    if slf.io_object().is_null() {
        info.push("closed".into());
    } else if c.closing.get() {
        info.push("closing".into());
    }
    info.push(format!("fd={}", c.fd.get()));
    info
}

fn repr_object(info: Vec<String>) -> PyResult<Owned> {
    let text = std::ffi::CString::new(format!("<{}>", info.join(" "))).unwrap_or_default();
    str_object(&text)
}

/// `repr()`, as asyncio's selector transports build it.
pub fn socket_repr(slf: Transport<'_>, bufsize: impl Display) -> PyResult<Owned> {
    let mut info = repr_head(slf);
    if loop_of(slf).is_some_and(|lp| !lp.is_closed()) {
        let c = slf.io_state();
        let polling = |on: bool| if on { "polling" } else { "idle" };
        info.push(format!("read={}", polling(c.reading.get())));
        info.push(format!(
            "write=<{}, bufsize={bufsize}>",
            polling(c.writing.get())
        ));
    }
    repr_object(info)
}

/// `repr()`, as asyncio's pipe transports build it; `bufsize` only for the
/// write side.
pub fn pipe_repr(
    slf: Transport<'_>,
    interest: Direction,
    bufsize: Option<usize>,
) -> PyResult<Owned> {
    let mut info = repr_head(slf);
    let fd = slf.io_state().fd.get();
    // asyncio asks its selector, which a closed loop no longer has.
    let polling = loop_of(slf).filter(|lp| !lp.is_closed()).map(|lp| {
        let engine = lp.engine().borrow();
        engine.has_watcher(fd, interest)
    });
    match (slf.io_object().is_null(), polling) {
        (false, Some(polling)) => {
            info.push(if polling { "polling" } else { "idle" }.into());
            if let Some(size) = bufsize {
                info.push(format!("bufsize={size}"));
            }
        }
        (false, None) => info.push("open".into()),
        (true, _) => info.push("closed".into()),
    }
    repr_object(info)
}
