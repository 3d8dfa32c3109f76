"""zloop: a drop-in asyncio event loop whose engine is Rust.

    import zloop
    zloop.run(main())                                        # like asyncio.run
    asyncio.run(main(), loop_factory=zloop.new_event_loop)   # Python 3.12+
    zloop.install()        # every new loop is zloop's (policies: deprecated in 3.14)
"""

import asyncio as _asyncio
import sys as _sys
import warnings as _warnings
from asyncio import events as _events

from ._loop import Loop

__version__ = "0.1.0"

if _sys.version_info >= (3, 14):
    # asyncio's policy system is deprecated (removal planned for 3.16):
    # zloop's policy API warns as asyncio's own does, and only when used.
    __all__ = ("Loop", "new_event_loop", "install", "run")

    def _deprecated(name):
        _warnings.warn(
            f"{name!r} is deprecated and slated for removal in Python 3.16",
            DeprecationWarning,
            stacklevel=3,
        )

    def __getattr__(name):
        if name == "EventLoopPolicy":
            _deprecated("zloop.EventLoopPolicy")
            from ._policy import EventLoopPolicy

            return EventLoopPolicy
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

else:
    from ._policy import EventLoopPolicy

    __all__ = ("Loop", "EventLoopPolicy", "new_event_loop", "install", "run")


def new_event_loop():
    """A new zloop event loop."""
    return Loop()


def install():
    """Make zloop the event loop of every asyncio program in this process
    (sets ``EventLoopPolicy()`` as asyncio's event loop policy).

    On Python 3.14+ this is deprecated, as ``asyncio.set_event_loop_policy``
    is: it warns once, attributed to the caller; prefer ``zloop.run()`` or
    ``loop_factory=zloop.new_event_loop``."""
    from ._policy import EventLoopPolicy

    if _sys.version_info >= (3, 14):
        _deprecated("zloop.install")
        _events._set_event_loop_policy(EventLoopPolicy())
    else:
        _asyncio.set_event_loop_policy(EventLoopPolicy())


def run(main, *, loop_factory=new_event_loop, debug=None):
    """Run the coroutine ``main`` on a new zloop loop and return its result,
    as ``asyncio.run(main, debug=debug)`` does (on every Python version).

    ``loop_factory``, as in ``uvloop.run``, may build a subclass of
    ``zloop.Loop``; a factory that builds any other loop is a TypeError."""
    with _asyncio.Runner(debug=debug, loop_factory=loop_factory) as runner:
        if not isinstance(runner.get_loop(), Loop):
            raise TypeError("zloop.run() uses a non-zloop event loop")
        return runner.run(main)
