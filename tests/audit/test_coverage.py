"""Every page that shows or changes patient data leaves an audit event (F19).

The walk takes every URL pattern the resolver knows (recursively, so a new app's URLs are in
it the day they are added), builds the request from real objects of clinic A (a patient with
a treatment, photos, a signed consent, a marketing item, a built export, a rendered comparison
and a share), calls it as a signed-in admin (or, for a patient's link page, as the patient
with the link's session), and asserts that a new event appeared that names the person, their
address and browser and, for a page of one patient, that patient. A pattern may instead be on
``EXEMPT`` with the reason it shows no patient data; that list is short and reviewed here.

Not URL patterns, and so not walked: static files (WhiteNoise) and ``/healthz`` (a middleware
that answers before any URL is resolved); neither shows patient data.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from audit.actions import ACTION_LABELS
from audit.models import AuditEvent
from audit.personal import event_personal
from clinic.tenancy import clinic_context
from tests import factories as f
from tests.comparisons.images import jpeg, moved, textured_face

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

UA = "Coverage walk (Chromium 130)"
IP = "203.0.113.9"

# URL name -> why it records nothing. Reads only: a page exempt here may still change things
# on POST, and those writes are exercised below (``EXEMPT_READ_WRITES``).
EXEMPT: dict[str, str] = {
    "home": "redirects to the sign-in page or the member's clinic; shows nothing",
    "login": "the sign-in form; its outcomes are auth.* events (tests/clinic/test_auth.py)",
    "two_factor_verify": "the second-factor form; its outcomes are auth.* events",
    "two_factor_setup": "enrolling one's own authenticator; auth.2fa_enrolled on success",
    "backup_codes": "the member's own backup codes, shown once; no patient data",
    "account": "the member's own password and authenticator; changes are auth.* events",
    "accept_invitation": "joining a clinic from an invitation; staff.joined on success",
    "clinic_logo": "the clinic's public logo",
    "export_keys": "the clinic's published export signing keys: public by design, no patient data",
    "export_key_pem": "one published export signing key (PEM): public by design",
    "consent_sign_start": "checks a link token and redirects; the page it leads to is recorded",
    "consent_withdraw_start": "checks a link token and redirects; the page it leads to records",
    "comparison_share_start": "checks a link token and redirects; the page it leads to records",
    "photo_status": "polled by an open patient page: processing state of photo ids, no detail",
    "comparison_status": "polled by an open comparison page (recorded): its render state",
    "export_status": "polled by an open export page (recorded): its build progress",
    "patient_create": "an empty form (its POST is walked: patient.created)",
    "capture_sequences": "the clinic's capture views per treatment, no patient data",
    "consent_templates": "the clinic's consent form text, no patient data",
    "staff_list": "the clinic's staff, no patient data (invitations are walked: staff.invited)",
    "staff_detail": "one member's role, no patient data (role changes are walked)",
    "clinic_settings": "the clinic's name and logo, no patient data (changes are walked)",
}


def _bundle_upload():
    """A ZIP that is no bundle of this clinic's: checked, found not intact, and recorded."""
    import io
    import zipfile

    from django.core.files.uploadedfile import SimpleUploadedFile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("notes.txt", "hello")
    return SimpleUploadedFile("bundle.zip", buffer.getvalue(), "application/zip")


@dataclass
class Visit:
    """How to exercise one pattern, where the defaults do not do."""

    method: str = "get"
    data: Callable[[Any], dict] | None = None
    kwargs: Callable[[Any], dict] | None = None  # instead of the ids built from the route
    session: Callable[[Any], dict] | None = None  # a patient's link session
    patient: Callable[[Any], Any] | None = None  # whose event it must be (default: from ids)
    check: Callable[[Any, list[AuditEvent]], None] | None = None
    extra: dict = field(default_factory=dict)


def _listed(attr: str) -> Callable[[Any, list[AuditEvent]], None]:
    def check(w, events):
        assert any(str(getattr(w, attr).pk) in e.details.get("ids", []) for e in events), (
            f"the list event names no {attr}"
        )

    return check


