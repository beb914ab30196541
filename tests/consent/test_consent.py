"""Consent from the patient's side and the clinic's: links, evidence, withdrawal, and the
uses that consent allows."""

import io
import logging
import re
import subprocess
from datetime import date, timedelta

import psycopg
import pytest
from django.core import mail
from django.db import connection
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from clinic.tenancy import clinic_context, service_write
from consent import selectors, services
from consent.models import ConsentRecord, ConsentRequest, MarketingItem
from tests import factories as f
from tests.conftest import superuser_test_db_dsn

# Also run on SQLite, the embedded default (see tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.embedded]
DOB = date(1985, 3, 14)


@pytest.fixture
def patient(cast):
    return f.make_patient(cast.clinic_a, cast.admin, email="joanne@example.com", date_of_birth=DOB)


def send_request(cast, patient) -> str:
    """Send from the patient page; return the signing path from the e-mail (which the worker
    sends after commit: here, in-process)."""
    staff = f.verified_client(cast.practitioner)
    with TestCase.captureOnCommitCallbacks(execute=True):
        staff.post(
            reverse(
                "consent_request",
                kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk},
            )
        )
    body = mail.outbox[-1].body
    return re.search(r"http://testserver(/p/\S+/sign/\S+/)", body).group(1)


def withdraw_path(message) -> str:
    return re.search(r"http://testserver(/p/\S+/withdraw/\S+/)", message.body).group(1)


def open_and_confirm(client: Client, path: str, dob=DOB):
    response = client.get(path)
    assert response.status_code == 302
    return client.post(response["Location"], dob_fields(dob))


def dob_fields(dob: date) -> dict[str, str]:
    """The date of birth as the patient types it: day, month and year in three fields."""
    return {"day": str(dob.day), "month": str(dob.month), "year": str(dob.year)}


def sign_post(client: Client, cast, uses=("clinical_record", "social_media"), name="Joanne Smith"):
    import base64

    data = {
        "full_name": name,
        "signature": "data:image/png;base64," + base64.b64encode(f.signature_png()).decode(),
    }
    data.update({f"use_{u}": "on" for u in uses})
    return client.post(reverse("consent_sign", kwargs={"clinic": cast.clinic_a.slug}), data)


def test_active_uses_over_a_sequence(cast, patient):
    def at_now():
        with clinic_context(cast.clinic_a.id):
            return selectors.active_uses(clinic=cast.clinic_a, patient=patient)

    f.make_signed_consent(
        cast.clinic_a, patient, cast.practitioner, uses=["clinical_record", "social_media"]
    )
    assert at_now() == {"clinical_record", "social_media"}
    first_signed = timezone.now()
    with clinic_context(cast.clinic_a.id):
        services.consent_withdraw(
            clinic=cast.clinic_a,
            patient=patient,
            uses=["social_media"],
            channel="phone",
            by=cast.practitioner,
        )
    assert at_now() == {"clinical_record"}
    with clinic_context(cast.clinic_a.id):
        services.template_new_version(
            clinic=cast.clinic_a,
            by=cast.admin,
            title="New form",
            body="Changed words.",
            uses_offered=["clinical_record", "website", "training"],
            uses_required=["clinical_record"],
            use_texts={},
        )
    f.make_signed_consent(
        cast.clinic_a, patient, cast.practitioner, uses=["clinical_record", "website"]
    )
    assert at_now() == {"clinical_record", "website"}
    with clinic_context(cast.clinic_a.id):
        services.consent_withdraw(
            clinic=cast.clinic_a,
            patient=patient,
            uses=["clinical_record", "website"],
            channel="email",
            by=cast.practitioner,
        )
    assert at_now() == set()
    with clinic_context(cast.clinic_a.id):
        # History: at the first signature the two original uses were active.
        assert selectors.active_uses(clinic=cast.clinic_a, patient=patient, at=first_signed) == {
            "clinical_record",
            "social_media",
        }
        periods = selectors.consent_periods(clinic=cast.clinic_a, patient=patient)
    assert len(periods["clinical_record"]) == 1 and periods["clinical_record"][0].end
    assert len(periods["social_media"]) == 1
    assert len(periods["website"]) == 1


def test_request_link_is_single_use_and_stored_only_as_a_hash(cast, patient):
    path = send_request(cast, patient)
    token = path.rstrip("/").split("/")[-1]
    assert len(token) >= 22  # >= 128 bits
    with clinic_context(cast.clinic_a.id):
        consent_request = ConsentRequest.objects.get(patient=patient)
    assert token not in consent_request.token_hash
    assert consent_request.state == "sent"


