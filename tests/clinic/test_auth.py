"""Signing in: password, mandatory TOTP, lockout, session lifetime, sessions ended on change."""

import time
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.middleware import SESSION_LOGIN_AT, SESSION_RENEWED_AT
from audit.models import AuditEvent
from clinic.models import AuthenticatorDevice, BackupCode, Membership, User
from clinic.tenancy import clinic_context
from tests import factories as f

# Also run on SQLite, the embedded default (see tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def sign_in(client: Client, user: User, password: str = f.PASSWORD):
    return client.post(reverse("login"), {"email": user.email, "password": password})


def events(clinic, action):
    with clinic_context(clinic.id):
        return list(AuditEvent.objects.filter(clinic=clinic, action=action))


def test_password_then_totp_signs_in_and_is_audited(cast):
    client = Client()
    response = sign_in(client, cast.practitioner)
    assert response["Location"] == reverse("two_factor_verify")
    # Password alone opens nothing.
    dashboard = reverse("dashboard", kwargs={"clinic_slug": cast.clinic_a.slug})
    assert client.get(dashboard)["Location"] == reverse("two_factor_verify")
    response = client.post(reverse("two_factor_verify"), {"token": f.totp_now(cast.practitioner)})
    assert response.status_code == 302
    assert client.get(dashboard).status_code == 200
    (login,) = events(cast.clinic_a, "auth.login")
    assert login.actor_id == cast.practitioner.pk and login.details == {"method": "totp"}


def test_session_key_rotates_at_sign_in(cast):
    client = Client()
    client.get(reverse("login"))
    client.cookies["sessionid"] = "attacker-chosen-session-key"
    sign_in(client, cast.practitioner)
    assert client.cookies["sessionid"].value != "attacker-chosen-session-key"


def test_wrong_password_gets_a_clear_message_and_is_recorded(cast):
    client = Client()
    response = sign_in(client, cast.practitioner, "wrong-password")
    assert response.status_code == 200
    assert "The e-mail or password is not right" in response.content.decode()
    assert len(events(cast.clinic_a, "auth.login_failed")) == 1


def test_unknown_email_failure_goes_to_the_system_chain(cast):
    client = Client()
    client.post(reverse("login"), {"email": "nobody@example.test", "password": "x" * 12})
    event = AuditEvent.objects.filter(clinic__isnull=True, action="auth.login_failed").last()
    assert event.actor_label == "nobody@example.test"


def test_lockout_after_five_failures_even_with_the_right_password(cast):
    client = Client()
    for _ in range(5):
        sign_in(client, cast.practitioner, "wrong-password")
    response = sign_in(client, cast.practitioner)
    assert response.status_code == 429
    assert "Sign-in paused" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert events(cast.clinic_a, "auth.locked_out")


def test_wrong_totp_code_is_refused_with_a_message(cast):
    client = Client()
    sign_in(client, cast.practitioner)
    good = f.totp_now(cast.practitioner)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    response = client.post(reverse("two_factor_verify"), {"token": wrong})
    assert response.status_code == 200
    assert "That code is not right, or it was already used" in response.content.decode()
    assert not client.get(reverse("home")).get("Location", "").startswith("/c/")
    assert events(cast.clinic_a, "auth.2fa_failed")


def test_the_same_totp_code_is_refused_twice(cast):
    code = f.totp_now(cast.practitioner)
    first = Client()
    sign_in(first, cast.practitioner)
    assert first.post(reverse("two_factor_verify"), {"token": code}).status_code == 302
    second = Client()
    sign_in(second, cast.practitioner)
    response = second.post(reverse("two_factor_verify"), {"token": code})
    assert response.status_code == 200
    assert "already used" in response.content.decode()


def test_five_wrong_codes_end_the_half_signed_in_session(cast):
    client = Client()
    sign_in(client, cast.practitioner)
    device = AuthenticatorDevice.objects.get(user=cast.practitioner)
    for _ in range(5):
        # django-otp throttles after a failure; clear it so each try reaches the check.
        AuthenticatorDevice.objects.filter(pk=device.pk).update(
            throttling_failure_count=0, throttling_failure_timestamp=None
        )
        response = client.post(reverse("two_factor_verify"), {"token": "000000"})
    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_backup_code_works_once(cast):
    from accounts.services import backup_codes_issue

    codes = backup_codes_issue(user=cast.practitioner)
    client = Client()
    sign_in(client, cast.practitioner)
    assert client.post(reverse("two_factor_verify"), {"token": codes[0]}).status_code == 302
    assert BackupCode.objects.filter(device__user=cast.practitioner).count() == len(codes) - 1
    again = Client()
    sign_in(again, cast.practitioner)
    assert again.post(reverse("two_factor_verify"), {"token": codes[0]}).status_code == 200


