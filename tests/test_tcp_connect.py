"""create_connection: addressing options, happy eyeballs, interleave and
the errors it raises when nothing listens."""

import asyncio
import contextlib
import errno
import socket
import sys

import pytest

from socket_helpers import TrackedEcho as Echo, close_server_side_connections_fixture, run, until


close_server_side_connections = close_server_side_connections_fixture()


class Client(asyncio.Protocol):
    def __init__(self):
        self.transport = None
        self.data = bytearray()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.data += data


@pytest.fixture
def refused_port():
    """A port on 127.0.0.1 that refuses connections (bound, not listening)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


async def echo_through(transport, proto, message=b"hello"):
    transport.write(message)
    await until(lambda: len(proto.data) >= len(message))
    return bytes(proto.data)


@contextlib.asynccontextmanager
async def echo_server(loop):
    """An echo server on 127.0.0.1, closed on exit."""
    server = await loop.create_server(Echo, "127.0.0.1", 0)
    try:
        yield server
    finally:
        server.close()


@contextlib.asynccontextmanager
async def client_connection(loop, *args, **kwargs):
    """``loop.create_connection(Client, *args, **kwargs)``, closed on exit."""
    tr, proto = await loop.create_connection(Client, *args, **kwargs)
    try:
        yield tr, proto
    finally:
        tr.close()


def fake_resolver(loop, addresses):
    """Make ``loop.getaddrinfo`` answer every lookup with ``addresses``."""

    async def getaddrinfo(host, port, *, family=0, type=0, proto=0, flags=0):
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", addr)
                for addr in addresses]

    loop.getaddrinfo = getaddrinfo


def test_create_connection_to_host_and_port_returns_a_connected_transport(loop):
    async def main():
        async with echo_server(loop) as server:
            addr = server.sockets[0].getsockname()
            async with client_connection(loop, *addr) as (tr, proto):
                return (proto.transport is tr, tr.get_extra_info("peername") == addr,
                        await echo_through(tr, proto))

    assert run(loop, main()) == (True, True, b"hello")


def test_create_connection_resolves_localhost(loop):
    async def main():
        async with echo_server(loop) as server:
            port = server.sockets[0].getsockname()[1]
            async with client_connection(loop, "localhost", port, family=socket.AF_INET) as (tr, proto):
                return await echo_through(tr, proto)

    assert run(loop, main()) == b"hello"


def test_create_connection_with_sock_uses_the_connected_socket(loop):
    async def main():
        async with echo_server(loop) as server:
            sock = socket.create_connection(server.sockets[0].getsockname())
            async with client_connection(loop, sock=sock) as (tr, proto):
                return (tr.get_extra_info("socket").fileno() == sock.fileno(),
                        sock.gettimeout(), await echo_through(tr, proto))

    assert run(loop, main()) == (True, 0.0, b"hello")


def test_create_connection_with_sock_and_host_raises_value_error(loop):
    async def main():
        with socket.socket() as sock:
            with pytest.raises(ValueError, match="host/port and sock can not be specified at the same time"):
                await loop.create_connection(Client, "127.0.0.1", 1, sock=sock)

    run(loop, main())


def test_create_connection_without_host_or_sock_raises_value_error(loop):
    async def main():
        with pytest.raises(ValueError, match="host and port was not specified and no sock specified"):
            await loop.create_connection(Client)

    run(loop, main())


def test_create_connection_with_a_datagram_sock_raises_value_error(loop):
    async def main():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            with pytest.raises(ValueError, match="A Stream Socket was expected"):
                await loop.create_connection(Client, sock=sock)

    run(loop, main())


def test_create_connection_with_local_addr_binds_the_client_side(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        try:
            tr, proto = await loop.create_connection(
                Client, *server.sockets[0].getsockname(), local_addr=("127.0.0.2", 0))
            try:
                sockname = tr.get_extra_info("sockname")
                return sockname[0], sockname[1] > 0, await echo_through(tr, proto)
            finally:
                tr.close()
        finally:
            server.close()

    assert run(loop, main()) == ("127.0.0.2", True, b"hello")


def test_create_connection_with_a_local_addr_in_use_raises_os_error(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        taken = socket.socket()
        taken.bind(("127.0.0.2", 0))
        taken.listen()
        try:
            with pytest.raises(OSError) as info:
                await loop.create_connection(
                    Client, *server.sockets[0].getsockname(), local_addr=taken.getsockname())
            return info.value.errno
        finally:
            taken.close()
            server.close()

    assert run(loop, main()) == errno.EADDRINUSE


@pytest.mark.parametrize(
    "option", [{"happy_eyeballs_delay": 0.25}, {"interleave": 1}], ids=["happy_eyeballs_delay", "interleave"]
)
def test_create_connection_with_a_happy_eyeballs_option_connects(loop, option):
    async def main():
        async with echo_server(loop) as server:
            addr = server.sockets[0].getsockname()
            async with client_connection(loop, *addr, **option) as (tr, proto):
                return await echo_through(tr, proto)

    assert run(loop, main()) == b"hello"


def test_create_connection_tries_the_next_address_after_a_refusal(loop):
    async def main():
        async with echo_server(loop) as server:
            port = server.sockets[0].getsockname()[1]
            # the first address (127.0.0.2) has nothing listening on that port
            fake_resolver(loop, [("127.0.0.2", port), ("127.0.0.1", port)])
            async with client_connection(loop, "example.invalid", port) as (tr, proto):
                return tr.get_extra_info("peername") == ("127.0.0.1", port), \
                    await echo_through(tr, proto)

    assert run(loop, main()) == (True, b"hello")


def test_happy_eyeballs_connects_to_the_address_that_answers(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            fake_resolver(loop, [("127.0.0.2", port), ("127.0.0.1", port)])
            tr, proto = await loop.create_connection(
                Client, "example.invalid", port, happy_eyeballs_delay=0.05)
            try:
                return tr.get_extra_info("peername") == ("127.0.0.1", port), \
                    await echo_through(tr, proto)
            finally:
                tr.close()
        finally:
            server.close()

    assert run(loop, main()) == (True, b"hello")


def test_connection_refused_raises_connection_refused_error(loop, refused_port):
    async def main():
        with pytest.raises(ConnectionRefusedError) as info:
            await loop.create_connection(Client, "127.0.0.1", refused_port)
        return info.value.errno, str(info.value)

    err, message = run(loop, main())
    assert err == errno.ECONNREFUSED
    assert message == f"[Errno {errno.ECONNREFUSED}] Connect call failed ('127.0.0.1', {refused_port})"


def test_connection_refused_with_happy_eyeballs_raises_connection_refused_error(
        loop, refused_port):
    async def main():
        with pytest.raises(ConnectionRefusedError) as info:
            await loop.create_connection(
                Client, "127.0.0.1", refused_port, happy_eyeballs_delay=0.05)
        return info.value.errno

    assert run(loop, main()) == errno.ECONNREFUSED


def test_connection_refused_on_every_address_raises_one_os_error_naming_them_all(
        loop, refused_port):
    async def main():
        fake_resolver(loop, [("127.0.0.2", refused_port), ("127.0.0.3", refused_port)])
        with pytest.raises(OSError) as info:
            await loop.create_connection(Client, "example.invalid", refused_port)
        return info.value

    exc = run(loop, main())
    assert type(exc) is OSError
    assert str(exc).startswith("Multiple exceptions: ")
    assert f"('127.0.0.2', {refused_port})" in str(exc)
    assert f"('127.0.0.3', {refused_port})" in str(exc)


if sys.version_info >= (3, 12):

    def test_connection_refused_with_all_errors_raises_an_exception_group(loop, refused_port):
        async def main():
            with pytest.raises(ExceptionGroup) as info:
                await loop.create_connection(
                    Client, "127.0.0.1", refused_port, all_errors=True)
            return info.value

        group = run(loop, main())
        assert group.message == "create_connection failed"
        assert [type(e) for e in group.exceptions] == [ConnectionRefusedError]

    def test_all_errors_groups_the_refusal_of_every_address(loop, refused_port):
        async def main():
            fake_resolver(loop, [("127.0.0.2", refused_port), ("127.0.0.3", refused_port)])
            with pytest.raises(ExceptionGroup) as info:
                await loop.create_connection(
                    Client, "example.invalid", refused_port, all_errors=True)
            return info.value

        group = run(loop, main())
        assert [type(e) for e in group.exceptions] == [ConnectionRefusedError] * 2
        assert [e.errno for e in group.exceptions] == [errno.ECONNREFUSED] * 2


def test_create_connection_cancelled_while_connecting_leaves_the_loop_usable(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        try:
            task = loop.create_task(loop.create_connection(
                Client, *server.sockets[0].getsockname()))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # the loop is still fine for the next connection
            tr, proto = await loop.create_connection(Client, *server.sockets[0].getsockname())
            try:
                return await echo_through(tr, proto)
            finally:
                tr.close()
        finally:
            server.close()

    assert run(loop, main()) == b"hello"
