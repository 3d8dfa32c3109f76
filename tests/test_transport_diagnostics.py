"""What a socket transport reports about itself: extra info of sockets that
cannot name their addresses, fatal errors (logged in debug mode or handed to
the exception handler), failing flow-control callbacks, writes after the
connection was lost, and debug-mode logs of reading and EOF."""

import asyncio
import errno
import logging
import socket
import struct

import pytest

from socket_helpers import run, until


class Recorder(asyncio.Protocol):
    def __init__(self, loop):
        self.transport = None
        self.data = bytearray()
        self.made = loop.create_future()
        self.eof = loop.create_future()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.made.set_result(None)

    def data_received(self, data):
        self.data += data

    def eof_received(self):
        self.eof.set_result(None)

    def connection_lost(self, exc):
        self.lost.set_result(exc)


async def serve_one(loop, protocol):
    """A server whose first connection gets ``protocol``, and a raw client."""
    server = await loop.create_server(lambda: protocol, "127.0.0.1", 0)
    raw = socket.create_connection(server.sockets[0].getsockname())
    raw.setblocking(False)
    await protocol.made
    return server, raw


def linger_zero(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def asyncio_records(caplog, level):
    return [r for r in caplog.records if r.name == "asyncio" and r.levelno == level]


# ----------------------------------------------------- unnamed addresses


class Anonymous(socket.socket):
    """A socket that cannot tell its own or its peer's address."""

    def getsockname(self):
        raise OSError(errno.EBADF, "no local name")

    def getpeername(self):
        raise OSError(errno.ENOTCONN, "no peer name")


def anonymous_pair():
    a, b = socket.socketpair()
    sock = Anonymous(a.family, a.type, a.proto, fileno=a.detach())
    return sock, b


def test_connect_accepted_socket_whose_addresses_raise_has_none_peername_and_sockname(loop):
    sock, other = anonymous_pair()

    async def main():
        transport, protocol = await loop.connect_accepted_socket(lambda: Recorder(loop), sock)
        info = (
            transport.get_extra_info("peername"),
            transport.get_extra_info("sockname"),
            transport.get_extra_info("peername", "default"),
        )
        other.sendall(b"still works")
        await until(lambda: bytes(protocol.data) == b"still works")
        transport.close()
        await protocol.lost
        return info

    try:
        assert run(loop, main()) == (None, None, None)
    finally:
        other.close()


def test_create_connection_with_a_socket_whose_addresses_raise_has_none_peername(loop):
    sock, other = anonymous_pair()

    async def main():
        transport, protocol = await loop.create_connection(lambda: Recorder(loop), sock=sock)
        info = (transport.get_extra_info("peername"), transport.get_extra_info("sockname"))
        transport.write(b"out")
        transport.close()
        await protocol.lost
        return info

    try:
        assert run(loop, main()) == (None, None)
        other.settimeout(5)
        assert other.recv(100) == b"out"
    finally:
        other.close()


# ---------------------------------------------------------- fatal errors


def test_reset_by_peer_is_logged_at_debug_level_in_debug_mode(loop, errors, caplog):
    loop.set_debug(True)
    protocol = Recorder(loop)

    async def main():
        server, raw = await serve_one(loop, protocol)
        try:
            linger_zero(raw)
            raw.close()
            return await protocol.lost
        finally:
            server.close()

    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        exc = run(loop, main())
    assert isinstance(exc, ConnectionResetError)
    fatal = [
        r for r in asyncio_records(caplog, logging.DEBUG)
        if "Fatal read error on socket transport" in r.getMessage()
    ]
    assert len(fatal) == 1
    assert fatal[0].getMessage().endswith(": Fatal read error on socket transport")
    assert fatal[0].exc_info[1] is exc
    assert not [c for c in errors if "Fatal" in c["message"]]


def test_reset_by_peer_is_not_logged_outside_debug_mode(loop, errors, caplog):
    protocol = Recorder(loop)

    async def main():
        server, raw = await serve_one(loop, protocol)
        try:
            linger_zero(raw)
            raw.close()
            return await protocol.lost
        finally:
            server.close()

    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        exc = run(loop, main())
    assert isinstance(exc, ConnectionResetError)
    assert not [r for r in caplog.records if "Fatal" in r.getMessage()]
    assert errors == []


def test_a_write_error_is_logged_at_debug_level_in_debug_mode(loop, errors, caplog):
    loop.set_debug(True)
    protocol = Recorder(loop)

    async def main():
        server, raw = await serve_one(loop, protocol)
        try:
            protocol.transport.pause_reading()
            linger_zero(raw)
            raw.close()
            await asyncio.sleep(0.02)
            # The peer is gone: the first send fails with ECONNRESET or EPIPE.
            for _ in range(3):
                protocol.transport.write(b"x" * 65536)
                await asyncio.sleep(0.01)
                if protocol.lost.done():
                    break
            return await protocol.lost
        finally:
            server.close()

    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        exc = run(loop, main())
    assert isinstance(exc, (ConnectionResetError, BrokenPipeError))
    fatal = [r for r in asyncio_records(caplog, logging.DEBUG) if "Fatal" in r.getMessage()]
    assert len(fatal) == 1
    assert fatal[0].getMessage().endswith(": Fatal write error on socket transport")
    assert fatal[0].exc_info[1] is exc
    assert errors == []


def test_data_received_raising_is_a_fatal_error_for_the_exception_handler(loop, errors):
    class Failing(Recorder):
        def data_received(self, data):
            raise ValueError("cannot take it")

    protocol = Failing(loop)

    async def main():
        server, raw = await serve_one(loop, protocol)
        try:
            raw.send(b"boom")
            exc = await protocol.lost
            await asyncio.sleep(0.01)
            peer_sees = raw.recv(10)
            return exc, peer_sees
        finally:
            raw.close()
            server.close()

    exc, peer_sees = run(loop, main())
    assert peer_sees == b""
    assert isinstance(exc, ValueError)
    assert len(errors) == 1
    context = errors[0]
    assert set(context) == {"message", "exception", "transport", "protocol"}
    assert context["message"] == "Fatal error: protocol.data_received() call failed."
    assert context["exception"] is exc
    assert context["transport"] is protocol.transport
    assert context["protocol"] is protocol


# ----------------------------------------------- flow-control callbacks


class FailingFlowControl(Recorder):
    def __init__(self, loop, fail_in):
        super().__init__(loop)
        self.fail_in = fail_in
        self.calls = []

    def pause_writing(self):
        self.calls.append("pause")
        if self.fail_in == "pause_writing":
            raise ValueError("pause failed")

    def resume_writing(self):
        self.calls.append("resume")
        if self.fail_in == "resume_writing":
            raise ValueError("resume failed")


@pytest.mark.parametrize("fail_in", ["pause_writing", "resume_writing"])
def test_a_failing_flow_control_callback_is_reported_and_the_transport_keeps_working(
    loop, errors, fail_in
):
    protocol = FailingFlowControl(loop, fail_in)
    payload = b"y" * (4 << 20)

    async def main():
        server, raw = await serve_one(loop, protocol)
        try:
            transport = protocol.transport
            transport.set_write_buffer_limits(high=1024)
            transport.write(payload)
            assert protocol.calls == ["pause"]
            got = bytearray()
            while len(got) < len(payload):
                got += await loop.sock_recv(raw, 1 << 20)
            await until(lambda: transport.get_write_buffer_size() == 0)
            await asyncio.sleep(0.01)
            transport.write(b"after")
            while not got.endswith(b"after"):
                got += await loop.sock_recv(raw, 100)
            closing = transport.is_closing()
            transport.close()
            await protocol.lost
            return bytes(got), closing
        finally:
            raw.close()
            server.close()

    got, closing = run(loop, main())
    assert got == payload + b"after"
    assert closing is False
    assert protocol.calls == ["pause", "resume"]
    assert len(errors) == 1
    context = errors[0]
    assert context["message"] == f"protocol.{fail_in}() failed"
    assert isinstance(context["exception"], ValueError)
    assert context["transport"] is protocol.transport
    assert context["protocol"] is protocol


# ------------------------------------------- writes after connection lost


@pytest.mark.parametrize("writes, warnings", [(4, 0), (5, 1), (7, 3)])
def test_writes_after_the_connection_was_lost_warn_from_the_fifth_on(
    loop, caplog, writes, warnings
):
    protocol = Recorder(loop)

    async def main():
        server, raw = await serve_one(loop, protocol)
        try:
            protocol.transport.abort()
            await protocol.lost
            with caplog.at_level(logging.DEBUG, logger="asyncio"):
                for _ in range(writes):
                    protocol.transport.write(b"lost")
            return protocol.transport.get_write_buffer_size()
        finally:
            raw.close()
            server.close()

    bufsize = run(loop, main())
    assert bufsize == 0
    logged = [r for r in caplog.records if r.name == "asyncio"]
    assert [(r.levelno, r.getMessage()) for r in logged] == [
        (logging.WARNING, "socket.send() raised exception.")
    ] * warnings


def test_writes_after_abort_before_connection_lost_also_count(loop, caplog):
    protocol = Recorder(loop)

    async def main():
        server, raw = await serve_one(loop, protocol)
        try:
            protocol.transport.abort()
            with caplog.at_level(logging.DEBUG, logger="asyncio"):
                for _ in range(6):
                    protocol.transport.write(b"lost")
            await protocol.lost
        finally:
            raw.close()
            server.close()

    run(loop, main())
    messages = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert messages == ["socket.send() raised exception."] * 2


def test_empty_writes_after_the_connection_was_lost_are_not_counted(loop, caplog):
    protocol = Recorder(loop)

    async def main():
        server, raw = await serve_one(loop, protocol)
        try:
            protocol.transport.abort()
            await protocol.lost
            with caplog.at_level(logging.DEBUG, logger="asyncio"):
                for _ in range(10):
                    protocol.transport.write(b"")
        finally:
            raw.close()
            server.close()

    run(loop, main())
    assert [r for r in caplog.records if r.name == "asyncio"] == []


# ------------------------------------------------------- debug-mode logs


def test_pause_and_resume_reading_are_logged_in_debug_mode(loop, caplog):
    loop.set_debug(True)
    protocol = Recorder(loop)

    async def main():
        server, raw = await serve_one(loop, protocol)
        try:
            with caplog.at_level(logging.DEBUG, logger="asyncio"):
                protocol.transport.pause_reading()
                protocol.transport.pause_reading()
                protocol.transport.resume_reading()
                protocol.transport.resume_reading()
            protocol.transport.close()
            await protocol.lost
        finally:
            raw.close()
            server.close()

    run(loop, main())
    logged = [r for r in asyncio_records(caplog, logging.DEBUG) if "reading" in r.getMessage()]
    assert [r.msg for r in logged] == ["%r pauses reading", "%r resumes reading"]
    assert all(r.args == (protocol.transport,) for r in logged)


def test_pause_and_resume_reading_are_not_logged_outside_debug_mode(loop, caplog):
    protocol = Recorder(loop)

    async def main():
        server, raw = await serve_one(loop, protocol)
        try:
            with caplog.at_level(logging.DEBUG, logger="asyncio"):
                protocol.transport.pause_reading()
                protocol.transport.resume_reading()
            protocol.transport.close()
            await protocol.lost
        finally:
            raw.close()
            server.close()

    run(loop, main())
    assert [r for r in caplog.records if r.name == "asyncio"] == []


@pytest.mark.parametrize("debug", [True, False], ids=["debug", "no-debug"])
def test_eof_is_logged_only_in_debug_mode(loop, caplog, debug):
    loop.set_debug(debug)
    protocol = Recorder(loop)

    async def main():
        server, raw = await serve_one(loop, protocol)
        try:
            with caplog.at_level(logging.DEBUG, logger="asyncio"):
                raw.shutdown(socket.SHUT_WR)
                await protocol.eof
                await protocol.lost
        finally:
            raw.close()
            server.close()

    run(loop, main())
    logged = [r for r in caplog.records if r.name == "asyncio" and "EOF" in r.getMessage()]
    if debug:
        assert len(logged) == 1
        assert logged[0].levelno == logging.DEBUG
        assert logged[0].msg == "%r received EOF"
        assert logged[0].args == (protocol.transport,)
    else:
        assert logged == []
