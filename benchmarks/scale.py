"""The product at a clinic chain's scale: `seed_scale`'s volumes on PostgreSQL, measured through
the views as the app role with RLS on (issue 13).

Run by benchmarks/run.py in a throw-away database, in two steps:

- ``setup`` (as the owner role): migrate, then ``seed_scale`` (100,000 patients, 1,000,000
  photos, 2,000,000 audit events over four clinics; ``BENCH_SCALE=0.1`` for a tenth). Blobs go
  to a local directory: the figures are about the database and the views.
- ``measure`` (as the app role, RLS forced), each figure the median of repeated requests
  through Django's test client with a signed-in practitioner (middleware, audit, template),
  with its SQL query count beside it:
  - ``search_ms``: the patient list searched by a partial name, a surname, a phone, a date of
    birth and an e-mail (the slowest also reported);
  - ``patient_page_ms``: the patient with 200 photos (and the query count for the one with 20);
  - ``photo_grid_ms``: the page's photo grid alone (the photos section's fragment);
  - ``thumbnail_ms``: one thumbnail decrypted and served as the patient page hands it out
    (with the grant of the page's audit event, so answered from memory after its first
    request); ``thumbnail_first_ms`` its first request in a process (the ordinary path), and
    ``thumbnail_ungranted_ms`` one without a grant, recorded as its own event;
    ``static_thumbnail_ms``: the same bytes served as a static file (WhiteNoise) in the same
    run;
  - ``audit_page_ms``: the audit log's first page of the largest clinic.
Prints JSON.
"""

from __future__ import annotations

import html
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STATE = "scale_bench_state.json"
REPEATS = 9
FULL = {"patients": 100_000, "photos": 1_000_000, "events": 2_000_000}


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def setup(state_dir: Path) -> None:
    _django()
    from django.core.management import call_command

    from demo.scale import seed_scale

    call_command("migrate", verbosity=0, interactive=False)
    scale = float(os.environ.get("BENCH_SCALE", "1"))
    sizes = {name: max(40, int(value * scale)) for name, value in FULL.items()}
    started = time.perf_counter()
    summary = seed_scale(**sizes, say=lambda line: print(line, file=sys.stderr))
    summary["seed_seconds"] = time.perf_counter() - started
    (state_dir / STATE).write_text(json.dumps(summary))


def _client(email: str):
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    from clinic.models import AuthenticatorDevice, User

    user = User.objects.get(email=email)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = AuthenticatorDevice.objects.get(user=user).persistent_id
    from accounts.middleware import SESSION_LOGIN_AT

    session[SESSION_LOGIN_AT] = time.time()
    session.save()
    return client


