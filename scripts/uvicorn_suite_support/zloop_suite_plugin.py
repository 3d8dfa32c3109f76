"""pytest plugin of scripts/uvicorn_suite (loaded with ``-p zloop_suite_plugin``).

- The ``anyio_backend`` fixture's value becomes
  ``("asyncio", {"loop_factory": zloop.new_event_loop})`` (the loop under
  test; unchanged for the asyncio baseline). uvicorn's conftest defines that
  fixture and a conftest fixture outranks a plugin's, so the value is replaced
  in a ``pytest_fixture_setup`` wrapper instead.
- Every coroutine test run by anyio first asserts that the running loop is the
  loop under test (for the baseline: a stock asyncio loop). The check is
  counted per test (``user_properties``, so it crosses xdist).
- Per-test outcomes are written as JSON to ``ZLOOP_SUITE_RESULTS``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import os

import pytest
import zloop_suite_inject as inject

CHECK_PROPERTY = "zloop_suite_loop"
_STATE: dict = {}  # the controller's record ("state"); absent in xdist workers


def _backend():
    module = inject.loop_module()
    if module is None:
        return "asyncio"
    return ("asyncio", {"loop_factory": module.new_event_loop})


def pytest_configure(config):
    inject.install()  # normally done already by sitecustomize
    loop = asyncio.new_event_loop()
    try:
        assert inject.is_expected_loop(loop), (
            f"zloop-suite: asyncio.new_event_loop() built {inject.describe(loop)}, "
            f"not the loop under test ({inject.LOOP})"
        )
    finally:
        loop.close()
    if _is_controller(config):
        _STATE["state"] = {"outcomes": {}, "checked": {}, "collect_errors": {}}


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    result = yield
    if fixturedef.argname != "anyio_backend" or inject.loop_module() is None:
        return result
    cached = fixturedef.cached_result
    assert isinstance(cached, tuple) and len(cached) == 3 and cached[2] is None, cached
    result = _backend()
    fixturedef.cached_result = (result, cached[1], None)
    return result


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    original = pyfuncitem.obj
    if "anyio_backend" not in pyfuncitem.funcargs or not inspect.iscoroutinefunction(original):
        return (yield)

    @functools.wraps(original)
    async def checked(*args, **kwargs):
        loop = asyncio.get_running_loop()
        assert inject.is_expected_loop(loop), (
            f"zloop-suite: the test runs on {inject.describe(loop)}, not on the loop under test ({inject.LOOP})"
        )
        pyfuncitem.user_properties.append((CHECK_PROPERTY, inject.describe(loop)))
        return await original(*args, **kwargs)

    pyfuncitem.obj = checked
    try:
        return (yield)
    finally:
        pyfuncitem.obj = original


def _is_controller(config) -> bool:
    return not hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
    state = _STATE.get("state")
    if state is None:
        return
    outcomes = state["outcomes"]
    nodeid = report.nodeid
    previous = outcomes.get(nodeid)
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if report.passed:
            outcome = "xpassed" if xfail else "passed"
        elif report.skipped:
            outcome = "xfailed" if xfail else "skipped"
        else:
            outcome = "failed"
    elif report.when == "setup":
        if report.passed:
            outcome = None
        elif report.skipped:
            outcome = "xfailed" if xfail else "skipped"
        else:
            outcome = "error"
    elif report.when == "teardown":
        outcome = "error" if report.failed and previous in (None, "passed", "xpassed", "skipped") else None
    else:  # a crashed xdist worker
        outcome = "failed" if report.failed else None
    if outcome is not None:
        outcomes[nodeid] = outcome
    for name, value in getattr(report, "user_properties", ()):
        if name == CHECK_PROPERTY:
            state["checked"][nodeid] = value


def pytest_collectreport(report):
    state = _STATE.get("state")
    if state is not None and report.failed:
        state["collect_errors"][report.nodeid] = str(report.longrepr)[-2000:]


def _server_checks():
    path = inject.CHECKS_FILE
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state = _STATE.get("state")
    if state is None:
        return
    checked = state["checked"]
    kinds = sorted(set(checked.values()))
    servers = _server_checks()
    pids = {pid for _, pid, _ in servers}
    terminalreporter.write_sep("-", "zloop-suite loop check")
    terminalreporter.write_line(
        f"loop under test: {inject.LOOP}; {len(checked)} async tests asserted their running loop"
        f" ({', '.join(kinds) or 'none'}); {len(servers)} uvicorn servers in {len(pids)} processes"
        f" asserted theirs"
    )


def pytest_sessionfinish(session, exitstatus):
    state = _STATE.get("state")
    path = os.environ.get("ZLOOP_SUITE_RESULTS")
    if state is None or not path:
        return
    servers = _server_checks()
    data = {
        "loop": inject.LOOP,
        "exitstatus": int(exitstatus),
        "outcomes": state["outcomes"],
        "checked": state["checked"],
        "collect_errors": state["collect_errors"],
        "server_checks": len(servers),
        "server_check_pids": len({pid for _, pid, _ in servers}),
        "server_check_loops": sorted({kind for _, _, kind in servers}),
    }
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
