"""Puts an event loop under uvicorn's test suite without touching its files.

Imported by ``sitecustomize`` (this folder is first on PYTHONPATH), so it runs
in every Python process of a run: pytest, its xdist workers, and the worker and
reloader processes uvicorn spawns. ``ZLOOP_SUITE_LOOP`` names the loop:

``asyncio``
    The baseline. uvicorn's ``Config.loop`` values ``auto``/``uvloop``/...
    become ``asyncio``, so no server of the baseline runs on uvloop.
``zloop`` (or another module with ``new_event_loop`` and ``Loop``)
    ``asyncio.new_event_loop()`` builds the module's loops (``zloop.install()``
    sets zloop's policy), every built-in ``Config.loop`` value becomes
    ``"zloop:new_event_loop"`` (stored on the instance, so it is pickled into
    spawned worker and reloader processes), and the suite's helper
    ``tests.utils.get_asyncio_default_loop_per_os`` (what the loop-selection
    tests expect asyncio's default loop to be) answers a class that stands
    for ``zloop.Loop`` in ``isinstance`` under the stock class's name.

Servers check the loop they run on (``Server.serve``) and log each check to
``ZLOOP_SUITE_CHECKS`` (one line per server: "<pid> <loop type>") so the
runner can show that servers in child processes ran on the loop too.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.abc
import os
import sys
import warnings

LOOP = os.environ.get("ZLOOP_SUITE_LOOP", "")
CHECKS_FILE = os.environ.get("ZLOOP_SUITE_CHECKS", "")
# uvicorn's built-in loop names that choose a loop (``none`` leaves it to asyncio).
BUILTIN_LOOPS = ("auto", "asyncio", "uvloop", "zuvloop")


def loop_module():
    """The module whose loop is under test, or None for stock asyncio."""
    if LOOP in ("", "asyncio"):
        return None
    return importlib.import_module(LOOP)


def loop_factory_string() -> str:
    return "asyncio" if loop_module() is None else f"{LOOP}:new_event_loop"


def is_expected_loop(loop: asyncio.AbstractEventLoop) -> bool:
    module = loop_module()
    if module is None:
        # Stock asyncio: a loop class defined by the asyncio package itself.
        return type(loop).__module__.split(".")[0] == "asyncio"
    return isinstance(loop, module.Loop)


def describe(loop: object) -> str:
    cls = type(loop)
    return f"{cls.__module__}.{cls.__qualname__}"


def record_check(kind: str, loop: object) -> None:
    if not CHECKS_FILE:
        return
    line = f"{kind} {os.getpid()} {describe(loop)}\n".encode()
    fd = os.open(CHECKS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- patches


class _LoopName:
    """Data descriptor for ``Config.loop``: every built-in loop name that is
    assigned is stored as the loop under test's factory string."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        try:
            return instance.__dict__[self.name]
        except KeyError:
            raise AttributeError(self.name) from None

    def __set__(self, instance, value):
        if isinstance(value, str) and value in BUILTIN_LOOPS:
            value = loop_factory_string()
        instance.__dict__[self.name] = value


def _patch_uvicorn_config(module) -> None:
    descriptor = _LoopName()
    descriptor.__set_name__(module.Config, "loop")
    module.Config.loop = descriptor


def _patch_uvicorn_server(module) -> None:
    original = module.Server.serve

    @functools.wraps(original)
    async def serve(self, *args, **kwargs):
        loop = asyncio.get_running_loop()
        expected = self.config.loop == loop_factory_string() or self.config.loop == "none"
        if expected:
            assert is_expected_loop(loop), (
                f"zloop-suite: uvicorn server runs on {describe(loop)}, not on the loop under test ({LOOP})"
            )
            record_check("server", loop)
        return await original(self, *args, **kwargs)

    module.Server.serve = serve


def _patch_tests_utils(module) -> None:
    mod = loop_module()
    if mod is None or not hasattr(module, "get_asyncio_default_loop_per_os"):
        return

    original = module.get_asyncio_default_loop_per_os
    # The class answers isinstance() for the loop under test but keeps the
    # stock class's name, which pytest puts in parametrized test ids: the ids
    # must stay those of the asyncio run for the two runs to be compared.
    stock = original()

    class _Meta(type):
        def __instancecheck__(cls, instance):
            return isinstance(instance, mod.Loop)

        def __subclasscheck__(cls, subclass):
            return issubclass(subclass, mod.Loop)

    default_loop = _Meta(stock.__name__, (), {"__module__": __name__, "__doc__": f"{mod.__name__}.Loop"})

    @functools.wraps(original)
    def get_asyncio_default_loop_per_os():
        return default_loop

    module.get_asyncio_default_loop_per_os = get_asyncio_default_loop_per_os


PATCHES = {
    "uvicorn.config": _patch_uvicorn_config,
    "uvicorn.server": _patch_uvicorn_server,
    "tests.utils": _patch_tests_utils,
}


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then the patch for the module."""

    def __init__(self, loader, patch):
        self._loader = loader
        self._patch = patch

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._patch(module)

    def __getattr__(self, name):  # get_source, get_filename, is_package, ...
        return getattr(self._loader, name)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        patch = PATCHES.get(fullname)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(spec.loader, patch)
        return spec


def _install_policy() -> None:
    module = loop_module()
    if module is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if hasattr(module, "install") and module.__name__ == "zloop":
            module.install()
        else:

            class Policy(asyncio.DefaultEventLoopPolicy):
                def new_event_loop(self):
                    return module.new_event_loop()

            asyncio.set_event_loop_policy(Policy())


_installed = False


def install() -> None:
    global _installed
    if _installed or not LOOP:
        return
    _installed = True
    for name, patch in PATCHES.items():
        if name in sys.modules:  # imported before us: patch in place
            patch(sys.modules[name])
    sys.meta_path.insert(0, _PostImportFinder())
    _install_policy()
