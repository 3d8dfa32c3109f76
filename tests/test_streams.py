"""asyncio streams over real TCP sockets: open_connection / start_server,
StreamReader's read methods, StreamWriter's drain, half-close and close."""

import asyncio
import socket
import struct

import pytest

from socket_helpers import run


HANDLERS = []  # server-side handler tasks of the current test


@pytest.fixture(autouse=True)
def finish_handlers(loop):
    """After each test, let the server-side handlers finish (each closes its
    writer), so no connection outlives its loop."""
    HANDLERS.clear()
    yield
    if HANDLERS and not loop.is_closed():
        loop.run_until_complete(asyncio.wait(HANDLERS, timeout=2))


async def serve(handler, **kwargs):
    """start_server on 127.0.0.1 with a handler whose writer is always closed."""

    async def tracked(reader, writer):
        HANDLERS.append(asyncio.current_task())
        try:
            await handler(reader, writer)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    server = await asyncio.start_server(tracked, "127.0.0.1", 0, **kwargs)
    return server, server.sockets[0].getsockname()


def sender(payload, *, close=True):
    """A handler that writes ``payload`` and then closes (or half-closes)."""

    async def handle(reader, writer):
        writer.write(payload)
        await writer.drain()
        if close:
            writer.close()
            await writer.wait_closed()
        else:
            writer.write_eof()
            await reader.read()
            writer.close()

    return handle


def test_open_connection_and_start_server_round_trip_lines(loop):
    async def handle(reader, writer):
        while line := await reader.readline():
            writer.write(b"echo: " + line)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        server, addr = await serve(handle)
        async with server:
            reader, writer = await asyncio.open_connection(*addr)
            replies = []
            for word in (b"one", b"two", b"three"):
                writer.write(word + b"\n")
                await writer.drain()
                replies.append(await reader.readline())
            writer.write_eof()
            rest = await reader.read()
            writer.close()
            await writer.wait_closed()
            return replies, rest

    assert run(loop, main()) == (
        [b"echo: one\n", b"echo: two\n", b"echo: three\n"], b"")


def test_readline_returns_a_partial_last_line_at_eof(loop):
    async def main():
        server, addr = await serve(sender(b"first\nsecond"))
        async with server:
            reader, writer = await asyncio.open_connection(*addr)
            lines = [await reader.readline() for _ in range(3)]
            writer.close()
            await writer.wait_closed()
            return lines, reader.at_eof()

    assert run(loop, main()) == ([b"first\n", b"second", b""], True)


def test_readexactly_reads_exactly_n_bytes_across_chunks(loop):
    async def handle(reader, writer):
        for piece in (b"ab", b"cde", b"fghij"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.005)
        writer.close()

    async def main():
        server, addr = await serve(handle)
        async with server:
            reader, writer = await asyncio.open_connection(*addr)
            got = [await reader.readexactly(4), await reader.readexactly(6)]
            writer.close()
            await writer.wait_closed()
            return got

    assert run(loop, main()) == [b"abcd", b"efghij"]


def test_readexactly_at_early_eof_raises_incomplete_read_error_with_the_partial_data(loop):
    async def main():
        server, addr = await serve(sender(b"short"))
        async with server:
            reader, writer = await asyncio.open_connection(*addr)
            with pytest.raises(asyncio.IncompleteReadError) as info:
                await reader.readexactly(10)
            writer.close()
            await writer.wait_closed()
            return info.value.partial, info.value.expected, str(info.value)

    assert run(loop, main()) == (
        b"short", 10, "5 bytes read on a total of 10 expected bytes")


def test_readuntil_returns_data_up_to_and_including_the_separator(loop):
    async def main():
        server, addr = await serve(sender(b"key=value;;next=1;;"))
        async with server:
            reader, writer = await asyncio.open_connection(*addr)
            got = [await reader.readuntil(b";;"), await reader.readuntil(b";;")]
            writer.close()
            await writer.wait_closed()
            return got

    assert run(loop, main()) == [b"key=value;;", b"next=1;;"]


def test_readuntil_at_eof_without_separator_raises_incomplete_read_error(loop):
    async def main():
        server, addr = await serve(sender(b"no separator here"))
        async with server:
            reader, writer = await asyncio.open_connection(*addr)
            with pytest.raises(asyncio.IncompleteReadError) as info:
                await reader.readuntil(b"\r\n")
            writer.close()
            await writer.wait_closed()
            return info.value.partial, info.value.expected

    assert run(loop, main()) == (b"no separator here", None)


def test_readuntil_beyond_the_limit_raises_limit_overrun_error(loop):
    async def main():
        server, addr = await serve(sender(b"x" * 200, close=False))
        async with server:
            reader, writer = await asyncio.open_connection(*addr, limit=64)
            with pytest.raises(asyncio.LimitOverrunError) as info:
                await reader.readuntil(b"\n")
            writer.close()
            await writer.wait_closed()
            return str(info.value)

    assert run(loop, main()) == "Separator is not found, and chunk exceed the limit"


