"""The summary PDF's renderer child: a PDF from HTML, nothing fetched, a failure said aloud."""

from __future__ import annotations

import subprocess

import pytest

from exports import pdf_child
from tests.exports import helpers as h


def test_the_child_lays_out_a_pdf_and_fetches_no_local_file(tmp_path):
    html = (
        "<html><body><h1>Clinical photo record</h1>"
        '<img src="file:///etc/passwd"><iframe src="file:///etc/hostname"></iframe>'
        '<link rel="stylesheet" href="http://127.0.0.1:9/x.css"></body></html>'
    )
    pdf = pdf_child.render_in_child(html)
    assert pdf.startswith(b"%PDF")
    path = tmp_path / "s.pdf"
    path.write_bytes(pdf)
    text = h.pdf_text(path)
    assert "Clinical photo record" in text and "root:" not in text


def test_a_child_that_fails_raises_with_its_error(monkeypatch):
    def failing(*args, **kwargs):
        return subprocess.CompletedProcess(args, 1, stdout=b"", stderr=b"MemoryError")

    monkeypatch.setattr(pdf_child.subprocess, "run", failing)
    with pytest.raises(pdf_child.PdfFailed, match="MemoryError"):
        pdf_child.render_in_child("<p>x</p>")
