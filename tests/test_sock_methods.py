"""The loop's low-level socket methods (``sock_*``) on real sockets."""

import asyncio
import errno
import hashlib
import os
import socket
import tempfile

import pytest

from socket_helpers import run


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    yield sock
    sock.close()


@pytest.fixture
def tcp_pair():
    """Two connected non-blocking TCP sockets."""
    lsock = socket.create_server(("127.0.0.1", 0))
    a = socket.create_connection(lsock.getsockname())
    b, _ = lsock.accept()
    lsock.close()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def udp_pair():
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


async def recv_exactly(loop, sock, n):
    got = bytearray()
    while len(got) < n:
        data = await loop.sock_recv(sock, n - len(got))
        if not data:
            break
        got += data
    return bytes(got)


# ------------------------------------------------------------ receiving


def test_sock_recv_waits_for_data(loop, tcp_pair):
    a, b = tcp_pair

    async def main():
        task = loop.create_task(loop.sock_recv(a, 100))
        await asyncio.sleep(0.01)
        pending = not task.done()
        b.send(b"arrived later")
        return pending, await task

    assert run(loop, main()) == (True, b"arrived later")


def test_sock_recv_returns_at_most_n_bytes(loop, tcp_pair):
    a, b = tcp_pair
    b.send(b"0123456789")

    async def main():
        await asyncio.sleep(0.01)
        return await loop.sock_recv(a, 4), await loop.sock_recv(a, 100)

    assert run(loop, main()) == (b"0123", b"456789")


class Five:
    def __index__(self):
        return 5


def test_sock_recv_takes_a_size_with_an_index_method(loop, tcp_pair):
    a, b = tcp_pair
    b.sendall(b"0123456789")
    assert run(loop, loop.sock_recv(a, Five())) == b"01234"


def test_sock_recv_returns_empty_bytes_at_eof(loop, tcp_pair):
    a, b = tcp_pair
    b.shutdown(socket.SHUT_WR)

    async def main():
        return await loop.sock_recv(a, 100)

    assert run(loop, main()) == b""


def test_sock_recv_into_fills_the_buffer_and_returns_the_count(loop, tcp_pair):
    a, b = tcp_pair
    buf = bytearray(16)

    async def main():
        task = loop.create_task(loop.sock_recv_into(a, buf))
        await asyncio.sleep(0.01)
        b.send(b"into the buffer")
        return await task

    n = run(loop, main())
    assert n == 15
    assert bytes(buf[:n]) == b"into the buffer"


def test_sock_recv_into_a_memoryview_slice(loop, tcp_pair):
    a, b = tcp_pair
    buf = bytearray(b"........")
    b.send(b"abcdef")

    async def main():
        return await loop.sock_recv_into(a, memoryview(buf)[2:5])

    assert run(loop, main()) == 3
    assert buf == bytearray(b"..abc...")


def test_sock_recv_cancelled_then_the_socket_is_usable_again(loop, tcp_pair):
    a, b = tcp_pair

    async def main():
        task = loop.create_task(loop.sock_recv(a, 100))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        b.send(b"after cancel")
        return task.cancelled(), await loop.sock_recv(a, 100)

    assert run(loop, main()) == (True, b"after cancel")


@pytest.mark.parametrize(
    "call, remove",
    [
        (lambda loop, a: loop.sock_recv(a, 100), "remove_reader"),
        # The peer reads nothing, so 16 MiB stays pending.
        (lambda loop, a: loop.sock_sendall(a, b"x" * (16 * 1024 * 1024)), "remove_writer"),
    ],
    ids=["sock_recv", "sock_sendall"],
)
def test_cancelled_sock_call_stops_watching_the_socket(loop, tcp_pair, call, remove):
    a, b = tcp_pair

    async def main():
        task = loop.create_task(call(loop, a))
        await asyncio.sleep(0.01)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        return getattr(loop, remove)(a)

    assert run(loop, main()) is False


