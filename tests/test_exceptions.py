"""Errors raised by callbacks: exception handler, logging, BaseExceptions."""

import asyncio
import contextvars
import logging
import sys

import pytest


class CustomBaseException(BaseException):
    pass


def boom():
    raise ValueError("boom")


# ------------------------------------------------------------ handler contexts


def test_callback_exception_reaches_the_exception_handler_with_message_exception_and_handle(loop, errors, run_once):
    h = loop.call_soon(boom)
    run_once(loop)
    assert len(errors) == 1
    ctx = errors[0]
    assert set(ctx) == {"message", "exception", "handle"}
    assert ctx["message"].startswith("Exception in callback boom(")
    assert isinstance(ctx["exception"], ValueError)
    assert str(ctx["exception"]) == "boom"
    assert ctx["handle"] is h


def test_timer_callback_exception_reaches_the_exception_handler(loop, errors):
    h = loop.call_later(0.001, boom)
    loop.run_until_complete(asyncio.sleep(0.01))
    assert len(errors) == 1
    assert errors[0]["message"].startswith("Exception in callback boom(")
    assert isinstance(errors[0]["exception"], ValueError)
    assert errors[0]["handle"] is h


def test_exception_handler_receives_the_loop(loop, run_once):
    seen = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(lp))
    loop.call_soon(boom)
    run_once(loop)
    assert seen == [loop]


def test_custom_base_exception_in_a_callback_reaches_the_exception_handler(loop, errors):
    def raise_base():
        raise CustomBaseException("base")

    loop.call_soon(raise_base)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert len(errors) == 1
    assert isinstance(errors[0]["exception"], CustomBaseException)


def test_exception_handler_runs_in_the_context_its_python_version_specifies(loop, run_once):
    var = contextvars.ContextVar("var", default="default")
    seen = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(var.get()))
    handle_ctx = contextvars.copy_context()
    handle_ctx.run(var.set, "handle-context")
    loop.call_soon(boom, context=handle_ctx)
    run_once(loop)
    if sys.version_info >= (3, 12):
        # 3.12+: the handler runs in the failing handle's context.
        assert seen == ["handle-context"]
    else:
        assert seen == ["default"]


# ------------------------------------------------------------ set/get handler


def test_get_exception_handler_is_none_by_default(loop):
    assert loop.get_exception_handler() is None


def test_set_exception_handler_round_trips(loop):
    def handler(lp, ctx):
        pass

    loop.set_exception_handler(handler)
    assert loop.get_exception_handler() is handler
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None


def test_set_exception_handler_rejects_non_callables(loop):
    with pytest.raises(TypeError, match="A callable object or None is expected"):
        loop.set_exception_handler(1)
    assert loop.get_exception_handler() is None


def test_call_exception_handler_calls_the_custom_handler(loop):
    seen = []
    loop.set_exception_handler(lambda lp, ctx: seen.append((lp, ctx)))
    context = {"message": "hello", "extra": 1}
    loop.call_exception_handler(context)
    assert seen == [(loop, context)]


# ------------------------------------------------------------ default handler


def test_default_handler_logs_callback_errors_as_errors(loop, run_once, caplog):
    caplog.set_level(logging.ERROR, logger="asyncio")
    loop.call_soon(boom)
    run_once(loop)
    records = [r for r in caplog.records if r.name == "asyncio"]
    assert len(records) == 1
    rec = records[0]
    assert rec.levelno == logging.ERROR
    message = rec.getMessage()
    assert message.startswith("Exception in callback boom(")
    assert "\nhandle: <Handle boom(" in message
    assert rec.exc_info is not None
    assert isinstance(rec.exc_info[1], ValueError)


def test_set_exception_handler_none_restores_default_logging(loop, run_once, caplog):
    seen = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(ctx))
    loop.set_exception_handler(None)
    loop.call_soon(boom)
    run_once(loop)
    assert seen == []
    assert any(r.name == "asyncio" and "Exception in callback" in r.getMessage()
               for r in caplog.records)


def test_default_exception_handler_logs_message_and_extra_keys(loop, caplog):
    exc = KeyError("k")
    loop.default_exception_handler({"message": "custom message", "exception": exc, "extra": 123})
    rec = [r for r in caplog.records if r.name == "asyncio"][-1]
    assert rec.levelno == logging.ERROR
    assert rec.getMessage() == "custom message\nextra: 123"
    assert rec.exc_info[1] is exc


def test_default_exception_handler_without_message_uses_a_generic_one(loop, caplog):
    loop.call_exception_handler({})
    rec = [r for r in caplog.records if r.name == "asyncio"][-1]
    assert rec.getMessage() == "Unhandled exception in event loop"


def test_raising_exception_handler_is_itself_reported(loop, run_once, caplog):
    def bad_handler(lp, ctx):
        raise RuntimeError("handler failed")

    loop.set_exception_handler(bad_handler)
    loop.call_soon(boom)
    loop.call_soon(loop.stop)
    loop.run_forever()
    records = [r for r in caplog.records if r.name == "asyncio"]
    assert len(records) == 1
    message = records[0].getMessage()
    assert message.startswith("Unhandled error in exception handler")
    assert "context: {" in message
    assert "Exception in callback boom(" in message
    assert isinstance(records[0].exc_info[1], RuntimeError)
    # The loop keeps working.
    assert loop.run_until_complete(asyncio.sleep(0, "ok")) == "ok"


# ------------------------------------------------------------ KeyboardInterrupt / SystemExit


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_interrupt_from_a_callback_propagates_out_of_run_forever(loop, errors, exc_type):
    def interrupt():
        raise exc_type()

    loop.call_soon(interrupt)
    with pytest.raises(exc_type):
        loop.run_forever()
    assert errors == []
    assert loop.is_running() is False
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    assert loop.run_until_complete(asyncio.sleep(0, "usable")) == "usable"


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_interrupt_from_a_callback_propagates_out_of_run_until_complete(loop, errors, exc_type):
    def interrupt():
        raise exc_type()

    fut = loop.create_future()
    loop.call_later(0.001, interrupt)
    with pytest.raises(exc_type):
        loop.run_until_complete(fut)
    assert errors == []
    assert not fut.done()
    loop.call_soon(fut.set_result, "later")
    assert loop.run_until_complete(fut) == "later"


def test_callbacks_after_an_interrupt_run_on_the_next_run(loop):
    out = []

    def interrupt():
        raise KeyboardInterrupt

    loop.call_soon(out.append, 1)
    loop.call_soon(interrupt)
    loop.call_soon(out.append, 2)
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    assert out == [1]
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == [1, 2]


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_interrupt_from_a_coroutine_propagates_out_of_run_until_complete(loop, errors, exc_type):
    async def main():
        await asyncio.sleep(0)
        raise exc_type()

    with pytest.raises(exc_type):
        loop.run_until_complete(main())
    assert errors == []
    assert loop.run_until_complete(asyncio.sleep(0, "usable")) == "usable"


def test_keyboard_interrupt_from_the_exception_handler_propagates(loop):
    def handler(lp, ctx):
        raise KeyboardInterrupt

    loop.set_exception_handler(handler)
    loop.call_soon(boom)
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    loop.set_exception_handler(None)
    assert loop.run_until_complete(asyncio.sleep(0, "usable")) == "usable"
