"""The models and their migrations agree: a move of code between rooms (the shell to config/,
staff accounts to accounts/, the link fields to links.PatientLink) changed no table, and any
change that would need a migration without one fails here."""

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_is_missing_its_migration():
    out = StringIO()
    try:
        call_command("makemigrations", check=True, dry_run=True, stdout=out, stderr=out)
    except SystemExit as exit:
        raise AssertionError(f"a model change has no migration:\n{out.getvalue()}") from exit
