"""python manage.py verify_audit [--clinic SLUG]: exit 0 when every chain verifies, else 1."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from audit import verify
from audit.verify import verify_chain


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chains (every clinic's and the system chain), each "
        "against its latest checkpoint; name every broken chain, the event and what is wrong."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--clinic", metavar="SLUG", help="verify only this clinic's chain")

    def handle(self, *args, clinic: str | None = None, **options) -> None:
        try:
            chains = verify.chains(clinic)
        except verify.UnknownClinic as error:
            raise CommandError(str(error)) from error
        failed = False
        for label, clinic_id in chains:
            report = verify_chain(clinic_id)
            if report.ok:
                against = (
                    f", matching {report.checkpoint.label} (#{report.checkpoint.seq})"
                    if report.checkpoint
                    else " (no checkpoint yet)"
                )
                self.stdout.write(f"OK      {label}: {report.checked} events verified{against}")
                continue
            failed = True
            for problem in report.problems():
                word = "ERROR " if problem.startswith("checkpoint not checked") else "BROKEN"
                self.stdout.write(f"{word}  {label}: {problem}")
        if failed:
            sys.exit(1)
