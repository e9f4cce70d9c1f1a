"""Where a request comes from: the one answer for the login throttle, the audit trail (panel,
API, admin) and anything else that records "from where".

REMOTE_ADDR is the peer that opened the connection. Behind a proxy that is the proxy, and the
client's address is in X-Forwarded-For, which anyone can send: it is read only when the peer is
a proxy named in HARBORMASTER_TRUSTED_PROXIES, and then from the right, skipping trusted hops,
so that whatever a client wrote on the left of the header is never taken (the "rightmost
untrusted address"). gunicorn on a unix socket (deploy/) gives an empty REMOTE_ADDR: the word
`unix` in the setting says that such a peer is the local proxy."""
from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache
from typing import Any

from django.conf import settings

UNIX = "unix"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_logger = logging.getLogger("hosting.clientaddress")
_warned = False


@lru_cache(maxsize=8)
def _parse(items: tuple[str, ...]) -> tuple[bool, tuple[IPNetwork, ...]]:
    networks = tuple(ipaddress.ip_network(item) for item in items if item != UNIX)
    return UNIX in items, networks


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    # An IPv4 client reaching an IPv6 socket shows as ::ffff:a.b.c.d: one client, one key.
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped or ip


def resolve(remote: str, forwarded: str, proxies: list[str] | tuple[str, ...]) -> str | None:
    """The client's address from the peer REMOTE ("" on a unix socket) and the X-Forwarded-For
    header FORWARDED, trusting only PROXIES; None when it cannot be known."""
    unix, networks = _parse(tuple(proxies))

    def trusted(ip: Any) -> bool:
        return ip is not None and any(ip in net for net in networks)

    peer = _ip(remote) if remote else None
    if remote and peer is None:
        return None  # not an address: nothing we could record
    if not (trusted(peer) if remote else unix):
        return str(peer) if peer else None
    hops = [hop for hop in (part.strip() for part in forwarded.split(",")) if hop]
    found = peer
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            # Our proxy writes addresses only: this came from further left, from the client
            # or a proxy we do not know. The last address we could trust stands.
            break
        found = ip
        if not trusted(ip):
            break
    return str(found) if found else None


def client_address(request: Any) -> str | None:
    """The address of the client that sent REQUEST (see the module docstring); read once per request."""
    if hasattr(request, "_hm_client_address"):
        return request._hm_client_address
    remote = request.META.get("REMOTE_ADDR") or ""
    proxies = getattr(settings, "HARBORMASTER_TRUSTED_PROXIES", [])
    if not remote and UNIX not in proxies:
        _warn_once()
    address = resolve(remote, request.META.get("HTTP_X_FORWARDED_FOR", ""), proxies)
    request._hm_client_address = address
    return address


def _warn_once() -> None:
    global _warned
    if not _warned:
        _warned = True
        _logger.warning("Requests arrive without a client address (gunicorn on a unix socket?): set "
                        "HARBORMASTER_TRUSTED_PROXIES=unix so that the login throttle and the audit "
                        "trail see the address nginx forwards.")
