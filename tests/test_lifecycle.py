"""run_forever / run_until_complete / stop / close and their error cases."""

import asyncio
import os
import re
import threading

import pytest

CLOSED = "Event loop is closed"


# ------------------------------------------------------------ run_until_complete


def test_run_until_complete_returns_the_coroutine_result(loop):
    async def main():
        await asyncio.sleep(0)
        return 42

    assert loop.run_until_complete(main()) == 42


def test_run_until_complete_accepts_a_future(loop):
    fut = loop.create_future()
    loop.call_later(0.001, fut.set_result, "value")
    assert loop.run_until_complete(fut) == "value"


def test_run_until_complete_accepts_an_awaitable(loop):
    class Awaitable:
        def __await__(self):
            yield from asyncio.sleep(0).__await__()
            return "awaited"

    assert loop.run_until_complete(Awaitable()) == "awaited"


def test_run_until_complete_raises_the_coroutine_exception(loop):
    async def main():
        raise ValueError("from coroutine")

    with pytest.raises(ValueError, match="from coroutine"):
        loop.run_until_complete(main())
    # The loop is still usable.
    assert loop.run_until_complete(asyncio.sleep(0, "again")) == "again"


def test_run_until_complete_with_a_done_future_returns_at_once(loop):
    fut = loop.create_future()
    fut.set_result(7)
    assert loop.run_until_complete(fut) == 7


def test_run_until_complete_can_be_called_repeatedly(loop):
    for i in range(5):
        assert loop.run_until_complete(asyncio.sleep(0, i)) == i


def test_run_until_complete_with_a_future_from_another_loop_raises_value_error(loop, loop_factory):
    other = loop_factory()
    try:
        fut = other.create_future()
        with pytest.raises(ValueError):
            loop.run_until_complete(fut)
    finally:
        other.close()


def test_run_until_complete_stopped_early_raises_runtime_error(loop):
    fut = loop.create_future()
    loop.call_soon(loop.stop)
    with pytest.raises(RuntimeError, match="Event loop stopped before Future completed"):
        loop.run_until_complete(fut)
    assert not fut.done()
    loop.call_soon(fut.set_result, 1)
    assert loop.run_until_complete(fut) == 1


# ------------------------------------------------------------ stop / run_forever


def test_stop_from_a_callback_ends_run_forever(loop):
    out = []
    loop.call_later(0.005, loop.stop)
    loop.call_later(0.001, out.append, 1)
    loop.run_forever()
    assert out == [1]
    assert not loop.is_running()


def test_stop_before_run_forever_makes_it_run_one_iteration(loop):
    out = []

    def first():
        out.append("first")
        loop.call_soon(out.append, "second-iteration")

    loop.call_soon(first)
    loop.call_soon(out.append, "also-first-iteration")
    loop.stop()
    loop.run_forever()
    assert out == ["first", "also-first-iteration"]


def test_stop_called_twice_before_run_forever_still_runs_one_iteration(loop):
    out = []
    loop.call_soon(lambda: loop.call_soon(out.append, 2))
    loop.stop()
    loop.stop()
    loop.run_forever()
    assert out == []
    loop.stop()
    loop.run_forever()
    assert out == [2]


def test_stop_before_run_until_complete_stops_before_the_future_is_done(loop):
    fut = loop.create_future()
    loop.stop()
    with pytest.raises(RuntimeError, match="Event loop stopped before Future completed"):
        loop.run_until_complete(fut)


def test_run_forever_can_be_restarted_after_stop(loop):
    out = []
    for i in range(3):
        loop.call_soon(out.append, i)
        loop.call_soon(loop.stop)
        loop.run_forever()
    assert out == [0, 1, 2]


# On 3.13.0 a failed nested run corrupts stock asyncio's running state (its
# run_forever cleanup runs even when the "already running" check fails), so
# each test below makes exactly one nested attempt.


def _nested_attempt(loop, run_once, attempt):
    seen = []

    def nested():
        try:
            attempt()
        except RuntimeError as exc:
            seen.append(str(exc))

    loop.call_soon(nested)
    run_once(loop)
    return seen


def test_run_forever_while_running_raises(loop, run_once):
    seen = _nested_attempt(loop, run_once, loop.run_forever)
    assert seen == ["This event loop is already running"]
    assert loop.run_until_complete(asyncio.sleep(0, "usable")) == "usable"


def test_run_until_complete_while_running_raises(loop, run_once):
    fut = loop.create_future()
    seen = _nested_attempt(loop, run_once, lambda: loop.run_until_complete(fut))
    assert seen == ["This event loop is already running"]
    assert loop.run_until_complete(asyncio.sleep(0, "usable")) == "usable"


