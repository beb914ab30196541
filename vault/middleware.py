"""A master key problem answered as what it is: the operator's error, not the reader's.

When MASTER_KEY is missing, malformed or not the key the clinic keys are wrapped by, no photo
can be read or stored. Answering that with a 404 would put an ``access.denied`` event against
the practitioner who asked, as if they had been looking for another clinic's photo, and an
upload would end in a bare 500. Instead every page that needs a key answers 503 with a page
that says an operator must fix the key, the error is logged once per request, and nothing is
recorded against the person (``/healthz?full=1`` reports ``keys`` too, config/health.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from vault.keys import MasterKeyProblem

logger = logging.getLogger(__name__)


class MasterKeyProblemMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, MasterKeyProblem):
            return None
        logger.error(
            "The vault's master key is not usable (%s); %s %s answered 503. Check MASTER_KEY "
            "and MASTER_KEYS_PREVIOUS (docs/operations.md).",
            exception,
            request.method,
            request.path,
        )
        response = HttpResponse(
            render_to_string("vault/key_unavailable.html"), status=503, content_type="text/html"
        )
        response["Retry-After"] = "300"
        response["Cache-Control"] = "no-store"
        return response
