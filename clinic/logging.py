"""Keeps link tokens out of logs: paths of invitation, consent and withdrawal links are logged
with the token replaced (Django's request log, the dev server, gunicorn's access log)."""

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
