"""Pipe transports: loop.connect_read_pipe / loop.connect_write_pipe over
pipes, sockets and character devices."""

import asyncio
import errno
import gc
import logging
import os
import re
import socket
import tempfile

import pytest

TIMEOUT = 5.0
ONE_MIB = 1024 * 1024
SIXTEEN_MIB = 16 * ONE_MIB


class Reader(asyncio.Protocol):
    """Records what a read pipe transport tells it."""

    def __init__(self, loop, fail_first=False):
        self.loop = loop
        self.fail_first = fail_first
        self.transport = None
        self.events = []
        self.data = bytearray()
        self.received = asyncio.Event()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")

    def data_received(self, data):
        self.data += data
        self.received.set()
        if self.fail_first:
            self.fail_first = False
            raise ZeroDivisionError("protocol failed")

    def eof_received(self):
        self.events.append("eof")

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)


class Writer(asyncio.Protocol):
    """Records what a write pipe transport tells it."""

    def __init__(self, loop, fail_lost=False, fail_pause=False):
        self.loop = loop
        self.fail_lost = fail_lost
        self.fail_pause = fail_pause
        self.transport = None
        self.events = []
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def pause_writing(self):
        self.events.append("pause")
        if self.fail_pause:
            raise ZeroDivisionError("pause failed")

    def resume_writing(self):
        self.events.append("resume")

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)
        if self.fail_lost:
            raise ZeroDivisionError("connection_lost failed")


@pytest.fixture
def pipe_fds():
    """A pipe ``(r, w)``; whichever end a test did not hand over is closed."""
    r, w = os.pipe()
    fds = [r, w]
    yield fds
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _open(fd, mode):
    return os.fdopen(fd, mode, buffering=0)


async def _read_pipe(loop, fd, **kwargs):
    return await loop.connect_read_pipe(lambda: Reader(loop, **kwargs), _open(fd, "rb"))


async def _write_pipe(loop, fd, **kwargs):
    return await loop.connect_write_pipe(lambda: Writer(loop, **kwargs), _open(fd, "wb"))


def _wait(loop, awaitable):
    return loop.run_until_complete(asyncio.wait_for(awaitable, TIMEOUT))


def _drain_fd(fd, limit):
    """Reads what a non-blocking fd has now (up to ``limit`` bytes)."""
    out = bytearray()
    while len(out) < limit:
        try:
            chunk = os.read(fd, limit - len(out))
        except BlockingIOError:
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


async def _read_all_blocking_side(fd, total):
    """Reads ``total`` bytes from a non-blocking fd, yielding to the loop."""
    os.set_blocking(fd, False)
    out = bytearray()
    while len(out) < total:
        out += _drain_fd(fd, total - len(out))
        await asyncio.sleep(0.001)
    return bytes(out)


# ------------------------------------------------------------- reading


def test_read_pipe_delivers_data_then_eof_then_connection_lost(loop, pipe_fds):
    r, w = pipe_fds
    pipe_fds.remove(r)
    transport, proto = _wait(loop, _read_pipe(loop, r))
    os.write(w, b"hello ")
    os.write(w, b"pipe")
    os.close(w)
    pipe_fds.remove(w)
    assert _wait(loop, proto.lost) is None
    assert bytes(proto.data) == b"hello pipe"
    assert proto.events == ["made", "eof", "lost"]
    assert transport.is_closing()
    assert transport.get_extra_info("pipe").closed


def test_read_pipe_is_non_blocking_after_connect(loop, pipe_fds):
    r, _ = pipe_fds
    transport, _ = _wait(loop, _read_pipe(loop, r))
    assert os.get_blocking(r) is False
    transport.close()
    pipe_fds.remove(r)


def test_pause_reading_stops_data_and_resume_reading_restarts_it(loop, pipe_fds, run_once):
    r, w = pipe_fds
    pipe_fds.remove(r)
    transport, proto = _wait(loop, _read_pipe(loop, r))
    assert transport.is_reading()
    transport.pause_reading()
    assert not transport.is_reading()
    transport.pause_reading()  # a second pause changes nothing
    os.write(w, b"held back")
    for _ in range(5):
        run_once(loop)
    assert proto.data == b""
    transport.resume_reading()
    assert transport.is_reading()
    _wait(loop, proto.received.wait())
    assert proto.data == b"held back"
    transport.close()
    _wait(loop, proto.lost)


