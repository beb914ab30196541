"""gunicorn settings for the web container: its logs like the app's (JSON lines under
LOG_FORMAT=json, link tokens redacted), and one directory where its processes add up the
request latencies /metrics reports."""

import copy
import multiprocessing
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
# Sync workers, two per core and one more (gunicorn's own advice): a request waits on
# PostgreSQL or S3 for part of its time, so a core has another worker to run meanwhile.
# WEB_CONCURRENCY overrides (a container given fewer cores than the host has).
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)

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
