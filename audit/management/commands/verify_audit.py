"""python manage.py verify_audit [--clinic SLUG]: exit 0 when every chain verifies, else 1."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from audit.verify import verify_chain
from clinic.models import Clinic


class Command(BaseCommand):
    help = "Verify the hash chain of the audit trail, per clinic; name the first broken link."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--clinic", metavar="SLUG", help="verify only this clinic's chain")

    def handle(self, *args, clinic: str | None = None, **options) -> None:
        if clinic:
            found = Clinic.objects.filter(slug=clinic).first()
            if found is None:
                raise CommandError(f"No clinic with slug {clinic!r}.")
            chains = [(found.slug, found.id)]
        else:
            chains = [(c.slug, c.id) for c in Clinic.objects.order_by("slug")]
            chains.append(("(system)", None))
        broken = False
        for label, clinic_id in chains:
            report = verify_chain(clinic_id)
            if report.ok:
                self.stdout.write(f"OK      {label}: {report.checked} events verified")
            else:
                broken = True
                self.stdout.write(
                    f"BROKEN  {label}: event #{report.broken_seq} "
                    f"(id {report.broken_event_id}): {report.reason}; "
                    f"{report.checked} events before it verified"
                )
                break
        if broken:
            sys.exit(1)
