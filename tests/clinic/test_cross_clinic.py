"""A member of clinic B gets 404 for every staff URL carrying clinic A's objects."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from audit.models import AuditEvent
from clinic.tenancy import clinic_context
from tests import factories as f
from tests.factories import make_ready_photo

# Also run on SQLite, the embedded default (see tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def staff_url_names() -> set[str]:
    """Every named URL pattern under /c/<clinic_slug>/."""
    names = set()

    def walk(patterns, prefix=""):
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif isinstance(p, URLPattern) and "<slug:clinic_slug>" in route:
                names.add(p.name)

    walk(get_resolver().url_patterns)
    return names


# URL name -> the objects of clinic A it is requested with (besides the clinic slug).
MATRIX = {
    "dashboard": lambda o: {},
    "patient_list": lambda o: {},
    "patient_create": lambda o: {},
    "patient_detail": lambda o: {"patient_id": o["patient"].pk},
    "patient_edit": lambda o: {"patient_id": o["patient"].pk},
    "patient_archive": lambda o: {"patient_id": o["patient"].pk},
    "episode_create": lambda o: {"patient_id": o["patient"].pk},
    "episode_edit": lambda o: {"episode_id": o["episode"].pk},
    "photo_upload": lambda o: {"patient_id": o["patient"].pk},
    "photo_status": lambda o: {"patient_id": o["patient"].pk},
    "photo_ghost": lambda o: {"patient_id": o["patient"].pk},
    "photo_capture": lambda o: {"patient_id": o["patient"].pk},
    "capture_sequences": lambda o: {},
    "photo_detail": lambda o: {"photo_id": o["photo"].pk},
    "photo_thumb": lambda o: {"photo_id": o["photo"].pk},
    "photo_display": lambda o: {"photo_id": o["photo"].pk},
    "photo_original": lambda o: {"photo_id": o["photo"].pk},
    "photo_delete": lambda o: {"photo_id": o["photo"].pk},
    "photo_correct": lambda o: {"photo_id": o["photo"].pk},
    "consent_request": lambda o: {"patient_id": o["patient"].pk},
    "consent_record_withdrawal": lambda o: {"patient_id": o["patient"].pk},
    "consent_record": lambda o: {"record_id": o["consent"].pk},
    "consent_signature": lambda o: {"record_id": o["consent"].pk},
    "consent_pdf": lambda o: {"record_id": o["consent"].pk},
    "consent_templates": lambda o: {},
    "marketing_library": lambda o: {},
    "marketing_add": lambda o: {"photo_id": o["photo"].pk},
    "marketing_remove": lambda o: {"item_id": o["marketing_item"].pk},
    "export_create": lambda o: {"patient_id": o["patient"].pk},
    "export_detail": lambda o: {"export_id": o["export"].pk},
    "export_status": lambda o: {"export_id": o["export"].pk},
    "export_download": lambda o: {"export_id": o["export"].pk},
    "export_cover_letter": lambda o: {"export_id": o["export"].pk},
    "export_bundle_check": lambda o: {},
    "export_signing_key_rotate": lambda o: {},
    "comparison_new": lambda o: {"patient_id": o["patient"].pk},
    "present": lambda o: {"patient_id": o["patient"].pk},
    "comparison_detail": lambda o: {"comparison_id": o["comparison"].pk},
    "comparison_render": lambda o: {"comparison_id": o["comparison"].pk},
    "comparison_status": lambda o: {"comparison_id": o["comparison"].pk},
    "comparison_image": lambda o: {"comparison_id": o["comparison"].pk},
    "comparison_pdf": lambda o: {"comparison_id": o["comparison"].pk},
    "comparison_share": lambda o: {"comparison_id": o["comparison"].pk},
    "comparison_share_revoke": lambda o: {"share_id": o["share"].pk},
    "retention": lambda o: {},
    "legal_hold_place": lambda o: {"patient_id": o["patient"].pk},
    "legal_hold_lift": lambda o: {"hold_id": o["hold"].pk},
    "patient_erase": lambda o: {"patient_id": o["patient"].pk},
    "patient_erase_marketing": lambda o: {"patient_id": o["patient"].pk},
    "erasure_detail": lambda o: {"erasure_id": o["erasure"].pk},
    "audit_log": lambda o: {},
    "audit_export": lambda o: {},
    "clinic_settings": lambda o: {},
    "staff_list": lambda o: {},
    "staff_detail": lambda o: {"membership_id": o["membership"].pk},
}


def test_every_staff_url_is_in_the_matrix():
    assert staff_url_names() == set(MATRIX), (
        "A staff URL was added or removed: list it in MATRIX with clinic A's object ids"
    )


@pytest.fixture
def clinic_a_objects(cast):
    patient = f.make_patient(
        cast.clinic_a, cast.admin, first_name="Secret", email="secret@example.com"
    )
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    with clinic_context(cast.clinic_a.id):
        membership = cast.clinic_a.memberships.get(user=cast.practitioner)
    photo = make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner)
    consent = f.make_signed_consent(
        cast.clinic_a, patient, cast.practitioner, uses=["clinical_record", "website"]
    )
    from consent.services import marketing_add

    with clinic_context(cast.clinic_a.id):
        item = marketing_add(clinic=cast.clinic_a, photo=photo, use="website", by=cast.practitioner)
    from exports.services import export_create

    with clinic_context(cast.clinic_a.id):
        export = export_create(
            clinic=cast.clinic_a,
            patient=patient,
            recipient="Secret insurer",
            reason="claim",
            by=cast.admin,
            queue=False,
        )
    comparison, share = _comparison_and_share(cast, patient, episode, photo)
    hold, erasure = _hold_and_erasure(cast, patient)
    return {
        "patient": patient,
        "episode": episode,
        "membership": membership,
        "photo": photo,
        "consent": consent,
        "marketing_item": item,
        "export": export,
        "comparison": comparison,
        "share": share,
        "hold": hold,
        "erasure": erasure,
    }


def _hold_and_erasure(cast, patient):
    """A legal hold on clinic A's patient, and the tombstone of another patient erased."""
    from retention import services

    erased = f.make_patient(cast.clinic_a, cast.admin, first_name="Gone")
    with clinic_context(cast.clinic_a.id):
        hold = services.hold_place(
            clinic=cast.clinic_a, patient=patient, by=cast.admin, reason="Claim open"
        )
        erasure = services.patient_erase(
            clinic=cast.clinic_a,
            patient=erased,
            by=cast.admin,
            confirmed=True,
            early_reason="Patient asked for erasure",
        )
    return hold, erasure


