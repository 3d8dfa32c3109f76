"""add_reader / remove_reader / add_writer / remove_writer."""

import asyncio
import os
import socket

import pytest


@pytest.fixture
def sockpair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def pipe():
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    fds = [r, w]
    yield fds
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


class FileLike:
    def __init__(self, fd):
        self._fd = fd

    def fileno(self):
        return self._fd


def test_add_reader_with_an_fd_calls_back_with_args_when_readable(loop, sockpair, run_until):
    a, b = sockpair
    got = []

    def on_readable(sock, tag):
        got.append((tag, sock.recv(100)))

    loop.add_reader(a.fileno(), on_readable, a, "tag")
    try:
        b.send(b"hello")
        run_until(loop, lambda: got)
    finally:
        assert loop.remove_reader(a.fileno()) is True
    assert got == [("tag", b"hello")]


def test_add_reader_with_a_socket_object(loop, sockpair, run_until):
    a, b = sockpair
    got = []
    loop.add_reader(a, lambda: got.append(a.recv(100)))
    b.send(b"x")
    run_until(loop, lambda: got)
    assert got == [b"x"]
    assert loop.remove_reader(a) is True


def test_add_reader_with_an_object_that_has_fileno(loop, pipe, run_until):
    r, w = pipe
    got = []
    reader = FileLike(r)
    loop.add_reader(reader, lambda: got.append(os.read(r, 100)))
    os.write(w, b"pipe data")
    run_until(loop, lambda: got)
    assert got == [b"pipe data"]
    assert loop.remove_reader(reader) is True


def test_reader_is_called_on_end_of_file(loop, pipe, run_until):
    r, w = pipe
    got = []
    loop.add_reader(r, lambda: got.append(os.read(r, 100)))
    os.close(w)
    pipe.remove(w)
    run_until(loop, lambda: got)
    assert got[0] == b""
    assert loop.remove_reader(r) is True


def test_reader_is_level_triggered(loop, sockpair, run_until):
    a, b = sockpair
    calls = []
    loop.add_reader(a, lambda: calls.append(1))  # never consumes the data
    b.send(b"x")
    run_until(loop, lambda: len(calls) >= 3)
    assert loop.remove_reader(a) is True


def test_reader_is_not_called_without_data(loop, sockpair):
    a, b = sockpair
    calls = []
    loop.add_reader(a, lambda: calls.append(1))
    loop.run_until_complete(asyncio.sleep(0.02))
    assert calls == []
    assert loop.remove_reader(a) is True


def test_remove_reader_returns_false_when_nothing_is_registered(loop, sockpair):
    a, b = sockpair
    assert loop.remove_reader(a) is False
    assert loop.remove_reader(a.fileno()) is False
    loop.add_reader(a, lambda: None)
    assert loop.remove_reader(a) is True
    assert loop.remove_reader(a) is False


def test_removed_reader_is_not_called(loop, sockpair):
    a, b = sockpair
    calls = []
    loop.add_reader(a, lambda: calls.append(1))
    loop.remove_reader(a)
    b.send(b"x")
    loop.run_until_complete(asyncio.sleep(0.02))
    assert calls == []


def test_add_reader_again_replaces_the_callback(loop, sockpair, run_until):
    a, b = sockpair
    got = []
    loop.add_reader(a, lambda: got.append(("old", a.recv(10))))
    loop.add_reader(a, lambda: got.append(("new", a.recv(10))))
    b.send(b"x")
    run_until(loop, lambda: got)
    loop.run_until_complete(asyncio.sleep(0.01))
    assert got == [("new", b"x")]
    assert loop.remove_reader(a) is True
    assert loop.remove_reader(a) is False


def test_add_writer_calls_back_when_writable(loop, sockpair, run_until):
    a, b = sockpair
    got = []
    loop.add_writer(a.fileno(), lambda *args: got.append(args), 1, 2)
    run_until(loop, lambda: got)
    assert got[0] == (1, 2)
    assert loop.remove_writer(a.fileno()) is True


def test_add_writer_with_an_object_that_has_fileno(loop, pipe, run_until):
    r, w = pipe
    got = []
    writer = FileLike(w)
    loop.add_writer(writer, lambda: got.append(os.write(w, b"y")))
    run_until(loop, lambda: got)
    assert loop.remove_writer(writer) is True
    assert os.read(r, 100).startswith(b"y")


def test_remove_writer_returns_false_when_nothing_is_registered(loop, sockpair):
    a, b = sockpair
    assert loop.remove_writer(a) is False
    loop.add_writer(a, lambda: None)
    assert loop.remove_writer(a) is True
    assert loop.remove_writer(a) is False


