"""Comparisons travel with the record: an insurer's bundle carries each finished comparison's
PDF and image under comparisons/ (in the manifest and SHA256SUMS), and a patient's own copy
lists the comparisons shared with them."""

import json

import pytest

from tests import factories as f
from tests.comparisons.test_sharing import share
from tests.exports import helpers as h
from tests.exports.test_exports import download, latest_export, start_export

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def _bundle(cast, patient, tmp_path, **data):
    client = f.verified_client(cast.admin)
    start_export(client, cast.clinic_a, patient, **data)
    zip_path = tmp_path / "bundle.zip"
    zip_path.write_bytes(download(client, cast.clinic_a, latest_export(cast.clinic_a)))
    return h.unzip(zip_path, tmp_path / "bundle")


def test_an_insurer_bundle_carries_the_comparisons_and_still_verifies(
    cast, pair, rendered, tmp_path
):
    folder = _bundle(cast, pair.patient, tmp_path, recipient="Hiscox claims")
    manifest = h.assert_bundle_verifies(folder)
    parts = [e for e in manifest["files"] if e["path"].startswith("comparisons/")]
    assert {p["kind"] for p in parts} == {
        "before/after comparison (PDF)",
        "before/after comparison (aligned image)",
    }
    assert all(p["comparison_id"] == str(rendered.pk) for p in parts)
    pdf = next(folder / p["path"] for p in parts if p["path"].endswith(".pdf"))
    assert pair.before.original_sha256 in h.pdf_text(pdf).replace("\n", "")


def test_the_patients_copy_lists_the_comparisons_shared_with_them(
    cast, pair, rendered, consented, tmp_path, django_capture_on_commit_callbacks
):
    share(cast, rendered, django_capture_on_commit_callbacks)
    folder = _bundle(cast, pair.patient, tmp_path, reason="subject_access", recipient="Joanne")
    data = json.loads((folder / "data.json").read_text())
    (entry,) = data["shares"]
    assert entry["comparison_id"] == str(rendered.pk)
    assert entry["sent_to"] == pair.patient.email and entry["revoked_at"] is None
