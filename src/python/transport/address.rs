//! Socket addresses between Python values and `SockAddr`, as the `socket`
//! module converts them (`makesockaddr` / `getsockaddrarg`), for AF_INET,
//! AF_INET6 and AF_UNIX.
//!
//! Parsing only takes the common, unambiguous forms natively (numeric hosts,
//! ports in range, paths that fit); for anything else it answers `None` and
//! the caller hands the address to the Python socket's own `sendto`, so name
//! resolution, `''`/`'<broadcast>'`, scope ids written as `%eth0` and every
//! error message stay exactly the socket module's.

use pyo3_ffi::*;
use std::ffi::c_int;

use crate::core::sockaddr::{self, SockAddr, UnixName};
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::PyResult;
use crate::python::transport::read_buffer::bytes_of;

/// Whether `family` is one this module converts.
pub fn is_native_family(family: c_int) -> bool {
    matches!(family, libc::AF_INET | libc::AF_INET6 | libc::AF_UNIX)
}

fn text(s: &str) -> PyResult<Owned> {
    // SAFETY: a valid UTF-8 buffer of the given length; new reference or null.
    unsafe {
        Owned::from_new(PyUnicode_FromStringAndSize(
            s.as_ptr().cast(),
            s.len() as Py_ssize_t,
        ))
    }
}

fn int(v: i64) -> PyResult<Owned> {
    // SAFETY: new reference or null.
    unsafe { Owned::from_new(PyLong_FromLongLong(v)) }
}

fn tuple(items: Vec<Owned>) -> PyResult<Owned> {
    // SAFETY: PyTuple_New returns a new tuple or null; SET_ITEM steals each
    // reference into a slot of the fresh tuple.
    unsafe {
        let t = Owned::from_new(PyTuple_New(items.len() as Py_ssize_t))?;
        for (i, item) in items.into_iter().enumerate() {
            PyTuple_SET_ITEM(t.as_ptr(), i as Py_ssize_t, item.into_ptr());
        }
        Ok(t)
    }
}

/// The Python value of a received address: `(host, port)`, `(host, port,
/// flowinfo, scope_id)`, a Unix path (str, '' when unnamed) or abstract name
/// (bytes), None when the kernel gave no address, `(family, sa_data)` else.
pub fn to_python(addr: &SockAddr) -> PyResult<Owned> {
    if addr.is_empty() {
        return Ok(Owned::none());
    }
    if let Some((ip, port)) = addr.as_ipv4() {
        return tuple(vec![text(&sockaddr::ipv4_text(&ip))?, int(port.into())?]);
    }
    if let Some((ip, port, flowinfo, scope_id)) = addr.as_ipv6() {
        return tuple(vec![
            text(&sockaddr::ipv6_text(&ip))?,
            int(port.into())?,
            int(flowinfo.into())?,
            int(scope_id.into())?,
        ]);
    }
    match addr.as_unix() {
        Some(UnixName::Abstract(name)) => bytes_of(name),
        // SAFETY: path is readable for its length; new reference or null.
        Some(UnixName::Path(path)) => unsafe {
            Owned::from_new(PyUnicode_DecodeFSDefaultAndSize(
                path.as_ptr().cast(),
                path.len() as Py_ssize_t,
            ))
        },
        None => tuple(vec![
            int(addr.family().into())?,
            bytes_of(&addr.raw_data())?,
        ]),
    }
}

/// A str of ASCII text without NUL, as a Rust str (None otherwise).
fn ascii_host<'a>(obj: *mut PyObject) -> Option<&'a str> {
    // SAFETY: obj is live; AsUTF8AndSize returns a buffer owned by the str
    // (valid while it lives) or null with an error we clear.
    unsafe {
        if PyUnicode_Check(obj) == 0 {
            return None;
        }
        let mut size: Py_ssize_t = 0;
        let data = PyUnicode_AsUTF8AndSize(obj, &mut size);
        if data.is_null() {
            PyErr_Clear();
            return None;
        }
        let s = std::slice::from_raw_parts(data.cast::<u8>(), size as usize);
        if !s.is_ascii() || s.contains(&0) {
            return None;
        }
        std::str::from_utf8(s).ok()
    }
}

/// An exact int in `0..=max`, else None (the socket module decides).
fn small_int(obj: *mut PyObject, max: u64) -> Option<u64> {
    // SAFETY: obj is live; a failed conversion's error is cleared.
    unsafe {
        if PyLong_Check(obj) == 0 {
            return None;
        }
        let v = PyLong_AsUnsignedLongLong(obj);
        if v == u64::MAX && !PyErr_Occurred().is_null() {
            PyErr_Clear();
            return None;
        }
        (v <= max).then_some(v)
    }
}

/// The `SockAddr` for `addr` on a socket of `family`, when it is in a form
/// converted here; `Ok(None)` leaves it to the socket module.
pub fn from_python(family: c_int, addr: *mut PyObject) -> PyResult<Option<SockAddr>> {
    match family {
        libc::AF_INET | libc::AF_INET6 => Ok(inet_from_python(family, addr)),
        libc::AF_UNIX => unix_from_python(addr),
        _ => Ok(None),
    }
}

fn inet_from_python(family: c_int, addr: *mut PyObject) -> Option<SockAddr> {
    // SAFETY: addr is live; tuple items are borrowed while the tuple lives.
    unsafe {
        if PyTuple_Check(addr) == 0 {
            return None;
        }
        let n = PyTuple_GET_SIZE(addr);
        let item = |i: Py_ssize_t| PyTuple_GET_ITEM(addr, i);
        if family == libc::AF_INET {
            if n != 2 {
                return None;
            }
            let ip = sockaddr::parse_ipv4(ascii_host(item(0))?)?;
            let port = small_int(item(1), 0xffff)?;
            return Some(SockAddr::ipv4(ip, port as u16));
        }
        if !(2..=4).contains(&n) {
            return None;
        }
        let host = ascii_host(item(0))?;
        if host.contains('%') {
            return None; // an interface name: the socket module resolves it
        }
        let ip = sockaddr::parse_ipv6(host)?;
        let port = small_int(item(1), 0xffff)?;
        let flowinfo = if n > 2 {
            small_int(item(2), 0xfffff)?
        } else {
            0
        };
        let scope_id = if n > 3 {
            small_int(item(3), u32::MAX.into())?
        } else {
            0
        };
        Some(SockAddr::ipv6(
            ip,
            port as u16,
            flowinfo as u32,
            scope_id as u32,
        ))
    }
}

fn unix_from_python(addr: *mut PyObject) -> PyResult<Option<SockAddr>> {
    // SAFETY: addr is live; the encoded bytes object is owned; bytes and
    // bytearray buffers are read while their objects live.
    unsafe {
        if PyUnicode_Check(addr) != 0 {
            let encoded = Owned::from_new(PyUnicode_EncodeFSDefault(addr))?;
            let name = std::slice::from_raw_parts(
                PyBytes_AS_STRING(encoded.as_ptr()).cast::<u8>(),
                Py_SIZE(encoded.as_ptr()) as usize,
            );
            return Ok(SockAddr::unix(name));
        }
        if PyBytes_Check(addr) != 0 {
            let name = std::slice::from_raw_parts(
                PyBytes_AS_STRING(addr).cast::<u8>(),
                Py_SIZE(addr) as usize,
            );
            return Ok(SockAddr::unix(name));
        }
        Ok(None)
    }
}
