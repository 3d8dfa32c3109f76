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


def run(main, *, debug=None):
    """Run the coroutine ``main`` on a new zloop loop and return its result,
    as ``asyncio.run(main, debug=debug)`` does (on every Python version)."""
    with _asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)
