"""Consent pages. Public: the patient's signing and withdrawal pages (no account; the link's
token moves into the session at once and the page redirects, so it never sits in the address
bar or a Referer). Staff: requests, withdrawals taken in person, templates, the library."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse

from audit.access import listed, record_access
from audit.http import AuditedRequest, ClinicRequest
from audit.services import record as audit
from clinic.models import Clinic
from clinic.permissions import require
from clinic.public import public_page, staff_of_another_clinic
from clinic.responses import file_response
from clinic.tokens import lifetime_text
from consent import ledger, selectors, services
from consent.forms import (
    MarketingAddForm,
    SignForm,
    StaffWithdrawalForm,
    TemplateForm,
)
from consent.models import MARKETING_USES, ConsentRequest, ConsentUse, WithdrawalChannel
from links.forms import IdentityForm
from links.services import MAX_DOB_ATTEMPTS, LinkUnusable, check_usable
from links.views import LinkKind, link_start, problem_page
from patients.views import patient_or_404
from photos import selectors as photo_selectors
from vault import storage

SESSION_REQUEST = "consent_request"
SESSION_IDENTITY_OK = "consent_identity_ok"
SESSION_WITHDRAW = "consent_withdraw_link"
SESSION_SIGNED = "consent_signed_record"
SESSION_UNDO = "consent_undo_withdrawal"
SESSION_UNDO_SHOW = "consent_undo_show"


# --- the patient signs ------------------------------------------------------------------------


CONSENT_LINK = LinkKind(
    model=ConsentRequest,
    session_link=SESSION_REQUEST,
    session_confirmed=SESSION_IDENTITY_OK,
    page="consent_sign",
)


@public_page(token_in_url=True)
def sign_start(request: HttpRequest, clinic: Clinic, token: str) -> HttpResponse:
    """The e-mailed signing link: checked, kept in the session, redirected (links.views)."""
    return link_start(request, clinic, token, CONSENT_LINK)


@public_page()
def sign(request: AuditedRequest, clinic: Clinic) -> HttpResponse:
    """Step one: confirm the date of birth. Step two: read, choose, type name, draw, sign."""
    request_id = request.session.get(SESSION_REQUEST)
    if not request_id:
        return problem_page(
            request, clinic, "Please open the link in the clinic's e-mail again to sign.", 400
        )
    consent_request = selectors.request_get(clinic=clinic, request_id=request_id)
    try:
        consent_request = check_usable(consent_request, kind=ConsentRequest)
    except LinkUnusable as problem:
        return problem_page(request, clinic, str(problem), problem.status)
    template = consent_request.template
    context = {
        "public_clinic": clinic,
        "consent_request": consent_request,
        "template": template,
        "paragraphs": [p for p in template.body.split("\n\n") if p.strip()],
    }
    if not request.session.get(SESSION_IDENTITY_OK):
        identity = IdentityForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and identity.is_valid():
            try:
                confirmed = services.request_confirm_identity(
                    consent_request=consent_request,
                    date_of_birth=identity.cleaned_data["date_of_birth"],
                    context=request.audit,
                )
            except LinkUnusable as problem:
                return problem_page(request, clinic, str(problem), problem.status)
            if confirmed:
                request.session[SESSION_IDENTITY_OK] = True
                return redirect("consent_sign", clinic=clinic.slug)
            consent_request.refresh_from_db()
            left = MAX_DOB_ATTEMPTS - consent_request.failed_checks
            identity.add_error(
                None,
                "That date of birth does not match the clinic's "
                f"record. {left} attempt{'s' if left != 1 else ''} left.",
            )
        return render(request, "consent/public/identity.html", {**context, "form": identity})
    form = SignForm(request.POST or None, template=template)
    if request.method == "POST" and form.is_valid():
        try:
            typed = form.cleaned_data["typed_signature"] and not form.cleaned_data["signature"]
            signature = services.Signature(
                typed_name=form.cleaned_data["full_name"],
                uses_granted=form.uses_granted(),
                signature_png=services.typed_signature_png(form.cleaned_data["full_name"])
                if typed
                else services.signature_png(form.cleaned_data["signature"]),
                method="typed" if typed else "drawn",
            )
            record = services.consent_sign(
                consent_request=consent_request, signature=signature, context=request.audit
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
        except LinkUnusable as problem:
            return problem_page(request, clinic, str(problem), problem.status)
        else:
            request.session.pop(SESSION_REQUEST, None)
            request.session.pop(SESSION_IDENTITY_OK, None)
            request.session[SESSION_SIGNED] = str(record.pk)
            return redirect("consent_signed", clinic=clinic.slug)
    record_access(
        request, "consent.form_viewed", target=consent_request, patient=consent_request.patient_id
    )
    return render(request, "consent/public/sign.html", {**context, "form": form})


@public_page()
def signed(request: AuditedRequest, clinic: Clinic) -> HttpResponse:
    """Thank-you page with the choices made; the PDF copy arrives by e-mail."""
    record_id = request.session.get(SESSION_SIGNED)
    if not record_id:
        return problem_page(request, clinic, "There is nothing to show here.", 404)
    record = selectors.record_get(clinic=clinic, record_id=record_id)
    if record is None:
        return problem_page(request, clinic, "There is nothing to show here.", 404)
    labels = dict(ConsentUse.choices)
    record_access(request, "consent.record_viewed", target=record, patient=record.patient_id)
    return render(
        request,
        "consent/public/signed.html",
        {
            "public_clinic": clinic,
            "record": record,
            "granted": [labels[u] for u in record.uses_granted],
            "refused": [labels[u] for u in record.uses_refused],
        },
    )


@public_page()
def signed_copy(request: AuditedRequest, clinic: Clinic) -> HttpResponse:
    """ "Download my copy" on the thank-you page: the signed PDF, for this browser's session."""
    record_id = request.session.get(SESSION_SIGNED)
    record = selectors.record_get(clinic=clinic, record_id=record_id) if record_id else None
    if record is None:
        return problem_page(
            request, clinic, "There is no copy to download here: it is in the clinic's e-mail.", 404
        )
    try:
        data = services.consent_copy_pdf(consent_record=record, context=request.audit)
    except storage.BlobUnreadable:
        return problem_page(
            request, clinic, "Your copy cannot be made just now: it is on its way by e-mail.", 503
        )
    return file_response(
        data,
        "application/pdf",
        filename=f"photo-consent-{record.signed_at:%Y-%m-%d}.pdf",
        attachment=True,
    )


