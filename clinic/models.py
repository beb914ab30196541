"""Clinics (the tenants), the staff who work in them and how they are invited."""

from __future__ import annotations

import secrets
import time
import uuid
from base64 import b32encode
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp.models import Device, DeviceManager, ThrottlingMixin, TimestampMixin
from django_otp.oath import TOTP

from clinic.tenancy import TenantManager

TITLES = {"dr", "mr", "mrs", "ms", "miss", "mx", "prof", "professor", "sir", "dame"}


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_superuser", True)
        extra.setdefault("is_staff", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in: staff of one or more clinics. Patients never have accounts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Changing this ends every session of the user (it feeds the session auth hash). It is
    # renewed on a password change, a 2FA reset and a deactivation.
    security_stamp = models.CharField(max_length=64, default=secrets.token_hex)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    if TYPE_CHECKING:
        # django-otp's OTPMiddleware gives the request's user this: whether the session
        # signed in with a second factor.
        def is_verified(self) -> bool: ...

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        """The first name, skipping a title ('Dr Leo Marsh' -> 'Leo')."""
        words = [w for w in self.full_name.split() if w.rstrip(".").lower() not in TITLES]
        return words[0] if words else (self.full_name or self.email)

    def get_session_auth_hash(self) -> str:
        return salted_hmac(
            "clinic.User.session", f"{self.password}:{self.security_stamp}", algorithm="sha256"
        ).hexdigest()

    def renew_security_stamp(self) -> None:
        self.security_stamp = secrets.token_hex()


class Clinic(models.Model):
    """A tenant: one clinic. Every patient record belongs to exactly one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=150)
    # The clinic's logo for patient-facing pages and PDFs: a PNG we re-encoded, at most 512 px.
    logo = models.BinaryField(null=True, blank=True, editable=False)
    # Where answers to the clinic's e-mails go (their Reply-To, clinic/mail.py); they are sent
    # in the clinic's name from the app's own address, which the mail server may send for.
    reply_to_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    @property
    def has_logo(self) -> bool:
        return bool(self.logo)


class Role(models.TextChoices):
    ADMIN = "admin", "Clinic admin"
    PRACTITIONER = "practitioner", "Practitioner"
    RECEPTION = "reception", "Reception"


# Who may be named as the practitioner of a treatment (the one place this is said).
TREATING_ROLES = (Role.PRACTITIONER, Role.ADMIN)


class Membership(models.Model):
    """A user's place in one clinic, with their role there. A locum has several."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "user"], name="membership_unique_per_clinic")
        ]
        ordering = ["user__full_name"]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}) at {self.clinic}"


