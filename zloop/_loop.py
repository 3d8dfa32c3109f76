"""``zloop.Loop``: the native engine plus asyncio's own choreography."""

import os
import selectors
import socket
import stat
import sys
import threading
import weakref
from asyncio import base_events, constants, events, futures, selector_events, sslproto, trsock, unix_events
from asyncio.log import logger

from . import _support, _zloop
from ._child_watching import ChildWatching
from ._signal_handlers import SignalHandlers


class _EngineSelectorView:
    """Answers the one question asyncio's Python transports ask the loop's
    selector (``get_key(fd).events``, for their repr) from the native engine."""

    def __init__(self, loop):
        self._loop = loop

    def get_key(self, fileobj):
        fd = selectors._fileobj_to_fd(fileobj)
        events_mask = self._loop._fd_events(fd)
        if not events_mask:
            raise KeyError(f"{fileobj!r} is not registered")
        return selectors.SelectorKey(fileobj, fd, events_mask, None)


_PLAIN_SOCKET = socket.socket
_STOCK = selector_events.BaseSelectorEventLoop


def _address(sock, which):
    """``sock.getsockname()``/``getpeername()``, None when the socket says no."""
    try:
        return getattr(sock, which)()
    except OSError:
        return None


def _transport_extra(sock, extra):
    """The extra-info mapping of a socket transport, as asyncio builds it."""
    info = dict(extra) if extra else {}
    info["socket"] = _support.transport_socket(sock)
    info["sockname"] = _address(sock, "getsockname")
    if "peername" not in info:
        info["peername"] = _address(sock, "getpeername")
    return info


def _pipe_fileno(pipe, extra, message, accepted):
    """What asyncio's pipe transport constructors check before anything
    else: ``extra["pipe"]`` set (in the caller's dict, as asyncio does),
    the file type one of ``accepted`` (else ValueError), O_NONBLOCK set.
    Returns the extra-info dict, the fd and its mode."""
    if extra is None:
        extra = {}
    extra["pipe"] = pipe
    fileno = pipe.fileno()
    mode = os.fstat(fileno).st_mode
    if not any(check(mode) for check in accepted):
        raise ValueError(message)
    os.set_blocking(fileno, False)
    return extra, fileno, mode


def _is_numeric_address(host, port):
    """Whether getaddrinfo(host, port) needs no name or service lookup."""
    if isinstance(port, str):
        if not port.isdigit():
            return False
    elif port is not None and not isinstance(port, int):
        return False
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    for family, text in ((socket.AF_INET, host), (socket.AF_INET6, host.partition("%")[0])):
        try:
            socket.inet_pton(family, text)
        except (OSError, ValueError):  # ValueError: an embedded NUL
            continue
        return True
    return False


