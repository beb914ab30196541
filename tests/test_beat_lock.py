"""One beat only, held by a lock in Redis (config/beat.py): two real `celery beat` processes
against this machine's Redis, the second standing by until the first is killed, then taking
over; and a beat whose lock is taken from it stops."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings

from config.beat import LOCK_KEY
from tests.conftest import ROOT, wait_until

pytestmark = pytest.mark.xdist_group("beat")


class Beat:
    def __init__(self, tmp_path: Path, name: str) -> None:
        self.log = tmp_path / f"{name}.log"
        env = {
            **os.environ,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "BEAT_LOCK_SECONDS": "3",
        }
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("celery")),
                "-A",
                "config",
                "beat",
                "-l",
                "INFO",
                "--schedule",
                str(tmp_path / f"{name}-schedule"),
                "--logfile",
                str(self.log),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def says(self, text: str) -> bool:
        return self.log.exists() and text in self.log.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def lock():
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(LOCK_KEY)
    yield client
    client.delete(LOCK_KEY)


def test_a_second_beat_stands_by_and_takes_over_when_the_first_goes(tmp_path, lock):
    first = Beat(tmp_path, "first")
    second = None
    try:
        assert wait_until(lambda: first.says("this beat holds the beat lock"), timeout=60)
        second = Beat(tmp_path, "second")
        assert wait_until(lambda: second.says("another beat holds the beat lock"), timeout=60)
        time.sleep(4)  # past one expiry: the first keeps renewing, the second keeps waiting
        assert not second.says("this beat holds the beat lock")
        assert f":{first.process.pid}:" in lock.get(LOCK_KEY).decode()
        first.stop()  # killed: no release, the lock runs out three seconds after its renewal
        assert wait_until(lambda: second.says("this beat holds the beat lock"), timeout=30)
        assert f":{second.process.pid}:" in lock.get(LOCK_KEY).decode()
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_a_beat_that_loses_its_lock_stops(tmp_path, lock):
    beat = Beat(tmp_path, "only")
    try:
        assert wait_until(lambda: beat.says("this beat holds the beat lock"), timeout=60)
        lock.set(LOCK_KEY, "someone-else", ex=30)
        assert wait_until(lambda: beat.process.poll() is not None, timeout=15)
        assert beat.process.returncode == 1
        assert beat.says("the beat lock was lost")
    finally:
        beat.stop()
