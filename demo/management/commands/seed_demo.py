"""python manage.py seed_demo: demo clinics with staff, patients and treatments."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings

from demo import seed as demo


class Command(BaseCommand):
    help = "Create two demo clinics (synthetic data) and print how to sign in."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--patients", type=int, default=36, help="patients per clinic")

    def handle(self, *args, patients: int, **options) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_demo is for demonstrations, not a production database.")
        # The demo's consent e-mails go nowhere: the console would drown the sign-in help.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            demo.seed(patients_per_clinic=patients)
        self.stdout.write(demo.login_help())
