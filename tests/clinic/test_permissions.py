"""The role table in docs/security.md is the one the code enforces."""

import re

import pytest

from clinic.permissions import PERMISSIONS, ROLE_PERMISSIONS, role_can
from tests.conftest import ROOT


def test_the_documented_permissions_table_matches_the_code():
    page = (ROOT / "docs" / "security.md").read_text()
    table = re.search(
        r"<!-- permissions-table -->(.*?)<!-- /permissions-table -->", page, re.S
    ).group(1)
    rows = {}
    for line in table.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = [c == "yes" for c in cells[1:]]
    expected = {
        label: [code in ROLE_PERMISSIONS[role] for role in ("admin", "practitioner", "reception")]
        for code, label in PERMISSIONS.items()
    }
    assert rows == expected


def test_reception_never_sees_photos():
    assert not role_can("reception", "photos.view")
    assert not role_can("reception", "photos.download_original")


def test_unknown_permission_is_a_programming_error():
    with pytest.raises(KeyError):
        role_can("admin", "photos.veiw")
