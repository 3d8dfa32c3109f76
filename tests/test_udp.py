"""Datagram endpoints: loop.create_datagram_endpoint over UDP and Unix sockets."""

import asyncio
import os
import re
import socket
import sys
import tempfile
import time
from asyncio import selector_events

import pytest

TIMEOUT = 2.0


class Recorder(asyncio.DatagramProtocol):
    """Records every callback; ``echo=True`` sends each datagram back."""

    def __init__(self, loop, echo=False):
        self.loop = loop
        self.echo = echo
        self.transport = None
        self.datagrams = asyncio.Queue()
        self.errors = []
        self.error_seen = loop.create_future()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if self.echo:
            self.transport.sendto(data, addr)
        self.datagrams.put_nowait((data, addr))

    def error_received(self, exc):
        self.errors.append(exc)
        if not self.error_seen.done():
            self.error_seen.set_result(exc)

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result(exc)


async def _next(proto):
    return await asyncio.wait_for(proto.datagrams.get(), TIMEOUT)


async def _endpoint(loop, echo=False, **kwargs):
    transport, proto = await loop.create_datagram_endpoint(
        lambda: Recorder(loop, echo=echo), **kwargs)
    return transport, proto


async def _echo_round_trip(loop, family, server_addr, client_kwargs, payload):
    server, server_proto = await _endpoint(
        loop, echo=True, family=family, local_addr=server_addr)
    try:
        bound = server.get_extra_info("sockname")
        if family == socket.AF_INET6:
            bound = bound[:2]  # remote_addr takes (host, port)
        client, client_proto = await _endpoint(
            loop, family=family, remote_addr=bound, **client_kwargs)
        try:
            client.sendto(payload)
            data, addr = await _next(client_proto)
            got_by_server, _ = await _next(server_proto)
            return data, addr, got_by_server, bound
        finally:
            client.close()
    finally:
        server.close()


@pytest.fixture
def sockdir():
    with tempfile.TemporaryDirectory(prefix="zloop-udp-") as d:
        yield d


# ------------------------------------------------------------------ echo


def test_datagram_echo_over_ipv4(loop):
    data, addr, seen, bound = loop.run_until_complete(_echo_round_trip(
        loop, socket.AF_INET, ("127.0.0.1", 0), {}, b"ping over v4"))
    assert data == b"ping over v4"
    assert seen == b"ping over v4"
    assert addr == bound


def test_datagram_echo_over_ipv6_loopback(loop):
    data, addr, seen, bound = loop.run_until_complete(_echo_round_trip(
        loop, socket.AF_INET6, ("::1", 0), {}, b"ping over v6"))
    assert data == b"ping over v6"
    assert seen == b"ping over v6"
    assert addr[:2] == bound
    assert addr[0] == "::1"


def test_datagram_echo_over_unix_datagram_sockets(loop, sockdir):
    server_path = os.path.join(sockdir, "server")
    client_path = os.path.join(sockdir, "client")
    data, addr, seen, bound = loop.run_until_complete(_echo_round_trip(
        loop, socket.AF_UNIX, server_path, {"local_addr": client_path},
        b"ping over unix"))
    assert bound == server_path
    assert data == b"ping over unix"
    assert seen == b"ping over unix"
    assert addr == server_path


def test_unix_datagram_server_sees_the_client_path_as_sender(loop, sockdir):
    server_path = os.path.join(sockdir, "server")
    client_path = os.path.join(sockdir, "client")

    async def main():
        server, server_proto = await _endpoint(
            loop, family=socket.AF_UNIX, local_addr=server_path)
        client, _ = await _endpoint(
            loop, family=socket.AF_UNIX, local_addr=client_path,
            remote_addr=server_path)
        client.sendto(b"who")
        got = await _next(server_proto)
        client.close()
        server.close()
        return got

    assert loop.run_until_complete(main()) == (b"who", client_path)


