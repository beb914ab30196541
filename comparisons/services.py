"""Making comparisons (pair checks, the proposed alignment, warnings), rendering them in the
worker, and sharing them with the patient. Each change is audited in its transaction; the
files are rendered by the worker after commit (an outbox job with ids only)."""

from __future__ import annotations

import math
from datetime import date

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.context import AuditContext
from audit.services import record
from clinic.mail import send_clinic_mail
from clinic.models import Clinic, User
from clinic.tenancy import service_write
from clinic.tokens import lifetime_text, new_token
from comparisons import alignment, render, selectors
from comparisons.models import (
    Comparison,
    ComparisonBlobPurpose,
    ComparisonShare,
    ComparisonStatus,
)
from consent import selectors as consent_selectors
from consent.models import ConsentUse
from links.services import check_usable, confirm_date_of_birth
from patients.models import Patient
from photos.models import Photo, PhotoStatus
from vault import storage

# What a nudge may reach: beyond these the page's controls stop (and the server refuses).
MIN_RELATIVE_SCALE, MAX_RELATIVE_SCALE = 0.25, 4.0


class ComparisonRefused(Exception):
    """A comparison (or a share) that cannot be made; the message says why, for the person."""


# --- the pair -----------------------------------------------------------------------------------


def pair_check(
    *, patient: Patient, before: Photo | None, after: Photo | None
) -> tuple[Photo, Photo]:
    """Refuse a pair that cannot be compared, saying why (ComparisonRefused); else the pair."""
    if before is None or after is None:
        raise ComparisonRefused("Choose two photos to compare.")
    if before.pk == after.pk:
        raise ComparisonRefused("Choose two different photos: a before and an after.")
    if before.patient_id != after.patient_id or before.patient_id != patient.pk:
        raise ComparisonRefused(
            "These photos are of two different patients; a comparison is of one patient."
        )
    for photo, which in ((before, "before"), (after, "after")):
        if photo.deleted_at:
            raise ComparisonRefused(f"The {which} photo has been deleted.")
        if photo.status != PhotoStatus.READY:
            raise ComparisonRefused(
                f"The {which} photo is not ready yet ({photo.get_status_display().lower()}); "
                "try again when its thumbnail shows."
            )
    return before, after


def metadata_warnings(before: Photo, after: Photo) -> list[alignment.Warning]:
    """What the photos' own details say differs: view and area."""
    warnings = []
    if before.view != after.view:
        warnings.append(
            alignment.Warning(
                "view",
                f"Different view: the before is {before.get_view_display()}, the after "
                f"{after.get_view_display()}; the face is seen from another angle.",
            )
        )
    if before.area != after.area:
        warnings.append(
            alignment.Warning(
                "area",
                f"Different area: the before shows {before.get_area_display()}, the after "
                f"{after.get_area_display()}.",
            )
        )
    return warnings


def _decoded(photo: Photo):
    # Only ready photos are compared (pair_check), and a ready photo has its display copy.
    return alignment.decode(storage.blob_read(photo.display))  # type: ignore[arg-type]


def _size(image) -> tuple[int, int]:
    return image.shape[1], image.shape[0]


def assess(
    comparison: Comparison, before_image, after_image, transform: alignment.Transform
) -> tuple[list[dict], dict]:
    """Every warning for the pair under ``transform``, with the light measured on the overlap."""
    proposal = comparison.proposal
    warnings = metadata_warnings(comparison.before, comparison.after)
    warnings += alignment.geometry_warnings(
        proposal["found"],
        transform,
        _size(before_image),
        _size(after_image),
        (proposal["inliers"], proposal["matches"]),
    )
    light: dict = {}
    box = alignment.crop_box(_size(before_image), _size(after_image), transform)
    if box is None:
        warnings.append(
            alignment.Warning("overlap", "The two photos barely overlap as they are lined up.")
        )
    else:
        placed = alignment.warp(before_image, after_image, transform)
        light = alignment.light_difference(before_image, placed, box)
        warnings += alignment.light_warnings(light)
    return [w.as_dict() for w in warnings], light


def comparison_create(
    *,
    clinic: Clinic,
    patient: Patient,
    before: Photo | None,
    after: Photo | None,
    by: User,
    context: AuditContext | None = None,
) -> Comparison:
    """Start a comparison of two ready photos of the patient, with the alignment the images
    propose and the warnings that go with it. Raises ComparisonRefused."""
    before, after = pair_check(patient=patient, before=before, after=after)
    before_image, after_image = _decoded(before), _decoded(after)
    proposal = alignment.propose(before_image, after_image)
    with transaction.atomic():
        comparison = Comparison(
            clinic=clinic,
            patient=patient,
            before=before,
            after=after,
            created_by=by,
            proposal={
                **proposal.as_dict(),
                "before_size": list(_size(before_image)),
                "after_size": list(_size(after_image)),
            },
            transform=proposal.transform.as_dict(),
        )
        comparison.warnings, comparison.light = assess(
            comparison, before_image, after_image, proposal.transform
        )
        comparison.save(force_insert=True)
        record(
            clinic=clinic,
            action="comparison.created",
            actor=by,
            context=context,
            target=comparison,
            patient=patient,
            details={
                "before": str(before.pk),
                "after": str(after.pk),
                "alignment_found": proposal.found,
                "inliers": proposal.inliers,
                "warnings": [w["code"] for w in comparison.warnings],
            },
        )
    return comparison


