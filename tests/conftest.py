"""Shared fixtures for the zloop behaviour suite.

Every behaviour test runs twice, once on stock asyncio (the reference) and
once on zloop, through the ``loop_factory`` fixture (ids ``asyncio`` and
``zloop``).  Assertions are identical for both: if a test fails on the
``asyncio`` half, the test is wrong.

``zloop`` is imported lazily, so the ``asyncio`` half runs (``-k asyncio``)
even while the extension is not built; the ``zloop`` half then errors with
ImportError, it is never skipped.
"""

import asyncio
import importlib.util
import os
import subprocess
import sys
import textwrap
import time

import pytest

# pytest-timeout is optional; a hung loop must not hang the whole run.
HAVE_TIMEOUT = importlib.util.find_spec("pytest_timeout") is not None

PER_TEST_TIMEOUT = 60


def pytest_configure(config):
    if not HAVE_TIMEOUT:
        config.addinivalue_line(
            "markers", "timeout(seconds): per-test time limit (pytest-timeout)")


def pytest_collection_modifyitems(config, items):
    # "-k asyncio" must select exactly the stock-asyncio half of the suite,
    # so the word may appear in a test id only as the loop_factory param.
    for item in items:
        callspec = getattr(item, "callspec", None)
        kind = callspec.params.get("loop_factory") if callspec else None
        expected = 1 if kind == "asyncio" else 0
        if item.name.lower().count("asyncio") != expected:
            raise pytest.UsageError(
                f"{item.nodeid}: test names and ids must not contain 'asyncio' "
                "(it is reserved for the loop_factory parameter id)")
    if not HAVE_TIMEOUT:
        return
    for item in items:
        if item.get_closest_marker("timeout") is None:
            # The thread method works even when the loop blocks in native
            # code without checking for signals.
            item.add_marker(pytest.mark.timeout(PER_TEST_TIMEOUT, method="thread"))


class LoopFactory:
    """A callable that builds a new event loop of one implementation."""

    def __init__(self, name, new_event_loop):
        self.name = name
        self._new = new_event_loop

    def __call__(self):
        return self._new()

    def __repr__(self):
        return f"<LoopFactory {self.name}>"


def _make_factory(name):
    if name == "asyncio":
        return LoopFactory("asyncio", asyncio.new_event_loop)
    import zloop  # lazily: the asyncio half must run without the extension

    return LoopFactory("zloop", zloop.new_event_loop)


@pytest.fixture(params=["asyncio", "zloop"])
def loop_factory(request):
    """``asyncio.new_event_loop`` or ``zloop.new_event_loop``."""
    return _make_factory(request.param)


@pytest.fixture
def loop(loop_factory):
    """A fresh loop, set as the current loop; closed at teardown."""
    lp = loop_factory()
    asyncio.set_event_loop(lp)
    try:
        yield lp
    finally:
        asyncio.set_event_loop(None)
        if not lp.is_closed():
            lp.close()


@pytest.fixture
def zloop():
    """The zloop package itself (zloop-only tests)."""
    import zloop as mod

    return mod


@pytest.fixture
def restore_policy():
    """Restore the global asyncio policy after a test that changes it."""
    yield
    if sys.version_info >= (3, 14):  # without 3.14's deprecation warning
        asyncio.events._set_event_loop_policy(None)
    else:
        asyncio.set_event_loop_policy(None)


# ---------------------------------------------------------------- helpers


def _run_once(lp):
    """Run exactly one loop iteration: what is ready now, nothing after."""
    lp.call_soon(lp.stop)
    lp.run_forever()


def _run_until(lp, predicate, timeout=5.0):
    """Run the loop in small steps until ``predicate()`` is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        lp.run_until_complete(asyncio.sleep(0.002))


@pytest.fixture
def run_once():
    return _run_once


@pytest.fixture
def run_until():
    return _run_until


@pytest.fixture
def errors(loop):
    """Contexts passed to ``loop``'s exception handler (a list)."""
    seen = []
    loop.set_exception_handler(lambda lp, context: seen.append(context))
    return seen


CHILD_PREAMBLE = '''
import asyncio, os, signal, sys, threading, time
KIND = sys.argv[1]
if KIND == "zloop":
    import zloop
    loop_factory = zloop.new_event_loop
    LOOP_TYPE = zloop.Loop
else:
    loop_factory = asyncio.new_event_loop
    LOOP_TYPE = asyncio.BaseEventLoop
'''


def _child_env(env=None):
    """The environment of a child interpreter: this one's import path, no
    asyncio debug mode, plus ``env``."""
    full_env = dict(os.environ)
    full_env.pop("PYTHONASYNCIODEBUG", None)
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    if env:
        full_env.update(env)
    return full_env


def _run_child(kind, code, timeout=20, env=None, args=()):
    """Run ``code`` in a fresh interpreter with ``loop_factory`` defined."""
    full_env = _child_env(env)
    source = CHILD_PREAMBLE + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, *args, "-c", source, kind],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=os.getcwd(),
    )


@pytest.fixture
def run_child(loop_factory):
    """``run_child(code, ...)``: run code in a child interpreter.

    The child defines ``loop_factory`` (same implementation as the test's)
    and ``LOOP_TYPE``; returns ``subprocess.CompletedProcess``.
    """

    def run(code, **kwargs):
        return _run_child(loop_factory.name, code, **kwargs)

    return run
