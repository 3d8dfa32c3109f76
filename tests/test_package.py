"""The zloop package's own API (zloop only; no stock-asyncio counterpart)."""

import asyncio
import re
import sys
import warnings

import pytest


# ------------------------------------------------------------ module surface


def test_zloop_has_a_version_string(zloop):
    assert isinstance(zloop.__version__, str)
    assert re.match(r"^\d+\.\d+", zloop.__version__)


def test_zloop_loop_is_an_abstract_event_loop_subclass(zloop):
    assert issubclass(zloop.Loop, asyncio.AbstractEventLoop)


def test_zloop_new_event_loop_returns_a_zloop_loop(zloop):
    lp = zloop.new_event_loop()
    try:
        assert isinstance(lp, zloop.Loop)
        assert isinstance(lp, asyncio.AbstractEventLoop)
        assert lp.run_until_complete(asyncio.sleep(0, "ok")) == "ok"
    finally:
        lp.close()


def test_zloop_new_event_loop_returns_distinct_loops(zloop):
    a, b = zloop.new_event_loop(), zloop.new_event_loop()
    try:
        assert a is not b
    finally:
        a.close()
        b.close()


def test_zloop_loop_class_can_be_instantiated_directly(zloop):
    lp = zloop.Loop()
    try:
        assert lp.run_until_complete(asyncio.sleep(0, "direct")) == "direct"
    finally:
        lp.close()


def test_zloop_loop_instances_accept_arbitrary_attributes(zloop):
    lp = zloop.new_event_loop()
    try:
        lp.custom = 123
        lp._private_thing = "x"
        assert lp.custom == 123
        assert lp._private_thing == "x"
        del lp.custom
        assert not hasattr(lp, "custom")
    finally:
        lp.close()


# ------------------------------------------------------------ subclassing


def test_zloop_loop_can_be_subclassed(zloop):
    class MyLoop(zloop.Loop):
        marker = "subclass"

        def __init__(self):
            super().__init__()
            self.created = True

        def call_soon(self, callback, *args, context=None):
            self.scheduled = getattr(self, "scheduled", 0) + 1
            return super().call_soon(callback, *args, context=context)

    lp = MyLoop()
    try:
        assert isinstance(lp, zloop.Loop)
        assert isinstance(lp, asyncio.AbstractEventLoop)
        assert lp.created and lp.marker == "subclass"
        out = []
        lp.call_soon(out.append, 1)
        lp.call_soon(lp.stop)
        lp.run_forever()
        assert out == [1]
        assert lp.scheduled >= 2
        assert lp.run_until_complete(asyncio.sleep(0.001, "sub")) == "sub"
    finally:
        lp.close()


def test_zloop_subclass_default_exception_handler_override_is_used(zloop):
    seen = []

    class MyLoop(zloop.Loop):
        def default_exception_handler(self, context):
            seen.append(context)

    def boom():
        raise ValueError("boom")

    lp = MyLoop()
    try:
        lp.call_soon(boom)
        lp.call_soon(lp.stop)
        lp.run_forever()
    finally:
        lp.close()
    assert len(seen) == 1
    assert isinstance(seen[0]["exception"], ValueError)


# ------------------------------------------------------------ policy / install
# (the deprecation rules of each version: test_policies.py)


def current_policy():
    """asyncio's policy, read without 3.14's deprecation warning."""
    if sys.version_info >= (3, 14):
        return asyncio.events._get_event_loop_policy()
    return asyncio.get_event_loop_policy()


def install_quietly(zloop):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        zloop.install()
        return zloop.EventLoopPolicy


def test_zloop_install_sets_the_zloop_policy(zloop, restore_policy):
    policy_class = install_quietly(zloop)
    assert type(current_policy()) is policy_class


def test_zloop_install_makes_stdlib_run_use_zloop(zloop, restore_policy):
    install_quietly(zloop)

    async def main():
        return type(asyncio.get_running_loop())

    assert issubclass(asyncio.run(main()), zloop.Loop)


# ------------------------------------------------------------ zloop.run


def test_zloop_run_runs_main_on_a_zloop_loop_and_closes_it(zloop):
    async def main():
        await asyncio.sleep(0.001)
        return asyncio.get_running_loop()

    lp = zloop.run(main())
    assert isinstance(lp, zloop.Loop)
    assert lp.is_closed()


def test_zloop_run_returns_the_result_and_propagates_errors(zloop):
    async def ok():
        return 42

    async def fail():
        raise KeyError("from main")

    assert zloop.run(ok()) == 42
    with pytest.raises(KeyError, match="from main"):
        zloop.run(fail())


@pytest.mark.parametrize("debug", [True, False])
def test_zloop_run_debug_flag_sets_loop_debug(zloop, debug):
    async def main():
        return asyncio.get_running_loop().get_debug()

    assert zloop.run(main(), debug=debug) is debug


def test_zloop_run_uses_a_loop_factory_building_a_zloop_loop_subclass(zloop):
    class Custom(zloop.Loop):
        pass

    async def main():
        return type(asyncio.get_running_loop())

    assert zloop.run(main(), loop_factory=Custom) is Custom


def test_zloop_run_refuses_a_loop_factory_building_another_loop(zloop):
    built = []

    def factory():
        built.append(asyncio.SelectorEventLoop())
        return built[-1]

    async def main():
        pass

    coro = main()
    try:
        with pytest.raises(TypeError, match=r"^zloop\.run\(\) uses a non-zloop event loop$"):
            zloop.run(coro, loop_factory=factory)
    finally:
        coro.close()
    assert built[0].is_closed()


def test_zloop_run_does_not_change_the_global_policy(zloop, restore_policy):
    before = current_policy()

    async def main():
        pass

    zloop.run(main())
    assert current_policy() is before


def test_zloop_run_inside_a_running_loop_raises(zloop):
    async def inner():
        pass

    async def main():
        coro = inner()
        try:
            zloop.run(coro)
        except RuntimeError:
            return "raised"
        finally:
            coro.close()

    assert zloop.run(main()) == "raised"


# ------------------------------------------------------------ guarantees beyond asyncio


def test_zloop_runs_equal_deadline_timers_in_scheduling_order(zloop):
    # Stock asyncio leaves this order undefined (its timer heap is not
    # stable); zloop keys its heap by (deadline, sequence) and promises FIFO.
    lp = zloop.new_event_loop()
    try:
        out = []
        when = lp.time() + 0.01
        for i in range(50):
            lp.call_at(when, out.append, i)
        lp.call_at(when + 0.001, out.append, "later")
        lp.run_until_complete(asyncio.sleep(0.03))
        assert out == [*range(50), "later"]
    finally:
        lp.close()
