//! Reads into a per-thread buffer, then into a bytes object of the exact
//! size: no large allocation per read, one copy of only what arrived.

use pyo3_ffi::*;
use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;

use crate::core::sockaddr::SockAddr;
use crate::core::sys;
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::PyResult;

/// asyncio's `max_size`: at most this much is read per readable event.
pub const MAX_READ: usize = 256 * 1024;

thread_local! {
    static READ_BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0; MAX_READ]);
}

/// `recv(fd, n)` as a bytes object (empty at EOF), or the syscall's error.
pub fn recv_bytes(fd: RawFd, n: usize) -> io::Result<PyResult<Owned>> {
    bytes_from(fd, n, sys::recv)
}

/// `read(fd, n)` as a bytes object (empty at EOF), as `os.read`: pipes and
/// character devices are not sockets.
pub fn read_bytes(fd: RawFd, n: usize) -> io::Result<PyResult<Owned>> {
    bytes_from(fd, n, sys::read)
}

/// A new bytes object holding a copy of `buf`.
pub fn bytes_of(buf: &[u8]) -> PyResult<Owned> {
    // SAFETY: buf is initialized memory of buf.len() bytes; the result is a
    // new reference or null.
    unsafe {
        Owned::from_new(PyBytes_FromStringAndSize(
            buf.as_ptr().cast(),
            buf.len() as Py_ssize_t,
        ))
    }
}

/// One syscall of at most `n` bytes as a bytes object (`sock.recv(n)` may
/// return up to `n`): through the per-thread buffer up to `MAX_READ`.
fn bytes_from(
    fd: RawFd,
    n: usize,
    syscall: fn(RawFd, &mut [u8]) -> io::Result<usize>,
) -> io::Result<PyResult<Owned>> {
    if n > MAX_READ {
        return large_bytes_from(fd, n, syscall);
    }
    READ_BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        let got = syscall(fd, &mut buffer[..n.min(MAX_READ)])?;
        Ok(bytes_of(&buffer[..got]))
    })
}

/// A read larger than the per-thread buffer: into a fresh bytes object of
/// `n` (allocated as `sock.recv(n)` allocates it: pages the read does not
/// reach are never touched; MemoryError when it cannot be had), then what
/// arrived is copied into one of its exact size.
fn large_bytes_from(
    fd: RawFd,
    n: usize,
    syscall: fn(RawFd, &mut [u8]) -> io::Result<usize>,
) -> io::Result<PyResult<Owned>> {
    let size = Py_ssize_t::try_from(n).unwrap_or(Py_ssize_t::MAX);
    // SAFETY: a new bytes object that nobody else can see yet, so writing
    // its storage is allowed; it is released when `scratch` goes.
    let scratch =
        match unsafe { Owned::from_new(PyBytes_FromStringAndSize(std::ptr::null(), size)) } {
            Ok(obj) => obj,
            Err(raised) => return Ok(Err(raised)),
        };
    // SAFETY: the object's storage holds `size` writable bytes.
    let region = unsafe {
        std::slice::from_raw_parts_mut(
            PyBytes_AS_STRING(scratch.as_ptr()).cast_mut().cast::<u8>(),
            n,
        )
    };
    let got = syscall(fd, region)?;
    Ok(bytes_of(&region[..got]))
}

/// `recvfrom(fd, MAX_READ)` as a bytes object of the datagram's size and
/// its sender, or the syscall's error.
pub fn recvfrom_bytes(fd: RawFd) -> io::Result<PyResult<(Owned, SockAddr)>> {
    READ_BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        let (got, addr) = sys::recvfrom(fd, &mut buffer[..MAX_READ])?;
        Ok(bytes_of(&buffer[..got]).map(|b| (b, addr)))
    })
}
