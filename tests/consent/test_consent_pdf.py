"""The patient's signed copy: made from the exact words they saw, and made without fetching
anything, whatever a consent form's text contains."""

import base64
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from clinic.pdf import embedded_url, html_to_pdf
from clinic.tenancy import clinic_context
from consent import services
from consent.models import ConsentRecord, ConsentUse
from consent.pdf import consent_pdf_html, render_consent_pdf
from tests import factories as f

pytestmark = pytest.mark.django_db


class CountingServer:
    """An HTTP server on loopback that counts what it is asked for."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                self.wfile.write(f.signature_png())

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def pdf_text(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True)
    return " ".join(out.stdout.decode().split())


def pdf_images(pdf: bytes) -> int:
    out = subprocess.run(
        ["pdfimages", "-list", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    return len(out.strip().splitlines()) - 2  # two header lines


def pdf_attachments(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "copy.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdfdetach", "-list", str(path)], capture_output=True, check=True
    ).stdout.decode()


@pytest.fixture
def hostile_form(cast):
    """Clinic A's admin saves a form whose text tries to fetch and to attach files."""

    def make(server_url: str):
        with clinic_context(cast.clinic_a.id):
            return services.template_new_version(
                clinic=cast.clinic_a,
                by=cast.admin,
                title="Photo consent",
                body=(
                    f'We take photos. <img src="{server_url}/tracker.png">\n\n'
                    '<link rel="attachment" href="file:///etc/passwd">'
                    f'<link rel="stylesheet" href="{server_url}/style.css">'
                ),
                uses_offered=[ConsentUse.CLINICAL_RECORD, ConsentUse.WEBSITE],
                uses_required=[ConsentUse.CLINICAL_RECORD],
                use_texts={
                    ConsentUse.CLINICAL_RECORD: "Kept in your record.",
                    ConsentUse.WEBSITE: f'<img src="{server_url}/website.png">',
                },
            )

    return make


def signed_record(cast, uses=("clinical_record",)) -> ConsentRecord:
    patient = f.make_patient(cast.clinic_a, cast.admin, email="joanne@example.com")
    return f.make_signed_consent(cast.clinic_a, patient, cast.practitioner, uses=uses)


def test_a_consent_form_that_names_urls_makes_no_request_and_embeds_nothing(
    cast, hostile_form, tmp_path
):
    with CountingServer() as server:
        hostile_form(server.url)
        record = signed_record(cast)
        with clinic_context(cast.clinic_a.id):
            pdf = render_consent_pdf(record)
    assert server.requests == []
    assert pdf_attachments(pdf, tmp_path).startswith("0 embedded files")
    # The patient's copy shows what they read, markup and all, as text.
    assert "tracker.png" in pdf_text(pdf)
    assert "root:" not in pdf_text(pdf)


def test_the_renderer_refuses_every_url_but_our_own_embedded_data(cast, tmp_path):
    embedded = (
        '<img src="data:image/png;base64,' + base64.b64encode(f.signature_png()).decode() + '">'
    )
    with CountingServer() as server:
        pdf = html_to_pdf(
            f'<img src="{server.url}/x.png"><img src="file:///usr/share/pixmaps/debian-logo.png">'
            f'<img src="//127.0.0.1:{server.server.server_port}/y.png"><img src="z.png">'
            '<link rel="attachment" href="file:///etc/passwd">'
            f'<link rel="stylesheet" href="{server.url}/s.css">'
            '<p style="background: url(file:///etc/hostname)">Hello</p>' + embedded
        )
        assert server.requests == []
    assert pdf_attachments(pdf, tmp_path).startswith("0 embedded files")
    # Only the data: URI became an image.
    assert pdf_images(pdf) == pdf_images(html_to_pdf(embedded)) > 0


def test_embedded_files_are_served_by_name_and_only_those_given():
    png = f.signature_png()
    page = f'<img src="{embedded_url("sig")}" alt=""><img src="{embedded_url("other")}" alt="">'
    as_data = '<img src="data:image/png;base64,' + base64.b64encode(png).decode() + '" alt="">'
    # The file handed over by name becomes the page's one image, as the same file as a data:
    # URI does; an unknown name is nothing.
    assert pdf_images(html_to_pdf(page, embedded={"sig": png})) == pdf_images(html_to_pdf(as_data))
    assert pdf_images(html_to_pdf(as_data)) > 0
    assert pdf_images(html_to_pdf(page)) == 0


def test_the_copy_is_made_from_the_text_the_patient_saw(cast):
    record = signed_record(cast, uses=("clinical_record", "website"))
    with clinic_context(cast.clinic_a.id):
        # Whatever later happens to the form's row, the copy shows the signed words.
        template = record.template
        template.body = "Something the patient never read."
        template.title = "A different title"
        template.save()
        record = ConsentRecord.objects.select_related("template", "clinic", "patient").get(
            pk=record.pk
        )
        html = consent_pdf_html(record)
        text = pdf_text(render_consent_pdf(record))
    assert "never read" not in html and "A different title" not in html
    title, _, body = record.text_shown.partition("\n")
    assert title in text
    assert " ".join(body.split()[:12]) in text
    assert "Clinic website Yes" in text and "Clinical record Yes" in text
    assert record.text_sha256 in text.replace(" ", "")
