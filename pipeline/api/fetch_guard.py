"""Which URLs a batch job may download (SSRF guard).

Only http(s) URLs whose host resolves exclusively to public addresses are fetched. The
check runs twice: on every URL (and redirect target) before a request, and again inside
the connection itself, which connects only to an address it has just vetted, so a DNS
answer that changes between the check and the connection (DNS rebinding) cannot reach an
internal address either. ``allow_private`` admits loopback and private (RFC 1918, ULA)
addresses, for tests and closed networks; link-local (cloud metadata), multicast,
reserved and unspecified addresses stay refused.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import connection as u3conn

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(Exception):
    """A URL the policy does not allow; ``reason`` is a slug."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def address_refusal(ip: IpAddress, allow_private: bool = False) -> str | None:
    """Why ``ip`` may not be contacted, or None when it may."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    # Loopback before reserved: Python counts ::1 as reserved (it lies in ::/8), which would
    # refuse IPv6 loopback even where loopback is allowed.
    if ip.is_loopback:
        return None if allow_private else "a loopback address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return None if allow_private else "a private address"
    if not ip.is_global:
        return "a reserved address"  # e.g. 100.64.0.0/10, carrier-grade NAT
    return None


def resolve_allowed(host: str, port: int, allow_private: bool = False) -> list[str]:
    """Addresses of ``host``, all of them vetted; raises :class:`UrlRefused` if any is refused or none resolves."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused("unresolvable_host", f"{host} does not resolve ({exc})") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UrlRefused("unresolvable_host", f"{host} has no address")
    for addr in addresses:
        why = address_refusal(ipaddress.ip_address(addr.split("%", 1)[0]), allow_private)
        if why:
            # One bad answer refuses the host: a rebinding resolver may hand it out next time.
            raise UrlRefused("forbidden_address", f"{host} resolves to {addr}, {why}")
    return addresses


def check_url(url: str, allow_private: bool = False) -> None:
    """Raise :class:`UrlRefused` unless ``url`` is http(s) with a host that resolves only to allowed addresses."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused("bad_url", f"{url!r} is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("bad_scheme", f"only http and https URLs are fetched, not {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise UrlRefused("bad_url", f"{url!r} has no host")
    if parts.username or parts.password:
        raise UrlRefused("bad_url", "URLs with credentials are not fetched")
    resolve_allowed(parts.hostname, port or (443 if parts.scheme == "https" else 80), allow_private)


def _guarded_connection(base: type[HTTPConnection], allow_private: bool) -> type[HTTPConnection]:
    class Guarded(base):  # type: ignore[misc, valid-type]
        def _new_conn(self) -> socket.socket:
            # Connect to an address vetted now, never to a fresh (possibly rebound) DNS answer.
            address = resolve_allowed(self._dns_host, self.port, allow_private)[0]
            try:
                return u3conn.create_connection((address, self.port), self.timeout,
                                                source_address=self.source_address, socket_options=self.socket_options)
            except OSError as exc:
                from urllib3.exceptions import NewConnectionError

                raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc

    Guarded.__name__ = f"Guarded{base.__name__}"
    return Guarded


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, allow_private: bool, **kwargs: object) -> None:
        self._allow_private = allow_private
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
        http_conn = _guarded_connection(HTTPConnection, self._allow_private)
        https_conn = _guarded_connection(HTTPSConnection, self._allow_private)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
        }


def guarded_session(allow_private: bool = False) -> requests.Session:
    """A requests session that connects only to addresses :func:`address_refusal` allows.

    Proxies from the environment are ignored: through a proxy the guard would vet the
    proxy's address instead of the target's.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = _GuardedAdapter(allow_private)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