def test_large_datagram_of_60000_bytes_arrives_intact(loop):
    payload = bytes(range(256)) * 234 + b"tail"  # 59,908 bytes
    payload += os.urandom(60000 - len(payload))
    data, _, seen, _ = loop.run_until_complete(_echo_round_trip(
        loop, socket.AF_INET, ("127.0.0.1", 0), {}, payload))
    assert len(seen) == 60000
    assert seen == payload
    assert data == payload


def test_empty_datagram_is_received_as_empty_bytes(loop):
    async def main():
        server, proto = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            raw.sendto(b"", server.get_extra_info("sockname"))
            raw.sendto(b"after", server.get_extra_info("sockname"))
            first = await _next(proto)
            second = await _next(proto)
        finally:
            raw.close()
            server.close()
        return first[0], second[0]

    first, second = loop.run_until_complete(main())
    assert first == b""
    assert type(first) is bytes
    assert second == b"after"


def test_sendto_of_empty_data_sends_an_empty_datagram_from_3_13(loop):
    # Python 3.11 and 3.12 silently drop empty data in sendto(); 3.13 sends it.
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.bind(("127.0.0.1", 0))
    raw.settimeout(TIMEOUT)

    async def main():
        client, _ = await _endpoint(loop, remote_addr=raw.getsockname())
        client.sendto(b"")
        client.sendto(b"marker")
        await asyncio.sleep(0.01)
        client.close()

    try:
        loop.run_until_complete(main())
        first = raw.recv(100)
        second = raw.recv(100) if first == b"" else None
    finally:
        raw.close()
    if sys.version_info >= (3, 13):
        assert (first, second) == (b"", b"marker")
    else:
        assert first == b"marker"


def test_unconnected_endpoint_sends_to_the_given_address(loop):
    async def main():
        server, server_proto = await _endpoint(
            loop, family=socket.AF_INET, local_addr=("127.0.0.1", 0))
        client, _ = await _endpoint(
            loop, family=socket.AF_INET, local_addr=("127.0.0.1", 0))
        client.sendto(b"addressed", server.get_extra_info("sockname"))
        data, addr = await _next(server_proto)
        sender = client.get_extra_info("sockname")
        client.close()
        server.close()
        return data, addr, sender

    data, addr, sender = loop.run_until_complete(main())
    assert data == b"addressed"
    assert addr == sender


# ------------------------------------------------------- connected sendto


async def _connected_pair(loop):
    server, server_proto = await _endpoint(
        loop, family=socket.AF_INET, local_addr=("127.0.0.1", 0))
    peer = server.get_extra_info("sockname")
    client, client_proto = await _endpoint(loop, remote_addr=peer)
    return server, server_proto, client, client_proto, peer


def test_sendto_without_address_on_connected_endpoint_goes_to_the_peer(loop):
    async def main():
        server, server_proto, client, _, _ = await _connected_pair(loop)
        client.sendto(b"no address")
        got = await _next(server_proto)
        client.close()
        server.close()
        return got[0]

    assert loop.run_until_complete(main()) == b"no address"


def test_sendto_with_the_peer_address_on_connected_endpoint_is_accepted(loop):
    async def main():
        server, server_proto, client, _, peer = await _connected_pair(loop)
        client.sendto(b"same address", peer)
        got = await _next(server_proto)
        client.close()
        server.close()
        return got[0]

    assert loop.run_until_complete(main()) == b"same address"


def test_sendto_with_a_different_address_on_connected_endpoint_raises_value_error(loop):
    async def main():
        server, _, client, _, peer = await _connected_pair(loop)
        other = ("127.0.0.1", peer[1] + 1 if peer[1] < 65535 else peer[1] - 1)
        try:
            with pytest.raises(ValueError, match="Invalid address: must be None or"):
                client.sendto(b"elsewhere", other)
        finally:
            client.close()
            server.close()

    loop.run_until_complete(main())


