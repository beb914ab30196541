"""Changes to clinics and their staff. Each writes its audit event in the same transaction."""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django_otp import devices_for_user

from audit.context import AuditContext
from audit.services import record, record_sign_in_probe
from clinic import otp_secrets, selectors
from clinic.images import ImageRejected, checked_image
from clinic.mail import send_clinic_mail
from clinic.models import (
    AuthenticatorDevice,
    BackupCode,
    BackupCodes,
    Clinic,
    Invitation,
    Membership,
    Role,
    User,
)
from clinic.tenancy import clinic_context, service_write, user_context
from clinic.tokens import new_token


@transaction.atomic
def clinic_create(*, name: str, slug: str, admin: User) -> Clinic:
    """A new clinic with its first admin."""
    clinic = Clinic.objects.create(name=name, slug=slug)
    with clinic_context(clinic.id):
        Membership.objects.create(clinic=clinic, user=admin, role=Role.ADMIN)
        record(
            clinic=clinic,
            action="clinic.created",
            actor=admin,
            target=clinic,
            details={"name": name, "admin": admin.email},
        )
    return clinic


# A clinic's slug is in every one of its URLs: lower-case letters and digits, joined by hyphens.
CLINIC_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Both are CharFields, which have a max_length (the stubs type it as optional).
CLINIC_SLUG_MAX: int = Clinic._meta.get_field("slug").max_length  # type: ignore[assignment]
CLINIC_NAME_MAX: int = Clinic._meta.get_field("name").max_length  # type: ignore[assignment]


def clinic_create_with_invitation(
    *, name: str, admin_email: str, operator: str, slug: str = "", reply_to_email: str = ""
) -> Invitation:
    """A new clinic with no staff yet and an invitation for its first admin, e-mailed after
    commit; ``operator`` names who made it in the clinic's audit trail. A clinic with the same
    slug or name, or a bad address, raises ValidationError and nothing is written."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError("The clinic needs a name.")
    if len(name) > CLINIC_NAME_MAX:
        raise ValidationError(f"The clinic's name is longer than {CLINIC_NAME_MAX} characters.")
    slug = slug.strip().lower() or slugify(name)[:CLINIC_SLUG_MAX].strip("-")
    if not CLINIC_SLUG.fullmatch(slug) or len(slug) > CLINIC_SLUG_MAX:
        raise ValidationError(
            f"{slug!r} cannot be a clinic's slug: use lower-case letters, digits and single "
            f"hyphens, at most {CLINIC_SLUG_MAX} characters (it is part of every address)."
        )
    admin_email = admin_email.strip().lower()
    reply_to_email = reply_to_email.strip().lower()
    for what, address in (("admin's", admin_email), ("reply-to", reply_to_email)):
        if address or what == "admin's":
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(
                    f"{address!r} is not an e-mail address (the {what} address)."
                ) from None
    if (existing := Clinic.objects.filter(slug=slug).first()) is not None:
        raise ValidationError(f"A clinic with the slug {slug} exists already: {existing.name}.")
    if (existing := Clinic.objects.filter(name__iexact=name).first()) is not None:
        raise ValidationError(
            f"A clinic named {existing.name} exists already (slug {existing.slug})."
        )
    try:
        with transaction.atomic():
            clinic = Clinic.objects.create(name=name, slug=slug, reply_to_email=reply_to_email)
            with clinic_context(clinic.id):
                record(
                    clinic=clinic,
                    action="clinic.created",
                    actor_label=operator,
                    target=clinic,
                    details={"name": name, "admin": admin_email},
                )
                return staff_invite(
                    clinic=clinic,
                    email=admin_email,
                    role=Role.ADMIN,
                    invited_by=None,
                    operator=operator,
                )
    except IntegrityError:
        # Made by someone else between the check and the insert.
        raise ValidationError(f"A clinic with the slug {slug} exists already.") from None


def staff_invite(
    *,
    clinic: Clinic,
    email: str,
    role: str,
    invited_by: User | None,
    operator: str = "",
    context: AuditContext | None = None,
) -> Invitation:
    """Invite someone by e-mail; an earlier open invitation for the same address is revoked.
    The e-mail leaves from the worker after commit (``invitation_email``). ``invited_by`` is
    None only for a new clinic's first admin, invited by ``operator``."""
    from accounts.tasks import send_invitation

    email = email.strip().lower()
    if role not in Role.values:
        raise ValidationError("Choose a role.")
    if Membership.objects.filter(clinic=clinic, user__email=email, is_active=True).exists():
        raise ValidationError(f"{email} is already a member of this clinic.")
    # A placeholder: the link's token is made when the e-mail is sent, so it lives nowhere else.
    _, hashed = new_token()
    now = timezone.now()
    with transaction.atomic(), service_write("earlier invitations replaced"):
        selectors.pending_invitations(clinic=clinic).filter(email=email).update(revoked_at=now)
        invitation = Invitation.objects.create(
            clinic=clinic,
            email=email,
            role=role,
            token_hash=hashed,
            invited_by=invited_by,
            expires_at=now + settings.INVITATION_LIFETIME,
        )
        record(
            clinic=clinic,
            action="staff.invited",
            actor=invited_by,
            actor_label=operator,
            context=context,
            target=invitation,
            details={"email": email, "role": role},
        )
        send_invitation.delay_on_commit(clinic_id=str(clinic.id), invitation_id=str(invitation.id))
    return invitation


