"""Accepting, processing, serving and deleting photos. Each change is audited in its
transaction; processing is idempotent so a retried or duplicated task does no harm."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.context import AuditContext
from audit.services import record
from clinic import revocation
from clinic.models import Clinic, User
from clinic.outbox import CountedFailure
from patients.models import Patient, TreatmentEpisode
from patients.services import patient_activity, patient_require_active
from patients.vocab import FacialArea
from photos import sandbox, thumbnails
from photos.imaging import (
    MAX_UPLOAD_BYTES,
    ImageRejected,
    Inspection,
    display_name,
    inspect_upload,
)
from photos.models import BlobPurpose, CaptureSequence, Photo, PhotoStatus, Stage, View
from vault import storage

MAX_FILES_PER_REQUEST = 100
RENDITION_NAMESPACE = uuid.UUID("6b1f4c2e-9a51-4d7a-8d0e-2f4a1b7c9e10")
OUT_OF_BOUNDS_MESSAGE = (
    "This photo could not be processed (it needs more memory than allowed). "
    "Upload it again as a JPEG."
)
UNREADABLE_MESSAGE = "The photo could not be read. Please upload it again."


class DecodeFailed(CountedFailure):
    """This decode of the photo went over its bounds or broke; after a few, the photo fails."""


class UploadRefused(ValueError):
    """The whole request is refused (e.g. too many files); nothing was stored."""


def upload_check(*, patient: Patient, file_count: int) -> None:
    """Refuse a whole upload before any file is read: an archived patient, no file, too many."""
    try:
        patient_require_active(patient, to="add photos")
    except ValidationError as error:
        raise UploadRefused(" ".join(error.messages)) from error
    if not file_count:
        raise UploadRefused("Choose at least one photo.")
    if file_count > MAX_FILES_PER_REQUEST:
        raise UploadRefused(
            f"{file_count} files at once is too many: send at most "
            f"{MAX_FILES_PER_REQUEST} at a time. Nothing was stored."
        )


def upload_size_check(*, filename: str, size: int, over_limit: bool = False) -> None:
    """Refuse one file by its real size before it is read (ImageRejected, with its name)."""
    name = display_name(filename)
    if size > MAX_UPLOAD_BYTES:
        raise ImageRejected(
            f"{name} is {size / 2**20:.0f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB "
            "per photo.",
            "too_large",
        )
    if over_limit:
        raise ImageRejected(
            f"{name} did not fit in this upload with the others; send fewer photos at a time.",
            "too_large",
        )


@dataclass(frozen=True)
class PhotoDetails:
    episode: TreatmentEpisode
    stage: str
    area: str
    view: str
    taken_at: datetime | None
    notes: str = ""


def photo_accept(
    *,
    clinic: Clinic,
    patient: Patient,
    by: User,
    details: PhotoDetails,
    filename: str,
    data: bytes,
    context: AuditContext | None = None,
) -> Photo:
    """Check one uploaded file by its content, record the original's SHA-256, store it
    encrypted and queue its processing. Raises ImageRejected with a message for the user
    (UploadRefused for an archived patient)."""
    upload_check(patient=patient, file_count=1)
    inspection: Inspection = inspect_upload(data, filename)
    digest = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        # The original must survive a storage outage once accepted: stage it if need be.
        original = storage.blob_store(
            clinic_id=clinic.id, purpose=BlobPurpose.ORIGINAL, data=data, stage_if_unavailable=True
        )
        taken_at = details.taken_at or _exif_time(inspection) or timezone.now()
        photo = Photo.objects.create(
            clinic=clinic,
            patient=patient,
            episode=details.episode,
            stage=details.stage,
            area=details.area,
            view=details.view,
            taken_at=taken_at,
            taken_by=by,
            notes=details.notes,
            original=original,
            original_name=display_name(filename),
            original_mime=inspection.mime,
            original_size=len(data),
            original_sha256=digest,
            width=inspection.width,
            height=inspection.height,
        )
        record(
            clinic=clinic,
            action="photo.uploaded",
            actor=by,
            context=context,
            target=photo,
            patient=patient,
            details={
                "sha256": digest,
                "bytes": len(data),
                "format": inspection.format,
                "episode": str(details.episode.pk),
                "stage": details.stage,
                "area": details.area,
                "view": details.view,
            },
        )
        patient_activity(patient=patient)
        enqueue_processing(clinic.id, photo.id)
    return photo


def _exif_time(inspection: Inspection) -> datetime | None:
    if inspection.taken_at is None:
        return None
    when = inspection.taken_at
    if timezone.is_naive(when):
        when = timezone.make_aware(when)
    return when if when <= timezone.now() else None


def enqueue_processing(clinic_id, photo_id) -> None:
    """Owe the photo's processing in the current transaction (an outbox job)."""
    from photos.tasks import process_photo

    process_photo.delay_on_commit(clinic_id=str(clinic_id), photo_id=str(photo_id))


