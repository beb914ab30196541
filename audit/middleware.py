"""Builds ``request.audit`` (an ``AuditContext``) once per request, after authentication, and
renews it when the member signs in or out during the request."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from audit.context import AuditContext, context_of


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # What audit.http.AuditedRequest declares for the views, added here and renewed below.
        request.audit = AuditContext.of(request)  # type: ignore[attr-defined]
        return self.get_response(request)


@receiver(user_logged_in, dispatch_uid="audit.context.signed_in")
def _signed_in(sender, request: HttpRequest | None = None, user=None, **kwargs) -> None:
    if request is not None:
        request.audit = context_of(request).signed_in_as(user)  # type: ignore[attr-defined]


@receiver(user_logged_out, dispatch_uid="audit.context.signed_out")
def _signed_out(sender, request: HttpRequest | None = None, **kwargs) -> None:
    if request is not None:
        request.audit = context_of(request).signed_in_as(None)  # type: ignore[attr-defined]
