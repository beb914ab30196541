"""Patient search at 100,000 patients on PostgreSQL, through the app's own selector.

Run by benchmarks/run.py in a subprocess (it needs Django on PostgreSQL, the photo figures do
not). It creates a throw-away database, migrates it, loads 100k synthetic patients into one
clinic (and 10k into another, so the clinic filter matters), then times
``patients.selectors.patient_search`` as the patient list runs it (count + first page) with the
trigram indexes, and again without them (the baseline: a sequential scan). Prints JSON.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PATIENTS = 100_000
OTHER_CLINIC_PATIENTS = 10_000
QUERIES = ["jo smi", "patel", "07700 91", "1985-03-14", "amara.k"]
REPEATS = 7


def _load(clinic, count: int, rng: random.Random) -> None:
    from demo.seed import FIRST, LAST
    from patients.models import Patient, normalise_name, phone_digits

    # The demo's names, plus near-misses so "jo smi" has to tell Joanne Smith from Smithson.
    first = [*FIRST, "Joanne"]
    last = [*LAST, "Smithson"]
    batch = []
    for i in range(count):
        f, surname = rng.choice(first), rng.choice(last)
        phone = f"07700 9{rng.randint(0, 99999):05d}"
        batch.append(
            Patient(
                clinic=clinic,
                first_name=f,
                last_name=surname,
                date_of_birth=date(rng.randint(1950, 2006), rng.randint(1, 12), rng.randint(1, 28)),
                email=f"{f}.{surname[0]}{i}@example.com".lower(),
                phone=phone,
                search_name=normalise_name(f"{f} {surname}"),
                search_phone=phone_digits(phone),
            )
        )
        if len(batch) == 5000:
            Patient.objects.bulk_create(batch)
            batch = []
    Patient.objects.bulk_create(batch)


def _time_searches(clinic) -> dict[str, float]:
    """Median milliseconds per query (count + first page, as the patient list does)."""
    from patients.selectors import patient_search

    def once(query: str) -> None:
        results = patient_search(clinic=clinic, query=query)
        results.count()
        list(results[:25])

    figures = {}
    for query in QUERIES:
        once(query)  # warm caches
        samples = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            once(query)
            samples.append((time.perf_counter() - started) * 1000)
        figures[query] = statistics.median(samples)
    return figures


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from clinic.models import Clinic
    from clinic.tenancy import clinic_context

    call_command("migrate", verbosity=0, interactive=False)
    rng = random.Random(11)
    clinic = Clinic.objects.create(name="Bench clinic", slug="bench")
    other = Clinic.objects.create(name="Other clinic", slug="other")
    started = time.perf_counter()
    with clinic_context(other.id):
        _load(other, OTHER_CLINIC_PATIENTS, rng)
    with clinic_context(clinic.id):
        _load(clinic, PATIENTS, rng)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE patients_patient")
    load_seconds = time.perf_counter() - started
    with clinic_context(clinic.id):
        indexed = _time_searches(clinic)
        with connection.cursor() as cursor:
            # The baseline, in the same run: the same searches without the trigram indexes.
            cursor.execute(
                "DROP INDEX patient_name_trgm; DROP INDEX patient_phone_trgm; "
                "DROP INDEX patient_email_trgm"
            )
        unindexed = _time_searches(clinic)
    indexed_ms = statistics.mean(indexed.values())
    unindexed_ms = statistics.mean(unindexed.values())
    figures = {
        "patient_search_ms": indexed_ms,
        "patient_search_slowest_ms": max(indexed.values()),
        "patient_search_unindexed_ms": unindexed_ms,
        "patient_search_vs_unindexed": indexed_ms / unindexed_ms,
        "patient_search_patients": PATIENTS,
        "patient_search_load_s": load_seconds,
    }
    figures |= {f"patient_search_ms[{query}]": ms for query, ms in indexed.items()}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
