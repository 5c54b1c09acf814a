"""The SSRF guard: which targets a customer-chosen URL may reach, checked when stored and when sent."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest

from engine.outbox.url_guard import (
    GuardedTransport,
    TargetPolicy,
    UnsafeTarget,
    forbidden_reason,
    guarded_client,
)

REFUSED_URLS = [
    "http://127.0.0.1:5432/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:6379/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/",  # 169.254.169.254, IPv4-mapped
    "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
    "http://10.1.2.3/hook",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://0.0.0.0:8080/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://2130706433/",  # 127.0.0.1 written as one number
    "http://0x7f.0.0.1/",
    "http://localhost:8080/",
    "http://api.localhost/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://user:pw@example.com/",
    "ftp://example.com/",
    "http://[bad/",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_urls_into_the_engines_own_network_are_refused_when_stored(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        TargetPolicy().check_url(url)


def test_public_urls_and_names_pass_the_storage_check() -> None:
    for url in ("https://example.com/hooks", "http://93.184.216.34:8080/x", "https://[2606:4700::1111]/"):
        assert TargetPolicy().check_url(f" {url} ") == url


def test_an_operator_allows_named_private_targets() -> None:
    policy = TargetPolicy.parse("10.20.0.0/16, receiver.lan, 127.0.0.1")
    assert policy.check_url("http://10.20.3.4/hook") and policy.check_url("http://127.0.0.1:9/")
    with pytest.raises(UnsafeTarget):
        policy.check_url("http://10.21.0.1/")
    with pytest.raises(UnsafeTarget):  # the loopback network allowed is not the name localhost
        policy.check_url("http://localhost/")
    with pytest.raises(ValueError):
        TargetPolicy.parse("10.0.0.0/8, not a host!")


def test_forbidden_reason_names_the_kind_of_address() -> None:
    assert "loopback" in str(forbidden_reason(ipaddress.ip_address("127.0.0.2")))
    assert "link-local" in str(forbidden_reason(ipaddress.ip_address("169.254.169.254")))
    assert forbidden_reason(ipaddress.ip_address("8.8.8.8")) is None


def fixed_resolver(answers: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> Sequence[str]:
        return answers[host]

    return resolve


@contextlib.asynccontextmanager
async def http_server(status: int = 200, headers: str = "") -> AsyncIterator[tuple[int, list[bytes]]]:
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(
            f"HTTP/1.1 {status} X\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        server.close()
        await server.wait_closed()


async def test_a_name_that_resolves_inside_is_refused_at_delivery_and_nothing_connects() -> None:
    async with http_server() as (port, seen):
        policy = TargetPolicy(resolver=fixed_resolver({"rebind.example": ["93.184.216.34", "127.0.0.1"]}))
        async with httpx.AsyncClient(transport=GuardedTransport(policy)) as client:
            with pytest.raises(UnsafeTarget, match="loopback"):
                await client.post(f"http://rebind.example:{port}/hook", content=b"{}")
        assert seen == []


async def test_the_connection_goes_to_the_address_that_was_checked_with_the_customers_host_name() -> None:
    async with http_server() as (port, seen):
        answers = iter([["127.0.0.1"], ["169.254.169.254"]])  # a rebinding DNS: second answer differs

        async def resolver(host: str, port: int) -> Sequence[str]:
            return next(answers)

        policy = TargetPolicy(hosts=frozenset({"hooks.test"}), resolver=resolver)
        async with guarded_client(policy, timeout=5) as client:
            r = await client.post(f"http://hooks.test:{port}/hook", content=b"{}")
        assert r.status_code == 200
        assert b"host: hooks.test:" in seen[0].lower() and seen[0].startswith(b"POST /hook ")


async def test_redirects_are_never_followed() -> None:
    async with http_server() as (inner_port, inner_seen):
        location = f"Location: http://127.0.0.1:{inner_port}/\r\n"
        async with http_server(302, location) as (port, seen):
            async with guarded_client(TargetPolicy.parse("127.0.0.1"), timeout=5) as client:
                r = await client.post(f"http://127.0.0.1:{port}/hook", content=b"{}")
        assert r.status_code == 302 and len(seen) == 1 and inner_seen == []