class Invitation(models.Model):
    """An e-mailed invitation to join a clinic. Only the token's hash is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    # None for a new clinic's first admin, invited by the operator (`manage.py create_clinic`).
    invited_by = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Set by the worker when the e-mail left; until then the staff page says it is retrying.
    emailed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation for {self.email} to {self.clinic}"

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at

    @property
    def state(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.is_expired:
            return "expired"
        return "pending"


# --- two-factor devices: secrets never in clear in the database -----------------------------


class AuthenticatorDeviceManager(DeviceManager):
    def create_for(
        self, *, user: User, name: str, confirmed: bool, key: bytes | None = None
    ) -> AuthenticatorDevice:
        """A device with ``key`` (20 random bytes unless given), stored sealed."""
        from clinic import otp_secrets

        raw = key if key is not None else secrets.token_bytes(20)
        # django-otp's DeviceManager is not generic, so its create() names no model.
        return self.create(  # type: ignore[return-value]
            user=user,
            name=name,
            confirmed=confirmed,
            sealed_key=otp_secrets.seal_totp_key(raw, user_id=user.pk),
        )


class AuthenticatorDevice(TimestampMixin, ThrottlingMixin, Device):
    """A TOTP authenticator app (django-otp's TOTPDevice, with the key stored encrypted by
    ``clinic.otp_secrets`` instead of as hex). A code is never accepted at or before the last
    accepted time step, and failures are throttled."""

    sealed_key = models.BinaryField()
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(choices=[(6, 6), (8, 8)], default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    last_t = models.BigIntegerField(default=-1)

    objects: ClassVar[AuthenticatorDeviceManager] = AuthenticatorDeviceManager()

    class Meta(Device.Meta):
        verbose_name = "authenticator app"

    @property
    def bin_key(self) -> bytes:
        from clinic import otp_secrets

        return otp_secrets.open_totp_key(self.sealed_key, user_id=self.user_id)

    def get_throttle_factor(self) -> int:
        return settings.OTP_TOTP_THROTTLE_FACTOR

    def totp(self) -> TOTP:
        return TOTP(self.bin_key, self.step, self.t0, self.digits, self.drift)

    def verify_token(self, token) -> bool:
        from clinic import otp_secrets

        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        try:
            token = int(token)
        except (TypeError, ValueError):
            self.throttle_increment(commit=True)
            return False
        totp = self.totp()
        totp.time = time.time()
        if not totp.verify(token, self.tolerance, self.last_t + 1):
            self.throttle_increment(commit=True)
            return False
        self.last_t = totp.t()
        self.drift = totp.drift
        if not otp_secrets.sealed_under_current_key(self.sealed_key, user_id=self.user_id):
            # Opened with an earlier master key: sealed again under the current one.
            self.sealed_key = otp_secrets.seal_totp_key(self.bin_key, user_id=self.user_id)
        self.throttle_reset(commit=False)
        self.set_last_used_timestamp(commit=False)
        self.save()
        return True

    @property
    def config_url(self) -> str:
        """The otpauth:// URL an authenticator app reads from the QR code."""
        issuer = settings.OTP_TOTP_ISSUER.replace(":", "")
        label = quote(f"{issuer}:{self.user.get_username()}")
        params = urlencode(
            {
                "secret": b32encode(self.bin_key).decode().rstrip("="),
                "algorithm": "SHA1",
                "digits": self.digits,
                "period": self.step,
            }
        )
        return f"otpauth://totp/{label}?{params}&issuer={quote(issuer)}"


class BackupCodes(TimestampMixin, ThrottlingMixin, Device):
    """A user's single-use backup codes (django-otp's StaticDevice, with each code kept only
    as a keyed hash)."""

    class Meta(Device.Meta):
        verbose_name = "backup codes"

    def get_throttle_factor(self) -> int:
        return settings.OTP_TOTP_THROTTLE_FACTOR

    def verify_token(self, token) -> bool:
        from clinic import otp_secrets

        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        hashes = otp_secrets.backup_code_hashes(str(token), user_id=self.user_id)
        # The delete is the check: of two requests with the same code only one deletes it.
        used, _ = self.codes.filter(code_hash__in=hashes).delete()
        if not used:
            self.throttle_increment(commit=True)
            return False
        self.throttle_reset(commit=False)
        self.set_last_used_timestamp(commit=False)
        self.save()
        return True


class BackupCode(models.Model):
    """One unused backup code, as its keyed hash (deleted when used)."""

    device = models.ForeignKey(BackupCodes, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64, db_index=True)

    def __str__(self) -> str:
        return f"backup code of {self.device.user}"


class JobState(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"


class Job(models.Model):
    """Work owed after a commit (a rendition, a PDF, an e-mail), recorded in the transaction of
    the change that owes it, so a broker outage delays the work but never loses it. The task is
    named as Celery registers it; its arguments are ids only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    task = models.CharField(max_length=200)
    kwargs = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.PENDING)
    # Deliveries that claimed the job, and failed runs that count towards giving up (only a
    # task that can give up, like a photo too large to decode, counts them).
    attempts = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the job was last sent, claimed or scheduled for a retry: the sweep sends it again
    # once this is older than its grace period.
    due_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta:
        indexes = [models.Index(fields=["clinic", "state", "due_at"], name="job_pending_due")]

    def __str__(self) -> str:
        return f"{self.task} ({self.state})"