def test_opening_the_link_with_get_or_head_changes_nothing(cast, patient):
    path = send_request(cast, patient)
    client = Client()
    with clinic_context(cast.clinic_a.id):
        events_before = AuditEvent.objects.filter(clinic=cast.clinic_a).count()
    head = client.head(path)
    get = client.get(path)
    assert head.status_code == get.status_code == 302
    assert "/sign/" in get["Location"] and get["Location"].count("/") == 4  # no token
    assert get["Referrer-Policy"] == "no-referrer"
    with clinic_context(cast.clinic_a.id):
        consent_request = ConsentRequest.objects.get(patient=patient)
        assert consent_request.opened_at is None and consent_request.signed_at is None
        assert AuditEvent.objects.filter(clinic=cast.clinic_a).count() == events_before
    # The link still works afterwards (a mail scanner's prefetch does not use it up).
    assert open_and_confirm(Client(), path).status_code == 302


def test_patient_signs_and_the_evidence_is_complete(
    cast, patient, django_capture_on_commit_callbacks
):
    path = send_request(cast, patient)
    client = Client(HTTP_USER_AGENT="PhoneBrowser/1.0")
    open_and_confirm(client, path)
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_post(client, cast)
    assert response.status_code == 302
    with clinic_context(cast.clinic_a.id):
        record = ConsentRecord.objects.select_related("template", "signature", "pdf").get(
            patient=patient
        )
        consent_request = record.request
    assert record.uses_granted == ["clinical_record", "social_media"]
    assert "website" in record.uses_refused
    assert record.typed_name == "Joanne Smith"
    assert record.user_agent == "PhoneBrowser/1.0" and record.ip == "127.0.0.1"
    assert record.text_matches_hash() and record.text_shown == record.template.text_shown()
    assert consent_request.state == "signed"
    with clinic_context(cast.clinic_a.id):
        from vault import storage

        assert storage.blob_read(record.signature) == f.signature_png()
        assert AuditEvent.objects.filter(action="consent.signed", patient_id=patient.pk).exists()
    # The PDF copy went to the patient, attached; it holds the text and the choices.
    copy = mail.outbox[-1]
    assert copy.to == ["joanne@example.com"]
    (name, pdf, mime) = copy.attachments[0]
    assert mime == "application/pdf" and pdf.startswith(b"%PDF")
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert "Your consent to clinical photographs" in text
    assert "Social media" in text and "Joanne Smith" in text
    assert record.text_sha256 in "".join(text.split())
    assert "/withdraw/" in copy.body
    assert record.pdf is not None
    # The used link now says so, and changes nothing.
    used = Client().get(path)
    assert used.status_code == 410 and "already been signed" in used.content.decode()


def test_the_thank_you_page_offers_the_patient_their_copy(cast, patient):
    """ "Download my copy": the stored PDF once the worker made it, the same PDF made at once
    while it has not; audited; without the page's session there is nothing to download."""
    path = send_request(cast, patient)
    client = Client()
    open_and_confirm(client, path)
    # The worker has not run (no on-commit callbacks): no stored PDF yet.
    done = sign_post(client, cast)
    thanks = client.get(done["Location"])
    copy_url = reverse("consent_signed_copy", kwargs={"clinic": cast.clinic_a.slug})
    assert "Download my copy" in thanks.content.decode() and copy_url in thanks.content.decode()
    with clinic_context(cast.clinic_a.id):
        record = ConsentRecord.objects.get(patient=patient)
    assert record.pdf is None
    made_now = client.get(copy_url)
    assert made_now.status_code == 200 and made_now["Content-Type"] == "application/pdf"
    assert "attachment" in made_now["Content-Disposition"]
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=made_now.content, capture_output=True, check=True
    ).stdout.decode()
    assert "Joanne Smith" in " ".join(text.split())
    # Once stored, the stored copy is what the patient gets, byte for byte.
    from consent.tasks import send_consent_copy

    send_consent_copy(clinic_id=str(cast.clinic_a.id), record_id=str(record.pk))
    with clinic_context(cast.clinic_a.id):
        from vault import storage

        record.refresh_from_db()
        stored = storage.blob_read(record.pdf)
        downloads = AuditEvent.objects.filter(
            action="consent.copy_downloaded", patient_id=patient.pk
        )
        assert downloads.count() == 1
    assert client.get(copy_url).content == stored
    # Another browser (no thank-you session) gets nothing.
    stranger = Client().get(copy_url)
    assert stranger.status_code == 404 and b"%PDF" not in stranger.content


