"""The summary PDF is laid out in a child interpreter of its own: WeasyPrint holding a contact
sheet of hundreds of thumbnails grows by a few hundred MB, and the worker that streams the
archive should not carry that for the rest of its life. HTML in on stdin, PDF out on stdout.

Imports only WeasyPrint (no Django, no inherited connections). As for consent copies
(``consent/pdf.py``), only ``data:`` URIs may be opened: nothing is fetched.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TIMEOUT_SECONDS = 600
ROOT = Path(__file__).resolve().parent.parent


# The child's own peak resident memory (VmHWM) in the last render, for `make bench`.
last_peak_rss_kb = 0


class PdfFailed(Exception):
    """The renderer child exited with an error."""


def render_in_child(html: str) -> bytes:
    """Lay out ``html`` as a PDF in a fresh interpreter and return its bytes."""
    done = subprocess.run(
        [sys.executable, "-m", "exports.pdf_child"],
        input=html.encode(),
        cwd=ROOT,
        capture_output=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.startswith(b"%PDF"):
        raise PdfFailed(
            f"exit status {done.returncode}, {len(done.stdout)} bytes out: "
            + done.stderr.decode(errors="replace")[-500:]
        )
    global last_peak_rss_kb
    found = re.search(rb"peak_rss_kb=(\d+)", done.stderr)
    last_peak_rss_kb = int(found.group(1)) if found else 0
    return done.stdout


def peak_rss_kb() -> int:
    """This process's own peak resident memory (VmHWM). Unlike getrusage's ru_maxrss it is not
    inherited from the parent across fork and exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _main() -> None:
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols=frozenset({"data"}), allow_redirects=False, timeout=1)
    html = sys.stdin.buffer.read().decode()
    sys.stdout.buffer.write(HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf())
    sys.stderr.write(f"peak_rss_kb={peak_rss_kb()}\n")
    sys.stdout.flush()
    sys.stderr.flush()
    # Out at once, without the interpreter's teardown: the PDF is written and flushed, and a
    # CI run saw this child finish its work ("peak_rss_kb" written) yet exit with an error,
    # which can only have come from finalising the native libraries behind WeasyPrint.
    os._exit(0)


if __name__ == "__main__":
    _main()