def transform_check(comparison: Comparison, data: dict) -> alignment.Transform:
    """A transform sent by the page, refused (ComparisonRefused) unless it is finite, within
    the nudge limits and leaves the photos overlapping."""
    try:
        transform = alignment.Transform.from_dict(data)
    except (KeyError, TypeError, ValueError) as error:
        raise ComparisonRefused("The alignment sent was not understood; nothing changed.") from (
            error
        )
    before_height = comparison.proposal["before_size"][1]
    after_height = comparison.proposal["after_size"][1]
    relative = transform.scale * after_height / before_height
    if not MIN_RELATIVE_SCALE <= relative <= MAX_RELATIVE_SCALE:
        raise ComparisonRefused(
            f"That scale ({relative:.2f}×) is outside what a comparison allows "
            f"({MIN_RELATIVE_SCALE}× to {MAX_RELATIVE_SCALE:.0f}×); nothing changed."
        )
    if not all(abs(v) < 100_000 for v in (transform.tx, transform.ty)) or not math.isfinite(
        transform.rotation
    ):
        raise ComparisonRefused("The alignment sent was not understood; nothing changed.")
    return transform


def comparison_render_request(
    *,
    clinic: Clinic,
    comparison: Comparison,
    by: User,
    transform: dict,
    show_full_name: bool = False,
    context: AuditContext | None = None,
) -> Comparison:
    """Keep the transform the practitioner settled on and have the worker render the image
    and PDF for it (the latest request wins)."""
    from comparisons.tasks import render_comparison

    checked = transform_check(comparison, transform)
    with transaction.atomic():
        locked = Comparison.objects.select_for_update().get(clinic=clinic, pk=comparison.pk)
        locked.transform = checked.as_dict()
        locked.show_full_name = bool(show_full_name)
        locked.status = ComparisonStatus.RENDERING
        locked.render_version += 1
        locked.failure_reason = ""
        locked.save(
            update_fields=[
                "transform",
                "show_full_name",
                "status",
                "render_version",
                "failure_reason",
            ]
        )
        record(
            clinic=clinic,
            action="comparison.render_requested",
            actor=by,
            context=context,
            target=locked,
            patient=locked.patient_id,
            details={
                "transform": locked.transform,
                "nudged": _nudged(locked),
                "full_name": locked.show_full_name,
            },
        )
        render_comparison.delay_on_commit(
            clinic_id=str(clinic.id),
            comparison_id=str(locked.pk),
            version=locked.render_version,
        )
    return locked


def _nudged(comparison: Comparison) -> bool:
    proposed = comparison.proposal
    return any(
        abs(float(comparison.transform[k]) - float(proposed[k])) > 1e-6
        for k in ("scale", "rotation", "tx", "ty")
    )


def comparison_render(*, clinic_id, comparison_id, version: int) -> str:
    """Render the image and PDF for the latest requested transform and store both encrypted
    (run by the worker in the outbox job's transaction; a stale request does nothing)."""
    comparison = selectors.comparison_to_render(clinic_id=clinic_id, comparison_id=comparison_id)
    if comparison is None or comparison.render_version != version:
        return "skipped"
    if comparison.status == ComparisonStatus.READY:
        return "already rendered"
    before, after = comparison.before, comparison.after
    try:
        before_image, after_image = _decoded(before), _decoded(after)
        transform = alignment.Transform.from_dict(comparison.transform)
        picture = render.aligned_image(
            before_image,
            after_image,
            transform,
            (selectors.photo_label(before), selectors.photo_label(after)),
        )
    except (storage.BlobUnreadable, ValueError) as error:
        comparison.status = ComparisonStatus.FAILED
        comparison.failure_reason = f"The comparison could not be made: {error}."[:300]
        comparison.save(update_fields=["status", "failure_reason"])
        return "failed"
    comparison.warnings, comparison.light = assess(comparison, before_image, after_image, transform)
    now = timezone.now()
    context = selectors.comparison_pdf_context(
        comparison,
        transform=transform,
        crop=picture.box,
        relative_scale=transform.scale * after_image.shape[0] / max(1, before_image.shape[0]),
        nudged=_nudged(comparison),
        rendered_at=now,
    )
    logo = comparison.clinic.logo
    pdf = render.comparison_pdf(context, picture=picture.jpeg, logo=bytes(logo) if logo else None)
    shredded = _store_renditions(comparison, image=picture.jpeg, pdf=pdf, box=picture.box, at=now)
    record(
        clinic=comparison.clinic,
        action="comparison.rendered",
        target=comparison,
        patient=comparison.patient_id,
        actor_label="worker",
        details={
            "transform": comparison.transform,
            "warnings": [w["code"] for w in comparison.warnings],
            "before_sha256": before.original_sha256,
            "after_sha256": after.original_sha256,
            "superseded_files_shredded": shredded,
        },
    )
    return "rendered"