# --- the patient withdraws --------------------------------------------------------------------


@public_page(token_in_url=True)
def withdraw_start(request: HttpRequest, clinic: Clinic, token: str) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    link = selectors.withdrawal_link_by_token(clinic=clinic, token=token)
    if link is None or staff_of_another_clinic(request, clinic):
        return problem_page(
            request,
            clinic,
            "This link is not valid. Please use the link "
            "in the most recent e-mail from the clinic, or contact them.",
            404,
        )
    request.session.cycle_key()
    request.session[SESSION_WITHDRAW] = str(link.pk)
    return redirect("consent_withdraw", clinic=clinic.slug)


@public_page()
def withdraw(request: AuditedRequest, clinic: Clinic) -> HttpResponse:
    """One page: each active use with its own button, and 'withdraw all'. One click each."""
    link_id = request.session.get(SESSION_WITHDRAW)
    link = selectors.withdrawal_link_get(clinic=clinic, link_id=link_id)
    if link is None:
        return problem_page(
            request,
            clinic,
            "Please open the withdrawal link in the clinic's e-mail again.",
            400,
        )
    patient = link.patient
    if request.method == "POST" and request.POST.get("undo"):
        _withdraw_undo(request, clinic, patient)
        return redirect("consent_withdraw", clinic=clinic.slug)
    if request.method == "POST":
        return _withdraw_use(request, clinic, patient)
    undo = None
    if request.session.pop(SESSION_UNDO_SHOW, False) and request.session.get(SESSION_UNDO):
        undo = selectors.withdrawal_get(
            clinic=clinic, patient=patient, withdrawal_id=request.session[SESSION_UNDO]
        )
    active = selectors.active_uses(clinic=clinic, patient=patient)
    labels = dict(ConsentUse.choices)
    record_access(request, "consent.withdrawal_page_viewed", target=link, patient=patient)
    return render(
        request,
        "consent/public/withdraw.html",
        {
            "public_clinic": clinic,
            "active": [(code, label) for code, label in ConsentUse.choices if code in active],
            "undo": undo,
            "undo_labels": [labels[u] for u in undo.uses] if undo else [],
            "ledger": ledger.ledger_for(clinic=clinic, patient=patient),
        },
    )


