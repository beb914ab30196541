"""Photo screens: upload and capture, the patient's photos, the viewer, and the
authenticated endpoints that decrypt renditions on the way out."""

from __future__ import annotations

import dataclasses
import uuid

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from audit.access import record_access
from audit.http import ClinicRequest
from clinic.permissions import require
from clinic.responses import NO_STORE
from patients.selectors import episodes_of
from patients.views import patient_or_404
from patients.vocab import FacialArea
from photos import selectors, services, thumbnails, viewer
from photos.forms import CorrectDetailsForm, DeleteForm, PhotoDetailsForm, per_file_choices
from photos.imaging import MAX_UPLOAD_BYTES, ImageRejected, display_name
from photos.models import Photo, PhotoStatus, Stage, View
from vault.storage import BlobUnreadable, StorageUnavailable


def _photo_or_404(request: ClinicRequest, photo_id) -> Photo:
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
def photo_upload(request: ClinicRequest, clinic_slug: str, patient_id) -> HttpResponse:
    """Choose, drop or capture photos; each file is checked by content and stored encrypted."""
    patient = patient_or_404(request, patient_id)
    form = PhotoDetailsForm(request.POST or None, patient=patient)
    if request.method != "POST":
        record_access(
            request,
            "patient.viewed",
            target=patient,
            patient=patient,
            details={"page": "add photos"},
        )
        return _upload_page(request, patient, form)
    files = request.FILES.getlist("files")
    results: list[dict] = []
    replaced = None
    problem = _upload_problem(request, form, patient, len(files))
    if not problem and request.POST.get("replaces"):
        # A retake in guided capture: the earlier shot of the step goes once this one is in.
        replaced = _replaced_photo(request, patient, request.POST["replaces"], len(files))
        if replaced is None:
            problem = "The photo to retake is not one of this patient's. Nothing was stored."
    if not problem:
        try:
            per_file = _per_file_details(request, services.PhotoDetails(**form.cleaned_data), files)
        except forms.ValidationError as error:
            problem = " ".join(error.messages) + " Nothing was stored."
        else:
            results = [
                _store_upload(request, clinic_slug, patient, upload, details, replaced)
                for upload, details in zip(files, per_file, strict=True)
            ]
    accepted = sum(r["ok"] for r in results)
    if _wants_json(request):
        status = 400 if problem or not accepted else 200
        return JsonResponse({"problem": problem, "results": results}, status=status)
    if problem:
        messages.error(request, problem)
        return _upload_page(request, patient, form, status=400)
    for result in results:
        (messages.success if result["ok"] else messages.error)(request, result["message"])
    return redirect(
        reverse("patient_detail", kwargs={"clinic_slug": clinic_slug, "patient_id": patient.pk})
        + "#photos"
    )


