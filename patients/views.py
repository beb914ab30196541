"""Patient and treatment screens. Views parse, call a service or selector, and render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone

from audit.access import listed, record_access
from audit.http import ClinicRequest
from clinic.models import TREATING_ROLES
from clinic.permissions import require
from patients import selectors, services
from patients.forms import EpisodeForm, PatientForm
from patients.panels import panels_for

PAGE_SIZE = 25


def patient_or_404(request: ClinicRequest, patient_id):
    """The open clinic's patient, or a 404 (another clinic's id looks like no patient at all)."""
    patient = selectors.patient_get(clinic=request.clinic, patient_id=patient_id)
    if patient is None:
        raise Http404("No such patient")
    return patient


def _apply_service_errors(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


@require("patients.view")
def dashboard(request: ClinicRequest, clinic_slug: str) -> HttpResponse:
    recent = list(selectors.patients_of(clinic=request.clinic).order_by("-updated_at")[:8])
    record_access(
        request,
        "patient.list_viewed",
        details={"page": "dashboard", **listed(p.pk for p in recent)},
    )
    return render(request, "patients/dashboard.html", {"recent": recent})


@require("patients.view")
def patient_list(request: ClinicRequest, clinic_slug: str) -> HttpResponse:
    query = request.GET.get("q", "")[:100]
    archived = request.GET.get("archived") == "1"
    patients = selectors.patient_search(
        clinic=request.clinic, query=query, include_archived=archived
    ).only("id", "first_name", "last_name", "date_of_birth", "email", "phone", "archived_at")
    page = Paginator(patients, PAGE_SIZE).get_page(request.GET.get("page"))
    # Which patients were on screen, not what was typed: a search is often a patient's name,
    # and the trail keeps ids only.
    record_access(
        request,
        "patient.list_viewed",
        details={
            "page": "patient list",
            "searched": bool(query.strip()),
            "archived": archived,
            "page_number": page.number,
            **listed(p.pk for p in page.object_list),
        },
    )
    return render(
        request, "patients/patient_list.html", {"page": page, "query": query, "archived": archived}
    )


@require("patients.edit")
def patient_create(request: ClinicRequest, clinic_slug: str) -> HttpResponse:
    form = PatientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            patient = services.patient_create(
                clinic=request.clinic, by=request.user, context=request.audit, **form.cleaned_data
            )
        except ValidationError as error:
            _apply_service_errors(form, error)
        else:
            messages.success(request, f"{patient.full_name} added.")
            return redirect("patient_detail", clinic_slug=clinic_slug, patient_id=patient.pk)
    return render(request, "patients/patient_form.html", {"form": form, "patient": None})


@require("patients.view")
def patient_detail(request: ClinicRequest, clinic_slug: str, patient_id) -> HttpResponse:
    patient = patient_or_404(request, patient_id)
    services.patient_viewed(
        clinic=request.clinic, patient=patient, by=request.user, context=request.audit
    )
    episodes = list(selectors.episodes_of(clinic=request.clinic, patient=patient))
    context = {
        "patient": patient,
        "episodes": episodes,
        "age": patient.age_on(timezone.localdate()),
    }
    templates, panel_context = panels_for(request, patient)
    context.update(panel_context, panel_templates=templates)
    return render(request, "patients/patient_detail.html", context)


@require("patients.edit")
def patient_edit(request: ClinicRequest, clinic_slug: str, patient_id) -> HttpResponse:
    patient = patient_or_404(request, patient_id)
    form = PatientForm(
        request.POST or None,
        instance=None,
        initial={f: getattr(patient, f) for f in PatientForm.Meta.fields},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.patient_update(
                clinic=request.clinic,
                patient=patient,
                by=request.user,
                context=request.audit,
                **form.cleaned_data,
            )
        except ValidationError as error:
            _apply_service_errors(form, error)
        else:
            messages.success(request, "Patient details saved.")
            return redirect("patient_detail", clinic_slug=clinic_slug, patient_id=patient.pk)
    record_access(
        request, "patient.viewed", target=patient, patient=patient, details={"page": "edit"}
    )
    return render(request, "patients/patient_form.html", {"form": form, "patient": patient})


@require("patients.edit")
def patient_archive(request: ClinicRequest, clinic_slug: str, patient_id) -> HttpResponse:
    patient = patient_or_404(request, patient_id)  # before the method check: 404 comes first
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if request.POST.get("restore"):
        services.patient_restore(
            clinic=request.clinic, patient=patient, by=request.user, context=request.audit
        )
        messages.success(request, f"{patient.full_name} is back in the patient list.")
    else:
        services.patient_archive(
            clinic=request.clinic, patient=patient, by=request.user, context=request.audit
        )
        messages.success(request, f"{patient.full_name} archived. Their record is kept.")
    return redirect("patient_detail", clinic_slug=clinic_slug, patient_id=patient.pk)


@require("episodes.edit")
def episode_create(request: ClinicRequest, clinic_slug: str, patient_id) -> HttpResponse:
    patient = patient_or_404(request, patient_id)
    initial: dict[str, Any] = {"performed_on": timezone.localdate()}
    if request.membership.role in TREATING_ROLES:
        initial["practitioner"] = request.user.pk
    form = EpisodeForm(request.POST or None, clinic=request.clinic, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.episode_create(
                clinic=request.clinic,
                patient=patient,
                by=request.user,
                context=request.audit,
                **form.cleaned_data,
            )
        except ValidationError as error:
            _apply_service_errors(form, error)
        else:
            messages.success(request, "Treatment recorded.")
            return redirect("patient_detail", clinic_slug=clinic_slug, patient_id=patient.pk)
    record_access(
        request,
        "patient.viewed",
        target=patient,
        patient=patient,
        details={"page": "new treatment"},
    )
    return render(
        request, "patients/episode_form.html", {"form": form, "patient": patient, "episode": None}
    )


@require("episodes.edit")
def episode_edit(request: ClinicRequest, clinic_slug: str, episode_id) -> HttpResponse:
    episode = selectors.episode_get(clinic=request.clinic, episode_id=episode_id)
    if episode is None:
        raise Http404("No such treatment")
    form = EpisodeForm(
        request.POST or None,
        clinic=request.clinic,
        initial={
            "treatment_type": episode.treatment_type,
            "areas": episode.areas,
            "performed_on": episode.performed_on,
            "practitioner": episode.practitioner_id,
            "product": episode.product,
            "batch_number": episode.batch_number,
            "notes": episode.notes,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.episode_update(
                clinic=request.clinic,
                episode=episode,
                by=request.user,
                context=request.audit,
                **form.cleaned_data,
            )
        except ValidationError as error:
            _apply_service_errors(form, error)
        else:
            messages.success(request, "Treatment updated.")
            return redirect(
                "patient_detail", clinic_slug=clinic_slug, patient_id=episode.patient_id
            )
    record_access(request, "episode.viewed", target=episode, patient=episode.patient_id)
    return render(
        request,
        "patients/episode_form.html",
        {"form": form, "patient": episode.patient, "episode": episode},
    )
