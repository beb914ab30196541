"""Sharing a comparison with the patient (F18): an e-mailed link like the consent links
(hashed token, out of the URL at once, date of birth with five tries), every view on record,
revocable, and refused or revoked without clinical-record consent."""

import re
from datetime import date, timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from clinic.tenancy import clinic_context, service_write
from comparisons.models import Comparison, ComparisonShare
from consent import services as consent_services
from tests import factories as f
from tests.comparisons.conftest import DOB

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def url(cast, name, **kwargs):
    return reverse(name, kwargs={"clinic_slug": cast.clinic_a.slug, **kwargs})


def events(cast, action):
    with clinic_context(cast.clinic_a.id):
        return list(AuditEvent.objects.filter(clinic=cast.clinic_a, action=action))


def dob_fields(dob: date) -> dict[str, str]:
    """The date of birth as the patient types it: day, month and year."""
    return {"day": str(dob.day), "month": str(dob.month), "year": str(dob.year)}


def share(cast, comparison, capture) -> str:
    """Share from the compare page; the path of the link in the e-mail the worker sent."""
    mail.outbox.clear()
    with capture(execute=True):
        response = comparison.client.post(
            url(cast, "comparison_share", comparison_id=comparison.pk)
        )
    assert response.status_code == 302
    (message,) = [m for m in mail.outbox if "before and after" in m.subject]
    return re.search(r"http://testserver(/p/\S+/photos/\S+/)", message.body).group(1)


def open_and_confirm(client: Client, path: str, dob=DOB):
    response = client.get(path)
    assert response.status_code == 302, response.content
    return client.post(response["Location"], dob_fields(dob))


def only_share(cast) -> ComparisonShare:
    with clinic_context(cast.clinic_a.id):
        return ComparisonShare.objects.get()


def test_the_patient_opens_the_link_confirms_and_sees_the_comparison_and_every_view_counts(
    cast, pair, rendered, consented, django_capture_on_commit_callbacks
):
    path = share(cast, rendered, django_capture_on_commit_callbacks)
    token = path.rstrip("/").split("/")[-1]
    assert token not in only_share(cast).token_hash and len(token) >= 40
    assert only_share(cast).state == "sent"
    patient = Client()
    landing = patient.get(path)
    assert landing["Referrer-Policy"] == "no-referrer"
    assert token not in landing["Location"]
    confirmed = patient.post(landing["Location"], dob_fields(DOB))
    assert confirmed.status_code == 302 and token not in confirmed["Location"]
    page = patient.get(confirmed["Location"])
    assert page.status_code == 200 and token not in page.content.decode()
    image = patient.get(reverse("comparison_shared_image", kwargs={"clinic": cast.clinic_a.slug}))
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    pdf = patient.get(reverse("comparison_shared_pdf", kwargs={"clinic": cast.clinic_a.slug}))
    assert pdf.content.startswith(b"%PDF")
    state = only_share(cast)
    assert state.state == "opened" and state.views == 3
    for action in ("share_opened", "share_page_viewed", "share_image_viewed", "share_pdf_viewed"):
        assert len(events(cast, f"comparison.{action}")) == 1, action
    staff_page = rendered.client.get(url(cast, "comparison_detail", comparison_id=rendered.pk))
    assert "opened" in staff_page.content.decode()