def _withdraw_undo(request: AuditedRequest, clinic: Clinic, patient) -> None:
    """The patient's undo of the withdrawal they just made, from the same page."""
    labels = dict(ConsentUse.choices)
    try:
        restoration = services.withdrawal_undo(
            clinic=clinic,
            patient=patient,
            withdrawal_id=request.session.get(SESSION_UNDO),
            context=request.audit,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            "Undone: you agree again to "
            + ", ".join(labels[u] for u in restoration.uses)
            + ". Both the withdrawal and the undo are kept in your consent history.",
        )
    request.session.pop(SESSION_UNDO, None)


def _withdraw_use(request: AuditedRequest, clinic: Clinic, patient) -> HttpResponse:
    """One use (or all) withdrawn with one click; a use whose loss matters for the patient's
    care is explained first and needs one more tap."""
    labels = dict(ConsentUse.choices)
    use = request.POST.get("use", "")
    everything = use == "all"
    uses = list(selectors.active_uses(clinic=clinic, patient=patient)) if everything else [use]
    if services.withdrawal_needs_confirmation(uses, everything=everything) and (
        request.POST.get("confirmed") != "1"
    ):
        active = selectors.active_uses(clinic=clinic, patient=patient)
        chosen = [labels[u] for u in ConsentUse.values if u in set(uses) & active]
        if chosen:
            return render(
                request,
                "consent/public/withdraw_confirm.html",
                {"public_clinic": clinic, "use": use, "chosen": chosen, "everything": everything},
            )
    try:
        withdrawal = services.consent_withdraw(
            clinic=clinic,
            patient=patient,
            uses=uses,
            channel=WithdrawalChannel.LINK,
            context=request.audit,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            "Withdrawn: "
            + ", ".join(labels[u] for u in withdrawal.uses)
            + ". This takes effect now; a confirmation is on its way by e-mail.",
        )
        if services.withdrawal_needs_confirmation(withdrawal.uses, everything=everything):
            request.session.pop(SESSION_UNDO, None)
        else:
            # Offered on the next view of this page only: it lasts until the page is left.
            request.session[SESSION_UNDO] = str(withdrawal.pk)
            request.session[SESSION_UNDO_SHOW] = True
    return redirect("consent_withdraw", clinic=clinic.slug)


# --- staff --------------------------------------------------------------------------------------


# Messages with this tag are shown in the consent section, not the page's message bar.
CONSENT_NOTICE = "consent-notice"


def _patient_url(clinic_slug: str, patient_id) -> str:
    return (
        reverse("patient_detail", kwargs={"clinic_slug": clinic_slug, "patient_id": patient_id})
        + "#consent"
    )


@require("consent.request")
def request_consent(request: ClinicRequest, clinic_slug: str, patient_id) -> HttpResponse:
    patient = patient_or_404(request, patient_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        services.request_send(
            clinic=request.clinic, patient=patient, by=request.user, context=request.audit
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages), extra_tags=CONSENT_NOTICE)
    else:
        messages.success(
            request,
            f"Consent request e-mailed to {patient.email}. The link works for "
            f"{lifetime_text(settings.CONSENT_LINK_LIFETIME)}.",
            extra_tags=CONSENT_NOTICE,
        )
    # The page opens at #consent, so the answer is shown there rather than at the top.
    return redirect(_patient_url(clinic_slug, patient.pk))