VISITS: dict[str, list[Visit]] = {
    "export_bundle_check": [
        Visit(method="post", data=lambda w: {"bundle": _bundle_upload()}),
    ],
    "export_signing_key_rotate": [Visit(method="post")],
    "dashboard": [Visit(check=_listed("patient"))],
    "patient_list": [Visit(check=_listed("patient"))],
    "marketing_library": [Visit(check=_listed("photo"))],
    "patient_create": [
        Visit(
            "post",
            data=lambda w: {
                "first_name": "Walk",
                "last_name": "Created",
                "date_of_birth": "1990-02-03",
            },
        )
    ],
    "patient_archive": [
        Visit(
            "post",
            kwargs=lambda w: {"patient_id": w.other_patient.pk},
            patient=lambda w: w.other_patient,
        )
    ],
    "photo_delete": [
        Visit(
            "post",
            kwargs=lambda w: {"photo_id": w.spare_photo().pk},
            data=lambda w: {"reason": "walk"},
        )
    ],
    "photo_correct": [
        Visit("post", data=lambda w: {"stage": "before", "area": "chin", "view": "front"})
    ],
    "photo_ghost": [Visit(data=lambda w: {"area": "forehead", "view": "front"})],
    "photo_upload": [Visit()],
    "consent_request": [Visit("post")],
    "marketing_add": [Visit("post", data=lambda w: {"use": "social_media"})],
    "marketing_remove": [Visit("post", kwargs=lambda w: {"item_id": w.spare_item().pk})],
    "export_create": [
        Visit("post", data=lambda w: {"recipient": "Walk insurer", "reason": "claim"})
    ],
    # A comparison of its own: a new render would make the shared one "rendering" again.
    "comparison_render": [
        Visit(
            "post",
            kwargs=lambda w: {"comparison_id": w.spare_comparison().pk},
            data=lambda w: {"transform": json.dumps(w.comparison.transform)},
        )
    ],
    "comparison_share": [Visit("post")],
    "legal_hold_place": [Visit("post", data=lambda w: {"hold-reason": "A complaint is open"})],
    "legal_hold_lift": [Visit("post", kwargs=lambda w: {"hold_id": w.spare_hold().pk})],
    "patient_erase_marketing": [Visit("post", data=lambda w: {"channel": "email"})],
    "erasure_detail": [
        Visit(kwargs=lambda w: {"erasure_id": w.spare_erasure().pk}, patient=lambda w: None)
    ],
    "comparison_share_revoke": [Visit("post", kwargs=lambda w: {"share_id": w.spare_share().pk})],
    "capture_sequences": [
        Visit("post", data=lambda w: {"treatment_type": "toxin", "views": ["front", "left_45"]})
    ],
    "consent_templates": [
        Visit(
            "post",
            data=lambda w: {
                "title": "Consent",
                "body": "We take photos of your treatment.",
                "offered": ["clinical_record", "website"],
                "required": ["clinical_record"],
            },
        )
    ],
    "staff_list": [
        Visit("post", data=lambda w: {"email": "new.nurse@example.test", "role": "practitioner"})
    ],
    "staff_detail": [Visit("post", data=lambda w: {"action": "role", "role": "reception"})],
    "clinic_settings": [Visit("post", data=lambda w: {"name": "Clinic A renamed"})],
    "logout": [Visit("post", patient=lambda w: None)],
    # A patient's pages: their link's session, no account.
    "consent_sign": [
        Visit(
            session=lambda w: {
                "consent_request": str(w.open_request.pk),
                "consent_identity_ok": True,
            }
        )
    ],
    "consent_signed": [Visit(session=lambda w: {"consent_signed_record": str(w.consent.pk)})],
    "consent_signed_copy": [Visit(session=lambda w: {"consent_signed_record": str(w.consent.pk)})],
    "consent_withdraw": [
        Visit(session=lambda w: {"consent_withdraw_link": str(w.withdrawal_link.pk)})
    ],
    "comparison_shared": [Visit(session=lambda w: w.share_session)],
    "comparison_shared_image": [Visit(session=lambda w: w.share_session)],
    "comparison_shared_pdf": [Visit(session=lambda w: w.share_session)],
}


def url_patterns() -> list[tuple[str, URLPattern]]:
    """Every pattern with its full route, however deeply included."""
    found: list[tuple[str, URLPattern]] = []

    def walk(patterns, prefix=""):
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            else:
                found.append((route, p))

    walk(get_resolver().url_patterns)
    return found


def route_kwargs(route: str) -> list[str]:
    return re.findall(r"<(?:\w+:)?(\w+)>", route)


