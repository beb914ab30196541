"""Consent changes: templates, requests, signatures, withdrawals and the marketing library.
Each is audited in its own transaction; e-mails and PDFs go to the worker after commit."""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from audit.context import AuditContext
from audit.services import record
from clinic.images import ImageRejected, checked_image
from clinic.mail import send_clinic_mail
from clinic.models import Clinic, User
from clinic.tenancy import service_write
from clinic.tokens import new_token
from consent import defaults, hooks, selectors
from consent.models import (
    MARKETING_USES,
    ConsentBlobPurpose,
    ConsentRecord,
    ConsentRequest,
    ConsentRestoration,
    ConsentTemplate,
    ConsentUse,
    ConsentWithdrawal,
    MarketingItem,
    WithdrawalChannel,
    WithdrawalLink,
)
from consent.pdf import render_consent_pdf
from links.services import check_usable, confirm_date_of_birth
from patients.models import Patient
from patients.services import patient_activity, patient_require_active
from photos.models import Photo, PhotoStatus
from vault import storage

MAX_SIGNATURE_BYTES = 300_000
MAX_SIGNATURE_PIXELS = 4_000_000


class ConsentMissing(Exception):
    """A use of a photo that the patient has not (or no longer) consented to."""


# --- templates ----------------------------------------------------------------------------------


def template_current(*, clinic: Clinic) -> ConsentTemplate:
    """The clinic's current consent form, starting from the shipped default on first use."""
    template = selectors.current_template(clinic=clinic)
    if template is None:
        template = ConsentTemplate.objects.create(
            clinic=clinic,
            version=1,
            title=defaults.TITLE,
            body=defaults.BODY,
            uses_offered=defaults.USES_OFFERED,
            uses_required=defaults.USES_REQUIRED,
            use_texts={str(k): v for k, v in defaults.USE_TEXTS.items()},
        )
    return template


@transaction.atomic
def template_new_version(
    *,
    clinic: Clinic,
    by: User,
    title: str,
    body: str,
    uses_offered: list[str],
    uses_required: list[str],
    use_texts: dict[str, str],
    context: AuditContext | None = None,
) -> ConsentTemplate:
    """Save an edited form as a new version; earlier versions (and what was signed) stay."""
    if not uses_offered:
        raise ValidationError("Offer at least one use.")
    if not set(uses_required) <= set(uses_offered):
        raise ValidationError("A required use must also be offered.")
    current = template_current(clinic=clinic)
    template = ConsentTemplate.objects.create(
        clinic=clinic,
        version=current.version + 1,
        title=title.strip(),
        body=body.strip() + "\n",
        uses_offered=[u for u in ConsentUse.values if u in uses_offered],
        uses_required=[u for u in ConsentUse.values if u in uses_required],
        use_texts={u: use_texts.get(u, "").strip() for u in uses_offered},
        created_by=by,
    )
    record(
        clinic=clinic,
        action="consent.template_versioned",
        actor=by,
        context=context,
        target=template,
        details={"version": template.version},
    )
    return template


# --- requests -----------------------------------------------------------------------------------


def _public_url(name: str, clinic: Clinic, token: str) -> str:
    return settings.SITE_URL + reverse(name, kwargs={"clinic": clinic.slug, "token": token})


def withdrawal_link_create(*, clinic: Clinic, patient: Patient) -> str:
    """A new withdrawal link for an e-mail (the raw token is only ever in that e-mail)."""
    token, hashed = new_token()
    WithdrawalLink.objects.create(clinic=clinic, patient=patient, token_hash=hashed)
    return _public_url("consent_withdraw_start", clinic, token)


def request_send(
    *, clinic: Clinic, patient: Patient, by: User, context: AuditContext | None = None
) -> ConsentRequest:
    """Ask the patient to sign the current form; earlier open links stop working. The e-mail
    leaves from the worker after commit (``request_email``). Not for an archived patient."""
    from consent.tasks import send_consent_request

    patient_require_active(patient, to="send a consent request")
    if not patient.email:
        raise ValidationError("Add the patient's e-mail address first.")
    template = template_current(clinic=clinic)
    # A placeholder: the link's token is made when the e-mail is sent, so it lives nowhere else.
    _, hashed = new_token()
    now = timezone.now()
    with transaction.atomic(), service_write("earlier open requests superseded, audited"):
        superseded = ConsentRequest.objects.select_for_update().filter(
            clinic=clinic, patient=patient, signed_at__isnull=True, revoked_at__isnull=True
        )
        superseded_ids = [str(pk) for pk in superseded.values_list("pk", flat=True)]
        superseded.update(revoked_at=now)
        if superseded_ids:
            # A bulk change, so its own event: which links stopped working, and why.
            record(
                clinic=clinic,
                action="consent.requests_superseded",
                actor=by,
                context=context,
                patient=patient,
                details={"requests": superseded_ids},
            )
        consent_request = ConsentRequest.objects.create(
            clinic=clinic,
            patient=patient,
            template=template,
            token_hash=hashed,
            sent_to=patient.email,
            sent_by=by,
            expires_at=now + settings.CONSENT_LINK_LIFETIME,
        )
        record(
            clinic=clinic,
            action="consent.requested",
            actor=by,
            context=context,
            target=consent_request,
            patient=patient,
            details={"template_version": template.version},
            personal={"sent_to": patient.email},
        )
        send_consent_request.delay_on_commit(
            clinic_id=str(clinic.id), request_id=str(consent_request.id)
        )
    return consent_request


