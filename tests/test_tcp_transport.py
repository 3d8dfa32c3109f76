"""The TCP stream transport: half-close, resets, flow control, reading
control, write errors, close vs abort, extra info and protocol swapping."""

import asyncio
import contextlib
import hashlib
import os
import re
import socket
import struct
import sys

import pytest

from socket_helpers import run, until


class Recorder(asyncio.Protocol):
    """Records everything a transport tells it."""

    def __init__(self, loop, eof_result=None):
        self.transport = None
        self.data = bytearray()
        self.events = []
        self.eof_result = eof_result
        self.made = loop.create_future()
        self.eof = loop.create_future()
        self.lost = loop.create_future()
        self.pauses = 0
        self.resumes = 0

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")
        self.made.set_result(None)

    def data_received(self, data):
        if not self.events or self.events[-1] != "data":
            self.events.append("data")
        self.data += data

    def eof_received(self):
        self.events.append("eof")
        self.eof.set_result(None)
        return self.eof_result

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)

    def pause_writing(self):
        self.pauses += 1

    def resume_writing(self):
        self.resumes += 1


async def tcp_pair(loop, server_factory, client_factory):
    """A connected (server, client_transport, client_protocol, server_protocol)."""
    accepted = []

    def factory():
        proto = server_factory()
        accepted.append(proto)
        return proto

    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, client = await loop.create_connection(client_factory, "127.0.0.1", port)
    await until(lambda: accepted and accepted[0].transport is not None)
    return server, transport, client, accepted[0]


async def close_all(server, transport, peer):
    """Close both ends and the server, and let the closes complete."""
    transport.close()
    if peer.transport is not None:
        peer.transport.close()
    server.close()
    for _ in range(3):
        await asyncio.sleep(0)


def raw_peer(rcvbuf=None):
    """A listening non-blocking raw socket (accept with loop.sock_accept)."""
    lsock = socket.socket()
    if rcvbuf:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen()
    lsock.setblocking(False)
    return lsock


def small_sndbuf_socket(port):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def linger_zero(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@contextlib.asynccontextmanager
async def slow_peer_connection(loop):
    """A client transport (Recorder protocol) with a 16 KiB send buffer,
    connected to a raw peer socket with a 32 KiB receive buffer that reads
    nothing until told: ``(transport, protocol, peer)``; both sockets closed
    on exit."""
    with raw_peer(rcvbuf=32 * 1024) as lsock:
        accept = loop.create_task(loop.sock_accept(lsock))
        sock = small_sndbuf_socket(lsock.getsockname()[1])
        tr, proto = await loop.create_connection(lambda: Recorder(loop), sock=sock)
        peer, _ = await accept
        with peer:
            yield tr, proto, peer


async def recv_all(loop, sock):
    got = bytearray()
    while True:
        try:
            data = await loop.sock_recv(sock, 1 << 20)
        except ConnectionResetError:
            break
        if not data:
            break
        got += data
    return bytes(got)


# ------------------------------------------------------------ half-close


def test_can_write_eof_is_true_for_tcp(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            return tr.can_write_eof(), peer.transport.can_write_eof()
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == (True, True)


def test_write_eof_delivers_data_then_eof_received_to_the_peer(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop, eof_result=True), lambda: Recorder(loop))
        try:
            tr.write(b"last words")
            tr.write_eof()
            await peer.eof
            return bytes(peer.data), list(peer.events)
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == (b"last words", ["made", "data", "eof"])


def test_eof_received_returning_true_keeps_the_transport_open_for_writing(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop, eof_result=True), lambda: Recorder(loop))
        try:
            tr.write_eof()
            await peer.eof
            await asyncio.sleep(0.01)
            assert not peer.transport.is_closing()
            assert not peer.lost.done()
            peer.transport.write(b"reply after eof")
            peer.transport.close()
            assert await client.lost is None
            assert await peer.lost is None
            return bytes(client.data), client.events
        finally:
            await close_all(server, tr, peer)

    data, events = run(loop, main())
    assert data == b"reply after eof"
    assert events == ["made", "data", "eof", "lost"]


