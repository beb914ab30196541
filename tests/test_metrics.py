"""/metrics: the operator's Prometheus sees how the clinic's stack is doing (requests, queue,
outbox, failed runs, the audit chains), and nobody else learns that the page exists."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from audit.tasks import (
    email_admins_chain_broken,
    verify_clinic_chain,
    verify_system_chain,
    write_clinic_checkpoint,
    write_system_checkpoint,
)
from clinic.models import Job
from clinic.tenancy import clinic_context, service_write
from config.celery import app as celery_app
from config.health import redis_client
from tests.conftest import ROOT

OUTSIDE = "203.0.113.9"  # TEST-NET-3: never the operator's
COMPOSE_NETWORK = "172.18.0.5"  # where Prometheus sits beside web in docker-compose


def scrape(**extra) -> dict[str, list]:
    """{sample name: [(labels, value), ...]} of one scrape from the operator's network."""
    response = Client(REMOTE_ADDR=COMPOSE_NETWORK).get("/metrics", **extra)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=")
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict, name: str, **labels) -> float:
    found = [v for have, v in samples.get(name, []) if labels.items() <= have.items()]
    assert found, f"{name} {labels} not in the scrape: {sorted(samples)}"
    return found[0]


def make_job(clinic, *, task: str = "photos.tasks.process_photo", age: timedelta | None = None):
    with clinic_context(clinic.id):
        job = Job.objects.create(clinic=clinic, task=task, kwargs={"photo_id": str(uuid.uuid4())})
        if age is not None:
            with service_write("test: an old job"):
                Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - age)
    return job


# --- who may see it ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_caller_outside_the_operators_network_gets_the_apps_404():
    response = Client(REMOTE_ADDR=OUTSIDE).get("/metrics")
    assert response.status_code == 404
    assert b"clinicphotos_" not in response.content
    # The same answer as a page that does not exist: nothing says /metrics is there.
    nothing = Client(REMOTE_ADDR=OUTSIDE).get("/no-such-page")
    assert response.content == nothing.content


@pytest.mark.django_db
def test_a_request_through_the_reverse_proxy_is_refused_whatever_its_address():
    # Behind the proxy every request comes from the proxy's address on the private network.
    proxied = Client(REMOTE_ADDR=COMPOSE_NETWORK, HTTP_X_FORWARDED_FOR=OUTSIDE)
    assert proxied.get("/metrics").status_code == 404


@pytest.mark.django_db
def test_loopback_and_the_compose_network_are_the_operators_by_default():
    for address in ("127.0.0.1", "::1", COMPOSE_NETWORK, "::ffff:172.20.0.3"):
        assert Client(REMOTE_ADDR=address).get("/metrics").status_code == 200, address
    assert Client(REMOTE_ADDR="192.168.1.20").get("/metrics").status_code == 404  # a clinic LAN


@pytest.mark.django_db
@override_settings(METRICS_ALLOWED_NETWORKS=["10.8.0.0/16"], METRICS_TOKEN="scrape-me-0123456789")
def test_the_allowed_networks_and_the_token_are_settings():
    inside = Client(REMOTE_ADDR="10.8.4.2")
    assert inside.get("/metrics").status_code == 404  # no token
    assert inside.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    good = {"HTTP_AUTHORIZATION": "Bearer scrape-me-0123456789"}
    assert inside.get("/metrics", **good).status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics", **good).status_code == 404


@pytest.mark.django_db
def test_metrics_are_answered_before_host_validation_and_the_https_redirect():
    with override_settings(SECURE_SSL_REDIRECT=True, ALLOWED_HOSTS=["clinic.example"]):
        response = Client(REMOTE_ADDR=COMPOSE_NETWORK).get("/metrics", HTTP_HOST="web:8000")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


# --- what it says -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_request_latency_is_counted_by_view_method_and_status_class(cast):
    before = scrape()
    Client().get("/login/")
    Client().get("/no-such-page")
    after = scrape()
    name = "clinicphotos_http_request_duration_seconds_count"

    def count(samples, **labels):
        found = [v for have, v in samples.get(name, []) if labels.items() <= have.items()]
        return found[0] if found else 0

    assert count(after, view="login", method="GET", status="2xx") == (
        count(before, view="login", method="GET", status="2xx") + 1
    )
    assert count(after, view="unmatched", method="GET", status="4xx") == (
        count(before, view="unmatched", method="GET", status="4xx") + 1
    )
    # The scrapes themselves are not requests of the app.
    assert not [labels for labels, _ in after.get(name, []) if "metrics" in labels["view"]]


