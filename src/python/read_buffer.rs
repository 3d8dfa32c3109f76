//! Reads into a per-thread buffer, then into a bytes object of the exact
//! size: no large allocation per read, one copy of only what arrived.

use pyo3_ffi::*;
use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;

use super::owned::Owned;
use super::raised::PyResult;
use crate::core::sockaddr::SockAddr;
use crate::core::sys;

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

/// One syscall into the per-thread buffer (at most `MAX_READ` bytes: every
/// caller reads at most that much per event), copied into a bytes object.
fn bytes_from(
    fd: RawFd,
    n: usize,
    syscall: fn(RawFd, &mut [u8]) -> io::Result<usize>,
) -> io::Result<PyResult<Owned>> {
    READ_BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        let got = syscall(fd, &mut buffer[..n.min(MAX_READ)])?;
        Ok(bytes_of(&buffer[..got]))
    })
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
