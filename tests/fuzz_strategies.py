"""Hypothesis strategies for the API fuzz suite: programs of hostile calls.

Every method of every target has a list of argument *kinds*; an argument is
drawn from its kind's plausible tokens most of the time (so calls get past
the first type check and into the code behind it) and from the whole
catalogue of hostile values otherwise.  Argument counts are sometimes one
short or one too many, and a keyword (known or bogus) is sometimes added.
"""

import sys

from hypothesis import strategies as st

from fuzz_worker import VALUES

# Large data only where data is expected: asyncio iterates over a bytes
# host name (one getaddrinfo per byte), which would take minutes.
ALL_TOKENS = sorted(set(VALUES) - {"b'x'*300000"})

KINDS = {
    "delay": ["0", "1", "3600.0", "nan", "inf", "-inf", "-1", "1e308", "-1e308", "5e-324",
              "2**63", "10**100", "IndexRaises", "IntSubclass", "-0.0", "1j"],
    "when": ["loop_time", "0.0", "nan", "inf", "-inf", "1e308", "-1e308", "2**64", "IndexRaises"],
    "callback": ["noop", "raiser", "print_", "loop.stop", "coroutine_function", "raise_system_exit", "1"],
    "arg": ["1", "None", "object()", "b'data'"],
    "context": ["Context()", "copy_context()", "None", "object()", "1", "{}"],
    "coro": ["coro", "done_future", "foreign_future", "1", "None", "coroutine_function"],
    "name": ["'x'", "None", "1", "IndexRaises", "StrSubclass"],
    "fd": ["tcp_sock", "unix_sock", "pipe_r_fd", "pipe_w_fd", "regular_fd", "regular_file", "devnull",
           "closed_fd", "dir_fd", "eventfd", "closed_sock", "-1", "2**31", "2**63", "FilenoRaises",
           "FilenoMinusOne", "FilenoHuge", "FilenoStr", "FilenoClosed", "IndexRaises", "IntSubclass",
           "'x'", "None", "0.0"],
    "sock": ["tcp_sock", "unix_sock", "udp_sock", "unix_dgram_sock", "listen_sock", "unconnected_sock",
             "blocking_sock", "closed_sock", "sock_fileno_raises", "regular_file", "pipe_r", "1", "None"],
    "nbytes": ["0", "1", "100", "65536", "-1", "2**31", "2**63", "10**100", "IndexRaises", "IndexHuge",
               "IntSubclass", "nan", "None"],
    "rbuf": ["bytearray(100)", "bytearray()", "mv_writable", "mv_readonly", "mv_noncontig_writable", "mv_2d",
             "mv_d", "mv_released", "array_d", "array_b", "array_empty", "mmap", "mmap_closed", "b'data'",
             "BufferRaises", "BufferJunk", "None"],
    "data": ["b'data'", "b''", "bytearray(100)", "BytesSubclass", "b'x'*300000", "mv", "mv_noncontig",
             "mv_2d", "mv_d", "mv_empty", "mv_released", "mv_readonly", "array_d", "array_b", "array_empty",
             "mmap", "mmap_closed", "BufferRaises", "BufferJunk", "'x'", "None", "1", "[b'a', b'b']"],
    "lines": ["[b'a', b'b']", "[b'a', 1]", "(mv_noncontig,)", "[array_d, mmap]", "[]", "iter([b'a'])",
              "raising_iter", "LenRaises", "b'data'", "None", "1"],
    "address": ["listen_addr", "('127.0.0.1', 0)", "('127.0.0.1', -1)", "('127.0.0.1', 65536)",
                "('127.0.0.1', 2**64)", "('::1', 0, 0, 0)", "('127.0.0.1',)", "('127.0.0.1', 'x')",
                "(None, 0)", "unix_listen_path", "unix_path_missing", "abstract_unix", "'\\x00'", "''",
                "None", "(1, 2, 3)", "b'data'", "EqHashRaises"],
    "factory": ["Proto", "DProto", "RaisingProto", "factory_none", "factory_raises", "1", "None"],
    "protocol": ["Proto()", "DProto()", "BufferedProto()", "None", "1", "object()"],
    "host": ["'127.0.0.1'", "'::1'", "'localhost'", "None", "''", "1", "b'data'", "'\\x00'", "[]"],
    "port": ["0", "listen_port", "-1", "65536", "'80'", "None", "2**64", "IndexRaises", "'x'"],
    "path": ["unix_path_new", "unix_listen_path", "unix_path_missing", "abstract_unix", "''", "None", "1",
             "'\\x00'"],
    "pipe": ["pipe_r", "pipe_w", "regular_file", "devnull", "closed_file", "tcp_peer", "unix_sock", "FilenoRaises",
             "FilenoMinusOne", "FilenoClosed", "FilenoStr", "1", "None"],
    "program": ["'/bin/true'", "''", "'\\x00'", "None", "1", "b'data'"],
    "signal": ["SIGUSR1", "SIGKILL", "0", "-1", "65", "2**63", "IndexRaises", "None"],
    "handler": ["noop", "raiser", "None", "1"],
    "exc_context": ["{'message': 'x'}", "{'message': 'x', 'exception': ValueError()}", "{}", "None", "1"],
    "executor": ["None", "executor", "object()", "1"],
    "limit": ["None", "0", "1", "100", "65536", "-1", "2**63", "10**100", "nan", "IndexRaises",
              "IntSubclass", "'x'"],
    "info": ["'peername'", "'sockname'", "'socket'", "'pipe'", "'x'", "None", "1", "EqHashRaises",
             "StrSubclass"],
    "bool": ["True", "False", "None", "1", "EqHashRaises"],
    "file": ["regular_file", "devnull", "closed_file", "pipe_r", "None", "1"],
    "transport": ["tcp_transport", "None", "1"],
    "ssl": ["ssl_client_ctx", "None", "True", "1"],
    "timeout": ["0.0", "1", "nan", "-1", "None", "'x'"],
    "exc": ["ValueError()", "OSError()", "None", "1"],
    "other": ["1", "None", "object()", "EqHashRaises"],
    "mv_sock": ["tcp_sock", "listen_sock", "udp_sock", "unix_sock", "closed_sock", "1"],
}

