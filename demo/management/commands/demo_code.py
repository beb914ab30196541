"""python manage.py demo_code EMAIL: the current two-factor code of a demo account."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo import seed as demo


class Command(BaseCommand):
    help = "Print the current TOTP code (or, with --key, the key) of a demo account."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--key", action="store_true", help="print the base32 key instead")

    def handle(self, *args, email: str, key: bool, **options) -> None:
        if settings.PRODUCTION:
            raise CommandError("demo_code only works outside production.")
        if email not in {e for _s, _n, staff in demo.DEMO_CLINICS for e, _f, _r in staff}:
            raise CommandError(f"{email} is not a demo account.")
        if key:
            from base64 import b32encode

            self.stdout.write(b32encode(bytes.fromhex(demo.demo_totp_key(email))).decode())
        else:
            self.stdout.write(demo.demo_code(email))
