"""contextvars reaching callbacks and tasks."""

import asyncio
import contextvars

import pytest

var = contextvars.ContextVar("zloop_test_var", default="default")


@pytest.fixture(autouse=True)
def reset_var():
    token = var.set("default")
    yield
    var.reset(token)


def test_callback_sees_the_context_current_when_it_was_scheduled(loop, run_once):
    seen = []
    var.set("at-schedule-time")
    loop.call_soon(lambda: seen.append(var.get()))
    var.set("after-scheduling")
    run_once(loop)
    assert seen == ["at-schedule-time"]


def test_callback_runs_in_a_copy_of_the_current_context(loop, run_once):
    seen = []

    def cb():
        var.set("changed-in-callback")
        seen.append(var.get())

    var.set("outer")
    loop.call_soon(cb)
    run_once(loop)
    assert seen == ["changed-in-callback"]
    assert var.get() == "outer"


def test_each_callback_gets_its_own_copy_of_the_context(loop, run_once):
    seen = []

    def setter():
        var.set("set-by-first")

    loop.call_soon(setter)
    loop.call_soon(lambda: seen.append(var.get()))
    run_once(loop)
    assert seen == ["default"]


def test_call_soon_context_argument_is_used_and_mutated(loop, run_once):
    ctx = contextvars.copy_context()
    ctx.run(var.set, "in-ctx")
    seen = []

    def cb():
        seen.append(var.get())
        var.set("changed-in-ctx")

    loop.call_soon(cb, context=ctx)
    run_once(loop)
    assert seen == ["in-ctx"]
    assert ctx[var] == "changed-in-ctx"
    assert var.get() == "default"


def test_callbacks_sharing_a_context_see_each_others_changes(loop, run_once):
    ctx = contextvars.Context()
    seen = []
    loop.call_soon(var.set, "first", context=ctx)
    loop.call_soon(lambda: seen.append(var.get()), context=ctx)
    run_once(loop)
    assert seen == ["first"]


@pytest.mark.parametrize("schedule", ["call_later", "call_at", "call_soon_threadsafe"])
def test_timer_and_threadsafe_callbacks_accept_a_context(loop, schedule):
    ctx = contextvars.copy_context()
    ctx.run(var.set, "explicit")
    seen = []
    cb = lambda: seen.append(var.get())  # noqa: E731
    if schedule == "call_later":
        loop.call_later(0.001, cb, context=ctx)
    elif schedule == "call_at":
        loop.call_at(loop.time() + 0.001, cb, context=ctx)
    else:
        loop.call_soon_threadsafe(cb, context=ctx)
    loop.run_until_complete(asyncio.sleep(0.01))
    assert seen == ["explicit"]


def test_timer_callback_sees_the_context_current_when_it_was_scheduled(loop):
    seen = []
    var.set("timer-schedule-time")
    loop.call_later(0.001, lambda: seen.append(var.get()))
    var.set("later")
    loop.run_until_complete(asyncio.sleep(0.01))
    assert seen == ["timer-schedule-time"]


def test_context_none_means_a_copy_of_the_current_context(loop, run_once):
    seen = []
    var.set("current")
    loop.call_soon(lambda: seen.append(var.get()), context=None)
    run_once(loop)
    assert seen == ["current"]


def test_task_runs_in_a_copy_of_the_context_it_was_created_in(loop):
    async def child():
        seen = var.get()
        var.set("changed-in-task")
        return seen

    async def main():
        var.set("main-value")
        seen = await asyncio.create_task(child())
        return seen, var.get()

    assert loop.run_until_complete(main()) == ("main-value", "main-value")


def test_task_context_is_kept_across_awaits(loop):
    async def main():
        var.set("kept")
        await asyncio.sleep(0)
        await asyncio.sleep(0.001)
        return var.get()

    assert loop.run_until_complete(main()) == "kept"


def test_callbacks_scheduled_from_a_task_inherit_its_context(loop):
    seen = []

    async def main():
        var.set("from-task")
        asyncio.get_running_loop().call_soon(lambda: seen.append(var.get()))
        await asyncio.sleep(0.001)

    loop.run_until_complete(main())
    assert seen == ["from-task"]


def test_exception_in_a_callback_does_not_leak_its_context(loop, errors, run_once):
    def bad():
        var.set("leaked?")
        raise ValueError

    loop.call_soon(bad)
    loop.call_soon(lambda: errors.append(var.get()))
    run_once(loop)
    assert errors[-1] == "default"
    assert var.get() == "default"
