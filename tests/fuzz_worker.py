"""The child side of the API fuzz suite (tests/test_fuzz_api.py).

A worker runs fuzz *programs* on one loop implementation (``asyncio`` or
``zloop``) and answers with their outcomes.  A program is plain JSON:

    {"debug": false, "calls": [[target, method, [arg, ...], {kw: arg}, in_loop], ...]}

``target`` names an object of the program's environment (``loop``, a
transport of one kind, a server, a handle, or ``native`` for zloop's own
types), ``method`` one of its methods (``op:repr``-style names apply an
operator; ``.name`` reads an attribute), and every argument is a *token*
naming a value of the catalogue below (``VALUES``), or ``["int", n]``,
``["bytes", n]``.  Each call runs outside the loop, or inside a task on the
running loop when ``in_loop`` is true; a coroutine it returns is awaited
with a short time limit.  The outcome of a call is ``"ok"``, ``"raise:Type"``
or ``"timeout"``.  After the calls the loop runs briefly (``post``), then
everything is closed.

The worker is a separate process so that a crash (a segfault, an abort, a
Rust panic) kills only it: the parent reports the program that killed it.

Run a program by hand (prints each call's outcome; a crash is visible):

    python tests/fuzz_worker.py --kind zloop --replay '<program json>'
"""

import argparse
import array
import asyncio
import concurrent.futures
import contextvars
import functools
import gc
import json
import mmap
import operator
import os
import signal
import socket
import ssl
import sys
import tempfile
import traceback

CALL_TIMEOUT = 0.25  # seconds a coroutine returned by a call may take
LOW_FDS = 64  # see Env.__init__
PROGRAM_FDS = 80
CLOSED_FD = 999  # an fd number nothing opens (fds are allocated lowest first)
DATA = b"0123456789" * 10  # what peers have sent before the calls run


# ------------------------------------------------------------ odd objects


class IndexRaises:
    def __index__(self):
        raise ValueError("__index__ raised")

    def __int__(self):
        raise ValueError("__int__ raised")

    def __float__(self):
        raise ValueError("__float__ raised")


class IndexHuge:
    def __index__(self):
        return 2**100


class FilenoRaises:
    def fileno(self):
        raise OSError("fileno raised")


class FilenoReturns:
    def __init__(self, value):
        self.value = value

    def fileno(self):
        return self.value


class BufferRaises:
    def __buffer__(self, flags):
        raise ValueError("__buffer__ raised")


class BufferJunk:
    def __buffer__(self, flags):
        return 42  # not a memoryview: CPython raises TypeError


class LenRaises:
    def __len__(self):
        raise ValueError("__len__ raised")

    def __iter__(self):
        raise ValueError("__iter__ raised")


class EqHashRaises:
    def __eq__(self, other):
        raise ValueError("__eq__ raised")

    def __hash__(self):
        raise ValueError("__hash__ raised")

    def __bool__(self):
        raise ValueError("__bool__ raised")


class StrSubclass(str):
    pass


class IntSubclass(int):
    pass


class BytesSubclass(bytes):
    pass


class SocketFilenoRaises(socket.socket):
    def fileno(self):
        raise OSError("fileno raised")


def raising_iter():
    yield b"a"
    raise ValueError("iterator raised")


def noop(*args, **kwargs):
    pass


def raiser(*args, **kwargs):
    raise ZeroDivisionError("callback raised")


def raise_system_exit(*args):
    raise SystemExit(3)


async def coroutine_function(*args):
    return 1


class Proto(asyncio.Protocol):
    """Accepts everything a stream or pipe transport tells it."""

    def data_received(self, data):
        pass

    def eof_received(self):
        return False


