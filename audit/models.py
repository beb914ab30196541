"""The audit trail: append-only, hash-chained per clinic; and the per-patient keys that seal the
personal detail an event needs, so erasure can destroy it without breaking a chain."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

from django.db import models

from clinic.tenancy import TenantManager

GENESIS_HASH = "0" * 64
# What an event's hash covers. 1: events written before request ids and sealed personal
# detail (their hash stays what it was); 2: those two fields too.
HASH_FORMAT_LEGACY = 1
HASH_FORMAT = 2


class AuditEvent(models.Model):
    """One access or change. Never updated or deleted (the database refuses both).

    ``clinic`` is empty only for events that belong to no clinic, such as a failed login for an
    address nobody uses; those form the system chain. A patient is named by ``patient_id``
    only; whatever personal detail the event needs (an address it was sent to, the name a
    patient signed with, a patient's IP) is in ``personal``, sealed under that patient's key
    (``audit.personal``), and the hash covers the ciphertext.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(
        "clinic.Clinic", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    seq = models.BigIntegerField()
    created_at = models.DateTimeField()
    actor_id = models.UUIDField(null=True, blank=True)
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    patient_id = models.UUIDField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    personal = models.BinaryField(null=True, blank=True)
    hash_format = models.PositiveSmallIntegerField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "seq"], name="audit_seq_unique_per_clinic")
        ]
        indexes = [
            models.Index(fields=["clinic", "-created_at"], name="audit_clinic_time"),
            # The audit log's filters, each read newest first by seq (audit/queries.py).
            models.Index(fields=["clinic", "patient_id", "seq"], name="audit_clinic_patient_seq"),
            models.Index(fields=["clinic", "actor_id", "seq"], name="audit_clinic_actor_seq"),
            models.Index(fields=["clinic", "action", "seq"], name="audit_clinic_action_seq"),
        ]
        ordering = ["clinic", "seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_label or 'system'}"

    def canonical_payload(self) -> bytes:
        """The bytes the hash covers: every field but the hash, as sorted compact JSON."""
        payload = {
            "clinic_id": str(self.clinic_id) if self.clinic_id else None,
            "seq": self.seq,
            "created_at": self.created_at.isoformat(timespec="microseconds"),
            "actor_id": str(self.actor_id) if self.actor_id else None,
            "actor_label": self.actor_label,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "patient_id": str(self.patient_id) if self.patient_id else None,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "details": self.details,
            "prev_hash": self.prev_hash,
        }
        if self.hash_format != HASH_FORMAT_LEGACY:
            payload["hash_format"] = self.hash_format
            payload["request_id"] = self.request_id
            payload["personal"] = (
                base64.b64encode(bytes(self.personal)).decode() if self.personal else None
            )
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical_payload()).hexdigest()


class PatientKey(models.Model):
    """The key that seals one patient's personal detail in the trail (AES-256-GCM), wrapped
    by a key derived from the master key for its clinic. Erasure destroys it
    (``audit.personal.forget_patient``): the row stays, its key gone, so later readers see
    "erased" rather than "never had any"."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey("clinic.Clinic", on_delete=models.PROTECT, related_name="+")
    patient_id = models.UUIDField()
    wrapped_key = models.BinaryField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "patient_id"], name="audit_patient_key_unique"
            )
        ]

    def __str__(self) -> str:
        state = "destroyed" if self.destroyed_at else "live"
        return f"patient key {self.patient_id} ({state})"
