"""Large data and many connections over real loopback TCP sockets.

Every transfer is checked end to end with a SHA-256 of what was sent and
what arrived, so a lost, duplicated or reordered chunk fails the test.
"""

import asyncio
import hashlib
import os
import resource
import socket
import time

import pytest

BIG = 64 * 1024 * 1024  # bytes moved each way
CHUNK = 256 * 1024


@pytest.fixture(scope="module")
def blob():
    """64 MiB of random bytes, made once for the module."""
    return os.urandom(BIG)


def run(loop, coro, timeout=15):
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def sha(data):
    return hashlib.sha256(data).hexdigest()


class FlowControlledEcho(asyncio.Protocol):
    """Echoes everything; stops reading while its own writes are paused."""

    def __init__(self):
        self.received = 0

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.received += len(data)
        self.transport.write(data)

    def pause_writing(self):
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()

    def eof_received(self):
        return False  # close once everything queued is flushed


class HashingClient(asyncio.Protocol):
    """Sends a payload with flow control and hashes what comes back."""

    def __init__(self, loop, expected):
        self.loop = loop
        self.expected = expected
        self.hasher = hashlib.sha256()
        self.count = 0
        self.can_write = asyncio.Event()
        self.can_write.set()
        self.done = loop.create_future()
        self.lost = loop.create_future()
        self.pauses = 0

    def connection_made(self, transport):
        self.transport = transport

    def pause_writing(self):
        self.pauses += 1
        self.can_write.clear()

    def resume_writing(self):
        self.can_write.set()

    def data_received(self, data):
        self.hasher.update(data)
        self.count += len(data)
        if self.count >= self.expected and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result(exc)

    async def send(self, payload):
        view = memoryview(payload)
        for start in range(0, len(view), CHUNK):
            await self.can_write.wait()
            self.transport.write(view[start:start + CHUNK])


