"""pytest plugin of scripts/uvloop_suite (loaded with ``-p uvloop_suite_plugin``).

``ZLOOP_UVLOOP_SUITE_COLLECT=<file>``
    (with ``--collect-only``) writes every collected test as JSON:
    its node id and its kind, ``UV`` (a ``uvloop._testbase.UVTestCase``),
    ``AIO`` (an ``AIOTestCase``) or ``other``.
``ZLOOP_UVLOOP_SUITE_EVENTS=<file>``
    appends one JSON line per event as the run goes: ``session`` (pid),
    ``start`` (a test begins), ``report`` (setup/call/teardown outcome, a
    one-line reason and the full text of a failure), ``finish`` (with the
    types of the loops that ``uvloop.new_event_loop()`` built during the test)
    and ``sessionfinish``. Written with one ``write`` on an O_APPEND file, so
    the runner can tell which test was running when a worker crashed or hung.

At start-up it checks that ``uvloop`` really is rebound to the loop under test.
"""

from __future__ import annotations

import json
import os

import pytest

EVENTS = os.environ.get("ZLOOP_UVLOOP_SUITE_EVENTS", "")
COLLECT = os.environ.get("ZLOOP_UVLOOP_SUITE_COLLECT", "")
_PID = os.getpid()
_loops_before: dict = {}


def _emit(**event) -> None:
    if not EVENTS or os.getpid() != _PID:  # not from a forked child
        return
    line = (json.dumps(event) + "\n").encode()
    fd = os.open(EVENTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def pytest_configure(config):
    import uvloop  # the hook patches it on import
    import uvloop_suite_hook as hook

    expected = hook.LOOP
    got = getattr(uvloop, "_zloop_uvloop_suite", None)
    if os.environ.get("ZLOOP_UVLOOP_SUITE_LOOPLOG") or os.environ.get("ZLOOP_UVLOOP_SUITE"):
        if got != expected:
            raise pytest.UsageError(f"uvloop_suite: uvloop was not rebound (wanted {expected}, got {got})")
        if expected == "zloop":
            import zloop

            if uvloop.Loop is not zloop.Loop or uvloop.new_event_loop.__wrapped__ is not zloop.new_event_loop:
                raise pytest.UsageError("uvloop_suite: uvloop.Loop/new_event_loop are not zloop's")
    _emit(event="session", pid=_PID, loop=expected)


def pytest_collection_modifyitems(session, config, items):
    if not COLLECT:
        return
    from uvloop import _testbase as tb

    out = []
    for item in items:
        cls = getattr(item, "cls", None)
        if cls is not None and issubclass(cls, tb.UVTestCase):
            kind = "UV"
        elif cls is not None and issubclass(cls, tb.AIOTestCase):
            kind = "AIO"
        else:
            kind = "other"
        out.append({"nodeid": item.nodeid, "kind": kind})
    with open(COLLECT, "w") as f:
        json.dump(out, f, indent=0)


def pytest_runtest_logstart(nodeid, location):
    import uvloop_suite_hook as hook

    _loops_before[nodeid] = len(hook.CREATED)
    _emit(event="start", nodeid=nodeid)


def pytest_runtest_logfinish(nodeid, location):
    import uvloop_suite_hook as hook

    loops = hook.CREATED[_loops_before.pop(nodeid, len(hook.CREATED)) :]
    _emit(event="finish", nodeid=nodeid, loops=loops)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _handler_contexts(item) -> list:
    """The contexts that uvloop's test base collected from
    ``loop.call_exception_handler()`` (its tearDown fails the test on them)."""
    instance = getattr(item, "instance", None) or getattr(item, "_testcase", None)
    return list(getattr(instance, "_BaseTestCase__unhandled_exceptions", None) or ())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call" and report.failed:
        contexts = _handler_contexts(item)
        if contexts:
            ctx = contexts[0]
            parts = [f"message={ctx.get('message')!r}"]
            if ctx.get("exception") is not None:
                parts.append(f"exception={ctx['exception']!r}")
            more = f" (+{len(contexts) - 1} more)" if len(contexts) > 1 else ""
            report.uvloop_suite_handler = "call_exception_handler: " + ", ".join(parts) + more
            report.sections.append(("call_exception_handler contexts", "\n".join(repr(c) for c in contexts)))
    return report


def _reason(report) -> str:
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, lineno, message)
        return _one_line(str(longrepr[2]))
    crash = getattr(longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if not message:
        lines = [line for line in str(longrepr).splitlines() if line.strip()]
        message = lines[-1] if lines else ""
    message = message.strip().splitlines()[0] if message.strip() else ""
    handler = getattr(report, "uvloop_suite_handler", None)
    if handler and "unexpected calls to loop.call_exception_handler" in message:
        message = handler
    return _one_line(message)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
    if not EVENTS:
        return
    outcome = report.outcome
    text = ""
    if report.failed:
        text = str(report.longrepr)
        for name, content in report.sections:
            text += f"\n---- {name}\n{content}"
        text = text[-20000:]
    _emit(
        event="report",
        nodeid=report.nodeid,
        when=report.when,
        outcome=outcome,
        wasxfail=hasattr(report, "wasxfail"),
        reason=_reason(report) if (report.failed or report.skipped) else "",
        text=text,
    )


def pytest_sessionfinish(session, exitstatus):
    _emit(event="sessionfinish", exitstatus=int(exitstatus))
