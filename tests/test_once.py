"""What must exist once exists once: the fields every patient link has, the check that a link
can be used, and the response a decrypted file leaves in. A second copy would drift (a link
kind that forgets the lock, a file view that forgets no-store), so a copy fails here."""

from __future__ import annotations

import inspect
import re

from django.http import StreamingHttpResponse

from clinic.responses import NO_STORE, file_response
from comparisons.models import ComparisonShare
from consent.models import ConsentRequest
from links.models import PatientLink
from tests.conftest import ROOT
from tests.test_layers import floors


def room_sources() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text()
        for room in floors()
        for path in sorted((ROOT / room).rglob("*.py"))
        if "migrations" not in path.parts
    }


def places(pattern: str) -> list[str]:
    return [path for path, text in room_sources().items() if re.search(pattern, text)]


def test_the_link_fields_are_declared_once():
    # The date-of-birth lock's fields are a patient link's alone (staff invitations have none).
    for field in ("failed_checks", "locked_at"):
        assert places(rf"\n    {field} = models\.") == ["links/models.py"], field
    assert issubclass(ConsentRequest, PatientLink) and issubclass(ComparisonShare, PatientLink)
    inherited = {f.name for f in PatientLink._meta.fields}
    for kind in (ConsentRequest, ComparisonShare):
        declared = set(re.findall(r"\n    (\w+) = models\.", inspect.getsource(kind)))
        # patient is re-declared by consent requests only, for its related name.
        assert declared & inherited <= {"patient"}, kind


def test_the_usable_check_is_written_once():
    assert places(r"This link has expired") == ["links/services.py"]
    assert places(r"too many attempts to confirm") == ["links/services.py"]
    assert places(r"def check_\w*usable") == ["accounts/services.py", "links/services.py"]


def test_decrypted_files_leave_through_one_response():
    assert places(r"X-Content-Type-Options") == ["clinic/responses.py", "config/health.py"]
    assert places(r"StreamingHttpResponse\(") == ["clinic/responses.py"]


def test_the_file_response_is_never_stored_sniffed_or_run():
    image = file_response(b"\xff\xd8", "image/jpeg")
    assert image["Cache-Control"] == NO_STORE
    assert image["X-Content-Type-Options"] == "nosniff"
    assert image["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert "Content-Disposition" not in image
    pdf = file_response(b"%PDF", "application/pdf", filename="a.pdf", attachment=True)
    assert pdf["Content-Disposition"] == 'attachment; filename="a.pdf"'
    assert "Content-Security-Policy" not in pdf  # the browser's PDF viewer runs scripts
    stream = file_response(iter([b"PK", b".."]), "application/zip", filename="e.zip", length=4)
    assert isinstance(stream, StreamingHttpResponse)
    assert stream["Content-Length"] == "4" and stream["Cache-Control"] == NO_STORE
    assert b"".join(stream.streaming_content) == b"PK.."