class RaisingProto(asyncio.Protocol):
    """Every callback raises."""

    def connection_made(self, transport):
        raise ZeroDivisionError("connection_made raised")

    def data_received(self, data):
        raise ZeroDivisionError("data_received raised")

    def eof_received(self):
        raise ZeroDivisionError("eof_received raised")

    def connection_lost(self, exc):
        raise ZeroDivisionError("connection_lost raised")

    def pause_writing(self):
        raise ZeroDivisionError("pause_writing raised")

    def resume_writing(self):
        raise ZeroDivisionError("resume_writing raised")


class DProto(asyncio.DatagramProtocol):
    pass


def buffered_proto(get_buffer_result):
    """A BufferedProtocol whose get_buffer() returns ``get_buffer_result()``."""

    class Buffered(asyncio.BufferedProtocol):
        def get_buffer(self, sizehint):
            return get_buffer_result()

        def buffer_updated(self, nbytes):
            pass

        def eof_received(self):
            return False

    return Buffered()


# ------------------------------------------------------------ the catalogue


class Env:
    """The objects one program runs against, on one loop."""

    def __init__(self, kind, debug, tmp=None):
        self.kind = kind
        # Stock asyncio's loop holds other fds than zloop's (epoll and a
        # self-pipe socketpair; epoll and an eventfd), so the numbers of the
        # fds made after it differ by one, and a small int used as an fd or
        # an fd used as an int (signal.SIGUSR1, IntSubclass(5), pipe_w_fd as
        # a signal number) would name different objects on the two loops.
        # Every free number below LOW_FDS is /dev/null while the loop is made
        # (its fds land above), and up to PROGRAM_FDS after: the program's
        # fds are numbered alike on both.
        self.padding = []
        self._pad(LOW_FDS)
        if kind == "zloop":
            import zloop

            self.loop = zloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        self._pad(PROGRAM_FDS)
        self.loop.set_debug(debug)
        self.handled = []
        self.loop.set_exception_handler(
            lambda lp, context: self.handled.append(type(context.get("exception")).__name__)
        )
        asyncio.set_event_loop(self.loop)
        self.tmp = tempfile.mkdtemp(prefix="env-", dir=tmp)
        self.cleanup = []  # objects to close at the end
        self.values = {}
        self.targets = {}

    def _pad(self, below):
        while True:
            fd = os.open(os.devnull, os.O_RDONLY)
            if fd >= below:
                os.close(fd)
                return
            self.padding.append(fd)

    # -- helpers building values

    def keep(self, obj):
        self.cleanup.append(obj)
        return obj

    def tcp_pair(self):
        listener = self.keep(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        client = self.keep(socket.create_connection(listener.getsockname()))
        server, _ = listener.accept()
        self.keep(server)
        client.setblocking(False)
        server.sendall(DATA)
        return client, server

    def unix_pair(self, type=socket.SOCK_STREAM):
        a, b = socket.socketpair(socket.AF_UNIX, type)
        self.keep(a), self.keep(b)
        a.setblocking(False)
        b.send(DATA)
        return a, b

    def pipe(self):
        r, w = os.pipe()
        # Non-blocking: a program that iterates the read end (e.g. hands it
        # to writelines()) must not block the worker forever in user code.
        os.set_blocking(r, False)
        rf = self.keep(os.fdopen(r, "rb", buffering=0))
        wf = self.keep(os.fdopen(w, "wb", buffering=0))
        os.write(w, DATA)
        return rf, wf

    def path(self, name):
        return os.path.join(self.tmp, name)

    def listening(self):
        if "listen_sock" not in self.values:
            s = self.keep(socket.socket())
            s.bind(("127.0.0.1", 0))
            s.listen(8)
            s.setblocking(False)
            # One connection waits in the backlog, so an accept succeeds.
            c = self.keep(socket.socket())
            c.connect(s.getsockname())
            self.values["listen_sock"] = s
        return self.values["listen_sock"]

    def unix_listening(self):
        if "unix_listen_path" not in self.values:
            s = self.keep(socket.socket(socket.AF_UNIX))
            s.bind(self.path("listening"))
            s.listen(8)
            s.setblocking(False)
            self.values["unix_listen_sock"] = s
            self.values["unix_listen_path"] = self.path("listening")
        return self.values["unix_listen_path"]

    def value(self, token):
        if isinstance(token, list):
            tag, n = token
            if tag == "int":
                return n
            if tag == "bytes":
                return b"x" * n
            raise ValueError(f"unknown token {token!r}")
        if token in FRESH:
            return VALUES[token][1](self)
        if token not in self.values:
            self.values[token] = VALUES[token][1](self)
        return self.values[token]

    # -- targets

    async def make_target(self, name):
        loop = self.loop
        if name == "loop":
            return loop
        if name == "native":
            import zloop._zloop

            return zloop._zloop
        if name in ("tcp", "tcp_buffered", "tcp_raising"):
            client, _ = self.tcp_pair()
            proto = {
                "tcp": Proto,
                "tcp_raising": RaisingProto,
                "tcp_buffered": lambda: buffered_proto(lambda: self.value(self.get_buffer)),
            }[name]
            transport, _ = await loop.create_connection(proto, sock=client)
            return transport
        if name == "unix":
            a, _ = self.unix_pair()
            transport, _ = await loop.create_unix_connection(Proto, sock=a)
            return transport
        if name in ("udp", "udp_connected"):
            peer = self.keep(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            peer.bind(("127.0.0.1", 0))
            kwargs = {"local_addr": ("127.0.0.1", 0)}
            if name == "udp_connected":
                kwargs["remote_addr"] = peer.getsockname()
            transport, _ = await loop.create_datagram_endpoint(DProto, **kwargs)
            peer.sendto(DATA, transport.get_extra_info("sockname"))
            return transport
        if name == "unix_dgram":
            a, _ = self.unix_pair(socket.SOCK_DGRAM)
            transport, _ = await loop.create_datagram_endpoint(DProto, sock=a)
            return transport
        if name == "rpipe":
            rf, _ = self.pipe()
            transport, _ = await loop.connect_read_pipe(Proto, rf)
            return transport
        if name == "wpipe":
            _, wf = self.pipe()
            transport, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, wf)
            return transport
        if name == "server":
            return await loop.create_server(Proto, "127.0.0.1", 0)
        if name == "unix_server":
            return await loop.create_unix_server(Proto, self.path("server"))
        if name == "handle":
            return loop.call_soon(noop)
        if name == "timer":
            return loop.call_later(3600, noop)
        raise ValueError(f"unknown target {name!r}")

    async def setup(self, program):
        self.get_buffer = program.get("get_buffer", "bytearray(100)")
        for call in program["calls"]:
            target = call[0]
            if target not in self.targets:
                self.targets[target] = await self.make_target(target)
        for call in program["calls"]:
            for token in [*call[2], *call[3].values()]:
                if not isinstance(token, list) and token not in FRESH:
                    self.value(token)
        await asyncio.sleep(0)

    def close(self):
        loop = self.loop
        for obj in self.targets.values():
            close = getattr(obj, "close", None)
            if close is not None and obj is not loop and not isinstance(obj, type(os)):
                try:
                    close()
                except BaseException:
                    pass
        if not loop.is_closed() and not loop.is_running():
            try:
                loop.run_until_complete(asyncio.sleep(0.001))
            except BaseException:
                pass
        for task in asyncio.all_tasks(loop) if not loop.is_closed() else ():
            task.cancel()
        if not loop.is_closed():
            try:
                loop.run_until_complete(asyncio.sleep(0))
            except BaseException:
                pass
        try:
            loop.close()
        except BaseException:
            pass
        for obj in [*self.cleanup, *self.values.values()]:
            close = getattr(obj, "close", None)
            if close is not None and not isinstance(obj, asyncio.AbstractEventLoop):
                try:
                    close()
                except BaseException:
                    pass
        asyncio.set_event_loop(None)
        for name in os.listdir(self.tmp):
            os.unlink(os.path.join(self.tmp, name))
        os.rmdir(self.tmp)
        for fd in self.padding:
            os.close(fd)
        self.padding = []


def _released_memoryview(env):
    m = memoryview(b"data")
    m.release()
    return m


def _closed_mmap(env):
    m = mmap.mmap(-1, 4096)
    m.close()
    return m


def _closed_sock(env):
    s = socket.socket()
    s.close()
    return s


def _regular_file(env):
    f = env.keep(open(env.path("regular"), "w+b"))
    f.write(b"regular file contents\n")
    f.flush()
    f.seek(0)
    return f


def _closed_file(env):
    f = open(env.path("closed"), "wb")
    f.close()
    return f


def _udp_sock(env):
    s = env.keep(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    s.sendto(DATA, s.getsockname())
    return s


def _unconnected_sock(env):
    s = env.keep(socket.socket())
    s.setblocking(False)
    return s


def _blocking_sock(env):
    client, _ = env.tcp_pair()
    client.settimeout(0.05)  # "blocking", but never for long
    return client


def _sock_fileno_raises(env):
    s = env.keep(SocketFilenoRaises())
    s.setblocking(False)
    return s


def _foreign_future(env):
    other = asyncio.new_event_loop()
    fut = other.create_future()
    fut.set_result(None)
    other.close()
    return fut


def _done_future(env):
    fut = env.loop.create_future()
    fut.set_result(1)
    return fut


def _dir_fd(env):
    fd = os.open(env.tmp, os.O_RDONLY)
    env.keep(FdCloser(fd))
    return fd


def _eventfd(env):
    fd = os.eventfd(0)
    env.keep(FdCloser(fd))
    return fd


class FdCloser:
    def __init__(self, fd):
        self.fd = fd

    def close(self):
        os.close(self.fd)


def _ssl_client_context(env):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# token -> (how the reproducer writes it, how the worker makes it)
VALUES = {
    "None": ("None", lambda env: None),
    "True": ("True", lambda env: True),
    "False": ("False", lambda env: False),
    "0": ("0", lambda env: 0),
    "1": ("1", lambda env: 1),
    "-1": ("-1", lambda env: -1),
    "100": ("100", lambda env: 100),
    "65536": ("65536", lambda env: 65536),
    "2**31": ("2**31", lambda env: 2**31),
    "2**63": ("2**63", lambda env: 2**63),
    "-2**63-1": ("-2**63-1", lambda env: -(2**63) - 1),
    "2**64": ("2**64", lambda env: 2**64),
    "10**100": ("10**100", lambda env: 10**100),
    "-10**100": ("-10**100", lambda env: -(10**100)),
    "IntSubclass": ("IntSubclass(5)", lambda env: IntSubclass(5)),
    "0.0": ("0.0", lambda env: 0.0),
    "3600.0": ("3600.0", lambda env: 3600.0),
    "-0.0": ("-0.0", lambda env: -0.0),
    "nan": ("float('nan')", lambda env: float("nan")),
    "inf": ("float('inf')", lambda env: float("inf")),
    "-inf": ("float('-inf')", lambda env: float("-inf")),
    "1e308": ("1e308", lambda env: 1e308),
    "-1e308": ("-1e308", lambda env: -1e308),
    "5e-324": ("5e-324", lambda env: 5e-324),
    "1j": ("1j", lambda env: 1j),
    "loop_time": ("loop.time() + 3600", lambda env: env.loop.time() + 3600),
    "''": ("''", lambda env: ""),
    "'x'": ("'x'", lambda env: "x"),
    "'\\x00'": ("'\\x00'", lambda env: "\x00"),
    "'peername'": ("'peername'", lambda env: "peername"),
    "'sockname'": ("'sockname'", lambda env: "sockname"),
    "'socket'": ("'socket'", lambda env: "socket"),
    "'pipe'": ("'pipe'", lambda env: "pipe"),
    "'127.0.0.1'": ("'127.0.0.1'", lambda env: "127.0.0.1"),
    "'::1'": ("'::1'", lambda env: "::1"),
    "'localhost'": ("'localhost'", lambda env: "localhost"),
    "'/bin/true'": ("'/bin/true'", lambda env: "/bin/true"),
    "'80'": ("'80'", lambda env: "80"),
    "StrSubclass": ("StrSubclass('peername')", lambda env: StrSubclass("peername")),
    "b''": ("b''", lambda env: b""),
    "b'data'": ("b'data'", lambda env: b"data"),
    "BytesSubclass": ("BytesSubclass(b'data')", lambda env: BytesSubclass(b"data")),
    "bytearray(100)": ("bytearray(100)", lambda env: bytearray(100)),
    "bytearray()": ("bytearray()", lambda env: bytearray()),
    "b'x'*300000": ("b'x' * 300000", lambda env: b"x" * 300000),
    "mv": ("memoryview(b'data')", lambda env: memoryview(b"data")),
    "mv_writable": ("memoryview(bytearray(100))", lambda env: memoryview(bytearray(100))),
    "mv_readonly": (
        "memoryview(bytearray(100)).toreadonly()",
        lambda env: memoryview(bytearray(100)).toreadonly(),
    ),
    "mv_noncontig": ("memoryview(b'abcdefgh')[::2]", lambda env: memoryview(b"abcdefgh")[::2]),
    "mv_noncontig_writable": (
        "memoryview(bytearray(16))[::-2]",
        lambda env: memoryview(bytearray(16))[::-2],
    ),
    "mv_2d": (
        "memoryview(bytearray(12)).cast('B', (3, 4))",
        lambda env: memoryview(bytearray(12)).cast("B", (3, 4)),
    ),
    "mv_d": ("memoryview(bytearray(16)).cast('d')", lambda env: memoryview(bytearray(16)).cast("d")),
    "mv_empty": ("memoryview(b'')", lambda env: memoryview(b"")),
    "mv_released": ("<released memoryview>", _released_memoryview),
    "array_d": ("array('d', [1.5, 2.5])", lambda env: array.array("d", [1.5, 2.5])),
    "array_b": ("array('b', [1, 2, 3])", lambda env: array.array("b", [1, 2, 3])),
    "array_empty": ("array('I')", lambda env: array.array("I")),
    "mmap": ("mmap.mmap(-1, 4096)", lambda env: env.keep(mmap.mmap(-1, 4096))),
    "mmap_closed": ("<closed mmap>", _closed_mmap),
    "[b'a', b'b']": ("[b'a', b'b']", lambda env: [b"a", b"b"]),
    "[b'a', 1]": ("[b'a', 1]", lambda env: [b"a", 1]),
    "(mv_noncontig,)": (
        "(memoryview(b'abcdefgh')[::2],)",
        lambda env: (memoryview(b"abcdefgh")[::2],),
    ),
    "[array_d, mmap]": (
        "[array('d', [1.5]), mmap.mmap(-1, 64)]",
        lambda env: [array.array("d", [1.5]), env.keep(mmap.mmap(-1, 64))],
    ),
    "[]": ("[]", lambda env: []),
    "iter([b'a'])": ("iter([b'a'])", lambda env: iter([b"a"])),
    "raising_iter": ("raising_iter()", lambda env: raising_iter()),
    "{}": ("{}", lambda env: {}),
    "{'message': 'x'}": ("{'message': 'x'}", lambda env: {"message": "x"}),
    "{'message': 'x', 'exception': ValueError()}": (
        "{'message': 'x', 'exception': ValueError()}",
        lambda env: {"message": "x", "exception": ValueError()},
    ),
    "(1, 2, 3)": ("(1, 2, 3)", lambda env: (1, 2, 3)),
    "object()": ("object()", lambda env: object()),
    "IndexRaises": ("IndexRaises()", lambda env: IndexRaises()),
    "IndexHuge": ("IndexHuge()", lambda env: IndexHuge()),
    "FilenoRaises": ("FilenoRaises()", lambda env: FilenoRaises()),
    "FilenoMinusOne": ("FilenoReturns(-1)", lambda env: FilenoReturns(-1)),
    "FilenoHuge": ("FilenoReturns(2**40)", lambda env: FilenoReturns(2**40)),
    "FilenoStr": ("FilenoReturns('3')", lambda env: FilenoReturns("3")),
    "FilenoClosed": (f"FilenoReturns({CLOSED_FD})", lambda env: FilenoReturns(CLOSED_FD)),
    "BufferRaises": ("BufferRaises()", lambda env: BufferRaises()),
    "BufferJunk": ("BufferJunk()", lambda env: BufferJunk()),
    "LenRaises": ("LenRaises()", lambda env: LenRaises()),
    "EqHashRaises": ("EqHashRaises()", lambda env: EqHashRaises()),
    "ValueError()": ("ValueError('x')", lambda env: ValueError("x")),
    "OSError()": ("OSError(5, 'x')", lambda env: OSError(5, "x")),
    # callables
    "noop": ("noop", lambda env: noop),
    "raiser": ("raiser", lambda env: raiser),
    "raise_system_exit": ("raise_system_exit", lambda env: raise_system_exit),
    "print_": ("functools.partial(noop, 1)", lambda env: functools.partial(noop, 1)),
    "loop.stop": ("loop.stop", lambda env: env.loop.stop),
    "coroutine_function": ("coroutine_function", lambda env: coroutine_function),
    "coro": ("asyncio.sleep(0)", lambda env: asyncio.sleep(0)),
    "Context()": ("contextvars.Context()", lambda env: contextvars.Context()),
    "copy_context()": ("contextvars.copy_context()", lambda env: contextvars.copy_context()),
    "Proto": ("Proto", lambda env: Proto),
    "RaisingProto": ("RaisingProto", lambda env: RaisingProto),
    "DProto": ("DProto", lambda env: DProto),
    "Proto()": ("Proto()", lambda env: Proto()),
    "DProto()": ("DProto()", lambda env: DProto()),
    "BufferedProto()": (
        "buffered_proto(lambda: bytearray(100))",
        lambda env: buffered_proto(lambda: bytearray(100)),
    ),
    "factory_none": ("lambda: None", lambda env: lambda: None),
    "factory_raises": ("raiser", lambda env: raiser),
    "executor": (
        "concurrent.futures.ThreadPoolExecutor(1)",
        lambda env: env.keep(ExecutorCloser(concurrent.futures.ThreadPoolExecutor(1))).executor,
    ),
    "done_future": ("<done future of loop>", _done_future),
    "foreign_future": ("<done future of another loop>", _foreign_future),
    "ssl_client_ctx": ("<ssl.SSLContext(PROTOCOL_TLS_CLIENT), no verification>", _ssl_client_context),
    "SIGUSR1": ("signal.SIGUSR1", lambda env: signal.SIGUSR1),
    "SIGKILL": ("signal.SIGKILL", lambda env: signal.SIGKILL),
    "65": ("65", lambda env: 65),
    # sockets, files and fds
    "tcp_sock": ("<connected non-blocking TCP socket, data pending>", lambda env: env.tcp_pair()[0]),
    "tcp_peer": ("<the blocking peer of a TCP socket>", lambda env: env.tcp_pair()[1]),
    "unix_sock": ("<connected non-blocking AF_UNIX socket, data pending>", lambda env: env.unix_pair()[0]),
    "unix_dgram_sock": (
        "<non-blocking AF_UNIX datagram socket, a datagram pending>",
        lambda env: env.unix_pair(socket.SOCK_DGRAM)[0],
    ),
    "udp_sock": ("<bound non-blocking UDP socket, a datagram pending>", _udp_sock),
    "listen_sock": ("<listening non-blocking TCP socket, a connection pending>", lambda env: env.listening()),
    "listen_addr": ("<address of the listening TCP socket>", lambda env: env.listening().getsockname()),
    "listen_port": ("<port of the listening TCP socket>", lambda env: env.listening().getsockname()[1]),
    "unix_listen_path": ("<path of a listening AF_UNIX socket>", lambda env: env.unix_listening()),
    "unix_path_missing": ("'<tmp>/missing'", lambda env: env.path("missing")),
    "unix_path_new": ("'<tmp>/new'", lambda env: env.path("new")),
    "abstract_unix": ("b'\\x00zloop-fuzz-abstract'", lambda env: b"\x00zloop-fuzz-abstract-%d" % os.getpid()),
    "unconnected_sock": ("<unconnected non-blocking TCP socket>", _unconnected_sock),
    "blocking_sock": ("<connected TCP socket with timeout 0.05>", _blocking_sock),
    "closed_sock": ("<closed socket>", _closed_sock),
    "sock_fileno_raises": ("<socket subclass whose fileno() raises>", _sock_fileno_raises),
    "('127.0.0.1', 0)": ("('127.0.0.1', 0)", lambda env: ("127.0.0.1", 0)),
    "('127.0.0.1', -1)": ("('127.0.0.1', -1)", lambda env: ("127.0.0.1", -1)),
    "('127.0.0.1', 65536)": ("('127.0.0.1', 65536)", lambda env: ("127.0.0.1", 65536)),
    "('127.0.0.1', 2**64)": ("('127.0.0.1', 2**64)", lambda env: ("127.0.0.1", 2**64)),
    "('::1', 0, 0, 0)": ("('::1', 0, 0, 0)", lambda env: ("::1", 0, 0, 0)),
    "('127.0.0.1',)": ("('127.0.0.1',)", lambda env: ("127.0.0.1",)),
    "('127.0.0.1', 'x')": ("('127.0.0.1', 'x')", lambda env: ("127.0.0.1", "x")),
    "(None, 0)": ("(None, 0)", lambda env: (None, 0)),
    "regular_file": ("<open regular file>", _regular_file),
    "regular_fd": ("<fd of a regular file>", lambda env: _regular_file(env).fileno()),
    "devnull": ("open('/dev/null', 'rb')", lambda env: env.keep(open(os.devnull, "rb"))),
    "pipe_r": ("<read end of a pipe, data pending>", lambda env: env.pipe()[0]),
    "pipe_w": ("<write end of a pipe>", lambda env: env.pipe()[1]),
    "pipe_r_fd": ("<fd of a pipe's read end>", lambda env: env.pipe()[0].fileno()),
    "pipe_w_fd": ("<fd of a pipe's write end>", lambda env: env.pipe()[1].fileno()),
    "closed_file": ("<closed file>", _closed_file),
    "closed_fd": (str(CLOSED_FD), lambda env: CLOSED_FD),
    "dir_fd": ("<fd of a directory>", _dir_fd),
    "eventfd": ("os.eventfd(0)", _eventfd),
    "loop": ("loop", lambda env: env.loop),
    "tcp_transport": ("<the program's tcp transport>", lambda env: env.targets.get("tcp")),
}

# Tokens made afresh for every use (they are consumed or mutated).
FRESH = {"coro", "iter([b'a'])", "raising_iter"}


class ExecutorCloser:
    def __init__(self, executor):
        self.executor = executor

    def close(self):
        self.executor.shutdown(wait=True)


# ------------------------------------------------------------ running


def describe_token(token):
    if isinstance(token, list):
        tag, n = token
        return repr(n) if tag == "int" else f"b'x' * {n}"
    return VALUES[token][0]


def describe_call(call):
    target, method, args, kwargs, in_loop = call
    shown = [describe_token(a) for a in args]
    shown += [f"{k}={describe_token(v)}" for k, v in kwargs.items()]
    where = "  # inside a task on the running loop" if in_loop else ""
    if method.startswith("op:"):
        name = method[3:] if method[3:] in ("repr", "hash") else f"operator.{method[3:]}"
        return f"{name}({', '.join([target, *shown])}){where}"
    if method.startswith("."):
        return f"{target}{method}{where}"
    return f"{target}.{method}({', '.join(shown)}){where}"


def describe(program):
    lines = [f"# debug={program['debug']}"]
    if "get_buffer" in program and any(c[0] == "tcp_buffered" for c in program["calls"]):
        lines.append(f"# tcp_buffered: BufferedProtocol.get_buffer() returns {describe_token(program['get_buffer'])}")
    lines += [describe_call(call) for call in program["calls"]]
    return "\n".join(lines)


def outcome_of(exc):
    return f"raise:{type(exc).__name__}"


async def _await_result(result):
    return await asyncio.wait_for(result, CALL_TIMEOUT)


OPERATORS = {"repr": repr, "hash": hash, "eq": operator.eq, "lt": operator.lt, "le": operator.le,
             "gt": operator.gt, "ge": operator.ge}


def invoke(env, call):
    """Make one call; returns its result (a coroutine's is awaited)."""
    target_name, method, args, kwargs, in_loop = call
    target = env.targets[target_name]
    args = [env.value(a) for a in args]
    kwargs = {k: env.value(v) for k, v in kwargs.items()}
    if method.startswith("op:"):
        return OPERATORS[method[3:]](target, *args)
    if method.startswith("."):
        return getattr(target, method[1:])
    fn = getattr(target, method)
    if method == "run_forever" and target is env.loop and not env.loop.is_running():
        # Without this the call would never return, on any loop.
        env.loop.call_soon(env.loop.stop)
    return fn(*args, **kwargs)


def run_call(env, call):
    loop = env.loop
    in_loop = call[4] and not loop.is_closed() and not loop.is_running()
    try:
        if in_loop:

            async def inside():
                result = invoke(env, call)
                if asyncio.iscoroutine(result):
                    await _await_result(result)

            loop.run_until_complete(inside())
        else:
            result = invoke(env, call)
            if asyncio.iscoroutine(result):
                if loop.is_closed() or loop.is_running():
                    result.close()
                else:
                    loop.run_until_complete(_await_result(result))
    except (asyncio.TimeoutError, TimeoutError):
        return "timeout"
    except BaseException as exc:
        return outcome_of(exc)
    return "ok"


def run_program(kind, program, tmp=None):
    env = Env(kind, program["debug"], tmp)
    try:
        try:
            env.loop.run_until_complete(env.setup(program))
        except BaseException:
            return {"setup_error": traceback.format_exc()}
        outcomes = [run_call(env, call) for call in program["calls"]]
        post = "ok"
        if not env.loop.is_closed() and not env.loop.is_running():
            try:
                for _ in range(2):
                    env.loop.run_until_complete(asyncio.sleep(0.005))
            except BaseException as exc:
                post = outcome_of(exc)
        return {"outcomes": outcomes, "post": post, "handled": sorted(env.handled)}
    finally:
        env.close()
        gc.collect()


def serve(kind, infd, outfd, tmp):
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    with os.fdopen(infd, "r") as requests, os.fdopen(outfd, "w") as replies:
        for line in requests:
            program = json.loads(line)
            print("=" * 20, describe(program), sep="\n", file=sys.stderr, flush=True)
            reply = run_program(kind, program, tmp)
            replies.write(json.dumps(reply) + "\n")
            replies.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=["asyncio", "zloop"], required=True)
    parser.add_argument("--replay", help="run one program (JSON) and print its outcomes")
    parser.add_argument("--serve", nargs=2, type=int, metavar=("IN_FD", "OUT_FD"))
    parser.add_argument("--tmp", help="directory for the programs' files (default: the system's)")
    args = parser.parse_args()
    if args.replay:
        program = json.loads(args.replay)
        print(describe(program))
        print(json.dumps(run_program(args.kind, program)))
    else:
        serve(args.kind, *args.serve, args.tmp)


if __name__ == "__main__":
    main()
