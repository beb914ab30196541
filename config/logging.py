"""Keeps link tokens out of logs: paths of invitation, consent and withdrawal links are logged
with the token replaced (Django's request log, the dev server, gunicorn's access log).

Django's own loggers get the filter from ``LOGGING``. gunicorn's loggers are configured by
gunicorn, and only ``deploy/gunicorn.conf.py`` adds the filter there; so the app also puts it
on them itself at start-up (``install_on_server_loggers``), and a plain
``gunicorn config.wsgi --access-logfile -`` cannot log a token either."""

from __future__ import annotations

import logging
import re

TOKEN_PATH = re.compile(r"(/(?:invite|p/[\w-]+/(?:sign|withdraw))/(?:[\w-]+/)?)[A-Za-z0-9_\-]{20,}")


# The same paths URL-encoded, as in a ?next= parameter.
ENCODED_TOKEN_PATH = re.compile(
    r"((?:%2F|/)(?:invite|p(?:%2F|/)[\w-]+(?:%2F|/)(?:sign|withdraw))(?:%2F|/)"
    r"(?:[\w-]+(?:%2F|/))?)[A-Za-z0-9_\-]{20,}",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    text = TOKEN_PATH.sub(r"\1[redacted]", text)
    return ENCODED_TOKEN_PATH.sub(r"\1[redacted]", text)


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
