"""zloop: a drop-in asyncio event loop whose engine is Rust.

    import zloop
    zloop.run(main())                                        # like asyncio.run
    asyncio.run(main(), loop_factory=zloop.new_event_loop)   # Python 3.12+
    zloop.install()                                          # every new loop is zloop's
"""

import asyncio as _asyncio

from ._loop import Loop
from ._policy import EventLoopPolicy

__all__ = ("Loop", "EventLoopPolicy", "new_event_loop", "install", "run")
__version__ = "0.1.0"


def new_event_loop():
    """A new zloop event loop."""
    return Loop()


def install():
    """Make zloop the event loop of every asyncio program in this process
    (sets ``EventLoopPolicy()`` as asyncio's event loop policy)."""
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
