"""Erasure on the real stack (PostgreSQL as the app role with RLS, SeaweedFS S3): every object of
the patient gone from the bucket, no key left that reads a copy taken before, their name, date
of birth, e-mail and phone nowhere in a full dump of the database, the audit chain intact;
refused under a legal hold, before retention ends without a reason, and by the command without
--confirm; storage down mid-erasure is caught up through the outbox, once."""

from __future__ import annotations

import inspect
import io
import subprocess
from datetime import date, timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from clinic import outbox
from clinic.clinic_task import ClinicTask
from clinic.models import Job, JobState, Role
from clinic.tenancy import clinic_context
from config.celery import app
from consent.models import ConsentUse, MarketingItem
from consent.selectors import active_uses
from patients.models import Patient
from retention import services
from retention.erasure import OTHER_JOB_KEYS, PATIENT_JOB_KEYS
from retention.models import Erasure
from retention.services import RetentionRefused
from retention.tasks import delete_erased_objects
from tests import factories as f
from tests.retention.records import make_full_record, old_datetime
from vault import storage
from vault.models import Blob

NAME = ("Wilhelmina", "Quarterfield")
DOB = date(1979, 7, 23)
EMAIL = "w.quarterfield@mailbox.example"
PHONE = "07700 900417"
LONG_AGO = timezone.localdate() - timedelta(days=365 * 9)


def _admin_clinic():
    clinic = f.make_clinic("Erasure Clinic")
    admin = f.make_member(clinic, Role.ADMIN, "Erin Admin")
    return clinic, admin


def _record(clinic, admin, **extra):
    return make_full_record(
        clinic,
        admin,
        first_name=extra.get("first_name", NAME[0]),
        last_name=extra.get("last_name", NAME[1]),
        date_of_birth=DOB,
        email=extra.get("email", EMAIL),
        phone=extra.get("phone", PHONE),
        treated_on=extra.get("treated_on", LONG_AGO),
        committed=True,
    )


def _bucket_names(s3_server) -> set[str]:
    names = set()
    for page in s3_server.client.get_paginator("list_objects_v2").paginate(Bucket=s3_server.bucket):
        names.update(obj["Key"] for obj in page.get("Contents", []))
    return names


def _blob_ids(clinic, patient) -> set:
    from retention.erasure import gather

    with clinic_context(clinic.pk):
        return set(gather(clinic=clinic, patient=patient).blob_ids)


def _dump() -> str:
    """The whole test database as pg_dump writes it (data and schema), as the superuser."""
    db = connections["default"].settings_dict["NAME"]
    return subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--no-owner", db],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _tables_containing(dump: str, needle: str) -> set[str]:
    """Which tables' COPY data in the dump contain ``needle`` (case-insensitive)."""
    hits, table = set(), None
    for line in dump.splitlines():
        if line.startswith("COPY "):
            table = line.split()[1]
        elif line == "\\.":
            table = None
        elif table and needle.lower() in line.lower():
            hits.add(table)
    return hits


def test_an_erased_patient_leaves_no_object_no_key_and_no_personal_field(committed_db, s3_server):
    clinic, admin = _admin_clinic()
    record = _record(clinic, admin)
    patient = record.patient
    blob_ids = _blob_ids(clinic, patient)
    # Photos (3 each), signature and PDF, comparison image and PDF, two exports.
    assert len(blob_ids) == 12
    names_before = _bucket_names(s3_server)
    assert {b.hex for b in blob_ids} <= names_before
    with clinic_context(clinic.pk):
        original = record.photos[0].original
    copy = s3_server.client.get_object(Bucket=s3_server.bucket, Key=original.object_name)[
        "Body"
    ].read()
    dump = _dump()
    for needle in (NAME[1], EMAIL, DOB.isoformat(), PHONE):
        assert _tables_containing(dump, needle), f"{needle} should be in the dump before"

    with clinic_context(clinic.pk):
        erasure = services.patient_erase(clinic=clinic, patient=patient, by=admin, confirmed=True)
    # After the commit the outbox job (eager here) deleted the objects.
    left = _bucket_names(s3_server)
    assert not ({b.hex for b in blob_ids} & left)
    with clinic_context(clinic.pk):
        erasure.refresh_from_db()
        assert erasure.objects_deleted_at is not None
        assert not Patient.objects.filter(pk=patient.pk).exists()
        blobs = list(Blob.objects.filter(pk__in=blob_ids))
        assert len(blobs) == 12
        assert all(b.wrapped_key is None and b.staged_ciphertext is None for b in blobs)

    # A copy of the ciphertext taken before cannot be read by the running system: put back
    # where it was, the vault has no key for it, and no other key of the clinic opens it.
    s3_server.client.put_object(Bucket=s3_server.bucket, Key=original.object_name, Body=copy)
    with clinic_context(clinic.pk):
        blob = Blob.objects.get(pk=original.pk)
        with pytest.raises(storage.BlobUnreadable):
            storage.blob_read(blob)
        from vault import keys
        from vault.crypto import DecryptionError, decrypt_bytes

        for other in Blob.objects.filter(clinic=clinic, wrapped_key__isnull=False):
            with pytest.raises(DecryptionError):
                decrypt_bytes(keys.unwrap_data_key(other), storage.associated_data(blob), copy)
    s3_server.client.delete_object(Bucket=s3_server.bucket, Key=original.object_name)

    # Name, date of birth, e-mail and phone appear nowhere in the database.
    dump = _dump()
    for needle in (NAME[0], NAME[1], EMAIL, DOB.isoformat(), PHONE, PHONE.replace(" ", "")):
        hits = _tables_containing(dump, needle) - AUDIT_TABLE_UNTIL_SEALED
        assert not hits, f"{needle!r} is still in {sorted(hits)}"

    # The recipients to tell: the insurer (with the patient's name blanked), not the patient.
    (recipient,) = erasure.recipients
    assert recipient["recipient"] == "Acme Insurance, claim 4471 for [erased] [erased]"
    assert recipient["downloads"] == 1
    assert erasure.confirmed_by == admin and erasure.early_reason == ""
    out = io.StringIO()
    call_command("verify_audit", "--clinic", clinic.slug, stdout=out)
    assert out.getvalue().startswith("OK")


