"""Everything one patient has in the database and the vault, gathered once: what the erasure
page previews and what the erasure removes. Retention stands above every app that keeps
patient data, so it reads their tables directly (none of them imports it)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from django.db.models import Q

from audit.models import AuditEvent
from clinic.models import Clinic, Job
from comparisons.models import Comparison, ComparisonShare
from consent.models import (
    ConsentRecord,
    ConsentRequest,
    ConsentRestoration,
    ConsentWithdrawal,
    MarketingItem,
    WithdrawalLink,
)
from exports.models import Export, ExportReason
from patients.models import Patient, TreatmentEpisode
from photos.models import Photo
from retention.models import LegalHold

# Outbox jobs carry ids only; these keyword arguments name a patient's object (the test
# tests/retention/test_erasure.py fails when a task takes an argument listed in neither set).
PATIENT_JOB_KEYS = {
    "photo_id": "photos",
    "request_id": "consent_requests",
    "record_id": "consent_records",
    "withdrawal_id": "withdrawals",
    "comparison_id": "comparisons",
    "share_id": "shares",
    "export_id": "exports",
}
# event_id: an audit event (the broken-chain notice), which erasure keeps.
OTHER_JOB_KEYS = {
    "clinic_id",
    "job",
    "invitation_id",
    "version",
    "erasure_id",
    "due",
    "newly_due",
    "event_id",
    "run_id",  # a backup run (backups: the admins told of a failed backup)
}

REDACTED = "[erased]"


@dataclass
class PatientData:
    """The rows of one patient, in the order they can be deleted (dependents first)."""

    patient: Patient
    marketing_items: list[MarketingItem]
    shares: list[ComparisonShare]
    comparisons: list[Comparison]
    restorations: list[ConsentRestoration]
    withdrawals: list[ConsentWithdrawal]
    consent_records: list[ConsentRecord]
    consent_requests: list[ConsentRequest]
    withdrawal_links: list[WithdrawalLink]
    exports: list[Export]
    photos: list[Photo]
    episodes: list[TreatmentEpisode]
    holds: list[LegalHold]
    blob_ids: list[uuid.UUID] = field(default_factory=list)

    def ordered(self) -> list[tuple[str, list]]:
        return [
            ("marketing_items", self.marketing_items),
            ("shares", self.shares),
            ("comparisons", self.comparisons),
            ("restorations", self.restorations),
            ("withdrawals", self.withdrawals),
            ("consent_records", self.consent_records),
            ("consent_requests", self.consent_requests),
            ("withdrawal_links", self.withdrawal_links),
            ("exports", self.exports),
            ("photos", self.photos),
            ("episodes", self.episodes),
            ("legal_holds", self.holds),
        ]

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.ordered()} | {"objects": len(self.blob_ids)}


def gather(*, clinic: Clinic, patient: Patient) -> PatientData:
    """Every row of the patient and the vault objects their rows own."""

    def of(model, **lookup):
        return list(model.objects.filter(clinic=clinic, **lookup))

    data = PatientData(
        patient=patient,
        marketing_items=of(MarketingItem, photo__patient=patient),
        shares=of(ComparisonShare, patient=patient),
        comparisons=of(Comparison, patient=patient),
        restorations=of(ConsentRestoration, patient=patient),
        withdrawals=of(ConsentWithdrawal, patient=patient),
        consent_records=of(ConsentRecord, patient=patient),
        consent_requests=of(ConsentRequest, patient=patient),
        withdrawal_links=of(WithdrawalLink, patient=patient),
        exports=of(Export, patient=patient),
        photos=of(Photo, patient=patient),
        episodes=of(TreatmentEpisode, patient=patient),
        holds=of(LegalHold, patient=patient),
    )
    owned = [
        *((p.original_id, p.display_id, p.thumb_id) for p in data.photos),
        *((r.signature_id, r.pdf_id) for r in data.consent_records),
        *((c.image_id, c.pdf_id) for c in data.comparisons),
        *((e.blob_id,) for e in data.exports),
    ]
    data.blob_ids = sorted({blob_id for ids in owned for blob_id in ids if blob_id})
    return data


def jobs_of(*, clinic: Clinic, data: PatientData) -> list[Job]:
    """Outbox jobs (pending or done) whose arguments name one of the patient's objects."""
    condition = Q()
    for key, attribute in PATIENT_JOB_KEYS.items():
        ids = [str(row.pk) for row in getattr(data, attribute)]
        if ids:
            condition |= Q(**{f"kwargs__{key}__in": ids})
    if not condition:
        return []
    return list(Job.objects.filter(clinic=clinic).filter(condition))


@dataclass(frozen=True)
class Recipient:
    """Someone an export of the patient's record went to (Art. 19: they are told)."""

    export_id: str
    recipient: str
    reason: str
    exported_at: str
    downloads: int

    def as_dict(self) -> dict[str, object]:
        return self.__dict__.copy()


def recipients_of(*, clinic: Clinic, data: PatientData) -> list[Recipient]:
    """Third parties who were given a built export of the patient (not the patient's own
    subject-access copies), with how often it was downloaded; names of the patient in the
    recipient text are blanked, since this list outlives the record."""
    built = [e for e in data.exports if e.ready_at and e.reason != ExportReason.SUBJECT_ACCESS]
    downloads: dict[str, int] = {}
    for target_id in AuditEvent.objects.filter(
        clinic=clinic,
        action="export.downloaded",
        target_id__in=[str(e.pk) for e in built],
    ).values_list("target_id", flat=True):
        downloads[target_id] = downloads.get(target_id, 0) + 1
    labels = dict(ExportReason.choices)
    return [
        Recipient(
            export_id=str(e.pk),
            recipient=redact(e.recipient, data.patient),
            reason=labels.get(e.reason, e.reason),
            exported_at=e.ready_at.isoformat(),  # type: ignore[union-attr]  # built: ready_at set
            downloads=downloads.get(str(e.pk), 0),
        )
        for e in sorted(built, key=lambda e: e.ready_at)  # type: ignore[arg-type, return-value]
    ]


def redact(text: str, patient: Patient) -> str:
    """``text`` with the patient's names, e-mail address and phone number blanked: for the
    few free-text fields (an export's recipient, an early erasure's reason) that outlive the
    record."""
    needles = [patient.email, patient.phone, patient.first_name, patient.last_name]
    needles += patient.full_name.split()
    for needle in sorted({n.strip() for n in needles if n and len(n.strip()) > 1}, key=len)[::-1]:
        text = re.sub(re.escape(needle), REDACTED, text, flags=re.IGNORECASE)
    digits = re.sub(r"\D", "", patient.phone)
    if len(digits) >= 6:
        spaced = r"[\s-]*".join(re.escape(d) for d in digits)
        text = re.sub(spaced, REDACTED, text)
    return text
