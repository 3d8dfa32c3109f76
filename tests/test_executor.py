"""run_in_executor and the default executor."""

import asyncio
import concurrent.futures
import sys
import threading

import pytest


def test_run_in_executor_runs_the_function_in_another_thread(loop):
    main_thread = threading.get_ident()

    def work(a, b):
        return a + b, threading.get_ident()

    fut = loop.run_in_executor(None, work, 2, 3)
    assert isinstance(fut, asyncio.Future)
    result, tid = loop.run_until_complete(fut)
    assert result == 5
    assert tid != main_thread


def test_run_in_executor_propagates_exceptions(loop):
    def fail():
        raise KeyError("in executor")

    with pytest.raises(KeyError, match="in executor"):
        loop.run_until_complete(loop.run_in_executor(None, fail))


def test_run_in_executor_with_a_custom_executor(loop):
    with concurrent.futures.ThreadPoolExecutor(thread_name_prefix="custom-pool") as pool:
        name = loop.run_until_complete(
            loop.run_in_executor(pool, lambda: threading.current_thread().name))
    assert name.startswith("custom-pool")


def test_set_default_executor_is_used_for_none(loop):
    pool = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="default-pool")
    try:
        loop.set_default_executor(pool)
        name = loop.run_until_complete(
            loop.run_in_executor(None, lambda: threading.current_thread().name))
        assert name.startswith("default-pool")
    finally:
        pool.shutdown(wait=True)


@pytest.mark.parametrize(
    "executor",
    [object(), None, concurrent.futures.Executor()],
    ids=["object", "none", "plain-executor"],
)
def test_set_default_executor_rejects_non_thread_pool_executors(loop, executor):
    with pytest.raises(TypeError, match="executor must be ThreadPoolExecutor instance"):
        loop.set_default_executor(executor)


def test_shutdown_default_executor_joins_its_threads(loop):
    thread = loop.run_until_complete(
        loop.run_in_executor(None, threading.current_thread))
    assert thread.is_alive()
    loop.run_until_complete(loop.shutdown_default_executor())
    assert not thread.is_alive()


def test_run_in_executor_after_shutdown_default_executor_raises(loop):
    loop.run_until_complete(loop.shutdown_default_executor())
    with pytest.raises(RuntimeError, match="Executor shutdown has been called"):
        loop.run_in_executor(None, print)


def test_shutdown_default_executor_without_executor_is_a_no_op(loop):
    assert loop.run_until_complete(loop.shutdown_default_executor()) is None


def test_shutdown_default_executor_accepts_a_timeout_on_312_and_later(loop):
    loop.run_until_complete(loop.run_in_executor(None, lambda: None))
    if sys.version_info >= (3, 12):
        loop.run_until_complete(loop.shutdown_default_executor(timeout=5))
    else:  # 3.11 has no timeout parameter
        loop.run_until_complete(loop.shutdown_default_executor())


def test_custom_executor_still_works_after_default_shutdown(loop):
    loop.run_until_complete(loop.shutdown_default_executor())
    with concurrent.futures.ThreadPoolExecutor() as pool:
        assert loop.run_until_complete(loop.run_in_executor(pool, sum, [1, 2])) == 3


def test_many_executor_calls_complete(loop):
    async def main():
        lp = asyncio.get_running_loop()
        return await asyncio.gather(*[lp.run_in_executor(None, pow, i, 2) for i in range(50)])

    assert loop.run_until_complete(main()) == [i * i for i in range(50)]


def test_run_in_executor_on_a_closed_loop_raises(loop):
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_in_executor(None, print)
