"""The clinic's audit log for admins: filters, keyset pages, a fixed number of queries per
page, the CSV export with formulas neutralised, and the patient page's access panel."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from audit.views import neutralise
from clinic.tenancy import clinic_context
from tests import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def log_url(cast, **params) -> str:
    from urllib.parse import urlencode

    url = reverse("audit_log", kwargs={"clinic_slug": cast.clinic_a.slug})
    return f"{url}?{urlencode(params)}" if params else url


def export_url(cast, **params) -> str:
    from urllib.parse import urlencode

    url = reverse("audit_export", kwargs={"clinic_slug": cast.clinic_a.slug})
    return f"{url}?{urlencode(params)}" if params else url


def events(clinic, **filters) -> list[AuditEvent]:
    with clinic_context(clinic.id):
        return list(AuditEvent.objects.filter(clinic=clinic, **filters).order_by("seq"))


def add_events(clinic, count: int, *, actor, patient, action="patient.viewed", details=None):
    with clinic_context(clinic.id):
        for _ in range(count):
            record(
                clinic=clinic,
                action=action,
                actor=actor,
                patient=patient,
                target=patient,
                details=details,
            )


@pytest.fixture
def joanne(cast):
    return f.make_patient(cast.clinic_a, cast.admin, first_name="Joanne", last_name="Smith")


def test_admin_reads_the_log_newest_first_with_names_and_the_reading_is_recorded(cast, joanne):
    add_events(cast.clinic_a, 1, actor=cast.practitioner, patient=joanne)
    client = f.verified_client(cast.admin)
    response = client.get(log_url(cast))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Joanne Smith" in page and "Paula Practitioner" in page
    assert "Opened the patient&#x27;s record" in page or "Opened the patient's record" in page
    (viewed,) = events(cast.clinic_a, action="audit.log_viewed")
    assert viewed.actor_id == cast.admin.pk and viewed.details == {}


def test_the_log_shows_the_patients_current_name(cast, joanne):
    from patients import services as patient_services

    add_events(cast.clinic_a, 1, actor=cast.practitioner, patient=joanne)
    with clinic_context(cast.clinic_a.id):
        patient_services.patient_update(
            clinic=cast.clinic_a,
            patient=joanne,
            by=cast.admin,
            first_name="Joanne",
            last_name="Brown",
            date_of_birth=joanne.date_of_birth,
            email="",
            phone="",
            notes="",
        )
    page = f.verified_client(cast.admin).get(log_url(cast)).content.decode()
    assert "Joanne Brown" in page and "Joanne Smith" not in page


@pytest.mark.parametrize("who", ["practitioner", "reception"])
def test_other_roles_get_403_and_the_attempt_is_recorded(cast, who):
    user = getattr(cast, who)
    client = f.verified_client(user)
    for url in (log_url(cast), export_url(cast)):
        response = client.get(url)
        assert response.status_code == 403
    refused = events(cast.clinic_a, action="access.forbidden")
    assert len(refused) == 2 and all(e.actor_id == user.pk for e in refused)
    assert refused[0].details["permission"] == "audit.view"
    assert events(cast.clinic_a, action="audit.log_viewed") == []


def test_filters_by_patient_staff_member_action_and_dates(cast, joanne):
    other = f.make_patient(cast.clinic_a, cast.admin, first_name="Mary", last_name="Jones")
    add_events(cast.clinic_a, 2, actor=cast.practitioner, patient=joanne)
    add_events(cast.clinic_a, 3, actor=cast.reception, patient=other)
    add_events(cast.clinic_a, 1, actor=cast.reception, patient=joanne, action="episode.viewed")
    client = f.verified_client(cast.admin)

    def shown(**params) -> list[str]:
        response = client.get(log_url(cast, **params))
        assert response.status_code == 200
        return [row.event.action + ":" + row.patient_name for row in response.context["page"].rows]

    assert shown(patient=joanne.pk) == ["episode.viewed:Joanne Smith"] + [
        "patient.viewed:Joanne Smith"
    ] * 2 + ["patient.created:Joanne Smith"]
    assert (
        shown(actor=cast.reception.pk)
        == ["episode.viewed:Joanne Smith"] + ["patient.viewed:Mary Jones"] * 3
    )
    assert (
        shown(actor=cast.reception.pk, action="patient.viewed") == ["patient.viewed:Mary Jones"] * 3
    )
    today = timezone.localdate()
    assert (
        len(shown(actor=cast.practitioner.pk, date_from=today - timedelta(days=6), date_to=today))
        == 2
    )
    assert shown(date_from=today + timedelta(days=1)) == []
    assert shown(date_to=today - timedelta(days=1)) == []
    # The filter itself is on record, with ids only.
    last = events(cast.clinic_a, action="audit.log_viewed")[-1]
    assert last.details == {"to": str(today - timedelta(days=1))}


def test_a_typed_patient_name_filters_or_asks_which(cast, joanne):
    f.make_patient(cast.clinic_a, cast.admin, first_name="Joan", last_name="Smithers")
    add_events(cast.clinic_a, 1, actor=cast.practitioner, patient=joanne)
    client = f.verified_client(cast.admin)
    response = client.get(log_url(cast, patient_q="joanne smith"))
    assert response.context["filters"].patient_id == joanne.pk
    response = client.get(log_url(cast, patient_q="smith"))
    assert response.context["filters"] is None
    names = [m["name"] for m in response.context["matches"]]
    assert names == ["Joanne Smith, born 14 Mar 1985", "Joan Smithers, born 14 Mar 1985"]
    response = client.get(log_url(cast, patient_q="nobody at all"))
    assert "No patient of this clinic matches" in response.content.decode()


def test_keyset_pages_walk_every_event_once_both_ways(cast, joanne):
    add_events(cast.clinic_a, 120, actor=cast.practitioner, patient=joanne)
    client = f.verified_client(cast.admin)
    # By the practitioner: the admin's own readings of the log are not in it.
    seen, url, pages = [], log_url(cast, actor=cast.practitioner.pk), []
    while url:
        response = client.get(url)
        rows = response.context["page"].rows
        pages.append([r.event.seq for r in rows])
        seen += pages[-1]
        older = response.context["older_url"]
        url = log_url(cast) + older if older else ""
    assert [len(p) for p in pages] == [50, 50, 20]
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 120
    assert response.context["newer_url"]
    # And back: "newer" from the last page gives the middle page again.
    response = client.get(log_url(cast) + response.context["newer_url"])
    assert [r.event.seq for r in response.context["page"].rows] == pages[1]
    response = client.get(log_url(cast) + response.context["newer_url"])
    assert [r.event.seq for r in response.context["page"].rows] == pages[0]
    assert response.context["newer_url"] == ""


@pytest.mark.parametrize("bad", [
    {"date_from": "2026-13-45"},
    {"date_from": "2026-05-02", "date_to": "2026-05-01"},
    {"actor": "not-a-member"},
    {"action": "drop table"},
    {"patient": "123"},
])  # fmt: skip
def test_bad_filters_say_what_is_wrong_and_show_nothing(cast, bad):
    client = f.verified_client(cast.admin)
    response = client.get(log_url(cast, **bad))
    assert response.status_code == 200
    assert response.context["filters"] is None and response.context["rows"] == []
    assert 'role="alert"' in response.content.decode()
    if "patient" in bad:
        assert "type the patient&#x27;s name" in response.content.decode()
    response = client.get(export_url(cast, **bad))
    assert response.status_code == 400
    assert events(cast.clinic_a, action="audit.exported") == []


def test_keyset_positions_that_are_not_numbers_are_ignored(cast, joanne):
    client = f.verified_client(cast.admin)
    for value in ("abc", "-5", "99999999999999999999999"):
        response = client.get(log_url(cast, before=value))
        assert response.status_code == 200 and response.context["page"].rows


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("shape", ["first page", "one patient", "one member and a week"])
def test_a_page_costs_the_same_queries_for_10_and_200_events(cast, joanne, shape):
    other = f.make_patient(cast.clinic_a, cast.admin, first_name="Mary", last_name="Jones")
    today = timezone.localdate()
    params = {
        "first page": {},
        "one patient": {"patient": joanne.pk},
        "one member and a week": {
            "actor": cast.practitioner.pk,
            "date_from": today - timedelta(days=6),
            "date_to": today,
        },
    }[shape]
    client = f.verified_client(cast.admin)
    counts = []
    for total in (10, 200):
        add_events(cast.clinic_a, total // 2, actor=cast.practitioner, patient=joanne)
        add_events(cast.clinic_a, total // 2, actor=cast.reception, patient=other)
        counts.append(_queries(client, log_url(cast, **params)))
    assert counts[0] == counts[1], counts
    # An older page costs the same as the first.
    response = client.get(log_url(cast, **params))
    assert response.context["older_url"]
    assert _queries(client, log_url(cast) + response.context["older_url"]) == counts[0]


def test_csv_export_streams_the_filtered_log_with_formulas_neutralised(cast, joanne):
    nasty = f.make_patient(cast.clinic_a, cast.admin, first_name="=HYPERLINK(1)", last_name="x")
    add_events(cast.clinic_a, 1, actor=cast.practitioner, patient=nasty, details={"a": 1})
    add_events(cast.clinic_a, 2, actor=cast.practitioner, patient=joanne)
    client = f.verified_client(cast.admin)
    response = client.get(export_url(cast, patient=nasty.pk))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["action"] for r in rows] == ["patient.viewed", "patient.created"]
    assert {r["patient"] for r in rows} == {"'=HYPERLINK(1) x"}
    assert rows[0]["staff member"] == "Paula Practitioner" and rows[0]["details"] == '{"a":1}'
    (exported,) = events(cast.clinic_a, action="audit.exported")
    assert exported.patient_id == nasty.pk and exported.details == {"patient": str(nasty.pk)}


def test_csv_export_of_more_than_one_chunk_has_every_event_once(cast, joanne, monkeypatch):
    from audit import queries

    monkeypatch.setattr(queries, "EXPORT_CHUNK", 7)
    add_events(cast.clinic_a, 30, actor=cast.practitioner, patient=joanne)
    response = f.verified_client(cast.admin).get(export_url(cast, actor=cast.practitioner.pk))
    rows = list(
        csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig")))
    )
    seqs = [int(r["seq"]) for r in rows]
    assert len(seqs) == 30 and seqs == sorted(set(seqs), reverse=True)


@pytest.mark.parametrize("value, shown", [
    ("=1+1", "'=1+1"), ("+44 7700", "'+44 7700"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tcmd", "'\tcmd"), ("\rcmd", "'\rcmd"), ("Joanne", "Joanne"), ("", ""), (None, ""),
    (12, "12"), ("a=b", "a=b"),
])  # fmt: skip
def test_neutralise_puts_an_apostrophe_before_a_formula(value, shown):
    assert neutralise(value) == shown


def test_the_patient_page_shows_who_accessed_the_record_to_admins_only(cast, joanne):
    f.verified_client(cast.practitioner).get(
        reverse(
            "patient_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": joanne.pk}
        )
    )
    url = reverse(
        "patient_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": joanne.pk}
    )
    page = f.verified_client(cast.admin).get(url).content.decode()
    assert "Who has accessed this record" in page
    panel = page[page.index('id="access"') :]
    # Newest first: the admin's own view, then the practitioner's, then the creation.
    assert panel.index("Alice Admin") < panel.index("Paula Practitioner")
    assert f"?patient={joanne.pk}" in panel
    practitioner_page = f.verified_client(cast.practitioner).get(url).content.decode()
    assert "Who has accessed this record" not in practitioner_page


def test_another_clinics_events_never_show(cast, joanne):
    stranger_patient = f.make_patient(cast.clinic_b, cast.stranger, first_name="Secret")
    add_events(cast.clinic_b, 3, actor=cast.stranger, patient=stranger_patient)
    client = f.verified_client(cast.admin)
    page = client.get(log_url(cast)).content.decode()
    assert "Secret" not in page and "Bob Otherclinic" not in page
    response = client.get(log_url(cast, patient=stranger_patient.pk))
    assert response.context["page"].rows == []
    text = b"".join(client.get(export_url(cast)).streaming_content).decode()
    assert "Secret" not in text and "Bob Otherclinic" not in text
    assert str(cast.stranger.pk) not in text