def test_sock_recv_with_wait_for_timeout_loses_no_data(loop, tcp_pair):
    a, b = tcp_pair

    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(loop.sock_recv(a, 100), 0.02)
        b.send(b"kept")
        return await loop.sock_recv(a, 100)

    assert run(loop, main()) == b"kept"


def test_sock_recvfrom_returns_data_and_sender_address(loop, udp_pair):
    a, b = udp_pair

    async def main():
        task = loop.create_task(loop.sock_recvfrom(a, 100))
        await asyncio.sleep(0.01)
        b.sendto(b"datagram", a.getsockname())
        return await task

    assert run(loop, main()) == (b"datagram", b.getsockname())


def test_sock_recvfrom_into_fills_the_buffer_and_returns_count_and_address(loop, udp_pair):
    a, b = udp_pair
    buf = bytearray(32)

    async def main():
        b.sendto(b"first", a.getsockname())
        b.sendto(b"second datagram", a.getsockname())
        first = await loop.sock_recvfrom_into(a, buf)
        copy = bytes(buf[:first[0]])
        second = await loop.sock_recvfrom_into(a, buf, 6)
        return first, copy, second, bytes(buf[:6])

    first, copy, second, second_copy = run(loop, main())
    assert first == (5, b.getsockname())
    assert copy == b"first"
    assert second == (6, b.getsockname())  # truncated to nbytes
    assert second_copy == b"second"


def test_sock_sendto_sends_a_datagram_and_returns_its_size(loop, udp_pair):
    a, b = udp_pair

    async def main():
        n = await loop.sock_sendto(a, b"to b", b.getsockname())
        return n, await loop.sock_recvfrom(b, 100)

    assert run(loop, main()) == (4, (b"to b", a.getsockname()))


# ------------------------------------------------------------ sending


def test_sock_sendall_sends_16_mib_intact(loop, tcp_pair):
    a, b = tcp_pair
    payload = os.urandom(16 * 1024 * 1024)

    async def main():
        send = loop.create_task(loop.sock_sendall(a, payload))
        got = await recv_exactly(loop, b, len(payload))
        return await send, got

    result, got = run(loop, main())
    assert result is None
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()


def test_sock_sendall_accepts_bytearray_and_memoryview(loop, tcp_pair):
    a, b = tcp_pair

    async def main():
        await loop.sock_sendall(a, bytearray(b"ab"))
        await loop.sock_sendall(a, memoryview(b"xcdx")[1:3])
        await loop.sock_sendall(a, b"")
        return await recv_exactly(loop, b, 4)

    assert run(loop, main()) == b"abcd"


def test_sock_sendall_to_a_reset_peer_raises(loop, tcp_pair):
    a, b = tcp_pair
    b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    b.close()

    async def main():
        await asyncio.sleep(0.01)
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            for _ in range(10):
                await loop.sock_sendall(a, b"x" * 65536)

    run(loop, main())


# ------------------------------------------------------------ connect, accept


def test_sock_connect_and_sock_accept_make_a_connection(loop, listener):
    async def main():
        client = socket.socket()
        client.setblocking(False)
        with client:
            accept = loop.create_task(loop.sock_accept(listener))
            result = await loop.sock_connect(client, listener.getsockname())
            conn, addr = await accept
            with conn:
                await loop.sock_sendall(client, b"hi")
                return (result, addr == client.getsockname(), conn.getblocking(),
                        await loop.sock_recv(conn, 10))

    assert run(loop, main()) == (None, True, False, b"hi")


def test_sock_accept_waits_for_a_client(loop, listener):
    async def main():
        accept = loop.create_task(loop.sock_accept(listener))
        await asyncio.sleep(0.01)
        pending = not accept.done()
        client = socket.create_connection(listener.getsockname())
        conn, _ = await accept
        conn.close()
        client.close()
        return pending

    assert run(loop, main()) is True


