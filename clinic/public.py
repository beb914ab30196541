"""The one entry for pages a patient opens without an account (consent links, shared
comparisons; the links' start view and problem page are in ``links``): it resolves the clinic
named in the URL, runs the view inside that clinic's context, and sets the headers every such
page needs."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache

from clinic import selectors
from clinic.models import Clinic
from clinic.tenancy import clinic_context

PublicView = Callable[..., HttpResponse]


def public_headers(response: HttpResponse, *, token_in_url: bool = False) -> HttpResponse:
    """Never cached; a page whose URL holds a link token sends no Referer at all."""
    # Token-free pages keep same-origin: under no-referrer a browser sends "Origin: null" with
    # a form's POST, and Django's CSRF check then refuses it.
    response["Referrer-Policy"] = "no-referrer" if token_in_url else "same-origin"
    response["Cache-Control"] = "private, no-store"
    return response


def public_page(*, token_in_url: bool = False) -> Callable[[PublicView], PublicView]:
    """Decorate a public view ``view(request, clinic: Clinic, **kwargs)`` routed with a
    ``<slug:clinic>`` URL parameter. An unknown clinic is a 404."""

    def decorate(view: PublicView) -> PublicView:
        @never_cache
        @wraps(view)
        def entry(request: HttpRequest, clinic: str, **kwargs) -> HttpResponse:
            found: Clinic | None = selectors.clinic_by_slug(clinic)
            if found is None:
                raise Http404("No such clinic")
            request.public_clinic = found  # type: ignore[attr-defined]  # read by audit.access
            with clinic_context(found.id):
                response = view(request, found, **kwargs)
            return public_headers(response, token_in_url=token_in_url)

        entry.public_page = True  # type: ignore[attr-defined]
        return entry

    return decorate


def staff_of_another_clinic(request: HttpRequest, clinic: Clinic) -> bool:
    """Signed-in staff of another clinic: a patient's link is treated as not valid for them,
    revealing nothing."""
    if not request.user.is_authenticated:
        return False
    with clinic_context(clinic.id, request.user.pk):
        return selectors.active_membership(clinic=clinic, user=request.user) is None