def test_error_received_gets_connection_refused_for_a_closed_port(loop):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    closed = probe.getsockname()
    probe.close()

    async def main():
        client, proto = await _endpoint(loop, remote_addr=closed)
        try:
            for _ in range(20):
                client.sendto(b"anyone?")
                done, _ = await asyncio.wait([proto.error_seen], timeout=0.05)
                if done:
                    break
            return await asyncio.wait_for(proto.error_seen, TIMEOUT)
        finally:
            client.close()

    exc = loop.run_until_complete(main())
    assert isinstance(exc, ConnectionRefusedError)


# ------------------------------------------------------ transport queries


def test_write_buffer_size_is_zero_when_idle(loop):
    async def main():
        server, server_proto, client, _, _ = await _connected_pair(loop)
        before = client.get_write_buffer_size()
        client.sendto(b"x")
        await _next(server_proto)
        after = client.get_write_buffer_size()
        client.close()
        server.close()
        return before, after

    assert loop.run_until_complete(main()) == (0, 0)


def test_extra_info_reports_sockname_peername_and_socket(loop):
    async def main():
        server, _, client, _, peer = await _connected_pair(loop)
        info = {
            "sockname": client.get_extra_info("sockname"),
            "peername": client.get_extra_info("peername"),
            "server_peername": server.get_extra_info("peername"),
            "sock": client.get_extra_info("socket"),
            "peer": peer,
        }
        info["sock_sockname"] = info["sock"].getsockname()
        info["sock_peername"] = info["sock"].getpeername()
        info["sock_type"] = info["sock"].type
        info["sock_family"] = info["sock"].family
        client.close()
        server.close()
        return info

    info = loop.run_until_complete(main())
    assert info["peername"] == info["peer"]
    assert info["sockname"][0] == "127.0.0.1"
    assert info["sock_sockname"] == info["sockname"]
    assert info["sock_peername"] == info["peer"]
    assert info["sock_type"] == socket.SOCK_DGRAM
    assert info["sock_family"] == socket.AF_INET
    assert info["server_peername"] is None


def test_extra_info_returns_the_default_for_an_unknown_key(loop):
    async def main():
        t, _ = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        value = t.get_extra_info("no-such-key", "fallback")
        t.close()
        return value

    assert loop.run_until_complete(main()) == "fallback"


def test_close_calls_connection_lost_with_none(loop):
    async def main():
        t, proto = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        t.close()
        closing = t.is_closing()
        return closing, await asyncio.wait_for(proto.lost, TIMEOUT)

    assert loop.run_until_complete(main()) == (True, None)


def test_abort_calls_connection_lost_with_none(loop):
    async def main():
        t, proto = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        t.abort()
        closing = t.is_closing()
        return closing, await asyncio.wait_for(proto.lost, TIMEOUT)

    assert loop.run_until_complete(main()) == (True, None)


def test_close_releases_the_bound_port(loop):
    async def main():
        t, proto = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        addr = t.get_extra_info("sockname")
        t.close()
        await asyncio.wait_for(proto.lost, TIMEOUT)
        return addr

    addr = loop.run_until_complete(main())
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(addr)
    finally:
        s.close()


# --------------------------------------------------------- creation options


def test_sock_argument_uses_the_given_socket(loop):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    addr = sock.getsockname()
    fd = sock.fileno()

    async def main():
        t, proto = await _endpoint(loop, sock=sock)
        peer, peer_proto = await _endpoint(loop, remote_addr=addr)
        peer.sendto(b"via sock=")
        got = await _next(proto)
        info = t.get_extra_info("sockname"), t.get_extra_info("socket").fileno()
        peer.close()
        t.close()
        await asyncio.wait_for(proto.lost, TIMEOUT)
        return got[0], info

    data, (sockname, fileno) = loop.run_until_complete(main())
    assert data == b"via sock="
    assert sockname == addr
    assert fileno == fd
    assert sock.fileno() == -1  # the transport owns and closes the socket


