"""python manage.py rotate_keys [--clinic SLUG] [--new-clinic-key]

After setting a new MASTER_KEY (with the old one in MASTER_KEYS_PREVIOUS) or KMS_KEY_ID:
re-wraps every clinic key under it. With --new-clinic-key also starts a new clinic key
version and re-wraps each data key. No object is re-encrypted in either case.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.services import two_factor_keys_reseal
from clinic.models import Clinic
from vault.services import clinic_keys_rotate


class Command(BaseCommand):
    help = "Re-wrap clinic keys under the current master key; optionally new clinic keys."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--clinic", metavar="SLUG")
        parser.add_argument(
            "--new-clinic-key",
            action="store_true",
            help="also start a new clinic key version and re-wrap data keys",
        )

    def handle(
        self, *args, clinic: str | None = None, new_clinic_key: bool = False, **options
    ) -> None:
        clinics = Clinic.objects.order_by("slug")
        if clinic:
            clinics = clinics.filter(slug=clinic)
            if not clinics.exists():
                raise CommandError(f"No clinic with slug {clinic!r}.")
        for target in clinics:
            details = clinic_keys_rotate(clinic=target, new_clinic_key=new_clinic_key)
            self.stdout.write(
                f"{target.slug}: " + ", ".join(f"{k}={v}" for k, v in details.items())
            )
        if not clinic:
            # Authenticator keys are sealed under a key derived from the master key too.
            self.stdout.write(f"two-factor keys re-sealed: {two_factor_keys_reseal()}")
