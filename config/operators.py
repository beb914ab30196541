"""Who may see what operators watch (/metrics, the detailed /healthz): a caller on one of
``METRICS_ALLOWED_NETWORKS``, connected straight to the app, with ``METRICS_TOKEN`` as a bearer
token when one is set. Anyone else is answered as if the page did not exist (404).

The address judged is the connection's own (``REMOTE_ADDR`` as the app is given it, read before
anything rewrites it). A request that passed through a reverse proxy carries the proxy's
forwarding headers and is refused whatever its address: behind the proxy every request arrives
from the proxy's address on the private network, which would otherwise pass for the operator's.
Prometheus scrapes the app directly on that network (docs/operations.md).
"""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

# Headers a forwarding proxy adds (Caddy, nginx, traefik); a direct scrape has none of them.
FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def address_allowed(address: str) -> bool:
    """Whether ``address`` is on one of ``METRICS_ALLOWED_NETWORKS`` (an IPv4 address a dual
    stack socket reports as ``::ffff:a.b.c.d`` counts as itself)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _networks(tuple(settings.METRICS_ALLOWED_NETWORKS)))


def token_given(request: HttpRequest) -> bool:
    """The bearer token matches ``METRICS_TOKEN`` (always true when none is set)."""
    expected = settings.METRICS_TOKEN
    if not expected:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    matches = hmac.compare_digest(given.strip().encode(), expected.encode())
    return scheme.lower() == "bearer" and matches


def is_operator(request: HttpRequest) -> bool:
    """The request may see what operators watch (module docstring)."""
    if any(request.META.get(header) for header in FORWARDING_HEADERS):
        return False
    return address_allowed(request.META.get("REMOTE_ADDR", "")) and token_given(request)
