"""Changes that no page makes still leave events: an operator's management command, and the
bulk ``update()`` a service makes inside ``service_write`` (tests/clinic/test_bulk_writes.py
shows that the same update outside a service is refused)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from clinic.tenancy import clinic_context
from photos.models import Photo, PhotoStatus
from tests import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def events(clinic, action: str) -> list[AuditEvent]:
    with clinic_context(clinic.id):
        return list(AuditEvent.objects.filter(clinic=clinic, action=action).order_by("seq"))


def test_requeue_photos_command_records_each_photo_it_changes(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photos = [
        f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner) for _ in range(2)
    ]
    with clinic_context(cast.clinic_a.id):
        for photo in photos:  # as the worker leaves a photo it could not decode
            photo.status, photo.failure_reason = PhotoStatus.FAILED, "needs more memory"
            photo.save(update_fields=["status", "failure_reason"])
    out = io.StringIO()
    call_command("requeue_photos", "--clinic", cast.clinic_a.slug, "--failed", stdout=out)
    assert "2 photo(s) queued again" in out.getvalue()
    requeued = events(cast.clinic_a, "photo.requeued")
    assert {e.target_id for e in requeued} == {str(p.pk) for p in photos}
    for event in requeued:
        # The system did it (no member, no browser), about this patient, from failed.
        assert event.actor_id is None and event.ip is None
        assert event.patient_id == patient.pk and event.details == {"was": "failed"}
    with clinic_context(cast.clinic_a.id):
        assert set(
            Photo.objects.filter(pk__in=[p.pk for p in photos]).values_list("status", flat=True)
        ) == {PhotoStatus.PROCESSING}


def test_a_new_consent_request_supersedes_the_open_one_in_bulk_and_says_so(cast):
    from consent import services as consent_services
    from consent.models import ConsentRequest

    patient = f.make_patient(cast.clinic_a, cast.admin, email="joanne@example.com")
    with clinic_context(cast.clinic_a.id):
        first = consent_services.request_send(clinic=cast.clinic_a, patient=patient, by=cast.admin)
        assert events(cast.clinic_a, "consent.requests_superseded") == []
        second = consent_services.request_send(
            clinic=cast.clinic_a, patient=patient, by=cast.practitioner
        )
        assert ConsentRequest.objects.get(pk=first.pk).revoked_at is not None
        assert ConsentRequest.objects.get(pk=second.pk).revoked_at is None
    (event,) = events(cast.clinic_a, "consent.requests_superseded")
    assert event.details == {"requests": [str(first.pk)]}
    assert event.actor_id == cast.practitioner.pk and event.patient_id == patient.pk


def test_withdrawing_consent_revokes_open_shares_in_bulk_and_records_which(cast):
    from datetime import timedelta

    from django.utils import timezone

    from comparisons.models import ComparisonShare
    from comparisons.services import comparison_create
    from consent import services as consent_services
    from consent.models import WithdrawalChannel

    patient = f.make_patient(cast.clinic_a, cast.admin, email="joanne@example.com")
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    before = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    after = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner, stage="after")
    f.make_signed_consent(cast.clinic_a, patient, cast.practitioner)
    with clinic_context(cast.clinic_a.id):
        comparison = comparison_create(
            clinic=cast.clinic_a, patient=patient, before=before, after=after, by=cast.admin
        )
        shares = [
            ComparisonShare.objects.create(
                clinic=cast.clinic_a,
                comparison=comparison,
                patient=patient,
                token_hash=f"{n}" * 64,
                sent_to=patient.email,
                sent_by=cast.admin,
                expires_at=timezone.now() + timedelta(days=1),
            )
            for n in (1, 2)
        ]
        consent_services.consent_withdraw(
            clinic=cast.clinic_a,
            patient=patient,
            uses=["clinical_record"],
            channel=WithdrawalChannel.PHONE,
            by=cast.reception,
        )
        assert all(
            s.revoked_at for s in ComparisonShare.objects.filter(pk__in=[s.pk for s in shares])
        )
    (event,) = events(cast.clinic_a, "comparison.shares_revoked")
    assert sorted(event.details["shares"]) == sorted(str(s.pk) for s in shares)
    assert event.patient_id == patient.pk
