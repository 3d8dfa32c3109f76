"""``zloop.EventLoopPolicy``: asyncio's default policy, building zloop loops.

Python 3.14 deprecates asyncio's policy system (removal planned for 3.16):
``asyncio.DefaultEventLoopPolicy`` is then only reachable through a module
``__getattr__`` that warns, so the class derives from the private
``_DefaultEventLoopPolicy`` there, and importing this module never warns
(``zloop.EventLoopPolicy`` warns when it is looked up, see ``zloop``)."""

import sys
from asyncio import unix_events

from ._loop import Loop

if sys.version_info >= (3, 14):
    _DefaultEventLoopPolicy = unix_events._DefaultEventLoopPolicy
else:
    _DefaultEventLoopPolicy = unix_events.DefaultEventLoopPolicy


class EventLoopPolicy(_DefaultEventLoopPolicy):
    """Event loop policy whose loops are ``zloop.Loop`` (asyncio's Unix policy
    otherwise, child watchers included where the interpreter has them).

    ``asyncio.set_event_loop_policy(zloop.EventLoopPolicy())`` (or
    ``zloop.install()``) makes ``asyncio.new_event_loop()``,
    ``asyncio.run()`` and ``asyncio.get_event_loop()`` use zloop.
    """

    def _loop_factory(self):
        return Loop()
