//! How the engine runs handles for a `Loop`: GIL released around blocking
//! polls, Python signal handlers on EINTR, debug-mode timing of callbacks.

use pyo3_ffi::*;
use std::io;

use crate::core::dispatcher::Dispatcher;
use crate::python::event_loop::ready_item::ReadyItem;
use crate::python::event_loop::LoopObject;
use crate::python::ffi::names::{self, call_support};
use crate::python::ffi::owned::Owned;
use crate::python::ffi::raised::{raise_io, Raised};

pub struct LoopDispatcher<'py> {
    /// The loop being run (`run_forever`'s caller holds a reference).
    pub lp: &'py LoopObject,
}

impl LoopDispatcher<'_> {
    /// Debug mode: a native transport's readiness runs as the reader/writer
    /// handle asyncio would run for it: that handle (made when the transport
    /// registered) is `loop._current_handle` meanwhile, and a slow one is
    /// reported with it.
    fn run_transport_debug(&mut self, item: ReadyItem) -> Result<(), Raised> {
        let Some((transport, name, debug_handle)) = item.asyncio_callback() else {
            return item.run();
        };
        let transport = transport.clone();
        let handle = Owned::from_ptr_or_none(debug_handle);
        // SAFETY: Py_None is immortal.
        let has_handle = handle.as_ptr() != unsafe { Py_None() };
        let (result, dt) = self.timed_as_current(&handle, || item.run())?;
        result?;
        if dt >= self.lp.slow_callback_duration() {
            // SAFETY: a new float reference or null.
            let seconds = unsafe { Owned::from_new(PyFloat_FromDouble(dt))? };
            if has_handle {
                call_support(
                    &names::S_LOG_SLOW_CALLBACK,
                    &[self.lp.as_ptr(), handle.as_ptr(), seconds.as_ptr()],
                )?;
            } else {
                // Registered before debug mode was turned on.
                call_support(
                    &names::S_LOG_SLOW_TRANSPORT_CALLBACK,
                    &[transport.as_ptr(), name.get(), seconds.as_ptr()],
                )?;
            }
        }
        Ok(())
    }

    /// Runs `f` with `loop._current_handle` set to `handle`, timed; the
    /// attribute is reset to None however `f` ends.
    fn timed_as_current(
        &mut self,
        handle: &Owned,
        f: impl FnOnce() -> Result<(), Raised>,
    ) -> Result<(Result<(), Raised>, f64), Raised> {
        // SAFETY: slf is live; attribute names are interned; values borrowed.
        unsafe {
            if PyObject_SetAttr(
                self.lp.as_ptr(),
                names::S_CURRENT_HANDLE.get(),
                handle.as_ptr(),
            ) < 0
            {
                return Err(Raised);
            }
        }
        let t0 = crate::core::sys::monotonic();
        let result = f();
        let dt = crate::core::sys::monotonic() - t0;
        // SAFETY: as above; Py_None is immortal.
        let reset =
            unsafe { PyObject_SetAttr(self.lp.as_ptr(), names::S_CURRENT_HANDLE.get(), Py_None()) };
        if result.is_ok() && reset < 0 {
            return Err(Raised);
        }
        Ok((result, dt))
    }

    fn run_debug(&mut self, item: ReadyItem) -> Result<(), Raised> {
        let Some(handle) = item.handle().cloned() else {
            return self.run_transport_debug(item);
        };
        let lp = self.lp;
        let owned = handle.to_owned();
        let (result, dt) = self.timed_as_current(&owned, || item.run())?;
        result?;
        if dt >= lp.slow_callback_duration() {
            // SAFETY: a new float reference or null.
            let seconds = unsafe { Owned::from_new(PyFloat_FromDouble(dt))? };
            call_support(
                &names::S_LOG_SLOW_CALLBACK,
                &[self.lp.as_ptr(), handle.as_ptr(), seconds.as_ptr()],
            )?;
        }
        Ok(())
    }
}

impl Dispatcher<ReadyItem> for LoopDispatcher<'_> {
    type Error = Raised;

    fn block(&mut self, wait: &mut dyn FnMut() -> io::Result<usize>) -> io::Result<usize> {
        // SAFETY: the wait closure touches no Python object and no engine
        // borrow, so it may run without the GIL; the thread state is restored
        // before returning.
        unsafe {
            let state = PyEval_SaveThread();
            let result = wait();
            PyEval_RestoreThread(state);
            result
        }
    }

    fn interrupted(&mut self) -> Result<(), Raised> {
        // SAFETY: runs Python-level signal handlers; GIL held.
        if unsafe { PyErr_CheckSignals() } < 0 {
            return Err(Raised);
        }
        Ok(())
    }

    fn poll_failed(&mut self, err: io::Error) -> Raised {
        raise_io(&err)
    }

    #[inline]
    fn run(&mut self, item: ReadyItem) -> Result<(), Raised> {
        if self.lp.debug() {
            return self.run_debug(item);
        }
        item.run()
    }
}
