"""Clinic admins set the clinic's name and logo; patients see the logo."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from audit.models import AuditEvent
from clinic.models import Clinic
from clinic.tenancy import clinic_context
from tests import factories as f

# Also run on SQLite, the embedded default (see tests/conftest.py).
pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def logo_bytes(fmt="PNG", size=(1200, 400)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (15, 95, 90)).save(out, fmt)
    return out.getvalue()


def settings_url(clinic):
    return reverse("clinic_settings", kwargs={"clinic_slug": clinic.slug})


def test_admin_uploads_a_logo_that_patients_can_see(cast):
    admin = f.verified_client(cast.admin)
    response = admin.post(
        settings_url(cast.clinic_a),
        {"name": "Clinic A Aesthetics", "logo": SimpleUploadedFile("logo.jpg", logo_bytes("JPEG"))},
    )
    assert response.status_code == 302
    clinic = Clinic.objects.get(pk=cast.clinic_a.pk)
    assert clinic.name == "Clinic A Aesthetics"
    stored = Image.open(io.BytesIO(bytes(clinic.logo)))
    assert stored.format == "PNG" and max(stored.size) == 512
    public = Client().get(reverse("clinic_logo", kwargs={"clinic": clinic.slug}))
    assert public.status_code == 200 and public["Content-Type"] == "image/png"
    with clinic_context(clinic.id):
        assert AuditEvent.objects.filter(action="clinic.branding_changed").exists()


def test_a_file_that_is_not_an_image_is_refused_and_nothing_changes(cast):
    admin = f.verified_client(cast.admin)
    response = admin.post(
        settings_url(cast.clinic_a),
        {"name": "Renamed", "logo": SimpleUploadedFile("logo.png", b"%PDF-1.7 not a logo")},
    )
    assert response.status_code == 200
    assert "PNG, JPEG or WebP" in response.content.decode()
    clinic = Clinic.objects.get(pk=cast.clinic_a.pk)
    assert clinic.name == "Clinic A" and not clinic.logo


def test_no_logo_is_404(cast):
    assert (
        Client().get(reverse("clinic_logo", kwargs={"clinic": cast.clinic_a.slug})).status_code
        == 404
    )


@pytest.mark.parametrize("role", ["practitioner", "reception"])
def test_only_admins_change_clinic_settings(cast, role):
    client = f.verified_client(getattr(cast, role))
    assert client.get(settings_url(cast.clinic_a)).status_code == 403


def test_transparent_margins_of_a_logo_are_cropped():
    from accounts.services import logo_png

    image = Image.new("RGBA", (900, 300), (0, 0, 0, 0))
    image.paste((15, 95, 90, 255), (20, 20, 280, 280))
    out = io.BytesIO()
    image.save(out, "PNG")
    assert Image.open(io.BytesIO(logo_png(out.getvalue()))).size == (260, 260)
