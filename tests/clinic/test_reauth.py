"""Changing how an account signs in takes the password and a current code again, and guessing
them on the account page locks out like guessing at sign-in. A flood of sign-ins for unknown
addresses cannot grow the audit trail without bound."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.services import backup_codes_issue
from audit import services as audit_services
from audit.models import AuditEvent
from clinic.models import AuthenticatorDevice, BackupCode
from clinic.tenancy import clinic_context
from tests import factories as f

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-brand-new-passphrase-42"


def events(clinic, action):
    with clinic_context(clinic.id):
        return list(AuditEvent.objects.filter(clinic=clinic, action=action))


def account(client, action, **fields):
    return client.post(reverse("account"), {"action": action, **fields})


def unthrottle(user):
    # django-otp pauses a device for a moment after a wrong code; the tests do not wait.
    AuthenticatorDevice.objects.filter(user=user).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )


def test_password_change_without_a_code_is_refused_and_recorded(cast):
    client = f.verified_client(cast.practitioner)
    response = account(
        client, "password", current_password=f.PASSWORD, token="", new_password=NEW_PASSWORD
    )
    assert response.status_code == 400
    cast.practitioner.refresh_from_db()
    assert cast.practitioner.check_password(f.PASSWORD)


def test_password_change_with_a_wrong_code_is_refused_and_recorded(cast):
    client = f.verified_client(cast.practitioner)
    response = account(
        client,
        "password",
        current_password=f.PASSWORD,
        token="000000",
        new_password=NEW_PASSWORD,
    )
    assert response.status_code == 400
    assert "That code is not right" in response.content.decode()
    cast.practitioner.refresh_from_db()
    assert cast.practitioner.check_password(f.PASSWORD)
    (event,) = events(cast.clinic_a, "auth.reauth_failed")
    assert event.details == {"for": "password", "wrong": "code"}


def test_password_change_with_a_wrong_password_is_refused(cast):
    client = f.verified_client(cast.practitioner)
    response = account(
        client,
        "password",
        current_password="not-my-password",
        token=f.totp_now(cast.practitioner),
        new_password=NEW_PASSWORD,
    )
    assert response.status_code == 400
    assert "That is not your current password" in response.content.decode()
    (event,) = events(cast.clinic_a, "auth.reauth_failed")
    assert event.details["wrong"] == "password"


def test_password_change_with_password_and_code_works(cast):
    client = f.verified_client(cast.practitioner)
    response = account(
        client,
        "password",
        current_password=f.PASSWORD,
        token=f.totp_now(cast.practitioner),
        new_password=NEW_PASSWORD,
    )
    assert response["Location"] == reverse("login")
    cast.practitioner.refresh_from_db()
    assert cast.practitioner.check_password(NEW_PASSWORD)


def test_two_factor_reset_needs_the_password_and_a_code(cast):
    client = f.verified_client(cast.practitioner)
    assert account(client, "reset_2fa").status_code == 400
    assert account(client, "reset_2fa", current_password=f.PASSWORD, token="").status_code == 400
    response = account(
        client,
        "reset_2fa",
        current_password="wrong-password-1",
        token=f.totp_now(cast.practitioner),
    )
    assert response.status_code == 400
    assert AuthenticatorDevice.objects.filter(user=cast.practitioner).exists()


def test_a_lost_phone_is_replaced_with_the_password_and_a_backup_code(cast):
    codes = backup_codes_issue(user=cast.practitioner)
    client = f.verified_client(cast.practitioner)
    response = account(client, "reset_2fa", current_password=f.PASSWORD, token=codes[0])
    assert response["Location"] == reverse("login")
    assert not AuthenticatorDevice.objects.filter(user=cast.practitioner).exists()
    assert events(cast.clinic_a, "auth.2fa_reset")


def test_new_backup_codes_need_the_password_and_a_code(cast):
    backup_codes_issue(user=cast.practitioner)
    before = set(
        BackupCode.objects.filter(device__user=cast.practitioner).values_list(
            "code_hash", flat=True
        )
    )
    client = f.verified_client(cast.practitioner)
    assert account(client, "backup_codes", current_password=f.PASSWORD).status_code == 400
    after = set(
        BackupCode.objects.filter(device__user=cast.practitioner).values_list(
            "code_hash", flat=True
        )
    )
    assert after == before
    unthrottle(cast.practitioner)
    response = account(
        client, "backup_codes", current_password=f.PASSWORD, token=f.totp_now(cast.practitioner)
    )
    assert response["Location"] == reverse("backup_codes")


def test_guessing_the_password_on_the_account_page_locks_out_like_sign_in(cast):
    client = f.verified_client(cast.practitioner)
    for attempt in range(1, 6):
        response = account(
            client,
            "reset_2fa",
            current_password=f"guess-number-{attempt}",
            token=f.totp_now(cast.practitioner),
        )
        if response.status_code == 429:
            break
    assert response.status_code == 429
    assert "Sign-in paused" in response.content.decode()
    # The session that was guessing is over, and the account stays as it was.
    assert "_auth_user_id" not in client.session
    assert AuthenticatorDevice.objects.filter(user=cast.practitioner).exists()
    assert events(cast.clinic_a, "auth.locked_out")
    # The same counter as sign-in: the right password is refused there too now.
    response = Client().post(
        reverse("login"), {"email": cast.practitioner.email, "password": f.PASSWORD}
    )
    assert response.status_code == 429


def test_wrong_codes_on_the_account_page_count_towards_the_lockout(cast):
    client = f.verified_client(cast.practitioner)
    statuses = []
    for _ in range(6):
        unthrottle(cast.practitioner)
        statuses.append(
            account(client, "reset_2fa", current_password=f.PASSWORD, token="000000").status_code
        )
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429


def _probe(ip: str, email: str):
    return Client(REMOTE_ADDR=ip).post(reverse("login"), {"email": email, "password": "x" * 12})


def _system_events(ip: str):
    return AuditEvent.objects.filter(clinic__isnull=True, ip=ip)


def test_failed_sign_ins_for_unknown_addresses_from_one_client_are_rate_limited(cast):
    # Each test process has a database of its own, so no other test shares this address.
    ip = "198.51.100.7"
    limit = audit_services.PROBE_LIMIT_PER_IP
    for n in range(limit + 10):
        _probe(ip, f"nobody-{f.unique('x')}-{n}@example.test")
    recorded = _system_events(ip)
    assert recorded.filter(action="auth.login_failed").count() == limit
    (summary,) = recorded.filter(action=audit_services.PROBES_SUPPRESSED)
    assert summary.details["scope"] == "ip" and summary.details["limit"] == limit


def test_failed_sign_ins_for_one_unknown_address_from_many_clients_are_rate_limited(cast):
    email = f"nobody-{f.unique('y')}@example.test"
    limit = audit_services.PROBE_LIMIT_PER_ADDRESS
    for n in range(limit + 10):
        _probe(f"203.0.113.{n % 250 + 1}", email)
    recorded = AuditEvent.objects.filter(clinic__isnull=True, actor_label=email)
    assert recorded.exclude(action=audit_services.PROBES_SUPPRESSED).count() == limit
    (summary,) = recorded.filter(action=audit_services.PROBES_SUPPRESSED)
    assert summary.details["scope"] == "address"


def test_a_known_users_failed_sign_ins_are_always_recorded_in_their_clinic(cast):
    for n in range(audit_services.PROBE_LIMIT_PER_IP + 2):
        Client().post(reverse("login"), {"email": cast.reception.email, "password": f"bad-{n}"})
    assert (
        len(events(cast.clinic_a, "auth.login_failed"))
        + len(events(cast.clinic_a, "auth.locked_out"))
        == audit_services.PROBE_LIMIT_PER_IP + 2
    )
