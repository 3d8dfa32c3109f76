"""Unix domain stream sockets: servers on a path, on a given socket and in
the abstract namespace, connections, half-close, streams and clean-up."""

import asyncio
import errno
import hashlib
import os
import socket
import stat
import sys
import tempfile
import uuid

import pytest

from socket_helpers import (
    RecordingClient as Client,
    TrackedEcho,
    close_server_side_connections_fixture,
    echo_and_close,
    run,
    until,
)


@pytest.fixture
def sock_path():
    # A short directory of its own: AF_UNIX paths are limited to 107 bytes
    # and pytest's tmp_path can be longer than that.
    with tempfile.TemporaryDirectory(prefix="zl-") as directory:
        yield os.path.join(directory, "server.sock")


close_server_side_connections = close_server_side_connections_fixture()


class Echo(TrackedEcho):
    def __init__(self):
        self.transport = None
        self.eof = False

    def eof_received(self):
        self.eof = True
        self.transport.write(b"<eof>")
        return True


async def echo_once(loop, path, message=b"over unix"):
    tr, proto = await loop.create_unix_connection(lambda: Client(loop), path)
    return await echo_and_close(tr, proto, message)


def test_create_unix_server_on_a_path_echoes_a_unix_connection(loop, sock_path):
    async def main():
        server = await loop.create_unix_server(Echo, sock_path)
        try:
            (listening,) = server.sockets
            return (listening.family, listening.getsockname(),
                    stat.S_ISSOCK(os.stat(sock_path).st_mode),
                    await echo_once(loop, sock_path))
        finally:
            server.close()

    assert run(loop, main()) == (socket.AF_UNIX, sock_path, True, b"over unix")


def test_unix_transports_report_the_path_as_sockname_and_peername(loop, sock_path):
    accepted = []

    def factory():
        accepted.append(Echo())
        return accepted[-1]

    async def main():
        server = await loop.create_unix_server(factory, sock_path)
        try:
            tr, proto = await loop.create_unix_connection(lambda: Client(loop), sock_path)
            await until(lambda: accepted and accepted[0].transport)
            result = (tr.get_extra_info("peername"), tr.get_extra_info("sockname"),
                      accepted[0].transport.get_extra_info("sockname"),
                      tr.get_extra_info("socket").family)
            tr.close()
            return result
        finally:
            server.close()

    assert run(loop, main()) == (sock_path, "", sock_path, socket.AF_UNIX)


