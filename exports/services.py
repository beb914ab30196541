"""Exports: asking for one (audited, naming the recipient), building it in the worker,
handing it over (audited again), and deleting it when it expires."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from audit import checkpoints
from audit.context import AuditContext
from audit.services import record
from clinic.models import Clinic, User
from exports import bundle, contents, signing, timestamping, verification
from exports.models import Export, ExportBlobPurpose, ExportReason, ExportState
from exports.pdf_child import render_in_child
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


# What each folder of a bundle holds, for VERIFY.txt (other rooms' parts add theirs).
FOLDERS = {
    "originals/": "the photos exactly as uploaded (with the camera's metadata, location included)",
    "renditions/": "display copies with all metadata (location, device) removed",
    "consent/": "the signed consent forms as PDF",
    "audit/": "the audit checkpoint written as this bundle was made",
    "timestamp/": "the trusted timestamp of manifest.json (RFC 3161) and the authority's CA",
}


def _folders(paths: list[str]) -> list[tuple[str, str]]:
    described = {**FOLDERS, **contents.part_folders()}
    found = sorted({p.split("/", 1)[0] + "/" for p in paths if "/" in p})
    return [(name, described.get(name, "")) for name in found]


def _verify_text(
    export: Export,
    key,
    generated,
    *,
    paths: list[str],
    stamped: bool,
    stamp_problem: str,
    checkpoint: dict,
) -> bytes:
    return render_to_string(
        "exports/VERIFY.txt",
        {
            "clinic": export.clinic.name,
            "generated": f"{generated:%Y-%m-%d %H:%M}",
            "recipient": export.recipient,
            "reason": export.get_reason_display(),
            "export_id": export.pk,
            "fingerprint": key.fingerprint,
            "key_url": signing.key_url(export.clinic, key),
            "key_page_url": signing.key_page_url(export.clinic),
            "subject_access": export.is_subject_access,
            "folders": _folders(paths),
            "timestamp": stamped,
            "tsa_ca": stamped and bool(settings.EXPORT_TSA_CA_FILE),
            "tsa_url": settings.EXPORT_TSA_URL,
            "tsa_asked": timestamping.enabled(),
            "stamp_problem": stamp_problem,
            "checkpoint": checkpoint,
        },
    ).encode()


def _manifest_head(
    export: Export, key, record_: contents.Record, generated, checkpoint: dict
) -> dict[str, Any]:
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
        "audit_checkpoint": checkpoint,
        "signature": {
            "algorithm": "Ed25519",
            "signs": bundle.SUMS,
            "file": bundle.SUMS_SIGNATURE,
            "public_key": bundle.PUBLIC_KEY,
            "public_key_sha256": key.fingerprint,
            "published_at": signing.key_url(export.clinic, key),
            "all_keys_at": signing.key_page_url(export.clinic),
        },
        "timestamp": (
            {"file": timestamping.TOKEN_PATH, "authority": settings.EXPORT_TSA_URL}
            if timestamping.enabled()
            else None
        ),
    }


def _checkpoint_now(clinic_id) -> dict[str, Any]:
    """Write (or reuse) the clinic's audit checkpoint before the bundle is read, so every event
    up to the export is vouched for outside the database; what the bundle carries of it. A
    chain that no longer matches its last checkpoint is named, not hidden."""
    try:
        written = checkpoints.write(clinic_id)
    except checkpoints.CheckpointRefused as refusal:
        logger.error("export: no audit checkpoint for clinic %s: %s", clinic_id, refusal)
        return {"written": False, "problem": str(refusal)}
    if written is None:
        return {"written": False, "problem": "the audit trail has no entries yet"}
    return {
        "written": True,
        "object": written.name,
        "seq": written.seq,
        "head_hash": written.head_hash,
        "count": written.count,
        "created_at": written.created_at.isoformat(),
    }


def _stamper(export: Export, outcome: dict[str, Any]):
    """The archive's timestamp step: the authority's token over manifest.json, or nothing
    (with the reason kept in ``outcome``) when it cannot be had; never fails the export."""
    if not timestamping.enabled():
        return None

    def stamp(manifest: bytes) -> list[bundle.BundleFile]:
        try:
            got = timestamping.request_stamp(manifest)
        except timestamping.TimestampUnavailable as error:
            logger.error("export %s has no trusted timestamp: %s", export.pk, error)
            outcome["problem"] = str(error)
            return []
        outcome["at"] = got.at
        return timestamping.bundle_files(got)

    return stamp


def export_build(*, clinic_id, export_id) -> str:
    """Build the bundle (the worker's job): checkpoint the audit trail, read the record, stream
    the ZIP through the vault, time-stamp its manifest and sign its SHA256SUMS. Runs in the
    clinic's context; a retried build starts again. Everything the stream needs from the
    database is read before it starts: an S3 upload reads the stream in a thread of its own."""
    export = (
        Export.objects.select_for_update(of=("self",))
        .select_related("clinic", "patient", "episode", "requested_by")
        .get(clinic_id=clinic_id, pk=export_id)
    )
    if export.state != ExportState.QUEUED:
        return f"already {export.state}"
    key = signing.signing_key_ensure(clinic=export.clinic)
    generated = timezone.now()
    checkpoint = _checkpoint_now(export.clinic_id)
    record_ = contents.read_record(export)
    files = contents.files_of(record_)
    if checkpoint["written"]:
        files.append(
            bundle.BundleFile.of_bytes(
                "audit/checkpoint.json",
                "audit checkpoint",
                json.dumps(checkpoint, indent=2).encode() + b"\n",
                compress=True,
            )
        )
    # The summary names the bundle's paths, so it is made once they are known; it goes first.
    summary = bundle.BundleFile.of_bytes(
        "summary.pdf",
        "summary (PDF)",
        contents.summary_pdf(record_, checkpoint=checkpoint),
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
    sealed: list[bundle.Sealed] = []
    stamp_outcome: dict[str, Any] = {}
    paths = [f.path for f in files]

    def on_file(done: int) -> None:
        cache.set(_progress_key(export.pk), min(99, done * 100 // max(total, 1)), 3600)

    stream = bundle.archive(
        files,
        manifest_head=_manifest_head(export, key, record_, generated, checkpoint),
        verify_text=lambda stamped: _verify_text(
            export,
            key,
            generated,
            paths=paths + ([timestamping.TOKEN_PATH] if stamped else []),
            stamped=stamped,
            stamp_problem=stamp_outcome.get("problem", ""),
            checkpoint=checkpoint,
        ),
        public_key_pem=key.public_key_pem.encode(),
        sign=signing.signer(key),
        timestamp=_stamper(export, stamp_outcome),
        on_file=on_file,
        on_sealed=sealed.append,
    )
    blob = storage.blob_store_stream(
        clinic_id=export.clinic_id,
        purpose=ExportBlobPurpose.ARCHIVE,
        src=bundle.ChunkReader(stream),  # type: ignore[arg-type]  # reads like a file; BinaryIO is nominal
    )
    (done,) = sealed
    export.blob = blob
    export.size = blob.size
    # And VERIFY.txt, the key, the manifest, its timestamp files, SHA256SUMS and its signature.
    export.files = total + 5 + (len(bundle_timestamp_files(done)) if done.timestamped else 0)
    export.manifest_sha256 = hashlib.sha256(done.manifest).hexdigest()
    export.sums_sha256 = hashlib.sha256(done.sums).hexdigest()
    export.signing_key = key
    export.timestamped_at = stamp_outcome.get("at")
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
            "sums_sha256": export.sums_sha256,
            "key_fingerprint": key.fingerprint,
            "audit_chain_head": record_.chain_head,
            "audit_checkpoint": checkpoint.get("object", ""),
            "timestamp": (
                "none configured"
                if not timestamping.enabled()
                else stamp_outcome.get("problem") or "trusted timestamp included"
            ),
        },
    )
    cache.delete(_progress_key(export.pk))
    return "ready"


def bundle_timestamp_files(sealed: bundle.Sealed) -> list[str]:
    """The timestamp files a sealed bundle holds (the token, and the CA when configured)."""
    if not sealed.timestamped:
        return []
    return [timestamping.TOKEN_PATH] + (
        [timestamping.CA_PATH] if settings.EXPORT_TSA_CA_FILE else []
    )


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


def _record_handed_over(
    export: Export,
    action: str,
    *,
    by: User | None,
    context: AuditContext | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit something of the export handed to a person (the ZIP, its cover letter): by whom,
    naming the recipient under the patient's key."""
    record(
        clinic=export.clinic,
        action=action,
        actor=by,
        actor_label="" if by else SYSTEM_LABEL,
        context=context,
        target=export,
        patient=export.patient,
        details=details,
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
    _record_handed_over(
        export,
        "export.downloaded",
        by=by,
        context=context,
        details={"reason": export.reason, "channel": channel},
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


def published_keys(*, clinic: Clinic) -> list[verification.PublishedKey]:
    """The clinic's keys as its public key page lists them (current and retired)."""
    return [
        verification.PublishedKey(
            fingerprint=k.fingerprint,
            pem=k.public_key_pem,
            created=f"{k.created_at:%Y-%m-%d}",
            retired=f"{k.retired_at:%Y-%m-%d}" if k.retired_at else "",
        )
        for k in signing.signing_keys(clinic=clinic)
    ]


def bundle_check(
    *,
    clinic: Clinic,
    source,
    by: User | None,
    context: AuditContext | None = None,
    name: str = "",
) -> verification.Report:
    """Check a bundle the clinic received back against its own keys; audited with the outcome
    (the export it claims to be and how many files differ: not their names, which a stranger's
    bundle may fill with anything)."""
    roots = []
    if settings.EXPORT_TSA_CA_FILE:
        from pathlib import Path

        from cryptography import x509

        roots = x509.load_pem_x509_certificates(Path(settings.EXPORT_TSA_CA_FILE).read_bytes())
    report = verification.verify_bundle(source, keys=published_keys(clinic=clinic), tsa_roots=roots)
    record(
        clinic=clinic,
        action="export.bundle_checked",
        actor=by,
        actor_label="" if by else "system (verify_export command)",
        context=context,
        details={
            "ok": report.ok,
            "export_id": _uuid_or_blank(report.manifest.get("export_id")),
            "files_checked": report.files_checked,
            "files_differing": len(report.changed_files),
            "signed_by": report.signed_by.fingerprint if report.signed_by else None,
        },
    )
    return report


def _uuid_or_blank(value) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return ""


def cover_letter_pdf(
    *, export: Export, by: User | None, context: AuditContext | None = None
) -> bytes:
    """The one-page letter the clinic sends apart from the bundle (post, or an e-mail of its
    own): who made the bundle, the SHA-256 of its SHA256SUMS, the signing key's fingerprint and
    where the clinic publishes its keys, and the checks in brief. Audited."""
    key = export.signing_key
    assert key is not None and export.sums_sha256, "a built export"
    html = render_to_string(
        "exports/cover_letter.html",
        {
            "export": export,
            "clinic": export.clinic,
            "patient": export.patient,
            "key": key,
            "key_url": signing.key_url(export.clinic, key),
            "key_page_url": signing.key_page_url(export.clinic),
            "sums_groups": [export.sums_sha256[i : i + 4] for i in range(0, 64, 4)],
            "key_groups": [key.fingerprint[i : i + 4] for i in range(0, 64, 4)],
            "by": by,
            "today": timezone.now(),
        },
    )
    data = render_in_child(html)
    _record_handed_over(export, "export.cover_letter", by=by, context=context)
    return data
