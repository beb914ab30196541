"""The patient's copy of a signed consent, as an A4 PDF (WeasyPrint, rendered by a worker).

The copy is made from the record alone: the exact text the patient was shown (``text_shown``,
whose hash the record keeps) and the uses they granted, never from the template as it is now.
The signature and logo are embedded as ``data:`` URIs; ``clinic.pdf.html_to_pdf`` refuses
every other URL, so text in a consent form can neither make the worker call out nor pull a
local file into the PDF.
"""

from __future__ import annotations

import base64

from django.template.loader import render_to_string

from clinic.pdf import html_to_pdf
from consent.models import ConsentRecord, ConsentUse
from vault import storage


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def consent_pdf_html(consent_record: ConsentRecord) -> str:
    """The signed form with its evidence: the exact text and its hash, the answers, the name
    and the signature."""
    labels = dict(ConsentUse.choices)
    title, _, rest = consent_record.text_shown.partition("\n")
    answers = [(labels[u], True) for u in consent_record.uses_granted] + [
        (labels[u], False) for u in consent_record.uses_refused
    ]
    clinic = consent_record.clinic
    return render_to_string(
        "consent/pdf.html",
        {
            "record": consent_record,
            "clinic": clinic,
            "patient": consent_record.patient,
            "title": title.strip(),
            "paragraphs": [p.strip() for p in rest.split("\n\n") if p.strip()],
            "answers": sorted(answers, key=lambda a: list(labels.values()).index(a[0])),
            "signature_data_url": _data_url(storage.blob_read(consent_record.signature)),
            "logo_data_url": _data_url(bytes(clinic.logo)) if clinic.logo else "",
        },
    )


def render_consent_pdf(consent_record: ConsentRecord) -> bytes:
    """The patient's signed copy as PDF bytes."""
    return html_to_pdf(consent_pdf_html(consent_record))