@pytest.mark.parametrize("result", [None, False], ids=["None", "False"])
def test_eof_received_returning_false_or_none_closes_the_transport(loop, result):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop, eof_result=result), lambda: Recorder(loop))
        try:
            tr.write_eof()
            assert await peer.lost is None
            assert peer.transport.is_closing()
            assert await client.lost is None
            return peer.events, client.events
        finally:
            await close_all(server, tr, peer)

    peer_events, client_events = run(loop, main())
    assert peer_events == ["made", "eof", "lost"]
    assert client_events == ["made", "eof", "lost"]


def _released_view():
    view = memoryview(b"gone")
    view.release()
    return view


@pytest.mark.parametrize("make_data", [lambda: b"too late", _released_view,
                                       lambda: memoryview(b"abcdefgh")[::2]],
                         ids=["bytes", "released_view", "strided_view"])
def test_write_after_write_eof_raises_runtime_error_before_looking_at_the_data(loop, make_data):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop, eof_result=True), lambda: Recorder(loop))
        try:
            tr.write_eof()
            with pytest.raises(RuntimeError, match=r"^Cannot call write\(\) after write_eof\(\)$"):
                tr.write(make_data())
            assert not tr.is_closing()
        finally:
            await close_all(server, tr, peer)

    run(loop, main())


def test_write_eof_is_sent_only_after_buffered_data_is_flushed(loop):
    payload = os.urandom(8 * 1024 * 1024)

    async def main():
        async with slow_peer_connection(loop) as (tr, proto, peer):
            tr.write(payload)
            tr.write_eof()
            assert tr.get_write_buffer_size() > 0
            got = await recv_all(loop, peer)
            tr.close()
        return got

    assert hashlib.sha256(run(loop, main())).digest() == hashlib.sha256(payload).digest()


# ------------------------------------------------------------ resets


async def accept_then_reset(loop, protocol_class):
    """A server that accepts one raw client with ``protocol_class(loop)``,
    after which the client resets the connection (RST); returns the server
    and the accepted protocol."""
    accepted = []

    def factory():
        proto = protocol_class(loop)
        accepted.append(proto)
        return proto

    server = await loop.create_server(factory, "127.0.0.1", 0)
    addr = server.sockets[0].getsockname()
    try:
        raw = socket.create_connection(addr)
        await until(lambda: accepted and accepted[0].transport is not None)
        linger_zero(raw)
        raw.close()
    except BaseException:
        server.close()
        raise
    return server, accepted[0]


def test_reset_by_peer_reports_connection_reset_error_to_connection_lost(loop):
    async def main():
        server, proto = await accept_then_reset(loop, Recorder)
        try:
            return await proto.lost
        finally:
            server.close()

    exc = run(loop, main())
    assert isinstance(exc, ConnectionResetError)


def test_the_server_keeps_serving_other_connections_after_a_reset(loop):
    class Echo(Recorder):
        def data_received(self, data):
            self.transport.write(data)

    async def main():
        accepted = []

        def factory():
            accepted.append(Echo(loop))
            return accepted[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0)
        addr = server.sockets[0].getsockname()
        try:
            for i in range(3):
                raw = socket.create_connection(addr)
                linger_zero(raw)
                raw.close()
            tr, proto = await loop.create_connection(lambda: Recorder(loop), *addr)
            tr.write(b"still there?")
            await until(lambda: len(proto.data) == 12)
            tr.close()
            await asyncio.gather(*(p.lost for p in accepted))
            return bytes(proto.data), server.is_serving()
        finally:
            server.close()

    assert run(loop, main()) == (b"still there?", True)


def test_writing_to_a_connection_reset_by_peer_reports_the_error_to_connection_lost(loop):
    class Quiet(Recorder):
        def connection_made(self, transport):
            super().connection_made(transport)
            transport.pause_reading()  # only the write can notice the reset

    async def main():
        server, proto = await accept_then_reset(loop, Quiet)
        try:
            await asyncio.sleep(0.02)
            assert not proto.lost.done()
            for _ in range(3):
                proto.transport.write(b"x" * 65536)
                await asyncio.sleep(0.005)
            return await proto.lost
        finally:
            server.close()

    exc = run(loop, main())
    assert isinstance(exc, (ConnectionResetError, BrokenPipeError))


