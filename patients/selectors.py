"""Finding patients and their treatments. Every selector takes the clinic explicitly."""

from __future__ import annotations

import re
from datetime import date, datetime

from django.db.models import Q, QuerySet

from clinic.models import Clinic
from patients.models import Patient, TreatmentEpisode, normalise_name, phone_digits

# Every way the app prints a date ("4 Jun 1982", "4 June 1982") as well as typed ones.
DATE_FORMATS = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%d-%m-%Y",
    "%d.%m.%Y",
    "%d %m %Y",
    "%d %b %Y",
    "%d %B %Y",
    "%d-%b-%Y",
)


def parse_date_query(text: str) -> date | None:
    """A date typed the British way (31/01/1980), ISO (1980-01-31) or as the app prints it
    (4 Jun 1982, 4 June 1982, "Sept" too), else None."""
    text = " ".join(text.replace(",", " ").split())
    text = re.sub(r"(?i)\bsept\b", "Sep", text)
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def patients_of(*, clinic: Clinic, include_archived: bool = False) -> QuerySet[Patient]:
    """The clinic's patients, archived ones only when asked."""
    qs = Patient.objects.filter(clinic=clinic)
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    return qs


def patient_search(
    *, clinic: Clinic, query: str, include_archived: bool = False
) -> QuerySet[Patient]:
    """Patients matching what was typed: a date of birth, an e-mail, a phone number, or parts of
    a name in any order ('jo smi' finds Joanne Smith)."""
    qs = patients_of(clinic=clinic, include_archived=include_archived)
    query = query.strip()
    if not query:
        return qs
    dob = parse_date_query(query)
    if dob is not None:
        return qs.filter(date_of_birth=dob)
    if "@" in query:
        return qs.filter(email__icontains=query)
    digits = phone_digits(query)
    if len(digits) >= 4 and not re.search(r"[A-Za-z]", query):
        return qs.filter(search_phone__contains=digits)
    condition = Q()
    for part in normalise_name(query).split(" "):
        condition &= Q(search_name__contains=part)
    return qs.filter(condition)


def patient_get(*, clinic: Clinic, patient_id) -> Patient | None:
    """One patient of the clinic (archived included), or None."""
    return Patient.objects.filter(clinic=clinic, pk=patient_id).first()


def episodes_of(*, clinic: Clinic, patient: Patient) -> QuerySet[TreatmentEpisode]:
    """A patient's treatments, newest first, with their practitioner."""
    return TreatmentEpisode.objects.filter(clinic=clinic, patient=patient).select_related(
        "practitioner"
    )


def episode_get(*, clinic: Clinic, episode_id) -> TreatmentEpisode | None:
    return (
        TreatmentEpisode.objects.filter(clinic=clinic, pk=episode_id)
        .select_related("patient", "practitioner")
        .first()
    )


def patient_names(clinic: Clinic, ids: set) -> dict:
    """The current full name of each patient id of the clinic, in one query (for the audit
    log, which keeps ids only; an id with no patient any more is simply missing)."""
    rows = Patient.objects.filter(clinic=clinic, pk__in=ids).values_list(
        "pk", "first_name", "last_name"
    )
    return {pk: f"{first} {last}".strip() for pk, first, last in rows}


def patients_named(clinic: Clinic, text: str, limit: int) -> list[tuple]:
    """Patients (archived too) a typed name, date of birth, e-mail or phone finds, as
    (id, full name) pairs, for the audit log's patient filter."""
    found = patient_search(clinic=clinic, query=text, include_archived=True).order_by(
        "last_name", "first_name"
    )[:limit]
    fields = ("id", "first_name", "last_name", "date_of_birth")
    return [(p.pk, f"{p.full_name}, born {p.date_of_birth:%-d %b %Y}") for p in found.only(*fields)]
