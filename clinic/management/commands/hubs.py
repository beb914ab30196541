"""``manage.py hubs``: every extension point of the house and what is plugged into it."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from clinic.hubs import HUBS


class Command(BaseCommand):
    help = "List every hub (extension point), what it is for, and what each room registered."

    def handle(self, *args, **options) -> None:
        for name in sorted(HUBS):
            hub = HUBS[name]
            self.stdout.write(f"{name}: {hub.purpose}")
            for entry in hub.entries():
                self.stdout.write(f"  {entry.order:>3}  {entry.name}  ({entry.module})")
            if not hub.entries():
                self.stdout.write("       nothing registered")
