//! `WriteQueue`: the bytes a transport could not send yet, flushed with one
//! gathered `sendmsg` (sockets) or `writev` (pipes) per writable event.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::RawFd;

use super::sys;

/// How many chunks one gathered write takes at most.
const MAX_SLICES: usize = 64;

/// Pending chunks in order; the first may be partly sent already.
pub struct WriteQueue<B: AsRef<[u8]>> {
    chunks: VecDeque<B>,
    /// Bytes of the first chunk already sent.
    head_sent: usize,
    /// Bytes not yet sent, over all chunks.
    pending: usize,
}

impl<B: AsRef<[u8]>> Default for WriteQueue<B> {
    fn default() -> Self {
        WriteQueue::new()
    }
}

impl<B: AsRef<[u8]>> WriteQueue<B> {
    pub fn new() -> WriteQueue<B> {
        WriteQueue {
            chunks: VecDeque::new(),
            head_sent: 0,
            pending: 0,
        }
    }

    /// Bytes waiting to be sent.
    pub fn len(&self) -> usize {
        self.pending
    }

    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Queues `chunk` of which the first `already_sent` bytes went out (a
    /// write that sent part at once); empty remainders are not queued.
    pub fn push(&mut self, chunk: B, already_sent: usize) {
        let len = chunk.as_ref().len();
        if already_sent >= len {
            return;
        }
        if self.chunks.is_empty() {
            self.head_sent = already_sent;
        } else {
            debug_assert_eq!(already_sent, 0, "only a first chunk can be partly sent");
        }
        self.pending += len - already_sent.min(len);
        self.chunks.push_back(chunk);
    }

    /// Sends as much as the socket takes in one gathered write; returns the
    /// bytes sent (`WouldBlock` when it took nothing).
    pub fn send_to(&mut self, fd: RawFd) -> io::Result<usize> {
        self.gathered(fd, sys::send_vectored)
    }

    /// As `send_to`, with `writev` (pipes and character devices).
    pub fn write_to(&mut self, fd: RawFd) -> io::Result<usize> {
        self.gathered(fd, sys::write_vectored)
    }

    fn gathered(
        &mut self,
        fd: RawFd,
        write: fn(RawFd, &[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let mut slices: [IoSlice<'_>; MAX_SLICES] = [IoSlice::new(&[]); MAX_SLICES];
        let mut count = 0;
        for (i, chunk) in self.chunks.iter().take(MAX_SLICES).enumerate() {
            let bytes = chunk.as_ref();
            slices[i] = IoSlice::new(if i == 0 {
                &bytes[self.head_sent..]
            } else {
                bytes
            });
            count += 1;
        }
        let sent = write(fd, &slices[..count])?;
        self.consume(sent);
        Ok(sent)
    }

    /// Forgets the first `sent` bytes.
    fn consume(&mut self, mut sent: usize) {
        self.pending -= sent.min(self.pending);
        while sent > 0 {
            let Some(head) = self.chunks.front() else {
                break;
            };
            let left = head.as_ref().len() - self.head_sent;
            if sent < left {
                self.head_sent += sent;
                return;
            }
            sent -= left;
            self.chunks.pop_front();
            self.head_sent = 0;
        }
    }

    /// Drops everything pending (a connection that was lost or aborted).
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.head_sent = 0;
        self.pending = 0;
    }

    /// The pending chunks, for the owner's GC traversal.
    pub fn chunks(&self) -> impl Iterator<Item = &B> {
        self.chunks.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::test_util::{pipe, socketpair};
    use std::os::fd::{AsRawFd, OwnedFd};

    fn read_all(fd: &OwnedFd) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match sys::recv(fd.as_raw_fd(), &mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if sys::would_block(&e) => break,
                Err(e) => panic!("{e}"),
            }
        }
        out
    }

    #[test]
    fn partly_sent_first_chunk_sends_only_its_rest() {
        let (a, b) = socketpair();
        let mut q = WriteQueue::new();
        q.push(b"hello".to_vec(), 2);
        q.push(b" world".to_vec(), 0);
        assert_eq!(q.len(), 9);
        assert_eq!(q.send_to(a.as_raw_fd()).unwrap(), 9);
        assert!(q.is_empty());
        assert_eq!(read_all(&b), b"llo world");
    }

    #[test]
    fn fully_sent_chunks_are_not_queued() {
        let mut q: WriteQueue<Vec<u8>> = WriteQueue::new();
        q.push(b"abc".to_vec(), 3);
        q.push(Vec::new(), 0);
        assert!(q.is_empty());
        assert_eq!(q.chunks().count(), 0);
    }

    #[test]
    fn a_full_socket_keeps_the_rest_in_order() {
        let (a, b) = socketpair();
        let mut q = WriteQueue::new();
        let big: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
        q.push(big.clone(), 0);
        q.push(b"tail".to_vec(), 0);
        let mut received = Vec::new();
        while !q.is_empty() {
            match q.send_to(a.as_raw_fd()) {
                Ok(_) => {}
                Err(e) if sys::would_block(&e) => {}
                Err(e) => panic!("{e}"),
            }
            received.extend(read_all(&b));
        }
        received.extend(read_all(&b));
        assert_eq!(received.len(), big.len() + 4);
        assert_eq!(&received[..big.len()], &big[..]);
        assert_eq!(&received[big.len()..], b"tail");
    }

    #[test]
    fn more_chunks_than_one_gathered_write_takes_are_all_sent() {
        let (a, b) = socketpair();
        let mut q = WriteQueue::new();
        for i in 0..200u8 {
            q.push(vec![i; 3], 0);
        }
        while !q.is_empty() {
            q.send_to(a.as_raw_fd()).unwrap();
        }
        let got = read_all(&b);
        assert_eq!(got.len(), 600);
        assert!(got.chunks(3).enumerate().all(|(i, c)| c == [i as u8; 3]));
    }

    #[test]
    fn write_to_a_pipe_keeps_order_across_chunks() {
        let (r, w) = pipe();
        let mut q = WriteQueue::new();
        q.push(b"abcdef".to_vec(), 3);
        q.push(b"gh".to_vec(), 0);
        assert_eq!(q.write_to(w.as_raw_fd()).unwrap(), 5);
        assert!(q.is_empty());
        let mut buf = [0u8; 16];
        let n = sys::read(r.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"defgh");
    }

    #[test]
    fn clear_forgets_everything() {
        let mut q = WriteQueue::new();
        q.push(b"abc".to_vec(), 1);
        q.clear();
        assert!(q.is_empty());
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn send_to_a_closed_peer_is_broken_pipe_not_sigpipe() {
        let (a, b) = socketpair();
        drop(b);
        let mut q = WriteQueue::new();
        q.push(b"x".to_vec(), 0);
        let err = q.send_to(a.as_raw_fd()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE));
    }
}
