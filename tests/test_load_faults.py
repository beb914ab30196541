"""The fault run of `make load`, shortened: while simulated practitioners upload, the worker is
killed with SIGKILL and replaced, Redis is restarted empty and S3 is unreachable for a few
seconds; afterwards every upload the app said it saved is ready exactly once.

It drives load/run.py as `make load FAULTS=1` does (the production stack on loopback, locust
from a second process), with the outbox's grace and sweep shortened so that lost messages are
resent within seconds rather than minutes.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("load")]


def test_every_accepted_upload_is_ready_exactly_once_after_faults(tmp_path):
    env = {
        **os.environ,
        "OUTBOX_GRACE_SECONDS": "4",
        "OUTBOX_SWEEP_SECONDS": "3",
        "OUTBOX_RETRY_SECONDS": "1",
    }
    done = subprocess.run(
        [
            sys.executable,
            "load/run.py",
            "--faults",
            "--seconds",
            "24",
            "--users",
            "4",
            "--patients",
            "40",
            "--photo-patients",
            "1",
            "--photos",
            "3",
            "--s3-outage",
            "5",
            "--verify-wait",
            "90",
            "--report",
            str(tmp_path / "faults.md"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.stdout.strip(), done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    report = (tmp_path / "faults.md").read_text()
    assert [m["short"] for m in figures["timeline"]] == [
        "worker SIGKILL",
        "new worker",
        "Redis stopped",
        "Redis back",
        "S3 down",
        "S3 back",
    ]
    uploads = figures["uploads"]
    assert uploads["accepted"] >= 5, report
    assert uploads["ready_exactly_once"] == uploads["accepted"], report
    assert uploads["ok"], report
    assert done.returncode == 0, report
    assert "every chain verifies" in report
    assert (tmp_path / "faults.png").stat().st_size > 10_000