def test_reuse_port_lets_two_endpoints_bind_the_same_port(loop):
    async def main():
        first, _ = await _endpoint(
            loop, local_addr=("127.0.0.1", 0), reuse_port=True)
        addr = first.get_extra_info("sockname")
        second, _ = await _endpoint(loop, local_addr=addr, reuse_port=True)
        opts = [
            t.get_extra_info("socket").getsockopt(
                socket.SOL_SOCKET, socket.SO_REUSEPORT)
            for t in (first, second)
        ]
        second_addr = second.get_extra_info("sockname")
        first.close()
        second.close()
        return addr, second_addr, opts

    addr, second_addr, opts = loop.run_until_complete(main())
    assert second_addr == addr
    assert all(opts)


def test_allow_broadcast_sets_so_broadcast(loop):
    async def main():
        on, _ = await _endpoint(
            loop, local_addr=("127.0.0.1", 0), allow_broadcast=True)
        off, _ = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        values = [
            t.get_extra_info("socket").getsockopt(
                socket.SOL_SOCKET, socket.SO_BROADCAST)
            for t in (on, off)
        ]
        on.close()
        off.close()
        return values

    on_value, off_value = loop.run_until_complete(main())
    assert on_value != 0
    assert off_value == 0


def test_sockets_are_non_blocking(loop):
    async def main():
        t, _ = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        blocking = t.get_extra_info("socket").gettimeout()
        t.close()
        return blocking

    assert loop.run_until_complete(main()) == 0


# ----------------------------------------------------------- data and types


def test_sendto_of_a_str_raises_type_error_naming_the_type(loop):
    async def main():
        t, _ = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        try:
            with pytest.raises(TypeError) as info:
                t.sendto("text", t.get_extra_info("sockname"))
            return str(info.value)
        finally:
            t.close()

    message = loop.run_until_complete(main())
    assert message == "data argument must be a bytes-like object, not 'str'"


def test_sendto_accepts_bytearray_and_memoryview(loop):
    async def main():
        server, server_proto, client, _, _ = await _connected_pair(loop)
        client.sendto(bytearray(b"from a bytearray"))
        client.sendto(memoryview(b"--from a memoryview--")[2:-2])
        got = [(await _next(server_proto))[0] for _ in range(2)]
        client.close()
        server.close()
        return got

    assert loop.run_until_complete(main()) == [b"from a bytearray", b"from a memoryview"]


def test_largest_udp_datagram_of_65507_bytes_arrives_intact(loop):
    payload = os.urandom(65507)
    data, _, seen, _ = loop.run_until_complete(_echo_round_trip(
        loop, socket.AF_INET, ("127.0.0.1", 0), {}, payload))
    assert seen == payload
    assert data == payload


def test_sendto_keyword_arguments_data_and_addr(loop):
    async def main():
        server, server_proto = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        client, _ = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        client.sendto(data=b"by keyword", addr=server.get_extra_info("sockname"))
        got = await _next(server_proto)
        client.close()
        server.close()
        return got[0]

    assert loop.run_until_complete(main()) == b"by keyword"


# ------------------------------------------------------------- addresses


def test_ipv6_sender_is_a_4_tuple_with_flowinfo_and_scope_id(loop):
    raw = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    raw.bind(("::1", 0))

    async def main():
        server, proto = await _endpoint(loop, family=socket.AF_INET6, local_addr=("::1", 0))
        raw.sendto(b"v6", server.get_extra_info("sockname"))
        got = await _next(proto)
        server.close()
        return got

    try:
        data, addr = loop.run_until_complete(main())
        expected = raw.getsockname()
    finally:
        raw.close()
    assert data == b"v6"
    assert addr == expected
    assert len(addr) == 4


def _unnamed_unix_sender(sockdir):
    """What ``socket.recvfrom`` reports for a datagram from an unbound Unix
    socket on this kernel ('' or None)."""
    path = os.path.join(sockdir, "probe")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(path)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"?", path)
        return receiver.recvfrom(10)[1]


def test_unix_sender_without_a_name_is_reported_as_the_socket_module_does(loop, sockdir):
    expected = _unnamed_unix_sender(sockdir)
    path = os.path.join(sockdir, "server")
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    async def main():
        server, proto = await _endpoint(loop, family=socket.AF_UNIX, local_addr=path)
        raw.sendto(b"anonymous", path)
        got = await _next(proto)
        server.close()
        return got

    try:
        assert loop.run_until_complete(main()) == (b"anonymous", expected)
    finally:
        raw.close()


