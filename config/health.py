"""``/healthz`` for load balancers and container healthchecks, answered before anything else.

It sits first in ``MIDDLEWARE``: a probe from ``127.0.0.1`` (or any other name) gets its answer
whatever ``DJANGO_ALLOWED_HOSTS`` lists and however ``SECURE_SSL_REDIRECT`` is set, because the
host validation and the HTTPS redirect of the middleware below never see the request. The answer
says only whether the database takes a trivial query; no details, no session, no audit.

``/healthz?full=1`` checks each service the app stands on, separately: ``{"database": "ok",
"redis": "ok|down|not configured", "storage": "ok|down", "keys": "ok|misconfigured"}``,
503 when one is down or the vault's master key is missing or not the one the clinic keys are
wrapped by (``vault.keys.key_state``; the detail goes to the error log, not into the
answer). It names what
the stack is made of, so only the operator's network may ask (config/operators.py); anyone else
is answered 404 by the app below, as for any page that does not exist.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import lru_cache

import redis
from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.module_loading import import_string

from config.operators import is_operator

PATH = "/healthz"
OK, DOWN, NOT_CONFIGURED, MISCONFIGURED = "ok", "down", "not configured", "misconfigured"
# A probe waits this long for Redis or S3: an answer after that is as good as none.
PROBE_TIMEOUT_SECONDS = 2
# An object name never written: asking S3 for it is a round trip that needs no data.
STORAGE_PROBE = "healthz-probe"
logger = logging.getLogger(__name__)


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        logger.exception("health check: the database did not answer")
        return False


@lru_cache(maxsize=4)
def redis_client(url: str) -> redis.Redis:
    """A client of ``url`` with short timeouts, kept for the process (it pools connections)."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
        socket_timeout=PROBE_TIMEOUT_SECONDS,
        health_check_interval=30,
    )


def redis_state() -> str:
    if not settings.REDIS_URL:
        return NOT_CONFIGURED
    try:
        redis_client(settings.REDIS_URL).ping()
        return OK
    except redis.RedisError:
        logger.warning("health check: Redis did not answer", exc_info=True)
        return DOWN


# The probe's own store for each blob storage configuration seen (tests change it).
_probe_stores: dict[str, Storage] = {}


def _probe_store() -> Storage:
    """The blob storage as configured, but, when it is S3, with the probe's short timeouts and
    no retries (boto's defaults wait a minute for a connection, and try five times)."""
    from botocore.config import Config
    from storages.backends.s3 import S3Storage

    blobs = settings.STORAGES["blobs"]
    key = repr(blobs)
    if key not in _probe_stores:
        storage_class = import_string(blobs["BACKEND"])
        options = dict(blobs.get("OPTIONS", {}))
        if issubclass(storage_class, S3Storage):
            options["client_config"] = Config(
                connect_timeout=PROBE_TIMEOUT_SECONDS,
                read_timeout=PROBE_TIMEOUT_SECONDS,
                retries={"max_attempts": 1, "mode": "standard"},
            )
        _probe_stores[key] = storage_class(**options)
    return _probe_stores[key]


def _writable_or_creatable(folder: str) -> bool:
    # The local store makes its folder at the first write; until then its parent must take it.
    while not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            return False
        folder = parent
    return os.access(folder, os.W_OK | os.X_OK)


def storage_state() -> str:
    try:
        store = _probe_store()
        if isinstance(store, FileSystemStorage):
            return OK if _writable_or_creatable(str(store.location)) else DOWN
        store.exists(STORAGE_PROBE)  # False is an answer; an outage or a refusal raises
        return OK
    except Exception:  # noqa: BLE001 - whatever the store says, it is not answering
        logger.warning("health check: the blob storage did not answer", exc_info=True)
        return DOWN


def keys_state(*, database_up: bool) -> str:
    """The master key's state; with the database down, only whether it is well-formed."""
    from vault.keys import key_state

    try:
        state = key_state(check_clinics=database_up)
    except DatabaseError:
        logger.warning("health check: the clinic keys could not be read", exc_info=True)
        return DOWN
    if state == OK:
        return OK
    logger.error("health check: the vault's master key is not usable: %s", state)
    return MISCONFIGURED


def full_report() -> tuple[dict[str, str], bool]:
    """Each service's state, and whether all that are configured are up."""
    database_up = database_ok()
    report = {
        "database": OK if database_up else DOWN,
        "redis": redis_state(),
        "storage": storage_state(),
        "keys": keys_state(database_up=database_up),
    }
    return report, all(state in (OK, NOT_CONFIGURED) for state in report.values())


def unstored(response: HttpResponse) -> HttpResponse:
    """The headers of every answer made before the app's middleware (health, metrics): never
    kept by a cache, never sniffed."""
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != PATH or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        if request.GET.get("full"):
            if not is_operator(request):
                return self.get_response(request)
            report, healthy = full_report()
            response = JsonResponse(report, status=200 if healthy else 503)
        elif database_ok():
            response = JsonResponse({"status": "ok"})
        else:
            response = JsonResponse({"status": "unavailable"}, status=503)
        return unstored(response)