def test_create_unix_server_with_sock_serves_on_the_given_socket(loop, sock_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(sock_path)

    async def main():
        server = await loop.create_unix_server(Echo, sock=sock)
        try:
            return server.sockets[0].fileno() == sock.fileno(), await echo_once(loop, sock_path)
        finally:
            server.close()

    assert run(loop, main()) == (True, b"over unix")


def test_create_unix_server_in_the_abstract_namespace_creates_no_file(loop):
    name = f"\0zloop-test-{uuid.uuid4().hex}"

    async def main():
        server = await loop.create_unix_server(Echo, name)
        try:
            return server.sockets[0].getsockname(), await echo_once(loop, name)
        finally:
            server.close()

    assert run(loop, main()) == (name.encode(), b"over unix")
    assert not os.path.exists(name[1:])


def test_create_unix_server_replaces_a_stale_socket_file(loop, sock_path):
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(sock_path)
    stale.close()  # the file stays behind

    async def main():
        server = await loop.create_unix_server(Echo, sock_path)
        try:
            return await echo_once(loop, sock_path)
        finally:
            server.close()

    assert run(loop, main()) == b"over unix"


def test_create_unix_server_on_a_path_held_by_a_regular_file_raises_address_in_use(
        loop, sock_path):
    with open(sock_path, "w") as f:
        f.write("not a socket")

    async def main():
        with pytest.raises(OSError) as info:
            await loop.create_unix_server(Echo, sock_path)
        return info.value.errno, str(info.value)

    assert run(loop, main()) == (
        errno.EADDRINUSE, f"[Errno {errno.EADDRINUSE}] Address {sock_path!r} is already in use")


def test_create_unix_server_with_path_and_sock_raises_value_error(loop, sock_path):
    async def main():
        with socket.socket(socket.AF_UNIX) as sock:
            with pytest.raises(ValueError, match="path and sock can not be specified at the same time"):
                await loop.create_unix_server(Echo, sock_path, sock=sock)

    run(loop, main())


def test_create_unix_server_with_an_inet_sock_raises_value_error(loop):
    async def main():
        with socket.socket() as sock:
            with pytest.raises(ValueError, match="A UNIX Domain Stream Socket was expected"):
                await loop.create_unix_server(Echo, sock=sock)

    run(loop, main())


if sys.version_info >= (3, 13):

    def test_closing_a_unix_server_removes_its_socket_file(loop, sock_path):
        async def main():
            server = await loop.create_unix_server(Echo, sock_path)
            existed = os.path.exists(sock_path)
            server.close()
            await server.wait_closed()
            return existed, os.path.exists(sock_path)

        assert run(loop, main()) == (True, False)

    def test_cleanup_socket_false_leaves_the_socket_file(loop, sock_path):
        async def main():
            server = await loop.create_unix_server(Echo, sock_path, cleanup_socket=False)
            server.close()
            await server.wait_closed()
            return os.path.exists(sock_path)

        assert run(loop, main()) is True

    def test_cleanup_leaves_a_file_that_replaced_the_socket(loop, sock_path):
        async def main():
            server = await loop.create_unix_server(Echo, sock_path)
            os.unlink(sock_path)
            with open(sock_path, "w") as f:
                f.write("someone else's")
            server.close()
            await server.wait_closed()
            with open(sock_path) as f:
                return f.read()

        assert run(loop, main()) == "someone else's"

else:

    def test_closing_a_unix_server_leaves_its_socket_file(loop, sock_path):
        async def main():
            server = await loop.create_unix_server(Echo, sock_path)
            server.close()
            await server.wait_closed()
            return stat.S_ISSOCK(os.stat(sock_path).st_mode)

        assert run(loop, main()) is True


def test_create_unix_connection_to_a_missing_path_raises_file_not_found(loop, sock_path):
    async def main():
        with pytest.raises(FileNotFoundError):
            await loop.create_unix_connection(lambda: Client(loop), sock_path)

    run(loop, main())


def test_create_unix_connection_to_a_socket_without_listener_raises_refused(loop, sock_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(sock_path)

    async def main():
        with pytest.raises(ConnectionRefusedError):
            await loop.create_unix_connection(lambda: Client(loop), sock_path)

    try:
        run(loop, main())
    finally:
        sock.close()


def test_create_unix_connection_with_sock_uses_the_connected_socket(loop, sock_path):
    async def main():
        server = await loop.create_unix_server(Echo, sock_path)
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(sock_path)
            tr, proto = await loop.create_unix_connection(lambda: Client(loop), sock=sock)
            try:
                tr.write(b"by sock")
                await until(lambda: proto.data == b"by sock")
                return tr.get_extra_info("socket").fileno() == sock.fileno()
            finally:
                tr.close()
        finally:
            server.close()

    assert run(loop, main()) is True


def test_unix_write_eof_half_closes_and_the_peer_can_still_answer(loop, sock_path):
    async def main():
        server = await loop.create_unix_server(Echo, sock_path)
        try:
            tr, proto = await loop.create_unix_connection(lambda: Client(loop), sock_path)
            can = tr.can_write_eof()
            tr.write(b"data")
            tr.write_eof()
            await until(lambda: proto.data == b"data<eof>")
            still_open = not proto.lost.done()
            tr.close()
            return can, still_open
        finally:
            server.close()

    assert run(loop, main()) == (True, True)


def test_16_mib_through_a_unix_echo_server_arrive_intact(loop, sock_path):
    payload = os.urandom(16 * 1024 * 1024)

    async def main():
        server = await loop.create_unix_server(Echo, sock_path)
        try:
            tr, proto = await loop.create_unix_connection(lambda: Client(loop), sock_path)
            tr.write(payload)
            await until(lambda: len(proto.data) >= len(payload))
            tr.close()
            return bytes(proto.data)
        finally:
            server.close()

    got = run(loop, main())
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()


def test_unix_streams_round_trip(loop, sock_path):
    handled = []

    async def handle(reader, writer):
        handled.append(asyncio.current_task())
        line = await reader.readline()
        writer.write(line.upper())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        server = await asyncio.start_unix_server(handle, sock_path)
        async with server:
            reader, writer = await asyncio.open_unix_connection(sock_path)
            writer.write(b"hello unix\n")
            reply = await reader.readline()
            at_eof = await reader.read()
            writer.close()
            await writer.wait_closed()
            await asyncio.wait(handled)
            return reply, at_eof

    assert run(loop, main()) == (b"HELLO UNIX\n", b"")


def test_unix_streams_with_sock(loop, sock_path):
    handled = []

    async def handle(reader, writer):
        handled.append(asyncio.current_task())
        writer.write(await reader.readexactly(4))
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(sock_path)
        server = await asyncio.start_unix_server(handle, sock=lsock)
        async with server:
            csock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            csock.connect(sock_path)
            reader, writer = await asyncio.open_unix_connection(sock=csock)
            writer.write(b"ping")
            reply = await reader.read()
            writer.close()
            await writer.wait_closed()
            await asyncio.wait(handled)
            return reply

    assert run(loop, main()) == b"ping"


def test_unix_server_keeps_serving_after_a_client_vanishes(loop, sock_path):
    async def main():
        server = await loop.create_unix_server(Echo, sock_path)
        try:
            for _ in range(3):
                raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                raw.connect(sock_path)
                raw.sendall(b"unread")
                raw.close()
            return await echo_once(loop, sock_path)
        finally:
            server.close()

    assert run(loop, main()) == b"over unix"