def test_resume_reading_without_pause_changes_nothing(loop, pipe_fds):
    r, w = pipe_fds
    pipe_fds.remove(r)
    transport, proto = _wait(loop, _read_pipe(loop, r))
    transport.resume_reading()
    os.write(w, b"x")
    _wait(loop, proto.received.wait())
    assert proto.data == b"x"
    transport.close()
    _wait(loop, proto.lost)


def test_pause_and_resume_reading_do_nothing_once_closing(loop, pipe_fds):
    r, _ = pipe_fds
    pipe_fds.remove(r)
    transport, proto = _wait(loop, _read_pipe(loop, r))
    transport.close()
    assert not transport.is_reading()
    transport.pause_reading()
    transport.resume_reading()
    assert not transport.is_reading()
    assert _wait(loop, proto.lost) is None
    assert proto.events == ["made", "lost"]


def test_pause_reading_in_connection_made_defers_the_first_read(loop, pipe_fds, run_once):
    r, w = pipe_fds
    pipe_fds.remove(r)

    class Pausing(Reader):
        def connection_made(self, transport):
            super().connection_made(transport)
            transport.pause_reading()

    os.write(w, b"early")
    transport, proto = _wait(loop, loop.connect_read_pipe(lambda: Pausing(loop), _open(r, "rb")))
    for _ in range(3):
        run_once(loop)
    assert proto.data == b""
    transport.resume_reading()
    _wait(loop, proto.received.wait())
    assert proto.data == b"early"
    transport.close()
    _wait(loop, proto.lost)


def test_close_read_pipe_closes_the_pipe_and_calls_connection_lost_once(loop, pipe_fds):
    r, _ = pipe_fds
    pipe_fds.remove(r)
    transport, proto = _wait(loop, _read_pipe(loop, r))
    pipe = transport.get_extra_info("pipe")
    transport.close()
    transport.close()
    assert transport.is_closing()
    assert _wait(loop, proto.lost) is None
    assert pipe.closed
    assert proto.events == ["made", "lost"]
    assert transport.get_protocol() is None


def test_data_received_error_is_reported_and_reading_goes_on(loop, pipe_fds, errors):
    r, w = pipe_fds
    pipe_fds.remove(r)
    transport, proto = _wait(loop, _read_pipe(loop, r, fail_first=True))
    os.write(w, b"first")
    _wait(loop, proto.received.wait())
    proto.received.clear()
    os.write(w, b"second")
    _wait(loop, proto.received.wait())
    assert proto.data == b"firstsecond"
    assert len(errors) == 1
    assert errors[0]["message"].startswith("Exception in callback ")
    assert "_read_ready" in errors[0]["message"]
    assert not errors[0]["handle"].cancelled()
    assert isinstance(errors[0]["exception"], ZeroDivisionError)
    assert transport.is_reading()
    transport.close()
    _wait(loop, proto.lost)


def test_read_pipe_eof_is_logged_in_debug_mode(loop, pipe_fds, caplog):
    r, w = pipe_fds
    pipe_fds.remove(r)
    loop.set_debug(True)
    transport, proto = _wait(loop, _read_pipe(loop, r))
    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        transport.pause_reading()
        transport.resume_reading()
        os.close(w)
        pipe_fds.remove(w)
        _wait(loop, proto.lost)
    messages = [rec.getMessage() for rec in caplog.records]
    assert any(m.endswith("pauses reading") for m in messages)
    assert any(m.endswith("resumes reading") for m in messages)
    closed = [rec for rec in caplog.records if rec.getMessage().endswith("was closed by peer")]
    assert closed and closed[0].levelno == logging.INFO


def test_read_pipe_fatal_error_with_non_os_error_goes_to_the_handler(loop, pipe_fds, errors):
    r, _ = pipe_fds
    pipe_fds.remove(r)
    transport, proto = _wait(loop, _read_pipe(loop, r))
    exc = RuntimeError("boom")
    transport._fatal_error(exc, "custom message")
    assert _wait(loop, proto.lost) is exc
    assert errors[0]["message"] == "custom message"
    assert errors[0]["exception"] is exc
    assert errors[0]["transport"] is transport