def request_email(*, clinic_id, request_id) -> str:
    """Send a consent request's e-mail with a fresh signing token (its hash replaces the last
    one) and a withdrawal link. Run by the worker, in the outbox job's transaction."""
    consent_request = (
        ConsentRequest.objects.select_for_update(of=("self",))
        .select_related("clinic", "patient", "sent_by")
        .filter(clinic_id=clinic_id, pk=request_id)
        .first()
    )
    if consent_request is None or consent_request.emailed_at:
        return "skipped"
    if consent_request.state not in ("sent", "opened"):
        return "skipped"
    clinic, patient = consent_request.clinic, consent_request.patient
    token, consent_request.token_hash = new_token()
    body = render_to_string(
        "consent/email/request.txt",
        {
            "clinic": clinic,
            "patient": patient,
            "request": consent_request,
            "sign_url": _public_url("consent_sign_start", clinic, token),
            "withdraw_url": withdrawal_link_create(clinic=clinic, patient=patient),
            "sender": consent_request.sent_by,
        },
    )
    consent_request.emailed_at = timezone.now()
    consent_request.save(update_fields=["token_hash", "emailed_at"])
    send_clinic_mail(
        clinic=clinic,
        subject=f"{clinic.name}: your consent to clinical photographs",
        body=body,
        to=[consent_request.sent_to],
    )
    return "sent"


def request_confirm_identity(
    *, consent_request: ConsentRequest, date_of_birth: date, context: AuditContext | None = None
) -> bool:
    """The patient confirms their date of birth, so a forwarded e-mail is not enough.
    Five wrong answers lock the link (LinkUnusable)."""
    return confirm_date_of_birth(
        link=consent_request,
        date_of_birth=date_of_birth,
        opened_action="consent.opened",
        failed_action="consent.identity_failed",
        context=context,
    )


# --- signing ------------------------------------------------------------------------------------


def signature_png(data_url: str) -> bytes:
    """The drawn signature as PNG bytes, checked: a real, small, not-blank PNG."""
    prefix = "data:image/png;base64,"
    if not data_url.startswith(prefix):
        raise ValidationError("Please draw your signature in the box.")
    try:
        png = base64.b64decode(data_url[len(prefix) :], validate=True)
    except (ValueError, TypeError) as error:
        raise ValidationError("Please draw your signature in the box.") from error
    try:
        image = checked_image(
            png,
            formats=["PNG"],
            max_bytes=MAX_SIGNATURE_BYTES,
            max_pixels=MAX_SIGNATURE_PIXELS,
            what="signature image",
        )
    except ImageRejected as error:
        if error.code in ("too_large", "too_many_pixels"):
            raise ValidationError(
                "The signature image is too large. Please clear it and sign again."
            ) from error
        raise ValidationError("Please draw your signature in the box.") from error
    alpha = image.convert("RGBA").getchannel("A")
    if alpha.getbbox() is None:
        raise ValidationError("Please draw your signature in the box.")
    return png


