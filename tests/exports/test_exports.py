"""Evidence exports: an admin exports a patient through the page; the recipient checks the
bundle with unzip, sha256sum and openssl alone."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from clinic.tenancy import clinic_context, service_write
from exports import services
from exports.models import Export, ExportState
from tests import factories as f
from tests.exports import helpers as h

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def gps_jpeg() -> bytes:
    """A phone-like JPEG with a GPS position and a device name in its EXIF."""
    from PIL import Image

    image = Image.effect_noise((640, 480), 40).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "PhoneModel 12"  # Model
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}  # GPS
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif)
    return out.getvalue()


@pytest.fixture
def record(cast):
    patient = f.make_patient(
        cast.clinic_a, cast.admin, first_name="Evie", last_name="Dence", email="evie@example.com"
    )
    episode = f.make_episode(
        cast.clinic_a,
        patient,
        cast.practitioner,
        product="Bocouture 50u",
        batch_number="BX-20931",
    )
    before = f.make_ready_photo(
        cast.clinic_a, patient, episode, cast.practitioner, data=gps_jpeg(), stage="before"
    )
    after = f.make_ready_photo(cast.clinic_a, patient, episode, cast.practitioner, stage="after")
    consent = f.make_signed_consent(
        cast.clinic_a, patient, cast.practitioner, uses=["clinical_record", "website"]
    )
    return {
        "patient": patient,
        "episode": episode,
        "photos": [before, after],
        "consent": consent,
    }


def start_export(client, clinic, patient, **data):
    url = reverse("export_create", kwargs={"clinic_slug": clinic.slug, "patient_id": patient.pk})
    form = {"recipient": "Hiscox claims, ref HX-4411", "reason": "claim", "episode": ""}
    form.update(data)
    # The worker's build runs after commit: here, in-process (Celery eager).
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url, form)


def download(client, clinic, export) -> bytes:
    url = reverse("export_download", kwargs={"clinic_slug": clinic.slug, "export_id": export.pk})
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/zip"
    assert "no-store" in response["Cache-Control"]
    return b"".join(response.streaming_content)


def latest_export(clinic) -> Export:
    with clinic_context(clinic.id):
        return Export.objects.filter(clinic=clinic).select_related("blob").latest("requested_at")


def events(clinic, action) -> list[AuditEvent]:
    with clinic_context(clinic.id):
        return list(AuditEvent.objects.filter(clinic=clinic, action=action).order_by("seq"))


def test_admin_exports_a_patient_and_the_recipient_verifies_it_with_standard_tools(
    cast, record, tmp_path
):
    client = f.verified_client(cast.admin)
    response = start_export(client, cast.clinic_a, record["patient"])
    export = latest_export(cast.clinic_a)
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "export_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "export_id": export.pk}
    )
    assert export.state == ExportState.READY
    page = client.get(response["Location"])
    assert b"Download ZIP" in page.content
    status = client.get(
        reverse("export_status", kwargs={"clinic_slug": cast.clinic_a.slug, "export_id": export.pk})
    ).json()
    assert status["state"] == "ready" and status["progress"] == 100 and status["download_url"]

    zip_path = tmp_path / "bundle.zip"
    zip_path.write_bytes(download(client, cast.clinic_a, export))
    folder = h.unzip(zip_path, tmp_path / "bundle")
    manifest = h.assert_bundle_verifies(folder)

    # One byte of the manifest changed: its line of the signed SHA256SUMS no longer matches.
    tampered = bytearray((folder / "manifest.json").read_bytes())
    tampered[10] ^= 0x01
    (folder / "manifest.json").write_bytes(bytes(tampered))
    failed = h.sha256sum_check(folder)
    assert failed.returncode != 0 and "manifest.json: FAILED" in failed.stdout

    # Each original is byte for byte the upload: its hash is the one recorded then.
    originals = [e for e in manifest["files"] if e["kind"] == "original photo"]
    assert {e["photo_id"] for e in originals} == {str(p.pk) for p in record["photos"]}
    for entry in originals:
        photo = next(p for p in record["photos"] if str(p.pk) == entry["photo_id"])
        data = (folder / entry["path"]).read_bytes()
        import hashlib

        assert hashlib.sha256(data).hexdigest() == photo.original_sha256 == entry["sha256"]
        assert entry["recorded_sha256"] == photo.original_sha256
    gps_original = next(
        folder / e["path"] for e in originals if e["photo_id"] == str(record["photos"][0].pk)
    )
    assert h.has_metadata(gps_original), "the original keeps its EXIF: it is the evidence"

    renditions = sorted((folder / "renditions").iterdir())
    assert len(renditions) == 2
    for path in renditions:
        assert not h.has_metadata(path), path

    (consent_pdf,) = (folder / "consent").iterdir()
    assert consent_pdf.read_bytes().startswith(b"%PDF")
    consent_entry = next(e for e in manifest["files"] if e["path"].startswith("consent/"))
    assert consent_entry["consent_id"] == str(record["consent"].pk)

    summary = h.pdf_text(folder / "summary.pdf")
    first_line = record["consent"].text_shown.splitlines()[0]
    assert first_line in summary
    assert record["consent"].text_sha256 in summary
    # The audit extract in the audit log page's words; the codes are for data.json only.
    assert "Audit extract" in summary and "Asked for an export" in summary
    assert "Uploaded a photo" in summary
    assert "export.created" not in summary and "photo.uploaded" not in summary
    assert "BX-20931" in summary and "Bocouture 50u" in summary
    # The narrow contact sheet prints each hash in two halves, one under the other.
    sha = record["photos"][0].original_sha256
    assert sha[:32] in summary and sha[32:] in summary
    assert "Hiscox claims, ref HX-4411" in summary

    with clinic_context(cast.clinic_a.id):
        head = AuditEvent.objects.filter(
            clinic=cast.clinic_a, seq=manifest["audit_chain_head"]["seq"]
        ).get()
    assert manifest["audit_chain_head"]["hash"] == head.hash
    assert manifest["recipient"] == "Hiscox claims, ref HX-4411"
    assert manifest["reason"] == "claim"
    verify = (folder / "VERIFY.txt").read_text()
    assert "sha256sum -c --strict SHA256SUMS" in verify
    assert "-rawin -in SHA256SUMS -sigfile SHA256SUMS.sig" in verify

    (created,) = events(cast.clinic_a, "export.created")
    assert f.personal_of(created) == {"recipient": "Hiscox claims, ref HX-4411"}
    assert created.actor_id == cast.admin.pk and created.patient_id == record["patient"].pk
    (downloaded,) = events(cast.clinic_a, "export.downloaded")
    assert f.personal_of(downloaded) == {"recipient": "Hiscox claims, ref HX-4411"}
    assert downloaded.actor_id == cast.admin.pk


def test_photos_are_stored_not_deflated_in_the_zip(cast, record):
    client = f.verified_client(cast.admin)
    start_export(client, cast.clinic_a, record["patient"])
    data = download(client, cast.clinic_a, latest_export(cast.clinic_a))
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.filename.startswith(("originals/", "renditions/", "consent/")):
                assert info.compress_type == zipfile.ZIP_STORED, info.filename
        assert zf.testzip() is None


def test_one_treatment_exports_only_its_photos(cast, record, tmp_path):
    other = f.make_episode(
        cast.clinic_a, record["patient"], cast.practitioner, treatment_type="filler"
    )
    f.make_ready_photo(cast.clinic_a, record["patient"], other, cast.practitioner, stage="before")
    client = f.verified_client(cast.admin)
    start_export(client, cast.clinic_a, record["patient"], episode=str(other.pk))
    export = latest_export(cast.clinic_a)
    assert export.episode_id == other.pk
    zip_path = tmp_path / "b.zip"
    zip_path.write_bytes(download(client, cast.clinic_a, export))
    manifest = h.assert_bundle_verifies(h.unzip(zip_path, tmp_path / "b"))
    originals = [e for e in manifest["files"] if e["kind"] == "original photo"]
    assert len(originals) == 1
    assert manifest["episode_id"] == str(other.pk)


def test_a_patient_with_no_photos_still_exports_and_the_summary_says_so(cast, tmp_path):
    patient = f.make_patient(cast.clinic_a, cast.admin, first_name="Nophoto")
    client = f.verified_client(cast.admin)
    start_export(client, cast.clinic_a, patient, reason="complaint", recipient="Complaints team")
    export = latest_export(cast.clinic_a)
    assert export.state == ExportState.READY
    zip_path = tmp_path / "n.zip"
    zip_path.write_bytes(download(client, cast.clinic_a, export))
    folder = h.unzip(zip_path, tmp_path / "n")
    manifest = h.assert_bundle_verifies(folder)
    assert not [e for e in manifest["files"] if e["kind"] == "original photo"]
    assert "No photos are held for this patient" in h.pdf_text(folder / "summary.pdf")


@pytest.mark.parametrize("role", ["practitioner", "reception"])
@pytest.mark.parametrize(
    "name", ["export_create", "export_detail", "export_status", "export_download"]
)
def test_practitioner_and_reception_cannot_export_and_the_attempt_is_recorded(
    cast, record, role, name
):
    admin = f.verified_client(cast.admin)
    start_export(admin, cast.clinic_a, record["patient"])
    export = latest_export(cast.clinic_a)
    kwargs = {"clinic_slug": cast.clinic_a.slug}
    kwargs |= (
        {"patient_id": record["patient"].pk}
        if name == "export_create"
        else {"export_id": export.pk}
    )
    client = f.verified_client(getattr(cast, role))
    url = reverse(name, kwargs=kwargs)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = (
            client.post(url, {"recipient": "x", "reason": "claim"})
            if name == "export_create"
            else client.get(url)
        )
    assert response.status_code == 403
    assert b"Export records" in response.content
    (refusal,) = events(cast.clinic_a, "access.forbidden")
    assert refusal.actor_id == getattr(cast, role).pk
    assert refusal.details["permission"] == "export.create" and refusal.details["path"] == url
    assert len(events(cast.clinic_a, "export.created")) == 1
    assert events(cast.clinic_a, "export.downloaded") == []


def test_the_export_panel_is_on_the_patient_page_for_admins_only(cast, record):
    url = reverse(
        "patient_detail",
        kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": record["patient"].pk},
    )
    assert b"Evidence exports" in f.verified_client(cast.admin).get(url).content
    assert b"Evidence exports" not in f.verified_client(cast.practitioner).get(url).content
    assert b"Evidence exports" not in f.verified_client(cast.reception).get(url).content


@pytest.mark.parametrize(
    "form, message",
    [
        ({"recipient": "   "}, b"This field is required"),
        ({"recipient": "x" * 201}, b"at most 200"),
        ({"reason": "gossip"}, b"Select a valid choice"),
    ],
)
def test_a_bad_export_request_is_refused_with_a_message_and_makes_nothing(
    cast, record, form, message
):
    client = f.verified_client(cast.admin)
    response = start_export(client, cast.clinic_a, record["patient"], **form)
    assert response.status_code == 400
    assert message in response.content
    with clinic_context(cast.clinic_a.id):
        assert not Export.objects.filter(clinic=cast.clinic_a).exists()


def test_another_patients_treatment_cannot_be_exported_with_this_patient(cast, record):
    other_patient = f.make_patient(cast.clinic_a, cast.admin, first_name="Other")
    other_episode = f.make_episode(cast.clinic_a, other_patient, cast.practitioner)
    client = f.verified_client(cast.admin)
    response = start_export(client, cast.clinic_a, record["patient"], episode=str(other_episode.pk))
    assert response.status_code == 400
    with clinic_context(cast.clinic_a.id):
        assert not Export.objects.filter(clinic=cast.clinic_a).exists()


def test_the_create_url_answers_get_with_405(cast, record):
    url = reverse(
        "export_create",
        kwargs={"clinic_slug": cast.clinic_a.slug, "patient_id": record["patient"].pk},
    )
    assert f.verified_client(cast.admin).get(url).status_code == 405


def test_an_expired_export_gives_a_clear_page_and_its_object_is_gone(cast, record, settings):
    from vault import storage

    client = f.verified_client(cast.admin)
    start_export(client, cast.clinic_a, record["patient"])
    export = latest_export(cast.clinic_a)
    blob = export.blob
    with clinic_context(cast.clinic_a.id):
        with service_write("test: move the expiry into the past"):
            Export.objects.filter(pk=export.pk).update(
                expires_at=timezone.now() - timedelta(minutes=1)
            )
    url = reverse(
        "export_download", kwargs={"clinic_slug": cast.clinic_a.slug, "export_id": export.pk}
    )
    response = client.get(url)
    assert response.status_code == 410
    assert b"This export has expired" in response.content
    export = latest_export(cast.clinic_a)
    assert export.state == ExportState.EXPIRED
    assert not storage._storage().exists(blob.object_name)
    assert len(events(cast.clinic_a, "export.expired")) == 1
    assert events(cast.clinic_a, "export.downloaded") == []


def test_the_beat_task_deletes_exports_past_export_days(cast, record):
    from exports.tasks import expire_exports
    from vault import storage

    client = f.verified_client(cast.admin)
    start_export(client, cast.clinic_a, record["patient"])
    export = latest_export(cast.clinic_a)
    assert export.expires_at - export.ready_at == timedelta(days=7)
    assert expire_exports() == 0
    with clinic_context(cast.clinic_a.id), service_write("test: time passes"):
        Export.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_exports() == 1
    export = latest_export(cast.clinic_a)
    assert export.state == ExportState.EXPIRED and export.blob.is_shredded
    assert not storage._storage().exists(export.blob.object_name)
    page = client.get(
        reverse("export_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "export_id": export.pk})
    )
    assert b"expired" in page.content


def test_export_days_setting_sets_the_expiry(cast, record, settings):
    settings.EXPORT_LIFETIME = timedelta(days=2)
    start_export(f.verified_client(cast.admin), cast.clinic_a, record["patient"])
    export = latest_export(cast.clinic_a)
    assert export.expires_at - export.ready_at == timedelta(days=2)


def test_an_original_that_no_longer_verifies_fails_the_export_with_a_reason(cast, record):
    from vault import storage

    with clinic_context(cast.clinic_a.id):
        original = record["photos"][0].original
    # The stored object is gone (a storage accident): the export cannot vouch for it.
    storage._storage().delete(original.object_name)
    client = f.verified_client(cast.admin)
    start_export(client, cast.clinic_a, record["patient"])
    export = latest_export(cast.clinic_a)
    assert export.state == ExportState.FAILED
    assert export.failure_reason
    (failed,) = events(cast.clinic_a, "export.failed")
    assert f.personal_of(failed) == {"recipient": "Hiscox claims, ref HX-4411"}
    status = client.get(
        reverse("export_status", kwargs={"clinic_slug": cast.clinic_a.slug, "export_id": export.pk})
    ).json()
    assert status["state"] == "failed" and not status["download_url"]
    response = client.get(
        reverse(
            "export_download", kwargs={"clinic_slug": cast.clinic_a.slug, "export_id": export.pk}
        )
    )
    assert response.status_code == 409
    assert b"could not be built" in response.content


def test_the_signing_key_is_made_once_kept_encrypted_and_shown_on_the_settings_page(cast, record):
    from exports.models import ExportSigningKey

    client = f.verified_client(cast.admin)
    settings_url = reverse("clinic_settings", kwargs={"clinic_slug": cast.clinic_a.slug})
    assert b"made with the clinic's first export" in client.get(settings_url).content
    start_export(client, cast.clinic_a, record["patient"])
    start_export(client, cast.clinic_a, record["patient"], recipient="Second insurer")
    with clinic_context(cast.clinic_a.id):
        (key,) = ExportSigningKey.objects.filter(clinic=cast.clinic_a).select_related("private_key")
    assert key.private_key.purpose == "export-key" and key.private_key.wrapped_key
    page = client.get(settings_url).content.decode()
    assert key.fingerprint in page
    assert f"/p/{cast.clinic_a.slug}/export-keys/" in page  # where recipients check it
    assert len(events(cast.clinic_a, "export.signing_key_created")) == 1


def test_the_page_shows_progress_while_the_export_is_queued(cast, record):
    client = f.verified_client(cast.admin)
    with clinic_context(cast.clinic_a.id):
        export = services.export_create(
            clinic=cast.clinic_a,
            patient=record["patient"],
            recipient="Solicitor",
            reason="solicitor",
            by=cast.admin,
            queue=False,
        )
    from django.core.cache import cache

    cache.set(services._progress_key(export.pk), 42)
    kwargs = {"clinic_slug": cast.clinic_a.slug, "export_id": export.pk}
    page = client.get(reverse("export_detail", kwargs=kwargs)).content.decode()
    assert "42%" in page and 'data-state="queued"' in page
    status = client.get(reverse("export_status", kwargs=kwargs)).json()
    assert status == {**status, "state": "queued", "progress": 42, "download_url": ""}
    response = client.get(reverse("export_download", kwargs=kwargs))
    assert response.status_code == 409
    assert b"not ready yet" in response.content