def test_read_pipe_fatal_error_with_other_os_errors_goes_to_the_handler(loop, pipe_fds, errors):
    r, _ = pipe_fds
    pipe_fds.remove(r)
    transport, proto = _wait(loop, _read_pipe(loop, r))
    exc = OSError(errno.EBADF, "bad")
    transport._fatal_error(exc)
    assert _wait(loop, proto.lost) is exc
    assert errors[0]["message"] == "Fatal error on pipe transport"


@pytest.mark.parametrize("debug", [False, True], ids=["normal", "debug"])
def test_pty_eio_after_the_other_side_closes_is_quiet(loop, errors, caplog, debug):
    master, slave = os.openpty()
    loop.set_debug(debug)
    transport, proto = _wait(loop, _read_pipe(loop, master))
    os.write(slave, b"hi\n")
    _wait(loop, proto.received.wait())
    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        os.close(slave)
        exc = _wait(loop, proto.lost)
    assert isinstance(exc, OSError) and exc.errno == errno.EIO
    assert b"hi" in proto.data
    assert errors == []
    logged = any("Fatal read error on pipe transport" in r.getMessage() for r in caplog.records)
    assert logged is debug


def test_socket_is_accepted_as_a_read_pipe(loop):
    a, b = socket.socketpair()
    with a, b:
        transport, proto = _wait(loop, loop.connect_read_pipe(lambda: Reader(loop), a))
        b.sendall(b"through a socket")
        b.shutdown(socket.SHUT_WR)
        assert _wait(loop, proto.lost) is None
        assert proto.data == b"through a socket"
        assert proto.events == ["made", "eof", "lost"]
        assert a.fileno() == -1  # closed with the transport


def test_regular_file_is_refused_as_a_read_pipe(loop):
    with tempfile.TemporaryFile() as f:
        with pytest.raises(ValueError, match=r"^Pipe transport is for pipes/sockets only\.$"):
            _wait(loop, loop.connect_read_pipe(lambda: Reader(loop), f))


def test_extra_info_of_a_read_pipe(loop, pipe_fds):
    r, _ = pipe_fds
    pipe_fds.remove(r)
    pipe = _open(r, "rb")
    transport, proto = _wait(loop, loop.connect_read_pipe(lambda: Reader(loop), pipe))
    assert transport.get_extra_info("pipe") is pipe
    assert transport.get_extra_info("missing") is None
    assert transport.get_extra_info("missing", "fallback") == "fallback"
    assert transport.get_extra_info(name="pipe") is pipe
    transport.close()
    _wait(loop, proto.lost)


def test_read_pipe_made_without_a_waiter_keeps_the_given_extra(loop, pipe_fds, run_once):
    r, w = pipe_fds
    pipe_fds.remove(r)
    extra = {"label": "mine"}
    proto = Reader(loop)
    transport = loop._make_read_pipe_transport(_open(r, "rb"), proto, extra=extra)
    assert extra["pipe"] is transport.get_extra_info("pipe")
    assert transport.get_extra_info("label") == "mine"
    os.write(w, b"z")
    _wait(loop, proto.received.wait())
    assert proto.events == ["made"]
    transport.close()
    _wait(loop, proto.lost)


def test_set_protocol_redirects_the_data(loop, pipe_fds):
    r, w = pipe_fds
    pipe_fds.remove(r)
    transport, first = _wait(loop, _read_pipe(loop, r))
    second = Reader(loop)
    transport.set_protocol(second)
    assert transport.get_protocol() is second
    os.write(w, b"to the second")
    _wait(loop, second.received.wait())
    assert second.data == b"to the second" and first.data == b""
    transport.close()
    _wait(loop, second.lost)


def test_read_pipe_repr_shows_polling_idle_and_closed(loop, pipe_fds):
    r, _ = pipe_fds
    pipe_fds.remove(r)
    transport, proto = _wait(loop, _read_pipe(loop, r))
    assert re.fullmatch(rf"<\w+ fd={r} polling>", repr(transport))
    transport.pause_reading()
    assert re.fullmatch(rf"<\w+ fd={r} idle>", repr(transport))
    transport.close()
    assert re.fullmatch(rf"<\w+ closing fd={r} idle>", repr(transport))
    _wait(loop, proto.lost)
    assert re.fullmatch(rf"<\w+ closed fd={r} closed>", repr(transport))


