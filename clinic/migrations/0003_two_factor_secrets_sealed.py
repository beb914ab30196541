"""Two-factor secrets move to devices that never store them in clear: every TOTP key is sealed
(clinic.otp_secrets) and every backup code replaced by its keyed hash; the plaintext rows in
django-otp's own tables are deleted. Sessions verified with an old device sign in again."""

import base64
import hashlib
import hmac
import os

import django.db.models.deletion
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import migrations, models

# A frozen copy of what this migration needs of clinic.otp_secrets as it was when it was
# written (format 1): a migration must keep doing what it did, whatever the live code becomes.
# tests/clinic/test_two_factor_secrets.py holds the copy against the live module.
TOTP_KEY_LABEL = b"totp-secrets v1"
BACKUP_CODE_LABEL = b"backup-codes v1"
FORMAT_VERSION = b"\x01"
NONCE_BYTES = 12


def _derive(label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(
        base64.b64decode(settings.MASTER_KEY)
    )


def seal_totp_key(raw_key: bytes, *, user_id) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    associated = TOTP_KEY_LABEL + b"|user:" + str(user_id).encode()
    return (
        FORMAT_VERSION + nonce + AESGCM(_derive(TOTP_KEY_LABEL)).encrypt(nonce, raw_key, associated)
    )


def backup_code_hash(code: str, *, user_id) -> str:
    message = f"{user_id}:{code}".encode()
    return hmac.new(_derive(BACKUP_CODE_LABEL), message, hashlib.sha256).hexdigest()


def seal_existing_secrets(apps, schema_editor):
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    StaticDevice = apps.get_model("otp_static", "StaticDevice")
    AuthenticatorDevice = apps.get_model("clinic", "AuthenticatorDevice")
    BackupCodes = apps.get_model("clinic", "BackupCodes")
    BackupCode = apps.get_model("clinic", "BackupCode")
    copied = ("name", "confirmed", "step", "t0", "digits", "tolerance", "drift", "last_t")
    for old in TOTPDevice.objects.all():
        AuthenticatorDevice.objects.create(
            user_id=old.user_id,
            sealed_key=seal_totp_key(bytes.fromhex(old.key), user_id=old.user_id),
            last_used_at=old.last_used_at,
            **{field: getattr(old, field) for field in copied},
        )
    for old in StaticDevice.objects.all():
        device = BackupCodes.objects.create(
            user_id=old.user_id, name=old.name, confirmed=old.confirmed
        )
        BackupCode.objects.bulk_create(
            BackupCode(
                device=device,
                code_hash=backup_code_hash(token.token, user_id=old.user_id),
            )
            for token in old.token_set.all()
        )
    StaticDevice.objects.all().delete()
    TOTPDevice.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0002_clinic_logo"),
        ("otp_totp", "0003_add_timestamps"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuthenticatorDevice",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        help_text="The human-readable name of this device.", max_length=64
                    ),
                ),
                (
                    "confirmed",
                    models.BooleanField(default=True, help_text="Is this device ready for use?"),
                ),
                (
                    "throttling_failure_timestamp",
                    models.DateTimeField(
                        blank=True,
                        default=None,
                        help_text="A timestamp of the last failed verification attempt. Null if last attempt succeeded.",
                        null=True,
                    ),
                ),
                (
                    "throttling_failure_count",
                    models.PositiveIntegerField(
                        default=0, help_text="Number of successive failed attempts."
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        auto_now_add=True,
                        help_text="The date and time when this device was initially created in the system.",
                        null=True,
                    ),
                ),
                (
                    "last_used_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="The most recent date and time this device was used.",
                        null=True,
                    ),
                ),
                ("sealed_key", models.BinaryField()),
                ("step", models.PositiveSmallIntegerField(default=30)),
                ("t0", models.BigIntegerField(default=0)),
                ("digits", models.PositiveSmallIntegerField(choices=[(6, 6), (8, 8)], default=6)),
                ("tolerance", models.PositiveSmallIntegerField(default=1)),
                ("drift", models.SmallIntegerField(default=0)),
                ("last_t", models.BigIntegerField(default=-1)),
                (
                    "user",
                    models.ForeignKey(
                        help_text="The user that this device belongs to.",
                        on_delete=django.db.models.deletion.CASCADE,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "authenticator app",
                "abstract": False,
            },
        ),
        migrations.CreateModel(
            name="BackupCodes",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        help_text="The human-readable name of this device.", max_length=64
                    ),
                ),
                (
                    "confirmed",
                    models.BooleanField(default=True, help_text="Is this device ready for use?"),
                ),
                (
                    "throttling_failure_timestamp",
                    models.DateTimeField(
                        blank=True,
                        default=None,
                        help_text="A timestamp of the last failed verification attempt. Null if last attempt succeeded.",
                        null=True,
                    ),
                ),
                (
                    "throttling_failure_count",
                    models.PositiveIntegerField(
                        default=0, help_text="Number of successive failed attempts."
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        auto_now_add=True,
                        help_text="The date and time when this device was initially created in the system.",
                        null=True,
                    ),
                ),
                (
                    "last_used_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="The most recent date and time this device was used.",
                        null=True,
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        help_text="The user that this device belongs to.",
                        on_delete=django.db.models.deletion.CASCADE,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "backup codes",
                "abstract": False,
            },
        ),
        migrations.CreateModel(
            name="BackupCode",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code_hash", models.CharField(db_index=True, max_length=64)),
                (
                    "device",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="codes",
                        to="clinic.backupcodes",
                    ),
                ),
            ],
        ),
        migrations.RunPython(seal_existing_secrets, migrations.RunPython.noop),
    ]
