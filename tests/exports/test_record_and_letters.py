"""What the recipient reads and what the clinic sends with it: summary.pdf numbers photos once
and keeps every column on the page, says which originals carry a location and names marketing
uses by bundle path; the cover letter is one page with the key's fingerprint and the SUMS hash;
the public key page; and the admins' form that checks a bundle sent back."""

from __future__ import annotations

import io
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from clinic.tenancy import clinic_context
from tests import factories as f
from tests.exports import helpers as h
from tests.exports.test_exports import (
    download,
    events,
    gps_jpeg,
    latest_export,
    start_export,
)

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def _patient_with_photos(cast, count: int, *, gps_every: int = 3):
    patient = f.make_patient(
        cast.clinic_a, cast.admin, first_name="Ana", last_name="Ruiz", email="ana@example.com"
    )
    episode = f.make_episode(cast.clinic_a, patient, cast.practitioner)
    photos = [
        f.make_ready_photo(
            cast.clinic_a,
            patient,
            episode,
            cast.practitioner,
            stage=("before", "after")[i % 2],
            data=gps_jpeg() if i % gps_every == 0 else None,
        )
        for i in range(count)
    ]
    return patient, photos


def _right_edges(pdf: Path) -> list[float]:
    """Each page's rightmost word edge as a fraction of the page's width (pdftotext -bbox)."""
    html = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = re.findall(r'<page width="([\d.]+)" height="[\d.]+">(.*?)</page>', html, re.S)
    return [
        max((float(x) for x in re.findall(r'xMax="([\d.]+)"', body)), default=0) / float(w)
        for w, body in pages
    ]


@pytest.mark.parametrize("count", [1, 7])
def test_the_summary_numbers_photos_once_and_keeps_every_column_on_the_page(cast, tmp_path, count):
    patient, photos = _patient_with_photos(cast, count)
    client = f.verified_client(cast.admin)
    start_export(client, cast.clinic_a, patient)
    folder = h.unzip(
        _write(tmp_path, download(client, cast.clinic_a, latest_export(cast.clinic_a))),
        tmp_path / "b",
    )
    pdf = folder / "summary.pdf"
    # Nothing past the right margin (15 mm of 210) on any page, at any count of photos.
    assert max(_right_edges(pdf)) <= 0.93
    text = h.pdf_text(pdf)
    originals = sorted(p.name for p in (folder / "originals").iterdir())
    assert [name[:3] for name in originals] == [f"{n:03d}" for n in range(1, count + 1)]
    for name in originals:  # every photo named by its bundle path (it may wrap in its cell)
        assert f"originals/{name[:20]}" in text.replace("\n", "")
    assert f"numbered 1 to {count} once" in text
    located = [n for n in range(1, count + 1) if (n - 1) % 3 == 0]
    assert f"{len(located)} of {count} originals carry the GPS position" in text
    assert "no. " + ", no. ".join(map(str, located)) + "." in text.replace("\n", " ")


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    return path


def test_marketing_uses_are_named_by_bundle_path(cast, tmp_path):
    from consent.models import MarketingItem

    patient, photos = _patient_with_photos(cast, 2)
    f.make_signed_consent(
        cast.clinic_a, patient, cast.practitioner, uses=["clinical_record", "website"]
    )
    with clinic_context(cast.clinic_a.id):
        MarketingItem.objects.create(
            clinic=cast.clinic_a, photo=photos[1], use="website", added_by=cast.admin
        )
    client = f.verified_client(cast.admin)
    start_export(client, cast.clinic_a, patient)
    folder = h.unzip(
        _write(tmp_path, download(client, cast.clinic_a, latest_export(cast.clinic_a))),
        tmp_path / "b",
    )
    text = h.pdf_text(folder / "summary.pdf").replace("\n", " ")
    second = sorted(p.name for p in (folder / "originals").iterdir())[1]
    assert "Where the photos were used" in text
    assert f"no. 2 · originals/{second[:16]}" in text
    assert str(photos[1].pk) not in text.split("Where the photos were used")[1].split("Audit")[0]


def test_the_cover_letter_is_one_page_with_the_fingerprint_and_the_sums_hash(cast, tmp_path):
    patient, _ = _patient_with_photos(cast, 1)
    client = f.verified_client(cast.admin)
    start_export(client, cast.clinic_a, patient)
    export = latest_export(cast.clinic_a)
    data = download(client, cast.clinic_a, export)
    kwargs = {"clinic_slug": cast.clinic_a.slug, "export_id": export.pk}
    detail = client.get(reverse("export_detail", kwargs=kwargs)).content.decode()
    assert reverse("export_cover_letter", kwargs=kwargs) in detail
    assert "GPS location" in detail  # said before the bundle is sent
    response = client.get(reverse("export_cover_letter", kwargs=kwargs))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    letter = tmp_path / "letter.pdf"
    letter.write_bytes(b"".join(response.streaming_content))
    info = subprocess.run(["pdfinfo", str(letter)], capture_output=True, text=True).stdout
    assert re.search(r"Pages:\s+1\n", info)
    text = h.pdf_text(letter)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        import hashlib

        sums = hashlib.sha256(zf.read("SHA256SUMS")).hexdigest()
    grouped = " ".join(sums[i : i + 4] for i in range(0, 32, 4))
    assert grouped in text
    with clinic_context(cast.clinic_a.id):
        fingerprint = latest_export(cast.clinic_a).signing_key.fingerprint
    assert " ".join(fingerprint[i : i + 4] for i in range(0, 32, 4)) in text
    assert f"/p/{cast.clinic_a.slug}/export-keys/" in text
    (event,) = events(cast.clinic_a, "export.cover_letter")
    assert event.actor_id == cast.admin.pk and f.personal_of(event) == {
        "recipient": "Hiscox claims, ref HX-4411"
    }
    # Another clinic's export: a 404.
    other = f.verified_client(cast.stranger)
    url = reverse(
        "export_cover_letter", kwargs={"clinic_slug": cast.clinic_b.slug, "export_id": export.pk}
    )
    assert other.get(url).status_code == 404