def test_abstract_unix_sender_is_reported_as_bytes(loop, sockdir):
    path = os.path.join(sockdir, "server")
    name = b"\0zloop-udp-test-%d" % os.getpid()
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    raw.bind(name)

    async def main():
        server, proto = await _endpoint(loop, family=socket.AF_UNIX, local_addr=path)
        raw.sendto(b"abstract", path)
        got = await _next(proto)
        server.close()
        return got

    try:
        assert loop.run_until_complete(main()) == (b"abstract", name)
    finally:
        raw.close()


def test_unconnected_sendto_resolves_a_host_name(loop):
    async def main():
        server, server_proto = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        client, _ = await _endpoint(loop, family=socket.AF_INET, local_addr=("127.0.0.1", 0))
        port = server.get_extra_info("sockname")[1]
        client.sendto(b"by name", ("localhost", port))
        got = await _next(server_proto)
        client.close()
        server.close()
        return got[0]

    assert loop.run_until_complete(main()) == b"by name"


def test_unconnected_sendto_without_an_address_is_a_fatal_error(loop, errors):
    async def main():
        t, proto = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        t.sendto(b"nowhere")
        return t.is_closing(), await asyncio.wait_for(proto.lost, TIMEOUT)

    closing, lost = loop.run_until_complete(main())
    assert closing
    assert isinstance(lost, TypeError)
    assert [c["message"] for c in errors] == ["Fatal write error on datagram transport"]
    assert errors[0]["exception"] is lost


# --------------------------------------------------------- reading control


def test_exception_in_datagram_received_is_reported_and_reading_goes_on(loop, errors):
    class Failing(Recorder):
        def datagram_received(self, data, addr):
            if data == b"boom":
                raise RuntimeError("protocol bug")
            super().datagram_received(data, addr)

    async def main():
        server, proto = await loop.create_datagram_endpoint(
            lambda: Failing(loop), local_addr=("127.0.0.1", 0))
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            raw.sendto(b"boom", server.get_extra_info("sockname"))
            raw.sendto(b"after", server.get_extra_info("sockname"))
            got = await _next(proto)
        finally:
            raw.close()
            server.close()
        return got[0]

    assert loop.run_until_complete(main()) == b"after"
    assert len(errors) == 1
    assert re.fullmatch(
        r"Exception in callback _?\w*DatagramTransport\._read_ready\(\)", errors[0]["message"])
    assert isinstance(errors[0]["exception"], RuntimeError)
    assert "handle" in errors[0]


def test_datagram_received_error_after_closing_reports_a_cancelled_handle(loop, errors):
    class ClosesThenFails(Recorder):
        def datagram_received(self, data, addr):
            self.transport.close()
            raise RuntimeError("protocol bug")

    async def main():
        server, proto = await loop.create_datagram_endpoint(
            lambda: ClosesThenFails(loop), local_addr=("127.0.0.1", 0))
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            raw.sendto(b"boom", server.get_extra_info("sockname"))
            await proto.lost
        finally:
            raw.close()
            server.close()

    loop.run_until_complete(main())
    assert len(errors) == 1
    # close() removed the reader before the error escaped: the reader's
    # handle is cancelled, and reported as such.
    assert errors[0]["message"] == "Exception in callback None()"
    assert errors[0]["handle"].cancelled()
    assert isinstance(errors[0]["exception"], RuntimeError)


def test_pause_reading_holds_datagrams_until_resume_reading(loop):
    async def main():
        server, proto = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            server.pause_reading()
            reading = server.is_reading()
            raw.sendto(b"held", server.get_extra_info("sockname"))
            await asyncio.sleep(0.05)
            held = proto.datagrams.qsize()
            server.resume_reading()
            got = await _next(proto)
        finally:
            raw.close()
            server.close()
        return reading, held, got[0], server.is_reading()

    assert loop.run_until_complete(main()) == (False, 0, b"held", False)