@pytest.mark.parametrize("method", ["run_forever", "run_until_complete"])
def test_running_a_second_loop_inside_a_running_loop_raises(loop, loop_factory, run_once, method):
    other = loop_factory()
    try:
        fut = other.create_future()
        if method == "run_forever":
            attempt = other.run_forever
        else:
            attempt = lambda: other.run_until_complete(fut)  # noqa: E731
        seen = _nested_attempt(loop, run_once, attempt)
        assert seen == ["Cannot run the event loop while another loop is running"]
        # Both loops are still usable afterwards.
        assert other.run_until_complete(asyncio.sleep(0, "other")) == "other"
        assert loop.run_until_complete(asyncio.sleep(0, "loop")) == "loop"
    finally:
        other.close()


def test_is_running_is_true_only_while_running(loop):
    seen = []
    loop.call_soon(lambda: seen.append(loop.is_running()))
    assert loop.is_running() is False
    loop.run_until_complete(asyncio.sleep(0))
    assert seen == [True]
    assert loop.is_running() is False


def test_loop_runs_in_non_main_threads(loop_factory):
    results = {}

    def worker(i):
        lp = loop_factory()
        try:
            async def main():
                await asyncio.sleep(0.005)
                return asyncio.get_running_loop() is lp

            results[i] = lp.run_until_complete(main())
        finally:
            lp.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {0: True, 1: True, 2: True}


# ------------------------------------------------------------ close


def test_close_marks_the_loop_closed(loop):
    assert loop.is_closed() is False
    loop.close()
    assert loop.is_closed() is True


def test_close_twice_is_harmless(loop):
    loop.close()
    loop.close()
    assert loop.is_closed()


def test_close_while_running_raises(loop, run_once):
    seen = []

    def try_close():
        try:
            loop.close()
        except RuntimeError as exc:
            seen.append(str(exc))

    loop.call_soon(try_close)
    run_once(loop)
    assert seen == ["Cannot close a running event loop"]
    assert loop.is_closed() is False


def test_close_after_running_marks_the_loop_closed(loop):
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    assert loop.is_closed()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda lp: lp.call_soon(print), id="call_soon"),
        pytest.param(lambda lp: lp.call_later(1, print), id="call_later"),
        pytest.param(lambda lp: lp.call_at(1.0, print), id="call_at"),
        pytest.param(lambda lp: lp.call_soon_threadsafe(print), id="call_soon_threadsafe"),
        pytest.param(lambda lp: lp.run_forever(), id="run_forever"),
        pytest.param(lambda lp: lp.run_in_executor(None, print), id="run_in_executor"),
    ],
)
def test_operations_on_a_closed_loop_raise_runtime_error(loop, call):
    loop.close()
    with pytest.raises(RuntimeError, match=CLOSED):
        call(loop)


def test_run_until_complete_on_a_closed_loop_raises_runtime_error(loop):
    loop.close()
    coro = asyncio.sleep(0)
    try:
        with pytest.raises(RuntimeError, match=CLOSED):
            loop.run_until_complete(coro)
    finally:
        coro.close()


def test_create_task_on_a_closed_loop_raises_runtime_error(loop):
    loop.close()
    coro = asyncio.sleep(0)
    try:
        with pytest.raises(RuntimeError, match=CLOSED):
            loop.create_task(coro)
    finally:
        coro.close()


def test_closed_loop_still_answers_queries(loop):
    loop.close()
    assert loop.is_running() is False
    assert loop.is_closed() is True
    assert isinstance(loop.time(), float)
    loop.stop()  # harmless


# ------------------------------------------------------------ repr


def test_loop_repr_shows_running_closed_and_debug_state(loop, run_once):
    assert re.search(r"running=False closed=False debug=False", repr(loop)), repr(loop)
    seen = []
    loop.call_soon(lambda: seen.append(repr(loop)))
    run_once(loop)
    assert re.search(r"running=True closed=False", seen[0]), seen[0]
    loop.set_debug(True)
    assert re.search(r"debug=True", repr(loop)), repr(loop)
    loop.close()
    assert re.search(r"closed=True", repr(loop)), repr(loop)


def test_close_releases_the_loops_file_descriptors(loop_factory):
    def open_fds():
        return len(os.listdir("/proc/self/fd"))

    before = open_fds()
    lp = loop_factory()
    lp.run_until_complete(asyncio.sleep(0))
    assert open_fds() > before
    lp.close()
    assert open_fds() == before


def test_the_loops_own_waker_counts_as_one_internal_fd_until_closed(loop_factory):
    lp = loop_factory()
    assert lp._internal_fds == 1
    lp.close()
    assert lp._internal_fds == 0
