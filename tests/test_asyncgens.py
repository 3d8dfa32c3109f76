"""Async generator hooks and shutdown_asyncgens."""

import asyncio
import gc
import sys
import warnings

import pytest


def make_agen(log):
    async def agen():
        try:
            yield 1
            yield 2
        finally:
            log.append("finalized")

    return agen()


def test_asyncgen_hooks_are_installed_while_running_and_restored_after(loop):
    before = sys.get_asyncgen_hooks()

    async def main():
        return sys.get_asyncgen_hooks()

    during = loop.run_until_complete(main())
    assert during.firstiter is not None
    assert during.finalizer is not None
    assert sys.get_asyncgen_hooks() == before


def test_asyncgen_hooks_are_restored_after_an_interrupt(loop):
    before = sys.get_asyncgen_hooks()

    def interrupt():
        raise KeyboardInterrupt

    loop.call_soon(interrupt)
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    assert sys.get_asyncgen_hooks() == before


def test_shutdown_asyncgens_finalizes_suspended_generators(loop):
    log = []
    gen = make_agen(log)

    async def start():
        return await gen.__anext__()

    assert loop.run_until_complete(start()) == 1
    assert log == []
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert log == ["finalized"]


def test_shutdown_asyncgens_with_no_generators_is_a_no_op(loop):
    assert loop.run_until_complete(loop.shutdown_asyncgens()) is None


def test_shutdown_asyncgens_reports_errors_from_aclose(loop, errors):
    async def bad_agen():
        try:
            yield 1
        finally:
            raise ValueError("aclose failed")

    gen = bad_agen()

    async def start():
        await gen.__anext__()

    loop.run_until_complete(start())
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert len(errors) == 1
    assert errors[0]["message"].startswith("an error occurred during closing of asynchronous generator")
    assert isinstance(errors[0]["exception"], ValueError)
    assert errors[0]["asyncgen"] is gen


def test_abandoned_async_generator_is_finalized_by_the_loop(loop):
    log = []

    async def main():
        gen = make_agen(log)
        await gen.__anext__()
        del gen
        gc.collect()
        for _ in range(5):
            await asyncio.sleep(0)

    loop.run_until_complete(main())
    assert log == ["finalized"]


def test_async_generator_first_iterated_after_shutdown_warns(loop):
    log = []
    loop.run_until_complete(loop.shutdown_asyncgens())
    gen = make_agen(log)

    async def start():
        await gen.__anext__()

    with pytest.warns(ResourceWarning, match="was scheduled after loop.shutdown_asyncgens"):
        loop.run_until_complete(start())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loop.run_until_complete(gen.aclose())
    assert log == ["finalized"]


def test_fully_consumed_async_generators_need_no_shutdown(loop):
    log = []

    async def main():
        return [x async for x in make_agen(log)]

    assert loop.run_until_complete(main()) == [1, 2]
    assert log == ["finalized"]
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert log == ["finalized"]
