"""The restore drill, as a clinic would run it after losing its server: seed, back up, add
photos, erase a patient, back up again, then restore the first set onto a fresh database and
an empty bucket. The photos, signature and PDF of that moment decrypt byte for byte, the patient
erased after the set is erased again (their tombstone at the backup target), the audit trail
verifies against the restored checkpoints, and a member of staff signs in.

On the real stack (PostgreSQL, SeaweedFS, the backup target a second S3 bucket) and, marked
``embedded``, on the embedded default (SQLite, local blob folder, a folder as target)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from audit.verify import verify_chain
from backups import services
from backups.restic import TOMBSTONE_TAG, Repository
from clinic.models import Role
from clinic.tenancy import clinic_context
from consent.models import ConsentRecord
from patients.models import Patient
from photos.models import Photo
from retention.models import Erasure
from retention.services import patient_erase
from tests import factories as f
from tests.conftest import EMBEDDED
from vault.storage import blob_read

pytestmark = pytest.mark.embedded


def _plaintexts(clinic, patient) -> dict[str, bytes]:
    """Every decrypted object of the patient's photos and consent, by blob id."""
    found = {}
    with clinic_context(clinic.pk):
        for photo in Photo.objects.filter(clinic=clinic, patient=patient):
            for blob in (photo.original, photo.display, photo.thumb):
                found[str(blob.pk)] = blob_read(blob)
        for record in ConsentRecord.objects.filter(clinic=clinic, patient=patient):
            for blob in (record.signature, record.pdf):
                if blob is not None:
                    found[str(blob.pk)] = blob_read(blob)
    return found


def test_restore_drill_brings_back_the_first_set_and_not_the_erased_patient(stack, tmp_path):
    target = {} if EMBEDDED else stack.s3_target()
    options = stack.backup_settings(str(tmp_path / "backups"))
    options.update(target)
    with override_settings(**options):
        clinic = f.make_clinic("Drill Clinic")
        admin = f.make_member(clinic, Role.ADMIN, "Ada Admin")
        practitioner = f.make_member(clinic, Role.PRACTITIONER, "Pia Practitioner")
        kept = f.make_patient(
            clinic, admin, first_name="Kate", last_name="Kept", email="kate@example.test"
        )
        leaving = f.make_patient(clinic, admin, first_name="Eric", last_name="Erased")
        for patient in (kept, leaving):
            episode = f.make_episode(clinic, patient, practitioner)
            f.make_ready_photo(clinic, patient, episode, practitioner)
        f.make_signed_consent(clinic, kept, practitioner)
        call_command("audit_checkpoint", "--clinic", clinic.slug, stdout=io.StringIO())
        at_first_set = _plaintexts(clinic, kept)
        assert len(at_first_set) == 5  # original, display, thumbnail, signature, PDF

        first = services.backup_take()
        assert first.ok and first.snapshot_id

        # Life goes on: a new photo of the kept patient, the other one erased.
        later = f.make_ready_photo(
            clinic, kept, f.make_episode(clinic, kept, practitioner), practitioner
        )
        with clinic_context(clinic.pk):
            erasure = patient_erase(
                clinic=clinic,
                patient=leaving,
                by=admin,
                confirmed=True,
                early_reason="The patient asked for erasure in writing",
            )
        # The tombstone went to the backup target through the outbox (eager here).
        assert len(Repository().snapshots(TOMBSTONE_TAG)) >= 1
        second = services.backup_take()
        assert second.ok and second.snapshot_id != first.snapshot_id

        with stack.fresh():
            assert services.found_in_target() == []
            report = services.restore(set_id=first.snapshot_id)
            assert report.snapshot.short_id == first.snapshot_id
            assert [t.erasure_id for t in report.replayed] == [erasure.pk]

            with clinic_context(clinic.pk):
                assert not Patient.objects.filter(pk=leaving.pk).exists()
                replayed = Erasure.objects.get(clinic=clinic, patient_id=leaving.pk)
                assert replayed.pk == erasure.pk
                assert Patient.objects.filter(pk=kept.pk).exists()
                assert not Photo.objects.filter(pk=later.pk).exists()  # after the first set
            assert _plaintexts(clinic, kept) == at_first_set

            assert verify_chain(clinic.pk).ok
            assert verify_chain(None).ok
            call_command("verify_audit", "--clinic", clinic.slug, stdout=io.StringIO())

            client = Client()
            response = client.post(reverse("login"), {"email": admin.email, "password": f.PASSWORD})
            assert response["Location"] == reverse("two_factor_verify")
            response = client.post(reverse("two_factor_verify"), {"token": f.totp_now(admin)})
            assert response.status_code == 302
            dashboard = reverse("dashboard", kwargs={"clinic_slug": clinic.slug})
            assert client.get(dashboard).status_code == 200
