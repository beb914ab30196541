"""The audit log at 1,000,000 events in one clinic, on PostgreSQL as the app role with RLS on.

Run by benchmarks/run.py in a throw-away database, in three steps:

- ``setup`` (as the owner role): migrate, make the clinic (and a second one with 100,000
  events, so the clinic filter matters), its staff and 20,000 patients.
- the events are loaded by run.py with COPY as the cluster's superuser (a forced RLS policy
  refuses COPY to anyone else). They look like the real trail: a year of events, seq rising
  with time, the catalogue's actions weighted as a clinic's day has them. Their hashes are
  random: verifying the chain is not what is measured.
- ``measure`` (as the app role, RLS forced): the log's first page, one patient's page, and one
  member's week, each rendered through the view by Django's test client with a signed-in
  admin (middleware, the page's own audit event, the template), timed as medians; beside them
  the bare ``SELECT count(*)`` of the clinic's events in the same context. Prints JSON.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EVENTS = 1_000_000
OTHER_CLINIC_EVENTS = 100_000
PATIENTS = 20_000
STAFF = 12
DAYS = 365
REPEATS = 9
STATE = "audit_bench_state.json"

# Roughly a clinic's mix: most events are someone looking at something.
ACTIONS = [
    ("patient.viewed", 30),
    ("photo.viewed", 30),
    ("patient.list_viewed", 10),
    ("photo.details_viewed", 6),
    ("consent.record_viewed", 3),
    ("episode.created", 3),
    ("photo.uploaded", 5),
    ("photo.processed", 5),
    ("comparison.viewed", 2),
    ("consent.signed", 1),
    ("auth.login", 4),
    ("export.downloaded", 1),
]
PATIENT_FREE = {"patient.list_viewed", "auth.login"}


def _django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def setup(state_dir: Path) -> None:
    """As the owner: migrate and make the clinics, staff and patients."""
    from datetime import date

    from django.core.management import call_command

    from clinic.models import Clinic, Membership, Role, User
    from clinic.tenancy import clinic_context
    from patients.models import Patient, normalise_name

    call_command("migrate", verbosity=0, interactive=False)
    rng = random.Random(19)
    clinic = Clinic.objects.create(name="Bench clinic", slug="bench")
    other = Clinic.objects.create(name="Other clinic", slug="other")
    admin = User.objects.create_user(
        "admin@bench.example", "bench-password-1", full_name="Ada Admin"
    )
    staff = [admin] + [
        User.objects.create_user(f"staff{i}@bench.example", None, full_name=f"Staff Member {i}")
        for i in range(1, STAFF)
    ]
    with clinic_context(clinic.id):
        for i, user in enumerate(staff):
            role = Role.ADMIN if i == 0 else Role.PRACTITIONER
            Membership.objects.create(clinic=clinic, user=user, role=role)
        patients = [
            Patient(
                clinic=clinic,
                first_name=f"Patient{i}",
                last_name="Bench",
                date_of_birth=date(1960 + i % 40, 1 + i % 12, 1 + i % 28),
                search_name=normalise_name(f"Patient{i} Bench"),
            )
            for i in range(PATIENTS)
        ]
        Patient.objects.bulk_create(patients, batch_size=5000)
    (state_dir / STATE).write_text(
        json.dumps(
            {
                "clinic": str(clinic.id),
                "other": str(other.id),
                "admin": str(admin.pk),
                "staff": [str(u.pk) for u in staff],
                "patients": [str(p.pk) for p in rng.sample(patients, len(patients))],
            }
        )
    )


def event_rows(clinic_id: str, count: int, staff: list[str], patients: list[str], seed: int):
    """``count`` valid-looking events of one clinic, seq 1..count over a year to now."""
    rng = random.Random(seed)
    actions, weights = zip(*ACTIONS, strict=True)
    end = datetime.now(UTC)
    start = end - timedelta(days=DAYS)
    step = (end - start) / count
    # Patients are not looked at evenly: a fifth of them have most of the events.
    busy = patients[: len(patients) // 5]
    for seq in range(1, count + 1):
        action = rng.choices(actions, weights)[0]
        patient = (
            "" if action in PATIENT_FREE else rng.choice(busy if rng.random() < 0.8 else patients)
        )
        actor = rng.choice(staff)
        yield (
            str(uuid.uuid4()),
            clinic_id,
            seq,
            (start + step * seq).isoformat(),
            actor,
            "",
            action,
            "patients.patient" if patient else "",
            patient,
            patient or None,
            f"10.0.{rng.randint(0, 3)}.{rng.randint(2, 250)}",
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) Safari/604.1",
            f"{rng.getrandbits(64):016x}",
            '{"rendition":"thumb"}' if action == "photo.viewed" else "{}",
            HASH_FORMAT,
            f"{rng.getrandbits(256):064x}",
            f"{rng.getrandbits(256):064x}",
        )


# Events as record() writes them today (audit.models.HASH_FORMAT): with a request id. A
# column added to the trail later must be added here, or COPY refuses the load.
HASH_FORMAT = 2
COLUMNS = (
    "id, clinic_id, seq, created_at, actor_id, actor_label, action, target_type, target_id, "
    "patient_id, ip, user_agent, request_id, details, hash_format, prev_hash, hash"
)


def load(superuser_dsn: str, state_dir: Path) -> float:
    """COPY the events in as the superuser; seconds taken."""
    import psycopg

    state = json.loads((state_dir / STATE).read_text())
    started = time.perf_counter()
    with psycopg.connect(superuser_dsn) as conn:
        with conn.cursor() as cursor:
            for clinic, count, seed in (
                (state["clinic"], EVENTS, 1),
                (state["other"], OTHER_CLINIC_EVENTS, 2),
            ):
                with cursor.copy(f"COPY audit_auditevent ({COLUMNS}) FROM STDIN") as copy:
                    for row in event_rows(clinic, count, state["staff"], state["patients"], seed):
                        copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE audit_auditevent")
    return time.perf_counter() - started


def _client(admin_id: str):
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    from accounts.middleware import SESSION_LOGIN_AT
    from clinic.models import AuthenticatorDevice, User

    user = User.objects.get(pk=admin_id)
    device = AuthenticatorDevice.objects.create_for(user=user, name="Bench", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[SESSION_LOGIN_AT] = time.time()
    session.save()
    return client


def measure(state_dir: Path) -> dict[str, float]:
    """As the app role: the pages through the view, and the bare count, medians."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.urls import reverse

    from clinic.tenancy import clinic_context

    setup_test_environment()  # the test client then hands back each page's context
    state = json.loads((state_dir / STATE).read_text())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolbypassrls, rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        role, bypass, superuser = cursor.fetchone()
    assert not bypass and not superuser, f"{role} must be bound by RLS"
    client = _client(state["admin"])
    url = reverse("audit_log", kwargs={"clinic_slug": "bench"})
    patient = state["patients"][0]
    member = state["staff"][3]
    today = datetime.now(UTC).date()
    shapes = {
        "first": {},
        "patient": {"patient": patient},
        "member_week": {
            "actor": member,
            "date_from": str(today - timedelta(days=97)),
            "date_to": str(today - timedelta(days=91)),
        },
    }

    older_than: dict[str, int] = {}

    def page(params, name: str = "") -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, params)
        assert response.status_code == 200, response.status_code
        assert response.context["page"].rows, params
        if name:
            older_than[name] = response.context["page"].older
        return len(queries)

    def count() -> int:
        with clinic_context(state["clinic"]), connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM audit_auditevent WHERE clinic_id = %s", [state["clinic"]]
            )
            return cursor.fetchone()[0]

    assert count() >= EVENTS
    query_counts = {name: page(params, name) for name, params in shapes.items()}  # and warm up
    older = {name: page({**params, "before": older_than[name]}) for name, params in shapes.items()}
    samples: dict[str, list[float]] = {name: [] for name in [*shapes, "count"]}
    for _ in range(REPEATS):
        for name, params in shapes.items():
            started = time.perf_counter()
            page(params)
            samples[name].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        count()
        samples["count"].append((time.perf_counter() - started) * 1000)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    plans = {}
    with clinic_context(state["clinic"]), connection.cursor() as cursor:
        select = "SELECT * FROM audit_auditevent WHERE clinic_id = %s"
        last = "ORDER BY seq DESC LIMIT 51"
        for name, sql, args in (
            ("first", f"{select} {last}", [state["clinic"]]),
            ("patient", f"{select} AND patient_id = %s {last}", [state["clinic"], patient]),
            (
                "member_week",
                f"{select} AND actor_id = %s AND seq BETWEEN 700000 AND 720000 {last}",
                [state["clinic"], member],
            ),
        ):
            cursor.execute("EXPLAIN " + sql, args)
            plans[name] = " / ".join(row[0].strip() for row in cursor.fetchall())
    print(json.dumps(plans, indent=1), file=sys.stderr)
    slowest = max(medians[name] for name in shapes)
    return {
        "audit_page_ms": slowest,
        "audit_page_first_ms": medians["first"],
        "audit_page_patient_ms": medians["patient"],
        "audit_page_member_week_ms": medians["member_week"],
        "audit_count_ms": medians["count"],
        "audit_page_vs_count": slowest / medians["count"],
        "audit_events": EVENTS,
        **{f"audit_page_queries[{name}]": n for name, n in query_counts.items()},
        **{f"audit_page_queries[{name}, older]": n for name, n in older.items()},
    }


def main() -> None:
    step, state_dir = sys.argv[1], Path(sys.argv[2])
    if step == "setup":
        _django(os.environ["DATABASE_URL"])
        setup(state_dir)
    elif step == "measure":
        _django(os.environ["DATABASE_URL"])
        print(json.dumps(measure(state_dir)))
    else:
        raise SystemExit(f"unknown step {step!r}")


if __name__ == "__main__":
    main()
