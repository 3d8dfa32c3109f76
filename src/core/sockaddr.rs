//! `SockAddr`: a socket address as `recvfrom(2)` fills it and `sendto(2)`
//! takes it, with the AF_INET / AF_INET6 / AF_UNIX views the adapter needs
//! to build (and parse) the same Python values the `socket` module does.

use std::ffi::CString;
use std::mem::{size_of, zeroed};

// The libc crate does not bind these two (POSIX, in every Linux libc).
extern "C" {
    fn inet_ntop(
        af: libc::c_int,
        src: *const libc::c_void,
        dst: *mut libc::c_char,
        size: libc::socklen_t,
    ) -> *const libc::c_char;
    fn inet_pton(af: libc::c_int, src: *const libc::c_char, dst: *mut libc::c_void) -> libc::c_int;
}

/// `INET6_ADDRSTRLEN` (`<netinet/in.h>`).
const INET6_ADDRSTRLEN: usize = 46;

/// `offsetof(struct sockaddr_un, sun_path)`.
const SUN_PATH_OFFSET: usize = size_of::<libc::sa_family_t>();

/// A `sockaddr_storage` and the length the kernel reported (or we built).
/// The storage is zeroed first, as CPython zeroes its address buffer, so a
/// Unix path the kernel wrote without a NUL still ends in one.
#[derive(Clone, Copy)]
pub struct SockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

