"""What goes into a bundle: the patient's record read from the apps below (patients, photos,
consent, audit), turned into bundle files, the summary PDF and, for a subject-access request,
``data.json``. Consent decides nothing here: an export is the record itself."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone
from PIL import ExifTags, Image

from audit.actions import action_label
from audit.models import AuditEvent
from audit.personal import events_personal
from clinic.hubs import Hub
from consent import selectors as consent_selectors
from consent.models import ConsentRecord, ConsentUse, MarketingItem
from consent.pdf import render_consent_pdf
from exports.bundle import BundleFile
from exports.models import Export, ExportState
from exports.pdf_child import render_in_child
from patients.models import Patient, TreatmentEpisode
from patients.selectors import episodes_of
from photos.models import Photo
from vault import storage

DATA_SCHEMA = "clinicphotos-subject-access/1"
# 2: SHA256SUMS lists every file (manifest.json included) and is what the clinic signs.
MANIFEST_FORMAT = "clinicphotos-export/2"
SHEET_COLUMNS = 3  # photos per row of the summary's contact sheet
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/heif": "heic"}


# --- the extension point: other rooms add their files (comparisons/ when it exists) ----------


@dataclass(frozen=True)
class BundlePart:
    """Files another app adds to every bundle (``files``) and, for a subject-access copy, a key
    of ``data.json`` (``data``). Registered from that app's ready(), so exports imports it not.
    ``files`` runs in the clinic's context; each file's ``chunks`` may run in another thread
    and must not touch the database (use ``vault.storage.blob_iter_prepared``)."""

    name: str
    files: Callable[[Export], Iterable[BundleFile]]
    data: Callable[[Export], Any] | None = None
    # The folders its files go in, with what each holds, for VERIFY.txt's list.
    folders: dict[str, str] = field(default_factory=dict)


PARTS: Hub[BundlePart] = Hub("exports.parts", "files other rooms add to every evidence bundle")


def register_part(part: BundlePart) -> None:
    """Add (or replace, by name) a part of every bundle, e.g. ``comparisons/``."""
    PARTS.register(part.name, part)


def part_folders() -> dict[str, str]:
    """Every folder other rooms' parts write, with what it holds."""
    return {name: what for part in PARTS.values() for name, what in part.folders.items()}


# --- reading the record ----------------------------------------------------------------------


@dataclass
class Record:
    """Everything one export shows, read once inside the clinic's context."""

    export: Export
    episodes: list[TreatmentEpisode]
    photos: list[Photo]
    consents: list[ConsentRecord]
    withdrawals: list
    periods: list[tuple[str, list]]
    marketing: list[MarketingItem]
    audit: list[AuditEvent]
    earlier_exports: list[Export]
    chain_head: dict[str, Any]
    paths: dict[str, str] = field(default_factory=dict)
    # photo id -> whether its original carries a GPS position (None: could not be read).
    located: dict[str, bool | None] = field(default_factory=dict)


def _undone(withdrawal) -> bool:
    return getattr(withdrawal, "undone_by", None) is not None


def read_record(export: Export) -> Record:
    """The patient's record as this export covers it (one treatment, or all of them)."""
    clinic, patient = export.clinic, export.patient
    episodes = list(episodes_of(clinic=clinic, patient=patient).select_related("practitioner"))
    shown = Photo.objects.filter(clinic=clinic, patient=patient, deleted_at__isnull=True)
    if export.episode_id:
        episodes = [e for e in episodes if e.pk == export.episode_id]
        shown = shown.filter(episode_id=export.episode_id)
    photos = list(
        shown.select_related("episode", "taken_by", "original", "display", "thumb").order_by(
            "taken_at", "uploaded_at"
        )
    )
    labels = dict(ConsentUse.choices)
    periods = consent_selectors.consent_periods(clinic=clinic, patient=patient)
    audit = list(AuditEvent.objects.filter(clinic=clinic, patient_id=patient.pk).order_by("seq"))
    personal = events_personal(audit)
    for event in audit:
        # The recipient is sealed under the patient's key; the summary names it.
        detail = personal.get(event.id)
        event.recipient = detail.get("recipient", "") if isinstance(detail, dict) else ""  # type: ignore[attr-defined]
    for event in audit:
        event.label = action_label(event.action)  # type: ignore[attr-defined]  # the log page's words
    head = AuditEvent.objects.filter(clinic=clinic).order_by("-seq").values("seq", "hash").first()
    return Record(
        export=export,
        episodes=episodes,
        photos=photos,
        consents=list(
            consent_selectors.records_of(clinic=clinic, patient=patient)
            .select_related("signature", "pdf", "clinic", "patient")
            .order_by("signed_at")
        ),
        withdrawals=list(
            consent_selectors.withdrawals_of(clinic=clinic, patient=patient)
            .select_related("undone_by")
            .order_by("withdrawn_at")
        ),
        periods=[(labels[use], p) for use, p in periods.items() if p],
        marketing=list(
            MarketingItem.objects.filter(clinic=clinic, photo__patient=patient)
            .select_related("photo", "added_by")
            .order_by("added_at")
        ),
        audit=audit,
        earlier_exports=list(
            Export.objects.filter(clinic=clinic, patient=patient)
            .exclude(pk=export.pk)
            .exclude(state=ExportState.FAILED)
            .order_by("requested_at")
        ),
        chain_head={
            "clinic_id": str(clinic.pk),
            "seq": head["seq"] if head else 0,
            "hash": head["hash"] if head else "",
        },
    )


