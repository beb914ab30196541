"""Queue photos for processing again: those still processing, or with --failed those that
failed (for instance after PHOTO_DECODE_MEMORY_MB was raised)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from clinic.models import Clinic
from clinic.tenancy import clinic_context
from photos.services import photos_requeue


class Command(BaseCommand):
    help = "Re-queue processing photos (or, with --failed, failed ones) of one or every clinic."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--clinic", metavar="SLUG", help="only this clinic")
        parser.add_argument("--failed", action="store_true", help="re-queue failed photos")

    def handle(self, *args, clinic: str | None = None, failed: bool = False, **options) -> None:
        clinics = Clinic.objects.order_by("slug")
        if clinic:
            clinics = clinics.filter(slug=clinic)
            if not clinics.exists():
                raise CommandError(f"No clinic with the slug {clinic!r}.")
        total = 0
        for each in clinics:
            with clinic_context(each.id):
                count = photos_requeue(clinic=each, failed=failed)
            if count:
                self.stdout.write(f"{each.slug}: {count} photo(s) queued again")
            total += count
        self.stdout.write(f"{total} photo(s) queued again in all.")
