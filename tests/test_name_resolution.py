"""loop.getaddrinfo and loop.getnameinfo answer exactly what the socket
module answers for the same arguments: numeric hosts and ports, scoped IPv6
addresses, service names, bytes and None hosts, real host names."""

import asyncio
import socket

import pytest

from socket_helpers import run


GETADDRINFO_CASES = [
    pytest.param(("127.0.0.1", 80), {}, id="numeric-ipv4"),
    pytest.param(("::1", 80), {}, id="numeric-ipv6"),
    pytest.param(("fe80::1%lo", 80), {"family": socket.AF_INET6}, id="ipv6-scope-id"),
    pytest.param(("127.0.0.1", "8080"), {}, id="str-port-digits"),
    pytest.param(("127.0.0.1", "http"), {"type": socket.SOCK_STREAM}, id="service-name-port"),
    pytest.param(("127.0.0.1", b"80"), {"type": socket.SOCK_STREAM}, id="bytes-port"),
    pytest.param(("127.0.0.1", None), {}, id="port-none"),
    pytest.param((None, 80), {"flags": socket.AI_PASSIVE}, id="host-none-passive"),
    pytest.param((None, 80), {}, id="host-none"),
    pytest.param((b"127.0.0.1", 80), {}, id="bytes-host"),
    pytest.param((b"::1", 80), {"family": socket.AF_INET6}, id="bytes-host-ipv6"),
    pytest.param(("localhost", 80), {"type": socket.SOCK_STREAM}, id="hostname"),
    pytest.param(
        ("127.0.0.1", 0),
        {"family": socket.AF_INET, "type": socket.SOCK_DGRAM, "proto": socket.IPPROTO_UDP},
        id="family-type-proto",
    ),
    pytest.param(
        ("127.0.0.1", 80), {"flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV},
        id="numeric-flags",
    ),
]


@pytest.mark.parametrize("args, kwargs", GETADDRINFO_CASES)
def test_getaddrinfo_answers_what_socket_getaddrinfo_answers(loop, args, kwargs):
    expected = socket.getaddrinfo(
        *args,
        kwargs.get("family", 0),
        kwargs.get("type", 0),
        kwargs.get("proto", 0),
        kwargs.get("flags", 0),
    )
    assert run(loop, loop.getaddrinfo(*args, **kwargs)) == expected


@pytest.mark.parametrize("host", ["1.2.3.4\x00", "\x00", "::1\x00"], ids=["ipv4_nul", "nul", "ipv6_nul"])
def test_getaddrinfo_of_a_host_with_a_nul_answers_what_socket_getaddrinfo_answers(loop, host):
    try:
        expected = socket.getaddrinfo(host, 80)
    except OSError as exc:
        with pytest.raises(type(exc)):
            run(loop, loop.getaddrinfo(host, 80))
    else:
        assert run(loop, loop.getaddrinfo(host, 80)) == expected


def test_getaddrinfo_result_is_a_list_of_five_tuples(loop):
    result = run(loop, loop.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM))
    assert isinstance(result, list)
    assert result == [
        (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 80))
    ]


def test_getaddrinfo_of_a_non_string_host_raises_type_error(loop):
    with pytest.raises(TypeError):
        socket.getaddrinfo(123, 80)
    with pytest.raises(TypeError):
        run(loop, loop.getaddrinfo(123, 80))


def test_getaddrinfo_of_an_unknown_service_raises_gaierror(loop):
    with pytest.raises(socket.gaierror) as expected:
        socket.getaddrinfo("127.0.0.1", "no-such-service-name")
    with pytest.raises(socket.gaierror) as got:
        run(loop, loop.getaddrinfo("127.0.0.1", "no-such-service-name"))
    assert got.value.errno == expected.value.errno


def test_getaddrinfo_of_a_numeric_host_returns_a_coroutine(loop):
    coro = loop.getaddrinfo("127.0.0.1", 80)
    assert asyncio.iscoroutine(coro)
    assert run(loop, coro) == socket.getaddrinfo("127.0.0.1", 80)


def test_getaddrinfo_in_debug_mode_answers_the_same(loop):
    loop.set_debug(True)
    expected = socket.getaddrinfo("127.0.0.1", 80, 0, socket.SOCK_STREAM)
    assert run(loop, loop.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)) == expected


NAMEINFO_FLAGS = [
    pytest.param(socket.NI_NUMERICHOST | socket.NI_NUMERICSERV, id="numeric-host-and-port"),
    pytest.param(
        socket.NI_NUMERICHOST | socket.NI_NUMERICSERV | socket.NI_DGRAM, id="numeric-dgram"
    ),
    pytest.param(socket.NI_NUMERICHOST, id="numeric-host-only"),
    pytest.param(socket.NI_NUMERICSERV, id="numeric-port-only"),
    pytest.param(0, id="no-flags"),
]


@pytest.mark.parametrize("flags", NAMEINFO_FLAGS)
@pytest.mark.parametrize(
    "sockaddr",
    [("127.0.0.1", 80), ("::1", 443, 0, 0)],
    ids=["ipv4", "ipv6"],
)
def test_getnameinfo_answers_what_socket_getnameinfo_answers(loop, sockaddr, flags):
    expected = socket.getnameinfo(sockaddr, flags)
    assert run(loop, loop.getnameinfo(sockaddr, flags)) == expected


def test_getnameinfo_flags_default_to_zero(loop):
    assert run(loop, loop.getnameinfo(("127.0.0.1", 80))) == socket.getnameinfo(
        ("127.0.0.1", 80), 0
    )


def test_getnameinfo_of_a_malformed_address_raises_what_socket_raises(loop):
    flags = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
    with pytest.raises(TypeError):
        socket.getnameinfo("127.0.0.1", flags)
    with pytest.raises(TypeError):
        run(loop, loop.getnameinfo("127.0.0.1", flags))


def test_getnameinfo_with_flags_that_are_not_an_int_fails_in_the_lookup(loop):
    with pytest.raises(TypeError):
        loop.run_until_complete(loop.getnameinfo(("127.0.0.1", 80), ""))
