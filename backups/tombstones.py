"""Erasure tombstones at the backup target: when a patient is erased, an outbox job writes the
erasure's ids (no name, no date of birth, nothing personal) into the backup repository as a
small snapshot of its own, so that it survives the loss of the primary database. A restore
replays every tombstone whose patient the restored set still holds: a restore never brings an
erased patient back."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from audit.context import AuditContext
from backups import restic
from clinic.models import Clinic
from clinic.tenancy import clinic_context
from patients.models import Patient
from retention.models import Erasure

logger = logging.getLogger("backups")
FORMAT = "clinicphotos-erasure-tombstone/1"
REPLAY_LABEL = "system (restore: erasure tombstone replayed)"


def tombstone_owed(*, clinic: Clinic, erasure: Erasure, context: AuditContext | None) -> None:
    """retention.erasure hook: owe the job that writes the tombstone (when backups are taken)."""
    from backups.tasks import write_tombstone

    if settings.BACKUP_TARGET:
        write_tombstone.delay_on_commit(clinic_id=str(clinic.pk), erasure_id=str(erasure.pk))


def tombstone_of(erasure: Erasure) -> bytes:
    """The tombstone's bytes: ids and the time only."""
    body = {
        "format": FORMAT,
        "erasure_id": str(erasure.pk),
        "clinic_id": str(erasure.clinic_id),
        "patient_id": str(erasure.patient_id),
        "erased_at": erasure.erased_at.isoformat(),
    }
    return json.dumps(body, sort_keys=True).encode()


def tombstone_write(*, clinic_id, erasure_id, target: str | None = None) -> str:
    """Write an erasure's tombstone to the backup target (the outbox job's body); the snapshot
    id. An unreachable target raises, so the job is retried."""
    erasure = Erasure.objects.get(clinic_id=clinic_id, pk=erasure_id)
    repository = restic.Repository(target)
    repository.init_if_missing()
    return repository.backup_stdin(
        tombstone_of(erasure),
        filename=restic.TOMBSTONE_FILE,
        tags=[restic.TOMBSTONE_TAG, f"erasure-{erasure.pk}"],
    )


@dataclass(frozen=True)
class Tombstone:
    erasure_id: uuid.UUID
    clinic_id: uuid.UUID
    patient_id: uuid.UUID
    erased_at: datetime


def tombstones(repository: restic.Repository) -> list[Tombstone]:
    """Every tombstone at the target, oldest first."""
    found = []
    for snapshot in repository.snapshots(restic.TOMBSTONE_TAG):
        body = json.loads(repository.dump(snapshot.id, "/" + restic.TOMBSTONE_FILE))
        if body.get("format") != FORMAT:
            raise restic.BackupError(f"Tombstone {snapshot.short_id} is not a {FORMAT}.")
        found.append(
            Tombstone(
                erasure_id=uuid.UUID(body["erasure_id"]),
                clinic_id=uuid.UUID(body["clinic_id"]),
                patient_id=uuid.UUID(body["patient_id"]),
                erased_at=datetime.fromisoformat(body["erased_at"]),
            )
        )
    return found


def replay(repository: restic.Repository) -> list[Tombstone]:
    """Erase again every patient the restored database holds whose tombstone is at the target
    (retention's own erasure: keys destroyed, rows deleted, objects deleted, audited)."""
    from retention.services import patient_erase

    replayed = []
    for tombstone in tombstones(repository):
        with clinic_context(tombstone.clinic_id):
            clinic = Clinic.objects.filter(pk=tombstone.clinic_id).first()
            patient = Patient.objects.filter(
                clinic_id=tombstone.clinic_id, pk=tombstone.patient_id
            ).first()
            if clinic is None or patient is None:
                continue  # erased in the set already (or the clinic is not in it)
            patient_erase(
                clinic=clinic,
                patient=patient,
                by=None,
                confirmed=True,
                replay_of=Erasure(
                    id=tombstone.erasure_id,
                    erased_at=tombstone.erased_at,
                    confirmed_label=REPLAY_LABEL,
                ),
            )
        logger.info("erasure %s replayed from its tombstone", tombstone.erasure_id)
        replayed.append(tombstone)
    return replayed