# Erasure forgets the patient's key in the audit trail: no table is excepted, the trail
# included (its events hold only ids and sealed detail).
AUDIT_TABLE_UNTIL_SEALED: set[str] = set()


def test_storage_down_during_erasure_leaves_keys_destroyed_and_objects_deleted_later_once(
    committed_db, s3_server
):
    clinic, admin = _admin_clinic()
    patient = f.make_patient(clinic, admin, first_name="Stella", last_name="Outage")
    episode = f.make_episode(clinic, patient, admin, performed_on=LONG_AGO)
    photo = f.make_ready_photo(clinic, patient, episode, admin, taken_at=old_datetime(LONG_AGO))
    names = {b.hex for b in _blob_ids(clinic, patient)}
    assert names <= _bucket_names(s3_server)
    dead = s3_server.blob_storage(endpoint="http://127.0.0.1:9")
    with override_settings(STORAGES={**settings.STORAGES, "blobs": dead}):
        with clinic_context(clinic.pk):
            erasure = services.patient_erase(
                clinic=clinic, patient=patient, by=admin, confirmed=True
            )
    with clinic_context(clinic.pk):
        job = Job.objects.get(clinic=clinic, kwargs__erasure_id=str(erasure.pk))
        assert job.state == JobState.PENDING and "StorageUnavailable" in job.last_error
        assert Blob.objects.get(pk=photo.original_id).wrapped_key is None
    assert names <= _bucket_names(s3_server)  # unreadable, still there

    # Storage is back: the retried delivery deletes them; a second delivery does nothing.
    assert delete_erased_objects.apply(kwargs=outbox.message_kwargs(job)).get() == "deleted"
    assert not names & _bucket_names(s3_server)
    assert delete_erased_objects.apply(kwargs=outbox.message_kwargs(job)).get() == "skipped"
    with clinic_context(clinic.pk):
        job.refresh_from_db()
        assert job.state == JobState.DONE


@pytest.mark.django_db
@pytest.mark.embedded
def test_a_patient_under_legal_hold_cannot_be_erased(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin, first_name="Harriet", last_name="Hold")
    f.make_episode(cast.clinic_a, patient, cast.admin, performed_on=LONG_AGO)
    with clinic_context(cast.clinic_a.pk):
        services.hold_place(
            clinic=cast.clinic_a, patient=patient, by=cast.admin, reason="Claim MDU-2291"
        )
        with pytest.raises(RetentionRefused, match="legal hold"):
            services.patient_erase(
                clinic=cast.clinic_a,
                patient=patient,
                by=cast.admin,
                confirmed=True,
                early_reason="Patient asked for erasure",
            )
        assert Patient.objects.filter(pk=patient.pk).exists()
        assert not Erasure.objects.filter(clinic=cast.clinic_a).exists()


@pytest.mark.django_db
@pytest.mark.embedded
def test_erasure_before_retention_ends_needs_a_reason_which_is_recorded(
    cast, django_capture_on_commit_callbacks
):
    patient = f.make_patient(cast.clinic_a, cast.admin, first_name="Ruth", last_name="Early")
    f.make_episode(cast.clinic_a, patient, cast.admin, performed_on=timezone.localdate())
    with clinic_context(cast.clinic_a.pk):
        with pytest.raises(RetentionRefused, match="kept until"):
            services.patient_erase(
                clinic=cast.clinic_a, patient=patient, by=cast.admin, confirmed=True
            )
        assert Patient.objects.filter(pk=patient.pk).exists()
    with django_capture_on_commit_callbacks(execute=True), clinic_context(cast.clinic_a.pk):
        erasure = services.patient_erase(
            clinic=cast.clinic_a,
            patient=patient,
            by=cast.admin,
            confirmed=True,
            early_reason="Ruth Early asked for erasure (Art. 17); no claim open",
        )
    assert erasure.was_early
    assert erasure.early_reason == "[erased] [erased] asked for erasure (Art. 17); no claim open"
    from audit.models import AuditEvent

    with clinic_context(cast.clinic_a.pk):
        event = AuditEvent.objects.get(clinic=cast.clinic_a, action="patient.erased")
    assert event.patient_id == patient.pk and event.details["early"] is True