def test_readline_beyond_the_limit_raises_value_error(loop):
    async def main():
        server, addr = await serve(sender(b"y" * 200, close=False))
        async with server:
            reader, writer = await asyncio.open_connection(*addr, limit=64)
            with pytest.raises(ValueError, match="Separator is not found, and chunk exceed the limit"):
                await reader.readline()
            writer.close()
            await writer.wait_closed()

    run(loop, main())


def test_read_with_n_returns_at_most_n_bytes(loop):
    async def main():
        server, addr = await serve(sender(b"0123456789"))
        async with server:
            reader, writer = await asyncio.open_connection(*addr)
            await asyncio.sleep(0.02)
            first = await reader.read(4)
            rest = await reader.read()
            writer.close()
            await writer.wait_closed()
            return first, rest

    assert run(loop, main()) == (b"0123", b"456789")


def test_async_for_over_a_reader_yields_lines(loop):
    async def main():
        server, addr = await serve(sender(b"a\nb\nc"))
        async with server:
            reader, writer = await asyncio.open_connection(*addr)
            lines = [line async for line in reader]
            writer.close()
            await writer.wait_closed()
            return lines

    assert run(loop, main()) == [b"a\n", b"b\n", b"c"]


def test_drain_waits_while_the_peer_does_not_read(loop):
    release = None

    async def handle(reader, writer):
        await release.wait()
        total = 0
        while data := await reader.read(1 << 16):
            total += len(data)
        writer.write(str(total).encode())
        await writer.drain()
        writer.close()

    async def main():
        nonlocal release
        release = asyncio.Event()
        server, addr = await serve(handle)
        async with server:
            reader, writer = await asyncio.open_connection(*addr)
            writer.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
            writer.transport.set_write_buffer_limits(high=64 * 1024)
            sent = 0
            blocked = False
            while not blocked:
                writer.write(b"z" * 262144)
                sent += 262144
                drain = loop.create_task(writer.drain())
                await asyncio.sleep(0.005)
                blocked = not drain.done()
                if not blocked:
                    await drain
            buffered = writer.transport.get_write_buffer_size()
            release.set()
            await drain
            writer.write_eof()
            count = int(await reader.read())
            writer.close()
            await writer.wait_closed()
            return blocked, buffered > 16 * 1024, count == sent

    assert run(loop, main()) == (True, True, True)


def test_write_eof_lets_the_server_read_to_eof_and_still_reply(loop):
    async def handle(reader, writer):
        data = await reader.read()
        writer.write(b"got %d bytes" % len(data))
        await writer.drain()
        writer.close()

    async def main():
        server, addr = await serve(handle)
        async with server:
            reader, writer = await asyncio.open_connection(*addr)
            can = writer.can_write_eof()
            writer.write(b"12345")
            writer.write_eof()
            reply = await reader.read()
            writer.close()
            await writer.wait_closed()
            return can, reply

    assert run(loop, main()) == (True, b"got 5 bytes")


def test_wait_closed_returns_after_close_and_is_closing_turns_true(loop):
    async def main():
        server, addr = await serve(sender(b"", close=False))
        async with server:
            reader, writer = await asyncio.open_connection(*addr)
            before = writer.is_closing()
            writer.close()
            after = writer.is_closing()
            await writer.wait_closed()
            return before, after, writer.transport.is_closing()

    assert run(loop, main()) == (False, True, True)


def test_connection_reset_by_peer_raises_from_read(loop):
    async def handle(reader, writer):
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def main():
        server, addr = await serve(handle)
        async with server:
            reader, writer = await asyncio.open_connection(*addr)
            with pytest.raises(ConnectionResetError):
                while await reader.read(100):
                    pass
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionResetError:
                pass

    run(loop, main())


def test_stream_writer_extra_info_and_transport(loop):
    async def main():
        server, addr = await serve(sender(b"", close=False))
        async with server:
            reader, writer = await asyncio.open_connection(*addr)
            info = (writer.get_extra_info("peername") == addr,
                    writer.get_extra_info("sockname")[0],
                    writer.get_extra_info("nope", 42),
                    writer.transport.get_extra_info("peername") == addr)
            writer.close()
            await writer.wait_closed()
            return info

    assert run(loop, main()) == (True, "127.0.0.1", 42, True)


def test_open_connection_with_sock(loop):
    async def main():
        server, addr = await serve(sender(b"via sock"))
        async with server:
            sock = socket.create_connection(addr)
            reader, writer = await asyncio.open_connection(sock=sock)
            got = await reader.read()
            writer.close()
            await writer.wait_closed()
            return got

    assert run(loop, main()) == b"via sock"


def test_start_server_with_many_concurrent_stream_clients(loop):
    async def handle(reader, writer):
        name = await reader.readline()
        writer.write(b"hello " + name)
        await writer.drain()
        writer.close()

    async def client(addr, i):
        reader, writer = await asyncio.open_connection(*addr)
        writer.write(b"%d\n" % i)
        reply = await reader.read()
        writer.close()
        await writer.wait_closed()
        return reply

    async def main():
        server, addr = await serve(handle)
        async with server:
            return await asyncio.gather(*(client(addr, i) for i in range(100)))

    assert run(loop, main()) == [b"hello %d\n" % i for i in range(100)]