def invitation_email(*, clinic_id, invitation_id) -> str:
    """Send an invitation's e-mail with a fresh link token (its hash replaces the last one) and
    note when it left. Run by the worker, in the outbox job's transaction."""
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("clinic", "invited_by")
        .filter(clinic_id=clinic_id, pk=invitation_id)
        .first()
    )
    if invitation is None or invitation.emailed_at or invitation.state != "pending":
        return "skipped"
    token, invitation.token_hash = new_token()
    clinic = invitation.clinic
    url = settings.SITE_URL + reverse(
        "accept_invitation", kwargs={"clinic": clinic.slug, "token": token}
    )
    body = render_to_string(
        "clinic/email/invitation.txt",
        {
            "clinic": clinic,
            "invitation": invitation,
            "url": url,
            "invited_by": invitation.invited_by,
        },
    )
    invitation.emailed_at = timezone.now()
    invitation.save(update_fields=["token_hash", "emailed_at"])
    send_clinic_mail(
        clinic=clinic,
        subject=f"You're invited to join {clinic.name}",
        body=body,
        to=[invitation.email],
    )
    return "sent"


class InvitationUnusable(Exception):
    """The link was used, revoked or has expired; the message says which, for the page."""


def check_invitation_usable(invitation: Invitation | None) -> Invitation:
    if invitation is None:
        raise InvitationUnusable(
            "This invitation link is not valid. Ask your clinic admin to send a new one."
        )
    if invitation.accepted_at:
        raise InvitationUnusable("This invitation has already been used. Sign in instead.")
    if invitation.revoked_at:
        raise InvitationUnusable(
            "This invitation was replaced by a newer one. Use the most "
            "recent e-mail, or ask your clinic admin to send another."
        )
    if invitation.is_expired:
        raise InvitationUnusable(
            "This invitation has expired. Ask your clinic admin to send a new one."
        )
    return invitation


def invitation_accept(
    *,
    invitation: Invitation,
    user: User | None,
    full_name: str = "",
    password: str = "",
    context: AuditContext | None = None,
) -> User:
    """Join the clinic: an existing user gains a membership, a new one gets an account."""
    check_invitation_usable(invitation)
    clinic = invitation.clinic
    with clinic_context(clinic.id):
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        check_invitation_usable(locked)
        if user is None:
            if User.objects.filter(email=invitation.email).exists():
                raise InvitationUnusable(
                    "An account with this e-mail exists. Sign in first, "
                    "then open the invitation link again."
                )
            user = User(email=invitation.email, full_name=full_name.strip())
            validate_password(password, user)
            user.set_password(password)
            user.save()
        elif user.email != invitation.email:
            raise InvitationUnusable("This invitation was sent to another e-mail address.")
        membership, _ = Membership.objects.update_or_create(
            clinic=clinic,
            user=user,
            defaults={"role": locked.role, "is_active": True, "deactivated_at": None},
        )
        locked.accepted_at = timezone.now()
        locked.save(update_fields=["accepted_at"])
        record(
            clinic=clinic,
            action="staff.joined",
            actor=user,
            context=context,
            target=membership,
            details={"email": user.email, "role": locked.role},
        )
    return user