# ------------------------------------------- buffering and flow control


class FlowRecorder(Recorder):
    """A Recorder that also records pause_writing/resume_writing."""

    def __init__(self, loop):
        super().__init__(loop)
        self.flow = []

    def pause_writing(self):
        self.flow.append(("pause", self.transport.get_write_buffer_size()))

    def resume_writing(self):
        self.flow.append(("resume", self.transport.get_write_buffer_size()))


def _header_overhead():
    """What asyncio adds to the write-buffer size per queued datagram on top
    of its length, and what it takes off again when the datagram is sent
    (3.13.0 adds 8 and takes off nothing; later releases name it
    ``_header_size``)."""
    cls = selector_events._SelectorDatagramTransport
    if hasattr(cls, "_header_size"):
        return cls._header_size, cls._header_size
    return (8 if sys.version_info >= (3, 13) else 0), 0


def _payload(i):
    return b"%08d" % i + b"x" * 992


async def _blocked_sender(loop, sockdir, **kwargs):
    """An endpoint connected to a Unix datagram socket nobody reads: it
    sends until the kernel says EAGAIN and the transport queues one datagram.
    Returns the sink socket, the transport, its protocol and what was sent."""
    path = os.path.join(sockdir, "sink")
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(path)
    sink.setblocking(False)
    transport, proto = await loop.create_datagram_endpoint(
        lambda: FlowRecorder(loop), family=socket.AF_UNIX, remote_addr=path, **kwargs)
    sent = []
    while transport.get_write_buffer_size() == 0:
        if len(sent) > 100000:
            raise AssertionError("the socket never filled up")
        sent.append(_payload(len(sent)))
        transport.sendto(sent[-1])
    return sink, transport, proto, sent


def _drain(sink, into):
    while True:
        try:
            into.append(sink.recv(4096))
        except BlockingIOError:
            return


async def _receive_all(sink, count):
    got = []
    deadline = time.monotonic() + 5
    while len(got) < count and time.monotonic() < deadline:
        _drain(sink, got)
        await asyncio.sleep(0.001)
    return got


def test_datagrams_queued_while_the_socket_is_full_are_sent_in_order(loop, sockdir):
    async def main():
        sink, t, _, sent = await _blocked_sender(loop, sockdir)
        try:
            for i in range(len(sent), len(sent) + 20):
                sent.append(_payload(i))
                t.sendto(sent[-1])
            got = await _receive_all(sink, len(sent))
            await asyncio.sleep(0.01)
            return got, sent, t.get_write_buffer_size()
        finally:
            t.close()
            sink.close()

    got, sent, _ = loop.run_until_complete(main())
    assert got == sent


def test_write_buffer_size_counts_each_queued_datagram(loop, sockdir):
    added, removed = _header_overhead()

    async def main():
        sink, t, _, sent = await _blocked_sender(loop, sockdir)
        try:
            first = t.get_write_buffer_size()
            t.sendto(_payload(len(sent)))
            t.sendto(b"short")
            queued = t.get_write_buffer_size()
            await _receive_all(sink, len(sent) + 2)
            await asyncio.sleep(0.01)
            return first, queued, t.get_write_buffer_size()
        finally:
            t.close()
            sink.close()

    first, queued, flushed = loop.run_until_complete(main())
    assert first == 1000 + added
    assert queued == 2005 + 3 * added
    assert flushed == 3 * (added - removed)


