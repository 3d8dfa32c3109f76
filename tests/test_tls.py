"""TLS over loopback TCP with certificates made at test time (trustme):
ssl= on servers and connections, extra info, start_tls on both sides,
handshake timeouts and verification failures."""

import asyncio
import hashlib
import os
import socket
import ssl
import time

import pytest
import trustme

from socket_helpers import TrackedEcho, close_server_side_connections_fixture, run, until


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def server_cert(ca):
    return ca.issue_cert("localhost", "127.0.0.1")


@pytest.fixture
def server_ctx(server_cert):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(ctx)
    return ctx


@pytest.fixture
def client_ctx(ca):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(ctx)
    return ctx


# After each test, close what the server side still holds open and let the
# TLS shutdowns finish, so no transport outlives its loop.
close_server_side_connections = close_server_side_connections_fixture(poll=0.005)


class Echo(TrackedEcho):
    def __init__(self):
        self.transport = None
        self.lost = "not lost"

    def connection_lost(self, exc):
        self.lost = exc
        super().connection_lost(exc)


class Client(asyncio.Protocol):
    def __init__(self, loop):
        self.transport = None
        self.data = bytearray()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.data += data

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result(exc)


class Tracking:
    def __init__(self, cls=Echo):
        self.cls = cls
        self.made = []

    def __call__(self):
        self.made.append(self.cls())
        return self.made[-1]


async def exchange(tr, proto, message=b"secret"):
    tr.write(message)
    await until(lambda: len(proto.data) >= len(message))
    return bytes(proto.data)


def test_tls_echo_round_trip_with_ssl_on_server_and_connection(loop, server_ctx, client_ctx):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=server_ctx)
        try:
            tr, proto = await loop.create_connection(
                lambda: Client(loop), *server.sockets[0].getsockname(), ssl=client_ctx)
            try:
                return await exchange(tr, proto)
            finally:
                tr.close()
        finally:
            server.close()

    assert run(loop, main()) == b"secret"


def test_tls_connection_verifies_the_name_given_as_server_hostname(loop, server_ctx, client_ctx):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=server_ctx)
        try:
            tr, proto = await loop.create_connection(
                lambda: Client(loop), *server.sockets[0].getsockname(),
                ssl=client_ctx, server_hostname="localhost")
            try:
                return (tr.get_extra_info("ssl_object").server_hostname,
                        await exchange(tr, proto))
            finally:
                tr.close()
        finally:
            server.close()

    assert run(loop, main()) == ("localhost", b"secret")


def test_tls_client_extra_info_exposes_context_object_peercert_cipher_compression(
        loop, server_ctx, client_ctx):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=server_ctx)
        try:
            addr = server.sockets[0].getsockname()
            tr, proto = await loop.create_connection(
                lambda: Client(loop), *addr, ssl=client_ctx, server_hostname="localhost")
            try:
                info = {key: tr.get_extra_info(key) for key in (
                    "sslcontext", "ssl_object", "peercert", "cipher", "compression",
                    "peername", "socket")}
                info["socket_peer"] = info["socket"].getpeername()
                return addr, info
            finally:
                tr.close()
        finally:
            server.close()

    addr, info = run(loop, main())
    assert info["sslcontext"] is client_ctx
    assert isinstance(info["ssl_object"], ssl.SSLObject)
    assert ("DNS", "localhost") in info["peercert"]["subjectAltName"]
    assert info["peercert"] == info["ssl_object"].getpeercert()
    name, version, bits = info["cipher"]
    assert info["cipher"] == info["ssl_object"].cipher()
    assert version.startswith("TLSv1.")
    assert bits > 0
    assert info["compression"] is None
    assert info["peername"] == addr
    assert info["socket_peer"] == addr


def test_tls_server_side_extra_info_has_no_peercert_without_client_certificates(
        loop, server_ctx, client_ctx):
    async def main():
        factory = Tracking()
        server = await loop.create_server(factory, "127.0.0.1", 0, ssl=server_ctx)
        try:
            tr, proto = await loop.create_connection(
                lambda: Client(loop), *server.sockets[0].getsockname(), ssl=client_ctx)
            try:
                await exchange(tr, proto)
                accepted = factory.made[0].transport
                return (accepted.get_extra_info("sslcontext") is server_ctx,
                        accepted.get_extra_info("ssl_object").server_side,
                        accepted.get_extra_info("peercert"),
                        accepted.get_extra_info("cipher") == tr.get_extra_info("cipher"))
            finally:
                tr.close()
        finally:
            server.close()

    assert run(loop, main()) == (True, True, None, True)


def test_tls_server_receives_the_client_certificate_when_it_requires_one(
        loop, ca, server_ctx, client_ctx):
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_ctx)
    ca.issue_cert("client.example").configure_cert(client_ctx)

    async def main():
        factory = Tracking()
        server = await loop.create_server(factory, "127.0.0.1", 0, ssl=server_ctx)
        try:
            tr, proto = await loop.create_connection(
                lambda: Client(loop), *server.sockets[0].getsockname(), ssl=client_ctx)
            try:
                await exchange(tr, proto)
                return factory.made[0].transport.get_extra_info("peercert")["subjectAltName"]
            finally:
                tr.close()
        finally:
            server.close()

    assert run(loop, main()) == (("DNS", "client.example"),)


