"""verify_audit and audit_checkpoint pick their chains the same way (audit.verify.chains):
one clinic by slug, or every clinic then the system chain; an unknown slug is refused."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from audit import verify

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]


def test_chains_are_one_clinic_or_every_clinic_then_the_system_chain(cast):
    assert verify.chains(cast.clinic_a.slug) == [(cast.clinic_a.slug, cast.clinic_a.id)]
    every = verify.chains()
    assert every[-1] == ("(system)", None)
    labels = [label for label, _ in every[:-1]]
    assert labels == sorted(labels) and cast.clinic_b.slug in labels


@pytest.mark.parametrize("command", ["verify_audit", "audit_checkpoint"])
def test_an_unknown_clinic_is_refused_by_name(command):
    with pytest.raises(CommandError, match="No clinic with slug 'nowhere'"):
        call_command(command, "--clinic", "nowhere")
