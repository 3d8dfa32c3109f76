"""Garbage collection: dropped loops, cycles, and released callbacks."""

import asyncio
import gc
import warnings
import weakref


class Payload:
    """A weak-referenceable argument whose lifetime we watch."""


def collect():
    with warnings.catch_warnings():
        # An unclosed loop warns "unclosed event loop" when collected.
        warnings.simplefilter("ignore", ResourceWarning)
        for _ in range(3):
            gc.collect()


def noop(*args):
    pass


def closure_over(obj):
    def callback():
        return obj

    return callback


def test_unclosed_loop_with_pending_call_soon_handles_is_collected(loop_factory):
    lp = loop_factory()
    for _ in range(10):
        lp.call_soon(noop, Payload())
    ref = weakref.ref(lp)
    del lp
    collect()
    assert ref() is None


def test_unclosed_loop_with_pending_timers_is_collected(loop_factory):
    lp = loop_factory()
    for i in range(10):
        lp.call_later(100 + i, noop, Payload())
    lp.call_later(float("inf"), noop)
    ref = weakref.ref(lp)
    del lp
    collect()
    assert ref() is None


def test_loop_in_a_cycle_through_a_handle_callback_is_collected(loop_factory):
    lp = loop_factory()
    callback = closure_over(lp)  # callback -> loop
    lp.pending_soon = lp.call_soon(callback)  # loop -> handle -> callback -> loop
    lp.pending_timer = lp.call_later(100, callback)
    ref = weakref.ref(lp)
    del lp, callback
    collect()
    assert ref() is None


def test_loop_in_a_cycle_through_a_bound_method_argument_is_collected(loop_factory):
    lp = loop_factory()
    lp.call_soon(noop, lp.stop)  # handle args -> bound method -> loop
    lp.call_later(100, lp.call_soon, noop)
    ref = weakref.ref(lp)
    del lp
    collect()
    assert ref() is None


def test_closed_loop_that_ran_is_collected(loop_factory):
    lp = loop_factory()
    lp.call_later(100, noop)
    lp.run_until_complete(asyncio.sleep(0.001))
    lp.close()
    ref = weakref.ref(lp)
    del lp
    collect()
    assert ref() is None


def test_callback_arguments_are_released_after_the_callback_runs(loop, run_once):
    payload = Payload()
    ref = weakref.ref(payload)
    loop.call_soon(noop, payload)
    loop.call_later(0, noop, payload)
    del payload
    loop.run_until_complete(asyncio.sleep(0.005))
    run_once(loop)
    collect()
    assert ref() is None


def test_cancelled_handle_releases_its_callback_and_arguments(loop):
    payload = Payload()
    ref = weakref.ref(payload)
    h = loop.call_soon(noop, payload)
    t = loop.call_later(100, noop, payload)
    del payload
    h.cancel()
    t.cancel()
    collect()
    assert ref() is None
    assert h.cancelled() and t.cancelled()


def test_close_releases_pending_callbacks(loop):
    payload = Payload()
    ref = weakref.ref(payload)
    loop.call_soon(noop, payload)
    loop.call_later(100, noop, payload)
    del payload
    loop.close()
    collect()
    assert ref() is None


def test_removed_reader_releases_its_callback(loop):
    import socket

    a, b = socket.socketpair()
    try:
        payload = Payload()
        ref = weakref.ref(payload)
        loop.add_reader(a, noop, payload)
        del payload
        assert loop.remove_reader(a) is True
        collect()
        assert ref() is None
    finally:
        a.close()
        b.close()