# target -> {method: (positional kinds, keyword name -> kind)}; a kind
# ending in "*" is a variable number of arguments.
LOOP = {
    "call_soon": (["callback", "arg*"], {"context": "context"}),
    "call_soon_threadsafe": (["callback", "arg*"], {"context": "context"}),
    "call_later": (["delay", "callback", "arg*"], {"context": "context"}),
    "call_at": (["when", "callback", "arg*"], {"context": "context"}),
    "time": ([], {}),
    "stop": ([], {}),
    "is_running": ([], {}),
    "is_closed": ([], {}),
    "close": ([], {}),
    "get_debug": ([], {}),
    "set_debug": (["bool"], {}),
    "create_future": ([], {}),
    "create_task": (["coro"], {"name": "name", "context": "context"}),
    "set_task_factory": (["handler"], {}),
    "get_task_factory": ([], {}),
    "add_reader": (["fd", "callback", "arg*"], {}),
    "add_writer": (["fd", "callback", "arg*"], {}),
    "remove_reader": (["fd"], {}),
    "remove_writer": (["fd"], {}),
    "run_in_executor": (["executor", "callback", "arg*"], {}),
    "set_default_executor": (["executor"], {}),
    "getaddrinfo": (["host", "port"], {"family": "nbytes", "type": "nbytes", "proto": "nbytes", "flags": "nbytes"}),
    "getnameinfo": (["address", "nbytes"], {}),
    "sock_recv": (["sock", "nbytes"], {}),
    "sock_recv_into": (["sock", "rbuf"], {}),
    "sock_sendall": (["sock", "data"], {}),
    "sock_connect": (["sock", "address"], {}),
    "sock_accept": (["sock"], {}),
    "sock_sendto": (["sock", "data", "address"], {}),
    "sock_recvfrom": (["sock", "nbytes"], {}),
    "sock_recvfrom_into": (["sock", "rbuf", "nbytes"], {}),
    "sock_sendfile": (["sock", "file", "nbytes", "nbytes"], {"fallback": "bool"}),
    "create_connection": (["factory", "host", "port"], {"sock": "sock", "local_addr": "address",
                                                        "happy_eyeballs_delay": "delay"}),
    "create_server": (["factory", "host", "port"], {"sock": "sock", "backlog": "nbytes",
                                                    "reuse_port": "bool", "start_serving": "bool"}),
    "create_unix_connection": (["factory", "path"], {"sock": "sock"}),
    "create_unix_server": (["factory", "path"], {"sock": "sock", "backlog": "nbytes"}),
    "create_datagram_endpoint": (["factory"], {"local_addr": "address", "remote_addr": "address",
                                               "sock": "sock", "family": "nbytes", "reuse_port": "bool"}),
    "connect_read_pipe": (["factory", "pipe"], {}),
    "connect_write_pipe": (["factory", "pipe"], {}),
    "connect_accepted_socket": (["factory", "sock"], {}),
    "subprocess_exec": (["factory", "program", "arg*"], {"stdin": "other", "stdout": "other"}),
    "add_signal_handler": (["signal", "callback", "arg*"], {}),
    "remove_signal_handler": (["signal"], {}),
    "set_exception_handler": (["handler"], {}),
    "get_exception_handler": ([], {}),
    "default_exception_handler": (["exc_context"], {}),
    "call_exception_handler": (["exc_context"], {}),
    "run_until_complete": (["coro"], {}),
    "run_forever": ([], {}),
    "shutdown_asyncgens": ([], {}),
    "shutdown_default_executor": ([], {}),
    "sendfile": (["transport", "file", "nbytes", "nbytes"], {"fallback": "bool"}),
    "start_tls": (["transport", "protocol", "ssl"], {"server_side": "bool", "server_hostname": "host",
                                                     "ssl_handshake_timeout": "timeout"}),
    "op:repr": ([], {}),
}