@pytest.mark.django_db
def test_a_job_owed_shows_as_pending_with_the_age_of_the_oldest(cast):
    before = scrape()
    make_job(cast.clinic_a)
    make_job(cast.clinic_b, age=timedelta(hours=2))  # read under clinic B's own context
    after = scrape()
    pending = value(after, "clinicphotos_outbox_pending_jobs")
    assert pending == value(before, "clinicphotos_outbox_pending_jobs") + 2
    age = value(after, "clinicphotos_outbox_oldest_pending_age_seconds")
    assert 2 * 3600 <= age < 2 * 3600 + 120


@pytest.mark.django_db
def test_a_failed_job_run_is_counted_and_shows_as_failing(cast):
    task = email_admins_chain_broken
    job = make_job(cast.clinic_a, task=task.name)
    before = scrape()
    # The event does not exist, so the run fails; in-process the job stays owed, not retried.
    result = task.apply(
        kwargs={"clinic_id": str(cast.clinic_a.id), "event_id": str(uuid.uuid4())}
        | {"job_id": str(job.id)}
    ).get()
    assert result == "pending"
    after = scrape()
    failures = "clinicphotos_outbox_job_failures_total"
    assert value(after, failures, task=task.name) == (
        dict((labels["task"], v) for labels, v in before.get(failures, [])).get(task.name, 0) + 1
    )
    assert value(after, "clinicphotos_outbox_failing_jobs") == (
        value(before, "clinicphotos_outbox_failing_jobs") + 1
    )


@pytest.mark.django_db
def test_a_celery_task_that_fails_is_counted(cast):
    task = email_admins_chain_broken
    name = "clinicphotos_celery_task_failures_total"
    before = dict((labels["task"], v) for labels, v in scrape().get(name, []))
    # As a worker runs it: the error ends the task (in-process tasks would raise it instead).
    result = task.apply(
        kwargs={"clinic_id": str(cast.clinic_a.id), "event_id": str(uuid.uuid4())}, throw=False
    )
    assert result.failed() and "does not exist" in str(result.result)
    assert value(scrape(), name, task=task.name) == before.get(task.name, 0) + 1


@pytest.mark.django_db
def test_the_celery_queue_length_is_read_from_redis():
    queue = f"test-metrics-{uuid.uuid4().hex}"
    client = redis_client(celery_app.conf.broker_url)
    default_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    try:
        client.lpush(queue, "waiting-1", "waiting-2")
        client.lpush(f"{queue}\x06\x163", "waiting-with-priority")
        samples = scrape()
    finally:
        client.delete(queue, f"{queue}\x06\x163")
        celery_app.conf.task_default_queue = default_queue
    assert value(samples, "clinicphotos_redis_up") == 1
    assert value(samples, "clinicphotos_celery_queue_length", queue=queue) == 3


@pytest.mark.django_db
def test_redis_down_is_said_and_the_rest_still_answers():
    with override_settings(REDIS_URL="redis://127.0.0.1:9/0"):  # the discard port: closed
        samples = scrape()
    assert value(samples, "clinicphotos_redis_up") == 0
    assert "clinicphotos_celery_queue_length" not in samples
    assert "clinicphotos_outbox_pending_jobs" in samples


@pytest.mark.django_db
def test_the_audit_chains_last_verification_is_shown(cast):
    for clinic in (cast.clinic_a, cast.clinic_b):
        verify_clinic_chain.apply(kwargs={"clinic_id": str(clinic.id)}).get()
    verify_system_chain.apply().get()
    samples = scrape()
    checked_at = value(samples, "clinicphotos_audit_verification_timestamp_seconds")
    assert time.time() - 120 < checked_at <= time.time()
    assert value(samples, "clinicphotos_audit_verification_failed_chains") == 0


@pytest.mark.django_db
def test_every_family_operations_md_names_is_in_a_scrape_and_no_other(cast):
    from audit.services import record

    record(clinic=cast.clinic_a, action="test.metrics", details={})
    verify_clinic_chain.apply(kwargs={"clinic_id": str(cast.clinic_a.id)}).get()
    write_clinic_checkpoint.apply(kwargs={"clinic_id": str(cast.clinic_a.id)}).get()
    write_system_checkpoint.apply().get()
    Client().get("/login/")
    body = Client(REMOTE_ADDR="127.0.0.1").get("/metrics").content.decode()
    scraped = {family.name for family in text_string_to_metric_families(body)}
    operations = (ROOT / "docs" / "operations.md").read_text()
    table = operations[operations.index("| metric | type |") : operations.index("How the figures")]
    documented = {name.removesuffix("_total") for name in re.findall(r"`(clinicphotos_\w+)", table)}
    assert scraped == documented