def _store_renditions(comparison: Comparison, *, image: bytes, pdf: bytes, box, at) -> int:
    """Store the new image and PDF encrypted, mark the comparison ready, and shred the files
    of an earlier render (with no row pointing at them they would be out of reach of the
    patient's erasure). Returns how many earlier files were shredded."""
    clinic_id = comparison.clinic_id
    superseded = [blob for blob in (comparison.image, comparison.pdf) if blob is not None]
    comparison.image = storage.blob_store(
        clinic_id=clinic_id, purpose=ComparisonBlobPurpose.IMAGE, data=image
    )
    comparison.pdf = storage.blob_store(
        clinic_id=clinic_id, purpose=ComparisonBlobPurpose.PDF, data=pdf
    )
    comparison.status = ComparisonStatus.READY
    comparison.rendered_at = at
    comparison.rendered_crop = list(box)
    comparison.save(
        update_fields=[
            "image",
            "pdf",
            "status",
            "rendered_at",
            "rendered_crop",
            "warnings",
            "light",
        ]
    )
    for blob in superseded:
        storage.blob_shred(blob)
    return len(superseded)


def comparison_file_served(
    *, clinic: Clinic, comparison: Comparison, which: str, by: User, context: AuditContext | None
) -> bytes:
    """The rendered image or PDF, decrypted; every view or download is on record."""
    blob = comparison.image if which == "image" else comparison.pdf
    # Served once rendered (the views check is_ready): both files exist.
    data = storage.blob_read(blob)  # type: ignore[arg-type]
    record(
        clinic=clinic,
        action=f"comparison.{which}_viewed",
        actor=by,
        context=context,
        target=comparison,
        patient=comparison.patient_id,
    )
    return data


def pair_alignment(*, clinic: Clinic, before: Photo, after: Photo) -> dict | None:
    """How to lay the after on the before for showing them in the room: the latest
    comparison's transform of this pair, else the images' own proposal; None if unreadable."""
    made = (
        Comparison.objects.filter(clinic=clinic, before=before, after=after)
        .order_by("-created_at")
        .first()
    )
    if made is not None:
        return {"transform": made.transform, "before_size": made.proposal["before_size"]}
    try:
        before_image, after_image = _decoded(before), _decoded(after)
    except (storage.BlobUnreadable, storage.StorageUnavailable, ValueError):
        return None
    proposal = alignment.propose(before_image, after_image)
    return {"transform": proposal.transform.as_dict(), "before_size": list(_size(before_image))}


def presentation_opened(
    *, clinic: Clinic, patient: Patient, by: User, pairs: int, context: AuditContext | None
) -> None:
    """Showing photos to the patient in the room is a viewing like any other."""
    record(
        clinic=clinic,
        action="comparison.presented",
        actor=by,
        context=context,
        target=patient,
        patient=patient,
        details={"pairs": pairs},
    )


# --- sharing with the patient -----------------------------------------------------------------


def share_send(
    *, clinic: Clinic, comparison: Comparison, by: User, context: AuditContext | None = None
) -> ComparisonShare:
    """E-mail the patient a link to the rendered comparison; refused while the patient has no
    active consent for the clinical record (ComparisonRefused)."""
    from comparisons.tasks import send_share_email

    patient = comparison.patient
    if patient.archived_at:
        raise ComparisonRefused("This patient is archived; restore them to share anything.")
    if comparison.status != ComparisonStatus.READY:
        raise ComparisonRefused("Make the image and PDF first; then share them.")
    if not patient.email:
        raise ComparisonRefused("Add the patient's e-mail address first.")
    _, hashed = new_token()  # a placeholder: the token is made when the e-mail leaves
    with transaction.atomic():
        active = consent_selectors.active_uses(clinic=clinic, patient=patient)
        if ConsentUse.CLINICAL_RECORD not in active:
            raise ComparisonRefused(
                f"{patient.full_name} has no active consent for the clinical record, so "
                "nothing can be sent. Send a consent request first."
            )
        share = ComparisonShare.objects.create(
            clinic=clinic,
            comparison=comparison,
            patient=patient,
            token_hash=hashed,
            sent_to=patient.email,
            sent_by=by,
            expires_at=timezone.now() + settings.COMPARISON_LINK_LIFETIME,
        )
        record(
            clinic=clinic,
            action="comparison.shared",
            actor=by,
            context=context,
            target=share,
            patient=patient,
            details={"comparison": str(comparison.pk)},
            personal={"sent_to": patient.email},
        )
        send_share_email.delay_on_commit(clinic_id=str(clinic.id), share_id=str(share.pk))
    return share