def test_tls_connection_with_a_wrong_hostname_fails_verification(loop, server_ctx, client_ctx):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=server_ctx)
        loop.set_exception_handler(lambda lp, ctx: None)
        try:
            with pytest.raises(ssl.SSLCertVerificationError) as info:
                await loop.create_connection(
                    lambda: Client(loop), *server.sockets[0].getsockname(),
                    ssl=client_ctx, server_hostname="wrong.example")
            return info.value.verify_message
        finally:
            server.close()

    assert run(loop, main()) == "Hostname mismatch, certificate is not valid for 'wrong.example'."


def test_tls_connection_to_a_server_with_an_untrusted_certificate_fails(loop, server_ctx):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=server_ctx)
        loop.set_exception_handler(lambda lp, ctx: None)
        try:
            untrusting = ssl.create_default_context(cafile=None, cadata=trustme.CA().cert_pem.bytes().decode())
            with pytest.raises(ssl.SSLCertVerificationError):
                await loop.create_connection(
                    lambda: Client(loop), *server.sockets[0].getsockname(),
                    ssl=untrusting, server_hostname="localhost")
        finally:
            server.close()

    run(loop, main())


def test_tls_transport_cannot_write_eof(loop, server_ctx, client_ctx):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=server_ctx)
        try:
            tr, proto = await loop.create_connection(
                lambda: Client(loop), *server.sockets[0].getsockname(), ssl=client_ctx)
            try:
                with pytest.raises(NotImplementedError):
                    tr.write_eof()
                return tr.can_write_eof()
            finally:
                tr.close()
        finally:
            server.close()

    assert run(loop, main()) is False


def test_tls_close_is_seen_by_the_server_as_a_clean_connection_lost(loop, server_ctx, client_ctx):
    async def main():
        factory = Tracking()
        server = await loop.create_server(factory, "127.0.0.1", 0, ssl=server_ctx)
        try:
            tr, proto = await loop.create_connection(
                lambda: Client(loop), *server.sockets[0].getsockname(), ssl=client_ctx)
            await exchange(tr, proto)
            tr.close()
            client_exc = await proto.lost
            await until(lambda: factory.made[0].lost != "not lost")
            return client_exc, factory.made[0].lost
        finally:
            server.close()

    assert run(loop, main()) == (None, None)


def test_8_mib_each_way_over_tls_arrive_intact(loop, server_ctx, client_ctx):
    payload = os.urandom(8 * 1024 * 1024)

    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=server_ctx)
        try:
            tr, proto = await loop.create_connection(
                lambda: Client(loop), *server.sockets[0].getsockname(), ssl=client_ctx)
            try:
                tr.write(payload)
                await until(lambda: len(proto.data) >= len(payload), timeout=8)
                return bytes(proto.data)
            finally:
                tr.close()
        finally:
            server.close()

    got = run(loop, main())
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()


def test_tls_streams_round_trip(loop, server_ctx, client_ctx):
    async def handle(reader, writer):
        writer.write((await reader.readline()).upper())
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
        async with server:
            reader, writer = await asyncio.open_connection(
                *server.sockets[0].getsockname(), ssl=client_ctx, server_hostname="localhost")
            writer.write(b"over tls\n")
            reply = await reader.readline()
            peercert = writer.get_extra_info("peercert")
            writer.close()
            await writer.wait_closed()
            return reply, ("DNS", "localhost") in peercert["subjectAltName"]

    assert run(loop, main()) == (b"OVER TLS\n", True)


# ------------------------------------------------------------ start_tls


class StartTlsServer(asyncio.Protocol):
    """Plain text until b"STARTTLS\\n", then TLS echo."""

    def __init__(self, loop, ctx):
        self.loop = loop
        self.ctx = ctx
        self.plain = bytearray()
        self.tls_transport = None
        self.task = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.plain += data
        if self.plain.endswith(b"STARTTLS\n"):
            self.transport.pause_reading()
            self.transport.write(b"GO\n")
            self.task = self.loop.create_task(self.upgrade())

    async def upgrade(self):
        echo = LateEcho()
        self.tls_transport = await self.loop.start_tls(
            self.transport, echo, self.ctx, server_side=True)
        echo.connection_made(self.tls_transport)


class LateEcho(Echo):
    """An echo protocol that may get data before its transport (start_tls
    returns only after the handshake, and the peer may speak first)."""

    pending = b""

    def connection_made(self, transport):
        self.transport = transport
        if self.pending:
            transport.write(self.pending)

    def data_received(self, data):
        if self.transport is None:
            self.pending += data
        else:
            self.transport.write(data)


