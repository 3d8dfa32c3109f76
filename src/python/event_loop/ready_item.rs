//! `ReadyItem`: what the engine queues and runs for a `Loop`.

use pyo3_ffi::*;
use std::ffi::{c_int, c_void};

use crate::core::interest::Direction;
use crate::core::schedulable::Schedulable;
use crate::python::ffi::names;
use crate::python::ffi::raised::PyResult;
use crate::python::handle::HandleRef;
use crate::python::sock_op::SockOpRef;
use crate::python::transport::TransportRef;

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
    DatagramRead(TransportRef),
    /// The datagram transport's socket is writable.
    DatagramWrite(TransportRef),
    /// A `ReadPipeTransport`'s pipe is readable.
    PipeRead(TransportRef),
    /// A `WritePipeTransport`'s pipe is writable.
    PipeWrite(TransportRef),
    /// A `WritePipeTransport`'s pipe turned readable: its reader went away.
    PipeClosed(TransportRef),
}

impl ReadyItem {
    pub fn run(self) -> PyResult<()> {
        match self {
            ReadyItem::Handle(handle) => handle.run(),
            ReadyItem::Read(transport) => crate::python::transport::stream::on_readable(&transport),
            ReadyItem::Write(transport) => {
                crate::python::transport::stream::on_writable(&transport)
            }
            ReadyItem::Sock(op) => op.on_ready(),
            ReadyItem::DatagramRead(transport) => {
                crate::python::transport::datagram::on_readable(&transport)
            }
            ReadyItem::DatagramWrite(transport) => {
                crate::python::transport::datagram::on_writable(&transport)
            }
            ReadyItem::PipeRead(pipe) => crate::python::transport::read_pipe::on_readable(&pipe),
            ReadyItem::PipeWrite(pipe) => crate::python::transport::write_pipe::on_writable(&pipe),
            ReadyItem::PipeClosed(pipe) => {
                crate::python::transport::write_pipe::on_peer_closed(&pipe)
            }
        }
    }

    /// The handle, when this is one (debug-mode bookkeeping).
    pub fn handle(&self) -> Option<&HandleRef> {
        match self {
            ReadyItem::Handle(handle) => Some(handle),
            _ => None,
        }
    }

    /// The transport, the name of the asyncio method this readiness stands
    /// for (`_read_ready`, `_write_ready`, `_sendto_ready`) and its
    /// direction, for debug mode's handles and slow-callback warning.
    pub fn transport_callback(&self) -> Option<(&TransportRef, &'static names::Cached, Direction)> {
        match self {
            ReadyItem::Handle(_) | ReadyItem::Sock(_) => None,
            ReadyItem::Read(t)
            | ReadyItem::DatagramRead(t)
            | ReadyItem::PipeRead(t)
            | ReadyItem::PipeClosed(t) => Some((t, &names::S_READ_READY, Direction::Read)),
            ReadyItem::Write(t) | ReadyItem::PipeWrite(t) => {
                Some((t, &names::S_WRITE_READY, Direction::Write))
            }
            ReadyItem::DatagramWrite(t) => Some((t, &names::S_SENDTO_READY, Direction::Write)),
        }
    }

    /// Reports what the item references to the GC, on behalf of the loop.
    pub fn visit(&self, visit: visitproc, arg: *mut c_void) -> c_int {
        match self {
            ReadyItem::Handle(handle) => handle.visit_engine_held(visit, arg),
            // SAFETY: the op is live (we hold a reference) and tracked.
            ReadyItem::Sock(op) => unsafe { visit(op.as_ptr(), arg) },
            // SAFETY: as above, for the transport.
            ReadyItem::Read(t)
            | ReadyItem::Write(t)
            | ReadyItem::DatagramRead(t)
            | ReadyItem::DatagramWrite(t)
            | ReadyItem::PipeRead(t)
            | ReadyItem::PipeWrite(t)
            | ReadyItem::PipeClosed(t) => unsafe { visit(t.as_ptr(), arg) },
        }
    }
}

impl Schedulable for ReadyItem {
    #[inline]
    fn is_cancelled(&self) -> bool {
        match self {
            ReadyItem::Handle(handle) => handle.is_cancelled(),
            ReadyItem::Sock(_) => false,
            ReadyItem::Read(t)
            | ReadyItem::DatagramRead(t)
            | ReadyItem::PipeRead(t)
            | ReadyItem::PipeClosed(t) => !t.wants(Direction::Read),
            ReadyItem::Write(t) | ReadyItem::DatagramWrite(t) | ReadyItem::PipeWrite(t) => {
                !t.wants(Direction::Write)
            }
        }
    }

    #[inline]
    fn unscheduled(&self) {
        if let ReadyItem::Handle(handle) = self {
            handle.unscheduled();
        }
    }
}
