"""The pages every patient link shares: the start (the e-mailed URL, whose token moves into the
session at once so it never sits in the address bar or a Referer) and the problem page."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render

from clinic.models import Clinic
from clinic.public import staff_of_another_clinic
from clinic.tokens import token_hash
from links.models import PatientLink
from links.services import LinkUnusable, check_usable


@dataclass(frozen=True)
class LinkKind:
    """How one kind of link starts: its model, the session keys it keeps (the link's id, and
    whether the date of birth was confirmed), and the URL name of its token-free page."""

    model: type[PatientLink]
    session_link: str
    session_confirmed: str
    page: str


def problem_page(request: HttpRequest, clinic: Clinic, message: str, status: int) -> HttpResponse:
    """The clinic's own page for a link that cannot be used, saying why in plain words."""
    return render(
        request,
        "links/problem.html",
        {"public_clinic": clinic, "problem": message},
        status=status,
    )


def link_start(request: HttpRequest, clinic: Clinic, token: str, kind: LinkKind) -> HttpResponse:
    """Opening the e-mailed link (GET or HEAD, by a person or a mail scanner) changes nothing:
    the token is checked, the link kept in the session, and the page redirects to the kind's
    token-free page. Staff signed in to another clinic are told the link is not valid."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    link = kind.model.objects.filter(clinic=clinic, token_hash=token_hash(token)).first()
    if staff_of_another_clinic(request, clinic):
        link = None
    try:
        link = check_usable(link, kind=kind.model)
    except LinkUnusable as problem:
        return problem_page(request, clinic, str(problem), problem.status)
    request.session.cycle_key()
    request.session[kind.session_link] = str(link.pk)
    request.session[kind.session_confirmed] = False
    return redirect(kind.page, clinic=clinic.slug)
