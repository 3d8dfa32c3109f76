"""call_soon_threadsafe and friends: cross-thread scheduling and wake-up."""

import asyncio
import concurrent.futures
import contextvars
import threading
import time

import pytest


def test_call_soon_threadsafe_from_many_threads_loses_nothing(loop):
    n_threads, n_calls = 8, 2000
    total = n_threads * n_calls
    received = []
    done = loop.create_future()

    def record(tid, i):
        received.append((tid, i))
        if len(received) == total:
            done.set_result(None)

    barrier = threading.Barrier(n_threads)

    def producer(tid):
        barrier.wait()
        for i in range(n_calls):
            loop.call_soon_threadsafe(record, tid, i)

    threads = [threading.Thread(target=producer, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    try:
        loop.run_until_complete(asyncio.wait_for(done, 20))
    finally:
        for t in threads:
            t.join(10)
    assert len(received) == total
    # Calls from one thread keep their order.
    for tid in range(n_threads):
        assert [i for t, i in received if t == tid] == list(range(n_calls))


def test_call_soon_threadsafe_wakes_a_sleeping_loop(loop):
    # No timer is due for 5 s: only the wake-up can end the wait early.
    fut = loop.create_future()
    loop.call_later(5, lambda: fut.done() or fut.set_result("timer"))

    def from_thread():
        time.sleep(0.05)
        loop.call_soon_threadsafe(fut.set_result, "thread")

    t = threading.Thread(target=from_thread)
    start = time.monotonic()
    t.start()
    try:
        result = loop.run_until_complete(fut)
    finally:
        t.join(10)
    assert result == "thread"
    assert time.monotonic() - start < 2.5


def test_call_soon_threadsafe_wakes_a_loop_with_nothing_scheduled(loop):
    def from_thread():
        time.sleep(0.05)
        loop.call_soon_threadsafe(loop.stop)

    t = threading.Thread(target=from_thread)
    t.start()
    try:
        loop.run_forever()
    finally:
        t.join(10)
    assert not loop.is_running()


def test_call_soon_threadsafe_repeatedly_wakes_the_loop(loop):
    results = []
    done = loop.create_future()

    def from_thread():
        for i in range(20):
            time.sleep(0.005)
            loop.call_soon_threadsafe(results.append, i)
        loop.call_soon_threadsafe(done.set_result, None)

    t = threading.Thread(target=from_thread)
    t.start()
    try:
        loop.run_until_complete(asyncio.wait_for(done, 10))
    finally:
        t.join(10)
    assert results == list(range(20))


def test_call_soon_threadsafe_before_the_loop_runs_is_queued(loop, run_once):
    out = []
    t = threading.Thread(target=lambda: loop.call_soon_threadsafe(out.append, "queued"))
    t.start()
    t.join(10)
    run_once(loop)
    assert out == ["queued"]


def test_call_soon_threadsafe_keeps_fifo_order_with_call_soon(loop, run_once):
    out = []
    loop.call_soon(out.append, 1)
    loop.call_soon_threadsafe(out.append, 2)
    loop.call_soon(out.append, 3)
    run_once(loop)
    assert out == [1, 2, 3]


def test_call_soon_threadsafe_uses_the_calling_threads_context(loop):
    var = contextvars.ContextVar("var", default="unset")
    seen = []
    done = loop.create_future()

    def from_thread():
        var.set("thread-value")
        loop.call_soon_threadsafe(lambda: seen.append(var.get()))
        loop.call_soon_threadsafe(done.set_result, None)

    var.set("loop-thread-value")
    t = threading.Thread(target=from_thread)
    t.start()
    try:
        loop.run_until_complete(asyncio.wait_for(done, 10))
    finally:
        t.join(10)
    assert seen == ["thread-value"]


def test_call_soon_threadsafe_on_a_closed_loop_raises(loop):
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_soon_threadsafe(lambda: None)


def test_run_coroutine_threadsafe_returns_the_result_to_the_thread(loop):
    async def work(x):
        await asyncio.sleep(0.001)
        return x * 2

    results = []

    def from_thread():
        fut = asyncio.run_coroutine_threadsafe(work(21), loop)
        results.append(fut.result(timeout=10))
        loop.call_soon_threadsafe(loop.stop)

    t = threading.Thread(target=from_thread)
    t.start()
    try:
        loop.run_forever()
    finally:
        t.join(10)
    assert results == [42]


def test_wrap_future_resolves_when_the_concurrent_future_does(loop):
    cfut = concurrent.futures.Future()
    threading.Timer(0.02, cfut.set_result, ("from-thread",)).start()
    assert loop.run_until_complete(asyncio.wrap_future(cfut, loop=loop)) == "from-thread"
