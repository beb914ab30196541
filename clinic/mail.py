"""Every e-mail sent for a clinic says who it is from: the clinic's name as the sender's name
(at the app's one sending address, DEFAULT_FROM_EMAIL, which the mail server may send for) and
the clinic's own address as Reply-To. A patient asked for their date of birth recognises the
clinic, and an answer reaches the clinic rather than a no-reply box."""

from __future__ import annotations

from collections.abc import Sequence
from email.headerregistry import Address
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage

from clinic.models import Clinic


def clinic_sender(clinic: Clinic) -> str:
    """``"Clinic Name" <the app's sending address>``."""
    _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    # One line, whatever the name holds: a header cannot be split by it.
    name = " ".join(clinic.name.split())
    return str(Address(display_name=name, addr_spec=address))


def clinic_email(*, clinic: Clinic, subject: str, body: str, to: Sequence[str]) -> EmailMessage:
    """A plain-text message from the clinic (see the module docstring); attach, then send."""
    return EmailMessage(
        subject,
        body,
        from_email=clinic_sender(clinic),
        to=list(to),
        reply_to=[clinic.reply_to_email] if clinic.reply_to_email else None,
    )


def send_clinic_mail(*, clinic: Clinic, subject: str, body: str, to: Sequence[str]) -> None:
    """Send a plain-text message from the clinic."""
    clinic_email(clinic=clinic, subject=subject, body=body, to=to).send()