def test_first_sign_in_enrols_totp_with_a_qr_code_and_issues_backup_codes(cast):
    newcomer = f.make_user(with_totp=False)
    f.add_member(cast.clinic_a, newcomer, "practitioner")
    client = Client()
    assert sign_in(client, newcomer)["Location"] == reverse("two_factor_setup")
    page = client.get(reverse("two_factor_setup")).content.decode()
    assert "<svg" in page and "QR code for your authenticator app" in page
    device = AuthenticatorDevice.objects.get(user=newcomer, confirmed=False)
    response = client.post(reverse("two_factor_setup"), {"token": f"{_code(device)}"})
    assert response["Location"] == reverse("backup_codes")
    codes_page = client.get(reverse("backup_codes")).content.decode()
    assert codes_page.count("<code>") == 10
    # Shown once only.
    assert client.get(reverse("backup_codes"))["Location"] == reverse("account")
    device.refresh_from_db()
    assert device.confirmed
    assert events(cast.clinic_a, "auth.2fa_enrolled")


def test_wrong_enrolment_code_is_refused(cast):
    newcomer = f.make_user(with_totp=False)
    client = Client()
    sign_in(client, newcomer)
    client.get(reverse("two_factor_setup"))
    response = client.post(reverse("two_factor_setup"), {"token": "12345"})
    assert "Enter the 6 digits" in response.content.decode()
    assert not AuthenticatorDevice.objects.filter(user=newcomer, confirmed=True).exists()


def _code(device) -> str:
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


def test_session_ends_twelve_hours_after_sign_in_however_active(cast):
    client = f.verified_client(cast.practitioner)
    dashboard = reverse("dashboard", kwargs={"clinic_slug": cast.clinic_a.slug})
    assert client.get(dashboard).status_code == 200
    session = client.session
    session[SESSION_LOGIN_AT] = time.time() - 12 * 3600 - 1
    session.save()
    assert client.get(dashboard)["Location"].startswith("/login/")


def test_idle_session_expires_after_thirty_minutes(cast):
    client = f.verified_client(cast.practitioner)
    client.get(reverse("dashboard", kwargs={"clinic_slug": cast.clinic_a.slug}))
    assert client.session.get_expiry_age() == 30 * 60
    from django.contrib.sessions.models import Session

    stored = Session.objects.get(session_key=client.session.session_key)
    assert stored.expire_date <= timezone.now() + timedelta(minutes=30, seconds=5)


def test_activity_renews_the_idle_limit_at_most_once_a_minute(cast):
    from django.contrib.sessions.models import Session

    client = f.verified_client(cast.practitioner)
    dashboard = reverse("dashboard", kwargs={"clinic_slug": cast.clinic_a.slug})
    client.get(dashboard)
    key = client.session.session_key
    first = Session.objects.get(session_key=key).expire_date
    # A page's thumbnails a second later do not rewrite the session row.
    assert client.get(dashboard).status_code == 200
    assert Session.objects.get(session_key=key).expire_date == first
    # A minute on, the next request pushes the idle limit 30 minutes from now.
    session = client.session
    session[SESSION_RENEWED_AT] = time.time() - 61
    session.save()
    before = Session.objects.get(session_key=key).expire_date
    client.get(dashboard)
    after = Session.objects.get(session_key=key).expire_date
    assert after > before
    assert after >= timezone.now() + timedelta(minutes=29, seconds=55)


def test_password_change_ends_every_session(cast):
    other_device = f.verified_client(cast.practitioner)
    client = f.verified_client(cast.practitioner)
    response = client.post(
        reverse("account"),
        {
            "action": "password",
            "current_password": f.PASSWORD,
            "token": f.totp_now(cast.practitioner),
            "new_password": "a-brand-new-passphrase-42",
        },
    )
    assert response["Location"] == reverse("login")
    dashboard = reverse("dashboard", kwargs={"clinic_slug": cast.clinic_a.slug})
    assert other_device.get(dashboard)["Location"].startswith("/login/")


def test_two_factor_reset_ends_every_session(cast):
    other_device = f.verified_client(cast.practitioner)
    client = f.verified_client(cast.practitioner)
    client.post(
        reverse("account"),
        {
            "action": "reset_2fa",
            "current_password": f.PASSWORD,
            "token": f.totp_now(cast.practitioner),
        },
    )
    assert not AuthenticatorDevice.objects.filter(user=cast.practitioner).exists()
    dashboard = reverse("dashboard", kwargs={"clinic_slug": cast.clinic_a.slug})
    assert other_device.get(dashboard)["Location"].startswith("/login/")


def test_deactivated_member_is_signed_out_at_once(cast):
    practitioner = f.verified_client(cast.practitioner)
    admin = f.verified_client(cast.admin)
    with clinic_context(cast.clinic_a.id):
        membership = Membership.objects.get(clinic=cast.clinic_a, user=cast.practitioner)
    admin.post(
        reverse(
            "staff_detail",
            kwargs={"clinic_slug": cast.clinic_a.slug, "membership_id": membership.pk},
        ),
        {"action": "deactivate"},
    )
    dashboard = reverse("dashboard", kwargs={"clinic_slug": cast.clinic_a.slug})
    assert practitioner.get(dashboard)["Location"].startswith("/login/")
    # Signing in again no longer opens this clinic.
    cast.practitioner.refresh_from_db()
    again = f.verified_client(cast.practitioner)
    assert again.get(dashboard).status_code == 404
    assert events(cast.clinic_a, "staff.deactivated")


def test_logout_requires_post_and_ends_session(cast):
    client = f.verified_client(cast.practitioner)
    assert client.get(reverse("logout")).status_code == 405
    client.post(reverse("logout"))
    assert "_auth_user_id" not in client.session
    assert mail.outbox == []