def test_a_required_use_left_unticked_is_refused_and_nothing_is_signed(cast, patient):
    path = send_request(cast, patient)
    client = Client()
    open_and_confirm(client, path)
    response = sign_post(client, cast, uses=("social_media",))
    assert response.status_code == 200
    assert "needs your consent to: Clinical record" in response.content.decode()
    with clinic_context(cast.clinic_a.id):
        assert not ConsentRecord.objects.filter(patient=patient).exists()


def test_a_signature_must_be_drawn(cast, patient):
    path = send_request(cast, patient)
    client = Client()
    open_and_confirm(client, path)
    response = client.post(
        reverse("consent_sign", kwargs={"clinic": cast.clinic_a.slug}),
        {"full_name": "Joanne Smith", "use_clinical_record": "on", "signature": ""},
    )
    assert "Please draw your signature" in response.content.decode()


def test_wrong_date_of_birth_then_lockout_after_five(cast, patient):
    path = send_request(cast, patient)
    client = Client()
    response = open_and_confirm(client, path, dob=date(1990, 1, 1))
    assert response.status_code == 200
    assert "does not match" in response.content.decode() and "4 attempts left" in (
        response.content.decode()
    )
    for _ in range(3):
        open_and_confirm(client, path, dob=date(1990, 1, 1))
    response = open_and_confirm(client, path, dob=date(1990, 1, 1))
    assert response.status_code == 403
    assert "locked" in response.content.decode()
    # Even the right answer no longer opens it.
    again = Client().get(path)
    assert again.status_code == 403
    with clinic_context(cast.clinic_a.id):
        assert ConsentRequest.objects.get(patient=patient).state == "locked"


def test_expired_superseded_and_tampered_links(cast, patient):
    first = send_request(cast, patient)
    second = send_request(cast, patient)
    superseded = Client().get(first)
    assert superseded.status_code == 410 and "newer link" in superseded.content.decode()
    tampered = Client().get(second[:-6] + "abcde/")
    assert tampered.status_code == 404 and "not valid" in tampered.content.decode()
    with clinic_context(cast.clinic_a.id), service_write("test: a week passes"):
        ConsentRequest.objects.filter(patient=patient).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    expired = Client().get(second)
    assert expired.status_code == 410 and "expired" in expired.content.decode()


def test_a_token_of_clinic_a_is_refused_under_clinic_b(cast, patient):
    path = send_request(cast, patient)
    wrong_clinic = path.replace(f"/p/{cast.clinic_a.slug}/", f"/p/{cast.clinic_b.slug}/")
    assert Client().get(wrong_clinic).status_code == 404
    # Staff of clinic B signed in: the link reveals nothing and changes nothing.
    staff_b = f.verified_client(cast.stranger)
    response = staff_b.get(path)
    assert response.status_code == 404
    with clinic_context(cast.clinic_a.id):
        assert ConsentRequest.objects.get(patient=patient).state == "sent"


def test_editing_a_signed_template_makes_a_new_version_and_the_old_signature_holds(cast, patient):
    record = f.make_signed_consent(cast.clinic_a, patient, cast.practitioner)
    admin = f.verified_client(cast.admin)
    response = admin.post(
        reverse("consent_templates", kwargs={"clinic_slug": cast.clinic_a.slug}),
        {
            "title": "Photo consent (revised)",
            "body": "New wording for everyone.",
            "offered": ["clinical_record", "website"],
            "required": ["clinical_record"],
            "text_clinical_record": "For your care.",
            "text_website": "On our website.",
        },
    )
    assert response.status_code == 302
    with clinic_context(cast.clinic_a.id):
        current = selectors.current_template(clinic=cast.clinic_a)
        record = ConsentRecord.objects.select_related("template").get(pk=record.pk)
    assert current.version == 2 and record.template.version == 1
    assert record.text_matches_hash()
    assert "Your consent to clinical photographs" in record.text_shown
    page = admin.get(
        reverse(
            "consent_record", kwargs={"clinic_slug": cast.clinic_a.slug, "record_id": record.pk}
        )
    )
    assert "Your consent to clinical photographs" in page.content.decode()
    assert "matches" in page.content.decode()