def carries_location(photo: Photo) -> bool | None:
    """Whether the original holds a GPS position in its EXIF, read from its first segment
    (the metadata comes before the pixels); None when it cannot be told."""
    chunks = storage.blob_iter(photo.original)
    try:
        head = next(chunks, b"")
    except (storage.BlobUnreadable, storage.StorageUnavailable):
        return None  # an unreadable original fails the export later, with its reason
    finally:
        chunks.close()  # type: ignore[attr-defined]  # a generator: closing it closes the object
    try:
        with Image.open(io.BytesIO(head)) as image:
            gps = image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    except (OSError, ValueError, SyntaxError):
        return None
    return bool(gps.get(ExifTags.GPS.GPSLatitude) or gps.get(ExifTags.GPS.GPSLongitude))


def _photo_stem(index: int, photo: Photo) -> str:
    return (
        f"{index:03d}-{photo.taken_at:%Y%m%d}-{photo.stage}-{photo.area}-{photo.view}"
        f"-{str(photo.pk)[:8]}"
    )


def _blob_chunks(blob) -> Callable[[], Iterable[bytes]]:
    # Keys are unwrapped here; the bytes are read later, possibly in the upload's own thread,
    # which has no clinic context (and must not use the database).
    return storage.blob_iter_prepared(blob)


def files_of(record: Record) -> list[BundleFile]:
    """The bundle's files (originals, renditions, signed consents, other rooms' parts), with the
    paths the summary names. The summary PDF and data.json are made by the caller."""
    files: list[BundleFile] = []
    for index, photo in enumerate(record.photos, start=1):
        stem = _photo_stem(index, photo)
        ext = EXTENSIONS.get(photo.original_mime, "bin")
        path = f"originals/{stem}.{ext}"
        record.paths[str(photo.pk)] = path
        record.located[str(photo.pk)] = carries_location(photo)
        files.append(
            BundleFile(
                path=path,
                kind="original photo",
                chunks=_blob_chunks(photo.original),
                size=photo.original.size,
                ids={"photo_id": str(photo.pk)},
                expect_sha256=photo.original_sha256,
            )
        )
        if photo.display is not None:
            files.append(
                BundleFile(
                    path=f"renditions/{stem}.jpg",
                    kind="rendition (1600 px, no metadata)",
                    chunks=_blob_chunks(photo.display),
                    size=photo.display.size,
                    ids={"photo_id": str(photo.pk)},
                )
            )
    for consent in record.consents:
        path = f"consent/{consent.signed_at:%Y%m%d}-signed-consent-{str(consent.pk)[:8]}.pdf"
        if consent.pdf is not None:
            chunks, size = _blob_chunks(consent.pdf), consent.pdf.size
        else:
            # The worker has not made the patient's copy yet: make it from the record now.
            data = render_consent_pdf(consent)
            # mypy cannot type a lambda with a default argument (bound here, not late).
            chunks, size = (lambda data=data: [data]), len(data)  # type: ignore[misc]
        files.append(
            BundleFile(
                path=path,
                kind="signed consent (PDF)",
                chunks=chunks,
                size=size,
                ids={"consent_id": str(consent.pk)},
            )
        )
    for part in PARTS.values():
        files.extend(part.files(record.export))
    return files


# --- the summary PDF -------------------------------------------------------------------------


def _thumb_data_url(photo: Photo) -> str:
    if photo.thumb is None:
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(storage.blob_read(photo.thumb)).decode()


def summary_pdf(record: Record, *, checkpoint: dict[str, Any] | None = None) -> bytes:
    """The readable record: clinic, patient, treatments, contact sheet, consent history with the
    exact texts signed, marketing uses and the audit extract in the audit log page's words.
    Photos are numbered once through the bundle (their number starts their file name) and
    named by their bundle path wherever they are referred to."""
    export = record.export
    clinic = export.clinic
    photos = [
        {
            "number": number,
            "photo": p,
            "thumb": _thumb_data_url(p),
            "path": record.paths.get(str(p.pk), ""),
            "located": record.located.get(str(p.pk)),
        }
        for number, p in enumerate(record.photos, start=1)
    ]
    by_id = {str(p.pk): item for p, item in zip(record.photos, photos, strict=True)}
    marketing = [{"item": m, "photo": by_id.get(str(m.photo_id))} for m in record.marketing]
    html = render_to_string(
        "exports/summary.html",
        {
            "export": export,
            "clinic": clinic,
            "patient": export.patient,
            "record": record,
            "photos": photos,
            "photo_rows": [
                photos[i : i + SHEET_COLUMNS] for i in range(0, len(photos), SHEET_COLUMNS)
            ],
            "located": [item for item in photos if item["located"]],
            "unknown_location": [item for item in photos if item["located"] is None],
            "marketing": marketing,
            "consents": [
                {"record": c, "paragraphs": c.text_shown.strip().split("\n")}
                for c in record.consents
            ],
            "labels": dict(ConsentUse.choices),
            "generated_at": timezone.now(),
            "checkpoint": checkpoint or {},
            "logo_data_url": (
                "data:image/png;base64," + base64.b64encode(bytes(clinic.logo)).decode()
                if clinic.logo
                else ""
            ),
        },
    )
    return render_in_child(html)


