"""After a load run: is every photo the app said it saved there, ready, exactly once?

Run by load/run.py against the run's database as the app role. Reads the uploads' answers
(LOAD_UPLOADS, one JSON line each, written by load/locustfile.py), waits up to ``--wait``
seconds for the accepted ones to be processed, then checks for each accepted upload: one
Photo row with its file name, status ready, both renditions decrypt from storage, exactly one
``photo.processed`` audit event, its outbox job done. A refused upload must have made no row
and must carry a message a person can read. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("uploads", type=Path)
    parser.add_argument("--wait", type=float, default=300)
    args = parser.parse_args()

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from audit.models import AuditEvent
    from clinic.models import Clinic, Job, JobState
    from clinic.tenancy import clinic_context
    from photos.models import Photo, PhotoStatus
    from vault import storage

    answers = [json.loads(line) for line in args.uploads.read_text().splitlines() if line]
    accepted = {a["name"]: a for a in answers if a.get("status") == 200 and a.get("saved")}
    refused = [a for a in answers if a["name"] not in accepted and a.get("status")]
    unanswered = [a for a in answers if not a.get("status")]
    clinics = {c.slug: c.id for c in Clinic.objects.filter(slug__startswith="load-")}

    def rows() -> list[Photo]:
        found = []
        for clinic_id in clinics.values():
            with clinic_context(clinic_id):
                found += list(
                    Photo.objects.filter(
                        clinic_id=clinic_id, original_name__startswith="load-"
                    ).select_related("thumb", "display")
                )
        return found

    started = time.monotonic()
    while True:
        photos = rows()
        processing = [p for p in photos if p.status == PhotoStatus.PROCESSING]
        if not processing or time.monotonic() - started > args.wait:
            break
        time.sleep(2)
    waited = time.monotonic() - started

    by_name: dict[str, list[Photo]] = {}
    for photo in photos:
        by_name.setdefault(photo.original_name, []).append(photo)
    problems: list[str] = []
    ready_after: list[float] = []
    for name, answer in accepted.items():
        found = by_name.get(name, [])
        ids = sorted(str(p.pk) for p in found)
        if ids != sorted(answer["saved"]):
            problems.append(f"{name}: told saved as {answer['saved']}, rows {ids}")
            continue
        photo = found[0]
        if photo.status != PhotoStatus.READY:
            problems.append(f"{name}: {photo.status} ({photo.failure_reason})")
            continue
        with clinic_context(photo.clinic_id):
            try:
                # A missing rendition fails here too, and is reported below.
                thumb, display = storage.blob_read(photo.thumb), storage.blob_read(photo.display)  # type: ignore[arg-type]
            except Exception as error:  # noqa: BLE001 - reported, not raised
                problems.append(f"{name}: renditions unreadable: {error!r}")
                continue
            if not (thumb.startswith(b"\xff\xd8") and display.startswith(b"\xff\xd8")):
                problems.append(f"{name}: renditions are not JPEG")
            processed = AuditEvent.objects.filter(
                clinic_id=photo.clinic_id, action="photo.processed", target_id=str(photo.pk)
            ).count()
            if processed != 1:
                problems.append(f"{name}: processed {processed} times")
            jobs = Counter(
                Job.objects.filter(
                    clinic_id=photo.clinic_id, kwargs__photo_id=str(photo.pk)
                ).values_list("state", flat=True)
            )
            if jobs != Counter({JobState.DONE: 1}):
                problems.append(f"{name}: outbox jobs {dict(jobs)}")
        ready_after.append(photo.processed_at.timestamp() - answer["t"])  # type: ignore[union-attr]  # ready
    for answer in refused:
        if by_name.get(answer["name"]):
            problems.append(f"{answer['name']}: refused ({answer['status']}) but stored")
        message = answer.get("problem") or " ".join(answer.get("messages") or [])
        if not message.strip():
            problems.append(f"{answer['name']}: refused ({answer['status']}) with no message")
    unknown_stored = sum(bool(by_name.get(a["name"])) for a in unanswered)
    told = {n for n in accepted} | {a["name"] for a in refused} | {a["name"] for a in unanswered}
    strays = sorted(n for n in by_name if n not in told)
    if strays:
        problems.append(f"rows for uploads no answer mentions: {strays[:5]}")
    print(
        json.dumps(
            {
                "uploads": len(answers),
                "accepted": len(accepted),
                "ready_exactly_once": len(accepted)
                - sum(p.split(":")[0] in accepted for p in problems),
                "refused": [
                    {
                        "name": a["name"],
                        "status": a["status"],
                        "message": a.get("problem")
                        or " ".join(a.get("messages") or [])
                        or a.get("body", ""),
                    }
                    for a in refused
                ],
                "unanswered": len(unanswered),
                "unanswered_but_stored": unknown_stored,
                "waited_s": round(waited, 1),
                "ready_after_upload_s_max": round(max(ready_after), 1) if ready_after else None,
                "problems": problems,
                "ok": not problems,
            }
        )
    )


if __name__ == "__main__":
    main()