def _upload_page(request: HttpRequest, patient, form, status: int = 200) -> HttpResponse:
    return render(
        request,
        "photos/upload.html",
        {"patient": patient, "form": form, "max_mb": MAX_UPLOAD_BYTES // 2**20},
        status=status,
    )


def _upload_problem(request: HttpRequest, form, patient, file_count: int) -> str:
    """Why nothing of this upload may be stored (the details, the count), or ""."""
    if not form.is_valid():
        return "Check the photo details: " + "; ".join(
            f"{form.fields[f].label or f}: {' '.join(e)}" if f in form.fields else " ".join(e)
            for f, e in form.errors.items()
        )
    try:
        services.upload_check(patient=patient, file_count=file_count)
    except services.UploadRefused as refusal:
        return str(refusal)
    return ""


def _per_file_details(
    request: HttpRequest, details: services.PhotoDetails, files: list
) -> list[services.PhotoDetails]:
    """Each file may say what it shows (file_stage/file_area/file_view, in file order); a
    missing or empty value is the form's. ValidationError for a value that is not a choice."""
    columns = {
        field: per_file_choices(request.POST.getlist(f"file_{field}"), len(files), field, choices)
        for field, choices in (
            ("stage", Stage.choices),
            ("area", FacialArea.choices),
            ("view", View.choices),
        )
    }
    # Only stage, area and view are replaced, each by one of the form's choices.
    return [
        dataclasses.replace(details, **{k: v[index] for k, v in columns.items() if v[index]})  # type: ignore[arg-type]
        for index in range(len(files))
    ]


def _store_upload(
    request: ClinicRequest, clinic_slug: str, patient, upload, details, replaced: Photo | None
) -> dict:
    """One file checked and stored (or, for a retake, put in the earlier shot's place); the
    result the page or the upload script shows for it."""
    name = display_name(upload.name or "")
    try:
        services.upload_size_check(
            filename=upload.name or "",
            size=upload.size,
            over_limit=getattr(upload, "over_limit", False),
        )
        received = {
            "clinic": request.clinic,
            "patient": patient,
            "by": request.user,
            "details": details,
            "filename": upload.name or "",
            "data": upload.read(),
            "context": request.audit,
        }
        if replaced is None:
            photo = services.photo_accept(**received)
        else:  # a retake: the earlier shot of the step goes with this one's arrival
            photo = services.photo_retake(replaced=replaced, **received)
    except ImageRejected as rejection:
        return {"name": name, "ok": False, "message": str(rejection)}
    return {
        "name": name,
        "ok": True,
        "photo_id": str(photo.pk),
        "message": f"{name} uploaded; preparing thumbnails.",
        **photo_urls(clinic_slug, photo),
    }


def _replaced_photo(request: ClinicRequest, patient, value: str, file_count: int) -> Photo | None:
    try:
        photo_id = uuid.UUID(value[:40])
    except ValueError:
        return None
    photo = selectors.photo_get(clinic=request.clinic, photo_id=photo_id)
    if photo is None or photo.patient_id != patient.pk or file_count != 1:
        return None
    return photo


@require("photos.upload")
def photo_capture(request: ClinicRequest, clinic_slug: str, patient_id) -> HttpResponse:
    """Guided capture: the treatment's views one after another, each with the ghost of its
    earlier photo, each uploaded the moment it is taken with its facts filled in."""
    patient = patient_or_404(request, patient_id)
    stage = request.GET.get("stage", "")
    stage = stage if stage in Stage.values else Stage.BEFORE
    episodes = list(episodes_of(clinic=request.clinic, patient=patient))
    wanted = request.GET.get("episode", "")
    episode = next((e for e in episodes if str(e.pk) == wanted), episodes[0] if episodes else None)
    context = {"patient": patient, "stage": stage, "stage_label": Stage(stage).label}
    record_access(
        request,
        "patient.viewed",
        target=patient,
        patient=patient,
        details={"page": "guided capture", "stage": stage},
    )
    if episode is None or patient.archived_at:
        return render(request, "photos/capture.html", {**context, "episode": None})
    area = request.GET.get("area", "")
    if area not in FacialArea.values:
        area = episode.areas[0] if episode.areas else FacialArea.FULL_FACE
    done = {
        p.view: p
        for p in selectors.photos_of(
            clinic=request.clinic,
            patient=patient,
            filters={"episode": str(episode.pk), "stage": stage, "area": area},
        )
    }
    steps = []
    for view in selectors.sequence_for(
        clinic=request.clinic, treatment_type=episode.treatment_type
    ):
        ghost = selectors.ghost_for(
            clinic=request.clinic, patient=patient, area=area, view=view, exclude_stage=stage
        )
        steps.append(
            {
                "view": view,
                "label": View(view).label,
                "ghost": ghost,
                "ghost_url": photo_urls(clinic_slug, ghost)["display"] if ghost else "",
                "done": done.get(view),
            }
        )
    strip = [
        {
            "photo": p,
            "thumb": photo_urls(clinic_slug, p)["thumb"],
            "display": photo_urls(clinic_slug, p)["display"],
        }
        for p in selectors.earlier_photos(clinic=request.clinic, patient=patient, area=area)
        if p.episode_id != episode.pk or p.stage != stage
    ]
    return render(
        request,
        "photos/capture.html",
        {
            **context,
            "episode": episode,
            "episodes": episodes,
            "area": area,
            "area_label": FacialArea(area).label,
            "steps": steps,
            "strip": strip,
            "other_stage": Stage.AFTER if stage == Stage.BEFORE else Stage.BEFORE,
        },
    )


@require("photos.sequences")
def capture_sequences(request: ClinicRequest, clinic_slug: str) -> HttpResponse:
    """The clinic's guided capture: which views each treatment type takes."""
    if request.method == "POST":
        try:
            services.sequence_set(
                clinic=request.clinic,
                treatment_type=request.POST.get("treatment_type", ""),
                views=request.POST.getlist("views"),
                by=request.user,
                context=request.audit,
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages) + " Nothing changed.")
        else:
            messages.success(request, "Capture sequence saved.")
        return redirect("capture_sequences", clinic_slug=clinic_slug)
    return render(
        request,
        "photos/sequences.html",
        {"sequences": selectors.sequences_of(clinic=request.clinic), "views": View.choices},
    )