def rendition_id(photo: Photo, purpose: str) -> uuid.UUID:
    """Renditions have fixed ids, so a retried task overwrites rather than duplicates them."""
    return uuid.uuid5(RENDITION_NAMESPACE, f"{photo.id}:{purpose}")


def photo_process(*, clinic_id, photo_id, earlier_failures: int = 0) -> str:
    """Make the renditions of one photo. Idempotent: a ready or failed photo is left alone.

    The decode runs in a child under a memory limit. A file that is not a photo fails at once;
    one that goes over the limit raises DecodeFailed (retried) and fails after
    PHOTO_DECODE_ATTEMPTS. Errors that are not the photo's fault (storage, keys) propagate and
    are retried without limit: they never turn into "upload it again"."""
    with transaction.atomic():
        photo = (
            Photo.objects.select_for_update()
            .select_related("original")
            .filter(clinic_id=clinic_id, pk=photo_id)
            .first()
        )
        if photo is None or photo.status != PhotoStatus.PROCESSING:
            return "skipped"
        storage.blob_flush_staged(photo.original)
        original = storage.blob_read(photo.original)
        try:
            renditions = sandbox.renditions_within(
                original,
                memory_mb=settings.PHOTO_DECODE_MEMORY_MB,
                timeout=settings.PHOTO_DECODE_TIMEOUT,
            )
        except ImageRejected as error:
            return _photo_failed(photo, str(error))
        except (sandbox.OutOfBounds, sandbox.DecoderBroke) as error:
            bounds = isinstance(error, sandbox.OutOfBounds)
            if earlier_failures + 1 >= settings.PHOTO_DECODE_ATTEMPTS:
                message = OUT_OF_BOUNDS_MESSAGE if bounds else UNREADABLE_MESSAGE
                return _photo_failed(photo, message, cause=str(error))
            raise DecodeFailed(str(error)) from error
        photo.display = storage.blob_store(
            clinic_id=clinic_id,
            purpose=BlobPurpose.DISPLAY,
            data=renditions.display,
            blob_id=rendition_id(photo, BlobPurpose.DISPLAY),
        )
        photo.thumb = storage.blob_store(
            clinic_id=clinic_id,
            purpose=BlobPurpose.THUMB,
            data=renditions.thumb,
            blob_id=rendition_id(photo, BlobPurpose.THUMB),
        )
        photo.status = PhotoStatus.READY
        photo.processed_at = timezone.now()
        photo.save(update_fields=["display", "thumb", "status", "processed_at", "updated_at"])
        record(
            clinic=clinic_id,
            action="photo.processed",
            target=photo,
            patient=photo.patient_id,
            details={"display": [renditions.width, renditions.height]},
        )
    return "ready"


def _photo_failed(photo: Photo, reason: str, cause: str = "") -> str:
    photo.status = PhotoStatus.FAILED
    photo.failure_reason = reason[:300]
    photo.save(update_fields=["status", "failure_reason", "updated_at"])
    details = {"reason": reason[:300]}
    if cause:
        details["cause"] = cause[:300]
    record(
        clinic=photo.clinic_id,
        action="photo.failed",
        target=photo,
        patient=photo.patient_id,
        details=details,
    )
    return "failed"