def test_patient_withdraws_social_media_in_one_click_and_the_library_drops_the_photo(
    cast, patient, django_capture_on_commit_callbacks
):
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    f.make_signed_consent(
        cast.clinic_a, patient, cast.practitioner, uses=["clinical_record", "social_media"]
    )
    staff = f.verified_client(cast.practitioner)
    staff.post(
        reverse("marketing_add", kwargs={"clinic_slug": cast.clinic_a.slug, "photo_id": photo.pk}),
        {"use": "social_media"},
    )
    library = reverse("marketing_library", kwargs={"clinic_slug": cast.clinic_a.slug})
    assert str(photo.pk) in staff.get(library).content.decode()
    path = withdraw_path(mail.outbox[0])  # the request e-mail carries it too
    client = Client()
    page = client.get(client.get(path)["Location"])
    assert "Social media" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("consent_withdraw", kwargs={"clinic": cast.clinic_a.slug}),
            {"use": "social_media"},
            follow=True,
        )
    assert "Withdrawn: Social media" in response.content.decode()
    with clinic_context(cast.clinic_a.id):
        assert selectors.active_uses(clinic=cast.clinic_a, patient=patient) == {"clinical_record"}
        assert MarketingItem.objects.get(photo=photo).removed_reason == "consent withdrawn"
    assert str(photo.pk) not in staff.get(library).content.decode()
    subjects = [m.subject for m in mail.outbox]
    assert any("withdrawal is recorded" in s for s in subjects)
    admin_mail = [m for m in mail.outbox if m.subject.startswith("Consent withdrawn")][0]
    assert cast.admin.email in admin_mail.to
    patient_page = staff.get(
        reverse(
            "patient_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk}
        )
    )
    assert "Consent withdrawn" in patient_page.content.decode()


def test_library_hides_a_photo_at_once_even_before_any_cleanup(cast, patient):
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    f.make_signed_consent(
        cast.clinic_a, patient, cast.practitioner, uses=["clinical_record", "website"]
    )
    with clinic_context(cast.clinic_a.id):
        services.marketing_add(
            clinic=cast.clinic_a, photo=photo, use="website", by=cast.practitioner
        )
        # A later signature without website consent replaces the earlier choice.
    f.make_signed_consent(cast.clinic_a, patient, cast.practitioner, uses=["clinical_record"])
    with clinic_context(cast.clinic_a.id):
        assert selectors.marketing_library(clinic=cast.clinic_a) == []


def test_photo_cannot_enter_the_library_without_consent(cast, patient):
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    staff = f.verified_client(cast.practitioner)
    response = staff.post(
        reverse("marketing_add", kwargs={"clinic_slug": cast.clinic_a.slug, "photo_id": photo.pk}),
        {"use": "website"},
        follow=True,
    )
    assert "has not consented" in response.content.decode()
    with clinic_context(cast.clinic_a.id):
        assert not MarketingItem.objects.filter(photo=photo).exists()


def test_staff_record_a_withdrawal_taken_by_phone(cast, patient):
    f.make_signed_consent(
        cast.clinic_a, patient, cast.practitioner, uses=["clinical_record", "training"]
    )
    staff = f.verified_client(cast.practitioner)
    url = reverse(
        "consent_record_withdrawal",
        kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk},
    )
    response = staff.post(
        url, {"uses": ["training"], "channel": "phone", "note": "Called on Monday"}
    )
    assert response.status_code == 302
    with clinic_context(cast.clinic_a.id):
        withdrawal = patient.consent_withdrawals.get()
    assert withdrawal.recorded_by == cast.practitioner and withdrawal.channel == "phone"
    # Nothing left to withdraw for that use: a clear message, no change.
    response = staff.post(url, {"uses": ["training"], "channel": "phone"})
    assert response.status_code == 200
    with clinic_context(cast.clinic_a.id):
        assert patient.consent_withdrawals.count() == 1


def test_the_token_is_never_logged_or_stored_in_clear(cast, patient):
    console = next(
        h
        for h in logging.getLogger().handlers
        if any(type(flt).__name__ == "RedactTokensFilter" for flt in h.filters)
    )
    stream = io.StringIO()
    previous = console.setStream(stream)
    logging.getLogger("django.request").setLevel(logging.INFO)
    try:
        path = send_request(cast, patient)
        token = path.rstrip("/").split("/")[-1]
        client = Client()
        open_and_confirm(client, path)
        Client().get(path[:-4] + "xyz/")  # a 404 is logged with its path
        sign_post(client, cast)
        Client().get(path)  # used: 410, logged
    finally:
        console.setStream(previous)
    output = stream.getvalue()
    assert "[redacted]" in output
    assert token not in output
    # Nowhere in the database either, across every table.
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for table in connection.introspection.table_names(cursor):
                cursor.execute(f'SELECT * FROM "{table}"')
                assert token not in repr(cursor.fetchall()), f"token found in {table}"
        return
    # On PostgreSQL the tables are listed as a superuser (RLS hides nothing from it).
    dsn = superuser_test_db_dsn()
    with psycopg.connect(dsn) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
    # The test's own transaction is not visible to another connection: search through ours.
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('app.clinic_id', %s, true)", [str(cast.clinic_a.id)])
        for table in tables:
            cursor.execute(
                f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE %s', [f"%{token}%"]
            )
            assert cursor.fetchone()[0] == 0, f"token found in {table}"


