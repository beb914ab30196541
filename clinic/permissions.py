"""What each role may do: the one place where a role check is decided.

The permissions table in docs/security.md is generated from ``ROLE_PERMISSIONS`` (see
``tests/clinic/test_permissions.py``, which fails if the two disagree).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from clinic.models import Role

PERMISSIONS: dict[str, str] = {
    "patients.view": "See patient details and treatment history",
    "patients.edit": "Create, edit and archive patients",
    "episodes.edit": "Record and edit treatment episodes",
    "photos.view": "See patient photos",
    "photos.upload": "Capture and upload photos",
    "photos.download_original": "Download an original photo",
    "photos.sequences": "Edit the views guided capture takes per treatment",
    "consent.request": "Send consent forms",
    "consent.send": "Record consent withdrawals",
    "consent.templates": "Edit the clinic's consent form",
    "marketing.manage": "Add photos to the marketing library (with consent)",
    "comparisons.create": "Make before/after comparisons and present them",
    "comparisons.share": "Send a comparison to the patient (with consent)",
    "staff.manage": "Invite staff, change roles, deactivate",
    "clinic.settings": "Change the clinic's name and logo",
    "audit.view": "Read the audit trail",
    "export.create": "Export records for insurers and subject-access requests",
    "retention.manage": "Set retention rules, place legal holds and erase records",
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.ADMIN: frozenset(PERMISSIONS),
    Role.PRACTITIONER: frozenset(
        {
            "patients.view",
            "patients.edit",
            "episodes.edit",
            "photos.view",
            "photos.upload",
            "photos.download_original",
            "consent.request",
            "consent.send",
            "marketing.manage",
            "comparisons.create",
            "comparisons.share",
        }
    ),
    # Reception books and checks patients in: details yes, and the consent form goes out with
    # the booking; photos never.
    Role.RECEPTION: frozenset({"patients.view", "patients.edit", "consent.request"}),
}


def role_can(role: str, permission: str) -> bool:
    """Whether ``role`` grants ``permission`` (unknown permissions are a programming error)."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def require(permission: str) -> Callable:
    """View decorator: the member's role must grant ``permission``; otherwise 403 naming what
    the role lacks (the clinic check before it already turned strangers away with a 404)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            membership = getattr(request, "membership", None)
            if membership is None or not role_can(membership.role, permission):
                raise PermissionDenied(PERMISSIONS[permission])
            return view(request, *args, **kwargs)

        wrapped.required_permission = permission  # type: ignore[attr-defined]
        return wrapped

    return decorator
