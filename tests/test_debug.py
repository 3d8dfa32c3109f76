"""Debug mode: get/set_debug, slow callbacks, thread and callable checks."""

import asyncio
import logging
import re
import sys
import threading
import time

import pytest

NOT_THREADSAFE = "Non-thread-safe operation invoked on an event loop other than the current one"


def test_set_debug_round_trips(loop):
    loop.set_debug(True)
    assert loop.get_debug() is True
    loop.set_debug(False)
    assert loop.get_debug() is False


@pytest.mark.parametrize(
    "env, args, expected",
    [({}, (), False), ({"PYTHONASYNCIODEBUG": "1"}, (), True), ({}, ("-X", "dev"), True)],
    ids=["plain", "env-var", "dev-mode"],
)
def test_default_debug_follows_the_environment(run_child, env, args, expected):
    proc = run_child(
        """
        loop = loop_factory()
        print(loop.get_debug())
        loop.close()
        """,
        env=env,
        args=args,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(expected)


def test_slow_callback_duration_defaults_to_a_tenth_of_a_second(loop):
    assert loop.slow_callback_duration == pytest.approx(0.1)
    loop.slow_callback_duration = 0.5
    assert loop.slow_callback_duration == 0.5


def test_slow_callback_is_logged_in_debug_mode(loop, run_once, caplog):
    caplog.set_level(logging.WARNING, logger="asyncio")
    loop.set_debug(True)
    loop.slow_callback_duration = 0.01

    def slow_callback():
        time.sleep(0.03)

    loop.call_soon(slow_callback)
    run_once(loop)
    msgs = [r.getMessage() for r in caplog.records
            if r.name == "asyncio" and r.levelno == logging.WARNING]
    slow = [m for m in msgs if "slow_callback" in m]
    assert len(slow) == 1, msgs
    assert re.match(r"^Executing <.*slow_callback.*> took \d+\.\d{3} seconds$", slow[0]), slow[0]
    took = float(re.search(r"took (\d+\.\d+) seconds", slow[0]).group(1))
    assert took >= 0.029


def test_slow_timer_callback_is_logged_in_debug_mode(loop, caplog):
    loop.set_debug(True)
    loop.slow_callback_duration = 0.01

    def slow_timer():
        time.sleep(0.03)

    loop.call_later(0.001, slow_timer)
    loop.run_until_complete(asyncio.sleep(0.05))
    msgs = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert any(re.match(r"^Executing <.*slow_timer.*> took \d+\.\d{3} seconds$", m) for m in msgs), msgs


class _SlowReceiver(asyncio.Protocol, asyncio.DatagramProtocol):
    """Takes 30 ms over every chunk or datagram it receives."""

    def __init__(self, got):
        self.got = got

    def data_received(self, data):
        time.sleep(0.03)
        self.got.set_result(data)

    def datagram_received(self, data, addr):
        self.data_received(data)


async def _send_to_a_slow_receiver(loop, kind):
    """Opens a ``kind`` transport whose protocol is slow and sends it a message."""
    import os
    import socket

    got = loop.create_future()
    if kind == "stream":
        a, b = socket.socketpair()
        transport, _ = await loop.create_connection(lambda: _SlowReceiver(got), sock=a)
        b.send(b"ping")
        closers = [transport.close, b.close]
    elif kind == "datagram":
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _SlowReceiver(got), local_addr=("127.0.0.1", 0)
        )
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.sendto(b"ping", transport.get_extra_info("sockname"))
        closers = [transport.close, sender.close]
    else:
        r, w = os.pipe()
        transport, _ = await loop.connect_read_pipe(lambda: _SlowReceiver(got), os.fdopen(r, "rb"))
        os.write(w, b"ping")
        closers = [transport.close, lambda: os.close(w)]
    try:
        assert await got == b"ping"
    finally:
        for close in closers:
            close()
        await asyncio.sleep(0)


@pytest.mark.parametrize("kind", ["stream", "datagram", "read pipe"])
def test_slow_transport_read_callback_is_logged_in_debug_mode(loop, caplog, kind):
    loop.set_debug(True)
    loop.slow_callback_duration = 0.01
    loop.run_until_complete(_send_to_a_slow_receiver(loop, kind))
    msgs = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    slow = [m for m in msgs if m.startswith("Executing <Handle ")]
    # With where the reader handle was made (inside asyncio, for asyncio).
    pattern = r"^Executing <Handle \w+\._read_ready\(\) created at \S+:\d+> took \d+\.\d{3} seconds$"
    assert any(re.match(pattern, m) for m in slow), msgs


@pytest.mark.parametrize("kind", ["stream", "datagram", "read pipe"])
def test_slow_transport_read_callback_is_not_logged_outside_debug_mode(loop, caplog, kind):
    loop.slow_callback_duration = 0.01
    loop.run_until_complete(_send_to_a_slow_receiver(loop, kind))
    assert not [r for r in caplog.records if r.name == "asyncio" and "_read_ready" in r.getMessage()]


def test_slow_callback_is_not_logged_outside_debug_mode(loop, run_once, caplog):
    loop.slow_callback_duration = 0.01
    loop.call_soon(time.sleep, 0.03)
    run_once(loop)
    assert not [r for r in caplog.records if r.name == "asyncio" and "Executing" in r.getMessage()]