def _timed(get, repeats: int = REPEATS) -> tuple[float, int]:
    """Median ms of ``get()`` after a warm-up, and the queries one call makes."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    connection.queries_log.clear()  # a full log (9,000 entries) would count nothing new
    with CaptureQueriesContext(connection) as queries:
        response = get()
    assert response.status_code == 200, response.status_code
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = get()
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), len(queries)


def _photo_grid(clinic, patient) -> tuple[float, int]:
    """The patient page's photo section alone (its panel's context and template), as the page
    renders it for a practitioner: median ms and queries."""
    from django.db import connection, transaction
    from django.template.loader import render_to_string
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from audit.http import ClinicRequest
    from clinic.models import Membership
    from clinic.tenancy import clinic_context
    from photos.panels import PHOTOS_PANEL

    with clinic_context(clinic.id):
        membership = Membership.objects.select_related("user").get(
            clinic=clinic, user__email="practitioner0@scale-0.example"
        )
    # What the clinic middleware makes of a member's request.
    request = cast(ClinicRequest, RequestFactory().get("/", HTTP_USER_AGENT="bench"))
    request.user, request.clinic, request.membership = membership.user, clinic, membership

    def once() -> None:
        with transaction.atomic(), clinic_context(clinic.id):
            context = PHOTOS_PANEL.context(request, patient)
            render_to_string(PHOTOS_PANEL.template, {"patient": patient, **context}, request)

    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as queries:
        once()
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        once()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), len(queries)


def measure(state_dir: Path) -> dict[str, float]:
    _django()
    import tempfile

    from django.test.utils import setup_test_environment

    setup_test_environment()  # query capture as in tests

    from django.conf import settings
    from django.db import connection
    from django.urls import reverse

    from clinic.models import Clinic
    from clinic.tenancy import clinic_context
    from patients.models import Patient
    from photos import thumbnails
    from photos.models import Photo
    from vault.storage import blob_read

    state = json.loads((state_dir / STATE).read_text())
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user")
        assert not cursor.fetchone()[0], "the app role must be bound by RLS"
    clinic = Clinic.objects.get(slug="scale-0")
    slug = clinic.slug
    client = _client("practitioner0@scale-0.example")
    admin = _client("admin@scale-0.example")
    with clinic_context(clinic.id):
        sample = Patient.objects.exclude(first_name__in=["Twohundred", "Twenty"]).order_by("id")[
            1234 % max(1, state["patients"] // 4)
        ]
        big = Patient.objects.get(pk=state["patient_200_photos"])
        small = Patient.objects.get(pk=state["patient_20_photos"])
        photo = Photo.objects.filter(patient=big).select_related("thumb").first()
        assert photo is not None and photo.thumb is not None  # seeded, and processed
        thumb_bytes = blob_read(photo.thumb)
    queries = {
        "partial name": f"{sample.first_name[:2]} {sample.last_name[:3]}".lower(),
        "surname": sample.last_name,
        "phone": sample.phone[:9],
        "date of birth": sample.date_of_birth.isoformat(),
        "e-mail": sample.email.split("@")[0][:8],
    }
    figures: dict[str, float] = {}
    patient_list = reverse("patient_list", kwargs={"clinic_slug": slug})
    searches = {}
    for name, q in queries.items():
        ms, count = _timed(lambda q=q: client.get(patient_list, {"q": q}))
        searches[name] = ms
        figures[f"search_ms[{name}]"] = ms
        figures[f"search_queries[{name}]"] = count
    figures["search_ms"] = statistics.mean(searches.values())
    figures["search_slowest_ms"] = max(searches.values())

    def page(patient):
        return client.get(
            reverse("patient_detail", kwargs={"clinic_slug": slug, "patient_id": patient.pk})
        )

    figures["patient_page_ms"], figures["patient_page_queries"] = _timed(lambda: page(big))
    figures["patient_page_20_ms"], figures["patient_page_20_queries"] = _timed(lambda: page(small))
    figures["photo_grid_ms"], figures["photo_grid_queries"] = _photo_grid(clinic, big)
    # A thumbnail as the page hands it out: with the grant of the page's one audit event.
    # Its first request in a process takes the ordinary path (session, 2FA, membership, the
    # photo under RLS); later ones are answered from memory (photos/thumbnails.py).
    page_html = page(big).content.decode()
    granted = re.search(rf'src="([^"]*/{photo.pk}/thumb/\?grant=[^"]*)"', page_html)
    assert granted is not None, "the patient page shows the photo's granted thumbnail"
    thumb_url = html.unescape(granted.group(1))
    assert client.get(thumb_url).status_code == 200  # its first request: the ordinary path
    figures["thumbnail_ms"], figures["thumbnail_queries"] = _timed(lambda: client.get(thumb_url))

    def first_in_process():
        thumbnails.remembered.clear()
        return client.get(thumb_url)

    figures["thumbnail_first_ms"], figures["thumbnail_first_queries"] = _timed(first_in_process)
    # Without a grant (a thumbnail opened on its own) it is recorded as its own event.
    bare = reverse("photo_thumb", kwargs={"clinic_slug": slug, "photo_id": photo.pk})
    figures["thumbnail_ungranted_ms"], _ = _timed(lambda: client.get(bare))
    # The same bytes as a static file, served by WhiteNoise in this process.
    static_dir = Path(tempfile.mkdtemp(prefix="scale-static-"))
    (static_dir / "bench-thumb.jpg").write_bytes(thumb_bytes)
    settings.WHITENOISE_ROOT = str(static_dir)
    settings.WHITENOISE_AUTOREFRESH = False
    if "whitenoise.middleware.WhiteNoiseMiddleware" not in settings.MIDDLEWARE:
        # Where production settings put it (config/settings.py), for this client only.
        middleware = list(settings.MIDDLEWARE)
        at = middleware.index("django.middleware.security.SecurityMiddleware") + 1
        settings.MIDDLEWARE = [*middleware[:at], "whitenoise.middleware.WhiteNoiseMiddleware"] + (
            middleware[at:]
        )
    from django.test import Client

    plain = Client()
    figures["static_thumbnail_ms"], _ = _timed(lambda: plain.get("/bench-thumb.jpg"))
    figures["thumbnail_vs_static"] = figures["thumbnail_ms"] / figures["static_thumbnail_ms"]
    audit = reverse("audit_log", kwargs={"clinic_slug": slug})
    figures["audit_page_ms"], figures["audit_page_queries"] = _timed(lambda: admin.get(audit))
    figures["scale_patients"] = state["patients"]
    figures["scale_photos"] = state["photos"]
    figures["scale_events"] = state["events"]
    figures["seed_scale_s"] = state["seed_seconds"]
    return figures


if __name__ == "__main__":
    step, state_dir = sys.argv[1], Path(sys.argv[2])
    if step == "setup":
        setup(state_dir)
    else:
        print(json.dumps(measure(state_dir)))
