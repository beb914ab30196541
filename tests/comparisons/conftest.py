"""A patient with a before and an after of the same area and view (a textured face, the after
moved, scaled and turned), signed clinical-record consent, and an e-mail address."""

import json
from datetime import date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.tenancy import clinic_context
from comparisons.models import Comparison
from tests import factories as f
from tests.comparisons.images import jpeg, moved, textured_face

DOB = date(1985, 3, 14)


@pytest.fixture(scope="session")
def face_jpegs():
    face = textured_face(600, 800)
    after, _ = moved(face, scale=1 / 1.15, degrees=6, shift=(20, -10))
    return jpeg(face), jpeg(after)


class Pair:
    pass


@pytest.fixture
def pair(cast, face_jpegs):
    p = Pair()
    p.patient = f.make_patient(
        cast.clinic_a, cast.admin, email="joanne@example.com", date_of_birth=DOB
    )
    p.episode = f.make_episode(cast.clinic_a, p.patient, cast.practitioner, product="Azzalure")
    start = timezone.make_aware(datetime(2026, 1, 10, 10, 0))
    p.before = f.make_ready_photo(
        cast.clinic_a,
        p.patient,
        p.episode,
        cast.practitioner,
        data=face_jpegs[0],
        stage="before",
        area="forehead",
        view="front",
        taken_at=start,
    )
    p.after = f.make_ready_photo(
        cast.clinic_a,
        p.patient,
        p.episode,
        cast.practitioner,
        data=face_jpegs[1],
        stage="after",
        area="forehead",
        view="front",
        taken_at=start + timedelta(days=14),
    )
    return p


@pytest.fixture
def rendered(cast, pair, django_capture_on_commit_callbacks):
    """The pair made into a comparison, rendered by the (in-process) worker."""
    client = f.verified_client(cast.practitioner)
    client.post(
        reverse(
            "comparison_new",
            kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": pair.patient.pk},
        ),
        {"before": str(pair.before.pk), "after": str(pair.after.pk)},
    )
    with clinic_context(cast.clinic_a.id):
        comparison = Comparison.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse(
                "comparison_render",
                kwargs={"clinic_slug": cast.clinic_a.slug, "comparison_id": comparison.pk},
            ),
            {"transform": json.dumps(comparison.transform)},
        )
    comparison.client = client
    return comparison


@pytest.fixture
def consented(cast, pair):
    return f.make_signed_consent(cast.clinic_a, pair.patient, cast.practitioner)