@require("photos.view")
def photo_status(request: ClinicRequest, clinic_slug: str, patient_id) -> JsonResponse:
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
def photo_ghost(request: ClinicRequest, clinic_slug: str, patient_id) -> JsonResponse:
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
    record_access(request, "photo.ghost_shown", target=photo, patient=patient)
    return JsonResponse(
        {
            "found": True,
            "url": photo_urls(clinic_slug, photo)["display"],
            "label": f"{photo.get_stage_display()} · {photo.taken_at:%d %b %Y}",
        },
        headers={"Cache-Control": NO_STORE},
    )


@require("photos.upload")
def photo_correct(request: ClinicRequest, clinic_slug: str, photo_id) -> HttpResponse:
    """Correct a photo's stage, area or view; audited, the original untouched."""
    photo = _photo_or_404(request, photo_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = CorrectDetailsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a stage, area and view from the lists; nothing changed.")
        return redirect("photo_detail", clinic_slug=clinic_slug, photo_id=photo.pk)
    changes = services.photo_details_correct(
        clinic=request.clinic,
        photo=photo,
        by=request.user,
        context=request.audit,
        **form.cleaned_data,
    )
    if changes:
        messages.success(
            request, f"Photo details corrected: now {photo}. The original is unchanged."
        )
    else:
        messages.info(request, "Nothing to correct: the details were already these.")
    return redirect("photo_detail", clinic_slug=clinic_slug, photo_id=photo.pk)


@require("photos.view")
def photo_detail(request: ClinicRequest, clinic_slug: str, photo_id) -> HttpResponse:
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
    section_templates, section_context = viewer.sections_for(request, photo)
    record_access(request, "photo.details_viewed", target=photo, patient=photo.patient_id)
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
            "viewer_sections": section_templates,
            **section_context,
        },
    )


def _serve(request: ClinicRequest, photo_id, rendition: str) -> HttpResponse:
    photo = selectors.photo_to_serve(clinic=request.clinic, photo_id=photo_id, rendition=rendition)
    if photo is None:
        raise Http404("No such photo")
    if rendition != "original" and photo.status != PhotoStatus.READY:
        raise Http404("Not ready")
    try:
        data = services.photo_served(
            clinic=request.clinic,
            photo=photo,
            rendition=rendition,
            by=request.user,
            context=request.audit,
            grant=request.GET.get("grant", "") if rendition == "thumb" else "",
        )
    except BlobUnreadable as error:
        raise Http404("This photo cannot be shown") from error
    except StorageUnavailable:
        return HttpResponse(
            "Photo storage is unreachable; try again shortly.",
            status=503,
            content_type="text/plain",
        )
    if rendition == "thumb" and request.GET.get("grant"):
        # Served under a grant: later requests with one may be answered from memory.
        thumbnails.remembered.put(request.clinic.slug, photo)
    content_type = photo.original_mime if rendition == "original" else "image/jpeg"
    response = thumbnails.image_response(data, content_type)
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
def photo_thumb(request: ClinicRequest, clinic_slug: str, photo_id) -> HttpResponse:
    return _serve(request, photo_id, "thumb")


@require("photos.view")
def photo_display(request: ClinicRequest, clinic_slug: str, photo_id) -> HttpResponse:
    return _serve(request, photo_id, "display")


@require("photos.download_original")
def photo_original(request: ClinicRequest, clinic_slug: str, photo_id) -> HttpResponse:
    return _serve(request, photo_id, "original")


@require("photos.upload")
def photo_delete(request: ClinicRequest, clinic_slug: str, photo_id) -> HttpResponse:
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
        context=request.audit,
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
