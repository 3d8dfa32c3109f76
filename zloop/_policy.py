"""``zloop.EventLoopPolicy``: asyncio's default policy, building zloop loops."""

from asyncio import unix_events

from ._loop import Loop


class EventLoopPolicy(unix_events.DefaultEventLoopPolicy):
    """Event loop policy whose loops are ``zloop.Loop`` (asyncio's Unix policy
    otherwise, child watchers included).

    ``asyncio.set_event_loop_policy(zloop.EventLoopPolicy())`` (or
    ``zloop.install()``) makes ``asyncio.new_event_loop()``,
    ``asyncio.run()`` and ``asyncio.get_event_loop()`` use zloop.
    """

    def _loop_factory(self):
        return Loop()