@pytest.mark.parametrize("side", ["read", "write"])
def test_pipe_closed_and_dropped_by_hand_as_cpython_tests_do_reads_as_closed(loop, pipe_fds, side):
    r, w = pipe_fds
    fd = r if side == "read" else w
    pipe_fds.remove(fd)
    connect = _read_pipe if side == "read" else _write_pipe
    transport, _ = _wait(loop, connect(loop, fd))
    # test_asyncio's close_pipe_transport(): close the pipe, forget it.
    transport._pipe.close()
    transport._pipe = None
    assert transport._pipe is None
    assert re.fullmatch(rf"<\w+ closed fd={fd} closed>", repr(transport))


def test_pipe_transport_takes_another_pipe_object(loop, pipe_fds):
    r, _ = pipe_fds
    pipe_fds.remove(r)
    transport, _ = _wait(loop, _read_pipe(loop, r))
    pipe = transport._pipe
    stand_in = object()
    transport._pipe = stand_in
    assert transport._pipe is stand_in
    transport._pipe = pipe
    transport.close()
    loop.run_until_complete(asyncio.sleep(0.01))
    assert pipe.closed


def test_read_pipe_repr_on_a_closed_loop_says_open(loop_factory, pipe_fds):
    r, _ = pipe_fds
    pipe_fds.remove(r)
    lp = loop_factory()
    transport, proto = _wait(lp, _read_pipe(lp, r))
    lp.close()
    assert re.fullmatch(rf"<\w+ fd={r} open>", repr(transport))
    transport.get_extra_info("pipe").close()


# ------------------------------------------------------------- writing


def test_write_pipe_sends_data_at_once_when_the_pipe_has_room(loop, pipe_fds):
    _, w = pipe_fds
    pipe_fds.remove(w)
    transport, proto = _wait(loop, _write_pipe(loop, w))
    transport.write(b"abc")
    transport.write(bytearray(b"def"))
    transport.write(memoryview(b"ghi"))
    transport.write(b"")
    transport.writelines([b"j", b"kl"])
    assert transport.get_write_buffer_size() == 0
    assert os.read(pipe_fds[0], 100) == b"abcdefghijkl"
    transport.close()
    assert _wait(loop, proto.lost) is None


def test_write_of_a_str_fails_the_bytes_like_assertion(loop, pipe_fds):
    _, w = pipe_fds
    pipe_fds.remove(w)
    transport, proto = _wait(loop, _write_pipe(loop, w))
    with pytest.raises(AssertionError, match="'text'"):
        transport.write("text")
    transport.close()
    _wait(loop, proto.lost)


def test_write_pipe_leaves_the_read_half_unimplemented(loop, pipe_fds):
    _, w = pipe_fds
    pipe_fds.remove(w)
    transport, proto = _wait(loop, _write_pipe(loop, w))
    for method in (transport.pause_reading, transport.resume_reading, transport.is_reading):
        with pytest.raises(NotImplementedError):
            method()
    transport.close()
    _wait(loop, proto.lost)


def test_read_pipe_has_no_write_method(loop, pipe_fds):
    r, _ = pipe_fds
    pipe_fds.remove(r)
    transport, proto = _wait(loop, _read_pipe(loop, r))
    assert not hasattr(transport, "write")
    transport.close()
    _wait(loop, proto.lost)


def test_write_flow_control_with_a_slow_reader(loop, pipe_fds):
    r, w = pipe_fds
    pipe_fds.remove(w)
    transport, proto = _wait(loop, _write_pipe(loop, w))
    assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
    payload = bytes(range(256)) * 4096  # 1 MiB, more than the pipe holds
    transport.write(payload)
    assert transport.get_write_buffer_size() > 64 * 1024
    assert proto.events == ["pause"]
    transport.write(b"tail")  # queued behind, no second pause
    assert proto.events == ["pause"]
    got = _wait(loop, _read_all_blocking_side(r, len(payload) + 4))
    assert got == payload + b"tail"
    _wait(loop, asyncio.sleep(0.01))
    assert transport.get_write_buffer_size() == 0
    assert proto.events == ["pause", "resume"]
    transport.close()
    assert _wait(loop, proto.lost) is None