def test_start_tls_upgrades_a_plain_connection_on_both_sides(loop, server_ctx, client_ctx):
    async def main():
        factory = Tracking(lambda: StartTlsServer(loop, server_ctx))
        server = await loop.create_server(factory, "127.0.0.1", 0)
        try:
            tr, proto = await loop.create_connection(
                lambda: Client(loop), *server.sockets[0].getsockname())
            tr.write(b"hello in clear\nSTARTTLS\n")
            await until(lambda: proto.data == b"GO\n")
            tls_proto = Client(loop)
            tls_tr = await loop.start_tls(tr, tls_proto, client_ctx, server_hostname="localhost")
            try:
                reply = await exchange(tls_tr, tls_proto, b"now encrypted")
                await factory.made[0].task
                server_tls = factory.made[0].tls_transport
                return (reply, bytes(factory.made[0].plain),
                        tls_tr.get_extra_info("sslcontext") is client_ctx,
                        server_tls.get_extra_info("sslcontext") is server_ctx,
                        isinstance(tls_tr.get_extra_info("ssl_object"), ssl.SSLObject),
                        tr.is_closing())
            finally:
                tls_tr.close()
        finally:
            server.close()

    assert run(loop, main()) == (
        b"now encrypted", b"hello in clear\nSTARTTLS\n", True, True, True, False)


def test_stream_writer_start_tls_upgrades_a_stream_connection(loop, server_ctx, client_ctx):
    async def handle(reader, writer):
        assert await reader.readline() == b"STARTTLS\n"
        writer.write(b"GO\n")
        await writer.drain()
        await writer.start_tls(server_ctx)
        writer.write((await reader.readline()).upper())
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
            writer.write(b"STARTTLS\n")
            assert await reader.readline() == b"GO\n"
            await writer.start_tls(client_ctx, server_hostname="localhost")
            writer.write(b"encrypted line\n")
            reply = await reader.readline()
            has_ssl = writer.get_extra_info("ssl_object") is not None
            writer.close()
            await writer.wait_closed()
            return reply, has_ssl

    assert run(loop, main()) == (b"ENCRYPTED LINE\n", True)


# ------------------------------------------------------------ timeouts, arguments


def test_server_side_handshake_times_out_when_the_client_never_speaks_tls(loop, server_ctx):
    async def main():
        factory = Tracking()
        server = await loop.create_server(
            factory, "127.0.0.1", 0, ssl=server_ctx, ssl_handshake_timeout=0.2)
        try:
            sock = socket.socket()
            sock.setblocking(False)
            with sock:
                await loop.sock_connect(sock, server.sockets[0].getsockname())
                started = time.monotonic()
                try:
                    data = await asyncio.wait_for(loop.sock_recv(sock, 100), 3)
                except ConnectionResetError:
                    data = b""
                elapsed = time.monotonic() - started
            return data, elapsed, factory.made
        finally:
            server.close()

    data, elapsed, made = run(loop, main())
    assert data == b""
    assert 0.1 < elapsed < 2.0
    assert made[0].transport is None  # the application never saw a connection


def test_client_side_handshake_timeout_raises_connection_aborted_error(loop, client_ctx):
    async def main():
        lsock = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
        with lsock:
            started = time.monotonic()
            with pytest.raises(ConnectionAbortedError) as info:
                await loop.create_connection(
                    lambda: Client(loop), *lsock.getsockname(), ssl=client_ctx,
                    server_hostname="localhost", ssl_handshake_timeout=0.2)
            return str(info.value), time.monotonic() - started

    message, elapsed = run(loop, main())
    assert message == "SSL handshake is taking longer than 0.2 seconds: aborting the connection"
    assert 0.1 < elapsed < 2.0


def test_ssl_handshake_timeout_without_ssl_raises_value_error(loop):
    async def main():
        with pytest.raises(ValueError, match="ssl_handshake_timeout is only meaningful with ssl"):
            await loop.create_server(Echo, "127.0.0.1", 0, ssl_handshake_timeout=1)
        with pytest.raises(ValueError, match="ssl_handshake_timeout is only meaningful with ssl"):
            await loop.create_connection(Echo, "127.0.0.1", 1, ssl_handshake_timeout=1)

    run(loop, main())


def test_server_hostname_without_ssl_raises_value_error(loop):
    async def main():
        with pytest.raises(ValueError, match="server_hostname is only meaningful with ssl"):
            await loop.create_connection(Echo, "127.0.0.1", 1, server_hostname="localhost")

    run(loop, main())


def test_create_server_with_ssl_true_raises_type_error(loop):
    async def main():
        with pytest.raises(TypeError, match="ssl argument must be an SSLContext or None"):
            await loop.create_server(Echo, "127.0.0.1", 0, ssl=True)

    run(loop, main())


def test_tls_server_keeps_serving_after_a_failed_handshake(loop, server_ctx, client_ctx):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=server_ctx)
        loop.set_exception_handler(lambda lp, ctx: None)
        try:
            addr = server.sockets[0].getsockname()
            raw = socket.create_connection(addr)
            raw.sendall(b"GET / HTTP/1.0\r\n\r\n")  # not a TLS ClientHello
            raw.close()
            tr, proto = await loop.create_connection(lambda: Client(loop), *addr, ssl=client_ctx)
            try:
                return await exchange(tr, proto)
            finally:
                tr.close()
        finally:
            server.close()

    assert run(loop, main()) == b"secret"
