"""Comparison pages. Staff: choose a pair, line it up, render, present to the patient in the
room, share. Public: the patient's shared comparison (no account; the link's token moves into
the session at once and the page redirects, like the consent links)."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from audit.access import record_access
from audit.http import AuditedRequest, ClinicRequest
from clinic.models import Clinic
from clinic.permissions import require
from clinic.public import public_page
from clinic.responses import NO_STORE, file_response
from clinic.tokens import lifetime_text
from comparisons import selectors, services
from comparisons.models import Comparison, ComparisonShare
from links.forms import IdentityForm
from links.services import MAX_DOB_ATTEMPTS, LinkUnusable, check_usable
from links.views import LinkKind, link_start, problem_page
from patients.views import patient_or_404
from photos import selectors as photo_selectors
from vault.storage import BlobUnreadable, StorageUnavailable

# Presentation shows the newest pairs; each needs its alignment, found as the page loads.
MAX_PRESENTED = 8
SESSION_SHARE = "comparison_share"
SESSION_SHARE_OK = "comparison_share_identity_ok"


def _comparison_or_404(request: ClinicRequest, comparison_id) -> Comparison:
    comparison = selectors.comparison_get(clinic=request.clinic, comparison_id=comparison_id)
    if comparison is None:
        raise Http404("No such comparison")
    return comparison


def _photo_urls(clinic_slug: str, comparison: Comparison) -> dict:
    return {
        which: reverse("photo_display", kwargs={"clinic_slug": clinic_slug, "photo_id": photo.pk})
        for which, photo in (("before", comparison.before), ("after", comparison.after))
    }


def comparison_state(clinic_slug: str, comparison: Comparison) -> dict:
    """What the page shows of the rendering, and polls for until it is done."""
    kwargs = {"clinic_slug": clinic_slug, "comparison_id": comparison.pk}
    ready = comparison.is_ready
    return {
        "status": comparison.status,
        "status_label": comparison.get_status_display(),
        "failure_reason": comparison.failure_reason,
        "warnings": comparison.warnings,
        "image_url": reverse("comparison_image", kwargs=kwargs) if ready else "",
        "pdf_url": reverse("comparison_pdf", kwargs=kwargs) if ready else "",
    }


@require("comparisons.create")
def comparison_new(request: ClinicRequest, clinic_slug: str, patient_id) -> HttpResponse:
    """Suggested pairs and any two ready photos of the patient; POST starts the comparison."""
    patient = patient_or_404(request, patient_id)
    photos = list(photo_selectors.photos_of(clinic=request.clinic, patient=patient))
    context = {
        "patient": patient,
        "suggestions": selectors.suggestions_for(clinic=request.clinic, patient=patient),
        "photos": [p for p in photos if p.is_ready],
    }
    if request.method != "POST":
        record_access(
            request,
            "patient.viewed",
            target=patient,
            patient=patient,
            details={"page": "new comparison"},
        )
        return render(request, "comparisons/new.html", context)
    ids = [request.POST.get("before", ""), request.POST.get("after", "")]
    found = []
    for value in ids:
        try:
            # Deleted ones too, so the refusal can say so; another clinic's are not found.
            photo = photo_selectors.photo_get(
                clinic=request.clinic, photo_id=value, include_deleted=True
            )
        except ValidationError:  # a malformed id is as good as none
            photo = None
        found.append(photo)
    if ids[0] and ids[1] and (found[0] is None or found[1] is None):
        # Another clinic's photo (or a deleted one): nothing of it is revealed.
        return render(
            request,
            "comparisons/new.html",
            {**context, "problem": "One of those photos could not be found in this clinic."},
            status=404,
        )
    try:
        comparison = services.comparison_create(
            clinic=request.clinic,
            patient=patient,
            before=found[0],
            after=found[1],
            by=request.user,
            context=request.audit,
        )
    except services.ComparisonRefused as refusal:
        return render(
            request, "comparisons/new.html", {**context, "problem": str(refusal)}, status=400
        )
    except StorageUnavailable:
        return render(
            request,
            "comparisons/new.html",
            {**context, "problem": "Photo storage is unreachable; try again shortly."},
            status=503,
        )
    except BlobUnreadable:
        return render(
            request,
            "comparisons/new.html",
            {**context, "problem": "One of the photos cannot be read; nothing was made."},
            status=400,
        )
    return redirect("comparison_detail", clinic_slug=clinic_slug, comparison_id=comparison.pk)


@require("comparisons.create")
def comparison_detail(request: ClinicRequest, clinic_slug: str, comparison_id) -> HttpResponse:
    """The compare page: both photos side by side (stacked on a phone), the proposed
    alignment to nudge, the warnings, rendering and sharing."""
    comparison = _comparison_or_404(request, comparison_id)
    state = comparison_state(clinic_slug, comparison)
    record_access(request, "comparison.viewed", target=comparison, patient=comparison.patient_id)
    return render(
        request,
        "comparisons/detail.html",
        {
            "comparison": comparison,
            "patient": comparison.patient,
            "state": state,
            "setup": {
                "proposal": comparison.proposal,
                "transform": comparison.transform,
                "photos": _photo_urls(clinic_slug, comparison),
                "status_url": reverse(
                    "comparison_status",
                    kwargs={"clinic_slug": clinic_slug, "comparison_id": comparison.pk},
                ),
                "state": state,
            },
            "shares": list(selectors.shares_of(clinic=request.clinic, comparison=comparison)),
            "link_lifetime": lifetime_text(settings.COMPARISON_LINK_LIFETIME),
        },
    )


@require("comparisons.create")
def comparison_render(request: ClinicRequest, clinic_slug: str, comparison_id) -> HttpResponse:
    """Keep the transform on the page and have the worker make the image and PDF."""
    comparison = _comparison_or_404(request, comparison_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        transform = json.loads(request.POST.get("transform", "") or "null")
        if not isinstance(transform, dict):
            transform = comparison.transform
        services.comparison_render_request(
            clinic=request.clinic,
            comparison=comparison,
            by=request.user,
            transform=transform,
            show_full_name=request.POST.get("full_name") == "1",
            context=request.audit,
        )
    except (ValueError, services.ComparisonRefused) as refusal:
        text = (
            str(refusal)
            if isinstance(refusal, services.ComparisonRefused)
            else ("The alignment sent was not understood; nothing changed.")
        )
        messages.error(request, text)
    else:
        messages.success(request, "Making the image and PDF; they appear here when ready.")
    return redirect("comparison_detail", clinic_slug=clinic_slug, comparison_id=comparison.pk)


@require("comparisons.create")
def comparison_status(request: ClinicRequest, clinic_slug: str, comparison_id) -> JsonResponse:
    comparison = _comparison_or_404(request, comparison_id)
    return JsonResponse(
        comparison_state(clinic_slug, comparison), headers={"Cache-Control": NO_STORE}
    )


def _serve(request: ClinicRequest, comparison_id, which: str) -> HttpResponse:
    comparison = _comparison_or_404(request, comparison_id)
    if not comparison.is_ready:
        raise Http404("Not rendered yet")
    try:
        data = services.comparison_file_served(
            clinic=request.clinic,
            comparison=comparison,
            which=which,
            by=request.user,
            context=request.audit,
        )
    except BlobUnreadable as error:
        raise Http404("This comparison cannot be shown") from error
    except StorageUnavailable:
        return HttpResponse("Storage is unreachable; try again shortly.", status=503)
    return _file_response(data, which, comparison)


def _file_response(data: bytes, which: str, comparison: Comparison) -> HttpResponse:
    if which == "image":
        return file_response(data, "image/jpeg")
    name = f"comparison-{comparison.rendered_at:%Y%m%d}-{str(comparison.pk)[:8]}"
    return file_response(data, "application/pdf", filename=f"{name}.pdf")


@require("comparisons.create")
def comparison_image(request: ClinicRequest, clinic_slug: str, comparison_id) -> HttpResponse:
    return _serve(request, comparison_id, "image")


@require("comparisons.create")
def comparison_pdf(request: ClinicRequest, clinic_slug: str, comparison_id) -> HttpResponse:
    return _serve(request, comparison_id, "pdf")


@require("comparisons.share")
def comparison_share(request: ClinicRequest, clinic_slug: str, comparison_id) -> HttpResponse:
    comparison = _comparison_or_404(request, comparison_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        services.share_send(
            clinic=request.clinic, comparison=comparison, by=request.user, context=request.audit
        )
    except services.ComparisonRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(
            request,
            f"Sent to {comparison.patient.email}. The link works for "
            f"{lifetime_text(settings.COMPARISON_LINK_LIFETIME)} after the date of birth is "
            "confirmed.",
        )
    return redirect("comparison_detail", clinic_slug=clinic_slug, comparison_id=comparison.pk)


@require("comparisons.share")
def share_revoke(request: ClinicRequest, clinic_slug: str, share_id) -> HttpResponse:
    share = selectors.share_get(clinic=request.clinic, share_id=share_id)
    if share is None:
        raise Http404("No such share")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.share_revoke(
        clinic=request.clinic, share=share, by=request.user, context=request.audit
    )
    messages.success(request, "The link is revoked: it no longer opens.")
    return redirect("comparison_detail", clinic_slug=clinic_slug, comparison_id=share.comparison_id)


@require("comparisons.create")
def present(request: ClinicRequest, clinic_slug: str, patient_id) -> HttpResponse:
    """Presentation mode: the suggested pairs full screen, the latest treatment first and its
    views in the protocol's order (front first), with nothing but the photos and their stage
    and date, so the screen can be turned to the patient."""
    patient = patient_or_404(request, patient_id)
    pairs = selectors.presentation_pairs(clinic=request.clinic, patient=patient)[:MAX_PRESENTED]
    services.presentation_opened(
        clinic=request.clinic,
        patient=patient,
        by=request.user,
        pairs=len(pairs),
        context=request.audit,
    )
    slides = [
        {
            "before": reverse(
                "photo_display", kwargs={"clinic_slug": clinic_slug, "photo_id": s.before.pk}
            ),
            "after": reverse(
                "photo_display", kwargs={"clinic_slug": clinic_slug, "photo_id": s.after.pk}
            ),
            # Which pair this is, so two areas are not confused; nothing about the patient.
            "title": f"{s.before.get_area_display()}, {s.before.get_view_display().lower()}",
            "before_label": selectors.photo_label(s.before),
            "after_label": selectors.photo_label(s.after),
            # The wipe lays the after on the before as a comparison would.
            "alignment": services.pair_alignment(
                clinic=request.clinic, before=s.before, after=s.after
            ),
        }
        for s in pairs
    ]
    return render(
        request,
        "comparisons/present.html",
        {"patient": patient, "slides": slides, "back_url": _patient_url(clinic_slug, patient)},
    )


def _patient_url(clinic_slug: str, patient) -> str:
    return (
        reverse("patient_detail", kwargs={"clinic_slug": clinic_slug, "patient_id": patient.pk})
        + "#comparisons"
    )


# --- the patient's shared comparison -------------------------------------------------------------


SHARE_LINK = LinkKind(
    model=ComparisonShare,
    session_link=SESSION_SHARE,
    session_confirmed=SESSION_SHARE_OK,
    page="comparison_shared",
)


@public_page(token_in_url=True)
def share_start(request: HttpRequest, clinic: Clinic, token: str) -> HttpResponse:
    """The e-mailed link to a comparison: checked, kept in the session, redirected
    (links.views)."""
    return link_start(request, clinic, token, SHARE_LINK)


def _session_share(request: HttpRequest, clinic):
    share = selectors.share_get(clinic=clinic, share_id=request.session.get(SESSION_SHARE))
    if share is None:
        raise LinkUnusable(
            "Please open the link in the clinic's e-mail again to see your photos.", 400
        )
    return check_usable(share, kind=ComparisonShare)


@public_page()
def shared(request: AuditedRequest, clinic: Clinic) -> HttpResponse:
    """Step one: confirm the date of birth. Then: the comparison, with a wipe slider and the
    PDF."""
    try:
        share = _session_share(request, clinic)
    except LinkUnusable as problem:
        return problem_page(request, clinic, str(problem), problem.status)
    context = {"public_clinic": clinic, "share": share}
    if not request.session.get(SESSION_SHARE_OK):
        form = IdentityForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                confirmed = services.share_confirm_identity(
                    share=share,
                    date_of_birth=form.cleaned_data["date_of_birth"],
                    context=request.audit,
                )
            except LinkUnusable as problem:
                return problem_page(request, clinic, str(problem), problem.status)
            if confirmed:
                request.session[SESSION_SHARE_OK] = True
                return redirect("comparison_shared", clinic=clinic.slug)
            share.refresh_from_db()
            left = MAX_DOB_ATTEMPTS - share.failed_checks
            form.add_error(
                None,
                "That date of birth does not match the clinic's record. "
                f"{left} attempt{'s' if left != 1 else ''} left.",
            )
        return render(request, "comparisons/public/identity.html", {**context, "form": form})
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    try:
        services.share_viewed(share=share, what="page", context=request.audit)
    except LinkUnusable as problem:
        return problem_page(request, clinic, str(problem), problem.status)
    return render(request, "comparisons/public/shared.html", context)


def _shared_file(request: AuditedRequest, clinic, which: str) -> HttpResponse:
    try:
        share = _session_share(request, clinic)
        if not request.session.get(SESSION_SHARE_OK):
            raise LinkUnusable("Please confirm your date of birth first.", 403)
        data = services.share_viewed(share=share, what=which, context=request.audit)
    except LinkUnusable as problem:
        return problem_page(request, clinic, str(problem), problem.status)
    except BlobUnreadable as error:
        raise Http404("This comparison cannot be shown") from error
    # share_viewed returns bytes for "image" and "pdf", the two this view serves.
    return _file_response(data, which, share.comparison)  # type: ignore[arg-type]


@public_page()
def shared_image(request: AuditedRequest, clinic: Clinic) -> HttpResponse:
    return _shared_file(request, clinic, "image")


@public_page()
def shared_pdf(request: AuditedRequest, clinic: Clinic) -> HttpResponse:
    return _shared_file(request, clinic, "pdf")
