"""The patient's own copy (GDPR Art. 15 and 20): data.json with everything held about them,
valid against the schema docs/evidence-format.md documents, plus the files and a readable PDF."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from clinic.tenancy import clinic_context
from tests import factories as f
from tests.exports import helpers as h
from tests.exports.test_exports import download, latest_export, start_export

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "exports" / "data_schema.json").read_text())


@pytest.fixture
def patient_with_history(cast):
    from consent import services as consent_services

    patient = f.make_patient(cast.clinic_a, cast.admin, first_name="Sara", email="sara@example.com")
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner, product="Juvederm")
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    f.make_signed_consent(
        cast.clinic_a, patient, cast.practitioner, uses=["clinical_record", "website"]
    )
    with clinic_context(cast.clinic_a.id):
        consent_services.marketing_add(
            clinic=cast.clinic_a, photo=photo, use="website", by=cast.practitioner
        )
    return patient, photo


def test_subject_access_export_has_data_json_valid_against_the_documented_schema(
    cast, patient_with_history, tmp_path
):
    patient, photo = patient_with_history
    client = f.verified_client(cast.admin)
    start_export(client, cast.clinic_a, patient, reason="subject_access", recipient="Sara herself")
    zip_path = tmp_path / "sar.zip"
    zip_path.write_bytes(download(client, cast.clinic_a, latest_export(cast.clinic_a)))
    folder = h.unzip(zip_path, tmp_path / "sar")
    manifest = h.assert_bundle_verifies(folder)
    assert any(e["path"] == "data.json" for e in manifest["files"])

    data = json.loads((folder / "data.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert set(data) == set(SCHEMA["required"]), "data.json and its schema must list the same keys"
    assert data["patient"]["id"] == str(patient.pk)
    assert data["photos"][0]["original_sha256"] == photo.original_sha256
    assert (folder / data["photos"][0]["file"]).is_file()
    # Consent decides nothing here, but where the images went is shown.
    (use,) = data["marketing_uses"]
    assert use["photo_id"] == str(photo.pk) and use["use"] == "website"
    assert data["consents"][0]["uses_granted"] == ["clinical_record", "website"]
    assert {"export.created", "photo.uploaded", "consent.signed"} <= {
        e["action"] for e in data["audit_events"]
    }
    summary = h.pdf_text(folder / "summary.pdf")
    assert "Your photo record" in summary
    assert "Clinic website" in summary and "still in use" in summary
    assert "data.json" in (folder / "VERIFY.txt").read_text()


def test_an_earlier_insurer_export_is_listed_in_the_patients_copy(
    cast, patient_with_history, tmp_path
):
    patient, _photo = patient_with_history
    client = f.verified_client(cast.admin)
    start_export(client, cast.clinic_a, patient, recipient="Hiscox claims")
    start_export(client, cast.clinic_a, patient, reason="subject_access", recipient="Sara")
    zip_path = tmp_path / "sar.zip"
    zip_path.write_bytes(download(client, cast.clinic_a, latest_export(cast.clinic_a)))
    folder = h.unzip(zip_path, tmp_path / "sar")
    data = json.loads((folder / "data.json").read_text())
    assert [e["recipient"] for e in data["exports"]] == ["Hiscox claims"]


def test_the_evidence_format_page_documents_every_key_of_data_json():
    page = (ROOT / "docs" / "evidence-format.md").read_text()
    section = page.split("\n## data.json", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", section, flags=re.M))
    assert documented == set(SCHEMA["required"])


def test_an_insurer_export_has_no_data_json(cast, patient_with_history, tmp_path):
    patient, _photo = patient_with_history
    client = f.verified_client(cast.admin)
    start_export(client, cast.clinic_a, patient)
    zip_path = tmp_path / "claim.zip"
    zip_path.write_bytes(download(client, cast.clinic_a, latest_export(cast.clinic_a)))
    folder = h.unzip(zip_path, tmp_path / "claim")
    assert not (folder / "data.json").exists()


def test_a_withdrawal_the_patient_undid_shows_when_in_their_copy(
    cast, patient_with_history, tmp_path
):
    from consent import services as consent_services

    patient, _photo = patient_with_history
    with clinic_context(cast.clinic_a.id):
        withdrawal = consent_services.consent_withdraw(
            clinic=cast.clinic_a, patient=patient, uses=["website"], channel="link"
        )
        consent_services.withdrawal_undo(
            clinic=cast.clinic_a, patient=patient, withdrawal_id=withdrawal.pk
        )
    client = f.verified_client(cast.admin)
    start_export(client, cast.clinic_a, patient, reason="subject_access", recipient="Sara")
    zip_path = tmp_path / "sar.zip"
    zip_path.write_bytes(download(client, cast.clinic_a, latest_export(cast.clinic_a)))
    data = json.loads((h.unzip(zip_path, tmp_path / "sar") / "data.json").read_text())
    jsonschema.validate(data, SCHEMA)
    (entry,) = data["withdrawals"]
    assert entry["uses"] == ["website"] and entry["undone_at"] is not None