def _comparison_and_share(cast, patient, episode, photo):
    """A comparison of clinic A's patient and a link that shares it."""
    from datetime import timedelta

    from django.utils import timezone

    from comparisons.models import ComparisonShare
    from comparisons.services import comparison_create

    after = make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner, stage="after")
    with clinic_context(cast.clinic_a.id):
        comparison = comparison_create(
            clinic=cast.clinic_a, patient=patient, before=photo, after=after, by=cast.admin
        )
        share = ComparisonShare.objects.create(
            clinic=cast.clinic_a,
            comparison=comparison,
            patient=patient,
            token_hash="0" * 64,
            sent_to=patient.email,
            sent_by=cast.admin,
            expires_at=timezone.now() + timedelta(days=1),
        )
    return comparison, share


def denials(clinic) -> list[AuditEvent]:
    with clinic_context(clinic.id):
        return list(AuditEvent.objects.filter(clinic=clinic, action="access.denied"))


@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("method", ["get", "post"])
def test_member_of_clinic_b_gets_404_for_clinic_a_objects(cast, clinic_a_objects, name, method):
    client = f.verified_client(cast.stranger)
    ids = MATRIX[name](clinic_a_objects)
    # Clinic A's slug: B's admin is not a member there. The attempt is on A's record.
    url = reverse(name, kwargs={"clinic_slug": cast.clinic_a.slug, **ids})
    response = getattr(client, method)(url)
    assert response.status_code == 404
    assert b"Secret" not in response.content
    (denial,) = denials(cast.clinic_a)
    assert denial.actor_id == cast.stranger.pk and denial.details["path"] == url
    if ids:
        # Clinic B's own slug with clinic A's ids: the selectors find nothing, and the
        # attempt is on B's record, with the ids asked for.
        url = reverse(name, kwargs={"clinic_slug": cast.clinic_b.slug, **ids})
        response = getattr(client, method)(url)
        assert response.status_code == 404
        assert b"Secret" not in response.content
        (denial,) = denials(cast.clinic_b)
        assert denial.actor_id == cast.stranger.pk and denial.details["path"] == url
        assert denial.details["ids"] == {k: str(v) for k, v in ids.items()}
        assert len(denials(cast.clinic_a)) == 1


def test_a_member_opening_their_own_clinics_objects_leaves_no_denial(cast, clinic_a_objects):
    client = f.verified_client(cast.admin)
    for name in ("patient_detail", "photo_detail", "consent_record", "staff_detail"):
        ids = MATRIX[name](clinic_a_objects)
        response = client.get(reverse(name, kwargs={"clinic_slug": cast.clinic_a.slug, **ids}))
        assert response.status_code == 200, name
    assert denials(cast.clinic_a) == []


def test_cross_clinic_attempt_is_recorded_in_the_target_clinics_trail(cast, clinic_a_objects):
    client = f.verified_client(cast.stranger)
    client.get(
        reverse(
            "patient_detail",
            kwargs={
                "clinic_slug": cast.clinic_a.slug,
                "patient_id": clinic_a_objects["patient"].pk,
            },
        )
    )
    with clinic_context(cast.clinic_a.id):
        denial = AuditEvent.objects.filter(clinic=cast.clinic_a, action="access.denied").get()
    assert denial.actor_id == cast.stranger.pk
    assert str(clinic_a_objects["patient"].pk) in denial.details["path"]


def test_unknown_clinic_is_404(cast):
    client = f.verified_client(cast.stranger)
    assert client.get("/c/no-such-clinic/").status_code == 404


def test_signed_out_visitor_is_sent_to_sign_in(cast):
    from django.test import Client

    response = Client().get(reverse("dashboard", kwargs={"clinic_slug": cast.clinic_a.slug}))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_password_only_session_is_sent_to_two_factor(cast):
    import time

    from django.test import Client

    from accounts.middleware import SESSION_LOGIN_AT

    client = Client()
    client.force_login(cast.admin)
    session = client.session
    session[SESSION_LOGIN_AT] = time.time()
    session.save()
    response = client.get(reverse("dashboard", kwargs={"clinic_slug": cast.clinic_a.slug}))
    assert response.status_code == 302
    assert response["Location"] == reverse("two_factor_verify")
