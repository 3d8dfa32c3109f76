"""Servers: lifecycle (close, wait_closed, serving state, serve_forever,
start_serving), failing protocol factories, create_server's addressing
options and connect_accepted_socket."""

import asyncio
import errno
import socket
import sys

import pytest

from socket_helpers import (
    RecordingClient as Client,
    TrackedEcho,
    close_server_side_connections_fixture,
    echo_and_close,
    run,
    until,
)


close_server_side_connections = close_server_side_connections_fixture()


class Echo(TrackedEcho):
    def __init__(self):
        self.transport = None
        self.lost_exc = "not lost"

    def connection_lost(self, exc):
        self.lost_exc = exc
        super().connection_lost(exc)


async def echo_once(loop, host, port, message=b"ping", family=0):
    tr, proto = await loop.create_connection(lambda: Client(loop), host, port, family=family)
    return await echo_and_close(tr, proto, message)


def assert_refused(host, port):
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, port), timeout=2).close()


class Tracking:
    """A protocol factory that keeps the protocols it made."""

    def __init__(self, cls=Echo):
        self.cls = cls
        self.made = []

    def __call__(self):
        proto = self.cls()
        self.made.append(proto)
        return proto


# ------------------------------------------------------------ lifecycle


def test_a_new_server_is_serving_with_one_listening_socket(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        try:
            sockets = server.sockets
            return (server.is_serving(), len(sockets), sockets[0].family,
                    sockets[0].type, sockets[0].getsockname()[0],
                    await echo_once(loop, *sockets[0].getsockname()))
        finally:
            server.close()

    assert run(loop, main()) == (True, 1, socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", b"ping")


def test_server_get_loop_returns_its_loop(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        server.close()
        return server.get_loop()

    assert run(loop, main()) is loop


def test_server_close_stops_listening_and_empties_sockets(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()
        server.close()
        await server.wait_closed()
        assert_refused(host, port)
        return server.is_serving(), server.sockets

    assert run(loop, main()) == (False, ())


def test_server_close_leaves_existing_connections_open(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()
        tr, proto = await loop.create_connection(lambda: Client(loop), host, port)
        try:
            server.close()
            assert_refused(host, port)
            tr.write(b"still echoed")
            await until(lambda: proto.data == b"still echoed")
            return proto.lost.done()
        finally:
            tr.close()

    assert run(loop, main()) is False


def test_server_close_twice_is_harmless(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        server.close()
        server.close()
        await server.wait_closed()
        await server.wait_closed()
        return server.is_serving()

    assert run(loop, main()) is False


def test_wait_closed_started_before_close_returns_after_the_last_connection_ends(loop):
    async def main():
        factory = Tracking()
        server = await loop.create_server(factory, "127.0.0.1", 0)
        tr, proto = await loop.create_connection(
            lambda: Client(loop), *server.sockets[0].getsockname())
        await until(lambda: factory.made and factory.made[0].transport)
        waiter = loop.create_task(server.wait_closed())
        await asyncio.sleep(0.01)
        steps = [waiter.done()]
        server.close()
        await asyncio.sleep(0.01)
        steps.append(waiter.done())
        tr.close()
        await asyncio.wait_for(waiter, 2)
        steps.append(waiter.done())
        return steps

    assert run(loop, main()) == [False, False, True]


if sys.version_info >= (3, 12):

    def test_wait_closed_after_close_waits_for_connected_clients(loop):
        async def main():
            factory = Tracking()
            server = await loop.create_server(factory, "127.0.0.1", 0)
            tr, proto = await loop.create_connection(
                lambda: Client(loop), *server.sockets[0].getsockname())
            await until(lambda: factory.made and factory.made[0].transport)
            server.close()
            waiter = loop.create_task(server.wait_closed())
            await asyncio.sleep(0.02)
            early = waiter.done()
            factory.made[0].transport.close()
            await asyncio.wait_for(waiter, 2)
            tr.close()
            return early

        assert run(loop, main()) is False

else:

    def test_wait_closed_after_close_returns_at_once_even_with_clients(loop):
        async def main():
            factory = Tracking()
            server = await loop.create_server(factory, "127.0.0.1", 0)
            tr, proto = await loop.create_connection(
                lambda: Client(loop), *server.sockets[0].getsockname())
            await until(lambda: factory.made and factory.made[0].transport)
            server.close()
            await asyncio.wait_for(server.wait_closed(), 1)
            alive = not proto.lost.done()
            tr.close()
            return alive

        assert run(loop, main()) is True


def test_async_with_server_closes_it_on_exit(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()
        async with server as entered:
            assert entered is server
            assert server.is_serving()
            assert await echo_once(loop, host, port) == b"ping"
        assert_refused(host, port)
        return server.is_serving(), server.sockets

    assert run(loop, main()) == (False, ())


def test_serve_forever_cancelled_raises_cancelled_error_and_closes_the_server(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0, start_serving=False)
        host, port = server.sockets[0].getsockname()
        task = loop.create_task(server.serve_forever())
        await asyncio.sleep(0.01)
        serving = server.is_serving()
        reply = await echo_once(loop, host, port)
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert_refused(host, port)
        return serving, reply, server.is_serving(), server.sockets

    assert run(loop, main()) == (True, b"ping", False, ())


def test_serve_forever_ends_with_cancelled_error_when_the_server_is_closed(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        task = loop.create_task(server.serve_forever())
        await asyncio.sleep(0.01)
        server.close()
        with pytest.raises(asyncio.CancelledError):
            await task
        return server.is_serving()

    assert run(loop, main()) is False


def test_serve_forever_twice_raises_runtime_error(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        task = loop.create_task(server.serve_forever())
        await asyncio.sleep(0.01)
        try:
            with pytest.raises(RuntimeError, match="is already being awaited on serve_forever"):
                await server.serve_forever()
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(loop, main())


def test_serve_forever_on_a_closed_server_raises_runtime_error(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        server.close()
        with pytest.raises(RuntimeError, match="is closed"):
            await server.serve_forever()

    run(loop, main())


def test_start_serving_false_listens_only_after_start_serving(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0, start_serving=False)
        try:
            host, port = server.sockets[0].getsockname()
            before = server.is_serving()
            assert_refused(host, port)
            await server.start_serving()
            after = server.is_serving()
            await server.start_serving()  # a second call changes nothing
            return before, after, await echo_once(loop, host, port)
        finally:
            server.close()

    assert run(loop, main()) == (False, True, b"ping")


if sys.version_info >= (3, 13):

    def test_close_clients_closes_every_connected_client(loop):
        async def main():
            factory = Tracking()
            server = await loop.create_server(factory, "127.0.0.1", 0)
            addr = server.sockets[0].getsockname()
            pairs = [await loop.create_connection(lambda: Client(loop), *addr)
                     for _ in range(3)]
            await until(lambda: len(factory.made) == 3 and all(p.transport for p in factory.made))
            server.close()
            server.close_clients()
            excs = [await proto.lost for _, proto in pairs]
            await asyncio.wait_for(server.wait_closed(), 2)
            return excs, [proto.eof for _, proto in pairs], [p.lost_exc for p in factory.made]

        excs, eofs, server_side = run(loop, main())
        assert excs == [None, None, None]
        assert eofs == [True, True, True]
        assert server_side == [None, None, None]

    def test_abort_clients_aborts_every_connected_client(loop):
        async def main():
            factory = Tracking()
            server = await loop.create_server(factory, "127.0.0.1", 0)
            addr = server.sockets[0].getsockname()
            pairs = [await loop.create_connection(lambda: Client(loop), *addr)
                     for _ in range(3)]
            await until(lambda: len(factory.made) == 3 and all(p.transport for p in factory.made))
            for proto in factory.made:
                proto.transport.pause_reading()
                proto.transport.write(b"x" * (8 * 1024 * 1024))  # left buffered
            server.close()
            server.abort_clients()
            for _, proto in pairs:
                await proto.lost
            await asyncio.wait_for(server.wait_closed(), 2)
            return [len(proto.data) for _, proto in pairs], [p.lost_exc for p in factory.made]

        sizes, server_side = run(loop, main())
        assert all(size < 8 * 1024 * 1024 for size in sizes)
        assert server_side == [None, None, None]


# ------------------------------------------------------------ failing factory


def test_a_raising_protocol_factory_is_reported_to_the_exception_handler_in_debug_mode(loop):
    reports = []

    def handler(lp, context):
        exc = context.get("exception")
        reports.append((context["message"], type(exc), str(exc)))

    def factory():
        raise ZeroDivisionError("factory failed")

    async def main():
        loop.set_debug(True)
        loop.set_exception_handler(handler)
        server = await loop.create_server(factory, "127.0.0.1", 0)
        try:
            sock = socket.socket()
            sock.setblocking(False)
            with sock:
                await loop.sock_connect(sock, server.sockets[0].getsockname())
                await until(lambda: reports)
                await asyncio.sleep(0.01)
        finally:
            server.close()

    run(loop, main())
    assert reports == [("Error on transport creation for incoming connection",
                        ZeroDivisionError, "factory failed")]


def test_the_server_keeps_serving_after_its_protocol_factory_raised(loop):
    calls = []

    def factory():
        calls.append(None)
        if len(calls) == 1:
            raise ZeroDivisionError("first connection only")
        return Echo()

    async def main():
        loop.set_debug(False)
        server = await loop.create_server(factory, "127.0.0.1", 0)
        try:
            addr = server.sockets[0].getsockname()
            first = socket.socket()
            first.setblocking(False)
            with first:
                await loop.sock_connect(first, addr)
                assert await asyncio.wait_for(loop.sock_recv(first, 10), 2) == b""
            return server.is_serving(), await echo_once(loop, *addr)
        finally:
            server.close()

    assert run(loop, main()) == (True, b"ping")
    assert len(calls) == 2


def test_a_raising_protocol_factory_closes_the_accepted_socket_silently_without_debug(
        loop, errors):
    def factory():
        raise ZeroDivisionError("factory failed")

    async def main():
        loop.set_debug(False)
        server = await loop.create_server(factory, "127.0.0.1", 0)
        try:
            sock = socket.socket()
            sock.setblocking(False)
            with sock:
                await loop.sock_connect(sock, server.sockets[0].getsockname())
                return await asyncio.wait_for(loop.sock_recv(sock, 10), 2)
        finally:
            server.close()

    assert run(loop, main()) == b""
    assert errors == []


# ------------------------------------------------------------ addressing


def test_create_server_on_port_0_binds_an_ephemeral_port(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        try:
            return server.sockets[0].getsockname()[1]
        finally:
            server.close()

    port = run(loop, main())
    assert 0 < port < 65536


def test_create_server_with_host_none_listens_on_all_interfaces(loop):
    async def main():
        server = await loop.create_server(Echo, None, 0)
        try:
            hosts = {s.getsockname()[0] for s in server.sockets}
            (port,) = [s.getsockname()[1] for s in server.sockets if s.family == socket.AF_INET]
            return hosts, await echo_once(loop, "127.0.0.1", port)
        finally:
            server.close()

    hosts, reply = run(loop, main())
    assert "0.0.0.0" in hosts
    assert hosts <= {"0.0.0.0", "::"}
    assert reply == b"ping"


def test_create_server_with_host_none_and_family_inet_listens_on_ipv4_only(loop):
    async def main():
        server = await loop.create_server(Echo, None, 0, family=socket.AF_INET)
        try:
            sockets = server.sockets
            return [(s.family, s.getsockname()[0]) for s in sockets]
        finally:
            server.close()

    assert run(loop, main()) == [(socket.AF_INET, "0.0.0.0")]


def test_create_server_with_a_list_of_hosts_listens_on_each(loop):
    async def main():
        server = await loop.create_server(Echo, ["127.0.0.1", "127.0.0.2"], 0)
        try:
            addrs = sorted(s.getsockname() for s in server.sockets)
            replies = [await echo_once(loop, host, port, b"to " + host.encode())
                       for host, port in addrs]
            return [host for host, _ in addrs], replies
        finally:
            server.close()

    hosts, replies = run(loop, main())
    assert hosts == ["127.0.0.1", "127.0.0.2"]
    assert replies == [b"to 127.0.0.1", b"to 127.0.0.2"]


def test_create_server_with_sock_serves_on_the_given_socket(loop):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    addr = sock.getsockname()

    async def main():
        server = await loop.create_server(Echo, sock=sock)
        try:
            (listening,) = server.sockets
            return (listening.fileno() == sock.fileno(), listening.getsockname(),
                    sock.gettimeout(), await echo_once(loop, *addr))
        finally:
            server.close()

    assert run(loop, main()) == (True, addr, 0.0, b"ping")
    assert sock.fileno() == -1  # the server owned and closed it


def test_create_server_with_sock_and_host_raises_value_error(loop):
    async def main():
        with socket.socket() as sock:
            with pytest.raises(ValueError, match="host/port and sock can not be specified"):
                await loop.create_server(Echo, "127.0.0.1", 0, sock=sock)

    run(loop, main())


def test_create_server_without_host_port_or_sock_raises_value_error(loop):
    async def main():
        with pytest.raises(ValueError, match="Neither host/port nor sock were specified"):
            await loop.create_server(Echo)

    run(loop, main())


def test_create_server_with_a_datagram_sock_raises_value_error(loop):
    async def main():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            with pytest.raises(ValueError, match="A Stream Socket was expected"):
                await loop.create_server(Echo, sock=sock)

    run(loop, main())


def test_create_server_on_a_port_in_use_raises_address_in_use(loop):
    async def main():
        first = await loop.create_server(Echo, "127.0.0.1", 0)
        try:
            port = first.sockets[0].getsockname()[1]
            with pytest.raises(OSError) as info:
                await loop.create_server(Echo, "127.0.0.1", port, reuse_address=False)
            return info.value.errno, str(info.value)
        finally:
            first.close()

    err, message = run(loop, main())
    assert err == errno.EADDRINUSE
    assert "error while attempting to bind on address ('127.0.0.1'," in message


def test_create_server_with_reuse_port_lets_two_servers_share_a_port(loop):
    async def main():
        first = await loop.create_server(Echo, "127.0.0.1", 0, reuse_port=True)
        port = first.sockets[0].getsockname()[1]
        second = await loop.create_server(Echo, "127.0.0.1", port, reuse_port=True)
        try:
            options = [s.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) != 0
                       for s in (first, second)]
            return options, second.sockets[0].getsockname()[1] == port, \
                await echo_once(loop, "127.0.0.1", port)
        finally:
            first.close()
            second.close()

    assert run(loop, main()) == ([True, True], True, b"ping")


def test_create_server_sets_so_reuseaddr_by_default(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        try:
            return server.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
        finally:
            server.close()

    assert run(loop, main()) is True


def test_accepted_transports_report_peername_and_sockname(loop):
    async def main():
        factory = Tracking()
        server = await loop.create_server(factory, "127.0.0.1", 0)
        try:
            tr, proto = await loop.create_connection(
                lambda: Client(loop), *server.sockets[0].getsockname())
            await until(lambda: factory.made and factory.made[0].transport)
            accepted = factory.made[0].transport
            result = (accepted.get_extra_info("peername") == tr.get_extra_info("sockname"),
                      accepted.get_extra_info("sockname") == tr.get_extra_info("peername"))
            tr.close()
            return result
        finally:
            server.close()

    assert run(loop, main()) == (True, True)


# ------------------------------------------------------------ accepted sockets


def test_connect_accepted_socket_serves_a_socket_accepted_elsewhere(loop):
    async def main():
        lsock = socket.create_server(("127.0.0.1", 0))
        with lsock:
            client = socket.create_connection(lsock.getsockname())
            conn, _ = lsock.accept()
            with client:
                tr, proto = await loop.connect_accepted_socket(Tracking(), conn)
                try:
                    client.setblocking(False)
                    await loop.sock_sendall(client, b"via accepted socket")
                    got = b""
                    while len(got) < 19:
                        got += await loop.sock_recv(client, 100)
                    return (got, isinstance(proto, Echo), proto.transport is tr,
                            tr.get_extra_info("peername") == client.getsockname())
                finally:
                    tr.close()

    assert run(loop, main()) == (b"via accepted socket", True, True, True)


def test_connect_accepted_socket_with_a_datagram_socket_raises_value_error(loop):
    async def main():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            with pytest.raises(ValueError, match="A Stream Socket was expected"):
                await loop.connect_accepted_socket(Echo, sock)

    run(loop, main())