def test_64_mib_each_way_through_a_protocol_echo_server_arrives_intact(loop, blob):
    async def main():
        echo = FlowControlledEcho()
        server = await loop.create_server(lambda: echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, client = await loop.create_connection(
            lambda: HashingClient(loop, BIG), "127.0.0.1", port)
        try:
            await client.send(blob)
            await client.done
            transport.write_eof()
            assert await client.lost is None
        finally:
            transport.close()
            server.close()
        return client, echo

    client, echo = run(loop, main())
    assert echo.received == BIG
    assert client.count == BIG
    assert client.hasher.hexdigest() == sha(blob)


def test_64_mib_each_way_through_a_stream_echo_server_arrives_intact(loop, blob):
    async def handle(reader, writer):
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def send():
            view = memoryview(blob)
            for start in range(0, BIG, CHUNK):
                writer.write(view[start:start + CHUNK])
                await writer.drain()
            writer.write_eof()

        async def receive():
            hasher = hashlib.sha256()
            count = 0
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    return count, hasher.hexdigest()
                hasher.update(data)
                count += len(data)

        try:
            _, (count, digest) = await asyncio.gather(send(), receive())
        finally:
            writer.close()
            await writer.wait_closed()
            server.close()
        return count, digest

    count, digest = run(loop, main())
    assert count == BIG
    assert digest == sha(blob)


class Producer(asyncio.Protocol):
    """Writes a payload in chunks, honouring pause/resume, then closes."""

    def __init__(self, payload):
        self.payload = memoryview(payload)
        self.offset = 0
        self.paused = False

    def connection_made(self, transport):
        self.transport = transport
        self.produce()

    def produce(self):
        while not self.paused and self.offset < len(self.payload):
            self.transport.write(self.payload[self.offset:self.offset + CHUNK])
            self.offset += CHUNK
        if self.offset >= len(self.payload):
            self.transport.close()

    def pause_writing(self):
        self.paused = True

    def resume_writing(self):
        self.paused = False
        self.produce()


class HashingBufferedClient(asyncio.BufferedProtocol):
    def __init__(self, loop):
        self.buffer = bytearray(64 * 1024)
        self.hasher = hashlib.sha256()
        self.count = 0
        self.calls = 0
        self.eof = False
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def get_buffer(self, sizehint):
        return memoryview(self.buffer)

    def buffer_updated(self, nbytes):
        self.calls += 1
        self.hasher.update(memoryview(self.buffer)[:nbytes])
        self.count += nbytes

    def eof_received(self):
        self.eof = True

    def connection_lost(self, exc):
        self.lost.set_result(exc)


def test_buffered_protocol_receives_a_64_mib_stream_intact(loop, blob):
    async def main():
        server = await loop.create_server(lambda: Producer(blob), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, client = await loop.create_connection(
            lambda: HashingBufferedClient(loop), "127.0.0.1", port)
        try:
            assert await client.lost is None
        finally:
            transport.close()
            server.close()
        return client

    client = run(loop, main())
    assert client.eof
    assert client.count == BIG
    assert client.calls >= BIG // len(client.buffer)
    assert client.hasher.hexdigest() == sha(blob)


def test_a_plain_protocol_receives_a_64_mib_stream_intact_and_then_eof(loop, blob):
    class Receiver(HashingClient):
        eof = False

        def eof_received(self):
            self.eof = True

    async def main():
        server = await loop.create_server(lambda: Producer(blob), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, client = await loop.create_connection(
            lambda: Receiver(loop, BIG), "127.0.0.1", port)
        try:
            assert await client.lost is None
        finally:
            transport.close()
            server.close()
        return client

    client = run(loop, main())
    assert client.eof
    assert client.count == BIG
    assert client.hasher.hexdigest() == sha(blob)


N_CONNECTIONS = 1000


@pytest.fixture
def enough_fds():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * N_CONNECTIONS + 200
    if soft != resource.RLIM_INFINITY and soft < needed:
        new_soft = hard if hard == resource.RLIM_INFINITY else max(soft, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_1000_concurrent_connections_to_one_server_each_echo_their_message(loop, enough_fds):
    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            active.add(self)
            peak[0] = max(peak[0], len(active))

        def data_received(self, data):
            self.transport.write(data)

        def connection_lost(self, exc):
            active.discard(self)

    class Client(asyncio.Protocol):
        def __init__(self, message):
            self.message = message
            self.data = b""
            self.echoed = loop.create_future()

        def connection_made(self, transport):
            transport.write(self.message)

        def data_received(self, data):
            self.data += data
            if len(self.data) >= len(self.message) and not self.echoed.done():
                self.echoed.set_result(self.data)

    active = set()
    peak = [0]

    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=N_CONNECTIONS)
        port = server.sockets[0].getsockname()[1]
        pairs = await asyncio.gather(*(
            loop.create_connection(lambda i=i: Client(b"message %04d" % i), "127.0.0.1", port)
            for i in range(N_CONNECTIONS)))
        try:
            echoes = await asyncio.gather(*(client.echoed for _, client in pairs))
            deadline = time.monotonic() + 5
            while peak[0] < N_CONNECTIONS and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
        finally:
            for transport, _ in pairs:
                transport.close()
            server.close()
        deadline = time.monotonic() + 5
        while active and time.monotonic() < deadline:  # the server side sees each EOF
            await asyncio.sleep(0.005)
        return echoes

    echoes = run(loop, main(), timeout=30)
    assert echoes == [b"message %04d" % i for i in range(N_CONNECTIONS)]
    assert peak[0] == N_CONNECTIONS


def test_many_small_writes_arrive_in_order_as_one_byte_stream(loop):
    # 20,000 writes of varying sizes: the receiver sees exactly their
    # concatenation (no reordering across partial sends and queued writes).
    pieces = [bytes([i % 251]) * (1 + i % 97) for i in range(20000)]
    expected = b"".join(pieces)

    async def main():
        lsock = socket.create_server(("127.0.0.1", 0))
        lsock.setblocking(False)
        with lsock:
            port = lsock.getsockname()[1]
            accept = loop.create_task(loop.sock_accept(lsock))
            transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
            peer, _ = await accept
            with peer:
                for piece in pieces:
                    transport.write(piece)
                transport.close()
                got = bytearray()
                while True:
                    data = await loop.sock_recv(peer, 1 << 20)
                    if not data:
                        break
                    got += data
        return bytes(got)

    assert run(loop, main()) == expected
