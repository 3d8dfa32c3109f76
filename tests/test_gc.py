"""Garbage collection: dropped loops, cycles, and released callbacks."""

import asyncio
import gc
import warnings
import weakref

import pytest


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


# Child-side set-up: every loop made through `factory` is watched (weakly).
WATCHED_FACTORY = """
import gc, weakref
refs = []
def factory():
    lp = loop_factory()
    refs.append(weakref.ref(lp))
    return lp
"""

ENDINGS = {
    "returns": "await asyncio.sleep(0)",
    "executor": "await asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.01)",
    "to_thread": "await asyncio.to_thread(time.sleep, 0.01)",
    "raises": "raise ValueError('x')",
    "keyboard_interrupt": "raise KeyboardInterrupt",
    "sigint": "asyncio.get_running_loop().call_later(0.01, os.kill, os.getpid(), signal.SIGINT)\n"
              "    await asyncio.sleep(5)",
}

RUNNERS = {
    "runner": "with asyncio.Runner(loop_factory=factory) as runner:\n        runner.run(main())",
    "run_until_complete": "lp = factory()\n    try:\n        lp.run_until_complete(main())\n"
                          "    finally:\n        lp.close()",
}


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_a_finished_loop_is_freed_however_the_program_ended(run_child, runner, ending):
    result = run_child(WATCHED_FACTORY + f"""
async def main():
    {ENDINGS[ending]}
def run():
    {RUNNERS[runner]}
try:
    run()
except (ValueError, KeyboardInterrupt):
    pass
deadline = time.monotonic() + 5
while any(r() is not None for r in refs) and time.monotonic() < deadline:
    gc.collect()  # worker threads let go of the loop when they end
    time.sleep(0.01)
print(len(refs), sum(r() is None for r in refs))
""")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "1"], result.stdout + result.stderr


def test_a_loop_that_ran_anyio_to_thread_is_freed(run_child):
    result = run_child(WATCHED_FACTORY + """
import anyio
async def main():
    await anyio.to_thread.run_sync(time.sleep, 0.01)
anyio.run(main, backend_options={"loop_factory": factory})
deadline = time.monotonic() + 5
while any(r() is not None for r in refs) and time.monotonic() < deadline:
    gc.collect()  # anyio's idle worker thread lets go of the loop when it ends
    time.sleep(0.01)
print(len(refs), sum(r() is None for r in refs))
""")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "1"], result.stdout + result.stderr


def test_handles_in_cycles_are_collected_when_their_memory_is_reused(loop, run_once):
    class Owner:
        def tick(self):
            pass

    refs = []
    for _ in range(400):
        owner = Owner()
        owner.timer = loop.call_later(100, owner.tick)
        owner.soon = loop.call_soon(owner.tick)
        owner.timer.cancel()
        refs.append(weakref.ref(owner))
        del owner
        run_once(loop)
    collect()
    assert all(ref() is None for ref in refs)
