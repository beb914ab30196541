"""Staff sessions: how long a signed-in session may live, and which clinic a staff URL is
for (signed in with 2FA and an active member, or a 404 that is audited)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.views.defaults import page_not_found

from audit.http import AuditedRequest
from audit.services import record
from clinic import selectors
from clinic.tenancy import clinic_context

SESSION_LOGIN_AT = "login_at"
SESSION_RENEWED_AT = "renewed_at"


class SessionLifetimeMiddleware:
    """Ends a session 12 hours after login, however active it was. The idle limit of 30
    minutes is the session's own age, renewed by activity: at most once a minute
    (``SESSION_RENEW_EVERY``), not on every request, so that a page's thumbnails do not each
    rewrite the session row."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = timezone.now().timestamp()
            started = request.session.get(SESSION_LOGIN_AT)
            lifetime = settings.SESSION_ABSOLUTE_LIFETIME.total_seconds()
            if started is None or now - started > lifetime:
                logout(request)
                return redirect_to_login(request.get_full_path())
            # Signing in saved the session: the first renewal is due a minute after it.
            renewed = request.session.get(SESSION_RENEWED_AT) or started
            if now - renewed >= settings.SESSION_RENEW_EVERY.total_seconds():
                # Saving the session pushes its expiry (row and cookie) 30 minutes on.
                request.session[SESSION_RENEWED_AT] = now
        return self.get_response(request)


class ClinicMiddleware:
    """For URLs under ``/c/<clinic_slug>/``: the user must be signed in with 2FA and an active
    member of that clinic, or gets a 404 (and the attempt is audited). The view then runs in
    one transaction inside ``clinic_context``, which row-level security checks; a 404 for an
    object id in the URL (another clinic's id under the member's own clinic) is audited too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    # After AuditContextMiddleware (settings.MIDDLEWARE): the request carries its audit context.
    def __call__(self, request: AuditedRequest) -> HttpResponse:
        # What audit.http.ClinicRequest declares for the views, added here.
        request.clinic = None  # type: ignore[attr-defined]
        request.membership = None  # type: ignore[attr-defined]
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        slug = match.kwargs.get("clinic_slug")
        if slug is None:
            return self.get_response(request)

        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not user.is_verified():
            return redirect("two_factor_verify")

        clinic = selectors.clinic_by_slug(slug)
        if clinic is None:
            raise Http404("No such clinic")
        with clinic_context(clinic.id, user.pk):
            membership = selectors.active_membership(clinic=clinic, user=user)
            if membership is None:
                # Answered like a clinic that does not exist; the attempt stays on record.
                record(
                    clinic=clinic,
                    action="access.denied",
                    context=request.audit,
                    details={"path": request.path_info[:300], "reason": "not a member"},
                )
                return page_not_found(request, Http404("No such clinic"))
            request.clinic = clinic  # type: ignore[attr-defined]
            request.membership = membership  # type: ignore[attr-defined]
            response = self.get_response(request)
            object_ids = {k: str(v) for k, v in match.kwargs.items() if k.endswith("_id")}
            if response.status_code == 404 and object_ids:
                # An id this clinic does not have: another clinic's (RLS and the selectors
                # hid it) or none at all. Either way the member asked, so it is on record.
                record(
                    clinic=clinic,
                    action="access.denied",
                    context=request.audit,
                    details={
                        "path": request.path_info[:300],
                        "reason": "not found in this clinic",
                        "ids": object_ids,
                    },
                )
        # Patient data must not linger in a shared tablet's browser cache after sign-out.
        if "Cache-Control" not in response:
            response["Cache-Control"] = "private, no-store"
        return response