COMMON_TRANSPORT = {
    "close": ([], {}),
    "is_closing": ([], {}),
    "get_extra_info": (["info", "other"], {"default": "other"}),
    "set_protocol": (["protocol"], {}),
    "get_protocol": ([], {}),
    "op:repr": ([], {}),
}

WRITE = {
    "get_write_buffer_size": ([], {}),
    "get_write_buffer_limits": ([], {}),
    "set_write_buffer_limits": (["limit", "limit"], {"high": "limit", "low": "limit"}),
    "abort": ([], {}),
}

READ = {
    "is_reading": ([], {}),
    "pause_reading": ([], {}),
    "resume_reading": ([], {}),
}

STREAM = {
    **COMMON_TRANSPORT, **WRITE, **READ,
    "write": (["data"], {}),
    "writelines": (["lines"], {}),
    "write_eof": ([], {}),
    "can_write_eof": ([], {}),
}

DATAGRAM = {
    **COMMON_TRANSPORT, **WRITE,
    "sendto": (["data", "address"], {}),
}

READ_PIPE = {**COMMON_TRANSPORT, **READ}

WRITE_PIPE = {
    **COMMON_TRANSPORT, **WRITE,
    "write": (["data"], {}),
    "writelines": (["lines"], {}),
    "write_eof": ([], {}),
    "can_write_eof": ([], {}),
}

SERVER = {
    "close": ([], {}),
    "get_loop": ([], {}),
    "is_serving": ([], {}),
    "start_serving": ([], {}),
    "serve_forever": ([], {}),
    "wait_closed": ([], {}),
    ".sockets": ([], {}),
    "op:repr": ([], {}),
}
if sys.version_info >= (3, 13):
    SERVER.update({"close_clients": ([], {}), "abort_clients": ([], {})})

HANDLE = {
    "cancel": ([], {}),
    "cancelled": ([], {}),
    "get_context": ([], {}),
    "op:repr": ([], {}),
    "op:eq": (["other"], {}),
    "op:hash": ([], {}),
}

TIMER = {
    **HANDLE,
    "when": ([], {}),
    "op:lt": (["other"], {}),
    "op:le": (["other"], {}),
    "op:gt": (["other"], {}),
    "op:ge": (["other"], {}),
}

# What the fuzz suite calls, per target name of fuzz_worker.Env.
TARGETS = {
    "loop": LOOP,
    "tcp": STREAM,
    "tcp_buffered": STREAM,
    "tcp_raising": STREAM,
    "unix": STREAM,
    "udp": DATAGRAM,
    "udp_connected": DATAGRAM,
    "unix_dgram": DATAGRAM,
    "rpipe": READ_PIPE,
    "wpipe": WRITE_PIPE,
    "server": SERVER,
    "unix_server": SERVER,
    "handle": HANDLE,
    "timer": TIMER,
}

