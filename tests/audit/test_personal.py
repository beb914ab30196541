"""Personal data in the trail must not outlive the patient: events name a patient by id, the
detail they need is sealed under the patient's own key, and destroying that key leaves the
chain verifying and the detail unreadable."""

from __future__ import annotations

import re
import subprocess
import uuid
from datetime import date

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit import personal
from audit.models import GENESIS_HASH, HASH_FORMAT_LEGACY, AuditEvent, PatientKey
from audit.sealing import PersonalUnreadable
from audit.services import PersonalInClear, _lock_chain, record
from audit.verify import verify_chain
from clinic.models import Role
from clinic.tenancy import clinic_context
from exports.services import export_create
from tests import factories as f
from tests.conftest import superuser_test_db_dsn

SAMIR = {
    "first_name": "Samir",
    "last_name": "Greenhalgh",
    "email": "samir.greenhalgh@example.net",
    "phone": "07700 900461",
    "date_of_birth": date(1979, 6, 2),
}
PATIENT_IP = "203.0.113.77"
PATIENT_BROWSER = "SamirPhone/7.1 (Kestrel)"


def _dump_of_the_trail() -> str:
    """The audit tables and the outbox as pg_dump writes them (the superuser sees every row)."""
    result = subprocess.run(
        ["pg_dump", "--data-only", "-t", "audit_*", "-t", "clinic_job", superuser_test_db_dsn()],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def _events(clinic, **filters) -> list[AuditEvent]:
    with clinic_context(clinic.id):
        return list(AuditEvent.objects.filter(clinic=clinic, **filters).order_by("seq"))


def _sign_through_the_link(clinic, staff, patient) -> None:
    """The patient's side, on their own phone: open the e-mailed link, a wrong date of birth
    first, then sign with their typed name."""
    import base64

    mail.outbox.clear()
    staff_client = f.verified_client(staff)
    staff_client.post(
        reverse("consent_request", kwargs={"clinic_slug": clinic.slug, "patient_id": patient.pk})
    )
    path = re.search(r"http://testserver(/p/\S+/sign/\S+/)", mail.outbox[-1].body).group(1)
    phone = Client(REMOTE_ADDR=PATIENT_IP, HTTP_USER_AGENT=PATIENT_BROWSER)
    confirm = phone.get(path)["Location"]
    phone.post(confirm, {"day": "1", "month": "1", "year": "1980"})
    dob = SAMIR["date_of_birth"]
    phone.post(confirm, {"day": dob.day, "month": dob.month, "year": dob.year})
    signature = "data:image/png;base64," + base64.b64encode(f.signature_png()).decode()
    response = phone.post(
        reverse("consent_sign", kwargs={"clinic": clinic.slug}),
        {"full_name": "Samir Greenhalgh", "signature": signature, "use_clinical_record": "on"},
    )
    assert response.status_code == 302, response.content


def test_a_patients_journey_leaves_no_personal_detail_in_clear_and_erasure_makes_it_unreadable(
    committed_db,
):
    clinic = f.make_clinic("Sealing Clinic")
    admin = f.make_member(clinic, Role.ADMIN, "Ada Sealer")
    patient = f.make_patient(clinic, admin, **SAMIR)
    _sign_through_the_link(clinic, admin, patient)
    with clinic_context(clinic.id):
        export_create(
            clinic=clinic,
            patient=patient,
            recipient="Samir Greenhalgh himself",
            reason="subject_access",
            by=admin,
            queue=False,
        )

    dump = _dump_of_the_trail()
    for clear in (
        "Samir",
        "Greenhalgh",
        SAMIR["email"],
        SAMIR["phone"],
        "07700900461",
        "1979-06-02",
        "02/06/1979",
        PATIENT_IP,
        PATIENT_BROWSER,
    ):
        assert clear.lower() not in dump.lower(), f"{clear!r} is in the trail in clear"
    assert str(patient.pk) in dump  # the patient is there, by id

    (requested,) = _events(clinic, action="consent.requested")
    (signed,) = _events(clinic, action="consent.signed")
    (created,) = _events(clinic, action="export.created")
    (wrong_dob,) = _events(clinic, action="consent.identity_failed")
    assert f.personal_of(requested) == {"sent_to": SAMIR["email"]}
    assert signed.actor_label == "patient" and signed.actor_id is None
    assert signed.ip is None and signed.user_agent == ""
    assert f.personal_of(signed) == {
        "signer_name": "Samir Greenhalgh",
        "ip": PATIENT_IP,
        "user_agent": PATIENT_BROWSER,
    }
    assert f.personal_of(wrong_dob)["ip"] == PATIENT_IP
    assert f.personal_of(created) == {"recipient": "Samir Greenhalgh himself"}
    # A staff member's own address and IP stay in clear: staff are not erased with patients.
    assert requested.actor_label == admin.email and requested.ip == "127.0.0.1"

    with clinic_context(clinic.id):  # the erasure's transaction
        personal.forget_patient(clinic_id=clinic.id, patient_id=patient.pk)
    for event in (requested, signed, created, wrong_dob):
        assert f.personal_of(event) == personal.ERASED
    report = verify_chain(clinic.id)
    assert report.ok and report.checked == len(_events(clinic))
    with clinic_context(clinic.id):
        key = PatientKey.objects.get(clinic=clinic, patient_id=patient.pk)
    assert key.wrapped_key is None and key.destroyed_at is not None
    (destroyed,) = _events(clinic, action="audit.patient_key_destroyed")
    assert destroyed.patient_id == patient.pk and destroyed.details == {"had_key": True}

    # Nothing later makes the patient a new key or keeps their detail.
    late = record(
        clinic=clinic, action="test.late", patient=patient, personal={"sent_to": "x@example.net"}
    )
    assert late.personal is None and f.personal_of(late) is None
    with clinic_context(clinic.id):
        assert PatientKey.objects.filter(clinic=clinic, patient_id=patient.pk).count() == 1


@pytest.mark.django_db
@pytest.mark.embedded
def test_forget_patient_belongs_to_the_callers_transaction(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin, email="kept@example.org")
    event = record(
        clinic=cast.clinic_a,
        action="test.sealed",
        patient=patient,
        personal={"sent_to": "kept@example.org"},
    )
    with pytest.raises(RuntimeError), clinic_context(cast.clinic_a.id):
        personal.forget_patient(clinic_id=cast.clinic_a.id, patient_id=patient.pk)
        raise RuntimeError("the erasure fails after the key was destroyed")
    assert f.personal_of(event) == {"sent_to": "kept@example.org"}
    assert not _events(cast.clinic_a, action="audit.patient_key_destroyed")

    personal.forget_patient(clinic_id=cast.clinic_a.id, patient_id=str(patient.pk))
    assert f.personal_of(event) == personal.ERASED
    assert verify_chain(cast.clinic_a.id, with_checkpoint=False).ok


@pytest.mark.django_db
@pytest.mark.embedded
def test_patients_have_keys_of_their_own_and_a_page_reads_them_in_one_query(
    cast, django_assert_num_queries
):
    one = f.make_patient(cast.clinic_a, cast.admin, first_name="One")
    two = f.make_patient(cast.clinic_a, cast.admin, first_name="Two")
    events = [
        record(clinic=cast.clinic_a, action="test.page", patient=p, personal={"sent_to": f"{n}@x"})
        for n, p in enumerate([one, two, one, two, one])
    ]
    events.append(record(clinic=cast.clinic_a, action="test.page", patient=one))
    personal.forget_patient(clinic_id=cast.clinic_a.id, patient_id=two.pk)
    with clinic_context(cast.clinic_a.id):
        page = list(AuditEvent.objects.filter(clinic=cast.clinic_a, action="test.page"))
        with django_assert_num_queries(1):
            found = personal.events_personal(page)
    assert found == {
        events[0].id: {"sent_to": "0@x"},
        events[1].id: personal.ERASED,
        events[2].id: {"sent_to": "2@x"},
        events[3].id: personal.ERASED,
        events[4].id: {"sent_to": "4@x"},
    }


@pytest.mark.django_db
@pytest.mark.embedded
def test_sealed_detail_moved_to_another_event_does_not_open(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    first, second = (
        record(clinic=cast.clinic_a, action="test.bound", patient=patient, personal={"n": n})
        for n in (1, 2)
    )
    second.personal = first.personal  # what an owner copying ciphertext between rows does
    with (
        clinic_context(cast.clinic_a.id),
        pytest.raises(PersonalUnreadable, match="authentication"),
    ):
        personal.events_personal([second])


@pytest.mark.django_db
@pytest.mark.embedded
@pytest.mark.parametrize(
    "kwargs",
    [
        {"details": {"sent_to": "joanne@example.com"}},
        {"details": {"name": "Joanne Smith"}},
        {"details": {"recipient": "Joanne herself"}},
        {"actor_label": "patient: Joanne Smith"},
    ],
)
def test_personal_detail_in_clear_is_refused(cast, kwargs):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    with pytest.raises(PersonalInClear):
        record(clinic=cast.clinic_a, action="test.clear", patient=patient, **kwargs)


@pytest.mark.django_db
@pytest.mark.embedded
def test_personal_detail_needs_a_patient_to_seal_it_under(cast):
    with pytest.raises(PersonalInClear, match="patient="):
        record(clinic=cast.clinic_a, action="test.orphan", personal={"sent_to": "a@b.example"})
    # A flag named like a field is no personal detail.
    record(
        clinic=cast.clinic_a,
        action="test.flag",
        patient=f.make_patient(cast.clinic_a, cast.admin),
        details={"full_name": True},
    )


# --- events written before sealing -------------------------------------------------------------


def _legacy_event(clinic, patient, **fields) -> AuditEvent:
    """An event as the trail wrote it before sealing (hash format 1, detail in clear)."""
    with clinic_context(clinic.id):
        _lock_chain(clinic.id)
        last = AuditEvent.objects.filter(clinic=clinic).order_by("-seq").first()
        event = AuditEvent(
            clinic_id=clinic.id,
            seq=last.seq + 1 if last else 1,
            created_at=timezone.now(),
            patient_id=patient.pk,
            hash_format=HASH_FORMAT_LEGACY,
            prev_hash=last.hash if last else GENESIS_HASH,
            **fields,
        )
        event.hash = event.compute_hash()
        event.save(force_insert=True)
    return event


@pytest.mark.django_db
@pytest.mark.embedded
def test_older_events_are_resealed_by_new_events_and_never_edited(cast):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    other = f.make_patient(cast.clinic_a, cast.admin, first_name="Other")
    old = [
        _legacy_event(
            cast.clinic_a,
            patient,
            action="consent.requested",
            actor_label=cast.admin.email,
            details={"template_version": 1, "sent_to": "joanne@example.com"},
        ),
        _legacy_event(
            cast.clinic_a,
            patient,
            action="consent.signed",
            actor_label="patient: Joanne Smith",
            ip="198.51.100.4",
            user_agent="OldPhone/1",
            details={"template_version": 1},
        ),
        _legacy_event(
            cast.clinic_a,
            other,
            action="export.created",
            actor_label=cast.admin.email,
            details={"recipient": "Other herself", "reason": "subject_access"},
        ),
    ]
    plain = _legacy_event(cast.clinic_a, patient, action="patient.viewed", actor_label="x@y.z")
    before = {e.id: (e.hash, e.details, e.actor_label) for e in _events(cast.clinic_a)}
    assert verify_chain(cast.clinic_a.id, with_checkpoint=False).ok
    assert personal.legacy_clear_events(clinic_id=cast.clinic_a.id, patient_id=patient.pk) == 2

    call_command("audit_reseal", "--clinic", cast.clinic_a.slug)
    reseals = _events(cast.clinic_a, action=personal.RESEALED)
    assert {r.patient_id for r in reseals} == {patient.pk, other.pk}
    assert all(r.personal for r in reseals)
    after = {e.id: (e.hash, e.details, e.actor_label) for e in _events(cast.clinic_a)}
    assert {k: after[k] for k in before} == before  # no old event changed
    assert verify_chain(cast.clinic_a.id, with_checkpoint=False).ok

    assert f.personal_of(old[0]) == {"sent_to": "joanne@example.com"}
    assert f.personal_of(old[1]) == {
        "signer_name": "Joanne Smith",
        "ip": "198.51.100.4",
        "user_agent": "OldPhone/1",
    }
    assert f.personal_of(plain) is None
    call_command("audit_reseal")  # again: nothing new to seal
    assert len(_events(cast.clinic_a, action=personal.RESEALED)) == 2

    personal.forget_patient(clinic_id=cast.clinic_a.id, patient_id=patient.pk)
    assert f.personal_of(old[0]) == personal.ERASED
    assert f.personal_of(old[1]) == personal.ERASED
    assert f.personal_of(old[2]) == {"recipient": "Other herself"}
    # The honest part: the old rows still hold it in clear, and the count says so.
    assert personal.legacy_clear_events(clinic_id=cast.clinic_a.id, patient_id=patient.pk) == 2
    assert verify_chain(cast.clinic_a.id, with_checkpoint=False).ok


# --- master key rotation ----------------------------------------------------------------------


@pytest.mark.django_db
def test_rotating_the_master_key_rewraps_patient_keys(cast, settings):
    import base64
    import os

    from vault.services import clinic_keys_rotate

    patient = f.make_patient(cast.clinic_a, cast.admin)
    event = record(clinic=cast.clinic_a, action="test.rotate", patient=patient, personal={"a": 1})
    new_master = base64.b64encode(os.urandom(32)).decode()
    settings.MASTER_KEYS_PREVIOUS = [settings.MASTER_KEY]
    settings.MASTER_KEY = new_master
    details = clinic_keys_rotate(clinic=cast.clinic_a)
    assert details["patient_keys_rewrapped"] == 1
    settings.MASTER_KEYS_PREVIOUS = []
    assert f.personal_of(event) == {"a": 1}


# --- request ids --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.embedded
@pytest.mark.parametrize(
    ("given", "kept"),
    [("req-2026-12-01.abc_DEF", True), ("", False), ("bad id\r\nX: y", False), ("x" * 65, False)],
)
def test_each_request_has_an_id_on_its_events_and_its_response(cast, given, kept):
    patient = f.make_patient(cast.clinic_a, cast.admin)
    client = f.verified_client(cast.practitioner)
    headers = {"HTTP_X_REQUEST_ID": given} if given else {}
    response = client.get(
        reverse(
            "patient_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": patient.pk}
        ),
        **headers,
    )
    assert response.status_code == 200
    request_id = response["X-Request-ID"]
    if kept:
        assert request_id == given
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    (viewed,) = _events(cast.clinic_a, action="patient.viewed")
    assert viewed.request_id == request_id
    # Part of what the hash covers: changing it breaks the event.
    viewed.request_id = uuid.uuid4().hex
    assert viewed.compute_hash() != viewed.hash