class World:
    """Clinic A's objects, every one of them the patient's, made once for the walk."""

    def __init__(self, cast, capture) -> None:
        from comparisons import services as comparison_services
        from comparisons.models import ComparisonShare
        from consent import services as consent_services
        from exports import services as export_services

        self.cast, self.clinic, self.admin = cast, cast.clinic_a, cast.admin
        self.patient = f.make_patient(
            self.clinic, self.admin, email="walk@example.com", phone="07700 900123"
        )
        self.other_patient = f.make_patient(self.clinic, self.admin, first_name="Other")
        self.episode = f.make_episode(self.clinic, self.patient, cast.practitioner)
        face = textured_face(600, 800)
        after, _ = moved(face, scale=1 / 1.1, degrees=4, shift=(10, -5))
        common = {"area": "forehead", "view": "front"}
        self.photo = f.make_ready_photo(
            self.clinic, self.patient, self.episode, self.admin, data=jpeg(face), **common
        )
        self.after = f.make_ready_photo(
            self.clinic,
            self.patient,
            self.episode,
            self.admin,
            data=jpeg(after),
            stage="after",
            **common,
        )
        with capture(execute=True):  # the worker's signed PDF, in-process
            self.consent = f.make_signed_consent(
                self.clinic,
                self.patient,
                self.admin,
                uses=["clinical_record", "website", "social_media"],
            )
        with clinic_context(self.clinic.id):
            self.membership = self.clinic.memberships.get(user=cast.practitioner)
            self.marketing_item = consent_services.marketing_add(
                clinic=self.clinic, photo=self.photo, use="website", by=self.admin
            )
            self.export = export_services.export_create(
                clinic=self.clinic,
                patient=self.patient,
                recipient="Walk insurer",
                reason="claim",
                by=self.admin,
                queue=False,
            )
            export_services.export_build(clinic_id=self.clinic.id, export_id=self.export.pk)
            self.comparison = comparison_services.comparison_create(
                clinic=self.clinic,
                patient=self.patient,
                before=self.photo,
                after=self.after,
                by=self.admin,
            )
        with capture(execute=True), clinic_context(self.clinic.id):
            comparison_services.comparison_render_request(
                clinic=self.clinic,
                comparison=self.comparison,
                by=self.admin,
                transform=self.comparison.transform,
            )
        with clinic_context(self.clinic.id):
            self.comparison.refresh_from_db()
            assert self.comparison.is_ready, self.comparison.failure_reason
            self.share = self._share()
            self.open_request = consent_services.request_send(
                clinic=self.clinic, patient=self.patient, by=self.admin
            )
            consent_services.withdrawal_link_create(clinic=self.clinic, patient=self.patient)
            from consent.models import WithdrawalLink

            self.withdrawal_link = WithdrawalLink.objects.filter(
                clinic=self.clinic, patient=self.patient
            ).latest("created_at")
        self.share_session = {
            "comparison_share": str(self.share.pk),
            "comparison_share_identity_ok": True,
        }
        self._share_model = ComparisonShare

    def _share(self):
        from comparisons.models import ComparisonShare

        return ComparisonShare.objects.create(
            clinic=self.clinic,
            comparison=self.comparison,
            patient=self.patient,
            token_hash=uuid.uuid4().hex * 2,
            sent_to=self.patient.email,
            sent_by=self.admin,
            expires_at=timezone.now() + timedelta(days=1),
        )

    def spare_photo(self):
        return f.make_ready_photo(self.clinic, self.patient, self.episode, self.admin)

    def spare_item(self):
        from consent import services as consent_services

        with clinic_context(self.clinic.id):
            return consent_services.marketing_add(
                clinic=self.clinic, photo=self.after, use="website", by=self.admin
            )

    def spare_comparison(self):
        from comparisons import services as comparison_services

        with clinic_context(self.clinic.id):
            return comparison_services.comparison_create(
                clinic=self.clinic,
                patient=self.patient,
                before=self.photo,
                after=self.after,
                by=self.admin,
            )

    def spare_share(self):
        with clinic_context(self.clinic.id):
            return self._share()

    def spare_hold(self):
        from retention import services as retention_services
        from retention.models import LegalHold

        with clinic_context(self.clinic.id):
            held = LegalHold.objects.filter(patient=self.patient, lifted_at__isnull=True).first()
            return held or retention_services.hold_place(
                clinic=self.clinic, patient=self.patient, by=self.admin, reason="Walk complaint"
            )

    def spare_erasure(self):
        """Another patient of the clinic, erased early (with a reason) for its tombstone."""
        from retention import services as retention_services

        with clinic_context(self.clinic.id):
            other = f.make_patient(self.clinic, self.admin, first_name="Gone", last_name="Soon")
            return retention_services.patient_erase(
                clinic=self.clinic,
                patient=other,
                by=self.admin,
                confirmed=True,
                early_reason="The walk's tombstone",
            )

    def ids(self) -> dict[str, Any]:
        return {
            "clinic_slug": self.clinic.slug,
            "clinic": self.clinic.slug,
            "patient_id": self.patient.pk,
            "episode_id": self.episode.pk,
            "photo_id": self.photo.pk,
            "record_id": self.consent.pk,
            "item_id": self.marketing_item.pk,
            "export_id": self.export.pk,
            "comparison_id": self.comparison.pk,
            "share_id": self.share.pk,
            "membership_id": self.membership.pk,
        }


