"""The retention rule itself, pure: given a date of birth, the last treatment and the clinic's
rules, the day the record may be erased. No database here, so the table of cases in the tests
reads like the rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from retention.models import ADULT_AGE, DEFAULT_ADULT_YEARS, DEFAULT_MINOR_UNTIL_AGE


@dataclass(frozen=True)
class Rules:
    """A clinic's retention rules (the defaults unless it set its own)."""

    adult_years: int = DEFAULT_ADULT_YEARS
    minor_until_age: int = DEFAULT_MINOR_UNTIL_AGE


@dataclass(frozen=True)
class Retention:
    """When one record may be erased, and why that day."""

    ends_on: date
    basis: str  # "adult" or "minor": the patient's age at the last treatment
    last_treatment: date

    def due_on(self, today: date) -> bool:
        return today >= self.ends_on


def add_years(day: date, years: int) -> date:
    """The same day ``years`` later; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def age_on(date_of_birth: date, day: date) -> int:
    years = day.year - date_of_birth.year
    if (day.month, day.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def retention_of(*, date_of_birth: date, last_treatment: date, rules: Rules) -> Retention:
    """Adults: ``adult_years`` after the last treatment. Someone treated as a minor: until
    their ``minor_until_age`` birthday, or the adult period if that ends later (a 17-year-old
    is never kept for less than an adult)."""
    adult_end = add_years(last_treatment, rules.adult_years)
    if age_on(date_of_birth, last_treatment) >= ADULT_AGE:
        return Retention(ends_on=adult_end, basis="adult", last_treatment=last_treatment)
    minor_end = add_years(date_of_birth, rules.minor_until_age)
    return Retention(
        ends_on=max(minor_end, adult_end), basis="minor", last_treatment=last_treatment
    )
