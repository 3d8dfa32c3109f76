"""Wrong argument types raise what asyncio raises and never break the process."""

import asyncio

import pytest


def noop():
    pass


@pytest.mark.parametrize("delay", ["x", [], object()], ids=["str", "list", "object"])
def test_call_later_with_a_non_number_delay_raises_type_error(loop, delay):
    with pytest.raises(TypeError):
        loop.call_later(delay, noop)
    assert loop.run_until_complete(asyncio.sleep(0, "usable")) == "usable"


def test_call_at_with_a_string_raises_type_error(loop):
    # Stock asyncio accepts the handle and fails on the next iteration;
    # raising at once is just as good: either way a TypeError, no crash.
    with pytest.raises(TypeError):
        loop.call_at("x", noop)
        loop.call_soon(loop.stop)
        loop.run_forever()
    assert loop.is_running() is False


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe"])
def test_non_callable_outside_debug_is_reported_when_run(loop, errors, run_once, method):
    out = []
    h = getattr(loop, method)(1)
    loop.call_soon(out.append, "after")
    run_once(loop)
    assert out == ["after"]
    assert len(errors) == 1
    assert errors[0]["message"].startswith("Exception in callback")
    assert isinstance(errors[0]["exception"], TypeError)
    assert errors[0]["handle"] is h


def test_non_callable_timer_outside_debug_is_reported_when_run(loop, errors):
    h = loop.call_later(0, "not callable")
    loop.run_until_complete(asyncio.sleep(0.01))
    assert len(errors) == 1
    assert isinstance(errors[0]["exception"], TypeError)
    assert errors[0]["handle"] is h


def test_call_soon_without_a_callback_raises_type_error(loop):
    with pytest.raises(TypeError):
        loop.call_soon()
    with pytest.raises(TypeError):
        loop.call_later(1)
    with pytest.raises(TypeError):
        loop.call_at(1.0)


def test_unknown_keyword_argument_raises_type_error(loop):
    with pytest.raises(TypeError):
        loop.call_soon(noop, foo=1)
    with pytest.raises(TypeError):
        loop.call_later(1, noop, foo=1)
    with pytest.raises(TypeError):
        loop.call_soon_threadsafe(noop, foo=1)


@pytest.mark.parametrize("obj", [1, "coro", noop, asyncio.sleep], ids=["int", "str", "function", "coroutine-function"])
def test_create_task_with_a_non_coroutine_raises_type_error(loop, obj):
    with pytest.raises(TypeError, match="a coroutine was expected"):
        loop.create_task(obj)


def test_run_until_complete_with_a_non_awaitable_raises_type_error(loop):
    with pytest.raises(TypeError, match="An asyncio.Future, a coroutine or an awaitable is required"):
        loop.run_until_complete(1)
    assert loop.run_until_complete(asyncio.sleep(0, "usable")) == "usable"


def test_add_reader_with_a_string_raises_value_error(loop):
    with pytest.raises(ValueError, match="Invalid file object"):
        loop.add_reader("x", noop)
    with pytest.raises(ValueError, match="Invalid file object"):
        loop.add_writer("x", noop)


def test_run_in_executor_with_a_non_callable_fails_the_future(loop):
    fut = loop.run_in_executor(None, 1)
    with pytest.raises(TypeError):
        loop.run_until_complete(fut)


def test_loop_keeps_working_after_a_burst_of_argument_errors(loop):
    bad_calls = [
        lambda: loop.call_later("x", noop),
        lambda: loop.call_later(None, noop),
        lambda: loop.call_at(None, noop),
        lambda: loop.call_soon(),
        lambda: loop.create_task(1),
        lambda: loop.add_reader(object(), noop),
        lambda: loop.set_exception_handler(1),
        lambda: loop.set_task_factory(1),
        lambda: loop.set_default_executor(1),
        lambda: loop.run_until_complete(1),
    ]
    for call in bad_calls:
        with pytest.raises((TypeError, ValueError)):
            call()
    assert loop.run_until_complete(asyncio.sleep(0.001, "usable")) == "usable"


# --------------------------------------------------- transport method arguments


async def _open_transports(loop):
    """One transport of each kind: stream, datagram, read pipe, write pipe."""
    import os
    import socket

    a, b = socket.socketpair()
    stream, _ = await loop.create_connection(asyncio.Protocol, sock=a)
    datagram, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    r, w = os.pipe()
    read_pipe, _ = await loop.connect_read_pipe(asyncio.Protocol, os.fdopen(r, "rb"))
    write_pipe, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, os.fdopen(w, "wb"))
    transports = {"stream": stream, "datagram": datagram, "read pipe": read_pipe, "write pipe": write_pipe}
    return transports, b


def _with_transports(loop, check):
    async def main():
        transports, peer = await _open_transports(loop)
        try:
            for kind, transport in transports.items():
                check(kind, transport)
        finally:
            for transport in transports.values():
                transport.close()
            peer.close()
            await asyncio.sleep(0)

    loop.run_until_complete(main())


def test_get_extra_info_with_too_many_arguments_raises_type_error(loop):
    def check(kind, transport):
        with pytest.raises(TypeError):
            transport.get_extra_info("peername", None, "extra")

    _with_transports(loop, check)


def test_get_extra_info_with_name_given_twice_raises_type_error(loop):
    def check(kind, transport):
        with pytest.raises(TypeError):
            transport.get_extra_info("peername", name="sockname")

    _with_transports(loop, check)


def test_get_extra_info_without_a_name_raises_type_error(loop):
    def check(kind, transport):
        with pytest.raises(TypeError):
            transport.get_extra_info()

    _with_transports(loop, check)


def test_set_write_buffer_limits_with_too_many_arguments_raises_type_error(loop):
    def check(kind, transport):
        if kind == "read pipe":
            return  # a read transport has no write buffer
        with pytest.raises(TypeError):
            transport.set_write_buffer_limits(100, 10, 1)

    _with_transports(loop, check)


def test_set_write_buffer_limits_with_a_negative_high_names_the_floored_low(loop):
    def check(kind, transport):
        if kind == "read pipe":
            return
        with pytest.raises(ValueError, match=r"^high \(-5\) must be >= low \(-2\) must be >= 0$"):
            transport.set_write_buffer_limits(high=-5)

    _with_transports(loop, check)