# zloop's own native entry points (no asyncio counterpart: only survival is
# checked).  Their first arguments are what zloop's Python edge passes.
NATIVE_LOOP = {
    "_sock_recv_native": (["sock", "nbytes", "arg*"], {}),
    "_sock_recv_into_native": (["sock", "rbuf", "arg*"], {}),
    "_sock_sendall_native": (["sock", "data", "arg*"], {}),
    "_sock_connect_native": (["sock", "address", "arg*"], {}),
    "_sock_call_native": (["sock", "name", "lines", "bool", "arg*"], {}),
    "_fd_events": (["fd"], {}),
    "_add_reader": (["fd", "callback", "arg*"], {}),
    "_add_writer": (["fd", "callback", "arg*"], {}),
    "_remove_reader": (["fd"], {}),
    "_remove_writer": (["fd"], {}),
    "_write_to_self": ([], {}),
    "_release_engine": ([], {}),
}
NATIVE_TYPES = {
    "Transport": (["loop", "sock", "protocol", "exc_context", "other"], {}),
    "DatagramTransport": (["loop", "sock", "protocol", "exc_context", "address"], {}),
    "ReadPipeTransport": (["loop", "pipe", "fd", "protocol", "exc_context"], {}),
    "WritePipeTransport": (["loop", "pipe", "fd", "protocol", "exc_context"], {}),
    "Acceptor": (["fd", "nbytes", "callback", "callback"], {}),
    "SignalReader": (["loop", "fd", "exc_context"], {}),
    "Handle": (["callback", "lines", "loop", "context"], {}),
    "TimerHandle": (["when", "callback", "lines", "loop", "context"], {}),
}
NATIVE_PRIVATE_TRANSPORT = {
    "_start_reading": ([], {}),
    "_force_close": (["exc"], {}),
    "_call_connection_lost": (["exc"], {}),
    "_read_ready": ([], {}),
    "_fatal_error": (["exc", "name"], {}),
    "_write_ready": ([], {}),
    "_sendto_ready": ([], {}),
    "_make_empty_waiter": ([], {}),
    "_reset_empty_waiter": ([], {}),
}
KINDS["loop"] = ["loop", "None", "1", "object()"]
NATIVE_TARGETS = {
    "loop": NATIVE_LOOP,
    "native": NATIVE_TYPES,
    **{name: {**methods, **NATIVE_PRIVATE_TRANSPORT}
       for name, methods in TARGETS.items() if name in ("tcp", "unix", "udp", "rpipe", "wpipe")},
}


@st.composite
def int_token(draw):
    return ["int", draw(st.one_of(
        st.integers(-3, 3), st.integers(-(2**70), 2**70),
        st.sampled_from([2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64 - 1, -(2**63)]),
    ))]


def any_token():
    return st.one_of(
        st.sampled_from(ALL_TOKENS),
        int_token(),
        st.integers(0, 512).map(lambda n: ["bytes", n]),
    )


def token(kind):
    plausible = st.sampled_from(KINDS[kind])
    if kind == "data":
        plausible = st.one_of(plausible, st.sampled_from([65535, 65536, 1 << 20]).map(lambda n: ["bytes", n]))
    return st.one_of(plausible, plausible, any_token())


@st.composite
def call(draw, targets, target_names):
    target = draw(st.sampled_from(target_names))
    methods = targets[target]
    method = draw(st.sampled_from(sorted(methods)))
    positional, keywords = methods[method]
    kinds = []
    for kind in positional:
        if kind.endswith("*"):
            kinds += [kind[:-1]] * draw(st.integers(0, 2))
        else:
            kinds.append(kind)
    shape = draw(st.sampled_from(["exact"] * 6 + ["short", "surplus"]))
    if shape == "short" and kinds:
        kinds = kinds[: draw(st.integers(0, len(kinds) - 1))]
    elif shape == "surplus":
        kinds.append("other")
    args = [draw(token(kind)) for kind in kinds]
    kwargs = {}
    if keywords and draw(st.integers(0, 3)) == 0:
        name = draw(st.sampled_from(sorted(keywords)))
        kwargs[name] = draw(token(keywords[name]))
    elif draw(st.integers(0, 15)) == 0:
        kwargs["bogus"] = draw(token("other"))
    in_loop = draw(st.integers(0, 3)) == 0
    return [target, method, args, kwargs, in_loop]


@st.composite
def programs(draw, targets=TARGETS, target_names=None, max_calls=4):
    """A fuzz program (see fuzz_worker): debug or not, 1..max_calls calls."""
    names = target_names or sorted(targets)
    calls = draw(st.lists(call(targets, names), min_size=1, max_size=max_calls))
    program = {"debug": draw(st.booleans()), "calls": calls}
    if any(c[0] == "tcp_buffered" for c in calls):
        program["get_buffer"] = draw(token("rbuf"))
    return program
