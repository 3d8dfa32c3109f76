"""Delivery of signals to loop.add_signal_handler callbacks."""

import asyncio
import os
import signal
import socket
import threading
import time

import pytest

SIGNALS = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)
LONG = 5.0  # a sleep the handler must cut short
PROMPT = 1.0  # the handler runs this soon after the signal, at the latest


@pytest.fixture(autouse=True)
def restore_signal_dispositions():
    saved = {sig: signal.getsignal(sig) for sig in SIGNALS}
    wakeup = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(wakeup)


def send_later(delay, sig=signal.SIGUSR1, count=1, gap=0.0):
    """Send ``sig`` to this process from another thread; returns the thread
    and a list that receives the monotonic time of each send."""
    sent = []

    def body():
        time.sleep(delay)
        for i in range(count):
            if i and gap:
                time.sleep(gap)
            sent.append(time.monotonic())
            os.kill(os.getpid(), sig)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, sent


def test_signal_handler_runs_promptly_during_a_long_sleep(loop):
    calls = []

    async def main():
        sleeper = asyncio.ensure_future(asyncio.sleep(LONG))

        def on_signal():
            calls.append(time.monotonic())
            sleeper.cancel()

        loop.add_signal_handler(signal.SIGUSR1, on_signal)
        start = time.monotonic()
        thread, sent = send_later(0.05)
        with pytest.raises(asyncio.CancelledError):
            await sleeper
        thread.join()
        return start, sent

    start, sent = loop.run_until_complete(main())
    assert len(calls) == 1
    assert calls[0] - sent[0] < PROMPT
    assert calls[0] - start < PROMPT


def test_signal_handler_runs_while_a_socket_read_is_pending(loop):
    a, b = socket.socketpair()
    a.setblocking(False)
    calls = []

    async def main():
        reader = asyncio.ensure_future(loop.sock_recv(a, 100))
        handled = loop.create_future()

        def on_signal():
            calls.append(time.monotonic())
            handled.set_result(reader.done())

        loop.add_signal_handler(signal.SIGUSR1, on_signal)
        await asyncio.sleep(0.01)  # the read is now waiting on the socket
        thread, sent = send_later(0.05)
        read_done_at_signal = await asyncio.wait_for(handled, LONG)
        thread.join()
        b.send(b"after the signal")
        data = await asyncio.wait_for(reader, LONG)
        return read_done_at_signal, data, sent

    try:
        read_done, data, sent = loop.run_until_complete(main())
    finally:
        a.close()
        b.close()
    assert read_done is False
    assert data == b"after the signal"
    assert calls[0] - sent[0] < PROMPT


def test_signal_handler_runs_while_a_stream_read_is_pending(loop):
    a, b = socket.socketpair()
    calls = []

    async def main():
        reader, writer = await asyncio.open_connection(sock=a)
        pending = asyncio.ensure_future(reader.readline())

        def on_signal():
            calls.append(time.monotonic())
            b.send(b"line\n")  # unblock the reader from the handler

        loop.add_signal_handler(signal.SIGUSR1, on_signal)
        start = time.monotonic()
        thread, _ = send_later(0.05)
        line = await asyncio.wait_for(pending, LONG)
        elapsed = time.monotonic() - start
        thread.join()
        writer.close()
        return line, elapsed

    try:
        line, elapsed = loop.run_until_complete(main())
    finally:
        b.close()
    assert line == b"line\n"
    assert len(calls) == 1
    assert elapsed < PROMPT


def test_several_signals_in_a_row_reach_the_handler_and_the_loop_stays_usable(loop):
    calls = []

    async def main():
        loop.add_signal_handler(signal.SIGUSR1, lambda: calls.append(1))
        thread, _ = send_later(0.02, count=5, gap=0.005)
        deadline = time.monotonic() + LONG
        while thread.is_alive() or not calls:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        thread.join()
        await asyncio.sleep(0.05)  # let any last delivery land
        after_burst = len(calls)

        # The loop still schedules callbacks, timers and I/O normally.
        fut = loop.create_future()
        loop.call_soon(fut.set_result, "soon")
        soon = await fut
        t0 = time.monotonic()
        await asyncio.sleep(0.02)
        slept = time.monotonic() - t0

        # And a later signal is still delivered.
        thread, _ = send_later(0.01)
        deadline = time.monotonic() + LONG
        while len(calls) == after_burst and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        thread.join()
        return after_burst, soon, slept, len(calls)

    after_burst, soon, slept, total = loop.run_until_complete(main())
    assert 1 <= after_burst <= 5
    assert soon == "soon"
    assert 0.015 <= slept < PROMPT
    assert total == after_burst + 1


def test_signal_handler_receives_its_positional_arguments(loop):
    got = []

    async def main():
        done = loop.create_future()

        def on_signal(*args):
            got.append(args)
            done.set_result(None)

        loop.add_signal_handler(signal.SIGUSR1, on_signal, "a", 2)
        thread, _ = send_later(0.01)
        await asyncio.wait_for(done, LONG)
        thread.join()

    loop.run_until_complete(main())
    assert got == [("a", 2)]


def test_two_signals_reach_their_own_handlers(loop):
    got = []

    async def main():
        first = loop.create_future()
        both = loop.create_future()

        def on_signal(name):
            got.append(name)
            (first if len(got) == 1 else both).set_result(None)

        loop.add_signal_handler(signal.SIGUSR1, on_signal, "usr1")
        loop.add_signal_handler(signal.SIGUSR2, on_signal, "usr2")
        # The loop thread never blocks on the sender threads (joining one
        # from inside the loop could wait on a thread the signal interrupts).
        t1, _ = send_later(0.01, signal.SIGUSR1)
        await asyncio.wait_for(first, LONG)
        t2, _ = send_later(0.01, signal.SIGUSR2)
        await asyncio.wait_for(both, LONG)
        t1.join()
        t2.join()

    loop.run_until_complete(main())
    assert got == ["usr1", "usr2"]


def test_adding_a_second_handler_replaces_the_first(loop):
    got = []

    async def main():
        done = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, got.append, "first")

        def second():
            got.append("second")
            done.set_result(None)

        loop.add_signal_handler(signal.SIGUSR1, second)
        thread, _ = send_later(0.01)
        await asyncio.wait_for(done, LONG)
        thread.join()
        await asyncio.sleep(0.01)

    loop.run_until_complete(main())
    assert got == ["second"]


def test_remove_signal_handler_restores_the_default_disposition(loop):
    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    assert signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, None)
    assert loop.remove_signal_handler(signal.SIGUSR1) is True
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    assert loop.remove_signal_handler(signal.SIGUSR1) is False


def test_signal_arriving_before_run_is_handled_once_the_loop_runs(loop):
    calls = []
    loop.add_signal_handler(signal.SIGUSR1, calls.append, "handled")
    os.kill(os.getpid(), signal.SIGUSR1)
    assert calls == []

    async def main():
        deadline = time.monotonic() + LONG
        while not calls and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    loop.run_until_complete(main())
    assert calls == ["handled"]
