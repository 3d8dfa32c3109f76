"""Task introspection on the loop under test: ``current_task``,
``all_tasks``, and from 3.14 the call graph (``capture_call_graph``,
``print_call_graph``) and ``python -m asyncio ps`` / ``pstree`` against a
running process."""

import asyncio
import importlib.util
import io
import subprocess
import sys

import pytest

HAS_CALL_GRAPH = sys.version_info >= (3, 14)


def test_current_task_is_the_running_task_and_none_in_a_plain_callback(loop):
    seen = []

    def callback():
        seen.append(asyncio.current_task())

    async def main():
        loop.call_soon(callback)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return asyncio.current_task()

    task = loop.create_task(main())
    assert loop.run_until_complete(task) is task
    assert seen == [None]


def test_current_task_of_the_loop_asked_from_another_thread_is_the_running_task(loop):
    async def main():
        me = asyncio.current_task()
        other = await asyncio.to_thread(asyncio.current_task, loop)
        return me, other

    me, other = loop.run_until_complete(main())
    assert other is me


def test_all_tasks_lists_the_pending_tasks_of_the_loop(loop):
    async def sleeper():
        await asyncio.sleep(10)

    async def main():
        a = asyncio.create_task(sleeper(), name="a")
        b = asyncio.create_task(sleeper(), name="b")
        await asyncio.sleep(0)
        names = sorted(t.get_name() for t in asyncio.all_tasks())
        a.cancel()
        b.cancel()
        await asyncio.gather(a, b, return_exceptions=True)
        return names, asyncio.all_tasks() == {asyncio.current_task()}

    names, only_main_left = loop.run_until_complete(loop.create_task(main(), name="main"))
    assert names == ["a", "b", "main"] and only_main_left


async def waiter_chain(capture):
    """'outer' awaits 'inner', blocked on a future; ``capture(inner)`` runs
    meanwhile, from the calling task."""
    blocker = asyncio.get_running_loop().create_future()

    async def inner_body():
        await blocker

    async def outer_body():
        await asyncio.create_task(inner_body(), name="inner")

    outer = asyncio.create_task(outer_body(), name="outer")
    for _ in range(3):
        await asyncio.sleep(0)
    inner = next(t for t in asyncio.all_tasks() if t.get_name() == "inner")
    result = capture(inner)
    blocker.set_result(None)
    await outer
    return result


def test_capture_call_graph_shows_who_awaits_a_task_from_3_14(loop):
    if not HAS_CALL_GRAPH:
        assert not hasattr(asyncio, "capture_call_graph")
        return

    def capture(inner):
        graph = asyncio.capture_call_graph(inner)
        chain = []
        while graph is not None:
            chain.append(graph.future.get_name())
            graph = graph.awaited_by[0] if graph.awaited_by else None
        return chain

    task = loop.create_task(waiter_chain(capture), name="main")
    assert loop.run_until_complete(task) == ["inner", "outer"]


def test_print_call_graph_names_the_awaiting_tasks_from_3_14(loop):
    if not HAS_CALL_GRAPH:
        assert not hasattr(asyncio, "print_call_graph")
        return

    def capture(inner):
        out = io.StringIO()
        asyncio.print_call_graph(inner, file=out)
        return out.getvalue()

    text = loop.run_until_complete(loop.create_task(waiter_chain(capture), name="main"))
    assert text.startswith("* Task(name='inner', id=0x")
    assert "* Task(name='outer', id=0x" in text
    assert "in async waiter_chain.<locals>.outer_body()" in text


SERVED = """
async def worker(started):
    started.set_result(None)
    await asyncio.sleep(60)

async def main():
    started = asyncio.get_running_loop().create_future()
    async with asyncio.TaskGroup() as group:
        group.create_task(worker(started), name="worker-1")
        await started
        print("ready", flush=True)
        sys.stdin.readline()
        raise SystemExit(0)

with asyncio.Runner(loop_factory=loop_factory) as runner:
    runner.run(main())
"""


@pytest.mark.parametrize("command", ["ps", "pstree"])
def test_ps_and_pstree_tools_see_the_tasks_of_a_running_process_from_3_14(
    loop_factory, command
):
    if not HAS_CALL_GRAPH:
        assert importlib.util.find_spec("asyncio.tools") is None
        return
    from conftest import CHILD_PREAMBLE, _child_env

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_PREAMBLE + SERVED, loop_factory.name],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_child_env(),
    )
    try:
        assert child.stdout.readline() == "ready\n"
        tool = subprocess.run(
            [sys.executable, "-m", "asyncio", command, str(child.pid)],
            capture_output=True, text=True, timeout=30,
        )
    finally:
        child.stdin.close()
        child.wait(10)
    assert tool.returncode == 0, tool.stderr
    assert "worker-1" in tool.stdout
    if command == "ps":
        worker = next(line for line in tool.stdout.splitlines() if "worker-1" in line)
        assert "main" in worker.split("worker-1", 1)[1]  # awaited by main's task group
    else:
        lines = tool.stdout.splitlines()
        main_at = next(i for i, line in enumerate(lines) if "(T) Task-1" in line or "main" in line)
        assert any("worker-1" in line for line in lines[main_at + 1:])
