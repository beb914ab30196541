"""The due list at a fixed "today": a table of dated cases, each with the reason it is or is
not due. Runs on SQLite too (the embedded default)."""

from __future__ import annotations

import io
from datetime import date, datetime, time

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from clinic.tenancy import clinic_context
from patients import services as patient_services
from retention import selectors, services
from retention.rules import Rules, add_years, retention_of
from tests import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

TODAY = date(2026, 6, 1)

# name, date of birth, last treatment (episode), last photo, archived, held, due?
CASES = [
    ("Adult Past", date(1970, 1, 1), date(2018, 5, 31), None, False, False, True),
    ("Adult Exactly", date(1970, 1, 1), date(2018, 6, 1), None, False, False, True),
    ("Adult Not Yet", date(1970, 1, 1), date(2018, 6, 2), None, False, False, False),
    ("Recent Treatment", date(1970, 1, 1), date(2026, 5, 1), None, False, False, False),
    (
        "Old Treatment Recent Photo",
        date(1970, 1, 1),
        date(2010, 1, 1),
        date(2025, 1, 1),
        False,
        False,
        False,
    ),
    ("Minor Turned 25", date(2001, 5, 1), date(2013, 3, 1), None, False, False, True),
    ("Minor Turns 25 Soon", date(2001, 6, 2), date(2013, 3, 1), None, False, False, False),
    ("Seventeen At Treatment", date(2001, 1, 1), date(2018, 9, 1), None, False, False, False),
    ("Archived Past", date(1960, 2, 2), date(2015, 1, 1), None, True, False, True),
    ("Held Past", date(1960, 2, 2), date(2015, 1, 1), None, False, True, False),
]


@pytest.fixture
def cases(cast):
    clinic, admin = cast.clinic_a, cast.admin
    made = {}
    for name, dob, treated, photo_on, archived, held, _due in CASES:
        first, last = name.split(" ", 1)
        patient = f.make_patient(clinic, admin, first_name=first, last_name=last, date_of_birth=dob)
        episode = f.make_episode(clinic, patient, admin, performed_on=treated)
        if photo_on:
            f.make_ready_photo(
                clinic,
                patient,
                episode,
                admin,
                taken_at=timezone.make_aware(datetime.combine(photo_on, time(11))),
            )
        with clinic_context(clinic.pk):
            if archived:
                patient_services.patient_archive(clinic=clinic, patient=patient, by=admin)
            if held:
                services.hold_place(clinic=clinic, patient=patient, by=admin, reason="Claim open")
        made[name] = patient
    # Another clinic's old record is never on this clinic's list.
    other = f.make_patient(cast.clinic_b, cast.stranger, first_name="Other", last_name="Clinic")
    f.make_episode(cast.clinic_b, other, cast.stranger, performed_on=date(2001, 1, 1))
    return made


def test_the_due_list_is_right_for_each_dated_case(cast, cases):
    with clinic_context(cast.clinic_a.pk):
        due = selectors.patients_due(clinic=cast.clinic_a, today=TODAY)
    listed = {r.patient.full_name for r in due}
    expected = {name for name, *_rest, is_due in CASES if is_due}
    assert listed == expected
    by_name = {r.patient.full_name: r for r in due}
    assert by_name["Minor Turned 25"].retention.basis == "minor"
    assert by_name["Minor Turned 25"].ends_on == date(2026, 5, 1)
    assert by_name["Adult Past"].ends_on == date(2026, 5, 31)
    # Longest overdue first.
    assert [r.patient.full_name for r in due][0] == "Archived Past"


def test_the_clinics_own_rules_change_the_list(cast, cases):
    with clinic_context(cast.clinic_a.pk):
        services.policy_update(
            clinic=cast.clinic_a, by=cast.admin, adult_years=10, minor_until_age=25
        )
        due = {
            r.patient.full_name for r in selectors.patients_due(clinic=cast.clinic_a, today=TODAY)
        }
    assert due == {"Minor Turned 25", "Archived Past"}


def test_lifting_the_hold_puts_the_record_on_the_list(cast, cases):
    patient = cases["Held Past"]
    with clinic_context(cast.clinic_a.pk):
        hold = selectors.active_hold(clinic=cast.clinic_a, patient=patient)
        services.hold_lift(clinic=cast.clinic_a, hold=hold, by=cast.admin)
        due = {
            r.patient.full_name for r in selectors.patients_due(clinic=cast.clinic_a, today=TODAY)
        }
        actions = list(
            AuditEvent.objects.filter(clinic=cast.clinic_a, patient_id=patient.pk)
            .filter(action__startswith="retention.hold")
            .values_list("action", flat=True)
        )
    assert "Held Past" in due
    assert actions == ["retention.hold_placed", "retention.hold_lifted"]


def test_retention_due_command_prints_one_line_per_patient_starting_with_its_uuid(cast):
    old = f.make_patient(cast.clinic_a, cast.admin, first_name="Olive", last_name="Old")
    f.make_episode(cast.clinic_a, old, cast.admin, performed_on=date(2010, 1, 1))
    new = f.make_patient(cast.clinic_a, cast.admin, first_name="Nina", last_name="New")
    f.make_episode(cast.clinic_a, new, cast.admin, performed_on=timezone.localdate())
    other = f.make_patient(cast.clinic_b, cast.stranger, first_name="Brenda", last_name="Bee")
    f.make_episode(cast.clinic_b, other, cast.stranger, performed_on=date(2009, 1, 1))
    out = io.StringIO()
    call_command("retention_due", "--clinic", cast.clinic_a.slug, stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(old.pk)]
    assert lines[0].endswith("Olive Old")
    out = io.StringIO()
    call_command("retention_due", stdout=out)
    firsts = {line.split("\t")[0] for line in out.getvalue().splitlines()}
    assert {str(old.pk), str(other.pk)} <= firsts and str(new.pk) not in firsts
    with clinic_context(cast.clinic_a.pk):
        event = AuditEvent.objects.filter(
            clinic=cast.clinic_a, action="retention.due_listed"
        ).last()
    assert event.details["patients"] == [str(old.pk)]


def test_a_record_with_nothing_in_it_is_kept_from_when_it_was_opened(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin, first_name="Empty", last_name="Record")
    with clinic_context(cast.clinic_a.pk):
        status = selectors.record_retention(clinic=cast.clinic_a, patient=patient)
    assert status.retention.last_treatment == timezone.localdate()
    assert status.ends_on == add_years(timezone.localdate(), 8)


@pytest.mark.parametrize(
    ("dob", "treated", "rules", "ends_on", "basis"),
    [
        (date(1980, 1, 1), date(2020, 3, 1), Rules(), date(2028, 3, 1), "adult"),
        (date(1980, 1, 1), date(2020, 2, 29), Rules(), date(2028, 2, 29), "adult"),
        (date(1980, 1, 1), date(2020, 2, 29), Rules(adult_years=10), date(2030, 2, 28), "adult"),
        (date(2010, 4, 4), date(2020, 1, 1), Rules(), date(2035, 4, 4), "minor"),
        (date(2003, 1, 1), date(2020, 12, 1), Rules(), date(2028, 12, 1), "minor"),
        (date(2002, 12, 2), date(2020, 12, 1), Rules(), date(2028, 12, 1), "minor"),
        (date(2002, 12, 1), date(2020, 12, 1), Rules(), date(2028, 12, 1), "adult"),
    ],
)
def test_the_rule(dob, treated, rules, ends_on, basis):
    result = retention_of(date_of_birth=dob, last_treatment=treated, rules=rules)
    assert (result.ends_on, result.basis) == (ends_on, basis)