def typed_signature_png(name: str) -> bytes:
    """The typed name drawn as a signature image, for a patient who cannot draw one."""
    from PIL import ImageDraw, ImageFont

    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    try:
        font = ImageFont.truetype("DejaVuSerif-Italic.ttf", 44)
    except OSError:
        font = ImageFont.load_default(size=44)
    image = Image.new("RGBA", (900, 120), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.text((16, 30), " ".join(name.split())[:60], fill=(16, 35, 63, 255), font=font)
    image = image.crop(image.getbbox() or (0, 0, 900, 120))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@dataclass(frozen=True)
class Signature:
    typed_name: str
    uses_granted: list[str]
    signature_png: bytes
    method: str = "drawn"


def consent_sign(
    *, consent_request: ConsentRequest, signature: Signature, context: AuditContext | None = None
) -> ConsentRecord:
    """Record the patient's signature with its evidence and consume the link, atomically.
    The signed copy is owed in the same transaction (an outbox job)."""
    from consent.tasks import send_consent_copy

    with transaction.atomic():
        locked = (
            ConsentRequest.objects.select_for_update()
            .select_related("template", "patient")
            .get(pk=consent_request.pk)
        )
        check_usable(locked, kind=ConsentRequest)
        template = locked.template
        offered = set(template.uses_offered)
        granted = [u for u in ConsentUse.values if u in set(signature.uses_granted) & offered]
        missing = [dict(ConsentUse.choices)[u] for u in template.uses_required if u not in granted]
        if missing:
            raise ValidationError(
                f"To go ahead with treatment the clinic needs your consent to: "
                f"{', '.join(missing)}. Tick it, or contact the clinic if you do not agree."
            )
        name = " ".join(signature.typed_name.split())
        if len(name) < 2:
            raise ValidationError("Type your full name.")
        text = template.text_shown()
        signature_blob = storage.blob_store(
            clinic_id=locked.clinic_id,
            purpose=ConsentBlobPurpose.SIGNATURE,
            data=signature.signature_png,
            stage_if_unavailable=True,
        )
        now = timezone.now()
        consent_record = ConsentRecord.objects.create(
            clinic_id=locked.clinic_id,
            patient=locked.patient,
            request=locked,
            template=template,
            typed_name=name[:150],
            signature=signature_blob,
            signature_method=signature.method,
            signed_at=now,
            ip=context.ip if context else None,
            user_agent=(context.user_agent if context else ""),
            text_shown=text,
            text_sha256=hashlib.sha256(text.encode()).hexdigest(),
            uses_granted=granted,
            uses_refused=[u for u in template.uses_offered if u not in granted],
        )
        locked.signed_at = now
        locked.save(update_fields=["signed_at"])
        patient_activity(patient=locked.patient)
        record(
            clinic=locked.clinic_id,
            action="consent.signed",
            context=context,
            target=consent_record,
            patient=locked.patient_id,
            by_patient=True,
            personal={"signer_name": name},
            details={
                "template_version": template.version,
                "granted": granted,
                "refused": consent_record.uses_refused,
                "text_sha256": consent_record.text_sha256,
                "signature": signature.method,
            },
        )
        send_consent_copy.delay_on_commit(
            clinic_id=str(locked.clinic_id), record_id=str(consent_record.pk)
        )
    return consent_record


# --- withdrawal ---------------------------------------------------------------------------------


def consent_withdraw(
    *,
    clinic: Clinic,
    patient: Patient,
    uses: list[str],
    channel: str,
    by: User | None = None,
    note: str = "",
    context: AuditContext | None = None,
) -> ConsentWithdrawal:
    """Withdraw uses with immediate effect: marketing items of those uses leave the library,
    the patient is sent a confirmation and the clinic's admins are told (outbox jobs)."""
    from consent.tasks import confirm_withdrawal_to_patient, notify_admins_of_withdrawal

    if channel not in WithdrawalChannel.values:
        raise ValidationError("Say how the patient asked to withdraw.")
    with transaction.atomic():
        active = selectors.active_uses(clinic=clinic, patient=patient)
        chosen = [u for u in ConsentUse.values if u in set(uses) & active]
        if not chosen:
            raise ValidationError("There is no active consent to withdraw for that choice.")
        now = timezone.now()
        withdrawal = ConsentWithdrawal.objects.create(
            clinic=clinic,
            patient=patient,
            uses=chosen,
            withdrawn_at=now,
            channel=channel,
            recorded_by=by,
            note=note.strip()[:300],
            ip=context.ip if context else None,
            user_agent=(context.user_agent if context else ""),
        )
        with service_write("withdrawn consent removes marketing items, audited below"):
            removed = MarketingItem.objects.filter(
                clinic=clinic, photo__patient=patient, use__in=chosen, removed_at__isnull=True
            ).update(removed_at=now, removed_reason="consent withdrawn")
        record(
            clinic=clinic,
            action="consent.withdrawn",
            actor=by,
            context=context,
            target=withdrawal,
            patient=patient,
            by_patient=by is None,
            details={"uses": chosen, "channel": channel, "marketing_items_removed": removed},
        )
        # Rooms above act on it here, in this transaction (consent/hooks.py lists them: the
        # patient's open comparison links are revoked).
        hooks.withdrawn(
            clinic=clinic, patient=patient, uses=chosen, withdrawal=withdrawal, context=context
        )
        ids = {"clinic_id": str(clinic.id), "withdrawal_id": str(withdrawal.pk)}
        confirm_withdrawal_to_patient.delay_on_commit(**ids)
        notify_admins_of_withdrawal.delay_on_commit(**ids)
    return withdrawal


# The patient's "undo" of a withdrawal works straight after it, from the same page.
UNDO_WINDOW = timedelta(minutes=30)
# Withdrawing these stops the clinic keeping photos for the patient's care: asked once first.
CARE_USES: frozenset[str] = frozenset({ConsentUse.CLINICAL_RECORD})


def withdrawal_needs_confirmation(uses: list[str] | set[str], *, everything: bool) -> bool:
    """Whether withdrawing ``uses`` (or all uses) should be confirmed once, saying what it
    means for the patient's care."""
    return everything or bool(CARE_USES & set(uses))


def withdrawal_undo(
    *,
    clinic: Clinic,
    patient: Patient,
    withdrawal_id,
    context: AuditContext | None = None,
) -> ConsentRestoration:
    """The patient undoes the withdrawal they just made by link: a new consent event giving
    those uses back, never an edit of the withdrawal. Only for uses other than the clinical
    record, within UNDO_WINDOW, and while nothing has changed since. Marketing items the
    withdrawal removed stay removed (the clinic may add them again)."""
    with transaction.atomic():
        withdrawal = (
            ConsentWithdrawal.objects.select_for_update()
            .filter(clinic=clinic, patient=patient, pk=withdrawal_id)
            .first()
        )
        if withdrawal is None or withdrawal.channel != WithdrawalChannel.LINK:
            raise ValidationError("There is nothing to undo.")
        if ConsentRestoration.objects.filter(clinic=clinic, withdrawal=withdrawal).exists():
            raise ValidationError("That withdrawal has already been undone.")
        if CARE_USES & set(withdrawal.uses):
            raise ValidationError(
                "A withdrawal of the clinical record cannot be undone here: please sign a new "
                "consent form with the clinic."
            )
        now = timezone.now()
        if now - withdrawal.withdrawn_at > UNDO_WINDOW:
            raise ValidationError("It is too late to undo this; please contact the clinic.")
        if selectors.latest_event_at(clinic=clinic, patient=patient) != withdrawal.withdrawn_at:
            raise ValidationError(
                "Your consent has changed since; please contact the clinic to change it again."
            )
        restoration = ConsentRestoration.objects.create(
            clinic=clinic,
            patient=patient,
            withdrawal=withdrawal,
            uses=list(withdrawal.uses),
            restored_at=now,
            ip=context.ip if context else None,
            user_agent=(context.user_agent if context else ""),
        )
        record(
            clinic=clinic,
            action="consent.withdrawal_undone",
            context=context,
            target=restoration,
            patient=patient,
            by_patient=True,
            details={"uses": restoration.uses, "withdrawal": str(withdrawal.pk)},
        )
    return restoration


# --- marketing library ----------------------------------------------------------------------------


def marketing_add(
    *, clinic: Clinic, photo: Photo, use: str, by: User, context: AuditContext | None = None
) -> MarketingItem:
    """Put a photo in the marketing library for one use, only with the patient's consent."""
    if use not in MARKETING_USES:
        raise ValidationError("Choose where the photo will be used.")
    if photo.status != PhotoStatus.READY or photo.deleted_at:
        raise ValidationError("Only a ready, current photo can be added.")
    with transaction.atomic():
        if use not in selectors.active_uses(clinic=clinic, patient=photo.patient):
            raise ConsentMissing(
                f"{photo.patient.full_name} has not consented to "
                f"“{dict(ConsentUse.choices)[use]}”. Send a consent request first."
            )
        item, created = MarketingItem.objects.get_or_create(
            clinic=clinic,
            photo=photo,
            use=use,
            removed_at__isnull=True,
            defaults={"added_by": by},
        )
        if created:
            record(
                clinic=clinic,
                action="marketing.added",
                actor=by,
                context=context,
                target=item,
                patient=photo.patient_id,
                details={"use": use},
            )
    return item


@transaction.atomic
def marketing_remove(
    *, clinic: Clinic, item: MarketingItem, by: User, context: AuditContext | None = None
) -> MarketingItem:
    if item.removed_at is None:
        item.removed_at = timezone.now()
        item.removed_reason = f"removed by {by.full_name or by.email}"
        item.save(update_fields=["removed_at", "removed_reason"])
        record(
            clinic=clinic,
            action="marketing.removed",
            actor=by,
            context=context,
            target=item,
            patient=item.photo.patient_id,
            details={"use": item.use},
        )
    return item


def consent_copy_pdf(
    *, consent_record: ConsentRecord, context: AuditContext | None = None
) -> bytes:
    """The patient's own PDF copy, from the thank-you page: the stored one, or the same PDF
    made now from the kept text when the worker has not stored it yet. Audited."""
    if consent_record.pdf is not None:
        data = storage.blob_read(consent_record.pdf)
    else:
        data = render_consent_pdf(consent_record)
    record(
        clinic=consent_record.clinic_id,
        action="consent.copy_downloaded",
        context=context,
        target=consent_record,
        patient=consent_record.patient_id,
        by_patient=True,
    )
    return data