def staff_change_role(
    *,
    clinic: Clinic,
    membership: Membership,
    role: str,
    by: User,
    context: AuditContext | None = None,
) -> Membership:
    """Give a member another role. A clinic always keeps at least one active admin."""
    if role not in Role.values:
        raise ValidationError("Choose a role.")
    with transaction.atomic():
        if membership.role == Role.ADMIN and role != Role.ADMIN:
            _ensure_another_admin(clinic, membership)
        old = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        record(
            clinic=clinic,
            action="staff.role_changed",
            actor=by,
            context=context,
            target=membership,
            details={"email": membership.user.email, "from": old, "to": role},
        )
    return membership


def staff_deactivate(
    *, clinic: Clinic, membership: Membership, by: User, context: AuditContext | None = None
) -> Membership:
    """Remove a member's access to this clinic and end all their sessions at once."""
    with transaction.atomic():
        if membership.role == Role.ADMIN:
            _ensure_another_admin(clinic, membership)
        membership.is_active = False
        membership.deactivated_at = timezone.now()
        membership.save(update_fields=["is_active", "deactivated_at"])
        user = membership.user
        user.renew_security_stamp()
        user.save(update_fields=["security_stamp"])
        record(
            clinic=clinic,
            action="staff.deactivated",
            actor=by,
            context=context,
            target=membership,
            details={"email": user.email},
        )
    return membership


def _ensure_another_admin(clinic: Clinic, membership: Membership) -> None:
    others = Membership.objects.filter(clinic=clinic, role=Role.ADMIN, is_active=True).exclude(
        pk=membership.pk
    )
    if not others.exists():
        raise ValidationError(
            "A clinic needs at least one active admin. Make someone else an admin first."
        )


# --- sign-in events, recorded in every clinic the person works in ---------------------------


def record_for_user_clinics(
    *,
    user: User | None,
    action: str,
    context: AuditContext | None,
    details: dict | None = None,
    email: str = "",
) -> None:
    """Record a sign-in event in each of the user's clinics; with no known user, in the
    system chain (so a probe for unknown addresses is still seen, within a rate limit)."""
    memberships = selectors.memberships_of(user) if user is not None else []
    if not memberships:
        record_sign_in_probe(
            action=action,
            actor=user,
            context=context,
            details=details,
            actor_label=email or (user.email if user else ""),
        )
        return
    for membership in memberships:
        record(
            clinic=membership.clinic, action=action, actor=user, context=context, details=details
        )


# --- two-factor ------------------------------------------------------------------------------


def two_factor_match(user: User, token: str) -> AuthenticatorDevice | BackupCodes | None:
    """The user's device that accepts ``token`` now (a backup code is used up), or None. The
    authenticator refuses a code at or before the last one it accepted; failures throttle."""
    for device in devices_for_user(user, confirmed=True):
        allowed, _ = device.verify_is_allowed()
        if allowed and device.verify_token(token):
            return device
    return None


def totp_device_for_enrolment(user: User) -> AuthenticatorDevice:
    """The user's unconfirmed TOTP device, created on first call; kept across page reloads."""
    device = AuthenticatorDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = AuthenticatorDevice.objects.create_for(
            user=user, name="Authenticator app", confirmed=False
        )
    return device


@transaction.atomic
def two_factor_confirm(
    *, user: User, device: AuthenticatorDevice, context: AuditContext | None = None
) -> list[str]:
    """Make the enrolled device the user's only one and issue fresh backup codes."""
    AuthenticatorDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = backup_codes_issue(user=user)
    record_for_user_clinics(user=user, action="auth.2fa_enrolled", context=context)
    return codes


def backup_codes_issue(*, user: User) -> list[str]:
    """Replace the user's backup codes with ``BACKUP_CODE_COUNT`` new single-use ones. Only
    their keyed hashes are stored; the codes themselves are shown once."""
    device, _ = BackupCodes.objects.get_or_create(
        user=user, name="Backup codes", defaults={"confirmed": True}
    )
    device.codes.all().delete()
    codes = [f"{secrets.randbelow(10**8):08d}" for _ in range(settings.BACKUP_CODE_COUNT)]
    BackupCode.objects.bulk_create(
        BackupCode(device=device, code_hash=otp_secrets.backup_code_hash(c, user_id=user.pk))
        for c in codes
    )
    return codes


@transaction.atomic
def two_factor_reset(*, user: User, context: AuditContext | None = None) -> None:
    """Forget the user's authenticator and backup codes; every session of theirs ends."""
    AuthenticatorDevice.objects.filter(user=user).delete()
    BackupCodes.objects.filter(user=user).delete()
    user.renew_security_stamp()
    user.save(update_fields=["security_stamp"])
    record_for_user_clinics(user=user, action="auth.2fa_reset", context=context)