@require("consent.send")
def record_withdrawal(request: ClinicRequest, clinic_slug: str, patient_id) -> HttpResponse:
    """Staff record a withdrawal the patient asked for in person, by phone or in writing."""
    patient = patient_or_404(request, patient_id)
    active = selectors.active_uses(clinic=request.clinic, patient=patient)
    form = StaffWithdrawalForm(request.POST or None, active=active)
    if request.method == "POST" and form.is_valid():
        try:
            services.consent_withdraw(
                clinic=request.clinic,
                patient=patient,
                uses=form.cleaned_data["uses"],
                channel=form.cleaned_data["channel"],
                by=request.user,
                note=form.cleaned_data["note"],
                context=request.audit,
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            messages.success(request, "Withdrawal recorded; it takes effect now.")
            return redirect(_patient_url(clinic_slug, patient.pk))
    record_access(
        request,
        "patient.viewed",
        target=patient,
        patient=patient,
        details={"page": "record a withdrawal"},
    )
    return render(
        request,
        "consent/record_withdrawal.html",
        {"patient": patient, "form": form, "active": active},
    )


@require("patients.view")
def consent_record(request: ClinicRequest, clinic_slug: str, record_id) -> HttpResponse:
    """The evidence of one signature, with the exact text the patient saw."""
    record = selectors.record_get(clinic=request.clinic, record_id=record_id)
    if record is None:
        raise Http404("No such consent")
    labels = dict(ConsentUse.choices)
    record_access(request, "consent.record_viewed", target=record, patient=record.patient_id)
    return render(
        request,
        "consent/record.html",
        {
            "record": record,
            "patient": record.patient,
            "granted": [labels[u] for u in record.uses_granted],
            "refused": [labels[u] for u in record.uses_refused],
        },
    )


def _record_blob(request: ClinicRequest, record_id, which: str) -> HttpResponse:
    record = selectors.record_get(clinic=request.clinic, record_id=record_id)
    if record is None or getattr(record, which) is None:
        raise Http404("No such document")
    try:
        data = storage.blob_read(getattr(record, which))
    except storage.BlobUnreadable as error:
        raise Http404("This document cannot be shown") from error
    audit(
        clinic=request.clinic,
        action=f"consent.{which}_viewed",
        context=request.audit,
        target=record,
        patient=record.patient_id,
    )
    if which == "signature":
        return file_response(data, "image/png")
    return file_response(
        data,
        "application/pdf",
        filename=f"consent-{record.signed_at:%Y-%m-%d}.pdf",
        attachment=True,
    )


@require("patients.view")
def consent_signature(request: ClinicRequest, clinic_slug: str, record_id) -> HttpResponse:
    return _record_blob(request, record_id, "signature")


@require("patients.view")
def consent_pdf(request: ClinicRequest, clinic_slug: str, record_id) -> HttpResponse:
    return _record_blob(request, record_id, "pdf")


@require("consent.templates")
def consent_templates(request: ClinicRequest, clinic_slug: str) -> HttpResponse:
    """The clinic's consent form: edit it (a new version) and see earlier versions."""
    current = services.template_current(clinic=request.clinic)
    initial = {
        "title": current.title,
        "body": current.body,
        "offered": current.uses_offered,
        "required": current.uses_required,
        **{f"text_{code}": current.use_texts.get(code, "") for code in ConsentUse.values},
    }
    form = TemplateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            template = services.template_new_version(
                clinic=request.clinic,
                by=request.user,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                uses_offered=form.cleaned_data["offered"],
                uses_required=form.cleaned_data["required"],
                use_texts=form.use_texts(),
                context=request.audit,
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            messages.success(
                request,
                f"Saved as version {template.version}. New requests use "
                "it; signed forms keep the words their patients saw.",
            )
            return redirect("consent_templates", clinic_slug=clinic_slug)
    return render(
        request,
        "consent/templates.html",
        {
            "form": form,
            "current": current,
            "versions": selectors.templates_of(clinic=request.clinic),
        },
    )


@require("photos.view")
def marketing_library(request: ClinicRequest, clinic_slug: str) -> HttpResponse:
    """Photos cleared for marketing: only while their patient consents to that use."""
    use = request.GET.get("use", "")
    use = use if use in MARKETING_USES else ""
    items = list(selectors.marketing_library(clinic=request.clinic, use=use))
    record_access(
        request,
        "marketing.library_viewed",
        details={"use": use, **listed(item.photo_id for item in items)},
    )
    return render(
        request,
        "consent/marketing.html",
        {
            "items": items,
            "use": use,
            "uses": [c for c in ConsentUse.choices if c[0] in MARKETING_USES],
        },
    )


@require("marketing.manage")
def marketing_add(request: ClinicRequest, clinic_slug: str, photo_id) -> HttpResponse:
    photo = photo_selectors.photo_get(clinic=request.clinic, photo_id=photo_id)
    if photo is None:
        raise Http404("No such photo")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = MarketingAddForm(request.POST)
    if form.is_valid():
        try:
            services.marketing_add(
                clinic=request.clinic,
                photo=photo,
                use=form.cleaned_data["use"],
                by=request.user,
                context=request.audit,
            )
        except services.ConsentMissing as missing:
            messages.error(request, str(missing))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "Added to the marketing library.")
    else:
        messages.error(request, "Choose where the photo will be used.")
    return redirect("photo_detail", clinic_slug=clinic_slug, photo_id=photo.pk)


@require("marketing.manage")
def marketing_remove(request: ClinicRequest, clinic_slug: str, item_id) -> HttpResponse:
    item = selectors.marketing_item_get(clinic=request.clinic, item_id=item_id)
    if item is None:
        raise Http404("No such item")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.marketing_remove(
        clinic=request.clinic, item=item, by=request.user, context=request.audit
    )
    messages.success(request, "Removed from the marketing library.")
    return redirect("marketing_library", clinic_slug=clinic_slug)
