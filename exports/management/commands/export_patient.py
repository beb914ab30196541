"""``python manage.py export_patient``: the same export as the page, for operators; audited as
the system, naming the recipient."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clinic import selectors as clinic_selectors
from clinic.tenancy import clinic_context
from exports import services
from exports.bundle import AlteredOriginal
from exports.models import ExportReason, ExportState
from exports.selectors import export_get
from patients import selectors as patient_selectors
from vault.storage import BlobUnreadable


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as error:
        raise CommandError(f"{what} must be a UUID, not {value!r}") from error


class Command(BaseCommand):
    help = "Export one patient's record (or one treatment) as a signed evidence ZIP."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--clinic", required=True, help="clinic slug")
        parser.add_argument("--patient", required=True, help="patient id (UUID)")
        parser.add_argument("--recipient", required=True, help="who receives the export")
        parser.add_argument("--reason", required=True, choices=ExportReason.values)
        parser.add_argument("--out", required=True, help="the ZIP file to write")
        parser.add_argument("--episode", help="only this treatment (UUID)")

    def handle(self, *args, **options) -> None:
        clinic = clinic_selectors.clinic_by_slug(options["clinic"])
        if clinic is None:
            raise CommandError(f"no clinic with slug {options['clinic']!r}")
        patient_id = _uuid(options["patient"], "--patient")
        episode_id = _uuid(options["episode"], "--episode") if options["episode"] else None
        out = Path(options["out"])
        if not out.parent.is_dir():
            raise CommandError(f"the folder {out.parent} does not exist")
        with clinic_context(clinic.pk):
            patient = patient_selectors.patient_get(clinic=clinic, patient_id=patient_id)
            if patient is None:
                raise CommandError("no such patient in this clinic")
            episode = None
            if episode_id:
                episode = patient_selectors.episode_get(clinic=clinic, episode_id=episode_id)
                if episode is None or episode.patient_id != patient.pk:
                    raise CommandError("no such treatment of this patient")
            try:
                export = services.export_create(
                    clinic=clinic,
                    patient=patient,
                    recipient=options["recipient"],
                    reason=options["reason"],
                    episode=episode,
                    by=None,
                    queue=False,
                )
            except services.ExportRefused as refusal:
                raise CommandError(" ".join(refusal.messages)) from refusal
        try:
            with clinic_context(clinic.pk):
                services.export_build(clinic_id=clinic.pk, export_id=export.pk)
        except (AlteredOriginal, BlobUnreadable) as error:
            with clinic_context(clinic.pk):
                services.export_fail(clinic_id=clinic.pk, export_id=export.pk, reason=str(error))
        with clinic_context(clinic.pk):
            export = export_get(clinic=clinic, export_id=export.pk)  # type: ignore[assignment]  # made above
            if export.state != ExportState.READY:
                raise CommandError(f"the export could not be built: {export.failure_reason}")
            chunks = services.export_download(export=export, by=None, channel="export_patient")
            partial = out.with_name(out.name + ".part")
            with partial.open("wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
            partial.replace(out)
        self.stdout.write(
            f"Wrote {out} ({export.size} bytes, {export.files} files) for {export.recipient}; "
            f"manifest SHA-256 {export.manifest_sha256}."
        )
