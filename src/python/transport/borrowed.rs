//! `Transport<'py, S>`: a live transport object, borrowed for `'py`, of the
//! kind whose state is `S` (`()`: any kind, for the shared code). It is made
//! once where CPython or the engine hands over the object (a method or slot
//! of the type, the kind's readiness table), so the code inward takes a
//! checked, typed value instead of a raw pointer and needs no `unsafe` to
//! read the object's fields or its state.

use pyo3_ffi::PyObject;
use std::os::fd::RawFd;

use crate::python::ffi::borrowed::Borrowed;
use crate::python::transport::{IoState, ObjectRefs, TransportKind, TransportObject};

/// A borrowed transport of kind `S`.
#[repr(transparent)]
pub struct Transport<'py, S = ()>(Borrowed<'py, TransportObject<S>>);

impl<S> Clone for Transport<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Transport<'_, S> {}

impl<'py, S> Transport<'py, S> {
    /// # Safety
    /// `obj` is a transport object, alive for `'py`, whose type's state is
    /// an `S` (any transport type when `S` is `()`, as the common part's
    /// layout does not depend on the state). CPython gives a method or slot
    /// only instances of its type (or subtypes, which keep the layout), and
    /// the engine runs a kind's readiness table only with that kind's
    /// objects.
    #[inline]
    pub unsafe fn from_ptr(obj: *mut PyObject) -> Self {
        // SAFETY: per the contract.
        Transport(unsafe { Borrowed::from_ptr(obj) })
    }

    /// The object, for calls into CPython (borrowed).
    #[inline]
    pub fn as_ptr(self) -> *mut PyObject {
        self.0.as_ptr()
    }

    /// The same object seen by the code every kind shares.
    #[inline]
    pub fn any(self) -> Transport<'py> {
        // SAFETY: the common part's layout does not depend on the state.
        unsafe { Transport::from_ptr(self.as_ptr()) }
    }

    /// The object references (all cells: Python code may replace them
    /// during any call).
    #[inline]
    pub fn refs(self) -> &'py ObjectRefs {
        // SAFETY: the object is live for 'py; ObjectRefs is all Cells.
        unsafe { &(*self.0.raw()).refs }
    }

    #[inline]
    pub fn io_state(self) -> &'py IoState {
        // SAFETY: the object is live for 'py; IoState is all Cells.
        unsafe { &(*self.0.raw()).io_state }
    }

    /// The socket or pipe object, null once closed.
    #[inline]
    pub fn io_object(self) -> *mut PyObject {
        self.refs().io.get()
    }

    /// The transport's fd for a syscall: -1 (so the call fails with EBADF,
    /// as asyncio's call through a closed socket object does) once the
    /// socket or pipe object no longer holds it, e.g. closed behind the
    /// transport's back, its number perhaps already reused by another
    /// connection. `FdOwner` may run Python code: call this before
    /// borrowing the transport's state.
    #[inline]
    pub fn owned_fd(self) -> RawFd {
        let c = self.io_state();
        c.fd_owner.get().checked(self.io_object(), c.fd.get())
    }
}

impl<'py, S: TransportKind> Transport<'py, S> {
    /// The kind's own state (set by its `tp_new`, freed only by dealloc).
    #[inline]
    pub fn state(self) -> &'py S {
        // SAFETY: the object's state was allocated as an S (the contract
        // of from_ptr) and lives as long as the object.
        unsafe { &*(*self.0.raw()).state }
    }
}
