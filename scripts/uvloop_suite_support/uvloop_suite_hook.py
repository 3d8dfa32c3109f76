"""Puts the loop under test behind uvloop's public names, without touching
uvloop's files.

Imported by ``sitecustomize`` in every Python process of a scripts/uvloop_suite
run (the pytest workers and every child interpreter the tests spawn). It waits
for ``uvloop`` to be imported and then, according to ``ZLOOP_UVLOOP_SUITE``:

``zloop`` (or ``1``)
    ``uvloop.new_event_loop``, ``uvloop.Loop``, ``uvloop.run``,
    ``uvloop.EventLoopPolicy`` and ``uvloop.install`` become zloop's.
    ``uvloop._testbase.UVTestCase`` builds its loops with
    ``uvloop.new_event_loop()`` and its policy with ``uvloop.EventLoopPolicy()``
    (both looked up at call time), so every UV test case runs on zloop.
``asyncio``
    The same names become stock asyncio's (the Unix selector loop), to see
    which tests stock asyncio passes.
unset, ``0`` or ``uvloop``
    Nothing is rebound (the uvloop baseline).

In every case ``uvloop.new_event_loop`` counts the loops it builds: per
process in ``CREATED`` (read by the pytest plugin for each test) and, when
``ZLOOP_UVLOOP_SUITE_LOOPLOG`` names a file, as one line "<pid> <type>" per
loop appended to it, so loops built in child interpreters are seen too.
"""

from __future__ import annotations

import importlib.abc
import os
import sys

LOOP = os.environ.get("ZLOOP_UVLOOP_SUITE", "")
if LOOP in ("1", "zloop"):
    LOOP = "zloop"
elif LOOP in ("", "0", "uvloop"):
    LOOP = "uvloop"
LOOPLOG = os.environ.get("ZLOOP_UVLOOP_SUITE_LOOPLOG", "")
CREATED: list = []  # type names of the loops built by uvloop.new_event_loop() here


def describe(obj) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _record(loop) -> None:
    name = describe(loop)
    CREATED.append(name)
    if not LOOPLOG:
        return
    line = f"{os.getpid()} {name}\n".encode()
    try:
        fd = os.open(LOOPLOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _counting(factory):
    def new_event_loop():
        loop = factory()
        _record(loop)
        return loop

    new_event_loop.__doc__ = factory.__doc__
    new_event_loop.__wrapped__ = factory
    return new_event_loop


def patch(uvloop) -> None:
    if getattr(uvloop, "_zloop_uvloop_suite", None):
        return
    uvloop._zloop_uvloop_suite = LOOP
    if LOOP == "uvloop":
        uvloop.new_event_loop = _counting(uvloop.new_event_loop)
        return
    if LOOP == "zloop":
        import zloop

        uvloop.new_event_loop = _counting(zloop.new_event_loop)
        uvloop.Loop = zloop.Loop
        uvloop.run = zloop.run
        uvloop.EventLoopPolicy = zloop.EventLoopPolicy
        uvloop.install = zloop.install
        return
    if LOOP == "asyncio":
        import asyncio

        def install():
            asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())

        uvloop.new_event_loop = _counting(asyncio.SelectorEventLoop)
        uvloop.Loop = asyncio.SelectorEventLoop
        uvloop.run = asyncio.run
        uvloop.EventLoopPolicy = asyncio.DefaultEventLoopPolicy
        uvloop.install = install
        return
    raise RuntimeError(f"ZLOOP_UVLOOP_SUITE={LOOP!r}: expected zloop, asyncio or uvloop")


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then ``patch``."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        patch(module)

    def __getattr__(self, name):  # get_source, get_filename, is_package, ...
        return getattr(self._loader, name)


class _UvloopFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != "uvloop":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader)
        return spec


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    if "uvloop" in sys.modules:  # imported before us: patch in place
        patch(sys.modules["uvloop"])
    else:
        sys.meta_path.insert(0, _UvloopFinder())