# A page that shows a grid of thumbnails records them in one event and hands each thumbnail
# URL a grant (photos.thumbnails): the signed event seq, photo, member and session. A thumbnail
# fetched with a valid grant (same member, same photo, within the lifetime) is already on
# record and writes nothing more.
def thumbnails_shown(
    *,
    clinic: Clinic,
    patient: Patient,
    photos: list[Photo],
    by: User,
    context: AuditContext | None = None,
    session_key: str | None = None,
) -> dict[uuid.UUID, str]:
    """Record that ``by`` was shown the thumbnails of ``photos`` (the ready ones) as one
    ``photo.thumbnails_viewed`` event listing them; return each photo's thumbnail grant (bound
    to the member's session, ``session_key``, when there is one)."""
    from audit.access import listed

    ready = [p for p in photos if p.status == PhotoStatus.READY]
    if not ready:
        return {}
    event = record(
        clinic=clinic,
        action="photo.thumbnails_viewed",
        actor=by,
        context=context,
        patient=patient,
        details={"rendition": "thumb", **listed(p.pk for p in ready)},
    )
    revocation.started()  # once a page, so a cache restarted since honours no older grant
    return {
        p.pk: thumbnails.make_grant(
            seq=event.seq, photo_id=p.pk, user_id=by.pk, session_key=session_key
        )
        for p in ready
    }


def thumbnail_granted(grant: str, *, photo: Photo, by: User) -> int | None:
    """The seq of the event that already recorded ``by`` seeing this thumbnail, if ``grant``
    is one ``thumbnails_shown`` made for them and this photo and it has not expired."""
    granted = thumbnails.read_grant(grant)
    if granted is None:
        return None
    seq, photo_id, user_id, _, _ = granted
    if photo_id != str(photo.pk) or user_id != str(by.pk):
        return None
    return seq


def photo_served(
    *,
    clinic: Clinic,
    photo: Photo,
    rendition: str,
    by: User,
    context: AuditContext | None = None,
    grant: str = "",
) -> bytes:
    """The decrypted bytes of a rendition (or the original), recorded as an access (unless a
    thumbnail's grant says its page already recorded it)."""
    if rendition not in ("thumb", "display", "original"):
        raise ValueError(f"no rendition {rendition!r}")
    blob = getattr(photo, rendition)
    if blob is None:
        raise storage.BlobUnreadable("this photo has no such rendition yet")
    # Renditions are shown again and again: their ciphertext may come from the vault's cache.
    data = storage.blob_read(blob, cache=rendition != "original")
    if rendition == "thumb" and thumbnail_granted(grant, photo=photo, by=by) is not None:
        return data
    action = "photo.downloaded" if rendition == "original" else "photo.viewed"
    record(
        clinic=clinic,
        action=action,
        actor=by,
        context=context,
        target=photo,
        patient=photo.patient_id,
        details={"rendition": rendition},
    )
    return data


@transaction.atomic
def photo_retake(
    *,
    clinic: Clinic,
    patient: Patient,
    replaced: Photo,
    by: User,
    details: PhotoDetails,
    filename: str,
    data: bytes,
    context: AuditContext | None = None,
) -> Photo:
    """A guided-capture retake: the new shot accepted and the earlier shot of the step deleted
    in one transaction, so neither happens without the other (a refused new shot leaves the
    earlier one where it was)."""
    if replaced.patient_id != patient.pk:
        raise ValueError("a retake replaces a photo of the same patient")
    photo = photo_accept(
        clinic=clinic,
        patient=patient,
        by=by,
        details=details,
        filename=filename,
        data=data,
        context=context,
    )
    photo_delete(
        clinic=clinic, photo=replaced, by=by, reason="Retaken in guided capture", context=context
    )
    return photo


