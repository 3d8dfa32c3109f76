"""The reprs of datagram and pipe transports show what the loop watches
their file descriptor for: ``read=polling`` or ``read=idle``,
``write=<polling|idle, bufsize=N>``. Datagram transports are asyncio's
``_SelectorDatagramTransport`` or zloop's native ``DatagramTransport``, pipe
transports asyncio's ``_Unix*PipeTransport`` or zloop's native
``*PipeTransport``; the repr starts with the class name."""

import asyncio
import os
import selectors
import socket

import pytest

from socket_helpers import run


async def settle():
    for _ in range(3):
        await asyncio.sleep(0)


def datagram_class(loop):
    """The class name a datagram transport of ``loop`` shows in its repr."""
    if type(loop).__module__.startswith("zloop"):
        return "DatagramTransport"
    return "_SelectorDatagramTransport"


async def udp_endpoint(loop):
    transport, protocol = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    await settle()
    return transport


def test_datagram_transport_repr_shows_read_polling_while_reading(loop):
    async def main():
        transport = await udp_endpoint(loop)
        fd = transport.get_extra_info("socket").fileno()
        try:
            return fd, repr(transport)
        finally:
            transport.close()
            await settle()

    fd, text = run(loop, main())
    name = datagram_class(loop)
    assert text == f"<{name} fd={fd} read=polling write=<idle, bufsize=0>>"


def test_datagram_transport_repr_shows_read_idle_while_paused(loop):
    async def main():
        transport = await udp_endpoint(loop)
        fd = transport.get_extra_info("socket").fileno()
        try:
            transport.pause_reading()
            paused = repr(transport)
            transport.resume_reading()
            return fd, paused, repr(transport)
        finally:
            transport.close()
            await settle()

    fd, paused, resumed = run(loop, main())
    name = datagram_class(loop)
    assert paused == f"<{name} fd={fd} read=idle write=<idle, bufsize=0>>"
    assert resumed == f"<{name} fd={fd} read=polling write=<idle, bufsize=0>>"


def test_datagram_transport_repr_shows_closing_and_read_idle_once_closed(loop):
    async def main():
        transport = await udp_endpoint(loop)
        fd = transport.get_extra_info("socket").fileno()
        transport.close()
        closing = repr(transport)
        await settle()
        return fd, closing, repr(transport)

    fd, closing, closed = run(loop, main())
    name = datagram_class(loop)
    assert closing == (
        f"<{name} closing fd={fd} read=idle write=<idle, bufsize=0>>"
    )
    assert closed == f"<{name} closed fd={fd}>"


def test_datagram_transport_repr_after_the_loop_closed_has_no_polling_state(loop):
    async def main():
        transport = await udp_endpoint(loop)
        return transport, transport.get_extra_info("socket").fileno()

    transport, fd = run(loop, main())
    name = datagram_class(loop)
    transport.close()
    loop.run_until_complete(settle())
    loop.close()
    assert repr(transport) == f"<{name} closed fd={fd}>"


def test_datagram_transport_repr_of_a_connected_endpoint(loop):
    async def main():
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        try:
            transport, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=peer.getsockname()
            )
            await settle()
            fd = transport.get_extra_info("socket").fileno()
            text = repr(transport)
            transport.close()
            await settle()
            return fd, text
        finally:
            peer.close()

    fd, text = run(loop, main())
    name = datagram_class(loop)
    assert text == f"<{name} fd={fd} read=polling write=<idle, bufsize=0>>"


def test_read_pipe_transport_repr_shows_polling_then_idle_when_paused(loop):
    rfd, wfd = os.pipe()

    async def main():
        transport, _ = await loop.connect_read_pipe(asyncio.Protocol, os.fdopen(rfd, "rb", 0))
        await settle()
        try:
            reading = repr(transport)
            transport.pause_reading()
            return type(transport).__name__, reading, repr(transport)
        finally:
            transport.close()
            await settle()

    try:
        name, reading, paused = run(loop, main())
    finally:
        os.close(wfd)
    # asyncio's _UnixReadPipeTransport, zloop's native ReadPipeTransport.
    assert reading == f"<{name} fd={rfd} polling>"
    assert paused == f"<{name} fd={rfd} idle>"


@pytest.mark.parametrize("fill", [False, True], ids=["empty", "backed-up"])
def test_write_pipe_transport_repr_shows_write_polling_only_while_data_is_buffered(loop, fill):
    rfd, wfd = os.pipe()

    async def main():
        transport, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(wfd, "wb", 0))
        await settle()
        try:
            if fill:
                transport.write(b"x" * (1 << 20))
            return type(transport).__name__, repr(transport), transport.get_write_buffer_size()
        finally:
            transport.abort()
            await settle()

    try:
        name, text, bufsize = run(loop, main())
    finally:
        os.close(rfd)
    state = "polling" if fill else "idle"
    assert (bufsize > 0) is fill
    assert text == f"<{name} fd={wfd} {state} bufsize={bufsize}>"


def test_selector_get_key_reports_what_an_fd_is_watched_for(loop):
    # What asyncio's selector_events._test_selector_event asks (transport
    # reprs); zloop answers it from the native engine.
    a, b = socket.socketpair()
    with a, b:
        with pytest.raises(KeyError):
            loop._selector.get_key(a.fileno())
        loop.add_reader(a.fileno(), lambda: None)
        assert loop._selector.get_key(a).events == selectors.EVENT_READ
        loop.add_writer(a.fileno(), lambda: None)
        key = loop._selector.get_key(a.fileno())
        assert key.fd == a.fileno()
        assert key.events == selectors.EVENT_READ | selectors.EVENT_WRITE
        loop.remove_reader(a.fileno())
        loop.remove_writer(a.fileno())
        with pytest.raises(KeyError):
            loop._selector.get_key(a.fileno())
