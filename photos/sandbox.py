"""Renditions made in a child process under a hard memory limit, so that a small file which
claims a huge picture (a 12 KB HEIC of 49 megapixels) cannot take a worker down with it.

The child is a fresh interpreter (``python -m photos.sandbox``) that imports only
``photos.imaging``: no Django, no inherited database connection. It sets ``RLIMIT_AS`` before
reading the photo, so an allocation beyond the limit fails in the child as ``MemoryError``;
if the kernel kills it instead, the parent sees it die. Either way the worker lives on.
No Django here.
"""

from __future__ import annotations

import pickle
import resource
import subprocess
import sys
from pathlib import Path

from photos.imaging import ImageRejected, Renditions

ROOT = Path(__file__).resolve().parent.parent


class OutOfBounds(Exception):
    """The decode needed more memory (or time) than allowed; the photo's own doing."""


class DecoderBroke(Exception):
    """The decoder failed in a way it does not explain (a library error on this file)."""


def renditions_within(data: bytes, *, memory_mb: int, timeout: float) -> Renditions:
    """``make_renditions(data)`` in a child limited to ``memory_mb`` of address space and
    ``timeout`` seconds. Raises ImageRejected (the file is bad) or OutOfBounds."""
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and module, no shell
            [sys.executable, "-m", "photos.sandbox", str(memory_mb)],
            input=data,
            capture_output=True,
            timeout=timeout,
            cwd=ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise OutOfBounds(f"decoding took longer than {timeout:.0f} s") from error
    if done.returncode != 0 or not done.stdout:
        raise OutOfBounds(f"the decoder was stopped (exit {done.returncode})")
    result = pickle.loads(done.stdout)  # our own child's answer  # noqa: S301
    kind = result[0]
    if kind == "ok":
        return result[1]
    if kind == "rejected":
        raise ImageRejected(result[1], result[2])
    if kind == "memory":
        raise OutOfBounds(result[1])
    raise DecoderBroke(result[1])


def _main() -> None:
    limit = int(sys.argv[1]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from photos.imaging import make_renditions

    try:
        result: tuple = ("ok", make_renditions(sys.stdin.buffer.read()))
    except ImageRejected as error:
        result = ("rejected", str(error), error.code)
    except MemoryError:
        result = ("memory", "the decoder ran out of its memory allowance")
    except Exception as error:  # noqa: BLE001 - reported to the parent, which decides
        result = ("error", f"{type(error).__name__}: {error}")
    try:
        answer = pickle.dumps(result)
    except MemoryError:
        answer = pickle.dumps(("memory", "the renditions did not fit in the memory allowance"))
    sys.stdout.buffer.write(answer)


if __name__ == "__main__":
    _main()
