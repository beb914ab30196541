"""What a staff page's request carries, for the type checker: the attributes the middleware
adds are invisible to it on a plain ``HttpRequest``."""

from __future__ import annotations

from django.http import HttpRequest

from clinic.models import Clinic, Membership, User


class ClinicRequest(HttpRequest):
    """A request to a URL under ``/c/<clinic_slug>/`` that ``accounts.middleware.
    ClinicMiddleware`` let through: a member of that clinic, signed in with two factors, and
    the view runs inside the clinic's context. Only a type: no request is ever made one."""

    user: User
    clinic: Clinic
    membership: Membership
