"""Cold paths of the native engine, written in Python: reprs, error reports
and debug-mode diagnostics, worded exactly as asyncio words them."""

import errno
import sys
import warnings
from asyncio import base_events, events, format_helpers, trsock
from asyncio.log import logger

from . import _zloop
from ._zloop import TimerHandle

if sys.version_info >= (3, 13):

    def _callback_source(handle):
        return format_helpers._format_callback_source(
            handle._callback, handle._args, debug=handle._loop.get_debug()
        )

else:

    def _callback_source(handle):
        return format_helpers._format_callback_source(handle._callback, handle._args)


def handle_repr(handle):
    """``repr(handle)``, as ``asyncio.Handle.__repr__``."""
    info = [type(handle).__name__]
    if handle._cancelled:
        info.append("cancelled")
    if isinstance(handle, TimerHandle):
        info.append(f"when={handle._when}")
    if handle._callback is not None:
        info.append(_callback_source(handle))
    if handle._source_traceback:
        frame = handle._source_traceback[-1]
        info.append(f"created at {frame[0]}:{frame[1]}")
    return "<{}>".format(" ".join(info))


def report_callback_error(handle, exc):
    """Hands an exception raised by a callback to the loop's handler."""
    context = {
        "message": f"Exception in callback {_callback_source(handle)}",
        "exception": exc,
        "handle": handle,
    }
    if handle._source_traceback:
        context["source_traceback"] = handle._source_traceback
    handle._loop.call_exception_handler(context)


def transport_callback_error(loop, callback, exc, removed):
    """An exception escaped a native transport's readiness callback
    (``callback`` is its bound ``_read_ready``/``_sendto_ready``): reported
    as asyncio's ``Handle._run`` reports one from the reader or writer handle
    it would have run, through a handle standing for that callback
    (cancelled when the callback ``removed`` its own registration, as
    ``_remove_reader``/``_remove_writer`` cancel the handle)."""
    handle = events.Handle(callback, (), loop)
    if removed:
        handle.cancel()
    report_callback_error(handle, exc)


def source_traceback():
    """Where the Python caller of the native method is (debug mode)."""
    return format_helpers.extract_stack(sys._getframe(1))


def log_slow_callback(loop, handle, seconds):
    """Debug mode's warning for a callback slower than
    ``loop.slow_callback_duration``."""
    logger.warning(
        "Executing %s took %.3f seconds", base_events._format_handle(handle), seconds
    )


def log_slow_transport_callback(transport, method, seconds):
    """Debug mode's warning for a native transport's readiness callback,
    named as the reader/writer handle asyncio would have run for it."""
    logger.warning(
        "Executing <Handle %s.%s()> took %.3f seconds", type(transport).__name__, method, seconds
    )


def transport_fatal_error(transport, exc, message):
    """A transport's ``_fatal_error(exc, message)``: OSErrors are only logged
    in debug mode, anything else goes to the exception handler; then the
    transport is closed at once."""
    loop = transport._loop
    if isinstance(exc, OSError):
        if loop.get_debug():
            logger.debug("%r: %s", transport, message, exc_info=exc)
    else:
        _report(transport, exc, message)
    transport._force_close(exc)


def protocol_call_failed(transport, exc, message):
    """``pause_writing()``/``resume_writing()`` raised: reported, not fatal."""
    _report(transport, exc, message)


def _report(transport, exc, message):
    """The exception handler's context for a transport's error, as asyncio's."""
    transport._loop.call_exception_handler(
        {
            "message": message,
            "exception": exc,
            "transport": transport,
            "protocol": transport._protocol,
        }
    )


def write_after_connection_lost():
    logger.warning("socket.send() raised exception.")


def debug_log(message, transport):
    logger.debug(message, transport)


def info_log(message, transport):
    logger.info(message, transport)


def pipe_fatal_error(transport, exc, message, any_os_error):
    """A pipe transport's ``_fatal_error(exc, message)`` report (the caller
    then closes it): OSErrors (on the read side only EIO) are logged in
    debug mode only, anything else goes to the exception handler."""
    loop = transport._loop
    if isinstance(exc, OSError) and (any_os_error or exc.errno == errno.EIO):
        if loop.get_debug():
            logger.debug("%r: %s", transport, message, exc_info=exc)
    else:
        _report(transport, exc, message)


def pipe_write_after_connection_lost():
    logger.warning("pipe closed by peer or os.write(pipe, data) raised exception.")


def unclosed_pipe_transport(transport):
    """``__del__`` of a pipe transport nobody closed: warn, close the pipe."""
    pipe = transport._pipe
    warnings.warn(f"unclosed transport {transport!r}", ResourceWarning, source=transport)
    pipe.close()


def server_attach(server, transport):
    if sys.version_info >= (3, 13):
        server._attach(transport)
    else:
        server._attach()


def server_detach(server, transport):
    if sys.version_info >= (3, 13):
        server._detach(transport)
    else:
        server._detach()


def unclosed_transport(transport):
    """``__del__`` of a transport nobody closed: warn, close the socket."""
    sock = transport._sock
    warnings.warn(f"unclosed transport {transport!r}", ResourceWarning, source=transport)
    sock.close()


def transport_socket(sock):
    """The ``socket`` extra of a transport: asyncio's restricted wrapper."""
    return trsock.TransportSocket(sock)


_zloop._register_support(sys.modules[__name__])
