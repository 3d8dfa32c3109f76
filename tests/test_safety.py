"""Misuse that must never crash the interpreter or move bytes between
connections: foreign ``context=`` objects, and sockets or pipes closed
behind a transport's back whose fd number the kernel hands to the next
connection."""

import array
import asyncio
import errno
import gc
import math
import mmap
import os
import socket

import pytest

from conftest import _run_child
from socket_helpers import run, until

def asyncio_fails_here(reason):
    """Both loops, the stock asyncio half an expected failure: a guarantee
    zloop gives beyond asyncio (``reason`` says how asyncio falls short)."""
    return pytest.mark.parametrize("loop_factory", [
        pytest.param("asyncio", marks=pytest.mark.xfail(strict=True, reason=reason)),
        "zloop",
    ], indirect=True)


# ------------------------------------------------------------ context=


@pytest.mark.parametrize("method", ["call_soon", "call_later", "call_at", "call_soon_threadsafe"])
def test_a_context_that_is_not_a_context_fails_the_callback_not_the_interpreter(
        run_child, method):
    result = run_child(f"""
        import gc
        loop = loop_factory()
        seen = []
        loop.set_exception_handler(lambda lp, ctx: seen.append(type(ctx["exception"]).__name__))
        schedule = getattr(loop, {method!r})
        for bad in (1.5, "s", 7, object(), (), {{}}, [None]):
            if {method!r} == "call_later":
                handle = schedule(0, len, "", context=bad)
            elif {method!r} == "call_at":
                handle = schedule(loop.time(), len, "", context=bad)
            else:
                handle = schedule(len, "", context=bad)
            assert handle._context is bad
            gc.collect()
        loop.run_until_complete(asyncio.sleep(0.01))
        gc.collect()
        loop.close()
        print(seen)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(["AttributeError"] * 7)


def test_a_foreign_context_keeps_its_own_gc_tracking(loop):
    # An untracked object passed as context= stays untracked (only the
    # loop's own copies of the caller's context are its business).
    bare = ()
    assert not gc.is_tracked(bare)
    handle = loop.call_soon(len, "", context=bare)
    gc.collect()
    assert not gc.is_tracked(bare)
    handle.cancel()


# ------------------------------------------------------ reused fd numbers


def off_number(sock, number):
    """``sock``, moved off fd ``number`` if it sits there."""
    if sock.fileno() != number:
        return sock
    moved = sock.dup()
    sock.close()
    return moved


def reuse_number(number, new_sock):
    """Makes ``number`` name ``new_sock``'s connection; returns it as a
    socket object (``new_sock`` is closed)."""
    new_sock = off_number(new_sock, number)
    os.dup2(new_sock.fileno(), number)
    reused = socket.socket(new_sock.family, new_sock.type, fileno=number)
    new_sock.close()
    return reused


class Recording(asyncio.Protocol):
    def __init__(self):
        self.received = []
        self.lost = None
        self.lost_called = False

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.received.append(data)

    def eof_received(self):
        return True

    def connection_lost(self, exc):
        self.lost_called = True
        self.lost = exc


def new_pair_on_number(number, *args):
    """A connected pair whose first socket holds fd ``number``."""
    first, second = socket.socketpair(*args)
    second = off_number(second, number)
    return reuse_number(number, first), second


def test_writes_after_the_socket_closed_behind_the_transport_fail_with_ebadf(loop):
    a, a_peer = socket.socketpair()
    transport, proto = run(loop, loop.create_unix_connection(Recording, sock=a))
    number = a.fileno()
    a.close()
    b, b_peer = new_pair_on_number(number)
    b_peer.setblocking(False)
    try:
        transport.write(b"SECRET-FOR-A")
        run(loop, until(lambda: proto.lost_called))
        assert isinstance(proto.lost, OSError)
        assert proto.lost.errno == errno.EBADF
        with pytest.raises(BlockingIOError):
            b_peer.recv(100)
    finally:
        transport.abort()
        for s in (b, b_peer, a_peer):
            s.close()


def test_a_transport_never_reads_the_connection_that_reused_its_number(loop):
    a, a_peer = socket.socketpair()
    transport, proto = run(loop, loop.create_unix_connection(Recording, sock=a))
    transport.pause_reading()
    number = a.fileno()
    a.close()
    b, b_peer = new_pair_on_number(number)
    b.setblocking(False)
    try:
        b_peer.sendall(b"FOR-B")
        try:
            transport.resume_reading()
        except OSError as exc:  # zloop refuses to watch a number it lost
            assert exc.errno == errno.EBADF
        run(loop, asyncio.sleep(0.05))
        assert proto.received == []
        assert b.recv(100) == b"FOR-B"
    finally:
        transport.abort()
        for s in (b, b_peer, a_peer):
            s.close()


def test_a_datagram_transport_never_sends_on_a_reused_number(loop):
    a, a_peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    transport, proto = run(loop, loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, sock=a))
    number = a.fileno()
    a.close()
    b, b_peer = new_pair_on_number(number, socket.AF_UNIX, socket.SOCK_DGRAM)
    b_peer.setblocking(False)
    try:
        transport.sendto(b"SECRET-FOR-A")
        run(loop, asyncio.sleep(0.02))
        with pytest.raises(BlockingIOError):
            b_peer.recv(100)
    finally:
        transport.abort()
        for s in (b, b_peer, a_peer):
            s.close()


@asyncio_fails_here("asyncio trusts its selector's stale key for the number: the new reader is never woken")
def test_a_transport_on_a_reused_number_is_served_despite_a_stale_reader(loop):
    a, a_peer = socket.socketpair()
    stale = []
    loop.add_reader(a.fileno(), stale.append, "stale")
    number = a.fileno()
    a.close()  # without remove_reader: the kernel forgets, the loop may not
    b, b_peer = new_pair_on_number(number)
    try:
        transport, proto = run(loop, loop.connect_accepted_socket(Recording, b))
        b_peer.sendall(b"FOR-B")
        run(loop, until(lambda: proto.received, timeout=2))
        assert proto.received == [b"FOR-B"]
        assert stale == []
        transport.close()
    finally:
        b_peer.close()
        a_peer.close()


@asyncio_fails_here("asyncio trusts its selector's stale key for the number: the new reader is never woken")
def test_a_pending_sock_recv_never_receives_the_data_of_a_reused_number(loop):
    a, a_peer = socket.socketpair()
    a.setblocking(False)

    async def scenario():
        pending = asyncio.ensure_future(loop.sock_recv(a, 100))
        await asyncio.sleep(0.01)
        number = a.fileno()
        a.close()
        b, b_peer = new_pair_on_number(number)
        b.setblocking(False)
        got = asyncio.get_running_loop().create_future()
        loop.add_reader(b, lambda: got.done() or got.set_result(b.recv(100)))
        b_peer.sendall(b"FOR-B")
        try:
            assert await asyncio.wait_for(got, 2) == b"FOR-B"
            assert not pending.done()
        finally:
            loop.remove_reader(b)
            pending.cancel()
            b.close()
            b_peer.close()

    try:
        run(loop, scenario())
    finally:
        a_peer.close()


def pipe_on_number(number, end):
    """A new pipe (read fd, write fd) whose ``end`` (0: read, 1: write)
    takes fd ``number``."""
    fds = list(os.pipe())
    for i in (0, 1):
        if fds[i] == number and i != end:
            fds[i] = os.dup(fds[i])
    if fds[end] != number:
        os.dup2(fds[end], number)
        os.close(fds[end])
        fds[end] = number
    return fds


@asyncio_fails_here("asyncio's pipe transports write to the bare fd number")
def test_a_write_pipe_never_writes_to_a_reused_number(loop):
    r, w = os.pipe()
    pipe = open(w, "wb", buffering=0)
    transport, proto = run(loop, loop.connect_write_pipe(Recording, pipe))
    number = pipe.fileno()
    pipe.close()
    new_r, new_w = pipe_on_number(number, 1)
    os.set_blocking(new_r, False)
    try:
        transport.write(b"SECRET-FOR-A")
        run(loop, asyncio.sleep(0.02))
        with pytest.raises(BlockingIOError):
            os.read(new_r, 100)
    finally:
        transport.close()
        os.close(new_r)
        os.close(new_w)
        os.close(r)


@asyncio_fails_here("asyncio's pipe transports read the bare fd number")
def test_a_read_pipe_never_reads_a_reused_number(loop):
    r, w = os.pipe()
    pipe = open(r, "rb", buffering=0)
    transport, proto = run(loop, loop.connect_read_pipe(Recording, pipe))
    transport.pause_reading()
    number = pipe.fileno()
    pipe.close()
    _, new_w = pipe_on_number(number, 0)
    try:
        os.write(new_w, b"FOR-B")
        try:
            transport.resume_reading()
        except OSError as exc:
            assert exc.errno == errno.EBADF
        run(loop, asyncio.sleep(0.02))
        assert proto.received == []
        assert os.read(number, 100) == b"FOR-B"
    finally:
        transport.close()
        os.close(number)
        os.close(new_w)
        os.close(w)


def test_native_fd_checks_read_the_objects_without_calling_them(zloop):
    from zloop import _zloop

    assert _zloop._fd_fields_recognised()


# ------------------------------------------------------------------ fork

FORK_SCENARIO = """
import socket

class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
    def data_received(self, data):
        self.transport.write(data)

async def round_trip(pair, payload):
    reader, writer = pair
    writer.write(payload)
    got = await asyncio.wait_for(reader.readexactly(len(payload)), 5)
    return got == payload

async def serve():
    server = await loop.create_server(Echo, "127.0.0.1", 0)
    before = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    assert await round_trip(before, b"before")
    return server, before

async def after_the_child(pid, server, before):
    try:
        # An executor thread's result reaches us through the loop's waker.
        _, status = await asyncio.wait_for(loop.run_in_executor(None, os.waitpid, pid, 0), 5)
        assert os.waitstatus_to_exitcode(status) == 7, status
        assert await round_trip(before, b"after")
        port = server.sockets[0].getsockname()[1]
        assert await round_trip(await asyncio.open_connection("127.0.0.1", port), b"new")
        woken = loop.create_future()
        threading.Timer(0.05, loop.call_soon_threadsafe, (woken.set_result, 1)).start()
        assert await asyncio.wait_for(woken, 5) == 1
        print("SERVING")
    except asyncio.TimeoutError:
        # Shutting the executor down would hang on the same lost wake-ups.
        print("HUNG", flush=True)
        os.kill(pid, signal.SIGKILL)
        os._exit(1)
    finally:
        before[1].close()
        server.close()

loop = loop_factory()
server, before = loop.run_until_complete(serve())
pid = os.fork()
if pid == 0:
    # The child runs the loop it inherited (its server and connections
    # registered), closes it, then runs a fresh loop of its own.
    signal.alarm(10)  # never outlive the test, whatever hangs
    loop.run_until_complete(asyncio.sleep(0.05))
    loop.close()
    fresh = loop_factory()
    fresh_loop_works = fresh.run_until_complete(asyncio.sleep(0.01, 42)) == 42
    fresh.close()
    os._exit(7 if fresh_loop_works else 3)
loop.run_until_complete(after_the_child(pid, server, before))
loop.close()
"""


def test_a_fork_child_closing_its_inherited_loop_leaves_the_parent_serving(zloop):
    # zloop only: stock asyncio's close() in the child unregisters the
    # self-pipe it shares with the parent, whose wake-ups are then lost (how
    # long the parent hangs, or whether the child's poll races it for them,
    # differs between versions).
    result = _run_child("zloop", FORK_SCENARIO, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["SERVING"], result.stdout + result.stderr


# ------------------------------------------------- sock_* edge arguments


def test_sock_recv_of_zero_bytes_returns_at_once(loop):
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        assert run(loop, loop.sock_recv(a, 0), timeout=2) == b""
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("empty", [bytearray, lambda: memoryview(bytearray(4))[2:2]],
                         ids=["bytearray", "memoryview"])
def test_sock_recv_into_an_empty_buffer_returns_zero_at_once(loop, empty):
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        assert run(loop, loop.sock_recv_into(a, empty()), timeout=2) == 0
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("call", [
    lambda loop, s: loop.sock_recv(s, 5),
    lambda loop, s: loop.sock_recv_into(s, bytearray(5)),
    lambda loop, s: loop.sock_sendall(s, b"x"),
    lambda loop, s: loop.sock_sendall(s, b""),
], ids=["recv", "recv_into", "sendall", "sendall_empty"])
def test_sock_methods_on_a_closed_socket_raise_ebadf(loop, call):
    a, b = socket.socketpair()
    a.setblocking(False)
    a.close()
    try:
        with pytest.raises(OSError) as caught:
            run(loop, call(loop, a), timeout=2)
        assert caught.value.errno == errno.EBADF
    finally:
        b.close()


def test_sock_recv_of_zero_bytes_from_a_closed_socket_is_empty(loop):
    a, b = socket.socketpair()
    a.setblocking(False)
    a.close()
    try:
        assert run(loop, loop.sock_recv(a, 0), timeout=2) == b""
    finally:
        b.close()


@pytest.mark.parametrize("name", [
    "_sock_recv_native", "_sock_recv_into_native", "_sock_sendall_native",
    "_sock_connect_native", "_sock_call_native"])
@pytest.mark.parametrize("count", [0, 1, 3, 6])
def test_native_sock_halves_reject_a_wrong_argument_count_with_type_error(zloop, name, count):
    loop = zloop.new_event_loop()
    a, b = socket.socketpair()
    try:
        arity = 4 if name == "_sock_call_native" else 2
        if count == arity:
            count += 1
        with pytest.raises(TypeError, match=rf"^{name}\(\) "):
            getattr(loop, name)(*[a] * count)
    finally:
        a.close()
        b.close()
        loop.close()


# ------------------------------------------- transports after loop.close()


def stream_transport(loop):
    a, b = socket.socketpair()
    transport, _ = run(loop, loop.create_unix_connection(asyncio.Protocol, sock=a))
    return transport, b


def datagram_transport(loop):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    transport, _ = run(loop, loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=a))
    return transport, b


def read_pipe_transport(loop):
    r, w = os.pipe()
    transport, _ = run(loop, loop.connect_read_pipe(asyncio.Protocol, open(r, "rb", 0)))
    return transport, open(w, "wb", 0)


@pytest.mark.parametrize("make", [stream_transport, datagram_transport, read_pipe_transport])
def test_resume_reading_after_the_loop_closed_raises_event_loop_is_closed(loop, make):
    transport, other_end = make(loop)
    transport.pause_reading()
    loop.close()
    try:
        with pytest.raises(RuntimeError, match="Event loop is closed"):
            transport.resume_reading()
    finally:
        other_end.close()


@pytest.mark.parametrize("make", [stream_transport, datagram_transport, read_pipe_transport])
def test_close_after_the_loop_closed_raises_event_loop_is_closed(loop, make):
    transport, other_end = make(loop)
    loop.close()
    try:
        with pytest.raises(RuntimeError, match="Event loop is closed"):
            transport.close()
    finally:
        other_end.close()


# --------------------------------------------- get_buffer() returning junk

JUNK_BUFFERS = {
    # get_buffer()'s own failure: len() of it fails, or it is empty.
    "int": (lambda: 42, "Fatal error: protocol.get_buffer() call failed.", TypeError),
    "none": (lambda: None, "Fatal error: protocol.get_buffer() call failed.", TypeError),
    "empty": (bytearray, "Fatal error: protocol.get_buffer() call failed.", RuntimeError),
    # A buffer sock.recv_into() refuses: a read error.
    "bytes": (lambda: b"abc", "Fatal read error on socket transport", TypeError),
    "readonly": (lambda: memoryview(b"abc"), "Fatal read error on socket transport", TypeError),
    "strided": (lambda: memoryview(bytearray(10))[::2],
                "Fatal read error on socket transport", TypeError),
}


@pytest.mark.parametrize("junk", sorted(JUNK_BUFFERS))
def test_an_unusable_get_buffer_result_is_reported_with_its_own_error(loop, errors, junk):
    make, message, exc_type = JUNK_BUFFERS[junk]

    class Junk(asyncio.BufferedProtocol):
        lost = None

        def get_buffer(self, sizehint):
            return make()

        def buffer_updated(self, nbytes):
            raise AssertionError("no data may be delivered")

        def connection_lost(self, exc):
            self.lost = exc

    a, b = socket.socketpair()
    transport, proto = run(loop, loop.create_unix_connection(Junk, sock=a))
    try:
        b.send(b"hello")
        run(loop, until(lambda: proto.lost is not None))
        assert [(c["message"], type(c["exception"])) for c in errors] == [(message, exc_type)]
        assert type(proto.lost) is exc_type
    finally:
        transport.close()
        b.close()


@pytest.mark.parametrize("make", [lambda: array.array("d", [0.0]), lambda: mmap.mmap(-1, 16)],
                         ids=["array", "mmap"])
def test_any_writable_buffer_from_get_buffer_receives_data(loop, make):
    class Filled(asyncio.BufferedProtocol):
        def __init__(self):
            self.buffer = make()
            self.count = 0

        def get_buffer(self, sizehint):
            return self.buffer

        def buffer_updated(self, nbytes):
            self.count += nbytes

    a, b = socket.socketpair()
    transport, proto = run(loop, loop.create_unix_connection(Filled, sock=a))
    try:
        b.send(b"hello")
        run(loop, until(lambda: proto.count == 5))
        assert bytes(memoryview(proto.buffer).cast("B")[:5]) == b"hello"
    finally:
        transport.close()
        b.close()


# ---------------------------------------------------- NaN and inf timers


def test_a_lone_nan_timer_fires_at_the_next_iteration(loop):
    fired = []
    loop.call_later(math.nan, fired.append, "nan")
    run(loop, asyncio.sleep(0))
    assert fired == ["nan"]


def test_an_infinite_timer_never_fires_nor_holds_others_back(loop):
    fired = []
    loop.call_later(math.inf, fired.append, "inf")
    loop.call_later(0.01, fired.append, "a")
    loop.call_later(0.02, fired.append, "b")
    run(loop, asyncio.sleep(0.05))
    assert fired == ["a", "b"]


@asyncio_fails_here("NaN breaks heapq's ordering: asyncio fires timers out of order")
def test_nan_timers_fire_at_once_and_leave_the_others_in_order(loop):
    fired = []
    loop.call_later(0.03, fired.append, "c")
    loop.call_later(math.nan, fired.append, "nan1")
    loop.call_later(0.01, fired.append, "a")
    loop.call_later(math.inf, fired.append, "inf")
    loop.call_later(0.02, fired.append, "b")
    loop.call_at(math.nan, fired.append, "nan2")
    loop.call_later(0.04, fired.append, "d")
    run(loop, asyncio.sleep(0))
    assert fired == ["nan1", "nan2"]
    run(loop, asyncio.sleep(0.06))
    assert fired == ["nan1", "nan2", "a", "b", "c", "d"]



# --------------------------------------- write buffers and water marks


def test_writing_a_non_contiguous_view_is_a_fatal_write_error(loop, errors):
    a, b = socket.socketpair()
    transport, proto = run(loop, loop.create_unix_connection(Recording, sock=a))
    try:
        transport.write(memoryview(b"abcdefgh")[::2])  # does not raise
        run(loop, until(lambda: proto.lost_called))
        assert type(proto.lost) is BufferError
        assert [c["message"] for c in errors] == ["Fatal write error on socket transport"]
    finally:
        transport.close()
        b.close()


def test_a_write_pipe_given_a_non_contiguous_view_fails_as_a_fatal_write_error(loop, errors):
    r, w = os.pipe()
    transport, proto = run(loop, loop.connect_write_pipe(Recording, open(w, "wb", 0)))
    try:
        transport.write(memoryview(b"abcdefgh")[::2])
        run(loop, until(lambda: proto.lost_called))
        assert type(proto.lost) is BufferError
        assert [c["message"] for c in errors] == ["Fatal write error on pipe transport"]
    finally:
        transport.close()
        os.close(r)


@pytest.mark.parametrize("high, low", [(2**70, None), (1.5, None), (10.5, 2.5), (True, False)],
                         ids=["huge", "float", "floats", "bools"])
def test_write_buffer_limits_take_any_numbers_that_pass_the_high_low_check(
        loop, high, low):
    a, b = socket.socketpair()
    transport, _ = run(loop, loop.create_unix_connection(asyncio.Protocol, sock=a))
    try:
        transport.set_write_buffer_limits(high, low)
    finally:
        transport.close()
        b.close()


async def _open_stream(loop):
    a, b = socket.socketpair()
    transport, _ = await loop.create_unix_connection(asyncio.Protocol, sock=a)
    return transport, b.close


async def _open_datagram(loop):
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    return transport, lambda: None


async def _open_write_pipe(loop):
    r, w = os.pipe()
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, open(w, "wb", 0))
    return transport, lambda: os.close(r)


@pytest.mark.parametrize("opener", [_open_stream, _open_datagram, _open_write_pipe],
                         ids=["stream", "datagram", "write_pipe"])
@pytest.mark.parametrize("high, low, expected", [
    (2**70, None, (2**68, 2**70)), (10.5, None, (2.0, 10.5)), (100, 7.9, (7.9, 100)),
    (True, None, (0, True)),
], ids=["huge", "float", "float_low", "bool"])
def test_get_write_buffer_limits_returns_the_numbers_as_set(loop, opener, high, low, expected):
    transport, cleanup = run(loop, opener(loop))
    try:
        transport.set_write_buffer_limits(high, low)
        limits = transport.get_write_buffer_limits()
        assert limits == expected
        assert [type(x) for x in limits] == [type(x) for x in expected]
    finally:
        transport.close()
        cleanup()


@pytest.mark.parametrize("high, low, error", [
    (math.nan, -1, ValueError), (b"x" * 3, b"x" * 5, ValueError), (-10**100, b"x", TypeError),
    (1, 2, ValueError),
], ids=["nan", "bytes", "mixed", "inverted"])
def test_write_buffer_limits_that_fail_the_high_low_check_raise_its_error(
        loop, high, low, error):
    a, b = socket.socketpair()
    transport, _ = run(loop, loop.create_unix_connection(asyncio.Protocol, sock=a))
    try:
        with pytest.raises(error):
            transport.set_write_buffer_limits(high, low)
    finally:
        transport.close()
        b.close()


def test_writelines_of_something_falsy_writes_nothing_from_3_12(loop):
    import sys

    a, b = socket.socketpair()
    transport, _ = run(loop, loop.create_unix_connection(asyncio.Protocol, sock=a))
    try:
        if sys.version_info >= (3, 12):
            transport.writelines(0)
        else:
            with pytest.raises(TypeError):  # 3.11: b"".join(0)
                transport.writelines(0)
    finally:
        transport.close()
        b.close()
