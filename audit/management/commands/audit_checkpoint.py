"""python manage.py audit_checkpoint [--clinic SLUG]: write checkpoints now (the daily beat
task does the same); exit 1 if one was refused or the store cannot be reached."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from audit import checkpoints, verify


class Command(BaseCommand):
    help = (
        "Write a signed checkpoint of every audit chain (or one clinic's) to the object store, "
        "after checking the chain still matches its last one."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--clinic", metavar="SLUG", help="only this clinic's chain")

    def handle(self, *args, clinic: str | None = None, **options) -> None:
        try:
            chains = verify.chains(clinic)
        except verify.UnknownClinic as error:
            raise CommandError(str(error)) from error
        failed = False
        for label, clinic_id in chains:
            try:
                written = checkpoints.write(clinic_id)
            except checkpoints.CheckpointStoreUnavailable as error:
                raise CommandError(f"Checkpoint store unavailable: {error}") from error
            except checkpoints.CheckpointRefused as refusal:
                failed = True
                self.stdout.write(f"REFUSED {label}: {refusal}")
                continue
            if written is None:
                self.stdout.write(f"EMPTY   {label}: no events yet, nothing to vouch for")
            else:
                self.stdout.write(
                    f"WROTE   {label}: #{written.seq} {written.head_hash[:16]}… -> {written.name}"
                )
        if failed:
            sys.exit(1)
