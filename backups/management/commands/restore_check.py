"""python manage.py restore_check: after a restore, decrypt every object the database refers
to and verify every audit chain; exit 1 on any problem. backup_verify runs it against its
scratch copy; an operator can run it after a real restore."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from audit import verify
from clinic.models import Clinic
from clinic.tenancy import clinic_context
from vault.keys import MasterKeyProblem
from vault.models import Blob
from vault.storage import BlobUnreadable, StorageUnavailable, blob_read


class Command(BaseCommand):
    help = "Decrypt every stored object and verify every audit chain of this (restored) stack."

    def handle(self, *args, **options) -> None:
        problems: list[str] = []
        checked = 0
        for clinic in Clinic.objects.all():
            with clinic_context(clinic.pk):
                blobs = Blob.objects.filter(clinic=clinic, wrapped_key__isnull=False)
                for blob in blobs.iterator():
                    try:
                        blob_read(blob)
                        checked += 1
                    except (BlobUnreadable, StorageUnavailable) as error:
                        problems.append(f"{clinic.slug}: object {blob.object_name}: {error}")
                    except MasterKeyProblem as error:
                        # Every object of the clinic would fail alike: one line says why.
                        problems.append(f"{clinic.slug}: the master key: {error}")
                        break
        chains = verify.chains(None)
        for label, clinic_id in chains:
            report = verify.verify_chain(clinic_id)
            problems.extend(f"audit chain {label}: {p}" for p in report.problems())
        for problem in problems[:50]:
            self.stdout.write(f"PROBLEM {problem}")
        self.stdout.write(f"objects={checked} chains={len(chains)} problems={len(problems)}")
        if problems:
            sys.exit(1)
