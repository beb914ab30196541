"""gunicorn settings for the web container: access log without link tokens."""

import multiprocessing
import os

bind = "0.0.0.0:8000"
# Sync workers, two per core and one more (gunicorn's own advice): a request waits on
# PostgreSQL or S3 for part of its time, so a core has another worker to run meanwhile.
# WEB_CONCURRENCY overrides (a container given fewer cores than the host has).
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
accesslog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "config.logging.RedactTokensFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_tokens"]},
    },
    "loggers": {
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
