"""Changes to retention, each audited in its transaction: the clinic's rules, legal holds,
telling admins what is due, erasing a patient (on an admin's confirmation only) and the
lighter marketing erasure."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.context import AuditContext
from audit.personal import forget_patient, legacy_clear_events
from audit.services import record
from clinic.models import Clinic, Job, User
from clinic.tenancy import service_write
from consent import selectors as consent_selectors
from consent import services as consent_services
from consent.models import MARKETING_USES, MarketingItem, WithdrawalChannel
from patients.models import Patient
from retention import erasure as gathered
from retention import selectors
from retention.models import Erasure, LegalHold, RetentionPolicy
from vault import storage

ADULT_YEARS_RANGE = (1, 50)
MINOR_AGE_RANGE = (18, 40)
HOLD_REASON_MAX = 300
EARLY_REASON_MIN = 10
EARLY_REASON_MAX = 300
COMMAND_LABEL = "system (erase_patient command)"


class RetentionRefused(ValidationError):
    """The change cannot be made as asked (a clear message for the person)."""


# --- the clinic's rules -----------------------------------------------------------------------


@transaction.atomic
def policy_update(
    *,
    clinic: Clinic,
    by: User,
    adult_years: int,
    minor_until_age: int,
    context: AuditContext | None = None,
) -> RetentionPolicy:
    """Set how long the clinic keeps records (audited with the old and new values)."""
    low, high = ADULT_YEARS_RANGE
    if not low <= adult_years <= high:
        raise RetentionRefused(f"Keep adults' records between {low} and {high} years.")
    low, high = MINOR_AGE_RANGE
    if not low <= minor_until_age <= high:
        raise RetentionRefused(f"Keep minors' records until an age between {low} and {high}.")
    policy = RetentionPolicy.objects.select_for_update().filter(clinic=clinic).first()
    before = selectors.rules_of(clinic=clinic)
    if policy is None:
        policy = RetentionPolicy(clinic=clinic)
    if (before.adult_years, before.minor_until_age) == (adult_years, minor_until_age) and policy.pk:
        return policy
    policy.adult_years, policy.minor_until_age, policy.updated_by = (
        adult_years,
        minor_until_age,
        by,
    )
    policy.save()
    record(
        clinic=clinic,
        action="retention.rules_changed",
        actor=by,
        context=context,
        target=policy,
        details={
            "adult_years": [before.adult_years, adult_years],
            "minor_until_age": [before.minor_until_age, minor_until_age],
        },
    )
    return policy


# --- legal holds ------------------------------------------------------------------------------


@transaction.atomic
def hold_place(
    *,
    clinic: Clinic,
    patient: Patient,
    by: User,
    reason: str,
    context: AuditContext | None = None,
) -> LegalHold:
    """Keep the patient's record whatever the rules say (a complaint or claim is open). The
    reason stays on the hold; the audit event names the hold."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise RetentionRefused("Say why the record must be kept (the complaint or claim).")
    if len(reason) > HOLD_REASON_MAX:
        raise RetentionRefused(f"Keep the reason to {HOLD_REASON_MAX} characters.")
    Patient.objects.select_for_update().filter(clinic=clinic, pk=patient.pk).first()
    if selectors.active_hold(clinic=clinic, patient=patient) is not None:
        raise RetentionRefused(f"{patient.full_name}'s record is already under a legal hold.")
    hold = LegalHold.objects.create(
        clinic=clinic, patient=patient, reason=reason, placed_by=by, placed_at=timezone.now()
    )
    record(
        clinic=clinic,
        action="retention.hold_placed",
        actor=by,
        context=context,
        target=hold,
        patient=patient,
    )
    return hold


@transaction.atomic
def hold_lift(
    *, clinic: Clinic, hold: LegalHold, by: User, context: AuditContext | None = None
) -> LegalHold:
    """End a legal hold: the record is kept by the clinic's rules again."""
    locked = LegalHold.objects.select_for_update().get(clinic=clinic, pk=hold.pk)
    if locked.lifted_at is not None:
        raise RetentionRefused("This legal hold has already been lifted.")
    locked.lifted_at, locked.lifted_by = timezone.now(), by
    locked.save(update_fields=["lifted_at", "lifted_by"])
    record(
        clinic=clinic,
        action="retention.hold_lifted",
        actor=by,
        context=context,
        target=locked,
        patient=locked.patient_id,
        details={"placed_at": locked.placed_at.isoformat()},
    )
    return locked


# --- the due list -----------------------------------------------------------------------------


def due_listed(
    *,
    clinic: Clinic,
    due: list[selectors.RecordRetention],
    by: User | None = None,
    actor_label: str = "",
    context: AuditContext | None = None,
) -> None:
    """Reading the due list shows patients' names: an access on record (ids only)."""
    record(
        clinic=clinic,
        action="retention.due_listed",
        actor=by,
        actor_label=actor_label,
        context=context,
        details={"count": len(due), "patients": [str(r.patient.pk) for r in due[:500]]},
    )