def events_after(clinic, seq: int) -> list[AuditEvent]:
    with clinic_context(clinic.id):
        return list(AuditEvent.objects.filter(clinic=clinic, seq__gt=seq).order_by("seq"))


def head(clinic) -> int:
    with clinic_context(clinic.id):
        last = AuditEvent.objects.filter(clinic=clinic).order_by("-seq").first()
    return last.seq if last else 0


PATIENT_IDS = {"patient_id", "episode_id", "photo_id", "record_id", "item_id", "export_id",
               "comparison_id", "share_id"}  # fmt: skip


def exercise(world: World, route: str, pattern: URLPattern, visit: Visit) -> str | None:
    """Call the pattern as the visit says; None if it recorded what it must, else why not."""
    names = route_kwargs(route)
    ids = world.ids()
    unknown = [n for n in names if n not in ids]
    if unknown and visit.kwargs is None:
        return f"the walk cannot build {unknown}: teach World.ids() or add a Visit"
    kwargs = {n: ids[n] for n in names if n in ids}
    if visit.kwargs:
        kwargs.update(visit.kwargs(world))
    url = reverse(pattern.name, kwargs=kwargs)
    public = route.startswith("p/")  # a patient's link pages
    if public:
        client = Client(HTTP_USER_AGENT=UA, REMOTE_ADDR=IP)
        if visit.session:
            session = client.session
            session.update(visit.session(world))
            session.save()
    else:
        client = f.verified_client(world.admin)
        client.defaults.update(HTTP_USER_AGENT=UA, REMOTE_ADDR=IP)
    data = visit.data(world) if visit.data else {}
    before = head(world.clinic)
    response = getattr(client, visit.method)(url, data)
    if response.status_code >= 400:
        return f"{visit.method.upper()} {url} answered {response.status_code}"
    events = [e for e in events_after(world.clinic, before) if not e.action.startswith("access.")]
    if not events:
        return f"{visit.method.upper()} {url} recorded no event"
    for event in events:
        if public:
            assert event.actor_id is None and event.actor_label == "patient", event
            # A patient's address and browser are personal: sealed under their key.
            with clinic_context(world.clinic.id):
                sealed = event_personal(event) or {}
            assert event.ip is None and event.user_agent == "", (url, event.action)
            assert sealed.get("ip") == IP and sealed.get("user_agent") == UA, (url, event.action)
        else:
            assert event.actor_id == world.admin.pk, (url, event.action)
            assert event.ip == IP and event.user_agent == UA, (url, event.action)
        assert event.action in ACTION_LABELS, f"{event.action}: give it a label in audit/actions.py"
    if visit.patient is not None:
        expected = visit.patient(world)
    elif public or PATIENT_IDS & set(names):
        expected = world.patient
    else:
        expected = None
    if expected is not None and not any(e.patient_id == expected.pk for e in events):
        return f"{url}: no event names the patient ({[e.action for e in events]})"
    if visit.check:
        visit.check(world, events)
    return None


@pytest.fixture
def world(cast, django_capture_on_commit_callbacks, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    return World(cast, django_capture_on_commit_callbacks)


def test_the_exempt_list_names_only_real_patterns():
    names = {p.name for _, p in url_patterns()}
    assert set(EXEMPT) <= names, set(EXEMPT) - names
    assert all(reason for reason in EXEMPT.values())


def test_every_url_pattern_records_an_event_or_is_exempt(world):
    failures = []
    walked = 0
    plan = []
    for route, pattern in url_patterns():
        assert pattern.name, f"{route} has no name"
        visits = VISITS.get(pattern.name)
        if visits is None:
            if pattern.name in EXEMPT:
                continue
            visits = [Visit()]
        plan += [(route, pattern, visit) for visit in visits]
    # Reads first: a write (a new render, a revoked share) would change what a later page shows.
    plan.sort(key=lambda step: step[2].method != "get")
    for route, pattern, visit in plan:
        problem = exercise(world, route, pattern, visit)
        walked += 1
        if problem:
            failures.append(f"{pattern.name}: {problem}")
    assert not failures, "Pages that show or change patient data without an event:\n" + "\n".join(
        failures
    )
    assert walked >= 40
