"""Helpers shared by the socket test modules (servers, TCP, TLS, Unix
sockets, transport diagnostics): running a coroutine with a time limit,
polling for a condition, and closing what the server side still holds open
after each test."""

import asyncio
import time

import pytest


def run(loop, coro, timeout=10):
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


async def until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.001)


OPEN = set()  # server-side protocols whose connection is still open


def close_server_side_connections_fixture(poll=0.001):
    """An autouse fixture for a test module: after each test, close what the
    server side still holds open (``OPEN``) and wait, polling every ``poll``
    seconds, until those connections are lost, so no transport outlives its
    loop.

    Use: ``close_server_side_connections = close_server_side_connections_fixture()``.
    """

    @pytest.fixture(autouse=True)
    def close_server_side_connections(loop):
        OPEN.clear()
        yield

        async def close_all():
            for proto in list(OPEN):
                proto.transport.close()
            deadline = time.monotonic() + 2
            while OPEN and time.monotonic() < deadline:
                await asyncio.sleep(poll)

        if not loop.is_closed():
            loop.run_until_complete(close_all())

    return close_server_side_connections


class TrackedEcho(asyncio.Protocol):
    """Echoes what it receives; in ``OPEN`` while its connection is open."""

    def connection_made(self, transport):
        self.transport = transport
        OPEN.add(self)

    def data_received(self, data):
        self.transport.write(data)

    def connection_lost(self, exc):
        OPEN.discard(self)


class RecordingClient(asyncio.Protocol):
    """A client protocol that records data, EOF and the loss (a future)."""

    def __init__(self, loop):
        self.data = bytearray()
        self.eof = False
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.data += data

    def eof_received(self):
        self.eof = True

    def connection_lost(self, exc):
        self.lost.set_result(exc)


async def echo_and_close(transport, proto, message):
    """Write ``message``, wait until ``proto`` has received as many bytes
    back, close ``transport`` and return what came back."""
    try:
        transport.write(message)
        await until(lambda: len(proto.data) >= len(message))
        return bytes(proto.data)
    finally:
        transport.close()