def share_email(*, clinic_id, share_id) -> str:
    """Send a share's e-mail with a fresh token (its hash replaces the placeholder). Run by
    the worker, in the outbox job's transaction."""
    share = (
        ComparisonShare.objects.select_for_update(of=("self",))
        .select_related("clinic", "patient", "sent_by")
        .filter(clinic_id=clinic_id, pk=share_id)
        .first()
    )
    if share is None or share.emailed_at or share.state != "sending":
        return "skipped"
    clinic = share.clinic
    token, share.token_hash = new_token()
    url = settings.SITE_URL + reverse(
        "comparison_share_start", kwargs={"clinic": clinic.slug, "token": token}
    )
    body = render_to_string(
        "comparisons/email/share.txt",
        {
            "clinic": clinic,
            "patient": share.patient,
            "share": share,
            "url": url,
            "lifetime": lifetime_text(settings.COMPARISON_LINK_LIFETIME),
            "sender": share.sent_by,
        },
    )
    share.emailed_at = timezone.now()
    share.save(update_fields=["token_hash", "emailed_at"])
    send_clinic_mail(
        clinic=clinic,
        subject=f"{clinic.name}: your before and after photos",
        body=body,
        to=[share.sent_to],
    )
    return "sent"


@transaction.atomic
def share_revoke(
    *,
    clinic: Clinic,
    share: ComparisonShare,
    by: User | None,
    reason: str = "revoked by the clinic",
    context: AuditContext | None = None,
) -> ComparisonShare:
    """Stop a share link working at once."""
    if share.revoked_at is None:
        share.revoked_at = timezone.now()
        share.revoked_reason = reason[:200]
        share.save(update_fields=["revoked_at", "revoked_reason"])
        record(
            clinic=clinic,
            action="comparison.share_revoked",
            actor=by,
            context=context,
            target=share,
            patient=share.patient_id,
            details={"reason": share.revoked_reason},
        )
    return share


def shares_revoke_on_withdrawal(*, clinic, patient, uses, withdrawal, context=None) -> None:
    """Consent hook: withdrawing the clinical-record use revokes the patient's open shares."""
    from comparisons import selectors

    if ConsentUse.CLINICAL_RECORD not in uses:
        return
    now = timezone.now()
    shares = selectors.open_shares_of(clinic=clinic, patient=patient)
    ids = [str(pk) for pk in shares.values_list("pk", flat=True)]
    if not ids:
        return
    with service_write("withdrawn consent revokes open comparison shares, audited below"):
        shares.update(revoked_at=now, revoked_reason="consent withdrawn")
    record(
        clinic=clinic,
        action="comparison.shares_revoked",
        context=context,
        target=withdrawal,
        patient=patient,
        actor_label="consent withdrawal",
        details={"shares": ids},
    )


def share_confirm_identity(
    *, share: ComparisonShare, date_of_birth: date, context: AuditContext | None = None
) -> bool:
    """The patient confirms their date of birth, so a forwarded e-mail is not enough. Five
    wrong answers lock the link (LinkUnusable)."""
    return confirm_date_of_birth(
        link=share,
        date_of_birth=date_of_birth,
        opened_action="comparison.share_opened",
        failed_action="comparison.share_identity_failed",
        context=context,
    )


def share_viewed(
    *, share: ComparisonShare, what: str, context: AuditContext | None = None
) -> bytes | None:
    """The patient looks at the shared comparison (the page, the image or the PDF): counted
    and on record. Returns the file's bytes for 'image' and 'pdf'."""
    with transaction.atomic():
        locked = ComparisonShare.objects.select_for_update().get(
            clinic_id=share.clinic_id, pk=share.pk
        )
        check_usable(locked, kind=ComparisonShare)
        locked.views += 1
        locked.last_viewed_at = timezone.now()
        locked.save(update_fields=["views", "last_viewed_at"])
        record(
            clinic=locked.clinic_id,
            action=f"comparison.share_{what}_viewed",
            context=context,
            target=locked,
            patient=locked.patient_id,
            by_patient=True,
        )
    comparison = share.comparison
    # Only a rendered comparison can be shared, so both files exist.
    if what == "image":
        return storage.blob_read(comparison.image)  # type: ignore[arg-type]
    if what == "pdf":
        return storage.blob_read(comparison.pdf)  # type: ignore[arg-type]
    return None
