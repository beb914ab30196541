"""Photo consent: versioned templates, e-mailed requests, signatures with their evidence,
withdrawals, and the marketing library that consent gates."""

from __future__ import annotations

import hashlib
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from clinic.tenancy import TenantManager
from links.models import PatientLink


class ConsentUse(models.TextChoices):
    CLINICAL_RECORD = "clinical_record", "Clinical record"
    WEBSITE = "website", "Clinic website"
    SOCIAL_MEDIA = "social_media", "Social media"
    PRINT = "print", "Printed material"
    TRAINING = "training", "Training and education"
    PUBLICATION = "publication", "Publication"


class ConsentBlobPurpose(models.TextChoices):
    """What consent keeps in the vault; the labels are bound into their ciphertext."""

    SIGNATURE = "signature", "Drawn signature"
    PDF = "pdf", "PDF document"


MARKETING_USES = (
    ConsentUse.WEBSITE,
    ConsentUse.SOCIAL_MEDIA,
    ConsentUse.PRINT,
    ConsentUse.PUBLICATION,
)


class ConsentTemplate(models.Model):
    """One version of a clinic's consent form. Versions are never edited: a change is a new
    version, so every signature keeps pointing at the exact words the patient saw."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=150)
    body = models.TextField(help_text="Plain language; blank lines separate paragraphs")
    uses_offered = models.JSONField(default=list)
    uses_required = models.JSONField(default=list)
    use_texts = models.JSONField(default=dict, help_text="use code -> sentence shown by it")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "version"], name="consent_template_version_unique"
            )
        ]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.title} (version {self.version})"

    def uses(self) -> list[tuple[str, str, str, bool]]:
        """(code, label, sentence, required) for each use offered, in a fixed order."""
        labels = dict(ConsentUse.choices)
        return [
            (code, labels[code], self.use_texts.get(code, ""), code in self.uses_required)
            for code in ConsentUse.values
            if code in self.uses_offered
        ]

    def text_shown(self) -> str:
        """The exact text a patient is shown and signs: title, body and each choice."""
        lines = [self.title, "", self.body.strip(), "", "Your choices:"]
        for _code, label, sentence, required in self.uses():
            suffix = " (needed for your treatment)" if required else ""
            lines.append(f"- {label}{suffix}: {sentence}")
        return "\n".join(lines).strip() + "\n"


class ConsentRequest(PatientLink):
    """An e-mailed link asking a patient to sign (the link's fields: ``links.PatientLink``)."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="consent_requests"
    )
    template = models.ForeignKey(ConsentTemplate, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(null=True, blank=True)

    not_found_message = (
        "This link is not valid. Please use the most recent e-mail "
        "from the clinic, or ask them to send a new one."
    )
    # A request is revoked only when a newer one replaces it.
    revoked_message = "The clinic has sent you a newer link. Please use the most recent e-mail."

    class Meta(PatientLink.Meta):
        pass

    def __str__(self) -> str:
        return f"consent request to {self.sent_to}"

    def used_message(self) -> str | None:
        if self.signed_at:
            return (
                "This form has already been signed, so the link no longer "
                "works. Your copy was e-mailed to you."
            )
        return None

    @property
    def state(self) -> str:
        if self.signed_at:
            return "signed"
        if self.revoked_at:
            return "superseded"
        if self.locked_at:
            return "locked"
        if timezone.now() >= self.expires_at:
            return "expired"
        if self.opened_at:
            return "opened"
        return "sent"


class ConsentRecord(models.Model):
    """A signature and its evidence: who, what exactly, which uses, when, from where."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="consent_records"
    )
    request = models.OneToOneField(ConsentRequest, on_delete=models.PROTECT, related_name="record")
    template = models.ForeignKey(ConsentTemplate, on_delete=models.PROTECT, related_name="+")
    typed_name = models.CharField(max_length=150)
    signature = models.OneToOneField("vault.Blob", on_delete=models.PROTECT, related_name="+")
    # "typed": the patient could not draw (keyboard or screen reader) and adopted their typed
    # name as their signature; the image is then our rendering of that name.
    signature_method = models.CharField(
        max_length=10,
        choices=[("drawn", "Drawn"), ("typed", "Typed name adopted")],
        default="drawn",
    )
    signed_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    text_shown = models.TextField()
    text_sha256 = models.CharField(max_length=64)
    uses_granted = models.JSONField(default=list)
    uses_refused = models.JSONField(default=list)
    pdf = models.OneToOneField(
        "vault.Blob", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    emailed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta:
        ordering = ["-signed_at"]

    def __str__(self) -> str:
        return f"consent signed by {self.typed_name} on {self.signed_at:%Y-%m-%d}"

    def text_matches_hash(self) -> bool:
        return hashlib.sha256(self.text_shown.encode()).hexdigest() == self.text_sha256


class WithdrawalChannel(models.TextChoices):
    LINK = "link", "Withdrawal link (by the patient)"
    IN_PERSON = "in_person", "In person"
    PHONE = "phone", "By phone"
    EMAIL = "email", "By e-mail"
    LETTER = "letter", "By letter"


class ConsentWithdrawal(models.Model):
    """A patient taking back one or more uses; effective from ``withdrawn_at``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="consent_withdrawals"
    )
    uses = models.JSONField()
    withdrawn_at = models.DateTimeField()
    channel = models.CharField(max_length=20, choices=WithdrawalChannel.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    objects = TenantManager()

    class Meta:
        ordering = ["-withdrawn_at"]

    def __str__(self) -> str:
        return f"withdrawal of {', '.join(self.uses)}"


class ConsentRestoration(models.Model):
    """The patient's "undo" of a withdrawal, straight after it: a new consent event that gives
    back the uses that withdrawal took, from ``restored_at``. The withdrawal itself is never
    edited, so the history shows both."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="consent_restorations"
    )
    withdrawal = models.OneToOneField(
        ConsentWithdrawal, on_delete=models.PROTECT, related_name="undone_by"
    )
    uses = models.JSONField()
    restored_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    objects = TenantManager()

    class Meta:
        ordering = ["-restored_at"]

    def __str__(self) -> str:
        return f"undo of withdrawal of {', '.join(self.uses)}"


class WithdrawalLink(models.Model):
    """A patient's standing link to withdraw consent; one per e-mail sent, stored hashed.
    It works while any consent of the patient is active."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager()

    def __str__(self) -> str:
        return f"withdrawal link {self.id}"


class MarketingItem(models.Model):
    """A photo in the clinic's marketing library for one use (website, social media, ...).
    Shown only while the patient consents to that use; withdrawal removes it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    photo = models.ForeignKey(
        "photos.Photo", on_delete=models.PROTECT, related_name="marketing_items"
    )
    use = models.CharField(max_length=20, choices=ConsentUse.choices)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.CharField(max_length=200, blank=True)

    objects = TenantManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "photo", "use"],
                condition=models.Q(removed_at__isnull=True),
                name="marketing_item_live_unique",
            )
        ]
        ordering = ["-added_at"]

    def __str__(self) -> str:
        return f"{self.photo_id} for {self.use}"