def test_sharing_is_refused_without_clinical_record_consent(
    cast, pair, rendered, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = rendered.client.post(url(cast, "comparison_share", comparison_id=rendered.pk))
    messages = [str(m) for m in response.wsgi_request._messages]
    assert "no active consent for the clinical record" in messages[-1]
    with clinic_context(cast.clinic_a.id):
        assert not ComparisonShare.objects.exists()
    assert not [m for m in mail.outbox if "before and after" in m.subject]


def test_sharing_is_refused_before_the_files_are_made(cast, pair, consented):
    client = f.verified_client(cast.practitioner)
    client.post(
        url(cast, "comparison_new", patient_id=pair.patient.pk),
        {"before": str(pair.before.pk), "after": str(pair.after.pk)},
    )
    with clinic_context(cast.clinic_a.id):
        comparison = Comparison.objects.get()
    response = client.post(url(cast, "comparison_share", comparison_id=comparison.pk))
    assert "Make the image and PDF first" in str(list(response.wsgi_request._messages)[-1])


def test_opening_the_link_with_get_or_head_changes_nothing(
    cast, pair, rendered, consented, django_capture_on_commit_callbacks
):
    path = share(cast, rendered, django_capture_on_commit_callbacks)
    with clinic_context(cast.clinic_a.id):
        before = AuditEvent.objects.filter(clinic=cast.clinic_a).count()
    client = Client()
    assert client.head(path).status_code == client.get(path).status_code == 302
    with clinic_context(cast.clinic_a.id):
        assert AuditEvent.objects.filter(clinic=cast.clinic_a).count() == before
    assert only_share(cast).opened_at is None
    assert open_and_confirm(Client(), path).status_code == 302


def test_five_wrong_dates_of_birth_lock_the_link(
    cast, pair, rendered, consented, django_capture_on_commit_callbacks
):
    path = share(cast, rendered, django_capture_on_commit_callbacks)
    client = Client()
    wrong = date(1990, 1, 1)
    response = open_and_confirm(client, path, dob=wrong)
    assert response.status_code == 200 and "4 attempts left" in response.content.decode()
    for _ in range(3):
        open_and_confirm(client, path, dob=wrong)
    response = open_and_confirm(client, path, dob=wrong)
    assert response.status_code == 403 and "locked" in response.content.decode()
    assert Client().get(path).status_code == 403
    assert only_share(cast).state == "locked"
    # The files stay shut to that session too.
    image = client.get(reverse("comparison_shared_image", kwargs={"clinic": cast.clinic_a.slug}))
    assert image.status_code == 403


def test_the_files_need_the_date_of_birth_first(
    cast, pair, rendered, consented, django_capture_on_commit_callbacks
):
    path = share(cast, rendered, django_capture_on_commit_callbacks)
    client = Client()
    client.get(path)
    response = client.get(reverse("comparison_shared_pdf", kwargs={"clinic": cast.clinic_a.slug}))
    assert response.status_code == 403 and b"%PDF" not in response.content


def test_revoked_expired_tampered_and_other_clinic_links(
    cast, pair, rendered, consented, django_capture_on_commit_callbacks
):
    path = share(cast, rendered, django_capture_on_commit_callbacks)
    assert Client().get(path[:-6] + "abcde/").status_code == 404
    wrong_clinic = path.replace(f"/p/{cast.clinic_a.slug}/", f"/p/{cast.clinic_b.slug}/")
    assert Client().get(wrong_clinic).status_code == 404
    assert f.verified_client(cast.stranger).get(path).status_code == 404
    with clinic_context(cast.clinic_a.id), service_write("test: a month passes"):
        ComparisonShare.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = Client().get(path)
    assert expired.status_code == 410 and "expired" in expired.content.decode()
    with clinic_context(cast.clinic_a.id), service_write("test: back in time"):
        ComparisonShare.objects.update(expires_at=timezone.now() + timedelta(days=1))
    patient = Client()
    open_and_confirm(patient, path)
    revoke = rendered.client.post(
        url(cast, "comparison_share_revoke", share_id=only_share(cast).pk)
    )
    assert revoke.status_code == 302
    again = patient.get(reverse("comparison_shared", kwargs={"clinic": cast.clinic_a.slug}))
    assert again.status_code == 410 and "withdrawn" in again.content.decode()
    assert Client().get(path).status_code == 410
    image = patient.get(reverse("comparison_shared_image", kwargs={"clinic": cast.clinic_a.slug}))
    assert image.status_code == 410
    assert len(events(cast, "comparison.share_revoked")) == 1


def test_withdrawing_clinical_record_consent_revokes_open_shares_at_once(
    cast, pair, rendered, consented, django_capture_on_commit_callbacks
):
    path = share(cast, rendered, django_capture_on_commit_callbacks)
    patient = Client()
    open_and_confirm(patient, path)
    with clinic_context(cast.clinic_a.id):
        consent_services.consent_withdraw(
            clinic=cast.clinic_a,
            patient=pair.patient,
            uses=["clinical_record"],
            channel="phone",
            by=cast.practitioner,
        )
    assert only_share(cast).state == "revoked"
    response = patient.get(reverse("comparison_shared", kwargs={"clinic": cast.clinic_a.slug}))
    assert response.status_code == 410
    (event,) = events(cast, "comparison.shares_revoked")
    assert event.details["shares"] == [str(only_share(cast).pk)]


def test_withdrawing_another_use_leaves_shares_alone(
    cast, pair, rendered, django_capture_on_commit_callbacks
):
    f.make_signed_consent(
        cast.clinic_a, pair.patient, cast.practitioner, uses=["clinical_record", "website"]
    )
    share(cast, rendered, django_capture_on_commit_callbacks)
    with clinic_context(cast.clinic_a.id):
        consent_services.consent_withdraw(
            clinic=cast.clinic_a,
            patient=pair.patient,
            uses=["website"],
            channel="phone",
            by=cast.practitioner,
        )
    assert only_share(cast).state == "sent"


def test_reception_cannot_share_or_revoke(
    cast, pair, rendered, consented, django_capture_on_commit_callbacks
):
    share(cast, rendered, django_capture_on_commit_callbacks)
    reception = f.verified_client(cast.reception)
    assert (
        reception.post(url(cast, "comparison_share", comparison_id=rendered.pk)).status_code == 403
    )
    revoke = url(cast, "comparison_share_revoke", share_id=only_share(cast).pk)
    assert reception.post(revoke).status_code == 403
    assert only_share(cast).state == "sent"


def test_the_link_lifetime_is_a_setting(
    cast, pair, rendered, consented, django_capture_on_commit_callbacks, settings
):
    settings.COMPARISON_LINK_LIFETIME = timedelta(days=3)
    share(cast, rendered, django_capture_on_commit_callbacks)
    lifetime = only_share(cast).expires_at - only_share(cast).created_at
    assert timedelta(days=3) - timedelta(minutes=1) < lifetime <= timedelta(days=3)


def test_the_date_of_birth_page_speaks_of_seeing_the_photos_not_of_signing(
    cast, pair, rendered, consented, django_capture_on_commit_callbacks
):
    path = share(cast, rendered, django_capture_on_commit_callbacks)
    patient = Client()
    page = patient.get(patient.get(path)["Location"]).content.decode()
    assert 'inputmode="numeric"' in page
    assert "It must match the date the clinic has on your record." in page
    assert "sign" not in page.lower().replace("signed-in", "")
