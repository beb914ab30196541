"""`manage.py create_clinic`: the first clinic and its admin in production. The clinic is made,
its first admin is e-mailed an invitation in the clinic's name, both are in the clinic's audit
trail; a clinic that exists already or an address that is not one is refused with a message,
exit status 1 and nothing written. Over HTTPS, on production settings, with a browser:
tests/browser/test_https_journey.py."""

import io
import os
import re
import subprocess
import sys
from email.utils import parseaddr

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import Client, override_settings
from django.urls import reverse

from accounts.management.commands.create_clinic import OPERATOR
from audit.models import AuditEvent
from clinic.models import Clinic, Invitation, Job, Membership, User
from clinic.tenancy import clinic_context
from tests import factories as f
from tests.conftest import APP_ROLE, ROOT

# Committed, as the command's own transaction is in production: the invitation's e-mail
# leaves after commit (in-process here, CELERY_TASK_ALWAYS_EAGER).
pytestmark = pytest.mark.usefixtures("committed_db")


def create_clinic(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_clinic", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def unique_name() -> str:
    return f"Harbour Aesthetics {f.unique('')}"


def counts() -> tuple[int, int, int, int]:
    """Clinics, invitations, audit events and outbox jobs: what a refusal must not change."""
    return (
        Clinic.objects.count(),
        Invitation.objects.count(),
        AuditEvent.objects.count(),
        Job.objects.count(),
    )


def test_a_clinic_is_made_and_its_first_admin_invited_in_its_name():
    name = unique_name()
    out, err = create_clinic(
        "--name",
        name,
        "--admin-email",
        "Nadia@Harbour.example",
        "--reply-to",
        "desk@harbour.example",
    )
    clinic = Clinic.objects.get(name=name)
    assert clinic.slug == re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    assert clinic.reply_to_email == "desk@harbour.example"
    assert f"Created {name} (slug {clinic.slug})." in out
    assert "Invited nadia@harbour.example as its first admin" in out and err == ""

    (message,) = mail.outbox
    assert message.to == ["nadia@harbour.example"]
    assert parseaddr(message.from_email)[0] == name
    assert message.reply_to == ["desk@harbour.example"]
    assert f"{name} is ready on Clinic Photos, and you are its first Clinic admin" in message.body
    with clinic_context(clinic.id):
        events = list(AuditEvent.objects.filter(clinic=clinic).order_by("seq"))
        assert not Membership.objects.filter(clinic=clinic).exists()
    assert [e.action for e in events] == ["clinic.created", "staff.invited"]
    assert {e.actor_label for e in events} == {OPERATOR} and {e.actor_id for e in events} == {None}
    assert events[1].details == {"email": "nadia@harbour.example", "role": "admin"}

    # The link makes the first admin, who then sets up two-factor sign-in.
    link = re.search(r"https?://[^/]+(/invite/\S+)", message.body).group(1)
    password = "a-long-enough-passphrase-1"
    response = Client().post(
        link, {"full_name": "Nadia Nurse", "password": password, "password_again": password}
    )
    assert response["Location"] == reverse("two_factor_setup")
    with clinic_context(clinic.id):
        membership = Membership.objects.get(clinic=clinic)
    assert membership.user == User.objects.get(email="nadia@harbour.example")
    assert membership.role == "admin"


def test_a_slug_that_exists_already_is_refused_and_nothing_changes():
    existing = f.make_clinic("Glow Clinic")
    before = counts()
    with pytest.raises(CommandError, match=f"A clinic with the slug {existing.slug} exists"):
        create_clinic(
            "--name", unique_name(), "--slug", existing.slug, "--admin-email", "a@b.example"
        )
    assert counts() == before and not mail.outbox


def test_the_same_name_again_is_refused_whatever_its_case():
    name = unique_name()
    create_clinic("--name", name, "--admin-email", "first@harbour.example")
    mail.outbox.clear()
    before = counts()
    with pytest.raises(CommandError, match="exists already"):
        create_clinic("--name", name.upper(), "--admin-email", "second@harbour.example")
    assert counts() == before and not mail.outbox


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--admin-email", "nadia@"], "'nadia@' is not an e-mail address (the admin's address)"),
        (["--admin-email", "ok@harbour.example", "--reply-to", "desk"], "the reply-to address"),
        (["--admin-email", "ok@harbour.example", "--slug", "Harbour_Clinic"], "cannot be a clinic"),
        (["--admin-email", "ok@harbour.example", "--slug", "a" * 61], "at most 60 characters"),
    ],
)
def test_bad_input_gets_a_clear_message_and_changes_nothing(args, message):
    before = counts()
    with pytest.raises(CommandError, match=re.escape(message)):
        create_clinic("--name", unique_name(), *args)
    assert counts() == before and not mail.outbox


def test_a_blank_name_is_refused():
    with pytest.raises(CommandError, match="The clinic needs a name"):
        create_clinic("--name", "   ", "--admin-email", "a@b.example")


def test_when_the_mail_server_is_down_the_clinic_is_made_and_the_invitation_waits(caplog):
    name = unique_name()
    down = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": 9,  # discard: nothing listens
        "EMAIL_USE_TLS": False,
        "EMAIL_TIMEOUT": 5,
    }
    with override_settings(**down):
        out, err = create_clinic(
            "--name", name, "--admin-email", "nadia@harbour.example", "--wait", "0"
        )
    clinic = Clinic.objects.get(name=name)
    assert "Created" in out
    assert "The invitation to nadia@harbour.example is not sent yet: ConnectionRefusedError" in err
    assert "retried until it leaves" in err
    with clinic_context(clinic.id):
        (invitation,) = Invitation.objects.filter(clinic=clinic)
        assert invitation.emailed_at is None
        (job,) = Job.objects.filter(clinic=clinic, state="pending")
        assert job.kwargs["invitation_id"] == str(invitation.id)
        # Committed work this test leaves owed would be resent by another test's sweep (they
        # share the database): it is settled here, as the worker would once the mail leaves.
        job.state = "done"
        job.save(update_fields=["state"])


def test_a_refusal_exits_with_status_1_from_the_shell():
    existing = f.make_clinic("Exit Status Clinic")
    db = connections["default"].settings_dict
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env["DATABASE_URL"] = f"postgres://{APP_ROLE}@127.0.0.1:5432/{db['NAME']}"
    result = subprocess.run(
        [sys.executable, "manage.py", "create_clinic", "--name", "Another",
         "--slug", existing.slug, "--admin-email", "a@b.example"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"A clinic with the slug {existing.slug} exists already" in result.stderr
    assert "Traceback" not in result.stderr
