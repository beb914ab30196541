"""The patient's copy of a signed consent, as an A4 PDF (WeasyPrint, rendered by a worker)."""

from __future__ import annotations

import base64

from django.conf import settings
from django.template.loader import render_to_string

from consent.models import ConsentRecord, ConsentUse
from vault import storage


def render_consent_pdf(consent_record: ConsentRecord) -> bytes:
    """The signed form with its evidence: exact text and hash, choices, name, signature."""
    from PIL import ImageFile
    from weasyprint import HTML  # imported once per worker process, on first use

    # WeasyPrint's import sets this process-wide; our photo checks depend on it being off.
    ImageFile.LOAD_TRUNCATED_IMAGES = False

    labels = dict(ConsentUse.choices)
    signature = base64.b64encode(storage.blob_read(consent_record.signature)).decode()
    html = render_to_string(
        "consent/pdf.html",
        {
            "record": consent_record,
            "clinic": consent_record.clinic,
            "patient": consent_record.patient,
            "paragraphs": [
                p.strip() for p in consent_record.template.body.split("\n\n") if p.strip()
            ],
            "choices": [
                (labels[code], text, code in consent_record.uses_granted, required)
                for code, _label, text, required in consent_record.template.uses()
            ],
            "signature_data_url": f"data:image/png;base64,{signature}",
            "logo_data_url": "data:image/png;base64,"
            + base64.b64encode(bytes(consent_record.clinic.logo)).decode()
            if consent_record.clinic.logo
            else "",
        },
    )
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()