def test_the_public_key_page_lists_the_keys_and_serves_each_pem(cast, client):
    patient, _ = _patient_with_photos(cast, 1)
    admin = f.verified_client(cast.admin)
    page = client.get(reverse("export_keys", kwargs={"clinic": cast.clinic_a.slug}))
    assert page.status_code == 200 and b"has not exported any evidence yet" in page.content
    start_export(admin, cast.clinic_a, patient)
    with clinic_context(cast.clinic_a.id):
        key = latest_export(cast.clinic_a).signing_key
    page = client.get(reverse("export_keys", kwargs={"clinic": cast.clinic_a.slug}))
    assert key.fingerprint.encode() in page.content and b"Current key" in page.content
    pem = client.get(
        reverse(
            "export_key_pem", kwargs={"clinic": cast.clinic_a.slug, "fingerprint": key.fingerprint}
        )
    )
    assert pem.status_code == 200 and pem.content.decode() == key.public_key_pem
    # Another clinic's key page does not serve this key; an unknown clinic is a 404.
    wrong = reverse(
        "export_key_pem", kwargs={"clinic": cast.clinic_b.slug, "fingerprint": key.fingerprint}
    )
    assert client.get(wrong).status_code == 404
    assert client.get(reverse("export_keys", kwargs={"clinic": "no-such"})).status_code == 404


def test_an_admin_rotates_the_key_from_the_settings_page(cast):
    patient, _ = _patient_with_photos(cast, 1)
    admin = f.verified_client(cast.admin)
    start_export(admin, cast.clinic_a, patient)
    url = reverse("export_signing_key_rotate", kwargs={"clinic_slug": cast.clinic_a.slug})
    assert admin.get(url).status_code == 405
    response = admin.post(url)
    assert response.status_code == 302 and response["Location"].endswith("#export-key")
    (rotated,) = events(cast.clinic_a, "export.signing_key_rotated")
    assert rotated.actor_id == cast.admin.pk
    practitioner = f.verified_client(cast.practitioner)
    assert practitioner.post(url).status_code == 403
    assert len(events(cast.clinic_a, "export.signing_key_rotated")) == 1


def test_a_bundle_over_the_pages_limit_is_refused_with_the_command_to_use(cast, monkeypatch):
    from photos import uploads

    # The limit lowered to 1 KB for the test: the real one (200 MB) is the same code path.
    monkeypatch.setitem(uploads.UPLOAD_LIMITS, "export_bundle_check", 1024)
    admin = f.verified_client(cast.admin)
    upload = io.BytesIO(b"PK" + b"\0" * 4096)
    upload.name = "big.zip"
    url = reverse("export_bundle_check", kwargs={"clinic_slug": cast.clinic_a.slug})
    response = admin.post(url, {"bundle": upload})
    assert response.status_code == 400 and b"manage.py verify_export" in response.content
    assert events(cast.clinic_a, "export.bundle_checked") == []


def test_the_check_form_names_the_changed_file_and_refuses_what_is_not_a_zip(cast, tmp_path):
    patient, _ = _patient_with_photos(cast, 2)
    admin = f.verified_client(cast.admin)
    start_export(admin, cast.clinic_a, patient)
    data = download(admin, cast.clinic_a, latest_export(cast.clinic_a))
    url = reverse("export_bundle_check", kwargs={"clinic_slug": cast.clinic_a.slug})
    assert admin.get(url).status_code == 200

    def check(payload: bytes, name: str = "bundle.zip"):
        upload = io.BytesIO(payload)
        upload.name = name
        return admin.post(url, {"bundle": upload})

    intact = check(data)
    assert intact.status_code == 200, intact.content.decode()[-3000:]
    assert b"Intact: the bundle is exactly as" in intact.content

    # The tamperer's copy: the first original changed, its sum updated.
    folder = h.unzip(_write(tmp_path, data), tmp_path / "t")
    first = sorted(str(p.relative_to(folder)) for p in (folder / "originals").iterdir())[0]
    (folder / first).write_bytes((folder / first).read_bytes() + b"\0")
    changed = io.BytesIO()
    with zipfile.ZipFile(changed, "w") as zf:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                zf.write(file, str(file.relative_to(folder)))
    page = check(changed.getvalue()).content.decode()
    assert "Not intact" in page and first in page and "changed" in page

    refused = check(b"hello, not a zip", "notes.txt")
    assert refused.status_code == 400 and b"That is not a ZIP file" in refused.content
    checked = events(cast.clinic_a, "export.bundle_checked")
    assert [e.details["ok"] for e in checked] == [True, False]
    assert checked[1].details["files_differing"] == 1

    # Another clinic checking this clinic's bundle: not signed by any of its keys.
    other = f.verified_client(cast.stranger)
    upload = io.BytesIO(data)
    upload.name = "bundle.zip"
    page = other.post(
        reverse("export_bundle_check", kwargs={"clinic_slug": cast.clinic_b.slug}),
        {"bundle": upload},
    ).content.decode()
    assert "Not intact" in page and "no key of this clinic" in page
