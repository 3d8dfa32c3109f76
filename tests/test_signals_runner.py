"""asyncio.run / asyncio.Runner on the loop, Ctrl-C, and add_signal_handler."""

import asyncio
import os
import signal
import sys
import threading
import time

import pytest

PY312 = sys.version_info >= (3, 12)


# ------------------------------------------------------------ Runner / run


def test_runner_with_loop_factory_runs_on_a_fresh_loop_and_closes_it(loop_factory):
    seen = {}

    async def main():
        seen["loop"] = asyncio.get_running_loop()
        await asyncio.sleep(0.001)
        return "result"

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        assert runner.run(main()) == "result"
        assert runner.get_loop() is seen["loop"]
        assert type(seen["loop"]) is type(runner.get_loop())
    assert seen["loop"].is_closed()


def test_run_with_loop_factory_returns_the_result(loop_factory):
    async def main():
        await asyncio.sleep(0.001)
        return asyncio.get_running_loop()

    if PY312:
        used = asyncio.run(main(), loop_factory=loop_factory)
    else:  # asyncio.run() has no loop_factory before 3.12
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            used = runner.run(main())
    probe = loop_factory()
    try:
        assert type(used) is type(probe)
    finally:
        probe.close()
    assert used.is_closed()


def test_runner_debug_flag_sets_loop_debug(loop_factory):
    async def main():
        return asyncio.get_running_loop().get_debug()

    with asyncio.Runner(loop_factory=loop_factory, debug=True) as runner:
        assert runner.run(main()) is True


def test_runner_cancels_leftover_tasks_and_finalizes_asyncgens_on_close(loop_factory):
    log = []

    async def leftover():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            log.append("task cancelled")
            raise

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            log.append("agen finalized")

    gen = agen()

    async def main():
        asyncio.create_task(leftover())
        await gen.__anext__()
        await asyncio.sleep(0)

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())
    assert sorted(log) == ["agen finalized", "task cancelled"]


def test_keyboard_interrupt_inside_main_propagates_out_of_runner(loop_factory):
    async def main():
        await asyncio.sleep(0)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(main())


# ------------------------------------------------------------ Ctrl-C (child interpreters)

CTRL_C_MAIN = """
async def main():
    assert isinstance(asyncio.get_running_loop(), LOOP_TYPE)
    {trigger}
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        print("main cancelled", flush=True)
        raise
    print("main finished", flush=True)

start = time.monotonic()
try:
    {run}
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
print("elapsed %.3f" % (time.monotonic() - start), flush=True)
"""

TRIGGER_CALL_LATER = (
    "asyncio.get_running_loop().call_later(0.05, signal.raise_signal, signal.SIGINT)")
TRIGGER_THREAD = (
    "threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()")

RUN_RUNNER = """with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())"""
RUN_RUN = """if sys.version_info >= (3, 12):
        asyncio.run(main(), loop_factory=loop_factory)
    else:
        if KIND == "zloop":
            asyncio.set_event_loop_policy(zloop.EventLoopPolicy())
        asyncio.run(main())"""


def _check_ctrl_c(proc):
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["main cancelled", "KeyboardInterrupt"], proc.stdout + proc.stderr
    assert float(lines[2].split()[1]) < 5.0  # interrupted, not slept out


@pytest.mark.parametrize(
    "trigger", [TRIGGER_CALL_LATER, TRIGGER_THREAD], ids=["raise_signal-from-callback", "kill-from-thread"])
def test_ctrl_c_under_runner_cancels_main_and_raises_keyboard_interrupt(run_child, trigger):
    proc = run_child(CTRL_C_MAIN.format(trigger=trigger, run=RUN_RUNNER))
    _check_ctrl_c(proc)


@pytest.mark.parametrize(
    "trigger", [TRIGGER_CALL_LATER, TRIGGER_THREAD], ids=["raise_signal-from-callback", "kill-from-thread"])
def test_ctrl_c_under_run_cancels_main_and_raises_keyboard_interrupt(run_child, trigger):
    proc = run_child(CTRL_C_MAIN.format(trigger=trigger, run=RUN_RUN))
    _check_ctrl_c(proc)