def test_peer_close_delivers_eof_then_connection_lost_with_none(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            peer.transport.write(b"bye")
            peer.transport.close()
            assert await client.lost is None
            return bytes(client.data), client.events
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == (b"bye", ["made", "data", "eof", "lost"])


# ------------------------------------------------------------ flow control


def test_get_write_buffer_limits_defaults_to_16_and_64_kib(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            return tr.get_write_buffer_limits()
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == (16 * 1024, 64 * 1024)


def test_set_write_buffer_limits_derives_the_missing_bound(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            seen = []
            tr.set_write_buffer_limits(high=1000, low=100)
            seen.append(tr.get_write_buffer_limits())
            tr.set_write_buffer_limits(high=1000)
            seen.append(tr.get_write_buffer_limits())
            tr.set_write_buffer_limits(low=100)
            seen.append(tr.get_write_buffer_limits())
            tr.set_write_buffer_limits(0)
            seen.append(tr.get_write_buffer_limits())
            tr.set_write_buffer_limits()
            seen.append(tr.get_write_buffer_limits())
            return seen
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == [
        (100, 1000), (250, 1000), (100, 400), (0, 0), (16384, 65536)]


@pytest.mark.parametrize(
    "high, low, message",
    [
        (10, 20, "high (10) must be >= low (20) must be >= 0"),
        (10, -1, "high (10) must be >= low (-1) must be >= 0"),
    ],
)
def test_set_write_buffer_limits_rejects_inconsistent_bounds_with_value_error(
        loop, high, low, message):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            with pytest.raises(ValueError) as info:
                tr.set_write_buffer_limits(high=high, low=low)
            return str(info.value), tr.get_write_buffer_limits()
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == (message, (16 * 1024, 64 * 1024))


def test_get_write_buffer_size_is_zero_when_everything_was_sent(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            tr.write(b"small")
            size = tr.get_write_buffer_size()
            await until(lambda: peer.data == b"small")
            return size, tr.get_write_buffer_size()
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == (0, 0)


HIGH = 256 * 1024
LOW = 64 * 1024
PIECE = 64 * 1024
TOTAL = 8 * 1024 * 1024


class PoliteProducer(asyncio.Protocol):
    """Writes TOTAL bytes in PIECE chunks, only while not paused."""

    def __init__(self, loop, payload):
        self.payload = memoryview(payload)
        self.offset = 0
        self.paused = False
        self.pauses = 0
        self.resumes = 0
        self.max_buffered = 0
        self.sizes_at_pause = []
        self.sizes_at_resume = []
        self.calls = []
        self.made = loop.create_future()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
        transport.set_write_buffer_limits(high=HIGH, low=LOW)
        self.made.set_result(None)
        self.produce()

    def produce(self):
        while not self.paused and self.offset < len(self.payload):
            self.transport.write(self.payload[self.offset:self.offset + PIECE])
            self.offset += PIECE
            self.max_buffered = max(self.max_buffered, self.transport.get_write_buffer_size())
        if self.offset >= len(self.payload):
            self.transport.close()

    def pause_writing(self):
        self.calls.append(("pause", self.paused))
        self.paused = True
        self.pauses += 1
        self.sizes_at_pause.append(self.transport.get_write_buffer_size())

    def resume_writing(self):
        self.calls.append(("resume", self.paused))
        self.paused = False
        self.resumes += 1
        self.sizes_at_resume.append(self.transport.get_write_buffer_size())
        self.produce()

    def connection_lost(self, exc):
        self.lost.set_result(exc)


async def slow_reader_transfer(loop, payload):
    producers = []

    def factory():
        producers.append(PoliteProducer(loop, payload))
        return producers[-1]

    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        with sock:
            await until(lambda: producers and producers[0].made.done())
            producer = producers[0]
            # The reader is slow: nothing is read until the writer paused.
            await until(lambda: producer.paused)
            paused_early = producer.offset < len(payload)
            got = bytearray()
            while True:
                data = await loop.sock_recv(sock, 16 * 1024)
                if not data:
                    break
                got += data
                await asyncio.sleep(0)
            assert await producer.lost is None
    finally:
        server.close()
    return producer, paused_early, bytes(got)


def test_a_slow_reader_makes_the_writer_pause_with_the_buffer_bounded_near_high_water(loop):
    payload = os.urandom(TOTAL)
    producer, paused_early, _ = run(loop, slow_reader_transfer(loop, payload))
    assert paused_early
    assert producer.pauses >= 1
    assert all(size > HIGH for size in producer.sizes_at_pause)
    assert producer.max_buffered <= HIGH + PIECE


def test_resume_writing_follows_each_pause_and_nothing_written_is_lost(loop):
    payload = os.urandom(TOTAL)
    producer, _, got = run(loop, slow_reader_transfer(loop, payload))
    assert producer.resumes == producer.pauses >= 1
    # strictly alternating pause, resume, pause, ... each from the other state
    assert producer.calls == [("pause", False), ("resume", True)] * producer.pauses
    assert all(size <= LOW for size in producer.sizes_at_resume)
    assert len(got) == TOTAL
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()


def test_write_of_a_large_buffer_calls_pause_writing_synchronously(loop):
    async def main():
        async with slow_peer_connection(loop) as (tr, proto, peer):
            tr.write(b"x" * (4 * 1024 * 1024))
            pauses = proto.pauses
            tr.abort()
        return pauses

    assert run(loop, main()) == 1


@pytest.mark.parametrize("wrap", [bytearray, lambda b: memoryview(bytearray(b))],
                         ids=["bytearray", "memoryview"])
def test_a_mutable_buffer_only_partly_sent_at_once_arrives_intact(loop, wrap):
    payload = os.urandom(1024 * 1024)

    async def main():
        async with slow_peer_connection(loop) as (tr, proto, peer):
            tr.write(wrap(payload))
            assert tr.get_write_buffer_size() > 0  # only part went at once
            tr.close()
            return await recv_all(loop, peer)

    got = run(loop, main())
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()


# ------------------------------------------------------------ reading control


def test_pause_reading_holds_data_until_resume_reading(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            states = [tr.is_reading()]
            tr.pause_reading()
            states.append(tr.is_reading())
            peer.transport.write(b"held back")
            await asyncio.sleep(0.05)
            held = bytes(client.data)
            tr.resume_reading()
            states.append(tr.is_reading())
            await until(lambda: client.data == b"held back")
            return states, held
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == ([True, False, True], b"")


def test_pause_reading_and_resume_reading_are_idempotent(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            tr.resume_reading()
            tr.pause_reading()
            tr.pause_reading()
            paused = tr.is_reading()
            tr.resume_reading()
            tr.resume_reading()
            peer.transport.write(b"once")
            await until(lambda: client.data == b"once")
            await asyncio.sleep(0.01)
            return paused, tr.is_reading(), bytes(client.data)
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == (False, True, b"once")


def test_is_reading_is_false_once_closed(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            tr.close()
            return tr.is_reading()
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) is False


# ------------------------------------------------------------ writing


# asyncio's wording of a write() of the wrong type: 3.14 names the types.
if sys.version_info >= (3, 14):
    NOT_BYTES_LIKE = "data argument must be a bytes, bytearray, or memoryview object, not "
else:
    NOT_BYTES_LIKE = "data argument must be a bytes-like object, not "


def test_write_of_a_str_raises_type_error_naming_the_type(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            with pytest.raises(TypeError) as info:
                tr.write("text")
            return str(info.value)
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == NOT_BYTES_LIKE + "'str'"


@pytest.mark.parametrize("bad", [123, None, ["list"]], ids=["int", "None", "list"])
def test_write_of_a_non_bytes_object_raises_type_error(loop, bad):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            with pytest.raises(TypeError, match="^" + re.escape(NOT_BYTES_LIKE)):
                tr.write(bad)
        finally:
            await close_all(server, tr, peer)

    run(loop, main())


def test_write_accepts_bytes_bytearray_and_memoryview(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            tr.write(b"one,")
            tr.write(bytearray(b"two,"))
            tr.write(memoryview(b"--three,--")[2:-2])
            tr.write(b"")
            await until(lambda: len(peer.data) >= 14)
            return bytes(peer.data)
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == b"one,two,three,"


def test_writelines_sends_the_buffers_in_order(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            tr.writelines([b"a", bytearray(b"bc"), memoryview(b"def"), b""])
            tr.writelines(iter([b"g", b"hi"]))
            await until(lambda: len(peer.data) >= 9)
            return bytes(peer.data)
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == b"abcdefghi"


def test_close_flushes_buffered_data_before_closing(loop):
    payload = os.urandom(8 * 1024 * 1024)

    async def main():
        async with slow_peer_connection(loop) as (tr, proto, peer):
            tr.write(payload)
            buffered = tr.get_write_buffer_size()
            tr.close()
            got = await recv_all(loop, peer)
            exc = await proto.lost
        return buffered, got, exc

    buffered, got, exc = run(loop, main())
    assert buffered > 0
    assert exc is None
    assert len(got) == len(payload)
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()


def test_abort_drops_buffered_data(loop):
    payload = os.urandom(8 * 1024 * 1024)

    async def main():
        async with slow_peer_connection(loop) as (tr, proto, peer):
            tr.write(payload)
            buffered = tr.get_write_buffer_size()
            tr.abort()
            closing = tr.is_closing()
            exc = await proto.lost
            got = await recv_all(loop, peer)
        return buffered, closing, got, exc

    buffered, closing, got, exc = run(loop, main())
    assert buffered > 0
    assert closing
    assert exc is None
    assert len(got) < len(payload)
    assert got == payload[:len(got)]


def test_is_closing_turns_true_at_close_and_connection_lost_comes_later(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            before = tr.is_closing()
            tr.close()
            after = tr.is_closing()
            lost_synchronously = client.lost.done()
            exc = await client.lost
            return before, after, lost_synchronously, exc
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == (False, True, False, None)


def test_close_twice_calls_connection_lost_once(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            tr.close()
            tr.close()
            await client.lost
            tr.close()
            tr.abort()
            await asyncio.sleep(0.01)
            return client.events
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == ["made", "lost"]


def test_transport_socket_is_closed_after_connection_lost(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            sock = tr.get_extra_info("socket")
            tr.close()
            await client.lost
            return sock.fileno()
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == -1


# ------------------------------------------------------------ extra info


def test_get_extra_info_socket_sockname_and_peername(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            server_addr = server.sockets[0].getsockname()
            sock = tr.get_extra_info("socket")
            return (
                server_addr,
                sock.family, sock.type, sock.getsockname(), sock.getpeername(),
                tr.get_extra_info("sockname"), tr.get_extra_info("peername"),
                peer.transport.get_extra_info("sockname"),
                peer.transport.get_extra_info("peername"),
            )
        finally:
            await close_all(server, tr, peer)

    (server_addr, family, type_, sock_name, sock_peer,
     sockname, peername, peer_sockname, peer_peername) = run(loop, main())
    assert family == socket.AF_INET
    assert type_ == socket.SOCK_STREAM
    assert peername == sock_peer == server_addr == peer_sockname
    assert sockname == sock_name == peer_peername
    assert sockname[0] == "127.0.0.1"


def test_the_transport_socket_is_non_blocking_with_tcp_nodelay_set(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            sock = tr.get_extra_info("socket")
            return sock.fileno() >= 0, sock.gettimeout(), sock.getsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == (True, 0, True)


def test_get_extra_info_unknown_key_returns_the_default(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            return (tr.get_extra_info("no such key"),
                    tr.get_extra_info("no such key", "fallback"),
                    tr.get_extra_info("sslcontext"))
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == (None, "fallback", None)


# ------------------------------------------------------------ protocol swap


def test_set_protocol_routes_later_events_to_the_new_protocol(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            assert tr.get_protocol() is client
            peer.transport.write(b"first")
            await until(lambda: client.data == b"first")
            second = Recorder(loop)
            tr.set_protocol(second)
            assert tr.get_protocol() is second
            peer.transport.write(b"second")
            peer.transport.close()
            exc = await second.lost
            return bytes(client.data), bytes(second.data), second.events, exc
        finally:
            await close_all(server, tr, peer)

    first_data, second_data, events, exc = run(loop, main())
    assert first_data == b"first"
    assert second_data == b"second"
    assert events == ["data", "eof", "lost"]
    assert exc is None


def test_write_replaced_on_the_transport_instance_receives_the_protocols_writes(loop):
    class Greeter(Recorder):
        def data_received(self, data):
            super().data_received(data)
            self.transport.write(b"echo:" + data)

    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Greeter(loop), lambda: Recorder(loop))
        try:
            seen = []
            original = peer.transport.write

            def spy(data):
                seen.append(bytes(data))
                original(data)

            peer.transport.write = spy
            tr.write(b"hi")
            await until(lambda: client.data == b"echo:hi")
            del peer.transport.write
            peer.transport.write(b"!")
            await until(lambda: client.data == b"echo:hi!")
            return seen
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == [b"echo:hi"]


def test_transport_instances_accept_new_attributes(loop):
    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            tr.custom_tag = "mine"
            first = tr.custom_tag
            del tr.custom_tag
            return first, hasattr(tr, "custom_tag")
        finally:
            await close_all(server, tr, peer)

    assert run(loop, main()) == ("mine", False)


# ------------------------------------------------------------ sendfile


def test_loop_sendfile_sends_a_file_over_a_tcp_transport(loop, tmp_path):
    content = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "payload.bin"
    path.write_bytes(content)

    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            with open(path, "rb") as f:
                sent = await loop.sendfile(tr, f)
                position = f.tell()
            tr.write(b"tail")
            await until(lambda: len(peer.data) == len(content) + 4)
            return sent, position, bytes(peer.data)
        finally:
            await close_all(server, tr, peer)

    sent, position, got = run(loop, main())
    assert sent == len(content)
    assert position == len(content)
    assert got == content + b"tail"


def test_loop_sendfile_honours_offset_and_count(loop, tmp_path):
    content = bytes(range(256)) * 4096
    path = tmp_path / "payload.bin"
    path.write_bytes(content)

    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), lambda: Recorder(loop))
        try:
            with open(path, "rb") as f:
                sent = await loop.sendfile(tr, f, offset=1000, count=300000)
                position = f.tell()
            await until(lambda: len(peer.data) == 300000)
            return sent, position, bytes(peer.data)
        finally:
            await close_all(server, tr, peer)

    sent, position, got = run(loop, main())
    assert sent == 300000
    assert position == 301000
    assert got == content[1000:301000]


# ------------------------------------------------------------ BufferedProtocol


def test_buffered_protocol_get_buffer_returning_an_empty_buffer_is_a_fatal_error(loop, errors):
    class EmptyBuffer(asyncio.BufferedProtocol):
        def __init__(self):
            self.lost = loop.create_future()

        def connection_made(self, transport):
            self.transport = transport

        def get_buffer(self, sizehint):
            return bytearray()

        def buffer_updated(self, nbytes):
            raise AssertionError("no data may be delivered")

        def connection_lost(self, exc):
            self.lost.set_result(exc)

    async def main():
        server, tr, client, peer = await tcp_pair(
            loop, lambda: Recorder(loop), EmptyBuffer)
        try:
            peer.transport.write(b"data")
            return await client.lost
        finally:
            await close_all(server, tr, peer)

    exc = run(loop, main())
    assert isinstance(exc, RuntimeError)
    assert str(exc) == "get_buffer() returned an empty buffer"
    assert len(errors) == 1
    assert errors[0]["exception"] is exc
    assert errors[0]["message"] == "Fatal error: protocol.get_buffer() call failed."
