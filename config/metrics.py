"""``/metrics`` for Prometheus, answered only to the operator's network (config/operators.py;
anyone else gets the app's 404) and, like /healthz, before host validation and the HTTPS
redirect.

Two kinds of figures:

- Request latency, a histogram each web process keeps as it answers. Under gunicorn several
  processes answer, and a scrape reaches one of them, so they use prometheus_client's
  multiprocess mode: ``deploy/gunicorn.conf.py`` gives them one ``PROMETHEUS_MULTIPROC_DIR``
  where each writes its own file, and a scrape adds the files up. Under ``runserver`` and the
  tests, one process, the histogram is read from memory.
- Everything else is read when the scrape comes (``StackCollector``), from where it is kept:
  the Celery queues' lengths from Redis, the outbox from the database, and the counters and
  marks the workers leave in the shared cache (clinic/watch.py). Nothing of it lives in a
  process, so any web process answers alike, and a worker in another container is seen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from config.health import redis_client, unstored
from config.operators import is_operator

PATH = "/metrics"
PREFIX = "clinicphotos"
logger = logging.getLogger(__name__)
# No `_created` series: the multiprocess mode has none, so one process answers like several.
disable_created_metrics()

# Seconds; the slowest pages (an upload of many photos, an export's start) take a few.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUEST_LATENCY = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "Time from a request reaching the app to its response starting, by view, method and "
    "status class.",
    ["view", "method", "status"],
    buckets=LATENCY_BUCKETS,
    registry=None,  # each scrape builds its registry (multiprocess or not)
)


def observe_request(*, view: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request in the latency histogram."""
    REQUEST_LATENCY.labels(
        view=view,
        method=method if method in METHODS else "other",
        status=f"{status // 100}xx",
    ).observe(seconds)


# --- read at scrape time ----------------------------------------------------------------------


def _queue_lengths() -> dict[str, int]:
    """Messages waiting in each Celery queue on Redis: kombu keeps a queue as one Redis list
    per priority step (``celery``, ``celery\\x06\\x163``, ...), added up here."""
    from kombu.transport.redis import PRIORITY_STEPS, Channel

    from config.celery import app

    queues = [app.conf.task_default_queue]
    client = redis_client(settings.REDIS_URL)
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            for step in PRIORITY_STEPS:
                pipe.llen(f"{queue}{Channel.sep}{step}" if step else queue)
        sizes = pipe.execute()
    per = len(PRIORITY_STEPS)
    return {queue: sum(sizes[i * per : (i + 1) * per]) for i, queue in enumerate(queues)}


def _task_names() -> list[str]:
    from config.celery import app

    return sorted(name for name in app.tasks if not name.startswith("celery."))


class StackCollector:
    """The figures read when the scrape comes (module docstring). A source that cannot be read
    is left out of that scrape and logged; ``clinicphotos_redis_up`` says when Redis is the
    one missing."""

    def collect(self) -> Iterator[Metric]:
        for part in (self._queues, self._outbox, self._failures, self._audit, self._backups):
            try:
                yield from part()
            except Exception:  # noqa: BLE001 - one source down must not cost the others
                logger.warning("metrics: %s could not be read", part.__name__, exc_info=True)

    def _queues(self) -> Iterator[Metric]:
        if not settings.REDIS_URL:
            return
        import redis

        up = GaugeMetricFamily(f"{PREFIX}_redis_up", "1 when Redis (broker and cache) answers.")
        try:
            lengths = _queue_lengths()
        except redis.RedisError:
            logger.warning("metrics: Redis did not answer", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily(
            f"{PREFIX}_celery_queue_length",
            "Tasks waiting in the Celery queue on Redis for a worker.",
            labels=["queue"],
        )
        for queue, length in lengths.items():
            depth.add_metric([queue], length)
        yield depth

    def _outbox(self) -> Iterator[Metric]:
        from clinic.outbox import pending_summary

        summary = pending_summary()
        yield GaugeMetricFamily(
            f"{PREFIX}_outbox_pending_jobs",
            "Outbox jobs owed and not yet done, across clinics.",
            value=summary.pending,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_outbox_failing_jobs",
            "Pending outbox jobs whose last run failed (being retried).",
            value=summary.failing,
        )
        age = 0.0
        if summary.oldest_created_at is not None:
            age = max(0.0, time.time() - summary.oldest_created_at.timestamp())
        yield GaugeMetricFamily(
            f"{PREFIX}_outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox job still owed (0 when none is).",
            value=age,
        )

    def _failures(self) -> Iterator[Metric]:
        from clinic import outbox, watch
        from config.celery import TASK_FAILURES

        names = _task_names()
        for counter, help_text, found in (
            (
                f"{PREFIX}_outbox_job_failures",
                "Failed runs of outbox jobs, by task (each is retried).",
                watch.counts(outbox.FAILURES, names),
            ),
            (
                f"{PREFIX}_celery_task_failures",
                "Celery tasks that ended in an error, by task.",
                watch.counts(TASK_FAILURES, names),
            ),
        ):
            family = CounterMetricFamily(counter, help_text, labels=["task"])
            for name, value in found.items():
                family.add_metric([name], value)
            yield family

    def _audit(self) -> Iterator[Metric]:
        from audit.checkpoints import chain_name
        from audit.tasks import CHECKPOINTED, VERIFIED
        from clinic import watch
        from clinic.models import Clinic

        chains = [chain_name(c) for c in Clinic.objects.values_list("id", flat=True)]
        chains.append(chain_name(None))
        for name, what in ((CHECKPOINTED, "checkpoint"), (VERIFIED, "verification")):
            found = watch.marks(name, chains)
            if not found:
                continue
            yield GaugeMetricFamily(
                f"{PREFIX}_audit_{what}_timestamp_seconds",
                f"When the audit chain whose last {what} is oldest had it (Unix time).",
                value=min(mark.at for mark in found.values()),
            )
            yield GaugeMetricFamily(
                f"{PREFIX}_audit_{what}_failed_chains",
                f"Audit chains whose last {what} failed (refused, or a broken chain).",
                value=sum(not mark.ok for mark in found.values()),
            )

    def _backups(self) -> Iterator[Metric]:
        from backups.selectors import backup_status

        status = backup_status()
        last_ok, verified = status.last_ok, status.last_verified
        # 0 when there is none yet, so that every scrape has the same families.
        yield GaugeMetricFamily(
            f"{PREFIX}_backup_last_success_timestamp_seconds",
            "When the last successful backup set was finished (Unix time; 0: none yet).",
            value=last_ok.finished_at.timestamp() if last_ok and last_ok.finished_at else 0,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_backup_last_success_bytes",
            "Bytes of the last successful backup set (database copy and every object).",
            value=last_ok.size if last_ok else 0,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_backup_last_verified_timestamp_seconds",
            "When a backup set was last restored into scratch and checked (Unix time; 0: never).",
            value=verified.finished_at.timestamp() if verified and verified.finished_at else 0,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_backup_failing",
            "1 when backups are configured and the last one failed or is older than "
            "BACKUP_MISSING_HOURS.",
            value=int(status.configured and (status.missing or status.last_failed is not None)),
        )


def exposition() -> bytes:
    """The metrics in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    if settings.PROMETHEUS_MULTIPROC_DIR:
        MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
    else:
        registry.register(REQUEST_LATENCY)
    registry.register(StackCollector())
    return generate_latest(registry)


class MetricsMiddleware:
    """Answers GET /metrics to the operator; passes anything else on (a 404 for /metrics)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != PATH or request.method != "GET" or not is_operator(request):
            return self.get_response(request)
        return unstored(HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST))
