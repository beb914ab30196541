"""A patient with everything a record can hold, made through the services: treatments, photos,
a signed consent with marketing uses, a marketing library item, a rendered comparison shared
by e-mail, an insurer's export (built and downloaded) and a subject-access export. With eager
tasks and committed transactions the outbox work (renditions, PDFs, e-mails, exports) runs
in-process after each commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.test import TestCase
from django.utils import timezone

from clinic.models import Clinic, User
from clinic.tenancy import clinic_context
from comparisons import services as comparison_services
from consent import services as consent_services
from exports import services as export_services
from tests import factories as f
from tests.comparisons.images import jpeg, moved, textured_face


@dataclass
class FullRecord:
    patient: object
    photos: list
    consent: object
    comparison: object
    share: object
    insurer_export: object
    own_export: object
    marketing_item: object


def old_datetime(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()).replace(hour=10))


def make_full_record(
    clinic: Clinic,
    admin: User,
    *,
    first_name: str,
    last_name: str,
    date_of_birth: date,
    email: str,
    phone: str,
    treated_on: date,
    committed: bool,
) -> FullRecord:
    """The record; ``committed``: the caller runs with committed transactions (on_commit
    work runs after each block), else on_commit callbacks are run here."""

    def block():
        return TestCase.captureOnCommitCallbacks(execute=True) if not committed else _nothing()

    patient = f.make_patient(
        clinic,
        admin,
        first_name=first_name,
        last_name=last_name,
        date_of_birth=date_of_birth,
        email=email,
        phone=phone,
        notes=f"{first_name} prefers morning appointments",
    )
    episode = f.make_episode(clinic, patient, admin, performed_on=treated_on, product="Azzalure")
    face = textured_face(600, 800)
    after_face, _ = moved(face, scale=1 / 1.15, degrees=6, shift=(20, -10))
    before = f.make_ready_photo(
        clinic,
        patient,
        episode,
        admin,
        data=jpeg(face),
        stage="before",
        area="forehead",
        view="front",
        taken_at=old_datetime(treated_on),
    )
    after = f.make_ready_photo(
        clinic,
        patient,
        episode,
        admin,
        data=jpeg(after_face),
        stage="after",
        area="forehead",
        view="front",
        taken_at=old_datetime(treated_on + timedelta(days=14)),
    )
    with block():
        consent = f.make_signed_consent(
            clinic, patient, admin, uses=["clinical_record", "website", "social_media"]
        )
    with clinic_context(clinic.pk):
        item = consent_services.marketing_add(clinic=clinic, photo=after, use="website", by=admin)
    with clinic_context(clinic.pk):
        comparison = comparison_services.comparison_create(
            clinic=clinic, patient=patient, before=before, after=after, by=admin
        )
    with block(), clinic_context(clinic.pk):
        comparison_services.comparison_render_request(
            clinic=clinic, comparison=comparison, by=admin, transform=comparison.transform
        )
    with clinic_context(clinic.pk):
        comparison.refresh_from_db()
        assert comparison.is_ready, comparison.failure_reason
    with block(), clinic_context(clinic.pk):
        share = comparison_services.share_send(clinic=clinic, comparison=comparison, by=admin)
    exports = []
    for recipient, reason in (
        (f"Acme Insurance, claim 4471 for {first_name} {last_name}", "claim"),
        (f"{first_name} {last_name}", "subject_access"),
    ):
        with clinic_context(clinic.pk):
            export = export_services.export_create(
                clinic=clinic,
                patient=patient,
                recipient=recipient,
                reason=reason,
                by=admin,
                queue=False,
            )
        with clinic_context(clinic.pk):
            export_services.export_build(clinic_id=clinic.pk, export_id=export.pk)
            export.refresh_from_db()
        exports.append(export)
    with clinic_context(clinic.pk):
        b"".join(export_services.export_download(export=exports[0], by=admin))
    with clinic_context(clinic.pk):
        for row in (consent, share):
            row.refresh_from_db()
    return FullRecord(
        patient=patient,
        photos=[before, after],
        consent=consent,
        comparison=comparison,
        share=share,
        insurer_export=exports[0],
        own_export=exports[1],
        marketing_item=item,
    )


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
