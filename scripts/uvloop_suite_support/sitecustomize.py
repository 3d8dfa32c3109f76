"""Loaded at start-up by every Python process of a scripts/uvloop_suite run
(this folder is first on PYTHONPATH, so child interpreters that the tests
spawn get it too). When the run asks for it, it arranges for the loop under
test to be put in place the moment ``uvloop`` is imported (see
uvloop_suite_hook). Then it runs any other sitecustomize that this one hides.
"""

import importlib.machinery
import importlib.util
import os
import sys

if os.environ.get("ZLOOP_UVLOOP_SUITE") or os.environ.get("ZLOOP_UVLOOP_SUITE_LOOPLOG"):
    import uvloop_suite_hook

    uvloop_suite_hook.install()

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.machinery.PathFinder.find_spec(
    "sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != _here]
)
if _spec is not None and _spec.loader is not None:
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
del _here, _spec
