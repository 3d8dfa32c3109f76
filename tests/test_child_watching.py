"""How zloop sees child processes exit (zloop only: asyncio delegates this
to its child watchers)."""

import asyncio
import os
import sys
import threading


def run(zloop, coro):
    with asyncio.Runner(loop_factory=zloop.new_event_loop) as runner:
        return runner.run(coro)


def test_child_exit_is_seen_without_a_watcher_thread(zloop):
    async def main():
        before = threading.active_count()
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(0.2)")
        during = threading.active_count()
        return before, during, await proc.wait()

    before, during, code = run(zloop, main())
    assert during == before
    assert code == 0


def test_child_exit_is_seen_by_a_waiting_thread_where_pidfd_is_unavailable(zloop, monkeypatch):
    def no_pidfd(pid, flags=0):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)

    async def main():
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "raise SystemExit(3)")
        return await proc.wait()

    assert run(zloop, main()) == 3


def test_a_child_reaped_elsewhere_reports_returncode_255(zloop, caplog):
    async def main():
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
        os.waitpid(proc.pid, 0)  # someone else reaps it first
        return await proc.wait()

    assert run(zloop, main()) == 255
    assert "exit status already read" in caplog.text


def test_a_child_exiting_after_its_loop_closed_is_ignored(zloop, monkeypatch):
    monkeypatch.setattr(os, "pidfd_open", lambda pid, flags=0: (_ for _ in ()).throw(OSError(38, "ENOSYS")))
    loop = zloop.new_event_loop()
    done = threading.Event()
    original = zloop.Loop._wait_child_in_thread

    def wait_then_signal(self, pid, transport):
        try:
            original(self, pid, transport)
        finally:
            done.set()

    monkeypatch.setattr(zloop.Loop, "_wait_child_in_thread", wait_then_signal)

    async def start():
        return await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(0.3)")

    proc = loop.run_until_complete(start())
    loop.close()
    assert done.wait(10)
    assert proc.returncode is None  # the closed loop was not told
