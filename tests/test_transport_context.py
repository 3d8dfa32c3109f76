"""Which ``contextvars`` context a stream connection's protocol callbacks
run in: up to 3.14 each scheduled callback runs in a copy of the context it
was scheduled from; from 3.15 the connection's set-up runs in one context,
the one the connection was made in (for a server, a copy of the server's
per connection)."""

import asyncio
import contextvars
import sys

from socket_helpers import run, until

ONE_CONNECTION_CONTEXT = sys.version_info >= (3, 15)
var = contextvars.ContextVar("var", default="unset")


class Recorder(asyncio.Protocol):
    def __init__(self):
        self.seen = []

    def connection_made(self, transport):
        self.transport = transport
        self.seen.append(("made", var.get()))
        var.set("set in connection_made")

    def data_received(self, data):
        self.seen.append(("data", var.get()))


def test_client_callbacks_see_the_callers_variables_and_connection_made_changes_from_3_15(loop):
    accepted = []

    class Accepted(asyncio.Protocol):
        def connection_made(self, transport):
            accepted.append(transport)

    async def main():
        server = await loop.create_server(Accepted, "127.0.0.1", 0)
        var.set("set by the caller")
        transport, proto = await loop.create_connection(
            Recorder, *server.sockets[0].getsockname()
        )
        peer_seen = var.get()
        await until(lambda: accepted)
        accepted[0].write(b"x")
        await until(lambda: len(proto.seen) == 2)
        transport.close()
        accepted[0].close()
        server.close()
        await server.wait_closed()
        return proto.seen, peer_seen

    seen, caller_after = run(loop, main())
    later = "set in connection_made" if ONE_CONNECTION_CONTEXT else "set by the caller"
    assert seen == [("made", "set by the caller"), ("data", later)]
    assert caller_after == "set by the caller"  # the caller's own context is not changed


def test_server_connections_see_the_variables_of_server_creation_each_in_its_own_copy(loop):
    protos = []

    def factory():
        protos.append(Recorder())
        return protos[-1]

    async def main():
        var.set("set before create_server")
        server = await loop.create_server(factory, "127.0.0.1", 0)
        var.set("changed after create_server")
        clients = []
        for _ in range(2):
            clients.append(await loop.create_connection(
                asyncio.Protocol, *server.sockets[0].getsockname()))
        await until(lambda: len(protos) == 2 and all(p.seen for p in protos))
        for transport, _ in clients:
            transport.write(b"x")
        await until(lambda: all(len(p.seen) == 2 for p in protos))
        for transport, _ in clients:
            transport.close()
        server.close()
        await server.wait_closed()
        return [p.seen for p in protos]

    seen = run(loop, main())
    later = "set in connection_made" if ONE_CONNECTION_CONTEXT else "set before create_server"
    assert seen == [[("made", "set before create_server"), ("data", later)]] * 2



def test_connection_lost_sees_what_data_received_set_from_3_15(loop):
    import socket

    class Setter(asyncio.Protocol):
        lost_saw = None

        def data_received(self, data):
            var.set("set in data_received")

        def connection_lost(self, exc):
            self.lost_saw = var.get()

    a, b = socket.socketpair()

    async def main():
        var.set("set by the caller")
        transport, proto = await loop.create_connection(Setter, sock=a)
        b.send(b"x")
        await asyncio.sleep(0.05)
        transport.close()  # from the caller, outside the connection's callbacks
        await until(lambda: proto.lost_saw is not None)
        return proto.lost_saw

    try:
        saw = run(loop, main())
    finally:
        b.close()
    assert saw == ("set in data_received" if ONE_CONNECTION_CONTEXT else "set by the caller")
