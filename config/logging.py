"""How the app logs: link tokens kept out, and, under ``LOG_FORMAT=json``, one JSON object per
line that names the request or task it came from.

Tokens: paths of every public link route (``config.link_routes``: invitation, consent,
withdrawal, comparison share; the URL map is built from the same list) are logged with the
token replaced (Django's request log, the dev server, gunicorn's access log, the app's own
request line).
Django's own loggers get the filter from ``LOGGING``. gunicorn's loggers are configured by
gunicorn, and only ``deploy/gunicorn.conf.py`` adds the filter there; so the app also puts it
on them itself at start-up (``install_on_server_loggers``), and a plain
``gunicorn config.wsgi --access-logfile -`` cannot log a token either.

Context: ``config.observe.ObserveRequestMiddleware`` puts the request's id in ``REQUEST_ID``
for as long as the request runs; ``ContextFilter`` copies it, and the id of the Celery task
running (if any), onto every record a handler sees; ``JsonFormatter`` writes them out."""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime

from celery import current_task

from config.link_routes import redact_link_tokens


def redact(text: str) -> str:
    """``text`` with every link token replaced (the routes are listed in
    ``config.link_routes``, which the URL map is built from too)."""
    return redact_link_tokens(text)


class RedactTokensFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


# Loggers that write request paths. gunicorn's are configured by gunicorn, not by LOGGING; and
# Django's own default handler for "django" (on under DEBUG) has no filter of ours.
SERVER_LOGGERS = ("gunicorn.access", "gunicorn.error", "django.request", "django.server")


def install_on_server_loggers() -> None:
    """Put the redaction filter on the server loggers (filters on a logger see every record
    logged to it, whatever handlers the server attaches later). Safe to call twice."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokensFilter) for f in logger.filters):
            logger.addFilter(RedactTokensFilter())


# --- the request or task a line belongs to ----------------------------------------------------

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class ContextFilter(logging.Filter):
    """Adds ``request_id`` (the request being answered) and ``task_id``/``task_name`` (the
    Celery task running, in a worker or in-process) to every record; None outside either."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            # django.request reports a 4xx/5xx once the middleware has finished, but hands
            # over the request, which has its id.
            request = getattr(record, "request", None)
            record.request_id = REQUEST_ID.get() or getattr(request, "request_id", None)
        task = current_task
        task_id = getattr(task.request, "id", None) if task else None
        record.task_id = task_id
        record.task_name = getattr(task, "name", None) if task_id else None
        return True


# Fields a record may carry (``extra=`` or a filter) that a JSON line includes when present.
OPTIONAL_FIELDS = ("task_id", "task_name", "method", "path", "status", "duration_ms", "view")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id,
    then whichever of ``OPTIONAL_FIELDS`` the record has, and the traceback as ``exc_info``.
    Newlines inside a message or traceback are escaped, so a line is always one record."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name in OPTIONAL_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        # django.request names the status of the 4xx/5xx it reports this way.
        status_code = getattr(record, "status_code", None)
        if "status" not in line and isinstance(status_code, int):
            line["status"] = status_code
        if record.exc_info:
            line["exc_info"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exc_info"] = redact(record.exc_text)
        if record.stack_info:
            line["stack_info"] = record.stack_info
        return json.dumps(line, default=str, ensure_ascii=False)


def use_on_handlers(handlers, log_format: str) -> None:
    """Give handlers someone else configured (the Celery worker's) our filters and, under
    JSON, our formatter; the worker's own text format stays otherwise."""
    for handler in handlers:
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(RedactTokensFilter())
            handler.addFilter(ContextFilter())
        if log_format == "json":
            handler.setFormatter(JsonFormatter())