class Loop(_zloop.Loop, SignalHandlers, ChildWatching, unix_events.SelectorEventLoop):
    """An asyncio event loop whose engine is Rust.

    The native base implements scheduling, timers, readiness, the run loop
    and stream transports; asyncio's own Unix selector loop contributes the
    parts that are set-up choreography (``run_until_complete``, tasks,
    executors, exception handlers, async generator hooks, connection and
    server set-up, TLS stacking, pipes, subprocesses), so they behave exactly
    as the running interpreter's asyncio does, on the native engine.
    """

    def __init__(self):
        # Not SelectorEventLoop.__init__: no Python selector, no self-pipe.
        base_events.BaseEventLoop.__init__(self)
        self._selector = _EngineSelectorView(self)
        self._transports = weakref.WeakValueDictionary()
        self._ssock = self._csock = None
        # The engine's eventfd waker stands for asyncio's self-pipe.
        self._internal_fds = 1
        self._unix_server_sockets = {}
        self._old_agen_hooks = None
        self._init_signal_handlers()

    def close(self):
        base_events.BaseEventLoop.close(self)
        self._internal_fds = 0
        self._close_signal_handlers()
        self._release_engine()

    def _make_socket_transport(
        self, sock, protocol, waiter=None, *, extra=None, server=None, context=None
    ):
        # context: 3.15+ runs a socket transport's set-up callbacks in the
        # context the connection was made in (None: the current one's copy).
        self._ensure_fd_no_transport(sock)
        base_events._set_nodelay(sock)
        transport = _zloop.Transport(self, sock, protocol, _transport_extra(sock, extra), server)
        if context is not None:
            transport._use_connection_context(context)
        if server is not None:
            _support.server_attach(server, transport)
        self._transports[sock.fileno()] = transport
        return self._connect_transport(transport, protocol, waiter, context=context)

    def _make_datagram_transport(self, sock, protocol, address=None, waiter=None, extra=None):
        self._ensure_fd_no_transport(sock)
        transport = _zloop.DatagramTransport(
            self, sock, protocol, _transport_extra(sock, extra), address
        )
        self._transports[sock.fileno()] = transport
        return self._connect_transport(transport, protocol, waiter)

    def _make_read_pipe_transport(self, pipe, protocol, waiter=None, extra=None):
        extra, fileno, _ = _pipe_fileno(
            pipe,
            extra,
            "Pipe transport is for pipes/sockets only.",
            (stat.S_ISFIFO, stat.S_ISSOCK, stat.S_ISCHR),
        )
        transport = _zloop.ReadPipeTransport(self, pipe, fileno, protocol, extra)
        return self._connect_transport(transport, protocol, waiter)

    def _make_write_pipe_transport(self, pipe, protocol, waiter=None, extra=None):
        extra, fileno, mode = _pipe_fileno(
            pipe,
            extra,
            "Pipe transport is only for pipes, sockets and character devices",
            (stat.S_ISCHR, stat.S_ISFIFO, stat.S_ISSOCK),
        )
        transport = _zloop.WritePipeTransport(self, pipe, fileno, protocol, extra)
        # The reader trick: the write end turns readable when the reader goes
        # away (not for character devices).
        reader_trick = stat.S_ISSOCK(mode) or stat.S_ISFIFO(mode)
        return self._connect_transport(transport, protocol, waiter, start_reading=reader_trick)

    def _connect_transport(self, transport, protocol, waiter, start_reading=True, context=None):
        """The tail of asyncio's transport constructors: ``connection_made``,
        then reading (only once ``connection_made`` has run), then the
        waiter, each in ``context`` when one is given."""
        self.call_soon(protocol.connection_made, transport, context=context)
        if start_reading:
            self.call_soon(transport._start_reading, context=context)
        if waiter is not None:
            self.call_soon(futures._set_result_unless_cancelled, waiter, None, context=context)
        return transport

    def _start_serving(
        self,
        protocol_factory,
        sock,
        sslcontext=None,
        server=None,
        backlog=100,
        ssl_handshake_timeout=constants.SSL_HANDSHAKE_TIMEOUT,
        ssl_shutdown_timeout=constants.SSL_SHUTDOWN_TIMEOUT,
        context=None,
    ):
        """Accept connections on ``sock`` with the native accept loop
        (``context``: 3.15+'s server context, copied for each connection)."""
        args = (protocol_factory, sock, sslcontext, server, backlog)
        timeouts = (ssl_handshake_timeout, ssl_shutdown_timeout)

        def on_connection(fd):
            self._accepted(fd, *args, *timeouts, context)

        def on_resource_error(exc):
            # Out of fds or memory: pause accepting and retry, as asyncio does.
            self.call_exception_handler(
                {
                    "message": "socket.accept() out of system resource",
                    "exception": exc,
                    "socket": trsock.TransportSocket(sock),
                }
            )
            self._remove_reader(sock.fileno())
            self.call_later(
                constants.ACCEPT_RETRY_DELAY, self._start_serving, *args, *timeouts, context
            )

        acceptor = _zloop.Acceptor(sock, backlog, on_connection, on_resource_error)
        self._add_reader(sock.fileno(), acceptor)

    def _accepted(
        self,
        fd,
        protocol_factory,
        sock,
        sslcontext,
        server,
        backlog,
        ssl_handshake_timeout,
        ssl_shutdown_timeout,
        context,
    ):
        """A connection the native accept loop took: build its transport."""
        conn = socket.socket(sock.family, sock.type, sock.proto, fileno=fd)
        extra = {"peername": _address(conn, "getpeername")}
        if self._debug:
            logger.debug("%r got a new connection from %r: %r", server, extra["peername"], conn)
        transport_kw = {}
        if context is not None:  # 3.15+: each connection in a copy of the server's context
            context = context.copy()
            transport_kw["context"] = context
        if sslcontext:
            # The TLS handshake is awaited; asyncio's coroutine does it.
            self.create_task(
                self._accept_connection2(
                    protocol_factory,
                    conn,
                    extra,
                    sslcontext,
                    server,
                    ssl_handshake_timeout,
                    ssl_shutdown_timeout,
                    **transport_kw,
                ),
                context=context,
            )
            return
        protocol = None
        try:
            protocol = context.run(protocol_factory) if context is not None else protocol_factory()
            self._make_socket_transport(conn, protocol, extra=extra, server=server, context=context)
        except (SystemExit, KeyboardInterrupt):
            conn.close()
            raise
        except BaseException as exc:
            conn.close()
            if self._debug:
                context = {
                    "message": "Error on transport creation for incoming connection",
                    "exception": exc,
                }
                if protocol is not None:
                    context["protocol"] = protocol
                self.call_exception_handler(context)

    async def sock_recv(self, sock, n):
        """Receive up to ``n`` bytes from the non-blocking socket ``sock``."""
        if (sock.__class__ is not _PLAIN_SOCKET or self._debug) and not self._native_sock(sock):
            return await _STOCK.sock_recv(self, sock, n)
        result = self._sock_recv_native(sock, n)
        if result.__class__ is bytes:
            return result
        return await result

    async def sock_recv_into(self, sock, buf):
        """Receive into ``buf``; returns the number of bytes received."""
        if (sock.__class__ is not _PLAIN_SOCKET or self._debug) and not self._native_sock(sock):
            return await _STOCK.sock_recv_into(self, sock, buf)
        result = self._sock_recv_into_native(sock, buf)
        if result.__class__ is int:
            return result
        return await result

    async def sock_sendall(self, sock, data):
        """Send all of ``data`` to the non-blocking socket ``sock``."""
        if (sock.__class__ is not _PLAIN_SOCKET or self._debug) and not self._native_sock(sock):
            return await _STOCK.sock_sendall(self, sock, data)
        pending = self._sock_sendall_native(sock, data)
        if pending is not None:
            return await pending

    def _native_sock(self, sock):
        """Whether the native ``sock_*`` halves take ``sock`` (after
        asyncio's checks) only for a plain ``socket.socket``; asyncio's own
        code handles anything else, so a subclass's overridden methods
        (``fileno()``, ``recv()``) are called as there, duck-typed objects
        work, and the rest fails exactly as there."""
        if sock.__class__ is not _PLAIN_SOCKET:
            return False
        self._check_sock(sock)
        return True

    def _check_sock(self, sock):
        """asyncio's checks before every ``sock_*`` call (the hot methods
        skip them for a plain ``socket.socket`` outside debug mode: it cannot
        be an ``ssl.SSLSocket``, and only debug mode checks the timeout)."""
        base_events._check_ssl_socket(sock)
        if self._debug and sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")

    async def _sock_call(self, sock, method, args, for_writing):
        """``sock.<method>(*args)``, retried natively when the socket is ready."""
        done, value = self._sock_call_native(sock, method, args, for_writing)
        if done:
            return value
        return await value

    async def sock_recvfrom(self, sock, bufsize):
        """Receive a datagram of up to ``bufsize`` bytes: ``(data, address)``."""
        if not self._native_sock(sock):
            return await _STOCK.sock_recvfrom(self, sock, bufsize)
        return await self._sock_call(sock, "recvfrom", (bufsize,), False)

    async def sock_recvfrom_into(self, sock, buf, nbytes=0):
        """Receive a datagram into ``buf``: ``(nbytes, address)``."""
        if not self._native_sock(sock):
            return await _STOCK.sock_recvfrom_into(self, sock, buf, nbytes)
        return await self._sock_call(sock, "recvfrom_into", (buf, nbytes or len(buf)), False)

    async def sock_sendto(self, sock, data, address):
        """Send a datagram to ``address``; returns the bytes sent."""
        if not self._native_sock(sock):
            return await _STOCK.sock_sendto(self, sock, data, address)
        return await self._sock_call(sock, "sendto", (data, address), True)

    async def sock_accept(self, sock):
        """Accept a connection: ``(conn, address)``, ``conn`` non-blocking."""
        if not self._native_sock(sock):
            return await _STOCK.sock_accept(self, sock)
        conn, address = await self._sock_call(sock, "accept", (), False)
        conn.setblocking(False)
        return conn, address

    async def sock_connect(self, sock, address):
        """Connect the non-blocking socket ``sock`` to ``address``."""
        if not self._native_sock(sock):
            return await _STOCK.sock_connect(self, sock, address)
        if sock.family == socket.AF_INET or (
            base_events._HAS_IPv6 and sock.family == socket.AF_INET6
        ):
            resolved = await self._ensure_resolved(
                address, family=sock.family, type=sock.type, proto=sock.proto, loop=self
            )
            _, _, _, _, address = resolved[0]
        pending = self._sock_connect_native(sock, address)
        if pending is not None:
            return await pending

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):
        """``socket.getaddrinfo`` off the loop thread, except for numeric
        hosts and ports, which resolve without a lookup and are answered at
        once."""
        if not self._debug and _is_numeric_address(host, port):
            return socket.getaddrinfo(host, port, family, type, proto, flags)
        return await super().getaddrinfo(
            host, port, family=family, type=type, proto=proto, flags=flags
        )

    async def getnameinfo(self, sockaddr, flags=0):
        """``socket.getnameinfo`` off the loop thread, unless both the host and
        the port are asked for numerically."""
        numeric = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
        if flags.__class__ is int and flags & numeric == numeric:
            return socket.getnameinfo(sockaddr, flags)
        return await super().getnameinfo(sockaddr, flags)

    def _make_ssl_transport(
        self,
        rawsock,
        protocol,
        sslcontext,
        waiter=None,
        *,
        server_side=False,
        server_hostname=None,
        extra=None,
        server=None,
        ssl_handshake_timeout=None,
        ssl_shutdown_timeout=None,
        context=None,
    ):
        ssl_protocol = sslproto.SSLProtocol(
            self,
            protocol,
            sslcontext,
            waiter,
            server_side,
            server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
        )
        self._make_socket_transport(
            rawsock, ssl_protocol, extra=extra, server=server, context=context
        )
        return ssl_protocol._app_transport

    if not hasattr(base_events.BaseEventLoop, "_run_forever_setup"):

        def _run_forever_setup(self):
            self._check_closed()
            self._check_running()
            self._set_coroutine_origin_tracking(self._debug)
            self._old_agen_hooks = sys.get_asyncgen_hooks()
            self._thread_id = threading.get_ident()
            sys.set_asyncgen_hooks(
                firstiter=self._asyncgen_firstiter_hook,
                finalizer=self._asyncgen_finalizer_hook,
            )
            events._set_running_loop(self)

        def _run_forever_cleanup(self):
            self._stopping = False
            self._thread_id = None
            events._set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*self._old_agen_hooks)
            self._old_agen_hooks = None
