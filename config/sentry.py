"""Error reports to Sentry, when ``SENTRY_DSN`` is set (config/settings.py calls
``init_sentry``); off otherwise.

An error report leaves the clinic's network, so nothing personal may travel with it: the SDK
is told to send no personal data, no request bodies and no local variables, and ``scrub``
goes over every event before it leaves, whatever an integration added: the request keeps its
method, its path (link tokens redacted) and a few harmless headers, the query string keeps
its keys but not their values (a search is a patient's name), cookies, bodies and the
server's environment go, the user is an id at most, and e-mail and IP addresses are blanked
in every message, exception and breadcrumb. ``scrub`` is plain Python, tested directly.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from config.logging import redact

FILTERED = "[Filtered]"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# What could be an IPv4 or IPv6 address (a port after it or not); blanked only if it is one,
# so a time of day or a version number stays.
IPV4 = r"(?:\d{1,3}\.){3}\d{1,3}"
ADDRESS_LIKE = re.compile(
    rf"(?<![\w.]){IPV4}(?!\.?\w)"
    rf"|(?<![\w:.])(?:[0-9A-Fa-f]{{0,4}}:){{2,7}}(?:{IPV4}|[0-9A-Fa-f]{{0,4}})(?![\w:.])"
)
# The request headers a report keeps: none of them can carry a secret or a person.
SAFE_HEADERS = frozenset(
    {"accept", "accept-language", "content-length", "content-type", "host", "user-agent"}
    | {"x-request-id"}
)
# Parts of an event that describe the machine and the SDK, not what happened: left alone.
MACHINE_PARTS = frozenset({"sdk", "modules", "contexts", "debug_meta", "platform"})


def _blank_address(match: re.Match) -> str:
    text = match.group(0)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return text
    return "[ip]"


def scrub_text(text: str) -> str:
    """``text`` with link tokens, e-mail addresses and IP addresses taken out."""
    text = EMAIL.sub("[email]", redact(text))
    return ADDRESS_LIKE.sub(_blank_address, text)


def _scrub_values(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {key: _scrub_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_values(item) for item in value]
    return value


def _scrub_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=redact(parts.path), query="", fragment=""))


def _scrub_request(request: dict) -> dict:
    kept: dict[str, Any] = {}
    if "method" in request:
        kept["method"] = request["method"]
    if request.get("url"):
        kept["url"] = scrub_text(_scrub_url(str(request["url"])))
    query = request.get("query_string")
    if query:
        text = query if isinstance(query, str) else urlencode(query)
        pairs = parse_qsl(text, keep_blank_values=True)
        kept["query_string"] = "&".join(f"{key}={FILTERED}" for key, _ in pairs)
    headers = request.get("headers") or {}
    kept["headers"] = {
        name: value for name, value in dict(headers).items() if name.lower() in SAFE_HEADERS
    }
    # data (the body), cookies and env (the client's address, the server's variables) go.
    return kept


def _scrub_frames(event: dict) -> None:
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    for thread in (event.get("threads") or {}).get("values") or []:
        for frame in (thread.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)


def scrub(event: dict, hint: dict | None = None) -> dict:
    """Sentry's ``before_send``: the event with nothing personal left in it (module
    docstring). Returns the event to send."""
    if isinstance(event.get("request"), dict):
        event["request"] = _scrub_request(event["request"])
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if user.get("id") else {}
    _scrub_frames(event)
    for key in list(event):
        if key not in MACHINE_PARTS and key != "request":
            event[key] = _scrub_values(event[key])
    return event


def init_sentry(dsn: str, *, environment: str) -> None:
    """Start the Sentry SDK (Django, Celery and logging integrations come on by themselves)."""
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        # scrub works on the event as the plain dict it is; the SDK types it as a TypedDict.
        before_send=scrub,  # type: ignore[arg-type]
        # Errors only: no performance traces (they would carry every page's path and timing).
        traces_sample_rate=None,
    )
