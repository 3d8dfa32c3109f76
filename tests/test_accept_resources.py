"""A server's accept loop: running out of file descriptors pauses accepting
and retries, debug mode logs each new connection, and a protocol factory
that fails is reported (debug mode) or propagates (SystemExit,
KeyboardInterrupt)."""

import asyncio
import contextlib
import errno
import gc
import logging
import os
import resource
import socket
import sys
import time
import warnings
from asyncio import constants

import pytest

from socket_helpers import run, until


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


def lowest_free_fd():
    fd = os.dup(0)
    os.close(fd)
    return fd


@contextlib.contextmanager
def out_of_file_descriptors():
    """No descriptor can be opened inside the block: every one below the
    (lowered) soft limit is taken. The garbage collector is held off, so no
    collected socket frees a descriptor meanwhile."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    gc.collect()
    gc.disable()
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free_fd(), hard))
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        gc.enable()


RESOURCE_MESSAGE = "socket.accept() out of system resource"


@pytest.mark.timeout(30)
def test_accept_out_of_file_descriptors_is_reported_and_retried_after_the_delay(loop, errors):
    assert constants.ACCEPT_RETRY_DELAY == 1
    accepted = []

    def factory():
        proto = Echo()
        accepted.append(proto)
        return proto

    async def main():
        server = await loop.create_server(factory, "127.0.0.1", 0)
        client = socket.socket()
        with out_of_file_descriptors():
            client.connect(server.sockets[0].getsockname())
            await until(lambda: errors)
            await asyncio.sleep(0.05)
            assert not accepted
        listening = server.sockets[0].getsockname()
        reported = {context["socket"].getsockname() for context in errors}
        assert reported == {listening}
        started = time.monotonic()
        await until(lambda: accepted, timeout=5)
        waited = time.monotonic() - started
        client.setblocking(False)
        await loop.sock_sendall(client, b"again")
        echoed = await loop.sock_recv(client, 100)
        client.close()
        accepted[0].transport.close()
        server.close()
        await server.wait_closed()
        return server, waited, echoed

    server, waited, echoed = run(loop, main())
    assert errors
    for context in errors:
        assert context["message"] == RESOURCE_MESSAGE
        assert isinstance(context["exception"], OSError)
        assert context["exception"].errno == errno.EMFILE
        assert isinstance(context["socket"], asyncio.trsock.TransportSocket)
    assert 0.5 < waited < 2
    assert echoed == b"again"
    assert len(accepted) == 1


# How many accept attempts one readable event of a listening socket makes:
# asyncio loops range(backlog), from 3.14 range(backlog + 1).
EXTRA_ACCEPT_ATTEMPTS = 1 if sys.version_info >= (3, 14) else 0


@pytest.mark.timeout(30)
def test_accept_out_of_file_descriptors_reports_every_attempt_of_the_ready_event(
    loop, errors
):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=3)
        client = socket.socket()
        with out_of_file_descriptors():
            client.connect(server.sockets[0].getsockname())
            await until(lambda: errors)
            await asyncio.sleep(0.1)
        client.close()
        server.close()

    run(loop, main())
    assert [c["message"] for c in errors] == [RESOURCE_MESSAGE] * (3 + EXTRA_ACCEPT_ATTEMPTS)


def test_debug_mode_logs_each_new_connection_with_the_peer_address(loop, caplog):
    loop.set_debug(True)

    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
        writer.write(b"hi")
        assert await reader.readexactly(2) == b"hi"
        peer = writer.get_extra_info("sockname")
        writer.close()
        await writer.wait_closed()
        server.close()
        return server, peer

    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        server, peer = run(loop, main())
    messages = [
        r.getMessage()
        for r in caplog.records
        if r.name == "asyncio" and "got a new connection from" in r.getMessage()
    ]
    assert len(messages) == 1
    assert messages[0].startswith(f"{server!r} got a new connection from {peer!r}: <socket.socket")
    assert all(
        r.levelno == logging.DEBUG
        for r in caplog.records
        if "got a new connection from" in r.getMessage()
    )


def test_new_connections_are_not_logged_outside_debug_mode(loop, caplog):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
        writer.write(b"hi")
        assert await reader.readexactly(2) == b"hi"
        writer.close()
        await writer.wait_closed()
        server.close()

    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        run(loop, main())
    assert not [r for r in caplog.records if "got a new connection from" in r.getMessage()]


class NotAProtocol:
    """What a broken factory returns: no connection_made."""


def incoming_connection_reports(loop, factory, errors):
    """Serve ``factory``, connect one client, run until the exception
    handler got a report about the incoming connection and return those
    reports (from ``errors``)."""

    async def main():
        server = await loop.create_server(factory, "127.0.0.1", 0)
        client = socket.create_connection(server.sockets[0].getsockname())
        try:
            await until(lambda: [c for c in errors if "incoming" in c["message"]])
        finally:
            client.close()
            server.close()

    run(loop, main())
    return [c for c in errors if "incoming" in c["message"]]


def test_debug_mode_reports_a_factory_result_that_cannot_become_a_transport(loop, errors):
    loop.set_debug(True)
    made = []

    def factory():
        made.append(NotAProtocol())
        return made[-1]

    reports = incoming_connection_reports(loop, factory, errors)
    assert len(reports) == 1
    context = reports[0]
    assert context["message"] == "Error on transport creation for incoming connection"
    assert isinstance(context["exception"], AttributeError)
    assert context["protocol"] is made[0]
    assert "transport" not in context


def test_debug_mode_reports_a_factory_that_raises_without_a_protocol_key(loop, errors):
    loop.set_debug(True)

    def factory():
        raise ValueError("no protocol today")

    reports = incoming_connection_reports(loop, factory, errors)
    assert len(reports) == 1
    assert reports[0]["message"] == "Error on transport creation for incoming connection"
    assert str(reports[0]["exception"]) == "no protocol today"
    assert "protocol" not in reports[0]


def test_a_factory_that_raises_is_silent_outside_debug_mode(loop, errors):
    calls = []

    def factory():
        calls.append(1)
        raise ValueError("no protocol today")

    async def main():
        server = await loop.create_server(factory, "127.0.0.1", 0)
        client = socket.create_connection(server.sockets[0].getsockname())
        try:
            await until(lambda: calls)
            for _ in range(5):
                await asyncio.sleep(0)
        finally:
            client.close()
            server.close()

    run(loop, main())
    assert calls == [1]
    assert errors == []


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_a_factory_raising_keyboard_interrupt_or_system_exit_stops_the_loop(
    loop, errors, exc_type
):
    def factory():
        raise exc_type("stop")

    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))
    client = socket.create_connection(server.sockets[0].getsockname())
    try:
        with pytest.raises(exc_type) as raised:
            loop.run_until_complete(asyncio.sleep(5))
        assert str(raised.value) == "stop"
        # The loop stays usable.
        assert loop.run_until_complete(asyncio.sleep(0, "still")) == "still"
    finally:
        client.close()
        server.close()
        loop.run_until_complete(server.wait_closed())
        # Whatever the interrupted accept left behind is collected here, not
        # in a later test.
        del raised
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
