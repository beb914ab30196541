"""Renditions made in a child process under a hard memory limit, so that a small file which
claims a huge picture (a 12 KB HEIC of 49 megapixels) cannot take a worker down with it.

The child is a fresh interpreter (``python -E -s -m photos.sandbox``) that imports only
``photos.imaging``: no Django, no inherited database connection. It sets ``RLIMIT_AS`` before
reading the photo, so an allocation beyond the limit fails in the child as ``MemoryError``;
if the kernel kills it instead, the parent sees it die. Either way the worker lives on.

The child decodes whatever the file holds, so it is treated as the one process that may be
subverted by a hostile file. It starts with a minimal environment (``CHILD_ENVIRONMENT``: no
master key, secret key, database URL or storage credentials to find), and it answers in plain
bytes the parent parses and checks, never a pickle the parent would run: one line of JSON
(the kind of answer, and for renditions their sizes and dimensions), then the display JPEG and
the thumbnail JPEG, byte for byte. No Django here.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from photos.imaging import ImageRejected, Renditions

ROOT = Path(__file__).resolve().parent.parent

# All the child is given of the worker's environment: what a Python interpreter and the image
# libraries need to run and to find a temporary folder; nothing that names a service or a key.
CHILD_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
# The child's first argument when asked, for tests, which variables it was started with.
REPORT_ENVIRONMENT = "--report-environment"
# The header line of an answer may not be longer than this (it holds a sentence at most).
MAX_HEADER_BYTES = 8192


class OutOfBounds(Exception):
    """The decode needed more memory (or time) than allowed; the photo's own doing."""


class DecoderBroke(Exception):
    """The decoder failed in a way it does not explain (a library error on this file), or
    answered something that is not an answer."""


def child_environment() -> dict[str, str]:
    """The environment the child starts with: ``CHILD_ENVIRONMENT`` taken from ours."""
    return {name: os.environ[name] for name in CHILD_ENVIRONMENT if name in os.environ}


def _run_child(arguments: list[str], data: bytes, timeout: float) -> subprocess.CompletedProcess:
    # -E: no PYTHON* variable changes what the child imports; -s: no user site-packages.
    return subprocess.run(  # noqa: S603 - our own interpreter and module, no shell
        [sys.executable, "-E", "-s", "-m", "photos.sandbox", *arguments],
        input=data,
        capture_output=True,
        timeout=timeout,
        cwd=ROOT,
        env=child_environment(),
        check=False,
    )


def renditions_within(data: bytes, *, memory_mb: int, timeout: float) -> Renditions:
    """``make_renditions(data)`` in a child limited to ``memory_mb`` of address space and
    ``timeout`` seconds. Raises ImageRejected (the file is bad) or OutOfBounds."""
    try:
        done = _run_child([str(memory_mb)], data, timeout)
    except subprocess.TimeoutExpired as error:
        raise OutOfBounds(f"decoding took longer than {timeout:.0f} s") from error
    if done.returncode != 0 or not done.stdout:
        raise OutOfBounds(f"the decoder was stopped (exit {done.returncode})")
    return parse_answer(done.stdout)


def environment_seen_by_child() -> list[str]:
    """The names of the variables a decoding child is started with (for tests)."""
    done = _run_child([REPORT_ENVIRONMENT], b"", timeout=30)
    header, _ = _split(done.stdout)
    names = header.get("names")
    if header.get("kind") != "environment" or not isinstance(names, list):
        raise DecoderBroke("the child did not report its environment")
    return [str(name) for name in names]


def _split(answer: bytes) -> tuple[dict, bytes]:
    line, newline, rest = answer[: MAX_HEADER_BYTES + 1].partition(b"\n")
    if not newline:
        raise DecoderBroke("the decoder's answer has no header line")
    try:
        header = json.loads(line)
    except ValueError as error:
        raise DecoderBroke("the decoder's answer is not JSON") from error
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str):
        raise DecoderBroke("the decoder's answer names no kind")
    return header, answer[len(line) + 1 :]


def _text(header: dict, name: str) -> str:
    value = header.get(name)
    if not isinstance(value, str):
        raise DecoderBroke(f"the decoder's answer has no {name}")
    return value


def _size(header: dict, name: str) -> int:
    value = header.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DecoderBroke(f"the decoder's answer has no {name}")
    return value


def parse_answer(answer: bytes) -> Renditions:
    """The renditions in a child's answer, or the refusal it reports raised; anything that is
    not an answer of the expected shape is DecoderBroke."""
    header, body = _split(answer)
    kind = header["kind"]
    if kind == "rejected":
        raise ImageRejected(_text(header, "message"), _text(header, "code"))
    if kind == "memory":
        raise OutOfBounds(_text(header, "message"))
    if kind == "error":
        raise DecoderBroke(_text(header, "message"))
    if kind != "ok":
        raise DecoderBroke(f"the decoder's answer is of no known kind ({kind[:40]!r})")
    display_size, thumb_size = _size(header, "display"), _size(header, "thumb")
    if len(body) != display_size + thumb_size:
        raise DecoderBroke("the decoder's answer is not as long as it says")
    return Renditions(
        display=body[:display_size],
        thumb=body[display_size:],
        width=_size(header, "width"),
        height=_size(header, "height"),
        mime=_text(header, "mime"),
    )


def _answer(header: dict, *parts: bytes) -> None:
    sys.stdout.buffer.write(json.dumps(header).encode() + b"\n")
    for part in parts:
        sys.stdout.buffer.write(part)


def _main() -> None:
    if sys.argv[1] == REPORT_ENVIRONMENT:
        _answer({"kind": "environment", "names": sorted(os.environ)})
        return
    limit = int(sys.argv[1]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from photos.imaging import make_renditions

    try:
        made = make_renditions(sys.stdin.buffer.read())
    except ImageRejected as error:
        _answer({"kind": "rejected", "message": str(error), "code": error.code})
    except MemoryError:
        _answer({"kind": "memory", "message": "the decoder ran out of its memory allowance"})
    except Exception as error:  # noqa: BLE001 - reported to the parent, which decides
        _answer({"kind": "error", "message": f"{type(error).__name__}: {error}"})
    else:
        header = {
            "kind": "ok",
            "display": len(made.display),
            "thumb": len(made.thumb),
            "width": made.width,
            "height": made.height,
            "mime": made.mime,
        }
        _answer(header, made.display, made.thumb)


if __name__ == "__main__":
    _main()