/// What a Unix-domain address holds (Linux).
#[derive(Debug, PartialEq, Eq)]
pub enum UnixName<'a> {
    /// A name in the abstract namespace: the bytes after `sun_family`,
    /// leading NUL included (the socket module returns them as bytes).
    Abstract(&'a [u8]),
    /// A filesystem path up to its NUL; empty for an unnamed socket.
    Path(&'a [u8]),
}

impl SockAddr {
    /// An empty address (length 0) for the kernel to fill.
    pub fn empty() -> SockAddr {
        SockAddr {
            // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
            storage: unsafe { zeroed() },
            len: 0,
        }
    }

    /// The full capacity, for `recvfrom` to fill.
    pub(crate) fn as_mut_parts(&mut self) -> (*mut libc::sockaddr, *mut libc::socklen_t) {
        self.len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        (
            (&mut self.storage as *mut libc::sockaddr_storage).cast(),
            &mut self.len,
        )
    }

    pub(crate) fn as_parts(&self) -> (*const libc::sockaddr, libc::socklen_t) {
        (
            (&self.storage as *const libc::sockaddr_storage).cast(),
            self.len,
        )
    }

    /// The length in bytes (0: the kernel gave no address).
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn family(&self) -> i32 {
        self.storage.ss_family as i32
    }

    /// `(address, port)` of an AF_INET address.
    pub fn ipv4(ip: [u8; 4], port: u16) -> SockAddr {
        let mut addr = SockAddr::empty();
        // SAFETY: sockaddr_storage is large and aligned enough for any
        // sockaddr type; we write a sockaddr_in at its start.
        let sin = unsafe {
            &mut *(&mut addr.storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
        };
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_port = port.to_be();
        sin.sin_addr.s_addr = u32::from_ne_bytes(ip);
        addr.len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        addr
    }

    /// `(address, port, flowinfo, scope_id)` of an AF_INET6 address.
    pub fn ipv6(ip: [u8; 16], port: u16, flowinfo: u32, scope_id: u32) -> SockAddr {
        let mut addr = SockAddr::empty();
        // SAFETY: as in `ipv4`, for a sockaddr_in6.
        let sin6 = unsafe {
            &mut *(&mut addr.storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
        };
        sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sin6.sin6_port = port.to_be();
        sin6.sin6_flowinfo = flowinfo.to_be();
        sin6.sin6_addr.s6_addr = ip;
        sin6.sin6_scope_id = scope_id;
        addr.len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        addr
    }

    /// An AF_UNIX address, as the socket module builds it: an empty name or
    /// one starting with NUL is abstract (no NUL added), anything else a
    /// NUL-terminated path. None when it does not fit ("path too long").
    pub fn unix(name: &[u8]) -> Option<SockAddr> {
        let mut addr = SockAddr::empty();
        // SAFETY: as in `ipv4`, for a sockaddr_un.
        let sun = unsafe {
            &mut *(&mut addr.storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_un>()
        };
        let abstract_name = name.first().is_none_or(|&b| b == 0);
        let room = sun.sun_path.len();
        if name.len() > room || (!abstract_name && name.len() >= room) {
            return None;
        }
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, &src) in sun.sun_path.iter_mut().zip(name) {
            *dst = src as libc::c_char;
        }
        let len = SUN_PATH_OFFSET + name.len() + usize::from(!abstract_name);
        addr.len = len as libc::socklen_t;
        Some(addr)
    }

    /// The address and port of an AF_INET address.
    pub fn as_ipv4(&self) -> Option<([u8; 4], u16)> {
        if self.family() != libc::AF_INET {
            return None;
        }
        // SAFETY: the family says a sockaddr_in is stored.
        let sin = unsafe {
            &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()
        };
        Some((
            sin.sin_addr.s_addr.to_ne_bytes(),
            u16::from_be(sin.sin_port),
        ))
    }

    /// Address, port, flowinfo and scope id of an AF_INET6 address.
    pub fn as_ipv6(&self) -> Option<([u8; 16], u16, u32, u32)> {
        if self.family() != libc::AF_INET6 {
            return None;
        }
        // SAFETY: the family says a sockaddr_in6 is stored.
        let sin6 = unsafe {
            &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
        };
        Some((
            sin6.sin6_addr.s6_addr,
            u16::from_be(sin6.sin6_port),
            u32::from_be(sin6.sin6_flowinfo),
            sin6.sin6_scope_id,
        ))
    }

    /// The name of an AF_UNIX address, read as CPython's `makesockaddr`
    /// reads it on Linux.
    pub fn as_unix(&self) -> Option<UnixName<'_>> {
        if self.family() != libc::AF_UNIX {
            return None;
        }
        // SAFETY: the family says a sockaddr_un is stored; the storage is
        // larger than sockaddr_un, so the path slice stays inside it.
        let path = unsafe {
            let sun =
                &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_un>();
            std::slice::from_raw_parts(sun.sun_path.as_ptr().cast::<u8>(), sun.sun_path.len())
        };
        let name_len = self.len().saturating_sub(SUN_PATH_OFFSET).min(path.len());
        if name_len > 0 && path[0] == 0 {
            return Some(UnixName::Abstract(&path[..name_len]));
        }
        let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
        Some(UnixName::Path(&path[..end]))
    }

    /// `sa_data` (14 bytes), for families the adapter has no view of.
    pub fn raw_data(&self) -> [u8; 14] {
        // SAFETY: every sockaddr starts with a `struct sockaddr` header.
        let sa =
            unsafe { &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr>() };
        sa.sa_data.map(|c| c as u8)
    }
}

/// `inet_ntop(AF_INET6, ...)`: the text CPython's socket module returns.
pub fn ipv6_text(ip: &[u8; 16]) -> String {
    let mut buf = [0 as libc::c_char; INET6_ADDRSTRLEN];
    // SAFETY: `ip` is 16 readable bytes (an in6_addr); `buf` is writable for
    // INET6_ADDRSTRLEN bytes, enough for any IPv6 text plus NUL.
    let ok = unsafe {
        !inet_ntop(
            libc::AF_INET6,
            ip.as_ptr().cast(),
            buf.as_mut_ptr(),
            buf.len() as libc::socklen_t,
        )
        .is_null()
    };
    if !ok {
        return String::new();
    }
    // SAFETY: inet_ntop wrote a NUL-terminated string into buf.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// `inet_ntop(AF_INET, ...)` (dotted quad).
pub fn ipv4_text(ip: &[u8; 4]) -> String {
    format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
}

/// `inet_pton(AF_INET, text)`: a numeric IPv4 address, as CPython checks
/// before it would resolve a name.
pub fn parse_ipv4(text: &str) -> Option<[u8; 4]> {
    let c = CString::new(text).ok()?;
    let mut out = [0u8; 4];
    // SAFETY: c is NUL-terminated; out is 4 writable bytes (an in_addr).
    (unsafe { inet_pton(libc::AF_INET, c.as_ptr(), out.as_mut_ptr().cast()) } == 1).then_some(out)
}

/// `inet_pton(AF_INET6, text)`.
pub fn parse_ipv6(text: &str) -> Option<[u8; 16]> {
    let c = CString::new(text).ok()?;
    let mut out = [0u8; 16];
    // SAFETY: c is NUL-terminated; out is 16 writable bytes (an in6_addr).
    (unsafe { inet_pton(libc::AF_INET6, c.as_ptr(), out.as_mut_ptr().cast()) } == 1).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_round_trip() {
        let a = SockAddr::ipv4([127, 0, 0, 1], 5353);
        assert_eq!(a.family(), libc::AF_INET);
        assert_eq!(a.len(), size_of::<libc::sockaddr_in>());
        assert_eq!(a.as_ipv4(), Some(([127, 0, 0, 1], 5353)));
        assert_eq!(a.as_ipv6(), None);
        assert_eq!(ipv4_text(&[10, 0, 200, 1]), "10.0.200.1");
        assert_eq!(parse_ipv4("192.168.1.20"), Some([192, 168, 1, 20]));
        assert_eq!(parse_ipv4("localhost"), None);
        assert_eq!(parse_ipv4("1.2.3"), None);
        assert_eq!(parse_ipv4("a\0b"), None);
    }

    #[test]
    fn ipv6_round_trip_and_text() {
        let ip = parse_ipv6("fe80::1").unwrap();
        let a = SockAddr::ipv6(ip, 8080, 0x12345, 3);
        assert_eq!(a.as_ipv6(), Some((ip, 8080, 0x12345, 3)));
        assert_eq!(ipv6_text(&ip), "fe80::1");
        assert_eq!(
            ipv6_text(&parse_ipv6("::ffff:1.2.3.4").unwrap()),
            "::ffff:1.2.3.4"
        );
        assert_eq!(ipv6_text(&parse_ipv6("0:0:0:0:0:0:0:1").unwrap()), "::1");
        assert_eq!(ipv6_text(&[0; 16]), "::");
        assert_eq!(parse_ipv6("127.0.0.1"), None);
    }

    #[test]
    fn unix_names() {
        let p = SockAddr::unix(b"/tmp/x.sock").unwrap();
        assert_eq!(p.len(), SUN_PATH_OFFSET + 11 + 1);
        assert_eq!(p.as_unix(), Some(UnixName::Path(b"/tmp/x.sock")));
        let a = SockAddr::unix(b"\0abs").unwrap();
        assert_eq!(a.len(), SUN_PATH_OFFSET + 4);
        assert_eq!(a.as_unix(), Some(UnixName::Abstract(b"\0abs")));
        let autobind = SockAddr::unix(b"").unwrap();
        assert_eq!(autobind.len(), SUN_PATH_OFFSET);
        // An unnamed peer: only the family.
        assert_eq!(autobind.as_unix(), Some(UnixName::Path(b"")));
        assert!(SockAddr::unix(&[b'a'; 108]).is_none());
        assert!(SockAddr::unix(&[b'a'; 107]).is_some());
        let mut long_abstract = vec![0u8; 108];
        long_abstract[1] = b'z';
        assert!(SockAddr::unix(&long_abstract).is_some());
        assert!(SockAddr::empty().is_empty());
    }
}
