"""Every request, seen once: its id on every log line written while it runs, one line for the
request itself (method, path without the query string and with link tokens redacted, status,
duration), and its latency in the /metrics histogram.

It sits right below ``clinic.middleware.RequestIdMiddleware`` (which gives the request its id),
so it times everything the app does for a request; /healthz and /metrics, answered above it,
are neither logged nor timed. The duration runs until the response starts: a streamed download
goes on after it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from config import metrics
from config.logging import REQUEST_ID, redact

# The request lines: at INFO under LOG_FORMAT=json; under text the console stays as quiet as
# it was (gunicorn's access log, when there is one, has the lines then).
access_log = logging.getLogger("clinicphotos.access")
UNMATCHED = "unmatched"


def view_name(request: HttpRequest) -> str:
    """The URL pattern's name that served the request (its view's dotted path when unnamed),
    or "unmatched": a bounded set, fit for a metric label. A response made by middleware before
    the URL was resolved (a thumbnail answered from memory) is named by its path's view."""
    match = request.resolver_match
    if match is None:
        try:
            match = resolve(request.path_info, getattr(request, "urlconf", None))
        except Resolver404:
            return UNMATCHED
    return match.view_name


class ObserveRequestMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = REQUEST_ID.set(getattr(request, "request_id", None))
        try:
            started = time.perf_counter()
            response = self.get_response(request)
            seconds = time.perf_counter() - started
            view = view_name(request)
            metrics.observe_request(
                view=view,
                method=request.method,  # type: ignore[arg-type]  # a served request has one
                status=response.status_code,
                seconds=seconds,
            )
            path = redact(request.path)
            access_log.info(
                "%s %s %s",
                request.method,
                path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 1),
                    "view": view,
                },
            )
            return response
        finally:
            REQUEST_ID.reset(token)
