"""Photo screens: upload and capture, the patient's photos, the viewer, and the
authenticated endpoints that decrypt renditions on the way out."""

from __future__ import annotations

import dataclasses
import uuid

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from clinic.permissions import require
from consent.models import MARKETING_USES, ConsentUse
from consent.selectors import active_uses
from patients.views import patient_or_404
from patients.vocab import FacialArea
from photos import selectors, services
from photos.forms import CorrectDetailsForm, DeleteForm, PhotoDetailsForm, per_file_choices
from photos.imaging import MAX_UPLOAD_BYTES, ImageRejected, display_name
from photos.models import Photo, PhotoStatus, Stage, View
from vault.storage import BlobUnreadable, StorageUnavailable

NO_STORE = "private, no-store, max-age=0"


def _photo_or_404(request: HttpRequest, photo_id) -> Photo:
    photo = selectors.photo_get(clinic=request.clinic, photo_id=photo_id)
    if photo is None:
        raise Http404("No such photo")
    return photo


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def photo_urls(clinic_slug: str, photo: Photo) -> dict[str, str]:
    kwargs = {"clinic_slug": clinic_slug, "photo_id": photo.pk}
    return {
        "detail": reverse("photo_detail", kwargs=kwargs),
        "thumb": reverse("photo_thumb", kwargs=kwargs),
        "display": reverse("photo_display", kwargs=kwargs),
    }