def test_ctrl_c_in_plain_run_until_complete_raises_keyboard_interrupt(run_child):
    proc = run_child(
        """
        loop = loop_factory()
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        start = time.monotonic()
        try:
            loop.run_until_complete(asyncio.sleep(10))
        except KeyboardInterrupt:
            print("KeyboardInterrupt", flush=True)
        print("elapsed %.3f" % (time.monotonic() - start), flush=True)
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        print("usable", flush=True)
        """
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "KeyboardInterrupt", proc.stdout + proc.stderr
    assert float(lines[1].split()[1]) < 5.0
    assert lines[2] == "usable"


# ------------------------------------------------------------ add_signal_handler


@pytest.fixture
def restore_sigusr1():
    previous = signal.getsignal(signal.SIGUSR1)
    yield
    signal.signal(signal.SIGUSR1, previous)


def test_signal_handler_runs_on_the_loop_with_its_arguments(loop, run_until, restore_sigusr1):
    got = []

    def handler(*args):
        got.append((args, asyncio.get_running_loop()))

    loop.add_signal_handler(signal.SIGUSR1, handler, "a", 1)
    loop.call_soon(signal.raise_signal, signal.SIGUSR1)
    run_until(loop, lambda: got)
    assert got == [(("a", 1), loop)]
    assert loop.remove_signal_handler(signal.SIGUSR1) is True


def test_signal_from_another_thread_wakes_the_loop(loop, restore_sigusr1):
    fut = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, lambda: fut.done() or fut.set_result("signal"))
    loop.call_later(5, lambda: fut.done() or fut.set_result("timeout"))
    timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1))
    start = time.monotonic()
    timer.start()
    try:
        assert loop.run_until_complete(fut) == "signal"
    finally:
        timer.join(10)
        loop.remove_signal_handler(signal.SIGUSR1)
    assert time.monotonic() - start < 2.5


def test_remove_signal_handler_returns_false_when_nothing_is_registered(loop, restore_sigusr1):
    assert loop.remove_signal_handler(signal.SIGUSR1) is False
    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    assert loop.remove_signal_handler(signal.SIGUSR1) is True
    assert loop.remove_signal_handler(signal.SIGUSR1) is False


def test_remove_signal_handler_restores_the_default_disposition(loop, restore_sigusr1):
    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    assert signal.getsignal(signal.SIGUSR1) is not signal.SIG_DFL
    loop.remove_signal_handler(signal.SIGUSR1)
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_add_signal_handler_again_replaces_the_handler(loop, run_until, restore_sigusr1):
    got = []
    loop.add_signal_handler(signal.SIGUSR1, got.append, "old")
    loop.add_signal_handler(signal.SIGUSR1, got.append, "new")
    loop.call_soon(signal.raise_signal, signal.SIGUSR1)
    try:
        run_until(loop, lambda: got)
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    assert got == ["new"]


def test_add_signal_handler_rejects_invalid_signals(loop):
    with pytest.raises(TypeError):
        loop.add_signal_handler("SIGUSR1", lambda: None)
    with pytest.raises(ValueError):
        loop.add_signal_handler(10_000, lambda: None)
    with pytest.raises(RuntimeError):
        loop.add_signal_handler(signal.SIGKILL, lambda: None)


def test_add_signal_handler_rejects_coroutine_functions(loop):
    async def handler():
        pass

    with pytest.raises(TypeError, match="coroutines cannot be used with add_signal_handler"):
        loop.add_signal_handler(signal.SIGUSR1, handler)


def test_add_signal_handler_on_a_closed_loop_raises(loop):
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.add_signal_handler(signal.SIGUSR1, lambda: None)


def test_add_signal_handler_for_an_uncatchable_signal_keeps_the_others(loop, run_until, restore_sigusr1):
    got = []
    loop.add_signal_handler(signal.SIGUSR1, got.append, "usr1")
    with pytest.raises(RuntimeError, match=f"sig {int(signal.SIGKILL)} cannot be caught"):
        loop.add_signal_handler(signal.SIGKILL, lambda: None)
    loop.call_soon(signal.raise_signal, signal.SIGUSR1)
    try:
        run_until(loop, lambda: got)
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    assert got == ["usr1"]


