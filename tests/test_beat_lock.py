"""One beat only, held by a lock in Redis (config/beat.py): two real `celery beat` processes
against a redis-server of the test's own (another test's flush of the shared one would take
the lock away), the second standing by until the first is killed, then taking over; a beat
whose lock another beat took stops; one whose lock vanished takes it again."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from config.beat import LOCK_KEY
from tests.conftest import ROOT, RedisServer, wait_until

pytestmark = pytest.mark.xdist_group("beat")


class Beat:
    def __init__(self, tmp_path: Path, name: str, redis_url: str) -> None:
        self.log = tmp_path / f"{name}.log"
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "BEAT_LOCK_SECONDS": "6",
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
def own_redis():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def lock(own_redis):
    return redis.Redis.from_url(own_redis.url)


def test_a_second_beat_stands_by_and_takes_over_when_the_first_goes(tmp_path, own_redis, lock):
    first = Beat(tmp_path, "first", own_redis.url)
    second = None
    try:
        assert wait_until(lambda: first.says("this beat holds the beat lock"), timeout=60)
        second = Beat(tmp_path, "second", own_redis.url)
        assert wait_until(lambda: second.says("another beat holds the beat lock"), timeout=60)
        time.sleep(7)  # past one expiry: the first keeps renewing, the second keeps waiting
        assert not second.says("this beat holds the beat lock")
        assert f":{first.process.pid}:" in lock.get(LOCK_KEY).decode()
        first.stop()  # killed: no release, the lock runs out six seconds after its renewal
        assert wait_until(lambda: second.says("this beat holds the beat lock"), timeout=30)
        assert f":{second.process.pid}:" in lock.get(LOCK_KEY).decode()
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_a_beat_that_loses_its_lock_stops(tmp_path, own_redis, lock):
    beat = Beat(tmp_path, "only", own_redis.url)
    try:
        assert wait_until(lambda: beat.says("this beat holds the beat lock"), timeout=60)
        lock.set(LOCK_KEY, "someone-else", ex=30)
        assert wait_until(lambda: beat.process.poll() is not None, timeout=30)
        assert beat.process.returncode == 1
        assert beat.says("another beat holds the beat lock now")
    finally:
        beat.stop()


def test_a_beat_whose_lock_vanishes_with_a_redis_restart_takes_it_again(tmp_path, own_redis, lock):
    """Redis restarted without its data (as `make load`'s faults do): the beat keeps running,
    and so the outbox sweep keeps resending what the restart lost."""
    beat = Beat(tmp_path, "only", own_redis.url)
    try:
        assert wait_until(lambda: beat.says("this beat holds the beat lock"), timeout=60)
        lock.delete(LOCK_KEY)
        assert wait_until(lambda: beat.says("this beat holds it again"), timeout=30)
        assert beat.process.poll() is None
        assert f":{beat.process.pid}:" in lock.get(LOCK_KEY).decode()
    finally:
        beat.stop()