@transaction.atomic
def due_notify(*, clinic: Clinic, today: date | None = None) -> int:
    """The daily job for one clinic: when records became due since the admins were last told,
    owe them an e-mail (outbox) saying how many, with a link to the list. Names never go into
    the e-mail, which outlives any erasure. Returns how many records are newly due."""
    from retention.tasks import notify_admins_of_due

    today = today or timezone.localdate()
    policy = RetentionPolicy.objects.select_for_update().filter(clinic=clinic).first()
    if policy is None:
        policy = RetentionPolicy.objects.create(clinic=clinic)
    due = selectors.patients_due(clinic=clinic, today=today)
    told_through = policy.due_notified_through
    new = [r for r in due if told_through is None or r.ends_on > told_through]
    policy.due_notified_through = today
    policy.save(update_fields=["due_notified_through", "updated_at"])
    record(
        clinic=clinic,
        action="retention.due_listed",
        actor_label="system (daily retention check)",
        details={
            "count": len(due),
            "newly_due": len(new),
            "patients": [str(r.patient.pk) for r in due[:500]],
        },
    )
    if new:
        notify_admins_of_due.delay_on_commit(
            clinic_id=str(clinic.pk), due=len(due), newly_due=len(new)
        )
    return len(new)


# --- erasure ----------------------------------------------------------------------------------


def backups_clear_on(erased_at) -> date:
    """The day the last backup taken before an erasure is deleted, so the erasure is complete
    (BACKUP_RETENTION_DAYS)."""
    return timezone.localdate(erased_at) + timedelta(days=settings.BACKUP_RETENTION_DAYS)


def erasure_check(
    *, clinic: Clinic, patient: Patient, early_reason: str = "", today: date | None = None
) -> selectors.RecordRetention:
    """Refuse an erasure the rules do not allow: under a legal hold always; before retention
    ends unless a reason is given (it is recorded)."""
    today = today or timezone.localdate()
    status = selectors.record_retention(clinic=clinic, patient=patient)
    if status.hold is not None:
        raise RetentionRefused(
            f"{patient.full_name}'s record is under a legal hold "
            f"(placed {status.hold.placed_at:%d %b %Y}: {status.hold.reason}). "
            "Lift the hold first; nothing was erased."
        )
    if not status.retention.due_on(today):
        reason = " ".join((early_reason or "").split())
        if len(reason) < EARLY_REASON_MIN:
            raise RetentionRefused(
                f"{patient.full_name}'s record is kept until "
                f"{status.ends_on:%d %B %Y} under the clinic's rules. To erase it earlier, give "
                f"the reason (at least {EARLY_REASON_MIN} characters); it is recorded. "
                "Nothing was erased."
            )
        if len(reason) > EARLY_REASON_MAX:
            raise RetentionRefused(f"Keep the reason to {EARLY_REASON_MAX} characters.")
    return status


