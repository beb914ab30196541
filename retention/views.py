"""Retention screens (admins, ``retention.manage``): the clinic's rules with the records due
for erasure, placing and lifting legal holds, the erasure page and its tombstone. Views
parse and render; the services decide and audit."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from audit.http import ClinicRequest
from audit.services import record
from clinic.permissions import require
from patients.views import patient_or_404
from retention import erasure, selectors, services
from retention.forms import EraseForm, HoldForm, MarketingEraseForm, PolicyForm

PERMISSION = "retention.manage"
DUE_SHOWN = 200


def _patient_url(clinic_slug: str, patient_id, anchor: str = "retention") -> str:
    url = reverse("patient_detail", kwargs={"clinic_slug": clinic_slug, "patient_id": patient_id})
    return f"{url}#{anchor}"


@require(PERMISSION)
def retention(request: ClinicRequest, clinic_slug: str) -> HttpResponse:
    """The clinic's rules (editable), the records past them, holds in force, erasures."""
    rules = selectors.rules_of(clinic=request.clinic)
    form = PolicyForm(
        request.POST or None,
        initial={"adult_years": rules.adult_years, "minor_until_age": rules.minor_until_age},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.policy_update(
                clinic=request.clinic, by=request.user, context=request.audit, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            messages.success(request, "Retention rules saved.")
            return redirect("retention", clinic_slug=clinic_slug)
    due = selectors.patients_due(clinic=request.clinic)
    services.due_listed(
        clinic=request.clinic, due=due[:DUE_SHOWN], by=request.user, context=request.audit
    )
    return render(
        request,
        "retention/retention.html",
        {
            "form": form,
            "rules": rules,
            "due": due[:DUE_SHOWN],
            "due_count": len(due),
            "holds": list(selectors.holds_in_force(clinic=request.clinic)[:100]),
            "erasures": list(selectors.erasures_of(clinic=request.clinic)[:20]),
            "today": timezone.localdate(),
        },
    )


@require(PERMISSION)
def hold_place(request: ClinicRequest, clinic_slug: str, patient_id) -> HttpResponse:
    patient = patient_or_404(request, patient_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = HoldForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the record must be kept; no hold was placed.")
        return redirect(_patient_url(clinic_slug, patient.pk))
    try:
        services.hold_place(
            clinic=request.clinic,
            patient=patient,
            by=request.user,
            reason=form.cleaned_data["reason"],
            context=request.audit,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, f"Legal hold placed: {patient.full_name}'s record cannot be erased."
        )
    return redirect(_patient_url(clinic_slug, patient.pk))


@require(PERMISSION)
def hold_lift(request: ClinicRequest, clinic_slug: str, hold_id) -> HttpResponse:
    hold = selectors.hold_get(clinic=request.clinic, hold_id=hold_id)
    if hold is None:
        raise Http404("No such legal hold")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        services.hold_lift(clinic=request.clinic, hold=hold, by=request.user, context=request.audit)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, "Legal hold lifted. The record is kept by the clinic's retention rules again."
        )
    return redirect(_patient_url(clinic_slug, hold.patient_id))


@require(PERMISSION)
def patient_erase(request: ClinicRequest, clinic_slug: str, patient_id) -> HttpResponse:
    """What erasure removes and whom to tell, then the typed confirmation."""
    patient = patient_or_404(request, patient_id)
    status = selectors.record_retention(clinic=request.clinic, patient=patient)
    early = not status.retention.due_on(timezone.localdate())
    form = EraseForm(request.POST or None, patient=patient, early=early)
    if request.method == "POST" and form.is_valid():
        try:
            done = services.patient_erase(
                clinic=request.clinic,
                patient=patient,
                by=request.user,
                confirmed=True,
                early_reason=form.cleaned_data.get("early_reason", ""),
                context=request.audit,
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            messages.success(request, "The record was erased. Only its tombstone remains.")
            return redirect("erasure_detail", clinic_slug=clinic_slug, erasure_id=done.pk)
    data = erasure.gather(clinic=request.clinic, patient=patient)
    record(
        clinic=request.clinic,
        action="patient.erasure_previewed",
        context=request.audit,
        target=patient,
        patient=patient,
    )
    return render(
        request,
        "retention/erase.html",
        {
            "patient": patient,
            "status": status,
            "early": early,
            "form": form,
            "marketing_form": MarketingEraseForm(),
            "counts": data.counts(),
            "marketing_live": sum(1 for item in data.marketing_items if item.removed_at is None),
            "recipients": erasure.recipients_of(clinic=request.clinic, data=data),
        },
    )


@require(PERMISSION)
def patient_erase_marketing(request: ClinicRequest, clinic_slug: str, patient_id) -> HttpResponse:
    patient = patient_or_404(request, patient_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = MarketingEraseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say how the patient asked; nothing was changed.")
        return redirect("patient_erase", clinic_slug=clinic_slug, patient_id=patient.pk)
    try:
        done = services.patient_erase_marketing(
            clinic=request.clinic,
            patient=patient,
            by=request.user,
            channel=form.cleaned_data["channel"],
            context=request.audit,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("patient_erase", clinic_slug=clinic_slug, patient_id=patient.pk)
    messages.success(
        request,
        f"Marketing erasure done: {done['uses_withdrawn']} marketing use(s) withdrawn, "
        f"{done['items_removed']} more photo(s) taken out of the marketing library.",
    )
    return redirect(_patient_url(clinic_slug, patient.pk, anchor="consent"))


@require(PERMISSION)
def erasure_detail(request: ClinicRequest, clinic_slug: str, erasure_id) -> HttpResponse:
    """The tombstone: when, who confirmed, and the recipients to tell (Art. 19)."""
    tombstone = selectors.erasure_get(clinic=request.clinic, erasure_id=erasure_id)
    if tombstone is None:
        raise Http404("No such erasure")
    record(
        clinic=request.clinic,
        action="erasure.viewed",
        context=request.audit,
        target=tombstone,
        patient=tombstone.patient_id,
    )
    return render(
        request,
        "retention/erasure.html",
        {
            "erasure": tombstone,
            "backups_clear_on": services.backups_clear_on(tombstone.erased_at),
            "backup_days": settings.BACKUP_RETENTION_DAYS,
        },
    )
