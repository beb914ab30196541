"""``python manage.py retention_due [--clinic SLUG]``: the records past their clinic's retention
period and not under a legal hold, one per line starting with the patient's UUID. Lists only:
erasure needs an admin's confirmation (``erase_patient``)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from clinic import selectors as clinic_selectors
from clinic.models import Clinic
from clinic.tenancy import clinic_context
from retention import selectors, services

LABEL = "system (retention_due command)"


class Command(BaseCommand):
    help = "List patients due for erasure: UUID, clinic, kept-until date, basis, name."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--clinic", metavar="SLUG", help="only this clinic")

    def handle(self, *args, clinic: str | None = None, **options) -> None:
        if clinic:
            found = clinic_selectors.clinic_by_slug(clinic)
            if found is None:
                raise CommandError(f"No clinic with slug {clinic!r}.")
            clinics = [found]
        else:
            clinics = list(Clinic.objects.order_by("slug"))
        for each in clinics:
            with clinic_context(each.pk):
                due = selectors.patients_due(clinic=each)
                services.due_listed(clinic=each, due=due, actor_label=LABEL)
            for r in due:
                self.stdout.write(
                    f"{r.patient.pk}\t{each.slug}\t{r.ends_on.isoformat()}\t"
                    f"{r.retention.basis}\t{r.patient.full_name}"
                )
