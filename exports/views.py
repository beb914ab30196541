"""Export screens: ask for one from the patient page, watch it build, download it. Admins only
(``export.create``); a refusal is a 403 page and on record."""

from __future__ import annotations

from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse

from audit.access import record_access, require_audited
from audit.http import ClinicRequest
from clinic.models import Clinic
from clinic.public import public_page
from clinic.responses import NO_STORE, file_response
from exports import selectors, services, signing
from exports.forms import BundleCheckForm, ExportForm
from exports.models import Export
from patients.selectors import episodes_of
from patients.views import patient_or_404

PERMISSION = "export.create"


def _export_or_404(request: ClinicRequest, export_id) -> Export:
    export = selectors.export_get(clinic=request.clinic, export_id=export_id)
    if export is None:
        raise Http404("No such export")
    return export


def _urls(clinic_slug: str, export: Export) -> dict[str, str]:
    kwargs = {"clinic_slug": clinic_slug, "export_id": export.pk}
    return {
        "detail": reverse("export_detail", kwargs=kwargs),
        "status": reverse("export_status", kwargs=kwargs),
        "download": reverse("export_download", kwargs=kwargs),
    }


@require_audited(PERMISSION)
def export_create(request: ClinicRequest, clinic_slug: str, patient_id) -> HttpResponse:
    """Ask for an export of this patient; the worker builds it."""
    patient = patient_or_404(request, patient_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = ExportForm(request.POST, episodes=episodes_of(clinic=request.clinic, patient=patient))
    if form.is_valid():
        try:
            export = services.export_create(
                clinic=request.clinic,
                patient=patient,
                recipient=form.cleaned_data["recipient"],
                reason=form.cleaned_data["reason"],
                episode=form.cleaned_data["episode"],
                by=request.user,
                context=request.audit,
            )
        except services.ExportRefused as refusal:
            form.add_error(None, refusal.messages)
        else:
            messages.success(request, f"Export for {export.recipient} started.")
            return redirect("export_detail", clinic_slug=clinic_slug, export_id=export.pk)
    return render(
        request, "exports/export_form.html", {"patient": patient, "form": form}, status=400
    )


@require_audited(PERMISSION)
def export_detail(request: ClinicRequest, clinic_slug: str, export_id) -> HttpResponse:
    """One export: what it covers, its progress (updated by exports.js), the download."""
    export = _export_or_404(request, export_id)
    record_access(request, "export.viewed", target=export, patient=export.patient_id)
    return render(
        request,
        "exports/export_detail.html",
        {
            "export": export,
            "patient": export.patient,
            "progress": services.export_progress(export),
            "urls": _urls(clinic_slug, export),
            "key_page_url": signing.key_page_url(request.clinic),
        },
    )


@require_audited(PERMISSION)
def export_status(request: ClinicRequest, clinic_slug: str, export_id) -> JsonResponse:
    """The export's state and progress as JSON, for the page to poll."""
    export = _export_or_404(request, export_id)
    response = JsonResponse(
        {
            "state": export.state,
            "state_label": export.get_state_display(),
            "progress": services.export_progress(export),
            "downloadable": export.is_downloadable,
            "size": export.size,
            "failure_reason": export.failure_reason,
            "download_url": _urls(clinic_slug, export)["download"]
            if export.is_downloadable
            else "",
        }
    )
    response["Cache-Control"] = NO_STORE
    return response


@require_audited(PERMISSION)
def export_download(
    request: ClinicRequest, clinic_slug: str, export_id
) -> HttpResponse | StreamingHttpResponse:
    """The ZIP, decrypted as it streams; audited naming the recipient. An expired export's
    object is deleted now if the beat task has not yet, and the page says so."""
    export = _export_or_404(request, export_id)
    if export.is_expired and export.state != "expired":
        services.export_expire(export=export)
    try:
        chunks = services.export_download(export=export, by=request.user, context=request.audit)
    except services.ExportUnavailable:
        status = 410 if export.is_expired else 409
        return render(
            request,
            "exports/export_unavailable.html",
            {"export": export, "patient": export.patient, "urls": _urls(clinic_slug, export)},
            status=status,
        )
    return file_response(
        chunks,
        "application/zip",
        filename=export.filename,
        attachment=True,
        length=export.size,
    )


@require_audited(PERMISSION)
def export_cover_letter(
    request: ClinicRequest, clinic_slug: str, export_id
) -> HttpResponse | StreamingHttpResponse:
    """The one-page letter to send apart from the bundle: the key's fingerprint, where the
    clinic publishes it, and the SHA-256 of this bundle's SHA256SUMS; audited."""
    export = _export_or_404(request, export_id)
    if not export.sums_sha256 or export.signing_key is None:
        raise Http404("This export has no cover letter (it was not built, or built before them)")
    data = services.cover_letter_pdf(export=export, by=request.user, context=request.audit)
    return file_response(
        [data],
        "application/pdf",
        filename=export.filename.replace(".zip", "-cover-letter.pdf"),
        attachment=True,
        length=len(data),
    )


@require_audited(PERMISSION)
def bundle_check(request: ClinicRequest, clinic_slug: str) -> HttpResponse:
    """Check a bundle the clinic received back (an insurer's copy, say) against the clinic's own
    keys: the same checks as VERIFY.txt and ``verify_export``, naming each file that differs."""
    form = BundleCheckForm(request.POST or None, request.FILES or None)
    report = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["bundle"]
            report = services.bundle_check(
                clinic=request.clinic, source=upload, by=request.user, context=request.audit
            )
        else:
            status = 400
    return render(
        request,
        "exports/bundle_check.html",
        {"form": form, "report": report, "keys": signing.signing_keys(clinic=request.clinic)},
        status=status,
    )


@require_audited(PERMISSION)
def signing_key_rotate(request: ClinicRequest, clinic_slug: str) -> HttpResponse:
    """Retire the current signing key and make a new one (POST, from the settings page)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    key = signing.signing_key_rotate(clinic=request.clinic, by=request.user, context=request.audit)
    messages.success(
        request,
        f"New signing key {key.fingerprint[:16]}… in use. The old key stays published, so "
        "bundles it signed still verify.",
    )
    return redirect(reverse("clinic_settings", kwargs={"clinic_slug": clinic_slug}) + "#export-key")


@public_page()
def export_keys(request: HttpRequest, clinic: Clinic) -> HttpResponse:
    """The clinic's export signing keys, current and retired, with their dates: the stable
    public address a recipient checks a bundle's key against."""
    keys = signing.signing_keys(clinic=clinic)
    response = render(
        request,
        "exports/export_keys.html",
        {"public_clinic": clinic, "keys": keys, "page_url": signing.key_page_url(clinic)},
    )
    return response


@public_page()
def export_key_pem(request: HttpRequest, clinic: Clinic, fingerprint: str) -> HttpResponse:
    """One key's PEM file (what VERIFY.txt's curl fetches). An unknown fingerprint is a 404."""
    keys = signing.signing_keys(clinic=clinic)
    key = next((k for k in keys if k.fingerprint == fingerprint), None)
    if key is None:
        raise Http404("No such key")
    response = HttpResponse(key.public_key_pem, content_type="application/x-pem-file")
    name = f"{clinic.slug}-export-key-{fingerprint[:16]}.pem"
    response["Content-Disposition"] = f'inline; filename="{name}"'
    return response