@transaction.atomic
def photo_delete(
    *, clinic: Clinic, photo: Photo, by: User, reason: str, context: AuditContext | None = None
) -> Photo:
    """Soft delete with a reason: hidden everywhere at once; the encrypted objects stay until
    the retention rules allow their keys to be destroyed."""
    reason = reason.strip()
    if not reason:
        raise ValueError("Give a reason for deleting the photo.")
    photo.deleted_at = timezone.now()
    photo.deleted_by = by
    photo.delete_reason = reason[:300]
    photo.save(update_fields=["deleted_at", "deleted_by", "delete_reason", "updated_at"])
    # Thumbnails granted before now are no longer answered from memory, in any process.
    thumbnails.remembered.forget(photo.pk)
    revocation.revoke(revocation.clinic_scope(clinic.pk))
    record(
        clinic=clinic,
        action="photo.deleted",
        actor=by,
        context=context,
        target=photo,
        patient=photo.patient_id,
        details={"reason": reason[:300]},
    )
    return photo


@transaction.atomic
def photo_details_correct(
    *,
    clinic: Clinic,
    photo: Photo,
    by: User,
    stage: str,
    area: str,
    view: str,
    context: AuditContext | None = None,
) -> dict[str, list[str]]:
    """Correct what a photo shows (stage, area, view), audited with the old and new values.
    The original and its SHA-256 are untouched: only the facts filed with it change.
    Returns the changes (empty when nothing changed, and then nothing is recorded)."""
    wanted = {"stage": stage, "area": area, "view": view}
    if stage not in Stage.values or area not in FacialArea.values or view not in View.values:
        raise ValueError("Choose a stage, area and view from the lists.")
    changes = {
        field: [getattr(photo, field), value]
        for field, value in wanted.items()
        if getattr(photo, field) != value
    }
    if not changes:
        return changes
    for field, (_, value) in changes.items():
        setattr(photo, field, value)
    photo.save(update_fields=[*changes, "updated_at"])
    record(
        clinic=clinic,
        action="photo.details_corrected",
        actor=by,
        context=context,
        target=photo,
        patient=photo.patient_id,
        details={"changes": changes, "sha256": photo.original_sha256},
    )
    return changes


def photos_requeue(*, clinic: Clinic, failed: bool = False) -> int:
    """Queue the clinic's photos again: those still processing, or with ``failed`` those that
    failed (e.g. after the memory limit was raised). Audited per photo."""
    status = PhotoStatus.FAILED if failed else PhotoStatus.PROCESSING
    photos = list(
        Photo.objects.select_for_update().filter(
            clinic=clinic, status=status, deleted_at__isnull=True
        )
    )
    for photo in photos:
        if failed:
            photo.status = PhotoStatus.PROCESSING
            photo.failure_reason = ""
            photo.save(update_fields=["status", "failure_reason", "updated_at"])
        record(
            clinic=clinic,
            action="photo.requeued",
            target=photo,
            patient=photo.patient_id,
            details={"was": status},
        )
        enqueue_processing(clinic.id, photo.id)
    return len(photos)


@transaction.atomic
def sequence_set(
    *,
    clinic: Clinic,
    treatment_type: str,
    views: list[str],
    by: User,
    context: AuditContext | None = None,
) -> CaptureSequence:
    """Set the views guided capture takes for a treatment type (in the order given), audited
    with the old and new lists. At least one view; each view once."""
    from patients.vocab import TreatmentType

    if treatment_type not in TreatmentType.values:
        raise ValidationError("Choose a treatment type from the list.")
    chosen = [v for v in dict.fromkeys(views) if v in View.values]
    if len(chosen) != len(views) or not chosen:
        raise ValidationError("Choose at least one view, each from the list and once.")
    sequence = CaptureSequence.objects.filter(clinic=clinic, treatment_type=treatment_type).first()
    before = list(sequence.views) if sequence else None
    if sequence is None:
        sequence = CaptureSequence(clinic=clinic, treatment_type=treatment_type, views=chosen)
    sequence.views = chosen
    sequence.save()
    record(
        clinic=clinic,
        action="photos.sequence_changed",
        actor=by,
        context=context,
        target=sequence,
        details={"treatment_type": treatment_type, "before": before, "after": chosen},
    )
    return sequence
