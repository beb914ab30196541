"""The app as gunicorn serves it in tests/https_stack.py, and one download that exists only
there: ``/_test/slow-download?seconds=N`` sends a chunk a second for N seconds, as a large
export or a photo stream to a slow phone would, to show that nothing between the client and
the app (gunicorn's worker timeout, Caddy's buffering) cuts it off."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

from config.wsgi import application as app

SLOW_DOWNLOAD = "/_test/slow-download"
CHUNK = 64 * 1024


def application(environ, start_response):
    if environ.get("PATH_INFO") != SLOW_DOWNLOAD:
        return app(environ, start_response)
    seconds = int(parse_qs(environ.get("QUERY_STRING", "")).get("seconds", ["60"])[0])
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(seconds * CHUNK)),
        ],
    )

    def chunks():
        for _ in range(seconds):
            time.sleep(1)
            yield b"x" * CHUNK

    return chunks()
