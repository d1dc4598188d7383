"""The client's address behind our own reverse proxies (nginx in front of several instances).

``X-Forwarded-For`` is client-controlled text: anyone can send one. It is believed only when the
connection comes from a proxy listed in ``TRUSTED_PROXIES``, and then read from the right: each
trusted proxy appends the address it saw, so the rightmost address that is not itself a trusted
proxy is the client. Taking the leftmost value (what the client wrote) would let a client pick the
IP its rate limits and login lockouts are counted against.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted(address, networks: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_ip(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _trusted(_address(remote), networks):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return remote  # a malformed hop: the chain cannot be trusted past it
        if not _trusted(address, networks):
            return str(address)
    return remote
