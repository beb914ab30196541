"""``/healthz`` for load balancers and container healthchecks, answered before anything else.

It sits first in ``MIDDLEWARE``: a probe from ``127.0.0.1`` (or any other name) gets its answer
whatever ``DJANGO_ALLOWED_HOSTS`` lists and however ``SECURE_SSL_REDIRECT`` is set, because the
host validation and the HTTPS redirect of the middleware below never see the request. The answer
says only whether the database takes a trivial query; no details, no session, no audit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse

PATH = "/healthz"
logger = logging.getLogger(__name__)


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        logger.exception("health check: the database did not answer")
        return False


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != PATH or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        if database_ok():
            response = JsonResponse({"status": "ok"})
        else:
            response = JsonResponse({"status": "unavailable"}, status=503)
        response["Cache-Control"] = "no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response
