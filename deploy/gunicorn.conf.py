"""gunicorn settings for the web container: threaded workers (long downloads are not cut
off), its logs like the app's (JSON lines under LOG_FORMAT=json, link tokens redacted), and
one directory where its processes add up the request latencies /metrics reports."""

import copy
import os
import tempfile
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# prometheus_client's multiprocess mode (config/metrics.py): each worker writes its request
# latencies to its own file here and /metrics, in whichever worker, adds them up. Set before
# the settings are read and before any worker starts, so every one inherits it; emptied when
# gunicorn starts, so the figures of an earlier run are not added in.
METRICS_DIR = Path(
    os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="clinicphotos-metrics-")
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)

from django.conf import settings  # noqa: E402 - after the settings module is named

bind = "0.0.0.0:8000"
# Processes: WEB_CONCURRENCY (compose: 3), never the host's core count, which a container
# sees whole however few cores it is given (a 32-core host would start 65 workers, and with
# their threads more database connections than PostgreSQL's 100). For a machine of its own,
# gunicorn's advice is two per core and one more: a request waits on PostgreSQL or S3 for part
# of its time, so a core has another worker to run meanwhile.
workers = int(os.environ.get("WEB_CONCURRENCY") or 3)

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
# The log format is the app's (LOG_FORMAT, read by config/settings.py). Under JSON the app
# writes one line per request itself, with its request id (config/observe.py): gunicorn's
# access line would only repeat it without one, so it is off (it logs at INFO, nothing above).
JSON_LOGS = settings.LOG_FORMAT == "json"
# The app's filters, formatters and console handler (config/settings.py), for gunicorn's loggers.
logconfig_dict = {
    **copy.deepcopy(
        {key: settings.LOGGING[key] for key in ("version", "filters", "formatters", "handlers")}
    ),
    "disable_existing_loggers": False,
    "loggers": {
        "gunicorn.access": {
            "handlers": [] if JSON_LOGS else ["console"],
            "level": "WARNING" if JSON_LOGS else "INFO",
            "propagate": False,
        },
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}


def on_starting(server) -> None:
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in METRICS_DIR.glob("*.db"):
        stale.unlink()