def test_add_writer_again_replaces_the_callback(loop, sockpair, run_until):
    a, b = sockpair
    got = []
    loop.add_writer(a, got.append, "old")
    loop.add_writer(a, got.append, "new")
    run_until(loop, lambda: got)
    assert loop.remove_writer(a) is True
    assert set(got) == {"new"}


def test_reader_and_writer_on_the_same_fd_are_independent(loop, sockpair, run_until):
    a, b = sockpair
    reads, writes = [], []
    loop.add_reader(a, lambda: reads.append(a.recv(10)))
    loop.add_writer(a, lambda: writes.append(1))
    run_until(loop, lambda: writes)
    assert loop.remove_writer(a) is True
    b.send(b"r")
    run_until(loop, lambda: reads)
    assert reads == [b"r"]
    assert loop.remove_reader(a) is True
    assert loop.remove_writer(a) is False


def test_writer_removing_itself_stops_being_called(loop, sockpair):
    a, b = sockpair
    calls = []

    def once():
        calls.append(1)
        loop.remove_writer(a)

    loop.add_writer(a, once)
    loop.run_until_complete(asyncio.sleep(0.02))
    assert calls == [1]


def test_reader_exception_reaches_the_exception_handler(loop, sockpair, errors, run_until):
    a, b = sockpair

    def bad_reader():
        a.recv(10)
        raise ValueError("reader failed")

    loop.add_reader(a, bad_reader)
    b.send(b"x")
    run_until(loop, lambda: errors)
    loop.remove_reader(a)
    assert errors[0]["message"].startswith("Exception in callback")
    assert isinstance(errors[0]["exception"], ValueError)
    assert "handle" in errors[0]


@pytest.mark.parametrize("method", ["add_reader", "add_writer"])
@pytest.mark.parametrize(
    "bad, message",
    [(-1, "Invalid file descriptor: -1"), ("x", "Invalid file object"),
     (object(), "Invalid file object"), (1.5, "Invalid file object"), (None, "Invalid file object")],
    ids=["negative-fd", "str", "object-without-fileno", "float", "none"],
)
def test_add_reader_writer_reject_bad_file_objects(loop, method, bad, message):
    with pytest.raises(ValueError, match=message):
        getattr(loop, method)(bad, lambda: None)


@pytest.mark.parametrize("method", ["remove_reader", "remove_writer"])
def test_remove_reader_writer_reject_bad_file_objects(loop, method):
    with pytest.raises(ValueError, match="Invalid file object"):
        getattr(loop, method)(object())


def test_fileno_returning_a_negative_fd_is_rejected(loop):
    with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
        loop.add_reader(FileLike(-1), lambda: None)


@pytest.mark.parametrize("method", ["add_reader", "add_writer"])
def test_add_reader_writer_on_a_closed_loop_raise(loop, sockpair, method):
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        getattr(loop, method)(sockpair[0], lambda: None)


@pytest.mark.parametrize("method", ["remove_reader", "remove_writer"])
def test_remove_reader_writer_on_a_closed_loop_return_false(loop, sockpair, method):
    loop.close()
    assert getattr(loop, method)(sockpair[0]) is False


@pytest.mark.parametrize("direction", ["reader", "writer"])
def test_removing_a_closed_watched_socket_finds_it_by_identity(loop, direction):
    a, b = socket.socketpair()
    getattr(loop, f"add_{direction}")(a, lambda: None)
    a.close()
    try:
        assert getattr(loop, f"remove_{direction}")(a) is True
        assert getattr(loop, f"remove_{direction}")(b) is False
    finally:
        b.close()


def test_removing_a_closed_socket_that_was_never_watched_is_a_value_error(loop):
    a, b = socket.socketpair()
    a.close()
    try:
        with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
            loop.remove_reader(a)
    finally:
        b.close()



@pytest.mark.parametrize("fd, error", [
    (2**31, OverflowError), (2**63, OverflowError), (-2**63 - 1, ValueError), (-1, ValueError),
], ids=["2**31", "2**63", "-2**63-1", "-1"])
def test_add_reader_of_a_number_no_fd_can_have_fails_as_the_selector_does(loop, fd, error):
    with pytest.raises(error):
        loop.add_reader(fd, print)


@pytest.mark.parametrize("fd", [2**31, 2**70], ids=["2**31", "2**70"])
def test_removing_a_number_beyond_any_fd_says_it_was_not_watched(loop, fd):
    assert loop.remove_reader(fd) is False


def test_a_closed_loop_refuses_new_watchers_before_looking_at_the_number(loop):
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.add_writer(2**63, print)
    assert loop.remove_reader(-1) is False
    with pytest.raises(ValueError, match="Invalid file object"):
        loop.remove_reader("x")
