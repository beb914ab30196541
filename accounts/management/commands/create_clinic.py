"""python manage.py create_clinic --name NAME --admin-email EMAIL [--slug SLUG]
[--reply-to EMAIL]: a new clinic in production, and an e-mailed invitation for its first admin.
Refused, with a message, exit status 1 and nothing written, for a clinic that exists already
(same slug or name) or an address that is not one."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from clinic import selectors
from clinic.tokens import lifetime_text

# Who made the clinic, in its audit trail.
OPERATOR = "manage.py create_clinic"


class Command(BaseCommand):
    help = (
        "Create a clinic and e-mail its first admin an invitation (audited). With the stack "
        "running: docker compose run --rm web python manage.py create_clinic --name NAME "
        "--admin-email EMAIL"
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True, help="the clinic's name, as patients see it")
        parser.add_argument(
            "--admin-email", required=True, help="who is invited as the clinic's first admin"
        )
        parser.add_argument(
            "--slug",
            default="",
            help="the clinic's name in its addresses (default: made from the name)",
        )
        parser.add_argument(
            "--reply-to",
            default="",
            metavar="EMAIL",
            help="where answers to the clinic's e-mails go (the admin can change it later)",
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=30,
            metavar="SECONDS",
            help="how long to wait for the worker to send the invitation (default 30)",
        )

    def handle(self, *args, name, admin_email, slug, reply_to, wait, **options) -> None:
        try:
            invitation = services.clinic_create_with_invitation(
                name=name,
                slug=slug,
                admin_email=admin_email,
                reply_to_email=reply_to,
                operator=OPERATOR,
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        clinic = invitation.clinic
        self.stdout.write(f"Created {clinic.name} (slug {clinic.slug}).")
        sent, problem = self.wait_for_email(invitation, wait)
        lifetime = lifetime_text(settings.INVITATION_LIFETIME)
        if sent:
            self.stdout.write(
                f"Invited {invitation.email} as its first admin: the e-mailed link works "
                f"for {lifetime}."
            )
            return
        # The clinic exists either way; the outbox keeps the e-mail and the worker retries it.
        self.stderr.write(
            f"The invitation to {invitation.email} is not sent yet"
            + (f": {problem}" if problem else " (is the worker running?)")
            + ". It stays queued and is retried until it leaves: check the EMAIL_* settings "
            "and the worker's log."
        )

    @staticmethod
    def wait_for_email(invitation, seconds: float) -> tuple[bool, str]:
        """Whether the invitation's e-mail left within ``seconds`` (sent in this process when
        tasks run eagerly, else by the worker), and the last error if not."""
        deadline = time.monotonic() + seconds
        while True:
            sent, problem = selectors.invitation_delivery(
                clinic=invitation.clinic, invitation=invitation
            )
            if sent or time.monotonic() >= deadline:
                return sent, problem
            time.sleep(0.5)