def patient_erase(
    *,
    clinic: Clinic,
    patient: Patient,
    by: User | None,
    confirmed: bool,
    early_reason: str = "",
    context: AuditContext | None = None,
    today: date | None = None,
    replay_of: Erasure | None = None,
) -> Erasure:
    """Erase a patient on an admin's confirmation: destroy the data keys of every object of
    theirs, delete every row that describes them, leave a tombstone and the audit events
    (whose personal details become unreadable), all in one transaction. Deleting the
    objects from storage follows through the outbox, retried until storage answers.

    ``replay_of``: an erasure already confirmed and done before a backup was restored (its
    tombstone, unsaved): done again with its id and time, without asking the rules again."""
    from retention.hooks import erased
    from retention.tasks import delete_erased_objects

    if not confirmed:
        raise RetentionRefused("The erasure was not confirmed; nothing was erased.")
    with transaction.atomic():
        # Locked, so a photo or signature arriving now waits and then finds no patient.
        patient = Patient.objects.select_for_update().get(clinic=clinic, pk=patient.pk)
        if replay_of is None:
            status = erasure_check(
                clinic=clinic, patient=patient, early_reason=early_reason, today=today
            )
        else:
            status = selectors.record_retention(clinic=clinic, patient=patient)
        early = not status.retention.due_on(today or timezone.localdate())
        data = gathered.gather(clinic=clinic, patient=patient)
        recipients = gathered.recipients_of(clinic=clinic, data=data)
        jobs = gathered.jobs_of(clinic=clinic, data=data)
        forgotten = storage.blobs_forget_keys(clinic_id=clinic.pk, blob_ids=data.blob_ids)
        with service_write("erasure removes every row of the patient, audited below"):
            Job.objects.filter(pk__in=[j.pk for j in jobs]).delete()
            for _name, rows in data.ordered():
                if rows:
                    type(rows[0]).objects.filter(
                        clinic=clinic, pk__in=[r.pk for r in rows]
                    ).delete()
            Patient.objects.filter(clinic=clinic, pk=patient.pk).delete()
        erasure = Erasure.objects.create(
            id=replay_of.id if replay_of else uuid.uuid4(),
            clinic=clinic,
            patient_id=patient.pk,
            erased_at=replay_of.erased_at if replay_of else timezone.now(),
            confirmed_by=by,
            confirmed_label=(replay_of.confirmed_label if replay_of else "")
            or ("" if by else COMMAND_LABEL),
            retention_ended_on=status.ends_on,
            early_reason=gathered.redact(" ".join(early_reason.split()), patient) if early else "",
            recipients=[r.as_dict() for r in recipients],
            removed=data.counts()
            | {
                "outbox_jobs": len(jobs),
                "keys_destroyed": forgotten,
                # Events written before sealing that still name the patient (docs/security.md).
                "audit_events_in_clear": legacy_clear_events(
                    clinic_id=clinic.pk, patient_id=patient.pk
                ),
            },
            blob_ids=[str(b) for b in data.blob_ids],
        )
        record(
            clinic=clinic,
            action="patient.erased",
            actor=by,
            actor_label="" if by else COMMAND_LABEL,
            context=context,
            target=erasure,
            patient=patient.pk,
            details={
                "removed": erasure.removed,
                "early": early,
                "retention_ended_on": status.ends_on.isoformat(),
                "recipients": len(recipients),
            }
            | ({"replayed_from_backup_tombstone": True} if replay_of else {}),
        )
        if replay_of is None:
            # Rooms above (backups: the erasure's tombstone at the backup target).
            erased(clinic=clinic, erasure=erasure, context=context)
        # The patient's key in the audit trail goes last, after the event above: every sealed
        # detail of theirs (names, addresses, their browser) becomes unreadable, no hash moves.
        forget_patient(clinic_id=clinic.pk, patient_id=patient.pk)
        delete_erased_objects.delay_on_commit(clinic_id=str(clinic.pk), erasure_id=str(erasure.pk))
    return erasure


def erasure_objects_delete(*, clinic_id, erasure_id) -> str:
    """Delete the erased patient's objects from storage (the outbox job after an erasure; the
    keys are already gone). Storage down raises, so the job is retried; done once."""
    erasure = Erasure.objects.select_for_update().get(clinic_id=clinic_id, pk=erasure_id)
    if erasure.objects_deleted_at is not None:
        return "already deleted"
    count = storage.blob_delete_objects(clinic_id=clinic_id, blob_ids=erasure.blob_ids)
    erasure.objects_deleted_at = timezone.now()
    erasure.save(update_fields=["objects_deleted_at"])
    record(
        clinic=erasure.clinic_id,
        action="patient.erased_objects_deleted",
        actor_label="worker",
        target=erasure,
        patient=erasure.patient_id,
        details={"objects": count},
    )
    return "deleted"


# --- marketing erasure ------------------------------------------------------------------------


def patient_erase_marketing(
    *,
    clinic: Clinic,
    patient: Patient,
    by: User,
    channel: str,
    context: AuditContext | None = None,
) -> dict[str, int]:
    """The lighter erasure: withdraw every marketing use the patient has given and take every
    photo of theirs out of the marketing library. The clinical record stays (a legal hold does
    not prevent this). Returns what was done."""
    if channel not in WithdrawalChannel.values or channel == WithdrawalChannel.LINK:
        raise RetentionRefused("Say how the patient asked (in person, phone, e-mail or letter).")
    with transaction.atomic():
        active = consent_selectors.active_uses(clinic=clinic, patient=patient)
        marketing = [u for u in MARKETING_USES if u in active]
        withdrawn = []
        if marketing:
            withdrawal = consent_services.consent_withdraw(
                clinic=clinic,
                patient=patient,
                uses=list(marketing),
                channel=channel,
                by=by,
                note="marketing erasure",
                context=context,
            )
            withdrawn = withdrawal.uses
        now = timezone.now()
        with service_write("marketing erasure removes the library items, audited below"):
            removed = MarketingItem.objects.filter(
                clinic=clinic, photo__patient=patient, removed_at__isnull=True
            ).update(removed_at=now, removed_reason="marketing erasure")
        record(
            clinic=clinic,
            action="patient.marketing_erased",
            actor=by,
            context=context,
            target=patient,
            patient=patient,
            details={"uses_withdrawn": withdrawn, "marketing_items_removed": removed},
        )
    return {"uses_withdrawn": len(withdrawn), "items_removed": removed}
