"""``manage.py verify_export FILE.zip [--clinic SLUG]``: check an evidence bundle as its
recipient would (VERIFY.txt's steps and more) against the clinic's own published keys, and name
every file that differs. Exit 0 when intact, 1 when not, 2 when it cannot be checked."""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clinic.models import Clinic
from clinic.tenancy import clinic_context
from exports import services


def _claimed_clinic(path: Path) -> str:
    """The clinic id the bundle's manifest names (a hint for whose keys to use: the signature
    check then decides)."""
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
        return str(uuid.UUID(str(manifest["clinic"]["id"])))
    except (KeyError, ValueError, TypeError, zipfile.BadZipFile, OSError):
        return ""


class Command(BaseCommand):
    help = "Check an evidence bundle against the clinic's keys; name each file that differs."

    def add_arguments(self, parser) -> None:
        parser.add_argument("bundle", help="the bundle's .zip file")
        parser.add_argument(
            "--clinic", help="the clinic's slug (default: the clinic the bundle names)"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, bundle: str, clinic: str | None = None, **options) -> None:
        path = Path(bundle)
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        if clinic:
            found = Clinic.objects.filter(slug=clinic).first()
            if found is None:
                raise CommandError(f"No clinic with the slug {clinic!r}")
        else:
            claimed = _claimed_clinic(path)
            found = Clinic.objects.filter(pk=claimed).first() if claimed else None
            if found is None:
                raise CommandError(
                    "The bundle names no clinic of this installation (its manifest.json is "
                    "missing, unreadable or from elsewhere); say whose keys to use with --clinic."
                )
        with clinic_context(found.pk):
            report = services.bundle_check(clinic=found, source=str(path), by=None)
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": report.ok,
                        "clinic": found.slug,
                        "export_id": report.manifest.get("export_id") if report.manifest else None,
                        "files_checked": report.files_checked,
                        "signed_by": report.signed_by.fingerprint if report.signed_by else None,
                        "timestamp": report.timestamp,
                        "problems": [{"file": f, "problem": p} for f, p in report.problems],
                    },
                    indent=2,
                )
            )
        else:
            for note in report.notes:
                self.stdout.write(f"ok       {note}")
            for file, problem in report.problems:
                self.stdout.write(f"PROBLEM  {file}: {problem}")
            if report.timestamp:
                self.stdout.write(f"time     {report.timestamp}")
            verdict = (
                f"INTACT: {report.files_checked} files as {found.name} signed them"
                if report.ok
                else f"NOT INTACT: {len(report.changed_files)} file(s) differ: "
                + ", ".join(report.changed_files)
            )
            self.stdout.write(verdict)
        if not report.ok:
            raise SystemExit(1)
