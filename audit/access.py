"""Reads are accesses too: the one way a view records that someone saw patient data.

``record_access`` writes an event for the person behind the request (a signed-in member, or a
patient on a link page) in the open clinic, inside the request's transaction, with the
client's address and browser. ``require_audited`` is ``clinic.permissions.require`` whose
refusal is on record too (who tried to read what their role does not allow).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponse

from audit.http import AuditedRequest, ClinicRequest
from audit.models import AuditEvent
from audit.services import record
from clinic.permissions import PERMISSIONS, role_can

# Lists of what a page showed (patients on a search page, photos in a grid) are cut here: an
# event stays small, and the count says how many there were.
MAX_LISTED = 200


def record_access(
    request: AuditedRequest,
    action: str,
    *,
    target: models.Model | None = None,
    patient: Any | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record that the person behind ``request`` was shown something: staff pages carry
    the member, a patient's link page the clinic named in its URL and the label "patient"."""
    clinic = getattr(request, "clinic", None)
    actor_label = ""
    by_patient = False
    if clinic is None:
        clinic = getattr(request, "public_clinic", None)
        if not request.user.is_authenticated:
            # The patient through their link: "patient", their address and browser sealed
            # under their key (audit.personal); a link page naming no record, "link".
            by_patient = patient is not None
            actor_label = "" if by_patient else "link"
    if clinic is None:
        raise ValueError("record_access needs a clinic page or a patient's link page")
    return record(
        clinic=clinic,
        action=action,
        context=request.audit,
        target=target,
        patient=patient,
        details=details,
        actor_label=actor_label,
        by_patient=by_patient,
    )


def listed(ids: Iterable[Any]) -> dict[str, Any]:
    """``details`` naming what a list showed: its ids (at most ``MAX_LISTED``) and how many."""
    ids = [str(i) for i in ids]
    return {"ids": ids[:MAX_LISTED], "count": len(ids)}


def require_audited(permission: str) -> Callable:
    """View decorator like ``clinic.permissions.require``, whose refusal (a 403 page) is also
    an ``access.forbidden`` event naming the path, the permission and the member's role."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: ClinicRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            membership = getattr(request, "membership", None)
            if membership is None or not role_can(membership.role, permission):
                record(
                    clinic=request.clinic,
                    action="access.forbidden",
                    context=request.audit,
                    details={
                        "path": request.path_info[:300],
                        "permission": permission,
                        "role": getattr(membership, "role", ""),
                    },
                )
                raise PermissionDenied(PERMISSIONS[permission])
            return view(request, *args, **kwargs)

        wrapped.required_permission = permission  # type: ignore[attr-defined]
        return wrapped

    return decorator
