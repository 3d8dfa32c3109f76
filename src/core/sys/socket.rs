//! Reads, writes, sends and receives on descriptors (sockets, pipes), and
//! the descriptor flags the loop sets.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use libc::c_int;

use super::{owned, retry, retry_size};
use crate::core::sockaddr::SockAddr;

/// `read(2)` into `buf`.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid writable region of `buf.len()` bytes.
    retry_size(|| unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(2)` from `buf`.
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid readable region of `buf.len()` bytes.
    retry_size(|| unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })
}

/// `recv(2)` into `buf` (flags 0).
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid writable region of `buf.len()` bytes.
    retry_size(|| unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) })
}

/// `send(2)` from `buf` with `MSG_NOSIGNAL` (a closed peer is `EPIPE`, not
/// `SIGPIPE`).
pub fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid readable region of `buf.len()` bytes.
    retry_size(|| unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) })
}

/// `sendmsg(2)` of several buffers at once (a gathered write) with
/// `MSG_NOSIGNAL`; at most `IOV_MAX` of them are used.
pub fn send_vectored(fd: RawFd, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    let count = bufs.len().min(libc::UIO_MAXIOV as usize);
    // SAFETY: zeroed msghdr is valid (no name, no control data); the iovec
    // array is `IoSlice`s, which are ABI-compatible with `struct iovec` and
    // borrowed for the duration of the call.
    retry_size(|| unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = count as _;
        libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL)
    })
}

/// `recvfrom(2)` into `buf` (flags 0): the datagram's length and its
/// sender (an empty address when the kernel gives none).
pub fn recvfrom(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, SockAddr)> {
    let mut addr = SockAddr::empty();
    let (sa, len) = addr.as_mut_parts();
    // SAFETY: `buf` is a valid writable region of `buf.len()` bytes; `sa` and
    // `len` point into `addr`, a sockaddr_storage and its capacity.
    let n = retry_size(|| unsafe {
        *len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        libc::recvfrom(fd, buf.as_mut_ptr().cast(), buf.len(), 0, sa, len)
    })?;
    Ok((n, addr))
}

/// `sendto(2)` of one datagram to `addr` with `MSG_NOSIGNAL`.
pub fn sendto(fd: RawFd, buf: &[u8], addr: &SockAddr) -> io::Result<usize> {
    let (sa, len) = addr.as_parts();
    // SAFETY: `buf` is readable for `buf.len()` bytes; `sa` points at `len`
    // initialised bytes of a sockaddr.
    retry_size(|| unsafe {
        libc::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
            sa,
            len,
        )
    })
}

/// `writev(2)` of several buffers at once, for fds that are not sockets
/// (pipes, character devices); at most `IOV_MAX` of them are used.
pub fn write_vectored(fd: RawFd, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    let count = bufs.len().min(libc::UIO_MAXIOV as usize);
    // SAFETY: `IoSlice`s are ABI-compatible with `struct iovec`; the array
    // is borrowed for the duration of the call.
    retry_size(|| unsafe { libc::writev(fd, bufs.as_ptr().cast(), count as _) })
}

/// `shutdown(fd, SHUT_WR)`: sends EOF, keeps reading.
pub fn shutdown_write(fd: RawFd) -> io::Result<()> {
    // SAFETY: shutdown takes no pointers.
    retry(|| unsafe { libc::shutdown(fd, libc::SHUT_WR) }).map(drop)
}

/// `accept4(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC`; the peer address is not
/// asked for (the caller reads it with getpeername when it needs it).
pub fn accept(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: null address pointers are allowed by accept4.
    retry(|| unsafe {
        libc::accept4(
            fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })
    .map(owned)
}

/// The pending error of a socket (`SO_ERROR`), 0 when none; reading it
/// clears it.
pub fn socket_error(fd: RawFd) -> io::Result<c_int> {
    let mut value: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: value/len point at a c_int and its size, as SO_ERROR expects.
    retry(|| unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut value as *mut c_int).cast(),
            &mut len,
        )
    })?;
    Ok(value)
}

/// Whether an error is "try again later" (`EAGAIN`/`EWOULDBLOCK`).
pub fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

/// Sets or clears `O_NONBLOCK` (no `F_SETFL` when already as wanted).
pub fn set_nonblocking(fd: RawFd, nonblocking: bool) -> io::Result<()> {
    // SAFETY: F_GETFL takes no pointer argument.
    let flags = retry(|| unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let wanted = if nonblocking {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if wanted != flags {
        // SAFETY: F_SETFL takes an int argument, no pointer.
        retry(|| unsafe { libc::fcntl(fd, libc::F_SETFL, wanted) })?;
    }
    Ok(())
}

/// Sets `FD_CLOEXEC` (no `F_SETFD` when already set).
pub fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFD takes no pointer argument.
    let flags = retry(|| unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    if flags & libc::FD_CLOEXEC == 0 {
        // SAFETY: F_SETFD takes an int argument, no pointer.
        retry(|| unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sockaddr::UnixName;
    use crate::core::sys::check;
    use crate::core::test_util::{pipe, socketpair_of};
    use std::os::fd::AsRawFd;

    #[test]
    fn read_write_and_flags() {
        let (r, w) = pipe();
        set_nonblocking(r.as_raw_fd(), false).unwrap();
        // SAFETY: F_GETFL takes no pointer argument.
        let fl = unsafe { libc::fcntl(r.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(fl & libc::O_NONBLOCK, 0);
        set_nonblocking(r.as_raw_fd(), true).unwrap();
        // SAFETY: F_GETFL takes no pointer argument.
        let fl = unsafe { libc::fcntl(r.as_raw_fd(), libc::F_GETFL) };
        assert_ne!(fl & libc::O_NONBLOCK, 0);
        let mut buf = [0u8; 8];
        let err = read(r.as_raw_fd(), &mut buf).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
        assert_eq!(write(w.as_raw_fd(), b"abc").unwrap(), 3);
        assert_eq!(read(r.as_raw_fd(), &mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
        set_nonblocking(r.as_raw_fd(), false).unwrap();
        // SAFETY: F_GETFL takes no pointer argument.
        let fl = unsafe { libc::fcntl(r.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(fl & libc::O_NONBLOCK, 0);

        let mut fds = [0 as c_int; 2];
        // SAFETY: `fds` is a writable array of two ints.
        check(unsafe { libc::pipe(fds.as_mut_ptr()) }).unwrap();
        let (a, b) = (owned(fds[0]), owned(fds[1]));
        set_cloexec(a.as_raw_fd()).unwrap();
        // SAFETY: F_GETFD takes no pointer argument.
        let fl = unsafe { libc::fcntl(a.as_raw_fd(), libc::F_GETFD) };
        assert_ne!(fl & libc::FD_CLOEXEC, 0);
        drop(b);
    }

    #[test]
    fn errno_is_preserved() {
        let err = write(-1, b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn udp_sendto_and_recvfrom() {
        // SAFETY: socket takes no pointers.
        let a = owned(
            check(unsafe {
                libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK, 0)
            })
            .unwrap(),
        );
        // SAFETY: as above.
        let b = owned(check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) }).unwrap());
        let any = SockAddr::ipv4([127, 0, 0, 1], 0);
        let (sa, len) = any.as_parts();
        // SAFETY: sa/len describe a valid sockaddr_in.
        check(unsafe { libc::bind(a.as_raw_fd(), sa, len) }).unwrap();
        let mut bound = SockAddr::empty();
        let (bsa, blen) = bound.as_mut_parts();
        // SAFETY: bsa/blen describe the writable storage of `bound`.
        check(unsafe { libc::getsockname(a.as_raw_fd(), bsa, blen) }).unwrap();
        let mut buf = [0u8; 16];
        let err = recvfrom(a.as_raw_fd(), &mut buf)
            .map(|(n, _)| n)
            .unwrap_err();
        assert!(would_block(&err));
        assert_eq!(sendto(b.as_raw_fd(), b"hello", &bound).unwrap(), 5);
        assert_eq!(sendto(b.as_raw_fd(), b"", &bound).unwrap(), 0);
        let (n, from) = recvfrom(a.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        let (ip, port) = from.as_ipv4().unwrap();
        assert_eq!(ip, [127, 0, 0, 1]);
        assert_ne!(port, 0);
        let (n, _) = recvfrom(a.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(n, 0, "an empty datagram is a datagram");
    }

    #[test]
    fn unix_datagram_from_an_unnamed_socket() {
        let (a, b) = socketpair_of(libc::SOCK_DGRAM);
        assert_eq!(send(b.as_raw_fd(), b"x").unwrap(), 1);
        let mut buf = [0u8; 4];
        let (n, from) = recvfrom(a.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(n, 1);
        match from.as_unix() {
            None => assert!(from.is_empty()),
            Some(name) => assert_eq!(name, UnixName::Path(b"")),
        }
    }
}
