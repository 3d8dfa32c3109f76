"""``add_signal_handler``/``remove_signal_handler``, as asyncio's Unix loop.

Python's C-level signal handler writes each signal number to the wake-up fd
(``signal.set_wakeup_fd``), a socket the loop watches with the native
``SignalReader``, so a signal wakes a sleeping loop at once and its handler
(a native ``Handle``) goes straight onto the ready queue.
"""

import signal
import socket
import sys
import warnings
from asyncio import coroutines

from . import _zloop


# asyncio's own check, without 3.14's deprecation warning of the public name.
_iscoroutinefunction = getattr(coroutines, "_iscoroutinefunction", coroutines.iscoroutinefunction)


def _ignore_signal(signum, frame):
    """Python-level handler: the work happens on the loop."""


class SignalHandlers:
    """Mixin for ``zloop.Loop``: Unix signal handlers run as loop callbacks."""

    def _init_signal_handlers(self):
        self._signal_handlers = {}
        self._signal_wakeup = None  # (receiver, sender) socketpair, made on first use
        self._signal_reader = None

    def add_signal_handler(self, sig, callback, *args):
        """Run ``callback(*args)`` on the loop whenever ``sig`` arrives."""
        if coroutines.iscoroutine(callback) or _iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._check_signal(sig)
        self._check_closed()
        if self._signal_wakeup is None:
            self._open_signal_wakeup()
        try:
            # Raises ValueError off the main thread: a loop running in another
            # thread cannot take signals.
            signal.set_wakeup_fd(self._signal_wakeup[1].fileno())
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc))
        self._signal_handlers[sig] = self._signal_reader.handle(callback, args)
        try:
            signal.signal(sig, _ignore_signal)
            signal.siginterrupt(sig, False)
        except OSError:  # EINVAL, the only error signal() reports
            del self._signal_handlers[sig]
            if not self._signal_handlers:
                signal.set_wakeup_fd(-1)
            raise RuntimeError(f"sig {sig} cannot be caught") from None

    def remove_signal_handler(self, sig):
        """Remove the handler of ``sig``; True if there was one."""
        self._check_signal(sig)
        if sig not in self._signal_handlers:
            return False
        del self._signal_handlers[sig]
        # A signal that was caught can be reset: signal() cannot fail here.
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        if not self._signal_handlers:
            signal.set_wakeup_fd(-1)
        return True

    def _check_signal(self, sig):
        if not isinstance(sig, int):
            raise TypeError(f"sig must be an int, not {sig!r}")
        if sig not in signal.valid_signals():
            raise ValueError(f"invalid signal number {sig}")

    def _open_signal_wakeup(self):
        receiver, sender = socket.socketpair()
        receiver.setblocking(False)
        sender.setblocking(False)
        self._signal_wakeup = (receiver, sender)
        self._signal_reader = _zloop.SignalReader(self, receiver.fileno(), self._signal_handlers)
        self.add_reader(receiver.fileno(), self._signal_reader)

    def _close_signal_handlers(self):
        if self._signal_handlers:
            if sys.is_finalizing():
                warnings.warn(
                    f"Closing the loop {self!r} on interpreter shutdown "
                    f"stage, skipping signal handlers removal",
                    ResourceWarning,
                    source=self,
                )
                self._signal_handlers.clear()
            else:
                for sig in list(self._signal_handlers):
                    self.remove_signal_handler(sig)
        if self._signal_wakeup is not None:
            for sock in self._signal_wakeup:
                sock.close()
            self._signal_wakeup = None
            self._signal_reader = None
