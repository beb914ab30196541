"""What a request carries once the middleware has run, for the type checker: the attributes
the middleware adds are invisible to it on a plain ``HttpRequest``. Here, not on the ground
floor, because every request carries the audit context, and the ground floor imports no room."""

from __future__ import annotations

from django.http import HttpRequest

from audit.context import AuditContext
from clinic.models import Clinic, Membership, User


class AuditedRequest(HttpRequest):
    """Any request a view sees: ``audit.middleware`` gave it ``audit``, who asks and from
    where, for the services to record. Only a type: no request is ever made one."""

    audit: AuditContext


class ClinicRequest(AuditedRequest):
    """A request to a URL under ``/c/<clinic_slug>/`` that ``accounts.middleware.
    ClinicMiddleware`` let through: a member of that clinic, signed in with two factors, and
    the view runs inside the clinic's context."""

    user: User
    clinic: Clinic
    membership: Membership