def test_sock_accept_cancelled_then_the_listener_is_usable_again(loop, listener):
    async def main():
        accept = loop.create_task(loop.sock_accept(listener))
        await asyncio.sleep(0.01)
        accept.cancel()
        with pytest.raises(asyncio.CancelledError):
            await accept
        client = socket.create_connection(listener.getsockname())
        conn, addr = await loop.sock_accept(listener)
        result = addr == client.getsockname()
        conn.close()
        client.close()
        return result

    assert run(loop, main()) is True


def test_sock_connect_resolves_a_host_name(loop, listener):
    async def main():
        client = socket.socket()
        client.setblocking(False)
        with client:
            await loop.sock_connect(client, ("localhost", listener.getsockname()[1]))
            return client.getpeername() == listener.getsockname()

    assert run(loop, main()) is True


def test_sock_connect_to_a_closed_port_raises_connection_refused(loop):
    bound = socket.socket()
    bound.bind(("127.0.0.1", 0))
    addr = bound.getsockname()

    async def main():
        client = socket.socket()
        client.setblocking(False)
        with client:
            with pytest.raises(ConnectionRefusedError) as info:
                await loop.sock_connect(client, addr)
            return info.value.errno, str(info.value)

    try:
        err, message = run(loop, main())
    finally:
        bound.close()
    assert err == errno.ECONNREFUSED
    assert message == f"[Errno {errno.ECONNREFUSED}] Connect call failed {addr}"


