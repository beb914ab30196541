"""python manage.py audit_reseal [--clinic SLUG]: once, after upgrading to sealed personal
detail. Events written before it hold some patients' personal fields in clear; this appends
``audit.personal_resealed`` events with sealed copies (never editing an old event), so the
application reads them, and forgets them on erasure, like the new ones. Safe to run again."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from audit.personal import reseal_legacy
from clinic.models import Clinic


class Command(BaseCommand):
    help = (
        "Append sealed copies of the personal fields that events written before sealing hold "
        "in clear (per patient); old events are not changed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--clinic", metavar="SLUG", help="only this clinic's chain")

    def handle(self, *args, clinic: str | None = None, **options) -> None:
        clinics = Clinic.objects.order_by("slug")
        if clinic:
            clinics = clinics.filter(slug=clinic)
            if not clinics.exists():
                raise CommandError(f"No clinic with slug {clinic!r}.")
        for target in clinics:
            count = reseal_legacy(clinic_id=target.id)
            self.stdout.write(f"{target.slug}: {count} older event(s) given a sealed copy")
