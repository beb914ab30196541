"""The fields every patient link has, once: an abstract model the link kinds extend (their
tables are their own; these were their fields before, so no migration changed a table)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from clinic.tenancy import TenantManager


class PatientLink(models.Model):
    """An e-mailed link to one patient of one clinic. Only the token's hash is stored; the
    link expires, can be revoked, and locks after five wrong dates of birth.

    A kind names its own problems in words for the patient: ``not_found_message`` (a token
    that matches nothing), ``revoked_message``, and ``used_message()`` when the link has done
    its work (a signed form)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    sent_to = models.EmailField()
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    # Set by the worker when the e-mail left; until then the patient page says it is retrying.
    emailed_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    failed_checks = models.PositiveSmallIntegerField(default=0)
    locked_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    not_found_message = "This link is not valid. Please use the most recent e-mail from the clinic."
    revoked_message = "This link has been withdrawn and no longer works."

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def used_message(self) -> str | None:
        """Why the link has done its work and no longer opens, or None while it has not."""
        return None
