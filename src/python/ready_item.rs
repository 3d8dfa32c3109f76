//! `ReadyItem`: what the engine queues and runs for a `Loop`.

use pyo3_ffi::*;
use std::ffi::{c_int, c_void};

use super::datagram_transport::DatagramTransportRef;
use super::handle::HandleRef;
use super::pipe_common::{Interest, PipeRef};
use super::raised::PyResult;
use super::sock_op::SockOpRef;
use super::transport::TransportRef;
use crate::core::schedulable::Schedulable;

/// A callback handle, or readiness dispatched straight to a native transport
/// (no Python handle per event).
#[derive(Clone)]
pub enum ReadyItem {
    Handle(HandleRef),
    /// The transport's socket is readable.
    Read(TransportRef),
    /// The transport's socket is writable.
    Write(TransportRef),
    /// A pending `sock_*` operation's socket is ready.
    Sock(SockOpRef),
    /// The datagram transport's socket is readable.
    DatagramRead(DatagramTransportRef),
    /// The datagram transport's socket is writable.
    DatagramWrite(DatagramTransportRef),
    /// A `ReadPipeTransport`'s pipe is readable.
    PipeRead(PipeRef),
    /// A `WritePipeTransport`'s pipe is writable.
    PipeWrite(PipeRef),
    /// A `WritePipeTransport`'s pipe turned readable: its reader went away.
    PipeClosed(PipeRef),
}

impl ReadyItem {
    pub fn run(self) -> PyResult<()> {
        match self {
            ReadyItem::Handle(handle) => handle.run(),
            ReadyItem::Read(transport) => transport.on_readable(),
            ReadyItem::Write(transport) => transport.on_writable(),
            ReadyItem::Sock(op) => op.on_ready(),
            ReadyItem::DatagramRead(transport) => transport.on_readable(),
            ReadyItem::DatagramWrite(transport) => transport.on_writable(),
            ReadyItem::PipeRead(pipe) => super::read_pipe_transport::on_readable(&pipe),
            ReadyItem::PipeWrite(pipe) => super::write_pipe_transport::on_writable(&pipe),
            ReadyItem::PipeClosed(pipe) => super::write_pipe_transport::on_peer_closed(&pipe),
        }
    }

    /// The handle, when this is one (debug-mode bookkeeping).
    pub fn handle(&self) -> Option<&HandleRef> {
        match self {
            ReadyItem::Handle(handle) => Some(handle),
            _ => None,
        }
    }

    /// Reports what the item references to the GC, on behalf of the loop.
    pub fn visit(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        match self {
            ReadyItem::Handle(handle) => handle.visit_engine_held(visit, arg),
            // SAFETY: the transport is live (we hold a reference) and tracked.
            ReadyItem::Read(t) | ReadyItem::Write(t) => unsafe { visit(t.as_ptr(), arg) },
            // SAFETY: as above, for the op.
            ReadyItem::Sock(op) => unsafe { visit(op.as_ptr(), arg) },
            // SAFETY: as above, for the datagram transport.
            ReadyItem::DatagramRead(t) | ReadyItem::DatagramWrite(t) => unsafe {
                visit(t.as_ptr(), arg)
            },
            // SAFETY: as above, for the pipe transport.
            ReadyItem::PipeRead(p) | ReadyItem::PipeWrite(p) | ReadyItem::PipeClosed(p) => unsafe {
                visit(p.as_ptr(), arg)
            },
        }
    }
}

impl Schedulable for ReadyItem {
    #[inline]
    fn is_cancelled(&self) -> bool {
        match self {
            ReadyItem::Handle(handle) => handle.is_cancelled(),
            ReadyItem::Read(transport) => !transport.wants_read(),
            ReadyItem::Write(transport) => !transport.wants_write(),
            ReadyItem::Sock(_) => false,
            ReadyItem::DatagramRead(transport) => !transport.wants_read(),
            ReadyItem::DatagramWrite(transport) => !transport.wants_write(),
            ReadyItem::PipeRead(p) | ReadyItem::PipeClosed(p) => !p.wants(Interest::Read),
            ReadyItem::PipeWrite(p) => !p.wants(Interest::Write),
        }
    }

    #[inline]
    fn unscheduled(&self) {
        if let ReadyItem::Handle(handle) = self {
            handle.unscheduled();
        }
    }
}
