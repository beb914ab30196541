"""The house's extension points, wired as the rooms say: every hub in the one index, each with
what its rooms register, every registered template found, and every entry registered from a
room above the hub's own (a hub is how a lower room reaches upwards, never sideways or down)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.template.loader import get_template

from clinic.hubs import HUBS, Hub
from tests.test_layers import floors

WIRING = {
    "patients.panels": {
        "legal-hold-banner": "retention",
        "photos": "photos",
        "comparisons": "comparisons",
        "consent": "consent",
        "exports": "exports",
        "access": "patients",
        "retention": "retention",
    },
    "photos.viewer": {"marketing": "consent"},
    "accounts.settings_sections": {"export-signing-key": "exports", "backups": "backups"},
    "exports.parts": {"shares": "comparisons"},
    "consent.ledger": {"comparison shares": "comparisons", "exports": "exports"},
    "consent.withdrawal": {"comparison shares": "comparisons"},
    "retention.erasure": {"backup tombstone": "backups"},
    "audit.patient_names": {"patients": "patients"},
}


def test_every_hub_is_in_the_index_with_what_its_rooms_register():
    found = {
        name: {entry.name: entry.module.split(".")[0] for entry in hub.entries()}
        for name, hub in HUBS.items()
    }
    assert found == WIRING


def test_entries_come_from_the_hubs_room_or_above():
    floor_of = floors()
    for name, hub in HUBS.items():
        room = name.split(".")[0]
        for entry in hub.entries():
            source = entry.module.split(".")[0]
            assert floor_of[source] >= floor_of[room], (name, entry.name, source)


def test_every_registered_template_exists():
    for hub in HUBS.values():
        for value in hub.values():
            template = getattr(value, "template", None)
            if template:
                get_template(template)


def test_a_name_registered_again_replaces_and_the_order_holds():
    hub: Hub[str] = Hub("tests.example", "for this test")
    try:
        hub.register("b", "second", order=2)
        hub.register("a", "first", order=1)
        hub.register("b", "second again", order=2)
        assert hub.values() == ["first", "second again"]
        with pytest.raises(ValueError):
            Hub("tests.example", "a second hub of one name")
    finally:
        del HUBS["tests.example"]


def test_the_index_prints_every_hub_and_entry(capsys):
    call_command("hubs")
    out = capsys.readouterr().out
    for name, entries in WIRING.items():
        assert name in out
        for entry in entries:
            assert entry in out
    assert "consent.withdrawal" in out and "(comparisons.services)" in out
