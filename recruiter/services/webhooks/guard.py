"""Where a webhook may go (SSRF): public addresses only, unless the organization allows more.

A URL's host is resolved once, every address it has is checked, and the connection goes to
the checked address: no second lookup a rebinding DNS server could answer differently. The
Host header and TLS (SNI and the certificate check) still use the URL's hostname. Checked when
an endpoint is registered and again before every delivery.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from ...errors import RecruiterError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(RecruiterError):
    """A webhook URL that may not be used; the message names the field and why."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``) and what to ask for there."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def _embedded(address: Address) -> Address:
    """The IPv4 address inside an IPv4-mapped, 6to4 or Teredo IPv6 address, else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return address


def forbidden(address: Address) -> bool:
    """Loopback, private, link-local, multicast, reserved, unspecified or otherwise not global."""
    for candidate in {address, _embedded(address)}:
        if (candidate.is_loopback or candidate.is_private or candidate.is_link_local
                or candidate.is_multicast or candidate.is_reserved
                or candidate.is_unspecified or not candidate.is_global):
            return True
    return False


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL, or TargetRefused."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"The URL {url!r} is not valid: {exc}.") from exc
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("The URL must start with https:// or http://.")
    if not parts.hostname:
        raise TargetRefused("The URL has no host name.")
    if parts.username or parts.password:
        raise TargetRefused("The URL must not contain a user name or password; the "
                            "signature proves the sender.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def check(url: str, *, allow_private: bool) -> Target:
    """Resolve and check ``url``; a Target to connect to, or TargetRefused naming why."""
    scheme, host, port, path = parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"The URL's host {host!r} cannot be resolved.") from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"The URL's host {host!r} has no address.")
    if not allow_private:
        bad = next((a for a in addresses if forbidden(a)), None)
        if bad is not None:
            raise TargetRefused(
                f"The URL's host {host!r} is a private, loopback or link-local address "
                f"({bad}); webhooks go to public addresses unless an admin allows private "
                "ones in the organization's webhook settings.")
    return Target(scheme, host, port, path, str(addresses[0]))


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the checked address; the Host header keeps the URL's name."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:  # noqa: D102
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """Connects to the checked address; SNI and the certificate check use the URL's name."""

    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = target.address
        self._tls = context

    def connect(self) -> None:  # noqa: D102
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def connection(target: Target, timeout: float,
               context: ssl.SSLContext | None = None) -> http.client.HTTPConnection:
    """An HTTP(S) connection to the checked address of ``target``; no redirect is followed."""
    if target.scheme == "https":
        return _PinnedHTTPS(target, timeout, context or ssl.create_default_context())
    return _PinnedHTTP(target, timeout)
