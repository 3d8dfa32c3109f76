"""Handle / TimerHandle objects: cancel, cancelled, when, get_context, repr."""

import asyncio
import contextvars
import re
import sys
import weakref

import pytest

PY313 = sys.version_info >= (3, 13)
PY312 = sys.version_info >= (3, 12)

FLOAT = r"(?:[0-9]+(?:\.[0-9]*)?(?:e[+-]?[0-9]+)?|inf)"


def cb(*args):
    pass


def test_cancelled_handle_never_runs(loop, run_once):
    out = []
    h = loop.call_soon(out.append, 1)
    h.cancel()
    assert h.cancelled() is True
    run_once(loop)
    assert out == []


def test_cancelled_timer_never_runs(loop):
    out = []
    h = loop.call_later(0.001, out.append, 1)
    h.cancel()
    assert h.cancelled() is True
    loop.run_until_complete(asyncio.sleep(0.02))
    assert out == []


def test_cancel_twice_is_harmless(loop, run_once):
    h = loop.call_soon(cb)
    t = loop.call_later(10, cb)
    for handle in (h, t, h, t):
        handle.cancel()
    assert h.cancelled() and t.cancelled()
    run_once(loop)


def test_cancel_after_the_callback_ran_is_harmless(loop, run_once):
    out = []
    h = loop.call_soon(out.append, 1)
    run_once(loop)
    assert h.cancelled() is False
    h.cancel()
    assert h.cancelled() is True
    run_once(loop)
    assert out == [1]


def test_callback_can_cancel_a_later_callback_of_the_same_iteration(loop, run_once):
    out = []
    handles = {}
    loop.call_soon(lambda: handles["b"].cancel())
    handles["b"] = loop.call_soon(out.append, "b")
    loop.call_soon(out.append, "c")
    run_once(loop)
    assert out == ["c"]


def test_callback_can_cancel_an_expired_timer_of_the_same_iteration(loop):
    out = []
    when = loop.time() + 0.005
    handles = {}
    loop.call_at(when - 0.001, lambda: handles["t"].cancel())
    handles["t"] = loop.call_at(when, out.append, "t")
    loop.call_at(when + 0.001, out.append, "u")
    loop.run_until_complete(asyncio.sleep(0.03))
    assert out == ["u"]


def test_callback_can_cancel_its_own_handle_while_running(loop, run_once):
    handles = {}
    out = []

    def me():
        handles["me"].cancel()
        out.append(handles["me"].cancelled())

    handles["me"] = loop.call_soon(me)
    run_once(loop)
    assert out == [True]


def test_timer_handle_when_is_a_method_returning_the_deadline(loop):
    when = loop.time() + 100.5
    h = loop.call_at(when, cb)
    assert callable(h.when)
    assert h.when() == when
    h.cancel()
    assert h.when() == when


def test_call_later_deadline_is_now_plus_delay(loop):
    before = loop.time()
    h = loop.call_later(10, cb)
    after = loop.time()
    assert before + 10 <= h.when() <= after + 10
    h.cancel()


def test_handle_get_context_returns_the_context_passed_in(loop, run_once):
    ctx = contextvars.copy_context()
    h = loop.call_soon(cb, context=ctx)
    t = loop.call_later(10, cb, context=ctx)
    if PY312:
        assert h.get_context() is ctx
        assert t.get_context() is ctx
    else:
        # asyncio.Handle.get_context() exists since Python 3.12.
        assert not hasattr(asyncio.Handle, "get_context")
    t.cancel()
    run_once(loop)


def test_handle_get_context_defaults_to_a_copy_of_the_current_context(loop, run_once):
    var = contextvars.ContextVar("var")
    var.set("outer")
    h = loop.call_soon(cb)
    if PY312:
        ctx = h.get_context()
        assert isinstance(ctx, contextvars.Context)
        assert ctx is not contextvars.copy_context()
        assert ctx[var] == "outer"
    run_once(loop)


def test_handle_repr_names_the_callback(loop):
    h = loop.call_soon(cb, 1, 2)
    r = repr(h)
    if PY313:
        # 3.13 hides the arguments outside debug mode.
        assert re.match(r"^<Handle cb\(\)( .*)?>$", r), r
    else:
        assert re.match(r"^<Handle cb\(1, 2\)( .*)?>$", r), r
    h.cancel()


def test_handle_repr_shows_arguments_in_debug_mode(loop):
    loop.set_debug(True)
    h = loop.call_soon(cb, 1, 2)
    assert re.match(r"^<Handle cb\(1, 2\)( .*)?>$", repr(h)), repr(h)
    h.cancel()
    assert re.match(r"^<Handle cancelled cb\(1, 2\)( .*)?>$", repr(h)), repr(h)


def test_cancelled_handle_repr_says_cancelled(loop):
    h = loop.call_soon(cb, 1)
    h.cancel()
    assert re.match(r"^<Handle cancelled( .*)?>$", repr(h)), repr(h)


def test_timer_handle_repr_shows_when_and_callback(loop):
    h = loop.call_later(10, cb, 1)
    r = repr(h)
    args = r"" if PY313 else r"1"
    assert re.match(rf"^<TimerHandle when={FLOAT} cb\({args}\)( .*)?>$", r), r
    when = float(re.match(rf"^<TimerHandle when=({FLOAT})", r).group(1))
    assert when == pytest.approx(h.when(), abs=1e-6)
    h.cancel()


def test_cancelled_timer_handle_repr_says_cancelled_and_keeps_when(loop):
    h = loop.call_later(10, cb, 1)
    h.cancel()
    r = repr(h)
    assert re.match(rf"^<TimerHandle cancelled when={FLOAT}( .*)?>$", r), r


def test_infinite_timer_handle_repr(loop):
    h = loop.call_later(float("inf"), cb)
    assert re.match(r"^<TimerHandle when=inf cb\(\)( .*)?>$", repr(h)), repr(h)
    h.cancel()


def test_threadsafe_handle_can_be_cancelled(loop, run_once):
    out = []
    h = loop.call_soon_threadsafe(out.append, 1)
    h.cancel()
    assert h.cancelled()
    run_once(loop)
    assert out == []


def test_handles_made_after_many_were_dropped_start_fresh(loop, run_once):
    # zloop reuses the memory of dropped handles: nothing of the old ones
    # (cancelled flag, callback, arguments, when) may show through.
    for i in range(600):
        loop.call_soon(cb, i).cancel()
        loop.call_later(5, cb, i).cancel()
    run_once(loop)
    out = []
    h = loop.call_soon(out.append, "soon")
    t = loop.call_later(0, out.append, "later")
    assert not h.cancelled() and not t.cancelled()
    assert type(h) is not type(t)
    assert t.when() <= loop.time()
    loop.run_until_complete(asyncio.sleep(0.005))
    assert out == ["soon", "later"]


def test_a_dropped_handle_is_not_reachable_through_an_old_weak_reference(loop, run_once):
    ref = weakref.ref(loop.call_soon(cb))
    run_once(loop)
    assert ref() is None
    kept = [loop.call_soon(cb) for _ in range(10)]
    assert ref() is None
    for h in kept:
        h.cancel()
