"""Request scoping: which clinic a staff URL is for, how long a session may live, and the
request id every audit event of the request carries."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.views.defaults import page_not_found

from audit.services import record
from clinic import selectors
from clinic.tenancy import clinic_context

SESSION_LOGIN_AT = "login_at"
SESSION_RENEWED_AT = "renewed_at"


def _has_nul(query) -> bool:
    return any(
        "\x00" in key or any("\x00" in str(value) for value in values)
        for key, values in query.lists()
    )


REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept when it looks like one (8 to 64 letters, digits, '.', '_', '-');
# anything else is replaced, so a header cannot smuggle text into the trail or the logs.
WELL_FORMED_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class RequestIdMiddleware:
    """Gives every request an id (``request.request_id``): the proxy's ``X-Request-ID`` when
    well formed, else a new one. Audit events of the request carry it, and so does the
    response's ``X-Request-ID``, so a clinic's report of a page can be found in the trail."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request.request_id = given if WELL_FORMED_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response


class RefuseBadInputMiddleware:
    """A NUL character in a query, form field or cookie is answered with a plain 400 before
    any view or session look-up sees it: PostgreSQL refuses NUL in text, so it would otherwise
    surface as a 500. Form fields are checked in ``process_view``, once the URL is resolved,
    because the upload handler decides by the view whether to keep files at all."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cookies = "".join(f"{k}{v}" for k, v in request.COOKIES.items())
        if _has_nul(request.GET) or "\x00" in cookies:
            return self.refuse(request)
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view, args, kwargs) -> HttpResponse | None:
        if request.method == "POST" and _has_nul(request.POST):
            return self.refuse(request)
        return None

    @staticmethod
    def refuse(request: HttpRequest) -> HttpResponse:
        # Rendered without the request: its context processors would read the session.
        return HttpResponse(
            render_to_string("400.html", {"reason": "control_character"}),
            status=400,
        )


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

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.clinic = None
        request.membership = None
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
                    request=request,
                    details={"path": request.path_info[:300], "reason": "not a member"},
                )
                return page_not_found(request, Http404("No such clinic"))
            request.clinic = clinic
            request.membership = membership
            response = self.get_response(request)
            object_ids = {k: str(v) for k, v in match.kwargs.items() if k.endswith("_id")}
            if response.status_code == 404 and object_ids:
                # An id this clinic does not have: another clinic's (RLS and the selectors
                # hid it) or none at all. Either way the member asked, so it is on record.
                record(
                    clinic=clinic,
                    action="access.denied",
                    request=request,
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
