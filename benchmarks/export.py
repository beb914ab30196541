"""Export figures for `make bench`, each step in a child process of its own on the embedded
default (SQLite and encrypted blobs on local disk in a temp dir):

    python benchmarks/export.py setup VAR_DIR   # a patient with 200 photos of 5 MB (and their
                                                # 1600 px and 400 px renditions), encrypted
    python benchmarks/export.py export VAR_DIR  # one export of that patient, as the worker does
    python benchmarks/export.py zipraw VAR_DIR  # zipfile writing the same plaintext, stored

``export`` prints export_mb_s (archive bytes over the time of the stream: decrypting every
original, hashing, zipping, signing, encrypting and writing), export_total_mb_s (the same over
the whole build, the summary PDF included), export_summary_pdf_ms, and export_peak_rss_mb
(that child's own peak resident memory, VmHWM, Django included), and
export_pdf_child_peak_rss_mb (the same of the interpreter it starts for the summary PDF).
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import zipfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PHOTOS = 200
PHOTO_BYTES = 5 * 1024 * 1024


def _django(var_dir: str) -> None:
    os.environ["DJANGO_VAR_DIR"] = var_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _rendition(size: tuple[int, int]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.effect_noise(size, 40).convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def _photo_bytes() -> bytes:
    """A JPEG header and noise padded to 5 MB: the export never decodes an original."""
    from PIL import Image

    out = io.BytesIO()
    Image.effect_noise((1200, 900), 60).convert("RGB").save(out, "JPEG", quality=90)
    data = out.getvalue()
    return data + os.urandom(PHOTO_BYTES - len(data))


def setup(var_dir: str) -> None:
    _django(var_dir)
    import hashlib

    from django.core.management import call_command
    from django.utils import timezone

    from clinic.models import Clinic, Membership, Role, User
    from clinic.tenancy import clinic_context
    from patients.models import Patient, TreatmentEpisode
    from photos.models import BlobPurpose, Photo, PhotoStatus
    from vault import storage

    call_command("migrate", verbosity=0)
    clinic = Clinic.objects.create(name="Bench Clinic", slug="bench")
    user = User.objects.create_user("bench@example.test", "x" * 20, full_name="Bench Nurse")
    data = _photo_bytes()
    digest = hashlib.sha256(data).hexdigest()
    # Each photo has its renditions, as after the worker: the 1600 px copy goes into the ZIP,
    # the 400 px thumbnail onto the summary's contact sheet.
    display, thumb = _rendition((1600, 1200)), _rendition((400, 300))
    with clinic_context(clinic.pk):
        Membership.objects.create(clinic=clinic, user=user, role=Role.ADMIN)
        patient = Patient.objects.create(
            clinic=clinic, first_name="Bench", last_name="Patient", date_of_birth=date(1980, 1, 1)
        )
        episode = TreatmentEpisode.objects.create(
            clinic=clinic,
            patient=patient,
            treatment_type="toxin",
            areas=["forehead"],
            performed_on=date(2026, 1, 1),
            practitioner=user,
        )
        for _ in range(PHOTOS):
            blob = storage.blob_store(clinic_id=clinic.pk, purpose=BlobPurpose.ORIGINAL, data=data)
            Photo.objects.create(
                clinic=clinic,
                patient=patient,
                episode=episode,
                stage="before",
                area="forehead",
                view="front",
                taken_at=timezone.now(),
                taken_by=user,
                original=blob,
                original_mime="image/jpeg",
                original_size=len(data),
                original_sha256=digest,
                display=storage.blob_store(
                    clinic_id=clinic.pk, purpose=BlobPurpose.DISPLAY, data=display
                ),
                thumb=storage.blob_store(
                    clinic_id=clinic.pk, purpose=BlobPurpose.THUMB, data=thumb
                ),
                status=PhotoStatus.READY,
            )
    print(json.dumps({"photos": PHOTOS, "photo_mb": len(data) / 1e6}))


def export(var_dir: str) -> None:
    _django(var_dir)
    from clinic.models import Clinic
    from clinic.tenancy import clinic_context
    from exports import contents, pdf_child, services
    from patients.models import Patient

    # The summary PDF (WeasyPrint, ~20 ms per contact-sheet photo) is timed on its own, so
    # export_mb_s is the stream's own rate and export_total_mb_s the whole build's.
    render, pdf_seconds = contents.summary_pdf, []

    def timed_summary(record, **kwargs):
        started = time.perf_counter()
        pdf = render(record, **kwargs)
        pdf_seconds.append(time.perf_counter() - started)
        return pdf

    contents.summary_pdf = timed_summary

    clinic = Clinic.objects.get(slug="bench")
    with clinic_context(clinic.pk):
        patient = Patient.objects.get(clinic=clinic)
        export = services.export_create(
            clinic=clinic, patient=patient, recipient="Bench", reason="claim", by=None, queue=False
        )
    started = time.perf_counter()
    with clinic_context(clinic.pk):
        services.export_build(clinic_id=clinic.pk, export_id=export.pk)
    seconds = time.perf_counter() - started
    with clinic_context(clinic.pk):
        export.refresh_from_db()
    # VmHWM, not getrusage: a child's ru_maxrss starts from its parent's at fork (Linux keeps
    # it across exec), which made the bench's own memory look like the export's.
    assert export.size is not None  # built
    peak_kb = pdf_child.peak_rss_kb()
    pdf_child_kb = pdf_child.last_peak_rss_kb
    print(
        json.dumps(
            {
                "export_mb_s": export.size / 1e6 / (seconds - sum(pdf_seconds)),
                "export_total_mb_s": export.size / 1e6 / seconds,
                "export_summary_pdf_ms": sum(pdf_seconds) * 1000,
                "export_seconds": seconds,
                "export_mb": export.size / 1e6,
                "export_peak_rss_mb": peak_kb / 1024,
                "export_pdf_child_peak_rss_mb": pdf_child_kb / 1024,
            }
        )
    )


def zipraw(var_dir: str) -> None:
    # The same plaintext the export carries: 200 originals and their 1600 px renditions.
    data, display = _photo_bytes(), _rendition((1600, 1200))
    target = Path(var_dir) / "raw.zip"
    started = time.perf_counter()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for index in range(PHOTOS):
            zf.writestr(f"originals/{index:03d}.jpg", data)
            zf.writestr(f"renditions/{index:03d}.jpg", display)
    seconds = time.perf_counter() - started
    size = target.stat().st_size
    target.unlink()
    print(json.dumps({"zip_raw_mb_s": size / 1e6 / seconds}))


if __name__ == "__main__":
    {"setup": setup, "export": export, "zipraw": zipraw}[sys.argv[1]](sys.argv[2])
