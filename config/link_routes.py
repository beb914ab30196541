"""The public link-token routes: the one list the URL map builds these routes from and the
logs redact by. A route that carries a link token (an invitation, a consent-signing or
withdrawal link, a comparison share, or any later one) is added here and nowhere else, and
``config.logging`` keeps its token out of every log line; ``tests/test_link_routes.py`` walks
the URL map and fails on a ``<str:token>`` route that is not in this list."""

from __future__ import annotations

import re

INVITATION = "invite/<slug:clinic>/<str:token>/"
CONSENT_SIGN = "p/<slug:clinic>/sign/<str:token>/"
CONSENT_WITHDRAW = "p/<slug:clinic>/withdraw/<str:token>/"
COMPARISON_SHARE = "p/<slug:clinic>/photos/<str:token>/"

LINK_TOKEN_ROUTES: tuple[str, ...] = (INVITATION, CONSENT_SIGN, CONSENT_WITHDRAW, COMPARISON_SHARE)

TOKEN_PARAMETER = "token"

# A path separator as it is logged: plain, or URL-encoded inside a ?next= parameter.
_SEPARATOR = r"(?:/|%2F)"
# Any parameter other than the token (the clinic's slug): one path segment.
_SEGMENT = r"[\w.~-]+"
# The token itself: every character a URL-safe token or a guess at one can have.
_TOKEN = r"[A-Za-z0-9_.~\-]+"
_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def _route_pattern(route: str) -> str:
    """The regular expression of one route up to its token, the part before the token
    captured, as it can appear anywhere in a log line."""
    head = route.split(f":{TOKEN_PARAMETER}>", 1)[0]
    head = head[: head.rindex("<")]
    pieces = []
    position = 0
    for match in _PARAMETER.finditer(head):
        pieces.append(_literal(head[position : match.start()]))
        pieces.append(_SEGMENT)
        position = match.end()
    pieces.append(_literal(head[position:]))
    return f"({_SEPARATOR}{''.join(pieces)})"


def _literal(text: str) -> str:
    return _SEPARATOR.join(re.escape(part) for part in text.split("/"))


TOKEN_IN_PATH = re.compile(
    "(?:" + "|".join(_route_pattern(route) for route in LINK_TOKEN_ROUTES) + f"){_TOKEN}",
    re.IGNORECASE,
)


def redact_link_tokens(text: str) -> str:
    """``text`` with the token of every link route replaced by ``[redacted]``."""
    return TOKEN_IN_PATH.sub(lambda match: _kept(match) + "[redacted]", text)


def _kept(match: re.Match[str]) -> str:
    return next(group for group in match.groups() if group is not None)