def staff_reset_two_factor(
    *, clinic: Clinic, membership: Membership, by: User, context: AuditContext | None = None
) -> None:
    """An admin resets a lost authenticator, only for someone who works at this clinic alone:
    one clinic's admin must not weaken the sign-in of an account other clinics rely on."""
    with user_context(membership.user_id):
        elsewhere = (
            Membership.objects.filter(user_id=membership.user_id, is_active=True)
            .exclude(clinic=clinic)
            .exists()
        )
    if elsewhere:
        raise ValidationError(
            f"{membership.user} also works at another clinic, so only they can "
            "reset their two-factor sign-in, from their account page."
        )
    two_factor_reset(user=membership.user, context=context)


@transaction.atomic
def password_change(*, user: User, new_password: str, context: AuditContext | None = None) -> None:
    """Set a new password; every other session of the user ends."""
    user.set_password(new_password)
    user.renew_security_stamp()
    user.save(update_fields=["password", "security_stamp"])
    record_for_user_clinics(user=user, action="auth.password_changed", context=context)


# --- branding --------------------------------------------------------------------------------

LOGO_MAX_BYTES = 2 * 1024 * 1024
LOGO_MAX_SIDE = 512
LOGO_MAX_PIXELS = 16_000_000


def logo_png(data: bytes) -> bytes:
    """An uploaded logo checked by content and re-encoded as a small PNG (no metadata)."""
    import io

    try:
        image = checked_image(
            data,
            formats=["PNG", "JPEG", "WEBP"],
            max_bytes=LOGO_MAX_BYTES,
            max_pixels=LOGO_MAX_PIXELS,
            what="logo",
        )
    except ImageRejected as error:
        raise ValidationError(str(error)) from error
    image = image.convert("RGBA")
    # Transparent margins would push the clinic's name away from its logo in the page header.
    bbox = image.getbbox()
    if bbox:
        image = image.crop(bbox)
    image.thumbnail((LOGO_MAX_SIDE, LOGO_MAX_SIDE))
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


@transaction.atomic
def clinic_update_branding(
    *,
    clinic: Clinic,
    by: User,
    name: str,
    logo: bytes | None = None,
    remove_logo: bool = False,
    reply_to_email: str | None = None,
    context: AuditContext | None = None,
) -> Clinic:
    """Rename the clinic, set or remove its logo (shown to patients and on PDFs) and set the
    address its e-mails' answers go to (``reply_to_email``; None leaves it, "" removes it)."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError("The clinic needs a name.")
    if reply_to_email:
        reply_to_email = reply_to_email.strip().lower()
        validate_email(reply_to_email)
    changes = []
    if name != clinic.name:
        clinic.name = name
        changes.append("name")
    if logo is not None:
        clinic.logo = logo_png(logo)
        changes.append("logo")
    elif remove_logo and clinic.logo:
        clinic.logo = None
        changes.append("logo removed")
    if reply_to_email is not None and reply_to_email != clinic.reply_to_email:
        clinic.reply_to_email = reply_to_email
        changes.append("reply-to e-mail")
    if changes:
        clinic.save(update_fields=["name", "logo", "reply_to_email"])
        record(
            clinic=clinic,
            action="clinic.branding_changed",
            actor=by,
            context=context,
            target=clinic,
            details={"changed": changes},
        )
    return clinic


# --- master key rotation: two-factor secrets ------------------------------------------------


def two_factor_keys_reseal() -> int:
    """Re-seal every authenticator key under the current master key (after a rotation), so the
    old one can leave MASTER_KEYS_PREVIOUS. Recorded in the system trail; returns how many."""
    resealed = 0
    with transaction.atomic():
        for device in AuthenticatorDevice.objects.all():
            if otp_secrets.sealed_under_current_key(
                bytes(device.sealed_key), user_id=device.user_id
            ):
                continue
            raw = otp_secrets.open_totp_key(bytes(device.sealed_key), user_id=device.user_id)
            device.sealed_key = otp_secrets.seal_totp_key(raw, user_id=device.user_id)
            device.save(update_fields=["sealed_key"])
            resealed += 1
        record(
            clinic=None,
            action="keys.two_factor_resealed",
            actor_label="rotate_keys",
            details={"devices": resealed},
        )
    return resealed
