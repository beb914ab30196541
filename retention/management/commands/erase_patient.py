"""``python manage.py erase_patient --clinic SLUG --patient UUID --confirm [--reason TEXT]``:
the erasure the erasure page makes, for operators. Refused without ``--confirm``, under a
legal hold, and before retention ends unless ``--reason`` says why (recorded)."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from clinic import selectors as clinic_selectors
from clinic.tenancy import clinic_context
from patients import selectors as patient_selectors
from retention import services


class Command(BaseCommand):
    help = "Erase one patient's record (crypto-shred and delete); prints the recipients to tell."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--clinic", required=True, help="clinic slug")
        parser.add_argument("--patient", required=True, help="patient id (UUID)")
        parser.add_argument(
            "--confirm", action="store_true", help="required: yes, erase this record for good"
        )
        parser.add_argument("--reason", default="", help="why, when retention has not ended")

    def handle(self, *args, **options) -> None:
        if not options["confirm"]:
            raise CommandError("Refused: add --confirm to erase the record. Nothing was erased.")
        try:
            patient_id = uuid.UUID(options["patient"])
        except ValueError as error:
            raise CommandError(f"--patient must be a UUID, not {options['patient']!r}") from error
        clinic = clinic_selectors.clinic_by_slug(options["clinic"])
        if clinic is None:
            raise CommandError(f"No clinic with slug {options['clinic']!r}.")
        with clinic_context(clinic.pk):
            patient = patient_selectors.patient_get(clinic=clinic, patient_id=patient_id)
            if patient is None:
                raise CommandError("No such patient at this clinic. Nothing was erased.")
            try:
                erasure = services.patient_erase(
                    clinic=clinic,
                    patient=patient,
                    by=None,
                    confirmed=True,
                    early_reason=options["reason"],
                )
            except ValidationError as error:
                raise CommandError(" ".join(error.messages)) from error
        self.stdout.write(f"erased {erasure.patient_id}: tombstone {erasure.pk}")
        if erasure.recipients:
            self.stdout.write("Tell these recipients of earlier exports (Art. 19):")
            for r in erasure.recipients:
                self.stdout.write(
                    f"  {r['recipient']}\t{r['reason']}\t{r['exported_at'][:10]}\t"
                    f"{r['downloads']} download(s)"
                )
        else:
            self.stdout.write("No export of this record went to anyone but the patient.")
