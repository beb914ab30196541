"""One beat only. Celery beat sends the scheduled jobs (the outbox sweep, the nightly audit
verification, ...); two beats would send each of them twice. Compose runs one, and the beat
enforces it: at start it takes a lock in Redis (``SET NX`` with an expiry) and keeps renewing
it; a second beat finds the lock held, says so, and stands by, taking over once the first has
gone (its lock expires ``BEAT_LOCK_SECONDS`` after its last renewal). A beat that finds its
lock lost (Redis emptied, a long pause) stops at once rather than run beside another; its
container's restart policy brings it back as the one standing by.

Without Redis (the embedded default, tasks run in-process) there is no beat to guard."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

import redis
from celery.signals import beat_init
from django.conf import settings

logger = logging.getLogger("clinicphotos.beat")
LOCK_KEY = "clinicphotos:beat-lock"
# Extend the lock only while it is still ours.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


def acquire(client: redis.Redis, token: str, seconds: int) -> bool:
    return bool(client.set(LOCK_KEY, token, nx=True, ex=seconds))


def renew(client: redis.Redis, token: str, seconds: int) -> bool:
    return bool(client.eval(_RENEW, 1, LOCK_KEY, token, seconds * 1000))


def _keep(client: redis.Redis, token: str, seconds: int) -> None:
    while True:
        time.sleep(seconds / 3)
        try:
            held = renew(client, token, seconds)
        except redis.RedisError:
            logger.warning("could not renew the beat lock (Redis unreachable); trying again")
            continue
        if not held:
            logger.critical("the beat lock was lost: stopping so that only one beat runs")
            os._exit(1)


@beat_init.connect
def hold_the_beat_lock(sender=None, **kwargs) -> None:
    if not settings.REDIS_URL:
        return
    seconds = settings.BEAT_LOCK_SECONDS
    client = redis.Redis.from_url(settings.REDIS_URL)
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    waiting = False
    while True:
        try:
            if acquire(client, token, seconds):
                break
            holder = client.get(LOCK_KEY)
        except redis.RedisError:
            holder = b"(Redis unreachable)"
        if not waiting:
            logger.warning(
                "another beat holds the beat lock (%s): standing by",
                # The client does not decode responses: what it answers is bytes.
                (holder or b"").decode(errors="replace"),  # type: ignore[union-attr]
            )
            waiting = True
        time.sleep(seconds / 3)
    logger.info("this beat holds the beat lock (%s)", token)
    threading.Thread(target=_keep, args=(client, token, seconds), daemon=True).start()