def test_a_patient_who_cannot_draw_may_adopt_the_typed_name(
    cast, patient, django_capture_on_commit_callbacks
):
    path = send_request(cast, patient)
    client = Client()
    open_and_confirm(client, path)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("consent_sign", kwargs={"clinic": cast.clinic_a.slug}),
            {
                "full_name": "Joanne Smith",
                "use_clinical_record": "on",
                "signature": "",
                "typed_signature": "on",
            },
        )
    assert response.status_code == 302
    with clinic_context(cast.clinic_a.id):
        record = ConsentRecord.objects.get(patient=patient)
        from vault import storage

        png = storage.blob_read(record.signature)
    assert record.signature_method == "typed"
    assert png.startswith(b"\x89PNG")
    text = subprocess.run(
        ["pdftotext", "-", "-"],
        input=mail.outbox[-1].attachments[0][1],
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "typed name adopted" in " ".join(text.split())


def test_withdrawing_a_use_that_is_not_active_changes_nothing(cast, patient):
    f.make_signed_consent(cast.clinic_a, patient, cast.practitioner, uses=["clinical_record"])
    client = Client()
    client.get(withdraw_path(mail.outbox[0]))
    url = reverse("consent_withdraw", kwargs={"clinic": cast.clinic_a.slug})
    for bogus in ("website", "not-a-use", ""):
        response = client.post(url, {"use": bogus}, follow=True)
        assert "no active consent to withdraw" in response.content.decode()
    with clinic_context(cast.clinic_a.id):
        assert not patient.consent_withdrawals.exists()
        assert selectors.active_uses(clinic=cast.clinic_a, patient=patient) == {"clinical_record"}


def test_staff_remove_a_photo_from_the_library_and_it_is_audited(cast, patient):
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    f.make_signed_consent(
        cast.clinic_a, patient, cast.practitioner, uses=["clinical_record", "website"]
    )
    with clinic_context(cast.clinic_a.id):
        item = services.marketing_add(
            clinic=cast.clinic_a, photo=photo, use="website", by=cast.practitioner
        )
    staff = f.verified_client(cast.practitioner)
    remove = reverse(
        "marketing_remove", kwargs={"clinic_slug": cast.clinic_a.slug, "item_id": item.pk}
    )
    assert staff.get(remove).status_code == 405
    staff.post(remove)
    with clinic_context(cast.clinic_a.id):
        assert selectors.marketing_library(clinic=cast.clinic_a) == []
        assert AuditEvent.objects.filter(
            action="marketing.removed", target_id=str(item.pk)
        ).exists()
    assert staff.post(remove).status_code == 404  # already removed


def test_a_deleted_photo_cannot_enter_the_library(cast, patient):
    from photos import services as photo_services

    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photo = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    f.make_signed_consent(
        cast.clinic_a, patient, cast.practitioner, uses=["clinical_record", "website"]
    )
    with clinic_context(cast.clinic_a.id):
        photo_services.photo_delete(
            clinic=cast.clinic_a, photo=photo, by=cast.practitioner, reason="duplicate"
        )
        with pytest.raises(services.ValidationError):
            services.marketing_add(
                clinic=cast.clinic_a, photo=photo, use="website", by=cast.practitioner
            )


def test_a_request_signed_before_its_email_left_does_not_show_it_as_retrying(cast):
    """Signed in the clinic (as the demo does) before the worker sent the link: the job finds
    nothing to send, and the page must not claim it is still trying."""
    from consent import services as consent_services

    patient = f.make_patient(cast.clinic_a, cast.admin, email="sam.signed@example.org")
    with clinic_context(cast.clinic_a.id):
        request = consent_services.request_send(
            clinic=cast.clinic_a, patient=patient, by=cast.admin
        )
        consent_services.consent_sign(
            consent_request=request,
            signature=consent_services.Signature(
                typed_name=patient.full_name,
                uses_granted=["clinical_record"],
                signature_png=f.signature_png(),
            ),
        )
    page = (
        f.verified_client(cast.practitioner)
        .get(
            reverse(
                "patient_detail",
                kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk},
            )
        )
        .content.decode()
    )
    assert "not e-mailed" in page
    assert "not sent yet, retrying" not in page
