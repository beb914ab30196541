"""The client's address behind the reverse proxy, decided once per request.

Behind Caddy (docker-compose's ``proxy``) every connection comes from the proxy, so
``REMOTE_ADDR`` alone would make every sign-in look like one client: the lockout would count
everyone's failures together, and anyone could lock any staff member out. Each trusted proxy
appends the address it saw to ``X-Forwarded-For`` (Caddy replaces whatever an untrusted client
sent), so with ``PROXY_COUNT`` proxies in front the client is the ``PROXY_COUNT``-th address
from the right. Addresses further left were written by the client and are never believed.

``ClientAddressMiddleware`` puts that address in ``REMOTE_ADDR`` before anything reads it, so
the audit trail, the consent evidence, the sign-in probe limit and django-axes
(``AXES_CLIENT_IP_CALLABLE`` is ``client_ip``) all see the same client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# The proxy's own address, kept for the logs of an operator who wants to see it.
PROXY_PEER = "PROXY_PEER_ADDR"


def forwarded_client(remote_addr: str, forwarded_for: str, proxy_count: int) -> str:
    """The client's address given the connection's peer, the X-Forwarded-For header and how
    many trusted proxies stand in front. A header shorter than ``proxy_count`` (a request that
    did not come through every proxy, such as the container's healthcheck) or an entry that is
    not an address leaves the peer as the client."""
    if proxy_count <= 0:
        return remote_addr
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    if len(hops) < proxy_count:
        return remote_addr
    candidate = hops[-proxy_count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote_addr


class ClientAddressMiddleware:
    """Sets ``REMOTE_ADDR`` to the client's address (module docstring), before any middleware
    or view reads it (only /healthz, which needs no address, comes first)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.proxy_count = settings.PROXY_COUNT

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.proxy_count:
            meta = request.META
            peer = meta.get("REMOTE_ADDR", "")
            meta[PROXY_PEER] = peer
            meta["REMOTE_ADDR"] = forwarded_client(
                peer, meta.get("HTTP_X_FORWARDED_FOR", ""), self.proxy_count
            )
        return self.get_response(request)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as ``ClientAddressMiddleware`` decided it (django-axes asks here,
    so the lockout counts the same client the audit trail names)."""
    return request.META.get("REMOTE_ADDR") or None
