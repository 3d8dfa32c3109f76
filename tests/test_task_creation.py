"""``loop.create_task`` keywords as each version's asyncio takes them:
``name`` and ``context`` up to 3.13; from 3.14 any keyword, forwarded to
``Task`` (``eager_start``) or to the task factory."""

import asyncio
import contextvars
import sys

import pytest

FORWARDS_KEYWORDS = sys.version_info >= (3, 14)


async def quick():
    return "done"


def test_create_task_eager_start_runs_the_coroutine_at_once_from_3_14(loop):
    async def main():
        coro = quick()
        if not FORWARDS_KEYWORDS:
            with pytest.raises(TypeError, match=r"unexpected keyword argument 'eager_start'"):
                loop.create_task(coro, eager_start=True)
            coro.close()
            return None
        task = loop.create_task(coro, eager_start=True)
        return task.done() and task.result()

    assert loop.run_until_complete(main()) == ("done" if FORWARDS_KEYWORDS else None)


def test_create_task_without_eager_start_runs_the_coroutine_later(loop):
    async def main():
        task = loop.create_task(quick())
        started = task.done()
        return started, await task

    assert loop.run_until_complete(main()) == (False, "done")


def test_create_task_passes_keywords_to_the_task_factory_as_each_version_does(loop):
    received = []

    def factory(lp, coro, **kwargs):
        received.append(sorted(kwargs))
        return asyncio.Task(coro, loop=lp, **kwargs)

    loop.set_task_factory(factory)
    context = contextvars.copy_context()

    async def main():
        received.clear()  # the factory also made this task
        tasks = [
            loop.create_task(quick()),
            loop.create_task(quick(), name="named"),
            loop.create_task(quick(), name="both", context=context),
        ]
        await asyncio.gather(*tasks)
        return [task.get_name() for task in tasks[1:]]

    names = loop.run_until_complete(main())
    assert names == ["named", "both"]  # the factory's Task, or set_name() after it
    if FORWARDS_KEYWORDS:
        assert received == [[], ["name"], ["context", "name"]]
    else:
        assert received == [[], [], ["context"]]


def test_create_task_with_a_task_factory_forwards_any_keyword_from_3_14(loop):
    received = []

    def factory(lp, coro, **kwargs):
        received.append(kwargs)
        return asyncio.Task(coro, loop=lp)

    loop.set_task_factory(factory)

    async def main():
        received.clear()  # the factory also made this task
        coro = quick()
        if not FORWARDS_KEYWORDS:
            with pytest.raises(TypeError, match=r"unexpected keyword argument 'priority'"):
                loop.create_task(coro, priority=1)
            coro.close()
            return None
        return await loop.create_task(coro, priority=1)

    result = loop.run_until_complete(main())
    if FORWARDS_KEYWORDS:
        assert (result, received) == ("done", [{"priority": 1}])
    else:
        assert (result, received) == (None, [])
