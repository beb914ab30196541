"""Request hygiene for every request, before sessions: the request id every audit event
and log line of the request carries, and the refusal of NUL characters."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


def _has_nul(query) -> bool:
    return any(
        "\x00" in key or any("\x00" in str(value) for value in values)
        for key, values in query.lists()
    )


REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept when it looks like one (8 to 64 letters, digits, '.', '_', '-');
# anything else is replaced, so a header cannot smuggle text into the trail or the logs.
WELL_FORMED_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class RequestIdMiddleware:
    """Gives every request an id (``request.request_id``): the proxy's ``X-Request-ID`` when
    well formed, else a new one. Audit events of the request carry it, and so does the
    response's ``X-Request-ID``, so a clinic's report of a page can be found in the trail."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if WELL_FORMED_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]  # added here, read by audit
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


class RefuseBadInputMiddleware:
    """A NUL character in a query, form field or cookie is answered with a plain 400 before
    any view or session look-up sees it: PostgreSQL refuses NUL in text, so it would otherwise
    surface as a 500. Form fields are checked in ``process_view``, once the URL is resolved,
    because the upload handler decides by the view whether to keep files at all."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cookies = "".join(f"{k}{v}" for k, v in request.COOKIES.items())
        if _has_nul(request.GET) or "\x00" in cookies:
            return self.refuse(request)
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view, args, kwargs) -> HttpResponse | None:
        if request.method == "POST" and _has_nul(request.POST):
            return self.refuse(request)
        return None

    @staticmethod
    def refuse(request: HttpRequest) -> HttpResponse:
        # Rendered without the request: its context processors would read the session.
        return HttpResponse(
            render_to_string("400.html", {"reason": "control_character"}),
            status=400,
        )
