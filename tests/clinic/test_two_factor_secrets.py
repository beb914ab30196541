"""Two-factor secrets at rest: whoever reads the database as the application's role (or a
leaked dump) finds neither a TOTP key nor a backup code in clear; signing in still works."""

import importlib

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.services import backup_codes_issue
from clinic import otp_secrets
from clinic.models import AuthenticatorDevice, BackupCodes
from tests import factories as f

pytestmark = pytest.mark.django_db

KNOWN_KEY = bytes.fromhex("3132333435363738393031323334353637383930")


def raw_rows(sql: str, params=()) -> list[tuple]:
    # The tests connect as the app role (clinic_app), as the web and worker processes do.
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == "clinic_app"
        cursor.execute(sql, params)
        return cursor.fetchall()


def sign_in(client: Client, user, token: str):
    client.post(reverse("login"), {"email": user.email, "password": f.PASSWORD})
    return client.post(reverse("two_factor_verify"), {"token": token})


def test_the_app_role_cannot_read_a_totp_secret_in_clear(cast):
    user = f.make_user(with_totp=False)
    device = AuthenticatorDevice.objects.create_for(
        user=user, name="Phone", confirmed=True, key=KNOWN_KEY
    )
    ((stored,),) = raw_rows(
        "SELECT sealed_key FROM clinic_authenticatordevice WHERE id = %s", [device.pk]
    )
    stored = bytes(stored)
    assert KNOWN_KEY.hex() not in stored.hex() and KNOWN_KEY not in stored
    assert KNOWN_KEY.hex().encode() not in stored
    # Nor does django-otp's own plaintext table hold anything.
    assert raw_rows("SELECT count(*) FROM otp_totp_totpdevice") == [(0,)]
    assert device.bin_key == KNOWN_KEY


def test_sign_in_with_a_code_from_the_sealed_key_still_works(cast):
    client = Client()
    response = sign_in(client, cast.practitioner, f.totp_now(cast.practitioner))
    assert response.status_code == 302
    assert (
        client.get(reverse("dashboard", kwargs={"clinic_slug": cast.clinic_a.slug})).status_code
        == 200
    )


def test_a_sealed_key_copied_to_another_users_device_does_not_open(cast):
    mine = AuthenticatorDevice.objects.get(user=cast.practitioner)
    theirs = AuthenticatorDevice.objects.get(user=cast.reception)
    theirs.sealed_key = mine.sealed_key
    with pytest.raises(otp_secrets.SecretUnreadable):
        theirs.bin_key  # noqa: B018


def test_a_key_sealed_under_the_previous_master_key_opens_and_is_resealed(cast):
    import base64

    old_master = base64.b64encode(b"o" * 32).decode()
    from django.conf import settings

    with override_settings(MASTER_KEY=old_master, MASTER_KEYS_PREVIOUS=[]):
        user = f.make_user()
        sealed_before = bytes(AuthenticatorDevice.objects.get(user=user).sealed_key)
    with override_settings(MASTER_KEYS_PREVIOUS=[old_master]):
        assert old_master != settings.MASTER_KEY
        client = Client()
        assert sign_in(client, user, f.totp_now(user)).status_code == 302
        device = AuthenticatorDevice.objects.get(user=user)
        assert bytes(device.sealed_key) != sealed_before
        assert otp_secrets.sealed_under_current_key(device.sealed_key, user_id=user.pk)


def test_backup_codes_are_stored_only_as_keyed_hashes(cast):
    codes = backup_codes_issue(user=cast.practitioner)
    stored = [
        h
        for (h,) in raw_rows(
            "SELECT c.code_hash FROM clinic_backupcode c JOIN clinic_backupcodes d "
            "ON d.id = c.device_id WHERE d.user_id = %s",
            [cast.practitioner.pk],
        )
    ]
    assert len(stored) == len(codes)
    assert not set(codes) & set(stored)
    import hashlib

    # Not a plain hash either: 10^8 guesses would find those.
    assert not {hashlib.sha256(c.encode()).hexdigest() for c in codes} & set(stored)
    assert StaticToken.objects.count() == 0


def test_each_backup_code_signs_in_once(cast):
    codes = backup_codes_issue(user=cast.practitioner)
    first = Client()
    assert sign_in(first, cast.practitioner, codes[0]).status_code == 302
    again = Client()
    response = sign_in(again, cast.practitioner, codes[0])
    assert response.status_code == 200
    assert "already used" in response.content.decode()
    # A failure throttles every device of the user for a moment (django-otp); wait it out.
    for model in (BackupCodes, AuthenticatorDevice):
        model.objects.filter(user=cast.practitioner).update(
            throttling_failure_count=0, throttling_failure_timestamp=None
        )
    third = Client()
    assert sign_in(third, cast.practitioner, codes[1]).status_code == 302
    device = BackupCodes.objects.get(user=cast.practitioner)
    assert device.codes.count() == len(codes) - 2


def test_a_backup_code_of_another_user_does_not_work(cast):
    mine = backup_codes_issue(user=cast.practitioner)
    backup_codes_issue(user=cast.reception)
    client = Client()
    response = sign_in(client, cast.reception, mine[0])
    assert response.status_code == 200


def test_existing_plaintext_secrets_are_sealed_by_the_migration(cast):
    """The data migration, run on rows as django-otp stored them before."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("clinic.migrations.0003_two_factor_secrets_sealed")
    user = f.make_user(with_totp=False)
    TOTPDevice.objects.create(user=user, name="Old phone", confirmed=True, key=KNOWN_KEY.hex())
    from django_otp.plugins.otp_static.models import StaticDevice

    static = StaticDevice.objects.create(user=user, name="Backup codes")
    static.token_set.create(token="12345678")
    migration.seal_existing_secrets(apps, None)
    assert TOTPDevice.objects.count() == 0 and StaticToken.objects.count() == 0
    device = AuthenticatorDevice.objects.get(user=user)
    assert device.bin_key == KNOWN_KEY and device.name == "Old phone"
    assert BackupCodes.objects.get(user=user).verify_token("12345678")


@pytest.mark.django_db
def test_rotate_keys_reseals_authenticator_keys_so_the_old_master_can_go(settings):
    import base64
    import os

    from accounts.services import two_factor_keys_reseal

    user = f.make_user()
    old = settings.MASTER_KEY
    settings.MASTER_KEY = base64.b64encode(os.urandom(32)).decode()
    settings.MASTER_KEYS_PREVIOUS = [old]
    assert two_factor_keys_reseal() >= 1  # what rotate_keys runs after the clinic keys
    settings.MASTER_KEYS_PREVIOUS = []  # the old master key is gone
    device = AuthenticatorDevice.objects.get(user=user)
    assert otp_secrets.sealed_under_current_key(bytes(device.sealed_key), user_id=user.pk)
    assert device.verify_token(f.totp_now(user))


def test_the_migrations_frozen_copy_seals_and_hashes_as_the_live_module_reads():
    """Migration 0003 carries its own copy of the sealing (it must not import live code); what
    the copy writes, the live module opens and checks, so the two agree on format 1."""
    frozen = importlib.import_module("clinic.migrations.0003_two_factor_secrets_sealed")
    sealed = frozen.seal_totp_key(b"0123456789abcdef0123", user_id=42)
    assert otp_secrets.open_totp_key(sealed, user_id=42) == b"0123456789abcdef0123"
    assert frozen.backup_code_hash("12345678", user_id=42) == otp_secrets.backup_code_hash(
        "12345678", user_id=42
    )
