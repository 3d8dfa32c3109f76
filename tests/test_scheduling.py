"""call_soon and the ready queue: order, iterations, running-loop state."""

import asyncio
import time


def test_call_soon_runs_callbacks_in_fifo_order(loop, run_once):
    out = []
    for i in range(100):
        loop.call_soon(out.append, i)
    run_once(loop)
    assert out == list(range(100))


def test_call_soon_passes_positional_arguments(loop, run_once):
    out = []
    loop.call_soon(lambda *a: out.append(a), 1, "two", None)
    loop.call_soon(lambda: out.append(()))
    run_once(loop)
    assert out == [(1, "two", None), ()]


def test_callback_scheduled_by_a_callback_runs_after_callbacks_scheduled_earlier(loop, run_once):
    out = []

    def first():
        out.append("first")
        loop.call_soon(out.append, "scheduled-by-first")

    loop.call_soon(first)
    loop.call_soon(out.append, "second")
    loop.call_soon(out.append, "third")
    run_once(loop)
    run_once(loop)
    assert out == ["first", "second", "third", "scheduled-by-first"]


def test_callback_scheduled_during_an_iteration_waits_for_the_next_iteration(loop):
    out = []

    def first():
        out.append("first")
        loop.call_soon(out.append, "next-iteration")

    loop.call_soon(first)
    loop.call_soon(loop.stop)  # the iteration marker: stop after this one
    loop.run_forever()
    assert out == ["first"]

    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == ["first", "next-iteration"]


def test_callbacks_scheduled_before_stop_in_the_same_iteration_still_run(loop):
    out = []
    loop.call_soon(out.append, 1)
    loop.call_soon(loop.stop)
    loop.call_soon(out.append, 2)
    loop.run_forever()
    assert out == [1, 2]


def test_many_callbacks_all_run_in_order(loop, run_once):
    out = []
    n = 20000
    for i in range(n):
        loop.call_soon(out.append, i)
    run_once(loop)
    assert out == list(range(n))


def test_raising_callback_does_not_prevent_later_callbacks(loop, errors, run_once):
    out = []

    def boom():
        raise ValueError("boom")

    loop.call_soon(out.append, 1)
    loop.call_soon(boom)
    loop.call_soon(out.append, 2)
    run_once(loop)
    assert out == [1, 2]
    assert len(errors) == 1


def test_call_soon_returns_a_handle_that_is_not_cancelled(loop, run_once):
    h = loop.call_soon(lambda: None)
    assert h.cancelled() is False
    assert callable(h.cancel)
    run_once(loop)
    assert h.cancelled() is False


def test_get_running_loop_returns_the_loop_inside_callbacks(loop, run_once):
    seen = []

    def cb():
        seen.append(asyncio.get_running_loop())
        seen.append(asyncio.get_event_loop())
        seen.append(loop.is_running())

    loop.call_soon(cb)
    loop.call_later(0.001, cb)
    loop.run_until_complete(asyncio.sleep(0.01))
    assert seen == [loop, loop, True, loop, loop, True]


def test_get_running_loop_returns_the_loop_inside_coroutines(loop):
    async def main():
        return asyncio.get_running_loop()

    assert loop.run_until_complete(main()) is loop


def test_loop_is_not_running_outside_run_calls(loop):
    assert loop.is_running() is False
    loop.run_until_complete(asyncio.sleep(0))
    assert loop.is_running() is False
    try:
        asyncio.get_running_loop()
    except RuntimeError as exc:
        assert "no running event loop" in str(exc)
    else:
        raise AssertionError("get_running_loop() outside a running loop")


def test_loop_time_is_monotonic(loop):
    samples = [loop.time() for _ in range(10000)]
    assert all(b >= a for a, b in zip(samples, samples[1:]))
    assert isinstance(samples[0], float)


def test_loop_time_is_comparable_to_time_monotonic(loop):
    before = time.monotonic()
    now = loop.time()
    after = time.monotonic()
    assert before - 0.001 <= now <= after + 0.001


def test_loop_time_advances_while_a_callback_runs(loop, run_once):
    stamps = []

    def cb():
        stamps.append(loop.time())
        time.sleep(0.02)
        stamps.append(loop.time())

    loop.call_soon(cb)
    run_once(loop)
    assert stamps[1] - stamps[0] >= 0.019
