"""``zloop.Loop``: the native engine plus asyncio's own choreography."""

import sys
import threading
from asyncio import base_events, events

from . import _zloop
from ._signal_handlers import SignalHandlers


class Loop(_zloop.Loop, SignalHandlers, base_events.BaseEventLoop):
    """An asyncio event loop whose engine is Rust.

    The native base implements scheduling, timers, readers and writers and
    the run loop; ``BaseEventLoop`` contributes the parts of asyncio that are
    plain Python policy (``run_until_complete``, tasks, executors, exception
    handlers, async generator hooks), so they behave exactly as the running
    interpreter's asyncio does.
    """

    def __init__(self):
        super().__init__()
        self._old_agen_hooks = None
        self._init_signal_handlers()

    def close(self):
        super().close()
        self._close_signal_handlers()
        self._release_engine()

    if not hasattr(base_events.BaseEventLoop, "_run_forever_setup"):

        def _run_forever_setup(self):
            self._check_closed()
            self._check_running()
            self._set_coroutine_origin_tracking(self._debug)
            self._old_agen_hooks = sys.get_asyncgen_hooks()
            self._thread_id = threading.get_ident()
            sys.set_asyncgen_hooks(
                firstiter=self._asyncgen_firstiter_hook,
                finalizer=self._asyncgen_finalizer_hook,
            )
            events._set_running_loop(self)

        def _run_forever_cleanup(self):
            self._stopping = False
            self._thread_id = None
            events._set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*self._old_agen_hooks)
            self._old_agen_hooks = None