def test_fast_callback_is_not_logged_in_debug_mode(loop, run_once, caplog):
    loop.set_debug(True)
    loop.call_soon(lambda: None)
    run_once(loop)
    assert not [r for r in caplog.records if r.name == "asyncio" and "Executing" in r.getMessage()]


@pytest.mark.parametrize("method", ["call_soon", "call_later", "call_at"])
def test_non_threadsafe_call_from_another_thread_raises_in_debug_mode(loop, method):
    loop.set_debug(True)
    seen = []
    done = loop.create_future()

    def from_thread():
        try:
            if method == "call_soon":
                loop.call_soon(print)
            elif method == "call_later":
                loop.call_later(1, print)
            else:
                loop.call_at(loop.time() + 1, print)
        except RuntimeError as exc:
            seen.append(str(exc))
        loop.call_soon_threadsafe(done.set_result, None)

    loop.call_soon(threading.Thread(target=from_thread).start)
    loop.run_until_complete(asyncio.wait_for(done, 10))
    assert seen == [NOT_THREADSAFE]


def test_call_from_another_thread_is_allowed_while_the_loop_is_not_running(loop, run_once):
    loop.set_debug(True)
    out = []
    t = threading.Thread(target=lambda: loop.call_soon(out.append, "ok"))
    t.start()
    t.join(10)
    run_once(loop)
    assert out == ["ok"]


def test_call_soon_threadsafe_from_another_thread_is_allowed_in_debug_mode(loop):
    loop.set_debug(True)
    done = loop.create_future()
    errors = []

    def from_thread():
        try:
            loop.call_soon_threadsafe(done.set_result, "ok")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
            loop.call_soon_threadsafe(done.set_result, "failed")

    loop.call_soon(threading.Thread(target=from_thread).start)
    assert loop.run_until_complete(asyncio.wait_for(done, 10)) == "ok"
    assert errors == []


@pytest.mark.parametrize("method", ["call_soon", "call_later", "call_at", "call_soon_threadsafe"])
def test_non_callable_raises_type_error_in_debug_mode(loop, method):
    loop.set_debug(True)
    args = {"call_soon": (), "call_soon_threadsafe": (), "call_later": (1,), "call_at": (1.0,)}[method]
    with pytest.raises(TypeError, match="a callable object was expected by"):
        getattr(loop, method)(*args, 1)


def test_coroutine_function_passed_to_call_soon_raises_in_debug_mode(loop):
    loop.set_debug(True)

    async def coro_func():
        pass

    with pytest.raises(TypeError, match=r"coroutines cannot be used with call_soon\(\)"):
        loop.call_soon(coro_func)


def test_debug_mode_tracks_coroutine_origins_while_running(loop):
    loop.set_debug(True)

    async def main():
        return sys.get_coroutine_origin_tracking_depth()

    assert loop.run_until_complete(main()) > 0
    assert sys.get_coroutine_origin_tracking_depth() == 0


def test_coroutine_origins_are_not_tracked_outside_debug_mode(loop):
    async def main():
        return sys.get_coroutine_origin_tracking_depth()

    assert loop.run_until_complete(main()) == 0


def test_exception_in_a_callback_reports_where_it_was_scheduled_in_debug_mode(loop, run_once, errors):
    def boom():
        raise ValueError("boom")

    loop.set_debug(True)
    handle = loop.call_soon(boom)  # this line is the last frame of the traceback
    run_once(loop)
    assert len(errors) == 1
    context = errors[0]
    assert context["handle"] is handle
    assert isinstance(context["exception"], ValueError)
    frame = context["source_traceback"][-1]
    assert frame.filename == __file__
    assert frame.name == "test_exception_in_a_callback_reports_where_it_was_scheduled_in_debug_mode"


class _HandleWatcher(asyncio.Protocol):
    def __init__(self, loop, got):
        self.loop = loop
        self.got = got

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        handle = self.loop._current_handle
        self.got.set_result((handle._callback.__name__, handle._callback.__self__ is self.transport))


def test_current_handle_is_the_transports_reader_handle_in_debug_mode(loop):
    import socket

    loop.set_debug(True)

    async def main():
        got = loop.create_future()
        a, b = socket.socketpair()
        transport, _ = await loop.create_connection(lambda: _HandleWatcher(loop, got), sock=a)
        try:
            b.send(b"ping")
            return await got
        finally:
            transport.close()
            b.close()

    assert loop.run_until_complete(main()) == ("_read_ready", True)


def test_slow_read_of_a_transport_registered_before_debug_mode_is_logged_without_origin(
        loop, caplog):
    import socket

    async def main():
        got = loop.create_future()
        a, b = socket.socketpair()
        transport, _ = await loop.create_connection(lambda: _SlowReceiver(got), sock=a)
        await asyncio.sleep(0.01)  # reading is registered, outside debug mode
        loop.set_debug(True)
        loop.slow_callback_duration = 0.01
        b.send(b"ping")
        try:
            assert await got == b"ping"
        finally:
            transport.close()
            b.close()

    loop.run_until_complete(main())
    msgs = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    pattern = r"^Executing <Handle \w+\._read_ready\(\)> took \d+\.\d{3} seconds$"
    assert any(re.match(pattern, m) for m in msgs), msgs