@require("photos.upload")
def photo_upload(request: HttpRequest, clinic_slug: str, patient_id) -> HttpResponse:
    """Choose, drop or capture photos; each file is checked by content and stored encrypted."""
    patient = patient_or_404(request, patient_id)
    form = PhotoDetailsForm(request.POST or None, patient=patient)
    if request.method != "POST":
        return render(
            request,
            "photos/upload.html",
            {"patient": patient, "form": form, "max_mb": MAX_UPLOAD_BYTES // 2**20},
        )
    files = request.FILES.getlist("files")
    results: list[dict] = []
    problem = ""
    if not form.is_valid():
        problem = "Check the photo details: " + "; ".join(
            f"{form.fields[f].label or f}: {' '.join(e)}" if f in form.fields else " ".join(e)
            for f, e in form.errors.items()
        )
    else:
        try:
            services.upload_check(patient=patient, file_count=len(files))
        except services.UploadRefused as refusal:
            problem = str(refusal)
    per_file: list[services.PhotoDetails] = []
    if not problem:
        details = services.PhotoDetails(**form.cleaned_data)
        # Each file may say what it shows (file_stage/file_area/file_view, in file order);
        # a missing or empty value is the form's.
        try:
            columns = {
                field: per_file_choices(
                    request.POST.getlist(f"file_{field}"), len(files), field, choices
                )
                for field, choices in (
                    ("stage", Stage.choices),
                    ("area", FacialArea.choices),
                    ("view", View.choices),
                )
            }
        except forms.ValidationError as error:
            problem = " ".join(error.messages) + " Nothing was stored."
        else:
            for index in range(len(files)):
                own = {k: v[index] for k, v in columns.items() if v[index]}
                per_file.append(dataclasses.replace(details, **own))
    if not problem:
        for upload, details in zip(files, per_file, strict=True):
            name = display_name(upload.name or "")
            try:
                services.upload_size_check(
                    filename=upload.name or "",
                    size=upload.size,
                    over_limit=getattr(upload, "over_limit", False),
                )
                photo = services.photo_accept(
                    clinic=request.clinic,
                    patient=patient,
                    by=request.user,
                    details=details,
                    filename=upload.name or "",
                    data=upload.read(),
                    request=request,
                )
            except ImageRejected as rejection:
                results.append({"name": name, "ok": False, "message": str(rejection)})
            else:
                results.append(
                    {
                        "name": name,
                        "ok": True,
                        "photo_id": str(photo.pk),
                        "message": f"{name} uploaded; preparing thumbnails.",
                        **photo_urls(clinic_slug, photo),
                    }
                )
    accepted = sum(r["ok"] for r in results)
    if _wants_json(request):
        status = 400 if problem or not accepted else 200
        return JsonResponse({"problem": problem, "results": results}, status=status)
    if problem:
        messages.error(request, problem)
        return render(
            request,
            "photos/upload.html",
            {"patient": patient, "form": form, "max_mb": MAX_UPLOAD_BYTES // 2**20},
            status=400,
        )
    for result in results:
        (messages.success if result["ok"] else messages.error)(request, result["message"])
    return redirect(
        reverse("patient_detail", kwargs={"clinic_slug": clinic_slug, "patient_id": patient.pk})
        + "#photos"
    )


@require("photos.view")
def photo_status(request: HttpRequest, clinic_slug: str, patient_id) -> JsonResponse:
    """Processing state of the patient's photos, for the page to update without a reload."""
    patient = patient_or_404(request, patient_id)
    ids = []
    for value in request.GET.get("ids", "").split(",")[:200]:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    photos = selectors.photos_of(clinic=request.clinic, patient=patient).filter(pk__in=ids)
    items = [
        {
            "id": str(p.pk),
            "status": p.status,
            "failure_reason": p.failure_reason,
            **photo_urls(clinic_slug, p),
        }
        for p in photos
    ]
    return JsonResponse({"photos": items}, headers={"Cache-Control": NO_STORE})


@require("photos.view")
def photo_ghost(request: HttpRequest, clinic_slug: str, patient_id) -> JsonResponse:
    """The earlier photo of the same area and view, to line a new one up against."""
    patient = patient_or_404(request, patient_id)
    photo = selectors.ghost_for(
        clinic=request.clinic,
        patient=patient,
        area=request.GET.get("area", ""),
        view=request.GET.get("view", ""),
    )
    if photo is None:
        return JsonResponse({"found": False}, headers={"Cache-Control": NO_STORE})
    return JsonResponse(
        {
            "found": True,
            "url": photo_urls(clinic_slug, photo)["display"],
            "label": f"{photo.get_stage_display()} · {photo.taken_at:%d %b %Y}",
        },
        headers={"Cache-Control": NO_STORE},
    )


@require("photos.upload")
def photo_correct(request: HttpRequest, clinic_slug: str, photo_id) -> HttpResponse:
    """Correct a photo's stage, area or view; audited, the original untouched."""
    photo = _photo_or_404(request, photo_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = CorrectDetailsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a stage, area and view from the lists; nothing changed.")
        return redirect("photo_detail", clinic_slug=clinic_slug, photo_id=photo.pk)
    changes = services.photo_details_correct(
        clinic=request.clinic, photo=photo, by=request.user, request=request, **form.cleaned_data
    )
    if changes:
        messages.success(
            request, f"Photo details corrected: now {photo}. The original is unchanged."
        )
    else:
        messages.info(request, "Nothing to correct: the details were already these.")
    return redirect("photo_detail", clinic_slug=clinic_slug, photo_id=photo.pk)


@require("photos.view")
def photo_detail(request: HttpRequest, clinic_slug: str, photo_id) -> HttpResponse:
    """The viewer: one photo large, with its details and previous/next of the same patient."""
    photo = _photo_or_404(request, photo_id)
    filters = selectors.clean_filters(request.GET)
    siblings = list(
        selectors.photos_of(
            clinic=request.clinic, patient=photo.patient, filters=filters
        ).values_list("id", flat=True)
    )
    if photo.pk not in siblings:
        siblings = list(
            selectors.photos_of(clinic=request.clinic, patient=photo.patient).values_list(
                "id", flat=True
            )
        )
        filters = {}
    index = siblings.index(photo.pk)
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    # Offer only what the patient consents to now; the service checks again on adding.
    consented = active_uses(clinic=request.clinic, patient=photo.patient)
    return render(
        request,
        "photos/detail.html",
        {
            "photo": photo,
            "patient": photo.patient,
            "previous_id": siblings[index - 1] if index > 0 else None,
            "next_id": siblings[index + 1] if index + 1 < len(siblings) else None,
            "position": index + 1,
            "total": len(siblings),
            "nav_query": query,
            "delete_form": DeleteForm(),
            "open_correct": request.GET.get("correct") == "1",
            "correct_form": CorrectDetailsForm(
                initial={"stage": photo.stage, "area": photo.area, "view": photo.view},
                auto_id="correct-%s",
            ),
            "marketing_uses": [
                c for c in ConsentUse.choices if c[0] in MARKETING_USES and c[0] in consented
            ],
            "marketing_items": list(photo.marketing_items.filter(removed_at__isnull=True)),
        },
    )


def _serve(request: HttpRequest, photo_id, rendition: str) -> HttpResponse:
    photo = _photo_or_404(request, photo_id)
    if rendition != "original" and photo.status != PhotoStatus.READY:
        raise Http404("Not ready")
    try:
        data = services.photo_served(
            clinic=request.clinic,
            photo=photo,
            rendition=rendition,
            by=request.user,
            request=request,
        )
    except BlobUnreadable as error:
        raise Http404("This photo cannot be shown") from error
    except StorageUnavailable:
        return HttpResponse(
            "Photo storage is unreachable; try again shortly.",
            status=503,
            content_type="text/plain",
        )
    content_type = photo.original_mime if rendition == "original" else "image/jpeg"
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = NO_STORE
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if rendition == "original":
        response["Content-Disposition"] = f'attachment; filename="{_download_name(photo)}"'
    return response


def _download_name(photo: Photo) -> str:
    extension = {
        "image/jpeg": "jpg",
        "image/png": "png",
        "image/webp": "webp",
        "image/heic": "heic",
        "image/heif": "heif",
    }.get(photo.original_mime, "bin")
    stem = f"photo-{photo.taken_at:%Y%m%d}-{photo.area}-{photo.view}-{str(photo.pk)[:8]}"
    return f"{stem}.{extension}"


@require("photos.view")
def photo_thumb(request: HttpRequest, clinic_slug: str, photo_id) -> HttpResponse:
    return _serve(request, photo_id, "thumb")


@require("photos.view")
def photo_display(request: HttpRequest, clinic_slug: str, photo_id) -> HttpResponse:
    return _serve(request, photo_id, "display")


@require("photos.download_original")
def photo_original(request: HttpRequest, clinic_slug: str, photo_id) -> HttpResponse:
    return _serve(request, photo_id, "original")


@require("photos.upload")
def photo_delete(request: HttpRequest, clinic_slug: str, photo_id) -> HttpResponse:
    photo = _photo_or_404(request, photo_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = DeleteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason for deleting the photo; nothing was deleted.")
        return redirect("photo_detail", clinic_slug=clinic_slug, photo_id=photo.pk)
    services.photo_delete(
        clinic=request.clinic,
        photo=photo,
        by=request.user,
        reason=form.cleaned_data["reason"],
        request=request,
    )
    messages.success(
        request, "Photo deleted. It no longer appears anywhere; the audit trail keeps the reason."
    )
    return redirect(
        reverse(
            "patient_detail", kwargs={"clinic_slug": clinic_slug, "patient_id": photo.patient_id}
        )
        + "#photos"
    )