def test_pause_and_resume_writing_follow_the_water_marks(loop, sockdir):
    async def main():
        sink, t, proto, sent = await _blocked_sender(loop, sockdir)
        try:
            t.set_write_buffer_limits(high=4000, low=1000)
            limits = t.get_write_buffer_limits()
            i = len(sent)
            while not proto.flow:
                t.sendto(_payload(i))
                i += 1
            paused = list(proto.flow)
            await _receive_all(sink, i)
            await asyncio.sleep(0.01)
            return limits, paused, proto.flow
        finally:
            t.close()
            sink.close()

    limits, paused, flow = loop.run_until_complete(main())
    added, removed = _header_overhead()
    assert limits == (1000, 4000)
    per_datagram = 1000 + added
    assert paused == [("pause", (4000 // per_datagram + 1) * per_datagram)]
    assert flow[1][0] == "resume"
    assert flow[1][1] <= 1000
    assert len(flow) == 2


def test_set_write_buffer_limits_rejects_low_above_high(loop):
    async def main():
        t, _ = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        try:
            with pytest.raises(ValueError) as info:
                t.set_write_buffer_limits(high=10, low=20)
            t.set_write_buffer_limits(low=100)
            return str(info.value), t.get_write_buffer_limits()
        finally:
            t.close()

    message, limits = loop.run_until_complete(main())
    assert message == "high (10) must be >= low (20) must be >= 0"
    assert limits == (100, 400)


def test_close_with_queued_datagrams_sends_them_before_connection_lost(loop, sockdir):
    async def main():
        sink, t, proto, sent = await _blocked_sender(loop, sockdir)
        try:
            sent.append(_payload(len(sent)))
            t.sendto(sent[-1])
            t.close()
            closing = t.is_closing()
            await asyncio.sleep(0.05)
            early = proto.lost.done()
            got = await _receive_all(sink, len(sent))
            lost = await asyncio.wait_for(proto.lost, TIMEOUT)
            return closing, early, got, sent, lost
        finally:
            sink.close()

    closing, early, got, sent, lost = loop.run_until_complete(main())
    assert closing
    assert not early
    assert got == sent
    assert lost is None


def test_abort_with_queued_datagrams_drops_them(loop, sockdir):
    async def main():
        sink, t, proto, sent = await _blocked_sender(loop, sockdir)
        try:
            t.sendto(_payload(len(sent)))
            t.abort()
            lost = await asyncio.wait_for(proto.lost, TIMEOUT)
            await asyncio.sleep(0.01)
            got = []
            _drain(sink, got)
            return lost, got, sent
        finally:
            sink.close()

    lost, got, sent = loop.run_until_complete(main())
    assert lost is None
    assert got == sent[:-1]


def test_connected_sendto_after_connection_lost_is_dropped_with_a_warning(loop, caplog):
    async def main():
        server, server_proto, client, client_proto, _ = await _connected_pair(loop)
        client.close()
        await asyncio.wait_for(client_proto.lost, TIMEOUT)
        for _ in range(7):
            client.sendto(b"late")
        server.close()

    with caplog.at_level("WARNING", logger="asyncio"):
        loop.run_until_complete(main())
    warnings = [r for r in caplog.records if r.getMessage() == "socket.send() raised exception."]
    assert len(warnings) == 3


def test_released_socket_drops_unconnected_sendto(zloop):
    # asyncio's own transport raises AttributeError here (its socket is None
    # once the connection is lost); zloop drops the datagram instead.
    loop = zloop.new_event_loop()

    async def main():
        t, proto = await _endpoint(loop, local_addr=("127.0.0.1", 0))
        addr = t.get_extra_info("sockname")
        t.close()
        await asyncio.wait_for(proto.lost, TIMEOUT)
        t.sendto(b"late", addr)
        return t.get_write_buffer_size()

    try:
        assert loop.run_until_complete(main()) == 0
    finally:
        loop.close()


def test_datagram_transport_built_without_a_waiter_calls_connection_made(loop):
    # loop._make_datagram_transport(sock, protocol) is what
    # create_datagram_endpoint calls (there with a waiter).
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.bind(("127.0.0.1", 0))
    proto = Recorder(loop)

    async def main():
        t = loop._make_datagram_transport(sock, proto)
        await asyncio.sleep(0)
        made = proto.transport is t
        t.close()
        await asyncio.wait_for(proto.lost, TIMEOUT)
        return made

    assert loop.run_until_complete(main())
