"""Where the engine may send HTTP requests on a customer's behalf: never into its own network (SSRF).

A customer chooses the URLs its webhooks and callbacks are POSTed to. Left unchecked, that lets it make
the engine talk to what only the engine can reach: `http://127.0.0.1:5432/`, Redis on `[::1]:6379`,
the cloud metadata service at `169.254.169.254`, the office LAN. So every outbound delivery goes
through a `TargetPolicy`, twice:

- when the URL is stored (`check_url`): an http(s) URL whose host, if it is an address or a name that
  always means this machine (localhost), is not a forbidden address — answered at once with a reason;
- when it is sent (`GuardedTransport`, the httpx transport of every delivery client): the host name is
  resolved here, every address it resolves to is checked, and the connection goes to the address that
  was checked (the request's Host header and TLS server name stay the customer's), so a DNS answer that
  changes between the check and the connection (rebinding) cannot slip in. Redirects are never
  followed (the clients say follow_redirects=False) and proxies from the environment are ignored.

Forbidden: loopback, private (RFC 1918, fc00::/7), shared address space (100.64/10), link-local (which
holds the metadata services), multicast, unspecified, reserved and documentation ranges, and IPv6
addresses that embed any of these (IPv4-mapped, 6to4, NAT64). An operator allows named exceptions for
on-premises receivers (and the test suite, whose receivers listen on 127.0.0.1): `security.
allowed_private_targets`, host names or CIDR blocks.

This module must never send anything itself: it decides, and connects only where it decided.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

# Names that mean this machine or a cloud's metadata service whatever DNS says.
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "metadata", "metadata.google.internal")
_EXTRA_FORBIDDEN = tuple(
    ipaddress.ip_network(n)
    for n in ("100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "64:ff9b::/96", "64:ff9b:1::/48")
)


class UnsafeTarget(httpx.TransportError):
    """The URL points where the engine must not send (or cannot be checked). `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def forbidden_reason(address: Address) -> str | None:
    """Why the engine must not connect to `address`, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            reason = forbidden_reason(embedded)
            return f"{reason} (inside {address})" if reason else None
    for kind, test in (
        ("a loopback address", address.is_loopback),
        ("an unspecified address", address.is_unspecified),
        ("a link-local address (cloud metadata lives there)", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
    ):
        if test:
            return f"{address} is {kind}"
    if any(address in network for network in _EXTRA_FORBIDDEN):
        return f"{address} is in a reserved range"
    return None


async def _system_resolver(host: str, port: int) -> Sequence[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class TargetPolicy:
    """Which targets are allowed although they are private: host names and networks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()
    resolver: Resolver = field(default=_system_resolver, compare=False)

    @classmethod
    def parse(cls, entries: str | Iterable[str]) -> TargetPolicy:
        """From 'receiver.lan, 10.20.0.0/16, 127.0.0.1' (or a list); ValueError names a bad entry."""
        items = entries.split(",") if isinstance(entries, str) else list(entries)
        hosts: set[str] = set()
        networks: list[Network] = []
        for item in (i.strip() for i in items):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                if not all(part.isalnum() or part == "-" or part == "_" for part in item.replace(".", "")):
                    raise ValueError(
                        f"{item!r} is neither a host name nor an address or CIDR block"
                    ) from None
                hosts.add(item.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_address(self, address: Address) -> bool:
        return any(address in network for network in self.networks if network.version == address.version)

    def check_address(self, address: Address, host: str) -> None:
        reason = forbidden_reason(address)
        if (
            reason is not None
            and host.lower().rstrip(".") not in self.hosts
            and not self.allows_address(address)
        ):
            raise UnsafeTarget(reason if host.strip("[]") == str(address) else f"{host}: {reason}")

    def check_url(self, url: str) -> str:
        """The URL (stripped) if it may be stored as a delivery target; UnsafeTarget otherwise.

        Without DNS: an address, or a name that always means this machine, is checked here; any other
        name is resolved and checked at each delivery."""
        url = url.strip()
        try:
            parts = urlsplit(url)
            host = parts.hostname
            port = parts.port
        except ValueError:  # "http://[bad", a port that is not a number
            raise UnsafeTarget("not a valid URL") from None
        if parts.scheme not in ("http", "https") or not host:
            raise UnsafeTarget("must be an absolute http or https URL")
        if port == 0:
            raise UnsafeTarget("port 0 is not a port")
        if parts.username is not None or parts.password is not None:
            raise UnsafeTarget("must not carry credentials (user:password@)")
        address = _literal_address(host)
        if address is not None:
            self.check_address(address, host)
        elif _is_local_name(host) and host.lower().rstrip(".") not in self.hosts:
            raise UnsafeTarget(f"{host} means this machine or a metadata service")
        return url

    async def resolve_checked(self, host: str, port: int) -> str:
        """The address to connect to for `host`: each address it resolves to must be allowed."""
        address = _literal_address(host)
        if address is not None:
            self.check_address(address, host)
            return str(address)
        if _is_local_name(host) and host.lower().rstrip(".") not in self.hosts:
            raise UnsafeTarget(f"{host} means this machine or a metadata service")
        try:
            found = await self.resolver(host, port)
        except OSError as exc:
            raise UnsafeTarget(f"{host}: cannot be resolved ({exc})") from None
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
        if not addresses:
            raise UnsafeTarget(f"{host}: resolves to no address")
        for candidate in addresses:  # one forbidden answer is enough to refuse: no picking around it
            self.check_address(candidate, host)
        return str(addresses[0])


def _literal_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    # inet_aton forms a URL parser passes on and a resolver reads as an address: 2130706433, 0x7f.1
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _is_local_name(host: str) -> bool:
    name = host.lower().rstrip(".")
    return name in _LOCAL_NAMES or name.endswith(".localhost")


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that connects only to addresses the policy allows, the ones it checked."""

    def __init__(self, policy: TargetPolicy, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._policy = policy
        self._inner = inner or httpx.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        address = await self._policy.resolve_checked(host, port)
        if address != host:
            # connect to the checked address; the server still sees its own name (Host, TLS SNI and
            # certificate check)
            request.url = url.copy_with(host=address)
            request.headers["Host"] = url.netloc.decode("ascii")
            if url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def guarded_client(policy: TargetPolicy, *, timeout: float) -> httpx.AsyncClient:
    """The HTTP client for deliveries to customer-chosen URLs: guarded, no redirects, no env proxies."""
    return httpx.AsyncClient(
        transport=GuardedTransport(policy), timeout=timeout, follow_redirects=False, trust_env=False
    )