def test_add_signal_handler_off_the_main_thread_raises_runtime_error(loop, restore_sigusr1):
    raised = []

    def add():
        try:
            loop.add_signal_handler(signal.SIGUSR1, lambda: None)
        except RuntimeError as exc:
            raised.append(exc)

    thread = threading.Thread(target=add)
    thread.start()
    thread.join(10)
    assert len(raised) == 1
    assert "main thread" in str(raised[0])
    assert loop.remove_signal_handler(signal.SIGUSR1) is False


def test_signal_arriving_after_its_handler_was_removed_is_ignored(loop, run_once, errors, restore_sigusr1):
    got = []
    loop.add_signal_handler(signal.SIGUSR1, got.append, "late")
    signal.raise_signal(signal.SIGUSR1)  # queued on the wake-up fd, loop not running
    assert loop.remove_signal_handler(signal.SIGUSR1) is True
    for _ in range(3):
        run_once(loop)
    assert got == []
    assert errors == []


def test_close_removes_signal_handlers_and_the_wakeup_fd(loop_factory, restore_sigusr1):
    lp = loop_factory()
    lp.add_signal_handler(signal.SIGUSR1, lambda: None)
    lp.close()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    assert signal.set_wakeup_fd(-1) == -1


def test_close_at_interpreter_shutdown_warns_and_skips_signal_handler_removal(
    loop_factory, monkeypatch, restore_sigusr1
):
    lp = loop_factory()
    lp.add_signal_handler(signal.SIGUSR1, lambda: None)
    monkeypatch.setattr(sys, "is_finalizing", lambda: True)
    try:
        with pytest.warns(ResourceWarning, match="skipping signal handlers removal"):
            lp.close()
    finally:
        monkeypatch.undo()
        signal.set_wakeup_fd(-1)
    assert lp.remove_signal_handler(signal.SIGUSR1) is False


def test_removing_one_signal_handler_keeps_the_others_working(loop, run_until, restore_sigusr1):
    previous_usr2 = signal.getsignal(signal.SIGUSR2)
    got = []
    loop.add_signal_handler(signal.SIGUSR1, got.append, "usr1")
    loop.add_signal_handler(signal.SIGUSR2, got.append, "usr2")
    try:
        assert loop.remove_signal_handler(signal.SIGUSR2) is True
        loop.call_soon(signal.raise_signal, signal.SIGUSR1)
        run_until(loop, lambda: got)
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
        signal.signal(signal.SIGUSR2, previous_usr2)
    assert got == ["usr1"]


def test_signal_whose_handler_handle_was_cancelled_removes_the_handler(
    loop, run_once, errors, restore_sigusr1
):
    got = []
    loop.add_signal_handler(signal.SIGUSR1, got.append, "cancelled")
    loop._signal_handlers[signal.SIGUSR1].cancel()
    signal.raise_signal(signal.SIGUSR1)
    for _ in range(3):
        run_once(loop)
    assert got == []
    assert errors == []
    assert signal.SIGUSR1 not in loop._signal_handlers
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_signal_handler_handle_has_the_handle_interface(loop, restore_sigusr1):
    def on_signal():
        pass

    loop.add_signal_handler(signal.SIGUSR1, on_signal, 1, 2)
    handle = loop._signal_handlers[signal.SIGUSR1]
    try:
        assert handle._callback is on_signal
        assert handle._args == (1, 2)
        assert handle.cancelled() is False
        assert "on_signal" in repr(handle)
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)


def test_a_burst_of_signals_runs_the_handler_once_per_signal(loop, run_until, restore_sigusr1):
    got = []
    loop.add_signal_handler(signal.SIGUSR1, got.append, "usr1")
    try:
        for _ in range(5):
            signal.raise_signal(signal.SIGUSR1)  # five bytes queued on the wake-up fd
        run_until(loop, lambda: len(got) >= 5)
        for _ in range(3):
            loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    assert got == ["usr1"] * 5