@pytest.mark.django_db
@pytest.mark.embedded
def test_unconfirmed_erasure_is_refused(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    with clinic_context(cast.clinic_a.pk), pytest.raises(RetentionRefused, match="confirmed"):
        services.patient_erase(
            clinic=cast.clinic_a, patient=patient, by=cast.admin, confirmed=False
        )


@pytest.mark.django_db
def test_erase_patient_command_refuses_without_confirm_and_erases_with_it(
    cast, django_capture_on_commit_callbacks
):
    patient = f.make_patient(cast.clinic_a, cast.admin, first_name="Colin", last_name="Command")
    f.make_episode(cast.clinic_a, patient, cast.admin, performed_on=LONG_AGO)
    args = ["erase_patient", "--clinic", cast.clinic_a.slug, "--patient", str(patient.pk)]
    with pytest.raises(CommandError, match="--confirm"):
        call_command(*args)
    with clinic_context(cast.clinic_a.pk):
        assert Patient.objects.filter(pk=patient.pk).exists()
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command(*args, "--confirm", stdout=out)
    assert out.getvalue().startswith(f"erased {patient.pk}")
    with clinic_context(cast.clinic_a.pk):
        erasure = Erasure.objects.get(clinic=cast.clinic_a, patient_id=patient.pk)
        assert erasure.confirmed_by is None and "command" in erasure.confirmed_label
        assert not Patient.objects.filter(pk=patient.pk).exists()
    with pytest.raises(CommandError, match="No such patient"):
        call_command(*args, "--confirm")


@pytest.mark.django_db
def test_erase_patient_command_refuses_a_held_patient_and_other_clinics_patient(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin, first_name="Holly", last_name="Held")
    f.make_episode(cast.clinic_a, patient, cast.admin, performed_on=LONG_AGO)
    with clinic_context(cast.clinic_a.pk):
        services.hold_place(clinic=cast.clinic_a, patient=patient, by=cast.admin, reason="Claim")
    args = ["erase_patient", "--patient", str(patient.pk), "--confirm"]
    with pytest.raises(CommandError, match="legal hold"):
        call_command(*args, "--clinic", cast.clinic_a.slug)
    with pytest.raises(CommandError, match="No such patient"):
        call_command(*args, "--clinic", cast.clinic_b.slug)
    with pytest.raises(CommandError, match="UUID"):
        call_command("erase_patient", "--clinic", cast.clinic_a.slug, "--patient", "x", "--confirm")


@pytest.mark.django_db
@pytest.mark.embedded
def test_marketing_erasure_withdraws_marketing_uses_and_empties_the_library(cast):
    patient = f.make_patient(
        cast.clinic_a, cast.admin, first_name="Mia", last_name="Market", email="mia@example.com"
    )
    episode = f.make_episode(cast.clinic_a, patient, cast.admin)
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.admin)
    f.make_signed_consent(
        cast.clinic_a, patient, cast.admin, uses=["clinical_record", "website", "print"]
    )
    from consent.services import marketing_add

    with clinic_context(cast.clinic_a.pk):
        marketing_add(clinic=cast.clinic_a, photo=photo, use="website", by=cast.admin)
        marketing_add(clinic=cast.clinic_a, photo=photo, use="print", by=cast.admin)
        with pytest.raises(RetentionRefused):
            services.patient_erase_marketing(
                clinic=cast.clinic_a, patient=patient, by=cast.admin, channel="link"
            )
        done = services.patient_erase_marketing(
            clinic=cast.clinic_a, patient=patient, by=cast.admin, channel="email"
        )
        assert done["uses_withdrawn"] == 2
        assert active_uses(clinic=cast.clinic_a, patient=patient) == {ConsentUse.CLINICAL_RECORD}
        assert not MarketingItem.objects.filter(
            clinic=cast.clinic_a, photo__patient=patient, removed_at__isnull=True
        ).exists()
        assert Patient.objects.filter(pk=patient.pk).exists()


def test_every_task_argument_is_known_to_erasure():
    """An outbox job naming a patient's object must be found and removed by erasure: a new
    task argument has to be listed as naming one (PATIENT_JOB_KEYS) or not."""
    known = set(PATIENT_JOB_KEYS) | OTHER_JOB_KEYS
    for name, task in app.tasks.items():
        if not isinstance(task, ClinicTask):
            continue
        params = set(inspect.signature(task.run).parameters)
        assert params <= known, f"{name} takes {sorted(params - known)}: list them in erasure.py"