def test_sock_connect_on_a_unix_socket(loop):
    directory = tempfile.mkdtemp(prefix="zl-")
    path = os.path.join(directory, "s.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()
    server.setblocking(False)

    async def main():
        client = socket.socket(socket.AF_UNIX)
        client.setblocking(False)
        with client:
            await loop.sock_connect(client, path)
            conn, _ = await loop.sock_accept(server)
            with conn:
                await loop.sock_sendall(client, b"unix")
                return await loop.sock_recv(conn, 10)

    try:
        assert run(loop, main()) == b"unix"
    finally:
        server.close()
        os.unlink(path)
        os.rmdir(directory)


# ------------------------------------------------------------ sendfile


@pytest.fixture
def data_file(tmp_path):
    content = os.urandom(2 * 1024 * 1024 + 123)
    path = tmp_path / "data.bin"
    path.write_bytes(content)
    return path, content


def test_sock_sendfile_sends_the_whole_file_and_advances_its_position(loop, tcp_pair, data_file):
    a, b = tcp_pair
    path, content = data_file

    async def main():
        with open(path, "rb") as f:
            receive = loop.create_task(recv_exactly(loop, b, len(content)))
            sent = await loop.sock_sendfile(a, f)
            return sent, f.tell(), await receive

    sent, position, got = run(loop, main())
    assert sent == len(content)
    assert position == len(content)
    assert got == content


def test_sock_sendfile_with_offset_and_count_sends_that_slice(loop, tcp_pair, data_file):
    a, b = tcp_pair
    path, content = data_file

    async def main():
        with open(path, "rb") as f:
            receive = loop.create_task(recv_exactly(loop, b, 500000))
            sent = await loop.sock_sendfile(a, f, offset=1000, count=500000)
            position = f.tell()
            a.shutdown(socket.SHUT_WR)
            got = await receive
            extra = await loop.sock_recv(b, 10)
            return sent, position, got, extra

    sent, position, got, extra = run(loop, main())
    assert sent == 500000
    assert position == 501000
    assert got == content[1000:501000]
    assert extra == b""


def test_sock_sendfile_with_a_count_past_the_end_stops_at_the_end(loop, tcp_pair, data_file):
    a, b = tcp_pair
    path, content = data_file

    async def main():
        with open(path, "rb") as f:
            receive = loop.create_task(recv_exactly(loop, b, 100))
            sent = await loop.sock_sendfile(a, f, offset=len(content) - 100, count=10000)
            return sent, await receive

    assert run(loop, main()) == (100, content[-100:])


def test_sock_sendfile_without_fallback_still_sends_on_linux(loop, tcp_pair, data_file):
    a, b = tcp_pair
    path, content = data_file

    async def main():
        with open(path, "rb") as f:
            receive = loop.create_task(recv_exactly(loop, b, len(content)))
            sent = await loop.sock_sendfile(a, f, fallback=False)
            return sent, await receive

    sent, got = run(loop, main())
    assert sent == len(content)
    assert got == content


@pytest.mark.parametrize(
    "kwargs, exc_type, message",
    [
        (dict(offset=-1), ValueError, "offset must be a non-negative integer (got -1)"),
        (dict(offset=1.5), TypeError, "offset must be a non-negative integer (got 1.5)"),
        (dict(count=0), ValueError, "count must be a positive integer (got 0)"),
        (dict(count="3"), TypeError, "count must be a positive integer (got '3')"),
    ],
    ids=["negative-offset", "float-offset", "zero-count", "str-count"],
)
def test_sock_sendfile_rejects_bad_offset_and_count(
        loop, tcp_pair, data_file, kwargs, exc_type, message):
    a, b = tcp_pair
    path, _ = data_file

    async def main():
        with open(path, "rb") as f:
            with pytest.raises(exc_type) as info:
                await loop.sock_sendfile(a, f, **kwargs)
            return str(info.value)

    assert run(loop, main()) == message


def test_sock_sendfile_rejects_a_text_mode_file(loop, tcp_pair, tmp_path):
    a, b = tcp_pair
    path = tmp_path / "text.txt"
    path.write_text("text")

    async def main():
        with open(path, "r") as f:
            with pytest.raises(ValueError, match="file should be opened in binary mode"):
                await loop.sock_sendfile(a, f)

    run(loop, main())


def test_sock_sendfile_rejects_a_datagram_socket(loop, udp_pair, data_file):
    a, b = udp_pair
    path, _ = data_file

    async def main():
        with open(path, "rb") as f:
            with pytest.raises(ValueError, match="only SOCK_STREAM type sockets are supported"):
                await loop.sock_sendfile(a, f)

    run(loop, main())


# ------------------------------------------------------------ errors


BLOCKING_CALLS = {
    "sock_recv": lambda loop, s: loop.sock_recv(s, 1),
    "sock_recv_into": lambda loop, s: loop.sock_recv_into(s, bytearray(1)),
    "sock_recvfrom": lambda loop, s: loop.sock_recvfrom(s, 1),
    "sock_recvfrom_into": lambda loop, s: loop.sock_recvfrom_into(s, bytearray(1)),
    "sock_sendall": lambda loop, s: loop.sock_sendall(s, b"x"),
    "sock_sendto": lambda loop, s: loop.sock_sendto(s, b"x", ("127.0.0.1", 9)),
    "sock_connect": lambda loop, s: loop.sock_connect(s, ("127.0.0.1", 9)),
    "sock_accept": lambda loop, s: loop.sock_accept(s),
}


@pytest.mark.parametrize("method", sorted(BLOCKING_CALLS))
def test_sock_methods_reject_a_blocking_socket_in_debug_mode(loop, method):
    loop.set_debug(True)

    async def main():
        with socket.socket() as sock:
            assert sock.getblocking()
            with pytest.raises(ValueError) as info:
                await BLOCKING_CALLS[method](loop, sock)
            return str(info.value)

    assert run(loop, main()) == "the socket must be non-blocking"


def test_sock_sendfile_rejects_a_blocking_socket_in_debug_mode(loop, data_file):
    loop.set_debug(True)
    path, _ = data_file

    async def main():
        with socket.socket() as sock, open(path, "rb") as f:
            with pytest.raises(ValueError) as info:
                await loop.sock_sendfile(sock, f)
            return str(info.value)

    assert run(loop, main()) == "the socket must be non-blocking"


def test_sock_recv_returns_more_than_a_transport_read_when_asked(loop):
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    queued = 0
    try:
        while True:
            queued += b.send(b"x" * 65536)
    except BlockingIOError:
        pass
    try:
        assert queued > 256 * 1024, "the kernel queued too little to tell"
        data = loop.run_until_complete(loop.sock_recv(a, 1 << 20))
        assert len(data) == min(queued, 1 << 20)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("call", [
    lambda loop, s: loop.sock_recv(s, 10),
    lambda loop, s: loop.sock_recv_into(s, bytearray(10)),
    lambda loop, s: loop.sock_sendall(s, b"x"),
    lambda loop, s: loop.sock_recvfrom(s, 10),
    lambda loop, s: loop.sock_recvfrom_into(s, bytearray(10)),
    lambda loop, s: loop.sock_sendto(s, b"x", ("127.0.0.1", 9)),
    lambda loop, s: loop.sock_accept(s),
    lambda loop, s: loop.sock_connect(s, ("127.0.0.1", 9)),
], ids=["recv", "recv_into", "sendall", "recvfrom", "recvfrom_into", "sendto", "accept",
        "connect"])
def test_sock_methods_given_something_that_is_not_a_socket_fail_on_its_missing_methods(
        loop, call):
    with pytest.raises(AttributeError):
        loop.run_until_complete(call(loop, b"not a socket"))



def released_view():
    view = memoryview(bytearray(8))
    view.release()
    return view


@pytest.mark.parametrize("make_buf", [lambda: b"data", lambda: memoryview(bytearray(8))[::2],
                                      released_view],
                         ids=["readonly", "strided", "released"])
def test_sock_recv_into_a_buffer_it_cannot_write_raises_type_error(loop, make_buf):
    a, b = socket.socketpair()
    a.setblocking(False)
    b.send(b"pending")
    try:
        with pytest.raises(TypeError, match="read-write bytes-like object"):
            loop.run_until_complete(loop.sock_recv_into(a, make_buf()))
        assert a.recv(100) == b"pending"
    finally:
        a.close()
        b.close()


def test_sock_recv_into_a_buffer_released_while_waiting_raises_type_error(loop):
    a, b = socket.socketpair()
    a.setblocking(False)
    view = memoryview(bytearray(8))

    async def main():
        pending = asyncio.ensure_future(loop.sock_recv_into(a, view))
        await asyncio.sleep(0.01)
        view.release()
        b.send(b"late")
        with pytest.raises(TypeError, match="read-write bytes-like object"):
            await pending

    try:
        loop.run_until_complete(main())
        assert a.recv(100) == b"late"
    finally:
        a.close()
        b.close()


class SocketWithoutFileno(socket.socket):
    def fileno(self):
        raise OSError(errno.EBADF, "fileno() refused")


def connected_without_fileno():
    a, peer = socket.socketpair()
    return SocketWithoutFileno(fileno=a.detach()), peer


def listening_without_fileno():
    listener = socket.create_server(("127.0.0.1", 0))
    return SocketWithoutFileno(fileno=listener.detach()), None


def unconnected_without_fileno():
    return SocketWithoutFileno(), None


@pytest.mark.parametrize("make_sock, call", [
    (connected_without_fileno, lambda loop, s: loop.sock_recv(s, 10)),
    (connected_without_fileno, lambda loop, s: loop.sock_recv_into(s, bytearray(10))),
    (listening_without_fileno, lambda loop, s: loop.sock_accept(s)),
    (unconnected_without_fileno, lambda loop, s: loop.sock_connect(s, ("127.0.0.1", 9))),
], ids=["recv", "recv_into", "accept", "connect"])
def test_sock_methods_on_a_socket_subclass_call_its_own_fileno(loop, make_sock, call):
    sock, peer = make_sock()
    sock.setblocking(False)
    try:
        with pytest.raises(OSError, match="fileno\\(\\) refused"):
            loop.run_until_complete(call(loop, sock))
    finally:
        socket.socket.close(sock)
        if peer is not None:
            peer.close()
