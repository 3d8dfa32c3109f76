"""Futures and tasks on the loop, and the asyncio high-level API on top."""

import asyncio
import contextvars
import gc
import re

import pytest


# ------------------------------------------------------------ futures


def test_create_future_returns_a_pending_future_bound_to_the_loop(loop):
    fut = loop.create_future()
    assert isinstance(fut, asyncio.Future)
    assert fut.get_loop() is loop
    assert not fut.done()
    fut.cancel()


def test_future_done_callbacks_run_on_a_later_iteration(loop, run_once):
    fut = loop.create_future()
    out = []
    fut.add_done_callback(lambda f: out.append(f.result()))
    fut.set_result("r")
    assert out == []  # not synchronously
    run_once(loop)
    assert out == ["r"]


def test_future_resolved_by_a_timer_wakes_an_awaiting_coroutine(loop):
    fut = loop.create_future()
    loop.call_later(0.005, fut.set_result, "timer")

    async def main():
        return await fut

    assert loop.run_until_complete(main()) == "timer"


# ------------------------------------------------------------ tasks


def test_create_task_runs_the_coroutine_and_returns_a_task(loop):
    async def coro():
        return "done"

    task = loop.create_task(coro())
    assert isinstance(task, asyncio.Task)
    assert task.get_loop() is loop
    assert loop.run_until_complete(task) == "done"


def test_create_task_does_not_start_the_coroutine_synchronously(loop, run_once):
    started = []

    async def coro():
        started.append(True)

    task = loop.create_task(coro())
    assert started == []
    run_once(loop)
    assert started == [True]
    assert task.done()


def test_create_task_sets_the_name(loop):
    async def coro():
        pass

    named = loop.create_task(coro(), name="my-task")
    unnamed = loop.create_task(coro())
    assert named.get_name() == "my-task"
    assert re.fullmatch(r"Task-\d+", unnamed.get_name())
    loop.run_until_complete(asyncio.gather(named, unnamed))


def test_create_task_runs_in_the_given_context(loop):
    var = contextvars.ContextVar("var", default="default")
    ctx = contextvars.copy_context()
    ctx.run(var.set, "in-ctx")

    async def coro():
        seen = var.get()
        var.set("changed-by-task")
        return seen

    assert loop.run_until_complete(loop.create_task(coro(), context=ctx)) == "in-ctx"
    assert ctx[var] == "changed-by-task"
    assert var.get() == "default"


def test_create_task_rejects_non_coroutines(loop):
    with pytest.raises(TypeError, match="a coroutine was expected"):
        loop.create_task(1)


def test_current_task_and_all_tasks_see_loop_tasks(loop):
    async def child():
        await asyncio.sleep(0.01)

    async def main():
        me = asyncio.current_task()
        t = asyncio.create_task(child())
        tasks = asyncio.all_tasks()
        await t
        return me, t, tasks

    main_task = loop.create_task(main())
    me, t, tasks = loop.run_until_complete(main_task)
    assert me is main_task
    assert tasks == {main_task, t}
    assert asyncio.all_tasks(loop) == set()


def test_task_exception_never_retrieved_is_reported(loop, errors, run_once):
    async def fail():
        raise ValueError("never retrieved")

    task = loop.create_task(fail())
    run_once(loop)
    assert task.done()
    del task
    gc.collect()
    reports = [c for c in errors if c["message"] == "Task exception was never retrieved"]
    assert len(reports) == 1
    assert isinstance(reports[0]["exception"], ValueError)
    assert isinstance(reports[0]["future"], asyncio.Task)


def test_cancelling_a_task_raises_cancelled_error_inside_it(loop):
    seen = []

    async def sleeper():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    task = loop.create_task(sleeper())
    loop.call_later(0.005, task.cancel)
    with pytest.raises(asyncio.CancelledError):
        loop.run_until_complete(task)
    assert seen == ["cancelled"]
    assert task.cancelled()


# ------------------------------------------------------------ task factory


def test_get_task_factory_is_none_by_default(loop):
    assert loop.get_task_factory() is None


def test_task_factory_receives_the_loop_and_the_coroutine(loop):
    calls = []

    def factory(lp, coro, **kwargs):
        calls.append((lp, coro, kwargs))
        return asyncio.Task(coro, loop=lp, **kwargs)

    loop.set_task_factory(factory)
    assert loop.get_task_factory() is factory

    async def main():
        return "via-factory"

    coro = main()
    task = loop.create_task(coro, name="factory-task")
    assert loop.run_until_complete(task) == "via-factory"
    assert len(calls) == 1
    assert calls[0][0] is loop
    assert calls[0][1] is coro
    assert task.get_name() == "factory-task"


def test_task_factory_receives_the_context_keyword(loop):
    calls = []

    def factory(lp, coro, **kwargs):
        calls.append(kwargs)
        return asyncio.Task(coro, loop=lp, **kwargs)

    loop.set_task_factory(factory)
    ctx = contextvars.copy_context()

    async def main():
        pass

    loop.run_until_complete(loop.create_task(main(), context=ctx))
    assert calls[0]["context"] is ctx


