"""Loaded at start-up by every Python process of a scripts/uvicorn_suite run
(this folder is first on PYTHONPATH): puts the loop under test in place, see
zloop_suite_inject. Then runs any other sitecustomize that this one hides."""

import importlib.machinery
import importlib.util
import os
import sys

if os.environ.get("ZLOOP_SUITE_LOOP"):
    import zloop_suite_inject

    zloop_suite_inject.install()

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.machinery.PathFinder.find_spec(
    "sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != _here]
)
if _spec is not None and _spec.loader is not None:
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
del _here, _spec
