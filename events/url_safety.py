"""SSRF guard for webhook URLs.

A merchant chooses where the gateway sends requests, so the URL must not reach the gateway's own
network: loopback, private, link-local (cloud metadata), carrier-grade NAT, multicast, reserved or
unspecified addresses are refused, for every address the host name resolves to. The check runs at
registration and again before each attempt (DNS may change in between: rebinding), and the
delivery connects to the address that was checked, never to a second lookup.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL_LENGTH = 2048
# Named explicitly although the address rules already cover them, so the intent is visible.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
BLOCKED_HOST_SUFFIXES = ("localhost", ".localhost", ".internal", ".local")


class UnsafeUrl(Exception):
    pass


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path + query, as sent in the request line
    address: str  # the validated IP to connect to


def address_is_blocked(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and address_is_blocked(embedded):
            return True
    return (
        address in METADATA_ADDRESSES
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def _split(url: str) -> tuple[str, str, int, str]:
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"The URL must be 1 to {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UnsafeUrl("The URL must not contain whitespace or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"The URL is malformed: {exc}.") from None
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if settings.WEBHOOK_ALLOW_HTTP else ("https",)
    if scheme not in allowed:
        raise UnsafeUrl("The URL must use https." if scheme == "http" else "The URL must be an https URL.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("The URL must not contain credentials.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("The URL has no host.")
    if parts.fragment:
        raise UnsafeUrl("The URL must not contain a fragment.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port or (443 if scheme == "https" else 80), path


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl(f"The URL's host could not be resolved ({exc}).") from None
    addresses = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = sockaddr[0].split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeUrl("The URL's host could not be resolved.")
    return addresses


def webhook_target(url: str) -> Target:
    """Validate ``url`` and resolve it to one safe address; raises ``UnsafeUrl``."""
    scheme, host, port, path = _split(url)
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS
    lowered = host.lower()
    if not allow_private and (lowered == "localhost" or lowered.endswith(BLOCKED_HOST_SUFFIXES)):
        raise UnsafeUrl("The URL must not point to a local or internal host.")
    addresses = _resolve(host, port)
    if not allow_private:
        # Every address must be public: a name resolving to one public and one private
        # address would otherwise let the private one be chosen.
        for address in addresses:
            if address_is_blocked(ipaddress.ip_address(address)):
                raise UnsafeUrl("The URL must not resolve to a loopback, private, link-local or reserved address.")
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])