def test_task_factory_is_used_by_module_level_create_task(loop):
    made = []

    def factory(lp, coro, **kwargs):
        task = asyncio.Task(coro, loop=lp, **kwargs)
        made.append(task)
        return task

    async def child():
        return 1

    async def main():
        return await asyncio.create_task(child())

    loop.set_task_factory(factory)
    assert loop.run_until_complete(main()) == 1
    assert len(made) == 2  # main (run_until_complete) and child


def test_set_task_factory_none_restores_the_default(loop):
    loop.set_task_factory(lambda lp, coro, **kw: asyncio.Task(coro, loop=lp, **kw))
    loop.set_task_factory(None)
    assert loop.get_task_factory() is None


def test_set_task_factory_rejects_non_callables(loop):
    with pytest.raises(TypeError, match="task factory must be a callable or None"):
        loop.set_task_factory(1)
    assert loop.get_task_factory() is None


# ------------------------------------------------------------ high-level API


def test_sleep_wakes_tasks_in_delay_order(loop):
    out = []

    async def sleeper(delay, tag):
        await asyncio.sleep(delay)
        out.append(tag)

    async def main():
        await asyncio.gather(sleeper(0.03, "c"), sleeper(0.01, "a"), sleeper(0.02, "b"))

    loop.run_until_complete(main())
    assert out == ["a", "b", "c"]


def test_sleep_zero_interleaves_tasks_round_robin(loop):
    out = []

    async def worker(tag):
        for i in range(3):
            out.append(f"{tag}{i}")
            await asyncio.sleep(0)

    async def main():
        await asyncio.gather(worker("a"), worker("b"))

    loop.run_until_complete(main())
    assert out == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_gather_returns_results_in_argument_order(loop):
    async def value(delay, v):
        await asyncio.sleep(delay)
        return v

    async def main():
        return await asyncio.gather(value(0.02, 1), value(0.0, 2), value(0.01, 3))

    assert loop.run_until_complete(main()) == [1, 2, 3]


def test_gather_return_exceptions(loop):
    async def fail():
        raise KeyError("k")

    async def ok():
        return "ok"

    async def main():
        return await asyncio.gather(fail(), ok(), return_exceptions=True)

    res = loop.run_until_complete(main())
    assert isinstance(res[0], KeyError) and res[1] == "ok"


def test_wait_for_times_out(loop):
    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.sleep(10), 0.01)
        return await asyncio.wait_for(asyncio.sleep(0, "fast"), 1)

    assert loop.run_until_complete(main()) == "fast"


def test_timeout_context_manager_cancels_the_block(loop):
    async def main():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await asyncio.sleep(10)
        async with asyncio.timeout(1) as cm:
            await asyncio.sleep(0)
        return cm.expired()

    assert loop.run_until_complete(main()) is False


def test_timeout_at_uses_the_loop_clock(loop):
    async def main():
        deadline = asyncio.get_running_loop().time() + 0.01
        with pytest.raises(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await asyncio.sleep(10)
        return asyncio.get_running_loop().time() >= deadline - 0.001

    assert loop.run_until_complete(main()) is True


def test_shield_protects_the_inner_task_from_cancellation(loop):
    inner_done = []

    async def inner():
        await asyncio.sleep(0.02)
        inner_done.append(True)
        return "inner"

    async def main():
        inner_task = asyncio.ensure_future(inner())
        outer = asyncio.ensure_future(asyncio.shield(inner_task))
        await asyncio.sleep(0.005)
        outer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await outer
        return await inner_task

    assert loop.run_until_complete(main()) == "inner"
    assert inner_done == [True]


def test_task_group_runs_children_and_collects_errors(loop):
    async def child(delay, v):
        await asyncio.sleep(delay)
        return v

    async def failing():
        await asyncio.sleep(0.005)
        raise ValueError("child failed")

    async def main():
        async with asyncio.TaskGroup() as tg:
            t1 = tg.create_task(child(0.01, 1))
            t2 = tg.create_task(child(0.0, 2))
        results = (t1.result(), t2.result())
        with pytest.raises(ExceptionGroup) as info:
            async with asyncio.TaskGroup() as tg:
                slow = tg.create_task(child(10, "never"))
                tg.create_task(failing())
        assert slow.cancelled()
        assert isinstance(info.value.exceptions[0], ValueError)
        return results

    assert loop.run_until_complete(main()) == (1, 2)


def test_wait_first_completed(loop):
    async def main():
        fast = asyncio.ensure_future(asyncio.sleep(0.001, "fast"))
        slow = asyncio.ensure_future(asyncio.sleep(10, "slow"))
        done, pending = await asyncio.wait({fast, slow}, return_when=asyncio.FIRST_COMPLETED)
        slow.cancel()
        return done == {fast} and pending == {slow}

    assert loop.run_until_complete(main()) is True


def test_queue_and_event_between_tasks(loop):
    async def main():
        q = asyncio.Queue()
        ev = asyncio.Event()
        got = []

        async def consumer():
            while (item := await q.get()) is not None:
                got.append(item)
            ev.set()

        asyncio.create_task(consumer())
        for i in range(5):
            await q.put(i)
        await q.put(None)
        await asyncio.wait_for(ev.wait(), 5)
        return got

    assert loop.run_until_complete(main()) == [0, 1, 2, 3, 4]
