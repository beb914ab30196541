"""The child process that decodes photos holds nothing worth stealing and cannot make the
worker run code: it starts with a minimal environment (no master key, secret key, database
URL or storage secret) and answers in plain bytes that the worker parses, never a pickle."""

from __future__ import annotations

import json
import os
import pickle

import pytest

from clinic.images import ImageRejected
from photos import sandbox
from tests import factories as f
from tests.photos.images import heic_claiming_49_megapixels

SECRETS = {
    "MASTER_KEY": "bWFzdGVyLWtleS10aGF0LW11c3Qtbm90LWxlYWsteHg=",
    "MASTER_KEYS_PREVIOUS": "b2xkLW1hc3Rlci1rZXktdGhhdC1tdXN0LW5vdC1sZWFr",
    "DJANGO_SECRET_KEY": "secret-key-that-must-not-leak",
    "DATABASE_URL": "postgres://clinic_app:pw@db/clinicphotos",
    "BACKUP_DATABASE_URL": "postgres://backup:pw@db/clinicphotos",
    "S3_ACCESS_KEY_ID": "access-key-id",
    "S3_SECRET_ACCESS_KEY": "s3-secret-that-must-not-leak",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-that-must-not-leak",
    "BACKUP_KEY": "backup-key-that-must-not-leak",
    "BACKUP_S3_SECRET_ACCESS_KEY": "backup-s3-secret",
    "AUDIT_CHECKPOINT_KEY": "checkpoint-key-that-must-not-leak",
    "EMAIL_HOST_PASSWORD": "smtp-password",
    "REDIS_URL": "redis://:pw@redis:6379/0",
}


def test_the_decoding_child_is_started_without_any_secret(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    seen = sandbox.environment_seen_by_child()
    assert not set(SECRETS) & set(seen)
    assert set(seen) <= set(sandbox.CHILD_ENVIRONMENT)


def test_the_child_reports_its_environment_as_it_really_is(monkeypatch):
    # The report is the child's own os.environ: what the parent gives it shows up in it.
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert "LANG" in sandbox.environment_seen_by_child()


def test_a_photo_still_decodes_in_the_child(monkeypatch):
    monkeypatch.setenv("MASTER_KEY", SECRETS["MASTER_KEY"])
    made = sandbox.renditions_within(f.photo_jpeg((1600, 1200)), memory_mb=768, timeout=60)
    assert made.display[:3] == made.thumb[:3] == b"\xff\xd8\xff"
    assert max(made.width, made.height) > 0 and made.mime == "image/jpeg"


def test_a_file_the_child_refuses_is_refused_with_its_reason():
    with pytest.raises(ImageRejected) as refused:
        sandbox.renditions_within(b"not a photo at all", memory_mb=768, timeout=60)
    assert str(refused.value)


def test_a_decompression_bomb_is_stopped_in_the_child():
    with pytest.raises((sandbox.OutOfBounds, ImageRejected)):
        sandbox.renditions_within(heic_claiming_49_megapixels(), memory_mb=256, timeout=60)


class RunsCode:
    """A pickle that, were it unpickled, would create a file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_the_worker_never_unpickles_the_childs_answer(tmp_path):
    marker = tmp_path / "ran"
    hostile = pickle.dumps(("ok", RunsCode(str(marker))))
    with pytest.raises(sandbox.DecoderBroke):
        sandbox.parse_answer(hostile)
    assert not marker.exists()


@pytest.mark.parametrize(
    "answer",
    [
        b"",
        b"no header line",
        b"[1, 2]\n",
        b'{"kind": "ok", "display": 10, "thumb": 5, "width": 1, "height": 1, "mime": "x"}\nshort',
        b'{"kind": "ok", "display": -1, "thumb": 1, "width": 1, "height": 1, "mime": "x"}\n',
        b'{"kind": "ok", "display": "3", "thumb": 0, "width": 1, "height": 1, "mime": "x"}\nabc',
        b'{"kind": "rejected"}\n',
        b'{"kind": "surprise"}\n',
    ],
)
def test_an_answer_of_the_wrong_shape_is_a_broken_decoder(answer):
    with pytest.raises(sandbox.DecoderBroke):
        sandbox.parse_answer(answer)


def test_an_answer_of_the_right_shape_is_read_byte_for_byte():
    header = {"kind": "ok", "display": 3, "thumb": 2, "width": 4, "height": 5, "mime": "image/jpeg"}
    made = sandbox.parse_answer(json.dumps(header).encode() + b"\nabcde")
    assert (made.display, made.thumb, made.width, made.height) == (b"abc", b"de", 4, 5)


def test_the_worker_keeps_its_own_environment():
    # The child's environment is a copy made for it; the worker's own is not emptied.
    before = dict(os.environ)
    sandbox.environment_seen_by_child()
    assert dict(os.environ) == before