# --- data.json (subject access) --------------------------------------------------------------


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def subject_data(record: Record) -> bytes:
    """Everything held about the patient, machine-readable (schema in docs/evidence-format.md)."""
    export = record.export
    patient = export.patient
    labels = dict(ConsentUse.choices)
    data: dict[str, Any] = {
        "schema": DATA_SCHEMA,
        "generated_at": _iso(timezone.now()),
        "export_id": str(export.pk),
        "clinic": {"id": str(export.clinic_id), "name": export.clinic.name},
        "patient": _patient_data(patient),
        "episodes": [_episode_data(e) for e in record.episodes],
        "photos": [_photo_data(p, record.paths.get(str(p.pk), "")) for p in record.photos],
        "consents": [_consent_data(c) for c in record.consents],
        "withdrawals": [_withdrawal_data(w) for w in record.withdrawals],
        "consent_periods": [
            {"use": label, "from": _iso(p.start), "until": _iso(p.end)}
            for label, periods in record.periods
            for p in periods
        ],
        "marketing_uses": [_marketing_data(m, labels) for m in record.marketing],
        "shares": [],
        "exports": [_export_data(e) for e in record.earlier_exports],
        "audit_events": [_audit_data(a) for a in record.audit],
    }
    for part in PARTS.values():
        if part.data is not None:
            data[part.name] = part.data(export)
    return json.dumps(data, indent=2, ensure_ascii=False).encode() + b"\n"


def _patient_data(patient: Patient) -> dict[str, Any]:
    return {
        "id": str(patient.pk),
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "email": patient.email,
        "phone": patient.phone,
        "notes": patient.notes,
        "created_at": _iso(patient.created_at),
        "archived_at": _iso(patient.archived_at),
    }


def _episode_data(e: TreatmentEpisode) -> dict[str, Any]:
    return {
        "id": str(e.pk),
        "treatment_type": e.treatment_type,
        "treatment": e.get_treatment_type_display(),
        "areas": list(e.areas),
        "performed_on": e.performed_on.isoformat(),
        "practitioner": e.practitioner.full_name,
        "product": e.product,
        "batch_number": e.batch_number,
        "notes": e.notes,
    }


def _photo_data(p: Photo, file: str) -> dict[str, Any]:
    return {
        "id": str(p.pk),
        "episode_id": str(p.episode_id),
        "stage": p.stage,
        "area": p.area,
        "view": p.view,
        "taken_at": _iso(p.taken_at),
        "taken_by": p.taken_by.full_name,
        "uploaded_at": _iso(p.uploaded_at),
        "notes": p.notes,
        "original_sha256": p.original_sha256,
        "original_size": p.original_size,
        "original_mime": p.original_mime,
        "file": file,
    }


def _consent_data(c: ConsentRecord) -> dict[str, Any]:
    return {
        "id": str(c.pk),
        "signed_at": _iso(c.signed_at),
        "typed_name": c.typed_name,
        "signature_method": c.signature_method,
        "form_version": c.template.version,
        "text_shown": c.text_shown,
        "text_sha256": c.text_sha256,
        "uses_granted": list(c.uses_granted),
        "uses_refused": list(c.uses_refused),
        "ip": c.ip,
        "user_agent": c.user_agent,
    }


def _withdrawal_data(w: Any) -> dict[str, Any]:
    return {
        "id": str(w.pk),
        "withdrawn_at": _iso(w.withdrawn_at),
        "uses": list(w.uses),
        "channel": w.channel,
        "note": w.note,
        "undone_at": _iso(w.undone_by.restored_at) if _undone(w) else None,
    }


def _marketing_data(m: Any, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "photo_id": str(m.photo_id),
        "use": m.use,
        "use_label": labels.get(m.use, m.use),
        "added_at": _iso(m.added_at),
        "removed_at": _iso(m.removed_at),
        "removed_reason": m.removed_reason,
    }


def _export_data(e: Export) -> dict[str, Any]:
    return {
        "id": str(e.pk),
        "requested_at": _iso(e.requested_at),
        "recipient": e.recipient,
        "reason": e.reason,
        "state": e.state,
    }


def _audit_data(a: Any) -> dict[str, Any]:
    return {
        "seq": a.seq,
        "at": _iso(a.created_at),
        "actor": a.actor_label or "system",
        "action": a.action,
        "target_type": a.target_type,
        "target_id": a.target_id,
        "hash": a.hash,
    }
