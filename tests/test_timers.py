"""call_later / call_at: deadlines, ordering, extreme delays."""

import asyncio
import random
import sys
import time

import pytest


def test_call_later_runs_timers_in_deadline_order(loop):
    out = []
    loop.call_later(0.03, out.append, "30ms")
    loop.call_later(0.01, out.append, "10ms")
    loop.call_later(0.02, out.append, "20ms")
    loop.run_until_complete(asyncio.sleep(0.06))
    assert out == ["10ms", "20ms", "30ms"]


def test_call_later_does_not_fire_before_its_deadline(loop):
    fired = []
    start = time.monotonic()
    h = loop.call_later(0.03, lambda: fired.append((loop.time(), time.monotonic())))
    loop.run_until_complete(asyncio.sleep(0.06))
    assert len(fired) == 1
    loop_t, mono_t = fired[0]
    assert loop_t >= h.when() - 0.001
    assert mono_t - start >= 0.029


def test_call_at_uses_the_loop_clock(loop):
    fired = []
    when = loop.time() + 0.02
    h = loop.call_at(when, lambda: fired.append(loop.time()))
    assert h.when() == when
    loop.run_until_complete(asyncio.sleep(0.05))
    assert len(fired) == 1
    assert fired[0] >= when - 0.001


def test_many_timers_fire_in_deadline_order(loop):
    rng = random.Random(1234)
    fired = []
    handles = []
    base = loop.time()
    for i in range(500):
        when = base + rng.uniform(0.0, 0.04)
        handles.append(loop.call_at(when, fired.append, when))
    loop.run_until_complete(asyncio.sleep(0.08))
    assert len(fired) == 500
    assert fired == sorted(fired)


def test_cancelled_timers_among_many_never_fire(loop):
    rng = random.Random(99)
    fired = []
    handles = [loop.call_later(rng.uniform(0.0, 0.03), fired.append, i) for i in range(400)]
    for h in handles[::2]:
        h.cancel()
    loop.run_until_complete(asyncio.sleep(0.06))
    assert sorted(fired) == list(range(1, 400, 2))


def test_timers_with_equal_deadline_all_run_in_the_same_iteration(loop):
    # Stock asyncio leaves the relative order of equal deadlines undefined
    # (its heap is not stable), so only "all together, nothing lost" is the
    # shared contract; zloop's stronger FIFO guarantee is in test_package.
    out = []
    when = loop.time() + 0.01

    def first():
        out.append("first")
        loop.call_soon(out.append, "next-iteration")

    loop.call_at(when, first)
    for i in range(9):
        loop.call_at(when, out.append, i)
    loop.run_until_complete(asyncio.sleep(0.04))
    assert sorted(out[:10], key=str) == sorted(["first", *range(9)], key=str)
    assert out[10:] == ["next-iteration"]


def test_expired_timer_runs_after_callbacks_already_in_the_ready_queue(loop, run_once):
    out = []
    loop.call_soon(out.append, "soon-1")
    loop.call_later(0, out.append, "later-0")
    loop.call_soon(out.append, "soon-2")
    run_once(loop)
    assert out == ["soon-1", "soon-2", "later-0"]


def test_call_later_zero_runs_on_the_next_iteration(loop):
    out = []
    loop.call_later(0, out.append, "zero")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == ["zero"]


def test_call_later_negative_delay_runs_immediately_and_before_later_deadlines(loop, run_once):
    out = []
    loop.call_later(0, out.append, "zero")
    h = loop.call_later(-10, out.append, "negative")
    assert h.when() < loop.time()
    run_once(loop)
    assert out == ["negative", "zero"]


def test_timer_scheduled_from_a_callback_with_zero_delay_runs_in_a_later_iteration(loop):
    out = []

    def cb():
        out.append("cb")
        loop.call_later(0, out.append, "timer")

    loop.call_soon(cb)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == ["cb"]
    loop.run_until_complete(asyncio.sleep(0.001))
    assert out == ["cb", "timer"]


@pytest.mark.parametrize("delay", [1e9, float("inf"), sys.maxsize], ids=["1e9", "inf", "maxsize"])
def test_huge_delays_do_not_fire_and_do_not_block_the_loop(loop, delay):
    fired = []
    h = loop.call_later(delay, fired.append, "huge")
    assert h.when() >= loop.time() + 1e8
    start = time.monotonic()
    loop.run_until_complete(asyncio.sleep(0.01))
    assert time.monotonic() - start < 1.0
    assert fired == []
    h.cancel()
    assert h.cancelled()
    loop.run_until_complete(asyncio.sleep(0))
    assert fired == []


def test_infinite_delay_gives_an_infinite_deadline(loop):
    h = loop.call_later(float("inf"), lambda: None)
    assert h.when() == float("inf")
    h.cancel()


def test_huge_timers_do_not_delay_shorter_ones(loop):
    out = []
    for delay in (1e9, float("inf"), sys.maxsize):
        loop.call_later(delay, out.append, delay)
    loop.call_later(0.01, out.append, "short")
    loop.run_until_complete(asyncio.sleep(0.03))
    assert out == ["short"]


def test_call_later_none_raises_type_error(loop):
    with pytest.raises(TypeError, match="delay must not be None"):
        loop.call_later(None, lambda: None)


def test_call_at_none_raises_type_error(loop):
    with pytest.raises(TypeError, match="when cannot be None"):
        loop.call_at(None, lambda: None)


def test_call_later_accepts_int_delays(loop):
    out = []
    h = loop.call_later(0, out.append, 1)
    assert isinstance(h.when(), float)
    loop.run_until_complete(asyncio.sleep(0.001))
    assert out == [1]


def test_call_later_passes_positional_arguments(loop):
    out = []
    loop.call_later(0.001, lambda *a: out.append(a), 1, "x")
    loop.call_at(loop.time(), lambda *a: out.append(a), 2, "y")
    loop.run_until_complete(asyncio.sleep(0.01))
    assert sorted(out) == [(1, "x"), (2, "y")]


def test_pending_timer_does_not_keep_run_until_complete_running(loop):
    loop.call_later(30, lambda: None)
    start = time.monotonic()
    assert loop.run_until_complete(asyncio.sleep(0, "done")) == "done"
    assert time.monotonic() - start < 1.0
