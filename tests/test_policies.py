"""asyncio's policy system as each Python version has it, with stock
asyncio's default policy and with zloop's: deprecated from 3.14 (removal
planned for 3.16), warning only when used, never when zloop is imported;
``asyncio.get_event_loop()`` without a current loop (creates one up to 3.13,
raises from 3.14)."""

import asyncio
import re
import sys
import warnings
from asyncio import events, unix_events

import pytest

POLICIES_DEPRECATED = sys.version_info >= (3, 14)
DEPRECATION = r"'{}' is deprecated and slated for removal in Python 3\.16"


def default_policy_class():
    """asyncio's Unix default policy class, looked up without a warning."""
    if POLICIES_DEPRECATED:
        return unix_events._DefaultEventLoopPolicy
    return unix_events.DefaultEventLoopPolicy


def loop_class(kind, zloop_module):
    return zloop_module.Loop if kind == "zloop" else unix_events.SelectorEventLoop


def test_importing_zloop_warns_about_nothing(run_child):
    proc = run_child("print('imported')", args=("-W", "error"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "imported\n"
    assert proc.stderr == ""


def test_looking_up_the_policy_class_warns_from_3_14(loop_factory, zloop):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if loop_factory.name == "zloop":
            cls, name = zloop.EventLoopPolicy, "zloop.EventLoopPolicy"
        else:
            cls, name = asyncio.DefaultEventLoopPolicy, "asyncio.DefaultEventLoopPolicy"
    assert issubclass(cls, default_policy_class())
    if POLICIES_DEPRECATED:
        assert [(w.category, w.filename) for w in caught] == [(DeprecationWarning, __file__)]
        assert re.fullmatch(DEPRECATION.format(re.escape(name)), str(caught[0].message))
    else:
        assert caught == []


def test_the_policy_class_builds_loops_of_its_kind(loop_factory, zloop):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        cls = zloop.EventLoopPolicy if loop_factory.name == "zloop" else default_policy_class()
    lp = cls().new_event_loop()
    try:
        assert type(lp) is loop_class(loop_factory.name, zloop)
    finally:
        lp.close()


def test_setting_the_policy_warns_from_3_14_attributed_to_the_caller(
    loop_factory, zloop, restore_policy
):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if loop_factory.name == "zloop":
            zloop.install()
            name = "zloop.install"
        else:
            asyncio.set_event_loop_policy(default_policy_class()())
            name = "asyncio.set_event_loop_policy"
    if POLICIES_DEPRECATED:
        assert [(w.category, w.filename) for w in caught] == [(DeprecationWarning, __file__)]
        assert re.fullmatch(DEPRECATION.format(re.escape(name)), str(caught[0].message))
    else:
        assert caught == []


def test_new_event_loop_follows_the_policy_set(loop_factory, zloop, restore_policy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if loop_factory.name == "zloop":
            zloop.install()
        else:
            asyncio.set_event_loop_policy(default_policy_class()())
    lp = asyncio.new_event_loop()
    try:
        assert type(lp) is loop_class(loop_factory.name, zloop)
    finally:
        lp.close()


def test_zloop_is_not_exported_with_the_policy_class_from_3_14(zloop):
    assert ("EventLoopPolicy" in zloop.__all__) is not POLICIES_DEPRECATED


def test_zloop_has_no_attribute_a_module_does_not_define(zloop):
    with pytest.raises(AttributeError, match=r"^module 'zloop' has no attribute 'nothing'$"):
        zloop.nothing


GET_EVENT_LOOP = """
import warnings
if KIND == "zloop":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        zloop.install()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        lp = asyncio.get_event_loop()
    except RuntimeError as exc:
        print("raised:", exc)
    else:
        print("loop:", isinstance(lp, LOOP_TYPE))
print([str(w.message) for w in caught])
"""


def test_get_event_loop_without_a_current_loop(run_child):
    proc = run_child(GET_EVENT_LOOP)
    assert proc.returncode == 0, proc.stderr
    if sys.version_info >= (3, 14):
        expected = "raised: There is no current event loop in thread 'MainThread'.\n[]\n"
    elif sys.version_info >= (3, 12):
        expected = "loop: True\n['There is no current event loop']\n"
    else:
        expected = "loop: True\n[]\n"
    assert proc.stdout == expected
