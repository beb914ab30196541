"""gunicorn settings for the web container: threaded workers (long downloads are not cut
off), access log without link tokens."""

import multiprocessing
import os

bind = "0.0.0.0:8000"
# Processes: two per core and one more (gunicorn's own advice): a request waits on PostgreSQL
# or S3 for part of its time, so a core has another worker to run meanwhile. WEB_CONCURRENCY
# overrides (a container given fewer cores than the host has).
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
# Threaded workers, not sync ones. A sync worker serves one request at a time in its only
# thread, and the master kills any worker silent for `timeout` seconds: an evidence export of
# a gigabyte, a long photo stream or a slow phone on the clinic's Wi-Fi would be cut off after
# 30 s. A gthread worker's main thread reports in every second while its threads serve, so
# `timeout` only catches a worker that is stuck as a whole, and a download lasts as long as
# the client keeps reading. Each thread keeps its own database connection, so the web
# container holds up to workers x threads of them (36 on a 4-core machine): on a machine with
# many cores, lower WEB_CONCURRENCY or WEB_THREADS to stay under PostgreSQL's 100.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS") or 4)
timeout = 30
# Idle connections from the proxy are kept longer than the proxy keeps them (60 s,
# deploy/Caddyfile): the proxy closes first, so it never sends a request on a connection
# gunicorn is closing. A gthread worker parks idle connections without holding a thread.
keepalive = 75
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
