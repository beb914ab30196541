"""Clinic admins invite staff, change roles and deactivate; invitations are single-use links."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from clinic.models import Invitation, Membership, User
from clinic.tenancy import clinic_context, service_write
from tests import factories as f

# Also run on SQLite, the embedded default (see tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def invite(cast, email="new.nurse@example.com", role="practitioner") -> str:
    admin = f.verified_client(cast.admin)
    with TestCase.captureOnCommitCallbacks(execute=True):  # the worker's e-mail, in-process
        response = admin.post(
            reverse("staff_list", kwargs={"clinic_slug": cast.clinic_a.slug}),
            {"email": email, "role": role},
        )
    assert response.status_code == 302
    link = re.search(r"http://testserver(/invite/\S+)", mail.outbox[-1].body).group(1)
    return link


def accept(link, name="Nina New", password="a-long-enough-passphrase-1"):
    client = Client()
    response = client.post(
        link, {"full_name": name, "password": password, "password_again": password}
    )
    return client, response


def test_invited_person_creates_account_and_is_sent_to_two_factor_setup(cast):
    link = invite(cast)
    assert mail.outbox[-1].to == ["new.nurse@example.com"]
    token = link.rstrip("/").split("/")[-1]
    with clinic_context(cast.clinic_a.id):
        assert not Invitation.objects.filter(token_hash=token).exists()  # only the hash is kept
    client, response = accept(link)
    assert response["Location"] == reverse("two_factor_setup")
    user = User.objects.get(email="new.nurse@example.com")
    with clinic_context(cast.clinic_a.id):
        assert Membership.objects.get(clinic=cast.clinic_a, user=user).role == "practitioner"


def test_used_invitation_link_gets_a_clear_message(cast):
    link = invite(cast)
    accept(link)
    _, response = accept(link, name="Someone Else")
    assert response.status_code == 410
    assert "already been used" in response.content.decode()
    assert User.objects.filter(email="new.nurse@example.com").count() == 1


def test_expired_invitation_link_gets_a_clear_message_and_changes_nothing(cast):
    link = invite(cast)
    with clinic_context(cast.clinic_a.id), service_write("test: a week passes"):
        Invitation.objects.filter(clinic=cast.clinic_a).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    page = Client().get(link)
    assert page.status_code == 410
    assert "This invitation has expired" in page.content.decode()
    _, response = accept(link)
    assert response.status_code == 410
    assert not User.objects.filter(email="new.nurse@example.com").exists()


def test_newer_invitation_supersedes_the_older_link(cast):
    old_link = invite(cast)
    invite(cast)
    response = Client().get(old_link)
    assert response.status_code == 410
    assert "replaced by a newer one" in response.content.decode()


def test_tampered_or_unknown_invitation_link_is_404(cast):
    link = invite(cast)
    assert Client().get(link[:-3] + "xx/").status_code == 404
    assert Client().get(link.replace(cast.clinic_a.slug, cast.clinic_b.slug)).status_code == 404


def test_weak_password_is_refused_and_nothing_is_created(cast):
    link = invite(cast)
    _, response = accept(link, password="12345")
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    assert not User.objects.filter(email="new.nurse@example.com").exists()


def test_existing_user_joins_a_second_clinic_as_locum(cast):
    admin_b = f.verified_client(cast.stranger)
    with TestCase.captureOnCommitCallbacks(execute=True):
        admin_b.post(
            reverse("staff_list", kwargs={"clinic_slug": cast.clinic_b.slug}),
            {"email": cast.practitioner.email, "role": "practitioner"},
        )
    link = re.search(r"http://testserver(/invite/\S+)", mail.outbox[-1].body).group(1)
    locum = f.verified_client(cast.practitioner)
    response = locum.post(link)
    assert response["Location"] == reverse("dashboard", kwargs={"clinic_slug": cast.clinic_b.slug})
    assert locum.get(reverse("home")).status_code == 200  # now chooses between two clinics


def test_inviting_an_existing_member_is_refused(cast):
    admin = f.verified_client(cast.admin)
    response = admin.post(
        reverse("staff_list", kwargs={"clinic_slug": cast.clinic_a.slug}),
        {"email": cast.reception.email, "role": "reception"},
    )
    assert "already a member" in response.content.decode()
    assert mail.outbox == []


def test_admin_changes_a_role(cast):
    with clinic_context(cast.clinic_a.id):
        membership = Membership.objects.get(clinic=cast.clinic_a, user=cast.reception)
    admin = f.verified_client(cast.admin)
    admin.post(
        reverse(
            "staff_detail",
            kwargs={"clinic_slug": cast.clinic_a.slug, "membership_id": membership.pk},
        ),
        {"action": "role", "role": "practitioner"},
    )
    with clinic_context(cast.clinic_a.id):
        membership.refresh_from_db()
    assert membership.role == "practitioner"


def test_the_last_admin_cannot_be_demoted_or_deactivated(cast):
    with clinic_context(cast.clinic_a.id):
        membership = Membership.objects.get(clinic=cast.clinic_a, user=cast.admin)
    admin = f.verified_client(cast.admin)
    detail = reverse(
        "staff_detail", kwargs={"clinic_slug": cast.clinic_a.slug, "membership_id": membership.pk}
    )
    response = admin.post(detail, {"action": "role", "role": "reception"}, follow=True)
    assert "at least one active admin" in response.content.decode()
    admin.post(detail, {"action": "deactivate"})
    with clinic_context(cast.clinic_a.id):
        membership.refresh_from_db()
    assert membership.role == "admin" and membership.is_active


@pytest.mark.parametrize("role", ["practitioner", "reception"])
def test_only_admins_manage_staff(cast, role):
    user = cast.practitioner if role == "practitioner" else cast.reception
    client = f.verified_client(user)
    response = client.get(reverse("staff_list", kwargs={"clinic_slug": cast.clinic_a.slug}))
    assert response.status_code == 403
    assert "Not available to your role" in response.content.decode()
