"""Exports: asking for one (audited, naming the recipient), building it in the worker,
handing it over (audited again), and deleting it when it expires."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from audit.context import AuditContext
from audit.services import record
from clinic.models import Clinic, User
from exports import bundle, contents, signing
from exports.models import Export, ExportBlobPurpose, ExportReason, ExportState
from patients.models import Patient, TreatmentEpisode
from vault import storage

logger = logging.getLogger("exports")

RECIPIENT_MAX = 200
SYSTEM_LABEL = "system (export_patient command)"


class ExportRefused(ValidationError):
    """The export cannot be made as asked (a clear message for the person)."""


def _progress_key(export_id) -> str:
    return f"export-progress:{export_id}"


def export_progress(export: Export) -> int:
    """Percent built, as the worker last reported it (0 until it starts, 100 when ready)."""
    if export.state != ExportState.QUEUED:
        return 100
    return int(cache.get(_progress_key(export.pk)) or 0)


@transaction.atomic
def export_create(
    *,
    clinic: Clinic,
    patient: Patient,
    recipient: str,
    reason: str,
    by: User | None,
    episode: TreatmentEpisode | None = None,
    context: AuditContext | None = None,
    queue: bool = True,
) -> Export:
    """Ask for a bundle of ``patient`` (or one ``episode``) for ``recipient``; audited with the
    recipient, then built by the worker (``queue``) or by the caller."""
    recipient = " ".join((recipient or "").split())
    if not recipient:
        raise ExportRefused("Say who the export is for (the insurer, solicitor or patient).")
    if len(recipient) > RECIPIENT_MAX:
        raise ExportRefused(f"The recipient must be at most {RECIPIENT_MAX} characters.")
    if reason not in ExportReason.values:
        raise ExportRefused("Choose the reason for the export.")
    if episode is not None and (episode.clinic_id != clinic.pk or episode.patient_id != patient.pk):
        raise ExportRefused("That treatment is not this patient's.")
    export = Export.objects.create(
        clinic=clinic,
        patient=patient,
        episode=episode,
        recipient=recipient,
        reason=reason,
        requested_by=by,
    )
    record(
        clinic=clinic,
        action="export.created",
        actor=by,
        actor_label="" if by else SYSTEM_LABEL,
        context=context,
        target=export,
        patient=patient,
        details={"reason": reason, "episode": str(episode.pk) if episode else None},
        # Free text that often names the patient ("Sara herself"): sealed with their key.
        personal={"recipient": recipient},
    )
    if queue:
        from exports.tasks import build_export

        build_export.delay_on_commit(clinic_id=str(clinic.pk), export_id=str(export.pk))
    return export


def _verify_text(export: Export, key, generated) -> bytes:
    return render_to_string(
        "exports/VERIFY.txt",
        {
            "clinic": export.clinic.name,
            "generated": f"{generated:%Y-%m-%d %H:%M}",
            "recipient": export.recipient,
            "reason": export.get_reason_display(),
            "export_id": export.pk,
            "fingerprint": key.fingerprint,
            "subject_access": export.is_subject_access,
        },
    ).encode()


def _manifest_head(export: Export, key, record_: contents.Record, generated) -> dict[str, Any]:
    patient = export.patient
    return {
        "format": contents.MANIFEST_FORMAT,
        "export_id": str(export.pk),
        "generated_at": generated.isoformat(),
        "clinic": {"id": str(export.clinic_id), "name": export.clinic.name},
        "patient": {
            "id": str(patient.pk),
            "name": patient.full_name,
            "date_of_birth": patient.date_of_birth.isoformat(),
        },
        "episode_id": str(export.episode_id) if export.episode_id else None,
        "recipient": export.recipient,
        "reason": export.reason,
        "requested_by": export.requested_by.email if export.requested_by else SYSTEM_LABEL,
        "audit_chain_head": record_.chain_head,
        "signature": {
            "algorithm": "Ed25519",
            "file": bundle.SIGNATURE,
            "public_key": bundle.PUBLIC_KEY,
            "public_key_sha256": key.fingerprint,
        },
    }


def export_build(*, clinic_id, export_id) -> str:
    """Build the bundle (the worker's job): read the record, stream the ZIP through the vault,
    sign its manifest. Runs in the clinic's context; a retried build starts again. Everything
    the stream needs from the database is read before it starts: an S3 upload reads the
    stream in a thread of its own."""
    export = (
        Export.objects.select_for_update(of=("self",))
        .select_related("clinic", "patient", "episode", "requested_by")
        .get(clinic_id=clinic_id, pk=export_id)
    )
    if export.state != ExportState.QUEUED:
        return f"already {export.state}"
    key = signing.signing_key_ensure(clinic=export.clinic)
    generated = timezone.now()
    record_ = contents.read_record(export)
    files = contents.files_of(record_)
    # The summary names the bundle's paths, so it is made once they are known; it goes first.
    summary = bundle.BundleFile.of_bytes(
        "summary.pdf",
        "summary (PDF)",
        contents.summary_pdf(record_),
    )
    files.insert(0, summary)
    if export.is_subject_access:
        files.insert(
            1,
            bundle.BundleFile.of_bytes(
                "data.json", "your data (JSON)", contents.subject_data(record_), compress=True
            ),
        )
    total = len(files)
    manifest_holder: dict[str, bytes] = {}

    def on_file(done: int) -> None:
        cache.set(_progress_key(export.pk), min(99, done * 100 // max(total, 1)), 3600)

    stream = bundle.archive(
        files,
        manifest_head=_manifest_head(export, key, record_, generated),
        verify_text=_verify_text(export, key, generated),
        public_key_pem=key.public_key_pem.encode(),
        sign=signing.signer(key),
        on_file=on_file,
        on_manifest=lambda manifest: manifest_holder.update(manifest=manifest),
    )
    blob = storage.blob_store_stream(
        clinic_id=export.clinic_id,
        purpose=ExportBlobPurpose.ARCHIVE,
        src=bundle.ChunkReader(stream),  # type: ignore[arg-type]  # reads like a file; BinaryIO is nominal
    )
    export.blob = blob
    export.size = blob.size
    export.files = total + 5  # and VERIFY.txt, the key, manifest, signature, SHA256SUMS
    export.manifest_sha256 = hashlib.sha256(manifest_holder["manifest"]).hexdigest()
    export.state = ExportState.READY
    export.ready_at = timezone.now()
    export.expires_at = export.ready_at + settings.EXPORT_LIFETIME
    export.save()
    record(
        clinic=export.clinic,
        action="export.built",
        actor_label="system",
        target=export,
        patient=export.patient,
        personal={"recipient": export.recipient},
        details={
            "bytes": blob.size,
            "files": export.files,
            "manifest_sha256": export.manifest_sha256,
            "audit_chain_head": record_.chain_head,
        },
    )
    cache.delete(_progress_key(export.pk))
    return "ready"


def export_fail(*, clinic_id, export_id, reason: str) -> None:
    """Mark an export that cannot be built (an original that no longer verifies), audited."""
    export = Export.objects.select_related("clinic", "patient").get(
        clinic_id=clinic_id, pk=export_id
    )
    if export.state != ExportState.QUEUED:
        return
    export.state = ExportState.FAILED
    export.failure_reason = reason[:300]
    export.save(update_fields=["state", "failure_reason"])
    record(
        clinic=export.clinic,
        action="export.failed",
        actor_label="system",
        target=export,
        patient=export.patient,
        details={"reason": export.failure_reason},
        personal={"recipient": export.recipient},
    )


class ExportUnavailable(Exception):
    """The export cannot be handed over: not ready, failed, or expired (its object deleted)."""


def export_download(
    *,
    export: Export,
    by: User | None,
    context: AuditContext | None = None,
    channel: str = "download",
) -> Iterator[bytes]:
    """The archive's bytes for the person taking it, audited naming the recipient. The first
    segment is decrypted here (inside the clinic's context); the rest streams afterwards."""
    if not export.is_downloadable:
        raise ExportUnavailable(export.get_state_display())
    record(
        clinic=export.clinic,
        action="export.downloaded",
        actor=by,
        actor_label="" if by else SYSTEM_LABEL,
        context=context,
        target=export,
        patient=export.patient,
        details={"reason": export.reason, "channel": channel},
        personal={"recipient": export.recipient},
    )
    # A downloadable export is a built one, with its archive.
    chunks = storage.blob_iter(export.blob)  # type: ignore[arg-type]
    first = next(chunks, b"")

    def stream() -> Iterator[bytes]:
        yield first
        yield from chunks

    return stream()


def export_expire(*, export: Export) -> None:
    """Delete an expired export's object (crypto-shred, then remove), audited."""
    if export.blob is not None and not export.blob.is_shredded:
        storage.blob_shred(export.blob)
    export.state = ExportState.EXPIRED
    export.expired_at = timezone.now()
    export.save(update_fields=["state", "expired_at"])
    record(
        clinic=export.clinic,
        action="export.expired",
        actor_label="system",
        target=export,
        patient=export.patient,
        personal={"recipient": export.recipient},
    )


def exports_expire_due(*, clinic: Clinic) -> int:
    """Expire every export of ``clinic`` past its time (the beat task calls this per clinic)."""
    due = Export.objects.filter(
        clinic=clinic, state=ExportState.READY, expires_at__lte=timezone.now()
    ).select_related("clinic", "patient", "blob")
    count = 0
    for export in due:
        export_expire(export=export)
        count += 1
    return count
