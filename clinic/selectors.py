"""Reading clinics, memberships and invitations. Tenant data always takes the clinic."""

from __future__ import annotations

from django.db.models import QuerySet

from clinic.models import TREATING_ROLES, Clinic, Invitation, Job, Membership, Role, User
from clinic.tenancy import clinic_context, user_context
from clinic.tokens import token_hash


def clinic_by_slug(slug: str) -> Clinic | None:
    """The clinic with this slug, or None."""
    return Clinic.objects.filter(slug=slug).first()


def admin_emails(clinic: Clinic) -> list[str]:
    """The addresses of the clinic's active admins: whom the clinic's notices go to."""
    return list(
        Membership.objects.filter(clinic=clinic, role=Role.ADMIN, is_active=True).values_list(
            "user__email", flat=True
        )
    )


def active_membership(*, clinic: Clinic, user: User) -> Membership | None:
    """The user's active membership of the clinic, or None (call inside the clinic's context)."""
    return Membership.objects.filter(clinic=clinic, user=user, is_active=True).first()


def memberships_of(user: User) -> list[Membership]:
    """Every clinic the user may work in, for the clinic switcher."""
    with user_context(user.pk):
        return list(
            Membership.objects.select_related("clinic")
            .filter(user=user, is_active=True)
            .order_by("clinic__name")
        )


def staff_of(*, clinic: Clinic) -> QuerySet[Membership]:
    """The clinic's staff, active first."""
    return (
        Membership.objects.select_related("user")
        .filter(clinic=clinic)
        .order_by("-is_active", "user__full_name")
    )


def membership_in(*, clinic: Clinic, membership_id) -> Membership | None:
    return staff_of(clinic=clinic).filter(pk=membership_id).first()


def practitioners_of(*, clinic: Clinic) -> QuerySet[User]:
    """Staff who can be named as the practitioner of a treatment."""
    return User.objects.filter(
        memberships__clinic=clinic,
        memberships__is_active=True,
        memberships__role__in=TREATING_ROLES,
    ).order_by("full_name")


def pending_invitations(*, clinic: Clinic) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        clinic=clinic, accepted_at__isnull=True, revoked_at__isnull=True
    ).order_by("-created_at")


def invitation_delivery(*, clinic: Clinic, invitation: Invitation) -> tuple[bool, str]:
    """Whether the invitation's e-mail has left, and if not, why its last try failed ("" when
    it was not tried yet): the outbox job's error."""
    with clinic_context(clinic.id):
        if Invitation.objects.filter(pk=invitation.pk, emailed_at__isnull=False).exists():
            return True, ""
        job = (
            Job.objects.filter(clinic=clinic, kwargs__invitation_id=str(invitation.pk))
            .order_by("-created_at")
            .first()
        )
        return False, job.last_error if job else ""


def invitation_by_token(*, clinic: Clinic, token: str) -> Invitation | None:
    """The invitation this link token belongs to, within the clinic named in the link."""
    with clinic_context(clinic.id):
        return (
            Invitation.objects.select_related("clinic")
            .filter(clinic=clinic, token_hash=token_hash(token))
            .first()
        )
