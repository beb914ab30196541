"""python manage.py seed_scale: a clinic chain's volumes in PostgreSQL, for benchmarks and load."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo.scale import SeedRefused, seed_scale


class Command(BaseCommand):
    help = (
        "Load several clinics' patients, episodes, photos (with their encrypted objects' rows), "
        "signed consents and valid audit chains by COPY. Run as the database owner, on an empty "
        "database of its own; prints a JSON summary last."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--patients", type=int, default=100_000)
        parser.add_argument("--photos", type=int, default=1_000_000)
        parser.add_argument("--events", type=int, default=2_000_000)
        parser.add_argument("--clinics", type=int, default=4)
        parser.add_argument(
            "--objects-for",
            type=int,
            default=20,
            help="patients per clinic whose photos get real encrypted objects in the bucket",
        )

    def handle(self, *args, **options) -> None:
        if settings.PRODUCTION:
            raise CommandError(
                "seed_scale fills a database with synthetic records, not production."
            )
        for name in ("patients", "photos", "events", "clinics"):
            if options[name] < (1 if name == "clinics" else 0):
                raise CommandError(f"--{name} must be a positive number.")
        if options["patients"] < 2 * options["clinics"]:
            raise CommandError("Give at least two patients per clinic.")
        try:
            summary = seed_scale(
                patients=options["patients"],
                photos=options["photos"],
                events=options["events"],
                clinics=options["clinics"],
                objects_for=options["objects_for"],
                say=lambda line: self.stderr.write(line),
            )
        except SeedRefused as error:
            raise CommandError(str(error)) from error
        self.stdout.write(json.dumps(summary))