def test_set_write_buffer_limits_pauses_when_the_buffer_is_already_above(loop, pipe_fds):
    r, w = pipe_fds
    pipe_fds.remove(w)
    transport, proto = _wait(loop, _write_pipe(loop, w))
    transport.set_write_buffer_limits(high=ONE_MIB)
    transport.write(b"x" * (ONE_MIB // 2))
    assert proto.events == []
    transport.set_write_buffer_limits(high=1000, low=10)
    assert transport.get_write_buffer_limits() == (10, 1000)
    assert proto.events == ["pause"]
    transport.set_write_buffer_limits(low=100)
    assert transport.get_write_buffer_limits() == (100, 400)
    transport.set_write_buffer_limits()
    assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
    with pytest.raises(ValueError, match=r"high \(1\) must be >= low \(2\) must be >= 0"):
        transport.set_write_buffer_limits(1, 2)
    transport.abort()
    _wait(loop, proto.lost)


def test_pause_writing_error_is_reported_not_fatal(loop, pipe_fds, errors):
    _, w = pipe_fds
    pipe_fds.remove(w)
    transport, proto = _wait(loop, _write_pipe(loop, w, fail_pause=True))
    transport.write(b"x" * ONE_MIB)
    assert errors[0]["message"] == "protocol.pause_writing() failed"
    assert isinstance(errors[0]["exception"], ZeroDivisionError)
    assert not transport.is_closing()
    transport.abort()
    _wait(loop, proto.lost)


def test_reader_going_away_with_data_buffered_is_broken_pipe(loop, pipe_fds, errors):
    r, w = pipe_fds
    pipe_fds.remove(w)
    transport, proto = _wait(loop, _write_pipe(loop, w))
    transport.write(b"x" * ONE_MIB)
    assert transport.get_write_buffer_size() > 0
    os.close(r)
    pipe_fds.remove(r)
    exc = _wait(loop, proto.lost)
    assert isinstance(exc, BrokenPipeError)
    assert transport.get_write_buffer_size() == 0
    assert errors == []


def test_reader_going_away_with_nothing_buffered_closes_cleanly(loop, pipe_fds, caplog):
    r, w = pipe_fds
    pipe_fds.remove(w)
    loop.set_debug(True)
    transport, proto = _wait(loop, _write_pipe(loop, w))
    with caplog.at_level(logging.INFO, logger="asyncio"):
        os.close(r)
        pipe_fds.remove(r)
        assert _wait(loop, proto.lost) is None
    assert transport.is_closing()
    assert any(rec.getMessage().endswith("was closed by peer") for rec in caplog.records)


@pytest.mark.parametrize("debug", [False, True], ids=["normal", "debug"])
def test_write_to_a_pipe_whose_reader_is_gone_loses_the_connection(
    loop, pipe_fds, errors, caplog, debug
):
    r, w = pipe_fds
    pipe_fds.remove(w)
    loop.set_debug(debug)
    transport, proto = _wait(loop, _write_pipe(loop, w))
    os.close(r)
    pipe_fds.remove(r)
    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        transport.write(b"lost")  # before the loop sees the reader go
        exc = _wait(loop, proto.lost)
    assert isinstance(exc, BrokenPipeError)
    assert errors == []
    logged = any("Fatal write error on pipe transport" in r.getMessage() for r in caplog.records)
    assert logged is debug


def test_writes_after_connection_lost_warn_past_the_threshold(loop, pipe_fds, caplog):
    _, w = pipe_fds
    pipe_fds.remove(w)
    transport, proto = _wait(loop, _write_pipe(loop, w))
    transport.close()
    _wait(loop, proto.lost)
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        for _ in range(7):
            transport.write(b"dropped")
    warnings = [
        r for r in caplog.records
        if r.getMessage() == "pipe closed by peer or os.write(pipe, data) raised exception."
    ]
    assert len(warnings) == 2


def test_write_eof_flushes_the_buffer_then_closes(loop, pipe_fds):
    r, w = pipe_fds
    pipe_fds.remove(w)
    transport, proto = _wait(loop, _write_pipe(loop, w))
    assert transport.can_write_eof()
    payload = b"y" * ONE_MIB
    transport.write(payload)
    transport.write_eof()
    assert transport.is_closing()
    transport.write_eof()
    transport.write(b"after eof is dropped")
    got = _wait(loop, _read_all_blocking_side(r, len(payload)))
    assert got == payload
    assert _wait(loop, proto.lost) is None
    assert os.read(r, 10) == b""  # EOF: the write end is closed
    assert proto.events[-1] == "lost"


def test_close_with_nothing_buffered_loses_the_connection_next_iteration(loop, pipe_fds):
    r, w = pipe_fds
    pipe_fds.remove(w)
    transport, proto = _wait(loop, _write_pipe(loop, w))
    transport.close()
    assert proto.events == []
    assert _wait(loop, proto.lost) is None
    assert transport.get_extra_info("pipe").closed
    assert os.read(r, 10) == b""


def test_connection_lost_error_after_the_buffer_drains_is_reported(loop, pipe_fds, errors):
    r, w = pipe_fds
    pipe_fds.remove(w)
    transport, proto = _wait(loop, _write_pipe(loop, w, fail_lost=True))
    transport.write(b"z" * ONE_MIB)
    transport.close()
    _wait(loop, _read_all_blocking_side(r, ONE_MIB))
    assert _wait(loop, proto.lost) is None
    assert len(errors) == 1
    assert errors[0]["message"].startswith("Exception in callback ")
    # The writer was removed before connection_lost() ran: its handle is
    # cancelled, and reported as such.
    assert errors[0]["message"] == "Exception in callback None()"
    assert errors[0]["handle"].cancelled()
    assert isinstance(errors[0]["exception"], ZeroDivisionError)


def test_abort_drops_the_buffer(loop, pipe_fds):
    r, w = pipe_fds
    pipe_fds.remove(w)
    transport, proto = _wait(loop, _write_pipe(loop, w))
    transport.write(b"a" * ONE_MIB)
    transport.abort()
    assert transport.get_write_buffer_size() == 0
    assert transport.is_closing()
    assert _wait(loop, proto.lost) is None
    os.set_blocking(r, False)
    assert len(_drain_fd(r, 2 * ONE_MIB)) < ONE_MIB


def test_write_pipe_fatal_error_with_non_os_error_goes_to_the_handler(loop, pipe_fds, errors):
    _, w = pipe_fds
    pipe_fds.remove(w)
    transport, proto = _wait(loop, _write_pipe(loop, w))
    exc = RuntimeError("boom")
    transport._fatal_error(exc)
    assert _wait(loop, proto.lost) is exc
    assert errors[0]["message"] == "Fatal error on pipe transport"
    assert errors[0]["protocol"] is proto


def test_dev_null_is_accepted_as_a_write_pipe(loop):
    f = open("/dev/null", "wb", buffering=0)
    transport, proto = _wait(loop, loop.connect_write_pipe(lambda: Writer(loop), f))
    transport.write(b"n" * ONE_MIB)
    assert transport.get_write_buffer_size() == 0
    assert re.fullmatch(r"<\w+ fd=\d+ idle bufsize=0>", repr(transport))
    transport.close()
    assert _wait(loop, proto.lost) is None
    assert f.closed


def test_socket_is_accepted_as_a_write_pipe(loop):
    a, b = socket.socketpair()
    with a, b:
        transport, proto = _wait(loop, loop.connect_write_pipe(lambda: Writer(loop), a))
        transport.write(b"over a socket")
        assert b.recv(100) == b"over a socket"
        b.close()
        assert _wait(loop, proto.lost) is None


def test_regular_file_is_refused_as_a_write_pipe(loop):
    with tempfile.TemporaryFile() as f:
        with pytest.raises(
            ValueError,
            match=r"^Pipe transport is only for pipes, sockets and character devices$",
        ):
            _wait(loop, loop.connect_write_pipe(lambda: Writer(loop), f))


def test_extra_info_of_a_write_pipe(loop, pipe_fds):
    _, w = pipe_fds
    pipe_fds.remove(w)
    pipe = _open(w, "wb")
    transport, proto = _wait(loop, loop.connect_write_pipe(lambda: Writer(loop), pipe))
    assert transport.get_extra_info("pipe") is pipe
    assert transport.get_extra_info("nothing", 7) == 7
    transport.close()
    _wait(loop, proto.lost)


def test_write_pipe_made_without_a_waiter_calls_connection_made(loop, pipe_fds, run_once):
    _, w = pipe_fds
    pipe_fds.remove(w)
    proto = Writer(loop)
    transport = loop._make_write_pipe_transport(_open(w, "wb"), proto, extra={"k": 1})
    run_once(loop)
    assert proto.transport is transport
    assert transport.get_extra_info("k") == 1
    transport.close()
    _wait(loop, proto.lost)


def test_write_pipe_repr_shows_polling_and_the_buffer_size(loop, pipe_fds):
    _, w = pipe_fds
    pipe_fds.remove(w)
    transport, proto = _wait(loop, _write_pipe(loop, w))
    assert re.fullmatch(rf"<\w+ fd={w} idle bufsize=0>", repr(transport))
    transport.write(b"q" * ONE_MIB)
    size = transport.get_write_buffer_size()
    assert re.fullmatch(rf"<\w+ fd={w} polling bufsize={size}>", repr(transport))
    transport.close()
    assert re.fullmatch(rf"<\w+ closing fd={w} polling bufsize={size}>", repr(transport))
    transport.abort()
    _wait(loop, proto.lost)
    assert re.fullmatch(rf"<\w+ closed fd={w} closed>", repr(transport))


def test_unclosed_write_pipe_transport_warns_and_closes_the_pipe(loop):
    f = open("/dev/null", "wb", buffering=0)
    transport, proto = _wait(loop, loop.connect_write_pipe(lambda: Writer(loop), f))
    gc.collect()
    with pytest.warns(ResourceWarning, match="unclosed transport"):
        del transport, proto
        gc.collect()
    assert f.closed


def test_unclosed_read_pipe_transport_warns_and_closes_the_pipe(loop, pipe_fds):
    r, _ = pipe_fds
    pipe_fds.remove(r)
    pipe = _open(r, "rb")
    transport, proto = _wait(loop, loop.connect_read_pipe(lambda: Reader(loop), pipe))
    transport.pause_reading()  # the loop no longer holds it
    gc.collect()
    with pytest.warns(ResourceWarning, match="unclosed transport"):
        del transport, proto
        gc.collect()
    assert pipe.closed


# ------------------------------------------------------------- both ends


def test_sixteen_mib_through_a_pipe_arrive_intact(loop, pipe_fds):
    r, w = pipe_fds
    pipe_fds.clear()
    block = bytes(range(256)) * 4096

    async def main():
        wt, wp = await _write_pipe(loop, w)
        rt, rp = await _read_pipe(loop, r)
        for _ in range(16):
            wt.write(block)
        wt.close()
        await wp.lost
        await rp.lost
        return rp

    rp = _wait(loop, main())
    assert len(rp.data) == SIXTEEN_MIB
    assert rp.data == block * 16
    assert rp.events == ["made", "eof", "lost"]


@pytest.mark.parametrize("wrap", [bytearray, lambda b: memoryview(bytearray(b))],
                         ids=["bytearray", "memoryview"])
def test_a_mutable_buffer_larger_than_the_pipe_arrives_intact(loop, pipe_fds, wrap):
    r, w = pipe_fds
    pipe_fds.clear()
    block = os.urandom(4 * 1024 * 1024)

    async def main():
        wt, wp = await _write_pipe(loop, w)
        rt, rp = await _read_pipe(loop, r)
        wt.write(wrap(block))
        assert wt.get_write_buffer_size() > 0  # only part went at once
        wt.close()
        await wp.lost
        await rp.lost
        return rp

    rp = _wait(loop, main())
    assert rp.data == block


def test_a_read_pipe_transport_reads_at_most_max_size_at_once(loop):
    r, w = os.pipe()
    transport, _ = loop.run_until_complete(
        loop.connect_read_pipe(asyncio.Protocol, open(r, "rb", 0)))
    try:
        assert type(transport).max_size == 256 * 1024
    finally:
        transport.close()
        os.close(w)
        loop.run_until_complete(asyncio.sleep(0))
